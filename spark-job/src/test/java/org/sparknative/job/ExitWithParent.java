package org.sparknative.job;

import java.io.IOException;
import java.util.concurrent.TimeUnit;

/**
 * For the child JVMs of {@link SparkConnectTest}: exits when the test JVM that started this one is gone, however it
 * went (even {@code kill -9}), so no Connect server is left listening after an aborted test run. The parent keeps
 * the child's stdin open; end of input means the parent has died (or asked this JVM to stop).
 */
final class ExitWithParent {
    private ExitWithParent() {
    }

    static void watchStdin() {
        Thread watcher = new Thread(() -> {
            try {
                while (System.in.read() >= 0) {
                    // the parent writes nothing; wait for the end of input
                }
            } catch (IOException e) {
                // a broken pipe also means the parent is gone
            }
            Thread halt = new Thread(() -> {
                try {
                    Thread.sleep(TimeUnit.SECONDS.toMillis(30));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                Runtime.getRuntime().halt(3); // the shutdown hooks hung
            }, "exit-with-parent-halt");
            halt.setDaemon(true);
            halt.start();
            System.exit(3);
        }, "exit-with-parent");
        watcher.setDaemon(true);
        watcher.start();
    }
}

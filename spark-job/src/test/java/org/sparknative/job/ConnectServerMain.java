package org.sparknative.job;

import java.util.concurrent.TimeUnit;
import org.apache.spark.sql.connect.service.SparkConnectServer;
import org.apache.spark.sql.connect.service.SparkConnectService$;

/**
 * The Spark Connect server of {@link SparkConnectTest}, in a child JVM: Spark's own {@code SparkConnectServer} main
 * (what {@code sbin/start-connect-server.sh} runs), configured by {@code -Dspark.*} system properties as
 * {@code spark-submit --conf} would. Around it, two things for the test: the line {@code SPARK_CONNECT_PORT <port>}
 * on stdout once the server listens (it is started on port 0, a free port the system picks), and an exit when the
 * test JVM is gone ({@link ExitWithParent}).
 */
public final class ConnectServerMain {
    /** The line prefix that announces the port. */
    static final String PORT_LINE = "SPARK_CONNECT_PORT ";

    private ConnectServerMain() {
    }

    public static void main(String[] args) {
        ExitWithParent.watchStdin();
        Thread announce = new Thread(() -> {
            try {
                int port;
                while ((port = localPort()) < 0) {
                    TimeUnit.MILLISECONDS.sleep(50);
                }
                System.out.println(PORT_LINE + port);
                System.out.flush();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }, "announce-connect-port");
        announce.setDaemon(true);
        announce.start();
        SparkConnectServer.main(args); // returns when the server stops
    }

    /** @return the port the server listens on, or -1 before it does */
    private static int localPort() {
        SparkConnectService$ service = SparkConnectService$.MODULE$;
        synchronized (service) { // start() is synchronized on it: what it wrote is visible here
            return service.started() && service.server() != null ? service.localPort() : -1;
        }
    }
}

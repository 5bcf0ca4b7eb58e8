package org.sparknative.job;

import java.util.ArrayList;
import java.util.List;

/**
 * Run by {@link TaskRetryTest} in a fresh JVM: the commands it is given, in one local-mode session with task
 * retries ({@code local[2,4]}), the plugin, and the first attempt of partitions 0 and 2 failing
 * ({@link org.sparknative.spark.TestFaults#FAIL_FIRST_ATTEMPT}). Arguments: commands separated by {@code ;}.
 */
public final class FaultProbe {
    private FaultProbe() {
    }

    public static void main(String[] args) {
        try {
            org.apache.spark.sql.SparkSession.builder().master("local[2,4]").appName("fault probe")
                .config(org.sparknative.spark.TestFaults.FAIL_FIRST_ATTEMPT, "0,2")
                .config("spark.plugins", org.sparknative.spark.SparkNativePlugin.CLASS_NAME)
                .config("spark.ui.enabled", "false")
                .config("spark.driver.host", "127.0.0.1")
                .config("spark.driver.bindAddress", "127.0.0.1")
                .getOrCreate();
            List<String> cmd = new ArrayList<>();
            for (String a : args) {
                if (a.equals(";")) {
                    run(cmd);
                    cmd.clear();
                } else {
                    cmd.add(a);
                }
            }
            run(cmd);
            System.exit(0);
        } catch (Throwable t) {
            t.printStackTrace(System.out);
            System.exit(1);
        }
    }

    private static void run(List<String> args) {
        CliRun r = CliRun.of(args.toArray(new String[0]));
        if (r.exit() != 0) {
            throw new AssertionError(String.join(" ", args) + " failed with exit " + r.exit() + ": " + r.err());
        }
    }
}

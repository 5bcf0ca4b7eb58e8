package org.sparknative.job;

import org.apache.spark.sql.SparkSession;

/**
 * One local-mode SparkSession with 4 task slots for every test class of this JVM (starting Spark
 * costs seconds); jobs run in-process reuse it through {@code Sessions.open}. It has the project's plugin and
 * SQL extension, as the jobs' own sessions do.
 */
final class SparkTestSession {
    private static SparkSession spark;

    private SparkTestSession() {
    }

    static synchronized SparkSession get() {
        if (spark == null) {
            spark = SparkSession.builder()
                .master("local[4]")
                .appName("spark-native tests")
                .config("spark.ui.enabled", "false")
                .config("spark.sql.shuffle.partitions", "4")
                .config("spark.driver.host", "127.0.0.1")
                .config("spark.driver.bindAddress", "127.0.0.1")
                .config("spark.plugins", org.sparknative.spark.SparkNativePlugin.CLASS_NAME)
                .config("spark.sql.extensions", org.sparknative.spark.sql.SparkNativeExtensions.CLASS_NAME)
                .getOrCreate();
        }
        return spark;
    }
}

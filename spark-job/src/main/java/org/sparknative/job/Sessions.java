package org.sparknative.job;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Properties;
import org.apache.spark.SparkConf;
import org.apache.spark.sql.SparkSession;
import org.sparknative.spark.SparkNativePlugin;

/**
 * Creates the job's SparkSession. Settings, first wins: the command's {@code --master} and {@code --conf};
 * what {@code spark-submit} set; the defaults file named by the system property
 * {@code sparknative.defaults} (the launcher passes {@code conf/spark-defaults.conf}); {@code local[*]}.
 * {@link SparkNativePlugin} is added to {@code spark.plugins} (after the user's plugins) where it is not there.
 */
final class Sessions {
    private Sessions() {
    }

    /** A session and whether this job created it (and so must stop it). */
    record Handle(SparkSession spark, boolean owned) implements AutoCloseable {
        @Override
        public void close() {
            if (owned) {
                spark.stop();
            }
        }
    }

    static Handle open(String appName, String master, java.util.Map<String, String> conf) {
        if (SparkSession.getActiveSession().isDefined() || SparkSession.getDefaultSession().isDefined()) {
            SparkSession existing = SparkSession.getActiveSession().isDefined()
                ? SparkSession.getActiveSession().get() : SparkSession.getDefaultSession().get();
            return new Handle(existing, false);
        }
        SparkConf sc = new SparkConf();
        String defaults = System.getProperty("sparknative.defaults");
        if (defaults != null && !defaults.isBlank()) {
            Properties p = new Properties();
            try (InputStream in = Files.newInputStream(Path.of(defaults))) {
                p.load(in);
            } catch (IOException e) {
                throw new IllegalArgumentException("cannot read Spark defaults file " + defaults + ": " + e.getMessage());
            }
            for (String k : p.stringPropertyNames()) {
                if (k.startsWith("spark.")) {
                    sc.setIfMissing(k, p.getProperty(k).trim());
                }
            }
        }
        conf.forEach(sc::set);
        if (master != null) {
            sc.setMaster(master);
        }
        sc.setIfMissing("spark.master", "local[*]");
        sc.set("spark.plugins", withPlugin(sc.get("spark.plugins", "")));
        sc.setAppName(appName);
        return new Handle(SparkSession.builder().config(sc).getOrCreate(), true);
    }

    /** @return the plugin list {@code plugins} (comma-separated) with {@link SparkNativePlugin} appended unless it is in it */
    static String withPlugin(String plugins) {
        for (String p : plugins.split(",")) {
            if (p.trim().equals(SparkNativePlugin.CLASS_NAME)) {
                return plugins;
            }
        }
        return plugins.isBlank() ? SparkNativePlugin.CLASS_NAME : plugins.trim() + "," + SparkNativePlugin.CLASS_NAME;
    }
}

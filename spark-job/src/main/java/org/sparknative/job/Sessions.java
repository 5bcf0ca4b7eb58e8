package org.sparknative.job;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Properties;
import org.apache.spark.SparkConf;
import org.apache.spark.sql.SparkSession;
import org.sparknative.spark.SparkNativePlugin;

/**
 * Creates the job's SparkSession. Settings, first wins: the command's {@code --master} and {@code --conf};
 * what {@code spark-submit} set; the defaults file named by the system property
 * {@code sparknative.defaults} (the launcher passes {@code conf/spark-defaults.conf}); {@code local[*]}.
 *
 * <p>A session already running in the JVM (embedding, tests) is reused as it is: the job's {@code --master},
 * {@code --conf}, {@code --files} and {@code --event-log} cannot apply to it, and a warning in the log says so.
 *
 * <p>For any master but local mode it also puts the job jar in {@code spark.jars}, so that the same command
 * works in local mode, on a standalone cluster, on YARN and on Kubernetes.
 * {@link SparkNativePlugin} is added to {@code spark.plugins} (after the user's plugins) where it is not there, and
 * the project's SQL extension ({@value #SQL_EXTENSIONS_CLASS}: {@code integrate_f}, {@code generate}) to
 * {@code spark.sql.extensions} (after the user's extensions) the same way. A reused session keeps the extensions it
 * was created with: {@code spark.sql.extensions} is read once, when a session is created.
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

    /** The system property the launcher sets to the job jar's path. */
    static final String JOB_JAR_PROPERTY = "sparknative.jobJar";

    /**
     * The project's SQL extension, named rather than imported so that this class does not depend on it. Spark
     * logs a warning and goes on without an extension class it cannot load.
     */
    static final String SQL_EXTENSIONS_CLASS = org.sparknative.spark.sql.SparkNativeExtensions.CLASS_NAME;

    /** Spark's static setting listing the session extension classes, comma-separated. */
    static final String SQL_EXTENSIONS_CONF = "spark.sql.extensions";

    static Handle open(String appName, SparkOptions options) {
        if (SparkSession.getActiveSession().isDefined() || SparkSession.getDefaultSession().isDefined()) {
            SparkSession existing = SparkSession.getActiveSession().isDefined()
                ? SparkSession.getActiveSession().get() : SparkSession.getDefaultSession().get();
            if (options.master != null || !options.conf.isEmpty() || options.files != null || options.eventLog != null) {
                org.slf4j.LoggerFactory.getLogger(Sessions.class).warn("{}: a SparkSession is already running in this "
                    + "JVM (master {}); the job uses it, and --master, --conf, --files and --event-log do not apply to it",
                    appName, existing.sparkContext().master());
            }
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
        options.conf.forEach(sc::set);
        if (options.master != null) {
            sc.setMaster(options.master);
        }
        sc.setIfMissing("spark.master", "local[*]");
        if (options.files != null && !options.files.isEmpty()) {
            // Spark resolves a relative path against the driver's working directory (SparkContext.addFile).
            List<String> files = new ArrayList<>(splitList(sc.get("spark.files", "")));
            files.addAll(options.files);
            sc.set("spark.files", String.join(",", files));
        }
        if (options.eventLog != null) {
            sc.set("spark.eventLog.enabled", "true");
            sc.set("spark.eventLog.dir", eventLogDir(options.eventLog));
        }
        if (!isLocal(sc.get("spark.master"))) {
            shipJobJar(sc);
        }
        sc.set("spark.plugins", withPlugin(sc.get("spark.plugins", "")));
        sc.set(SQL_EXTENSIONS_CONF, withExtension(sc.get(SQL_EXTENSIONS_CONF, "")));
        sc.setAppName(appName);
        return new Handle(SparkSession.builder().config(sc).getOrCreate(), true);
    }

    /** @return whether {@code master} runs every task in the driver's JVM ({@code local}, {@code local[...]}) */
    static boolean isLocal(String master) {
        return master.equals("local") || master.startsWith("local[");
    }

    /**
     * Executors of any master but local mode load the project's classes from the job jar, which Spark ships
     * to them when it is in {@code spark.jars} (spark-submit puts its application jar there; the launcher
     * names the jar in a system property).
     *
     * @throws UsageException if the job jar cannot be found and {@code spark.jars} is empty
     */
    static void shipJobJar(SparkConf sc) {
        List<String> jars = new ArrayList<>(splitList(sc.get("spark.jars", "")));
        String jar = jobJar();
        if (jar == null) {
            if (jars.isEmpty()) {
                throw new UsageException("master " + sc.get("spark.master") + " runs tasks in other JVMs, which need the "
                    + "job jar: run through bin/spark-native or spark-submit, or set spark.jars to spark-native-job.jar");
            }
            return;
        }
        String name = Path.of(jar).getFileName().toString();
        if (jars.stream().noneMatch(j -> j.endsWith("/" + name) || j.equals(name))) {
            jars.add(jar);
            sc.set("spark.jars", String.join(",", jars));
        }
    }

    /** @return the job jar: the launcher's system property, else the jar these classes were loaded from */
    static String jobJar() {
        String prop = System.getProperty(JOB_JAR_PROPERTY);
        if (prop != null && !prop.isBlank()) {
            return Path.of(prop).toAbsolutePath().toString();
        }
        try {
            var src = Sessions.class.getProtectionDomain().getCodeSource();
            if (src != null && src.getLocation() != null) {
                Path p = Path.of(src.getLocation().toURI());
                if (Files.isRegularFile(p) && p.toString().endsWith(".jar")) {
                    return p.toString();
                }
            }
        } catch (java.net.URISyntaxException | RuntimeException e) {
            // not loaded from a file
        }
        return null;
    }

    /** @return the event log folder as Spark wants it, creating a local one (Spark requires it to exist) */
    static String eventLogDir(String dir) {
        if (org.sparknative.spark.ModelFiles.isUri(dir)) {
            return dir;
        }
        Path p = Path.of(dir).toAbsolutePath();
        try {
            Files.createDirectories(p);
        } catch (IOException e) {
            throw new UsageException("--event-log " + dir + ": cannot create the directory: " + e.getMessage());
        }
        return p.toUri().toString();
    }

    private static List<String> splitList(String s) {
        return Arrays.stream(s.split(",")).map(String::trim).filter(x -> !x.isEmpty()).toList();
    }

    /** @return the plugin list {@code plugins} (comma-separated) with {@link SparkNativePlugin} appended unless it is in it */
    static String withPlugin(String plugins) {
        return withClass(plugins, SparkNativePlugin.CLASS_NAME);
    }

    /** @return the extension list {@code extensions} (comma-separated) with {@value #SQL_EXTENSIONS_CLASS} appended unless it is in it */
    static String withExtension(String extensions) {
        return withClass(extensions, SQL_EXTENSIONS_CLASS);
    }

    /** @return the class list {@code classes} (comma-separated) as it is if it names {@code className}, else with it appended */
    static String withClass(String classes, String className) {
        for (String c : classes.split(",")) {
            if (c.trim().equals(className)) {
                return classes;
            }
        }
        return classes.isBlank() ? className : classes.trim() + "," + className;
    }
}

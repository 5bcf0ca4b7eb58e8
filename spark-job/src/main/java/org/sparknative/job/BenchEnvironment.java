package org.sparknative.job;

import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import org.apache.spark.SparkContext;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.status.api.v1.ExecutorSummary;
import org.sparknative.job.report.BenchReport;
import org.sparknative.kernels.cuda.Cuda;
import org.sparknative.spark.SparkNativePlugin;
import org.sparknative.udf.ExecutorRuntime;

/**
 * Where a benchmark ran ({@link BenchReport.Environment}): Spark and its executors, the CPU and the SIMD path the
 * kernels chose, the GPU, the JDK, and the project version and git commit.
 *
 * <p>The executors come from Spark's status store (what the UI's Executors tab shows: cores and storage memory),
 * their CPU model and SIMD path from their reports to {@link SparkNativePlugin}.
 */
final class BenchEnvironment {
    private BenchEnvironment() {
    }

    /** The resource the build writes (git-commit-id-maven-plugin): {@code git.build.version}, {@code git.commit.id}. */
    private static final String BUILD_PROPERTIES = "/org/sparknative/job/build.properties";

    /**
     * @param settings the settings of the run that matter, in the order to show them
     * @return the environment now: call after the run, when the executors have reported
     */
    static BenchReport.Environment collect(SparkSession spark, Map<String, String> settings) {
        SparkContext sc = spark.sparkContext();
        Map<String, SparkNativePlugin.ExecutorReport> reports = SparkNativePlugin.executors();
        List<BenchReport.ExecutorInfo> executors = new ArrayList<>();
        // Spark-internal (private[spark], public in bytecode): the status store behind the UI and the REST API.
        for (ExecutorSummary e : scala.jdk.javaapi.CollectionConverters.asJava(sc.statusStore().executorList(true))) {
            boolean driverOnly = e.id().equals("driver") && !Sessions.isLocal(sc.master());
            if (driverOnly) {
                continue;
            }
            String hostPort = e.hostPort();
            int colon = hostPort.lastIndexOf(':');
            SparkNativePlugin.ExecutorReport r = reports.get(e.id());
            String backends = r == null || r.metrics().backendsUsed().isEmpty() ? null : r.metrics().backendsUsed();
            executors.add(new BenchReport.ExecutorInfo(e.id(), colon > 0 ? hostPort.substring(0, colon) : hostPort,
                e.totalCores(), e.maxMemory(), r == null ? null : r.cpuModel(), r == null ? null : r.simdPath(), backends));
        }
        ExecutorRuntime.ensureNativeLoaded();
        String gpu = null;
        try {
            if (Cuda.availability().usable()) {
                gpu = Cuda.device(0).name();
            }
        } catch (RuntimeException e) {
            gpu = null;
        }
        Properties build = buildProperties();
        String commit = build.getProperty("git.commit.id", "unknown");
        if (Boolean.parseBoolean(build.getProperty("git.dirty", "false"))) {
            commit += " (uncommitted changes)";
        }
        return new BenchReport.Environment(spark.version(), sc.master(), sc.applicationId(), sc.defaultParallelism(),
            executors, ExecutorRuntime.cpuModel(), ExecutorRuntime.simdPath(), gpu,
            System.getProperty("java.vendor") + " " + System.getProperty("java.runtime.version"),
            String.format(Locale.ROOT, "%s %s %s", System.getProperty("os.name"), System.getProperty("os.version"),
                System.getProperty("os.arch")),
            build.getProperty("git.build.version", projectVersion()), commit, settings);
    }

    /** @return the version in the jar's manifest, else {@code unknown} */
    private static String projectVersion() {
        String v = BenchEnvironment.class.getPackage().getImplementationVersion();
        return v == null ? "unknown" : v;
    }

    private static Properties buildProperties() {
        Properties p = new Properties();
        try (InputStream in = BenchEnvironment.class.getResourceAsStream(BUILD_PROPERTIES)) {
            if (in != null) {
                p.load(in);
            }
        } catch (IOException e) {
            // an unreadable resource reads as an unknown commit
        }
        return p;
    }
}

package org.sparknative.job.report;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonInclude;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * The raw figures of one {@code spark-native bench} run: what {@code report.json} holds, and all that the report
 * builder ({@link ReportBuilder}) reads to write {@code report.html} and {@code report.md}. Plain records, written
 * and read by Jackson; a section that was not run is null.
 *
 * <p>Units: times in seconds unless a name says {@code Millis} (epoch milliseconds) or {@code Ms} (milliseconds);
 * rates per second; memory in bytes. Every measured figure keeps its repeats ({@link Spread}), so the report shows
 * min / median / max rather than one number.
 *
 * @param schemaVersion {@value #SCHEMA_VERSION}; a reader refuses a newer one
 * @param createdAt     when the run ended (ISO-8601 instant)
 * @param startedMillis when the run started (epoch milliseconds); the timelines are drawn from it
 * @param command       the command line that made the run
 * @param environment   where it ran
 * @param integrate     the integration matrix, or null
 * @param generate      the generation matrix, or null
 * @param scaling       the scaling runs, or null
 * @param baseline      the figures of the {@code --baseline} report this one is compared with, or null
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
@JsonIgnoreProperties(ignoreUnknown = true)
public record BenchReport(int schemaVersion, String createdAt, long startedMillis, String command,
                          Environment environment, Integrate integrate, Generate generate, Scaling scaling,
                          Baseline baseline) {

    /** The version of this layout. */
    public static final int SCHEMA_VERSION = 1;

    /** @return this report compared with {@code old}'s figures */
    public BenchReport withBaseline(Baseline old) {
        return new BenchReport(schemaVersion, createdAt, startedMillis, command, environment, integrate, generate, scaling,
            old);
    }

    /**
     * Where the run ran.
     *
     * @param sparkVersion       Spark's version
     * @param master             the master URL
     * @param applicationId      Spark's application id
     * @param defaultParallelism Spark's default parallelism (the cores the tasks got)
     * @param executors          the executors that were up when the run ended ({@code driver} alone in local mode)
     * @param cpuModel           the driver's CPU model ({@code /proc/cpuinfo}, else the OS architecture)
     * @param simdPath           the code path the CPU kernels chose on the driver ({@code avx512-vnni}, {@code avx2}
     *                           or {@code sse2})
     * @param gpu                the driver's CUDA device 0, or null where none is usable
     * @param jdk                the driver's Java runtime (vendor and version)
     * @param os                 the driver's OS name, version and architecture
     * @param projectVersion     spark-native's version
     * @param gitCommit          the git commit it was built from ({@code unknown} outside a git checkout)
     * @param settings           the settings that matter (partitions, record batch rows, slots, threads, ...)
     */
    @JsonIgnoreProperties(ignoreUnknown = true)
    public record Environment(String sparkVersion, String master, String applicationId, int defaultParallelism,
                              List<ExecutorInfo> executors, String cpuModel, String simdPath, String gpu, String jdk,
                              String os, String projectVersion, String gitCommit, Map<String, String> settings) {
    }

    /**
     * One executor.
     *
     * @param executorId     its id ({@code driver} in local mode)
     * @param host           its host
     * @param cores          its task cores
     * @param maxMemoryBytes its storage memory (Spark's {@code maxMemory})
     * @param cpuModel       its CPU model, or null where the project's plugin did not report
     * @param simdPath       the code path its CPU kernels chose, or null where it loaded none
     * @param backends       the backends its tasks ran on, or null
     */
    @JsonIgnoreProperties(ignoreUnknown = true)
    public record ExecutorInfo(String executorId, String host, int cores, long maxMemoryBytes, String cpuModel,
                               String simdPath, String backends) {
    }

    /**
     * A figure over its repeats: the smallest, the median and the largest value.
     *
     * @param min    the smallest
     * @param median the median (the mean of the middle two for an even count)
     * @param max    the largest
     */
    public record Spread(double min, double median, double max) {
        /**
         * @param values the repeats, at least one
         * @throws IllegalArgumentException if there is none
         */
        public static Spread of(double... values) {
            if (values.length == 0) {
                throw new IllegalArgumentException("a spread needs at least one value");
            }
            double[] v = values.clone();
            Arrays.sort(v);
            int m = v.length / 2;
            double median = v.length % 2 == 1 ? v[m] : (v[m - 1] + v[m]) / 2;
            return new Spread(v[0], median, v[v.length - 1]);
        }

        /** @return {@code max - min} */
        public double width() {
            return max - min;
        }
    }

    /**
     * The integration matrix: every variant over generated rows, at each size.
     *
     * @param seed             seed of the generated rows
     * @param partitions       partitions of the input
     * @param recordBatchRows  rows per Arrow record batch
     * @param warmup           untimed runs per variant before the timed ones
     * @param repeats          timed runs per variant
     * @param sizes            one entry per {@code --rows} value
     * @param pandasReference  the pandas reference points, measured outside this run
     */
    @JsonIgnoreProperties(ignoreUnknown = true)
    public record Integrate(long seed, int partitions, int recordBatchRows, int warmup, int repeats,
                            List<IntegrateSize> sizes, List<Reference> pandasReference) {
    }

    /**
     * The variants at one size.
     *
     * @param rows        rows
     * @param evaluations evaluations of f (the sum of n)
     * @param variants    the variants in the order they ran, {@code kernel-only} last
     */
    @JsonIgnoreProperties(ignoreUnknown = true)
    public record IntegrateSize(long rows, long evaluations, List<IntegrateVariant> variants) {
    }

    /**
     * One variant at one size.
     *
     * @param variant              {@code java-row}, {@code native-row}, {@code native-arrow}, {@code sql-cached},
     *                             {@code sql-parquet} or {@code kernel-only}
     * @param backend              {@code cpu}, or the GPU backend ({@code cuda:0 (...)})
     * @param description          what it runs
     * @param seconds              wall time of each timed repeat
     * @param rowsPerSecond        rows / seconds, over the repeats
     * @param evaluationsPerSecond evaluations / seconds, over the repeats
     * @param speedupOverJavaRow   median rows/s against {@code java-row}'s, or null where java-row did not run
     * @param shareOfKernelOnly    median evaluations/s as a share (0..1+) of the CPU {@code kernel-only}'s, or null
     * @param maxRelativeError     the largest relative error against the closed form, or null where not checked
     * @param invalidRows          rows output as null
     * @param activity             what the executors did in the timed repeats, or null (kernel-only runs without Spark)
     */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    @JsonIgnoreProperties(ignoreUnknown = true)
    public record IntegrateVariant(String variant, String backend, String description, List<Double> seconds,
                                   Spread rowsPerSecond, Spread evaluationsPerSecond, Double speedupOverJavaRow,
                                   Double shareOfKernelOnly, Double maxRelativeError, long invalidRows,
                                   Activity activity) {
    }

    /**
     * A figure measured outside the run, shown beside it and labeled so.
     *
     * @param name    e.g. {@code pandas apply (pure Python)}
     * @param rows    rows it processed
     * @param seconds its wall time
     * @param source  where it comes from
     */
    public record Reference(String name, long rows, double seconds, String source) {
    }

    /**
     * What the executors did during one measured figure (all its timed repeats).
     *
     * @param executors per executor
     * @param tasks     every task attempt, for the timeline and the skew
     */
    @JsonIgnoreProperties(ignoreUnknown = true)
    public record Activity(List<ExecutorRun> executors, List<TaskSpan> tasks) {
    }

    /**
     * One executor's part in a figure; nullable figures are null where nothing counted them.
     *
     * @param executorId       its id
     * @param host             its host
     * @param tasks            tasks that succeeded on it
     * @param failedTasks      task attempts that failed or were killed on it
     * @param rows             rows it computed
     * @param promptTokens     prompt tokens of its rows
     * @param completionTokens completion tokens of its rows
     * @param taskSeconds      run time of its task attempts (executor run time, summed)
     * @param gcSeconds        JVM GC time during them
     * @param nativeSeconds    time its threads spent in native kernels, or null without the plugin
     */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    @JsonIgnoreProperties(ignoreUnknown = true)
    public record ExecutorRun(String executorId, String host, int tasks, int failedTasks, Long rows, Long promptTokens,
                              Long completionTokens, double taskSeconds, double gcSeconds, Double nativeSeconds) {
    }

    /**
     * One task attempt, from Spark's listener events.
     *
     * @param executorId  where it ran
     * @param stageId     its stage
     * @param partition   its partition
     * @param attempt     its attempt number
     * @param startMillis when it started (epoch milliseconds)
     * @param endMillis   when it ended (epoch milliseconds)
     * @param runSeconds  its executor run time (Spark's {@code executorRunTime})
     * @param successful  whether it succeeded
     */
    @JsonIgnoreProperties(ignoreUnknown = true)
    public record TaskSpan(String executorId, int stageId, int partition, int attempt, long startMillis, long endMillis,
                           double runSeconds, boolean successful) {
    }

    /**
     * The generation matrix: backends x slot counts x models.
     *
     * @param prompts        prompts per run
     * @param promptSource   the prompt file, or {@code generated}
     * @param maxNewTokens   generated-token budget per row
     * @param temperature    sampling temperature (0: greedy)
     * @param partitions     partitions of the prompts
     * @param warmup         untimed runs per configuration
     * @param repeats        timed runs per configuration
     * @param runs           one entry per configuration, in the order they ran
     */
    @JsonIgnoreProperties(ignoreUnknown = true)
    public record Generate(long prompts, String promptSource, int maxNewTokens, double temperature, int partitions,
                           int warmup, int repeats, List<GenerateRun> runs) {
    }

    /**
     * One generation configuration.
     *
     * @param model            the model's name (file name, or the synthetic shape)
     * @param modelShape       its shape ({@code dim=..,hidden=..,layers=..})
     * @param backend          {@code cpu}, {@code java} or {@code cuda}
     * @param slots            KV cache slots per task
     * @param threads          threads per task
     * @param seconds          wall time of each timed repeat
     * @param tokensPerSecond  completion tokens / seconds, over the repeats
     * @param rowsPerSecond    rows / seconds, over the repeats
     * @param promptTokens     prompt tokens of one repeat (BOS included)
     * @param completionTokens completion tokens of one repeat
     * @param errorRows        error rows of one repeat
     * @param ttftMs           time to first token of the rows of the last repeat, milliseconds
     * @param latencyMs        per-row latency (slot taken to last token) of the rows of the last repeat, milliseconds
     * @param activity         what the executors did in the timed repeats
     */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    @JsonIgnoreProperties(ignoreUnknown = true)
    public record GenerateRun(String model, String modelShape, String backend, int slots, int threads,
                              List<Double> seconds, Spread tokensPerSecond, Spread rowsPerSecond, long promptTokens,
                              long completionTokens, long errorRows, Percentiles ttftMs, Percentiles latencyMs,
                              Activity activity) {
    }

    /**
     * Percentiles of a per-row figure (exact, Spark's {@code percentile}).
     *
     * @param count rows with a value
     * @param p50   the median
     * @param p90   the 90th percentile
     * @param p99   the 99th percentile
     * @param max   the largest
     */
    public record Percentiles(long count, double p50, double p90, double p99, double max) {
    }

    /**
     * The same work with more resources.
     *
     * @param unit   what {@code resources} counts: {@code cores} (local mode's {@code local[N]}, standalone's
     *               {@code spark.cores.max}) or {@code executors} ({@code spark.executor.instances})
     * @param points one entry per workload and resource count
     */
    @JsonIgnoreProperties(ignoreUnknown = true)
    public record Scaling(String unit, List<ScalePoint> points) {
    }

    /**
     * One workload at one resource count.
     *
     * @param workload   e.g. {@code integrate native-arrow, 1,000,000 rows}
     * @param resources  cores or executors
     * @param executors  executors that ran tasks
     * @param rateUnit   {@code rows/s} or {@code tokens/s}
     * @param rate       the throughput over the repeats
     * @param speedup    median rate against the smallest resource count's
     * @param efficiency speedup against linear: {@code speedup / (resources / smallest resources)}
     */
    public record ScalePoint(String workload, int resources, int executors, String rateUnit, Spread rate,
                             double speedup, double efficiency) {
    }

    /**
     * The figures of an older report, for comparison.
     *
     * @param source    where it was read from
     * @param createdAt when that run ended
     * @param gitCommit the commit it ran
     * @param figures   its figures ({@link Figures#of})
     */
    public record Baseline(String source, String createdAt, String gitCommit, List<Figure> figures) {
    }

    /**
     * One comparable figure of a report, keyed so that the same configuration in two runs has the same key.
     *
     * @param key            e.g. {@code integrate/1000000/native-arrow/cpu}
     * @param label          what a reader sees
     * @param unit           e.g. {@code rows/s}
     * @param higherIsBetter whether a rise is an improvement
     * @param value          the figure over its repeats
     */
    public record Figure(String key, String label, String unit, boolean higherIsBetter, Spread value) {
    }
}

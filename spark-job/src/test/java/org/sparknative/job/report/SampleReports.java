package org.sparknative.job.report;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.sparknative.job.report.BenchReport.Activity;
import org.sparknative.job.report.BenchReport.Environment;
import org.sparknative.job.report.BenchReport.ExecutorInfo;
import org.sparknative.job.report.BenchReport.ExecutorRun;
import org.sparknative.job.report.BenchReport.Generate;
import org.sparknative.job.report.BenchReport.GenerateRun;
import org.sparknative.job.report.BenchReport.Integrate;
import org.sparknative.job.report.BenchReport.IntegrateSize;
import org.sparknative.job.report.BenchReport.IntegrateVariant;
import org.sparknative.job.report.BenchReport.Percentiles;
import org.sparknative.job.report.BenchReport.Reference;
import org.sparknative.job.report.BenchReport.ScalePoint;
import org.sparknative.job.report.BenchReport.Scaling;
import org.sparknative.job.report.BenchReport.Spread;
import org.sparknative.job.report.BenchReport.TaskSpan;

/**
 * Realistic {@link BenchReport}s for tests, built from fixed figures (no clock, no randomness): the same call gives an
 * equal report. {@link #sample()} is a two-executor standalone run with every section; {@link #minimal()} is a
 * local-mode run with one repeat and most sections missing.
 *
 * <p>Hand-checked figures of {@link #sample()}: native-arrow (cpu) at 1,000,000 rows ran its repeats in 0.241, 0.236
 * and 0.248 s, so its median is 1e6 / 0.241 = 4,149,377 rows/s ({@code 4.15M}); stories15M.bin on cpu with 32
 * slots made 1,530 tokens/s median, TTFT p50 10 + 32 * 0.5 = 26.0 ms.
 */
public final class SampleReports {
    /** When the sample run started, epoch milliseconds. */
    public static final long STARTED_MILLIS = 1_750_000_000_000L;
    /** The sample's sizes. */
    public static final long SMALL = 100_000;
    /** The sample's largest size. */
    public static final long LARGE = 1_000_000;
    /** Evaluations of f per row in the sample. */
    public static final long EVALUATIONS_PER_ROW = 550;

    private static final String[] VARIANTS = {"java-row", "native-row", "native-arrow", "sql-cached", "sql-parquet",
        "kernel-only"};
    private static final String[] DESCRIPTIONS = {"Java UDF, row at a time", "native kernel, row at a time",
        "native kernel on Arrow batches", "SQL function on a cached table", "SQL function on Parquet",
        "the kernel alone, no Spark"};
    /** Wall seconds of the three timed repeats per variant, at 100,000 and 1,000,000 rows. */
    private static final double[][][] SECONDS = {
        {{1.02, 0.99, 1.05}, {0.25, 0.24, 0.26}, {0.050, 0.048, 0.053}, {0.055, 0.052, 0.058}, {0.080, 0.078, 0.083},
            {0.0205, 0.0204, 0.0207}},
        {{9.80, 9.62, 10.05}, {2.10, 2.05, 2.18}, {0.241, 0.236, 0.248}, {0.262, 0.258, 0.270}, {0.35, 0.34, 0.36},
            {0.205, 0.203, 0.207}}};
    private static final int PARTITIONS = 8;
    private static final String[] EXECUTORS = {"0", "1"};
    private static final String[] HOSTS = {"bench-2", "bench-3"};

    private SampleReports() {
    }

    /**
     * @return a standalone run on two executors of four cores: integration at two sizes with every variant and the
     *         pandas reference points, generation with two models on two backends at 1, 8 and 32 slots (percentiles
     *         and executor activity with tasks), scaling with two points, and the environment; no baseline
     */
    public static BenchReport sample() {
        Clock clock = new Clock(STARTED_MILLIS + 1_500);
        Integrate integrate = integrate(clock);
        Generate generate = generate(clock);
        Scaling scaling = new Scaling("executors", List.of(
            new ScalePoint("integrate native-arrow, 1,000,000 rows", 1, 1, "rows/s",
                Spread.of(2.10e6, 2.15e6, 2.20e6), 1.0, 1.0),
            new ScalePoint("integrate native-arrow, 1,000,000 rows", 2, 2, "rows/s",
                Spread.of(4.05e6, 4.15e6, 4.20e6), 4.15 / 2.15, 4.15 / 2.15 / 2)));
        Map<String, String> settings = new LinkedHashMap<>();
        settings.put("spark.sql.shuffle.partitions", "8");
        settings.put("integrate.partitions", "8");
        settings.put("integrate.recordBatchRows", "10000");
        settings.put("generate.slots", "1,8,32");
        settings.put("generate.threads", "2");
        Environment env = new Environment("4.2.0", "spark://bench-1:7077", "app-20250615153320-0007", 8,
            List.of(new ExecutorInfo("0", "bench-2", 4, 2_147_483_648L * 3 / 2, "AMD EPYC 7B13 64-Core Processor",
                    "avx2", "cpu,java"),
                new ExecutorInfo("1", "bench-3", 4, 2_147_483_648L * 3 / 2, "AMD EPYC 7B13 64-Core Processor", "avx2",
                    "cpu,java")),
            "AMD EPYC 7B13 64-Core Processor", "avx2", null, "Eclipse Adoptium 17.0.15", "Linux 6.1.0-37 amd64",
            "0.1.0-SNAPSHOT", "200f222", settings);
        return new BenchReport(BenchReport.SCHEMA_VERSION, "2025-06-15T15:42:10Z", STARTED_MILLIS,
            "bin/spark-native bench --master spark://bench-1:7077 --rows 100000,1000000 --repeats 3", env, integrate,
            generate, scaling, null);
    }

    /**
     * @return a local-mode run on the driver alone, one timed repeat, integration at one size with java-row and
     *         kernel-only and no pandas references; no generation, scaling or baseline; no executors listed
     */
    public static BenchReport minimal() {
        long rows = 20_000;
        TaskSpan task = new TaskSpan("driver", 0, 0, 0, STARTED_MILLIS + 900, STARTED_MILLIS + 1_100, 0.19, true);
        ExecutorRun run = new ExecutorRun("driver", "localhost", 1, 0, rows, null, null, 0.19, 0.01, null);
        IntegrateVariant javaRow = new IntegrateVariant("java-row", "cpu", "Java UDF, row at a time", List.of(0.2),
            Spread.of(rows / 0.2), Spread.of(rows * 500 / 0.2), 1.0, null, 1e-15, 0,
            new Activity(List.of(run), List.of(task)));
        IntegrateVariant kernel = new IntegrateVariant("kernel-only", "cpu", "the kernel alone", List.of(0.01),
            Spread.of(rows / 0.01), Spread.of(rows * 500 / 0.01), 20.0, 1.0, null, 0, null);
        Integrate integrate = new Integrate(1, 1, 10_000, 0, 1,
            List.of(new IntegrateSize(rows, rows * 500, List.of(javaRow, kernel))), List.of());
        Environment env = new Environment("4.2.0", "local[1]", "local-1750000000000", 1, List.of(), "unknown", "sse2",
            null, "17", "Linux", "0.1.0-SNAPSHOT", "unknown", Map.of());
        return new BenchReport(BenchReport.SCHEMA_VERSION, "2025-06-15T15:00:02Z", STARTED_MILLIS, "bench", env,
            integrate, null, null, null);
    }

    /**
     * @param report  a report with integration
     * @param rows    the size
     * @param variant the variant at that size
     * @param factor  what its rows/s and evaluations/s (every repeat) are multiplied by; its wall seconds divided by
     * @return a copy of the report with that one figure changed
     */
    public static BenchReport withRowsScaled(BenchReport report, long rows, String variant, double factor) {
        List<IntegrateSize> sizes = new ArrayList<>();
        for (IntegrateSize size : report.integrate().sizes()) {
            List<IntegrateVariant> variants = new ArrayList<>();
            for (IntegrateVariant v : size.variants()) {
                if (size.rows() == rows && v.variant().equals(variant)) {
                    v = new IntegrateVariant(v.variant(), v.backend(), v.description(),
                        v.seconds().stream().map(s -> s / factor).toList(), scale(v.rowsPerSecond(), factor),
                        scale(v.evaluationsPerSecond(), factor), v.speedupOverJavaRow(), v.shareOfKernelOnly(),
                        v.maxRelativeError(), v.invalidRows(), v.activity());
                }
                variants.add(v);
            }
            sizes.add(new IntegrateSize(size.rows(), size.evaluations(), variants));
        }
        BenchReport.Integrate in = report.integrate();
        return new BenchReport(report.schemaVersion(), report.createdAt(), report.startedMillis(), report.command(),
            report.environment(), new Integrate(in.seed(), in.partitions(), in.recordBatchRows(), in.warmup(),
                in.repeats(), sizes, in.pandasReference()), report.generate(), report.scaling(), report.baseline());
    }

    private static Spread scale(Spread s, double f) {
        return new Spread(s.min() * f, s.median() * f, s.max() * f);
    }

    private static Integrate integrate(Clock clock) {
        List<IntegrateSize> sizes = new ArrayList<>();
        long[] rowCounts = {SMALL, LARGE};
        for (int s = 0; s < rowCounts.length; s++) {
            long rows = rowCounts[s];
            long evaluations = rows * EVALUATIONS_PER_ROW;
            double javaRow = rows / Spread.of(SECONDS[s][0]).median();
            double kernelOnly = evaluations / Spread.of(SECONDS[s][5]).median();
            List<IntegrateVariant> variants = new ArrayList<>();
            for (int v = 0; v < VARIANTS.length; v++) {
                double[] seconds = SECONDS[s][v];
                double[] rps = new double[seconds.length];
                double[] eps = new double[seconds.length];
                for (int i = 0; i < seconds.length; i++) {
                    rps[i] = rows / seconds[i];
                    eps[i] = evaluations / seconds[i];
                }
                Spread rowsPerSecond = Spread.of(rps);
                Spread evalsPerSecond = Spread.of(eps);
                boolean spark = !"kernel-only".equals(VARIANTS[v]);
                Activity activity = null;
                clock.advance(seconds[0] * 1000 + 150); // the warm-up run
                if (spark) {
                    activity = activity(clock, seconds, rows, "java-row".equals(VARIANTS[v]),
                        s == 1 && "native-row".equals(VARIANTS[v]), 10 * s + v);
                } else {
                    for (double sec : seconds) {
                        clock.advance(sec * 1000 + 50);
                    }
                }
                variants.add(new IntegrateVariant(VARIANTS[v], "cpu", DESCRIPTIONS[v], list(seconds), rowsPerSecond,
                    evalsPerSecond, rowsPerSecond.median() / javaRow, evalsPerSecond.median() / kernelOnly,
                    "java-row".equals(VARIANTS[v]) ? 3.1e-16 : 8.9e-16, 0, activity));
            }
            sizes.add(new IntegrateSize(rows, evaluations, variants));
        }
        List<Reference> refs = List.of(
            new Reference("apply (pure Python)", 20_000, 66.0, "pandas docs, Enhancing performance"),
            new Reference("Cython, typed", 20_000, 0.40, "pandas docs, Enhancing performance"),
            new Reference("Numba, parallel", 20_000, 0.076, "pandas docs, Enhancing performance"));
        return new Integrate(42, PARTITIONS, 10_000, 1, 3, sizes, refs);
    }

    /**
     * Tasks of a figure's timed repeats: {@code PARTITIONS} per repeat, partition p on executor p % 2, starting a few
     * ms apart; partition 5 is the straggler. With {@code failure}, partition 3's first attempt of the second repeat
     * fails half-way and its second attempt runs after it on the same executor.
     */
    private static Activity activity(Clock clock, double[] seconds, long rows, boolean gcHeavy, boolean failure,
                                     int stage) {
        List<TaskSpan> tasks = new ArrayList<>();
        for (int r = 0; r < seconds.length; r++) {
            long start = clock.now;
            long span = Math.round(seconds[r] * 1000 * 0.85);
            long last = start;
            for (int p = 0; p < PARTITIONS; p++) {
                long t0 = start + 4L * (p / 2) + 1;
                long duration = Math.round(span * (p == 5 ? 1.0 : 0.78 + 0.04 * (p % 3)));
                int stageId = 3 * stage + r;
                if (failure && r == 1 && p == 3) {
                    long failedEnd = t0 + duration / 2;
                    tasks.add(new TaskSpan(EXECUTORS[p % 2], stageId, p, 0, t0, failedEnd,
                        (failedEnd - t0) / 1000.0 * 0.97, false));
                    t0 = failedEnd + 5;
                    tasks.add(new TaskSpan(EXECUTORS[p % 2], stageId, p, 1, t0, t0 + duration, duration / 1000.0 * 0.97,
                        true));
                } else {
                    tasks.add(new TaskSpan(EXECUTORS[p % 2], stageId, p, 0, t0, t0 + duration, duration / 1000.0 * 0.97,
                        true));
                }
                last = Math.max(last, tasks.get(tasks.size() - 1).endMillis());
            }
            clock.now = Math.max(last, start + Math.round(seconds[r] * 1000)) + 60;
        }
        List<ExecutorRun> executors = new ArrayList<>();
        for (int e = 0; e < EXECUTORS.length; e++) {
            String id = EXECUTORS[e];
            double taskSeconds = tasks.stream().filter(t -> t.executorId().equals(id))
                .mapToDouble(TaskSpan::runSeconds).sum();
            int ok = (int) tasks.stream().filter(t -> t.executorId().equals(id) && t.successful()).count();
            int failed = (int) tasks.stream().filter(t -> t.executorId().equals(id) && !t.successful()).count();
            executors.add(new ExecutorRun(id, HOSTS[e], ok, failed, rows * seconds.length / EXECUTORS.length, null, null,
                round(taskSeconds), round(taskSeconds * (gcHeavy ? 0.021 : 0.004)),
                gcHeavy ? null : round(taskSeconds * 0.86)));
        }
        return new Activity(executors, tasks);
    }

    private static Generate generate(Clock clock) {
        String[] models = {"stories15M.bin", "stories42M.bin"};
        String[] shapes = {"dim=288,hidden=768,layers=6,heads=6,kv_heads=6,vocab=32000,seq=256",
            "dim=512,hidden=1376,layers=8,heads=8,kv_heads=8,vocab=32000,seq=1024"};
        String[] backends = {"cpu", "java"};
        int[] slots = {1, 8, 32};
        // median tokens/s by model, backend, slots
        double[][][] median = {{{310, 1180, 1530}, {95, 260, 300}}, {{120, 470, 610}, {36, 98, 110}}};
        long prompts = 64;
        long completion = 3_980;
        long promptTokens = 768;
        List<GenerateRun> runs = new ArrayList<>();
        for (int m = 0; m < models.length; m++) {
            for (int b = 0; b < backends.length; b++) {
                for (int s = 0; s < slots.length; s++) {
                    double med = median[m][b][s];
                    double[] tps = {med * 0.985, med, med * 1.02};
                    double[] seconds = new double[tps.length];
                    double[] rps = new double[tps.length];
                    for (int i = 0; i < tps.length; i++) {
                        seconds[i] = round(completion / tps[i]);
                        rps[i] = prompts / (completion / tps[i]);
                    }
                    double ttft = (m + 1) * (b == 1 ? 3 : 1) * (10 + slots[s] * 0.5);
                    double latency = round(completion / prompts / med * 1000 * slots[s]);
                    clock.advance(seconds[0] * 1000 + 200); // the warm-up run
                    Activity activity = generateActivity(clock, seconds, prompts, promptTokens, completion, 100 + runs.size());
                    runs.add(new GenerateRun(models[m], shapes[m], backends[b], slots[s], 2, list(seconds),
                        Spread.of(tps), Spread.of(rps), promptTokens, completion, 0,
                        new Percentiles(prompts, ttft, ttft * 1.8, ttft * 2.6, ttft * 3.0),
                        new Percentiles(prompts, latency, latency * 1.3, latency * 1.6, latency * 1.7), activity));
                }
            }
        }
        return new Generate(prompts, "data/prompts/stories.jsonl", 64, 0.0, 4, 1, 3, runs);
    }

    private static Activity generateActivity(Clock clock, double[] seconds, long prompts, long promptTokens,
                                             long completion, int stage) {
        int partitions = 4;
        List<TaskSpan> tasks = new ArrayList<>();
        for (int r = 0; r < seconds.length; r++) {
            long start = clock.now;
            long span = Math.round(seconds[r] * 1000 * 0.9);
            for (int p = 0; p < partitions; p++) {
                long t0 = start + 3L * p + 2;
                long duration = Math.round(span * (0.9 + 0.033 * p));
                tasks.add(new TaskSpan(EXECUTORS[p % 2], 3 * stage + r, p, 0, t0, t0 + duration,
                    duration / 1000.0 * 0.98, true));
            }
            clock.now = start + Math.round(seconds[r] * 1000) + 80;
        }
        List<ExecutorRun> executors = new ArrayList<>();
        for (int e = 0; e < EXECUTORS.length; e++) {
            String id = EXECUTORS[e];
            double taskSeconds = tasks.stream().filter(t -> t.executorId().equals(id))
                .mapToDouble(TaskSpan::runSeconds).sum();
            int n = seconds.length * partitions / EXECUTORS.length;
            executors.add(new ExecutorRun(id, HOSTS[e], n, 0, prompts * seconds.length / EXECUTORS.length,
                promptTokens * seconds.length / EXECUTORS.length, completion * seconds.length / EXECUTORS.length,
                round(taskSeconds), round(taskSeconds * 0.003), round(taskSeconds * 0.93)));
        }
        return new Activity(executors, tasks);
    }

    private static List<Double> list(double[] values) {
        List<Double> l = new ArrayList<>();
        for (double v : values) {
            l.add(v);
        }
        return l;
    }

    /** Six decimals, as a run would write them. */
    private static double round(double v) {
        return Math.round(v * 1e6) / 1e6;
    }

    /** The sample run's wall clock, epoch milliseconds. */
    private static final class Clock {
        long now;

        Clock(long now) {
            this.now = now;
        }

        void advance(double millis) {
            now += Math.round(millis);
        }
    }
}

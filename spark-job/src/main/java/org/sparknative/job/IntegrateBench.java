package org.sparknative.job;

import static org.apache.spark.sql.functions.callUDF;
import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.max;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.api.java.UDF4;
import org.apache.spark.sql.types.DataTypes;
import org.sparknative.job.report.BenchReport;
import org.sparknative.kernels.cuda.Cuda;
import org.sparknative.kernels.integrate.IntegrateReference;
import org.sparknative.spark.ExecutorActivity;
import org.sparknative.spark.PartitionCounter;
import org.sparknative.spark.integrate.IntegrateFunctions;
import org.sparknative.spark.integrate.IntegrateTransform;
import org.sparknative.udf.Backend;
import org.sparknative.udf.BadRowPolicy;
import org.sparknative.udf.ExecutorRuntime;
import org.sparknative.udf.bench.IntegrateBenchmark;

/**
 * The integration benchmark on one cached input: every variant ({@code java-row}, {@code native-row},
 * {@code native-arrow} on the CPU and, where a device is usable, on CUDA, the SQL extension over the cached table
 * and over a Parquet copy) timed over the same rows, then the kernels alone on the driver ({@code kernel-only}).
 * Each variant runs {@code warmup} untimed times on the first 20,000 rows and {@code repeats} timed times; every
 * repeat's wall time is kept, with what the executors did during them. {@code bench} and {@code integrate --compare}
 * both measure through this class.
 *
 * <p>Not thread-safe: one benchmark at a time, on the driver.
 */
final class IntegrateBench {
    private IntegrateBench() {
    }

    /** The ways to compute the column, slowest first. */
    enum Variant {
        JAVA_ROW("java-row", "plain Java row-at-a-time UDF"),
        NATIVE_ROW("native-row", "SQL UDF integrate_f: one JNI call per row"),
        NATIVE_ARROW("native-arrow", "Arrow record batches, one native call per batch");

        final String label;
        final String description;

        Variant(String label, String description) {
            this.label = label;
            this.description = description;
        }

        static Variant parse(String s) {
            for (Variant v : values()) {
                if (v.label.equals(s.trim().toLowerCase(Locale.ROOT))) {
                    return v;
                }
            }
            throw new UsageException("--variant must be java-row, native-row or native-arrow, got '" + s + "'");
        }
    }

    /** The name of the warm-up view: the first 20,000 rows of the input, cached like it. */
    static final String WARMUP_VIEW = "integrate_warmup";

    /** Rows of the warm-up input. */
    static final int WARMUP_ROWS = 20_000;

    /**
     * How to run the variants.
     *
     * @param batchSize rows per Arrow record batch
     * @param policy    what invalid rows do
     * @param requested the backend asked for (cpu, cuda or auto): the CUDA native-arrow line runs when it is cuda
     *                  or a device is usable here
     * @param warmup    untimed runs per variant
     * @param repeats   timed runs per variant, {@code >= 1}
     */
    record Settings(int batchSize, BadRowPolicy policy, Backend requested, int warmup, int repeats) {
    }

    /** What the benchmark measured, and the output of the last DataFrame variant (to write, if asked). */
    record Measured(List<BenchReport.IntegrateVariant> variants, Dataset<Row> lastOutput) {
    }

    /** A variant and how native-arrow runs (its backend); the row variants always run on the CPU. */
    private record Run(Variant variant, IntegrateTransform.Options options) {
    }

    /** A variant's output, and for native-arrow its counters (else null). */
    record Built(Dataset<Row> output, PartitionCounter rows, PartitionCounter invalidRows) {
    }

    /**
     * Measures every variant on {@code data}.
     *
     * @param data  the prepared input ({@link IntegrateTransform#prepareInput}), cached and counted
     * @param count its rows
     * @param sumN  its evaluations of f
     * @param outer the command's own run, to which the variants' row counters are attributed too, or null
     */
    static Measured measure(SparkSession spark, Dataset<Row> data, long count, long sumN, Settings s,
                            ExecutorActivity outer) {
        IntegrateFunctions.register(spark, s.policy());
        Dataset<Row> warm = s.warmup() == 0 ? null : data.limit(WARMUP_ROWS).cache();
        if (warm != null) {
            // Cached like the data, so that a warm-up runs the same code (over a limit, the batched operator would
            // read rows instead of the cache's columnar batches).
            warm.count();
            warm.createOrReplaceTempView(WARMUP_VIEW);
        }
        try {
            List<BenchReport.IntegrateVariant> out = new ArrayList<>();
            Dataset<Row> last = null;
            List<Run> runs = new ArrayList<>();
            for (Variant v : Variant.values()) {
                runs.add(new Run(v, new IntegrateTransform.Options(s.batchSize(), s.policy(), Backend.CPU)));
            }
            if (s.requested() == Backend.CUDA || Cuda.availability().usable()) {
                runs.add(new Run(Variant.NATIVE_ARROW, new IntegrateTransform.Options(s.batchSize(), s.policy(), Backend.CUDA)));
            }
            for (Run run : runs) {
                Variant v = run.variant();
                IntegrateTransform.Options options = run.options();
                for (int w = 0; w < s.warmup(); w++) {
                    noop(build(v, warm, options).output());
                }
                ExecutorActivity activity = ExecutorActivity.start(spark.sparkContext());
                double[] seconds = new double[s.repeats()];
                Built built = null;
                try {
                    // A new plan per repeat: its row counters count each repeat's rows (a counter counts a partition once).
                    for (int r = 0; r < s.repeats(); r++) {
                        built = build(v, data, options);
                        if (built.rows() != null) {
                            activity.track(ExecutorActivity.Count.ROWS, built.rows());
                            if (outer != null && r == 0) {
                                outer.track(ExecutorActivity.Count.ROWS, built.rows());
                            }
                        }
                        seconds[r] = timed(built.output(), 1)[0];
                    }
                } catch (RuntimeException e) {
                    activity.close();
                    throw e;
                }
                BenchReport.Activity act = BenchActivity.of(activity);
                long invalid = built.invalidRows() == null ? 0 : built.invalidRows().total();
                String backend = v == Variant.NATIVE_ARROW ? Jobs.describe(options.backend(), spark) : Backend.CPU.label();
                out.add(variant(v.label, backend, v.description, seconds, count, sumN, maxRelativeError(built.output()),
                    invalid, act));
                last = built.output();
            }
            out.addAll(sqlVariants(spark, data, count, sumN, s));
            return new Measured(out, last);
        } finally {
            if (warm != null) {
                warm.unpersist();
            }
        }
    }

    /**
     * The kernels alone on the driver, on the same rows, through the Spark-free harness
     * ({@link IntegrateBenchmark}): the C kernel split over {@code threads} threads (the cores Spark's tasks
     * use), the ceiling the Spark variants are measured against, and, where CUDA is usable here, the CUDA
     * kernel with its copies. {@code repeats} timed runs after an untimed one. Invalid rows are left out;
     * over 50M rows it is not run.
     */
    static List<BenchReport.IntegrateVariant> kernelOnly(Dataset<Row> data, int threads, long count, long sumN, int repeats,
                                                         boolean cuda) {
        if (count > 50_000_000L) {
            return List.of();
        }
        List<Row> rowsIn = data.select(col("a"), col("b"), col("n").cast(DataTypes.LongType).as("n")).na().drop()
            .filter("n >= 1 AND n <= 2147483647 AND a = a AND b = b AND abs(a) < double('inf') AND abs(b) < double('inf')").collectAsList();
        int reps = repeats;
        List<BenchReport.IntegrateVariant> out = new ArrayList<>();
        try (BufferAllocator alloc = ExecutorRuntime.newTaskAllocator("integrate kernel-only")) {
            IntegrateBenchmark.RowSource source = (id, ab) -> {
                Row row = rowsIn.get((int) id);
                ab[0] = row.getDouble(0);
                ab[1] = row.getDouble(1);
                return (int) row.getLong(2);
            };
            long valid;
            long evaluations;
            double[] cpuSeconds;
            try (IntegrateBenchmark.Input in = IntegrateBenchmark.input(rowsIn.size(), IntegrateBenchmark.CPU_BATCH_ROWS,
                source, alloc)) {
                cpuSeconds = IntegrateBenchmark.cpuSeconds(in, threads, reps, alloc);
                valid = in.rows();
                evaluations = in.evaluations();
            }
            out.add(variant("kernel-only", Backend.CPU.label(), "the C kernel alone on the driver, " + threads
                + " threads, no Spark", cpuSeconds, valid, evaluations, null, 0, null));
            if (cuda) {
                try (IntegrateBenchmark.Input in = IntegrateBenchmark.input(rowsIn.size(), IntegrateBenchmark.CUDA_BATCH_ROWS,
                    source, alloc)) {
                    double[] seconds = new double[reps];
                    String device = null;
                    for (int i = 0; i < reps; i++) {
                        IntegrateBenchmark.Row m = IntegrateBenchmark.cuda(in, Cuda.device(0), 1, alloc);
                        seconds[i] = m.seconds();
                        device = m.device();
                    }
                    out.add(variant("kernel-only", "cuda:0 (" + device + ")", "the CUDA kernel alone on the driver with "
                        + "its copies, no Spark", seconds, valid, evaluations, null, 0, null));
                }
            }
        }
        return out;
    }

    /** Builds {@code v}'s output over {@code data} (not yet run). */
    static Built build(Variant v, Dataset<Row> data, IntegrateTransform.Options options) {
        return switch (v) {
            case JAVA_ROW -> new Built(data.withColumn("x",
                callUDF(IntegrateFunctions.JAVA_NAME, col("a"), col("b"), col("n"))), null, null);
            case NATIVE_ROW -> new Built(data.withColumn("x",
                callUDF(IntegrateFunctions.ROW_NAME, col("a"), col("b"), col("n"))), null, null);
            case NATIVE_ARROW -> {
                IntegrateTransform.Result r = IntegrateTransform.apply(data, options);
                yield new Built(r.output(), r.rows(), r.invalidRows());
            }
        };
    }

    /**
     * Adds speedups against {@code java-row} and shares of the CPU {@code kernel-only} (medians) to every variant.
     */
    static List<BenchReport.IntegrateVariant> withRatios(List<BenchReport.IntegrateVariant> variants) {
        Double javaRow = variants.stream().filter(v -> v.variant().equals(Variant.JAVA_ROW.label)).findFirst()
            .map(v -> v.rowsPerSecond().median()).orElse(null);
        Double kernel = variants.stream().filter(v -> v.variant().equals("kernel-only") && v.backend().equals("cpu"))
            .findFirst().map(v -> v.evaluationsPerSecond().median()).orElse(null);
        List<BenchReport.IntegrateVariant> out = new ArrayList<>();
        for (BenchReport.IntegrateVariant v : variants) {
            out.add(new BenchReport.IntegrateVariant(v.variant(), v.backend(), v.description(), v.seconds(),
                v.rowsPerSecond(), v.evaluationsPerSecond(),
                javaRow == null || v.variant().equals("kernel-only") ? null : v.rowsPerSecond().median() / javaRow,
                kernel == null ? null : v.evaluationsPerSecond().median() / kernel, v.maxRelativeError(),
                v.invalidRows(), v.activity()));
        }
        return out;
    }

    /**
     * The SQL extension's {@code integrate_f} on the same rows: over the cached table ({@code sql-cached}) and, where
     * the executors share the driver's filesystem (local mode), over a Parquet copy ({@code sql-parquet}). Both read
     * their input as columnar batches, in bulk. On a session without the extension {@code integrate_f} is the row UDF,
     * and the rows say so.
     */
    private static List<BenchReport.IntegrateVariant> sqlVariants(SparkSession spark, Dataset<Row> data, long count,
                                                                  long sumN, Settings s) {
        boolean batched = org.sparknative.spark.sql.SparkNativeSql.hasExtension(spark);
        String how = batched ? "SQL integrate_f (extension), columnar input in bulk" : "SQL integrate_f without the extension (row UDF)";
        List<BenchReport.IntegrateVariant> out = new ArrayList<>();
        data.createOrReplaceTempView("integrate_cached");
        out.add(sqlVariant(spark, "sql-cached", how + ", cached table", "integrate_cached", count, sumN, s));
        if (Sessions.isLocal(spark.sparkContext().master())) {
            Path dir = null;
            try {
                dir = java.nio.file.Files.createTempDirectory("spark-native-integrate-");
                String parquet = dir.resolve("rows.parquet").toUri().toString();
                data.write().parquet(parquet);
                spark.read().parquet(parquet).createOrReplaceTempView("integrate_parquet");
                out.add(sqlVariant(spark, "sql-parquet", how + ", Parquet file", "integrate_parquet", count, sumN, s));
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException("cannot write the Parquet copy for sql-parquet", e);
            } finally {
                if (dir != null) {
                    org.apache.commons.io.FileUtils.deleteQuietly(dir.toFile());
                }
            }
        }
        return out;
    }

    private static BenchReport.IntegrateVariant sqlVariant(SparkSession spark, String name, String description, String view,
                                                           long count, long sumN, Settings s) {
        String query = "SELECT *, integrate_f(a, b, n) AS x FROM ";
        for (int i = 0; i < s.warmup(); i++) {
            noop(spark.sql(query + WARMUP_VIEW));
        }
        Dataset<Row> q = spark.sql(query + view);
        ExecutorActivity activity = ExecutorActivity.start(spark.sparkContext());
        double[] seconds;
        try {
            seconds = timed(q, s.repeats());
        } catch (RuntimeException e) {
            activity.close();
            throw e;
        }
        BenchReport.Activity act = BenchActivity.of(activity);
        return variant(name, Backend.CPU.label(), description, seconds, count, sumN, maxRelativeError(q), 0, act);
    }

    private static BenchReport.IntegrateVariant variant(String name, String backend, String description, double[] seconds,
                                                        long rows, long evaluations, Double maxRelErr, long invalid,
                                                        BenchReport.Activity activity) {
        double[] rps = new double[seconds.length];
        double[] eps = new double[seconds.length];
        List<Double> secs = new ArrayList<>();
        for (int i = 0; i < seconds.length; i++) {
            rps[i] = rows / seconds[i];
            eps[i] = evaluations / seconds[i];
            secs.add(seconds[i]);
        }
        return new BenchReport.IntegrateVariant(name, backend, description, secs, BenchReport.Spread.of(rps),
            BenchReport.Spread.of(eps), null, null, maxRelErr, invalid, activity);
    }

    /** Runs {@code df} {@code repeats} times into Spark's no-op sink; returns each run's wall seconds. */
    static double[] timed(Dataset<Row> df, int repeats) {
        double[] seconds = new double[repeats];
        for (int i = 0; i < repeats; i++) {
            long t0 = System.nanoTime();
            noop(df);
            seconds[i] = (System.nanoTime() - t0) / 1e9;
        }
        return seconds;
    }

    /** Computes every row and discards it: Spark's no-op sink, the standard way to time a query. */
    static void noop(Dataset<Row> df) {
        df.write().format("noop").mode("overwrite").save();
    }

    private static void registerRelativeError(SparkSession spark) {
        spark.udf().register("integrate_f_relerr",
            (UDF4<Double, Double, Double, Long, Double>) (x, a, b, n) ->
                x == null || a == null || b == null || n == null || n < 1 || n > Integer.MAX_VALUE ? null
                    : IntegrateReference.relativeError(x, a, b, n.intValue()), DataTypes.DoubleType);
    }

    /** @return the largest relative error of {@code output}'s x against the closed form, or null if no row has one */
    static Double maxRelativeError(Dataset<Row> output) {
        registerRelativeError(output.sparkSession());
        Row err = output.agg(max(callUDF("integrate_f_relerr", col("x"), col("a"), col("b"),
            col("n").cast(DataTypes.LongType)))).first();
        return err.isNullAt(0) ? null : err.getDouble(0);
    }
}

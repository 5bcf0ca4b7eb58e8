package org.sparknative.job;

import static org.apache.spark.sql.functions.callUDF;
import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.max;
import static org.apache.spark.sql.functions.sum;

import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.api.java.UDF4;
import org.apache.spark.sql.types.DataTypes;
import org.sparknative.kernels.integrate.IntegrateReference;
import org.sparknative.spark.ExecutorActivity;
import org.sparknative.spark.PartitionCounter;
import org.sparknative.spark.RowIds;
import org.sparknative.spark.integrate.IntegrateFunctions;
import org.sparknative.spark.integrate.IntegrateTransform;
import org.sparknative.kernels.cuda.Cuda;
import org.sparknative.udf.Backend;
import org.sparknative.udf.BadRowPolicy;
import org.sparknative.udf.ExecutorRuntime;
import org.sparknative.udf.bench.IntegrateBenchmark;
import org.apache.arrow.memory.BufferAllocator;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code spark-native integrate}: computes {@code x = integrate_f(a, b, n)} over a DataFrame, with one
 * of three variants, or all of them on the same cached data ({@code --compare}), and reports wall time,
 * rows/s, evaluations/s (sum of {@code n} per second), speedup over {@code java-row} and the maximum
 * relative error against the closed form.
 */
@Command(name = "integrate", mixinStandardHelpOptions = true, sortOptions = false,
    description = {"Left Riemann sum of f(x) = x(x-1) per row (the pandas integrate_f benchmark) on Spark.",
        "Input: --input FILE with columns a, b, n, or --rows generated rows (a=-|N(0,1)|, b=|N(0,1)|, n in [100,20000))."})
final class IntegrateJob implements Callable<Integer> {
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

    @Mixin
    SparkOptions sparkOptions = new SparkOptions();

    @Option(names = "--rows", defaultValue = "20000", description = "Rows to generate when no --input is given (default: ${DEFAULT-VALUE}).")
    long rows;

    @Option(names = "--seed", defaultValue = "42", description = "Seed of the generated rows (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--input", description = "Parquet, CSV or JSON file or directory with columns a, b, n.")
    String input;

    @Option(names = "--input-format", description = "parquet|json|csv (default: from the file name, else parquet).")
    String inputFormat;

    @Option(names = "--output", description = "Output directory (input columns plus x), written through Spark's committer.")
    String output;

    @Option(names = "--format", defaultValue = "parquet", description = "Output format: parquet|json|csv (default: ${DEFAULT-VALUE}).")
    String format;

    @Option(names = "--overwrite", description = "Replace an existing --output directory.")
    boolean overwrite;

    @Option(names = "--variant", defaultValue = "native-arrow", description = "java-row|native-row|native-arrow (default: ${DEFAULT-VALUE}).")
    String variant;

    @Option(names = "--compare", description = "Run every variant on the same cached data and print the comparison; "
        + "adds a native-arrow line on CUDA where a device is usable.")
    boolean compare;

    @Option(names = "--backend", description = "Where native-arrow runs: cpu, cuda or auto (cuda where a device is usable, "
        + "else cpu) (default: " + Backend.SPARK_CONF + ", else cpu).")
    String backend;

    @Option(names = "--batch-size", defaultValue = "" + IntegrateTransform.DEFAULT_BATCH_SIZE,
        description = "Rows per Arrow record batch for native-arrow (default: ${DEFAULT-VALUE}).")
    int batchSize;

    @Option(names = "--partitions", description = "Partitions of the input (default: Spark's default parallelism).")
    Integer partitions;

    @Option(names = "--invalid-rows", defaultValue = "fail",
        description = "Rows with n <= 0 or non-finite a, b: 'fail' stops the job naming the row, 'row-error' outputs null and counts them; "
            + "'error' and 'null' are the old spellings (default: ${DEFAULT-VALUE}).")
    String invalidRows;

    @Option(names = "--warmup", defaultValue = "1", description = "Untimed warm-up runs per variant on the first 20,000 rows, cached (default: ${DEFAULT-VALUE}).")
    int warmup;

    @Option(names = "--repeats", defaultValue = "1", description = "Timed runs per variant; the best one is reported, as "
        + "kernel-only reports its best of 3 (default: ${DEFAULT-VALUE}).")
    int repeats;

    @Option(names = "--summary", description = "Also write the results as JSON to this file.")
    Path summary;

    /** One variant's measurement. Times in seconds, rates per second. */
    record VariantResult(String variant, String description, String backend, long rows, double wallSeconds, double rowsPerSecond,
                         double evaluationsPerSecond, double speedupOverJavaRow, double maxRelativeError,
                         long invalidRows) {
    }

    /** The JSON summary; {@code executors}: what each executor did (rows: those of the native-arrow variant). */
    record Summary(String workload, String timestamp, String sparkVersion, String master, int defaultParallelism,
                   String input, long rows, long sumN, long seed, int batchSize, int partitions, String invalidRows,
                   List<VariantResult> variants, VariantResult kernelOnly, VariantResult kernelOnlyCuda, String output,
                   List<ExecutorActivity.Executor> executors) {
    }

    @Override
    public Integer call() {
        DataIO.Format outFormat = usage(() -> DataIO.Format.parse(format));
        BadRowPolicy policy = usage(() -> BadRowPolicy.INVALID_ROWS.parse(invalidRows));
        List<Variant> variants = compare ? List.of(Variant.values()) : List.of(Variant.parse(variant));
        if (rows < 0) {
            throw new UsageException("--rows must be >= 0, got " + rows);
        }
        if (summary != null) {
            Report.checkWritable(summary);
        }
        if (partitions != null && partitions < 1) {
            throw new UsageException("--partitions must be >= 1, got " + partitions);
        }
        if (batchSize < 1) {
            throw new UsageException("--batch-size must be >= 1, got " + batchSize);
        }
        if (repeats < 1) {
            throw new UsageException("--repeats must be >= 1, got " + repeats);
        }
        if (warmup < 0) {
            throw new UsageException("--warmup must be >= 0, got " + warmup);
        }
        try (Sessions.Handle session = Sessions.open("spark-native integrate", sparkOptions)) {
            SparkSession spark = session.spark();
            DataIO.checkOutput(spark, input, output, overwrite);
            OutputGuard guard = OutputGuard.of(spark, output);
            ExecutorActivity activity = ExecutorActivity.start(spark.sparkContext());
            try {
            IntegrateFunctions.register(spark, policy);
            Backend requested = Jobs.backend(backend, spark, "cpu, cuda or auto");
            if (requested == Backend.JAVA) {
                throw new UsageException("integrate's --backend is cpu, cuda or auto; the pure-Java path is --variant java-row");
            }
            IntegrateTransform.Options options = new IntegrateTransform.Options(batchSize, policy, requested);
            List<Run> runs = new ArrayList<>();
            for (Variant v : variants) {
                runs.add(new Run(v, v == Variant.NATIVE_ARROW && !compare ? options
                    : new IntegrateTransform.Options(batchSize, policy, Backend.CPU)));
            }
            if (compare && (requested == Backend.CUDA || Cuda.availability().usable())) {
                runs.add(new Run(Variant.NATIVE_ARROW, new IntegrateTransform.Options(batchSize, policy, Backend.CUDA)));
            }
            int parts = partitions != null ? partitions : spark.sparkContext().defaultParallelism();
            if (parts < 1) {
                throw new IllegalArgumentException("--partitions must be >= 1, got " + parts);
            }
            // Input rows without an id are numbered as read, so that messages name the same row under any partitioning.
            Dataset<Row> raw = input != null
                ? RowIds.numbered(DataIO.read(spark, input,
                    inputFormat != null ? DataIO.Format.parse(inputFormat) : DataIO.Format.ofPath(input)))
                : IntegrateData.generate(spark, rows, seed, parts);
            Dataset<Row> data = IntegrateTransform.prepareInput(raw);
            if (input != null && partitions != null) {
                data = data.repartition(parts);
            }
            data = data.cache();
            Row stats = data.agg(org.apache.spark.sql.functions.count("*"), sum(col("n").cast(DataTypes.LongType))).first();
            long count = stats.getLong(0);
            long sumN = stats.isNullAt(1) ? 0 : stats.getLong(1);
            System.out.printf(Locale.ROOT, "integrate: %,d rows, %,d evaluations of f, %d partitions, master %s%n",
                count, sumN, data.rdd().getNumPartitions(), spark.sparkContext().master());

            spark.udf().register("integrate_f_relerr",
                (UDF4<Double, Double, Double, Long, Double>) (x, a, b, n) ->
                    x == null || a == null || b == null || n == null || n < 1 || n > Integer.MAX_VALUE ? null
                        : IntegrateReference.relativeError(x, a, b, n.intValue()), DataTypes.DoubleType);

            // Warm-up input: the first 20,000 rows, cached like the data, so that a warm-up runs the same code (over a
            // limit, the batched operator would read rows instead of the cache's columnar batches).
            Dataset<Row> warm = warmup == 0 ? null : data.limit(20_000).cache();
            if (warm != null) {
                warm.count();
                warm.createOrReplaceTempView("integrate_warmup");
            }
            List<VariantResult> results = new ArrayList<>();
            Dataset<Row> last = null;
            for (Run run : runs) {
                Variant v = run.variant();
                for (int i = 0; i < warmup; i++) {
                    noop(build(v, warm, run.options()).output());
                }
                Built built = build(v, data, run.options());
                if (built.rows() != null) {
                    activity.track(ExecutorActivity.Count.ROWS, built.rows());
                }
                boolean writeHere = output != null && !compare;
                double secs = Double.POSITIVE_INFINITY;
                if (writeHere) {
                    long t0 = System.nanoTime();
                    DataIO.write(built.output().drop(RowIds.INPUT_ROW), output, outFormat, overwrite);
                    guard.committed();
                    secs = (System.nanoTime() - t0) / 1e9;
                } else {
                    for (int i = 0; i < repeats; i++) {
                        long t0 = System.nanoTime();
                        noop(built.output());
                        secs = Math.min(secs, (System.nanoTime() - t0) / 1e9);
                    }
                }
                long invalid = built.invalidRows() == null ? 0 : built.invalidRows().total();
                Row err = built.output().agg(max(callUDF("integrate_f_relerr", col("x"), col("a"), col("b"), col("n").cast(DataTypes.LongType)))).first();
                double maxErr = err.isNullAt(0) ? Double.NaN : err.getDouble(0);
                results.add(new VariantResult(v.label, v.description, run.backendLabel(spark), count, secs, count / secs, sumN / secs, Double.NaN,
                    maxErr, invalid));
                last = built.output();
            }
            if (compare) {
                results.addAll(sqlVariants(spark, data, count, sumN, warmup, repeats));
            }
            if (warm != null) {
                warm.unpersist();
            }
            if (compare && output != null) {
                DataIO.write(last.drop(RowIds.INPUT_ROW), output, outFormat, overwrite);
                guard.committed();
            }
            results = withSpeedups(results);
            List<VariantResult> kernels = compare ? kernelOnly(data, spark.sparkContext().defaultParallelism(), count,
                Sessions.isLocal(spark.sparkContext().master()) && Cuda.availability().usable()) : List.of();
            VariantResult kernel = kernels.isEmpty() ? null : kernels.get(0);
            VariantResult kernelCuda = kernels.size() > 1 ? kernels.get(1) : null;
            print(results, kernels);
            List<ExecutorActivity.Executor> executors = activity.finish();
            Report.executors(System.out, executors, false);
            if (summary != null) {
                Report.writeJson(new Summary("integrate", Instant.now().toString(), spark.version(), spark.sparkContext().master(),
                    spark.sparkContext().defaultParallelism(), input == null ? "generated" : input, count, sumN, seed,
                    batchSize, data.rdd().getNumPartitions(), policy.label(), results, kernel, kernelCuda,
                    output, executors), summary);
                System.out.println("summary written to " + summary);
            }
            if (output != null) {
                System.out.println("output written to " + output + " (" + outFormat.name().toLowerCase(Locale.ROOT) + ")");
            }
            data.unpersist();
            } finally {
                activity.close();
                guard.close();
            }
        }
        return 0;
    }

    /** A variant and, for native-arrow, where it runs. */
    private record Run(Variant variant, IntegrateTransform.Options options) {
        /** @return {@code cpu} for the row variants, else the backend; {@code auto} resolved where the driver runs the tasks */
        String backendLabel(SparkSession spark) {
            if (variant != Variant.NATIVE_ARROW) {
                return Backend.CPU.label();
            }
            return Jobs.describe(options.backend(), spark);
        }
    }

    /** A variant's output, and for native-arrow its counters (else null). */
    private record Built(Dataset<Row> output, PartitionCounter rows, PartitionCounter invalidRows) {
    }

    private static Built build(Variant v, Dataset<Row> data, IntegrateTransform.Options options) {
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
     * The SQL extension's {@code integrate_f} on the same rows: over the cached table ({@code sql-cached}) and, where
     * the executors share the driver's filesystem (local mode), over a Parquet copy ({@code sql-parquet}). Both read
     * their input as columnar batches, in bulk. On a session without the extension {@code integrate_f} is the row UDF,
     * and the rows say so.
     */
    private static List<VariantResult> sqlVariants(SparkSession spark, Dataset<Row> data, long count, long sumN, int warmup,
                                                   int repeats) {
        boolean batched = org.sparknative.spark.sql.SparkNativeSql.hasExtension(spark);
        String how = batched ? "SQL integrate_f (extension), columnar input in bulk" : "SQL integrate_f without the extension (row UDF)";
        List<VariantResult> out = new ArrayList<>();
        data.createOrReplaceTempView("integrate_cached");
        out.add(sqlVariant(spark, "sql-cached", how + ", cached table", "integrate_cached", count, sumN, warmup, repeats));
        if (Sessions.isLocal(spark.sparkContext().master())) {
            Path dir = null;
            try {
                dir = java.nio.file.Files.createTempDirectory("spark-native-integrate-");
                String parquet = dir.resolve("rows.parquet").toUri().toString();
                data.write().parquet(parquet);
                spark.read().parquet(parquet).createOrReplaceTempView("integrate_parquet");
                out.add(sqlVariant(spark, "sql-parquet", how + ", Parquet file", "integrate_parquet", count, sumN, warmup,
                    repeats));
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

    private static VariantResult sqlVariant(SparkSession spark, String name, String description, String view, long count,
                                            long sumN, int warmup, int repeats) {
        String query = "SELECT *, integrate_f(a, b, n) AS x FROM ";
        for (int i = 0; i < warmup; i++) {
            noop(spark.sql(query + "integrate_warmup"));
        }
        Dataset<Row> q = spark.sql(query + view);
        double secs = Double.POSITIVE_INFINITY;
        for (int i = 0; i < repeats; i++) {
            long t0 = System.nanoTime();
            noop(q);
            secs = Math.min(secs, (System.nanoTime() - t0) / 1e9);
        }
        Row err = q.agg(max(callUDF("integrate_f_relerr", col("x"), col("a"), col("b"), col("n").cast(DataTypes.LongType)))).first();
        return new VariantResult(name, description, Backend.CPU.label(), count, secs, count / secs, sumN / secs, Double.NaN,
            err.isNullAt(0) ? Double.NaN : err.getDouble(0), 0);
    }

    /** Computes every row and discards it: Spark's no-op sink, the standard way to time a query. */
    private static void noop(Dataset<Row> df) {
        df.write().format("noop").mode("overwrite").save();
    }

    private static List<VariantResult> withSpeedups(List<VariantResult> rs) {
        double base = rs.stream().filter(r -> r.variant().equals(Variant.JAVA_ROW.label))
            .mapToDouble(VariantResult::wallSeconds).findFirst().orElse(Double.NaN);
        List<VariantResult> out = new ArrayList<>();
        for (VariantResult r : rs) {
            out.add(new VariantResult(r.variant(), r.description(), r.backend(), r.rows(), r.wallSeconds(), r.rowsPerSecond(),
                r.evaluationsPerSecond(), base / r.wallSeconds(), r.maxRelativeError(), r.invalidRows()));
        }
        return out;
    }

    /**
     * The kernels alone on the driver, on the same rows, through the Spark-free harness
     * ({@link IntegrateBenchmark}): the C kernel split over {@code threads} threads (the cores Spark's tasks
     * use), the ceiling the Spark variants are measured against, and, where CUDA is usable here, the CUDA
     * kernel with its copies. Best of 3 runs. Invalid rows are left out.
     */
    private static List<VariantResult> kernelOnly(Dataset<Row> data, int threads, long count, boolean cuda) {
        if (count > 50_000_000L) {
            return List.of();
        }
        List<Row> rowsIn = data.select(col("a"), col("b"), col("n").cast(DataTypes.LongType).as("n")).na().drop()
            .filter("n >= 1 AND n <= 2147483647 AND a = a AND b = b AND abs(a) < double('inf') AND abs(b) < double('inf')").collectAsList();
        List<VariantResult> out = new ArrayList<>();
        try (BufferAllocator alloc = ExecutorRuntime.newTaskAllocator("integrate kernel-only")) {
            IntegrateBenchmark.RowSource source = (id, ab) -> {
                Row row = rowsIn.get((int) id);
                ab[0] = row.getDouble(0);
                ab[1] = row.getDouble(1);
                return (int) row.getLong(2);
            };
            List<IntegrateBenchmark.Row> measured = new ArrayList<>();
            try (IntegrateBenchmark.Input in = IntegrateBenchmark.input(rowsIn.size(), IntegrateBenchmark.CPU_BATCH_ROWS,
                source, alloc)) {
                measured.add(IntegrateBenchmark.cpu(in, threads, 3, alloc));
            }
            if (cuda) {
                try (IntegrateBenchmark.Input in = IntegrateBenchmark.input(rowsIn.size(), IntegrateBenchmark.CUDA_BATCH_ROWS,
                    source, alloc)) {
                    measured.add(IntegrateBenchmark.cuda(in, Cuda.device(0), 3, alloc));
                }
            }
            for (IntegrateBenchmark.Row m : measured) {
                out.add(new VariantResult("kernel-only", m.backend().equals("cpu")
                    ? "the C kernel alone on the driver, " + threads + " threads, no Spark"
                    : "the CUDA kernel alone on the driver with its copies, no Spark", m.backend(), m.rows(), m.seconds(),
                    m.rowsPerSecond(), m.evaluationsPerSecond(), Double.NaN, Double.NaN, 0));
            }
        }
        return out;
    }

    private static void print(List<VariantResult> results, List<VariantResult> kernels) {
        VariantResult kernel = kernels.isEmpty() ? null : kernels.get(0);
        List<List<String>> rows = new ArrayList<>();
        for (VariantResult r : results) {
            rows.add(List.of(r.variant(), r.backend(), String.format(Locale.ROOT, "%,d", r.rows()), Report.fixed(r.wallSeconds(), 3),
                Report.si(r.rowsPerSecond()), Report.si(r.evaluationsPerSecond()),
                Double.isNaN(r.speedupOverJavaRow()) ? "-" : Report.fixed(r.speedupOverJavaRow(), 1) + "x",
                Report.sci(r.maxRelativeError()), String.valueOf(r.invalidRows())));
        }
        for (VariantResult k : kernels) {
            rows.add(List.of(k.variant(), k.backend(), String.format(Locale.ROOT, "%,d", k.rows()),
                Report.fixed(k.wallSeconds(), 3), Report.si(k.rowsPerSecond()),
                Report.si(k.evaluationsPerSecond()), "-", "-", "-"));
        }
        System.out.println();
        Report.table(System.out, List.of("variant", "backend", "rows", "wall s", "rows/s", "evals/s", "vs java-row", "max rel err",
            "invalid"), rows);
        if (kernel != null) {
            for (VariantResult r : results) {
                if (r.backend().equals("cpu") && (r.variant().equals(Variant.NATIVE_ARROW.label) || r.variant().startsWith("sql-"))) {
                    System.out.printf(Locale.ROOT, "%s reaches %.0f%% of the kernel-only evaluations/s%s%n", r.variant(),
                        100.0 * r.evaluationsPerSecond() / kernel.evaluationsPerSecond(),
                        Double.isNaN(r.speedupOverJavaRow()) ? "" : String.format(Locale.ROOT, " (%.1fx java-row)", r.speedupOverJavaRow()));
                }
            }
        }
    }

    /** Runs a parse of an option value, turning its IllegalArgumentException into bad usage (exit 2). */
    static <T> T usage(java.util.function.Supplier<T> parse) {
        try {
            return parse.get();
        } catch (UsageException e) {
            throw e;
        } catch (IllegalArgumentException e) {
            throw new UsageException(e.getMessage());
        }
    }
}

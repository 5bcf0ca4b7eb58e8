package org.sparknative.job;

import static org.apache.spark.sql.functions.col;
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
import org.apache.spark.sql.types.DataTypes;
import org.sparknative.spark.ExecutorActivity;
import org.sparknative.spark.RowIds;
import org.sparknative.spark.integrate.IntegrateFunctions;
import org.sparknative.spark.integrate.IntegrateTransform;
import org.sparknative.kernels.cuda.Cuda;
import org.sparknative.udf.Backend;
import org.sparknative.udf.BadRowPolicy;
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
        IntegrateBench.Variant single = compare ? null : IntegrateBench.Variant.parse(variant);
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

            List<VariantResult> results;
            List<VariantResult> kernels = List.of();
            if (compare) {
                // The same measurement as bench's integration section.
                IntegrateBench.Measured measured = IntegrateBench.measure(spark, data, count, sumN,
                    new IntegrateBench.Settings(batchSize, policy, requested, warmup, repeats), activity);
                results = withSpeedups(best(measured.variants()));
                kernels = best(IntegrateBench.kernelOnly(data, spark.sparkContext().defaultParallelism(), count, sumN,
                    Math.max(3, repeats), Sessions.isLocal(spark.sparkContext().master()) && Cuda.availability().usable()));
                if (output != null) {
                    DataIO.write(measured.lastOutput().drop(RowIds.INPUT_ROW), output, outFormat, overwrite);
                    guard.committed();
                }
            } else {
                results = List.of(runOne(spark, single, data, count, sumN, new IntegrateTransform.Options(batchSize, policy,
                    requested), outFormat, guard, activity));
            }
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

    /** Runs one variant: writes {@code --output} (timed) if given, else times {@code --repeats} runs and keeps the best. */
    private VariantResult runOne(SparkSession spark, IntegrateBench.Variant v, Dataset<Row> data, long count, long sumN,
                                 IntegrateTransform.Options options, DataIO.Format outFormat, OutputGuard guard,
                                 ExecutorActivity activity) {
        if (warmup > 0) {
            Dataset<Row> warm = data.limit(IntegrateBench.WARMUP_ROWS).cache();
            for (int i = 0; i < warmup; i++) {
                IntegrateBench.noop(IntegrateBench.build(v, warm, options).output());
            }
            warm.unpersist();
        }
        IntegrateBench.Built built = IntegrateBench.build(v, data, options);
        if (built.rows() != null) {
            activity.track(ExecutorActivity.Count.ROWS, built.rows());
        }
        double secs = Double.POSITIVE_INFINITY;
        if (output != null) {
            long t0 = System.nanoTime();
            DataIO.write(built.output().drop(RowIds.INPUT_ROW), output, outFormat, overwrite);
            guard.committed();
            secs = (System.nanoTime() - t0) / 1e9;
        } else {
            for (double s : IntegrateBench.timed(built.output(), repeats)) {
                secs = Math.min(secs, s);
            }
        }
        long invalid = built.invalidRows() == null ? 0 : built.invalidRows().total();
        Double maxErr = IntegrateBench.maxRelativeError(built.output());
        String backendLabel = v == IntegrateBench.Variant.NATIVE_ARROW ? Jobs.describe(options.backend(), spark)
            : Backend.CPU.label();
        return new VariantResult(v.label, v.description, backendLabel, count, secs, count / secs, sumN / secs, Double.NaN,
            maxErr == null ? Double.NaN : maxErr, invalid);
    }

    /** The summary's view of measured variants: the best (shortest) repeat of each, as this command reports. */
    private static List<VariantResult> best(List<org.sparknative.job.report.BenchReport.IntegrateVariant> variants) {
        List<VariantResult> out = new ArrayList<>();
        for (var v : variants) {
            double secs = v.seconds().stream().mapToDouble(Double::doubleValue).min().orElse(Double.NaN);
            long rowCount = Math.round(v.rowsPerSecond().max() * secs);
            out.add(new VariantResult(v.variant(), v.description(), v.backend(), rowCount, secs, v.rowsPerSecond().max(),
                v.evaluationsPerSecond().max(), Double.NaN, v.maxRelativeError() == null ? Double.NaN : v.maxRelativeError(),
                v.invalidRows()));
        }
        return out;
    }

    private static List<VariantResult> withSpeedups(List<VariantResult> rs) {
        double base = rs.stream().filter(r -> r.variant().equals(IntegrateBench.Variant.JAVA_ROW.label))
            .mapToDouble(VariantResult::wallSeconds).findFirst().orElse(Double.NaN);
        List<VariantResult> out = new ArrayList<>();
        for (VariantResult r : rs) {
            out.add(new VariantResult(r.variant(), r.description(), r.backend(), r.rows(), r.wallSeconds(), r.rowsPerSecond(),
                r.evaluationsPerSecond(), base / r.wallSeconds(), r.maxRelativeError(), r.invalidRows()));
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
                if (r.backend().equals("cpu") && (r.variant().equals(IntegrateBench.Variant.NATIVE_ARROW.label) || r.variant().startsWith("sql-"))) {
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

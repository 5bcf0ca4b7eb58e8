package org.sparknative.job;

import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.sum;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.sparknative.job.report.BenchReport;
import org.sparknative.job.report.Comparison;
import org.sparknative.job.report.ReportBuilder;
import org.sparknative.kernels.cuda.Cuda;
import org.sparknative.kernels.llama.LlamaConfig;
import org.sparknative.kernels.llama.ModelFile;
import org.sparknative.spark.ModelFiles;
import org.sparknative.spark.integrate.IntegrateTransform;
import org.sparknative.udf.Backend;
import org.sparknative.udf.BadRowPolicy;
import org.sparknative.udf.generate.GenerationParams;
import org.sparknative.udf.generate.SyntheticModels;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/**
 * {@code spark-native bench}: the benchmark matrix on any master, written as a report ({@code --report DIR}:
 * {@code report.html}, {@code report.md}, {@code report.json}; see {@link ReportBuilder}).
 * <ul>
 *   <li><b>integrate</b>: every variant ({@link IntegrateBench}) over generated rows at each {@code --rows} size;</li>
 *   <li><b>generate</b>: each model x backend x slot count ({@link GenerateBench}) over a prompt file or generated
 *       prompts;</li>
 *   <li><b>scaling</b> ({@code --scale 1,2}): native-arrow at the largest size and the first generation
 *       configuration again, in a new Spark application per resource count: {@code local[N]} in local mode,
 *       {@code spark.cores.max=N} on a standalone master, {@code spark.executor.instances=N} on YARN and
 *       Kubernetes.</li>
 * </ul>
 * {@code integrate --compare} measures through the same {@link IntegrateBench}.
 */
@Command(name = "bench", mixinStandardHelpOptions = true, sortOptions = false,
    description = {"The benchmark matrix (integration variants, generation backends x slots x models, scaling) on any "
        + "master, with a self-contained HTML report, Markdown and JSON (--report DIR)."})
class BenchCommand implements Callable<Integer> {
    /** The pandas reference points for 20,000 rows on a 2-core machine, measured outside the run. */
    static final List<BenchReport.Reference> PANDAS = List.of(
        new BenchReport.Reference("pandas apply, pure Python", 20_000, 66.0, "pandas 'Enhancing performance' guide, "
            + "measured on a 2-core machine outside this run"),
        new BenchReport.Reference("pandas apply, Cython", 20_000, 0.40, "pandas 'Enhancing performance' guide, "
            + "measured on a 2-core machine outside this run"),
        new BenchReport.Reference("Numba, parallel", 20_000, 0.076, "pandas 'Enhancing performance' guide, "
            + "measured on a 2-core machine outside this run"));

    /** stories260K's shape: the generation model when none is given and data/models has no stories260K.bin. */
    static final String DEFAULT_SYNTHETIC = "dim=64,hidden=172,layers=5,heads=8,kv_heads=4,vocab=512,seq=512";

    @Spec
    CommandSpec commandSpec;

    @Mixin
    SparkOptions sparkOptions = new SparkOptions();

    @Option(names = "--workloads", split = ",", description = "integrate, generate or both (default: both; "
        + "bench-generate: generate).")
    List<String> workloads;

    @Option(names = "--summary", description = "Also write report.json to this file.")
    Path summary;

    @Option(names = "--report", description = "Write report.html, report.md and report.json to this directory.")
    Path report;

    @Option(names = "--baseline", description = "An older run's report.json: the report adds the change of every "
        + "figure and flags those that moved more than their spread.")
    Path baseline;

    @Option(names = "--warmup", defaultValue = "1", description = "Untimed runs per figure (default: ${DEFAULT-VALUE}).")
    int warmup;

    @Option(names = "--repeats", defaultValue = "3", description = "Timed runs per figure; the report shows their "
        + "min / median / max (default: ${DEFAULT-VALUE}).")
    int repeats;

    @Option(names = "--rows", split = ",", defaultValue = "20000,1000000",
        description = "integrate: generated rows, one size or several (default: ${DEFAULT-VALUE}).")
    long[] rows;

    @Option(names = "--seed", defaultValue = "42", description = "Seed of the generated rows and of generation (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--batch-size", defaultValue = "" + IntegrateTransform.DEFAULT_BATCH_SIZE,
        description = "integrate: rows per Arrow record batch (default: ${DEFAULT-VALUE}).")
    int batchSize;

    @Option(names = "--partitions", description = "Partitions of the rows and of the prompts (default: Spark's default parallelism).")
    Integer partitions;

    @Option(names = "--model", description = "generate: a GGUF file or a llama2.c checkpoint (repeatable). "
        + "Default: data/models/stories260K.bin with tok512.bin where present, else a synthetic model of its shape.")
    List<String> models = new ArrayList<>();

    @Option(names = "--tokenizer", description = "generate: the tokenizer of each --model, in the same order ('-' for a "
        + "GGUF model's own); may be left out when every --model is a GGUF file.")
    List<String> tokenizers = new ArrayList<>();

    @Option(names = "--synthetic-model", description = "generate: a synthetic model shape (repeatable), e.g. "
        + "dim=288,hidden=768,layers=6,heads=6,kv_heads=6,vocab=32000,seq=256.")
    List<String> synthetic = new ArrayList<>();

    @Option(names = "--backends", split = ",", description = "generate: cpu, java and/or cuda (default: cpu, and cuda "
        + "where a device is usable in local mode).")
    List<String> backends;

    @Option(names = {"--slots", "--batch"}, split = ",", defaultValue = "1,8,32", description = "generate: KV cache slots per task "
        + "(default: ${DEFAULT-VALUE}).")
    int[] slots;

    @Option(names = "--threads", defaultValue = "0", description = "generate: threads per task for the cpu backend; "
        + "0 = spark.task.cpus (default: ${DEFAULT-VALUE}).")
    int threads;

    @Option(names = "--prompts", description = "generate: a JSONL, Parquet or CSV file with a 'prompt' column (default: "
        + "--prompt-count generated story openings).")
    String prompts;

    @Option(names = "--prompt-count", defaultValue = "64", description = "generate: generated prompts, or the first N "
        + "of --prompts (default: ${DEFAULT-VALUE}).")
    int promptCount;

    @Option(names = {"--max-new-tokens", "--tokens"}, defaultValue = "64",
        description = "generate: tokens per row; --tokens is bench-generate's name (default: ${DEFAULT-VALUE}).")
    int maxNewTokens;

    @Option(names = "--temperature", defaultValue = "0", description = "generate: 0 is greedy, the same work every "
        + "repeat (default: ${DEFAULT-VALUE}).")
    float temperature;

    @Option(names = "--scale", split = ",", description = "Scaling: the same work again with each number of cores "
        + "(local mode, standalone) or executors (YARN, Kubernetes), e.g. 1,2.")
    int[] scale;

    @Override
    public Integer call() throws Exception {
        long startedMillis = System.currentTimeMillis();
        if (workloads == null) {
            workloads = defaultWorkloads();
        }
        boolean doIntegrate = workloads.contains("integrate");
        boolean doGenerate = workloads.contains("generate");
        for (String w : workloads) {
            if (!w.equals("integrate") && !w.equals("generate")) {
                throw new UsageException("--workloads must name integrate and/or generate, got '" + w + "'");
            }
        }
        if (repeats < 1 || warmup < 0) {
            throw new UsageException("--repeats must be >= 1 and --warmup >= 0, got " + repeats + " and " + warmup);
        }
        if (partitions != null && partitions < 1) {
            throw new UsageException("--partitions must be >= 1, got " + partitions);
        }
        if (batchSize < 1) {
            throw new UsageException("--batch-size must be >= 1, got " + batchSize);
        }
        for (long r : rows) {
            if (r < 1) {
                throw new UsageException("--rows must be >= 1, got " + r);
            }
        }
        for (int s : slots) {
            if (s < 1) {
                throw new UsageException("--slots must be >= 1, got " + s);
            }
        }
        if (promptCount < 1) {
            throw new UsageException("--prompt-count must be >= 1, got " + promptCount);
        }
        if (scale != null) {
            for (int n : scale) {
                if (n < 1) {
                    throw new UsageException("--scale counts must be >= 1, got " + n);
                }
            }
        }
        GenerationParams defaults = IntegrateJob.usage(() -> new GenerationParams(maxNewTokens, temperature, 0.9f, seed));
        List<GenerateBench.Model> genModels = doGenerate ? models() : List.of();
        if (baseline != null && !Files.isRegularFile(baseline)) {
            throw new UsageException("--baseline " + baseline + ": no such file");
        }
        BenchReport.Baseline old = baseline == null ? null
            : Comparison.baselineOf(ReportBuilder.read(baseline), baseline.toString());
        if (report != null) {
            checkReportDir(report);
        }
        if (summary != null) {
            Report.checkWritable(summary);
        }

        BenchReport.Integrate integrate = null;
        BenchReport.Generate generate = null;
        BenchReport.Environment environment;
        List<Backend> genBackends;
        try (Sessions.Handle session = Sessions.open("spark-native bench", sparkOptions)) {
            SparkSession spark = session.spark();
            if (scale != null && !session.owned()) {
                throw new UsageException("--scale starts a Spark application per resource count, but a SparkSession "
                    + "is already running in this JVM; run bench through bin/spark-native or spark-submit");
            }
            int parts = partitions != null ? partitions : spark.sparkContext().defaultParallelism();
            genBackends = doGenerate ? generateBackends(spark) : List.of();
            if (doIntegrate) {
                integrate = integrate(spark, parts);
            }
            if (doGenerate) {
                generate = generate(spark, parts, genModels, genBackends, defaults);
            }
            Map<String, String> settings = new LinkedHashMap<>();
            settings.put("partitions", String.valueOf(parts));
            settings.put("integrate record batch rows", String.valueOf(batchSize));
            settings.put("generate slots", Arrays.toString(slots));
            settings.put("generate threads per task", threads == 0 ? "spark.task.cpus ("
                + spark.conf().get("spark.task.cpus", "1") + ")" : String.valueOf(threads));
            settings.put("generate max new tokens", String.valueOf(maxNewTokens));
            settings.put("warmup", String.valueOf(warmup));
            settings.put("repeats", String.valueOf(repeats));
            settings.put("spark.executor.memory", spark.conf().get("spark.executor.memory", "1g"));
            settings.put("spark.task.cpus", spark.conf().get("spark.task.cpus", "1"));
            environment = BenchEnvironment.collect(spark, settings);
        }
        BenchReport.Scaling scaling = scale == null ? null : scaling(integrate, generate, genModels, genBackends, defaults);
        BenchReport result = new BenchReport(BenchReport.SCHEMA_VERSION, Instant.now().toString(), startedMillis,
            "spark-native " + String.join(" ", commandSpec.commandLine().getParseResult().originalArgs()),
            environment, integrate, generate, scaling, old);
        if (summary != null) {
            Report.writeJson(result, summary);
            System.out.println("report.json written to " + summary);
        }
        if (report != null) {
            ReportBuilder.write(result, report);
            System.out.println("report written to " + report.resolve("report.html") + ", report.md and report.json");
        } else {
            System.out.print(ReportBuilder.markdown(result));
        }
        return 0;
    }

    /** @return the threads per task of {@code backend}: --threads, else spark.task.cpus for cpu; 1 for the others */
    private int taskThreads(SparkSession spark, Backend backend) {
        if (backend != Backend.CPU) {
            return 1;
        }
        return threads > 0 ? threads : Integer.parseInt(spark.conf().get("spark.task.cpus", "1").trim());
    }

    /** @return the workloads run when {@code --workloads} is not given */
    List<String> defaultWorkloads() {
        return List.of("integrate", "generate");
    }

    private BenchReport.Integrate integrate(SparkSession spark, int parts) {
        BadRowPolicy policy = BadRowPolicy.INVALID_ROWS.parse("fail");
        List<BenchReport.IntegrateSize> sizes = new ArrayList<>();
        for (long n : rows) {
            Dataset<Row> data = IntegrateTransform.prepareInput(IntegrateData.generate(spark, n, seed, parts)).cache();
            Row stats = data.agg(org.apache.spark.sql.functions.count("*"), sum(col("n").cast(DataTypes.LongType))).first();
            long count = stats.getLong(0);
            long sumN = stats.getLong(1);
            System.out.printf(Locale.ROOT, "bench integrate: %,d rows, %,d evaluations of f, %d partitions%n", count, sumN,
                parts);
            List<BenchReport.IntegrateVariant> variants = new ArrayList<>(IntegrateBench.measure(spark, data, count, sumN,
                new IntegrateBench.Settings(batchSize, policy, Backend.CPU, warmup, repeats), null).variants());
            variants.addAll(IntegrateBench.kernelOnly(data, spark.sparkContext().defaultParallelism(), count, sumN, repeats,
                Sessions.isLocal(spark.sparkContext().master()) && Cuda.availability().usable()));
            sizes.add(new BenchReport.IntegrateSize(count, sumN, IntegrateBench.withRatios(variants)));
            data.unpersist();
        }
        return new BenchReport.Integrate(seed, parts, batchSize, warmup, repeats, sizes, PANDAS);
    }

    private BenchReport.Generate generate(SparkSession spark, int parts, List<GenerateBench.Model> genModels,
                                          List<Backend> genBackends, GenerationParams defaults) {
        Dataset<Row> in = promptInput(spark, parts).cache();
        long count = in.count();
        List<BenchReport.GenerateRun> runs = new ArrayList<>();
        for (GenerateBench.Model m : genModels) {
            for (Backend b : genBackends) {
                for (int s : slots) {
                    System.out.printf(Locale.ROOT, "bench generate: %s, %s, %d slots, %,d prompts%n", m.name(), b.label(),
                        s, count);
                    runs.add(GenerateBench.measure(spark, m, b, s, taskThreads(spark, b), in, defaults, warmup, repeats));
                }
            }
        }
        in.unpersist();
        return new BenchReport.Generate(count, prompts == null ? "generated" : prompts, maxNewTokens, temperature, parts,
            warmup, repeats, runs);
    }

    private Dataset<Row> promptInput(SparkSession spark, int parts) {
        if (prompts == null) {
            return GenerateBench.generatedPrompts(spark, promptCount, parts);
        }
        Dataset<Row> df = DataIO.read(spark, prompts, DataIO.Format.ofPath(prompts));
        if (!Arrays.asList(df.columns()).contains("prompt")) {
            throw new UsageException("--prompts " + prompts + " has no 'prompt' column; it has " + Arrays.toString(df.columns()));
        }
        return df.limit(promptCount).repartition(parts);
    }

    /**
     * Scaling: native-arrow over the largest size and the first generation configuration (first model and backend,
     * the most slots), each in a new Spark application per resource count.
     */
    private BenchReport.Scaling scaling(BenchReport.Integrate integrate, BenchReport.Generate generate,
                                        List<GenerateBench.Model> genModels, List<Backend> genBackends,
                                        GenerationParams defaults) throws InterruptedException {
        String master = sparkOptions.master != null ? sparkOptions.master : "local[*]";
        String unit = Sessions.isLocal(master) || master.startsWith("spark://") ? "cores" : "executors";
        List<BenchReport.ScalePoint> points = new ArrayList<>();
        long largest = Arrays.stream(rows).max().orElse(0);
        int maxSlots = Arrays.stream(slots).max().orElse(1);
        for (int n : scale) {
            SparkOptions o = new SparkOptions();
            o.conf = new LinkedHashMap<>(sparkOptions.conf);
            o.files = sparkOptions.files;
            o.master = sparkOptions.master;
            if (Sessions.isLocal(master)) {
                o.master = "local[" + n + "]";
            } else if (master.startsWith("spark://")) {
                o.conf.put("spark.cores.max", String.valueOf(n));
            } else {
                o.conf.put("spark.executor.instances", String.valueOf(n));
                o.conf.put("spark.dynamicAllocation.enabled", "false");
            }
            System.out.printf(Locale.ROOT, "bench scaling: %d %s%n", n, unit);
            try (Sessions.Handle session = Sessions.open("spark-native bench (scaling " + n + " " + unit + ")", o)) {
                SparkSession spark = session.spark();
                waitForExecutors(spark, n, unit);
                int parts = partitions != null ? partitions : Math.max(2, 2 * n);
                if (integrate != null) {
                    Dataset<Row> data = IntegrateTransform.prepareInput(IntegrateData.generate(spark, largest, seed, parts))
                        .cache();
                    data.count();
                    IntegrateTransform.Options options = new IntegrateTransform.Options(batchSize,
                        BadRowPolicy.INVALID_ROWS.parse("fail"), Backend.CPU);
                    Dataset<Row> out = IntegrateTransform.apply(data, options).output();
                    for (int w = 0; w < warmup; w++) {
                        IntegrateBench.noop(out);
                    }
                    org.sparknative.spark.ExecutorActivity a = org.sparknative.spark.ExecutorActivity.start(spark.sparkContext());
                    double[] secs = IntegrateBench.timed(out, repeats);
                    int executors = a.finish().size();
                    double[] rate = new double[secs.length];
                    for (int i = 0; i < secs.length; i++) {
                        rate[i] = largest / secs[i];
                    }
                    points.add(new BenchReport.ScalePoint(String.format(Locale.ROOT, "integrate native-arrow, %,d rows",
                        largest), n, executors, "rows/s", BenchReport.Spread.of(rate), 0, 0));
                    data.unpersist();
                }
                if (generate != null && !genModels.isEmpty() && !genBackends.isEmpty()) {
                    GenerateBench.Model m = genModels.get(0);
                    Backend b = genBackends.get(0);
                    Dataset<Row> in = promptInput(spark, parts).cache();
                    in.count();
                    BenchReport.GenerateRun run = GenerateBench.measure(spark, m, b, maxSlots, taskThreads(spark, b), in,
                        defaults, warmup, repeats);
                    in.unpersist();
                    points.add(new BenchReport.ScalePoint(String.format(Locale.ROOT, "generate %s %s, %d slots", m.name(),
                        b.label(), maxSlots), n, run.activity().executors().size(), "tokens/s", run.tokensPerSecond(), 0, 0));
                }
            }
        }
        return new BenchReport.Scaling(unit, withEfficiency(points));
    }

    /** Adds each point's speedup and efficiency against the smallest resource count of its workload. */
    static List<BenchReport.ScalePoint> withEfficiency(List<BenchReport.ScalePoint> points) {
        List<BenchReport.ScalePoint> out = new ArrayList<>();
        for (BenchReport.ScalePoint p : points) {
            BenchReport.ScalePoint base = points.stream().filter(q -> q.workload().equals(p.workload()))
                .min(java.util.Comparator.comparingInt(BenchReport.ScalePoint::resources)).orElse(p);
            double speedup = p.rate().median() / base.rate().median();
            double linear = (double) p.resources() / base.resources();
            out.add(new BenchReport.ScalePoint(p.workload(), p.resources(), p.executors(), p.rateUnit(), p.rate(), speedup,
                speedup / linear));
        }
        return out;
    }

    /** Waits (up to 60 s) until the application has the executors or cores it asked for, so each point is measured whole. */
    private static void waitForExecutors(SparkSession spark, int n, String unit) throws InterruptedException {
        if (Sessions.isLocal(spark.sparkContext().master())) {
            return;
        }
        long deadline = System.nanoTime() + 60_000_000_000L;
        while (System.nanoTime() < deadline) {
            int executors = 0;
            int cores = 0;
            for (var e : scala.jdk.javaapi.CollectionConverters.asJava(spark.sparkContext().statusStore().executorList(true))) {
                if (!e.id().equals("driver")) {
                    executors++;
                    cores += e.totalCores();
                }
            }
            if ((unit.equals("cores") ? cores : executors) >= n) {
                return;
            }
            Thread.sleep(200);
        }
        System.out.printf(Locale.ROOT, "bench scaling: warning: the application did not get %d %s in 60 s; measuring "
            + "with what it has%n", n, unit);
    }

    private List<Backend> generateBackends(SparkSession spark) {
        List<Backend> out = new ArrayList<>();
        if (backends == null) {
            out.add(Backend.CPU);
            if (Sessions.isLocal(spark.sparkContext().master()) && Cuda.availability().usable()) {
                out.add(Backend.CUDA);
            }
            return out;
        }
        for (String b : backends) {
            Backend k = IntegrateJob.usage(() -> Backend.parse(b));
            if (k == Backend.AUTO) {
                throw new UsageException("--backends takes cpu, java or cuda, not auto");
            }
            out.add(Jobs.backend(k.label(), spark, "cpu, java or cuda"));
        }
        return out;
    }

    /** The models to measure: --model/--tokenizer pairs, then --synthetic-model shapes, else the default. */
    private List<GenerateBench.Model> models() {
        if (!tokenizers.isEmpty() && models.size() != tokenizers.size()) {
            throw new UsageException("give one --tokenizer per --model ('-' for a GGUF model's own), or none when every"
                + " --model is a GGUF file");
        }
        List<GenerateBench.Model> out = new ArrayList<>();
        for (int i = 0; i < models.size(); i++) {
            String tok = tokenizers.isEmpty() || "-".equals(tokenizers.get(i)) ? null : tokenizers.get(i);
            out.add(model(models.get(i), tok));
        }
        List<String> shapes = new ArrayList<>(synthetic);
        if (out.isEmpty() && shapes.isEmpty()) {
            Path home = defaultModels();
            if (home != null) {
                out.add(model(home.resolve("stories260K.bin").toString(), home.resolve("tok512.bin").toString()));
            } else {
                shapes.add(DEFAULT_SYNTHETIC);
            }
        }
        for (String s : shapes) {
            LlamaConfig shape = IntegrateJob.usage(() -> LlamaConfig.parse(s));
            Path dir = SyntheticModels.defaultDir();
            out.add(new GenerateBench.Model(org.sparknative.udf.bench.GenerateBenchmark.label(shape),
                SyntheticModels.checkpoint(dir, shape, 1).toString(),
                SyntheticModels.byteLevelTokenizer(dir, shape.vocabSize()).toString(), shape.toString()));
        }
        return out;
    }

    /**
     * @return the folder with stories260K.bin and tok512.bin: data/models under the working directory, else under
     *         the checkout the job jar was built in; null if neither has them
     */
    private static Path defaultModels() {
        List<Path> candidates = new ArrayList<>(List.of(Path.of("data/models")));
        String jar = Sessions.jobJar();
        if (jar != null && Path.of(jar).toAbsolutePath().getParent() != null) {
            Path home = Path.of(jar).toAbsolutePath().getParent().getParent();
            if (home != null && home.getParent() != null) {
                candidates.add(home.getParent().resolve("data/models"));
            }
        }
        for (Path p : candidates) {
            if (Files.isRegularFile(p.resolve("stories260K.bin")) && Files.isRegularFile(p.resolve("tok512.bin"))) {
                return p;
            }
        }
        return null;
    }

    private static GenerateBench.Model model(String checkpoint, String tokenizer) {
        String name = checkpoint.substring(checkpoint.lastIndexOf('/') + 1);
        try {
            // The header alone, checked against the file's length (a local path or a Hadoop filesystem URI), and the
            // tokenizer (a GGUF model's own where none is given).
            ModelFile.Info info = ModelFiles.model(checkpoint, tokenizer, new org.apache.hadoop.conf.Configuration(), 0)
                .info();
            return new GenerateBench.Model(name, checkpoint, tokenizer, info.gguf()
                ? info.config() + " (" + info.format() + ", " + info.tensorTypes() + ")" : info.config().toString());
        } catch (RuntimeException e) {
            throw new UsageException("--model " + checkpoint + ": " + e.getMessage());
        }
    }

    private static void checkReportDir(Path dir) {
        try {
            Files.createDirectories(dir);
            Path probe = Files.createTempFile(dir, ".spark-native-", ".probe");
            Files.delete(probe);
        } catch (java.io.IOException e) {
            throw new UsageException("--report " + dir + " cannot be written: " + e.getMessage());
        }
    }
}

package org.sparknative.udf.bench;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.vector.IntVector;
import org.apache.arrow.vector.VarCharVector;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.sparknative.kernels.cuda.Cuda;
import org.sparknative.kernels.cuda.CudaDevice;
import org.sparknative.kernels.cuda.CudaLlamaModel;
import org.sparknative.kernels.cuda.MatmulMode;
import org.sparknative.kernels.llama.Checkpoint;
import org.sparknative.kernels.llama.LlamaConfig;
import org.sparknative.kernels.llama.NativeLlamaModel;
import org.sparknative.kernels.llama.NativeTokenizer;
import org.sparknative.kernels.llama.Tokenizer;
import org.sparknative.udf.Backend;
import org.sparknative.udf.BadRowPolicy;
import org.sparknative.udf.ExecutorRuntime;
import org.sparknative.udf.RowLabels;
import org.sparknative.udf.TaskResources;
import org.sparknative.udf.generate.ContinuousBatcher;
import org.sparknative.udf.generate.CudaBackend;
import org.sparknative.udf.generate.DecodeBackend;
import org.sparknative.udf.generate.GenerateUdf;
import org.sparknative.udf.generate.GenerationParams;
import org.sparknative.udf.generate.GenerationScheduler;
import org.sparknative.udf.generate.JavaTokenCodec;
import org.sparknative.udf.generate.NativeBackend;
import org.sparknative.udf.generate.NativeTokenCodec;
import org.sparknative.udf.generate.ReferenceBackend;
import org.sparknative.udf.generate.SharedDecodeLoop;
import org.sparknative.udf.generate.SyntheticModels;
import org.sparknative.udf.generate.TokenCodec;

/**
 * Generation throughput through the same UDF classes the Spark job uses ({@link GenerateUdf} over a
 * {@link GenerationScheduler}), without Spark: runs where only a JRE (and, for CUDA, the driver) is
 * installed. Each measured configuration generates sequences of {@code tokens} new tokens from short
 * prompts (greedy, so every sequence runs to its budget unless it samples BOS/EOS) and reports completion
 * tokens per second, summed over its submitters. One untimed warm-up precedes each timed run.
 *
 * <p>Configurations:
 * <ul>
 *   <li>{@code cpu}: {@code submitters} concurrent "tasks", each with its own native batcher of
 *       {@code slots} slots on {@code threads} threads, each generating {@code slots * rounds} sequences
 *       (what an executor with {@code submitters} task slots does);</li>
 *   <li>{@code java}: the pure-Java reference, one task, one thread;</li>
 *   <li>{@code cuda}: one {@link SharedDecodeLoop} of {@code slots} slots on device 0, fed by
 *       {@code submitters} concurrent tasks that share {@code slots * rounds} sequences (what an executor's
 *       tasks on one GPU do). The slots actually allocated (the device may hold fewer) are reported.</li>
 * </ul>
 * The {@code x cpu} column divides each row's tokens/s by the best {@code cpu} row of the same model in the
 * same run.
 *
 * <p>Not thread-safe; a command-line tool ({@link #main}; {@code bin/device-bench.sh} runs it where there is no Spark).
 */
public final class GenerateBenchmark {
    private GenerateBenchmark() {
    }

    /**
     * One measured configuration.
     *
     * @param slots      KV cache slots per task ({@code cpu}, {@code java}) or of the device's loop ({@code cuda})
     * @param threads    threads per task (native backend; 1 otherwise)
     * @param submitters concurrent tasks
     * @param sequences  sequences generated in the timed run
     * @param tokens     completion tokens generated in the timed run
     */
    public record Row(String model, String backend, int slots, int threads, int submitters, long sequences, long tokens,
                      double seconds, double tokensPerSecond, double tokensPerSecondPerThread) {
    }

    /**
     * What to measure.
     *
     * @param cpuSlots      slot counts per task for the native backend (empty: none)
     * @param threads       thread counts per task for the native backend
     * @param cpuSubmitters concurrent tasks for the native backend
     * @param javaSlots     slot counts for the Java reference (1 task, 1 thread; empty: none)
     * @param cudaSlots     slot counts of the CUDA loop (empty: none)
     * @param cudaSubmitters concurrent tasks feeding the CUDA loop
     * @param matmul        the CUDA matmul mode
     * @param tokens        new tokens per sequence
     * @param rounds        sequences per slot
     */
    public record Plan(int[] cpuSlots, int[] threads, int[] cpuSubmitters, int[] javaSlots, int[] cudaSlots,
                       int[] cudaSubmitters, MatmulMode matmul, int tokens, int rounds) {
    }

    /**
     * Measures every configuration of {@code plan} on one model.
     *
     * @param checkpoint model file
     * @param tokenizer  tokenizer file
     * @param label      model name for the report
     * @throws org.sparknative.kernels.cuda.CudaUnavailableException if the plan has CUDA rows and CUDA cannot run here
     */
    public static List<Row> run(Path checkpoint, Path tokenizer, String label, Plan plan) {
        ExecutorRuntime.ensureNativeLoaded();
        Checkpoint ckpt = Checkpoint.open(checkpoint);
        int vocab = ckpt.config().vocabSize();
        List<Row> rows = new ArrayList<>();
        try (NativeLlamaModel model = NativeLlamaModel.map(ckpt);
             NativeTokenizer ntok = NativeTokenizer.load(tokenizer, vocab);
             BufferAllocator alloc = ExecutorRuntime.newTaskAllocator("generate benchmark")) {
            TokenCodec nativeCodec = new NativeTokenCodec(ntok);
            int prefill = 64;
            for (int subs : plan.cpuSubmitters()) {
                for (int t : plan.threads()) {
                    for (int b : plan.cpuSlots()) {
                        rows.add(measure(label, Backend.CPU.label(), b, t, subs, b * plan.rounds(), plan.tokens(), alloc,
                            res -> new ContinuousBatcher(res.add(new NativeBackend(model, b, b + prefill, t)), nativeCodec,
                                BadRowPolicy.TRUNCATE, prefill)));
                    }
                }
            }
            TokenCodec javaCodec = new JavaTokenCodec(Tokenizer.load(tokenizer, vocab));
            for (int b : plan.javaSlots()) {
                rows.add(measure(label, Backend.JAVA.label(), b, 1, 1, b * plan.rounds(), plan.tokens(), alloc,
                    res -> new ContinuousBatcher(res.add(new ReferenceBackend(ckpt, b, b + prefill)), javaCodec,
                        BadRowPolicy.TRUNCATE, prefill)));
            }
            if (plan.cudaSlots().length > 0) {
                CudaDevice device = Cuda.device(0);
                try (CudaLlamaModel weights = CudaLlamaModel.upload(device, model)) {
                    for (int b : plan.cudaSlots()) {
                        try (SharedDecodeLoop loop = new SharedDecodeLoop(device + " " + label,
                            CudaBackend.open(weights, b, prefill, plan.matmul(), device + " " + label), nativeCodec, prefill)) {
                            int slots = loop.stats().slots();
                            for (int subs : plan.cudaSubmitters()) {
                                int perSubmitter = Math.max(1, slots * plan.rounds() / subs);
                                rows.add(measure(label, "cuda " + plan.matmul().label(), slots, 1,
                                    subs, perSubmitter, plan.tokens(), alloc, res -> loop.client(BadRowPolicy.TRUNCATE)));
                            }
                        }
                    }
                }
            }
        }
        return rows;
    }

    private interface SchedulerFactory {
        GenerationScheduler open(TaskResources resources);
    }

    /** Runs {@code submitters} tasks of {@code perSubmitter} sequences each, after one untimed single-task warm-up. */
    private static Row measure(String label, String backend, int slots, int threads, int submitters, int perSubmitter,
                               int tokens, BufferAllocator alloc, SchedulerFactory factory) {
        runTasks(1, Math.min(perSubmitter, slots), tokens, alloc, factory, null); // warm-up
        double[] seconds = new double[1];
        long generated = runTasks(submitters, perSubmitter, tokens, alloc, factory, seconds);
        double tps = generated / seconds[0];
        return new Row(label, backend, slots, threads, submitters, (long) submitters * perSubmitter, generated, seconds[0],
            tps, tps / ((long) threads * (backend.startsWith("cuda") ? 1 : submitters)));
    }

    private static long runTasks(int submitters, int perSubmitter, int tokens, BufferAllocator alloc,
                                 SchedulerFactory factory, double[] seconds) {
        long[] start = new long[1];
        CyclicBarrier go = new CyclicBarrier(submitters, () -> start[0] = System.nanoTime());
        ExecutorService pool = Executors.newFixedThreadPool(submitters);
        try {
            List<Future<Long>> done = new ArrayList<>();
            for (int s = 0; s < submitters; s++) {
                int task = s;
                done.add(pool.submit(() -> {
                    try (TaskResources res = new TaskResources();
                         BufferAllocator child = alloc.newChildAllocator("task " + task, 0, Long.MAX_VALUE);
                         VarCharVector prompts = new VarCharVector("prompt", child)) {
                        prompts.allocateNew(perSubmitter);
                        for (int i = 0; i < perSubmitter; i++) {
                            prompts.setSafe(i, ("Once upon a time, story " + (task * perSubmitter + i))
                                .getBytes(StandardCharsets.UTF_8));
                        }
                        prompts.setValueCount(perSubmitter);
                        GenerationScheduler scheduler = factory.open(res);
                        go.await();
                        try (VectorSchemaRoot out = GenerateUdf.apply(prompts, GenerateUdf.Options.none(),
                            new GenerationParams(tokens, 0f, 1f, 1), scheduler, child, RowLabels.positions(0), null)) {
                            IntVector ct = (IntVector) out.getVector("completion_tokens");
                            long n = 0;
                            for (int i = 0; i < perSubmitter; i++) {
                                n += ct.get(i);
                            }
                            return n;
                        }
                    }
                }));
            }
            long total = 0;
            for (Future<Long> f : done) {
                total += f.get();
            }
            if (seconds != null) {
                seconds[0] = (System.nanoTime() - start[0]) / 1e9;
            }
            return total;
        } catch (java.util.concurrent.ExecutionException e) {
            Throwable c = e.getCause();
            throw c instanceof RuntimeException re ? re : new IllegalStateException(c);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        } finally {
            pool.shutdownNow();
        }
    }

    /**
     * Formats rows as a plain-text table: each row's speedup per thread over its 1-slot row of the same
     * backend, threads and submitters, and its tokens/s over the best {@code cpu} row of the same model.
     */
    public static String table(List<Row> rows) {
        StringBuilder sb = new StringBuilder(String.format(Locale.ROOT, "%-22s %-16s %5s %7s %5s %8s %9s %11s %18s %8s%n",
            "model", "backend", "slots", "threads", "tasks", "tokens", "seconds", "tokens/s", "x 1-slot / thread", "x cpu"));
        for (Row r : rows) {
            double base = rows.stream().filter(o -> o.model().equals(r.model()) && o.backend().equals(r.backend())
                && o.threads() == r.threads() && o.submitters() == r.submitters() && o.slots() == 1)
                .mapToDouble(Row::tokensPerSecondPerThread).findFirst().orElse(Double.NaN);
            double cpu = rows.stream().filter(o -> o.model().equals(r.model()) && o.backend().equals("cpu"))
                .mapToDouble(Row::tokensPerSecond).max().orElse(Double.NaN);
            sb.append(String.format(Locale.ROOT, "%-22s %-16s %5d %7d %5d %8d %9.2f %11.1f %18s %8s%n", r.model(),
                r.backend(), r.slots(), r.threads(), r.submitters(), r.tokens(), r.seconds(), r.tokensPerSecond(),
                Double.isNaN(base) ? "-" : String.format(Locale.ROOT, "%.2fx", r.tokensPerSecondPerThread() / base),
                Double.isNaN(cpu) ? "-" : String.format(Locale.ROOT, "%.1fx", r.tokensPerSecond() / cpu)));
        }
        return sb.toString();
    }

    /** The two model shapes of the GPU goals: stories15M and stories110M (llama2.c's). */
    public static final String STORIES_15M = "dim=288,hidden=768,layers=6,heads=6,kv_heads=6,vocab=32000,seq=256";
    /** See {@link #STORIES_15M}. */
    public static final String STORIES_110M = "dim=768,hidden=2048,layers=12,heads=12,kv_heads=12,vocab=32000,seq=1024";

    /**
     * The Spark-free harness for a machine with a JRE and CUDA only (the GPU node):
     * {@code java -cp <classpath> org.sparknative.udf.bench.GenerateBenchmark [key=value ...]}, keys (defaults):
     * {@code shapes} ({@link #STORIES_15M}{@code ;}{@link #STORIES_110M}, synthetic weights),
     * {@code cuda-slots} (1,8,64,256,1024), {@code cuda-submitters} (1,8), {@code cpu-slots} (32),
     * {@code cpu-submitters} (the cores), {@code threads} (1), {@code tokens} (64), {@code rounds} (1),
     * {@code matmul} (invariant). Without a usable device the CUDA rows are left out, and the reason printed.
     */
    public static void main(String[] args) {
        Map<String, String> a = keyValues(args);
        System.out.println("CUDA: " + Cuda.availability().reason());
        int[] cudaSlots = Cuda.availability().usable() ? ints(a.getOrDefault("cuda-slots", "1,8,64,256,1024")) : new int[0];
        Plan plan = new Plan(ints(a.getOrDefault("cpu-slots", "32")), ints(a.getOrDefault("threads", "1")),
            ints(a.getOrDefault("cpu-submitters", "" + Runtime.getRuntime().availableProcessors())), new int[0], cudaSlots,
            ints(a.getOrDefault("cuda-submitters", "1,8")),
            MatmulMode.parse(a.getOrDefault("matmul", "invariant").toLowerCase(Locale.ROOT)),
            Integer.parseInt(a.getOrDefault("tokens", "64")), Integer.parseInt(a.getOrDefault("rounds", "1")));
        List<Row> rows = new ArrayList<>();
        Path dir = SyntheticModels.defaultDir();
        for (String s : a.getOrDefault("shapes", STORIES_15M + ";" + STORIES_110M).split(";")) {
            LlamaConfig shape = LlamaConfig.parse(s);
            rows.addAll(run(SyntheticModels.checkpoint(dir, shape, 1), SyntheticModels.byteLevelTokenizer(dir,
                shape.vocabSize()), label(shape), plan));
            System.out.print(table(rows));
        }
    }

    /** @return the report's name for a synthetic model of {@code shape} */
    public static String label(LlamaConfig shape) {
        return "synthetic d" + shape.dim() + " L" + shape.nLayers() + " v" + shape.vocabSize();
    }

    private static int[] ints(String list) {
        return list.isBlank() ? new int[0] : Arrays.stream(list.split(",")).map(String::trim).mapToInt(Integer::parseInt).toArray();
    }

    /**
     * The benchmark harnesses' command line: {@code key=value} arguments.
     *
     * @throws IllegalArgumentException naming an argument without {@code =}
     */
    static Map<String, String> keyValues(String[] args) {
        Map<String, String> a = new HashMap<>();
        for (String arg : args) {
            int eq = arg.indexOf('=');
            if (eq < 0) {
                throw new IllegalArgumentException("arguments are key=value, got '" + arg + "'");
            }
            a.put(arg.substring(0, eq), arg.substring(eq + 1));
        }
        return a;
    }
}

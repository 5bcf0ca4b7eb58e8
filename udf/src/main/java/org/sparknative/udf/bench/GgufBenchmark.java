package org.sparknative.udf.bench;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.IntStream;
import org.sparknative.kernels.NativeLibrary;
import org.sparknative.kernels.gguf.GgmlType;
import org.sparknative.kernels.gguf.GgufConverter;
import org.sparknative.kernels.gguf.GgufException;
import org.sparknative.kernels.gguf.GgufFile;
import org.sparknative.kernels.llama.GgufLlama;
import org.sparknative.kernels.llama.LlamaKernels;
import org.sparknative.kernels.llama.LlamaConfig;
import org.sparknative.kernels.llama.NativeLlamaModel;
import org.sparknative.kernels.llama.Tensor;
import org.sparknative.udf.generate.NativeBackend;
import org.sparknative.udf.generate.SyntheticModels;

/**
 * Decode throughput of our C kernels on GGUF files of each tensor type, beside llama.cpp's
 * {@code llama-batched-bench} on the very same files in the same run, without Spark.
 *
 * <p>The models: one synthetic GGUF per type (default the stories110M shape, {@link GenerateBenchmark#STORIES_110M}),
 * converted by {@link GgufConverter#fromLlama2c} from the seeded llama2.c checkpoint of {@link SyntheticModels}
 * (weights uniform with standard deviation 0.02, RMSNorm weights near 1, so activations stay finite) and its
 * byte-level tokenizer ({@link org.sparknative.kernels.llama.TokenizerWriter}: {@code <unk>}, BOS, EOS, the 256
 * {@code <0xNN>} byte tokens and merges, which llama.cpp loads as a SentencePiece vocabulary). Files are written
 * once per directory and reused while they still open with the shape and type asked for.
 *
 * <p>What "ours" measures, per type and slot count {@code B}, through {@link NativeBackend} (the {@code cpu} backend
 * the UDF runs) on {@code threads} threads: every slot is prefilled with {@code prompt} random tokens (one step,
 * untimed), then {@code steps} decode steps are timed, each feeding one token per slot with logits for every row and
 * a greedy (argmax) sample per row; tokens/s = {@code B * steps / seconds}. One untimed warm-up run precedes the
 * repeats; the report gives the median and the range over {@code repeats}. What llama.cpp measures: its S_TG (the
 * same pattern, {@code npl} sequences of {@code npp} prompt tokens, then {@code ntg} steps of one token per sequence,
 * logits for every row, no sampling), parsed from {@code --output-format jsonl}; one warm-up invocation, then one
 * invocation per repeat, each interleaved with one repeat of ours, so that background load hits both alike.
 * Both KV caches are F16 (ours by default for GGUF models, {@link org.sparknative.kernels.llama.KvCacheType}); llama.cpp
 * picks flash attention itself ({@code -fa auto}).
 *
 * <p>The table also says what bounds each figure: the bytes one decode step reads (every weight once, however many
 * slots, plus each slot's KV cache so far; the token embedding is one row per slot and not counted), the memory
 * bandwidth that implies at the measured rate, the matmul FLOP/s (2 per weight per token, plus attention), and a
 * read-bandwidth probe of this machine, so a 1-slot figure near the probe is memory-bound and a 32-slot figure is
 * compute-bound. No timing is asserted anywhere: this is a report.
 *
 * <p>Needs only native-kernels, udf and JavaCPP on the classpath (no Arrow, no Spark). Not thread-safe; a command-line
 * tool ({@link #main}, {@code bin/gguf-bench.sh}).
 */
public final class GgufBenchmark {
    private GgufBenchmark() {
    }

    /**
     * What to measure.
     *
     * @param shape    the model shape (its {@code seq} is only the trained context written into the files)
     * @param types    the tensor types, one file each
     * @param slots    the slot (sequence) counts
     * @param threads  threads for ours and for llama.cpp ({@code -t}, {@code -tb})
     * @param prompt   prompt tokens per slot ({@code -npp})
     * @param steps    timed decode steps ({@code -ntg})
     * @param repeats  timed runs per configuration (after one warm-up)
     * @param seed     weight seed
     */
    public record Plan(LlamaConfig shape, List<GgmlType> types, int[] slots, int threads, int prompt, int steps,
                       int repeats, long seed) {
        /** Checks the sizes. */
        public Plan {
            types = List.copyOf(types);
            slots = slots.clone();
            if (types.isEmpty() || slots.length == 0 || threads < 1 || prompt < 1 || steps < 1 || repeats < 1) {
                throw new IllegalArgumentException("types and slots must be non-empty, threads, prompt, steps and repeats >= 1");
            }
            for (int b : slots) {
                if (b < 1) {
                    throw new IllegalArgumentException("slots must be >= 1, got " + b);
                }
            }
        }

        /** @return the context both engines get per sequence: prompt plus decode steps */
        public int context() {
            return prompt + steps;
        }

        /** @return the largest slot count */
        public int maxSlots() {
            return Arrays.stream(slots).max().orElseThrow();
        }
    }

    /**
     * One model file and what a decode step of it reads and computes.
     *
     * @param type         the type of its matrices (norms, and rows that are not whole blocks, stay F32)
     * @param file         the GGUF file
     * @param fileBytes    its size
     * @param weightBytes  bytes of every matrix a decode step multiplies (per-layer matrices and the classifier)
     * @param matmulParams elements of those matrices (2 FLOPs each per token)
     * @param kvBytesPerPosition F16 KV cache bytes per cached position of one sequence, all layers, keys and values
     * @param config       the shape read back from the file
     */
    public record Model(GgmlType type, Path file, long fileBytes, long weightBytes, long matmulParams,
                        long kvBytesPerPosition, LlamaConfig config) {
        /**
         * @param slots sequences decoded together
         * @param plan  for the average cached length during the timed steps ({@code prompt + steps / 2})
         * @return bytes one decode step reads: the weights once, and every slot's F16 KV cache
         */
        public double bytesPerStep(int slots, Plan plan) {
            return weightBytes + (double) slots * kvBytesPerPosition * averageContext(plan);
        }

        /** @return FLOPs per generated token: the matmuls and attention (scores and weighted sum) */
        public double flopsPerToken(Plan plan) {
            return 2.0 * matmulParams + 4.0 * config.nLayers() * (double) config.dim() * averageContext(plan);
        }

        private static double averageContext(Plan plan) {
            return plan.prompt() + plan.steps() / 2.0;
        }
    }

    /**
     * Timed runs of one engine at one slot count.
     *
     * @param tokensPerSecond one figure per repeat (empty: not measured)
     */
    public record Runs(double[] tokensPerSecond) {
        /** Copies the array. */
        public Runs {
            tokensPerSecond = tokensPerSecond.clone();
        }

        /** @return whether there is any figure */
        public boolean present() {
            return tokensPerSecond.length > 0;
        }

        /** @return the median (the mean of the middle two for an even count); NaN if empty */
        public double median() {
            if (!present()) {
                return Double.NaN;
            }
            double[] s = tokensPerSecond.clone();
            Arrays.sort(s);
            int n = s.length;
            return n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
        }

        /** @return the smallest figure; NaN if empty */
        public double min() {
            return Arrays.stream(tokensPerSecond).min().orElse(Double.NaN);
        }

        /** @return the largest figure; NaN if empty */
        public double max() {
            return Arrays.stream(tokensPerSecond).max().orElse(Double.NaN);
        }
    }

    /**
     * One line of the report.
     *
     * @param model  the file
     * @param slots  sequences decoded together
     * @param ours   our figures
     * @param llama  llama.cpp's figures (empty without {@code llama-batched-bench})
     */
    public record Row(Model model, int slots, Runs ours, Runs llama) {
    }

    // ---- the models ------------------------------------------------------------------------------------------

    /**
     * The synthetic model of {@code type}: written into {@code dir} unless a file there already opens with this
     * shape and type (the llama2.c checkpoint and tokenizer it is converted from are kept there too, for the next
     * type).
     *
     * @return the file, described
     */
    public static Model model(Path dir, LlamaConfig shape, GgmlType type, long seed) {
        Path file = dir.resolve("synthetic-" + shape.toString().replaceAll("[^a-z0-9]+", "_") + "_seed" + seed + "-"
            + type.ggmlName() + ".gguf");
        if (Files.isRegularFile(file)) {
            try {
                Model m = describe(file);
                if (m.type() == type && m.config().equals(shape)) {
                    return m;
                }
            } catch (IllegalArgumentException e) { // GgufException among them
                // not what we want: written again below
            }
        }
        Path ckpt = SyntheticModels.checkpoint(dir, shape, seed);
        Path tok = SyntheticModels.byteLevelTokenizer(dir, shape.vocabSize());
        GgufConverter.fromLlama2c(ckpt, tok, type, file);
        return describe(file);
    }

    /**
     * Reads back what a decode step of a {@code llama} GGUF file reads and computes.
     *
     * @throws GgufException if it is not a model {@link GgufLlama} accepts
     */
    public static Model describe(Path file) {
        GgufLlama g = GgufLlama.of(GgufFile.open(file));
        LlamaConfig c = g.config();
        long bytes = 0;
        long params = 0;
        for (int l = 0; l < c.nLayers(); l++) {
            for (Tensor t : new Tensor[] {Tensor.WQ, Tensor.WK, Tensor.WV, Tensor.WO, Tensor.W1, Tensor.W2, Tensor.W3}) {
                GgufLlama.TensorRef r = g.tensor(t, l);
                bytes += r.byteSize();
                params += (long) r.rows() * r.cols();
            }
        }
        GgufLlama.TensorRef cls = g.tensor(Tensor.WCLS, 0);
        bytes += cls.byteSize();
        params += (long) cls.rows() * cls.cols();
        // The cache type NativeBackend gives a GGUF model by default (KvCacheType.AUTO: F16, as llama.cpp's).
        long kv = 2L * org.sparknative.kernels.llama.KvCacheType.AUTO.resolve(true).bytes() * c.nLayers() * c.kvDim();
        return new Model(g.tensor(Tensor.WQ, 0).type(), file, g.file().fileBytes(), bytes, params, kv, c);
    }

    // ---- ours ------------------------------------------------------------------------------------------------

    /** One slot count's backend over a mapped model, reused for the warm-up and every repeat. */
    static final class OurRunner implements AutoCloseable {
        private final NativeBackend backend;
        private final int slots;
        private final Plan plan;
        private final SplittableRandom rnd;

        OurRunner(NativeLlamaModel model, int slots, Plan plan) {
            this.backend = new NativeBackend(model, slots, slots * plan.prompt(), plan.threads());
            this.slots = slots;
            this.plan = plan;
            this.rnd = new SplittableRandom(plan.seed() * 31 + slots);
        }

        /**
         * Prefills every slot with {@code prompt} random tokens, then times {@code steps} decode steps.
         *
         * @return tokens per second of the decode steps
         */
        double run() {
            int vocab = backend.config().vocabSize();
            int p = plan.prompt();
            int rows = slots * p;
            int[] tokens = new int[rows];
            int[] positions = new int[rows];
            int[] slotOf = new int[rows];
            int[] logitRows = new int[slots];
            for (int s = 0; s < slots; s++) {
                for (int i = 0; i < p; i++) {
                    int r = s * p + i;
                    tokens[r] = i == 0 ? 1 : 3 + rnd.nextInt(vocab - 3); // BOS, then anything but the specials
                    positions[r] = i;
                    slotOf[r] = s;
                }
                logitRows[s] = s * p + p - 1;
            }
            long[] rng = {1};
            backend.forward(rows, tokens, positions, slotOf, slots, logitRows);
            int[] next = new int[slots];
            int[] pos = new int[slots];
            int[] ids = new int[slots];
            for (int s = 0; s < slots; s++) {
                next[s] = backend.sample(s, 0f, 1f, rng);
                ids[s] = s;
                logitRows[s] = s;
            }
            long t0 = System.nanoTime();
            for (int step = 0; step < plan.steps(); step++) {
                Arrays.fill(pos, p + step);
                backend.forward(slots, next, pos, ids, slots, logitRows);
                for (int s = 0; s < slots; s++) {
                    next[s] = backend.sample(s, 0f, 1f, rng);
                }
            }
            double seconds = (System.nanoTime() - t0) / 1e9;
            return (double) slots * plan.steps() / seconds;
        }

        @Override
        public void close() {
            backend.close();
        }
    }

    // ---- llama.cpp ---------------------------------------------------------------------------------------------

    /**
     * The {@code llama-batched-bench} command for {@code file}: the plan's prompt, steps, slot counts and threads, a
     * context of {@code maxSlots * (prompt + steps)} (its sequences do not share the prompt), JSON lines out.
     *
     * @param extra further arguments (e.g. {@code -fa on}, {@code -ctk f32 -ctv f32}), appended
     */
    public static List<String> llamaCommand(Path exe, Path file, Plan plan, int[] slots, int steps, List<String> extra) {
        List<String> cmd = new ArrayList<>(List.of(exe.toString(), "-m", file.toString(),
            "-c", Integer.toString(Arrays.stream(slots).max().orElseThrow() * (plan.prompt() + steps)),
            "-b", "2048", "-ub", "512", "-npp", Integer.toString(plan.prompt()), "-ntg", Integer.toString(steps),
            "-npl", String.join(",", Arrays.stream(slots).mapToObj(Integer::toString).toList()),
            "-t", Integer.toString(plan.threads()), "-tb", Integer.toString(plan.threads()),
            "--output-format", "jsonl"));
        cmd.addAll(extra);
        return cmd;
    }

    private static final Pattern JSON_INT = Pattern.compile("\"(pl|pp|tg)\"\\s*:\\s*(-?\\d+)");
    private static final Pattern JSON_SPEED_TG = Pattern.compile("\"speed_tg\"\\s*:\\s*([-+0-9.eE]+|nan|inf)");

    /**
     * Parses {@code llama-batched-bench --output-format jsonl} output (other log lines are skipped).
     *
     * @return S_TG (generated tokens per second over the decode steps) by {@code pl}, the sequence count, in the
     *         order printed; the first line of a {@code pl} counts
     */
    public static Map<Integer, Double> parseBatchedBench(String output) {
        Map<Integer, Double> out = new LinkedHashMap<>();
        for (String line : output.split("\\R")) {
            String l = line.trim();
            if (!l.startsWith("{") || !l.contains("\"speed_tg\"")) {
                continue;
            }
            Integer pl = null;
            Matcher m = JSON_INT.matcher(l);
            while (m.find()) {
                if (m.group(1).equals("pl")) {
                    pl = Integer.parseInt(m.group(2));
                }
            }
            Matcher s = JSON_SPEED_TG.matcher(l);
            if (pl != null && s.find()) {
                out.putIfAbsent(pl, Double.parseDouble(s.group(1).replace("nan", "NaN").replace("inf", "Infinity")));
            }
        }
        return out;
    }

    /**
     * Runs {@code llama-batched-bench} for {@code slots}, largest first, its output appended to {@code log}. Its logger
     * is asynchronous and deliberately never shut down (llama.cpp's {@code common_log_main}), so the lines logged just
     * before the process exits are often lost. So the smallest slot count is run once more at the end, a sentinel whose
     * line may be lost and is ignored (the first line per slot count counts), and a slot count still without a result is
     * run again, up to three times in all.
     *
     * @return S_TG by slot count
     * @throws IllegalStateException if it fails, times out, or never prints a result for a slot count asked for
     */
    static Map<Integer, Double> runLlama(Path exe, Path file, Plan plan, int[] slots, int steps, List<String> extra,
                                         Path log) {
        Map<Integer, Double> tg = new HashMap<>();
        int[] todo = Arrays.stream(slots).boxed().sorted((x, y) -> y - x).mapToInt(Integer::intValue).toArray();
        List<String> cmd = null;
        for (int attempt = 0; attempt < 3 && todo.length > 0; attempt++) {
            int[] withSentinel = Arrays.copyOf(todo, todo.length + 1);
            withSentinel[todo.length] = todo[todo.length - 1];
            cmd = llamaCommand(exe, file, plan, withSentinel, steps, extra);
            parseBatchedBench(runProcess(cmd, log)).forEach(tg::putIfAbsent);
            todo = Arrays.stream(todo).filter(b -> !tg.containsKey(b)).toArray();
        }
        if (todo.length > 0) {
            throw new IllegalStateException("llama-batched-bench printed no result for " + Arrays.toString(todo)
                + " sequences (see " + log + "): " + String.join(" ", cmd));
        }
        return tg;
    }

    /** Runs a command to its end (600 s at most), its output appended to {@code log}; returns the output. */
    private static String runProcess(List<String> cmd, Path log) {
        try {
            Process proc = new ProcessBuilder(cmd).redirectErrorStream(true).start();
            StringBuilder out = new StringBuilder();
            Thread reader = new Thread(() -> {
                try (BufferedReader r = new BufferedReader(new InputStreamReader(proc.getInputStream(),
                    StandardCharsets.UTF_8))) {
                    String line;
                    while ((line = r.readLine()) != null) {
                        synchronized (out) {
                            out.append(line).append('\n');
                        }
                    }
                } catch (IOException e) {
                    // the process was killed: what was read is kept
                }
            }, "llama-batched-bench output");
            reader.start();
            boolean done = proc.waitFor(600, TimeUnit.SECONDS);
            if (!done) {
                proc.destroyForcibly();
            }
            reader.join();
            String text;
            synchronized (out) {
                text = out.toString();
            }
            Files.writeString(log, "$ " + String.join(" ", cmd) + "\n" + text + (done ? "exit " + proc.exitValue()
                : "killed after 600 s") + "\n\n", StandardCharsets.UTF_8, java.nio.file.StandardOpenOption.CREATE,
                java.nio.file.StandardOpenOption.APPEND);
            if (!done || proc.exitValue() != 0) {
                throw new IllegalStateException("llama-batched-bench " + (done ? "exited " + proc.exitValue()
                    : "did not finish in 600 s") + " (see " + log + "): " + String.join(" ", cmd));
            }
            return text;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot run " + cmd.get(0) + ": " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
    }

    // ---- the run -----------------------------------------------------------------------------------------------

    /**
     * Measures one type: the file written (or reused), then {@code repeats} rounds of ours at every slot count and
     * one {@code llama-batched-bench} invocation for all of them, after a warm-up of each.
     *
     * @param llama the {@code llama-batched-bench} executable, or null for ours alone
     * @param log   where llama.cpp's output is appended (ignored without {@code llama})
     */
    public static List<Row> run(Path dir, GgmlType type, Plan plan, Path llama, List<String> llamaArgs, Path log) {
        NativeLibrary.ensureLoaded();
        Model m = model(dir, plan.shape(), type, plan.seed());
        int[] slots = plan.slots();
        double[][] ours = new double[slots.length][plan.repeats()];
        double[][] theirs = new double[slots.length][llama == null ? 0 : plan.repeats()];
        try (NativeLlamaModel model = NativeLlamaModel.mapGguf(m.file(), plan.context())) {
            List<OurRunner> runners = new ArrayList<>();
            try {
                for (int b : slots) {
                    OurRunner r = new OurRunner(model, b, plan);
                    runners.add(r);
                    r.run(); // warm-up: pages in the weights, starts the thread pool
                }
                if (llama != null) {
                    runLlama(llama, m.file(), plan, new int[] {slots[0]}, Math.min(plan.steps(), 16), llamaArgs,
                        log); // warm-up
                }
                for (int rep = 0; rep < plan.repeats(); rep++) {
                    for (int i = 0; i < slots.length; i++) {
                        ours[i][rep] = runners.get(i).run();
                    }
                    if (llama != null) {
                        Map<Integer, Double> tg = runLlama(llama, m.file(), plan, slots, plan.steps(), llamaArgs, log);
                        for (int i = 0; i < slots.length; i++) {
                            theirs[i][rep] = tg.get(slots[i]);
                        }
                    }
                }
            } finally {
                for (OurRunner r : runners) {
                    r.close();
                }
            }
        }
        List<Row> rows = new ArrayList<>();
        for (int i = 0; i < slots.length; i++) {
            rows.add(new Row(m, slots[i], new Runs(ours[i]), new Runs(theirs[i])));
        }
        return rows;
    }

    /**
     * A rough read bandwidth of this machine: {@code threads} threads each reading their own 256 MiB array (well past
     * any cache) one long per cache line, so the loop is bound by moving the lines and not by adding, best of three
     * passes, in bytes per second. The 1-slot roofline is this over the weight bytes.
     */
    public static double probeReadBandwidth(int threads) {
        int n = 32 << 20; // longs: 256 MiB
        long[][] arrays = new long[threads][];
        for (int t = 0; t < threads; t++) {
            arrays[t] = new long[n];
            Arrays.fill(arrays[t], t + 1);
        }
        double best = 0;
        long[] sink = new long[threads];
        for (int pass = 0; pass < 3; pass++) {
            Thread[] ts = new Thread[threads];
            for (int t = 0; t < threads; t++) {
                long[] a = arrays[t];
                int id = t;
                ts[t] = new Thread(() -> {
                    // one long per 64-byte line: the memory system still moves every line, the core barely works
                    long s0 = 0, s1 = 0, s2 = 0, s3 = 0;
                    for (int i = 0; i < a.length; i += 32) {
                        s0 += a[i];
                        s1 += a[i + 8];
                        s2 += a[i + 16];
                        s3 += a[i + 24];
                    }
                    sink[id] += s0 + s1 + s2 + s3;
                });
            }
            long t0 = System.nanoTime();
            for (Thread t : ts) {
                t.start();
            }
            for (Thread t : ts) {
                try {
                    t.join();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return best;
                }
            }
            double seconds = (System.nanoTime() - t0) / 1e9;
            best = Math.max(best, 8.0 * n * threads / seconds);
        }
        return sink[0] == 42 ? best + 1e-9 : best; // keeps the sums alive
    }

    // ---- the report --------------------------------------------------------------------------------------------

    private static final double MIB = 1 << 20;

    /**
     * The Markdown table: per type and slot count, the file size, the bytes a decode step reads (weights + our F16
     * KV cache at the average cached length), our and llama.cpp's tokens/s (median and range), their ratio, and the
     * bandwidth and FLOP/s our median implies.
     */
    public static String table(List<Row> rows, Plan plan) {
        StringBuilder sb = new StringBuilder();
        sb.append("| type | file MiB | slots | MiB read / step (weights + KV) | ours tok/s median (min-max) "
            + "| llama.cpp tok/s median (min-max) | ours / llama.cpp | ours GB/s | ours GFLOP/s |\n");
        sb.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        for (Row r : rows) {
            Model m = r.model();
            double ours = r.ours().median();
            double steps = ours / r.slots();
            double weights = m.weightBytes() / MIB;
            double kv = (m.bytesPerStep(r.slots(), plan) - m.weightBytes()) / MIB;
            sb.append(String.format(Locale.ROOT, "| %s | %.0f | %d | %.0f + %.0f | %s | %s | %s | %.1f | %.1f |%n",
                m.type().ggmlName().toUpperCase(Locale.ROOT), m.fileBytes() / MIB, r.slots(), weights, kv,
                figure(r.ours()), figure(r.llama()),
                r.llama().present() ? String.format(Locale.ROOT, "%.2fx", ours / r.llama().median()) : "-",
                m.bytesPerStep(r.slots(), plan) * steps / 1e9, m.flopsPerToken(plan) * ours / 1e9));
        }
        return sb.toString();
    }

    /**
     * The goals of the issue, checked on the medians: Q8_0 at 1 slot at least twice F32 at 1 slot, and every type at
     * least as fast as llama.cpp at every slot count.
     */
    public static String goals(List<Row> rows) {
        StringBuilder sb = new StringBuilder();
        Row f32 = find(rows, GgmlType.F32, 1);
        Row q8 = find(rows, GgmlType.Q8_0, 1);
        if (f32 != null && q8 != null) {
            sb.append(String.format(Locale.ROOT, "- Q8_0 / F32 at 1 slot: ours %.2fx (goal >= 2x)%s%n",
                q8.ours().median() / f32.ours().median(), f32.llama().present() ? String.format(Locale.ROOT,
                    "; llama.cpp %.2fx", q8.llama().median() / f32.llama().median()) : ""));
        }
        long compared = rows.stream().filter(r -> r.llama().present()).count();
        if (compared > 0) {
            List<String> behind = new ArrayList<>();
            for (Row r : rows) {
                if (r.llama().present() && r.ours().median() < r.llama().median()) {
                    behind.add(String.format(Locale.ROOT, "%s@%d (%.2fx)", r.model().type().ggmlName().toUpperCase(Locale.ROOT),
                        r.slots(), r.ours().median() / r.llama().median()));
                }
            }
            sb.append(String.format(Locale.ROOT, "- ours >= llama.cpp in %d of %d cells%s%n", compared - behind.size(),
                compared, behind.isEmpty() ? "" : "; behind: " + String.join(", ", behind)));
        }
        return sb.toString();
    }

    private static Row find(List<Row> rows, GgmlType type, int slots) {
        return rows.stream().filter(r -> r.model().type() == type && r.slots() == slots).findFirst().orElse(null);
    }

    private static String figure(Runs r) {
        if (!r.present()) {
            return "-";
        }
        return r.tokensPerSecond().length == 1 ? String.format(Locale.ROOT, "%.1f", r.median())
            : String.format(Locale.ROOT, "%.1f (%.1f-%.1f)", r.median(), r.min(), r.max());
    }

    /**
     * {@code java -cp <classpath> org.sparknative.udf.bench.GgufBenchmark [key=value ...]}, keys (defaults):
     * {@code shape} ({@link GenerateBenchmark#STORIES_110M}), {@code types} (f32,f16,q8_0,q4_0; bf16 too),
     * {@code slots} (1,8,32), {@code threads} (2), {@code prompt} (16), {@code steps} (64), {@code repeats} (3),
     * {@code seed} (1), {@code dir} (the models' folder, {@code ${java.io.tmpdir}/spark-native-gguf-bench}),
     * {@code llama} ({@code llama-batched-bench}'s path; default the environment's {@code LLAMA_BATCHED_BENCH}; none:
     * ours alone), {@code llama-args} (extra arguments for it, space-separated, e.g. {@code -fa on}),
     * {@code probe} (true: measure the read bandwidth first).
     */
    public static void main(String[] args) {
        Map<String, String> a = GenerateBenchmark.keyValues(args);
        List<GgmlType> types = new ArrayList<>();
        for (String t : a.getOrDefault("types", "f32,f16,q8_0,q4_0").split(",")) {
            types.add(GgufConverter.parseType(t));
        }
        Plan plan = new Plan(LlamaConfig.parse(a.getOrDefault("shape", GenerateBenchmark.STORIES_110M)), types,
            Arrays.stream(a.getOrDefault("slots", "1,8,32").split(",")).map(String::trim).mapToInt(Integer::parseInt)
                .toArray(), Integer.parseInt(a.getOrDefault("threads", "2")), Integer.parseInt(a.getOrDefault("prompt", "16")),
            Integer.parseInt(a.getOrDefault("steps", "64")), Integer.parseInt(a.getOrDefault("repeats", "3")),
            Long.parseLong(a.getOrDefault("seed", "1")));
        Path dir = Path.of(a.getOrDefault("dir", Path.of(System.getProperty("java.io.tmpdir"), "spark-native-gguf-bench")
            .toString()));
        String llamaPath = a.getOrDefault("llama", System.getenv().getOrDefault("LLAMA_BATCHED_BENCH", ""));
        Path llama = llamaPath.isBlank() ? null : Path.of(llamaPath);
        if (llama != null && !Files.isExecutable(llama)) {
            throw new IllegalArgumentException("llama-batched-bench not executable: " + llama);
        }
        List<String> llamaArgs = a.getOrDefault("llama-args", "").isBlank() ? List.of()
            : List.of(a.get("llama-args").trim().split("\\s+"));
        Path log = dir.resolve("llama-batched-bench.log");
        System.out.printf(Locale.ROOT, "shape %s, slots %s, %d threads, prompt %d, %d decode steps, %d repeats (+1 warm-up)%n",
            plan.shape(), Arrays.toString(plan.slots()), plan.threads(), plan.prompt(), plan.steps(), plan.repeats());
        System.out.println("CPU kernels: " + cpuPath() + "; llama.cpp: " + (llama == null ? "not run (set LLAMA_BATCHED_BENCH)"
            : String.join(" ", llamaCommand(llama, Path.of("FILE"), plan, IntStream.concat(Arrays.stream(plan.slots())
                .boxed().sorted((x, y) -> y - x).mapToInt(Integer::intValue), IntStream.of(Arrays.stream(plan.slots())
                .min().orElseThrow())).toArray(), plan.steps(), llamaArgs))
                + " (log: " + log + ")"));
        if (Boolean.parseBoolean(a.getOrDefault("probe", "true"))) {
            System.out.printf(Locale.ROOT, "read bandwidth probe (%d threads, 256 MiB each): %.1f GB/s%n", plan.threads(),
                probeReadBandwidth(plan.threads()) / 1e9);
        }
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create " + dir, e);
        }
        List<Row> rows = new ArrayList<>();
        long t0 = System.nanoTime();
        for (GgmlType t : plan.types()) {
            List<Row> mine = run(dir, t, plan, llama, llamaArgs, log);
            rows.addAll(mine);
            System.out.printf(Locale.ROOT, "%s done at %.0f s%n%s", t.ggmlName(), (System.nanoTime() - t0) / 1e9,
                table(mine, plan).lines().skip(2).map(l -> l + System.lineSeparator()).reduce("", String::concat));
        }
        System.out.println();
        System.out.print(table(rows, plan));
        System.out.println();
        System.out.print(goals(rows));
    }

    /** The code path our kernels take here (as {@code ExecutorRuntime.simdPath}, without needing Arrow). */
    private static String cpuPath() {
        NativeLibrary.ensureLoaded();
        return LlamaKernels.simdName(LlamaKernels.simdDefault());
    }
}

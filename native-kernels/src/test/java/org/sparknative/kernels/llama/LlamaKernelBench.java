package org.sparknative.kernels.llama;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.sparknative.kernels.NativeLibrary;
import org.sparknative.kernels.testing.TestModels;

/**
 * Batched decode throughput of the native kernels (a measurement, not a test). For each model, batch size
 * and thread count: {@code batch} sequences in as many slots, one row each per step, positions
 * {@code 0 .. positions-1}, logits for every row and a greedy sample; tokens/s counts every row after
 * position 0 (llama2.c's timer also starts after its first token).
 *
 * <pre>
 * java -cp CLASSPATH org.sparknative.kernels.llama.LlamaKernelBench [models-dir] [positions] [llama2c-binary] [reps]
 * </pre>
 *
 * Each configuration runs {@code reps} times (default 2) and the best is printed: the machines this is
 * meant for are shared, and the best run is the one least disturbed by neighbours.
 *
 * The stories15M-shaped model (dim 288, hidden 768, 6 layers, 6 heads, vocab 32000, seq 256) gets random
 * weights, written once to {@code /tmp/sn_bench_stories15M_shape.bin} in the legacy format so llama2.c
 * can run the same file. With a llama2.c binary given, it is run single-threaded on both models for the
 * batch-1 comparison.
 */
public final class LlamaKernelBench {
    private LlamaKernelBench() {
    }

    public static void main(String[] args) throws Exception {
        // the models directory given, or where the tests find them (TestModels: data/models, then ../shared/models)
        Path models = args.length > 0 ? Path.of(args[0])
            : TestModels.find(TestModels.STORIES_260K).map(Path::getParent).orElse(Path.of("../shared/models"));
        int positions = args.length > 1 ? Integer.parseInt(args[1]) : 256;
        Path llama2c = args.length > 2 && !args[2].isEmpty() ? Path.of(args[2]) : null;
        int reps = args.length > 3 ? Integer.parseInt(args[3]) : 2;
        NativeLibrary.ensureLoaded();
        System.out.println("SIMD path: " + LlamaKernels.simdName(LlamaKernels.simdDefault()) + ", cores: "
            + Runtime.getRuntime().availableProcessors());

        List<Path[]> runs = new ArrayList<>();
        Path small = models.resolve("stories260K.bin");
        if (Files.isRegularFile(small)) {
            runs.add(new Path[] {small, models.resolve("tok512.bin")});
        }
        Path big = Path.of("/tmp/sn_bench_stories15M_shape.bin");
        LlamaConfig shape = new LlamaConfig(288, 768, 6, 6, 6, 32000, 256, true);
        if (!Files.isRegularFile(big) || Files.size(big) != Checkpoint.expectedFileBytes(CheckpointFormat.LEGACY, shape)) {
            SyntheticCheckpoint.write(big, shape, 15, CheckpointFormat.LEGACY, 0.05f);
        }
        runs.add(new Path[] {big, models.resolve("tokenizer.bin")});

        System.out.println(String.format(Locale.ROOT, "%-34s %6s %8s %12s %14s", "model", "batch", "threads", "tokens/s",
            "tok/s/thread"));
        for (Path[] run : runs) {
            Checkpoint ckpt = Checkpoint.open(run[0]);
            int steps = Math.min(positions, ckpt.config().seqLen());
            try (NativeLlamaModel m = NativeLlamaModel.map(ckpt)) {
                for (int threads : new int[] {1, 2}) {
                    for (int batch : new int[] {1, 8, 32, 64}) {
                        double tps = 0;
                        for (int r = 0; r < reps; r++) {
                            tps = Math.max(tps, decode(m, batch, steps, threads));
                        }
                        System.out.println(String.format(Locale.ROOT, "%-34s %6d %8d %12.1f %14.1f",
                            run[0].getFileName(), batch, threads, tps, tps / threads));
                    }
                }
            }
            if (llama2c != null && Files.isRegularFile(run[1])) {
                double best = 0;
                for (int r = 0; r < reps; r++) {
                    best = Math.max(best, llama2cTokensPerSecond(llama2c, run[0], run[1], steps));
                }
                System.out.println(String.format(Locale.ROOT, "%-34s %6d %8d %12.1f %14s  (llama2.c -O3, -n %d -t 0)",
                    run[0].getFileName(), 1, 1, best, "", steps));
            }
        }
    }

    /** @return rows per second over positions 1 .. steps-1 of {@code batch} sequences decoded together */
    static double decode(NativeLlamaModel m, int batch, int steps, int threads) {
        try (NativeLlamaBatch b = m.newBatch(batch, batch)) {
            int[] tokens = new int[batch];
            int[] positions = new int[batch];
            int[] slots = new int[batch];
            int[] logitRows = new int[batch];
            for (int i = 0; i < batch; i++) {
                tokens[i] = 1;
                slots[i] = i;
                logitRows[i] = i;
            }
            long[] rng = new long[1];
            long start = 0;
            for (int p = 0; p < steps; p++) {
                if (p == 1) {
                    start = System.nanoTime();
                }
                java.util.Arrays.fill(positions, p);
                b.forward(batch, tokens, positions, slots, batch, logitRows, threads);
                for (int i = 0; i < batch; i++) {
                    tokens[i] = b.sample(i, 0f, 0.9f, rng);
                }
            }
            double secs = (System.nanoTime() - start) / 1e9;
            return (double) batch * (steps - 1) / secs;
        }
    }

    static double llama2cTokensPerSecond(Path binary, Path model, Path tokenizer, int steps) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(binary.toString(), model.toString(), "-z", tokenizer.toString(), "-n",
            Integer.toString(steps), "-t", "0").redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        p.waitFor();
        int i = out.lastIndexOf("achieved tok/s:");
        return i < 0 ? Double.NaN : Double.parseDouble(out.substring(i + "achieved tok/s:".length()).trim());
    }
}

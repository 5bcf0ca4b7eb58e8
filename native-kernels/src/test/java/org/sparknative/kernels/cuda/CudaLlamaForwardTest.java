package org.sparknative.kernels.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sparknative.kernels.llama.Checkpoint;
import org.sparknative.kernels.llama.CheckpointFormat;
import org.sparknative.kernels.llama.LlamaConfig;
import org.sparknative.kernels.llama.NativeLlamaBatch;
import org.sparknative.kernels.llama.NativeLlamaModel;
import org.sparknative.kernels.llama.NativeTokenizer;
import org.sparknative.kernels.llama.SyntheticCheckpoint;
import org.sparknative.kernels.llama.Tokenizer;
import org.sparknative.kernels.testing.TestModels;

/**
 * The Llama-2 forward pass on a GPU against the CPU batch ({@link NativeLlamaBatch}): logits on synthetic
 * checkpoints (grouped-query attention, an unshared classifier, awkward widths, a context past 256
 * positions, chunked prefill, several slots per step), llama2.c's greedy texts on stories260K, bitwise batch
 * invariance in {@link MatmulMode#INVARIANT}, a cuBLAS smoke test, and device memory accounting. Skipped
 * where CUDA is not usable (no GPU, no driver, a build without nvcc).
 */
@Tag("gpu")
class CudaLlamaForwardTest {
    /** Grouped-query attention: 8 query heads on 2 KV heads (head size 8); 2 k tiles of the matmul, 3 output blocks. */
    static final LlamaConfig GQA = new LlamaConfig(64, 176, 2, 8, 2, 300, 40, true);
    /** Head size 6, kv_dim 18, hidden 100, odd vocab, unshared classifier (NativeLlamaForwardTest.ODD). */
    static final LlamaConfig ODD = new LlamaConfig(36, 100, 2, 6, 3, 67, 40, false);
    /** A context of 600 positions: attention past the 256 lanes, a 300-row prefill step. */
    static final LlamaConfig LONG = new LlamaConfig(64, 96, 1, 4, 2, 97, 600, false);

    @TempDir
    Path tmp;

    CudaDevice device;

    @BeforeEach
    void needCuda() {
        assumeTrue(Cuda.availability().usable(), Cuda.availability().reason());
        device = Cuda.device(0);
    }

    private Path synthetic(String name, LlamaConfig c, long seed) {
        Path file = tmp.resolve(name);
        SyntheticCheckpoint.write(file, c, seed, CheckpointFormat.V1, 0.3f);
        return file;
    }

    /** One step: rows of {token, position, slot}; every row gets logits. */
    record Step(int[] tokens, int[] positions, int[] slots) {
        int rows() {
            return tokens.length;
        }

        int[] all() {
            int[] r = new int[rows()];
            for (int i = 0; i < r.length; i++) {
                r[i] = i;
            }
            return r;
        }
    }

    /**
     * Three sequences: slot 0 prefills 5 rows at once, slot 1 starts alone and then prefills 3 rows, slot 2
     * joins at the second step; then one row per slot per step, rows in shuffled order.
     */
    static List<Step> schedule(LlamaConfig c, int steps, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        List<Step> out = new ArrayList<>();
        int[] pos = new int[3];
        for (int s = 0; s < steps; s++) {
            List<int[]> rows = new ArrayList<>();
            for (int slot = 0; slot < 3; slot++) {
                int n = s == 0 ? (slot == 0 ? 5 : slot == 1 ? 1 : 0) : s == 1 && slot == 1 ? 3 : 1;
                for (int i = 0; i < n && pos[slot] < c.seqLen(); i++) {
                    rows.add(new int[] {rnd.nextInt(c.vocabSize()), pos[slot]++, slot});
                }
            }
            for (int i = rows.size() - 1; i > 0; i--) {
                int j = rnd.nextInt(i + 1);
                int[] t = rows.get(i);
                rows.set(i, rows.get(j));
                rows.set(j, t);
            }
            int[] tk = new int[rows.size()];
            int[] ps = new int[rows.size()];
            int[] sl = new int[rows.size()];
            for (int i = 0; i < rows.size(); i++) {
                tk[i] = rows.get(i)[0];
                ps[i] = rows.get(i)[1];
                sl[i] = rows.get(i)[2];
            }
            out.add(new Step(tk, ps, sl));
        }
        return out;
    }

    /** Runs the schedule on the CPU and on the GPU; every logit within tol * max(1, max |logit| of its row). */
    private void compareWithCpu(Path file, List<Step> steps, MatmulMode mode, double tol) {
        Checkpoint ckpt = Checkpoint.open(file);
        LlamaConfig c = ckpt.config();
        int maxRows = steps.stream().mapToInt(Step::rows).max().orElse(1);
        float[] cpu = new float[c.vocabSize()];
        float[] gpu = new float[c.vocabSize()];
        double worst = 0;
        try (NativeLlamaModel weights = NativeLlamaModel.map(ckpt);
             NativeLlamaBatch cb = weights.newBatch(3, maxRows);
             CudaLlamaModel m = CudaLlamaModel.upload(device, weights);
             CudaLlamaBatch gb = m.newBatch(3, maxRows, mode)) {
            for (int s = 0; s < steps.size(); s++) {
                Step st = steps.get(s);
                cb.forward(st.rows(), st.tokens(), st.positions(), st.slots(), st.rows(), st.all(), 1);
                gb.forward(st.rows(), st.tokens(), st.positions(), st.slots(), st.rows(), st.all());
                assertEquals(st.rows(), gb.logitRowCount());
                for (int r = 0; r < st.rows(); r++) {
                    cb.copyLogits(r, cpu);
                    gb.copyLogits(r, gpu);
                    float scale = 1f;
                    for (float f : cpu) {
                        scale = Math.max(scale, Math.abs(f));
                    }
                    for (int t = 0; t < cpu.length; t++) {
                        double err = Math.abs(cpu[t] - gpu[t]) / scale;
                        worst = Math.max(worst, err);
                        if (!(err <= tol)) {
                            throw new AssertionError(file.getFileName() + " " + mode + " step " + s + " row " + r + " (slot "
                                + st.slots()[r] + " pos " + st.positions()[r] + ") token " + t + ": cpu " + cpu[t]
                                + " gpu " + gpu[t]);
                        }
                    }
                    // the device argmax of the GPU's logits is the host's (CPU and GPU may differ on near-ties)
                    assertEquals(argmaxOf(gpu), gb.sample(r, 0f, 0.9f, new long[] {1}), "argmax step " + s + " row " + r);
                }
            }
        }
        assertTrue(worst <= tol, "worst " + worst);
    }

    @Test
    void fetchedRowsSampleAsRowsCopiedOneByOne() {
        Path file = synthetic("fetch.bin", GQA, 41);
        Step st = schedule(GQA, 1, 5).get(0);
        try (NativeLlamaModel weights = NativeLlamaModel.map(Checkpoint.open(file));
             CudaLlamaModel m = CudaLlamaModel.upload(device, weights);
             CudaLlamaBatch gb = m.newBatch(3, st.rows(), MatmulMode.INVARIANT)) {
            gb.forward(st.rows(), st.tokens(), st.positions(), st.slots(), st.rows(), st.all());
            int[] oneByOne = new int[st.rows()];
            long[][] rngA = new long[st.rows()][];
            for (int r = 0; r < st.rows(); r++) {
                rngA[r] = new long[] {1000L + r};
                oneByOne[r] = gb.sample(r, 0.9f, 0.95f, rngA[r]);
            }
            boolean[] needed = new boolean[st.rows()];
            for (int r = 0; r < needed.length; r++) {
                needed[r] = r % 3 != 1; // runs of two with gaps: several copies
            }
            gb.fetchLogits(needed);
            float[] direct = new float[GQA.vocabSize()];
            for (int r = 0; r < st.rows(); r++) {
                long[] rngB = {1000L + r};
                assertEquals(oneByOne[r], gb.sample(r, 0.9f, 0.95f, rngB), "row " + r + " (fetched " + needed[r] + ")");
                assertEquals(rngA[r][0], rngB[0], "the RNG advanced the same, row " + r);
                gb.copyLogits(r, direct);
                assertEquals(argmaxOf(direct), gb.sample(r, 0f, 1f, new long[] {1}));
            }
            assertThrows(IllegalArgumentException.class, () -> gb.fetchLogits(new boolean[st.rows() - 1]));
        }
    }

    static int argmaxOf(float[] x) {
        int best = 0;
        for (int i = 1; i < x.length; i++) {
            if (x[i] > x[best]) {
                best = i;
            }
        }
        return best;
    }

    @Test
    void logitsMatchTheCpuOnGqaAndAnUnsharedClassifier() {
        compareWithCpu(synthetic("gqa.bin", GQA, 21), schedule(GQA, 12, 1), MatmulMode.INVARIANT, 1e-3);
        compareWithCpu(synthetic("odd.bin", ODD, 22), schedule(ODD, 12, 2), MatmulMode.INVARIANT, 1e-3);
    }

    @Test
    void longContextAndALargePrefillStepMatchTheCpu() {
        Path file = synthetic("long.bin", LONG, 23);
        SplittableRandom rnd = new SplittableRandom(3);
        List<Step> steps = new ArrayList<>();
        int n = 300;
        int[] tk = new int[n];
        int[] ps = new int[n];
        for (int i = 0; i < n; i++) {
            tk[i] = rnd.nextInt(LONG.vocabSize());
            ps[i] = i;
        }
        steps.add(new Step(tk, ps, new int[n])); // positions 0..299 of slot 0 in one step
        for (int p = n; p < 560; p += 20) {
            steps.add(new Step(new int[] {rnd.nextInt(97), 7}, new int[] {p, p - n}, new int[] {0, 1}));
            // fill slot 0's positions in between, in one chunk (they attend causally to each other)
            int len = Math.min(19, LONG.seqLen() - p - 1);
            int[] t2 = new int[len];
            int[] p2 = new int[len];
            for (int i = 0; i < len; i++) {
                t2[i] = rnd.nextInt(97);
                p2[i] = p + 1 + i;
            }
            steps.add(new Step(t2, p2, new int[len]));
        }
        compareWithCpu(file, steps, MatmulMode.INVARIANT, 1e-3);
    }

    @Test
    void cublasModeIsWithin1e3OfTheCpu() {
        compareWithCpu(synthetic("gqa.bin", GQA, 21), schedule(GQA, 8, 4), MatmulMode.CUBLAS, 1e-3);
        compareWithCpu(synthetic("odd.bin", ODD, 22), schedule(ODD, 8, 5), MatmulMode.CUBLAS, 1e-3);
    }

    /** One sequence's logits at every position, one row per step, alone in its batch. */
    private static float[][] alone(CudaLlamaModel m, int[] tokens) {
        float[][] out = new float[tokens.length][m.config().vocabSize()];
        try (CudaLlamaBatch b = m.newBatch(1, 1, MatmulMode.INVARIANT)) {
            for (int p = 0; p < tokens.length; p++) {
                b.forward(1, new int[] {tokens[p]}, new int[] {p}, new int[] {0}, 1, new int[] {0});
                b.copyLogits(0, out[p]);
            }
        }
        return out;
    }

    /**
     * The same sequence in slot 2 of a busy batch: its first 5 positions prefilled at once, then one row per
     * step among up to 40 rows of other sequences (other slots, their own prefill chunks), rows shuffled,
     * logits requested for varying subsets.
     */
    private static float[][] busy(CudaLlamaModel m, int[] tokens, long seed) {
        LlamaConfig c = m.config();
        float[][] out = new float[tokens.length][c.vocabSize()];
        SplittableRandom rnd = new SplittableRandom(seed);
        int[] otherPos = new int[8];
        try (CudaLlamaBatch b = m.newBatch(8, 64, MatmulMode.INVARIANT)) {
            int p = 0;
            while (p < tokens.length) {
                List<int[]> rows = new ArrayList<>(); // {token, pos, slot, target}
                int chunk = p == 0 ? Math.min(5, tokens.length) : 1;
                for (int i = 0; i < chunk; i++) {
                    rows.add(new int[] {tokens[p + i], p + i, 2, 1});
                }
                for (int slot : new int[] {0, 1, 3, 4, 5, 6, 7}) {
                    int n = rnd.nextInt(7);
                    for (int i = 0; i < n && otherPos[slot] < c.seqLen(); i++) {
                        rows.add(new int[] {rnd.nextInt(c.vocabSize()), otherPos[slot]++, slot, 0});
                    }
                }
                for (int i = rows.size() - 1; i > 0; i--) {
                    int j = rnd.nextInt(i + 1);
                    int[] t = rows.get(i);
                    rows.set(i, rows.get(j));
                    rows.set(j, t);
                }
                int n = rows.size();
                int[] tk = new int[n];
                int[] ps = new int[n];
                int[] sl = new int[n];
                List<Integer> logitRows = new ArrayList<>();
                for (int i = 0; i < n; i++) {
                    int[] row = rows.get(i);
                    tk[i] = row[0];
                    ps[i] = row[1];
                    sl[i] = row[2];
                    if (row[3] == 1 || rnd.nextBoolean()) {
                        logitRows.add(i);
                    }
                }
                int[] lr = logitRows.stream().mapToInt(Integer::intValue).toArray();
                b.forward(n, tk, ps, sl, lr.length, lr);
                for (int k = 0; k < lr.length; k++) {
                    int[] row = rows.get(lr[k]);
                    if (row[3] == 1) {
                        b.copyLogits(k, out[row[1]]);
                    }
                }
                p += chunk;
            }
        }
        return out;
    }

    @Test
    void invariantModeIsBitwiseBatchInvariant() {
        for (LlamaConfig c : new LlamaConfig[] {GQA, ODD}) {
            Path file = synthetic("inv-" + c.dim() + ".bin", c, 31);
            SplittableRandom rnd = new SplittableRandom(9);
            int[] tokens = new int[Math.min(c.seqLen(), 24)];
            for (int i = 0; i < tokens.length; i++) {
                tokens[i] = rnd.nextInt(c.vocabSize());
            }
            try (NativeLlamaModel weights = NativeLlamaModel.map(Checkpoint.open(file));
                 CudaLlamaModel m = CudaLlamaModel.upload(device, weights)) {
                float[][] a = alone(m, tokens);
                for (long seed : new long[] {1, 2}) {
                    float[][] b = busy(m, tokens, seed);
                    for (int p = 0; p < tokens.length; p++) {
                        int[] bitsA = new int[a[p].length];
                        int[] bitsB = new int[a[p].length];
                        for (int t = 0; t < bitsA.length; t++) {
                            bitsA[t] = Float.floatToRawIntBits(a[p][t]);
                            bitsB[t] = Float.floatToRawIntBits(b[p][t]);
                        }
                        assertArrayEquals(bitsA, bitsB, c + " seed " + seed + " position " + p);
                    }
                }
            }
        }
    }

    /** llama2.c's generation loop with greedy sampling on the GPU; the prompt fed one row per step, or prefilled in one. */
    private static String greedy(CudaLlamaModel m, NativeTokenizer tok, String prompt, int steps, boolean prefill) {
        int[] p = tok.encode(prompt.getBytes(StandardCharsets.UTF_8), true, false);
        ByteArrayOutputStream text = new ByteArrayOutputStream();
        try (CudaLlamaBatch b = m.newBatch(1, Math.max(1, p.length), MatmulMode.INVARIANT)) {
            int pos = 0;
            int token = p[0];
            if (prefill && p.length > 1) {
                int n = Math.min(p.length - 1, steps);
                int[] positions = new int[n];
                for (int i = 0; i < n; i++) {
                    positions[i] = i;
                    byte[] piece = tok.decodePrintable(p[i], p[i + 1]);
                    text.write(piece, 0, piece.length);
                }
                b.forward(n, java.util.Arrays.copyOf(p, n), positions, new int[n], 0, null);
                pos = n;
                token = p[n];
            }
            long[] rng = {0};
            while (pos < steps) {
                boolean forced = pos < p.length - 1;
                b.forward(1, new int[] {token}, new int[] {pos}, new int[] {0}, forced ? 0 : 1, forced ? null : new int[] {0});
                int next = forced ? p[pos + 1] : b.sample(0, 0f, 0.9f, rng);
                pos++;
                if (!forced && (next == Tokenizer.BOS || next == Tokenizer.EOS)) {
                    break;
                }
                byte[] piece = tok.decodePrintable(token, next);
                text.write(piece, 0, piece.length);
                token = next;
            }
            assertEquals(0, rng[0], "greedy sampling draws no random numbers");
        }
        return text.toString(StandardCharsets.UTF_8);
    }

    /** The texts of NativeLlamaGenerationTest: what llama2.c's run.c prints for stories260K with -t 0. */
    static final String DOG = "The dog ran to the park with his mom. They liked to play with their toys. They liked to play "
        + "with their toys and run around the park. They";

    @Test
    void stories260kGreedyTextsMatchLlama2c() {
        Path model = TestModels.require(TestModels.STORIES_260K);
        Path tokFile = TestModels.require(TestModels.TOK_512);
        try (NativeLlamaModel weights = NativeLlamaModel.map(Checkpoint.open(model));
             NativeTokenizer tok = NativeTokenizer.load(tokFile, weights.config().vocabSize());
             CudaLlamaModel m = CudaLlamaModel.upload(device, weights)) {
            assertEquals(TestModels.GREEDY_260K, greedy(m, tok, "", 200, false));
            assertEquals(DOG, greedy(m, tok, "The dog ran", 50, false));
            assertEquals(DOG, greedy(m, tok, "The dog ran", 50, true));
        }
    }

    @Test
    void aBatchRunsOnAnotherThreadThanItsCreator() throws Exception {
        Path file = synthetic("gqa.bin", GQA, 21);
        try (NativeLlamaModel weights = NativeLlamaModel.map(Checkpoint.open(file));
             CudaLlamaModel m = CudaLlamaModel.upload(device, weights)) {
            float[][] here = alone(m, new int[] {5, 6, 7});
            ExecutorService pool = Executors.newSingleThreadExecutor();
            try {
                float[][] there = pool.submit(() -> alone(m, new int[] {5, 6, 7})).get();
                for (int p = 0; p < here.length; p++) {
                    assertArrayEquals(here[p], there[p], "position " + p);
                }
                try (CudaLlamaBatch b = m.newBatch(1, 1, MatmulMode.INVARIANT)) {
                    pool.submit(() -> b.forward(1, new int[] {5}, new int[] {0}, new int[] {0}, 1, new int[] {0})).get();
                    float[] row = new float[GQA.vocabSize()];
                    b.copyLogits(0, row);
                    assertArrayEquals(here[0], row);
                }
            } finally {
                pool.shutdown();
            }
        }
    }

    @Test
    void argumentsAreCheckedAsOnTheCpu() {
        Path file = synthetic("gqa.bin", GQA, 21);
        try (NativeLlamaModel weights = NativeLlamaModel.map(Checkpoint.open(file));
             CudaLlamaModel m = CudaLlamaModel.upload(device, weights);
             CudaLlamaBatch b = m.newBatch(2, 3, MatmulMode.INVARIANT)) {
            int[] z3 = new int[3];
            assertEquals("rows = 4 is outside [0, 3] (maxRowsPerStep)", assertThrows(IllegalArgumentException.class,
                () -> b.forward(4, new int[4], new int[4], new int[4], 0, null)).getMessage());
            assertEquals("row 2 repeats slot 1 position 4 of row 0 in the same step", assertThrows(IllegalArgumentException.class,
                () -> b.forward(3, z3, new int[] {4, 4, 4}, new int[] {1, 0, 1}, 0, null)).getMessage());
            assertEquals("row 0: slot 2 is outside [0, 2) (maxSlots)", assertThrows(IllegalArgumentException.class,
                () -> b.forward(1, z3, z3, new int[] {2}, 0, null)).getMessage());
            assertThrows(IllegalArgumentException.class, () -> b.copyLogits(0, new float[GQA.vocabSize()]));
            b.forward(1, z3, z3, z3, 1, new int[] {0});
            assertThrows(IllegalArgumentException.class, () -> b.sample(0, Float.NaN, 0.9f, new long[1]));
            assertThrows(IllegalArgumentException.class, () -> b.copyLogits(0, new float[GQA.vocabSize() - 1]));
            // sampled (not greedy) on the host with the Java sampler: the RNG advances
            long[] rng = {42};
            int t = b.sample(0, 1f, 0.9f, rng);
            assertTrue(t >= 0 && t < GQA.vocabSize());
            assertTrue(rng[0] != 42);
            assertEquals(MatmulMode.INVARIANT, b.mode());
            assertEquals(2, b.maxSlots());
            assertEquals(3, b.maxRowsPerStep());
            assertThrows(IllegalArgumentException.class, () -> m.newBatch(0, 1, MatmulMode.INVARIANT));
            assertThrows(IllegalArgumentException.class, () -> m.newBatch(1, 1, null));
        }
    }

    @Test
    void deviceMemoryIsAccountedAndFreed() {
        Path file = synthetic("gqa.bin", GQA, 21);
        try (NativeLlamaModel weights = NativeLlamaModel.map(Checkpoint.open(file))) {
            // warm up what stays for the JVM's life (module, cuBLAS handle) before measuring
            try (CudaLlamaModel warm = CudaLlamaModel.upload(device, weights);
                 CudaLlamaBatch b = warm.newBatch(1, 1, MatmulMode.CUBLAS)) {
                assertEquals(CudaMemoryPlan.batchBytes(GQA, 1, 1) + CudaMemoryPlan.CUBLAS_WORKSPACE_BYTES, b.deviceBytes());
                b.forward(1, new int[] {1}, new int[] {0}, new int[] {0}, 1, new int[] {0});
            }
            long live0 = CudaLlamaBatch.liveDeviceBytes();
            long uploads0 = CudaLlamaModel.uploads();
            long free0 = device.memInfo()[0];
            CudaLlamaModel m = CudaLlamaModel.upload(device, weights);
            assertEquals(uploads0 + 1, CudaLlamaModel.uploads());
            assertEquals(CudaMemoryPlan.weightBytes(GQA), m.deviceBytes());
            // 4096 slots: 4096 * 2 * 2 * 40 * 16 * 4 = 41,943,040 bytes of KV cache, well above the driver's
            // allocation granularity, so that memInfo shows it
            CudaLlamaBatch b = m.newBatch(4096, 32, MatmulMode.INVARIANT);
            assertEquals(CudaMemoryPlan.batchBytes(GQA, 4096, 32), b.deviceBytes());
            assertEquals(live0 + b.deviceBytes(), CudaLlamaBatch.liveDeviceBytes());
            long used = free0 - device.memInfo()[0];
            assertTrue(used >= b.deviceBytes() + m.deviceBytes() - (8 << 20), "used " + used + " of " + b.deviceBytes());
            // closing the model first keeps its weights for the open batch
            m.close();
            m.close();
            assertThrows(IllegalStateException.class, () -> m.newBatch(1, 1, MatmulMode.INVARIANT));
            b.forward(1, new int[] {3}, new int[] {0}, new int[] {4095}, 1, new int[] {0});
            b.close();
            b.close();
            assertThrows(IllegalStateException.class, () -> b.forward(0, null, null, null, 0, null));
            assertEquals(live0, CudaLlamaBatch.liveDeviceBytes());
            assertEquals(uploads0 + 1, CudaLlamaModel.uploads());
            long free1 = device.memInfo()[0];
            assertTrue(Math.abs(free1 - free0) <= (16 << 20), "free before " + free0 + ", after " + free1);
        }
    }

    @Test
    void aBatchThatDoesNotFitFailsWithOutOfMemoryAndFreesWhatItHad() {
        Path file = synthetic("gqa.bin", GQA, 21);
        try (NativeLlamaModel weights = NativeLlamaModel.map(Checkpoint.open(file));
             CudaLlamaModel m = CudaLlamaModel.upload(device, weights)) {
            long live0 = CudaLlamaBatch.liveDeviceBytes();
            long free0 = device.memInfo()[0];
            // the key cache takes 60% of the free memory and fits; the value cache, as large, does not
            long side = CudaMemoryPlan.kvBytesPerSlot(GQA) / 2;
            int slots = (int) Math.min(Integer.MAX_VALUE, (long) (0.6 * free0) / side);
            CudaException e = assertThrows(CudaException.class, () -> m.newBatch(slots, 1, MatmulMode.INVARIANT));
            assertTrue(e.outOfMemory(), e.getMessage());
            assertTrue(e.getMessage().startsWith("cuMemAlloc("), e.getMessage());
            assertEquals(live0, CudaLlamaBatch.liveDeviceBytes());
            long free1 = device.memInfo()[0];
            assertTrue(Math.abs(free1 - free0) <= (16 << 20), "free before " + free0 + ", after " + free1);
            // the model still works and counts no phantom batch: it closes and frees
            try (CudaLlamaBatch b = m.newBatch(1, 1, MatmulMode.INVARIANT)) {
                b.forward(1, new int[] {1}, new int[] {0}, new int[] {0}, 1, new int[] {0});
            }
        }
    }
}

package org.sparknative.kernels.llama;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sparknative.kernels.testing.TestModels;

/**
 * The forward pass: logits against llama2.c and against the Java reference ({@link ReferenceTransformer}),
 * and bitwise invariance under batch composition, chunked prefill, thread count and instruction set.
 */
class NativeLlamaForwardTest {
    /**
     * A shape with every awkward edge: head size 6 (all tail, no full 8-lane block), kv_dim 18, hidden 100
     * (12 blocks + 4), odd vocab (a lone last weight row), unshared classifier.
     */
    static final LlamaConfig ODD = new LlamaConfig(36, 100, 2, 6, 3, 67, 40, false);

    @TempDir
    Path tmp;

    /** llama2.c's own forward() (run.c -O3) on stories260K, prompt "Once upon a time" then greedy. */
    @Test
    void stories260kLogitsMatchLlama2c() {
        Path file = TestModels.require(TestModels.STORIES_260K);
        int[] tokens = {1, 403, 407, 261, 378, 432, 383, 286};
        int[] ids = {0, 1, 2, 13, 100, 300, 511};
        float[][] expected = {
            {-6.22291136f, 8.4043417f, -6.22373724f, 6.44980621f, -6.22272015f, 3.6915164f, -4.40551758f},
            {-9.58945847f, 3.84127617f, -9.5905323f, -1.48157525f, -9.58889389f, 3.3313489f, -7.43573427f},
            {-12.141099f, 1.77624679f, -12.142951f, -4.12607956f, -12.1395006f, 6.07368279f, -8.97455215f},
            {-6.71424103f, -6.05302429f, -6.71502495f, -0.688829482f, -6.71430588f, 5.9258256f, -5.04769278f},
            {-10.1365747f, -5.32946587f, -10.1380806f, -1.14056373f, -10.1364994f, 0.997018158f, -8.07627773f},
            {-6.34501123f, 0.677196443f, -6.34643888f, 0.871344805f, -6.34515381f, 4.30885363f, -5.57616949f},
            {-10.2689915f, -0.210600778f, -10.2689438f, 0.339430213f, -10.2662516f, 4.58769464f, -8.21830654f},
            {-9.04545307f, 1.45270038f, -9.04570961f, -0.528939307f, -9.04364491f, 7.37494612f, -7.1234355f},
        };
        int[] argmax = {403, 407, 261, 378, 432, 383, 286, 261};
        try (NativeLlamaModel m = NativeLlamaModel.map(Checkpoint.open(file)); NativeLlamaBatch b = m.newBatch(1, 8)) {
            // the whole prompt as one chunked-prefill step with logits for every row
            int[] pos = {0, 1, 2, 3, 4, 5, 6, 7};
            b.forward(8, tokens, pos, new int[8], 8, pos, 1);
            float[] row = new float[512];
            for (int p = 0; p < 8; p++) {
                for (int i = 0; i < ids.length; i++) {
                    // 8-lane sums round differently from llama2.c's sequential ones: ~1e-6 relative
                    float tol = 1e-5f * Math.max(1f, Math.abs(expected[p][i]));
                    assertEquals(expected[p][i], b.logit(p, ids[i]), tol, "pos " + p + " token " + ids[i]);
                }
                b.copyLogits(p, row);
                int best = 0;
                for (int t = 1; t < row.length; t++) {
                    if (row[t] > row[best]) {
                        best = t;
                    }
                }
                assertEquals(argmax[p], best, "argmax at pos " + p);
            }
        }
    }

    /** A synthetic checkpoint with matrices uniform in [-bound, bound]: logits spread over several units. */
    private static Path synthetic(Path file, CheckpointFormat format, LlamaConfig c, long seed, float bound) {
        SyntheticCheckpoint.write(file, c, seed, format, bound);
        return file;
    }

    @Test
    void syntheticModelsMatchJavaReference() {
        checkAgainstJava(synthetic(tmp.resolve("odd.bin"), CheckpointFormat.LEGACY, ODD, 11, 0.3f));
        LlamaConfig v1 = new LlamaConfig(64, 176, 3, 4, 2, 300, 24, true);
        checkAgainstJava(synthetic(tmp.resolve("v1.bin"), CheckpointFormat.V1, v1, 12, 0.2f));
        LlamaConfig v1Unshared = new LlamaConfig(48, 64, 1, 2, 2, 50, 16, false);
        checkAgainstJava(synthetic(tmp.resolve("v1u.bin"), CheckpointFormat.V1, v1Unshared, 13, 0.2f));
    }

    private static void checkAgainstJava(Path file) {
        Checkpoint ckpt = Checkpoint.open(file);
        ReferenceTransformer ref = new ReferenceTransformer(ckpt);
        LlamaConfig c = ckpt.config();
        SplittableRandom rnd = new SplittableRandom(5);
        int n = Math.min(c.seqLen(), 14);
        try (NativeLlamaModel m = NativeLlamaModel.map(ckpt); NativeLlamaBatch b = m.newBatch(1, 1)) {
            float[] got = new float[c.vocabSize()];
            double worst = 0;
            for (int p = 0; p < n; p++) {
                int token = rnd.nextInt(c.vocabSize());
                float[] want = ref.forward(token, p);
                b.forward(1, new int[] {token}, new int[] {p}, new int[] {0}, 1, new int[] {0}, 1);
                b.copyLogits(0, got);
                for (int t = 0; t < got.length; t++) {
                    double err = Math.abs(got[t] - want[t]) / Math.max(1.0, Math.abs(want[t]));
                    worst = Math.max(worst, err);
                }
            }
            assertTrue(worst < 2e-5, file + ": worst relative logit error " + worst);
        }
    }

    /** One sequence's logits at every position, fed one row per step alone in its own batch. */
    static float[][] alone(NativeLlamaModel m, int[] tokens, int threads) {
        return alone(m, tokens, threads, KvCacheType.AUTO);
    }

    static float[][] alone(NativeLlamaModel m, int[] tokens, int threads, KvCacheType kv) {
        int vocab = m.config().vocabSize();
        float[][] out = new float[tokens.length][vocab];
        try (NativeLlamaBatch b = m.newBatch(1, 1, kv)) {
            for (int p = 0; p < tokens.length; p++) {
                b.forward(1, new int[] {tokens[p]}, new int[] {p}, new int[] {0}, 1, new int[] {0}, threads);
                b.copyLogits(0, out[p]);
            }
        }
        return out;
    }

    /**
     * The same sequence (slot 2) inside a busy batch: two other sequences in other slots, its prompt
     * prefilled 5 rows at once, rows in shuffled order, logits requested for varying row subsets.
     */
    static float[][] batched(NativeLlamaModel m, int[] tokens, int threads, int simd, long seed) {
        int vocab = m.config().vocabSize();
        float[][] out = new float[tokens.length][vocab];
        SplittableRandom rnd = new SplittableRandom(seed);
        try (NativeLlamaBatch b = m.newBatch(4, 24)) {
            b.limitSimd(simd);
            int p = 0;
            int otherPos = 0;
            while (p < tokens.length) {
                List<int[]> rows = new ArrayList<>(); // {token, pos, slot, isTarget}
                int chunk = p == 0 ? Math.min(5, tokens.length) : 1;
                for (int i = 0; i < chunk; i++) {
                    rows.add(new int[] {tokens[p + i], p + i, 2, 1});
                }
                int others = rnd.nextInt(3);
                for (int o = 0; o < others && otherPos + 1 < m.config().seqLen(); o++) {
                    rows.add(new int[] {rnd.nextInt(vocab), otherPos, 0, 0});
                    rows.add(new int[] {rnd.nextInt(vocab), otherPos, 3, 0});
                    otherPos++;
                }
                java.util.Collections.shuffle(rows, new java.util.Random(rnd.nextLong()));
                int n = rows.size();
                int[] tk = new int[n];
                int[] ps = new int[n];
                int[] sl = new int[n];
                List<Integer> logitRows = new ArrayList<>();
                for (int r = 0; r < n; r++) {
                    tk[r] = rows.get(r)[0];
                    ps[r] = rows.get(r)[1];
                    sl[r] = rows.get(r)[2];
                    if (rows.get(r)[3] == 1 || rnd.nextBoolean()) {
                        logitRows.add(r);
                    }
                }
                int[] lr = logitRows.stream().mapToInt(Integer::intValue).toArray();
                b.forward(n, tk, ps, sl, lr.length, lr, threads);
                for (int k = 0; k < lr.length; k++) {
                    int r = lr[k];
                    if (sl[r] == 2) {
                        b.copyLogits(k, out[ps[r]]);
                    }
                }
                p += chunk;
            }
        }
        return out;
    }

    static void assertBitwise(float[][] want, float[][] got, String what) {
        for (int p = 0; p < want.length; p++) {
            int[] a = new int[want[p].length];
            int[] g = new int[got[p].length];
            for (int t = 0; t < a.length; t++) {
                a[t] = Float.floatToRawIntBits(want[p][t]);
                g[t] = Float.floatToRawIntBits(got[p][t]);
            }
            assertArrayEquals(a, g, what + ": logits at position " + p + " differ");
        }
    }

    static void checkInvariance(NativeLlamaModel m, int[] tokens) {
        float[][] ref = alone(m, tokens, 1);
        assertTrue(Arrays.stream(ref).allMatch(r -> Float.isFinite(r[0]) && r[0] != 0f), "sane logits");
        assertBitwise(ref, alone(m, tokens, 2), "alone, 2 threads");
        assertBitwise(ref, batched(m, tokens, 1, -1, 1), "batched, 1 thread");
        assertBitwise(ref, batched(m, tokens, 2, -1, 2), "batched, 2 threads");
        assertBitwise(ref, batched(m, tokens, 3, -1, 3), "batched, 3 threads");
        for (int simd : simdLevels()) {
            assertBitwise(ref, batched(m, tokens, 2, simd, 4 + simd),
                "batched, 2 threads, " + LlamaKernels.simdName(simd) + " path");
        }
    }

    /**
     * The instruction-set paths this CPU has by its /proc/cpuinfo flags ({@code LlamaKernels.SIMD_*}, lowest first),
     * asserted to be the ones the C library detects, so that the tests looping over them cannot silently skip one.
     * Without /proc/cpuinfo, the ones the C library reports.
     */
    static int[] simdLevels() {
        int best = cpuinfoSimd();
        if (best >= 0) {
            assertEquals(LlamaKernels.simdName(best), LlamaKernels.simdName(LlamaKernels.simdSupported()),
                "the best path the C library detects, against /proc/cpuinfo");
        } else {
            best = LlamaKernels.simdSupported();
        }
        return java.util.stream.IntStream.rangeClosed(LlamaKernels.SIMD_GENERIC, best).toArray();
    }

    /**
     * The best {@code LlamaKernels.SIMD_*} path by the first "flags" line of /proc/cpuinfo (x86 lists CPU features
     * there, other architectures on "Features" lines, never these), or -1 where that file cannot be read.
     */
    static int cpuinfoSimd() {
        Path cpuinfo = Path.of("/proc/cpuinfo");
        if (!Files.isReadable(cpuinfo)) {
            return -1;
        }
        List<String> flags;
        try {
            flags = Files.readAllLines(cpuinfo).stream()
                .filter(l -> l.startsWith("flags"))
                .findFirst()
                .map(l -> Arrays.asList(l.substring(l.indexOf(':') + 1).trim().split("\\s+")))
                .orElse(List.of());
        } catch (IOException e) {
            return -1;
        }
        if (flags.containsAll(List.of("avx512f", "avx512bw", "avx512vl", "avx512_vnni"))) {
            return LlamaKernels.SIMD_AVX512_VNNI;
        }
        return flags.contains("avx2") ? LlamaKernels.SIMD_AVX2 : LlamaKernels.SIMD_GENERIC;
    }

    @Test
    void stories260kIsBatchThreadAndIsaInvariant() {
        Path file = TestModels.require(TestModels.STORIES_260K);
        try (NativeLlamaModel m = NativeLlamaModel.map(Checkpoint.open(file))) {
            checkInvariance(m, new int[] {1, 403, 407, 261, 378, 432, 383, 286, 261, 300, 13, 410});
        }
    }

    @Test
    void oddSyntheticShapeIsBatchThreadAndIsaInvariant() {
        Path file = synthetic(tmp.resolve("odd.bin"), CheckpointFormat.LEGACY, ODD, 21, 0.3f);
        try (NativeLlamaModel m = NativeLlamaModel.map(Checkpoint.open(file))) {
            int[] tokens = new SplittableRandom(9).ints(15, 0, ODD.vocabSize()).toArray();
            checkInvariance(m, tokens);
        }
    }

    /**
     * A batch runs the best path the CPU has (per /proc/cpuinfo's flags: AVX-512 with VNNI, else AVX2, else the
     * portable SSE2 one), lowered by SPARKNATIVE_SIMD where that is set, and exactly the path it is limited to: so on
     * an AVX-512 machine the instruction-set invariance checks above really compare three paths.
     */
    @Test
    void reportsTheCodePathInUse() {
        int best = cpuinfoSimd();
        assumeTrue(best >= 0, "needs Linux /proc/cpuinfo");
        assertEquals(LlamaKernels.simdName(best), LlamaKernels.simdName(LlamaKernels.simdSupported()),
            "simdSupported() against /proc/cpuinfo");
        String env = System.getenv("SPARKNATIVE_SIMD");
        int cap = env == null ? best : switch (env) {
            case "avx512-vnni", "avx512" -> LlamaKernels.SIMD_AVX512_VNNI;
            case "avx2" -> LlamaKernels.SIMD_AVX2;
            case "sse2", "generic" -> LlamaKernels.SIMD_GENERIC;
            default -> best;
        };
        String expected = LlamaKernels.simdName(Math.min(best, cap));
        assertEquals(expected, LlamaKernels.simdName(LlamaKernels.simdDefault()), "the default, SPARKNATIVE_SIMD=" + env);
        Path file = synthetic(tmp.resolve("odd.bin"), CheckpointFormat.LEGACY, ODD, 3, 0.3f);
        try (NativeLlamaModel m = NativeLlamaModel.map(Checkpoint.open(file)); NativeLlamaBatch b = m.newBatch(1, 1)) {
            assertEquals(expected, b.codePath(), "a new batch");
            for (int level = LlamaKernels.SIMD_GENERIC; level <= LlamaKernels.SIMD_AVX512_VNNI; level++) {
                b.limitSimd(level);
                assertEquals(LlamaKernels.simdName(Math.min(level, best)), b.codePath(), "limited to level " + level);
            }
            b.limitSimd(-1);
            assertEquals(expected, b.codePath(), "no longer limited");
            assertThrows(IllegalArgumentException.class, () -> b.limitSimd(3));
        }
    }
}

package org.sparknative.kernels.llama;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.EnumMap;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sparknative.kernels.gguf.GgmlType;
import org.sparknative.kernels.gguf.GgufFile;
import org.sparknative.kernels.gguf.Quants;
import org.sparknative.kernels.testing.TestModels;

/**
 * The native forward pass on GGUF models ({@link NativeLlamaModel#mapGguf}): the typed kernels against
 * {@link Quants} bit for bit on both instruction sets, whole models against the Java reference, batch, thread and
 * instruction-set invariance, and the real stories260K files against llama2.c's and llama.cpp's greedy text.
 */
class GgufNativeForwardTest {
    private static final GgmlType[] TYPES = {GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0};

    @TempDir
    Path tmp;

    private static float[] randoms(SplittableRandom rnd, int n, float bound) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) ((rnd.nextDouble() * 2 - 1) * bound);
        }
        return v;
    }

    /** y[c][i] through the native kernels on the instruction-set path simd (one this CPU has), asserted to run. */
    private static float[] nativeMatmul(GgmlType type, byte[] w, int rows, int n, float[] x, int nIn, int simd) {
        float[] y = new float[nIn * rows];
        int path = LlamaKernels.testMatmul(type.id(), w, rows, n, x, nIn, y, simd);
        assertEquals(LlamaKernels.simdName(simd), path < 0 ? "native status " + path : LlamaKernels.simdName(path),
            "the path that ran");
        return y;
    }

    /** The best path, where the CPU has several. */
    private static int bestSimd() {
        return LlamaKernels.simdSupported();
    }

    private static void assertBits(float want, float got, String what) {
        assertEquals(Float.floatToRawIntBits(want), Float.floatToRawIntBits(got), what + ": want " + want + " got " + got);
    }

    /**
     * Every type, odd row counts, 1 to 5 input rows, row lengths with and without an 8-lane tail, on every path this
     * CPU has (NativeLlamaForwardTest.simdLevels: asserted against /proc/cpuinfo): every path gives the generic path's
     * bits; Q8_0/Q4_0 exactly Quants' dot of the weight row with the Q8_0-quantized input; F16 and BF16 exactly the
     * F32 kernel on the converted weights.
     */
    @Test
    void typedKernelsMatchQuantsBitwiseOnEveryPath() {
        int[] levels = NativeLlamaForwardTest.simdLevels();
        SplittableRandom rnd = new SplittableRandom(17);
        for (GgmlType type : TYPES) {
            boolean quant = type == GgmlType.Q8_0 || type == GgmlType.Q4_0;
            for (int n : quant ? new int[] {32, 96, 160, 512} : new int[] {6, 32, 100, 172}) {
                for (int nIn : new int[] {1, 3, 5}) {
                    int rows = 37;
                    float[] wf = randoms(rnd, rows * n, 0.3f);
                    byte[] w = Quants.quantize(type, wf);
                    float[] x = randoms(rnd, nIn * n, 2f);
                    float[] gen = nativeMatmul(type, w, rows, n, x, nIn, LlamaKernels.SIMD_GENERIC);
                    float[] asF32 = new float[rows * n];
                    Quants.dequantize(type, ByteBuffer.wrap(w), 0, asF32, 0, asF32.length);
                    float[] f32 = quant ? null : nativeMatmul(GgmlType.F32, Quants.quantize(GgmlType.F32, asF32), rows,
                        n, x, nIn, bestSimd());
                    int rowBytes = (int) type.byteSize(n);
                    for (int simd : levels) {
                        float[] y = nativeMatmul(type, w, rows, n, x, nIn, simd);
                        for (int c = 0; c < nIn; c++) {
                            float[] xc = java.util.Arrays.copyOfRange(x, c * n, (c + 1) * n);
                            ByteBuffer act = quant ? ByteBuffer.wrap(Quants.quantizeRowQ8_0(xc)) : null;
                            for (int i = 0; i < rows; i++) {
                                String what = type + " " + LlamaKernels.simdName(simd) + " n=" + n + " nIn=" + nIn
                                    + " out[" + c + "][" + i + "]";
                                float got = y[c * rows + i];
                                assertBits(gen[c * rows + i], got, what + " vs generic");
                                if (type == GgmlType.Q8_0) {
                                    assertBits(Quants.dotQ8_0Q8_0(ByteBuffer.wrap(w), i * rowBytes, act, 0, n), got, what);
                                } else if (type == GgmlType.Q4_0) {
                                    assertBits(Quants.dotQ4_0Q8_0(ByteBuffer.wrap(w), i * rowBytes, act, 0, n), got, what);
                                } else {
                                    assertBits(f32[c * rows + i], got, what + " vs F32 kernel");
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /**
     * Raw blocks a file may hold but ggml's quantizer never makes (Q8_0 values of -128, any bytes, negative and
     * subnormal scales): still Quants' bits on every path.
     */
    @Test
    void rawQuantBlocksMatchQuants() {
        int[] levels = NativeLlamaForwardTest.simdLevels();
        SplittableRandom rnd = new SplittableRandom(8);
        int rows = 41; // two of the AVX-512 kernel's 16-row groups and 9 rows past them
        int n = 128;
        short[] scales = {0x3C00, (short) 0xB400, 0x0001, 0x2E66, (short) 0x8000};
        for (GgmlType type : new GgmlType[] {GgmlType.Q8_0, GgmlType.Q4_0}) {
            int blockBytes = type == GgmlType.Q8_0 ? 34 : 18;
            byte[] w = new byte[rows * n / 32 * blockBytes];
            rnd.nextBytes(w);
            for (int b = 0; b < w.length / blockBytes; b++) {
                short d = scales[b % scales.length];
                w[b * blockBytes] = (byte) d;
                w[b * blockBytes + 1] = (byte) (d >> 8);
                if (type == GgmlType.Q8_0 && b % 3 == 0) {
                    java.util.Arrays.fill(w, b * blockBytes + 2, (b + 1) * blockBytes, (byte) -128);
                }
            }
            float[] x = randoms(rnd, 2 * n, 5f);
            java.util.Arrays.fill(x, 0, 32, -3f); // a block that quantizes to all -127
            for (int simd : levels) {
                float[] y = nativeMatmul(type, w, rows, n, x, 2, simd);
                for (int c = 0; c < 2; c++) {
                    ByteBuffer act = ByteBuffer.wrap(Quants.quantizeRowQ8_0(java.util.Arrays.copyOfRange(x, c * n,
                        (c + 1) * n)));
                    for (int i = 0; i < rows; i++) {
                        float want = type == GgmlType.Q8_0
                            ? Quants.dotQ8_0Q8_0(ByteBuffer.wrap(w), i * n / 32 * blockBytes, act, 0, n)
                            : Quants.dotQ4_0Q8_0(ByteBuffer.wrap(w), i * n / 32 * blockBytes, act, 0, n);
                        assertBits(want, y[c * rows + i], type + " raw, " + LlamaKernels.simdName(simd) + ", out[" + c
                            + "][" + i + "]");
                    }
                }
            }
        }
    }

    /**
     * Q8_0 and Q4_0 matmuls at the edges, on every path: row counts around the AVX-512 kernel's 16-row groups, 1 to 24
     * blocks, 1 to 3 input rows. Weight blocks random, all -128 or all 127 (Q8_0), all nibbles 0 or 15 (Q4_0); weight
     * scales zero, negative zero, the least and the largest subnormal, the largest finite (both signs), random finite.
     * Activation blocks quantizing to all 127, all -127, alternating +-127, zeros (scale 0) or random, with subnormal
     * (amax 2^-20), ordinary and large (amax 1e6) scales. Every output is Quants', bit for bit.
     */
    @Test
    void quantMatmulsMatchQuantsAtTheEdgesOnEveryPath() {
        int[] levels = NativeLlamaForwardTest.simdLevels();
        SplittableRandom rnd = new SplittableRandom(29);
        short[] scales = {0x0000, (short) 0x8000, 0x0001, 0x03FF, 0x7BFF, (short) 0xFBFF, 0x3C00, (short) 0xB800};
        for (GgmlType type : new GgmlType[] {GgmlType.Q8_0, GgmlType.Q4_0}) {
            boolean q8 = type == GgmlType.Q8_0;
            int blockBytes = q8 ? 34 : 18;
            for (int rows : new int[] {1, 15, 16, 17, 33, 47}) {
                for (int nb : new int[] {1, 2, 3, 7, 24}) {
                    int n = nb * 32;
                    int nIn = 1 + rnd.nextInt(3);
                    byte[] w = new byte[rows * nb * blockBytes];
                    rnd.nextBytes(w);
                    for (int o = 0; o < w.length; o += blockBytes) {
                        int kind = rnd.nextInt(4);
                        if (kind < 2) {
                            java.util.Arrays.fill(w, o + 2, o + blockBytes, q8 ? (byte) (kind == 0 ? -128 : 127)
                                : (byte) (kind == 0 ? 0x00 : 0xFF));
                        }
                        short d = rnd.nextInt(3) == 0 ? (short) (rnd.nextInt(0x7C00) | (rnd.nextBoolean() ? 0x8000 : 0))
                            : scales[rnd.nextInt(scales.length)];
                        w[o] = (byte) d;
                        w[o + 1] = (byte) (d >> 8);
                    }
                    float[] x = new float[nIn * n];
                    for (int blk = 0; blk < nIn * nb; blk++) {
                        float bound = switch (rnd.nextInt(4)) {
                            case 0 -> 0x1p-20f; // d = 2^-20 / 127: a subnormal half
                            case 1 -> 1e6f;
                            default -> 3f;
                        };
                        int kind = rnd.nextInt(5);
                        for (int j = 0; j < 32; j++) {
                            x[blk * 32 + j] = switch (kind) {
                                case 0 -> bound;
                                case 1 -> -bound;
                                case 2 -> j % 2 == 0 ? bound : -bound;
                                case 3 -> 0f;
                                default -> (float) ((rnd.nextDouble() * 2 - 1) * bound);
                            };
                        }
                    }
                    float[] want = new float[nIn * rows];
                    for (int c = 0; c < nIn; c++) {
                        ByteBuffer act = ByteBuffer.wrap(Quants.quantizeRowQ8_0(java.util.Arrays.copyOfRange(x, c * n,
                            (c + 1) * n)));
                        for (int i = 0; i < rows; i++) {
                            want[c * rows + i] = q8 ? Quants.dotQ8_0Q8_0(ByteBuffer.wrap(w), i * nb * blockBytes, act, 0, n)
                                : Quants.dotQ4_0Q8_0(ByteBuffer.wrap(w), i * nb * blockBytes, act, 0, n);
                        }
                    }
                    for (int simd : levels) {
                        float[] got = nativeMatmul(type, w, rows, n, x, nIn, simd);
                        for (int k = 0; k < want.length; k++) {
                            assertBits(want[k], got[k], type + " edges, " + LlamaKernels.simdName(simd) + ", rows=" + rows
                                + " blocks=" + nb + " out[" + k / rows + "][" + k % rows + "]");
                        }
                    }
                }
            }
        }
    }

    /**
     * Every finite half as an F16 weight (the AVX-512 path converts with vcvtph2ps, the others through the table): each
     * path gives the bits of the F32 kernel on the same values, subnormals, zeros of both signs and 65504 included.
     */
    @Test
    void everyFiniteHalfWeightGivesTheF32BitsOnEveryPath() {
        int rows = 64;
        int n = 1024;
        byte[] w = new byte[rows * n * 2];
        for (int h = 0; h < 65536; h++) {
            int v = (h & 0x7C00) == 0x7C00 ? h & 0x83FF : h; // infinities and NaNs become other finite halves
            w[2 * h] = (byte) v;
            w[2 * h + 1] = (byte) (v >> 8);
        }
        float[] x = randoms(new SplittableRandom(4), 3 * n, 1f);
        float[] asF32 = new float[rows * n];
        Quants.dequantize(GgmlType.F16, ByteBuffer.wrap(w), 0, asF32, 0, asF32.length);
        float[] want = nativeMatmul(GgmlType.F32, Quants.quantize(GgmlType.F32, asF32), rows, n, x, 3,
            LlamaKernels.SIMD_GENERIC);
        for (int simd : NativeLlamaForwardTest.simdLevels()) {
            float[] got = nativeMatmul(GgmlType.F16, w, rows, n, x, 3, simd);
            for (int k = 0; k < want.length; k++) {
                assertBits(want[k], got[k], "F16, " + LlamaKernels.simdName(simd) + ", out[" + k / rows + "][" + k % rows
                    + "]");
            }
        }
    }

    /** Where the CPU has AVX-512 with VNNI, the tests above run its path (and skip it, saying so, where it has not). */
    @Test
    void theAvx512VnniPathRunsWhereTheCpuHasIt() {
        assumeTrue(NativeLlamaForwardTest.cpuinfoSimd() == LlamaKernels.SIMD_AVX512_VNNI, "this CPU lacks AVX-512 with "
            + "VNNI (/proc/cpuinfo flags avx512f, avx512bw, avx512vl, avx512_vnni): the avx512-vnni path is untested here");
        assertArrayEquals(new int[] {LlamaKernels.SIMD_GENERIC, LlamaKernels.SIMD_AVX2, LlamaKernels.SIMD_AVX512_VNNI},
            NativeLlamaForwardTest.simdLevels());
        float[] y = new float[32];
        assertEquals(LlamaKernels.SIMD_AVX512_VNNI, LlamaKernels.testMatmul(GgmlType.Q4_0.id(), new byte[32 * 18], 32, 32,
            new float[32], 1, y, LlamaKernels.SIMD_AVX512_VNNI));
    }

    /** The activation quantizer and the half conversions the kernels use are Quants', bit for bit. */
    @Test
    void quantizerAndConversionsMatchQuants() {
        SplittableRandom rnd = new SplittableRandom(3);
        for (int trial = 0; trial < 200; trial++) {
            float bound = (float) Math.pow(10, rnd.nextInt(-30, 30));
            float[] x = randoms(rnd, 64, bound);
            if (trial % 7 == 0) {
                x[3] = 0f;
                x[40] = -0f;
                java.util.Arrays.fill(x, 32, 64, 0f); // an all-zero block
            }
            if (trial % 5 == 0) {
                x[5] = 2.5f * (x[0] == 0 ? 1 : Math.abs(x[0]) / x[0]); // halves of the rounding
            }
            byte[] got = new byte[68];
            LlamaKernels.testQuantizeQ8_0(x, 64, got);
            assertArrayEquals(Quants.quantizeRowQ8_0(x), got, "trial " + trial);
        }
        for (int h = 0; h < 65536; h++) {
            assertEquals(Float.floatToRawIntBits(Quants.f16ToF32((short) h)),
                Float.floatToRawIntBits(LlamaKernels.testF16ToF32(h)), "half " + Integer.toHexString(h));
        }
        for (int i = 0; i < 200_000; i++) {
            float f = Float.intBitsToFloat(rnd.nextInt());
            assertEquals(Quants.f32ToF16(f) & 0xFFFF, LlamaKernels.testF32ToF16(f) & 0xFFFF, "float " + f);
        }
    }

    private Path synth(String name, LlamaConfig c, Map<Tensor, GgmlType> types, long seed) {
        return SyntheticGguf.write(tmp.resolve(name), c, types, seed, 0.3f, 1e-5f, GgufLlama.DEFAULT_ROPE_BASE);
    }

    /**
     * Worst |native - java| / max(1, max |java logit|) over 12 positions of random tokens. The two differ in the
     * order of additions (native: 8 lanes in matmuls and attention scores; Java: sequential) and in libm; for
     * Q8_0/Q4_0 a last-bit difference in an activation may also move one quantized value by one step.
     */
    /** The weight kernels against the reference, both with a float KV cache (F16's roundings would blur the bound). */
    private static double worstAgainstJava(GgufLlama g) {
        return worstAgainstJava(g, KvCacheType.F32);
    }

    private static double worstAgainstJava(GgufLlama g, KvCacheType kv) {
        ReferenceTransformer ref = new ReferenceTransformer(g, kv);
        LlamaConfig c = g.config();
        SplittableRandom rnd = new SplittableRandom(5);
        double worst = 0;
        try (NativeLlamaModel m = NativeLlamaModel.mapGguf(g); NativeLlamaBatch b = m.newBatch(1, 1, kv)) {
            float[] got = new float[c.vocabSize()];
            for (int p = 0; p < Math.min(12, c.seqLen()); p++) {
                int token = rnd.nextInt(c.vocabSize());
                float[] want = ref.forward(token, p);
                b.forward(1, new int[] {token}, new int[] {p}, new int[] {0}, 1, new int[] {0}, 1);
                b.copyLogits(0, got);
                double scale = 1;
                for (float f : want) {
                    scale = Math.max(scale, Math.abs(f));
                }
                for (int t = 0; t < got.length; t++) {
                    worst = Math.max(worst, Math.abs(got[t] - want[t]) / scale);
                }
            }
        }
        return worst;
    }

    /** Mixed types as llama.cpp's quantizer makes them, and then some. */
    private static Map<Tensor, GgmlType> mixed(GgmlType main, GgmlType w2, GgmlType emb, GgmlType cls) {
        Map<Tensor, GgmlType> m = new EnumMap<>(SyntheticGguf.allOf(main));
        m.put(Tensor.W2, w2);
        m.put(Tensor.TOKEN_EMBEDDING, emb);
        m.put(Tensor.WCLS, cls);
        return m;
    }

    @Test
    void syntheticModelsMatchTheJavaReference() {
        LlamaConfig small = GgufLlamaTest.SMALL; // GQA 16/4, head size 6, hidden 160, vocab 67, untied
        LlamaConfig shared = new LlamaConfig(64, 96, 3, 8, 2, 131, 20, true);
        for (GgmlType type : TYPES) {
            for (LlamaConfig c : new LlamaConfig[] {small, shared}) {
                double worst = worstAgainstJava(GgufLlama.of(GgufFile.open(synth(type + ".gguf", c,
                    SyntheticGguf.allOf(type), 21))));
                System.out.println("native vs Java, " + type + " " + c + ": " + worst);
                assertTrue(worst < tolerance(type), type + " " + c + ": worst " + worst);
            }
        }
        Map<String, Map<Tensor, GgmlType>> mixes = Map.of(
            "q8_0 + f32 ffn_down", mixed(GgmlType.Q8_0, GgmlType.F32, GgmlType.Q8_0, GgmlType.Q8_0),
            "q4_0 + f16 output, bf16 embedding", mixed(GgmlType.Q4_0, GgmlType.Q8_0, GgmlType.BF16, GgmlType.F16),
            "f16 + q4_0 ffn_down", mixed(GgmlType.F16, GgmlType.Q4_0, GgmlType.F32, GgmlType.Q8_0));
        for (Map.Entry<String, Map<Tensor, GgmlType>> e : mixes.entrySet()) {
            double worst = worstAgainstJava(GgufLlama.of(GgufFile.open(synth("mix.gguf", small, e.getValue(), 22))));
            System.out.println("native vs Java, " + e.getKey() + ": " + worst);
            assertTrue(worst < tolerance(GgmlType.Q4_0), e.getKey() + ": worst " + worst);
        }
    }

    /**
     * Documented tolerances of {@link #worstAgainstJava} (relative to the row's largest logit, or 1). F32/F16/BF16:
     * 2e-5, as the .bin tests (measured about 2e-6). Q8_0/Q4_0: 5e-3, room for a few activations quantized one step
     * apart (measured 0 to 4e-7 here: quantization absorbs most last-bit differences, and with head size 6 the
     * attention scores have no 8-lane part, so the two sides often agree exactly).
     */
    static double tolerance(GgmlType type) {
        return switch (type) {
            case F32, F16, BF16 -> 2e-5;
            default -> 5e-3;
        };
    }

    /** F16 and BF16 weights compute the bits of the F32 model that holds the same values. */
    @Test
    void halfModelsGiveTheBitsOfTheirF32Copy() {
        for (GgmlType type : new GgmlType[] {GgmlType.F16, GgmlType.BF16}) {
            Path typed = synth(type + ".gguf", GgufLlamaTest.SMALL, SyntheticGguf.allOf(type), 31);
            Path f32 = GgufLlamaTest.asF32(typed, tmp.resolve(type + "-f32.gguf"), GgufLlamaTest.SMALL, 1e-5f);
            int[] tokens = {1, 5, 9, 30, 66, 2, 0, 17, 44, 8};
            try (NativeLlamaModel a = NativeLlamaModel.mapGguf(typed, 0); NativeLlamaModel b = NativeLlamaModel.mapGguf(f32, 0)) {
                NativeLlamaForwardTest.assertBitwise(NativeLlamaForwardTest.alone(b, tokens, 1),
                    NativeLlamaForwardTest.alone(a, tokens, 1), type + " vs F32 copy");
            }
        }
    }

    /** Quantized models keep the batch, thread-count and instruction-set invariance of the F32 path. */
    @Test
    void quantizedModelsAreBatchThreadAndIsaInvariant() {
        LlamaConfig c = new LlamaConfig(64, 96, 2, 8, 4, 101, 24, false);
        int[] tokens = {1, 7, 99, 3, 50, 20, 21, 22, 80, 4, 6, 60};
        for (Map<Tensor, GgmlType> types : java.util.List.of(mixed(GgmlType.Q8_0, GgmlType.F32, GgmlType.Q8_0,
            GgmlType.Q8_0), mixed(GgmlType.Q4_0, GgmlType.Q4_0, GgmlType.Q4_0, GgmlType.F16),
            SyntheticGguf.allOf(GgmlType.BF16))) {
            try (NativeLlamaModel m = NativeLlamaModel.mapGguf(synth("inv.gguf", c, types, 41), 0)) {
                NativeLlamaForwardTest.checkInvariance(m, tokens);
            }
        }
    }

    @Test
    void contextLengthMayExceedTheTrainedOne() {
        Path p = synth("ctx.gguf", GgufLlamaTest.SMALL, SyntheticGguf.allOf(GgmlType.Q8_0), 5);
        try (NativeLlamaModel m = NativeLlamaModel.mapGguf(p, 100); NativeLlamaBatch b = m.newBatch(1, 1)) {
            assertEquals(100, m.config().seqLen());
            b.forward(1, new int[] {3}, new int[] {99}, new int[] {0}, 1, new int[] {0}, 1);
            assertThrows(IllegalArgumentException.class,
                () -> b.forward(1, new int[] {3}, new int[] {100}, new int[] {0}, 1, new int[] {0}, 1));
            assertThrows(IllegalStateException.class, () -> m.tensorAddress(Tensor.WQ));
            assertThrows(IllegalStateException.class, m::checkpoint);
            assertTrue(m.gguf().isPresent());
        }
    }

    /** The C loader checks the descriptors again: a layout the Java side would never send is ERR_CONFIG, not a crash. */
    @Test
    void theNativeLoaderRejectsBadDescriptors() {
        LlamaConfig c = new LlamaConfig(64, 96, 2, 8, 4, 101, 24, false);
        GgufLlama g = GgufLlama.of(GgufFile.open(synth("ok.gguf", c, SyntheticGguf.allOf(GgmlType.Q8_0), 2)));
        int n = c.nLayers();
        int[] cfg = {c.dim(), c.hiddenDim(), c.nLayers(), c.nHeads(), c.nKvHeads(), c.vocabSize(), c.seqLen()};
        long[] offsets = new long[Tensor.values().length * n];
        int[] types = new int[offsets.length];
        g.flatten(offsets, types);
        String path = g.file().path().toString();
        long bytes = g.file().fileBytes();
        long[] out = new long[2];
        java.util.function.BiFunction<long[], int[], Integer> map = (o, t) -> {
            int st = LlamaKernels.modelMapGguf(path, bytes, cfg, new float[] {1e-5f, 10000f}, o, t, out);
            if (st == 0) {
                LlamaKernels.modelFree(out[0]);
            }
            return st;
        };
        assertEquals(0, map.apply(offsets, types));
        int config = org.sparknative.kernels.NativeStatus.ERR_CONFIG.code();
        int[] badType = types.clone();
        badType[Tensor.RMS_FFN.ordinal() * n + 1] = GgmlType.F16.id(); // a norm must be F32
        assertEquals(config, map.apply(offsets, badType));
        badType = types.clone();
        badType[Tensor.WQ.ordinal() * n] = GgmlType.Q4_1.id(); // not a supported type
        assertEquals(config, map.apply(offsets, badType));
        long[] badOffset = offsets.clone();
        badOffset[Tensor.W2.ordinal() * n + 1] = bytes - 100; // runs past the end of the file
        assertEquals(config, map.apply(badOffset, types));
        badOffset = offsets.clone();
        badOffset[Tensor.WCLS.ordinal() * n] = -34;
        assertEquals(config, map.apply(badOffset, types));
        int[] odd = cfg.clone();
        odd[1] = 100; // hidden 100: ffn_down rows of 100 are not whole Q8_0 blocks
        assertEquals(config, LlamaKernels.modelMapGguf(path, bytes, odd, new float[] {1e-5f, 10000f}, offsets, types,
            out));
        assertEquals(config, LlamaKernels.modelMapGguf(path, bytes, cfg, new float[] {0f, 10000f}, offsets, types, out));
    }

    // ---- the real stories260K files ----------------------------------------------------------------------------

    /** Native against the Java reference on the four real files, within {@link #tolerance} of their matrix type. */
    @Test
    void realFilesMatchTheJavaReference() {
        Map<String, GgmlType> files = Map.of(TestModels.STORIES_260K_GGUF, GgmlType.F32, TestModels.STORIES_260K_GGUF_F16,
            GgmlType.F16, TestModels.STORIES_260K_GGUF_Q8_0, GgmlType.Q8_0, TestModels.STORIES_260K_GGUF_Q4_0,
            GgmlType.Q4_0);
        for (Map.Entry<String, GgmlType> e : files.entrySet()) {
            GgufLlama g = GgufLlama.of(GgufFile.open(TestModels.require(e.getKey())));
            assertEquals(e.getValue(), g.tensor(Tensor.WQ, 0).type());
            double worst = worstAgainstJava(g);
            System.out.println("native vs Java, " + e.getKey() + ": " + worst);
            assertTrue(worst < tolerance(e.getValue()), e.getKey() + ": worst " + worst);
        }
    }

    /**
     * The F32 GGUF runs the .bin's tensors through the same kernels: the same logits, bit for bit, with the same KV
     * cache type (each model's default differs: F32 for the .bin, F16 for GGUF).
     */
    @Test
    void f32GgufGivesTheNativeLogitsOfTheBinCheckpoint() {
        int[] tokens = {1, 403, 407, 261, 378, 432, 383, 286, 261, 499};
        try (NativeLlamaModel bin = NativeLlamaModel.map(Checkpoint.open(TestModels.require(TestModels.STORIES_260K)));
             NativeLlamaModel gguf = NativeLlamaModel.mapGguf(TestModels.require(TestModels.STORIES_260K_GGUF), 512)) {
            NativeLlamaForwardTest.assertBitwise(NativeLlamaForwardTest.alone(bin, tokens, 1),
                NativeLlamaForwardTest.alone(gguf, tokens, 2, KvCacheType.F32), "F32 GGUF vs .bin");
            NativeLlamaForwardTest.assertBitwise(NativeLlamaForwardTest.alone(bin, tokens, 1, KvCacheType.F16),
                NativeLlamaForwardTest.alone(gguf, tokens, 2), "F32 GGUF vs .bin, F16 caches");
            float[][] f32 = NativeLlamaForwardTest.alone(gguf, tokens, 1, KvCacheType.F32);
            float[][] f16 = NativeLlamaForwardTest.alone(gguf, tokens, 1, KvCacheType.F16);
            assertFalse(java.util.Arrays.equals(f32[tokens.length - 1], f16[tokens.length - 1]),
                "the F16 cache rounds, so the logits move");
        }
    }

    /**
     * With an F16 KV cache (the GGUF default) the native pass and the reference make the same roundings (keys,
     * values and the query to binary16); they agree within the F32 bound scaled by binary16's precision, and
     * their greedy texts are the same.
     */
    @Test
    void f16KvCacheMatchesTheJavaReference() {
        LlamaConfig shared = new LlamaConfig(64, 96, 3, 8, 2, 131, 20, true);
        for (GgmlType type : new GgmlType[] {GgmlType.F32, GgmlType.Q8_0}) {
            double worst = worstAgainstJava(GgufLlama.of(GgufFile.open(synth("kv16-" + type + ".gguf", shared,
                SyntheticGguf.allOf(type), 23))), KvCacheType.F16);
            System.out.println("native vs Java, F16 KV cache, " + type + ": " + worst);
            assertTrue(worst < 5e-3, type + ": worst " + worst);
        }
    }

    private static String generate(String file, int context, String prompt, float temperature, float topp, long seed,
                                   int steps) {
        try (NativeLlamaModel m = NativeLlamaModel.mapGguf(TestModels.require(file), context);
             NativeTokenizer tok = NativeTokenizer.load(TestModels.require(TestModels.TOK_512), m.config().vocabSize())) {
            return LlamaTestSupport.generate(m, tok, prompt, temperature, topp, seed, steps, 1);
        }
    }

    /**
     * llama2.c's outputs ({@code -n 200}: 200 positions, past the trained context of 128, so the context is 512):
     * greedy from the F32 and F16 files, and {@code -t 1 -p 1 -s 42} from the F32 one (the .bin's logits, bit for bit).
     */
    @Test
    void f32AndF16GreedyAndSampledTextIsLlama2cs() {
        assertEquals(TestModels.GREEDY_260K, generate(TestModels.STORIES_260K_GGUF, 512, "", 0f, 0.9f, 0, 200));
        assertEquals(TestModels.GREEDY_260K, generate(TestModels.STORIES_260K_GGUF_F16, 512, "", 0f, 0.9f, 0, 200));
        assertEquals(TestModels.SAMPLED_260K_SEED42, generate(TestModels.STORIES_260K_GGUF, 512, "", 1f, 1f, 42, 200));
    }

    /** Greedy: the prompt (BOS first), then {@code n} tokens, decoded with tok512 as llama.cpp prints them. */
    private static String greedyAfterPrompt(String file, String prompt, int n) {
        Tokenizer tok = Tokenizer.load(TestModels.require(TestModels.TOK_512), 512);
        int[] p = tok.encode(prompt.getBytes(StandardCharsets.UTF_8), true, false);
        ByteArrayOutputStream text = new ByteArrayOutputStream();
        text.writeBytes(prompt.getBytes(StandardCharsets.UTF_8));
        try (NativeLlamaModel m = NativeLlamaModel.mapGguf(TestModels.require(file), 0);
             NativeLlamaBatch b = m.newBatch(1, p.length)) {
            int[] pos = new int[p.length];
            for (int i = 0; i < p.length; i++) {
                pos[i] = i;
            }
            b.forward(p.length, p, pos, new int[p.length], 1, new int[] {p.length - 1}, 2);
            int prev = p[p.length - 1];
            for (int i = 0; i < n; i++) {
                int next = b.sample(0, 0f, 0.9f, new long[] {1});
                text.writeBytes(tok.decode(prev, next));
                b.forward(1, new int[] {next}, new int[] {p.length + i}, new int[] {0}, 1, new int[] {0}, 1);
                prev = next;
            }
        }
        return Tokenizer.decodeUtf8(text.toByteArray());
    }

    /** llama.cpp's greedy 48 tokens after "The old man" (llama.cpp's KV cache is F16, ours F32). */
    @Test
    void quantizedGreedyTextIsLlamaCpps() {
        assertEquals(TestModels.OLD_MAN_F32_Q8_0, greedyAfterPrompt(TestModels.STORIES_260K_GGUF, "The old man", 48));
        assertEquals(TestModels.OLD_MAN_F32_Q8_0, greedyAfterPrompt(TestModels.STORIES_260K_GGUF_Q8_0, "The old man",
            48));
        assertEquals(TestModels.OLD_MAN_Q4_0, greedyAfterPrompt(TestModels.STORIES_260K_GGUF_Q4_0, "The old man", 48));
    }
}

package org.sparknative.kernels.llama;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.EnumMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sparknative.kernels.gguf.GgmlType;
import org.sparknative.kernels.gguf.GgufException;
import org.sparknative.kernels.gguf.GgufFile;
import org.sparknative.kernels.gguf.GgufTensor;
import org.sparknative.kernels.gguf.GgufWriter;
import org.sparknative.kernels.testing.TestModels;

/**
 * {@link GgufLlama}'s validation and the Java reference ({@link ReferenceTransformer}) on GGUF models: the real
 * stories260K files against llama2.c's output, and synthetic models of every supported type.
 */
class GgufLlamaTest {
    /** GQA, head size 6 (no whole 8-lane block), hidden 96 (3 Q8_0 blocks), unshared classifier, odd vocab. */
    static final LlamaConfig SMALL = new LlamaConfig(96, 160, 2, 16, 4, 67, 24, false);

    @TempDir
    Path tmp;

    static GgufLlama real(String name, int context) {
        return GgufLlama.of(GgufFile.open(TestModels.require(name)), context);
    }

    @Test
    void readsTheRealF32File() {
        GgufLlama m = real(TestModels.STORIES_260K_GGUF, 0);
        assertEquals(new LlamaConfig(64, 172, 5, 8, 4, 512, 128, false), m.config());
        assertEquals(128, m.trainedContextLength());
        assertEquals(1e-5f, m.rmsEps());
        assertEquals(10000f, m.ropeBase());
        assertEquals(512, real(TestModels.STORIES_260K_GGUF, 512).config().seqLen());
        GgufLlama.TensorRef w2 = m.tensor(Tensor.W2, 3);
        assertEquals("blk.3.ffn_down.weight", w2.name());
        assertEquals(64, w2.rows());
        assertEquals(172, w2.cols());
        assertEquals(64L * 172 * 4, w2.byteSize());
        GgufLlama q4 = real(TestModels.STORIES_260K_GGUF_Q4_0, 0);
        assertEquals(GgmlType.Q4_0, q4.tensor(Tensor.WQ, 0).type());
        assertEquals(GgmlType.F32, q4.tensor(Tensor.W2, 0).type());
        assertEquals(GgmlType.Q4_0, q4.tensor(Tensor.TOKEN_EMBEDDING, 0).type());
        assertEquals(GgmlType.F16, real(TestModels.STORIES_260K_GGUF_F16, 0).tensor(Tensor.W2, 4).type());
    }

    /**
     * The F32 GGUF holds stories260K.bin's tensors bit for bit, so the reference's logits are the same bits with the
     * same (float) KV cache.
     */
    @Test
    void f32GgufGivesTheLogitsOfTheBinCheckpoint() {
        ReferenceTransformer bin = new ReferenceTransformer(Checkpoint.open(TestModels.require(TestModels.STORIES_260K)));
        ReferenceTransformer gguf = new ReferenceTransformer(real(TestModels.STORIES_260K_GGUF, 512), KvCacheType.F32);
        int[] tokens = {1, 403, 407, 261, 378, 432, 383, 286, 261, 499, 7, 300};
        for (int p = 0; p < tokens.length; p++) {
            float[] a = bin.forward(tokens[p], p);
            float[] b = gguf.forward(tokens[p], p);
            for (int t = 0; t < a.length; t++) {
                assertEquals(Float.floatToRawIntBits(a[t]), Float.floatToRawIntBits(b[t]), "pos " + p + " token " + t);
            }
        }
    }

    private static String greedy(GgufLlama m, String prompt, int newTokens) {
        Tokenizer tok = Tokenizer.load(TestModels.require(TestModels.TOK_512), m.config().vocabSize());
        ReferenceGenerator.Result r = ReferenceGenerator.generate(new ReferenceTransformer(m), tok,
            prompt.getBytes(StandardCharsets.UTF_8), newTokens, 0f, 0.9f, 0);
        return prompt + r.completion();
    }

    /** llama2.c's greedy 200 tokens; they run past the trained context of 128, so the context is 512 (the .bin's). */
    @Test
    void f32AndF16GreedyTextIsLlama2cs() {
        assertEquals(TestModels.GREEDY_260K, greedy(real(TestModels.STORIES_260K_GGUF, 512), "", 200));
        assertEquals(TestModels.GREEDY_260K, greedy(real(TestModels.STORIES_260K_GGUF_F16, 512), "", 200));
    }

    /** llama.cpp's greedy 48 tokens after "The old man" (its KV cache is F16, ours F32). */
    @Test
    void quantizedGreedyTextIsLlamaCpps() {
        assertEquals(TestModels.OLD_MAN_F32_Q8_0, greedy(real(TestModels.STORIES_260K_GGUF, 0), "The old man", 48));
        assertEquals(TestModels.OLD_MAN_F32_Q8_0, greedy(real(TestModels.STORIES_260K_GGUF_Q8_0, 0), "The old man", 48));
        assertEquals(TestModels.OLD_MAN_Q4_0, greedy(real(TestModels.STORIES_260K_GGUF_Q4_0, 0), "The old man", 48));
    }

    /** A copy of {@code src} with every tensor converted to F32 (exactly: each value as the source type holds it). */
    static Path asF32(Path src, Path dst, LlamaConfig c, float eps) {
        GgufFile f = GgufFile.open(src);
        GgufWriter w = SyntheticGguf.header(c, eps, GgufLlama.DEFAULT_ROPE_BASE);
        for (GgufTensor t : f.tensors()) {
            w.addTensor(t.name(), GgmlType.F32, t.dims(), f.dequantize(t));
        }
        w.write(dst);
        return dst;
    }

    /**
     * F16 and BF16 weights convert exactly to float and accumulate as F32 does, so a model computes the same bits
     * as its F32 copy; Q8_0/Q4_0 quantize the activations too, so they differ from their F32 copy a little: at most 5%
     * of the row's largest logit (or of 1) here.
     */
    @Test
    void typedReferenceAgainstItsF32Copy() {
        for (GgmlType type : new GgmlType[] {GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0}) {
            Path typed = SyntheticGguf.write(tmp.resolve(type + ".gguf"), SMALL, SyntheticGguf.allOf(type), 3, 0.2f,
                1e-5f, GgufLlama.DEFAULT_ROPE_BASE);
            Path f32 = asF32(typed, tmp.resolve(type + "-f32.gguf"), SMALL, 1e-5f);
            ReferenceTransformer a = new ReferenceTransformer(GgufLlama.of(GgufFile.open(typed)));
            ReferenceTransformer b = new ReferenceTransformer(GgufLlama.of(GgufFile.open(f32)));
            double worst = 0;
            boolean anyDiff = false;
            for (int p = 0; p < 10; p++) {
                int token = (p * 31 + 5) % SMALL.vocabSize();
                float[] x = a.forward(token, p);
                float[] y = b.forward(token, p);
                double scale = 1.0;
                for (float f : y) {
                    scale = Math.max(scale, Math.abs(f));
                }
                for (int t = 0; t < x.length; t++) {
                    anyDiff |= Float.floatToRawIntBits(x[t]) != Float.floatToRawIntBits(y[t]);
                    worst = Math.max(worst, Math.abs(x[t] - y[t]) / scale);
                }
            }
            if (type == GgmlType.F16 || type == GgmlType.BF16) {
                assertEquals(0.0, worst, type + ": not the bits of its F32 copy");
            } else {
                assertTrue(anyDiff, type + ": activation quantization should show");
                // 8-bit activations: a few percent of the row's largest logit (measured: see the report)
                System.out.println(type + " vs F32 copy: worst difference / max |logit| = " + worst);
                assertTrue(worst < 0.05, type + ": worst logit difference / max |logit| " + worst);
            }
        }
    }

    @Test
    void epsAndRopeBaseComeFromTheFile() {
        LlamaConfig c = new LlamaConfig(32, 64, 1, 4, 4, 40, 8, true);
        Map<Tensor, GgmlType> f32 = SyntheticGguf.allOf(GgmlType.F32);
        GgufLlama dflt = GgufLlama.of(GgufFile.open(SyntheticGguf.write(tmp.resolve("a.gguf"), c, f32, 1, 0.3f, 1e-5f,
            Float.NaN)));
        GgufLlama other = GgufLlama.of(GgufFile.open(SyntheticGguf.write(tmp.resolve("b.gguf"), c, f32, 1, 0.3f, 1e-6f,
            500000f)));
        assertEquals(10000f, dflt.ropeBase());
        assertEquals(500000f, other.ropeBase());
        assertEquals(1e-6f, other.rmsEps());
        assertTrue(dflt.config().sharedClassifier());
        assertEquals(dflt.tensor(Tensor.TOKEN_EMBEDDING, 0), dflt.tensor(Tensor.WCLS, 0));
        float[] x = new ReferenceTransformer(dflt).forward(3, 5);
        float[] y = new ReferenceTransformer(other).forward(3, 5);
        assertNotEquals(x[0], y[0]);
    }

    private GgufException rejected(GgufWriter w) {
        Path p = tmp.resolve("bad.gguf");
        w.write(p);
        return assertThrows(GgufException.class, () -> GgufLlama.of(GgufFile.open(p)));
    }

    /** SMALL's tensors, all F32, except that {@code replace} (if not null) is added in place of its name. */
    private static GgufWriter model(GgufWriter w, LlamaConfig c, String skip) {
        for (Tensor t : Tensor.values()) {
            int layers = GgufLlama.perLayer(t) ? c.nLayers() : 1;
            for (int l = 0; l < layers; l++) {
                String name = GgufLlama.tensorName(t, l);
                if (name.equals(skip)) {
                    continue;
                }
                long[] dims = SyntheticGguf.dims(t, c);
                long n = 1;
                for (long d : dims) {
                    n *= d;
                }
                w.addTensor(name, GgmlType.F32, dims, new float[(int) n]);
            }
        }
        return w;
    }

    @Test
    void errorsNameWhatIsWrong() {
        LlamaConfig c = new LlamaConfig(32, 64, 2, 4, 2, 40, 8, false);
        GgufException e = rejected(model(SyntheticGguf.header(c, 1e-5f, Float.NaN).putString("general.architecture",
            "gpt2"), c, null));
        assertTrue(e.getMessage().contains("general.architecture: expected one of [llama], got 'gpt2'"), e.getMessage());

        e = rejected(model(SyntheticGguf.header(c, 1e-5f, Float.NaN), c, "blk.1.attn_v.weight"));
        assertTrue(e.getMessage().contains("tensor 'blk.1.attn_v.weight' is missing (expected dims [32, 16])"),
            e.getMessage());

        e = rejected(model(SyntheticGguf.header(c, 1e-5f, Float.NaN), c, "blk.0.ffn_down.weight")
            .addTensor("blk.0.ffn_down.weight", GgmlType.F32, new long[] {32, 64}, new float[32 * 64]));
        assertTrue(e.getMessage().contains("tensor 'blk.0.ffn_down.weight': expected dims [64, 32], got [32, 64]"),
            e.getMessage());

        e = rejected(model(SyntheticGguf.header(c, 1e-5f, Float.NaN), c, "blk.1.attn_q.weight")
            .addTensor("blk.1.attn_q.weight", GgmlType.Q4_1, new long[] {32, 32}, new byte[32 * 20]));
        assertTrue(e.getMessage().contains("tensor 'blk.1.attn_q.weight': type Q4_1 is not supported here; expected"
            + " one of F32, F16, BF16, Q8_0, Q4_0"), e.getMessage());

        e = rejected(model(SyntheticGguf.header(c, 1e-5f, Float.NaN), c, "output_norm.weight")
            .addTensor("output_norm.weight", GgmlType.F16, new long[] {32}, new float[32]));
        assertTrue(e.getMessage().contains("tensor 'output_norm.weight': type F16 is not supported here; expected F32"),
            e.getMessage());

        e = rejected(model(SyntheticGguf.header(c, 1e-5f, Float.NaN).putUint32("llama.rope.dimension_count", 4), c,
            null));
        assertTrue(e.getMessage().contains("rope.dimension_count: expected the head size 8"), e.getMessage());

        e = rejected(model(SyntheticGguf.header(c, 1e-5f, Float.NaN).putUint32("llama.attention.head_count", 5), c,
            null));
        assertTrue(e.getMessage().contains("inconsistent llama shape"), e.getMessage());
    }

    @Test
    void descriptorsFlattenPerKindThenLayer() {
        GgufLlama m = real(TestModels.STORIES_260K_GGUF_Q8_0, 0);
        int n = m.config().nLayers();
        long[] offsets = new long[Tensor.values().length * n];
        int[] types = new int[offsets.length];
        m.flatten(offsets, types);
        assertEquals(m.tensor(Tensor.WK, 2).offset(), offsets[Tensor.WK.ordinal() * n + 2]);
        assertEquals(GgmlType.Q8_0.id(), types[Tensor.WCLS.ordinal() * n + 4]);
        assertArrayEquals(new int[] {GgmlType.F32.id()}, new int[] {types[Tensor.W2.ordinal() * n]});
    }

    @Test
    void typesOfATensorMapAreIndependent() {
        Map<Tensor, GgmlType> m = new EnumMap<>(SyntheticGguf.allOf(GgmlType.Q8_0));
        m.put(Tensor.W2, GgmlType.F32);
        Path p = SyntheticGguf.write(tmp.resolve("mixed.gguf"), SMALL, m, 9, 0.2f, 1e-5f, 10000f);
        GgufLlama g = GgufLlama.of(GgufFile.open(p));
        assertEquals(GgmlType.F32, g.tensor(Tensor.W2, 1).type());
        assertEquals(GgmlType.Q8_0, g.tensor(Tensor.W3, 1).type());
        float[] logits = new ReferenceTransformer(g).forward(1, 0);
        assertTrue(Float.isFinite(logits[0]));
    }
}

package org.sparknative.kernels.llama;

import java.nio.file.Path;
import java.util.EnumMap;
import java.util.Map;
import java.util.SplittableRandom;
import org.sparknative.kernels.gguf.GgmlType;
import org.sparknative.kernels.gguf.GgufWriter;

/**
 * Random {@code llama}-architecture GGUF models for the tests, written with {@link GgufWriter} (and so
 * {@link org.sparknative.kernels.gguf.Quants}' reference quantizers): matrices uniform in {@code [-bound, bound]},
 * norm weights uniform in {@code [0.5, 1.5]}, each tensor kind of a chosen type. Stateless.
 */
final class SyntheticGguf {
    private SyntheticGguf() {
    }

    /** The type of every matrix kind (and the token embedding) set to {@code type}; norms F32. */
    static Map<Tensor, GgmlType> allOf(GgmlType type) {
        Map<Tensor, GgmlType> m = new EnumMap<>(Tensor.class);
        for (Tensor t : Tensor.values()) {
            m.put(t, t == Tensor.RMS_ATT || t == Tensor.RMS_FFN || t == Tensor.RMS_FINAL ? GgmlType.F32 : type);
        }
        return m;
    }

    /**
     * Writes a model. {@code c.seqLen()} becomes {@code llama.context_length}; {@code c.sharedClassifier()} leaves
     * {@code output.weight} out.
     *
     * @param types the type of each {@link Tensor} kind (missing: F32)
     * @param eps   {@code llama.attention.layer_norm_rms_epsilon}
     * @param base  {@code llama.rope.freq_base}, or {@code NaN} to leave the key out
     */
    static Path write(Path file, LlamaConfig c, Map<Tensor, GgmlType> types, long seed, float bound, float eps,
                      float base) {
        GgufWriter w = header(c, eps, base);
        SplittableRandom rnd = new SplittableRandom(seed);
        for (Tensor t : Tensor.values()) {
            if (t == Tensor.WCLS && c.sharedClassifier()) {
                continue;
            }
            int layers = GgufLlama.perLayer(t) ? c.nLayers() : 1;
            for (int l = 0; l < layers; l++) {
                long[] dims = dims(t, c);
                long n = 1;
                for (long d : dims) {
                    n *= d;
                }
                float[] v = new float[(int) n];
                boolean norm = dims.length == 1;
                for (int i = 0; i < v.length; i++) {
                    v[i] = norm ? (float) (0.5 + rnd.nextDouble()) : (float) ((rnd.nextDouble() * 2 - 1) * bound);
                }
                w.addTensor(GgufLlama.tensorName(t, l), types.getOrDefault(t, GgmlType.F32), dims, v);
            }
        }
        w.write(file);
        return file;
    }

    /** The metadata of a llama model of shape {@code c}. */
    static GgufWriter header(LlamaConfig c, float eps, float base) {
        GgufWriter w = new GgufWriter()
            .putString("general.architecture", "llama")
            .putUint32("llama.embedding_length", c.dim())
            .putUint32("llama.feed_forward_length", c.hiddenDim())
            .putUint32("llama.block_count", c.nLayers())
            .putUint32("llama.attention.head_count", c.nHeads())
            .putUint32("llama.attention.head_count_kv", c.nKvHeads())
            .putUint32("llama.context_length", c.seqLen())
            .putUint32("llama.rope.dimension_count", c.headSize())
            .putFloat32("llama.attention.layer_norm_rms_epsilon", eps);
        if (!Float.isNaN(base)) {
            w.putFloat32("llama.rope.freq_base", base);
        }
        return w;
    }

    /** GGUF dims ({@code ne0} first) of a tensor kind. */
    static long[] dims(Tensor t, LlamaConfig c) {
        int d = c.dim();
        int kvd = c.kvDim();
        int h = c.hiddenDim();
        return switch (t) {
            case TOKEN_EMBEDDING, WCLS -> new long[] {d, c.vocabSize()};
            case RMS_ATT, RMS_FFN, RMS_FINAL -> new long[] {d};
            case WQ, WO -> new long[] {d, d};
            case WK, WV -> new long[] {d, kvd};
            case W1, W3 -> new long[] {d, h};
            case W2 -> new long[] {h, d};
        };
    }
}

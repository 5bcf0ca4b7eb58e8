package org.sparknative.kernels.llama;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.Set;
import org.sparknative.kernels.gguf.GgmlType;
import org.sparknative.kernels.gguf.GgufException;
import org.sparknative.kernels.gguf.GgufFile;
import org.sparknative.kernels.gguf.GgufTensor;

/**
 * A GGUF file of the {@code llama} architecture, validated as a model this project runs: its shape as a
 * {@link LlamaConfig}, the hyperparameters llama2.c hard-codes (RMSNorm epsilon, RoPE base) and a descriptor
 * (type, file offset, byte size) of every weight tensor of every layer.
 *
 * <p>Metadata read (GGUF specification, {@code docs/gguf.md} of ggml, "LLM" keys with the {@code llama.} prefix):
 * {@code general.architecture} must be {@code "llama"}; {@code llama.embedding_length} (dim),
 * {@code llama.feed_forward_length} (hidden), {@code llama.block_count} (layers), {@code llama.attention.head_count},
 * {@code llama.attention.head_count_kv} (default: head_count), {@code llama.context_length} (the trained context; the
 * default of the context this model runs with), {@code llama.attention.layer_norm_rms_epsilon} (required, as
 * llama.cpp requires it), {@code llama.rope.freq_base} (default 10000), {@code llama.rope.dimension_count} (default
 * the head size, and it must equal the head size: partial rotary embeddings are not supported). The vocabulary size is
 * {@code token_embd.weight}'s row count.
 *
 * <p>Tensors (ggml order: {@code dims[0]} is the row length, so a PyTorch {@code [out, in]} matrix is
 * {@code {in, out}}), with {@code d = dim}, {@code kvd = head_size * head_count_kv}, {@code h = hidden}:
 * {@code token_embd.weight {d, vocab}}, {@code output_norm.weight {d}}, {@code output.weight {d, vocab}} (absent:
 * the classifier shares the token embedding, {@link LlamaConfig#sharedClassifier()}), and per layer {@code N}
 * {@code blk.N.attn_norm.weight {d}}, {@code attn_q {d, d}}, {@code attn_k {d, kvd}}, {@code attn_v {d, kvd}},
 * {@code attn_output {d, d}}, {@code ffn_norm {d}}, {@code ffn_gate {d, h}} (llama2.c's w1), {@code ffn_down {h, d}}
 * (w2), {@code ffn_up {d, h}} (w3). Q and K are expected in llama2.c's RoPE layout (adjacent pairs rotated, as llama.cpp's
 * {@code LLAMA_ROPE_TYPE_NORM}; llama.cpp's converters store them so).
 *
 * <p>Types: matrices and the token embedding may be {@link #SUPPORTED_TYPES} (F32, F16, BF16, Q8_0, Q4_0); the norm
 * weights must be F32 (llama.cpp's quantizer always keeps 1-D tensors in F32).
 *
 * <p>Errors are {@link GgufException}s naming the file, the key or tensor, and expected vs actual. Immutable and
 * thread-safe.
 */
public final class GgufLlama {
    /** The only architecture this class reads. */
    public static final String ARCHITECTURE = "llama";
    /** The weight types the forward passes compute with (the norm weights: F32 only). */
    public static final Set<GgmlType> SUPPORTED_TYPES =
        Set.copyOf(EnumSet.of(GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0));
    /** llama.cpp's default {@code rope.freq_base}, llama2.c's constant. */
    public static final float DEFAULT_ROPE_BASE = 10000f;

    /**
     * One tensor as the forward passes read it: an {@code [rows][cols]} matrix (a vector is one row) of
     * {@code type}, {@code byteSize} bytes at absolute file offset {@code offset}.
     *
     * @param name     the GGUF tensor name
     * @param type     the element type
     * @param rows     the number of rows (outputs of a matrix)
     * @param cols     the row length ({@code ne0}: inputs of a matrix)
     * @param offset   absolute byte offset in the file
     * @param byteSize bytes, {@code rows * type.byteSize(cols)}
     */
    public record TensorRef(String name, GgmlType type, int rows, int cols, long offset, long byteSize) {
        /** Checks the fields are consistent. */
        public TensorRef {
            Objects.requireNonNull(name, "name");
            Objects.requireNonNull(type, "type");
            if (rows <= 0 || cols <= 0 || offset < 0 || byteSize != rows * type.byteSize(cols)) {
                throw new IllegalArgumentException("inconsistent tensor " + name + ": " + rows + " x " + cols + " "
                    + type + ", " + byteSize + " bytes at " + offset);
            }
        }

        /** @return bytes per row */
        public long rowBytes() {
            return byteSize / rows;
        }
    }

    private final GgufFile file;
    private final LlamaConfig config;
    private final int trainedContextLength;
    private final float rmsEps;
    private final float ropeBase;
    private final TensorRef tokenEmbedding;
    private final TensorRef outputNorm;
    private final TensorRef output;
    private final TensorRef[][] layers; // [layer][Tensor ordinal], per-layer kinds only

    private GgufLlama(GgufFile file, LlamaConfig config, int trainedContextLength, float rmsEps, float ropeBase,
                      TensorRef tokenEmbedding, TensorRef outputNorm, TensorRef output, TensorRef[][] layers) {
        this.file = file;
        this.config = config;
        this.trainedContextLength = trainedContextLength;
        this.rmsEps = rmsEps;
        this.ropeBase = ropeBase;
        this.tokenEmbedding = tokenEmbedding;
        this.outputNorm = outputNorm;
        this.output = output;
        this.layers = layers;
    }

    /**
     * @param t a tensor kind
     * @return whether {@code t} is stored once per layer ({@code blk.N.*})
     */
    public static boolean perLayer(Tensor t) {
        return t != Tensor.TOKEN_EMBEDDING && t != Tensor.RMS_FINAL && t != Tensor.WCLS;
    }

    /**
     * @param t     a tensor kind
     * @param layer its layer (ignored for the global tensors)
     * @return the GGUF name of {@code t} in layer {@code layer}, e.g. {@code blk.3.ffn_down.weight}
     */
    public static String tensorName(Tensor t, int layer) {
        return switch (t) {
            case TOKEN_EMBEDDING -> "token_embd.weight";
            case RMS_FINAL -> "output_norm.weight";
            case WCLS -> "output.weight";
            case RMS_ATT -> "blk." + layer + ".attn_norm.weight";
            case WQ -> "blk." + layer + ".attn_q.weight";
            case WK -> "blk." + layer + ".attn_k.weight";
            case WV -> "blk." + layer + ".attn_v.weight";
            case WO -> "blk." + layer + ".attn_output.weight";
            case RMS_FFN -> "blk." + layer + ".ffn_norm.weight";
            case W1 -> "blk." + layer + ".ffn_gate.weight";
            case W2 -> "blk." + layer + ".ffn_down.weight";
            case W3 -> "blk." + layer + ".ffn_up.weight";
        };
    }

    /**
     * As {@link #of(GgufFile, int)} with the file's own {@code llama.context_length}.
     *
     * @param file an opened GGUF file
     * @return the validated model
     */
    public static GgufLlama of(GgufFile file) {
        return of(file, 0);
    }

    /**
     * Validates a GGUF file as a llama model.
     *
     * @param file          an opened GGUF file
     * @param contextLength the positions this model runs ({@link LlamaConfig#seqLen()}, the KV cache length); any
     *                      positive value, also more than the trained {@code llama.context_length} (as llama.cpp's
     *                      {@code n_ctx} may be); {@code <= 0} means the trained one
     * @return the validated model
     * @throws GgufException naming the file and the key or tensor, with expected vs actual, if the architecture is not
     *                       {@code llama}, a required key is missing, the shape is inconsistent, or a tensor is
     *                       missing, of other dimensions, or of an unsupported type
     */
    public static GgufLlama of(GgufFile file, int contextLength) {
        Objects.requireNonNull(file, "file");
        String arch = file.getString("general.architecture", null);
        if (!ARCHITECTURE.equals(arch)) {
            throw new GgufException(file.location(), "general.architecture: expected one of [" + ARCHITECTURE + "], got "
                + (arch == null ? "none (key missing)" : "'" + arch + "'"));
        }
        String p = ARCHITECTURE + ".";
        int dim = file.getInt(p + "embedding_length");
        int hidden = file.getInt(p + "feed_forward_length");
        int nLayers = file.getInt(p + "block_count");
        int heads = file.getInt(p + "attention.head_count");
        int kvHeads = file.getInt(p + "attention.head_count_kv", heads);
        int trained = file.getInt(p + "context_length");
        float eps = file.getFloat(p + "attention.layer_norm_rms_epsilon");
        float base = file.getFloat(p + "rope.freq_base", DEFAULT_ROPE_BASE);
        if (!(eps > 0f) || Float.isInfinite(eps)) {
            throw new GgufException(file.location(), p + "attention.layer_norm_rms_epsilon: expected a positive finite"
                + " float, got " + eps);
        }
        if (!(base > 0f) || Float.isInfinite(base)) {
            throw new GgufException(file.location(), p + "rope.freq_base: expected a positive finite float, got " + base);
        }
        GgufTensor emb = file.tensor(tensorName(Tensor.TOKEN_EMBEDDING, 0)).orElseThrow(
            () -> new GgufException(file.location(), "tensor '" + tensorName(Tensor.TOKEN_EMBEDDING, 0) + "' is missing"));
        if (emb.nDims() != 2 || emb.dim(1) > Integer.MAX_VALUE) {
            throw new GgufException(file.location(), "tensor '" + emb.name() + "': expected dims [" + dim + ", vocab], got "
                + Arrays.toString(emb.dims()));
        }
        int vocab = (int) emb.dim(1);
        int seq = contextLength > 0 ? contextLength : trained;
        boolean shared = file.tensor(tensorName(Tensor.WCLS, 0)).isEmpty();
        LlamaConfig config;
        try {
            config = new LlamaConfig(dim, hidden, nLayers, heads, kvHeads, vocab, seq, shared);
        } catch (IllegalArgumentException e) {
            throw new GgufException(file.location(), "inconsistent llama shape: " + e.getMessage());
        }
        int ropeDims = file.getInt(p + "rope.dimension_count", config.headSize());
        if (ropeDims != config.headSize()) {
            throw new GgufException(file.location(), p + "rope.dimension_count: expected the head size " + config.headSize()
                + " (partial rotary embeddings are not supported), got " + ropeDims);
        }
        int kvd = config.kvDim();
        TensorRef tokEmb = ref(file, tensorName(Tensor.TOKEN_EMBEDDING, 0), dim, vocab, false);
        TensorRef outNorm = ref(file, tensorName(Tensor.RMS_FINAL, 0), dim, 1, true);
        TensorRef out = shared ? tokEmb : ref(file, tensorName(Tensor.WCLS, 0), dim, vocab, false);
        TensorRef[][] layers = new TensorRef[nLayers][Tensor.values().length];
        for (int l = 0; l < nLayers; l++) {
            for (Tensor t : Tensor.values()) {
                if (!perLayer(t)) {
                    continue;
                }
                String name = tensorName(t, l);
                layers[l][t.ordinal()] = switch (t) {
                    case RMS_ATT, RMS_FFN -> ref(file, name, dim, 1, true);
                    case WQ, WO -> ref(file, name, dim, dim, false);
                    case WK, WV -> ref(file, name, dim, kvd, false);
                    case W1, W3 -> ref(file, name, dim, hidden, false);
                    case W2 -> ref(file, name, hidden, dim, false);
                    default -> throw new AssertionError(t);
                };
            }
        }
        return new GgufLlama(file, config, trained, eps, base, tokEmb, outNorm, out, layers);
    }

    /** Looks up and checks one tensor: {@code {cols, rows}} (or {@code {cols}} for a vector) and its type. */
    private static TensorRef ref(GgufFile file, String name, int cols, int rows, boolean vector) {
        GgufTensor t = file.tensor(name).orElseThrow(() -> new GgufException(file.location(), "tensor '" + name
            + "' is missing (expected dims " + (vector ? "[" + cols + "]" : "[" + cols + ", " + rows + "]") + ")"));
        long[] want = vector ? new long[] {cols} : new long[] {cols, rows};
        if (!Arrays.equals(t.dims(), want)) {
            throw new GgufException(file.location(), "tensor '" + name + "': expected dims " + Arrays.toString(want)
                + ", got " + Arrays.toString(t.dims()));
        }
        if (vector ? t.type() != GgmlType.F32 : !SUPPORTED_TYPES.contains(t.type())) {
            throw new GgufException(file.location(), "tensor '" + name + "': type " + t.type() + " is not supported here;"
                + " expected " + (vector ? "F32 (norm weights)" : "one of " + supportedList()));
        }
        return new TensorRef(name, t.type(), rows, cols, t.offset(), t.byteSize());
    }

    /** @return the supported types for messages, in a fixed order: {@code F32, F16, BF16, Q8_0, Q4_0} */
    static String supportedList() {
        List<String> names = new ArrayList<>();
        for (GgmlType t : new GgmlType[] {GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0}) {
            names.add(t.toString());
        }
        return String.join(", ", names);
    }

    /** @return the file */
    public GgufFile file() {
        return file;
    }

    /** @return the shape; {@code seqLen} is the context this model runs with */
    public LlamaConfig config() {
        return config;
    }

    /** @return {@code llama.context_length}, the context the model was trained with */
    public int trainedContextLength() {
        return trainedContextLength;
    }

    /** @return the RMSNorm epsilon ({@code llama.attention.layer_norm_rms_epsilon}; llama2.c's is {@code 1e-5f}) */
    public float rmsEps() {
        return rmsEps;
    }

    /** @return the RoPE base ({@code llama.rope.freq_base}, default 10000) */
    public float ropeBase() {
        return ropeBase;
    }

    /**
     * @param t     any tensor kind
     * @param layer the layer, {@code [0, nLayers)}, for the per-layer kinds; ignored for the others
     * @return its descriptor; {@link Tensor#WCLS} of a shared classifier is the token embedding's
     * @throws IndexOutOfBoundsException if a per-layer kind's layer is out of range
     */
    public TensorRef tensor(Tensor t, int layer) {
        return switch (t) {
            case TOKEN_EMBEDDING -> tokenEmbedding;
            case RMS_FINAL -> outputNorm;
            case WCLS -> output;
            default -> {
                Objects.checkIndex(layer, layers.length);
                yield layers[layer][t.ordinal()];
            }
        };
    }

    /**
     * The descriptors as the native loader takes them: entry {@code t * nLayers + l} for {@link Tensor} ordinal
     * {@code t} and layer {@code l} (the global tensors repeat theirs in every layer's entry).
     *
     * @param offsets receives {@code Tensor.values().length * nLayers} absolute byte offsets
     * @param types   receives as many ggml type ids
     */
    void flatten(long[] offsets, int[] types) {
        int n = config.nLayers();
        for (Tensor t : Tensor.values()) {
            for (int l = 0; l < n; l++) {
                TensorRef r = tensor(t, l);
                offsets[t.ordinal() * n + l] = r.offset();
                types[t.ordinal() * n + l] = r.type().id();
            }
        }
    }

    @Override
    public String toString() {
        return String.format(Locale.ROOT, "GgufLlama(%s, %s, eps=%s, rope_base=%s, trained_ctx=%d)", file.location(), config,
            rmsEps, ropeBase, trainedContextLength);
    }
}

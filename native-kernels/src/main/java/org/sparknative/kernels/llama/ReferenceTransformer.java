package org.sparknative.kernels.llama;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.NoSuchFileException;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.Objects;
import org.sparknative.kernels.gguf.GgmlType;
import org.sparknative.kernels.gguf.GgufException;
import org.sparknative.kernels.gguf.GgufFile;
import org.sparknative.kernels.gguf.Quants;

/**
 * A plain-Java float32 Llama-2 forward pass, one sequence at a time: the test oracle for the native
 * implementation. The arithmetic is karpathy/llama2.c {@code run.c}'s {@code forward()} operation for
 * operation (same loop orders, sequential float accumulation, no fused multiply-add), so on the same
 * checkpoint it gives the same logits up to the last-bit differences between glibc's
 * {@code expf/powf/sinf/cosf} and {@code (float) Math.exp/pow/sin/cos}.
 *
 * <p>Per position {@code pos} with token {@code t} ({@code d = dim}, {@code hs = head_size},
 * {@code kvd = kv_dim}):
 * <ol>
 *   <li>{@code x = embedding[t]} ({@code [d]});</li>
 *   <li>per layer: {@code xb = rmsnorm(x, rms_att)} where {@code rmsnorm(x, w)[j] = w[j] * (s * x[j])},
 *       {@code s = 1 / sqrt(sum(x^2) / d + 1e-5)}; {@code q = Wq xb} ({@code [d]}), {@code k = Wk xb},
 *       {@code v = Wv xb} ({@code [kvd]}); RoPE: for {@code i = 0, 2, .. d-2},
 *       {@code freq = 1 / 10000^((i % hs) / hs)}, angle {@code pos * freq}, rotate the pair
 *       {@code (q[i], q[i+1])}, and {@code (k[i], k[i+1])} when {@code i < kvd}; store k, v in the cache
 *       at {@code [layer][pos]}; per head {@code h} (kv head {@code h / (n_heads / n_kv_heads)}): scores
 *       {@code q_h . k_h(t) / sqrt(hs)} for {@code t = 0 .. pos}, softmax, {@code xb_h = sum_t a_t v_h(t)};
 *       {@code x += Wo xb}; {@code xb = rmsnorm(x, rms_ffn)}; {@code x += W2 (silu(W1 xb) * (W3 xb))} with
 *       {@code silu(z) = z / (1 + e^-z)};</li>
 *   <li>{@code logits = Wcls rmsnorm(x, rms_final)} ({@code [vocab]}).</li>
 * </ol>
 *
 * <p>GGUF models ({@link #ReferenceTransformer(GgufLlama)}) run the same code with the file's RMSNorm epsilon in
 * place of {@code 1e-5}, its RoPE base in place of {@code 10000}, and typed weights: F32 exactly as above; F16 and
 * BF16 converted exactly per element with the same sequential float accumulation ({@link Quants#dotF16F32}); Q8_0
 * and Q4_0 as ggml's CPU backend computes them (ggml-quants.c): the matmul input quantized to Q8_0 once per matmul
 * ({@link Quants#quantizeRowQ8_0}, ggml's {@code quantize_row_q8_0_ref}), then per output an exact integer dot per
 * block of 32 and float accumulation over the blocks in order ({@link Quants#dotQ8_0Q8_0},
 * {@link Quants#dotQ4_0Q8_0}); the token embedding row dequantized ({@link Quants#dequantize}). Activations that are
 * not finite make a Q8_0/Q4_0 matmul throw {@link IllegalArgumentException} (ggml's quantizer is undefined there).
 *
 * <p>Weights are memory-mapped read-only from the checkpoint (files up to 2 GiB: one mapping; the
 * mapping is released by the garbage collector). Attention at {@code pos} reads the cache rows
 * {@code 0 .. pos}, so positions are meant to be fed in order from 0; rows never written read as zero.
 *
 * <p>Not thread-safe: an instance owns its KV cache and scratch buffers. Use one per thread/sequence.
 */
public final class ReferenceTransformer {
    private final LlamaConfig c;
    private final float rmsEps;
    private final float ropeBase;
    private final Weights w;

    /** The read-only weights of a model, mapped once and shared by every sequence made from them. */
    private record Weights(Matrix emb, float[][] rmsAtt, Matrix[] wq, Matrix[] wk, Matrix[] wv, Matrix[] wo,
                           float[][] rmsFfn, Matrix[] w1, Matrix[] w2, Matrix[] w3, float[] rmsFinal, Matrix wcls) {
    }

    /** llama2.c's RMSNorm epsilon, {@code 1e-5f}. */
    static final float LLAMA2C_RMS_EPS = 1e-5f;

    private final boolean kvF16; // the cache holds binary16-rounded values (KvCacheType.F16)
    private final float[] keyCache;
    private final float[] valueCache;
    private final float[] x;
    private final float[] xb;
    private final float[] xb2;
    private final float[] hb;
    private final float[] hb2;
    private final float[] q;
    private final float[] k;
    private final float[] v;
    private final float[] att;
    private final float[] fcr;
    private final float[] fci;

    /**
     * Maps the checkpoint's tensors and allocates the KV cache ({@code 2 * n_layers * seq_len * kv_dim}
     * floats).
     *
     * @throws CheckpointException if the file cannot be mapped, changed length since it was opened, or is
     *                             over 2 GiB
     * @throws IllegalArgumentException if the KV cache would exceed a Java array
     */
    public ReferenceTransformer(Checkpoint ckpt) {
        this(ckpt, KvCacheType.AUTO);
    }

    /**
     * As {@link #ReferenceTransformer(Checkpoint)} with a KV cache of {@code kvCache} ({@link KvCacheType#AUTO}: F32,
     * llama2.c's).
     */
    public ReferenceTransformer(Checkpoint ckpt, KvCacheType kvCache) {
        this(Objects.requireNonNull(ckpt, "ckpt").config(), LLAMA2C_RMS_EPS, GgufLlama.DEFAULT_ROPE_BASE,
            kvCache.resolve(false) == KvCacheType.F16, weights(ckpt));
    }

    private static Weights weights(Checkpoint ckpt) {
        LlamaConfig c = ckpt.config();
        checkCache(c);
        MappedByteBuffer file;
        try (FileChannel ch = FileChannel.open(ckpt.path(), StandardOpenOption.READ)) {
            long size = ch.size();
            if (size != ckpt.fileBytes()) {
                throw new CheckpointException(ckpt.path(), "file length: expected " + ckpt.fileBytes()
                    + " bytes (as when opened), got " + size);
            }
            if (size > Integer.MAX_VALUE) {
                throw new CheckpointException(ckpt.path(), "file is " + size
                    + " bytes; the Java reference maps checkpoints of at most 2 GiB");
            }
            file = ch.map(FileChannel.MapMode.READ_ONLY, 0, size);
        } catch (NoSuchFileException e) {
            throw new CheckpointException(ckpt.path(), "checkpoint file not found");
        } catch (IOException e) {
            throw new CheckpointException(ckpt.path(), "cannot map checkpoint: " + e, e);
        }
        final int dim = c.dim();
        final int kvDim = c.kvDim();
        final int hidden = c.hiddenDim();
        final int n = c.nLayers();
        Weights w = new Weights(new F32Matrix(tensor(file, ckpt, Tensor.TOKEN_EMBEDDING), 0, c.vocabSize(), dim),
            new float[n][], new Matrix[n], new Matrix[n], new Matrix[n], new Matrix[n], new float[n][], new Matrix[n],
            new Matrix[n], new Matrix[n], floats(tensor(file, ckpt, Tensor.RMS_FINAL), 0, dim),
            new F32Matrix(tensor(file, ckpt, Tensor.WCLS), 0, c.vocabSize(), dim));
        for (int l = 0; l < n; l++) {
            w.rmsAtt[l] = floats(tensor(file, ckpt, Tensor.RMS_ATT), l * dim, dim);
            w.wq[l] = new F32Matrix(tensor(file, ckpt, Tensor.WQ), l * dim * dim, dim, dim);
            w.wk[l] = new F32Matrix(tensor(file, ckpt, Tensor.WK), l * dim * kvDim, kvDim, dim);
            w.wv[l] = new F32Matrix(tensor(file, ckpt, Tensor.WV), l * dim * kvDim, kvDim, dim);
            w.wo[l] = new F32Matrix(tensor(file, ckpt, Tensor.WO), l * dim * dim, dim, dim);
            w.rmsFfn[l] = floats(tensor(file, ckpt, Tensor.RMS_FFN), l * dim, dim);
            w.w1[l] = new F32Matrix(tensor(file, ckpt, Tensor.W1), l * dim * hidden, hidden, dim);
            w.w2[l] = new F32Matrix(tensor(file, ckpt, Tensor.W2), l * dim * hidden, dim, hidden);
            w.w3[l] = new F32Matrix(tensor(file, ckpt, Tensor.W3), l * dim * hidden, hidden, dim);
        }
        return w;
    }

    /**
     * Maps the weights of a GGUF llama model ({@link GgufLlama}: typed tensors, its RMSNorm epsilon, RoPE base and
     * context length) and allocates the KV cache ({@code 2 * n_layers * seq_len * kv_dim} floats). Each tensor is
     * mapped on its own (at most 2 GiB each).
     *
     * <p>Arithmetic per weight type ({@link Matrix#matmul}): F32 as llama2.c; F16 and BF16 each element converted
     * exactly to float ({@link Quants#dotF16F32}, {@link Quants#dotBF16F32}), the same sequential float
     * accumulation; Q8_0 and Q4_0 as ggml's CPU backend: the input vector quantized once per matmul to Q8_0 with
     * {@link Quants#quantizeRowQ8_0}, then per output {@link Quants#dotQ8_0Q8_0} or {@link Quants#dotQ4_0Q8_0} (an
     * exact integer sum per block of 32, float accumulation over blocks in order). The token embedding row is
     * dequantized ({@link Quants#dequantize}).
     *
     * @throws GgufException if a tensor cannot be mapped (the file shrank)
     * @throws IllegalArgumentException if the KV cache would exceed a Java array
     */
    public ReferenceTransformer(GgufLlama model) {
        this(model, KvCacheType.AUTO);
    }

    /**
     * As {@link #ReferenceTransformer(GgufLlama)} with a KV cache of {@code kvCache} ({@link KvCacheType#AUTO}: F16).
     * An F16 cache keeps float arrays holding the values rounded to binary16 ({@link Quants#f32ToF16}), which is what
     * the native F16 cache computes with.
     */
    public ReferenceTransformer(GgufLlama model, KvCacheType kvCache) {
        this(Objects.requireNonNull(model, "model").config(), model.rmsEps(), model.ropeBase(),
            kvCache.resolve(true) == KvCacheType.F16, weights(model));
    }

    private static Weights weights(GgufLlama model) {
        LlamaConfig c = model.config();
        checkCache(c);
        GgufFile f = model.file();
        final int n = c.nLayers();
        Matrix emb = typed(f, model.tensor(Tensor.TOKEN_EMBEDDING, 0));
        Weights w = new Weights(emb, new float[n][], new Matrix[n], new Matrix[n], new Matrix[n], new Matrix[n],
            new float[n][], new Matrix[n], new Matrix[n], new Matrix[n],
            f.dequantize(f.requireTensor(model.tensor(Tensor.RMS_FINAL, 0).name())),
            c.sharedClassifier() ? emb : typed(f, model.tensor(Tensor.WCLS, 0)));
        for (int l = 0; l < n; l++) {
            w.rmsAtt[l] = f.dequantize(f.requireTensor(model.tensor(Tensor.RMS_ATT, l).name()));
            w.wq[l] = typed(f, model.tensor(Tensor.WQ, l));
            w.wk[l] = typed(f, model.tensor(Tensor.WK, l));
            w.wv[l] = typed(f, model.tensor(Tensor.WV, l));
            w.wo[l] = typed(f, model.tensor(Tensor.WO, l));
            w.rmsFfn[l] = f.dequantize(f.requireTensor(model.tensor(Tensor.RMS_FFN, l).name()));
            w.w1[l] = typed(f, model.tensor(Tensor.W1, l));
            w.w2[l] = typed(f, model.tensor(Tensor.W2, l));
            w.w3[l] = typed(f, model.tensor(Tensor.W3, l));
        }
        return w;
    }

    /** The one constructor: the shared weights, and this sequence's own KV cache and scratch. */
    private ReferenceTransformer(LlamaConfig c, float rmsEps, float ropeBase, boolean kvF16, Weights w) {
        this.c = c;
        this.rmsEps = rmsEps;
        this.ropeBase = ropeBase;
        this.kvF16 = kvF16;
        this.w = w;
        keyCache = new float[(int) ((long) c.nLayers() * c.seqLen() * c.kvDim())];
        valueCache = new float[keyCache.length];
        x = new float[c.dim()];
        xb = new float[c.dim()];
        xb2 = new float[c.dim()];
        hb = new float[c.hiddenDim()];
        hb2 = new float[c.hiddenDim()];
        q = new float[c.dim()];
        k = new float[c.kvDim()];
        v = new float[c.kvDim()];
        att = new float[c.seqLen()];
        fcr = new float[c.dim() / 2];
        fci = new float[c.dim() / 2];
    }

    /**
     * @return a new sequence of the same model and KV cache type: its own (empty) KV cache and scratch, the weights
     *         of this one, shared rather than mapped and converted again. The quantized matrices' input scratch is
     *         shared too, so drive the sequences made this way from one thread (as {@code ReferenceBackend}'s
     *         slots are); a sequence for another thread comes from a constructor
     */
    public ReferenceTransformer newSequence() {
        return new ReferenceTransformer(c, rmsEps, ropeBase, kvF16, w);
    }

    private static void checkCache(LlamaConfig c) {
        long cache = (long) c.nLayers() * c.seqLen() * c.kvDim();
        if (cache > Integer.MAX_VALUE - 16) {
            throw new IllegalArgumentException("KV cache of " + cache + " floats per side exceeds a Java array ("
                + c + ")");
        }
    }

    /** A GGUF tensor as a matrix: F32 through the llama2.c kernel, the other types through {@link TypedMatrix}. */
    private static Matrix typed(GgufFile f, GgufLlama.TensorRef r) {
        ByteBuffer data = f.map(f.requireTensor(r.name()));
        if (r.type() == GgmlType.F32) {
            return new F32Matrix(data.order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer(), 0, r.rows(), r.cols());
        }
        return new TypedMatrix(r.type(), data, r.rows(), r.cols());
    }

    private static float[] floats(FloatBuffer b, int off, int n) {
        float[] out = new float[n];
        b.get(off, out, 0, n);
        return out;
    }

    /** A little-endian float view of the file from the tensor's offset to the end of the file. */
    private static FloatBuffer tensor(MappedByteBuffer file, Checkpoint ckpt, Tensor t) {
        int off = Math.toIntExact(ckpt.offset(t));
        return file.slice(off, file.capacity() - off).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
    }

    /** @return the model shape */
    public LlamaConfig config() {
        return c;
    }

    /** Zeroes the KV cache, as if freshly constructed. */
    public void reset() {
        Arrays.fill(keyCache, 0f);
        Arrays.fill(valueCache, 0f);
    }

    /**
     * Runs one position: writes its keys and values into the cache and returns the next-token logits.
     *
     * @param token the input token id, in {@code [0, vocab)}
     * @param pos   its position, in {@code [0, seq_len)}
     * @return a fresh {@code float[vocab]} of logits
     * @throws IllegalArgumentException naming the value if {@code token} or {@code pos} is out of range
     */
    public float[] forward(int token, int pos) {
        if (token < 0 || token >= c.vocabSize()) {
            throw new IllegalArgumentException("token must be in [0, " + c.vocabSize() + "), got " + token);
        }
        if (pos < 0 || pos >= c.seqLen()) {
            throw new IllegalArgumentException("pos must be in [0, " + c.seqLen() + "), got " + pos);
        }
        final int dim = c.dim();
        final int kvDim = c.kvDim();
        final int kvMul = c.nHeads() / c.nKvHeads();
        final int hidden = c.hiddenDim();
        final int headSize = c.headSize();
        final int seqLen = c.seqLen();

        w.emb().row(token, x);

        // RoPE rotation for this position (the same for every layer); run.c recomputes it per layer
        // with identical float operations
        for (int i = 0; i < dim; i += 2) {
            float val = pos * ropeFreq(i % headSize, headSize, ropeBase);
            fcr[i / 2] = (float) Math.cos(val);
            fci[i / 2] = (float) Math.sin(val);
        }
        final float scoreScale = (float) Math.sqrt(headSize);

        for (int l = 0; l < c.nLayers(); l++) {
            rmsnorm(xb, x, w.rmsAtt()[l], dim, rmsEps);

            int loff = l * seqLen * kvDim;
            w.wq()[l].matmul(q, xb);
            w.wk()[l].matmul(k, xb);
            w.wv()[l].matmul(v, xb);

            for (int i = 0; i < dim; i += 2) {
                float cr = fcr[i / 2];
                float ci = fci[i / 2];
                rotate(q, i, cr, ci);
                if (i < kvDim) {
                    rotate(k, i, cr, ci);
                }
            }
            if (kvF16) {
                // An F16 cache rounds keys and values as they are stored, and the query as llama.cpp's F16 key dot
                // does (sn_att_scores_f16).
                for (int i = 0; i < kvDim; i++) {
                    keyCache[loff + pos * kvDim + i] = Quants.f16ToF32(Quants.f32ToF16(k[i]));
                    valueCache[loff + pos * kvDim + i] = Quants.f16ToF32(Quants.f32ToF16(v[i]));
                }
                for (int i = 0; i < dim; i++) {
                    q[i] = Quants.f16ToF32(Quants.f32ToF16(q[i]));
                }
            } else {
                System.arraycopy(k, 0, keyCache, loff + pos * kvDim, kvDim);
                System.arraycopy(v, 0, valueCache, loff + pos * kvDim, kvDim);
            }

            for (int h = 0; h < c.nHeads(); h++) {
                int qo = h * headSize;
                int kvo = (h / kvMul) * headSize;
                for (int t = 0; t <= pos; t++) {
                    int ko = loff + t * kvDim + kvo;
                    float score = 0f;
                    for (int i = 0; i < headSize; i++) {
                        score += q[qo + i] * keyCache[ko + i];
                    }
                    score /= scoreScale;
                    att[t] = score;
                }
                Sampler.softmax(att, pos + 1);
                Arrays.fill(xb, qo, qo + headSize, 0f);
                for (int t = 0; t <= pos; t++) {
                    int vo = loff + t * kvDim + kvo;
                    float a = att[t];
                    for (int i = 0; i < headSize; i++) {
                        xb[qo + i] += a * valueCache[vo + i];
                    }
                }
            }

            w.wo()[l].matmul(xb2, xb);
            for (int i = 0; i < dim; i++) {
                x[i] += xb2[i];
            }

            rmsnorm(xb, x, w.rmsFfn()[l], dim, rmsEps);
            w.w1()[l].matmul(hb, xb);
            w.w3()[l].matmul(hb2, xb);
            for (int i = 0; i < hidden; i++) {
                hb[i] = swiglu(hb[i], hb2[i]);
            }
            w.w2()[l].matmul(xb, hb);
            for (int i = 0; i < dim; i++) {
                x[i] += xb[i];
            }
        }

        rmsnorm(x, x, w.rmsFinal(), dim, rmsEps);
        float[] logits = new float[c.vocabSize()];
        w.wcls().matmul(logits, x);
        return logits;
    }

    /** run.c's RoPE frequency {@code 1 / 10000^(headDim / headSize)} in float ({@code headDim} even). */
    static float ropeFreq(int headDim, int headSize) {
        return ropeFreq(headDim, headSize, GgufLlama.DEFAULT_ROPE_BASE);
    }

    /** run.c's RoPE frequency with the base {@code base}: {@code 1 / base^(headDim / headSize)} in float. */
    static float ropeFreq(int headDim, int headSize, float base) {
        return 1.0f / (float) Math.pow(base, headDim / (float) headSize);
    }

    /** run.c's SwiGLU of one element: {@code silu(h1) * h3}, {@code silu(z) = z * (1 / (1 + e^-z))}. */
    static float swiglu(float h1, float h3) {
        float val = h1;
        val *= 1.0f / (1.0f + (float) Math.exp(-val));
        val *= h3;
        return val;
    }

    /** run.c's RoPE rotation of the pair {@code (vec[i], vec[i+1])} by cosine {@code cr}, sine {@code ci}. */
    static void rotate(float[] vec, int i, float cr, float ci) {
        float v0 = vec[i];
        float v1 = vec[i + 1];
        vec[i] = v0 * cr - v1 * ci;
        vec[i + 1] = v0 * ci + v1 * cr;
    }

    /** run.c rmsnorm's scale {@code 1 / sqrt(ss / size + 1e-5)} from the sum of squares, in float. */
    static float rmsScale(float ss, int size) {
        return rmsScale(ss, size, LLAMA2C_RMS_EPS);
    }

    /** rmsnorm's scale {@code 1 / sqrt(ss / size + eps)} from the sum of squares, in float (run.c's operations). */
    static float rmsScale(float ss, int size, float eps) {
        ss /= size;
        ss += eps;
        return 1.0f / (float) Math.sqrt(ss);
    }

    /** run.c {@code rmsnorm} with a weight buffer at {@code woff} and run.c's epsilon; {@code out} may be {@code in}. */
    static void rmsnorm(float[] out, float[] in, FloatBuffer weight, int woff, int size) {
        float[] w = new float[size];
        weight.get(woff, w, 0, size);
        rmsnorm(out, in, w, size, LLAMA2C_RMS_EPS);
    }

    /** run.c {@code rmsnorm} with epsilon {@code eps}: {@code out[j] = w[j] * (s * in[j])}; {@code out} may be {@code in}. */
    static void rmsnorm(float[] out, float[] in, float[] weight, int size, float eps) {
        float ss = 0f;
        for (int j = 0; j < size; j++) {
            ss += in[j] * in[j];
        }
        ss = rmsScale(ss, size, eps);
        for (int j = 0; j < size; j++) {
            out[j] = weight[j] * (ss * in[j]);
        }
    }

    /** run.c {@code matmul}: {@code out[i] = sum_j W[i, j] in[j]} for the {@code [d, n]} matrix at {@code woff}. */
    static void matmul(float[] out, float[] in, FloatBuffer w, int woff, int n, int d) {
        for (int i = 0; i < d; i++) {
            float val = 0f;
            int row = woff + i * n;
            for (int j = 0; j < n; j++) {
                val += w.get(row + j) * in[j];
            }
            out[i] = val;
        }
    }

    /**
     * A weight matrix {@code [rows][cols]} as the reference multiplies it: {@code out[i] = W[i] . in} for every row
     * {@code i}, and single rows dequantized (the token embedding). Not thread-safe (scratch).
     */
    abstract static class Matrix {
        final int rows;
        final int cols;

        Matrix(int rows, int cols) {
            this.rows = rows;
            this.cols = cols;
        }

        /** {@code out[0 .. rows)} = this times {@code in[0 .. cols)}. */
        abstract void matmul(float[] out, float[] in);

        /** {@code dst[0 .. cols)} = row {@code r} as floats. */
        abstract void row(int r, float[] dst);
    }

    /** Float32 weights: llama2.c's {@code matmul}, one sequential float accumulator per output. */
    static final class F32Matrix extends Matrix {
        private final FloatBuffer w;
        private final int off;

        F32Matrix(FloatBuffer w, int off, int rows, int cols) {
            super(rows, cols);
            this.w = w;
            this.off = off;
        }

        @Override
        void matmul(float[] out, float[] in) {
            ReferenceTransformer.matmul(out, in, w, off, cols, rows);
        }

        @Override
        void row(int r, float[] dst) {
            w.get(off + r * cols, dst, 0, cols);
        }
    }

    /**
     * F16, BF16, Q8_0 or Q4_0 weights, computed through {@link Quants} (the project's canonical scalar semantics,
     * ggml's reference quantization): F16/BF16 per element converted, sequential float accumulation; Q8_0/Q4_0 with
     * the input quantized to Q8_0 once per call.
     */
    static final class TypedMatrix extends Matrix {
        private final GgmlType type;
        private final ByteBuffer data;
        private final int rowBytes;
        private final ByteBuffer act;

        TypedMatrix(GgmlType type, ByteBuffer data, int rows, int cols) {
            super(rows, cols);
            this.type = type;
            this.data = data;
            this.rowBytes = Math.toIntExact(type.byteSize(cols));
            boolean quantized = type == GgmlType.Q8_0 || type == GgmlType.Q4_0;
            this.act = quantized ? ByteBuffer.allocate(Math.toIntExact(GgmlType.Q8_0.byteSize(cols))) : null;
        }

        @Override
        void matmul(float[] out, float[] in) {
            switch (type) {
                case F16 -> {
                    for (int i = 0; i < rows; i++) {
                        out[i] = Quants.dotF16F32(data, i * rowBytes, in, 0, cols);
                    }
                }
                case BF16 -> {
                    for (int i = 0; i < rows; i++) {
                        out[i] = Quants.dotBF16F32(data, i * rowBytes, in, 0, cols);
                    }
                }
                case Q8_0 -> {
                    Quants.quantizeQ8_0(in, 0, cols, act, 0);
                    for (int i = 0; i < rows; i++) {
                        out[i] = Quants.dotQ8_0Q8_0(data, i * rowBytes, act, 0, cols);
                    }
                }
                case Q4_0 -> {
                    Quants.quantizeQ8_0(in, 0, cols, act, 0);
                    for (int i = 0; i < rows; i++) {
                        out[i] = Quants.dotQ4_0Q8_0(data, i * rowBytes, act, 0, cols);
                    }
                }
                default -> throw new IllegalStateException("no matmul for " + type);
            }
        }

        @Override
        void row(int r, float[] dst) {
            Quants.dequantize(type, data, r * rowBytes, dst, 0, cols);
        }
    }
}

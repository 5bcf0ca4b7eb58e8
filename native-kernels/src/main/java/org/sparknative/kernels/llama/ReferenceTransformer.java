package org.sparknative.kernels.llama;

import java.io.IOException;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.NoSuchFileException;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.Objects;

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
 * <p>Weights are memory-mapped read-only from the checkpoint (files up to 2 GiB: one mapping; the
 * mapping is released by the garbage collector). Attention at {@code pos} reads the cache rows
 * {@code 0 .. pos}, so positions are meant to be fed in order from 0; rows never written read as zero.
 *
 * <p>Not thread-safe: an instance owns its KV cache and scratch buffers. Use one per thread/sequence.
 */
public final class ReferenceTransformer {
    private final LlamaConfig c;
    private final FloatBuffer emb;
    private final FloatBuffer rmsAtt;
    private final FloatBuffer wq;
    private final FloatBuffer wk;
    private final FloatBuffer wv;
    private final FloatBuffer wo;
    private final FloatBuffer rmsFfn;
    private final FloatBuffer w1;
    private final FloatBuffer w2;
    private final FloatBuffer w3;
    private final FloatBuffer rmsFinal;
    private final FloatBuffer wcls;

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
        Objects.requireNonNull(ckpt, "ckpt");
        this.c = ckpt.config();
        long cache = (long) c.nLayers() * c.seqLen() * c.kvDim();
        if (cache > Integer.MAX_VALUE - 16) {
            throw new IllegalArgumentException("KV cache of " + cache + " floats per side exceeds a Java array ("
                + c + ")");
        }
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
        emb = tensor(file, ckpt, Tensor.TOKEN_EMBEDDING);
        rmsAtt = tensor(file, ckpt, Tensor.RMS_ATT);
        wq = tensor(file, ckpt, Tensor.WQ);
        wk = tensor(file, ckpt, Tensor.WK);
        wv = tensor(file, ckpt, Tensor.WV);
        wo = tensor(file, ckpt, Tensor.WO);
        rmsFfn = tensor(file, ckpt, Tensor.RMS_FFN);
        w1 = tensor(file, ckpt, Tensor.W1);
        w2 = tensor(file, ckpt, Tensor.W2);
        w3 = tensor(file, ckpt, Tensor.W3);
        rmsFinal = tensor(file, ckpt, Tensor.RMS_FINAL);
        wcls = tensor(file, ckpt, Tensor.WCLS);

        keyCache = new float[(int) cache];
        valueCache = new float[(int) cache];
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

        emb.get(token * dim, x, 0, dim);

        // RoPE rotation for this position (the same for every layer); run.c recomputes it per layer
        // with identical float operations
        for (int i = 0; i < dim; i += 2) {
            float val = pos * ropeFreq(i % headSize, headSize);
            fcr[i / 2] = (float) Math.cos(val);
            fci[i / 2] = (float) Math.sin(val);
        }
        final float scoreScale = (float) Math.sqrt(headSize);

        for (int l = 0; l < c.nLayers(); l++) {
            rmsnorm(xb, x, rmsAtt, l * dim, dim);

            int loff = l * seqLen * kvDim;
            matmul(q, xb, wq, l * dim * dim, dim, dim);
            matmul(k, xb, wk, l * dim * kvDim, dim, kvDim);
            matmul(v, xb, wv, l * dim * kvDim, dim, kvDim);

            for (int i = 0; i < dim; i += 2) {
                float cr = fcr[i / 2];
                float ci = fci[i / 2];
                rotate(q, i, cr, ci);
                if (i < kvDim) {
                    rotate(k, i, cr, ci);
                }
            }
            System.arraycopy(k, 0, keyCache, loff + pos * kvDim, kvDim);
            System.arraycopy(v, 0, valueCache, loff + pos * kvDim, kvDim);

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

            matmul(xb2, xb, wo, l * dim * dim, dim, dim);
            for (int i = 0; i < dim; i++) {
                x[i] += xb2[i];
            }

            rmsnorm(xb, x, rmsFfn, l * dim, dim);
            matmul(hb, xb, w1, l * dim * hidden, dim, hidden);
            matmul(hb2, xb, w3, l * dim * hidden, dim, hidden);
            for (int i = 0; i < hidden; i++) {
                hb[i] = swiglu(hb[i], hb2[i]);
            }
            matmul(xb, hb, w2, l * dim * hidden, hidden, dim);
            for (int i = 0; i < dim; i++) {
                x[i] += xb[i];
            }
        }

        rmsnorm(x, x, rmsFinal, 0, dim);
        float[] logits = new float[c.vocabSize()];
        matmul(logits, x, wcls, 0, dim, c.vocabSize());
        return logits;
    }

    /** run.c's RoPE frequency {@code 1 / 10000^(headDim / headSize)} in float ({@code headDim} even). */
    static float ropeFreq(int headDim, int headSize) {
        return 1.0f / (float) Math.pow(10000.0f, headDim / (float) headSize);
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
        ss /= size;
        ss += 1e-5f;
        return 1.0f / (float) Math.sqrt(ss);
    }

    /** run.c {@code rmsnorm}; {@code out} may be {@code in}. */
    static void rmsnorm(float[] out, float[] in, FloatBuffer weight, int woff, int size) {
        float ss = 0f;
        for (int j = 0; j < size; j++) {
            ss += in[j] * in[j];
        }
        ss = rmsScale(ss, size);
        for (int j = 0; j < size; j++) {
            out[j] = weight.get(woff + j) * (ss * in[j]);
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
}

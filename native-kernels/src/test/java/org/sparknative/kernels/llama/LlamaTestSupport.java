package org.sparknative.kernels.llama;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/** Shared helpers: the real models, a synthetic checkpoint writer, a plain Java forward pass, generation. */
final class LlamaTestSupport {
    private LlamaTestSupport() {
    }

    /** @return the shared models directory, or skips the test when it is not there */
    static Path sharedModels() {
        String dir = System.getProperty("sparknative.shared.models.dir");
        assumeTrue(dir != null && Files.isDirectory(Path.of(dir)), "shared models dir not available: " + dir);
        return Path.of(dir);
    }

    /** @return {@code name} in the shared models directory, or skips the test when it is absent */
    static Path sharedModel(String name) {
        Path p = sharedModels().resolve(name);
        assumeTrue(Files.isRegularFile(p), "model file not available: " + p);
        return p;
    }

    /**
     * Writes a checkpoint of random weights (uniform in [-scale, scale], RMSNorm weights around 1) in either
     * format; a negative legacy vocab marks an unshared classifier, as llama2.c's export does.
     */
    static Path writeSynthetic(Path file, CheckpointFormat format, LlamaConfig c, long seed, float scale) throws IOException {
        long total = Checkpoint.expectedFileBytes(format, c);
        Files.deleteIfExists(file);
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.READ,
            StandardOpenOption.WRITE)) {
            MappedByteBuffer buf = ch.map(FileChannel.MapMode.READ_WRITE, 0, total);
            buf.order(ByteOrder.LITTLE_ENDIAN);
            int[] h = {c.dim(), c.hiddenDim(), c.nLayers(), c.nHeads(), c.nKvHeads(), c.vocabSize(), c.seqLen()};
            if (format == CheckpointFormat.LEGACY) {
                if (!c.sharedClassifier()) {
                    h[5] = -h[5];
                }
                for (int v : h) {
                    buf.putInt(v);
                }
            } else {
                buf.putInt(CheckpointFormat.V1_MAGIC);
                buf.putInt(1);
                for (int v : h) {
                    buf.putInt(v);
                }
                buf.put((byte) (c.sharedClassifier() ? 1 : 0));
            }
            SplittableRandom rnd = new SplittableRandom(seed);
            buf.position(format.headerBytes());
            while (buf.position() < total) {
                buf.putFloat((float) ((rnd.nextDouble() * 2 - 1) * scale));
            }
            buf.force();
            Checkpoint layout = Checkpoint.open(file);
            // RMSNorm weights near 1 so activations keep a sane scale.
            for (Tensor t : new Tensor[] {Tensor.RMS_ATT, Tensor.RMS_FFN, Tensor.RMS_FINAL}) {
                long n = t == Tensor.RMS_FINAL ? c.dim() : (long) c.nLayers() * c.dim();
                int off = (int) layout.offset(t);
                for (int i = 0; i < n; i++) {
                    buf.putFloat(off + 4 * i, (float) (1.0 + (rnd.nextDouble() - 0.5) * 0.2));
                }
            }
            buf.force();
        }
        return file;
    }

    /** A plain, sequential Java port of llama2.c's forward() over a checkpoint, one sequence at a time. */
    static final class JavaLlama {
        final LlamaConfig c;
        final float[] emb, rmsAtt, wq, wk, wv, wo, rmsFfn, w1, w2, w3, rmsFinal, wcls;
        final float[][] keyCache, valueCache;

        JavaLlama(Checkpoint ckpt) throws IOException {
            c = ckpt.config();
            ByteBuffer all = ByteBuffer.wrap(Files.readAllBytes(ckpt.path())).order(ByteOrder.LITTLE_ENDIAN);
            long d = c.dim(), kv = c.kvDim(), hid = c.hiddenDim(), L = c.nLayers(), v = c.vocabSize();
            emb = read(all, ckpt.offset(Tensor.TOKEN_EMBEDDING), v * d);
            rmsAtt = read(all, ckpt.offset(Tensor.RMS_ATT), L * d);
            wq = read(all, ckpt.offset(Tensor.WQ), L * d * d);
            wk = read(all, ckpt.offset(Tensor.WK), L * kv * d);
            wv = read(all, ckpt.offset(Tensor.WV), L * kv * d);
            wo = read(all, ckpt.offset(Tensor.WO), L * d * d);
            rmsFfn = read(all, ckpt.offset(Tensor.RMS_FFN), L * d);
            w1 = read(all, ckpt.offset(Tensor.W1), L * hid * d);
            w2 = read(all, ckpt.offset(Tensor.W2), L * d * hid);
            w3 = read(all, ckpt.offset(Tensor.W3), L * hid * d);
            rmsFinal = read(all, ckpt.offset(Tensor.RMS_FINAL), d);
            wcls = read(all, ckpt.offset(Tensor.WCLS), v * d);
            keyCache = new float[c.nLayers()][c.seqLen() * c.kvDim()];
            valueCache = new float[c.nLayers()][c.seqLen() * c.kvDim()];
        }

        private static float[] read(ByteBuffer all, long offset, long n) {
            float[] out = new float[(int) n];
            all.duplicate().order(ByteOrder.LITTLE_ENDIAN).position((int) offset).asFloatBuffer().get(out);
            return out;
        }

        private static void rmsnorm(float[] o, float[] x, float[] w, int woff, int size) {
            float ss = 0f;
            for (int j = 0; j < size; j++) {
                ss += x[j] * x[j];
            }
            ss /= size;
            ss += 1e-5f;
            ss = 1.0f / (float) Math.sqrt(ss);
            for (int j = 0; j < size; j++) {
                o[j] = w[woff + j] * (ss * x[j]);
            }
        }

        private static void matmul(float[] out, float[] x, float[] w, int woff, int n, int d) {
            for (int i = 0; i < d; i++) {
                float val = 0f;
                for (int j = 0; j < n; j++) {
                    val += w[woff + i * n + j] * x[j];
                }
                out[i] = val;
            }
        }

        float[] forward(int token, int pos) {
            int dim = c.dim(), kvDim = c.kvDim(), hid = c.hiddenDim(), hs = c.headSize();
            int kvMul = c.nHeads() / c.nKvHeads();
            float[] x = new float[dim], xb = new float[dim], xb2 = new float[dim], q = new float[dim];
            float[] k = new float[kvDim], v = new float[kvDim], hb = new float[hid], hb2 = new float[hid];
            System.arraycopy(emb, token * dim, x, 0, dim);
            for (int l = 0; l < c.nLayers(); l++) {
                rmsnorm(xb, x, rmsAtt, l * dim, dim);
                matmul(q, xb, wq, l * dim * dim, dim, dim);
                matmul(k, xb, wk, l * kvDim * dim, dim, kvDim);
                matmul(v, xb, wv, l * kvDim * dim, dim, kvDim);
                for (int i = 0; i < dim; i += 2) {
                    int headDim = i % hs;
                    float freq = 1.0f / (float) Math.pow(10000.0f, headDim / (float) hs);
                    float val = pos * freq;
                    float fcr = (float) Math.cos(val);
                    float fci = (float) Math.sin(val);
                    int rotn = i < kvDim ? 2 : 1;
                    for (int r = 0; r < rotn; r++) {
                        float[] vec = r == 0 ? q : k;
                        float v0 = vec[i];
                        float v1 = vec[i + 1];
                        vec[i] = v0 * fcr - v1 * fci;
                        vec[i + 1] = v0 * fci + v1 * fcr;
                    }
                }
                System.arraycopy(k, 0, keyCache[l], pos * kvDim, kvDim);
                System.arraycopy(v, 0, valueCache[l], pos * kvDim, kvDim);
                for (int h = 0; h < c.nHeads(); h++) {
                    float[] att = new float[pos + 1];
                    int kvOff = (h / kvMul) * hs;
                    for (int t = 0; t <= pos; t++) {
                        float score = 0f;
                        for (int i = 0; i < hs; i++) {
                            score += q[h * hs + i] * keyCache[l][t * kvDim + kvOff + i];
                        }
                        att[t] = score / (float) Math.sqrt(hs);
                    }
                    softmax(att, pos + 1);
                    for (int i = 0; i < hs; i++) {
                        xb[h * hs + i] = 0f;
                    }
                    for (int t = 0; t <= pos; t++) {
                        for (int i = 0; i < hs; i++) {
                            xb[h * hs + i] += att[t] * valueCache[l][t * kvDim + kvOff + i];
                        }
                    }
                }
                matmul(xb2, xb, wo, l * dim * dim, dim, dim);
                for (int i = 0; i < dim; i++) {
                    x[i] += xb2[i];
                }
                rmsnorm(xb, x, rmsFfn, l * dim, dim);
                matmul(hb, xb, w1, l * dim * hid, dim, hid);
                matmul(hb2, xb, w3, l * dim * hid, dim, hid);
                for (int i = 0; i < hid; i++) {
                    float val = hb[i];
                    val *= 1.0f / (1.0f + (float) Math.exp(-val));
                    val *= hb2[i];
                    hb[i] = val;
                }
                matmul(xb, hb, w2, l * dim * hid, hid, dim);
                for (int i = 0; i < dim; i++) {
                    x[i] += xb[i];
                }
            }
            rmsnorm(x, x, rmsFinal, 0, dim);
            float[] logits = new float[c.vocabSize()];
            matmul(logits, x, wcls, 0, dim, c.vocabSize());
            return logits;
        }

        static void softmax(float[] x, int size) {
            float max = x[0];
            for (int i = 1; i < size; i++) {
                if (x[i] > max) {
                    max = x[i];
                }
            }
            float sum = 0f;
            for (int i = 0; i < size; i++) {
                x[i] = (float) Math.exp(x[i] - max);
                sum += x[i];
            }
            for (int i = 0; i < size; i++) {
                x[i] /= sum;
            }
        }
    }

    /** One sequence of a generation run, llama2.c generate() semantics, fed through a shared batch. */
    static final class Seq {
        final int slot;
        final int[] prompt; // starts with BOS
        final float temperature;
        final float topp;
        final long[] rng;
        final int steps;
        final ByteArrayOutputStream text = new ByteArrayOutputStream();
        int pos; // positions forwarded so far
        int token;
        boolean done;

        Seq(int slot, int[] prompt, float temperature, float topp, long seed, int steps) {
            this.slot = slot;
            this.prompt = prompt;
            this.temperature = temperature;
            this.topp = topp;
            this.rng = new long[] {seed};
            this.steps = steps;
            this.token = prompt[0];
        }

        String text() {
            return text.toString(java.nio.charset.StandardCharsets.UTF_8);
        }
    }

    /**
     * Runs sequences to completion in one batch: each step, every active sequence feeds up to
     * {@code chunk} prompt tokens (chunked prefill) or its last sampled token; a sequence joins at step
     * {@code startStep[i]}. Pieces are appended as llama2.c prints them (decode + safe_printf).
     */
    static void runTogether(NativeLlamaBatch batch, NativeTokenizer tok, List<Seq> seqs, int[] startStep, int chunk,
                            int threads) {
        int step = 0;
        int rowsCap = batch.maxRowsPerStep();
        int[] tokens = new int[rowsCap];
        int[] positions = new int[rowsCap];
        int[] slots = new int[rowsCap];
        int[] logitRows = new int[rowsCap];
        while (true) {
            boolean anyLeft = false;
            int rows = 0;
            int nLogits = 0;
            List<Seq> sampling = new ArrayList<>();
            for (int s = 0; s < seqs.size(); s++) {
                Seq q = seqs.get(s);
                if (q.done) {
                    continue;
                }
                anyLeft = true;
                if (step < startStep[s]) {
                    continue;
                }
                // feed prompt tokens q.pos .. while they are forced, up to chunk rows
                int fed = 0;
                while (true) {
                    tokens[rows] = q.token;
                    positions[rows] = q.pos;
                    slots[rows] = q.slot;
                    rows++;
                    fed++;
                    boolean forcedNext = q.pos < q.prompt.length - 1;
                    if (forcedNext) {
                        int next = q.prompt[q.pos + 1];
                        q.pos++;
                        emit(tok, q, next);
                        if (q.pos >= q.steps) {
                            q.done = true;
                            break;
                        }
                        if (fed < chunk) {
                            continue;
                        }
                        break;
                    }
                    logitRows[nLogits++] = rows - 1;
                    sampling.add(q);
                    break;
                }
            }
            if (!anyLeft) {
                return;
            }
            batch.forward(rows, tokens, positions, slots, nLogits, logitRows, threads);
            for (int k = 0; k < sampling.size(); k++) {
                Seq q = sampling.get(k);
                int next = batch.sample(k, q.temperature, q.topp, q.rng);
                q.pos++;
                if (next == NativeTokenizer.BOS || next == NativeTokenizer.EOS) {
                    q.done = true;
                    continue;
                }
                emit(tok, q, next);
                if (q.pos >= q.steps) {
                    q.done = true;
                }
            }
            step++;
        }
    }

    private static void emit(NativeTokenizer tok, Seq q, int next) {
        byte[] piece = tok.decodePrintable(q.token, next);
        q.text.write(piece, 0, piece.length);
        q.token = next;
    }

    /** Generates one sequence alone, one row per step (llama2.c's loop). */
    static String generate(NativeLlamaModel model, NativeTokenizer tok, String prompt, float temperature, float topp,
                           long seed, int steps, int threads) {
        int[] p = tok.encode(prompt.getBytes(java.nio.charset.StandardCharsets.UTF_8), true, false);
        try (NativeLlamaBatch b = model.newBatch(1, 1)) {
            Seq q = new Seq(0, p, temperature, topp, seed, steps);
            runTogether(b, tok, List.of(q), new int[] {0}, 1, threads);
            return q.text();
        }
    }
}

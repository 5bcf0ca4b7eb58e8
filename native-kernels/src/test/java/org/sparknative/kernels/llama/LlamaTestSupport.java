package org.sparknative.kernels.llama;

import java.io.ByteArrayOutputStream;
import java.util.ArrayList;
import java.util.List;

/**
 * llama2.c's generation loop on the native batch, for the generation tests. The real models come from
 * {@link org.sparknative.kernels.testing.TestModels}, the Java oracle is {@link ReferenceTransformer} and
 * synthetic checkpoints come from {@link SyntheticCheckpoint}.
 */
final class LlamaTestSupport {
    private LlamaTestSupport() {
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
                if (next == Tokenizer.BOS || next == Tokenizer.EOS) {
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

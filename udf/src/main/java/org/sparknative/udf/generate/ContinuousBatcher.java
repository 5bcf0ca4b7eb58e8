package org.sparknative.udf.generate;

import java.io.ByteArrayOutputStream;
import java.util.Arrays;
import org.apache.arrow.memory.ArrowBuf;
import org.sparknative.kernels.llama.LlamaConfig;
import org.sparknative.kernels.llama.Sampler;

/**
 * Continuous batching over a {@link DecodeBackend}: up to {@code maxSlots} sequences decode together,
 * one step reading each weight matrix once for all of them; when a sequence ends (BOS/EOS sampled, its
 * token budget spent, or the context full) the next waiting prompt takes its slot at once. Prompt
 * tokens go through the same batched forward (prefill), up to {@code prefillTokensPerStep} prompt
 * tokens per step beside one decode row per generating sequence.
 *
 * <p>Each sequence has its own RNG state seeded from its row's seed, and every row's arithmetic in the
 * backend is independent of its neighbours, so a row's text does not depend on the batch it ran in,
 * the batch size or the partitioning: a retried Spark task writes exactly what the first attempt would.
 *
 * <p>Generation follows llama2.c's {@code generate()}: prompt token {@code i} is fed at position
 * {@code i}; after the last prompt token each forward samples the next token, which is fed next.
 *
 * <p>Threading: not thread-safe; one per task.
 */
public final class ContinuousBatcher {
    /** llama2.c's BOS and EOS ids. */
    static final int BOS = 1;
    static final int EOS = 2;

    /**
     * One prompt: {@code length} UTF-8 bytes at {@code offset} of {@code buf}, or a null prompt.
     */
    public record Request(ArrowBuf buf, long offset, int length, boolean isNull, GenerationParams params) {
    }

    /**
     * One row's outcome. Times are milliseconds from the moment the sequence took a slot.
     *
     * @param completion       UTF-8 bytes of the generated text (null for an error row)
     * @param promptTokens     prompt tokens fed, BOS included (after truncation)
     * @param completionTokens generated tokens (a stop token is not counted)
     * @param finishReason     {@code stop}, {@code length}, or {@code error: ...}
     * @param ttftMs           time to the first generated token (NaN if none)
     * @param latencyMs        time to the sequence's end
     */
    public record Result(byte[] completion, int promptTokens, int completionTokens, String finishReason, double ttftMs,
                         double latencyMs) {
    }

    /** Receives progress as sequences finish (for Spark accumulators and logs). */
    public interface Progress {
        void finished(Result result);
    }

    private final DecodeBackend backend;
    private final TokenCodec codec;
    private final LongPromptPolicy longPrompts;
    private final int prefillTokensPerStep;
    private final LlamaConfig config;

    // Per-step arrays, sized once.
    private final int[] tokens;
    private final int[] positions;
    private final int[] slotOfRow;
    private final int[] logitRows;
    private final int[] slotOfLogit;

    /**
     * @param prefillTokensPerStep prompt tokens fed per step across all prefilling sequences, {@code >= 1};
     *                             the backend must take {@code maxSlots + prefillTokensPerStep} rows
     */
    public ContinuousBatcher(DecodeBackend backend, TokenCodec codec, LongPromptPolicy longPrompts,
                             int prefillTokensPerStep) {
        if (codec.vocabSize() != backend.config().vocabSize()) {
            throw new IllegalArgumentException("tokenizer has " + codec.vocabSize() + " tokens but the model's vocab_size is "
                + backend.config().vocabSize() + ": wrong tokenizer for this model");
        }
        if (prefillTokensPerStep < 1) {
            throw new IllegalArgumentException("prefill tokens per step must be >= 1, got " + prefillTokensPerStep);
        }
        if (backend.maxRowsPerStep() < backend.maxSlots() + prefillTokensPerStep) {
            throw new IllegalArgumentException("backend takes " + backend.maxRowsPerStep() + " rows per step, need "
                + (backend.maxSlots() + prefillTokensPerStep));
        }
        this.backend = backend;
        this.codec = codec;
        this.longPrompts = longPrompts;
        this.prefillTokensPerStep = prefillTokensPerStep;
        this.config = backend.config();
        int rows = backend.maxRowsPerStep();
        this.tokens = new int[rows];
        this.positions = new int[rows];
        this.slotOfRow = new int[rows];
        this.logitRows = new int[backend.maxSlots()];
        this.slotOfLogit = new int[backend.maxSlots()];
    }

    /** A sequence in a slot. */
    private static final class Seq {
        int request;
        int[] prompt;
        int promptLen;
        int fed;          // prompt tokens fed so far
        int pos;          // next position to feed
        int last;         // the token at pos - 1 (prev for decode)
        int next;         // the token to feed at pos once the prompt is done
        int generated;
        boolean promptEndsThisStep; // the prompt's last token is in the current step: sample from it
        long[] rng;
        GenerationParams params;
        ByteArrayOutputStream text;
        long admitted;
        long firstToken;
    }

    /**
     * Generates a completion for every request, in request order.
     *
     * @param progress told about each finished row, may be null
     */
    public Result[] run(Request[] requests, Progress progress) {
        Result[] results = new Result[requests.length];
        Seq[] slots = new Seq[backend.maxSlots()];
        int nextRequest = 0;
        int active = 0;
        int[] scratch = new int[16];
        while (true) {
            // Admit waiting prompts into free slots.
            for (int s = 0; s < slots.length && nextRequest < requests.length; s++) {
                if (slots[s] != null) {
                    continue;
                }
                while (nextRequest < requests.length && slots[s] == null) {
                    int r = nextRequest++;
                    Request req = requests[r];
                    long t0 = System.nanoTime();
                    if (req.isNull()) {
                        finish(results, r, new Result(null, 0, 0, "error: prompt is null", Double.NaN, 0.0), progress);
                        continue;
                    }
                    if (scratch.length < req.length() + 3) {
                        scratch = new int[req.length() + 3];
                    }
                    int m = codec.encode(req.buf(), req.offset(), req.length(), scratch);
                    int[] prompt = Arrays.copyOf(scratch, m);
                    if (m > config.seqLen()) {
                        if (longPrompts == LongPromptPolicy.ERROR) {
                            finish(results, r, new Result(null, m, 0, "error: prompt is " + m
                                + " tokens, more than the model's context of " + config.seqLen()
                                + " (set the long-prompt policy to truncate to keep its end)", Double.NaN, 0.0), progress);
                            continue;
                        }
                        int reserve = Math.min(req.params().maxNewTokens(), config.seqLen() / 2);
                        int keep = Math.max(1, config.seqLen() - reserve) - 1;
                        int[] cut = new int[keep + 1];
                        cut[0] = BOS;
                        System.arraycopy(prompt, m - keep, cut, 1, keep);
                        prompt = cut;
                        m = cut.length;
                    }
                    if (req.params().maxNewTokens() == 0) {
                        finish(results, r, new Result(new byte[0], m, 0, "length", Double.NaN, 0.0), progress);
                        continue;
                    }
                    Seq q = new Seq();
                    q.request = r;
                    q.prompt = prompt;
                    q.promptLen = m;
                    q.rng = new long[] {Sampler.seedState(req.params().seed())};
                    q.params = req.params();
                    q.text = new ByteArrayOutputStream();
                    q.admitted = t0;
                    q.firstToken = -1;
                    slots[s] = q;
                    active++;
                }
            }
            if (active == 0) {
                break;
            }
            // Build the step: one row per decoding sequence, then prompt tokens up to the prefill budget.
            int rows = 0;
            int nLogits = 0;
            for (int s = 0; s < slots.length; s++) {
                Seq q = slots[s];
                if (q != null && q.fed == q.promptLen) {
                    tokens[rows] = q.next;
                    positions[rows] = q.pos;
                    slotOfRow[rows] = s;
                    logitRows[nLogits] = rows;
                    slotOfLogit[nLogits++] = s;
                    rows++;
                }
            }
            int budget = prefillTokensPerStep;
            for (int s = 0; s < slots.length && budget > 0; s++) {
                Seq q = slots[s];
                if (q == null || q.fed == q.promptLen) {
                    continue;
                }
                int take = Math.min(budget, q.promptLen - q.fed);
                for (int j = 0; j < take; j++) {
                    tokens[rows] = q.prompt[q.fed];
                    positions[rows] = q.fed;
                    slotOfRow[rows] = s;
                    rows++;
                    q.fed++;
                }
                budget -= take;
                q.pos = q.fed;
                q.last = q.prompt[q.fed - 1];
                if (q.fed == q.promptLen) {
                    logitRows[nLogits] = rows - 1;
                    slotOfLogit[nLogits++] = s;
                    q.promptEndsThisStep = true;
                }
            }
            backend.forward(rows, tokens, positions, slotOfRow, nLogits, logitRows);
            long now = System.nanoTime();
            for (int k = 0; k < nLogits; k++) {
                int s = slotOfLogit[k];
                Seq q = slots[s];
                if (q.promptEndsThisStep) {
                    q.promptEndsThisStep = false; // pos and last were set when the prompt's end was fed
                } else {
                    q.last = q.next;
                    q.pos++;
                }
                int next = backend.sample(k, q.params.temperature(), q.params.topP(), q.rng);
                String end = null;
                if (next == BOS || next == EOS) {
                    end = "stop";
                } else {
                    if (q.firstToken < 0) {
                        q.firstToken = now;
                    }
                    q.text.writeBytes(codec.decode(q.last, next));
                    q.generated++;
                    q.next = next;
                    if (q.generated >= q.params.maxNewTokens() || q.pos >= config.seqLen()) {
                        end = "length";
                    }
                }
                if (end != null) {
                    double ttft = q.firstToken < 0 ? Double.NaN : (q.firstToken - q.admitted) / 1e6;
                    finish(results, q.request, new Result(q.text.toByteArray(), q.promptLen, q.generated, end, ttft,
                        (now - q.admitted) / 1e6), progress);
                    slots[s] = null;
                    active--;
                }
            }
        }
        return results;
    }

    private static void finish(Result[] results, int r, Result result, Progress progress) {
        results[r] = result;
        if (progress != null) {
            progress.finished(result);
        }
    }
}

package org.sparknative.udf.generate;

import java.io.ByteArrayOutputStream;
import java.util.Arrays;
import org.sparknative.kernels.llama.LlamaConfig;
import org.sparknative.kernels.llama.Sampler;
import org.sparknative.kernels.llama.Tokenizer;
import org.sparknative.kernels.llama.UnencodableTextException;
import org.sparknative.udf.BadRowPolicy;
import org.sparknative.udf.ExecutorMetrics;
import org.sparknative.udf.InvalidRowException;
import org.sparknative.udf.RowLabels;

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
 * <p>The scheduler knows nothing of Arrow or Spark: prompts arrive as off-heap addresses and lengths or
 * as byte arrays ({@link Request}), results leave as byte arrays ({@link Result}). The Arrow adapter is
 * {@link GenerateUdf}.
 *
 * <p>Threading: not thread-safe; one per task.
 */
public final class ContinuousBatcher {
    /**
     * One prompt, in one of three forms: {@code length} UTF-8 bytes at off-heap {@code address} (the
     * caller keeps them readable until {@link #run} returns), the bytes {@code utf8}, or a row that
     * cannot be generated at all ({@code error}: a null prompt, a bad per-row setting), which becomes an
     * error row.
     *
     * @param address off-heap address of the prompt bytes, when {@code utf8} and {@code error} are null
     * @param length  prompt length in bytes
     * @param utf8    the prompt bytes on the heap, or null
     * @param error   why the row cannot be generated, or null
     * @param params  the row's settings (null for an error row)
     */
    public record Request(long address, int length, byte[] utf8, String error, GenerationParams params) {
        /** A prompt of {@code length} bytes at off-heap {@code address}. */
        public static Request offHeap(long address, int length, GenerationParams params) {
            if (length < 0) {
                throw new IllegalArgumentException("prompt length must be >= 0, got " + length);
            }
            return new Request(address, length, null, null, params);
        }

        /** A prompt given as bytes. */
        public static Request of(byte[] utf8, GenerationParams params) {
            return new Request(0L, utf8.length, utf8, null, params);
        }

        /** A null prompt: an error row. */
        public static Request nullPrompt() {
            return invalid("prompt is null");
        }

        /** A row that cannot be generated; its finish reason is {@code error: <message>}. */
        public static Request invalid(String message) {
            return new Request(0L, 0, null, message, null);
        }
    }

    /**
     * One row's outcome. Times are milliseconds from the moment the sequence took a slot.
     *
     * @param completion       UTF-8 bytes of the generated text (null for an error row)
     * @param promptTokens     prompt tokens fed, BOS included (after truncation)
     * @param completionTokens generated tokens (a stop token is not counted)
     * @param finishReason     why the row ended
     * @param ttftMs           time to the first generated token (NaN if none)
     * @param latencyMs        time to the sequence's end
     */
    public record Result(byte[] completion, int promptTokens, int completionTokens, FinishReason finishReason, double ttftMs,
                         double latencyMs) {
    }

    /** Receives progress as sequences finish (for Spark accumulators and logs). */
    public interface Progress {
        void finished(Result result);
    }

    private final DecodeBackend backend;
    private final TokenCodec codec;
    private final BadRowPolicy longPrompts;
    private final int prefillTokensPerStep;
    private final LlamaConfig config;

    private java.util.function.BooleanSupplier cancelled = () -> false;

    // Per-step arrays, sized once.
    private final int[] tokens;
    private final int[] positions;
    private final int[] slotOfRow;
    private final int[] logitRows;
    private final int[] slotOfLogit;

    /**
     * @param longPrompts          what a prompt longer than the context does ({@code --long-prompts})
     * @param prefillTokensPerStep prompt tokens fed per step across all prefilling sequences, {@code >= 1};
     *                             the backend must take {@code maxSlots + prefillTokensPerStep} rows
     * @throws IllegalArgumentException for a tokenizer of another vocabulary than the model's, or a bad setting
     */
    public ContinuousBatcher(DecodeBackend backend, TokenCodec codec, BadRowPolicy longPrompts,
                             int prefillTokensPerStep) {
        BadRowPolicy.LONG_PROMPTS.check(longPrompts);
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
     * @param labels   names the requests in error messages
     * @param progress told about each finished row, may be null
     * @throws InvalidRowException under {@link BadRowPolicy#FAIL} for a prompt longer than the context
     * @throws java.util.concurrent.CancellationException once {@link #cancelWhen cancelled}, between two steps
     */
    public Result[] run(Request[] requests, RowLabels labels, Progress progress) {
        Result[] results = new Result[requests.length];
        Seq[] slots = new Seq[backend.maxSlots()];
        int nextRequest = 0;
        int active = 0;
        int[] scratch = new int[16];
        long steps = 0;
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
                    if (req.error() != null) {
                        finish(results, r, new Result(null, 0, 0, FinishReason.error(req.error()), Double.NaN, 0.0), progress);
                        continue;
                    }
                    if (scratch.length < req.length() + 3) {
                        scratch = new int[req.length() + 3];
                    }
                    // A prompt too long by its byte count alone is rejected before any tokenizing: every token
                    // covers at most maxPieceBytes bytes, and BOS comes first.
                    long atLeast = 1 + ((long) req.length() + codec.maxPieceBytes() - 1) / Math.max(1, codec.maxPieceBytes());
                    if (atLeast > config.seqLen() && longPrompts != BadRowPolicy.TRUNCATE) {
                        String problem = "prompt is " + req.length() + " bytes, at least " + atLeast
                            + " tokens, more than the model's context of " + config.seqLen()
                            + " (--long-prompts truncate keeps its end)";
                        if (longPrompts == BadRowPolicy.FAIL) {
                            String row = labels.label(r);
                            throw new InvalidRowException(row, "generate: " + row + ": " + problem);
                        }
                        finish(results, r, new Result(null, 0, 0, FinishReason.error(problem), Double.NaN, 0.0), progress);
                        continue;
                    }
                    int m;
                    try {
                        m = req.utf8() != null ? codec.encode(req.utf8(), scratch)
                            : codec.encode(req.address(), req.length(), scratch);
                    } catch (UnencodableTextException e) {
                        // A byte the vocabulary cannot encode: this row fails, naming the byte and its offset.
                        finish(results, r, new Result(null, 0, 0, FinishReason.error(e.getMessage()), Double.NaN, 0.0),
                            progress);
                        continue;
                    }
                    int[] prompt = Arrays.copyOf(scratch, m);
                    if (m > config.seqLen()) {
                        String problem = "prompt is " + m + " tokens, more than the model's context of " + config.seqLen()
                            + " (--long-prompts truncate keeps its end)";
                        if (longPrompts == BadRowPolicy.FAIL) {
                            String row = labels.label(r);
                            throw new InvalidRowException(row, "generate: " + row + ": " + problem);
                        }
                        if (longPrompts == BadRowPolicy.ROW_ERROR) {
                            finish(results, r, new Result(null, m, 0, FinishReason.error(problem), Double.NaN, 0.0),
                                progress);
                            continue;
                        }
                        int reserve = Math.min(req.params().maxNewTokens(), config.seqLen() / 2);
                        int keep = Math.max(1, config.seqLen() - reserve) - 1;
                        int[] cut = new int[keep + 1];
                        cut[0] = Tokenizer.BOS;
                        System.arraycopy(prompt, m - keep, cut, 1, keep);
                        prompt = cut;
                        m = cut.length;
                    }
                    if (req.params().maxNewTokens() == 0) {
                        finish(results, r, new Result(new byte[0], m, 0, FinishReason.LENGTH, Double.NaN, 0.0), progress);
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
            if (cancelled.getAsBoolean()) {
                throw new java.util.concurrent.CancellationException("generate cancelled after " + steps + " decode steps");
            }
            backend.forward(rows, tokens, positions, slotOfRow, nLogits, logitRows);
            steps++;
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
                FinishReason end = null;
                if (next == Tokenizer.BOS || next == Tokenizer.EOS) {
                    end = FinishReason.STOP;
                } else {
                    if (q.firstToken < 0) {
                        q.firstToken = now;
                    }
                    q.text.writeBytes(codec.decode(q.last, next));
                    q.generated++;
                    q.next = next;
                    if (q.generated >= q.params.maxNewTokens() || q.pos >= config.seqLen()) {
                        end = FinishReason.LENGTH;
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

    /**
     * Makes {@link #run} stop between two decode steps once {@code cancelled} says so (in Spark: the task
     * was killed or its job cancelled), throwing {@link java.util.concurrent.CancellationException}; the
     * task's resources then free the backend's KV cache.
     *
     * @return this
     */
    public ContinuousBatcher cancelWhen(java.util.function.BooleanSupplier cancelled) {
        this.cancelled = java.util.Objects.requireNonNull(cancelled, "cancelled");
        return this;
    }

    /** @return whether requests may carry off-heap addresses ({@link Request#offHeap}); else give byte arrays */
    public boolean readsOffHeap() {
        return codec.readsOffHeap();
    }

    private static void finish(Result[] results, int r, Result result, Progress progress) {
        results[r] = result;
        ExecutorMetrics.generateRow(result.promptTokens(), result.completionTokens());
        if (progress != null) {
            progress.finished(result);
        }
    }
}

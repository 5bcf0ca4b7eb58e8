package org.sparknative.udf.generate;

import java.io.ByteArrayOutputStream;
import java.util.Arrays;
import org.sparknative.kernels.llama.LlamaConfig;
import org.sparknative.kernels.llama.Sampler;
import org.sparknative.kernels.llama.Tokenizer;
import org.sparknative.kernels.llama.UnencodableTextException;
import org.sparknative.udf.BadRowPolicy;
import org.sparknative.udf.InvalidRowException;
import org.sparknative.udf.RowLabels;
import org.sparknative.udf.generate.GenerationScheduler.Request;
import org.sparknative.udf.generate.GenerationScheduler.Result;

/**
 * The continuous-batching core shared by the per-task {@link ContinuousBatcher} and the executor-wide
 * {@link SharedDecodeLoop}: the slots of one {@link DecodeBackend}, the admission of a prepared request
 * into a free slot, and one decode step over every occupied slot. Who feeds it, and where results go, is
 * the caller's business: a sequence carries an opaque {@code owner} (the submission it came from) and its
 * request index.
 *
 * <p>A step holds one decode row per generating sequence, then prompt tokens (prefill) of the sequences
 * still reading their prompts, up to {@code prefillTokensPerStep} in all. Generation follows llama2.c's
 * {@code generate()}: prompt token {@code i} is fed at position {@code i}; after the last prompt token each
 * forward samples the next token, which is fed next. A sequence ends on BOS/EOS, when its token budget is
 * spent, or when the context is full. Each sequence has its own RNG state seeded from its row's seed.
 *
 * <p>Threading: not thread-safe; one thread at a time drives an instance.
 */
final class DecodeSlots {
    /** A sequence in a slot. */
    static final class Seq {
        Object owner;
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
        byte[][] stops;   // the row's stop strings as UTF-8, or null
        int[] recent;     // the latest tokens for the repetition penalty (a ring; order does not matter), or null
        int nRecent;
        int recentNext;

        /** Adds {@code token} to the penalty window, replacing the oldest once it is full. */
        void remember(int token) {
            if (recent == null) {
                return;
            }
            recent[recentNext] = token;
            recentNext = (recentNext + 1) % recent.length;
            nRecent = Math.min(nRecent + 1, recent.length);
        }
    }

    /** What {@link #prepare} made of a request: a result at once ({@code done}), or a sequence to admit. */
    record Prepared(Result done, Seq seq) {
    }

    /** Receives the sequences a step finished. */
    interface Finished {
        void finished(Seq seq, Result result);
    }

    private final DecodeBackend backend;
    private final TokenCodec codec;
    private final int prefillTokensPerStep;
    private final LlamaConfig config;
    private final Seq[] slots;
    private int active;
    private int[] scratch = new int[16];
    private final java.util.Set<Object> ownerScratch = java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());

    // Per-step arrays, sized once.
    private final int[] tokens;
    private final int[] positions;
    private final int[] slotOfRow;
    private final int[] logitRows;
    private final int[] slotOfLogit;
    private final boolean[] sampledLogits;

    /**
     * @param prefillTokensPerStep prompt tokens fed per step across all prefilling sequences, {@code >= 1};
     *                             the backend must take {@code maxSlots + prefillTokensPerStep} rows
     * @throws IllegalArgumentException for a tokenizer of another vocabulary than the model's, or a bad setting
     */
    DecodeSlots(DecodeBackend backend, TokenCodec codec, int prefillTokensPerStep) {
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
        this.prefillTokensPerStep = prefillTokensPerStep;
        this.config = backend.config();
        this.slots = new Seq[backend.maxSlots()];
        int rows = backend.maxRowsPerStep();
        this.tokens = new int[rows];
        this.positions = new int[rows];
        this.slotOfRow = new int[rows];
        this.logitRows = new int[backend.maxSlots()];
        this.slotOfLogit = new int[backend.maxSlots()];
        this.sampledLogits = new boolean[backend.maxSlots()];
    }

    DecodeBackend backend() {
        return backend;
    }

    TokenCodec codec() {
        return codec;
    }

    /** @return the number of slots */
    int maxSlots() {
        return slots.length;
    }

    /** @return occupied slots */
    int active() {
        return active;
    }

    /** @return whether a slot is free */
    boolean hasFreeSlot() {
        return active < slots.length;
    }

    /**
     * Tokenizes and checks one request: an error row, a prompt the context cannot hold ({@code longPrompts}
     * decides), a byte the vocabulary cannot encode or a zero token budget finish at once; anything else
     * becomes a sequence for {@link #admit}.
     *
     * @param r      the request's index, for {@code labels} and {@link Seq#request}
     * @throws InvalidRowException under {@link BadRowPolicy#FAIL} for a prompt longer than the context
     */
    Prepared prepare(Request req, int r, BadRowPolicy longPrompts, RowLabels labels) {
        long t0 = System.nanoTime();
        if (req.error() != null) {
            return done(new Result(null, 0, 0, FinishReason.error(req.error()), Double.NaN, 0.0));
        }
        if (scratch.length < req.length() + 3) {
            scratch = new int[req.length() + 3];
        }
        // A prompt too long by its byte count alone is rejected before any tokenizing: every token covers at
        // most maxPieceBytes bytes, and BOS comes first.
        long atLeast = 1 + ((long) req.length() + codec.maxPieceBytes() - 1) / Math.max(1, codec.maxPieceBytes());
        if (atLeast > config.seqLen() && longPrompts != BadRowPolicy.TRUNCATE) {
            String problem = "prompt is " + req.length() + " bytes, at least " + atLeast
                + " tokens, more than the model's context of " + config.seqLen()
                + " (--long-prompts truncate keeps its end)";
            if (longPrompts == BadRowPolicy.FAIL) {
                String row = labels.label(r);
                throw new InvalidRowException(row, "generate: " + row + ": " + problem);
            }
            return done(new Result(null, 0, 0, FinishReason.error(problem), Double.NaN, 0.0));
        }
        int m;
        try {
            m = req.utf8() != null ? codec.encode(req.utf8(), scratch) : codec.encode(req.address(), req.length(), scratch);
        } catch (UnencodableTextException e) {
            // A byte the vocabulary cannot encode: this row fails, naming the byte and its offset.
            return done(new Result(null, 0, 0, FinishReason.error(e.getMessage()), Double.NaN, 0.0));
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
                return done(new Result(null, m, 0, FinishReason.error(problem), Double.NaN, 0.0));
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
            return done(new Result(new byte[0], m, 0, FinishReason.LENGTH, Double.NaN, 0.0));
        }
        Seq q = new Seq();
        q.request = r;
        q.prompt = prompt;
        q.promptLen = m;
        q.rng = new long[] {Sampler.seedState(req.params().seed())};
        q.params = req.params();
        if (q.params.repetitionPenalty() != 1f) {
            q.recent = new int[GenerationParams.PENALTY_LAST_N];
            for (int i = Math.max(0, m - q.recent.length); i < m; i++) {
                q.remember(prompt[i]);
            }
        }
        if (!q.params.stop().isEmpty()) {
            q.stops = new byte[q.params.stop().size()][];
            for (int i = 0; i < q.stops.length; i++) {
                q.stops[i] = q.params.stop().get(i).getBytes(java.nio.charset.StandardCharsets.UTF_8);
            }
        }
        q.text = new ByteArrayOutputStream();
        q.admitted = t0;
        q.firstToken = -1;
        return new Prepared(null, q);
    }

    /**
     * Whether the completion now contains one of the row's stop strings; if so it is cut where the earliest one
     * starts. Only a match that ends in the piece just added can be new, so only the text's last
     * {@code added + longest stop - 1} bytes are searched.
     */
    private static boolean stopAt(Seq q, int added) {
        byte[] text = q.text.toByteArray();
        int cut = -1;
        for (byte[] stop : q.stops) {
            int from = Math.max(0, text.length - added - stop.length + 1);
            for (int i = from; i + stop.length <= text.length; i++) {
                if (java.util.Arrays.equals(text, i, i + stop.length, stop, 0, stop.length)) {
                    if (cut < 0 || i < cut) {
                        cut = i;
                    }
                    break;
                }
            }
        }
        if (cut < 0) {
            return false;
        }
        q.text.reset();
        q.text.write(text, 0, cut);
        return true;
    }

    private static Prepared done(Result result) {
        return new Prepared(result, null);
    }

    /**
     * Puts a prepared sequence into the lowest free slot.
     *
     * @throws IllegalStateException if every slot is taken
     */
    void admit(Seq q) {
        for (int s = 0; s < slots.length; s++) {
            if (slots[s] == null) {
                slots[s] = q;
                active++;
                return;
            }
        }
        throw new IllegalStateException("no free slot among " + slots.length);
    }

    /**
     * Drops every sequence of {@code owner} (all of them for null) from its slot, unfinished; its slot is
     * free for the next admission (a new sequence starts again at position 0, so what the dropped one left
     * in the KV cache is never read).
     *
     * @return how many were dropped
     */
    int evict(Object owner) {
        int n = 0;
        for (int s = 0; s < slots.length; s++) {
            if (slots[s] != null && (owner == null || slots[s].owner == owner)) {
                slots[s] = null;
                active--;
                n++;
            }
        }
        return n;
    }

    /** @return whether a sequence of {@code owner} holds a slot */
    boolean holds(Object owner) {
        for (Seq q : slots) {
            if (q != null && q.owner == owner) {
                return true;
            }
        }
        return false;
    }

    /** @return how many distinct owners hold slots (one pass over the slots: the shared loop asks every step) */
    int owners() {
        ownerScratch.clear();
        for (Seq q : slots) {
            if (q != null) {
                ownerScratch.add(q.owner);
            }
        }
        return ownerScratch.size();
    }

    /**
     * One decode step over every occupied slot: builds the rows, runs the backend's forward pass, samples
     * the sequences that produced logits, and frees the slots of those that ended, telling {@code sink}.
     * If the backend throws, the sequences are left as they were before the step except for their prefill
     * progress; the caller evicts them.
     *
     * @return the rows the step ran
     */
    int step(Finished sink) {
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
        boolean anySampled = false;
        for (int k = 0; k < nLogits; k++) {
            GenerationParams p = slots[slotOfLogit[k]].params;
            sampledLogits[k] = p.temperature() > 0f || p.filters();
            anySampled |= sampledLogits[k];
        }
        if (anySampled) {
            backend.willSample(nLogits, sampledLogits);
        }
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
            int next = q.params.filters() ? backend.sample(k, q.params, q.recent, q.nRecent, q.rng)
                : backend.sample(k, q.params.temperature(), q.params.topP(), q.rng);
            q.remember(next);
            FinishReason end = null;
            if (next == Tokenizer.BOS || next == Tokenizer.EOS) {
                end = FinishReason.STOP;
            } else {
                if (q.firstToken < 0) {
                    q.firstToken = now;
                }
                byte[] piece = codec.decode(q.last, next);
                q.text.writeBytes(piece);
                q.generated++;
                q.next = next;
                if (q.stops != null && stopAt(q, piece.length)) {
                    end = FinishReason.STOP;
                } else if (q.generated >= q.params.maxNewTokens() || q.pos >= config.seqLen()) {
                    end = FinishReason.LENGTH;
                }
            }
            if (end != null) {
                double ttft = q.firstToken < 0 ? Double.NaN : (q.firstToken - q.admitted) / 1e6;
                slots[s] = null;
                active--;
                backend.slotFreed(s);
                sink.finished(q, new Result(q.text.toByteArray(), q.promptLen, q.generated, end, ttft,
                    (now - q.admitted) / 1e6));
            }
        }
        return rows;
    }
}

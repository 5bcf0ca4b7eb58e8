package org.sparknative.kernels.llama;

import java.util.Arrays;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.Pointer;
import org.sparknative.kernels.NativeStatus;

/**
 * Batched Llama-2 inference state over a {@link NativeLlamaModel}: the KV cache of {@code maxSlots}
 * sequences ({@code [layer][slot][pos][kvDim]}, keys and values) and every scratch buffer, allocated once
 * in {@link NativeLlamaModel#newBatch}. A step ({@link #forward}) allocates nothing.
 *
 * <p>Semantics: each slot is one sequence; a row feeds one token at one position of one slot. A caller
 * that reuses a slot for a new sequence simply starts again at position 0: attention at position
 * {@code p} reads cache positions {@code 0..p} only, so what an earlier sequence left at higher positions
 * is never seen. Results are bitwise reproducible: a row's logits do not depend on which other rows share
 * the step, on the thread count, nor on the instruction set (SSE2, AVX2 or AVX-512).
 *
 * <p>Threading: not thread-safe; one batch per Spark task. {@code forward(..., threads)} runs the step on
 * the calling thread alone for {@code threads == 1}; otherwise on the calling thread plus
 * {@code threads - 1} native worker threads that belong to this batch (named {@code sn-llama-pool},
 * created on first use, recreated if the count changes, sleeping between steps, joined by
 * {@link #close()}). Waits spin briefly, then yield, then sleep, so several multi-threaded tasks on too
 * few cores slow down gracefully. Nothing is shared between batches except the read-only weights.
 * {@link #close()} is idempotent; an unclosed batch leaks its native memory and threads.
 */
public final class NativeLlamaBatch implements AutoCloseable {
    private final NativeLlamaModel model;
    private final LlamaConfig config;
    private final int maxSlots;
    private final int maxRows;
    private final FloatPointer logits;
    private final long[] keyScratch;
    /** The step descriptor handed to the C side, pointing at the four native arrays below (maxRows each). */
    private final LlamaKernels.Step step;
    private final IntPointer stepTokens;
    private final IntPointer stepPositions;
    private final IntPointer stepSlots;
    private final BytePointer stepLogits;
    private final byte[] logitFlags;
    private long handle;
    private int logitRowCount;

    /** A JavaCPP view of native memory this class does not own. */
    private static final class View extends Pointer {
        View(long address, long capacity) {
            this.address = address;
            this.capacity = capacity;
            this.limit = capacity;
        }
    }

    /** KV cache bytes of the batches of this JVM that are not closed yet. */
    private static final java.util.concurrent.atomic.AtomicLong LIVE_KV_CACHE_BYTES = new java.util.concurrent.atomic.AtomicLong();

    private final long kvCacheBytes;
    private final KvCacheType kvCache;

    /**
     * @return the KV cache bytes of every batch of this JVM (executor) that is not closed: 0 when no task
     *         decodes; tests and metrics read it to prove that tasks free their caches
     */
    public static long liveKvCacheBytes() {
        return LIVE_KV_CACHE_BYTES.get();
    }

    /** @return this batch's KV cache element type ({@link KvCacheType#F32} or {@link KvCacheType#F16}) */
    public KvCacheType kvCache() {
        return kvCache;
    }

    NativeLlamaBatch(NativeLlamaModel model, long handle, int maxSlots, int maxRows, long kvCacheBytes,
                     KvCacheType kvCache) {
        this.kvCacheBytes = kvCacheBytes;
        this.kvCache = kvCache;
        LIVE_KV_CACHE_BYTES.addAndGet(kvCacheBytes);
        this.model = model;
        this.config = model.config();
        this.handle = handle;
        this.maxSlots = maxSlots;
        this.maxRows = maxRows;
        this.logits = new FloatPointer(new View(LlamaKernels.batchLogits(handle), (long) maxRows * config.vocabSize()));
        this.keyScratch = new long[maxRows];
        this.logitFlags = new byte[maxRows];
        IntPointer tokens = null;
        IntPointer positions = null;
        IntPointer slots = null;
        BytePointer flags = null;
        try {
            tokens = new IntPointer((long) maxRows);
            positions = new IntPointer((long) maxRows);
            slots = new IntPointer((long) maxRows);
            flags = new BytePointer((long) maxRows);
            this.step = new LlamaKernels.Step().token(tokens).pos(positions).slot(slots).logits(flags);
        } catch (RuntimeException | Error e) {
            for (Pointer p : new Pointer[] {tokens, positions, slots, flags}) {
                if (p != null) {
                    p.close();
                }
            }
            LlamaKernels.batchFree(handle);
            model.batchClosed();
            throw e;
        }
        this.stepTokens = tokens;
        this.stepPositions = positions;
        this.stepSlots = slots;
        this.stepLogits = flags;
    }

    /**
     * Runs one step: row {@code i} feeds {@code tokens[i]} at position {@code positions[i]} of sequence slot
     * {@code slots[i]}. In every layer the K/V of all rows are written to the cache before attention, so
     * several rows of one slot at distinct positions (chunked prefill) attend causally to each other and to
     * what earlier steps cached. Logits are computed only for the {@code nLogits} rows listed in
     * {@code logitRows}, which must be strictly ascending: afterwards logits row {@code k} belongs to row
     * {@code logitRows[k]}. (The arrays are copied into the native step descriptor, {@link LlamaKernels.Step},
     * whose per-row "needs logits" flags express the same thing.)
     *
     * @param threads threads for this call ({@code >= 1})
     * @throws IllegalArgumentException naming the row and value of any index out of range, a
     *                                  {@code logitRows} that is not strictly ascending, or two rows that
     *                                  would write the same slot and position
     * @throws IllegalStateException    if the batch is closed
     */
    public void forward(int rows, int[] tokens, int[] positions, int[] slots, int nLogits, int[] logitRows, int threads) {
        checkOpen();
        StepArguments.validate(rows, tokens, positions, slots, nLogits, logitRows, threads, config.vocabSize(),
            config.seqLen(), maxSlots, maxRows, keyScratch);
        logitRowCount = 0;
        if (rows > 0) {
            stepTokens.put(tokens, 0, rows);
            stepPositions.put(positions, 0, rows);
            stepSlots.put(slots, 0, rows);
            Arrays.fill(logitFlags, 0, rows, (byte) 0);
            for (int k = 0; k < nLogits; k++) {
                logitFlags[logitRows[k]] = 1;
            }
            stepLogits.put(logitFlags, 0, rows);
        }
        step.nRows(rows);
        NativeStatus status = NativeStatus.of(LlamaKernels.forward(handle, step, threads));
        if (status != NativeStatus.OK) {
            throw new IllegalArgumentException("native forward rejected its arguments (" + status.describe() + ")");
        }
        logitRowCount = nLogits;
    }

    /** @return how many logits rows the last {@link #forward} produced */
    public int logitRowCount() {
        return logitRowCount;
    }

    /** @return logit of {@code token} in logits row {@code k} of the last step */
    public float logit(int k, int token) {
        checkOpen();
        checkLogitRow(k);
        if (token < 0 || token >= config.vocabSize()) {
            throw new IllegalArgumentException("token " + token + " is outside [0, " + config.vocabSize() + ")");
        }
        return logits.get((long) k * config.vocabSize() + token);
    }

    /** Copies logits row {@code k} of the last step into {@code dst[0 .. vocab)}. */
    public void copyLogits(int k, float[] dst) {
        checkOpen();
        checkLogitRow(k);
        if (dst.length < config.vocabSize()) {
            throw new IllegalArgumentException("dst has " + dst.length + " entries, needs vocab " + config.vocabSize());
        }
        logits.position((long) k * config.vocabSize()).get(dst, 0, config.vocabSize());
        logits.position(0);
    }

    /**
     * Samples the next token from logits row {@code k} of the last step with llama2.c's sampler: argmax for
     * temperature 0, else softmax(logits / temperature) and one draw of its xorshift RNG; top-p when
     * {@code 0 < topp < 1} (candidates ordered by probability, then id). The logits are left untouched.
     *
     * @param rngState {@code rngState[0]} is the RNG state, advanced in place (not for temperature 0)
     */
    public int sample(int k, float temperature, float topp, long[] rngState) {
        checkOpen();
        StepArguments.validateSample(k, logitRowCount, temperature, topp, rngState);
        int token = LlamaKernels.batchSample(handle, k, temperature, topp, rngState);
        if (token < 0) {
            throw new IllegalArgumentException("native sampler rejected row " + k + " ("
                + NativeStatus.of(token).describe() + ")");
        }
        return token;
    }

    /**
     * {@link #sample} after llama.cpp's repetition penalty over {@code recent[0 .. nRecent)} and top-k, in that
     * order ({@link Sampler#sampleFiltered} gives the same token for the same logits). The logits are left untouched.
     *
     * @param topK    0 keeps every token
     * @param penalty {@code > 0}; 1 is none
     * @throws IllegalArgumentException for a bad row, setting or recent-token count
     */
    public int sample(int k, float temperature, float topp, int topK, float penalty, int[] recent, int nRecent,
                      long[] rngState) {
        checkOpen();
        StepArguments.validateSample(k, logitRowCount, temperature, topp, rngState);
        StepArguments.validateFilters(topK, penalty, recent, nRecent);
        if (topK <= 0 && penalty == 1f) {
            return sample(k, temperature, topp, rngState);
        }
        int token = LlamaKernels.batchSampleFiltered(handle, k, temperature, topp, topK, penalty,
            recent == null ? new int[1] : recent, nRecent, rngState);
        if (token < 0) {
            throw new IllegalArgumentException("native sampler rejected row " + k + " ("
                + NativeStatus.of(token).describe() + ")");
        }
        return token;
    }

    private void checkLogitRow(int k) {
        StepArguments.validateLogitRow(k, logitRowCount);
    }

    private void checkOpen() {
        if (handle == 0) {
            throw new IllegalStateException("batch is closed");
        }
    }

    /**
     * Tests: the highest instruction-set path ({@link LlamaKernels#SIMD_GENERIC} and up) {@link #forward} may run, or
     * -1 for {@link LlamaKernels#simdDefault}. Every path gives the same bits.
     */
    void limitSimd(int level) {
        checkOpen();
        if (LlamaKernels.batchLimitSimd(handle, level) != 0) {
            throw new IllegalArgumentException("no SIMD level " + level);
        }
    }

    /** Tests: the path {@link #forward} runs on now, as {@link LlamaKernels#simdName} names it. */
    String codePath() {
        checkOpen();
        return LlamaKernels.simdName(LlamaKernels.batchSimd(handle));
    }

    /** @return the model this batch runs */
    public NativeLlamaModel model() {
        return model;
    }

    /**
     * Hands the KV cache memory of {@code slot} back to the OS: call when its sequence has ended. The slot stays
     * usable; its next sequence writes every position before reading it, so results do not change. Small models
     * (a slot's region under two pages per layer) hand back nothing.
     *
     * @return bytes handed back
     * @throws IllegalArgumentException if {@code slot} is out of range
     * @throws IllegalStateException    if the batch is closed
     */
    public long releaseSlot(int slot) {
        checkOpen();
        if (slot < 0 || slot >= maxSlots) {
            throw new IllegalArgumentException("slot " + slot + " out of range [0, " + maxSlots + ")");
        }
        return LlamaKernels.batchReleaseSlot(handle, slot);
    }

    /** @return the number of sequence slots */
    public int maxSlots() {
        return maxSlots;
    }

    /** @return the most rows one step may run */
    public int maxRowsPerStep() {
        return maxRows;
    }

    /** Frees the KV cache and scratch. Idempotent. */
    @Override
    public void close() {
        if (handle != 0) {
            LIVE_KV_CACHE_BYTES.addAndGet(-kvCacheBytes);
            LlamaKernels.batchFree(handle);
            handle = 0;
            logitRowCount = 0;
            step.close();
            stepTokens.close();
            stepPositions.close();
            stepSlots.close();
            stepLogits.close();
            model.batchClosed();
        }
    }
}

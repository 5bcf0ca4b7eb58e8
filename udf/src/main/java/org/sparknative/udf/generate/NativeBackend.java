package org.sparknative.udf.generate;

import org.sparknative.kernels.llama.LlamaConfig;
import org.sparknative.kernels.llama.NativeLlamaBatch;
import org.sparknative.kernels.llama.KvCacheType;
import org.sparknative.kernels.llama.NativeLlamaModel;
import org.sparknative.udf.ExecutorMetrics;

/**
 * The native C backend ({@code cpu}): a task's {@link NativeLlamaBatch} (KV cache and scratch) over the
 * executor's shared memory-mapped weights. Each step runs on {@code threads} threads; the executor's
 * task slots already use its cores, so the default is {@code spark.task.cpus} (1): raise both together
 * to give each task more threads without oversubscribing the executor. The time of each forward and sample
 * call counts as native time in {@link ExecutorMetrics}.
 */
public final class NativeBackend implements DecodeBackend {
    private final NativeLlamaBatch batch;
    private final int threads;

    /**
     * @throws IllegalArgumentException if {@code threads < 1} or a size is not positive
     */
    public NativeBackend(NativeLlamaModel model, int maxSlots, int maxRowsPerStep, int threads) {
        this(model, maxSlots, maxRowsPerStep, threads, KvCacheType.AUTO);
    }

    /** As {@link #NativeBackend(NativeLlamaModel, int, int, int)} with a KV cache of {@code kvCache}. */
    public NativeBackend(NativeLlamaModel model, int maxSlots, int maxRowsPerStep, int threads, KvCacheType kvCache) {
        if (threads < 1) {
            throw new IllegalArgumentException("threads must be >= 1, got " + threads);
        }
        this.batch = model.newBatch(maxSlots, maxRowsPerStep, kvCache);
        this.threads = threads;
    }

    @Override
    public LlamaConfig config() {
        return batch.model().config();
    }

    @Override
    public int maxSlots() {
        return batch.maxSlots();
    }

    @Override
    public int maxRowsPerStep() {
        return batch.maxRowsPerStep();
    }

    @Override
    public void forward(int rows, int[] tokens, int[] positions, int[] slots, int nLogits, int[] logitRows) {
        long t0 = System.nanoTime();
        try {
            batch.forward(rows, tokens, positions, slots, nLogits, logitRows, threads);
        } finally {
            ExecutorMetrics.nativeCallSince(t0);
        }
    }

    @Override
    public int sample(int k, float temperature, float topp, long[] rngState) {
        long t0 = System.nanoTime();
        try {
            return batch.sample(k, temperature, topp, rngState);
        } finally {
            ExecutorMetrics.nativeCallSince(t0);
        }
    }

    @Override
    public int sample(int k, GenerationParams params, int[] recent, int nRecent, long[] rngState) {
        long t0 = System.nanoTime();
        try {
            return batch.sample(k, params.temperature(), params.topP(), params.topK(), params.repetitionPenalty(), recent,
                nRecent, rngState);
        } finally {
            ExecutorMetrics.nativeCallSince(t0);
        }
    }

    @Override
    public void slotFreed(int slot) {
        batch.releaseSlot(slot);
    }

    @Override
    public void close() {
        batch.close();
    }
}

package org.sparknative.udf.generate;

import java.util.Locale;
import java.util.function.IntFunction;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.sparknative.kernels.cuda.CudaException;
import org.sparknative.kernels.cuda.CudaLlamaBatch;
import org.sparknative.kernels.cuda.CudaLlamaModel;
import org.sparknative.kernels.cuda.CudaMemoryPlan;
import org.sparknative.kernels.cuda.MatmulMode;
import org.sparknative.kernels.llama.LlamaConfig;
import org.sparknative.udf.ExecutorMetrics;

/**
 * The CUDA backend behind the {@link DecodeBackend} seam: a {@link CudaLlamaBatch} (KV cache and scratch in
 * device memory) over weights uploaded once per executor and device ({@link CudaLlamaModel}). It is driven
 * by one {@link SharedDecodeLoop} per device and model, never by a task directly.
 *
 * <p>Slots: {@link #open} asks for the spec's slots, but first caps them at what {@link CudaMemoryPlan} says
 * fits in the device's free memory (less {@link #RESERVE_BYTES}), then halves them on every
 * {@code CUDA_ERROR_OUT_OF_MEMORY} until the batch is allocated; when it ends with fewer than asked it says
 * so once in the log.
 *
 * <p>Determinism: with {@link MatmulMode#INVARIANT} (the default) a row's logits do not depend on the rest
 * of its step, so sharing the device's batch never changes a row's text; {@link MatmulMode#CUBLAS} is faster
 * but cuBLAS picks its algorithm by the step's row count, so it is not.
 *
 * <p>Threading: not thread-safe; the loop's thread drives it. The time of each forward and sample call
 * counts as native time in {@link ExecutorMetrics}.
 */
public final class CudaBackend implements DecodeBackend {
    private static final Logger LOG = LoggerFactory.getLogger(CudaBackend.class);

    /** Device memory left free beside the batch: cuBLAS workspace, integrate tasks, allocator slack. */
    public static final long RESERVE_BYTES = 512L << 20;

    private final CudaLlamaBatch batch;
    private final LlamaConfig config;

    private CudaBackend(CudaLlamaBatch batch, LlamaConfig config) {
        this.batch = batch;
        this.config = config;
    }

    /**
     * Allocates the batch, shrinking the slots to what the device holds.
     *
     * @param slots   slots asked for, {@code >= 1}
     * @param prefill prompt tokens per step beside the decode rows, {@code >= 1}
     * @param where   names the device and model in the log line
     * @throws CudaException if not even one slot can be allocated, or for any other CUDA error
     */
    public static CudaBackend open(CudaLlamaModel weights, int slots, int prefill, MatmulMode mode, String where) {
        LlamaConfig c = weights.config();
        long free = weights.device().memInfo()[0];
        int fit = CudaMemoryPlan.maxSlots(c, free, prefill, RESERVE_BYTES);
        Fitted<CudaLlamaBatch> got = allocateShrinking(slots, fit, n -> weights.newBatch(n, n + prefill, mode));
        if (got.slots() < slots) {
            LOG.warn(String.format(Locale.ROOT, "%s: device memory holds %d of the %d slots asked for (%.1f GiB free, "
                    + "%.1f MiB of KV cache per slot%s); the shared decode loop runs with %d slots", where, got.slots(), slots,
                free / (double) (1L << 30), CudaMemoryPlan.kvBytesPerSlot(c) / (double) (1L << 20),
                got.outOfMemoryRetries() > 0 ? ", " + got.outOfMemoryRetries() + " out-of-memory retries" : "",
                got.slots()));
        }
        return new CudaBackend(got.value(), c);
    }

    /**
     * What {@link #allocateShrinking} allocated.
     *
     * @param value              the allocation
     * @param slots              the slots it holds
     * @param outOfMemoryRetries how many times the device ran out of memory before it
     */
    record Fitted<T>(T value, int slots, int outOfMemoryRetries) {
    }

    /**
     * The slot policy, without a device: start at {@code min(wanted, max(1, fit))} and halve on every
     * out-of-memory error until an allocation succeeds or one slot fails too.
     *
     * @throws CudaException the last out-of-memory error when one slot does not fit, or any other error at once
     */
    static <T> Fitted<T> allocateShrinking(int wanted, int fit, IntFunction<T> allocate) {
        if (wanted < 1) {
            throw new IllegalArgumentException("slots must be >= 1, got " + wanted);
        }
        int n = Math.min(wanted, Math.max(1, fit));
        int retries = 0;
        while (true) {
            try {
                return new Fitted<>(allocate.apply(n), n, retries);
            } catch (CudaException e) {
                if (!e.outOfMemory() || n == 1) {
                    throw e;
                }
                n = Math.max(1, n / 2);
                retries++;
            }
        }
    }

    /** @return the batch's matmul mode */
    public MatmulMode mode() {
        return batch.mode();
    }

    @Override
    public LlamaConfig config() {
        return config;
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
            batch.forward(rows, tokens, positions, slots, nLogits, logitRows);
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
    public void willSample(int nLogits, boolean[] sampled) {
        long t0 = System.nanoTime();
        try {
            batch.fetchLogits(sampled);
        } finally {
            ExecutorMetrics.nativeCallSince(t0);
        }
    }

    @Override
    public void close() {
        batch.close();
    }
}

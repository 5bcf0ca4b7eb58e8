package org.sparknative.kernels.cuda;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicLong;
import org.sparknative.kernels.llama.LlamaConfig;
import org.sparknative.kernels.llama.NativeLlamaModel;
import org.sparknative.kernels.llama.Tensor;

/**
 * The weights of a llama2.c checkpoint on one GPU: every {@link Tensor} copied once from the host mapping
 * of a {@link NativeLlamaModel} into device memory (float32, the checkpoint's row-major layout: matrices
 * {@code [out][in]}, per-layer tensors layer after layer), plus the RoPE table of the CPU model
 * ({@code [seq_len][head_size]}: cos, sin of {@code pos * 10000^(-i/head_size)} for even {@code i},
 * llama2.c run.c's float formula, computed by glibc on the host so the GPU rotates by the CPU path's
 * values). A shared classifier is the embedding's memory, uploaded once. {@link CudaMemoryPlan#weightBytes}
 * gives the size.
 *
 * <p>Batches ({@link #newBatch}) hold the KV caches and scratch; any number of them, on any threads, may
 * run on one model.
 *
 * <p>Threading: thread-safe; read-only after {@link #upload}. {@link #close()} is idempotent and frees the
 * device memory now, or when the last open batch closes, so closing the model never pulls the weights from
 * under a running batch.
 */
public final class CudaLlamaModel implements AutoCloseable {
    private static final AtomicLong UPLOADS = new AtomicLong();

    /** The largest output width the matmul kernel's grid ({@code ceil(out / 128)} blocks in y) can cover. */
    static final long MAX_MATMUL_OUT = 65535L * 128;

    private final CudaDevice device;
    private final LlamaConfig config;
    private final List<DeviceMemory> memory;
    /** Device address of each tensor, by ordinal (a shared classifier: the embedding's). */
    private final long[] addresses;
    private final long rope;
    private final long deviceBytes;
    private boolean closed;
    private int openBatches;
    private boolean freed;

    private CudaLlamaModel(CudaDevice device, LlamaConfig config, List<DeviceMemory> memory, long[] addresses, long rope) {
        this.device = device;
        this.config = config;
        this.memory = memory;
        this.addresses = addresses;
        this.rope = rope;
        long bytes = 0;
        for (DeviceMemory m : memory) {
            bytes += m.bytes();
        }
        this.deviceBytes = bytes;
    }

    /**
     * Uploads {@code weights} to the device {@code deviceOrdinal} ({@link Cuda#device(int)}).
     *
     * @throws CudaUnavailableException where CUDA cannot run (the probe's one-line reason), before anything
     *                                  is read
     * @see #upload(CudaDevice, NativeLlamaModel)
     */
    public static CudaLlamaModel upload(int deviceOrdinal, NativeLlamaModel weights) {
        Objects.requireNonNull(weights, "weights");
        return upload(Cuda.device(deviceOrdinal), weights);
    }

    /**
     * Allocates device memory for every tensor and copies it from the host mapping (synchronous copies;
     * the device is synchronized before this returns, so every stream sees the weights). The caller keeps
     * {@code weights} open during the call; afterwards this model does not need it.
     *
     * @throws CudaException            naming the call, e.g. a {@code cuMemAlloc} that does not fit
     *                                  ({@link CudaException#outOfMemory()}); whatever was allocated is freed
     *                                  first
     * @throws IllegalStateException    if {@code weights} is closed
     * @throws IllegalArgumentException if a matrix is wider than the matmul kernel's grid covers (over 8.3
     *                                  million outputs)
     */
    public static CudaLlamaModel upload(CudaDevice device, NativeLlamaModel weights) {
        Objects.requireNonNull(device, "device");
        Objects.requireNonNull(weights, "weights");
        LlamaConfig c = weights.config();
        long widest = Math.max(Math.max(c.dim(), c.hiddenDim()), Math.max(c.vocabSize(), c.kvDim()));
        if (widest > MAX_MATMUL_OUT) {
            throw new IllegalArgumentException("a weight matrix of " + widest + " outputs exceeds the CUDA matmul's "
                + MAX_MATMUL_OUT + " (" + c + ")");
        }
        List<DeviceMemory> memory = new ArrayList<>();
        long[] addresses = new long[Tensor.values().length];
        try {
            for (Tensor t : Tensor.values()) {
                long bytes = 4L * CudaMemoryPlan.tensorFloats(c, t);
                if (bytes == 0) {
                    continue; // the shared classifier
                }
                DeviceMemory m = device.alloc(bytes, "llama weights " + t);
                memory.add(m);
                m.copyFromHost(weights.tensorAddress(t), 0, bytes, null);
                addresses[t.ordinal()] = m.address();
            }
            if (c.sharedClassifier()) {
                addresses[Tensor.WCLS.ordinal()] = addresses[Tensor.TOKEN_EMBEDDING.ordinal()];
            }
            long ropeBytes = CudaMemoryPlan.ropeTableBytes(c);
            DeviceMemory r = device.alloc(ropeBytes, "llama RoPE table");
            memory.add(r);
            r.copyFromHost(weights.ropeTableAddress(), 0, ropeBytes, null);
            // cuMemcpyHtoD from pageable memory may return before the DMA lands, on the legacy stream, which
            // the batches' non-blocking streams do not wait for: wait here.
            device.synchronize();
            CudaLlamaModel model = new CudaLlamaModel(device, c, List.copyOf(memory), addresses, r.address());
            UPLOADS.incrementAndGet();
            return model;
        } catch (RuntimeException | Error e) {
            freeAll(memory, e);
            throw e;
        }
    }

    /**
     * Frees every allocation, going on past failures; the first failure is added to {@code cause} as
     * suppressed, or thrown at the end when there is no cause.
     */
    static void freeAll(List<? extends AutoCloseable> memory, Throwable cause) {
        RuntimeException first = null;
        for (AutoCloseable m : memory) {
            if (m == null) {
                continue;
            }
            try {
                m.close();
            } catch (Exception e) {
                RuntimeException r = e instanceof RuntimeException re ? re : new IllegalStateException(e);
                if (cause != null) {
                    cause.addSuppressed(r);
                } else if (first == null) {
                    first = r;
                } else {
                    first.addSuppressed(r);
                }
            }
        }
        if (first != null) {
            throw first;
        }
    }

    /** @return how many models this JVM has uploaded (successful {@link #upload} calls), for tests and metrics */
    public static long uploads() {
        return UPLOADS.get();
    }

    /** @return the model shape */
    public LlamaConfig config() {
        return config;
    }

    /** @return the device the weights live on */
    public CudaDevice device() {
        return device;
    }

    /** @return the device bytes of the weights, {@link CudaMemoryPlan#weightBytes} of {@link #config()} */
    public long deviceBytes() {
        return deviceBytes;
    }

    /**
     * Allocates a batch on this model's device: the KV cache of {@code maxSlots} sequences and the scratch of
     * {@code maxRowsPerStep} rows ({@link CudaMemoryPlan#batchBytes}), plus its own stream.
     *
     * @param mode how matrices are multiplied; {@link MatmulMode#INVARIANT} for bitwise batch invariance
     * @throws IllegalArgumentException if a count is not positive or {@code mode} is null
     * @throws IllegalStateException    if this model is closed
     * @throws CudaException            if an allocation fails ({@link CudaException#outOfMemory()} when it does
     *                                  not fit); nothing stays allocated
     */
    public CudaLlamaBatch newBatch(int maxSlots, int maxRowsPerStep, MatmulMode mode) {
        if (maxSlots <= 0) {
            throw new IllegalArgumentException("maxSlots must be > 0, got " + maxSlots);
        }
        if (maxRowsPerStep <= 0) {
            throw new IllegalArgumentException("maxRowsPerStep must be > 0, got " + maxRowsPerStep);
        }
        if (mode == null) {
            throw new IllegalArgumentException("mode must not be null");
        }
        synchronized (this) {
            if (closed) {
                throw new IllegalStateException("CUDA model on " + device + " is closed");
            }
            openBatches++;
        }
        try {
            return new CudaLlamaBatch(this, maxSlots, maxRowsPerStep, mode);
        } catch (RuntimeException | Error e) {
            batchClosed();
            throw e;
        }
    }

    /** Device address of a tensor's first float (a shared classifier: the embedding's). */
    long address(Tensor t) {
        return addresses[t.ordinal()];
    }

    /** Device address of the RoPE table ({@code [seq_len][head_size]}). */
    long ropeTable() {
        return rope;
    }

    /** Called by a batch's close() (or its failed construction): the last one out frees a closed model. */
    void batchClosed() {
        boolean free;
        synchronized (this) {
            openBatches--;
            free = closed && openBatches == 0 && !freed;
            freed |= free;
        }
        if (free) {
            device.makeCurrent();
            freeAll(memory, null);
        }
    }

    /** @return whether {@link #close()} was called */
    public synchronized boolean isClosed() {
        return closed;
    }

    /** Marks the model closed and frees its device memory now, or when its last open batch closes. Idempotent. */
    @Override
    public void close() {
        boolean free;
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
            free = openBatches == 0 && !freed;
            freed |= free;
        }
        if (free) {
            device.makeCurrent();
            freeAll(memory, null);
        }
    }

    @Override
    public String toString() {
        return "CudaLlamaModel(" + config + " on " + device + (isClosed() ? ", closed" : "") + ")";
    }
}

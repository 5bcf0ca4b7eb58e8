package org.sparknative.kernels.llama;

import org.sparknative.kernels.NativeStatus;

/**
 * The weights of a llama2.c checkpoint, memory-mapped read-only by the C side ({@code sn_llama.h}) with
 * the tensor offsets {@link Checkpoint} computed. The mapping is shared by every
 * {@link NativeLlamaBatch} made from it; pages come from the OS page cache, so several JVMs on a host
 * share one physical copy.
 *
 * <p>Threading: immutable after {@link #map}; any number of threads may create batches and run them
 * concurrently. {@link #close()} is idempotent; the file stays mapped until the last open batch is closed
 * too, so closing the model early never pulls the weights from under a running batch.
 */
public final class NativeLlamaModel implements AutoCloseable {
    private final Checkpoint checkpoint;
    private long handle;
    private boolean closed;
    private int openBatches;

    private NativeLlamaModel(Checkpoint checkpoint, long handle) {
        this.checkpoint = checkpoint;
        this.handle = handle;
    }

    /**
     * Maps the checkpoint's file.
     *
     * @throws CheckpointException if the file cannot be opened or mapped, or its length no longer matches
     *                             the header (the file changed since {@link Checkpoint#open})
     */
    public static NativeLlamaModel map(Checkpoint ckpt) {
        LlamaConfig c = ckpt.config();
        int[] cfg = {c.dim(), c.hiddenDim(), c.nLayers(), c.nHeads(), c.nKvHeads(), c.vocabSize(), c.seqLen()};
        long[] out = new long[2];
        NativeStatus status = NativeStatus.of(
            LlamaKernels.modelMap(ckpt.path().toString(), ckpt.fileBytes(), cfg, ckpt.offsets(), out));
        switch (status) {
            case OK:
                return new NativeLlamaModel(ckpt, out[0]);
            case ERR_OPEN:
                throw new CheckpointException(ckpt.path(), "cannot open for mapping (errno " + out[1] + ")");
            case ERR_STAT:
                throw new CheckpointException(ckpt.path(), "cannot stat for mapping (errno " + out[1] + ")");
            case ERR_LENGTH:
                throw new CheckpointException(ckpt.path(), "file length: expected " + ckpt.fileBytes()
                    + " bytes (as when the header was read), got " + out[1] + " at mapping time");
            case ERR_MMAP:
                throw new CheckpointException(ckpt.path(), "mmap of " + ckpt.fileBytes() + " bytes failed (errno " + out[1] + ")");
            case ERR_NOMEM:
                throw new IllegalStateException("native allocation failed while mapping " + ckpt.path());
            default:
                throw new CheckpointException(ckpt.path(), "tensor layout rejected by the native side ("
                    + status.describe() + ") for " + c);
        }
    }

    /** @return the model shape */
    public LlamaConfig config() {
        return checkpoint.config();
    }

    /**
     * The host address of a tensor's first float in the read-only mapping, for copying the weights
     * elsewhere (a GPU upload): {@code Checkpoint}'s layout, float32 little-endian, the sizes of
     * {@link Tensor}'s shapes. For a shared classifier, {@link Tensor#WCLS} gives the token embedding's
     * address.
     *
     * <p>The address is valid only while the mapping is: the caller must not close this model (nor the
     * last batch of a closed one) while it reads there.
     *
     * @throws IllegalStateException if the model is closed
     */
    public synchronized long tensorAddress(Tensor tensor) {
        return address(tensor.ordinal());
    }

    /**
     * The host address of the RoPE table the CPU forward pass uses: {@code [seqLen][headSize]} floats, at
     * {@code [pos][i]} and {@code [pos][i + 1]} (even {@code i}) the cosine and sine of
     * {@code pos * 1 / 10000^(i / headSize)}, computed in float as llama2.c's run.c does. Valid as
     * {@link #tensorAddress} is.
     *
     * @throws IllegalStateException if the model is closed
     */
    public synchronized long ropeTableAddress() {
        return address(Tensor.values().length);
    }

    private long address(int index) {
        if (closed || handle == 0) {
            throw new IllegalStateException("model " + checkpoint.path() + " is closed");
        }
        return LlamaKernels.modelAddress(handle, index);
    }

    /** @return the checkpoint this model maps */
    public Checkpoint checkpoint() {
        return checkpoint;
    }

    /**
     * Allocates a batch: the KV cache of {@code maxSlots} sequences ({@code 2 * layers * maxSlots * seqLen *
     * kvDim} floats, zero pages until touched) and the scratch for {@code maxRowsPerStep} rows per step.
     *
     * @throws IllegalArgumentException if a size is not positive or the cache would not be addressable
     * @throws IllegalStateException    if the model is closed
     * @throws IllegalStateException    if the native allocation fails: a task error naming the slots and
     *                                  bytes, never an {@link OutOfMemoryError}, which Spark treats as fatal to
     *                                  the executor and all its tasks
     */
    public NativeLlamaBatch newBatch(int maxSlots, int maxRowsPerStep) {
        if (maxSlots <= 0) {
            throw new IllegalArgumentException("maxSlots must be > 0, got " + maxSlots);
        }
        if (maxRowsPerStep <= 0) {
            throw new IllegalArgumentException("maxRowsPerStep must be > 0, got " + maxRowsPerStep);
        }
        LlamaConfig c = config();
        double cacheBytes = 8.0 * c.nLayers() * maxSlots * (double) c.seqLen() * c.kvDim();
        if (cacheBytes > 0x1p60) {
            throw new IllegalArgumentException("KV cache of " + maxSlots + " slots would need " + cacheBytes + " bytes");
        }
        long h;
        synchronized (this) {
            if (closed) {
                throw new IllegalStateException("model " + checkpoint.path() + " is closed");
            }
            long[] out = new long[1];
            NativeStatus status = NativeStatus.of(LlamaKernels.batchNew(handle, maxSlots, maxRowsPerStep, out));
            if (status == NativeStatus.ERR_NOMEM) {
                throw new IllegalStateException(String.format(java.util.Locale.ROOT,
                    "cannot allocate the KV cache of %d slots (%.2f GiB) and the scratch of %d rows for model %s: "
                        + "lower --slots", maxSlots, cacheBytes / (1 << 30), maxRowsPerStep, checkpoint.path()));
            }
            if (status != NativeStatus.OK) {
                throw new IllegalArgumentException("batch rejected by the native side (" + status.describe() + ")");
            }
            h = out[0];
            openBatches++;
        }
        return new NativeLlamaBatch(this, h, maxSlots, maxRowsPerStep, (long) cacheBytes);
    }

    /** Called by a batch's close(): the last one out unmaps a closed model. */
    synchronized void batchClosed() {
        openBatches--;
        if (closed && openBatches == 0) {
            free();
        }
    }

    /** @return whether {@link #close()} was called */
    public synchronized boolean isClosed() {
        return closed;
    }

    /** Marks the model closed and unmaps it now, or when its last open batch closes. Idempotent. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (openBatches == 0) {
            free();
        }
    }

    private void free() {
        if (handle != 0) {
            LlamaKernels.modelFree(handle);
            handle = 0;
        }
    }

    @Override
    public String toString() {
        return "NativeLlamaModel(" + checkpoint + (isClosed() ? ", closed" : "") + ")";
    }
}

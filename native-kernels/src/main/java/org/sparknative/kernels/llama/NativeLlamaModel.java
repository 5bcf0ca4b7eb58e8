package org.sparknative.kernels.llama;

import java.nio.file.Path;
import java.util.Objects;
import java.util.Optional;
import org.sparknative.kernels.NativeStatus;
import org.sparknative.kernels.gguf.GgufFile;

/**
 * The weights of a llama2.c checkpoint ({@link #map}) or of a {@code llama} GGUF file ({@link #mapGguf}),
 * memory-mapped read-only by the C side ({@code sn_llama.h}) with the tensor offsets {@link Checkpoint} or
 * {@link GgufLlama} computed and checked against the file's length. The mapping is shared by every
 * {@link NativeLlamaBatch} made from it; pages come from the OS page cache, so several JVMs on a host
 * share one physical copy.
 *
 * <p>Threading: immutable after {@link #map}; any number of threads may create batches and run them
 * concurrently. {@link #close()} is idempotent; the file stays mapped until the last open batch is closed
 * too, so closing the model early never pulls the weights from under a running batch.
 */
public final class NativeLlamaModel implements AutoCloseable {
    private final Checkpoint checkpoint; // null for a GGUF model
    private final GgufLlama gguf;        // null for a llama2.c checkpoint
    private final LlamaConfig config;
    private final Path path;
    private long handle;
    private boolean closed;
    private int openBatches;

    private NativeLlamaModel(Checkpoint checkpoint, GgufLlama gguf, long handle) {
        this.checkpoint = checkpoint;
        this.gguf = gguf;
        this.config = checkpoint != null ? checkpoint.config() : gguf.config();
        this.path = checkpoint != null ? checkpoint.path() : gguf.file().path();
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
        check(status, ckpt.path(), ckpt.fileBytes(), out, c);
        return new NativeLlamaModel(ckpt, null, out[0]);
    }

    /**
     * Maps a {@code llama} GGUF file ({@link GgufLlama}: typed weights F32, F16, BF16, Q8_0 or Q4_0 per tensor,
     * the file's RMSNorm epsilon and RoPE base). The forward pass computes F32 weights as for llama2.c checkpoints,
     * F16/BF16 by exact per-element conversion with the same float accumulation, and Q8_0/Q4_0 as ggml's CPU
     * backend: each matmul input row quantized once to Q8_0, an exact integer dot per block of 32, float
     * accumulation over blocks in order ({@link org.sparknative.kernels.gguf.Quants}' canonical order).
     *
     * @param model the validated model; its {@code config().seqLen()} is the context (KV cache length) batches get
     * @throws CheckpointException (a {@link org.sparknative.kernels.gguf.GgufException} for the layout) if the file
     *                             cannot be opened or mapped, changed length since it was opened, or the native side
     *                             rejects the layout
     */
    public static NativeLlamaModel mapGguf(GgufLlama model) {
        Objects.requireNonNull(model, "model");
        LlamaConfig c = model.config();
        GgufFile f = model.file();
        int[] cfg = {c.dim(), c.hiddenDim(), c.nLayers(), c.nHeads(), c.nKvHeads(), c.vocabSize(), c.seqLen()};
        long[] offsets = new long[Tensor.values().length * c.nLayers()];
        int[] types = new int[offsets.length];
        model.flatten(offsets, types);
        long[] out = new long[2];
        NativeStatus status = NativeStatus.of(LlamaKernels.modelMapGguf(f.path().toString(), f.fileBytes(), cfg,
            new float[] {model.rmsEps(), model.ropeBase()}, offsets, types, out));
        check(status, f.path(), f.fileBytes(), out, c);
        return new NativeLlamaModel(null, model, out[0]);
    }

    /**
     * As {@link #mapGguf(GgufLlama)} for {@code GgufLlama.of(file, contextLength)}.
     *
     * @param contextLength the context to run (may exceed the trained {@code llama.context_length}); {@code <= 0}:
     *                      the trained one
     */
    public static NativeLlamaModel mapGguf(GgufFile file, int contextLength) {
        return mapGguf(GgufLlama.of(file, contextLength));
    }

    /** As {@link #mapGguf(GgufFile, int)} for {@code GgufFile.open(file)}. */
    public static NativeLlamaModel mapGguf(Path file, int contextLength) {
        return mapGguf(GgufFile.open(file), contextLength);
    }

    private static void check(NativeStatus status, Path path, long fileBytes, long[] out, LlamaConfig c) {
        switch (status) {
            case OK:
                return;
            case ERR_OPEN:
                throw new CheckpointException(path, "cannot open for mapping (errno " + out[1] + ")");
            case ERR_STAT:
                throw new CheckpointException(path, "cannot stat for mapping (errno " + out[1] + ")");
            case ERR_LENGTH:
                throw new CheckpointException(path, "file length: expected " + fileBytes
                    + " bytes (as when the header was read), got " + out[1] + " at mapping time");
            case ERR_MMAP:
                throw new CheckpointException(path, "mmap of " + fileBytes + " bytes failed (errno " + out[1] + ")");
            case ERR_NOMEM:
                throw new IllegalStateException("native allocation failed while mapping " + path);
            default:
                throw new CheckpointException(path, "tensor layout rejected by the native side ("
                    + status.describe() + ") for " + c);
        }
    }

    /** @return the model shape ({@code seqLen}: the context batches get) */
    public LlamaConfig config() {
        return config;
    }

    /** @return the mapped file */
    public Path path() {
        return path;
    }

    /** @return the GGUF model this maps, or empty for a llama2.c checkpoint */
    public Optional<GgufLlama> gguf() {
        return Optional.ofNullable(gguf);
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
     * @throws IllegalStateException if the model is closed, or is a GGUF model (its tensors are typed and stored
     *                               per layer; the GPU upload takes llama2.c checkpoints only)
     */
    public synchronized long tensorAddress(Tensor tensor) {
        if (checkpoint == null) {
            throw new IllegalStateException("model " + path + " is GGUF: its tensors are typed and per layer, with no"
                + " contiguous float32 " + tensor + " to address (the CUDA path runs llama2.c checkpoints only)");
        }
        return address(tensor.ordinal());
    }

    /**
     * The host address of the RoPE table the CPU forward pass uses: {@code [seqLen][headSize]} floats, at
     * {@code [pos][i]} and {@code [pos][i + 1]} (even {@code i}) the cosine and sine of
     * {@code pos * 1 / base^(i / headSize)} (base 10000 for llama2.c checkpoints, {@link GgufLlama#ropeBase()} for
     * GGUF), computed in float as llama2.c's run.c does. Valid as
     * {@link #tensorAddress} is.
     *
     * @throws IllegalStateException if the model is closed
     */
    public synchronized long ropeTableAddress() {
        return address(Tensor.values().length);
    }

    private long address(int index) {
        if (closed || handle == 0) {
            throw new IllegalStateException("model " + path + " is closed");
        }
        return LlamaKernels.modelAddress(handle, index);
    }

    /**
     * @return the llama2.c checkpoint this model maps
     * @throws IllegalStateException for a GGUF model ({@link #gguf()})
     */
    public Checkpoint checkpoint() {
        if (checkpoint == null) {
            throw new IllegalStateException("model " + path + " is GGUF, not a llama2.c checkpoint: see gguf()");
        }
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
        return newBatch(maxSlots, maxRowsPerStep, KvCacheType.AUTO);
    }

    /**
     * As {@link #newBatch(int, int)} with a KV cache of {@code kvCache} ({@link KvCacheType#AUTO}: F16 for a GGUF
     * model, F32 for a llama2.c checkpoint).
     *
     * @param kvCache the cache's element type
     */
    public NativeLlamaBatch newBatch(int maxSlots, int maxRowsPerStep, KvCacheType kvCache) {
        KvCacheType kv = kvCache.resolve(gguf != null);
        if (maxSlots <= 0) {
            throw new IllegalArgumentException("maxSlots must be > 0, got " + maxSlots);
        }
        if (maxRowsPerStep <= 0) {
            throw new IllegalArgumentException("maxRowsPerStep must be > 0, got " + maxRowsPerStep);
        }
        LlamaConfig c = config();
        double cacheBytes = 2.0 * kv.bytes() * c.nLayers() * maxSlots * (double) c.seqLen() * c.kvDim();
        if (cacheBytes > 0x1p60) {
            throw new IllegalArgumentException("KV cache of " + maxSlots + " slots would need " + cacheBytes + " bytes");
        }
        long h;
        synchronized (this) {
            if (closed) {
                throw new IllegalStateException("model " + path + " is closed");
            }
            long[] out = new long[1];
            NativeStatus status = NativeStatus.of(LlamaKernels.batchNew(handle, maxSlots, maxRowsPerStep,
                kv == KvCacheType.F16 ? 1 : 0, out));
            if (status == NativeStatus.ERR_NOMEM) {
                throw new IllegalStateException(String.format(java.util.Locale.ROOT,
                    "cannot allocate the %s KV cache of %d slots (%.2f GiB) and the scratch of %d rows for model %s: "
                        + "lower --slots or --context", kv.label(), maxSlots, cacheBytes / (1 << 30), maxRowsPerStep, path));
            }
            if (status != NativeStatus.OK) {
                throw new IllegalArgumentException("batch rejected by the native side (" + status.describe() + ")");
            }
            h = out[0];
            openBatches++;
        }
        return new NativeLlamaBatch(this, h, maxSlots, maxRowsPerStep, (long) cacheBytes, kv);
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
        return "NativeLlamaModel(" + (checkpoint != null ? checkpoint : gguf) + (isClosed() ? ", closed" : "") + ")";
    }
}

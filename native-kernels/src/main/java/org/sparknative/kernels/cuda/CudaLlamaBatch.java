package org.sparknative.kernels.cuda;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.bytedeco.cuda.cublas.cublasContext;
import org.bytedeco.cuda.global.cublas;
import org.bytedeco.cuda.global.cudart;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.sparknative.kernels.llama.LlamaConfig;
import org.sparknative.kernels.llama.NativeLlamaBatch;
import org.sparknative.kernels.llama.Sampler;
import org.sparknative.kernels.llama.StepArguments;
import org.sparknative.kernels.llama.Tensor;

/**
 * Batched Llama-2 inference on a GPU over a {@link CudaLlamaModel}: the CUDA counterpart of
 * {@link NativeLlamaBatch}, with the same contract, argument checks and messages ({@link StepArguments}).
 * The forward pass is llama2.c run.c's {@code forward()} (RMSNorm, RoPE, grouped-query attention, SwiGLU,
 * the residual stream, the classifier), run as CUDA kernels ({@code sn_llama.cu}, arithmetic from
 * {@code sn_llama_math.h}) on this batch's own stream.
 *
 * <p>Device memory, allocated once by {@link CudaLlamaModel#newBatch} and sized by {@link CudaMemoryPlan}:
 * <ul>
 *   <li>the KV cache, keys and values, each {@code [layer][slot][pos][kv_dim]} float32 (zeroed at
 *       creation);</li>
 *   <li>the scratch of {@code maxRowsPerStep} rows: x, xb, q {@code [rows][dim]}, k, v {@code [rows][kv_dim]},
 *       hb, hb2 {@code [rows][hidden]}, att {@code [rows][n_heads][seq_len]}, logits {@code [rows][vocab]};</li>
 *   <li>the step's int32 arrays {@code [5][rows]}: tokens, positions, slots, logit rows, argmax results;</li>
 *   <li>in {@link MatmulMode#CUBLAS}, a cuBLAS workspace of its own ({@link CudaMemoryPlan#CUBLAS_WORKSPACE_BYTES}),
 *       set with the batch's stream on the device's shared handle before each product.</li>
 * </ul>
 *
 * <p>Semantics: each slot is one sequence; a row feeds one token at one position of one slot; attention at
 * position {@code p} reads cache positions {@code 0..p} of the row's slot. A step runs all its rows in one
 * pass, and in every layer every row's K/V is written to the cache before attention, so several rows of one
 * slot at distinct positions (chunked prefill) attend causally to each other. In {@link MatmulMode#INVARIANT}
 * (the default) a row's logits are bitwise the same whatever other rows share the step; they match the CPU
 * batch's within float rounding (the GPU's sums are in another order, its {@code expf} is CUDA's), not bit
 * for bit. {@link MatmulMode#CUBLAS} is faster and not batch-invariant.
 *
 * <p>Threading: not thread-safe; one thread at a time (a Spark task), which may differ from the creating
 * thread: every call makes the device's context current first. Several batches may share a model and a
 * device; each has its own stream. {@link #close()} is idempotent; an unclosed batch keeps its device memory.
 *
 * <p>Errors: a failed CUDA call throws {@link CudaException} naming it; a fault in a kernel surfaces at the
 * end of {@link #forward} (which waits for its step). After a {@link CudaException} the batch should be
 * closed.
 */
public final class CudaLlamaBatch implements AutoCloseable {
    /** Threads per block of the row kernels (the lane count of sn_llama_math.h, SN_LLAMA_LANES). */
    static final int LANES = 256;
    /** The INVARIANT matmul's block: outputs per block (threads) and rows per block (sn_llama.cu's SN_MM_TO, SN_MM_TR). */
    static final int MM_OUTPUTS = 128;
    static final int MM_ROWS = 8;

    private static final AtomicLong LIVE_DEVICE_BYTES = new AtomicLong();

    private final CudaLlamaModel model;
    private final CudaDevice device;
    private final LlamaConfig config;
    private final int maxSlots;
    private final int maxRows;
    private final MatmulMode mode;
    private final long deviceBytes;
    private final long[] keyScratch;

    private CudaStream stream;
    private DeviceMemory keyCache;
    private DeviceMemory valueCache;
    private DeviceMemory scratch;
    private DeviceMemory ints;
    private DeviceMemory cublasWorkspace;
    private IntPointer hostInts;
    private FloatPointer hostRow;
    /** The step's fetched logits rows, [maxRows][vocab] on the host; allocated on the first fetch. */
    private FloatPointer hostLogits;
    private boolean[] fetched;
    private float[] sampleRow;
    private FloatPointer one;
    private FloatPointer zero;

    // device addresses of the scratch buffers and step arrays
    private final long x;
    private final long xb;
    private final long q;
    private final long k;
    private final long v;
    private final long hb;
    private final long hb2;
    private final long att;
    private final long logits;
    private final long dTokens;
    private final long dPositions;
    private final long dSlots;
    private final long dLogitRows;
    private final long dArgmax;

    private boolean closed;
    private int logitRowCount;
    private int[] argmax;

    CudaLlamaBatch(CudaLlamaModel model, int maxSlots, int maxRows, MatmulMode mode) {
        this.model = model;
        this.device = model.device();
        this.config = model.config();
        this.maxSlots = maxSlots;
        this.maxRows = maxRows;
        this.mode = mode;
        this.keyScratch = new long[maxRows];
        LlamaConfig c = config;
        long kvSide = CudaMemoryPlan.kvBytesPerSlot(c) / 2 * maxSlots;
        long scratchBytes = 4L * CudaMemoryPlan.scratchFloatsPerRow(c) * maxRows;
        long intBytes = 4L * CudaMemoryPlan.INTS_PER_ROW * maxRows;
        long workspaceBytes = mode == MatmulMode.CUBLAS ? CudaMemoryPlan.CUBLAS_WORKSPACE_BYTES : 0;
        this.deviceBytes = CudaMemoryPlan.batchBytes(c, maxSlots, maxRows, mode);
        if (2 * kvSide + scratchBytes + intBytes + workspaceBytes != deviceBytes) {
            throw new AssertionError("CudaMemoryPlan and CudaLlamaBatch disagree on the batch's size");
        }
        try {
            device.makeCurrent();
            stream = device.newStream();
            keyCache = device.alloc(kvSide, "key cache of " + maxSlots + " slots");
            valueCache = device.alloc(kvSide, "value cache of " + maxSlots + " slots");
            scratch = device.alloc(scratchBytes, "llama scratch of " + maxRows + " rows");
            ints = device.alloc(intBytes, "llama step arrays of " + maxRows + " rows");
            if (workspaceBytes > 0) {
                cublasWorkspace = device.alloc(workspaceBytes, "cuBLAS workspace");
            }
            // zeroed, as the CPU batch's calloc: a position never written reads as 0, never as garbage
            CudaException.check("cuMemsetD8Async(key cache)",
                cudart.cuMemsetD8Async(keyCache.address(), (byte) 0, kvSide, stream.handle()));
            CudaException.check("cuMemsetD8Async(value cache)",
                cudart.cuMemsetD8Async(valueCache.address(), (byte) 0, kvSide, stream.handle()));
            hostInts = new IntPointer(4L * maxRows);
            hostRow = new FloatPointer((long) c.vocabSize());
            one = new FloatPointer(1).put(1f);
            zero = new FloatPointer(1).put(0f);
            stream.synchronize();
        } catch (RuntimeException | Error e) {
            releaseAll(e, false); // CudaLlamaModel.newBatch tells the model
            throw e;
        }
        long R = maxRows;
        long base = scratch.address();
        x = base;
        xb = x + 4 * R * c.dim();
        q = xb + 4 * R * c.dim();
        k = q + 4 * R * c.dim();
        v = k + 4 * R * c.kvDim();
        hb = v + 4 * R * c.kvDim();
        hb2 = hb + 4 * R * c.hiddenDim();
        att = hb2 + 4 * R * c.hiddenDim();
        logits = att + 4 * R * c.nHeads() * (long) c.seqLen();
        if (logits + 4 * R * c.vocabSize() != base + scratchBytes) {
            throw new AssertionError("scratch layout does not add up to CudaMemoryPlan.scratchFloatsPerRow");
        }
        dTokens = ints.address();
        dPositions = dTokens + 4 * R;
        dSlots = dPositions + 4 * R;
        dLogitRows = dSlots + 4 * R;
        dArgmax = dLogitRows + 4 * R;
        LIVE_DEVICE_BYTES.addAndGet(deviceBytes);
    }

    /**
     * @return the device bytes of every batch of this JVM that is not closed: 0 when no task decodes on a
     *         GPU; tests and metrics read it to prove that tasks free their memory
     */
    public static long liveDeviceBytes() {
        return LIVE_DEVICE_BYTES.get();
    }

    /**
     * Runs one step: row {@code i} feeds {@code tokens[i]} at position {@code positions[i]} of sequence slot
     * {@code slots[i]}. All rows run in one pass (one launch per kernel per layer); in every layer the K/V
     * of all rows are written to the cache before attention, so several rows of one slot at distinct
     * positions (chunked prefill) attend causally to each other and to what earlier steps cached. Logits
     * are computed only for the {@code nLogits} rows listed in {@code logitRows}, strictly ascending:
     * afterwards logits row {@code k} belongs to row {@code logitRows[k]}. Returns when the step has run on
     * the device.
     *
     * @throws IllegalArgumentException naming the row and value of any index out of range, a
     *                                  {@code logitRows} that is not strictly ascending, or two rows that
     *                                  would write the same slot and position (the messages of
     *                                  {@link NativeLlamaBatch#forward})
     * @throws IllegalStateException    if the batch is closed
     * @throws CudaException            if a launch, a copy or the step on the device fails
     */
    public void forward(int rows, int[] tokens, int[] positions, int[] slots, int nLogits, int[] logitRows) {
        checkOpen();
        StepArguments.validate(rows, tokens, positions, slots, nLogits, logitRows, 1, config.vocabSize(),
            config.seqLen(), maxSlots, maxRows, keyScratch);
        logitRowCount = 0;
        argmax = null;
        fetched = null;
        if (rows == 0) {
            return;
        }
        device.makeCurrent();
        hostInts.position(0).put(tokens, 0, rows);
        hostInts.position(maxRows).put(positions, 0, rows);
        hostInts.position(2L * maxRows).put(slots, 0, rows);
        if (nLogits > 0) {
            hostInts.position(3L * maxRows).put(logitRows, 0, nLogits);
        }
        hostInts.position(0);
        ints.copyFromHost(hostInts.address(), 0, 16L * maxRows, stream);

        final LlamaConfig c = config;
        final int dim = c.dim();
        final int kvDim = c.kvDim();
        final int hidden = c.hiddenDim();
        final int hs = c.headSize();
        final int seq = c.seqLen();
        final long layerCache = 4L * maxSlots * seq * kvDim;
        launch("sn_llama_embed").ptr(x).ptr(model.address(Tensor.TOKEN_EMBEDDING)).ptr(dTokens).i32(dim)
            .launch(rows, 1, 1, LANES, 1, 1, 0, stream);
        for (int l = 0; l < c.nLayers(); l++) {
            long kc = keyCache.address() + l * layerCache;
            long vc = valueCache.address() + l * layerCache;
            // attention block
            rmsnorm(xb, x, model.address(Tensor.RMS_ATT) + 4L * l * dim, 0, rows);
            matmul(q, xb, model.address(Tensor.WQ) + 4L * l * dim * dim, rows, dim, dim);
            matmul(k, xb, model.address(Tensor.WK) + 4L * l * kvDim * dim, rows, dim, kvDim);
            matmul(v, xb, model.address(Tensor.WV) + 4L * l * kvDim * dim, rows, dim, kvDim);
            launch("sn_llama_rope_kv").ptr(q).ptr(k).ptr(v).ptr(kc).ptr(vc).ptr(dPositions).ptr(dSlots)
                .ptr(model.ropeTable()).i32(dim).i32(kvDim).i32(hs).i32(seq)
                .launch(rows, 1, 1, LANES, 1, 1, 0, stream);
            launch("sn_llama_attention").ptr(xb).ptr(q).ptr(kc).ptr(vc).ptr(att).ptr(dPositions).ptr(dSlots)
                .i32(c.nHeads()).i32(c.nHeads() / c.nKvHeads()).i32(hs).i32(dim).i32(kvDim).i32(seq)
                .launch(rows, c.nHeads(), 1, LANES, 1, 1, 0, stream);
            matmul(q, xb, model.address(Tensor.WO) + 4L * l * dim * dim, rows, dim, dim);
            elementwise("sn_llama_residual_add", x, q, (long) rows * dim);
            // feed-forward block
            rmsnorm(xb, x, model.address(Tensor.RMS_FFN) + 4L * l * dim, 0, rows);
            matmul(hb, xb, model.address(Tensor.W1) + 4L * l * hidden * dim, rows, dim, hidden);
            matmul(hb2, xb, model.address(Tensor.W3) + 4L * l * hidden * dim, rows, dim, hidden);
            elementwise("sn_llama_swiglu", hb, hb2, (long) rows * hidden);
            matmul(q, hb, model.address(Tensor.W2) + 4L * l * dim * hidden, rows, hidden, dim);
            elementwise("sn_llama_residual_add", x, q, (long) rows * dim);
        }
        if (nLogits > 0) {
            // the final RMSNorm of the rows that get logits, packed: xb row k is row logitRows[k]
            rmsnorm(xb, x, model.address(Tensor.RMS_FINAL), dLogitRows, nLogits);
            matmul(logits, xb, model.address(Tensor.WCLS), nLogits, dim, c.vocabSize());
        }
        stream.synchronize();
        logitRowCount = nLogits;
    }

    private KernelLaunch launch(String kernel) {
        return KernelLaunch.of(device, kernel);
    }

    /** o[r] = rmsnorm(x[rowIndex ? rowIndex[r] : r], weight) for r < rows. */
    private void rmsnorm(long o, long xIn, long weight, long rowIndex, int rows) {
        launch("sn_llama_rmsnorm").ptr(o).ptr(xIn).ptr(weight).ptr(rowIndex).i32(config.dim())
            .launch(rows, 1, 1, LANES, 1, 1, 0, stream);
    }

    /** The sn_llama_swiglu / sn_llama_residual_add shape: a[i] = f(a[i], b[i]) for i < n. */
    private void elementwise(String kernel, long a, long b, long n) {
        long blocks = (n + LANES - 1) / LANES;
        launch(kernel).ptr(a).ptr(b).i64(n).launch((int) Math.min(blocks, Integer.MAX_VALUE), 1, 1, LANES, 1, 1, 0, stream);
    }

    /** Y[rows][out] = X[rows][in] · Wᵀ with W [out][in] row-major. */
    private void matmul(long y, long xIn, long w, int rows, int in, int out) {
        if (mode == MatmulMode.INVARIANT) {
            launch("sn_llama_matmul").ptr(y).ptr(xIn).ptr(w).i32(rows).i32(in).i32(out)
                .launch((rows + MM_ROWS - 1) / MM_ROWS, (out + MM_OUTPUTS - 1) / MM_OUTPUTS, 1, MM_OUTPUTS, 1, 1, 0, stream);
            return;
        }
        // Column-major view: W row-major [out][in] is the in x out matrix A (lda = in), X is in x rows (ldb =
        // in), Y row-major [rows][out] is out x rows (ldc = out): Y = Aᵀ · X.
        cublasContext h = device.cublas();
        synchronized (h) {
            // the handle is the device's; the stream and the workspace are this batch's (cublasSetStream resets
            // the workspace to the handle's shared default, so set ours after it)
            CudaException.checkCublas("cublasSetStream", cublas.cublasSetStream_v2(h, stream.handle()));
            CudaException.checkCublas("cublasSetWorkspace(" + cublasWorkspace.bytes() + " bytes)",
                cublas.cublasSetWorkspace_v2(h, HostPointers.at(cublasWorkspace.address()), cublasWorkspace.bytes()));
            CudaException.checkCublas("cublasSgemm(m=" + out + ", n=" + rows + ", k=" + in + ")",
                cublas.cublasSgemm_v2(h, cublas.CUBLAS_OP_T, cublas.CUBLAS_OP_N, out, rows, in, one,
                    HostPointers.floats(w), in, HostPointers.floats(xIn), in, zero, HostPointers.floats(y), out));
        }
    }

    /** @return how many logits rows the last {@link #forward} produced */
    public int logitRowCount() {
        return logitRowCount;
    }

    /**
     * Copies logits row {@code k} of the last step into {@code dst[0 .. vocab)}.
     *
     * @throws IllegalArgumentException if {@code k} is not a logits row of the last step or {@code dst} is short
     * @throws IllegalStateException    if the batch is closed
     */
    public void copyLogits(int k, float[] dst) {
        checkOpen();
        StepArguments.validateLogitRow(k, logitRowCount);
        int vocab = config.vocabSize();
        if (dst.length < vocab) {
            throw new IllegalArgumentException("dst has " + dst.length + " entries, needs vocab " + vocab);
        }
        copyRow(k);
        hostRow.position(0).get(dst, 0, vocab);
    }

    private void copyRow(int row) {
        device.makeCurrent();
        long bytes = 4L * config.vocabSize();
        scratch.copyToHost(hostRow.address(), logits - scratch.address() + row * bytes, bytes, stream);
        stream.synchronize();
    }

    /**
     * Samples the next token from logits row {@code k} of the last step with llama2.c's sampler: for
     * temperature 0 the argmax (lowest index among the maxima), computed on the device for every logits row
     * of the step at once (one kernel and one small copy, the first time a step is sampled); otherwise the
     * row is copied to the host and {@link Sampler#sample} draws from softmax(logits / temperature), top-p
     * when {@code 0 < topp < 1}, with the RNG and semantics of the CPU batch. The device logits are left
     * untouched.
     *
     * @param rngState {@code rngState[0]} is the RNG state, advanced in place (not for temperature 0)
     * @throws IllegalArgumentException for a bad row, temperature, topp or state (the messages of
     *                                  {@link NativeLlamaBatch#sample})
     * @throws IllegalStateException    if the batch is closed
     */
    public int sample(int k, float temperature, float topp, long[] rngState) {
        checkOpen();
        StepArguments.validateSample(k, logitRowCount, temperature, topp, rngState);
        if (temperature == 0.0f) {
            if (argmax == null) {
                device.makeCurrent();
                launch("sn_llama_argmax").ptr(dArgmax).ptr(logits).i32(config.vocabSize())
                    .launch(logitRowCount, 1, 1, LANES, 1, 1, 0, stream);
                ints.copyToHost(hostInts.address(), dArgmax - dTokens, 4L * logitRowCount, stream);
                stream.synchronize();
                int[] a = new int[logitRowCount];
                hostInts.position(0).get(a, 0, logitRowCount);
                argmax = a;
            }
            return argmax[k];
        }
        return Sampler.sample(hostRow(k), config.vocabSize(), temperature, topp, rngState);
    }

    /**
     * {@link #sample} after llama.cpp's repetition penalty over {@code recent[0 .. nRecent)} and top-k: the row is
     * read on the host (from {@link #fetchLogits} where it fetched it) and {@link Sampler#sampleFiltered} draws,
     * so the token is the CPU batch's for the same logits. Without a filter this is {@link #sample}.
     */
    public int sample(int k, float temperature, float topp, int topK, float penalty, int[] recent, int nRecent,
                      long[] rngState) {
        checkOpen();
        StepArguments.validateSample(k, logitRowCount, temperature, topp, rngState);
        StepArguments.validateFilters(topK, penalty, recent, nRecent);
        if (topK <= 0 && penalty == 1f) {
            return sample(k, temperature, topp, rngState);
        }
        return Sampler.sampleFiltered(hostRow(k), config.vocabSize(), temperature, topp, topK, penalty, recent, nRecent,
            rngState);
    }

    /**
     * @return logits row {@code k} of the last step in a host array the batch reuses: from {@link #fetchLogits}'s copy
     *         where it fetched the row, else copied now
     */
    private float[] hostRow(int k) {
        int vocab = config.vocabSize();
        if (sampleRow == null) {
            sampleRow = new float[vocab];
        }
        if (fetched != null && fetched[k]) {
            hostLogits.position((long) k * vocab).get(sampleRow, 0, vocab);
            hostLogits.position(0);
        } else {
            copyRow(k);
            hostRow.position(0).get(sampleRow, 0, vocab);
        }
        return sampleRow;
    }

    /**
     * Copies the logits rows {@code k} of the last step with {@code needed[k]} to the host at once: one copy
     * per run of consecutive needed rows and one wait, instead of a copy and a wait per {@link #sample} call
     * at a temperature above 0, which then reads them there. Rows not needed are not copied. The host buffer
     * ({@code maxRowsPerStep x vocab} floats) is allocated on the first call; the rows stay valid until the
     * next {@link #forward}.
     *
     * @param needed one flag per logits row of the last step ({@link #logitRowCount()} at least)
     * @throws IllegalArgumentException if {@code needed} is shorter than the step's logits rows
     * @throws IllegalStateException    if the batch is closed
     * @throws CudaException            if a copy fails
     */
    public void fetchLogits(boolean[] needed) {
        checkOpen();
        int n = logitRowCount;
        if (needed.length < n) {
            throw new IllegalArgumentException("needed has " + needed.length + " flags, the step has " + n
                + " logits rows");
        }
        long bytes = 4L * config.vocabSize();
        if (hostLogits == null) {
            hostLogits = new FloatPointer((long) maxRows * config.vocabSize());
        }
        device.makeCurrent();
        boolean any = false;
        for (int k = 0; k < n; ) {
            if (!needed[k]) {
                k++;
                continue;
            }
            int end = k;
            while (end < n && needed[end]) {
                end++;
            }
            scratch.copyToHost(hostLogits.address() + k * bytes, logits - scratch.address() + k * bytes,
                (end - k) * bytes, stream);
            any = true;
            k = end;
        }
        if (any) {
            stream.synchronize();
        }
        fetched = java.util.Arrays.copyOf(needed, n);
    }

    /** @return the model this batch runs */
    public CudaLlamaModel model() {
        return model;
    }

    /** @return the number of sequence slots */
    public int maxSlots() {
        return maxSlots;
    }

    /** @return the most rows one step may run */
    public int maxRowsPerStep() {
        return maxRows;
    }

    /** @return how this batch multiplies matrices */
    public MatmulMode mode() {
        return mode;
    }

    /**
     * @return the device bytes this batch holds,
     *         {@link CudaMemoryPlan#batchBytes(LlamaConfig, int, int, MatmulMode)}{@code (config, maxSlots,
     *         maxRowsPerStep, mode)}
     */
    public long deviceBytes() {
        return deviceBytes;
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("batch is closed");
        }
    }

    /** Waits for the stream, then frees the KV cache, the scratch, the stream and the host buffers. Idempotent. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        logitRowCount = 0;
        argmax = null;
        LIVE_DEVICE_BYTES.addAndGet(-deviceBytes);
        releaseAll(null, true);
    }

    /**
     * Frees whatever is allocated (the stream first: it waits for queued work), then, if asked, tells the
     * model that this batch is gone. Failures are suppressed into {@code cause}, or thrown after everything
     * was tried when there is none.
     */
    private void releaseAll(Throwable cause, boolean tellModel) {
        try {
            device.makeCurrent();
        } catch (RuntimeException e) {
            if (cause != null) {
                cause.addSuppressed(e);
            }
        }
        List<AutoCloseable> all = new ArrayList<>();
        all.add(stream);
        all.add(keyCache);
        all.add(valueCache);
        all.add(scratch);
        all.add(ints);
        all.add(cublasWorkspace);
        all.add(hostInts);
        all.add(hostRow);
        all.add(hostLogits);
        all.add(one);
        all.add(zero);
        stream = null;
        keyCache = valueCache = scratch = ints = cublasWorkspace = null;
        hostInts = null;
        hostRow = hostLogits = one = zero = null;
        fetched = null;
        try {
            CudaLlamaModel.freeAll(all, cause);
        } finally {
            if (tellModel) {
                model.batchClosed();
            }
        }
    }
}

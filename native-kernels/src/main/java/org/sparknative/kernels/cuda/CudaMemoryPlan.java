package org.sparknative.kernels.cuda;

import org.sparknative.kernels.llama.LlamaConfig;
import org.sparknative.kernels.llama.Tensor;

/**
 * The device memory of the CUDA Llama-2 forward pass, as plain arithmetic (no CUDA needed): what
 * {@link CudaLlamaModel#upload} allocates for the weights, and what {@link CudaLlamaModel#newBatch}
 * allocates for a batch. Both classes size their allocations from here, so the plan and the allocations
 * cannot drift apart. All sizes in bytes; everything is float32 or int32 (4 bytes).
 *
 * <p>Notation: {@code d = dim}, {@code h = hidden_dim}, {@code L = n_layers}, {@code H = n_heads},
 * {@code kvd = kv_dim = d / H * n_kv_heads}, {@code hs = head_size = d / H}, {@code V = vocab},
 * {@code S = seq_len}.
 *
 * <p>Threading: stateless.
 */
public final class CudaMemoryPlan {
    /**
     * Floats per row of the batch's scratch: x, xb, q ({@code d} each; q also takes the outputs of
     * {@code Wo} and {@code W2}), k, v ({@code kvd} each), hb, hb2 ({@code h} each), att ({@code H * S}) and
     * logits ({@code V}).
     */
    static long scratchFloatsPerRow(LlamaConfig c) {
        return 3L * c.dim() + 2L * c.kvDim() + 2L * c.hiddenDim() + (long) c.nHeads() * c.seqLen() + c.vocabSize();
    }

    /** Int32 values per row of the batch's step buffer: token, position, slot, logit row, argmax. */
    static final int INTS_PER_ROW = 5;

    /**
     * The cuBLAS workspace of a {@link MatmulMode#CUBLAS} batch, 32 MiB (NVIDIA's recommendation for Hopper):
     * batches share the device's cuBLAS handle but not its workspace, so that concurrent batches on
     * different streams never share scratch memory inside cuBLAS.
     */
    public static final long CUBLAS_WORKSPACE_BYTES = 32L << 20;

    private CudaMemoryPlan() {
    }

    /**
     * @return the floats of one tensor as uploaded: {@code V*d} (embedding; also the classifier when it is
     *         not shared), {@code L*d} (the RMSNorm weights before attention and FFN), {@code d} (final
     *         RMSNorm), {@code L*d*d} (Wq, Wo), {@code L*kvd*d} (Wk, Wv), {@code L*h*d} (W1, W2, W3); 0 for a
     *         shared classifier, which is the embedding's memory
     */
    public static long tensorFloats(LlamaConfig c, Tensor t) {
        long d = c.dim();
        long l = c.nLayers();
        long kvd = c.kvDim();
        long h = c.hiddenDim();
        long v = c.vocabSize();
        return switch (t) {
            case TOKEN_EMBEDDING -> v * d;
            case RMS_ATT, RMS_FFN -> l * d;
            case WQ, WO -> l * d * d;
            case WK, WV -> l * kvd * d;
            case W1, W2, W3 -> l * h * d;
            case RMS_FINAL -> d;
            case WCLS -> c.sharedClassifier() ? 0 : v * d;
        };
    }

    /** @return the RoPE table's bytes, {@code S * hs * 4} (cos, sin per position and even index) */
    public static long ropeTableBytes(LlamaConfig c) {
        return 4L * c.seqLen() * c.headSize();
    }

    /**
     * @return the bytes of the uploaded model: every {@link Tensor} ({@link #tensorFloats}, the classifier
     *         only when it is not shared) plus the RoPE table ({@link #ropeTableBytes}), all float32
     */
    public static long weightBytes(LlamaConfig c) {
        long floats = 0;
        for (Tensor t : Tensor.values()) {
            floats += tensorFloats(c, t);
        }
        return 4L * floats + ropeTableBytes(c);
    }

    /** @return the KV cache of one sequence slot: keys and values, {@code 2 * L * S * kvd * 4} bytes */
    public static long kvBytesPerSlot(LlamaConfig c) {
        return 2L * c.nLayers() * c.seqLen() * c.kvDim() * 4L;
    }

    /**
     * @return the per-row scratch of a batch, {@code 4 * (3d + 2kvd + 2h + H*S + V) + 4 * 5} bytes: the
     *         activations x, xb, q, k, v, hb, hb2, the attention weights, the logits, and five int32 (token,
     *         position, slot, logit row, argmax)
     */
    public static long scratchBytesPerRow(LlamaConfig c) {
        return 4L * scratchFloatsPerRow(c) + 4L * INTS_PER_ROW;
    }

    /**
     * @return the device bytes of a batch of {@code slots} sequence slots running at most
     *         {@code rowsPerStep} rows per step: {@code slots * kvBytesPerSlot + rowsPerStep * scratchBytesPerRow}
     *         (what {@link CudaLlamaBatch#deviceBytes()} reports in {@link MatmulMode#INVARIANT}; a cuBLAS batch
     *         adds its workspace, see {@link #batchBytes(LlamaConfig, int, int, MatmulMode)})
     * @throws IllegalArgumentException if a count is negative
     */
    public static long batchBytes(LlamaConfig c, int slots, int rowsPerStep) {
        if (slots < 0 || rowsPerStep < 0) {
            throw new IllegalArgumentException("slots and rowsPerStep must be >= 0, got " + slots + ", " + rowsPerStep);
        }
        return slots * kvBytesPerSlot(c) + rowsPerStep * scratchBytesPerRow(c);
    }

    /**
     * @return {@link #batchBytes(LlamaConfig, int, int)} plus, for {@link MatmulMode#CUBLAS}, the batch's cuBLAS
     *         workspace ({@link #CUBLAS_WORKSPACE_BYTES}): what {@link CudaLlamaBatch#deviceBytes()} reports
     */
    public static long batchBytes(LlamaConfig c, int slots, int rowsPerStep, MatmulMode mode) {
        return batchBytes(c, slots, rowsPerStep) + (mode == MatmulMode.CUBLAS ? CUBLAS_WORKSPACE_BYTES : 0);
    }

    /**
     * The most sequence slots whose batch fits: the largest {@code s} with
     * {@code batchBytes(c, s, s + prefillRows) <= freeBytes - reserveBytes} (one decode row per slot plus
     * {@code prefillRows} rows of prompt per step), or 0 if not even one slot fits.
     *
     * @param freeBytes    the device's free memory (after the weights are uploaded), e.g.
     *                     {@link CudaDevice#memInfo()}{@code [0]}
     * @param prefillRows  extra rows per step for prompt prefill, {@code >= 0}
     * @param reserveBytes memory to leave free (a cuBLAS batch's workspace, other tenants), {@code >= 0}
     * @throws IllegalArgumentException if a count is negative
     */
    public static int maxSlots(LlamaConfig c, long freeBytes, int prefillRows, long reserveBytes) {
        if (freeBytes < 0 || prefillRows < 0 || reserveBytes < 0) {
            throw new IllegalArgumentException("freeBytes, prefillRows and reserveBytes must be >= 0, got " + freeBytes
                + ", " + prefillRows + ", " + reserveBytes);
        }
        long avail = freeBytes - reserveBytes - prefillRows * scratchBytesPerRow(c);
        if (avail <= 0) {
            return 0;
        }
        long slots = avail / (kvBytesPerSlot(c) + scratchBytesPerRow(c));
        return (int) Math.min(slots, Integer.MAX_VALUE);
    }
}

package org.sparknative.kernels.cuda;

/**
 * How a {@link CudaLlamaBatch} multiplies activations by weight matrices ({@code Y[rows, out] = X[rows, in]
 * · Wᵀ}, {@code W} row-major {@code [out, in]} as the checkpoint stores it).
 */
public enum MatmulMode {
    /**
     * The project's kernel ({@code sn_llama_matmul}, the default): every output element is one thread's sum
     * over {@code k} in increasing order with one float accumulator (llama2.c run.c's matmul order), staged
     * through shared-memory tiles. A row's results are therefore bitwise the same whatever other rows share
     * the step and however many there are (batch invariance), and equal to the Java reference's matmul.
     */
    INVARIANT,
    /**
     * cuBLAS {@code cublasSgemm} on the device's handle ({@link CudaDevice#cublas()}, FP32 pedantic math):
     * faster on large steps, but NOT batch-invariant: cuBLAS picks its algorithm, tiling and split-K by the
     * problem shape, so the bits of a row's logits may change with the number of rows in the step. The
     * results stay within float rounding of the exact product (tests hold them to 1e-3 of the CPU's logits).
     * Batches in this mode share the device's handle (calls serialized on it) and each holds its own 32 MiB
     * cuBLAS workspace ({@link CudaMemoryPlan#CUBLAS_WORKSPACE_BYTES}).
     */
    CUBLAS;

    /** @return the setting's spelling: {@code invariant} or {@code cublas} */
    public String label() {
        return name().toLowerCase(java.util.Locale.ROOT);
    }

    /**
     * @param label {@code invariant} or {@code cublas}, exactly (callers that accept other spellings normalize first)
     * @throws IllegalArgumentException {@code must be invariant or cublas, got '<label>'}
     */
    public static MatmulMode parse(String label) {
        for (MatmulMode m : values()) {
            if (m.label().equals(label)) {
                return m;
            }
        }
        throw new IllegalArgumentException("must be invariant or cublas, got '" + label + "'");
    }
}

package org.sparknative.kernels.cuda;

import java.util.Locale;

/**
 * A CUDA driver API or cuBLAS call that failed: the message names the call, the numeric code and CUDA's
 * name for it, for example {@code cuMemAlloc(1073741824 bytes for the KV cache) failed: CUDA_ERROR_OUT_OF_MEMORY (2)}.
 *
 * <p>Thrown by the {@code org.sparknative.kernels.cuda} classes in place of a status code, so that a failed
 * call surfaces as a Java exception in the Spark task, never as a silent wrong result.
 */
public final class CudaException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    /** {@code CUDA_ERROR_OUT_OF_MEMORY}. */
    public static final int CUDA_ERROR_OUT_OF_MEMORY = 2;
    /** {@code CUBLAS_STATUS_ALLOC_FAILED}. */
    public static final int CUBLAS_STATUS_ALLOC_FAILED = 3;

    private final String call;
    private final int code;
    private final String codeName;
    private final boolean cublas;

    /**
     * @param call     the call and what it was for, e.g. {@code cuMemAlloc(4096 bytes for logits)}
     * @param code     the {@code CUresult} or {@code cublasStatus_t}
     * @param codeName CUDA's name of the code
     * @param cublas   whether the code is a cuBLAS status rather than a driver {@code CUresult}
     */
    public CudaException(String call, int code, String codeName, boolean cublas) {
        super(String.format(Locale.ROOT, "%s failed: %s (%d)", call, codeName, code));
        this.call = call;
        this.code = code;
        this.codeName = codeName;
        this.cublas = cublas;
    }

    /** @return the call that failed, as named in the message */
    public String call() {
        return call;
    }

    /** @return the {@code CUresult} or {@code cublasStatus_t} */
    public int code() {
        return code;
    }

    /** @return CUDA's name of the code, e.g. {@code CUDA_ERROR_OUT_OF_MEMORY} */
    public String codeName() {
        return codeName;
    }

    /** @return whether the device ran out of memory (driver or cuBLAS allocation) */
    public boolean outOfMemory() {
        return cublas ? code == CUBLAS_STATUS_ALLOC_FAILED : code == CUDA_ERROR_OUT_OF_MEMORY;
    }

    /**
     * @param call names the call in the message
     * @param code the driver's {@code CUresult}
     * @throws CudaException unless {@code code} is {@code CUDA_SUCCESS} (0)
     */
    public static void check(String call, int code) {
        if (code != 0) {
            throw new CudaException(call, code, Driver.errorName(code), false);
        }
    }

    /**
     * @param call   names the call in the message
     * @param status cuBLAS's {@code cublasStatus_t}
     * @throws CudaException unless {@code status} is {@code CUBLAS_STATUS_SUCCESS} (0)
     */
    public static void checkCublas(String call, int status) {
        if (status != 0) {
            throw new CudaException(call, status, Driver.cublasStatusName(status), true);
        }
    }
}

package org.sparknative.kernels.cuda;

/**
 * The CUDA backend cannot run in this JVM; the message is one line that names what is missing: no
 * driver, no device, no cuBLAS, or a build without CUDA kernels ({@link CudaAvailability#reason()}).
 */
public final class CudaUnavailableException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public CudaUnavailableException(String message) {
        super(message);
    }
}

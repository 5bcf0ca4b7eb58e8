package org.sparknative.kernels.cuda;

/**
 * Whether the CUDA backend can run in this JVM, and if not, why (one line).
 *
 * @param usable        the fatbin is in the jar, the driver and cuBLAS load, and at least one device is visible
 * @param reason        why not, naming what is missing; for a usable one, a description of the driver and devices
 * @param deviceCount   visible devices ({@code CUDA_VISIBLE_DEVICES} applies); 0 when not usable
 * @param driverVersion the driver's CUDA version as {@code 1000 * major + 10 * minor} (13000 for 13.0), 0 if unknown
 */
public record CudaAvailability(boolean usable, String reason, int deviceCount, int driverVersion) {
    static CudaAvailability unusable(String reason) {
        return new CudaAvailability(false, reason, 0, 0);
    }
}

package org.sparknative.kernels.cuda;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The entry to the CUDA backend: whether it can run here ({@link #availability()}), and the executor's
 * one {@link CudaDevice} per device ordinal.
 *
 * <p>Nothing outside {@code org.sparknative.kernels.cuda} links against CUDA: the CPU path never loads a
 * CUDA library, so a node without a driver runs everything else. The probe checks, in order: the fatbin
 * is in the jar (else "built without CUDA kernels"), the JavaCPP presets are on the classpath, the driver
 * API binding loads ({@code libcuda.so.1}, {@code libcudart.so.13}), {@code cuInit} succeeds and sees a
 * device, and cuBLAS loads ({@code libcublas.so.13}). Each failure is one line naming what is missing.
 *
 * <p>Threading: thread-safe; the probe runs once per JVM, and each device is opened once.
 */
public final class Cuda {
    private static final Map<Integer, CudaDevice> DEVICES = new ConcurrentHashMap<>();

    private Cuda() {
    }

    private static final class Probe {
        static final CudaAvailability RESULT = probe(CudaFatbin.load().isPresent());
    }

    /** The probe, given whether the jar has the fatbin (tests pass false to see a build without nvcc). */
    static CudaAvailability probe(boolean haveFatbin) {
        if (!haveFatbin) {
            return CudaAvailability.unusable(CudaFatbin.missingReason());
        }
        try {
            Class.forName("org.bytedeco.cuda.global.cudart", false, Cuda.class.getClassLoader());
        } catch (ClassNotFoundException | LinkageError e) {
            return CudaAvailability.unusable("the JavaCPP CUDA presets (org.bytedeco:cuda) are not on the classpath");
        }
        try {
            return Driver.probe();
        } catch (Throwable e) {
            return CudaAvailability.unusable(Driver.libraryProblem("the CUDA driver API", e));
        }
    }

    /** @return whether CUDA can run in this JVM, probed once; never throws */
    public static CudaAvailability availability() {
        return Probe.RESULT;
    }

    /**
     * @param ordinal a visible device, {@code 0 <= ordinal < deviceCount}
     * @return this JVM's context and kernels on that device, opened on first use (primary context, the
     *         fatbin module loaded once)
     * @throws CudaUnavailableException when CUDA cannot run here, with the probe's one-line reason
     * @throws IllegalArgumentException for an ordinal that is not a visible device
     * @throws CudaException            if opening the device fails
     */
    public static CudaDevice device(int ordinal) {
        CudaAvailability a = availability();
        if (!a.usable()) {
            throw new CudaUnavailableException("CUDA backend unavailable: " + a.reason());
        }
        if (ordinal < 0 || ordinal >= a.deviceCount()) {
            throw new IllegalArgumentException("CUDA device " + ordinal + " is not visible here: " + a.reason());
        }
        return DEVICES.computeIfAbsent(ordinal, CudaDevice::open);
    }

    /** @return how many times this JVM loaded the fatbin into a device context (once per device used) */
    public static int moduleLoads() {
        return CudaDevice.moduleLoads();
    }
}

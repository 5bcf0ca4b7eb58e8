package org.sparknative.udf;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.sparknative.kernels.cuda.Cuda;
import org.sparknative.kernels.cuda.CudaAvailability;
import org.sparknative.kernels.cuda.CudaDevice;
import org.sparknative.kernels.cuda.CudaUnavailableException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Resolves a requested {@link Backend} where the work runs (an executor, the benchmark): {@code auto}
 * becomes {@code cuda} when {@link Cuda#availability()} is usable and {@code cpu} otherwise, logging why
 * once per JVM; {@code cuda} without a usable device fails with the probe's one line ("CUDA backend
 * unavailable: no CUDA driver: ...").
 *
 * <p>Threading: thread-safe.
 */
public final class BackendSelection {
    private static final Logger LOG = LoggerFactory.getLogger(BackendSelection.class);
    private static final Set<String> LOGGED = ConcurrentHashMap.newKeySet();

    private BackendSelection() {
    }

    /**
     * The backend a task runs on, and for CUDA its device.
     *
     * @param backend {@code cpu}, {@code cuda} or {@code java}, never {@code auto}
     * @param device  the CUDA device, or null for the others
     */
    public record Resolved(Backend backend, CudaDevice device) {
        /** @return {@code cpu}, {@code java}, or {@code cuda:0 (NVIDIA H100 80GB HBM3)} */
        public String describe() {
            return device == null ? backend.label() : device.toString();
        }
    }

    /**
     * @param requested   what the user asked for
     * @param gpuOrdinal  the device Spark assigned to the task ({@code spark.task.resource.gpu.amount}), or 0
     *                    where Spark assigns none (local mode)
     * @throws CudaUnavailableException for {@code cuda} where CUDA cannot run, with the one-line reason
     */
    public static Resolved resolve(Backend requested, int gpuOrdinal) {
        return switch (requested) {
            case CPU, JAVA -> new Resolved(requested, null);
            case CUDA -> new Resolved(Backend.CUDA, Cuda.device(gpuOrdinal));
            case AUTO -> {
                CudaAvailability a = Cuda.availability();
                if (a.usable()) {
                    CudaDevice d = Cuda.device(gpuOrdinal);
                    logOnce("auto-cuda", "backend auto: using " + d + "; " + a.reason());
                    yield new Resolved(Backend.CUDA, d);
                }
                logOnce("auto-cpu", "backend auto: using cpu, because " + a.reason());
                yield new Resolved(Backend.CPU, null);
            }
        };
    }

    /**
     * Checks a request before any work starts (the driver in local mode, the benchmark): {@code cuda} must
     * be usable here.
     *
     * @throws CudaUnavailableException with the one-line reason
     */
    public static void requireUsable(Backend requested) {
        if (requested == Backend.CUDA && !Cuda.availability().usable()) {
            throw new CudaUnavailableException("CUDA backend unavailable: " + Cuda.availability().reason());
        }
    }

    private static void logOnce(String key, String message) {
        if (LOGGED.add(key)) {
            LOG.info(message);
        }
    }
}

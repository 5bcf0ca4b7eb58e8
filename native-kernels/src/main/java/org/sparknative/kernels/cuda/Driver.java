package org.sparknative.kernels.cuda;

import java.util.Locale;
import org.bytedeco.cuda.global.cublas;
import org.bytedeco.cuda.global.cudart;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.PointerPointer;

/**
 * The first touch of the JavaCPP CUDA presets: loads the driver API and cuBLAS bindings, initializes the
 * driver and counts devices, turning each way this can fail into one line. Only {@link Cuda} calls
 * {@link #probe()}, and only after it found the fatbin, so a JVM that never asks for CUDA never loads a
 * CUDA library.
 */
final class Driver {
    private Driver() {
    }

    static CudaAvailability probe() {
        try {
            Loader.load(cudart.class);
        } catch (Throwable e) {
            return CudaAvailability.unusable(libraryProblem("the CUDA driver API", e));
        }
        int rc = cudart.cuInit(0);
        if (rc == cudart.CUDA_ERROR_NO_DEVICE) {
            return CudaAvailability.unusable("no CUDA device: cuInit reports CUDA_ERROR_NO_DEVICE (100)"
                + visibleDevicesNote());
        }
        if (rc != 0) {
            return CudaAvailability.unusable("the CUDA driver does not initialize: cuInit failed: " + errorName(rc)
                + " (" + rc + ")");
        }
        int[] count = {0};
        rc = cudart.cuDeviceGetCount(count);
        if (rc != 0 || count[0] == 0) {
            return CudaAvailability.unusable("no CUDA device: cuDeviceGetCount found none" + visibleDevicesNote());
        }
        int[] version = {0};
        cudart.cuDriverGetVersion(version);
        try {
            Loader.load(cublas.class);
        } catch (Throwable e) {
            return CudaAvailability.unusable(libraryProblem("cuBLAS", e));
        }
        StringBuilder devices = new StringBuilder();
        for (int d = 0; d < count[0]; d++) {
            devices.append(d == 0 ? "" : ", ").append(d).append(": ").append(deviceName(d));
        }
        return new CudaAvailability(true, String.format(Locale.ROOT, "CUDA driver %d.%d, %d device(s): %s",
            version[0] / 1000, version[0] % 1000 / 10, count[0], devices), count[0], version[0]);
    }

    static String deviceName(int ordinal) {
        byte[] name = new byte[256];
        if (cudart.cuDeviceGetName(name, name.length, ordinal) != 0) {
            return "device " + ordinal;
        }
        int n = 0;
        while (n < name.length && name[n] != 0) {
            n++;
        }
        return new String(name, 0, n, java.nio.charset.StandardCharsets.UTF_8);
    }

    /** @return CUDA's name of a {@code CUresult}, e.g. {@code CUDA_ERROR_OUT_OF_MEMORY} */
    static String errorName(int code) {
        try (PointerPointer<BytePointer> name = new PointerPointer<>(1)) {
            if (cudart.cuGetErrorName(code, name) != 0 || name.get(0) == null) {
                return "CUresult " + code;
            }
            return new BytePointer(name.get(0)).getString();
        }
    }

    /** @return cuBLAS's name of a status, e.g. {@code CUBLAS_STATUS_ALLOC_FAILED} */
    static String cublasStatusName(int status) {
        BytePointer name = cublas.cublasGetStatusName(status);
        return name == null || name.isNull() ? "cublasStatus_t " + status : name.getString();
    }

    private static String visibleDevicesNote() {
        String visible = System.getenv("CUDA_VISIBLE_DEVICES");
        return visible == null ? "" : " (CUDA_VISIBLE_DEVICES=" + visible + ")";
    }

    /** One line naming the shared library that did not load, from the loader's chain of errors. */
    static String libraryProblem(String what, Throwable e) {
        StringBuilder all = new StringBuilder();
        for (Throwable t = e; t != null; t = t.getCause()) {
            all.append(' ').append(t.getMessage());
        }
        String text = all.toString();
        if (text.contains("libcuda.so")) {
            return "no CUDA driver: libcuda.so.1 (the NVIDIA driver) is not installed on this node";
        }
        if (text.contains("libcudart.so")) {
            return "no CUDA runtime: libcudart.so.13 is not on the library path (add the CUDA 13 lib64 directory, "
                + "e.g. /usr/local/cuda/lib64, to LD_LIBRARY_PATH, or add the org.bytedeco:cuda-platform-redist jars)";
        }
        if (text.contains("libcublas")) {
            return "no cuBLAS: libcublas.so.13/libcublasLt.so.13 are not on the library path (add the CUDA 13 lib64 "
                + "directory, e.g. /usr/local/cuda/lib64, to LD_LIBRARY_PATH, or add the org.bytedeco:cuda-platform-redist jars)";
        }
        if (e instanceof NoClassDefFoundError) {
            return "the JavaCPP CUDA presets (org.bytedeco:cuda) are not on the classpath";
        }
        return "cannot load " + what + ": " + text.trim();
    }
}

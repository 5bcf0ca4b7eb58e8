package org.sparknative.kernels.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The CUDA backend's probe where it cannot run (this machine and CI: nvcc, libcudart, no driver, no GPU):
 * it never throws, its reason is one line naming what is missing, and asking for a device fails with that
 * line. On a GPU machine the same tests check the usable case's description instead.
 */
class CudaAvailabilityTest {
    /** Where distributions put the driver's libcuda.so.1. */
    static boolean driverInstalled() {
        for (String dir : List.of("/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/lib/x86_64-linux-gnu", "/usr/lib",
            "/usr/local/nvidia/lib64", "/usr/lib/wsl/lib")) {
            if (Files.exists(Path.of(dir, "libcuda.so.1"))) {
                return true;
            }
        }
        return false;
    }

    @Test
    void theProbeGivesOneLineAndDeviceFailsWithIt() {
        CudaAvailability a = Cuda.availability();
        assertFalse(a.reason().isBlank());
        assertFalse(a.reason().contains("\n"), a.reason());
        if (a.usable()) {
            assertTrue(a.deviceCount() > 0);
            assertTrue(a.reason().startsWith("CUDA driver "), a.reason());
            assertThrows(IllegalArgumentException.class, () -> Cuda.device(a.deviceCount()));
            return;
        }
        assertEquals(0, a.deviceCount());
        CudaUnavailableException e = assertThrows(CudaUnavailableException.class, () -> Cuda.device(0));
        assertEquals("CUDA backend unavailable: " + a.reason(), e.getMessage());
        assertEquals(0, Cuda.moduleLoads(), "no module may be loaded where CUDA is unusable");
    }

    @Test
    void withoutTheDriverTheReasonNamesLibcuda() {
        if (!CudaFatbinTest.nvccOnPath() || driverInstalled()) {
            return; // another case: covered by theProbeGivesOneLine...
        }
        assertEquals("no CUDA driver: libcuda.so.1 (the NVIDIA driver) is not installed on this node",
            Cuda.availability().reason());
    }

    @Test
    void aBuildWithoutNvccSaysSo() {
        CudaAvailability a = Cuda.probe(false);
        assertFalse(a.usable());
        assertEquals("built without CUDA kernels: nvcc was not on the PATH when native-kernels was built", a.reason());
    }

    @Test
    void eachMissingLibraryHasItsOwnLine() {
        assertEquals("no CUDA driver: libcuda.so.1 (the NVIDIA driver) is not installed on this node",
            Driver.libraryProblem("x", linkError("no jnicudart in java.library.path",
                "/tmp/libjnicudart.so: libcuda.so.1: cannot open shared object file")));
        assertTrue(Driver.libraryProblem("x", new UnsatisfiedLinkError("libcudart.so.13: cannot open shared object file"))
            .startsWith("no CUDA runtime: libcudart.so.13 is not on the library path"));
        assertTrue(Driver.libraryProblem("cuBLAS", new UnsatisfiedLinkError("libcublasLt.so.13: cannot open shared object"))
            .startsWith("no cuBLAS: libcublas.so.13/libcublasLt.so.13 are not on the library path"));
        assertEquals("the JavaCPP CUDA presets (org.bytedeco:cuda) are not on the classpath",
            Driver.libraryProblem("x", new NoClassDefFoundError("org/bytedeco/cuda/global/cudart")));
        assertEquals("cannot load cuBLAS: something else", Driver.libraryProblem("cuBLAS", new UnsatisfiedLinkError("something else")));
    }

    /** JavaCPP's shape: the loader's error, caused by the dynamic linker's. */
    private static UnsatisfiedLinkError linkError(String message, String cause) {
        UnsatisfiedLinkError e = new UnsatisfiedLinkError(message);
        e.initCause(new UnsatisfiedLinkError(cause));
        return e;
    }

    @Test
    void exceptionsNameTheCallAndTheCode() {
        CudaException e = new CudaException("cuMemAlloc(1024 bytes for the KV cache on device 0)", 2,
            "CUDA_ERROR_OUT_OF_MEMORY", false);
        assertEquals("cuMemAlloc(1024 bytes for the KV cache on device 0) failed: CUDA_ERROR_OUT_OF_MEMORY (2)",
            e.getMessage());
        assertTrue(e.outOfMemory());
        assertFalse(new CudaException("cublasSgemm", 2, "CUBLAS_STATUS_NOT_INITIALIZED", true).outOfMemory());
        assertTrue(new CudaException("cublasSgemm", 3, "CUBLAS_STATUS_ALLOC_FAILED", true).outOfMemory());
    }
}

package org.sparknative.udf.generate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.sparknative.kernels.cuda.CudaException;

/**
 * The CUDA backend's slot policy without a device: capped by the memory plan, halved on every
 * out-of-memory error, other errors passed through at once.
 */
class CudaSlotFitTest {
    private static CudaException oom() {
        return new CudaException("cuMemAlloc", CudaException.CUDA_ERROR_OUT_OF_MEMORY, "CUDA_ERROR_OUT_OF_MEMORY", false);
    }

    @Test
    void outOfMemoryHalvesTheSlotsUntilTheBatchFits() {
        List<Integer> tried = new ArrayList<>();
        CudaBackend.Fitted<String> got = CudaBackend.allocateShrinking(256, 1000, n -> {
            tried.add(n);
            if (n > 50) {
                throw oom();
            }
            return "batch of " + n;
        });
        assertEquals(List.of(256, 128, 64, 32), tried);
        assertEquals(32, got.slots());
        assertEquals(3, got.outOfMemoryRetries());
        assertEquals("batch of 32", got.value());
    }

    @Test
    void thePlanCapsTheFirstTryAndAtLeastOneSlotIsTried() {
        List<Integer> tried = new ArrayList<>();
        assertEquals(100, CudaBackend.allocateShrinking(256, 100, n -> {
            tried.add(n);
            return n;
        }).slots());
        assertEquals(1, CudaBackend.allocateShrinking(256, 0, n -> n).slots());
        assertEquals(8, CudaBackend.allocateShrinking(8, 100, n -> n).slots());
        assertEquals(List.of(100), tried);
    }

    @Test
    void noRoomForOneSlotOrAnotherErrorIsThrown() {
        CudaException last = oom();
        assertSame(last, assertThrows(CudaException.class, () -> CudaBackend.allocateShrinking(4, 4, n -> {
            throw n == 1 ? last : oom();
        })));
        CudaException launch = new CudaException("cuLaunchKernel", 719, "CUDA_ERROR_LAUNCH_FAILED", false);
        List<Integer> tried = new ArrayList<>();
        assertSame(launch, assertThrows(CudaException.class, () -> CudaBackend.allocateShrinking(64, 64, n -> {
            tried.add(n);
            throw launch;
        })));
        assertEquals(List.of(64), tried, "only out-of-memory retries");
        assertThrows(IllegalArgumentException.class, () -> CudaBackend.allocateShrinking(0, 4, n -> n));
    }
}

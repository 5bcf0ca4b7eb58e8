package org.sparknative.udf.integrate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.apache.arrow.vector.Float8Vector;
import org.apache.arrow.vector.IntVector;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.sparknative.kernels.cuda.Cuda;
import org.sparknative.kernels.cuda.CudaDevice;
import org.sparknative.kernels.cuda.CudaIntegrate;
import org.sparknative.udf.BadRowPolicy;
import org.sparknative.udf.RowLabels;
import org.sparknative.udf.bench.IntegrateBenchmark;

/**
 * {@code integrate_f} on the GPU against the CPU kernel, through {@link IntegrateUdf}: the same bits for
 * every row (the GPU sums the CPU's 16 lanes in the same order, no FMA), nulls and invalid rows handled the
 * same, concurrent owners on one device, and device memory given back on close. Tagged {@code gpu}:
 * skipped where CUDA is not usable (this project's CI); free of Spark, so it runs on the GPU machine.
 */
@Tag("gpu")
class IntegrateCudaTest {
    private BufferAllocator allocator;

    @BeforeEach
    void setUp() {
        Assumptions.assumeTrue(Cuda.availability().usable(), Cuda.availability().reason());
        allocator = new RootAllocator(Long.MAX_VALUE);
    }

    @AfterEach
    void tearDown() {
        if (allocator != null) {
            allocator.close(); // fails on any leaked Arrow buffer
        }
    }

    private static void assertSameBits(Float8Vector cpu, Float8Vector gpu) {
        assertEquals(cpu.getValueCount(), gpu.getValueCount());
        for (int i = 0; i < cpu.getValueCount(); i++) {
            assertEquals(cpu.isNull(i), gpu.isNull(i), "null at row " + i);
            if (!cpu.isNull(i)) {
                assertEquals(Double.doubleToRawLongBits(cpu.get(i)), Double.doubleToRawLongBits(gpu.get(i)),
                    "row " + i + ": cpu " + cpu.get(i) + " gpu " + gpu.get(i));
            }
        }
    }

    @Test
    void everyRowHasTheCpuKernelsBitsWithNullsAndInvalidRows() {
        CudaDevice device = Cuda.device(0);
        int rows = 50_000;
        try (IntegrateBenchmark.Input in = IntegrateBenchmark.generate(rows, 7, rows, allocator);
             CudaIntegrate gpu = new CudaIntegrate(device)) {
            Float8Vector a = in.a(0);
            Float8Vector b = in.b(0);
            IntVector n = in.n(0);
            a.setNull(3);
            n.setNull(10);
            n.set(20, 0);             // invalid: n <= 0
            a.set(30, Double.NaN);    // invalid: not finite
            n.set(40, 1);             // the smallest n
            n.set(50, 2_000_000);     // a long row beside short ones
            try (Float8Vector cpu = IntegrateUdf.apply(a, b, n, allocator, BadRowPolicy.ROW_ERROR, RowLabels.positions(0)).x();
                 Float8Vector cuda = IntegrateUdf.apply(a, b, n, allocator, BadRowPolicy.ROW_ERROR, RowLabels.positions(0), gpu)
                     .x()) {
                assertSameBits(cpu, cuda);
                assertTrue(cuda.isNull(3) && cuda.isNull(10) && cuda.isNull(20) && cuda.isNull(30));
            }
            // A smaller batch after a larger one reuses the buffers; an empty batch is fine.
            a.setValueCount(100);
            b.setValueCount(100);
            n.setValueCount(100);
            try (Float8Vector cpu = IntegrateUdf.apply(a, b, n, allocator, BadRowPolicy.ROW_ERROR, RowLabels.positions(0)).x();
                 Float8Vector cuda = IntegrateUdf.apply(a, b, n, allocator, BadRowPolicy.ROW_ERROR, RowLabels.positions(0), gpu)
                     .x()) {
                assertSameBits(cpu, cuda);
            }
            CudaIntegrate.Timing t = gpu.totals();
            assertTrue(t.kernelNanos() > 0 && t.copyInNanos() > 0 && t.copyOutNanos() > 0, t.toString());
        }
    }

    @Test
    void concurrentOwnersShareTheDeviceAndFreeTheirMemory() throws Exception {
        CudaDevice device = Cuda.device(0);
        long freeBefore = device.memInfo()[0];
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try (IntegrateBenchmark.Input in = IntegrateBenchmark.generate(40_000, 11, 10_000, allocator)) {
            List<Future<?>> fs = new ArrayList<>();
            for (int t = 0; t < 4; t++) {
                final int batch = t;
                fs.add(pool.submit(() -> {
                    try (CudaIntegrate gpu = new CudaIntegrate(device)) {
                        Float8Vector a = in.a(batch);
                        Float8Vector b = in.b(batch);
                        IntVector n = in.n(batch);
                        try (Float8Vector cpu = IntegrateUdf.apply(a, b, n, allocator, BadRowPolicy.FAIL,
                                RowLabels.positions(0)).x();
                             Float8Vector cuda = IntegrateUdf.apply(a, b, n, allocator, BadRowPolicy.FAIL,
                                 RowLabels.positions(0), gpu).x()) {
                            assertSameBits(cpu, cuda);
                        }
                    }
                    return null;
                }));
            }
            for (Future<?> f : fs) {
                f.get();
            }
        } finally {
            pool.shutdown();
        }
        assertEquals(1, Cuda.moduleLoads(), "one fatbin load per device and JVM");
        long freeAfter = device.memInfo()[0];
        assertTrue(freeAfter >= freeBefore - (8L << 20), "device memory not given back: " + freeBefore + " -> " + freeAfter);
    }
}

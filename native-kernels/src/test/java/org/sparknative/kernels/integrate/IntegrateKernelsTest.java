package org.sparknative.kernels.integrate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.IntPointer;
import org.junit.jupiter.api.Test;
import org.sparknative.kernels.testing.FreshJvm;
import org.sparknative.kernels.NativeLibrary;

class IntegrateKernelsTest {
    @Test
    void closedFormMatchesHandComputedSums() {
        // n = 1: dx * f(a) = (b-a) * a(a-1)
        assertEquals(2.0 * (-1.0) * (-2.0), IntegrateReference.closedForm(-1.0, 1.0, 1), 0.0);
        // n = 2 over [0, 2]: dx = 1, f(0) + f(1) = 0
        assertEquals(0.0, IntegrateReference.closedForm(0.0, 2.0, 2), 0.0);
        // n = 4 over [0, 4]: f(0)+f(1)+f(2)+f(3) = 0+0+2+6
        assertEquals(8.0, IntegrateReference.closedForm(0.0, 4.0, 4), 1e-15);
        // Large n converges to the integral (b^3-a^3)/3 - (b^2-a^2)/2 over [0, 3]: 9 - 4.5
        assertEquals(4.5, IntegrateReference.closedForm(0.0, 3.0, 1_000_000), 1e-4);
    }

    @Test
    void singleRowMatchesClosedFormAndJavaOnEdges() {
        double[][] cases = {
            {0.0, 1.0, 1}, {-1.0, 1.0, 1}, {1.0, -1.0, 3}, {2.5, 2.5, 10}, {-3.0, 5.0, 7},
            {-0.5, 0.5, 8}, {-0.5, 0.5, 9}, {-0.5, 0.5, 15}, {-1e3, 1e3, 16}, {0.1, 0.2, 100_000},
        };
        for (double[] c : cases) {
            double a = c[0];
            double b = c[1];
            int n = (int) c[2];
            double x = IntegrateKernels.integrateRow(a, b, n);
            assertTrue(IntegrateReference.relativeError(x, a, b, n) < 1e-12,
                () -> "a=" + a + " b=" + b + " n=" + n + " x=" + x + " exact=" + IntegrateReference.closedForm(a, b, n));
            assertEquals(IntegrateReference.integrate(a, b, n), x, 1e-12 * IntegrateReference.scale(a, b, n));
        }
        // a == b: dx = 0, exactly zero.
        assertEquals(0.0, IntegrateKernels.integrateRow(1.25, 1.25, 1000), 0.0);
    }

    @Test
    void hugeNStaysAccurate() {
        int n = 200_000_000;
        double x = IntegrateKernels.integrateRow(-1.0, 2.0, n);
        // Over [-1, 2] the integral is (8+1)/3 - (4-1)/2 = 1.5; the left sum's error is O(dx).
        assertEquals(1.5, x, 1e-6);
        assertTrue(IntegrateReference.relativeError(x, -1.0, 2.0, n) < 1e-9);
    }

    @Test
    void batchMatchesRowAndReferenceOnRandomInputs() {
        int rows = 2_000;
        SplittableRandom rnd = new SplittableRandom(7);
        try (DoublePointer a = new DoublePointer(rows); DoublePointer b = new DoublePointer(rows);
             IntPointer n = new IntPointer(rows); DoublePointer out = new DoublePointer(rows)) {
            for (int r = 0; r < rows; r++) {
                a.put(r, -Math.abs(rnd.nextDouble() * 4 - 2));
                b.put(r, Math.abs(rnd.nextDouble() * 4 - 2));
                n.put(r, 1 + rnd.nextInt(20_000));
            }
            IntegrateKernels.integrateBatch(a.address(), b.address(), n.address(), out.address(), rows, 0L);
            for (int r = 0; r < rows; r++) {
                double x = out.get(r);
                assertEquals(IntegrateKernels.integrateRow(a.get(r), b.get(r), n.get(r)), x, 0.0, "row " + r);
                assertTrue(IntegrateReference.relativeError(x, a.get(r), b.get(r), n.get(r)) < 1e-12, "row " + r);
                double java = IntegrateReference.integrate(a.get(r), b.get(r), n.get(r));
                assertEquals(java, x, 1e-12 * IntegrateReference.scale(a.get(r), b.get(r), n.get(r)), "row " + r);
            }
        }
    }

    @Test
    void computeMaskSkipsClearedRows() {
        int rows = 11;
        try (DoublePointer a = new DoublePointer(rows); DoublePointer b = new DoublePointer(rows);
             IntPointer n = new IntPointer(rows); DoublePointer out = new DoublePointer(rows);
             BytePointer mask = new BytePointer(2)) {
            for (int r = 0; r < rows; r++) {
                a.put(r, 0.0);
                b.put(r, 4.0);
                n.put(r, 4);
                out.put(r, -7.0);
            }
            n.put(3, 0); // would divide by zero: must be skipped
            mask.put(0, (byte) 0b1111_0111).put(1, (byte) 0b0000_0011);
            IntegrateKernels.integrateBatch(a.address(), b.address(), n.address(), out.address(), rows, mask.address());
            for (int r = 0; r < rows; r++) {
                assertEquals(r == 3 || r == 10 ? -7.0 : 8.0, out.get(r), 1e-15, "row " + r);
            }
        }
    }

    @Test
    void referenceRejectsNonPositiveN() {
        assertThrows(IllegalArgumentException.class, () -> IntegrateReference.integrate(0, 1, 0));
        assertThrows(IllegalArgumentException.class, () -> IntegrateReference.closedForm(0, 1, -5));
    }

    /**
     * The first load, in a fresh JVM (this one loaded the library long ago): 8 threads released together make
     * a kernel call their first touch of it. Each must find the library loaded and get the right sum, and it
     * must load once; the llama library, which nothing used, not at all.
     */
    @Test
    void libraryLoadsOnceAcrossThreads() throws Exception {
        String out = FreshJvm.run(IntegrateFirstTouchProbe.class, "8", "kernel");
        assertTrue(out.contains("probe ok threads=8 integrate loads=1 llama loads=0"), out);
    }

    /** As above with {@link NativeLibrary#ensureLoaded()} as the racing first touch (the udf module's path): both libraries, once each. */
    @Test
    void ensureLoadedLoadsEveryLibraryOnceAcrossThreads() throws Exception {
        String out = FreshJvm.run(IntegrateFirstTouchProbe.class, "8", "ensureLoaded");
        assertTrue(out.contains("probe ok threads=8 integrate loads=1 llama loads=1"), out);
    }


    /**
     * The CUDA kernel's order of operations (16 lanes, each a thread, combined by the fixed tree), run on the
     * CPU from the header nvcc also compiles, gives the SIMD kernel's bits: for every n from 1 to 100 (every
     * tail length), for large n, and for reversed and empty intervals.
     */
    @Test
    void theGpuLaneOrderGivesTheCpuKernelsBits() {
        java.util.SplittableRandom r = new java.util.SplittableRandom(11);
        for (int n = 1; n <= 100; n++) {
            double a = -r.nextDouble() * 3;
            double b = r.nextDouble() * 3;
            assertEquals(Double.doubleToRawLongBits(IntegrateKernels.integrateRow(a, b, n)),
                Double.doubleToRawLongBits(IntegrateKernels.integrateRowLanes(a, b, n)), "n=" + n);
        }
        for (int t = 0; t < 200; t++) {
            double a = (r.nextDouble() - 0.5) * 1e3;
            double b = t % 10 == 0 ? a : (r.nextDouble() - 0.5) * 1e3;
            int n = 100 + r.nextInt(200_000);
            assertEquals(Double.doubleToRawLongBits(IntegrateKernels.integrateRow(a, b, n)),
                Double.doubleToRawLongBits(IntegrateKernels.integrateRowLanes(a, b, n)), "a=" + a + " b=" + b + " n=" + n);
        }
        assertEquals(Double.doubleToRawLongBits(IntegrateKernels.integrateRow(0, 1, 1 << 24)),
            Double.doubleToRawLongBits(IntegrateKernels.integrateRowLanes(0, 1, 1 << 24)));
    }
}

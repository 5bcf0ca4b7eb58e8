package org.sparknative.udf.integrate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.apache.arrow.vector.Float8Vector;
import org.apache.arrow.vector.IntVector;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.sparknative.kernels.integrate.IntegrateReference;
import org.sparknative.kernels.testing.FreshJvm;
import org.sparknative.udf.BadRowPolicy;
import org.sparknative.udf.InvalidRowException;
import org.sparknative.udf.RowLabels;

class IntegrateUdfTest {
    private RootAllocator root;

    @BeforeEach
    void setUp() {
        root = new RootAllocator(Long.MAX_VALUE);
    }

    @AfterEach
    void tearDown() {
        // RootAllocator.close() throws IllegalStateException if any buffer leaked.
        root.close();
    }

    private record Batch(Float8Vector a, Float8Vector b, IntVector n) implements AutoCloseable {
        static Batch of(BufferAllocator alloc, Double[] a, Double[] b, Integer[] n) {
            Float8Vector av = new Float8Vector("a", alloc);
            Float8Vector bv = new Float8Vector("b", alloc);
            IntVector nv = new IntVector("n", alloc);
            av.allocateNew(a.length);
            bv.allocateNew(b.length);
            nv.allocateNew(n.length);
            for (int i = 0; i < a.length; i++) {
                if (a[i] == null) {
                    av.setNull(i);
                } else {
                    av.set(i, a[i]);
                }
                if (b[i] == null) {
                    bv.setNull(i);
                } else {
                    bv.set(i, b[i]);
                }
                if (n[i] == null) {
                    nv.setNull(i);
                } else {
                    nv.set(i, n[i]);
                }
            }
            av.setValueCount(a.length);
            bv.setValueCount(b.length);
            nv.setValueCount(n.length);
            return new Batch(av, bv, nv);
        }

        @Override
        public void close() {
            a.close();
            b.close();
            n.close();
        }
    }

    @Test
    void randomBatchMatchesClosedFormAndJava() {
        int rows = 5_000;
        SplittableRandom rnd = new SplittableRandom(11);
        Double[] a = new Double[rows];
        Double[] b = new Double[rows];
        Integer[] n = new Integer[rows];
        for (int i = 0; i < rows; i++) {
            a[i] = -Math.abs(rnd.nextGaussian());
            b[i] = Math.abs(rnd.nextGaussian());
            n[i] = 100 + rnd.nextInt(19_900);
        }
        try (Batch batch = Batch.of(root, a, b, n)) {
            IntegrateUdf.Result r = IntegrateUdf.apply(batch.a(), batch.b(), batch.n(), root, BadRowPolicy.FAIL, RowLabels.positions(0));
            try (Float8Vector x = r.x()) {
                assertEquals(rows, x.getValueCount());
                assertEquals(0, x.getNullCount());
                assertEquals(0, r.invalidRows());
                for (int i = 0; i < rows; i++) {
                    assertTrue(IntegrateReference.relativeError(x.get(i), a[i], b[i], n[i]) < 1e-12, "row " + i);
                    assertEquals(IntegrateReference.integrate(a[i], b[i], n[i]), x.get(i),
                        1e-12 * IntegrateReference.scale(a[i], b[i], n[i]), "row " + i);
                }
            }
        }
    }

    @Test
    void nullsInGiveNullOut() {
        Double[] a = {0.0, null, 0.0, 0.0, 0.0};
        Double[] b = {4.0, 4.0, null, 4.0, 4.0};
        Integer[] n = {4, 4, 4, null, 4};
        try (Batch batch = Batch.of(root, a, b, n);
             Float8Vector x = IntegrateUdf.apply(batch.a(), batch.b(), batch.n(), root, BadRowPolicy.FAIL, RowLabels.positions(0)).x()) {
            assertEquals(3, x.getNullCount());
            assertEquals(8.0, x.get(0), 1e-15);
            assertTrue(x.isNull(1));
            assertTrue(x.isNull(2));
            assertTrue(x.isNull(3));
            assertEquals(8.0, x.get(4), 1e-15);
        }
    }

    @Test
    void invalidRowErrorNamesRowAndField() {
        Double[] a = {0.0, 0.0, Double.NaN};
        Double[] b = {4.0, 4.0, 1.0};
        Integer[] n = {4, 0, 4};
        try (Batch batch = Batch.of(root, a, b, n)) {
            InvalidRowException e = assertThrows(InvalidRowException.class,
                () -> IntegrateUdf.apply(batch.a(), batch.b(), batch.n(), root, BadRowPolicy.FAIL,
                    i -> RowLabels.id(700 + i)));
            assertEquals("id 701", e.row());
            assertEquals("integrate_f: id 701: n must be >= 1, got 0", e.getMessage());
        }
        // The output vector allocated before the error was released: tearDown's root.close() checks it.
    }

    @Test
    void invalidRowsBecomeNullAndAreCountedUnderNullPolicy() {
        Double[] a = {0.0, 0.0, Double.NaN, 0.0, 0.0, null};
        Double[] b = {4.0, 4.0, 1.0, Double.POSITIVE_INFINITY, 4.0, 1.0};
        Integer[] n = {4, -3, 4, 4, 4, 2};
        try (Batch batch = Batch.of(root, a, b, n)) {
            IntegrateUdf.Result r = IntegrateUdf.apply(batch.a(), batch.b(), batch.n(), root, BadRowPolicy.ROW_ERROR, RowLabels.positions(0));
            try (Float8Vector x = r.x()) {
                assertEquals(3, r.invalidRows());
                assertEquals(4, x.getNullCount());
                assertEquals(8.0, x.get(0), 1e-15);
                assertEquals(8.0, x.get(4), 1e-15);
                for (int i : new int[] {1, 2, 3, 5}) {
                    assertTrue(x.isNull(i), "row " + i);
                }
            }
        }
    }

    @Test
    void emptyBatchAndMismatchedLengths() {
        try (Batch empty = Batch.of(root, new Double[0], new Double[0], new Integer[0]);
             Float8Vector x = IntegrateUdf.apply(empty.a(), empty.b(), empty.n(), root, BadRowPolicy.FAIL, RowLabels.positions(0)).x()) {
            assertEquals(0, x.getValueCount());
        }
        try (Batch batch = Batch.of(root, new Double[] {0.0, 1.0}, new Double[] {1.0, 2.0}, new Integer[] {1, 2})) {
            batch.n().setValueCount(1);
            assertThrows(IllegalArgumentException.class,
                () -> IntegrateUdf.apply(batch.a(), batch.b(), batch.n(), root, BadRowPolicy.FAIL, RowLabels.positions(0)));
        }
    }

    @Test
    void fourConcurrentFirstTasksShareOneLibraryLoadInAFreshJvm() throws Exception {
        // In this JVM the library is long loaded (setUp); only a fresh JVM shows the first, racing load.
        String out = FreshJvm.run(IntegrateUdfFirstTouchProbe.class, "4");
        assertTrue(out.contains("OK"), out);
    }

    /**
     * Spark interrupts a cancelled task's thread (another task of the job failed). If that thread is the
     * one loading the kernels (its first touch), JavaCPP's file lock threw, and the binding class stayed
     * broken for the executor's whole life ("Could not initialize class"). This JVM sees the library from
     * the native-kernels jar, as an executor does, with an empty cache, so the load has to extract it.
     */
    @Test
    void anInterruptedFirstTouchStillLoadsTheLibrary() throws Exception {
        java.nio.file.Path cache = java.nio.file.Files.createTempDirectory("javacpp-cache");
        String out = FreshJvm.run(java.util.List.of("-Dorg.bytedeco.javacpp.cachedir=" + cache),
            InterruptedFirstTouchProbe.class);
        assertTrue(out.contains("interrupted probe ok"), out);
    }

    @Test
    void policyParsingKeepsTheOldSpellingsAsAliases() {
        assertEquals(BadRowPolicy.ROW_ERROR, BadRowPolicy.INVALID_ROWS.parse("null"));
        assertEquals(BadRowPolicy.FAIL, BadRowPolicy.INVALID_ROWS.parse(" Error "));
        assertEquals(BadRowPolicy.FAIL, BadRowPolicy.INVALID_ROWS.parse("fail"));
        assertEquals(BadRowPolicy.ROW_ERROR, BadRowPolicy.INVALID_ROWS.parse("row-error"));
        // 'error' always meant "write an error row and go on" for long prompts.
        assertEquals(BadRowPolicy.ROW_ERROR, BadRowPolicy.LONG_PROMPTS.parse("error"));
        assertEquals(BadRowPolicy.TRUNCATE, BadRowPolicy.LONG_PROMPTS.parse("TRUNCATE"));
        assertEquals(BadRowPolicy.FAIL, BadRowPolicy.LONG_PROMPTS.parse("fail"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
            () -> BadRowPolicy.INVALID_ROWS.parse("truncate"));
        assertEquals("--invalid-rows must be one of fail, row-error, got 'truncate'", e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> BadRowPolicy.INVALID_ROWS.parse("skip"));
    }
}

package org.sparknative.udf.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.apache.arrow.memory.RootAllocator;
import org.junit.jupiter.api.Test;

/**
 * The Spark-free integration harness on the CPU: the generated workload is the pandas benchmark's
 * (bounds and {@code n} range, a function of seed and row id only, whatever the batch size), and a
 * measurement counts every row and evaluation once.
 */
class IntegrateBenchmarkTest {
    @Test
    void theWorkloadIsTheSameWhateverTheBatchSizeAndInRange() {
        try (RootAllocator alloc = new RootAllocator(Long.MAX_VALUE);
             IntegrateBenchmark.Input small = IntegrateBenchmark.generate(1000, 5, 7, alloc);
             IntegrateBenchmark.Input big = IntegrateBenchmark.generate(1000, 5, 1000, alloc)) {
            assertEquals(1000, small.rows());
            assertEquals(143, small.batches());
            assertEquals(small.evaluations(), big.evaluations());
            double[] ab = new double[2];
            for (int i = 0; i < 1000; i++) {
                int n = IntegrateBenchmark.row(5, i, ab);
                assertEquals(n, big.n(0).get(i));
                assertEquals(n, small.n(i / 7).get(i % 7));
                assertEquals(ab[0], small.a(i / 7).get(i % 7));
                assertTrue(ab[0] <= 0 && ab[1] >= 0 && n >= 100 && n < 20_000, i + ": " + ab[0] + " " + ab[1] + " " + n);
            }
        }
    }

    @Test
    void aCpuMeasurementCountsEveryRowAndEvaluation() {
        try (RootAllocator alloc = new RootAllocator(Long.MAX_VALUE);
             IntegrateBenchmark.Input in = IntegrateBenchmark.generate(5000, 1, 512, alloc)) {
            IntegrateBenchmark.Row r = IntegrateBenchmark.cpu(in, 2, 1, alloc);
            assertEquals("cpu", r.backend());
            assertEquals(5000, r.rows());
            assertEquals(in.evaluations(), r.evaluations());
            assertEquals(r.rows() / r.seconds(), r.rowsPerSecond(), 1e-6 * r.rowsPerSecond());
            String table = IntegrateBenchmark.table(List.of(r));
            assertTrue(table.contains("1.0x"), table);
        }
    }
}

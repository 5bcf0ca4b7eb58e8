package org.sparknative.udf.integrate;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.vector.Float8Vector;
import org.apache.arrow.vector.IntVector;
import org.sparknative.udf.BadRowPolicy;
import org.sparknative.udf.ExecutorRuntime;
import org.sparknative.udf.RowLabels;

/**
 * Run in a fresh JVM by {@link IntegrateUdfTest}: N "tasks" released together make the JVM's first call
 * into the kernels through {@link IntegrateUdf#apply} (nothing loaded the library before), as an
 * executor's first concurrent tasks do. Exits 0 and prints {@code OK} only if every result is right, the
 * library was loaded exactly once, and no Arrow memory is left.
 */
public final class IntegrateUdfFirstTouchProbe {
    private IntegrateUdfFirstTouchProbe() {
    }

    public static void main(String[] args) throws Exception {
        int tasks = Integer.parseInt(args[0]);
        if (ExecutorRuntime.nativeLoadCount() != 0) {
            throw new AssertionError("the library was loaded before the tasks started");
        }
        ExecutorService pool = Executors.newFixedThreadPool(tasks, r -> {
            Thread t = new Thread(r);
            t.setDaemon(true);
            return t;
        });
        CountDownLatch start = new CountDownLatch(1);
        List<Future<Double>> results = new ArrayList<>();
        for (int t = 0; t < tasks; t++) {
            final int task = t;
            results.add(pool.submit(() -> {
                start.await();
                try (BufferAllocator alloc = ExecutorRuntime.newTaskAllocator("probe task " + task);
                     Float8Vector a = new Float8Vector("a", alloc);
                     Float8Vector b = new Float8Vector("b", alloc);
                     IntVector n = new IntVector("n", alloc)) {
                    a.allocateNew(1);
                    b.allocateNew(1);
                    n.allocateNew(1);
                    a.set(0, 0.0);
                    b.set(0, 4.0);
                    n.set(0, 4);
                    a.setValueCount(1);
                    b.setValueCount(1);
                    n.setValueCount(1);
                    try (Float8Vector x = IntegrateUdf.apply(a, b, n, alloc, BadRowPolicy.FAIL, RowLabels.positions(0)).x()) {
                        return x.get(0);
                    }
                }
            }));
        }
        start.countDown();
        for (Future<Double> f : results) {
            double x = f.get();
            if (x != 8.0) {
                throw new AssertionError("integrate_f(0, 4, 4) = " + x + ", expected 8");
            }
        }
        if (ExecutorRuntime.nativeLoadCount() != 1) {
            throw new AssertionError("the library was loaded " + ExecutorRuntime.nativeLoadCount() + " times");
        }
        if (ExecutorRuntime.rootAllocator().getAllocatedMemory() != 0) {
            throw new AssertionError("Arrow memory leaked: " + ExecutorRuntime.rootAllocator().getAllocatedMemory());
        }
        System.out.println("OK");
    }
}

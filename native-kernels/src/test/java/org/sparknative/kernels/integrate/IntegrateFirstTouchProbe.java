package org.sparknative.kernels.integrate;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.sparknative.kernels.NativeLibrary;
import org.sparknative.kernels.llama.LlamaKernels;

/**
 * Run in a fresh JVM by {@link IntegrateKernelsTest}: {@code threads} threads, released together, whose
 * first touch of any native library is either a kernel call ({@code kernel}: {@link IntegrateKernels#integrateRow})
 * or {@link NativeLibrary#ensureLoaded()} ({@code ensureLoaded}). Every call must find its library loaded and
 * compute the right sum, and each library must have loaded exactly once. Exits non-zero otherwise.
 */
public final class IntegrateFirstTouchProbe {
    private IntegrateFirstTouchProbe() {
    }

    private static void check(boolean ok, String what) {
        if (!ok) {
            throw new AssertionError(what);
        }
    }

    public static void main(String[] args) throws Exception {
        int threads = Integer.parseInt(args[0]);
        boolean viaEnsureLoaded = args[1].equals("ensureLoaded");
        // Class literals do not initialize a class: nothing is loaded yet.
        check(NativeLibrary.loadCount() == 0, "a library loaded before the first touch");
        CyclicBarrier start = new CyclicBarrier(threads);
        ExecutorService pool = Executors.newFixedThreadPool(threads, r -> {
            Thread t = new Thread(r);
            t.setDaemon(true); // a failed probe must exit, not wait for its workers
            return t;
        });
        try {
            List<Future<Double>> sums = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                int n = 1_000 + t;
                sums.add(pool.submit(() -> {
                    start.await();
                    if (viaEnsureLoaded) {
                        NativeLibrary.ensureLoaded();
                    }
                    return IntegrateKernels.integrateRow(-1.0, 2.0, n);
                }));
            }
            for (int t = 0; t < threads; t++) {
                double x = sums.get(t).get();
                int n = 1_000 + t;
                check(IntegrateReference.relativeError(x, -1.0, 2.0, n) < 1e-12, "thread " + t + ": " + x + " for n = " + n);
            }
        } finally {
            pool.shutdownNow();
        }
        int integrate = NativeLibrary.loadCount(IntegrateKernels.class);
        int llama = NativeLibrary.loadCount(LlamaKernels.class);
        check(integrate == 1, "the integrate library loaded " + integrate + " times");
        check(llama == (viaEnsureLoaded ? 1 : 0), "the llama library loaded " + llama + " times");
        check(NativeLibrary.loadCount() == 1, "loadCount() = " + NativeLibrary.loadCount());
        System.out.println("probe ok threads=" + threads + " integrate loads=" + integrate + " llama loads=" + llama);
    }
}

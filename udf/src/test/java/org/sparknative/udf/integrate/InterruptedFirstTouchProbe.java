package org.sparknative.udf.integrate;

import org.sparknative.kernels.NativeLibrary;
import org.sparknative.kernels.integrate.IntegrateKernels;

/**
 * Run in a fresh JVM by {@link IntegrateUdfTest}, with the kernels from the native-kernels jar (as on an
 * executor) and an empty JavaCPP cache, so the first load extracts the library under a file lock: the JVM's first kernel call comes from a thread that
 * has been interrupted, as a Spark task's thread is when Spark cancels it (another task of the job failed).
 * The load must still succeed, the interrupt must still be pending afterwards (the task sees its
 * cancellation), and later calls from other threads must work: a failed load would poison the binding class
 * for the executor's whole life.
 */
public final class InterruptedFirstTouchProbe {
    private InterruptedFirstTouchProbe() {
    }

    public static void main(String[] args) throws Exception {
        double[] x = new double[1];
        boolean[] stillInterrupted = new boolean[1];
        Throwable[] failure = new Throwable[1];
        Thread task = new Thread(() -> {
            Thread.currentThread().interrupt();
            try {
                x[0] = IntegrateKernels.integrateRow(0.0, 4.0, 4);
            } catch (Throwable t) {
                failure[0] = t;
            }
            stillInterrupted[0] = Thread.currentThread().isInterrupted();
        });
        task.start();
        task.join();
        if (failure[0] != null) {
            throw new AssertionError("the interrupted first touch failed", failure[0]);
        }
        if (x[0] != 8.0 || !stillInterrupted[0]) {
            throw new AssertionError("x = " + x[0] + ", interrupt pending afterwards: " + stillInterrupted[0]);
        }
        if (IntegrateKernels.integrateRow(0.0, 4.0, 4) != 8.0 || NativeLibrary.loadCount(IntegrateKernels.class) != 1) {
            throw new AssertionError("a later call failed, or the library loaded more than once");
        }
        System.out.println("interrupted probe ok");
    }
}

package org.sparknative.kernels.integrate;

import org.bytedeco.javacpp.annotation.Cast;
import org.bytedeco.javacpp.annotation.Name;
import org.bytedeco.javacpp.annotation.Platform;
import org.sparknative.kernels.NativeLibrary;

/**
 * JNI bindings of the integration kernel {@code sn_integrate.h}: the left Riemann sum
 * {@code dx * sum_{i<n} f(a + i*dx)}, {@code dx = (b-a)/n}, {@code f(x) = x*(x-1)}.
 *
 * <p>The kernels take raw off-heap addresses and lengths, so callers (the Arrow UDF layer) hand over
 * their buffers without copying. Nothing here validates: the caller must check that every address
 * points at {@code rows} readable (or writable) elements and that every computed row has {@code n >= 1}.
 * A bad address crashes the JVM, so validate in Java first.
 *
 * <p>Threading: every method is reentrant and keeps no state; call from any number of threads. The
 * class loads its JNI library in its static initializer, so the first call from any thread loads it,
 * once per JVM (see {@link NativeLibrary}).
 */
@Platform(include = "sn_integrate.h")
public final class IntegrateKernels {
    static {
        NativeLibrary.load(IntegrateKernels.class);
        NativeLibrary.recordLoad(IntegrateKernels.class);
    }

    private IntegrateKernels() {
    }

    /**
     * Computes {@code rows} rows in one call.
     *
     * @param a           address of {@code rows} float64 lower bounds
     * @param b           address of {@code rows} float64 upper bounds
     * @param n           address of {@code rows} int32 interval counts (each {@code >= 1} where computed)
     * @param out         address of {@code rows} float64 results, written in place
     * @param rows        number of rows
     * @param computeMask 0 to compute every row, else the address of a little-endian bitmap of
     *                    {@code ceil(rows/8)} bytes (Arrow validity layout): a clear bit skips that row
     */
    @Name("sn_integrate_f_batch")
    public static native void integrateBatch(@Cast("const double*") long a, @Cast("const double*") long b,
                                             @Cast("const int32_t*") long n, @Cast("double*") long out,
                                             @Cast("int64_t") long rows, @Cast("const uint8_t*") long computeMask);

    /**
     * One row per JNI call (the "native per call" variant: correct, slow by design).
     *
     * @param n interval count, {@code >= 1}
     * @return the left Riemann sum of {@code f} over {@code [a, b]} with {@code n} intervals
     */
    @Name("sn_integrate_f_row")
    public static native double integrateRow(double a, double b, @Cast("int32_t") int n);

    /**
     * One row computed lane by lane in plain scalar code ({@code sn_integrate_f_row_lanes} of
     * {@code sn_integrate_math.h}): the order of operations of the CUDA kernel, whose 16 threads per row each
     * sum one lane. Equal, bit for bit, to {@link #integrateRow}; the tests hold both to that, so the GPU's
     * formulas are checked on every CPU build.
     *
     * @param n interval count, {@code >= 1}
     */
    @Name("sn_integrate_f_row_lanes")
    public static native double integrateRowLanes(double a, double b, @Cast("int32_t") int n);
}

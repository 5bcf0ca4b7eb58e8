package org.sparknative.kernels.integrate;

/**
 * Pure-Java references for the integration workload: the straightforward loop (the same code as the
 * pandas {@code integrate_f}) and the closed form used as the test oracle.
 *
 * <p>Threading: stateless, call from any thread.
 */
public final class IntegrateReference {
    private IntegrateReference() {
    }

    /** {@code f(x) = x * (x - 1)}. */
    public static double f(double x) {
        return x * (x - 1.0);
    }

    /**
     * The left Riemann sum {@code dx * sum_{i<n} f(a + i*dx)}, {@code dx = (b-a)/n}, as one plain loop.
     *
     * @param n interval count
     * @throws IllegalArgumentException if {@code n < 1}
     */
    public static double integrate(double a, double b, int n) {
        if (n < 1) {
            throw new IllegalArgumentException("n must be >= 1, got " + n);
        }
        double s = 0.0;
        double dx = (b - a) / n;
        for (int i = 0; i < n; i++) {
            s += f(a + i * dx);
        }
        return s * dx;
    }

    /**
     * The exact value of the same left Riemann sum from the closed forms
     * {@code sum_{i<n} i = n(n-1)/2} and {@code sum_{i<n} i^2 = (n-1)n(2n-1)/6}:
     * {@code dx * (n(a^2-a) + (2a-1) dx S1 + dx^2 S2)}. Rounding error comes only from the few
     * operations here, so it is the oracle the kernels are tested against.
     *
     * @throws IllegalArgumentException if {@code n < 1}
     */
    public static double closedForm(double a, double b, int n) {
        if (n < 1) {
            throw new IllegalArgumentException("n must be >= 1, got " + n);
        }
        double nn = n;
        double dx = (b - a) / n;
        double s1 = nn * (nn - 1.0) / 2.0;
        double s2 = (nn - 1.0) * nn * (2.0 * nn - 1.0) / 6.0;
        return dx * (nn * (a * a - a) + (2.0 * a - 1.0) * dx * s1 + dx * dx * s2);
    }

    /**
     * A magnitude scale for relative errors of the sum: {@code |dx| * sum_{i<n} |f(a+i*dx)|}, bounded
     * above cheaply by {@code |dx| * n * max(|f|)} over the interval. The plain relative error
     * {@code |x - exact| / |exact|} is meaningless where the sum cancels to near zero; callers divide by
     * {@code max(|exact|, scale * 1e-3)} instead.
     */
    public static double scale(double a, double b, int n) {
        double lo = Math.min(a, b);
        double hi = Math.max(a, b);
        double m = Math.max(Math.abs(f(lo)), Math.abs(f(hi)));
        if (lo < 0.5 && hi > 0.5) {
            m = Math.max(m, 0.25);
        }
        return Math.abs(b - a) * m;
    }

    /** Relative error of {@code x} against {@link #closedForm}, guarded against cancellation (see {@link #scale}). */
    public static double relativeError(double x, double a, double b, int n) {
        double exact = closedForm(a, b, n);
        double denom = Math.max(Math.abs(exact), scale(a, b, n) * 1e-3);
        if (denom == 0.0) {
            return x == exact ? 0.0 : Double.POSITIVE_INFINITY;
        }
        return Math.abs(x - exact) / denom;
    }
}

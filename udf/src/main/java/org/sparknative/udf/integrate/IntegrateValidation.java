package org.sparknative.udf.integrate;

/** The validity rule of {@code integrate_f} rows, shared by the vectorized and row-at-a-time paths. */
public final class IntegrateValidation {
    private IntegrateValidation() {
    }

    /**
     * @return null if {@code (a, b, n)} can be integrated, else what is wrong with it, naming the field
     */
    public static String problem(double a, double b, int n) {
        if (n <= 0) {
            return "n must be >= 1, got " + n;
        }
        if (!Double.isFinite(a)) {
            return "a must be finite, got " + a;
        }
        if (!Double.isFinite(b)) {
            return "b must be finite, got " + b;
        }
        return null;
    }
}

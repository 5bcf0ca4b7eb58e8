package org.sparknative.job.report;

import java.util.Locale;

/**
 * How figures read, in the console and in the report: {@link Locale#ROOT} always, so that a report built on any
 * machine reads the same and two builds of the same {@code report.json} are byte-identical. Stateless and
 * thread-safe; every method returns {@code -} for NaN (a figure that could not be computed).
 */
public final class Format {
    private Format() {
    }

    /**
     * A rate or count with an SI suffix: {@code 1.23M}, {@code 456.7k}, {@code 12.5}.
     *
     * @param v the value
     * @return two decimals from a million up, one below
     */
    public static String si(double v) {
        if (Double.isNaN(v)) {
            return "-";
        }
        double a = Math.abs(v);
        if (a >= 1e12) {
            return String.format(Locale.ROOT, "%.2fT", v / 1e12);
        }
        if (a >= 1e9) {
            return String.format(Locale.ROOT, "%.2fG", v / 1e9);
        }
        if (a >= 1e6) {
            return String.format(Locale.ROOT, "%.2fM", v / 1e6);
        }
        if (a >= 1e3) {
            return String.format(Locale.ROOT, "%.1fk", v / 1e3);
        }
        return String.format(Locale.ROOT, "%.1f", v);
    }

    /**
     * A rate in a report table: in full below a million, where {@link #si} would drop digits that tell configurations
     * apart ({@code 303.0}, {@code 1,530}, {@code 476,190}), else as {@link #si} ({@code 4.15M}).
     *
     * @param v the rate
     * @return at least three significant digits
     */
    public static String rate(double v) {
        if (Double.isNaN(v)) {
            return "-";
        }
        double a = Math.abs(v);
        if (a >= 1e6) {
            return si(v);
        }
        return String.format(Locale.ROOT, a >= 1000 ? "%,.0f" : "%.1f", v);
    }

    /**
     * @param v      the value
     * @param digits decimals
     * @return {@code v} with {@code digits} decimals, no grouping: {@code 12.35}
     */
    public static String fixed(double v, int digits) {
        return Double.isNaN(v) ? "-" : String.format(Locale.ROOT, "%." + digits + "f", v);
    }

    /** @return {@code v} in scientific notation with one decimal: {@code 1.2e-07} */
    public static String sci(double v) {
        return Double.isNaN(v) ? "-" : String.format(Locale.ROOT, "%.1e", v);
    }

    /** @return {@code n} with comma grouping: {@code 1,000,000} */
    public static String count(long n) {
        return String.format(Locale.ROOT, "%,d", n);
    }

    /** @return {@code n} with comma grouping, or {@code -} where null (nothing counted it) */
    public static String count(Number n) {
        return n == null ? "-" : count(n.longValue());
    }

    /**
     * @param share a ratio, e.g. {@code 0.873}
     * @return it as a percentage with no decimals: {@code 87%}
     */
    public static String percent(double share) {
        return Double.isNaN(share) ? "-" : String.format(Locale.ROOT, "%.0f%%", share * 100);
    }

    /**
     * @param change a relative change ({@code new / old - 1}), e.g. {@code -0.5}
     * @return it signed with one decimal: {@code -50.0%}, {@code +3.2%}
     */
    public static String change(double change) {
        return Double.isNaN(change) || Double.isInfinite(change) ? "-"
            : String.format(Locale.ROOT, "%+.1f%%", change * 100);
    }

    /** @return a factor with one decimal: {@code 41.2×} (two below 10: {@code 1.25×}) */
    public static String times(double factor) {
        if (Double.isNaN(factor)) {
            return "-";
        }
        return String.format(Locale.ROOT, Math.abs(factor) < 10 ? "%.2f×" : "%.1f×", factor);
    }

    /** @return seconds with three decimals below 10 s, two below 100 s, one from there: {@code 1.234} */
    public static String seconds(double s) {
        if (Double.isNaN(s)) {
            return "-";
        }
        double a = Math.abs(s);
        return fixed(s, a < 10 ? 3 : a < 100 ? 2 : 1);
    }

    /** @return milliseconds with one decimal: {@code 123.4} */
    public static String millis(double ms) {
        return fixed(ms, 1);
    }

    /** @return bytes in GiB with one decimal from a GiB up, else MiB: {@code 7.5 GiB}, {@code 512 MiB} */
    public static String bytes(long bytes) {
        double gib = bytes / (1024.0 * 1024 * 1024);
        return gib >= 1 ? fixed(gib, 1) + " GiB" : fixed(bytes / (1024.0 * 1024), 0) + " MiB";
    }
}

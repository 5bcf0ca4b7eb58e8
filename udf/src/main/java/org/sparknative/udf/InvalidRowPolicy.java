package org.sparknative.udf;

import java.util.Locale;

/**
 * What a UDF does with a row whose non-null inputs are invalid (for {@code integrate_f}: {@code n <= 0},
 * or {@code a} or {@code b} NaN or infinite).
 */
public enum InvalidRowPolicy {
    /** Fail the batch (and so the Spark task) with an {@link InvalidRowException} naming the row. */
    ERROR,
    /** Output null for the row and count it; the count is logged and reported by the job. */
    NULL;

    /**
     * @param s {@code error} or {@code null}, any case
     * @throws IllegalArgumentException for anything else
     */
    public static InvalidRowPolicy parse(String s) {
        try {
            return valueOf(s.trim().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("invalid-row policy must be 'error' or 'null', got '" + s + "'");
        }
    }
}

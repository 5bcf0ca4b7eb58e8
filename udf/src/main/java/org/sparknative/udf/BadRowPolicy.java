package org.sparknative.udf;

import java.util.EnumSet;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * What happens to a row a workload cannot compute as given: one vocabulary for every bad-row setting
 * of both workloads ({@code --invalid-rows} of {@code integrate}, {@code --long-prompts} of
 * {@code generate}).
 *
 * <ul>
 *   <li>{@link #FAIL} ({@code fail}): the job stops with an {@link InvalidRowException} naming the row
 *       by its id (see {@link RowLabels}) and the field.</li>
 *   <li>{@link #ROW_ERROR} ({@code row-error}): the row gets a null result and its error message, and
 *       the job goes on ({@code integrate}: {@code x} is null and the row is counted as invalid;
 *       {@code generate}: {@code completion} is null and {@code finish_reason} is {@code error: ...}).</li>
 *   <li>{@link #TRUNCATE} ({@code truncate}, long prompts only): keep BOS and the prompt's last tokens.</li>
 * </ul>
 *
 * <p>Older spellings stay accepted as aliases: {@code --invalid-rows error|null} (fail, row-error) and
 * {@code --long-prompts error} (row-error, which is what it always did).
 */
public enum BadRowPolicy {
    /** Stop the job and name the row. */
    FAIL("fail"),
    /** Null result plus the row's error message; the job goes on. */
    ROW_ERROR("row-error"),
    /** Long prompts only: keep BOS and the prompt's end. */
    TRUNCATE("truncate");

    /** The policies {@code --invalid-rows} takes, and their old aliases. */
    public static final Setting INVALID_ROWS = new Setting("--invalid-rows", EnumSet.of(FAIL, ROW_ERROR),
        Map.of("error", FAIL, "null", ROW_ERROR));
    /** The policies {@code --long-prompts} takes, and their old alias. */
    public static final Setting LONG_PROMPTS = new Setting("--long-prompts", EnumSet.of(FAIL, ROW_ERROR, TRUNCATE),
        Map.of("error", ROW_ERROR));

    private final String label;

    BadRowPolicy(String label) {
        this.label = label;
    }

    /** @return the command-line spelling: {@code fail}, {@code row-error} or {@code truncate} */
    public String label() {
        return label;
    }

    @Override
    public String toString() {
        return label;
    }

    /**
     * One bad-row setting: its option name, the policies it allows and its legacy aliases.
     *
     * @param option  the option name, for messages
     * @param allowed the policies this setting takes
     * @param aliases old spellings, lower case
     */
    public record Setting(String option, Set<BadRowPolicy> allowed, Map<String, BadRowPolicy> aliases) {
        /**
         * @param s a label or alias, any case
         * @return the policy
         * @throws IllegalArgumentException naming the option and its values, for anything else
         */
        public BadRowPolicy parse(String s) {
            String k = s.trim().toLowerCase(Locale.ROOT);
            BadRowPolicy p = aliases.get(k);
            if (p != null) {
                return p;
            }
            for (BadRowPolicy v : allowed) {
                if (v.label.equals(k)) {
                    return v;
                }
            }
            StringBuilder values = new StringBuilder();
            for (BadRowPolicy v : allowed) {
                values.append(values.length() == 0 ? "" : ", ").append(v.label);
            }
            throw new IllegalArgumentException(option + " must be one of " + values + ", got '" + s + "'");
        }

        /** @throws IllegalArgumentException if this setting does not take {@code p} */
        public BadRowPolicy check(BadRowPolicy p) {
            if (!allowed.contains(p)) {
                throw new IllegalArgumentException(option + " does not take '" + p.label + "'");
            }
            return p;
        }
    }
}

package org.sparknative.udf.generate;

import java.util.Locale;

/** What happens to a prompt with more tokens than the model's context ({@code seq_len}). */
public enum LongPromptPolicy {
    /** The row gets {@code finish_reason = "error: ..."} and no completion; the job goes on. */
    ERROR,
    /**
     * Keep BOS and the prompt's last tokens, leaving room for {@code min(max_new_tokens, seq_len / 2)}
     * generated tokens.
     */
    TRUNCATE;

    /** @throws IllegalArgumentException unless {@code s} is {@code error} or {@code truncate} */
    public static LongPromptPolicy parse(String s) {
        try {
            return valueOf(s.trim().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("long-prompt policy must be 'error' or 'truncate', got '" + s + "'");
        }
    }
}

package org.sparknative.udf.generate;

import java.util.Objects;

/**
 * Why a row's generation ended. In the output it is the string {@link #toString()}: {@code stop},
 * {@code length} or {@code error: <message>}.
 *
 * @param kind    the category
 * @param message what went wrong, for {@link Kind#ERROR} only (else null)
 */
public record FinishReason(Kind kind, String message) {
    /** The categories of {@link FinishReason}. */
    public enum Kind {
        /** BOS or EOS was sampled. */
        STOP,
        /** The row's token budget is spent, or the context is full. */
        LENGTH,
        /** The row could not be generated; its completion is null. */
        ERROR
    }

    /** BOS or EOS sampled. */
    public static final FinishReason STOP = new FinishReason(Kind.STOP, null);
    /** Token budget spent or context full. */
    public static final FinishReason LENGTH = new FinishReason(Kind.LENGTH, null);

    /** @throws IllegalArgumentException unless exactly the error kind carries a message */
    public FinishReason {
        Objects.requireNonNull(kind, "kind");
        if ((kind == Kind.ERROR) != (message != null)) {
            throw new IllegalArgumentException("an error finish reason, and only one, carries a message");
        }
    }

    /** @return an error finish reason with {@code message} */
    public static FinishReason error(String message) {
        return new FinishReason(Kind.ERROR, message);
    }

    /** @return whether the row failed */
    public boolean isError() {
        return kind == Kind.ERROR;
    }

    /** @return the output column's text: {@code stop}, {@code length} or {@code error: <message>} */
    @Override
    public String toString() {
        return switch (kind) {
            case STOP -> "stop";
            case LENGTH -> "length";
            case ERROR -> "error: " + message;
        };
    }
}

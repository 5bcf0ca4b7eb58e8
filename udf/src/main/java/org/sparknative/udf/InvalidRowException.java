package org.sparknative.udf;

/** An input row that a kernel cannot compute; the message names the row and the offending field. */
public class InvalidRowException extends IllegalArgumentException {
    private static final long serialVersionUID = 1L;

    private final long row;

    public InvalidRowException(long row, String message) {
        super(message);
        this.row = row;
    }

    /** @return the row's index as the caller numbered it (for Spark: within its partition) */
    public long row() {
        return row;
    }
}

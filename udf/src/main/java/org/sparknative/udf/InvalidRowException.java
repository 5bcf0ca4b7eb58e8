package org.sparknative.udf;

/**
 * An input row that a kernel cannot compute under {@link BadRowPolicy#FAIL}; the message names the row
 * by its id (see {@link RowLabels}) and the offending field and value.
 */
public class InvalidRowException extends IllegalArgumentException {
    private static final long serialVersionUID = 1L;

    private final String row;

    /**
     * @param row     the row's label, such as {@code id 700} or {@code input row 700}
     * @param message the whole message, naming the row
     */
    public InvalidRowException(String row, String message) {
        super(message);
        this.row = row;
    }

    /** @return the row's label as {@link RowLabels} made it */
    public String row() {
        return row;
    }
}

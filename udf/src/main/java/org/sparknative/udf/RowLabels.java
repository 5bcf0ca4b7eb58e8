package org.sparknative.udf;

/**
 * How error messages name the rows of one record batch. A row's id is defined once, for both workloads:
 * <ol>
 *   <li>the input's {@code id} column (integer or string) where it has one: {@code id 700}, {@code id "a7"};</li>
 *   <li>else the row's position in the input, counted from 1 in the order the input was read (files in
 *       name order, lines in file order): {@code input row 700}.</li>
 * </ol>
 * Both are the same under any partitioning, so a message points at the same row on every run. The Spark
 * layer builds the labels; this layer only formats them into messages.
 *
 * <p>Threading: implementations are used by one task at a time.
 */
@FunctionalInterface
public interface RowLabels {
    /** @return the label of row {@code i} of the batch, such as {@code id 700} or {@code input row 700} */
    String label(int i);

    /** @return labels {@code input row first+1, first+2, ...}: rows numbered by position from {@code first} (0-based) */
    static RowLabels positions(long first) {
        return i -> inputRow(first + i + 1);
    }

    /** @return the label of the input's row {@code oneBased} */
    static String inputRow(long oneBased) {
        return "input row " + oneBased;
    }

    /** @return the label of an integer {@code id} */
    static String id(long id) {
        return "id " + id;
    }

    /** @return the label of a string {@code id}, quoted */
    static String id(String id) {
        return "id \"" + id + "\"";
    }
}

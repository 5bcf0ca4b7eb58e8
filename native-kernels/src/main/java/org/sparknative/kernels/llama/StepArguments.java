package org.sparknative.kernels.llama;

import java.util.Arrays;

/**
 * The argument checks of one forward step, shared by every batch implementation (the CPU
 * {@link NativeLlamaBatch} and the CUDA {@code org.sparknative.kernels.cuda.CudaLlamaBatch}) so that both
 * reject the same steps with the same messages.
 *
 * <p>Threading: stateless; the caller's {@code keyScratch} is its own.
 */
public final class StepArguments {
    private StepArguments() {
    }

    /**
     * Checks a step: {@code rows} in {@code [0, maxRows]}; the arrays long enough (null only when nothing is
     * needed from them); {@code nLogits} in {@code [0, rows]}; {@code threads >= 1}; every token in
     * {@code [0, vocab)}, position in {@code [0, seqLen)}, slot in {@code [0, maxSlots)}; {@code logitRows}
     * strictly ascending rows of the step; no two rows writing the same (slot, position).
     *
     * @param keyScratch at least {@code maxRows} longs of scratch (overwritten)
     * @throws IllegalArgumentException naming the row and value of the first problem found
     */
    public static void validate(int rows, int[] tokens, int[] positions, int[] slots, int nLogits, int[] logitRows,
                                int threads, int vocab, int seqLen, int maxSlots, int maxRows, long[] keyScratch) {
        if (rows < 0 || rows > maxRows) {
            throw new IllegalArgumentException("rows = " + rows + " is outside [0, " + maxRows + "] (maxRowsPerStep)");
        }
        requireLength("tokens", tokens, rows);
        requireLength("positions", positions, rows);
        requireLength("slots", slots, rows);
        if (nLogits < 0 || nLogits > rows) {
            throw new IllegalArgumentException("nLogits = " + nLogits + " is outside [0, " + rows + "] (rows)");
        }
        requireLength("logitRows", logitRows, nLogits);
        if (threads < 1) {
            throw new IllegalArgumentException("threads must be >= 1, got " + threads);
        }
        for (int i = 0; i < rows; i++) {
            if (tokens[i] < 0 || tokens[i] >= vocab) {
                throw new IllegalArgumentException("row " + i + ": token " + tokens[i] + " is outside [0, " + vocab + ")");
            }
            if (positions[i] < 0 || positions[i] >= seqLen) {
                throw new IllegalArgumentException("row " + i + ": position " + positions[i] + " is outside [0, " + seqLen
                    + ") (seq_len)");
            }
            if (slots[i] < 0 || slots[i] >= maxSlots) {
                throw new IllegalArgumentException("row " + i + ": slot " + slots[i] + " is outside [0, " + maxSlots
                    + ") (maxSlots)");
            }
            keyScratch[i] = (long) slots[i] * seqLen + positions[i];
        }
        for (int k = 0; k < nLogits; k++) {
            if (logitRows[k] < 0 || logitRows[k] >= rows) {
                throw new IllegalArgumentException("logitRows[" + k + "] = " + logitRows[k] + " is outside [0, " + rows
                    + ") (rows)");
            }
            if (k > 0 && logitRows[k] <= logitRows[k - 1]) {
                throw new IllegalArgumentException("logitRows must be strictly ascending: logitRows[" + k + "] = "
                    + logitRows[k] + " follows logitRows[" + (k - 1) + "] = " + logitRows[k - 1]);
            }
        }
        if (rows > 1) {
            checkDistinctCells(rows, positions, slots, seqLen, keyScratch);
        }
    }

    private static void checkDistinctCells(int rows, int[] positions, int[] slots, int seq, long[] keyScratch) {
        Arrays.sort(keyScratch, 0, rows);
        for (int i = 1; i < rows; i++) {
            if (keyScratch[i] == keyScratch[i - 1]) {
                long key = keyScratch[i];
                int first = -1;
                for (int r = 0; r < rows; r++) {
                    if ((long) slots[r] * seq + positions[r] == key) {
                        if (first < 0) {
                            first = r;
                        } else {
                            throw new IllegalArgumentException("row " + r + " repeats slot " + slots[r] + " position "
                                + positions[r] + " of row " + first + " in the same step");
                        }
                    }
                }
            }
        }
    }

    private static void requireLength(String name, int[] a, int n) {
        if (a == null) {
            if (n == 0) {
                return;
            }
            throw new IllegalArgumentException(name + " is null");
        }
        if (a.length < n) {
            throw new IllegalArgumentException(name + " has " + a.length + " entries, needs " + n);
        }
    }

    /**
     * Checks a sampling request for logits row {@code k} of the last step, which produced
     * {@code logitRowCount} rows: llama2.c's sampler parameters (temperature finite and {@code >= 0},
     * {@code topp} not NaN) and a {@code long[1]} RNG state.
     *
     * @throws IllegalArgumentException naming the bad value
     */
    public static void validateSample(int k, int logitRowCount, float temperature, float topp, long[] rngState) {
        validateLogitRow(k, logitRowCount);
        if (!(temperature >= 0.0f) || Float.isInfinite(temperature)) {
            throw new IllegalArgumentException("temperature must be finite and >= 0, got " + temperature);
        }
        if (Float.isNaN(topp)) {
            throw new IllegalArgumentException("topp must not be NaN");
        }
        if (rngState == null || rngState.length < 1) {
            throw new IllegalArgumentException("rngState must be a long[1] or longer");
        }
    }

    /**
     * @throws IllegalArgumentException unless {@code topK >= 0}, {@code penalty} is finite and {@code > 0}, and
     *                                  {@code 0 <= nRecent <= recent.length} (a null {@code recent} with 0)
     */
    public static void validateFilters(int topK, float penalty, int[] recent, int nRecent) {
        if (topK < 0) {
            throw new IllegalArgumentException("top_k must be >= 0, got " + topK);
        }
        if (!(penalty > 0f) || Float.isInfinite(penalty)) {
            throw new IllegalArgumentException("repetition_penalty must be finite and > 0, got " + penalty);
        }
        if (nRecent < 0 || nRecent > (recent == null ? 0 : recent.length)) {
            throw new IllegalArgumentException("recent token count " + nRecent + " outside the array of "
                + (recent == null ? 0 : recent.length));
        }
    }

    /**
     * @throws IllegalArgumentException unless {@code 0 <= k < logitRowCount} (the last step's nLogits)
     */
    public static void validateLogitRow(int k, int logitRowCount) {
        if (k < 0 || k >= logitRowCount) {
            throw new IllegalArgumentException("logits row " + k + " is outside [0, " + logitRowCount
                + ") (the last forward's nLogits)");
        }
    }
}

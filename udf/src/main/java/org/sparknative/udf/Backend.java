package org.sparknative.udf;

import java.util.Locale;

/**
 * Where a workload's kernels run: one name per backend, used alike by the command line
 * ({@code --backend}), the summary JSON and the benchmark.
 */
public enum Backend {
    /** The native C kernels on the executor's CPU cores. */
    CPU("cpu"),
    /** The pure-Java reference implementation: the test oracle and the benchmark's baseline, not for throughput. */
    JAVA("java");

    private final String label;

    Backend(String label) {
        this.label = label;
    }

    /** @return the one spelling of this backend: {@code cpu} or {@code java} */
    public String label() {
        return label;
    }

    @Override
    public String toString() {
        return label;
    }

    /**
     * @param s a backend label, any case
     * @throws IllegalArgumentException naming the known backends, for anything else
     */
    public static Backend parse(String s) {
        String k = s.trim().toLowerCase(Locale.ROOT);
        for (Backend b : values()) {
            if (b.label.equals(k)) {
                return b;
            }
        }
        throw new IllegalArgumentException("backend must be cpu or java, got '" + s + "'");
    }
}

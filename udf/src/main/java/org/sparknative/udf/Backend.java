package org.sparknative.udf;

import java.util.Locale;

/**
 * Where a workload's kernels run: one name per backend, used alike by the command line
 * ({@code --backend}), the Spark setting {@code spark.sparknative.backend}, the summary JSON and the
 * benchmark. {@link #AUTO} is a request, not a place: each executor resolves it ({@link BackendSelection})
 * to {@link #CUDA} where a device is usable, else {@link #CPU}.
 */
public enum Backend {
    /** The native C kernels on the executor's CPU cores. */
    CPU("cpu"),
    /** The CUDA kernels on the executor's GPU (see {@code org.sparknative.kernels.cuda}). */
    CUDA("cuda"),
    /** The pure-Java reference implementation: the test oracle and the benchmark's baseline, not for throughput. */
    JAVA("java"),
    /** CUDA where a device is usable, else CPU, decided on each executor. */
    AUTO("auto");

    /** The Spark setting that gives the default backend of both jobs and of the SQL functions. */
    public static final String SPARK_CONF = "spark.sparknative.backend";

    private final String label;

    Backend(String label) {
        this.label = label;
    }

    /** @return the one spelling of this backend: {@code cpu}, {@code cuda}, {@code java} or {@code auto} */
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
        throw new IllegalArgumentException("backend must be cpu, cuda, java or auto, got '" + s + "'");
    }
}

package org.sparknative.job;

import org.apache.spark.sql.SparkSession;
import org.sparknative.kernels.cuda.CudaUnavailableException;
import org.sparknative.udf.Backend;
import org.sparknative.udf.BackendSelection;

/**
 * What the jobs share about where their kernels run: {@code --backend}, else the Spark setting
 * {@value Backend#SPARK_CONF}, else {@code cpu}; checked up front where the driver runs the tasks.
 */
final class Jobs {
    private Jobs() {
    }

    /**
     * @param option  the {@code --backend} value, or null
     * @param allowed the job's backends, for the message
     * @return the requested backend
     * @throws UsageException for an unknown name, or for {@code cuda} in local mode where CUDA cannot run,
     *                        with the one-line reason ("CUDA backend unavailable: no CUDA driver: ...")
     */
    static Backend backend(String option, SparkSession spark, String allowed) {
        String name = option != null ? option : spark.conf().get(Backend.SPARK_CONF, Backend.CPU.label());
        Backend b;
        try {
            b = Backend.parse(name);
        } catch (IllegalArgumentException e) {
            throw new UsageException((option != null ? "--backend" : Backend.SPARK_CONF) + " must be " + allowed
                + ", got '" + name + "'");
        }
        if (Sessions.isLocal(spark.sparkContext().master())) {
            try {
                BackendSelection.requireUsable(b);
            } catch (CudaUnavailableException e) {
                throw new UsageException(e.getMessage());
            }
        }
        return b;
    }

    /**
     * @return where {@code backend} runs, for the report: in local mode resolved here ({@code auto} becomes
     *         {@code cpu} or {@code cuda:0 (...)}), else the request (each executor resolves it; the
     *         per-executor table says what each used)
     */
    static String describe(Backend backend, SparkSession spark) {
        if (Sessions.isLocal(spark.sparkContext().master())) {
            return BackendSelection.resolve(backend, 0).describe();
        }
        return backend.label();
    }

    /** The Spark setting that picks the CUDA backend's matrix products: {@code invariant} (default) or {@code cublas}. */
    static final String CUDA_MATMUL_CONF = "spark.sparknative.cuda.matmul";

    /**
     * @return the CUDA matmul mode the session's {@value #CUDA_MATMUL_CONF} names ({@code invariant} unless set)
     * @throws UsageException for another value, naming the setting
     */
    static org.sparknative.kernels.cuda.MatmulMode cudaMatmul(SparkSession spark) {
        String name = spark.conf().get(CUDA_MATMUL_CONF, "invariant");
        try {
            return org.sparknative.kernels.cuda.MatmulMode.parse(name.trim().toLowerCase(java.util.Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new UsageException(CUDA_MATMUL_CONF + " must be invariant or cublas, got '" + name + "'");
        }
    }
}

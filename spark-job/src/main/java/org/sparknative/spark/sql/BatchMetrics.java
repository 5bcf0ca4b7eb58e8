package org.sparknative.spark.sql;

import java.io.Serializable;
import org.apache.spark.sql.execution.metric.SQLMetric;

/** The SQL metrics of a {@link NativeEvalExec}, as its tasks update them. */
final class BatchMetrics implements Serializable {
    private static final long serialVersionUID = 1L;

    static final String ROWS = "numOutputRows";
    static final String BATCHES = "numRecordBatches";
    static final String NATIVE_TIME = "nativeTime";
    static final String INVALID_ROWS = "numInvalidRows";
    static final String PROMPT_TOKENS = "numPromptTokens";
    static final String COMPLETION_TOKENS = "numCompletionTokens";
    static final String ERROR_ROWS = "numErrorRows";

    private final scala.collection.immutable.Map<String, SQLMetric> metrics;

    BatchMetrics(scala.collection.immutable.Map<String, SQLMetric> metrics) {
        this.metrics = metrics;
    }

    /** Adds {@code v} to the metric {@code name} where the operator has it. */
    void add(String name, long v) {
        if (v != 0 && metrics.contains(name)) {
            metrics.apply(name).add(v);
        }
    }

    /** One record batch of {@code rows} rows that spent {@code nanos} in native code. */
    void batch(int rows, long nanos) {
        add(ROWS, rows);
        add(BATCHES, 1);
        add(NATIVE_TIME, nanos);
    }
}

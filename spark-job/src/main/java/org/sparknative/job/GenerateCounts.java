package org.sparknative.job;

import org.sparknative.spark.generate.GenerateTransform;

/**
 * A run's generation counters summed over its Spark jobs (one per chunk of a chunked output), readable
 * while a job runs (the progress thread reads them as tasks report).
 */
final class GenerateCounts {
    private long rows;
    private long promptTokens;
    private long completionTokens;
    private long errors;
    private GenerateTransform.Counters current;

    /** Counts {@code counters} (those of the job about to run) from now on. */
    synchronized void start(GenerateTransform.Counters counters) {
        finish();
        current = counters;
    }

    /** Adds the current job's final counts to the totals. */
    synchronized void finish() {
        if (current != null) {
            rows += current.rows().value();
            promptTokens += current.promptTokens().value();
            completionTokens += current.completionTokens().value();
            errors += current.errors().value();
            current = null;
        }
    }

    synchronized long rows() {
        return rows + (current == null ? 0 : current.rows().value());
    }

    synchronized long promptTokens() {
        return promptTokens + (current == null ? 0 : current.promptTokens().value());
    }

    synchronized long completionTokens() {
        return completionTokens + (current == null ? 0 : current.completionTokens().value());
    }

    synchronized long errors() {
        return errors + (current == null ? 0 : current.errors().value());
    }
}

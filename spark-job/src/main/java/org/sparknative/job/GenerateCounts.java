package org.sparknative.job;

import org.sparknative.spark.ExecutorActivity;
import org.sparknative.spark.generate.GenerateTransform;

/**
 * A run's generation counters summed over its Spark jobs (one per chunk of a chunked output), readable
 * while a job runs (the progress thread reads them as tasks report). Each job's counters are retry-proof
 * ({@link org.sparknative.spark.PartitionCounter}), and so are the sums.
 */
final class GenerateCounts {
    private final ExecutorActivity activity;
    private long rows;
    private long promptTokens;
    private long completionTokens;
    private long errors;
    private GenerateTransform.Counters current;

    /** @param activity attributes each job's rows and tokens to executors, or null */
    GenerateCounts(ExecutorActivity activity) {
        this.activity = activity;
    }

    /** Counts {@code counters} (those of the job about to run) from now on. */
    synchronized void start(GenerateTransform.Counters counters) {
        finish();
        current = counters;
        if (activity != null) {
            activity.track(ExecutorActivity.Count.ROWS, counters.rows());
            activity.track(ExecutorActivity.Count.PROMPT_TOKENS, counters.promptTokens());
            activity.track(ExecutorActivity.Count.COMPLETION_TOKENS, counters.completionTokens());
        }
    }

    /** Adds the current job's final counts to the totals. */
    synchronized void finish() {
        if (current != null) {
            rows += current.rows().total();
            promptTokens += current.promptTokens().total();
            completionTokens += current.completionTokens().total();
            errors += current.errors().total();
            current = null;
        }
    }

    synchronized long rows() {
        return rows + (current == null ? 0 : current.rows().total());
    }

    synchronized long promptTokens() {
        return promptTokens + (current == null ? 0 : current.promptTokens().total());
    }

    synchronized long completionTokens() {
        return completionTokens + (current == null ? 0 : current.completionTokens().total());
    }

    synchronized long errors() {
        return errors + (current == null ? 0 : current.errors().total());
    }
}

package org.sparknative.job;

import java.util.ArrayList;
import java.util.List;
import org.sparknative.job.report.BenchReport;
import org.sparknative.spark.ExecutorActivity;

/** What the executors did during one benchmark figure, as the report records it. */
final class BenchActivity {
    private BenchActivity() {
    }

    /**
     * Finishes {@code activity} (waits for Spark's last events of its jobs) and converts what it saw.
     *
     * @return its executors and task attempts
     */
    static BenchReport.Activity of(ExecutorActivity activity) {
        List<ExecutorActivity.Executor> executors = activity.finish();
        List<BenchReport.ExecutorRun> runs = new ArrayList<>();
        for (ExecutorActivity.Executor e : executors) {
            runs.add(new BenchReport.ExecutorRun(e.executorId(), e.host(), e.tasks(), e.failedTasks(), e.rows(),
                e.promptTokens(), e.completionTokens(), e.taskSeconds(), e.gcSeconds(), e.nativeSeconds()));
        }
        List<BenchReport.TaskSpan> tasks = new ArrayList<>();
        for (ExecutorActivity.Task t : activity.tasks()) {
            tasks.add(new BenchReport.TaskSpan(t.executorId(), t.stageId(), t.partition(), t.attempt(), t.launchMillis(),
                t.finishMillis(), t.runMillis() / 1e3, t.successful()));
        }
        return new BenchReport.Activity(runs, tasks);
    }
}

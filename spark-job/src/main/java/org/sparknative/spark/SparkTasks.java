package org.sparknative.spark;

import org.apache.spark.TaskContext;
import org.sparknative.udf.TaskResources;

/**
 * The Spark side of a task's lifetime: ties the udf layer's {@link TaskResources} to Spark's task
 * completion, and reads what the running task knows about itself.
 *
 * <p>Threading: call from the task's thread.
 */
public final class SparkTasks {
    private SparkTasks() {
    }

    /**
     * @return new task resources that Spark closes when the current task ends (success, failure or kill);
     *         outside a Spark task (tests, the driver) the caller closes them
     */
    public static TaskResources resourcesForCurrentTask() {
        TaskResources r = new TaskResources();
        TaskContext ctx = TaskContext.get();
        if (ctx != null) {
            ctx.addTaskCompletionListener((org.apache.spark.util.TaskCompletionListener) c -> r.close());
        }
        return r;
    }

    /** @return a short label of the current Spark task for names and messages, or {@code driver} */
    public static String taskLabel() {
        TaskContext ctx = TaskContext.get();
        return ctx == null ? "driver" : "stage " + ctx.stageId() + " partition " + ctx.partitionId()
            + " attempt " + ctx.attemptNumber();
    }

    /**
     * @return a check, for the current task's thread, of whether Spark killed the task (its job cancelled,
     *         another attempt won, the stage aborted); outside a task, whether the thread is interrupted
     */
    public static java.util.function.BooleanSupplier cancellation() {
        TaskContext ctx = TaskContext.get();
        return ctx == null ? () -> Thread.currentThread().isInterrupted()
            : () -> ctx.isInterrupted() || Thread.currentThread().isInterrupted();
    }

    /**
     * @param requested threads asked for, {@code >= 0}; 0 means the task's CPUs
     * @return {@code requested}, else {@code spark.task.cpus} of the running task, else 1
     */
    public static int threads(int requested) {
        if (requested > 0) {
            return requested;
        }
        TaskContext ctx = TaskContext.get();
        return ctx == null ? 1 : Math.max(1, ctx.cpus());
    }
}

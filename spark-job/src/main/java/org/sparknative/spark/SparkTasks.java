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
     * The GPU Spark assigned to the current task: the first address of its {@code gpu} resource
     * ({@code spark.executor.resource.gpu.amount} with {@code spark.task.resource.gpu.amount}, which may be a
     * fraction such as 0.0625 so that 16 tasks share one GPU; addresses come from the executor's discovery
     * script, {@code conf/gpu-discovery.sh}). Where Spark assigns none (local mode, no GPU resources), 0.
     *
     * @return a CUDA device ordinal
     * @throws IllegalStateException if the assigned address is not a device ordinal
     */
    public static int gpuOrdinal() {
        TaskContext ctx = TaskContext.get();
        if (ctx == null) {
            return 0;
        }
        scala.Option<org.apache.spark.resource.ResourceInformation> gpu = ctx.resources().get("gpu");
        if (gpu.isEmpty() || gpu.get().addresses().length == 0) {
            return 0;
        }
        String address = gpu.get().addresses()[0];
        try {
            return Integer.parseInt(address.trim());
        } catch (NumberFormatException e) {
            throw new IllegalStateException("the task's gpu resource address '" + address
                + "' is not a CUDA device ordinal: the GPU discovery script must list ordinals such as 0, 1", e);
        }
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

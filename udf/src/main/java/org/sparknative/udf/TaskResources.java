package org.sparknative.udf;

import java.util.ArrayDeque;
import java.util.Deque;
import org.apache.spark.TaskContext;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Closes a task's native and Arrow resources exactly once: when its output iterator is exhausted, or
 * when Spark completes the task (success, failure or kill) through a task completion listener. Outside
 * a Spark task (tests, the benchmark harness) the caller closes it.
 *
 * <p>Resources are closed in reverse order of registration. Not thread-safe: one per task.
 */
public final class TaskResources implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(TaskResources.class);

    private final Deque<AutoCloseable> resources = new ArrayDeque<>();
    private boolean closed;

    /** Creates an instance and, inside a Spark task, has Spark close it when the task ends. */
    public static TaskResources forCurrentTask() {
        TaskResources r = new TaskResources();
        TaskContext ctx = TaskContext.get();
        if (ctx != null) {
            ctx.addTaskCompletionListener((org.apache.spark.util.TaskCompletionListener) c -> r.close());
        }
        return r;
    }

    /** Registers {@code resource} and returns it. */
    public <T extends AutoCloseable> T add(T resource) {
        if (closed) {
            closeQuietly(resource);
            throw new IllegalStateException("task resources already closed");
        }
        resources.push(resource);
        return resource;
    }

    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        RuntimeException first = null;
        while (!resources.isEmpty()) {
            try {
                resources.pop().close();
            } catch (Exception e) {
                LOG.error("closing a task resource failed", e);
                if (first == null) {
                    first = e instanceof RuntimeException re ? re : new IllegalStateException(e);
                }
            }
        }
        if (first != null) {
            throw first;
        }
    }

    private static void closeQuietly(AutoCloseable c) {
        try {
            c.close();
        } catch (Exception e) {
            LOG.warn("closing a resource failed", e);
        }
    }

    /** @return a short label of the current Spark task for names and messages */
    public static String taskLabel() {
        TaskContext ctx = TaskContext.get();
        return ctx == null ? "driver" : "stage " + ctx.stageId() + " partition " + ctx.partitionId()
            + " attempt " + ctx.attemptNumber();
    }
}

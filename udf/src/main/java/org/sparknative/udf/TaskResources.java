package org.sparknative.udf;

import java.util.ArrayDeque;
import java.util.Deque;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Closes a task's native and Arrow resources exactly once, in reverse order of registration. Its owner
 * closes it: the Spark layer when the task's output is exhausted and, through a task completion listener,
 * when the task ends in any way (success, failure or kill); tests and the benchmark harness directly.
 *
 * <p>Resources are closed in reverse order of registration. Not thread-safe: one per task.
 */
public final class TaskResources implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(TaskResources.class);

    private final Deque<AutoCloseable> resources = new ArrayDeque<>();
    private boolean closed;

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
}

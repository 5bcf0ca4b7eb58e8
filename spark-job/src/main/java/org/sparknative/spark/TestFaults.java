package org.sparknative.spark;

import java.util.Iterator;
import java.util.NoSuchElementException;
import java.util.Set;
import java.util.TreeSet;
import org.apache.spark.SparkEnv;
import org.apache.spark.TaskContext;

/**
 * <b>For tests only.</b> Task failures on demand, to test that task retries leave complete output and
 * uninflated counts: with {@value #FAIL_FIRST_ATTEMPT}{@code =0,3} (a comma-separated list of RDD partition
 * indexes), the first attempt ({@code TaskContext.attemptNumber() == 0}) of each listed partition of the
 * {@code generate} and {@code integrate} transformations emits its first row and then throws. A partition
 * with no rows does not fail. Spark then retries the task, if its settings allow (local mode needs a master
 * such as {@code local[2,4]}: 2 threads, 4 attempts per task).
 *
 * <p>The setting is read on the executor, from its {@link SparkEnv}'s configuration (set it when the
 * application starts: {@code --conf}, or the session builder). Never set it in production.
 */
public final class TestFaults {
    /** The setting: RDD partition indexes whose first attempt fails, comma-separated; unset or empty for none. */
    public static final String FAIL_FIRST_ATTEMPT = "spark.sparknative.test.failFirstAttempt";

    private TestFaults() {
    }

    /**
     * @param partition the RDD partition index of the rows
     * @param rows      the partition's output
     * @return {@code rows}, or, on the first attempt of a partition {@value #FAIL_FIRST_ATTEMPT} lists, rows
     *         that fail after the first one
     * @throws IllegalArgumentException if the setting is not a list of integers
     */
    public static <T> Iterator<T> failFirstAttempt(int partition, Iterator<T> rows) {
        TaskContext ctx = TaskContext.get();
        SparkEnv env = SparkEnv.get();
        if (ctx == null || env == null || ctx.attemptNumber() != 0
            || !partitions(env.conf().get(FAIL_FIRST_ATTEMPT, "")).contains(partition)) {
            return rows;
        }
        return new Iterator<T>() {
            private boolean emitted;

            @Override
            public boolean hasNext() {
                if (emitted) {
                    throw new IllegalStateException(FAIL_FIRST_ATTEMPT + ": injected failure of partition " + partition
                        + " (" + SparkTasks.taskLabel() + ") after its first row");
                }
                return rows.hasNext();
            }

            @Override
            public T next() {
                if (!hasNext()) {
                    throw new NoSuchElementException();
                }
                emitted = true;
                return rows.next();
            }
        };
    }

    /** @return the partition indexes of a {@value #FAIL_FIRST_ATTEMPT} value */
    static Set<Integer> partitions(String setting) {
        Set<Integer> out = new TreeSet<>();
        for (String s : setting.split(",")) {
            if (!s.isBlank()) {
                try {
                    out.add(Integer.parseInt(s.trim()));
                } catch (NumberFormatException e) {
                    throw new IllegalArgumentException(FAIL_FIRST_ATTEMPT + " must list partition indexes, got '"
                        + setting + "'");
                }
            }
        }
        return out;
    }
}

package org.sparknative.spark;

import java.util.Collections;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.spark.SparkContext;
import org.apache.spark.util.AccumulatorV2;

/**
 * A count over an RDD's partitions that a partition computed twice does not inflate: an accumulator that
 * keeps one value per RDD partition index and sums them for {@link #total()}.
 *
 * <p>Spark's {@link org.apache.spark.util.LongAccumulator} adds every successful task's update, so a partition
 * computed again counts twice: a persisted Dataset whose cached blocks were lost (with an executor, or by
 * {@code unpersist}) and are recomputed by a later action, a retried stage, a speculative copy. Here a task
 * reports, per partition it computes, the count of that computation so far ({@link #update}), and every
 * merge keeps the largest value per partition. The computation is deterministic, so every complete
 * computation of a partition gives the same count, and a partial one (an action that stopped early, such as
 * {@code limit}) gives less: the largest is the partition's count, however often it was computed.
 *
 * <p>The partition index must be the RDD's own (from {@code mapPartitionsWithIndex}), not
 * {@code TaskContext.partitionId()}: a downstream {@code coalesce} runs several partitions in one task.
 *
 * <p>Its value ({@link Counts}) prints as the total, which is what Spark's UI and event logs show. A task's
 * update, as a {@code SparkListener} sees it in {@code taskInfo().accumulables()}, holds that task's
 * partitions and counts ({@link Counts#byPartition()}): the per-executor attribution reads it.
 *
 * <p>Threading: thread-safe; on the driver, {@link #total()} may be read (by a progress thread) while Spark
 * merges task updates.
 */
public final class PartitionCounter extends AccumulatorV2<PartitionCounter.PartitionCount, PartitionCounter.Counts> {
    private static final long serialVersionUID = 1L;

    private final ConcurrentHashMap<Integer, Long> byPartition = new ConcurrentHashMap<>();
    /** The sum of {@link #byPartition}'s values; guarded by {@code this}. */
    private long total;

    /**
     * One computation's count of one partition so far.
     *
     * @param partition the RDD partition index
     * @param count     the count since that computation of the partition started
     */
    public record PartitionCount(int partition, long count) {
    }

    /**
     * The counter's value: the total and the count of each partition. {@link #toString()} is the total.
     * On the driver, {@link #byPartition()} is a live read-only view; in a task's update it holds the
     * partitions that task computed.
     */
    public static final class Counts {
        private final long total;
        private final Map<Integer, Long> byPartition;

        Counts(long total, Map<Integer, Long> byPartition) {
            this.total = total;
            this.byPartition = byPartition;
        }

        /** @return the sum over partitions */
        public long total() {
            return total;
        }

        /** @return RDD partition index to count, read-only */
        public Map<Integer, Long> byPartition() {
            return byPartition;
        }

        @Override
        public String toString() {
            return Long.toString(total);
        }
    }

    /**
     * @param name the name Spark's UI shows; named accumulators also reach {@code SparkListener}s in each
     *             task's {@code accumulables}
     * @return a new counter registered with {@code sc} (call on the driver)
     */
    public static PartitionCounter register(SparkContext sc, String name) {
        PartitionCounter c = new PartitionCounter();
        sc.register(c, name);
        return c;
    }

    /**
     * Records, in a task, that the computation of {@code partition} under way has counted {@code countSoFar}
     * since it started; the counter keeps the largest value per partition.
     */
    public void update(int partition, long countSoFar) {
        raise(partition, countSoFar);
    }

    /** @return the sum over partitions of each one's count */
    public synchronized long total() {
        return total;
    }

    private synchronized void raise(int partition, long count) {
        Long old = byPartition.get(partition);
        if (old == null || count > old) {
            byPartition.put(partition, count);
            total += count - (old == null ? 0 : old);
        }
    }

    /** Tasks' heartbeats leave it out: only finished tasks' values count. */
    @Override
    public boolean excludeFromHeartbeat() {
        return true;
    }

    @Override
    public boolean isZero() {
        return byPartition.isEmpty();
    }

    @Override
    public synchronized PartitionCounter copy() {
        PartitionCounter c = new PartitionCounter();
        c.byPartition.putAll(byPartition);
        c.total = total;
        return c;
    }

    @Override
    public synchronized void reset() {
        byPartition.clear();
        total = 0;
    }

    @Override
    public void add(PartitionCount v) {
        raise(v.partition(), v.count());
    }

    @Override
    public void merge(AccumulatorV2<PartitionCount, Counts> other) {
        if (!(other instanceof PartitionCounter o)) {
            throw new UnsupportedOperationException("cannot merge " + getClass().getSimpleName() + " with "
                + other.getClass().getSimpleName());
        }
        for (Map.Entry<Integer, Long> e : o.byPartition.entrySet()) {
            raise(e.getKey(), e.getValue());
        }
    }

    @Override
    public synchronized Counts value() {
        return new Counts(total, Collections.unmodifiableMap(byPartition));
    }
}

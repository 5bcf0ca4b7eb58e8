package org.sparknative.job.report;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.sparknative.job.report.BenchReport.TaskSpan;

/**
 * Where task attempts go on a timeline, and how skewed they were. Stateless and thread-safe.
 */
public final class Timeline {
    private Timeline() {
    }

    /**
     * Executor ids in reading order: {@code driver} first, then numeric ids by value, then any others by name.
     */
    public static final Comparator<String> EXECUTOR_ORDER = Comparator
        .comparingInt((String id) -> "driver".equals(id) ? 0 : isNumber(id) ? 1 : 2)
        .thenComparing(id -> isNumber(id) ? Long.parseLong(id) : 0L)
        .thenComparing(Comparator.naturalOrder());

    /** Tasks by start, then end, executor, stage, partition and attempt: the order they are placed in. */
    static final Comparator<TaskSpan> START_ORDER = Comparator.comparingLong(TaskSpan::startMillis)
        .thenComparingLong(TaskSpan::endMillis)
        .thenComparing(TaskSpan::executorId, EXECUTOR_ORDER)
        .thenComparingInt(TaskSpan::stageId)
        .thenComparingInt(TaskSpan::partition)
        .thenComparingInt(TaskSpan::attempt);

    /**
     * A task attempt and its lane.
     *
     * @param task the attempt
     * @param lane its lane within its executor, from 0
     * @param row  its row on the whole timeline, from 0 (the executors' lanes one after another)
     */
    public record Placed(TaskSpan task, int lane, int row) {
    }

    /**
     * Task attempts placed in lanes: one lane per task that ran at once on an executor (its cores, when Spark ran
     * one task per core).
     *
     * @param lanes  lanes per executor, in {@link #EXECUTOR_ORDER}
     * @param placed every attempt, in {@link #START_ORDER}
     */
    public record Lanes(Map<String, Integer> lanes, List<Placed> placed) {
        /** @return lanes over all executors */
        public int rows() {
            return lanes.values().stream().mapToInt(Integer::intValue).sum();
        }

        /** @return a label per row, e.g. {@code exec 1 · 0} (executor 1, its first lane) */
        public List<String> rowLabels() {
            List<String> labels = new ArrayList<>();
            lanes.forEach((executor, n) -> {
                for (int i = 0; i < n; i++) {
                    labels.add(("driver".equals(executor) ? "driver" : "exec " + executor) + " · " + i);
                }
            });
            return labels;
        }
    }

    /**
     * Places task attempts greedily, executor by executor: in {@link #START_ORDER}, each takes the lowest lane of
     * its executor that is free at its start (whose last task ended at or before it), or a new lane.
     *
     * @param tasks attempts, in any order
     * @return their lanes
     */
    public static Lanes lanes(List<TaskSpan> tasks) {
        List<TaskSpan> sorted = new ArrayList<>(tasks);
        sorted.sort(START_ORDER);
        Map<String, List<Long>> freeAt = new TreeMap<>(EXECUTOR_ORDER);
        List<TaskSpan> order = new ArrayList<>();
        List<Integer> laneOf = new ArrayList<>();
        for (TaskSpan t : sorted) {
            List<Long> lanes = freeAt.computeIfAbsent(t.executorId(), k -> new ArrayList<>());
            long end = Math.max(t.startMillis(), t.endMillis());
            int lane = 0;
            while (lane < lanes.size() && lanes.get(lane) > t.startMillis()) {
                lane++;
            }
            if (lane == lanes.size()) {
                lanes.add(end);
            } else {
                lanes.set(lane, end);
            }
            order.add(t);
            laneOf.add(lane);
        }
        Map<String, Integer> counts = new LinkedHashMap<>();
        Map<String, Integer> first = new LinkedHashMap<>();
        int row = 0;
        for (Map.Entry<String, List<Long>> e : freeAt.entrySet()) {
            counts.put(e.getKey(), e.getValue().size());
            first.put(e.getKey(), row);
            row += e.getValue().size();
        }
        List<Placed> placed = new ArrayList<>();
        for (int i = 0; i < order.size(); i++) {
            TaskSpan t = order.get(i);
            placed.add(new Placed(t, laneOf.get(i), first.get(t.executorId()) + laneOf.get(i)));
        }
        return new Lanes(counts, placed);
    }

    /**
     * The skew of a figure's tasks: its slowest successful task's run time over the median run time of its
     * successful tasks (failed attempts stop early, so they count in neither).
     *
     * @param tasks attempts, in any order
     * @return 1 for evenly spread tasks, more the more one task held the stage up; NaN where no task succeeded or
     *         the median run time is 0
     */
    public static double skew(List<TaskSpan> tasks) {
        double[] run = tasks.stream().filter(TaskSpan::successful).mapToDouble(TaskSpan::runSeconds).toArray();
        if (run.length == 0) {
            return Double.NaN;
        }
        BenchReport.Spread s = BenchReport.Spread.of(run);
        return s.median() > 0 ? s.max() / s.median() : Double.NaN;
    }

    private static boolean isNumber(String id) {
        if (id.isEmpty() || id.length() > 18) {
            return false;
        }
        for (int i = 0; i < id.length(); i++) {
            if (id.charAt(i) < '0' || id.charAt(i) > '9') {
                return false;
            }
        }
        return true;
    }
}

package org.sparknative.job.report;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.sparknative.job.report.BenchReport.TaskSpan;

class TimelineTest {

    private static TaskSpan task(String executor, int partition, long start, long end) {
        return new TaskSpan(executor, 0, partition, 0, start, end, (end - start) / 1000.0, true);
    }

    @Test
    void eachTaskTakesTheLowestLaneFreeAtItsStart() {
        TaskSpan a = task("1", 0, 0, 100);
        TaskSpan b = task("1", 1, 10, 50);
        TaskSpan c = task("1", 2, 50, 120);   // lane 0 is busy until 100, lane 1 is free from 50 (inclusive)
        TaskSpan d = task("1", 3, 100, 130);  // lane 0 is free again at 100
        TaskSpan e = task("1", 4, 60, 70);    // lanes 0 and 1 are busy: a third lane
        TaskSpan f = task("0", 5, 0, 10);
        Timeline.Lanes lanes = Timeline.lanes(List.of(d, c, b, a, e, f));
        assertEquals(Map.of("0", 1, "1", 3), lanes.lanes());
        assertEquals(List.of("0", "1"), new ArrayList<>(lanes.lanes().keySet()), "executors in numeric order");
        assertEquals(4, lanes.rows());
        assertEquals(List.of("exec 0 · 0", "exec 1 · 0", "exec 1 · 1", "exec 1 · 2"), lanes.rowLabels());
        Map<TaskSpan, Integer> lane = new java.util.HashMap<>();
        Map<TaskSpan, Integer> row = new java.util.HashMap<>();
        for (Timeline.Placed p : lanes.placed()) {
            lane.put(p.task(), p.lane());
            row.put(p.task(), p.row());
        }
        assertEquals(0, lane.get(a));
        assertEquals(1, lane.get(b));
        assertEquals(1, lane.get(c));
        assertEquals(0, lane.get(d));
        assertEquals(2, lane.get(e));
        assertEquals(0, lane.get(f));
        // Executor 0's one lane is row 0; executor 1's lanes follow.
        assertEquals(0, row.get(f));
        assertEquals(1, row.get(a));
        assertEquals(2, row.get(c));
        assertEquals(3, row.get(e));
        assertEquals(List.of(f, a, b, c, e, d), lanes.placed().stream().map(Timeline.Placed::task).toList(),
            "placed by start, then end, then executor");
    }

    @Test
    void executorsReadDriverFirstThenByNumber() {
        List<String> ids = new ArrayList<>(List.of("10", "b", "2", "driver", "a", "1"));
        ids.sort(Timeline.EXECUTOR_ORDER);
        assertEquals(List.of("driver", "1", "2", "10", "a", "b"), ids);
        assertEquals(List.of(), Timeline.lanes(List.of()).placed());
    }

    @Test
    void skewIsTheSlowestSuccessfulTaskOverTheMedian() {
        List<TaskSpan> tasks = List.of(
            new TaskSpan("0", 0, 0, 0, 0, 0, 1.0, true),
            new TaskSpan("0", 0, 1, 0, 0, 0, 2.0, true),
            new TaskSpan("1", 0, 2, 0, 0, 0, 3.0, true),
            new TaskSpan("1", 0, 3, 0, 0, 0, 10.0, true),
            new TaskSpan("1", 0, 4, 0, 0, 0, 50.0, false)); // failed: counts in neither
        // median of 1, 2, 3, 10 is 2.5; 10 / 2.5 = 4
        assertEquals(4.0, Timeline.skew(tasks), 1e-12);
        assertEquals(1.0, Timeline.skew(List.of(tasks.get(1))), 1e-12);
        assertTrue(Double.isNaN(Timeline.skew(List.of())));
        assertTrue(Double.isNaN(Timeline.skew(List.of(tasks.get(4)))), "no successful task");
        assertTrue(Double.isNaN(Timeline.skew(List.of(new TaskSpan("0", 0, 0, 0, 0, 0, 0.0, true)))));
    }
}

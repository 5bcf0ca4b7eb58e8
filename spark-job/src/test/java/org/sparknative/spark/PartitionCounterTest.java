package org.sparknative.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import org.junit.jupiter.api.Test;

/** The counter's merge keeps one value per partition, the largest, and sums them. */
class PartitionCounterTest {
    private static PartitionCounter task(int partition, long... progress) {
        PartitionCounter c = new PartitionCounter();
        for (long p : progress) {
            c.update(partition, p);
        }
        return c;
    }

    @Test
    void aPartitionComputedAgainCountsOnceAndAPartialComputationDoesNotLowerIt() {
        PartitionCounter driver = new PartitionCounter();
        assertTrue(driver.isZero());
        driver.merge(task(0, 1, 2, 3));
        driver.merge(task(1, 5));
        assertEquals(8, driver.total());
        driver.merge(task(0, 1, 2, 3)); // recomputed: same count
        driver.merge(task(1, 2));       // a partial computation (limit): less
        assertEquals(8, driver.total());
        assertEquals(Map.of(0, 3L, 1, 5L), driver.value().byPartition());
        assertEquals("8", driver.value().toString());
        // One task computing two partitions (a downstream coalesce) reports both.
        PartitionCounter both = task(2, 4);
        both.update(3, 6);
        both.update(2, 3); // a second computation of partition 2 in the same task, not finished
        driver.merge(both);
        assertEquals(18, driver.total());
        PartitionCounter copy = driver.copy();
        assertEquals(18, copy.total());
        copy.reset();
        assertTrue(copy.isZero());
        assertEquals(0, copy.total());
        assertFalse(driver.isZero());
    }
}

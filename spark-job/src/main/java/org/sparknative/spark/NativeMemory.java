package org.sparknative.spark;

import java.lang.management.ManagementFactory;
import org.apache.spark.SparkConf;
import org.apache.spark.network.util.JavaUtils;

/**
 * The native memory (outside the JVM heap) one task may use, from Spark's settings: what the KV caches
 * must fit in.
 *
 * <ul>
 *   <li>On a cluster: the executor's memory overhead ({@code spark.executor.memoryOverhead}, else
 *       {@code spark.executor.memoryOverheadFactor} (0.10) of {@code spark.executor.memory}, at least
 *       384 MiB), plus {@code spark.memory.offHeap.size} when off-heap memory is enabled, divided by the
 *       executor's concurrent tasks ({@code spark.executor.cores / spark.task.cpus}).</li>
 *   <li>In local mode: the machine's physical memory less the driver's heap, divided by the task slots.</li>
 * </ul>
 *
 * @param bytesPerTask native bytes one task may use
 * @param what         where the figure comes from, for messages
 */
public record NativeMemory(long bytesPerTask, String what) {
    private static final long MIB = 1L << 20;

    /**
     * @param conf       the application's settings
     * @param localSlots task slots of local mode (Spark's default parallelism there)
     */
    public static NativeMemory perTask(SparkConf conf, int localSlots) {
        String master = conf.get("spark.master", "local[*]");
        int taskCpus = Math.max(1, conf.getInt("spark.task.cpus", 1));
        if (master.startsWith("local")) {
            long physical = ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean())
                .getTotalMemorySize();
            long avail = Math.max(0, physical - Runtime.getRuntime().maxMemory());
            int tasks = Math.max(1, localSlots / taskCpus);
            return new NativeMemory(avail / tasks, "a local task may use (physical memory less the driver heap, "
                + tasks + " concurrent tasks)");
        }
        long executorMem = JavaUtils.byteStringAsBytes(conf.get("spark.executor.memory", "1g"));
        long overhead = conf.contains("spark.executor.memoryOverhead")
            ? JavaUtils.byteStringAsMb(conf.get("spark.executor.memoryOverhead")) * MIB
            : Math.max(384 * MIB, (long) (executorMem * conf.getDouble("spark.executor.memoryOverheadFactor", 0.10)));
        long offHeap = conf.getBoolean("spark.memory.offHeap.enabled", false)
            ? JavaUtils.byteStringAsBytes(conf.get("spark.memory.offHeap.size", "0")) : 0;
        int tasks = Math.max(1, conf.getInt("spark.executor.cores", 1) / taskCpus);
        return new NativeMemory((overhead + offHeap) / tasks, "an executor task may use (spark.executor.memoryOverhead"
            + (offHeap > 0 ? " + spark.memory.offHeap.size" : "") + ", " + tasks + " concurrent tasks)");
    }
}

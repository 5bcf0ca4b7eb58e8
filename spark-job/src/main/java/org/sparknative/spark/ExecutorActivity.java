package org.sparknative.spark;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeoutException;
import org.apache.spark.SparkContext;
import org.apache.spark.executor.TaskMetrics;
import org.apache.spark.scheduler.AccumulableInfo;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerJobStart;
import org.apache.spark.scheduler.SparkListenerTaskEnd;
import org.apache.spark.scheduler.TaskInfo;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.sparknative.udf.ExecutorMetrics;

/**
 * What each executor did in one run (the Spark jobs one command starts from its thread): a
 * {@link SparkListener} that sums, per executor, the run's tasks (successful, and failed attempts
 * separately), their run time, GC time and peak execution memory, and attributes the rows and tokens of the
 * run's {@link PartitionCounter}s to executors; joined at the end with the executors' reports to
 * {@link SparkNativePlugin} (pid, library loads, model maps, native time).
 *
 * <p>Rows and tokens are retry-proof like the counters themselves: each partition's count goes to the executor
 * of the successful task that reported its largest count (the latest of equal ones), so the executors' rows sum
 * to the counter's total however often a partition was computed.
 *
 * <p>The run's jobs are recognized by a local property that {@link #start} sets on the calling thread (Spark
 * copies the thread's local properties into every job it starts, also from SQL's helper threads). Runs nest: a
 * run started inside another (one benchmark figure inside a command's run) counts its jobs, and so does the outer one.
 *
 * <p>Threading: {@link #start}, {@link #track}, {@link #finish} and {@link #close} on the run's thread; Spark's
 * listener bus calls the listener methods from its own thread.
 */
public final class ExecutorActivity extends SparkListener implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(ExecutorActivity.class);

    /** The local property that marks the run's jobs. */
    static final String RUN_PROPERTY = "sparknative.run";

    /** How long {@link #finish} waits for Spark to deliver the run's last events. */
    private static final long DRAIN_MILLIS = 30_000;

    /** What a tracked counter counts. */
    public enum Count { ROWS, PROMPT_TOKENS, COMPLETION_TOKENS }

    /**
     * One executor's part in the run. Nullable fields are null where nothing measured them: rows or tokens
     * no tracked counter counts, the plugin's figures where {@link SparkNativePlugin} is not enabled.
     *
     * @param executorId               the executor's id ({@code driver} in local mode)
     * @param host                     its host
     * @param pid                      its JVM's process id (from the plugin)
     * @param tasks                    the run's tasks that succeeded on it
     * @param failedTasks              task attempts that failed or were killed on it
     * @param rows                     rows it computed (retry-proof)
     * @param promptTokens             prompt tokens of its rows
     * @param completionTokens         completion tokens of its rows
     * @param taskSeconds              run time of its task attempts, all of them
     * @param gcSeconds                JVM GC time during its task attempts
     * @param peakExecutionMemoryBytes the largest peak execution memory (Spark-managed) of its tasks
     * @param nativeLibraryLoads       times its JVM loaded the kernel library, in its whole life (1 is right)
     * @param modelMaps                checkpoints its JVM memory-mapped, in its whole life
     * @param modelMappedBytes         their bytes
     * @param nativeSeconds            time its threads spent in native kernels during the run
     * @param backends                 the backends its tasks ran on, e.g. {@code cpu} or
     *                                 {@code cuda:0 (NVIDIA H100 80GB HBM3)} (in its whole life)
     * @param lost                     why Spark removed the executor during the run (its JVM died, it was
     *                                 killed), or null if it was not; its figures are its last report's
     */
    public record Executor(String executorId, String host, Long pid, int tasks, int failedTasks, Long rows,
                           Long promptTokens, Long completionTokens, double taskSeconds, double gcSeconds,
                           long peakExecutionMemoryBytes, Long nativeLibraryLoads, Long modelMaps, Long modelMappedBytes,
                           Double nativeSeconds, String backends, String lost) {
    }

    /**
     * One task attempt of the run, from Spark's task-end event.
     *
     * @param executorId   where it ran
     * @param stageId      its stage
     * @param partition    its partition
     * @param attempt      its attempt number
     * @param launchMillis when it was launched (epoch milliseconds)
     * @param finishMillis when it ended (epoch milliseconds)
     * @param runMillis    its executor run time (Spark's {@code executorRunTime}), 0 without metrics
     * @param successful   whether it succeeded
     */
    public record Task(String executorId, int stageId, int partition, int attempt, long launchMillis, long finishMillis,
                       long runMillis, boolean successful) {
    }

    /** At most this many task attempts are kept for {@link #tasks()}; the sums cover every one. */
    static final int MAX_TASKS = 100_000;

    private final SparkContext sc;
    /** The run's task attempts, in the order their end events came. Guarded by this. */
    private final List<Task> taskList = new ArrayList<>();
    private final String run = UUID.randomUUID().toString();
    private final String previousRun;
    private final Map<String, SparkNativePlugin.ExecutorReport> before;
    private final Set<Integer> stages = ConcurrentHashMap.newKeySet();
    private final Map<Long, Count> tracked = new ConcurrentHashMap<>();
    /** Per executor: the listener's sums. Guarded by this. */
    private final Map<String, Tasks> byExecutor = new TreeMap<>();
    /** Executors Spark removed during the run, with the reason. */
    private final Map<String, String> removed = new ConcurrentHashMap<>();
    /** Per tracked counter, per partition: the executor credited and its count. Guarded by this. */
    private final Map<Long, Map<Integer, Credit>> credits = new HashMap<>();
    private boolean listening;

    private static final class Tasks {
        String host;
        int succeeded;
        int failed;
        long runMillis;
        long gcMillis;
        long peakMemory;
    }

    private record Credit(String executorId, long count) {
    }

    private ExecutorActivity(SparkContext sc) {
        this.sc = sc;
        this.before = SparkNativePlugin.executors();
        this.previousRun = sc.getLocalProperty(RUN_PROPERTY);
    }

    /** Starts watching the jobs that the calling thread starts from now on. */
    public static ExecutorActivity start(SparkContext sc) {
        ExecutorActivity a = new ExecutorActivity(sc);
        // Nested runs (a benchmark's figure inside a command's run) mark their jobs with every enclosing run.
        sc.setLocalProperty(RUN_PROPERTY, a.previousRun == null ? a.run : a.previousRun + "," + a.run);
        sc.addSparkListener(a);
        a.listening = true;
        return a;
    }

    /** Attributes {@code counter}'s counts (a counter of this run's jobs, made before they start) to executors. */
    public void track(Count what, PartitionCounter counter) {
        tracked.put(counter.id(), what);
    }

    @Override
    public void onJobStart(SparkListenerJobStart jobStart) {
        java.util.Properties p = jobStart.properties();
        String runs = p == null ? null : p.getProperty(RUN_PROPERTY);
        if (runs != null && java.util.Arrays.asList(runs.split(",")).contains(run)) {
            for (Object id : scala.jdk.javaapi.CollectionConverters.asJava(jobStart.stageIds())) {
                stages.add((Integer) id);
            }
        }
    }

    @Override
    public void onExecutorRemoved(org.apache.spark.scheduler.SparkListenerExecutorRemoved removal) {
        removed.put(removal.executorId(), String.valueOf(removal.reason()));
    }

    @Override
    public void onTaskEnd(SparkListenerTaskEnd taskEnd) {
        if (!stages.contains(taskEnd.stageId())) {
            return;
        }
        TaskInfo info = taskEnd.taskInfo();
        TaskMetrics m = taskEnd.taskMetrics();
        synchronized (this) {
            Tasks t = byExecutor.computeIfAbsent(info.executorId(), k -> new Tasks());
            t.host = info.host();
            if (info.successful()) {
                t.succeeded++;
            } else {
                t.failed++;
            }
            if (taskList.size() < MAX_TASKS) {
                taskList.add(new Task(info.executorId(), taskEnd.stageId(), info.partitionId(), info.attemptNumber(),
                    info.launchTime(), info.finishTime(), m == null ? 0 : m.executorRunTime(), info.successful()));
            }
            if (m != null) {
                t.runMillis += m.executorRunTime();
                t.gcMillis += m.jvmGCTime();
                t.peakMemory = Math.max(t.peakMemory, m.peakExecutionMemory());
            }
            if (!info.successful()) {
                return;
            }
            for (AccumulableInfo acc : scala.jdk.javaapi.CollectionConverters.asJava(info.accumulables())) {
                if (tracked.containsKey(acc.id()) && acc.update().isDefined()
                    && acc.update().get() instanceof PartitionCounter.Counts counts) {
                    Map<Integer, Credit> byPartition = credits.computeIfAbsent(acc.id(), k -> new HashMap<>());
                    for (Map.Entry<Integer, Long> e : counts.byPartition().entrySet()) {
                        Credit old = byPartition.get(e.getKey());
                        if (old == null || e.getValue() >= old.count()) {
                            byPartition.put(e.getKey(), new Credit(info.executorId(), e.getValue()));
                        }
                    }
                }
            }
        }
    }

    /**
     * Waits until Spark delivered the run's events to this listener (its jobs have ended: call after the run's
     * last action), stops listening, and joins the tasks with the executors' plugin reports.
     *
     * @return one entry per executor that ran a task of the run, by executor id
     */
    public List<Executor> finish() {
        if (listening) {
            try {
                // Spark-internal (Scala private[spark], public in bytecode), as Spark's own tests use it: the events
                // of the run's finished jobs are posted but may not have been delivered yet.
                sc.listenerBus().waitUntilEmpty(DRAIN_MILLIS);
            } catch (TimeoutException e) {
                LOG.warn("the per-executor summary may miss tasks: Spark's listener bus was not drained in {} s",
                    DRAIN_MILLIS / 1000);
            }
        }
        close();
        Map<String, SparkNativePlugin.ExecutorReport> after = SparkNativePlugin.executors();
        List<Executor> out = new ArrayList<>();
        synchronized (this) {
            for (Map.Entry<String, Tasks> e : byExecutor.entrySet()) {
                String id = e.getKey();
                Tasks t = e.getValue();
                SparkNativePlugin.ExecutorReport r = after.get(id);
                ExecutorMetrics.Snapshot now = r == null ? null : r.metrics();
                SparkNativePlugin.ExecutorReport b = before.get(id);
                long nanosBefore = b == null || r == null || b.pid() != r.pid() ? 0 : b.metrics().nativeNanos();
                out.add(new Executor(id, t.host, r == null ? null : r.pid(), t.succeeded, t.failed,
                    credited(Count.ROWS, id), credited(Count.PROMPT_TOKENS, id), credited(Count.COMPLETION_TOKENS, id),
                    t.runMillis / 1e3, t.gcMillis / 1e3, t.peakMemory,
                    now == null ? null : now.nativeLibraryLoads(), now == null ? null : now.modelMaps(),
                    now == null ? null : now.modelMappedBytes(), now == null ? null : (now.nativeNanos() - nanosBefore) / 1e9,
                    now == null ? null : now.backendsUsed(), removed.get(id)));
            }
        }
        return out;
    }

    /**
     * @return the run's task attempts (the first {@value #MAX_TASKS}), in the order they ended; complete after
     *         {@link #finish}
     */
    public synchronized List<Task> tasks() {
        return List.copyOf(taskList);
    }

    /** @return the counts of {@code what} credited to {@code executorId}, or null if no counter of it is tracked */
    private Long credited(Count what, String executorId) {
        if (!tracked.containsValue(what)) {
            return null;
        }
        long sum = 0;
        for (Map.Entry<Long, Count> t : tracked.entrySet()) {
            if (t.getValue() != what) {
                continue;
            }
            for (Credit c : credits.getOrDefault(t.getKey(), Map.of()).values()) {
                if (c.executorId().equals(executorId)) {
                    sum += c.count();
                }
            }
        }
        return sum;
    }

    /** Stops listening and unmarks the thread's jobs (idempotent); {@link #finish} calls it. */
    @Override
    public void close() {
        if (listening) {
            listening = false;
            sc.removeSparkListener(this);
            sc.setLocalProperty(RUN_PROPERTY, previousRun);
        }
    }
}

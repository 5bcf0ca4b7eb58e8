package org.sparknative.spark;

import com.codahale.metrics.Gauge;
import com.codahale.metrics.MetricRegistry;
import java.io.Serializable;
import java.util.Collections;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.ToLongFunction;
import org.apache.spark.SparkContext;
import org.apache.spark.TaskFailedReason;
import org.apache.spark.api.plugin.DriverPlugin;
import org.apache.spark.api.plugin.ExecutorPlugin;
import org.apache.spark.api.plugin.PluginContext;
import org.apache.spark.api.plugin.SparkPlugin;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.sparknative.udf.ExecutorMetrics;
import org.sparknative.udf.ExecutorRuntime;

/**
 * The project's Spark plugin ({@code spark.plugins=org.sparknative.spark.SparkNativePlugin}; the jobs add it
 * themselves). It publishes each executor's {@link ExecutorMetrics}:
 * <ul>
 *   <li><b>as Spark metrics</b>: the executor side registers one gauge per counter ({@link #METRICS}) in the
 *       plugin's metric registry, so they reach the executor's metrics sinks (JMX, CSV, Prometheus servlet, ...)
 *       as source {@code plugin.org.sparknative.spark.SparkNativePlugin} beside Spark's own executor metrics.
 *       In local mode the executor is the driver JVM, so they appear under the driver's instance.</li>
 *   <li><b>to the driver</b>: the executor side sends an {@link ExecutorReport} (executor id, host, the JVM's
 *       pid and the counters) when it starts and after every task, and the driver side keeps the latest
 *       report of each executor ({@link #executors()}). After a task the report is a synchronous {@code ask}
 *       from {@link ExecutorPlugin#onTaskSucceeded()} or {@link ExecutorPlugin#onTaskFailed}, which Spark's
 *       {@code Executor} calls before it sends the task's status update: so the driver holds an executor's
 *       counters, including that task's work, before it learns that the task ended, and every report of a
 *       job's tasks has arrived when the job's action returns. A report that would repeat the previous one
 *       is not sent.</li>
 * </ul>
 *
 * <p>Threading: the driver side is thread-safe; {@link #executors()} may be called from any thread.
 */
public final class SparkNativePlugin implements SparkPlugin {
    private static final Logger LOG = LoggerFactory.getLogger(SparkNativePlugin.class);

    /** The value of {@code spark.plugins} that enables it. */
    public static final String CLASS_NAME = SparkNativePlugin.class.getName();

    /**
     * The gauges, by metric name, each reading {@link ExecutorMetrics} (units in the name: counts, bytes,
     * nanoseconds): {@code nativeLibraryLoads}, {@code modelsMapped}, {@code modelMappedBytes},
     * {@code integrateRows}, {@code generateRows}, {@code promptTokens}, {@code completionTokens},
     * {@code nativeTimeNanos} (summed over the executor's threads), {@code kvCacheBytes} (in use now),
     * {@code cudaModuleLoads}, {@code deviceWeightUploads} and {@code deviceBatchBytes} (GPU memory of the
     * shared decode loops, in use now).
     */
    public static final Map<String, ToLongFunction<ExecutorMetrics.Snapshot>> METRICS;

    static {
        Map<String, ToLongFunction<ExecutorMetrics.Snapshot>> m = new java.util.LinkedHashMap<>();
        m.put("nativeLibraryLoads", ExecutorMetrics.Snapshot::nativeLibraryLoads);
        m.put("modelsMapped", ExecutorMetrics.Snapshot::modelMaps);
        m.put("modelMappedBytes", ExecutorMetrics.Snapshot::modelMappedBytes);
        m.put("integrateRows", ExecutorMetrics.Snapshot::integrateRows);
        m.put("generateRows", ExecutorMetrics.Snapshot::generateRows);
        m.put("promptTokens", ExecutorMetrics.Snapshot::promptTokens);
        m.put("completionTokens", ExecutorMetrics.Snapshot::completionTokens);
        m.put("nativeTimeNanos", ExecutorMetrics.Snapshot::nativeNanos);
        m.put("kvCacheBytes", ExecutorMetrics.Snapshot::kvCacheBytes);
        m.put("cudaModuleLoads", ExecutorMetrics.Snapshot::cudaModuleLoads);
        m.put("deviceWeightUploads", ExecutorMetrics.Snapshot::deviceWeightUploads);
        m.put("deviceBatchBytes", ExecutorMetrics.Snapshot::deviceBatchBytes);
        METRICS = Collections.unmodifiableMap(m);
    }

    /** Every executor's latest report, of the SparkContext whose driver side started last in this JVM. */
    private static volatile Map<String, ExecutorReport> latest = new ConcurrentHashMap<>();

    /**
     * What an executor tells the driver.
     *
     * @param executorId the executor's id ({@code driver} in local mode)
     * @param host       its host name
     * @param pid        its JVM's process id
     * @param sequence   orders one JVM's reports: the driver keeps the highest
     * @param timeMillis when the report was taken (epoch milliseconds)
     * @param metrics    the executor's counters, for its whole life so far
     * @param cpuModel   its CPU model ({@link ExecutorRuntime#cpuModel()})
     * @param simdPath   the code path its CPU kernels chose ({@link ExecutorRuntime#simdPath()}), or null before
     *                   it loaded them
     */
    public record ExecutorReport(String executorId, String host, long pid, long sequence, long timeMillis,
                                 ExecutorMetrics.Snapshot metrics, String cpuModel, String simdPath) implements Serializable {
        private static final long serialVersionUID = 1L;
    }

    /**
     * On the driver: the latest report of every executor that reported since this JVM's current (or last)
     * SparkContext started, by executor id. Executors that died keep their last report. Empty where the plugin
     * is not enabled.
     *
     * @return a sorted copy
     */
    public static Map<String, ExecutorReport> executors() {
        return Collections.unmodifiableMap(new TreeMap<>(latest));
    }

    @Override
    public DriverPlugin driverPlugin() {
        return new Driver();
    }

    @Override
    public ExecutorPlugin executorPlugin() {
        return new Executor();
    }

    /** Keeps the executors' reports. */
    private static final class Driver implements DriverPlugin {
        private final Map<String, ExecutorReport> reports = new ConcurrentHashMap<>();

        @Override
        public Map<String, String> init(SparkContext sc, PluginContext ctx) {
            latest = reports;
            return Collections.emptyMap();
        }

        @Override
        public Object receive(Object message) {
            if (!(message instanceof ExecutorReport r)) {
                throw new IllegalArgumentException("SparkNativePlugin: unexpected message " + message);
            }
            reports.merge(r.executorId(), r, (old, now) -> now.sequence() >= old.sequence() ? now : old);
            // No reply: the first report comes with send (one-way; Spark logs a reply to it as unexpected), and an
            // executor's ask waits only for the report to be stored, which it is once this returns.
            return null;
        }
    }

    /** Registers the gauges and reports to the driver. */
    private static final class Executor implements ExecutorPlugin {
        /** One sequence for the JVM, so that a later plugin instance (local mode, a new SparkContext) goes on from it. */
        private static final java.util.concurrent.atomic.AtomicLong SEQUENCE = new java.util.concurrent.atomic.AtomicLong();

        private PluginContext ctx;
        private long pid;
        private String host;
        private ExecutorMetrics.Snapshot lastSent; // guarded by this

        @Override
        public void init(PluginContext ctx, Map<String, String> extraConf) {
            this.ctx = ctx;
            this.pid = ProcessHandle.current().pid();
            MetricRegistry registry = ctx.metricRegistry();
            for (Map.Entry<String, ToLongFunction<ExecutorMetrics.Snapshot>> e : METRICS.entrySet()) {
                ToLongFunction<ExecutorMetrics.Snapshot> read = e.getValue();
                registry.register(e.getKey(), (Gauge<Long>) () -> read.applyAsLong(ExecutorMetrics.snapshot()));
            }
            this.host = host();
            LOG.info("SparkNativePlugin: executor {} on {}, pid {}", ctx.executorID(), host, pid);
            ExecutorReport first = next();
            try {
                ctx.send(first);
            } catch (Exception ex) {
                forget();
                LOG.warn("SparkNativePlugin: cannot send executor {}'s first report to the driver: {}", ctx.executorID(),
                    ex.toString());
            }
        }

        /**
         * The executor's host as its block manager registered it. Not {@code PluginContext.hostname()}: that reads
         * the RPC environment's own address, which an executor's client-mode RPC environment does not have (it
         * throws a NullPointerException on every cluster executor; only local mode's driver-side executor has one).
         */
        private static String host() {
            try {
                return org.apache.spark.SparkEnv.get().blockManager().blockManagerId().host();
            } catch (RuntimeException e) {
                try {
                    return java.net.InetAddress.getLocalHost().getHostName();
                } catch (java.net.UnknownHostException u) {
                    return "unknown";
                }
            }
        }

        @Override
        public void onTaskSucceeded() {
            reportAndWait();
        }

        @Override
        public void onTaskFailed(TaskFailedReason failureReason) {
            reportAndWait();
        }

        /** The next report, or null if it would repeat the last one sent. */
        private synchronized ExecutorReport next() {
            ExecutorMetrics.Snapshot now = ExecutorMetrics.snapshot();
            if (now.equals(lastSent)) {
                return null;
            }
            lastSent = now;
            // The SIMD path is known once the library is loaded, which changes the counters: a report goes out then.
            return new ExecutorReport(ctx.executorID(), host, pid, SEQUENCE.incrementAndGet(),
                System.currentTimeMillis(), now, ExecutorRuntime.cpuModel(), ExecutorRuntime.simdPath());
        }

        private synchronized void forget() {
            lastSent = null;
        }

        private void reportAndWait() {
            ExecutorReport r = next();
            if (r == null) {
                return;
            }
            try {
                ctx.ask(r);
            } catch (Exception ex) {
                forget();
                LOG.warn("SparkNativePlugin: cannot report executor {}'s counters to the driver: {}", ctx.executorID(),
                    ex.toString());
            }
        }
    }
}

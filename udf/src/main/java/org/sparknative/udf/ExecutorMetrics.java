package org.sparknative.udf;

import java.io.Serializable;
import java.util.concurrent.atomic.LongAdder;
import org.sparknative.kernels.llama.NativeLlamaBatch;

/**
 * Executor-wide counters of the native work done in this JVM (an executor, or the driver in local mode),
 * summed over all of its tasks since the JVM started. The udf layer updates them where the work happens;
 * the Spark layer reads {@link #snapshot()} and publishes it (as Spark metrics, and to the driver).
 *
 * <p>What is counted, and where:
 * <ul>
 *   <li>native library loads: read from {@link ExecutorRuntime#nativeLoadCount()} (1 once loaded);</li>
 *   <li>models mapped, and their bytes (the checkpoint file's length), by {@code ModelRegistry} when it
 *       memory-maps a checkpoint for the native backend;</li>
 *   <li>integrate rows: every row of a batch handed to the kernel ({@code IntegrateUdf}) or of a row-at-a-time
 *       native call, null and invalid rows included;</li>
 *   <li>generate rows, prompt tokens and completion tokens: every row the continuous batcher finishes,
 *       error rows included, on either backend;</li>
 *   <li>native time: the wall time of the calls into the C kernels (the integration kernel; the native
 *       generate backend's forward and sample calls and the C tokenizer), measured with {@link System#nanoTime()}
 *       around each call, summed over threads (so it can exceed the elapsed time when tasks run concurrently);</li>
 *   <li>KV cache bytes: the KV caches of native generate tasks that are open now (a level, not a sum).</li>
 * </ul>
 * These count work done, including the work of task attempts that later failed and of partitions that were
 * computed twice; the jobs' retry-proof row counts are Spark accumulators, not these.
 *
 * <p>Units: counts, bytes and nanoseconds, as the names say.
 *
 * <p>Threading: every method is thread-safe and cheap (a {@link LongAdder} per counter, no lock), so tasks
 * call it from their own threads; a snapshot reads each counter once and is not atomic across counters.
 */
public final class ExecutorMetrics {
    private static final LongAdder MODEL_MAPS = new LongAdder();
    private static final LongAdder MODEL_MAPPED_BYTES = new LongAdder();
    private static final LongAdder INTEGRATE_ROWS = new LongAdder();
    private static final LongAdder GENERATE_ROWS = new LongAdder();
    private static final LongAdder PROMPT_TOKENS = new LongAdder();
    private static final LongAdder COMPLETION_TOKENS = new LongAdder();
    private static final LongAdder NATIVE_NANOS = new LongAdder();
    private static final LongAdder DEVICE_WEIGHT_UPLOADS = new LongAdder();
    private static final java.util.Set<String> BACKENDS = new java.util.concurrent.ConcurrentSkipListSet<>();

    private ExecutorMetrics() {
    }

    /**
     * The counters at one moment.
     *
     * @param nativeLibraryLoads times this JVM loaded the native kernel library (1 once loaded)
     * @param modelMaps          checkpoints memory-mapped for the native backend
     * @param modelMappedBytes   bytes of those checkpoint files
     * @param integrateRows      rows computed by the integration kernel
     * @param generateRows       rows finished by generation
     * @param promptTokens       prompt tokens of those rows, BOS included
     * @param completionTokens   tokens generated for those rows
     * @param nativeNanos        nanoseconds spent in native kernel calls, summed over threads
     * @param kvCacheBytes       bytes of the KV caches open now
     * @param backendsUsed       the backends this JVM's tasks ran on, sorted and comma-separated: {@code cpu},
     *                           {@code java}, {@code cuda:0 (NVIDIA H100 80GB HBM3)}; empty before the first task
     * @param cudaModuleLoads    times this JVM loaded the CUDA fatbin (once per device used)
     * @param deviceWeightUploads model weights uploaded to a GPU (once per model and device)
     * @param deviceBatchBytes   device memory of the open CUDA generation batches now (KV caches and scratch
     *                           of the shared decode loops; a level, not a sum)
     */
    public record Snapshot(long nativeLibraryLoads, long modelMaps, long modelMappedBytes, long integrateRows,
                           long generateRows, long promptTokens, long completionTokens, long nativeNanos,
                           long kvCacheBytes, String backendsUsed, long cudaModuleLoads, long deviceWeightUploads,
                           long deviceBatchBytes)
        implements Serializable {
        private static final long serialVersionUID = 1L;
    }

    /** @return the counters now */
    public static Snapshot snapshot() {
        return new Snapshot(nativeLibraryLoads(), modelMaps(), MODEL_MAPPED_BYTES.sum(), INTEGRATE_ROWS.sum(),
            GENERATE_ROWS.sum(), PROMPT_TOKENS.sum(), COMPLETION_TOKENS.sum(), NATIVE_NANOS.sum(), kvCacheBytes(),
            String.join(", ", BACKENDS), cudaModuleLoads(), DEVICE_WEIGHT_UPLOADS.sum(), deviceBatchBytes());
    }

    /** @return times this JVM loaded the native kernel library: 0 before the first use, then 1 */
    public static long nativeLibraryLoads() {
        return ExecutorRuntime.nativeLoadCount();
    }

    /** @return checkpoints memory-mapped for the native backend in this JVM */
    public static long modelMaps() {
        return MODEL_MAPS.sum();
    }

    /** @return bytes of the KV caches of this JVM that are open now (0 when no native generate task runs) */
    public static long kvCacheBytes() {
        return NativeLlamaBatch.liveKvCacheBytes();
    }

    /** @return times this JVM loaded the CUDA fatbin into a device context; 0 without touching CUDA if none */
    public static long cudaModuleLoads() {
        return usedCuda() ? org.sparknative.kernels.cuda.Cuda.moduleLoads() : 0;
    }

    /**
     * @return device bytes of this JVM's open CUDA generation batches; 0 without touching CUDA classes when no
     *         task ran on CUDA
     */
    public static long deviceBatchBytes() {
        return usedCuda() ? org.sparknative.kernels.cuda.CudaLlamaBatch.liveDeviceBytes() : 0;
    }

    /** Whether a task of this JVM ran on CUDA: until then the CUDA counters are 0 and no CUDA class is loaded. */
    private static boolean usedCuda() {
        return BACKENDS.stream().anyMatch(b -> b.startsWith("cuda"));
    }

    /** Records that a task ran on {@code backend} (see {@link BackendSelection.Resolved#describe()}). */
    public static void backendUsed(String backend) {
        BACKENDS.add(backend);
    }

    /** Counts one model's weights uploaded to a GPU. */
    public static void deviceWeightsUploaded() {
        DEVICE_WEIGHT_UPLOADS.increment();
    }

    /** Counts one checkpoint memory-mapped for the native backend, of {@code bytes} bytes. */
    public static void modelMapped(long bytes) {
        MODEL_MAPS.increment();
        MODEL_MAPPED_BYTES.add(bytes);
    }

    /** Counts {@code rows} rows computed by the integration kernel. */
    public static void integrateRows(long rows) {
        INTEGRATE_ROWS.add(rows);
    }

    /** Counts one finished generate row with its prompt and completion tokens. */
    public static void generateRow(long promptTokens, long completionTokens) {
        GENERATE_ROWS.increment();
        PROMPT_TOKENS.add(promptTokens);
        COMPLETION_TOKENS.add(completionTokens);
    }

    /**
     * Adds the time of one native call.
     *
     * @param startNanos {@link System#nanoTime()} taken just before the call
     */
    public static void nativeCallSince(long startNanos) {
        NATIVE_NANOS.add(System.nanoTime() - startNanos);
    }
}

package org.sparknative.udf.generate;

import java.io.Serializable;
import java.util.Locale;
import org.apache.spark.TaskContext;
import org.sparknative.udf.TaskResources;

/**
 * Everything a task needs to build its generation pipeline: shipped from the driver to each task.
 *
 * @param checkpoint           path of the llama2.c checkpoint (see {@link ModelRegistry} for resolution)
 * @param tokenizer            path of its {@code tokenizer.bin}
 * @param backend              {@code cpu} (native C) or {@code java} (the pure-Java reference)
 * @param batchSize            concurrent sequences per task (KV cache slots), {@code >= 1}
 * @param prefillTokensPerStep prompt tokens fed per step beside the decode rows, {@code >= 1}
 * @param threads              threads per task for the native backend; 0 means {@code spark.task.cpus}
 * @param longPrompts          what happens to prompts longer than the context
 */
public record GenerationSpec(String checkpoint, String tokenizer, String backend, int batchSize,
                             int prefillTokensPerStep, int threads, LongPromptPolicy longPrompts) implements Serializable {
    /** The default prefill budget per step, in prompt tokens. */
    public static final int DEFAULT_PREFILL_TOKENS = 64;

    /** Checks the settings; the message names the setting. */
    public GenerationSpec {
        backend = backend.trim().toLowerCase(Locale.ROOT);
        if (!backend.equals("cpu") && !backend.equals("java")) {
            throw new IllegalArgumentException("backend must be cpu or java, got '" + backend + "'");
        }
        if (batchSize < 1) {
            throw new IllegalArgumentException("batch size must be >= 1, got " + batchSize);
        }
        if (prefillTokensPerStep < 1) {
            throw new IllegalArgumentException("prefill tokens per step must be >= 1, got " + prefillTokensPerStep);
        }
        if (threads < 0) {
            throw new IllegalArgumentException("threads must be >= 0 (0: spark.task.cpus), got " + threads);
        }
    }

    /** @return the threads a task of this spec uses: {@link #threads()}, else {@code spark.task.cpus}, else 1 */
    public int effectiveThreads() {
        if (threads > 0) {
            return threads;
        }
        TaskContext ctx = TaskContext.get();
        return ctx == null ? 1 : Math.max(1, ctx.cpus());
    }

    /**
     * Builds a task's scheduler over this spec's backend; the backend is registered with {@code resources}
     * so it is freed when the task ends.
     */
    public ContinuousBatcher newBatcher(TaskResources resources) {
        ModelRegistry.Entry model = ModelRegistry.get(checkpoint, tokenizer);
        int rows = batchSize + prefillTokensPerStep;
        DecodeBackend b;
        TokenCodec codec;
        if (backend.equals("cpu")) {
            b = new NativeBackend(model.nativeModel(), batchSize, rows, effectiveThreads());
            codec = new NativeTokenCodec(model.nativeTokenizer());
        } else {
            b = new ReferenceBackend(model.checkpoint(), batchSize, rows);
            codec = new JavaTokenCodec(model.javaTokenizer());
        }
        resources.add(b);
        return new ContinuousBatcher(b, codec, longPrompts, prefillTokensPerStep);
    }
}

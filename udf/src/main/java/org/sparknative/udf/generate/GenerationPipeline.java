package org.sparknative.udf.generate;

import org.sparknative.udf.Backend;
import org.sparknative.udf.BackendSelection;
import org.sparknative.udf.ExecutorMetrics;
import org.sparknative.udf.TaskResources;

/**
 * Builds one task's generation pipeline: the backend (KV cache and scratch) over the executor's shared
 * model, the tokenizer codec of the same backend, and the {@link ContinuousBatcher} over both.
 *
 * <p>Threading: call from the task's thread; the model entry is shared and thread-safe.
 */
public final class GenerationPipeline {
    private GenerationPipeline() {
    }

    /**
     * @param model     the executor's model entry (see {@link ModelRegistry#get})
     * @param spec      the run's settings
     * @param threads   threads for the native forward pass, {@code >= 1} (the caller resolves
     *                  {@link GenerationSpec#threads()} 0 to the task's CPUs)
     * @param resources receives the backend, so that it is freed when the task ends
     * @return the task's scheduler
     * @throws IllegalArgumentException for a bad setting or a tokenizer of another vocabulary
     */
    public static ContinuousBatcher newBatcher(ModelRegistry.Entry model, GenerationSpec spec, int threads,
                                               TaskResources resources) {
        int rows = spec.slots() + spec.prefillTokensPerStep();
        DecodeBackend backend;
        TokenCodec codec;
        BackendSelection.Resolved where = BackendSelection.resolve(spec.backend(), 0);
        ExecutorMetrics.backendUsed(where.describe());
        if (where.backend() == Backend.CUDA) {
            throw new UnsupportedOperationException("generate on CUDA: not wired yet");
        }
        if (where.backend() == Backend.CPU) {
            backend = new NativeBackend(model.nativeModel(), spec.slots(), rows, threads);
            codec = new NativeTokenCodec(model.nativeTokenizer());
        } else {
            backend = new ReferenceBackend(model.checkpoint(), spec.slots(), rows);
            codec = new JavaTokenCodec(model.javaTokenizer());
        }
        resources.add(backend);
        return new ContinuousBatcher(backend, codec, spec.longPrompts(), spec.prefillTokensPerStep());
    }
}

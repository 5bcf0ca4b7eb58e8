package org.sparknative.udf.generate;

import org.sparknative.udf.Backend;
import org.sparknative.udf.BackendSelection;
import org.sparknative.udf.ExecutorMetrics;
import org.sparknative.udf.TaskResources;

/**
 * Builds one task's generation scheduler for the backend the spec names:
 * <ul>
 *   <li>{@code cpu} and {@code java}: the task's own backend (KV cache and scratch) over the executor's
 *       shared model, the tokenizer codec of the same backend, and a {@link ContinuousBatcher} over both;
 *       the backend is registered with the task's resources, so its memory is freed when the task ends;</li>
 *   <li>{@code cuda} (llama2.c checkpoints; {@code auto} picks {@code cpu} for a GGUF model, {@code cuda}
 *       refuses one): a client of the executor's {@link SharedDecodeLoop} for this model on the task's
 *       device ({@link DecodeLoops}): the weights are uploaded once per executor and device, and every
 *       concurrent task feeds the same loop; the task owns no device memory.</li>
 * </ul>
 *
 * <p>Threading: call from the task's thread; the model entry and the loops are shared and thread-safe.
 */
public final class GenerationPipeline {
    private GenerationPipeline() {
    }

    /**
     * @param model      the executor's model entry (see {@link ModelRegistry#get})
     * @param spec       the run's settings
     * @param threads    threads for the native forward pass, {@code >= 1} (the caller resolves
     *                   {@link GenerationSpec#threads()} 0 to the task's CPUs)
     * @param gpuOrdinal the CUDA device Spark assigned to the task, or 0 (local mode); used by {@code cuda}
     *                   and by {@code auto} where a device is usable
     * @param taskRows   the most rows the task will hand over in one {@link GenerationScheduler#run} call
     *                   ({@code >= 1}): a task's own KV cache gets no more slots than that, since more would
     *                   never be used; the shared loop keeps the spec's slots, whatever one task brings
     * @param resources  receives the task's backend, so that it is freed when the task ends
     * @return the task's scheduler
     * @throws IllegalArgumentException for a bad setting or a tokenizer of another vocabulary
     * @throws org.sparknative.kernels.cuda.CudaUnavailableException for {@code cuda} where CUDA cannot run
     */
    public static GenerationScheduler newScheduler(ModelRegistry.Entry model, GenerationSpec spec, int threads,
                                                   int gpuOrdinal, int taskRows, TaskResources resources) {
        if (taskRows < 1) {
            throw new IllegalArgumentException("taskRows must be >= 1, got " + taskRows);
        }
        BackendSelection.Resolved where = BackendSelection.resolve(spec.backend(), gpuOrdinal);
        if (where.backend() == Backend.CUDA && model.model().isGguf()) {
            if (spec.backend() != Backend.AUTO) {
                throw new IllegalArgumentException(model.model().path() + ": the cuda backend runs llama2.c checkpoints"
                    + " only; run this GGUF model with --backend cpu (or auto, which picks cpu for GGUF models)");
            }
            where = BackendSelection.resolve(Backend.CPU, gpuOrdinal);
        }
        ExecutorMetrics.backendUsed(where.describe());
        if (where.backend() == Backend.CUDA) {
            return DecodeLoops.cuda(model, where.device(), spec).client(spec.longPrompts());
        }
        int slots = Math.min(spec.slots(), taskRows);
        int rows = slots + spec.prefillTokensPerStep();
        DecodeBackend backend;
        TokenCodec codec;
        if (where.backend() == Backend.CPU) {
            backend = new NativeBackend(model.nativeModel(), slots, rows, threads, spec.kvCache());
            codec = new NativeTokenCodec(model.nativeTokenizer());
        } else {
            backend = new ReferenceBackend(model.model(), slots, rows, spec.kvCache());
            codec = new JavaTokenCodec(model.javaTokenizer());
        }
        resources.add(backend);
        return new ContinuousBatcher(backend, codec, spec.longPrompts(), spec.prefillTokensPerStep());
    }
}

package org.sparknative.udf.generate;

import java.util.Objects;
import java.util.concurrent.CancellationException;
import java.util.function.BooleanSupplier;
import org.sparknative.udf.BadRowPolicy;
import org.sparknative.udf.ExecutorMetrics;
import org.sparknative.udf.InvalidRowException;
import org.sparknative.udf.RowLabels;

/**
 * Continuous batching over a task's own {@link DecodeBackend} (the {@code cpu} and {@code java}
 * backends): up to {@code maxSlots} sequences decode together, one step reading each weight matrix once
 * for all of them; when a sequence ends (BOS/EOS sampled, its token budget spent, or the context full) the
 * next waiting prompt takes its slot at once. Prompt tokens go through the same batched forward (prefill),
 * up to {@code prefillTokensPerStep} prompt tokens per step beside one decode row per generating sequence.
 * The scheduling itself is {@link DecodeSlots}, the core it shares with the executor-wide
 * {@link SharedDecodeLoop}.
 *
 * <p>Each sequence has its own RNG state seeded from its row's seed, and every row's arithmetic in the
 * backend is independent of its neighbours, so a row's text does not depend on the batch it ran in,
 * the batch size or the partitioning: a retried Spark task writes exactly what the first attempt would.
 *
 * <p>The scheduler knows nothing of Arrow or Spark: prompts arrive as off-heap addresses and lengths or
 * as byte arrays ({@link Request}), results leave as byte arrays ({@link Result}). The Arrow adapter is
 * {@link GenerateUdf}.
 *
 * <p>Threading: not thread-safe; one per task.
 */
public final class ContinuousBatcher implements GenerationScheduler {
    private final DecodeSlots core;
    private final BadRowPolicy longPrompts;
    private BooleanSupplier cancelled = () -> false;

    /**
     * @param longPrompts          what a prompt longer than the context does ({@code --long-prompts})
     * @param prefillTokensPerStep prompt tokens fed per step across all prefilling sequences, {@code >= 1};
     *                             the backend must take {@code maxSlots + prefillTokensPerStep} rows
     * @throws IllegalArgumentException for a tokenizer of another vocabulary than the model's, or a bad setting
     */
    public ContinuousBatcher(DecodeBackend backend, TokenCodec codec, BadRowPolicy longPrompts,
                             int prefillTokensPerStep) {
        BadRowPolicy.LONG_PROMPTS.check(longPrompts);
        this.core = new DecodeSlots(backend, codec, prefillTokensPerStep);
        this.longPrompts = longPrompts;
    }

    /**
     * {@inheritDoc}
     *
     * @throws CancellationException once {@link #cancelWhen cancelled}, between two steps; the task's
     *                               resources then free the backend's KV cache
     */
    @Override
    public Result[] run(Request[] requests, RowLabels labels, Progress progress) {
        Result[] results = new Result[requests.length];
        core.evict(null); // what an earlier, failed run left
        int next = 0;
        long steps = 0;
        while (true) {
            while (next < requests.length && core.hasFreeSlot()) {
                int r = next++;
                DecodeSlots.Prepared p = core.prepare(requests[r], r, longPrompts, labels);
                if (p.done() != null) {
                    finish(results, r, p.done(), progress);
                } else {
                    core.admit(p.seq());
                }
            }
            if (core.active() == 0) {
                return results;
            }
            if (cancelled.getAsBoolean()) {
                core.evict(null);
                throw new CancellationException("generate cancelled after " + steps + " decode steps");
            }
            core.step((q, result) -> finish(results, q.request, result, progress));
            steps++;
        }
    }

    @Override
    public ContinuousBatcher cancelWhen(BooleanSupplier cancelled) {
        this.cancelled = Objects.requireNonNull(cancelled, "cancelled");
        return this;
    }

    @Override
    public boolean readsOffHeap() {
        return core.codec().readsOffHeap();
    }

    private static void finish(Result[] results, int r, Result result, Progress progress) {
        results[r] = result;
        ExecutorMetrics.generateRow(result.promptTokens(), result.completionTokens());
        if (progress != null) {
            progress.finished(result);
        }
    }
}

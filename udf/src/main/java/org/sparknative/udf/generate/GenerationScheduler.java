package org.sparknative.udf.generate;

import java.util.function.BooleanSupplier;
import org.sparknative.udf.InvalidRowException;
import org.sparknative.udf.RowLabels;

/**
 * How a task's prompts become completions: the seam between the Arrow adapter ({@link GenerateUdf}) and
 * the decode scheduling behind it. Two implementations share one scheduling core ({@link DecodeSlots}):
 * <ul>
 *   <li>{@link ContinuousBatcher}: the task's own slots and {@link DecodeBackend} (the {@code cpu} and
 *       {@code java} backends: one KV cache per task);</li>
 *   <li>{@link SharedDecodeLoop#client}: the task's requests join the executor's one decode loop per
 *       device and model (the {@code cuda} backend: one weight upload and one batch per GPU, fed by every
 *       concurrent task).</li>
 * </ul>
 * Either way a row's text depends only on its prompt, settings and seed, never on what else shares its
 * batch, so a retried Spark task writes what the first attempt would.
 *
 * <p>Threading: an instance serves one task; {@link #run} is called from the task's thread.
 */
public interface GenerationScheduler {
    /**
     * One prompt, in one of three forms: {@code length} UTF-8 bytes at off-heap {@code address} (the
     * caller keeps them readable until {@link #run} returns; only where {@link #readsOffHeap()}), the bytes
     * {@code utf8}, or a row that cannot be generated at all ({@code error}: a null prompt, a bad per-row
     * setting), which becomes an error row.
     *
     * @param address off-heap address of the prompt bytes, when {@code utf8} and {@code error} are null
     * @param length  prompt length in bytes
     * @param utf8    the prompt bytes on the heap, or null
     * @param error   why the row cannot be generated, or null
     * @param params  the row's settings (null for an error row)
     */
    record Request(long address, int length, byte[] utf8, String error, GenerationParams params) {
        /** A prompt of {@code length} bytes at off-heap {@code address}. */
        public static Request offHeap(long address, int length, GenerationParams params) {
            if (length < 0) {
                throw new IllegalArgumentException("prompt length must be >= 0, got " + length);
            }
            return new Request(address, length, null, null, params);
        }

        /** A prompt given as bytes. */
        public static Request of(byte[] utf8, GenerationParams params) {
            return new Request(0L, utf8.length, utf8, null, params);
        }

        /** A null prompt: an error row. */
        public static Request nullPrompt() {
            return invalid("prompt is null");
        }

        /** A row that cannot be generated; its finish reason is {@code error: <message>}. */
        public static Request invalid(String message) {
            return new Request(0L, 0, null, message, null);
        }
    }

    /**
     * One row's outcome. Times are milliseconds from the moment the sequence took a slot.
     *
     * @param completion       UTF-8 bytes of the generated text (null for an error row)
     * @param promptTokens     prompt tokens fed, BOS included (after truncation)
     * @param completionTokens generated tokens (a stop token is not counted)
     * @param finishReason     why the row ended
     * @param ttftMs           time to the first generated token (NaN if none)
     * @param latencyMs        time to the sequence's end
     */
    record Result(byte[] completion, int promptTokens, int completionTokens, FinishReason finishReason, double ttftMs,
                  double latencyMs) {
    }

    /** Receives progress as sequences finish (for Spark accumulators and logs), on the task's thread. */
    interface Progress {
        void finished(Result result);
    }

    /**
     * Generates a completion for every request, in request order.
     *
     * @param labels   names the requests in error messages
     * @param progress told about each finished row, on the calling thread, may be null
     * @throws InvalidRowException under {@code --long-prompts fail} for a prompt longer than the context
     * @throws java.util.concurrent.CancellationException once {@link #cancelWhen cancelled}, between two steps
     */
    Result[] run(Request[] requests, RowLabels labels, Progress progress);

    /** @return whether requests may carry off-heap addresses ({@link Request#offHeap}); else give byte arrays */
    boolean readsOffHeap();

    /**
     * Makes {@link #run} stop between two decode steps once {@code cancelled} says so (in Spark: the task
     * was killed or its job cancelled), throwing {@link java.util.concurrent.CancellationException}.
     *
     * @return this
     */
    GenerationScheduler cancelWhen(BooleanSupplier cancelled);
}

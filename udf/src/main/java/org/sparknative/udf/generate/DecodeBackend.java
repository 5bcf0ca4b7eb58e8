package org.sparknative.udf.generate;

import org.sparknative.kernels.llama.LlamaConfig;

/**
 * One task's batched forward pass and sampler: the seam between the backend-independent
 * scheduling core ({@link DecodeSlots}) and a compute backend (native C on the CPU, the pure-Java reference,
 * CUDA). An instance owns the KV cache of {@link #maxSlots()} sequences and its scratch memory.
 *
 * <p>Threading: not thread-safe; one instance per Spark task. The model weights behind it are shared.
 */
public interface DecodeBackend extends AutoCloseable {
    /** @return the model shape */
    LlamaConfig config();

    /** @return how many sequences the KV cache holds */
    int maxSlots();

    /** @return the most rows one {@link #forward} call takes */
    int maxRowsPerStep();

    /**
     * One step: row {@code i} feeds {@code tokens[i]} at position {@code positions[i]} of sequence slot
     * {@code slots[i]}. Rows of one slot have distinct increasing positions (chunked prefill); a row at
     * position {@code p} attends to positions {@code 0..p} of its slot. Logits are computed for the
     * {@code nLogits} rows listed in {@code logitRows} only, which must be strictly ascending; row
     * {@code logitRows[k]}'s logits become logits row {@code k} for {@link #sample}.
     *
     * @throws IllegalArgumentException for a token, position, slot or row out of range, or {@code logitRows}
     *                                  not strictly ascending
     */
    void forward(int rows, int[] tokens, int[] positions, int[] slots, int nLogits, int[] logitRows);

    /**
     * Samples the next token from logits row {@code k} of the last {@link #forward} with llama2.c's
     * semantics (argmax at temperature 0, else softmax(logits / temperature) then top-p or multinomial),
     * advancing {@code rngState[0]} (llama2.c's xorshift state). May overwrite the logits row.
     */
    int sample(int k, float temperature, float topp, long[] rngState);

    /**
     * {@link #sample} after llama.cpp's repetition penalty over the row's recent tokens and its top-k, in that order
     * ({@link org.sparknative.kernels.llama.Sampler#sampleFiltered}): every backend gives the same token for the same
     * logits. Without a filter ({@link GenerationParams#filters()}) this is {@link #sample}.
     *
     * @param params  the row's settings (temperature, top-p, top-k, repetition penalty)
     * @param recent  the row's latest tokens (at most {@link GenerationParams#PENALTY_LAST_N}), in any order
     * @param nRecent how many of {@code recent} are set
     * @throws UnsupportedOperationException from a backend that cannot filter, for a row that asks it to
     */
    default int sample(int k, GenerationParams params, int[] recent, int nRecent, long[] rngState) {
        if (!params.filters()) {
            return sample(k, params.temperature(), params.topP(), rngState);
        }
        throw new UnsupportedOperationException(getClass().getSimpleName() + " cannot apply top_k or repetition_penalty");
    }

    /**
     * Called after {@link #forward} and before the step's {@link #sample} calls, when some of its logits rows
     * will be sampled at a temperature above 0: {@code sampled[k]} for {@code k < nLogits}. A device backend
     * copies just those rows to the host at once instead of one by one; the default does nothing.
     */
    default void willSample(int nLogits, boolean[] sampled) {
    }

    /**
     * Called when the sequence in {@code slot} has ended (finished or dropped) and before another takes the slot:
     * a backend may hand that slot's KV cache memory back, so that a slot holds only what its current sequence
     * wrote. The next sequence writes every position before reading it. The default does nothing.
     */
    default void slotFreed(int slot) {
    }

    /** Frees the KV cache and scratch memory; idempotent. */
    @Override
    void close();
}

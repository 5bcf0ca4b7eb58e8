package org.sparknative.udf.generate;

import java.io.Serializable;

/**
 * Per-row sampling settings.
 *
 * @param maxNewTokens generated-token budget, {@code >= 0}; llama2.c's {@code -n steps} with a prompt
 *                     of {@code m} tokens (BOS included) corresponds to {@code steps - m + 1}
 * @param temperature  0 for greedy decoding, else the softmax temperature ({@code >= 0})
 * @param topP         nucleus mass in (0, 1]; 1 samples from the whole distribution
 * @param seed         the row's RNG seed (llama2.c's {@code -s}); same seed, same text
 */
public record GenerationParams(int maxNewTokens, float temperature, float topP, long seed) implements Serializable {
    /** Checks ranges; the message names the field. */
    public GenerationParams {
        if (maxNewTokens < 0) {
            throw new IllegalArgumentException("max_new_tokens must be >= 0, got " + maxNewTokens);
        }
        if (!(temperature >= 0f) || Float.isInfinite(temperature)) {
            throw new IllegalArgumentException("temperature must be finite and >= 0, got " + temperature);
        }
        if (!(topP > 0f && topP <= 1f)) {
            throw new IllegalArgumentException("top_p must be in (0, 1], got " + topP);
        }
    }
}

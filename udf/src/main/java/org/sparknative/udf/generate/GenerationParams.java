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
 * @param topK         keep only the k most likely tokens before sampling, {@code >= 0}; 0 keeps all (llama.cpp's
 *                     {@code --top-k}, applied after the repetition penalty and before temperature and top-p)
 * @param repetitionPenalty llama.cpp's {@code --repeat-penalty} over the row's last {@value #PENALTY_LAST_N} tokens
 *                     (prompt included), {@code > 0}; 1 is none. It also applies to greedy decoding
 */
public record GenerationParams(int maxNewTokens, float temperature, float topP, long seed, int topK,
                               float repetitionPenalty) implements Serializable {
    private static final long serialVersionUID = 2L;

    /** How many of a row's latest tokens the repetition penalty looks at: llama.cpp's default {@code --repeat-last-n}. */
    public static final int PENALTY_LAST_N = 64;

    /** Settings without top-k and without a repetition penalty. */
    public GenerationParams(int maxNewTokens, float temperature, float topP, long seed) {
        this(maxNewTokens, temperature, topP, seed, 0, 1f);
    }

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
        if (topK < 0) {
            throw new IllegalArgumentException("top_k must be >= 0, got " + topK);
        }
        if (!(repetitionPenalty > 0f) || Float.isInfinite(repetitionPenalty)) {
            throw new IllegalArgumentException("repetition_penalty must be finite and > 0, got " + repetitionPenalty);
        }
    }

    /** @return whether top-k or the repetition penalty changes the logits before sampling */
    public boolean filters() {
        return topK > 0 || repetitionPenalty != 1f;
    }
}

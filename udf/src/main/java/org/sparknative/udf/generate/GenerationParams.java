package org.sparknative.udf.generate;

import java.io.Serializable;
import java.nio.charset.StandardCharsets;
import java.util.List;

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
 * @param stop         strings that end the row: once the completion contains one, it ends there, without it, with
 *                     finish reason {@code stop} (at most {@value #MAX_STOP_STRINGS}, each 1 to
 *                     {@value #MAX_STOP_BYTES} bytes of UTF-8); empty for none
 */
public record GenerationParams(int maxNewTokens, float temperature, float topP, long seed, int topK,
                               float repetitionPenalty, List<String> stop) implements Serializable {
    private static final long serialVersionUID = 2L;

    /** How many of a row's latest tokens the repetition penalty looks at: llama.cpp's default {@code --repeat-last-n}. */
    public static final int PENALTY_LAST_N = 64;

    /** The most stop strings a row may have. */
    public static final int MAX_STOP_STRINGS = 16;
    /** The longest stop string, in bytes of UTF-8. */
    public static final int MAX_STOP_BYTES = 1024;

    /** Settings without top-k, without a repetition penalty and without stop strings. */
    public GenerationParams(int maxNewTokens, float temperature, float topP, long seed) {
        this(maxNewTokens, temperature, topP, seed, 0, 1f);
    }

    /** Settings without stop strings. */
    public GenerationParams(int maxNewTokens, float temperature, float topP, long seed, int topK, float repetitionPenalty) {
        this(maxNewTokens, temperature, topP, seed, topK, repetitionPenalty, List.of());
    }

    /** @return these settings with {@code stop} as the stop strings */
    public GenerationParams withStop(List<String> stop) {
        return new GenerationParams(maxNewTokens, temperature, topP, seed, topK, repetitionPenalty, stop);
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
        stop = stop == null ? List.of() : List.copyOf(stop); // also refuses a null element
        if (stop.size() > MAX_STOP_STRINGS) {
            throw new IllegalArgumentException("stop takes at most " + MAX_STOP_STRINGS + " strings, got " + stop.size());
        }
        for (String s : stop) {
            int bytes = s.getBytes(StandardCharsets.UTF_8).length;
            if (bytes < 1 || bytes > MAX_STOP_BYTES) {
                throw new IllegalArgumentException("stop strings must be 1 to " + MAX_STOP_BYTES + " bytes, got "
                    + bytes + " bytes");
            }
        }
    }

    /** @return whether top-k or the repetition penalty changes the logits before sampling */
    public boolean filters() {
        return topK > 0 || repetitionPenalty != 1f;
    }
}

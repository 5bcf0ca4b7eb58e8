package org.sparknative.kernels.llama;

import java.io.ByteArrayOutputStream;
import java.util.Arrays;
import java.util.Objects;

/**
 * llama2.c's generation loop (karpathy/llama2.c {@code run.c} {@code generate()}) on
 * {@link ReferenceTransformer}, {@link Tokenizer} and {@link Sampler}.
 *
 * <p>The prompt is encoded with BOS and without EOS; position 0 is fed BOS, prompt tokens are forced
 * while the prompt lasts, and every later logits vector is sampled. Generation stops when the sampled
 * token is BOS or EOS (finish reason {@code "stop"}; the stop token is not part of the completion), or
 * after {@code maxNewTokens} sampled tokens, or when the next token would have to be fed at position
 * {@code seq_len} ({@code "length"}).
 *
 * <p>Relation to the llama2.c command line: {@code run -n steps} runs {@code steps} forward passes and
 * samples after every one that is not forcing a prompt token, so it generates
 * {@code steps - (promptTokens - 1)} tokens (BOS counted in {@code promptTokens}); with an empty prompt
 * {@code -n 200} is {@code maxNewTokens = 200}. llama2.c stops only on BOS; it prints every piece through
 * {@code safe_printf}, which drops single non-printable bytes, while the completion here keeps every byte
 * and decodes the whole byte string as UTF-8 (so byte-fallback characters survive).
 *
 * <p>Threading: stateless itself, but it drives {@code model}, which is not thread-safe; the model's
 * KV cache is overwritten from position 0.
 */
public final class ReferenceGenerator {
    private ReferenceGenerator() {
    }

    /**
     * The result of one generation.
     *
     * @param completion       the generated text (prompt excluded), UTF-8 decoded with U+FFFD for
     *                         malformed bytes
     * @param promptTokens     the encoded prompt, starting with BOS
     * @param completionTokens the sampled tokens, stop token excluded
     * @param finishReason     {@code "stop"} (BOS or EOS sampled) or {@code "length"}
     */
    public record Result(String completion, int[] promptTokens, int[] completionTokens, String finishReason) {
        @Override
        public String toString() {
            return "Result[finishReason=" + finishReason + ", promptTokens=" + Arrays.toString(promptTokens)
                + ", completionTokens=" + Arrays.toString(completionTokens) + ", completion=" + completion + "]";
        }
    }

    /**
     * Generates a completion.
     *
     * @param promptUtf8   the prompt bytes (normally UTF-8; may be empty)
     * @param maxNewTokens the most tokens to sample, {@code >= 0}
     * @param temperature  {@code >= 0}; 0 is greedy
     * @param topp         nucleus threshold; {@code <= 0} or {@code >= 1} samples from the full distribution
     * @param seed         RNG seed, mapped to a state by {@link Sampler#seedState}
     * @throws IllegalArgumentException if the tokenizer's vocabulary differs from the model's, the prompt
     *                                  does not fit in {@code seq_len}, or an argument is out of range
     */
    public static Result generate(ReferenceTransformer model, Tokenizer tok, byte[] promptUtf8, int maxNewTokens,
                                  float temperature, float topp, long seed) {
        Objects.requireNonNull(model, "model");
        Objects.requireNonNull(tok, "tok");
        Objects.requireNonNull(promptUtf8, "promptUtf8");
        LlamaConfig c = model.config();
        if (tok.vocabSize() != c.vocabSize()) {
            throw new IllegalArgumentException("tokenizer vocab_size " + tok.vocabSize() + " does not match the model's "
                + c.vocabSize());
        }
        if (maxNewTokens < 0) {
            throw new IllegalArgumentException("maxNewTokens must be >= 0, got " + maxNewTokens);
        }
        if (!(temperature >= 0f)) {
            throw new IllegalArgumentException("temperature must be >= 0, got " + temperature);
        }
        if (Float.isNaN(topp)) {
            throw new IllegalArgumentException("topp must be a number, got NaN");
        }
        int[] prompt = tok.encode(promptUtf8, true, false);
        if (prompt.length > c.seqLen()) {
            throw new IllegalArgumentException("prompt is " + prompt.length + " tokens, more than seq_len " + c.seqLen());
        }
        long[] rng = {Sampler.seedState(seed)};
        int[] out = new int[Math.min(maxNewTokens, c.seqLen())];
        int generated = 0;
        ByteArrayOutputStream text = new ByteArrayOutputStream();
        String finish = "length";
        int token = prompt[0];
        int pos = 0;
        while (pos < c.seqLen()) {
            boolean forcing = pos < prompt.length - 1;
            if (!forcing && generated >= maxNewTokens) {
                break;
            }
            float[] logits = model.forward(token, pos);
            int next;
            if (forcing) {
                next = prompt[pos + 1];
            } else {
                next = Sampler.sample(logits, c.vocabSize(), temperature, topp, rng);
                if (next == Tokenizer.BOS || next == Tokenizer.EOS) {
                    finish = "stop";
                    break;
                }
                out[generated++] = next;
                text.writeBytes(tok.decode(token, next));
            }
            token = next;
            pos++;
        }
        return new Result(Tokenizer.decodeUtf8(text.toByteArray()), prompt, Arrays.copyOf(out, generated), finish);
    }
}

package org.sparknative.udf.generate;

import org.apache.arrow.memory.ArrowBuf;

/**
 * A tokenizer as the {@link ContinuousBatcher} uses it: UTF-8 prompt bytes straight out of an Arrow
 * buffer to token ids, and token ids back to bytes, with llama2.c's encode/decode semantics.
 *
 * <p>Threading: implementations are immutable and thread-safe.
 */
public interface TokenCodec {
    /** @return the vocabulary size; must equal the model's */
    int vocabSize();

    /**
     * Encodes {@code length} UTF-8 bytes at {@code offset} of {@code buf} with a leading BOS (no EOS).
     *
     * @param out receives the ids; needs {@code length + 3} entries
     * @return the number of ids written
     */
    int encode(ArrowBuf buf, long offset, int length, int[] out);

    /** @return the bytes {@code token} contributes to the text after {@code prevToken} (llama2.c decode) */
    byte[] decode(int prevToken, int token);
}

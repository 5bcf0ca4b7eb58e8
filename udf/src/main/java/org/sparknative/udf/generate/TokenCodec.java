package org.sparknative.udf.generate;

/**
 * A tokenizer as the {@link ContinuousBatcher} uses it: UTF-8 prompt bytes to token ids, and token ids
 * back to bytes, with llama2.c's encode/decode semantics. Prompts come either off-heap, as an address
 * and a length (the Arrow layer hands over its buffers this way, without a copy), or as a byte array.
 *
 * <p>Threading: implementations are immutable and thread-safe.
 */
public interface TokenCodec {
    /** @return the vocabulary size; must equal the model's */
    int vocabSize();

    /** @return the longest piece of the vocabulary in bytes: a prompt of B bytes is at least {@code B / this} tokens */
    int maxPieceBytes();

    /** @return whether {@link #encode(long, int, int[])} is supported (else give prompts as byte arrays) */
    boolean readsOffHeap();

    /**
     * Encodes {@code length} UTF-8 bytes at off-heap {@code address} with a leading BOS (no EOS). The
     * caller guarantees that the bytes are readable.
     *
     * @param out receives the ids; needs {@code length + 3} entries
     * @return the number of ids written
     * @throws UnsupportedOperationException unless {@link #readsOffHeap()}
     */
    int encode(long address, int length, int[] out);

    /**
     * Encodes {@code utf8} with a leading BOS (no EOS).
     *
     * @param out receives the ids; needs {@code utf8.length + 3} entries
     * @return the number of ids written
     */
    int encode(byte[] utf8, int[] out);

    /** @return the bytes {@code token} contributes to the text after {@code prevToken} (llama2.c decode) */
    byte[] decode(int prevToken, int token);
}

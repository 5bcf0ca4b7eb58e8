package org.sparknative.kernels.llama;

import java.util.Locale;

/**
 * Text holds a byte that is not part of any piece and has no byte-fallback token in the vocabulary (id
 * {@code byte + 3} is missing or is not the piece {@code <0xXX>} of that byte). Both tokenizers,
 * {@link Tokenizer} and {@link NativeTokenizer}, throw it for the same text with the same offset, rather
 * than drop or misencode the byte. The llama2.c vocabularies have all 256 byte tokens, so they never do.
 */
public final class UnencodableTextException extends IllegalArgumentException {
    private static final long serialVersionUID = 1L;

    private final int offset;
    private final int byteValue;

    /**
     * @param offset    the byte's offset in the encoded text
     * @param byteValue the byte, {@code 0 .. 255}
     * @param vocabSize the vocabulary's size, for the message
     */
    public UnencodableTextException(int offset, int byteValue, int vocabSize) {
        super(String.format(Locale.ROOT, "byte 0x%02X at offset %d of the text has no byte-fallback token:"
                + " the vocabulary (%d tokens) has no <0x%02X> at id %d", byteValue, offset, vocabSize, byteValue,
            byteValue + Tokenizer.BYTE_OFFSET));
        this.offset = offset;
        this.byteValue = byteValue;
    }

    /** @return the offset of the byte in the text, counted in bytes from 0 */
    public int offset() {
        return offset;
    }

    /** @return the byte, {@code 0 .. 255} */
    public int byteValue() {
        return byteValue;
    }
}

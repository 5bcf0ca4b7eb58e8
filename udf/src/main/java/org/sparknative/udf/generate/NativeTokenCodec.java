package org.sparknative.udf.generate;

import org.apache.arrow.memory.ArrowBuf;
import org.sparknative.kernels.llama.NativeTokenizer;

/**
 * {@link TokenCodec} over the C tokenizer: the prompt's bytes are encoded where Arrow stored them, by
 * address, without a copy or a Java String.
 */
public final class NativeTokenCodec implements TokenCodec {
    private final NativeTokenizer tokenizer;

    public NativeTokenCodec(NativeTokenizer tokenizer) {
        this.tokenizer = tokenizer;
    }

    @Override
    public int vocabSize() {
        return tokenizer.vocabSize();
    }

    @Override
    public int encode(ArrowBuf buf, long offset, int length, int[] out) {
        if (offset < 0 || length < 0 || offset + length > buf.capacity()) {
            throw new IllegalArgumentException("prompt bytes [" + offset + ", " + (offset + length)
                + ") outside the Arrow buffer of " + buf.capacity() + " bytes");
        }
        return tokenizer.encode(buf.memoryAddress() + offset, length, true, false, out);
    }

    @Override
    public byte[] decode(int prevToken, int token) {
        return tokenizer.decode(prevToken, token);
    }
}

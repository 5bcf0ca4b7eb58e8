package org.sparknative.udf.generate;

import org.apache.arrow.memory.ArrowBuf;
import org.sparknative.kernels.llama.Tokenizer;

/** {@link TokenCodec} over the pure-Java {@link Tokenizer} (copies the prompt bytes; for tests and baselines). */
public final class JavaTokenCodec implements TokenCodec {
    private final Tokenizer tokenizer;

    public JavaTokenCodec(Tokenizer tokenizer) {
        this.tokenizer = tokenizer;
    }

    @Override
    public int vocabSize() {
        return tokenizer.vocabSize();
    }

    @Override
    public int encode(ArrowBuf buf, long offset, int length, int[] out) {
        byte[] bytes = new byte[length];
        buf.getBytes(offset, bytes);
        int[] ids = tokenizer.encode(bytes, true, false);
        System.arraycopy(ids, 0, out, 0, ids.length);
        return ids.length;
    }

    @Override
    public byte[] decode(int prevToken, int token) {
        return tokenizer.decode(prevToken, token);
    }
}

package org.sparknative.udf.generate;

import org.sparknative.kernels.llama.Tokenizer;

/**
 * {@link TokenCodec} over the pure-Java {@link Tokenizer}, for tests and baselines. It reads prompts as
 * byte arrays only ({@link #readsOffHeap()} is false): the Arrow layer hands it copies.
 */
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
    public int maxPieceBytes() {
        return tokenizer.maxTokenLength();
    }

    @Override
    public boolean readsOffHeap() {
        return false;
    }

    /** @throws UnsupportedOperationException always: the Java tokenizer reads byte arrays */
    @Override
    public int encode(long address, int length, int[] out) {
        throw new UnsupportedOperationException("the Java tokenizer reads prompts as byte arrays, not addresses");
    }

    @Override
    public int encode(byte[] utf8, int[] out) {
        int[] ids = tokenizer.encode(utf8, true, false);
        System.arraycopy(ids, 0, out, 0, ids.length);
        return ids.length;
    }

    @Override
    public byte[] decode(int prevToken, int token) {
        return tokenizer.decode(prevToken, token);
    }
}

package org.sparknative.udf.generate;

import org.sparknative.kernels.llama.NativeTokenizer;

/**
 * {@link TokenCodec} over the C tokenizer: off-heap prompt bytes are encoded where they lie, by address,
 * without a copy or a Java String.
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
    public int maxPieceBytes() {
        return tokenizer.maxPieceBytes();
    }

    @Override
    public boolean readsOffHeap() {
        return true;
    }

    @Override
    public int encode(long address, int length, int[] out) {
        return tokenizer.encode(address, length, true, false, out);
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

package org.sparknative.udf.generate;

import org.sparknative.kernels.llama.NativeTokenizer;
import org.sparknative.udf.ExecutorMetrics;

/**
 * {@link TokenCodec} over the C tokenizer: off-heap prompt bytes are encoded where they lie, by address,
 * without a copy or a Java String. Encoding and decoding count as native time in {@link ExecutorMetrics}.
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
        long t0 = System.nanoTime();
        try {
            return tokenizer.encode(address, length, true, false, out);
        } finally {
            ExecutorMetrics.nativeCallSince(t0);
        }
    }

    @Override
    public int encode(byte[] utf8, int[] out) {
        long t0 = System.nanoTime();
        int[] ids;
        try {
            ids = tokenizer.encode(utf8, true, false);
        } finally {
            ExecutorMetrics.nativeCallSince(t0);
        }
        System.arraycopy(ids, 0, out, 0, ids.length);
        return ids.length;
    }

    @Override
    public byte[] decode(int prevToken, int token) {
        long t0 = System.nanoTime();
        try {
            return tokenizer.decode(prevToken, token);
        } finally {
            ExecutorMetrics.nativeCallSince(t0);
        }
    }
}

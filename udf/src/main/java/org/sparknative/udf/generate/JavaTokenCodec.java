package org.sparknative.udf.generate;

import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.Pointer;
import org.sparknative.kernels.llama.Tokenizer;

/**
 * {@link TokenCodec} over the pure-Java {@link Tokenizer}, for tests and baselines. Off-heap prompts are
 * copied into a byte array first: the Java tokenizer reads Java memory.
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
    public int encode(long address, int length, int[] out) {
        byte[] bytes = new byte[length];
        if (length > 0) {
            new BytePointer(new OffHeap(address, length)).get(bytes);
        }
        return encode(bytes, out);
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

    /** A JavaCPP view of {@code length} bytes at {@code address}; owns nothing. */
    private static final class OffHeap extends Pointer {
        OffHeap(long address, long length) {
            this.address = address;
            this.limit = length;
            this.capacity = length;
        }
    }
}

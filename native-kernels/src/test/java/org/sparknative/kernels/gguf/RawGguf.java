package org.sparknative.kernels.gguf;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * Builds GGUF bytes field by field, valid or not, for the tests of what {@link GgufFile#open} refuses (the writer
 * only writes valid files).
 */
final class RawGguf {
    private ByteBuffer b = ByteBuffer.allocate(1 << 12).order(ByteOrder.LITTLE_ENDIAN);

    /** The 24-byte header: magic, version, tensor count, key/value count. */
    static RawGguf header(int version, long tensors, long kvs) {
        return new RawGguf().u32(GgufFile.MAGIC).u32(version).u64(tensors).u64(kvs);
    }

    private void room(int n) {
        if (b.remaining() < n) {
            ByteBuffer bigger = ByteBuffer.allocate(Math.max(b.capacity() * 2, b.position() + n)).order(ByteOrder.LITTLE_ENDIAN);
            b.flip();
            bigger.put(b);
            b = bigger;
        }
    }

    RawGguf u8(int v) {
        room(1);
        b.put((byte) v);
        return this;
    }

    RawGguf u32(int v) {
        room(4);
        b.putInt(v);
        return this;
    }

    RawGguf u64(long v) {
        room(8);
        b.putLong(v);
        return this;
    }

    RawGguf f32(float v) {
        return u32(Float.floatToRawIntBits(v));
    }

    RawGguf bytes(byte[] v) {
        room(v.length);
        b.put(v);
        return this;
    }

    RawGguf str(String s) {
        byte[] v = s.getBytes(StandardCharsets.UTF_8);
        return u64(v.length).bytes(v);
    }

    /** A key/value of type UINT32. */
    RawGguf kvU32(String key, int v) {
        return str(key).u32(GgufValueType.UINT32.id()).u32(v);
    }

    /** A key/value of type STRING. */
    RawGguf kvString(String key, String v) {
        return str(key).u32(GgufValueType.STRING.id()).str(v);
    }

    /** A tensor info. */
    RawGguf tensor(String name, GgmlType type, long offset, long... dims) {
        return tensor(name, type.id(), offset, dims);
    }

    /** A tensor info with any type id. */
    RawGguf tensor(String name, int typeId, long offset, long... dims) {
        str(name).u32(dims.length);
        for (long d : dims) {
            u64(d);
        }
        return u32(typeId).u64(offset);
    }

    /** Zeros up to the next multiple of {@code alignment}. */
    RawGguf pad(int alignment) {
        int n = (alignment - position() % alignment) % alignment;
        return bytes(new byte[n]);
    }

    /** {@code n} zero bytes (tensor data). */
    RawGguf zeros(int n) {
        return bytes(new byte[n]);
    }

    int position() {
        return b.position();
    }

    byte[] toBytes() {
        return Arrays.copyOf(b.array(), b.position());
    }
}

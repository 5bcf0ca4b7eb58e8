package org.sparknative.kernels.gguf;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.channels.WritableByteChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Writes a little-endian GGUF file (the layout of ggml's {@code docs/gguf.md}, described on {@link GgufFile}):
 * version 3 by default, or 2 on request; metadata of every {@link GgufValueType} in insertion order; tensors of any
 * sized {@link GgmlType} in insertion order, each at the next multiple of the alignment in the data section, padded
 * with zeros (after the last tensor too, as ggml writes). What it writes, {@link GgufFile#open} reads back as written.
 *
 * <p>The alignment is {@value GgufFile#DEFAULT_ALIGNMENT} unless {@link #alignment(int)} (or putting
 * {@value GgufFile#ALIGNMENT_KEY} as a UINT32) sets another power of two; the key is written only then. Names and
 * shapes are checked as the reader checks them, and more strictly where llama.cpp is: tensor names are at most 63
 * bytes (ggml's {@code GGML_MAX_NAME} - 1).
 *
 * <p>A builder: not thread-safe. Tensor data is kept by reference until written (a {@code ByteBuffer}'s remaining
 * bytes at the time of {@link #addTensor(String, GgmlType, long[], ByteBuffer)}; do not change it before writing).
 */
public final class GgufWriter {
    /** The longest tensor name llama.cpp loads, in bytes. */
    public static final int MAX_TENSOR_NAME_BYTES = 63;

    private int version = 3;
    private int alignment = GgufFile.DEFAULT_ALIGNMENT;
    private final Map<String, GgufValue> metadata = new LinkedHashMap<>();
    private final List<Pending> tensors = new ArrayList<>();

    private record Pending(String name, GgmlType type, long[] dims, ByteBuffer data) {
    }

    /** A writer of version 3 with no metadata and no tensors. */
    public GgufWriter() {
    }

    /**
     * @param version 2 or 3 (for little-endian files they differ in the version field only)
     * @return this
     * @throws IllegalArgumentException for any other version
     */
    public GgufWriter version(int version) {
        if (version != 2 && version != 3) {
            throw new IllegalArgumentException("GGUF version: expected 2 or 3, got " + version);
        }
        this.version = version;
        return this;
    }

    /**
     * Sets the data alignment and records it as {@value GgufFile#ALIGNMENT_KEY} (UINT32).
     *
     * @param alignment a power of two, in bytes
     * @return this
     * @throws IllegalArgumentException if it is not a positive power of two
     */
    public GgufWriter alignment(int alignment) {
        return put(GgufFile.ALIGNMENT_KEY, GgufValue.uint32(alignment));
    }

    /**
     * Adds or replaces a key/value (a replaced key keeps its place).
     *
     * @param key   a non-empty key of at most 65535 bytes of UTF-8
     * @param value its value; for {@value GgufFile#ALIGNMENT_KEY}, a UINT32 power of two, which sets the alignment
     * @return this
     * @throws IllegalArgumentException if the key or the alignment is invalid
     */
    public GgufWriter put(String key, GgufValue value) {
        Objects.requireNonNull(value, "value");
        int keyBytes = key.getBytes(StandardCharsets.UTF_8).length;
        if (keyBytes == 0 || keyBytes > GgufFile.MAX_KEY_BYTES) {
            throw new IllegalArgumentException("metadata key '" + key + "': expected 1 to " + GgufFile.MAX_KEY_BYTES
                + " bytes, got " + keyBytes);
        }
        if (key.equals(GgufFile.ALIGNMENT_KEY)) {
            if (value.type() != GgufValueType.UINT32) {
                throw new IllegalArgumentException(key + ": expected a UINT32, got " + value.describe());
            }
            long a = value.longValue();
            if (a == 0 || (a & (a - 1)) != 0 || a > Integer.MAX_VALUE) {
                throw new IllegalArgumentException(key + ": expected a power of two, got " + a);
            }
            alignment = (int) a;
        }
        metadata.put(key, value);
        return this;
    }

    /** Puts a STRING; returns this. */
    public GgufWriter putString(String key, String value) {
        return put(key, GgufValue.string(value));
    }

    /** Puts a UINT32 (0 to 2^32-1); returns this. */
    public GgufWriter putUint32(String key, long value) {
        return put(key, GgufValue.uint32(value));
    }

    /** Puts an INT32; returns this. */
    public GgufWriter putInt32(String key, int value) {
        return put(key, GgufValue.int32(value));
    }

    /** Puts a FLOAT32; returns this. */
    public GgufWriter putFloat32(String key, float value) {
        return put(key, GgufValue.float32(value));
    }

    /** Puts a BOOL; returns this. */
    public GgufWriter putBool(String key, boolean value) {
        return put(key, GgufValue.bool(value));
    }

    /** Puts an ARRAY of STRING; returns this. */
    public GgufWriter putStringArray(String key, String... values) {
        return put(key, GgufValue.stringArray(values));
    }

    /** Puts an ARRAY of FLOAT32; returns this. */
    public GgufWriter putFloat32Array(String key, float... values) {
        return put(key, GgufValue.float32Array(values));
    }

    /** Puts an ARRAY of INT32; returns this. */
    public GgufWriter putInt32Array(String key, int... values) {
        return put(key, GgufValue.int32Array(values));
    }

    /**
     * Adds a tensor from its encoded bytes.
     *
     * @param name a unique name of at most {@value #MAX_TENSOR_NAME_BYTES} bytes of UTF-8
     * @param type its type, not a removed one
     * @param dims 1 to 4 positive dimensions, {@code ne0} (row length, a multiple of the type's block size) first
     * @param data exactly {@code type.byteSize(product of dims)} bytes, from position to limit; kept by reference
     * @return this
     * @throws IllegalArgumentException if a name, shape or size is invalid
     */
    public GgufWriter addTensor(String name, GgmlType type, long[] dims, ByteBuffer data) {
        Objects.requireNonNull(type, "type");
        int nameBytes = name.getBytes(StandardCharsets.UTF_8).length;
        if (nameBytes > MAX_TENSOR_NAME_BYTES) {
            throw new IllegalArgumentException("tensor '" + name + "': name of " + nameBytes + " bytes, expected at most "
                + MAX_TENSOR_NAME_BYTES);
        }
        for (Pending p : tensors) {
            if (p.name.equals(name)) {
                throw new IllegalArgumentException("tensor '" + name + "': duplicate name");
            }
        }
        if (dims.length < 1 || dims.length > GgufFile.MAX_DIMS) {
            throw new IllegalArgumentException("tensor '" + name + "': " + dims.length + " dims, expected 1 to "
                + GgufFile.MAX_DIMS);
        }
        long elements = 1;
        for (long d : dims) {
            if (d <= 0) {
                throw new IllegalArgumentException("tensor '" + name + "': dims " + Arrays.toString(dims)
                    + ", expected positive");
            }
            elements = Math.multiplyExact(elements, d);
        }
        if (type.isRemoved() || dims[0] % type.blockSize() != 0) {
            throw new IllegalArgumentException("tensor '" + name + "': row length " + dims[0] + " of type " + type
                + ", expected a multiple of its block size " + type.blockSize());
        }
        long bytes = type.byteSize(elements);
        if (data.remaining() != bytes) {
            throw new IllegalArgumentException("tensor '" + name + "' " + type + " " + Arrays.toString(dims) + ": expected "
                + bytes + " bytes of data, got " + data.remaining());
        }
        tensors.add(new Pending(name, type, dims.clone(), data.slice()));
        return this;
    }

    /** Adds a tensor from its encoded bytes, as {@link #addTensor(String, GgmlType, long[], ByteBuffer)}; returns this. */
    public GgufWriter addTensor(String name, GgmlType type, long[] dims, byte[] data) {
        return addTensor(name, type, dims, ByteBuffer.wrap(data));
    }

    /**
     * Adds a tensor from float values, converted to a {@linkplain GgmlType#isSupported() supported} type by {@link
     * Quants#quantize} (the reference quantizers, for Q8_0 and Q4_0).
     *
     * @param name   as {@link #addTensor(String, GgmlType, long[], ByteBuffer)}
     * @param type   F32, F16, BF16, Q8_0 or Q4_0
     * @param dims   as there; their product is {@code values.length}
     * @param values the elements, row after row
     * @return this
     */
    public GgufWriter addTensor(String name, GgmlType type, long[] dims, float[] values) {
        long elements = 1;
        for (long d : dims) {
            elements = Math.multiplyExact(elements, d);
        }
        if (elements != values.length) {
            throw new IllegalArgumentException("tensor '" + name + "' " + Arrays.toString(dims) + ": " + elements
                + " elements, got " + values.length + " values");
        }
        if (!type.isRemoved() && dims.length > 0 && dims[0] > 0 && dims[0] % type.blockSize() != 0) {
            throw new IllegalArgumentException("tensor '" + name + "': row length " + dims[0] + " of type " + type
                + ", expected a multiple of its block size " + type.blockSize());
        }
        return addTensor(name, type, dims, Quants.quantize(type, values));
    }

    /**
     * Writes the file, replacing any file at {@code file}.
     *
     * @param file where
     * @throws UncheckedIOException if it cannot be written
     */
    public void write(Path file) {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
            StandardOpenOption.TRUNCATE_EXISTING)) {
            write(ch);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + file, e);
        }
    }

    /** @return the whole file's bytes (for tests and small files) */
    public byte[] toBytes() {
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        try {
            write(java.nio.channels.Channels.newChannel(out));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toByteArray();
    }

    /**
     * Writes the file to a channel, from the header to the last tensor's padding.
     *
     * @param out where
     * @throws IOException if writing fails
     */
    public void write(WritableByteChannel out) throws IOException {
        Out h = new Out();
        h.u32(GgufFile.MAGIC).u32(version).u64(tensors.size()).u64(metadata.size());
        for (Map.Entry<String, GgufValue> e : metadata.entrySet()) {
            h.string(e.getKey());
            h.u32(e.getValue().type().id());
            h.value(e.getValue());
        }
        long offset = 0;
        for (int i = 0; i < tensors.size(); i++) {
            Pending t = tensors.get(i);
            h.string(t.name).u32(t.dims.length);
            for (long d : t.dims) {
                h.u64(d);
            }
            h.u32(t.type.id()).u64(offset);
            offset = pad(offset + t.data.remaining());
        }
        h.zeros((int) (pad(h.size()) - h.size()));
        writeFully(out, h.buffer());
        for (Pending t : tensors) {
            writeFully(out, t.data.duplicate());
            int padding = (int) (pad(t.data.remaining()) - t.data.remaining());
            writeFully(out, ByteBuffer.allocate(padding));
        }
    }

    private long pad(long n) {
        return n + (alignment - n % alignment) % alignment;
    }

    private static void writeFully(WritableByteChannel out, ByteBuffer b) throws IOException {
        while (b.hasRemaining()) {
            out.write(b);
        }
    }

    /** A growing little-endian buffer for the header region. */
    private static final class Out {
        private ByteBuffer b = ByteBuffer.allocate(1 << 12).order(ByteOrder.LITTLE_ENDIAN);

        private void room(int n) {
            if (b.remaining() < n) {
                long cap = Math.max((long) b.capacity() * 2, (long) b.position() + n);
                ByteBuffer bigger = ByteBuffer.allocate((int) Math.min(cap, Integer.MAX_VALUE - 8))
                    .order(ByteOrder.LITTLE_ENDIAN);
                b.flip();
                bigger.put(b);
                b = bigger;
            }
        }

        int size() {
            return b.position();
        }

        ByteBuffer buffer() {
            return b.duplicate().flip();
        }

        Out u8(int v) {
            room(1);
            b.put((byte) v);
            return this;
        }

        Out u16(int v) {
            room(2);
            b.putShort((short) v);
            return this;
        }

        Out u32(int v) {
            room(4);
            b.putInt(v);
            return this;
        }

        Out u64(long v) {
            room(8);
            b.putLong(v);
            return this;
        }

        Out zeros(int n) {
            room(n);
            b.put(new byte[n]);
            return this;
        }

        Out string(String s) {
            byte[] bytes = s.getBytes(StandardCharsets.UTF_8);
            u64(bytes.length);
            room(bytes.length);
            b.put(bytes);
            return this;
        }

        /** The value's bytes, without its type (a key's type, or an array's element type, is written before). */
        void value(GgufValue v) {
            Object o = v.value();
            switch (v.type()) {
                case UINT8, INT8 -> u8((int) (long) (Long) o);
                case UINT16, INT16 -> u16((int) (long) (Long) o);
                case UINT32, INT32 -> u32((int) (long) (Long) o);
                case UINT64, INT64 -> u64((Long) o);
                case FLOAT32 -> u32(Float.floatToRawIntBits((Float) o));
                case FLOAT64 -> u64(Double.doubleToRawLongBits((Double) o));
                case BOOL -> u8((Boolean) o ? 1 : 0);
                case STRING -> string((String) o);
                case ARRAY -> array(v.elementType(), o);
            }
        }

        private void array(GgufValueType element, Object o) {
            u32(element.id());
            u64(java.lang.reflect.Array.getLength(o));
            if (o instanceof byte[] a) {
                room(a.length);
                b.put(a);
            } else if (o instanceof short[] a) {
                for (short x : a) {
                    u16(x);
                }
            } else if (o instanceof int[] a) {
                for (int x : a) {
                    u32(x);
                }
            } else if (o instanceof long[] a) {
                for (long x : a) {
                    u64(x);
                }
            } else if (o instanceof float[] a) {
                for (float x : a) {
                    u32(Float.floatToRawIntBits(x));
                }
            } else if (o instanceof double[] a) {
                for (double x : a) {
                    u64(Double.doubleToRawLongBits(x));
                }
            } else if (o instanceof boolean[] a) {
                for (boolean x : a) {
                    u8(x ? 1 : 0);
                }
            } else if (o instanceof String[] a) {
                for (String x : a) {
                    string(x);
                }
            } else {
                for (GgufValue x : (GgufValue[]) o) {
                    array(x.elementType(), x.value());
                }
            }
        }
    }
}

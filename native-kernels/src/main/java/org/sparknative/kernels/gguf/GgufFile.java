package org.sparknative.kernels.gguf;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * A validated GGUF file (the llama.cpp model format; the specification is ggml's {@code docs/gguf.md}): its version,
 * every metadata key/value, and every tensor's type, shape and place in the file. Opening reads the header region
 * (header, metadata, tensor infos) through a {@link FileChannel}; the tensor data stays on disk and is {@linkplain
 * #map mapped} on request.
 *
 * <h2>What is read</h2>
 * Little-endian GGUF version 2 or 3 (the two differ only in that 3 allows big-endian files; version 1, with 32-bit
 * counts, is refused, as ggml does). Layout: the magic {@code "GGUF"}, uint32 version, uint64 tensor count, uint64
 * metadata count, the key/values (a string key, a uint32 {@link GgufValueType}, the value), the tensor infos (a
 * string name, uint32 n_dims, n_dims uint64 dims with {@code ne0} first, a uint32 {@link GgmlType} id, a uint64 offset
 * relative to the data section), zero padding to {@link #alignment()}, then the data section. Strings are a uint64
 * byte count and UTF-8 (decoded with replacement of malformed bytes).
 *
 * <h2>What is validated, before anything is allocated or mapped</h2>
 * Every length and count against the bytes left in the file (a string's length; an array's count times its element's
 * smallest size; the tensor and key/value counts times the smallest tensor info and key/value), so that a lying file
 * costs neither time nor memory; a big-endian file (its version reads as {@code 0x03000000}); unknown value types;
 * bools other than 0 and 1; empty, over-long or duplicate keys; arrays nested deeper than {@value #MAX_ARRAY_DEPTH};
 * {@value #ALIGNMENT_KEY}, which must be a UINT32 power of two (default {@value #DEFAULT_ALIGNMENT}); tensor names
 * (at most {@value #MAX_TENSOR_NAME_BYTES} bytes, unique); n_dims (1 to {@value #MAX_DIMS}); dims (positive, their
 * product and the byte size without overflow); the type id (known, not removed); the row length {@code ne0} a
 * multiple of the type's block size (as ggml requires, so that rows are whole blocks); each offset a multiple of the
 * alignment; each tensor inside the file; no two tensors overlapping. A failure is a {@link GgufException} naming the
 * file, the key or tensor, and expected vs actual; never another runtime exception, and never an allocation larger
 * than the file justifies.
 *
 * <p>Immutable and thread-safe after {@link #open}: the object holds no open file; each {@link #map} opens the file,
 * maps and closes it (the mapping stays valid).
 */
public final class GgufFile {
    /** {@code "GGUF"} read as a little-endian uint32. */
    public static final int MAGIC = 0x4655_4747;
    /** The metadata key of the data alignment. */
    public static final String ALIGNMENT_KEY = "general.alignment";
    /** The alignment when {@value #ALIGNMENT_KEY} is absent. */
    public static final int DEFAULT_ALIGNMENT = 32;
    /** The most dimensions a tensor may have (ggml's {@code GGML_MAX_DIMS}). */
    public static final int MAX_DIMS = 4;
    /** The longest tensor name, in bytes (the specification's limit). */
    public static final int MAX_TENSOR_NAME_BYTES = 64;
    /** The longest metadata key, in bytes (the specification's limit). */
    public static final int MAX_KEY_BYTES = 65_535;
    /** How deep arrays may nest (an array of arrays is depth 2); bounds the parser's recursion. */
    public static final int MAX_ARRAY_DEPTH = 8;
    /** The largest string or array this reader holds: a Java array's limit. */
    static final int MAX_JAVA_ARRAY = Integer.MAX_VALUE - 8;
    /** Bytes of the fixed header: magic, version, tensor count, key/value count. */
    static final int HEADER_BYTES = 24;
    /** The smallest tensor info: an empty name (8), n_dims (4), one dim (8), type (4), offset (8). */
    static final int MIN_TENSOR_INFO_BYTES = 32;
    /** The smallest key/value: a one-byte key (9), the type (4), a one-byte value (1). */
    static final int MIN_KV_BYTES = 14;

    private final Path path;
    private final String location;
    private final long fileBytes;
    private final int version;
    private final Map<String, GgufValue> metadata;
    private final List<GgufTensor> tensors;
    private final Map<String, GgufTensor> byName;
    private final int alignment;
    private final long dataOffset;

    private GgufFile(Path path, String location, long fileBytes, int version, Map<String, GgufValue> metadata, List<GgufTensor> tensors,
                     int alignment, long dataOffset) {
        this.path = path;
        this.location = location;
        this.fileBytes = fileBytes;
        this.version = version;
        this.metadata = Collections.unmodifiableMap(metadata);
        this.tensors = List.copyOf(tensors);
        Map<String, GgufTensor> names = new HashMap<>();
        for (GgufTensor t : tensors) {
            names.put(t.name(), t);
        }
        this.byName = names;
        this.alignment = alignment;
        this.dataOffset = dataOffset;
    }

    /**
     * Reads and validates the header region of a GGUF file (see the class comment for what is checked).
     *
     * @param file the file
     * @return the validated file
     * @throws GgufException if the file is missing, unreadable, or not a valid little-endian GGUF v2/v3 file; the
     *                       message names the file, what is wrong, and expected vs actual
     */
    public static GgufFile open(Path file) {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            return new Parser(file, file.toString(), ch::read, ch.size()).parse();
        } catch (NoSuchFileException e) {
            throw new GgufException(file, "GGUF file not found");
        } catch (IOException e) {
            throw new GgufException(file, "cannot read GGUF file: " + e, e);
        }
    }

    /**
     * Positional reads of a file's bytes: {@code read(dst, position)} reads into {@code dst} from {@code position}
     * as {@link FileChannel#read(ByteBuffer, long)} does (returns the bytes read, -1 at the end of the file).
     */
    @FunctionalInterface
    public interface Source {
        /**
         * @param dst      the buffer to fill from its position
         * @param position the file offset of the first byte to read
         * @return bytes read, or -1 at the end of the file
         * @throws IOException if the read fails
         */
        int read(ByteBuffer dst, long position) throws IOException;
    }

    /**
     * Reads and validates the header region of a GGUF file that is not a local file (a model on a remote filesystem,
     * whose metadata the driver reads while the tensors stay where they are). Reads only the header region, as
     * {@link #open} does. The result names {@code location} in its messages; its {@link #path()} is null and it cannot
     * {@link #map} tensors.
     *
     * @param location  the file's name or URI, for messages
     * @param fileBytes the file's length in bytes
     * @param source    positional reads of the file
     * @return the validated file
     * @throws GgufException naming {@code location}, as {@link #open} does
     */
    public static GgufFile read(String location, long fileBytes, Source source) {
        try {
            return new Parser(null, location, source, fileBytes).parse();
        } catch (IOException e) {
            throw new GgufException(location, "cannot read GGUF file: " + e, e);
        }
    }

    /** @return the file this was read from; null for a file read through {@link #read(String, long, Source)} */
    public Path path() {
        return path;
    }

    /** @return the file's name or URI, as messages name it */
    public String location() {
        return location;
    }

    /** @return the file's length in bytes when it was opened */
    public long fileBytes() {
        return fileBytes;
    }

    /** @return the GGUF version, 2 or 3 */
    public int version() {
        return version;
    }

    /** @return the data alignment in bytes: {@value #ALIGNMENT_KEY}, or {@value #DEFAULT_ALIGNMENT}; a power of two */
    public int alignment() {
        return alignment;
    }

    /** @return the absolute file offset of the data section: the end of the tensor infos, rounded up to the alignment */
    public long dataOffset() {
        return dataOffset;
    }

    /** @return every key/value in file order (unmodifiable) */
    public Map<String, GgufValue> metadata() {
        return metadata;
    }

    /** @return whether the file has the metadata key */
    public boolean has(String key) {
        return metadata.containsKey(key);
    }

    /** @return the value of {@code key}, or empty */
    public Optional<GgufValue> value(String key) {
        return Optional.ofNullable(metadata.get(key));
    }

    /**
     * @return the value of a required key
     * @throws GgufException naming the file and the key if it is missing
     */
    public GgufValue require(String key) {
        GgufValue v = metadata.get(key);
        if (v == null) {
            throw new GgufException(location, "metadata key '" + key + "' is missing");
        }
        return v;
    }

    /**
     * @return the STRING value of a required key
     * @throws GgufException if the key is missing or not a STRING
     */
    public String getString(String key) {
        return typed(key, GgufValue::stringValue);
    }

    /** @return as {@link #getString(String)}, or {@code fallback} if the key is absent */
    public String getString(String key, String fallback) {
        return has(key) ? getString(key) : fallback;
    }

    /**
     * @return the value of a required integer key (any integer type, the value within the int range)
     * @throws GgufException if the key is missing, not an integer, or out of range
     */
    public int getInt(String key) {
        return typed(key, GgufValue::intValue);
    }

    /** @return as {@link #getInt(String)}, or {@code fallback} if the key is absent */
    public int getInt(String key, int fallback) {
        return has(key) ? getInt(key) : fallback;
    }

    /**
     * @return the value of a required integer key (any integer type; a UINT64 at most {@code Long.MAX_VALUE})
     * @throws GgufException if the key is missing, not an integer, or out of range
     */
    public long getLong(String key) {
        return typed(key, GgufValue::longValue);
    }

    /** @return as {@link #getLong(String)}, or {@code fallback} if the key is absent */
    public long getLong(String key, long fallback) {
        return has(key) ? getLong(key) : fallback;
    }

    /**
     * @return the value of a required FLOAT32 key, or of an integer key whose value a float holds exactly
     * @throws GgufException if the key is missing or of another type (a FLOAT64 is not narrowed)
     */
    public float getFloat(String key) {
        return typed(key, GgufValue::floatValue);
    }

    /** @return as {@link #getFloat(String)}, or {@code fallback} if the key is absent */
    public float getFloat(String key, float fallback) {
        return has(key) ? getFloat(key) : fallback;
    }

    /**
     * @return the value of a required FLOAT64 or FLOAT32 key, or of an integer key a double holds exactly
     * @throws GgufException if the key is missing or of another type
     */
    public double getDouble(String key) {
        return typed(key, GgufValue::doubleValue);
    }

    /**
     * @return the value of a required BOOL key
     * @throws GgufException if the key is missing or not a BOOL
     */
    public boolean getBoolean(String key) {
        return typed(key, GgufValue::boolValue);
    }

    /** @return as {@link #getBoolean(String)}, or {@code fallback} if the key is absent */
    public boolean getBoolean(String key, boolean fallback) {
        return has(key) ? getBoolean(key) : fallback;
    }

    /**
     * @return a copy of a required array of STRING (e.g. {@code tokenizer.ggml.tokens})
     * @throws GgufException if the key is missing or not an array of STRING
     */
    public String[] getStringArray(String key) {
        return typed(key, GgufValue::stringArray);
    }

    /**
     * @return a copy of a required array of FLOAT32 (or of integers floats hold exactly)
     * @throws GgufException if the key is missing or of another type
     */
    public float[] getFloatArray(String key) {
        return typed(key, GgufValue::floatArray);
    }

    /**
     * @return a required array of any integer type, as ints
     * @throws GgufException if the key is missing, of another type, or an element is out of the int range
     */
    public int[] getIntArray(String key) {
        return typed(key, GgufValue::intArray);
    }

    /**
     * @return a required array of any integer type, as longs
     * @throws GgufException if the key is missing, of another type, or a UINT64 element exceeds {@code Long.MAX_VALUE}
     */
    public long[] getLongArray(String key) {
        return typed(key, GgufValue::longArray);
    }

    private <T> T typed(String key, java.util.function.Function<GgufValue, T> get) {
        GgufValue v = require(key);
        try {
            return get.apply(v);
        } catch (IllegalStateException e) {
            throw new GgufException(location, "metadata key '" + key + "': " + e.getMessage());
        }
    }

    /** @return every tensor, in the order of the tensor infos (unmodifiable) */
    public List<GgufTensor> tensors() {
        return tensors;
    }

    /** @return the tensor named {@code name}, or empty */
    public Optional<GgufTensor> tensor(String name) {
        return Optional.ofNullable(byName.get(name));
    }

    /**
     * @return the tensor named {@code name}
     * @throws GgufException naming the file and the tensor if it has none of that name
     */
    public GgufTensor requireTensor(String name) {
        GgufTensor t = byName.get(name);
        if (t == null) {
            throw new GgufException(location, "tensor '" + name + "' is missing");
        }
        return t;
    }

    /**
     * Maps a tensor's bytes read-only: position 0, limit and capacity {@code t.byteSize()}, little-endian. A mapping
     * holds at most 2^31-1 bytes (Java 17); map a larger tensor by rows ({@link #mapRows}).
     *
     * @param t a tensor of this file
     * @return its data
     * @throws GgufException if the tensor is not this file's, larger than a mapping holds, or the file cannot be
     *                       mapped (e.g. it shrank since it was opened)
     */
    public ByteBuffer map(GgufTensor t) {
        requireOwn(t);
        if (t.byteSize() > Integer.MAX_VALUE) {
            throw new GgufException(location, "tensor '" + t.name() + "' is " + t.byteSize() + " bytes, more than the"
                + " 2147483647 one mapping holds; map it by rows");
        }
        return mapRange(t.offset(), t.byteSize(), "tensor '" + t.name() + "'");
    }

    /**
     * Maps whole rows of a tensor read-only, little-endian: {@code rowCount * t.rowBytes()} bytes from row
     * {@code firstRow} (rows count every dimension after the first, see {@link GgufTensor#rows()}).
     *
     * @param t        a tensor of this file
     * @param firstRow the first row, from 0
     * @param rowCount how many rows, at least 0
     * @return their data
     * @throws GgufException if the range lies outside the tensor or exceeds 2^31-1 bytes, or the file cannot be mapped
     */
    public ByteBuffer mapRows(GgufTensor t, long firstRow, long rowCount) {
        requireOwn(t);
        if (firstRow < 0 || rowCount < 0 || firstRow > t.rows() - rowCount) {
            throw new GgufException(location, "tensor '" + t.name() + "': rows " + firstRow + " + " + rowCount
                + " outside its " + t.rows() + " rows");
        }
        long bytes = rowCount * t.rowBytes();
        if (bytes > Integer.MAX_VALUE) {
            throw new GgufException(location, "tensor '" + t.name() + "': " + rowCount + " rows are " + bytes
                + " bytes, more than the 2147483647 one mapping holds");
        }
        return mapRange(t.offset() + firstRow * t.rowBytes(), bytes, "tensor '" + t.name() + "'");
    }

    /**
     * Reads a whole tensor of a {@linkplain GgmlType#isSupported() supported} type as floats ({@link
     * Quants#dequantize}), in file order (row after row).
     *
     * @param t a tensor of this file
     * @return its {@code elementCount} values
     * @throws GgufException if the type is unsupported, the tensor has more elements than a Java array holds or is
     *                       larger than a mapping, or it cannot be mapped
     */
    public float[] dequantize(GgufTensor t) {
        return dequantizeRows(t, 0, t.rows());
    }

    /**
     * Reads rows of a tensor of a supported type as floats.
     *
     * @param t        a tensor of this file
     * @param firstRow the first row
     * @param rowCount how many rows
     * @return their {@code rowCount * rowLength} values
     * @throws GgufException as {@link #dequantize} and {@link #mapRows}
     */
    public float[] dequantizeRows(GgufTensor t, long firstRow, long rowCount) {
        requireOwn(t);
        if (!t.type().isSupported()) {
            throw new GgufException(location, "tensor '" + t.name() + "' is " + t.type() + ", which this project does not"
                + " convert (F32, F16, BF16, Q8_0 and Q4_0 only)");
        }
        if (rowCount > 0 && t.rowLength() > MAX_JAVA_ARRAY / rowCount) {
            throw new GgufException(location, "tensor '" + t.name() + "': " + rowCount + " rows of " + t.rowLength()
                + " elements are more than a Java array holds");
        }
        ByteBuffer b = mapRows(t, firstRow, rowCount);
        float[] out = new float[(int) (rowCount * t.rowLength())];
        Quants.dequantize(t.type(), b, 0, out, 0, out.length);
        return out;
    }

    private void requireOwn(GgufTensor t) {
        if (!t.equals(byName.get(t.name()))) {
            throw new GgufException(location, "tensor " + t + " is not one of this file's");
        }
    }

    private ByteBuffer mapRange(long offset, long bytes, String what) {
        if (path == null) {
            throw new GgufException(location, "cannot map " + what + ": the file was read remotely (only its header)");
        }
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            long size = ch.size();
            if (offset + bytes > size) {
                throw new GgufException(location, what + ": bytes " + offset + " to " + (offset + bytes) + " lie past the end"
                    + " of the file (" + size + " bytes now, " + fileBytes + " when opened)");
            }
            return ch.map(FileChannel.MapMode.READ_ONLY, offset, bytes).order(ByteOrder.LITTLE_ENDIAN);
        } catch (IOException e) {
            throw new GgufException(location, "cannot map " + what + ": " + e, e);
        }
    }

    @Override
    public String toString() {
        return location + " (GGUF v" + version + ", " + metadata.size() + " keys, " + tensors.size() + " tensors)";
    }

    // ---------------------------------------------------------------------------------------------------- parser

    /** Reads the header region sequentially through a window of the file, checking every read against its end. */
    private static final class Parser {
        private static final int WINDOW = 1 << 16;

        private final Path path;
        private final String location;
        private final Source ch;
        private final long size;
        private final ByteBuffer buf = ByteBuffer.allocate(WINDOW).order(ByteOrder.LITTLE_ENDIAN);
        /** File offset of {@code buf}'s first byte; the window holds [bufStart, bufStart + buf.limit()). */
        private long bufStart;
        /** What is being read, for messages. */
        private String context = "header";

        Parser(Path path, String location, Source ch, long size) {
            this.path = path;
            this.location = location;
            this.ch = ch;
            this.size = size;
            buf.limit(0);
        }

        private GgufException fail(String message) {
            return new GgufException(location, message);
        }

        private long pos() {
            return bufStart + buf.position();
        }

        private long left() {
            return size - pos();
        }

        /** Makes {@code n} (at most WINDOW) bytes available in the window, or fails naming what was being read. */
        private void need(int n, String what) throws IOException {
            if (buf.remaining() >= n) {
                return;
            }
            if (left() < n) {
                throw fail("truncated: " + context + ": " + what + " needs " + n + " bytes at offset " + pos()
                    + ", the file ends at " + size);
            }
            bufStart = pos();
            buf.compact();
            while (buf.position() < n) {
                if (ch.read(buf, bufStart + buf.position()) < 0) {
                    throw fail("truncated: " + context + ": " + what + " at offset " + pos() + ": the file ended while"
                        + " being read (it shrank?)");
                }
            }
            buf.flip();
        }

        private int u8(String what) throws IOException {
            need(1, what);
            return buf.get() & 0xFF;
        }

        private int u32(String what) throws IOException {
            need(4, what);
            return buf.getInt();
        }

        private long u64(String what) throws IOException {
            need(8, what);
            return buf.getLong();
        }

        /** Reads a string of at most {@code max} bytes: its uint64 length, checked against the file, then its bytes. */
        private String string(String what, long max) throws IOException {
            long len = u64(what + " length");
            if (len < 0 || len > left()) {
                throw fail(context + ": " + what + " length " + Long.toUnsignedString(len) + " exceeds the " + left()
                    + " bytes left in the file (at offset " + (pos() - 8) + ")");
            }
            if (len > max) {
                throw fail(context + ": " + what + " length " + len + ", expected at most " + max);
            }
            int n = (int) len;
            if (n == 0) {
                return ""; // one shared object: a file of empty strings costs no more memory than its own length
            }
            if (n <= WINDOW) {
                need(n, what);
                String s = new String(buf.array(), buf.arrayOffset() + buf.position(), n, StandardCharsets.UTF_8);
                buf.position(buf.position() + n);
                return s;
            }
            byte[] bytes = new byte[n];
            int at = 0;
            while (at < n) {
                int chunk = Math.min(WINDOW, n - at);
                need(chunk, what);
                buf.get(bytes, at, chunk);
                at += chunk;
            }
            return new String(bytes, StandardCharsets.UTF_8);
        }

        GgufFile parse() throws IOException {
            if (size < 4) {
                throw fail("file is " + size + " bytes, shorter than the GGUF magic (4 bytes)");
            }
            int magic = u32("magic");
            if (magic != MAGIC) {
                throw fail("magic: expected \"GGUF\" (47 47 55 46), got " + hex(magic)
                    + (magic == Integer.reverseBytes(MAGIC) ? " (\"FUGG\": a byte-swapped GGUF?)" : "")
                    + ": not a GGUF file");
            }
            int version = u32("version");
            if (version != 2 && version != 3) {
                int swapped = Integer.reverseBytes(version);
                if ((version & 0xFFFF) == 0 && swapped >= 1 && swapped <= 3) {
                    throw fail("version reads as " + Integer.toUnsignedString(version) + " (0x"
                        + Integer.toHexString(version) + ") little-endian, " + swapped + " big-endian: a big-endian GGUF"
                        + " file; only little-endian files are supported");
                }
                throw fail("version: expected 2 or 3, got " + Integer.toUnsignedString(version)
                    + (version == 1 ? " (GGUF v1, with 32-bit counts, is not supported)" : ""));
            }
            long tensorCount = u64("tensor_count");
            long kvCount = u64("metadata_kv_count");
            long afterHeader = left();
            if (tensorCount < 0 || tensorCount > afterHeader / MIN_TENSOR_INFO_BYTES) {
                throw fail("header tensor_count " + Long.toUnsignedString(tensorCount) + ": tensor infos take at least "
                    + MIN_TENSOR_INFO_BYTES + " bytes each, and only " + afterHeader + " bytes follow the header");
            }
            if (kvCount < 0 || kvCount > afterHeader / MIN_KV_BYTES
                || tensorCount * MIN_TENSOR_INFO_BYTES + kvCount * MIN_KV_BYTES > afterHeader) {
                throw fail("header metadata_kv_count " + Long.toUnsignedString(kvCount) + ": key/values take at least "
                    + MIN_KV_BYTES + " bytes each, and only " + afterHeader + " bytes follow the header (with "
                    + tensorCount + " tensor infos of at least " + MIN_TENSOR_INFO_BYTES + " bytes)");
            }

            Map<String, GgufValue> metadata = new LinkedHashMap<>();
            for (long i = 0; i < kvCount; i++) {
                context = "metadata key/value " + i + " of " + kvCount;
                String key = string("key", MAX_KEY_BYTES);
                if (key.isEmpty()) {
                    throw fail(context + ": empty key");
                }
                context = "metadata key '" + key + "'";
                if (metadata.containsKey(key)) {
                    throw fail(context + ": duplicate key");
                }
                GgufValueType type = valueType(u32("value type"), "value type");
                metadata.put(key, value(type, 1));
            }

            context = "metadata key '" + ALIGNMENT_KEY + "'";
            int alignment = DEFAULT_ALIGNMENT;
            GgufValue a = metadata.get(ALIGNMENT_KEY);
            if (a != null) {
                if (a.type() != GgufValueType.UINT32) {
                    throw fail(context + ": expected a UINT32, got " + a.describe());
                }
                long v = a.longValue();
                if (v == 0 || (v & (v - 1)) != 0 || v > Integer.MAX_VALUE) {
                    throw fail(context + ": expected a power of two, got " + v);
                }
                alignment = (int) v;
            }

            List<GgufTensor> infos = new ArrayList<>();
            List<Long> relative = new ArrayList<>();
            Map<String, Integer> seen = new HashMap<>();
            for (long i = 0; i < tensorCount; i++) {
                context = "tensor info " + i + " of " + tensorCount;
                String name = string("name", MAX_TENSOR_NAME_BYTES);
                context = "tensor '" + name + "' (info " + i + ")";
                Integer earlier = seen.putIfAbsent(name, (int) i);
                if (earlier != null) {
                    throw fail(context + ": duplicate name, tensor info " + earlier + " has it too");
                }
                int nDims = u32("n_dims");
                if (nDims < 1 || nDims > MAX_DIMS) {
                    throw fail(context + ": n_dims " + Integer.toUnsignedString(nDims) + ", expected 1 to " + MAX_DIMS);
                }
                long[] dims = new long[nDims];
                long elements = 1;
                for (int d = 0; d < nDims; d++) {
                    dims[d] = u64("dims[" + d + "]");
                    if (dims[d] <= 0) {
                        throw fail(context + ": dims[" + d + "] " + Long.toUnsignedString(dims[d]) + ", expected a"
                            + " positive count below 2^63");
                    }
                    if (elements > Long.MAX_VALUE / dims[d]) {
                        throw fail(context + ": dims " + unsigned(dims, d + 1) + " hold more than 2^63-1 elements");
                    }
                    elements *= dims[d];
                }
                int typeId = u32("type");
                GgmlType type = GgmlType.byId(typeId).orElseThrow(() -> fail(context + ": unknown ggml type id "
                    + Integer.toUnsignedString(typeId) + " (ggml defines 0 to 42)"));
                if (type.isRemoved()) {
                    throw fail(context + ": type " + GgmlType.describe(typeId) + " is no longer allowed in GGUF files");
                }
                if (dims[0] % type.blockSize() != 0) {
                    throw fail(context + ": row length ne0 = " + dims[0] + " is not a multiple of " + type
                        + "'s block size " + type.blockSize() + " (dims " + unsigned(dims, nDims) + ")");
                }
                long bytes = elements / type.blockSize();
                if (bytes > Long.MAX_VALUE / type.typeSize()) {
                    throw fail(context + ": " + elements + " elements of " + type + " take more than 2^63-1 bytes");
                }
                bytes *= type.typeSize();
                long offset = u64("offset");
                if (offset < 0 || offset % alignment != 0) {
                    throw fail(context + ": data offset " + Long.toUnsignedString(offset) + ", expected a multiple of"
                        + " the alignment " + alignment);
                }
                infos.add(new GgufTensor(name, type, dims, elements, bytes, 0));
                relative.add(offset);
            }

            long end = pos();
            long dataOffset = end + (alignment - end % alignment) % alignment;
            List<GgufTensor> tensors = new ArrayList<>(infos.size());
            for (int i = 0; i < infos.size(); i++) {
                GgufTensor t = infos.get(i);
                long rel = relative.get(i);
                String what = "tensor '" + t.name() + "' (" + t.type() + " " + unsigned(t.dims(), t.nDims()) + ", "
                    + t.byteSize() + " bytes at data offset " + rel + ")";
                if (rel > size - dataOffset || t.byteSize() > size - dataOffset - rel) {
                    throw fail(what + " ends at file offset " + java.math.BigInteger.valueOf(dataOffset)
                        .add(java.math.BigInteger.valueOf(rel)).add(java.math.BigInteger.valueOf(t.byteSize()))
                        + ", past the end of the file (" + size + " bytes; data section from " + dataOffset + ")");
                }
                tensors.add(new GgufTensor(t.name(), t.type(), t.dims(), t.elementCount(), t.byteSize(), dataOffset + rel));
            }
            List<GgufTensor> sorted = new ArrayList<>(tensors);
            sorted.sort(Comparator.comparingLong(GgufTensor::offset));
            for (int i = 1; i < sorted.size(); i++) {
                GgufTensor p = sorted.get(i - 1);
                GgufTensor t = sorted.get(i);
                if (t.offset() < p.end()) {
                    throw fail("tensors '" + p.name() + "' (bytes " + p.offset() + " to " + p.end() + ") and '" + t.name()
                        + "' (bytes " + t.offset() + " to " + t.end() + ") overlap");
                }
            }
            return new GgufFile(path, location, size, version, metadata, tensors, alignment, dataOffset);
        }

        private GgufValueType valueType(int id, String what) {
            return GgufValueType.byId(id).orElseThrow(() -> fail(context + ": unknown " + what + " "
                + Integer.toUnsignedString(id) + " (GGUF defines 0 to 12)"));
        }

        /** Reads a value of {@code type}; {@code depth} is 1 for a key's value, 2 for the elements of its array. */
        private GgufValue value(GgufValueType type, int depth) throws IOException {
            return switch (type) {
                case UINT8, INT8 -> GgufValue.ownedScalar(type, (long) (type == GgufValueType.UINT8
                    ? u8("value") : (byte) u8("value")));
                case UINT16, INT16 -> {
                    need(2, "value");
                    short s = buf.getShort();
                    yield GgufValue.ownedScalar(type, (long) (type == GgufValueType.UINT16 ? s & 0xFFFF : s));
                }
                case UINT32 -> GgufValue.ownedScalar(type, u32("value") & 0xFFFF_FFFFL);
                case INT32 -> GgufValue.ownedScalar(type, (long) u32("value"));
                case UINT64, INT64 -> GgufValue.ownedScalar(type, u64("value"));
                case FLOAT32 -> GgufValue.ownedScalar(type, Float.intBitsToFloat(u32("value")));
                case FLOAT64 -> GgufValue.ownedScalar(type, Double.longBitsToDouble(u64("value")));
                case BOOL -> GgufValue.ownedScalar(type, bool(-1));
                case STRING -> GgufValue.ownedScalar(type, string("value", MAX_JAVA_ARRAY));
                case ARRAY -> array(depth);
            };
        }

        private boolean bool(long index) throws IOException {
            int b = u8("bool");
            if (b > 1) {
                throw fail(context + ": bool" + (index >= 0 ? " element " + index : "") + " is " + b + " at offset "
                    + (pos() - 1) + ", expected 0 or 1");
            }
            return b == 1;
        }

        private GgufValue array(int depth) throws IOException {
            if (depth > MAX_ARRAY_DEPTH) {
                throw fail(context + ": arrays nested more than " + MAX_ARRAY_DEPTH + " deep");
            }
            GgufValueType element = valueType(u32("array element type"), "array element type");
            long count = u64("array count");
            long left = left();
            if (count < 0 || count > left / element.minBytes()) {
                throw fail(context + ": array of " + element + " count " + Long.toUnsignedString(count) + ": its"
                    + " elements take at least " + element.minBytes() + " bytes each, and only " + left
                    + " bytes are left in the file");
            }
            if (count > MAX_JAVA_ARRAY) {
                throw fail(context + ": array count " + count + " exceeds the largest Java array (" + MAX_JAVA_ARRAY + ")");
            }
            int n = (int) count;
            Object values;
            switch (element) {
                case UINT8, INT8 -> {
                    byte[] a = new byte[n];
                    for (int done = 0; done < n;) {
                        int chunk = Math.min(WINDOW, n - done);
                        need(chunk, "array elements");
                        buf.get(a, done, chunk);
                        done += chunk;
                    }
                    values = a;
                }
                case UINT16, INT16 -> {
                    short[] a = new short[n];
                    for (int i = 0; i < n; i++) {
                        need(2, "array element");
                        a[i] = buf.getShort();
                    }
                    values = a;
                }
                case UINT32, INT32 -> {
                    int[] a = new int[n];
                    for (int i = 0; i < n; i++) {
                        a[i] = u32("array element");
                    }
                    values = a;
                }
                case UINT64, INT64 -> {
                    long[] a = new long[n];
                    for (int i = 0; i < n; i++) {
                        a[i] = u64("array element");
                    }
                    values = a;
                }
                case FLOAT32 -> {
                    float[] a = new float[n];
                    for (int i = 0; i < n; i++) {
                        a[i] = Float.intBitsToFloat(u32("array element"));
                    }
                    values = a;
                }
                case FLOAT64 -> {
                    double[] a = new double[n];
                    for (int i = 0; i < n; i++) {
                        a[i] = Double.longBitsToDouble(u64("array element"));
                    }
                    values = a;
                }
                case BOOL -> {
                    boolean[] a = new boolean[n];
                    for (int i = 0; i < n; i++) {
                        a[i] = bool(i);
                    }
                    values = a;
                }
                case STRING -> {
                    String[] a = new String[n];
                    for (int i = 0; i < n; i++) {
                        a[i] = string("string element", MAX_JAVA_ARRAY);
                    }
                    values = a;
                }
                case ARRAY -> {
                    GgufValue[] a = new GgufValue[n];
                    for (int i = 0; i < n; i++) {
                        a[i] = array(depth + 1);
                    }
                    values = a;
                }
                default -> throw new AssertionError(element);
            }
            return GgufValue.ownedArray(element, values);
        }

        private static String hex(int leValue) {
            StringBuilder s = new StringBuilder();
            for (int i = 0; i < 4; i++) {
                s.append(i == 0 ? "" : " ").append(String.format("%02x", (leValue >>> (8 * i)) & 0xFF));
            }
            return s.toString();
        }

        private static String unsigned(long[] dims, int n) {
            StringBuilder s = new StringBuilder("[");
            for (int i = 0; i < n; i++) {
                s.append(i == 0 ? "" : ", ").append(Long.toUnsignedString(dims[i]));
            }
            return s.append(']').toString();
        }
    }
}

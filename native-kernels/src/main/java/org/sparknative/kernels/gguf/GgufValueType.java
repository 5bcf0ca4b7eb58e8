package org.sparknative.kernels.gguf;

import java.util.Optional;

/**
 * The type of a GGUF metadata value ({@code gguf_metadata_value_type}, a uint32, in the GGUF specification, ggml's
 * {@code docs/gguf.md}). Numbers are little-endian; a bool is one byte, 0 or 1; a string is a uint64 byte length
 * followed by that many bytes of UTF-8 (no terminator); an array is a uint32 element type, a uint64 element count and
 * the elements, which may themselves be arrays.
 *
 * <p>Immutable and thread-safe.
 */
public enum GgufValueType {
    /** 8-bit unsigned integer. */
    UINT8(0, 1),
    /** 8-bit signed integer. */
    INT8(1, 1),
    /** 16-bit unsigned integer. */
    UINT16(2, 2),
    /** 16-bit signed integer. */
    INT16(3, 2),
    /** 32-bit unsigned integer. */
    UINT32(4, 4),
    /** 32-bit signed integer. */
    INT32(5, 4),
    /** IEEE 754 binary32. */
    FLOAT32(6, 4),
    /** One byte, 0 (false) or 1 (true); anything else makes the file invalid. */
    BOOL(7, 1),
    /** uint64 length, then that many bytes of UTF-8. */
    STRING(8, 8),
    /** uint32 element type, uint64 count, then the elements. */
    ARRAY(9, 12),
    /** 64-bit unsigned integer. */
    UINT64(10, 8),
    /** 64-bit signed integer. */
    INT64(11, 8),
    /** IEEE 754 binary64. */
    FLOAT64(12, 8);

    private static final GgufValueType[] BY_ID = values();

    private final int id;
    private final int minBytes;

    GgufValueType(int id, int minBytes) {
        this.id = id;
        this.minBytes = minBytes;
    }

    /** @return the id stored in a file */
    public int id() {
        return id;
    }

    /**
     * @return the fewest bytes a value of this type takes in a file: its size for numbers and bools, the length
     *         prefix for a string (8), the type and count for an array (12); what bounds an array's element count by
     *         the bytes left in the file
     */
    public int minBytes() {
        return minBytes;
    }

    /** @return whether the type is one of the eight integer types */
    public boolean isInteger() {
        return switch (this) {
            case UINT8, INT8, UINT16, INT16, UINT32, INT32, UINT64, INT64 -> true;
            default -> false;
        };
    }

    /**
     * @param id a value type id as stored in a file (a uint32, so any int is possible)
     * @return the type of that id, or empty if the specification defines none
     */
    public static Optional<GgufValueType> byId(int id) {
        return id >= 0 && id < BY_ID.length ? Optional.of(BY_ID[id]) : Optional.empty();
    }
}

package org.sparknative.kernels.gguf;

import java.util.Optional;

/**
 * Every tensor type id that ggml has defined ({@code enum ggml_type} in ggml's {@code include/ggml.h} and the GGUF
 * specification, ggml's {@code docs/gguf.md}), with its block size (elements per block) and type size (bytes per
 * block), so that any file can be described and any error can name the type. Ids whose support ggml has removed
 * from GGUF files (the old Q4_2/Q4_3 and the repacked Q4_0_x_y/IQ4_NL_x_y layouts) are listed as {@linkplain
 * #isRemoved() removed}: they have no size, and a file that uses them is rejected.
 *
 * <p>A tensor of a type with block size {@code B} and type size {@code S} stores each row of {@code ne0} elements
 * ({@code ne0 % B == 0}) as {@code ne0 / B} consecutive blocks of {@code S} bytes, little-endian. The types this
 * project computes with are {@linkplain #isSupported() supported}: {@link #F32}, {@link #F16}, {@link #BF16},
 * {@link #Q8_0} and {@link #Q4_0} (see {@link Quants}); the others can be read, sized and mapped, not converted.
 *
 * <p>Immutable and thread-safe.
 */
public enum GgmlType {
    /** IEEE 754 binary32. */
    F32(0, "f32", 1, 4, false, true),
    /** IEEE 754 binary16. */
    F16(1, "f16", 1, 2, false, true),
    /** Blocks of 32: an F16 scale and 32 4-bit values, two per byte (18 bytes). */
    Q4_0(2, "q4_0", 32, 18, true, true),
    /** Blocks of 32: F16 scale and minimum, 32 4-bit values (20 bytes). */
    Q4_1(3, "q4_1", 32, 20, true, false),
    /** Removed from ggml. */
    Q4_2(4, "q4_2", 0, 0, true, false),
    /** Removed from ggml. */
    Q4_3(5, "q4_3", 0, 0, true, false),
    /** Blocks of 32: F16 scale, 32 fifth bits, 32 4-bit values (22 bytes). */
    Q5_0(6, "q5_0", 32, 22, true, false),
    /** Blocks of 32: F16 scale and minimum, 32 fifth bits, 32 4-bit values (24 bytes). */
    Q5_1(7, "q5_1", 32, 24, true, false),
    /** Blocks of 32: an F16 scale and 32 int8 values (34 bytes). */
    Q8_0(8, "q8_0", 32, 34, true, true),
    /** Blocks of 32: F16 scale and sum, 32 int8 values (36 bytes). */
    Q8_1(9, "q8_1", 32, 36, true, false),
    /** K-quant, super-blocks of 256 (84 bytes). */
    Q2_K(10, "q2_K", 256, 84, true, false),
    /** K-quant, super-blocks of 256 (110 bytes). */
    Q3_K(11, "q3_K", 256, 110, true, false),
    /** K-quant, super-blocks of 256 (144 bytes). */
    Q4_K(12, "q4_K", 256, 144, true, false),
    /** K-quant, super-blocks of 256 (176 bytes). */
    Q5_K(13, "q5_K", 256, 176, true, false),
    /** K-quant, super-blocks of 256 (210 bytes). */
    Q6_K(14, "q6_K", 256, 210, true, false),
    /** K-quant intermediate, super-blocks of 256 (292 bytes). */
    Q8_K(15, "q8_K", 256, 292, true, false),
    /** I-quant, super-blocks of 256 (66 bytes). */
    IQ2_XXS(16, "iq2_xxs", 256, 66, true, false),
    /** I-quant, super-blocks of 256 (74 bytes). */
    IQ2_XS(17, "iq2_xs", 256, 74, true, false),
    /** I-quant, super-blocks of 256 (98 bytes). */
    IQ3_XXS(18, "iq3_xxs", 256, 98, true, false),
    /** I-quant, super-blocks of 256 (50 bytes). */
    IQ1_S(19, "iq1_s", 256, 50, true, false),
    /** Non-linear 4-bit, blocks of 32 (18 bytes). */
    IQ4_NL(20, "iq4_nl", 32, 18, true, false),
    /** I-quant, super-blocks of 256 (110 bytes). */
    IQ3_S(21, "iq3_s", 256, 110, true, false),
    /** I-quant, super-blocks of 256 (82 bytes). */
    IQ2_S(22, "iq2_s", 256, 82, true, false),
    /** Non-linear 4-bit, super-blocks of 256 (136 bytes). */
    IQ4_XS(23, "iq4_xs", 256, 136, true, false),
    /** int8. */
    I8(24, "i8", 1, 1, false, false),
    /** int16, little-endian. */
    I16(25, "i16", 1, 2, false, false),
    /** int32, little-endian. */
    I32(26, "i32", 1, 4, false, false),
    /** int64, little-endian. */
    I64(27, "i64", 1, 8, false, false),
    /** IEEE 754 binary64. */
    F64(28, "f64", 1, 8, false, false),
    /** I-quant, super-blocks of 256 (56 bytes). */
    IQ1_M(29, "iq1_m", 256, 56, true, false),
    /** bfloat16: the upper 16 bits of a binary32. */
    BF16(30, "bf16", 1, 2, false, true),
    /** Removed from GGUF files (Q4_0 repacked at run time instead). */
    Q4_0_4_4(31, "q4_0_4_4", 0, 0, true, false),
    /** Removed from GGUF files (Q4_0 repacked at run time instead). */
    Q4_0_4_8(32, "q4_0_4_8", 0, 0, true, false),
    /** Removed from GGUF files (Q4_0 repacked at run time instead). */
    Q4_0_8_8(33, "q4_0_8_8", 0, 0, true, false),
    /** Ternary, super-blocks of 256 (54 bytes). */
    TQ1_0(34, "tq1_0", 256, 54, true, false),
    /** Ternary, super-blocks of 256 (66 bytes). */
    TQ2_0(35, "tq2_0", 256, 66, true, false),
    /** Removed from GGUF files (IQ4_NL repacked at run time instead). */
    IQ4_NL_4_4(36, "iq4_nl_4_4", 0, 0, true, false),
    /** Removed from GGUF files (IQ4_NL repacked at run time instead). */
    IQ4_NL_4_8(37, "iq4_nl_4_8", 0, 0, true, false),
    /** Removed from GGUF files (IQ4_NL repacked at run time instead). */
    IQ4_NL_8_8(38, "iq4_nl_8_8", 0, 0, true, false),
    /** Microscaling FP4, blocks of 32: an E8M0 scale and 32 4-bit values (17 bytes). */
    MXFP4(39, "mxfp4", 32, 17, true, false),
    /** NVFP4, blocks of 64: four E4M3 scales and 64 4-bit values (36 bytes). */
    NVFP4(40, "nvfp4", 64, 36, true, false),
    /** 1-bit, blocks of 128: an F16 scale and 128 sign bits (18 bytes). */
    Q1_0(41, "q1_0", 128, 18, true, false),
    /** 2-bit, blocks of 64: an F16 scale and 64 2-bit values (18 bytes). */
    Q2_0(42, "q2_0", 64, 18, true, false);

    private static final GgmlType[] BY_ID = new GgmlType[43];

    static {
        for (GgmlType t : values()) {
            BY_ID[t.id] = t;
        }
    }

    private final int id;
    private final String ggmlName;
    private final int blockSize;
    private final int typeSize;
    private final boolean quantized;
    private final boolean supported;

    GgmlType(int id, String ggmlName, int blockSize, int typeSize, boolean quantized, boolean supported) {
        this.id = id;
        this.ggmlName = ggmlName;
        this.blockSize = blockSize;
        this.typeSize = typeSize;
        this.quantized = quantized;
        this.supported = supported;
    }

    /** @return the id stored in a GGUF tensor info ({@code ggml_type}, a uint32) */
    public int id() {
        return id;
    }

    /** @return ggml's own name of the type, as its tools print it (e.g. {@code "q8_0"}, {@code "q4_K"}) */
    public String ggmlName() {
        return ggmlName;
    }

    /** @return elements per block (1 for the plain number types); 0 for a {@linkplain #isRemoved() removed} type */
    public int blockSize() {
        return blockSize;
    }

    /** @return bytes per block (per element for the plain number types); 0 for a removed type */
    public int typeSize() {
        return typeSize;
    }

    /** @return whether values are stored in blocks with shared scales (ggml's {@code is_quantized}) */
    public boolean isQuantized() {
        return quantized;
    }

    /** @return whether ggml no longer allows the type in GGUF files (no size is known for it) */
    public boolean isRemoved() {
        return blockSize == 0;
    }

    /**
     * @return whether this project converts and computes with the type: {@link #F32}, {@link #F16}, {@link #BF16},
     *         {@link #Q8_0}, {@link #Q4_0}
     */
    public boolean isSupported() {
        return supported;
    }

    /**
     * The bytes that {@code elements} elements take, exactly.
     *
     * @param elements a positive multiple of {@link #blockSize()}
     * @return {@code elements / blockSize * typeSize}
     * @throws IllegalArgumentException if the type is removed or {@code elements} is not a positive multiple of the
     *                                  block size
     * @throws ArithmeticException      if the size exceeds {@code Long.MAX_VALUE}
     */
    public long byteSize(long elements) {
        if (isRemoved()) {
            throw new IllegalArgumentException("type " + describe(id) + " has no size: ggml removed it from GGUF");
        }
        if (elements <= 0 || elements % blockSize != 0) {
            throw new IllegalArgumentException(elements + " elements of " + this + ": expected a positive multiple of"
                + " the block size " + blockSize);
        }
        return Math.multiplyExact(elements / blockSize, (long) typeSize);
    }

    /**
     * @param id a {@code ggml_type} id as stored in a file (read as a uint32, so any int is possible)
     * @return the type of that id, or empty if ggml never defined it
     */
    public static Optional<GgmlType> byId(int id) {
        return id >= 0 && id < BY_ID.length ? Optional.ofNullable(BY_ID[id]) : Optional.empty();
    }

    /**
     * @param id a {@code ggml_type} id as stored in a file
     * @return the id with the type's name, for messages: {@code "8 (Q8_0)"}, {@code "31 (Q4_0_4_4, removed from
     *         GGUF)"}, {@code "99 (unknown)"}
     */
    public static String describe(int id) {
        return byId(id).map(t -> Integer.toUnsignedString(id) + " (" + t + (t.isRemoved() ? ", removed from GGUF" : "")
            + ")").orElse(Integer.toUnsignedString(id) + " (unknown)");
    }
}

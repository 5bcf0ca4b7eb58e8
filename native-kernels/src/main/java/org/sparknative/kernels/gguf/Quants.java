package org.sparknative.kernels.gguf;

import java.nio.ByteBuffer;
import java.util.Objects;

/**
 * The scalar Java reference of the element types this project computes with: F16 and BF16 conversions, Q8_0 and
 * Q4_0 block quantization, and the dot products of quantized rows. These are the canonical semantics: native and
 * SIMD code must give the same bits, and the tests hold them to it.
 *
 * <p>Source: the block layouts and the reference quantizers of ggml ({@code ggml/src/ggml-common.h},
 * {@code ggml-quants.c}: {@code quantize_row_q8_0_ref}, {@code quantize_row_q4_0_ref}, {@code dequantize_row_*};
 * {@code ggml-impl.h}: the FP16 and BF16 conversions). Byte for byte, a block quantized here equals ggml's reference
 * for every finite input; where ggml's C is undefined (non-finite input, or a scale whose reciprocal overflows) this
 * class defines the result, as documented on each method.
 *
 * <h2>Block layouts (little-endian)</h2>
 * <ul>
 *   <li><b>Q8_0</b>, {@value #Q8_0_BLOCK_BYTES} bytes per {@value #QK8_0} elements: bytes 0-1 the scale {@code d}
 *       as F16, bytes 2-33 the values {@code q[j]} as int8; element {@code j} is {@code q[j] * d}.</li>
 *   <li><b>Q4_0</b>, {@value #Q4_0_BLOCK_BYTES} bytes per {@value #QK4_0} elements: bytes 0-1 the scale {@code d}
 *       as F16, then 16 bytes: element {@code j} (0-15) in the low nibble of byte {@code 2 + j} and element
 *       {@code j + 16} in its high nibble; a nibble {@code u} (0-15) stands for {@code (u - 8) * d}.</li>
 * </ul>
 *
 * <h2>Arithmetic</h2>
 * Every operation is one IEEE 754 binary32 operation rounding to nearest even (Java's {@code float} arithmetic,
 * never fused into an FMA), in the order written on each method; integer sums are exact {@code int} sums.
 *
 * <p>Buffers are read and written by absolute index, byte by byte: their position, limit and byte order do not
 * matter and are not changed. Stateless and thread-safe.
 */
public final class Quants {
    /** Elements per Q8_0 block. */
    public static final int QK8_0 = 32;
    /** Bytes per Q8_0 block: an F16 scale and 32 int8 values. */
    public static final int Q8_0_BLOCK_BYTES = 34;
    /** Elements per Q4_0 block. */
    public static final int QK4_0 = 32;
    /** Bytes per Q4_0 block: an F16 scale and 16 bytes of two 4-bit values each. */
    public static final int Q4_0_BLOCK_BYTES = 18;

    private Quants() {
    }

    // ---------------------------------------------------------------------------------------------- F16 and BF16

    /**
     * Converts a float to IEEE 754 binary16 bits, rounding to nearest even, as ggml's {@code GGML_FP32_TO_FP16}.
     * Values of magnitude 65520 and above become infinity; below 2^-14 become subnormal halves (steps of 2^-24), and
     * at most 2^-25 (half the smallest subnormal, a tie that goes to even) become zero of the same sign. A NaN becomes
     * the quiet NaN {@code 0x7E00} with the input's sign (its payload dropped, as ggml does).
     *
     * @param f any float
     * @return the half's 16 bits
     */
    public static short f32ToF16(float f) {
        int bits = Float.floatToRawIntBits(f);
        int sign = (bits >>> 16) & 0x8000;
        int abs = bits & 0x7FFF_FFFF;
        if (abs > 0x7F80_0000) {
            return (short) (sign | 0x7E00);
        }
        if (abs >= 0x4780_0000) {                       // 65536 and above, infinity: infinity
            return (short) (sign | 0x7C00);
        }
        if (abs >= 0x3880_0000) {                       // 2^-14 and above: a normal half, or rounds up to infinity
            int h = (abs - 0x3800_0000) >>> 13;          // rebias the exponent from 127 to 15, keep 10 mantissa bits
            int rest = abs & 0x1FFF;
            if (rest > 0x1000 || (rest == 0x1000 && (h & 1) != 0)) {
                h++;                                     // a carry out of the mantissa bumps the exponent, as it should
            }
            return (short) (sign | h);
        }
        if (abs <= 0x3300_0000) {                       // at most 2^-25: zero
            return (short) sign;
        }
        int shift = 126 - (abs >>> 23);                 // 14 to 24: the value in units of 2^-24 is m >> shift
        int m = (abs & 0x7F_FFFF) | 0x80_0000;
        int h = m >>> shift;
        int rest = m & ((1 << shift) - 1);
        int half = 1 << (shift - 1);
        if (rest > half || (rest == half && (h & 1) != 0)) {
            h++;                                         // 0x400 is the smallest normal half: still right
        }
        return (short) (sign | h);
    }

    /**
     * Converts IEEE 754 binary16 bits to the float of the same value (exact: every half is a float). Infinities stay
     * infinite; a NaN stays NaN with its payload shifted into the float's mantissa and the quiet bit set.
     *
     * @param h the half's 16 bits
     * @return its value
     */
    public static float f16ToF32(short h) {
        int sign = (h & 0x8000) << 16;
        int e = (h >>> 10) & 0x1F;
        int m = h & 0x3FF;
        if (e == 0x1F) {
            return Float.intBitsToFloat(sign | 0x7F80_0000 | (m << 13) | (m != 0 ? 0x40_0000 : 0));
        }
        if (e != 0) {
            return Float.intBitsToFloat(sign | ((e + 112) << 23) | (m << 13));
        }
        float v = m * 0x1p-24f;                          // subnormal or zero, exact
        return sign != 0 ? -v : v;
    }

    /**
     * Converts a float to bfloat16 bits (its upper 16 bits), as ggml's {@code GGML_FP32_TO_BF16}: round to nearest
     * even on the lower 16 bits (a float just below infinity may round to infinity); subnormals are kept, not
     * flushed; a NaN keeps its upper bits with the quiet bit ({@code 0x40}) forced on.
     *
     * @param f any float
     * @return the bfloat16's 16 bits
     */
    public static short f32ToBf16(float f) {
        int u = Float.floatToRawIntBits(f);
        if ((u & 0x7FFF_FFFF) > 0x7F80_0000) {
            return (short) ((u >>> 16) | 0x40);
        }
        return (short) ((u + 0x7FFF + ((u >>> 16) & 1)) >>> 16);
    }

    /**
     * @param h bfloat16 bits
     * @return the float whose upper 16 bits they are (exact)
     */
    public static float bf16ToF32(short h) {
        return Float.intBitsToFloat((h & 0xFFFF) << 16);
    }

    /**
     * C's {@code roundf}: to the nearest integer, halfway cases away from zero ({@code 2.5 -> 3}, {@code -2.5 -> -3};
     * unlike {@link Math#round(float)}, which rounds halves up, and {@link Math#rint}, which rounds them to even).
     */
    static float roundHalfAwayFromZero(float v) {
        float a = Math.abs(v);
        float fl = (float) Math.floor(a);
        if (a - fl >= 0.5f) {                            // exact: a and floor(a) share their integer bits
            fl += 1f;
        }
        return Math.copySign(fl, v);
    }

    /** {@code 1 / d}, or 0 when {@code d} is 0 or so small that its reciprocal overflows to infinity. */
    private static float inverse(float d) {
        if (d == 0f) {
            return 0f;
        }
        float id = 1f / d;
        return Float.isInfinite(id) ? 0f : id;
    }

    // ------------------------------------------------------------------------------------------------------ Q8_0

    /**
     * Quantizes {@code n} floats into {@code n / 32} Q8_0 blocks, as ggml's {@code quantize_row_q8_0_ref}. Per block:
     * {@code amax = max |x_j|}; {@code d = amax / 127f}; {@code id = 1f / d} (0 if {@code d} is 0, or if {@code 1/d}
     * overflows, which only a block with {@code amax < 3.7e-37} reaches: its F16 scale is 0 anyway, where ggml's C is
     * undefined); the scale stored is {@link #f32ToF16 f32ToF16(d)}; {@code q_j = roundf(x_j * id)} (halves away from
     * zero), in -127..127. The scale is {@code d} computed in float, not the F16 it is stored as.
     *
     * @param x      the values, finite
     * @param xOff   index of the first value
     * @param n      how many, a non-negative multiple of 32
     * @param dst    receives {@code n / 32 * 34} bytes
     * @param dstOff byte index of the first block in {@code dst}
     * @throws IllegalArgumentException if {@code n} is not a multiple of 32 or a value is NaN or infinite (ggml's C is
     *                                  undefined there)
     * @throws IndexOutOfBoundsException if a range lies outside its array or buffer
     */
    public static void quantizeQ8_0(float[] x, int xOff, int n, ByteBuffer dst, int dstOff) {
        checkBlocks(n, QK8_0, "Q8_0");
        Objects.checkFromIndexSize(xOff, n, x.length);
        Objects.checkFromIndexSize(dstOff, (long) n / QK8_0 * Q8_0_BLOCK_BYTES, dst.limit());
        requireFinite(x, xOff, n, "Q8_0");
        for (int b = 0; b < n / QK8_0; b++) {
            int xb = xOff + b * QK8_0;
            int yb = dstOff + b * Q8_0_BLOCK_BYTES;
            float amax = 0f;
            for (int j = 0; j < QK8_0; j++) {
                amax = Math.max(amax, Math.abs(x[xb + j]));
            }
            float d = amax / 127f;
            float id = inverse(d);
            putShort(dst, yb, f32ToF16(d));
            for (int j = 0; j < QK8_0; j++) {
                dst.put(yb + 2 + j, (byte) (int) roundHalfAwayFromZero(x[xb + j] * id));
            }
        }
    }

    /**
     * Quantizes a whole array to Q8_0, as {@link #quantizeQ8_0(float[], int, int, ByteBuffer, int)}.
     *
     * @param x the values, finite; length a multiple of 32
     * @return {@code x.length / 32 * 34} bytes of blocks
     */
    public static byte[] quantizeQ8_0(float[] x) {
        byte[] out = new byte[Math.multiplyExact(checkBlocks(x.length, QK8_0, "Q8_0") / QK8_0, Q8_0_BLOCK_BYTES)];
        quantizeQ8_0(x, 0, x.length, ByteBuffer.wrap(out), 0);
        return out;
    }

    /**
     * Quantizes an activation vector to Q8_0, the form {@link #dotQ8_0Q8_0} and {@link #dotQ4_0Q8_0} take it in: the
     * same quantization as the weights ({@link #quantizeQ8_0(float[], int, int, ByteBuffer, int)}), ggml's reference
     * (not its SIMD {@code quantize_row_q8_0}, which rounds halves to even).
     *
     * @param act the activations, finite; length a multiple of 32
     * @return {@code act.length / 32 * 34} bytes of blocks
     */
    public static byte[] quantizeRowQ8_0(float[] act) {
        return quantizeQ8_0(act);
    }

    /**
     * Dequantizes {@code n / 32} Q8_0 blocks, as ggml's {@code dequantize_row_q8_0}: {@code y_j = q_j * d} with
     * {@code d = f16ToF32(scale)} (a float product, exact unless it underflows or overflows).
     *
     * @param src    the blocks
     * @param srcOff byte index of the first block
     * @param y      receives {@code n} floats
     * @param yOff   index of the first
     * @param n      a non-negative multiple of 32
     */
    public static void dequantizeQ8_0(ByteBuffer src, int srcOff, float[] y, int yOff, int n) {
        checkBlocks(n, QK8_0, "Q8_0");
        Objects.checkFromIndexSize(srcOff, (long) n / QK8_0 * Q8_0_BLOCK_BYTES, src.limit());
        Objects.checkFromIndexSize(yOff, n, y.length);
        for (int b = 0; b < n / QK8_0; b++) {
            int xb = srcOff + b * Q8_0_BLOCK_BYTES;
            float d = f16ToF32(getShort(src, xb));
            for (int j = 0; j < QK8_0; j++) {
                y[yOff + b * QK8_0 + j] = src.get(xb + 2 + j) * d;
            }
        }
    }

    // ------------------------------------------------------------------------------------------------------ Q4_0

    /**
     * Quantizes {@code n} floats into {@code n / 32} Q4_0 blocks, as ggml's {@code quantize_row_q4_0_ref}. Per block:
     * {@code max} is the first value of the largest magnitude, its sign kept; {@code d = max / -8f}; {@code id = 1f /
     * d} (0 if {@code d} is 0 or {@code 1/d} overflows, as in {@link #quantizeQ8_0(float[], int, int, ByteBuffer,
     * int) Q8_0}); the scale stored is {@code f32ToF16(d)}; each element's nibble is {@code min(15, (int) (x_j * id +
     * 8.5f))}, truncating toward zero. The largest-magnitude value thus becomes nibble 0 ({@code -8 * d = max}), and
     * a value of the opposite sign and the same magnitude would be 16, clamped to 15.
     *
     * @param x      the values, finite
     * @param xOff   index of the first value
     * @param n      how many, a non-negative multiple of 32
     * @param dst    receives {@code n / 32 * 18} bytes
     * @param dstOff byte index of the first block in {@code dst}
     * @throws IllegalArgumentException if {@code n} is not a multiple of 32 or a value is NaN or infinite
     * @throws IndexOutOfBoundsException if a range lies outside its array or buffer
     */
    public static void quantizeQ4_0(float[] x, int xOff, int n, ByteBuffer dst, int dstOff) {
        checkBlocks(n, QK4_0, "Q4_0");
        Objects.checkFromIndexSize(xOff, n, x.length);
        Objects.checkFromIndexSize(dstOff, (long) n / QK4_0 * Q4_0_BLOCK_BYTES, dst.limit());
        requireFinite(x, xOff, n, "Q4_0");
        for (int b = 0; b < n / QK4_0; b++) {
            int xb = xOff + b * QK4_0;
            int yb = dstOff + b * Q4_0_BLOCK_BYTES;
            float amax = 0f;
            float max = 0f;
            for (int j = 0; j < QK4_0; j++) {
                float v = x[xb + j];
                if (amax < Math.abs(v)) {
                    amax = Math.abs(v);
                    max = v;
                }
            }
            float d = max / -8f;
            float id = inverse(d);
            putShort(dst, yb, f32ToF16(d));
            for (int j = 0; j < QK4_0 / 2; j++) {
                int lo = Math.min(15, (int) (x[xb + j] * id + 8.5f));
                int hi = Math.min(15, (int) (x[xb + QK4_0 / 2 + j] * id + 8.5f));
                dst.put(yb + 2 + j, (byte) (lo | hi << 4));
            }
        }
    }

    /**
     * Quantizes a whole array to Q4_0, as {@link #quantizeQ4_0(float[], int, int, ByteBuffer, int)}.
     *
     * @param x the values, finite; length a multiple of 32
     * @return {@code x.length / 32 * 18} bytes of blocks
     */
    public static byte[] quantizeQ4_0(float[] x) {
        byte[] out = new byte[Math.multiplyExact(checkBlocks(x.length, QK4_0, "Q4_0") / QK4_0, Q4_0_BLOCK_BYTES)];
        quantizeQ4_0(x, 0, x.length, ByteBuffer.wrap(out), 0);
        return out;
    }

    /**
     * Dequantizes {@code n / 32} Q4_0 blocks, as ggml's {@code dequantize_row_q4_0}: element {@code j} (0-15) is
     * {@code (lo(byte j) - 8) * d}, element {@code j + 16} is {@code (hi(byte j) - 8) * d}, with {@code d =
     * f16ToF32(scale)}.
     *
     * @param src    the blocks
     * @param srcOff byte index of the first block
     * @param y      receives {@code n} floats
     * @param yOff   index of the first
     * @param n      a non-negative multiple of 32
     */
    public static void dequantizeQ4_0(ByteBuffer src, int srcOff, float[] y, int yOff, int n) {
        checkBlocks(n, QK4_0, "Q4_0");
        Objects.checkFromIndexSize(srcOff, (long) n / QK4_0 * Q4_0_BLOCK_BYTES, src.limit());
        Objects.checkFromIndexSize(yOff, n, y.length);
        for (int b = 0; b < n / QK4_0; b++) {
            int xb = srcOff + b * Q4_0_BLOCK_BYTES;
            float d = f16ToF32(getShort(src, xb));
            for (int j = 0; j < QK4_0 / 2; j++) {
                int q = src.get(xb + 2 + j) & 0xFF;
                y[yOff + b * QK4_0 + j] = ((q & 0x0F) - 8) * d;
                y[yOff + b * QK4_0 + QK4_0 / 2 + j] = ((q >>> 4) - 8) * d;
            }
        }
    }

    // ------------------------------------------------------------------------------------------------------ dots

    /**
     * The dot product of a Q8_0 weight row and Q8_0 activations (each {@code n / 32} blocks). The canonical order:
     * <pre>
     * float sum = 0f;
     * for (b = 0; b &lt; n / 32; b++) {                       // blocks in increasing order
     *     int isum = sum over j of w.q[b][j] * a.q[b][j];    // exact
     *     sum = sum + (float) isum * (f16ToF32(w.d[b]) * f16ToF32(a.d[b]));
     * }
     * </pre>
     * that is, per block one float product of the two scales, one float product with the block's integer sum
     * ({@code |isum| <= 32 * 127 * 127}, exact as a float), one float addition; no FMA. Equal to ggml's generic
     * {@code ggml_vec_dot_q8_0_q8_0}. A SIMD path may sum each block's integers in any order (integer sums are exact)
     * but must then accumulate the per-block floats one block at a time, in this order.
     *
     * @param row    the weight row's blocks
     * @param rowOff byte index of its first block
     * @param act    the activations' blocks ({@link #quantizeRowQ8_0})
     * @param actOff byte index of their first block
     * @param n      elements, a non-negative multiple of 32
     * @return the dot product
     */
    public static float dotQ8_0Q8_0(ByteBuffer row, int rowOff, ByteBuffer act, int actOff, int n) {
        checkBlocks(n, QK8_0, "Q8_0");
        Objects.checkFromIndexSize(rowOff, (long) n / QK8_0 * Q8_0_BLOCK_BYTES, row.limit());
        Objects.checkFromIndexSize(actOff, (long) n / QK8_0 * Q8_0_BLOCK_BYTES, act.limit());
        float sum = 0f;
        for (int b = 0; b < n / QK8_0; b++) {
            int wb = rowOff + b * Q8_0_BLOCK_BYTES;
            int ab = actOff + b * Q8_0_BLOCK_BYTES;
            int isum = 0;
            for (int j = 0; j < QK8_0; j++) {
                isum += row.get(wb + 2 + j) * act.get(ab + 2 + j);
            }
            sum += isum * (f16ToF32(getShort(row, wb)) * f16ToF32(getShort(act, ab)));
        }
        return sum;
    }

    /**
     * The dot product of a Q4_0 weight row and Q8_0 activations (each {@code n / 32} blocks), in the canonical order
     * of {@link #dotQ8_0Q8_0}: per block {@code isum = sum_j (lo_j - 8) * a.q[j] + (hi_j - 8) * a.q[j + 16]} over
     * {@code j < 16} (exact), then {@code sum = sum + (float) isum * (f16ToF32(w.d) * f16ToF32(a.d))}, blocks in
     * increasing order. (ggml's generic {@code ggml_vec_dot_q4_0_q8_0} multiplies {@code (isum * w.d) * a.d}
     * instead, which may differ in the last bit; this project uses one order for both formats.)
     *
     * @param row    the weight row's Q4_0 blocks
     * @param rowOff byte index of its first block
     * @param act    the activations' Q8_0 blocks
     * @param actOff byte index of their first block
     * @param n      elements, a non-negative multiple of 32
     * @return the dot product
     */
    public static float dotQ4_0Q8_0(ByteBuffer row, int rowOff, ByteBuffer act, int actOff, int n) {
        checkBlocks(n, QK4_0, "Q4_0");
        Objects.checkFromIndexSize(rowOff, (long) n / QK4_0 * Q4_0_BLOCK_BYTES, row.limit());
        Objects.checkFromIndexSize(actOff, (long) n / QK8_0 * Q8_0_BLOCK_BYTES, act.limit());
        float sum = 0f;
        for (int b = 0; b < n / QK4_0; b++) {
            int wb = rowOff + b * Q4_0_BLOCK_BYTES;
            int ab = actOff + b * Q8_0_BLOCK_BYTES;
            int isum = 0;
            for (int j = 0; j < QK4_0 / 2; j++) {
                int q = row.get(wb + 2 + j) & 0xFF;
                isum += ((q & 0x0F) - 8) * act.get(ab + 2 + j) + ((q >>> 4) - 8) * act.get(ab + 2 + QK4_0 / 2 + j);
            }
            sum += isum * (f16ToF32(getShort(row, wb)) * f16ToF32(getShort(act, ab)));
        }
        return sum;
    }

    /**
     * The dot product of an F16 weight row and float activations: {@code sum = sum + f16ToF32(w_i) * x_i} for
     * {@code i} in increasing order, from {@code 0f}, in float, no FMA.
     *
     * @param row    the row's halves, little-endian
     * @param rowOff byte index of the first
     * @param x      the activations
     * @param xOff   index of the first
     * @param n      elements
     * @return the dot product
     */
    public static float dotF16F32(ByteBuffer row, int rowOff, float[] x, int xOff, int n) {
        Objects.checkFromIndexSize(rowOff, 2L * n, row.limit());
        Objects.checkFromIndexSize(xOff, n, x.length);
        float sum = 0f;
        for (int i = 0; i < n; i++) {
            sum += f16ToF32(getShort(row, rowOff + 2 * i)) * x[xOff + i];
        }
        return sum;
    }

    /**
     * The dot product of a BF16 weight row and float activations, in the order of {@link #dotF16F32}.
     *
     * @param row    the row's bfloat16s, little-endian
     * @param rowOff byte index of the first
     * @param x      the activations
     * @param xOff   index of the first
     * @param n      elements
     * @return the dot product
     */
    public static float dotBF16F32(ByteBuffer row, int rowOff, float[] x, int xOff, int n) {
        Objects.checkFromIndexSize(rowOff, 2L * n, row.limit());
        Objects.checkFromIndexSize(xOff, n, x.length);
        float sum = 0f;
        for (int i = 0; i < n; i++) {
            sum += bf16ToF32(getShort(row, rowOff + 2 * i)) * x[xOff + i];
        }
        return sum;
    }

    // ------------------------------------------------------------------------------------------------- any type

    /**
     * Converts {@code n} elements of a supported type to floats: F32 (read little-endian), F16, BF16 ({@link
     * #f16ToF32}, {@link #bf16ToF32}), Q8_0, Q4_0 ({@link #dequantizeQ8_0}, {@link #dequantizeQ4_0}).
     *
     * @param type   the elements' type
     * @param src    the data
     * @param srcOff byte index of the first element's block
     * @param y      receives {@code n} floats
     * @param yOff   index of the first
     * @param n      elements, a non-negative multiple of the type's block size
     * @throws IllegalArgumentException if the type is not {@linkplain GgmlType#isSupported() supported}
     */
    public static void dequantize(GgmlType type, ByteBuffer src, int srcOff, float[] y, int yOff, int n) {
        switch (type) {
            case F32 -> {
                Objects.checkFromIndexSize(srcOff, 4L * n, src.limit());
                Objects.checkFromIndexSize(yOff, n, y.length);
                for (int i = 0; i < n; i++) {
                    y[yOff + i] = Float.intBitsToFloat(getInt(src, srcOff + 4 * i));
                }
            }
            case F16, BF16 -> {
                Objects.checkFromIndexSize(srcOff, 2L * n, src.limit());
                Objects.checkFromIndexSize(yOff, n, y.length);
                for (int i = 0; i < n; i++) {
                    short h = getShort(src, srcOff + 2 * i);
                    y[yOff + i] = type == GgmlType.F16 ? f16ToF32(h) : bf16ToF32(h);
                }
            }
            case Q8_0 -> dequantizeQ8_0(src, srcOff, y, yOff, n);
            case Q4_0 -> dequantizeQ4_0(src, srcOff, y, yOff, n);
            default -> throw unsupported(type);
        }
    }

    /**
     * Converts floats to a supported type: F32 (written little-endian, bits unchanged), F16, BF16 ({@link #f32ToF16},
     * {@link #f32ToBf16}), Q8_0, Q4_0 (the reference quantizers above, which need finite values).
     *
     * @param type the target type
     * @param x    the values; length a multiple of the type's block size
     * @return {@code type.byteSize(x.length)} bytes
     * @throws IllegalArgumentException if the type is not supported, or as the quantizers do
     */
    public static byte[] quantize(GgmlType type, float[] x) {
        switch (type) {
            case F32 -> {
                byte[] out = new byte[Math.multiplyExact(4, x.length)];
                ByteBuffer b = ByteBuffer.wrap(out);
                for (int i = 0; i < x.length; i++) {
                    putInt(b, 4 * i, Float.floatToRawIntBits(x[i]));
                }
                return out;
            }
            case F16, BF16 -> {
                byte[] out = new byte[Math.multiplyExact(2, x.length)];
                ByteBuffer b = ByteBuffer.wrap(out);
                for (int i = 0; i < x.length; i++) {
                    putShort(b, 2 * i, type == GgmlType.F16 ? f32ToF16(x[i]) : f32ToBf16(x[i]));
                }
                return out;
            }
            case Q8_0 -> {
                return quantizeQ8_0(x);
            }
            case Q4_0 -> {
                return quantizeQ4_0(x);
            }
            default -> throw unsupported(type);
        }
    }

    private static IllegalArgumentException unsupported(GgmlType type) {
        return new IllegalArgumentException("type " + type + " is not supported: only F32, F16, BF16, Q8_0 and Q4_0");
    }

    private static int checkBlocks(int n, int block, String type) {
        if (n < 0 || n % block != 0) {
            throw new IllegalArgumentException(type + ": " + n + " elements, expected a non-negative multiple of the"
                + " block size " + block);
        }
        return n;
    }

    private static void requireFinite(float[] x, int off, int n, String type) {
        for (int i = 0; i < n; i++) {
            if (!Float.isFinite(x[off + i])) {
                throw new IllegalArgumentException(type + " quantizes finite values only: element " + i + " (index "
                    + (off + i) + ") is " + x[off + i]);
            }
        }
    }

    static short getShort(ByteBuffer b, int i) {
        return (short) ((b.get(i) & 0xFF) | (b.get(i + 1) & 0xFF) << 8);
    }

    static int getInt(ByteBuffer b, int i) {
        return (b.get(i) & 0xFF) | (b.get(i + 1) & 0xFF) << 8 | (b.get(i + 2) & 0xFF) << 16 | (b.get(i + 3) & 0xFF) << 24;
    }

    static void putShort(ByteBuffer b, int i, short v) {
        b.put(i, (byte) v);
        b.put(i + 1, (byte) (v >>> 8));
    }

    static void putInt(ByteBuffer b, int i, int v) {
        b.put(i, (byte) v);
        b.put(i + 1, (byte) (v >>> 8));
        b.put(i + 2, (byte) (v >>> 16));
        b.put(i + 3, (byte) (v >>> 24));
    }
}

package org.sparknative.kernels.gguf;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The reference conversions and quantizers against values worked out by hand, the conversions' rounding exhaustively
 * over every half, and the quantizers' error bounds on random data.
 */
class QuantsTest {

    private static short h(int bits) {
        return (short) bits;
    }

    private static float f(int bits) {
        return Float.intBitsToFloat(bits);
    }

    private static void assertHalf(int expected, float value) {
        short got = Quants.f32ToF16(value);
        assertEquals(expected, got & 0xFFFF, () -> value + " (0x" + Integer.toHexString(Float.floatToRawIntBits(value))
            + "): expected half 0x" + Integer.toHexString(expected) + ", got 0x" + Integer.toHexString(got & 0xFFFF));
    }

    // ------------------------------------------------------------------------------------------------------ F16

    @Test
    void f16EdgeValues() {
        assertHalf(0x0000, 0f);
        assertHalf(0x8000, -0f);
        assertHalf(0x3C00, 1f);
        assertHalf(0xC000, -2f);
        assertHalf(0x3555, 1f / 3);                   // 0.333333: mantissa 0x155.55.. rounds down
        assertHalf(0x7BFF, 65504f);                  // the largest half
        assertHalf(0x7BFF, 65519.996f);              // just below the tie with 65536: down
        assertHalf(0x7C00, 65520f);                  // the tie between 65504 (odd mantissa) and 65536: up, infinity
        assertHalf(0x7C00, 1e10f);
        assertHalf(0x7C00, Float.POSITIVE_INFINITY);
        assertHalf(0xFC00, Float.NEGATIVE_INFINITY);
        assertHalf(0x7E00, Float.NaN);               // quiet NaN, payload dropped
        assertHalf(0xFE00, f(0xFFC0_0001));          // negative NaN keeps its sign
        assertHalf(0x7E00, f(0x7F80_0001));          // signalling NaN: quiet
        assertHalf(0x0400, 0x1p-14f);                // the smallest normal
        assertHalf(0x03FF, 1023 * 0x1p-24f);         // the largest subnormal
        assertHalf(0x0001, 0x1p-24f);                // the smallest subnormal
        assertHalf(0x0000, 0x1p-25f);                // half of it: tie, to even (0)
        assertHalf(0x0001, Math.nextUp(0x1p-25f));   // just above the tie: up
        assertHalf(0x8001, -Math.nextUp(0x1p-25f));
        assertHalf(0x0002, 1.5f * 0x1p-24f);          // tie between 1 and 2 (units of 2^-24): even, 2
        assertHalf(0x0002, 2.5f * 0x1p-24f);          // tie between 2 and 3: even, 2
        assertHalf(0x0000, 1e-10f);
        assertHalf(0x3C00, 1f + 0x1p-11f);           // tie between 1 and 1 + 2^-10: even, 1
        assertHalf(0x3C02, 1f + 3 * 0x1p-11f);       // tie between 1 + 2^-10 and 1 + 2^-9: even, up
        assertHalf(0x0400, 1023.5f * 0x1p-24f);       // largest subnormal + half a step: tie, to even 0x400

        assertEquals(0f, Quants.f16ToF32(h(0x0000)));
        assertEquals(Float.floatToRawIntBits(-0f), Float.floatToRawIntBits(Quants.f16ToF32(h(0x8000))));
        assertEquals(0x1p-24f, Quants.f16ToF32(h(0x0001)));
        assertEquals(1023 * 0x1p-24f, Quants.f16ToF32(h(0x03FF)));
        assertEquals(0x1p-14f, Quants.f16ToF32(h(0x0400)));
        assertEquals(65504f, Quants.f16ToF32(h(0x7BFF)));
        assertEquals(-2f, Quants.f16ToF32(h(0xC000)));
        assertEquals(Float.POSITIVE_INFINITY, Quants.f16ToF32(h(0x7C00)));
        assertEquals(Float.NEGATIVE_INFINITY, Quants.f16ToF32(h(0xFC00)));
        assertTrue(Float.isNaN(Quants.f16ToF32(h(0x7E00))));
        assertTrue(Float.isNaN(Quants.f16ToF32(h(0x7C01))));
    }

    /** Every half converts to a float and back to itself; NaNs stay NaN. */
    @Test
    void everyHalfRoundTrips() {
        for (int bits = 0; bits < 0x10000; bits++) {
            float v = Quants.f16ToF32(h(bits));
            boolean nan = (bits & 0x7C00) == 0x7C00 && (bits & 0x3FF) != 0;
            assertEquals(nan, Float.isNaN(v), "half 0x" + Integer.toHexString(bits));
            if (!nan) {
                assertHalf(bits, v);
            }
        }
    }

    /**
     * Between every two neighbouring finite halves, the midpoint (exact in float) goes to the one with the even
     * mantissa, and the floats just below and above it to the nearer one: round to nearest even, everywhere.
     */
    @Test
    void everyMidpointRoundsToEven() {
        for (int bits = 0; bits < 0x7C00; bits++) {
            for (int sign : new int[] {0, 0x8000}) {
                int lo = sign | bits;
                int hi = sign | (bits + 1);
                float a = Quants.f16ToF32(h(lo));
                float b = bits + 1 == 0x7C00 ? Math.copySign(65536f, a) : Quants.f16ToF32(h(hi));
                float mid = (a + b) / 2;
                assertTrue(mid != a && mid != b && (double) mid == ((double) a + b) / 2, "midpoint of " + a + ", " + b);
                assertHalf((bits & 1) == 0 ? lo : hi, mid);
                float below = sign == 0 ? Math.nextDown(mid) : Math.nextUp(mid);
                float above = sign == 0 ? Math.nextUp(mid) : Math.nextDown(mid);
                assertHalf(lo, below);
                assertHalf(hi, above);
            }
        }
    }

    // ----------------------------------------------------------------------------------------------------- BF16

    private static void assertBf16(int expected, int floatBits) {
        short got = Quants.f32ToBf16(f(floatBits));
        assertEquals(expected, got & 0xFFFF, () -> "float 0x" + Integer.toHexString(floatBits) + ": expected bf16 0x"
            + Integer.toHexString(expected) + ", got 0x" + Integer.toHexString(got & 0xFFFF));
    }

    @Test
    void bf16EdgeValues() {
        assertBf16(0x0000, 0x0000_0000);
        assertBf16(0x8000, 0x8000_0000);             // -0
        assertBf16(0x3F80, 0x3F80_0000);             // 1
        assertBf16(0x3F80, 0x3F80_8000);             // tie between 0x3F80 and 0x3F81: even, down
        assertBf16(0x3F82, 0x3F81_8000);             // tie between 0x3F81 and 0x3F82: even, up
        assertBf16(0x3F81, 0x3F80_8001);             // just above the tie: up
        assertBf16(0x3F80, 0x3F80_7FFF);             // just below: down
        assertBf16(0x7F7F, 0x7F7F_7FFF);             // below the tie with infinity: the largest bfloat16
        assertBf16(0x7F80, 0x7F7F_FFFF);             // Float.MAX_VALUE rounds up to infinity
        assertBf16(0x7F80, 0x7F80_0000);             // infinity
        assertBf16(0xFF80, 0xFF80_0000);             // -infinity
        assertBf16(0x7FC0, 0x7FC0_0000);             // quiet NaN
        assertBf16(0x7FC0, 0x7F80_0001);             // signalling NaN with a low payload: quiet, not infinity
        assertBf16(0xFFC1, 0xFF81_2345);             // NaN keeps sign and upper payload, quiet bit forced
        assertBf16(0x0000, 0x0000_0001);             // the smallest subnormal: down to 0
        assertBf16(0x0000, 0x0000_8000);             // tie: even, 0
        assertBf16(0x0002, 0x0001_8000);             // tie: even, up
        assertBf16(0x0001, 0x0001_0000);             // a subnormal bfloat16, kept

        assertEquals(1f, Quants.bf16ToF32(h(0x3F80)));
        assertEquals(-2f, Quants.bf16ToF32(h(0xC000)));
        assertEquals(Float.POSITIVE_INFINITY, Quants.bf16ToF32(h(0x7F80)));
        assertEquals(f(0x0001_0000), Quants.bf16ToF32(h(0x0001)));
        assertTrue(Float.isNaN(Quants.bf16ToF32(h(0x7FC0))));
        for (int bits = 0; bits < 0x10000; bits++) {
            float v = Quants.bf16ToF32(h(bits));
            if (!Float.isNaN(v)) {
                assertBf16(bits, Float.floatToRawIntBits(v));
            }
        }
    }

    @Test
    void roundfRoundsHalvesAwayFromZero() {
        float[][] cases = {{0.5f, 1}, {-0.5f, -1}, {1.5f, 2}, {2.5f, 3}, {-2.5f, -3}, {0.49999997f, 0}, {126.5f, 127},
            {-126.5f, -127}, {3.7f, 4}, {-3.2f, -3}, {0f, 0}, {8388607.5f, 8388608}};
        for (float[] c : cases) {
            assertEquals(c[1], Quants.roundHalfAwayFromZero(c[0]), "roundf(" + c[0] + ")");
        }
    }

    // ------------------------------------------------------------------------------------------------------ Q8_0

    private static byte[] hex(String s) {
        String[] parts = s.trim().split("\\s+");
        byte[] b = new byte[parts.length];
        for (int i = 0; i < parts.length; i++) {
            b[i] = (byte) Integer.parseInt(parts[i], 16);
        }
        return b;
    }

    /**
     * Two Q8_0 blocks worked out by hand. Block 0: amax 127, so d = 127 / 127 = 1 (F16 0x3C00, bytes 00 3C) and
     * id = 1; q = roundf(x), halves away from zero. Block 1: amax 7.9375 = 127/16, so d = 1/16 (F16: exponent
     * 15 - 4 = 11, bits 0x2C00, bytes 00 2C) and id = 16.
     */
    @Test
    void q8_0BlocksByHand() {
        float[] x = new float[64];
        float[] b0 = {127, -127, 0.5f, -0.5f, 1.5f, -1.5f, 2.5f, -2.5f, 0.49f, 3.7f, -3.2f, 100.4f};
        System.arraycopy(b0, 0, x, 0, b0.length);
        //             x:  7.9375  -7.9375  0.03125  -0.09375  0.15625  1.0  -0.03
        //      x * 16:    127     -127     0.5      -1.5      2.5      16   -0.48
        //   q (roundf):   127     -127     1        -2        3        16   0
        float[] b1 = {7.9375f, -7.9375f, 0.03125f, -0.09375f, 0.15625f, 1f, -0.03f};
        System.arraycopy(b1, 0, x, 32, b1.length);
        byte[] expected = hex(
            // d = 1.0     127 -127  0.5 -0.5  1.5 -1.5  2.5 -2.5 0.49  3.7 -3.2 100.4  (20 zeros)
            "00 3C" + " 7F 81 01 FF 02 FE 03 FD 00 04 FD 64" + " 00".repeat(20)
            // d = 1/16    127 -127    1   -2    3   16    0                             (25 zeros)
            + " 00 2C" + " 7F 81 01 FE 03 10 00" + " 00".repeat(25));
        byte[] q = Quants.quantizeQ8_0(x);
        assertArrayEquals(expected, q);
        assertArrayEquals(q, Quants.quantizeRowQ8_0(x));

        float[] y = new float[64];
        Quants.dequantizeQ8_0(ByteBuffer.wrap(q), 0, y, 0, 64);
        float[] expectedY = new float[64];
        float[] y0 = {127, -127, 1, -1, 2, -2, 3, -3, 0, 4, -3, 100};
        System.arraycopy(y0, 0, expectedY, 0, y0.length);
        float[] y1 = {127 / 16f, -127 / 16f, 1 / 16f, -2 / 16f, 3 / 16f, 1f, 0f};
        System.arraycopy(y1, 0, expectedY, 32, y1.length);
        assertArrayEquals(expectedY, y);
    }

    /**
     * Two Q4_0 blocks worked out by hand. Block 0: the largest magnitude is -8 (element 0), so max = -8, d = -8 / -8 =
     * 1 (bytes 00 3C), id = 1, nibble = min(15, (int) (x + 8.5)). Block 1: the largest magnitude is +4 at element 0
     * and -4 at element 1; the first wins, so max = +4, d = 4 / -8 = -0.5 (F16 0xB800: sign, exponent 14; bytes
     * 00 B8), id = -2, nibble = min(15, (int) (-2x + 8.5)). Element j sits in the low nibble of byte j, element j + 16
     * in the high nibble.
     */
    @Test
    void q4_0BlocksByHand() {
        float[] x = new float[64];
        // block 0, elements 0-9:   -8   7    7.6   -0.5  -0.6  0.49  0    3.2   -3.5  -3.6
        //               x + 8.5:   0.5  15.5 16.1  8.0   7.9   8.99  8.5  11.7  5.0   4.9
        //   nibble (trunc, <=15):  0    15   15    8     7     8     8    11    5     4
        float[] b0 = {-8, 7, 7.6f, -0.5f, -0.6f, 0.49f, 0, 3.2f, -3.5f, -3.6f};
        System.arraycopy(b0, 0, x, 0, b0.length);
        // block 0, elements 16-18:  1    -1   2.4   (x + 8.5 = 9.5, 7.5, 10.9: nibbles 9, 7, 10); the rest 0: nibble 8
        x[16] = 1;
        x[17] = -1;
        x[18] = 2.4f;
        // block 1, elements 0-4:     4    -4   1     -0.3   0.25
        //           -2x + 8.5:       0.5  16.5 6.5   9.1    8.0
        //   nibble (trunc, <=15):    0    15   6     9      8;     elements 16 and 17: x = 2, -2.2 -> 4.5, 12.9 -> 4, 12
        float[] b1 = {4, -4, 1, -0.3f, 0.25f};
        System.arraycopy(b1, 0, x, 32, b1.length);
        x[48] = 2;
        x[49] = -2.2f;
        byte[] expected = hex(
            // byte j = nibble(j + 16) << 4 | nibble(j)
            "00 3C" + " 90 7F AF 88 87 88 88 8B 85 84" + " 88".repeat(6)
            + " 00 B8" + " 40 CF 86 89 88" + " 88".repeat(11));
        byte[] q = Quants.quantizeQ4_0(x);
        assertArrayEquals(expected, q);

        float[] y = new float[64];
        Quants.dequantizeQ4_0(ByteBuffer.wrap(q), 0, y, 0, 64);
        // (nibble - 8) * d
        float[] expectedY = new float[64];
        float[] y0 = {-8, 7, 7, 0, -1, 0, 0, 3, -3, -4};
        System.arraycopy(y0, 0, expectedY, 0, y0.length);
        expectedY[16] = 1;
        expectedY[17] = -1;
        expectedY[18] = 2;
        float[] y1 = {4, -3.5f, 1, -0.5f, 0};
        System.arraycopy(y1, 0, expectedY, 32, y1.length);
        expectedY[48] = 2;
        expectedY[49] = -2;
        for (int i = 0; i < 64; i++) {
            assertEquals(expectedY[i], y[i] + 0f, "element " + i); // + 0f: -0.0 (nibble 8 times -0.5) equals 0
        }
    }

    @Test
    void zeroAndTinyBlocksQuantizeToZero() {
        float[] zeros = new float[32];
        assertArrayEquals(new byte[34], Quants.quantizeQ8_0(zeros));
        // Q4_0: d = max / -8 = 0 / -8 = -0, stored as the F16 -0 (0x8000), as ggml does; nibbles 8
        assertArrayEquals(hex("00 80" + " 88".repeat(16)), Quants.quantizeQ4_0(zeros));
        // 1/d overflows for amax below ~3.7e-37: ggml's C is undefined there; the reference uses id = 0
        float[] tiny = new float[32];
        tiny[3] = 1e-38f;
        tiny[4] = -5e-39f;
        assertArrayEquals(new byte[34], Quants.quantizeQ8_0(tiny));
        assertArrayEquals(hex("00 80" + " 88".repeat(16)), Quants.quantizeQ4_0(tiny)); // d = -1.25e-39: F16 -0
        // still representable reciprocals: q as usual, the F16 scale 0
        float[] small = new float[32];
        small[0] = 1e-30f;
        byte[] q = Quants.quantizeQ8_0(small);
        assertEquals(0, q[0] | q[1]);
        assertEquals(127, q[2]);
    }

    @Test
    void nonFiniteValuesAreRefused() {
        for (float bad : new float[] {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY}) {
            float[] x = new float[32];
            x[7] = bad;
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Quants.quantizeQ8_0(x));
            assertTrue(e.getMessage().contains("element 7"), e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> Quants.quantizeQ4_0(x));
        }
        assertThrows(IllegalArgumentException.class, () -> Quants.quantizeQ8_0(new float[33]));
        assertThrows(IllegalArgumentException.class, () -> Quants.quantizeQ4_0(new float[16]));
        assertThrows(IllegalArgumentException.class, () -> Quants.quantize(GgmlType.Q4_K, new float[256]));
    }

    /** Random blocks with magnitudes from 1e-6 to 1e4 (fixed seed). */
    private static float[] randomBlocks(long seed, int blocks) {
        Random r = new Random(seed);
        float[] x = new float[blocks * 32];
        for (int b = 0; b < blocks; b++) {
            double scale = Math.pow(10, -6 + 10 * r.nextDouble());
            for (int j = 0; j < 32; j++) {
                x[b * 32 + j] = (float) (r.nextGaussian() * scale);
            }
        }
        return x;
    }

    /**
     * Q8_0: with d = amax / 127 in float and d' the F16 it is stored as, every element comes back as q * d' where
     * q = roundf(x / d): |x - x'| <= |x - q d| + |q| |d - d'| <= d / 2 + |q| |d - d'|, plus float rounding.
     */
    @Test
    void q8_0StaysWithinItsErrorBound() {
        float[] x = randomBlocks(42, 2000);
        byte[] q = Quants.quantizeQ8_0(x);
        float[] y = new float[x.length];
        Quants.dequantizeQ8_0(ByteBuffer.wrap(q), 0, y, 0, x.length);
        for (int b = 0; b < x.length / 32; b++) {
            float amax = 0;
            for (int j = 0; j < 32; j++) {
                amax = Math.max(amax, Math.abs(x[b * 32 + j]));
            }
            double d = amax / 127f;
            double stored = Quants.f16ToF32(Quants.getShort(ByteBuffer.wrap(q), b * 34));
            assertEquals(Quants.f16ToF32(Quants.f32ToF16((float) d)), stored);
            for (int j = 0; j < 32; j++) {
                int i = b * 32 + j;
                int qj = q[b * 34 + 2 + j];
                assertTrue(Math.abs(qj) <= 127);
                assertEquals((float) (qj * stored), y[i], "dequantized q * d'");
                double bound = d / 2 * (1 + 1e-5) + Math.abs(qj) * Math.abs(d - stored) + 0x1p-23 * amax;
                assertTrue(Math.abs(x[i] - y[i]) <= bound, () -> "block " + i / 32 + " element " + i % 32 + ": " + x[i]
                    + " came back as " + y[i] + ", more than " + bound + " away");
            }
        }
    }

    /**
     * Q4_0: d = max / -8; a nibble n stands for (n - 8) d, n = min(15, trunc(x / d + 8.5)). Unclamped, n - 8 is x / d
     * rounded (halves up), so |x - x'| <= |d| / 2; an element clamped at 15 (x / d above 7.5, at most 8) is off by at
     * most |d|. Plus |n - 8| |d - d'| for the F16 scale and float rounding.
     */
    @Test
    void q4_0StaysWithinItsErrorBound() {
        float[] x = randomBlocks(4242, 2000);
        byte[] q = Quants.quantizeQ4_0(x);
        float[] y = new float[x.length];
        Quants.dequantizeQ4_0(ByteBuffer.wrap(q), 0, y, 0, x.length);
        for (int b = 0; b < x.length / 32; b++) {
            float amax = 0;
            float max = 0;
            for (int j = 0; j < 32; j++) {
                float v = x[b * 32 + j];
                if (Math.abs(v) > amax) {
                    amax = Math.abs(v);
                    max = v;
                }
            }
            double d = Math.abs(max / -8f);
            double stored = Math.abs(Quants.f16ToF32(Quants.getShort(ByteBuffer.wrap(q), b * 18)));
            for (int j = 0; j < 32; j++) {
                int i = b * 32 + j;
                int packed = q[b * 18 + 2 + j % 16] & 0xFF;
                int n = j < 16 ? packed & 0xF : packed >>> 4;
                boolean clamped = n == 15 && Math.abs(x[i]) > 7.4 * d;
                double bound = (clamped ? 1 : 0.5) * d * (1 + 1e-5) + Math.abs(n - 8) * Math.abs(d - stored) + 0x1p-23 * amax;
                assertTrue(Math.abs(x[i] - y[i]) <= bound, () -> "block " + i / 32 + " element " + i % 32 + ": " + x[i]
                    + " came back as " + y[i] + ", more than " + bound + " away");
            }
            // the element of largest magnitude comes back exactly as -8 * d' = max (up to the F16 scale)
        }
    }

    // ------------------------------------------------------------------------------------------------------ dots

    /** Q8_0 blocks from their parts: F16 scale bits and 32 values. */
    private static byte[] q8Blocks(int[] scales, int[][] qs) {
        ByteBuffer b = ByteBuffer.allocate(34 * scales.length);
        for (int i = 0; i < scales.length; i++) {
            Quants.putShort(b, 34 * i, (short) scales[i]);
            for (int j = 0; j < 32; j++) {
                b.put(34 * i + 2 + j, (byte) qs[i][j]);
            }
        }
        return b.array();
    }

    private static int[] fill(int v) {
        int[] a = new int[32];
        java.util.Arrays.fill(a, v);
        return a;
    }

    @Test
    void dotQ8_0Q8_0ByHand() {
        int[] ramp = new int[32];
        for (int j = 0; j < 32; j++) {
            ramp[j] = j - 16;
        }
        // block 0: w d = 1 (0x3C00), q = j - 16; a d = 0.5 (0x3800), q = 2: isum = 2 * (496 - 512) = -32, times 0.5: -16
        // block 1: w d = 2 (0x4000), q = 1;      a d = 0.25 (0x3400), q = 3: isum = 96, times 0.5: 48
        byte[] w = q8Blocks(new int[] {0x3C00, 0x4000}, new int[][] {ramp, fill(1)});
        byte[] a = q8Blocks(new int[] {0x3800, 0x3400}, new int[][] {fill(2), fill(3)});
        assertEquals(32f, Quants.dotQ8_0Q8_0(ByteBuffer.wrap(w), 0, ByteBuffer.wrap(a), 0, 64));
    }

    /**
     * The canonical order pinned: block results 2^27, 1, -2^27 accumulate in float as ((0 + 2^27) + 1) - 2^27 = 0
     * (2^27 + 1 rounds back to 2^27); any other grouping (pairwise, several accumulators) gives 1.
     */
    @Test
    void dotAccumulatesBlockByBlockInFloat() {
        int[] one = new int[32];
        one[0] = 1;
        // block 0: scales 2^12 (0x6C00) and 2^10 (0x6400), isum 32: 32 * 2^22 = 2^27; block 1: scales 1, 1, isum 1;
        // block 2: as block 0 with q = -1: -2^27
        byte[] w = q8Blocks(new int[] {0x6C00, 0x3C00, 0x6C00}, new int[][] {fill(1), one, fill(-1)});
        byte[] a = q8Blocks(new int[] {0x6400, 0x3C00, 0x6400}, new int[][] {fill(1), one, fill(1)});
        assertEquals(0f, Quants.dotQ8_0Q8_0(ByteBuffer.wrap(w), 0, ByteBuffer.wrap(a), 0, 96));
        // the same blocks in another order: 1 + 2^27 - 2^27
        byte[] w2 = q8Blocks(new int[] {0x3C00, 0x6C00, 0x6C00}, new int[][] {one, fill(1), fill(-1)});
        byte[] a2 = q8Blocks(new int[] {0x3C00, 0x6400, 0x6400}, new int[][] {one, fill(1), fill(1)});
        assertEquals(0f, Quants.dotQ8_0Q8_0(ByteBuffer.wrap(w2), 0, ByteBuffer.wrap(a2), 0, 96));
        byte[] w3 = q8Blocks(new int[] {0x6C00, 0x6C00, 0x3C00}, new int[][] {fill(1), fill(-1), one});
        byte[] a3 = q8Blocks(new int[] {0x6400, 0x6400, 0x3C00}, new int[][] {fill(1), fill(1), one});
        assertEquals(1f, Quants.dotQ8_0Q8_0(ByteBuffer.wrap(w3), 0, ByteBuffer.wrap(a3), 0, 96));
    }

    @Test
    void dotQ4_0Q8_0ByHand() {
        // w: d = 1, every byte 0x9A: low nibble 10 (+2) for elements 0-15, high nibble 9 (+1) for elements 16-31
        ByteBuffer w = ByteBuffer.allocate(18);
        Quants.putShort(w, 0, (short) 0x3C00);
        for (int j = 0; j < 16; j++) {
            w.put(2 + j, (byte) 0x9A);
        }
        int[] ramp = new int[32];
        for (int j = 0; j < 32; j++) {
            ramp[j] = j;
        }
        // a: d = 0.5, q = j. isum = 2 * (0 + ... + 15) + 1 * (16 + ... + 31) = 240 + 376 = 616; times 0.5: 308
        byte[] a = q8Blocks(new int[] {0x3800}, new int[][] {ramp});
        assertEquals(308f, Quants.dotQ4_0Q8_0(w, 0, ByteBuffer.wrap(a), 0, 32));
    }

    /** On random data the quantized dots are close to the exact dot of the dequantized values. */
    @Test
    void quantizedDotsMatchTheDequantizedValues() {
        Random r = new Random(7);
        int n = 32 * 40;
        float[] wv = new float[n];
        float[] av = new float[n];
        for (int i = 0; i < n; i++) {
            wv[i] = (float) r.nextGaussian();
            av[i] = (float) r.nextGaussian() * 3;
        }
        byte[] a = Quants.quantizeRowQ8_0(av);
        float[] ad = new float[n];
        Quants.dequantizeQ8_0(ByteBuffer.wrap(a), 0, ad, 0, n);
        for (GgmlType type : new GgmlType[] {GgmlType.Q8_0, GgmlType.Q4_0}) {
            byte[] w = Quants.quantize(type, wv);
            float[] wd = new float[n];
            Quants.dequantize(type, ByteBuffer.wrap(w), 0, wd, 0, n);
            double exact = 0;
            double magnitude = 0;
            for (int i = 0; i < n; i++) {
                exact += (double) wd[i] * ad[i];
                magnitude += Math.abs((double) wd[i] * ad[i]);
            }
            float dot = type == GgmlType.Q8_0 ? Quants.dotQ8_0Q8_0(ByteBuffer.wrap(w), 0, ByteBuffer.wrap(a), 0, n)
                : Quants.dotQ4_0Q8_0(ByteBuffer.wrap(w), 0, ByteBuffer.wrap(a), 0, n);
            assertEquals(exact, dot, magnitude * 1e-6, type.toString());
        }
    }

    @Test
    void halfDotsAccumulateElementByElement() {
        float[] w = {1, 2, -0.5f, 65504};
        float[] x = {3, 0.25f, 4, 0};
        for (GgmlType type : new GgmlType[] {GgmlType.F16, GgmlType.BF16}) {
            ByteBuffer row = ByteBuffer.wrap(Quants.quantize(type, w));
            float expected = 0f;
            float[] back = new float[4];
            Quants.dequantize(type, row, 0, back, 0, 4);
            for (int i = 0; i < 4; i++) {
                expected += back[i] * x[i];
            }
            float dot = type == GgmlType.F16 ? Quants.dotF16F32(row, 0, x, 0, 4) : Quants.dotBF16F32(row, 0, x, 0, 4);
            assertEquals(expected, dot);
            assertEquals(1.5f, dot, type.toString()); // 3 + 0.5 - 2 + 0
        }
        // 0x1p24 + 1 + 1 in float: each 1 is lost, element by element (pairwise it would be 2^24 + 2)
        float[] big = {0x1p24f, 1, 1};
        ByteBuffer row = ByteBuffer.wrap(Quants.quantize(GgmlType.BF16, big));
        assertEquals(0x1p24f, Quants.dotBF16F32(row, 0, new float[] {1, 1, 1}, 0, 3));
    }

    @Test
    void quantizeAndDequantizeDispatchOnEverySupportedType() {
        Random r = new Random(11);
        float[] x = new float[96];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) r.nextGaussian() * 2; // scales far from F16's subnormals, so that requantizing is exact
        }
        for (GgmlType type : GgmlType.values()) {
            if (!type.isSupported()) {
                assertThrows(IllegalArgumentException.class, () -> Quants.dequantize(type, ByteBuffer.allocate(1024), 0,
                    new float[256], 0, 256), type.toString());
                continue;
            }
            byte[] q = Quants.quantize(type, x);
            assertEquals(type.byteSize(x.length), q.length, type.toString());
            float[] y = new float[x.length];
            Quants.dequantize(type, ByteBuffer.wrap(q), 0, y, 0, x.length);
            assertArrayEquals(q, Quants.quantize(type, y), type + ": dequantized values quantize back to the same bytes");
            if (type == GgmlType.F32) {
                assertArrayEquals(x, y);
            }
        }
    }
}

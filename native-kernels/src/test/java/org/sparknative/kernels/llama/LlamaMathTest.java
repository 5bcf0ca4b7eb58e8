package org.sparknative.kernels.llama;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.FloatBuffer;
import java.nio.file.Path;
import java.util.SplittableRandom;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Pointer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The CUDA forward pass's arithmetic ({@code sn_llama_math.h}, through {@link LlamaMath}'s host hooks)
 * against the Java reference's ({@link ReferenceTransformer}, {@link Sampler}): bit for bit where the
 * operations and their order are the same (matmul and dot products, the RMSNorm scale, RoPE rotation, the
 * residual, argmax, sqrt), within 1e-6 relative where the GPU adds in another order (its 256-lane sums) or
 * where only libm differs (glibc's {@code expf}/{@code powf}/{@code cosf} against {@code Math}'s).
 */
class LlamaMathTest {
    @TempDir
    Path tmp;

    private static float[] uniform(SplittableRandom r, int n, double lo, double hi) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) (lo + (hi - lo) * r.nextDouble());
        }
        return a;
    }

    private static void assertBits(float want, float got, String what) {
        assertEquals(Float.floatToRawIntBits(want), Float.floatToRawIntBits(got), () -> what + ": want " + want + " got " + got);
    }

    private static void assertRel(double want, double got, double rel, String what) {
        double err = Math.abs(want - got) / Math.max(Math.abs(want), Float.MIN_NORMAL);
        assertTrue(err <= rel, () -> what + ": want " + want + " got " + got + " relative error " + err);
    }

    /** The INVARIANT matmul's order is run.c's: sequential in k, one accumulator, so the bits are the reference's. */
    @Test
    void matmulAndDotAreTheReferenceBitForBit() {
        SplittableRandom r = new SplittableRandom(1);
        for (int[] shape : new int[][] {{1, 1, 1}, {3, 7, 5}, {5, 288, 33}, {2, 768, 130}, {9, 31, 257}}) {
            int rows = shape[0];
            int in = shape[1];
            int out = shape[2];
            float[] x = uniform(r, rows * in, -2, 2);
            float[] w = uniform(r, out * in, -0.5, 0.5);
            float[] y = new float[rows * out];
            LlamaMath.matmulSeq(y, x, w, rows, in, out);
            float[] want = new float[out];
            float[] xr = new float[in];
            for (int row = 0; row < rows; row++) {
                System.arraycopy(x, row * in, xr, 0, in);
                ReferenceTransformer.matmul(want, xr, FloatBuffer.wrap(w), 0, in, out);
                for (int o = 0; o < out; o++) {
                    assertBits(want[o], y[row * out + o], "matmul " + rows + "x" + in + "x" + out + " [" + row + "][" + o + "]");
                    float[] wo = java.util.Arrays.copyOfRange(w, o * in, (o + 1) * in);
                    assertBits(want[o], LlamaMath.dotSeq(wo, xr, in), "dot [" + row + "][" + o + "]");
                }
            }
        }
    }

    @Test
    void rmsnormScaleIsTheReferenceAndTheLaneSumIsWithin1e6() {
        SplittableRandom r = new SplittableRandom(2);
        for (int dim : new int[] {1, 8, 64, 255, 256, 257, 288, 768, 4096}) {
            for (int trial = 0; trial < 5; trial++) {
                float[] x = uniform(r, dim, -3, 3);
                float[] w = uniform(r, dim, 0.9, 1.1);
                float seq = 0f;
                for (float v : x) {
                    seq += v * v;
                }
                float lanes = LlamaMath.sumSquaresLanes(x, dim);
                double exact = 0;
                for (float v : x) {
                    exact += (double) v * v;
                }
                // the 256-lane tree is within 1e-6 of the exact sum; the reference's sequential sum may be
                // further off (its rounding error grows with dim), so the two differ by at most its error + 1e-6
                assertRel(exact, lanes, 1e-6, "lane sum of squares, dim " + dim);
                assertTrue(Math.abs(lanes - seq) <= Math.abs(seq - exact) + 1e-6 * exact,
                    "lane vs sequential sum of squares, dim " + dim + ": " + lanes + " vs " + seq + ", exact " + exact);
                // the scale from a given sum is the same float operations: bit for bit
                assertBits(ReferenceTransformer.rmsScale(lanes, dim), LlamaMath.rmsScale(lanes, dim), "scale, dim " + dim);
                assertBits(ReferenceTransformer.rmsScale(seq, dim), LlamaMath.rmsScale(seq, dim), "scale, dim " + dim);
                float[] got = new float[dim];
                LlamaMath.rmsnormLanes(got, x, w, dim);
                float[] want = new float[dim];
                ReferenceTransformer.rmsnorm(want, x, FloatBuffer.wrap(w), 0, dim);
                float scale = LlamaMath.rmsScale(lanes, dim);
                for (int j = 0; j < dim; j++) {
                    double ex = w[j] * (x[j] / Math.sqrt(exact / dim + 1e-5));
                    assertRel(ex, got[j], 1e-6, "rmsnorm dim " + dim + " [" + j + "] vs exact");
                    assertTrue(Math.abs(got[j] - want[j]) <= Math.abs(want[j] - ex) + 1e-6 * Math.abs(ex),
                        "rmsnorm dim " + dim + " [" + j + "]: " + got[j] + " vs reference " + want[j] + ", exact " + ex);
                    assertBits(w[j] * (scale * x[j]), got[j], "rmsnorm output from the lane scale [" + j + "]");
                }
            }
        }
        // dims up to 256: one element per lane; the tree of squares of equal values is exact
        float[] ones = new float[256];
        java.util.Arrays.fill(ones, 1f);
        assertBits(256f, LlamaMath.sumSquaresLanes(ones, 256), "256 ones");
    }

    @Test
    void ropeMatchesTheReference() {
        for (int hs : new int[] {2, 6, 8, 48, 64, 128}) {
            for (int i = 0; i < hs; i += 2) {
                float freq = LlamaMath.ropeFreq(i, hs);
                assertRel(ReferenceTransformer.ropeFreq(i, hs), freq, 1e-6, "freq " + i + "/" + hs);
                for (int pos : new int[] {0, 1, 2, 17, 255, 511, 1023, 4095}) {
                    float val = LlamaMath.ropeAngle(pos, freq);
                    assertBits(pos * freq, val, "angle pos " + pos);
                    float[] cs = new float[2];
                    LlamaMath.ropeCosSin(pos, i, hs, cs);
                    // the same angle: glibc's cosf/sinf against Math's, both within an ulp of the truth
                    assertEquals((float) Math.cos(val), cs[0], 1e-6, "cos pos " + pos + " i " + i + "/" + hs);
                    assertEquals((float) Math.sin(val), cs[1], 1e-6, "sin pos " + pos + " i " + i + "/" + hs);
                }
            }
        }
        SplittableRandom r = new SplittableRandom(3);
        for (int t = 0; t < 1000; t++) {
            float[] v = uniform(r, 2, -4, 4);
            float cr = (float) Math.cos(r.nextDouble() * 7);
            float ci = (float) Math.sin(r.nextDouble() * 7);
            float[] want = v.clone();
            ReferenceTransformer.rotate(want, 0, cr, ci);
            LlamaMath.ropeRotate(v, cr, ci);
            assertBits(want[0], v[0], "rotate v0");
            assertBits(want[1], v[1], "rotate v1");
        }
        // a whole q row with GQA's shorter k row: the reference's loop, table row by table row
        int hs = 8;
        int dim = 32;
        int seq = 20;
        float[] table = new float[seq * hs];
        LlamaMath.ropeTable(table, seq, hs);
        for (int pos = 0; pos < seq; pos++) {
            float[] q = uniform(r, dim, -1, 1);
            float[] want = q.clone();
            for (int i = 0; i < dim; i += 2) {
                ReferenceTransformer.rotate(want, i, table[pos * hs + i % hs], table[pos * hs + i % hs + 1]);
            }
            LlamaMath.ropeRow(q, dim, java.util.Arrays.copyOfRange(table, pos * hs, (pos + 1) * hs), hs);
            for (int i = 0; i < dim; i++) {
                assertBits(want[i], q[i], "rope row pos " + pos + " [" + i + "]");
            }
        }
    }

    /** The table the CUDA model uploads is the CPU model's own, bit for bit (the same glibc expressions). */
    @Test
    void theRopeTableIsTheCpuModelsTable() {
        LlamaConfig c = new LlamaConfig(48, 64, 1, 4, 2, 50, 300, true);
        Path file = tmp.resolve("rope.bin");
        SyntheticCheckpoint.write(file, c, 7, CheckpointFormat.V1);
        int n = c.seqLen() * c.headSize();
        float[] want = new float[n];
        LlamaMath.ropeTable(want, c.seqLen(), c.headSize());
        try (NativeLlamaModel m = NativeLlamaModel.map(Checkpoint.open(file))) {
            float[] got = new float[n];
            new FloatPointer(new Pointer() {
                {
                    address = m.ropeTableAddress();
                    capacity = n;
                    limit = n;
                }
            }).get(got);
            for (int i = 0; i < n; i++) {
                assertBits(want[i], got[i], "rope table [" + i / c.headSize() + "][" + i % c.headSize() + "]");
            }
        }
    }

    @Test
    void softmaxInLaneOrderIsWithin1e6OfTheReference() {
        SplittableRandom r = new SplittableRandom(4);
        for (int n : new int[] {1, 2, 7, 255, 256, 257, 300, 513, 1024, 2048}) {
            for (int trial = 0; trial < 4; trial++) {
                float[] x = uniform(r, n, -6, 6);
                float[] want = x.clone();
                Sampler.softmax(want, n);
                float[] got = x.clone();
                LlamaMath.softmaxLanes(got, n);
                double max = Double.NEGATIVE_INFINITY;
                for (float v : x) {
                    max = Math.max(max, v);
                }
                double total = 0;
                for (float v : x) {
                    total += Math.exp(v - max);
                }
                float sum = 0f;
                for (int i = 0; i < n; i++) {
                    // within 1e-6 of the exact softmax; from the reference (whose sequential sum of up to 2048
                    // terms is less exact) by at most the reference's own error + 1e-6
                    double exact = Math.exp(x[i] - max) / total;
                    assertRel(exact, got[i], 1e-6, "softmax n " + n + " [" + i + "] vs exact");
                    assertTrue(Math.abs(got[i] - want[i]) <= Math.abs(want[i] - exact) + 1e-6 * exact,
                        "softmax n " + n + " [" + i + "]: " + got[i] + " vs reference " + want[i] + ", exact " + exact);
                    sum += got[i];
                }
                assertEquals(1f, sum, 1e-5f, "softmax sums to 1, n " + n);
            }
        }
        float[] one = {3.5f};
        LlamaMath.softmaxLanes(one, 1);
        assertBits(1f, one[0], "softmax of one score");
    }

    @Test
    void swigluResidualAndScaleMatchTheReference() {
        SplittableRandom r = new SplittableRandom(5);
        for (int t = 0; t < 20000; t++) {
            float h1 = (float) ((r.nextDouble() - 0.5) * 40);
            float h3 = (float) ((r.nextDouble() - 0.5) * 8);
            assertRel(ReferenceTransformer.swiglu(h1, h3), LlamaMath.swiglu(h1, h3), 1e-6, "swiglu(" + h1 + ", " + h3 + ")");
            float a = (float) r.nextGaussian();
            float b = (float) r.nextGaussian();
            assertBits(a + b, LlamaMath.residual(a, b), "residual");
        }
        assertBits(0f, LlamaMath.swiglu(0f, 5f), "swiglu at 0");
        for (int hs : new int[] {2, 6, 8, 48, 64, 128, 256}) {
            assertBits((float) Math.sqrt(hs), LlamaMath.attScale(hs), "sqrt(" + hs + ")");
        }
    }

    @Test
    void argmaxIsTheSamplersOnTiesNansAndInfinities() {
        SplittableRandom r = new SplittableRandom(6);
        for (int n : new int[] {1, 2, 255, 256, 257, 512, 32000}) {
            for (int trial = 0; trial < 20; trial++) {
                float[] x = new float[n];
                for (int i = 0; i < n; i++) {
                    x[i] = (float) r.nextInt(-20, 20); // many ties
                }
                if (trial % 4 == 1) {
                    x[r.nextInt(n)] = Float.NaN;
                }
                if (trial % 4 == 2) {
                    java.util.Arrays.fill(x, Float.NEGATIVE_INFINITY);
                    x[r.nextInt(n)] = Float.NaN;
                }
                if (trial % 4 == 3 && n > 1) {
                    x[n - 1] = Float.POSITIVE_INFINITY;
                    x[r.nextInt(n)] = Float.POSITIVE_INFINITY;
                }
                assertEquals(Sampler.argmax(x, n), LlamaMath.argmaxLanes(x, n), "n " + n + " trial " + trial);
            }
        }
        float[] nanFirst = {Float.NaN, 5f, 7f};
        assertEquals(0, LlamaMath.argmaxLanes(nanFirst, 3));
        assertEquals(Sampler.argmax(nanFirst, 3), LlamaMath.argmaxLanes(nanFirst, 3));
        float[] allNan = {Float.NaN, Float.NaN};
        assertEquals(Sampler.argmax(allNan, 2), LlamaMath.argmaxLanes(allNan, 2));
        float[] negZero = {-0f, 0f};
        assertEquals(Sampler.argmax(negZero, 2), LlamaMath.argmaxLanes(negZero, 2));
    }
}

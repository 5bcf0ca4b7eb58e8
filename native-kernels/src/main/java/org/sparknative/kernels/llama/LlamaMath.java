package org.sparknative.kernels.llama;

import org.bytedeco.javacpp.annotation.Name;
import org.bytedeco.javacpp.annotation.Platform;
import org.sparknative.kernels.NativeLibrary;

/**
 * JNI hooks of {@code sn_llama_math.h}, the arithmetic the CUDA forward pass ({@code sn_llama.cu}) runs,
 * compiled here for the host by gcc: the tests hold each piece to {@link ReferenceTransformer}'s and
 * {@link Sampler}'s Java math, so every CPU build checks the GPU's formulas. The formulas are llama2.c's
 * ({@code run.c}: rmsnorm, RoPE, softmax, SwiGLU, matmul); the row reductions use the GPU's fixed order
 * (256 lanes, lane {@code k} adding the elements {@code k, k + 256, ...}, combined by a fixed pairwise tree),
 * dot products are sequential in increasing index with one accumulator.
 *
 * <p>Not on any production path: nothing validates, arrays must hold the counts given. Arrays are copied in
 * and out by JavaCPP.
 *
 * <p>Threading: stateless and reentrant. The class loads its JNI library ({@code libjniLlamaMath}) in its
 * static initializer (see {@link NativeLibrary}).
 */
@Platform(include = "sn_llama_math.h")
public final class LlamaMath {
    /** Threads per block of the GPU's row reductions, and their lane count ({@code SN_LLAMA_LANES}). */
    public static final int LANES = 256;

    static {
        NativeLibrary.load(LlamaMath.class);
        NativeLibrary.recordLoad(LlamaMath.class);
    }

    private LlamaMath() {
    }

    /** @return {@code sum(x[i]^2, i < n)} in the CUDA RMSNorm kernel's order (256 lanes, the fixed tree) */
    @Name("sn_sumsq_lanes")
    public static native float sumSquaresLanes(float[] x, int n);

    /** @return run.c's RMSNorm scale {@code 1 / sqrtf(ss / dim + 1e-5f)}, in float */
    @Name("sn_rms_scale")
    public static native float rmsScale(float ss, int dim);

    /** RMSNorm of one row in the CUDA kernel's order: {@code o[j] = weight[j] * (scale * x[j])}, {@code j < dim}. */
    @Name("sn_rmsnorm_lanes")
    public static native void rmsnormLanes(float[] o, float[] x, float[] weight, int dim);

    /** @return RoPE's {@code 1 / powf(10000, headDim / (float) headSize)} for an even {@code headDim < headSize} */
    @Name("sn_rope_freq")
    public static native float ropeFreq(int headDim, int headSize);

    /** @return the rotation angle {@code pos * freq} in float */
    @Name("sn_rope_angle")
    public static native float ropeAngle(int pos, float freq);

    /** {@code out[0], out[1]} = cos, sin of the angle of element pair {@code (i, i+1)} at {@code pos}. */
    @Name("sn_rope_cos_sin")
    public static native void ropeCosSin(int pos, int i, int headSize, float[] out);

    /** The RoPE table {@code [seqLen][headSize]} (cos, sin of each even index), as the CPU model tabulates it. */
    @Name("sn_rope_table")
    public static native void ropeTable(float[] out, int seqLen, int headSize);

    /** Rotates {@code (v[0], v[1])} by the angle whose cosine is {@code fcr} and sine {@code fci}. */
    @Name("sn_rope_rotate")
    public static native void ropeRotate(float[] v, float fcr, float fci);

    /** Rotates the pairs of a row of {@code n} elements with the table row {@code rope} ({@code [headSize]}). */
    @Name("sn_rope_row")
    public static native void ropeRow(float[] v, int n, float[] rope, int headSize);

    /** @return {@code sum(a[i] * b[i], i < n)}, sequential with one accumulator (the matmul kernel's order) */
    @Name("sn_dot_seq")
    public static native float dotSeq(float[] a, float[] b, int n);

    /**
     * {@code y[r][o] = dot(x[r], w[o])} for {@code r < rows}, {@code o < out} ({@code x [rows][in]}, {@code w
     * [out][in]}, {@code y [rows][out]}): what the INVARIANT CUDA matmul computes, bit for bit.
     */
    @Name("sn_matmul_seq")
    public static native void matmulSeq(float[] y, float[] x, float[] w, int rows, int in, int out);

    /** @return the attention scores' divisor {@code sqrtf(headSize)} */
    @Name("sn_att_scale")
    public static native float attScale(int headSize);

    /** Softmax of {@code x[0, n)} in place, in the CUDA attention kernel's order (max, expf, 256-lane sum, divide). */
    @Name("sn_softmax_lanes")
    public static native void softmaxLanes(float[] x, int n);

    /** @return {@code silu(h1) * h3}, {@code silu(z) = z * (1 / (1 + expf(-z)))} */
    @Name("sn_swiglu")
    public static native float swiglu(float h1, float h3);

    /** @return {@code x + o} */
    @Name("sn_residual")
    public static native float residual(float x, float o);

    /** @return the argmax of {@code x[0, n)} in the CUDA kernel's order: lowest index among the maxima, NaN skipped */
    @Name("sn_argmax_lanes")
    public static native int argmaxLanes(float[] x, int n);
}

/*
 * spark-native: the arithmetic of the CUDA Llama-2 forward pass (../cuda/sn_llama.cu), shared by nvcc (the
 * kernels) and gcc (host hooks that JavaCPP builds into libjniLlamaMath, for the tests), so that the CPU
 * build checks, against the Java reference, the formulas the GPU runs. The .cu file holds only indexing,
 * block shapes and synchronization.
 *
 * The formulas are llama2.c's forward() (karpathy/llama2.c run.c): rmsnorm, RoPE, softmax, SwiGLU, the
 * residual connection and matmul. What the GPU changes is the order of some additions, fixed here so that
 * it never depends on how many rows a step holds:
 *   - sums over a row (RMSNorm's sum of squares, softmax's sum of exponentials) use SN_LLAMA_LANES (256)
 *     lanes: lane k adds the elements k, k + 256, k + 512, ... in increasing index, and the lanes are
 *     combined by the fixed pairwise tree lane[k] += lane[k + w] for w = 128, 64, ..., 1 (one thread per
 *     lane, one block per row on the GPU);
 *   - dot products (matmul, attention scores, the weighted sum of values) are sequential in increasing
 *     index with one float accumulator, exactly as run.c's loops (and ReferenceTransformer) add them.
 * Every operation is an IEEE float operation with no contraction (gcc -ffp-contract=off, nvcc
 * --fmad=false; CUDA's own expf is a fixed instruction sequence that uses fma internally, which
 * --fmad=false does not change). The remaining differences between host and device are expf (softmax,
 * SiLU), whose CUDA version is within 2 ulp but not always glibc's value; the RoPE cosines and sines are computed once on the
 * host (sn_rope_cos_sin, the formula of sn_llama.h's table) and uploaded, so they are the CPU path's bits.
 */
#ifndef SN_LLAMA_MATH_H
#define SN_LLAMA_MATH_H

#include <stdint.h>
#include <math.h>

#ifndef SN_HD
#ifdef __CUDACC__
#define SN_HD __host__ __device__ __forceinline__
#else
#define SN_HD static inline
#endif
#endif

/* Threads per block of the row-reduction kernels (RMSNorm, attention, argmax), and their lane count. */
#define SN_LLAMA_LANES 256

/* ---- fixed-lane sums --------------------------------------------------------------------------- */

/* Lane k's part of sum(x[i]^2, i < n): the elements i = k, k + lanes, ... in increasing i. */
SN_HD float sn_sumsq_lane(const float *x, int n, int k, int lanes) {
    float s = 0.0f;
    for (int i = k; i < n; i += lanes) s += x[i] * x[i];
    return s;
}

/* Lane k's part of sum(x[i], i < n), in increasing i. */
SN_HD float sn_sum_lane(const float *x, int n, int k, int lanes) {
    float s = 0.0f;
    for (int i = k; i < n; i += lanes) s += x[i];
    return s;
}

/* One level of the fixed tree: lane k takes in lane k + w (k < w). */
SN_HD float sn_tree_add(float mine, float other) { return mine + other; }

/* The whole fixed tree on `lanes` (a power of two) partial sums, in place; returns the total (lane[0]). */
SN_HD float sn_tree_combine(float *lane, int lanes) {
    for (int w = lanes / 2; w >= 1; w /= 2) {
        for (int k = 0; k < w; k++) lane[k] = sn_tree_add(lane[k], lane[k + w]);
    }
    return lane[0];
}

/* ---- RMSNorm (run.c rmsnorm) ------------------------------------------------------------------- */

/* The scale 1 / sqrt(ss / dim + 1e-5) from the sum of squares ss, with run.c's float operations. */
SN_HD float sn_rms_scale(float ss, int dim) {
    ss /= (float) dim;
    ss += 1e-5f;
    return 1.0f / sqrtf(ss);
}

/* One output element: weight * (scale * x), run.c's order. */
SN_HD float sn_rms_out(float weight, float scale, float x) { return weight * (scale * x); }

/* ---- RoPE (run.c, as tabulated by sn_llama.h) -------------------------------------------------- */

/* freq = 1 / 10000^(head_dim / head_size) for the even index head_dim = i % head_size of a q or k element. */
SN_HD float sn_rope_freq(int head_dim, int head_size) {
    return 1.0f / powf(10000.0f, head_dim / (float) head_size);
}

/* The rotation angle pos * freq, in float as run.c computes it. */
SN_HD float sn_rope_angle(int pos, float freq) { return pos * freq; }

/* cos and sin of the angle of element pair (i, i + 1) at position pos: out[0] = cos, out[1] = sin. */
SN_HD void sn_rope_cos_sin(int pos, int i, int head_size, float *out) {
    const float val = sn_rope_angle(pos, sn_rope_freq(i % head_size, head_size));
    out[0] = cosf(val);
    out[1] = sinf(val);
}

/* Rotates the pair (v[0], v[1]) by the angle whose cosine is fcr and sine fci (run.c's expressions). */
SN_HD void sn_rope_rotate(float *v, float fcr, float fci) {
    const float v0 = v[0], v1 = v[1];
    v[0] = v0 * fcr - v1 * fci;
    v[1] = v0 * fci + v1 * fcr;
}

/* ---- dot products ------------------------------------------------------------------------------ */

/* sum(a[i] * b[i], i < n) in increasing i with one accumulator: run.c's matmul and attention order. */
SN_HD float sn_dot_seq(const float *a, const float *b, int n) {
    float s = 0.0f;
    for (int i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

/* One step of a sequential dot product: acc + w * x (no contraction). */
SN_HD float sn_dot_step(float acc, float w, float x) { return acc + w * x; }

/* The attention scores' divisor sqrt(head_size) (run.c: score /= sqrtf(head_size)). */
SN_HD float sn_att_scale(int head_size) { return sqrtf((float) head_size); }

/* ---- softmax (run.c softmax) ------------------------------------------------------------------- */

/* The larger of two scores (the max is exact, so any reduction order gives the same value). */
SN_HD float sn_max2(float a, float b) { return b > a ? b : a; }

/* expf(x - max): one unnormalized probability. */
SN_HD float sn_softmax_exp(float x, float max) { return expf(x - max); }

/* One normalized probability e / sum. */
SN_HD float sn_softmax_norm(float e, float sum) { return e / sum; }

/* ---- SwiGLU and the residual ------------------------------------------------------------------- */

/* silu(h1) * h3 with silu(z) = z * (1 / (1 + expf(-z))), run.c's expressions in its order. */
SN_HD float sn_swiglu(float h1, float h3) {
    float val = h1;
    val *= (1.0f / (1.0f + expf(-val)));
    val *= h3;
    return val;
}

/* x + o: the residual connection. */
SN_HD float sn_residual(float x, float o) { return x + o; }

/* ---- argmax (run.c sample_argmax) -------------------------------------------------------------- */

/*
 * Whether candidate (vb, ib) beats the current best (va, ia) of a parallel argmax: a larger value, or an
 * equal value at a lower index, so that any combination order ends at the lowest index among the maxima,
 * as run.c's sequential scan (strict >) does. NaNs are skipped by the callers before they get here (run.c's
 * strict > never selects one), and a NaN at index 0, which run.c keeps, is their special case too.
 */
SN_HD int sn_argmax_better(float va, int32_t ia, float vb, int32_t ib) {
    return vb > va || (vb == va && ib < ia);
}

/* ---- whole rows in the GPU's order, for the host tests ----------------------------------------- */
#ifndef __CUDACC__

/* RMSNorm of one row in the CUDA kernel's order (256 lanes, the fixed tree): o[j] = w[j] * (scale * x[j]). */
static inline void sn_rmsnorm_lanes(float *o, const float *x, const float *weight, int32_t dim) {
    float lane[SN_LLAMA_LANES];
    for (int k = 0; k < SN_LLAMA_LANES; k++) lane[k] = sn_sumsq_lane(x, dim, k, SN_LLAMA_LANES);
    const float scale = sn_rms_scale(sn_tree_combine(lane, SN_LLAMA_LANES), dim);
    for (int j = 0; j < dim; j++) o[j] = sn_rms_out(weight[j], scale, x[j]);
}

/* The sum of squares of the CUDA RMSNorm kernel (256 lanes, the fixed tree). */
static inline float sn_sumsq_lanes(const float *x, int32_t n) {
    float lane[SN_LLAMA_LANES];
    for (int k = 0; k < SN_LLAMA_LANES; k++) lane[k] = sn_sumsq_lane(x, n, k, SN_LLAMA_LANES);
    return sn_tree_combine(lane, SN_LLAMA_LANES);
}

/* Softmax of x[0, n) in place, in the CUDA attention kernel's order (max; expf; 256-lane sum; divide). */
static inline void sn_softmax_lanes(float *x, int32_t n) {
    float max = x[0];
    for (int i = 1; i < n; i++) max = sn_max2(max, x[i]);
    for (int i = 0; i < n; i++) x[i] = sn_softmax_exp(x[i], max);
    float lane[SN_LLAMA_LANES];
    for (int k = 0; k < SN_LLAMA_LANES; k++) lane[k] = sn_sum_lane(x, n, k, SN_LLAMA_LANES);
    const float sum = sn_tree_combine(lane, SN_LLAMA_LANES);
    for (int i = 0; i < n; i++) x[i] = sn_softmax_norm(x[i], sum);
}

/* The RoPE table [seq_len][head_size] (cos, sin of each even index) the CUDA model uploads. */
static inline void sn_rope_table(float *out, int32_t seq_len, int32_t head_size) {
    for (int pos = 0; pos < seq_len; pos++) {
        for (int i = 0; i < head_size; i += 2) sn_rope_cos_sin(pos, i, head_size, out + (int64_t) pos * head_size + i);
    }
}

/* sn_rope_rotate on v[i], v[i + 1] of a whole row of n elements (n even) with the table row `rope`. */
static inline void sn_rope_row(float *v, int32_t n, const float *rope, int32_t head_size) {
    for (int i = 0; i < n; i += 2) {
        const int hd = i % head_size;
        sn_rope_rotate(v + i, rope[hd], rope[hd + 1]);
    }
}

/* Y[r][o] = sn_dot_seq(X[r], W[o], in) for r < rows, o < out: the INVARIANT matmul's result. */
static inline void sn_matmul_seq(float *y, const float *x, const float *w, int32_t rows, int32_t in, int32_t out) {
    for (int r = 0; r < rows; r++) {
        for (int o = 0; o < out; o++) {
            float acc = 0.0f;
            for (int k = 0; k < in; k++) acc = sn_dot_step(acc, w[(int64_t) o * in + k], x[(int64_t) r * in + k]);
            y[(int64_t) r * out + o] = acc;
        }
    }
}

/* SwiGLU on n elements: h1[i] = sn_swiglu(h1[i], h3[i]). */
static inline void sn_swiglu_row(float *h1, const float *h3, int32_t n) {
    for (int i = 0; i < n; i++) h1[i] = sn_swiglu(h1[i], h3[i]);
}

/* x[i] = sn_residual(x[i], o[i]) on n elements. */
static inline void sn_residual_row(float *x, const float *o, int32_t n) {
    for (int i = 0; i < n; i++) x[i] = sn_residual(x[i], o[i]);
}

/* The argmax of the CUDA kernel's order: 256 lanes each scanning i = k, k + 256, ..., then the fixed tree. */
static inline int32_t sn_argmax_lanes(const float *x, int32_t n) {
    if (n <= 0) return -1;
    if (x[0] != x[0]) return 0; /* run.c: a NaN at index 0 is never replaced */
    float bv[SN_LLAMA_LANES];
    int32_t bi[SN_LLAMA_LANES];
    for (int k = 0; k < SN_LLAMA_LANES; k++) {
        bv[k] = -INFINITY;
        bi[k] = INT32_MAX;
        for (int i = k; i < n; i += SN_LLAMA_LANES) {
            if (x[i] == x[i] && sn_argmax_better(bv[k], bi[k], x[i], i)) {
                bv[k] = x[i];
                bi[k] = i;
            }
        }
    }
    for (int w = SN_LLAMA_LANES / 2; w >= 1; w /= 2) {
        for (int k = 0; k < w; k++) {
            if (sn_argmax_better(bv[k], bi[k], bv[k + w], bi[k + w])) {
                bv[k] = bv[k + w];
                bi[k] = bi[k + w];
            }
        }
    }
    return bi[0] == INT32_MAX ? 0 : bi[0];
}

#endif /* !__CUDACC__ */

#endif /* SN_LLAMA_MATH_H */

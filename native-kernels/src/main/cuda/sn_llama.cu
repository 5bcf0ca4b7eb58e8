/*
 * spark-native: the Llama-2 forward pass (llama2.c run.c forward()) on the GPU, for a batch of rows (one
 * token of one sequence each). The arithmetic is sn_llama_math.h's, which the host tests check against
 * the Java reference; this file holds only the indexing, the block shapes and the synchronization.
 * Included by sparknative.cu (the fatbin's one translation unit); every kernel is extern "C" and float32,
 * compiled with --fmad=false.
 *
 * Batch invariance: no kernel's result for a row depends on the other rows of the step. Each output
 * element is computed by one thread in an order fixed by the shapes of the model only: row reductions use
 * one block of SN_LLAMA_LANES (256) threads per row (or per row and head) combined by a fixed tree, and
 * every dot product is sequential in increasing index with one accumulator (sn_dot_step), so a row's bits
 * are the same alone or among any number of other rows. The launcher (CudaLlamaBatch) always uses the
 * block sizes named below; the kernels rely on them.
 *
 * Layouts (row-major float32): activations [rows][width]; weights [out][in] as in the checkpoint; the KV
 * cache of one layer [slot][pos][kv_dim] (the launcher passes the layer's base address); attention
 * scratch [rows][n_heads][seq_len]; the RoPE table [seq_len][head_size] (cos, sin of each even index).
 */
#include "sn_llama_math.h"

/* The INVARIANT matmul's tile: SN_MM_TO outputs (one per thread) x SN_MM_TR rows per block, SN_MM_TK k per step. */
#define SN_MM_TO 128
#define SN_MM_TR 8
#define SN_MM_TK 32

/*
 * x[r] = emb[tokens[r]]: the token's embedding row.
 * Launch: grid (rows), block any (256).
 */
extern "C" __global__ void sn_llama_embed(float *x, const float *emb, const int32_t *tokens, int32_t dim) {
    const int r = blockIdx.x;
    const float *src = emb + (size_t) tokens[r] * dim;
    float *dst = x + (size_t) r * dim;
    for (int i = threadIdx.x; i < dim; i += blockDim.x) dst[i] = src[i];
}

/*
 * o[r] = rmsnorm(x[src], weight) with src = row_index[r] (row_index NULL: src = r), one block per output
 * row: thread k sums the squares of the elements k, k + 256, ... (sn_sumsq_lane), the fixed tree combines
 * the 256 lanes, then o[r][j] = weight[j] * (scale * x[src][j]). o and x must not overlap unless src = r.
 * Launch: grid (rows), block (SN_LLAMA_LANES) exactly.
 */
extern "C" __global__ void __launch_bounds__(SN_LLAMA_LANES)
sn_llama_rmsnorm(float *o, const float *x, const float *weight, const int32_t *row_index, int32_t dim) {
    __shared__ float lane[SN_LLAMA_LANES];
    const int r = blockIdx.x;
    const int k = threadIdx.x;
    const int src = row_index == nullptr ? r : row_index[r];
    const float *xr = x + (size_t) src * dim;
    float *orow = o + (size_t) r * dim;
    lane[k] = sn_sumsq_lane(xr, dim, k, SN_LLAMA_LANES);
    __syncthreads();
    for (int w = SN_LLAMA_LANES / 2; w >= 1; w /= 2) {
        if (k < w) lane[k] = sn_tree_add(lane[k], lane[k + w]);
        __syncthreads();
    }
    const float scale = sn_rms_scale(lane[0], dim);
    for (int j = k; j < dim; j += SN_LLAMA_LANES) orow[j] = sn_rms_out(weight[j], scale, xr[j]);
}

/*
 * Y[r][o] = sum_k X[r][k] * W[o][k] for r < rows, o < out (X [rows][in], W [out][in], Y [rows][out]): the
 * batch-invariant matmul. A block computes SN_MM_TO outputs for SN_MM_TR rows, staging SN_MM_TK columns of
 * W and X at a time in shared memory (W padded to SN_MM_TK + 1 floats per row: no bank conflicts when the
 * threads of a warp read consecutive outputs). Each thread adds its products in increasing k with one
 * accumulator per row, skipping the padding, so every Y element is sn_dot_seq(X[r], W[o], in) bit for bit
 * whatever `rows` is.
 * Launch: grid (ceil(rows / SN_MM_TR), ceil(out / SN_MM_TO)), block (SN_MM_TO) exactly; static shared
 * memory (SN_MM_TO * (SN_MM_TK + 1) + SN_MM_TR * SN_MM_TK) * 4 = 17920 bytes.
 */
extern "C" __global__ void __launch_bounds__(SN_MM_TO)
sn_llama_matmul(float *y, const float *x, const float *w, int32_t rows, int32_t in, int32_t out) {
    __shared__ float ws[SN_MM_TO][SN_MM_TK + 1];
    __shared__ float xs[SN_MM_TR][SN_MM_TK];
    const int t = threadIdx.x;
    const int r0 = blockIdx.x * SN_MM_TR;
    const int o0 = blockIdx.y * SN_MM_TO;
    float acc[SN_MM_TR];
#pragma unroll
    for (int i = 0; i < SN_MM_TR; i++) acc[i] = 0.0f;
    for (int k0 = 0; k0 < in; k0 += SN_MM_TK) {
        const int kn = in - k0 < SN_MM_TK ? in - k0 : SN_MM_TK;
        /* a warp loads SN_MM_TK consecutive floats of one weight row: coalesced */
        for (int idx = t; idx < SN_MM_TO * SN_MM_TK; idx += SN_MM_TO) {
            const int ol = idx / SN_MM_TK, kk = idx % SN_MM_TK;
            const int og = o0 + ol;
            ws[ol][kk] = (og < out && kk < kn) ? w[(size_t) og * in + k0 + kk] : 0.0f;
        }
        for (int idx = t; idx < SN_MM_TR * SN_MM_TK; idx += SN_MM_TO) {
            const int rl = idx / SN_MM_TK, kk = idx % SN_MM_TK;
            const int rg = r0 + rl;
            xs[rl][kk] = (rg < rows && kk < kn) ? x[(size_t) rg * in + k0 + kk] : 0.0f;
        }
        __syncthreads();
        for (int kk = 0; kk < kn; kk++) {
            const float wv = ws[t][kk];
#pragma unroll
            for (int i = 0; i < SN_MM_TR; i++) acc[i] = sn_dot_step(acc[i], wv, xs[i][kk]);
        }
        __syncthreads();
    }
    const int o = o0 + t;
    if (o < out) {
#pragma unroll
        for (int i = 0; i < SN_MM_TR; i++) {
            if (r0 + i < rows) y[(size_t) (r0 + i) * out + o] = acc[i];
        }
    }
}

/*
 * RoPE on row r's q ([rows][dim]) and k ([rows][kv_dim]) at position positions[r] (pairs (i, i + 1), the
 * table row rope[pos][i % head_size], [+1]), then k and v ([rows][kv_dim]) into this layer's caches at
 * [slots[r]][pos] ([slot][seq_len][kv_dim]).
 * Launch: grid (rows), block any (256).
 */
extern "C" __global__ void sn_llama_rope_kv(float *q, float *k, const float *v, float *key_cache, float *value_cache,
                                            const int32_t *positions, const int32_t *slots, const float *rope,
                                            int32_t dim, int32_t kv_dim, int32_t head_size, int32_t seq_len) {
    const int r = blockIdx.x;
    const int pos = positions[r];
    const float *rp = rope + (size_t) pos * head_size;
    float *qr = q + (size_t) r * dim;
    float *kr = k + (size_t) r * kv_dim;
    const float *vr = v + (size_t) r * kv_dim;
    const size_t off = ((size_t) slots[r] * seq_len + pos) * kv_dim;
    for (int i = 2 * threadIdx.x; i < dim; i += 2 * blockDim.x) {
        const int hd = i % head_size;
        const float fcr = rp[hd], fci = rp[hd + 1];
        sn_rope_rotate(qr + i, fcr, fci);
        if (i < kv_dim) {
            sn_rope_rotate(kr + i, fcr, fci);
            key_cache[off + i] = kr[i];
            key_cache[off + i + 1] = kr[i + 1];
        }
    }
    for (int i = threadIdx.x; i < kv_dim; i += blockDim.x) value_cache[off + i] = vr[i];
}

/*
 * Grouped-query attention of row r, head h (block (r, h)): scores q_h . k_t / sqrt(head_size) for the
 * positions t = 0 .. positions[r] of slot slots[r] in this layer's key cache (kv head h / kv_mul), one
 * thread per position (sn_dot_seq), into att[r][h][t]; softmax (the max by a tree, expf, the 256-lane sum,
 * divide); then xb[r][h * head_size + i] = sum_t att[t] * v_t[i] in increasing t, one thread per i.
 * Every row's K/V of the step must already be in the cache (sn_llama_rope_kv ran before on the stream).
 * Launch: grid (rows, n_heads), block (SN_LLAMA_LANES) exactly; att holds rows * n_heads * seq_len floats.
 */
extern "C" __global__ void __launch_bounds__(SN_LLAMA_LANES)
sn_llama_attention(float *xb, const float *q, const float *key_cache, const float *value_cache, float *att,
                   const int32_t *positions, const int32_t *slots, int32_t n_heads, int32_t kv_mul, int32_t head_size,
                   int32_t dim, int32_t kv_dim, int32_t seq_len) {
    __shared__ float lane[SN_LLAMA_LANES];
    const int r = blockIdx.x, h = blockIdx.y, tid = threadIdx.x;
    const int n = positions[r] + 1;
    const float *qh = q + (size_t) r * dim + (size_t) h * head_size;
    const size_t base = (size_t) slots[r] * seq_len * kv_dim + (size_t) (h / kv_mul) * head_size;
    const float *kc = key_cache + base;
    const float *vc = value_cache + base;
    float *a = att + ((size_t) r * n_heads + h) * seq_len;
    const float scale = sn_att_scale(head_size);

    float mx = -INFINITY;
    for (int t = tid; t < n; t += SN_LLAMA_LANES) {
        const float s = sn_dot_seq(qh, kc + (size_t) t * kv_dim, head_size) / scale;
        a[t] = s;
        mx = sn_max2(mx, s);
    }
    lane[tid] = mx;
    __syncthreads();
    for (int w = SN_LLAMA_LANES / 2; w >= 1; w /= 2) {
        if (tid < w) lane[tid] = sn_max2(lane[tid], lane[tid + w]);
        __syncthreads();
    }
    const float max = lane[0];
    __syncthreads(); /* every thread has read the max before lane[] is reused */

    float s = 0.0f;
    for (int t = tid; t < n; t += SN_LLAMA_LANES) {
        const float e = sn_softmax_exp(a[t], max);
        a[t] = e;
        s = sn_tree_add(s, e);
    }
    lane[tid] = s;
    __syncthreads();
    for (int w = SN_LLAMA_LANES / 2; w >= 1; w /= 2) {
        if (tid < w) lane[tid] = sn_tree_add(lane[tid], lane[tid + w]);
        __syncthreads();
    }
    const float sum = lane[0];
    for (int t = tid; t < n; t += SN_LLAMA_LANES) a[t] = sn_softmax_norm(a[t], sum);
    __syncthreads(); /* the weights, written by every thread, are read by every thread below */

    float *out = xb + (size_t) r * dim + (size_t) h * head_size;
    for (int i = tid; i < head_size; i += SN_LLAMA_LANES) {
        float acc = 0.0f;
        for (int t = 0; t < n; t++) acc = sn_dot_step(acc, a[t], vc[(size_t) t * kv_dim + i]);
        out[i] = acc;
    }
}

/*
 * h1[i] = silu(h1[i]) * h3[i] for i < n (n = rows * hidden).
 * Launch: grid-stride; grid (ceil(n / 256)), block (256).
 */
extern "C" __global__ void sn_llama_swiglu(float *h1, const float *h3, int64_t n) {
    for (int64_t i = (int64_t) blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t) gridDim.x * blockDim.x) {
        h1[i] = sn_swiglu(h1[i], h3[i]);
    }
}

/*
 * x[i] += o[i] for i < n (n = rows * dim): the residual connection.
 * Launch: grid-stride; grid (ceil(n / 256)), block (256).
 */
extern "C" __global__ void sn_llama_residual_add(float *x, const float *o, int64_t n) {
    for (int64_t i = (int64_t) blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t) gridDim.x * blockDim.x) {
        x[i] = sn_residual(x[i], o[i]);
    }
}

/*
 * out[r] = argmax of logits row r ([rows][vocab]): the lowest index among the maxima, NaNs skipped, 0 when
 * logits[r][0] is NaN (run.c sample_argmax's strict > scan). Thread k scans k, k + 256, ...; the fixed
 * tree keeps the better of each pair (sn_argmax_better).
 * Launch: grid (rows), block (SN_LLAMA_LANES) exactly.
 */
extern "C" __global__ void __launch_bounds__(SN_LLAMA_LANES)
sn_llama_argmax(int32_t *out, const float *logits, int32_t vocab) {
    __shared__ float bv[SN_LLAMA_LANES];
    __shared__ int32_t bi[SN_LLAMA_LANES];
    const int r = blockIdx.x, k = threadIdx.x;
    const float *x = logits + (size_t) r * vocab;
    float v = -INFINITY;
    int32_t idx = INT32_MAX;
    for (int i = k; i < vocab; i += SN_LLAMA_LANES) {
        const float xi = x[i];
        if (xi == xi && sn_argmax_better(v, idx, xi, i)) {
            v = xi;
            idx = i;
        }
    }
    bv[k] = v;
    bi[k] = idx;
    __syncthreads();
    for (int w = SN_LLAMA_LANES / 2; w >= 1; w /= 2) {
        if (k < w && sn_argmax_better(bv[k], bi[k], bv[k + w], bi[k + w])) {
            bv[k] = bv[k + w];
            bi[k] = bi[k + w];
        }
        __syncthreads();
    }
    if (k == 0) {
        const float x0 = x[0];
        out[r] = (x0 != x0 || bi[0] == INT32_MAX) ? 0 : bi[0];
    }
}

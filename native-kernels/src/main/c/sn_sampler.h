/*
 * spark-native: llama2.c's sampler (run.c: sample_argmax, sample_mult, sample_topp, random_f32), with one
 * deliberate difference: top-p candidates are ordered by probability descending, then token id ascending
 * (a stable merge sort), where llama2.c's qsort leaves equal probabilities in an unspecified order.
 *
 * Header-only C99 that also compiles as C++. Stateless: the RNG state lives with the caller; the scratch
 * buffers are the caller's (the batch owns one set), so nothing is allocated per call.
 */
#ifndef SN_SAMPLER_H
#define SN_SAMPLER_H

#include <stdint.h>
#include <stddef.h>
#include <math.h>
#include "sn_status.h"

typedef struct sn_prob_index {
    float prob;
    int32_t index;
} sn_prob_index;

/* llama2.c random_u32(): xorshift64* */
static inline uint32_t sn_random_u32(uint64_t *state) {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    return (uint32_t) ((*state * 0x2545F4914F6CDD1DULL) >> 32);
}

/* llama2.c random_f32(): uniform in [0, 1) */
static inline float sn_random_f32(uint64_t *state) {
    return (sn_random_u32(state) >> 8) / 16777216.0f;
}

/* First index of the maximum (strictly greater wins). */
static inline int32_t sn_sample_argmax(const float *p, int32_t n) {
    int32_t max_i = 0;
    float max_p = p[0];
    for (int32_t i = 1; i < n; i++) {
        if (p[i] > max_p) {
            max_i = i;
            max_p = p[i];
        }
    }
    return max_i;
}

/* First i with coin < cumulative probability (sequential float sum), else n - 1. */
static inline int32_t sn_sample_mult(const float *p, int32_t n, float coin) {
    float cdf = 0.0f;
    for (int32_t i = 0; i < n; i++) {
        cdf += p[i];
        if (coin < cdf) return i;
    }
    return n - 1;
}

static inline int sn_prob_before(const sn_prob_index *a, const sn_prob_index *b) {
    return a->prob > b->prob || (a->prob == b->prob && a->index < b->index);
}

/* Bottom-up merge sort of a[0..n) (probability descending, id ascending) using tmp[0..n). */
static inline void sn_sort_probindex(sn_prob_index *a, sn_prob_index *tmp, int32_t n) {
    sn_prob_index *src = a, *dst = tmp;
    for (int32_t width = 1; width < n; width *= 2) {
        for (int32_t lo = 0; lo < n; lo += 2 * width) {
            int32_t mid = lo + width < n ? lo + width : n;
            int32_t hi = lo + 2 * width < n ? lo + 2 * width : n;
            int32_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi) dst[k++] = sn_prob_before(&src[j], &src[i]) ? src[j++] : src[i++];
            while (i < mid) dst[k++] = src[i++];
            while (j < hi) dst[k++] = src[j++];
        }
        sn_prob_index *t = src;
        src = dst;
        dst = t;
    }
    if (src != a) {
        for (int32_t i = 0; i < n; i++) a[i] = src[i];
    }
}

/*
 * llama2.c sample_topp(): candidates with p >= (1 - topp) / (n - 1), sorted, truncated where the
 * cumulative probability first exceeds topp, then sampled with coin * cumulative. probindex holds 2n
 * entries. Where llama2.c would index probindex[-1] (no candidate at all: n == 1, or a tiny topp over a
 * flat distribution) this returns the argmax instead.
 */
static inline int32_t sn_sample_topp(const float *p, int32_t n, float topp, sn_prob_index *probindex, float coin) {
    int32_t n0 = 0;
    const float cutoff = (1.0f - topp) / (n - 1);
    for (int32_t i = 0; i < n; i++) {
        if (p[i] >= cutoff) {
            probindex[n0].index = i;
            probindex[n0].prob = p[i];
            n0++;
        }
    }
    if (n0 == 0) return sn_sample_argmax(p, n);
    sn_sort_probindex(probindex, probindex + n, n0);
    float cumulative_prob = 0.0f;
    int32_t last_idx = n0 - 1;
    for (int32_t i = 0; i < n0; i++) {
        cumulative_prob += probindex[i].prob;
        if (cumulative_prob > topp) {
            last_idx = i;
            break;
        }
    }
    const float r = coin * cumulative_prob;
    float cdf = 0.0f;
    for (int32_t i = 0; i <= last_idx; i++) {
        cdf += probindex[i].prob;
        if (r < cdf) return probindex[i].index;
    }
    return probindex[last_idx].index;
}

/*
 * llama2.c softmax() of x[0, n), in place: the maximum, expf of the differences with a sequential sum, then
 * divide. One definition for the sampler and the forward pass's attention (sn_llama.h); always inlined so
 * that each of the forward pass's ISA-specific workers compiles its own copy.
 */
#if defined(__GNUC__)
static inline __attribute__((always_inline)) void sn_softmax(float *x, int n) {
#else
static inline void sn_softmax(float *x, int n) {
#endif
    float max_val = x[0];
    for (int i = 1; i < n; i++)
        if (x[i] > max_val) max_val = x[i];
    float sum = 0.0f;
    for (int i = 0; i < n; i++) {
        x[i] = expf(x[i] - max_val);
        sum += x[i];
    }
    for (int i = 0; i < n; i++) x[i] /= sum;
}

/*
 * llama2.c Sampler.sample() on n logits, which are left untouched: temperature 0 is argmax (no RNG draw);
 * otherwise probs = softmax(logits / temperature) (max, expf, sequential float sum, divide), then one
 * coin = random_f32(rng_state), then sample_mult when topp <= 0 or topp >= 1, else sample_topp.
 * Scratch: probs holds n floats, probindex 2n entries. Returns a token id in [0, n), or SN_ERR_ARG if n <= 0.
 */
static inline int32_t sn_sample(const float *logits, int32_t n, float temperature, float topp, uint64_t *rng_state,
                                float *probs, sn_prob_index *probindex) {
    if (n <= 0) return SN_ERR_ARG;
    if (temperature == 0.0f) return sn_sample_argmax(logits, n);
    for (int32_t q = 0; q < n; q++) probs[q] = logits[q] / temperature;
    sn_softmax(probs, n);
    const float coin = sn_random_f32(rng_state);
    if (topp <= 0 || topp >= 1) return sn_sample_mult(probs, n, coin);
    return sn_sample_topp(probs, n, topp, probindex, coin);
}

/*
 * llama.cpp's repetition penalty (llama_sampler_penalties, penalty_repeat), in place on logits[0, n): each
 * distinct token among recent[0, n_recent) (ids outside [0, n) are ignored) has its logit divided by penalty
 * when it is positive, multiplied by it otherwise. penalty 1 changes nothing.
 */
static inline void sn_penalize_repeats(float *logits, int32_t n, const int32_t *recent, int32_t n_recent, float penalty) {
    if (penalty == 1.0f || recent == NULL) return;
    for (int32_t i = 0; i < n_recent; i++) {
        const int32_t t = recent[i];
        if (t < 0 || t >= n) continue;
        int32_t seen = 0;
        for (int32_t j = 0; j < i; j++) {
            if (recent[j] == t) {
                seen = 1;
                break;
            }
        }
        if (seen) continue;
        logits[t] = logits[t] <= 0.0f ? logits[t] * penalty : logits[t] / penalty;
    }
}

/*
 * Top-k, in place on logits[0, n): all but the k largest logits become -INFINITY; among equal logits the lower
 * token id ranks first. k <= 0 or k >= n changes nothing. probindex holds 2n entries of scratch.
 */
static inline void sn_top_k(float *logits, int32_t n, int32_t k, sn_prob_index *probindex) {
    if (k <= 0 || k >= n) return;
    for (int32_t i = 0; i < n; i++) {
        probindex[i].prob = logits[i];
        probindex[i].index = i;
    }
    sn_sort_probindex(probindex, probindex + n, n);
    for (int32_t i = k; i < n; i++) logits[probindex[i].index] = -INFINITY;
}

/*
 * sn_sample() after llama.cpp's first two samplers, in llama.cpp's order: the repetition penalty over the
 * row's recent tokens, then top-k; then llama2.c's temperature and top-p as sn_sample(). The logits are left
 * untouched: the row is copied to probs first. Scratch: probs n floats, probindex 2n entries. Returns a token id
 * in [0, n), or SN_ERR_ARG if n <= 0.
 */
static inline int32_t sn_sample_filtered(const float *logits, int32_t n, float temperature, float topp, int32_t top_k,
                                         float penalty, const int32_t *recent, int32_t n_recent, uint64_t *rng_state,
                                         float *probs, sn_prob_index *probindex) {
    if (n <= 0) return SN_ERR_ARG;
    for (int32_t q = 0; q < n; q++) probs[q] = logits[q];
    sn_penalize_repeats(probs, n, recent, n_recent, penalty);
    sn_top_k(probs, n, top_k, probindex);
    return sn_sample(probs, n, temperature, topp, rng_state, probs, probindex);
}

#endif /* SN_SAMPLER_H */

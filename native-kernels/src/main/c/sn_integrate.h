/*
 * spark-native: the integration workload's C kernel.
 *
 * integrate_f(a, b, n) is the left Riemann sum  dx * sum_{i=0}^{n-1} f(a + i*dx),  dx = (b - a) / n,
 * with f(x) = x * (x - 1): the integrand of the pandas "Enhancing performance" guide
 * (https://pandas.pydata.org/docs/user_guide/enhancingperf.html, integrate_f).
 *
 * The hot loop keeps SN_INTEGRATE_LANES independent accumulators in explicit vectors (GCC/Clang vector
 * extensions), so it runs SIMD without -ffast-math; the lanes are combined in a fixed order. Built with -ffp-contract=off, the
 * result is bit-identical on every x86-64 CPU (SSE2 or AVX), which keeps Spark task retries harmless.
 *
 * This header is the whole kernel (JavaCPP compiles it into the JNI library); it is plain C99 that also
 * compiles as C++. It knows nothing of Spark or Arrow: it takes addresses and a row count.
 */
#ifndef SN_INTEGRATE_H
#define SN_INTEGRATE_H

#include <stdint.h>
#include <stddef.h>

#include "sn_integrate_math.h"

/* Four doubles; on CPUs without AVX the compiler splits each operation into two SSE2 ones. */
typedef double sn_v4d __attribute__((vector_size(32)));

/*
 * One row: the left Riemann sum of f over [a, b] with n intervals. n must be >= 1 (callers validate).
 *
 * Lane k (0..15) accumulates the terms i = k (mod 16), with x_i = a + i*dx and i held exactly as a
 * double; the tail (n mod 16 terms) goes to lanes 0.. in order; the lanes are then added in the fixed
 * tree of sn_integrate_math.h, so the row equals sn_integrate_f_row_lanes (the CUDA kernel's order). Every operation is IEEE double with no contraction, so every ISA gives the same bits.
 * target_clones builds an AVX2 copy beside the baseline one and picks it at load time where supported.
 */
__attribute__((target_clones("avx2", "default")))
static double sn_integrate_f_row(double a, double b, int32_t n) {
    const double dx = sn_riemann_dx(a, b, n);
    const sn_v4d va = {a, a, a, a};
    const sn_v4d vdx = {dx, dx, dx, dx};
    const sn_v4d one = {1.0, 1.0, 1.0, 1.0};
    const sn_v4d step = {SN_INTEGRATE_LANES, SN_INTEGRATE_LANES, SN_INTEGRATE_LANES, SN_INTEGRATE_LANES};
    sn_v4d iv[SN_INTEGRATE_LANES / 4];
    sn_v4d acc[SN_INTEGRATE_LANES / 4];
    for (int v = 0; v < SN_INTEGRATE_LANES / 4; v++) {
        for (int l = 0; l < 4; l++) iv[v][l] = (double) (4 * v + l);
        acc[v] = (sn_v4d) {0.0, 0.0, 0.0, 0.0};
    }
    const int64_t nn = n;
    int64_t i = 0;
    for (; i + SN_INTEGRATE_LANES <= nn; i += SN_INTEGRATE_LANES) {
        for (int v = 0; v < SN_INTEGRATE_LANES / 4; v++) {
            const sn_v4d x = va + iv[v] * vdx;
            acc[v] += x * (x - one);
            iv[v] += step;
        }
    }
    double lane[SN_INTEGRATE_LANES];
    for (int v = 0; v < SN_INTEGRATE_LANES / 4; v++) {
        for (int l = 0; l < 4; l++) lane[4 * v + l] = acc[v][l];
    }
    for (int k = 0; k < SN_INTEGRATE_LANES && i < nn; i++, k++) lane[k] += sn_riemann_term(a, dx, i);
    return sn_riemann_combine(lane) * dx;
}

/*
 * A whole batch: out[r] = integrate_f(a[r], b[r], n[r]) for r in [0, rows).
 *
 * compute_mask: NULL to compute every row; otherwise a little-endian bitmap (bit r of byte r/8, as in an
 * Arrow validity buffer) where a clear bit means "skip row r and leave out[r] untouched". Rows that are
 * computed must have n[r] >= 1. No allocation; the arrays may not overlap out.
 */
static inline void sn_integrate_f_batch(const double *a, const double *b, const int32_t *n, double *out,
                                        int64_t rows, const uint8_t *compute_mask) {
    if (compute_mask == NULL) {
        for (int64_t r = 0; r < rows; r++) out[r] = sn_integrate_f_row(a[r], b[r], n[r]);
    } else {
        for (int64_t r = 0; r < rows; r++) {
            if ((compute_mask[r >> 3] >> (r & 7)) & 1) out[r] = sn_integrate_f_row(a[r], b[r], n[r]);
        }
    }
}

#endif /* SN_INTEGRATE_H */

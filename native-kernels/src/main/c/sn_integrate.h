/*
 * spark-native: the integration workload's C kernel.
 *
 * integrate_f(a, b, n) is the left Riemann sum  dx * sum_{i=0}^{n-1} f(a + i*dx),  dx = (b - a) / n,
 * with f(x) = x * (x - 1): the integrand of the pandas "Enhancing performance" guide
 * (https://pandas.pydata.org/docs/user_guide/enhancingperf.html, integrate_f).
 *
 * The hot loop keeps SN_INTEGRATE_LANES independent accumulators, so the compiler can vectorize it
 * without -ffast-math; the lanes are combined in a fixed order. Built with -ffp-contract=off, the
 * result is bit-identical on every x86-64 CPU (SSE2 or AVX), which keeps Spark task retries harmless.
 *
 * This header is the whole kernel (JavaCPP compiles it into the JNI library); it is plain C99 that also
 * compiles as C++. It knows nothing of Spark or Arrow: it takes addresses and a row count.
 */
#ifndef SN_INTEGRATE_H
#define SN_INTEGRATE_H

#include <stdint.h>
#include <stddef.h>

#define SN_INTEGRATE_LANES 8

/* f(x) = x * (x - 1), the pandas benchmark's integrand. */
static inline double sn_f(double x) { return x * (x - 1.0); }

/*
 * One row: the left Riemann sum of f over [a, b] with n intervals. n must be >= 1 (callers validate).
 */
static inline double sn_integrate_f_row(double a, double b, int32_t n) {
    const double dx = (b - a) / (double) n;
    double acc[SN_INTEGRATE_LANES] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t i = 0;
    const int64_t nn = n;
    for (; i + SN_INTEGRATE_LANES <= nn; i += SN_INTEGRATE_LANES) {
        for (int k = 0; k < SN_INTEGRATE_LANES; k++) {
            const double x = a + (double) (i + k) * dx;
            acc[k] += x * (x - 1.0);
        }
    }
    for (int k = 0; i < nn; i++, k++) {
        const double x = a + (double) i * dx;
        acc[k] += x * (x - 1.0);
    }
    /* Fixed pairwise combination of the lanes. */
    const double s = ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
    return s * dx;
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

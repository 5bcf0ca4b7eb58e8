/*
 * spark-native: the arithmetic of integrate_f, shared by the C kernel (gcc, sn_integrate.h) and the CUDA
 * kernel (nvcc, ../cuda/sn_integrate.cu), so that the CPU tests exercise the formulas the GPU runs.
 *
 * integrate_f(a, b, n) is the left Riemann sum  dx * sum_{i=0}^{n-1} f(a + i*dx),  dx = (b - a) / n,
 * with f(x) = x * (x - 1): the integrand of the pandas "Enhancing performance" guide
 * (https://pandas.pydata.org/docs/user_guide/enhancingperf.html, integrate_f).
 *
 * The sum is split into SN_INTEGRATE_LANES lanes: lane k adds the terms i = k, k + 16, k + 32, ... in
 * increasing i, and the lanes are combined by a fixed pairwise tree (lane[k] += lane[k + w] for
 * w = 8, 4, 2, 1). Every operation is an IEEE double operation with no contraction (gcc
 * -ffp-contract=off, nvcc --fmad=false), so the C kernel (SIMD lanes) and the CUDA kernel (one thread
 * per lane, the tree by warp shuffles) give the same bits for the same row.
 */
#ifndef SN_INTEGRATE_MATH_H
#define SN_INTEGRATE_MATH_H

#include <stdint.h>

#ifdef __CUDACC__
#define SN_HD __host__ __device__ __forceinline__
#else
#define SN_HD static inline
#endif

#define SN_INTEGRATE_LANES 16

/* f(x) = x * (x - 1), the pandas benchmark's integrand. */
SN_HD double sn_f(double x) { return x * (x - 1.0); }

/* The interval width dx = (b - a) / n; n >= 1 (callers validate). */
SN_HD double sn_riemann_dx(double a, double b, int32_t n) { return (b - a) / (double) n; }

/* Term i of the sum: f(a + i*dx), with i held exactly as a double. */
SN_HD double sn_riemann_term(double a, double dx, int64_t i) { return sn_f(a + (double) i * dx); }

/* Lane k's partial sum: the terms i = k, k + 16, ... below n, added in increasing i. */
SN_HD double sn_riemann_lane(double a, double dx, int64_t n, int k) {
    double s = 0.0;
    for (int64_t i = k; i < n; i += SN_INTEGRATE_LANES) s += sn_riemann_term(a, dx, i);
    return s;
}

/* The fixed pairwise combination of the 16 lanes (modifies lane); returns the total. */
SN_HD double sn_riemann_combine(double *lane) {
    for (int w = SN_INTEGRATE_LANES / 2; w >= 1; w /= 2) {
        for (int k = 0; k < w; k++) lane[k] += lane[k + w];
    }
    return lane[0];
}

/*
 * One row, lane by lane: what each group of 16 CUDA threads computes, in plain scalar code. It gives the
 * same bits as the SIMD row of sn_integrate.h (the tests check it).
 */
SN_HD double sn_integrate_f_row_lanes(double a, double b, int32_t n) {
    const double dx = sn_riemann_dx(a, b, n);
    double lane[SN_INTEGRATE_LANES];
    for (int k = 0; k < SN_INTEGRATE_LANES; k++) lane[k] = sn_riemann_lane(a, dx, n, k);
    return sn_riemann_combine(lane) * dx;
}

#endif /* SN_INTEGRATE_MATH_H */

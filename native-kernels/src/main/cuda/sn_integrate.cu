/*
 * spark-native: integrate_f on the GPU. The arithmetic is sn_integrate_math.h's, shared with the C kernel;
 * this file holds only the indexing and the launch shape.
 *
 * Sixteen threads (half a warp) per row: thread k sums lane k of the row (sn_riemann_lane), and the lanes
 * are combined by warp shuffles in the C kernel's fixed tree (lane[k] += lane[k + w], w = 8, 4, 2, 1), so
 * with --fmad=false a row gives the same bits as on the CPU. Rows differ in n by 200x; a row's cost is
 * spread over its 16 threads, so one long row does not hold a whole block's other rows.
 *
 * Arguments are device addresses of the Arrow columns a (float64), b (float64), n (int32) and the output
 * (float64), the row count, and an optional compute mask (an Arrow-style validity bitmap; a clear bit
 * leaves out[r] untouched; NULL computes every row). Computed rows must have n >= 1.
 * Launch: any block size that is a multiple of 32, grid = ceil(rows * 16 / block).
 */
#include "sn_integrate_math.h"

extern "C" __global__ void sn_integrate_f_kernel(const double *a, const double *b, const int32_t *n, double *out,
                                                 int64_t rows, const uint8_t *compute_mask) {
    const int64_t gid = (int64_t) blockIdx.x * blockDim.x + threadIdx.x;
    const int64_t r = gid / SN_INTEGRATE_LANES;
    const int k = (int) (gid % SN_INTEGRATE_LANES);
    const bool active = r < rows && (compute_mask == nullptr || ((compute_mask[r >> 3] >> (r & 7)) & 1));
    double dx = 0.0;
    double s = 0.0;
    if (active) {
        dx = sn_riemann_dx(a[r], b[r], n[r]);
        s = sn_riemann_lane(a[r], dx, n[r], k);
    }
    /* Every thread of the warp takes part in the shuffles; width 16 keeps each row's lanes together. */
    for (int w = SN_INTEGRATE_LANES / 2; w >= 1; w /= 2) {
        const double other = __shfl_down_sync(0xffffffffu, s, w, SN_INTEGRATE_LANES);
        if (k < w) s += other;
    }
    if (active && k == 0) out[r] = s * dx;
}

package org.sparknative.kernels.cuda;

import org.bytedeco.cuda.cudart.CUevent_st;
import org.bytedeco.cuda.global.cudart;

/**
 * {@code integrate_f} on a GPU for one owner (a Spark task, a benchmark thread): the left Riemann sum
 * {@code dx * sum_{i<n} f(a + i*dx)}, {@code dx = (b-a)/n}, {@code f(x) = x*(x-1)}, in FP64, with the CPU
 * kernel's bits (the 16 lane partial sums of {@code sn_integrate_math.h}, combined in the same fixed tree,
 * no FMA contraction: see {@code sn_integrate.cu}).
 *
 * <p>A call copies the {@code a}, {@code b}, {@code n} columns (and the compute mask) from their host
 * addresses (an Arrow record batch's data buffers) straight into device buffers, runs the kernel (16
 * threads per row, so that rows whose {@code n} differ 200-fold share blocks without one long row holding
 * the others), and copies {@code x} back into the host output buffer, all on this owner's stream. The
 * device buffers are kept and grown across calls and freed by {@link #close()}; the owner closes it when
 * its task ends, whether it succeeded or failed.
 *
 * <p>Nothing here validates rows: as for the CPU kernel, the caller checks that every computed row has
 * {@code n >= 1} and finite bounds, and that the addresses hold {@code rows} elements.
 *
 * <p>Threading: not thread-safe; one owner. Several owners may share a {@link CudaDevice}: each has its own
 * stream, so their copies and kernels overlap.
 */
public final class CudaIntegrate implements AutoCloseable {
    /** The kernel's threads per block (a multiple of 32); each row takes 16 threads. */
    static final int BLOCK = 256;
    static final int THREADS_PER_ROW = 16;

    /**
     * Where a call's time went, from CUDA events on the owner's stream.
     *
     * @param copyInNanos  host-to-device copies of the inputs
     * @param kernelNanos  the kernel
     * @param copyOutNanos the device-to-host copy of {@code x}
     */
    public record Timing(long copyInNanos, long kernelNanos, long copyOutNanos) {
        /** @return the sum of the three */
        public long totalNanos() {
            return copyInNanos + kernelNanos + copyOutNanos;
        }
    }

    private final CudaDevice device;
    private final CudaStream stream;
    private final CUevent_st[] events = new CUevent_st[4];
    private DeviceMemory a;
    private DeviceMemory b;
    private DeviceMemory n;
    private DeviceMemory x;
    private DeviceMemory mask;
    private long capacityRows;
    private boolean closed;
    private long totalCopyIn;
    private long totalKernel;
    private long totalCopyOut;

    /**
     * @param device where to run
     * @throws CudaException if the stream or events cannot be created
     */
    public CudaIntegrate(CudaDevice device) {
        this.device = device;
        this.stream = device.newStream();
        try {
            device.makeCurrent();
            for (int i = 0; i < events.length; i++) {
                CUevent_st e = new CUevent_st();
                CudaException.check("cuEventCreate", cudart.cuEventCreate(e, cudart.CU_EVENT_DEFAULT));
                events[i] = e;
            }
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    /** @return the device this runs on */
    public CudaDevice device() {
        return device;
    }

    /**
     * Computes {@code rows} rows, returning once {@code x} is in the host output buffer.
     *
     * @param a           host address of {@code rows} float64 lower bounds
     * @param b           host address of {@code rows} float64 upper bounds
     * @param n           host address of {@code rows} int32 interval counts ({@code >= 1} where computed)
     * @param out         host address of {@code rows} float64 results, written in place
     * @param rows        number of rows, {@code >= 0}
     * @param computeMask 0 to compute every row, else the host address of a little-endian bitmap of
     *                    {@code ceil(rows/8)} bytes (Arrow validity layout): a clear bit skips the row, whose
     *                    {@code out} is then 0
     * @return where the time went
     * @throws CudaException naming the failed call (the buffers stay usable for the next call only if the
     *                       error was not a kernel fault; the owner should close this on any exception)
     */
    public Timing integrate(long a, long b, long n, long out, int rows, long computeMask) {
        if (closed) {
            throw new IllegalStateException("CudaIntegrate already closed");
        }
        if (rows < 0) {
            throw new IllegalArgumentException("rows must be >= 0, got " + rows);
        }
        if (rows == 0) {
            return new Timing(0, 0, 0);
        }
        ensureCapacity(rows);
        device.makeCurrent();
        record(0);
        this.a.copyFromHost(a, 0, 8L * rows, stream);
        this.b.copyFromHost(b, 0, 8L * rows, stream);
        this.n.copyFromHost(n, 0, 4L * rows, stream);
        long maskDevice = 0;
        if (computeMask != 0) {
            mask.copyFromHost(computeMask, 0, (rows + 7L) / 8, stream);
            maskDevice = mask.address();
            CudaException.check("cuMemsetD8Async(x)", cudart.cuMemsetD8Async(x.address(), (byte) 0, 8L * rows, stream.handle()));
        }
        record(1);
        long threads = (long) rows * THREADS_PER_ROW;
        KernelLaunch.of(device, "sn_integrate_f_kernel").ptr(this.a.address()).ptr(this.b.address()).ptr(this.n.address())
            .ptr(x.address()).i64(rows).ptr(maskDevice)
            .launch((int) ((threads + BLOCK - 1) / BLOCK), 1, 1, BLOCK, 1, 1, 0, stream);
        record(2);
        x.copyToHost(out, 0, 8L * rows, stream);
        record(3);
        stream.synchronize();
        Timing t = new Timing(elapsed(0, 1), elapsed(1, 2), elapsed(2, 3));
        totalCopyIn += t.copyInNanos();
        totalKernel += t.kernelNanos();
        totalCopyOut += t.copyOutNanos();
        return t;
    }

    /** @return the time of every {@link #integrate} call so far, summed */
    public Timing totals() {
        return new Timing(totalCopyIn, totalKernel, totalCopyOut);
    }

    private void ensureCapacity(int rows) {
        if (rows <= capacityRows) {
            return;
        }
        freeBuffers();
        long cap = Math.max(rows, Math.min(2L * capacityRows, Integer.MAX_VALUE));
        a = device.alloc(8L * cap, "integrate_f a column");
        b = device.alloc(8L * cap, "integrate_f b column");
        n = device.alloc(4L * cap, "integrate_f n column");
        x = device.alloc(8L * cap, "integrate_f x column");
        mask = device.alloc((cap + 7) / 8, "integrate_f compute mask");
        capacityRows = cap;
    }

    private void record(int i) {
        CudaException.check("cuEventRecord", cudart.cuEventRecord(events[i], stream.handle()));
    }

    private long elapsed(int from, int to) {
        float[] ms = {0f};
        CudaException.check("cuEventElapsedTime", cudart.cuEventElapsedTime(ms, events[from], events[to]));
        return Math.round(ms[0] * 1e6);
    }

    private void freeBuffers() {
        for (DeviceMemory m : new DeviceMemory[] {a, b, n, x, mask}) {
            if (m != null) {
                m.close();
            }
        }
        a = b = n = x = mask = null;
        capacityRows = 0;
    }

    /** Frees the device buffers, the events and the stream; idempotent. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            if (stream != null) {
                stream.close();
            }
        } finally {
            freeBuffers();
            device.makeCurrent();
            for (CUevent_st e : events) {
                if (e != null) {
                    cudart.cuEventDestroy(e);
                }
            }
        }
    }
}

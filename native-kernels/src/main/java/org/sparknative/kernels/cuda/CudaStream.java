package org.sparknative.kernels.cuda;

import org.bytedeco.cuda.cudart.CUstream_st;
import org.bytedeco.cuda.global.cudart;

/**
 * A CUDA stream of one {@link CudaDevice}: copies and kernel launches queued on it run in order, and
 * overlap with work on other streams. Its owner closes it.
 *
 * <p>Threading: queue work from one thread at a time.
 */
public final class CudaStream implements AutoCloseable {
    private final CudaDevice device;
    private final CUstream_st handle;
    private boolean closed;

    CudaStream(CudaDevice device, CUstream_st handle) {
        this.device = device;
        this.handle = handle;
    }

    /** @return the driver's handle, for launches and cuBLAS */
    public CUstream_st handle() {
        if (closed) {
            throw new IllegalStateException("CUDA stream already destroyed");
        }
        return handle;
    }

    /** @return the device */
    public CudaDevice device() {
        return device;
    }

    /** Waits until everything queued on this stream has run; a failed kernel's error surfaces here. */
    public void synchronize() {
        device.makeCurrent();
        CudaException.check("cuStreamSynchronize(device " + device.ordinal() + ")", cudart.cuStreamSynchronize(handle()));
    }

    /** Waits for the queued work, then destroys the stream; idempotent. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        device.makeCurrent();
        int sync = cudart.cuStreamSynchronize(handle);
        closed = true;
        CudaException.check("cuStreamDestroy(device " + device.ordinal() + ")", cudart.cuStreamDestroy(handle));
        CudaException.check("cuStreamSynchronize(device " + device.ordinal() + ")", sync);
    }
}

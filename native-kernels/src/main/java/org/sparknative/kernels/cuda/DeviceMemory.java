package org.sparknative.kernels.cuda;

import org.bytedeco.cuda.global.cudart;

/**
 * One device allocation ({@code cuMemAlloc}), owned by whoever made it: a task's integration buffers, a
 * batch's KV cache, the uploaded weights. {@link #close()} frees it ({@code cuMemFree}) exactly once.
 *
 * <p>Copies name host memory by its address (an Arrow buffer's {@code memoryAddress()}, a native batch),
 * so nothing is staged on the Java heap. With a stream they are asynchronous and the host memory must stay
 * valid until the stream is synchronized; with {@code null} they complete before returning. Pageable host
 * memory makes the driver stage through its own pinned buffers.
 *
 * <p>Threading: not thread-safe; one owner.
 */
public final class DeviceMemory implements AutoCloseable {
    private final CudaDevice device;
    private final long address;
    private final long bytes;
    private final String what;
    private boolean closed;

    DeviceMemory(CudaDevice device, long address, long bytes, String what) {
        this.device = device;
        this.address = address;
        this.bytes = bytes;
        this.what = what;
    }

    /** @return the device address ({@code CUdeviceptr}) of byte 0 */
    public long address() {
        if (closed) {
            throw new IllegalStateException(what + ": device memory already freed");
        }
        return address;
    }

    /** @return the size in bytes */
    public long bytes() {
        return bytes;
    }

    /** @return the device it lives on */
    public CudaDevice device() {
        return device;
    }

    /**
     * Copies {@code count} bytes from host address {@code host} to byte {@code offset} of this allocation.
     *
     * @param stream the stream to queue the copy on, or null to copy synchronously
     * @throws IllegalArgumentException if the range is outside the allocation or {@code host} is 0
     */
    public void copyFromHost(long host, long offset, long count, CudaStream stream) {
        checkRange(offset, count);
        if (count == 0) {
            return;
        }
        device.makeCurrent();
        String call = "cuMemcpyHtoD(" + count + " bytes into " + what + ")";
        CudaException.check(call, stream == null
            ? cudart.cuMemcpyHtoD(address() + offset, HostPointers.at(host), count)
            : cudart.cuMemcpyHtoDAsync(address() + offset, HostPointers.at(host), count, stream.handle()));
    }

    /**
     * Copies {@code count} bytes from byte {@code offset} of this allocation to host address {@code host}.
     *
     * @param stream the stream to queue the copy on, or null to copy synchronously
     * @throws IllegalArgumentException if the range is outside the allocation or {@code host} is 0
     */
    public void copyToHost(long host, long offset, long count, CudaStream stream) {
        checkRange(offset, count);
        if (count == 0) {
            return;
        }
        device.makeCurrent();
        String call = "cuMemcpyDtoH(" + count + " bytes from " + what + ")";
        CudaException.check(call, stream == null
            ? cudart.cuMemcpyDtoH(HostPointers.at(host), address() + offset, count)
            : cudart.cuMemcpyDtoHAsync(HostPointers.at(host), address() + offset, count, stream.handle()));
    }

    /** Sets every byte to zero (synchronously). */
    public void clear() {
        device.makeCurrent();
        CudaException.check("cuMemsetD8(" + what + ")", cudart.cuMemsetD8(address(), (byte) 0, bytes));
    }

    private void checkRange(long offset, long count) {
        if (offset < 0 || count < 0 || offset > bytes - count) {
            throw new IllegalArgumentException(what + ": copy of " + count + " bytes at offset " + offset
                + " outside the " + bytes + "-byte allocation");
        }
    }

    /** Frees the allocation; idempotent. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        device.makeCurrent();
        CudaException.check("cuMemFree(" + what + ")", cudart.cuMemFree(address));
    }
}

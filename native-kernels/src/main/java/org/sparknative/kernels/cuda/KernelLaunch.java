package org.sparknative.kernels.cuda;

import java.util.ArrayList;
import java.util.List;
import org.bytedeco.cuda.global.cudart;
import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerPointer;

/**
 * One {@code cuLaunchKernel} of a fatbin kernel, its arguments given in the kernel's parameter order:
 * {@code KernelLaunch.of(device, "sn_integrate_f_kernel").ptr(a).ptr(b).ptr(n).ptr(x).i32(rows).ptr(mask)
 * .launch(blocks, 1, 1, 256, 1, 1, 0, stream)}. Each argument's type must match the kernel's parameter
 * (device pointers and 64-bit integers: {@link #ptr}/{@link #i64}; {@code int}: {@link #i32}; {@code float}:
 * {@link #f32}; {@code double}: {@link #f64}).
 *
 * <p>Threading: not thread-safe; build and launch on one thread.
 */
public final class KernelLaunch {
    private final CudaDevice device;
    private final String kernel;
    private final List<Pointer> args = new ArrayList<>();

    private KernelLaunch(CudaDevice device, String kernel) {
        this.device = device;
        this.kernel = kernel;
    }

    /** @return a launch of {@code kernel} on {@code device} with no arguments yet */
    public static KernelLaunch of(CudaDevice device, String kernel) {
        return new KernelLaunch(device, kernel);
    }

    /** Appends a device pointer ({@code CUdeviceptr}, 0 for NULL). */
    public KernelLaunch ptr(long deviceAddress) {
        return i64(deviceAddress);
    }

    /** Appends a 64-bit integer. */
    public KernelLaunch i64(long v) {
        args.add(new LongPointer(1).put(v));
        return this;
    }

    /** Appends a 32-bit integer. */
    public KernelLaunch i32(int v) {
        args.add(new IntPointer(1).put(v));
        return this;
    }

    /** Appends a float. */
    public KernelLaunch f32(float v) {
        args.add(new FloatPointer(1).put(v));
        return this;
    }

    /** Appends a double. */
    public KernelLaunch f64(double v) {
        args.add(new DoublePointer(1).put(v));
        return this;
    }

    /**
     * Queues the kernel on {@code stream} (null: the context's default stream). Launch errors (a bad
     * shape, too much shared memory) throw here; errors while it runs surface at the next synchronization.
     *
     * @throws IllegalArgumentException for a grid or block dimension below 1
     * @throws CudaException            naming the kernel and its shape
     */
    public void launch(int gridX, int gridY, int gridZ, int blockX, int blockY, int blockZ, int sharedBytes,
                       CudaStream stream) {
        if (gridX < 1 || gridY < 1 || gridZ < 1 || blockX < 1 || blockY < 1 || blockZ < 1 || sharedBytes < 0) {
            throw new IllegalArgumentException(kernel + ": bad launch shape grid (" + gridX + ", " + gridY + ", " + gridZ
                + ") block (" + blockX + ", " + blockY + ", " + blockZ + ") shared " + sharedBytes);
        }
        var f = device.function(kernel);
        device.makeCurrent();
        try (PointerPointer<Pointer> params = new PointerPointer<>(args.size())) {
            for (int i = 0; i < args.size(); i++) {
                params.put(i, args.get(i));
            }
            CudaException.check("cuLaunchKernel(" + kernel + ", grid " + gridX + "x" + gridY + "x" + gridZ + ", block "
                    + blockX + "x" + blockY + "x" + blockZ + ")",
                cudart.cuLaunchKernel(f, gridX, gridY, gridZ, blockX, blockY, blockZ, sharedBytes,
                    stream == null ? null : stream.handle(), params, null));
        } finally {
            args.forEach(Pointer::close);
            args.clear();
        }
    }
}

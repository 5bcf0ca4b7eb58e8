package org.sparknative.kernels.cuda;

import org.bytedeco.cuda.global.cudart;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerPointer;

/**
 * One {@code cuLaunchKernel} of a fatbin kernel, its arguments given in the kernel's parameter order:
 * {@code KernelLaunch.of(device, "sn_integrate_f_kernel").ptr(a).ptr(b).ptr(n).ptr(x).i32(rows).ptr(mask)
 * .launch(blocks, 1, 1, 256, 1, 1, 0, stream)}. Each argument's type must match the kernel's parameter
 * (device pointers and 64-bit integers: {@link #ptr}/{@link #i64}; {@code int}: {@link #i32}; {@code float}:
 * {@link #f32}; {@code double}: {@link #f64}).
 *
 * <p>Cost: the arguments are kept on the heap and written, at launch, into one native parameter block per
 * thread that is allocated once, so a launch allocates no native memory (the generation forward pass makes
 * about ten launches per layer and step).
 *
 * <p>Threading: not thread-safe; build and launch on one thread.
 */
public final class KernelLaunch {
    /** The most arguments a kernel of this project takes. */
    static final int MAX_ARGS = 16;

    /** One thread's parameter block: MAX_ARGS slots of 8 bytes, and the array of their addresses. */
    private static final class ParamBlock {
        final BytePointer values = new BytePointer(8L * MAX_ARGS);
        final PointerPointer<Pointer> params = new PointerPointer<>(MAX_ARGS);

        ParamBlock() {
            for (int i = 0; i < MAX_ARGS; i++) {
                params.put(i, new BytePointer(values).position(8L * i));
            }
        }
    }

    private static final ThreadLocal<ParamBlock> BLOCK = ThreadLocal.withInitial(ParamBlock::new);

    private final CudaDevice device;
    private final String kernel;
    private final long[] bits = new long[MAX_ARGS];
    private final boolean[] narrow = new boolean[MAX_ARGS];
    private int count;

    private KernelLaunch(CudaDevice device, String kernel) {
        this.device = device;
        this.kernel = kernel;
    }

    /** @return a launch of {@code kernel} on {@code device} with no arguments yet */
    public static KernelLaunch of(CudaDevice device, String kernel) {
        return new KernelLaunch(device, kernel);
    }

    private KernelLaunch add(long value, boolean fourBytes) {
        if (count == MAX_ARGS) {
            throw new IllegalArgumentException(kernel + ": more than " + MAX_ARGS + " kernel arguments");
        }
        bits[count] = value;
        narrow[count++] = fourBytes;
        return this;
    }

    /** Appends a device pointer ({@code CUdeviceptr}, 0 for NULL). */
    public KernelLaunch ptr(long deviceAddress) {
        return i64(deviceAddress);
    }

    /** Appends a 64-bit integer. */
    public KernelLaunch i64(long v) {
        return add(v, false);
    }

    /** Appends a 32-bit integer. */
    public KernelLaunch i32(int v) {
        return add(v, true);
    }

    /** Appends a float. */
    public KernelLaunch f32(float v) {
        return add(Float.floatToRawIntBits(v), true);
    }

    /** Appends a double. */
    public KernelLaunch f64(double v) {
        return add(Double.doubleToRawLongBits(v), false);
    }

    /**
     * Writes the arguments into {@code values}, argument {@code i} at byte {@code 8 i}: what
     * {@code cuLaunchKernel}'s parameter array points at.
     */
    void writeArguments(BytePointer values) {
        for (int i = 0; i < count; i++) {
            if (narrow[i]) {
                values.putInt(8L * i, (int) bits[i]);
            } else {
                values.putLong(8L * i, bits[i]);
            }
        }
    }

    /** @return the number of arguments so far */
    int argumentCount() {
        return count;
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
        ParamBlock block = BLOCK.get();
        writeArguments(block.values);
        int rc = cudart.cuLaunchKernel(f, gridX, gridY, gridZ, blockX, blockY, blockZ, sharedBytes,
            stream == null ? null : stream.handle(), block.params, null);
        count = 0;
        if (rc != cudart.CUDA_SUCCESS) {
            CudaException.check("cuLaunchKernel(" + kernel + ", grid " + gridX + "x" + gridY + "x" + gridZ + ", block "
                + blockX + "x" + blockY + "x" + blockZ + ")", rc);
        }
    }
}

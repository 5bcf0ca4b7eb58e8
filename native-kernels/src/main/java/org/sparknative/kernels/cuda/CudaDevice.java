package org.sparknative.kernels.cuda;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.bytedeco.cuda.cublas.cublasContext;
import org.bytedeco.cuda.cudart.CUctx_st;
import org.bytedeco.cuda.cudart.CUfunc_st;
import org.bytedeco.cuda.cudart.CUmod_st;
import org.bytedeco.cuda.cudart.CUstream_st;
import org.bytedeco.cuda.global.cublas;
import org.bytedeco.cuda.global.cudart;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.SizeTPointer;

/**
 * One GPU as this executor JVM uses it: the device's primary context (shared with any other library in the
 * JVM that uses the runtime API), the project's fatbin loaded into it once ({@code cuModuleLoadData}; for
 * a GPU newer than the fatbin's SASS the driver JIT-compiles its {@code compute_90} PTX and caches the
 * result per machine), the kernels by name, and one cuBLAS handle. Obtained from {@link Cuda#device(int)}.
 *
 * <p>Threading: thread-safe. The driver API acts on the calling thread's current context, so every method
 * here makes this device's context current first; code that calls the driver API directly calls
 * {@link #makeCurrent()} on its thread first. The cuBLAS handle is not thread-safe: its users serialize
 * their calls (the generation loop owns the device thread; see {@link #cublas()}).
 *
 * <p>Lifetime: as long as the JVM. The primary context is released by the driver at process exit.
 */
public final class CudaDevice {
    private static final AtomicInteger MODULE_LOADS = new AtomicInteger();

    private final int ordinal;
    private final String name;
    private final CUctx_st context;
    private final CUmod_st module;
    private final Map<String, CUfunc_st> functions = new ConcurrentHashMap<>();
    private cublasContext cublasHandle;

    private CudaDevice(int ordinal, String name, CUctx_st context, CUmod_st module) {
        this.ordinal = ordinal;
        this.name = name;
        this.context = context;
        this.module = module;
    }

    static CudaDevice open(int ordinal) {
        int[] dev = {0};
        CudaException.check("cuDeviceGet(" + ordinal + ")", cudart.cuDeviceGet(dev, ordinal));
        CUctx_st ctx = new CUctx_st();
        CudaException.check("cuDevicePrimaryCtxRetain(device " + ordinal + ")", cudart.cuDevicePrimaryCtxRetain(ctx, dev[0]));
        CudaException.check("cuCtxSetCurrent(device " + ordinal + ")", cudart.cuCtxSetCurrent(ctx));
        byte[] image = CudaFatbin.load().orElseThrow(() -> new CudaUnavailableException(CudaFatbin.missingReason())).bytes();
        CUmod_st mod = new CUmod_st();
        try (BytePointer data = new BytePointer(image)) {
            CudaException.check("cuModuleLoadData(sparknative.fatbin, " + image.length + " bytes, device " + ordinal + ")",
                cudart.cuModuleLoadData(mod, data));
        }
        MODULE_LOADS.incrementAndGet();
        return new CudaDevice(ordinal, Driver.deviceName(ordinal), ctx, mod);
    }

    static int moduleLoads() {
        return MODULE_LOADS.get();
    }

    /** @return the device ordinal, as CUDA numbers the visible devices */
    public int ordinal() {
        return ordinal;
    }

    /** @return the device's name, e.g. {@code NVIDIA H100 80GB HBM3} */
    public String name() {
        return name;
    }

    @Override
    public String toString() {
        return "cuda:" + ordinal + " (" + name + ")";
    }

    /** Makes this device's context current on the calling thread. */
    public void makeCurrent() {
        int rc = cudart.cuCtxSetCurrent(context);
        if (rc != cudart.CUDA_SUCCESS) {
            CudaException.check("cuCtxSetCurrent(device " + ordinal + ")", rc);
        }
    }

    /**
     * @param kernel an {@code extern "C"} kernel of the fatbin ({@link CudaFatbin#KERNELS})
     * @return its handle in this device's module
     * @throws CudaException if the module has no such kernel
     */
    public CUfunc_st function(String kernel) {
        return functions.computeIfAbsent(kernel, k -> {
            makeCurrent();
            CUfunc_st f = new CUfunc_st();
            CudaException.check("cuModuleGetFunction(" + k + ")", cudart.cuModuleGetFunction(f, module, k));
            return f;
        });
    }

    /**
     * Allocates device memory; its owner closes it.
     *
     * @param bytes how much, {@code > 0}
     * @param what  what it is for, named in errors (e.g. {@code KV cache of 64 slots})
     * @throws CudaException with {@link CudaException#outOfMemory()} when it does not fit
     */
    public DeviceMemory alloc(long bytes, String what) {
        if (bytes <= 0) {
            throw new IllegalArgumentException("device allocation of " + bytes + " bytes for " + what);
        }
        makeCurrent();
        long[] ptr = {0};
        CudaException.check("cuMemAlloc(" + bytes + " bytes for " + what + " on device " + ordinal + ")",
            cudart.cuMemAlloc(ptr, bytes));
        return new DeviceMemory(this, ptr[0], bytes, what);
    }

    /** @return {@code {free, total}} device memory in bytes */
    public long[] memInfo() {
        makeCurrent();
        try (SizeTPointer free = new SizeTPointer(1); SizeTPointer total = new SizeTPointer(1)) {
            CudaException.check("cuMemGetInfo(device " + ordinal + ")", cudart.cuMemGetInfo(free, total));
            return new long[] {free.get(), total.get()};
        }
    }

    /** @return a new non-blocking stream on this device; its owner closes it */
    public CudaStream newStream() {
        makeCurrent();
        CUstream_st s = new CUstream_st();
        CudaException.check("cuStreamCreate(device " + ordinal + ")", cudart.cuStreamCreate(s, cudart.CU_STREAM_NON_BLOCKING));
        return new CudaStream(this, s);
    }

    /** Waits for all work on this device's context. */
    public void synchronize() {
        makeCurrent();
        CudaException.check("cuCtxSynchronize(device " + ordinal + ")", cudart.cuCtxSynchronize());
    }

    /**
     * @return this device's cuBLAS handle, created on first use with {@code CUBLAS_PEDANTIC_MATH} (FP32
     *         arithmetic, no TF32 or other reduced-precision shortcuts); not thread-safe: callers serialize
     *         their calls and set its stream before each use
     */
    public synchronized cublasContext cublas() {
        if (cublasHandle == null) {
            makeCurrent();
            cublasContext h = new cublasContext();
            CudaException.checkCublas("cublasCreate(device " + ordinal + ")", cublas.cublasCreate_v2(h));
            CudaException.checkCublas("cublasSetMathMode(CUBLAS_PEDANTIC_MATH)",
                cublas.cublasSetMathMode(h, cublas.CUBLAS_PEDANTIC_MATH));
            cublasHandle = h;
        }
        return cublasHandle;
    }
}

package org.sparknative.kernels;

import java.util.List;
import org.sparknative.kernels.integrate.IntegrateKernels;
import org.sparknative.kernels.llama.LlamaKernels;

/** The JavaCPP classes, beside {@link IntegrateKernels}, whose JNI libraries {@link NativeLibrary} loads. */
final class KernelRegistry {
    static final List<Class<?>> OTHER_KERNEL_CLASSES = List.of(LlamaKernels.class);

    private KernelRegistry() {
    }
}

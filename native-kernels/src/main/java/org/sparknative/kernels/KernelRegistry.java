package org.sparknative.kernels;

import java.util.List;

/** The JavaCPP classes, beside {@link IntegrationKernels}, whose JNI libraries {@link NativeLibrary} loads. */
final class KernelRegistry {
    static final List<Class<?>> OTHER_KERNEL_CLASSES = List.of();

    private KernelRegistry() {
    }
}

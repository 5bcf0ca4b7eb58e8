package org.sparknative.kernels;

import java.util.concurrent.atomic.AtomicInteger;
import org.bytedeco.javacpp.Loader;
import org.sparknative.kernels.integrate.IntegrateKernels;

/**
 * Loads the project's JNI libraries (built by JavaCPP and packaged in this jar) into the JVM.
 *
 * <p>Threading: {@link #ensureLoaded()} is idempotent and safe to call from any number of threads at
 * once; the libraries are loaded exactly once per JVM (one Spark executor), and {@link #loadCount()}
 * counts the loads that really happened so tests can prove it.
 *
 * <p>Errors: a library that cannot be loaded (unsupported platform, missing C runtime) raises
 * {@link UnsatisfiedLinkError} with JavaCPP's message, every time it is asked for.
 */
public final class NativeLibrary {
    private static final AtomicInteger LOADS = new AtomicInteger();
    private static volatile boolean loaded;

    private NativeLibrary() {
    }

    /** Loads the kernels' JNI libraries unless this JVM already did. */
    public static void ensureLoaded() {
        if (loaded) {
            return;
        }
        synchronized (NativeLibrary.class) {
            if (!loaded) {
                Loader.load(IntegrateKernels.class);
                for (Class<?> c : KernelRegistry.OTHER_KERNEL_CLASSES) {
                    Loader.load(c);
                }
                LOADS.incrementAndGet();
                loaded = true;
            }
        }
    }

    /** @return how many times this JVM really loaded the libraries: 0 before first use, then 1 */
    public static int loadCount() {
        return LOADS.get();
    }
}

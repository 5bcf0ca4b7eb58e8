package org.sparknative.kernels;

import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.sparknative.kernels.integrate.IntegrateKernels;
import org.sparknative.kernels.llama.LlamaKernels;

/**
 * The project's JNI libraries (built by JavaCPP and packaged in this jar): one per binding class,
 * {@link IntegrateKernels} and {@link LlamaKernels}, plus {@link org.sparknative.kernels.llama.LlamaMath}
 * (host hooks of the CUDA kernels' arithmetic, for tests), which no production path loads and
 * {@link #ensureLoaded()} leaves alone.
 *
 * <p>Loading, the JavaCPP way: every binding class loads its own library in its static initializer
 * ({@code static { NativeLibrary.load(...); NativeLibrary.recordLoad(...); }}, {@link #load} being
 * JavaCPP's {@code Loader.load} made immune to the thread's interruption). The JVM runs a class's static
 * initializer once, under the class-initialization lock, before any of its methods can run, so the first
 * thread to touch a kernel loads the library and every other thread waits for it. Nothing has to be called
 * first; {@link #ensureLoaded()} only loads every library up front (an executor's first task) so that a
 * platform without the libraries fails early.
 *
 * <p>Threading: every method is safe to call from any number of threads at once.
 *
 * <p>Errors: a library that cannot be loaded (unsupported platform, missing C runtime) raises JavaCPP's
 * {@link UnsatisfiedLinkError} on the first use of its binding class; the JVM then reports later uses of
 * that class as {@link NoClassDefFoundError}. {@link #ensureLoaded()} raises {@link UnsatisfiedLinkError}
 * every time.
 */
public final class NativeLibrary {
    private static final ConcurrentMap<Class<?>, AtomicInteger> LOADS = new ConcurrentHashMap<>();

    private NativeLibrary() {
    }

    /** Loads every kernel library unless this JVM already did, by initializing every binding class. */
    public static void ensureLoaded() {
        initialize(IntegrateKernels.class);
        initialize(LlamaKernels.class);
    }

    private static void initialize(Class<?> binding) {
        try {
            Class.forName(binding.getName(), true, binding.getClassLoader());
        } catch (ClassNotFoundException e) {
            throw new AssertionError("binding class vanished: " + binding.getName(), e);
        } catch (NoClassDefFoundError e) {
            // Its static initializer failed on an earlier call; report it as the link error it was.
            UnsatisfiedLinkError u = new UnsatisfiedLinkError("the JNI library of " + binding.getName()
                + " failed to load earlier in this JVM: " + e.getMessage());
            u.initCause(e);
            throw u;
        }
    }

    /**
     * Loads the JNI library of {@code binding} ({@code Loader.load}), immune to the calling thread's
     * interruption: Spark interrupts the thread of a cancelled task, and JavaCPP takes a file lock while it
     * extracts the library, which an interrupt aborts. A failed load inside a static initializer would break
     * the binding class for the executor's whole life, so the interrupt is cleared for the load (retried
     * if an interrupt arrives meanwhile) and set again afterwards, for the task to see. Called by each
     * binding class's static initializer.
     *
     * @throws UnsatisfiedLinkError if the library cannot be loaded for any other reason
     */
    public static void load(Class<?> binding) {
        boolean interrupted = Thread.interrupted();
        try {
            for (int attempt = 1; ; attempt++) {
                try {
                    org.bytedeco.javacpp.Loader.load(binding);
                    return;
                } catch (UnsatisfiedLinkError e) {
                    boolean byInterrupt = Thread.interrupted() || causedByInterrupt(e);
                    interrupted |= byInterrupt;
                    if (!byInterrupt || attempt >= 5) {
                        throw e;
                    }
                }
            }
        } finally {
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }

    private static boolean causedByInterrupt(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            String m = String.valueOf(t.getMessage());
            if (t instanceof InterruptedException || t instanceof java.nio.channels.ClosedByInterruptException
                || t instanceof java.nio.channels.FileLockInterruptionException
                || m.contains("FileLockInterruptionException") || m.contains("ClosedByInterruptException")) {
                return true;
            }
            if (t.getCause() == t) {
                break;
            }
        }
        return false;
    }

    /**
     * Called by each binding class's static initializer, once its library is loaded; nothing else may
     * call it.
     */
    public static void recordLoad(Class<?> binding) {
        LOADS.computeIfAbsent(binding, c -> new AtomicInteger()).incrementAndGet();
    }

    /** @return how many times this JVM loaded the library of {@code binding}: 0 before its first use, then 1 */
    public static int loadCount(Class<?> binding) {
        AtomicInteger n = LOADS.get(binding);
        return n == null ? 0 : n.get();
    }

    /**
     * @return the most times any one kernel library was loaded in this JVM: 0 before any kernel was used,
     * then 1; more would mean a library was loaded twice
     */
    public static int loadCount() {
        int most = 0;
        for (AtomicInteger n : LOADS.values()) {
            most = Math.max(most, n.get());
        }
        return most;
    }
}

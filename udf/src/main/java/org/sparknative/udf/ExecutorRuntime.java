package org.sparknative.udf;

import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.memory.RootAllocator;
import org.sparknative.kernels.NativeLibrary;

/**
 * The executor-wide runtime: everything that must exist once per executor JVM and be shared by its
 * concurrent tasks. Today that is the native kernel library and the root Arrow allocator; models and
 * device contexts join it as the workloads need them.
 *
 * <p>Threading: every method is thread-safe; the first caller pays for initialization, every other
 * task of the executor reuses it.
 *
 * <p>Memory: each task takes a child of {@link #rootAllocator()} and closes it when the task ends, so a
 * leak is reported against the task that made it. The root lives as long as the JVM.
 */
public final class ExecutorRuntime {
    private ExecutorRuntime() {
    }

    private static final class Root {
        static final RootAllocator ALLOCATOR = new RootAllocator(Long.MAX_VALUE);
    }

    /**
     * Loads the native kernels unless this executor already has.
     *
     * @throws UnsatisfiedLinkError if the library does not load on this platform
     */
    public static void ensureNativeLoaded() {
        NativeLibrary.ensureLoaded();
    }

    /**
     * @return the code path the CPU kernels chose on this machine, {@code avx512-vnni}, {@code avx2} or
     *         {@code sse2} (the portable one; every path gives the same bits): the best the CPU has, or a lower one
     *         that the environment variable {@code SPARKNATIVE_SIMD} names. Null where this JVM has not loaded the
     *         kernel library (the answer needs it; asking does not load it)
     */
    public static String simdPath() {
        if (NativeLibrary.loadCount() == 0) {
            return null;
        }
        return org.sparknative.kernels.llama.LlamaKernels.simdName(
            org.sparknative.kernels.llama.LlamaKernels.simdDefault());
    }

    /**
     * @return this machine's CPU model as {@code /proc/cpuinfo} names it (its first {@code model name}), else
     *         the JVM's {@code os.arch}
     */
    public static String cpuModel() {
        return CpuModel.NAME;
    }

    private static final class CpuModel {
        static final String NAME = read();

        private static String read() {
            try (java.util.stream.Stream<String> lines = java.nio.file.Files.lines(java.nio.file.Path.of("/proc/cpuinfo"))) {
                return lines.filter(l -> l.startsWith("model name")).map(l -> l.substring(l.indexOf(':') + 1).trim())
                    .findFirst().orElse(System.getProperty("os.arch"));
            } catch (java.io.IOException | java.io.UncheckedIOException e) {
                return System.getProperty("os.arch");
            }
        }
    }

    /** @return how many times this JVM really loaded the native library (1 once loaded) */
    public static int nativeLoadCount() {
        return NativeLibrary.loadCount();
    }

    /** @return the executor's root Arrow allocator; take a child per task, never close the root */
    public static BufferAllocator rootAllocator() {
        return Root.ALLOCATOR;
    }

    /**
     * @param name the child's name in leak reports, such as {@code integrate_f task 12}
     * @return a new child allocator of the root, to be closed by its task
     */
    public static BufferAllocator newTaskAllocator(String name) {
        return Root.ALLOCATOR.newChildAllocator(name, 0, Long.MAX_VALUE);
    }
}

package org.sparknative.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.jar.JarFile;
import org.junit.jupiter.api.Test;

/**
 * The job jar holds only our modules, JavaCPP (with the driver API and cuBLAS parts of its CUDA presets, and their
 * linux-x86_64 JNI libraries, the fatbin of our kernels), picocli, and the benchmark report's JFreeChart, JFreeSVG and
 * Mustache: the cluster provides Spark, Scala, Arrow, Netty and
 * Jackson, and a second copy of any of them in the jar is a classpath conflict on a cluster with another
 * version.
 */
class JobJarIT {
    /** Whether the build had nvcc (then the fatbin must be in the jar). */
    static final class CudaFatbinProbe {
        static boolean nvccOnPath() {
            for (String dir : System.getenv().getOrDefault("PATH", "").split(java.io.File.pathSeparator)) {
                if (!dir.isEmpty() && Files.isExecutable(Path.of(dir, "nvcc"))) {
                    return true;
                }
            }
            return false;
        }
    }

    private static final List<String> BANNED = List.of("io/netty/", "org/apache/spark/", "org/apache/arrow/", "scala/",
        "com/fasterxml/");

    @Test
    void theJobJarHoldsOurClassesJavaCppPicocliAndTheReportLibrariesAndNothingTheClusterProvides() throws Exception {
        Path jar = Path.of(System.getProperty("sparknative.project.dir", ".."), "spark-job/target/spark-native-job.jar");
        assertTrue(Files.isRegularFile(jar), jar + " is not built");
        Set<String> packages = new TreeSet<>();
        try (JarFile jf = new JarFile(jar.toFile())) {
            jf.stream().filter(e -> e.getName().endsWith(".class")).forEach(e -> {
                String n = e.getName();
                packages.add(n.contains("/") ? n.substring(0, n.lastIndexOf('/') + 1) : "");
            });
        }
        List<String> banned = packages.stream().filter(p -> BANNED.stream().anyMatch(p::startsWith)).toList();
        assertEquals(List.of(), banned, "packages the cluster provides, bundled in " + jar);
        for (String p : packages) {
            assertTrue(p.startsWith("org/sparknative/") || p.startsWith("org/bytedeco/javacpp/") || p.startsWith("picocli/")
                || p.startsWith("META-INF/versions/") || p.equals("org/bytedeco/cuda/global/")
                || p.startsWith("org/bytedeco/cuda/cudart/") || p.startsWith("org/bytedeco/cuda/cublas/")
                || p.equals("org/bytedeco/cuda/presets/") || p.startsWith("org/jfree/chart/") || p.startsWith("org/jfree/data/")
                || p.startsWith("org/jfree/svg/") || p.startsWith("com/github/mustachejava/"),
                "unexpected package " + p + " in " + jar);
        }
        try (JarFile jf = new JarFile(jar.toFile())) {
            List<String> cudaJni = jf.stream().map(java.util.jar.JarEntry::getName)
                .filter(n -> n.startsWith("org/bytedeco/cuda/linux-x86_64/") && !n.endsWith("/")).sorted().toList();
            assertEquals(List.of("org/bytedeco/cuda/linux-x86_64/libjnicublas.so", "org/bytedeco/cuda/linux-x86_64/libjnicudart.so"),
                cudaJni, "the CUDA backend needs the driver API and cuBLAS bindings, and nothing else of the presets");
            List<String> globals = jf.stream().map(java.util.jar.JarEntry::getName)
                .filter(n -> n.startsWith("org/bytedeco/cuda/global/") && !n.endsWith("/")).sorted().toList();
            assertEquals(List.of("org/bytedeco/cuda/global/cublas.class", "org/bytedeco/cuda/global/cudart.class"), globals);
            if (CudaFatbinProbe.nvccOnPath()) {
                assertTrue(jf.getEntry("org/sparknative/kernels/cuda/sparknative.fatbin") != null,
                    "nvcc is on the PATH but the job jar has no CUDA fatbin");
            }
        }
        for (String required : List.of("org/sparknative/job/", "org/sparknative/spark/", "org/sparknative/udf/",
            "org/sparknative/kernels/", "org/bytedeco/javacpp/", "picocli/", "org/jfree/chart/", "org/jfree/svg/",
            "com/github/mustachejava/")) {
            assertTrue(packages.contains(required), jar + " lacks " + required + ": " + packages);
        }
        assertTrue(Files.size(jar) < 8L << 20, jar + " is " + Files.size(jar) + " bytes");
    }
}

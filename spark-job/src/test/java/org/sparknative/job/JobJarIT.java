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
 * linux-x86_64 JNI libraries, the fatbin of our kernels), picocli, the benchmark report's JFreeChart, JFreeSVG and
 * Mustache, and the chat templates' Jinjava with its own dependencies (Guava, commons-lang3, javassist, ...), all of
 * those relocated under {@code org/sparknative/shaded/}: the cluster provides Spark, Scala, Arrow, Netty and
 * Jackson, and a second copy of any of them in the jar is a classpath conflict on a cluster with another
 * version; Spark ships Guava, commons-lang3 and javassist too, so unrelocated copies of ours would meet those.
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
        "com/fasterxml/", "com/google/", "com/hubspot/", "jinjava/", "javassist/", "org/apache/commons/");

    /** What the shade relocates under org/sparknative/shaded/: Jinjava and its run-time dependencies. */
    private static final List<String> RELOCATED = List.of("com/hubspot/jinjava/", "com/hubspot/algebra/",
        "com/hubspot/immutables/", "com/hubspot/immutable/", "jinjava/", "com/google/common/", "com/google/thirdparty/",
        "com/google/re2j/", "org/apache/commons/lang3/", "org/apache/commons/net/", "javassist/", "com/googlecode/ipv6/",
        "ch/obermuhlner/", "com/fasterxml/jackson/datatype/jdk8/");

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
            if (p.startsWith("org/sparknative/shaded/")) {
                String original = p.substring("org/sparknative/shaded/".length());
                assertTrue(RELOCATED.stream().anyMatch(original::startsWith), "unexpected relocated package " + p + " in " + jar);
                continue;
            }
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
            "com/github/mustachejava/", "org/sparknative/shaded/com/hubspot/jinjava/",
            "org/sparknative/shaded/com/google/common/base/")) {
            assertTrue(packages.contains(required), jar + " lacks " + required + ": " + packages);
        }
        // 4.8 MiB before chat templates; Jinjava and its relocated dependencies (Guava the most) add about 6.6 MiB.
        assertTrue(Files.size(jar) < 14L << 20, jar + " is " + Files.size(jar) + " bytes");
    }

    /**
     * The relocated Jinjava works: the jar's ChatTemplate, loaded apart from this test's classpath (only the JDK,
     * the jar and the Jackson that Spark provides), renders a published template as the unrelocated one does.
     */
    @Test
    void theJobJarsRelocatedJinjavaRendersAChatTemplate() throws Exception {
        Path jar = Path.of(System.getProperty("sparknative.project.dir", ".."), "spark-job/target/spark-native-job.jar");
        assertTrue(Files.isRegularFile(jar), jar + " is not built");
        List<java.net.URL> urls = new java.util.ArrayList<>();
        urls.add(jar.toUri().toURL());
        for (Class<?> provided : List.of(com.fasterxml.jackson.databind.ObjectMapper.class,
            com.fasterxml.jackson.core.JsonFactory.class, com.fasterxml.jackson.annotation.JsonProperty.class,
            com.fasterxml.jackson.dataformat.yaml.YAMLFactory.class, org.yaml.snakeyaml.Yaml.class,
            org.slf4j.LoggerFactory.class)) {
            urls.add(provided.getProtectionDomain().getCodeSource().getLocation());
        }
        String template = "{{ bos_token }}{% for m in messages %}{% if loop.first and m['role'] == 'system' %}"
            + "{% set ns = namespace(sys=m['content'] | trim) %}{% else %}{{ '[INST] ' ~ m['content'].strip() ~ ' [/INST]' }}"
            + "{% endif %}{% endfor %}";
        try (java.net.URLClassLoader loader = new java.net.URLClassLoader(urls.toArray(new java.net.URL[0]),
            ClassLoader.getPlatformClassLoader())) {
            // The thread's context loader stays this test's, which holds another copy of the jar's classes (failsafe puts
            // the job jar on the test classpath): Jinjava's expression engine loads classes through the context loader,
            // and ChatTemplate must point it at its own.
            Class<?> ct = Class.forName("org.sparknative.udf.generate.ChatTemplate", true, loader);
            Class<?> msg = Class.forName("org.sparknative.udf.generate.ChatTemplate$Message", true, loader);
            Object t = ct.getMethod("of", String.class, String.class, String.class, String.class)
                .invoke(null, template, "<s>", "</s>", "test");
            Object m = msg.getConstructor(String.class, String.class).newInstance("user", " Hello! ");
            Object out = ct.getMethod("render", List.class, boolean.class).invoke(t, List.of(m), true);
            assertEquals("[INST] Hello! [/INST]", out);
            assertTrue(ct.getClassLoader() == loader, "the jar's own ChatTemplate");
        }
    }
}

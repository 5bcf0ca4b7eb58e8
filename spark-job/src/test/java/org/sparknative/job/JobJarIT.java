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
 * The job jar holds only our modules, JavaCPP and picocli: the cluster provides Spark, Scala, Arrow, Netty and
 * Jackson, and a second copy of any of them in the jar is a classpath conflict on a cluster with another
 * version.
 */
class JobJarIT {
    private static final List<String> BANNED = List.of("io/netty/", "org/apache/spark/", "org/apache/arrow/", "scala/",
        "com/fasterxml/");

    @Test
    void theJobJarHoldsOurClassesJavaCppAndPicocliAndNothingTheClusterProvides() throws Exception {
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
                || p.startsWith("META-INF/versions/"), "unexpected package " + p + " in " + jar);
        }
        for (String required : List.of("org/sparknative/job/", "org/sparknative/spark/", "org/sparknative/udf/",
            "org/sparknative/kernels/", "org/bytedeco/javacpp/", "picocli/")) {
            assertTrue(packages.contains(required), jar + " lacks " + required + ": " + packages);
        }
        assertTrue(Files.size(jar) < 8L << 20, jar + " is " + Files.size(jar) + " bytes");
    }
}

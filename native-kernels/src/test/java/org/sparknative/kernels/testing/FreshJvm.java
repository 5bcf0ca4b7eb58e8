package org.sparknative.kernels.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Runs a probe's {@code main} in a brand-new JVM on this test run's class path, where no kernel library is
 * loaded yet: what a Spark executor's first task sees. Used for what a test JVM cannot show once any earlier
 * test touched the kernels, such as the first load.
 */
public final class FreshJvm {
    private FreshJvm() {
    }

    /**
     * @return the probe's stdout and stderr
     * @throws AssertionError if the probe does not exit with status 0 within 60 seconds (with its output)
     */
    /**
     * @return the start of a child JVM's command line: this JVM's {@code java} and the same module options as the
     *         test JVM (Arrow needs java.nio opened; the parent pom's {@code jvm.module.opens}, passed by surefire
     *         and failsafe as {@code sparknative.jvm.opens}); a new list, for the caller to extend
     */
    public static List<String> javaCommand() {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        for (String opt : System.getProperty("sparknative.jvm.opens", "").trim().split("\\s+")) {
            if (!opt.isEmpty()) {
                cmd.add(opt);
            }
        }
        return cmd;
    }

    public static String run(Class<?> probe, String... args) throws IOException, InterruptedException {
        return run(List.of(), probe, args);
    }

    /**
     * @param jvmOptions extra JVM options, such as {@code -Dorg.bytedeco.javacpp.cachedir=...}
     * @return the probe's stdout and stderr
     * @throws AssertionError if the probe does not exit with status 0 within 60 seconds (with its output)
     */
    public static String run(List<String> jvmOptions, Class<?> probe, String... args)
        throws IOException, InterruptedException {
        List<String> cmd = javaCommand();
        cmd.addAll(jvmOptions);
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.add(probe.getName());
        cmd.addAll(List.of(args));
        Path log = Files.createTempFile("fresh-jvm-", ".log");
        try {
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
            if (!p.waitFor(60, TimeUnit.SECONDS)) {
                p.destroyForcibly().waitFor();
                fail(probe.getSimpleName() + " timed out:\n" + Files.readString(log, StandardCharsets.UTF_8));
            }
            String out = Files.readString(log, StandardCharsets.UTF_8);
            assertEquals(0, p.exitValue(), () -> probe.getSimpleName() + " failed:\n" + out);
            return out;
        } finally {
            Files.deleteIfExists(log);
        }
    }
}

package org.sparknative.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.sparknative.kernels.testing.FreshJvm;
import org.junit.jupiter.api.io.TempDir;

/** SIGTERM in the middle of a job: a clean exit with the documented code, and no half-written output left. */
class SignalTest {
    @TempDir
    Path tmp;

    private static boolean hasTemporary(Path out) throws java.io.IOException {
        if (!Files.isDirectory(out)) {
            return false;
        }
        try (var s = Files.walk(out)) {
            return s.anyMatch(f -> f.getFileName().toString().equals("_temporary"));
        } catch (java.io.UncheckedIOException e) {
            return false; // a folder vanished while walking
        }
    }

    private static List<String> listing(Path dir) throws java.io.IOException {
        try (var s = Files.walk(dir)) {
            return s.map(Path::toString).toList();
        }
    }

    @Test
    void sigtermExits143AndRemovesTheOutputTheRunCreated() throws Exception {
        Path prompts = tmp.resolve("many.jsonl");
        List<String> lines = new ArrayList<>();
        for (int i = 0; i < 400; i++) {
            lines.add("{\"id\":" + i + ",\"prompt\":\"story " + i + "\"}");
        }
        Files.write(prompts, lines);
        Path out = tmp.resolve("out");
        List<String> cmd = FreshJvm.javaCommand();
        cmd.add("-Xmx1g");
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), SparkNativeCli.class.getName(), "generate",
            "--master", "local[2]", "--input", prompts.toString(), "--synthetic-model",
            "dim=64,hidden=128,layers=2,heads=4,kv_heads=4,vocab=300,seq=512", "--max-new-tokens", "500",
            "--slots", "4", "--chunk-rows", "100000", "--output", out.toString(), "--conf", "spark.ui.enabled=false",
            "--conf", "spark.driver.host=127.0.0.1", "--conf", "spark.driver.bindAddress=127.0.0.1"));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(tmp.resolve("child.log").toFile())
            .start();
        try {
            // The write has started once Spark's committer made its folder under the output's staging area
            // (one chunk for all 400 rows: nothing is committed before the signal).
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
            while (!hasTemporary(out) && p.isAlive() && System.nanoTime() < deadline) {
                Thread.sleep(100);
            }
            assertTrue(p.isAlive(), "the job ended before it could be signalled: " + Files.readString(tmp.resolve("child.log")));
            assertTrue(Files.isDirectory(out), "the job never started writing");
            Thread.sleep(500);
            p.destroy(); // SIGTERM
            assertTrue(p.waitFor(60, TimeUnit.SECONDS), "no exit within 60 s of SIGTERM");
            assertEquals(143, p.exitValue(), Files.readString(tmp.resolve("child.log")));
            String left = Files.exists(out) ? String.join(", ", listing(out)) : "";
            assertFalse(Files.exists(out), "SIGTERM left the unfinished output " + out + File.separator + ": " + left
                + "\n" + Files.readString(tmp.resolve("child.log")));
        } finally {
            p.destroyForcibly();
        }
    }
}

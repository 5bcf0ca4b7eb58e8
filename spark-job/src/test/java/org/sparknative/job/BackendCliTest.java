package org.sparknative.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sparknative.kernels.cuda.Cuda;

/**
 * {@code --backend} and {@code spark.sparknative.backend} where CUDA cannot run (this machine and CI):
 * {@code cuda} stops with the probe's one line, {@code auto} falls back to the CPU and the summary says
 * so, and bad names are usage errors that name the option or setting.
 */
class BackendCliTest {
    private static final String SYNTHETIC = "dim=16,hidden=32,layers=1,heads=2,kv_heads=1,vocab=300,seq=32";

    @TempDir
    Path tmp;

    private static org.apache.spark.sql.SparkSession spark;

    @BeforeAll
    static void start() {
        spark = SparkTestSession.get();
    }

    /** Runs with spark.sparknative.backend set on the tests' shared session (which the jobs reuse, so --conf cannot). */
    private static CliRun withSetting(String backend, java.util.function.Supplier<CliRun> run) {
        spark.conf().set("spark.sparknative.backend", backend);
        try {
            return run.get();
        } finally {
            spark.conf().unset("spark.sparknative.backend");
        }
    }

    private static void assumeNoCuda() {
        Assumptions.assumeFalse(Cuda.availability().usable(), "a CUDA device is usable here");
    }

    private static String expectedError() {
        return "CUDA backend unavailable: " + Cuda.availability().reason();
    }

    @Test
    void cudaWithoutADeviceStopsWithOneLine() throws Exception {
        assumeNoCuda();
        CliRun integrate = CliRun.of("integrate", "--rows", "100", "--backend", "cuda");
        assertEquals(2, integrate.exit(), integrate.err());
        assertTrue(integrate.err().contains(expectedError()), integrate.err());
        assertEquals(1, integrate.err().strip().lines().filter(l -> l.contains("CUDA")).count(), integrate.err());

        Path prompts = tmp.resolve("prompts.txt");
        Files.writeString(prompts, "hello\n");
        CliRun generate = CliRun.of("generate", "--input", prompts.toString(), "--synthetic-model", SYNTHETIC,
            "--max-new-tokens", "2", "--backend", "cuda");
        assertEquals(2, generate.exit(), generate.err());
        assertTrue(generate.err().contains(expectedError()), generate.err());

        CliRun setting = withSetting("cuda", () -> CliRun.of("integrate", "--rows", "100"));
        assertEquals(2, setting.exit(), setting.err());
        assertTrue(setting.err().contains(expectedError()), setting.err());
    }

    @Test
    void autoFallsBackToTheCpuAndTheSummarySaysSo() throws Exception {
        assumeNoCuda();
        Path summary = tmp.resolve("summary.json");
        CliRun r = CliRun.of("integrate", "--rows", "2000", "--backend", "auto", "--warmup", "0", "--summary",
            summary.toString());
        assertEquals(0, r.exit(), r.err());
        JsonNode json = new ObjectMapper().readTree(summary.toFile());
        assertEquals("cpu", json.get("variants").get(0).get("backend").asText());
        assertTrue(json.get("variants").get(0).get("maxRelativeError").asDouble() < 1e-11);
        boolean cpuExecutor = false;
        for (JsonNode e : json.get("executors")) {
            cpuExecutor |= e.get("backends").asText().equals("cpu");
            assertTrue(!e.get("backends").asText().contains("cuda"), e.toString());
        }
        assertTrue(cpuExecutor, json.get("executors").toString());
    }

    @Test
    void unknownBackendsNameTheOptionOrTheSetting() {
        CliRun option = CliRun.of("integrate", "--rows", "10", "--backend", "tpu");
        assertEquals(2, option.exit(), option.err());
        assertTrue(option.err().contains("--backend must be cpu, cuda or auto, got 'tpu'"), option.err());
        CliRun setting = withSetting("tpu", () -> CliRun.of("integrate", "--rows", "10"));
        assertEquals(2, setting.exit(), setting.err());
        assertTrue(setting.err().contains("spark.sparknative.backend must be cpu, cuda or auto, got 'tpu'"), setting.err());
        CliRun java = CliRun.of("integrate", "--rows", "10", "--backend", "java");
        assertEquals(2, java.exit(), java.err());
        assertTrue(java.err().contains("the pure-Java path is --variant java-row"), java.err());
    }

    @Test
    void generateOnAutoFallsBackToTheCpuAndTheSummarySaysSo() throws Exception {
        assumeNoCuda();
        Path prompts = tmp.resolve("prompts.jsonl");
        Files.writeString(prompts, "{\"prompt\": \"hello\"}\n{\"prompt\": \"world\"}\n");
        Path summary = tmp.resolve("generate.json");
        CliRun r = CliRun.of("generate", "--input", prompts.toString(), "--synthetic-model", SYNTHETIC,
            "--max-new-tokens", "3", "--temperature", "0", "--backend", "auto", "--summary", summary.toString());
        assertEquals(0, r.exit(), r.err());
        JsonNode json = new ObjectMapper().readTree(summary.toFile());
        assertEquals("cpu", json.get("backend").asText());
        assertEquals(2, json.get("prompts").asLong());
    }

    @Test
    void theCudaMatmulSettingIsCheckedBeforeAnyWork() throws Exception {
        Path prompts = tmp.resolve("prompts.txt");
        Files.writeString(prompts, "hello\n");
        spark.conf().set("spark.sparknative.cuda.matmul", "fast");
        CliRun r;
        try {
            r = CliRun.of("generate", "--input", prompts.toString(), "--synthetic-model", SYNTHETIC, "--max-new-tokens", "2");
        } finally {
            spark.conf().unset("spark.sparknative.cuda.matmul");
        }
        assertEquals(2, r.exit(), r.err());
        assertTrue(r.err().contains("spark.sparknative.cuda.matmul must be invariant or cublas, got 'fast'"), r.err());
    }

    @Test
    void benchGenerateIsBenchOfGenerationAndRefusesCudaWithoutADevice() throws Exception {
        assumeNoCuda();
        CliRun cuda = CliRun.of("bench-generate", "--synthetic-model", SYNTHETIC, "--backends", "cuda");
        assertEquals(2, cuda.exit(), cuda.err());
        assertTrue(cuda.err().contains(expectedError()), cuda.err());
        CliRun harness = CliRun.of("bench-generate", "--synthetic-model", SYNTHETIC, "--cuda-slots", "8");
        assertEquals(2, harness.exit(), harness.err());
        assertTrue(harness.err().contains("--cuda-slots was the Spark-free harness's: use --backends cuda with --slots"),
            harness.err());

        // The old names: --batch for --slots, --tokens for --max-new-tokens, --summary for a copy of report.json.
        Path summary = tmp.resolve("bench.json");
        // 128 positions: the generated prompts are about 50 byte-level tokens.
        String shape = "dim=16,hidden=32,layers=1,heads=2,kv_heads=1,vocab=300,seq=128";
        CliRun r = CliRun.of("bench-generate", "--synthetic-model", shape, "--batch", "1,2", "--backends", "cpu,java",
            "--tokens", "4", "--prompt-count", "3", "--warmup", "0", "--repeats", "1", "--summary", summary.toString());
        assertEquals(0, r.exit(), r.err());
        JsonNode report = new ObjectMapper().readTree(summary.toFile());
        assertTrue(report.get("integrate") == null, "generation only");
        JsonNode runs = report.at("/generate/runs");
        assertEquals(4, runs.size(), runs.toString());
        String[] backends = {"cpu", "cpu", "java", "java"};
        int[] slots = {1, 2, 1, 2};
        for (int i = 0; i < 4; i++) {
            JsonNode run = runs.get(i);
            assertEquals(backends[i], run.get("backend").asText());
            assertEquals(slots[i], run.get("slots").asInt());
            long tokens = run.get("completionTokens").asLong();
            assertEquals(0, run.get("errorRows").asLong(), run.toString());
            assertTrue(tokens > 0 && tokens <= 3 * 4, run.toString());
            assertEquals(tokens / run.at("/seconds/0").asDouble(), run.at("/tokensPerSecond/median").asDouble(), 1e-6 * tokens);
        }
    }
}

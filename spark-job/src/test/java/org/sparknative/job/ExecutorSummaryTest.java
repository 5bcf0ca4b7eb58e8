package org.sparknative.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The jobs' per-executor section (in local mode one executor, {@code driver}): printed after the summary table
 * and written as the JSON summary's {@code executors}, with rows and tokens that sum to the job's totals and the
 * plugin's figures for this JVM.
 */
class ExecutorSummaryTest {
    @TempDir
    static Path tmp;

    @BeforeAll
    static void start() {
        SparkTestSession.get();
    }

    /** Runs the command line in-process, returning what it printed on stdout. */
    static String stdout(String... args) {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        PrintStream old = System.out;
        CliRun run;
        synchronized (System.class) {
            System.setOut(new PrintStream(buf, true, StandardCharsets.UTF_8));
            try {
                run = CliRun.of(args);
            } finally {
                System.setOut(old);
            }
        }
        String out = buf.toString(StandardCharsets.UTF_8);
        assertEquals(0, run.exit(), run.err() + out);
        return out;
    }

    /** @return the per-executor table's line of executor {@code id}, split into cells */
    static List<String> tableLine(String out, String header, String id) {
        String[] lines = out.split("\n");
        for (int i = 0; i < lines.length; i++) {
            if (lines[i].startsWith("executor ") && lines[i].contains(header)) {
                for (int j = i + 2; j < lines.length && !lines[j].isBlank(); j++) {
                    List<String> cells = List.of(lines[j].trim().split("\\s{2,}"));
                    if (cells.get(0).equals(id)) {
                        return cells;
                    }
                }
            }
        }
        throw new AssertionError("no per-executor line for " + id + " in:\n" + out);
    }

    private static long ownPid() {
        return ProcessHandle.current().pid();
    }

    @Test
    void generatePrintsAndWritesEachExecutorsShareOfTheJob() throws Exception {
        Path in = tmp.resolve("prompts.jsonl");
        List<String> lines = new ArrayList<>();
        for (int i = 0; i < 23; i++) {
            lines.add("{\"id\":" + i + ",\"prompt\":\"tale " + i + "\"}");
        }
        Files.write(in, lines);
        Path summary = tmp.resolve("gen.json");
        String out = stdout("generate", "--input", in.toString(), "--synthetic-model",
            "dim=32,hidden=64,layers=1,heads=4,kv_heads=2,vocab=300,seq=48", "--max-new-tokens", "9", "--slots", "4",
            "--output", tmp.resolve("gen-out").toString(), "--chunk-rows", "10", "--partitions", "3",
            "--summary", summary.toString());
        JsonNode json = new ObjectMapper().readTree(summary.toFile());
        assertEquals(23, json.get("prompts").asLong());
        JsonNode executors = json.get("executors");
        assertEquals(1, executors.size(), json.toString());
        JsonNode e = executors.get(0);
        assertEquals("driver", e.get("executorId").asText());
        assertEquals(ownPid(), e.get("pid").asLong());
        // Three chunks (10 + 10 + 3 rows) of 3 partitions each, and the jobs that write them: every task ran here.
        assertTrue(e.get("tasks").asInt() >= 9, e.toString());
        assertEquals(0, e.get("failedTasks").asInt());
        assertEquals(json.get("prompts").asLong(), e.get("rows").asLong());
        assertEquals(json.get("promptTokens").asLong(), e.get("promptTokens").asLong());
        assertEquals(json.get("completionTokens").asLong(), e.get("completionTokens").asLong());
        assertEquals(1, e.get("nativeLibraryLoads").asLong());
        assertTrue(e.get("modelMaps").asLong() >= 1 && e.get("modelMappedBytes").asLong() > 0, e.toString());
        assertTrue(e.get("nativeSeconds").asDouble() > 0 && e.get("taskSeconds").asDouble() > 0, e.toString());

        List<String> cells = tableLine(out, "completion tokens", "driver");
        assertEquals(String.format(java.util.Locale.ROOT, "%,d", json.get("completionTokens").asLong()), cells.get(6), out);
        assertEquals("23", cells.get(4), out);
        assertEquals("0", cells.get(3), out);
        assertEquals("1", cells.get(10), out);
        assertTrue(out.indexOf("completion tokens") < out.lastIndexOf("lib loads"), "the section comes after the summary");
    }

    @Test
    void integratePrintsAndWritesEachExecutorsShareOfTheJob() throws Exception {
        Path summary = tmp.resolve("int.json");
        String out = stdout("integrate", "--rows", "3000", "--partitions", "3", "--batch-size", "256", "--warmup", "0",
            "--summary", summary.toString());
        JsonNode json = new ObjectMapper().readTree(summary.toFile());
        JsonNode e = json.get("executors").get(0);
        assertEquals(1, json.get("executors").size(), json.toString());
        assertEquals("driver", e.get("executorId").asText());
        assertEquals(3000, e.get("rows").asLong());
        assertTrue(e.get("promptTokens").isNull(), e.toString());
        assertEquals(1, e.get("nativeLibraryLoads").asLong());
        assertTrue(e.get("tasks").asInt() >= 3, e.toString());
        assertTrue(e.get("nativeSeconds").asDouble() > 0, e.toString());
        List<String> cells = tableLine(out, "rows", "driver");
        assertEquals("3,000", cells.get(4), out);
        assertEquals("1", cells.get(8), out);
    }
}

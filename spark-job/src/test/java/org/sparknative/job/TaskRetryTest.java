package org.sparknative.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sparknative.kernels.testing.FreshJvm;

/**
 * Task retries (local mode with retries, {@code local[2,4]}, in a fresh JVM: {@link FaultProbe}), where the first
 * attempt of partitions 0 and 2 fails after emitting a row: both jobs' outputs equal those of runs without
 * failures (here, in the test session), with no row twice, and their summaries count every row, token and
 * invalid row once; the failed attempts show in the per-executor section.
 */
class TaskRetryTest {
    private static SparkSession spark;

    @TempDir
    static Path tmp;

    @BeforeAll
    static void start() {
        spark = SparkTestSession.get();
    }

    private static List<Row> sorted(Path dir, String... drop) {
        Dataset<Row> df = spark.read().json(dir.toString()).drop(drop);
        return df.orderBy("id").collectAsList();
    }

    private static void assertSummedOverExecutors(JsonNode summary, String field, long expected) {
        long sum = 0;
        for (JsonNode e : summary.get("executors")) {
            sum += e.get(field).asLong();
        }
        assertEquals(expected, sum, field + " over the executors of " + summary);
    }

    private static int failedTasks(JsonNode summary) {
        int n = 0;
        for (JsonNode e : summary.get("executors")) {
            n += e.get("failedTasks").asInt();
            assertEquals(1, e.get("nativeLibraryLoads").asLong(), "the plugin is on by default: " + e);
        }
        return n;
    }

    @Test
    void retriedTasksLeaveTheSameOutputAndCountsAsRunsWithoutFailures() throws Exception {
        Path ints = tmp.resolve("ints.csv");
        List<String> csv = new ArrayList<>(List.of("id,a,b,n"));
        for (int i = 0; i < 400; i++) {
            csv.add(i + ",0.0," + (1 + i % 7) + "," + (i % 37 == 5 ? 0 : 50 + i));
        }
        Files.write(ints, csv);
        Path prompts = tmp.resolve("prompts.jsonl");
        List<String> lines = new ArrayList<>();
        for (int i = 0; i < 40; i++) {
            lines.add("{\"id\":" + i + ",\"prompt\":\"" + (i % 9 == 4 ? "" : "a story of " + i) + "\"}");
        }
        Files.write(prompts, lines);
        String[] integrate = {"integrate", "--input", ints.toString(), "--partitions", "4", "--batch-size", "32",
            "--invalid-rows", "row-error", "--warmup", "0", "--format", "json"};
        String[] generate = {"generate", "--input", prompts.toString(), "--synthetic-model",
            "dim=32,hidden=64,layers=1,heads=4,kv_heads=2,vocab=300,seq=48", "--max-new-tokens", "6", "--slots", "3",
            "--chunk-rows", "20", "--partitions", "3", "--format", "json"};

        List<String> probe = new ArrayList<>(List.of(integrate));
        probe.addAll(List.of("--output", tmp.resolve("int-retried").toString(), "--summary", tmp.resolve("int-retried.json").toString(), ";"));
        probe.addAll(List.of(generate));
        probe.addAll(List.of("--output", tmp.resolve("gen-retried").toString(), "--summary", tmp.resolve("gen-retried.json").toString()));
        String log = FreshJvm.run(FaultProbe.class, probe.toArray(new String[0]));

        List<String> clean = new ArrayList<>(List.of(integrate));
        clean.addAll(List.of("--output", tmp.resolve("int-clean").toString(), "--summary", tmp.resolve("int-clean.json").toString()));
        assertEquals(0, CliRun.of(clean.toArray(new String[0])).exit());
        clean = new ArrayList<>(List.of(generate));
        clean.addAll(List.of("--output", tmp.resolve("gen-clean").toString(), "--summary", tmp.resolve("gen-clean.json").toString()));
        assertEquals(0, CliRun.of(clean.toArray(new String[0])).exit());

        // Outputs: every row once, as a run without failures wrote it.
        List<Row> intRetried = sorted(tmp.resolve("int-retried"));
        assertEquals(400, intRetried.size());
        assertEquals(400, intRetried.stream().map(r -> r.getLong(r.fieldIndex("id"))).distinct().count());
        assertEquals(sorted(tmp.resolve("int-clean")), intRetried);
        List<Row> genRetried = sorted(tmp.resolve("gen-retried"), "ttft_ms", "latency_ms");
        assertEquals(40, genRetried.size());
        assertEquals(40, genRetried.stream().map(r -> r.getLong(r.fieldIndex("id"))).distinct().count());
        assertEquals(sorted(tmp.resolve("gen-clean"), "ttft_ms", "latency_ms"), genRetried);

        // Summaries: nothing counted twice; the failed attempts are there.
        ObjectMapper json = new ObjectMapper();
        JsonNode intSummary = json.readTree(tmp.resolve("int-retried.json").toFile());
        JsonNode intClean = json.readTree(tmp.resolve("int-clean.json").toFile());
        assertEquals(11, intClean.get("variants").get(0).get("invalidRows").asLong());
        assertEquals(intClean.get("variants").get(0).get("invalidRows"), intSummary.get("variants").get(0).get("invalidRows"));
        assertEquals(400, intSummary.get("rows").asLong());
        assertSummedOverExecutors(intSummary, "rows", 400);
        assertTrue(failedTasks(intSummary) >= 2, "no failed attempt in " + intSummary + "\n" + log);
        assertEquals(0, failedTasks(intClean));

        JsonNode genSummary = json.readTree(tmp.resolve("gen-retried.json").toFile());
        JsonNode genClean = json.readTree(tmp.resolve("gen-clean.json").toFile());
        for (String f : List.of("prompts", "promptTokens", "completionTokens", "errorRows")) {
            assertEquals(genClean.get(f).asLong(), genSummary.get(f).asLong(), f);
        }
        assertEquals(40, genSummary.get("prompts").asLong());
        assertSummedOverExecutors(genSummary, "rows", 40);
        assertSummedOverExecutors(genSummary, "promptTokens", genSummary.get("promptTokens").asLong());
        assertSummedOverExecutors(genSummary, "completionTokens", genSummary.get("completionTokens").asLong());
        // Two chunks, each a job of 3 partitions of which 0 and 2 fail once.
        assertEquals(4, failedTasks(genSummary), genSummary + "\n" + log);
        assertEquals(0, failedTasks(genClean));
    }
}

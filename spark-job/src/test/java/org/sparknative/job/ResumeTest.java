package org.sparknative.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.sparknative.spark.ModelFiles;
import org.junit.jupiter.api.io.TempDir;
import org.sparknative.kernels.llama.CheckpointFormat;
import org.sparknative.kernels.llama.LlamaConfig;
import org.sparknative.kernels.llama.SyntheticCheckpoint;
import org.sparknative.kernels.llama.TokenizerWriter;
import org.sparknative.kernels.testing.TestModels;

/** {@code generate --output} in chunks: a killed run keeps its committed chunks, and {@code --resume} finishes it. */
class ResumeTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static SparkSession spark;

    @TempDir
    static Path tmp;

    @BeforeAll
    static void start() {
        spark = SparkTestSession.get();
    }

    private static CliRun run(List<String> args, String... more) {
        List<String> all = new ArrayList<>(args);
        all.addAll(List.of(more));
        return CliRun.of(all.toArray(String[]::new));
    }

    private static Path[] synthetic(String name, LlamaConfig cfg) {
        Path m = tmp.resolve(name + ".bin");
        Path t = tmp.resolve(name + "-tok.bin");
        SyntheticCheckpoint.write(m, cfg, 11, CheckpointFormat.V1);
        TokenizerWriter.writeByteLevel(t, cfg.vocabSize());
        return new Path[] {m, t};
    }

    /** Prompts as JSON lines, with an {@code id} column (0, 1, ...) or without one. */
    private static Path prompts(String name, int n, boolean ids) throws IOException {
        List<String> lines = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            String prompt = "story " + i + " about " + "ab".repeat(i % 7);
            lines.add(ids ? "{\"id\":" + i + ",\"prompt\":\"" + prompt + "\"}" : "{\"prompt\":\"" + prompt + "\"}");
        }
        return Files.write(tmp.resolve(name + ".jsonl"), lines);
    }

    /**
     * The output as {@code key -> completion|finish_reason}, keyed by {@code key} (id or prompt); fails on a
     * duplicate key.
     */
    private static Map<String, String> read(Path out, String format, String key) {
        Dataset<Row> df = format.equals("json") ? spark.read().json(out.toString()) : spark.read().parquet(out.toString());
        Map<String, String> m = new HashMap<>();
        for (Row r : df.collectAsList()) {
            String k = String.valueOf(r.get(r.fieldIndex(key)));
            String v = r.get(r.fieldIndex("completion")) + "|" + r.getString(r.fieldIndex("finish_reason"));
            assertTrue(m.put(k, v) == null, "duplicate row " + key + " " + k + " in " + out);
        }
        return m;
    }

    private static long committedChunks(Path out) throws IOException {
        if (!Files.isDirectory(out)) {
            return 0;
        }
        try (Stream<Path> s = Files.list(out)) {
            return s.filter(p -> p.getFileName().toString().matches("_chunk-\\d+\\.json")).count();
        }
    }

    /** The CLI in a child JVM with the test JVM's classpath and module options. */
    private static Process child(List<String> args, Path log) throws IOException {
        String opens = System.getProperty("sparknative.jvm.opens");
        if (opens == null) {
            opens = Files.readString(Path.of("target", "jvm.options"));
        }
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
            "-Xmx1g", "-Xss4m"));
        cmd.addAll(Arrays.asList(opens.trim().split("\\s+")));
        cmd.addAll(List.of("-cp", System.getProperty("surefire.test.class.path", System.getProperty("java.class.path")),
            SparkNativeCli.class.getName()));
        cmd.addAll(args);
        cmd.addAll(List.of("--master", "local[2]", "--conf", "spark.ui.enabled=false", "--conf",
            "spark.driver.host=127.0.0.1", "--conf", "spark.driver.bindAddress=127.0.0.1"));
        return new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
    }

    @Test
    void killedRunKeepsItsCommittedChunksAndResumeFinishesItAsOneCleanRunWould() throws Exception {
        Path[] model = synthetic("kill", new LlamaConfig(64, 172, 2, 4, 2, 300, 128, true));
        int n = 200;
        Path in = prompts("kill", n, true);
        Path out = tmp.resolve("killed-out");
        List<String> args = List.of("generate", "--input", in.toString(), "--model", model[0].toString(), "--tokenizer",
            model[1].toString(), "--format", "json", "--max-new-tokens", "64", "--temperature", "0.9");

        // 10 chunks of 20 rows; SIGTERM once half of them are committed.
        List<String> first = new ArrayList<>(args);
        first.addAll(List.of("--output", out.toString(), "--chunk-rows", "20"));
        Path log = tmp.resolve("killed-run.log");
        Process p = child(first, log);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        while (committedChunks(out) < 5) {
            if (!p.isAlive()) {
                fail("the run ended (exit " + p.exitValue() + ") before it was killed:\n" + Files.readString(log));
            }
            if (System.nanoTime() > deadline) {
                p.destroyForcibly();
                fail("no 5 chunks committed in 120 s:\n" + Files.readString(log));
            }
            Thread.sleep(20);
        }
        p.destroy(); // SIGTERM
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "the killed run did not stop");
        String childLog = Files.readString(log);
        assertTrue(childLog.contains("the chunks it committed stay in"), childLog);
        assertFalse(Files.exists(out.resolve(ChunkedOutput.SUCCESS)), "a killed run is not complete");

        Map<String, String> kept = read(out, "json", "id");
        long chunksAtKill = committedChunks(out);
        assertEquals(20 * chunksAtKill, kept.size(), "the committed chunks hold every row of theirs and nothing else");
        assertTrue(kept.size() >= 0.4 * n, "rows kept: " + kept.size());

        Path summary = tmp.resolve("resume-summary.json");
        CliRun resumed = run(first, "--resume", "--summary", summary.toString());
        assertEquals(0, resumed.exit(), resumed.err());
        JsonNode s = JSON.readTree(summary.toFile());
        long generated = s.get("prompts").asLong();
        assertEquals(n - kept.size(), generated, s.toString());
        assertTrue(generated < 0.6 * n, "rows generated on resume: " + generated);
        assertEquals(kept.size(), s.get("resumedRows").asLong(), s.toString());
        assertTrue(Files.exists(out.resolve(ChunkedOutput.SUCCESS)));
        assertFalse(Files.exists(out.resolve(ChunkedOutput.STAGING)));

        Map<String, String> finished = read(out, "json", "id");
        assertEquals(n, finished.size());
        for (Map.Entry<String, String> e : kept.entrySet()) {
            assertEquals(e.getValue(), finished.get(e.getKey()), "kept row " + e.getKey());
        }

        Path clean = tmp.resolve("clean-out");
        CliRun cleanRun = run(args, "--output", clean.toString(), "--chunk-rows", "1000");
        assertEquals(0, cleanRun.exit(), cleanRun.err());
        assertEquals(1, committedChunks(clean));
        assertEquals(read(clean, "json", "id"), finished);
        System.out.printf("ResumeTest: killed after %d of 10 chunks (%d of %d rows committed); the resumed run "
            + "generated %d rows%n", chunksAtKill, kept.size(), n, generated);
    }

    @Test
    void resumeRefusesOtherSettingsNamingEachAndSkipsWhatIsDone() throws Exception {
        Path ckpt = TestModels.require(TestModels.STORIES_260K);
        Path tok = TestModels.require(TestModels.TOK_512);
        Path in = prompts("settings", 5, true);
        Path out = tmp.resolve("settings-out");
        List<String> args = List.of("generate", "--input", in.toString(), "--output", out.toString(), "--model",
            ckpt.toString(), "--tokenizer", tok.toString(), "--max-new-tokens", "8", "--chunk-rows", "2");
        CliRun first = run(args);
        assertEquals(0, first.exit(), first.err());
        assertEquals(3, committedChunks(out));
        JsonNode meta = JSON.readTree(out.resolve(OutputMetadata.FILE).toFile());
        assertEquals(ModelFiles.sha256(ckpt.toString(), null, new org.apache.hadoop.conf.Configuration()), meta.get("modelSha256").asText());
        assertEquals("cpu", meta.get("backend").asText());
        assertEquals(42, meta.get("seed").asLong());
        Map<String, String> before = read(out, "parquet", "id");

        CliRun again = run(args);
        assertEquals(1, again.exit());
        assertTrue(again.err().contains("already exists"), again.err());
        CliRun both = run(args, "--resume", "--overwrite");
        assertEquals(2, both.exit());
        assertTrue(both.err().contains("give --resume or --overwrite, not both"), both.err());

        CliRun seed = run(args, "--resume", "--seed", "7");
        assertEquals(2, seed.exit(), seed.err());
        assertTrue(seed.err().contains("error: --resume: the output was made with seed 42, this run has seed 7"), seed.err());
        assertFalse(seed.err().contains("model"), seed.err());

        CliRun settings = run(args, "--resume", "--temperature", "0.5", "--long-prompts", "truncate");
        assertEquals(2, settings.exit(), settings.err());
        assertTrue(settings.err().contains("the output was made with temperature 1.0, this run has temperature 0.5; "
            + "the output was made with long-prompts row-error, this run has long-prompts truncate"), settings.err());

        CliRun filters = run(args, "--resume", "--top-k", "40", "--repetition-penalty", "1.1", "--stop", "The end");
        assertEquals(2, filters.exit(), filters.err());
        assertTrue(filters.err().contains("the output was made with top-k 0, this run has top-k 40; "
            + "the output was made with repetition-penalty 1.0, this run has repetition-penalty 1.1; "
            + "the output was made with stop [], this run has stop [The end]"), filters.err());

        Path[] other = synthetic("other", new LlamaConfig(32, 64, 1, 4, 2, 512, 32, true));
        List<String> otherModel = new ArrayList<>(args);
        otherModel.set(otherModel.indexOf(ckpt.toString()), other[0].toString());
        CliRun model = run(otherModel, "--resume");
        assertEquals(2, model.exit(), model.err());
        assertTrue(model.err().contains("the output was made with model stories260K.bin (sha256 "
            + ModelFiles.sha256(ckpt.toString(), null, new org.apache.hadoop.conf.Configuration()).substring(0, 12) + ", "), model.err());
        assertTrue(model.err().contains("this run has model other.bin (sha256 "), model.err());
        assertFalse(model.err().contains("seed"), model.err());

        // The same settings (the slot count does not change the text): nothing left to do.
        Path summary = tmp.resolve("settings-summary.json");
        CliRun same = run(args, "--resume", "--slots", "3", "--summary", summary.toString());
        assertEquals(0, same.exit(), same.err());
        JsonNode s = JSON.readTree(summary.toFile());
        assertEquals(0, s.get("prompts").asLong());
        assertEquals(5, s.get("resumedRows").asLong());
        assertEquals(before, read(out, "parquet", "id"));
    }

    @Test
    void resumeByInputPositionFillsTheGapsOfMissingChunks() throws Exception {
        Path[] model = synthetic("position", new LlamaConfig(32, 64, 1, 4, 2, 300, 32, true));
        Path in = prompts("position", 10, false);
        Path out = tmp.resolve("position-out");
        List<String> args = List.of("generate", "--input", in.toString(), "--output", out.toString(), "--model",
            model[0].toString(), "--tokenizer", model[1].toString(), "--max-new-tokens", "6", "--format", "json");
        CliRun first = run(args, "--chunk-rows", "3");
        assertEquals(0, first.exit(), first.err());
        assertEquals(4, committedChunks(out));
        Map<String, String> complete = read(out, "json", "prompt");
        assertEquals(10, complete.size());
        assertEquals(List.of("completion", "completion_tokens", "finish_reason", "latency_ms", "prompt", "prompt_tokens",
            "ttft_ms"), List.of(spark.read().json(out.toString()).columns()), "no chunk or position column");

        // As if a run had died: chunk 1 (rows 4-6) never committed, chunk 2 (rows 7-9) half renamed.
        Files.delete(out.resolve("_chunk-00001.json"));
        JsonNode chunk2 = JSON.readTree(out.resolve("_chunk-00002.json").toFile());
        Files.delete(out.resolve(chunk2.get("files").get(0).asText()));
        Files.delete(out.resolve(ChunkedOutput.SUCCESS));

        Path summary = tmp.resolve("position-summary.json");
        CliRun resumed = run(args, "--resume", "--chunk-rows", "5", "--summary", summary.toString());
        assertEquals(0, resumed.exit(), resumed.err());
        JsonNode s = JSON.readTree(summary.toFile());
        assertEquals(6, s.get("prompts").asLong(), s.toString());
        assertEquals(4, s.get("resumedRows").asLong(), s.toString());
        assertEquals(complete, read(out, "json", "prompt"));
        assertFalse(Files.exists(out.resolve("_chunk-00001.json")));
        assertFalse(Files.exists(out.resolve("_chunk-00002.json")), "the half-committed chunk was removed");
    }

    @Test
    void failedRunKeepsTheChunksItCommittedAndRemovesAnOutputWithNone() throws Exception {
        Path[] model = synthetic("failing", new LlamaConfig(32, 64, 1, 4, 2, 300, 32, true));
        List<String> lines = new ArrayList<>();
        for (int i = 0; i < 9; i++) {
            lines.add("{\"id\":" + i + ",\"prompt\":\"" + (i == 7 ? "x".repeat(100) : "p" + i) + "\"}");
        }
        Path in = Files.write(tmp.resolve("failing.jsonl"), lines);
        Path out = tmp.resolve("failing-out");
        List<String> args = List.of("generate", "--input", in.toString(), "--output", out.toString(), "--model",
            model[0].toString(), "--tokenizer", model[1].toString(), "--max-new-tokens", "4", "--long-prompts", "fail");
        // Chunks of 3: ids 0-2 and 3-5 commit, then id 7's prompt is too long for the context.
        CliRun failed = run(args, "--chunk-rows", "3");
        assertEquals(1, failed.exit(), failed.err());
        assertTrue(failed.err().contains("id 7"), failed.err());
        assertEquals(2, committedChunks(out));
        assertEquals(6, read(out, "parquet", "id").size());
        assertFalse(Files.exists(out.resolve(ChunkedOutput.STAGING)));

        // The first chunk fails: the folder the run created goes, as before chunks.
        Path none = tmp.resolve("failing-none");
        List<String> noneArgs = new ArrayList<>(args);
        noneArgs.set(noneArgs.indexOf(out.toString()), none.toString());
        CliRun nothing = run(noneArgs, "--chunk-rows", "100");
        assertEquals(1, nothing.exit(), nothing.err());
        assertFalse(Files.exists(none), "an output with no committed chunk is removed");
    }
}

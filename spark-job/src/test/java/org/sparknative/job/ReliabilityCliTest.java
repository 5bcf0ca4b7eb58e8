package org.sparknative.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Bad input and bad usage through the command line, as a demanding user tries them: nothing is lost, one
 * line says what and where, and the exit code says whose fault it is (1: the data or the run, 2: usage).
 */
class ReliabilityCliTest {
    private static final String SYNTHETIC = "dim=32,hidden=64,layers=1,heads=4,kv_heads=2,vocab=300,seq=32";
    private static SparkSession spark;

    @TempDir
    Path tmp;

    @BeforeAll
    static void start() {
        spark = SparkTestSession.get();
    }

    private static CliRun run(String... args) {
        return CliRun.of(args);
    }

    @Test
    void anOutputThatIsContainsOrLiesInsideTheInputIsRefusedBeforeAnythingIsDeleted() throws Exception {
        Path dir = tmp.resolve("in");
        Files.createDirectories(dir);
        Path file = dir.resolve("rows.csv");
        Files.writeString(file, "a,b,n\n0.0,1.0,10\n");
        Path prompts = dir.resolve("p.jsonl");
        Files.writeString(prompts, "{\"prompt\":\"hi\"}\n");
        String[][] cases = {
            {"integrate", "--input", dir.toString(), "--output", dir.toString(), "is the input"},
            {"integrate", "--input", file.toString(), "--output", tmp.toString(), "contains the input"},
            {"integrate", "--input", dir.toString(), "--output", dir.resolve("out").toString(), "lies inside the input"},
            {"generate", "--input", prompts.toString(), "--output", dir + "/./", "contains the input"},
        };
        for (String[] c : cases) {
            String[] args = new String[c.length + 3];
            System.arraycopy(c, 0, args, 0, c.length - 1);
            args[c.length - 1] = "--overwrite";
            if (c[0].equals("generate")) {
                args[c.length] = "--synthetic-model";
                args[c.length + 1] = SYNTHETIC;
            } else {
                args[c.length] = "--warmup";
                args[c.length + 1] = "0";
            }
            args[c.length + 2] = c[0].equals("generate") ? "--max-new-tokens=2" : "--rows=1";
            CliRun r = run(args);
            assertEquals(2, r.exit(), r.err());
            assertTrue(r.err().contains(c[c.length - 1]) && r.err().contains(c[4]), r.err());
            assertTrue(Files.isRegularFile(file) && Files.isRegularFile(prompts), "input deleted by " + String.join(" ", c));
        }
    }

    @Test
    void csvIsReadAsRfc4180WithQuotedNewlinesAndQuotes() throws Exception {
        Path csv = tmp.resolve("quoted.csv");
        Files.writeString(csv, "note,a,b,n\n\"two\nlines, and \"\"quotes\"\"\",0.0,4.0,4\nplain,0.0,1.0,10\n");
        Path out = tmp.resolve("quoted-out");
        CliRun r = run("integrate", "--input", csv.toString(), "--output", out.toString(), "--format", "json", "--warmup", "0");
        assertEquals(0, r.exit(), r.err());
        List<Row> rows = spark.read().json(out.toString()).orderBy("n").collectAsList();
        assertEquals(2, rows.size());
        assertEquals("two\nlines, and \"quotes\"", rows.get(0).getString(rows.get(0).fieldIndex("note")));
        assertEquals(8.0, rows.get(0).getDouble(rows.get(0).fieldIndex("x")), 1e-12);
    }

    @Test
    void malformedJsonLinesAreNamedOrBecomeErrorRowsNeverSilentNulls() throws Exception {
        Path rows = tmp.resolve("bad.jsonl");
        Files.writeString(rows, "{\"a\":0.0,\"b\":4.0,\"n\":4}\n{\"a\":0.0,\"b\":4.0,\"n\":\n{\"a\":0.0,\"b\":1.0,\"n\":10}\n");
        CliRun fail = run("integrate", "--input", rows.toString(), "--warmup", "0", "--partitions", "2");
        assertEquals(1, fail.exit(), fail.err());
        assertTrue(fail.err().contains("integrate_f: input row 2: malformed input: {\"a\":0.0,\"b\":4.0,\"n\":"), fail.err());
        Path summary = tmp.resolve("bad.json");
        CliRun nulls = run("integrate", "--input", rows.toString(), "--warmup", "0", "--invalid-rows", "row-error",
            "--summary", summary.toString());
        assertEquals(0, nulls.exit(), nulls.err());
        var json = new com.fasterxml.jackson.databind.ObjectMapper().readTree(summary.toFile());
        assertEquals(1, json.get("variants").get(0).get("invalidRows").asLong(), json.toString());

        Path prompts = tmp.resolve("bad-prompts.jsonl");
        Files.writeString(prompts, "{\"id\":1,\"prompt\":\"hi\"}\n{\"id\":2,\"prompt\":\"oops}\n{\"id\":3,\"prompt\":\"\"}\n");
        Path out = tmp.resolve("bad-gen");
        CliRun gen = run("generate", "--input", prompts.toString(), "--synthetic-model", SYNTHETIC, "--max-new-tokens", "3",
            "--output", out.toString(), "--format", "json");
        assertEquals(0, gen.exit(), gen.err());
        List<Row> written = spark.read().json(out.toString()).collectAsList();
        assertEquals(3, written.size());
        long malformed = 0;
        for (Row r : written) {
            String reason = r.getString(r.fieldIndex("finish_reason"));
            if (r.isNullAt(r.fieldIndex("id"))) {
                // The malformed line lost its id; its raw text stays in _corrupt_record.
                assertEquals("error: malformed input: {\"id\":2,\"prompt\":\"oops}", reason);
                malformed++;
            } else {
                assertFalse(reason.startsWith("error"), reason);
            }
        }
        assertEquals(1, malformed);
    }

    @Test
    void badPerRowSettingsAreErrorRowsAndBadOptionsAreUsageErrors() throws Exception {
        Path prompts = tmp.resolve("settings.jsonl");
        Files.writeString(prompts, "{\"id\":1,\"prompt\":\"a\",\"temperature\":-1}\n{\"id\":2,\"prompt\":\"b\",\"top_p\":0}\n"
            + "{\"id\":3,\"prompt\":\"c\",\"max_new_tokens\":-1}\n{\"id\":4,\"prompt\":\"d\"}\n");
        Path out = tmp.resolve("settings-out");
        CliRun r = run("generate", "--input", prompts.toString(), "--synthetic-model", SYNTHETIC, "--max-new-tokens", "3",
            "--output", out.toString(), "--format", "json");
        assertEquals(0, r.exit(), r.err());
        Map<Long, Row> byId = new HashMap<>();
        for (Row row : spark.read().json(out.toString()).collectAsList()) {
            byId.put(row.getLong(row.fieldIndex("id")), row);
        }
        assertEquals("error: temperature must be finite and >= 0, got -1.0", byId.get(1L).getString(byId.get(1L).fieldIndex("finish_reason")));
        assertEquals("error: top_p must be in (0, 1], got 0.0", byId.get(2L).getString(byId.get(2L).fieldIndex("finish_reason")));
        assertEquals("error: max_new_tokens must be >= 0, got -1", byId.get(3L).getString(byId.get(3L).fieldIndex("finish_reason")));
        assertNull(byId.get(1L).get(byId.get(1L).fieldIndex("completion")));
        assertFalse(byId.get(4L).getString(byId.get(4L).fieldIndex("finish_reason")).startsWith("error"));

        CliRun threads = run("generate", "--input", prompts.toString(), "--synthetic-model", SYNTHETIC,
            "--max-new-tokens", "2", "--threads", "64");
        assertEquals(0, threads.exit(), threads.err());
        assertTrue(threads.err().contains("warning: --threads 64 is more than spark.task.cpus (1)"), threads.err());

        String[][] usage = {
            {"generate", "--input", prompts.toString(), "--synthetic-model", SYNTHETIC, "--top-p", "0"},
            {"generate", "--input", prompts.toString(), "--synthetic-model", SYNTHETIC, "--top-p", "2"},
            {"generate", "--input", prompts.toString(), "--synthetic-model", SYNTHETIC, "--temperature", "-1"},
            {"generate", "--input", prompts.toString(), "--synthetic-model", SYNTHETIC, "--top-k", "-1"},
            {"generate", "--input", prompts.toString(), "--synthetic-model", SYNTHETIC, "--stop", ""},
            {"generate", "--input", prompts.toString(), "--synthetic-model", SYNTHETIC, "--limit", "-1"},
            {"generate", "--input", prompts.toString(), "--synthetic-model", SYNTHETIC, "--partitions", "0"},
            {"integrate", "--rows", "-5"},
            {"integrate", "--partitions", "0"},
            {"integrate", "--rows", "10", "--summary", "/dev/null/summary.json"},
            {"integrate", "--rows", "10", "--output", "/dev/null/out"},
        };
        for (String[] u : usage) {
            CliRun bad = run(u);
            assertEquals(2, bad.exit(), String.join(" ", u) + ": " + bad.err());
            assertEquals(1, bad.err().lines().filter(l -> l.contains("error:")).count(), bad.err());
            assertFalse(bad.err().contains("\tat "), bad.err());
        }
        // A default out of range is named by its option, not by the per-row setting's name.
        assertTrue(run(usage[1]).err().contains("error: --top-p must be in (0, 1], got 2.0"));
        assertTrue(run(usage[3]).err().contains("error: --top-k must be >= 0, got -1"));
        assertTrue(run(usage[4]).err().contains("error: --stop strings must be 1 to 1024 bytes, got 0 bytes"));
    }

    @Test
    void aFailedRunRemovesTheOutputItCreatedAndAnExistingOutputNeedsOverwrite() throws Exception {
        Path rows = tmp.resolve("zero.csv");
        Files.writeString(rows, "a,b,n\n0.0,1.0,10\n0.0,1.0,0\n");
        Path out = tmp.resolve("never");
        CliRun r = run("integrate", "--input", rows.toString(), "--output", out.toString(), "--warmup", "0");
        assertEquals(1, r.exit(), r.err());
        assertTrue(r.err().contains("integrate_f: input row 2: n must be >= 1, got 0"), r.err());
        assertFalse(Files.exists(out), "the failed run left " + out);

        Path exists = tmp.resolve("exists");
        Files.createDirectories(exists);
        CliRun again = run("integrate", "--rows", "10", "--output", exists.toString(), "--warmup", "0");
        assertEquals(1, again.exit(), again.err());
        assertTrue(again.err().contains("already exists; add --overwrite to replace it"), again.err());
        assertTrue(Files.isDirectory(exists));
    }

    @Test
    void anNThatOverflowsIntIsNamedWithItsColumnAndRow() throws Exception {
        Path rows = tmp.resolve("big-n.jsonl");
        Files.writeString(rows, "{\"id\":7,\"a\":0.0,\"b\":1.0,\"n\":10}\n{\"id\":8,\"a\":0.0,\"b\":1.0,\"n\":3000000000}\n");
        CliRun r = run("integrate", "--input", rows.toString(), "--warmup", "0");
        assertEquals(1, r.exit(), r.err());
        assertTrue(r.err().contains("integrate_f: id 8: n must fit in INT (at most 2147483647), got 3000000000"), r.err());
    }
}

package org.sparknative.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sparknative.kernels.integrate.IntegrateReference;

class IntegrateCliTest {
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

    static Path sample(String name) {
        Path p = Path.of(System.getProperty("sparknative.models.dir", "data/models")).getParent().resolve("integrate").resolve(name);
        assertTrue(Files.exists(p), "sample input missing: " + p);
        return p;
    }

    @Test
    void compareWritesSummaryWithEveryVariant() throws Exception {
        Path summary = tmp.resolve("summary.json");
        CliRun r = run("integrate", "--compare", "--rows", "3000", "--seed", "1", "--warmup", "0",
            "--summary", summary.toString());
        assertEquals(0, r.exit(), r.err());
        JsonNode json = new ObjectMapper().readTree(summary.toFile());
        assertEquals(3000, json.get("rows").asLong());
        JsonNode variants = json.get("variants");
        // The three DataFrame variants, then the SQL extension over the cached rows and over a Parquet copy.
        assertEquals(5, variants.size());
        assertEquals("java-row", variants.get(0).get("variant").asText());
        assertEquals("sql-cached", variants.get(3).get("variant").asText());
        assertEquals("sql-parquet", variants.get(4).get("variant").asText());
        assertTrue(variants.get(4).get("description").asText().contains("columnar input in bulk"), variants.toString());
        assertEquals(1.0, variants.get(0).get("speedupOverJavaRow").asDouble(), 1e-9);
        for (JsonNode v : variants) {
            assertTrue(v.get("maxRelativeError").asDouble() < 1e-11, v.toString());
            assertTrue(v.get("evaluationsPerSecond").asDouble() > 0, v.toString());
        }
        assertEquals("kernel-only", json.get("kernelOnly").get("variant").asText());
        assertTrue(json.get("sumN").asLong() >= 3000L * 100);
    }

    @Test
    void csvSampleToParquetJsonAndCsvOutputs() {
        for (String fmt : List.of("parquet", "json", "csv")) {
            Path out = tmp.resolve("out-" + fmt);
            CliRun r = run("integrate", "--input", sample("sample.csv").toString(), "--output", out.toString(),
                "--format", fmt, "--warmup", "0");
            assertEquals(0, r.exit(), r.err());
            List<Row> rows = switch (fmt) {
                case "parquet" -> spark.read().parquet(out.toString()).select("a", "b", "n", "x").collectAsList();
                case "json" -> spark.read().json(out.toString()).selectExpr("a", "b", "CAST(n AS INT)", "x").collectAsList();
                default -> spark.read().option("header", "true").option("inferSchema", "true").csv(out.toString())
                    .select("a", "b", "n", "x").collectAsList();
            };
            assertEquals(1000, rows.size(), fmt);
            for (Row row : rows) {
                assertTrue(IntegrateReference.relativeError(row.getDouble(3), row.getDouble(0), row.getDouble(1),
                    row.getInt(2)) < 1e-11, fmt + " " + row);
            }
        }
    }

    @Test
    void jsonLinesInputAndExistingOutputIsRefusedUnlessOverwrite() {
        Path out = tmp.resolve("out");
        assertEquals(0, run("integrate", "--input", sample("sample.jsonl").toString(), "--output", out.toString(),
            "--warmup", "0").exit());
        assertEquals(200, spark.read().parquet(out.toString()).count());
        CliRun again = run("integrate", "--input", sample("sample.jsonl").toString(), "--output", out.toString(), "--warmup", "0");
        assertEquals(1, again.exit());
        assertTrue(again.err().contains("already exists"), again.err());
        assertEquals(0, run("integrate", "--input", sample("sample.jsonl").toString(), "--output", out.toString(),
            "--overwrite", "--warmup", "0").exit());
    }

    @Test
    void badInputGivesClearMessageAndNonZeroExit() throws Exception {
        CliRun missing = run("integrate", "--input", tmp.resolve("nope.csv").toString());
        assertEquals(1, missing.exit());
        assertTrue(missing.err().contains("input not found") && missing.err().contains("nope.csv"), missing.err());

        Path noN = tmp.resolve("no-n.csv");
        Files.writeString(noN, "a,b\n0.0,1.0\n");
        CliRun r1 = run("integrate", "--input", noN.toString());
        assertEquals(1, r1.exit());
        assertTrue(r1.err().contains("no column 'n'"), r1.err());

        Path textA = tmp.resolve("text-a.csv");
        Files.writeString(textA, "a,b,n\nlow,1.0,10\n");
        CliRun r2 = run("integrate", "--input", textA.toString());
        assertEquals(1, r2.exit());
        assertTrue(r2.err().contains("'a' must be numeric"), r2.err());

        Path zeroN = tmp.resolve("zero-n.csv");
        Files.writeString(zeroN, "a,b,n\n0.0,1.0,10\n0.0,1.0,0\n");
        // The bad row is named by its place in the input file, whatever the partitioning.
        for (String parts : new String[] {"1", "3"}) {
            CliRun r3 = run("integrate", "--input", zeroN.toString(), "--warmup", "0", "--partitions", parts);
            assertEquals(1, r3.exit());
            assertTrue(r3.err().contains("integrate_f: input row 2: n must be >= 1, got 0"), r3.err());
        }
        assertEquals(0, run("integrate", "--input", zeroN.toString(), "--warmup", "0", "--invalid-rows", "null").exit());
        assertEquals(0, run("integrate", "--input", zeroN.toString(), "--warmup", "0", "--invalid-rows", "row-error").exit());

        // An unknown --variant is bad usage (exit 2), as for every other malformed option value.
        CliRun badVariant = run("integrate", "--variant", "fast", "--rows", "10");
        assertEquals(2, badVariant.exit());
        assertTrue(badVariant.err().contains("--variant must be"), badVariant.err());

        assertEquals(2, run("integrate", "--no-such-option").exit());
    }
}

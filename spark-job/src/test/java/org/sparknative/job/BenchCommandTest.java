package org.sparknative.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sparknative.job.report.BenchReport;
import org.sparknative.job.report.ReportBrowser;
import org.sparknative.job.report.ReportBuilder;

/**
 * {@code spark-native bench} in the tests' local session: a small real run of both workloads writes the report's three
 * files, and report.json holds every section with real values.
 */
class BenchCommandTest {
    /** Small enough to decode fast, with GQA and a byte-level vocabulary. */
    private static final String SYNTHETIC = "dim=32,hidden=64,layers=1,heads=4,kv_heads=2,vocab=300,seq=64";

    private static SparkSession spark;

    @TempDir
    Path tmp;

    @BeforeAll
    static void start() {
        spark = SparkTestSession.get();
    }

    @Test
    void aSmallRealRunWritesTheReportWithEverySection() throws Exception {
        Path dir = tmp.resolve("report");
        CliRun r = CliRun.of("bench", "--rows", "3000", "--partitions", "2", "--warmup", "0", "--repeats", "2",
            "--synthetic-model", SYNTHETIC, "--slots", "1,4", "--prompt-count", "8", "--max-new-tokens", "6",
            "--report", dir.toString());
        assertEquals(0, r.exit(), r.err());
        for (String f : List.of("report.json", "report.html", "report.md")) {
            assertTrue(Files.size(dir.resolve(f)) > 0, f);
        }
        BenchReport report = ReportBuilder.read(dir.resolve("report.json"));
        assertEquals(BenchReport.SCHEMA_VERSION, report.schemaVersion());
        assertTrue(report.startedMillis() > 0 && report.command().startsWith("spark-native bench"), report.command());

        BenchReport.Environment env = report.environment();
        assertEquals(spark.version(), env.sparkVersion());
        assertEquals("local[4]", env.master());
        // Local mode: one executor, the driver, with the session's 4 cores.
        assertEquals(1, env.executors().size(), env.executors().toString());
        assertEquals("driver", env.executors().get(0).executorId());
        assertEquals(4, env.executors().get(0).cores());
        assertTrue(env.executors().get(0).maxMemoryBytes() > 0);
        assertTrue(Set.of("avx512-vnni", "avx2", "sse2").contains(env.simdPath()), env.simdPath());
        assertTrue(env.jdk().contains(System.getProperty("java.runtime.version")), env.jdk());
        assertNotNull(env.gitCommit());
        assertEquals("2", env.settings().get("partitions"));

        BenchReport.Integrate integrate = report.integrate();
        assertEquals(1, integrate.sizes().size());
        BenchReport.IntegrateSize size = integrate.sizes().get(0);
        assertEquals(3000, size.rows());
        List<String> variants = size.variants().stream().map(BenchReport.IntegrateVariant::variant).toList();
        assertEquals(List.of("java-row", "native-row", "native-arrow", "sql-cached", "sql-parquet", "kernel-only"), variants);
        for (BenchReport.IntegrateVariant v : size.variants()) {
            assertEquals(2, v.seconds().size(), v.variant());
            BenchReport.Spread rps = v.rowsPerSecond();
            assertTrue(rps.min() > 0 && rps.min() <= rps.median() && rps.median() <= rps.max(), v.variant() + " " + rps);
            assertEquals(v.evaluationsPerSecond().median() / v.rowsPerSecond().median(), (double) size.evaluations() / 3000,
                1e-6 * size.evaluations(), v.variant());
            assertTrue(v.shareOfKernelOnly() > 0, v.variant());
            if (!v.variant().equals("kernel-only")) {
                assertTrue(v.maxRelativeError() < 1e-9, v.variant() + " " + v.maxRelativeError());
                assertTrue(v.speedupOverJavaRow() > 0, v.variant());
                BenchReport.Activity a = v.activity();
                assertEquals(1, a.executors().size(), v.variant());
                // 2 partitions x 2 repeats, plus the tasks of the jobs that read the cached rows' plan
                assertTrue(a.tasks().size() >= 4, v.variant() + " " + a.tasks().size());
                for (BenchReport.TaskSpan t : a.tasks()) {
                    assertTrue(t.startMillis() >= report.startedMillis() && t.endMillis() >= t.startMillis(), t.toString());
                }
            } else {
                assertNull(v.activity());
            }
        }
        assertEquals(1.0, size.variants().get(0).speedupOverJavaRow(), 1e-12);
        BenchReport.IntegrateVariant arrow = size.variants().get(2);
        assertEquals(3000L * 2, arrow.activity().executors().get(0).rows(), "native-arrow's rows over its 2 repeats");
        assertEquals(3, integrate.pandasReference().size());

        BenchReport.Generate generate = report.generate();
        assertEquals(8, generate.prompts());
        assertEquals(2, generate.runs().size());
        for (BenchReport.GenerateRun g : generate.runs()) {
            assertEquals("cpu", g.backend());
            assertTrue(g.tokensPerSecond().min() > 0, g.toString());
            assertEquals(8 * 6, g.completionTokens(), "greedy rows run to their budget");
            assertTrue(g.promptTokens() >= 8 * 2, g.toString());
            assertEquals(0, g.errorRows());
            BenchReport.Percentiles ttft = g.ttftMs();
            BenchReport.Percentiles lat = g.latencyMs();
            assertEquals(8, ttft.count());
            assertTrue(0 <= ttft.p50() && ttft.p50() <= ttft.p90() && ttft.p90() <= ttft.p99() && ttft.p99() <= ttft.max(),
                ttft.toString());
            assertTrue(lat.p50() <= lat.p90() && lat.p90() <= lat.p99() && lat.p99() <= lat.max(), lat.toString());
            assertTrue(lat.p50() >= ttft.p50(), "a row's latency includes its time to first token");
            long tokens = g.activity().executors().stream().mapToLong(e -> e.completionTokens()).sum();
            assertEquals(2 * g.completionTokens(), tokens, "the executors' completion tokens over the 2 repeats");
        }
        assertEquals(Set.of(1, 4), generate.runs().stream().map(BenchReport.GenerateRun::slots).collect(Collectors.toSet()));
        assertNull(report.scaling(), "no --scale");
        assertNull(report.baseline());

        // The report rebuilt from its JSON is the same, and the real run's page renders in Chromium.
        assertEquals(Files.readString(dir.resolve("report.md")), ReportBuilder.markdown(report));
        Assumptions.assumeTrue(ReportBrowser.available(), "needs " + ReportBrowser.chromium() + " and "
            + ReportBrowser.chromedriver() + " (Debian: apt-get install chromium chromium-driver)");
        Path shots = Path.of("target", "report-browser", "bench");
        Files.createDirectories(shots);
        Files.copy(dir.resolve("report.html"), shots.resolve("report.html"), StandardCopyOption.REPLACE_EXISTING);
        ReportBrowser.Result page = ReportBrowser.open(shots.resolve("report.html"), shots.resolve("report.png"));
        assertEquals(List.of(), page.severe(), "console errors");
        assertEquals(ReportBuilder.render(report).charts(), page.svgCount());
        for (double[] wh : page.svgSizes()) {
            assertTrue(wh[0] > 0 && wh[1] > 0, "a chart without a size");
        }
    }

    /** bench measures GGUF models beside llama2.c ones; a GGUF model's tokenizer is its own ('-' or none given). */
    @Test
    void ggufModelsAreMeasuredWithTheirOwnTokenizer() throws Exception {
        Path q8 = org.sparknative.kernels.testing.TestModels.require(
            org.sparknative.kernels.testing.TestModels.STORIES_260K_GGUF_Q8_0);
        Path bin = org.sparknative.kernels.testing.TestModels.require(org.sparknative.kernels.testing.TestModels.STORIES_260K);
        Path tok = org.sparknative.kernels.testing.TestModels.require(org.sparknative.kernels.testing.TestModels.TOK_512);
        Path dir = tmp.resolve("gguf-report");
        CliRun r = CliRun.of("bench", "--workloads", "generate", "--model", q8.toString(), "--tokenizer", "-",
            "--model", bin.toString(), "--tokenizer", tok.toString(), "--slots", "2", "--prompt-count", "4",
            "--max-new-tokens", "5", "--temperature", "0", "--warmup", "0", "--repeats", "1", "--partitions", "1",
            "--report", dir.toString());
        assertEquals(0, r.exit(), r.err());
        List<BenchReport.GenerateRun> runs = ReportBuilder.read(dir.resolve("report.json")).generate().runs();
        assertEquals(2, runs.size(), runs.toString());
        assertEquals(q8.getFileName().toString(), runs.get(0).model());
        assertTrue(runs.get(0).modelShape().contains("GGUF v3, Q8_0 x 32 + F32 x 16"), runs.get(0).modelShape());
        for (BenchReport.GenerateRun run : runs) {
            assertEquals(4 * 5, run.completionTokens(), run.toString());
            assertEquals(0, run.errorRows(), run.toString());
        }
        CliRun bad = CliRun.of("bench", "--workloads", "generate", "--model", q8.toString(), "--model", bin.toString(),
            "--tokenizer", tok.toString());
        assertEquals(2, bad.exit(), bad.err());
        assertTrue(bad.err().contains("give one --tokenizer per --model ('-' for a GGUF model's own)"), bad.err());
        CliRun noTok = CliRun.of("bench", "--workloads", "generate", "--model", bin.toString());
        assertEquals(2, noTok.exit(), noTok.err());
        assertTrue(noTok.err().contains("a llama2.c checkpoint carries no tokenizer"), noTok.err());
    }

    @Test
    void badOptionsAreUsageErrors() {
        CliRun r = CliRun.of("bench", "--workloads", "integrate,sort");
        assertEquals(2, r.exit(), r.err());
        assertTrue(r.err().contains("--workloads must name integrate and/or generate, got 'sort'"), r.err());
        r = CliRun.of("bench", "--rows", "0");
        assertEquals(2, r.exit(), r.err());
        assertTrue(r.err().contains("--rows must be >= 1, got 0"), r.err());
        r = CliRun.of("bench", "--baseline", tmp.resolve("missing.json").toString());
        assertEquals(2, r.exit(), r.err());
        assertTrue(r.err().contains("--baseline " + tmp.resolve("missing.json") + ": no such file"), r.err());
        r = CliRun.of("bench", "--workloads", "integrate", "--rows", "100", "--scale", "1,2");
        assertEquals(2, r.exit(), r.err());
        assertTrue(r.err().contains("--scale starts a Spark application per resource count"), r.err());
    }
}

package org.sparknative.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

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
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sparknative.kernels.testing.FreshJvm;
import org.sparknative.kernels.testing.TestModels;

/**
 * The jobs on a real multi-JVM Spark standalone cluster (a master and two 1-core workers on 127.0.0.1,
 * {@link StandaloneCluster}), started as a user would: through {@code bin/spark-native --master spark://...}
 * and through {@code spark-submit} ({@code org.apache.spark.deploy.SparkSubmit}) with the job jar. Every
 * output is compared with a local-mode run of the same command, byte for byte in the columns that do not
 * hold timings.
 *
 * <p>Generation uses stories260K when ../shared/models has it, else a seeded synthetic checkpoint the job
 * writes itself ({@code --synthetic-model}), so the test never skips.
 */
class ClusterIT {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** The test-only setting that fails the first attempt of the listed partitions. */
    static final String FAIL_FIRST_ATTEMPT = "spark.sparknative.test.failFirstAttempt";

    @TempDir
    static Path dir;
    static StandaloneCluster cluster;
    static Path project;
    private static final Map<String, List<String>> LOCAL_REFERENCE = new HashMap<>();

    @BeforeAll
    static void startCluster() throws Exception {
        project = Path.of(System.getProperty("sparknative.project.dir", "..")).toAbsolutePath().normalize();
        cluster = StandaloneCluster.start(dir.resolve("cluster"), 2);
    }

    @AfterAll
    static void stopCluster() {
        if (cluster != null) {
            cluster.close();
        }
    }

    /** A finished child process: its exit code and everything it printed. */
    record Run(int exit, String out) {
        Run ok() {
            assertEquals(0, exit, () -> "exit " + exit + ":\n" + out);
            return this;
        }
    }

    /** Runs {@code bin/spark-native args} with its log in the test folder. */
    static Run launcher(String name, String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of(project.resolve("bin/spark-native").toString()));
        cmd.addAll(Arrays.asList(args));
        Map<String, String> env = new HashMap<>(StandaloneCluster.driverEnv());
        env.put("SPARK_NATIVE_LOG", dir.resolve(name + ".spark.log").toString());
        env.put("SPARK_NATIVE_DRIVER_MEMORY", "1g");
        return exec(name, cmd, env);
    }

    /** Runs {@code spark-submit --class org.sparknative.job.SparkNativeCli <job jar> args} against the cluster. */
    static Run sparkSubmit(String name, String... args) throws IOException, InterruptedException {
        List<String> cmd = FreshJvm.javaCommand();
        cmd.add("-Xmx1g");
        cmd.addAll(List.of("-cp", cluster.sparkHome().resolve("jars") + "/*", "org.apache.spark.deploy.SparkSubmit",
            "--master", cluster.masterUrl(), "--class", "org.sparknative.job.SparkNativeCli",
            "--properties-file", project.resolve("conf/spark-defaults.conf").toString(),
            "--conf", "spark.driver.host=127.0.0.1", jobJar().toString()));
        cmd.addAll(Arrays.asList(args));
        return exec(name, cmd, StandaloneCluster.driverEnv());
    }

    static Path jobJar() {
        return project.resolve("spark-job/target/spark-native-job.jar");
    }

    private static Run exec(String name, List<String> cmd, Map<String, String> env) throws IOException, InterruptedException {
        Path log = dir.resolve(name + ".out");
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true)
            .redirectOutput(log.toFile());
        pb.environment().putAll(env);
        Process p = pb.start();
        if (!p.waitFor(300, TimeUnit.SECONDS)) {
            p.toHandle().descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
            throw new AssertionError(name + " did not finish in 300 s:\n" + Files.readString(log));
        }
        return new Run(p.exitValue(), Files.readString(log));
    }

    /** The lines of every part file of a text output (CSV or JSON lines), sorted. */
    static List<String> lines(Path out) throws IOException {
        List<String> all = new ArrayList<>();
        try (Stream<Path> files = Files.walk(out)) {
            for (Path f : files.filter(f -> f.getFileName().toString().startsWith("part-")).toList()) {
                all.addAll(Files.readAllLines(f));
            }
        }
        all.sort(null);
        return all;
    }

    /** A generate output's rows without the timing columns, sorted: id|prompt|completion|tokens|finish_reason. */
    static List<String> generated(Path out) throws IOException {
        List<String> rows = new ArrayList<>();
        for (String line : lines(out)) {
            JsonNode n = JSON.readTree(line);
            rows.add(n.path("prompt").asText() + "|" + n.path("completion").asText() + "|" + n.path("prompt_tokens").asInt()
                + "|" + n.path("completion_tokens").asInt() + "|" + n.path("finish_reason").asText());
        }
        rows.sort(null);
        return rows;
    }

    /** --model/--tokenizer (or --synthetic-model) arguments: stories260K if present, else a synthetic model. */
    static List<String> modelArgs(String modelLocation, String tokenizerLocation) {
        return List.of("--model", modelLocation, "--tokenizer", tokenizerLocation);
    }

    static Path model() {
        return TestModels.find(TestModels.STORIES_260K).orElse(null);
    }

    static Path tokenizer() {
        return TestModels.find(TestModels.TOK_512).orElse(null);
    }

    /** The generate arguments every run here shares. */
    static List<String> generateArgs(Path output, String... extra) {
        List<String> a = new ArrayList<>(List.of("generate", "--input", project.resolve("data/prompts/stories.jsonl").toString(),
            "--max-new-tokens", "24", "--limit", "96", "--format", "json", "--output", output.toString(), "--partitions", "4"));
        if (model() == null) {
            // the shape of stories260K with a byte-level vocabulary: about as slow, so an executor can be killed mid-stage
            a.addAll(List.of("--synthetic-model", "dim=64,hidden=172,layers=5,heads=8,kv_heads=4,vocab=300,seq=512"));
        } else if (extra.length == 0 || !Arrays.asList(extra).contains("--model")) {
            a.addAll(modelArgs(model().toString(), tokenizer().toString()));
        }
        a.addAll(Arrays.asList(extra));
        return a;
    }

    /**
     * The benchmark on the two-executor cluster writes a report whose environment lists both executors, whose
     * per-executor figures add up to the rows, and whose scaling section ran one application with 1 core and one with
     * 2 (spark.cores.max), on 1 and 2 executors.
     */
    @Test
    void benchOnTheClusterReportsEveryExecutorAndScalesFromOneCoreToTwo() throws Exception {
        Path out = dir.resolve("bench-report");
        List<String> a = new ArrayList<>(List.of("bench", "--master", cluster.masterUrl(), "--rows", "4000",
            "--partitions", "4", "--warmup", "0", "--repeats", "2", "--slots", "1,4", "--prompt-count", "8",
            "--max-new-tokens", "6", "--scale", "1,2", "--report", out.toString()));
        if (model() == null) {
            a.addAll(List.of("--synthetic-model", "dim=64,hidden=172,layers=5,heads=8,kv_heads=4,vocab=300,seq=512"));
        } else {
            a.addAll(modelArgs(model().toString(), tokenizer().toString()));
        }
        launcher("bench-cluster", a.toArray(String[]::new)).ok();
        for (String f : List.of("report.html", "report.md", "report.json")) {
            assertTrue(Files.size(out.resolve(f)) > 0, f);
        }
        JsonNode report = new ObjectMapper().readTree(out.resolve("report.json").toFile());
        JsonNode executors = report.at("/environment/executors");
        assertEquals(2, executors.size(), executors.toString());
        for (JsonNode e : executors) {
            assertEquals(1, e.get("cores").asInt(), e.toString());
            assertTrue(e.get("cpuModel").asText().length() > 0, e.toString());
            assertTrue(List.of("avx512-vnni", "avx2", "sse2").contains(e.get("simdPath").asText()), e.toString());
        }
        JsonNode arrow = null;
        for (JsonNode v : report.at("/integrate/sizes/0/variants")) {
            if (v.get("variant").asText().equals("native-arrow")) {
                arrow = v;
            }
        }
        assertTrue(arrow != null, "native-arrow measured");
        long rows = 0;
        for (JsonNode e : arrow.at("/activity/executors")) {
            rows += e.get("rows").asLong();
            assertTrue(e.get("taskSeconds").asDouble() > 0, e.toString());
        }
        assertEquals(2 * 4000, rows, "the executors' rows over the 2 repeats");
        JsonNode points = report.at("/scaling/points");
        assertEquals("cores", report.at("/scaling/unit").asText());
        assertEquals(4, points.size(), points.toString());
        for (JsonNode p : points) {
            int cores = p.get("resources").asInt();
            assertEquals(cores, p.get("executors").asInt(), "one 1-core executor per core on this cluster: " + p);
            assertTrue(p.at("/rate/min").asDouble() > 0, p.toString());
            if (cores == 1) {
                assertEquals(1.0, p.get("efficiency").asDouble(), 1e-12, p.toString());
            }
        }
    }

    /** The local-mode output of {@code generate} (computed once). */
    static List<String> localGenerate() throws Exception {
        return localReference("generate-local", 96, generateArgs(dir.resolve("generate-local"), "--master", "local[2]"));
    }

    /**
     * The local-mode ({@code local[2]}) output of a generate run, sorted, computed once per name.
     *
     * @param args the run's arguments, with {@code --output} at {@code dir/name}
     */
    static synchronized List<String> localReference(String name, int rows, List<String> args) throws Exception {
        List<String> ref = LOCAL_REFERENCE.get(name);
        if (ref == null) {
            launcher(name, args.toArray(String[]::new)).ok();
            ref = generated(dir.resolve(name));
            assertEquals(rows, ref.size());
            LOCAL_REFERENCE.put(name, ref);
        }
        return ref;
    }

    /**
     * Proves that the launcher ships the job jar to the executors of a standalone master (the first recipe that
     * failed with a ClassCastException of SerializedLambda), that spark-submit with the job jar works too, and
     * that the Riemann sums computed by two executor JVMs are bit-identical to local mode's.
     */
    @Test
    void integrateOnTheClusterThroughTheLauncherAndSparkSubmitMatchesLocalModeByteForByte() throws Exception {
        String[] common = {"integrate", "--rows", "4000", "--seed", "7", "--partitions", "6", "--format", "json", "--warmup", "0"};
        Path local = dir.resolve("integrate-local");
        Path viaLauncher = dir.resolve("integrate-launcher");
        Path viaSubmit = dir.resolve("integrate-submit");
        launcher("integrate-local", concat(common, "--master", "local[2]", "--output", local.toString())).ok();
        Path summary = dir.resolve("integrate-cluster.json");
        Run l = launcher("integrate-cluster", concat(common, "--master", cluster.masterUrl(), "--output",
            viaLauncher.toString(), "--summary", summary.toString())).ok();
        JsonNode executors = JSON.readTree(summary.toFile()).path("executors");
        assertEquals(2, executors.size(), executors.toString());
        for (JsonNode e : executors) {
            assertEquals(1, e.path("nativeLibraryLoads").asLong(), "one library load per executor: " + e);
        }
        assertTrue(l.out().contains("master " + cluster.masterUrl()), l.out());
        sparkSubmit("integrate-submit", concat(common, "--output", viaSubmit.toString())).ok();
        List<String> expected = lines(local);
        assertEquals(4000, expected.size());
        assertEquals(expected, lines(viaLauncher));
        assertEquals(expected, lines(viaSubmit));
    }

    /**
     * Proves that generation on two executors, through the launcher and through spark-submit, gives the same
     * completions as local mode for every prompt, with no row lost or duplicated.
     */
    @Test
    void generateOnTheClusterThroughTheLauncherAndSparkSubmitMatchesLocalMode() throws Exception {
        List<String> expected = localGenerate();
        Path viaLauncher = dir.resolve("generate-launcher");
        Path viaSubmit = dir.resolve("generate-submit");
        Path launcherSummary = dir.resolve("generate-cluster.json");
        Path submitSummary = dir.resolve("generate-submit.json");
        Path eventLog = dir.resolve("event-log");
        Path metrics = Files.createDirectories(dir.resolve("metrics"));
        String sink = "spark.metrics.conf.executor.sink.csv.";
        launcher("generate-cluster", generateArgs(viaLauncher, "--master", cluster.masterUrl(), "--summary",
            launcherSummary.toString(), "--event-log", eventLog.toString(),
            "--conf", sink + "class=org.apache.spark.metrics.sink.CsvSink", "--conf", sink + "period=1",
            "--conf", sink + "unit=seconds", "--conf", sink + "directory=" + metrics).toArray(String[]::new)).ok();
        sparkSubmit("generate-submit", generateArgs(viaSubmit, "--summary", submitSummary.toString())
            .toArray(String[]::new)).ok();
        assertEquals(expected, generated(viaLauncher));
        assertEquals(expected, generated(viaSubmit));
        assertEachExecutorLoadedOnceAndMappedOnce(launcherSummary);
        assertEachExecutorLoadedOnceAndMappedOnce(submitSummary);
        assertTheHistoryServerListsTheRun(eventLog);
        assertEachExecutorsSinkGotThePluginsMetrics(metrics, launcherSummary);
    }

    /**
     * The plugin's gauges reach the executors' own metrics sink (a CSV sink configured for the {@code executor}
     * instance only), one file per executor and metric, whose last row is the value the summary shows.
     */
    static void assertEachExecutorsSinkGotThePluginsMetrics(Path metrics, Path summaryFile) throws IOException {
        JsonNode executors = JSON.readTree(summaryFile.toFile()).path("executors");
        for (JsonNode e : executors) {
            String suffix = "." + e.path("executorId").asText() + ".plugin.org.sparknative.spark.SparkNativePlugin.";
            for (String[] m : new String[][] {{"nativeLibraryLoads", "nativeLibraryLoads"}, {"modelsMapped", "modelMaps"}}) {
                List<Path> files;
                try (Stream<Path> all = Files.list(metrics)) {
                    files = all.filter(f -> f.getFileName().toString().endsWith(suffix + m[0] + ".csv")).toList();
                }
                assertEquals(1, files.size(), "executor " + e.path("executorId") + "'s " + m[0] + " in " + metrics);
                List<String> rows = Files.readAllLines(files.get(0));
                assertTrue(rows.size() >= 2, files.get(0) + ": " + rows);
                String last = rows.get(rows.size() - 1);
                assertEquals(e.path(m[1]).asText(), last.substring(last.indexOf(',') + 1), files.get(0) + ": " + rows);
            }
        }
    }

    /**
     * {@code --event-log DIR}: Spark's History Server, started on the folder, lists the run as a completed
     * application with its name and its executors' tasks.
     */
    static void assertTheHistoryServerListsTheRun(Path eventLog) throws Exception {
        List<Path> logs;
        try (Stream<Path> files = Files.list(eventLog)) {
            logs = files.toList();
        }
        assertEquals(1, logs.size(), "one event log: " + logs);
        int port;
        try (java.net.ServerSocket sock = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            port = sock.getLocalPort();
        }
        List<String> cmd = FreshJvm.javaCommand();
        cmd.add("-Xmx512m");
        cmd.addAll(List.of("-Dspark.history.fs.logDirectory=" + eventLog.toUri(), "-Dspark.history.ui.port=" + port,
            "-cp", cluster.sparkHome().resolve("jars") + "/*", "org.apache.spark.deploy.history.HistoryServer"));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true)
            .redirectOutput(dir.resolve("history-server.log").toFile());
        pb.environment().putAll(StandaloneCluster.driverEnv());
        Process hs = pb.start();
        try {
            java.net.http.HttpClient http = java.net.http.HttpClient.newHttpClient();
            java.net.URI apps = java.net.URI.create("http://127.0.0.1:" + port + "/api/v1/applications?status=completed");
            String body = "";
            long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (System.nanoTime() < end && !body.contains("spark-native generate")) {
                Thread.sleep(500);
                try {
                    body = http.send(java.net.http.HttpRequest.newBuilder(apps).build(),
                        java.net.http.HttpResponse.BodyHandlers.ofString()).body();
                } catch (IOException notUpYet) {
                    // the server is still starting
                }
            }
            JsonNode list = JSON.readTree(body.isEmpty() ? "[]" : body);
            assertEquals(1, list.size(), body + Files.readString(dir.resolve("history-server.log")));
            assertEquals("spark-native generate", list.get(0).path("name").asText(), body);
            String id = list.get(0).path("id").asText();
            JsonNode execs = JSON.readTree(http.send(java.net.http.HttpRequest.newBuilder(java.net.URI.create(
                "http://127.0.0.1:" + port + "/api/v1/applications/" + id + "/allexecutors")).build(),
                java.net.http.HttpResponse.BodyHandlers.ofString()).body());
            int tasks = 0;
            int executors = 0;
            for (JsonNode e : execs) {
                if (!e.path("id").asText().equals("driver")) {
                    executors++;
                    tasks += e.path("completedTasks").asInt();
                }
            }
            assertEquals(2, executors, execs.toString());
            assertTrue(tasks >= 4, "the run's tasks are in the history: " + execs);
        } finally {
            hs.toHandle().descendants().forEach(ProcessHandle::destroyForcibly);
            hs.destroyForcibly();
            hs.waitFor(30, TimeUnit.SECONDS);
        }
    }

    /**
     * From the run's per-executor metrics (each executor's plugin reports its own counters to the driver, which
     * writes them in the summary): two executor JVMs, each loaded the native library once and mapped the model
     * once, and their rows add up to the job's, each row counted once.
     */
    static void assertEachExecutorLoadedOnceAndMappedOnce(Path summaryFile) throws IOException {
        JsonNode s = JSON.readTree(summaryFile.toFile());
        JsonNode executors = s.path("executors");
        assertEquals(2, executors.size(), s.toPrettyString());
        long rows = 0;
        java.util.Set<Long> pids = new java.util.HashSet<>();
        for (JsonNode e : executors) {
            assertEquals(1, e.path("nativeLibraryLoads").asLong(), e.toString());
            assertEquals(1, e.path("modelMaps").asLong(), e.toString());
            assertTrue(e.path("tasks").asInt() > 0, e.toString());
            assertEquals("127.0.0.1", e.path("host").asText(), e.toString());
            rows += e.path("rows").asLong();
            pids.add(e.path("pid").asLong());
        }
        assertEquals(2, pids.size(), "two executor JVMs: " + executors);
        assertTrue(!pids.contains(ProcessHandle.current().pid()), "no executor ran in the test's JVM");
        assertEquals(s.path("prompts").asLong(), rows, s.toPrettyString());
    }

    /**
     * Proves the two ways a model reaches executors that do not share the driver's disk: files shipped with
     * --files and named by file name (the README recipe that stopped on the driver), and file:// URIs read
     * through the Hadoop FileSystem API and copied once into each executor's model cache; and that a truncated
     * remote checkpoint is refused with a message naming its URI before any task runs.
     */
    @Test
    void modelsShippedWithFilesOrGivenAsUrisWorkAndATruncatedRemoteFileIsNamed() throws Exception {
        Path ckpt = model();
        Path tok = tokenizer();
        org.junit.jupiter.api.Assumptions.assumeTrue(ckpt != null, "needs stories260K.bin and tok512.bin");
        List<String> expected = localGenerate();
        // --files: a relative path for --files and the bare name for --model, as the README says.
        Path shipped = Files.createDirectories(dir.resolve("shipped"));
        Files.copy(ckpt, shipped.resolve("stories260K.bin"));
        Files.copy(tok, shipped.resolve("tok512.bin"));
        Path viaFiles = dir.resolve("generate-files");
        List<String> a = generateArgs(viaFiles, "--master", cluster.masterUrl(), "--files",
            "shipped/stories260K.bin,shipped/tok512.bin", "--model", "stories260K.bin", "--tokenizer", "tok512.bin");
        launcher("generate-files", a.toArray(String[]::new)).ok();
        assertEquals(expected, generated(viaFiles));

        Path viaUri = dir.resolve("generate-uri");
        launcher("generate-uri", generateArgs(viaUri, "--master", cluster.masterUrl(), "--model", ckpt.toUri().toString(),
            "--tokenizer", tok.toUri().toString()).toArray(String[]::new)).ok();
        assertEquals(expected, generated(viaUri));
        // Each executor copied each file once into its cache (the executors' logs say so).
        String executorLogs = executorStderr();
        assertEquals(2, count(executorLogs, "model " + ckpt.toUri() + ": copied"), executorLogs);

        // The same model as GGUF F32 (llama.cpp's conversion), as a URI with no --tokenizer: each executor copies it,
        // reads its embedded tokenizer (tok512's vocabulary) and, with llama2.c's float cache and 512 positions, gives
        // the .bin's texts byte for byte.
        java.util.Optional<Path> gguf = TestModels.find(TestModels.STORIES_260K_GGUF);
        if (gguf.isPresent()) {
            Path viaGguf = dir.resolve("generate-gguf-uri");
            launcher("generate-gguf-uri", generateArgs(viaGguf, "--master", cluster.masterUrl(), "--model",
                gguf.get().toUri().toString(), "--kv-cache", "f32", "--context", "512").toArray(String[]::new)).ok();
            assertEquals(expected, generated(viaGguf));
        }

        Path truncated = dir.resolve("truncated.bin");
        byte[] bytes = Files.readAllBytes(ckpt);
        Files.write(truncated, Arrays.copyOf(bytes, bytes.length - 4096));
        Run bad = launcher("generate-truncated", generateArgs(dir.resolve("generate-truncated"), "--master",
            cluster.masterUrl(), "--model", truncated.toUri().toString(), "--tokenizer", tok.toUri().toString())
            .toArray(String[]::new));
        assertEquals(1, bad.exit(), bad.out());
        assertTrue(bad.out().contains("error: " + truncated.toUri() + ": file length: expected " + bytes.length
            + " bytes"), bad.out());
        assertFalse(Files.exists(dir.resolve("generate-truncated")), "no output for a refused run");
    }

    /** Generate arguments long enough to kill an executor in the middle of a stage: 3 chunks of 64 prompts. */
    static List<String> longGenerateArgs(Path output, String... extra) {
        List<String> a = generateArgs(output, extra);
        a.set(a.indexOf("--max-new-tokens") + 1, "160");
        a.set(a.indexOf("--limit") + 1, "192");
        a.addAll(List.of("--chunk-rows", "64"));
        return a;
    }

    /** The local-mode output of the long generate run (computed once). */
    static List<String> localLongGenerate() throws Exception {
        return localReference("long-local", 192, longGenerateArgs(dir.resolve("long-local"), "--master", "local[2]"));
    }

    /**
     * Proves that Spark's retries are harmless: a task whose first attempt fails (injected through the test-only
     * setting) is retried, and the written output is complete and identical to local mode's, with no duplicate
     * row, and the summary's counts equal one clean run's rather than counting the failed attempt too.
     */
    @Test
    void aTaskThatFailsItsFirstAttemptIsRetriedWithoutDuplicatesOrInflatedCounts() throws Exception {
        List<String> expected = localLongGenerate();
        Path out = dir.resolve("long-failed-once");
        Path summary = dir.resolve("long-failed-once.json");
        Run r = launcher("long-failed-once", longGenerateArgs(out, "--master", cluster.masterUrl(), "--summary",
            summary.toString(), "--conf", FAIL_FIRST_ATTEMPT + "=0,2").toArray(String[]::new)).ok();
        String driverLog = Files.readString(dir.resolve("long-failed-once.spark.log"));
        assertTrue(driverLog.contains("injected failure"), "the injected failure happened: " + r.out());
        assertEquals(expected, generated(out));
        assertCountsOfOneCleanRun(summary, out);
        JsonNode executors = JSON.readTree(summary.toFile()).path("executors");
        int failed = 0;
        for (JsonNode e : executors) {
            failed += e.path("failedTasks").asInt();
        }
        assertEquals(6, failed, "the first attempts of partitions 0 and 2 of each of the 3 chunks failed: " + executors);
    }

    /**
     * Proves that losing an executor JVM in the middle of a stage (killed by its pid while it runs a task of the
     * second or third of three chunks) costs only a retry: the stage finishes on the other executor and a replacement, and the output
     * and counts equal one clean run's.
     */
    @Test
    void anExecutorKilledInTheMiddleOfAStageLosesNoRowAndDuplicatesNone() throws Exception {
        List<String> expected = localLongGenerate();
        Path out = dir.resolve("long-killed");
        Path summary = dir.resolve("long-killed.json");
        List<String> a = longGenerateArgs(out, "--master", cluster.masterUrl(), "--summary", summary.toString());
        List<String> cmd = new ArrayList<>(List.of(project.resolve("bin/spark-native").toString()));
        cmd.addAll(a);
        Path log = dir.resolve("long-killed.out");
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true)
            .redirectOutput(log.toFile());
        pb.environment().putAll(StandaloneCluster.driverEnv());
        pb.environment().put("SPARK_NATIVE_LOG", dir.resolve("long-killed.spark.log").toString());
        Process p = pb.start();
        long killed = -1;
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(180);
        while (p.isAlive() && System.nanoTime() < deadline && killed < 0) {
            if (Files.readString(log).contains("chunk-00000 committed")) {
                // The second chunk runs: kill an executor that is running a task right now.
                long pid = busyExecutorPid();
                if (pid > 0) {
                    ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
                    killed = pid;
                }
            }
            Thread.sleep(50);
        }
        assertTrue(p.waitFor(240, TimeUnit.SECONDS), "the run did not end");
        String printed = Files.readString(log);
        assertEquals(0, p.exitValue(), printed);
        assertTrue(killed > 0, "no executor was killed: the run ended first\n" + printed);
        String driverLog = Files.readString(dir.resolve("long-killed.spark.log"));
        assertTrue(driverLog.contains("ExecutorLostFailure"), "a running task was lost with its executor: " + printed);
        assertEquals(expected, generated(out));
        assertCountsOfOneCleanRun(summary, out);
        long lostWithReason = 0;
        for (JsonNode e : JSON.readTree(summary.toFile()).path("executors")) {
            if (e.path("pid").asLong() == killed) {
                assertFalse(e.path("lost").isNull(), "the killed executor is marked lost: " + e);
                lostWithReason++;
            }
        }
        assertEquals(1, lostWithReason, "the killed executor (pid " + killed + ") is in the summary");
        assertTrue(printed.contains("was lost during the run"), printed);
    }

    /** The summary's prompt and token counts equal the output's own totals (192 prompts, no attempt counted twice). */
    static void assertCountsOfOneCleanRun(Path summary, Path out) throws IOException {
        JsonNode s = JSON.readTree(summary.toFile());
        long tokens = 0;
        for (String line : lines(out)) {
            tokens += JSON.readTree(line).path("completion_tokens").asLong();
        }
        assertEquals(192, s.path("prompts").asLong(), s.toString());
        assertEquals(tokens, s.path("completionTokens").asLong(), s.toString());
    }

    private static final java.util.regex.Pattern PLUGIN_PID =
        java.util.regex.Pattern.compile("SparkNativePlugin: executor \\S+ on \\S+, pid (\\d+)");
    private static final java.util.regex.Pattern TASK_EVENT =
        java.util.regex.Pattern.compile("(Running|Finished) task \\S+ in stage \\S+ \\(TID (\\d+)\\)");

    /**
     * The pid of a live executor JVM that is running a task now, read from the executors' own logs: the pid from
     * the plugin's line {@code SparkNativePlugin: executor <id> on <host>, pid <pid>}, and a task from Spark's
     * {@code Running task ... (TID n)} without its {@code Finished task ... (TID n)}; -1 if none is.
     */
    static long busyExecutorPid() throws IOException {
        List<Long> live = cluster.executors().stream().map(ProcessHandle::pid).toList();
        try (Stream<Path> files = Files.walk(dir.resolve("cluster"))) {
            for (Path f : files.filter(f -> f.getFileName().toString().equals("stderr")).toList()) {
                String text = Files.readString(f);
                java.util.regex.Matcher pm = PLUGIN_PID.matcher(text);
                if (!pm.find() || !live.contains(Long.parseLong(pm.group(1)))) {
                    continue;
                }
                java.util.Set<String> running = new java.util.HashSet<>();
                java.util.regex.Matcher tm = TASK_EVENT.matcher(text);
                while (tm.find()) {
                    if (tm.group(1).equals("Running")) {
                        running.add(tm.group(2));
                    } else {
                        running.remove(tm.group(2));
                    }
                }
                if (!running.isEmpty()) {
                    return Long.parseLong(pm.group(1));
                }
            }
        }
        return -1;
    }

    /** Every executor's stderr (their logs) of every application so far. */
    static String executorStderr() throws IOException {
        StringBuilder sb = new StringBuilder();
        try (Stream<Path> files = Files.walk(dir.resolve("cluster"))) {
            for (Path f : files.filter(f -> f.getFileName().toString().equals("stderr")).toList()) {
                sb.append(Files.readString(f));
            }
        }
        return sb.toString();
    }

    static int count(String s, String needle) {
        int n = 0;
        for (int i = s.indexOf(needle); i >= 0; i = s.indexOf(needle, i + 1)) {
            n++;
        }
        return n;
    }

    static String[] concat(String[] a, String... b) {
        String[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}

package org.sparknative.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.sparknative.kernels.integrate.IntegrateKernels;
import org.sparknative.kernels.integrate.IntegrateReference;
import org.sparknative.kernels.llama.Checkpoint;
import org.sparknative.kernels.llama.LlamaConfig;
import org.sparknative.kernels.llama.ReferenceGenerator;
import org.sparknative.kernels.llama.ReferenceTransformer;
import org.sparknative.kernels.llama.Tokenizer;
import org.sparknative.kernels.testing.FreshJvm;
import org.sparknative.spark.sql.SparkNativeExtensions;
import org.sparknative.udf.generate.SyntheticModels;

/**
 * The project's SQL extension behind a Spark Connect server: Spark's {@code SparkConnectServer} in a child JVM with
 * {@code spark.sql.extensions=org.sparknative.spark.sql.SparkNativeExtensions} and a synthetic model in its
 * settings, queried by the Spark Connect JVM client in a second child JVM. Over the connection, {@code integrate_f}
 * (in SQL and through the DataFrame API's {@code call_function}) must give the native kernel's values bit for bit,
 * planned as the extension's batched operator; {@code generate}
 * the completions that the same query gives in-process (and, on a model that the client configures for its session
 * on the pure-Java backend, the Java reference generator's). Analysis errors, task errors and session settings
 * must cross the connection too.
 *
 * <p>Two JVMs because the client cannot share one with Spark's engine: its shims jar stubs spark-core classes and its
 * jar bundles spark-sql-api. The server runs on this test's class path (which has spark-connect); the client on the
 * Connect client jars that the build copies to {@code target/connect-client} and this class path without the engine
 * ({@link #clientClassPath}).
 */
class SparkConnectTest {
    private static final LlamaConfig SHAPE = LlamaConfig.parse("dim=32,hidden=64,layers=2,heads=4,kv_heads=2,vocab=300,seq=64");
    private static final String INTEGRATE_ROWS = "VALUES (1, 0.0D, 1.0D, 10), (2, -1.5D, 2.25D, 1000), "
        + "(3, CAST(NULL AS DOUBLE), 1.0D, 5), (4, 0.1D, 0.7D, 3), (5, -0.3D, 0.9D, 20000), (6, 2.0D, -1.0D, 7) "
        + "AS t(id, a, b, n)";
    private static final double[][] INTEGRATE_INPUT = {{0.0, 1.0, 10}, {-1.5, 2.25, 1000}, null, {0.1, 0.7, 3},
        {-0.3, 0.9, 20000}, {2.0, -1.0, 7}};
    private static final List<String> PROMPTS = Arrays.asList("Once upon a time", "hello", "", null);
    private static final String PROMPT_ROWS = "VALUES (1, 'Once upon a time'), (2, 'hello'), (3, ''), "
        + "(4, CAST(NULL AS STRING)) AS t(id, prompt)";
    /** Greedy and seeded sampling, with the model of spark.sparknative.model.default; %s: the prompts' Parquet. */
    private static final String GENERATE = "SELECT id, generate(prompt, max_new_tokens => 8, temperature => 0.0) AS greedy, "
        + "generate(prompt, max_new_tokens => 12, temperature => 0.8, top_p => 0.9, seed => 7) AS sampled "
        + "FROM parquet.`%s`";

    @TempDir
    static Path tmp;

    private static Process server;
    private static Path model;
    private static Path tokenizer;
    private static Map<String, Outcome> results;
    private static List<List<Object>> inProcessGenerate;

    /** A command's rows (cells decoded: null, Double, Integer, Long or String), or its error message. */
    private record Outcome(List<List<Object>> rows, String error) {
    }

    @BeforeAll
    static void startServerAndRunClient() throws Exception {
        model = SyntheticModels.checkpoint(tmp, SHAPE, 11);
        tokenizer = SyntheticModels.byteLevelTokenizer(tmp, SHAPE.vocabSize());
        Map<String, String> conf = new LinkedHashMap<>();
        conf.put("spark.master", "local[2]");
        conf.put("spark.app.name", "spark-native connect test");
        conf.put("spark.ui.enabled", "false");
        conf.put("spark.driver.host", "127.0.0.1");
        conf.put("spark.driver.bindAddress", "127.0.0.1");
        conf.put("spark.sql.shuffle.partitions", "2");
        conf.put("spark.connect.grpc.binding.address", "127.0.0.1");
        conf.put("spark.connect.grpc.binding.port", "0");
        conf.put("spark.sql.extensions", SparkNativeExtensions.CLASS_NAME);
        conf.put("spark.plugins", org.sparknative.spark.SparkNativePlugin.CLASS_NAME);
        conf.putAll(tinyModelConf());
        startServer(conf);
        // While the server starts, in this JVM, on the tests' classic session (it has the extension): the inputs as
        // Parquet files, which the server reads (the same machine), and the generate query's in-process result.
        Path integrateIn = writeParquet("integrate", "SELECT * FROM " + INTEGRATE_ROWS);
        Path prompts = writeParquet("prompts", "SELECT * FROM " + PROMPT_ROWS);
        String generate = String.format(GENERATE, prompts) + " ORDER BY id";
        inProcessGenerate = runInProcess(generate);
        // Parquet input takes the batched operators (reading the columns in bulk); a VALUES list is evaluated row by
        // row while the query is optimized (Spark's ConvertToLocalRelation). Both ways must work.
        String integrate = "SELECT id, integrate_f(a, b, n) AS x FROM parquet.`" + integrateIn + "`";
        List<String> commands = new ArrayList<>();
        commands.add("sql integrate " + integrate + " ORDER BY id");
        commands.add("sql integrate_plan EXPLAIN " + integrate);
        commands.add("call integrate_df integrate_f:a,b,n " + integrateIn);
        commands.add("sql integrate_values SELECT id, integrate_f(a, b, n) AS x FROM " + INTEGRATE_ROWS + " ORDER BY id");
        commands.add("sql integrate_named SELECT integrate_f(n => 100, b => 2.0D, a => -0.5D)");
        commands.add("sql bad_constant SELECT integrate_f(0.0D, 1.0D, 0)");
        commands.add("sql bad_row SELECT integrate_f(0.0D, 1.0D, CAST(id AS INT)) FROM range(1)");
        commands.add("sql generate " + generate);
        commands.add("sql generate_again " + generate);
        commands.add("sql generate_plan EXPLAIN " + String.format(GENERATE, prompts));
        // A second model, configured by the client for its own session, on the pure-Java backend.
        commands.add("set ref_path spark.sparknative.model.ref.path=" + model);
        commands.add("set ref_tokenizer spark.sparknative.model.ref.tokenizer=" + tokenizer);
        commands.add("set ref_backend spark.sparknative.model.ref.backend=java");
        commands.add("sql generate_ref SELECT id, generate(prompt, max_new_tokens => 8, temperature => 0.0, model => 'ref') "
            + "FROM " + PROMPT_ROWS + " ORDER BY id");
        commands.add("set row_error spark.sparknative.invalidRows=row-error");
        commands.add("sql bad_row_as_null SELECT id, integrate_f(0.0D, 1.0D, CAST(id AS INT)) FROM range(2) ORDER BY id");
        int port = awaitPort();
        results = runClient("sc://127.0.0.1:" + port, commands);
    }

    /** The server's model: the synthetic checkpoint, named tiny and made the default. */
    private static Map<String, String> tinyModelConf() {
        return Map.of("spark.sparknative.model.tiny.path", model.toString(),
            "spark.sparknative.model.tiny.tokenizer", tokenizer.toString(),
            "spark.sparknative.model.default", "tiny");
    }

    /** Writes the query's rows as one Parquet file, with {@link SparkTestSession}. @return the folder */
    private static Path writeParquet(String name, String query) {
        Path dir = tmp.resolve(name + ".parquet");
        SparkTestSession.get().sql(query).coalesce(1).write().parquet(dir.toString());
        return dir;
    }

    /** Runs {@code query} on {@link SparkTestSession} with the server's model settings. @return its rows */
    private static List<List<Object>> runInProcess(String query) {
        SparkSession spark = SparkTestSession.get();
        Map<String, String> conf = tinyModelConf();
        conf.forEach(spark.conf()::set);
        try {
            List<List<Object>> rows = new ArrayList<>();
            for (Row r : spark.sql(query).collectAsList()) {
                List<Object> cells = new ArrayList<>();
                for (int i = 0; i < r.length(); i++) {
                    cells.add(r.get(i));
                }
                rows.add(cells);
            }
            return rows;
        } finally {
            conf.keySet().forEach(spark.conf()::unset);
        }
    }

    @AfterAll
    static void stopServer() throws InterruptedException {
        stop(server);
    }

    /**
     * Bit for bit what the native kernel gives for the row when this JVM calls it directly; and the Java loop's
     * value ({@link IntegrateReference#integrate}) to 1e-12 of the sum's scale, not to the bit: the kernel adds
     * the terms in 16 interleaved lanes and then pairwise (sn_integrate_math.h), the loop in one running sum.
     */
    @Test
    void integrateMatchesTheKernelBitForBitAndTheJavaReference() {
        List<List<Object>> expected = new ArrayList<>();
        for (int i = 0; i < INTEGRATE_INPUT.length; i++) {
            double[] r = INTEGRATE_INPUT[i];
            expected.add(Arrays.asList(i + 1, r == null ? null : IntegrateKernels.integrateRow(r[0], r[1], (int) r[2])));
        }
        for (String label : List.of("integrate", "integrate_df", "integrate_values")) {
            List<List<Object>> got = rows(label);
            assertEquals(expected, got, label); // Double.equals: the same bits
            for (int i = 0; i < INTEGRATE_INPUT.length; i++) {
                double[] r = INTEGRATE_INPUT[i];
                if (r != null) {
                    assertEquals(IntegrateReference.integrate(r[0], r[1], (int) r[2]), (Double) got.get(i).get(1),
                        1e-12 * IntegrateReference.scale(r[0], r[1], (int) r[2]), label + " row " + (i + 1));
                }
            }
        }
        assertEquals(List.of(Arrays.asList(IntegrateKernels.integrateRow(-0.5, 2.0, 100))), rows("integrate_named"));
        String plan = (String) rows("integrate_plan").get(0).get(0);
        assertTrue(plan.contains("BatchedIntegrateF"), "the extension's batched operator:\n" + plan);
    }

    @Test
    void errorsAndSessionSettingsCrossTheConnection() {
        assertTrue(error("bad_constant").contains("integrate_f(): argument 'n' must be in [1, 2147483647], got 0"),
            error("bad_constant"));
        assertTrue(error("bad_row").contains("n must be >= 1, got 0"), error("bad_row"));
        // spark.sparknative.invalidRows=row-error, set by the client for its session: the bad row is null instead
        assertEquals(List.of(Arrays.asList(0L, null), Arrays.asList(1L, IntegrateKernels.integrateRow(0.0, 1.0, 1))),
            rows("bad_row_as_null"));
    }

    @Test
    void generateGivesWhatTheSameQueryGivesInProcess() {
        List<List<Object>> got = rows("generate");
        assertEquals(PROMPTS.size(), got.size());
        for (int i = 0; i < PROMPTS.size(); i++) {
            List<Object> r = got.get(i);
            if (PROMPTS.get(i) == null) {
                assertEquals(Arrays.asList(i + 1, null, null), r, "a null prompt gives null");
            } else {
                // A completion may be empty (the model may end it at once), never null.
                assertTrue(r.get(0).equals(i + 1) && r.get(1) instanceof String && r.get(2) instanceof String, "row " + r);
            }
        }
        assertTrue(got.stream().anyMatch(r -> r.get(1) instanceof String s && s.length() >= 4), "no completions: " + got);
        assertEquals(got, rows("generate_again"), "a second call over Connect");
        assertEquals(inProcessGenerate, got, "the same query in this JVM, on a classic session with the extension");
        String plan = (String) rows("generate_plan").get(0).get(0);
        assertTrue(plan.contains("BatchedGenerate"), "the extension's batched operator:\n" + plan);
    }

    @Test
    void aModelTheClientConfiguresForItsSessionMatchesTheReferenceGenerator() {
        Checkpoint ckpt = Checkpoint.open(model);
        Tokenizer tok = Tokenizer.load(tokenizer, SHAPE.vocabSize());
        List<List<Object>> expected = new ArrayList<>();
        for (int i = 0; i < PROMPTS.size(); i++) {
            String p = PROMPTS.get(i);
            expected.add(Arrays.asList(i + 1, p == null ? null : ReferenceGenerator.generate(new ReferenceTransformer(ckpt),
                tok, p.getBytes(StandardCharsets.UTF_8), 8, 0f, 1f, 1).completion()));
        }
        assertEquals(expected, rows("generate_ref"));
    }

    private static List<List<Object>> rows(String label) {
        Outcome o = outcome(label);
        assertEquals(null, o.error(), label + " failed over Connect");
        return o.rows();
    }

    private static String error(String label) {
        Outcome o = outcome(label);
        assertTrue(o.error() != null, label + " should have failed, but gave " + o.rows());
        return o.error();
    }

    private static Outcome outcome(String label) {
        Outcome o = results.get(label);
        assertTrue(o != null, "no result for " + label + ": " + results.keySet());
        return o;
    }

    // ---- the server ----

    /** Starts the server in a child JVM (then {@link #awaitPort}). */
    private static void startServer(Map<String, String> conf) throws IOException {
        Path log = tmp.resolve("connect-server.log");
        List<String> cmd = childJava("-Xmx1g");
        cmd.add("-Dlog4j2.configurationFile=" + quietLog4j().toUri());
        conf.forEach((k, v) -> cmd.add("-D" + k + "=" + v));
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), ConnectServerMain.class.getName()));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
        pb.environment().put("SPARK_LOCAL_IP", "127.0.0.1");
        server = pb.start();
    }

    /** Waits (bounded) until the server listens. @return its port */
    private static int awaitPort() throws IOException, InterruptedException {
        Path log = tmp.resolve("connect-server.log");
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
        while (System.nanoTime() < deadline) {
            for (String line : Files.readAllLines(log, StandardCharsets.UTF_8)) {
                if (line.startsWith(ConnectServerMain.PORT_LINE)) {
                    return Integer.parseInt(line.substring(ConnectServerMain.PORT_LINE.length()).trim());
                }
            }
            if (!server.isAlive()) {
                fail("the Connect server exited with " + server.exitValue() + ":\n" + Files.readString(log));
            }
            TimeUnit.MILLISECONDS.sleep(100);
        }
        fail("the Connect server did not listen within 90 s:\n" + Files.readString(log));
        return -1;
    }

    /**
     * This JVM's java with the test JVM's module options, C1 only and the serial collector: the children are
     * short-lived and do little work, and on a 2-core machine C2's compiler threads would take seconds from them.
     */
    private static List<String> childJava(String heap) {
        List<String> cmd = FreshJvm.javaCommand();
        cmd.addAll(List.of(heap, "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"));
        return cmd;
    }

    /** Spark's warnings and errors only: its INFO lines would fill the log. */
    private static Path quietLog4j() throws IOException {
        Path file = tmp.resolve("log4j2-connect.properties");
        Files.write(file, List.of(
            "rootLogger.level = warn",
            "rootLogger.appenderRef.stderr.ref = console",
            "appender.console.type = Console",
            "appender.console.name = console",
            "appender.console.target = SYSTEM_ERR",
            "appender.console.layout.type = PatternLayout",
            "appender.console.layout.pattern = %d{HH:mm:ss.SSS} %p %c{1}: %m%n"));
        return file;
    }

    private static void stop(Process p) throws InterruptedException {
        if (p == null) {
            return;
        }
        p.destroy(); // SIGTERM: Spark's shutdown hook stops the server and the context
        if (!p.waitFor(30, TimeUnit.SECONDS)) {
            p.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
        }
    }

    // ---- the client ----

    /**
     * The client JVM's class path: the Connect client and its shims first, then this test's class path without
     * Spark's engine (spark-core, spark-sql, spark-catalyst and spark-sql-api, which the client jar bundles) and
     * without the Connect server and its pipelines module. What is left is what the client needs besides its own
     * jar (Scala, Jackson, logging, Spark's utility jars, at the versions the engine uses) and this test's classes.
     */
    private static String clientClassPath() throws IOException {
        Path dir = Path.of(System.getProperty("sparknative.connect.client.dir", "target/connect-client"));
        List<String> entries = new ArrayList<>();
        try (Stream<Path> jars = Files.list(dir)) {
            jars.filter(j -> j.getFileName().toString().endsWith(".jar")).sorted().forEach(j -> entries.add(j.toString()));
        }
        assertEquals(2, entries.size(), "the Connect client and its shims in " + dir.toAbsolutePath() + ": " + entries);
        List<String> engine = List.of("spark-core_", "spark-sql_", "spark-catalyst_", "spark-sql-api_", "spark-connect_",
            "spark-pipelines_");
        for (String e : System.getProperty("java.class.path").split(File.pathSeparator)) {
            String name = e.substring(e.lastIndexOf(File.separatorChar) + 1);
            if (!e.isEmpty() && engine.stream().noneMatch(name::startsWith)) {
                entries.add(e);
            }
        }
        return String.join(File.pathSeparator, entries);
    }

    /** Runs the commands in a client JVM (see {@link ConnectClientMain}). @return by label */
    private static Map<String, Outcome> runClient(String url, List<String> commands)
        throws IOException, InterruptedException {
        Path out = tmp.resolve("connect-client.out");
        Path err = tmp.resolve("connect-client.log");
        List<String> cmd = childJava("-Xmx512m");
        cmd.add("-Dlog4j2.configurationFile=" + quietLog4j().toUri());
        cmd.addAll(List.of("-cp", clientClassPath(), ConnectClientMain.class.getName(), url));
        cmd.addAll(commands);
        Process client = new ProcessBuilder(cmd).redirectOutput(out.toFile()).redirectError(err.toFile()).start();
        try {
            if (!client.waitFor(120, TimeUnit.SECONDS)) {
                fail("the Connect client did not finish within 120 s:\n" + Files.readString(out) + "\n" + Files.readString(err)
                    + "\nserver:\n" + Files.readString(tmp.resolve("connect-server.log")));
            }
        } finally {
            stop(client);
        }
        List<String> lines = Files.readAllLines(out, StandardCharsets.UTF_8);
        assertTrue(client.exitValue() == 0 && !lines.isEmpty() && lines.get(lines.size() - 1).equals("END"),
            "the Connect client failed (exit " + client.exitValue() + "):\n" + String.join("\n", lines) + "\n"
                + Files.readString(err) + "\nserver:\n" + Files.readString(tmp.resolve("connect-server.log")));
        assertEquals("SESSION org.apache.spark.sql.connect.SparkSession", lines.get(0),
            "the client must be a Spark Connect session, not classic Spark");
        Map<String, List<List<Object>>> rows = new LinkedHashMap<>();
        Map<String, Outcome> outcomes = new LinkedHashMap<>();
        for (String line : lines.subList(1, lines.size() - 1)) {
            String[] f = line.split(" ", 3);
            switch (f[0]) {
                case "ROW" -> rows.computeIfAbsent(f[1], k -> new ArrayList<>()).add(decodeRow(f[2]));
                case "OK" -> outcomes.put(f[1], new Outcome(rows.getOrDefault(f[1], List.of()), null));
                case "ERROR" -> outcomes.put(f[1], new Outcome(List.of(), decode(f[2])));
                default -> fail("unexpected client output: " + line);
            }
        }
        return outcomes;
    }

    private static List<Object> decodeRow(String cells) {
        List<Object> row = new ArrayList<>();
        for (String c : cells.split(" ")) {
            if (c.equals("null")) {
                row.add(null);
                continue;
            }
            String v = c.substring(2);
            row.add(switch (c.substring(0, 2)) {
                case "d:" -> Double.longBitsToDouble(Long.parseUnsignedLong(v, 16));
                case "i:" -> Integer.parseInt(v);
                case "l:" -> Long.parseLong(v);
                case "s:" -> decode(v);
                default -> throw new IllegalArgumentException("cell " + c);
            });
        }
        return row;
    }

    private static String decode(String base64) {
        return new String(Base64.getDecoder().decode(base64), StandardCharsets.UTF_8);
    }
}

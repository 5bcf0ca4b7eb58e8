package org.sparknative.spark.sql;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
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
import org.sparknative.kernels.testing.FreshJvm;

/**
 * The project's SQL extension behind a Spark Connect server: Spark's {@code SparkConnectServer} in a child JVM with
 * {@code spark.sql.extensions} set, queried by the Spark Connect JVM client in a second child JVM.
 *
 * <p>Two JVMs because the client cannot share one with Spark's engine: its shims jar stubs spark-core classes and its
 * jar bundles spark-sql-api. The server runs on this test's class path (which has spark-connect); the client on the
 * Connect client jars that the build copies to {@code target/connect-client} and this class path without the engine
 * ({@link #clientClassPath}).
 */
class SparkConnectTest {
    private static final String EXTENSIONS = ConnectPlaceholderExtensions.class.getName();

    @TempDir
    static Path tmp;

    private static Process server;
    private static Map<String, Outcome> results;

    /** A command's rows (cells decoded: null, Double, Integer, Long or String), or its error message. */
    private record Outcome(List<List<Object>> rows, String error) {
    }

    @BeforeAll
    static void startServerAndRunClient() throws Exception {
        Map<String, String> conf = new LinkedHashMap<>();
        conf.put("spark.master", "local[2]");
        conf.put("spark.app.name", "spark-native connect test");
        conf.put("spark.ui.enabled", "false");
        conf.put("spark.driver.host", "127.0.0.1");
        conf.put("spark.driver.bindAddress", "127.0.0.1");
        conf.put("spark.sql.shuffle.partitions", "2");
        conf.put("spark.connect.grpc.binding.address", "127.0.0.1");
        conf.put("spark.connect.grpc.binding.port", "0");
        conf.put("spark.sql.extensions", EXTENSIONS);
        int port = startServer(conf);
        List<String> commands = new ArrayList<>();
        commands.add("sql probe SELECT connect_probe(), 1 + 1, CAST(NULL AS DOUBLE), 0.1D + 0.2D");
        results = runClient("sc://127.0.0.1:" + port, commands);
    }

    @AfterAll
    static void stopServer() throws InterruptedException {
        stop(server);
    }

    @Test
    void theExtensionAnswersOverConnect() {
        assertEquals(List.of(List.of("extension loaded", 2, nullCell(), 0.1 + 0.2)), rows("probe"));
    }

    private static Object nullCell() {
        return Outcome.class; // stands for SQL NULL in expected rows (List.of takes no nulls)
    }

    private static List<List<Object>> rows(String label) {
        Outcome o = results.get(label);
        assertTrue(o != null, "no result for " + label + ": " + results.keySet());
        assertEquals(null, o.error(), label + " failed over Connect");
        return o.rows().stream().map(r -> r.stream().map(c -> c == null ? nullCell() : c).toList()).toList();
    }

    // ---- the server ----

    /** Starts the server in a child JVM, and waits (bounded) until it listens. @return its port */
    private static int startServer(Map<String, String> conf) throws IOException, InterruptedException {
        Path log = tmp.resolve("connect-server.log");
        List<String> cmd = FreshJvm.javaCommand();
        cmd.add("-Xmx1g");
        cmd.add("-Dlog4j2.configurationFile=" + quietLog4j().toUri());
        conf.forEach((k, v) -> cmd.add("-D" + k + "=" + v));
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), ConnectServerMain.class.getName()));
        server = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
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
    static String clientClassPath() throws IOException {
        Path dir = Path.of(System.getProperty("sparknative.connect.client.dir", "target/connect-client"));
        List<String> entries = new ArrayList<>();
        try (Stream<Path> jars = Files.list(dir)) {
            jars.filter(j -> j.getFileName().toString().endsWith(".jar")).sorted().forEach(j -> entries.add(j.toString()));
        }
        assertEquals(2, entries.size(), "the Connect client and its shims in " + dir.toAbsolutePath() + ": " + entries);
        List<String> engine = List.of("spark-core_", "spark-sql_", "spark-catalyst_", "spark-sql-api_", "spark-connect_",
            "spark-pipelines_");
        for (String e : System.getProperty("java.class.path").split(File.pathSeparator)) {
            String name = Path.of(e).getFileName().toString();
            if (engine.stream().noneMatch(name::startsWith)) {
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
        List<String> cmd = FreshJvm.javaCommand();
        cmd.add("-Xmx512m");
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
            String v = c.substring(c.indexOf(':') + 1);
            row.add(switch (c.substring(0, Math.max(0, c.indexOf(':')))) {
                case "" -> null; // "null"
                case "d" -> Double.longBitsToDouble(Long.parseUnsignedLong(v, 16));
                case "i" -> Integer.parseInt(v);
                case "l" -> Long.parseLong(v);
                case "s" -> decode(v);
                default -> throw new IllegalArgumentException("cell " + c);
            });
        }
        return row;
    }

    private static String decode(String base64) {
        return new String(Base64.getDecoder().decode(base64), StandardCharsets.UTF_8);
    }
}

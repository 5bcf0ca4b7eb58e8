package org.sparknative.job;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.sparknative.kernels.testing.FreshJvm;

/**
 * A real multi-JVM Spark standalone cluster on 127.0.0.1 for tests: one {@code Master} and N {@code Worker}s
 * started as child JVMs from the jars of the build (the provided-scope Spark jars that
 * {@code target/launcher.classpath} lists), each worker with 1 core and 1 GB, so each application gets N
 * executors of 1 core. Everything binds to the loopback address only, and {@link #close()} stops the
 * processes it started, by process id, executors (the workers' children) first.
 *
 * <p>The workers' executor launcher needs a Spark home: a folder with an empty {@code RELEASE} file and a
 * {@code jars/} folder with Spark's jars (Netty included), and {@code SPARK_SCALA_VERSION=2.13}; this
 * class builds one under {@code dir} from links to the build's jars. It holds no project jar: executors get
 * the project's classes from the job jar the job ships in {@code spark.jars}, as on a real cluster.
 */
final class StandaloneCluster implements AutoCloseable {
    private final Path dir;
    private final Path sparkHome;
    private final int port;
    private final Process master;
    private final List<Process> workers = new ArrayList<>();

    private StandaloneCluster(Path dir, Path sparkHome, int port, Process master) {
        this.dir = dir;
        this.sparkHome = sparkHome;
        this.port = port;
        this.master = master;
    }

    /**
     * Starts a master and {@code workers} 1-core workers and waits until every worker has registered.
     *
     * @param dir a fresh folder for the Spark home, logs, work and local directories
     */
    static StandaloneCluster start(Path dir, int workers) throws IOException, InterruptedException {
        Path sparkHome = sparkHome(dir.resolve("spark-home"));
        int port = freePort();
        Path logs = Files.createDirectories(dir.resolve("logs"));
        Process master = launch(sparkHome, logs.resolve("master.log"), Map.of(), "org.apache.spark.deploy.master.Master",
            "--host", "127.0.0.1", "--port", String.valueOf(port), "--webui-port", String.valueOf(freePort()));
        StandaloneCluster c = new StandaloneCluster(dir, sparkHome, port, master);
        try {
            c.await(logs.resolve("master.log"), "I have been elected leader", Duration.ofSeconds(60));
            for (int i = 1; i <= workers; i++) {
                Path log = logs.resolve("worker" + i + ".log");
                Path work = Files.createDirectories(dir.resolve("work" + i));
                Path local = Files.createDirectories(dir.resolve("local" + i));
                c.workers.add(launch(sparkHome, log, Map.of("SPARK_LOCAL_DIRS", local.toString()),
                    "org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1", "--port", "0",
                    "--webui-port", String.valueOf(freePort()), "--cores", "1", "--memory", "1g",
                    "--work-dir", work.toString(), c.masterUrl()));
            }
            for (int i = 1; i <= workers; i++) {
                c.await(logs.resolve("worker" + i + ".log"), "Successfully registered with master", Duration.ofSeconds(60));
            }
        } catch (IOException | InterruptedException | RuntimeException e) {
            c.close();
            throw e;
        }
        return c;
    }

    /** @return {@code spark://127.0.0.1:<port>} */
    String masterUrl() {
        return "spark://127.0.0.1:" + port;
    }

    /** @return the Spark home the workers use (for {@code SparkSubmit}'s classpath) */
    Path sparkHome() {
        return sparkHome;
    }

    /** @return the executor JVMs running now: the workers' child processes */
    List<ProcessHandle> executors() {
        List<ProcessHandle> out = new ArrayList<>();
        for (Process w : workers) {
            w.toHandle().children().filter(ProcessHandle::isAlive).forEach(out::add);
        }
        return out;
    }

    /** @return the environment a driver on this cluster needs to bind to the loopback address only */
    static Map<String, String> driverEnv() {
        return Map.of("SPARK_LOCAL_IP", "127.0.0.1");
    }

    /** @return {@code --conf} settings that keep an in-process driver on the loopback address */
    static List<String> driverConf() {
        return List.of("--conf", "spark.driver.host=127.0.0.1", "--conf", "spark.driver.bindAddress=127.0.0.1");
    }

    /** Stops the executors, the workers and the master, by process id, and waits for them to exit. */
    @Override
    public void close() {
        List<ProcessHandle> all = new ArrayList<>();
        for (Process w : workers) {
            w.toHandle().descendants().forEach(all::add);
            all.add(w.toHandle());
        }
        master.toHandle().descendants().forEach(all::add);
        all.add(master.toHandle());
        for (ProcessHandle p : all) {
            p.destroyForcibly();
        }
        for (ProcessHandle p : all) {
            try {
                p.onExit().get(30, java.util.concurrent.TimeUnit.SECONDS);
            } catch (Exception e) {
                // reported by the next start if it matters; never hangs a test run
            }
        }
    }

    /** A Spark home of links to the build's Spark jars: what a worker needs to launch executors. */
    private static Path sparkHome(Path home) throws IOException {
        Path cpFile = Path.of(System.getProperty("sparknative.project.dir", ".."), "spark-job", "target",
            "launcher.classpath");
        if (!Files.isRegularFile(cpFile)) {
            cpFile = Path.of("target", "launcher.classpath");
        }
        Path jars = Files.createDirectories(home.resolve("jars"));
        Files.write(home.resolve("RELEASE"), new byte[0]);
        for (String j : Files.readString(cpFile).trim().split(java.io.File.pathSeparator)) {
            Path jar = Path.of(j);
            Path link = jars.resolve(jar.getFileName());
            if (!Files.exists(link)) {
                Files.createSymbolicLink(link, jar);
            }
        }
        return home;
    }

    private static Process launch(Path sparkHome, Path log, Map<String, String> env, String mainClass, String... args)
        throws IOException {
        List<String> cmd = FreshJvm.javaCommand();
        cmd.add("-Xmx512m");
        cmd.add("-cp");
        cmd.add(sparkHome.resolve("jars") + "/*");
        cmd.add(mainClass);
        cmd.addAll(Arrays.asList(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
        pb.environment().put("SPARK_HOME", sparkHome.toString());
        pb.environment().put("SPARK_SCALA_VERSION", "2.13");
        pb.environment().put("SPARK_LOCAL_IP", "127.0.0.1");
        pb.environment().put("JAVA_HOME", System.getProperty("java.home"));
        pb.environment().putAll(env);
        return pb.start();
    }

    private void await(Path log, String line, Duration timeout) throws IOException, InterruptedException {
        long end = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < end) {
            if (Files.exists(log) && Files.readString(log).contains(line)) {
                return;
            }
            if (!master.isAlive()) {
                throw new IllegalStateException("the master exited: " + tail(dir.resolve("logs/master.log")));
            }
            Thread.sleep(200);
        }
        throw new IllegalStateException("no '" + line + "' in " + log + " after " + timeout + ": " + tail(log));
    }

    private static String tail(Path log) throws IOException {
        if (!Files.exists(log)) {
            return "(no log)";
        }
        String s = Files.readString(log);
        return s.substring(Math.max(0, s.length() - 3000));
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }
}

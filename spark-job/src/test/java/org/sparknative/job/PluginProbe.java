package org.sparknative.job;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.apache.spark.sql.SparkSession;
import org.sparknative.kernels.llama.CheckpointFormat;
import org.sparknative.kernels.llama.LlamaConfig;
import org.sparknative.kernels.llama.SyntheticCheckpoint;
import org.sparknative.kernels.llama.TokenizerWriter;
import org.sparknative.spark.SparkNativePlugin;

/**
 * Run by {@link PluginMetricsTest} in a fresh JVM (nothing loaded or mapped yet): one local-mode session with
 * the plugin and a CSV metrics sink, two {@code generate} runs of one model in it; prints what the driver side
 * holds for executor {@code driver} and the last value of each plugin metric's CSV file, as {@code key=value}
 * lines. Argument: a work folder.
 */
public final class PluginProbe {
    private PluginProbe() {
    }

    public static void main(String[] args) {
        try {
            run(Path.of(args[0]));
            System.exit(0);
        } catch (Throwable t) {
            t.printStackTrace(System.out);
            System.exit(1);
        }
    }

    private static void run(Path dir) throws Exception {
        Path model = dir.resolve("m.bin");
        Path tok = dir.resolve("tok.bin");
        SyntheticCheckpoint.write(model, new LlamaConfig(32, 64, 1, 4, 2, 300, 48, false), 7, CheckpointFormat.V1);
        TokenizerWriter.writeByteLevel(tok, 300);
        Path prompts = dir.resolve("prompts.jsonl");
        List<String> lines = new ArrayList<>();
        for (int i = 0; i < 12; i++) {
            lines.add("{\"id\":" + i + ",\"prompt\":\"once " + i + "\"}");
        }
        Files.write(prompts, lines);
        Path csv = Files.createDirectories(dir.resolve("metrics"));
        SparkSession spark = SparkSession.builder().master("local[2]").appName("plugin probe")
            .config("spark.ui.enabled", "false")
            .config("spark.driver.host", "127.0.0.1")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.plugins", SparkNativePlugin.CLASS_NAME)
            .config("spark.metrics.conf.*.sink.csv.class", "org.apache.spark.metrics.sink.CsvSink")
            .config("spark.metrics.conf.*.sink.csv.period", "1")
            .config("spark.metrics.conf.*.sink.csv.unit", "seconds")
            .config("spark.metrics.conf.*.sink.csv.directory", csv.toString())
            .getOrCreate();
        for (int run = 1; run <= 2; run++) {
            CliRun r = CliRun.of("generate", "--input", prompts.toString(), "--model", model.toString(), "--tokenizer",
                tok.toString(), "--max-new-tokens", "8", "--slots", "3", "--output", dir.resolve("out" + run).toString(),
                "--summary", dir.resolve("summary" + run + ".json").toString());
            if (r.exit() != 0) {
                throw new AssertionError("generate run " + run + " failed: " + r.err());
            }
        }
        Map<String, SparkNativePlugin.ExecutorReport> executors = SparkNativePlugin.executors();
        System.out.println("executors=" + String.join(",", executors.keySet()));
        SparkNativePlugin.ExecutorReport d = executors.get("driver");
        System.out.println("ownPid=" + ProcessHandle.current().pid());
        System.out.println("report.pid=" + d.pid());
        var m = d.metrics();
        System.out.println("report.nativeLibraryLoads=" + m.nativeLibraryLoads());
        System.out.println("report.modelMaps=" + m.modelMaps());
        System.out.println("report.modelMappedBytes=" + m.modelMappedBytes());
        System.out.println("report.generateRows=" + m.generateRows());
        System.out.println("report.promptTokens=" + m.promptTokens());
        System.out.println("report.completionTokens=" + m.completionTokens());
        System.out.println("report.nativeNanos=" + m.nativeNanos());
        System.out.println("modelFileBytes=" + Files.size(model));
        // The sink polls every second: wait until it has written what the runs left. The last rows are counted before
        // their task frees its KV cache, so a poll in between has every row but a KV cache still in use: wait for both.
        long deadline = System.nanoTime() + 15_000_000_000L;
        while ((!String.valueOf(m.generateRows()).equals(lastCsvValue(csv, "generateRows"))
            || !"0".equals(lastCsvValue(csv, "kvCacheBytes"))) && System.nanoTime() < deadline) {
            Thread.sleep(200);
        }
        try (Stream<Path> files = Files.list(csv)) {
            files.map(f -> f.getFileName().toString()).filter(f -> f.endsWith(".generateRows.csv"))
                .forEach(f -> System.out.println("csvFile=" + f));
        }
        for (String metric : SparkNativePlugin.METRICS.keySet()) {
            System.out.println("csv." + metric + "=" + lastCsvValue(csv, metric));
        }
        spark.stop();
    }

    /** @return the last value in the CSV sink's file of one of the plugin's metrics, or null if there is none yet */
    private static String lastCsvValue(Path dir, String metric) throws IOException {
        try (Stream<Path> files = Files.list(dir)) {
            Path f = files.filter(p -> p.getFileName().toString().endsWith(
                "plugin." + SparkNativePlugin.CLASS_NAME + "." + metric + ".csv")).findFirst().orElse(null);
            if (f == null) {
                return null;
            }
            List<String> lines = Files.readAllLines(f);
            String last = lines.isEmpty() ? "" : lines.get(lines.size() - 1);
            return last.contains(",") && !last.startsWith("t,") ? last.substring(last.indexOf(',') + 1).trim() : null;
        }
    }
}

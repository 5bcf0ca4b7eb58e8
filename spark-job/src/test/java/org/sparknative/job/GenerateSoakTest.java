package org.sparknative.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.functions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.sparknative.kernels.testing.TestModels;
import org.sparknative.spark.generate.GenerateTransform;
import org.sparknative.udf.Backend;
import org.sparknative.udf.BadRowPolicy;
import org.sparknative.udf.ExecutorRuntime;
import org.sparknative.udf.generate.GenerationParams;
import org.sparknative.udf.generate.GenerationSpec;

/**
 * The soak run (tag {@code soak}: only with {@code -Psoak}, never in CI): 50,000 prompts on stories260K in
 * one job. It samples the JVM's resident set size while rows finish and checks that it does not grow with
 * the number of rows, that every row came back, and that no Arrow memory is left. The report goes to
 * stdout and {@code target/soak-report.txt}.
 */
@Tag("soak")
class GenerateSoakTest {
    private static long rssBytes() throws java.io.IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith("VmRSS:")) {
                return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
            }
        }
        return -1;
    }

    @Test
    void fiftyThousandPromptsInOneJobWithFlatMemory() throws Exception {
        int prompts = Integer.getInteger("soak.prompts", 50_000);
        int tokens = Integer.getInteger("soak.tokens", 24);
        SparkSession spark = SparkTestSession.get();
        Path ckpt = TestModels.require("stories260K.bin");
        Path tok = TestModels.require("tok512.bin");
        // 20 partitions: the row counter (task accumulators, reported as tasks end) moves in steps of 5%.
        Dataset<Row> in = spark.range(0, prompts, 1, 20).select(functions.col("id"),
            functions.concat(functions.lit("Once upon a time, "), functions.col("id").cast("string")).as("prompt"));
        GenerationSpec spec = new GenerationSpec(ckpt.toString(), tok.toString(), Backend.CPU, 32,
            GenerationSpec.DEFAULT_PREFILL_TOKENS, 1, BadRowPolicy.ROW_ERROR);
        GenerateTransform.Result res = GenerateTransform.apply(in, GenerateTransform.Options.of(spec,
            new GenerationParams(tokens, 0.8f, 0.9f, 42)));
        List<long[]> samples = new ArrayList<>(); // rows done, RSS
        Thread sampler = new Thread(() -> {
            try {
                while (!Thread.currentThread().isInterrupted()) {
                    synchronized (samples) {
                        samples.add(new long[] {res.counters().rows().total(), rssBytes()});
                    }
                    Thread.sleep(500);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        }, "soak-rss");
        sampler.setDaemon(true);
        long t0 = System.nanoTime();
        sampler.start();
        long written;
        try {
            written = res.output().agg(functions.count("*")).first().getLong(0);
        } finally {
            sampler.interrupt();
            sampler.join();
        }
        double secs = (System.nanoTime() - t0) / 1e9;
        long ct = res.counters().completionTokens().total();
        long peak = 0;
        long atQuarter = -1;
        for (long[] s : samples) {
            peak = Math.max(peak, s[1]);
            if (atQuarter < 0 && s[0] >= prompts / 4) {
                atQuarter = s[1];
            }
        }
        long last = samples.get(samples.size() - 1)[1];
        StringBuilder quartiles = new StringBuilder();
        for (int q = 1; q <= 4; q++) {
            for (long[] smp : samples) {
                if (smp[0] >= (long) prompts * q / 4) {
                    quartiles.append(String.format(Locale.ROOT, " %d%%: %.1f MiB", 25 * q, smp[1] / 1048576.0));
                    break;
                }
            }
        }
        long peakAfterQuarter = 0;
        boolean after = false;
        for (long[] s : samples) {
            after |= s[0] >= prompts / 4;
            if (after) {
                peakAfterQuarter = Math.max(peakAfterQuarter, s[1]);
            }
        }
        String report = String.format(Locale.ROOT,
            "soak: %,d prompts, %,d completion tokens in %.1f s (%.0f tokens/s, %.0f rows/s)%n"
                + "soak: RSS at 25%% of rows %.1f MiB, peak after that %.1f MiB, at the end %.1f MiB, peak %.1f MiB "
                + "(%d samples)%n"
                + "soak: RSS when 25/50/75/100%% of the rows were done:%s%n"
                + "soak: Arrow root allocator outstanding %d bytes, native KV cache outstanding %d bytes%n",
            written, ct, secs, ct / secs, written / secs, atQuarter / 1048576.0, peakAfterQuarter / 1048576.0,
            last / 1048576.0, peak / 1048576.0, samples.size(), quartiles, ExecutorRuntime.rootAllocator().getAllocatedMemory(),
            org.sparknative.kernels.llama.NativeLlamaBatch.liveKvCacheBytes());
        System.out.print(report);
        Files.createDirectories(Path.of("target"));
        Files.writeString(Path.of("target", "soak-report.txt"), report);
        assertEquals(prompts, written);
        assertEquals(0, ExecutorRuntime.rootAllocator().getAllocatedMemory());
        assertEquals(0, org.sparknative.kernels.llama.NativeLlamaBatch.liveKvCacheBytes());
        assertTrue(atQuarter > 0, "no RSS sample at 25% of the rows");
        // Flat: from a quarter of the rows to the end, RSS may move by GC and page-cache noise, not by rows.
        assertTrue(peakAfterQuarter - atQuarter < 128L << 20,
            "RSS grew by " + (peakAfterQuarter - atQuarter) / 1048576 + " MiB after 25% of the rows\n" + report);
    }
}

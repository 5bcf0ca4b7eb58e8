package org.sparknative.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.apache.spark.SparkConf;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sparknative.kernels.llama.CheckpointFormat;
import org.sparknative.kernels.llama.LlamaConfig;
import org.sparknative.kernels.llama.NativeLlamaBatch;
import org.sparknative.kernels.llama.SyntheticCheckpoint;
import org.sparknative.kernels.llama.TokenizerWriter;
import org.sparknative.spark.NativeMemory;
import org.sparknative.spark.generate.GenerateTransform;
import org.sparknative.udf.Backend;
import org.sparknative.udf.BadRowPolicy;
import org.sparknative.udf.generate.GenerationParams;
import org.sparknative.udf.generate.GenerationSpec;

/** KV cache memory checked before the job, and a cancelled job that stops decoding and frees its caches. */
class MemoryAndCancellationTest {
    @TempDir
    Path tmp;

    @Test
    void nativeMemoryPerTaskFromClusterSettings() {
        SparkConf c = new SparkConf(false).set("spark.master", "spark://127.0.0.1:7077")
            .set("spark.executor.memory", "8g").set("spark.executor.cores", "4").set("spark.task.cpus", "2");
        // overhead max(384 MiB, 0.10 * 8 GiB) = 819.2 MiB, over 4 / 2 = 2 concurrent tasks
        assertEquals((long) (8L * (1L << 30) * 0.10) / 2, NativeMemory.perTask(c, 1).bytesPerTask());
        c.set("spark.executor.memoryOverhead", "2g").set("spark.memory.offHeap.enabled", "true")
            .set("spark.memory.offHeap.size", "1g");
        assertEquals(3L * (1L << 30) / 2, NativeMemory.perTask(c, 1).bytesPerTask());
        SparkConf small = new SparkConf(false).set("spark.master", "yarn").set("spark.executor.memory", "1g");
        assertEquals(384L << 20, NativeMemory.perTask(small, 1).bytesPerTask());
    }

    @Test
    void tooManySlotsIsAOneLineUsageErrorNamingWhatFits() throws Exception {
        Path in = tmp.resolve("p.jsonl");
        Files.writeString(in, "{\"prompt\":\"hi\"}\n");
        StringWriter err = new StringWriter();
        int code = SparkNativeCli.run(new PrintWriter(err, true), "generate", "--input", in.toString(),
            "--synthetic-model", "dim=64,hidden=128,layers=4,heads=4,kv_heads=4,vocab=300,seq=4096",
            "--slots", "100000000");
        assertEquals(2, code, err.toString());
        assertTrue(err.toString().contains("--slots 100000000 needs ") && err.toString().contains(" slots fit in the "),
            err.toString());
        assertEquals(1, err.toString().lines().filter(l -> l.contains("error:")).count(), err.toString());
    }

    @Test
    void aCancelledJobStopsDecodingAndFreesEveryKvCache() throws Exception {
        SparkSession spark = SparkTestSession.get();
        LlamaConfig cfg = new LlamaConfig(64, 128, 2, 4, 4, 300, 512, true);
        Path m = tmp.resolve("cancel.bin");
        Path t = tmp.resolve("cancel-tok.bin");
        SyntheticCheckpoint.write(m, cfg, 3, CheckpointFormat.V1);
        TokenizerWriter.writeByteLevel(t, 300);
        List<Row> rows = new ArrayList<>();
        for (int i = 0; i < 2000; i++) {
            rows.add(RowFactory.create((long) i, "story " + i));
        }
        Dataset<Row> in = spark.createDataFrame(rows, new StructType().add("id", DataTypes.LongType)
            .add("prompt", DataTypes.StringType)).repartition(2);
        GenerationSpec spec = new GenerationSpec(m.toString(), t.toString(), Backend.CPU, 4, 16, 1, BadRowPolicy.ROW_ERROR);
        // One record batch per partition: without a check between decode steps, a task would decode all of it.
        GenerateTransform.Result res = GenerateTransform.apply(in, new GenerateTransform.Options(spec,
            new GenerationParams(500, 0f, 1f, 1), 1000));
        long before = NativeLlamaBatch.liveKvCacheBytes();
        Throwable[] thrown = new Throwable[1];
        Thread job = new Thread(() -> {
            spark.sparkContext().setJobGroup("cancel-test", "cancel test", true);
            try {
                res.output().write().format("noop").mode("overwrite").save();
            } catch (Throwable e) {
                thrown[0] = e;
            }
        });
        job.start();
        long deadline = System.nanoTime() + 60_000_000_000L;
        // Decoding has started once a task allocated its KV cache (accumulators only report finished tasks).
        while (NativeLlamaBatch.liveKvCacheBytes() == before && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        assertTrue(NativeLlamaBatch.liveKvCacheBytes() > before, "no task was decoding");
        Thread.sleep(500);
        spark.sparkContext().cancelJobGroup("cancel-test");
        job.join(30_000);
        assertTrue(thrown[0] != null && String.valueOf(thrown[0].getMessage()).contains("cancel"), String.valueOf(thrown[0]));
        // Each task stops within one decode step (milliseconds) and its completion listener frees the KV cache.
        long freedBy = System.nanoTime() + 2_000_000_000L;
        while (NativeLlamaBatch.liveKvCacheBytes() != before && System.nanoTime() < freedBy) {
            Thread.sleep(20);
        }
        assertEquals(before, NativeLlamaBatch.liveKvCacheBytes(), "KV caches still allocated after the cancellation");
        assertTrue(res.counters().rows().total() < 2000, "the job ran to its end instead of stopping");
    }
}

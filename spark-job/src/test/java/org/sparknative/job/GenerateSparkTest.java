package org.sparknative.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sparknative.kernels.llama.CheckpointFormat;
import org.sparknative.kernels.llama.LlamaConfig;
import org.sparknative.kernels.llama.SyntheticCheckpoint;
import org.sparknative.kernels.llama.TokenizerWriter;
import org.sparknative.kernels.testing.TestModels;
import org.sparknative.spark.generate.GenerateTransform;
import org.sparknative.udf.Backend;
import org.sparknative.udf.BadRowPolicy;
import org.sparknative.udf.generate.GenerationParams;
import org.sparknative.udf.generate.GenerationSpec;
import org.sparknative.udf.generate.ModelRegistry;

class GenerateSparkTest {
    private static SparkSession spark;

    @TempDir
    static Path tmp;

    @BeforeAll
    static void start() {
        spark = SparkTestSession.get();
    }

    private static int run(StringWriter err, String... args) {
        return SparkNativeCli.run(new PrintWriter(err, true), args);
    }

    @Test
    void jobReproducesLlama2cBatchedWithOtherPrompts() throws Exception {
        Path ckpt = TestModels.require(TestModels.STORIES_260K);
        Path tok = TestModels.require(TestModels.TOK_512);
        Path in = tmp.resolve("prompts.jsonl");
        List<String> lines = new ArrayList<>();
        for (int i = 0; i < 12; i++) {
            String prompt = i % 4 == 0 ? "" : "Once upon a time, a cat number " + i + " went to the park.";
            // Rows 0 and 4: the two llama2.c runs (empty prompt, 200 generated tokens); the rest share their batches.
            String extra = i == 0 ? ",\"temperature\":0.0" : i == 4 ? ",\"temperature\":1.0,\"top_p\":1.0,\"seed\":42" : "";
            lines.add("{\"id\":" + i + ",\"prompt\":\"" + prompt + "\",\"max_new_tokens\":200" + extra + "}");
        }
        Files.write(in, lines);
        Path out = tmp.resolve("gen-out");
        StringWriter err = new StringWriter();
        int code = run(err, "generate", "--input", in.toString(), "--model", ckpt.toString(), "--tokenizer", tok.toString(),
            "--output", out.toString(), "--format", "json", "--slots", "3", "--partitions", "2",
            "--temperature", "0.8", "--summary", tmp.resolve("gen.json").toString());
        assertEquals(0, code, err.toString());
        Map<Long, Row> byId = new HashMap<>();
        for (Row r : spark.read().json(out.toString()).collectAsList()) {
            byId.put(r.getLong(r.fieldIndex("id")), r);
        }
        assertEquals(12, byId.size());
        assertEquals(TestModels.GREEDY_260K, byId.get(0L).getString(byId.get(0L).fieldIndex("completion")));
        assertEquals(TestModels.SAMPLED_260K_SEED42, byId.get(4L).getString(byId.get(4L).fieldIndex("completion")));
        assertEquals("length", byId.get(0L).getString(byId.get(0L).fieldIndex("finish_reason")));
        assertEquals(200L, byId.get(0L).getLong(byId.get(0L).fieldIndex("completion_tokens")));
        String summary = Files.readString(tmp.resolve("gen.json"));
        assertTrue(summary.contains("\"prompts\" : 12"), summary);
    }

    private Map<Long, Row> runJob(String name, String... modelArgs) throws Exception {
        Path in = tmp.resolve(name + ".jsonl");
        Files.write(in, List.of("{\"id\":0,\"prompt\":\"\",\"max_new_tokens\":200}",
            "{\"id\":1,\"prompt\":\"The old man\",\"max_new_tokens\":48}",
            "{\"id\":2,\"prompt\":\"A cat sat\",\"max_new_tokens\":20}"));
        Path out = tmp.resolve(name + "-out");
        List<String> args = new ArrayList<>(List.of("generate", "--input", in.toString(), "--output", out.toString(),
            "--format", "json", "--temperature", "0", "--slots", "2", "--partitions", "2", "--summary",
            tmp.resolve(name + ".json").toString()));
        args.addAll(List.of(modelArgs));
        StringWriter err = new StringWriter();
        assertEquals(0, run(err, args.toArray(new String[0])), err.toString());
        Map<Long, Row> byId = new HashMap<>();
        for (Row r : spark.read().json(out.toString()).collectAsList()) {
            byId.put(r.getLong(r.fieldIndex("id")), r);
        }
        assertEquals(3, byId.size());
        return byId;
    }

    private static String completion(Map<Long, Row> rows, long id) {
        Row r = rows.get(id);
        return r.getString(r.fieldIndex("completion"));
    }

    /** A GGUF model needs no --tokenizer; the job reproduces llama2.c (F32 file) and llama.cpp (quantized files). */
    @Test
    void ggufModelsRunInTheJobWithTheirOwnTokenizer() throws Exception {
        Path f32 = TestModels.require(TestModels.STORIES_260K_GGUF);
        // The file's trained context is 128 positions; llama2.c's 200-token story needs more.
        Map<Long, Row> rows = runJob("gguf-f32", "--model", f32.toString(), "--context", "512");
        assertEquals(TestModels.GREEDY_260K, completion(rows, 0));
        assertEquals(TestModels.OLD_MAN_F32_Q8_0.substring("The old man".length()), completion(rows, 1));
        String summary = Files.readString(tmp.resolve("gguf-f32.json"));
        assertTrue(summary.contains("\"modelFormat\" : \"GGUF v3\""), summary);
        assertTrue(summary.contains("\"tensorTypes\" : \"F32 x "), summary);
        assertTrue(summary.contains("\"tokenizer\" : null"), summary);
        Map<Long, Row> q8 = runJob("gguf-q8", "--model", TestModels.require(TestModels.STORIES_260K_GGUF_Q8_0).toString());
        assertEquals(TestModels.OLD_MAN_F32_Q8_0.substring("The old man".length()), completion(q8, 1));
        Map<Long, Row> q4 = runJob("gguf-q4", "--model", TestModels.require(TestModels.STORIES_260K_GGUF_Q4_0).toString());
        assertEquals(TestModels.OLD_MAN_Q4_0.substring("The old man".length()), completion(q4, 1));
        assertTrue(Files.readString(tmp.resolve("gguf-q4.json")).contains("\"tensorTypes\" : \"Q4_0 x "));
    }

    /**
     * The same synthetic model as a llama2.c checkpoint and as GGUF F32 (converted by quantize's converter): the job
     * gives the same texts from both, the GGUF one with its embedded tokenizer; a given --tokenizer overrides it.
     */
    @Test
    void aSyntheticGgufF32GivesTheTextsOfItsLlama2cCheckpoint() throws Exception {
        Path[] files = synthetic("conv", new LlamaConfig(64, 96, 2, 4, 2, 320, 96, false));
        Path gguf = tmp.resolve("conv.gguf");
        org.sparknative.kernels.gguf.GgufConverter.fromLlama2c(files[0], files[1],
            org.sparknative.kernels.gguf.GgmlType.F32, gguf);
        Map<Long, Row> bin = runJob("conv-bin", "--model", files[0].toString(), "--tokenizer", files[1].toString());
        Map<Long, Row> own = runJob("conv-gguf", "--model", gguf.toString(), "--kv-cache", "f32");
        Map<Long, Row> overridden = runJob("conv-gguf-tok", "--model", gguf.toString(), "--tokenizer", files[1].toString(),
            "--kv-cache", "f32");
        for (long id = 0; id < 3; id++) {
            assertEquals(completion(bin, id), completion(own, id), "row " + id);
            assertEquals(completion(bin, id), completion(overridden, id), "row " + id);
        }
        assertTrue(completion(bin, 2).length() > 0);
        // A llama2.c checkpoint still needs its tokenizer, named as an option error before Spark starts.
        StringWriter err = new StringWriter();
        assertEquals(2, run(err, "generate", "--input", tmp.resolve("conv-bin.jsonl").toString(), "--model",
            files[0].toString()));
        assertTrue(err.toString().contains("--tokenizer FILE is required with a llama2.c --model"), err.toString());
    }

    private static Path[] synthetic(String name, LlamaConfig cfg) {
        Path m = tmp.resolve(name + ".bin");
        Path t = tmp.resolve(name + "-tok.bin");
        SyntheticCheckpoint.write(m, cfg, 11, CheckpointFormat.V1);
        TokenizerWriter.writeByteLevel(t, cfg.vocabSize());
        return new Path[] {m, t};
    }

    private Dataset<Row> prompts(int n) {
        List<Row> rows = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            rows.add(RowFactory.create((long) i, i % 7 == 0 ? null : "prompt number " + i + " " + "ab".repeat(i % 5)));
        }
        return spark.createDataFrame(rows, new StructType().add("id", DataTypes.LongType).add("prompt", DataTypes.StringType));
    }

    @Test
    void weightsMappedOncePerJvmAndOutputIndependentOfPartitioningAndBatchSize() {
        Path[] files = synthetic("invariance", new LlamaConfig(48, 96, 2, 4, 2, 320, 64, false));
        GenerationParams defaults = new GenerationParams(16, 0.9f, 0.95f, 5);
        int mapsBefore = ModelRegistry.nativeMapCount();
        List<Map<Long, String>> results = new ArrayList<>();
        for (int[] shape : new int[][] {{1, 1}, {4, 8}, {3, 2}}) {
            GenerationSpec spec = new GenerationSpec(files[0].toString(), files[1].toString(), Backend.CPU, shape[1], 4, 1,
                BadRowPolicy.ROW_ERROR);
            GenerateTransform.Result res = GenerateTransform.apply(prompts(40).repartition(shape[0]),
                GenerateTransform.Options.of(spec, defaults));
            Map<Long, String> m = new HashMap<>();
            for (Row r : res.output().collectAsList()) {
                m.put(r.getLong(0), r.getString(r.fieldIndex("completion")) + "|" + r.getString(r.fieldIndex("finish_reason")));
            }
            assertEquals(40, m.size());
            assertEquals("null|error: prompt is null", m.get(7L));
            results.add(m);
        }
        assertEquals(results.get(0), results.get(1));
        assertEquals(results.get(0), results.get(2));
        // Four task slots ran partitions concurrently; the weights were mapped once for this JVM.
        assertEquals(mapsBefore + 1, ModelRegistry.nativeMapCount());
        // The native backend agrees with the pure-Java reference backend row for row.
        GenerationSpec java = new GenerationSpec(files[0].toString(), files[1].toString(), Backend.JAVA, 4, 4, 1,
            BadRowPolicy.ROW_ERROR);
        Map<Long, String> ref = new HashMap<>();
        for (Row r : GenerateTransform.apply(prompts(40), GenerateTransform.Options.of(java,
            new GenerationParams(16, 0f, 1f, 5))).output().collectAsList()) {
            ref.put(r.getLong(0), r.getString(r.fieldIndex("completion")));
        }
        GenerationSpec cpu = new GenerationSpec(files[0].toString(), files[1].toString(), Backend.CPU, 4, 4, 1,
            BadRowPolicy.ROW_ERROR);
        for (Row r : GenerateTransform.apply(prompts(40), GenerateTransform.Options.of(cpu,
            new GenerationParams(16, 0f, 1f, 5))).output().collectAsList()) {
            assertEquals(ref.get(r.getLong(0)), r.getString(r.fieldIndex("completion")), "greedy row " + r.getLong(0));
        }
    }

    @Test
    void sqlGenerateFunction() {
        Path[] files = synthetic("sql", new LlamaConfig(32, 64, 1, 4, 4, 300, 64, true));
        GenerationSpec spec = new GenerationSpec(files[0].toString(), files[1].toString(), Backend.CPU, 8, 16, 1,
            BadRowPolicy.ROW_ERROR);
        GenerationParams defaults = new GenerationParams(8, 0f, 1f, 1);
        prompts(10).createOrReplaceTempView("gen_prompts");
        // The extension's generate() takes its model and row defaults from Spark settings.
        java.util.Map<String, String> conf = java.util.Map.of("spark.sparknative.model.sqltest.path", files[0].toString(),
            "spark.sparknative.model.sqltest.tokenizer", files[1].toString(), "spark.sparknative.model.sqltest.slots", "8",
            "spark.sparknative.model.sqltest.prefillTokens", "16", "spark.sparknative.model.sqltest.threads", "1",
            "spark.sparknative.generate.maxNewTokens", "8", "spark.sparknative.generate.temperature", "0",
            "spark.sparknative.generate.topP", "1", "spark.sparknative.generate.seed", "1");
        conf.forEach(spark.conf()::set);
        List<Row> sql;
        try {
            sql = spark.sql("SELECT id, generate(prompt) AS c FROM gen_prompts ORDER BY id").collectAsList();
        } finally {
            conf.keySet().forEach(spark.conf()::unset);
        }
        List<Row> batched = GenerateTransform.apply(prompts(10), GenerateTransform.Options.of(spec, defaults))
            .output().orderBy("id").collectAsList();
        for (int i = 0; i < 10; i++) {
            assertEquals(batched.get(i).getString(batched.get(i).fieldIndex("completion")), sql.get(i).getString(1), "row " + i);
        }
    }

    @Test
    void syntheticModelFromTheCommandLine() throws Exception {
        Path in = tmp.resolve("syn.jsonl");
        Files.writeString(in, "{\"id\":1,\"prompt\":\"hello\"}\n{\"id\":2,\"prompt\":\"\"}\n");
        Path summaryFile = tmp.resolve("syn.json");
        StringWriter err = new StringWriter();
        // --batch-size is the deprecated name of --slots: still accepted, with a warning.
        assertEquals(0, run(err, "generate", "--input", in.toString(), "--synthetic-model",
            "dim=32,hidden=64,layers=1,heads=4,kv_heads=2,vocab=300,seq=32", "--max-new-tokens", "5",
            "--temperature", "0", "--batch-size", "2", "--summary", summaryFile.toString()), err.toString());
        assertTrue(err.toString().contains("--batch-size is deprecated; use --slots"), err.toString());
        var json = new com.fasterxml.jackson.databind.ObjectMapper().readTree(summaryFile.toFile());
        assertEquals(2, json.get("prompts").asLong());
        assertEquals(2, json.get("slots").asInt());
        assertEquals("cpu", json.get("backend").asText());
        assertEquals("dim=32,hidden=64,layers=1,heads=4,kv_heads=2,vocab=300,seq=32,shared=true", json.get("modelShape").asText());
        assertTrue(json.get("completionTokens").asLong() >= 1 && json.get("completionTokens").asLong() <= 10, json.toString());
        StringWriter bad = new StringWriter();
        // A bad option value is bad usage: exit 2, one line.
        assertEquals(2, run(bad, "generate", "--input", in.toString(), "--synthetic-model", "dim=30,heads=4"));
        assertTrue(bad.toString().contains("missing key 'hidden'"), bad.toString());
    }

    @Test
    void badModelTokenizerAndInputGiveClearErrors() throws Exception {
        Path in = tmp.resolve("p.jsonl");
        Files.writeString(in, "{\"prompt\":\"hi\"}\n");
        StringWriter e1 = new StringWriter();
        assertEquals(1, run(e1, "generate", "--input", in.toString(), "--model", tmp.resolve("missing.bin").toString(),
            "--tokenizer", "x"));
        assertTrue(e1.toString().contains("missing.bin") && e1.toString().contains("fetch.sh"), e1.toString());

        Path ckpt = TestModels.require(TestModels.STORIES_260K);
        StringWriter e2 = new StringWriter();
        assertEquals(1, run(e2, "generate", "--input", in.toString(), "--model", ckpt.toString(), "--tokenizer",
            TestModels.require(TestModels.LLAMA2_TOKENIZER).toString()));
        assertTrue(e2.toString().contains("tokenizer.bin"), e2.toString());

        Path truncated = tmp.resolve("truncated.bin");
        Files.write(truncated, java.util.Arrays.copyOf(Files.readAllBytes(ckpt), 100_000));
        StringWriter e3 = new StringWriter();
        assertEquals(1, run(e3, "generate", "--input", in.toString(), "--model", truncated.toString(), "--tokenizer",
            TestModels.require(TestModels.TOK_512).toString()));
        assertTrue(e3.toString().contains("file length: expected 1056540 bytes") && e3.toString().contains("got 100000"),
            e3.toString());

        Path noPrompt = tmp.resolve("np.jsonl");
        Files.writeString(noPrompt, "{\"text\":\"hi\"}\n");
        StringWriter e4 = new StringWriter();
        assertEquals(1, run(e4, "generate", "--input", noPrompt.toString(), "--model", ckpt.toString(), "--tokenizer",
            TestModels.require(TestModels.TOK_512).toString()));
        assertTrue(e4.toString().contains("no column 'prompt'"), e4.toString());
    }
}

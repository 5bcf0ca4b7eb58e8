package org.sparknative.udf.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sparknative.kernels.gguf.GgmlType;
import org.sparknative.kernels.gguf.GgufFile;
import org.sparknative.kernels.llama.GgufLlama;
import org.sparknative.kernels.llama.LlamaConfig;
import org.sparknative.kernels.llama.Tensor;

/**
 * The GGUF benchmark's parts that do not time anything: the synthetic files (the stories110M layout at a tiny
 * shape), the bytes-per-step arithmetic, llama-batched-bench's output parsing and command, and the report. One
 * tiny end-to-end run of ours checks the measuring loop runs; its figures are not looked at.
 */
class GgufBenchmarkTest {
    /** The stories110M layout (square attention, SwiGLU, shared classifier), tiny: blocks of 32 everywhere. */
    private static final LlamaConfig TINY = LlamaConfig.parse("dim=64,hidden=128,layers=2,heads=4,kv_heads=4,vocab=320,seq=64");

    @TempDir
    Path dir;

    @Test
    void theSyntheticFileOfEachTypeIsALlamaModelOfThatTypeWithATokenizer() {
        for (GgmlType type : List.of(GgmlType.F32, GgmlType.F16, GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.BF16)) {
            GgufBenchmark.Model m = GgufBenchmark.model(dir, TINY, type, 7);
            GgufFile f = GgufFile.open(m.file());
            GgufLlama g = GgufLlama.of(f);
            assertEquals(TINY, g.config(), type.ggmlName());
            for (Tensor t : new Tensor[] {Tensor.WQ, Tensor.WK, Tensor.WV, Tensor.WO, Tensor.W1, Tensor.W2, Tensor.W3}) {
                assertEquals(type, g.tensor(t, 1).type(), type + " " + t);
            }
            assertEquals(type, g.tensor(Tensor.TOKEN_EMBEDDING, 0).type());
            assertEquals(GgmlType.F32, g.tensor(Tensor.RMS_ATT, 0).type());
            assertTrue(f.tensors().stream().noneMatch(t -> t.name().equals("output.weight")), "shared classifier, as stories110M");
            // what llama.cpp needs to load the vocabulary
            assertEquals("llama", f.getString("tokenizer.ggml.model"));
            assertEquals(TINY.vocabSize(), f.getStringArray("tokenizer.ggml.tokens").length);
            assertEquals("<0x0A>", f.getStringArray("tokenizer.ggml.tokens")[3 + 10]);
            assertEquals(TINY.vocabSize(), f.getFloatArray("tokenizer.ggml.scores").length);
            // 7 matrices per layer and the classifier (the embedding), in the type's bytes
            long params = 2L * (4 * 64 * 64 + 3 * 64 * 128) + 320L * 64;
            assertEquals(params, m.matmulParams());
            assertEquals(type.byteSize(params), m.weightBytes(), type.ggmlName());
            assertEquals(2L * 2 * 2 * 64, m.kvBytesPerPosition()); // K and V, F16, 2 layers, kv_dim 64
        }
    }

    @Test
    void anExistingFileOfTheSameShapeAndTypeIsReused() throws Exception {
        GgufBenchmark.Model a = GgufBenchmark.model(dir, TINY, GgmlType.Q8_0, 7);
        long written = java.nio.file.Files.getLastModifiedTime(a.file()).toMillis();
        Thread.sleep(20);
        GgufBenchmark.Model b = GgufBenchmark.model(dir, TINY, GgmlType.Q8_0, 7);
        assertEquals(a.file(), b.file());
        assertEquals(written, java.nio.file.Files.getLastModifiedTime(b.file()).toMillis());
    }

    @Test
    void bytesAndFlopsPerStepFollowTheSlotsAndTheCachedLength() {
        GgufBenchmark.Plan plan = new GgufBenchmark.Plan(TINY, List.of(GgmlType.F32), new int[] {1, 8}, 2, 16, 64, 3, 1);
        GgufBenchmark.Model m = new GgufBenchmark.Model(GgmlType.F32, Path.of("x"), 0, 1000, 500, 10, TINY);
        assertEquals(1000 + 8 * 10 * 48.0, m.bytesPerStep(8, plan), 1e-9); // average cached length 16 + 64 / 2
        assertEquals(2 * 500 + 4.0 * 2 * 64 * 48, m.flopsPerToken(plan), 1e-9);
        assertEquals(80, plan.context());
        assertEquals(8, plan.maxSlots());
    }

    /** Captured from llama-batched-bench (ggml-org/llama.cpp v0.5.0, de3ff815) on stories260K.gguf, -npl 1,8. */
    private static final String SAMPLE = """
        0.00.003.004 W llama_context: n_ctx is not divisible by n_seq_max - rounding down to 4096
        , \
        0.00.003.018 W llama_context: n_ctx_seq (512) > n_ctx_train (128) -- possible training context overflow
        {"n_kv_max": 4096, "n_batch": 2048, "n_ubatch": 512, "flash_attn": -1, "is_pp_shared": 0, \
        "n_gpu_layers": -1, "n_threads": 2, "n_threads_batch": 2, "pp": 16, "tg": 64, "pl": 1, "n_kv": 80, \
        "t_pp": 0.000663, "speed_pp": 24132.730469, "t_tg": 0.006617, "speed_tg": 9672.056641, "t": 0.007280, \
        "speed": 10989.010742}
        {"n_kv_max": 4096, "n_batch": 2048, "n_ubatch": 512, "flash_attn": -1, "is_pp_shared": 0, \
        "n_gpu_layers": -1, "n_threads": 2, "n_threads_batch": 2, "pp": 16, "tg": 64, "pl": 8, "n_kv": 640, \
        "t_pp": 0.002736, "speed_pp": 46783.625000, "t_tg": 0.032665, "speed_tg": 15674.269531, \
        "t": 0.035401, "speed": 18078.585938}
        """;

    @Test
    void theBatchedBenchJsonLinesGiveSpeedTgPerSequenceCount() {
        Map<Integer, Double> tg = GgufBenchmark.parseBatchedBench(SAMPLE);
        assertEquals(List.of(1, 8), List.copyOf(tg.keySet()));
        assertEquals(9672.056641, tg.get(1), 1e-9);
        assertEquals(15674.269531, tg.get(8), 1e-9);
        assertTrue(GgufBenchmark.parseBatchedBench("| PP | TG |\nno results\n").isEmpty());
    }

    @Test
    void theLlamaCommandHasRoomForEverySequenceAndTheSameWork() {
        GgufBenchmark.Plan plan = new GgufBenchmark.Plan(TINY, List.of(GgmlType.F32), new int[] {1, 8, 32}, 2, 16, 64, 3, 1);
        List<String> cmd = GgufBenchmark.llamaCommand(Path.of("/x/llama-batched-bench"), Path.of("m.gguf"), plan,
            plan.slots(), plan.steps(), List.of("-fa", "on"));
        String s = String.join(" ", cmd);
        assertTrue(s.startsWith("/x/llama-batched-bench -m m.gguf -c 2560 "), s);
        assertTrue(s.contains(" -npp 16 -ntg 64 -npl 1,8,32 -t 2 -tb 2 --output-format jsonl -fa on"), s);
    }

    @Test
    void oursRunsAndTheReportHasEveryRowAndTheGoals() {
        GgufBenchmark.Plan plan = new GgufBenchmark.Plan(TINY, List.of(GgmlType.F32, GgmlType.Q8_0), new int[] {1, 3}, 2,
            4, 3, 2, 1);
        List<GgufBenchmark.Row> rows = new java.util.ArrayList<>();
        for (GgmlType t : plan.types()) {
            rows.addAll(GgufBenchmark.run(dir, t, plan, null, List.of(), dir.resolve("log")));
        }
        assertEquals(4, rows.size());
        for (GgufBenchmark.Row r : rows) {
            assertEquals(2, r.ours().tokensPerSecond().length);
            assertTrue(r.ours().median() > 0 && r.ours().min() <= r.ours().max());
            assertFalse(r.llama().present());
        }
        String table = GgufBenchmark.table(rows, plan);
        assertEquals(2 + 4, table.lines().count(), table);
        assertTrue(table.lines().anyMatch(l -> l.startsWith("| Q8_0 | ") && l.contains("| 3 |")), table);
        assertTrue(GgufBenchmark.goals(rows).contains("Q8_0 / F32 at 1 slot"), GgufBenchmark.goals(rows));
    }

    @Test
    void theMedianAndRangeOfRuns() {
        GgufBenchmark.Runs r = new GgufBenchmark.Runs(new double[] {3, 1, 2, 10});
        assertEquals(2.5, r.median());
        assertEquals(1, r.min());
        assertEquals(10, r.max());
        assertTrue(Double.isNaN(new GgufBenchmark.Runs(new double[0]).median()));
    }
}

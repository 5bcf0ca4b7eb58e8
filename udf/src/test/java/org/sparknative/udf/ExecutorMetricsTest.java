package org.sparknative.udf;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.vector.Float8Vector;
import org.apache.arrow.vector.IntVector;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sparknative.kernels.llama.CheckpointFormat;
import org.sparknative.kernels.llama.LlamaConfig;
import org.sparknative.kernels.llama.SyntheticCheckpoint;
import org.sparknative.kernels.llama.TokenizerWriter;
import org.sparknative.udf.generate.GenerationScheduler;
import org.sparknative.udf.generate.GenerationParams;
import org.sparknative.udf.generate.GenerationPipeline;
import org.sparknative.udf.generate.GenerationSpec;
import org.sparknative.udf.generate.ModelRegistry;
import org.sparknative.udf.integrate.IntegrateUdf;

/** The executor-wide counters move by exactly the work done, and the KV cache level falls back when a task ends. */
class ExecutorMetricsTest {
    @TempDir
    Path tmp;

    @Test
    void integrateCountsRowsAndKernelTime() {
        ExecutorMetrics.Snapshot before = ExecutorMetrics.snapshot();
        try (BufferAllocator alloc = ExecutorRuntime.newTaskAllocator("metrics test");
             Float8Vector a = new Float8Vector("a", alloc); Float8Vector b = new Float8Vector("b", alloc);
             IntVector n = new IntVector("n", alloc)) {
            int rows = 300;
            a.allocateNew(rows);
            b.allocateNew(rows);
            n.allocateNew(rows);
            for (int i = 0; i < rows; i++) {
                a.set(i, 0.0);
                b.set(i, 1.0 + i);
                n.set(i, 20_000);
            }
            a.setValueCount(rows);
            b.setValueCount(rows);
            n.setValueCount(rows);
            IntegrateUdf.apply(a, b, n, alloc, BadRowPolicy.FAIL, RowLabels.positions(0)).x().close();
        }
        ExecutorMetrics.Snapshot after = ExecutorMetrics.snapshot();
        assertEquals(300, after.integrateRows() - before.integrateRows());
        assertTrue(after.nativeNanos() > before.nativeNanos(), "no native time counted");
        assertEquals(1, after.nativeLibraryLoads());
    }

    @Test
    void generateCountsRowsTokensModelBytesAndTheKvCacheInUse() throws Exception {
        LlamaConfig cfg = new LlamaConfig(32, 64, 2, 4, 2, 300, 40, false);
        Path model = tmp.resolve("m.bin");
        Path tok = tmp.resolve("tok.bin");
        SyntheticCheckpoint.write(model, cfg, 5, CheckpointFormat.V1);
        TokenizerWriter.writeByteLevel(tok, 300);
        ExecutorMetrics.Snapshot before = ExecutorMetrics.snapshot();
        GenerationSpec spec = new GenerationSpec(model.toString(), tok.toString(), Backend.CPU, 2, 4, 1, BadRowPolicy.ROW_ERROR);
        GenerationScheduler.Result[] results;
        long kvDuringTask;
        try (TaskResources task = new TaskResources()) {
            GenerationScheduler batcher = GenerationPipeline.newScheduler(ModelRegistry.get(model, tok), spec, 1, 0, 100, task);
            kvDuringTask = ExecutorMetrics.kvCacheBytes() - before.kvCacheBytes();
            GenerationParams p = new GenerationParams(7, 0.8f, 0.9f, 3);
            results = batcher.run(new GenerationScheduler.Request[] {
                GenerationScheduler.Request.of("abc".getBytes(StandardCharsets.UTF_8), p),
                GenerationScheduler.Request.of("hello there".getBytes(StandardCharsets.UTF_8), p),
                GenerationScheduler.Request.nullPrompt()}, RowLabels.positions(0), null);
        }
        ExecutorMetrics.Snapshot after = ExecutorMetrics.snapshot();
        long prompt = 0;
        long completion = 0;
        for (GenerationScheduler.Result r : results) {
            prompt += r.promptTokens();
            completion += r.completionTokens();
        }
        assertTrue(completion > 0);
        assertEquals(3, after.generateRows() - before.generateRows());
        assertEquals(prompt, after.promptTokens() - before.promptTokens());
        assertEquals(completion, after.completionTokens() - before.completionTokens());
        assertEquals(1, after.modelMaps() - before.modelMaps());
        assertEquals(Files.size(model), after.modelMappedBytes() - before.modelMappedBytes());
        assertTrue(after.nativeNanos() > before.nativeNanos(), "no native time counted");
        // 2 slots x 2 layers x 40 positions x kv_dim 16 x (K and V) x 4 bytes, freed with the task.
        assertEquals(2L * 2 * 40 * 16 * 2 * 4, kvDuringTask);
        assertEquals(before.kvCacheBytes(), after.kvCacheBytes());
    }
}

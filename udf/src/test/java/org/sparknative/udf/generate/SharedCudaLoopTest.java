package org.sparknative.udf.generate;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sparknative.kernels.cuda.Cuda;
import org.sparknative.kernels.cuda.CudaLlamaBatch;
import org.sparknative.kernels.cuda.CudaLlamaModel;
import org.sparknative.kernels.llama.CheckpointFormat;
import org.sparknative.kernels.llama.LlamaConfig;
import org.sparknative.kernels.llama.SyntheticCheckpoint;
import org.sparknative.kernels.llama.TokenizerWriter;
import org.sparknative.udf.Backend;
import org.sparknative.udf.BadRowPolicy;
import org.sparknative.udf.ExecutorMetrics;
import org.sparknative.udf.RowLabels;
import org.sparknative.udf.TaskResources;

/**
 * The CUDA backend as an executor runs it, without Spark: four "tasks" (threads) generate through
 * {@link GenerationPipeline} at once and share one weight upload and one decode loop, proved by the
 * counters; each gets the rows it would have got alone. Tagged {@code gpu}: skipped where CUDA is not usable.
 */
@Tag("gpu")
class SharedCudaLoopTest {
    @TempDir
    Path tmp;

    @BeforeEach
    void needsCuda() {
        Assumptions.assumeTrue(Cuda.availability().usable(), Cuda.availability().reason());
        DecodeLoops.closeAll();
    }

    @AfterEach
    void tearDown() {
        DecodeLoops.closeAll();
    }

    private static GenerationScheduler.Request[] rows(int task, int n) {
        GenerationScheduler.Request[] r = new GenerationScheduler.Request[n];
        for (int i = 0; i < n; i++) {
            r[i] = GenerationScheduler.Request.of(("task " + task + " says " + i).getBytes(StandardCharsets.UTF_8),
                new GenerationParams(12, i % 2 == 0 ? 0f : 0.8f, 0.9f, 31L * task + i));
        }
        return r;
    }

    @Test
    void fourConcurrentTasksShareOneUploadAndOneLoop() throws Exception {
        LlamaConfig cfg = new LlamaConfig(64, 160, 2, 4, 2, 300, 64, false);
        Path model = tmp.resolve("m.bin");
        Path tok = tmp.resolve("tok.bin");
        SyntheticCheckpoint.write(model, cfg, 5, CheckpointFormat.V1);
        TokenizerWriter.writeByteLevel(tok, 300);
        ModelRegistry.Entry entry = ModelRegistry.get(model, tok);
        GenerationSpec spec = new GenerationSpec(model.toString(), tok.toString(), Backend.CUDA, 16, 8, 1,
            BadRowPolicy.ROW_ERROR);
        long uploadsBefore = CudaLlamaModel.uploads();
        long metricUploadsBefore = ExecutorMetrics.snapshot().deviceWeightUploads();

        // Each task alone first: what its rows must be whatever shares the loop with them.
        List<GenerationScheduler.Result[]> alone = new ArrayList<>();
        for (int t = 0; t < 4; t++) {
            try (TaskResources res = new TaskResources()) {
                alone.add(GenerationPipeline.newScheduler(entry, spec, 1, 0, 6, res).run(rows(t, 6), RowLabels.positions(0), null));
            }
        }
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            CyclicBarrier start = new CyclicBarrier(4);
            List<Future<GenerationScheduler.Result[]>> together = new ArrayList<>();
            for (int t = 0; t < 4; t++) {
                int task = t;
                together.add(pool.submit(() -> {
                    try (TaskResources res = new TaskResources()) {
                        GenerationScheduler s = GenerationPipeline.newScheduler(entry, spec, 1, 0, 6, res);
                        start.await();
                        return s.run(rows(task, 6), RowLabels.positions(0), null);
                    }
                }));
            }
            for (int t = 0; t < 4; t++) {
                GenerationScheduler.Result[] got = together.get(t).get(120, TimeUnit.SECONDS);
                for (int i = 0; i < got.length; i++) {
                    assertArrayEquals(alone.get(t)[i].completion(), got[i].completion(), "task " + t + " row " + i);
                    assertTrue(got[i].completionTokens() > 0 || got[i].finishReason() == FinishReason.STOP);
                }
            }
        } finally {
            pool.shutdownNow();
        }
        assertEquals(1, CudaLlamaModel.uploads() - uploadsBefore, "one weight upload for every task");
        assertEquals(1, ExecutorMetrics.snapshot().deviceWeightUploads() - metricUploadsBefore);
        List<SharedDecodeLoop.Stats> loops = DecodeLoops.stats();
        assertEquals(1, loops.size(), "one loop: " + loops);
        assertEquals(8, loops.get(0).submissions(), "4 tasks alone, then 4 together");
        assertTrue(loops.get(0).maxSubmittersPerStep() >= 2, "tasks shared steps: " + loops.get(0));
        assertTrue(CudaLlamaBatch.liveDeviceBytes() > 0);
        DecodeLoops.closeAll();
        assertEquals(0, CudaLlamaBatch.liveDeviceBytes(), "the loop's KV cache is freed at shutdown");
    }
}

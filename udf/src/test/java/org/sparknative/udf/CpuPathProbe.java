package org.sparknative.udf;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.vector.Float8Vector;
import org.apache.arrow.vector.IntVector;
import org.apache.arrow.vector.VarCharVector;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.sparknative.kernels.llama.LlamaConfig;
import org.sparknative.udf.generate.GenerationScheduler;
import org.sparknative.udf.generate.GenerateUdf;
import org.sparknative.udf.generate.GenerationParams;
import org.sparknative.udf.generate.GenerationPipeline;
import org.sparknative.udf.generate.GenerationSpec;
import org.sparknative.udf.generate.ModelRegistry;
import org.sparknative.udf.generate.SyntheticModels;
import org.sparknative.udf.integrate.IntegrateUdf;

/**
 * Run in a fresh JVM by {@link CpuPathTest}: integrates a batch and generates from a synthetic model on the
 * {@code cpu} backend, through the UDF classes an executor uses, then prints {@code OK}. The test reads the
 * JVM's class-loading log to prove no CUDA binding was loaded.
 */
public final class CpuPathProbe {
    private CpuPathProbe() {
    }

    public static void main(String[] args) throws Exception {
        try (BufferAllocator alloc = ExecutorRuntime.newTaskAllocator("cpu path probe");
             Float8Vector a = new Float8Vector("a", alloc);
             Float8Vector b = new Float8Vector("b", alloc);
             IntVector n = new IntVector("n", alloc)) {
            a.allocateNew(1);
            b.allocateNew(1);
            n.allocateNew(1);
            a.set(0, 0.0);
            b.set(0, 1.0);
            n.set(0, 1000);
            a.setValueCount(1);
            b.setValueCount(1);
            n.setValueCount(1);
            try (Float8Vector x = IntegrateUdf.apply(a, b, n, alloc, BadRowPolicy.FAIL, RowLabels.positions(0)).x()) {
                if (!(x.get(0) < 0)) {
                    throw new AssertionError("integral of x(x-1) over [0, 1] must be negative, got " + x.get(0));
                }
            }
            Path dir = Files.createTempDirectory(Path.of(args[0]), "models");
            LlamaConfig shape = LlamaConfig.parse("dim=16,hidden=32,layers=1,heads=2,kv_heads=1,vocab=300,seq=32");
            Path ckpt = SyntheticModels.checkpoint(dir, shape, 7);
            Path tok = SyntheticModels.byteLevelTokenizer(dir, 300);
            GenerationSpec spec = new GenerationSpec(ckpt.toString(), tok.toString(), Backend.CPU, 2, 8, 1,
                BadRowPolicy.ROW_ERROR);
            try (TaskResources task = new TaskResources();
                 VarCharVector prompts = new VarCharVector("prompt", alloc)) {
                GenerationScheduler batcher = GenerationPipeline.newScheduler(ModelRegistry.get(ckpt, tok), spec, 1, 0, 100, task);
                prompts.allocateNew(1);
                prompts.setSafe(0, "hello".getBytes(StandardCharsets.UTF_8));
                prompts.setValueCount(1);
                try (VectorSchemaRoot out = GenerateUdf.apply(prompts, GenerateUdf.Options.none(),
                    new GenerationParams(4, 0f, 1f, 1), batcher, alloc, RowLabels.positions(0), null)) {
                    if (out.getRowCount() != 1) {
                        throw new AssertionError("one row expected");
                    }
                }
            }
        }
        System.out.println("OK");
    }
}

package org.sparknative.spark.generate;

import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.vector.VarCharVector;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.spark.TaskContext;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.api.java.UDF1;
import org.apache.spark.sql.types.DataTypes;
import org.sparknative.spark.SparkTasks;
import org.sparknative.udf.ExecutorRuntime;
import org.sparknative.udf.TaskResources;
import org.sparknative.udf.generate.GenerationScheduler;
import org.sparknative.udf.generate.GenerateUdf;
import org.sparknative.udf.generate.GenerationParams;
import org.sparknative.udf.generate.GenerationSpec;

/**
 * {@code generate(prompt)} for SQL and the DataFrame API: the completion text of one prompt per call,
 * with the registered model and default settings. Convenient, not fast: each call is a batch of one
 * (use {@link GenerateTransform} for throughput). A null prompt gives null; a row that fails (such as a
 * prompt longer than the context) fails the query with the row's finish reason.
 *
 * <p>Each task keeps one single-slot pipeline for its calls and frees it when the task ends (on CUDA its calls
 * join the executor's shared decode loop instead).
 */
public final class GenerateFunctions {
    /** The SQL name. */
    public static final String NAME = "generate";

    private static final Map<Long, Pipeline> PER_TASK = new ConcurrentHashMap<>();

    private GenerateFunctions() {
    }

    private record Pipeline(TaskResources resources, BufferAllocator allocator, GenerationScheduler batcher) {
    }

    /** Registers {@code generate(prompt)} in {@code spark}. */
    public static void register(SparkSession spark, GenerationSpec spec, GenerationParams defaults) {
        spark.udf().register(NAME, (UDF1<String, String>) prompt -> generateOne(spec, defaults, prompt),
            DataTypes.StringType);
    }

    static String generateOne(GenerationSpec spec, GenerationParams defaults, String prompt) {
        if (prompt == null) {
            return null;
        }
        TaskContext ctx = TaskContext.get();
        long key = ctx == null ? -Thread.currentThread().getId() : ctx.taskAttemptId();
        Pipeline p = PER_TASK.computeIfAbsent(key, k -> {
            TaskResources res = SparkTasks.resourcesForCurrentTask();
            BufferAllocator alloc = res.add(ExecutorRuntime.newTaskAllocator("generate() " + SparkTasks.taskLabel()));
            GenerationScheduler b = GenerateTransform.newTaskBatcher(spec, 1, res); // one row per call
            res.add(() -> PER_TASK.remove(k));
            return new Pipeline(res, alloc, b);
        });
        try (VarCharVector v = new VarCharVector("prompt", p.allocator())) {
            v.allocateNew(1);
            v.setSafe(0, prompt.getBytes(StandardCharsets.UTF_8));
            v.setValueCount(1);
            try (VectorSchemaRoot out = GenerateUdf.apply(v, GenerateUdf.Options.none(), defaults, p.batcher(),
                p.allocator(), i -> "prompt '" + abbreviate(prompt) + "'", null)) {
                VarCharVector c = (VarCharVector) out.getVector("completion");
                if (c.isNull(0)) {
                    String reason = new String(((VarCharVector) out.getVector("finish_reason")).get(0), StandardCharsets.UTF_8);
                    throw new IllegalArgumentException("generate(prompt): " + reason);
                }
                return new String(c.get(0), StandardCharsets.UTF_8);
            }
        } finally {
            if (ctx == null) {
                p.resources().close();
            }
        }
    }

    private static String abbreviate(String prompt) {
        return prompt.length() <= 40 ? prompt : prompt.substring(0, 40) + "...";
    }
}

package org.sparknative.job;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.apache.spark.api.java.function.FilterFunction;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.storage.StorageLevel;
import org.apache.spark.util.LongAccumulator;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sparknative.kernels.llama.CheckpointFormat;
import org.sparknative.kernels.llama.LlamaConfig;
import org.sparknative.kernels.llama.SyntheticCheckpoint;
import org.sparknative.kernels.llama.TokenizerWriter;
import org.sparknative.spark.generate.GenerateTransform;
import org.sparknative.spark.integrate.IntegrateTransform;
import org.sparknative.udf.Backend;
import org.sparknative.udf.BadRowPolicy;
import org.sparknative.udf.generate.GenerationParams;
import org.sparknative.udf.generate.GenerationSpec;

/**
 * The transformations' counters count each row once when a partition is computed again: a persisted output
 * whose cached blocks are gone (here: unpersisted) is recomputed by the next action. Spark's LongAccumulator,
 * beside them in the same query, counts those rows twice: the recomputation really happens.
 */
class RetryProofCountsTest {
    private static SparkSession spark;

    @TempDir
    static Path tmp;

    @BeforeAll
    static void start() {
        spark = SparkTestSession.get();
    }

    /** {@code df} with a LongAccumulator counting the rows that pass, computed in the same tasks as what follows. */
    private static Dataset<Row> counted(Dataset<Row> df, LongAccumulator acc) {
        return df.filter((FilterFunction<Row>) r -> {
            acc.add(1);
            return true;
        });
    }

    private static long sum(Dataset<Row> df, String column) {
        return df.agg(org.apache.spark.sql.functions.sum(column)).first().getLong(0);
    }

    @Test
    void generateCountsSurviveARecomputedPersistedOutput() {
        LlamaConfig cfg = new LlamaConfig(32, 64, 1, 4, 2, 300, 48, false);
        Path model = tmp.resolve("m.bin");
        Path tok = tmp.resolve("tok.bin");
        SyntheticCheckpoint.write(model, cfg, 3, CheckpointFormat.V1);
        TokenizerWriter.writeByteLevel(tok, 300);
        List<Row> rows = new ArrayList<>();
        for (int i = 0; i < 30; i++) {
            rows.add(RowFactory.create((long) i, i % 10 == 3 ? null : "prompt " + i));
        }
        Dataset<Row> prompts = spark.createDataFrame(rows, new StructType().add("id", DataTypes.LongType)
            .add("prompt", DataTypes.StringType)).repartition(3);
        LongAccumulator plain = spark.sparkContext().longAccumulator("plain rows");
        GenerationSpec spec = new GenerationSpec(model.toString(), tok.toString(), Backend.CPU, 4, 8, 1, BadRowPolicy.ROW_ERROR);
        GenerateTransform.Result res = GenerateTransform.apply(counted(prompts, plain),
            GenerateTransform.Options.of(spec, new GenerationParams(6, 0.7f, 0.9f, 1)));
        Dataset<Row> out = res.output().persist(StorageLevel.MEMORY_ONLY());
        assertEquals(30, out.count());
        out.unpersist(true);
        assertEquals(30, out.count()); // computed again
        long promptTokens = sum(out, "prompt_tokens"); // and again
        long completionTokens = sum(out, "completion_tokens");
        assertEquals(120, plain.value(), "Spark's own accumulator should count every computation");
        GenerateTransform.Counters c = res.counters();
        assertEquals(30, c.rows().total());
        assertEquals(3, c.errors().total());
        assertEquals(promptTokens, c.promptTokens().total());
        assertEquals(completionTokens, c.completionTokens().total());
    }

    @Test
    void integrateCountsSurviveARecomputedPersistedOutputAndACoalesce() {
        StructType schema = new StructType().add("id", DataTypes.LongType).add("a", DataTypes.DoubleType)
            .add("b", DataTypes.DoubleType).add("n", DataTypes.IntegerType);
        List<Row> rows = new ArrayList<>();
        for (int i = 0; i < 200; i++) {
            rows.add(RowFactory.create((long) i, 0.0, 1.0, i % 50 == 7 ? 0 : 100));
        }
        Dataset<Row> in = spark.createDataFrame(rows, schema).repartition(4);
        LongAccumulator plain = spark.sparkContext().longAccumulator("plain rows");
        IntegrateTransform.Result res = IntegrateTransform.apply(counted(in, plain),
            new IntegrateTransform.Options(16, BadRowPolicy.ROW_ERROR));
        Dataset<Row> out = res.output().persist(StorageLevel.MEMORY_ONLY());
        assertEquals(200, out.count());
        out.unpersist(true);
        assertEquals(200, out.count());
        assertEquals(400, plain.value(), "Spark's own accumulator should count every computation");
        assertEquals(200, res.rows().total());
        assertEquals(4, res.invalidRows().total());
        // A downstream coalesce computes the 4 partitions in one task: they are still 4 partitions to count. (The
        // output is written, not counted: a count() needs no x, so Spark's optimizer never computes it.)
        IntegrateTransform.Result one = IntegrateTransform.apply(in, new IntegrateTransform.Options(16, BadRowPolicy.ROW_ERROR));
        one.output().coalesce(1).write().format("noop").mode("overwrite").save();
        assertEquals(200, one.rows().total());
        assertEquals(4, one.invalidRows().total());
    }
}

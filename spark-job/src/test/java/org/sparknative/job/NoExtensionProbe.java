package org.sparknative.job;

import java.nio.file.Path;
import java.util.List;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.sparknative.kernels.llama.CheckpointFormat;
import org.sparknative.kernels.llama.LlamaConfig;
import org.sparknative.kernels.llama.SyntheticCheckpoint;
import org.sparknative.kernels.llama.TokenizerWriter;
import org.sparknative.spark.generate.GenerateFunctions;
import org.sparknative.spark.generate.GenerateTransform;
import org.sparknative.spark.integrate.IntegrateFunctions;
import org.sparknative.spark.integrate.IntegrateTransform;
import org.sparknative.udf.Backend;
import org.sparknative.udf.BadRowPolicy;
import org.sparknative.udf.generate.GenerationParams;
import org.sparknative.udf.generate.GenerationSpec;

/**
 * Run by {@link NoExtensionTest} in a fresh JVM: a local session started without the SQL extension. Prints
 * {@code key=value} lines: the row-at-a-time SQL functions' values, the DataFrame API's, and the operator in the
 * DataFrame API's plan. Argument: a work folder.
 */
public final class NoExtensionProbe {
    private NoExtensionProbe() {
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

    private static void run(Path dir) {
        SparkSession spark = SparkSession.builder().master("local[2]").appName("no extension")
            .config("spark.ui.enabled", "false").config("spark.driver.host", "127.0.0.1")
            .config("spark.driver.bindAddress", "127.0.0.1").getOrCreate();
        IntegrateFunctions.register(spark, BadRowPolicy.FAIL);
        System.out.println("sql.integrate_f=" + spark.sql("SELECT integrate_f(0.0D, 2.0D, 4)").first().getDouble(0));
        Dataset<Row> rows = spark.createDataFrame(List.of(RowFactory.create(1L, 0.0, 2.0, 4)), new StructType()
            .add("id", DataTypes.LongType).add("a", DataTypes.DoubleType).add("b", DataTypes.DoubleType)
            .add("n", DataTypes.IntegerType)).cache();
        Dataset<Row> out = IntegrateTransform.apply(rows, IntegrateTransform.Options.defaults()).output();
        System.out.println("api.integrate_f=" + out.first().getDouble(4));
        var qe = ((org.apache.spark.sql.classic.Dataset<Row>) out).queryExecution();
        System.out.println("api.plan=" + qe.executedPlan().treeString().replace('\n', ' '));

        Path m = dir.resolve("m.bin");
        Path t = dir.resolve("t.bin");
        LlamaConfig cfg = new LlamaConfig(32, 64, 1, 4, 2, 300, 48, true);
        SyntheticCheckpoint.write(m, cfg, 5, CheckpointFormat.V1);
        TokenizerWriter.writeByteLevel(t, cfg.vocabSize());
        GenerationSpec spec = new GenerationSpec(m.toString(), t.toString(), Backend.CPU, 2, 16, 1, BadRowPolicy.ROW_ERROR);
        GenerationParams defaults = new GenerationParams(6, 0f, 1f, 3);
        GenerateFunctions.register(spark, spec, defaults);
        System.out.println("sql.generate=" + spark.sql("SELECT generate('hello')").first().getString(0));
        Dataset<Row> prompts = spark.createDataFrame(List.of(RowFactory.create("hello")),
            new StructType().add("prompt", DataTypes.StringType));
        System.out.println("api.generate=" + GenerateTransform.apply(prompts, GenerateTransform.Options.of(spec, defaults))
            .output().first().getString(1));
        spark.stop();
    }
}

package org.sparknative.spark.generate;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.catalyst.expressions.Expression;
import org.apache.spark.sql.catalyst.expressions.Literal;
import org.apache.spark.sql.classic.ExpressionUtils;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.IntegralType;
import org.apache.spark.sql.types.NumericType;
import org.apache.spark.sql.types.StructType;
import org.sparknative.kernels.llama.LlamaConfig;
import org.sparknative.spark.ModelFiles;
import org.sparknative.spark.NativeMemory;
import org.sparknative.spark.PartitionCounter;
import org.sparknative.spark.RowIds;
import org.sparknative.spark.TestFaults;
import org.sparknative.spark.sql.GenerateCall;
import org.sparknative.spark.sql.SparkNativeSql;
import org.sparknative.udf.generate.GenerateUdf;
import org.sparknative.udf.generate.GenerationParams;
import org.sparknative.udf.generate.GenerationScheduler;
import org.sparknative.udf.generate.GenerationSpec;
import org.sparknative.udf.generate.KvCachePlan;

/**
 * Batch text generation as a DataFrame transformation: adds {@link GenerateUdf#OUTPUT_COLUMNS} to a
 * DataFrame with a {@code prompt} column (other columns pass through). A thin wrapper over the SQL function:
 * it builds the same {@link GenerateCall} as {@code generate_details(prompt, max_new_tokens => ..., ...)} and
 * selects its fields, so the plan is the same Arrow-batched operator ({@code BatchedGenerate}): each task
 * builds one {@link GenerationScheduler} over the executor's shared model and feeds it its partition in Arrow
 * record batches of {@code recordBatchRows} prompts.
 *
 * <p>Optional per-row input columns: {@code max_new_tokens} (integer), {@code temperature} and
 * {@code top_p} (numeric), {@code seed} (integer), {@code top_k} (integer), {@code repetition_penalty}
 * (numeric) and {@code stop} (a string or an array of strings); {@code id} (integer or string) names the row in
 * error messages ({@link RowIds}) and, when no {@code seed} is given, keys the row's derived seed (a
 * string id through its FNV-1a hash). A line Spark could not parse ({@value RowIds#CORRUPT_RECORD} set) is an
 * error row: null completion, {@code finish_reason = error: malformed input: <the line's start>}.
 *
 * <p>Testing only: {@link TestFaults#FAIL_FIRST_ATTEMPT} makes the first attempt of chosen partitions fail.
 */
public final class GenerateTransform {
    private GenerateTransform() {
    }

    /**
     * @param spec            model, backend and batching
     * @param defaults        settings for rows without their own; its seed is the job seed
     * @param recordBatchRows prompts per Arrow record batch, {@code >= 1}; several times the slot count
     *                        keeps the slots busy between batches
     */
    public record Options(GenerationSpec spec, GenerationParams defaults, int recordBatchRows) implements Serializable {
        public Options {
            if (recordBatchRows < 1) {
                throw new IllegalArgumentException("record batch rows must be >= 1, got " + recordBatchRows);
            }
        }

        /** Record batches of {@code max(256, 8 * slots)} rows. */
        public static Options of(GenerationSpec spec, GenerationParams defaults) {
            return new Options(spec, defaults, Math.max(256, 8 * spec.slots()));
        }
    }

    /**
     * Counters filled as rows finish, visible on the driver as tasks end; a partition computed twice (a lost
     * cached block recomputed, a retried stage, a speculative copy) counts once ({@link PartitionCounter}).
     *
     * @param rows             rows generated, error rows included
     * @param promptTokens     their prompt tokens, BOS included
     * @param completionTokens their generated tokens
     * @param errors           error rows
     */
    public record Counters(PartitionCounter rows, PartitionCounter promptTokens, PartitionCounter completionTokens,
                           PartitionCounter errors) implements Serializable {
        private static final long serialVersionUID = 1L;
    }

    /** The output and its counters. */
    public record Result(Dataset<Row> output, Counters counters) {
    }

    /**
     * Checks the input columns and adds the output columns.
     *
     * @throws IllegalArgumentException naming a missing or mistyped column, or an output column already present
     */
    public static Result apply(Dataset<Row> df, Options options) {
        checkNativeMemory(df.sparkSession(), options.spec(), "slots");
        StructType schema = df.schema();
        List<String> names = Arrays.asList(schema.fieldNames());
        if (!names.contains("prompt")) {
            throw new IllegalArgumentException("generate input has no column 'prompt'; it has " + names);
        }
        if (schema.apply("prompt").dataType() != DataTypes.StringType) {
            throw new IllegalArgumentException("generate input column 'prompt' must be a string, got "
                + schema.apply("prompt").dataType().simpleString());
        }
        for (String out : GenerateUdf.OUTPUT_COLUMNS) {
            if (names.contains(out)) {
                throw new IllegalArgumentException("generate input already has the output column '" + out + "'");
            }
        }
        Column[] cols = new Column[names.size()];
        for (int i = 0; i < cols.length; i++) {
            String c = names.get(i);
            Column col = df.col("`" + c + "`");
            DataType t = schema.apply(c).dataType();
            cols[i] = switch (c) {
                case "max_new_tokens", "top_k" -> requireType(c, t, true).apply(col).cast(DataTypes.IntegerType).as(c);
                case "temperature", "top_p", "repetition_penalty" ->
                    requireType(c, t, false).apply(col).cast(DataTypes.FloatType).as(c);
                case "seed" -> requireType(c, t, true).apply(col).cast(DataTypes.LongType).as(c);
                case "stop" -> stopColumn(col, t);
                case RowIds.ID -> RowIds.prepareId(col, t, "generate");
                default -> col;
            };
        }
        Dataset<Row> in = df.select(cols);
        SparkNativeSql.install(in.sparkSession());
        var sc = in.sparkSession().sparkContext();
        Counters counters = new Counters(PartitionCounter.register(sc, "generate rows"),
            PartitionCounter.register(sc, "generate prompt tokens"), PartitionCounter.register(sc, "generate completion tokens"),
            PartitionCounter.register(sc, "generate error rows"));
        List<Expression> args = new ArrayList<>();
        args.add(ExpressionUtils.expression(in.col("prompt")));
        for (int k = 0; k < GenerateCall.OPTIONS.size(); k++) {
            String c = GenerateCall.OPTIONS.get(k);
            args.add(names.contains(c) ? ExpressionUtils.expression(in.col(c))
                : Literal.create(null, GenerateCall.OPTION_TYPES.get(k)));
        }
        String model = java.nio.file.Path.of(options.spec().checkpoint()).getFileName().toString();
        GenerateCall call = GenerateCall.of(args, SparkNativeSql.rowIdColumns(in), new GenerateCall.Settings(model, options.spec(), options.defaults(),
            options.recordBatchRows(), false, true, counters));
        Column value = ExpressionUtils.column(call);
        List<Column> out = new ArrayList<>();
        out.add(in.col("*"));
        for (String c : GenerateUdf.OUTPUT_COLUMNS) {
            out.add(value.getField(c).as(c));
        }
        return new Result(in.select(out.toArray(new Column[0])), counters);
    }

    /** The {@code stop} column as ARRAY&lt;STRING&gt;: a string column wrapped in an array, an array of strings as is. */
    private static Column stopColumn(Column col, DataType t) {
        if (t.equals(DataTypes.StringType)) {
            return org.apache.spark.sql.functions.array(col).as("stop");
        }
        if (t instanceof org.apache.spark.sql.types.ArrayType at && at.elementType().equals(DataTypes.StringType)) {
            return col.as("stop");
        }
        throw new IllegalArgumentException("generate input column 'stop' must be a string or an array of strings, got "
            + t.simpleString());
    }

    /** Checks an optional input column's type; returns the identity so calls chain. */
    private static java.util.function.UnaryOperator<Column> requireType(String c, DataType t, boolean integral) {
        if (integral ? !(t instanceof IntegralType) : !(t instanceof NumericType)) {
            throw new IllegalArgumentException("generate input column '" + c + "' must be " + (integral ? "an integer" : "numeric")
                + ", got " + t.simpleString());
        }
        return java.util.function.UnaryOperator.identity();
    }

    /**
     * Checks on the driver, before any task runs, that a task's KV cache fits in the native memory a task may
     * use ({@link NativeMemory}). Reads the model's header where the user named it ({@link ModelFiles}).
     * Not for {@code cuda}: its KV cache lives in device memory, sized on the executor to what the device holds.
     *
     * @param setting the setting's name for the message ({@code --slots} on the command line)
     * @throws IllegalArgumentException naming the setting and the most slots that fit
     * @throws org.sparknative.kernels.llama.CheckpointException if the checkpoint cannot be found or is invalid
     */
    public static void checkNativeMemory(org.apache.spark.sql.SparkSession spark, GenerationSpec spec, String setting) {
        if (spec.backend() == org.sparknative.udf.Backend.CUDA) {
            return;
        }
        org.sparknative.kernels.llama.ModelFile.Info info = ModelFiles.modelInfo(spec.checkpoint(),
            spark.sparkContext().hadoopConfiguration(), spec.contextLength());
        LlamaConfig config = info.config();
        NativeMemory budget = NativeMemory.perTask(spark.sparkContext().getConf(),
            spark.sparkContext().defaultParallelism());
        KvCachePlan.check(config, spec.slots(), spec.kvCache().resolve(info.gguf()), setting, budget.bytesPerTask(),
            budget.what());
    }
}

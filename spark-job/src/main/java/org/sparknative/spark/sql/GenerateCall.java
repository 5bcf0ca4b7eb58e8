package org.sparknative.spark.sql;

import java.io.Serializable;
import java.util.List;
import java.util.Objects;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.catalyst.expressions.Expression;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.sparknative.spark.generate.GenerateTransform;
import org.sparknative.udf.generate.GenerationParams;
import org.sparknative.udf.generate.GenerationSpec;
import scala.collection.immutable.Seq;

/**
 * A text generation call as a Catalyst expression: {@code prompt} (STRING) and the per-row settings
 * {@code max_new_tokens} (INT), {@code temperature} and {@code top_p} (FLOAT), {@code seed} (BIGINT), {@code top_k}
 * (INT), {@code repetition_penalty} (FLOAT) and {@code stop} (ARRAY&lt;STRING&gt;), each
 * a column, a literal, or a null literal for the model's default. Its value is the struct
 * {@link #RESULT_TYPE}, one field per {@link org.sparknative.udf.generate.GenerateUdf#OUTPUT_COLUMNS}: SQL's
 * {@code generate_details(...)}; {@code generate(...)} is its {@code completion} field.
 *
 * <p>Planned as {@link NativeEvalExec}: each task feeds its rows to the executor's continuous batcher in Arrow
 * record batches. Evaluated one row at a time only where the planner cannot take it out of its operator.
 */
public final class GenerateCall extends NativeCall<GenerateCall.Settings> {
    private static final long serialVersionUID = 2L;

    /** The value of a call: the DataFrame API's output columns as one struct. */
    public static final StructType RESULT_TYPE = new StructType()
        .add("completion", DataTypes.StringType, true)
        .add("prompt_tokens", DataTypes.IntegerType, false)
        .add("completion_tokens", DataTypes.IntegerType, false)
        .add("finish_reason", DataTypes.StringType, false)
        .add("ttft_ms", DataTypes.DoubleType, true)
        .add("latency_ms", DataTypes.DoubleType, false);

    /**
     * @param model           the model's name in SQL settings, for {@code EXPLAIN} and messages
     * @param spec            model files, backend, slots, threads
     * @param defaults        settings for rows without their own; its seed is the job seed
     * @param recordBatchRows prompts per Arrow record batch
     * @param failOnError     an error row (prompt too long, bad per-row setting) fails the query naming the row
     *                        and its finish reason ({@code generate()} under {@code fail}); else it is returned
     *                        with its {@code finish_reason}. A null prompt gives a null completion either way.
     * @param detailed        the value is the {@link #RESULT_TYPE} struct ({@code generate_details}, the DataFrame
     *                        API); else the completion STRING ({@code generate})
     * @param counters        the DataFrame API's retry-proof counters, or null
     */
    public record Settings(String model, GenerationSpec spec, GenerationParams defaults, int recordBatchRows,
                           boolean failOnError, boolean detailed, GenerateTransform.Counters counters)
        implements Serializable {
        private static final long serialVersionUID = 1L;

        public Settings {
            Objects.requireNonNull(model, "model");
            Objects.requireNonNull(spec, "spec");
            Objects.requireNonNull(defaults, "defaults");
            if (recordBatchRows < 1) {
                throw new IllegalArgumentException("record batch rows must be >= 1, got " + recordBatchRows);
            }
        }
    }

    /** The argument names after {@code prompt}, in order. */
    public static final List<String> OPTIONS = List.of("max_new_tokens", "temperature", "top_p", "seed", "top_k",
        "repetition_penalty", "stop");
    /** Their types. */
    public static final List<DataType> OPTION_TYPES = List.of(DataTypes.IntegerType, DataTypes.FloatType, DataTypes.FloatType,
        DataTypes.LongType, DataTypes.IntegerType, DataTypes.FloatType, DataTypes.createArrayType(DataTypes.StringType, true));

    private final List<Expression> args; // prompt, then OPTIONS

    /** Catalyst's constructor (its tree copies call it by reflection): the arguments, then context columns. */
    public GenerateCall(Seq<Expression> children, Settings settings) {
        super(children, 1 + OPTIONS.size(), settings);
        this.args = arguments();
    }

    /**
     * @param args    {@code prompt, max_new_tokens, temperature, top_p, seed, top_k, repetition_penalty, stop}, typed
     *                STRING, INT, FLOAT, FLOAT, BIGINT, INT, FLOAT, ARRAY&lt;STRING&gt; (a null literal of the type for
     *                the default)
     * @param context row-id columns to keep for messages and seeds (see {@link NativeCall#context()})
     */
    public static GenerateCall of(List<Expression> args, List<Expression> context, Settings settings) {
        return new GenerateCall(children(args, context), settings);
    }

    /** As {@link #of(List, List, Settings)} without context. */
    public static GenerateCall of(List<Expression> args, Settings settings) {
        return of(args, List.of(), settings);
    }

    @Override
    protected GenerateCall copy(Seq<Expression> newChildren) {
        return new GenerateCall(newChildren, settings());
    }

    @Override
    public String operatorName() {
        return "BatchedGenerate";
    }

    @Override
    public String describeSettings() {
        GenerationSpec s = settings().spec();
        return "model " + settings().model() + ", " + (settings().detailed() ? "details" : "completion")
            + (settings().failOnError() ? ", error rows fail" : "") + ", backend " + s.backend().label() + ", "
            + s.slots() + " slots, record batch " + settings().recordBatchRows() + " rows";
    }

    @Override
    public boolean nullable() {
        return !settings().detailed();
    }

    @Override
    public DataType dataType() {
        return settings().detailed() ? RESULT_TYPE : DataTypes.StringType;
    }

    @Override
    public String prettyName() {
        return settings().detailed() ? GenerateSql.DETAILS_NAME : GenerateSql.NAME;
    }

    /** {@code generate(prompt, max_new_tokens => 16, ...)}: the arguments given, by name after the prompt. */
    @Override
    public String sql() {
        StringBuilder s = new StringBuilder(prettyName()).append('(').append(args.get(0).sql());
        for (int i = 1; i < args.size(); i++) {
            Expression e = args.get(i);
            if (!(e instanceof org.apache.spark.sql.catalyst.expressions.Literal l && l.value() == null)) {
                s.append(", ").append(OPTIONS.get(i - 1)).append(" => ").append(e.sql());
            }
        }
        return s.append(')').toString();
    }

    @Override
    public String toString() {
        return sql();
    }

    @Override
    public Object eval(InternalRow row) {
        Object[] values = new Object[args.size()];
        for (int i = 0; i < values.length; i++) {
            values[i] = args.get(i).eval(row);
        }
        return GenerateBatches.evalOne(settings(), values);
    }
}

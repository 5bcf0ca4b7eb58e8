package org.sparknative.spark.sql;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.spark.sql.catalyst.expressions.Expression;
import org.apache.spark.sql.internal.SQLConf;
import org.apache.spark.sql.types.DataType;
import org.sparknative.udf.BadRowPolicy;
import scala.jdk.javaapi.CollectionConverters;

/**
 * The SQL functions {@code generate(prompt, ...)} (the completion, STRING) and
 * {@code generate_details(prompt, ...)} (the {@link GenerateCall#RESULT_TYPE} struct: completion, token
 * counts, finish reason, time to first token, latency) of {@link SparkNativeExtensions}. After the prompt,
 * optional arguments by position or by name: {@code max_new_tokens} (integer), {@code temperature},
 * {@code top_p} (numeric), {@code seed} (integer) — each a literal or a column —, {@code model} (a string
 * literal naming a model of {@link ModelSettings}), then {@code top_k} (integer, 0 keeps every token) and
 * {@code repetition_penalty} (numeric, 1 is none), literals or columns; llama.cpp applies the penalty, then top-k,
 * before temperature and top-p, and so do these. Then {@code stop}: a string or an array of strings (a literal or a
 * column) at which a row's completion ends. Constant values are checked at analysis time; a column's
 * bad value makes that row an error row.
 *
 * <p>Error rows (a prompt longer than the context under the model's default {@code longPrompts=row-error}, or a
 * bad per-row setting): {@code generate} fails the query naming the row under {@value IntegrateSql#INVALID_ROWS_CONF}
 * {@code = fail} (the default) and returns null under {@code row-error}; {@code generate_details} returns
 * the row with its {@code finish_reason}. Under the model's {@code longPrompts=fail} a long prompt fails the query
 * for both. A null prompt gives a null completion.
 */
public final class GenerateSql {
    /** The SQL name of the completion function. */
    public static final String NAME = "generate";
    /** The SQL name of the struct function. */
    public static final String DETAILS_NAME = "generate_details";

    private static final List<String> PARAMS = List.of("prompt", "max_new_tokens", "temperature", "top_p", "seed", "model",
        "top_k", "repetition_penalty", "stop");

    private GenerateSql() {
    }

    /** @return the type of the call's argument {@code i} (0: prompt, then {@link GenerateCall#OPTIONS}) */
    static DataType argType(int i) {
        return i == 0 ? org.apache.spark.sql.types.DataTypes.StringType : GenerateCall.OPTION_TYPES.get(i - 1);
    }

    /** @return the non-null strings of a {@code stop} array, in order */
    public static List<String> stopStrings(org.apache.spark.sql.catalyst.util.ArrayData a) {
        List<String> out = new ArrayList<>();
        for (int i = 0; i < a.numElements(); i++) {
            if (!a.isNullAt(i)) {
                out.add(a.getUTF8String(i).toString());
            }
        }
        return out;
    }

    /** Builds {@code generate} ({@code detailed} false) or {@code generate_details} from SQL arguments. */
    static Expression build(List<Expression> args, boolean detailed) {
        String fn = detailed ? DETAILS_NAME : NAME;
        SqlArguments in = SqlArguments.match(fn, PARAMS, 1, args);
        List<Expression> call = new ArrayList<>();
        call.add(in.asString("prompt"));
        Expression maxNew = in.asInteger("max_new_tokens", false);
        Expression temperature = in.asFloat("temperature");
        Expression topP = in.asFloat("top_p");
        Expression seed = in.asLong("seed");
        in.checkConstant("max_new_tokens", maxNew, v -> (Integer) v >= 0 ? null : "must be >= 0, got " + v);
        in.checkConstant("temperature", temperature, v -> (Float) v >= 0f && Float.isFinite((Float) v) ? null
            : "must be finite and >= 0, got " + v);
        in.checkConstant("top_p", topP, v -> (Float) v > 0f && (Float) v <= 1f ? null : "must be in (0, 1], got " + v);
        Expression topK = in.asInteger("top_k", false);
        Expression penalty = in.asFloat("repetition_penalty");
        in.checkConstant("top_k", topK, v -> (Integer) v >= 0 ? null : "must be >= 0, got " + v);
        in.checkConstant("repetition_penalty", penalty, v -> (Float) v > 0f && Float.isFinite((Float) v) ? null
            : "must be finite and > 0, got " + v);
        call.add(maxNew);
        call.add(temperature);
        call.add(topP);
        call.add(seed);
        call.add(topK);
        call.add(penalty);
        Expression stop = in.asStringArray("stop");
        in.checkConstant("stop", stop, v -> {
            org.apache.spark.sql.catalyst.util.ArrayData a = (org.apache.spark.sql.catalyst.util.ArrayData) v;
            try {
                new org.sparknative.udf.generate.GenerationParams(1, 0f, 1f, 0).withStop(stopStrings(a));
                return null;
            } catch (IllegalArgumentException e) {
                return e.getMessage().replaceFirst("^stop ", "");
            }
        });
        call.add(stop);
        String modelName = in.constantString("model", "the name of a model configured as spark.sparknative.model.<name>.path");
        SQLConf conf = SQLConf.get();
        Map<String, String> all = CollectionConverters.asJava(conf.getAllConfs());
        ModelSettings.Model model = ModelSettings.resolve(all, modelName);
        boolean failOnError = !detailed && IntegrateSql.policy(conf) == BadRowPolicy.FAIL;
        return GenerateCall.of(call, new GenerateCall.Settings(model.name(), model.spec(), model.defaults(),
            model.recordBatchRows(), failOnError, detailed, null));
    }
}

package org.sparknative.spark.sql;

import java.util.List;
import java.util.function.Function;
import org.apache.spark.sql.SparkSessionExtensions;
import org.apache.spark.sql.catalyst.FunctionIdentifier;
import org.apache.spark.sql.catalyst.expressions.Expression;
import org.apache.spark.sql.catalyst.expressions.ExpressionInfo;
import scala.Function1;
import scala.Tuple3;
import scala.runtime.AbstractFunction1;
import scala.runtime.BoxedUnit;

/**
 * The project's Spark SQL session extension: {@code spark.sql.extensions=org.sparknative.spark.sql.SparkNativeExtensions}.
 * <ul>
 *   <li>Registers the SQL functions {@code integrate_f(a, b, n)} ({@link IntegrateSql}),
 *       {@code generate(prompt, ...)} and {@code generate_details(prompt, ...)} ({@link GenerateSql}), and
 *       {@code apply_chat_template(messages, ...)} ({@link ChatTemplateSql}), with named arguments.</li>
 *   <li>Plans their calls as Arrow-batched physical operators ({@link NativeEvalRule},
 *       {@link NativeEvalStrategy}, {@link NativeEvalExec}) that read columnar input in bulk
 *       ({@link NativeColumnarRule}).</li>
 * </ul>
 * Every Spark client gets the batched path through it: SQL, the DataFrame API of any language, Spark
 * Connect. Without it the row-at-a-time UDFs of {@code IntegrateFunctions} and {@code GenerateFunctions} are
 * what a job registers.
 */
public final class SparkNativeExtensions extends AbstractFunction1<SparkSessionExtensions, BoxedUnit> {
    /** This class's name, for {@code spark.sql.extensions}. */
    public static final String CLASS_NAME = SparkNativeExtensions.class.getName();

    @Override
    public BoxedUnit apply(SparkSessionExtensions ext) {
        ext.injectFunction(function(IntegrateSql.NAME, "integrate_f(a, b, n) - the left Riemann sum of f(x) = x*(x-1) "
            + "over [a, b] with n intervals, computed by the native kernel in Arrow record batches.",
            "a DOUBLE, b DOUBLE, n INT or BIGINT", IntegrateSql::build));
        ext.injectFunction(function(GenerateSql.NAME, "generate(prompt[, max_new_tokens, temperature, top_p, seed, model])"
            + " - the completion of prompt by a Llama-architecture model, batched on the executor.",
            "prompt STRING; by name: max_new_tokens => INT, temperature => FLOAT, top_p => FLOAT, seed => BIGINT, "
            + "model => 'name'", args -> GenerateSql.build(args, false)));
        ext.injectFunction(function(GenerateSql.DETAILS_NAME, "generate_details(prompt[, ...]) - as generate(), as a "
            + "struct: completion, prompt_tokens, completion_tokens, finish_reason, ttft_ms, latency_ms.",
            "as generate()", args -> GenerateSql.build(args, true)));
        ext.injectFunction(function(ChatTemplateCall.NAME, "apply_chat_template(messages[, model, add_generation_prompt]) - "
            + "a conversation rendered into an instruct model's prompt by its chat template (the GGUF model's "
            + "tokenizer.chat_template, or spark.sparknative.generate.chatTemplate).",
            "messages ARRAY<STRUCT<role STRING, content STRING>> or ARRAY<MAP<STRING, STRING>>; by name: model => 'name', "
            + "add_generation_prompt => BOOLEAN (default true)", ChatTemplateSql::build));
        ext.injectOptimizerRule(session -> new NativeEvalRule());
        ext.injectPlannerStrategy(session -> new NativeEvalStrategy());
        ext.injectColumnar(session -> new NativeColumnarRule());
        return BoxedUnit.UNIT;
    }

    private static Tuple3<FunctionIdentifier, ExpressionInfo, Function1<scala.collection.immutable.Seq<Expression>, Expression>>
        function(String name, String usage, String arguments, Function<List<Expression>, Expression> build) {
        ExpressionInfo info = new ExpressionInfo(SparkNativeExtensions.class.getName(), null, name, usage, arguments,
            "", "", "misc_funcs", "0.1.0", "", "");
        Function1<scala.collection.immutable.Seq<Expression>, Expression> builder =
            args -> build.apply(Catalyst.list(args));
        return new Tuple3<>(FunctionIdentifier.apply(name), info, builder);
    }
}

package org.sparknative.spark.generate;

import java.util.ArrayList;
import java.util.List;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.api.java.UDF1;
import org.apache.spark.sql.catalyst.expressions.Expression;
import org.apache.spark.sql.catalyst.expressions.Literal;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.classic.ExpressionUtils;
import org.apache.spark.unsafe.types.UTF8String;
import org.sparknative.spark.sql.ChatTemplateCall;
import org.sparknative.spark.sql.GenerateCall;
import org.sparknative.spark.sql.SparkNativeSql;
import org.sparknative.udf.BadRowPolicy;
import org.sparknative.udf.generate.ChatTemplate;
import org.sparknative.spark.sql.SparkNativeExtensions;
import org.sparknative.udf.generate.GenerationParams;
import org.sparknative.udf.generate.GenerationSpec;

/**
 * {@code generate(prompt)} as a row-at-a-time UDF, for sessions without the SQL extension
 * ({@link SparkNativeExtensions}, which plans {@code generate()} batched and takes named arguments): the
 * completion text of one prompt per call, with the given model and default settings. Convenient, not fast:
 * each call is a batch of one. A null prompt gives null; a row that fails (such as a prompt longer than the
 * context) fails the query with the row's finish reason. It evaluates the same {@link GenerateCall} the
 * extension plans, one row at a time.
 *
 * <p>Chat templates: {@link #applyChatTemplate(Column, ChatTemplate)} is SQL's {@code apply_chat_template(messages)}
 * as a column, with the template of {@link #chatTemplate(SparkSession, String)}.
 */
public final class GenerateFunctions {
    /** The SQL name. */
    public static final String NAME = "generate";

    private GenerateFunctions() {
    }

    /** Registers {@code generate(prompt)} in {@code spark}, unless its SQL extension already provides it. */
    public static void register(SparkSession spark, GenerationSpec spec, GenerationParams defaults) {
        if (org.sparknative.spark.sql.SparkNativeSql.hasExtension(spark)) {
            return;
        }
        String model = java.nio.file.Path.of(spec.checkpoint()).getFileName().toString();
        GenerateCall.Settings settings = new GenerateCall.Settings(model, spec, defaults, 1, true, false, null);
        spark.udf().register(NAME, (UDF1<String, String>) prompt -> {
            if (prompt == null) {
                return null;
            }
            List<Expression> args = new ArrayList<>();
            args.add(Literal.create(UTF8String.fromString(prompt), DataTypes.StringType));
            for (var t : GenerateCall.OPTION_TYPES) {
                args.add(Literal.create(null, t));
            }
            Object out = GenerateCall.of(args, settings).eval(null);
            return out == null ? null : out.toString();
        }, DataTypes.StringType);
    }

    /**
     * The chat template for {@link #applyChatTemplate}: the explicit one of {@value ChatTemplates#CONF} in
     * {@code spark}'s settings (its text or a file), else the GGUF model's own (see {@link ChatTemplates}). Read here,
     * on the driver, once; the template travels with the plan.
     *
     * @param model the model as the user names it ({@link org.sparknative.udf.generate.GenerationSpec#checkpoint()})
     * @throws IllegalArgumentException naming the setting, the model file or the key, if there is no template or it does
     *                                  not parse
     */
    public static ChatTemplate chatTemplate(SparkSession spark, String model) {
        return ChatTemplates.resolve(spark.conf().get(ChatTemplates.CONF, null), ChatTemplates.CONF, model);
    }

    /**
     * SQL's {@code apply_chat_template(messages)} for the DataFrame API: each row's messages rendered into its prompt,
     * ending with the assistant's header ({@code add_generation_prompt}), for {@link GenerateTransform}'s
     * {@code prompt} column. An invalid row fails the query (see {@link ChatTemplateCall}); a null one gives null.
     *
     * @param messages an {@code ARRAY<STRUCT<role: STRING, content: STRING>>} or {@code ARRAY<MAP<STRING, STRING>>}
     *                 column
     * @throws IllegalArgumentException if the column is of another type
     */
    public static Column applyChatTemplate(Column messages, ChatTemplate template) {
        return ExpressionUtils.column(ChatTemplateCall.of(ExpressionUtils.expression(messages), List.of(), template,
            true, true));
    }

    /**
     * As {@link #applyChatTemplate(Column, ChatTemplate)} over {@code df}'s column {@code messages}, with a choice for
     * invalid rows: {@link BadRowPolicy#FAIL} fails the query naming the row by {@code df}'s {@code id} or input row
     * ({@link org.sparknative.spark.RowIds}); {@link BadRowPolicy#ROW_ERROR} gives it a null prompt (so generation
     * makes it an error row) and logs why on the executor.
     */
    public static Column applyChatTemplate(Dataset<Row> df, String messages, ChatTemplate template, boolean addGenerationPrompt,
                                           BadRowPolicy invalidRows) {
        BadRowPolicy.INVALID_ROWS.check(invalidRows);
        List<Expression> context = new ArrayList<>();
        for (Expression e : SparkNativeSql.rowIdColumns(df)) {
            if (!(e instanceof org.apache.spark.sql.catalyst.expressions.NamedExpression n)
                || !n.name().equals(org.sparknative.spark.RowIds.CORRUPT_RECORD)) {
                context.add(e);
            }
        }
        return ExpressionUtils.column(ChatTemplateCall.of(ExpressionUtils.expression(df.col("`" + messages + "`")), context,
            template, addGenerationPrompt, invalidRows == BadRowPolicy.FAIL));
    }
}

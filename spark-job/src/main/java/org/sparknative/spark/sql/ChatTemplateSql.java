package org.sparknative.spark.sql;

import java.util.List;
import java.util.Map;
import org.apache.spark.sql.AnalysisException;
import org.apache.spark.sql.catalyst.expressions.Expression;
import org.apache.spark.sql.internal.SQLConf;
import org.apache.spark.sql.types.DataTypes;
import org.sparknative.spark.generate.ChatTemplates;
import org.sparknative.udf.BadRowPolicy;
import org.sparknative.udf.generate.ChatTemplate;
import scala.jdk.javaapi.CollectionConverters;

/**
 * The SQL function {@code apply_chat_template(messages[, model][, add_generation_prompt])} of
 * {@link SparkNativeExtensions}: a conversation rendered into the prompt text of an instruct model, for
 * {@code generate(apply_chat_template(messages), ...)}. Arguments by position or by name:
 * <ul>
 *   <li>{@code messages}: {@code ARRAY<STRUCT<role: STRING, content: STRING>>} or {@code ARRAY<MAP<STRING, STRING>>};</li>
 *   <li>{@code model}: a string literal naming a model of {@link ModelSettings}, as {@code generate()}'s (default: the
 *       same default model);</li>
 *   <li>{@code add_generation_prompt}: a BOOLEAN literal, default true (end with the assistant's header, which is
 *       what generation wants; Hugging Face's default is false).</li>
 * </ul>
 * The template is read once, when the query is analyzed, on the driver: {@value ChatTemplates#CONF} where it is set
 * (the template's text, or a file), else the model's GGUF metadata {@value ChatTemplate#METADATA_KEY}
 * ({@link ChatTemplates}). A model without one (a llama2.c checkpoint, stories260K.gguf) is an analysis error that
 * says to set {@value ChatTemplates#CONF}. Invalid rows follow {@value IntegrateSql#INVALID_ROWS_CONF}, as
 * {@code generate()}'s error rows do (see {@link ChatTemplateCall}).
 */
final class ChatTemplateSql {
    private static final List<String> PARAMS = List.of("messages", "model", "add_generation_prompt");

    private ChatTemplateSql() {
    }

    static Expression build(List<Expression> args) {
        String fn = ChatTemplateCall.NAME;
        SqlArguments in = SqlArguments.match(fn, PARAMS, 1, args);
        Expression messages = in.get("messages");
        String problem = ChatTemplateCall.typeProblem(messages.dataType());
        if (problem != null) {
            throw SqlArguments.error(fn + "(): argument 'messages' " + problem);
        }
        String modelName = in.constantString("model", "the name of a model configured as spark.sparknative.model.<name>.path");
        boolean generationPrompt = true;
        Expression g = in.get("add_generation_prompt");
        if (g != null) {
            if (!g.foldable() || !g.dataType().equals(DataTypes.BooleanType) || g.eval(null) == null) {
                throw SqlArguments.error(fn + "(): argument 'add_generation_prompt' must be a BOOLEAN literal, got " + g.sql());
            }
            generationPrompt = (Boolean) g.eval(null);
        }
        SQLConf conf = SQLConf.get();
        Map<String, String> all = CollectionConverters.asJava(conf.getAllConfs());
        String explicit = all.get(ChatTemplates.CONF);
        String model = null;
        // Without an explicit template the model is where the template comes from, resolved as generate() resolves
        // it. With one, the model only gives bos_token and eos_token: the named model, else the default one if there is
        // one, else none (<s> and </s>).
        if (modelName != null || explicit == null) {
            model = model(all, modelName, fn);
        } else {
            try {
                model = model(all, null, fn);
            } catch (Exception e) {
                model = null;
            }
        }
        ChatTemplate template;
        try {
            template = ChatTemplates.resolve(explicit, ChatTemplates.CONF, model);
        } catch (IllegalArgumentException e) {
            throw SqlArguments.error(fn + "(): " + e.getMessage());
        }
        boolean failOnError = IntegrateSql.policy(conf) == BadRowPolicy.FAIL;
        return ChatTemplateCall.of(messages, List.of(), template, generationPrompt, failOnError);
    }

    /** @return the model's location as {@code generate()} would resolve it, its errors named for {@code fn} */
    private static String model(Map<String, String> conf, String name, String fn) {
        try {
            return ModelSettings.resolve(conf, name).spec().checkpoint();
        } catch (Exception e) {
            if (e instanceof AnalysisException a) {
                throw SqlArguments.error(a.getMessage().replaceFirst("^" + java.util.regex.Pattern.quote(GenerateSql.NAME + "():"),
                    fn + "():"));
            }
            throw e;
        }
    }
}

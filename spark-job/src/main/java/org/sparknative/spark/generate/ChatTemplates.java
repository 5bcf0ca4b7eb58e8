package org.sparknative.spark.generate;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.sparknative.kernels.gguf.GgufFile;
import org.sparknative.spark.ModelFiles;
import org.sparknative.udf.generate.ChatTemplate;

/**
 * Finds, on the driver, the chat template that {@code apply_chat_template} (SQL), {@link GenerateFunctions} (the
 * DataFrame API) and {@code spark-native generate} (rows with {@code messages}) render with, once per query or job;
 * the {@link ChatTemplate} then travels to the executors in the plan, so they never open the model for it.
 * <ol>
 *   <li>An explicit template, where one is given: {@value #CONF} (or the job's {@code --chat-template}): the template
 *       text itself if it contains {@code {{} or {@code {%}, else the path of a file holding it (read here, on the
 *       driver);</li>
 *   <li>else the model's own: the {@value ChatTemplate#METADATA_KEY} of a GGUF model (a local path, a file shipped
 *       with {@code --files}, or a URI, whose header region is read through the Hadoop API).</li>
 * </ol>
 * A llama2.c checkpoint carries no template, nor do GGUF files converted from one (stories260K.gguf): they need the
 * explicit one. {@code bos_token} and {@code eos_token} are the GGUF vocabulary's BOS and EOS pieces where the model is
 * a GGUF file, else {@code <s>} and {@code </s>} (what llama2.c's {@code "\n<s>\n"} and {@code "\n</s>\n"}
 * pieces are, trimmed).
 */
public final class ChatTemplates {
    /** The Spark setting of an explicit chat template: its text, or a file. */
    public static final String CONF = "spark.sparknative.generate.chatTemplate";

    private ChatTemplates() {
    }

    /**
     * @param explicit the explicit template (text or a file path), or null to take the model's
     * @param setting  the setting or option that gave {@code explicit}, for messages ({@value #CONF},
     *                 {@code --chat-template})
     * @param model    the model as the user named it (a path, a {@code --files} name, a URI), or null where no model
     *                 is known (then only an explicit template will do)
     * @return the compiled template
     * @throws IllegalArgumentException naming the setting, the model file or the key: no template, a file that cannot
     *                                  be read, a template that does not parse (for a GGUF model, a
     *                                  {@link org.sparknative.kernels.gguf.GgufException} naming the file and the key)
     */
    public static ChatTemplate resolve(String explicit, String setting, String model) {
        GgufFile gguf = model == null ? null : ModelFiles.ggufHeader(model, hadoop());
        if (explicit != null && !explicit.isBlank()) {
            String[] special = gguf != null ? ChatTemplate.specialTokens(gguf)
                : new String[] {ChatTemplate.DEFAULT_BOS, ChatTemplate.DEFAULT_EOS};
            if (explicit.contains("{{") || explicit.contains("{%")) {
                return ChatTemplate.of(explicit, special[0], special[1], setting);
            }
            Path file = Path.of(explicit.trim());
            String text;
            try {
                text = Files.readString(file, StandardCharsets.UTF_8);
            } catch (IOException | RuntimeException e) {
                throw new IllegalArgumentException(setting + " is neither a template (no {{ or {%) nor a readable file: '"
                    + explicit + "' (" + e + ")");
            }
            return ChatTemplate.of(text, special[0], special[1], setting + " (" + file + ")");
        }
        if (model == null) {
            throw new IllegalArgumentException("no model to take a chat template from: give one with " + setting);
        }
        if (gguf == null) {
            throw new IllegalArgumentException(model + ": a llama2.c checkpoint carries no chat template: give one with "
                + setting + " (its text or a file)");
        }
        if (!ChatTemplate.present(gguf)) {
            throw new IllegalArgumentException(gguf.location() + ": metadata key '" + ChatTemplate.METADATA_KEY + "' is "
                + "missing: the model has no chat template; give one with " + setting + " (its text or a file)");
        }
        return ChatTemplate.of(gguf);
    }

    /** The active session's Hadoop configuration ({@code spark.hadoop.*} included), else Hadoop's defaults. */
    private static org.apache.hadoop.conf.Configuration hadoop() {
        return org.apache.spark.sql.SparkSession.getActiveSession().isDefined()
            ? org.apache.spark.sql.SparkSession.getActiveSession().get().sparkContext().hadoopConfiguration()
            : new org.apache.hadoop.conf.Configuration();
    }
}

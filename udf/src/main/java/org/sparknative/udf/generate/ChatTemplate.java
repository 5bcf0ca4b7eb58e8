package org.sparknative.udf.generate;

import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.interpret.Context;
import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.interpret.TemplateError;
import com.hubspot.jinjava.interpret.TemplateSyntaxException;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;
import com.hubspot.jinjava.tree.Node;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.sparknative.kernels.gguf.GgufException;
import org.sparknative.kernels.gguf.GgufFile;
import org.sparknative.kernels.gguf.GgufTokenizer;

/**
 * An instruct model's chat template: the Jinja text of a GGUF file's {@value #METADATA_KEY} (the
 * {@code chat_template} of a Hugging Face {@code tokenizer_config.json}), or one the user gives, that turns a list of
 * messages into the model's prompt text. Rendered by HubSpot's Jinjava with the settings Hugging Face's
 * {@code apply_chat_template} and llama.cpp use: {@code trim_blocks} and {@code lstrip_blocks} on.
 *
 * <h2>What a template sees</h2>
 * <ul>
 *   <li>{@code messages}: a list of maps with {@code role} and {@code content} (strings), in order; both
 *       {@code message['role']} and {@code message.role} work;</li>
 *   <li>{@code bos_token} and {@code eos_token}: the text of the tokenizer's BOS and EOS tokens (ids 1 and 2), such as
 *       {@code "<s>"} and {@code "</s>"};</li>
 *   <li>{@code add_generation_prompt}: whether to end with the assistant's header so that the model answers;</li>
 *   <li>{@code raise_exception(message)}: stops rendering; the row becomes an error naming the message
 *       ({@link RenderException}).</li>
 * </ul>
 * Jinja as real chat templates use it works: {@code {% for %}} with {@code loop.first}, {@code loop.last},
 * {@code loop.index0}; {@code {% if %}}/{@code elif}/{@code else}; {@code {% set %}}, also of a
 * {@code namespace()}'s attribute; string concatenation with {@code +} and {@code ~}; string escapes such as
 * {@code '\n'} in literals; {@code .strip()} and {@code |trim}; indexing ({@code messages[0]['role']}) and slicing
 * ({@code messages[1:]}); {@code {%- -%}} whitespace control. {@code ChatTemplateTest} renders Llama 2's,
 * Zephyr/TinyLlama's, Mistral Instruct's and ChatML templates to the exact published prompts.
 *
 * <h2>BOS and special tokens</h2>
 * Many templates begin with {@code {{ bos_token }}}, but the project's tokenizer always puts the BOS token before a
 * prompt when it encodes it. So {@link #render} removes <em>one</em> leading {@code bos_token} from the rendered
 * text, as llama.cpp does, so the model sees one BOS, not two. Any other special token in the text (a later
 * {@code <s>}, {@code </s>}, {@code [INST]}, {@code <|im_start|>}) is tokenized as plain text: the llama2.c tokenizer
 * does not parse special tokens, so {@code </s>} inside a prompt becomes the pieces of those characters, not the EOS
 * id. Models whose special markers are ordinary pieces of their vocabulary (Llama 2's {@code [INST]}) get what they
 * were trained on; ChatML markers that are single added tokens in the original tokenizer do not.
 *
 * <h2>Errors and threading</h2>
 * A template that does not parse is refused when it is made ({@link #of}), with a message naming its source (for a
 * GGUF model, the file and the key {@value #METADATA_KEY}) and the line. A template that fails while rendering (its
 * {@code raise_exception}, or an error in an expression) throws {@link RenderException} for that call.
 * Instances are immutable, serializable (the text travels; each JVM compiles it again) and thread-safe: the Jinjava
 * engine is shared, and each thread renders its own parsed copy of the template.
 */
public final class ChatTemplate implements Serializable {
    private static final long serialVersionUID = 1L;

    /** The GGUF metadata key of a model's chat template. */
    public static final String METADATA_KEY = "tokenizer.chat_template";
    /** The BOS text where a tokenizer gives none (llama2.c's vocabularies: the piece {@code "\n<s>\n"}, trimmed). */
    public static final String DEFAULT_BOS = "<s>";
    /** The EOS text where a tokenizer gives none. */
    public static final String DEFAULT_EOS = "</s>";

    /**
     * One chat message.
     *
     * @param role    {@code system}, {@code user}, {@code assistant} or any role the template knows; not null
     * @param content the text; not null
     */
    public record Message(String role, String content) implements Serializable {
        private static final long serialVersionUID = 1L;

        public Message {
            Objects.requireNonNull(role, "role");
            Objects.requireNonNull(content, "content");
        }
    }

    /** A template that failed for one list of messages: its {@code raise_exception(...)} or an expression error. */
    public static final class RenderException extends IllegalArgumentException {
        private static final long serialVersionUID = 1L;

        /** Whether Jinjava found a syntax error in the part of the template this render reached. */
        final boolean syntax;

        RenderException(String message) {
            this(message, false);
        }

        RenderException(String message, boolean syntax) {
            super(message);
            this.syntax = syntax;
        }
    }

    /** What {@code raise_exception(msg)} throws inside Jinjava; {@link #render} turns it into a RenderException. */
    static final class Raised extends RuntimeException {
        private static final long serialVersionUID = 1L;

        Raised(String message) {
            super(message, null, false, false);
        }
    }

    private final String template;
    private final String bosToken;
    private final String eosToken;
    private final String source;
    private transient volatile Engine engine;

    private ChatTemplate(String template, String bosToken, String eosToken, String source) {
        this.template = Objects.requireNonNull(template, "template");
        this.bosToken = Objects.requireNonNull(bosToken, "bosToken");
        this.eosToken = Objects.requireNonNull(eosToken, "eosToken");
        this.source = Objects.requireNonNull(source, "source");
    }

    /**
     * Compiles a template.
     *
     * @param template the Jinja text
     * @param bosToken the text of the BOS token ({@code bos_token})
     * @param eosToken the text of the EOS token ({@code eos_token})
     * @param source   where the text came from, for messages: {@code "model.gguf: metadata key 'tokenizer.chat_template'"}
     * @throws IllegalArgumentException naming {@code source} and the line, if the template does not parse
     */
    public static ChatTemplate of(String template, String bosToken, String eosToken, String source) {
        ChatTemplate t = new ChatTemplate(template, bosToken, eosToken, source);
        t.engine();
        return t;
    }

    /**
     * The chat template of a GGUF model: {@value #METADATA_KEY}, with the BOS and EOS pieces of its vocabulary
     * ({@code tokenizer.ggml.tokens} at {@code tokenizer.ggml.bos_token_id} and {@code eos_token_id}, default 1 and 2;
     * {@value #DEFAULT_BOS} and {@value #DEFAULT_EOS} if the file has no vocabulary).
     *
     * @throws GgufException naming the file and the key, if the file has no chat template or it does not parse
     */
    public static ChatTemplate of(GgufFile gguf) {
        String text = gguf.getString(METADATA_KEY, null);
        String where = gguf.path() + ": metadata key '" + METADATA_KEY + "'";
        if (text == null) {
            throw new GgufException(gguf.path(), "metadata key '" + METADATA_KEY + "' is missing: the model has no chat "
                + "template; give one explicitly (spark.sparknative.generate.chatTemplate, or --chat-template)");
        }
        String[] special = specialTokens(gguf);
        try {
            return of(text, special[0], special[1], where);
        } catch (IllegalArgumentException ex) {
            // The message starts with the file's name, which GgufException puts first itself.
            throw new GgufException(gguf.path(), ex.getMessage().substring(gguf.path().toString().length() + 2), ex);
        }
    }

    /**
     * @return the texts of a GGUF vocabulary's BOS and EOS tokens: {@code tokenizer.ggml.tokens} at
     *         {@code tokenizer.ggml.bos_token_id} and {@code eos_token_id} (default 1 and 2), or {@value #DEFAULT_BOS}
     *         and {@value #DEFAULT_EOS} where the file has no such tokens
     */
    public static String[] specialTokens(GgufFile gguf) {
        String bos = DEFAULT_BOS;
        String eos = DEFAULT_EOS;
        if (gguf.has(GgufTokenizer.TOKENS_KEY)) {
            String[] tokens = gguf.getStringArray(GgufTokenizer.TOKENS_KEY);
            int b = gguf.getInt(GgufTokenizer.BOS_KEY, 1);
            int e = gguf.getInt(GgufTokenizer.EOS_KEY, 2);
            if (b >= 0 && b < tokens.length) {
                bos = tokens[b];
            }
            if (e >= 0 && e < tokens.length) {
                eos = tokens[e];
            }
        }
        return new String[] {bos, eos};
    }

    /** @return whether {@code gguf} carries a chat template ({@value #METADATA_KEY}) */
    public static boolean present(GgufFile gguf) {
        return gguf.has(METADATA_KEY);
    }

    /**
     * Renders {@code messages} into a prompt, without its leading {@code bos_token} (see the class comment).
     *
     * @param messages            the conversation, in order
     * @param addGenerationPrompt end with the assistant's header (the template's {@code add_generation_prompt})
     * @return the prompt text
     * @throws RenderException with the template's own message if it calls {@code raise_exception}, or the engine's
     *                         if an expression fails
     */
    public String render(List<Message> messages, boolean addGenerationPrompt) {
        Objects.requireNonNull(messages, "messages");
        List<Map<String, Object>> list = new ArrayList<>(messages.size());
        for (Message m : messages) {
            Map<String, Object> map = new LinkedHashMap<>();
            map.put("role", m.role());
            map.put("content", m.content());
            list.add(map);
        }
        Map<String, Object> bindings = new LinkedHashMap<>();
        bindings.put("messages", list);
        bindings.put("bos_token", bosToken);
        bindings.put("eos_token", eosToken);
        bindings.put("add_generation_prompt", addGenerationPrompt);
        Engine e = engine();
        String out = withOwnClassLoader(() -> e.render(bindings));
        return !bosToken.isEmpty() && out.startsWith(bosToken) ? out.substring(bosToken.length()) : out;
    }

    /** @return the Jinja text */
    public String template() {
        return template;
    }

    /** @return the text of {@code bos_token} */
    public String bosToken() {
        return bosToken;
    }

    /** @return the text of {@code eos_token} */
    public String eosToken() {
        return eosToken;
    }

    /** @return where the template came from, as messages name it */
    public String source() {
        return source;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ChatTemplate t && t.template.equals(template) && t.bosToken.equals(bosToken)
            && t.eosToken.equals(eosToken) && t.source.equals(source);
    }

    @Override
    public int hashCode() {
        return Objects.hash(template, bosToken, eosToken, source);
    }

    @Override
    public String toString() {
        return "ChatTemplate(" + source + ", " + template.length() + " chars)";
    }

    private Engine engine() {
        Engine e = engine;
        if (e == null) {
            synchronized (this) {
                e = engine;
                if (e == null) {
                    e = withOwnClassLoader(() -> new Engine(template, source));
                    engine = e;
                }
            }
        }
        return e;
    }

    /**
     * Runs {@code body} with this class's loader as the thread's context loader: Jinjava's expression engine loads its
     * own classes through the context loader, which on a Spark thread may be one that cannot see them, or sees another
     * copy of the job jar (an application's, a test's).
     */
    private static <T> T withOwnClassLoader(java.util.function.Supplier<T> body) {
        Thread thread = Thread.currentThread();
        ClassLoader before = thread.getContextClassLoader();
        ClassLoader own = ChatTemplate.class.getClassLoader();
        if (before == own) {
            return body.get();
        }
        thread.setContextClassLoader(own);
        try {
            return body.get();
        } finally {
            thread.setContextClassLoader(before);
        }
    }

    /** Called by templates as {@code raise_exception(message)}. */
    public static String raiseException(Object message) {
        throw new Raised(String.valueOf(message));
    }

    /**
     * The compiled form: one Jinjava engine, and the template parsed once per thread (Jinjava's engine is
     * thread-safe; its parse trees are kept per thread so that no two renders share one).
     */
    private static final class Engine {
        private final Jinjava jinjava;
        private final JinjavaConfig config;
        private final String template;
        private final String source;
        private final ThreadLocal<Node> trees;

        Engine(String template, String source) {
            // Jinja drops one newline at the end of a template (keep_trailing_newline is off by default, in Hugging
            // Face's and llama.cpp's renderers too); Jinjava keeps it.
            this.template = template.endsWith("\r\n") ? template.substring(0, template.length() - 2)
                : template.endsWith("\n") ? template.substring(0, template.length() - 1) : template;
            this.source = source;
            this.config = JinjavaConfig.newBuilder()
                .withTrimBlocks(true)
                .withLstripBlocks(true)
                .withFailOnUnknownTokens(false)
                .build();
            this.jinjava = new Jinjava(config);
            try {
                jinjava.getGlobalContext().registerFunction(new ELFunctionDefinition("", "raise_exception",
                    ChatTemplate.class.getMethod("raiseException", Object.class)));
            } catch (NoSuchMethodException e) {
                throw new IllegalStateException(e);
            }
            this.trees = ThreadLocal.withInitial(this::parse);
            trees.get(); // a syntax error now, when the template is made
            // Jinjava checks a tag's or an expression's syntax when it runs it: a trial run over one user message finds
            // such errors in what that run reaches (the rest show up when a row reaches them). The template's own
            // raise_exception, and any other failure, is left to the rows.
            Map<String, Object> trial = new LinkedHashMap<>();
            trial.put("messages", List.of(Map.of("role", "user", "content", "Hello")));
            trial.put("bos_token", "<s>");
            trial.put("eos_token", "</s>");
            trial.put("add_generation_prompt", true);
            try {
                render(trial);
            } catch (RenderException e) {
                if (e.syntax) {
                    throw new IllegalArgumentException(source + ": chat template does not parse: "
                        + e.getMessage().substring(("the chat template (" + source + ") failed: ").length()), e);
                }
            }
        }

        private Node parse() {
            JinjavaInterpreter interpreter = interpreter(Map.of());
            Node tree;
            try (var current = JinjavaInterpreter.closeablePushCurrent(interpreter).get()) {
                tree = current.value().parse(template);
            } catch (RuntimeException e) {
                throw new IllegalArgumentException(source + ": chat template does not parse: " + e.getMessage(), e);
            }
            for (TemplateError err : interpreter.getErrors()) {
                if (err.getSeverity() == TemplateError.ErrorType.FATAL) {
                    throw new IllegalArgumentException(source + ": chat template does not parse: " + describe(err));
                }
            }
            return tree;
        }

        private JinjavaInterpreter interpreter(Map<String, Object> bindings) {
            Context context = new Context(jinjava.getGlobalContextCopy(), bindings, config.getDisabled());
            return config.getInterpreterFactory().newInstance(jinjava, context, config);
        }

        String render(Map<String, Object> bindings) {
            JinjavaInterpreter interpreter = interpreter(bindings);
            String out;
            try (var current = JinjavaInterpreter.closeablePushCurrent(interpreter).get()) {
                out = current.value().render(trees.get());
            } catch (RuntimeException e) {
                Raised raised = raised(e);
                if (raised != null) {
                    throw new RenderException(raised.getMessage());
                }
                throw new RenderException("the chat template (" + source + ") failed: " + e.getMessage(),
                    e instanceof TemplateSyntaxException);
            }
            for (TemplateError err : interpreter.getErrors()) {
                Raised raised = raised(err.getException());
                if (raised != null) {
                    throw new RenderException(raised.getMessage());
                }
                if (err.getSeverity() == TemplateError.ErrorType.FATAL) {
                    throw new RenderException("the chat template (" + source + ") failed: " + describe(err),
                        err.getReason() == TemplateError.ErrorReason.SYNTAX_ERROR);
                }
            }
            return out;
        }

        private static Raised raised(Throwable t) {
            for (; t != null; t = t.getCause()) {
                if (t instanceof Raised r) {
                    return r;
                }
            }
            return null;
        }

        private static String describe(TemplateError err) {
            return err.getMessage() + (err.getLineno() > 0 ? " (line " + err.getLineno() + ")" : "");
        }
    }
}

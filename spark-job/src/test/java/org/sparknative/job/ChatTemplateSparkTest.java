package org.sparknative.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.spark.sql.AnalysisException;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sparknative.kernels.gguf.GgufFile;
import org.sparknative.kernels.gguf.GgufWriter;
import org.sparknative.kernels.llama.CheckpointFormat;
import org.sparknative.kernels.llama.LlamaConfig;
import org.sparknative.kernels.llama.SyntheticCheckpoint;
import org.sparknative.kernels.llama.TokenizerWriter;
import org.sparknative.spark.generate.ChatTemplates;
import org.sparknative.spark.generate.GenerateFunctions;
import org.sparknative.udf.generate.ChatTemplate;
import org.sparknative.udf.generate.ChatTemplate.Message;

/**
 * Chat templates from Spark: SQL's {@code apply_chat_template(messages)} on a GGUF model's own template and under
 * {@value ChatTemplates#CONF}, {@code generate(apply_chat_template(messages))} against {@code generate()} of the
 * prompts rendered by hand, the DataFrame API, {@code spark-native generate} on JSON rows with {@code messages}, and
 * the errors: no template, a broken one, a wrong type, invalid rows under both policies.
 */
class ChatTemplateSparkTest {
    /** TinyLlama's (Zephyr's) template, as its tokenizer_config.json has it. */
    static final String ZEPHYR = "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\n' + "
        + "message['content'] + eos_token }}\n{% elif message['role'] == 'system' %}\n{{ '<|system|>\n' + message['content'] "
        + "+ eos_token }}\n{% elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\n'  + message['content'] + eos_token }}"
        + "\n{% endif %}\n{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}";
    /** Mistral Instruct's: a system message or roles out of order raise. */
    static final String MISTRAL = "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != "
        + "(loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
        + "{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif "
        + "message['role'] == 'assistant' %}{{ message['content'] + eos_token}}{% else %}{{ raise_exception('Only user and "
        + "assistant roles are supported!') }}{% endif %}{% endfor %}";

    /** JSON rows: id and messages (the last two invalid for Mistral's template, the very last for any). */
    static final List<String> ROWS = List.of(
        "{\"id\": 1, \"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}]}",
        "{\"id\": 2, \"messages\": [{\"role\": \"user\", \"content\": \"Tell a story\"}, {\"role\": \"assistant\", "
            + "\"content\": \"Once\"}, {\"role\": \"user\", \"content\": \"More\"}]}",
        "{\"id\": 3, \"messages\": [{\"role\": \"system\", \"content\": \"Be brief.\"}, {\"role\": \"user\", \"content\": \"Why?\"}]}",
        "{\"id\": 4, \"messages\": null}",
        "{\"id\": 5, \"messages\": [{\"role\": \"user\"}]}");

    private static SparkSession spark;

    @TempDir
    static Path tmp;

    private final Map<String, String> settings = new LinkedHashMap<>();

    @BeforeAll
    static void start() {
        spark = SparkTestSession.get();
    }

    @AfterEach
    void unset() {
        settings.keySet().forEach(spark.conf()::unset);
        settings.clear();
        spark.catalog().dropTempView("chats");
    }

    private void set(String key, String value) {
        settings.put(key, value);
        spark.conf().set(key, value);
    }

    private static List<Message> messages(int id) {
        return switch (id) {
            case 1 -> List.of(new Message("user", "Hi"));
            case 2 -> List.of(new Message("user", "Tell a story"), new Message("assistant", "Once"), new Message("user", "More"));
            case 3 -> List.of(new Message("system", "Be brief."), new Message("user", "Why?"));
            default -> throw new IllegalArgumentException("row " + id);
        };
    }

    private static Dataset<Row> chats(List<String> rows) {
        Dataset<Row> df = spark.read().json(spark.createDataset(rows, Encoders.STRING()));
        df.createOrReplaceTempView("chats");
        return df;
    }

    /** A llama2.c model (which has no template) configured as {@code name}: the checkpoint and its tokenizer. */
    private Path[] llama2cModel(String name) {
        LlamaConfig cfg = new LlamaConfig(32, 64, 1, 4, 2, 300, 256, true);
        Path m = tmp.resolve(name + ".bin");
        Path t = tmp.resolve(name + "-tok.bin");
        if (!Files.exists(m)) {
            SyntheticCheckpoint.write(m, cfg, 13, CheckpointFormat.V1);
            TokenizerWriter.writeByteLevel(t, cfg.vocabSize());
        }
        set("spark.sparknative.model." + name + ".path", m.toString());
        set("spark.sparknative.model." + name + ".tokenizer", t.toString());
        set("spark.sparknative.model." + name + ".slots", "4");
        set("spark.sparknative.model." + name + ".threads", "1");
        return new Path[] {m, t};
    }

    /** A GGUF file with a vocabulary and a chat template in its metadata (no tensors: the template needs none). */
    private static Path ggufWithTemplate(String name, String template) {
        Path f = tmp.resolve(name + ".gguf");
        new GgufWriter().putString("general.architecture", "llama")
            .putStringArray("tokenizer.ggml.tokens", "<unk>", "<s>", "</s>", "a")
            .putString(ChatTemplate.METADATA_KEY, template)
            .write(f);
        return f;
    }

    private static Map<Long, String> byId(List<Row> rows) {
        Map<Long, String> out = new TreeMap<>();
        for (Row r : rows) {
            out.put(r.getLong(0), r.isNullAt(1) ? null : r.getString(1));
        }
        return out;
    }

    @Test
    void applyChatTemplateRendersWithTheGgufModelsOwnTemplate() {
        Path gguf = ggufWithTemplate("zephyr", ZEPHYR);
        set("spark.sparknative.model.chat.path", gguf.toString());
        set("spark.sparknative.model.chat.tokenizer", gguf.toString());
        set("spark.sparknative.invalidRows", "row-error");
        chats(ROWS);
        ChatTemplate byHand = ChatTemplate.of(GgufFile.open(gguf));
        Map<Long, String> got = byId(spark.sql("SELECT id, apply_chat_template(messages) FROM chats").collectAsList());
        assertEquals("<|user|>\nHi</s>\n<|assistant|>\n", got.get(1L));
        for (long id = 1; id <= 3; id++) {
            assertEquals(byHand.render(messages((int) id), true), got.get(id), "row " + id);
        }
        assertNull(got.get(4L), "null messages, null prompt");
        assertNull(got.get(5L), "a message without content is an invalid row: null under row-error");
        Map<Long, String> noPrompt = byId(spark.sql("SELECT id, apply_chat_template(messages, model => 'chat', "
            + "add_generation_prompt => false) FROM chats WHERE id = 2").collectAsList());
        assertEquals("<|user|>\nTell a story</s>\n<|assistant|>\nOnce</s>\n<|user|>\nMore</s>\n", noPrompt.get(2L));
        // ARRAY<MAP<STRING, STRING>> as well
        Row map = spark.sql("SELECT apply_chat_template(array(map('role', 'system', 'content', 'S'), "
            + "map('role', 'user', 'content', 'U')))").first();
        assertEquals("<|system|>\nS</s>\n<|user|>\nU</s>\n<|assistant|>\n", map.getString(0));
    }

    @Test
    void generateOfApplyChatTemplateIsGenerateOfThePromptRenderedByHand() {
        llama2cModel("tiny");
        set(ChatTemplates.CONF, ZEPHYR);
        chats(ROWS.subList(0, 3));
        List<Row> chat = spark.sql("SELECT id, generate(apply_chat_template(messages), max_new_tokens => 6, "
            + "temperature => 0) FROM chats").collectAsList();
        ChatTemplate byHand = ChatTemplate.of(ZEPHYR, "<s>", "</s>", "test");
        List<String> prompts = new ArrayList<>();
        for (int id = 1; id <= 3; id++) {
            prompts.add("{\"id\": " + id + ", \"prompt\": " + json(byHand.render(messages(id), true)) + "}");
        }
        spark.read().json(spark.createDataset(prompts, Encoders.STRING())).createOrReplaceTempView("chats");
        List<Row> plain = spark.sql("SELECT id, generate(prompt, max_new_tokens => 6, temperature => 0) FROM chats")
            .collectAsList();
        Map<Long, String> expected = byId(plain);
        assertEquals(3, expected.size());
        expected.values().forEach(c -> assertTrue(c != null && !c.isEmpty(), "a completion: " + expected));
        assertEquals(expected, byId(chat));
    }

    @Test
    void aModelWithoutATemplateABrokenTemplateAndAWrongTypeAreAnalysisErrors() {
        llama2cModel("plain");
        chats(ROWS.subList(0, 1));
        AnalysisException e = assertThrows(AnalysisException.class,
            () -> spark.sql("SELECT apply_chat_template(messages) FROM chats"));
        assertTrue(e.getMessage().contains("apply_chat_template(): ") && e.getMessage().contains("plain.bin: a llama2.c "
            + "checkpoint carries no chat template: give one with spark.sparknative.generate.chatTemplate"), e.getMessage());
        Path bare = ggufWithTemplate("bare", "{{ x }}");
        new GgufWriter().putString("general.architecture", "llama").write(bare);
        e = assertThrows(AnalysisException.class,
            () -> spark.sql("SELECT apply_chat_template(messages, model => 'bare') FROM chats"));
        assertTrue(e.getMessage().contains("unknown model 'bare'"), e.getMessage());
        set("spark.sparknative.model.bare.path", bare.toString());
        set("spark.sparknative.model.bare.tokenizer", bare.toString());
        e = assertThrows(AnalysisException.class,
            () -> spark.sql("SELECT apply_chat_template(messages, model => 'bare') FROM chats"));
        assertTrue(e.getMessage().contains("metadata key 'tokenizer.chat_template' is missing"), e.getMessage());
        Path broken = ggufWithTemplate("broken", "{% for m in messages %}{{ m.content }}");
        set("spark.sparknative.model.broken.path", broken.toString());
        set("spark.sparknative.model.broken.tokenizer", broken.toString());
        e = assertThrows(AnalysisException.class,
            () -> spark.sql("SELECT apply_chat_template(messages, model => 'broken') FROM chats"));
        assertTrue(e.getMessage().contains(broken + ": metadata key 'tokenizer.chat_template': chat template does not parse"),
            e.getMessage());
        set(ChatTemplates.CONF, "{% if %}x{% endif %}");
        e = assertThrows(AnalysisException.class, () -> spark.sql("SELECT apply_chat_template(messages) FROM chats"));
        assertTrue(e.getMessage().contains("spark.sparknative.generate.chatTemplate: chat template does not parse"),
            e.getMessage());
        set(ChatTemplates.CONF, tmp.resolve("no-such-template.jinja").toString());
        e = assertThrows(AnalysisException.class, () -> spark.sql("SELECT apply_chat_template(messages) FROM chats"));
        assertTrue(e.getMessage().contains("is neither a template"), e.getMessage());
        set(ChatTemplates.CONF, ZEPHYR);
        e = assertThrows(AnalysisException.class, () -> spark.sql("SELECT apply_chat_template('hello')"));
        assertTrue(e.getMessage().contains("argument 'messages' must be ARRAY<STRUCT<role: STRING, content: STRING>> or "
            + "ARRAY<MAP<STRING, STRING>>, got STRING"), e.getMessage());
    }

    @Test
    void anInvalidRowFailsTheQueryNamingItUnlessRowErrorAndTheDataFrameApiNamesItById() throws Exception {
        llama2cModel("tiny");
        Path file = tmp.resolve("mistral.jinja");
        Files.writeString(file, MISTRAL, StandardCharsets.UTF_8);
        set(ChatTemplates.CONF, file.toString());
        Dataset<Row> df = chats(ROWS);
        Exception e = assertThrows(Exception.class,
            () -> spark.sql("SELECT apply_chat_template(messages) FROM chats WHERE id = 3").collectAsList());
        assertTrue(causes(e).contains("apply_chat_template: the row whose messages begin \"system: Be brief.\": chat template: "
            + "Conversation roles must alternate user/assistant/user/assistant/..."), causes(e));
        set("spark.sparknative.invalidRows", "row-error");
        Map<Long, String> got = byId(spark.sql("SELECT id, apply_chat_template(messages) FROM chats").collectAsList());
        assertEquals("[INST] Hi [/INST]", got.get(1L));
        assertEquals("[INST] Tell a story [/INST]Once</s>[INST] More [/INST]", got.get(2L));
        assertNull(got.get(3L));
        assertNull(got.get(4L));
        assertNull(got.get(5L));

        ChatTemplate t = GenerateFunctions.chatTemplate(spark, null);
        assertTrue(t.source().startsWith(ChatTemplates.CONF), t.source());
        Dataset<Row> five = df.where("id = 5");
        Exception dfError = assertThrows(Exception.class, () -> five.select(GenerateFunctions.applyChatTemplate(five, "messages",
            t, true, org.sparknative.udf.BadRowPolicy.FAIL)).collectAsList());
        assertTrue(causes(dfError).contains("apply_chat_template: id 5: message 1 (user) has no content"), causes(dfError));
        List<Row> ok = df.where("id = 1").select(GenerateFunctions.applyChatTemplate(df.col("messages"), t)).collectAsList();
        assertEquals("[INST] Hi [/INST]", ok.get(0).getString(0));
    }

    @Test
    void theGenerateJobRendersMessagesWithTheChatTemplateAndKeepsThem() throws Exception {
        Path[] model = llama2cModel("job");
        Path input = tmp.resolve("chats.jsonl");
        Files.write(input, ROWS, StandardCharsets.UTF_8);
        Path template = tmp.resolve("zephyr.jinja");
        Files.writeString(template, ZEPHYR, StandardCharsets.UTF_8);
        Path out = tmp.resolve("job-out");
        CliRun r = CliRun.of("generate", "--input", input.toString(), "--model", model[0].toString(), "--tokenizer",
            model[1].toString(), "--chat-template", template.toString(), "--max-new-tokens", "6", "--temperature", "0",
            "--slots", "4", "--threads", "1", "--output", out.toString(), "--format", "json");
        assertEquals(0, r.exit(), r.err());
        List<Row> rows = spark.read().json(out.toString()).orderBy("id").collectAsList();
        assertEquals(5, rows.size());
        ChatTemplate byHand = ChatTemplate.of(ZEPHYR, "<s>", "</s>", "test");
        List<String> prompts = new ArrayList<>();
        for (int id = 1; id <= 3; id++) {
            Row row = rows.get(id - 1);
            String prompt = byHand.render(messages(id), true);
            assertEquals(prompt, row.getAs("prompt"), "row " + id);
            assertEquals(messages(id).size(), row.<scala.collection.Seq<?>>getAs("messages").size(), "messages kept");
            prompts.add("{\"id\": " + id + ", \"prompt\": " + json(prompt) + "}");
        }
        for (int id = 4; id <= 5; id++) {
            Row row = rows.get(id - 1);
            assertNull(row.getAs("completion"), "row " + id);
            assertEquals("error: prompt is null", row.getAs("finish_reason"), "row " + id);
        }
        // The same prompts through generate(): the same greedy completions.
        spark.read().json(spark.createDataset(prompts, Encoders.STRING())).createOrReplaceTempView("chats");
        Map<Long, String> expected = byId(spark.sql("SELECT id, generate(prompt, model => 'job', max_new_tokens => 6, "
            + "temperature => 0) FROM chats").collectAsList());
        for (int id = 1; id <= 3; id++) {
            assertEquals(expected.get((long) id), rows.get(id - 1).getAs("completion"), "row " + id);
        }

        CliRun noTemplate = CliRun.of("generate", "--input", input.toString(), "--model", model[0].toString(), "--tokenizer",
            model[1].toString(), "--max-new-tokens", "2");
        assertEquals(2, noTemplate.exit(), noTemplate.err());
        assertTrue(noTemplate.err().contains("a llama2.c checkpoint carries no chat template: give one with "
            + "--chat-template (or spark.sparknative.generate.chatTemplate)"), noTemplate.err());
    }

    /**
     * A GGUF model with a chat template in its metadata: the job renders rows' messages with it (no --tokenizer, no
     * --chat-template) and generates from the rendered prompts, as generate() does from the same prompts.
     */
    @Test
    void aGgufModelsOwnTemplateAndTokenizerDriveTheJob() throws Exception {
        Path[] bin = llama2cModel("gg");
        Path plain = tmp.resolve("gg-plain.gguf");
        org.sparknative.kernels.gguf.GgufConverter.fromLlama2c(bin[0], bin[1], org.sparknative.kernels.gguf.GgmlType.F32,
            plain);
        GgufFile in = GgufFile.open(plain);
        GgufWriter w = new GgufWriter();
        in.metadata().forEach(w::put);
        for (org.sparknative.kernels.gguf.GgufTensor t : in.tensors()) {
            w.addTensor(t.name(), t.type(), t.dims(), in.map(t));
        }
        Path gguf = tmp.resolve("gg-chat.gguf");
        w.putString(ChatTemplate.METADATA_KEY, ZEPHYR).write(gguf);
        Path input = tmp.resolve("gg-chats.jsonl");
        Files.write(input, ROWS.subList(0, 3), StandardCharsets.UTF_8);
        Path out = tmp.resolve("gg-out");
        CliRun r = CliRun.of("generate", "--input", input.toString(), "--model", gguf.toString(), "--max-new-tokens", "6",
            "--temperature", "0", "--slots", "4", "--threads", "1", "--output", out.toString(), "--format", "json");
        assertEquals(0, r.exit(), r.err());
        ChatTemplate own = ChatTemplate.of(GgufFile.open(gguf));
        List<Row> rows = spark.read().json(out.toString()).orderBy("id").collectAsList();
        List<String> prompts = new ArrayList<>();
        for (int id = 1; id <= 3; id++) {
            String prompt = own.render(messages(id), true);
            assertEquals(prompt, rows.get(id - 1).getAs("prompt"), "row " + id);
            prompts.add("{\"id\": " + id + ", \"prompt\": " + json(prompt) + "}");
        }
        set("spark.sparknative.model.ggchat.path", gguf.toString());
        set("spark.sparknative.model.ggchat.threads", "1");
        spark.read().json(spark.createDataset(prompts, Encoders.STRING())).createOrReplaceTempView("chats");
        Map<Long, String> expected = byId(spark.sql("SELECT id, generate(prompt, model => 'ggchat', max_new_tokens => 6, "
            + "temperature => 0) FROM chats").collectAsList());
        for (int id = 1; id <= 3; id++) {
            assertEquals(expected.get((long) id), rows.get(id - 1).getAs("completion"), "row " + id);
        }
    }

    private static String json(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            switch (c) {
                case '"' -> b.append("\\\"");
                case '\\' -> b.append("\\\\");
                case '\n' -> b.append("\\n");
                default -> b.append(c);
            }
        }
        return b.append('"').toString();
    }

    private static String causes(Throwable t) {
        StringBuilder b = new StringBuilder();
        for (; t != null; t = t.getCause()) {
            b.append(t.getMessage()).append('\n');
        }
        return b.toString();
    }
}

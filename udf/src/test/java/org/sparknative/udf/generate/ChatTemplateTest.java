package org.sparknative.udf.generate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sparknative.kernels.gguf.GgufException;
import org.sparknative.kernels.gguf.GgufFile;
import org.sparknative.kernels.gguf.GgufWriter;
import org.sparknative.kernels.testing.TestModels;
import org.sparknative.udf.generate.ChatTemplate.Message;

/**
 * Published chat templates (as their models' {@code tokenizer_config.json} has them, in
 * {@code src/test/resources/org/sparknative/udf/generate/chat-templates/}) rendered to the exact prompts those models
 * were trained on. The expected strings are what Hugging Face's {@code apply_chat_template} gives (Python's jinja2
 * with {@code trim_blocks} and {@code lstrip_blocks}, checked when the test was written), less one leading
 * {@code <s>}, which our tokenizer adds itself.
 */
class ChatTemplateTest {
    private static final Message SYSTEM = new Message("system", "You are a helpful assistant.");
    private static final Message USER_1 = new Message("user", "Hello!");
    private static final Message ASSISTANT_1 = new Message("assistant", " Hi there. ");
    private static final Message USER_2 = new Message("user", "What is 2+2?");
    private static final List<Message> MULTI = List.of(SYSTEM, USER_1, ASSISTANT_1, USER_2);
    private static final List<Message> NO_SYSTEM = List.of(USER_1, ASSISTANT_1, USER_2);

    @TempDir
    Path tmp;

    static String resource(String name) throws IOException {
        try (InputStream in = ChatTemplateTest.class.getResourceAsStream("chat-templates/" + name + ".jinja")) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    static ChatTemplate published(String name) throws IOException {
        return ChatTemplate.of(resource(name), "<s>", "</s>", name);
    }

    @Test
    void llama2ChatPutsTheSystemPromptIntoTheFirstInstructionAndStripsContents() throws IOException {
        ChatTemplate t = published("llama-2-chat");
        // One leading <s> is dropped (the tokenizer adds BOS); the second turn's <s> is text.
        String expected = "[INST] <<SYS>>\nYou are a helpful assistant.\n<</SYS>>\n\nHello! [/INST] Hi there. </s>"
            + "<s>[INST] What is 2+2? [/INST]";
        assertEquals(expected, t.render(MULTI, true));
        assertEquals(expected, t.render(MULTI, false), "Llama 2's template has no generation prompt");
        assertEquals("[INST] Hello! [/INST] Hi there. </s><s>[INST] What is 2+2? [/INST]", t.render(NO_SYSTEM, true));
        assertEquals("[INST] Hello! [/INST]", t.render(List.of(USER_1), true));
    }

    @Test
    void llama2ChatRaisesItsOwnErrorOnRolesThatDoNotAlternate() throws IOException {
        ChatTemplate t = published("llama-2-chat");
        ChatTemplate.RenderException e = assertThrows(ChatTemplate.RenderException.class,
            () -> t.render(List.of(USER_1, USER_2), true));
        assertEquals("Conversation roles must alternate user/assistant/user/assistant/...", e.getMessage());
        assertThrows(ChatTemplate.RenderException.class, () -> t.render(List.of(SYSTEM, ASSISTANT_1), true));
    }

    @Test
    void tinyLlamaZephyrTemplateEndsWithTheAssistantHeaderOnlyWhenAsked() throws IOException {
        ChatTemplate t = published("tinyllama-zephyr");
        String turns = "<|system|>\nYou are a helpful assistant.</s>\n<|user|>\nHello!</s>\n<|assistant|>\n Hi there. </s>\n"
            + "<|user|>\nWhat is 2+2?</s>\n";
        assertEquals(turns + "<|assistant|>\n", t.render(MULTI, true));
        assertEquals(turns, t.render(MULTI, false));
        assertEquals("<|user|>\nHello!</s>\n<|assistant|>\n", t.render(List.of(USER_1), true));
        assertEquals("<|user|>\nHello!</s>\n", t.render(List.of(USER_1), false));
    }

    @Test
    void mistralInstructWrapsUserTurnsAndRejectsASystemMessage() throws IOException {
        ChatTemplate t = published("mistral-instruct");
        assertEquals("[INST] Hello! [/INST] Hi there. </s>[INST] What is 2+2? [/INST]", t.render(NO_SYSTEM, true));
        assertEquals("[INST] Hello! [/INST]", t.render(List.of(USER_1), false));
        ChatTemplate.RenderException e = assertThrows(ChatTemplate.RenderException.class, () -> t.render(MULTI, true));
        assertEquals("Conversation roles must alternate user/assistant/user/assistant/...", e.getMessage());
        e = assertThrows(ChatTemplate.RenderException.class,
            () -> t.render(List.of(new Message("tool", "42")), true));
        assertEquals("Conversation roles must alternate user/assistant/user/assistant/...", e.getMessage());
        e = assertThrows(ChatTemplate.RenderException.class,
            () -> t.render(List.of(USER_1, new Message("tool", "42")), true));
        assertEquals("Only user and assistant roles are supported!", e.getMessage());
    }

    @Test
    void chatMlMarksEveryTurnAndOpensTheAssistantTurn() throws IOException {
        ChatTemplate t = published("chatml");
        String turns = "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHello!<|im_end|>\n"
            + "<|im_start|>assistant\n Hi there. <|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n";
        assertEquals(turns + "<|im_start|>assistant\n", t.render(MULTI, true));
        assertEquals(turns, t.render(MULTI, false));
    }

    @Test
    void namespaceTildeTrimLoopFirstAndWhitespaceControlWork() throws IOException {
        ChatTemplate t = published("features");
        assertEquals("U1: Hello!\nA: Hi there.</s>\nU2: What is 2+2?\n(system: You are a helpful assistant.)\nA:",
            t.render(MULTI, true));
        // Here the first message is the user's, so the template writes bos_token first, which render() removes.
        assertEquals("U1: Hello!\nA: Hi there.</s>\nU2: What is 2+2?\n", t.render(NO_SYSTEM, false));
        assertEquals("U1: Hello!\nA:", t.render(List.of(USER_1), true));
    }

    @Test
    void onlyOneLeadingBosIsRemovedAndOnlyAtTheStart() {
        ChatTemplate t = ChatTemplate.of("{{ bos_token }}{{ bos_token }}{{ messages[0].content }}", "<s>", "</s>", "test");
        assertEquals("<s>Hello!", t.render(List.of(USER_1), true));
        ChatTemplate mid = ChatTemplate.of("x{{ bos_token }}", "<s>", "</s>", "test");
        assertEquals("x<s>", mid.render(List.of(USER_1), true));
        ChatTemplate noBos = ChatTemplate.of("{{ bos_token }}y", "", "", "test");
        assertEquals("y", noBos.render(List.of(USER_1), true));
    }

    @Test
    void aTemplateThatDoesNotParseIsRefusedWhenMadeNamingItsSource() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
            () -> ChatTemplate.of("{% for m in messages %}{{ m.content }}", "<s>", "</s>", "my.conf"));
        assertTrue(e.getMessage().startsWith("my.conf: chat template does not parse: "), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
            () -> ChatTemplate.of("{% if %}x{% endif %}", "<s>", "</s>", "my.conf"));
        assertTrue(e.getMessage().startsWith("my.conf: chat template does not parse: "), e.getMessage());
    }

    @Test
    void aGgufModelsTemplateAndTokensComeFromItsMetadata() {
        Path f = tmp.resolve("chat.gguf");
        new GgufWriter()
            .putString("general.architecture", "llama")
            .putStringArray("tokenizer.ggml.tokens", "<unk>", "<BOS>", "<EOS>", "a")
            .putString(ChatTemplate.METADATA_KEY, "{{ bos_token }}{% for m in messages %}[{{ m.role }}]{{ m.content }}"
                + "{{ eos_token }}{% endfor %}")
            .write(f);
        ChatTemplate t = ChatTemplate.of(GgufFile.open(f));
        assertEquals("<BOS>", t.bosToken());
        assertEquals("<EOS>", t.eosToken());
        assertEquals("[user]Hello!<EOS>", t.render(List.of(USER_1), true));
        assertTrue(t.source().contains("chat.gguf") && t.source().contains("'tokenizer.chat_template'"), t.source());
    }

    @Test
    void aGgufModelsBrokenTemplateIsAnErrorNamingTheFileAndTheKey() {
        Path f = tmp.resolve("broken.gguf");
        new GgufWriter().putString("general.architecture", "llama")
            .putString(ChatTemplate.METADATA_KEY, "{% for m in messages %}{{ m.content }}").write(f);
        GgufException e = assertThrows(GgufException.class, () -> ChatTemplate.of(GgufFile.open(f)));
        assertTrue(e.getMessage().startsWith(f + ": metadata key 'tokenizer.chat_template': chat template does not parse"),
            e.getMessage());
    }

    @Test
    void aGgufModelWithoutATemplateSaysHowToGiveOne() {
        Path f = tmp.resolve("plain.gguf");
        new GgufWriter().putString("general.architecture", "llama").write(f);
        GgufFile g = GgufFile.open(f);
        assertFalse(ChatTemplate.present(g));
        GgufException e = assertThrows(GgufException.class, () -> ChatTemplate.of(g));
        assertEquals(f + ": metadata key 'tokenizer.chat_template' is missing: the model has no chat template; give one "
            + "explicitly (spark.sparknative.generate.chatTemplate, or --chat-template)", e.getMessage());
    }

    @Test
    void stories260kHasNoChatTemplate() {
        java.util.Optional<Path> model = TestModels.find(TestModels.STORIES_260K_GGUF);
        assumeTrue(model.isPresent(), TestModels.STORIES_260K_GGUF + " is not in " + TestModels.places());
        GgufFile g = GgufFile.open(model.get());
        assertFalse(ChatTemplate.present(g));
        assertThrows(GgufException.class, () -> ChatTemplate.of(g));
    }

    @Test
    void aSerializedTemplateRendersTheSameAndConcurrentRendersAgree() throws Exception {
        ChatTemplate t = published("chatml");
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
            out.writeObject(t);
        }
        ChatTemplate copy;
        try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(bytes.toByteArray()))) {
            copy = (ChatTemplate) in.readObject();
        }
        assertEquals(t, copy);
        String expected = t.render(MULTI, true);
        assertEquals(expected, copy.render(MULTI, true));
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            List<Future<String>> results = new ArrayList<>();
            for (int i = 0; i < 64; i++) {
                List<Message> msgs = List.of(new Message("user", "question " + i));
                boolean prompt = i % 2 == 0;
                results.add(pool.submit(() -> copy.render(msgs, prompt)));
            }
            for (int i = 0; i < results.size(); i++) {
                assertEquals("<|im_start|>user\nquestion " + i + "<|im_end|>\n" + (i % 2 == 0 ? "<|im_start|>assistant\n" : ""),
                    results.get(i).get());
            }
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void oneTrailingNewlineOfTheTemplateIsDroppedAsJinjaDoes() {
        ChatTemplate t = ChatTemplate.of("{{ messages[0].content }}\n", "<s>", "</s>", "test");
        assertEquals("Hello!", t.render(List.of(USER_1), true));
        ChatTemplate two = ChatTemplate.of("{{ messages[0].content }}\n\n", "<s>", "</s>", "test");
        assertEquals("Hello!\n", two.render(List.of(USER_1), true));
    }
}

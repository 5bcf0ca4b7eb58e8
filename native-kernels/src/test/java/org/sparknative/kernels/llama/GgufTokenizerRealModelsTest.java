package org.sparknative.kernels.llama;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Function;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.sparknative.kernels.gguf.GgufFile;
import org.sparknative.kernels.gguf.GgufTokenizer;
import org.sparknative.kernels.gguf.GgufWriter;
import org.sparknative.kernels.testing.TestModels;

/**
 * The tokenizer llama.cpp embedded in the four stories260K GGUF files, read by {@link GgufTokenizer}, against the
 * llama2.c {@code tok512.bin} it was converted from: the same image byte for byte, and, Java and C, the same ids for
 * the 257 sample prompts of {@code data/prompts/stories.jsonl} (the empty one too) and for seeded random UTF-8 and random bytes, the same
 * decoded bytes for every token. Skipped when the files are absent. (In the llama test package for
 * {@link PromptTexts}.)
 */
class GgufTokenizerRealModelsTest {
    private static final int VOCAB = 512;
    private static final int[] PREVIOUS = {0, Tokenizer.BOS, Tokenizer.EOS, 3, 300, 511};
    private static List<byte[]> texts;

    @BeforeAll
    static void texts() throws IOException {
        List<byte[]> t = new ArrayList<>();
        List<String> prompts = new ArrayList<>();
        if (PromptTexts.storiesFile().isPresent()) { // every line, the empty prompt too
            for (String line : Files.readAllLines(PromptTexts.storiesFile().get(), StandardCharsets.UTF_8)) {
                String p = PromptTexts.promptField(line);
                if (p != null) {
                    prompts.add(p);
                }
            }
        }
        for (String p : prompts) {
            t.add(p.getBytes(StandardCharsets.UTF_8));
        }
        for (String s : NativeTokenizerTest.TEXTS) {
            t.add(s.getBytes(StandardCharsets.UTF_8));
        }
        for (String s : new String[] {"", " ", "  ", "\u2581", "\u2581a \u2581", "<s>", "\n<s>\n", "</s>", "<unk>", "<0x41>",
            "\u0000", "a\u0000b", "\u200a", "\uFFFD"}) {
            t.add(s.getBytes(StandardCharsets.UTF_8));
        }
        SplittableRandom rnd = new SplittableRandom(20261207L);
        for (int i = 0; i < 300; i++) {
            t.add(randomUtf8(rnd, rnd.nextInt(80)).getBytes(StandardCharsets.UTF_8));
        }
        for (int i = 0; i < 300; i++) {
            byte[] b = new byte[rnd.nextInt(64)];
            rnd.nextBytes(b);
            t.add(b);
        }
        if (!prompts.isEmpty()) {
            assertEquals(257, prompts.size(), "stories.jsonl prompts");
        }
        texts = t;
    }

    /** Random text: mostly ASCII words and spaces, some Latin-1, CJK, emoji, U+2581 and control characters. */
    static String randomUtf8(SplittableRandom rnd, int codePoints) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < codePoints; i++) {
            int k = rnd.nextInt(20);
            int cp;
            if (k < 10) {
                cp = 'a' + rnd.nextInt(26);
            } else if (k < 13) {
                cp = ' ';
            } else if (k < 15) {
                cp = 0x20 + rnd.nextInt(0x5F);
            } else if (k == 15) {
                cp = 0xA0 + rnd.nextInt(0x160);
            } else if (k == 16) {
                cp = 0x4E00 + rnd.nextInt(0x5000);
            } else if (k == 17) {
                cp = 0x1F300 + rnd.nextInt(0x300);
            } else if (k == 18) {
                cp = 0x2581;
            } else {
                cp = rnd.nextInt(0x20);
            }
            sb.appendCodePoint(cp);
        }
        return sb.toString();
    }

    private static GgufFile gguf(String name) {
        return GgufFile.open(TestModels.require(name));
    }

    @ParameterizedTest
    @ValueSource(strings = {TestModels.STORIES_260K_GGUF, TestModels.STORIES_260K_GGUF_F16, TestModels.STORIES_260K_GGUF_Q8_0,
        TestModels.STORIES_260K_GGUF_Q4_0})
    void imageIsTok512ByteForByte(String name) throws IOException {
        GgufFile g = gguf(name);
        byte[] tok512 = Files.readAllBytes(TestModels.require(TestModels.TOK_512));
        GgufTokenizer t = GgufTokenizer.of(g);
        assertEquals(VOCAB, t.vocabSize());
        assertEquals(g.location(), t.source());
        assertArrayEquals(tok512, t.llama2cImage());
        assertEquals(Tokenizer.parse(Path.of("tok512.bin"), tok512, VOCAB).maxTokenLength(), t.maxTokenLength());
    }

    @ParameterizedTest
    @ValueSource(strings = {TestModels.STORIES_260K_GGUF, TestModels.STORIES_260K_GGUF_F16, TestModels.STORIES_260K_GGUF_Q8_0,
        TestModels.STORIES_260K_GGUF_Q4_0})
    void javaEncodesAndDecodesLikeTok512(String name) {
        Tokenizer want = Tokenizer.load(TestModels.require(TestModels.TOK_512), VOCAB);
        Tokenizer got = GgufTokenizer.java(gguf(name), null, VOCAB);
        for (int i = 0; i < NativeTokenizerTest.TEXTS.length; i++) { // the ids llama2.c's run.c gives
            assertArrayEquals(NativeTokenizerTest.TOK512[i], got.encode(utf8(NativeTokenizerTest.TEXTS[i]), true, false));
        }
        sameEncodings(text -> want.encode(text, true, false), text -> got.encode(text, true, false));
        sameEncodings(text -> want.encode(text, false, true), text -> got.encode(text, false, true));
        for (int id = 0; id < VOCAB; id++) {
            assertEquals(Float.floatToRawIntBits(want.score(id)), Float.floatToRawIntBits(got.score(id)), "score " + id);
            assertArrayEquals(want.piece(id), got.piece(id), "piece " + id);
            for (int prev : PREVIOUS) {
                assertArrayEquals(want.decode(prev, id), got.decode(prev, id), "decode(" + prev + ", " + id + ")");
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {TestModels.STORIES_260K_GGUF, TestModels.STORIES_260K_GGUF_F16, TestModels.STORIES_260K_GGUF_Q8_0,
        TestModels.STORIES_260K_GGUF_Q4_0})
    void nativeEncodesAndDecodesLikeTok512(String name) {
        GgufFile g = gguf(name);
        NativeTokenizer got;
        try (NativeTokenizer want = NativeTokenizer.load(TestModels.require(TestModels.TOK_512), VOCAB)) {
            got = GgufTokenizer.nativeTokenizer(g, null, VOCAB);
            try (got) {
                assertEquals(g.path(), got.path());
                assertEquals(want.maxPieceBytes(), got.maxPieceBytes());
                for (int i = 0; i < NativeTokenizerTest.TEXTS.length; i++) {
                    assertArrayEquals(NativeTokenizerTest.TOK512[i], got.encode(utf8(NativeTokenizerTest.TEXTS[i]), true, false));
                }
                sameEncodings(text -> want.encode(text, true, false), text -> got.encode(text, true, false));
                sameEncodings(text -> want.encode(text, false, true), text -> got.encode(text, false, true));
                for (int id = 0; id < VOCAB; id++) {
                    assertEquals(Float.floatToRawIntBits(want.score(id)), Float.floatToRawIntBits(got.score(id)));
                    for (int prev : PREVIOUS) {
                        assertArrayEquals(want.decode(prev, id), got.decode(prev, id), "decode(" + prev + ", " + id + ")");
                        assertArrayEquals(want.decodePrintable(prev, id), got.decodePrintable(prev, id));
                    }
                }
            }
        }
        assertClosed(got);
    }

    /** The Java and C tokenizers of the GGUF file agree with each other too, and round-trip the texts. */
    @Test
    void javaAndNativeAgreeAndRoundTrip() {
        GgufFile g = gguf(TestModels.STORIES_260K_GGUF);
        Tokenizer java = GgufTokenizer.java(g, null, VOCAB);
        try (NativeTokenizer c = GgufTokenizer.nativeTokenizer(g, null, VOCAB)) {
            sameEncodings(text -> java.encode(text, true, false), text -> c.encode(text, true, false));
            for (byte[] text : texts) {
                int[] ids = java.encode(text, true, false);
                ByteArrayOutputStream out = new ByteArrayOutputStream();
                for (int i = 1; i < ids.length; i++) {
                    out.writeBytes(java.decode(ids[i - 1], ids[i]));
                }
                assertArrayEquals(text, out.toByteArray(), () -> "round trip of " + Arrays.toString(text));
            }
        }
    }

    /**
     * The Llama 2 vocabulary (32000 pieces, from llama2.c's {@code tokenizer.bin}) stored as llama.cpp stores it comes
     * back byte for byte, and encodes the sample texts as the llama2.c tokenizer does (ids from run.c for the fixed
     * texts), Java and C.
     */
    @Test
    void llama2VocabularyRoundTrips(@TempDir Path tmp) throws IOException {
        Path file = TestModels.require(TestModels.LLAMA2_TOKENIZER);
        byte[] image = Files.readAllBytes(file);
        Path gguf = tmp.resolve("llama2-vocab.gguf");
        GgufWriter w = new GgufWriter();
        GgufTokenizerTest.metadata(image, 32000).forEach(w::put);
        w.write(gguf);
        GgufTokenizer gt = GgufTokenizer.of(GgufFile.open(gguf));
        assertArrayEquals(image, gt.llama2cImage());
        Tokenizer want = Tokenizer.parse(file, image, 32000);
        Tokenizer got = gt.java();
        try (NativeTokenizer c = gt.nativeTokenizer()) {
            for (int i = 0; i < NativeTokenizerTest.TEXTS.length; i++) {
                byte[] text = utf8(NativeTokenizerTest.TEXTS[i]);
                assertArrayEquals(NativeTokenizerTest.LLAMA32K[i], got.encode(text, true, false));
                assertArrayEquals(NativeTokenizerTest.LLAMA32K[i], c.encode(text, true, false));
            }
            sameEncodings(text -> want.encode(text, true, false), text -> got.encode(text, true, false));
            sameEncodings(text -> want.encode(text, true, false), text -> c.encode(text, true, false));
        }
    }

    /** A given tokenizer file is used instead of the embedded one. */
    @Test
    void overrideFileIsUsed() {
        GgufFile g = gguf(TestModels.STORIES_260K_GGUF);
        Path tok512 = TestModels.require(TestModels.TOK_512);
        Tokenizer t = GgufTokenizer.java(g, tok512, VOCAB);
        assertArrayEquals(NativeTokenizerTest.TOK512[1], t.encode(utf8(NativeTokenizerTest.TEXTS[1]), true, false));
        try (NativeTokenizer c = GgufTokenizer.nativeTokenizer(g, tok512, VOCAB)) {
            assertEquals(tok512, c.path());
        }
    }

    static void assertClosed(NativeTokenizer t) {
        IllegalStateException e = assertThrows(IllegalStateException.class,
            () -> t.encode(new byte[] {'a'}, true, false));
        assertTrue(e.getMessage().contains("closed"), e.getMessage());
        t.close(); // idempotent
        assertFalse(t.toString().isEmpty());
    }

    private static void sameEncodings(Function<byte[], int[]> want, Function<byte[], int[]> got) {
        assertFalse(texts.isEmpty());
        for (byte[] text : texts) {
            assertArrayEquals(want.apply(text), got.apply(text), () -> "encode " + Arrays.toString(text));
        }
    }

    private static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }
}

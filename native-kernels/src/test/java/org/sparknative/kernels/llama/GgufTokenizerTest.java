package org.sparknative.kernels.llama;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.sparknative.kernels.gguf.GgufException;
import org.sparknative.kernels.gguf.GgufFile;
import org.sparknative.kernels.gguf.GgufTokenizer;
import org.sparknative.kernels.gguf.GgufValue;
import org.sparknative.kernels.gguf.GgufWriter;

/**
 * {@link GgufTokenizer} on GGUF files written here: vocabularies built as llama2.c {@code tokenizer.bin} images
 * ({@link TokenizerWriter}'s byte-level ones, and hand-made ones with multi-byte pieces and spaces inside pieces) and
 * stored as llama.cpp stores them ({@code "▁"} for a space, {@code <s>}/{@code </s>}, token types), which must come
 * back as the same image and tokenize and decode exactly as the llama2.c tokenizers of that image, Java and C; then
 * every refusal, each naming the file, the key and expected vs actual. (In the llama test package for
 * {@link TokenizerWriter#byteLevel}.)
 */
class GgufTokenizerTest {
    private static final Path NAME = Path.of("llama2c-image.bin");

    @TempDir
    Path tmp;
    private int files;

    /** The tokenizer metadata llama.cpp's converter writes for a llama2.c vocabulary (BOS 1, EOS 2). */
    static Map<String, GgufValue> metadata(byte[] image, int vocab) {
        Tokenizer t = Tokenizer.parse(NAME, image, vocab);
        String[] tokens = new String[vocab];
        float[] scores = new float[vocab];
        int[] types = new int[vocab];
        for (int i = 0; i < vocab; i++) {
            String p = new String(t.piece(i), StandardCharsets.UTF_8);
            tokens[i] = i == Tokenizer.BOS ? "<s>" : i == Tokenizer.EOS ? "</s>" : p.replace(' ', '\u2581');
            scores[i] = t.score(i);
            types[i] = i == 0 ? GgufTokenizer.TYPE_UNKNOWN : i < Tokenizer.BYTE_OFFSET ? GgufTokenizer.TYPE_CONTROL
                : i < Tokenizer.MIN_VOCAB ? GgufTokenizer.TYPE_BYTE : GgufTokenizer.TYPE_NORMAL;
        }
        Map<String, GgufValue> m = new LinkedHashMap<>();
        m.put("general.architecture", GgufValue.string("llama"));
        m.put(GgufTokenizer.TOKENS_KEY, GgufValue.stringArray(tokens));
        m.put(GgufTokenizer.SCORES_KEY, GgufValue.float32Array(scores));
        m.put(GgufTokenizer.TOKEN_TYPE_KEY, GgufValue.int32Array(types));
        m.put(GgufTokenizer.MODEL_KEY, GgufValue.string("llama"));
        m.put("tokenizer.ggml.unknown_token_id", GgufValue.uint32(0));
        m.put(GgufTokenizer.BOS_KEY, GgufValue.uint32(1));
        m.put(GgufTokenizer.EOS_KEY, GgufValue.uint32(2));
        m.put("tokenizer.ggml.padding_token_id", GgufValue.uint32(0xFFFF_FFFFL));
        return m;
    }

    private GgufFile write(Map<String, GgufValue> metadata) {
        return write(metadata, 3);
    }

    private GgufFile write(Map<String, GgufValue> metadata, int version) {
        GgufWriter w = new GgufWriter().version(version);
        metadata.forEach(w::put);
        Path file = tmp.resolve("tok" + files++ + ".gguf");
        w.write(file);
        return GgufFile.open(file);
    }

    /** The standard 259 pieces (as a llama2.c image has them) followed by {@code extra}, each with its score. */
    private static byte[] image(List<String> extra, float[] extraScores) {
        List<byte[]> pieces = new ArrayList<>();
        List<Float> scores = new ArrayList<>();
        pieces.add(utf8("<unk>"));
        pieces.add(utf8("\n<s>\n"));
        pieces.add(utf8("\n</s>\n"));
        for (int b = 0; b < 256; b++) {
            pieces.add(utf8(String.format("<0x%02X>", b)));
        }
        while (scores.size() < pieces.size()) {
            scores.add(0f);
        }
        for (int i = 0; i < extra.size(); i++) {
            pieces.add(utf8(extra.get(i)));
            scores.add(extraScores[i]);
        }
        return SyntheticVocab.write(pieces, scores);
    }

    /** The texts the equality checks encode: fixed edge cases, random UTF-8 and random bytes (seeded). */
    private static List<byte[]> texts(long seed) {
        List<byte[]> t = new ArrayList<>();
        for (String s : new String[] {"", " ", "  ", "a", " a", "a b", "the cat sat", "\u2581", "a\u2581b", "<s>",
            "\n</s>\n", "<0x41>", "\u0000x", "\u00e9\u65e5 a b \uD83D\uDE00", "Once upon a time"}) {
            t.add(utf8(s));
        }
        SplittableRandom rnd = new SplittableRandom(seed);
        for (int i = 0; i < 150; i++) {
            t.add(utf8(GgufTokenizerRealModelsTest.randomUtf8(rnd, rnd.nextInt(60))));
        }
        for (int i = 0; i < 150; i++) {
            byte[] b = new byte[rnd.nextInt(40)];
            rnd.nextBytes(b);
            t.add(b);
        }
        return t;
    }

    /** The GGUF tokenizer is the image it was made from, and behaves as the llama2.c tokenizers of it. */
    private void assertSameAsLlama2c(GgufFile g, byte[] image, int vocab, long seed) {
        GgufTokenizer gt = GgufTokenizer.of(g);
        assertEquals(vocab, gt.vocabSize());
        assertArrayEquals(image, gt.llama2cImage());
        Tokenizer wantJava = Tokenizer.parse(NAME, image, vocab);
        Tokenizer java = gt.java();
        assertEquals(wantJava.maxTokenLength(), gt.maxTokenLength());
        NativeTokenizer c;
        try (NativeTokenizer wantC = NativeTokenizer.parse(NAME, image, vocab)) {
            c = gt.nativeTokenizer();
            try (c) {
                assertEquals(g.path(), c.path());
                for (byte[] text : texts(seed)) {
                    for (int flags = 0; flags < 4; flags++) {
                        boolean bos = (flags & 1) != 0;
                        boolean eos = (flags & 2) != 0;
                        int[] want = wantJava.encode(text, bos, eos);
                        assertArrayEquals(want, java.encode(text, bos, eos), () -> "Java " + new String(text,
                            StandardCharsets.UTF_8));
                        assertArrayEquals(want, wantC.encode(text, bos, eos));
                        assertArrayEquals(want, c.encode(text, bos, eos), () -> "C " + new String(text, StandardCharsets.UTF_8));
                    }
                }
                for (int id = 0; id < vocab; id++) {
                    for (int prev : new int[] {0, Tokenizer.BOS, Tokenizer.EOS, vocab - 1}) {
                        byte[] want = wantJava.decode(prev, id);
                        assertArrayEquals(want, java.decode(prev, id));
                        assertArrayEquals(want, c.decode(prev, id));
                        assertArrayEquals(wantC.decodePrintable(prev, id), c.decodePrintable(prev, id));
                    }
                }
            }
        }
        GgufTokenizerRealModelsTest.assertClosed(c);
    }

    @ParameterizedTest
    @ValueSource(ints = {259, 300, 512, 1000, 3000})
    void byteLevelVocabulariesBehaveAsTheirLlama2cTokenizer(int vocab) {
        byte[] image = TokenizerWriter.byteLevel(vocab);
        assertSameAsLlama2c(write(metadata(image, vocab)), image, vocab, vocab);
    }

    @Test
    void multiBytePiecesAndSpacesInsidePieces() {
        List<String> extra = List.of(" ", "a", "b", "\u00e9", "\u65e5", "\uD83D\uDE00", " a", " b", "a b", " a b", "ab",
            "\u00e9\u65e5", " \u00e9", "  ", "a ");
        float[] scores = {0f, 0f, 0f, -0f, 0f, 0f, -1f, -1f, -2f, 3f, -1f, 5f, Float.NEGATIVE_INFINITY, -1e10f, 1f};
        byte[] image = image(extra, scores);
        int vocab = Tokenizer.MIN_VOCAB + extra.size();
        assertSameAsLlama2c(write(metadata(image, vocab)), image, vocab, 1);
    }

    @Test
    void vocabularyWithoutSpacePieceHasNoDummyPrefix() {
        List<String> extra = List.of("a", "b", "ab", "\u00e9");
        byte[] image = image(extra, new float[] {0f, 0f, -1f, 0f});
        int vocab = Tokenizer.MIN_VOCAB + extra.size();
        GgufFile g = write(metadata(image, vocab));
        assertSameAsLlama2c(g, image, vocab, 2);
        assertArrayEquals(new int[] {1, Tokenizer.MIN_VOCAB + 2}, GgufTokenizer.of(g).java().encode(utf8("ab"), true, false));
    }

    /** The settings llama2.c's tokenizer has, stated explicitly, and ids of other integer types, are accepted; GGUF v2 too. */
    @Test
    void explicitSupportedSettingsAndV2() {
        byte[] image = TokenizerWriter.byteLevel(400);
        Map<String, GgufValue> m = metadata(image, 400);
        m.put(GgufTokenizer.ADD_BOS_KEY, GgufValue.bool(true));
        m.put(GgufTokenizer.ADD_EOS_KEY, GgufValue.bool(false));
        m.put(GgufTokenizer.ADD_SPACE_PREFIX_KEY, GgufValue.bool(true));
        m.put(GgufTokenizer.BOS_KEY, GgufValue.int32(1));
        m.put(GgufTokenizer.EOS_KEY, GgufValue.uint64(2));
        m.remove(GgufTokenizer.TOKEN_TYPE_KEY); // optional
        assertSameAsLlama2c(write(m, 2), image, 400, 3);
        m.remove(GgufTokenizer.BOS_KEY); // default 1 and 2, as llama.cpp
        m.remove(GgufTokenizer.EOS_KEY);
        assertArrayEquals(image, GgufTokenizer.of(write(m)).llama2cImage());
    }

    // ---- refusals -------------------------------------------------------------------------------------------

    /** Writes the 300-token byte-level vocabulary changed by {@code change}, and returns the message of/refusal. */
    private String refusal(Consumer<Map<String, GgufValue>> change) {
        Map<String, GgufValue> m = metadata(TokenizerWriter.byteLevel(300), 300);
        change.accept(m);
        GgufFile g = write(m);
        GgufException e = assertThrows(GgufException.class, () -> GgufTokenizer.of(g));
        String msg = e.getMessage();
        assertTrue(msg.startsWith(g.path().toString() + ": "), msg);
        // the convenience forms refuse the same way
        assertEquals(msg, assertThrows(GgufException.class, () -> GgufTokenizer.java(g, null, 300)).getMessage());
        assertEquals(msg, assertThrows(GgufException.class, () -> GgufTokenizer.nativeTokenizer(g, null, 300)).getMessage());
        return msg;
    }

    private static void contains(String message, String... parts) {
        for (String p : parts) {
            assertTrue(message.contains(p), () -> "'" + p + "' not in: " + message);
        }
    }

    @Test
    void gpt2IsNotSupportedYet() {
        contains(refusal(m -> m.put(GgufTokenizer.MODEL_KEY, GgufValue.string("gpt2"))), "'tokenizer.ggml.model'",
            "tokenizer model 'gpt2' (byte-level BPE, as in Llama 3, Qwen, SmolLM) is not supported yet; supported: llama");
    }

    @Test
    void otherModelsAreNotSupported() {
        contains(refusal(m -> m.put(GgufTokenizer.MODEL_KEY, GgufValue.string("bert"))), "'tokenizer.ggml.model'",
            "tokenizer model 'bert' is not supported yet; supported: llama");
    }

    @Test
    void missingKeys() {
        contains(refusal(m -> m.remove(GgufTokenizer.MODEL_KEY)), "'tokenizer.ggml.model' is missing", "--tokenizer");
        contains(refusal(m -> m.remove(GgufTokenizer.TOKENS_KEY)), "'tokenizer.ggml.tokens' is missing");
        contains(refusal(m -> m.remove(GgufTokenizer.SCORES_KEY)), "'tokenizer.ggml.scores' is missing", "expected 300 scores");
    }

    @Test
    void wrongTypes() {
        contains(refusal(m -> m.put(GgufTokenizer.MODEL_KEY, GgufValue.uint32(1))), "'tokenizer.ggml.model'", "STRING");
        contains(refusal(m -> m.put(GgufTokenizer.TOKENS_KEY, GgufValue.string("a"))), "'tokenizer.ggml.tokens'");
        contains(refusal(m -> m.put(GgufTokenizer.SCORES_KEY, GgufValue.stringArray("a"))), "'tokenizer.ggml.scores'");
        contains(refusal(m -> m.put(GgufTokenizer.ADD_BOS_KEY, GgufValue.string("true"))), "'tokenizer.ggml.add_bos_token'",
            "BOOL");
    }

    @Test
    void arrayLengthsMustMatch() {
        contains(refusal(m -> m.put(GgufTokenizer.SCORES_KEY, GgufValue.float32Array(new float[299]))),
            "'tokenizer.ggml.scores': expected 300 scores", "got 299");
        contains(refusal(m -> m.put(GgufTokenizer.TOKEN_TYPE_KEY, GgufValue.int32Array(new int[301]))),
            "'tokenizer.ggml.token_type': expected 300 token types", "got 301");
    }

    @Test
    void tooFewTokens() {
        Map<String, GgufValue> m = metadata(TokenizerWriter.byteLevel(259), 259);
        String[] tokens = Arrays.copyOf(m.get(GgufTokenizer.TOKENS_KEY).stringArray(), 258);
        m.put(GgufTokenizer.TOKENS_KEY, GgufValue.stringArray(tokens));
        m.put(GgufTokenizer.SCORES_KEY, GgufValue.float32Array(new float[258]));
        m.remove(GgufTokenizer.TOKEN_TYPE_KEY);
        GgufFile g = write(m);
        contains(assertThrows(GgufException.class, () -> GgufTokenizer.of(g)).getMessage(),
            "'tokenizer.ggml.tokens': expected at least 259 tokens", "got 258");
    }

    private static Consumer<Map<String, GgufValue>> setToken(int id, String piece) {
        return m -> {
            String[] tokens = m.get(GgufTokenizer.TOKENS_KEY).stringArray();
            tokens[id] = piece;
            m.put(GgufTokenizer.TOKENS_KEY, GgufValue.stringArray(tokens));
        };
    }

    @Test
    void byteTokensMustBeAtThreeTo258() {
        // misplaced: <0x41> and the piece at 290 swapped
        contains(refusal(m -> {
            String[] tokens = m.get(GgufTokenizer.TOKENS_KEY).stringArray();
            String other = tokens[290];
            tokens[290] = tokens[0x41 + 3];
            tokens[0x41 + 3] = other;
            m.put(GgufTokenizer.TOKENS_KEY, GgufValue.stringArray(tokens));
        }), "'tokenizer.ggml.tokens'[68]: expected the byte token '<0x41>'", "at ids 3..258", "'<0x41>' is at id 290");
        // missing
        contains(refusal(setToken(68, "A")), "'tokenizer.ggml.tokens'[68]: expected the byte token '<0x41>'", "got 'A'",
            "the vocabulary has no '<0x41>'");
        // spelled otherwise than llama.cpp spells it
        contains(refusal(setToken(13, "<0x0a>")), "[13]: expected the byte token '<0x0A>'", "got '<0x0a>'");
        // a control character in the message is escaped
        contains(refusal(setToken(13, "\n")), "[13]: expected the byte token '<0x0A>'", "got '\\x0A'");
    }

    @Test
    void byteTokensMustHaveTheByteType() {
        contains(refusal(m -> {
            int[] types = m.get(GgufTokenizer.TOKEN_TYPE_KEY).intArray();
            types[68] = GgufTokenizer.TYPE_NORMAL;
            m.put(GgufTokenizer.TOKEN_TYPE_KEY, GgufValue.int32Array(types));
        }), "'tokenizer.ggml.token_type'[68]: expected 6 (byte) for '<0x41>', got 1");
    }

    @Test
    void userDefinedTokensAreNotSupportedYet() {
        contains(refusal(m -> {
            int[] types = m.get(GgufTokenizer.TOKEN_TYPE_KEY).intArray();
            types[290] = GgufTokenizer.TYPE_USER_DEFINED;
            m.put(GgufTokenizer.TOKEN_TYPE_KEY, GgufValue.int32Array(types));
        }), "'tokenizer.ggml.token_type'[290]: 4 (user-defined, '", "') is not supported yet");
    }

    /** Control and unused tokens beyond BOS and EOS are ordinary pieces, as in llama2.c. */
    @Test
    void controlAndUnusedTokensAreOrdinaryPieces() {
        byte[] image = TokenizerWriter.byteLevel(300);
        Map<String, GgufValue> m = metadata(image, 300);
        int[] types = m.get(GgufTokenizer.TOKEN_TYPE_KEY).intArray();
        types[290] = GgufTokenizer.TYPE_CONTROL;
        types[291] = GgufTokenizer.TYPE_UNUSED;
        m.put(GgufTokenizer.TOKEN_TYPE_KEY, GgufValue.int32Array(types));
        assertSameAsLlama2c(write(m), image, 300, 4);
    }

    @Test
    void bosAndEosIds() {
        contains(refusal(m -> m.put(GgufTokenizer.BOS_KEY, GgufValue.uint32(999))), "'tokenizer.ggml.bos_token_id': expected 1",
            "got 999, outside the 300 tokens");
        contains(refusal(m -> m.put(GgufTokenizer.BOS_KEY, GgufValue.uint32(5))), "'tokenizer.ggml.bos_token_id': expected 1",
            "BOS at id 1", "got 5");
        contains(refusal(m -> m.put(GgufTokenizer.EOS_KEY, GgufValue.int32(-1))), "'tokenizer.ggml.eos_token_id': expected 2",
            "got -1, outside the 300 tokens");
        contains(refusal(m -> m.put(GgufTokenizer.EOS_KEY, GgufValue.uint32(1))), "'tokenizer.ggml.eos_token_id': expected 2",
            "EOS at id 2", "got 1");
    }

    @Test
    void unsupportedSettingsAreRefusedByKey() {
        contains(refusal(m -> m.put(GgufTokenizer.ADD_BOS_KEY, GgufValue.bool(false))),
            "'tokenizer.ggml.add_bos_token': expected true", "got false; not supported yet");
        contains(refusal(m -> m.put(GgufTokenizer.ADD_EOS_KEY, GgufValue.bool(true))),
            "'tokenizer.ggml.add_eos_token': expected false", "got true; not supported yet");
        contains(refusal(m -> m.put(GgufTokenizer.ADD_SPACE_PREFIX_KEY, GgufValue.bool(false))),
            "'tokenizer.ggml.add_space_prefix': expected true", "dummy prefix", "got false; not supported yet");
    }

    @Test
    void piecesTheTokenizersCannotHold() {
        contains(refusal(setToken(280, "")), "'tokenizer.ggml.tokens'[280]: expected a non-empty piece, got ''");
        contains(refusal(setToken(280, "a\u0000b")), "'tokenizer.ggml.tokens'[280]: 'a\\x00b' contains a NUL character");
        contains(refusal(m -> {
            float[] s = m.get(GgufTokenizer.SCORES_KEY).floatArray();
            s[280] = Float.NaN;
            m.put(GgufTokenizer.SCORES_KEY, GgufValue.float32Array(s));
        }), "'tokenizer.ggml.scores'[280]: expected a number, got NaN");
    }

    @Test
    void vocabularySizeMustMatchTheModel() {
        GgufFile g = write(metadata(TokenizerWriter.byteLevel(300), 300));
        String msg = assertThrows(GgufException.class, () -> GgufTokenizer.java(g, null, 512)).getMessage();
        contains(msg, g.path().toString(), "'tokenizer.ggml.tokens': expected 512 tokens (the model's vocabulary size), got 300");
        assertEquals(msg, assertThrows(GgufException.class, () -> GgufTokenizer.nativeTokenizer(g, null, 512)).getMessage());
    }

    /** A given llama2.c tokenizer file overrides the embedded one, which is then not read (here: gpt2, unsupported). */
    @Test
    void overrideFileReplacesTheEmbeddedTokenizer() {
        Map<String, GgufValue> m = metadata(TokenizerWriter.byteLevel(300), 300);
        m.put(GgufTokenizer.MODEL_KEY, GgufValue.string("gpt2"));
        GgufFile g = write(m);
        Path file = tmp.resolve("tokenizer.bin");
        TokenizerWriter.writeByteLevel(file, 300);
        Tokenizer java = GgufTokenizer.java(g, file, 300);
        assertArrayEquals(Tokenizer.load(file, 300).encode(utf8("the cat"), true, false), java.encode(utf8("the cat"), true,
            false));
        NativeTokenizer c = GgufTokenizer.nativeTokenizer(g, file, 300);
        try (c) {
            assertEquals(file, c.path());
            assertArrayEquals(java.encode(utf8("the cat"), true, false), c.encode(utf8("the cat"), true, false));
        }
        GgufTokenizerRealModelsTest.assertClosed(c);
        // the override is checked as any tokenizer file is
        contains(assertThrows(CheckpointException.class, () -> GgufTokenizer.java(g, file, 512)).getMessage(),
            file.toString(), "expected 512 tokens");
        Path missing = tmp.resolve("missing.bin");
        contains(assertThrows(CheckpointException.class, () -> GgufTokenizer.nativeTokenizer(g, missing, 300)).getMessage(),
            missing.toString(), "tokenizer file not found");
    }

    /** Each call makes a new, independent C tokenizer; closing one leaves the others working. */
    @Test
    void nativeTokenizersAreIndependentAndClose() {
        GgufTokenizer gt = GgufTokenizer.of(write(metadata(TokenizerWriter.byteLevel(300), 300)));
        NativeTokenizer a = gt.nativeTokenizer();
        try (NativeTokenizer b = gt.nativeTokenizer()) {
            a.close();
            GgufTokenizerRealModelsTest.assertClosed(a);
            assertArrayEquals(gt.java().encode(utf8("hello"), true, false), b.encode(utf8("hello"), true, false));
        }
        byte[] image = gt.llama2cImage();
        image[0] ^= 1;
        assertEquals(gt.llama2cImage()[0] ^ 1, image[0]); // a copy
    }

    private static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }
}

package org.sparknative.kernels.llama;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sparknative.kernels.testing.TestModels;

/**
 * Tokenizer tests. Expected ids were printed by llama2.c's own {@code encode()} (run.c compiled with
 * gcc, driven by a small C program that encodes hex-given byte strings with BOS and without EOS).
 */
class TokenizerTest {
    private static final Path NAME = Path.of("test-tokenizer.bin");

    /** The oracle inputs, in the order of the id tables below. */
    private static final byte[][] TEXTS = {
        utf8("Hello world"),
        utf8("Once upon a time, there was a little girl named Lily."),
        utf8("  two leading spaces, trailing two  "),
        utf8("Punctuation: !?.,;'\"()[]{}<>-_=+*&^%$#@~`|\\/"),
        utf8("caf\u00e9 r\u00e9sum\u00e9 na\u00efve \u00c9t\u00e9"),
        utf8("\u65e5\u672c\u8a9e\u3067\u3059 \u65e5\u672c"),
        utf8("emoji \uD83D\uDE00 rocket \uD83D\uDE80!"),
        utf8("tab\tnew\nline\r\n"),
        utf8("x"),
        bytes("bad ", 0xff, 0xfe, " bytes ", 0xc3, " alone ", 0x80, 0x80, 0x80, 0x80, 0x80, " end ", 0x01, 0x7f),
        bytes(0xe6, 0x97),
    };

    private static final int[][] TOK512_IDS = {
        {1, 346, 306, 414, 263, 304, 341},
        {1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426},
        {1, 410, 410, 259, 424, 414, 278, 411, 380, 299, 262, 427, 412, 331, 419, 432, 259, 420, 412, 290, 299, 259, 424, 414,
            410, 410},
        {1, 410, 460, 379, 429, 413, 425, 294, 417, 289, 467, 410, 443, 450, 426, 432, 474, 439, 436, 489, 488, 508, 509, 126,
            128, 504, 505, 464, 98, 64, 496, 497, 499, 97, 501, 494, 38, 67, 510, 495, 506, 500, 492},
        {1, 280, 412, 431, 485, 352, 485, 419, 425, 423, 485, 297, 412, 198, 178, 360, 410, 198, 140, 413, 485},
        {1, 410, 233, 154, 168, 233, 159, 175, 235, 173, 161, 230, 132, 170, 230, 132, 156, 410, 233, 154, 168, 233, 159, 175},
        {1, 344, 423, 414, 449, 417, 410, 243, 162, 155, 131, 352, 414, 340, 316, 410, 243, 162, 157, 131, 443},
        {1, 259, 412, 430, 12, 416, 411, 424, 13, 421, 271, 411, 16, 13},
        {1, 410, 444},
        {1, 268, 380, 410, 258, 257, 268, 422, 413, 406, 410, 198, 261, 421, 289, 411, 35, 131, 131, 131, 131, 131, 344, 264,
            410, 4, 130},
        {1, 410, 233, 154},
    };

    private static final int[][] LLAMA2_IDS = {
        {1, 15043, 3186},
        {1, 9038, 2501, 263, 931, 29892, 727, 471, 263, 2217, 7826, 4257, 365, 2354, 29889},
        {1, 259, 1023, 8236, 8162, 29892, 25053, 1023, 259},
        {1, 349, 18049, 29884, 362, 29901, 1738, 29973, 1696, 29936, 11838, 580, 2636, 8875, 25299, 29899, 29918, 29922,
            29974, 29930, 29987, 29985, 29995, 29938, 29937, 29992, 30022, 29952, 4295, 29914},
        {1, 274, 28059, 6896, 398, 29948, 1055, 30085, 345, 3067, 6772},
        {1, 29871, 30325, 30346, 30968, 30499, 30427, 29871, 30325, 30346},
        {1, 953, 29877, 2397, 29871, 243, 162, 155, 131, 696, 3522, 29871, 243, 162, 157, 131, 29991},
        {1, 4434, 12, 1482, 13, 1220, 30004, 13},
        {1, 921},
        {1, 4319, 29871, 258, 257, 6262, 29871, 198, 7432, 35, 131, 131, 131, 131, 131, 1095, 29871, 4, 130},
        {1, 29871, 233, 154},
    };

    @Test
    void encodesLikeLlama2cWithTok512() {
        Tokenizer tok = Tokenizer.load(TestModels.require(TestModels.TOK_512), 512);
        assertEquals(7, tok.maxTokenLength());
        for (int i = 0; i < TEXTS.length; i++) {
            assertArrayEquals(TOK512_IDS[i], tok.encode(TEXTS[i], true, false), "text #" + i);
        }
    }

    @Test
    void encodesLikeLlama2cWithLlama2Vocabulary() {
        Tokenizer tok = Tokenizer.load(TestModels.require(TestModels.LLAMA2_TOKENIZER), 32000);
        assertEquals(27, tok.maxTokenLength());
        for (int i = 0; i < TEXTS.length; i++) {
            assertArrayEquals(LLAMA2_IDS[i], tok.encode(TEXTS[i], true, false), "text #" + i);
        }
        // BOS/EOS flags and the empty text (no dummy prefix), also from run.c
        assertArrayEquals(new int[] {1}, tok.encode(new byte[0], true, false));
        assertArrayEquals(new int[] {2}, tok.encode(new byte[0], false, true));
        assertArrayEquals(new int[] {}, tok.encode(new byte[0], false, false));
        assertArrayEquals(new int[] {1, 15043, 2}, tok.encode(utf8("Hello"), true, true));
        assertArrayEquals(new int[] {15043}, tok.encode(utf8("Hello"), false, false));
    }

    @Test
    void mergesTieToTheLeftmostPairAndIncludeBos() {
        // A tiny vocabulary: 259 standard entries, then " ", "a", "b", "ab"(-5), "ba"(-5), "\n<s>\n "(-1),
        // "aab"(-2). Expected ids are run.c's on the same file.
        List<Object[]> extra = List.of(new Object[] {" ", 0f}, new Object[] {"a", 0f}, new Object[] {"b", 0f},
            new Object[] {"ab", -5f}, new Object[] {"ba", -5f}, new Object[] {"\n<s>\n ", -1f}, new Object[] {"aab", -2f});
        Tokenizer tok = Tokenizer.parse(NAME, tokenizerBytes(extra), 266);
        assertArrayEquals(new int[] {264, 262, 260}, tok.encode(utf8("aba"), true, false));
        assertArrayEquals(new int[] {264, 262, 262}, tok.encode(utf8("abab"), true, false));
        assertArrayEquals(new int[] {264, 265}, tok.encode(utf8("aab"), true, false));
        assertArrayEquals(new int[] {264, 123}, tok.encode(utf8("x"), true, false));
        assertArrayEquals(new int[] {264, 261, 259, 260}, tok.encode(utf8("b a"), true, false));
        // "ba" (pair 1) and "ab" (pair 3) tie at -5: the left one wins, so "aab" is never formed
        assertArrayEquals(new int[] {264, 263, 262}, tok.encode(utf8("baab"), true, false));
        assertArrayEquals(new int[] {259, 263, 262, 2}, tok.encode(utf8("baab"), false, true));
        assertArrayEquals(new int[] {259, 265, 2}, tok.encode(utf8("aab"), false, true));
    }

    @Test
    void noSpacePieceMeansNoDummyPrefix() {
        Tokenizer tok = Tokenizer.parse(NAME, tokenizerBytes(List.of()), 259);
        assertArrayEquals(new int[] {1, 'h' + 3, 'i' + 3}, tok.encode(utf8("hi"), true, false));
        assertEquals("hi", decodeAll(tok, tok.encode(utf8("hi"), true, false)));
    }

    @Test
    void nulIsAnOrdinaryByte() {
        Tokenizer tok = Tokenizer.parse(NAME, TokenizerWriter.byteLevel(400), 400);
        byte[] text = bytes("a", 0, "b");
        int[] ids = tok.encode(text, true, false);
        assertEquals(3, ids[2], "NUL falls back to byte id 0 + 3");
        assertArrayEquals(text, decodeAllBytes(tok, ids));
    }

    @Test
    void roundTripsThroughRealAndGeneratedTokenizers() {
        List<Tokenizer> toks = new ArrayList<>();
        toks.add(Tokenizer.parse(NAME, TokenizerWriter.byteLevel(259), 259));
        toks.add(Tokenizer.parse(NAME, TokenizerWriter.byteLevel(600), 600));
        toks.add(Tokenizer.parse(NAME, TokenizerWriter.byteLevel(32000), 32000));
        TestModels.find(TestModels.TOK_512).ifPresent(p -> toks.add(Tokenizer.load(p, 512)));
        TestModels.find(TestModels.LLAMA2_TOKENIZER).ifPresent(p -> toks.add(Tokenizer.load(p, 32000)));
        List<byte[]> texts = new ArrayList<>(Arrays.asList(TEXTS));
        texts.add(utf8(" leading space"));
        texts.add(utf8("<0x41> is not a byte token in text, nor is <0x0A>"));
        texts.add(bytes(0, 1, 2, 0xff, 0x80, 0xc0, 0xf4, 0x90, 0x80, 0x80, 0x0a));
        SplittableRandom rnd = new SplittableRandom(5);
        for (int i = 0; i < 50; i++) {
            byte[] b = new byte[rnd.nextInt(40)];
            for (int j = 0; j < b.length; j++) {
                b[j] = (byte) rnd.nextInt(256);
            }
            texts.add(b);
        }
        for (Tokenizer tok : toks) {
            for (byte[] text : texts) {
                int[] ids = tok.encode(text, true, false);
                assertArrayEquals(text, decodeAllBytes(tok, ids),
                    () -> "vocab " + tok.vocabSize() + " text " + Arrays.toString(text) + " ids " + Arrays.toString(ids));
            }
        }
    }

    @Test
    void decodesByteTokensAndStripsTheSpaceAfterBos() {
        Tokenizer tok = Tokenizer.load(TestModels.require(TestModels.TOK_512), 512);
        assertEquals("<0x0A>", new String(tok.piece(13), StandardCharsets.UTF_8));
        assertArrayEquals(new byte[] {'\n'}, tok.decode(5, 13));
        assertArrayEquals(new byte[] {(byte) 0xff}, tok.decode(1, 258));
        assertArrayEquals(utf8("Once"), tok.decode(1, 403));
        assertArrayEquals(utf8(" Once"), tok.decode(403, 403));
        assertArrayEquals(utf8(" "), tok.piece(410));
        assertArrayEquals(new byte[0], tok.decode(1, 410));
        assertThrows(IllegalArgumentException.class, () -> tok.decode(1, 512));
        assertThrows(IllegalArgumentException.class, () -> tok.decode(1, -1));
        assertThrows(IllegalArgumentException.class, () -> tok.piece(512));
    }

    @Test
    void byteTokenParsingFollowsSscanf() {
        // run.c: sscanf(piece, "<0x%02hhX>", &b) == 1; results checked with glibc
        List<Object[]> extra = new ArrayList<>();
        String[] pieces = {"<0x4>", "<0x4G>", "<0x414>", "<0x 41>", "<0x+4>", "<0x-1>", "<0xa1>", "<0x>", "<0x0x1>",
            "<0xG1>", "<0x41", " <0x41>"};
        for (String p : pieces) {
            extra.add(new Object[] {p, 0f});
        }
        Tokenizer tok = Tokenizer.parse(NAME, tokenizerBytes(extra), 259 + pieces.length);
        int[] expected = {4, 4, 0x41, 0x41, 4, 0xff, 0xa1, -1, 0, -1, 0x41};
        for (int i = 0; i < expected.length; i++) {
            byte[] got = tok.decode(0, 259 + i);
            if (expected[i] < 0) {
                assertArrayEquals(utf8(pieces[i]), got, pieces[i]);
            } else {
                assertArrayEquals(new byte[] {(byte) expected[i]}, got, pieces[i]);
            }
        }
        // the leading space is stripped after BOS first, then the rest is a byte token
        assertArrayEquals(new byte[] {0x41}, tok.decode(1, 259 + 11));
        assertArrayEquals(utf8(" <0x41>"), tok.decode(0, 259 + 11));
        assertArrayEquals(new byte[] {0}, tok.decode(0, 3), "<0x00> is the byte 0");
    }

    @Test
    void decodeUtf8ReplacesMalformedInput() {
        assertEquals("f\uFFFD\uFFFD", Tokenizer.decodeUtf8(bytes("f", 0xff, 0xc3)));
        assertEquals("a\uFFFDb", Tokenizer.decodeUtf8(bytes("a", 0xf0, 0x9f, 0x98, "b")));
        assertEquals("\u00e9\uD83D\uDE00", Tokenizer.decodeUtf8(utf8("\u00e9\uD83D\uDE00")));
        assertEquals("", Tokenizer.decodeUtf8(new byte[0]));
        SplittableRandom rnd = new SplittableRandom(9);
        for (int i = 0; i < 500; i++) {
            byte[] b = new byte[rnd.nextInt(30)];
            for (int j = 0; j < b.length; j++) {
                b[j] = (byte) rnd.nextInt(256);
            }
            String s = Tokenizer.decodeUtf8(b);
            assertTrue(s.length() <= b.length);
        }
    }

    @Test
    void wrongVocabularyIsAClearError() {
        Path tok512 = TestModels.require(TestModels.TOK_512);
        Path llama2 = TestModels.require(TestModels.LLAMA2_TOKENIZER);
        CheckpointException small = assertThrows(CheckpointException.class, () -> Tokenizer.load(tok512, 32000));
        assertTrue(small.getMessage().contains(tok512.toString()), small.getMessage());
        assertTrue(small.getMessage().contains("expected 32000 tokens"), small.getMessage());
        assertTrue(small.getMessage().contains("ends after 512 complete entries"), small.getMessage());
        CheckpointException big = assertThrows(CheckpointException.class, () -> Tokenizer.load(llama2, 512));
        assertTrue(big.getMessage().contains(llama2.toString()), big.getMessage());
        assertTrue(big.getMessage().contains("expected 512 tokens"), big.getMessage());
        assertTrue(big.getMessage().contains("holds 32000 entries"), big.getMessage());
    }

    @Test
    void malformedFilesAreRejectedWithTheFieldNamed(@TempDir Path dir) throws Exception {
        CheckpointException missing = assertThrows(CheckpointException.class,
            () -> Tokenizer.load(dir.resolve("absent.bin"), 512));
        assertTrue(missing.getMessage().contains("absent.bin") && missing.getMessage().contains("not found"));

        byte[] good = TokenizerWriter.byteLevel(300);
        Tokenizer.parse(NAME, good, 300);
        assertMessage(new byte[] {1, 0}, 300, "too short");
        assertMessage(withInt(good, 0, -1), 300, "max_token_length: expected >= 0, got -1");
        // token 0's length field is at offset 8
        assertMessage(withInt(good, 8, -3), 300, "length of token 0 (offset 8): expected >= 0, got -3");
        assertMessage(withInt(good, 8, 7), 300, "length of token 0 (offset 8): expected <= max_token_length 6, got 7");
        assertMessage(withInt(good, 4, Float.floatToRawIntBits(Float.NaN)), 300, "score of token 0");
        assertMessage(Arrays.copyOf(good, good.length - 1), 300, "truncated inside entry 299");
        assertMessage(Arrays.copyOf(good, good.length + 3), 300, "3 bytes remain after entry 299");
        assertMessage(good, 299, "holds 300 entries");
        assertMessage(good, 10, "vocab_size: expected >= 259");
        // as in the C tokenizer: a NUL byte is text (always <0x00>), never part of a piece
        byte[] nulPiece = good.clone();
        nulPiece[13] = 0; // the 'u' of token 0's "<unk>", whose piece starts at offset 12
        assertMessage(nulPiece, 300, "piece of token 0 (offset 12): contains a NUL byte at offset 13");
    }

    @Test
    void fuzzedInputsOnlyEverThrowCheckpointException() {
        byte[] seed = TokenizerWriter.byteLevel(300);
        SplittableRandom rnd = new SplittableRandom(20240611);
        long deadline = System.nanoTime() + 2_000_000_000L;
        int iterations = 0;
        int accepted = 0;
        for (; iterations < 3000 && System.nanoTime() < deadline; iterations++) {
            byte[] b;
            int kind = rnd.nextInt(4);
            if (kind == 0) {
                b = new byte[rnd.nextInt(64)];
                for (int j = 0; j < b.length; j++) {
                    b[j] = (byte) rnd.nextInt(256);
                }
            } else {
                b = seed.clone();
                int flips = 1 + rnd.nextInt(8);
                for (int f = 0; f < flips; f++) {
                    int at = rnd.nextInt(Math.min(b.length, kind == 1 ? 64 : b.length));
                    b[at] = (byte) rnd.nextInt(256);
                }
                if (kind == 3) {
                    b = Arrays.copyOf(b, rnd.nextInt(b.length + 16));
                }
            }
            int vocab = rnd.nextInt(10) == 0 ? rnd.nextInt(600) : 300;
            try {
                Tokenizer tok = Tokenizer.parse(NAME, b, vocab);
                accepted++;
                // whatever parsed must also encode and decode without surprises
                int[] ids = tok.encode(utf8("fuzz \u00e9 text"), true, true);
                for (int i = 1; i < ids.length; i++) {
                    tok.decode(ids[i - 1], ids[i]);
                }
            } catch (CheckpointException | UnencodableTextException expected) {
                // fine: a rejected file, or a mutated byte-fallback piece that a byte of the text needs
            } catch (RuntimeException e) {
                fail("iteration " + iterations + ": " + e, e);
            }
        }
        assertTrue(iterations >= 500, "only " + iterations + " iterations in the time budget");
        assertTrue(accepted > 0, "no mutated tokenizer parsed: the fuzz never reached encode");
    }

    private static void assertMessage(byte[] contents, int vocab, String fragment) {
        CheckpointException e = assertThrows(CheckpointException.class, () -> Tokenizer.parse(NAME, contents, vocab));
        assertTrue(e.getMessage().startsWith(NAME + ": "), e.getMessage());
        assertTrue(e.getMessage().contains(fragment), () -> "expected '" + fragment + "' in: " + e.getMessage());
    }

    private static byte[] withInt(byte[] b, int offset, int value) {
        byte[] c = b.clone();
        ByteBuffer.wrap(c).order(ByteOrder.LITTLE_ENDIAN).putInt(offset, value);
        return c;
    }

    /** The 259 standard entries followed by {@code extra} ({piece, score}) pairs, in tokenizer.bin format. */
    static byte[] tokenizerBytes(List<Object[]> extra) {
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
        for (Object[] e : extra) {
            pieces.add(utf8((String) e[0]));
            scores.add((Float) e[1]);
        }
        int max = pieces.stream().mapToInt(p -> p.length).max().orElse(0);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteBuffer b4 = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
        out.write(b4.putInt(0, max).array(), 0, 4);
        for (int i = 0; i < pieces.size(); i++) {
            b4.clear();
            b4.putFloat(scores.get(i)).putInt(pieces.get(i).length);
            out.writeBytes(b4.array());
            out.writeBytes(pieces.get(i));
        }
        return out.toByteArray();
    }

    static byte[] decodeAllBytes(Tokenizer tok, int[] ids) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (int i = 1; i < ids.length; i++) {
            out.writeBytes(tok.decode(ids[i - 1], ids[i]));
        }
        return out.toByteArray();
    }

    static String decodeAll(Tokenizer tok, int[] ids) {
        return Tokenizer.decodeUtf8(decodeAllBytes(tok, ids));
    }

    static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    /** Concatenates strings (as UTF-8) and ints (as single bytes). */
    static byte[] bytes(Object... parts) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (Object p : parts) {
            if (p instanceof String s) {
                out.writeBytes(utf8(s));
            } else {
                out.write((Integer) p);
            }
        }
        return out.toByteArray();
    }
}

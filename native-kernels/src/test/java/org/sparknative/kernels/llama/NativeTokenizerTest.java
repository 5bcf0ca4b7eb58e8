package org.sparknative.kernels.llama;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.IntPointer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sparknative.kernels.testing.TestModels;

/** The C tokenizer against llama2.c's run.c encode() (ids below come from the real run.c), and its robustness. */
class NativeTokenizerTest {
    static final String[] TEXTS = {"", "Once upon a time", "Hello, world! I'm here.", "Zoë 東京 🙂 ok", "  two  spaces",
        "a\ttab\nnewline"};
    static final int[][] TOK512 = {
        {1},
        {1, 403, 407, 261, 378},
        {1, 346, 306, 414, 432, 263, 304, 341, 443, 359, 439, 423, 281, 276, 426},
        {1, 410, 469, 414, 198, 174, 410, 233, 160, 180, 231, 189, 175, 410, 243, 162, 156, 133, 334, 433},
        {1, 410, 410, 259, 424, 414, 410, 262, 427, 412, 331, 419},
        {1, 261, 12, 413, 412, 430, 13, 416, 411, 424, 421, 271, 411},
    };
    static final int[][] LLAMA32K = {
        {1},
        {1, 9038, 2501, 263, 931},
        {1, 15043, 29892, 3186, 29991, 306, 29915, 29885, 1244, 29889},
        {1, 17421, 30083, 29871, 30591, 30675, 29871, 243, 162, 156, 133, 3431},
        {1, 259, 1023, 29871, 8162},
        {1, 263, 12, 3891, 13, 1482, 1220},
    };

    @TempDir
    Path tmp;

    private static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    private static void checkEncodings(NativeTokenizer tok, int[][] expected) {
        for (int i = 0; i < TEXTS.length; i++) {
            int[] want = expected[i];
            assertArrayEquals(want, tok.encode(utf8(TEXTS[i]), true, false), "'" + TEXTS[i] + "'");
            int[] noBos = tok.encode(utf8(TEXTS[i]), false, true);
            int[] wantNoBos = Arrays.copyOf(Arrays.copyOfRange(want, 1, want.length), want.length);
            wantNoBos[want.length - 1] = Tokenizer.EOS;
            assertArrayEquals(wantNoBos, noBos, "no BOS, EOS: '" + TEXTS[i] + "'");
            // decode(prev, token) of every token after BOS gives back the text (the dummy prefix is dropped)
            StringBuilder sb = new StringBuilder();
            java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
            for (int k = 1; k < want.length; k++) {
                byte[] piece = tok.decode(want[k - 1], want[k]);
                bytes.write(piece, 0, piece.length);
            }
            sb.append(bytes.toString(StandardCharsets.UTF_8));
            assertEquals(TEXTS[i], sb.toString(), "round trip");
        }
    }

    @Test
    void tok512MatchesLlama2c() {
        try (NativeTokenizer tok = NativeTokenizer.load(TestModels.require(TestModels.TOK_512), 512)) {
            checkEncodings(tok, TOK512);
            assertEquals(7, tok.maxPieceBytes());
        }
    }

    @Test
    void llama2VocabularyMatchesLlama2c() {
        try (NativeTokenizer tok = NativeTokenizer.load(TestModels.require(TestModels.LLAMA2_TOKENIZER), 32000)) {
            checkEncodings(tok, LLAMA32K);
        }
    }

    @Test
    void encodesStraightFromNativeMemoryNulIncluded() {
        Path file = TestModels.require(TestModels.LLAMA2_TOKENIZER);
        try (NativeTokenizer tok = NativeTokenizer.load(file, 32000)) {
            byte[] text = utf8("xxOnce upon a time\0 not ignored");
            // the same ids as the Java tokenizer: the prompt's tokens, <0x00> (3), then the rest of the text
            int[] want = Tokenizer.load(file, 32000).encode(Arrays.copyOfRange(text, 2, text.length), true, false);
            assertArrayEquals(LLAMA32K[1], Arrays.copyOf(want, LLAMA32K[1].length));
            assertEquals(3, want[LLAMA32K[1].length], "NUL is <0x00>");
            assertTrue(want.length > LLAMA32K[1].length + 2, "the text after the NUL is encoded too");
            try (BytePointer buf = new BytePointer(text.length); IntPointer out = new IntPointer(text.length + 3L)) {
                buf.put(text, 0, text.length);
                int[] arr = new int[text.length + 3];
                int n = tok.encode(buf.address() + 2, text.length - 2, true, false, arr);
                assertArrayEquals(want, Arrays.copyOf(arr, n));
                int m = tok.encodeTo(buf.address() + 2, text.length - 2, true, true, out.address());
                assertEquals(want.length + 1, m);
                int[] got = new int[m];
                out.get(got);
                assertArrayEquals(want, Arrays.copyOf(got, m - 1));
                assertEquals(Tokenizer.EOS, got[m - 1]);
                assertEquals(1, tok.encode(buf.address(), 0, true, false, new int[3]));
            }
            assertThrows(IllegalArgumentException.class, () -> tok.encode(0L, 5, true, false, new int[8]));
            assertThrows(IllegalArgumentException.class, () -> tok.encode(1L, 5, true, false, new int[7]));
        }
    }

    @Test
    void decodeFollowsLlama2c() {
        try (NativeTokenizer tok = NativeTokenizer.load(TestModels.require(TestModels.TOK_512), 512)) {
            assertEquals("Once", new String(tok.decode(1, 403), StandardCharsets.UTF_8));
            assertEquals(" Once", new String(tok.decode(378, 403), StandardCharsets.UTF_8));
            assertArrayEquals(new byte[] {'\n'}, tok.decode(5, 13));      // <0x0A>
            assertArrayEquals(new byte[] {1}, tok.decode(5, 4));          // <0x01> raw
            assertArrayEquals(new byte[0], tok.decodePrintable(5, 4));    // safe_printf drops it
            assertArrayEquals(new byte[] {0}, tok.decode(5, 3));          // <0x00>: one 0 byte, not an empty C string
            assertArrayEquals(new byte[0], tok.decodePrintable(5, 3));    // which safe_printf drops
            assertArrayEquals(utf8("\n<s>\n"), tok.decode(5, 1));
            try (BytePointer dst = new BytePointer(8)) {
                assertEquals(5, tok.decode(378, 403, dst.address(), 8));
                assertEquals(-5, tok.decode(378, 403, dst.address(), 4));
                assertEquals(" Once", dst.getString(StandardCharsets.UTF_8).substring(0, 5));
            }
            assertThrows(IllegalArgumentException.class, () -> tok.decode(1, 512));
            assertThrows(IllegalArgumentException.class, () -> tok.decode(1, -1));
        }
    }

    @Test
    void sharedAcrossThreads() throws Exception {
        try (NativeTokenizer tok = NativeTokenizer.load(TestModels.require(TestModels.LLAMA2_TOKENIZER), 32000)) {
            ExecutorService pool = Executors.newFixedThreadPool(4);
            try {
                List<Future<Boolean>> fs = new ArrayList<>();
                for (int t = 0; t < 4; t++) {
                    fs.add(pool.submit(() -> {
                        for (int rep = 0; rep < 200; rep++) {
                            for (int i = 0; i < TEXTS.length; i++) {
                                if (!Arrays.equals(LLAMA32K[i], tok.encode(utf8(TEXTS[i]), true, false))) {
                                    return false;
                                }
                            }
                        }
                        return true;
                    }));
                }
                for (Future<Boolean> f : fs) {
                    assertTrue(f.get());
                }
            } finally {
                pool.shutdown();
            }
        }
    }

    @Test
    void wrongVocabularyIsNamed() {
        Path small = TestModels.require(TestModels.TOK_512);
        Path big = TestModels.require(TestModels.LLAMA2_TOKENIZER);
        CheckpointException e = assertThrows(CheckpointException.class, () -> NativeTokenizer.load(small, 32000));
        assertTrue(e.getMessage().contains("holds 512 entries, expected vocab_size 32000"), e.getMessage());
        assertTrue(e.getMessage().contains(small.toString()), e.getMessage());
        e = assertThrows(CheckpointException.class, () -> NativeTokenizer.load(big, 512));
        assertTrue(e.getMessage().contains("holds 32000 entries, expected vocab_size 512"), e.getMessage());
        e = assertThrows(CheckpointException.class, () -> NativeTokenizer.load(tmp.resolve("missing.bin"), 512));
        assertTrue(e.getMessage().contains("not found"), e.getMessage());
    }

    private static byte[] tokenizerImage(String... tokens) {
        ByteBuffer b = ByteBuffer.allocate(4096).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(8);
        for (int i = 0; i < tokens.length; i++) {
            byte[] t = utf8(tokens[i]);
            b.putFloat(-i).putInt(t.length).put(t);
        }
        return Arrays.copyOf(b.array(), b.position());
    }

    @Test
    void malformedFilesAreCheckpointExceptions() throws IOException {
        Path p = tmp.resolve("t.bin");
        byte[] ok = tokenizerImage("a", "b", "ab");
        try (NativeTokenizer t = NativeTokenizer.parse(p, ok, 3)) {
            assertEquals(3, t.vocabSize());
        }
        String[] expect = {"truncated header", "truncated", "holds 3 entries", "length must be > 0", "NUL byte"};
        byte[][] bad = {
            new byte[3],
            Arrays.copyOf(ok, ok.length - 1),
            ok, // as 4 entries
            tokenizerImage("a", "", "ab"),
            tokenizerImage("a", "b\0", "ab"),
        };
        int[] vocab = {3, 3, 4, 3, 3};
        for (int i = 0; i < bad.length; i++) {
            Files.write(p, bad[i]);
            int v = vocab[i];
            CheckpointException e = assertThrows(CheckpointException.class, () -> NativeTokenizer.load(p, v));
            assertTrue(e.getMessage().contains(expect[i]), e.getMessage());
        }
        // a negative length must not wrap around any bounds check
        byte[] neg = ok.clone();
        ByteBuffer.wrap(neg).order(ByteOrder.LITTLE_ENDIAN).putInt(8, -2);
        assertThrows(CheckpointException.class, () -> NativeTokenizer.parse(p, neg, 3));
        // a byte fallback beyond a tiny vocabulary is an error naming the byte, not an out-of-range id
        try (NativeTokenizer t = NativeTokenizer.parse(p, ok, 3)) {
            UnencodableTextException e = assertThrows(UnencodableTextException.class, () -> t.encode(utf8("abz"), true, false));
            assertEquals(2, e.offset(), e.getMessage());
            assertEquals('z', e.byteValue());
        }
    }

    /**
     * Found by fuzzing (NativeTokenizerFileFuzzTest): a vocabulary of 1 or 2 entries was accepted, then encode
     * emitted EOS (2) or BOS (1) outside it; with BOS and a one-entry vocabulary C read past its arrays and the
     * JVM died of SIGSEGV. Such a vocabulary is now a CheckpointException at load.
     */
    @Test
    void vocabulariesTooSmallForBosAndEosAreRejected() throws IOException {
        Path p = tmp.resolve("tiny.bin");
        String[][] images = {{"a"}, {"a", "b"}};
        for (String[] pieces : images) {
            Files.write(p, tokenizerImage(pieces));
            CheckpointException e = assertThrows(CheckpointException.class, () -> NativeTokenizer.load(p, pieces.length));
            assertTrue(e.getMessage().contains("vocab_size must be >= 3 (ids 1 and 2 are BOS and EOS), got "
                + pieces.length), e.getMessage());
        }
        try (NativeTokenizer t = NativeTokenizer.parse(p, tokenizerImage("a", "b", "ab"), 3)) {
            assertArrayEquals(new int[] {1, 0, 2}, t.encode(utf8("a"), true, true));
            assertArrayEquals(new int[] {2}, t.encode(new byte[0], false, true));
        }
    }

    /** Random corruption of a real tokenizer for a couple of seconds: a CheckpointException or a usable tokenizer. */
    @Test
    void fuzzedTokenizersNeverCrash() throws IOException {
        byte[] real = Files.readAllBytes(TestModels.require(TestModels.TOK_512));
        SplittableRandom rnd = new SplittableRandom(20240601);
        long end = System.nanoTime() + 2_000_000_000L;
        int loaded = 0;
        int rejected = 0;
        Path p = tmp.resolve("fuzz.bin");
        while (System.nanoTime() < end) {
            byte[] img;
            switch (rnd.nextInt(4)) {
                case 0:
                    img = Arrays.copyOf(real, rnd.nextInt(real.length)); // truncation
                    break;
                case 1: {
                    img = real.clone(); // a few random bytes anywhere (often a length field)
                    for (int k = 1 + rnd.nextInt(4); k > 0; k--) {
                        img[rnd.nextInt(img.length)] = (byte) rnd.nextInt(256);
                    }
                    break;
                }
                case 2: {
                    img = new byte[rnd.nextInt(64)]; // garbage
                    for (int i = 0; i < img.length; i++) {
                        img[i] = (byte) rnd.nextInt(256);
                    }
                    break;
                }
                default: {
                    img = Arrays.copyOf(real, real.length + 1 + rnd.nextInt(16)); // trailing bytes
                    break;
                }
            }
            int vocab = rnd.nextInt(10) == 0 ? 1 + rnd.nextInt(600) : 512;
            try (NativeTokenizer t = NativeTokenizer.parse(p, img, vocab)) {
                loaded++;
                byte[] text = new byte[rnd.nextInt(40)];
                for (int i = 0; i < text.length; i++) {
                    text[i] = (byte) rnd.nextInt(256);
                }
                try {
                    int[] ids = t.encode(text, true, true);
                    for (int k = 1; k < ids.length; k++) {
                        t.decodePrintable(ids[k - 1], ids[k]);
                    }
                } catch (IllegalArgumentException e) {
                    assertTrue(e.getMessage().contains("fallback"), e.getMessage()); // tiny vocabularies only
                }
            } catch (CheckpointException e) {
                rejected++;
                assertTrue(e.getMessage().startsWith(p.toString()), e.getMessage());
            }
        }
        assertTrue(loaded > 0 && rejected > 0, "loaded " + loaded + ", rejected " + rejected);
    }
}

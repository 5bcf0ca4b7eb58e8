package org.sparknative.kernels.llama;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.sparknative.kernels.testing.TestModels;

/**
 * The O(n log n) BPE encoders, Java ({@link Tokenizer}) and C ({@link NativeTokenizer}), against the quadratic
 * encoder they replaced ({@link QuadraticEncoder}): the same token ids, or the same
 * {@link UnencodableTextException} at the same offset, for random bytes, random UTF-8, runs of one character
 * (every pair ties), text with NUL bytes and real prompts, over the real vocabularies (skipped when absent),
 * {@link TokenizerWriter}'s byte-level ones and random {@link SyntheticVocab}s full of tied scores.
 */
class BpeMergeDifferentialTest {
    private static final Path NAME = Path.of("bpe-differential.bin");

    /** One vocabulary under test: the Java tokenizer, its quadratic oracle and (if C accepts it) the C one. */
    private record Vocab(String name, Tokenizer java, QuadraticEncoder old, byte[] file, boolean withC) {
        static Vocab of(String name, byte[] file, int vocabSize, boolean nativeToo) {
            Tokenizer t = Tokenizer.parse(NAME, file, vocabSize);
            return new Vocab(name, t, new QuadraticEncoder(t), file, nativeToo);
        }
    }

    private static List<Vocab> fixedVocabs() throws IOException {
        List<Vocab> v = new ArrayList<>();
        v.add(Vocab.of("byteLevel(600)", TokenizerWriter.byteLevel(600), 600, true));
        v.add(Vocab.of("byteLevel(4000)", TokenizerWriter.byteLevel(4000), 4000, true));
        for (String[] real : new String[][] {{TestModels.TOK_512, "512"}, {TestModels.LLAMA2_TOKENIZER, "32000"}}) {
            var p = TestModels.find(real[0]);
            if (p.isPresent()) {
                v.add(Vocab.of(real[0], Files.readAllBytes(p.get()), Integer.parseInt(real[1]), true));
            }
        }
        return v;
    }

    /** The texts every vocabulary is tried on. */
    private static List<byte[]> texts(long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        List<byte[]> t = new ArrayList<>();
        t.add(new byte[0]);
        for (int i = 0; i < 40; i++) { // random bytes
            t.add(randomBytes(rnd, rnd.nextInt(300)));
        }
        for (int i = 0; i < 40; i++) { // random UTF-8, mostly ASCII letters and spaces
            t.add(randomUtf8(rnd, rnd.nextInt(200)));
        }
        for (String unit : new String[] {"a", " ", "e", "ab", "aab", "\u00e9", "\u65e5", "\uD83D\uDE00", "..", "\n"}) {
            for (int k : new int[] {1, 2, 3, 4, 5, 7, 8, 16, 33, 64, 257, 1000}) { // runs: every pair ties
                t.add(unit.repeat(k).getBytes(StandardCharsets.UTF_8));
            }
        }
        for (int i = 0; i < 20; i++) { // NUL bytes among text
            byte[] b = randomUtf8(rnd, 1 + rnd.nextInt(80));
            for (int k = rnd.nextInt(4) + 1; k > 0; k--) {
                b[rnd.nextInt(b.length)] = 0;
            }
            t.add(b);
        }
        t.add(new byte[] {0, 0, 0});
        List<String> stories = PromptTexts.stories();
        for (int i = 0; i < stories.size(); i += 5) { // real prompts
            t.add(stories.get(i).getBytes(StandardCharsets.UTF_8));
        }
        t.add(PromptTexts.longPrompt(4000));
        return t;
    }

    @Test
    void fixedVocabulariesMergeAsBefore() throws IOException {
        List<Vocab> vocabs = fixedVocabs();
        List<byte[]> texts = texts(11);
        for (Vocab v : vocabs) {
            check(v, texts);
        }
    }

    @Test
    void randomVocabulariesWithTiesMergeAsBefore() {
        SplittableRandom rnd = new SplittableRandom(2024);
        List<byte[]> common = texts(12);
        for (int s = 0; s < 40; s++) {
            boolean emptyBos = s % 8 == 7; // Java only: C rejects empty pieces
            SyntheticVocab sv = SyntheticVocab.random(1000 + s, 20 + rnd.nextInt(200), emptyBos);
            Vocab v = Vocab.of("synthetic seed " + (1000 + s), sv.file, sv.vocabSize, !emptyBos);
            List<byte[]> texts = new ArrayList<>(common.subList(0, 60));
            for (int i = 0; i < 150; i++) {
                texts.add(sv.text(rnd, i < 147 ? 60 : 2000));
            }
            check(v, texts);
        }
    }

    /** Equal scores everywhere: whichever pair is leftmost must merge first, on both paths. */
    @Test
    void tiesGoToTheLeftmostPair() {
        // "ab" and "ba" tie, as do "aab" and "abb": in "abab..." the first pair decides everything.
        List<byte[]> pieces = new ArrayList<>();
        List<Float> scores = new ArrayList<>();
        pieces.add("<unk>".getBytes(StandardCharsets.UTF_8));
        pieces.add("\n<s>\n".getBytes(StandardCharsets.UTF_8));
        pieces.add("\n</s>\n".getBytes(StandardCharsets.UTF_8));
        for (int b = 0; b < 256; b++) {
            pieces.add(String.format("<0x%02X>", b).getBytes(StandardCharsets.UTF_8));
        }
        while (scores.size() < pieces.size()) {
            scores.add(0f);
        }
        String[] extra = {"a", "b", "ab", "ba", "aab", "abb", "abab", "baba", "bab", "aba"};
        float[] extraScores = {0f, 0f, -1f, -1f, -2f, -2f, -0f, 0f, -2f, -2f};
        for (int i = 0; i < extra.length; i++) {
            pieces.add(extra[i].getBytes(StandardCharsets.UTF_8));
            scores.add(extraScores[i]);
        }
        Vocab v = Vocab.of("ties", SyntheticVocab.write(pieces, scores), pieces.size(), true);
        List<byte[]> texts = new ArrayList<>();
        for (String s : new String[] {"ab", "ba", "aba", "bab", "abab", "baba", "aab", "abb", "ababab", "bababa",
            "aabb", "abba", "baab"}) {
            for (int k = 1; k <= 9; k++) {
                texts.add(s.repeat(k).getBytes(StandardCharsets.UTF_8));
            }
        }
        check(v, texts);
        // one case spelled out: b,a,b,a -> "ba" (leftmost of three tied pairs),b,a -> "ba","ba" -> "baba"
        assertArrayEquals(v.old.encode(bytes("baba"), false, false), v.java.encode(bytes("baba"), false, false));
        assertEquals(1, v.java.encode(bytes("baba"), false, false).length);
    }

    /** A 400 KB prompt encodes on both paths (no timing asserted) and both give the same tokens. */
    @Test
    void a400KbPromptEncodesOnBothPaths() throws IOException {
        byte[] text = PromptTexts.longPrompt(400_000);
        Path file = TestModels.find(TestModels.LLAMA2_TOKENIZER).orElse(null);
        byte[] image = file != null ? Files.readAllBytes(file) : TokenizerWriter.byteLevel(32000);
        Tokenizer java = Tokenizer.parse(NAME, image, 32000);
        int[] ids = java.encode(text, true, false);
        try (NativeTokenizer c = NativeTokenizer.parse(NAME, image, 32000)) {
            assertArrayEquals(ids, c.encode(text, true, false));
        }
        assertTrue(ids.length > 1000 && ids.length < text.length / 2, "merged into " + ids.length + " tokens");
        assertArrayEquals(text, TokenizerTest.decodeAllBytes(java, ids));
    }

    private static void check(Vocab v, List<byte[]> texts) {
        NativeTokenizer c = v.withC ? NativeTokenizer.parse(NAME, v.file, v.java.vocabSize()) : null;
        try {
            int i = 0;
            for (byte[] text : texts) {
                boolean bos = (i & 1) == 0;
                boolean eos = (i & 2) == 0;
                i++;
                Object want = run(() -> v.old.encode(text, bos, eos));
                assertSame(want, run(() -> v.java.encode(text, bos, eos)), v, "Java", text);
                if (c != null) {
                    assertSame(want, run(() -> c.encode(text, bos, eos)), v, "C", text);
                }
            }
        } finally {
            if (c != null) {
                c.close();
            }
        }
    }

    private interface Encode {
        int[] run();
    }

    /** The ids, or the offset and byte of an {@link UnencodableTextException} as a string. */
    private static Object run(Encode e) {
        try {
            return e.run();
        } catch (UnencodableTextException x) {
            return "unencodable byte " + x.byteValue() + " at " + x.offset();
        }
    }

    private static void assertSame(Object want, Object got, Vocab v, String path, byte[] text) {
        boolean same = want instanceof int[] w && got instanceof int[] g ? Arrays.equals(w, g) : want.equals(got);
        if (!same) {
            fail(path + " encoder differs from the quadratic one on vocabulary " + v.name + ", text ("
                + text.length + " bytes) " + preview(text) + ":\n  want " + show(want) + "\n  got  " + show(got));
        }
    }

    private static String show(Object o) {
        if (o instanceof int[] a) {
            return a.length > 60 ? Arrays.toString(Arrays.copyOf(a, 60)) + "... (" + a.length + " ids)" : Arrays.toString(a);
        }
        return o.toString();
    }

    private static String preview(byte[] text) {
        byte[] head = Arrays.copyOf(text, Math.min(text.length, 60));
        return Arrays.toString(head) + (text.length > 60 ? "..." : "");
    }

    private static byte[] randomBytes(SplittableRandom rnd, int n) {
        byte[] b = new byte[n];
        for (int i = 0; i < n; i++) {
            b[i] = (byte) rnd.nextInt(256);
        }
        return b;
    }

    private static byte[] randomUtf8(SplittableRandom rnd, int codePoints) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (int i = 0; i < codePoints; i++) {
            int kind = rnd.nextInt(10);
            int cp;
            if (kind < 6) {
                cp = " aeinorst".charAt(rnd.nextInt(9));
            } else if (kind < 8) {
                cp = 0x20 + rnd.nextInt(0x5F);
            } else if (kind < 9) {
                cp = 0xA0 + rnd.nextInt(0x700);
            } else {
                do {
                    cp = rnd.nextInt(0x110000);
                } while (cp >= 0xD800 && cp <= 0xDFFF);
            }
            out.writeBytes(new String(Character.toChars(cp)).getBytes(StandardCharsets.UTF_8));
        }
        return out.toByteArray();
    }

    private static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }
}

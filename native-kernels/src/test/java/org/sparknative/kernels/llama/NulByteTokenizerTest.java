package org.sparknative.kernels.llama;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.IntPointer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.sparknative.kernels.testing.TestModels;

/**
 * NUL bytes in prompts: the C tokenizer ({@link NativeTokenizer}) and the Java reference ({@link Tokenizer})
 * agree. A NUL is text like any other byte: encoded as {@code <0x00>} (id 3) where the vocabulary has byte
 * tokens, never merged with a neighbour, never the end of the text; {@code <0x00>} decodes to one 0 byte;
 * a vocabulary without byte tokens is an {@link UnencodableTextException} naming the byte's offset.
 */
class NulByteTokenizerTest {
    /** The prompts that made the two backends generate different text. */
    static final String[] NUL_PROMPTS = {"The cat\u0000sat on the mat", "\u0000", "Tom and\u0000 Lily"};

    private static final Path NAME = Path.of("nul-test-tokenizer.bin");

    /** The NUL prompts and more: NUL at either end, repeated, beside multi-byte and broken UTF-8, beside "<0x00>". */
    static List<byte[]> texts() {
        List<byte[]> t = new ArrayList<>();
        for (String s : NUL_PROMPTS) {
            t.add(s.getBytes(StandardCharsets.UTF_8));
        }
        t.add(bytes("Once upon a time", 0));
        t.add(bytes(0, "Once upon a time"));
        t.add(bytes(0, 0, 0));
        t.add(bytes("a", 0, 0, "b", 0, " c"));
        t.add(bytes("caf\u00e9", 0, "\u65e5\u672c \uD83D\uDE00", 0));
        t.add(bytes(0xc3, 0, 0xa9, " ", 0xe6, 0x97, 0)); // a lead byte cut short by NUL, a stray continuation
        t.add(bytes("<0x00>", 0, "<0x00>"));
        t.add(bytes("\n", 0, "\t", 0x01, 0x7f, 0xff));
        return t;
    }

    @Test
    void tok512AgreesOnNul() {
        Path file = TestModels.require(TestModels.TOK_512);
        try (NativeTokenizer nat = NativeTokenizer.load(file, 512)) {
            checkAgree(Tokenizer.load(file, 512), nat);
        }
    }

    @Test
    void llama2VocabularyAgreesOnNul() {
        Path file = TestModels.require(TestModels.LLAMA2_TOKENIZER);
        try (NativeTokenizer nat = NativeTokenizer.load(file, 32000)) {
            checkAgree(Tokenizer.load(file, 32000), nat);
        }
    }

    @Test
    void byteLevelTokenizersAgreeOnNul() {
        for (int vocab : new int[] {259, 400, 4000}) {
            byte[] image = TokenizerWriter.byteLevel(vocab);
            try (NativeTokenizer nat = NativeTokenizer.parse(NAME, image, vocab)) {
                checkAgree(Tokenizer.parse(NAME, image, vocab), nat);
            }
        }
    }

    /**
     * For every text: the same ids from both, one {@code <0x00>} per NUL, the text before the first NUL
     * encoded exactly as on its own (nothing merges across a NUL), and every piece decoded the same, so the
     * text comes back byte for byte.
     */
    private static void checkAgree(Tokenizer java, NativeTokenizer nat) {
        for (byte[] text : texts()) {
            String what = "vocab " + java.vocabSize() + ", text " + Arrays.toString(text);
            for (boolean[] flags : new boolean[][] {{true, false}, {false, true}, {true, true}}) {
                assertArrayEquals(java.encode(text, flags[0], flags[1]), nat.encode(text, flags[0], flags[1]),
                    what + " bos/eos " + Arrays.toString(flags));
            }
            int[] ids = nat.encode(text, true, false);
            int nuls = 0;
            for (byte b : text) {
                nuls += b == 0 ? 1 : 0;
            }
            assertEquals(nuls, Arrays.stream(ids).filter(id -> id == 3).count(), what + ": one <0x00> per NUL, ids "
                + Arrays.toString(ids));
            int firstNul = indexOf(text, (byte) 0);
            int firstId3 = indexOf(ids, 3);
            if (firstNul > 0) {
                int[] before = nat.encode(Arrays.copyOf(text, firstNul), true, false);
                assertArrayEquals(before, Arrays.copyOf(ids, before.length), what + ": the text before the NUL");
                assertEquals(before.length, firstId3, what + ": <0x00> right after it");
            } else {
                // BOS, the dummy prefix " " if the vocabulary has it, then <0x00>
                boolean prefix = firstId3 == 2 && Arrays.equals(new byte[] {' '}, java.decode(0, ids[1]));
                assertTrue(firstId3 == 1 || prefix, what + ": ids " + Arrays.toString(ids));
            }
            ByteArrayOutputStream javaText = new ByteArrayOutputStream();
            ByteArrayOutputStream nativeText = new ByteArrayOutputStream();
            for (int k = 1; k < ids.length; k++) {
                byte[] j = java.decode(ids[k - 1], ids[k]);
                byte[] n = nat.decode(ids[k - 1], ids[k]);
                assertArrayEquals(j, n, what + ": decode of token " + ids[k] + " after " + ids[k - 1]);
                javaText.writeBytes(j);
                nativeText.writeBytes(n);
            }
            assertArrayEquals(text, javaText.toByteArray(), what + ": Java round trip");
            assertArrayEquals(text, nativeText.toByteArray(), what + ": native round trip");
        }
        for (int prev : new int[] {0, 1, 3, 100}) {
            assertArrayEquals(new byte[] {0}, java.decode(prev, 3), "<0x00> after " + prev);
            assertArrayEquals(new byte[] {0}, nat.decode(prev, 3), "<0x00> after " + prev);
            assertArrayEquals(new byte[0], nat.decodePrintable(prev, 3), "safe_printf drops the 0 byte");
        }
        try (BytePointer dst = new BytePointer(4)) {
            dst.put(0, (byte) 0x55);
            assertEquals(1, nat.decode(7, 3, dst.address(), 4), "<0x00> into native memory: one byte");
            assertEquals(0, dst.get(0));
            assertEquals(-1, nat.decode(7, 3, dst.address(), 0), "and it needs room for that byte");
        }
    }

    /**
     * A vocabulary of 259+ pieces whose ids 3..258 are not byte tokens: every printable ASCII character is a
     * piece, so only a NUL (or another byte without a piece) cannot be encoded, and both tokenizers say where.
     */
    @Test
    void vocabularyWithoutByteTokensNamesTheOffsetFromBoth() {
        List<String> pieces = new ArrayList<>(List.of("<unk>", "\n<s>\n", "\n</s>\n"));
        for (int i = 3; i < 259; i++) {
            pieces.add("w" + i);
        }
        for (char c = ' '; c <= '~'; c++) {
            pieces.add(String.valueOf(c));
        }
        pieces.add("at");
        pieces.add("he");
        byte[] image = image(pieces);
        int vocab = pieces.size();
        Tokenizer java = Tokenizer.parse(NAME, image, vocab);
        try (NativeTokenizer nat = NativeTokenizer.parse(NAME, image, vocab)) {
            // text made of pieces encodes, the same in both
            byte[] plain = "The cat sat on the mat".getBytes(StandardCharsets.UTF_8);
            assertArrayEquals(java.encode(plain, true, false), nat.encode(plain, true, false));
            int[] offsets = {7, 0, 7};
            for (int i = 0; i < NUL_PROMPTS.length; i++) {
                byte[] text = NUL_PROMPTS[i].getBytes(StandardCharsets.UTF_8);
                assertUnencodable(offsets[i], 0, () -> java.encode(text, true, false));
                assertUnencodable(offsets[i], 0, () -> java.encode(text, false, true));
                assertUnencodable(offsets[i], 0, () -> nat.encode(text, true, false));
                assertUnencodable(offsets[i], 0, () -> nat.encode(text, false, true));
                assertNativeAddressFormsFail(nat, text, offsets[i], 0);
            }
            // any other byte without a piece is the same error: the first one in the text is named
            byte[] accent = bytes("ok caf\u00e9", 0);
            assertUnencodable(6, 0xc3, () -> java.encode(accent, true, false));
            assertUnencodable(6, 0xc3, () -> nat.encode(accent, true, false));
            assertNativeAddressFormsFail(nat, accent, 6, 0xc3);
        }
    }

    /** Only {@code <0x00>} missing (id 3 is another piece): NUL is the error, other bytes still fall back. */
    @Test
    void missingNulTokenAloneIsTheError() {
        List<String> pieces = new ArrayList<>(List.of("<unk>", "\n<s>\n", "\n</s>\n", "<nul>"));
        for (int b = 1; b < 256; b++) {
            pieces.add(String.format("<0x%02X>", b));
        }
        pieces.add(" ");
        pieces.add("a");
        byte[] image = image(pieces);
        Tokenizer java = Tokenizer.parse(NAME, image, pieces.size());
        try (NativeTokenizer nat = NativeTokenizer.parse(NAME, image, pieces.size())) {
            byte[] fine = bytes("a\u00e9a", 0x01);
            assertArrayEquals(java.encode(fine, true, false), nat.encode(fine, true, false));
            byte[] withNul = bytes("a\u00e9", 0, "a");
            assertUnencodable(3, 0, () -> java.encode(withNul, true, false));
            assertUnencodable(3, 0, () -> nat.encode(withNul, true, false));
            assertNativeAddressFormsFail(nat, withNul, 3, 0);
        }
    }

    /** A vocabulary too small for any byte token (the C tokenizer accepts it; the Java one needs 259). */
    @Test
    void nativeTinyVocabularyNamesTheOffset() {
        byte[] image = image(List.of("a", "b", "ab"));
        try (NativeTokenizer nat = NativeTokenizer.parse(NAME, image, 3)) {
            assertArrayEquals(new int[] {0, 2}, nat.encode(bytes("aab"), false, false));
            assertUnencodable(2, 0, () -> nat.encode(bytes("ab", 0, "a"), true, false));
            assertNativeAddressFormsFail(nat, bytes("ab", 0, "a"), 2, 0);
        }
    }

    private static void assertNativeAddressFormsFail(NativeTokenizer nat, byte[] text, int offset, int b) {
        byte[] shifted = bytes("x", text); // the text at offset 1 of the buffer: offsets count from the text
        try (BytePointer buf = new BytePointer(shifted.length); IntPointer out = new IntPointer(text.length + 3L)) {
            buf.put(shifted, 0, shifted.length);
            long at = buf.address() + 1;
            assertUnencodable(offset, b, () -> nat.encode(at, text.length, true, false, new int[text.length + 3]));
            assertUnencodable(offset, b, () -> nat.encodeTo(at, text.length, false, true, out.address()));
        }
    }

    private static void assertUnencodable(int offset, int b, Executable e) {
        UnencodableTextException x = assertThrows(UnencodableTextException.class, e);
        assertEquals(offset, x.offset(), x.getMessage());
        assertEquals(b, x.byteValue(), x.getMessage());
        assertTrue(x.getMessage().contains("at offset " + offset + " "), x.getMessage());
    }

    /** A tokenizer.bin image of the given pieces, score -i for piece i. */
    static byte[] image(List<String> pieces) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        int max = 0;
        List<byte[]> raw = new ArrayList<>();
        for (String p : pieces) {
            byte[] b = p.getBytes(StandardCharsets.UTF_8);
            raw.add(b);
            max = Math.max(max, b.length);
        }
        ByteBuffer b8 = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
        out.write(b8.putInt(0, max).array(), 0, 4);
        for (int i = 0; i < raw.size(); i++) {
            b8.clear();
            b8.putFloat(-i).putInt(raw.get(i).length);
            out.writeBytes(b8.array());
            out.writeBytes(raw.get(i));
        }
        return out.toByteArray();
    }

    private static int indexOf(byte[] a, byte v) {
        for (int i = 0; i < a.length; i++) {
            if (a[i] == v) {
                return i;
            }
        }
        return -1;
    }

    private static int indexOf(int[] a, int v) {
        for (int i = 0; i < a.length; i++) {
            if (a[i] == v) {
                return i;
            }
        }
        return -1;
    }

    /** Strings as UTF-8, ints as single bytes, byte arrays as they are. */
    static byte[] bytes(Object... parts) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (Object p : parts) {
            if (p instanceof byte[] b) {
                out.writeBytes(b);
            } else {
                out.writeBytes(TokenizerTest.bytes(p));
            }
        }
        return out.toByteArray();
    }
}

package org.sparknative.kernels.llama;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.sparknative.kernels.testing.TestModels;

/**
 * Fuzz target, differential: prompt encoding by the Java tokenizer ({@link Tokenizer#encode}) and the C one
 * ({@link NativeTokenizer#encode}) must give the same ids, or both the same {@link UnencodableTextException}
 * (same offset and byte); on texts of up to 2 KB both must also equal the quadratic encoder they replaced
 * ({@link QuadraticEncoder}). The vocabulary is either a fixed one (the real tok512 and Llama 2 ones where
 * present, byte-level ones) or one built from the input: the 259 standard entries, up to 32 pieces with scores
 * from a tie-prone set or any float, and a few byte-fallback pieces replaced. The rest of the input is the text.
 */
class EncodeDifferentialFuzzTest {
    private static final Path NAME = Path.of("fuzz-encode.bin");
    private static final float[] SCORES = {0f, -0f, -1f, -2f, 1f, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY,
        -1e10f, Float.MAX_VALUE, Float.MIN_VALUE};
    /** The fixed vocabularies, parsed once: Java, quadratic, C (never closed; they live as long as the JVM). */
    private static final List<Tokenizer> FIXED_JAVA = new ArrayList<>();
    private static final List<QuadraticEncoder> FIXED_OLD = new ArrayList<>();
    private static final List<NativeTokenizer> FIXED_C = new ArrayList<>();
    /** The 259 standard pieces: {@code <unk>}, BOS, EOS, {@code <0x00>..<0xFF>}. */
    private static final List<byte[]> STANDARD = new ArrayList<>();

    static {
        STANDARD.add(utf8("<unk>"));
        STANDARD.add(utf8("\n<s>\n"));
        STANDARD.add(utf8("\n</s>\n"));
        for (int b = 0; b < 256; b++) {
            STANDARD.add(utf8(String.format("<0x%02X>", b)));
        }
        fixed(TokenizerWriter.byteLevel(259), 259);
        fixed(TokenizerWriter.byteLevel(1000), 1000);
        try {
            for (var real : List.of(new Object[] {TestModels.TOK_512, 512}, new Object[] {TestModels.LLAMA2_TOKENIZER, 32000})) {
                var p = TestModels.find((String) real[0]);
                if (p.isPresent()) {
                    fixed(Files.readAllBytes(p.get()), (Integer) real[1]);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void fixed(byte[] image, int vocab) {
        Tokenizer t = Tokenizer.parse(NAME, image, vocab);
        FIXED_JAVA.add(t);
        FIXED_OLD.add(new QuadraticEncoder(t));
        FIXED_C.add(NativeTokenizer.parse(NAME, image, vocab));
    }

    @FuzzTest(maxDuration = "90s")
    void javaVsC(FuzzedDataProvider data) {
        int which = data.consumeInt(0, FIXED_JAVA.size());
        if (which < FIXED_JAVA.size()) {
            boolean bos = data.consumeBoolean();
            boolean eos = data.consumeBoolean();
            byte[] text = data.consumeRemainingAsBytes();
            FuzzInputs.persist("encode-text", text);
            compare(FIXED_JAVA.get(which), FIXED_C.get(which), text.length <= 2048 ? FIXED_OLD.get(which) : null, text,
                bos, eos);
            return;
        }
        List<byte[]> pieces = new ArrayList<>(STANDARD);
        List<Float> scores = new ArrayList<>(java.util.Collections.nCopies(pieces.size(), 0f));
        for (int k = data.consumeInt(0, 3); k > 0; k--) {
            pieces.set(data.consumeInt(0, 258), data.consumeBytes(data.consumeInt(1, 8)));
        }
        for (int k = data.consumeInt(0, 32); k > 0; k--) {
            pieces.add(data.consumeBytes(data.consumeInt(1, 8)));
            scores.add(data.consumeBoolean() ? data.pickValue(SCORES) : data.consumeFloat());
        }
        byte[] image = SyntheticVocab.write(pieces, scores);
        int vocab = pieces.size();
        boolean bos = data.consumeBoolean();
        boolean eos = data.consumeBoolean();
        byte[] text = data.consumeRemainingAsBytes();
        FuzzInputs.persist("encode-text", text);

        Tokenizer java;
        try {
            java = Tokenizer.parse(NAME, image, vocab);
        } catch (CheckpointException e) {
            java = null; // NaN scores, NUL or empty pieces...
        }
        NativeTokenizer c;
        try {
            c = NativeTokenizer.load(FuzzInputs.persist("encode-vocab", image), vocab);
        } catch (CheckpointException e) {
            c = null;
        }
        try {
            if (java == null || c == null) {
                if (c != null) {
                    run(c, text, bos, eos); // C alone must not crash either
                }
                return; // the parsers differ on purpose there (Java refuses NaN scores, C empty pieces)
            }
            compare(java, c, text.length <= 2048 ? new QuadraticEncoder(java) : null, text, bos, eos);
        } finally {
            if (c != null) {
                c.close();
            }
        }
    }

    private static void compare(Tokenizer java, NativeTokenizer c, QuadraticEncoder old, byte[] text, boolean bos,
                                boolean eos) {
        Object fromJava = run(java, text, bos, eos);
        same("Java", "C", fromJava, run(c, text, bos, eos));
        if (old != null) {
            Object fromOld;
            try {
                fromOld = old.encode(text, bos, eos);
            } catch (UnencodableTextException e) {
                fromOld = describe(e);
            }
            same("quadratic", "Java", fromOld, fromJava);
        }
    }

    private static Object run(Tokenizer t, byte[] text, boolean bos, boolean eos) {
        try {
            return t.encode(text, bos, eos);
        } catch (UnencodableTextException e) {
            return describe(e);
        }
    }

    private static Object run(NativeTokenizer t, byte[] text, boolean bos, boolean eos) {
        try {
            return t.encode(text, bos, eos);
        } catch (UnencodableTextException e) {
            return describe(e);
        }
    }

    private static String describe(UnencodableTextException e) {
        return "UnencodableTextException(byte " + e.byteValue() + " at " + e.offset() + ")";
    }

    private static void same(String a, String b, Object x, Object y) {
        boolean equal = x instanceof int[] p && y instanceof int[] q ? Arrays.equals(p, q) : x.equals(y);
        if (!equal) {
            throw new AssertionError(a + " and " + b + " encoders differ:\n  " + a + ": " + show(x) + "\n  " + b + ": "
                + show(y));
        }
    }

    private static String show(Object o) {
        return o instanceof int[] a ? Arrays.toString(a) : String.valueOf(o);
    }

    private static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }
}

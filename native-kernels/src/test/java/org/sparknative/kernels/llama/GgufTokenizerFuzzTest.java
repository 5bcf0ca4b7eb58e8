package org.sparknative.kernels.llama;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.sparknative.kernels.gguf.GgufException;
import org.sparknative.kernels.gguf.GgufFile;
import org.sparknative.kernels.gguf.GgufTokenizer;
import org.sparknative.kernels.gguf.GgufValue;
import org.sparknative.kernels.gguf.GgufWriter;

/**
 * Fuzz target, structured: the tokenizer metadata of a valid 300-token vocabulary with a few random changes (a piece,
 * a score, a token type, an id, a flag, the model, a key removed or retyped), written as a GGUF file. {@link
 * GgufTokenizer#of} must either refuse it with a {@link GgufException} naming the file, or accept it, and then both the
 * Java and the C tokenizer must be built from it without any other error (so that its validation covers everything the
 * llama2.c parsers check) and encode a text to the same ids. {@link #seeded()} runs the same checks on 400 seeded
 * inputs in every build.
 */
class GgufTokenizerFuzzTest {
    private static final int VOCAB = 300;
    private static final byte[] IMAGE = TokenizerWriter.byteLevel(VOCAB);
    private static final List<String> KEYS = List.of(GgufTokenizer.MODEL_KEY, GgufTokenizer.TOKENS_KEY,
        GgufTokenizer.SCORES_KEY, GgufTokenizer.TOKEN_TYPE_KEY, GgufTokenizer.BOS_KEY, GgufTokenizer.EOS_KEY,
        GgufTokenizer.ADD_BOS_KEY, GgufTokenizer.ADD_EOS_KEY, GgufTokenizer.ADD_SPACE_PREFIX_KEY);
    private static final String[] PIECES = {"", "\u0000", "\u2581", "\u2581\u2581", "<0x41>", "<0x0a>", "<s>", "a", "ab",
        "\u00e9", "\uD83D\uDE00", "<0x4", "\uFFFD"};

    /** The choices a run makes: from the fuzzer, or from a seeded generator. */
    interface Choices {
        int pick(int lo, int hi);

        String string(int max);

        float real();
    }

    @FuzzTest(maxDuration = "60s")
    void metadata(FuzzedDataProvider data) {
        check(new Choices() {
            @Override
            public int pick(int lo, int hi) {
                return data.consumeInt(lo, hi);
            }

            @Override
            public String string(int max) {
                return data.consumeString(max);
            }

            @Override
            public float real() {
                return data.consumeFloat();
            }
        }, Path.of("target", "fuzz", "gguf-tokenizer.gguf").toAbsolutePath());
    }

    @Test
    void seeded() throws IOException {
        Path file = Files.createTempFile("gguf-tokenizer-fuzz", ".gguf");
        try {
            for (long seed = 0; seed < 400; seed++) {
                SplittableRandom rnd = new SplittableRandom(seed);
                check(new Choices() {
                    @Override
                    public int pick(int lo, int hi) {
                        return lo + rnd.nextInt(hi - lo + 1);
                    }

                    @Override
                    public String string(int max) {
                        return GgufTokenizerRealModelsTest.randomUtf8(rnd, rnd.nextInt(max + 1));
                    }

                    @Override
                    public float real() {
                        return switch (rnd.nextInt(4)) {
                            case 0 -> Float.NaN;
                            case 1 -> Float.NEGATIVE_INFINITY;
                            default -> (float) rnd.nextGaussian() * 10;
                        };
                    }
                }, file);
            }
        } finally {
            Files.deleteIfExists(file);
        }
    }

    static void check(Choices in, Path file) {
        Map<String, GgufValue> m = GgufTokenizerTest.metadata(IMAGE, VOCAB);
        for (int k = in.pick(0, 4); k > 0; k--) {
            change(m, in);
        }
        GgufWriter w = new GgufWriter();
        m.forEach(w::put);
        try {
            Files.createDirectories(file.getParent());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        w.write(file);
        GgufFile g = GgufFile.open(file);
        GgufTokenizer t;
        try {
            t = GgufTokenizer.of(g);
        } catch (GgufException refused) {
            if (!refused.getMessage().startsWith(file + ": metadata key '")) {
                throw new AssertionError("the message names neither the file nor the key: " + refused.getMessage(), refused);
            }
            return;
        }
        Tokenizer java = t.java(); // no CheckpointException: GgufTokenizer must have refused the file itself
        byte[] text = in.string(40).getBytes(StandardCharsets.UTF_8);
        int[] ids = java.encode(text, true, false);
        try (NativeTokenizer c = t.nativeTokenizer()) {
            int[] fromC = c.encode(text, true, false);
            if (!Arrays.equals(ids, fromC)) {
                throw new AssertionError("Java " + Arrays.toString(ids) + " and C " + Arrays.toString(fromC) + " differ");
            }
        }
    }

    private static void change(Map<String, GgufValue> m, Choices in) {
        String key = KEYS.get(in.pick(0, KEYS.size() - 1));
        GgufValue old = m.get(key);
        int what = in.pick(0, 5);
        if (what == 0) {
            m.remove(key);
        } else if (what == 1) {
            m.put(key, in.pick(0, 1) == 0 ? GgufValue.bool(in.pick(0, 1) == 0) : GgufValue.uint32(in.pick(0, VOCAB + 1)));
        } else if (key.equals(GgufTokenizer.TOKENS_KEY) && old != null && old.isArray() && old.arrayLength() > 0) {
            String[] tokens = old.stringArray();
            tokens[in.pick(0, tokens.length - 1)] = in.pick(0, 1) == 0 ? PIECES[in.pick(0, PIECES.length - 1)] : in.string(6);
            m.put(key, GgufValue.stringArray(in.pick(0, 9) == 0 ? Arrays.copyOf(tokens, in.pick(0, tokens.length)) : tokens));
        } else if (key.equals(GgufTokenizer.SCORES_KEY) && old != null && old.isArray() && old.arrayLength() > 0) {
            float[] scores = old.floatArray();
            scores[in.pick(0, scores.length - 1)] = in.real();
            m.put(key, GgufValue.float32Array(scores));
        } else if (key.equals(GgufTokenizer.TOKEN_TYPE_KEY) && old != null && old.isArray() && old.arrayLength() > 0) {
            int[] types = old.intArray();
            types[in.pick(0, types.length - 1)] = in.pick(0, 7);
            m.put(key, GgufValue.int32Array(types));
        } else if (key.equals(GgufTokenizer.MODEL_KEY)) {
            m.put(key, GgufValue.string(in.pick(0, 1) == 0 ? "gpt2" : in.string(8)));
        } else {
            m.put(key, GgufValue.int32(in.pick(-2, VOCAB + 2)));
        }
    }
}

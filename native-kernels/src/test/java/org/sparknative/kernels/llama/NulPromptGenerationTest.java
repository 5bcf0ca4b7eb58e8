package org.sparknative.kernels.llama;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sparknative.kernels.testing.TestModels;

/**
 * Greedy generation from prompts holding NUL bytes gives the same tokens and text on the native path
 * ({@link NativeTokenizer}, {@link NativeLlamaModel}, the batch's sampler) as on the Java reference path
 * ({@link Tokenizer}, {@link ReferenceTransformer}, {@link ReferenceGenerator}): the prompt is encoded the
 * same, the text after the NUL included, so the model sees the same tokens.
 */
class NulPromptGenerationTest {
    private static final int MAX_NEW_TOKENS = 48;

    @TempDir
    Path tmp;

    @Test
    void stories260kGeneratesTheSameFromNulPrompts() {
        Path model = TestModels.require(TestModels.STORIES_260K);
        Path tok = TestModels.require(TestModels.TOK_512);
        checkSame(model, tok);
    }

    @Test
    void syntheticModelGeneratesTheSameFromNulPrompts() {
        LlamaConfig c = new LlamaConfig(48, 96, 2, 4, 2, 320, 64, false);
        Path model = tmp.resolve("synthetic.bin");
        Path tok = tmp.resolve("synthetic-tok.bin");
        SyntheticCheckpoint.write(model, c, 17, CheckpointFormat.V1, 0.3f); // spread logits: a telling argmax
        TokenizerWriter.writeByteLevel(tok, c.vocabSize());
        checkSame(model, tok);
    }

    private static void checkSame(Path modelFile, Path tokFile) {
        Checkpoint ckpt = Checkpoint.open(modelFile);
        int vocab = ckpt.config().vocabSize();
        Tokenizer javaTok = Tokenizer.load(tokFile, vocab);
        ReferenceTransformer reference = new ReferenceTransformer(ckpt);
        try (NativeLlamaModel model = NativeLlamaModel.map(ckpt); NativeTokenizer nativeTok = NativeTokenizer.load(tokFile, vocab)) {
            for (String prompt : NulByteTokenizerTest.NUL_PROMPTS) {
                byte[] utf8 = prompt.getBytes(StandardCharsets.UTF_8);
                reference.reset();
                ReferenceGenerator.Result want = ReferenceGenerator.generate(reference, javaTok, utf8, MAX_NEW_TOKENS, 0f,
                    0.9f, 0);
                int[] prompted = nativeTok.encode(utf8, true, false);
                String what = modelFile.getFileName() + ", prompt " + Arrays.toString(utf8);
                assertArrayEquals(want.promptTokens(), prompted, what + ": prompt tokens");
                assertTrue(Arrays.stream(prompted).anyMatch(t -> t == 3), what + ": the NUL is <0x00> in the prompt");
                ByteArrayOutputStream back = new ByteArrayOutputStream();
                for (int k = 1; k < prompted.length; k++) {
                    back.writeBytes(nativeTok.decode(prompted[k - 1], prompted[k]));
                }
                assertArrayEquals(utf8, back.toByteArray(), what + ": the prompt tokens hold all of it, after the NUL too");
                NativeRun got = generateNative(model, nativeTok, prompted, MAX_NEW_TOKENS);
                assertArrayEquals(want.completionTokens(), got.tokens, what + ": completion tokens");
                assertEquals(want.completion(), got.text, what + ": completion text");
                assertTrue(want.completionTokens().length > 0, what + ": something was generated");
            }
        }
    }

    private record NativeRun(int[] tokens, String text) {
    }

    /**
     * ReferenceGenerator's loop on the native path: the whole prompt prefilled in one step, then one row per
     * step; greedy; stops on BOS/EOS, after {@code maxNew} tokens, or at seq_len; pieces decoded raw (every
     * byte kept, as ReferenceGenerator does) and the bytes read as UTF-8.
     */
    private static NativeRun generateNative(NativeLlamaModel model, NativeTokenizer tok, int[] prompt, int maxNew) {
        int seqLen = model.config().seqLen();
        int[] out = new int[maxNew];
        int generated = 0;
        ByteArrayOutputStream text = new ByteArrayOutputStream();
        long[] rng = {Sampler.seedState(0)};
        try (NativeLlamaBatch b = model.newBatch(1, prompt.length)) {
            int n = prompt.length;
            int[] pos = new int[n];
            for (int i = 0; i < n; i++) {
                pos[i] = i;
            }
            b.forward(n, prompt, pos, new int[n], 1, new int[] {n - 1}, 1);
            int token = prompt[n - 1];
            int p = n;
            while (true) {
                int next = b.sample(0, 0f, 0.9f, rng);
                if (next == Tokenizer.BOS || next == Tokenizer.EOS) {
                    break;
                }
                out[generated++] = next;
                text.writeBytes(tok.decode(token, next));
                token = next;
                if (generated >= maxNew || p >= seqLen) {
                    break;
                }
                b.forward(1, new int[] {token}, new int[] {p}, new int[] {0}, 1, new int[] {0}, 1);
                p++;
            }
        }
        return new NativeRun(Arrays.copyOf(out, generated), Tokenizer.decodeUtf8(text.toByteArray()));
    }
}

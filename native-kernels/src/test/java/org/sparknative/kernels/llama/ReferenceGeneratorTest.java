package org.sparknative.kernels.llama;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sparknative.kernels.testing.TestModels;

/**
 * End-to-end generation against llama2.c's own output ({@code run stories260K.bin -z tok512.bin ...},
 * run.c compiled with gcc). llama2.c's {@code -n 200} is 200 forward passes, each followed by a sample:
 * with an empty prompt (BOS only) that is 200 generated tokens, so these tests use maxNewTokens = 200.
 */
class ReferenceGeneratorTest {
    private static final String GREEDY = TestModels.GREEDY_260K;

    private static final String SAMPLED_SEED_42 = TestModels.SAMPLED_260K_SEED42;

    /** {@code -t 1 -p 0.9 -s 7 -n 512}: top-p sampling until llama2.c samples BOS after 163 tokens. */
    private static final String TOPP_SEED_7 = "Once upon a time, there was a little boy named Tim. Tim lived in a big house"
        + " with his mom and dad. They had a popcorn toy. Tim was very strong and teared. He asked his mom, \"Why are you"
        + " sad?\"\n"
        + "Tim said, \"Mom, you are bad. You can help you go on it.\" His mom said, \"Sure, we can play together!\" Tim and"
        + " Spot were very excited. They played with the ball by the ball, just like a spoon.";

    private static ReferenceTransformer model() {
        return new ReferenceTransformer(Checkpoint.open(TestModels.require(TestModels.STORIES_260K)));
    }

    private static Tokenizer tok512() {
        return Tokenizer.load(TestModels.require(TestModels.TOK_512), 512);
    }

    @Test
    void greedyMatchesLlama2c() {
        ReferenceGenerator.Result r = ReferenceGenerator.generate(model(), tok512(), new byte[0], 200, 0f, 0.9f, 42);
        assertEquals(GREEDY, r.completion());
        assertArrayEquals(new int[] {1}, r.promptTokens());
        assertEquals(200, r.completionTokens().length);
        assertEquals(358, r.completionTokens()[199], "the last token is \" she\"");
        assertEquals("length", r.finishReason());
    }

    @Test
    void multinomialSamplingMatchesLlama2cForSeed42() {
        ReferenceGenerator.Result r = ReferenceGenerator.generate(model(), tok512(), new byte[0], 200, 1f, 1f, 42);
        assertEquals(SAMPLED_SEED_42, r.completion());
        assertEquals(200, r.completionTokens().length);
        assertEquals("length", r.finishReason());
    }

    @Test
    void topPSamplingStopsAtBosLikeLlama2c() {
        ReferenceGenerator.Result r = ReferenceGenerator.generate(model(), tok512(), new byte[0], 1000, 1f, 0.9f, 7);
        assertEquals(TOPP_SEED_7, r.completion());
        assertEquals(163, r.completionTokens().length);
        assertEquals("stop", r.finishReason());
    }

    @Test
    void promptTokensAreForcedAndNotPartOfTheCompletion() {
        // llama2.c -t 0 -n 60 -i "Once upon a time": 5 prompt tokens (BOS included), 56 generated
        ReferenceGenerator.Result r = ReferenceGenerator.generate(model(), tok512(),
            "Once upon a time".getBytes(StandardCharsets.UTF_8), 56, 0f, 0.9f, 1);
        assertArrayEquals(new int[] {1, 403, 407, 261, 378}, r.promptTokens());
        assertEquals(", there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big,"
            + " red ball. She wanted to play with it, but it was too high", r.completion());
        assertEquals(56, r.completionTokens().length);
        assertEquals(432, r.completionTokens()[0]);
        assertEquals("length", r.finishReason());
    }

    @Test
    void stopsAtTheContextLength(@TempDir Path dir) {
        LlamaConfig c = LlamaConfig.parse("dim=16,hidden=32,layers=1,heads=2,kv_heads=1,vocab=300,seq=12");
        Path ckpt = dir.resolve("short.bin");
        Path tokFile = dir.resolve("tok.bin");
        SyntheticCheckpoint.write(ckpt, c, 5, CheckpointFormat.V1);
        TokenizerWriter.writeByteLevel(tokFile, 300);
        ReferenceTransformer m = new ReferenceTransformer(Checkpoint.open(ckpt));
        Tokenizer tok = Tokenizer.load(tokFile, 300);
        byte[] prompt = "ab".getBytes(StandardCharsets.UTF_8); // BOS, " ", then byte fallbacks for a, b
        int promptLen = tok.encode(prompt, true, false).length;
        // temperature 0 on random weights never hits BOS/EOS here; positions 0..11 are fed, the token
        // sampled from position 11 is the last one
        ReferenceGenerator.Result r = ReferenceGenerator.generate(m, tok, prompt, 1000, 0f, 0.9f, 1);
        assertEquals("length", r.finishReason());
        assertEquals(12 - (promptLen - 1), r.completionTokens().length, r.toString());
        // maxNewTokens = 0 generates nothing
        ReferenceGenerator.Result none = ReferenceGenerator.generate(m, tok, prompt, 0, 0f, 0.9f, 1);
        assertEquals(0, none.completionTokens().length);
        assertEquals("", none.completion());
        assertEquals("length", none.finishReason());
        // the completion is the decoded completion tokens
        StringBuilder expect = new StringBuilder();
        int prev = r.promptTokens()[promptLen - 1];
        java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
        for (int t : r.completionTokens()) {
            bytes.writeBytes(tok.decode(prev, t));
            prev = t;
        }
        expect.append(Tokenizer.decodeUtf8(bytes.toByteArray()));
        assertEquals(expect.toString(), r.completion());
    }

    @Test
    void stopsOnEos(@TempDir Path dir) throws Exception {
        // a one-layer model whose classifier row for EOS is huge: greedy picks EOS at once
        LlamaConfig c = LlamaConfig.parse("dim=16,hidden=32,layers=1,heads=2,kv_heads=2,vocab=300,seq=12,shared=false");
        Path ckpt = dir.resolve("eos.bin");
        SyntheticCheckpoint.write(ckpt, c, 5, CheckpointFormat.LEGACY);
        Checkpoint ck = Checkpoint.open(ckpt);
        byte[] b = java.nio.file.Files.readAllBytes(ckpt);
        java.nio.ByteBuffer bb = java.nio.ByteBuffer.wrap(b).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        ReferenceTransformer probe = new ReferenceTransformer(ck);
        float[] first = probe.forward(Tokenizer.BOS, 0);
        // scale the EOS row so that its logit becomes the largest in magnitude with the right sign
        int row = (int) ck.offset(Tensor.WCLS) + 4 * Tokenizer.EOS * 16;
        float sign = Math.signum(first[Tokenizer.EOS]);
        for (int i = 0; i < 16; i++) {
            bb.putFloat(row + 4 * i, bb.getFloat(row + 4 * i) * 1000f * sign);
        }
        java.nio.file.Files.write(ckpt, b);
        ReferenceTransformer m = new ReferenceTransformer(Checkpoint.open(ckpt));
        Path tokFile = dir.resolve("tok.bin");
        TokenizerWriter.writeByteLevel(tokFile, 300);
        ReferenceGenerator.Result r = ReferenceGenerator.generate(m, Tokenizer.load(tokFile, 300), new byte[0], 10, 0f,
            0.9f, 1);
        assertEquals("stop", r.finishReason());
        assertEquals(0, r.completionTokens().length);
        assertEquals("", r.completion());
    }

    @Test
    void rejectsMismatchedTokenizerAndBadArguments(@TempDir Path dir) {
        LlamaConfig c = LlamaConfig.parse("dim=16,hidden=32,layers=1,heads=2,vocab=300,seq=8");
        Path ckpt = dir.resolve("m.bin");
        Path tokFile = dir.resolve("tok.bin");
        SyntheticCheckpoint.write(ckpt, c, 5, CheckpointFormat.V1);
        TokenizerWriter.writeByteLevel(tokFile, 301);
        ReferenceTransformer m = new ReferenceTransformer(Checkpoint.open(ckpt));
        Tokenizer wrong = Tokenizer.load(tokFile, 301);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
            () -> ReferenceGenerator.generate(m, wrong, new byte[0], 4, 0f, 0.9f, 1));
        assertTrue(e.getMessage().contains("301") && e.getMessage().contains("300"), e.getMessage());
        TokenizerWriter.writeByteLevel(tokFile, 300);
        Tokenizer tok = Tokenizer.load(tokFile, 300);
        assertThrows(IllegalArgumentException.class, () -> ReferenceGenerator.generate(m, tok, new byte[0], -1, 0f, 0.9f, 1));
        assertThrows(IllegalArgumentException.class, () -> ReferenceGenerator.generate(m, tok, new byte[0], 4, -1f, 0.9f, 1));
        byte[] longPrompt = "\u0001\u0002\u0003\u0004\u0005\u0006\u0007\u0008".getBytes(StandardCharsets.UTF_8);
        e = assertThrows(IllegalArgumentException.class, () -> ReferenceGenerator.generate(m, tok, longPrompt, 4, 0f, 0.9f, 1));
        assertTrue(e.getMessage().contains("seq_len 8"), e.getMessage());
    }
}

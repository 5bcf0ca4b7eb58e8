package org.sparknative.kernels.llama;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.sparknative.kernels.testing.TestModels;

/**
 * stories260K + tok512 against llama2.c itself: the texts below are what llama2.c's run.c prints
 * ({@code run stories260K.bin -z tok512.bin -n 200 ...}), byte for byte.
 */
class NativeLlamaGenerationTest {
    /** {@code -t 0 -n 200} */
    static final String GREEDY = TestModels.GREEDY_260K;
    /** {@code -t 1 -p 1 -s 42 -n 200} */
    static final String SAMPLED = TestModels.SAMPLED_260K_SEED42;
    /** {@code -t 0.8 -p 0.9 -s 123 -n 80 -i "Once upon a time"} (top-p, with a prompt) */
    static final String PROMPTED = "Once upon a time, there was a little girl named Lily. She loved to play with her toys. "
        + "One day, she saw a big tree with a popular toy that she didn't like the toy. The toy was so much fun!\n"
        + "Lily asked her mommy,";
    /** {@code -t 0 -n 50 -i "The dog ran"} */
    static final String DOG = "The dog ran to the park with his mom. They liked to play with their toys. They liked to play "
        + "with their toys and run around the park. They";
    /** {@code -t 1 -p 0.9 -s 7 -n 120} */
    static final String TOPP = "Once upon a time, there was a little boy named Tim. Tim lived in a big house with his mom "
        + "and dad. They had a popcorn toy. Tim was very strong and teared. He asked his mom, \"Why are you sad?\"\n"
        + "Tim said, \"Mom, you are bad. You can help you go on it.\" His mom said, \"Sure, we can play tog";

    static NativeLlamaModel model;
    static NativeTokenizer tok;

    @BeforeAll
    static void open() {
        model = NativeLlamaModel.map(Checkpoint.open(TestModels.require(TestModels.STORIES_260K)));
        tok = NativeTokenizer.load(TestModels.require(TestModels.TOK_512), model.config().vocabSize());
    }

    @AfterAll
    static void close() {
        if (tok != null) {
            tok.close();
        }
        if (model != null) {
            model.close();
        }
    }

    @Test
    void greedyMatchesLlama2c() {
        assertEquals(GREEDY, LlamaTestSupport.generate(model, tok, "", 0f, 0.9f, 0, 200, 1));
    }

    @Test
    void sampledMatchesLlama2c() {
        assertEquals(SAMPLED, LlamaTestSupport.generate(model, tok, "", 1f, 1f, 42, 200, 1));
    }

    @Test
    void toppAndPromptsMatchLlama2c() {
        assertEquals(TOPP, LlamaTestSupport.generate(model, tok, "", 1f, 0.9f, 7, 120, 1));
        assertEquals(PROMPTED, LlamaTestSupport.generate(model, tok, "Once upon a time", 0.8f, 0.9f, 123, 80, 2));
        assertEquals(DOG, LlamaTestSupport.generate(model, tok, "The dog ran", 0f, 0.9f, 0, 50, 1));
    }

    @Test
    void concurrentSequencesInOneBatchStillMatch() {
        int[] bos = {Tokenizer.BOS};
        int[] once = tok.encode("Once upon a time".getBytes(StandardCharsets.UTF_8), true, false);
        int[] dog = tok.encode("The dog ran".getBytes(StandardCharsets.UTF_8), true, false);
        assertArrayEquals(new int[] {1, 403, 407, 261, 378}, once);
        for (int threads : new int[] {1, 2}) {
            try (NativeLlamaBatch b = model.newBatch(8, 16)) {
                List<LlamaTestSupport.Seq> seqs = List.of(
                    new LlamaTestSupport.Seq(5, once, 0.8f, 0.9f, 123, 80),
                    new LlamaTestSupport.Seq(0, bos, 0f, 0.9f, 0, 200),
                    new LlamaTestSupport.Seq(7, dog, 0f, 0.9f, 0, 50),
                    new LlamaTestSupport.Seq(3, bos, 1f, 1f, 42, 200),
                    new LlamaTestSupport.Seq(2, bos, 1f, 0.9f, 7, 120));
                // the prompts prefill 3 tokens per step; two sequences join late
                LlamaTestSupport.runTogether(b, tok, seqs, new int[] {0, 0, 4, 1, 9}, 3, threads);
                assertEquals(PROMPTED, seqs.get(0).text(), "threads " + threads);
                assertEquals(GREEDY, seqs.get(1).text(), "threads " + threads);
                assertEquals(DOG, seqs.get(2).text(), "threads " + threads);
                assertEquals(SAMPLED, seqs.get(3).text(), "threads " + threads);
                assertEquals(TOPP, seqs.get(4).text(), "threads " + threads);
            }
        }
    }

    @Test
    void oneModelSharedByConcurrentTasks() throws Exception {
        // Spark runs several tasks per executor: one batch each, one shared model, each with its own worker threads.
        java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(3);
        try {
            java.util.concurrent.Future<String> a = pool.submit(() -> LlamaTestSupport.generate(model, tok, "", 0f, 0.9f, 0, 200, 2));
            java.util.concurrent.Future<String> b = pool.submit(() -> LlamaTestSupport.generate(model, tok, "", 1f, 1f, 42, 200, 2));
            java.util.concurrent.Future<String> c = pool.submit(() -> LlamaTestSupport.generate(model, tok, "", 1f, 0.9f, 7, 120, 1));
            assertEquals(GREEDY, a.get());
            assertEquals(SAMPLED, b.get());
            assertEquals(TOPP, c.get());
        } finally {
            pool.shutdown();
        }
    }

    @Test
    void slotReuseStartsAFreshSequence() {
        // A slot that held a long sequence is reused from position 0: stale cache entries are never read.
        try (NativeLlamaBatch b = model.newBatch(1, 4)) {
            LlamaTestSupport.Seq first = new LlamaTestSupport.Seq(0, new int[] {1}, 1f, 1f, 42, 200);
            LlamaTestSupport.runTogether(b, tok, List.of(first), new int[] {0}, 1, 1);
            LlamaTestSupport.Seq again = new LlamaTestSupport.Seq(0, new int[] {1}, 0f, 1f, 0, 200);
            LlamaTestSupport.runTogether(b, tok, List.of(again), new int[] {0}, 1, 1);
            assertEquals(GREEDY, again.text());
        }
    }
}

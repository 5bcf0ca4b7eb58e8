package org.sparknative.kernels.llama;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.bytedeco.javacpp.FloatPointer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.sparknative.kernels.NativeLibrary;

/**
 * The repetition penalty and top-k ahead of llama2.c's sampler, in llama.cpp's order: hand-worked rows, and the C
 * sampler ({@code sn_sample_filtered}) against the Java one ({@link Sampler#sampleFiltered}) on random rows, token
 * for token and RNG state for RNG state.
 */
class SamplerFilterTest {
    @BeforeAll
    static void load() {
        NativeLibrary.ensureLoaded();
    }

    @Test
    void thePenaltyDividesPositiveLogitsAndMultipliesOthersOncePerDistinctToken() {
        float[] logits = {2f, -1f, 0.5f, 3f, 0f};
        Sampler.penalizeRepeats(logits, 5, new int[] {0, 1, 1, 7, -1, 4, 0}, 7, 2f);
        // 0: 2/2; 1: -1*2 (once, though it appears twice); 7 and -1 are outside the vocabulary; 4: 0*2
        assertArrayEquals(new float[] {1f, -2f, 0.5f, 3f, 0f}, logits);
        float[] same = {2f, -1f};
        Sampler.penalizeRepeats(same, 2, new int[] {0, 1}, 2, 1f);
        assertArrayEquals(new float[] {2f, -1f}, same, "a penalty of 1 is none");
    }

    @Test
    void topKKeepsTheKLargestWithTiesToTheLowerId() {
        float[] logits = {1f, 3f, 3f, -0.0f, 0.0f, 2f};
        Sampler.topK(logits, 6, 3);
        float inf = Float.NEGATIVE_INFINITY;
        assertArrayEquals(new float[] {inf, 3f, 3f, inf, inf, 2f}, logits);
        float[] zeros = {-0.0f, 0.0f, 0.0f};
        Sampler.topK(zeros, 3, 1);
        assertArrayEquals(new float[] {-0.0f, inf, inf}, zeros, "-0.0 equals 0.0: the lower id wins");
        float[] all = {1f, 2f};
        Sampler.topK(all, 2, 0);
        Sampler.topK(all, 2, 5);
        assertArrayEquals(new float[] {1f, 2f}, all, "k = 0 or k >= n keeps every token");
    }

    @Test
    void thePenaltyComesBeforeTopKAsInLlamaCpp() {
        // Token 0 leads, but it was just generated: a penalty of 4 drops it below token 1, so top-1 keeps token 1.
        float[] logits = {4f, 2f, 0.5f};
        long[] rng = {5};
        assertEquals(1, Sampler.sampleFiltered(logits.clone(), 3, 0.7f, 0.9f, 1, 4f, new int[] {0}, 1, rng));
        assertEquals(0, Sampler.sampleFiltered(logits.clone(), 3, 0f, 0.9f, 1, 1f, new int[] {0}, 1, rng));
        try (FloatPointer l = new FloatPointer(logits); FloatPointer probs = new FloatPointer(3);
             FloatPointer index = new FloatPointer(12)) {
            assertEquals(1, LlamaKernels.sampleFiltered(l.address(), 3, 0f, 0.9f, 1, 4f, new int[] {0}, 1, rng,
                probs.address(), index.address()));
            float[] after = new float[3];
            l.get(after);
            assertArrayEquals(logits, after, "the C sampler leaves the logits untouched");
        }
    }

    @Test
    void cAndJavaDrawTheSameTokens() {
        Random r = new Random(2026);
        float[] temperatures = {0f, 0.5f, 1f, 1.7f};
        float[] topps = {0f, 0.3f, 0.9f, 1f};
        float[] penalties = {1f, 0.8f, 1.3f, 2f};
        int cases = 3000;
        int filteredAway = 0;
        try (FloatPointer probs = new FloatPointer(600); FloatPointer index = new FloatPointer(2 * 2 * 600)) {
            for (int c = 0; c < cases; c++) {
                int n = 1 + r.nextInt(600);
                float[] logits = new float[n];
                for (int i = 0; i < n; i++) {
                    // coarse values give ties, and -0.0 beside 0.0
                    logits[i] = r.nextInt(4) == 0 ? (r.nextBoolean() ? -0.0f : 0.0f) : Math.round(r.nextGaussian() * 8) / 4f;
                }
                int nRecent = r.nextInt(80);
                int[] recent = new int[Math.max(1, nRecent)];
                for (int i = 0; i < nRecent; i++) {
                    recent[i] = r.nextInt(n + 3) - 1;
                }
                float t = temperatures[r.nextInt(4)];
                float p = topps[r.nextInt(4)];
                int k = r.nextInt(3) == 0 ? 0 : 1 + r.nextInt(Math.min(n, 40));
                float pen = penalties[r.nextInt(4)];
                long seed = r.nextLong();
                long[] rngC = {seed};
                long[] rngJ = {seed};
                int cTok;
                try (FloatPointer l = new FloatPointer(logits)) {
                    cTok = LlamaKernels.sampleFiltered(l.address(), n, t, p, k, pen, recent, nRecent, rngC,
                        probs.address(), index.address());
                }
                float[] j = logits.clone();
                int jTok = Sampler.sampleFiltered(j, n, t, p, k, pen, recent, nRecent, rngJ);
                String where = "case " + c + ": n=" + n + " t=" + t + " p=" + p + " k=" + k + " penalty=" + pen;
                assertEquals(jTok, cTok, where);
                assertEquals(rngJ[0], rngC[0], where);
                if (k > 0 && k < n) {
                    float[] kept = logits.clone();
                    Sampler.penalizeRepeats(kept, n, recent, nRecent, pen);
                    Sampler.topK(kept, n, k);
                    assertTrue(kept[jTok] != Float.NEGATIVE_INFINITY, where + ": the token is one of the top k");
                    filteredAway++;
                }
            }
        }
        assertTrue(filteredAway > cases / 2, "most cases exercised top-k: " + filteredAway);
    }

    @Test
    void badFiltersAreRefused() {
        assertEquals("top_k must be >= 0, got -1", assertThrows(IllegalArgumentException.class,
            () -> StepArguments.validateFilters(-1, 1f, null, 0)).getMessage());
        assertEquals("repetition_penalty must be finite and > 0, got 0.0", assertThrows(IllegalArgumentException.class,
            () -> StepArguments.validateFilters(0, 0f, null, 0)).getMessage());
        assertThrows(IllegalArgumentException.class, () -> StepArguments.validateFilters(0, 1f, new int[2], 3));
    }
}

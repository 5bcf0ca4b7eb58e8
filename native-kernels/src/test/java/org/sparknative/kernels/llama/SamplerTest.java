package org.sparknative.kernels.llama;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import org.junit.jupiter.api.Test;

/**
 * Sampler tests. Expected values come from llama2.c's {@code random_u32}, {@code random_f32} and
 * {@code sample()} compiled with gcc (state printed as {@code unsigned long long}).
 */
class SamplerTest {
    private static final float[] LOGITS = {1.5f, -0.25f, 3.0f, 2.75f, 0.0f, -1.0f, 2.0f, 0.5f, 1.0f, -3.0f};

    @Test
    void xorshiftMatchesLlama2cForSeed42() {
        long[] s = {Sampler.seedState(42)};
        assertEquals(42L, s[0]);
        long[] u32 = {1456360119L, 3359763283L, 3393612768L, 4054632243L, 3283045847L};
        String[] states = {"1409286176", "47299340976525346", "142435135655313518", "4637185482584944939",
            "6045135835962859838"};
        for (int i = 0; i < u32.length; i++) {
            assertEquals(u32[i], Integer.toUnsignedLong(Sampler.randomU32(s)), "draw " + i);
            assertEquals(Long.parseUnsignedLong(states[i]), s[0], "state after draw " + i);
        }
        long[] f = {42};
        assertEquals(0.339085221f, Sampler.randomF32(f));
        assertEquals(0.782255828f, Sampler.randomF32(f));
        assertEquals(0.790136993f, Sampler.randomF32(f));
    }

    @Test
    void seedZeroMapsToAFixedNonzeroState() {
        assertEquals(Sampler.ZERO_SEED_STATE, Sampler.seedState(0));
        assertNotEquals(0L, Sampler.seedState(0));
        assertEquals(-7L, Sampler.seedState(-7));
        long[] s = {Sampler.seedState(0)};
        int first = Sampler.randomU32(s);
        assertNotEquals(0L, s[0]);
        long[] again = {Sampler.seedState(0)};
        assertEquals(first, Sampler.randomU32(again));
    }

    @Test
    void argmaxTakesTheFirstMaximumWithinN() {
        assertEquals(2, Sampler.argmax(LOGITS, LOGITS.length));
        assertEquals(1, Sampler.argmax(new float[] {1f, 5f, 5f, 2f}, 4));
        assertEquals(0, Sampler.argmax(new float[] {1f, 5f}, 1));
        assertEquals(0, Sampler.argmax(new float[] {3f, 3f, 3f}, 3));
        assertEquals(3, Sampler.argmax(new float[] {-4f, -3f, -2f, -1f, 9f}, 4));
        assertThrows(IllegalArgumentException.class, () -> Sampler.argmax(LOGITS, 0));
        assertThrows(IllegalArgumentException.class, () -> Sampler.argmax(LOGITS, 11));
    }

    @Test
    void temperatureZeroIsArgmaxWithoutDrawingOrMutating() {
        float[] l = LOGITS.clone();
        long[] s = {42};
        assertEquals(2, Sampler.sample(l, l.length, 0f, 0.9f, s));
        assertEquals(42L, s[0], "no RNG draw at temperature 0");
        assertArrayEquals(LOGITS, l);
    }

    @Test
    void samplingMatchesLlama2cSequences() {
        // run.c sample() on LOGITS (fresh copy each call), seed 42, 12 draws per (temperature, topp)
        float[] temps = {1.0f, 0.7f, 1.3f};
        float[] topps = {1.0f, 0.9f, 0.5f};
        int[][] expected = {
            {2, 6, 6, 7, 4, 6, 2, 2, 2, 3, 2, 2},
            {2, 6, 6, 0, 6, 6, 2, 3, 2, 3, 3, 2},
            {2, 3, 3, 3, 3, 3, 2, 2, 2, 3, 2, 2},
            {2, 3, 3, 6, 3, 3, 2, 2, 2, 3, 2, 2},
            {2, 3, 3, 0, 3, 6, 2, 2, 2, 3, 2, 2},
            {2, 3, 3, 3, 3, 3, 2, 2, 2, 3, 2, 2},
            {2, 6, 6, 8, 6, 6, 2, 3, 2, 3, 2, 2},
            {3, 0, 0, 8, 6, 0, 2, 3, 2, 6, 3, 3},
            {2, 3, 3, 3, 3, 3, 2, 2, 2, 3, 2, 2},
        };
        long finalState = Long.parseUnsignedLong("16787652412742646887");
        for (int a = 0; a < temps.length; a++) {
            for (int b = 0; b < topps.length; b++) {
                long[] s = {42};
                int[] got = new int[12];
                for (int k = 0; k < got.length; k++) {
                    got[k] = Sampler.sample(LOGITS.clone(), LOGITS.length, temps[a], topps[b], s);
                }
                assertArrayEquals(expected[a * 3 + b], got, "t=" + temps[a] + " p=" + topps[b]);
                assertEquals(finalState, s[0], "exactly one draw per sample");
            }
        }
    }

    @Test
    void sampleLeavesProbabilitiesInTheLogitsArray() {
        float[] l = LOGITS.clone();
        Sampler.sample(l, l.length, 1.0f, 1.0f, new long[] {1});
        float sum = 0f;
        for (float p : l) {
            assertTrue(p > 0f && p < 1f);
            sum += p;
        }
        assertEquals(1f, sum, 1e-6f);
        // softmax of LOGITS at temperature 1: p[2] = e^3 / sum(e^l)
        double z = 0;
        for (float x : LOGITS) {
            z += Math.exp(x);
        }
        assertEquals(Math.exp(3.0) / z, l[2], 1e-6);
    }

    @Test
    void topPSamplesOnlyFromTheNucleus() {
        // probabilities (temperature 1): 3.0 -> 0.357, 2.75 -> 0.278, 2.0 -> 0.131, 1.5 -> 0.080, ...
        // top-p 0.6: cumulative 0.357, 0.635 > 0.6 so the nucleus is {2, 3}
        long[] s = {Sampler.seedState(123)};
        int[] counts = new int[LOGITS.length];
        for (int i = 0; i < 4000; i++) {
            counts[Sampler.sample(LOGITS.clone(), LOGITS.length, 1.0f, 0.6f, s)]++;
        }
        for (int i = 0; i < counts.length; i++) {
            if (i != 2 && i != 3) {
                assertEquals(0, counts[i], "token " + i + " is outside the nucleus: " + Arrays.toString(counts));
            }
        }
        // within the nucleus the ratio follows the renormalised probabilities 0.5625 : 0.4375
        assertEquals(0.5625, counts[2] / 4000.0, 0.03, Arrays.toString(counts));
        // the same draws from the full distribution reach other tokens
        long[] t = {Sampler.seedState(123)};
        int outside = 0;
        for (int i = 0; i < 4000; i++) {
            int k = Sampler.sample(LOGITS.clone(), LOGITS.length, 1.0f, 1.0f, t);
            outside += k != 2 && k != 3 ? 1 : 0;
        }
        assertTrue(outside > 1000, "multinomial should leave the nucleus often, got " + outside);
    }

    @Test
    void topPTiesAreOrderedByTokenId() {
        // four equal logits: the order is 0, 1, 2, 3 and top-p 0.3 keeps two of them (0.25, 0.5 > 0.3)
        float[] equal = {1f, 1f, 1f, 1f};
        long[] s = {Sampler.seedState(77)};
        int[] counts = new int[4];
        for (int i = 0; i < 1000; i++) {
            counts[Sampler.sample(equal.clone(), 4, 1.0f, 0.3f, s)]++;
        }
        assertEquals(0, counts[2] + counts[3], Arrays.toString(counts));
        assertTrue(counts[0] > 400 && counts[1] > 400, Arrays.toString(counts));
    }

    @Test
    void tinyTopPStillReturnsTheMostLikelyToken() {
        // cutoff (1 - 0.01) / 1 = 0.99 excludes both tokens; run.c would read out of bounds here
        assertEquals(0, Sampler.sample(new float[] {0f, 0f}, 2, 1f, 0.01f, new long[] {3}));
        assertEquals(1, Sampler.sample(new float[] {0f, 0.5f}, 2, 1f, 0.01f, new long[] {3}));
        assertEquals(0, Sampler.sample(new float[] {7f}, 1, 1f, 0.5f, new long[] {3}));
    }

    @Test
    void sameSeedSameSequence() {
        long[] a = {Sampler.seedState(2024)};
        long[] b = {Sampler.seedState(2024)};
        for (int i = 0; i < 200; i++) {
            assertEquals(Sampler.sample(LOGITS.clone(), 10, 0.9f, 0.95f, a), Sampler.sample(LOGITS.clone(), 10, 0.9f, 0.95f, b));
        }
        assertEquals(a[0], b[0]);
    }

    @Test
    void rejectsBadArguments() {
        long[] s = {1};
        assertThrows(IllegalArgumentException.class, () -> Sampler.sample(LOGITS.clone(), 10, -1f, 0.9f, s));
        assertThrows(IllegalArgumentException.class, () -> Sampler.sample(LOGITS.clone(), 10, Float.NaN, 0.9f, s));
        assertThrows(IllegalArgumentException.class, () -> Sampler.sample(LOGITS.clone(), 10, 1f, Float.NaN, s));
        assertThrows(IllegalArgumentException.class, () -> Sampler.sample(LOGITS.clone(), 10, 1f, 0.9f, new long[0]));
        assertThrows(IllegalArgumentException.class, () -> Sampler.sample(LOGITS.clone(), 11, 1f, 0.9f, s));
        assertThrows(NullPointerException.class, () -> Sampler.sample(LOGITS.clone(), 10, 1f, 0.9f, null));
    }
}

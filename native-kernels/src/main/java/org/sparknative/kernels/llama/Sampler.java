package org.sparknative.kernels.llama;

import java.util.Arrays;
import java.util.Objects;

/**
 * llama2.c's next-token sampler (karpathy/llama2.c {@code run.c}: {@code sample}, {@code sample_argmax},
 * {@code sample_mult}, {@code sample_topp}, {@code random_u32}, {@code random_f32}), in float arithmetic
 * step for step so that the same logits and seed give the same token.
 *
 * <p>Details that matter for matching run.c bit for bit: the logits are divided by the temperature in
 * float; softmax subtracts the max, takes {@code expf} (here {@code (float) Math.exp(double)}, which
 * agrees with glibc's {@code expf} except possibly in the last bit on rare inputs), sums sequentially in
 * float and divides; exactly one {@link #randomF32} draw is made per non-greedy sample, after the
 * softmax; the multinomial walk accumulates a float cdf and returns the first index with
 * {@code coin < cdf}.
 *
 * <p>Top-p differs from run.c in one place on purpose: run.c orders candidates with {@code qsort}, which
 * leaves tokens of equal probability in an unspecified order; here the order is probability descending,
 * then token id ascending, so results are deterministic. With distinct probabilities both agree.
 *
 * <p>Stateless and thread-safe: the RNG state lives in the caller's {@code long[1]}.
 */
public final class Sampler {
    /** The state {@link #seedState} uses for seed 0 (xorshift must not start at 0, where it stays). */
    public static final long ZERO_SEED_STATE = 0x9E3779B97F4A7C15L;

    private Sampler() {
    }

    /**
     * The xorshift state for a seed: llama2.c uses the seed itself ({@code -s 42} gives state 42; a
     * negative seed is the same 64 bits as C's {@code unsigned long long}). Seed 0 would make the
     * generator return 0 forever (llama2.c replaces it by the wall clock time); here it maps to the fixed
     * constant {@link #ZERO_SEED_STATE} so results stay reproducible.
     */
    public static long seedState(long seed) {
        return seed == 0 ? ZERO_SEED_STATE : seed;
    }

    /**
     * llama2.c's {@code random_u32}: xorshift64* on {@code state[0]} ({@code s ^= s >> 12; s ^= s << 25;
     * s ^= s >> 27}, unsigned shifts), returning the high 32 bits of {@code s * 0x2545F4914F6CDD1D}.
     *
     * @return the unsigned 32-bit value in an {@code int} (use {@link Integer#toUnsignedLong})
     */
    public static int randomU32(long[] state) {
        long s = state[0];
        s ^= s >>> 12;
        s ^= s << 25;
        s ^= s >>> 27;
        state[0] = s;
        return (int) ((s * 0x2545F4914F6CDD1DL) >>> 32);
    }

    /** llama2.c's {@code random_f32}: {@code (random_u32 >>> 8) / 16777216.0f}, in {@code [0, 1)}. */
    public static float randomF32(long[] state) {
        return (randomU32(state) >>> 8) / 16777216.0f;
    }

    /**
     * The index of the largest of {@code logits[0 .. n)}; the first one on ties (run.c
     * {@code sample_argmax}). NaN entries are never selected unless at index 0.
     *
     * @throws IllegalArgumentException if {@code n} is not in {@code [1, logits.length]}
     */
    public static int argmax(float[] logits, int n) {
        checkN(logits, n);
        int maxI = 0;
        float maxP = logits[0];
        for (int i = 1; i < n; i++) {
            if (logits[i] > maxP) {
                maxI = i;
                maxP = logits[i];
            }
        }
        return maxI;
    }

    /**
     * Samples the next token as run.c's {@code sample()}: temperature 0 is {@link #argmax} (no RNG draw,
     * logits untouched); otherwise {@code logits[0 .. n)} are divided by the temperature and
     * softmax-normalised <em>in place</em> (the array is overwritten with probabilities, as in run.c),
     * one coin is drawn with {@link #randomF32}, and then {@code topp <= 0 || topp >= 1} samples from the
     * whole distribution, else from the nucleus: candidates with probability
     * {@code >= (1 - topp) / (n - 1)}, ordered by probability descending then id ascending, truncated
     * after the first whose float cumulative probability exceeds {@code topp}, sampled with
     * {@code coin * cumulative}. If no candidate passes the cutoff (run.c would read out of bounds there;
     * it can happen for small {@code topp}) the most probable token is returned.
     *
     * @param logits      length at least {@code n}; mutated unless {@code temperature == 0}
     * @param n           the vocabulary size, {@code >= 1}
     * @param temperature {@code >= 0}, not NaN
     * @param topp        not NaN
     * @param rngState    a {@code long[1]} with the xorshift state (see {@link #seedState}); advanced by one
     *                    draw unless {@code temperature == 0}
     * @throws IllegalArgumentException for a bad {@code n}, temperature, topp or state array
     */
    public static int sample(float[] logits, int n, float temperature, float topp, long[] rngState) {
        checkN(logits, n);
        if (!(temperature >= 0f)) {
            throw new IllegalArgumentException("temperature must be >= 0, got " + temperature);
        }
        if (Float.isNaN(topp)) {
            throw new IllegalArgumentException("topp must be a number, got NaN");
        }
        Objects.requireNonNull(rngState, "rngState");
        if (rngState.length < 1) {
            throw new IllegalArgumentException("rngState must have length >= 1, got " + rngState.length);
        }
        if (temperature == 0f) {
            return argmax(logits, n);
        }
        for (int q = 0; q < n; q++) {
            logits[q] /= temperature;
        }
        softmax(logits, n);
        float coin = randomF32(rngState);
        if (topp <= 0f || topp >= 1f) {
            return sampleMult(logits, n, coin);
        }
        return sampleTopp(logits, n, topp, coin);
    }

    /**
     * llama.cpp's repetition penalty ({@code llama_sampler_penalties}, {@code penalty_repeat}) in place, as
     * {@code sn_penalize_repeats} in {@code sn_sampler.h}: each distinct token among {@code recent[0 .. nRecent)}
     * (ids outside {@code [0, n)} ignored) has its logit divided by {@code penalty} when positive, else multiplied
     * by it. {@code penalty == 1} changes nothing.
     */
    public static void penalizeRepeats(float[] logits, int n, int[] recent, int nRecent, float penalty) {
        checkN(logits, n);
        if (penalty == 1f || recent == null) {
            return;
        }
        for (int i = 0; i < nRecent; i++) {
            int t = recent[i];
            if (t < 0 || t >= n) {
                continue;
            }
            boolean seen = false;
            for (int j = 0; j < i; j++) {
                if (recent[j] == t) {
                    seen = true;
                    break;
                }
            }
            if (!seen) {
                logits[t] = logits[t] <= 0f ? logits[t] * penalty : logits[t] / penalty;
            }
        }
    }

    /**
     * Top-k in place, as {@code sn_top_k} in {@code sn_sampler.h}: all but the {@code k} largest logits become
     * {@code -Infinity}; equal logits (also {@code -0.0} and {@code 0.0}) rank by token id, lower first.
     * {@code k <= 0 || k >= n} changes nothing.
     */
    public static void topK(float[] logits, int n, int k) {
        checkN(logits, n);
        if (k <= 0 || k >= n) {
            return;
        }
        int[] order = new int[n];
        for (int i = 0; i < n; i++) {
            order[i] = i;
        }
        // A stable merge sort with the C comparator (a before b when a > b, or a == b and a's id is lower): the same
        // order as sn_sort_probindex, NaN included.
        int[] tmp = new int[n];
        int[] src = order;
        int[] dst = tmp;
        for (int width = 1; width < n; width *= 2) {
            for (int lo = 0; lo < n; lo += 2 * width) {
                int mid = Math.min(lo + width, n);
                int hi = Math.min(lo + 2 * width, n);
                int i = lo;
                int j = mid;
                int o = lo;
                while (i < mid && j < hi) {
                    dst[o++] = before(logits, src[j], src[i]) ? src[j++] : src[i++];
                }
                while (i < mid) {
                    dst[o++] = src[i++];
                }
                while (j < hi) {
                    dst[o++] = src[j++];
                }
            }
            int[] t = src;
            src = dst;
            dst = t;
        }
        for (int i = k; i < n; i++) {
            logits[src[i]] = Float.NEGATIVE_INFINITY;
        }
    }

    private static boolean before(float[] logits, int a, int b) {
        return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
    }

    /**
     * {@link #sample} after llama.cpp's first two samplers in its order, as {@code sn_sample_filtered}: the
     * repetition penalty over the row's recent tokens ({@link #penalizeRepeats}), then {@link #topK}, then
     * llama2.c's temperature and top-p. {@code logits} is overwritten.
     *
     * @param topK    the k of top-k; 0 keeps every token
     * @param penalty the repetition penalty, {@code > 0}; 1 is none
     * @param recent  the row's recent tokens (prompt and generated), {@code nRecent} of them
     */
    public static int sampleFiltered(float[] logits, int n, float temperature, float topp, int topK, float penalty,
                                     int[] recent, int nRecent, long[] rngState) {
        penalizeRepeats(logits, n, recent, nRecent, penalty);
        topK(logits, n, topK);
        return sample(logits, n, temperature, topp, rngState);
    }

    /**
     * run.c's {@code softmax} on {@code x[0 .. n)} in place: subtract the max, {@code expf}, sequential
     * float sum, divide.
     */
    static void softmax(float[] x, int n) {
        float max = x[0];
        for (int i = 1; i < n; i++) {
            if (x[i] > max) {
                max = x[i];
            }
        }
        float sum = 0f;
        for (int i = 0; i < n; i++) {
            x[i] = (float) Math.exp(x[i] - max);
            sum += x[i];
        }
        for (int i = 0; i < n; i++) {
            x[i] /= sum;
        }
    }

    private static int sampleMult(float[] probs, int n, float coin) {
        float cdf = 0f;
        for (int i = 0; i < n; i++) {
            cdf += probs[i];
            if (coin < cdf) {
                return i;
            }
        }
        return n - 1;
    }

    private static int sampleTopp(float[] probs, int n, float topp, float coin) {
        float cutoff = (1.0f - topp) / (n - 1);
        int n0 = 0;
        for (int i = 0; i < n; i++) {
            if (probs[i] >= cutoff) {
                n0++;
            }
        }
        if (n0 == 0) {
            return argmax(probs, n);
        }
        // sort keys: probability descending, then id ascending. Probabilities are >= 0 (or NaN for NaN
        // logits, which the >= cutoff test has already dropped), so their float bits order like the values.
        long[] keys = new long[n0];
        int k = 0;
        for (int i = 0; i < n; i++) {
            if (probs[i] >= cutoff) {
                long descending = 0x7FFFFFFFL - Float.floatToRawIntBits(probs[i]);
                keys[k++] = (descending << 32) | i;
            }
        }
        Arrays.sort(keys);
        float cumulative = 0f;
        int last = n0 - 1;
        for (int i = 0; i < n0; i++) {
            cumulative += probs[(int) keys[i]];
            if (cumulative > topp) {
                last = i;
                break;
            }
        }
        float r = coin * cumulative;
        float cdf = 0f;
        for (int i = 0; i <= last; i++) {
            int id = (int) keys[i];
            cdf += probs[id];
            if (r < cdf) {
                return id;
            }
        }
        return (int) keys[last];
    }

    private static void checkN(float[] logits, int n) {
        Objects.requireNonNull(logits, "logits");
        if (n < 1 || n > logits.length) {
            throw new IllegalArgumentException("n must be in [1, " + logits.length + "], got " + n);
        }
    }
}

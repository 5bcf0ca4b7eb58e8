package org.sparknative.kernels.llama;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;
import org.sparknative.kernels.NativeLibrary;
import org.sparknative.kernels.testing.TestModels;

/**
 * Time to encode a long prompt (a measurement, not a test): the sample prompts of
 * {@code data/prompts/stories.jsonl} repeated to each size, encoded with BOS by the C tokenizer
 * ({@link NativeTokenizer}, what the native backend runs), the Java reference ({@link Tokenizer}) and, unless
 * {@code --no-old}, the quadratic encoder the Java reference had before ({@link QuadraticEncoder}).
 *
 * <pre>
 * java -cp CLASSPATH org.sparknative.kernels.llama.TokenizerBench [--no-old] [--reps N] [KB ...]
 * </pre>
 *
 * The vocabulary is the real Llama 2 {@code tokenizer.bin} (32000 pieces) where {@link TestModels} finds it,
 * else the byte-level 32000-piece vocabulary of {@link TokenizerWriter}. Sizes default to 100 and 400 KB;
 * each encoder runs {@code N} times (default 3, once for the quadratic one) and the best time is printed.
 */
public final class TokenizerBench {
    private TokenizerBench() {
    }

    public static void main(String[] args) throws Exception {
        boolean old = true;
        int reps = 3;
        int[] kbs = new int[args.length];
        int nk = 0;
        for (int i = 0; i < args.length; i++) {
            if (args[i].equals("--no-old")) {
                old = false;
            } else if (args[i].equals("--reps")) {
                reps = Integer.parseInt(args[++i]);
            } else {
                kbs[nk++] = Integer.parseInt(args[i]);
            }
        }
        kbs = nk == 0 ? new int[] {100, 400} : Arrays.copyOf(kbs, nk);
        NativeLibrary.ensureLoaded();
        Path vocabFile = TestModels.find(TestModels.LLAMA2_TOKENIZER).orElse(null);
        if (vocabFile == null) {
            vocabFile = Files.createTempFile("sn-bench-bytelevel", ".bin");
            vocabFile.toFile().deleteOnExit();
            TokenizerWriter.writeByteLevel(vocabFile, 32000);
        }
        Tokenizer java = Tokenizer.load(vocabFile, 32000);
        QuadraticEncoder quadratic = new QuadraticEncoder(java);
        System.out.println("vocabulary: " + vocabFile + " (32000), prompts: "
            + PromptTexts.storiesFile().map(Path::toString).orElse("<a fixed sentence>"));
        System.out.println(String.format(Locale.ROOT, "%8s %8s %-22s %10s", "KB", "tokens", "encoder", "seconds"));
        try (NativeTokenizer c = NativeTokenizer.load(vocabFile, 32000)) {
            // warm up the JIT and the native library on a small prompt
            byte[] warm = PromptTexts.longPrompt(20_000);
            for (int i = 0; i < 3; i++) {
                c.encode(warm, true, false);
                java.encode(warm, true, false);
            }
            quadratic.encode(warm, true, false);
            for (int kb : kbs) {
                byte[] text = PromptTexts.longPrompt(kb * 1000);
                int[] want = c.encode(text, true, false);
                report(kb, want.length, "C (NativeTokenizer)", best(reps, () -> c.encode(text, true, false), want));
                report(kb, want.length, "Java (Tokenizer)", best(reps, () -> java.encode(text, true, false), want));
                if (old) {
                    report(kb, want.length, "Java old (quadratic)", best(1, () -> quadratic.encode(text, true, false), want));
                }
            }
        }
    }

    private interface Encode {
        int[] run();
    }

    private static double best(int reps, Encode e, int[] want) {
        double best = Double.MAX_VALUE;
        for (int r = 0; r < reps; r++) {
            long t0 = System.nanoTime();
            int[] got = e.run();
            best = Math.min(best, (System.nanoTime() - t0) / 1e9);
            if (!Arrays.equals(got, want)) {
                throw new AssertionError("encoders disagree: " + got.length + " vs " + want.length + " tokens");
            }
        }
        return best;
    }

    private static void report(int kb, int tokens, String encoder, double secs) {
        System.out.println(String.format(Locale.ROOT, "%8d %8d %-22s %10.3f", kb, tokens, encoder, secs));
    }
}

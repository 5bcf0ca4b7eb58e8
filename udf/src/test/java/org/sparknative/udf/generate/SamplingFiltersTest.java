package org.sparknative.udf.generate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sparknative.kernels.llama.Checkpoint;
import org.sparknative.kernels.llama.CheckpointFormat;
import org.sparknative.kernels.llama.LlamaConfig;
import org.sparknative.kernels.llama.NativeLlamaModel;
import org.sparknative.kernels.llama.NativeTokenizer;
import org.sparknative.kernels.llama.SyntheticCheckpoint;
import org.sparknative.kernels.llama.Tokenizer;
import org.sparknative.kernels.llama.TokenizerWriter;
import org.sparknative.udf.BadRowPolicy;
import org.sparknative.udf.RowLabels;

/**
 * Top-k and the repetition penalty through the continuous batcher: the native and the Java backends generate the
 * same text with them, batched with rows that use none; and they change the text where they should.
 */
class SamplingFiltersTest {
    @TempDir
    static Path tmp;
    private static Checkpoint ckpt;
    private static Path tokFile;

    @BeforeAll
    static void model() {
        LlamaConfig cfg = new LlamaConfig(32, 64, 2, 4, 2, 300, 64, false);
        Path model = tmp.resolve("m.bin");
        tokFile = tmp.resolve("tok.bin");
        SyntheticCheckpoint.write(model, cfg, 21, CheckpointFormat.V1);
        TokenizerWriter.writeByteLevel(tokFile, 300);
        ckpt = Checkpoint.open(model);
    }

    private static GenerationScheduler.Request[] requests() {
        GenerationParams[] params = {
            new GenerationParams(24, 0f, 1f, 1),                // greedy, nothing else
            new GenerationParams(24, 0f, 1f, 1, 0, 1.8f),       // greedy with a repetition penalty
            new GenerationParams(24, 0.9f, 0.95f, 5, 3, 1f),    // sampled from the top 3
            new GenerationParams(24, 1.2f, 1f, 9, 20, 1.3f),    // both
            new GenerationParams(24, 0.9f, 0.95f, 5),           // sampled, no filter (same seed as row 2)
        };
        GenerationScheduler.Request[] reqs = new GenerationScheduler.Request[params.length];
        for (int i = 0; i < reqs.length; i++) {
            reqs[i] = GenerationScheduler.Request.of("ab ab ab".getBytes(StandardCharsets.UTF_8), params[i]);
        }
        return reqs;
    }

    private static String[] run(DecodeBackend backend, TokenCodec codec) {
        ContinuousBatcher batcher = new ContinuousBatcher(backend, codec, BadRowPolicy.ROW_ERROR, 16);
        GenerationScheduler.Result[] out = batcher.run(requests(), RowLabels.positions(0), null);
        String[] texts = new String[out.length];
        for (int i = 0; i < out.length; i++) {
            assertTrue(!out[i].finishReason().isError(), String.valueOf(out[i].finishReason()));
            texts[i] = new String(out[i].completion(), StandardCharsets.UTF_8);
        }
        return texts;
    }

    @Test
    void nativeAndJavaBackendsAgreeAndTheFiltersChangeTheText() {
        Tokenizer jtok = Tokenizer.load(tokFile, 300);
        String[] reference;
        try (ReferenceBackend rb = new ReferenceBackend(ckpt, 3, 3 + 16)) {
            reference = run(rb, new JavaTokenCodec(jtok));
        }
        String[] nativeTexts;
        try (NativeLlamaModel nm = NativeLlamaModel.map(ckpt); NativeTokenizer ntok = NativeTokenizer.load(tokFile, 300);
             NativeBackend nb = new NativeBackend(nm, 2, 2 + 16, 2)) {
            nativeTexts = run(nb, new NativeTokenCodec(ntok));
        }
        for (int i = 0; i < reference.length; i++) {
            assertEquals(reference[i], nativeTexts[i], "row " + i);
        }
        assertNotEquals(reference[4], reference[2], "top-3 changes what the same seed samples");
    }

    /**
     * stories260K's greedy story repeats itself ("... Lily. She loved to play ..."): a repetition penalty changes
     * it, on both backends alike, and leaves fewer repeated words.
     */
    @Test
    void aRepetitionPenaltyChangesStories260ksGreedyStory() {
        java.util.Optional<Path> model = org.sparknative.kernels.testing.TestModels.find("stories260K.bin");
        java.util.Optional<Path> tok = org.sparknative.kernels.testing.TestModels.find("tok512.bin");
        org.junit.jupiter.api.Assumptions.assumeTrue(model.isPresent() && tok.isPresent(), "needs stories260K");
        Checkpoint c = Checkpoint.open(model.get());
        GenerationScheduler.Request[] reqs = {
            GenerationScheduler.Request.of(new byte[0], new GenerationParams(120, 0f, 1f, 1)),
            GenerationScheduler.Request.of(new byte[0], new GenerationParams(120, 0f, 1f, 1, 0, 1.5f)),
        };
        String[][] texts = new String[2][];
        try (ReferenceBackend rb = new ReferenceBackend(c, 2, 2 + 16)) {
            texts[0] = texts(new ContinuousBatcher(rb, new JavaTokenCodec(Tokenizer.load(tok.get(), 512)),
                BadRowPolicy.ROW_ERROR, 16).run(reqs, RowLabels.positions(0), null));
        }
        try (NativeLlamaModel nm = NativeLlamaModel.map(c); NativeTokenizer ntok = NativeTokenizer.load(tok.get(), 512);
             NativeBackend nb = new NativeBackend(nm, 2, 2 + 16, 1)) {
            texts[1] = texts(new ContinuousBatcher(nb, new NativeTokenCodec(ntok), BadRowPolicy.ROW_ERROR, 16)
                .run(reqs, RowLabels.positions(0), null));
        }
        assertEquals(texts[0][0], texts[1][0]);
        assertEquals(texts[0][1], texts[1][1]);
        assertTrue(org.sparknative.kernels.testing.TestModels.GREEDY_260K.startsWith(texts[0][0].substring(0, 60)),
            texts[0][0]);
        assertNotEquals(texts[0][0], texts[0][1]);
        assertTrue(maxWordRepeat(texts[0][1]) < maxWordRepeat(texts[0][0]), texts[0][0] + " | " + texts[0][1]);
    }

    private static String[] texts(GenerationScheduler.Result[] out) {
        String[] t = new String[out.length];
        for (int i = 0; i < out.length; i++) {
            t[i] = new String(out[i].completion(), StandardCharsets.UTF_8);
        }
        return t;
    }

    private static int maxWordRepeat(String s) {
        Map<String, Integer> counts = new HashMap<>();
        for (String w : s.split("[^A-Za-z]+")) {
            if (!w.isEmpty()) {
                counts.merge(w.toLowerCase(java.util.Locale.ROOT), 1, Integer::sum);
            }
        }
        return counts.values().stream().mapToInt(Integer::intValue).max().orElse(0);
    }
}

package org.sparknative.udf.generate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import org.apache.arrow.memory.RootAllocator;
import org.apache.arrow.vector.IntVector;
import org.apache.arrow.vector.VarCharVector;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sparknative.kernels.llama.Checkpoint;
import org.sparknative.kernels.llama.CheckpointFormat;
import org.sparknative.kernels.llama.LlamaConfig;
import org.sparknative.kernels.llama.ReferenceGenerator;
import org.sparknative.kernels.llama.ReferenceTransformer;
import org.sparknative.kernels.llama.SyntheticCheckpoint;
import org.sparknative.kernels.llama.Tokenizer;
import org.sparknative.kernels.llama.TokenizerWriter;
import org.sparknative.kernels.testing.TestModels;
import org.sparknative.udf.BadRowPolicy;
import org.sparknative.udf.RowLabels;

class ContinuousBatcherTest {
    private RootAllocator allocator;

    @TempDir
    Path tmp;

    @BeforeEach
    void setUp() {
        allocator = new RootAllocator(Long.MAX_VALUE);
    }

    @AfterEach
    void tearDown() {
        allocator.close(); // fails on any leaked buffer
    }

    private VarCharVector prompts(String... texts) {
        VarCharVector v = new VarCharVector("prompt", allocator);
        v.allocateNew();
        for (int i = 0; i < texts.length; i++) {
            if (texts[i] == null) {
                v.setNull(i);
            } else {
                v.setSafe(i, texts[i].getBytes(StandardCharsets.UTF_8));
            }
        }
        v.setValueCount(texts.length);
        return v;
    }

    private static String text(VectorSchemaRoot out, int row) {
        VarCharVector c = (VarCharVector) out.getVector("completion");
        return c.isNull(row) ? null : new String(c.get(row), StandardCharsets.UTF_8);
    }

    private static String finish(VectorSchemaRoot out, int row) {
        return new String(((VarCharVector) out.getVector("finish_reason")).get(row), StandardCharsets.UTF_8);
    }

    @Test
    void batchedReferenceReproducesLlama2cOnStories260K() {
        Checkpoint ckpt = Checkpoint.open(TestModels.require("stories260K.bin"));
        Tokenizer tok = Tokenizer.load(TestModels.require("tok512.bin"), ckpt.config().vocabSize());
        // Greedy and sampled empty prompts batched with other prompts; 3 slots for 5 rows forces slot reuse.
        try (ReferenceBackend backend = new ReferenceBackend(ckpt, 3, 3 + 4);
             VarCharVector p = prompts("Once upon a time", "", "The dog", "", "A")) {
            IntVector temps = null;
            org.apache.arrow.vector.Float4Vector t = new org.apache.arrow.vector.Float4Vector("temperature", allocator);
            org.apache.arrow.vector.BigIntVector seeds = new org.apache.arrow.vector.BigIntVector("seed", allocator);
            try (t; seeds) {
                t.allocateNew(5);
                seeds.allocateNew(5);
                for (int i = 0; i < 5; i++) {
                    t.set(i, i == 3 ? 1.0f : 0.0f);
                    seeds.set(i, 42);
                }
                t.setValueCount(5);
                seeds.setValueCount(5);
                ContinuousBatcher batcher = new ContinuousBatcher(backend, new JavaTokenCodec(tok), BadRowPolicy.ROW_ERROR, 4);
                try (VectorSchemaRoot out = GenerateUdf.apply(p, new GenerateUdf.Options(temps, t, null, seeds, null),
                    new GenerationParams(200, 0f, 1f, 7), batcher, allocator, RowLabels.positions(0), null)) {
                    assertEquals(TestModels.GREEDY_260K, text(out, 1));
                    assertEquals(TestModels.SAMPLED_260K_SEED42, text(out, 3));
                    assertEquals("length", finish(out, 1));
                    assertEquals(1, ((IntVector) out.getVector("prompt_tokens")).get(1));
                    assertEquals(200, ((IntVector) out.getVector("completion_tokens")).get(1));
                    // The other rows equal llama2.c's loop run alone (the pure-Java generator).
                    ReferenceTransformer solo = new ReferenceTransformer(ckpt);
                    for (int row : new int[] {0, 2, 4}) {
                        solo.reset();
                        String prompt = new String[] {"Once upon a time", "", "The dog", "", "A"}[row];
                        ReferenceGenerator.Result expected = ReferenceGenerator.generate(solo, tok,
                            prompt.getBytes(StandardCharsets.UTF_8), 200, 0f, 1f, 42);
                        assertEquals(expected.completion(), text(out, row), "row " + row);
                        assertEquals(expected.finishReason(), finish(out, row), "row " + row);
                    }
                }
            }
        }
    }

    @Test
    void outputDoesNotDependOnSlotsOrPrefillBudgetOnSyntheticModel() {
        LlamaConfig cfg = new LlamaConfig(32, 64, 2, 4, 2, 300, 48, false);
        Path model = tmp.resolve("m.bin");
        Path tokFile = tmp.resolve("tok.bin");
        SyntheticCheckpoint.write(model, cfg, 5, CheckpointFormat.V1);
        TokenizerWriter.writeByteLevel(tokFile, 300);
        Checkpoint ckpt = Checkpoint.open(model);
        Tokenizer tok = Tokenizer.load(tokFile, 300);
        String[] texts = {"hello world", "", null, "a longer prompt that spans several prefill chunks", "zz", "é日本",
            "x".repeat(60)};
        String[] first = null;
        for (int[] shape : new int[][] {{1, 1}, {2, 3}, {8, 16}}) {
            try (ReferenceBackend backend = new ReferenceBackend(ckpt, shape[0], shape[0] + shape[1]);
                 VarCharVector p = prompts(texts)) {
                ContinuousBatcher batcher = new ContinuousBatcher(backend, new JavaTokenCodec(tok), BadRowPolicy.ROW_ERROR,
                    shape[1]);
                try (VectorSchemaRoot out = GenerateUdf.apply(p, GenerateUdf.Options.none(),
                    new GenerationParams(20, 0.8f, 0.9f, 3), batcher, allocator, RowLabels.positions(0), null)) {
                    String[] got = new String[texts.length];
                    for (int i = 0; i < texts.length; i++) {
                        got[i] = text(out, i) + "|" + finish(out, i);
                    }
                    assertNull(text(out, 2));
                    assertEquals("error: prompt is null", finish(out, 2));
                    assertTrue(finish(out, 6).startsWith("error: prompt is 62 tokens, more than the model's context of 48"),
                        finish(out, 6));
                    if (first == null) {
                        first = got;
                    } else {
                        assertEquals(List.of(first), List.of(got), "slots/prefill " + shape[0] + "/" + shape[1]);
                    }
                }
            }
        }
        // Row 0 equals the one-at-a-time generator with the seed GenerateUdf derives for it.
        long seed = org.sparknative.udf.Seeds.mix(3 * 0x9E3779B97F4A7C15L + fnv("hello world"));
        ReferenceGenerator.Result solo = ReferenceGenerator.generate(new ReferenceTransformer(ckpt), tok,
            "hello world".getBytes(StandardCharsets.UTF_8), 20, 0.8f, 0.9f, seed);
        assertEquals(solo.completion() + "|" + solo.finishReason(), first[0]);
    }

    private static long fnv(String s) {
        long h = 0xcbf29ce484222325L;
        for (byte b : s.getBytes(StandardCharsets.UTF_8)) {
            h ^= b & 0xff;
            h *= 0x100000001b3L;
        }
        return h;
    }

    @Test
    void truncationKeepsTheEndAndContextLimitEndsWithLength() {
        LlamaConfig cfg = new LlamaConfig(16, 32, 1, 2, 2, 300, 24, true);
        Path model = tmp.resolve("small.bin");
        Path tokFile = tmp.resolve("tok.bin");
        SyntheticCheckpoint.write(model, cfg, 9, CheckpointFormat.LEGACY);
        TokenizerWriter.writeByteLevel(tokFile, 300);
        Checkpoint ckpt = Checkpoint.open(model);
        Tokenizer tok = Tokenizer.load(tokFile, 300);
        try (ReferenceBackend backend = new ReferenceBackend(ckpt, 2, 6);
             VarCharVector p = prompts("q".repeat(40), "hi")) {
            ContinuousBatcher batcher = new ContinuousBatcher(backend, new JavaTokenCodec(tok), BadRowPolicy.TRUNCATE, 4);
            try (VectorSchemaRoot out = GenerateUdf.apply(p, GenerateUdf.Options.none(),
                new GenerationParams(100, 0f, 1f, 1), batcher, allocator, RowLabels.positions(0), null)) {
                IntVector pt = (IntVector) out.getVector("prompt_tokens");
                IntVector ct = (IntVector) out.getVector("completion_tokens");
                // Truncated to BOS + the last (24 - min(100, 12)) - 1 tokens; generation fills the context.
                assertEquals(12, pt.get(0));
                for (int r = 0; r < 2; r++) {
                    if (finish(out, r).equals("length")) {
                        assertEquals(24 - pt.get(r) + 1, ct.get(r), "row " + r);
                    } else {
                        assertEquals("stop", finish(out, r));
                    }
                }
            }
        }
    }

    @Test
    void badPerRowSettingsBecomeErrorRowsNamingFieldAndValueAndTheOthersGoOn() {
        LlamaConfig cfg = new LlamaConfig(16, 32, 1, 2, 2, 300, 24, true);
        Path model = tmp.resolve("perrow.bin");
        Path tokFile = tmp.resolve("tok.bin");
        SyntheticCheckpoint.write(model, cfg, 9, CheckpointFormat.V1);
        TokenizerWriter.writeByteLevel(tokFile, 300);
        Checkpoint ckpt = Checkpoint.open(model);
        Tokenizer tok = Tokenizer.load(tokFile, 300);
        try (ReferenceBackend backend = new ReferenceBackend(ckpt, 2, 6);
             VarCharVector p = prompts("a", "b", "c", "d", "e", "f");
             IntVector maxNew = new IntVector("max_new_tokens", allocator);
             org.apache.arrow.vector.Float4Vector temp = new org.apache.arrow.vector.Float4Vector("temperature", allocator);
             org.apache.arrow.vector.Float4Vector topP = new org.apache.arrow.vector.Float4Vector("top_p", allocator)) {
            maxNew.allocateNew(6);
            temp.allocateNew(6);
            topP.allocateNew(6);
            for (int i = 0; i < 6; i++) {
                maxNew.setNull(i);
                temp.setNull(i);
                topP.setNull(i);
            }
            temp.set(1, -1f);
            topP.set(2, Float.NaN);
            maxNew.set(3, -1);
            topP.set(4, 2f);
            for (var v : new org.apache.arrow.vector.FieldVector[] {maxNew, temp, topP}) {
                v.setValueCount(6);
            }
            ContinuousBatcher batcher = new ContinuousBatcher(backend, new JavaTokenCodec(tok), BadRowPolicy.ROW_ERROR, 4);
            try (VectorSchemaRoot out = GenerateUdf.apply(p, new GenerateUdf.Options(maxNew, temp, topP, null, null),
                new GenerationParams(4, 0f, 1f, 1), batcher, allocator, RowLabels.positions(0), null)) {
                assertEquals("error: temperature must be finite and >= 0, got -1.0", finish(out, 1));
                assertEquals("error: top_p must be in (0, 1], got NaN", finish(out, 2));
                assertEquals("error: max_new_tokens must be >= 0, got -1", finish(out, 3));
                assertEquals("error: top_p must be in (0, 1], got 2.0", finish(out, 4));
                for (int r = 1; r <= 4; r++) {
                    assertNull(text(out, r), "row " + r);
                }
                for (int r : new int[] {0, 5}) {
                    assertTrue(finish(out, r).equals("length") || finish(out, r).equals("stop"), finish(out, r));
                    assertTrue(text(out, r) != null, "row " + r);
                }
            }
        }
    }

    @Test
    void wrongTokenizerAndBadSettingsAreClearErrors() {
        Checkpoint ckpt = Checkpoint.open(TestModels.require("stories260K.bin"));
        Path tokFile = tmp.resolve("tok.bin");
        TokenizerWriter.writeByteLevel(tokFile, 300);
        Tokenizer tok300 = Tokenizer.load(tokFile, 300);
        try (ReferenceBackend backend = new ReferenceBackend(ckpt, 2, 4)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new ContinuousBatcher(backend, new JavaTokenCodec(tok300), BadRowPolicy.ROW_ERROR, 2));
            assertTrue(e.getMessage().contains("wrong tokenizer"), e.getMessage());
        }
        assertThrows(IllegalArgumentException.class, () -> new GenerationParams(-1, 0f, 1f, 0));
        assertThrows(IllegalArgumentException.class, () -> new GenerationParams(1, -0.5f, 1f, 0));
        assertThrows(IllegalArgumentException.class, () -> new GenerationParams(1, 0.5f, 0f, 0));
        assertThrows(IllegalArgumentException.class, () -> new GenerationParams(1, 0.5f, 1.5f, 0));
        assertThrows(IllegalArgumentException.class, () -> BadRowPolicy.LONG_PROMPTS.parse("drop"));
    }
}

package org.sparknative.udf.generate;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import org.bytedeco.javacpp.BytePointer;
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
import org.sparknative.udf.InvalidRowException;
import org.sparknative.udf.RowLabels;

/** The scheduler's Arrow-free core: requests as bytes or addresses, the backend contract, the finish reasons. */
class ArrowFreeBatcherTest {
    @TempDir
    static Path tmp;
    private static Checkpoint ckpt;
    private static Path tokFile;

    @BeforeAll
    static void model() {
        LlamaConfig cfg = new LlamaConfig(32, 64, 2, 4, 2, 300, 24, false);
        Path model = tmp.resolve("m.bin");
        tokFile = tmp.resolve("tok.bin");
        SyntheticCheckpoint.write(model, cfg, 13, CheckpointFormat.V1);
        TokenizerWriter.writeByteLevel(tokFile, 300);
        ckpt = Checkpoint.open(model);
    }

    private static GenerationParams greedy(int n) {
        return new GenerationParams(n, 0f, 1f, 1);
    }

    @Test
    void offHeapAndByteArrayPromptsGiveTheSameTextOnBothCodecs() {
        String[] texts = {"hello world", "", "zz top", "é日本"};
        Tokenizer jtok = Tokenizer.load(tokFile, 300);
        try (NativeLlamaModel nm = NativeLlamaModel.map(ckpt); NativeTokenizer ntok = NativeTokenizer.load(tokFile, 300)) {
            GenerationScheduler.Result[] reference = null;
            for (int codecKind = 0; codecKind < 2; codecKind++) {
                for (int form = 0; form < 2 - codecKind; form++) {
                    // native codec (codecKind 0): bytes and addresses; Java codec: bytes only
                    TokenCodec codec = codecKind == 1 ? new JavaTokenCodec(jtok) : new NativeTokenCodec(ntok);
                    BytePointer[] held = new BytePointer[texts.length];
                    GenerationScheduler.Request[] reqs = new GenerationScheduler.Request[texts.length + 1];
                    for (int i = 0; i < texts.length; i++) {
                        byte[] b = texts[i].getBytes(StandardCharsets.UTF_8);
                        if (form == 0) {
                            reqs[i] = GenerationScheduler.Request.of(b, greedy(6));
                        } else {
                            held[i] = new BytePointer(Math.max(1, b.length));
                            held[i].put(b, 0, b.length);
                            reqs[i] = GenerationScheduler.Request.offHeap(held[i].address(), b.length, greedy(6));
                        }
                    }
                    reqs[texts.length] = GenerationScheduler.Request.nullPrompt();
                    try (NativeBackend backend = new NativeBackend(nm, 2, 2 + 3, 1)) {
                        GenerationScheduler.Result[] got = new ContinuousBatcher(backend, codec, BadRowPolicy.ROW_ERROR, 3)
                            .run(reqs, RowLabels.positions(0), null);
                        assertNull(got[texts.length].completion());
                        assertEquals("error: prompt is null", got[texts.length].finishReason().toString());
                        if (reference == null) {
                            reference = got;
                        }
                        for (int i = 0; i < texts.length; i++) {
                            assertArrayEquals(reference[i].completion(), got[i].completion(), "codec " + codecKind + " form " + form + " row " + i);
                            assertEquals(reference[i].finishReason(), got[i].finishReason());
                            assertTrue(got[i].completionTokens() > 0 || got[i].finishReason() == FinishReason.STOP);
                        }
                    } finally {
                        for (BytePointer p : held) {
                            if (p != null) {
                                p.close();
                            }
                        }
                    }
                }
            }
        }
    }

    @Test
    void theJavaCodecRefusesAddresses() {
        JavaTokenCodec c = new JavaTokenCodec(Tokenizer.load(tokFile, 300));
        assertTrue(!c.readsOffHeap());
        assertThrows(UnsupportedOperationException.class, () -> c.encode(0L, 0, new int[3]));
    }

    @Test
    void longPromptPoliciesFailNameTheRowOrWriteAnErrorRow() {
        Tokenizer jtok = Tokenizer.load(tokFile, 300);
        GenerationScheduler.Request[] reqs = {
            GenerationScheduler.Request.of("ok".getBytes(StandardCharsets.UTF_8), greedy(3)),
            GenerationScheduler.Request.of("q".repeat(40).getBytes(StandardCharsets.UTF_8), greedy(3)),
        };
        try (ReferenceBackend backend = new ReferenceBackend(ckpt, 2, 6)) {
            GenerationScheduler.Result[] r = new ContinuousBatcher(backend, new JavaTokenCodec(jtok), BadRowPolicy.ROW_ERROR, 4)
                .run(reqs, RowLabels.positions(0), null);
            assertTrue(r[1].finishReason().isError());
            assertEquals(FinishReason.Kind.ERROR, r[1].finishReason().kind());
            assertEquals("error: prompt is 42 tokens, more than the model's context of 24 (--long-prompts truncate keeps "
                + "its end)", r[1].finishReason().toString());
            assertNull(r[1].completion());
            assertEquals(42, r[1].promptTokens()); // BOS, the leading space, 40 bytes
        }
        try (ReferenceBackend backend = new ReferenceBackend(ckpt, 2, 6)) {
            ContinuousBatcher b = new ContinuousBatcher(backend, new JavaTokenCodec(jtok), BadRowPolicy.FAIL, 4);
            InvalidRowException e = assertThrows(InvalidRowException.class,
                () -> b.run(reqs, i -> RowLabels.id(100 + i), null));
            assertEquals("id 101", e.row());
            assertTrue(e.getMessage().startsWith("generate: id 101: prompt is 42 tokens"), e.getMessage());
        }
    }

    @Test
    void aPromptTooLongByItsBytesAloneIsRejectedWithoutTokenizing() {
        int[] encodes = {0};
        TokenCodec counting = new JavaTokenCodec(Tokenizer.load(tokFile, 300));
        TokenCodec spy = new TokenCodec() {
            @Override
            public int vocabSize() {
                return counting.vocabSize();
            }

            @Override
            public int maxPieceBytes() {
                return counting.maxPieceBytes();
            }

            @Override
            public boolean readsOffHeap() {
                return false;
            }

            @Override
            public int encode(long address, int length, int[] out) {
                throw new UnsupportedOperationException();
            }

            @Override
            public int encode(byte[] utf8, int[] out) {
                encodes[0]++;
                return counting.encode(utf8, out);
            }

            @Override
            public byte[] decode(int prevToken, int token) {
                return counting.decode(prevToken, token);
            }
        };
        byte[] huge = "x".repeat(400_000).getBytes(StandardCharsets.UTF_8);
        try (ReferenceBackend backend = new ReferenceBackend(ckpt, 2, 6)) {
            GenerationScheduler.Result[] r = new ContinuousBatcher(backend, spy, BadRowPolicy.ROW_ERROR, 4)
                .run(new GenerationScheduler.Request[] {GenerationScheduler.Request.of(huge, greedy(2))},
                    RowLabels.positions(0), null);
            assertEquals("error: prompt is 400000 bytes, at least 66668 tokens, more than the model's context of 24 "
                + "(--long-prompts truncate keeps its end)", r[0].finishReason().toString());
            assertEquals(0, encodes[0], "the prompt was tokenized");
        }
    }

    @Test
    void backendsRejectLogitRowsThatAreNotStrictlyAscending() {
        int[] tokens = {1, 5, 6};
        int[] positions = {0, 0, 1};
        int[] slots = {0, 1, 1};
        try (NativeLlamaModel nm = NativeLlamaModel.map(ckpt);
             NativeBackend nb = new NativeBackend(nm, 2, 3, 1);
             ReferenceBackend rb = new ReferenceBackend(ckpt, 2, 3)) {
            for (DecodeBackend be : new DecodeBackend[] {nb, rb}) {
                assertThrows(IllegalArgumentException.class,
                    () -> be.forward(3, tokens, positions, slots, 2, new int[] {2, 0}), be.getClass().getSimpleName());
                assertThrows(IllegalArgumentException.class,
                    () -> be.forward(3, tokens, positions, slots, 2, new int[] {1, 1}), be.getClass().getSimpleName());
            }
            // Ascending rows are fine, and the two backends agree on the greedy token of each logits row.
            nb.forward(3, tokens, positions, slots, 2, new int[] {0, 2});
            rb.forward(3, tokens, positions, slots, 2, new int[] {0, 2});
            for (int k = 0; k < 2; k++) {
                assertEquals(rb.sample(k, 0f, 1f, new long[] {1}), nb.sample(k, 0f, 1f, new long[] {1}), "logits row " + k);
            }
        }
    }

    @Test
    void aCancelledBatcherStopsWithinOneStepAndItsBackendFreesTheKvCache() {
        Tokenizer jtok = Tokenizer.load(tokFile, 300);
        GenerationScheduler.Request[] reqs = new GenerationScheduler.Request[6];
        for (int i = 0; i < reqs.length; i++) {
            reqs[i] = GenerationScheduler.Request.of(("prompt " + i).getBytes(StandardCharsets.UTF_8), greedy(20));
        }
        long before = org.sparknative.kernels.llama.NativeLlamaBatch.liveKvCacheBytes();
        int[] forwards = {0};
        try (NativeLlamaModel nm = NativeLlamaModel.map(ckpt); NativeTokenizer ntok = NativeTokenizer.load(tokFile, 300)) {
            NativeBackend nb = new NativeBackend(nm, 2, 2 + 3, 1);
            assertTrue(org.sparknative.kernels.llama.NativeLlamaBatch.liveKvCacheBytes() > before);
            DecodeBackend counting = new ForwardingBackend(nb) {
                @Override
                public void forward(int rows, int[] tokens, int[] positions, int[] slots, int nLogits, int[] logitRows) {
                    forwards[0]++;
                    super.forward(rows, tokens, positions, slots, nLogits, logitRows);
                }
            };
            try (counting) {
                ContinuousBatcher b = new ContinuousBatcher(counting, new NativeTokenCodec(ntok), BadRowPolicy.ROW_ERROR, 3)
                    .cancelWhen(() -> forwards[0] >= 5);
                java.util.concurrent.CancellationException e = assertThrows(java.util.concurrent.CancellationException.class,
                    () -> b.run(reqs, RowLabels.positions(0), null));
                assertEquals(5, forwards[0], "steps after the cancellation");
                assertEquals("generate cancelled after 5 decode steps", e.getMessage());
            }
        }
        assertEquals(before, org.sparknative.kernels.llama.NativeLlamaBatch.liveKvCacheBytes(), "KV cache not freed");
    }

    @Test
    void kvCachePlanAgainstHandComputedCases() {
        // stories260K: 5 layers, seq 512, kv_dim 64 / 8 * 4 = 32: 2 * 4 * 5 * 512 * 32 = 655,360 bytes per slot.
        LlamaConfig s260k = new LlamaConfig(64, 172, 5, 8, 4, 512, 512, true);
        assertEquals(655_360L, KvCachePlan.bytesPerSlot(s260k));
        assertEquals(65_536_000_000L, KvCachePlan.bytes(s260k, 100_000));
        assertEquals(1_600, KvCachePlan.maxSlots(s260k, 1_048_576_000L));
        // stories15M: 6 layers, seq 256, kv_dim 288: 3,538,944 bytes per slot.
        LlamaConfig s15m = new LlamaConfig(288, 768, 6, 6, 6, 32000, 256, true);
        assertEquals(3_538_944L, KvCachePlan.bytesPerSlot(s15m));
        assertEquals(0, KvCachePlan.maxSlots(s15m, 3_538_943L));
        KvCachePlan.check(s15m, 2, "--slots", 2 * 3_538_944L, "test");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
            () -> KvCachePlan.check(s260k, 100_000, "--slots", 1L << 30, "a test task may use"));
        assertEquals("--slots 100000 needs 61.0 GiB of f32 KV cache per task at a context of 512; at most 1,638 slots "
            + "fit in the 1.0 GiB of native memory a test task may use (a smaller --context or --kv-cache f16 fits more)",
            e.getMessage());
        // An F16 cache is half the bytes, so twice the slots fit.
        assertEquals(327_680L, KvCachePlan.bytesPerSlot(s260k, org.sparknative.kernels.llama.KvCacheType.F16));
        assertEquals(3_276, KvCachePlan.maxSlots(s260k, 1L << 30, org.sparknative.kernels.llama.KvCacheType.F16));
    }

    @Test
    void finishReasonsPrintAsTheOutputColumnDoes() {
        assertEquals("stop", FinishReason.STOP.toString());
        assertEquals("length", FinishReason.LENGTH.toString());
        assertEquals("error: prompt is null", FinishReason.error("prompt is null").toString());
        assertTrue(FinishReason.error("x").isError());
        assertTrue(!FinishReason.STOP.isError() && !FinishReason.LENGTH.isError());
        assertThrows(IllegalArgumentException.class, () -> new FinishReason(FinishReason.Kind.STOP, "no"));
        assertThrows(IllegalArgumentException.class, () -> new FinishReason(FinishReason.Kind.ERROR, null));
    }
}

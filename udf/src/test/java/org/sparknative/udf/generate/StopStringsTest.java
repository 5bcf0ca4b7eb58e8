package org.sparknative.udf.generate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import org.apache.arrow.memory.RootAllocator;
import org.apache.arrow.vector.IntVector;
import org.apache.arrow.vector.VarCharVector;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.arrow.vector.complex.ListVector;
import org.apache.arrow.vector.types.pojo.ArrowType;
import org.apache.arrow.vector.types.pojo.FieldType;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sparknative.kernels.llama.Checkpoint;
import org.sparknative.kernels.llama.CheckpointFormat;
import org.sparknative.kernels.llama.LlamaConfig;
import org.sparknative.kernels.llama.SyntheticCheckpoint;
import org.sparknative.kernels.llama.Tokenizer;
import org.sparknative.kernels.llama.TokenizerWriter;
import org.sparknative.udf.BadRowPolicy;
import org.sparknative.udf.RowLabels;

/**
 * Per-row stop strings through the Arrow UDF: a row ends where its completion first contains one of them, without
 * it, with finish reason {@code stop}; rows without stop strings are unchanged; a bad list is an error row.
 */
class StopStringsTest {
    @TempDir
    static Path tmp;
    private static Checkpoint ckpt;
    private static Tokenizer tok;

    @BeforeAll
    static void model() {
        LlamaConfig cfg = new LlamaConfig(32, 64, 2, 4, 2, 300, 64, false);
        Path model = tmp.resolve("m.bin");
        Path tokFile = tmp.resolve("tok.bin");
        SyntheticCheckpoint.write(model, cfg, 17, CheckpointFormat.V1);
        TokenizerWriter.writeByteLevel(tokFile, 300);
        ckpt = Checkpoint.open(model);
        tok = Tokenizer.load(tokFile, 300);
    }

    private static VectorSchemaRoot generate(RootAllocator alloc, String[] prompts, List<List<String>> stops) {
        try (VarCharVector p = new VarCharVector("prompt", alloc);
             ListVector stop = ListVector.empty("stop", alloc);
             ReferenceBackend backend = new ReferenceBackend(ckpt, 2, 2 + 16)) {
            p.allocateNew();
            for (int i = 0; i < prompts.length; i++) {
                p.setSafe(i, prompts[i].getBytes(StandardCharsets.UTF_8));
            }
            p.setValueCount(prompts.length);
            stop.addOrGetVector(FieldType.nullable(new ArrowType.Utf8()));
            stop.allocateNew();
            VarCharVector values = (VarCharVector) stop.getDataVector();
            for (int i = 0; i < stops.size(); i++) {
                if (stops.get(i) == null) {
                    stop.setNull(i);
                    continue;
                }
                int at = stop.startNewValue(i);
                for (int j = 0; j < stops.get(i).size(); j++) {
                    values.setSafe(at + j, stops.get(i).get(j).getBytes(StandardCharsets.UTF_8));
                }
                stop.endValue(i, stops.get(i).size());
            }
            stop.setValueCount(stops.size());
            ContinuousBatcher batcher = new ContinuousBatcher(backend, new JavaTokenCodec(tok), BadRowPolicy.ROW_ERROR, 16);
            return GenerateUdf.apply(p, new GenerateUdf.Options(null, null, null, null, null, null, null, stop),
                new GenerationParams(40, 0f, 1f, 3), batcher, alloc, RowLabels.positions(0), null);
        }
    }

    private static String text(VectorSchemaRoot out, int row) {
        VarCharVector c = (VarCharVector) out.getVector("completion");
        return c.isNull(row) ? null : new String(c.get(row), StandardCharsets.UTF_8);
    }

    private static String finish(VectorSchemaRoot out, int row) {
        return new String(((VarCharVector) out.getVector("finish_reason")).get(row), StandardCharsets.UTF_8);
    }

    /** The raw completion bytes of "hello", greedy, 40 tokens, with {@code stop}. */
    private static GenerationScheduler.Result raw(List<String> stop) {
        try (ReferenceBackend backend = new ReferenceBackend(ckpt, 2, 2 + 16)) {
            ContinuousBatcher batcher = new ContinuousBatcher(backend, new JavaTokenCodec(tok), BadRowPolicy.ROW_ERROR, 16);
            return batcher.run(new GenerationScheduler.Request[] {GenerationScheduler.Request.of(
                "hello".getBytes(StandardCharsets.UTF_8), new GenerationParams(40, 0f, 1f, 3).withStop(stop))},
                RowLabels.positions(0), null)[0];
        }
    }

    /** @return the first {@code len} printable ASCII bytes in a row at or after {@code from}, or null */
    private static String asciiRun(byte[] b, int from, int len) {
        for (int i = from; i + len <= b.length; i++) {
            boolean ok = true;
            for (int j = i; j < i + len; j++) {
                ok &= b[j] >= 0x20 && b[j] < 0x7f;
            }
            if (ok) {
                return new String(b, i, len, StandardCharsets.US_ASCII);
            }
        }
        return null;
    }

    private static int indexOf(byte[] text, byte[] s) {
        for (int i = 0; i + s.length <= text.length; i++) {
            if (java.util.Arrays.equals(text, i, i + s.length, s, 0, s.length)) {
                return i;
            }
        }
        return -1;
    }

    @Test
    void aRowEndsWhereItsCompletionFirstContainsAStopString() {
        GenerationScheduler.Result full = raw(List.of());
        assertEquals(FinishReason.LENGTH, full.finishReason());
        byte[] b = full.completion();
        String early = asciiRun(b, 4, 2);
        assertTrue(early != null, "the seeded model's text has two printable bytes in a row");
        int cut = indexOf(b, early.getBytes(StandardCharsets.US_ASCII));
        GenerationScheduler.Result stopped = raw(List.of("\u0000never", early));
        assertEquals(FinishReason.STOP, stopped.finishReason());
        assertEquals(new String(b, 0, cut, StandardCharsets.ISO_8859_1),
            new String(stopped.completion(), StandardCharsets.ISO_8859_1), "cut where the stop string starts, without it");
        assertTrue(stopped.completionTokens() < 40 && stopped.completionTokens() >= 1);

        // Through Arrow: the list column per row; an empty or null list, or a string never seen, stops nothing.
        try (RootAllocator alloc = new RootAllocator(Long.MAX_VALUE);
             VectorSchemaRoot out = generate(alloc, new String[] {"hello", "hello", "hello", "hello"},
                 java.util.Arrays.asList(List.of("\u0000never", early), List.of(), null, List.of("\u0000never")))) {
            IntVector tokens = (IntVector) out.getVector("completion_tokens");
            assertEquals("stop", finish(out, 0));
            assertEquals(stopped.completionTokens(), tokens.get(0));
            for (int row = 1; row < 4; row++) {
                assertEquals("length", finish(out, row), "row " + row);
                assertEquals(40, tokens.get(row), "row " + row);
            }
        }
    }

    @Test
    void badStopListsAreRefusedNamingWhy() {
        assertEquals("stop strings must be 1 to 1024 bytes, got 0 bytes", assertThrows(IllegalArgumentException.class,
            () -> new GenerationParams(4, 0f, 1f, 1).withStop(List.of(""))).getMessage());
        assertEquals("stop takes at most 16 strings, got 17", assertThrows(IllegalArgumentException.class,
            () -> new GenerationParams(4, 0f, 1f, 1).withStop(java.util.Collections.nCopies(17, "x"))).getMessage());
        try (RootAllocator alloc = new RootAllocator(Long.MAX_VALUE);
             VectorSchemaRoot out = generate(alloc, new String[] {"a", "b"}, java.util.Arrays.asList(List.of(""), null))) {
            assertEquals(null, text(out, 0));
            assertEquals("error: stop strings must be 1 to 1024 bytes, got 0 bytes", finish(out, 0));
            assertEquals("length", finish(out, 1), "the other row goes on");
        }
    }
}

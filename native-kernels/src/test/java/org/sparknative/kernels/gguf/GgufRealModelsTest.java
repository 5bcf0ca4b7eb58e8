package org.sparknative.kernels.gguf;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.sparknative.kernels.llama.Checkpoint;
import org.sparknative.kernels.llama.Tensor;
import org.sparknative.kernels.testing.TestModels;

/**
 * The four stories260K GGUF files llama.cpp wrote (F32, and F16/Q8_0/Q4_0 by its quantize tool): their metadata and
 * tensors as expected, their quantized tensors equal byte for byte to what {@link Quants} makes of the F32 file, and
 * the F32 file equal to the llama2.c checkpoint it was converted from. Skipped when the files are absent.
 */
class GgufRealModelsTest {
    private static final String[] LAYER_TENSORS = {"attn_q", "attn_k", "attn_v", "attn_output", "attn_norm", "ffn_gate",
        "ffn_down", "ffn_up", "ffn_norm"};

    private static GgufFile open(String name) {
        return GgufFile.open(TestModels.require(name));
    }

    @ParameterizedTest
    @ValueSource(strings = {TestModels.STORIES_260K_GGUF, TestModels.STORIES_260K_GGUF_F16, TestModels.STORIES_260K_GGUF_Q8_0,
        TestModels.STORIES_260K_GGUF_Q4_0})
    void metadata(String name) {
        GgufFile g = open(name);
        assertEquals(3, g.version());
        assertEquals(32, g.alignment());
        assertEquals("llama", g.getString("general.architecture"));
        assertEquals(64, g.getInt("llama.embedding_length"));
        assertEquals(172, g.getInt("llama.feed_forward_length"));
        assertEquals(5, g.getInt("llama.block_count"));
        assertEquals(8, g.getInt("llama.attention.head_count"));
        assertEquals(4, g.getInt("llama.attention.head_count_kv"));
        assertEquals(8, g.getInt("llama.rope.dimension_count"));
        // llama.cpp's llama2.c converter writes its default context, 128, not the checkpoint's seq_len of 512
        assertEquals(128, g.getInt("llama.context_length"));
        assertEquals(1e-5f, g.getFloat("llama.attention.layer_norm_rms_epsilon"));
        assertEquals("llama", g.getString("tokenizer.ggml.model"));
        assertEquals(0, g.getInt("tokenizer.ggml.unknown_token_id"));
        assertEquals(1, g.getInt("tokenizer.ggml.bos_token_id"));
        assertEquals(2, g.getInt("tokenizer.ggml.eos_token_id"));
        assertEquals(0xFFFF_FFFFL, g.getLong("tokenizer.ggml.padding_token_id")); // "none", as uint32 -1

        String[] tokens = g.getStringArray("tokenizer.ggml.tokens");
        float[] scores = g.getFloatArray("tokenizer.ggml.scores");
        int[] types = g.getIntArray("tokenizer.ggml.token_type");
        assertEquals(512, tokens.length);
        assertEquals(512, scores.length);
        assertEquals(512, types.length);
        assertArrayEquals(new String[] {"<unk>", "<s>", "</s>", "<0x00>"}, java.util.Arrays.copyOf(tokens, 4));
        assertEquals("<0xFF>", tokens[258]);
        assertEquals("\u2581t", tokens[259]); // SentencePiece's U+2581 for a space, where tok512.bin has ' '
        assertEquals("he", tokens[260]);
        assertEquals(-1f, scores[260]);
        assertEquals(-252f, scores[511]);
        // 2 unknown, 3 control, 6 byte, 1 normal
        assertArrayEquals(new int[] {2, 3, 3, 6}, java.util.Arrays.copyOf(types, 4));
        assertEquals(6, types[258]);
        assertEquals(1, types[259]);

        int fileType = g.getInt("general.file_type", -1);
        assertEquals(switch (name) {
            case TestModels.STORIES_260K_GGUF_F16 -> 1;
            case TestModels.STORIES_260K_GGUF_Q8_0 -> 7;
            case TestModels.STORIES_260K_GGUF_Q4_0 -> 2;
            default -> -1;
        }, fileType);
    }

    /** Names and shapes (ggml order, ne0 first) of the 48 tensors, and the type each file gives each. */
    @ParameterizedTest
    @ValueSource(strings = {TestModels.STORIES_260K_GGUF, TestModels.STORIES_260K_GGUF_F16, TestModels.STORIES_260K_GGUF_Q8_0,
        TestModels.STORIES_260K_GGUF_Q4_0})
    void tensors(String name) {
        GgufFile g = open(name);
        GgmlType weights = switch (name) {
            case TestModels.STORIES_260K_GGUF_F16 -> GgmlType.F16;
            case TestModels.STORIES_260K_GGUF_Q8_0 -> GgmlType.Q8_0;
            case TestModels.STORIES_260K_GGUF_Q4_0 -> GgmlType.Q4_0;
            default -> GgmlType.F32;
        };
        // rows of 172 (ffn_down) are not whole blocks of 32: llama.cpp leaves them F32; F16 has blocks of 1
        GgmlType down = weights.blockSize() == 1 ? weights : GgmlType.F32;
        Map<String, Object[]> expected = new TreeMap<>();
        expected.put("token_embd.weight", new Object[] {weights, new long[] {64, 512}});
        expected.put("output.weight", new Object[] {weights, new long[] {64, 512}});
        expected.put("output_norm.weight", new Object[] {GgmlType.F32, new long[] {64}});
        for (int l = 0; l < 5; l++) {
            String p = "blk." + l + ".";
            expected.put(p + "attn_q.weight", new Object[] {weights, new long[] {64, 64}});
            expected.put(p + "attn_k.weight", new Object[] {weights, new long[] {64, 32}});
            expected.put(p + "attn_v.weight", new Object[] {weights, new long[] {64, 32}});
            expected.put(p + "attn_output.weight", new Object[] {weights, new long[] {64, 64}});
            expected.put(p + "ffn_gate.weight", new Object[] {weights, new long[] {64, 172}});
            expected.put(p + "ffn_up.weight", new Object[] {weights, new long[] {64, 172}});
            expected.put(p + "ffn_down.weight", new Object[] {down, new long[] {172, 64}});
            expected.put(p + "attn_norm.weight", new Object[] {GgmlType.F32, new long[] {64}});
            expected.put(p + "ffn_norm.weight", new Object[] {GgmlType.F32, new long[] {64}});
        }
        assertEquals(48, g.tensors().size());
        Map<String, Object[]> actual = new TreeMap<>();
        for (GgufTensor t : g.tensors()) {
            actual.put(t.name(), new Object[] {t.type(), t.dims()});
        }
        assertEquals(expected.keySet(), actual.keySet());
        expected.forEach((n, e) -> {
            assertEquals(e[0], actual.get(n)[0], n);
            assertArrayEquals((long[]) e[1], (long[]) actual.get(n)[1], n);
        });
    }

    /**
     * llama.cpp quantized the F32 file with ggml's reference quantizers and F16 conversion: {@link Quants} makes the
     * same bytes from the F32 file's values, for every tensor of every file.
     */
    @ParameterizedTest
    @ValueSource(strings = {TestModels.STORIES_260K_GGUF_F16, TestModels.STORIES_260K_GGUF_Q8_0, TestModels.STORIES_260K_GGUF_Q4_0})
    void quantsReproduceLlamaCppByteForByte(String name) {
        GgufFile f32 = open(TestModels.STORIES_260K_GGUF);
        GgufFile q = open(name);
        List<String> differ = new ArrayList<>();
        for (GgufTensor t : q.tensors()) {
            float[] values = f32.dequantize(f32.requireTensor(t.name()));
            if (!ByteBuffer.wrap(Quants.quantize(t.type(), values)).equals(q.map(t))) {
                differ.add(t.toString());
            }
        }
        assertEquals(List.of(), differ);
    }

    /** Dequantized token embeddings stay within each format's error bound of the F32 values. */
    @ParameterizedTest
    @ValueSource(strings = {TestModels.STORIES_260K_GGUF_F16, TestModels.STORIES_260K_GGUF_Q8_0, TestModels.STORIES_260K_GGUF_Q4_0})
    void dequantizedEmbeddingsAreCloseToF32(String name) {
        GgufFile f32 = open(TestModels.STORIES_260K_GGUF);
        GgufFile q = open(name);
        GgufTensor t = q.requireTensor("token_embd.weight");
        float[] x = f32.dequantize(f32.requireTensor("token_embd.weight"));
        ByteBuffer raw = q.map(t);
        for (long row = 0; row < t.rows(); row += 37) {
            float[] y = q.dequantizeRows(t, row, 1);
            for (int b = 0; b < 2; b++) {
                double bound;
                int blockAt = (int) (row * t.rowBytes()) + b * t.type().typeSize();
                float amax = 0;
                for (int j = 0; j < 32; j++) {
                    amax = Math.max(amax, Math.abs(x[(int) (row * 64) + b * 32 + j]));
                }
                if (t.type() == GgmlType.F16) {
                    bound = -1; // per element below
                } else {
                    double d = Math.abs(Quants.f16ToF32(Quants.getShort(raw, blockAt)));
                    // Q8_0: half a step of amax / 127; Q4_0: a whole step (the clamp at 15) of amax / 8; plus F16 scale
                    bound = t.type() == GgmlType.Q8_0 ? (amax / 127.0) / 2 + 127 * Math.abs(amax / 127.0 - d)
                        : amax / 8.0 + 8 * Math.abs(amax / 8.0 - d);
                    bound = bound * (1 + 1e-5) + 1e-7;
                }
                for (int j = 0; j < 32; j++) {
                    float xi = x[(int) (row * 64) + b * 32 + j];
                    float yi = y[b * 32 + j];
                    double e = bound >= 0 ? bound : Math.abs(xi) * 0x1p-11 + 0x1p-25;
                    assertTrue(Math.abs(xi - yi) <= e, () -> name + " token " + t.name() + " element " + xi + " came back"
                        + " as " + yi);
                }
            }
        }
    }

    /**
     * llama.cpp's converter copied stories260K.bin's tensors unchanged (no Q/K permutation: llama2.c and llama.cpp's
     * llama architecture rotate the same interleaved pairs), and duplicated the shared classifier as output.weight.
     */
    @Test
    void theF32FileEqualsTheLlama2cCheckpoint() throws IOException {
        Path bin = TestModels.require(TestModels.STORIES_260K);
        GgufFile g = open(TestModels.STORIES_260K_GGUF);
        Checkpoint c = Checkpoint.open(bin);
        ByteBuffer m;
        try (FileChannel ch = FileChannel.open(bin)) {
            m = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size()).order(ByteOrder.LITTLE_ENDIAN);
        }
        int dim = c.config().dim();
        int kv = c.config().kvDim();
        int hidden = c.config().hiddenDim();
        assertSame(g, "token_embd.weight", m, c.offset(Tensor.TOKEN_EMBEDDING));
        assertSame(g, "output.weight", m, c.offset(Tensor.WCLS));
        assertSame(g, "output_norm.weight", m, c.offset(Tensor.RMS_FINAL));
        for (int l = 0; l < c.config().nLayers(); l++) {
            String p = "blk." + l + ".";
            assertSame(g, p + "attn_norm.weight", m, c.offset(Tensor.RMS_ATT) + 4L * l * dim);
            assertSame(g, p + "attn_q.weight", m, c.offset(Tensor.WQ) + 4L * l * dim * dim);
            assertSame(g, p + "attn_k.weight", m, c.offset(Tensor.WK) + 4L * l * kv * dim);
            assertSame(g, p + "attn_v.weight", m, c.offset(Tensor.WV) + 4L * l * kv * dim);
            assertSame(g, p + "attn_output.weight", m, c.offset(Tensor.WO) + 4L * l * dim * dim);
            assertSame(g, p + "ffn_norm.weight", m, c.offset(Tensor.RMS_FFN) + 4L * l * dim);
            assertSame(g, p + "ffn_gate.weight", m, c.offset(Tensor.W1) + 4L * l * hidden * dim);
            assertSame(g, p + "ffn_down.weight", m, c.offset(Tensor.W2) + 4L * l * hidden * dim);
            assertSame(g, p + "ffn_up.weight", m, c.offset(Tensor.W3) + 4L * l * hidden * dim);
        }
        assertEquals(LAYER_TENSORS.length * c.config().nLayers() + 3, g.tensors().size());
    }

    private static void assertSame(GgufFile g, String tensor, ByteBuffer bin, long offset) {
        GgufTensor t = g.requireTensor(tensor);
        ByteBuffer expected = bin.slice((int) offset, (int) t.byteSize());
        assertEquals(expected, g.map(t), tensor);
    }
}

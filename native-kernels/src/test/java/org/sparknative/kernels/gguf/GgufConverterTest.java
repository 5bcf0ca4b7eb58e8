package org.sparknative.kernels.gguf;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.sparknative.kernels.llama.CheckpointFormat;
import org.sparknative.kernels.llama.LlamaConfig;
import org.sparknative.kernels.llama.SyntheticCheckpoint;
import org.sparknative.kernels.llama.Tokenizer;
import org.sparknative.kernels.llama.TokenizerWriter;
import org.sparknative.kernels.testing.TestModels;

/**
 * {@link GgufConverter}: a llama2.c checkpoint becomes a GGUF file whose tensors hold its floats (or their
 * conversion by {@link Quants}), with ggml's rule for which tensors stay F32; on the real stories260K files, the
 * conversion of {@code stories260K.bin} equals llama.cpp's own {@code stories260K.gguf} tensor for tensor and token
 * for token, and converting that file gives llama.cpp's F16, Q8_0 and Q4_0 files' tensors byte for byte.
 */
class GgufConverterTest {
    /** GQA, an unshared classifier, hidden 80 (not whole blocks of 32: ffn_down stays F32 when quantized). */
    private static final LlamaConfig SHAPE = new LlamaConfig(64, 80, 2, 4, 2, 300, 48, false);

    @TempDir
    Path tmp;

    @ParameterizedTest
    @ValueSource(strings = {"f32", "f16", "bf16", "q8_0", "q4_0"})
    void aLlama2cCheckpointBecomesGgufOfEveryType(String typeName) throws Exception {
        GgmlType type = GgufConverter.parseType(typeName);
        Path bin = tmp.resolve("model.bin");
        Path tok = tmp.resolve("tok.bin");
        SyntheticCheckpoint.write(bin, SHAPE, 7, CheckpointFormat.LEGACY);
        TokenizerWriter.writeByteLevel(tok, SHAPE.vocabSize());
        Path f32 = tmp.resolve("model-f32.gguf");
        GgufConverter.fromLlama2c(bin, tok, GgmlType.F32, f32);
        Path out = tmp.resolve("model-" + typeName + ".gguf");
        GgufConverter.Result r = GgufConverter.fromLlama2c(bin, tok, type, out);
        assertEquals(Files.size(out), r.bytes());

        GgufFile g = GgufFile.open(out);
        GgufFile ref = GgufFile.open(f32);
        assertEquals("llama", g.getString("general.architecture"));
        assertEquals(64, g.getInt("llama.embedding_length"));
        assertEquals(80, g.getInt("llama.feed_forward_length"));
        assertEquals(2, g.getInt("llama.block_count"));
        assertEquals(4, g.getInt("llama.attention.head_count"));
        assertEquals(2, g.getInt("llama.attention.head_count_kv"));
        assertEquals(48, g.getInt("llama.context_length"));
        assertEquals(16, g.getInt("llama.rope.dimension_count"));
        // 1 embedding + 1 final norm + 1 untied output + 9 per layer
        assertEquals(3 + 9 * 2, g.tensors().size());
        assertTrue(g.tensor("output.weight").isPresent(), "the unshared classifier");
        int typed = 0;
        for (GgufTensor t : g.tensors()) {
            GgmlType expected = t.dims().length == 1 || t.dims()[0] % type.blockSize() != 0 ? GgmlType.F32 : type;
            assertEquals(expected, t.type(), t.name());
            typed += t.type() == type ? 1 : 0;
            // every tensor is the F32 file's values converted by the reference quantizers
            float[] values = ref.dequantize(ref.requireTensor(t.name()));
            assertEquals(ByteBuffer.wrap(Quants.quantize(t.type(), values)), g.map(t), t.name());
        }
        if (type.isQuantized()) {
            assertEquals(GgmlType.F32, g.requireTensor("blk.0.ffn_down.weight").type(), "rows of 80 stay F32");
            assertEquals(2, g.getLong("general.quantization_version"));
        } else {
            assertFalse(g.has("general.quantization_version"));
        }
        assertEquals(typed, r.tensors().getOrDefault(type, 0));
    }

    @Test
    void theF32FileHoldsTheCheckpointsFloatsAndTheTokenizersVocabulary() throws Exception {
        Path bin = tmp.resolve("model.bin");
        Path tok = tmp.resolve("tok.bin");
        SyntheticCheckpoint.write(bin, SHAPE, 11, CheckpointFormat.V1);
        TokenizerWriter.writeByteLevel(tok, SHAPE.vocabSize());
        Path out = tmp.resolve("m.gguf");
        GgufConverter.fromLlama2c(bin, tok, GgmlType.F32, out);
        GgufFile g = GgufFile.open(out);
        Tokenizer t = Tokenizer.load(tok, SHAPE.vocabSize());
        String[] pieces = g.getStringArray("tokenizer.ggml.tokens");
        float[] scores = g.getFloatArray("tokenizer.ggml.scores");
        int[] types = g.getIntArray("tokenizer.ggml.token_type");
        assertEquals(SHAPE.vocabSize(), pieces.length);
        assertEquals(List.of("<unk>", "<s>", "</s>", "<0x00>"), List.of(pieces).subList(0, 4));
        for (int i = 3; i < pieces.length; i++) {
            assertEquals(new String(t.piece(i), java.nio.charset.StandardCharsets.UTF_8).replace(' ', '\u2581'), pieces[i]);
            assertEquals(t.score(i), scores[i]);
        }
        assertEquals(2, types[0]);
        assertEquals(3, types[1]);
        assertEquals(6, types[3 + 255]);
        assertEquals(1, types[259]);
        // The query projection of layer 1 is the checkpoint's, float for float (the v1 layout, read through its offsets).
        org.sparknative.kernels.llama.Checkpoint c = org.sparknative.kernels.llama.Checkpoint.open(bin);
        float[] wq = g.dequantize(g.requireTensor("blk.1.attn_q.weight"));
        ByteBuffer file = ByteBuffer.wrap(Files.readAllBytes(bin)).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        long base = c.offset(org.sparknative.kernels.llama.Tensor.WQ) + 4L * 64 * 64;
        for (int i = 0; i < wq.length; i++) {
            assertEquals(file.getFloat((int) (base + 4L * i)), wq[i], "element " + i);
        }
    }

    @Test
    void badInputsAreNamedAndLeaveNoFile() throws Exception {
        assertEquals("type must be f32, f16, bf16, q8_0 or q4_0, got 'q4_1'",
            assertThrows(IllegalArgumentException.class, () -> GgufConverter.parseType("q4_1")).getMessage());
        Path bin = tmp.resolve("model.bin");
        SyntheticCheckpoint.write(bin, SHAPE, 7, CheckpointFormat.LEGACY);
        Path tok = tmp.resolve("tok.bin");
        TokenizerWriter.writeByteLevel(tok, 260);
        Path out = tmp.resolve("out.gguf");
        Exception e = assertThrows(IllegalArgumentException.class, () -> GgufConverter.fromLlama2c(bin, tok, GgmlType.Q8_0, out));
        assertTrue(e.getMessage().contains(tok.toString()), e.getMessage());
        Path truncated = tmp.resolve("short.bin");
        Files.write(truncated, java.util.Arrays.copyOf(Files.readAllBytes(bin), 1000));
        e = assertThrows(IllegalArgumentException.class, () -> GgufConverter.fromLlama2c(truncated, tok, GgmlType.Q8_0, out));
        assertTrue(e.getMessage().contains(truncated.toString()), e.getMessage());
        assertFalse(Files.exists(out));
        try (var files = Files.list(tmp)) {
            assertEquals(List.of(), files.filter(p -> p.getFileName().toString().endsWith(".part")).toList());
        }
    }

    /** The converter's vocabulary and GgufTokenizer's conversion are inverses: the tokenizer file comes back. */
    @Test
    void theEmbeddedVocabularyGivesBackTheTokenizerFile() throws Exception {
        Path bin = tmp.resolve("model.bin");
        Path tok = tmp.resolve("tok.bin");
        SyntheticCheckpoint.write(bin, SHAPE, 7, CheckpointFormat.LEGACY);
        TokenizerWriter.writeByteLevel(tok, SHAPE.vocabSize());
        Path out = tmp.resolve("m.gguf");
        GgufConverter.fromLlama2c(bin, tok, GgmlType.Q8_0, out);
        assertArrayEquals(Files.readAllBytes(tok), GgufTokenizer.of(GgufFile.open(out)).llama2cImage());

        Optional<Path> real = TestModels.find(TestModels.STORIES_260K);
        Optional<Path> realTok = TestModels.find(TestModels.TOK_512);
        Assumptions.assumeTrue(real.isPresent() && realTok.isPresent(), "needs the shared stories260K files");
        Path out260 = tmp.resolve("s.gguf");
        GgufConverter.fromLlama2c(real.get(), realTok.get(), GgmlType.Q4_0, out260);
        assertArrayEquals(Files.readAllBytes(realTok.get()), GgufTokenizer.of(GgufFile.open(out260)).llama2cImage());
    }

    /** llama.cpp converted stories260K.bin with its llama2.c converter: the same tensors and vocabulary. */
    @Test
    void stories260kBinConvertsToLlamaCppsF32File() throws Exception {
        Optional<Path> bin = TestModels.find(TestModels.STORIES_260K);
        Optional<Path> tok = TestModels.find(TestModels.TOK_512);
        Optional<Path> theirs = TestModels.find(TestModels.STORIES_260K_GGUF);
        Assumptions.assumeTrue(bin.isPresent() && tok.isPresent() && theirs.isPresent(), "needs the shared stories260K files");
        Path ours = tmp.resolve("stories260K.gguf");
        GgufConverter.fromLlama2c(bin.get(), tok.get(), GgmlType.F32, ours);
        GgufFile a = GgufFile.open(ours);
        GgufFile b = GgufFile.open(theirs.get());
        for (String k : List.of("llama.embedding_length", "llama.feed_forward_length", "llama.block_count",
            "llama.attention.head_count", "llama.attention.head_count_kv", "llama.rope.dimension_count",
            "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id", "tokenizer.ggml.unknown_token_id")) {
            assertEquals(b.getLong(k), a.getLong(k), k);
        }
        assertEquals(b.getFloat("llama.attention.layer_norm_rms_epsilon"), a.getFloat("llama.attention.layer_norm_rms_epsilon"));
        assertEquals(512, a.getInt("llama.context_length"), "the checkpoint's seq_len (llama.cpp's converter wrote 128)");
        assertArrayEquals(b.getStringArray("tokenizer.ggml.tokens"), a.getStringArray("tokenizer.ggml.tokens"));
        assertArrayEquals(b.getFloatArray("tokenizer.ggml.scores"), a.getFloatArray("tokenizer.ggml.scores"));
        assertArrayEquals(b.getIntArray("tokenizer.ggml.token_type"), a.getIntArray("tokenizer.ggml.token_type"));
        for (GgufTensor t : a.tensors()) {
            assertEquals(b.map(b.requireTensor(t.name())), a.map(t), t.name());
        }
        // llama.cpp also stored the shared classifier as output.weight: a copy of token_embd.
        assertEquals(b.map(b.requireTensor("output.weight")), a.map(a.requireTensor("token_embd.weight")));
    }

    /** Converting llama.cpp's F32 file gives its quantize tool's files, tensor for tensor. */
    @ParameterizedTest
    @ValueSource(strings = {TestModels.STORIES_260K_GGUF_F16, TestModels.STORIES_260K_GGUF_Q8_0, TestModels.STORIES_260K_GGUF_Q4_0})
    void stories260kF32ConvertsToLlamaCppsQuantizedFiles(String name) throws Exception {
        Optional<Path> f32 = TestModels.find(TestModels.STORIES_260K_GGUF);
        Optional<Path> theirs = TestModels.find(name);
        Assumptions.assumeTrue(f32.isPresent() && theirs.isPresent(), "needs the shared stories260K GGUF files");
        GgufFile b = GgufFile.open(theirs.get());
        GgmlType type = name.contains("q8_0") ? GgmlType.Q8_0 : name.contains("q4_0") ? GgmlType.Q4_0 : GgmlType.F16;
        Path ours = tmp.resolve(name);
        GgufConverter.fromGguf(f32.get(), type, ours);
        GgufFile a = GgufFile.open(ours);
        assertEquals(b.tensors().size(), a.tensors().size());
        for (GgufTensor t : b.tensors()) {
            GgufTensor mine = a.requireTensor(t.name());
            assertEquals(t.type(), mine.type(), t.name());
            assertEquals(b.map(t), a.map(mine), t.name());
        }
        assertArrayEquals(b.getStringArray("tokenizer.ggml.tokens"), a.getStringArray("tokenizer.ggml.tokens"));
    }
}

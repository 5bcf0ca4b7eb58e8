package org.sparknative.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sparknative.kernels.gguf.GgmlType;
import org.sparknative.kernels.gguf.GgufFile;
import org.sparknative.kernels.llama.CheckpointFormat;
import org.sparknative.kernels.llama.LlamaConfig;
import org.sparknative.kernels.llama.SyntheticCheckpoint;
import org.sparknative.kernels.llama.TokenizerWriter;

/** {@code spark-native quantize} through the command line: a .bin with its tokenizer, a GGUF input, and bad usage. */
class QuantizeCliTest {
    @TempDir
    Path tmp;

    @Test
    void quantizesABinAndAGgufAndRefusesBadUsage() throws Exception {
        LlamaConfig shape = new LlamaConfig(64, 96, 1, 4, 4, 300, 32, true);
        Path bin = tmp.resolve("m.bin");
        Path tok = tmp.resolve("tok.bin");
        SyntheticCheckpoint.write(bin, shape, 3, CheckpointFormat.LEGACY);
        TokenizerWriter.writeByteLevel(tok, 300);
        Path q8 = tmp.resolve("m-q8_0.gguf");
        CliRun r = CliRun.of("quantize", "--input", bin.toString(), "--tokenizer", tok.toString(), "--type", "Q8_0",
            "--output", q8.toString());
        assertEquals(0, r.exit(), r.err());
        GgufFile g = GgufFile.open(q8);
        assertEquals(GgmlType.Q8_0, g.requireTensor("blk.0.ffn_down.weight").type(), "rows of 96: whole blocks");
        assertEquals(GgmlType.F32, g.requireTensor("blk.0.attn_norm.weight").type());
        assertFalse(g.tensor("output.weight").isPresent(), "a shared classifier writes no output.weight");

        Path f16 = tmp.resolve("m-f16.gguf");
        r = CliRun.of("quantize", "--input", q8.toString(), "--type", "f16", "--output", f16.toString());
        assertEquals(0, r.exit(), r.err());
        assertEquals(GgmlType.F16, GgufFile.open(f16).requireTensor("blk.0.attn_q.weight").type());

        r = CliRun.of("quantize", "--input", bin.toString(), "--type", "q8_0", "--output", tmp.resolve("x.gguf").toString());
        assertEquals(2, r.exit(), r.err());
        assertTrue(r.err().contains("is a llama2.c checkpoint: give its --tokenizer"), r.err());
        r = CliRun.of("quantize", "--input", q8.toString(), "--type", "q5_0", "--output", tmp.resolve("x.gguf").toString());
        assertEquals(2, r.exit(), r.err());
        assertTrue(r.err().contains("type must be f32, f16, bf16, q8_0 or q4_0, got 'q5_0'"), r.err());
        r = CliRun.of("quantize", "--input", q8.toString(), "--type", "q4_0", "--output", q8.toString());
        assertEquals(2, r.exit(), r.err());
        assertTrue(r.err().contains("is the input"), r.err());
        assertFalse(Files.exists(tmp.resolve("x.gguf")));
    }
}

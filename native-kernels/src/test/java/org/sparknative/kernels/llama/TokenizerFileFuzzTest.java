package org.sparknative.kernels.llama;

import com.code_intelligence.jazzer.junit.FuzzTest;
import java.nio.file.Path;

/**
 * Fuzz target: the Java tokenizer.bin parser ({@link Tokenizer#parse}, which {@link Tokenizer#load} calls on
 * the file's bytes) and, on whatever it accepts, {@link Tokenizer#encode} and {@link Tokenizer#decode}. Input
 * layout: {@link FuzzInputs.TokenizerFile}. Any bytes must give a {@link CheckpointException}, or a tokenizer whose
 * encode returns ids inside the vocabulary (or an {@link UnencodableTextException} naming a byte of the text) and
 * whose decode takes every id it returned.
 */
class TokenizerFileFuzzTest {
    private static final Path NAME = Path.of("fuzz-tokenizer.bin");

    @FuzzTest(maxDuration = "90s")
    void javaParse(byte[] data) {
        FuzzInputs.TokenizerFile in = FuzzInputs.TokenizerFile.of(data);
        Tokenizer tok;
        try {
            tok = Tokenizer.parse(NAME, in.image(), in.vocabSize());
        } catch (CheckpointException rejected) {
            return;
        }
        int[] ids;
        try {
            ids = tok.encode(in.text(), in.bos(), in.eos());
        } catch (UnencodableTextException e) {
            if (e.offset() < 0 || e.offset() >= in.text().length || (in.text()[e.offset()] & 0xFF) != e.byteValue()) {
                throw new AssertionError("exception names no byte of the text: " + e.getMessage(), e);
            }
            return;
        }
        for (int i = 0; i < ids.length; i++) {
            if (ids[i] < 0 || ids[i] >= tok.vocabSize()) {
                throw new AssertionError("id " + ids[i] + " outside the vocabulary of " + tok.vocabSize());
            }
            tok.decode(i == 0 ? 0 : ids[i - 1], ids[i]);
        }
    }
}

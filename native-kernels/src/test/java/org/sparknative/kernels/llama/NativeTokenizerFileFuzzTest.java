package org.sparknative.kernels.llama;

import com.code_intelligence.jazzer.junit.FuzzTest;
import java.nio.file.Path;
import java.util.Arrays;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.IntPointer;

/**
 * Fuzz target: the C tokenizer.bin parser ({@link NativeTokenizer#load}, bounds-checked C over the file's
 * bytes) and, on whatever it accepts, C encode (both the array and the address forms) and decode. Input layout:
 * {@link FuzzInputs.TokenizerFile}; the image is written to {@code target/fuzz/native-tokenizer.bin} and loaded
 * from there, so a crash that kills the JVM leaves its input behind. Any bytes must give a
 * {@link CheckpointException} (or {@link IllegalArgumentException} for a vocabulary size of 0), or a tokenizer
 * that encodes to ids inside the vocabulary (or an {@link UnencodableTextException} naming a byte of the text)
 * and decodes every id it returned.
 */
class NativeTokenizerFileFuzzTest {
    @FuzzTest(maxDuration = "90s")
    void nativeLoad(byte[] data) {
        FuzzInputs.TokenizerFile in = FuzzInputs.TokenizerFile.of(data);
        Path file = FuzzInputs.persist("native-tokenizer", in.image());
        NativeTokenizer tok;
        try {
            tok = NativeTokenizer.load(file, in.vocabSize());
        } catch (CheckpointException rejected) {
            return;
        } catch (IllegalArgumentException e) {
            if (in.vocabSize() > 0) {
                throw e;
            }
            return;
        }
        try (tok) {
            byte[] text = in.text();
            int[] ids;
            try {
                ids = tok.encode(text, in.bos(), in.eos());
            } catch (UnencodableTextException e) {
                if (e.offset() < 0 || e.offset() >= text.length || (text[e.offset()] & 0xFF) != e.byteValue()) {
                    throw new AssertionError("exception names no byte of the text: " + e.getMessage(), e);
                }
                return;
            }
            try (BytePointer src = new BytePointer(Math.max(1, text.length));
                 IntPointer dst = new IntPointer(text.length + 3L)) {
                src.put(text, 0, text.length);
                int n = tok.encodeTo(src.address(), text.length, in.bos(), in.eos(), dst.address());
                int[] viaAddress = new int[n];
                dst.get(viaAddress);
                if (!Arrays.equals(ids, viaAddress)) {
                    throw new AssertionError("encode and encodeTo differ: " + Arrays.toString(ids) + " vs "
                        + Arrays.toString(viaAddress));
                }
            }
            for (int i = 0; i < ids.length; i++) {
                if (ids[i] < 0 || ids[i] >= tok.vocabSize()) {
                    throw new AssertionError("id " + ids[i] + " outside the vocabulary of " + tok.vocabSize()
                        + " (ids " + Arrays.toString(ids) + ")");
                }
                int prev = i == 0 ? 0 : ids[i - 1];
                if (tok.decode(prev, ids[i]).length > tok.maxPieceBytes()) {
                    throw new AssertionError("decode of " + ids[i] + " longer than maxPieceBytes");
                }
                tok.decodePrintable(prev, ids[i]);
            }
        }
    }
}

package org.sparknative.kernels.llama;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * Shared plumbing of the {@code *FuzzTest} targets (Jazzer; see README "Fuzzing").
 *
 * <p>A target that hands bytes to C first writes them to {@code target/fuzz/<target>.bin} and has C read that
 * file: a native crash kills the JVM, and with it Jazzer's own crash reporting, but the file that killed it stays
 * behind to be replayed.
 */
final class FuzzInputs {
    private FuzzInputs() {
    }

    /** Writes {@code bytes} to {@code target/fuzz/<target>.bin} (under the working directory) and returns its path. */
    static Path persist(String target, byte[] bytes) {
        Path file = Path.of("target", "fuzz", target + ".bin").toAbsolutePath();
        try {
            Files.createDirectories(file.getParent());
            Files.write(file, bytes);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return file;
    }

    /**
     * The input of the tokenizer-file targets, from raw fuzz bytes: bytes 0-1 the vocabulary size (little-endian
     * uint16), byte 2 flags (bit 0 BOS, bit 1 EOS, bit 2: ignore bytes 0-1 and take as vocabulary size the number
     * of entries the image holds, so that small, well-formed vocabularies are easy to reach; bits 3-7 the text's
     * length, 0-31), then the text, then the tokenizer.bin image (whatever is left).
     */
    record TokenizerFile(int vocabSize, boolean bos, boolean eos, byte[] text, byte[] image) {
        static TokenizerFile of(byte[] data) {
            int flags = data.length > 2 ? data[2] & 0xFF : 0;
            int textEnd = Math.min(data.length, 3 + (flags >>> 3));
            int textStart = Math.min(3, textEnd);
            byte[] image = Arrays.copyOfRange(data, textEnd, data.length);
            int vocab = (flags & 4) != 0 ? entries(image) : u16(data, 0);
            return new TokenizerFile(vocab, (flags & 1) != 0, (flags & 2) != 0, Arrays.copyOfRange(data, textStart, textEnd),
                image);
        }

        /** @return the raw fuzz bytes that {@link #of} reads back as this input (the text is cut to 31 bytes) */
        byte[] bytes() {
            int n = Math.min(text.length, 31);
            byte[] b = new byte[3 + n + image.length];
            b[0] = (byte) vocabSize;
            b[1] = (byte) (vocabSize >>> 8);
            b[2] = (byte) (n << 3 | (eos ? 2 : 0) | (bos ? 1 : 0));
            System.arraycopy(text, 0, b, 3, n);
            System.arraycopy(image, 0, b, 3 + n, image.length);
            return b;
        }

        /** How many entries (score, length, piece) follow the 4-byte header before the image ends or one is cut off. */
        static int entries(byte[] image) {
            ByteBuffer b = ByteBuffer.wrap(image).order(ByteOrder.LITTLE_ENDIAN);
            int n = 0;
            for (int at = 4; image.length - at >= 8; n++) {
                int len = b.getInt(at + 4);
                if (len < 0 || len > image.length - at - 8) {
                    break;
                }
                at += 8 + len;
            }
            return n;
        }
    }

    /** Little-endian unsigned 16-bit value at {@code at}, or 0 past the end. */
    static int u16(byte[] b, int at) {
        return at + 1 < b.length ? (b[at] & 0xFF) | (b[at + 1] & 0xFF) << 8 : 0;
    }
}

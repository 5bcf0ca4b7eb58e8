package org.sparknative.kernels.llama;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Header validation of {@link Checkpoint#open}: specific bad headers and a fuzz of mutations and truncations. */
class CheckpointTest {
    private static final LlamaConfig SMALL = new LlamaConfig(16, 24, 2, 4, 2, 260, 8, true);

    @Test
    void truncatedFileNamesExpectedAndActualLength(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("trunc.bin");
        SyntheticCheckpoint.write(f, SMALL, 1, CheckpointFormat.LEGACY);
        long full = Files.size(f);
        byte[] b = Files.readAllBytes(f);
        Files.write(f, Arrays.copyOf(b, b.length - 4));
        String m = openError(f);
        assertTrue(m.contains("file length: expected " + full + " bytes"), m);
        assertTrue(m.contains("got " + (full - 4)), m);
        assertTrue(m.contains("trunc.bin"), m);

        Files.write(f, Arrays.copyOf(b, 10));
        m = openError(f);
        assertTrue(m.contains("file is 10 bytes, shorter than the smallest header (28 bytes)"), m);
    }

    @Test
    void headerLyingAboutDimIsALengthMismatch(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("lying.bin");
        SyntheticCheckpoint.write(f, SMALL, 1, CheckpointFormat.LEGACY);
        long actual = Files.size(f);
        patchInt(f, 0, 32); // dim 16 -> 32 (still divisible by the 4 heads)
        LlamaConfig claimed = new LlamaConfig(32, 24, 2, 4, 2, 260, 8, true);
        String m = openError(f);
        assertTrue(m.contains("expected " + Checkpoint.expectedFileBytes(CheckpointFormat.LEGACY, claimed) + " bytes"), m);
        assertTrue(m.contains("dim=32"), m);
        assertTrue(m.contains("got " + actual), m);
    }

    /**
     * Found by fuzzing (CheckpointFuzzTest): the length a header implies was computed in wrapping long arithmetic.
     * This legacy header (dim 32768, hidden 2^31-1, 2^30 layers, 1 head, vocab 2^29 unshared, seq 2) implies about
     * 9 * 10^23 bytes, which wrapped to 393,244: a file of exactly that length was accepted as that model.
     */
    @Test
    void headerImplyingMoreThanLongMaxBytesIsRejected(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("wrapped.bin");
        ByteBuffer h = ByteBuffer.allocate(28).order(ByteOrder.LITTLE_ENDIAN);
        for (int v : new int[] {32768, Integer.MAX_VALUE, 1 << 30, 1, 1, -(1 << 29), 2}) {
            h.putInt(v);
        }
        Files.write(f, h.array());
        try (java.io.RandomAccessFile raf = new java.io.RandomAccessFile(f.toFile(), "rw")) {
            raf.setLength(393_244);
        }
        String m = openError(f);
        assertTrue(m.contains("dim=32768,hidden=2147483647,layers=1073741824") && m.contains("more than 2^63 bytes"), m);
        assertThrows(ArithmeticException.class, () -> Checkpoint.expectedFileBytes(CheckpointFormat.LEGACY,
            new LlamaConfig(32768, Integer.MAX_VALUE, 1 << 30, 1, 1, 1 << 29, 2, false)));
    }

    @Test
    void headsNotDivisibleByKvHeads(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("gqa.bin");
        SyntheticCheckpoint.write(f, SMALL, 1, CheckpointFormat.V1);
        patchInt(f, 8 + 4 * 4, 3); // v1: n_kv_heads is the 5th int after magic and version
        String m = openError(f);
        assertTrue(m.contains("n_heads % n_kv_heads must be 0, got n_heads=4 n_kv_heads=3"), m);
    }

    @Test
    void negativeFieldIsNamed(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("neg.bin");
        SyntheticCheckpoint.write(f, SMALL, 1, CheckpointFormat.LEGACY);
        patchInt(f, 2 * 4, -5); // n_layers
        String m = openError(f);
        assertTrue(m.contains("header field n_layers: expected > 0, got -5"), m);

        SyntheticCheckpoint.write(f, SMALL, 1, CheckpointFormat.V1);
        patchInt(f, 8 + 6 * 4, 0); // seq_len
        m = openError(f);
        assertTrue(m.contains("header field seq_len: expected > 0, got 0"), m);

        // A v1 file's length does not bound seq_len; a lying one is refused before anything is sized by it.
        SyntheticCheckpoint.write(f, SMALL, 1, CheckpointFormat.V1);
        patchInt(f, 8 + 6 * 4, 704_643_201); // seq_len, as the fuzzer found it
        m = openError(f);
        assertTrue(m.contains("header field seq_len: expected at most 1048576 positions, got 704643201"), m);

        SyntheticCheckpoint.write(f, SMALL, 1, CheckpointFormat.V1);
        patchInt(f, 4, 2); // version
        m = openError(f);
        assertTrue(m.contains("version: expected 1, got 2"), m);
    }

    @Test
    void missingFile(@TempDir Path dir) {
        Path f = dir.resolve("nope.bin");
        String m = openError(f);
        assertTrue(m.contains("nope.bin") && m.contains("checkpoint file not found"), m);
    }

    @Test
    void fuzzedHeadersAndTruncationsOnlyEverThrowCheckpointException(@TempDir Path dir) throws Exception {
        SplittableRandom rnd = new SplittableRandom(7);
        Path f = dir.resolve("fuzz.bin");
        byte[][] originals = new byte[2][];
        SyntheticCheckpoint.write(f, SMALL, 3, CheckpointFormat.LEGACY);
        originals[0] = Files.readAllBytes(f);
        SyntheticCheckpoint.write(f, SMALL, 3, CheckpointFormat.V1);
        originals[1] = Files.readAllBytes(f);
        long deadline = System.nanoTime() + 2_000_000_000L;
        int iterations = 0;
        int accepted = 0;
        for (; iterations < 1500 && System.nanoTime() < deadline; iterations++) {
            int which = rnd.nextInt(2);
            byte[] b = originals[which].clone();
            int header = which == 0 ? 28 : 256;
            int mode = rnd.nextInt(4);
            if (mode != 3) {
                int flips = 1 + rnd.nextInt(4);
                for (int i = 0; i < flips; i++) {
                    int at = rnd.nextInt(Math.min(header + 8, b.length));
                    if (mode == 0) {
                        b[at] = (byte) rnd.nextInt(256);
                    } else {
                        // whole small ints are likelier to pass the early checks
                        int field = rnd.nextInt(9);
                        ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putInt(4 * field, rnd.nextInt(-4, 600));
                    }
                }
            }
            if (mode >= 2) {
                b = Arrays.copyOf(b, rnd.nextInt(b.length + 8));
            }
            Files.write(f, b);
            try {
                Checkpoint c = Checkpoint.open(f);
                assertEquals(b.length, c.fileBytes());
                accepted++;
            } catch (CheckpointException expected) {
                assertTrue(expected.getMessage().startsWith(f + ": "), expected.getMessage());
            } catch (RuntimeException e) {
                fail("iteration " + iterations + ": " + e, e);
            }
        }
        assertTrue(iterations >= 300, "only " + iterations + " iterations in the time budget");
        assertTrue(accepted > 0, "no mutation was accepted: the fuzz never passed validation");
    }

    private static String openError(Path f) {
        return assertThrows(CheckpointException.class, () -> Checkpoint.open(f)).getMessage();
    }

    private static void patchInt(Path f, int offset, int value) throws Exception {
        byte[] b = Files.readAllBytes(f);
        ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putInt(offset, value);
        Files.write(f, b);
    }
}

package org.sparknative.kernels.llama;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Fuzz target: the checkpoint header parser ({@link Checkpoint#open}) on files written from the input, then, on
 * whatever it accepts, the native model mapping ({@link NativeLlamaModel#map}). The file is either the raw input,
 * or a legacy or v1 header of seven fuzzed int32 fields followed by a (sparse) body whose length is fuzzed or is
 * exactly the length the header implies, so that the parser's acceptance path is reached. Any file must give a
 * {@link CheckpointException}, or a checkpoint whose tensors, recomputed in exact arithmetic, all lie inside the
 * file and whose length is exactly what the header implies.
 */
class CheckpointFuzzTest {
    /** The largest file the target makes (sparse, so cheap). */
    private static final long MAX_FILE = 64L << 20;
    /** Native mapping is skipped above this many RoPE table entries (see the target). */
    private static final long MAX_ROPE_FLOATS = 1L << 24;

    @FuzzTest(maxDuration = "90s")
    void checkpointHeader(FuzzedDataProvider data) throws IOException {
        Path file = Path.of("target", "fuzz", "checkpoint.bin").toAbsolutePath();
        Files.createDirectories(file.getParent());
        int mode = data.consumeInt(0, 2);
        if (mode == 0) {
            Files.write(file, data.consumeRemainingAsBytes());
        } else {
            boolean v1 = data.consumeBoolean();
            CheckpointFormat format = v1 ? CheckpointFormat.V1 : CheckpointFormat.LEGACY;
            ByteBuffer h = ByteBuffer.allocate(format.headerBytes()).order(ByteOrder.LITTLE_ENDIAN);
            int[] f = new int[7];
            for (int i = 0; i < 7; i++) {
                f[i] = data.consumeBoolean() ? data.consumeInt(1, 4096) : data.consumeInt();
            }
            int at = 0;
            if (v1) {
                h.putInt(0, CheckpointFormat.V1_MAGIC);
                h.putInt(4, data.consumeBoolean() ? 1 : data.consumeInt());
                h.put(36, data.consumeBoolean() ? (byte) 1 : data.consumeByte());
                at = 8;
            }
            for (int i = 0; i < 7; i++) {
                h.putInt(at + 4 * i, f[i]);
            }
            long length = format.headerBytes() + data.consumeInt(0, 1 << 16);
            if (mode == 2) {
                Long expected = impliedLength(format, f, v1 ? h.get(36) == 1 : f[5] > 0);
                if (expected != null && expected >= format.headerBytes() && expected <= MAX_FILE) {
                    length = expected;
                }
            }
            Files.write(file, h.array());
            try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw")) {
                raf.setLength(length);
            }
        }
        Checkpoint ckpt;
        try {
            ckpt = Checkpoint.open(file);
        } catch (CheckpointException rejected) {
            return;
        }
        checkLayout(ckpt, Files.size(file));
        if ((long) ckpt.config().seqLen() * ckpt.config().headSize() > MAX_ROPE_FLOATS) {
            return; // known, reported: mapping precomputes RoPE for every position up to seq_len (a v1 header's
                    // seq_len is not bounded by the file length), seconds and gigabytes for a huge seq_len
        }
        try (NativeLlamaModel m = NativeLlamaModel.map(ckpt)) {
            if (!m.config().equals(ckpt.config())) {
                throw new AssertionError("native model config differs");
            }
        }
    }

    /**
     * What {@link Checkpoint#expectedFileBytes} says for these header fields, or null if they make no config (or a
     * file too long to exist). The length it demands must be the exact one: {@link Checkpoint#open} accepts a file
     * of exactly that length, so a length that wrapped around would let a short file pass for a huge model.
     */
    private static Long impliedLength(CheckpointFormat format, int[] f, boolean shared) {
        LlamaConfig c;
        try {
            c = new LlamaConfig(f[0], f[1], f[2], f[3], f[4], f[5] == Integer.MIN_VALUE ? 0 : Math.abs(f[5]), f[6], shared);
        } catch (IllegalArgumentException e) {
            return null;
        }
        BigInteger exact = exactLength(format, c);
        long demanded;
        try {
            demanded = Checkpoint.expectedFileBytes(format, c);
        } catch (ArithmeticException e) {
            if (exact.bitLength() < 64) {
                throw new AssertionError("expectedFileBytes overflowed for " + c + ", exactly " + exact + " bytes", e);
            }
            return null;
        }
        if (!exact.equals(big(demanded))) {
            throw new AssertionError(format + " header " + c + ": expectedFileBytes says " + demanded
                + " bytes, exactly it is " + exact + " (Checkpoint.open would accept a file of " + demanded + " bytes)");
        }
        return demanded;
    }

    /** Every tensor inside the file and the file exactly as long as the header says, in exact arithmetic. */
    private static void checkLayout(Checkpoint ckpt, long size) {
        BigInteger total = exactLength(ckpt.format(), ckpt.config());
        if (!total.equals(big(size)) || ckpt.fileBytes() != size) {
            throw new AssertionError("accepted " + ckpt + ": the header implies " + total + " bytes, the file has " + size);
        }
        for (Tensor t : Tensor.values()) {
            long off = ckpt.offset(t);
            if (off < ckpt.format().headerBytes() || off > size) {
                throw new AssertionError("tensor " + t + " at " + off + " outside the file of " + size + " bytes");
            }
        }
    }

    /** The length of a checkpoint of this format and shape (llama2.c's export.py layout), in exact arithmetic. */
    static BigInteger exactLength(CheckpointFormat format, LlamaConfig c) {
        BigInteger dim = big(c.dim());
        BigInteger kv = big(c.kvDim());
        BigInteger hidden = big(c.hiddenDim());
        BigInteger layers = big(c.nLayers());
        BigInteger vocab = big(c.vocabSize());
        BigInteger floats = vocab.multiply(dim)                       // token embedding
            .add(layers.multiply(dim).multiply(big(2)))               // rms_att, rms_ffn
            .add(layers.multiply(dim).multiply(dim).multiply(big(2))) // wq, wo
            .add(layers.multiply(kv).multiply(dim).multiply(big(2)))  // wk, wv
            .add(layers.multiply(hidden).multiply(dim).multiply(big(3))) // w1, w2, w3
            .add(dim);                                                // rms_final
        if (format == CheckpointFormat.LEGACY) {
            floats = floats.add(big(2).multiply(big((long) c.seqLen() * c.headSize() / 2))); // freq_cis_real, _imag
        }
        if (!c.sharedClassifier()) {
            floats = floats.add(vocab.multiply(dim));                 // wcls
        }
        return big(format.headerBytes()).add(big(4).multiply(floats));
    }

    private static BigInteger big(long v) {
        return BigInteger.valueOf(v);
    }

}

package org.sparknative.kernels.llama;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.EnumMap;
import java.util.Map;

/**
 * A validated llama2.c checkpoint file: its format, its {@link LlamaConfig} and the byte offset of
 * every tensor. Opening reads only the header; the tensors are mapped later by whoever computes with
 * them (the native model, the Java reference).
 *
 * <p>Validation happens before anything is mapped: positive sizes, {@code dim % n_heads == 0},
 * {@code n_heads % n_kv_heads == 0}, and a file length exactly equal to what the header implies. Any
 * failure is a {@link CheckpointException} naming the file, the field, and expected vs actual.
 *
 * <p>Immutable and thread-safe.
 */
public final class Checkpoint {
    private final Path path;
    private final CheckpointFormat format;
    private final LlamaConfig config;
    private final long fileBytes;
    private final Map<Tensor, Long> offsets;

    private Checkpoint(Path path, CheckpointFormat format, LlamaConfig config, long fileBytes, Map<Tensor, Long> offsets) {
        this.path = path;
        this.format = format;
        this.config = config;
        this.fileBytes = fileBytes;
        this.offsets = offsets;
    }

    /**
     * Reads and validates the header of {@code path}, detecting the format by the v1 magic number.
     *
     * @throws CheckpointException if the file is missing, unreadable, or inconsistent with its header
     */
    public static Checkpoint open(Path path) {
        long size;
        ByteBuffer header = ByteBuffer.allocate(HEADER_READ_BYTES);
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            size = ch.size();
            while (header.hasRemaining() && ch.read(header) >= 0) {
                // read up to 256 bytes or EOF
            }
        } catch (NoSuchFileException e) {
            throw new CheckpointException(path, "checkpoint file not found");
        } catch (IOException e) {
            throw new CheckpointException(path, "cannot read checkpoint: " + e, e);
        }
        header.flip();
        return new Checkpoint(path, parse(path.toString(), header.order(ByteOrder.LITTLE_ENDIAN), size));
    }

    /** How many bytes of a file {@link #parseHeader} needs at most: the v1 header's 256. */
    public static final int HEADER_READ_BYTES = 256;

    /**
     * Validates a checkpoint from its first bytes and its length alone, without the file: for a file on a
     * remote filesystem, whose header is read on the driver while the tensors stay where they are.
     *
     * @param location  the file's name or URI, for messages
     * @param header    the file's first {@code min(length, HEADER_READ_BYTES)} bytes, from position to limit
     * @param fileBytes the file's length in bytes
     * @return the checkpoint's format and shape
     * @throws CheckpointException naming {@code location}, the field, and expected vs actual
     */
    public static Header parseHeader(String location, ByteBuffer header, long fileBytes) {
        ByteBuffer h0 = header.slice().order(ByteOrder.LITTLE_ENDIAN);
        return parse(location, h0, fileBytes).header();
    }

    /** What a checkpoint's header says, checked against its file length. */
    public record Header(CheckpointFormat format, LlamaConfig config, long fileBytes) {
    }

    private Checkpoint(Path path, Parsed parsed) {
        this(path, parsed.header.format(), parsed.header.config(), parsed.header.fileBytes(), parsed.offsets);
    }

    private record Parsed(Header header, Map<Tensor, Long> offsets) {
    }

    private static Parsed parse(String location, ByteBuffer header, long size) {
        if (header.remaining() < CheckpointFormat.LEGACY.headerBytes()) {
            throw new CheckpointException(location, "file is " + size + " bytes, shorter than the smallest header ("
                + CheckpointFormat.LEGACY.headerBytes() + " bytes)");
        }
        CheckpointFormat format;
        int[] h = new int[7];
        boolean shared;
        if (header.getInt(0) == CheckpointFormat.V1_MAGIC) {
            format = CheckpointFormat.V1;
            if (header.remaining() < CheckpointFormat.V1.headerBytes()) {
                throw new CheckpointException(location, "v1 header: expected 256 bytes, file has " + size);
            }
            int version = header.getInt(4);
            if (version != 1) {
                throw new CheckpointException(location, "v1 header field version: expected 1, got " + version
                    + " (only the float32 export is supported)");
            }
            for (int i = 0; i < 7; i++) {
                h[i] = header.getInt(8 + 4 * i);
            }
            int flag = header.get(36) & 0xff;
            if (flag > 1) {
                throw new CheckpointException(location, "v1 header field shared_classifier: expected 0 or 1, got " + flag);
            }
            shared = flag == 1;
            if (h[5] <= 0) {
                throw new CheckpointException(location, "header field vocab_size: expected > 0, got " + h[5]);
            }
        } else {
            format = CheckpointFormat.LEGACY;
            for (int i = 0; i < 7; i++) {
                h[i] = header.getInt(4 * i);
            }
            shared = h[5] > 0;
            if (h[5] == Integer.MIN_VALUE) {
                throw new CheckpointException(location, "header field vocab_size: expected a nonzero size, got " + h[5]);
            }
            h[5] = Math.abs(h[5]);
        }
        String[] names = {"dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len"};
        for (int i = 0; i < 7; i++) {
            if (h[i] <= 0) {
                throw new CheckpointException(location, "header field " + names[i] + ": expected > 0, got " + h[i]
                    + " (" + format + " format)");
            }
        }
        if (h[6] > MAX_SEQ_LEN) {
            // seq_len sizes the RoPE tables the kernels precompute and every KV cache slot, but a v1 file's
            // length does not bound it: a lying header would cost minutes and gigabytes before any check.
            throw new CheckpointException(location, "header field seq_len: expected at most " + MAX_SEQ_LEN
                + " positions, got " + h[6] + " (" + format + " format)");
        }
        LlamaConfig config;
        try {
            config = new LlamaConfig(h[0], h[1], h[2], h[3], h[4], h[5], h[6], shared);
        } catch (IllegalArgumentException e) {
            throw new CheckpointException(location, "header: " + e.getMessage());
        }
        Map<Tensor, Long> offsets;
        try {
            offsets = layout(format, config);
        } catch (ArithmeticException e) {
            throw new CheckpointException(location, "header: " + config + " (" + format + " format) implies a file of more"
                + " than 2^63 bytes; got " + size);
        }
        long expected = offsets.get(null);
        offsets.remove(null);
        if (size != expected) {
            throw new CheckpointException(location, "file length: expected " + expected + " bytes for " + config + " ("
                + format + " format), got " + size);
        }
        return new Parsed(new Header(format, config, size), offsets);
    }

    /** The longest context a checkpoint may declare: 2^20 positions, 8x the longest Llama context today. */
    public static final int MAX_SEQ_LEN = 1 << 20;

    /**
     * Byte offsets of every tensor for a format and shape; the {@code null} key holds the total file length.
     * Computed exactly: a shape whose file would exceed {@code Long.MAX_VALUE} bytes is an
     * {@link ArithmeticException}, never a length that wrapped around (which a short file could match).
     */
    static Map<Tensor, Long> layout(CheckpointFormat format, LlamaConfig c) {
        long dim = c.dim();
        long kv = c.kvDim();
        long hidden = c.hiddenDim();
        long layers = c.nLayers();
        long vocab = c.vocabSize();
        Map<Tensor, Long> sizes = new EnumMap<>(Tensor.class);
        sizes.put(Tensor.TOKEN_EMBEDDING, mul(vocab, dim));
        sizes.put(Tensor.RMS_ATT, mul(layers, dim));
        sizes.put(Tensor.WQ, mul(layers, dim, dim));
        sizes.put(Tensor.WK, mul(layers, kv, dim));
        sizes.put(Tensor.WV, mul(layers, kv, dim));
        sizes.put(Tensor.WO, mul(layers, dim, dim));
        sizes.put(Tensor.RMS_FFN, mul(layers, dim));
        sizes.put(Tensor.W1, mul(layers, hidden, dim));
        sizes.put(Tensor.W2, mul(layers, dim, hidden));
        sizes.put(Tensor.W3, mul(layers, hidden, dim));
        sizes.put(Tensor.RMS_FINAL, dim);
        Tensor[] order = format == CheckpointFormat.LEGACY
            ? new Tensor[] {Tensor.TOKEN_EMBEDDING, Tensor.RMS_ATT, Tensor.WQ, Tensor.WK, Tensor.WV, Tensor.WO,
                Tensor.RMS_FFN, Tensor.W1, Tensor.W2, Tensor.W3, Tensor.RMS_FINAL}
            : new Tensor[] {Tensor.RMS_ATT, Tensor.RMS_FFN, Tensor.RMS_FINAL, Tensor.TOKEN_EMBEDDING, Tensor.WQ,
                Tensor.WK, Tensor.WV, Tensor.WO, Tensor.W1, Tensor.W2, Tensor.W3};
        Map<Tensor, Long> offsets = new java.util.HashMap<>();
        long pos = format.headerBytes();
        for (Tensor t : order) {
            offsets.put(t, pos);
            pos = Math.addExact(pos, mul(4, sizes.get(t)));
        }
        if (format == CheckpointFormat.LEGACY) {
            // freq_cis_real and freq_cis_imag, unused
            pos = Math.addExact(pos, mul(4, 2, (long) c.seqLen() * c.headSize() / 2));
        }
        if (c.sharedClassifier()) {
            offsets.put(Tensor.WCLS, offsets.get(Tensor.TOKEN_EMBEDDING));
        } else {
            offsets.put(Tensor.WCLS, pos);
            pos = Math.addExact(pos, mul(4, vocab, dim));
        }
        offsets.put(null, pos);
        return offsets;
    }

    private static long mul(long a, long b) {
        return Math.multiplyExact(a, b);
    }

    private static long mul(long a, long b, long c) {
        return Math.multiplyExact(Math.multiplyExact(a, b), c);
    }

    /**
     * The exact file length, in bytes, of a checkpoint of this format and shape.
     *
     * @throws ArithmeticException if it exceeds {@code Long.MAX_VALUE}
     */
    public static long expectedFileBytes(CheckpointFormat format, LlamaConfig config) {
        return layout(format, config).get(null);
    }

    /**
     * @param contextLength positions to run with, {@code [1, seq_len]}
     * @return this checkpoint with {@code config().seqLen()} set to {@code contextLength} (the KV cache length of
     *         the batches made from it); the file, its layout and its header are unchanged
     * @throws CheckpointException naming the file if {@code contextLength} is outside {@code [1, seq_len]}
     */
    public Checkpoint withContext(int contextLength) {
        return new Checkpoint(path, format, withContext(path.toString(), config, contextLength), fileBytes, offsets);
    }

    /**
     * @param location      the checkpoint's name or URI, for the message
     * @param config        its header's shape
     * @param contextLength positions to run with, {@code [1, seq_len]}
     * @return {@code config} with {@code seqLen} set to {@code contextLength}
     * @throws CheckpointException naming {@code location} if {@code contextLength} is outside {@code [1, seq_len]}
     */
    public static LlamaConfig withContext(String location, LlamaConfig config, int contextLength) {
        if (contextLength < 1 || contextLength > config.seqLen()) {
            throw new CheckpointException(location, "context " + contextLength + ": expected 1 to the checkpoint's"
                + " seq_len " + config.seqLen() + " (a llama2.c checkpoint runs with at most its header's context)");
        }
        LlamaConfig c = config;
        return new LlamaConfig(c.dim(), c.hiddenDim(), c.nLayers(), c.nHeads(), c.nKvHeads(), c.vocabSize(),
            contextLength, c.sharedClassifier());
    }

    /** @return the file this header was read from */
    public Path path() {
        return path;
    }

    /** @return the file's format */
    public CheckpointFormat format() {
        return format;
    }

    /** @return the model shape */
    public LlamaConfig config() {
        return config;
    }

    /** @return the file length in bytes (equal to what the header implies) */
    public long fileBytes() {
        return fileBytes;
    }

    /** @return the format, shape and length, as {@link #parseHeader} gives them */
    public Header header() {
        return new Header(format, config, fileBytes);
    }

    /**
     * @return the byte offset in the file of the first element of {@code tensor} (layer 0 for per-layer
     * tensors); {@link Tensor#WCLS} equals {@link Tensor#TOKEN_EMBEDDING} for a shared classifier
     */
    public long offset(Tensor tensor) {
        return offsets.get(tensor);
    }

    /** @return the offsets of all {@link Tensor}s in declaration order, for handing to native code */
    public long[] offsets() {
        Tensor[] ts = Tensor.values();
        long[] out = new long[ts.length];
        for (int i = 0; i < ts.length; i++) {
            out[i] = offsets.get(ts[i]);
        }
        return out;
    }

    @Override
    public String toString() {
        return path + " (" + format + ", " + config + ")";
    }
}

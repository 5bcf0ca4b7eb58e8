package org.sparknative.kernels.llama;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;
import org.bytedeco.javacpp.BytePointer;
import org.sparknative.kernels.NativeLibrary;

/**
 * llama2.c's BPE tokenizer ({@code tokenizer.bin}) in C ({@code sn_tokenizer.h}): encode() and decode()
 * exactly as llama2.c's run.c, over prompt bytes read straight from a native address (an Arrow buffer),
 * with no Java String in between.
 *
 * <p>Encoding: optional BOS (1), the dummy prefix {@code " "} when the text is not empty, each UTF-8 code
 * point looked up whole or else its bytes as {@code byte + 3}, then repeatedly the adjacent pair whose
 * concatenation is the best-scoring token (ties to the first pair) is merged; optional EOS (2).
 *
 * <p>NUL bytes, exactly as the Java {@link Tokenizer} treats them: the text is length-delimited, so a NUL
 * byte is text like any other, encoded as its byte-fallback token {@code <0x00>} (id 3; no piece may
 * contain a NUL byte), and {@code <0x00>} decodes to the one byte 0. (llama2.c, on C strings, would stop
 * the text at a NUL and decode {@code <0x00>} to nothing.) A byte that needs a byte-fallback token the
 * vocabulary lacks is an {@link UnencodableTextException} naming its offset, never dropped.
 *
 * <p>Threading: immutable after {@link #load}; any number of threads may encode and decode at once.
 * {@link #close()} is idempotent and must only be called once no thread uses the tokenizer any more.
 */
public final class NativeTokenizer implements AutoCloseable {
    private final Path path;
    private final int vocabSize;
    private final int maxPieceBytes;
    private volatile long handle;

    private NativeTokenizer(Path path, int vocabSize, long handle) {
        this.path = path;
        this.vocabSize = vocabSize;
        this.handle = handle;
        this.maxPieceBytes = LlamaKernels.tokMaxLen(handle);
    }

    /**
     * Reads {@code file} into native memory and parses it in C with full bounds checks.
     *
     * @param vocabSize the model's vocabulary size: the file must hold exactly this many entries, at least 3 (encode
     *                  emits ids 1 and 2, BOS and EOS)
     * @throws CheckpointException naming the file and expected vs actual if it is missing, unreadable,
     *                             malformed, truncated, or holds another number of entries, or vocabSize is 1 or 2
     */
    public static NativeTokenizer load(Path file, int vocabSize) {
        if (vocabSize <= 0) {
            throw new IllegalArgumentException("vocabSize must be > 0, got " + vocabSize);
        }
        NativeLibrary.ensureLoaded();
        byte[] bytes;
        try {
            long size = Files.size(file);
            if (size > Integer.MAX_VALUE - 16) {
                throw new CheckpointException(file, "tokenizer file is " + size + " bytes, larger than any vocabulary needs");
            }
            bytes = Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            throw new CheckpointException(file, "tokenizer file not found");
        } catch (IOException e) {
            throw new CheckpointException(file, "cannot read tokenizer: " + e, e);
        }
        return parse(file, bytes, vocabSize);
    }

    /**
     * Parses an in-memory tokenizer.bin image: the bytes are copied into native memory for the call, which C parses
     * with full bounds checks (the same path as {@link #load}); the tokenizer keeps its own copy of what it needs, so
     * {@code bytes} may be reused afterwards.
     *
     * @param origin    the file the image stands for: {@link #path()}, and named in errors
     * @param bytes     the whole tokenizer.bin image
     * @param vocabSize the number of entries the image must hold
     * @return a new tokenizer, which the caller owns and must {@linkplain #close() close}
     * @throws CheckpointException naming {@code origin} and expected vs actual if the image is malformed
     */
    public static NativeTokenizer parse(Path origin, byte[] bytes, int vocabSize) {
        NativeLibrary.ensureLoaded();
        long[] out = new long[1];
        byte[] err = new byte[512];
        int rc;
        try (BytePointer data = new BytePointer(Math.max(1, bytes.length))) {
            data.put(bytes, 0, bytes.length);
            rc = LlamaKernels.tokCreate(data.address(), bytes.length, vocabSize, out, err, err.length);
        }
        if (rc == LlamaKernels.TOK_ERR_NOMEM) {
            throw new IllegalStateException("native allocation failed while loading tokenizer " + origin);
        }
        if (rc != 0) {
            int n = 0;
            while (n < err.length && err[n] != 0) {
                n++;
            }
            throw new CheckpointException(origin, "tokenizer: " + new String(err, 0, n, StandardCharsets.US_ASCII));
        }
        return new NativeTokenizer(origin, vocabSize, out[0]);
    }

    /** @return the file this tokenizer was read from */
    public Path path() {
        return path;
    }

    /** @return the number of tokens */
    public int vocabSize() {
        return vocabSize;
    }

    /** @return the longest token in bytes: a {@link #decode} destination of this capacity always suffices */
    public int maxPieceBytes() {
        return maxPieceBytes;
    }

    /** @return the merge score of token {@code id} */
    public float score(int id) {
        checkToken(id);
        return LlamaKernels.tokScore(live(), id);
    }

    /**
     * Encodes {@code byteLength} UTF-8 bytes at {@code utf8Address} into {@code out}.
     *
     * @param out at least {@code byteLength + 3} entries
     * @return the number of tokens written
     * @throws UnencodableTextException if a byte needs a byte-fallback token the vocabulary lacks
     */
    public int encode(long utf8Address, int byteLength, boolean bos, boolean eos, int[] out) {
        checkText(utf8Address, byteLength);
        if (out == null || out.length < byteLength + 3L) {
            throw new IllegalArgumentException("out needs byteLength + 3 = " + (byteLength + 3L) + " entries, has "
                + (out == null ? "null" : out.length));
        }
        int rc = LlamaKernels.tokEncode(live(), utf8Address, byteLength, bos ? 1 : 0, eos ? 1 : 0, out);
        return check(rc, out);
    }

    /**
     * Encodes {@code byteLength} UTF-8 bytes at {@code utf8Address} into int32 memory at {@code outAddress},
     * which the caller guarantees holds {@code byteLength + 3} entries.
     *
     * @return the number of tokens written
     * @throws UnencodableTextException if a byte needs a byte-fallback token the vocabulary lacks
     */
    public int encodeTo(long utf8Address, int byteLength, boolean bos, boolean eos, long outAddress) {
        checkText(utf8Address, byteLength);
        if (outAddress == 0) {
            throw new IllegalArgumentException("outAddress is 0");
        }
        long h = live();
        int rc = LlamaKernels.tokEncodeAddresses(h, utf8Address, byteLength, bos ? 1 : 0, eos ? 1 : 0, outAddress);
        if (rc == LlamaKernels.TOK_ERR_BYTE) {
            // Error path only: encode again into a Java array to read the offending byte's offset back.
            int[] where = new int[byteLength + 3];
            rc = LlamaKernels.tokEncode(h, utf8Address, byteLength, 0, 0, where);
            return check(rc, where);
        }
        return check(rc, null);
    }

    /**
     * Encodes a Java byte array (tests, tools); the same result as the address forms.
     *
     * @throws UnencodableTextException if a byte needs a byte-fallback token the vocabulary lacks
     */
    public int[] encode(byte[] utf8, boolean bos, boolean eos) {
        int[] out = new int[utf8.length + 3];
        int n = check(LlamaKernels.tokEncodeBytes(live(), utf8.length == 0 ? new byte[1] : utf8, utf8.length,
            bos ? 1 : 0, eos ? 1 : 0, out), out);
        return Arrays.copyOf(out, n);
    }

    /**
     * llama2.c decode(prevToken, token) into {@code capacity} bytes at {@code dstAddress}: the token's bytes,
     * without the leading space right after BOS, a byte token {@code <0xXX>} as that raw byte (so
     * {@code <0x00>} as one 0 byte: the result is length-delimited, not a C string).
     *
     * @return the byte count, or {@code -needed} (nothing written) if {@code capacity} is too small
     */
    public int decode(int prevToken, int token, long dstAddress, int capacity) {
        return decode(prevToken, token, dstAddress, capacity, false);
    }

    /**
     * As {@link #decode(int, int, long, int)}, then llama2.c's {@code safe_printf()} filter: a single-byte
     * piece that is neither printable ASCII nor white space comes out empty. This is what llama2.c prints.
     */
    public int decodePrintable(int prevToken, int token, long dstAddress, int capacity) {
        return decode(prevToken, token, dstAddress, capacity, true);
    }

    private int decode(int prevToken, int token, long dstAddress, int capacity, boolean printable) {
        checkToken(token);
        if (capacity < 0 || (capacity > 0 && dstAddress == 0)) {
            throw new IllegalArgumentException("bad destination: address " + dstAddress + ", capacity " + capacity);
        }
        return LlamaKernels.tokDecode(live(), prevToken, token, dstAddress, capacity, printable ? 1 : 0);
    }

    /** @return the bytes of llama2.c decode(prevToken, token) */
    public byte[] decode(int prevToken, int token) {
        return decodeBytes(prevToken, token, false);
    }

    /** @return the bytes llama2.c prints for {@code token} after {@code prevToken} (decode + safe_printf) */
    public byte[] decodePrintable(int prevToken, int token) {
        return decodeBytes(prevToken, token, true);
    }

    private byte[] decodeBytes(int prevToken, int token, boolean printable) {
        checkToken(token);
        byte[] dst = new byte[Math.max(1, maxPieceBytes)];
        int n = LlamaKernels.tokDecodeBytes(live(), prevToken, token, dst, dst.length, printable ? 1 : 0);
        return Arrays.copyOf(dst, n);
    }

    private void checkToken(int token) {
        if (token < 0 || token >= vocabSize) {
            throw new IllegalArgumentException("token " + token + " is outside [0, " + vocabSize + ")");
        }
    }

    private static void checkText(long address, int byteLength) {
        if (byteLength < 0) {
            throw new IllegalArgumentException("byteLength must be >= 0, got " + byteLength);
        }
        if (byteLength > 0 && address == 0) {
            throw new IllegalArgumentException("utf8Address is 0 for " + byteLength + " bytes");
        }
    }

    /** @param out the encode's output array, where C puts the offset and the byte on TOK_ERR_BYTE */
    private int check(int rc, int[] out) {
        if (rc >= 0) {
            return rc;
        }
        if (rc == LlamaKernels.TOK_ERR_NOMEM) {
            throw new IllegalStateException("native allocation failed in encode");
        }
        if (rc == LlamaKernels.TOK_ERR_BYTE) {
            throw new UnencodableTextException(out[0], out[1], vocabSize);
        }
        throw new IllegalArgumentException("native encode rejected its arguments (code " + rc + ")");
    }

    private long live() {
        long h = handle;
        if (h == 0) {
            throw new IllegalStateException("tokenizer " + path + " is closed");
        }
        return h;
    }

    /** Frees the native tokenizer. Idempotent. */
    @Override
    public synchronized void close() {
        if (handle != 0) {
            long h = handle;
            handle = 0;
            LlamaKernels.tokFree(h);
        }
    }

    @Override
    public String toString() {
        return "NativeTokenizer(" + path + ", vocab " + vocabSize + ")";
    }
}

package org.sparknative.kernels.llama;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.Objects;

/**
 * The llama2.c byte-pair-encoding tokenizer ({@code tokenizer.bin} format, karpathy/llama2.c
 * {@code run.c}: {@code build_tokenizer}, {@code encode}, {@code decode}).
 *
 * <p>File format, little-endian: {@code int32 max_token_length}, then for each of {@code vocab_size}
 * tokens {@code float32 score, int32 length, length bytes} (the piece, normally UTF-8). The vocabulary
 * size is not in the file; it comes from the model header, and the file must end exactly after that
 * many entries.
 *
 * <p>Conventions llama2.c relies on and this class keeps: id 0 {@code <unk>}, id 1 BOS, id 2 EOS, ids
 * {@code 3 .. 258} the byte-fallback pieces {@code <0x00> .. <0xFF>} (encode emits {@code byte + 3} for
 * a code point that is not a piece). Hence {@code vocab_size >= 259} is required. A byte that needs its
 * fallback where id {@code byte + 3} is not that byte's piece is an {@link UnencodableTextException}
 * naming its offset, never a silent substitute.
 *
 * <p>NUL bytes, exactly as {@link NativeTokenizer} treats them: text is a byte array with a length, so
 * a NUL byte is ordinary input; no piece may contain a NUL byte (such a file is rejected), so a NUL in
 * the text always byte-falls-back to {@code <0x00>} (id 3), and decoding {@code <0x00>} gives the one
 * byte 0. run.c takes and returns C strings: it would stop the text at the first NUL, and decode
 * {@code <0x00>} to an empty string.
 *
 * <p>Where this class deliberately differs from run.c (only for inputs on which run.c is undefined or
 * cannot be given the input at all):
 * <ul>
 *   <li>Text is a byte array with a length, so a NUL byte is ordinary input (it byte-falls-back to id 3);
 *       run.c takes a C string and would stop at the first NUL.</li>
 *   <li>A piece containing a NUL byte is rejected (run.c would see it cut short at the NUL; none of the
 *       published tokenizers has one). If two pieces are equal, lookups return the lower id; run.c's
 *       {@code bsearch} returns an unspecified one of them.</li>
 *   <li>A byte without a byte-fallback piece is an error; run.c emits {@code byte + 3} whatever that
 *       piece is.</li>
 *   <li>If the vocabulary has no {@code " "} piece, no dummy-prefix token is emitted; run.c would store
 *       {@code -1} and index {@code vocab[-1]} (undefined behaviour).</li>
 *   <li>{@link #decode} of a byte piece {@code <0x00>} returns the one byte 0; run.c returns a pointer to
 *       an empty C string there.</li>
 * </ul>
 *
 * <p>Instances are immutable and thread-safe; every returned array is a fresh copy.
 */
public final class Tokenizer {
    /** Id of the beginning-of-sequence token. */
    public static final int BOS = 1;
    /** Id of the end-of-sequence token. */
    public static final int EOS = 2;
    /** Ids of the byte-fallback pieces start here: byte {@code b} is id {@code b + BYTE_OFFSET}. */
    public static final int BYTE_OFFSET = 3;
    /** The smallest usable vocabulary: 3 special tokens and 256 byte pieces. */
    public static final int MIN_VOCAB = BYTE_OFFSET + 256;

    /** run.c's initial {@code best_score} in the merge loop; a merge must score strictly above it. */
    private static final float NO_MERGE_SCORE = -1e10f;

    private final int maxTokenLength;
    private final float[] scores;
    private final byte[][] pieces;
    private final Map<Piece, Integer> ids;
    private final int dummyPrefixId;
    /** hasByteToken[b]: id {@code b + 3} is the piece of byte {@code b}, so it may stand for b in encode. */
    private final boolean[] hasByteToken = new boolean[256];

    private Tokenizer(int maxTokenLength, float[] scores, byte[][] pieces) {
        this.maxTokenLength = maxTokenLength;
        this.scores = scores;
        this.pieces = pieces;
        this.ids = new HashMap<>(pieces.length * 2);
        for (int i = 0; i < pieces.length; i++) {
            ids.putIfAbsent(new Piece(pieces[i]), i);
        }
        this.dummyPrefixId = ids.getOrDefault(new Piece(new byte[] {' '}), -1);
        for (int b = 0; b < 256; b++) {
            int id = b + BYTE_OFFSET;
            hasByteToken[b] = id < pieces.length && rawByte(pieces[id], 0) == b;
        }
    }

    /**
     * Reads and validates a tokenizer file.
     *
     * @param vocabSize the model's vocabulary size (the file must hold exactly this many entries)
     * @throws CheckpointException naming the file, what was expected and what was found, if the file is
     *                             missing, unreadable, truncated, too long or malformed
     */
    public static Tokenizer load(Path file, int vocabSize) {
        Objects.requireNonNull(file, "file");
        byte[] contents;
        try {
            long size = Files.size(file);
            if (size > Integer.MAX_VALUE - 16) {
                throw new CheckpointException(file, "tokenizer file is " + size + " bytes, over the 2 GiB this reader supports");
            }
            contents = Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            throw new CheckpointException(file, "tokenizer file not found");
        } catch (IOException e) {
            throw new CheckpointException(file, "cannot read tokenizer: " + e, e);
        }
        return parse(file, contents, vocabSize);
    }

    /**
     * Parses and validates the bytes of a tokenizer file. Never throws anything but
     * {@link CheckpointException} (or {@link NullPointerException} for null arguments), whatever the
     * bytes are.
     *
     * @param nameForErrors the file name to put in error messages
     * @param contents      the whole file
     * @param vocabSize     the number of entries the file must hold, {@code >= 259}
     * @throws CheckpointException if the contents do not hold exactly {@code vocabSize} well-formed entries
     */
    public static Tokenizer parse(Path nameForErrors, byte[] contents, int vocabSize) {
        return parse(Objects.requireNonNull(nameForErrors, "nameForErrors").toString(), contents, vocabSize);
    }

    /**
     * {@link #parse(Path, byte[], int)} for a file named by a string, such as the URI of a tokenizer on a
     * remote filesystem.
     */
    public static Tokenizer parse(String nameForErrors, byte[] contents, int vocabSize) {
        Objects.requireNonNull(nameForErrors, "nameForErrors");
        Objects.requireNonNull(contents, "contents");
        if (vocabSize < MIN_VOCAB) {
            throw new CheckpointException(nameForErrors, "vocab_size: expected >= " + MIN_VOCAB
                + " (3 special tokens + 256 byte-fallback tokens), got " + vocabSize);
        }
        ByteBuffer buf = ByteBuffer.wrap(contents).order(ByteOrder.LITTLE_ENDIAN);
        if (contents.length < 4) {
            throw new CheckpointException(nameForErrors, "tokenizer file is " + contents.length
                + " bytes, too short for the int32 max_token_length header");
        }
        int maxLen = buf.getInt(0);
        if (maxLen < 0) {
            throw new CheckpointException(nameForErrors, "max_token_length: expected >= 0, got " + maxLen);
        }
        float[] scores = new float[vocabSize];
        byte[][] pieces = new byte[vocabSize][];
        int off = 4;
        for (int i = 0; i < vocabSize; i++) {
            if (contents.length - off < 8) {
                throw new CheckpointException(nameForErrors, "expected " + vocabSize + " tokens (vocab_size) but the file"
                    + " ends after " + i + " complete entries (" + contents.length + " bytes; entry " + i
                    + " needs its 8-byte score/length at offset " + off + ")" + wrongVocabHint(i, vocabSize));
            }
            float score = buf.getFloat(off);
            int len = buf.getInt(off + 4);
            if (Float.isNaN(score)) {
                throw new CheckpointException(nameForErrors, "score of token " + i + " (offset " + off + "): expected a number, got NaN");
            }
            if (len < 0) {
                throw new CheckpointException(nameForErrors, "length of token " + i + " (offset " + (off + 4)
                    + "): expected >= 0, got " + len);
            }
            if (len > maxLen) {
                throw new CheckpointException(nameForErrors, "length of token " + i + " (offset " + (off + 4)
                    + "): expected <= max_token_length " + maxLen + ", got " + len);
            }
            off += 8;
            if (contents.length - off < len) {
                throw new CheckpointException(nameForErrors, "expected " + vocabSize + " tokens (vocab_size) but the file"
                    + " is truncated inside entry " + i + ": its " + len + " piece bytes start at offset " + off
                    + ", the file has " + contents.length + " bytes");
            }
            for (int j = off; j < off + len; j++) {
                if (contents[j] == 0) {
                    throw new CheckpointException(nameForErrors, "piece of token " + i + " (offset " + off
                        + "): contains a NUL byte at offset " + j + "; NUL is text, encoded as <0x00>, never part of a piece");
                }
            }
            scores[i] = score;
            pieces[i] = Arrays.copyOfRange(contents, off, off + len);
            off += len;
        }
        if (off != contents.length) {
            int more = countEntries(buf, off, maxLen);
            String found = more > 0 ? "the file holds " + (vocabSize + (long) more) + " entries" : "the file continues";
            throw new CheckpointException(nameForErrors, "expected " + vocabSize + " tokens (vocab_size) but " + found
                + ": " + (contents.length - off) + " bytes remain after entry " + (vocabSize - 1) + " (at offset " + off
                + " of " + contents.length + "); is this the tokenizer for another model?");
        }
        return new Tokenizer(maxLen, scores, pieces);
    }

    private static String wrongVocabHint(int complete, int vocabSize) {
        return complete > 0 && complete < vocabSize ? "; is this the tokenizer for a model with vocab_size " + complete + "?" : "";
    }

    /** How many more well-formed entries start at {@code off} and end exactly at the end; 0 if they do not. */
    private static int countEntries(ByteBuffer buf, int off, int maxLen) {
        int n = 0;
        int end = buf.capacity();
        while (end - off >= 8) {
            int len = buf.getInt(off + 4);
            if (len < 0 || len > maxLen || end - off - 8 < len) {
                return 0;
            }
            off += 8 + len;
            n++;
        }
        return off == end ? n : 0;
    }

    /** @return the number of tokens */
    public int vocabSize() {
        return pieces.length;
    }

    /** @return the {@code max_token_length} header field (every piece is at most this many bytes) */
    public int maxTokenLength() {
        return maxTokenLength;
    }

    /**
     * @return a copy of the raw bytes of token {@code id}'s piece
     * @throws IllegalArgumentException if {@code id} is not in {@code [0, vocabSize)}
     */
    public byte[] piece(int id) {
        checkId(id);
        return pieces[id].clone();
    }

    /**
     * @return the merge score of token {@code id} (higher merges first)
     * @throws IllegalArgumentException if {@code id} is not in {@code [0, vocabSize)}
     */
    public float score(int id) {
        checkId(id);
        return scores[id];
    }

    private void checkId(int id) {
        if (id < 0 || id >= pieces.length) {
            throw new IllegalArgumentException("token id must be in [0, " + pieces.length + "), got " + id);
        }
    }

    /**
     * Encodes text exactly as run.c's {@code encode()}: optional BOS; if the text is non-empty the dummy
     * prefix token for {@code " "}; then per UTF-8 code point (a lead or ASCII byte followed by at most 3
     * continuation bytes; stray continuation bytes group the same way) its piece, or else each of its
     * bytes as byte-fallback id {@code byte + 3}; then repeatedly merge the adjacent pair whose
     * concatenation is a piece with the highest score (strictly above {@code -1e10}; ties go to the
     * leftmost pair), including pairs with the BOS token; then optional EOS.
     *
     * <p>Cost: {@code O(n log n)} in the number of initial tokens (run.c's loop is {@code O(n^2)}; see
     * {@link #merge} for how the same merges come out in the same order).
     *
     * @param utf8 the text, normally UTF-8 (any bytes, NUL included; see the class notes on NUL)
     * @return the token ids
     * @throws UnencodableTextException naming the offset of the first byte that needs a byte-fallback
     *                                  token the vocabulary does not have
     */
    public int[] encode(byte[] utf8, boolean bos, boolean eos) {
        Objects.requireNonNull(utf8, "utf8");
        int[] tokens = new int[utf8.length + 3];
        int n = 0;
        if (bos) {
            tokens[n++] = BOS;
        }
        if (utf8.length > 0 && dummyPrefixId >= 0) {
            tokens[n++] = dummyPrefixId;
        }
        int start = 0;
        int len = 0;
        for (int i = 0; i < utf8.length; i++) {
            if ((utf8[i] & 0xC0) != 0x80) {
                start = i;
                len = 0;
            } else if (len == 0) {
                start = i;
            }
            len++;
            if (i + 1 < utf8.length && (utf8[i + 1] & 0xC0) == 0x80 && len < 4) {
                continue;
            }
            Integer id = ids.get(new Piece(Arrays.copyOfRange(utf8, start, start + len)));
            if (id != null) {
                tokens[n++] = id;
            } else {
                for (int j = start; j < start + len; j++) {
                    int b = utf8[j] & 0xFF;
                    if (!hasByteToken[b]) {
                        throw new UnencodableTextException(j, b, pieces.length);
                    }
                    tokens[n++] = b + BYTE_OFFSET;
                }
            }
            len = 0;
        }
        n = merge(tokens, n);
        if (eos) {
            tokens[n++] = EOS;
        }
        return Arrays.copyOf(tokens, n);
    }

    /**
     * llama2.c's merge loop over {@code tokens[0 .. n)}, in place; returns the new count. Each round run.c
     * merges the adjacent pair whose concatenation is the best-scoring piece (strictly above {@code -1e10},
     * ties to the leftmost pair). Here, in {@code O(n log n)}: the symbols form a doubly linked list over
     * their initial positions (a merge keeps the left symbol's position and unlinks the right one, so list
     * order is position order), and every mergeable adjacent pair sits in a binary heap ordered by (score
     * descending, left position ascending), which is run.c's choice. Entries are invalidated lazily: each
     * symbol has a version, bumped when its id changes or it is unlinked, and a popped entry with a stale
     * version is dropped. Scores compare with {@code <} and {@code ==} as run.c's {@code >} does, so -0.0 ties
     * with 0.0; NaN cannot occur ({@link #parse} rejects it).
     */
    private int merge(int[] tokens, int n) {
        if (n < 2) {
            return n;
        }
        int[] prev = new int[n];
        int[] next = new int[n];
        int[] version = new int[n];
        for (int i = 0; i < n; i++) {
            prev[i] = i - 1;
            next[i] = i + 1 < n ? i + 1 : -1;
        }
        PairHeap heap = new PairHeap(n);
        for (int i = 0; i + 1 < n; i++) {
            pushPair(heap, tokens, next, version, i);
        }
        while (heap.size > 0) {
            int e = heap.pop();
            int l = heap.left[e];
            int r = heap.right[e];
            if (version[l] != heap.vLeft[e] || version[r] != heap.vRight[e] || next[l] != r) {
                continue; // stale: one of the two symbols changed or was unlinked since this entry was made
            }
            tokens[l] = heap.id[e];
            version[l]++;
            version[r]++;
            next[l] = next[r];
            if (next[r] >= 0) {
                prev[next[r]] = l;
            }
            if (prev[l] >= 0) {
                pushPair(heap, tokens, next, version, prev[l]);
            }
            pushPair(heap, tokens, next, version, l);
        }
        // symbol 0 is never unlinked (only right symbols are); compact the list in place (k <= i)
        int k = 0;
        for (int i = 0; i >= 0; i = next[i]) {
            tokens[k++] = tokens[i];
        }
        return k;
    }

    /** Adds the pair (left, next[left]) to the heap if it merges into a piece scoring above {@code -1e10}. */
    private void pushPair(PairHeap heap, int[] tokens, int[] next, int[] version, int left) {
        int right = next[left];
        if (right < 0) {
            return;
        }
        int id = mergeOf(tokens[left], tokens[right]);
        if (id >= 0 && scores[id] > NO_MERGE_SCORE) {
            heap.push(scores[id], left, right, version[left], version[right], id);
        }
    }

    /**
     * A binary max-heap of merge candidates, ordered by (score descending, left position ascending). The
     * entries live in append-only parallel arrays; the heap orders their indices.
     */
    private static final class PairHeap {
        float[] score;
        int[] left;
        int[] right;
        int[] vLeft;
        int[] vRight;
        int[] id;
        int entries;
        int[] heap;
        int size;

        PairHeap(int capacity) {
            score = new float[capacity];
            left = new int[capacity];
            right = new int[capacity];
            vLeft = new int[capacity];
            vRight = new int[capacity];
            id = new int[capacity];
            heap = new int[capacity];
        }

        /** Whether entry a is merged before entry b. */
        private boolean before(int a, int b) {
            return score[a] > score[b] || (score[a] == score[b] && left[a] < left[b]);
        }

        void push(float s, int l, int r, int vl, int vr, int pieceId) {
            if (entries == score.length) {
                int cap = Math.max(16, entries * 2);
                score = Arrays.copyOf(score, cap);
                left = Arrays.copyOf(left, cap);
                right = Arrays.copyOf(right, cap);
                vLeft = Arrays.copyOf(vLeft, cap);
                vRight = Arrays.copyOf(vRight, cap);
                id = Arrays.copyOf(id, cap);
            }
            int e = entries++;
            score[e] = s;
            left[e] = l;
            right[e] = r;
            vLeft[e] = vl;
            vRight[e] = vr;
            id[e] = pieceId;
            if (size == heap.length) {
                heap = Arrays.copyOf(heap, Math.max(16, size * 2));
            }
            int i = size++;
            while (i > 0) {
                int parent = (i - 1) >>> 1;
                if (!before(e, heap[parent])) {
                    break;
                }
                heap[i] = heap[parent];
                i = parent;
            }
            heap[i] = e;
        }

        /** Removes and returns the first entry; the heap must not be empty. */
        int pop() {
            int top = heap[0];
            int last = heap[--size];
            int i = 0;
            while (true) {
                int c = 2 * i + 1;
                if (c >= size) {
                    break;
                }
                if (c + 1 < size && before(heap[c + 1], heap[c])) {
                    c++;
                }
                if (!before(heap[c], last)) {
                    break;
                }
                heap[i] = heap[c];
                i = c;
            }
            if (size > 0) {
                heap[i] = last;
            }
            return top;
        }
    }

    private int mergeOf(int a, int b) {
        byte[] pa = pieces[a];
        byte[] pb = pieces[b];
        if (pa.length + pb.length > maxTokenLength) {
            return -1; // no piece is longer than max_token_length
        }
        byte[] cat = Arrays.copyOf(pa, pa.length + pb.length);
        System.arraycopy(pb, 0, cat, pa.length, pb.length);
        Integer id = ids.get(new Piece(cat));
        return id == null ? -1 : id;
    }

    /**
     * The bytes token {@code token} contributes to the text after {@code prevToken}, exactly as run.c's
     * {@code decode()}: after BOS ({@code prevToken == 1}) one leading space of the piece is dropped; a
     * piece that then reads as {@code <0xXX>} becomes that raw byte. "Reads as" follows run.c's
     * {@code sscanf(piece, "<0x%02hhX>", ...)}: after {@code <0x}, optional white space, an optional
     * sign, then one or two hex digits (either case) counting the sign in the width of 2; whatever follows
     * is ignored, a minus negates modulo 256. {@code <0x00>} is the one byte 0.
     *
     * @param prevToken the previous token id (any value; only 1 is special)
     * @return a fresh array
     * @throws IllegalArgumentException if {@code token} is not in {@code [0, vocabSize)}
     */
    public byte[] decode(int prevToken, int token) {
        checkId(token);
        byte[] p = pieces[token];
        int start = prevToken == BOS && p.length > 0 && p[0] == ' ' ? 1 : 0;
        int b = rawByte(p, start);
        return b >= 0 ? new byte[] {(byte) b} : Arrays.copyOfRange(p, start, p.length);
    }

    /** The byte a {@code <0xXX>} piece designates (sscanf semantics, see {@link #decode}), or -1. */
    private static int rawByte(byte[] p, int start) {
        int n = p.length;
        if (n - start < 4 || p[start] != '<' || p[start + 1] != '0' || p[start + 2] != 'x') {
            return -1;
        }
        int i = start + 3;
        while (i < n && isCSpace(p[i])) {
            i++;
        }
        int width = 2;
        boolean negative = false;
        if (i < n && (p[i] == '+' || p[i] == '-')) {
            negative = p[i] == '-';
            i++;
            width--;
        }
        int value = 0;
        int digits = 0;
        while (digits < width && i < n && hex(p[i]) >= 0) {
            value = value * 16 + hex(p[i]);
            i++;
            digits++;
        }
        if (digits == 0) {
            return -1;
        }
        return (negative ? -value : value) & 0xFF;
    }

    private static int hex(byte c) {
        if (c >= '0' && c <= '9') {
            return c - '0';
        }
        if (c >= 'a' && c <= 'f') {
            return c - 'a' + 10;
        }
        if (c >= 'A' && c <= 'F') {
            return c - 'A' + 10;
        }
        return -1;
    }

    private static boolean isCSpace(byte c) {
        return c == ' ' || c == '\t' || c == '\n' || c == 0x0B || c == '\f' || c == '\r';
    }

    /**
     * Decodes bytes as UTF-8, replacing each malformed sequence with U+FFFD. Never throws (except
     * {@link NullPointerException} for null).
     */
    public static String decodeUtf8(byte[] bytes) {
        return new String(Objects.requireNonNull(bytes, "bytes"), StandardCharsets.UTF_8);
    }

    /** A byte string as a hash key. */
    private record Piece(byte[] bytes) {
        @Override
        public boolean equals(Object o) {
            return o instanceof Piece other && Arrays.equals(bytes, other.bytes);
        }

        @Override
        public int hashCode() {
            return Arrays.hashCode(bytes);
        }

        @Override
        public String toString() {
            return decodeUtf8(bytes);
        }
    }
}

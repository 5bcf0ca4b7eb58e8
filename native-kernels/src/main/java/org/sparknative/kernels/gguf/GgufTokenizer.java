package org.sparknative.kernels.gguf;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Objects;
import org.sparknative.kernels.llama.CheckpointException;
import org.sparknative.kernels.llama.NativeTokenizer;
import org.sparknative.kernels.llama.Tokenizer;

/**
 * The tokenizer a GGUF file carries in its {@code tokenizer.ggml.*} metadata (the keys of ggml's {@code docs/gguf.md},
 * section "Tokenizer"), as the project's llama2.c tokenizer: the Java {@link Tokenizer} or the C
 * {@link NativeTokenizer}. There is no second BPE implementation: the metadata is converted into the llama2.c
 * {@code tokenizer.bin} image ({@link #llama2cImage()}) and handed to the same parsers and the same encode/decode
 * code that read llama2.c's files.
 *
 * <h2>What is supported</h2>
 * {@code tokenizer.ggml.model = "llama"}: SentencePiece-style BPE with scores and byte fallback, the family of
 * llama2.c's tokenizer. Any other model, {@code "gpt2"} (byte-level BPE: Llama 3, Qwen, SmolLM) first, is refused
 * with a {@link GgufException} naming the file, the key and the model. The keys read:
 * <ul>
 *   <li>{@value #TOKENS_KEY} (array of STRING, required): the pieces, {@code "▁"} (U+2581) standing for a space;</li>
 *   <li>{@value #SCORES_KEY} (array of FLOAT32, required here although the specification makes it optional: BPE
 *       merges by score), one per token, no NaN;</li>
 *   <li>{@value #TOKEN_TYPE_KEY} (array of INT32, optional), one per token: the byte tokens must be
 *       {@value #TYPE_BYTE} (byte), and no token may be {@value #TYPE_USER_DEFINED} (user-defined: llama.cpp matches
 *       those whole in the text before BPE, which the llama2.c tokenizer does not). Every other piece, control and
 *       unused ones included, takes part in BPE as any piece does in llama2.c;</li>
 *   <li>{@value #BOS_KEY} and {@value #EOS_KEY} (integers, default 1 and 2 as in llama.cpp): must be 1 and 2,
 *       the ids the llama2.c tokenizer (and the generation code) use;</li>
 *   <li>{@value #ADD_BOS_KEY} (BOOL, default true for llama): must be true, as every caller encodes prompts with BOS;
 *       {@value #ADD_EOS_KEY} (BOOL, default false): must be false; {@value #ADD_SPACE_PREFIX_KEY} (BOOL, default
 *       true): must be true, as llama2.c's encode always puts the dummy prefix {@code " "} before non-empty text.
 *       A file that asks otherwise is refused by key, with expected vs actual, rather than tokenized differently
 *       from what its model was trained on.</li>
 * </ul>
 * The vocabulary must also have the layout llama2.c's encode and decode assume: at least 259 tokens, BOS at 1, EOS at
 * 2, and the 256 byte-fallback tokens {@code <0x00> .. <0xFF>} exactly at ids 3 .. 258 (encode emits {@code byte + 3}).
 * Every piece must be non-empty and free of NUL bytes (the C parser's rules). Other keys
 * ({@code unknown_token_id}, {@code padding_token_id}, ...) are not used: encode never emits them.
 *
 * <h2>The conversion</h2>
 * As llama2.c's {@code tokenizer.py} exports a SentencePiece model: the BOS piece becomes {@code "\n<s>\n"}, the EOS
 * piece {@code "\n</s>\n"}, every {@code "▁"} in the other pieces a space, each piece its UTF-8 bytes; the scores are
 * kept bit for bit; {@code max_token_length} is the longest piece in bytes. So llama.cpp's conversion of a llama2.c
 * model (stories260K.gguf) gives back its {@code tok512.bin} byte for byte, and tokenizes and decodes identically.
 * (GGUF strings are read as UTF-8 with malformed bytes replaced; llama vocabularies are valid UTF-8.)
 *
 * <h2>An override</h2>
 * {@link #java(GgufFile, Path, int)} and {@link #nativeTokenizer(GgufFile, Path, int)} are what a command line's
 * {@code --model file.gguf [--tokenizer tokenizer.bin]} needs: the GGUF file carries its tokenizer, so no
 * {@code --tokenizer} is required; a given {@code --tokenizer} file (llama2.c format) overrides the embedded one,
 * whose metadata is then not read at all (so a GGUF file with a {@code gpt2} vocabulary still runs with a llama2.c
 * tokenizer of the same vocabulary).
 *
 * <h2>Errors and threading</h2>
 * Every problem with the metadata is a {@link GgufException} (a {@link CheckpointException}) naming the file, the key
 * (with the element index where one element is wrong) and expected vs actual. Instances are immutable and thread-safe;
 * the tokenizers they make are independent objects ({@link NativeTokenizer}s must be closed by their owner). No
 * temporary file is involved: the C tokenizer parses the image from memory.
 */
public final class GgufTokenizer {
    /** The tokenizer model: {@code "llama"} (supported), {@code "gpt2"}, {@code "bert"}, ... */
    public static final String MODEL_KEY = "tokenizer.ggml.model";
    /** The pieces, an array of STRING indexed by token id. */
    public static final String TOKENS_KEY = "tokenizer.ggml.tokens";
    /** The merge scores, an array of FLOAT32 indexed by token id. */
    public static final String SCORES_KEY = "tokenizer.ggml.scores";
    /** The token types, an array of INT32 indexed by token id (see {@link #TYPE_BYTE} and the other TYPE_ values). */
    public static final String TOKEN_TYPE_KEY = "tokenizer.ggml.token_type";
    /** The id of the beginning-of-sequence token. */
    public static final String BOS_KEY = "tokenizer.ggml.bos_token_id";
    /** The id of the end-of-sequence token. */
    public static final String EOS_KEY = "tokenizer.ggml.eos_token_id";
    /** Whether prompts start with BOS. */
    public static final String ADD_BOS_KEY = "tokenizer.ggml.add_bos_token";
    /** Whether prompts end with EOS. */
    public static final String ADD_EOS_KEY = "tokenizer.ggml.add_eos_token";
    /** Whether a space is put before the text (SentencePiece's dummy prefix). */
    public static final String ADD_SPACE_PREFIX_KEY = "tokenizer.ggml.add_space_prefix";
    /** The one supported {@value #MODEL_KEY}. */
    public static final String LLAMA = "llama";

    /** {@value #TOKEN_TYPE_KEY}: a normal piece. */
    public static final int TYPE_NORMAL = 1;
    /** {@value #TOKEN_TYPE_KEY}: the unknown token. */
    public static final int TYPE_UNKNOWN = 2;
    /** {@value #TOKEN_TYPE_KEY}: a control token (BOS, EOS). */
    public static final int TYPE_CONTROL = 3;
    /** {@value #TOKEN_TYPE_KEY}: a user-defined piece. */
    public static final int TYPE_USER_DEFINED = 4;
    /** {@value #TOKEN_TYPE_KEY}: an unused id. */
    public static final int TYPE_UNUSED = 5;
    /** {@value #TOKEN_TYPE_KEY}: a byte-fallback token {@code <0xXX>}. */
    public static final int TYPE_BYTE = 6;

    /** SentencePiece's visible space, U+2581. */
    private static final char SPM_SPACE = '\u2581';

    private final String source;
    private final byte[] image;
    private final int vocabSize;
    private final int maxTokenLength;

    private GgufTokenizer(String source, byte[] image, int vocabSize, int maxTokenLength) {
        this.source = source;
        this.image = image;
        this.vocabSize = vocabSize;
        this.maxTokenLength = maxTokenLength;
    }

    /**
     * Reads and validates the tokenizer of a GGUF file and converts it to the llama2.c form (see the class comment).
     *
     * @param gguf an open GGUF file
     * @return the tokenizer, of {@code tokenizer.ggml.tokens.length} tokens
     * @throws GgufException naming the file and the key if the file has no tokenizer, a model other than
     *                       {@value #LLAMA}, a missing or mistyped key, arrays of different lengths, or a vocabulary
     *                       or setting the llama2.c tokenizer cannot reproduce
     */
    public static GgufTokenizer of(GgufFile gguf) {
        Objects.requireNonNull(gguf, "gguf");
        String file = gguf.location();
        if (!gguf.has(MODEL_KEY)) {
            throw new GgufException(file, "metadata key '" + MODEL_KEY + "' is missing: the file carries no tokenizer;"
                + " give a llama2.c tokenizer file instead (--tokenizer)");
        }
        String model = gguf.getString(MODEL_KEY);
        if (!LLAMA.equals(model)) {
            String what = "gpt2".equals(model) ? " (byte-level BPE, as in Llama 3, Qwen, SmolLM)" : "";
            throw new GgufException(file, "metadata key '" + MODEL_KEY + "': tokenizer model '" + model + "'" + what
                + " is not supported yet; supported: " + LLAMA);
        }
        String[] tokens = gguf.getStringArray(TOKENS_KEY);
        int n = tokens.length;
        if (!gguf.has(SCORES_KEY)) {
            throw new GgufException(file, "metadata key '" + SCORES_KEY + "' is missing: a '" + LLAMA
                + "' (SentencePiece BPE) vocabulary merges by score, expected " + n + " scores");
        }
        float[] scores = gguf.getFloatArray(SCORES_KEY);
        if (scores.length != n) {
            throw new GgufException(file, "metadata key '" + SCORES_KEY + "': expected " + n + " scores (one per token of '"
                + TOKENS_KEY + "'), got " + scores.length);
        }
        int[] types = gguf.has(TOKEN_TYPE_KEY) ? gguf.getIntArray(TOKEN_TYPE_KEY) : null;
        if (types != null && types.length != n) {
            throw new GgufException(file, "metadata key '" + TOKEN_TYPE_KEY + "': expected " + n
                + " token types (one per token of '" + TOKENS_KEY + "'), got " + types.length);
        }
        if (n < Tokenizer.MIN_VOCAB) {
            throw new GgufException(file, "metadata key '" + TOKENS_KEY + "': expected at least " + Tokenizer.MIN_VOCAB
                + " tokens (<unk>, BOS, EOS and the 256 byte tokens at ids 3..258), got " + n);
        }
        requireId(gguf, BOS_KEY, Tokenizer.BOS, n, "BOS");
        requireId(gguf, EOS_KEY, Tokenizer.EOS, n, "EOS");
        requireFlag(gguf, ADD_BOS_KEY, true, "every prompt is encoded with BOS first, as llama2.c does");
        requireFlag(gguf, ADD_EOS_KEY, false, "prompts are encoded without EOS, as llama2.c does");
        requireFlag(gguf, ADD_SPACE_PREFIX_KEY, true, "the llama2.c tokenizer always puts the dummy prefix ' ' before"
            + " non-empty text");
        for (int b = 0; b < 256; b++) {
            int id = Tokenizer.BYTE_OFFSET + b;
            String want = byteToken(b);
            if (!want.equals(tokens[id])) {
                int at = Arrays.asList(tokens).indexOf(want);
                throw new GgufException(file, "metadata key '" + TOKENS_KEY + "'[" + id + "]: expected the byte token '"
                    + want + "' (the llama2.c tokenizer needs <0x00>..<0xFF> at ids 3..258), got '" + printable(tokens[id])
                    + "'" + (at >= 0 ? "; '" + want + "' is at id " + at : "; the vocabulary has no '" + want + "'"));
            }
            if (types != null && types[id] != TYPE_BYTE) {
                throw new GgufException(file, "metadata key '" + TOKEN_TYPE_KEY + "'[" + id + "]: expected " + TYPE_BYTE
                    + " (byte) for '" + want + "', got " + types[id]);
            }
        }
        for (int i = 0; types != null && i < n; i++) {
            if (types[i] == TYPE_USER_DEFINED) {
                throw new GgufException(file, "metadata key '" + TOKEN_TYPE_KEY + "'[" + i + "]: " + TYPE_USER_DEFINED
                    + " (user-defined, '" + printable(tokens[i]) + "') is not supported yet: user-defined tokens are matched"
                    + " whole in the text before BPE, which the llama2.c tokenizer does not do");
            }
        }
        byte[][] pieces = new byte[n][];
        int maxLen = 0;
        long bytes = 4;
        for (int i = 0; i < n; i++) {
            String piece = i == Tokenizer.BOS ? "\n<s>\n" : i == Tokenizer.EOS ? "\n</s>\n" : tokens[i].replace(SPM_SPACE, ' ');
            byte[] p = piece.getBytes(StandardCharsets.UTF_8);
            if (p.length == 0) {
                throw new GgufException(file, "metadata key '" + TOKENS_KEY + "'[" + i + "]: expected a non-empty piece,"
                    + " got ''");
            }
            for (byte c : p) {
                if (c == 0) {
                    throw new GgufException(file, "metadata key '" + TOKENS_KEY + "'[" + i + "]: '" + printable(tokens[i])
                        + "' contains a NUL character; NUL is text (encoded as <0x00>), never part of a piece");
                }
            }
            if (Float.isNaN(scores[i])) {
                throw new GgufException(file, "metadata key '" + SCORES_KEY + "'[" + i + "]: expected a number, got NaN");
            }
            pieces[i] = p;
            maxLen = Math.max(maxLen, p.length);
            bytes += 8L + p.length;
        }
        if (bytes > Integer.MAX_VALUE - 16) {
            throw new GgufException(file, "metadata key '" + TOKENS_KEY + "': the llama2.c image of " + n + " tokens would be "
                + bytes + " bytes, over the 2 GiB the tokenizers support");
        }
        return new GgufTokenizer(file, image(pieces, scores, maxLen, (int) bytes), n, maxLen);
    }

    /**
     * The tokenizer of a GGUF model: {@code tokenizerOverride} (a llama2.c tokenizer file) if given, otherwise the one
     * the GGUF file carries. This is the rule for {@code --model file.gguf [--tokenizer file]}.
     *
     * @param gguf              the model file
     * @param tokenizerOverride a llama2.c {@code tokenizer.bin}, or null to use the embedded tokenizer
     * @param vocabSize         the model's vocabulary size (the rows of its embedding): the tokenizer must have exactly
     *                          this many tokens
     * @return a new Java tokenizer (immutable, thread-safe)
     * @throws CheckpointException (a {@link GgufException} for the embedded tokenizer) naming the file, the key and
     *                             expected vs actual, if the tokenizer cannot be used or has another vocabulary size
     */
    public static Tokenizer java(GgufFile gguf, Path tokenizerOverride, int vocabSize) {
        Objects.requireNonNull(gguf, "gguf");
        if (tokenizerOverride != null) {
            return Tokenizer.load(tokenizerOverride, vocabSize);
        }
        return of(gguf).requireVocab(vocabSize).java();
    }

    /**
     * As {@link #java(GgufFile, Path, int)}, the C tokenizer.
     *
     * @param gguf              the model file
     * @param tokenizerOverride a llama2.c {@code tokenizer.bin}, or null to use the embedded tokenizer
     * @param vocabSize         the model's vocabulary size: the tokenizer must have exactly this many tokens
     * @return a new C tokenizer, which the caller owns and must {@linkplain NativeTokenizer#close() close}
     * @throws CheckpointException as {@link #java(GgufFile, Path, int)} does
     */
    public static NativeTokenizer nativeTokenizer(GgufFile gguf, Path tokenizerOverride, int vocabSize) {
        Objects.requireNonNull(gguf, "gguf");
        if (tokenizerOverride != null) {
            return NativeTokenizer.load(tokenizerOverride, vocabSize);
        }
        return of(gguf).requireVocab(vocabSize).nativeTokenizer();
    }

    private GgufTokenizer requireVocab(int expected) {
        if (vocabSize != expected) {
            throw new GgufException(source, "metadata key '" + TOKENS_KEY + "': expected " + expected
                + " tokens (the model's vocabulary size), got " + vocabSize + "; is the tokenizer for another model?");
        }
        return this;
    }

    /** @return a new Java tokenizer of this vocabulary (immutable, thread-safe) */
    public Tokenizer java() {
        return Tokenizer.parse(source, image, vocabSize);
    }

    /**
     * @return a new C tokenizer of this vocabulary, parsed from the image in memory; its {@link NativeTokenizer#path()}
     *         is the GGUF file. The caller owns it and must close it.
     */
    public NativeTokenizer nativeTokenizer() {
        return NativeTokenizer.parse(Path.of(source), image, vocabSize);
    }

    /** @return the name or URI of the GGUF file this tokenizer was read from */
    public String source() {
        return source;
    }

    /** @return the number of tokens ({@value #TOKENS_KEY}'s length) */
    public int vocabSize() {
        return vocabSize;
    }

    /** @return the longest piece in bytes, after conversion (the image's {@code max_token_length}) */
    public int maxTokenLength() {
        return maxTokenLength;
    }

    /**
     * @return a copy of the vocabulary as a llama2.c {@code tokenizer.bin} image (little-endian: int32
     *         {@code max_token_length}, then per token float32 score, int32 length, the piece's bytes), which
     *         {@link Tokenizer#parse(String, byte[], int)} and llama2.c's {@code run -z} read
     */
    public byte[] llama2cImage() {
        return image.clone();
    }

    @Override
    public String toString() {
        return "GgufTokenizer(" + source + ", " + LLAMA + ", vocab " + vocabSize + ")";
    }

    private static byte[] image(byte[][] pieces, float[] scores, int maxLen, int bytes) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(bytes);
        ByteBuffer b = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
        out.write(b.putInt(0, maxLen).array(), 0, 4);
        for (int i = 0; i < pieces.length; i++) {
            b.clear();
            b.putInt(0, Float.floatToRawIntBits(scores[i])).putInt(4, pieces[i].length);
            out.write(b.array(), 0, 8);
            out.writeBytes(pieces[i]);
        }
        return out.toByteArray();
    }

    /** Checks that {@code key} (default {@code expected}) is {@code expected}, the id the llama2.c tokenizer uses. */
    private static void requireId(GgufFile gguf, String key, int expected, int n, String what) {
        long id = gguf.has(key) ? gguf.getLong(key) : expected;
        if (id == expected) {
            return;
        }
        String actual = id < 0 || id >= n ? id + ", outside the " + n + " tokens" : Long.toString(id);
        throw new GgufException(gguf.location(), "metadata key '" + key + "': expected " + expected + " (the llama2.c tokenizer"
            + " has " + what + " at id " + expected + "), got " + actual);
    }

    /** Checks that the BOOL {@code key} (default {@code supported}) is {@code supported}. */
    private static void requireFlag(GgufFile gguf, String key, boolean supported, String why) {
        boolean value = gguf.getBoolean(key, supported);
        if (value != supported) {
            throw new GgufException(gguf.location(), "metadata key '" + key + "': expected " + supported + " (" + why
                + "), got " + value + "; not supported yet");
        }
    }

    private static String byteToken(int b) {
        return String.format("<0x%02X>", b);
    }

    /** A piece for a message: control characters escaped, long pieces cut. */
    private static String printable(String s) {
        StringBuilder sb = new StringBuilder();
        int i = 0;
        for (; i < s.length() && sb.length() < 64; i++) {
            char c = s.charAt(i);
            if (c < 0x20 || c == 0x7F) {
                sb.append(String.format("\\x%02X", (int) c));
            } else {
                sb.append(c);
            }
        }
        return i < s.length() ? sb + "..." : sb.toString();
    }
}

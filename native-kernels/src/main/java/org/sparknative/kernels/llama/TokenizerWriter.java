package org.sparknative.kernels.llama;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;

/**
 * Writes generated tokenizers in llama2.c's {@code tokenizer.bin} format (see {@link Tokenizer}) for
 * synthetic checkpoints of any vocabulary size.
 *
 * <p>Threading: stateless; concurrent calls must use different files.
 */
public final class TokenizerWriter {
    /** Common English pieces, merged first (highest scores), in this order. */
    private static final String[] COMMON = {
        " t", "he", " a", "in", "er", "an", " s", "nd", "ou", " w", "ed", " the", "on", "re", " b", "at", "en",
        "it", " h", "is", "or", "ar", " o", " c", " f", " m", " d", " p", " l", "es", "ing", "ll", "as", " and",
        " i", "le", "ve", "ro", " to", "om", "ay", " n", "ent", "st", " g", "ay", " he", "id", "ch", "ith", " wa",
        " was", " th", "ot", "al", " in", " of", "ow", "ut", " it", "ere", " sa", "im", "ad", " y", "ly", "ee",
        "ir", " r", " e", "ic", " be", "ion", " you", " she", " day", " saw", " big", " Th", " The", " Once",
    };

    private TokenizerWriter() {
    }

    /**
     * Writes a byte-level tokenizer of exactly {@code vocabSize} entries: id 0 {@code <unk>}, 1
     * {@code "\n<s>\n"}, 2 {@code "\n</s>\n"}, 3..258 {@code <0x00>..<0xFF>} (score 0); then, while room
     * is left, the printable ASCII characters (space first, score 0); then merges with scores -1, -2, ...
     * in this order: a fixed list of common English pieces, every two-character printable ASCII string,
     * and the three- and four-character strings over space and {@code a-z}. A merge is only added if it
     * splits into two pieces already present (so BPE can reach it), and no merge starts with {@code <0x}
     * (which {@link Tokenizer#decode} would read as a byte). Any UTF-8 (indeed any byte string) round-trips
     * through {@link Tokenizer#encode} with BOS and {@link Tokenizer#decode}.
     *
     * @throws IllegalArgumentException if {@code vocabSize < 259} or larger than the generator can fill
     * @throws UncheckedIOException     if writing fails
     */
    public static void writeByteLevel(Path file, int vocabSize) {
        Objects.requireNonNull(file, "file");
        byte[] bytes = byteLevel(vocabSize);
        try {
            Files.write(file, bytes);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write tokenizer " + file, e);
        }
    }

    /** The file contents {@link #writeByteLevel} writes. */
    static byte[] byteLevel(int vocabSize) {
        if (vocabSize < Tokenizer.MIN_VOCAB) {
            throw new IllegalArgumentException("vocabSize must be >= " + Tokenizer.MIN_VOCAB
                + " (3 special tokens + 256 byte tokens), got " + vocabSize);
        }
        List<String> pieces = new ArrayList<>(vocabSize);
        List<Float> scores = new ArrayList<>(vocabSize);
        Set<String> seen = new LinkedHashSet<>();
        pieces.add("<unk>");
        pieces.add("\n<s>\n");
        pieces.add("\n</s>\n");
        for (int b = 0; b < 256; b++) {
            pieces.add(String.format("<0x%02X>", b));
        }
        while (scores.size() < pieces.size()) {
            scores.add(0f);
        }
        seen.addAll(pieces);
        // single printable characters, space first
        for (int ch = ' '; ch <= '~' && pieces.size() < vocabSize; ch++) {
            String s = String.valueOf((char) ch);
            pieces.add(s);
            scores.add(0f);
            seen.add(s);
        }
        Merges merges = new Merges(pieces, scores, seen, vocabSize);
        for (String s : COMMON) {
            merges.offer(s);
        }
        for (int a = ' '; a <= '~'; a++) {
            for (int b = ' '; b <= '~'; b++) {
                merges.offer("" + (char) a + (char) b);
            }
        }
        String alphabet = " abcdefghijklmnopqrstuvwxyz";
        for (int len = 3; len <= 4 && !merges.full(); len++) {
            int[] idx = new int[len];
            while (true) {
                StringBuilder sb = new StringBuilder(len);
                for (int i : idx) {
                    sb.append(alphabet.charAt(i));
                }
                merges.offer(sb.toString());
                int p = len - 1;
                while (p >= 0 && ++idx[p] == alphabet.length()) {
                    idx[p--] = 0;
                }
                if (p < 0 || merges.full()) {
                    break;
                }
            }
        }
        if (pieces.size() < vocabSize) {
            throw new IllegalArgumentException("vocabSize " + vocabSize + " is larger than the " + pieces.size()
                + " pieces this generator can produce");
        }
        int maxLen = 0;
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        ByteBuffer entry = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < vocabSize; i++) {
            byte[] p = pieces.get(i).getBytes(StandardCharsets.UTF_8);
            maxLen = Math.max(maxLen, p.length);
            entry.clear();
            entry.putFloat(scores.get(i)).putInt(p.length);
            body.writeBytes(entry.array());
            body.writeBytes(p);
        }
        ByteBuffer head = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(maxLen);
        ByteArrayOutputStream all = new ByteArrayOutputStream(body.size() + 4);
        all.writeBytes(head.array());
        all.writeBytes(body.toByteArray());
        return all.toByteArray();
    }

    /** Appends reachable, new merge pieces with descending scores until the vocabulary is full. */
    private static final class Merges {
        private final List<String> pieces;
        private final List<Float> scores;
        private final Set<String> seen;
        private final int vocabSize;
        private int rank;

        Merges(List<String> pieces, List<Float> scores, Set<String> seen, int vocabSize) {
            this.pieces = pieces;
            this.scores = scores;
            this.seen = seen;
            this.vocabSize = vocabSize;
        }

        boolean full() {
            return pieces.size() >= vocabSize;
        }

        void offer(String s) {
            if (pieces.size() >= vocabSize || seen.contains(s) || s.startsWith("<0x") || !reachable(s)) {
                return;
            }
            pieces.add(s);
            scores.add((float) -(++rank));
            seen.add(s);
        }

        private boolean reachable(String s) {
            for (int i = 1; i < s.length(); i++) {
                if (seen.contains(s.substring(0, i)) && seen.contains(s.substring(i))) {
                    return true;
                }
            }
            return false;
        }
    }
}

package org.sparknative.kernels.llama;

import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.Objects;

/**
 * The test oracle for BPE encoding: {@link Tokenizer#encode} as it was before the merge loop became a
 * priority queue, kept verbatim (llama2.c's run.c {@code encode()}: every round scans all adjacent pairs
 * for the best score, strictly greater wins, so ties go to the leftmost pair). {@code O(n^2)} in the
 * prompt's length: for differential tests on prompts of a few KB, never for production.
 *
 * <p>It reads the vocabulary only through {@link Tokenizer}'s public accessors, so it shares nothing
 * with the encoder under test but the parsed file.
 */
final class QuadraticEncoder {
    private static final float NO_MERGE_SCORE = -1e10f;

    private final int maxTokenLength;
    private final float[] scores;
    private final byte[][] pieces;
    private final Map<Piece, Integer> ids;
    private final int dummyPrefixId;
    private final boolean[] hasByteToken = new boolean[256];

    QuadraticEncoder(Tokenizer tok) {
        int v = tok.vocabSize();
        maxTokenLength = tok.maxTokenLength();
        scores = new float[v];
        pieces = new byte[v][];
        ids = new HashMap<>(v * 2);
        for (int i = 0; i < v; i++) {
            scores[i] = tok.score(i);
            pieces[i] = tok.piece(i);
            ids.putIfAbsent(new Piece(pieces[i]), i);
        }
        dummyPrefixId = ids.getOrDefault(new Piece(new byte[] {' '}), -1);
        for (int b = 0; b < 256; b++) {
            int id = b + Tokenizer.BYTE_OFFSET;
            // decode(0, id) is the raw byte exactly when the piece reads as <0xXX> for that byte
            hasByteToken[b] = id < v && Arrays.equals(tok.decode(0, id), new byte[] {(byte) b})
                && pieces[id].length >= 4 && pieces[id][0] == '<';
        }
    }

    /** As {@link Tokenizer#encode}, by today's quadratic merge loop. */
    int[] encode(byte[] utf8, boolean bos, boolean eos) {
        Objects.requireNonNull(utf8, "utf8");
        int[] tokens = new int[utf8.length + 3];
        int n = 0;
        if (bos) {
            tokens[n++] = Tokenizer.BOS;
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
                    tokens[n++] = b + Tokenizer.BYTE_OFFSET;
                }
            }
            len = 0;
        }
        // pairId[i]: the piece id of tokens[i] ++ tokens[i+1], or -1
        int[] pairId = new int[Math.max(n - 1, 0)];
        for (int i = 0; i < n - 1; i++) {
            pairId[i] = mergeOf(tokens[i], tokens[i + 1]);
        }
        while (true) {
            float best = NO_MERGE_SCORE;
            int bestIdx = -1;
            for (int i = 0; i < n - 1; i++) {
                int id = pairId[i];
                if (id >= 0 && scores[id] > best) {
                    best = scores[id];
                    bestIdx = i;
                }
            }
            if (bestIdx < 0) {
                break;
            }
            tokens[bestIdx] = pairId[bestIdx];
            System.arraycopy(tokens, bestIdx + 2, tokens, bestIdx + 1, n - bestIdx - 2);
            System.arraycopy(pairId, bestIdx + 1, pairId, bestIdx, n - bestIdx - 2);
            n--;
            if (bestIdx > 0) {
                pairId[bestIdx - 1] = mergeOf(tokens[bestIdx - 1], tokens[bestIdx]);
            }
            if (bestIdx < n - 1) {
                pairId[bestIdx] = mergeOf(tokens[bestIdx], tokens[bestIdx + 1]);
            }
        }
        if (eos) {
            tokens[n++] = Tokenizer.EOS;
        }
        return Arrays.copyOf(tokens, n);
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
    }
}

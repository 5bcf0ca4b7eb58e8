package org.sparknative.kernels.llama;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Random tokenizer.bin vocabularies for differential tests of BPE merging: multi-byte pieces (2-, 3- and 4-byte
 * UTF-8 code points, lone lead and continuation bytes), merges over them and over BOS, and scores from a small
 * set so that many merges tie (0.0 and -0.0 among them, which run.c's {@code >} treats as equal), plus scores
 * at or below run.c's {@code -1e10} floor (never merged), infinities and duplicate pieces (the lowest id wins).
 */
final class SyntheticVocab {
    /** The base units: single code points or lone bytes that a text is made of, each also a piece. */
    static final byte[][] UNITS = {
        utf8(" "), utf8("a"), utf8("b"), utf8("c"), utf8("\u00e9"), utf8("\u65e5"), utf8("\uD83D\uDE00"),
        {(byte) 0xC3}, {(byte) 0x80}, utf8("\n"),
    };

    /** Scores drawn for pieces: few distinct values so that ties are common. */
    private static final float[] SCORES = {0f, -0f, -1f, -1f, -2f, -2f, -3f, 1.5f, 4f, Float.POSITIVE_INFINITY, -1e10f,
        -2e10f, Float.NEGATIVE_INFINITY};

    final byte[] file;
    final int vocabSize;
    /** The units that are pieces of this vocabulary (the rest byte-fall-back). */
    final List<byte[]> units = new ArrayList<>();

    private SyntheticVocab(byte[] file, int vocabSize) {
        this.file = file;
        this.vocabSize = vocabSize;
    }

    /**
     * A random vocabulary: the 259 standard entries, most of {@link #UNITS}, then {@code merges} pieces each the
     * concatenation of two earlier pieces (so BPE can reach it), about one in 40 a duplicate of an earlier one.
     *
     * @param emptyBos whether BOS (id 1) gets an empty piece, which only the Java tokenizer accepts
     */
    static SyntheticVocab random(long seed, int merges, boolean emptyBos) {
        SplittableRandom rnd = new SplittableRandom(seed);
        List<byte[]> pieces = new ArrayList<>();
        List<Float> scores = new ArrayList<>();
        pieces.add(utf8("<unk>"));
        pieces.add(emptyBos ? new byte[0] : utf8("\n<s>\n"));
        pieces.add(utf8("\n</s>\n"));
        for (int b = 0; b < 256; b++) {
            pieces.add(utf8(String.format("<0x%02X>", b)));
        }
        while (scores.size() < pieces.size()) {
            scores.add(0f);
        }
        List<byte[]> units = new ArrayList<>();
        for (byte[] u : UNITS) {
            if (u.length == 1 && u[0] == ' ' || rnd.nextInt(5) != 0) { // keep " " (the dummy prefix) most of the time
                units.add(u);
            }
        }
        if (rnd.nextInt(4) == 0) {
            units.removeIf(u -> u.length == 1 && u[0] == ' '); // sometimes no dummy prefix at all
        }
        List<byte[]> mergeable = new ArrayList<>();
        mergeable.add(pieces.get(1)); // merges with BOS, as run.c allows
        for (byte[] u : units) {
            pieces.add(u);
            scores.add(SCORES[rnd.nextInt(SCORES.length)]);
            mergeable.add(u);
        }
        mergeable.add(pieces.get('a' + Tokenizer.BYTE_OFFSET)); // and with a byte-fallback token
        for (int m = 0; m < merges; m++) {
            byte[] p;
            if (rnd.nextInt(40) == 0 && mergeable.size() > 2) {
                p = mergeable.get(2 + rnd.nextInt(mergeable.size() - 2)); // a duplicate piece
            } else {
                byte[] x = mergeable.get(rnd.nextInt(mergeable.size()));
                byte[] y = mergeable.get(1 + rnd.nextInt(mergeable.size() - 1));
                p = new byte[x.length + y.length];
                System.arraycopy(x, 0, p, 0, x.length);
                System.arraycopy(y, 0, p, x.length, y.length);
                if (p.length > 24 || p.length == 0) {
                    continue;
                }
                mergeable.add(p);
            }
            pieces.add(p);
            scores.add(SCORES[rnd.nextInt(SCORES.length)]);
        }
        SyntheticVocab v = new SyntheticVocab(write(pieces, scores), pieces.size());
        v.units.addAll(units);
        return v;
    }

    /** Random text over this vocabulary's units and a few others, favouring runs of one or two units. */
    byte[] text(SplittableRandom rnd, int maxUnits) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        int n = rnd.nextInt(maxUnits + 1);
        byte[][] pool = {pick(rnd), pick(rnd), UNITS[rnd.nextInt(UNITS.length)]};
        for (int i = 0; i < n; i++) {
            out.writeBytes(rnd.nextInt(10) < 8 ? pool[rnd.nextInt(2)] : pool[2]);
        }
        return out.toByteArray();
    }

    private byte[] pick(SplittableRandom rnd) {
        return units.isEmpty() ? UNITS[rnd.nextInt(UNITS.length)] : units.get(rnd.nextInt(units.size()));
    }

    /** A tokenizer.bin image of these pieces and scores, max_token_length the longest piece. */
    static byte[] write(List<byte[]> pieces, List<Float> scores) {
        int max = pieces.stream().mapToInt(p -> p.length).max().orElse(0);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteBuffer b = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
        out.write(b.putInt(0, max).array(), 0, 4);
        for (int i = 0; i < pieces.size(); i++) {
            b.clear();
            b.putFloat(scores.get(i)).putInt(pieces.get(i).length);
            out.writeBytes(b.array());
            out.writeBytes(pieces.get(i));
        }
        return out.toByteArray();
    }

    private static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }
}

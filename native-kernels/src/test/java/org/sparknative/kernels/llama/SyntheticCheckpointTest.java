package org.sparknative.kernels.llama;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@link SyntheticCheckpoint} and {@link TokenizerWriter}: layouts, determinism, format independence. */
class SyntheticCheckpointTest {
    private static final LlamaConfig GQA_UNSHARED = new LlamaConfig(32, 48, 2, 4, 2, 300, 16, false);

    @Test
    void everyFormatAndClassifierModeOpensWithItsConfig(@TempDir Path dir) throws Exception {
        for (CheckpointFormat format : CheckpointFormat.values()) {
            for (boolean shared : new boolean[] {true, false}) {
                LlamaConfig c = new LlamaConfig(24, 40, 3, 6, 2, 270, 10, shared);
                Path f = dir.resolve(format + "-" + shared + ".bin");
                SyntheticCheckpoint.write(f, c, 11, format);
                Checkpoint ck = Checkpoint.open(f);
                assertEquals(format, ck.format());
                assertEquals(c, ck.config());
                assertEquals(Checkpoint.expectedFileBytes(format, c), Files.size(f));
                if (shared) {
                    assertEquals(ck.offset(Tensor.TOKEN_EMBEDDING), ck.offset(Tensor.WCLS));
                } else {
                    assertTrue(ck.offset(Tensor.WCLS) > ck.offset(Tensor.TOKEN_EMBEDDING));
                }
                ByteBuffer head = ByteBuffer.wrap(Files.readAllBytes(f)).order(ByteOrder.LITTLE_ENDIAN);
                if (format == CheckpointFormat.LEGACY) {
                    assertEquals(shared ? 270 : -270, head.getInt(20), "legacy vocab sign encodes sharing");
                } else {
                    assertEquals(CheckpointFormat.V1_MAGIC, head.getInt(0));
                    assertEquals(1, head.getInt(4));
                    assertEquals(270, head.getInt(28));
                    assertEquals(shared ? 1 : 0, head.get(36));
                    for (int i = 37; i < 256; i++) {
                        assertEquals(0, head.get(i), "padding byte " + i);
                    }
                }
            }
        }
        try (var files = Files.list(dir)) {
            assertTrue(files.noneMatch(p -> p.getFileName().toString().contains(".tmp-")), "temporary files left behind");
        }
    }

    @Test
    void sameSeedSameTensorsInBothFormats(@TempDir Path dir) throws Exception {
        Path legacy = dir.resolve("legacy.bin");
        Path v1 = dir.resolve("v1.bin");
        SyntheticCheckpoint.write(legacy, GQA_UNSHARED, 99, CheckpointFormat.LEGACY);
        SyntheticCheckpoint.write(v1, GQA_UNSHARED, 99, CheckpointFormat.V1);
        Checkpoint a = Checkpoint.open(legacy);
        Checkpoint b = Checkpoint.open(v1);
        byte[] ba = Files.readAllBytes(legacy);
        byte[] bb = Files.readAllBytes(v1);
        for (Tensor t : Tensor.values()) {
            long n = 4 * SyntheticCheckpoint.elements(t, GQA_UNSHARED);
            int oa = (int) a.offset(t);
            int ob = (int) b.offset(t);
            assertArrayEquals(Arrays.copyOfRange(ba, oa, (int) (oa + n)), Arrays.copyOfRange(bb, ob, (int) (ob + n)), t.name());
        }
        // and the forward passes agree bit for bit
        ReferenceTransformer ma = new ReferenceTransformer(a);
        ReferenceTransformer mb = new ReferenceTransformer(b);
        int[] tokens = {1, 17, 299, 42, 3, 200};
        for (int pos = 0; pos < tokens.length; pos++) {
            assertArrayEquals(ma.forward(tokens[pos], pos), mb.forward(tokens[pos], pos), "pos " + pos);
        }
    }

    @Test
    void seedsAndClassifierModeChangeTheWeights(@TempDir Path dir) throws Exception {
        Path a = dir.resolve("a.bin");
        Path b = dir.resolve("b.bin");
        SyntheticCheckpoint.write(a, GQA_UNSHARED, 1, CheckpointFormat.V1);
        SyntheticCheckpoint.write(b, GQA_UNSHARED, 1, CheckpointFormat.V1);
        assertArrayEquals(Files.readAllBytes(a), Files.readAllBytes(b), "same seed, same bytes");
        SyntheticCheckpoint.write(b, GQA_UNSHARED, 2, CheckpointFormat.V1);
        assertFalse(Arrays.equals(Files.readAllBytes(a), Files.readAllBytes(b)), "another seed, other bytes");

        // the shared model is the unshared one without its own classifier: same embedding, other logits
        LlamaConfig shared = new LlamaConfig(32, 48, 2, 4, 2, 300, 16, true);
        SyntheticCheckpoint.write(b, shared, 1, CheckpointFormat.V1);
        Checkpoint cu = Checkpoint.open(a);
        Checkpoint cs = Checkpoint.open(b);
        byte[] bu = Files.readAllBytes(a);
        byte[] bs = Files.readAllBytes(b);
        int n = 4 * 300 * 32;
        int eu = (int) cu.offset(Tensor.TOKEN_EMBEDDING);
        int es = (int) cs.offset(Tensor.TOKEN_EMBEDDING);
        assertArrayEquals(Arrays.copyOfRange(bu, eu, eu + n), Arrays.copyOfRange(bs, es, es + n));
        int wu = (int) cu.offset(Tensor.WCLS);
        assertFalse(Arrays.equals(Arrays.copyOfRange(bu, wu, wu + n), Arrays.copyOfRange(bs, es, es + n)));
    }

    @Test
    void weightsHaveTheDocumentedRanges(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("ranges.bin");
        SyntheticCheckpoint.write(f, GQA_UNSHARED, 5, CheckpointFormat.LEGACY);
        Checkpoint ck = Checkpoint.open(f);
        ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(f)).order(ByteOrder.LITTLE_ENDIAN);
        for (Tensor t : Tensor.values()) {
            boolean norm = t == Tensor.RMS_ATT || t == Tensor.RMS_FFN || t == Tensor.RMS_FINAL;
            long n = SyntheticCheckpoint.elements(t, GQA_UNSHARED);
            double sum = 0;
            double sumSq = 0;
            for (long i = 0; i < n; i++) {
                float v = b.getFloat((int) (ck.offset(t) + 4 * i));
                if (norm) {
                    assertTrue(v >= 0.9f && v <= 1.1f, t + " " + v);
                } else {
                    assertTrue(Math.abs(v) <= 0.0347f, t + " " + v);
                }
                sum += v;
                sumSq += v * v;
            }
            if (!norm && n > 1000) {
                double std = Math.sqrt(sumSq / n - (sum / n) * (sum / n));
                assertEquals(0.02, std, 0.002, t.name());
            }
        }
        // the legacy freq_cis block: freq_cis_real[pos=1][i=0] = cos(1), imag = sin(1)
        long freqStart = ck.offset(Tensor.RMS_FINAL) + 4L * 32;
        int half = 32 / 4 / 2;
        assertEquals((float) Math.cos(1.0), b.getFloat((int) (freqStart + 4L * half)), 0f);
        assertEquals((float) Math.sin(1.0), b.getFloat((int) (freqStart + 4L * (16 * half + half))), 0f);
    }

    @Test
    void matrixBoundScalesTheMatricesOnly(@TempDir Path dir) throws Exception {
        Path def = dir.resolve("default.bin");
        Path same = dir.resolve("same.bin");
        Path wide = dir.resolve("wide.bin");
        SyntheticCheckpoint.write(def, GQA_UNSHARED, 7, CheckpointFormat.LEGACY);
        SyntheticCheckpoint.write(same, GQA_UNSHARED, 7, CheckpointFormat.LEGACY, SyntheticCheckpoint.DEFAULT_MATRIX_BOUND);
        SyntheticCheckpoint.write(wide, GQA_UNSHARED, 7, CheckpointFormat.LEGACY, 0.3f);
        assertArrayEquals(Files.readAllBytes(def), Files.readAllBytes(same), "the default bound is the 4-argument write");
        Checkpoint ck = Checkpoint.open(wide);
        ByteBuffer d = ByteBuffer.wrap(Files.readAllBytes(def)).order(ByteOrder.LITTLE_ENDIAN);
        ByteBuffer w = ByteBuffer.wrap(Files.readAllBytes(wide)).order(ByteOrder.LITTLE_ENDIAN);
        float ratio = 0.3f / SyntheticCheckpoint.DEFAULT_MATRIX_BOUND;
        for (Tensor t : Tensor.values()) {
            boolean norm = t == Tensor.RMS_ATT || t == Tensor.RMS_FFN || t == Tensor.RMS_FINAL;
            double sumSq = 0;
            long n = SyntheticCheckpoint.elements(t, GQA_UNSHARED);
            for (long i = 0; i < n; i++) {
                int at = (int) (ck.offset(t) + 4 * i);
                float v = w.getFloat(at);
                if (norm) {
                    assertEquals(d.getFloat(at), v, 0f, t + ": RMSNorm weights do not scale");
                } else {
                    assertTrue(Math.abs(v) <= 0.3f, t + " " + v);
                    assertEquals(d.getFloat(at) * ratio, v, 1e-6f, t + ": the same draws, scaled");
                }
                sumSq += v * v;
            }
            if (!norm && n > 1000) {
                assertEquals(0.3 / Math.sqrt(3), Math.sqrt(sumSq / n), 0.01, t.name());
            }
        }
        for (float bad : new float[] {0f, -0.1f, Float.NaN, Float.POSITIVE_INFINITY}) {
            assertThrows(IllegalArgumentException.class,
                () -> SyntheticCheckpoint.write(dir.resolve("bad.bin"), GQA_UNSHARED, 7, CheckpointFormat.V1, bad));
        }
    }

    @Test
    void byteLevelTokenizerHasTheDocumentedLayout(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("tok.bin");
        TokenizerWriter.writeByteLevel(f, 1000);
        Tokenizer tok = Tokenizer.load(f, 1000);
        assertEquals("<unk>", str(tok.piece(0)));
        assertEquals("\n<s>\n", str(tok.piece(1)));
        assertEquals("\n</s>\n", str(tok.piece(2)));
        for (int b = 0; b < 256; b++) {
            assertEquals(String.format("<0x%02X>", b), str(tok.piece(b + 3)));
            assertEquals(0f, tok.score(b + 3));
        }
        assertEquals(" ", str(tok.piece(259)));
        assertEquals("!", str(tok.piece(260)));
        assertEquals("~", str(tok.piece(259 + 94)));
        assertEquals(" t", str(tok.piece(259 + 95)));
        assertEquals(-1f, tok.score(259 + 95));
        Set<String> seen = new HashSet<>();
        for (int i = 0; i < tok.vocabSize(); i++) {
            String p = str(tok.piece(i));
            assertTrue(seen.add(p), "duplicate piece " + p);
            if (i > 259 + 95) {
                assertTrue(tok.score(i) < tok.score(i - 1), "scores descend at " + i);
                assertFalse(p.startsWith("<0x"), p);
            }
        }
        assertEquals(6, tok.maxTokenLength());
        // merges happen: "the" is a few tokens, not 4 (dummy prefix + 3 letters)
        int[] ids = tok.encode("the the the".getBytes(StandardCharsets.UTF_8), false, false);
        assertTrue(ids.length <= 3, Arrays.toString(ids));
        assertEquals("the the the", TokenizerTest.decodeAll(tok, concat(Tokenizer.BOS, ids)));
    }

    @Test
    void byteLevelTokenizerSizesAndLimits(@TempDir Path dir) throws Exception {
        for (int v : new int[] {259, 260, 354, 355, 5000, 32000, 40000}) {
            Path f = dir.resolve("tok" + v + ".bin");
            TokenizerWriter.writeByteLevel(f, v);
            assertEquals(v, Tokenizer.load(f, v).vocabSize());
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
            () -> TokenizerWriter.writeByteLevel(dir.resolve("small.bin"), 258));
        assertTrue(e.getMessage().contains(">= 259") && e.getMessage().contains("258"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> TokenizerWriter.writeByteLevel(dir.resolve("huge.bin"), 10_000_000));
    }

    private static int[] concat(int first, int[] rest) {
        int[] out = new int[rest.length + 1];
        out[0] = first;
        System.arraycopy(rest, 0, out, 1, rest.length);
        return out;
    }

    private static String str(byte[] b) {
        return new String(b, StandardCharsets.UTF_8);
    }
}

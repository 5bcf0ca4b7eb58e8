package org.sparknative.kernels.llama;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sparknative.kernels.testing.TestModels;

class ReferenceTransformerTest {
    /** Unshared classifier and grouped-query attention (4 query heads on 2 kv heads). */
    private static final LlamaConfig GQA_UNSHARED = LlamaConfig.parse(
        "dim=32,hidden=48,layers=2,heads=4,kv_heads=2,vocab=300,seq=16,shared=false");

    @Test
    void matchesLlama2cOnASyntheticUnsharedGqaModel(@TempDir Path dir) {
        // Logits printed by llama2.c's forward() (run.c, gcc -O3) on this very file, fed tokens
        // 1, 100, 299, 5 at positions 0..3; entries 0, 1, 2, 3, 150, 299 at positions 0 and 3. On this
        // model the Java logits were bit-identical to run.c's at every position; the tolerance only
        // allows for expf-vs-Math.exp last-bit differences on other platforms. The expected values depend
        // on SyntheticCheckpoint's documented generator (SplittableRandom, seed 1234).
        Path f = dir.resolve("syn.bin");
        SyntheticCheckpoint.write(f, GQA_UNSHARED, 1234L, CheckpointFormat.LEGACY);
        ReferenceTransformer m = new ReferenceTransformer(Checkpoint.open(f));
        int[] tokens = {1, 100, 299, 5};
        int[] probe = {0, 1, 2, 3, 150, 299};
        float[] pos0 = {0.10514522f, 0.102016784f, 0.04511415f, 0.00655403f, -0.1524733f, 0.07905492f};
        float[] pos3 = {-0.0029472564f, 0.072994255f, -0.23835865f, -0.10894481f, -0.045371577f, 0.06314216f};
        float[][] got = new float[tokens.length][];
        for (int p = 0; p < tokens.length; p++) {
            got[p] = m.forward(tokens[p], p);
            assertEquals(300, got[p].length);
        }
        for (int i = 0; i < probe.length; i++) {
            assertEquals(pos0[i], got[0][probe[i]], 1e-6f, "pos 0 logit " + probe[i]);
            assertEquals(pos3[i], got[3][probe[i]], 1e-6f, "pos 3 logit " + probe[i]);
        }
    }

    @Test
    void matchesLlama2cOnStories260K() {
        // stories260K is shared-classifier GQA (8 heads on 4 kv heads). Greedy tokens from llama2.c: the
        // argmax after BOS, " Once", " upon", " a", " time" is the next token of the story.
        Checkpoint ck = Checkpoint.open(TestModels.require(TestModels.STORIES_260K));
        assertEquals(new LlamaConfig(64, 172, 5, 8, 4, 512, 512, true), ck.config());
        ReferenceTransformer m = new ReferenceTransformer(ck);
        int[] story = {1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426};
        for (int p = 0; p + 1 < story.length; p++) {
            float[] logits = m.forward(story[p], p);
            assertEquals(story[p + 1], Sampler.argmax(logits, logits.length), "greedy token after position " + p);
        }
    }

    @Test
    void forwardIsDeterministicAndResetRestartsTheSequence(@TempDir Path dir) {
        Path f = dir.resolve("det.bin");
        SyntheticCheckpoint.write(f, GQA_UNSHARED, 8, CheckpointFormat.V1);
        ReferenceTransformer a = new ReferenceTransformer(Checkpoint.open(f));
        ReferenceTransformer b = new ReferenceTransformer(Checkpoint.open(f));
        float[] a0 = a.forward(5, 0);
        float[] a1 = a.forward(6, 1);
        assertNotSame(a0, a.forward(5, 0), "a fresh array per call");
        assertArrayEquals(a0, b.forward(5, 0));
        assertArrayEquals(a1, b.forward(6, 1));
        // the cache matters: position 1 after another position 0 differs
        b.forward(7, 0);
        assertFalse(Arrays.equals(a1, b.forward(6, 1)));
        b.reset();
        // after reset position 1 attends to a zero row 0 (not a real sequence), so it differs too...
        float[] afterReset = b.forward(6, 1);
        assertFalse(Arrays.equals(a1, afterReset));
        // ...and replaying the sequence from position 0 reproduces it exactly
        b.reset();
        assertArrayEquals(a0, b.forward(5, 0));
        assertArrayEquals(a1, b.forward(6, 1));
    }

    @Test
    void logitsStayFiniteOverTheWholeContext(@TempDir Path dir) {
        Path f = dir.resolve("ctx.bin");
        SyntheticCheckpoint.write(f, GQA_UNSHARED, 3, CheckpointFormat.LEGACY);
        ReferenceTransformer m = new ReferenceTransformer(Checkpoint.open(f));
        for (int p = 0; p < 16; p++) {
            for (float v : m.forward((p * 37) % 300, p)) {
                assertTrue(Float.isFinite(v) && Math.abs(v) < 10f, "pos " + p + ": " + v);
            }
        }
    }

    @Test
    void rejectsTokensAndPositionsOutOfRange(@TempDir Path dir) {
        Path f = dir.resolve("range.bin");
        SyntheticCheckpoint.write(f, GQA_UNSHARED, 3, CheckpointFormat.LEGACY);
        ReferenceTransformer m = new ReferenceTransformer(Checkpoint.open(f));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> m.forward(300, 0)).getMessage().contains("300"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> m.forward(-1, 0)).getMessage().contains("-1"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> m.forward(1, 16)).getMessage().contains("16"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> m.forward(1, -2)).getMessage().contains("-2"));
        m.forward(299, 15);
    }

    @Test
    void fileChangedAfterOpenIsDetected(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("changed.bin");
        SyntheticCheckpoint.write(f, GQA_UNSHARED, 3, CheckpointFormat.LEGACY);
        Checkpoint ck = Checkpoint.open(f);
        Files.write(f, new byte[] {1, 2, 3}, java.nio.file.StandardOpenOption.APPEND);
        CheckpointException e = assertThrows(CheckpointException.class, () -> new ReferenceTransformer(ck));
        assertTrue(e.getMessage().contains("file length"), e.getMessage());
    }
}

package org.sparknative.kernels.llama;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A finished sequence's KV cache pages go back to the OS, and the slot's next sequence computes the same logits. */
class KvCacheReleaseTest {
    @TempDir
    Path tmp;

    private static float[][] run(NativeLlamaBatch b, int slot, int[] tokens) {
        float[][] out = new float[tokens.length][300];
        for (int p = 0; p < tokens.length; p++) {
            b.forward(1, new int[] {tokens[p]}, new int[] {p}, new int[] {slot}, 1, new int[] {0}, 2);
            b.copyLogits(0, out[p]);
        }
        return out;
    }

    @Test
    void releasedSlotsGiveTheirPagesBackAndRecomputeTheSameLogits() {
        // kv_dim 64 x 256 positions: a slot's region is 64 KiB (F32) or 32 KiB (F16) per layer and cache.
        LlamaConfig c = new LlamaConfig(64, 128, 2, 4, 4, 300, 256, false);
        Path file = tmp.resolve("m.bin");
        SyntheticCheckpoint.write(file, c, 3, CheckpointFormat.V1);
        int[] tokens = {1, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120};
        try (NativeLlamaModel m = NativeLlamaModel.map(Checkpoint.open(file))) {
            for (KvCacheType kv : new KvCacheType[] {KvCacheType.F32, KvCacheType.F16}) {
                try (NativeLlamaBatch b = m.newBatch(3, 4, kv)) {
                    assertEquals(kv, b.kvCache());
                    float[][] first = run(b, 1, tokens);
                    long region = 256L * 64 * kv.bytes();
                    // Every whole page of the slot's region, per layer, keys and values (regions here are aligned).
                    assertEquals(2L * 2 * region, b.releaseSlot(1), kv.label());
                    float[][] again = run(b, 1, tokens);
                    for (int p = 0; p < tokens.length; p++) {
                        NativeLlamaForwardTest.assertBitwise(new float[][] {first[p]}, new float[][] {again[p]},
                            kv + " position " + p);
                    }
                    // Another slot, never released, gives the same too; slot 0's release leaves slot 1 alone.
                    b.releaseSlot(0);
                    float[][] other = run(b, 2, tokens);
                    NativeLlamaForwardTest.assertBitwise(first, other, kv + " slot 2");
                    assertThrows(IllegalArgumentException.class, () -> b.releaseSlot(3));
                }
            }
        }
        // A small model's slot regions are under two pages: nothing to hand back.
        LlamaConfig small = new LlamaConfig(32, 64, 1, 4, 2, 300, 16, false);
        Path f2 = tmp.resolve("s.bin");
        SyntheticCheckpoint.write(f2, small, 3, CheckpointFormat.V1);
        try (NativeLlamaModel m = NativeLlamaModel.map(Checkpoint.open(f2)); NativeLlamaBatch b = m.newBatch(2, 2)) {
            assertEquals(0L, b.releaseSlot(1));
        }
        assertTrue(NativeLlamaBatch.liveKvCacheBytes() >= 0);
    }
}

package org.sparknative.kernels.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.sparknative.kernels.llama.LlamaConfig;
import org.sparknative.kernels.llama.Tensor;

/** The CUDA memory plan in hand-computed numbers (no GPU needed). */
class CudaMemoryPlanTest {
    /** stories15M: dim 288, hidden 768, 6 layers, 6 heads (head size 48, kv_dim 288), vocab 32000, seq 256, shared. */
    static final LlamaConfig STORIES_15M = new LlamaConfig(288, 768, 6, 6, 6, 32000, 256, true);
    /** stories110M: dim 768, hidden 2048, 12 layers, 12 heads (head size 64, kv_dim 768), vocab 32000, seq 1024, shared. */
    static final LlamaConfig STORIES_110M = new LlamaConfig(768, 2048, 12, 12, 12, 32000, 1024, true);
    static final long GPU_80GB = 80_000_000_000L;
    static final long RESERVE = 2_000_000_000L;

    @Test
    void stories15M() {
        LlamaConfig c = STORIES_15M;
        // embedding 32000*288 = 9,216,000; rms_att, rms_ffn 6*288 = 1,728 each; wq, wk, wv, wo 6*288*288 = 497,664
        // each (1,990,656); w1, w2, w3 6*768*288 = 1,327,104 each (3,981,312); rms_final 288; shared classifier 0:
        // 9,216,000 + 3,456 + 1,990,656 + 3,981,312 + 288 = 15,191,712 floats (stories15M's 15.2M parameters)
        long floats = 0;
        for (Tensor t : Tensor.values()) {
            floats += CudaMemoryPlan.tensorFloats(c, t);
        }
        assertEquals(15_191_712L, floats);
        assertEquals(0, CudaMemoryPlan.tensorFloats(c, Tensor.WCLS));
        // RoPE table 256 * 48 floats = 12,288 floats = 49,152 bytes
        assertEquals(49_152L, CudaMemoryPlan.ropeTableBytes(c));
        // (15,191,712 + 12,288) * 4 = 15,204,000 * 4
        assertEquals(60_816_000L, CudaMemoryPlan.weightBytes(c));
        // 2 * 6 * 256 * 288 * 4 = 3,538,944
        assertEquals(3_538_944L, CudaMemoryPlan.kvBytesPerSlot(c));
        // floats 3*288 + 2*288 + 2*768 + 6*256 + 32000 = 864 + 576 + 1,536 + 1,536 + 32,000 = 36,512; * 4 = 146,048;
        // + 5 int32 = 20 bytes: 146,068
        assertEquals(146_068L, CudaMemoryPlan.scratchBytesPerRow(c));
        // 10 slots, 74 rows: 35,389,440 + 10,809,032
        assertEquals(46_198_472L, CudaMemoryPlan.batchBytes(c, 10, 74));
        assertEquals(46_198_472L, CudaMemoryPlan.batchBytes(c, 10, 74, MatmulMode.INVARIANT));
        // a cuBLAS batch adds its 32 MiB workspace: + 33,554,432
        assertEquals(79_752_904L, CudaMemoryPlan.batchBytes(c, 10, 74, MatmulMode.CUBLAS));
        // 80 GB after the weights: 80,000,000,000 - 60,816,000 = 79,939,184,000 free; minus the 2 GB reserve and
        // 64 prefill rows (64 * 146,068 = 9,348,352): 77,929,835,648; per slot 3,538,944 + 146,068 = 3,685,012:
        // 21,147 slots (21,147.9...)
        long free = GPU_80GB - CudaMemoryPlan.weightBytes(c);
        int slots = CudaMemoryPlan.maxSlots(c, free, 64, RESERVE);
        assertEquals(21_147, slots);
        assertTrue(CudaMemoryPlan.batchBytes(c, slots, slots + 64) <= free - RESERVE);
        assertTrue(CudaMemoryPlan.batchBytes(c, slots + 1, slots + 65) > free - RESERVE);
    }

    @Test
    void stories110M() {
        LlamaConfig c = STORIES_110M;
        // embedding 32000*768 = 24,576,000; rms 2 * 12*768 = 18,432; wq, wk, wv, wo 4 * 12*768*768 = 28,311,552;
        // w1, w2, w3 3 * 12*2048*768 = 56,623,104; rms_final 768: 109,529,856 floats; RoPE 1024*64 = 65,536
        // floats: (109,529,856 + 65,536) * 4 = 109,595,392 * 4
        assertEquals(438_381_568L, CudaMemoryPlan.weightBytes(c));
        // 2 * 12 * 1024 * 768 * 4 = 75,497,472 (72 MiB per sequence)
        assertEquals(75_497_472L, CudaMemoryPlan.kvBytesPerSlot(c));
        // 3*768 + 2*768 + 2*2048 + 12*1024 + 32000 = 2,304 + 1,536 + 4,096 + 12,288 + 32,000 = 52,224 floats;
        // * 4 + 20 = 208,916
        assertEquals(208_916L, CudaMemoryPlan.scratchBytesPerRow(c));
        // free 80,000,000,000 - 438,381,568 = 79,561,618,432; - 2,000,000,000 - 64 * 208,916 (13,370,624)
        // = 77,548,247,808; / (75,497,472 + 208,916 = 75,706,388) = 1,024.3...: 1,024 slots
        long free = GPU_80GB - CudaMemoryPlan.weightBytes(c);
        assertEquals(1_024, CudaMemoryPlan.maxSlots(c, free, 64, RESERVE));
        // 1,024 * 75,497,472 + 1,088 * 208,916 = 77,309,411,328 + 227,300,608
        assertEquals(77_536_711_936L, CudaMemoryPlan.batchBytes(c, 1_024, 1_088));
    }

    @Test
    void unsharedClassifierAndGqaCount() {
        // dim 64, hidden 96, 2 layers, 8 heads (head size 8), 2 kv heads (kv_dim 16), vocab 100, seq 32, unshared
        LlamaConfig c = new LlamaConfig(64, 96, 2, 8, 2, 100, 32, false);
        // emb 6,400; rms 2 * 128; wq, wo 2 * 2*64*64 = 16,384; wk, wv 2 * 2*16*64 = 4,096; w1..w3 3 * 2*96*64 =
        // 36,864; rms_final 64; classifier 6,400: 70,464 floats; RoPE 32 * 8 = 256 floats: 70,720 * 4
        assertEquals(6_400L, CudaMemoryPlan.tensorFloats(c, Tensor.WCLS));
        assertEquals(282_880L, CudaMemoryPlan.weightBytes(c));
        // 2 * 2 * 32 * 16 * 4
        assertEquals(8_192L, CudaMemoryPlan.kvBytesPerSlot(c));
        // (3*64 + 2*16 + 2*96 + 8*32 + 100) * 4 + 20 = 772 * 4 + 20
        assertEquals(3_108L, CudaMemoryPlan.scratchBytesPerRow(c));
    }

    @Test
    void noRoomGivesZeroSlots() {
        LlamaConfig c = STORIES_110M;
        // the reserve takes everything
        assertEquals(0, CudaMemoryPlan.maxSlots(c, RESERVE, 64, RESERVE));
        assertEquals(0, CudaMemoryPlan.maxSlots(c, 1_000_000, 0, RESERVE));
        // 64 prefill rows (13,370,624) + one slot (75,706,388) = 89,077,012: one byte short fits none, exact fits one
        assertEquals(0, CudaMemoryPlan.maxSlots(c, 89_077_011L, 64, 0));
        assertEquals(1, CudaMemoryPlan.maxSlots(c, 89_077_012L, 64, 0));
        assertEquals(0, CudaMemoryPlan.maxSlots(c, 0, 0, 0));
        assertThrows(IllegalArgumentException.class, () -> CudaMemoryPlan.maxSlots(c, -1, 0, 0));
        assertThrows(IllegalArgumentException.class, () -> CudaMemoryPlan.batchBytes(c, -1, 1));
    }
}

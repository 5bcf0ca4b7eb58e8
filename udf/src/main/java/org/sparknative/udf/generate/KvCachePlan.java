package org.sparknative.udf.generate;

import java.util.Locale;
import org.sparknative.kernels.llama.LlamaConfig;

/**
 * How much KV cache a task's slots need, and how many slots fit in a memory budget. The cache holds keys
 * and values (2) of every layer, position and KV dimension, in float32 (4 bytes), for each slot:
 * {@code slots * layers * seq_len * kv_dim * 2 * 4} bytes (llama2.c's {@code key_cache}/{@code value_cache}
 * layout, once per slot). The cache is allocated natively, outside the JVM heap.
 *
 * <p>Stateless; pure arithmetic.
 */
public final class KvCachePlan {
    private KvCachePlan() {
    }

    /** @return the KV cache bytes of one slot */
    public static long bytesPerSlot(LlamaConfig c) {
        return 2L * 4L * c.nLayers() * (long) c.seqLen() * c.kvDim();
    }

    /** @return the KV cache bytes of {@code slots} slots (saturating at {@link Long#MAX_VALUE}) */
    public static long bytes(LlamaConfig c, int slots) {
        long per = bytesPerSlot(c);
        return slots > Long.MAX_VALUE / per ? Long.MAX_VALUE : per * slots;
    }

    /** @return the most slots whose cache fits in {@code budgetBytes} (0 if not even one) */
    public static int maxSlots(LlamaConfig c, long budgetBytes) {
        return (int) Math.min(Integer.MAX_VALUE, Math.max(0, budgetBytes) / bytesPerSlot(c));
    }

    /**
     * @param setting     the setting's name for the message, such as {@code --slots}
     * @param budgetBytes native memory one task may use
     * @param budgetWhat  where the budget comes from, for the message
     * @throws IllegalArgumentException naming the setting, the bytes needed and the largest value that fits
     */
    public static void check(LlamaConfig c, int slots, String setting, long budgetBytes, String budgetWhat) {
        long need = bytes(c, slots);
        if (need > budgetBytes) {
            throw new IllegalArgumentException(String.format(Locale.ROOT,
                "%s %d needs %s of KV cache per task; at most %,d slots fit in the %s of native memory %s",
                setting, slots, gib(need), maxSlots(c, budgetBytes), gib(budgetBytes), budgetWhat));
        }
    }

    static String gib(long bytes) {
        return String.format(Locale.ROOT, "%.1f GiB", bytes / (double) (1L << 30));
    }
}

package org.sparknative.udf.generate;

import java.util.Locale;
import org.sparknative.kernels.llama.KvCacheType;
import org.sparknative.kernels.llama.LlamaConfig;

/**
 * How much KV cache a task's slots need, and how many slots fit in a memory budget. The cache holds keys
 * and values (2) of every layer, position and KV dimension, in float32 (4 bytes) or binary16 (2 bytes,
 * {@link KvCacheType}), for each slot: {@code slots * layers * seq_len * kv_dim * 2 * bytes} bytes (llama2.c's
 * {@code key_cache}/{@code value_cache} layout, once per slot), where {@code seq_len} is the context the model
 * runs with ({@code --context}). The cache is allocated natively, outside the JVM heap, and reserved whole; its
 * pages are committed as positions are first written, so a slot's resident memory is what its rows used (their
 * prompts plus completions), this plan's figure the bound.
 *
 * <p>Stateless; pure arithmetic.
 */
public final class KvCachePlan {
    private KvCachePlan() {
    }

    /** @return the float KV cache bytes of one slot */
    public static long bytesPerSlot(LlamaConfig c) {
        return bytesPerSlot(c, KvCacheType.F32);
    }

    /** @return the KV cache bytes of one slot with elements of {@code kv} (resolved: F32 or F16) */
    public static long bytesPerSlot(LlamaConfig c, KvCacheType kv) {
        return 2L * kv.bytes() * c.nLayers() * (long) c.seqLen() * c.kvDim();
    }

    /** @return the float KV cache bytes of {@code slots} slots (saturating at {@link Long#MAX_VALUE}) */
    public static long bytes(LlamaConfig c, int slots) {
        return bytes(c, slots, KvCacheType.F32);
    }

    /** @return the KV cache bytes of {@code slots} slots of {@code kv} (saturating at {@link Long#MAX_VALUE}) */
    public static long bytes(LlamaConfig c, int slots, KvCacheType kv) {
        long per = bytesPerSlot(c, kv);
        return slots > Long.MAX_VALUE / per ? Long.MAX_VALUE : per * slots;
    }

    /** @return the most float-cache slots that fit in {@code budgetBytes} (0 if not even one) */
    public static int maxSlots(LlamaConfig c, long budgetBytes) {
        return maxSlots(c, budgetBytes, KvCacheType.F32);
    }

    /** @return the most slots with a cache of {@code kv} that fit in {@code budgetBytes} (0 if not even one) */
    public static int maxSlots(LlamaConfig c, long budgetBytes, KvCacheType kv) {
        return (int) Math.min(Integer.MAX_VALUE, Math.max(0, budgetBytes) / bytesPerSlot(c, kv));
    }

    /**
     * @param setting     the setting's name for the message, such as {@code --slots}
     * @param budgetBytes native memory one task may use
     * @param budgetWhat  where the budget comes from, for the message
     * @throws IllegalArgumentException naming the setting, the bytes needed and the largest value that fits
     */
    public static void check(LlamaConfig c, int slots, String setting, long budgetBytes, String budgetWhat) {
        check(c, slots, KvCacheType.F32, setting, budgetBytes, budgetWhat);
    }

    /**
     * As {@link #check(LlamaConfig, int, String, long, String)} for a cache of {@code kv} (resolved: F32 or F16).
     */
    public static void check(LlamaConfig c, int slots, KvCacheType kv, String setting, long budgetBytes,
                             String budgetWhat) {
        long need = bytes(c, slots, kv);
        if (need > budgetBytes) {
            throw new IllegalArgumentException(String.format(Locale.ROOT,
                "%s %d needs %s of %s KV cache per task at a context of %,d; at most %,d slots fit in the %s of native"
                    + " memory %s (a smaller --context or --kv-cache f16 fits more)",
                setting, slots, gib(need), kv.label(), c.seqLen(), maxSlots(c, budgetBytes, kv), gib(budgetBytes),
                budgetWhat));
        }
    }

    static String gib(long bytes) {
        return String.format(Locale.ROOT, "%.1f GiB", bytes / (double) (1L << 30));
    }
}

package org.sparknative.kernels.llama;

import java.util.Locale;

/**
 * The element type of a batch's KV cache (the keys and values of every layer, slot and position).
 * <ul>
 *   <li>{@link #F32}: float, llama2.c's cache; its outputs are llama2.c's byte for byte.</li>
 *   <li>{@link #F16}: IEEE binary16, half the memory: keys and values are rounded to nearest even when stored and
 *       read back exactly, so attention is the float computation on the rounded values. llama.cpp's default cache
 *       type ({@code --cache-type-k/-v f16}).</li>
 *   <li>{@link #AUTO}: {@link #F16} for GGUF models, as llama.cpp runs them; {@link #F32} for llama2.c checkpoints,
 *       whose byte-exact llama2.c outputs it keeps.</li>
 * </ul>
 * A setting ({@code --kv-cache}, {@code spark.sparknative.model.<name>.kvCache}) chooses; the native backend and
 * the pure-Java reference honour it alike (the CUDA backend, llama2.c checkpoints only, keeps float).
 */
public enum KvCacheType {
    /** F16 for GGUF models, F32 for llama2.c checkpoints. */
    AUTO("auto", 0),
    /** 4-byte float elements. */
    F32("f32", 4),
    /** 2-byte IEEE binary16 elements. */
    F16("f16", 2);

    private final String label;
    private final int bytes;

    KvCacheType(String label, int bytes) {
        this.label = label;
        this.bytes = bytes;
    }

    /** @return the setting's spelling: {@code auto}, {@code f32} or {@code f16} */
    public String label() {
        return label;
    }

    /**
     * @return bytes per cached element
     * @throws IllegalStateException for {@link #AUTO}, which is not a storage type: {@link #resolve} it first
     */
    public int bytes() {
        if (this == AUTO) {
            throw new IllegalStateException("resolve auto first");
        }
        return bytes;
    }

    /** @return this type for a model of the given format: {@link #AUTO} becomes F16 for GGUF, else F32 */
    public KvCacheType resolve(boolean gguf) {
        return this != AUTO ? this : gguf ? F16 : F32;
    }

    /**
     * @param s {@code auto}, {@code f32} or {@code f16} (any case)
     * @throws IllegalArgumentException naming the accepted values
     */
    public static KvCacheType parse(String s) {
        for (KvCacheType t : values()) {
            if (t.label.equals(s == null ? null : s.trim().toLowerCase(Locale.ROOT))) {
                return t;
            }
        }
        throw new IllegalArgumentException("KV cache type must be auto, f32 or f16, got '" + s + "'");
    }
}

package org.sparknative.kernels.llama;

/**
 * The llama2.c checkpoint formats (https://github.com/karpathy/llama2.c, {@code export.py}).
 */
public enum CheckpointFormat {
    /**
     * {@code legacy_export}: a 28-byte header of 7 little-endian int32 ({@code dim, hidden_dim, n_layers,
     * n_heads, n_kv_heads, vocab_size, seq_len}; a negative {@code vocab_size} means an unshared
     * classifier), then float32 tensors: token embedding, rms_att, wq, wk, wv, wo, rms_ffn, w1, w2, w3,
     * rms_final, freq_cis_real, freq_cis_imag ({@code seq_len * head_size / 2} each, unused), [wcls].
     */
    LEGACY(28),
    /**
     * {@code version1_export}: a 256-byte header (uint32 magic {@code 0x616b3432} "ak42", int32 version 1,
     * the 7 int32 above with a positive vocab, a uint8 shared-classifier flag, zero padding), then float32
     * tensors: rms_att, rms_ffn, rms_final, token embedding, wq, wk, wv, wo, w1, w2, w3, [wcls].
     */
    V1(256);

    /** The v1 magic number, "ak42" read as a little-endian uint32. */
    public static final int V1_MAGIC = 0x616b3432;

    private final int headerBytes;

    CheckpointFormat(int headerBytes) {
        this.headerBytes = headerBytes;
    }

    /** @return bytes before the first tensor */
    public int headerBytes() {
        return headerBytes;
    }
}

package org.sparknative.kernels.llama;

/**
 * The float32 tensors of a llama2.c checkpoint. Per-layer tensors are stored layer after layer; shapes
 * are row-major {@code [rows, cols]} with {@code W x} computing {@code rows} outputs from {@code cols}
 * inputs.
 */
public enum Tensor {
    /** {@code [vocab, dim]} token embedding table. */
    TOKEN_EMBEDDING,
    /** {@code [layers, dim]} RMSNorm weights before attention. */
    RMS_ATT,
    /** {@code [layers, dim, dim]} query projection. */
    WQ,
    /** {@code [layers, kv_dim, dim]} key projection. */
    WK,
    /** {@code [layers, kv_dim, dim]} value projection. */
    WV,
    /** {@code [layers, dim, dim]} attention output projection. */
    WO,
    /** {@code [layers, dim]} RMSNorm weights before the FFN. */
    RMS_FFN,
    /** {@code [layers, hidden, dim]} FFN gate projection (SiLU side). */
    W1,
    /** {@code [layers, dim, hidden]} FFN down projection. */
    W2,
    /** {@code [layers, hidden, dim]} FFN up projection. */
    W3,
    /** {@code [dim]} final RMSNorm weights. */
    RMS_FINAL,
    /** {@code [vocab, dim]} classifier; the token embedding table when shared. */
    WCLS
}

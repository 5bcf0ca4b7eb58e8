package org.sparknative.kernels.llama;

/**
 * The shape of a Llama-2-architecture model as a llama2.c checkpoint header gives it, or as {@link GgufLlama} reads
 * it from GGUF metadata (there {@code seqLen} is the context the model runs with, which may exceed the trained one).
 *
 * @param dim              model (residual stream) width
 * @param hiddenDim        SwiGLU FFN inner width
 * @param nLayers          number of transformer blocks
 * @param nHeads           query heads; {@code dim % nHeads == 0}
 * @param nKvHeads         key/value heads (grouped-query attention); {@code nHeads % nKvHeads == 0}
 * @param vocabSize        vocabulary size (always positive here; the legacy header's sign is
 *                         {@code sharedClassifier})
 * @param seqLen           maximum context length in tokens (positions {@code 0 .. seqLen-1})
 * @param sharedClassifier whether the classifier reuses the token embedding table
 */
public record LlamaConfig(int dim, int hiddenDim, int nLayers, int nHeads, int nKvHeads, int vocabSize, int seqLen,
                          boolean sharedClassifier) {

    /** Checks the invariants a forward pass relies on. */
    public LlamaConfig {
        requirePositive("dim", dim);
        requirePositive("hidden_dim", hiddenDim);
        requirePositive("n_layers", nLayers);
        requirePositive("n_heads", nHeads);
        requirePositive("n_kv_heads", nKvHeads);
        requirePositive("vocab_size", vocabSize);
        requirePositive("seq_len", seqLen);
        if (dim % nHeads != 0) {
            throw new IllegalArgumentException("dim % n_heads must be 0, got dim=" + dim + " n_heads=" + nHeads);
        }
        if (nHeads % nKvHeads != 0) {
            throw new IllegalArgumentException(
                "n_heads % n_kv_heads must be 0, got n_heads=" + nHeads + " n_kv_heads=" + nKvHeads);
        }
        if ((dim / nHeads) % 2 != 0) {
            throw new IllegalArgumentException("head size dim/n_heads must be even for RoPE, got " + dim / nHeads);
        }
    }

    private static void requirePositive(String field, int v) {
        if (v <= 0) {
            throw new IllegalArgumentException(field + " must be > 0, got " + v);
        }
    }

    /** @return {@code dim / nHeads} */
    public int headSize() {
        return dim / nHeads;
    }

    /** @return {@code dim * nKvHeads / nHeads}, the width of one position's keys (or values) */
    public int kvDim() {
        return dim / nHeads * nKvHeads;
    }

    /**
     * Parses {@code key=value} pairs such as
     * {@code dim=288,hidden=768,layers=6,heads=6,kv_heads=6,vocab=32000,seq=256[,shared=true]}.
     *
     * @throws IllegalArgumentException naming the unknown or missing key
     */
    public static LlamaConfig parse(String spec) {
        java.util.Map<String, String> kv = new java.util.LinkedHashMap<>();
        for (String part : spec.split(",")) {
            String p = part.trim();
            if (p.isEmpty()) {
                continue;
            }
            int eq = p.indexOf('=');
            if (eq <= 0) {
                throw new IllegalArgumentException("model shape: expected key=value, got '" + p + "' in '" + spec + "'");
            }
            kv.put(p.substring(0, eq).trim(), p.substring(eq + 1).trim());
        }
        java.util.Set<String> known = java.util.Set.of("dim", "hidden", "layers", "heads", "kv_heads", "vocab", "seq", "shared");
        for (String k : kv.keySet()) {
            if (!known.contains(k)) {
                throw new IllegalArgumentException("model shape: unknown key '" + k + "', expected one of " + known);
            }
        }
        int heads = intField(kv, "heads", spec);
        return new LlamaConfig(intField(kv, "dim", spec), intField(kv, "hidden", spec), intField(kv, "layers", spec),
            heads, kv.containsKey("kv_heads") ? intField(kv, "kv_heads", spec) : heads, intField(kv, "vocab", spec),
            intField(kv, "seq", spec), !kv.containsKey("shared") || Boolean.parseBoolean(kv.get("shared")));
    }

    private static int intField(java.util.Map<String, String> kv, String key, String spec) {
        String v = kv.get(key);
        if (v == null) {
            throw new IllegalArgumentException("model shape: missing key '" + key + "' in '" + spec + "'");
        }
        try {
            return Integer.parseInt(v);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("model shape: " + key + " must be an integer, got '" + v + "'");
        }
    }

    @Override
    public String toString() {
        return "dim=" + dim + ",hidden=" + hiddenDim + ",layers=" + nLayers + ",heads=" + nHeads + ",kv_heads=" + nKvHeads
            + ",vocab=" + vocabSize + ",seq=" + seqLen + ",shared=" + sharedClassifier;
    }
}

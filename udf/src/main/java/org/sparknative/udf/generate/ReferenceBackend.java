package org.sparknative.udf.generate;

import java.util.function.Supplier;
import org.sparknative.kernels.llama.Checkpoint;
import org.sparknative.kernels.llama.KvCacheType;
import org.sparknative.kernels.llama.LlamaConfig;
import org.sparknative.kernels.llama.ModelFile;
import org.sparknative.kernels.llama.ReferenceTransformer;
import org.sparknative.kernels.llama.Sampler;

/**
 * The pure-Java reference behind the {@link DecodeBackend} seam: one {@link ReferenceTransformer} (and
 * KV cache) per slot, all sharing one copy of the weights, rows computed one at a time. The test oracle and the benchmark's Java baseline;
 * not meant for production throughput.
 *
 * <p>Rows are computed in step order; {@code logitRows} must be strictly ascending, as the
 * {@link DecodeBackend} contract says, and is checked.
 */
public final class ReferenceBackend implements DecodeBackend {
    private final LlamaConfig config;
    private final Supplier<ReferenceTransformer> newSlot;
    private final ReferenceTransformer[] perSlot;
    private ReferenceTransformer firstSlot; // the weights every later slot shares (ReferenceTransformer#newSequence)
    private final int maxRows;
    private final float[][] logits;

    /** A backend over a llama2.c checkpoint. */
    public ReferenceBackend(Checkpoint checkpoint, int maxSlots, int maxRowsPerStep) {
        this(checkpoint.config(), () -> new ReferenceTransformer(checkpoint), maxSlots, maxRowsPerStep);
    }

    /** A backend over a model of either format ({@link ModelFile#newReference(KvCacheType)} per slot). */
    public ReferenceBackend(ModelFile model, int maxSlots, int maxRowsPerStep, KvCacheType kvCache) {
        this(model.config(), () -> model.newReference(kvCache), maxSlots, maxRowsPerStep);
    }

    private ReferenceBackend(LlamaConfig config, Supplier<ReferenceTransformer> newSlot, int maxSlots,
                             int maxRowsPerStep) {
        this.config = config;
        this.newSlot = newSlot;
        this.perSlot = new ReferenceTransformer[maxSlots];
        this.maxRows = maxRowsPerStep;
        this.logits = new float[maxSlots][];
    }

    @Override
    public LlamaConfig config() {
        return config;
    }

    @Override
    public int maxSlots() {
        return perSlot.length;
    }

    @Override
    public int maxRowsPerStep() {
        return maxRows;
    }

    @Override
    public void forward(int rows, int[] tokens, int[] positions, int[] slots, int nLogits, int[] logitRows) {
        if (rows > maxRows || nLogits > perSlot.length) {
            throw new IllegalArgumentException("step of " + rows + " rows / " + nLogits + " logits exceeds "
                + maxRows + " / " + perSlot.length);
        }
        for (int k = 0; k < nLogits; k++) {
            if (logitRows[k] < 0 || logitRows[k] >= rows || (k > 0 && logitRows[k] <= logitRows[k - 1])) {
                throw new IllegalArgumentException("logitRows must be strictly ascending rows in [0, " + rows
                    + "), got " + java.util.Arrays.toString(java.util.Arrays.copyOf(logitRows, nLogits)));
            }
        }
        int k = 0;
        for (int i = 0; i < rows; i++) {
            int s = slots[i];
            if (s < 0 || s >= perSlot.length) {
                throw new IllegalArgumentException("row " + i + ": slot " + s + " out of range [0, " + perSlot.length + ")");
            }
            if (perSlot[s] == null) {
                perSlot[s] = firstSlot == null ? (firstSlot = newSlot.get()) : firstSlot.newSequence();
            }
            float[] out = perSlot[s].forward(tokens[i], positions[i]);
            if (k < nLogits && logitRows[k] == i) {
                logits[k++] = out;
            }
        }
    }

    @Override
    public int sample(int k, float temperature, float topp, long[] rngState) {
        return Sampler.sample(logits[k], config.vocabSize(), temperature, topp, rngState);
    }

    @Override
    public int sample(int k, GenerationParams params, int[] recent, int nRecent, long[] rngState) {
        return Sampler.sampleFiltered(logits[k], config.vocabSize(), params.temperature(), params.topP(),
            params.topK(), params.repetitionPenalty(), recent, nRecent, rngState);
    }

    @Override
    public void close() {
        java.util.Arrays.fill(perSlot, null);
    }
}

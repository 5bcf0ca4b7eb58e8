package org.sparknative.udf.generate;

import org.sparknative.kernels.llama.Checkpoint;
import org.sparknative.kernels.llama.LlamaConfig;
import org.sparknative.kernels.llama.ReferenceTransformer;
import org.sparknative.kernels.llama.Sampler;

/**
 * The pure-Java reference behind the {@link DecodeBackend} seam: one {@link ReferenceTransformer} (and
 * KV cache) per slot, rows computed one at a time. The test oracle and the benchmark's Java baseline;
 * not meant for production throughput.
 *
 * <p>Rows are computed in step order; {@code logitRows} must be strictly ascending, as the
 * {@link DecodeBackend} contract says, and is checked.
 */
public final class ReferenceBackend implements DecodeBackend {
    private final Checkpoint checkpoint;
    private final ReferenceTransformer[] perSlot;
    private final int maxRows;
    private final float[][] logits;

    public ReferenceBackend(Checkpoint checkpoint, int maxSlots, int maxRowsPerStep) {
        this.checkpoint = checkpoint;
        this.perSlot = new ReferenceTransformer[maxSlots];
        this.maxRows = maxRowsPerStep;
        this.logits = new float[maxSlots][];
    }

    @Override
    public LlamaConfig config() {
        return checkpoint.config();
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
                perSlot[s] = new ReferenceTransformer(checkpoint);
            }
            float[] out = perSlot[s].forward(tokens[i], positions[i]);
            if (k < nLogits && logitRows[k] == i) {
                logits[k++] = out;
            }
        }
    }

    @Override
    public int sample(int k, float temperature, float topp, long[] rngState) {
        return Sampler.sample(logits[k], checkpoint.config().vocabSize(), temperature, topp, rngState);
    }

    @Override
    public int sample(int k, GenerationParams params, int[] recent, int nRecent, long[] rngState) {
        return Sampler.sampleFiltered(logits[k], checkpoint.config().vocabSize(), params.temperature(), params.topP(),
            params.topK(), params.repetitionPenalty(), recent, nRecent, rngState);
    }

    @Override
    public void close() {
        java.util.Arrays.fill(perSlot, null);
    }
}

package org.sparknative.udf.generate;

import org.sparknative.kernels.llama.LlamaConfig;

/**
 * Tests: a {@link DecodeBackend} that hands every call to {@code inner}; a test overrides the calls it
 * counts, delays, checks or fails.
 */
class ForwardingBackend implements DecodeBackend {
    final DecodeBackend inner;

    ForwardingBackend(DecodeBackend inner) {
        this.inner = inner;
    }

    @Override
    public LlamaConfig config() {
        return inner.config();
    }

    @Override
    public int maxSlots() {
        return inner.maxSlots();
    }

    @Override
    public int maxRowsPerStep() {
        return inner.maxRowsPerStep();
    }

    @Override
    public void forward(int rows, int[] tokens, int[] positions, int[] slots, int nLogits, int[] logitRows) {
        inner.forward(rows, tokens, positions, slots, nLogits, logitRows);
    }

    @Override
    public int sample(int k, float temperature, float topp, long[] rngState) {
        return inner.sample(k, temperature, topp, rngState);
    }

    @Override
    public int sample(int k, GenerationParams params, int[] recent, int nRecent, long[] rngState) {
        return inner.sample(k, params, recent, nRecent, rngState);
    }

    @Override
    public void willSample(int nLogits, boolean[] sampled) {
        inner.willSample(nLogits, sampled);
    }

    @Override
    public void close() {
        inner.close();
    }
}

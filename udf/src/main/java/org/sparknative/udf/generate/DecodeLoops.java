package org.sparknative.udf.generate;

import org.sparknative.kernels.cuda.CudaDevice;

/** Placeholder until the CUDA model lands (replaced in the next commit). */
final class DecodeLoops {
    private DecodeLoops() {
    }

    static SharedDecodeLoop cuda(ModelRegistry.Entry model, CudaDevice device, GenerationSpec spec) {
        throw new UnsupportedOperationException("generate on CUDA: not wired yet");
    }
}

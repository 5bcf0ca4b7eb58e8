package org.sparknative.kernels.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sparknative.kernels.llama.Checkpoint;
import org.sparknative.kernels.llama.CheckpointFormat;
import org.sparknative.kernels.llama.LlamaConfig;
import org.sparknative.kernels.llama.NativeLlamaModel;
import org.sparknative.kernels.llama.SyntheticCheckpoint;

/**
 * Where CUDA cannot run (this machine and CI): asking for the GPU forward pass fails with the probe's one
 * line, as {@link Cuda#device(int)} does, never with a crash or a link error, and nothing is counted as
 * uploaded or allocated.
 */
class CudaLlamaUnavailableTest {
    @TempDir
    Path tmp;

    @Test
    void uploadWithoutCudaFailsWithTheProbesLine() {
        CudaAvailability a = Cuda.availability();
        assumeFalse(a.usable(), "CUDA is usable here: the gpu-tagged tests cover it");
        Path file = tmp.resolve("small.bin");
        SyntheticCheckpoint.write(file, new LlamaConfig(32, 40, 1, 4, 2, 67, 16, true), 3, CheckpointFormat.V1);
        try (NativeLlamaModel weights = NativeLlamaModel.map(Checkpoint.open(file))) {
            CudaUnavailableException e = assertThrows(CudaUnavailableException.class, () -> CudaLlamaModel.upload(0, weights));
            assertEquals("CUDA backend unavailable: " + a.reason(), e.getMessage());
            assertFalse(e.getMessage().contains("\n"));
            CudaUnavailableException viaDevice = assertThrows(CudaUnavailableException.class,
                () -> CudaLlamaModel.upload(Cuda.device(0), weights));
            assertEquals(e.getMessage(), viaDevice.getMessage());
        }
        assertEquals(0, CudaLlamaModel.uploads());
        assertEquals(0, CudaLlamaBatch.liveDeviceBytes());
        assertEquals(0, Cuda.moduleLoads());
        assertThrows(NullPointerException.class, () -> CudaLlamaModel.upload(0, null));
    }
}

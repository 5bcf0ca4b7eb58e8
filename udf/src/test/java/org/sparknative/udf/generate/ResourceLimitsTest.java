package org.sparknative.udf.generate;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sparknative.kernels.llama.Checkpoint;
import org.sparknative.kernels.llama.LlamaConfig;
import org.sparknative.kernels.llama.NativeLlamaModel;
import org.sparknative.kernels.testing.TestModels;

/** Requests beyond the machine's memory or disk are clear errors, never a dead JVM or a half-written file. */
class ResourceLimitsTest {
    @TempDir
    Path tmp;

    @Test
    void aKvCacheThatCannotBeAllocatedIsATaskErrorNotAnOutOfMemoryError() {
        Checkpoint ckpt = Checkpoint.open(TestModels.require("stories260K.bin"));
        try (NativeLlamaModel model = NativeLlamaModel.map(ckpt)) {
            // 2e9 slots of 640 KiB: about 1.2 PiB, which no allocator grants; an OutOfMemoryError here would be
            // fatal to a Spark executor, an IllegalStateException is one task's error.
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> model.newBatch(2_000_000_000, 1));
            assertTrue(e.getMessage().contains("cannot allocate the f32 KV cache of 2000000000 slots")
                && e.getMessage().contains("lower --slots"), e.getMessage());
            model.newBatch(2, 4).close(); // the model is still usable
        }
    }

    @Test
    void aSyntheticModelThatDoesNotFitOnTheDiskIsRefusedBeforeWriting() throws Exception {
        LlamaConfig llama70b = LlamaConfig.parse("dim=8192,hidden=28672,layers=80,heads=64,kv_heads=8,vocab=32000,seq=4096");
        Path dir = tmp.resolve("synthetic");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
            () -> SyntheticModels.checkpoint(dir, llama70b, 1));
        assertTrue(e.getMessage().startsWith("synthetic model dim=8192") && e.getMessage().contains(" free"), e.getMessage());
        try (var files = Files.list(dir)) {
            assertFalse(files.findAny().isPresent(), "a partial file was written");
        }
    }
}

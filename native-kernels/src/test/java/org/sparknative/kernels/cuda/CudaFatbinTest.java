package org.sparknative.kernels.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/**
 * The build's CUDA fatbin, without a GPU: where the build had {@code nvcc} the jar carries SASS for every
 * target architecture and PTX for newer GPUs, each holding every kernel; where it had none, the fatbin is
 * absent and the reason is one line. The reader refuses malformed containers with a message.
 */
class CudaFatbinTest {
    static boolean nvccOnPath() {
        for (String dir : System.getenv().getOrDefault("PATH", "").split(File.pathSeparator)) {
            if (!dir.isEmpty() && Files.isExecutable(Path.of(dir, "nvcc"))) {
                return true;
            }
        }
        return false;
    }

    @Test
    void theFatbinHoldsEveryKernelForEveryTargetWhenTheBuildHadNvcc() {
        Optional<CudaFatbin> fatbin = CudaFatbin.load();
        if (!nvccOnPath()) {
            assertFalse(fatbin.isPresent(), "no nvcc here, yet the jar has a fatbin");
            assertEquals("built without CUDA kernels: nvcc was not on the PATH when native-kernels was built",
                CudaFatbin.missingReason());
            return;
        }
        assertTrue(fatbin.isPresent(), "nvcc is on the PATH but the build wrote no " + CudaFatbin.RESOURCE);
        List<String> targets = fatbin.get().entries().stream().map(CudaFatbin.Entry::target).sorted().toList();
        assertEquals(List.of("compute_90", "sm_80", "sm_86", "sm_89", "sm_90"), targets);
        for (CudaFatbin.Entry e : fatbin.get().entries()) {
            assertEquals(CudaFatbin.KERNELS, e.kernels(), e.target());
        }
    }

    /** KERNELS is in name order (the order the reader lists an entry's kernels) and names every llama kernel. */
    @Test
    void theKernelListIsSortedAndHoldsTheLlamaForwardPass() {
        assertEquals(new java.util.TreeSet<>(CudaFatbin.KERNELS).stream().toList(), CudaFatbin.KERNELS);
        for (String k : List.of("sn_llama_embed", "sn_llama_rmsnorm", "sn_llama_matmul", "sn_llama_rope_kv",
            "sn_llama_attention", "sn_llama_swiglu", "sn_llama_residual_add", "sn_llama_argmax")) {
            assertTrue(CudaFatbin.KERNELS.contains(k), k);
        }
    }

    @Test
    void malformedContainersAreRefusedWithTheOffset() {
        IllegalStateException notFatbin = assertThrows(IllegalStateException.class,
            () -> CudaFatbin.parse("not a fatbin at all".getBytes()));
        assertEquals("not a CUDA fatbin: no 0xBA55ED50 magic at offset 0", notFatbin.getMessage());
        Optional<CudaFatbin> fatbin = CudaFatbin.load();
        org.junit.jupiter.api.Assumptions.assumeTrue(fatbin.isPresent(), "built without CUDA kernels");
        byte[] whole = fatbin.get().bytes();
        IllegalStateException cut = assertThrows(IllegalStateException.class,
            () -> CudaFatbin.parse(Arrays.copyOf(whole, whole.length - 100)));
        assertTrue(cut.getMessage().startsWith("fatbin declares " + whole.length + " bytes"), cut.getMessage());
        byte[] badElf = whole.clone();
        badElf[16 + 64] = 0; // the first entry's payload: its ELF magic
        IllegalStateException elf = assertThrows(IllegalStateException.class, () -> CudaFatbin.parse(badElf));
        assertEquals("fatbin entry at offset 16 is not an ELF64 cubin", elf.getMessage());
    }
}

package org.sparknative.kernels.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * The CUDA Llama-2 kernels ({@code sn_llama.cu}) without a GPU: {@code src/test/cuda-emulator/run.sh quick}
 * compiles them with g++ behind a small CUDA shim (fibers for a block's threads, a barrier for
 * {@code __syncthreads}), replays {@link CudaLlamaBatch}'s launch sequence on host buffers, and compares the
 * logits with the CPU forward pass ({@code sn_llama.h}) on a GQA model and an unshared-classifier model of odd
 * widths, and a row's logits alone against the same row in busy steps, bit for bit. It checks the kernels'
 * indexing, reductions, barriers and launch shapes, not CUDA itself; the {@code gpu}-tagged
 * {@code CudaLlamaForwardTest} does that on a device. The full emulation (also a 600-position context and a
 * 300-row prefill step) is {@code run.sh} without arguments, about 15 minutes on 2 cores.
 */
class CudaKernelEmulationTest {
    @Test
    void theLlamaKernelsMatchTheCpuForwardPassInEmulation() throws IOException, InterruptedException {
        Assumptions.assumeTrue(onPath("g++"), "g++ is not on the PATH");
        Path tmp = Files.createDirectories(Path.of("target", "cuda-emulator"));
        ProcessBuilder pb = new ProcessBuilder("sh", "src/test/cuda-emulator/run.sh", "quick").redirectErrorStream(true);
        pb.environment().put("TMPDIR", tmp.toAbsolutePath().toString());
        Process p = pb.start();
        String out;
        try (var in = p.getInputStream()) {
            out = new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
        assertTrue(p.waitFor(10, TimeUnit.MINUTES), "emulation did not finish");
        assertEquals(0, p.exitValue(), out);
        assertTrue(out.contains("gqa: 10 steps") && out.contains("odd-unshared: 10 steps"), out);
        assertTrue(out.contains("10 positions bit-identical alone and in busy steps"), out);
        assertTrue(out.strip().endsWith("emulation OK"), out);
    }

    private static boolean onPath(String tool) {
        String path = System.getenv("PATH");
        if (path == null) {
            return false;
        }
        for (String dir : path.split(java.io.File.pathSeparator)) {
            if (Files.isExecutable(Path.of(dir, tool))) {
                return true;
            }
        }
        return false;
    }
}

package org.sparknative.job;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.nio.file.attribute.PosixFilePermission;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code conf/gpu-discovery.sh}, Spark's GPU discovery script for our executors: the CUDA ordinals of the
 * GPUs nvidia-smi lists, as Spark's resource JSON, narrowed by {@code CUDA_VISIBLE_DEVICES}; none without
 * nvidia-smi. Run against a stand-in nvidia-smi.
 */
class GpuDiscoveryScriptTest {
    @TempDir
    Path tmp;

    private JsonNode run(String gpus, Map<String, String> env) throws Exception {
        Path bin = Files.createDirectories(tmp.resolve("bin" + System.nanoTime()));
        if (gpus != null) {
            Path smi = bin.resolve("nvidia-smi");
            Files.writeString(smi, "#!/bin/sh\nprintf '" + gpus + "'\n");
            Files.setPosixFilePermissions(smi, Set.of(PosixFilePermission.OWNER_READ, PosixFilePermission.OWNER_EXECUTE));
        }
        // Surefire runs in the module directory; the models dir property names the project root.
        Path root = Path.of(System.getProperty("sparknative.models.dir", "../data/models")).getParent().getParent();
        Path script = root.resolve("conf/gpu-discovery.sh");
        ProcessBuilder pb = new ProcessBuilder(new ArrayList<>(List.of("bash", script.toString())));
        pb.environment().put("PATH", bin + ":/usr/bin:/bin");
        pb.environment().remove("CUDA_VISIBLE_DEVICES");
        pb.environment().putAll(env);
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), out);
        return new ObjectMapper().readTree(out);
    }

    private static List<String> addresses(JsonNode json) {
        assertEquals("gpu", json.get("name").asText());
        List<String> out = new ArrayList<>();
        json.get("addresses").forEach(a -> out.add(a.asText()));
        return out;
    }

    @Test
    void listsTheOrdinalsSparkAssignsToTasks() throws Exception {
        assertEquals(List.of("0", "1", "2", "3"), addresses(run("0\\n1\\n2\\n3\\n", Map.of())));
        assertEquals(List.of("0", "1"), addresses(run("0\\n1\\n2\\n3\\n", Map.of("CUDA_VISIBLE_DEVICES", "2,3"))));
        assertEquals(List.of(), addresses(run("", Map.of())));
        assertEquals(List.of(), addresses(run(null, Map.of())));
    }
}

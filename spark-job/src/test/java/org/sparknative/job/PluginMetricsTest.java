package org.sparknative.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sparknative.kernels.testing.FreshJvm;

/**
 * The plugin in a fresh JVM ({@link PluginProbe}): after two generate runs of one model in one session, the driver
 * side holds executor {@code driver}'s report with 1 library load, 1 model map (of the file's bytes), every row and
 * token of both runs and the JVM's pid; and the same counters reached Spark's CSV metrics sink.
 */
class PluginMetricsTest {
    @TempDir
    Path tmp;

    @Test
    void theJobsAddThePluginToTheUsersPluginsOnce() {
        String p = org.sparknative.spark.SparkNativePlugin.CLASS_NAME;
        assertEquals(p, Sessions.withPlugin(""));
        assertEquals("com.example.Other," + p, Sessions.withPlugin("com.example.Other"));
        assertEquals("com.example.Other, " + p, Sessions.withPlugin("com.example.Other, " + p));
    }

    @Test
    void twoRunsInOneSessionLoadAndMapOnceAndTheCountersReachTheDriverAndAMetricsSink() throws Exception {
        String out = FreshJvm.run(PluginProbe.class, tmp.toString());
        Map<String, String> v = new HashMap<>();
        for (String line : out.split("\n")) {
            int eq = line.indexOf('=');
            if (eq > 0 && !line.contains(" ")) {
                v.put(line.substring(0, eq), line.substring(eq + 1).trim());
            }
        }
        ObjectMapper json = new ObjectMapper();
        long rows = 0;
        long prompt = 0;
        long completion = 0;
        for (int run = 1; run <= 2; run++) {
            JsonNode s = json.readTree(tmp.resolve("summary" + run + ".json").toFile());
            rows += s.get("prompts").asLong();
            prompt += s.get("promptTokens").asLong();
            completion += s.get("completionTokens").asLong();
            // Each run's own summary names the executor, with the JVM's totals so far.
            assertEquals("driver", s.get("executors").get(0).get("executorId").asText(), s.toString());
            assertEquals(1, s.get("executors").get(0).get("modelMaps").asLong(), s.toString());
        }
        assertEquals(24, rows);
        assertEquals("driver", v.get("executors"), out);
        assertEquals(v.get("ownPid"), v.get("report.pid"), out);
        assertEquals("1", v.get("report.nativeLibraryLoads"), out);
        assertEquals("1", v.get("report.modelMaps"), out);
        assertEquals(v.get("modelFileBytes"), v.get("report.modelMappedBytes"), out);
        assertEquals(String.valueOf(rows), v.get("report.generateRows"), out);
        assertEquals(String.valueOf(prompt), v.get("report.promptTokens"), out);
        assertEquals(String.valueOf(completion), v.get("report.completionTokens"), out);
        assertTrue(Long.parseLong(v.get("report.nativeNanos")) > 0, out);
        // The CSV sink's files, one per metric, end with the same values.
        assertEquals("1", v.get("csv.nativeLibraryLoads"), out);
        assertEquals("1", v.get("csv.modelsMapped"), out);
        assertEquals(v.get("modelFileBytes"), v.get("csv.modelMappedBytes"), out);
        assertEquals(String.valueOf(rows), v.get("csv.generateRows"), out);
        assertEquals(String.valueOf(prompt), v.get("csv.promptTokens"), out);
        assertEquals(String.valueOf(completion), v.get("csv.completionTokens"), out);
        assertEquals("0", v.get("csv.integrateRows"), out);
        assertEquals("0", v.get("csv.kvCacheBytes"), out);
        assertEquals("0", v.get("csv.cudaModuleLoads"), out); // a CPU run touches no GPU
        assertEquals("0", v.get("csv.deviceWeightUploads"), out);
        assertEquals("0", v.get("csv.deviceBatchBytes"), out);
        assertTrue(Long.parseLong(v.get("csv.nativeTimeNanos")) >= Long.parseLong(v.get("report.nativeNanos")), out);
    }
}

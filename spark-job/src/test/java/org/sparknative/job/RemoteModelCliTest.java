package org.sparknative.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sparknative.kernels.llama.LlamaConfig;
import org.sparknative.spark.ModelCache;
import org.sparknative.spark.TestFs;
import org.sparknative.udf.generate.SyntheticModels;

/**
 * A model on a Hadoop filesystem URI ({@code testfs://}, a test {@code FileSystem} over the local disk that the
 * test classpath registers with Hadoop's service loader, so the same path as hdfs:// or s3a://) generates exactly what the
 * same model as a local path does, and the executor copies it once, not once per task.
 */
class RemoteModelCliTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;

    @Test
    void aModelOnAHadoopUriGeneratesWhatTheLocalPathDoesAndIsCopiedOncePerExecutor() throws Exception {
        LlamaConfig shape = new LlamaConfig(32, 64, 2, 4, 2, 300, 64, true);
        Path ckpt = SyntheticModels.checkpoint(dir, shape, 5L);
        Path tok = SyntheticModels.byteLevelTokenizer(dir, shape.vocabSize());
        Path prompts = dir.resolve("prompts.jsonl");
        List<String> lines = new ArrayList<>();
        for (int i = 0; i < 40; i++) {
            lines.add("{\"id\": " + i + ", \"prompt\": \"prompt number " + i + "\"}");
        }
        Files.write(prompts, lines);
        String[] common = {"generate", "--master", "local[2]", "--input", prompts.toString(), "--max-new-tokens", "12",
            "--partitions", "4", "--format", "json"};
        CliRun local = CliRun.of(ClusterIT.concat(common, "--model", ckpt.toString(), "--tokenizer", tok.toString(),
            "--output", dir.resolve("local").toString()));
        assertEquals(0, local.exit(), local.err());
        int copies = ModelCache.copyCount();
        CliRun remote = CliRun.of(ClusterIT.concat(common, "--model", TestFs.uri(ckpt), "--tokenizer", TestFs.uri(tok),
            "--output", dir.resolve("remote").toString()));
        assertEquals(0, remote.exit(), remote.err());
        assertEquals(2, ModelCache.copyCount() - copies, "the model and the tokenizer, each copied once for 4 tasks");
        List<String> a = completions(dir.resolve("local"));
        assertEquals(40, a.size());
        assertEquals(a, completions(dir.resolve("remote")));

        CliRun missing = CliRun.of(ClusterIT.concat(common, "--model", TestFs.uri(dir.resolve("gone.bin")), "--tokenizer",
            TestFs.uri(tok), "--output", dir.resolve("missing").toString()));
        assertEquals(1, missing.exit(), missing.err());
        assertTrue(missing.err().contains("error: " + TestFs.uri(dir.resolve("gone.bin")) + ": model file not found"),
            missing.err());
    }

    private static List<String> completions(Path out) throws Exception {
        List<String> rows = new ArrayList<>();
        try (Stream<Path> files = Files.list(out)) {
            for (Path f : files.filter(f -> f.getFileName().toString().startsWith("part-")).toList()) {
                for (String line : Files.readAllLines(f)) {
                    JsonNode n = JSON.readTree(line);
                    rows.add(n.path("id").asLong() + "|" + n.path("completion").asText() + "|" + n.path("finish_reason").asText());
                }
            }
        }
        rows.sort(null);
        return rows;
    }
}

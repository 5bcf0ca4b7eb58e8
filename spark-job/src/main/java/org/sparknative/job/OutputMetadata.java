package org.sparknative.job;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import org.apache.hadoop.fs.FileSystem;
import org.sparknative.kernels.llama.ModelFile;
import org.sparknative.udf.BadRowPolicy;
import org.sparknative.udf.generate.GenerationParams;

/**
 * What made a {@code generate} output: the file {@value #FILE} in the output folder (hidden from Spark's
 * readers by its leading underscore), written once when the output is created. {@code --resume} compares
 * it with the run being resumed and refuses when anything that changes a row's text differs: the model
 * and tokenizer files (SHA-256), the checkpoint format, the backend, the job seed, the default generation
 * settings, the long-prompts policy, and the output format (one dataset has one format). The slot count,
 * prefill budget, threads, partitions and chunk size do not change the text and may differ.
 *
 * @param tool            {@code spark-native generate}
 * @param created         when the output was created (ISO-8601)
 * @param model           the checkpoint's path, for people (the hash is what is compared)
 * @param modelSha256     SHA-256 of the checkpoint file, lower-case hex
 * @param modelFormat     the llama2.c checkpoint format
 * @param modelShape      the model's shape, for people
 * @param tokenizer       the tokenizer's path, for people
 * @param tokenizerSha256 SHA-256 of the tokenizer file
 * @param backend         {@code cpu}, {@code java}, {@code cuda}, {@code auto}; with {@code (cublas matmul)} after
 *                        a CUDA backend whose matrix products are not batch-invariant
 * @param seed            the job seed
 * @param maxNewTokens    the default generated-token budget
 * @param temperature     the default temperature
 * @param topP            the default nucleus mass
 * @param longPrompts     the long-prompts policy
 * @param format          the output format: parquet, json or csv
 * @param topK            the default top-k (0: every token); outputs made before it existed read as 0
 * @param repetitionPenalty the default repetition penalty (1: none); outputs made before it existed read as 1
 * @param stop            the default stop strings; outputs made before they existed read as none
 * @param kvCache         the KV cache type the run used ({@code f32} or {@code f16}); outputs made before the
 *                        setting existed read as {@code f32}, the only cache then
 */
record OutputMetadata(String tool, String created, String model, String modelSha256, String modelFormat,
                      String modelShape, String tokenizer, String tokenizerSha256, String backend, long seed,
                      int maxNewTokens, float temperature, float topP, String longPrompts, String format, Integer topK,
                      Float repetitionPenalty, List<String> stop, String kvCache) {
    OutputMetadata {
        topK = topK == null ? 0 : topK;
        repetitionPenalty = repetitionPenalty == null ? 1f : repetitionPenalty;
        stop = stop == null ? List.of() : List.copyOf(stop);
        kvCache = kvCache == null ? "f32" : kvCache;
    }

    /** The metadata file's name in the output folder. */
    static final String FILE = "_sparknative.json";
    static final String TOOL = "spark-native generate";

    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT)
        .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);

    /**
     * Describes this run from the model's header and the files' SHA-256s. A llama2.c checkpoint's format reads
     * {@code V1} or {@code LEGACY} (as outputs made before GGUF did), a GGUF model's {@code GGUF v3, <tensor types>};
     * a GGUF model's own tokenizer is a null tokenizer and SHA-256 (the model's SHA-256 covers it).
     */
    static OutputMetadata of(ModelFile.Info ckpt, String model, String modelSha256, String tokenizer,
                             String tokenizerSha256, String backend, GenerationParams defaults,
                             BadRowPolicy longPrompts, DataIO.Format format, String kvCache) {
        return new OutputMetadata(TOOL, Instant.now().toString(), model, modelSha256,
            ckpt.gguf() ? ckpt.format() + ", " + ckpt.tensorTypes()
                : ckpt.format().substring(ckpt.format().indexOf(' ') + 1).toUpperCase(java.util.Locale.ROOT),
            ckpt.config().toString(), tokenizer, tokenizerSha256, backend,
            defaults.seed(), defaults.maxNewTokens(), defaults.temperature(), defaults.topP(), longPrompts.label(),
            format.name().toLowerCase(java.util.Locale.ROOT), defaults.topK(), defaults.repetitionPenalty(), defaults.stop(),
            kvCache);
    }

    /**
     * @return one phrase per setting that differs, {@code the output was made with seed 42, this run has seed 7};
     *         empty when {@code run} may resume this output
     */
    List<String> differences(OutputMetadata run) {
        List<String> d = new ArrayList<>();
        if (!Objects.equals(modelSha256, run.modelSha256) || !Objects.equals(modelFormat, run.modelFormat)) {
            differ(d, "model " + modelLabel(model, modelSha256, modelFormat),
                "model " + modelLabel(run.model, run.modelSha256, run.modelFormat));
        }
        if (!Objects.equals(tokenizerSha256, run.tokenizerSha256)) {
            differ(d, "tokenizer " + modelLabel(tokenizer, tokenizerSha256, null),
                "tokenizer " + modelLabel(run.tokenizer, run.tokenizerSha256, null));
        }
        check(d, "backend", backend, run.backend);
        check(d, "seed", seed, run.seed);
        check(d, "max-new-tokens", maxNewTokens, run.maxNewTokens);
        check(d, "temperature", temperature, run.temperature);
        check(d, "top-p", topP, run.topP);
        check(d, "top-k", topK, run.topK);
        check(d, "repetition-penalty", repetitionPenalty, run.repetitionPenalty);
        check(d, "stop", stop, run.stop);
        check(d, "kv-cache", kvCache, run.kvCache);
        check(d, "long-prompts", longPrompts, run.longPrompts);
        check(d, "format", format, run.format);
        return d;
    }

    private static void check(List<String> d, String name, Object made, Object now) {
        if (!Objects.equals(made, now)) {
            differ(d, name + " " + made, name + " " + now);
        }
    }

    private static void differ(List<String> d, String made, String now) {
        d.add("the output was made with " + made + ", this run has " + now);
    }

    private static String modelLabel(String path, String sha, String format) {
        String name = path == null ? "?" : Path.of(path).getFileName().toString();
        String hash = sha == null ? "?" : sha.substring(0, Math.min(12, sha.length()));
        return name + " (sha256 " + hash + (format == null ? "" : ", " + format) + ")";
    }

    /** Writes this as JSON to {@code file} (which must not exist) through a hidden temporary file and a rename. */
    void write(FileSystem fs, org.apache.hadoop.fs.Path file) throws IOException {
        org.apache.hadoop.fs.Path tmp = file.suffix(".tmp");
        writeJson(fs, tmp, this);
        if (!fs.rename(tmp, file)) {
            throw new IOException("cannot rename " + tmp + " to " + file);
        }
    }

    /** @return the metadata in {@code file}, or null if there is none */
    static OutputMetadata read(FileSystem fs, org.apache.hadoop.fs.Path file) throws IOException {
        if (!fs.exists(file)) {
            return null;
        }
        try (InputStream in = fs.open(file)) {
            return JSON.readValue(in.readAllBytes(), OutputMetadata.class);
        }
    }

    /** Writes {@code value} (a record) as JSON to {@code file}. */
    static void writeJson(FileSystem fs, org.apache.hadoop.fs.Path file, Object value) throws IOException {
        byte[] bytes = JSON.writeValueAsBytes(value);
        try (OutputStream out = fs.create(file, true)) {
            out.write(bytes);
        }
    }

    /** @return the JSON in {@code file} as a {@code type} */
    static <T> T readJson(FileSystem fs, org.apache.hadoop.fs.Path file, Class<T> type) throws IOException {
        try (InputStream in = fs.open(file)) {
            return JSON.readValue(in.readAllBytes(), type);
        }
    }
}

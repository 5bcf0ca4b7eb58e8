package org.sparknative.kernels.gguf;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Writes the seed inputs of {@link GgufFuzzTest} into its Jazzer inputs directory (a tool, not a test; the seeds are
 * committed, and replayed by every default build):
 *
 * <pre>
 * java -cp CLASSPATH org.sparknative.kernels.gguf.GgufFuzzSeeds native-kernels/src/test/resources
 * </pre>
 */
public final class GgufFuzzSeeds {
    private GgufFuzzSeeds() {
    }

    public static void main(String[] args) throws Exception {
        Path dir = Files.createDirectories(Path.of(args[0]).resolve("org/sparknative/kernels/gguf/GgufFuzzTestInputs/ggufOpen"));
        // several value types, four tensors of four types
        Files.write(dir.resolve("seed-sample-v3"), GgufValidationTest.sample());
        // every value type, nested arrays, v2, alignment 64, Q4_0 and BF16 tensors
        GgufWriter every = new GgufWriter().version(2).alignment(64);
        GgufRoundTripTest.everyValueType().forEach(every::put);
        every.addTensor("q4", GgmlType.Q4_0, new long[] {32, 2}, new float[64])
            .addTensor("bf", GgmlType.BF16, new long[] {2, 2}, new float[] {1, -1, 0.5f, 2});
        Files.write(dir.resolve("seed-every-type-v2-align64"), every.toBytes());
        // a llama-like header: architecture, shape keys, a small vocabulary, a norm and a Q8_0 weight
        Files.write(dir.resolve("seed-llama-like"), new GgufWriter().putString("general.architecture", "llama")
            .putUint32("llama.embedding_length", 32).putUint32("llama.block_count", 1)
            .putUint32("llama.attention.head_count", 4).putFloat32("llama.attention.layer_norm_rms_epsilon", 1e-5f)
            .putStringArray("tokenizer.ggml.tokens", "<unk>", "<s>", "</s>", "<0x0A>", "\u2581a")
            .putFloat32Array("tokenizer.ggml.scores", 0, 0, 0, 0, -1).putInt32Array("tokenizer.ggml.token_type", 2, 3, 3, 6, 1)
            .putUint32("tokenizer.ggml.bos_token_id", 1)
            .addTensor("output_norm.weight", GgmlType.F32, new long[] {32}, new float[32])
            .addTensor("token_embd.weight", GgmlType.Q8_0, new long[] {32, 5}, new float[160])
            .toBytes());
    }
}

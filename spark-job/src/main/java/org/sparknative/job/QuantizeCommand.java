package org.sparknative.job;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.sparknative.kernels.gguf.GgmlType;
import org.sparknative.kernels.gguf.GgufConverter;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code spark-native quantize}: converts a llama2.c checkpoint (with its tokenizer) or a GGUF file into a GGUF file
 * of F32, F16, BF16, Q8_0 or Q4_0 tensors ({@link GgufConverter}). Runs on the local machine; no Spark.
 */
@Command(name = "quantize", mixinStandardHelpOptions = true, sortOptions = false,
    description = {"Convert a llama2.c .bin (with --tokenizer) or a GGUF file into GGUF f32, f16, bf16, q8_0 or q4_0.",
        "Tensors whose rows are not whole blocks of 32, and the norms, stay f32, as llama.cpp's quantize does."})
final class QuantizeCommand implements Callable<Integer> {
    @Option(names = "--input", required = true, description = "A llama2.c checkpoint (.bin) or a GGUF file.")
    Path input;

    @Option(names = "--tokenizer", description = "The llama2.c tokenizer.bin of a .bin input (a GGUF file carries its own).")
    Path tokenizer;

    @Option(names = "--type", required = true, description = "f32, f16, bf16, q8_0 or q4_0.")
    String type;

    @Option(names = "--output", required = true, description = "The GGUF file to write (replaced if it exists).")
    Path output;

    @Override
    public Integer call() throws Exception {
        GgmlType t = IntegrateJob.usage(() -> GgufConverter.parseType(type));
        if (!Files.isRegularFile(input)) {
            throw new UsageException("--input " + input + ": no such file");
        }
        if (Files.exists(output) && Files.isSameFile(input, output)) {
            throw new UsageException("--output " + output + " is the input; write to another file");
        }
        boolean gguf = isGguf(input);
        if (!gguf && tokenizer == null) {
            throw new UsageException("--input " + input + " is a llama2.c checkpoint: give its --tokenizer, which the "
                + "GGUF file embeds");
        }
        if (gguf && tokenizer != null) {
            throw new UsageException("--tokenizer is for a llama2.c input; " + input + " is GGUF and carries its own");
        }
        long t0 = System.nanoTime();
        GgufConverter.Result r = gguf ? GgufConverter.fromGguf(input, t, output)
            : GgufConverter.fromLlama2c(input, tokenizer, t, output);
        System.out.printf(Locale.ROOT, "quantize: %s -> %s (%s), %,d bytes, tensors %s, %.1f s%n", input, output,
            t.ggmlName(), r.bytes(), r.describe(), (System.nanoTime() - t0) / 1e9);
        return 0;
    }

    /** @return whether {@code file} starts with GGUF's magic */
    private static boolean isGguf(Path file) throws java.io.IOException {
        try (var in = Files.newInputStream(file)) {
            byte[] magic = in.readNBytes(4);
            return magic.length == 4 && magic[0] == 'G' && magic[1] == 'G' && magic[2] == 'U' && magic[3] == 'F';
        }
    }
}

package org.sparknative.udf.generate;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import org.sparknative.kernels.llama.Checkpoint;
import org.sparknative.kernels.llama.CheckpointFormat;
import org.sparknative.kernels.llama.LlamaConfig;
import org.sparknative.kernels.llama.SyntheticCheckpoint;
import org.sparknative.kernels.llama.TokenizerWriter;

/**
 * Synthetic models on disk for the {@code --synthetic-model} option and the benchmark: a seeded v1
 * checkpoint of a shape and a byte-level tokenizer of its vocabulary, each written once per directory
 * (to a temporary file, then renamed, so concurrent runs never see a partial file).
 */
public final class SyntheticModels {
    private SyntheticModels() {
    }

    /** The default directory: {@code ${java.io.tmpdir}/spark-native-synthetic}. */
    public static Path defaultDir() {
        return Path.of(System.getProperty("java.io.tmpdir"), "spark-native-synthetic");
    }

    /**
     * @return the checkpoint for {@code (shape, seed)} in {@code dir}, written if missing or of the wrong length
     * @throws IllegalArgumentException before writing anything, if the file would not fit on the disk
     */
    public static Path checkpoint(Path dir, LlamaConfig shape, long seed) {
        Path file = dir.resolve(shape.toString().replaceAll("[^a-z0-9]+", "_") + "_seed" + seed + ".bin");
        try {
            long bytes = Checkpoint.expectedFileBytes(CheckpointFormat.V1, shape);
            if (!Files.isRegularFile(file) || Files.size(file) != bytes) {
                Files.createDirectories(dir);
                long free = Files.getFileStore(dir).getUsableSpace();
                if (bytes > free) {
                    throw new IllegalArgumentException(String.format(java.util.Locale.ROOT,
                        "synthetic model %s needs %,d bytes but %s has %,d free", shape, bytes, dir, free));
                }
                Path tmp = temp(dir, file);
                SyntheticCheckpoint.write(tmp, shape, seed, CheckpointFormat.V1);
                Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write synthetic model " + file + ": " + e.getMessage(), e);
        }
        return file;
    }

    /** @return a byte-level tokenizer of {@code vocabSize} entries in {@code dir}, written if missing */
    public static Path byteLevelTokenizer(Path dir, int vocabSize) {
        Path file = dir.resolve("bytelevel_vocab" + vocabSize + ".bin");
        try {
            if (!Files.isRegularFile(file)) {
                Path tmp = temp(dir, file);
                TokenizerWriter.writeByteLevel(tmp, vocabSize);
                Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write synthetic tokenizer " + file + ": " + e.getMessage(), e);
        }
        return file;
    }

    private static Path temp(Path dir, Path file) throws IOException {
        Files.createDirectories(dir);
        return dir.resolve(file.getFileName() + ".tmp" + ProcessHandle.current().pid() + "-" + Thread.currentThread().getId());
    }
}

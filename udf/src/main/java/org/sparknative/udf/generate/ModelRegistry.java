package org.sparknative.udf.generate;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.sparknative.kernels.llama.Checkpoint;
import org.sparknative.kernels.llama.CheckpointException;
import org.sparknative.kernels.llama.NativeLlamaModel;
import org.sparknative.kernels.llama.NativeTokenizer;
import org.sparknative.kernels.llama.Tokenizer;
import org.sparknative.udf.ExecutorMetrics;
import org.sparknative.udf.ExecutorRuntime;

/**
 * The executor's models: each (checkpoint, tokenizer) pair is validated, memory-mapped and parsed once
 * per executor JVM and shared, read-only, by every task and thread of it. Entries live as long as the
 * JVM (an executor serves one application).
 *
 * <p>Paths are local files on the executor; the Spark layer resolves what the user named (a path, a
 * file shipped with {@code --files}) before it asks for an entry.
 *
 * <p>Threading: thread-safe; concurrent first uses of one model map it once.
 */
public final class ModelRegistry {
    private static final Map<String, Entry> ENTRIES = new ConcurrentHashMap<>();

    private ModelRegistry() {
    }

    /** One model and its tokenizer; the native parts are made on first use. */
    public static final class Entry {
        private final Checkpoint checkpoint;
        private final Path tokenizerPath;
        private volatile Tokenizer javaTokenizer;
        private volatile NativeLlamaModel nativeModel;
        private volatile NativeTokenizer nativeTokenizer;

        private Entry(Checkpoint checkpoint, Path tokenizerPath) {
            this.checkpoint = checkpoint;
            this.tokenizerPath = tokenizerPath;
        }

        /** @return the validated checkpoint header */
        public Checkpoint checkpoint() {
            return checkpoint;
        }

        /** @return the pure-Java tokenizer, parsed and checked against the model's vocabulary */
        public Tokenizer javaTokenizer() {
            if (javaTokenizer == null) {
                synchronized (this) {
                    if (javaTokenizer == null) {
                        javaTokenizer = Tokenizer.load(tokenizerPath, checkpoint.config().vocabSize());
                    }
                }
            }
            return javaTokenizer;
        }

        /** @return the weights, memory-mapped once per JVM */
        public NativeLlamaModel nativeModel() {
            if (nativeModel == null) {
                synchronized (this) {
                    if (nativeModel == null) {
                        ExecutorRuntime.ensureNativeLoaded();
                        nativeModel = NativeLlamaModel.map(checkpoint);
                        ExecutorMetrics.modelMapped(checkpoint.fileBytes());
                    }
                }
            }
            return nativeModel;
        }

        /** @return the C tokenizer, loaded once per JVM */
        public NativeTokenizer nativeTokenizer() {
            if (nativeTokenizer == null) {
                synchronized (this) {
                    if (nativeTokenizer == null) {
                        ExecutorRuntime.ensureNativeLoaded();
                        nativeTokenizer = NativeTokenizer.load(tokenizerPath, checkpoint.config().vocabSize());
                    }
                }
            }
            return nativeTokenizer;
        }
    }

    /**
     * @param ckpt the checkpoint file on this executor
     * @param tok  its tokenizer file
     * @return the executor's entry for this checkpoint and tokenizer, opening and validating both on first use
     * @throws CheckpointException if a file is missing, or the checkpoint or tokenizer is invalid
     */
    public static Entry get(Path ckpt, Path tok) {
        requireFile(ckpt, "model");
        requireFile(tok, "tokenizer");
        String key = ckpt.toAbsolutePath().normalize() + "\u0000" + tok.toAbsolutePath().normalize();
        return ENTRIES.computeIfAbsent(key, k -> {
            Entry e = new Entry(Checkpoint.open(ckpt), tok);
            e.javaTokenizer(); // validate the tokenizer against the model's vocab up front
            return e;
        });
    }

    /** @return how many times this JVM memory-mapped a checkpoint for the native backend ({@link ExecutorMetrics}) */
    public static int nativeMapCount() {
        return (int) ExecutorMetrics.modelMaps();
    }

    /**
     * @throws CheckpointException that says where models come from, unless {@code p} is a regular file
     */
    public static void requireFile(Path p, String what) {
        if (!Files.isRegularFile(p)) {
            throw new CheckpointException(p, what + " file not found. Models in the llama2.c format (stories15M.bin, "
                + "stories260K.bin + tok512.bin, tokenizer.bin) can be downloaded with data/models/fetch.sh; on a cluster, "
                + "put them at the same path on every executor or ship them with spark-submit --files");
        }
    }
}

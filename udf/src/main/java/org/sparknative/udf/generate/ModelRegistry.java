package org.sparknative.udf.generate;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.sparknative.kernels.llama.CheckpointException;
import org.sparknative.kernels.llama.ModelFile;
import org.sparknative.kernels.llama.NativeLlamaModel;
import org.sparknative.kernels.llama.NativeTokenizer;
import org.sparknative.kernels.llama.Tokenizer;
import org.sparknative.udf.ExecutorMetrics;
import org.sparknative.udf.ExecutorRuntime;

/**
 * The executor's models: each (model file, tokenizer, context) is validated, memory-mapped and parsed once
 * per executor JVM and shared, read-only, by every task and thread of it. Entries live as long as the
 * JVM (an executor serves one application).
 *
 * <p>A model is a llama2.c checkpoint, which needs a llama2.c {@code tokenizer.bin}, or a {@code llama} GGUF
 * file ({@link ModelFile}: the format is recognised by the file's magic), which carries its tokenizer: with a
 * GGUF model a tokenizer file is optional and, when given, overrides the embedded one.
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
        private final ModelFile model;
        private final Path tokenizerPath; // null: the GGUF file's own
        private volatile Tokenizer javaTokenizer;
        private volatile NativeLlamaModel nativeModel;
        private volatile NativeTokenizer nativeTokenizer;

        private Entry(ModelFile model, Path tokenizerPath) {
            this.model = model;
            this.tokenizerPath = tokenizerPath;
        }

        /** @return the validated model file (its {@code config().seqLen()} is the context it runs with) */
        public ModelFile model() {
            return model;
        }

        /** @return the pure-Java tokenizer, parsed and checked against the model's vocabulary */
        public Tokenizer javaTokenizer() {
            if (javaTokenizer == null) {
                synchronized (this) {
                    if (javaTokenizer == null) {
                        javaTokenizer = model.javaTokenizer(tokenizerPath);
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
                        nativeModel = model.map();
                        ExecutorMetrics.modelMapped(model.fileBytes());
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
                        nativeTokenizer = model.nativeTokenizer(tokenizerPath);
                    }
                }
            }
            return nativeTokenizer;
        }
    }

    /** {@link #get(Path, Path, int)} with the model's own context. */
    public static Entry get(Path ckpt, Path tok) {
        return get(ckpt, tok, 0);
    }

    /**
     * @param ckpt          the model file on this executor: a llama2.c checkpoint or a GGUF file
     * @param tok           its tokenizer file; null for a GGUF model's own tokenizer
     * @param contextLength positions each sequence may use (the KV cache length), {@code <= 0} for the model's
     *                      own ({@link ModelFile#open(Path, int)})
     * @return the executor's entry for this model, tokenizer and context, opening and validating both on first use
     * @throws CheckpointException if a file is missing, the model or tokenizer is invalid, or a llama2.c
     *                             checkpoint comes without a tokenizer
     */
    public static Entry get(Path ckpt, Path tok, int contextLength) {
        requireFile(ckpt, "model");
        if (tok != null) {
            requireFile(tok, "tokenizer");
        }
        String key = ckpt.toAbsolutePath().normalize() + "\u0000" + (tok == null ? "" : tok.toAbsolutePath().normalize())
            + "\u0000" + Math.max(0, contextLength);
        return ENTRIES.computeIfAbsent(key, k -> {
            Entry e = new Entry(ModelFile.open(ckpt, contextLength), tok);
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
                + "stories260K.bin + tok512.bin, tokenizer.bin) can be downloaded with data/models/fetch.sh, GGUF files"
                + " come from llama.cpp's tools or `spark-native quantize`; on a cluster, "
                + "put them at the same path on every executor or ship them with spark-submit --files");
        }
    }
}

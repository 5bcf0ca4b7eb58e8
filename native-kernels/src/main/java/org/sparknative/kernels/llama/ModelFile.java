package org.sparknative.kernels.llama;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.EnumMap;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.StringJoiner;
import org.sparknative.kernels.gguf.GgmlType;
import org.sparknative.kernels.gguf.GgufFile;
import org.sparknative.kernels.gguf.GgufTokenizer;

/**
 * A model file of either format this project runs, opened and validated: a llama2.c checkpoint ({@link Checkpoint})
 * or a {@code llama} GGUF file ({@link GgufLlama}). The format is recognised by the file's first four bytes (GGUF's
 * magic {@code "GGUF"}), not by its name. One type for everything that uses "the model": the executor's registry maps
 * it ({@link #map()}), builds its tokenizers ({@link #javaTokenizer}, {@link #nativeTokenizer}) and its pure-Java
 * reference ({@link #newReference()}); the driver describes it ({@link #info()}).
 *
 * <p>The context: {@link #open(Path, int)} runs the model with {@code contextLength} positions (its KV cache length,
 * {@code config().seqLen()}). A GGUF model may run with more than its trained {@code llama.context_length} (as
 * llama.cpp's {@code -c} allows); a llama2.c checkpoint only with at most its header's {@code seq_len}, which is also
 * the length of the RoPE tables some of its files carry.
 *
 * <p>Immutable and thread-safe; it holds no open file.
 */
public final class ModelFile {
    private final Checkpoint checkpoint; // null for GGUF
    private final GgufLlama gguf;        // null for llama2.c
    private final LlamaConfig config;

    private ModelFile(Checkpoint checkpoint, GgufLlama gguf) {
        this.checkpoint = checkpoint;
        this.gguf = gguf;
        this.config = checkpoint != null ? checkpoint.config() : gguf.config();
    }

    /** What the driver knows of a model: enough to validate settings and to name the model in a summary. */
    public record Info(String location, String format, LlamaConfig config, long fileBytes, String tensorTypes,
                       boolean gguf, boolean embeddedTokenizer, int trainedContextLength) {
        /** Checks the fields. */
        public Info {
            Objects.requireNonNull(location, "location");
            Objects.requireNonNull(format, "format");
            Objects.requireNonNull(config, "config");
            Objects.requireNonNull(tensorTypes, "tensorTypes");
        }

        /** @return e.g. {@code GGUF v3, Q8_0 x 43 + F32 x 17, dim=64,...} */
        public String describe() {
            return format + ", " + tensorTypes + ", " + config;
        }
    }

    /**
     * @param file a llama2.c checkpoint or a GGUF file
     * @return whether its first four bytes are GGUF's magic
     * @throws CheckpointException naming the file if it cannot be read
     */
    public static boolean isGguf(Path file) {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            ByteBuffer b = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN);
            while (b.hasRemaining() && ch.read(b) >= 0) {
                // read the magic
            }
            return b.position() == 4 && b.getInt(0) == GgufFile.MAGIC;
        } catch (NoSuchFileException e) {
            throw new CheckpointException(file, "model file not found");
        } catch (IOException e) {
            throw new CheckpointException(file, "cannot read the model: " + e, e);
        }
    }

    /**
     * @param magic a file's first four bytes as a little-endian int (any value if the file is shorter)
     * @return whether they are GGUF's magic
     */
    public static boolean isGgufMagic(int magic) {
        return magic == GgufFile.MAGIC;
    }

    /**
     * Opens and validates a model file with its own context ({@code seq_len} of a llama2.c header, the trained
     * {@code llama.context_length} of a GGUF file).
     *
     * @throws CheckpointException (a {@link org.sparknative.kernels.gguf.GgufException} for GGUF) naming the file,
     *                             the field, key or tensor, and expected vs actual
     */
    public static ModelFile open(Path file) {
        return open(file, 0);
    }

    /**
     * @param file          a llama2.c checkpoint or a {@code llama} GGUF file
     * @param contextLength positions to run with, {@code <= 0} for the model's own (see the class comment)
     * @return the validated model
     * @throws CheckpointException naming the file if it is invalid, or if {@code contextLength} exceeds a llama2.c
     *                             checkpoint's {@code seq_len}
     */
    public static ModelFile open(Path file, int contextLength) {
        if (isGguf(file)) {
            return new ModelFile(null, GgufLlama.of(GgufFile.open(file), contextLength));
        }
        Checkpoint c = Checkpoint.open(file);
        return new ModelFile(contextLength > 0 ? c.withContext(contextLength) : c, null);
    }

    /** @return the llama2.c checkpoint, or null for a GGUF model */
    public Checkpoint checkpoint() {
        return checkpoint;
    }

    /** @return the GGUF model, or null for a llama2.c checkpoint */
    public GgufLlama gguf() {
        return gguf;
    }

    /** @return whether this is a GGUF model */
    public boolean isGguf() {
        return gguf != null;
    }

    /** @return the shape; {@code seqLen()} is the context this model runs with */
    public LlamaConfig config() {
        return config;
    }

    /** @return the file */
    public Path path() {
        return checkpoint != null ? checkpoint.path() : gguf.file().path();
    }

    /** @return the file's length in bytes */
    public long fileBytes() {
        return checkpoint != null ? checkpoint.fileBytes() : gguf.file().fileBytes();
    }

    /** @return the driver's description of this model */
    public Info info() {
        return checkpoint != null ? info(path().toString(), checkpoint.header()) : info(gguf);
    }

    /** @return the description of a llama2.c checkpoint from its header alone (a file the driver reads remotely) */
    public static Info info(String location, Checkpoint.Header h) {
        return info(location, h, 0);
    }

    /**
     * @param contextLength positions to run with, {@code <= 0} for the header's {@code seq_len}, which it may not
     *                      exceed ({@link Checkpoint#withContext(String, LlamaConfig, int)})
     * @return the description of a llama2.c checkpoint from its header alone, run with {@code contextLength}
     * @throws CheckpointException naming {@code location} for a context over the checkpoint's {@code seq_len}
     */
    public static Info info(String location, Checkpoint.Header h, int contextLength) {
        LlamaConfig run = contextLength > 0 ? Checkpoint.withContext(location, h.config(), contextLength) : h.config();
        return new Info(location, "llama2.c " + h.format().name().toLowerCase(Locale.ROOT), run, h.fileBytes(),
            "F32", false, false, h.config().seqLen());
    }

    /** @return the description of a GGUF model (a local file, or one read with {@link GgufFile#read}) */
    public static Info info(GgufLlama model) {
        GgufFile f = model.file();
        return new Info(f.location(), "GGUF v" + f.version(), model.config(), f.fileBytes(), tensorTypes(model), true,
            f.has(GgufTokenizer.MODEL_KEY), model.trainedContextLength());
    }

    /** @return the weight types by tensor count, most first, e.g. {@code Q4_0 x 49 + Q8_0 x 1 + F32 x 13} */
    static String tensorTypes(GgufLlama model) {
        Map<GgmlType, Integer> n = new EnumMap<>(GgmlType.class);
        for (Tensor t : Tensor.values()) {
            int layers = GgufLlama.perLayer(t) ? model.config().nLayers() : 1;
            for (int l = 0; l < layers; l++) {
                GgufLlama.TensorRef r = model.tensor(t, l);
                if (r != null && (t != Tensor.WCLS || !model.config().sharedClassifier())) {
                    n.merge(r.type(), 1, Integer::sum);
                }
            }
        }
        StringJoiner j = new StringJoiner(" + ");
        n.entrySet().stream().sorted((a, b) -> b.getValue() - a.getValue())
            .forEach(e -> j.add(e.getKey() + " x " + e.getValue()));
        return j.toString();
    }

    /**
     * Maps the weights for the native backend.
     *
     * @throws CheckpointException if the file cannot be mapped or changed since it was opened
     */
    public NativeLlamaModel map() {
        return checkpoint != null ? NativeLlamaModel.map(checkpoint) : NativeLlamaModel.mapGguf(gguf);
    }

    /**
     * @param override a llama2.c tokenizer file, or null: the tokenizer the GGUF file carries (a llama2.c checkpoint
     *                 has none, so it needs one)
     * @return a new Java tokenizer of this model's vocabulary
     * @throws CheckpointException naming the file and key if the tokenizer is missing, unsupported or of another
     *                             vocabulary size
     */
    public Tokenizer javaTokenizer(Path override) {
        if (gguf != null) {
            return GgufTokenizer.java(gguf.file(), override, config.vocabSize());
        }
        return Tokenizer.load(requireTokenizer(override), config.vocabSize());
    }

    /**
     * As {@link #javaTokenizer(Path)}, the C tokenizer, which the caller owns and must close.
     */
    public NativeTokenizer nativeTokenizer(Path override) {
        if (gguf != null) {
            return GgufTokenizer.nativeTokenizer(gguf.file(), override, config.vocabSize());
        }
        return NativeTokenizer.load(requireTokenizer(override), config.vocabSize());
    }

    private Path requireTokenizer(Path override) {
        if (override == null) {
            throw new CheckpointException(path(), "a llama2.c checkpoint carries no tokenizer: give its tokenizer.bin"
                + " (--tokenizer)");
        }
        return override;
    }

    /** @return a new pure-Java forward pass with its own KV cache of the format's default type (not thread-safe) */
    public ReferenceTransformer newReference() {
        return newReference(KvCacheType.AUTO);
    }

    /** @return a new pure-Java forward pass with its own KV cache of {@code kvCache} (not thread-safe) */
    public ReferenceTransformer newReference(KvCacheType kvCache) {
        return checkpoint != null ? new ReferenceTransformer(checkpoint, kvCache) : new ReferenceTransformer(gguf, kvCache);
    }

    @Override
    public String toString() {
        return checkpoint != null ? checkpoint.toString() : gguf.toString();
    }
}

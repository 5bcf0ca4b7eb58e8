package org.sparknative.kernels.gguf;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.sparknative.kernels.llama.Checkpoint;
import org.sparknative.kernels.llama.CheckpointException;
import org.sparknative.kernels.llama.LlamaConfig;
import org.sparknative.kernels.llama.Tensor;
import org.sparknative.kernels.llama.Tokenizer;

/**
 * Converts a model into a GGUF file of one tensor type: a llama2.c checkpoint with its tokenizer, or a GGUF file
 * (what {@code spark-native quantize} runs).
 *
 * <p>Which tensors take the type: every 2-D weight whose row length ({@code ne0}) is a multiple of the type's block
 * size (32 for Q8_0 and Q4_0; any for F32, F16, BF16). The others, and every 1-D tensor (the RMSNorm weights), stay
 * F32, as llama.cpp's quantize tool leaves them (its stories260K Q8_0 and Q4_0 files keep {@code ffn_down}, rows of
 * 172, in F32). Values are converted by {@link Quants}, ggml's reference quantizers, so quantizing llama.cpp's F32
 * stories260K file gives its F16, Q8_0 and Q4_0 files' tensors byte for byte.
 *
 * <p>A llama2.c checkpoint becomes GGUF architecture {@code llama} with the tensor names and metadata llama.cpp's
 * own llama2.c converter writes ({@code token_embd}, {@code blk.N.attn_q}, ..., {@code output_norm},
 * {@code output}; {@code llama.*} shape keys; the vocabulary as {@code tokenizer.ggml.*} with "▁" for spaces).
 * llama2.c rotates adjacent pairs in RoPE, as llama.cpp does for {@code llama}, so no weight is permuted.
 * {@code llama.context_length} is the checkpoint's {@code seq_len}. A shared classifier writes no
 * {@code output.weight}: a reader then uses {@code token_embd}, as the GGUF convention says.
 *
 * <p>Memory: the output's tensors are held until the file is written (about the output file's size); a GGUF input is
 * dequantized one tensor at a time. The output is written to a temporary file beside it and moved into place, so a
 * failed conversion leaves no partial file. Not thread-safe; stateless between calls.
 */
public final class GgufConverter {
    private GgufConverter() {
    }

    /**
     * What a conversion wrote.
     *
     * @param output  the file
     * @param bytes   its size
     * @param tensors how many tensors of each type it holds
     */
    public record Result(Path output, long bytes, Map<GgmlType, Integer> tensors) {
        /** @return e.g. {@code q8_0: 37, f32: 16} */
        public String describe() {
            List<String> parts = new ArrayList<>();
            tensors.forEach((t, n) -> parts.add(t.ggmlName() + ": " + n));
            return String.join(", ", parts);
        }
    }

    /**
     * @param name {@code f32}, {@code f16}, {@code bf16}, {@code q8_0} or {@code q4_0} (any case)
     * @return the type
     * @throws IllegalArgumentException for another name, listing the supported ones
     */
    public static GgmlType parseType(String name) {
        for (GgmlType t : GgmlType.values()) {
            if (t.isSupported() && t.ggmlName().equalsIgnoreCase(name.trim())) {
                return t;
            }
        }
        throw new IllegalArgumentException("type must be f32, f16, bf16, q8_0 or q4_0, got '" + name + "'");
    }

    /**
     * @param target the requested type
     * @param dims   the tensor's dims, {@code ne0} first
     * @return the type the tensor is written in: F32 for 1-D tensors and for rows that are not whole blocks
     */
    public static GgmlType typeFor(GgmlType target, long[] dims) {
        if (dims.length < 2 || dims[0] % target.blockSize() != 0) {
            return GgmlType.F32;
        }
        return target;
    }

    /**
     * Converts a llama2.c checkpoint (legacy or v1 float32) and its tokenizer.
     *
     * @param checkpoint the {@code .bin}
     * @param tokenizer  its llama2.c {@code tokenizer.bin}, of the checkpoint's vocabulary size
     * @param type       the tensor type
     * @param output     the GGUF file to write (replaced)
     * @throws CheckpointException naming the file for a bad checkpoint or tokenizer
     */
    public static Result fromLlama2c(Path checkpoint, Path tokenizer, GgmlType type, Path output) {
        requireSupported(type);
        Checkpoint ckpt = Checkpoint.open(checkpoint);
        LlamaConfig c = ckpt.config();
        Tokenizer tok = Tokenizer.load(tokenizer, c.vocabSize());
        GgufWriter w = new GgufWriter();
        w.putString("general.architecture", "llama");
        w.putString("general.name", baseName(checkpoint));
        w.putUint32("general.file_type", fileType(type));
        if (type.isQuantized()) {
            w.putUint32("general.quantization_version", 2);
        }
        w.putUint32("llama.context_length", c.seqLen());
        w.putUint32("llama.embedding_length", c.dim());
        w.putUint32("llama.feed_forward_length", c.hiddenDim());
        w.putUint32("llama.block_count", c.nLayers());
        w.putUint32("llama.attention.head_count", c.nHeads());
        w.putUint32("llama.attention.head_count_kv", c.nKvHeads());
        w.putUint32("llama.rope.dimension_count", c.headSize());
        w.putFloat32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
        w.putFloat32("llama.rope.freq_base", 10000f);
        putTokenizer(w, tok, tokenizer);
        Map<GgmlType, Integer> counts = new EnumMap<>(GgmlType.class);
        try (FileChannel ch = FileChannel.open(checkpoint, StandardOpenOption.READ)) {
            int dim = c.dim();
            int kv = c.kvDim();
            int hidden = c.hiddenDim();
            long embd = (long) c.vocabSize() * dim;
            add(w, counts, type, "token_embd.weight", new long[] {dim, c.vocabSize()},
                floats(ch, ckpt.offset(Tensor.TOKEN_EMBEDDING), embd));
            add(w, counts, type, "output_norm.weight", new long[] {dim}, floats(ch, ckpt.offset(Tensor.RMS_FINAL), dim));
            if (!c.sharedClassifier()) {
                add(w, counts, type, "output.weight", new long[] {dim, c.vocabSize()},
                    floats(ch, ckpt.offset(Tensor.WCLS), embd));
            }
            for (int l = 0; l < c.nLayers(); l++) {
                String p = "blk." + l + ".";
                add(w, counts, type, p + "attn_q.weight", new long[] {dim, dim}, layer(ch, ckpt, Tensor.WQ, l, (long) dim * dim));
                add(w, counts, type, p + "attn_k.weight", new long[] {dim, kv}, layer(ch, ckpt, Tensor.WK, l, (long) kv * dim));
                add(w, counts, type, p + "attn_v.weight", new long[] {dim, kv}, layer(ch, ckpt, Tensor.WV, l, (long) kv * dim));
                add(w, counts, type, p + "attn_output.weight", new long[] {dim, dim}, layer(ch, ckpt, Tensor.WO, l, (long) dim * dim));
                add(w, counts, type, p + "attn_norm.weight", new long[] {dim}, layer(ch, ckpt, Tensor.RMS_ATT, l, dim));
                add(w, counts, type, p + "ffn_gate.weight", new long[] {dim, hidden}, layer(ch, ckpt, Tensor.W1, l, (long) hidden * dim));
                add(w, counts, type, p + "ffn_down.weight", new long[] {hidden, dim}, layer(ch, ckpt, Tensor.W2, l, (long) dim * hidden));
                add(w, counts, type, p + "ffn_up.weight", new long[] {dim, hidden}, layer(ch, ckpt, Tensor.W3, l, (long) hidden * dim));
                add(w, counts, type, p + "ffn_norm.weight", new long[] {dim}, layer(ch, ckpt, Tensor.RMS_FFN, l, dim));
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + checkpoint, e);
        }
        return write(w, counts, output);
    }

    /**
     * Converts a GGUF file into another tensor type: its metadata is kept ({@code general.file_type} set, and
     * {@code general.quantization_version} 2 for quantized types, as llama.cpp writes it), and every tensor is
     * dequantized to float32 and converted. Converting an already quantized file quantizes its rounded values
     * again, which loses more than converting from F32.
     *
     * @param input  a GGUF file of supported tensor types
     * @param type   the tensor type
     * @param output the GGUF file to write (replaced; not the input)
     * @throws CheckpointException naming the file for an invalid input or an unsupported tensor type
     */
    public static Result fromGguf(Path input, GgmlType type, Path output) {
        requireSupported(type);
        GgufFile in = GgufFile.open(input);
        GgufWriter w = new GgufWriter().alignment(in.alignment());
        for (Map.Entry<String, GgufValue> e : in.metadata().entrySet()) {
            String k = e.getKey();
            if (!k.equals(GgufFile.ALIGNMENT_KEY) && !k.equals("general.file_type")
                && !k.equals("general.quantization_version")) {
                w.put(k, e.getValue());
            }
        }
        w.putUint32("general.file_type", fileType(type));
        if (type.isQuantized()) {
            w.putUint32("general.quantization_version", 2);
        }
        Map<GgmlType, Integer> counts = new EnumMap<>(GgmlType.class);
        for (GgufTensor t : in.tensors()) {
            if (!t.type().isSupported()) {
                throw new GgufException(input, "tensor '" + t.name() + "' has type " + t.type().ggmlName()
                    + "; supported: f32, f16, bf16, q8_0, q4_0");
            }
            add(w, counts, type, t.name(), t.dims(), in.dequantize(t));
        }
        return write(w, counts, output);
    }

    private static void add(GgufWriter w, Map<GgmlType, Integer> counts, GgmlType target, String name, long[] dims,
                            float[] values) {
        GgmlType t = typeFor(target, dims);
        w.addTensor(name, t, dims, values);
        counts.merge(t, 1, Integer::sum);
    }

    private static Result write(GgufWriter w, Map<GgmlType, Integer> counts, Path output) {
        Path abs = output.toAbsolutePath();
        Path dir = abs.getParent();
        Path tmp = null;
        try {
            Files.createDirectories(dir);
            tmp = Files.createTempFile(dir, "." + abs.getFileName(), ".part");
            w.write(tmp);
            Files.move(tmp, abs, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            tmp = null;
            return new Result(output, Files.size(abs), counts);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + output + ": " + e.getMessage(), e);
        } finally {
            if (tmp != null) {
                try {
                    Files.deleteIfExists(tmp);
                } catch (IOException e) {
                    // best effort: the temporary file is hidden and named after the output
                }
            }
        }
    }

    /** The pieces of ids 0, 1 and 2 (unknown, BOS, EOS) in a llama vocabulary. */
    private static final String[] SPECIAL = {"<unk>", "<s>", "</s>"};

    /** The vocabulary as llama.cpp stores it: pieces with "▁" for spaces, scores, token types, special ids. */
    private static void putTokenizer(GgufWriter w, Tokenizer tok, Path file) {
        int n = tok.vocabSize();
        String[] pieces = new String[n];
        float[] scores = new float[n];
        int[] types = new int[n];
        var decoder = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
            .onUnmappableCharacter(CodingErrorAction.REPORT);
        for (int i = 0; i < n; i++) {
            String piece;
            try {
                piece = decoder.decode(ByteBuffer.wrap(tok.piece(i))).toString();
            } catch (CharacterCodingException e) {
                throw new CheckpointException(file, "token " + i + " is not valid UTF-8; GGUF stores tokens as strings");
            }
            // llama2.c's tokenizer files spell the special tokens "<unk>", "\n<s>\n" and "\n</s>\n"; SentencePiece
            // (and so GGUF) spells them <unk>, <s>, </s>.
            pieces[i] = i < SPECIAL.length ? SPECIAL[i] : piece.replace(' ', '\u2581');
            scores[i] = tok.score(i);
            if (i == 0) {
                types[i] = 2; // unknown
            } else if (i == Tokenizer.BOS || i == Tokenizer.EOS) {
                types[i] = 3; // control
            } else if (i >= Tokenizer.BYTE_OFFSET && i < Tokenizer.BYTE_OFFSET + 256) {
                types[i] = 6; // byte
            } else {
                types[i] = 1; // normal
            }
        }
        w.putString("tokenizer.ggml.model", "llama");
        w.putStringArray("tokenizer.ggml.tokens", pieces);
        w.putFloat32Array("tokenizer.ggml.scores", scores);
        w.putInt32Array("tokenizer.ggml.token_type", types);
        w.putUint32("tokenizer.ggml.unknown_token_id", 0);
        w.putUint32("tokenizer.ggml.bos_token_id", Tokenizer.BOS);
        w.putUint32("tokenizer.ggml.eos_token_id", Tokenizer.EOS);
    }

    /** llama.cpp's {@code llama_ftype}: 0 all F32, 1 mostly F16, 2 mostly Q4_0, 7 mostly Q8_0, 32 mostly BF16. */
    private static long fileType(GgmlType type) {
        return switch (type) {
            case F32 -> 0;
            case F16 -> 1;
            case Q4_0 -> 2;
            case Q8_0 -> 7;
            case BF16 -> 32;
            default -> throw new IllegalArgumentException("unsupported type " + type);
        };
    }

    private static void requireSupported(GgmlType type) {
        if (!type.isSupported()) {
            throw new IllegalArgumentException("type must be f32, f16, bf16, q8_0 or q4_0, got " + type.ggmlName());
        }
    }

    private static String baseName(Path p) {
        String n = p.getFileName().toString();
        int dot = n.lastIndexOf('.');
        return (dot > 0 ? n.substring(0, dot) : n).toLowerCase(Locale.ROOT);
    }

    private static float[] layer(FileChannel ch, Checkpoint ckpt, Tensor t, int layer, long perLayer) throws IOException {
        return floats(ch, ckpt.offset(t) + 4L * perLayer * layer, perLayer);
    }

    /** Reads {@code count} little-endian floats at {@code offset} (the checkpoint's header checked they are there). */
    private static float[] floats(FileChannel ch, long offset, long count) throws IOException {
        if (count > Integer.MAX_VALUE / 4) {
            throw new IllegalArgumentException("a tensor of " + count + " floats is too large to convert in memory");
        }
        ByteBuffer buf = ByteBuffer.allocate((int) (4 * count)).order(ByteOrder.LITTLE_ENDIAN);
        long pos = offset;
        while (buf.hasRemaining()) {
            int r = ch.read(buf, pos);
            if (r < 0) {
                throw new IOException("unexpected end of file at byte " + pos);
            }
            pos += r;
        }
        buf.flip();
        float[] out = new float[(int) count];
        buf.asFloatBuffer().get(out);
        return out;
    }
}

package org.sparknative.kernels.llama;

import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.SplittableRandom;

/**
 * Writes llama2.c checkpoints of any shape filled with seeded random weights, for tests and benchmarks
 * without real models.
 *
 * <p>Values: matrices and the embedding are uniform in {@code [-a, a]}, by default with
 * {@code a = 0.02 * sqrt(3)} ({@link #DEFAULT_MATRIX_BOUND}: standard deviation 0.02, like the usual
 * N(0, 0.02) initialisation), or with the bound given to {@link #write(Path, LlamaConfig, long,
 * CheckpointFormat, float)} (larger weights give logits spread over several units, which makes native vs
 * reference comparisons more telling); RMSNorm weights are uniform in {@code [0.9, 1.1]}. Every {@link Tensor} has its own generator, split from
 * {@code new SplittableRandom(seed)} in {@link Tensor} declaration order and consumed in row-major order,
 * so a seed gives the same tensors in either {@link CheckpointFormat} (and, scaled, for any bound), and the classifier of an unshared
 * checkpoint ({@link Tensor#WCLS}) is its own random matrix. The legacy format's unused
 * {@code freq_cis_real/imag} arrays hold the RoPE cosines and sines the old exporter wrote.
 *
 * <p>The byte layout (tensor order and offsets) is taken from {@link Checkpoint}, so whatever this
 * writes is what {@link Checkpoint#open} expects. Data is streamed through a small buffer, so any size
 * can be written in constant memory; the file is written under a temporary name beside {@code file}
 * and moved into place when complete.
 *
 * <p>Threading: stateless; concurrent calls must use different files.
 */
public final class SyntheticCheckpoint {
    /** The default bound {@code a} of the matrices' uniform weights: standard deviation 0.02. */
    public static final float DEFAULT_MATRIX_BOUND = (float) (0.02 * Math.sqrt(3.0));

    private SyntheticCheckpoint() {
    }

    /**
     * Writes a checkpoint.
     *
     * @param file   the destination (replaced if it exists)
     * @param config the shape; {@link LlamaConfig#sharedClassifier()} decides whether a classifier
     *               matrix is written
     * @param seed   the weight seed
     * @param format the byte layout
     * @throws UncheckedIOException if writing fails (the partial temporary file is removed)
     */
    public static void write(Path file, LlamaConfig config, long seed, CheckpointFormat format) {
        write(file, config, seed, format, DEFAULT_MATRIX_BOUND);
    }

    /**
     * Writes a checkpoint whose matrices and embedding are uniform in {@code [-matrixBound, matrixBound]}
     * (RMSNorm weights as always in {@code [0.9, 1.1]}).
     *
     * @param matrixBound a finite bound {@code > 0}
     * @throws IllegalArgumentException if {@code matrixBound} is not finite and positive
     * @throws UncheckedIOException     if writing fails (the partial temporary file is removed)
     * @see #write(Path, LlamaConfig, long, CheckpointFormat)
     */
    public static void write(Path file, LlamaConfig config, long seed, CheckpointFormat format, float matrixBound) {
        Objects.requireNonNull(file, "file");
        Objects.requireNonNull(config, "config");
        Objects.requireNonNull(format, "format");
        if (!(matrixBound > 0f) || Float.isInfinite(matrixBound)) {
            throw new IllegalArgumentException("matrixBound must be finite and > 0, got " + matrixBound);
        }
        Map<Tensor, Long> layout = Checkpoint.layout(format, config);
        long total = layout.remove(null);
        if (config.sharedClassifier()) {
            layout.remove(Tensor.WCLS);
        }
        List<Map.Entry<Tensor, Long>> order = new ArrayList<>(layout.entrySet());
        order.sort(Map.Entry.comparingByValue(Comparator.naturalOrder()));

        SplittableRandom root = new SplittableRandom(seed);
        Map<Tensor, SplittableRandom> gens = new EnumMap<>(Tensor.class);
        for (Tensor t : Tensor.values()) {
            gens.put(t, root.split());
        }

        Path tmp = file.resolveSibling(file.getFileName() + ".tmp-" + ProcessHandle.current().pid());
        try (FloatWriter out = new FloatWriter(Files.newOutputStream(tmp))) {
            out.writeHeader(format, config);
            for (Map.Entry<Tensor, Long> e : order) {
                Tensor t = e.getKey();
                long offset = e.getValue();
                if (out.position() < offset) {
                    writeGap(out, format, config, offset - out.position());
                }
                if (out.position() != offset) {
                    throw new IllegalStateException("layout mismatch at " + t + ": at byte " + out.position()
                        + ", expected " + offset);
                }
                writeTensor(out, t, config, gens.get(t), matrixBound);
            }
            if (out.position() < total) {
                writeGap(out, format, config, total - out.position());
            }
            if (out.position() != total) {
                throw new IllegalStateException("layout mismatch at end: wrote " + out.position() + " bytes, expected " + total);
            }
        } catch (IOException e) {
            deleteQuietly(tmp);
            throw new UncheckedIOException("cannot write synthetic checkpoint " + file, e);
        } catch (RuntimeException e) {
            deleteQuietly(tmp);
            throw e;
        }
        try {
            Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            deleteQuietly(tmp);
            throw new UncheckedIOException("cannot move synthetic checkpoint into place at " + file, e);
        }
    }

    /** Number of floats of a tensor for a shape (see the shapes documented on {@link Tensor}). */
    static long elements(Tensor t, LlamaConfig c) {
        long dim = c.dim();
        long layers = c.nLayers();
        return switch (t) {
            case TOKEN_EMBEDDING, WCLS -> (long) c.vocabSize() * dim;
            case RMS_ATT, RMS_FFN -> layers * dim;
            case WQ, WO -> layers * dim * dim;
            case WK, WV -> layers * c.kvDim() * dim;
            case W1, W2, W3 -> layers * c.hiddenDim() * dim;
            case RMS_FINAL -> dim;
        };
    }

    private static void writeTensor(FloatWriter out, Tensor t, LlamaConfig c, SplittableRandom rnd, float matrixBound)
        throws IOException {
        long n = elements(t, c);
        boolean norm = t == Tensor.RMS_ATT || t == Tensor.RMS_FFN || t == Tensor.RMS_FINAL;
        for (long i = 0; i < n; i++) {
            float u = (float) (rnd.nextDouble() * 2.0 - 1.0);
            out.writeFloat(norm ? 1.0f + 0.1f * u : matrixBound * u);
        }
    }

    /** The legacy freq_cis arrays (the only gap any layout has), as the old exporter computed them. */
    private static void writeGap(FloatWriter out, CheckpointFormat format, LlamaConfig c, long bytes) throws IOException {
        int half = c.headSize() / 2;
        long each = (long) c.seqLen() * half;
        if (format != CheckpointFormat.LEGACY || bytes != 4 * 2 * each) {
            throw new IllegalStateException("unexpected gap of " + bytes + " bytes in the " + format + " layout");
        }
        for (int part = 0; part < 2; part++) {
            for (int pos = 0; pos < c.seqLen(); pos++) {
                for (int i = 0; i < half; i++) {
                    double angle = pos / Math.pow(10000.0, 2.0 * i / c.headSize());
                    out.writeFloat((float) (part == 0 ? Math.cos(angle) : Math.sin(angle)));
                }
            }
        }
    }

    private static void deleteQuietly(Path p) {
        try {
            Files.deleteIfExists(p);
        } catch (IOException ignored) {
            // best effort: the original error is what matters
        }
    }

    /** Little-endian buffered writer that counts bytes. */
    private static final class FloatWriter implements AutoCloseable {
        private final OutputStream out;
        private final ByteBuffer buf = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);
        private long written;

        FloatWriter(OutputStream out) {
            this.out = out;
        }

        long position() {
            return written + buf.position();
        }

        void writeHeader(CheckpointFormat format, LlamaConfig c) throws IOException {
            if (format == CheckpointFormat.V1) {
                buf.putInt(CheckpointFormat.V1_MAGIC);
                buf.putInt(1);
            }
            buf.putInt(c.dim()).putInt(c.hiddenDim()).putInt(c.nLayers()).putInt(c.nHeads()).putInt(c.nKvHeads());
            int vocab = format == CheckpointFormat.LEGACY && !c.sharedClassifier() ? -c.vocabSize() : c.vocabSize();
            buf.putInt(vocab).putInt(c.seqLen());
            if (format == CheckpointFormat.V1) {
                buf.put((byte) (c.sharedClassifier() ? 1 : 0));
                while (buf.position() < CheckpointFormat.V1.headerBytes()) {
                    buf.put((byte) 0);
                }
            }
        }

        void writeFloat(float f) throws IOException {
            if (buf.remaining() < 4) {
                flush();
            }
            buf.putFloat(f);
        }

        private void flush() throws IOException {
            out.write(buf.array(), 0, buf.position());
            written += buf.position();
            buf.clear();
        }

        @Override
        public void close() throws IOException {
            try {
                flush();
            } finally {
                out.close();
            }
        }
    }
}

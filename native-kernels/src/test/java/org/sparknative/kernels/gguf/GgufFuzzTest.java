package org.sparknative.kernels.gguf;

import com.code_intelligence.jazzer.junit.FuzzTest;
import java.io.IOException;
import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;

/**
 * Fuzz target: {@link GgufFile#open} on a file of the raw input (seeded with small valid files, see
 * {@link GgufFuzzSeeds}), then, on whatever it accepts, every metadata value and every tensor. Any bytes must give a
 * {@link GgufException}, or a file whose tensors, recomputed in exact arithmetic, lie whole inside the file, aligned,
 * sized exactly by their type and shape, and apart; whose small tensors map and convert; and whose metadata reads.
 */
class GgufFuzzTest {
    /** Tensors up to this many bytes are mapped and, of supported types, converted. */
    private static final long MAP_LIMIT = 1 << 20;

    @FuzzTest(maxDuration = "90s")
    void ggufOpen(byte[] data) throws IOException {
        Path file = Path.of("target", "fuzz", "gguf.gguf").toAbsolutePath();
        Files.createDirectories(file.getParent());
        Files.write(file, data);
        GgufFile g;
        try {
            g = GgufFile.open(file);
        } catch (GgufException rejected) {
            if (!rejected.getMessage().startsWith(file + ": ")) {
                throw new AssertionError("the message does not name the file: " + rejected.getMessage(), rejected);
            }
            return;
        }
        checkAccepted(g, data.length);
    }

    /** What must hold of any file {@link GgufFile#open} accepts, {@code length} bytes long. */
    static void checkAccepted(GgufFile g, long length) {
        int a = g.alignment();
        if (a <= 0 || (a & (a - 1)) != 0 || g.dataOffset() % a != 0 || (g.version() != 2 && g.version() != 3)) {
            throw new AssertionError("accepted " + g + ": alignment " + a + ", data offset " + g.dataOffset());
        }
        if (g.fileBytes() != length) {
            throw new AssertionError("file length " + g.fileBytes() + ", the file has " + length);
        }
        for (Map.Entry<String, GgufValue> e : g.metadata().entrySet()) {
            GgufValue v = e.getValue();
            if (e.getKey().isEmpty() || v.toString().isEmpty() || (v.isArray() && v.arrayLength() > length)) {
                throw new AssertionError("key '" + e.getKey() + "': " + v);
            }
            switch (v.type()) {
                case STRING -> g.getString(e.getKey());
                case BOOL -> g.getBoolean(e.getKey());
                case FLOAT32, FLOAT64 -> g.getDouble(e.getKey());
                case ARRAY -> v.value();
                default -> {
                    try {
                        g.getLong(e.getKey());
                    } catch (GgufException tooLarge) {
                        if (v.type() != GgufValueType.UINT64) {
                            throw tooLarge;
                        }
                    }
                }
            }
        }
        List<GgufTensor> sorted = new ArrayList<>(g.tensors());
        for (GgufTensor t : sorted) {
            if (t.nDims() < 1 || t.nDims() > GgufFile.MAX_DIMS || t.type().isRemoved()
                || t.rowLength() % t.type().blockSize() != 0 || g.tensor(t.name()).orElseThrow() != t) {
                throw new AssertionError("accepted tensor " + t);
            }
            BigInteger elements = BigInteger.ONE;
            for (long d : t.dims()) {
                if (d <= 0) {
                    throw new AssertionError("accepted tensor " + t + " with a dimension " + d);
                }
                elements = elements.multiply(BigInteger.valueOf(d));
            }
            BigInteger bytes = elements.divide(BigInteger.valueOf(t.type().blockSize()))
                .multiply(BigInteger.valueOf(t.type().typeSize()));
            BigInteger end = BigInteger.valueOf(t.offset()).add(bytes);
            if (!elements.equals(BigInteger.valueOf(t.elementCount())) || !bytes.equals(BigInteger.valueOf(t.byteSize()))
                || end.compareTo(BigInteger.valueOf(length)) > 0 || t.offset() < g.dataOffset()
                || (t.offset() - g.dataOffset()) % a != 0) {
                throw new AssertionError("accepted tensor " + t + ": exactly " + elements + " elements, " + bytes
                    + " bytes, ending at " + end + " in a file of " + length + " (data from " + g.dataOffset() + ")");
            }
            if (t.byteSize() <= MAP_LIMIT) {
                ByteBuffer b = g.map(t);
                if (b.capacity() != t.byteSize()) {
                    throw new AssertionError("mapped " + b.capacity() + " bytes of " + t);
                }
                if (t.type().isSupported()) {
                    float[] v = g.dequantize(t);
                    if (v.length != t.elementCount()) {
                        throw new AssertionError("converted " + v.length + " values of " + t);
                    }
                }
            }
        }
        sorted.sort(Comparator.comparingLong(GgufTensor::offset));
        for (int i = 1; i < sorted.size(); i++) {
            if (sorted.get(i).offset() < sorted.get(i - 1).end()) {
                throw new AssertionError("accepted overlapping tensors " + sorted.get(i - 1) + " and " + sorted.get(i));
            }
        }
    }
}

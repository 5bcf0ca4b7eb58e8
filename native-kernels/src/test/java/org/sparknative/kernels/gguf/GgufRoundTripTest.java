package org.sparknative.kernels.gguf;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** What GgufWriter writes, GgufFile reads back: every value type, every supported tensor type, v2 and v3, alignments. */
class GgufRoundTripTest {
    @TempDir
    Path tmp;

    /** One value of every type, and arrays of every element type, nested arrays and empty arrays included. */
    static Map<String, GgufValue> everyValueType() {
        Map<String, GgufValue> m = new LinkedHashMap<>();
        m.put("t.uint8", GgufValue.uint8(255));
        m.put("t.int8", GgufValue.int8(-128));
        m.put("t.uint16", GgufValue.uint16(65535));
        m.put("t.int16", GgufValue.int16(-32768));
        m.put("t.uint32", GgufValue.uint32(0xFFFF_FFFFL));
        m.put("t.int32", GgufValue.int32(Integer.MIN_VALUE));
        m.put("t.uint64", GgufValue.uint64(-1L));
        m.put("t.int64", GgufValue.int64(Long.MIN_VALUE));
        m.put("t.float32", GgufValue.float32(-0f));
        m.put("t.float32_nan", GgufValue.float32(Float.intBitsToFloat(0x7FC0_1234)));
        m.put("t.float64", GgufValue.float64(Math.PI));
        m.put("t.bool_true", GgufValue.bool(true));
        m.put("t.bool_false", GgufValue.bool(false));
        m.put("t.string", GgufValue.string("h\u00e9llo \u2581world \uD83D\uDE00\n\u0000"));
        m.put("t.string_empty", GgufValue.string(""));
        m.put("t.array.uint8", GgufValue.array(GgufValueType.UINT8, new byte[] {0, 1, (byte) 255}));
        m.put("t.array.int8", GgufValue.array(GgufValueType.INT8, new byte[] {-128, 127}));
        m.put("t.array.uint16", GgufValue.array(GgufValueType.UINT16, new short[] {(short) 65535, 7}));
        m.put("t.array.int16", GgufValue.array(GgufValueType.INT16, new short[] {-32768, 32767}));
        m.put("t.array.uint32", GgufValue.array(GgufValueType.UINT32, new int[] {-1, 0, 5}));
        m.put("t.array.int32", GgufValue.int32Array(1, -2, 3));
        m.put("t.array.uint64", GgufValue.array(GgufValueType.UINT64, new long[] {-1L, 9}));
        m.put("t.array.int64", GgufValue.array(GgufValueType.INT64, new long[] {Long.MIN_VALUE, Long.MAX_VALUE}));
        m.put("t.array.float32", GgufValue.float32Array(1.5f, Float.NEGATIVE_INFINITY, -0f));
        m.put("t.array.float64", GgufValue.array(GgufValueType.FLOAT64, new double[] {1e300, -2.5}));
        m.put("t.array.bool", GgufValue.array(GgufValueType.BOOL, new boolean[] {true, false, true}));
        m.put("t.array.string", GgufValue.stringArray("a", "", "\u2581b", "<0x0A>"));
        m.put("t.array.empty", GgufValue.array(GgufValueType.FLOAT32, new float[0]));
        m.put("t.array.nested", GgufValue.arrayOfArrays(GgufValue.int32Array(1, 2), GgufValue.stringArray("x"),
            GgufValue.arrayOfArrays(GgufValue.array(GgufValueType.BOOL, new boolean[] {false})),
            GgufValue.array(GgufValueType.UINT8, new byte[0])));
        return m;
    }

    private record Spec(String name, GgmlType type, long[] dims, float[] values) {
    }

    /** Tensors of every supported type in odd shapes: 1-D, a single row, 3 rows, 3-D and 4-D. */
    private static List<Spec> tensors(long seed) {
        Random r = new Random(seed);
        List<Spec> specs = new ArrayList<>();
        Object[][] shapes = {
            {"norm", GgmlType.F32, new long[] {7}},
            {"f32.3x64", GgmlType.F32, new long[] {64, 3}},
            {"f32.4d", GgmlType.F32, new long[] {2, 3, 4, 5}},
            {"f16.1x32", GgmlType.F16, new long[] {32, 1}},
            {"f16.odd", GgmlType.F16, new long[] {3, 5}},
            {"bf16.2x32", GgmlType.BF16, new long[] {32, 2}},
            {"q8_0.3x64", GgmlType.Q8_0, new long[] {64, 3}},
            {"q8_0.1d", GgmlType.Q8_0, new long[] {32}},
            {"q4_0.1x32", GgmlType.Q4_0, new long[] {32, 1}},
            {"q4_0.3d", GgmlType.Q4_0, new long[] {64, 2, 2}},
        };
        for (Object[] s : shapes) {
            long[] dims = (long[]) s[2];
            long n = 1;
            for (long d : dims) {
                n *= d;
            }
            float[] v = new float[(int) n];
            for (int i = 0; i < v.length; i++) {
                v[i] = (float) r.nextGaussian();
            }
            specs.add(new Spec((String) s[0], (GgmlType) s[1], dims, v));
        }
        return specs;
    }

    @ParameterizedTest(name = "v{0}, alignment {1}")
    @CsvSource({"3, 0", "2, 0", "3, 64", "2, 1", "3, 4096"})
    void everyValueAndTensorTypeRoundTrips(int version, int alignment) throws Exception {
        GgufWriter w = new GgufWriter().version(version);
        if (alignment != 0) {
            w.alignment(alignment);
        }
        Map<String, GgufValue> values = everyValueType();
        values.forEach(w::put);
        List<Spec> specs = tensors(version * 1000L + alignment);
        for (Spec s : specs) {
            w.addTensor(s.name, s.type, s.dims, s.values);
        }
        Path file = tmp.resolve("rt.gguf");
        w.write(file);
        assertArrayEquals(Files.readAllBytes(file), w.toBytes());

        GgufFile g = GgufFile.open(file);
        int expectedAlignment = alignment == 0 ? 32 : alignment;
        assertEquals(version, g.version());
        assertEquals(expectedAlignment, g.alignment());
        assertEquals(Files.size(file), g.fileBytes());
        assertEquals(0, g.dataOffset() % expectedAlignment);
        Map<String, GgufValue> expected = new LinkedHashMap<>(values);
        if (alignment != 0) {
            expected.put(GgufFile.ALIGNMENT_KEY, GgufValue.uint32(alignment));
            assertEquals(List.of(GgufFile.ALIGNMENT_KEY), new ArrayList<>(g.metadata().keySet()).subList(0, 1));
        } else {
            assertFalse(g.has(GgufFile.ALIGNMENT_KEY));
        }
        assertEquals(expected.keySet(), g.metadata().keySet());
        for (Map.Entry<String, GgufValue> e : expected.entrySet()) {
            assertEquals(e.getValue(), g.metadata().get(e.getKey()), e.getKey());
        }
        assertEquals(0x7FC0_1234, Float.floatToRawIntBits(g.getFloat("t.float32_nan")), "NaN payload kept");
        assertEquals(Float.floatToRawIntBits(-0f), Float.floatToRawIntBits(g.getFloat("t.float32")));

        assertEquals(specs.size(), g.tensors().size());
        long previousEnd = g.dataOffset();
        for (int i = 0; i < specs.size(); i++) {
            Spec s = specs.get(i);
            GgufTensor t = g.tensors().get(i);
            assertEquals(s.name, t.name());
            assertEquals(t, g.tensor(s.name).orElseThrow());
            assertEquals(s.type, t.type());
            assertArrayEquals(s.dims, t.dims());
            assertEquals(s.values.length, t.elementCount());
            assertEquals(s.type.byteSize(s.values.length), t.byteSize());
            assertEquals(0, t.offset() % expectedAlignment, t.name());
            assertTrue(t.offset() >= previousEnd, t.name() + " after the previous tensor");
            assertTrue(t.offset() - previousEnd < expectedAlignment, t.name() + " at the next aligned offset");
            previousEnd = t.end();
            byte[] bytes = Quants.quantize(s.type, s.values);
            assertEquals(ByteBuffer.wrap(bytes), g.map(t), t.name() + " bytes");
            assertEquals(ByteOrder.LITTLE_ENDIAN, g.map(t).order());
            float[] back = new float[s.values.length];
            Quants.dequantize(s.type, ByteBuffer.wrap(bytes), 0, back, 0, back.length);
            assertArrayEquals(back, g.dequantize(t), t.name() + " values");
            if (t.rows() > 1) {
                float[] lastRow = g.dequantizeRows(t, t.rows() - 1, 1);
                assertArrayEquals(java.util.Arrays.copyOfRange(back, back.length - (int) t.rowLength(), back.length), lastRow);
            }
        }
        assertTrue(g.fileBytes() >= previousEnd);
        assertTrue(g.fileBytes() - previousEnd < expectedAlignment, "the last tensor padded, as ggml writes");
    }

    @Test
    void gettersWidenIntegersAndNameTheKeyWhenTheyCannot() throws Exception {
        GgufWriter w = new GgufWriter();
        everyValueType().forEach(w::put);
        w.put("small.uint32", GgufValue.uint32(512)).put("small.uint64", GgufValue.uint64(1L << 40))
            .put("small.uint16", GgufValue.uint16(40000)).putFloat32("eps", 1e-5f)
            .put("ids.uint32", GgufValue.array(GgufValueType.UINT32, new int[] {1, 2}))
            .put("big.uint64", GgufValue.uint64(1L << 60))
            .put("inexact.float", GgufValue.int32((1 << 24) + 1));
        Path file = tmp.resolve("g.gguf");
        w.write(file);
        GgufFile g = GgufFile.open(file);

        assertEquals(255, g.getInt("t.uint8"));
        assertEquals(-128, g.getInt("t.int8"));
        assertEquals(40000, g.getInt("small.uint16"));
        assertEquals(512, g.getInt("small.uint32"));
        assertEquals(Integer.MIN_VALUE, g.getInt("t.int32"));
        assertEquals(0xFFFF_FFFFL, g.getLong("t.uint32"));
        assertEquals(1L << 40, g.getLong("small.uint64"));
        assertEquals(Long.MIN_VALUE, g.getLong("t.int64"));
        assertEquals(512f, g.getFloat("small.uint32"));
        assertEquals(1e-5f, g.getFloat("eps"));
        assertEquals((double) 1e-5f, g.getDouble("eps"));
        assertEquals(Math.PI, g.getDouble("t.float64"));
        assertEquals(0x1p60, g.getDouble("big.uint64"));
        assertTrue(g.getBoolean("t.bool_true"));
        assertEquals("", g.getString("t.string_empty"));
        assertEquals(7, g.getInt("absent", 7));
        assertEquals("x", g.getString("absent", "x"));
        assertEquals(2.5f, g.getFloat("absent", 2.5f));
        assertArrayEquals(new int[] {1, 2}, g.getIntArray("ids.uint32"));
        assertArrayEquals(new int[] {1, -2, 3}, g.getIntArray("t.array.int32"));
        assertArrayEquals(new long[] {0xFFFF_FFFFL, 0, 5}, g.getLongArray("t.array.uint32"));
        assertArrayEquals(new int[] {0, 1, 255}, g.getIntArray("t.array.uint8"));
        assertArrayEquals(new float[] {1.5f, Float.NEGATIVE_INFINITY, -0f}, g.getFloatArray("t.array.float32"));
        assertArrayEquals(new float[] {1, -2, 3}, g.getFloatArray("t.array.int32"));
        assertArrayEquals(new String[] {"a", "", "\u2581b", "<0x0A>"}, g.getStringArray("t.array.string"));
        assertEquals(4, g.require("t.array.nested").arrays().length);
        assertArrayEquals(new String[] {"x"}, g.require("t.array.nested").arrays()[1].stringArray());

        String name = file.toString();
        Object[][] failures = {
            {(Runnable) () -> g.getInt("t.uint32"), "'t.uint32'", "4294967295 does not fit in an int32"},
            {(Runnable) () -> g.getLong("t.uint64"), "'t.uint64'", "18446744073709551615 does not fit in an int64"},
            {(Runnable) () -> g.getString("t.int32"), "'t.int32'", "expected a STRING, got INT32"},
            {(Runnable) () -> g.getFloat("t.float64"), "'t.float64'", "expected a FLOAT32 or an integer, got FLOAT64"},
            {(Runnable) () -> g.getFloat("inexact.float"), "'inexact.float'", "16777217 is not exactly a float32"},
            {(Runnable) () -> g.getInt("t.string"), "'t.string'", "expected an integer, got STRING"},
            {(Runnable) () -> g.getBoolean("t.uint8"), "'t.uint8'", "expected a BOOL, got UINT8"},
            {(Runnable) () -> g.getStringArray("t.array.int32"), "'t.array.int32'",
                "expected an array of STRING, got ARRAY of INT32 [3]"},
            {(Runnable) () -> g.getIntArray("t.array.uint64"), "'t.array.uint64'", "element 0: UINT64 18446744073709551615"},
            {(Runnable) () -> g.getIntArray("t.array.string"), "'t.array.string'", "expected an array of integers"},
            {(Runnable) () -> g.getFloatArray("t.string"), "'t.string'", "expected an array, got STRING"},
            {(Runnable) () -> g.getString("llama.embedding_length"), "'llama.embedding_length' is missing", ""},
            {(Runnable) () -> g.getInt("absent.key"), "'absent.key' is missing", ""},
            {(Runnable) () -> g.requireTensor("nope"), "tensor 'nope' is missing", ""},
        };
        for (Object[] f : failures) {
            GgufException e = assertThrows(GgufException.class, ((Runnable) f[0])::run);
            String m = e.getMessage();
            assertTrue(m.startsWith(name + ": ") && m.contains((String) f[1]) && m.contains((String) f[2]), m);
        }
    }

    /** A Llama 2 sized vocabulary (32000 strings, scores, types) is read quickly. */
    @Test
    void a32000EntryVocabularyIsFast() throws Exception {
        int n = 32000;
        String[] tokens = new String[n];
        float[] scores = new float[n];
        int[] types = new int[n];
        for (int i = 0; i < n; i++) {
            tokens[i] = i < 256 ? String.format("<0x%02X>", i) : "\u2581tok" + Integer.toString(i, 36);
            scores[i] = -i;
            types[i] = i < 256 ? 6 : 1;
        }
        Path file = tmp.resolve("vocab.gguf");
        new GgufWriter().putString("general.architecture", "llama").putStringArray("tokenizer.ggml.tokens", tokens)
            .putFloat32Array("tokenizer.ggml.scores", scores).putInt32Array("tokenizer.ggml.token_type", types)
            .write(file);
        GgufFile.open(file); // warm up
        long t0 = System.nanoTime();
        GgufFile g = GgufFile.open(file);
        long ms = (System.nanoTime() - t0) / 1_000_000;
        assertArrayEquals(tokens, g.getStringArray("tokenizer.ggml.tokens"));
        assertArrayEquals(scores, g.getFloatArray("tokenizer.ggml.scores"));
        assertArrayEquals(types, g.getIntArray("tokenizer.ggml.token_type"));
        assertTrue(ms < 2000, "reading 32000 tokens took " + ms + " ms"); // ~10 ms; generous for a loaded machine
    }

    /** Strings longer than the reader's 64 KiB window, and a header region spanning many windows. */
    @Test
    void longStringsAndLargeHeadersSpanTheReadWindow() throws Exception {
        String big = "x".repeat(200_000) + "\u00e9";
        String[] many = new String[5000];
        for (int i = 0; i < many.length; i++) {
            many[i] = "s".repeat(i % 97);
        }
        Path file = tmp.resolve("big.gguf");
        new GgufWriter().putString("big", big).putStringArray("many", many)
            .addTensor("t", GgmlType.F32, new long[] {4}, new float[] {1, 2, 3, 4}).write(file);
        GgufFile g = GgufFile.open(file);
        assertEquals(big, g.getString("big"));
        assertArrayEquals(many, g.getStringArray("many"));
        assertArrayEquals(new float[] {1, 2, 3, 4}, g.dequantize(g.requireTensor("t")));
    }

    @Test
    void aFileWithoutTensorsOrMetadataIsValid() throws Exception {
        Path file = tmp.resolve("empty.gguf");
        new GgufWriter().write(file);
        GgufFile g = GgufFile.open(file);
        assertEquals(3, g.version());
        assertTrue(g.metadata().isEmpty());
        assertTrue(g.tensors().isEmpty());
        assertEquals(32, g.dataOffset());
        assertEquals(32, g.fileBytes());
    }

    @Test
    void theWriterRefusesWhatTheReaderWould() {
        GgufWriter w = new GgufWriter().addTensor("a", GgmlType.F32, new long[] {2}, new float[2]);
        assertThrows(IllegalArgumentException.class, () -> w.addTensor("a", GgmlType.F32, new long[] {2}, new float[2]));
        assertThrows(IllegalArgumentException.class,
            () -> w.addTensor("n".repeat(64), GgmlType.F32, new long[] {2}, new float[2]));
        assertThrows(IllegalArgumentException.class,
            () -> w.addTensor("b", GgmlType.Q8_0, new long[] {48}, new float[48]));
        assertThrows(IllegalArgumentException.class,
            () -> w.addTensor("b", GgmlType.Q8_0, new long[] {32}, new byte[33]));
        assertThrows(IllegalArgumentException.class,
            () -> w.addTensor("b", GgmlType.F32, new long[] {1, 1, 1, 1, 1}, new float[1]));
        assertThrows(IllegalArgumentException.class, () -> w.addTensor("b", GgmlType.F32, new long[] {0}, new float[0]));
        assertThrows(IllegalArgumentException.class,
            () -> w.addTensor("b", GgmlType.Q4_0_4_4, new long[] {32}, new byte[18]));
        assertThrows(IllegalArgumentException.class, () -> w.alignment(48));
        assertThrows(IllegalArgumentException.class, () -> w.alignment(0));
        assertThrows(IllegalArgumentException.class, () -> w.put(GgufFile.ALIGNMENT_KEY, GgufValue.int32(64)));
        assertThrows(IllegalArgumentException.class, () -> w.putString("", "x"));
        assertThrows(IllegalArgumentException.class, () -> w.version(1));
        assertThrows(IllegalArgumentException.class, () -> GgufValue.uint8(256));
        assertThrows(IllegalArgumentException.class, () -> GgufValue.array(GgufValueType.UINT32, new long[1]));
        assertThrows(IllegalArgumentException.class, () -> GgufValue.arrayOfArrays(GgufValue.int32(1)));
        // a Q4_K tensor is written from its raw blocks (sized, not converted)
        w.addTensor("k", GgmlType.Q4_K, new long[] {256}, new byte[144]);
    }

    @Test
    void typeTablesCoverEveryId() {
        for (int id = 0; id < 43; id++) {
            GgmlType t = GgmlType.byId(id).orElseThrow();
            assertEquals(id, t.id());
            assertEquals(t.isRemoved(), t.blockSize() == 0);
        }
        assertTrue(GgmlType.byId(43).isEmpty());
        assertTrue(GgmlType.byId(-1).isEmpty());
        assertEquals("8 (Q8_0)", GgmlType.describe(8));
        assertEquals("31 (Q4_0_4_4, removed from GGUF)", GgmlType.describe(31));
        assertEquals("4294967295 (unknown)", GgmlType.describe(-1));
        assertEquals(34, GgmlType.Q8_0.byteSize(32));
        assertEquals(144 * 2, GgmlType.Q4_K.byteSize(512));
        for (int id = 0; id < 13; id++) {
            assertEquals(id, GgufValueType.byId(id).orElseThrow().id());
        }
        assertTrue(GgufValueType.byId(13).isEmpty());
    }
}

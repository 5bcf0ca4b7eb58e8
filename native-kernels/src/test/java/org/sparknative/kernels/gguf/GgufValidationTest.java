package org.sparknative.kernels.gguf;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sparknative.kernels.llama.CheckpointException;

/**
 * Every malformed file is a {@link GgufException} (a {@link CheckpointException}) whose message names the file and
 * what is wrong; never an OutOfMemoryError, a NegativeArraySizeException, a BufferUnderflowException or another
 * runtime crash. Cases by hand, then every truncation and every single-byte corruption of a small valid file.
 */
class GgufValidationTest {
    @TempDir
    Path tmp;

    private Path write(byte[] bytes) throws IOException {
        Path file = tmp.resolve("bad.gguf");
        Files.write(file, bytes);
        return file;
    }

    /** Opens the bytes and expects a GgufException naming the file and containing every fragment. */
    private GgufException refused(byte[] bytes, String... fragments) throws IOException {
        Path file = write(bytes);
        GgufException e = assertThrows(GgufException.class, () -> GgufFile.open(file));
        String m = e.getMessage();
        assertTrue(m.startsWith(file + ": "), m);
        for (String f : fragments) {
            assertTrue(m.contains(f), () -> "expected \"" + f + "\" in: " + m);
        }
        return e;
    }

    private GgufException refused(RawGguf raw, String... fragments) throws IOException {
        return refused(raw.toBytes(), fragments);
    }

    /** A valid file: one key, one 32-float tensor. */
    private static RawGguf valid() {
        return RawGguf.header(3, 1, 1).kvString("general.architecture", "llama").tensor("t", GgmlType.F32, 0, 32).pad(32)
            .zeros(128);
    }

    @Test
    void theBaseFileIsValid() throws IOException {
        GgufFile g = GgufFile.open(write(valid().toBytes()));
        assertEquals("llama", g.getString("general.architecture"));
        assertEquals(1, g.tensors().size());
    }

    @Test
    void missingFile() {
        Path file = tmp.resolve("absent.gguf");
        GgufException e = assertThrows(GgufException.class, () -> GgufFile.open(file));
        assertTrue(e.getMessage().startsWith(file + ": ") && e.getMessage().contains("not found"), e.getMessage());
        assertTrue(e instanceof CheckpointException);
    }

    @Test
    void headerFields() throws IOException {
        refused(new byte[0], "0 bytes, shorter than the GGUF magic");
        refused(new byte[] {'G', 'G', 'U'}, "3 bytes");
        refused("GGML0000".getBytes(java.nio.charset.StandardCharsets.US_ASCII), "magic", "47 47 4d 4c", "not a GGUF");
        refused(new byte[] {'F', 'U', 'G', 'G', 0, 0, 0, 3}, "magic", "byte-swapped");
        refused(RawGguf.header(1, 0, 0), "version", "got 1", "v1");
        refused(RawGguf.header(4, 0, 0), "version: expected 2 or 3, got 4");
        refused(RawGguf.header(0, 0, 0), "expected 2 or 3, got 0");
        refused(RawGguf.header(0x0300_0000, 0, 0), "big-endian", "3 big-endian", "only little-endian");
        refused(RawGguf.header(0x0200_0000, 0, 0), "big-endian");
        refused(new RawGguf().u32(GgufFile.MAGIC).u32(3).u64(0), "truncated", "metadata_kv_count", "needs 8 bytes");
    }

    @Test
    void countsThatLie() throws IOException {
        refused(RawGguf.header(3, 1_000_000, 0).zeros(100), "tensor_count 1000000", "at least 32 bytes each",
            "only 100 bytes follow the header");
        refused(RawGguf.header(3, -1, 0), "tensor_count 18446744073709551615");
        refused(RawGguf.header(3, 0, 1_000_000).zeros(100), "metadata_kv_count 1000000", "only 100 bytes");
        refused(RawGguf.header(3, 0, Long.MIN_VALUE), "metadata_kv_count 9223372036854775808");
        refused(RawGguf.header(3, 3, 3).zeros(100), "metadata_kv_count 3"); // 3 * 32 + 3 * 14 > 100
        // the counts fit the file, but the key/values are not there: truncated where the next one should start
        refused(RawGguf.header(3, 0, 2).kvU32("a", 1).zeros(14), "metadata key/value 1 of 2");
    }

    @Test
    void stringsAndArraysLongerThanTheFile() throws IOException {
        refused(RawGguf.header(3, 0, 1).u64(1L << 40).zeros(20), "metadata key/value 0 of 1", "key length 1099511627776",
            "exceeds the 20 bytes left");
        refused(RawGguf.header(3, 0, 1).u64(-1L).zeros(20), "key length 18446744073709551615");
        refused(RawGguf.header(3, 0, 1).u64(70_000).zeros(70_000), "key length 70000, expected at most 65535");
        refused(RawGguf.header(3, 0, 1).str("").u32(4).u32(0), "empty key");
        refused(RawGguf.header(3, 0, 1).str("k").u32(GgufValueType.STRING.id()).u64(Long.MAX_VALUE).zeros(10),
            "metadata key 'k'", "value length 9223372036854775807 exceeds the 10 bytes left");
        refused(RawGguf.header(3, 0, 1).str("tokens").u32(GgufValueType.ARRAY.id()).u32(GgufValueType.STRING.id())
            .u64(1L << 40).zeros(100), "'tokens'", "array of STRING count 1099511627776", "at least 8 bytes each",
            "only 100 bytes are left");
        refused(RawGguf.header(3, 0, 1).str("a").u32(GgufValueType.ARRAY.id()).u32(GgufValueType.UINT8.id())
            .u64(-2L).zeros(10), "array of UINT8 count 18446744073709551614");
        refused(RawGguf.header(3, 0, 1).str("a").u32(GgufValueType.ARRAY.id()).u32(GgufValueType.FLOAT64.id())
            .u64(3).zeros(16), "array of FLOAT64 count 3", "only 16 bytes");
        // the count fits, the strings' lengths do not
        refused(RawGguf.header(3, 0, 1).str("s").u32(GgufValueType.ARRAY.id()).u32(GgufValueType.STRING.id())
            .u64(2).str("ok").u64(1000).zeros(10), "'s'", "string element length 1000 exceeds the 10 bytes left");
    }

    @Test
    void valueTypes() throws IOException {
        refused(RawGguf.header(3, 0, 1).str("k").u32(13).u32(0), "metadata key 'k'", "unknown value type 13");
        refused(RawGguf.header(3, 0, 1).str("k").u32(-1).u32(0), "unknown value type 4294967295");
        refused(RawGguf.header(3, 0, 1).str("k").u32(GgufValueType.ARRAY.id()).u32(99).u64(0),
            "unknown array element type 99");
        refused(RawGguf.header(3, 0, 1).str("flag").u32(GgufValueType.BOOL.id()).u8(2).zeros(16), "'flag'", "bool is 2",
            "expected 0 or 1");
        refused(RawGguf.header(3, 0, 1).str("flags").u32(GgufValueType.ARRAY.id()).u32(GgufValueType.BOOL.id()).u64(3)
            .u8(1).u8(0).u8(7).zeros(16), "bool element 2 is 7");
        refused(RawGguf.header(3, 0, 2).kvU32("k", 1).kvU32("k", 2), "metadata key 'k'", "duplicate key");
        RawGguf deep = RawGguf.header(3, 0, 1).str("deep").u32(GgufValueType.ARRAY.id());
        for (int i = 0; i < 20; i++) {
            deep.u32(GgufValueType.ARRAY.id()).u64(1);
        }
        refused(deep.u32(GgufValueType.UINT8.id()).u64(0).zeros(16), "'deep'", "nested more than 8 deep");
        // depth 8 is fine
        RawGguf ok = RawGguf.header(3, 0, 1).str("deep").u32(GgufValueType.ARRAY.id());
        for (int i = 0; i < 7; i++) {
            ok.u32(GgufValueType.ARRAY.id()).u64(1);
        }
        GgufFile g = GgufFile.open(write(ok.u32(GgufValueType.UINT8.id()).u64(0).toBytes()));
        assertEquals(GgufValueType.ARRAY, g.require("deep").elementType());
    }

    @Test
    void alignment() throws IOException {
        for (int bad : new int[] {0, 3, 48, -1}) {
            refused(RawGguf.header(3, 0, 1).kvU32(GgufFile.ALIGNMENT_KEY, bad), "metadata key 'general.alignment'",
                "expected a power of two, got " + Integer.toUnsignedString(bad));
        }
        refused(RawGguf.header(3, 0, 1).str(GgufFile.ALIGNMENT_KEY).u32(GgufValueType.INT32.id()).u32(64),
            "'general.alignment'", "expected a UINT32, got INT32");
        refused(RawGguf.header(3, 0, 1).str(GgufFile.ALIGNMENT_KEY).u32(GgufValueType.STRING.id()).str("32"),
            "'general.alignment'", "expected a UINT32, got STRING");
        // a valid alignment of 64: the tensor at a multiple of 32 but not of 64 is refused
        RawGguf r = RawGguf.header(3, 2, 1).kvU32(GgufFile.ALIGNMENT_KEY, 64).tensor("a", GgmlType.F32, 0, 8)
            .tensor("b", GgmlType.F32, 32, 8).pad(64).zeros(128);
        refused(r, "tensor 'b' (info 1)", "data offset 32, expected a multiple of the alignment 64");
    }

    @Test
    void tensorInfos() throws IOException {
        refused(RawGguf.header(3, 1, 0).tensor("t", GgmlType.F32, 0).pad(32).zeros(64), "tensor 't' (info 0)",
            "n_dims 0, expected 1 to 4");
        refused(RawGguf.header(3, 1, 0).tensor("t", GgmlType.F32, 0, 1, 1, 1, 1, 1).pad(32).zeros(64), "n_dims 5");
        refused(RawGguf.header(3, 1, 0).str("t").u32(-1).zeros(64), "n_dims 4294967295");
        refused(RawGguf.header(3, 1, 0).tensor("t", GgmlType.F32, 0, 8, 0).pad(32).zeros(64), "tensor 't'",
            "dims[1] 0, expected a positive count");
        refused(RawGguf.header(3, 1, 0).tensor("t", GgmlType.F32, 0, -1L).pad(32).zeros(64),
            "dims[0] 18446744073709551615");
        refused(RawGguf.header(3, 1, 0).tensor("t", GgmlType.F32, 0, 1L << 32, 1L << 32).pad(32).zeros(64),
            "tensor 't'", "dims [4294967296, 4294967296] hold more than 2^63-1 elements");
        refused(RawGguf.header(3, 1, 0).tensor("t", GgmlType.F32, 0, 1L << 31, 1L << 31).pad(32).zeros(64),
            "tensor 't'", "4611686018427387904 elements of F32 take more than 2^63-1 bytes");
        refused(RawGguf.header(3, 1, 0).tensor("t", 99, 0, 32).pad(32).zeros(64), "tensor 't'", "unknown ggml type id 99");
        refused(RawGguf.header(3, 1, 0).tensor("t", -2, 0, 32).pad(32).zeros(64), "unknown ggml type id 4294967294");
        refused(RawGguf.header(3, 1, 0).tensor("t", 31, 0, 32).pad(32).zeros(64), "type 31 (Q4_0_4_4, removed from GGUF)");
        refused(RawGguf.header(3, 1, 0).tensor("t", 4, 0, 32).pad(32).zeros(64), "4 (Q4_2, removed from GGUF)");
        refused(RawGguf.header(3, 1, 0).tensor("w", GgmlType.Q8_0, 0, 48, 2).pad(32).zeros(128), "tensor 'w'",
            "row length ne0 = 48 is not a multiple of Q8_0's block size 32");
        // ggml checks rows, not the element count: 16 x 2 = 32 elements, but rows of 16 are half a block
        refused(RawGguf.header(3, 1, 0).tensor("w", GgmlType.Q4_0, 0, 16, 2).pad(32).zeros(64), "ne0 = 16");
        refused(RawGguf.header(3, 1, 0).tensor("k", GgmlType.Q4_K, 0, 128).pad(32).zeros(256), "Q4_K's block size 256");
        refused(RawGguf.header(3, 1, 0).tensor("n".repeat(65), GgmlType.F32, 0, 1).pad(32).zeros(64), "tensor info 0 of 1",
            "name length 65, expected at most 64");
        refused(RawGguf.header(3, 2, 0).tensor("t", GgmlType.F32, 0, 8).tensor("t", GgmlType.F32, 32, 8).pad(32).zeros(64),
            "tensor 't' (info 1)", "duplicate name, tensor info 0 has it too");
    }

    @Test
    void tensorPlacement() throws IOException {
        refused(RawGguf.header(3, 1, 0).tensor("t", GgmlType.F32, 16, 8).pad(32).zeros(64), "tensor 't'",
            "data offset 16, expected a multiple of the alignment 32");
        refused(RawGguf.header(3, 1, 0).tensor("t", GgmlType.F32, 64, 32).pad(32).zeros(128), "tensor 't' (F32 [32], 128"
            + " bytes at data offset 64)", "ends at file offset 256", "past the end of the file (192 bytes; data section"
            + " from 64)");
        refused(RawGguf.header(3, 1, 0).tensor("t", GgmlType.F32, -32L, 8).pad(32).zeros(64), "data offset",
            "18446744073709551584");
        refused(RawGguf.header(3, 1, 0).tensor("t", GgmlType.F32, Long.MAX_VALUE - 31, 8).pad(32).zeros(64),
            "past the end of the file");
        refused(RawGguf.header(3, 1, 0).tensor("t", GgmlType.F32, 0, 32).pad(32).zeros(127), "past the end of the file");
        refused(RawGguf.header(3, 2, 0).tensor("a", GgmlType.F32, 0, 16).tensor("b", GgmlType.F32, 32, 8).pad(32)
            .zeros(128), "tensors 'a' (bytes 96 to 160) and 'b' (bytes 128 to 160) overlap");
        // the same offset twice
        refused(RawGguf.header(3, 2, 0).tensor("a", GgmlType.F32, 0, 8).tensor("b", GgmlType.F32, 0, 8).pad(32)
            .zeros(64), "overlap");
        // out of order in the file but apart: fine
        GgufFile g = GgufFile.open(write(RawGguf.header(3, 2, 0).tensor("a", GgmlType.F32, 32, 8)
            .tensor("b", GgmlType.F32, 0, 8).pad(32).zeros(64).toBytes()));
        assertEquals(g.dataOffset() + 32, g.requireTensor("a").offset());
    }

    /** Every prefix of a valid file shorter than its last tensor's end is refused, naming the file. */
    @Test
    void everyTruncationIsRefused() throws IOException {
        byte[] full = sample();
        GgufFile g = GgufFile.open(write(full));
        long end = g.tensors().stream().mapToLong(GgufTensor::end).max().orElseThrow();
        for (int len = 0; len < full.length; len++) {
            byte[] prefix = Arrays.copyOf(full, len);
            if (len < end) {
                refused(prefix);
            } else {
                assertEquals(g.tensors(), GgufFile.open(write(prefix)).tensors(), "only padding cut: " + len);
            }
        }
    }

    /**
     * Every byte of the header region set to 0x00, 0x01, 0x80 and 0xFF, and with its lowest bit flipped: each file is
     * refused with a GgufException or accepted with every tensor inside it; nothing else.
     */
    @Test
    void everySingleByteCorruptionIsRefusedOrSafe() throws IOException {
        byte[] full = sample();
        int headerEnd = (int) GgufFile.open(write(full)).dataOffset();
        int accepted = 0;
        for (int at = 0; at < headerEnd; at++) {
            for (int v : new int[] {0x00, 0x01, 0x80, 0xFF, (full[at] ^ 1) & 0xFF}) {
                byte[] bad = full.clone();
                bad[at] = (byte) v;
                Path file = write(bad);
                GgufFile opened;
                try {
                    opened = GgufFile.open(file);
                } catch (GgufException e) {
                    assertTrue(e.getMessage().startsWith(file + ": "), e.getMessage());
                    continue;
                } catch (RuntimeException | Error e) {
                    throw new AssertionError("byte " + at + " = 0x" + Integer.toHexString(v) + ": " + e, e);
                }
                accepted++;
                GgufFuzzTest.checkAccepted(opened, bad.length);
            }
        }
        assertTrue(accepted > 0, "some corruptions (inside string bytes, floats) leave a valid file");
    }

    /** A small file of several value types and four tensors, for the sweeps above. */
    static byte[] sample() {
        return new GgufWriter().putString("general.architecture", "llama").putUint32("llama.block_count", 1)
            .putFloat32("eps", 1e-5f).putBool("flag", true).putStringArray("tokens", "<unk>", "\u2581a", "b")
            .putFloat32Array("scores", 0f, -1f, -2f).put("nested", GgufValue.arrayOfArrays(GgufValue.int32Array(1, 2)))
            .put("u64", GgufValue.uint64(5))
            .addTensor("norm", GgmlType.F32, new long[] {4}, new float[] {1, 2, 3, 4})
            .addTensor("w8", GgmlType.Q8_0, new long[] {32, 2}, new float[64])
            .addTensor("w4", GgmlType.Q4_0, new long[] {32, 1}, new float[32])
            .addTensor("h", GgmlType.F16, new long[] {3, 1}, new float[] {1, 2, 3})
            .toBytes();
    }

    /**
     * A tensor larger than one mapping (3 GiB, in a sparse file) opens; mapping it whole is refused with a message
     * saying to map rows; its last rows, beyond 2 GiB into the file, map and read.
     */
    @Test
    void tensorsLargerThanOneMappingMapByRows() throws IOException {
        long rows = 3L << 20;
        byte[] header = RawGguf.header(3, 2, 0).tensor("small", GgmlType.F32, 0, 8)
            .tensor("huge", GgmlType.F32, 32, 256, rows).pad(32).toBytes();
        Path file = tmp.resolve("huge.gguf");
        Files.write(file, header);
        long length = header.length + 32 + 1024 * rows;
        try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw")) {
            raf.setLength(length);
            raf.seek(length - 4);
            raf.writeInt(Integer.reverseBytes(Float.floatToIntBits(2.5f)));
        }
        GgufFile g = GgufFile.open(file);
        GgufTensor huge = g.requireTensor("huge");
        assertEquals(3L << 30, huge.byteSize());
        GgufException e = assertThrows(GgufException.class, () -> g.map(huge));
        assertTrue(e.getMessage().contains("tensor 'huge' is 3221225472 bytes") && e.getMessage().contains("by rows"),
            e.getMessage());
        ByteBuffer last = g.mapRows(huge, rows - 2, 2);
        assertEquals(2048, last.capacity());
        assertEquals(2.5f, last.getFloat(2044));
        float[] row = g.dequantizeRows(huge, rows - 1, 1);
        assertEquals(2.5f, row[255]);
        assertEquals(0f, row[0]);
        assertThrows(GgufException.class, () -> g.mapRows(huge, rows - 1, 2));
        assertThrows(GgufException.class, () -> g.mapRows(huge, -1, 1));
        assertThrows(GgufException.class, () -> g.dequantize(huge));
        assertArrayEquals(new float[8], g.dequantize(g.requireTensor("small")));
        Files.delete(file);
    }

    @Test
    void mappingChecksTheTensorAndTheFile() throws IOException {
        Path file = write(valid().toBytes());
        GgufFile g = GgufFile.open(file);
        GgufTensor foreign = new GgufTensor("t", GgmlType.F32, new long[] {64}, 64, 256, 0);
        assertThrows(GgufException.class, () -> g.map(foreign));
        GgufTensor t = g.requireTensor("t");
        Files.write(file, Arrays.copyOf(valid().toBytes(), 100)); // shrunk since it was opened
        GgufException e = assertThrows(GgufException.class, () -> g.map(t));
        assertTrue(e.getMessage().contains("past the end of the file (100 bytes now"), e.getMessage());
        GgufFile q = GgufFile.open(write(RawGguf.header(3, 1, 0).tensor("k", GgmlType.Q4_K, 0, 256).pad(32).zeros(144)
            .toBytes()));
        GgufException u = assertThrows(GgufException.class, () -> q.dequantize(q.requireTensor("k")));
        assertTrue(u.getMessage().contains("tensor 'k' is Q4_K, which this project does not convert"), u.getMessage());
        assertEquals(144, q.map(q.requireTensor("k")).capacity());
    }
}

package org.sparknative.kernels.llama;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

/**
 * Writes the seed inputs of the tokenizer-file fuzz targets into their Jazzer inputs directories (a tool, not a
 * test; the seeds are committed, and replayed by every default build):
 *
 * <pre>
 * java -cp CLASSPATH org.sparknative.kernels.llama.FuzzSeeds native-kernels/src/test/resources
 * </pre>
 */
public final class FuzzSeeds {
    private FuzzSeeds() {
    }

    public static void main(String[] args) throws Exception {
        Path root = Path.of(args[0]).resolve("org/sparknative/kernels/llama");
        byte[] text = "Hi \u00e9\u0000<0x41> \uD83D\uDE00".getBytes(StandardCharsets.UTF_8);
        byte[] byteLevel = new FuzzInputs.TokenizerFile(300, true, true, text, TokenizerWriter.byteLevel(300)).bytes();
        byte[] merges = new FuzzInputs.TokenizerFile(266, true, false, "aab baab".getBytes(StandardCharsets.UTF_8),
            TokenizerTest.tokenizerBytes(List.of(new Object[] {" ", 0f}, new Object[] {"a", 0f}, new Object[] {"b", 0f},
                new Object[] {"ab", -5f}, new Object[] {"ba", -5f}, new Object[] {"\n<s>\n ", -1f},
                new Object[] {"aab", -2f}))).bytes();
        byte[] tiny = new FuzzInputs.TokenizerFile(3, true, false, "ab".getBytes(StandardCharsets.UTF_8),
            image("a", "b", "ab")).bytes();
        for (String dir : new String[] {"TokenizerFileFuzzTestInputs/javaParse", "NativeTokenizerFileFuzzTestInputs/nativeLoad"}) {
            Path d = Files.createDirectories(root.resolve(dir));
            Files.write(d.resolve("seed-byte-level-300"), byteLevel);
            Files.write(d.resolve("seed-merges-266"), merges);
            Files.write(d.resolve("seed-tiny-3"), tiny);
        }
        // Found by review while writing the native target (the fuzzer found its sibling, crash-eos-outside-vocab-1):
        // BOS (id 1) in a vocabulary of one entry made C read past its arrays, and the JVM died of SIGSEGV.
        Files.write(root.resolve("NativeTokenizerFileFuzzTestInputs/nativeLoad/crash-bos-outside-vocab-1"),
            new FuzzInputs.TokenizerFile(1, true, false, "a".getBytes(StandardCharsets.UTF_8), image("a")).bytes());
    }

    /** A tokenizer.bin image of these pieces, scores 0, -1, -2, ... */
    static byte[] image(String... pieces) {
        ByteBuffer b = ByteBuffer.allocate(4096).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(8);
        for (int i = 0; i < pieces.length; i++) {
            byte[] p = pieces[i].getBytes(StandardCharsets.UTF_8);
            b.putFloat(-i).putInt(p.length).put(p);
        }
        return Arrays.copyOf(b.array(), b.position());
    }
}

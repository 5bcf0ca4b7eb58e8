package org.sparknative.spark;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sparknative.kernels.gguf.GgmlType;
import org.sparknative.kernels.gguf.GgufConverter;
import org.sparknative.kernels.llama.Checkpoint;
import org.sparknative.kernels.llama.CheckpointException;
import org.sparknative.kernels.llama.CheckpointFormat;
import org.sparknative.kernels.llama.LlamaConfig;
import org.sparknative.kernels.llama.ModelFile;
import org.sparknative.kernels.llama.SyntheticCheckpoint;
import org.sparknative.kernels.llama.Tokenizer;
import org.sparknative.kernels.llama.TokenizerWriter;

/**
 * The executor's copy-once model cache and the driver's header-only check, on a synthetic checkpoint served by
 * {@link TestFs} (the local disk behind a Hadoop URI scheme, so the same code path as hdfs:// or s3a://).
 */
class ModelCacheTest {
    @TempDir
    Path dir;

    @AfterEach
    void resetFs() {
        TestFs.reset();
    }

    static Configuration hadoop() {
        Configuration c = new Configuration();
        c.set("fs.testfs.impl", TestFs.class.getName());
        c.setBoolean("fs.testfs.impl.disable.cache", true);
        return c;
    }

    private Path checkpoint() throws Exception {
        Path p = dir.resolve("model.bin");
        SyntheticCheckpoint.write(p, new LlamaConfig(32, 64, 1, 4, 2, 300, 32, true), 7L, CheckpointFormat.V1);
        return p;
    }

    private static List<Path> filesIn(Path d) throws Exception {
        try (Stream<Path> s = Files.list(d)) {
            return s.toList();
        }
    }

    @Test
    void concurrentTasksWaitForOneCopyThatIsByteIdentical() throws Exception {
        Path src = checkpoint();
        Path cache = dir.resolve("cache");
        String uri = TestFs.uri(src);
        int copiesBefore = ModelCache.copyCount();
        int opensBefore = TestFs.OPENS.get();
        ExecutorService pool = Executors.newFixedThreadPool(4);
        CountDownLatch go = new CountDownLatch(1);
        List<Future<Path>> got = new ArrayList<>();
        try {
            for (int i = 0; i < 4; i++) {
                got.add(pool.submit(() -> {
                    go.await();
                    return ModelCache.local(uri, null, "model", cache, hadoop());
                }));
            }
            go.countDown();
            Set<Path> paths = new java.util.HashSet<>();
            for (Future<Path> f : got) {
                paths.add(f.get());
            }
            assertEquals(1, paths.size(), "every task gets the same copy");
            Path copy = paths.iterator().next();
            assertTrue(copy.startsWith(cache), copy.toString());
            assertArrayEquals(Files.readAllBytes(src), Files.readAllBytes(copy));
            assertEquals(1, ModelCache.copyCount() - copiesBefore, "one copy for four concurrent tasks");
            assertEquals(1, TestFs.OPENS.get() - opensBefore, "the remote file is read once");
            assertEquals(List.of(copy), filesIn(cache), "no temporary file is left");
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void aDroppedOrShortDownloadNeverLeavesAFileThatLooksWhole() throws Exception {
        Path src = checkpoint();
        Path cache = dir.resolve("cache");
        String uri = TestFs.uri(src);
        TestFs.FAIL_AFTER_BYTES.set(5000);
        CheckpointException dropped = assertThrows(CheckpointException.class,
            () -> ModelCache.copy(uri, null, "model", cache, hadoop()));
        assertTrue(dropped.getMessage().startsWith(uri + ": cannot copy the model into the model cache"), dropped.getMessage());
        assertTrue(dropped.getMessage().contains("connection dropped at byte 5000"), dropped.getMessage());
        assertEquals(List.of(), filesIn(cache), "nothing under the final name, no temporary file");

        TestFs.reset();
        TestFs.SHORT_BY.set(100);
        CheckpointException shortCopy = assertThrows(CheckpointException.class,
            () -> ModelCache.copy(uri, null, "model", cache, hadoop()));
        long len = Files.size(src);
        assertEquals(uri + ": copy to " + cache + " stopped at " + (len - 100) + " of " + len + " bytes",
            shortCopy.getMessage());
        assertEquals(List.of(), filesIn(cache));

        TestFs.reset();
        Path ok = ModelCache.copy(uri, null, "model", cache, hadoop());
        assertArrayEquals(Files.readAllBytes(src), Files.readAllBytes(ok));
        assertEquals(Checkpoint.open(src).config(), Checkpoint.open(ok).config());
    }

    @Test
    void aGivenSha256IsCheckedOnTheCopyAndOnAReusedCachedFile() throws Exception {
        Path src = checkpoint();
        Path cache = dir.resolve("cache");
        String uri = TestFs.uri(src);
        String sha = HexFormat.of().formatHex(java.security.MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(src)));
        String wrong = sha.replace(sha.charAt(0), sha.charAt(0) == 'a' ? 'b' : 'a');
        CheckpointException bad = assertThrows(CheckpointException.class,
            () -> ModelCache.copy(uri, wrong, "model", cache, hadoop()));
        assertTrue(bad.getMessage().startsWith(uri + ": SHA-256 mismatch: expected " + wrong + ", the copied file has " + sha),
            bad.getMessage());
        assertEquals(List.of(), filesIn(cache));

        Path ok = ModelCache.copy(uri, sha, "model", cache, hadoop());
        int opens = TestFs.OPENS.get();
        assertEquals(ok, ModelCache.copy(uri, sha, "model", cache, hadoop()), "a whole cached file is reused");
        assertEquals(opens, TestFs.OPENS.get(), "reusing the cached file reads nothing remote");
        // A cached file that was altered after it was written fails the given checksum instead of being used.
        byte[] b = Files.readAllBytes(ok);
        b[b.length - 1] ^= 1;
        Files.write(ok, b);
        CheckpointException altered = assertThrows(CheckpointException.class,
            () -> ModelCache.copy(uri, sha, "model", cache, hadoop()));
        assertTrue(altered.getMessage().contains("the cached copy " + ok + " has "), altered.getMessage());
    }

    @Test
    void theDriverReadsOnlyTheHeaderAndNamesTheUriOfATruncatedOrMissingFile() throws Exception {
        Path src = checkpoint();
        String uri = TestFs.uri(src);
        ModelFile.Info h = ModelFiles.modelInfo(uri, hadoop());
        assertEquals(ModelFile.info(uri, Checkpoint.open(src).header()), h);
        assertEquals("llama2.c v1", h.format());

        byte[] all = Files.readAllBytes(src);
        Path cut = dir.resolve("cut.bin");
        Files.write(cut, java.util.Arrays.copyOf(all, all.length - 64));
        CheckpointException truncated = assertThrows(CheckpointException.class,
            () -> ModelFiles.modelInfo(TestFs.uri(cut), hadoop()));
        assertTrue(truncated.getMessage().startsWith(TestFs.uri(cut) + ": file length: expected " + all.length + " bytes"),
            truncated.getMessage());
        // Only the header was read: a stream that drops after 256 bytes still validates.
        TestFs.FAIL_AFTER_BYTES.set(Checkpoint.HEADER_READ_BYTES);
        assertEquals(h, ModelFiles.modelInfo(uri, hadoop()));
        TestFs.reset();

        CheckpointException missing = assertThrows(CheckpointException.class,
            () -> ModelFiles.modelInfo(TestFs.uri(dir.resolve("nope.bin")), hadoop()));
        assertEquals(TestFs.uri(dir.resolve("nope.bin")) + ": model file not found", missing.getMessage());
        CheckpointException noConnector = assertThrows(CheckpointException.class,
            () -> ModelFiles.modelInfo("nosuchfs://bucket/m.bin", hadoop()));
        assertTrue(noConnector.getMessage().startsWith("nosuchfs://bucket/m.bin: no Hadoop FileSystem for scheme 'nosuchfs'"),
            noConnector.getMessage());
        // s3a: Hadoop's defaults name org.apache.hadoop.fs.s3a.S3AFileSystem, which is missing without hadoop-aws.
        CheckpointException s3a = assertThrows(CheckpointException.class,
            () -> ModelFiles.modelInfo("s3a://bucket/m.bin", hadoop()));
        assertTrue(s3a.getMessage().startsWith("s3a://bucket/m.bin: no Hadoop FileSystem for scheme 's3a' on the classpath, "
            + "so the model cannot be read: add its connector jar (hadoop-aws for s3a"), s3a.getMessage());
    }

    @Test
    void aRemoteGgufModelIsReadUpToItsTensorsWithItsTokenizerAndNamedByUri() throws Exception {
        Path src = checkpoint();
        Path tok = dir.resolve("tok.bin");
        TokenizerWriter.writeByteLevel(tok, 300);
        Path gguf = dir.resolve("model-q8.gguf");
        GgufConverter.fromLlama2c(src, tok, GgmlType.Q8_0, gguf);
        String uri = TestFs.uri(gguf);
        ModelFile.Info remote = ModelFiles.modelInfo(uri, hadoop());
        ModelFile.Info local = ModelFile.open(gguf).info();
        assertEquals(uri, remote.location());
        assertEquals(local.config(), remote.config());
        assertEquals("GGUF v3", remote.format());
        assertEquals(local.tensorTypes(), remote.tensorTypes());
        assertTrue(remote.gguf() && remote.embeddedTokenizer(), remote.toString());
        // The driver reads the embedded tokenizer through the same URI; it equals the file it was made from.
        Tokenizer t = ModelFiles.model(uri, null, hadoop(), 0).tokenizer();
        assertArrayEquals(Tokenizer.load(tok, 300).encode("héllo".getBytes(StandardCharsets.UTF_8), true, false),
            t.encode("héllo".getBytes(StandardCharsets.UTF_8), true, false));
        // --context: a GGUF model may run longer than trained; a llama2.c checkpoint at most its seq_len.
        assertEquals(100, ModelFiles.modelInfo(uri, hadoop(), 100).config().seqLen());
        assertEquals(16, ModelFiles.modelInfo(TestFs.uri(src), hadoop(), 16).config().seqLen());
        CheckpointException longer = assertThrows(CheckpointException.class,
            () -> ModelFiles.modelInfo(TestFs.uri(src), hadoop(), 33));
        assertTrue(longer.getMessage().contains("context 33: expected 1 to the checkpoint's seq_len 32"), longer.getMessage());
        CheckpointException none = assertThrows(CheckpointException.class,
            () -> ModelFiles.model(TestFs.uri(src), null, hadoop(), 0));
        assertTrue(none.getMessage().contains("a llama2.c checkpoint carries no tokenizer"), none.getMessage());

        byte[] all = Files.readAllBytes(gguf);
        Path cut = dir.resolve("cut.gguf");
        Files.write(cut, java.util.Arrays.copyOf(all, 2000));
        CheckpointException truncated = assertThrows(CheckpointException.class,
            () -> ModelFiles.modelInfo(TestFs.uri(cut), hadoop()));
        assertTrue(truncated.getMessage().startsWith(TestFs.uri(cut) + ": "), truncated.getMessage());
    }

    @Test
    void headerParsedFromBytesEqualsTheFileReader() throws Exception {
        Path src = checkpoint();
        byte[] head = java.util.Arrays.copyOf(Files.readAllBytes(src), Checkpoint.HEADER_READ_BYTES);
        assertEquals(Checkpoint.open(src).header(), Checkpoint.parseHeader("x", ByteBuffer.wrap(head), Files.size(src)));
        assertTrue(ModelFiles.isUri("hdfs://nn/m.bin") && ModelFiles.isUri("file:///m.bin") && ModelFiles.isUri("s3a://b/m"));
        assertTrue(!ModelFiles.isUri("/data/m.bin") && !ModelFiles.isUri("m.bin") && !ModelFiles.isUri("C:/m.bin"),
            Set.of("C:/m.bin").stream().collect(Collectors.joining()));
    }
}

package org.sparknative.spark;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.spark.SparkConf;
import org.apache.spark.SparkEnv;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.sparknative.kernels.llama.CheckpointException;

/**
 * The executor's local copies of model files that live on a remote (Hadoop) filesystem. Each file is
 * copied once per executor JVM, into the folder {@value #DIR_SETTING} (default: {@code spark-native-models}
 * under the first of Spark's local directories, {@code spark.local.dir} / {@code SPARK_LOCAL_DIRS}), and
 * then memory-mapped like a local file.
 *
 * <p>Integrity: the copy is written to a temporary name in the same folder, checked against the remote
 * file's length (and against the user's SHA-256, when given), and only then renamed to its final name
 * with an atomic rename. A killed or failed download leaves at most a temporary file, never a file under
 * the final name that looks whole. A cached file is named after the URI, length and modification time of
 * its source, so a changed remote file is copied again; a final file found from an earlier copy (another
 * executor on the host, an earlier application with a fixed {@value #DIR_SETTING}) is reused when its
 * length matches (and its SHA-256, checked once per JVM, when given).
 *
 * <p>Threading: thread-safe. Concurrent tasks of one executor asking for the same file wait for the one
 * copy; executors sharing the folder may copy the same file at once, and the rename makes either copy
 * the one that stays.
 */
public final class ModelCache {
    /** The setting that names the cache folder on each executor. */
    public static final String DIR_SETTING = "spark.sparknative.modelCache.dir";

    private static final Logger LOG = LoggerFactory.getLogger(ModelCache.class);
    private static final Map<String, Path> READY = new ConcurrentHashMap<>();
    private static final Map<String, Object> LOCKS = new ConcurrentHashMap<>();
    private static final AtomicInteger COPIES = new AtomicInteger();

    private ModelCache() {
    }

    /**
     * @param uri    the remote file, as the user named it
     * @param sha256 expected SHA-256 in hex, or null to check the length only
     * @param what   {@code model} or {@code tokenizer}, for messages
     * @return the verified local copy; the same path for every later call in this JVM
     * @throws CheckpointException naming {@code uri} if it cannot be read, or the copy is short or differs
     */
    public static Path local(String uri, String sha256, String what) {
        return local(uri, sha256, what, cacheDir(), hadoopConf());
    }

    /** {@link #local(String, String, String)} into {@code dir}, reading through {@code hadoop}. */
    static Path local(String uri, String sha256, String what, Path dir, Configuration hadoop) {
        String key = uri + "\u0000" + (sha256 == null ? "" : sha256) + "\u0000" + dir;
        Path ready = READY.get(key);
        if (ready != null) {
            return ready;
        }
        synchronized (LOCKS.computeIfAbsent(key, k -> new Object())) {
            ready = READY.get(key);
            if (ready == null) {
                ready = copy(uri, sha256, what, dir, hadoop);
                READY.put(key, ready);
            }
            return ready;
        }
    }

    /** @return how many files this JVM copied from a remote filesystem (a reused cached file is not a copy) */
    public static int copyCount() {
        return COPIES.get();
    }

    /** Copies (or reuses) {@code uri} into {@code dir}; see the class comment. */
    static Path copy(String uri, String sha256, String what, Path dir, Configuration hadoop) {
        org.apache.hadoop.fs.Path src = ModelFiles.hadoopPath(uri);
        try {
            FileSystem fs = ModelFiles.fileSystem(src, hadoop, uri, what);
            FileStatus st = ModelFiles.status(fs, src, uri, what);
            long length = st.getLen();
            Files.createDirectories(dir);
            Path target = dir.resolve(cacheName(uri, st));
            if (Files.isRegularFile(target) && Files.size(target) == length) {
                if (sha256 != null) {
                    try (InputStream in = Files.newInputStream(target)) {
                        checkDigest(uri, sha256, ModelFiles.sha256(in, OutputStream.nullOutputStream()), target);
                    }
                }
                LOG.info("{} {}: using the cached copy {}", what, uri, target);
                return target;
            }
            Path tmp = Files.createTempFile(dir, "." + target.getFileName(), ".part");
            try {
                long t0 = System.nanoTime();
                String actual;
                try (InputStream in = fs.open(src); OutputStream out = Files.newOutputStream(tmp)) {
                    actual = ModelFiles.sha256(in, out);
                }
                long copied = Files.size(tmp);
                if (copied != length) {
                    throw new CheckpointException(uri, "copy to " + dir + " stopped at " + copied + " of " + length
                        + " bytes");
                }
                if (sha256 != null) {
                    checkDigest(uri, sha256, actual, null);
                }
                try {
                    Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
                } catch (AtomicMoveNotSupportedException e) {
                    throw new CheckpointException(uri, "the model cache folder " + dir + " does not support atomic "
                        + "renames; set " + DIR_SETTING + " to a local folder");
                }
                COPIES.incrementAndGet();
                LOG.info("{} {}: copied {} bytes to {} in {} ms", what, uri, length, target,
                    (System.nanoTime() - t0) / 1_000_000);
                return target;
            } finally {
                Files.deleteIfExists(tmp);
            }
        } catch (IOException e) {
            throw new CheckpointException(uri, "cannot copy the " + what + " into the model cache " + dir + ": "
                + e.getMessage());
        }
    }

    private static void checkDigest(String uri, String expected, String actual, Path cached) {
        if (!expected.equals(actual)) {
            throw new CheckpointException(uri, "SHA-256 mismatch: expected " + expected + ", the "
                + (cached == null ? "copied file" : "cached copy " + cached) + " has " + actual);
        }
    }

    /** {@code <16 hex digits of SHA-256(uri, length, mtime)>-<file name>}. */
    static String cacheName(String uri, FileStatus st) {
        MessageDigest md = ModelFiles.sha256();
        md.update((uri + "\u0000" + st.getLen() + "\u0000" + st.getModificationTime()).getBytes(StandardCharsets.UTF_8));
        String name = st.getPath().getName().replaceAll("[^A-Za-z0-9._-]", "_");
        return HexFormat.of().formatHex(md.digest(), 0, 8) + "-" + name;
    }

    /** The folder: {@value #DIR_SETTING}, else {@code spark-native-models} under Spark's first local directory. */
    static Path cacheDir() {
        SparkEnv env = SparkEnv.get();
        if (env == null) {
            return Path.of(System.getProperty("java.io.tmpdir"), "spark-native-models");
        }
        SparkConf conf = env.conf();
        String dir = conf.get(DIR_SETTING, null);
        if (dir != null && !dir.isBlank()) {
            return Path.of(dir);
        }
        return Path.of(org.apache.spark.util.Utils.getLocalDir(conf), "spark-native-models");
    }

    /**
     * The Hadoop configuration of this executor, made as Spark makes its own ({@code SparkHadoopUtil}: Hadoop's
     * defaults, the {@code spark.hadoop.*} settings, and the cloud credentials Spark takes from the environment).
     */
    static Configuration hadoopConf() {
        SparkEnv env = SparkEnv.get();
        return env == null ? new Configuration()
            : org.apache.spark.deploy.SparkHadoopUtil.get().newConfiguration(env.conf());
    }
}

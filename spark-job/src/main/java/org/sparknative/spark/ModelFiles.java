package org.sparknative.spark;

import java.io.File;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Locale;
import java.util.regex.Pattern;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataInputStream;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.UnsupportedFileSystemException;
import org.apache.spark.SparkFiles;
import org.sparknative.kernels.gguf.GgufFile;
import org.sparknative.kernels.gguf.GgufTokenizer;
import org.sparknative.kernels.llama.Checkpoint;
import org.sparknative.kernels.llama.CheckpointException;
import org.sparknative.kernels.llama.GgufLlama;
import org.sparknative.kernels.llama.ModelFile;
import org.sparknative.kernels.llama.Tokenizer;
import org.sparknative.udf.generate.ModelRegistry;

/**
 * Model and tokenizer files as users name them ({@code --model}, {@code --tokenizer}, the SQL functions'
 * arguments), resolved on the driver for validation and on each executor for use. A location is one of:
 * <ul>
 *   <li>a URI with a scheme: {@code file:///data/m.bin}, {@code hdfs://nn/models/m.bin}, {@code s3a://},
 *       {@code abfs://}, {@code gs://} or any other Hadoop {@link FileSystem} whose connector is on the
 *       classpath. The driver reads only the checkpoint's header (and the small tokenizer) through the
 *       Hadoop API; each executor copies the file once into its {@link ModelCache} and maps the copy;</li>
 *   <li>a local path that exists where it is resolved (the same path on every node: a shared mount, an
 *       image, a node-local copy);</li>
 *   <li>otherwise the name of a file shipped with {@code --files} / {@code spark.files}, found through
 *       {@link SparkFiles} (the driver has its own copy, so it validates that one).</li>
 * </ul>
 * A single-letter scheme is a Windows drive, not a URI.
 *
 * <p>Threading: stateless; the executor's copies are coordinated by {@link ModelCache}.
 */
public final class ModelFiles {
    private static final Pattern URI_LIKE = Pattern.compile("^[A-Za-z][A-Za-z0-9+.-]+:.*");

    private ModelFiles() {
    }

    /** @return whether {@code location} names a file through a Hadoop filesystem URI (has a scheme) */
    public static boolean isUri(String location) {
        return URI_LIKE.matcher(location).matches();
    }

    /**
     * Executor side: the local file to map for {@code location}.
     *
     * @param location as the user named it
     * @param sha256   the file's expected SHA-256 (hex), checked when a remote file is copied; null: size only
     * @param what     {@code model} or {@code tokenizer}, for messages
     * @return a local file: the path itself, the shipped copy, or the executor's cached copy of a URI
     * @throws CheckpointException naming the location if it cannot be found or copied intact
     */
    public static Path resolve(String location, String sha256, String what) {
        if (isUri(location)) {
            return ModelCache.local(location, sha256, what);
        }
        return resolveLocal(location, what);
    }

    /** {@link #resolve(String, String, String)} without an expected SHA-256. */
    public static Path resolve(String location, String what) {
        return resolve(location, null, what);
    }

    /**
     * A path that exists here, else the file of that name shipped with {@code --files}.
     *
     * @throws CheckpointException that says where models come from, if neither exists
     */
    static Path resolveLocal(String location, String what) {
        Path p = Path.of(location);
        if (Files.isRegularFile(p)) {
            return p;
        }
        try {
            String shipped = SparkFiles.get(new File(location).getName());
            if (shipped != null && Files.isRegularFile(Path.of(shipped))) {
                return Path.of(shipped);
            }
        } catch (RuntimeException | LinkageError e) {
            // no SparkContext here (tests, the benchmark harness): only the plain path counts
        }
        ModelRegistry.requireFile(p, what);
        return p;
    }

    /**
     * Driver side: validates a model file where the user named it and describes it, with the model's own
     * context ({@link #modelInfo(String, Configuration, int)}).
     */
    public static ModelFile.Info modelInfo(String location, Configuration hadoop) {
        return modelInfo(location, hadoop, 0);
    }

    /**
     * Driver side: validates a model file where the user named it and describes it. A llama2.c checkpoint's
     * header is checked against its file length (at most {@link Checkpoint#HEADER_READ_BYTES} bytes are read);
     * a GGUF file's header region (metadata and tensor infos, not the tensors) is read and validated, and its
     * {@code llama} architecture checked. A URI is read through the Hadoop API, a local file directly.
     *
     * @param hadoop        the session's Hadoop configuration ({@code spark.hadoop.*} settings included)
     * @param contextLength the context to run with, {@code <= 0} for the model's own; a llama2.c checkpoint
     *                      allows at most its {@code seq_len}
     * @return the model's format, shape (with the context as {@code seqLen}), length and tensor types
     * @throws CheckpointException naming the location: missing, unreadable, or invalid
     */
    public static ModelFile.Info modelInfo(String location, Configuration hadoop, int contextLength) {
        return info(location, header(location, hadoop), contextLength);
    }

    /** A model and the tokenizer a run will use, as the driver validated them. */
    public record Model(ModelFile.Info info, Tokenizer tokenizer) {
    }

    /**
     * Driver side: {@link #modelInfo(String, Configuration, int)}, and the tokenizer the run will use: the llama2.c
     * tokenizer file {@code tokenizer} if given, else the one a GGUF model carries (from the header region already
     * read), validated against the model's vocabulary. The model file is read once.
     *
     * @param tokenizer the tokenizer file, or null for a GGUF model's own
     * @throws CheckpointException naming the file: an invalid model, no tokenizer for a llama2.c checkpoint, an
     *                             unsupported or invalid tokenizer, or another vocabulary
     */
    public static Model model(String location, String tokenizer, Configuration hadoop, int contextLength) {
        Header h = header(location, hadoop);
        ModelFile.Info info = info(location, h, contextLength);
        int vocab = info.config().vocabSize();
        if (tokenizer != null) {
            return new Model(info, tokenizer(tokenizer, vocab, hadoop));
        }
        if (h.gguf() == null) {
            throw new CheckpointException(location, "a llama2.c checkpoint carries no tokenizer: give its"
                + " tokenizer.bin (--tokenizer)");
        }
        return new Model(info, GgufTokenizer.java(h.gguf(), null, vocab));
    }

    /**
     * Driver side: a GGUF model's header region (metadata and tensor infos, not the tensors), where the user named
     * it: a local path or {@code --files} name, or a URI read through the Hadoop API.
     *
     * @return the validated header region, or null if the file is not a GGUF file (a llama2.c checkpoint)
     * @throws CheckpointException naming the location: missing, unreadable or invalid
     */
    public static GgufFile ggufHeader(String location, Configuration hadoop) {
        return header(location, hadoop).gguf();
    }

    /** What the driver reads of a model: a GGUF file's header region, or else a llama2.c checkpoint's header. */
    private record Header(GgufFile gguf, Checkpoint.Header llama2c) {
    }

    private static ModelFile.Info info(String location, Header h, int contextLength) {
        return h.gguf() != null ? ModelFile.info(GgufLlama.of(h.gguf(), contextLength))
            : ModelFile.info(location, h.llama2c(), contextLength);
    }

    /** Reads a model's header where the user named it, recognising GGUF by its magic; the tensors are not read. */
    private static Header header(String location, Configuration hadoop) {
        if (!isUri(location)) {
            Path local = resolveLocal(location, "model");
            return ModelFile.isGguf(local) ? new Header(GgufFile.open(local), null)
                : new Header(null, Checkpoint.open(local).header());
        }
        org.apache.hadoop.fs.Path p = hadoopPath(location);
        try {
            FileSystem fs = fileSystem(p, hadoop, location, "model");
            FileStatus st = status(fs, p, location, "model");
            try (FSDataInputStream in = fs.open(p)) {
                byte[] head = new byte[(int) Math.min(st.getLen(), Checkpoint.HEADER_READ_BYTES)];
                in.readFully(0, head);
                if (head.length >= 4 && ModelFile.isGgufMagic(ByteBuffer.wrap(head).order(ByteOrder.LITTLE_ENDIAN).getInt(0))) {
                    return new Header(readGguf(location, st.getLen(), in), null);
                }
                return new Header(null, Checkpoint.parseHeader(location, ByteBuffer.wrap(head), st.getLen()));
            }
        } catch (IOException e) {
            throw new CheckpointException(location, "cannot read the model's header: " + e.getMessage());
        }
    }

    /** A GGUF file's header region read through Hadoop's positional reads (the tensors are not read). */
    private static GgufFile readGguf(String location, long fileBytes, FSDataInputStream in) {
        return GgufFile.read(location, fileBytes, (dst, pos) -> {
            int n = in.read(pos, dst.array(), dst.arrayOffset() + dst.position(), dst.remaining());
            if (n > 0) {
                dst.position(dst.position() + n);
            }
            return n;
        });
    }

    /**
     * Driver side: reads and validates a tokenizer (a few hundred KB: read whole, through the Hadoop API
     * for a URI).
     *
     * @param vocabSize the model's vocabulary size
     * @throws CheckpointException naming the location
     */
    public static Tokenizer tokenizer(String location, int vocabSize, Configuration hadoop) {
        if (!isUri(location)) {
            return Tokenizer.load(resolveLocal(location, "tokenizer"), vocabSize);
        }
        org.apache.hadoop.fs.Path p = hadoopPath(location);
        try {
            FileSystem fs = fileSystem(p, hadoop, location, "tokenizer");
            FileStatus st = status(fs, p, location, "tokenizer");
            if (st.getLen() > Integer.MAX_VALUE - 16) {
                throw new CheckpointException(location, "tokenizer file is " + st.getLen()
                    + " bytes, over the 2 GiB this reader supports");
            }
            byte[] all = new byte[(int) st.getLen()];
            try (FSDataInputStream in = fs.open(p)) {
                in.readFully(0, all);
            }
            return Tokenizer.parse(location, all, vocabSize);
        } catch (IOException e) {
            throw new CheckpointException(location, "cannot read the tokenizer: " + e.getMessage());
        }
    }

    /**
     * Driver side: the SHA-256 that identifies a file for {@code --resume}: {@code given} when the user gave
     * one (executors check their copies against it), else the file's, streamed once (through the Hadoop API
     * for a URI).
     */
    public static String sha256(String location, String given, Configuration hadoop) {
        if (given != null) {
            return given;
        }
        try (InputStream in = isUri(location) ? hadoopPath(location).getFileSystem(hadoop).open(hadoopPath(location))
            : Files.newInputStream(resolveLocal(location, "model"))) {
            return sha256(in, OutputStream.nullOutputStream());
        } catch (IOException e) {
            throw new CheckpointException(location, "cannot read: " + e.getMessage());
        }
    }

    /** Streams {@code in} to {@code out} and returns the bytes' SHA-256 in lower-case hex. */
    static String sha256(InputStream in, OutputStream out) throws IOException {
        MessageDigest md = sha256();
        try (DigestInputStream din = new DigestInputStream(in, md)) {
            din.transferTo(out);
        }
        return HexFormat.of().formatHex(md.digest());
    }

    /**
     * @return {@code hex} in lower case if it is 64 hex digits
     * @throws IllegalArgumentException naming {@code option} otherwise
     */
    public static String checkSha256(String hex, String option) {
        if (hex == null) {
            return null;
        }
        String h = hex.trim().toLowerCase(Locale.ROOT);
        if (!h.matches("[0-9a-f]{64}")) {
            throw new IllegalArgumentException(option + " must be 64 hex digits (a SHA-256), got '" + hex + "'");
        }
        return h;
    }

    static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    static org.apache.hadoop.fs.Path hadoopPath(String location) {
        try {
            return new org.apache.hadoop.fs.Path(new URI(location));
        } catch (URISyntaxException e) {
            throw new CheckpointException(location, "not a valid URI: " + e.getMessage());
        }
    }

    static FileSystem fileSystem(org.apache.hadoop.fs.Path p, Configuration hadoop, String location, String what)
        throws IOException {
        try {
            return p.getFileSystem(hadoop);
        } catch (UnsupportedFileSystemException e) {
            throw noConnector(p, location, what);
        } catch (RuntimeException e) {
            // Hadoop's defaults name a class for some schemes (fs.s3a.impl): without the connector jar that class is
            // missing, which Hadoop reports as a RuntimeException around a ClassNotFoundException.
            for (Throwable t = e; t != null; t = t.getCause()) {
                if (t instanceof ClassNotFoundException) {
                    throw noConnector(p, location, what);
                }
            }
            throw e;
        }
    }

    private static CheckpointException noConnector(org.apache.hadoop.fs.Path p, String location, String what) {
        String scheme = p.toUri().getScheme();
        return new CheckpointException(location, "no Hadoop FileSystem for scheme '" + scheme + "' on the classpath, "
            + "so the " + what + " cannot be read: add its connector jar (hadoop-aws for s3a, hadoop-azure for abfs, "
            + "gcs-connector for gs) with --jars or spark.jars, or give a local path or a file shipped with --files");
    }

    static FileStatus status(FileSystem fs, org.apache.hadoop.fs.Path p, String location, String what) throws IOException {
        try {
            FileStatus st = fs.getFileStatus(p);
            if (!st.isFile()) {
                throw new CheckpointException(location, what + " is not a file");
            }
            return st;
        } catch (FileNotFoundException e) {
            throw new CheckpointException(location, what + " file not found");
        }
    }
}

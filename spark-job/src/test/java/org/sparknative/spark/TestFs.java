package org.sparknative.spark;

import java.io.EOFException;
import java.io.IOException;
import java.net.URI;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.hadoop.fs.FSDataInputStream;
import org.apache.hadoop.fs.FSInputStream;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.RawLocalFileSystem;

/**
 * A Hadoop filesystem for tests under the scheme {@code testfs}: the local disk, so {@code testfs:///tmp/m.bin}
 * is {@code /tmp/m.bin}, reached through the same Hadoop API path as hdfs:// or s3a://. The test classpath
 * registers it through {@code META-INF/services/org.apache.hadoop.fs.FileSystem}, as connectors do. Knobs to make reads misbehave:
 * {@link #FAIL_AFTER_BYTES} (the stream throws once it has given that many bytes, like a dropped
 * connection) and {@link #SHORT_BY} (the stream ends that many bytes early, like a truncated transfer). It
 * counts the streams it opens ({@link #OPENS}).
 */
public class TestFs extends RawLocalFileSystem {
    public static final String SCHEME = "testfs";
    /** Bytes after which every stream throws; negative: never. */
    public static final AtomicLong FAIL_AFTER_BYTES = new AtomicLong(-1);
    /** Bytes every stream ends early by; 0: none. */
    public static final AtomicLong SHORT_BY = new AtomicLong(0);
    public static final AtomicInteger OPENS = new AtomicInteger();

    /** Resets the knobs. */
    public static void reset() {
        FAIL_AFTER_BYTES.set(-1);
        SHORT_BY.set(0);
    }

    /** @return {@code testfs://} + the absolute path of {@code p} */
    public static String uri(java.nio.file.Path p) {
        return SCHEME + "://" + p.toAbsolutePath();
    }

    @Override
    public URI getUri() {
        return URI.create(SCHEME + ":///");
    }

    @Override
    public String getScheme() {
        return SCHEME;
    }

    @Override
    public FSDataInputStream open(Path f, int bufferSize) throws IOException {
        OPENS.incrementAndGet();
        FSDataInputStream in = super.open(f, bufferSize);
        long length = getFileStatus(f).getLen();
        long end = length - SHORT_BY.get();
        long failAfter = FAIL_AFTER_BYTES.get();
        return new FSDataInputStream(new FSInputStream() {
            @Override
            public void seek(long pos) throws IOException {
                in.seek(pos);
            }

            @Override
            public long getPos() throws IOException {
                return in.getPos();
            }

            @Override
            public boolean seekToNewSource(long targetPos) {
                return false;
            }

            @Override
            public int read() throws IOException {
                byte[] one = new byte[1];
                return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
            }

            @Override
            public int read(byte[] b, int off, int len) throws IOException {
                long pos = in.getPos();
                if (failAfter >= 0 && pos >= failAfter) {
                    throw new EOFException("testfs: connection dropped at byte " + pos);
                }
                if (pos >= end) {
                    return -1;
                }
                long limit = Math.min(end, failAfter >= 0 ? failAfter : Long.MAX_VALUE);
                return in.read(b, off, (int) Math.min(len, limit - pos));
            }

            @Override
            public void close() throws IOException {
                in.close();
            }
        });
    }
}

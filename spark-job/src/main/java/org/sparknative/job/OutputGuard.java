package org.sparknative.job;

import java.io.IOException;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.util.ShutdownHookManager;
import org.apache.spark.sql.SparkSession;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Removes the output folder a run created when the run does not finish: after a failure (through
 * {@link #close()}) and after SIGTERM or Ctrl-C (through a shutdown hook that runs once Spark has
 * stopped and before Hadoop closes its file systems). A folder that existed before the run is left alone
 * (with {@code --overwrite}, Spark has already replaced its contents). Then the rerun is the same command.
 *
 * <p>Threading: {@link #committed()} and {@link #close()} from the job's thread; the hook from the JVM's
 * shutdown thread.
 */
final class OutputGuard implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(OutputGuard.class);
    /** After Spark's own hooks (priority 30 in Hadoop's manager), before the file system cache closes (10). */
    private static final int HOOK_PRIORITY = 20;

    private final Path path;
    private final Configuration conf;
    private final boolean existed;
    private final Runnable hook = this::removeIfUnfinished;
    private volatile boolean done;

    private OutputGuard(Path path, Configuration conf, boolean existed) {
        this.path = path;
        this.conf = conf;
        this.existed = existed;
    }

    /** @return a guard of {@code output}, or a no-op guard when there is no output */
    static OutputGuard of(SparkSession spark, String output) {
        if (output == null) {
            return new OutputGuard(null, null, true);
        }
        Configuration conf = spark.sparkContext().hadoopConfiguration();
        Path p = new Path(output);
        try {
            OutputGuard g = new OutputGuard(p, conf, p.getFileSystem(conf).exists(p));
            ShutdownHookManager.get().addShutdownHook(g.hook, HOOK_PRIORITY);
            return g;
        } catch (IOException e) {
            throw new java.io.UncheckedIOException("cannot check --output " + output + ": " + e.getMessage(), e);
        }
    }

    /** The output is committed: keep it. */
    void committed() {
        done = true;
    }

    @Override
    public void close() {
        removeIfUnfinished();
        if (path != null && !ShutdownHookManager.get().isShutdownInProgress()) {
            ShutdownHookManager.get().removeShutdownHook(hook);
        }
    }

    private synchronized void removeIfUnfinished() {
        if (done || existed || path == null) {
            return;
        }
        done = true;
        try {
            FileSystem fs = path.getFileSystem(conf);
            // Task threads that were mid-write when Spark stopped can still create a file or two: delete until
            // the folder stays gone (bounded).
            for (int attempt = 0; attempt < 20 && fs.exists(path); attempt++) {
                fs.delete(path, true);
                Thread.sleep(100);
            }
            LOG.warn("removed the unfinished output {}", path);
        } catch (IOException | RuntimeException e) {
            LOG.error("could not remove the unfinished output {}", path, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}

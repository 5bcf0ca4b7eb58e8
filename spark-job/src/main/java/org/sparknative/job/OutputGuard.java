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
 * <p>Outputs written in chunks ({@code generate}, see {@link ChunkedOutput}) keep what they committed:
 * once a part of the output is committed through {@link #commit}, a failed or killed run removes only the
 * uncommitted {@link #staging staging} folder and leaves the committed chunks for {@code --resume}; so does
 * a run that resumes an existing output. A run that committed nothing into a folder it created (or
 * replaced, {@link #owned}) still removes the whole folder.
 *
 * <p>Threading: {@link #committed()}, {@link #commit}, {@link #staging}, {@link #owned} and {@link #close()}
 * from the job's thread; the hook from the JVM's shutdown thread. {@link #commit} and the clean-up exclude
 * each other, so a kill never removes half of a chunk being committed, and nothing is committed after the
 * clean-up.
 */
final class OutputGuard implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(OutputGuard.class);
    /** After Spark's own hooks (priority 30 in Hadoop's manager), before the file system cache closes (10). */
    private static final int HOOK_PRIORITY = 20;

    private final Path path;
    private final Configuration conf;
    private volatile boolean existed;
    private final Runnable hook = this::removeIfUnfinished;
    private volatile boolean done;
    private volatile Path staging;
    /** Part of the output is committed: keep it. Guarded by this. */
    private boolean partial;

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

    /** An I/O action run under the guard's lock. */
    @FunctionalInterface
    interface Commit {
        void run() throws IOException;
    }

    /** The run has created or replaced the folder itself: if it fails before committing anything, remove it all. */
    void owned() {
        existed = false;
    }

    /** The folder of uncommitted work inside the output: removed when the run fails after committing a part. */
    void staging(Path folder) {
        staging = folder;
    }

    /**
     * Commits a part of the output (e.g. renames a chunk from the staging folder into the output), unless the
     * run is already being cleaned up; from then on a failed run keeps the committed parts.
     *
     * @return false if the run was stopped (killed) first and {@code commit} did not run
     */
    synchronized boolean commit(Commit commit) throws IOException {
        if (done) {
            return false;
        }
        commit.run();
        partial = true;
        return true;
    }

    @Override
    public void close() {
        removeIfUnfinished();
        if (path != null && !ShutdownHookManager.get().isShutdownInProgress()) {
            ShutdownHookManager.get().removeShutdownHook(hook);
        }
    }

    private synchronized void removeIfUnfinished() {
        if (done || path == null) {
            return;
        }
        done = true;
        if (existed || partial) {
            removeStaging();
            if (partial) {
                LOG.warn("kept the committed chunks of the unfinished output {}: rerun with --resume to finish", path);
                System.err.println("spark-native: the run stopped; the chunks it committed stay in " + path
                    + ": rerun the same command with --resume to finish");
            }
            return;
        }
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

    private void removeStaging() {
        Path s = staging;
        if (s == null) {
            return;
        }
        try {
            FileSystem fs = s.getFileSystem(conf);
            if (fs.exists(s)) {
                fs.delete(s, true);
                LOG.warn("removed the uncommitted part {}", s);
            }
        } catch (IOException | RuntimeException e) {
            LOG.error("could not remove the uncommitted part {}", s, e);
        }
    }
}

package org.sparknative.job;

import static org.apache.spark.sql.functions.col;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.regex.Pattern;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.sparknative.spark.RowIds;

/**
 * A {@code generate} output written and committed in chunks, so that a killed run keeps what it finished
 * and {@code --resume} writes only the rest. The output folder is an ordinary Spark output folder (part
 * files at its top), plus hidden bookkeeping files:
 *
 * <pre>
 * OUT/_sparknative.json               what made the output ({@link OutputMetadata}), written once, first
 * OUT/part-c00000-00000-*.parquet     chunk 0's part files (Spark's names, with the chunk number added)
 * OUT/_chunk-00000.json               chunk 0's marker {@link Committed}: its rows, input range and files
 * OUT/part-c00001-...                 chunk 1 ...
 * OUT/_staging/chunk-00002/           the chunk being written (not committed)
 * OUT/_SUCCESS                        the run finished: every input row is in a chunk
 * </pre>
 *
 * <p>A chunk is written by its own Spark job into {@code _staging/chunk-NNNNN} through Spark's output
 * committer (so only complete part files land there). It is then committed by renaming its part files
 * into the output and, last, its marker: the marker's rename is the commit. A chunk is committed when its
 * marker and every file it lists are there; part files that no committed marker lists (left by a run killed
 * with SIGKILL in the middle of a commit) are removed by the next {@code --resume} before it writes
 * anything. SIGTERM and failures never leave them: the commit and {@link OutputGuard}'s clean-up exclude
 * each other. Names starting with {@code _} are hidden from Spark's readers, so
 * {@code spark.read().parquet(OUT)} (or json, csv) reads the committed rows, each once, with no extra
 * column.
 */
final class ChunkedOutput {
    static final String STAGING = "_staging";
    static final String SUCCESS = "_SUCCESS";
    private static final Pattern MARKER = Pattern.compile("_chunk-(\\d{5,})\\.json");

    /**
     * A committed chunk's marker: the chunk holds {@code rows} rows in the part files {@code files}, and after
     * its commit every input row in {@code firstInputRow..lastInputRow} (1-based input positions, see
     * {@link RowIds#INPUT_ROW}) is in this chunk or in an earlier one.
     */
    record Committed(int chunk, long rows, long firstInputRow, long lastInputRow, List<String> files) {
        Committed withFiles(List<String> names) {
            return new Committed(chunk, rows, firstInputRow, lastInputRow, List.copyOf(names));
        }
    }

    private final SparkSession spark;
    private final FileSystem fs;
    private final Path root;
    private final DataIO.Format format;
    private final OutputMetadata metadata;
    /** An existing output is resumed (else a new one is created, or an existing one replaced). */
    private final boolean resuming;
    private final boolean replace;
    private boolean begun;
    private List<Committed> committed;

    private ChunkedOutput(SparkSession spark, FileSystem fs, Path root, DataIO.Format format, OutputMetadata metadata,
                          boolean resuming, boolean replace) {
        this.spark = spark;
        this.fs = fs;
        this.root = root;
        this.format = format;
        this.metadata = metadata;
        this.resuming = resuming;
        this.replace = replace;
    }

    /**
     * Checks the output folder before anything is read or written: with {@code resume} and an existing
     * folder, that it was made by a chunked {@code generate} run with the same settings ({@code run}).
     * Changes nothing on disk ({@link #begin} does).
     *
     * @throws UsageException naming every setting that differs from the output's
     * @throws IllegalArgumentException if the folder is not a resumable output
     */
    static ChunkedOutput open(SparkSession spark, String output, DataIO.Format format, boolean overwrite, boolean resume,
                              OutputMetadata run) {
        try {
            Path p = new Path(output);
            FileSystem fs = p.getFileSystem(spark.sparkContext().hadoopConfiguration());
            Path root = fs.makeQualified(p);
            boolean exists = fs.exists(root);
            if (exists && resume) {
                if (!fs.getFileStatus(root).isDirectory()) {
                    throw new IllegalArgumentException("--resume: --output " + output + " is a file, not an output folder");
                }
                OutputMetadata made = OutputMetadata.read(fs, new Path(root, OutputMetadata.FILE));
                if (made == null) {
                    throw new IllegalArgumentException("--resume: --output " + output + " has no " + OutputMetadata.FILE
                        + ", so it was not written by a resumable generate run; use --overwrite to start over");
                }
                List<String> diffs = made.differences(run);
                if (!diffs.isEmpty()) {
                    throw new UsageException("--resume: " + String.join("; ", diffs));
                }
            }
            return new ChunkedOutput(spark, fs, root, format, run, exists && resume, exists && !resume && overwrite);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot check --output " + output + ": " + e.getMessage(), e);
        }
    }

    /** @return true if this run continues an existing output */
    boolean resuming() {
        return resuming;
    }

    Path root() {
        return root;
    }

    /**
     * Makes the folder ready for chunks, once, right before the first chunk is written (so that a run that
     * fails earlier, e.g. on a missing column, changes nothing): a new output gets its folder and metadata (an
     * existing one with {@code --overwrite} is removed first); a resumed one loses what no committed chunk
     * holds (a killed run's staging folder and stray part files) and its {@value #SUCCESS} marker (until this
     * run finishes).
     */
    void begin(OutputGuard guard) {
        if (begun) {
            return;
        }
        begun = true;
        Path staging = new Path(root, STAGING);
        try {
            if (resuming) {
                fs.delete(staging, true);
                fs.delete(new Path(root, SUCCESS), false);
                Set<String> kept = new HashSet<>();
                for (Committed c : committed()) {
                    kept.add(markerName(c.chunk()));
                    kept.addAll(c.files());
                }
                for (FileStatus st : fs.listStatus(root)) {
                    String name = st.getPath().getName();
                    boolean stray = st.isFile() && !kept.contains(name)
                        && (name.startsWith("part-c") || MARKER.matcher(name).matches());
                    if (stray) {
                        fs.delete(st.getPath(), false);
                    }
                }
            } else {
                if (replace) {
                    fs.delete(root, true);
                }
                fs.mkdirs(root);
                guard.owned();
                metadata.write(fs, new Path(root, OutputMetadata.FILE));
            }
            guard.staging(staging);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot prepare --output " + root + ": " + e.getMessage(), e);
        }
    }

    /**
     * @return the committed chunks, by number (none for a new output): those whose marker is there with every
     *         part file it lists
     */
    List<Committed> committed() {
        if (committed != null) {
            return committed;
        }
        List<Committed> found = new ArrayList<>();
        if (resuming) {
            try {
                Set<String> names = new HashSet<>();
                List<Path> markers = new ArrayList<>();
                for (FileStatus st : fs.listStatus(root)) {
                    names.add(st.getPath().getName());
                    if (st.isFile() && MARKER.matcher(st.getPath().getName()).matches()) {
                        markers.add(st.getPath());
                    }
                }
                for (Path m : markers) {
                    Committed c = OutputMetadata.readJson(fs, m, Committed.class);
                    if (c.files() != null && names.containsAll(c.files())) {
                        found.add(c);
                    }
                }
            } catch (IOException e) {
                throw new UncheckedIOException("cannot list --output " + root + ": " + e.getMessage(), e);
            }
        }
        found.sort(Comparator.comparingInt(Committed::chunk));
        committed = List.copyOf(found);
        return committed;
    }

    /** @return the number the next chunk gets */
    int nextChunk() {
        List<Committed> c = committed();
        return c.isEmpty() ? 0 : c.get(c.size() - 1).chunk() + 1;
    }

    /** @return the rows in committed chunks */
    long committedRows() {
        return committed().stream().mapToLong(Committed::rows).sum();
    }

    /**
     * @return the {@code id} values of the committed rows, as strings, in the column {@code column} (read
     *         back from the committed chunks' part files); call only when there are some
     */
    Dataset<Row> committedIds(String column) {
        String[] files = committed().stream().flatMap(c -> c.files().stream())
            .map(f -> new Path(root, f).toString()).toArray(String[]::new);
        Dataset<Row> ids = switch (format) {
            case PARQUET -> spark.read().parquet(files).select(col(RowIds.ID));
            // A schema of just the id: no inference pass over the completions; JSON numbers read as their text.
            case JSON -> spark.read().schema("`" + RowIds.ID + "` STRING").json(files);
            // No inference: every field a string, as written.
            case CSV -> spark.read().option("header", "true").option("multiLine", "true").csv(files).select(col(RowIds.ID));
        };
        return ids.select(col(RowIds.ID).cast(DataTypes.StringType).as(column));
    }

    static String chunkName(int chunk) {
        return String.format(Locale.ROOT, "chunk-%05d", chunk);
    }

    private static String markerName(int chunk) {
        return "_" + chunkName(chunk) + ".json";
    }

    /**
     * Writes {@code rows} as chunk {@code chunk.chunk()} (one Spark job) into the staging folder, then commits
     * it: renames its part files into the output, then its marker.
     *
     * @throws IllegalStateException if the run was stopped before the commit
     */
    void write(Committed chunk, Dataset<Row> rows, OutputGuard guard) {
        begin(guard);
        String name = chunkName(chunk.chunk());
        Path staged = new Path(new Path(root, STAGING), name);
        DataIO.write(rows, staged.toString(), format, true);
        try {
            // part-00000-<uuid>-c000.snappy.parquet -> part-c00003-00000-<uuid>-c000.snappy.parquet
            SortedMap<String, Path> parts = new TreeMap<>();
            for (FileStatus st : fs.listStatus(staged)) {
                String n = st.getPath().getName();
                if (st.isFile() && !n.startsWith("_") && !n.startsWith(".")) {
                    parts.put(String.format(Locale.ROOT, "part-c%05d-", chunk.chunk())
                        + (n.startsWith("part-") ? n.substring(5) : n), st.getPath());
                }
            }
            Path marker = new Path(staged, markerName(chunk.chunk()));
            OutputMetadata.writeJson(fs, marker, chunk.withFiles(new ArrayList<>(parts.keySet())));
            boolean done = guard.commit(() -> {
                for (Map.Entry<String, Path> part : parts.entrySet()) {
                    rename(part.getValue(), new Path(root, part.getKey()));
                }
                rename(marker, new Path(root, marker.getName()));
            });
            if (!done) {
                throw new IllegalStateException("the run was stopped before " + name + " was committed");
            }
            fs.delete(staged, true);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot commit " + name + " into " + root + ": " + e.getMessage(), e);
        }
    }

    private void rename(Path from, Path to) throws IOException {
        if (fs.exists(to)) {
            throw new IOException(to + " exists already (is another run writing this output?)");
        }
        if (!fs.rename(from, to)) {
            throw new IOException("cannot rename " + from + " to " + to);
        }
    }

    /** Marks the output complete: removes the staging folder and writes {@value #SUCCESS}. */
    void finish(OutputGuard guard) {
        begin(guard);
        try {
            fs.delete(new Path(root, STAGING), true);
            fs.create(new Path(root, SUCCESS), true).close();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot finish --output " + root + ": " + e.getMessage(), e);
        }
    }
}

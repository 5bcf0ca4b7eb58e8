package org.sparknative.job;

import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SaveMode;
import org.apache.spark.sql.SparkSession;

/** Reading job input and writing job output through Spark's data sources. */
final class DataIO {
    private DataIO() {
    }

    /** The file formats the jobs read and write. */
    enum Format {
        PARQUET, JSON, CSV;

        static Format parse(String s) {
            try {
                return valueOf(s.trim().toUpperCase(Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("format must be parquet, json or csv, got '" + s + "'");
            }
        }

        /** Guesses an input's format from its name: .csv, .json/.jsonl/.ndjson, else Parquet. */
        static Format ofPath(String path) {
            String p = path.toLowerCase(Locale.ROOT);
            if (p.endsWith(".csv") || p.endsWith(".csv.gz")) {
                return CSV;
            }
            if (p.endsWith(".json") || p.endsWith(".jsonl") || p.endsWith(".ndjson") || p.endsWith(".json.gz")
                || p.endsWith(".jsonl.gz")) {
                return JSON;
            }
            return PARQUET;
        }
    }

    /**
     * Reads {@code path} (a file or a directory of part files) as a DataFrame.
     *
     * @throws IllegalArgumentException if a local path does not exist
     */
    static Dataset<Row> read(SparkSession spark, String path, Format format) {
        requireLocalExists(path, "");
        return switch (format) {
            case PARQUET -> spark.read().parquet(path);
            case JSON -> spark.read().json(path);
            // RFC 4180: quoted fields may hold line breaks, and a quote inside one is written twice.
            case CSV -> spark.read().option("header", "true").option("inferSchema", "true")
                .option("multiLine", "true").option("quote", "\"").option("escape", "\"").csv(path);
        };
    }

    /**
     * Writes {@code df} to the directory {@code path} through Spark's output committer: a failed job
     * leaves no committed partial output.
     */
    static void write(Dataset<Row> df, String path, Format format, boolean overwrite) {
        var w = df.write().mode(overwrite ? SaveMode.Overwrite : SaveMode.ErrorIfExists);
        switch (format) {
            case PARQUET -> w.parquet(path);
            case JSON -> w.json(path);
            case CSV -> w.option("header", "true").csv(path);
        }
    }

    /**
     * Refuses, before anything is read or deleted, an output folder that is the input, contains it or
     * lies inside it: with {@code --overwrite} Spark would clear the folder before reading the input.
     * Paths are compared fully qualified through Hadoop's file system (so {@code out}, {@code ./out} and
     * {@code file:///.../out} are one path).
     *
     * <p>Also refuses an existing output without {@code --overwrite} up front, instead of after the work
     * (Spark's {@code PATH_ALREADY_EXISTS}).
     *
     * @throws UsageException naming both paths
     */
    static void checkOutput(SparkSession spark, String input, String output, boolean overwrite) {
        if (output == null) {
            return;
        }
        if (!overwrite) {
            try {
                org.apache.hadoop.fs.Path p = new org.apache.hadoop.fs.Path(output);
                if (p.getFileSystem(spark.sparkContext().hadoopConfiguration()).exists(p)) {
                    throw new IllegalArgumentException("--output " + output + " already exists; add --overwrite to replace it");
                }
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException("cannot check --output " + output + ": " + e.getMessage(), e);
            }
        }
        requireCreatable(output);
        if (input == null) {
            return;
        }
        String in = qualified(spark, input);
        String out = qualified(spark, output);
        String why = null;
        if (in.equals(out)) {
            why = "is the input";
        } else if (in.startsWith(out + "/")) {
            why = "contains the input";
        } else if (out.startsWith(in + "/")) {
            why = "lies inside the input";
        }
        if (why != null) {
            throw new UsageException("--output " + output + " " + why + " " + input
                + ": writing there would delete the input; choose another --output");
        }
    }

    /** A local output must be creatable: its nearest existing ancestor is a writable folder. */
    private static void requireCreatable(String output) {
        String scheme = null;
        try {
            scheme = URI.create(output).getScheme();
        } catch (IllegalArgumentException e) {
            // a plain local path
        }
        if (scheme != null && !scheme.equals("file")) {
            return; // remote file systems answer for themselves when the job writes
        }
        Path p = (scheme == null ? Path.of(output) : Path.of(URI.create(output))).toAbsolutePath();
        Path existing = p;
        while (existing != null && !Files.exists(existing)) {
            existing = existing.getParent();
        }
        if (existing == null || !Files.isDirectory(existing) || !Files.isWritable(existing)) {
            throw new UsageException("--output " + output + " cannot be written: " + existing
                + (existing != null && !Files.isDirectory(existing) ? " is not a folder" : " is not writable"));
        }
    }

    private static String qualified(SparkSession spark, String path) {
        try {
            org.apache.hadoop.fs.Path p = new org.apache.hadoop.fs.Path(path);
            org.apache.hadoop.fs.FileSystem fs = p.getFileSystem(spark.sparkContext().hadoopConfiguration());
            String q = fs.makeQualified(p).toUri().normalize().toString();
            return q.endsWith("/") ? q.substring(0, q.length() - 1) : q;
        } catch (java.io.IOException | IllegalArgumentException e) {
            throw new UsageException("cannot resolve path " + path + ": " + e.getMessage());
        }
    }

    /**
     * @param what the start of the message, e.g. {@code "--table t=x.csv: "}
     * @throws IllegalArgumentException {@code <what>input not found: <path>} if a local path does not exist
     *                                  (a remote URI is left to Spark)
     */
    static void requireLocalExists(String path, String what) {
        Path p = localPath(path);
        if (p != null && !Files.exists(p)) {
            throw new IllegalArgumentException(what + "input not found: " + path);
        }
    }

    /** @return {@code path} as a local path (a plain path or a {@code file:} URI), or null for another file system */
    static Path localPath(String path) {
        String scheme = null;
        try {
            scheme = URI.create(path).getScheme();
        } catch (IllegalArgumentException e) {
            // not a URI: a plain local path
        }
        if (scheme == null) {
            return Path.of(path);
        }
        return scheme.equals("file") ? Path.of(URI.create(path)) : null;
    }
}

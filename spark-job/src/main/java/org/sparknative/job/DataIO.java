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
        requireLocalExists(path);
        return switch (format) {
            case PARQUET -> spark.read().parquet(path);
            case JSON -> spark.read().json(path);
            case CSV -> spark.read().option("header", "true").option("inferSchema", "true").csv(path);
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

    private static void requireLocalExists(String path) {
        String scheme = null;
        try {
            scheme = URI.create(path).getScheme();
        } catch (IllegalArgumentException e) {
            // not a URI: a plain local path
        }
        if (scheme == null || scheme.equals("file")) {
            Path p = scheme == null ? Path.of(path) : Path.of(URI.create(path));
            if (!Files.exists(p)) {
                throw new IllegalArgumentException("input not found: " + path);
            }
        }
    }
}

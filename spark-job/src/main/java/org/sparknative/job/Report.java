package org.sparknative.job;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.sparknative.job.report.Format;
import org.sparknative.spark.ExecutorActivity;

/** Plain-text tables and JSON summaries of a job run; numbers read as {@link Format} writes them. */
final class Report {
    private Report() {
    }

    /** Writes {@code summary} (a record or map) as indented JSON to {@code file}, creating parent folders. */
    static void writeJson(Object summary, Path file) {
        try {
            Path parent = file.toAbsolutePath().getParent();
            if (parent != null) {
                Files.createDirectories(parent);
            }
            new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValue(file.toFile(), summary);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException("cannot write summary " + file + ": " + e.getMessage(), e);
        }
    }

    /**
     * Checks, before any work, that {@code file} can be written: its folder exists or can be made, and a
     * file can be created there.
     *
     * @throws UsageException naming the file and why not
     */
    static void checkWritable(Path file) {
        Path parent = file.toAbsolutePath().getParent();
        try {
            Files.createDirectories(parent);
            if (Files.isDirectory(file)) {
                throw new UsageException("--summary " + file + " is a directory");
            }
            Path probe = Files.createTempFile(parent, ".spark-native-", ".probe");
            Files.delete(probe);
            if (Files.exists(file) && !Files.isWritable(file)) {
                throw new UsageException("--summary " + file + " is not writable");
            }
        } catch (IOException e) {
            throw new UsageException("--summary " + file + " cannot be written: " + e.getMessage());
        }
    }

    /** Prints a left-aligned first column and right-aligned others, with a rule under the header. */
    static void table(PrintStream out, List<String> header, List<List<String>> rows) {
        int[] w = new int[header.size()];
        for (int i = 0; i < w.length; i++) {
            w[i] = header.get(i).length();
            for (List<String> r : rows) {
                w[i] = Math.max(w[i], r.get(i).length());
            }
        }
        StringBuilder sb = new StringBuilder();
        line(sb, header, w);
        for (int i = 0; i < w.length; i++) {
            sb.append(i == 0 ? "" : "  ").append("-".repeat(w[i]));
        }
        sb.append('\n');
        for (List<String> r : rows) {
            line(sb, r, w);
        }
        out.print(sb);
        out.flush();
    }

    /**
     * Prints the per-executor section of a run's summary ({@link ExecutorActivity}): one line per executor, with
     * {@code -} where nothing measured a figure (no plugin, no tracked counter).
     *
     * @param tokens whether to show the prompt and completion token columns
     */
    static void executors(PrintStream out, List<ExecutorActivity.Executor> executors, boolean tokens) {
        if (executors.isEmpty()) {
            return;
        }
        List<String> header = new ArrayList<>(List.of("executor", "host", "tasks", "failed", "rows"));
        if (tokens) {
            header.addAll(List.of("prompt tokens", "completion tokens"));
        }
        header.addAll(List.of("task s", "GC s", "peak exec MiB", "lib loads", "model maps", "mapped MiB", "native s",
            "backend"));
        List<List<String>> rows = new ArrayList<>();
        for (ExecutorActivity.Executor e : executors) {
            List<String> r = new ArrayList<>(List.of(e.executorId(), e.host(), count(e.tasks()), count(e.failedTasks()),
                count(e.rows())));
            if (tokens) {
                r.addAll(List.of(count(e.promptTokens()), count(e.completionTokens())));
            }
            r.addAll(List.of(fixed(e.taskSeconds(), 2), fixed(e.gcSeconds(), 2), mib(e.peakExecutionMemoryBytes()),
                count(e.nativeLibraryLoads()), count(e.modelMaps()), mib(e.modelMappedBytes()),
                e.nativeSeconds() == null ? "-" : fixed(e.nativeSeconds(), 2),
                e.backends() == null || e.backends().isEmpty() ? "-" : e.backends()));
            rows.add(r);
        }
        out.println();
        table(out, header, rows);
        for (ExecutorActivity.Executor e : executors) {
            if (e.lost() != null) {
                out.println("executor " + e.executorId() + " was lost during the run (" + e.lost()
                    + "); Spark ran its tasks again elsewhere");
            }
        }
    }

    private static String count(Number n) {
        return Format.count(n);
    }

    private static String mib(Long bytes) {
        return bytes == null ? "-" : fixed(bytes / (1024.0 * 1024.0), 1);
    }

    private static void line(StringBuilder sb, List<String> cells, int[] w) {
        for (int i = 0; i < w.length; i++) {
            String c = cells.get(i);
            if (i == 0) {
                sb.append(c).append(" ".repeat(w[i] - c.length()));
            } else {
                sb.append("  ").append(" ".repeat(w[i] - c.length())).append(c);
            }
        }
        sb.append('\n');
    }

    /** Formats a rate or count with an SI suffix: 1.23M, 456.7k ({@link Format#si}). */
    static String si(double v) {
        return Format.si(v);
    }

    /** {@link Format#fixed}. */
    static String fixed(double v, int digits) {
        return Format.fixed(v, digits);
    }

    /** {@link Format#sci}. */
    static String sci(double v) {
        return Format.sci(v);
    }
}

package org.sparknative.job.report;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.github.mustachejava.DefaultMustacheFactory;
import com.github.mustachejava.Mustache;
import java.io.IOException;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;

/**
 * Reads a {@code spark-native bench} run's {@code report.json} and writes its report: {@code report.html} (one
 * self-contained file: inline CSS and SVG charts, no scripts, nothing fetched, so it opens from a mail) and
 * {@code report.md} (the same sections and tables, without the charts).
 *
 * <p>Both pages come from the Mustache templates {@code report.html.mustache} and {@code report.md.mustache} beside
 * this class, rendered from a view model of the report. Output is deterministic: the same report (or the same
 * {@code report.json}, read back) gives byte-identical pages, in any default locale.
 *
 * <p>Thread-safe: every call builds its own charts and view.
 */
public final class ReportBuilder {
    /** The file names {@link #write} writes. */
    public static final String JSON = "report.json";
    /** The HTML page. */
    public static final String HTML = "report.html";
    /** The Markdown page. */
    public static final String MARKDOWN = "report.md";

    private static final String TEMPLATES = "org/sparknative/job/report";
    private static final ObjectMapper MAPPER = new ObjectMapper()
        .enable(SerializationFeature.INDENT_OUTPUT)
        .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);
    private static final Mustache HTML_TEMPLATE = new DefaultMustacheFactory(TEMPLATES).compile(HTML + ".mustache");
    private static final Mustache MARKDOWN_TEMPLATE = new MarkdownFactory().compile(MARKDOWN + ".mustache");

    private ReportBuilder() {
    }

    /**
     * Both pages of a report.
     *
     * @param html     {@code report.html}
     * @param markdown {@code report.md}
     * @param charts   the charts the HTML holds (its {@code <svg>} elements)
     */
    public record Pages(String html, String markdown, int charts) {
    }

    /**
     * Reads a {@code report.json}.
     *
     * @param json the file
     * @return the report
     * @throws UncheckedIOException     naming the file, where it is missing or cannot be read
     * @throws IllegalArgumentException naming the file, where it is not JSON, not a bench report, or has a
     *                                  {@code schemaVersion} newer than {@link BenchReport#SCHEMA_VERSION}
     */
    public static BenchReport read(Path json) {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(json);
        } catch (IOException e) {
            throw io("cannot read report", json, e);
        }
        JsonNode tree;
        try {
            tree = MAPPER.readTree(bytes);
        } catch (IOException e) {
            String why = e instanceof JsonProcessingException p ? p.getOriginalMessage() : e.getMessage();
            throw invalid("report " + json + " is not valid JSON: " + why, e);
        }
        if (tree == null || !tree.isObject()) {
            throw new IllegalArgumentException("report " + json + " is not a spark-native bench report (not a JSON"
                + " object)");
        }
        JsonNode version = tree.get("schemaVersion");
        if (version == null || !version.canConvertToInt() || version.asInt() < 1) {
            throw new IllegalArgumentException("report " + json + " is not a spark-native bench report (no"
                + " schemaVersion)");
        }
        if (version.asInt() > BenchReport.SCHEMA_VERSION) {
            throw new IllegalArgumentException("report " + json + " has schemaVersion " + version.asInt()
                + ", newer than this spark-native reads (" + BenchReport.SCHEMA_VERSION + "); use a newer"
                + " spark-native to build its report");
        }
        try {
            return MAPPER.treeToValue(tree, BenchReport.class);
        } catch (JsonProcessingException e) {
            throw invalid("report " + json + " does not fit the bench report layout: " + e.getOriginalMessage(), e);
        }
    }

    /**
     * Writes {@code report.json} (indented), {@code report.html} and {@code report.md} into {@code dir}, creating it;
     * existing files of those names are replaced. The pages are rendered before anything is written.
     *
     * @param report the report
     * @param dir    the folder
     * @return the files written, in that order
     * @throws UncheckedIOException naming the folder or file that could not be written
     */
    public static List<Path> write(BenchReport report, Path dir) {
        Pages pages = render(report);
        String json;
        try {
            json = MAPPER.writeValueAsString(report) + "\n";
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot write the report as JSON: " + e.getOriginalMessage(), e);
        }
        try {
            Files.createDirectories(dir);
        } catch (FileAlreadyExistsException e) {
            throw io("cannot write the report into", dir, new IOException("it is not a folder"));
        } catch (IOException e) {
            throw io("cannot create report folder", dir, e);
        }
        Path j = writeFile(dir.resolve(JSON), json);
        Path h = writeFile(dir.resolve(HTML), pages.html());
        Path m = writeFile(dir.resolve(MARKDOWN), pages.markdown());
        return List.of(j, h, m);
    }

    /** @return {@code report.md} of {@code report} */
    public static String markdown(BenchReport report) {
        return render(report).markdown();
    }

    /** @return {@code report.html} of {@code report} */
    public static String html(BenchReport report) {
        return render(report).html();
    }

    /**
     * Renders both pages; draws the charts once.
     *
     * @param report the report; any section may be null, any list empty
     * @return its pages
     */
    public static Pages render(BenchReport report) {
        ReportView.Page page = ReportView.of(report);
        return new Pages(execute(HTML_TEMPLATE, page), execute(MARKDOWN_TEMPLATE, page), page.charts());
    }

    private static String execute(Mustache template, ReportView.Page page) {
        StringWriter out = new StringWriter();
        template.execute(out, page);
        return out.toString();
    }

    private static Path writeFile(Path file, String text) {
        try {
            Files.writeString(file, text, StandardCharsets.UTF_8);
            return file;
        } catch (IOException e) {
            throw io("cannot write", file, e);
        }
    }

    /**
     * @return an exception with {@code message} and Jackson's as a suppressed one, not as its cause: the command line
     *         shows the innermost I/O cause's message, and Jackson's does not name the file
     */
    private static IllegalArgumentException invalid(String message, IOException e) {
        IllegalArgumentException x = new IllegalArgumentException(message);
        x.addSuppressed(e);
        return x;
    }

    /**
     * @return an exception whose message (and that of its cause, which the command line shows) names the file and
     *         says why in words, not as an exception class
     */
    private static UncheckedIOException io(String what, Path file, IOException e) {
        String why = e instanceof NoSuchFileException ? "no such file or folder"
            : e instanceof AccessDeniedException ? "permission denied"
            : e instanceof FileSystemException f && f.getReason() != null ? f.getReason()
            : e.getMessage();
        String message = what + " " + file + ": " + why;
        IOException clear = new IOException(message);
        clear.addSuppressed(e);
        return new UncheckedIOException(message, clear);
    }

    /**
     * Mustache for Markdown: values go in as they are, except what would break a table row ({@code |} and line
     * breaks).
     */
    private static final class MarkdownFactory extends DefaultMustacheFactory {
        MarkdownFactory() {
            super(TEMPLATES);
        }

        @Override
        public void encode(String value, Writer writer) {
            try {
                writer.write(value.replace("|", "\\|").replace("\r\n", " ").replace('\n', ' ').replace('\r', ' '));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }
}

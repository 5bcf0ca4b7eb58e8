package org.sparknative.job.report;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ReportBuilderTest {

    @Test
    void jsonRoundTripGivesAnEqualReport(@TempDir Path dir) {
        BenchReport report = SampleReports.sample();
        List<Path> written = ReportBuilder.write(report, dir);
        assertEquals(List.of(dir.resolve("report.json"), dir.resolve("report.html"), dir.resolve("report.md")),
            written);
        assertEquals(report, ReportBuilder.read(dir.resolve("report.json")));
        BenchReport minimal = SampleReports.minimal();
        ReportBuilder.write(minimal, dir.resolve("minimal"));
        assertEquals(minimal, ReportBuilder.read(dir.resolve("minimal/report.json")));
    }

    @Test
    void rebuildingFromTheWrittenJsonGivesTheSamePages(@TempDir Path dir) throws Exception {
        BenchReport report = SampleReports.sample();
        ReportBuilder.write(report, dir.resolve("first"));
        BenchReport again = ReportBuilder.read(dir.resolve("first/report.json"));
        ReportBuilder.write(again, dir.resolve("second"));
        for (String name : List.of("report.json", "report.html", "report.md")) {
            assertEquals(-1L, Files.mismatch(dir.resolve("first").resolve(name), dir.resolve("second").resolve(name)),
                name + " differs between two builds of the same report");
        }
        assertEquals(ReportBuilder.markdown(report), Files.readString(dir.resolve("second/report.md")));
        assertEquals(ReportBuilder.html(report), Files.readString(dir.resolve("second/report.html")));
    }

    @Test
    void pagesDoNotDependOnTheDefaultLocale() {
        BenchReport report = SampleReports.sample();
        ReportBuilder.Pages root = ReportBuilder.render(report);
        Locale saved = Locale.getDefault();
        try {
            Locale.setDefault(Locale.GERMANY);
            ReportBuilder.Pages german = ReportBuilder.render(report);
            assertEquals(root.markdown(), german.markdown());
            assertEquals(root.html(), german.html());
        } finally {
            Locale.setDefault(saved);
        }
    }

    @Test
    void markdownHoldsEverySectionWithTheFixturesFigures() {
        String md = ReportBuilder.markdown(SampleReports.sample());
        assertTrue(md.startsWith("# spark-native bench report\n"), md);
        for (String heading : List.of("## Integration", "### 100,000 rows",
            "### 1,000,000 rows", "## Generation", "## Scaling", "## Environment")) {
            assertTrue(md.contains("\n" + heading + "\n"), "missing " + heading);
        }
        assertFalse(md.contains("## Comparison"), "no baseline, no comparison");
        // native-arrow at 1,000,000 rows: median of 1e6 / {0.241, 0.236, 0.248} = 4,149,377 rows/s; min 1e6 / 0.248.
        assertTrue(md.contains("| native-arrow | cpu | 4.03M | **4.15M** | 4.24M |"), md);
        // The summary line names the headline and its ratios.
        assertTrue(md.contains("Integration, 1,000,000 rows: native-arrow (cpu) ran 4.15M rows/s"), md);
        // stories15M.bin on cpu at 32 slots: 1,530 tokens/s median (0.985x and 1.02x around it), TTFT p50
        // 10 + 32 * 0.5 = 26 ms (p90 1.8x, p99 2.6x).
        assertTrue(md.contains("| stories15M.bin | cpu | 32 | 2 | 1,507 | **1,530** | 1,561 |"), md);
        assertTrue(md.contains("| 26.0 / 46.8 / 67.6 |"), md);
        // The pandas references, labeled as measured elsewhere: 20,000 rows in 66 s is 303 rows/s.
        assertTrue(md.contains("**Pandas reference points, measured outside this run**"), md);
        assertTrue(md.contains("| apply (pure Python) | 20,000 | 66.00 | 303.0 |"), md);
        assertTrue(md.contains("made 1,530 tokens/s (median), TTFT p50 26.0 ms"), md);
        // Per executor, with the skew in the caption.
        assertTrue(md.contains("**native-arrow (cpu): per executor; skew "), md);
        assertTrue(md.contains("| 0 | bench-2 | 12 | 0 | 1,500,000 |"), md);
        // Scaling: 4.15 / 2.15 = 1.93x at 2 executors, 97% of linear.
        assertTrue(md.contains("| 1.93× | 97% |"), md);
        // Environment: no GPU reads "none"; settings sorted by name.
        assertTrue(md.contains("| GPU | none |"), md);
        assertTrue(md.indexOf("| generate.slots | 1,8,32 |") < md.indexOf("| integrate.partitions | 8 |"), md);
        assertTrue(md.contains("| Spark version | 4.2.0 |"), md);
    }

    @Test
    void htmlIsSelfContainedWithOneSvgPerChart() {
        ReportBuilder.Pages pages = ReportBuilder.render(SampleReports.sample());
        String html = pages.html();
        // 2 integration bar charts, 2 integration timelines, the generation chart and its timeline, 1 scaling chart.
        assertEquals(7, pages.charts());
        assertEquals(pages.charts(), count(html, "<svg "));
        for (int i = 1; i <= pages.charts(); i++) {
            assertEquals(1, count(html, "id='chart-" + i + "'"), "chart-" + i);
        }
        assertFalse(html.contains("<script"), "no scripts");
        String withoutNamespaces = html.replaceAll("xmlns(:\\w+)?='[^']*'", "");
        assertFalse(withoutNamespaces.contains("http://") || withoutNamespaces.contains("https://"),
            "nothing fetched from the network");
        assertFalse(html.contains("id='_"), "no time-based SVG ids");
        assertTrue(html.contains("measured outside this run"));
    }

    @Test
    void minimalReportRendersWithoutTheMissingSections() {
        ReportBuilder.Pages pages = ReportBuilder.render(SampleReports.minimal());
        // The bar chart and the single-task timeline.
        assertEquals(2, pages.charts());
        assertEquals(2, count(pages.html(), "<svg "));
        assertTrue(pages.markdown().contains("## Integration"));
        assertFalse(pages.markdown().contains("## Generation"));
        assertFalse(pages.markdown().contains("## Scaling"));
        BenchReport empty = new BenchReport(1, "2025-01-01T00:00:00Z", 0, "bench", null, null, null, null, null);
        assertEquals(0, ReportBuilder.render(empty).charts());
    }

    @Test
    void emptyListsRenderAsNotes() {
        BenchReport r = new BenchReport(1, "2025-01-01T00:00:00Z", 0, "bench", null,
            new BenchReport.Integrate(1, 1, 1, 0, 1, List.of(), List.of()),
            new BenchReport.Generate(0, "generated", 8, 0, 1, 0, 1, List.of()),
            new BenchReport.Scaling("cores", List.of()), null);
        ReportBuilder.Pages pages = ReportBuilder.render(r);
        assertEquals(0, pages.charts());
        assertTrue(pages.markdown().contains("No sizes were run."));
        assertTrue(pages.markdown().contains("No configurations were run."));
        assertTrue(pages.markdown().contains("No scaling runs."));
    }

    @Test
    void readNamesTheFileOnEveryError(@TempDir Path dir) throws Exception {
        Path missing = dir.resolve("nope/report.json");
        UncheckedIOException io = assertThrows(UncheckedIOException.class, () -> ReportBuilder.read(missing));
        assertTrue(io.getMessage().contains(missing.toString()) && io.getCause().getMessage().contains("no such"),
            io.getMessage());

        Path bad = Files.writeString(dir.resolve("bad.json"), "{\"schemaVersion\": 1, ", StandardCharsets.UTF_8);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ReportBuilder.read(bad));
        assertTrue(e.getMessage().contains(bad.toString()) && e.getMessage().contains("not valid JSON"),
            e.getMessage());

        Path newer = Files.writeString(dir.resolve("newer.json"), "{\"schemaVersion\": 2}");
        e = assertThrows(IllegalArgumentException.class, () -> ReportBuilder.read(newer));
        assertTrue(e.getMessage().contains(newer.toString()) && e.getMessage().contains("schemaVersion 2"),
            e.getMessage());

        Path other = Files.writeString(dir.resolve("other.json"), "[1, 2]");
        e = assertThrows(IllegalArgumentException.class, () -> ReportBuilder.read(other));
        assertTrue(e.getMessage().contains("not a spark-native bench report"), e.getMessage());

        Path wrongShape = Files.writeString(dir.resolve("shape.json"), "{\"schemaVersion\": 1, \"integrate\": 5}");
        e = assertThrows(IllegalArgumentException.class, () -> ReportBuilder.read(wrongShape));
        assertTrue(e.getMessage().contains(wrongShape.toString()), e.getMessage());

        // A newer runner's extra fields are ignored as long as the schema version is one this reads.
        Path extra = Files.writeString(dir.resolve("extra.json"),
            "{\"schemaVersion\": 1, \"createdAt\": \"x\", \"futureField\": {\"a\": 1}}");
        assertEquals("x", ReportBuilder.read(extra).createdAt());
    }

    @Test
    void writeIntoAFileNamesIt(@TempDir Path dir) throws Exception {
        Path file = Files.writeString(dir.resolve("taken"), "x");
        UncheckedIOException e = assertThrows(UncheckedIOException.class,
            () -> ReportBuilder.write(SampleReports.minimal(), file));
        assertTrue(e.getMessage().contains(file.toString()), e.getMessage());
    }

    static int count(String text, String what) {
        Matcher m = Pattern.compile(Pattern.quote(what)).matcher(text);
        int n = 0;
        while (m.find()) {
            n++;
        }
        return n;
    }
}

package org.sparknative.job.report;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * The sample report (with a baseline) and the minimal one in headless Chromium: each loads from its file with no
 * console error, every chart the builder drew is on the page with a size, and the screenshots ({@code spark-job/target/report-browser/report.png}, and
 * {@code minimal/report.png} beside it) are kept for a person to look at.
 */
class ReportBrowserTest {
    private static final byte[] PNG_SIGNATURE = {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

    @Test
    void sampleReportRendersInChromium() throws Exception {
        Assumptions.assumeTrue(ReportBrowser.available(), "needs " + ReportBrowser.chromium() + " and "
            + ReportBrowser.chromedriver() + " (Debian: apt-get install chromium chromium-driver)");
        Path dir = Path.of("target", "report-browser");
        // Compared with an older run in which native-arrow was twice as fast, so the page has every section.
        BenchReport sample = SampleReports.sample();
        BenchReport older = SampleReports.withRowsScaled(sample, SampleReports.LARGE, "native-arrow", 2);
        BenchReport report = sample.withBaseline(Comparison.baselineOf(older, "runs/older/report.json"));
        ReportBuilder.write(report, dir);
        int charts = ReportBuilder.render(report).charts();

        check(ReportBrowser.open(dir.resolve("report.html"), dir.resolve("report.png")), charts);
    }

    @Test
    void minimalReportRendersInChromium() throws Exception {
        Assumptions.assumeTrue(ReportBrowser.available(), "needs " + ReportBrowser.chromium() + " and "
            + ReportBrowser.chromedriver() + " (Debian: apt-get install chromium chromium-driver)");
        // One executor, one repeat, one task, no generation or scaling.
        Path dir = Path.of("target", "report-browser", "minimal");
        BenchReport report = SampleReports.minimal();
        ReportBuilder.write(report, dir);
        check(ReportBrowser.open(dir.resolve("report.html"), dir.resolve("report.png")),
            ReportBuilder.render(report).charts());
    }

    private static void check(ReportBrowser.Result r, int charts) throws Exception {
        assertEquals(List.of(), r.severe(), "console errors");
        assertEquals(charts, r.svgCount(), "one <svg> per chart the builder drew");
        for (int i = 0; i < r.svgSizes().size(); i++) {
            double[] wh = r.svgSizes().get(i);
            assertTrue(wh[0] > 0 && wh[1] > 0, "chart " + (i + 1) + " has no size: " + Arrays.toString(wh));
        }
        byte[] png = Files.readAllBytes(r.screenshot());
        assertArrayEquals(PNG_SIGNATURE, Arrays.copyOf(png, PNG_SIGNATURE.length), "a PNG");
        assertTrue(png.length > 20_000, "a screenshot of a whole report, not a blank page: " + png.length + " bytes");
    }
}

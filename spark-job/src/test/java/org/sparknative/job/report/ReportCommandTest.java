package org.sparknative.job.report;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sparknative.job.SparkNativeCli;

/** {@code spark-native report} through the command line, in process. */
class ReportCommandTest {

    private static String[] run(String... args) {
        StringWriter err = new StringWriter();
        int code = SparkNativeCli.run(new PrintWriter(err, true), args);
        return new String[] {Integer.toString(code), err.toString()};
    }

    @Test
    void writesThePagesFromAReport(@TempDir Path dir) throws Exception {
        ReportBuilder.write(SampleReports.sample(), dir.resolve("run"));
        Path out = dir.resolve("out/nested");
        String[] r = run("report", "--from", dir.resolve("run/report.json").toString(), "--out", out.toString());
        assertEquals("0", r[0], r[1]);
        for (String name : new String[] {"report.json", "report.html", "report.md"}) {
            assertTrue(Files.size(out.resolve(name)) > 0, name);
        }
        assertEquals(Files.readString(dir.resolve("run/report.md")), Files.readString(out.resolve("report.md")));
    }

    @Test
    void baselineFlagsTheRegression(@TempDir Path dir) throws Exception {
        BenchReport old = SampleReports.sample();
        ReportBuilder.write(old, dir.resolve("old"));
        ReportBuilder.write(SampleReports.withRowsScaled(old, SampleReports.LARGE, "native-arrow", 0.5),
            dir.resolve("new"));
        Path out = dir.resolve("report");
        String[] r = run("report", "--from", dir.resolve("new/report.json").toString(), "--out", out.toString(),
            "--baseline", dir.resolve("old/report.json").toString());
        assertEquals("0", r[0], r[1]);
        String md = Files.readString(out.resolve("report.md"));
        assertTrue(md.contains("**▼ regressed beyond spread**"), md);
        BenchReport written = ReportBuilder.read(out.resolve("report.json"));
        assertEquals(dir.resolve("old/report.json").toString(), written.baseline().source());
        // Rebuilt from its own report.json, the compared report reads the same.
        assertEquals(md, ReportBuilder.markdown(written));
    }

    @Test
    void aMissingFileIsNamed(@TempDir Path dir) throws Exception {
        Path missing = dir.resolve("no-such/report.json");
        String[] r = run("report", "--from", missing.toString(), "--out", dir.resolve("out").toString());
        assertEquals("2", r[0]);
        assertTrue(r[1].contains(missing.toString()) && r[1].contains("no such file"), r[1]);

        ReportBuilder.write(SampleReports.minimal(), dir.resolve("run"));
        r = run("report", "--from", dir.resolve("run/report.json").toString(), "--out", dir.resolve("out").toString(),
            "--baseline", missing.toString());
        assertEquals("2", r[0]);
        assertTrue(r[1].contains("--baseline " + missing), r[1]);

        Path notJson = Files.writeString(dir.resolve("notes.txt"), "not json");
        r = run("report", "--from", notJson.toString(), "--out", dir.resolve("out").toString());
        assertEquals("1", r[0]);
        assertTrue(r[1].contains(notJson.toString()) && r[1].contains("not valid JSON"), r[1]);

        r = run("report", "--out", dir.resolve("out").toString());
        assertEquals("2", r[0]);
        assertTrue(r[1].contains("--from"), r[1]);
    }
}

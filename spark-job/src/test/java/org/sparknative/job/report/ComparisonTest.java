package org.sparknative.job.report;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.sparknative.job.report.BenchReport.Figure;
import org.sparknative.job.report.BenchReport.Spread;
import org.sparknative.job.report.Comparison.Verdict;

class ComparisonTest {
    private static final String NATIVE_ARROW = "integrate/1000000/native-arrow/cpu";
    private static final String NATIVE_ROW = "integrate/1000000/native-row/cpu";

    @Test
    void figuresHaveStableUniqueKeys() {
        List<Figure> figures = Figures.of(SampleReports.sample());
        // 2 sizes x 6 variants, 12 generate runs x (tokens/s + 3 TTFT percentiles), 2 scaling points.
        assertEquals(12 + 12 * 4 + 2, figures.size());
        Map<String, Figure> byKey = Figures.byKey(figures);
        assertEquals(figures.size(), byKey.size(), "keys are unique");
        Figure arrow = byKey.get(NATIVE_ARROW);
        assertEquals("rows/s", arrow.unit());
        assertTrue(arrow.higherIsBetter());
        assertEquals(1e6 / 0.241, arrow.value().median(), 1e-6);
        Figure tokens = byKey.get("generate/stories15M.bin/cpu/32");
        assertEquals("tokens/s", tokens.unit());
        assertEquals(1530, tokens.value().median(), 1e-9);
        Figure ttft = byKey.get("generate/stories15M.bin/cpu/32/ttft-p99");
        assertEquals("ms", ttft.unit());
        assertFalse(ttft.higherIsBetter());
        assertEquals(26.0 * 2.6, ttft.value().median(), 1e-9);
        assertEquals(0, ttft.value().width(), "one value, no spread");
        assertTrue(byKey.containsKey("scaling/integrate native-arrow, 1,000,000 rows/2"));
        assertEquals(figures, Figures.of(SampleReports.sample()), "same report, same figures");
    }

    @Test
    void repeatedKeysGetANumber() {
        BenchReport r = SampleReports.sample();
        List<BenchReport.GenerateRun> runs = new java.util.ArrayList<>(r.generate().runs());
        runs.add(runs.get(0));
        BenchReport.Generate g = r.generate();
        BenchReport twice = new BenchReport(r.schemaVersion(), r.createdAt(), r.startedMillis(), r.command(),
            r.environment(), r.integrate(), new BenchReport.Generate(g.prompts(), g.promptSource(), g.maxNewTokens(),
                g.temperature(), g.partitions(), g.warmup(), g.repeats(), runs), r.scaling(), null);
        Map<String, Figure> byKey = Figures.byKey(Figures.of(twice));
        assertTrue(byKey.containsKey("generate/stories15M.bin/cpu/1#2"));
        assertTrue(byKey.containsKey("generate/stories15M.bin/cpu/1#2/ttft-p50"));
    }

    @Test
    void aHalvedFigureIsFlaggedAndTheRestAreNot() {
        BenchReport old = SampleReports.sample();
        BenchReport now = SampleReports.withRowsScaled(old, SampleReports.LARGE, "native-arrow", 0.5)
            .withBaseline(Comparison.baselineOf(old, "runs/old/report.json"));
        Comparison c = Comparison.of(now);
        assertEquals(Figures.of(now).size(), c.rows().size(), "every figure has a counterpart");
        assertEquals(List.of(), c.added());
        assertEquals(List.of(), c.removed());
        Comparison.Row arrow = row(c, NATIVE_ARROW);
        assertTrue(arrow.flagged());
        assertEquals(Verdict.REGRESSED, arrow.verdict());
        assertEquals(-0.5, arrow.change(), 1e-12);
        for (Comparison.Row r : c.rows()) {
            if (r != arrow) {
                assertFalse(r.flagged(), r.now().key() + " did not move");
                assertEquals(0.0, r.change(), 1e-12);
            }
        }
        assertEquals(1, c.regressed());
        assertEquals(0, c.improved());

        String md = ReportBuilder.markdown(now);
        assertTrue(md.contains("\n## Comparison with the baseline\n"), md);
        assertTrue(md.contains("| native-arrow (cpu), 1,000,000 rows | rows/s | 4.15M (4.03M to 4.24M) "
            + "| 2.07M (2.02M to 2.12M) | -50.0% | **▼ regressed beyond spread** |"), md);
        assertTrue(md.contains(c.rows().size() + " figures compared: 1 regressed beyond spread, 0 improved beyond"
            + " spread, " + (c.rows().size() - 1) + " within spread."), md);
        assertTrue(md.contains("Against the baseline runs/old/report.json: 1 regressed beyond spread"), md);
        assertTrue(ReportBuilder.html(now).contains("<tr class=\"regressed\">"));
    }

    @Test
    void aMoveWithinTheSpreadIsNotFlaggedAndOneBeyondItIs() {
        BenchReport old = SampleReports.sample();
        Spread spread = Figures.byKey(Figures.of(old)).get(NATIVE_ROW).value();
        // native-row's repeats spread over about 6% of its median: a 1% rise stays within it, a doubling does not.
        assertTrue(spread.width() / spread.median() > 0.05);
        BenchReport.Baseline baseline = Comparison.baselineOf(old, "old.json");
        Comparison small = Comparison.of(SampleReports.withRowsScaled(old, SampleReports.LARGE, "native-row", 1.01)
            .withBaseline(baseline));
        Comparison.Row within = row(small, NATIVE_ROW);
        assertFalse(within.flagged());
        assertEquals(Verdict.WITHIN_SPREAD, within.verdict());
        assertEquals(0.01, within.change(), 1e-12);
        Comparison.Row doubled = row(Comparison.of(SampleReports.withRowsScaled(old, SampleReports.LARGE,
            "native-row", 2).withBaseline(baseline)), NATIVE_ROW);
        assertTrue(doubled.flagged());
        assertEquals(Verdict.IMPROVED, doubled.verdict());
        assertEquals(1.0, doubled.change(), 1e-12);
    }

    @Test
    void theThresholdIsTheWiderOfTheTwoSpreads() {
        Figure old = new Figure("k", "k", "rows/s", true, new Spread(90, 100, 110));   // width 20
        Figure narrow = new Figure("k", "k", "rows/s", true, new Spread(119, 120, 121)); // width 2, moved 20
        assertFalse(Comparison.row(narrow, old).flagged(), "a move of exactly the old spread is within it");
        Figure moved = new Figure("k", "k", "rows/s", true, new Spread(120, 121, 122));
        assertTrue(Comparison.row(moved, old).flagged());
        Figure wide = new Figure("k", "k", "rows/s", true, new Spread(60, 130, 160)); // width 100, moved 30
        assertFalse(Comparison.row(wide, old).flagged(), "the new run's own spread counts too");

        Figure ttftOld = new Figure("t", "t", "ms", false, new Spread(40, 40, 40));
        Figure ttftUp = new Figure("t", "t", "ms", false, new Spread(50, 50, 50));
        assertEquals(Verdict.REGRESSED, Comparison.row(ttftUp, ttftOld).verdict(), "slower first token");
        assertEquals(Verdict.IMPROVED, Comparison.row(ttftOld, ttftUp).verdict());
        assertEquals(Verdict.WITHIN_SPREAD, Comparison.row(ttftOld, ttftOld).verdict());
        Figure zero = new Figure("z", "z", "rows/s", true, new Spread(0, 0, 0));
        assertTrue(Double.isNaN(Comparison.row(moved, zero).change()));
    }

    @Test
    void baselineOfKeepsWhereAndWhenTheOldRunWas() {
        BenchReport old = SampleReports.sample();
        BenchReport.Baseline b = Comparison.baselineOf(old, "runs/2025-06-15/report.json");
        assertEquals("runs/2025-06-15/report.json", b.source());
        assertEquals(old.createdAt(), b.createdAt());
        assertEquals("200f222", b.gitCommit());
        assertEquals(Figures.of(old), b.figures());
        assertThrows(IllegalArgumentException.class, () -> Comparison.of(old));
    }

    @Test
    void figuresInOneRunOnlyAreListed() {
        BenchReport old = SampleReports.minimal();
        BenchReport now = SampleReports.sample().withBaseline(Comparison.baselineOf(old, "minimal.json"));
        Comparison c = Comparison.of(now);
        assertEquals(0, c.rows().size());
        assertEquals(Figures.of(now).size(), c.added().size());
        assertEquals(2, c.removed().size());
        assertTrue(c.summary().contains("new without a baseline"), c.summary());
        assertTrue(ReportBuilder.markdown(now).contains("**Figures in one run only ("), "listed in the page");
    }

    private static Comparison.Row row(Comparison c, String key) {
        return c.rows().stream().filter(r -> r.now().key().equals(key)).findFirst().orElseThrow();
    }
}

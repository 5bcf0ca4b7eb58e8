package org.sparknative.job.report;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.sparknative.job.report.BenchReport.Baseline;
import org.sparknative.job.report.BenchReport.Figure;

/**
 * A report's figures against an older run's ({@link BenchReport#baseline()}): for every current figure whose key the
 * baseline also has, the old and new median, the change, and whether it moved beyond its spread.
 *
 * <p>A figure is <em>flagged</em> when {@code |new.median - old.median| > max(new.width, old.width)}: it moved by
 * more than the repeats of either run spread. A flagged figure is a regression or an improvement by
 * {@link Figure#higherIsBetter()}. A figure measured once (one repeat, or a TTFT percentile) has no spread, so any
 * change flags it.
 *
 * <p>Immutable (its lists are copies), so thread-safe.
 *
 * @param baseline the older run
 * @param rows     one per current figure with a baseline counterpart, in the current report's order
 * @param added    current figures the baseline does not have
 * @param removed  baseline figures the current report does not have
 */
public record Comparison(Baseline baseline, List<Row> rows, List<Figure> added, List<Figure> removed) {

    /** What a figure did, against its spread. */
    public enum Verdict {
        /** Moved the wrong way by more than its spread. */
        REGRESSED("regressed beyond spread"),
        /** Moved the right way by more than its spread. */
        IMPROVED("improved beyond spread"),
        /** Moved by no more than its spread. */
        WITHIN_SPREAD("within spread");

        private final String text;

        Verdict(String text) {
            this.text = text;
        }

        /** @return how a reader sees it, e.g. {@code regressed beyond spread} */
        public String text() {
            return text;
        }
    }

    /**
     * One figure in both runs.
     *
     * @param now     the current figure
     * @param old     the baseline's
     * @param change  {@code now.median / old.median - 1}; NaN where the old median is 0
     * @param flagged whether it moved beyond its spread
     * @param verdict which way, by {@link Figure#higherIsBetter()}
     */
    public record Row(Figure now, Figure old, double change, boolean flagged, Verdict verdict) {
    }

    /**
     * @param report a report with a {@link BenchReport#baseline() baseline}
     * @return its figures against the baseline's
     * @throws IllegalArgumentException if it has none
     */
    public static Comparison of(BenchReport report) {
        if (report.baseline() == null) {
            throw new IllegalArgumentException("the report has no baseline to compare with");
        }
        return of(Figures.of(report), report.baseline());
    }

    /**
     * @param now      the current figures
     * @param baseline the older run's
     * @return the current figures against the baseline's
     */
    public static Comparison of(List<Figure> now, Baseline baseline) {
        Map<String, Figure> old = Figures.byKey(Figures.nonNull(baseline.figures()));
        Map<String, Figure> current = Figures.byKey(now);
        List<Row> rows = new ArrayList<>();
        List<Figure> added = new ArrayList<>();
        for (Figure f : current.values()) {
            Figure o = old.get(f.key());
            if (o == null) {
                added.add(f);
            } else {
                rows.add(row(f, o));
            }
        }
        List<Figure> removed = new ArrayList<>();
        for (Figure o : old.values()) {
            if (!current.containsKey(o.key())) {
                removed.add(o);
            }
        }
        return new Comparison(baseline, List.copyOf(rows), List.copyOf(added), List.copyOf(removed));
    }

    /**
     * @param now the current figure
     * @param old the same figure in the baseline
     * @return the two compared
     */
    public static Row row(Figure now, Figure old) {
        double delta = now.value().median() - old.value().median();
        double spread = Math.max(now.value().width(), old.value().width());
        boolean flagged = Math.abs(delta) > spread;
        Verdict verdict = !flagged ? Verdict.WITHIN_SPREAD
            : (delta > 0) == now.higherIsBetter() ? Verdict.IMPROVED : Verdict.REGRESSED;
        double change = old.value().median() == 0 ? Double.NaN : now.value().median() / old.value().median() - 1;
        return new Row(now, old, change, flagged, verdict);
    }

    /**
     * @param old    an older report
     * @param source where it was read from (shown in the report)
     * @return its figures, to compare a newer report with ({@link BenchReport#withBaseline})
     */
    public static Baseline baselineOf(BenchReport old, String source) {
        String commit = old.environment() == null ? null : old.environment().gitCommit();
        return new Baseline(source, old.createdAt(), commit, Figures.of(old));
    }

    /** @return how many figures regressed beyond their spread */
    public long regressed() {
        return rows.stream().filter(r -> r.verdict() == Verdict.REGRESSED).count();
    }

    /** @return how many figures improved beyond their spread */
    public long improved() {
        return rows.stream().filter(r -> r.verdict() == Verdict.IMPROVED).count();
    }

    /** @return e.g. {@code 40 figures compared: 1 regressed beyond spread, 0 improved beyond spread, 39 within spread} */
    public String summary() {
        long r = regressed();
        long i = improved();
        StringBuilder sb = new StringBuilder();
        sb.append(rows.size()).append(rows.size() == 1 ? " figure" : " figures").append(" compared: ")
            .append(r).append(" regressed beyond spread, ").append(i).append(" improved beyond spread, ")
            .append(rows.size() - r - i).append(" within spread");
        if (!added.isEmpty()) {
            sb.append("; ").append(added.size()).append(" new without a baseline");
        }
        if (!removed.isEmpty()) {
            sb.append("; ").append(removed.size()).append(" of the baseline's not run now");
        }
        return sb.toString();
    }
}

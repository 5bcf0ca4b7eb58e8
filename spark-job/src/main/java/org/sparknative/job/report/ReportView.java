package org.sparknative.job.report;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import org.sparknative.job.report.BenchReport.Activity;
import org.sparknative.job.report.BenchReport.Environment;
import org.sparknative.job.report.BenchReport.ExecutorInfo;
import org.sparknative.job.report.BenchReport.ExecutorRun;
import org.sparknative.job.report.BenchReport.Generate;
import org.sparknative.job.report.BenchReport.GenerateRun;
import org.sparknative.job.report.BenchReport.Integrate;
import org.sparknative.job.report.BenchReport.IntegrateSize;
import org.sparknative.job.report.BenchReport.IntegrateVariant;
import org.sparknative.job.report.BenchReport.Percentiles;
import org.sparknative.job.report.BenchReport.Reference;
import org.sparknative.job.report.BenchReport.ScalePoint;
import org.sparknative.job.report.BenchReport.Scaling;
import org.sparknative.job.report.BenchReport.Spread;

/**
 * The view model that both templates render: the report as sections of headings, text, charts and tables of
 * already-formatted cells. Plain records, read by Mustache; building one draws the charts. Not thread-safe while it
 * is built; the result is immutable.
 */
final class ReportView {
    private ReportView() {
    }

    /**
     * The page.
     *
     * @param title    the page title
     * @param meta     what ran, when: label and value pairs under the title
     * @param summary  the headline figures, one sentence each
     * @param sections the sections, in page order
     * @param charts   how many charts the page holds (its {@code <svg>} elements)
     */
    record Page(String title, List<Cell> meta, List<String> summary, List<Section> sections, int charts) {
        /** @return whether there is a headline to show */
        public boolean hasSummary() {
            return !summary.isEmpty();
        }
    }

    /**
     * A section: an {@code <h2>} and its parts.
     *
     * @param id    its anchor
     * @param title its heading
     * @param parts its content, in order
     */
    record Section(String id, String title, List<Part> parts) {
    }

    /**
     * One piece of a section; exactly one field (or a chart with a table beside it) is set.
     *
     * @param heading    an {@code <h3>}
     * @param text       a paragraph
     * @param note       a muted paragraph
     * @param chart      a chart
     * @param table      a table
     */
    record Part(String heading, String text, String note, Chart chart, Table table) {
        static Part heading(String s) {
            return new Part(s, null, null, null, null);
        }

        static Part text(String s) {
            return new Part(null, s, null, null, null);
        }

        static Part note(String s) {
            return new Part(null, null, s, null, null);
        }

        static Part chart(Chart c) {
            return new Part(null, null, null, c, null);
        }

        static Part table(Table t) {
            return new Part(null, null, null, null, t);
        }

        /** @return whether the HTML sets the chart and the table side by side */
        public boolean pair() {
            return chart != null && table != null;
        }
    }

    /**
     * A chart.
     *
     * @param id      its element id
     * @param svg     the {@code <svg>} element, inserted unescaped
     * @param caption what it shows
     */
    record Chart(String id, String svg, String caption) {
    }

    /**
     * A table.
     *
     * @param caption   its caption, or null
     * @param header    the column heads
     * @param rows      the rows
     * @param collapsed whether the HTML folds it under its caption ({@code <details>})
     */
    record Table(String caption, List<Cell> header, List<Row> rows, boolean collapsed) {
    }

    /**
     * A table row.
     *
     * @param cells its cells
     * @param cls   its CSS class ({@code regressed}, {@code improved}), or null
     */
    record Row(List<Cell> cells, String cls) {
    }

    /**
     * A cell, or a label and value pair.
     *
     * @param label  the label of a pair, else null
     * @param text   the text
     * @param num    whether it is a number (right-aligned)
     * @param strong whether it is emphasised
     */
    record Cell(String label, String text, boolean num, boolean strong) {
        /** @return the Markdown alignment of its column */
        public String align() {
            return num ? "--:" : "---";
        }
    }

    /** @return the page of {@code report}, its charts drawn */
    static Page of(BenchReport report) {
        return new Builder(report).build();
    }

    private static final class Builder {
        private final BenchReport report;
        private final Charts charts = new Charts();
        private final List<String> summary = new ArrayList<>();

        Builder(BenchReport report) {
            this.report = report;
        }

        Page build() {
            List<Section> sections = new ArrayList<>();
            if (report.baseline() != null) {
                sections.add(comparison(Comparison.of(report)));
            }
            if (report.integrate() != null) {
                sections.add(integrate(report.integrate()));
            }
            if (report.generate() != null) {
                sections.add(generate(report.generate()));
            }
            if (report.scaling() != null) {
                sections.add(scaling(report.scaling()));
            }
            if (report.environment() != null) {
                sections.add(environment(report.environment()));
            }
            List<Cell> meta = new ArrayList<>();
            meta.add(pair("finished", report.createdAt()));
            meta.add(pair("command", report.command()));
            if (report.environment() != null) {
                meta.add(pair("commit", report.environment().gitCommit()));
                meta.add(pair("master", report.environment().master()));
            }
            return new Page("spark-native bench report", meta, List.copyOf(summary), sections, charts.drawn());
        }

        // ---------------------------------------------------------------------------------------------- integration

        private Section integrate(Integrate in) {
            List<Part> parts = new ArrayList<>();
            parts.add(Part.note("Seed " + in.seed() + ", " + in.partitions() + " partitions, "
                + Format.count(in.recordBatchRows()) + " rows per Arrow record batch; " + in.warmup()
                + " warm-up and " + in.repeats() + " timed repeats per variant. Rates are the median of the repeats,"
                + " with their min and max; rows/s is the unit compared between runs."));
            List<Reference> refs = Figures.nonNull(in.pandasReference());
            if (!refs.isEmpty()) {
                List<Row> rows = new ArrayList<>();
                for (Reference r : refs) {
                    rows.add(row(text(r.name()), num(Format.count(r.rows())), num(Format.seconds(r.seconds())),
                        num(Format.rate(r.seconds() > 0 ? r.rows() / r.seconds() : Double.NaN)), text(r.source())));
                }
                parts.add(Part.table(new Table("Pandas reference points, measured outside this run",
                    heads("reference", "#rows", "#seconds", "#rows/s", "source"), rows, false)));
            }
            List<IntegrateSize> sizes = Figures.nonNull(in.sizes());
            if (sizes.isEmpty()) {
                parts.add(Part.text("No sizes were run."));
            }
            IntegrateSize largest = sizes.stream().max(Comparator.comparingLong(IntegrateSize::rows)).orElse(null);
            IntegrateVariant headline = largest == null ? null : headline(largest);
            if (headline != null) {
                summary.add("Integration, " + Format.count(largest.rows()) + " rows: " + headline.variant() + " ("
                    + headline.backend() + ") ran " + Format.rate(headline.rowsPerSecond().median())
                    + " rows/s (median; " + Format.rate(headline.rowsPerSecond().min()) + " to "
                    + Format.rate(headline.rowsPerSecond().max()) + ")"
                    + (headline.speedupOverJavaRow() == null ? ""
                        : ", " + Format.times(headline.speedupOverJavaRow()) + " java-row")
                    + (headline.shareOfKernelOnly() == null ? ""
                        : ", " + Format.percent(headline.shareOfKernelOnly()) + " of kernel-only")
                    + ".");
            }
            for (IntegrateSize size : sizes) {
                parts.add(Part.heading(Format.count(size.rows()) + " rows"));
                parts.add(Part.note(Format.count(size.evaluations()) + " evaluations of f ("
                    + Format.fixed(size.rows() > 0 ? (double) size.evaluations() / size.rows() : Double.NaN, 1)
                    + " per row)."));
                Charts.Svg bars = charts.integration(size, refs);
                Table table = variants(size);
                if (bars != null) {
                    parts.add(new Part(null, null, null, chart(bars, "Median rows/s per variant at "
                        + Format.count(size.rows()) + " rows, log scale"), table));
                } else {
                    parts.add(Part.table(table));
                }
                List<Charts.TaskSeries> series = new ArrayList<>();
                List<Part> executors = new ArrayList<>();
                for (IntegrateVariant v : Figures.nonNull(size.variants())) {
                    Activity a = v.activity();
                    if (a == null) {
                        continue;
                    }
                    String name = v.variant() + " (" + v.backend() + ")";
                    series.add(new Charts.TaskSeries(name, Figures.nonNull(a.tasks())));
                    executors.add(Part.table(executors(name, a, false, v == headline)));
                }
                Charts.Svg timeline = charts.timeline("Tasks, " + Format.count(size.rows()) + " rows", series,
                    report.startedMillis());
                if (timeline != null) {
                    parts.add(Part.chart(chart(timeline, "Task attempts of every variant at "
                        + Format.count(size.rows()) + " rows, one lane per executor core, in seconds since the run"
                        + " started")));
                }
                parts.addAll(executors);
            }
            return new Section("integration", "Integration", parts);
        }

        /** native-arrow on the CPU at the largest size, else the first variant there with a rate. */
        private static IntegrateVariant headline(IntegrateSize size) {
            IntegrateVariant first = null;
            for (IntegrateVariant v : Figures.nonNull(size.variants())) {
                if (v.rowsPerSecond() == null) {
                    continue;
                }
                if ("native-arrow".equals(v.variant()) && "cpu".equals(v.backend())) {
                    return v;
                }
                if (first == null) {
                    first = v;
                }
            }
            return first;
        }

        private static Table variants(IntegrateSize size) {
            List<Row> rows = new ArrayList<>();
            for (IntegrateVariant v : Figures.nonNull(size.variants())) {
                Spread r = v.rowsPerSecond();
                Spread e = v.evaluationsPerSecond();
                rows.add(row(text(v.variant()), text(v.backend()), num(r == null ? "-" : Format.rate(r.min())),
                    strongNum(r == null ? "-" : Format.rate(r.median())), num(r == null ? "-" : Format.rate(r.max())),
                    num(e == null ? "-" : Format.si(e.median())),
                    num(v.speedupOverJavaRow() == null ? "-" : Format.times(v.speedupOverJavaRow())),
                    num(v.shareOfKernelOnly() == null ? "-" : Format.percent(v.shareOfKernelOnly())),
                    num(v.maxRelativeError() == null ? "-" : Format.sci(v.maxRelativeError())),
                    num(Format.count(v.invalidRows())),
                    num(v.activity() == null ? "-" : Format.fixed(Timeline.skew(Figures.nonNull(v.activity().tasks())), 2))));
            }
            return new Table(null, heads("variant", "backend", "#rows/s min", "#median", "#max", "#evaluations/s",
                "#× java-row", "#of kernel-only", "#max rel. error", "#invalid rows", "#skew"), rows, false);
        }

        // ----------------------------------------------------------------------------------------------- generation

        private Section generate(Generate g) {
            List<Part> parts = new ArrayList<>();
            parts.add(Part.note(Format.count(g.prompts()) + " prompts (" + g.promptSource() + "), up to "
                + g.maxNewTokens() + " new tokens each, temperature " + Format.fixed(g.temperature(), 2) + ", "
                + g.partitions() + " partitions; " + g.warmup() + " warm-up and " + g.repeats()
                + " timed repeats per configuration. TTFT and latency are percentiles over the rows of the last"
                + " repeat, in milliseconds."));
            List<GenerateRun> runs = Figures.nonNull(g.runs());
            if (runs.isEmpty()) {
                parts.add(Part.text("No configurations were run."));
                return new Section("generation", "Generation", parts);
            }
            GenerateRun best = runs.stream().filter(r -> r.tokensPerSecond() != null)
                .max(Comparator.comparingDouble(r -> r.tokensPerSecond().median())).orElse(null);
            if (best != null) {
                summary.add("Generation: the fastest configuration, " + best.model() + " on " + best.backend()
                    + " with " + Figures.slots(best.slots()) + ", made " + Format.rate(best.tokensPerSecond().median())
                    + " tokens/s (median)" + (best.ttftMs() == null ? ""
                        : ", TTFT p50 " + Format.millis(best.ttftMs().p50()) + " ms") + ".");
            }
            Charts.Svg chart = charts.generation(runs);
            if (chart != null) {
                parts.add(Part.chart(chart(chart, "Median completion tokens/s against KV cache slots, per model and"
                    + " backend")));
            }
            List<Row> rows = new ArrayList<>();
            for (GenerateRun r : runs) {
                Spread t = r.tokensPerSecond();
                rows.add(row(text(r.model()), text(r.backend()), num(Integer.toString(r.slots())),
                    num(Integer.toString(r.threads())), num(t == null ? "-" : Format.rate(t.min())),
                    strongNum(t == null ? "-" : Format.rate(t.median())), num(t == null ? "-" : Format.rate(t.max())),
                    num(r.rowsPerSecond() == null ? "-" : Format.rate(r.rowsPerSecond().median())),
                    num(percentiles(r.ttftMs())), num(percentiles(r.latencyMs())),
                    num(Format.count(r.promptTokens())), num(Format.count(r.completionTokens())),
                    num(Format.count(r.errorRows())),
                    num(r.activity() == null ? "-" : Format.fixed(Timeline.skew(Figures.nonNull(r.activity().tasks())), 2))));
            }
            parts.add(Part.table(new Table(null, heads("model", "backend", "#slots", "#threads", "#tokens/s min",
                "#median", "#max", "#rows/s", "#TTFT ms p50 / p90 / p99", "#latency ms p50 / p90 / p99",
                "#prompt tok.", "#completion tok.", "#error rows", "#skew"), rows, false)));
            Map<String, String> shapes = new LinkedHashMap<>();
            runs.forEach(r -> shapes.putIfAbsent(r.model(), r.modelShape()));
            List<Row> shapeRows = new ArrayList<>();
            shapes.forEach((m, s) -> shapeRows.add(row(text(m), text(s))));
            parts.add(Part.table(new Table("Models", heads("model", "shape"), shapeRows, false)));

            List<Charts.TaskSeries> series = new ArrayList<>();
            List<Part> executors = new ArrayList<>();
            for (GenerateRun r : runs) {
                if (r.activity() == null) {
                    continue;
                }
                String name = r.model() + " · " + r.backend() + " · " + Figures.slots(r.slots());
                series.add(new Charts.TaskSeries(name, Figures.nonNull(r.activity().tasks())));
                executors.add(Part.table(executors(name, r.activity(), true, r == best)));
            }
            Charts.Svg timeline = charts.timeline("Tasks, generation", series, report.startedMillis());
            if (timeline != null) {
                parts.add(Part.chart(chart(timeline, "Task attempts of every generation configuration, one lane per"
                    + " executor core, in seconds since the run started")));
            }
            parts.addAll(executors);
            return new Section("generation", "Generation", parts);
        }

        private static String percentiles(Percentiles p) {
            return p == null ? "-"
                : Format.millis(p.p50()) + " / " + Format.millis(p.p90()) + " / " + Format.millis(p.p99());
        }

        // ------------------------------------------------------------------------------------------------ executors

        private static Table executors(String figure, Activity a, boolean tokens, boolean open) {
            List<Row> rows = new ArrayList<>();
            List<ExecutorRun> runs = new ArrayList<>(Figures.nonNull(a.executors()));
            runs.sort(Comparator.comparing(ExecutorRun::executorId, Timeline.EXECUTOR_ORDER));
            for (ExecutorRun e : runs) {
                List<Cell> cells = new ArrayList<>(List.of(text(e.executorId()), text(e.host()),
                    num(Format.count(e.tasks())), num(Format.count(e.failedTasks())), num(Format.count(e.rows()))));
                if (tokens) {
                    cells.add(num(Format.count(e.promptTokens())));
                    cells.add(num(Format.count(e.completionTokens())));
                }
                Long per = tokens ? e.completionTokens() : e.rows();
                cells.add(num(per == null || !(e.taskSeconds() > 0) ? "-" : Format.rate(per / e.taskSeconds())));
                cells.add(num(Format.seconds(e.taskSeconds())));
                cells.add(num(Format.seconds(e.gcSeconds())));
                cells.add(num(e.nativeSeconds() == null ? "-" : Format.seconds(e.nativeSeconds())));
                rows.add(new Row(cells, null));
            }
            List<Cell> head = new ArrayList<>(heads("executor", "host", "#tasks", "#failed", "#rows"));
            if (tokens) {
                head.addAll(heads("#prompt tokens", "#completion tokens", "#tokens per task-s"));
            } else {
                head.addAll(heads("#rows per task-s"));
            }
            head.addAll(heads("#task s", "#GC s", "#native s"));
            double skew = Timeline.skew(Figures.nonNull(a.tasks()));
            String caption = figure + ": per executor; skew " + Format.fixed(skew, 2)
                + " (slowest successful task over the median one)";
            return new Table(caption, head, rows, !open);
        }

        // -------------------------------------------------------------------------------------------------- scaling

        private Section scaling(Scaling s) {
            List<Part> parts = new ArrayList<>();
            parts.add(Part.note("The same work with more " + s.unit() + ". Speedup is the median rate against the"
                + " smallest count's; efficiency is the speedup against linear (100% = linear)."));
            Map<String, List<ScalePoint>> byWorkload = new LinkedHashMap<>();
            for (ScalePoint p : Figures.nonNull(s.points())) {
                byWorkload.computeIfAbsent(p.workload(), k -> new ArrayList<>()).add(p);
            }
            if (byWorkload.isEmpty()) {
                parts.add(Part.text("No scaling runs."));
            }
            for (Map.Entry<String, List<ScalePoint>> e : byWorkload.entrySet()) {
                List<ScalePoint> points = new ArrayList<>(e.getValue());
                points.sort(Comparator.comparingInt(ScalePoint::resources));
                List<Row> rows = new ArrayList<>();
                for (ScalePoint p : points) {
                    Spread r = p.rate();
                    rows.add(row(num(Integer.toString(p.resources())), num(Integer.toString(p.executors())),
                        num(r == null ? "-" : Format.rate(r.min())), strongNum(r == null ? "-" : Format.rate(r.median())),
                        num(r == null ? "-" : Format.rate(r.max())), text(p.rateUnit()),
                        num(Format.times(p.speedup())), num(Format.percent(p.efficiency()))));
                }
                Table table = new Table(null, heads("#" + s.unit(), "#executors with tasks", "#rate min", "#median", "#max",
                    "unit", "#speedup", "#efficiency"), rows, false);
                parts.add(Part.heading(e.getKey()));
                Charts.Svg chart = charts.scaling(e.getKey(), s.unit(), points);
                parts.add(chart == null ? Part.table(table)
                    : new Part(null, null, null, chart(chart, "Median rate against " + s.unit()
                        + "; dashed: linear from the smallest count"), table));
                ScalePoint last = points.get(points.size() - 1);
                if (points.size() > 1) {
                    summary.add("Scaling, " + e.getKey() + ": " + Format.times(last.speedup()) + " at "
                        + last.resources() + " " + s.unit() + " (" + Format.percent(last.efficiency())
                        + " of linear).");
                }
            }
            return new Section("scaling", "Scaling", parts);
        }

        // ---------------------------------------------------------------------------------------------- environment

        private Section environment(Environment env) {
            List<Part> parts = new ArrayList<>();
            parts.add(Part.table(new Table(null, heads("", "value"), List.of(
                row(text("Spark version"), text(env.sparkVersion())),
                row(text("master"), text(env.master())),
                row(text("application id"), text(env.applicationId())),
                row(text("default parallelism"), text(Integer.toString(env.defaultParallelism()))),
                row(text("driver CPU"), text(env.cpuModel())),
                row(text("driver SIMD path"), text(env.simdPath())),
                row(text("GPU"), text(env.gpu() == null ? "none" : env.gpu())),
                row(text("JDK"), text(env.jdk())),
                row(text("OS"), text(env.os())),
                row(text("spark-native version"), text(env.projectVersion())),
                row(text("git commit"), text(env.gitCommit()))), false)));
            List<ExecutorInfo> executors = new ArrayList<>(Figures.nonNull(env.executors()));
            executors.sort(Comparator.comparing(ExecutorInfo::executorId, Timeline.EXECUTOR_ORDER));
            List<Row> rows = new ArrayList<>();
            for (ExecutorInfo e : executors) {
                rows.add(row(text(e.executorId()), text(e.host()), num(Integer.toString(e.cores())),
                    num(Format.bytes(e.maxMemoryBytes())), text(e.cpuModel()), text(e.simdPath()),
                    text(e.backends())));
            }
            if (rows.isEmpty()) {
                parts.add(Part.text("No executors were listed."));
            } else {
                parts.add(Part.table(new Table("Executors", heads("executor", "host", "#cores", "#storage memory",
                    "CPU", "SIMD path", "backends"), rows, false)));
            }
            if (env.settings() != null && !env.settings().isEmpty()) {
                List<Row> settings = new ArrayList<>();
                new TreeMap<>(env.settings()).forEach((k, v) -> settings.add(row(text(k), text(v))));
                parts.add(Part.table(new Table("Settings", heads("setting", "value"), settings, false)));
            }
            return new Section("environment", "Environment", parts);
        }

        // ----------------------------------------------------------------------------------------------- comparison

        private Section comparison(Comparison c) {
            List<Part> parts = new ArrayList<>();
            BenchReport.Baseline b = c.baseline();
            parts.add(Part.note("Baseline: " + b.source() + " (finished " + b.createdAt() + ", commit "
                + b.gitCommit() + "). A figure is flagged when its median moved by more than the spread (max - min)"
                + " of its repeats in either run; a figure measured once has no spread, so any change flags it."));
            parts.add(Part.text(c.summary() + "."));
            summary.add("Against the baseline " + b.source() + ": " + c.regressed() + " regressed beyond spread, "
                + c.improved() + " improved beyond spread, of " + c.rows().size() + " figures.");
            List<Row> flagged = new ArrayList<>();
            List<Row> all = new ArrayList<>();
            for (Comparison.Row r : c.rows()) {
                String verdict = switch (r.verdict()) {
                    case REGRESSED -> "▼ " + r.verdict().text();
                    case IMPROVED -> "▲ " + r.verdict().text();
                    case WITHIN_SPREAD -> r.verdict().text();
                };
                String cls = switch (r.verdict()) {
                    case REGRESSED -> "regressed";
                    case IMPROVED -> "improved";
                    case WITHIN_SPREAD -> null;
                };
                Row row = new Row(List.of(text(r.now().label()), text(r.now().unit()), num(value(r.old())),
                    num(value(r.now())), num(Format.change(r.change())), new Cell(null, verdict, false, r.flagged())),
                    cls);
                all.add(row);
                if (r.flagged()) {
                    flagged.add(row);
                }
            }
            List<Cell> head = heads("figure", "unit", "#baseline median (min to max)", "#this run median (min to max)",
                "#change", "verdict");
            if (flagged.isEmpty()) {
                parts.add(Part.text("No figure moved beyond its spread."));
            } else {
                parts.add(Part.table(new Table("Moved beyond their spread (" + flagged.size() + ")", head, flagged,
                    false)));
            }
            if (!all.isEmpty()) {
                parts.add(Part.table(new Table("All " + all.size() + " figures compared", head, all, true)));
            }
            Set<String> missing = new LinkedHashSet<>();
            c.added().forEach(f -> missing.add(f.label() + ": only in this run"));
            c.removed().forEach(f -> missing.add(f.label() + ": only in the baseline"));
            if (!missing.isEmpty()) {
                List<Row> m = new ArrayList<>();
                missing.forEach(s -> m.add(row(text(s))));
                parts.add(Part.table(new Table("Figures in one run only (" + missing.size() + ")", heads("figure"),
                    m, true)));
            }
            return new Section("comparison", "Comparison with the baseline", parts);
        }

        private static String value(BenchReport.Figure f) {
            Spread s = f.value();
            boolean ms = "ms".equals(f.unit());
            String median = ms ? Format.millis(s.median()) : Format.rate(s.median());
            if (s.width() == 0) {
                return median;
            }
            return median + " (" + (ms ? Format.millis(s.min()) : Format.rate(s.min())) + " to "
                + (ms ? Format.millis(s.max()) : Format.rate(s.max())) + ")";
        }

        // ---------------------------------------------------------------------------------------------------- cells

        private static Chart chart(Charts.Svg svg, String caption) {
            return new Chart(svg.id(), svg.svg(), caption);
        }
    }

    private static Cell pair(String label, String value) {
        return new Cell(label, value == null ? "-" : value, false, false);
    }

    private static Cell text(String s) {
        return new Cell(null, s == null ? "-" : s, false, false);
    }

    private static Cell num(String s) {
        return new Cell(null, s, true, false);
    }

    private static Cell strongNum(String s) {
        return new Cell(null, s, true, true);
    }

    private static Row row(Cell... cells) {
        return new Row(List.of(cells), null);
    }

    /** @return column heads; a leading {@code #} marks a numeric (right-aligned) column and is dropped */
    private static List<Cell> heads(String... names) {
        List<Cell> h = new ArrayList<>();
        for (String n : names) {
            boolean num = n.startsWith("#");
            h.add(new Cell(null, num ? n.substring(1) : n, num, false));
        }
        return h;
    }
}

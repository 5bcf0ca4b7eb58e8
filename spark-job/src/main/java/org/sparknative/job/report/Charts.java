package org.sparknative.job.report;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Paint;
import java.awt.Rectangle;
import java.awt.geom.Ellipse2D;
import java.text.AttributedString;
import java.text.DecimalFormat;
import java.text.DecimalFormatSymbols;
import java.text.FieldPosition;
import java.text.NumberFormat;
import java.text.ParsePosition;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.LegendItem;
import org.jfree.chart.LegendItemCollection;
import org.jfree.chart.StandardChartTheme;
import org.jfree.chart.axis.AxisLocation;
import org.jfree.chart.axis.CategoryAxis;
import org.jfree.chart.axis.LogAxis;
import org.jfree.chart.axis.NumberAxis;
import org.jfree.chart.axis.NumberTickUnit;
import org.jfree.chart.axis.SymbolAxis;
import org.jfree.chart.axis.ValueAxis;
import org.jfree.chart.labels.ItemLabelAnchor;
import org.jfree.chart.labels.ItemLabelPosition;
import org.jfree.chart.labels.StandardCategoryItemLabelGenerator;
import org.jfree.chart.plot.CategoryPlot;
import org.jfree.chart.plot.DatasetRenderingOrder;
import org.jfree.chart.plot.Plot;
import org.jfree.chart.plot.PlotOrientation;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.category.BarRenderer;
import org.jfree.chart.renderer.category.IntervalBarRenderer;
import org.jfree.chart.renderer.category.StandardBarPainter;
import org.jfree.chart.renderer.xy.StandardXYBarPainter;
import org.jfree.chart.renderer.xy.XYBarRenderer;
import org.jfree.chart.renderer.xy.XYErrorRenderer;
import org.jfree.chart.renderer.xy.XYLineAndShapeRenderer;
import org.jfree.chart.block.BlockBorder;
import org.jfree.chart.title.LegendTitle;
import org.jfree.chart.ui.RectangleEdge;
import org.jfree.chart.ui.RectangleInsets;
import org.jfree.chart.ui.TextAnchor;
import org.jfree.data.category.DefaultCategoryDataset;
import org.jfree.data.category.DefaultIntervalCategoryDataset;
import org.jfree.data.xy.XYIntervalSeries;
import org.jfree.data.xy.XYIntervalSeriesCollection;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;
import org.jfree.data.xy.YIntervalSeries;
import org.jfree.data.xy.YIntervalSeriesCollection;
import org.jfree.svg.SVGGraphics2D;
import org.jfree.svg.ViewBox;
import org.sparknative.job.report.BenchReport.GenerateRun;
import org.sparknative.job.report.BenchReport.IntegrateSize;
import org.sparknative.job.report.BenchReport.IntegrateVariant;
import org.sparknative.job.report.BenchReport.Reference;
import org.sparknative.job.report.BenchReport.ScalePoint;
import org.sparknative.job.report.BenchReport.TaskSpan;

/**
 * The report's charts: JFreeChart plots drawn onto JFreeSVG, as inline {@code <svg>} elements. Each chart gets the id
 * {@code chart-N} and its SVG definitions the prefix {@code chartN-} (N counts the charts this instance drew, from
 * 1), so a page holds no duplicate ids and the same report draws the same SVG text. Tick labels are formatted in
 * {@link Locale#ROOT}. One instance per page; not thread-safe.
 */
final class Charts {
    /** Width of every chart, px. */
    static final int WIDTH = 760;
    /** Height of a plain chart, px. */
    static final int HEIGHT = 380;

    private static final String FONT = Font.SANS_SERIF;
    /** Tableau 10, then darker shades of its first six, so a dozen series (a generate matrix) stay apart. */
    private static final Color[] PALETTE = {new Color(0x4e79a7), new Color(0xf28e2b), new Color(0x59a14f),
        new Color(0xb07aa1), new Color(0x76b7b2), new Color(0xedc948), new Color(0x9c755f), new Color(0xff9da7),
        new Color(0xbab0ac), new Color(0xe15759), new Color(0x2b4c6f), new Color(0xa65c12), new Color(0x2f6b2a),
        new Color(0x6b3d66), new Color(0x3b7f7a), new Color(0x9a7d10)};
    private static final Color RUN = PALETTE[0];
    private static final Color REFERENCE = PALETTE[1];
    private static final Color SPREAD = new Color(0x222222);
    private static final Color FAILED = new Color(0xb00020);
    private static final Color GRID = new Color(0xdddddd);

    /**
     * One drawn chart.
     *
     * @param id     its element id
     * @param svg    the {@code <svg>} element
     * @param width  px
     * @param height px
     */
    record Svg(String id, String svg, int width, int height) {
    }

    /**
     * The tasks of one figure on a timeline.
     *
     * @param name  its legend entry (a variant, a generate run)
     * @param tasks its task attempts
     */
    record TaskSeries(String name, List<TaskSpan> tasks) {
    }

    private int drawn;

    /** @return how many charts this instance drew */
    int drawn() {
        return drawn;
    }

    /**
     * Integration at one size: median rows/s per variant as horizontal bars on a log axis (evaluations/s on the top
     * axis), min-max of the repeats as a line over each bar, and the pandas reference points as bars of their own
     * colour.
     *
     * @return the chart, or null where no variant has a rate
     */
    Svg integration(IntegrateSize size, List<Reference> references) {
        DefaultCategoryDataset bars = new DefaultCategoryDataset();
        List<String> categories = new ArrayList<>();
        List<Number> mins = new ArrayList<>();
        List<Number> maxs = new ArrayList<>();
        double lo = Double.POSITIVE_INFINITY;
        double hi = 0;
        for (IntegrateVariant v : Figures.nonNull(size.variants())) {
            if (v.rowsPerSecond() == null || !(v.rowsPerSecond().median() > 0)) {
                continue;
            }
            String c = unique(categories, v.variant() + " · " + shortBackend(v.backend()));
            bars.addValue(v.rowsPerSecond().median(), "this run", c);
            mins.add(v.rowsPerSecond().min());
            maxs.add(v.rowsPerSecond().max());
            lo = Math.min(lo, positive(v.rowsPerSecond().min(), v.rowsPerSecond().median()));
            hi = Math.max(hi, v.rowsPerSecond().max());
        }
        int variants = categories.size();
        if (variants == 0) {
            return null;
        }
        for (Reference r : references) {
            double rate = r.seconds() > 0 ? r.rows() / r.seconds() : Double.NaN;
            if (!(rate > 0)) {
                continue;
            }
            String c = unique(categories, "pandas: " + r.name());
            bars.addValue(rate, "this run", c);
            mins.add(null);
            maxs.add(null);
            lo = Math.min(lo, rate);
            hi = Math.max(hi, rate);
        }
        Number[][] starts = {mins.toArray(new Number[0])};
        Number[][] ends = {maxs.toArray(new Number[0])};
        DefaultIntervalCategoryDataset spread = new DefaultIntervalCategoryDataset(new Comparable<?>[] {"min-max"},
            categories.toArray(new Comparable<?>[0]), starts, ends);

        // At least a third of a decade below the slowest bar, so that it shows as a bar.
        double lower = Math.pow(10, Math.floor(Math.log10(lo) - 0.3));
        // Room on the right for the value labels: a factor of 12 is about a third of a decade-wide tick label.
        double upper = Math.pow(10, Math.ceil(Math.log10(hi * 12)));
        LogAxis rows = logAxis("rows/s (median of the repeats; line: min to max)");
        rows.setRange(lower, upper);
        double perRow = size.rows() > 0 ? (double) size.evaluations() / size.rows() : Double.NaN;

        BarRenderer renderer = new BarRenderer() {
            @Override
            public Paint getItemPaint(int row, int column) {
                return column < variants ? RUN : REFERENCE;
            }
        };
        CategoryAxis variantsAxis = new CategoryAxis(null);
        CategoryPlot plot = new CategoryPlot(bars, variantsAxis, rows, renderer);
        plot.setOrientation(PlotOrientation.HORIZONTAL);
        plot.setRangeAxisLocation(0, AxisLocation.BOTTOM_OR_LEFT);
        IntervalBarRenderer spreadRenderer = new IntervalBarRenderer();
        plot.setDataset(1, spread);
        plot.setRenderer(1, spreadRenderer);
        plot.setDatasetRenderingOrder(DatasetRenderingOrder.FORWARD);
        if (perRow > 0) {
            LogAxis evaluations = logAxis("evaluations/s (this run's variants, " + Format.fixed(perRow, 0)
                + " per row)");
            evaluations.setRange(lower * perRow, upper * perRow);
            plot.setRangeAxis(1, evaluations);
            plot.setRangeAxisLocation(1, AxisLocation.TOP_OR_RIGHT);
        }
        LegendItemCollection legend = new LegendItemCollection();
        legend.add(new LegendItem("this run, median", RUN));
        legend.add(new LegendItem("min to max of the repeats", SPREAD));
        if (categories.size() > variants) {
            legend.add(new LegendItem("pandas reference, measured outside this run", REFERENCE));
        }
        plot.setFixedLegendItems(legend);
        JFreeChart chart = chart("Integration, " + Format.count(size.rows()) + " rows", plot);

        variantsAxis.setMaximumCategoryLabelWidthRatio(0.4f);
        variantsAxis.setCategoryMargin(0.25);
        renderer.setDrawBarOutline(false);
        renderer.setMaximumBarWidth(0.6);
        renderer.setDefaultItemLabelGenerator(new StandardCategoryItemLabelGenerator("{2}", new TickFormat()));
        renderer.setDefaultItemLabelsVisible(true);
        renderer.setDefaultItemLabelFont(new Font(FONT, Font.PLAIN, 11));
        renderer.setDefaultPositiveItemLabelPosition(new ItemLabelPosition(ItemLabelAnchor.OUTSIDE3,
            TextAnchor.CENTER_LEFT));
        renderer.setItemLabelInsets(new RectangleInsets(2, 6, 2, 6));
        spreadRenderer.setDrawBarOutline(false);
        spreadRenderer.setSeriesPaint(0, SPREAD);
        spreadRenderer.setMaximumBarWidth(0.008);
        return draw(chart, WIDTH, Math.max(HEIGHT, 150 + 34 * categories.size()));
    }

    /**
     * A task timeline: one lane per executor core (as {@link Timeline#lanes} places them), x in seconds since
     * {@code startMillis}, one bar per task attempt coloured by its figure; failed attempts in red.
     *
     * @return the chart, or null where there is no task
     */
    Svg timeline(String title, List<TaskSeries> series, long startMillis) {
        List<TaskSpan> all = new ArrayList<>();
        Map<TaskSpan, Integer> seriesOf = new IdentityHashMap<>();
        for (int i = 0; i < series.size(); i++) {
            for (TaskSpan t : series.get(i).tasks()) {
                all.add(t);
                seriesOf.put(t, i);
            }
        }
        if (all.isEmpty()) {
            return null;
        }
        Timeline.Lanes lanes = Timeline.lanes(all);
        List<XYIntervalSeries> bySeries = new ArrayList<>();
        for (TaskSeries s : series) {
            bySeries.add(new XYIntervalSeries(s.name()));
        }
        XYIntervalSeries failed = new XYIntervalSeries("failed attempts");
        for (Timeline.Placed p : lanes.placed()) {
            TaskSpan t = p.task();
            double x0 = (t.startMillis() - startMillis) / 1000.0;
            double x1 = (Math.max(t.startMillis(), t.endMillis()) - startMillis) / 1000.0;
            XYIntervalSeries target = t.successful() ? bySeries.get(seriesOf.get(t)) : failed;
            target.add(x0, x0, x1, p.row(), p.row() - 0.38, p.row() + 0.38);
        }
        XYIntervalSeriesCollection data = new XYIntervalSeriesCollection();
        List<Color> paints = new ArrayList<>();
        for (int i = 0; i < bySeries.size(); i++) {
            if (bySeries.get(i).getItemCount() > 0) {
                data.addSeries(bySeries.get(i));
                paints.add(PALETTE[i % PALETTE.length]);
            }
        }
        if (failed.getItemCount() > 0) {
            data.addSeries(failed);
            paints.add(FAILED);
        }
        XYBarRenderer renderer = new XYBarRenderer();
        renderer.setUseYInterval(true);
        NumberAxis time = new NumberAxis("seconds since the run started");
        time.setAutoRangeIncludesZero(false);
        time.setStandardTickUnits(NumberAxis.createStandardTickUnits(Locale.ROOT));
        time.setNumberFormatOverride(decimal("0.##"));
        SymbolAxis rows = new SymbolAxis("executor · lane", lanes.rowLabels().toArray(new String[0]));
        rows.setInverted(true);
        rows.setRange(-0.5, lanes.rows() - 0.5);
        rows.setGridBandsVisible(true);
        XYPlot plot = new XYPlot(data, time, rows, renderer);
        JFreeChart chart = chart(title, plot);

        plot.setRangeGridlinesVisible(false);
        renderer.setDrawBarOutline(true);
        renderer.setDefaultOutlinePaint(Color.WHITE);
        renderer.setDefaultOutlineStroke(new BasicStroke(0.5f));
        for (int i = 0; i < paints.size(); i++) {
            renderer.setSeriesPaint(i, paints.get(i));
        }
        rows.setTickLabelFont(new Font(FONT, Font.PLAIN, lanes.rows() > 24 ? 9 : 11));
        return draw(chart, WIDTH, Math.min(1400, Math.max(240, 150 + 18 * lanes.rows())));
    }

    /**
     * Generation throughput: median tokens/s against KV cache slots (log2 axis), one line per model, backend (and
     * thread count where runs differ in it), with min-max bars.
     *
     * @return the chart, or null where no run has a rate
     */
    Svg generation(List<GenerateRun> runs) {
        boolean threads = runs.stream().mapToInt(GenerateRun::threads).distinct().count() > 1;
        Map<String, YIntervalSeries> lines = new LinkedHashMap<>();
        double xlo = Double.POSITIVE_INFINITY;
        double xhi = 0;
        double ylo = Double.POSITIVE_INFINITY;
        double yhi = 0;
        for (GenerateRun r : runs) {
            if (r.tokensPerSecond() == null || r.slots() <= 0 || !(r.tokensPerSecond().median() > 0)) {
                continue;
            }
            String name = r.model() + " · " + r.backend() + (threads ? " · " + r.threads() + " threads" : "");
            lines.computeIfAbsent(name, YIntervalSeries::new)
                .add(r.slots(), r.tokensPerSecond().median(), r.tokensPerSecond().min(), r.tokensPerSecond().max());
            xlo = Math.min(xlo, r.slots());
            xhi = Math.max(xhi, r.slots());
            ylo = Math.min(ylo, positive(r.tokensPerSecond().min(), r.tokensPerSecond().median()));
            yhi = Math.max(yhi, r.tokensPerSecond().max());
        }
        if (lines.isEmpty()) {
            return null;
        }
        YIntervalSeriesCollection data = new YIntervalSeriesCollection();
        lines.values().forEach(data::addSeries);
        LogAxis slots = new DecadeAxis("KV cache slots per task", NumberFormat.getIntegerInstance(Locale.ROOT));
        slots.setBase(2);
        slots.setRange(xlo / 1.5, xhi * 1.5);
        ValueAxis tokens;
        String label = "completion tokens/s (median; bars: min to max)";
        if (yhi / ylo > 30) {
            LogAxis log = logAxis(label);
            log.setRange(Math.pow(10, Math.floor(Math.log10(ylo) - 0.3)), yhi * 1.6);
            tokens = log;
        } else {
            NumberAxis linear = new NumberAxis(label);
            linear.setNumberFormatOverride(new TickFormat());
            linear.setRange(0, yhi * 1.1);
            tokens = linear;
        }
        XYErrorRenderer renderer = new XYErrorRenderer();
        renderer.setDrawXError(false);
        renderer.setDefaultLinesVisible(true);
        renderer.setDefaultShapesVisible(true);
        XYPlot plot = new XYPlot(data, slots, tokens, renderer);
        JFreeChart chart = chart("Generation: tokens/s against slots", plot);

        renderer.setCapLength(6);
        for (int i = 0; i < lines.size(); i++) {
            renderer.setSeriesPaint(i, PALETTE[i % PALETTE.length]);
            renderer.setSeriesStroke(i, new BasicStroke(2f));
            renderer.setSeriesShape(i, new Ellipse2D.Double(-3.5, -3.5, 7, 7));
        }
        return draw(chart, WIDTH, HEIGHT + 20 * (lines.size() / 3));
    }

    /**
     * Scaling of one workload: its median rate against resources, with min-max bars, and the linear ideal from the
     * smallest resource count as a dashed line.
     *
     * @param points the workload's points, by resources
     * @return the chart, or null where no point has a rate
     */
    Svg scaling(String workload, String unit, List<ScalePoint> points) {
        YIntervalSeries measured = new YIntervalSeries("measured, median");
        XYSeries ideal = new XYSeries("linear ideal");
        ScalePoint first = null;
        double yhi = 0;
        for (ScalePoint p : points) {
            if (p.rate() == null || p.resources() <= 0) {
                continue;
            }
            if (first == null) {
                first = p;
            }
            measured.add(p.resources(), p.rate().median(), p.rate().min(), p.rate().max());
            double linear = first.rate().median() * p.resources() / first.resources();
            ideal.add(p.resources(), linear);
            yhi = Math.max(yhi, Math.max(p.rate().max(), linear));
        }
        if (first == null) {
            return null;
        }
        String rateUnit = first.rateUnit() == null ? "rate" : first.rateUnit();
        NumberAxis resources = new NumberAxis(unit == null ? "resources" : unit);
        resources.setStandardTickUnits(NumberAxis.createIntegerTickUnits(Locale.ROOT));
        resources.setNumberFormatOverride(NumberFormat.getIntegerInstance(Locale.ROOT));
        resources.setRange(0, points.stream().mapToInt(ScalePoint::resources).max().orElse(1) + 0.5);
        NumberAxis rate = new NumberAxis(rateUnit);
        rate.setNumberFormatOverride(new TickFormat());
        rate.setRange(0, yhi * 1.1);
        XYErrorRenderer renderer = new XYErrorRenderer();
        renderer.setDrawXError(false);
        renderer.setDefaultLinesVisible(true);
        renderer.setDefaultShapesVisible(true);
        XYLineAndShapeRenderer dashed = new XYLineAndShapeRenderer(true, false);
        YIntervalSeriesCollection measuredData = new YIntervalSeriesCollection();
        measuredData.addSeries(measured);
        XYPlot plot = new XYPlot(measuredData, resources, rate, renderer);
        plot.setDataset(1, new XYSeriesCollection(ideal));
        plot.setRenderer(1, dashed);
        plot.setDatasetRenderingOrder(DatasetRenderingOrder.FORWARD);
        JFreeChart chart = chart("Scaling: " + workload, plot);

        renderer.setSeriesPaint(0, RUN);
        renderer.setSeriesStroke(0, new BasicStroke(2f));
        renderer.setSeriesShape(0, new Ellipse2D.Double(-4, -4, 8, 8));
        renderer.setCapLength(6);
        dashed.setSeriesPaint(0, new Color(0x777777));
        dashed.setSeriesStroke(0, new BasicStroke(1.5f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_MITER, 10f,
            new float[] {6f, 4f}, 0f));
        return draw(chart, WIDTH, HEIGHT);
    }

    /**
     * @return the chart of {@code plot}, with the report's theme (fonts, white background, flat bars) applied; the
     *         theme resets series paints, strokes and fonts, so callers style the renderers after this
     */
    private static JFreeChart chart(String title, Plot plot) {
        JFreeChart chart = new JFreeChart(title, new Font(FONT, Font.BOLD, 15), plot, true);
        theme().apply(chart);
        chart.setBackgroundPaint(Color.WHITE);
        chart.setPadding(new RectangleInsets(6, 6, 6, 12));
        LegendTitle l = chart.getLegend();
        if (l != null) {
            l.setPosition(RectangleEdge.BOTTOM);
            l.setFrame(BlockBorder.NONE);
        }
        return chart;
    }

    private Svg draw(JFreeChart chart, int width, int height) {
        int n = ++drawn;
        SVGGraphics2D g = new SVGGraphics2D(width, height);
        g.setDefsKeyPrefix("chart" + n + "-");
        chart.draw(g, new Rectangle(0, 0, width, height));
        String id = "chart-" + n;
        return new Svg(id, g.getSVGElement(id, true, new ViewBox(0, 0, width, height), null, null), width, height);
    }

    private static StandardChartTheme theme() {
        StandardChartTheme t = new StandardChartTheme("spark-native");
        t.setExtraLargeFont(new Font(FONT, Font.BOLD, 15));
        t.setLargeFont(new Font(FONT, Font.BOLD, 12));
        t.setRegularFont(new Font(FONT, Font.PLAIN, 11));
        t.setSmallFont(new Font(FONT, Font.PLAIN, 10));
        t.setChartBackgroundPaint(Color.WHITE);
        t.setPlotBackgroundPaint(Color.WHITE);
        t.setPlotOutlinePaint(new Color(0xaaaaaa));
        t.setLegendBackgroundPaint(Color.WHITE);
        t.setDomainGridlinePaint(GRID);
        t.setRangeGridlinePaint(GRID);
        t.setAxisOffset(new RectangleInsets(4, 4, 4, 4));
        t.setBarPainter(new StandardBarPainter());
        t.setXYBarPainter(new StandardXYBarPainter());
        t.setShadowVisible(false);
        t.setGridBandPaint(Color.WHITE);
        t.setGridBandAlternatePaint(new Color(0xf4f4f4));
        return t;
    }

    private static LogAxis logAxis(String label) {
        return new DecadeAxis(label, new TickFormat());
    }

    /**
     * A log axis with a tick at every power of its base, labeled by a {@link NumberFormat} as plain text (LogAxis
     * otherwise labels {@code 10^6} with a superscript, which SVG receives as glyph outlines).
     */
    static final class DecadeAxis extends LogAxis {
        DecadeAxis(String label, NumberFormat format) {
            super(label);
            setNumberFormatOverride(format);
            setTickUnit(new NumberTickUnit(1));
            setMinorTickMarksVisible(false);
        }

        @Override
        protected AttributedString createTickLabel(double value) {
            return new AttributedString(getNumberFormatOverride().format(value));
        }
    }

    private static DecimalFormat decimal(String pattern) {
        return new DecimalFormat(pattern, DecimalFormatSymbols.getInstance(Locale.ROOT));
    }

    private static String unique(List<String> categories, String name) {
        String c = name;
        for (int i = 2; categories.contains(c); i++) {
            c = name + " (" + i + ")";
        }
        categories.add(c);
        return c;
    }

    private static double positive(double min, double median) {
        return min > 0 ? min : median;
    }

    /** {@code cuda:0 (NVIDIA H100 80GB HBM3)} reads {@code cuda:0} on an axis; the tables say the rest. */
    private static String shortBackend(String backend) {
        if (backend == null) {
            return "?";
        }
        int p = backend.indexOf(" (");
        return p < 0 ? backend : backend.substring(0, p);
    }

    /**
     * Tick and bar labels: {@code 300}, {@code 1.5k}, {@code 20M}, {@code 1G}, in {@link Locale#ROOT}. Formats only;
     * the charts never parse.
     */
    static final class TickFormat extends NumberFormat {
        private static final String[] SUFFIX = {"", "k", "M", "G", "T"};

        @Override
        public StringBuffer format(double v, StringBuffer to, FieldPosition pos) {
            return to.append(label(v));
        }

        @Override
        public StringBuffer format(long v, StringBuffer to, FieldPosition pos) {
            return to.append(label(v));
        }

        @Override
        public Number parse(String source, ParsePosition pos) {
            return null;
        }

        static String label(double v) {
            if (Double.isNaN(v) || Double.isInfinite(v)) {
                return "-";
            }
            int k = 0;
            double a = Math.abs(v);
            while (a >= 999.5 && k < SUFFIX.length - 1) {
                a /= 1000;
                v /= 1000;
                k++;
            }
            String pattern = Math.abs(v) >= 100 || v == Math.rint(v) ? "0" : Math.abs(v) >= 10 ? "0.#" : "0.##";
            return decimal(pattern).format(v) + SUFFIX[k];
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof TickFormat;
        }

        @Override
        public int hashCode() {
            return TickFormat.class.hashCode();
        }
    }
}

package org.sparknative.job.report;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.sparknative.job.report.BenchReport.Figure;
import org.sparknative.job.report.BenchReport.Spread;

/**
 * The comparable figures of a report, each under a key that names its configuration, so that the same
 * configuration in two runs has the same key:
 *
 * <ul>
 *   <li>{@code integrate/<rows>/<variant>/<backend>}: rows/s, higher is better. Rows/s is the one integration unit
 *       compared; evaluations/s is rows/s times the size's fixed evaluations per row, so it moves with it;</li>
 *   <li>{@code generate/<model>/<backend>/<slots>}: completion tokens/s, higher is better;</li>
 *   <li>{@code generate/<model>/<backend>/<slots>/ttft-p50} (and {@code -p90}, {@code -p99}): time to first token in
 *       ms, lower is better. One value per run (the last repeat's rows), so its spread is zero;</li>
 *   <li>{@code scaling/<workload>/<resources>}: the workload's rate ({@code rows/s} or {@code tokens/s}), higher is
 *       better.</li>
 * </ul>
 *
 * A key that a report would hold twice (two generate runs that differ only in threads) gets {@code #2}, {@code #3},
 * ... on its later occurrences, in the order the runs appear. Stateless and thread-safe.
 */
public final class Figures {
    private Figures() {
    }

    /**
     * @param report a report; its null sections give no figures
     * @return its figures in report order: integration by size and variant, generation by run (tokens/s, then TTFT
     *         p50, p90, p99), scaling by point
     */
    public static List<Figure> of(BenchReport report) {
        List<Figure> out = new ArrayList<>();
        Map<String, Integer> seen = new HashMap<>();
        if (report.integrate() != null && report.integrate().sizes() != null) {
            for (BenchReport.IntegrateSize size : report.integrate().sizes()) {
                for (BenchReport.IntegrateVariant v : nonNull(size.variants())) {
                    if (v.rowsPerSecond() != null) {
                        add(out, seen, "integrate/" + size.rows() + "/" + v.variant() + "/" + v.backend(),
                            v.variant() + " (" + v.backend() + "), " + Format.count(size.rows()) + " rows", "rows/s",
                            true, v.rowsPerSecond());
                    }
                }
            }
        }
        if (report.generate() != null) {
            for (BenchReport.GenerateRun run : nonNull(report.generate().runs())) {
                String key = "generate/" + run.model() + "/" + run.backend() + "/" + run.slots();
                String label = run.model() + " (" + run.backend() + "), " + slots(run.slots());
                key = unique(seen, key);
                if (run.tokensPerSecond() != null) {
                    out.add(new Figure(key, label, "tokens/s", true, run.tokensPerSecond()));
                }
                BenchReport.Percentiles ttft = run.ttftMs();
                if (ttft != null) {
                    out.add(new Figure(key + "/ttft-p50", label + ", TTFT p50", "ms", false, single(ttft.p50())));
                    out.add(new Figure(key + "/ttft-p90", label + ", TTFT p90", "ms", false, single(ttft.p90())));
                    out.add(new Figure(key + "/ttft-p99", label + ", TTFT p99", "ms", false, single(ttft.p99())));
                }
            }
        }
        if (report.scaling() != null) {
            for (BenchReport.ScalePoint p : nonNull(report.scaling().points())) {
                if (p.rate() != null) {
                    add(out, seen, "scaling/" + p.workload() + "/" + p.resources(),
                        p.workload() + ", " + p.resources() + " " + report.scaling().unit(), p.rateUnit(), true, p.rate());
                }
            }
        }
        return out;
    }

    /** @return {@code figures} by key, in their order */
    public static Map<String, Figure> byKey(List<Figure> figures) {
        Map<String, Figure> m = new LinkedHashMap<>();
        for (Figure f : figures) {
            m.putIfAbsent(f.key(), f);
        }
        return m;
    }

    private static void add(List<Figure> out, Map<String, Integer> seen, String key, String label, String unit,
                            boolean higherIsBetter, Spread value) {
        out.add(new Figure(unique(seen, key), label, unit, higherIsBetter, value));
    }

    private static String unique(Map<String, Integer> seen, String key) {
        int n = seen.merge(key, 1, Integer::sum);
        return n == 1 ? key : key + "#" + n;
    }

    private static Spread single(double v) {
        return new Spread(v, v, v);
    }

    /** @return {@code 1 slot}, {@code 8 slots} */
    static String slots(int n) {
        return n + (n == 1 ? " slot" : " slots");
    }

    static <T> List<T> nonNull(List<T> list) {
        return list == null ? List.of() : list;
    }
}

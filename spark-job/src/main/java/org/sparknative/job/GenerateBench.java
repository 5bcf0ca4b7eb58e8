package org.sparknative.job;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.sparknative.job.report.BenchReport;
import org.sparknative.spark.ExecutorActivity;
import org.sparknative.spark.generate.GenerateTransform;
import org.sparknative.udf.Backend;
import org.sparknative.udf.BadRowPolicy;
import org.sparknative.udf.generate.GenerationParams;
import org.sparknative.udf.generate.GenerationSpec;

/**
 * The generation benchmark through Spark: one configuration (model, backend, slots, threads) generates the
 * prompts {@code repeats} times after {@code warmup} untimed runs over the first few prompts, each through the
 * job's own path ({@link GenerateTransform}, the batched operator). Each repeat collects the per-row figures
 * (token counts, finish reason, time to first token, latency) to the driver, which is what is timed: small next
 * to the generation itself. The percentiles come from the last repeat's rows.
 *
 * <p>Not thread-safe: one benchmark at a time, on the driver.
 */
final class GenerateBench {
    private GenerateBench() {
    }

    /**
     * A model to measure.
     *
     * @param name       what the report calls it
     * @param checkpoint its llama2.c checkpoint (path or URI)
     * @param tokenizer  its tokenizer
     * @param shape      its shape ({@code dim=..,hidden=..,...})
     */
    record Model(String name, String checkpoint, String tokenizer, String shape) {
    }

    /**
     * @param count prompts
     * @param parts partitions
     * @return {@code count} short story openings with ids, the same for the same count, in {@code parts} partitions
     */
    static Dataset<Row> generatedPrompts(SparkSession spark, int count, int parts) {
        String[] who = {"a little girl", "a brave cat", "an old man", "a small dog", "a happy bird", "a shy boy",
            "a red fox", "a kind queen"};
        String[] what = {"found a shiny box", "saw a big tree", "wanted to fly", "lost a blue ball", "met a new friend",
            "heard a loud noise", "made a cake", "went to the park"};
        List<Row> rows = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            rows.add(RowFactory.create((long) i, String.format(Locale.ROOT, "Once upon a time, %s %s",
                who[i % who.length], what[(i / who.length) % what.length]) + (i >= who.length * what.length ? " again." : ".")));
        }
        StructType schema = new StructType().add("id", DataTypes.LongType, false).add("prompt", DataTypes.StringType, false);
        return spark.createDataFrame(rows, schema).repartition(parts);
    }

    /**
     * Measures one configuration.
     *
     * @param prompts  the prompts ({@code prompt}, optional {@code id}), cached
     * @param defaults generation settings (budget, temperature, top-p, seed)
     */
    static BenchReport.GenerateRun measure(SparkSession spark, Model model, Backend backend, int slots, int threads,
                                           Dataset<Row> prompts, GenerationParams defaults, int warmup, int repeats) {
        GenerationSpec spec = new GenerationSpec(model.checkpoint(), model.tokenizer(), backend, slots,
            GenerationSpec.DEFAULT_PREFILL_TOKENS, threads, BadRowPolicy.LONG_PROMPTS.parse("row-error"))
            .withMatmul(Jobs.cudaMatmul(spark));
        GenerateTransform.Options options = GenerateTransform.Options.of(spec, defaults);
        if (warmup > 0) {
            Dataset<Row> warm = prompts.limit(Math.max(2, 2 * slots)).cache();
            for (int i = 0; i < warmup; i++) {
                collect(GenerateTransform.apply(warm, options).output());
            }
            warm.unpersist();
        }
        ExecutorActivity activity = ExecutorActivity.start(spark.sparkContext());
        double[] seconds = new double[repeats];
        List<Row> last = List.of();
        try {
            for (int i = 0; i < repeats; i++) {
                GenerateTransform.Result r = GenerateTransform.apply(prompts, options);
                activity.track(ExecutorActivity.Count.ROWS, r.counters().rows());
                activity.track(ExecutorActivity.Count.PROMPT_TOKENS, r.counters().promptTokens());
                activity.track(ExecutorActivity.Count.COMPLETION_TOKENS, r.counters().completionTokens());
                long t0 = System.nanoTime();
                last = collect(r.output());
                seconds[i] = (System.nanoTime() - t0) / 1e9;
            }
        } catch (RuntimeException e) {
            activity.close();
            throw e;
        }
        BenchReport.Activity act = BenchActivity.of(activity);
        long promptTokens = 0;
        long completionTokens = 0;
        long errors = 0;
        List<Double> ttft = new ArrayList<>();
        List<Double> latency = new ArrayList<>();
        for (Row row : last) {
            promptTokens += row.getInt(0);
            completionTokens += row.getInt(1);
            if (row.getString(2).startsWith("error")) {
                errors++;
            }
            if (!row.isNullAt(3)) {
                ttft.add(row.getDouble(3));
            }
            latency.add(row.getDouble(4));
        }
        double[] tps = new double[repeats];
        double[] rps = new double[repeats];
        List<Double> secs = new ArrayList<>();
        for (int i = 0; i < repeats; i++) {
            tps[i] = completionTokens / seconds[i];
            rps[i] = last.size() / seconds[i];
            secs.add(seconds[i]);
        }
        return new BenchReport.GenerateRun(model.name(), model.shape(), backend.label(), slots, threads, secs,
            BenchReport.Spread.of(tps), BenchReport.Spread.of(rps), promptTokens, completionTokens, errors,
            percentiles(ttft), percentiles(latency), act);
    }

    private static List<Row> collect(Dataset<Row> output) {
        return output.select("prompt_tokens", "completion_tokens", "finish_reason", "ttft_ms", "latency_ms")
            .collectAsList();
    }

    /**
     * Exact percentiles as Spark's {@code percentile} computes them: linear interpolation between the closest ranks,
     * position {@code p * (count - 1)} in the sorted values.
     *
     * @return the percentiles, or null for no values
     */
    static BenchReport.Percentiles percentiles(List<Double> values) {
        if (values.isEmpty()) {
            return null;
        }
        double[] v = values.stream().mapToDouble(Double::doubleValue).toArray();
        Arrays.sort(v);
        return new BenchReport.Percentiles(v.length, at(v, 0.5), at(v, 0.9), at(v, 0.99), v[v.length - 1]);
    }

    private static double at(double[] sorted, double p) {
        double pos = p * (sorted.length - 1);
        int lo = (int) Math.floor(pos);
        int hi = Math.min(lo + 1, sorted.length - 1);
        return sorted[lo] + (pos - lo) * (sorted[hi] - sorted[lo]);
    }
}

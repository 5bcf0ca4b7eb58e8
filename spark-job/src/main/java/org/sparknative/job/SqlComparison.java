package org.sparknative.job;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.execution.SparkPlan;
import org.apache.spark.sql.execution.adaptive.AdaptiveSparkPlanExec;
import org.sparknative.spark.generate.GenerateTransform;
import org.sparknative.spark.sql.NativeEvalExec;
import org.sparknative.spark.sql.SparkNativeSql;
import org.sparknative.udf.generate.GenerationSpec;
import scala.jdk.javaapi.CollectionConverters;

/**
 * {@code generate --compare-sql}: the same prompts through the SQL extension's {@code generate_details()} and
 * through the DataFrame API ({@link GenerateTransform}), alternately, three times each; each run's completion tokens come
 * from its operator's SQL metric, so nothing but the generation is timed.
 */
final class SqlComparison {
    private SqlComparison() {
    }

    /** One timed run. */
    record Run(String path, double seconds, long tokens) {
        double tokensPerSecond() {
            return tokens / seconds;
        }
    }

    static List<Run> generate(SparkSession spark, Dataset<Row> prompts, GenerationSpec spec, GenerateTransform.Options options) {
        if (!SparkNativeSql.hasExtension(spark)) {
            System.out.println("--compare-sql: the session has no SQL extension (spark.sql.extensions); skipped");
            return List.of();
        }
        Map<String, String> conf = new LinkedHashMap<>();
        String m = "spark.sparknative.model.compare.";
        conf.put(m + "path", spec.checkpoint());
        if (spec.tokenizer() != null) {
            conf.put(m + "tokenizer", spec.tokenizer());
        }
        conf.put(m + "context", String.valueOf(spec.contextLength()));
        conf.put(m + "kvCache", spec.kvCache().label());
        conf.put(m + "backend", spec.backend().label());
        conf.put(m + "slots", String.valueOf(spec.slots()));
        conf.put(m + "prefillTokens", String.valueOf(spec.prefillTokensPerStep()));
        conf.put(m + "threads", String.valueOf(spec.threads()));
        conf.put(m + "longPrompts", spec.longPrompts().label());
        conf.put(m + "recordBatchRows", String.valueOf(options.recordBatchRows()));
        if (spec.checkpointSha256() != null) {
            conf.put(m + "sha256", spec.checkpointSha256());
        }
        if (spec.tokenizerSha256() != null) {
            conf.put(m + "tokenizerSha256", spec.tokenizerSha256());
        }
        conf.put("spark.sparknative.generate.maxNewTokens", String.valueOf(options.defaults().maxNewTokens()));
        conf.put("spark.sparknative.generate.temperature", String.valueOf(options.defaults().temperature()));
        conf.put("spark.sparknative.generate.topP", String.valueOf(options.defaults().topP()));
        conf.put("spark.sparknative.generate.seed", String.valueOf(options.defaults().seed()));
        Map<String, String> before = new LinkedHashMap<>();
        conf.forEach((k, v) -> {
            if (spark.conf().contains(k)) {
                before.put(k, spark.conf().get(k));
            }
            spark.conf().set(k, v);
        });
        try {
            prompts.createOrReplaceTempView("compare_sql_prompts");
            List<String> columns = Arrays.asList(prompts.columns());
            StringBuilder args = new StringBuilder();
            for (String c : List.of("max_new_tokens", "temperature", "top_p", "seed")) {
                if (columns.contains(c)) {
                    args.append(", ").append(c).append(" => ").append(c);
                }
            }
            String query = "SELECT *, generate_details(prompt" + args + ", model => 'compare') AS d FROM compare_sql_prompts";
            List<Run> runs = new ArrayList<>();
            for (int round = 0; round < 3; round++) {
                runs.add(time("sql", spark.sql(query)));
                runs.add(time("dataframe", GenerateTransform.apply(prompts, options).output()));
            }
            List<List<String>> rows = new ArrayList<>();
            for (Run r : runs) {
                rows.add(List.of(r.path(), Report.fixed(r.seconds(), 2), String.format(Locale.ROOT, "%,d", r.tokens()),
                    Report.fixed(r.tokensPerSecond(), 1)));
            }
            System.out.println();
            Report.table(System.out, List.of("path", "wall s", "completion tokens", "tokens/s"), rows);
            double sql = best(runs, "sql");
            double df = best(runs, "dataframe");
            System.out.printf(Locale.ROOT, "SQL generate_details() reaches %.1f%% of the DataFrame API's tokens/s (best of 3 each)%n",
                100.0 * sql / df);
            return runs;
        } finally {
            conf.keySet().forEach(k -> {
                if (before.containsKey(k)) {
                    spark.conf().set(k, before.get(k));
                } else {
                    spark.conf().unset(k);
                }
            });
        }
    }

    private static double best(List<Run> runs, String path) {
        return runs.stream().filter(r -> r.path().equals(path)).mapToDouble(Run::tokensPerSecond).max().orElse(Double.NaN);
    }

    /** Runs {@code df}'s own query execution (every row computed and dropped, as the noop sink does) and times it. */
    private static Run time(String path, Dataset<Row> df) {
        long t0 = System.nanoTime();
        ((org.apache.spark.sql.classic.Dataset<Row>) df).queryExecution().toRdd().count();
        double secs = (System.nanoTime() - t0) / 1e9;
        return new Run(path, secs, completionTokens(df));
    }

    /** @return the completion tokens the batched operator of {@code df}'s executed plan counted (its SQL metric) */
    static long completionTokens(Dataset<Row> df) {
        SparkPlan p = ((org.apache.spark.sql.classic.Dataset<Row>) df).queryExecution().executedPlan();
        if (p instanceof AdaptiveSparkPlanExec a) {
            p = a.executedPlan();
        }
        return sum(p);
    }

    private static long sum(SparkPlan p) {
        long total = 0;
        if (p instanceof NativeEvalExec e && e.metrics().contains("numCompletionTokens")) {
            total += e.metrics().apply("numCompletionTokens").value();
        }
        if (p instanceof org.apache.spark.sql.execution.adaptive.QueryStageExec stage) {
            total += sum(stage.plan());
        }
        for (SparkPlan c : CollectionConverters.asJava(p.children())) {
            total += sum(c);
        }
        return total;
    }
}

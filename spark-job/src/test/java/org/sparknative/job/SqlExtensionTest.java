package org.sparknative.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.spark.SparkException;
import org.apache.spark.sql.AnalysisException;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.execution.ColumnarToRowExec;
import org.apache.spark.sql.execution.FileSourceScanExec;
import org.apache.spark.sql.execution.SparkPlan;
import org.apache.spark.sql.execution.adaptive.AdaptiveSparkPlanExec;
import org.apache.spark.sql.execution.columnar.InMemoryTableScanExec;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sparknative.kernels.integrate.IntegrateReference;
import org.sparknative.kernels.llama.CheckpointFormat;
import org.sparknative.kernels.llama.LlamaConfig;
import org.sparknative.kernels.llama.SyntheticCheckpoint;
import org.sparknative.kernels.llama.TokenizerWriter;
import org.sparknative.spark.generate.GenerateTransform;
import org.sparknative.spark.integrate.IntegrateTransform;
import org.sparknative.spark.sql.ColumnarNativeEvalExec;
import org.sparknative.spark.sql.NativeEvalExec;
import org.sparknative.udf.Backend;
import org.sparknative.udf.BadRowPolicy;
import org.sparknative.udf.generate.GenerationParams;
import org.sparknative.udf.generate.GenerationSpec;
import scala.jdk.javaapi.CollectionConverters;

/**
 * The SQL extension on the shared test session: the batched operators in the physical plan, the columnar
 * bulk path over Parquet and the cache, SQL against the DataFrame API byte for byte, named-argument
 * checks, nulls and invalid rows, and the functions in WHERE, GROUP BY, ORDER BY and aggregates.
 */
class SqlExtensionTest {
    private static SparkSession spark;

    @TempDir
    static Path tmp;

    private final Map<String, String> settings = new LinkedHashMap<>();

    @BeforeAll
    static void start() {
        spark = SparkTestSession.get();
    }

    @AfterEach
    void unset() {
        settings.keySet().forEach(spark.conf()::unset);
        settings.clear();
    }

    private void set(String key, String value) {
        settings.put(key, value);
        spark.conf().set(key, value);
    }

    /**
     * The final physical plan of {@code df}, after running it (AQE decides the plan as it runs): its own query
     * execution, every row computed and dropped (a write would plan a query execution of its own).
     */
    private static SparkPlan executed(Dataset<Row> df) {
        var qe = ((org.apache.spark.sql.classic.Dataset<Row>) df).queryExecution();
        qe.toRdd().count();
        SparkPlan p = qe.executedPlan();
        return p instanceof AdaptiveSparkPlanExec a ? a.executedPlan() : p;
    }

    private static List<SparkPlan> nodes(SparkPlan p) {
        List<SparkPlan> out = new ArrayList<>();
        out.add(p);
        if (p instanceof org.apache.spark.sql.execution.adaptive.QueryStageExec stage) {
            out.addAll(nodes(stage.plan()));
        }
        for (SparkPlan c : CollectionConverters.asJava(p.children())) {
            out.addAll(nodes(c));
        }
        return out;
    }

    private static <T> T only(SparkPlan plan, Class<T> type) {
        List<T> found = nodes(plan).stream().filter(type::isInstance).map(type::cast).toList();
        assertEquals(1, found.size(), type.getSimpleName() + " in\n" + plan.treeString());
        return found.get(0);
    }

    private static Dataset<Row> integrateInput(long rows, int partitions) {
        return IntegrateData.generate(spark, rows, 7, partitions);
    }

    private static void assertSameRows(List<Row> expected, List<Row> actual) {
        assertEquals(expected.size(), actual.size());
        Comparator<Row> byId = Comparator.comparingLong(r -> r.getLong(0));
        List<Row> e = new ArrayList<>(expected);
        List<Row> a = new ArrayList<>(actual);
        e.sort(byId);
        a.sort(byId);
        for (int i = 0; i < e.size(); i++) {
            // Row equality compares doubles by value; the strings make a NaN or a -0.0 difference visible too.
            assertEquals(e.get(i).toString(), a.get(i).toString(), "row " + i);
            for (int c = 0; c < e.get(i).size(); c++) {
                if (e.get(i).get(c) instanceof Double d) {
                    assertEquals(Double.doubleToRawLongBits(d), Double.doubleToRawLongBits(a.get(i).getDouble(c)));
                }
            }
        }
    }

    @Test
    void integrateSqlEqualsTheDataFrameApiBitForBit() {
        Dataset<Row> in = integrateInput(3000, 3);
        in.createOrReplaceTempView("sx_rows");
        Dataset<Row> sql = spark.sql("SELECT *, integrate_f(a, b, n) AS x FROM sx_rows");
        Dataset<Row> api = IntegrateTransform.apply(in, IntegrateTransform.Options.defaults()).output();
        assertEquals(api.schema(), sql.schema());
        assertSameRows(api.collectAsList(), sql.collectAsList());
        for (Row r : sql.collectAsList()) {
            double ref = IntegrateReference.integrate(r.getDouble(1), r.getDouble(2), r.getInt(3));
            assertEquals(ref, r.getDouble(4), 1e-12 * IntegrateReference.scale(r.getDouble(1), r.getDouble(2), r.getInt(3)));
        }
        // The same operator in both plans; row input here (the generated rows are not columnar).
        NativeEvalExec s = only(executed(sql), NativeEvalExec.class);
        NativeEvalExec d = only(executed(api), NativeEvalExec.class);
        assertEquals("BatchedIntegrateF", s.nodeName());
        assertEquals(s.nodeName(), d.nodeName());
        assertFalse(s.columnarInput());
        String explain = spark.sql("EXPLAIN SELECT *, integrate_f(a, b, n) AS x FROM sx_rows").first().getString(0);
        assertTrue(explain.contains("BatchedIntegrateF integrate_f("), explain);
    }

    @Test
    void parquetAndCachedInputAreReadInBulkWithoutColumnarToRow() {
        Dataset<Row> in = integrateInput(20_000, 2);
        String parquet = tmp.resolve("sx.parquet").toString();
        in.write().mode("overwrite").parquet(parquet);
        spark.read().parquet(parquet).createOrReplaceTempView("sx_parquet");
        Dataset<Row> cached = in.cache();
        cached.count();
        cached.createOrReplaceTempView("sx_cached");
        List<Row> reference = IntegrateTransform.apply(in, IntegrateTransform.Options.defaults()).output()
            .select("id", "x").collectAsList();
        for (String view : List.of("sx_parquet", "sx_cached")) {
            Dataset<Row> q = spark.sql("SELECT id, integrate_f(a, b, n) AS x FROM " + view);
            SparkPlan plan = executed(q);
            ColumnarNativeEvalExec op = only(plan, ColumnarNativeEvalExec.class);
            assertTrue(op.columnarInput());
            assertTrue(nodes(op).stream().noneMatch(n -> n instanceof ColumnarToRowExec), plan.treeString());
            SparkPlan source = op.child();
            assertTrue(view.equals("sx_parquet") ? source instanceof FileSourceScanExec : source instanceof InMemoryTableScanExec,
                plan.treeString());
            assertTrue(plan.treeString().contains("columnar input"), plan.treeString());
            assertSameRows(reference, q.collectAsList());
            // SQL metrics: every row, at least one record batch per partition, time in native code.
            Map<String, Long> m = new LinkedHashMap<>();
            CollectionConverters.asJava(op.metrics()).forEach((k, v) -> m.put(k, v.value()));
            assertEquals(20_000L, m.get("numOutputRows"), m.toString());
            assertTrue(m.get("numRecordBatches") >= 2, m.toString());
            assertTrue(m.get("nativeTime") > 0, m.toString());
            assertEquals(0L, m.get("numInvalidRows"), m.toString());
        }
        cached.unpersist();
    }

    @Test
    void nullsAndInvalidRows() {
        StructType schema = new StructType().add("id", DataTypes.LongType).add("a", DataTypes.DoubleType)
            .add("b", DataTypes.DoubleType).add("n", DataTypes.LongType);
        List<Row> rows = List.of(RowFactory.create(1L, 0.0, 1.0, 4L), RowFactory.create(2L, null, 1.0, 4L),
            RowFactory.create(3L, 0.0, 1.0, 0L), RowFactory.create(4L, 0.0, 1.0, 3_000_000_000L));
        spark.createDataFrame(rows, schema).repartition(2).createOrReplaceTempView("sx_bad");
        SparkException e = assertThrows(SparkException.class,
            () -> spark.sql("SELECT id, integrate_f(a, b, n) FROM sx_bad").collectAsList());
        String msg = e.getMessage() + " " + e.getCause();
        assertTrue(msg.contains("integrate_f: id 3: n must be >= 1, got 0")
            || msg.contains("integrate_f: id 4: n must fit in INT (at most 2147483647), got 3000000000"), msg);
        set("spark.sparknative.invalidRows", "row-error");
        Map<Long, Row> out = new LinkedHashMap<>();
        for (Row r : spark.sql("SELECT id, integrate_f(a, b, n) AS x FROM sx_bad").collectAsList()) {
            out.put(r.getLong(0), r);
        }
        assertEquals(IntegrateReference.integrate(0.0, 1.0, 4), out.get(1L).getDouble(1), 1e-15);
        assertTrue(out.get(2L).isNullAt(1), "a null argument gives null");
        assertTrue(out.get(3L).isNullAt(1), "an invalid row gives null under row-error");
        assertTrue(out.get(4L).isNullAt(1), "a BIGINT n outside INT is an invalid row");
    }

    @Test
    void worksInWhereGroupByOrderByAndAggregates() {
        Dataset<Row> in = integrateInput(2000, 2);
        in.createOrReplaceTempView("sx_pos");
        List<Row> all = IntegrateTransform.apply(in, IntegrateTransform.Options.defaults()).output().collectAsList();
        long negative = all.stream().filter(r -> r.getDouble(4) < -0.1).count();
        double sum = 0;
        for (Row r : all) {
            sum += r.getDouble(4);
        }
        Dataset<Row> where = spark.sql("SELECT id FROM sx_pos WHERE integrate_f(a, b, n) < -0.1");
        assertEquals(negative, where.count());
        assertTrue(executed(where).treeString().contains("BatchedIntegrateF"));
        Dataset<Row> group = spark.sql("SELECT integrate_f(a, b, n) < -0.1 AS neg, count(*) AS c FROM sx_pos "
            + "GROUP BY integrate_f(a, b, n) < -0.1 ORDER BY neg");
        List<Row> groups = group.collectAsList();
        assertEquals(2000 - negative, groups.get(0).getLong(1));
        assertEquals(negative, groups.get(1).getLong(1));
        assertTrue(executed(group).treeString().contains("BatchedIntegrateF"), executed(group).treeString());
        Dataset<Row> agg = spark.sql("SELECT sum(integrate_f(a, b, n)) FROM sx_pos");
        assertEquals(sum, agg.first().getDouble(0), 1e-9 * Math.abs(sum));
        assertTrue(executed(agg).treeString().contains("BatchedIntegrateF"), executed(agg).treeString());
        List<Row> ordered = spark.sql("SELECT id FROM sx_pos ORDER BY integrate_f(a, b, n), id LIMIT 3").collectAsList();
        List<Row> expected = all.stream().sorted(Comparator.<Row>comparingDouble(r -> r.getDouble(4))
            .thenComparingLong(r -> r.getLong(0))).limit(3).toList();
        for (int i = 0; i < 3; i++) {
            assertEquals(expected.get(i).getLong(0), ordered.get(i).getLong(0));
        }
        // A call over a computed argument, and two calls in one SELECT.
        Row two = spark.sql("SELECT integrate_f(a * 2, b, n) AS x2, integrate_f(a, b, n + 1) AS x3 FROM sx_pos WHERE id = 5")
            .first();
        Row five = all.stream().filter(r -> r.getLong(0) == 5).findFirst().orElseThrow();
        assertEquals(IntegrateReference.integrate(five.getDouble(1) * 2, five.getDouble(2), five.getInt(3)), two.getDouble(0),
            1e-12 * IntegrateReference.scale(five.getDouble(1) * 2, five.getDouble(2), five.getInt(3)));
        assertEquals(IntegrateReference.integrate(five.getDouble(1), five.getDouble(2), five.getInt(3) + 1), two.getDouble(1),
            1e-12 * IntegrateReference.scale(five.getDouble(1), five.getDouble(2), five.getInt(3) + 1));
    }

    private Path[] model(String name) {
        LlamaConfig cfg = new LlamaConfig(32, 64, 1, 4, 2, 300, 64, true);
        Path m = tmp.resolve(name + ".bin");
        Path t = tmp.resolve(name + "-tok.bin");
        SyntheticCheckpoint.write(m, cfg, 13, CheckpointFormat.V1);
        TokenizerWriter.writeByteLevel(t, cfg.vocabSize());
        set("spark.sparknative.model." + name + ".path", m.toString());
        set("spark.sparknative.model." + name + ".tokenizer", t.toString());
        set("spark.sparknative.model." + name + ".slots", "4");
        set("spark.sparknative.model." + name + ".threads", "1");
        return new Path[] {m, t};
    }

    private Dataset<Row> prompts() {
        List<Row> rows = new ArrayList<>();
        for (int i = 0; i < 24; i++) {
            rows.add(RowFactory.create((long) i, i == 5 ? null : "tell me " + "xy".repeat(i % 4) + i, 3 + i % 5));
        }
        return spark.createDataFrame(rows, new StructType().add("id", DataTypes.LongType)
            .add("prompt", DataTypes.StringType).add("max_new_tokens", DataTypes.IntegerType)).repartition(3);
    }

    @Test
    void generateSqlEqualsTheDataFrameApiByteForByte() {
        Path[] files = model("sxm");
        set("spark.sparknative.generate.temperature", "0.8");
        set("spark.sparknative.generate.seed", "99");
        Dataset<Row> in = prompts();
        in.createOrReplaceTempView("sx_prompts");
        GenerationSpec spec = new GenerationSpec(files[0].toString(), files[1].toString(), Backend.CPU, 4, 64, 1,
            BadRowPolicy.ROW_ERROR);
        List<Row> api = GenerateTransform.apply(in, GenerateTransform.Options.of(spec, new GenerationParams(256, 0.8f, 0.9f, 99)))
            .output().select("id", "completion", "prompt_tokens", "completion_tokens", "finish_reason").collectAsList();
        Dataset<Row> sql = spark.sql("SELECT id, d.completion, d.prompt_tokens, d.completion_tokens, d.finish_reason FROM "
            + "(SELECT id, generate_details(prompt, max_new_tokens => max_new_tokens) AS d FROM sx_prompts)");
        assertSameRows(api, sql.collectAsList());
        // The same over the cache (Spark's cache serves strings as rows: row input) and a Parquet file (columnar
        // input: prompts and max_new_tokens read from the column vectors, the values written as a vector): the
        // same bytes.
        Dataset<Row> cachedPrompts = in.cache();
        cachedPrompts.count();
        cachedPrompts.createOrReplaceTempView("sx_prompts_cached");
        in.write().mode("overwrite").parquet(tmp.resolve("prompts.parquet").toString());
        spark.read().parquet(tmp.resolve("prompts.parquet").toString()).createOrReplaceTempView("sx_prompts_parquet");
        for (String view : List.of("sx_prompts_cached", "sx_prompts_parquet")) {
            Dataset<Row> q = spark.sql("SELECT id, d.completion, d.prompt_tokens, d.completion_tokens, d.finish_reason FROM "
                + "(SELECT id, generate_details(prompt, max_new_tokens => max_new_tokens) AS d FROM " + view + ")");
            Class<? extends NativeEvalExec> op = view.endsWith("parquet") ? ColumnarNativeEvalExec.class : NativeEvalExec.class;
            assertEquals(op, only(executed(q), NativeEvalExec.class).getClass());
            assertSameRows(api, q.collectAsList());
            Dataset<Row> completions = spark.sql("SELECT id, generate(prompt, max_new_tokens => max_new_tokens) FROM " + view);
            assertEquals(op, only(executed(completions), NativeEvalExec.class).getClass());
            for (Row r : completions.collectAsList()) {
                Row expected = api.stream().filter(e -> e.getLong(0) == r.getLong(0)).findFirst().orElseThrow();
                assertEquals(expected.getString(1), r.getString(1), view + " row " + r.getLong(0));
            }
        }
        cachedPrompts.unpersist();
        // generate() is the completion; a null prompt gives null, and sampled rows are not all alike.
        Map<Long, String> completions = new LinkedHashMap<>();
        for (Row r : spark.sql("SELECT id, generate(prompt, max_new_tokens => max_new_tokens) FROM sx_prompts").collectAsList()) {
            completions.put(r.getLong(0), r.getString(1));
        }
        for (Row r : api) {
            assertEquals(r.getString(1), completions.get(r.getLong(0)), "row " + r.getLong(0));
        }
        assertTrue(completions.get(5L) == null);
        assertTrue(completions.values().stream().distinct().count() > 10, completions.toString());
        // The operator's SQL metrics count what the rows say.
        String details = "SELECT d.prompt_tokens AS p, d.completion_tokens AS c, d.finish_reason AS f FROM "
            + "(SELECT generate_details(prompt, max_new_tokens => 4) AS d FROM sx_prompts)";
        long prompt = 0;
        long completion = 0;
        long errors = 0;
        for (Row r : spark.sql(details).collectAsList()) {
            prompt += r.getInt(0);
            completion += r.getInt(1);
            errors += r.getString(2).startsWith("error") ? 1 : 0;
        }
        SparkPlan plan = executed(spark.sql(details));
        NativeEvalExec op = only(plan, NativeEvalExec.class);
        assertEquals("BatchedGenerate", op.nodeName());
        assertTrue(completion > 0, "some tokens");
        assertEquals(completion, op.metrics().apply("numCompletionTokens").value());
        assertEquals(prompt, op.metrics().apply("numPromptTokens").value());
        assertEquals(errors, op.metrics().apply("numErrorRows").value());
        assertEquals(1L, errors, "the null prompt");
        assertEquals(24L, op.metrics().apply("numOutputRows").value());
    }

    @Test
    void namedArgumentsAreCheckedWhenTheQueryIsAnalyzed() {
        model("sxa");
        prompts().createOrReplaceTempView("sx_args");
        Map<String, String> bad = new LinkedHashMap<>();
        bad.put("generate(prompt, max_tokens => 5)", "generate(): unknown argument 'max_tokens'; it takes prompt, max_new_tokens");
        bad.put("generate(prompt, temperature => 'hot')", "argument 'temperature' must be numeric (FLOAT), got 'hot' of type STRING");
        bad.put("generate(prompt, top_p => 1.5)", "argument 'top_p' must be in (0, 1], got 1.5");
        bad.put("generate(prompt, max_new_tokens => -1)", "argument 'max_new_tokens' must be >= 0, got -1");
        bad.put("generate(prompt, top_k => -2)", "argument 'top_k' must be >= 0, got -2");
        bad.put("generate(prompt, repetition_penalty => 0)", "argument 'repetition_penalty' must be finite and > 0, got 0.0");
        bad.put("generate(prompt, stop => '')", "argument 'stop' strings must be 1 to 1024 bytes, got 0 bytes");
        bad.put("generate(prompt, stop => 7)", "argument 'stop' must be a string or an array of strings");
        bad.put("generate(prompt, model => 'nope')", "unknown model 'nope'");
        bad.put("generate(prompt, model => prompt)", "argument 'model' must be a string literal");
        bad.put("generate(prompt, seed => 1, seed => 2)", "argument 'seed' is given twice");
        bad.put("generate(temperature => 0.5, prompt)", "a positional argument cannot follow named ones");
        bad.put("generate(id)", "argument 'prompt' must be a string");
        bad.put("integrate_f(1.0D, 2.0D)", "integrate_f(): missing argument 'n'");
        bad.put("integrate_f(1.0D, 2.0D, 'x')", "argument 'n' must be an integer (INT or BIGINT)");
        bad.put("integrate_f(1.0D, double('inf'), 4)", "argument 'b' must be finite");
        for (Map.Entry<String, String> c : bad.entrySet()) {
            AnalysisException e = assertThrows(AnalysisException.class,
                () -> spark.sql("SELECT " + c.getKey() + " FROM sx_args").collectAsList(), c.getKey());
            assertTrue(e.getMessage().contains(c.getValue()), c.getKey() + " -> " + e.getMessage());
        }
        // Named arguments in any order, per-row columns, and the model named.
        Row r = spark.sql("SELECT integrate_f(n => 4, b => 1.0D, a => 0.0D), generate(prompt, seed => id, top_p => 0.5, "
            + "model => 'sxa', temperature => 1.0, max_new_tokens => 3) FROM sx_args WHERE id = 1").first();
        assertEquals(IntegrateReference.integrate(0.0, 1.0, 4), r.getDouble(0), 1e-15);
        assertFalse(r.isNullAt(1));
        model("sxb");
        AnalysisException two = assertThrows(AnalysisException.class,
            () -> spark.sql("SELECT generate(prompt) FROM sx_args").collectAsList());
        assertTrue(two.getMessage().contains("several models are configured (sxa, sxb)"), two.getMessage());
        set("spark.sparknative.model.default", "sxb");
        assertEquals(24, spark.sql("SELECT generate(prompt, max_new_tokens => 1) FROM sx_args").collectAsList().size());
    }

    /**
     * top_k and repetition_penalty as SQL arguments (a literal and a per-row column) give the DataFrame API's bytes with
     * the same columns, and change what the same seeds sample.
     */
    @Test
    void topKAndRepetitionPenaltyInSqlEqualTheDataFrameApi() {
        Path[] files = model("sxk");
        set("spark.sparknative.generate.temperature", "0.9");
        set("spark.sparknative.generate.seed", "5");
        Dataset<Row> in = prompts().withColumn("top_k", org.apache.spark.sql.functions.lit(3))
            .withColumn("repetition_penalty", org.apache.spark.sql.functions.expr("CAST(1.0 + (id % 3) * 0.4 AS FLOAT)"));
        in.createOrReplaceTempView("sx_filtered");
        GenerationSpec spec = new GenerationSpec(files[0].toString(), files[1].toString(), Backend.CPU, 4, 64, 1,
            BadRowPolicy.ROW_ERROR);
        List<Row> api = GenerateTransform.apply(in, GenerateTransform.Options.of(spec, new GenerationParams(256, 0.9f, 0.9f, 5)))
            .output().select("id", "completion", "prompt_tokens", "completion_tokens", "finish_reason").collectAsList();
        Dataset<Row> sql = spark.sql("SELECT id, d.completion, d.prompt_tokens, d.completion_tokens, d.finish_reason FROM "
            + "(SELECT id, generate_details(prompt, max_new_tokens => max_new_tokens, top_k => 3, "
            + "repetition_penalty => repetition_penalty) AS d FROM sx_filtered)");
        assertSameRows(api, sql.collectAsList());
        List<Row> plain = GenerateTransform.apply(prompts(), GenerateTransform.Options.of(spec,
            new GenerationParams(256, 0.9f, 0.9f, 5))).output().select("id", "completion").collectAsList();
        long differ = plain.stream().filter(p -> !p.isNullAt(1) && !p.getString(1).equals(api.stream()
            .filter(a -> a.getLong(0) == p.getLong(0)).findFirst().orElseThrow().getString(1))).count();
        assertTrue(differ >= 12, "top-3 changes most sampled rows of a random model: " + differ + " of 23");
    }

    /**
     * Stop strings in SQL (one literal, an array literal, a per-row column) end rows as the DataFrame API's {@code stop}
     * column does, byte for byte, with finish reason {@code stop}.
     */
    @Test
    void stopStringsInSqlEqualTheDataFrameApi() {
        Path[] files = model("sxs");
        set("spark.sparknative.generate.temperature", "0");
        GenerationSpec spec = new GenerationSpec(files[0].toString(), files[1].toString(), Backend.CPU, 4, 64, 1,
            BadRowPolicy.ROW_ERROR);
        GenerateTransform.Options greedy = GenerateTransform.Options.of(spec, new GenerationParams(256, 0f, 0.9f, 42));
        // Each row's stop string: a printable ASCII character of its own greedy completion after its first three
        // characters (found from a run without stops), so that it is met; ASCII, as the random byte-level model also
        // emits invalid UTF-8.
        List<Row> full = GenerateTransform.apply(prompts().withColumn("max_new_tokens", org.apache.spark.sql.functions.lit(24)),
            greedy).output().select("id", "completion").collectAsList();
        List<Row> stops = new ArrayList<>();
        int withStop = 0;
        for (Row r : full) {
            String c = r.isNullAt(1) ? null : r.getString(1);
            String stop = null;
            if (c != null) {
                for (int i = 3; i < c.length() && stop == null; i++) {
                    char ch = c.charAt(i);
                    if (ch > ' ' && ch < 0x7f && ch != '\'' && ch != '\\') {
                        stop = c.substring(i, i + 1);
                    }
                }
            }
            withStop += stop == null ? 0 : 1;
            stops.add(RowFactory.create(r.getLong(0), stop));
        }
        assertTrue(withStop >= 5, "rows with a stop string: " + withStop);
        Dataset<Row> in = prompts().withColumn("max_new_tokens", org.apache.spark.sql.functions.lit(24)).join(
            spark.createDataFrame(stops, new StructType().add("id", DataTypes.LongType).add("stop", DataTypes.StringType)), "id");
        in.createOrReplaceTempView("sx_stops");
        List<Row> api = GenerateTransform.apply(in, greedy).output()
            .select("id", "completion", "prompt_tokens", "completion_tokens", "finish_reason").collectAsList();
        long stopped = api.stream().filter(r -> r.getString(4).equals("stop")).count();
        assertTrue(stopped >= 5, "rows ended by their stop string: " + stopped);
        for (Row r : api) {
            Row s = stops.stream().filter(x -> x.getLong(0) == r.getLong(0)).findFirst().orElseThrow();
            if (!s.isNullAt(1) && r.getString(4).equals("stop")) {
                assertFalse(r.getString(1).contains(s.getString(1)), "the completion ends before its stop string");
            }
        }
        assertSameRows(api, spark.sql("SELECT id, d.completion, d.prompt_tokens, d.completion_tokens, d.finish_reason FROM "
            + "(SELECT id, generate_details(prompt, max_new_tokens => max_new_tokens, stop => stop) AS d FROM sx_stops)")
            .collectAsList());
        assertSameRows(api, spark.sql("SELECT id, d.completion, d.prompt_tokens, d.completion_tokens, d.finish_reason FROM "
            + "(SELECT id, generate_details(prompt, max_new_tokens => max_new_tokens, stop => array(stop, '\\u0001')) AS d "
            + "FROM sx_stops)").collectAsList());
        // One literal for every row: the first stop string, applied to all.
        String first = stops.stream().filter(x -> !x.isNullAt(1)).findFirst().orElseThrow().getString(1);
        List<Row> literal = spark.sql("SELECT id, generate_details(prompt, max_new_tokens => 24, stop => '" + first
            + "').finish_reason FROM sx_stops").collectAsList();
        assertTrue(literal.stream().anyMatch(r -> r.getString(1).equals("stop")), literal.toString());
    }

    @Test
    void compareSqlTimesBothPathsOnTheSameTokens() {
        Path[] files = model("sxc");
        GenerationSpec spec = new GenerationSpec(files[0].toString(), files[1].toString(), Backend.CPU, 4, 64, 1,
            BadRowPolicy.ROW_ERROR);
        List<SqlComparison.Run> runs = SqlComparison.generate(spark, prompts(),
            spec, GenerateTransform.Options.of(spec, new GenerationParams(5, 0.7f, 0.9f, 11)));
        assertEquals(6, runs.size());
        long tokens = runs.get(0).tokens();
        assertTrue(tokens > 0 && tokens <= 23 * 5, runs.toString());
        for (SqlComparison.Run r : runs) {
            // Both paths generate the same rows: the same completion tokens, counted by their operators' SQL metrics.
            assertEquals(tokens, r.tokens(), runs.toString());
            assertTrue(r.seconds() > 0, runs.toString());
        }
        assertEquals(List.of("sql", "dataframe", "sql", "dataframe", "sql", "dataframe"),
            runs.stream().map(SqlComparison.Run::path).toList());
        assertFalse(spark.conf().contains("spark.sparknative.model.compare.path"), "the comparison's settings are removed");
    }
}

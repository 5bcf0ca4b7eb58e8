package org.sparknative.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.apache.spark.SparkException;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.sparknative.kernels.integrate.IntegrateReference;
import org.sparknative.udf.ExecutorRuntime;
import org.sparknative.spark.RowIds;
import org.sparknative.spark.integrate.IntegrateFunctions;
import org.sparknative.spark.integrate.IntegrateTransform;
import org.sparknative.udf.BadRowPolicy;

class IntegrateSparkTest {
    private static SparkSession spark;

    @BeforeAll
    static void start() {
        spark = SparkTestSession.get();
        IntegrateFunctions.register(spark, BadRowPolicy.FAIL);
    }

    private static void assertClose(Row r, int ia, int ib, int in, int ix) {
        double a = r.getDouble(ia);
        double b = r.getDouble(ib);
        int n = r.getInt(in);
        double x = r.getDouble(ix);
        assertTrue(IntegrateReference.relativeError(x, a, b, n) < 1e-12, () -> "row " + r);
    }

    @Test
    void transformationOverFourPartitionsMatchesClosedFormAndLoadsLibraryOnce() {
        Dataset<Row> in = IntegrateData.generate(spark, 4_000, 3, 4);
        IntegrateTransform.Result res = IntegrateTransform.apply(in, new IntegrateTransform.Options(512, BadRowPolicy.FAIL));
        List<Row> out = res.output().collectAsList();
        assertEquals(4_000, out.size());
        StructType s = res.output().schema();
        assertEquals(List.of("id", "a", "b", "n", "x"), List.of(s.fieldNames()));
        for (Row r : out) {
            assertClose(r, 1, 2, 3, 4);
        }
        assertEquals(0L, res.invalidRows().total());
        // Four task slots ran four partitions concurrently; the library was loaded once in this JVM.
        assertEquals(1, ExecutorRuntime.nativeLoadCount());
        // Every task closed its allocator.
        assertEquals(0, ExecutorRuntime.rootAllocator().getAllocatedMemory());
    }

    @Test
    void outputIsIndependentOfBatchSizeAndPartitioning() {
        Dataset<Row> in = IntegrateData.generate(spark, 1_000, 9, 3);
        List<Row> one = IntegrateTransform.apply(in, new IntegrateTransform.Options(1, BadRowPolicy.FAIL))
            .output().orderBy("id").collectAsList();
        List<Row> big = IntegrateTransform.apply(in.repartition(5), IntegrateTransform.Options.defaults())
            .output().orderBy("id").collectAsList();
        assertEquals(one, big);
        // The generator itself depends only on (seed, id).
        assertEquals(IntegrateData.generate(spark, 1_000, 9, 7).orderBy("id").collectAsList(),
            in.orderBy("id").collectAsList());
    }

    private Dataset<Row> withBadRows() {
        StructType schema = new StructType().add("a", DataTypes.DoubleType).add("b", DataTypes.DoubleType)
            .add("n", DataTypes.IntegerType);
        List<Row> rows = new ArrayList<>();
        rows.add(RowFactory.create(0.0, 4.0, 4));
        rows.add(RowFactory.create(null, 4.0, 4));
        rows.add(RowFactory.create(0.0, 4.0, 0));
        rows.add(RowFactory.create(Double.NaN, 4.0, 4));
        rows.add(RowFactory.create(0.0, 4.0, null));
        rows.add(RowFactory.create(0.0, 3.0, 1_000_000));
        return spark.createDataFrame(rows, schema).coalesce(1);
    }

    @Test
    void nullsAndInvalidRowsUnderNullPolicy() {
        IntegrateTransform.Result res = IntegrateTransform.apply(withBadRows(),
            new IntegrateTransform.Options(4, BadRowPolicy.ROW_ERROR));
        List<Row> out = res.output().collectAsList();
        assertEquals(8.0, out.get(0).getDouble(3), 1e-15);
        for (int i = 1; i <= 4; i++) {
            assertNull(out.get(i).get(3), "row " + i);
        }
        assertEquals(IntegrateReference.closedForm(0.0, 3.0, 1_000_000), out.get(5).getDouble(3), 1e-12);
        assertEquals(2L, res.invalidRows().total());
    }

    @Test
    void invalidRowFailsTheJobNamingTheRowByItsInputPositionAndFreesArrowMemory() {
        // Numbered as read, then spread over 3 partitions: the third input row is still "input row 3".
        Dataset<Row> numbered = RowIds.numbered(withBadRows()).repartition(3);
        IntegrateTransform.Result res = IntegrateTransform.apply(numbered, IntegrateTransform.Options.defaults());
        SparkException e = assertThrows(SparkException.class, () -> res.output().collectAsList());
        String msg = String.valueOf(e.getMessage()) + " " + e.getCause();
        assertTrue(msg.contains("integrate_f: input row 3: n must be >= 1, got 0"), msg);
        // The job fails as soon as one task does; Spark kills its sibling tasks asynchronously, and their
        // completion listeners close their allocators as they end: wait (bounded) for that.
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (ExecutorRuntime.rootAllocator().getAllocatedMemory() != 0 && System.nanoTime() < deadline) {
            Thread.onSpinWait();
        }
        assertEquals(0, ExecutorRuntime.rootAllocator().getAllocatedMemory());
    }

    @Test
    void invalidRowIsNamedByItsStringIdWhateverThePartitioning() {
        StructType schema = new StructType().add("id", DataTypes.StringType).add("a", DataTypes.DoubleType)
            .add("b", DataTypes.DoubleType).add("n", DataTypes.IntegerType);
        List<Row> rows = new ArrayList<>();
        for (int i = 0; i < 50; i++) {
            rows.add(RowFactory.create("r" + i, 0.0, 1.0, i == 37 ? -2 : 10));
        }
        for (int parts : new int[] {1, 4}) {
            Dataset<Row> df = spark.createDataFrame(rows, schema).repartition(parts);
            SparkException e = assertThrows(SparkException.class,
                () -> IntegrateTransform.apply(df, IntegrateTransform.Options.defaults()).output().collectAsList());
            String msg = String.valueOf(e.getMessage()) + " " + e.getCause();
            assertTrue(msg.contains("integrate_f: id \"r37\": n must be >= 1, got -2"), msg);
        }
    }

    @Test
    void sqlFunctionMatchesClosedFormAndJavaVariant() {
        IntegrateData.generate(spark, 500, 5, 4).createOrReplaceTempView("integrate_input");
        List<Row> out = spark.sql("SELECT a, b, n, integrate_f(a, b, n) AS x, integrate_f_java(a, b, n) AS xj "
            + "FROM integrate_input").collectAsList();
        assertEquals(500, out.size());
        for (Row r : out) {
            assertClose(r, 0, 1, 2, 3);
            assertEquals(r.getDouble(4), r.getDouble(3), 1e-12 * IntegrateReference.scale(r.getDouble(0), r.getDouble(1), r.getInt(2)));
        }
        Row nullRow = spark.sql("SELECT integrate_f(CAST(NULL AS DOUBLE), 1.0D, 10)").first();
        assertTrue(nullRow.isNullAt(0));
        // A constant that can never be valid is an analysis error; a column's bad value fails the query naming it.
        org.apache.spark.sql.AnalysisException bad = assertThrows(org.apache.spark.sql.AnalysisException.class,
            () -> spark.sql("SELECT integrate_f(0.0D, 1.0D, 0)").collectAsList());
        assertTrue(bad.getMessage().contains("integrate_f(): argument 'n' must be in [1, 2147483647], got 0"), bad.getMessage());
        SparkException e = assertThrows(SparkException.class,
            () -> spark.sql("SELECT integrate_f(0.0D, 1.0D, CAST(id AS INT)) FROM range(1)").collectAsList());
        assertTrue(String.valueOf(e.getMessage()).contains("n must be >= 1, got 0"), e.getMessage());
    }

    @Test
    void inputColumnsAreCheckedAndCast() {
        StructType longs = new StructType().add("a", DataTypes.FloatType).add("b", DataTypes.IntegerType)
            .add("n", DataTypes.LongType);
        Dataset<Row> df = spark.createDataFrame(List.of(RowFactory.create(0.0f, 4, 4L)), longs);
        Row r = IntegrateTransform.apply(df, IntegrateTransform.Options.defaults()).output().first();
        assertEquals(8.0, r.getDouble(3), 1e-15);

        StructType noN = new StructType().add("a", DataTypes.DoubleType).add("b", DataTypes.DoubleType);
        IllegalArgumentException e1 = assertThrows(IllegalArgumentException.class, () -> IntegrateTransform.apply(
            spark.createDataFrame(List.of(RowFactory.create(0.0, 1.0)), noN), IntegrateTransform.Options.defaults()));
        assertTrue(e1.getMessage().contains("no column 'n'"), e1.getMessage());

        StructType strA = new StructType().add("a", DataTypes.StringType).add("b", DataTypes.DoubleType)
            .add("n", DataTypes.IntegerType);
        IllegalArgumentException e2 = assertThrows(IllegalArgumentException.class, () -> IntegrateTransform.apply(
            spark.createDataFrame(List.of(RowFactory.create("x", 1.0, 3)), strA), IntegrateTransform.Options.defaults()));
        assertTrue(e2.getMessage().contains("'a' must be numeric") && e2.getMessage().contains("string"), e2.getMessage());
    }
}

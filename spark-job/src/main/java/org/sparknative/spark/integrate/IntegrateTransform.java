package org.sparknative.spark.integrate;

import java.io.Serializable;
import java.util.Arrays;
import java.util.List;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.classic.ExpressionUtils;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.NumericType;
import org.apache.spark.sql.types.StructType;
import org.sparknative.spark.PartitionCounter;
import org.sparknative.spark.RowIds;
import org.sparknative.spark.TestFaults;
import org.sparknative.spark.sql.IntegrateCall;
import org.sparknative.spark.sql.SparkNativeSql;
import org.sparknative.udf.Backend;
import org.sparknative.udf.BackendSelection;
import org.sparknative.udf.BadRowPolicy;
import org.sparknative.udf.integrate.IntegrateUdf;

/**
 * The batched {@code integrate_f} DataFrame transformation ({@code native-arrow}): the input with a float64
 * column {@code x = integrate_f(a, b, n)} added. A thin wrapper over the SQL function: it builds the same
 * {@link IntegrateCall} that {@code SELECT *, integrate_f(a, b, n) AS x} does, so the query plan is the same
 * Arrow-batched operator ({@code BatchedIntegrateF}): each partition's rows are grouped into Arrow record
 * batches, the native kernel computes each batch in one call ({@link IntegrateUdf}). On a session started
 * without the SQL extension it adds the planner rule itself ({@link SparkNativeSql#install}).
 *
 * <p>Input columns: {@code a} and {@code b} numeric (cast to DOUBLE), {@code n} an integer type (TINYINT and
 * SMALLINT cast to INT; a BIGINT outside INT is an invalid row). Other columns pass through. A line Spark could not parse ({@value RowIds#CORRUPT_RECORD} set) is an invalid row: under
 * {@code fail} the job stops naming it, under {@code row-error} its {@code x} is null and it is counted
 * (its raw text stays in {@value RowIds#CORRUPT_RECORD}). Error messages name a row by its id ({@link RowIds}): the {@code id} column (integer or
 * string) where there is one, else the {@value RowIds#INPUT_ROW} position added by
 * {@link RowIds#numbered}. Arrow memory is a per-task child allocator, closed when the task ends, also when it fails.
 *
 * <p>Testing only: {@link TestFaults#FAIL_FIRST_ATTEMPT} makes the first attempt of chosen partitions fail.
 */
public final class IntegrateTransform {
    /** The default record batch size in rows. */
    public static final int DEFAULT_BATCH_SIZE = 8192;

    private IntegrateTransform() {
    }

    /**
     * @param batchSize rows per Arrow record batch, {@code >= 1}
     * @param policy    what invalid rows do: {@code fail} or {@code row-error}
     * @param backend   where the kernel runs: {@code cpu}, {@code cuda} or {@code auto} (resolved in each task,
     *                  {@link BackendSelection})
     */
    public record Options(int batchSize, BadRowPolicy policy, Backend backend) implements Serializable {
        public Options {
            if (batchSize < 1) {
                throw new IllegalArgumentException("batch size must be >= 1, got " + batchSize);
            }
            BadRowPolicy.INVALID_ROWS.check(policy);
            if (backend == Backend.JAVA) {
                throw new IllegalArgumentException("integrate's backend is cpu, cuda or auto; the pure-Java path is "
                    + "--variant java-row");
            }
        }

        /** On the CPU. */
        public Options(int batchSize, BadRowPolicy policy) {
            this(batchSize, policy, Backend.CPU);
        }

        /** Batch size {@link #DEFAULT_BATCH_SIZE}, invalid rows fail the job. */
        public static Options defaults() {
            return new Options(DEFAULT_BATCH_SIZE, BadRowPolicy.FAIL);
        }
    }

    /**
     * The output and its counters, filled as the output is computed; a partition computed twice (a lost cached
     * block recomputed, a retried stage, a speculative copy) counts once ({@link PartitionCounter}).
     *
     * @param output      the input with {@code x} added (lazy, like any Dataset)
     * @param rows        rows computed, invalid and null ones included
     * @param invalidRows rows nulled under {@link BadRowPolicy#ROW_ERROR}
     */
    public record Result(Dataset<Row> output, PartitionCounter rows, PartitionCounter invalidRows) {
    }

    /**
     * Checks that {@code df} has usable columns {@code a, b, n} and casts them to DOUBLE, DOUBLE, INT or BIGINT
     * (and an integer {@code id} to BIGINT).
     *
     * @throws IllegalArgumentException naming a missing or mistyped column, or an existing {@code x}
     */
    public static Dataset<Row> prepareInput(Dataset<Row> df) {
        StructType schema = df.schema();
        List<String> names = Arrays.asList(schema.fieldNames());
        for (String c : List.of("a", "b", "n")) {
            if (!names.contains(c)) {
                throw new IllegalArgumentException("integrate_f input has no column '" + c + "'; it has " + names
                    + " (expected a DOUBLE, b DOUBLE, n INT)");
            }
        }
        if (names.contains("x")) {
            throw new IllegalArgumentException("integrate_f input already has a column 'x', the output column; "
                + "rename or drop it");
        }
        for (String c : List.of("a", "b")) {
            DataType t = schema.apply(c).dataType();
            if (!(t instanceof NumericType)) {
                throw new IllegalArgumentException("integrate_f input column '" + c + "' must be numeric (DOUBLE), got "
                    + t.simpleString());
            }
        }
        DataType nt = schema.apply("n").dataType();
        if (!(nt == DataTypes.IntegerType || nt == DataTypes.LongType || nt == DataTypes.ShortType
            || nt == DataTypes.ByteType)) {
            throw new IllegalArgumentException("integrate_f input column 'n' must be an integer (INT), got "
                + nt.simpleString());
        }
        List<Column> cols = new java.util.ArrayList<>();
        for (String c : names) {
            Column col = df.col("`" + c + "`");
            cols.add(switch (c) {
                case "a", "b" -> col.cast(DataTypes.DoubleType).as(c);
                // A BIGINT n stays BIGINT: a value outside INT is named as an invalid row by the task.
                case "n" -> nt == DataTypes.LongType ? col : col.cast(DataTypes.IntegerType).as(c);
                case RowIds.ID -> RowIds.prepareId(col, schema.apply(c).dataType(), "integrate_f");
                default -> col;
            });
        }
        return df.select(cols.toArray(new Column[0]));
    }

    /**
     * Adds {@code x = integrate_f(a, b, n)} to {@code df}, one native call per record batch.
     *
     * @throws IllegalArgumentException if the input columns are unusable (see {@link #prepareInput})
     */
    public static Result apply(Dataset<Row> df, Options options) {
        Dataset<Row> in = prepareInput(df);
        SparkNativeSql.install(in.sparkSession());
        var sc = in.sparkSession().sparkContext();
        PartitionCounter rows = PartitionCounter.register(sc, "integrate_f rows");
        PartitionCounter invalid = PartitionCounter.register(sc, "integrate_f invalid rows");
        IntegrateCall call = IntegrateCall.of(ExpressionUtils.expression(in.col("a")),
            ExpressionUtils.expression(in.col("b")), ExpressionUtils.expression(in.col("n")), SparkNativeSql.rowIdColumns(in),
            new IntegrateCall.Settings(options, rows, invalid));
        return new Result(in.select(in.col("*"), ExpressionUtils.column(call).as("x")), rows, invalid);
    }
}

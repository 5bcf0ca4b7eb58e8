package org.sparknative.spark;

import java.util.Arrays;
import java.util.Iterator;
import org.apache.spark.api.java.function.FlatMapFunction;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.catalyst.expressions.GenericInternalRow;
import org.apache.spark.sql.catalyst.expressions.JoinedRow;
import org.apache.spark.sql.catalyst.expressions.UnsafeProjection;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.IntegralType;
import org.apache.spark.sql.types.StructType;
import org.sparknative.udf.RowLabels;
import scala.Tuple2;

/**
 * A row's id, defined once for both workloads (see {@link RowLabels}): the input's {@code id} column
 * (integer or string) where there is one, else its position in the input, which {@link #numbered} stores
 * in the column {@value #INPUT_ROW} before any repartitioning. Error messages, and later resumable runs,
 * name rows by it, so it is the same under any partitioning or batch size.
 */
public final class RowIds {
    /** The id column users give. */
    public static final String ID = "id";
    /** The hidden column with a row's 1-based position in the input, added by {@link #numbered}. */
    public static final String INPUT_ROW = "_input_row";
    /** Spark's column of a JSON or CSV line it could not parse (PERMISSIVE mode); the other columns are null. */
    public static final String CORRUPT_RECORD = "_corrupt_record";

    private RowIds() {
    }

    /**
     * Numbers the rows of {@code df} in input order (1, 2, ...) into {@value #INPUT_ROW}, unless it has
     * an {@code id} column and no malformed lines ({@value #CORRUPT_RECORD}, whose id is lost). The position is the row's place in the input as read: the files in the order
     * Spark lists them, rows in file order. Runs one extra Spark job (to count the rows of each input
     * partition); call it on the input as read, before any repartitioning.
     *
     * @return {@code df} itself if it has {@code id}, else {@code df} plus {@value #INPUT_ROW} (BIGINT)
     */
    public static Dataset<Row> numbered(Dataset<Row> df) {
        StructType schema = df.schema();
        java.util.List<String> names = Arrays.asList(schema.fieldNames());
        if ((names.contains(ID) && !names.contains(CORRUPT_RECORD)) || names.contains(INPUT_ROW)) {
            return df;
        }
        StructType out = schema.add(INPUT_ROW, DataTypes.LongType, false);
        var rdd = ((org.apache.spark.sql.classic.Dataset<Row>) df).queryExecution().toRdd().toJavaRDD()
            .map(InternalRow::copy).zipWithIndex();
        FlatMapFunction<Iterator<Tuple2<InternalRow, Long>>, InternalRow> fn = it -> {
            UnsafeProjection project = UnsafeProjection.create(out);
            JoinedRow joined = new JoinedRow();
            GenericInternalRow pos = new GenericInternalRow(1);
            return new Iterator<>() {
                @Override
                public boolean hasNext() {
                    return it.hasNext();
                }

                @Override
                public InternalRow next() {
                    Tuple2<InternalRow, Long> t = it.next();
                    pos.setLong(0, t._2() + 1);
                    return project.apply(joined.apply(t._1(), pos));
                }
            };
        };
        var rows = rdd.mapPartitions(fn).rdd();
        return ((org.apache.spark.sql.classic.SparkSession) df.sparkSession()).internalCreateDataFrame(rows, out, false);
    }

    /**
     * Where a partition function finds its rows' ids.
     *
     * @param index    the {@code id} column's index in the rows, or -1 when the input has none
     * @param numeric  the {@code id} column is an integer (else a string)
     * @param position the {@value #INPUT_ROW} column's index, or -1
     * @param corrupt  the {@value #CORRUPT_RECORD} column's index, or -1
     */
    public record Column(int index, boolean numeric, int position, int corrupt) implements java.io.Serializable {
        /**
         * @param row       the row (already copied)
         * @param partition the task's partition, for the fallback label
         * @param ordinal   the row's 0-based place in its partition, for the fallback label
         * @return the row's label for messages
         */
        public String label(InternalRow row, int partition, long ordinal) {
            if (index >= 0 && !row.isNullAt(index)) {
                return numeric ? RowLabels.id(row.getLong(index)) : RowLabels.id(row.getUTF8String(index).toString());
            }
            if (position >= 0 && !row.isNullAt(position)) {
                return RowLabels.inputRow(row.getLong(position));
            }
            return "partition " + partition + " row " + (ordinal + 1);
        }

        /**
         * @return null if the row was parsed, else {@code malformed input: <the start of the line>}
         */
        public String malformed(InternalRow row) {
            if (corrupt < 0 || row.isNullAt(corrupt)) {
                return null;
            }
            String text = row.getUTF8String(corrupt).toString().strip();
            return "malformed input: " + (text.length() <= 60 ? text : text.substring(0, 60) + "...");
        }
    }

    /**
     * @return where rows of {@code schema} carry their id: {@code id} (cast to BIGINT first where it is an
     *         integer), else {@value #INPUT_ROW}, else none (labels then fall back to the partition and the
     *         row's place in it, which depend on partitioning: call {@link #numbered} on the input first);
     *         and where Spark marks malformed lines
     * @throws IllegalArgumentException if {@code id} is neither an integer nor a string
     */
    public static Column find(StructType schema) {
        java.util.List<String> names = Arrays.asList(schema.fieldNames());
        int id = -1;
        boolean numeric = true;
        if (names.contains(ID)) {
            DataType t = schema.apply(ID).dataType();
            if (t != DataTypes.LongType && t != DataTypes.StringType) {
                throw new IllegalArgumentException("column 'id' must be BIGINT or STRING here, got " + t.simpleString()
                    + " (cast integer ids with RowIds.prepareId)");
            }
            id = schema.fieldIndex(ID);
            numeric = t == DataTypes.LongType;
        }
        int position = names.contains(INPUT_ROW) ? schema.fieldIndex(INPUT_ROW) : -1;
        int corrupt = names.contains(CORRUPT_RECORD) && schema.apply(CORRUPT_RECORD).dataType() == DataTypes.StringType
            ? schema.fieldIndex(CORRUPT_RECORD) : -1;
        return new Column(id, numeric, position, corrupt);
    }

    /**
     * @return {@code col} cast to BIGINT if {@code id} is an integer type, itself if a string
     * @throws IllegalArgumentException naming the column's type otherwise
     */
    public static org.apache.spark.sql.Column prepareId(org.apache.spark.sql.Column col, DataType t, String workload) {
        if (t instanceof IntegralType) {
            return col.cast(DataTypes.LongType).as(ID);
        }
        if (t == DataTypes.StringType) {
            return col;
        }
        throw new IllegalArgumentException(workload + " input column 'id' must be an integer or a string, got "
            + t.simpleString());
    }
}

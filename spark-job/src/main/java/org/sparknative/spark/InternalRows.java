package org.sparknative.spark;

import java.util.Iterator;
import org.apache.spark.api.java.function.Function2;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.types.StructType;

/**
 * Runs a per-partition function over a query's internal rows ({@code RDD[InternalRow]}) and returns the
 * result as a DataFrame, skipping Spark's external {@link Row} encoders in both directions. Uses Spark
 * 4's classic (non-Connect) Dataset API.
 */
public final class InternalRows {
    private InternalRows() {
    }

    /**
     * @param in        the input query
     * @param outSchema the schema of the rows {@code fn} emits
     * @param fn        runs once per partition with the RDD's partition index (the key of {@link PartitionCounter}s,
     *                  unlike {@code TaskContext.partitionId()} under a downstream {@code coalesce}) and its rows;
     *                  it must copy input rows it keeps (upstream iterators reuse them)
     */
    public static Dataset<Row> mapPartitionsWithIndex(Dataset<Row> in, StructType outSchema,
                                                      Function2<Integer, Iterator<InternalRow>, Iterator<InternalRow>> fn) {
        var rows = ((org.apache.spark.sql.classic.Dataset<Row>) in).queryExecution().toRdd();
        var out = rows.toJavaRDD().mapPartitionsWithIndex(fn, false).rdd();
        return ((org.apache.spark.sql.classic.SparkSession) in.sparkSession()).internalCreateDataFrame(out, outSchema, false);
    }
}

package org.sparknative.spark;

import java.util.Iterator;
import org.apache.spark.api.java.function.FlatMapFunction;
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
     * @param fn        runs once per partition; it must copy input rows it keeps (upstream iterators reuse them)
     */
    public static Dataset<Row> mapPartitions(Dataset<Row> in, StructType outSchema,
                                             FlatMapFunction<Iterator<InternalRow>, InternalRow> fn) {
        var rows = ((org.apache.spark.sql.classic.Dataset<Row>) in).queryExecution().toRdd();
        var out = rows.toJavaRDD().mapPartitions(fn).rdd();
        return ((org.apache.spark.sql.classic.SparkSession) in.sparkSession()).internalCreateDataFrame(out, outSchema, false);
    }
}

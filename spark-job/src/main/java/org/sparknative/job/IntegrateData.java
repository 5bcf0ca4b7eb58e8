package org.sparknative.job;

import org.apache.spark.api.java.function.MapFunction;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.sparknative.udf.bench.IntegrateBenchmark;

/**
 * The generated integration workload, mirroring the pandas benchmark's
 * {@code DataFrame({'a': -abs(randn(N)), 'b': abs(randn(N)), 'N': randint(100, 20000, N)})}: rows
 * {@code (id BIGINT, a DOUBLE, b DOUBLE, n INT)} with {@code a = -|N(0,1)|}, {@code b = |N(0,1)|},
 * {@code n} uniform in {@code [100, 20000)}.
 *
 * <p>Row {@code id}'s values depend only on {@code (seed, id)}, never on the partitioning, so the same
 * seed gives the same table on any cluster and task retries regenerate identical rows.
 */
final class IntegrateData {
    static final StructType SCHEMA = new StructType()
        .add("id", DataTypes.LongType, false)
        .add("a", DataTypes.DoubleType, false)
        .add("b", DataTypes.DoubleType, false)
        .add("n", DataTypes.IntegerType, false);

    private IntegrateData() {
    }

    static Dataset<Row> generate(SparkSession spark, long rows, long seed, int partitions) {
        if (rows < 0) {
            throw new IllegalArgumentException("--rows must be >= 0, got " + rows);
        }
        final long s = seed;
        return spark.range(0, rows, 1, partitions)
            .map((MapFunction<Long, Row>) id -> row(s, id), Encoders.row(SCHEMA));
    }

    static Row row(long seed, long id) {
        double[] ab = new double[2];
        int n = IntegrateBenchmark.row(seed, id, ab);
        return RowFactory.create(id, ab[0], ab[1], n);
    }
}

package org.sparknative.spark.sql;

import org.apache.spark.rdd.RDD;
import org.apache.spark.sql.catalyst.expressions.Attribute;
import org.apache.spark.sql.catalyst.expressions.AttributeReference;
import org.apache.spark.sql.catalyst.expressions.Expression;
import org.apache.spark.sql.execution.SparkPlan;
import org.apache.spark.sql.vectorized.ColumnarBatch;
import scala.collection.immutable.Seq;

/**
 * {@link NativeEvalExec} over a child that produces columnar batches: it reads the batches' column vectors
 * in bulk (one copy per column and batch into the Arrow record batch, no per-row walk) and outputs columnar
 * batches (the input's vectors plus the call's value), so Spark puts no {@code ColumnarToRow} below it; where
 * rows are needed above, Spark's generated {@code ColumnarToRow} makes them.
 */
public final class ColumnarNativeEvalExec extends NativeEvalExec {
    private static final long serialVersionUID = 1L;

    public ColumnarNativeEvalExec(Expression call, AttributeReference result, Seq<Attribute> context, SparkPlan child) {
        super(call, result, context, child);
    }

    @Override
    public boolean columnarInput() {
        return true;
    }

    @Override
    public boolean supportsColumnar() {
        return true;
    }

    @Override
    public RDD<ColumnarBatch> doExecuteColumnar() {
        BatchEvaluator ev = evaluator();
        return child.executeColumnar().toJavaRDD().mapPartitionsWithIndex(ev::columnar, false).rdd();
    }

    @Override
    public SparkPlan withNewChildInternal(SparkPlan newChild) {
        return new ColumnarNativeEvalExec(call, result, context, newChild);
    }
}

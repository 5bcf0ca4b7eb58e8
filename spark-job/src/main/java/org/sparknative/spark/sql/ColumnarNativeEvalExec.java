package org.sparknative.spark.sql;

import org.apache.spark.sql.catalyst.expressions.Attribute;
import org.apache.spark.sql.catalyst.expressions.AttributeReference;
import org.apache.spark.sql.catalyst.expressions.Expression;
import org.apache.spark.sql.execution.ColumnarToRowTransition;
import org.apache.spark.sql.execution.SparkPlan;
import scala.collection.immutable.Seq;

/**
 * {@link NativeEvalExec} over a child that produces columnar batches: it reads the batches' column vectors
 * in bulk (one copy per column and batch into the Arrow record batch, no per-row walk), so Spark puts no
 * {@code ColumnarToRow} below it. Being a columnar-to-row transition is what tells Spark's planner to hand
 * it the child's batches; its own output is rows.
 */
public final class ColumnarNativeEvalExec extends NativeEvalExec implements ColumnarToRowTransition {
    private static final long serialVersionUID = 1L;

    public ColumnarNativeEvalExec(Expression call, AttributeReference result, Seq<Attribute> context, SparkPlan child) {
        super(call, result, context, child);
    }

    @Override
    public boolean columnarInput() {
        return true;
    }

    @Override
    public SparkPlan withNewChildInternal(SparkPlan newChild) {
        return new ColumnarNativeEvalExec(call, result, context, newChild);
    }
}

package org.sparknative.spark.sql;

import org.apache.spark.sql.catalyst.plans.logical.LogicalPlan;
import org.apache.spark.sql.execution.SparkPlan;
import org.apache.spark.sql.execution.SparkStrategy;
import scala.collection.immutable.Seq;

/** Plans a {@link NativeEval} as a {@link NativeEvalExec}. */
public final class NativeEvalStrategy extends SparkStrategy {
    @Override
    public Seq<SparkPlan> apply(LogicalPlan plan) {
        if (plan instanceof NativeEval e) {
            return Catalyst.seq(new NativeEvalExec(e.call(), e.result(), e.context(), planLater(e.child())));
        }
        return Catalyst.seq();
    }
}

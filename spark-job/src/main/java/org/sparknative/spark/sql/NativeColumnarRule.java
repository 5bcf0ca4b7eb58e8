package org.sparknative.spark.sql;

import org.apache.spark.sql.catalyst.rules.Rule;
import org.apache.spark.sql.execution.ColumnarRule;
import org.apache.spark.sql.execution.SparkPlan;

/**
 * Before Spark inserts its row/columnar transitions, replaces each {@link NativeEvalExec} whose child
 * produces columnar batches (Parquet's vectorized reader, the in-memory cache) with a
 * {@link ColumnarNativeEvalExec}, which reads the batches in bulk; Spark then puts no {@code ColumnarToRow}
 * between them.
 */
public final class NativeColumnarRule extends ColumnarRule {
    @Override
    public Rule<SparkPlan> preColumnarTransitions() {
        return new Rule<>() {
            @Override
            public SparkPlan apply(SparkPlan plan) {
                return plan.transformUp(Catalyst.everywhere(p -> p instanceof NativeEvalExec e && !e.columnarInput()
                    && e.child().supportsColumnar() ? e.columnar() : p));
            }
        };
    }
}

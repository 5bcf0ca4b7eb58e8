package org.sparknative.spark.sql;

import org.apache.spark.sql.catalyst.expressions.Expression;

/**
 * A call of one of the project's SQL functions that {@link NativeEvalRule} takes out of its operator and
 * evaluates in Arrow record batches ({@link NativeEvalExec}). Its arguments are its children, in order;
 * evaluated one row at a time ({@link Expression#eval}) where the rule cannot take it out (a join condition).
 */
interface NativeCall {
    /** @return the call's arguments, in order (its children without {@link #context()}) */
    java.util.List<Expression> arguments();

    /**
     * @return row-id columns the caller asked to keep for messages and seeds ({@code id}, {@code _input_row},
     *         {@code _corrupt_record}), after the arguments among the children, so that column pruning keeps them
     */
    java.util.List<Expression> context();

    /** @return the call with these arguments (same settings) and no context */
    Expression withArguments(java.util.List<Expression> arguments);

    /** @return what {@code EXPLAIN} calls the batched operator that evaluates this call */
    String operatorName();

    /** @return the settings the operator shows in {@code EXPLAIN}, such as the batch size and backend */
    String describeSettings();
}

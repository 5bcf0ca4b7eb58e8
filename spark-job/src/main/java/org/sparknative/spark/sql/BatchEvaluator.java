package org.sparknative.spark.sql;

import java.io.Serializable;
import java.util.Iterator;
import java.util.List;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.catalyst.expressions.Attribute;
import org.apache.spark.sql.catalyst.expressions.Expression;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.vectorized.ColumnVector;
import org.apache.spark.sql.vectorized.ColumnarBatch;
import org.sparknative.spark.RowIds;

/**
 * What a {@link NativeEvalExec} runs in each task: its child's rows or columnar batches in, the same rows
 * with the call's value appended out. Serializable: built on the driver, run on the executors.
 */
interface BatchEvaluator extends Serializable {
    /**
     * Where a task finds one argument of the call.
     *
     * @param ordinal  the child's column, or -1 for a constant
     * @param constant the constant (Catalyst's internal value, may be null) where {@code ordinal} is -1
     * @param type     the argument's type
     */
    record Arg(int ordinal, Object constant, DataType type) implements Serializable {
        private static final long serialVersionUID = 1L;

        /** Binds {@code e}, an attribute of {@code input} or a foldable expression ({@link NativeEvalRule} ensures it). */
        static Arg bind(Expression e, List<Attribute> input) {
            if (e instanceof Attribute a) {
                for (int i = 0; i < input.size(); i++) {
                    if (input.get(i).exprId().equals(a.exprId())) {
                        return new Arg(i, null, e.dataType());
                    }
                }
                throw new IllegalStateException("argument " + a + " is not a column of the operator's input " + input);
            }
            if (!e.foldable()) {
                throw new IllegalStateException("argument " + e.sql() + " is neither a column nor a constant");
            }
            return new Arg(-1, e.eval(null), e.dataType());
        }

        /** @return whether the argument is null in {@code row} */
        boolean isNull(InternalRow row) {
            return ordinal < 0 ? constant == null : row.isNullAt(ordinal);
        }
    }

    /**
     * The operator's input.
     *
     * @param args    the call's arguments, in order
     * @param types   the child's column types
     * @param names   the child's column names
     * @param context the ordinals of the row-id columns ({@code id}, {@code _input_row}, {@code _corrupt_record})
     */
    record Input(List<Arg> args, List<DataType> types, List<String> names, int[] context) implements Serializable {
        private static final long serialVersionUID = 1L;

        /** @return where rows carry their ids, for messages and (generate) seeds */
        RowIds.Column rowIds() {
            int id = -1;
            boolean numeric = true;
            int position = -1;
            int corrupt = -1;
            for (int o : context) {
                if (o < 0) {
                    continue;
                }
                switch (names.get(o)) {
                    case RowIds.ID -> {
                        id = o;
                        numeric = types.get(o) == DataTypes.LongType;
                    }
                    case RowIds.INPUT_ROW -> position = o;
                    case RowIds.CORRUPT_RECORD -> corrupt = o;
                    default -> {
                    }
                }
            }
            return new RowIds.Column(id, numeric, position, corrupt);
        }
    }

    /**
     * Columnar output: each input batch with its values appended as one more vector ({@code values} computes
     * them); {@code finish} runs once the input is exhausted (the consumer is done with the last batch by then).
     */
    static Iterator<ColumnarBatch> appendEach(Iterator<ColumnarBatch> input,
                                              java.util.function.Function<ColumnarBatch, ColumnVector> values,
                                              Runnable finish) {
        return new Iterator<>() {
            @Override
            public boolean hasNext() {
                if (!input.hasNext()) {
                    finish.run();
                    return false;
                }
                return true;
            }

            @Override
            public ColumnarBatch next() {
                if (!hasNext()) {
                    throw new java.util.NoSuchElementException();
                }
                ColumnarBatch b = input.next();
                return append(b, values.apply(b));
            }
        };
    }

    /** @return {@code input}'s vectors with {@code value} appended */
    static ColumnarBatch append(ColumnarBatch input, ColumnVector value) {
        ColumnVector[] cols = new ColumnVector[input.numCols() + 1];
        for (int i = 0; i < input.numCols(); i++) {
            cols[i] = input.column(i);
        }
        cols[cols.length - 1] = value;
        return new ColumnarBatch(cols, input.numRows());
    }

    /** Evaluates the call over a partition's rows; {@code partition} is the RDD partition index. */
    Iterator<InternalRow> rows(Integer partition, Iterator<InternalRow> input);

    /**
     * Evaluates the call over a partition's columnar batches, reading their column vectors in bulk: each output
     * batch is the input batch's vectors plus the call's value as one more vector, valid until the next call
     * to {@code next()} (as Spark's own columnar operators do).
     */
    Iterator<ColumnarBatch> columnar(Integer partition, Iterator<ColumnarBatch> input);
}

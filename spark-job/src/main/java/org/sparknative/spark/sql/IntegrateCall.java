package org.sparknative.spark.sql;

import java.io.Serializable;
import java.util.List;
import java.util.Objects;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.catalyst.expressions.Expression;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.sparknative.kernels.integrate.IntegrateKernels;
import org.sparknative.spark.PartitionCounter;
import org.sparknative.spark.integrate.IntegrateTransform;
import org.sparknative.udf.BadRowPolicy;
import org.sparknative.udf.ExecutorMetrics;
import org.sparknative.udf.InvalidRowException;
import org.sparknative.udf.integrate.IntegrateValidation;
import scala.collection.immutable.Seq;

/**
 * {@code integrate_f(a, b, n)}: the left Riemann sum {@code dx * sum_{i<n} f(a + i*dx)},
 * {@code dx = (b-a)/n}, {@code f(x) = x(x-1)} (the pandas {@code integrate_f} benchmark), as a Catalyst
 * expression. {@code a} and {@code b} are DOUBLE, {@code n} is INT or BIGINT (a BIGINT outside INT is an
 * invalid row). DOUBLE result; a null argument gives null; an invalid row fails the query naming it under
 * {@code fail}, or gives null under {@code row-error}.
 *
 * <p>Planned as {@link NativeEvalExec} (record batches, one native call per batch); evaluated one row at a
 * time only where the planner cannot take it out of its operator.
 */
public final class IntegrateCall extends NativeCall<IntegrateCall.Settings> {
    private static final long serialVersionUID = 1L;

    /**
     * @param options     batch size, invalid-row policy, backend
     * @param rows        counts computed rows per partition (the DataFrame API's counters), or null
     * @param invalidRows counts rows nulled as invalid, or null
     */
    public record Settings(IntegrateTransform.Options options, PartitionCounter rows, PartitionCounter invalidRows)
        implements Serializable {
        private static final long serialVersionUID = 1L;

        public Settings {
            Objects.requireNonNull(options, "options");
        }
    }

    private final Expression a;
    private final Expression b;
    private final Expression n;

    /** Catalyst's constructor (its tree copies call it by reflection): {@code a, b, n}, then context columns. */
    public IntegrateCall(Seq<Expression> children, Settings settings) {
        super(children, 3, settings);
        this.a = arguments().get(0);
        this.b = arguments().get(1);
        this.n = arguments().get(2);
    }

    /**
     * @param context row-id columns to keep for messages (see {@link NativeCall#context()}), may be empty
     */
    public static IntegrateCall of(Expression a, Expression b, Expression n, List<Expression> context, Settings settings) {
        return new IntegrateCall(children(List.of(a, b, n), context), settings);
    }

    @Override
    protected IntegrateCall copy(Seq<Expression> newChildren) {
        return new IntegrateCall(newChildren, settings());
    }

    @Override
    public String operatorName() {
        return "BatchedIntegrateF";
    }

    @Override
    public String describeSettings() {
        IntegrateTransform.Options o = settings().options();
        return "batch " + o.batchSize() + " rows, backend " + o.backend().label() + ", invalid rows " + o.policy().label();
    }

    @Override
    public boolean nullable() {
        return true;
    }

    @Override
    public DataType dataType() {
        return DataTypes.DoubleType;
    }

    @Override
    public String prettyName() {
        return IntegrateSql.NAME;
    }

    /** {@code integrate_f(a, b, n)}: the arguments, without the context columns. */
    @Override
    public String sql() {
        return prettyName() + "(" + a.sql() + ", " + b.sql() + ", " + n.sql() + ")";
    }

    @Override
    public String toString() {
        return prettyName() + "(" + a + ", " + b + ", " + n + ")";
    }

    @Override
    public Object eval(InternalRow row) {
        Object av = a.eval(row);
        Object bv = b.eval(row);
        Object nv = n.eval(row);
        if (av == null || bv == null || nv == null) {
            return null;
        }
        double ad = (Double) av;
        double bd = (Double) bv;
        long nl = ((Number) nv).longValue();
        String problem = nl > Integer.MAX_VALUE || nl < Integer.MIN_VALUE
            ? "n must fit in INT (at most " + Integer.MAX_VALUE + "), got " + nl
            : IntegrateValidation.problem(ad, bd, (int) nl);
        if (problem != null) {
            if (settings().options().policy() == BadRowPolicy.FAIL) {
                String call = IntegrateSql.NAME + "(a=" + ad + ", b=" + bd + ", n=" + nl + ")";
                throw new InvalidRowException(call, call + ": " + problem);
            }
            return null;
        }
        long t0 = System.nanoTime();
        double x = IntegrateKernels.integrateRow(ad, bd, (int) nl);
        ExecutorMetrics.nativeCallSince(t0);
        ExecutorMetrics.integrateRows(1);
        return x;
    }
}

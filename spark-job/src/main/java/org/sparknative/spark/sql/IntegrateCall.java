package org.sparknative.spark.sql;

import java.io.Serializable;
import java.util.List;
import java.util.Objects;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.catalyst.expressions.Expression;
import org.apache.spark.sql.catalyst.expressions.codegen.CodegenContext;
import org.apache.spark.sql.catalyst.expressions.codegen.CodegenFallback;
import org.apache.spark.sql.catalyst.expressions.codegen.ExprCode;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.sparknative.kernels.integrate.IntegrateKernels;
import org.sparknative.spark.PartitionCounter;
import org.sparknative.spark.integrate.IntegrateTransform;
import org.sparknative.udf.BadRowPolicy;
import org.sparknative.udf.ExecutorMetrics;
import org.sparknative.udf.InvalidRowException;
import org.sparknative.udf.integrate.IntegrateValidation;
import scala.collection.immutable.IndexedSeq;
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
public final class IntegrateCall extends Expression implements CodegenFallback, NativeCall, java.io.Serializable {
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

    private final List<Expression> children; // a, b, n, then the context columns
    private final Expression a;
    private final Expression b;
    private final Expression n;
    private final Settings settings;

    /** Catalyst's constructor (its tree copies call it by reflection): {@code a, b, n}, then context columns. */
    public IntegrateCall(Seq<Expression> children, Settings settings) {
        this.children = List.copyOf(Catalyst.list(children));
        if (this.children.size() < 3) {
            throw new IllegalArgumentException("integrate_f takes a, b, n, got " + this.children);
        }
        this.a = this.children.get(0);
        this.b = this.children.get(1);
        this.n = this.children.get(2);
        this.settings = settings;
    }

    /**
     * @param context row-id columns to keep for messages (see {@link NativeCall#context()}), may be empty
     */
    public static IntegrateCall of(Expression a, Expression b, Expression n, List<Expression> context, Settings settings) {
        List<Expression> all = new java.util.ArrayList<>(List.of(a, b, n));
        all.addAll(context);
        return new IntegrateCall(Catalyst.seq(all), settings);
    }

    @Override
    public List<Expression> arguments() {
        return children.subList(0, 3);
    }

    @Override
    public List<Expression> context() {
        return children.subList(3, children.size());
    }

    public Settings settings() {
        return settings;
    }

    @Override
    public Expression withArguments(List<Expression> args) {
        return of(args.get(0), args.get(1), args.get(2), List.of(), settings);
    }

    @Override
    public String operatorName() {
        return "BatchedIntegrateF";
    }

    @Override
    public String describeSettings() {
        IntegrateTransform.Options o = settings.options();
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
            if (settings.options().policy() == BadRowPolicy.FAIL) {
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

    @Override
    public ExprCode doGenCode(CodegenContext ctx, ExprCode ev) {
        return CodegenFallback.super.doGenCode(ctx, ev);
    }

    @Override
    public Seq<Expression> children() {
        return Catalyst.seq(children);
    }

    @Override
    public Expression withNewChildrenInternal(IndexedSeq<Expression> c) {
        return new IntegrateCall(c, settings);
    }

    @Override
    public scala.collection.Iterator<Object> flatArguments() {
        return Catalyst.<Object>seq(a, b, n).iterator();
    }

    @Override
    public int productArity() {
        return 2;
    }

    @Override
    public Object productElement(int i) {
        return switch (i) {
            case 0 -> Catalyst.seq(children);
            case 1 -> settings;
            default -> throw new IndexOutOfBoundsException(i);
        };
    }

    @Override
    public boolean canEqual(Object other) {
        return other instanceof IntegrateCall;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof IntegrateCall c && children.equals(c.children) && settings.equals(c.settings);
    }

    @Override
    public int hashCode() {
        return Objects.hash(children, settings);
    }
}

package org.sparknative.spark.sql;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import org.apache.spark.sql.catalyst.expressions.Expression;
import org.apache.spark.sql.catalyst.expressions.codegen.CodegenContext;
import org.apache.spark.sql.catalyst.expressions.codegen.CodegenFallback;
import org.apache.spark.sql.catalyst.expressions.codegen.ExprCode;
import scala.collection.immutable.IndexedSeq;
import scala.collection.immutable.Seq;

/**
 * A call of one of the project's SQL functions, as a Catalyst expression, that {@link NativeEvalRule} takes out
 * of its operator and evaluates in Arrow record batches ({@link NativeEvalExec}); evaluated one row at a time
 * ({@link Expression#eval}) only where the rule cannot take it out (a join condition).
 *
 * <p>Its children are its {@link #arguments()}, in order, then its {@link #context()}: row-id columns
 * ({@code id}, {@code _input_row}, {@code _corrupt_record}) the DataFrame API asks to keep for messages and seeds,
 * children so that column pruning keeps them. Its settings are fixed when the call is built (from the session's
 * settings for SQL, from the options for the DataFrame API) and travel with the plan to the executors.
 *
 * @param <S> the settings' type
 */
public abstract class NativeCall<S extends Serializable> extends Expression implements CodegenFallback, Serializable {
    private static final long serialVersionUID = 1L;

    private final List<Expression> children;
    private final List<Expression> arguments;
    private final List<Expression> context;
    private final S settings;

    /**
     * @param children the arguments, then the context columns
     * @param arity    how many of {@code children} are arguments
     */
    protected NativeCall(Seq<Expression> children, int arity, S settings) {
        this.children = List.copyOf(Catalyst.list(children));
        if (this.children.size() < arity) {
            throw new IllegalArgumentException(getClass().getSimpleName() + " takes " + arity + " arguments, got "
                + this.children.size());
        }
        // Copies, not views: the call is serialized with the plan.
        this.arguments = List.copyOf(this.children.subList(0, arity));
        this.context = List.copyOf(this.children.subList(arity, this.children.size()));
        this.settings = Objects.requireNonNull(settings, "settings");
    }

    /** @return {@code arguments} then {@code context}, as the children a subclass's constructor takes */
    protected static Seq<Expression> children(List<Expression> arguments, List<Expression> context) {
        List<Expression> all = new ArrayList<>(arguments);
        all.addAll(context);
        return Catalyst.seq(all);
    }

    /** @return the call's arguments, in order */
    public final List<Expression> arguments() {
        return arguments;
    }

    /** @return the row-id columns kept for messages and seeds (possibly none) */
    public final List<Expression> context() {
        return context;
    }

    public final S settings() {
        return settings;
    }

    /** @return the call with these arguments, the same settings and no context */
    public final NativeCall<S> withArguments(List<Expression> args) {
        return copy(children(args, List.of()));
    }

    /** @return the same call with these children (Catalyst's copy) */
    protected abstract NativeCall<S> copy(Seq<Expression> newChildren);

    /** @return what {@code EXPLAIN} calls the batched operator that evaluates this call */
    public abstract String operatorName();

    /** @return the settings the operator shows in {@code EXPLAIN}, such as the batch size and backend */
    public abstract String describeSettings();

    @Override
    public final Seq<Expression> children() {
        return Catalyst.seq(children);
    }

    @Override
    public final Expression withNewChildrenInternal(IndexedSeq<Expression> c) {
        return copy(c);
    }

    @Override
    public ExprCode doGenCode(CodegenContext ctx, ExprCode ev) {
        return CodegenFallback.super.doGenCode(ctx, ev);
    }

    @Override
    public scala.collection.Iterator<Object> flatArguments() {
        return Catalyst.<Object>seq(new ArrayList<Object>(arguments)).iterator();
    }

    @Override
    public final int productArity() {
        return 2;
    }

    @Override
    public final Object productElement(int i) {
        return switch (i) {
            case 0 -> Catalyst.seq(children);
            case 1 -> settings;
            default -> throw new IndexOutOfBoundsException(i);
        };
    }

    @Override
    public final boolean canEqual(Object other) {
        return other != null && other.getClass() == getClass();
    }

    @Override
    public final boolean equals(Object o) {
        return canEqual(o) && children.equals(((NativeCall<?>) o).children) && settings.equals(((NativeCall<?>) o).settings);
    }

    @Override
    public final int hashCode() {
        return Objects.hash(getClass(), children, settings);
    }
}

package org.sparknative.spark.sql;

import java.util.Objects;
import org.apache.spark.sql.catalyst.expressions.Attribute;
import org.apache.spark.sql.catalyst.expressions.AttributeReference;
import org.apache.spark.sql.catalyst.expressions.AttributeSet;
import org.apache.spark.sql.catalyst.expressions.AttributeSet$;
import org.apache.spark.sql.catalyst.expressions.Expression;
import org.apache.spark.sql.catalyst.plans.logical.LogicalPlan;
import org.apache.spark.sql.catalyst.plans.logical.UnaryNode;
import scala.collection.immutable.IndexedSeq;
import scala.collection.immutable.Seq;

/**
 * The logical operator {@link NativeEvalRule} puts below an operator that calls one of the project's
 * functions: it evaluates {@code call} (a {@link NativeCall} whose arguments are attributes of
 * {@code child} or literals) for every row of {@code child}, and outputs the child's columns plus
 * {@code result}. {@code context} holds the child's row-id columns ({@code id}, {@code _input_row},
 * {@code _corrupt_record}) so that errors name rows by them; they are kept through column pruning.
 * Planned as {@link NativeEvalExec} by {@link NativeEvalStrategy}.
 */
public final class NativeEval extends LogicalPlan implements UnaryNode, java.io.Serializable {
    private static final long serialVersionUID = 1L;

    private final Expression call;
    private final AttributeReference result;
    private final Seq<Attribute> context;
    private final LogicalPlan child;

    public NativeEval(Expression call, AttributeReference result, Seq<Attribute> context, LogicalPlan child) {
        if (!(call instanceof NativeCall<?>)) {
            throw new IllegalArgumentException("not a native call: " + call);
        }
        this.call = call;
        this.result = result;
        this.context = context;
        this.child = child;
    }

    public Expression call() {
        return call;
    }

    public AttributeReference result() {
        return result;
    }

    public Seq<Attribute> context() {
        return context;
    }

    @Override
    public LogicalPlan child() {
        return child;
    }

    @Override
    public Seq<Attribute> output() {
        return Catalyst.append(child.output(), result);
    }

    @Override
    public AttributeSet producedAttributes() {
        return AttributeSet$.MODULE$.apply(result);
    }

    @Override
    public Seq<LogicalPlan> children() {
        return UnaryNode.super.children();
    }

    @Override
    public LogicalPlan withNewChildInternal(LogicalPlan newChild) {
        return new NativeEval(call, result, context, newChild);
    }

    @Override
    public LogicalPlan withNewChildrenInternal(IndexedSeq<LogicalPlan> newChildren) {
        return withNewChildInternal(newChildren.apply(0));
    }

    @Override
    public String nodeName() {
        return ((NativeCall<?>) call).operatorName();
    }

    @Override
    public int productArity() {
        return 4;
    }

    @Override
    public Object productElement(int i) {
        return switch (i) {
            case 0 -> call;
            case 1 -> result;
            case 2 -> context;
            case 3 -> child;
            default -> throw new IndexOutOfBoundsException(i);
        };
    }

    @Override
    public boolean canEqual(Object other) {
        return other instanceof NativeEval;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof NativeEval e && call.equals(e.call) && result.equals(e.result) && context.equals(e.context)
            && child.equals(e.child);
    }

    @Override
    public int hashCode() {
        return Objects.hash(call, result, context, child);
    }
}

package org.sparknative.spark.sql;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.apache.spark.sql.catalyst.expressions.Alias;
import org.apache.spark.sql.catalyst.expressions.Attribute;
import org.apache.spark.sql.catalyst.expressions.AttributeReference;
import org.apache.spark.sql.catalyst.expressions.Expression;
import org.apache.spark.sql.catalyst.expressions.HigherOrderFunction;
import org.apache.spark.sql.catalyst.expressions.NamedExpression;
import org.apache.spark.sql.catalyst.expressions.NamedExpression$;
import org.apache.spark.sql.catalyst.expressions.aggregate.AggregateExpression;
import org.apache.spark.sql.catalyst.plans.logical.Aggregate;
import org.apache.spark.sql.catalyst.plans.logical.Filter;
import org.apache.spark.sql.catalyst.plans.logical.LogicalPlan;
import org.apache.spark.sql.catalyst.plans.logical.Project;
import org.apache.spark.sql.catalyst.plans.logical.Sort;
import org.apache.spark.sql.catalyst.rules.Rule;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.Metadata;
import org.sparknative.spark.RowIds;

/**
 * The optimizer rule that takes the project's function calls ({@link NativeCall}) out of the operators
 * that use them and evaluates them in a {@link NativeEval} below, as Spark's {@code ExtractPythonUDFs} does
 * for pandas UDFs: in a projection ({@code SELECT}), a filter ({@code WHERE}), a sort ({@code ORDER BY}) and
 * inside an aggregate function ({@code SUM(integrate_f(...))}; a {@code GROUP BY integrate_f(...)} key is
 * already a projection below the aggregate by then). The operator then reads the call's value as a column.
 * One call per application; the optimizer's fixed point repeats it, so several calls become a chain of
 * operators and a call over another call's value sits above it.
 *
 * <p>Arguments that are neither columns nor constants are computed in a projection below. The row-id columns
 * the operator keeps for messages and seeds are the call's own {@link NativeCall#context()} where the DataFrame
 * API gave them (they survive column pruning as the call's children), else the child's columns by name. Calls elsewhere (a
 * join condition, inside a higher-order function's lambda) stay where they are and are evaluated one row at
 * a time.
 */
public final class NativeEvalRule extends Rule<LogicalPlan> {
    private static final Set<String> CONTEXT = Set.of(RowIds.ID, RowIds.INPUT_ROW, RowIds.CORRUPT_RECORD);

    @Override
    public LogicalPlan apply(LogicalPlan plan) {
        return plan.transformUp(Catalyst.everywhere(this::extract));
    }

    private LogicalPlan extract(LogicalPlan node) {
        if (!(node instanceof Project || node instanceof Filter || node instanceof Sort || node instanceof Aggregate)) {
            return node;
        }
        LogicalPlan child = node.children().head();
        Expression call = null;
        for (Expression e : Catalyst.list(node.expressions())) {
            call = find(e, child, !(node instanceof Aggregate));
            if (call != null) {
                break;
            }
        }
        if (call == null) {
            return node;
        }
        List<Expression> args = new ArrayList<>();
        List<NamedExpression> computed = new ArrayList<>();
        int k = 0;
        for (Expression arg : ((NativeCall<?>) call).arguments()) {
            if (arg instanceof Attribute || arg.foldable()) {
                args.add(arg);
            } else {
                Alias alias = new Alias(arg, "_arg" + k++, NamedExpression$.MODULE$.newExprId(), Catalyst.seq(),
                    scala.Option.empty(), Catalyst.seq());
                computed.add(alias);
                args.add(alias.toAttribute());
            }
        }
        LogicalPlan input = child;
        if (!computed.isEmpty()) {
            List<NamedExpression> list = new ArrayList<>(Catalyst.list(child.output()));
            list.addAll(computed);
            input = new Project(Catalyst.seq(list), child);
        }
        List<Attribute> context = new ArrayList<>();
        for (Expression e : ((NativeCall<?>) call).context()) {
            if (e instanceof Attribute a) {
                context.add(a);
            }
        }
        for (Attribute a : context.isEmpty() ? Catalyst.list(child.output()) : List.<Attribute>of()) {
            if (CONTEXT.contains(a.name()) && (!a.name().equals(RowIds.ID)
                || a.dataType() == DataTypes.LongType || a.dataType() == DataTypes.StringType)) {
                context.add(a);
            }
        }
        AttributeReference result = new AttributeReference(call.prettyName(), call.dataType(), call.nullable(),
            Metadata.empty(), NamedExpression$.MODULE$.newExprId(), Catalyst.seq());
        NativeEval eval = new NativeEval(((NativeCall<?>) call).withArguments(args), result, Catalyst.seq(context), input);
        Expression target = call;
        LogicalPlan replaced = node.withNewChildren(Catalyst.seq(eval)).transformExpressions(Catalyst.everywhere(
            e -> e.semanticEquals(target) ? result : e));
        if (node instanceof Filter || node instanceof Sort) {
            // Keep the operator's output as it was: the call's column is only for this operator.
            return new Project(Catalyst.seq(new ArrayList<NamedExpression>(Catalyst.list(node.output()))), replaced);
        }
        return replaced;
    }

    /**
     * @param anywhere whether a call may be taken from anywhere in {@code e} (else only from inside an aggregate
     *                 function)
     * @return the first call in {@code e} that has no call in its arguments and reads only {@code child}'s columns
     */
    private static Expression find(Expression e, LogicalPlan child, boolean anywhere) {
        if (e instanceof HigherOrderFunction) {
            return null;
        }
        if (anywhere && e instanceof NativeCall<?> c && !containsCall(Catalyst.seq(c.arguments()))
            && e.references().subsetOf(child.outputSet())) {
            return e;
        }
        boolean inside = anywhere || e instanceof AggregateExpression;
        for (Expression c : Catalyst.list(e.children())) {
            Expression found = find(c, child, inside);
            if (found != null) {
                return found;
            }
        }
        return null;
    }

    private static boolean containsCall(scala.collection.Seq<Expression> es) {
        for (Expression e : Catalyst.list(es)) {
            if (e instanceof NativeCall<?> || containsCall(e.children())) {
                return true;
            }
        }
        return false;
    }
}

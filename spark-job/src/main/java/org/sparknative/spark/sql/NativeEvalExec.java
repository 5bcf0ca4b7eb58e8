package org.sparknative.spark.sql;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import org.apache.spark.SparkContext;
import org.apache.spark.rdd.RDD;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.catalyst.expressions.Attribute;
import org.apache.spark.sql.catalyst.expressions.AttributeReference;
import org.apache.spark.sql.catalyst.expressions.AttributeSet;
import org.apache.spark.sql.catalyst.expressions.AttributeSet$;
import org.apache.spark.sql.catalyst.expressions.Expression;
import org.apache.spark.sql.catalyst.expressions.SortOrder;
import org.apache.spark.sql.catalyst.plans.physical.Partitioning;
import org.apache.spark.sql.execution.SparkPlan;
import org.apache.spark.sql.execution.UnaryExecNode;
import org.apache.spark.sql.execution.metric.SQLMetric;
import org.apache.spark.sql.execution.metric.SQLMetrics;
import org.apache.spark.sql.types.DataType;
import scala.collection.immutable.IndexedSeq;
import scala.collection.immutable.Seq;

/**
 * The physical operator that evaluates one of the project's functions over Arrow record batches: each
 * task groups its rows into record batches and hands them to the native kernel ({@code integrate_f}) or
 * feeds them to the executor's continuous batcher ({@code generate}), as Spark's {@code ArrowEvalPythonExec}
 * does for pandas UDFs. It outputs the child's rows with the call's value appended. {@code EXPLAIN} names it
 * {@code BatchedIntegrateF} or {@code BatchedGenerate}.
 *
 * <p>This class reads rows ({@code InternalRow}s, copied into Arrow) and outputs rows;
 * {@link ColumnarNativeEvalExec}, which {@link NativeColumnarRule} puts in its place over a child that produces
 * columnar batches (Parquet's vectorized reader, the in-memory cache), reads the batches' column vectors in bulk
 * and outputs columnar batches.
 *
 * <p>SQL metrics (Spark UI): output rows, record batches, time in native code; invalid rows
 * ({@code integrate_f}); prompt tokens, completion tokens and error rows ({@code generate}).
 */
public class NativeEvalExec extends SparkPlan implements UnaryExecNode {
    private static final long serialVersionUID = 1L;

    protected final Expression call;
    protected final AttributeReference result;
    protected final Seq<Attribute> context;
    protected final SparkPlan child;
    private scala.collection.immutable.Map<String, SQLMetric> metrics;

    public NativeEvalExec(Expression call, AttributeReference result, Seq<Attribute> context, SparkPlan child) {
        this.call = Objects.requireNonNull(call, "call");
        this.result = result;
        this.context = context;
        this.child = child;
    }

    /** @return whether this operator reads its child's columnar batches */
    public boolean columnarInput() {
        return false;
    }

    /** @return the same operator reading columnar batches */
    ColumnarNativeEvalExec columnar() {
        return new ColumnarNativeEvalExec(call, result, context, child);
    }

    @Override
    public SparkPlan child() {
        return child;
    }

    @Override
    public Seq<SparkPlan> children() {
        return UnaryExecNode.super.children();
    }

    @Override
    public SparkPlan withNewChildInternal(SparkPlan newChild) {
        return new NativeEvalExec(call, result, context, newChild);
    }

    @Override
    public SparkPlan withNewChildrenInternal(IndexedSeq<SparkPlan> newChildren) {
        return withNewChildInternal(newChildren.apply(0));
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
    public Partitioning outputPartitioning() {
        return child.outputPartitioning();
    }

    @Override
    public Seq<SortOrder> outputOrdering() {
        return child.outputOrdering();
    }

    @Override
    public String nodeName() {
        return ((NativeCall<?>) call).operatorName();
    }

    @Override
    public String argString(int maxFields) {
        return call.sql() + " AS " + result.sql() + " [" + ((NativeCall<?>) call).describeSettings()
            + (columnarInput() ? ", columnar input" : ", row input") + "]";
    }

    @Override
    public synchronized scala.collection.immutable.Map<String, SQLMetric> metrics() {
        if (metrics == null) {
            SparkContext sc = sparkContext();
            java.util.Map<String, SQLMetric> m = new java.util.LinkedHashMap<>();
            m.put(BatchMetrics.ROWS, SQLMetrics.createMetric(sc, "number of output rows"));
            m.put(BatchMetrics.BATCHES, SQLMetrics.createMetric(sc, "number of record batches"));
            m.put(BatchMetrics.NATIVE_TIME, SQLMetrics.createNanoTimingMetric(sc, "time in native code", -1L));
            if (call instanceof GenerateCall) {
                m.put(BatchMetrics.PROMPT_TOKENS, SQLMetrics.createMetric(sc, "number of prompt tokens"));
                m.put(BatchMetrics.COMPLETION_TOKENS, SQLMetrics.createMetric(sc, "number of completion tokens"));
                m.put(BatchMetrics.ERROR_ROWS, SQLMetrics.createMetric(sc, "number of error rows"));
            } else {
                m.put(BatchMetrics.INVALID_ROWS, SQLMetrics.createMetric(sc, "number of invalid rows"));
            }
            metrics = Catalyst.map(m);
        }
        return metrics;
    }

    /** The task-side evaluator: arguments bound to the child's columns, the metrics, the call's settings. */
    protected BatchEvaluator evaluator() {
        List<Attribute> in = Catalyst.list(child.output());
        List<BatchEvaluator.Arg> args = new ArrayList<>();
        for (Expression e : ((NativeCall<?>) call).arguments()) {
            args.add(BatchEvaluator.Arg.bind(e, in));
        }
        List<DataType> types = new ArrayList<>();
        for (Attribute a : in) {
            types.add(a.dataType());
        }
        List<String> names = new ArrayList<>();
        for (Attribute a : in) {
            names.add(a.name());
        }
        BatchMetrics m = new BatchMetrics(metrics());
        BatchEvaluator.Input input = new BatchEvaluator.Input(args, types, names, contextOrdinals(in));
        if (call instanceof IntegrateCall c) {
            return new IntegrateBatches(input, c.settings(), m);
        }
        return new GenerateBatches(input, ((GenerateCall) call).settings(), m);
    }

    private int[] contextOrdinals(List<Attribute> in) {
        List<Attribute> ctx = Catalyst.list(context);
        int[] out = new int[ctx.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = -1;
            for (int j = 0; j < in.size(); j++) {
                if (in.get(j).exprId().equals(ctx.get(i).exprId())) {
                    out[i] = j;
                }
            }
        }
        return out;
    }

    @Override
    public RDD<InternalRow> doExecute() {
        BatchEvaluator ev = evaluator();
        return child.execute().toJavaRDD().mapPartitionsWithIndex(ev::rows, false).rdd();
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
        return other != null && other.getClass() == getClass();
    }

    @Override
    public boolean equals(Object o) {
        return o != null && o.getClass() == getClass() && call.equals(((NativeEvalExec) o).call)
            && result.equals(((NativeEvalExec) o).result) && context.equals(((NativeEvalExec) o).context)
            && child.equals(((NativeEvalExec) o).child);
    }

    @Override
    public int hashCode() {
        return Objects.hash(getClass(), call, result, context, child);
    }
}

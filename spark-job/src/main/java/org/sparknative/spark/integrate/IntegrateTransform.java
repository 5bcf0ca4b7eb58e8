package org.sparknative.spark.integrate;

import java.io.Serializable;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.vector.Float8Vector;
import org.apache.arrow.vector.IntVector;
import org.apache.spark.api.java.function.Function2;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.catalyst.expressions.GenericInternalRow;
import org.apache.spark.sql.catalyst.expressions.JoinedRow;
import org.apache.spark.sql.catalyst.expressions.UnsafeProjection;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.NumericType;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.sparknative.spark.InternalRows;
import org.sparknative.spark.PartitionCounter;
import org.sparknative.spark.RowIds;
import org.sparknative.spark.SparkTasks;
import org.sparknative.spark.TestFaults;
import org.sparknative.udf.BadRowPolicy;
import org.sparknative.udf.ExecutorRuntime;
import org.sparknative.udf.RowLabels;
import org.sparknative.kernels.cuda.CudaIntegrate;
import org.sparknative.udf.Backend;
import org.sparknative.udf.BackendSelection;
import org.sparknative.udf.ExecutorMetrics;
import org.sparknative.udf.TaskResources;
import org.sparknative.udf.integrate.IntegrateUdf;

/**
 * The batched {@code integrate_f} DataFrame transformation ({@code native-arrow}): each partition's
 * rows are grouped into Arrow record batches of {@code batchSize} rows, the native kernel computes each
 * batch in one call ({@link IntegrateUdf}), and the output is the input with a float64 column {@code x}
 * added.
 *
 * <p>Input columns: {@code a} and {@code b} numeric (cast to DOUBLE), {@code n} an integer type (cast to
 * INT; a value outside the INT range fails the cast under Spark's ANSI mode). Other columns pass
 * through. A line Spark could not parse ({@value RowIds#CORRUPT_RECORD} set) is an invalid row: under
 * {@code fail} the job stops naming it, under {@code row-error} its {@code x} is null and it is counted
 * (its raw text stays in {@value RowIds#CORRUPT_RECORD}). Error messages name a row by its id ({@link RowIds}): the {@code id} column (integer or
 * string) where there is one, else the {@value RowIds#INPUT_ROW} position added by
 * {@link RowIds#numbered}. Arrow memory is a per-task child allocator, closed when the task ends, also when it fails.
 *
 * <p>Testing only: {@link TestFaults#FAIL_FIRST_ATTEMPT} makes the first attempt of chosen partitions fail.
 */
public final class IntegrateTransform {
    /** Hidden column: a BIGINT {@code n} as given, kept so that a value outside INT is named, not lost. */
    public static final String N_INPUT = "_n_input";

    /** The default record batch size in rows. */
    public static final int DEFAULT_BATCH_SIZE = 8192;

    private IntegrateTransform() {
    }

    /**
     * @param batchSize rows per Arrow record batch, {@code >= 1}
     * @param policy    what invalid rows do: {@code fail} or {@code row-error}
     * @param backend   where the kernel runs: {@code cpu}, {@code cuda} or {@code auto} (resolved in each task,
     *                  {@link BackendSelection})
     */
    public record Options(int batchSize, BadRowPolicy policy, Backend backend) implements Serializable {
        public Options {
            if (batchSize < 1) {
                throw new IllegalArgumentException("batch size must be >= 1, got " + batchSize);
            }
            BadRowPolicy.INVALID_ROWS.check(policy);
            if (backend == Backend.JAVA) {
                throw new IllegalArgumentException("integrate's backend is cpu, cuda or auto; the pure-Java path is "
                    + "--variant java-row");
            }
        }

        /** On the CPU. */
        public Options(int batchSize, BadRowPolicy policy) {
            this(batchSize, policy, Backend.CPU);
        }

        /** Batch size {@link #DEFAULT_BATCH_SIZE}, invalid rows fail the job. */
        public static Options defaults() {
            return new Options(DEFAULT_BATCH_SIZE, BadRowPolicy.FAIL);
        }
    }

    /**
     * The output and its counters, filled as the output is computed; a partition computed twice (a lost cached
     * block recomputed, a retried stage, a speculative copy) counts once ({@link PartitionCounter}).
     *
     * @param output      the input with {@code x} added (lazy, like any Dataset)
     * @param rows        rows computed, invalid and null ones included
     * @param invalidRows rows nulled under {@link BadRowPolicy#ROW_ERROR}
     */
    public record Result(Dataset<Row> output, PartitionCounter rows, PartitionCounter invalidRows) {
    }

    /**
     * Checks that {@code df} has usable columns {@code a, b, n} and casts them to DOUBLE, DOUBLE, INT (and an
     * integer {@code id} to BIGINT).
     *
     * @throws IllegalArgumentException naming a missing or mistyped column, or an existing {@code x}
     */
    public static Dataset<Row> prepareInput(Dataset<Row> df) {
        StructType schema = df.schema();
        List<String> names = Arrays.asList(schema.fieldNames());
        for (String c : List.of("a", "b", "n")) {
            if (!names.contains(c)) {
                throw new IllegalArgumentException("integrate_f input has no column '" + c + "'; it has " + names
                    + " (expected a DOUBLE, b DOUBLE, n INT)");
            }
        }
        if (names.contains("x")) {
            throw new IllegalArgumentException("integrate_f input already has a column 'x', the output column; "
                + "rename or drop it");
        }
        for (String c : List.of("a", "b")) {
            DataType t = schema.apply(c).dataType();
            if (!(t instanceof NumericType)) {
                throw new IllegalArgumentException("integrate_f input column '" + c + "' must be numeric (DOUBLE), got "
                    + t.simpleString());
            }
        }
        DataType nt = schema.apply("n").dataType();
        if (!(nt == DataTypes.IntegerType || nt == DataTypes.LongType || nt == DataTypes.ShortType
            || nt == DataTypes.ByteType)) {
            throw new IllegalArgumentException("integrate_f input column 'n' must be an integer (INT), got "
                + nt.simpleString());
        }
        boolean wideN = nt == DataTypes.LongType;
        List<Column> cols = new java.util.ArrayList<>();
        for (String c : names) {
            Column col = df.col("`" + c + "`");
            cols.add(switch (c) {
                case "a", "b" -> col.cast(DataTypes.DoubleType).as(c);
                // A BIGINT n outside INT becomes null here and is named as an invalid row (from N_INPUT) by the task.
                case "n" -> wideN ? org.apache.spark.sql.functions.when(
                    col.between(Integer.MIN_VALUE, Integer.MAX_VALUE), col.cast(DataTypes.IntegerType)).as(c)
                    : col.cast(DataTypes.IntegerType).as(c);
                case RowIds.ID -> RowIds.prepareId(col, schema.apply(c).dataType(), "integrate_f");
                default -> col;
            });
        }
        if (wideN) {
            cols.add(df.col("n").as(N_INPUT));
        }
        return df.select(cols.toArray(new Column[0]));
    }

    /**
     * Adds {@code x = integrate_f(a, b, n)} to {@code df}, one native call per record batch.
     *
     * <p>The partitions are processed as Spark's internal rows (the query's {@code RDD[InternalRow]}),
     * not as external {@link Row}s: the per-row cost of Spark's Row encoders would otherwise rival the
     * kernel's own time.
     *
     * @throws IllegalArgumentException if the input columns are unusable (see {@link #prepareInput})
     */
    public static Result apply(Dataset<Row> df, Options options) {
        Dataset<Row> in = prepareInput(df);
        StructType inSchema = in.schema();
        StructType outSchema = inSchema.add(new StructField("x", DataTypes.DoubleType, true,
            org.apache.spark.sql.types.Metadata.empty()));
        var sc = in.sparkSession().sparkContext();
        PartitionCounter rows = PartitionCounter.register(sc, "integrate_f rows");
        PartitionCounter invalid = PartitionCounter.register(sc, "integrate_f invalid rows");
        PartitionFunction fn = new PartitionFunction(inSchema.fieldIndex("a"), inSchema.fieldIndex("b"),
            inSchema.fieldIndex("n"), RowIds.find(inSchema), outSchema, options, rows, invalid);
        int nInput = List.of(inSchema.fieldNames()).contains(N_INPUT) ? inSchema.fieldIndex(N_INPUT) : -1;
        fn.nInput = nInput;
        Dataset<Row> out = InternalRows.mapPartitionsWithIndex(in, outSchema, fn);
        return new Result(nInput < 0 ? out : out.drop(N_INPUT), rows, invalid);
    }

    /** Runs in each task, given the RDD partition index and its rows: Arrow record batches, the kernel, rows with {@code x} out. */
    static final class PartitionFunction implements Function2<Integer, Iterator<InternalRow>, Iterator<InternalRow>> {
        private static final long serialVersionUID = 1L;
        private static final Logger LOG = LoggerFactory.getLogger(IntegrateTransform.class);

        private final int ia;
        private final int ib;
        private final int in;
        private final RowIds.Column ids;
        private final StructType outSchema;
        private final Options options;
        private final PartitionCounter rowCount;
        private final PartitionCounter invalid;
        /** Index of {@link #N_INPUT}, or -1. */
        int nInput = -1;

        PartitionFunction(int ia, int ib, int in, RowIds.Column ids, StructType outSchema, Options options,
                          PartitionCounter rowCount, PartitionCounter invalid) {
            this.ia = ia;
            this.ib = ib;
            this.in = in;
            this.ids = ids;
            this.outSchema = outSchema;
            this.options = options;
            this.rowCount = rowCount;
            this.invalid = invalid;
        }

        @Override
        public Iterator<InternalRow> call(Integer partition, Iterator<InternalRow> input) {
            TaskResources resources = SparkTasks.resourcesForCurrentTask();
            BufferAllocator allocator = resources.add(ExecutorRuntime.newTaskAllocator(
                "integrate_f " + SparkTasks.taskLabel()));
            BackendSelection.Resolved backend = BackendSelection.resolve(options.backend(), SparkTasks.gpuOrdinal());
            CudaIntegrate gpu = backend.device() == null ? null : resources.add(new CudaIntegrate(backend.device()));
            ExecutorMetrics.backendUsed(backend.describe());
            Float8Vector a = resources.add(new Float8Vector("a", allocator));
            Float8Vector b = resources.add(new Float8Vector("b", allocator));
            IntVector n = resources.add(new IntVector("n", allocator));
            int cap = options.batchSize();
            a.allocateNew(cap);
            b.allocateNew(cap);
            n.allocateNew(cap);
            return TestFaults.failFirstAttempt(partition, new BatchIterator(partition, input, resources, allocator, a, b, n, gpu));
        }

        private final class BatchIterator implements Iterator<InternalRow> {
            private final int partition;
            private final Iterator<InternalRow> input;
            private final TaskResources resources;
            private final BufferAllocator allocator;
            private final Float8Vector a;
            private final Float8Vector b;
            private final IntVector n;
            private final CudaIntegrate gpu;
            private final InternalRow[] pending;
            private final double[] xs;
            private final boolean[] xNull;
            private final UnsafeProjection project = UnsafeProjection.create(outSchema);
            private final GenericInternalRow xRow = new GenericInternalRow(1);
            private final JoinedRow joined = new JoinedRow();
            private int size;
            private int next;
            private long rowsSeen;
            private long invalidSeen;
            private long malformedSeen;

            BatchIterator(int partition, Iterator<InternalRow> input, TaskResources resources, BufferAllocator allocator,
                          Float8Vector a, Float8Vector b, IntVector n, CudaIntegrate gpu) {
                this.partition = partition;
                this.input = input;
                this.resources = resources;
                this.allocator = allocator;
                this.a = a;
                this.b = b;
                this.n = n;
                this.gpu = gpu;
                this.pending = new InternalRow[options.batchSize()];
                this.xs = new double[options.batchSize()];
                this.xNull = new boolean[options.batchSize()];
            }

            @Override
            public boolean hasNext() {
                if (next < size) {
                    return true;
                }
                if (!input.hasNext()) {
                    if (invalidSeen > 0) {
                        LOG.warn("integrate_f: {} invalid rows returned null in {}", invalidSeen, SparkTasks.taskLabel());
                    }
                    resources.close();
                    return false;
                }
                fillAndCompute();
                return next < size;
            }

            private void fillAndCompute() {
                next = 0;
                a.reset();
                b.reset();
                n.reset();
                int rows = 0;
                while (rows < options.batchSize() && input.hasNext()) {
                    // Upstream iterators reuse their row object: keep a copy until the batch is emitted.
                    InternalRow r = input.next().copy();
                    pending[rows] = r;
                    String malformed = ids.malformed(r);
                    if (malformed == null && nInput >= 0 && r.isNullAt(in) && !r.isNullAt(nInput)) {
                        malformed = "n must fit in INT (at most " + Integer.MAX_VALUE + "), got " + r.getLong(nInput);
                    }
                    if (malformed != null) {
                        // A line Spark could not parse: its a, b, n are null. Fail naming it, or count it as invalid.
                        if (options.policy() == BadRowPolicy.FAIL) {
                            String row = ids.label(r, partition, rowsSeen + rows);
                            throw new org.sparknative.udf.InvalidRowException(row, "integrate_f: " + row + ": " + malformed);
                        }
                        malformedSeen++;
                    }
                    if (r.isNullAt(ia)) {
                        a.setNull(rows);
                    } else {
                        a.set(rows, r.getDouble(ia));
                    }
                    if (r.isNullAt(ib)) {
                        b.setNull(rows);
                    } else {
                        b.set(rows, r.getDouble(ib));
                    }
                    if (r.isNullAt(in)) {
                        n.setNull(rows);
                    } else {
                        n.set(rows, r.getInt(in));
                    }
                    rows++;
                }
                size = rows;
                a.setValueCount(rows);
                b.setValueCount(rows);
                n.setValueCount(rows);
                long first = rowsSeen;
                RowLabels labels = i -> ids.label(pending[i], partition, first + i);
                IntegrateUdf.Result result = IntegrateUdf.apply(a, b, n, allocator, options.policy(), labels, gpu);
                try (Float8Vector x = result.x()) {
                    for (int i = 0; i < rows; i++) {
                        xNull[i] = x.isNull(i);
                        xs[i] = xNull[i] ? 0.0 : x.get(i);
                    }
                }
                // This computation's counts so far: a partition computed again reports the same counts, not more.
                if (result.invalidRows() + malformedSeen > 0) {
                    invalidSeen += result.invalidRows() + malformedSeen;
                    malformedSeen = 0;
                    invalid.update(partition, invalidSeen);
                }
                rowsSeen += rows;
                rowCount.update(partition, rowsSeen);
            }

            @Override
            public InternalRow next() {
                if (!hasNext()) {
                    throw new NoSuchElementException();
                }
                if (xNull[next]) {
                    xRow.setNullAt(0);
                } else {
                    xRow.setDouble(0, xs[next]);
                }
                InternalRow r = pending[next];
                pending[next] = null;
                next++;
                return project.apply(joined.apply(r, xRow));
            }
        }
    }
}

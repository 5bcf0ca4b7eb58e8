package org.sparknative.spark.sql;

import java.util.Iterator;
import java.util.NoSuchElementException;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.vector.Float8Vector;
import org.apache.arrow.vector.IntVector;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.catalyst.expressions.GenericInternalRow;
import org.apache.spark.sql.catalyst.expressions.JoinedRow;
import org.apache.spark.sql.catalyst.expressions.UnsafeProjection;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.vectorized.ArrowColumnVector;
import org.apache.spark.sql.vectorized.ColumnVector;
import org.apache.spark.sql.vectorized.ColumnarBatch;
import org.apache.spark.unsafe.Platform;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.sparknative.kernels.cuda.CudaIntegrate;
import org.sparknative.spark.RowIds;
import org.sparknative.spark.SparkTasks;
import org.sparknative.spark.TestFaults;
import org.sparknative.udf.BackendSelection;
import org.sparknative.udf.BadRowPolicy;
import org.sparknative.udf.ExecutorMetrics;
import org.sparknative.udf.ExecutorRuntime;
import org.sparknative.udf.InvalidRowException;
import org.sparknative.udf.RowLabels;
import org.sparknative.udf.TaskResources;
import org.sparknative.udf.integrate.IntegrateUdf;

/**
 * {@code integrate_f} in a task of {@link NativeEvalExec}: the partition's rows go into Arrow record batches
 * ({@code a}, {@code b} float64, {@code n} int32), the native kernel computes each batch in one call
 * ({@link IntegrateUdf}), and each row comes out with {@code x} appended.
 *
 * <p>Row input: {@code batchSize} rows per record batch, copied from the rows; rows out. Columnar input: one
 * record batch per columnar batch, each column copied in bulk ({@link ColumnCopy}); columnar batches out, the
 * input's vectors plus {@code x} (the kernel's Arrow output vector itself, no copy). A BIGINT {@code n} outside INT, and
 * a line Spark could not parse ({@value RowIds#CORRUPT_RECORD} set), are invalid rows like those
 * {@link IntegrateUdf} finds: under {@code fail} the task fails naming the row by its id, under
 * {@code row-error} {@code x} is null and the row is counted. Arrow memory is a per-task child allocator, closed
 * when the task ends, also when it fails.
 *
 * <p>Testing only: {@link TestFaults#FAIL_FIRST_ATTEMPT} makes the first attempt of chosen partitions fail.
 */
final class IntegrateBatches implements BatchEvaluator {
    private static final long serialVersionUID = 1L;
    private static final Logger LOG = LoggerFactory.getLogger(IntegrateBatches.class);

    private final Input input;
    private final IntegrateCall.Settings settings;
    private final BatchMetrics metrics;

    IntegrateBatches(Input input, IntegrateCall.Settings settings, BatchMetrics metrics) {
        this.input = input;
        this.settings = settings;
        this.metrics = metrics;
    }

    @Override
    public Iterator<InternalRow> rows(Integer partition, Iterator<InternalRow> rows) {
        Task task = new Task(partition);
        return TestFaults.failFirstAttempt(partition, new Iterator<>() {
            private final InternalRow[] pending = new InternalRow[settings.options().batchSize()];
            private int size;
            private int next;

            @Override
            public boolean hasNext() {
                if (next < size) {
                    return true;
                }
                if (!rows.hasNext()) {
                    task.finish();
                    return false;
                }
                fill();
                return next < size;
            }

            private void fill() {
                next = 0;
                int n = 0;
                int cap = pending.length;
                task.reset(cap);
                while (n < cap && rows.hasNext()) {
                    // Upstream iterators reuse their row object: keep a copy until the batch is emitted.
                    InternalRow r = rows.next().copy();
                    pending[n] = r;
                    task.setRow(n, r, task.rowsSeen + n);
                    n++;
                }
                size = n;
                long first = task.rowsSeen;
                InternalRow[] batch = pending;
                task.compute(n, i -> task.ids.label(batch[i], partition, first + i));
            }

            @Override
            public InternalRow next() {
                if (!hasNext()) {
                    throw new NoSuchElementException();
                }
                InternalRow r = pending[next];
                pending[next] = null;
                return task.output(r, next++);
            }
        });
    }

    @Override
    public Iterator<ColumnarBatch> columnar(Integer partition, Iterator<ColumnarBatch> batches) {
        Task task = new Task(partition);
        // The x of the batch last returned: the consumer reads it until it asks for the next batch.
        Float8Vector[] current = {null};
        task.resources.add(() -> {
            if (current[0] != null) {
                current[0].close();
                current[0] = null;
            }
        });
        return TestFaults.failFirstAttempt(partition, BatchEvaluator.appendEach(batches, b -> {
            int n = b.numRows();
            task.reset(n);
            task.setColumns(b, n);
            long first = task.rowsSeen;
            Float8Vector x = task.computeVector(n, i -> task.ids.label(b.getRow(i), partition, first + i));
            if (current[0] != null) {
                current[0].close();
            }
            current[0] = x;
            return new ArrowColumnVector(x);
        }, task::finish));
    }

    /** One task's vectors, counts and output projection. */
    private final class Task {
        private final int partition;
        private final TaskResources resources;
        private final BufferAllocator allocator;
        private final CudaIntegrate gpu;
        private final Float8Vector a;
        private final Float8Vector b;
        private final IntVector n;
        private final RowIds.Column ids = input.rowIds();
        private final BadRowPolicy policy = settings.options().policy();
        private UnsafeProjection project; // rows out only: made on the first row (columnar output needs none)
        private final GenericInternalRow xRow = new GenericInternalRow(1);
        private final JoinedRow joined = new JoinedRow();
        private double[] xs = new double[0];
        private boolean[] xNull = new boolean[0];
        private int capacity;
        private long rowsSeen;
        private long invalidSeen;
        private long malformed;

        Task(int partition) {
            this.partition = partition;
            resources = SparkTasks.resourcesForCurrentTask();
            allocator = resources.add(ExecutorRuntime.newTaskAllocator("integrate_f " + SparkTasks.taskLabel()));
            BackendSelection.Resolved backend = BackendSelection.resolve(settings.options().backend(), SparkTasks.gpuOrdinal());
            gpu = backend.device() == null ? null : resources.add(new CudaIntegrate(backend.device()));
            ExecutorMetrics.backendUsed(backend.describe());
            a = resources.add(new Float8Vector("a", allocator));
            b = resources.add(new Float8Vector("b", allocator));
            n = resources.add(new IntVector("n", allocator));
        }

        /** Empties the vectors, room for {@code rows} rows. */
        void reset(int rows) {
            if (rows > capacity) {
                capacity = Math.max(rows, settings.options().batchSize());
                a.allocateNew(capacity);
                b.allocateNew(capacity);
                n.allocateNew(capacity);
                xs = new double[capacity];
                xNull = new boolean[capacity];
            } else {
                a.reset();
                b.reset();
                n.reset();
            }
        }

        /** Copies row {@code i} of the record batch from {@code r}, the partition's row {@code ordinal}. */
        void setRow(int i, InternalRow r, long ordinal) {
            String bad = ids.malformed(r);
            Arg an = input.args().get(2);
            boolean nNull = an.isNull(r);
            long nv = nNull ? 0 : an.ordinal() < 0 ? ((Number) an.constant()).longValue()
                : an.type() == DataTypes.LongType ? r.getLong(an.ordinal()) : r.getInt(an.ordinal());
            if (bad == null && !nNull && nv != (int) nv) {
                bad = "n must fit in INT (at most " + Integer.MAX_VALUE + "), got " + nv;
            }
            if (bad != null) {
                invalid(bad, r, ordinal);
                nNull = true;
            }
            setDouble(a, i, input.args().get(0), r);
            setDouble(b, i, input.args().get(1), r);
            if (nNull) {
                n.setNull(i);
            } else {
                n.set(i, (int) nv);
            }
        }

        private void setDouble(Float8Vector v, int i, Arg arg, InternalRow r) {
            if (arg.isNull(r)) {
                v.setNull(i);
            } else {
                v.set(i, arg.ordinal() < 0 ? (Double) arg.constant() : r.getDouble(arg.ordinal()));
            }
        }

        /** Copies the columnar batch's {@code a}, {@code b}, {@code n} in bulk. */
        void setColumns(ColumnarBatch batch, int rows) {
            setDoubles(a, input.args().get(0), batch, rows);
            setDoubles(b, input.args().get(1), batch, rows);
            Arg an = input.args().get(2);
            if (an.ordinal() < 0) {
                if (an.constant() == null) {
                    for (int i = 0; i < rows; i++) {
                        n.setNull(i);
                    }
                } else {
                    long c = ((Number) an.constant()).longValue();
                    for (int i = 0; i < rows; i++) {
                        checkN(c, i, batch);
                    }
                }
            } else if (an.type() == DataTypes.LongType) {
                ColumnVector col = batch.column(an.ordinal());
                long[] values = col.getLongs(0, rows);
                boolean nulls = col.hasNull();
                for (int i = 0; i < rows; i++) {
                    if (nulls && col.isNullAt(i)) {
                        n.setNull(i);
                    } else {
                        checkN(values[i], i, batch);
                    }
                }
            } else {
                ColumnCopy.ints(batch.column(an.ordinal()), rows, n);
            }
            if (ids.corrupt() >= 0) {
                ColumnVector corrupt = batch.column(ids.corrupt());
                for (int i = 0; i < rows; i++) {
                    if (!corrupt.isNullAt(i)) {
                        invalid(ids.malformed(batch.getRow(i)), batch.getRow(i), rowsSeen + i);
                        n.setNull(i);
                    }
                }
            }
        }

        private void checkN(long v, int i, ColumnarBatch batch) {
            if (v == (int) v) {
                n.set(i, (int) v);
            } else {
                invalid("n must fit in INT (at most " + Integer.MAX_VALUE + "), got " + v, batch.getRow(i), rowsSeen + i);
                n.setNull(i);
            }
        }

        private void setDoubles(Float8Vector v, Arg arg, ColumnarBatch batch, int rows) {
            if (arg.ordinal() >= 0) {
                ColumnCopy.doubles(batch.column(arg.ordinal()), rows, v);
            } else if (arg.constant() == null) {
                for (int i = 0; i < rows; i++) {
                    v.setNull(i);
                }
            } else {
                ColumnCopy.fill(v, rows, (Double) arg.constant());
            }
        }

        /** A row the kernel must not see: fail naming it, or count it (its {@code x} will be null). */
        private void invalid(String problem, InternalRow row, long ordinal) {
            if (policy == BadRowPolicy.FAIL) {
                String label = ids.label(row, partition, ordinal);
                throw new InvalidRowException(label, IntegrateSql.NAME + ": " + label + ": " + problem);
            }
            malformed++;
        }

        /** Runs the kernel on the record batch's {@code rows} rows, keeping {@code x} for {@link #output}. */
        void compute(int rows, RowLabels labels) {
            try (Float8Vector x = computeVector(rows, labels)) {
                if (rows > 0) {
                    Platform.copyMemory(null, x.getDataBuffer().memoryAddress(), xs, Platform.DOUBLE_ARRAY_OFFSET,
                        (long) rows * Float8Vector.TYPE_WIDTH);
                }
                boolean anyNull = x.getNullCount() > 0;
                for (int i = 0; i < rows; i++) {
                    xNull[i] = anyNull && x.isNull(i);
                }
            }
        }

        /** Runs the kernel on the record batch's {@code rows} rows; the caller owns and closes {@code x}. */
        Float8Vector computeVector(int rows, RowLabels labels) {
            a.setValueCount(rows);
            b.setValueCount(rows);
            n.setValueCount(rows);
            long t0 = System.nanoTime();
            IntegrateUdf.Result result = IntegrateUdf.apply(a, b, n, allocator, policy, labels, gpu);
            long nanos = System.nanoTime() - t0;
            long invalidNow = result.invalidRows() + malformed;
            malformed = 0;
            rowsSeen += rows;
            metrics.batch(rows, nanos);
            metrics.add(BatchMetrics.INVALID_ROWS, invalidNow);
            // This computation's counts so far: a partition computed again reports the same counts, not more.
            if (invalidNow > 0) {
                invalidSeen += invalidNow;
                if (settings.invalidRows() != null) {
                    settings.invalidRows().update(partition, invalidSeen);
                }
            }
            if (settings.rows() != null) {
                settings.rows().update(partition, rowsSeen);
            }
            return result.x();
        }

        /** The input row {@code r} with row {@code i}'s {@code x} appended. */
        InternalRow output(InternalRow r, int i) {
            if (xNull[i]) {
                xRow.setNullAt(0);
            } else {
                xRow.setDouble(0, xs[i]);
            }
            if (project == null) {
                project = projection();
            }
            return project.apply(joined.apply(r, xRow));
        }

        /** The output rows' projection: the input's columns and the value. */
        private UnsafeProjection projection() {
            DataType[] types = new DataType[input.types().size() + 1];
            for (int i = 0; i < types.length - 1; i++) {
                types[i] = input.types().get(i);
            }
            types[types.length - 1] = DataTypes.DoubleType;
            return UnsafeProjection.create(types);
        }

        void finish() {
            if (invalidSeen > 0) {
                LOG.warn("integrate_f: {} invalid rows returned null in {}", invalidSeen, SparkTasks.taskLabel());
            }
            resources.close();
        }
    }
}

package org.sparknative.spark.sql;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.vector.BaseFixedWidthVector;
import org.apache.arrow.vector.BigIntVector;
import org.apache.arrow.vector.Float4Vector;
import org.apache.arrow.vector.Float8Vector;
import org.apache.arrow.vector.IntVector;
import org.apache.arrow.vector.VarCharVector;
import org.apache.arrow.vector.complex.ListVector;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.apache.spark.TaskContext;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.catalyst.expressions.GenericInternalRow;
import org.apache.spark.sql.catalyst.expressions.JoinedRow;
import org.apache.spark.sql.catalyst.expressions.UnsafeProjection;
import org.apache.spark.sql.execution.vectorized.OnHeapColumnVector;
import org.apache.spark.sql.execution.vectorized.WritableColumnVector;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.sql.vectorized.ColumnVector;
import org.apache.spark.sql.vectorized.ColumnarBatch;
import org.apache.spark.unsafe.types.UTF8String;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.sparknative.spark.ModelFiles;
import org.sparknative.spark.RowIds;
import org.sparknative.spark.SparkTasks;
import org.sparknative.spark.TestFaults;
import org.sparknative.udf.ExecutorRuntime;
import org.sparknative.udf.InvalidRowException;
import org.sparknative.udf.Seeds;
import org.sparknative.udf.TaskResources;
import org.sparknative.udf.generate.GenerateUdf;
import org.sparknative.udf.generate.GenerationPipeline;
import org.sparknative.udf.generate.GenerationScheduler;
import org.sparknative.udf.generate.GenerationSpec;
import org.sparknative.udf.generate.ModelRegistry;

/**
 * Text generation in a task of {@link NativeEvalExec}: the partition's prompts go to the task's
 * {@link GenerationScheduler} (over the executor's shared model) in Arrow record batches of
 * {@code recordBatchRows} prompts, and each row comes out with the {@link GenerateCall#RESULT_TYPE} struct
 * appended. Row input copies the rows, rows out; columnar input reads the column vectors (prompts and per-row
 * settings) straight into the record batch, columnar batches out (the input's vectors plus the values' vector). A row's seed is its {@code seed} argument, else mixed from the job seed and
 * its {@code id} column (a string id through its FNV-1a hash), else from its prompt
 * ({@link GenerateUdf}). A line Spark could not parse ({@value RowIds#CORRUPT_RECORD} set) is an error row:
 * null completion, {@code finish_reason = error: malformed input: <the line's start>}.
 *
 * <p>Testing only: {@link TestFaults#FAIL_FIRST_ATTEMPT} makes the first attempt of chosen partitions fail.
 */
final class GenerateBatches implements BatchEvaluator {
    private static final long serialVersionUID = 1L;
    private static final Logger LOG = LoggerFactory.getLogger(GenerateBatches.class);

    private final Input input;
    private final GenerateCall.Settings settings;
    private final BatchMetrics metrics;

    GenerateBatches(Input input, GenerateCall.Settings settings, BatchMetrics metrics) {
        this.input = input;
        this.settings = settings;
        this.metrics = metrics;
    }

    /** The record batch's values, by argument ({@code 0} prompt, then {@link GenerateCall#OPTIONS}) and row. */
    private interface Values {
        /** @return the argument's column vector for columnar input, else null */
        ColumnVector column(int ordinal);

        /** @return row {@code i} as an {@link InternalRow} (for row input, and for the rare message) */
        InternalRow row(int i);
    }

    @Override
    public Iterator<InternalRow> rows(Integer partition, Iterator<InternalRow> rows) {
        Task task = new Task(partition);
        return TestFaults.failFirstAttempt(partition, new Iterator<>() {
            private final List<InternalRow> pending = new ArrayList<>();
            private Object[] outputs = new Object[0];
            private int next;

            @Override
            public boolean hasNext() {
                if (next < pending.size()) {
                    return true;
                }
                if (!rows.hasNext()) {
                    task.finish();
                    return false;
                }
                pending.clear();
                next = 0;
                while (pending.size() < settings.recordBatchRows() && rows.hasNext()) {
                    pending.add(rows.next().copy());
                }
                outputs = task.run(pending.size(), new Values() {
                    @Override
                    public ColumnVector column(int ordinal) {
                        return null;
                    }

                    @Override
                    public InternalRow row(int i) {
                        return pending.get(i);
                    }
                });
                return true;
            }

            @Override
            public InternalRow next() {
                if (!hasNext()) {
                    throw new NoSuchElementException();
                }
                InternalRow r = task.output(pending.get(next), outputs[next]);
                next++;
                return r;
            }
        });
    }

    @Override
    public Iterator<ColumnarBatch> columnar(Integer partition, Iterator<ColumnarBatch> batches) {
        Task task = new Task(partition);
        DataType type = settings.detailed() ? GenerateCall.RESULT_TYPE : DataTypes.StringType;
        // The value vector of the batch last returned, reused (reset) for the next batch and closed with the task.
        OnHeapColumnVector[] result = {null};
        int[] capacity = {0};
        task.resources.add(() -> {
            if (result[0] != null) {
                result[0].close();
            }
        });
        return TestFaults.failFirstAttempt(partition, BatchEvaluator.appendEach(batches, b -> {
            int rows = b.numRows();
            if (result[0] == null || capacity[0] < rows) {
                if (result[0] != null) {
                    result[0].close();
                }
                capacity[0] = Math.max(rows, 1);
                result[0] = new OnHeapColumnVector(capacity[0], type);
            } else {
                result[0].reset();
            }
            // Record batches of at most recordBatchRows rows, read from the columnar batch in place.
            for (int start = 0; start < rows; start += settings.recordBatchRows()) {
                int offset = start;
                int size = Math.min(settings.recordBatchRows(), rows - offset);
                Object[] values = task.run(size, new Values() {
                    @Override
                    public ColumnVector column(int ordinal) {
                        return b.column(ordinal);
                    }

                    @Override
                    public InternalRow row(int i) {
                        return b.getRow(offset + i);
                    }
                }, offset);
                for (int i = 0; i < size; i++) {
                    put(result[0], offset + i, values[i]);
                }
            }
            return result[0];
        }, task::finish));
    }

    /** Writes a call's value (the completion, or the {@link GenerateCall#RESULT_TYPE} struct) into row {@code row}. */
    private static void put(WritableColumnVector v, int row, Object value) {
        if (value == null) {
            v.putNull(row);
        } else if (value instanceof UTF8String s) {
            v.putByteArray(row, s.getBytes());
        } else {
            InternalRow r = (InternalRow) value;
            v.putNotNull(row);
            StructType t = GenerateCall.RESULT_TYPE;
            for (int f = 0; f < t.size(); f++) {
                WritableColumnVector c = v.getChild(f);
                DataType ft = t.fields()[f].dataType();
                if (r.isNullAt(f)) {
                    c.putNull(row);
                } else if (ft == DataTypes.StringType) {
                    c.putByteArray(row, r.getUTF8String(f).getBytes());
                } else if (ft == DataTypes.IntegerType) {
                    c.putInt(row, r.getInt(f));
                } else {
                    c.putDouble(row, r.getDouble(f));
                }
            }
        }
    }

    private static final Map<List<Object>, Task> PER_TASK = new ConcurrentHashMap<>();

    /**
     * Row-at-a-time evaluation (where the planner could not take the call out of its operator): one task
     * keeps one pipeline per call settings and frees it when the task ends.
     *
     * @param values the call's argument values (Catalyst's internal values)
     */
    static Object evalOne(GenerateCall.Settings settings, Object[] values) {
        TaskContext ctx = TaskContext.get();
        long key = ctx == null ? -Thread.currentThread().getId() : ctx.taskAttemptId();
        List<Object> k = List.of(key, settings);
        List<Arg> args = new ArrayList<>();
        for (int i = 0; i < values.length; i++) {
            args.add(new Arg(-1, values[i], GenerateSql.argType(i)));
        }
        GenerateBatches one = new GenerateBatches(new Input(args, List.of(), List.of(), new int[0]), settings, null);
        Task task = PER_TASK.computeIfAbsent(k, x -> {
            Task t = one.new Task(-1);
            t.resources.add(() -> PER_TASK.remove(x));
            return t;
        });
        try {
            return task.run(1, one.constants(), 0, one.input)[0];
        } finally {
            if (ctx == null) {
                task.resources.close();
            }
        }
    }

    private Values constants() {
        return new Values() {
            @Override
            public ColumnVector column(int ordinal) {
                return null;
            }

            @Override
            public InternalRow row(int i) {
                return new GenericInternalRow(0);
            }
        };
    }

    /**
     * Builds the current task's scheduler: resolves the spec's model files on this executor (copying a remote
     * file once per executor), takes the executor's shared model, and registers the task's backend with
     * {@code resources}.
     *
     * @param taskRows caps the task's own KV cache slots (a small partition needs no more than its rows)
     */
    static GenerationScheduler newTaskBatcher(GenerationSpec spec, int taskRows, TaskResources resources) {
        ModelRegistry.Entry model = ModelRegistry.get(
            ModelFiles.resolve(spec.checkpoint(), spec.checkpointSha256(), "model"),
            spec.tokenizer() == null ? null : ModelFiles.resolve(spec.tokenizer(), spec.tokenizerSha256(), "tokenizer"),
            spec.contextLength());
        return GenerationPipeline.newScheduler(model, spec, SparkTasks.threads(spec.threads()), SparkTasks.gpuOrdinal(),
            taskRows, resources)
            .cancelWhen(SparkTasks.cancellation());
    }

    /** One task's scheduler, allocator, counts and output projection. */
    private final class Task {
        private final int partition;
        private final TaskResources resources;
        private final BufferAllocator allocator;
        private final RowIds.Column ids = input.rowIds();
        private UnsafeProjection project; // rows out only: made on the first row (columnar output needs none)
        private final GenericInternalRow wrapper = new GenericInternalRow(1);
        private final JoinedRow joined = new JoinedRow();
        private GenerationScheduler batcher;
        private final long started = System.nanoTime();
        private long lastLog = started;
        private long rowsDone;
        private long promptTokensDone;
        private long tokensDone;
        private long errorsDone;
        private long rowsSeen;

        Task(int partition) {
            this.partition = partition;
            resources = SparkTasks.resourcesForCurrentTask();
            allocator = resources.add(ExecutorRuntime.newTaskAllocator("generate " + SparkTasks.taskLabel()));
        }

        Object[] run(int n, Values values) {
            return run(n, values, 0);
        }

        Object[] run(int n, Values values, int offset) {
            return run(n, values, offset, input);
        }

        /**
         * Generates the record batch's {@code n} rows.
         *
         * @param offset where the record batch starts in the columnar batch (0 for rows)
         * @return each row's value: the {@link GenerateCall#RESULT_TYPE} struct, or the completion
         */
        Object[] run(int n, Values values, int offset, Input in) {
            if (batcher == null) {
                // A task's own KV cache gets no slots beyond the first record batch's rows (later batches are no
                // larger), so a partition of 128 rows gets at most 128 slots whatever the spec says.
                batcher = newTaskBatcher(settings.spec(), n, resources);
            }
            List<Arg> args = in.args();
            try (VarCharVector prompt = new VarCharVector("prompt", allocator);
                 IntVector maxNew = absent(args.get(1)) ? null : new IntVector("max_new_tokens", allocator);
                 Float4Vector temp = absent(args.get(2)) ? null : new Float4Vector("temperature", allocator);
                 Float4Vector topP = absent(args.get(3)) ? null : new Float4Vector("top_p", allocator);
                 BigIntVector seed = absent(args.get(4)) ? null : new BigIntVector("seed", allocator);
                 IntVector topK = absent(args.get(5)) ? null : new IntVector("top_k", allocator);
                 Float4Vector penalty = absent(args.get(6)) ? null : new Float4Vector("repetition_penalty", allocator);
                 ListVector stop = absent(args.get(7)) ? null : ListVector.empty("stop", allocator);
                 BigIntVector id = ids.index() < 0 ? null : new BigIntVector("id", allocator)) {
                prompt.allocateNew(n);
                // the per-row settings in argument order (1..6), then the row id
                BaseFixedWidthVector[] fixed = {maxNew, temp, topP, seed, topK, penalty, id};
                for (BaseFixedWidthVector v : fixed) {
                    if (v != null) {
                        v.allocateNew(n);
                    }
                }
                Arg p = args.get(0);
                ColumnVector pc = p.ordinal() < 0 ? null : values.column(p.ordinal());
                for (int i = 0; i < n; i++) {
                    UTF8String s;
                    if (p.ordinal() < 0) {
                        s = (UTF8String) p.constant();
                    } else if (pc != null) {
                        s = pc.isNullAt(offset + i) ? null : pc.getUTF8String(offset + i);
                    } else {
                        InternalRow r = values.row(i);
                        s = r.isNullAt(p.ordinal()) ? null : r.getUTF8String(p.ordinal());
                    }
                    if (s == null) {
                        prompt.setNull(i);
                    } else {
                        prompt.setSafe(i, s.getBytes());
                    }
                }
                if (stop != null) {
                    fillStop(stop, args.get(7), values, n, offset);
                }
                for (int k = 1; k <= 6; k++) {
                    if (fixed[k - 1] != null) {
                        fill(fixed[k - 1], args.get(k), values, n, offset);
                    }
                }
                if (id != null) {
                    ColumnVector ic = values.column(ids.index());
                    for (int i = 0; i < n; i++) {
                        boolean isNull = ic != null ? ic.isNullAt(offset + i) : values.row(i).isNullAt(ids.index());
                        if (isNull) {
                            continue;
                        }
                        if (ids.numeric()) {
                            id.set(i, ic != null ? ic.getLong(offset + i) : values.row(i).getLong(ids.index()));
                        } else {
                            UTF8String s = ic != null ? ic.getUTF8String(offset + i) : values.row(i).getUTF8String(ids.index());
                            id.set(i, Seeds.fnv1a(s.getBytes()));
                        }
                    }
                }
                prompt.setValueCount(n);
                for (BaseFixedWidthVector v : fixed) {
                    if (v != null) {
                        v.setValueCount(n);
                    }
                }
                long first = rowsSeen;
                rowsSeen += n;
                long t0 = System.nanoTime();
                try (VectorSchemaRoot out = GenerateUdf.apply(prompt, new GenerateUdf.Options(maxNew, temp, topP, seed, id, topK,
                    penalty, stop),
                    settings.defaults(), batcher, allocator, i -> ids.label(values.row(i), partition, first + i),
                    this::finished)) {
                    long nanos = System.nanoTime() - t0;
                    if (metrics != null) {
                        metrics.batch(n, nanos);
                    }
                    return results(out, n, prompt, values, first);
                }
            }
        }

        private boolean absent(Arg a) {
            return a.ordinal() < 0 && a.constant() == null;
        }

        /** Fills the {@code stop} list vector (of UTF-8 strings) from a constant or a column of ARRAY&lt;STRING&gt;. */
        private void fillStop(ListVector v, Arg a, Values values, int n, int offset) {
            v.addOrGetVector(org.apache.arrow.vector.types.pojo.FieldType.nullable(
                new org.apache.arrow.vector.types.pojo.ArrowType.Utf8()));
            v.allocateNew();
            VarCharVector strings = (VarCharVector) v.getDataVector();
            ColumnVector c = a.ordinal() < 0 ? null : values.column(a.ordinal());
            for (int i = 0; i < n; i++) {
                org.apache.spark.sql.catalyst.util.ArrayData arr;
                if (a.ordinal() < 0) {
                    arr = (org.apache.spark.sql.catalyst.util.ArrayData) a.constant();
                } else if (c != null) {
                    arr = c.isNullAt(offset + i) ? null : c.getArray(offset + i);
                } else {
                    arr = values.row(i).isNullAt(a.ordinal()) ? null : values.row(i).getArray(a.ordinal());
                }
                if (arr == null) {
                    v.setNull(i);
                    continue;
                }
                int at = v.startNewValue(i);
                int count = 0;
                for (int j = 0; j < arr.numElements(); j++) {
                    if (!arr.isNullAt(j)) {
                        strings.setSafe(at + count++, arr.getUTF8String(j).getBytes());
                    }
                }
                v.endValue(i, count);
            }
            v.setValueCount(n);
        }

        private void fill(BaseFixedWidthVector v, Arg a, Values values, int n, int offset) {
            ColumnVector c = a.ordinal() < 0 ? null : values.column(a.ordinal());
            for (int i = 0; i < n; i++) {
                Object constant = a.constant();
                if (a.ordinal() >= 0) {
                    boolean isNull = c != null ? c.isNullAt(offset + i) : values.row(i).isNullAt(a.ordinal());
                    if (isNull) {
                        continue;
                    }
                }
                if (v instanceof IntVector iv) {
                    iv.set(i, a.ordinal() < 0 ? (Integer) constant
                        : c != null ? c.getInt(offset + i) : values.row(i).getInt(a.ordinal()));
                } else if (v instanceof Float4Vector fv) {
                    fv.set(i, a.ordinal() < 0 ? (Float) constant
                        : c != null ? c.getFloat(offset + i) : values.row(i).getFloat(a.ordinal()));
                } else {
                    ((BigIntVector) v).set(i, a.ordinal() < 0 ? (Long) constant
                        : c != null ? c.getLong(offset + i) : values.row(i).getLong(a.ordinal()));
                }
            }
        }

        private Object[] results(VectorSchemaRoot out, int n, VarCharVector prompt, Values values, long first) {
            VarCharVector completion = (VarCharVector) out.getVector("completion");
            IntVector pt = (IntVector) out.getVector("prompt_tokens");
            IntVector ct = (IntVector) out.getVector("completion_tokens");
            VarCharVector fr = (VarCharVector) out.getVector("finish_reason");
            Float8Vector ttft = (Float8Vector) out.getVector("ttft_ms");
            Float8Vector lat = (Float8Vector) out.getVector("latency_ms");
            Object[] rows = new Object[n];
            for (int i = 0; i < n; i++) {
                GenericInternalRow o = new GenericInternalRow(6);
                String malformed = ids.corrupt() < 0 ? null : ids.malformed(values.row(i));
                String reason = malformed != null ? "error: " + malformed : new String(fr.get(i), java.nio.charset.StandardCharsets.UTF_8);
                boolean error = malformed != null || completion.isNull(i);
                if (error && settings.failOnError() && !prompt.isNull(i)) {
                    String label = ids.label(values.row(i), partition, first + i);
                    throw new InvalidRowException(label, GenerateSql.NAME + ": " + label + ": " + reason);
                }
                o.update(0, malformed != null || completion.isNull(i) ? null : UTF8String.fromBytes(completion.get(i)));
                o.setInt(1, pt.get(i));
                o.setInt(2, ct.get(i));
                o.update(3, UTF8String.fromString(reason));
                if (ttft.isNull(i)) {
                    o.setNullAt(4);
                } else {
                    o.setDouble(4, ttft.get(i));
                }
                o.setDouble(5, lat.get(i));
                rows[i] = settings.detailed() ? o : o.get(0, DataTypes.StringType);
            }
            return rows;
        }

        private void finished(GenerationScheduler.Result r) {
            rowsDone++;
            promptTokensDone += r.promptTokens();
            tokensDone += r.completionTokens();
            if (metrics != null) {
                metrics.add(BatchMetrics.PROMPT_TOKENS, r.promptTokens());
                metrics.add(BatchMetrics.COMPLETION_TOKENS, r.completionTokens());
                metrics.add(BatchMetrics.ERROR_ROWS, r.finishReason().isError() ? 1 : 0);
            }
            if (r.finishReason().isError()) {
                errorsDone++;
            }
            var counters = settings.counters();
            if (counters != null) {
                // This computation's counts so far: a partition computed again reports the same counts, not more.
                counters.rows().update(partition, rowsDone);
                counters.promptTokens().update(partition, promptTokensDone);
                counters.completionTokens().update(partition, tokensDone);
                if (r.finishReason().isError()) {
                    counters.errors().update(partition, errorsDone);
                }
            }
            long now = System.nanoTime();
            if (now - lastLog > 10_000_000_000L) {
                lastLog = now;
                double secs = (now - started) / 1e9;
                LOG.info("generate {}: {} rows, {} tokens, {} tokens/s", SparkTasks.taskLabel(), rowsDone,
                    tokensDone, String.format(java.util.Locale.ROOT, "%.1f", tokensDone / secs));
            }
        }

        /** The input row {@code r} with its {@code value} appended. */
        InternalRow output(InternalRow r, Object value) {
            wrapper.update(0, value);
            if (project == null) {
                project = projection();
            }
            return project.apply(joined.apply(r, wrapper));
        }

        /** The output rows' projection: the input's columns and the value. */
        private UnsafeProjection projection() {
            DataType[] types = new DataType[input.types().size() + 1];
            for (int i = 0; i < types.length - 1; i++) {
                types[i] = input.types().get(i);
            }
            types[types.length - 1] = settings.detailed() ? GenerateCall.RESULT_TYPE : DataTypes.StringType;
            return UnsafeProjection.create(types);
        }

        void finish() {
            resources.close();
        }
    }
}

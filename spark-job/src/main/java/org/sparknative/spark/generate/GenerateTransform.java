package org.sparknative.spark.generate;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.vector.BigIntVector;
import org.apache.arrow.vector.Float4Vector;
import org.apache.arrow.vector.Float8Vector;
import org.apache.arrow.vector.IntVector;
import org.apache.arrow.vector.VarCharVector;
import org.apache.arrow.vector.VectorSchemaRoot;
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
import org.apache.spark.sql.types.IntegralType;
import org.apache.spark.sql.types.NumericType;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.unsafe.types.UTF8String;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.sparknative.spark.InternalRows;
import org.sparknative.kernels.llama.LlamaConfig;
import org.sparknative.spark.ModelFiles;
import org.sparknative.spark.NativeMemory;
import org.sparknative.spark.PartitionCounter;
import org.sparknative.udf.generate.KvCachePlan;
import org.sparknative.spark.RowIds;
import org.sparknative.spark.SparkTasks;
import org.sparknative.spark.TestFaults;
import org.sparknative.udf.ExecutorRuntime;
import org.sparknative.udf.RowLabels;
import org.sparknative.udf.Seeds;
import org.sparknative.udf.TaskResources;
import org.sparknative.udf.generate.GenerationScheduler;
import org.sparknative.udf.generate.GenerateUdf;
import org.sparknative.udf.generate.GenerationParams;
import org.sparknative.udf.generate.GenerationPipeline;
import org.sparknative.udf.generate.GenerationSpec;
import org.sparknative.udf.generate.ModelRegistry;

/**
 * Batch text generation as a DataFrame transformation: adds {@link GenerateUdf#OUTPUT_COLUMNS} to a
 * DataFrame with a {@code prompt} column (other columns pass through). Each task builds one
 * {@link GenerationScheduler} over the executor's shared model and feeds it its partition in Arrow record
 * batches of {@code recordBatchRows} prompts.
 *
 * <p>Optional per-row input columns: {@code max_new_tokens} (integer), {@code temperature} and
 * {@code top_p} (numeric), {@code seed} (integer); {@code id} (integer or string) names the row in
 * error messages ({@link RowIds}) and, when no {@code seed} is given, keys the row's derived seed (a
 * string id through its FNV-1a hash). A line Spark could not parse ({@value RowIds#CORRUPT_RECORD} set) is an
 * error row: null completion, {@code finish_reason = error: malformed input: <the line's start>}.
 *
 * <p>Testing only: {@link TestFaults#FAIL_FIRST_ATTEMPT} makes the first attempt of chosen partitions fail.
 */
public final class GenerateTransform {
    private static final Logger LOG = LoggerFactory.getLogger(GenerateTransform.class);

    private GenerateTransform() {
    }

    /**
     * @param spec            model, backend and batching
     * @param defaults        settings for rows without their own; its seed is the job seed
     * @param recordBatchRows prompts per Arrow record batch, {@code >= 1}; several times the slot count
     *                        keeps the slots busy between batches
     */
    public record Options(GenerationSpec spec, GenerationParams defaults, int recordBatchRows) implements Serializable {
        public Options {
            if (recordBatchRows < 1) {
                throw new IllegalArgumentException("record batch rows must be >= 1, got " + recordBatchRows);
            }
        }

        /** Record batches of {@code max(256, 8 * slots)} rows. */
        public static Options of(GenerationSpec spec, GenerationParams defaults) {
            return new Options(spec, defaults, Math.max(256, 8 * spec.slots()));
        }
    }

    /**
     * Counters filled as rows finish, visible on the driver as tasks end; a partition computed twice (a lost
     * cached block recomputed, a retried stage, a speculative copy) counts once ({@link PartitionCounter}).
     *
     * @param rows             rows generated, error rows included
     * @param promptTokens     their prompt tokens, BOS included
     * @param completionTokens their generated tokens
     * @param errors           error rows
     */
    public record Counters(PartitionCounter rows, PartitionCounter promptTokens, PartitionCounter completionTokens,
                           PartitionCounter errors) implements Serializable {
        private static final long serialVersionUID = 1L;
    }

    /** The output and its counters. */
    public record Result(Dataset<Row> output, Counters counters) {
    }

    /**
     * Checks the input columns and adds the output columns.
     *
     * @throws IllegalArgumentException naming a missing or mistyped column, or an output column already present
     */
    public static Result apply(Dataset<Row> df, Options options) {
        checkNativeMemory(df.sparkSession(), options.spec(), "slots");
        StructType schema = df.schema();
        List<String> names = Arrays.asList(schema.fieldNames());
        if (!names.contains("prompt")) {
            throw new IllegalArgumentException("generate input has no column 'prompt'; it has " + names);
        }
        if (schema.apply("prompt").dataType() != DataTypes.StringType) {
            throw new IllegalArgumentException("generate input column 'prompt' must be a string, got "
                + schema.apply("prompt").dataType().simpleString());
        }
        for (String out : GenerateUdf.OUTPUT_COLUMNS) {
            if (names.contains(out)) {
                throw new IllegalArgumentException("generate input already has the output column '" + out + "'");
            }
        }
        Column[] cols = new Column[names.size()];
        for (int i = 0; i < cols.length; i++) {
            String c = names.get(i);
            Column col = df.col("`" + c + "`");
            DataType t = schema.apply(c).dataType();
            cols[i] = switch (c) {
                case "max_new_tokens" -> requireType(c, t, true).apply(col).cast(DataTypes.IntegerType).as(c);
                case "temperature", "top_p" -> requireType(c, t, false).apply(col).cast(DataTypes.FloatType).as(c);
                case "seed" -> requireType(c, t, true).apply(col).cast(DataTypes.LongType).as(c);
                case RowIds.ID -> RowIds.prepareId(col, t, "generate");
                default -> col;
            };
        }
        Dataset<Row> in = df.select(cols);
        StructType inSchema = in.schema();
        StructType outSchema = inSchema
            .add("completion", DataTypes.StringType, true)
            .add("prompt_tokens", DataTypes.IntegerType, false)
            .add("completion_tokens", DataTypes.IntegerType, false)
            .add("finish_reason", DataTypes.StringType, false)
            .add("ttft_ms", DataTypes.DoubleType, true)
            .add("latency_ms", DataTypes.DoubleType, false);
        var sc = in.sparkSession().sparkContext();
        Counters counters = new Counters(PartitionCounter.register(sc, "generate rows"),
            PartitionCounter.register(sc, "generate prompt tokens"), PartitionCounter.register(sc, "generate completion tokens"),
            PartitionCounter.register(sc, "generate error rows"));
        int[] idx = new int[6];
        String[] optional = {"prompt", "max_new_tokens", "temperature", "top_p", "seed", "id"};
        for (int i = 0; i < optional.length; i++) {
            idx[i] = names.contains(optional[i]) ? inSchema.fieldIndex(optional[i]) : -1;
        }
        PartitionFunction fn = new PartitionFunction(idx, RowIds.find(inSchema), outSchema, options, counters);
        return new Result(InternalRows.mapPartitionsWithIndex(in, outSchema, fn), counters);
    }

    /** Checks an optional input column's type; returns the identity so calls chain. */
    private static java.util.function.UnaryOperator<Column> requireType(String c, DataType t, boolean integral) {
        if (integral ? !(t instanceof IntegralType) : !(t instanceof NumericType)) {
            throw new IllegalArgumentException("generate input column '" + c + "' must be " + (integral ? "an integer" : "numeric")
                + ", got " + t.simpleString());
        }
        return java.util.function.UnaryOperator.identity();
    }

    /**
     * Checks on the driver, before any task runs, that a task's KV cache fits in the native memory a task may
     * use ({@link NativeMemory}). Reads the checkpoint's header where the user named it ({@link ModelFiles}).
     * Not for {@code cuda}: its KV cache lives in device memory, sized on the executor to what the device holds.
     *
     * @param setting the setting's name for the message ({@code --slots} on the command line)
     * @throws IllegalArgumentException naming the setting and the most slots that fit
     * @throws org.sparknative.kernels.llama.CheckpointException if the checkpoint cannot be found or is invalid
     */
    public static void checkNativeMemory(org.apache.spark.sql.SparkSession spark, GenerationSpec spec, String setting) {
        if (spec.backend() == org.sparknative.udf.Backend.CUDA) {
            return;
        }
        LlamaConfig config = ModelFiles.checkpointHeader(spec.checkpoint(),
            spark.sparkContext().hadoopConfiguration()).config();
        NativeMemory budget = NativeMemory.perTask(spark.sparkContext().getConf(),
            spark.sparkContext().defaultParallelism());
        KvCachePlan.check(config, spec.slots(), setting, budget.bytesPerTask(), budget.what());
    }

    /**
     * Builds the current task's scheduler: resolves the spec's model files on this executor (copying a
     * remote file once per executor), takes the executor's shared model, and registers the task's backend
     * with {@code resources}.
     */
    static GenerationScheduler newTaskBatcher(GenerationSpec spec, int taskRows, TaskResources resources) {
        ModelRegistry.Entry model = ModelRegistry.get(
            ModelFiles.resolve(spec.checkpoint(), spec.checkpointSha256(), "model"),
            ModelFiles.resolve(spec.tokenizer(), spec.tokenizerSha256(), "tokenizer"));
        return GenerationPipeline.newScheduler(model, spec, SparkTasks.threads(spec.threads()), SparkTasks.gpuOrdinal(),
            taskRows, resources)
            .cancelWhen(SparkTasks.cancellation());
    }

    /** Runs in each task, given the RDD partition index and its rows. */
    static final class PartitionFunction implements Function2<Integer, Iterator<InternalRow>, Iterator<InternalRow>> {
        private static final long serialVersionUID = 1L;

        private final int[] idx; // prompt, max_new_tokens, temperature, top_p, seed, id (-1: absent)
        private final RowIds.Column ids;
        private final StructType outSchema;
        private final Options options;
        private final Counters counters;

        PartitionFunction(int[] idx, RowIds.Column ids, StructType outSchema, Options options, Counters counters) {
            this.idx = idx;
            this.ids = ids;
            this.outSchema = outSchema;
            this.options = options;
            this.counters = counters;
        }

        @Override
        public Iterator<InternalRow> call(Integer partition, Iterator<InternalRow> input) {
            TaskResources resources = SparkTasks.resourcesForCurrentTask();
            BufferAllocator allocator = resources.add(ExecutorRuntime.newTaskAllocator(
                "generate " + SparkTasks.taskLabel()));
            return TestFaults.failFirstAttempt(partition, new BatchIterator(partition, input, resources, allocator));
        }

        private final class BatchIterator implements Iterator<InternalRow> {
            private final int partition;
            private final Iterator<InternalRow> input;
            private final TaskResources resources;
            private final BufferAllocator allocator;
            private GenerationScheduler batcher;
            private final UnsafeProjection project = UnsafeProjection.create(outSchema);
            private final JoinedRow joined = new JoinedRow();
            private final List<InternalRow> pending = new ArrayList<>();
            private final List<InternalRow> outputs = new ArrayList<>();
            private int next;
            private final long started = System.nanoTime();
            private long lastLog = started;
            private long rowsDone;
            private long promptTokensDone;
            private long tokensDone;
            private long errorsDone;
            private long rowsSeen;

            BatchIterator(int partition, Iterator<InternalRow> input, TaskResources resources, BufferAllocator allocator) {
                this.partition = partition;
                this.input = input;
                this.resources = resources;
                this.allocator = allocator;
            }

            @Override
            public boolean hasNext() {
                if (next < pending.size()) {
                    return true;
                }
                if (!input.hasNext()) {
                    resources.close();
                    return false;
                }
                runBatch();
                return next < pending.size();
            }

            private void runBatch() {
                pending.clear();
                outputs.clear();
                next = 0;
                while (pending.size() < options.recordBatchRows() && input.hasNext()) {
                    pending.add(input.next().copy());
                }
                int n = pending.size();
                if (batcher == null) {
                    // A task's own KV cache gets no slots beyond the first record batch's rows (later batches are no
                    // larger), so a partition of 128 rows gets at most 128 slots whatever --slots says.
                    batcher = newTaskBatcher(options.spec(), n, resources);
                }
                try (VarCharVector prompt = new VarCharVector("prompt", allocator);
                     IntVector maxNew = idx[1] < 0 ? null : new IntVector("max_new_tokens", allocator);
                     Float4Vector temp = idx[2] < 0 ? null : new Float4Vector("temperature", allocator);
                     Float4Vector topP = idx[3] < 0 ? null : new Float4Vector("top_p", allocator);
                     BigIntVector seed = idx[4] < 0 ? null : new BigIntVector("seed", allocator);
                     BigIntVector id = idx[5] < 0 ? null : new BigIntVector("id", allocator)) {
                    prompt.allocateNew(n);
                    for (var v : new org.apache.arrow.vector.BaseFixedWidthVector[] {maxNew, temp, topP, seed, id}) {
                        if (v != null) {
                            v.allocateNew(n);
                        }
                    }
                    for (int i = 0; i < n; i++) {
                        InternalRow r = pending.get(i);
                        if (r.isNullAt(idx[0])) {
                            prompt.setNull(i);
                        } else {
                            UTF8String s = r.getUTF8String(idx[0]);
                            prompt.setSafe(i, s.getBytes());
                        }
                        if (maxNew != null && !r.isNullAt(idx[1])) {
                            maxNew.set(i, r.getInt(idx[1]));
                        }
                        if (temp != null && !r.isNullAt(idx[2])) {
                            temp.set(i, r.getFloat(idx[2]));
                        }
                        if (topP != null && !r.isNullAt(idx[3])) {
                            topP.set(i, r.getFloat(idx[3]));
                        }
                        if (seed != null && !r.isNullAt(idx[4])) {
                            seed.set(i, r.getLong(idx[4]));
                        }
                        if (id != null && !r.isNullAt(idx[5])) {
                            id.set(i, ids.numeric() ? r.getLong(idx[5]) : Seeds.fnv1a(r.getUTF8String(idx[5]).getBytes()));
                        }
                    }
                    prompt.setValueCount(n);
                    for (var v : new org.apache.arrow.vector.BaseFixedWidthVector[] {maxNew, temp, topP, seed, id}) {
                        if (v != null) {
                            v.setValueCount(n);
                        }
                    }
                    long first = rowsSeen;
                    RowLabels labels = i -> ids.label(pending.get(i), partition, first + i);
                    rowsSeen += n;
                    try (VectorSchemaRoot out = GenerateUdf.apply(prompt,
                        new GenerateUdf.Options(maxNew, temp, topP, seed, id), options.defaults(), batcher, allocator,
                        labels, this::finished)) {
                        VarCharVector completion = (VarCharVector) out.getVector("completion");
                        IntVector pt = (IntVector) out.getVector("prompt_tokens");
                        IntVector ct = (IntVector) out.getVector("completion_tokens");
                        VarCharVector fr = (VarCharVector) out.getVector("finish_reason");
                        Float8Vector ttft = (Float8Vector) out.getVector("ttft_ms");
                        Float8Vector lat = (Float8Vector) out.getVector("latency_ms");
                        for (int i = 0; i < n; i++) {
                            GenericInternalRow o = new GenericInternalRow(6);
                            o.update(0, completion.isNull(i) ? null : UTF8String.fromBytes(completion.get(i)));
                            o.setInt(1, pt.get(i));
                            o.setInt(2, ct.get(i));
                            String malformed = ids.malformed(pending.get(i));
                            o.update(3, malformed != null ? UTF8String.fromString("error: " + malformed)
                                : UTF8String.fromBytes(fr.get(i)));
                            if (ttft.isNull(i)) {
                                o.setNullAt(4);
                            } else {
                                o.setDouble(4, ttft.get(i));
                            }
                            o.setDouble(5, lat.get(i));
                            outputs.add(o);
                        }
                    }
                }
            }

            private void finished(GenerationScheduler.Result r) {
                rowsDone++;
                promptTokensDone += r.promptTokens();
                tokensDone += r.completionTokens();
                // This computation's counts so far: a partition computed again reports the same counts, not more.
                counters.rows().update(partition, rowsDone);
                counters.promptTokens().update(partition, promptTokensDone);
                counters.completionTokens().update(partition, tokensDone);
                if (r.finishReason().isError()) {
                    counters.errors().update(partition, ++errorsDone);
                }
                long now = System.nanoTime();
                if (now - lastLog > 10_000_000_000L) {
                    lastLog = now;
                    double secs = (now - started) / 1e9;
                    LOG.info("generate {}: {} rows, {} tokens, {} tokens/s", SparkTasks.taskLabel(), rowsDone,
                        tokensDone, String.format(java.util.Locale.ROOT, "%.1f", tokensDone / secs));
                }
            }

            @Override
            public InternalRow next() {
                if (!hasNext()) {
                    throw new NoSuchElementException();
                }
                InternalRow r = project.apply(joined.apply(pending.get(next), outputs.get(next)));
                next++;
                return r;
            }
        }
    }

}

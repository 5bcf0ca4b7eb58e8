package org.sparknative.udf.generate;

import java.nio.charset.StandardCharsets;
import java.util.List;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.vector.BigIntVector;
import org.apache.arrow.vector.FieldVector;
import org.apache.arrow.vector.Float4Vector;
import org.apache.arrow.vector.Float8Vector;
import org.apache.arrow.vector.IntVector;
import org.apache.arrow.vector.VarCharVector;
import org.apache.arrow.vector.complex.ListVector;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.sparknative.kernels.llama.Tokenizer;
import org.sparknative.udf.InvalidRowException;
import org.sparknative.udf.RowLabels;
import org.sparknative.udf.Seeds;

/**
 * The vectorized text-generation UDF: an Arrow record batch of prompts in, a record batch of
 * completions out, through a task's {@link GenerationScheduler} (its own {@link ContinuousBatcher}, or
 * its client of the executor's {@link SharedDecodeLoop}).
 *
 * <p>Input vectors: {@code prompt} (Utf8, required) and optional per-row {@code max_new_tokens} (Int),
 * {@code temperature}, {@code top_p} (Float4), {@code seed} (BigInt), {@code top_k} (Int) and
 * {@code repetition_penalty} (Float4), {@code stop} (List of Utf8: the row's stop strings); a null or absent value takes
 * the default. Where the scheduler reads off-heap prompts (the per-task native backend), the prompt's UTF-8
 * bytes are handed over as their address in the Arrow data buffer, so the native tokenizer reads them where
 * Arrow stored them (no copy, no Java String); the Java reference tokenizer and the shared decode loop get
 * a copy.
 *
 * <p>Output ({@link #OUTPUT_COLUMNS}): {@code completion} Utf8 (null on error), {@code prompt_tokens}
 * and {@code completion_tokens} Int, {@code finish_reason} Utf8 ({@link FinishReason}: {@code stop},
 * {@code length} or {@code error: ...}), {@code ttft_ms} and {@code latency_ms} Float8 (from the row taking a batch slot;
 * wall-clock, so not deterministic, unlike the text). Invalid UTF-8 in a completion is replaced by
 * U+FFFD. A null prompt or a per-row setting out of range ({@code temperature < 0}, {@code top_p} outside
 * (0, 1], {@code max_new_tokens < 0}, {@code top_k < 0}, {@code repetition_penalty <= 0}) makes an error row: null completion, {@code finish_reason} naming
 * the field and the value; the other rows go on.
 *
 * <p>Seeds: a row's {@code seed} if given, else {@code mix(jobSeed, rowKey)} where {@code rowKey} is the
 * row's id when the caller has one, else a hash of the prompt bytes: never the row's place in a
 * partition, so output does not depend on partitioning and task retries reproduce it.
 */
public final class GenerateUdf {
    /** @return row {@code i}'s stop strings (its list's non-null elements) */
    private static List<String> stops(ListVector list, int i) {
        VarCharVector values = (VarCharVector) list.getDataVector();
        List<String> out = new java.util.ArrayList<>();
        for (int j = list.getElementStartIndex(i); j < list.getElementEndIndex(i); j++) {
            if (!values.isNull(j)) {
                out.add(new String(values.get(j), java.nio.charset.StandardCharsets.UTF_8));
            }
        }
        return out;
    }

    /** The output columns, in order. */
    public static final List<String> OUTPUT_COLUMNS = List.of("completion", "prompt_tokens", "completion_tokens",
        "finish_reason", "ttft_ms", "latency_ms");

    private GenerateUdf() {
    }

    /**
     * Optional per-row inputs beside the prompt; any may be null.
     *
     * @param rowId the key of a row's derived seed: its integer {@code id}, or a hash of a string one
     */
    public record Options(IntVector maxNewTokens, Float4Vector temperature, Float4Vector topP, BigIntVector seed,
                          BigIntVector rowId, IntVector topK, Float4Vector repetitionPenalty, ListVector stop) {
        /** Without per-row top-k, repetition penalty and stop strings. */
        public Options(IntVector maxNewTokens, Float4Vector temperature, Float4Vector topP, BigIntVector seed,
                       BigIntVector rowId) {
            this(maxNewTokens, temperature, topP, seed, rowId, null, null, null);
        }

        public static Options none() {
            return new Options(null, null, null, null, null);
        }
    }

    /**
     * Generates one completion per prompt.
     *
     * @param prompts   the prompts
     * @param perRow    optional per-row settings
     * @param defaults  settings for rows without their own; its seed is the job seed
     * @param batcher   the task's scheduler
     * @param allocator allocates the output (the caller closes the returned root)
     * @param labels    names the batch's rows in error messages
     * @param progress  told of each finished row, may be null
     * @return a root with {@link #OUTPUT_COLUMNS}, row count equal to the input's
     * @throws InvalidRowException under {@code --long-prompts fail}, for a prompt longer than the context
     */
    public static VectorSchemaRoot apply(VarCharVector prompts, Options perRow, GenerationParams defaults,
                                         GenerationScheduler batcher, BufferAllocator allocator, RowLabels labels,
                                         GenerationScheduler.Progress progress) {
        int rows = prompts.getValueCount();
        long data = prompts.getDataBuffer().memoryAddress();
        long capacity = prompts.getDataBuffer().capacity();
        boolean offHeap = batcher.readsOffHeap();
        GenerationScheduler.Request[] requests = new GenerationScheduler.Request[rows];
        for (int i = 0; i < rows; i++) {
            boolean isNull = prompts.isNull(i);
            long start = isNull ? 0 : prompts.getStartOffset(i);
            int len = isNull ? 0 : prompts.getValueLength(i);
            GenerationParams p;
            try {
                p = new GenerationParams(
                    perRow.maxNewTokens() != null && !perRow.maxNewTokens().isNull(i) ? perRow.maxNewTokens().get(i)
                        : defaults.maxNewTokens(),
                    perRow.temperature() != null && !perRow.temperature().isNull(i) ? perRow.temperature().get(i)
                        : defaults.temperature(),
                    perRow.topP() != null && !perRow.topP().isNull(i) ? perRow.topP().get(i) : defaults.topP(),
                    rowSeed(prompts, i, isNull, start, len, perRow, defaults.seed()),
                    perRow.topK() != null && !perRow.topK().isNull(i) ? perRow.topK().get(i) : defaults.topK(),
                    perRow.repetitionPenalty() != null && !perRow.repetitionPenalty().isNull(i)
                        ? perRow.repetitionPenalty().get(i) : defaults.repetitionPenalty(),
                    perRow.stop() != null && !perRow.stop().isNull(i) ? stops(perRow.stop(), i) : defaults.stop());
            } catch (IllegalArgumentException e) {
                // A bad per-row setting is an error row, like a null prompt: the message names the field and value.
                requests[i] = GenerationScheduler.Request.invalid(e.getMessage());
                continue;
            }
            if (isNull) {
                requests[i] = GenerationScheduler.Request.nullPrompt();
            } else {
                if (start < 0 || len < 0 || start + len > capacity) {
                    throw new IllegalArgumentException("prompt bytes [" + start + ", " + (start + len)
                        + ") outside the Arrow data buffer of " + capacity + " bytes");
                }
                requests[i] = offHeap ? GenerationScheduler.Request.offHeap(data + start, len, p)
                    : GenerationScheduler.Request.of(prompts.get(i), p);
            }
        }
        GenerationScheduler.Result[] results = batcher.run(requests, labels, progress);

        VarCharVector completion = new VarCharVector("completion", allocator);
        IntVector promptTokens = new IntVector("prompt_tokens", allocator);
        IntVector completionTokens = new IntVector("completion_tokens", allocator);
        VarCharVector finish = new VarCharVector("finish_reason", allocator);
        Float8Vector ttft = new Float8Vector("ttft_ms", allocator);
        Float8Vector latency = new Float8Vector("latency_ms", allocator);
        List<FieldVector> vectors = List.of(completion, promptTokens, completionTokens, finish, ttft, latency);
        try {
            for (FieldVector v : vectors) {
                v.setInitialCapacity(rows);
                v.allocateNew();
            }
            for (int i = 0; i < rows; i++) {
                GenerationScheduler.Result r = results[i];
                if (r.completion() == null) {
                    completion.setNull(i);
                } else {
                    completion.setSafe(i, Tokenizer.decodeUtf8(r.completion()).getBytes(StandardCharsets.UTF_8));
                }
                promptTokens.setSafe(i, r.promptTokens());
                completionTokens.setSafe(i, r.completionTokens());
                finish.setSafe(i, r.finishReason().toString().getBytes(StandardCharsets.UTF_8));
                if (Double.isNaN(r.ttftMs())) {
                    ttft.setNull(i);
                } else {
                    ttft.setSafe(i, r.ttftMs());
                }
                latency.setSafe(i, r.latencyMs());
            }
            VectorSchemaRoot root = new VectorSchemaRoot(vectors);
            root.setRowCount(rows);
            return root;
        } catch (RuntimeException | Error e) {
            vectors.forEach(FieldVector::close);
            throw e;
        }
    }

    private static long rowSeed(VarCharVector prompts, int i, boolean isNull, long start, int len, Options perRow,
                                long jobSeed) {
        if (perRow.seed() != null && !perRow.seed().isNull(i)) {
            return perRow.seed().get(i);
        }
        long key;
        if (perRow.rowId() != null && !perRow.rowId().isNull(i)) {
            key = perRow.rowId().get(i);
        } else if (isNull) {
            key = 0;
        } else {
            // FNV-1a over the prompt bytes, read in place.
            long h = Seeds.FNV1A_OFFSET;
            for (int k = 0; k < len; k++) {
                h = Seeds.fnv1a(h, prompts.getDataBuffer().getByte(start + k));
            }
            key = h;
        }
        return Seeds.mix(jobSeed * 0x9E3779B97F4A7C15L + key);
    }
}

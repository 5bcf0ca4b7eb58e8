package org.sparknative.udf.bench;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.vector.IntVector;
import org.apache.arrow.vector.VarCharVector;
import org.apache.arrow.vector.VectorSchemaRoot;
import org.sparknative.kernels.llama.Checkpoint;
import org.sparknative.kernels.llama.NativeLlamaModel;
import org.sparknative.kernels.llama.NativeTokenizer;
import org.sparknative.kernels.llama.Tokenizer;
import org.sparknative.udf.Backend;
import org.sparknative.udf.BadRowPolicy;
import org.sparknative.udf.ExecutorRuntime;
import org.sparknative.udf.RowLabels;
import org.sparknative.udf.generate.ContinuousBatcher;
import org.sparknative.udf.generate.DecodeBackend;
import org.sparknative.udf.generate.GenerateUdf;
import org.sparknative.udf.generate.GenerationParams;
import org.sparknative.udf.generate.JavaTokenCodec;
import org.sparknative.udf.generate.NativeBackend;
import org.sparknative.udf.generate.NativeTokenCodec;
import org.sparknative.udf.generate.ReferenceBackend;
import org.sparknative.udf.generate.TokenCodec;

/**
 * Generation throughput through the same UDF classes the Spark job uses ({@link GenerateUdf} over a
 * {@link ContinuousBatcher}), without Spark: runs where only a JRE is installed. For each backend, slot
 * count (KV cache slots, {@code --slots}) and thread count it generates {@code slots * rounds} sequences of {@code tokens} new tokens from
 * short prompts (greedy, so every sequence runs to its budget unless it samples BOS/EOS) and reports
 * completion tokens per second. One untimed warm-up run precedes each timed one.
 *
 * <p>Not thread-safe; a command-line tool.
 */
public final class GenerateBenchmark {
    private GenerateBenchmark() {
    }

    /** One measured configuration. */
    public record Row(String model, String backend, int slots, int threads, long sequences, long tokens, double seconds,
                      double tokensPerSecond, double tokensPerSecondPerThread) {
    }

    /**
     * @param checkpoint  model file
     * @param tokenizer   tokenizer file
     * @param label       model name for the report
     * @param slotCounts  slot counts to measure
     * @param threads     thread counts to measure (native backend)
     * @param tokens      new tokens per sequence
     * @param rounds      sequences per slot
     * @param javaSlots   slot counts for the Java reference (1 thread)
     */
    public static List<Row> run(Path checkpoint, Path tokenizer, String label, int[] slotCounts, int[] threads, int tokens,
                                int rounds, int[] javaSlots) {
        ExecutorRuntime.ensureNativeLoaded();
        Checkpoint ckpt = Checkpoint.open(checkpoint);
        int vocab = ckpt.config().vocabSize();
        List<Row> rows = new ArrayList<>();
        try (NativeLlamaModel model = NativeLlamaModel.map(ckpt);
             NativeTokenizer ntok = NativeTokenizer.load(tokenizer, vocab);
             BufferAllocator alloc = ExecutorRuntime.newTaskAllocator("generate benchmark")) {
            TokenCodec nativeCodec = new NativeTokenCodec(ntok);
            for (int t : threads) {
                for (int b : slotCounts) {
                    int prefill = 64;
                    rows.add(measure(label, Backend.CPU, b, t, tokens, rounds, alloc, nativeCodec,
                        () -> new NativeBackend(model, b, b + prefill, t), prefill));
                }
            }
            TokenCodec javaCodec = new JavaTokenCodec(Tokenizer.load(tokenizer, vocab));
            for (int b : javaSlots) {
                rows.add(measure(label, Backend.JAVA, b, 1, tokens, rounds, alloc, javaCodec,
                    () -> new ReferenceBackend(ckpt, b, b + 64), 64));
            }
        }
        return rows;
    }

    private interface BackendFactory {
        DecodeBackend create();
    }

    private static Row measure(String label, Backend backend, int slots, int threads, int tokens, int rounds,
                               BufferAllocator alloc, TokenCodec codec, BackendFactory factory, int prefill) {
        int sequences = slots * rounds;
        long generated = 0;
        double secs = 0;
        for (int rep = 0; rep < 2; rep++) {
            try (DecodeBackend be = factory.create();
                 VarCharVector prompts = new VarCharVector("prompt", alloc)) {
                int n = rep == 0 ? Math.min(sequences, slots) : sequences;
                prompts.allocateNew(n);
                for (int i = 0; i < n; i++) {
                    prompts.setSafe(i, ("Once upon a time, story " + i).getBytes(StandardCharsets.UTF_8));
                }
                prompts.setValueCount(n);
                ContinuousBatcher batcher = new ContinuousBatcher(be, codec, BadRowPolicy.TRUNCATE, prefill);
                long t0 = System.nanoTime();
                try (VectorSchemaRoot out = GenerateUdf.apply(prompts, GenerateUdf.Options.none(),
                    new GenerationParams(tokens, 0f, 1f, 1), batcher, alloc, RowLabels.positions(0), null)) {
                    secs = (System.nanoTime() - t0) / 1e9;
                    IntVector ct = (IntVector) out.getVector("completion_tokens");
                    generated = 0;
                    for (int i = 0; i < n; i++) {
                        generated += ct.get(i);
                    }
                }
            }
        }
        double tps = generated / secs;
        return new Row(label, backend.label(), slots, threads, sequences, generated, secs, tps, tps / threads);
    }

    /** Formats rows as a plain-text table, with each row's speedup per thread over its 1-slot row. */
    public static String table(List<Row> rows) {
        StringBuilder sb = new StringBuilder(String.format(Locale.ROOT, "%-22s %-15s %5s %7s %8s %9s %11s %18s%n",
            "model", "backend", "slots", "threads", "tokens", "seconds", "tokens/s", "x 1-slot / thread"));
        for (Row r : rows) {
            double base = rows.stream().filter(o -> o.model().equals(r.model()) && o.backend().equals(r.backend())
                && o.threads() == r.threads() && o.slots() == 1).mapToDouble(Row::tokensPerSecondPerThread).findFirst()
                .orElse(Double.NaN);
            sb.append(String.format(Locale.ROOT, "%-22s %-15s %5d %7d %8d %9.2f %11.1f %18s%n", r.model(), r.backend(),
                r.slots(), r.threads(), r.tokens(), r.seconds(), r.tokensPerSecond(),
                Double.isNaN(base) ? "-" : String.format(Locale.ROOT, "%.2fx", r.tokensPerSecondPerThread() / base)));
        }
        return sb.toString();
    }
}

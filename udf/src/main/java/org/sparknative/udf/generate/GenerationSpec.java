package org.sparknative.udf.generate;

import java.io.Serializable;
import java.util.Objects;
import org.sparknative.kernels.cuda.MatmulMode;
import org.sparknative.kernels.llama.KvCacheType;
import org.sparknative.udf.Backend;
import org.sparknative.udf.BadRowPolicy;

/**
 * The settings of a generation run, shipped from the driver to each task. A plain value: it checks its
 * fields and does nothing else ({@link GenerationPipeline} builds a task's scheduler from it).
 *
 * @param checkpoint           the model as the user named it (a path, a file shipped with {@code --files}, or a
 *                             Hadoop filesystem URI): a llama2.c checkpoint or a GGUF file; the Spark layer
 *                             resolves it on each executor
 * @param tokenizer            its llama2.c {@code tokenizer.bin}, named the same way; null for a GGUF model's
 *                             own tokenizer (given, it overrides that one)
 * @param backend              where the forward pass runs
 * @param slots                concurrent sequences per task (KV cache slots), {@code >= 1}
 * @param prefillTokensPerStep prompt tokens fed per step beside the decode rows, {@code >= 1}
 * @param threads              threads per task for the native backend, {@code >= 0}; 0 means the task's
 *                             CPUs ({@code spark.task.cpus}), resolved where the task runs
 * @param longPrompts          what a prompt longer than the context does: {@code fail}, {@code row-error}
 *                             or {@code truncate}
 * @param checkpointSha256     the checkpoint's expected SHA-256 (64 lower-case hex digits), checked when an
 *                             executor copies it from a remote filesystem; null checks the length only
 * @param tokenizerSha256      the same for the tokenizer
 * @param matmul               the CUDA backend's matrix products ({@code spark.sparknative.cuda.matmul}):
 *                             {@link MatmulMode#INVARIANT} (the default; a row's tokens do not depend on its
 *                             batch) or {@link MatmulMode#CUBLAS} (faster, not batch-invariant)
 * @param contextLength        positions each sequence may use (the KV cache length per slot, prompt plus
 *                             completion), {@code >= 0}; 0 means the model's own ({@code seq_len} of a llama2.c
 *                             checkpoint, {@code llama.context_length} of a GGUF file)
 * @param kvCache              the KV cache's element type for the {@code cpu} and {@code java} backends
 *                             ({@link KvCacheType#AUTO}: F16 for GGUF models, F32 for llama2.c checkpoints)
 */
public record GenerationSpec(String checkpoint, String tokenizer, Backend backend, int slots,
                             int prefillTokensPerStep, int threads, BadRowPolicy longPrompts, String checkpointSha256,
                             String tokenizerSha256, MatmulMode matmul, int contextLength,
                             KvCacheType kvCache) implements Serializable {
    /** The default prefill budget per step, in prompt tokens. */
    public static final int DEFAULT_PREFILL_TOKENS = 64;
    /** The default number of KV cache slots per task. */
    public static final int DEFAULT_SLOTS = 32;

    /** Checks the settings; the message names the setting. */
    public GenerationSpec {
        Objects.requireNonNull(checkpoint, "checkpoint");
        Objects.requireNonNull(backend, "backend");
        Objects.requireNonNull(matmul, "matmul");
        Objects.requireNonNull(kvCache, "kvCache");
        BadRowPolicy.LONG_PROMPTS.check(Objects.requireNonNull(longPrompts, "longPrompts"));
        if (slots < 1) {
            throw new IllegalArgumentException("slots must be >= 1, got " + slots);
        }
        if (prefillTokensPerStep < 1) {
            throw new IllegalArgumentException("prefill tokens per step must be >= 1, got " + prefillTokensPerStep);
        }
        for (String sha : new String[] {checkpointSha256, tokenizerSha256}) {
            if (sha != null && !sha.matches("[0-9a-f]{64}")) {
                throw new IllegalArgumentException("a SHA-256 must be 64 lower-case hex digits, got '" + sha + "'");
            }
        }
        if (contextLength < 0) {
            throw new IllegalArgumentException("context must be >= 0 (0: the model's), got " + contextLength);
        }
        if (threads < 0) {
            throw new IllegalArgumentException("threads must be >= 0 (0: spark.task.cpus), got " + threads);
        }
    }

    /** A spec with the default (batch-invariant) CUDA matmul. */
    public GenerationSpec(String checkpoint, String tokenizer, Backend backend, int slots, int prefillTokensPerStep,
                          int threads, BadRowPolicy longPrompts, String checkpointSha256, String tokenizerSha256) {
        this(checkpoint, tokenizer, backend, slots, prefillTokensPerStep, threads, longPrompts, checkpointSha256,
            tokenizerSha256, MatmulMode.INVARIANT, 0, KvCacheType.AUTO);
    }

    /** A spec without expected checksums (files are checked by length). */
    public GenerationSpec(String checkpoint, String tokenizer, Backend backend, int slots, int prefillTokensPerStep,
                          int threads, BadRowPolicy longPrompts) {
        this(checkpoint, tokenizer, backend, slots, prefillTokensPerStep, threads, longPrompts, null, null, MatmulMode.INVARIANT,
            0, KvCacheType.AUTO);
    }

    /** @return this spec with {@code slots} KV cache slots */
    public GenerationSpec withSlots(int slots) {
        return new GenerationSpec(checkpoint, tokenizer, backend, slots, prefillTokensPerStep, threads, longPrompts,
            checkpointSha256, tokenizerSha256, matmul, contextLength, kvCache);
    }

    /** @return this spec on {@code backend} */
    public GenerationSpec withBackend(Backend backend) {
        return new GenerationSpec(checkpoint, tokenizer, backend, slots, prefillTokensPerStep, threads, longPrompts,
            checkpointSha256, tokenizerSha256, matmul, contextLength, kvCache);
    }

    /** @return this spec with the CUDA backend's matmul {@code mode} */
    public GenerationSpec withMatmul(MatmulMode mode) {
        return new GenerationSpec(checkpoint, tokenizer, backend, slots, prefillTokensPerStep, threads, longPrompts,
            checkpointSha256, tokenizerSha256, mode, contextLength, kvCache);
    }

    /** @return this spec with a context of {@code contextLength} positions per sequence (0: the model's) */
    public GenerationSpec withContext(int contextLength) {
        return new GenerationSpec(checkpoint, tokenizer, backend, slots, prefillTokensPerStep, threads, longPrompts,
            checkpointSha256, tokenizerSha256, matmul, contextLength, kvCache);
    }

    /** @return this spec with a KV cache of {@code kvCache} */
    public GenerationSpec withKvCache(KvCacheType kvCache) {
        return new GenerationSpec(checkpoint, tokenizer, backend, slots, prefillTokensPerStep, threads, longPrompts,
            checkpointSha256, tokenizerSha256, matmul, contextLength, kvCache);
    }

    /** @return this spec with the files' expected SHA-256s (null: length only) */
    public GenerationSpec withSha256(String checkpointSha256, String tokenizerSha256) {
        return new GenerationSpec(checkpoint, tokenizer, backend, slots, prefillTokensPerStep, threads, longPrompts,
            checkpointSha256, tokenizerSha256, matmul, contextLength, kvCache);
    }
}

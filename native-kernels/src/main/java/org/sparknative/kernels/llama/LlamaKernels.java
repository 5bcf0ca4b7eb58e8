package org.sparknative.kernels.llama;

import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.annotation.Cast;
import org.bytedeco.javacpp.annotation.Const;
import org.bytedeco.javacpp.annotation.Name;
import org.bytedeco.javacpp.annotation.Platform;
import org.sparknative.kernels.NativeLibrary;
import org.sparknative.kernels.NativeStatus;

/**
 * Raw JNI bindings of the llama C kernels ({@code sn_llama.h}, {@code sn_tokenizer.h},
 * {@code sn_sampler.h}). Handles are {@code long} values holding native pointers; arrays are either Java
 * arrays (copied in and out by JavaCPP) or raw addresses.
 *
 * <p>Status codes: the model, batch and sampler functions return a {@link NativeStatus} code
 * ({@code sn_status.h}); the tokenizer functions return {@code TOK_ERR_*}.
 *
 * <p>Prefer {@link NativeLlamaModel}, {@link NativeLlamaBatch} and {@link NativeTokenizer}, which validate
 * every argument and own the handles. These entry points exist for callers that hand over off-heap buffers
 * (Arrow) directly: the C side re-checks indices and ranges it can check (token, position, slot, row
 * counts) and returns an error code instead of crashing, but it cannot check that an address points at
 * enough memory, nor that a handle is live.
 *
 * <p>Threading: model and tokenizer handles are immutable and may be shared by any number of threads; a
 * batch handle must be used by one thread at a time. The class loads its JNI library in its static
 * initializer, so the first call from any thread loads it, once per JVM (see {@link NativeLibrary}).
 */
@Platform(include = {"sn_status.h", "sn_pool.h", "sn_sampler.h", "sn_tokenizer.h", "sn_llama.h"})
public final class LlamaKernels {
    // The model, batch and sampler functions return a NativeStatus code (sn_status.h). The tokenizer
    // (sn_tokenizer.h) still has its own codes:

    /** Tokenizer: malformed file (message in the error buffer). */
    public static final int TOK_ERR_FORMAT = -1;
    /** Tokenizer: native allocation failed. */
    public static final int TOK_ERR_NOMEM = -2;
    /**
     * Tokenizer encode: a byte needs a byte-fallback token (id byte + 3, piece {@code <0xXX>}) the vocabulary
     * lacks; the output's entries 0 and 1 hold the byte's offset in the text and the byte.
     */
    public static final int TOK_ERR_BYTE = -3;
    /** Tokenizer: bad argument. */
    public static final int TOK_ERR_ARG = -4;

    static {
        NativeLibrary.load(LlamaKernels.class);
        NativeLibrary.recordLoad(LlamaKernels.class);
    }

    private LlamaKernels() {
    }

    // ---- model ------------------------------------------------------------------------------------

    /**
     * mmaps {@code path} read-only. {@code cfg}: dim, hidden, layers, heads, kv_heads, vocab, seq;
     * {@code offsets}: the byte offset of every {@link Tensor} in declaration order; {@code out[0]}
     * receives the handle, {@code out[1]} errno or the actual length on failure.
     *
     * @return a {@link NativeStatus} code: {@code OK}, or why the mapping failed
     */
    @Name("sn_llama_model_map")
    public static native int modelMap(String path, @Cast("int64_t") long expectedBytes, @Cast("const int32_t*") int[] cfg,
                                      @Cast("const int64_t*") long[] offsets, @Cast("int64_t*") long[] out);

    /**
     * mmaps a GGUF file of the llama architecture read-only. {@code cfg}: as {@link #modelMap} ({@code seq}: the
     * context to run); {@code params}: RMSNorm epsilon, RoPE base; {@code offsets} and {@code types}
     * ({@code Tensor.values().length * layers} each): entry {@code t * layers + l} is the absolute byte offset and
     * the ggml type id of {@link Tensor} ordinal {@code t} in layer {@code l} (see {@link GgufLlama}); {@code out}
     * as {@link #modelMap}.
     *
     * @return a {@link NativeStatus} code: {@code OK}, {@code ERR_CONFIG} for a shape, type or layout the C side
     *         rejects, or why the mapping failed
     */
    @Name("sn_llama_model_map_gguf")
    public static native int modelMapGguf(String path, @Cast("int64_t") long expectedBytes,
                                          @Cast("const int32_t*") int[] cfg, @Cast("const float*") float[] params,
                                          @Cast("const int64_t*") long[] offsets, @Cast("const int32_t*") int[] types,
                                          @Cast("int64_t*") long[] out);

    /**
     * @param tensor a {@link Tensor} ordinal, or {@code Tensor.values().length} for the RoPE table
     *               ({@code [seqLen][headSize]} floats: cos, sin of each even index)
     * @return the host address of that tensor's first float in the mapping (or of the table); 0 for an
     *         unknown index. Valid while the model is mapped.
     */
    @Name("sn_llama_model_address")
    public static native @Cast("int64_t") long modelAddress(@Cast("int64_t") long model, @Cast("int32_t") int tensor);

    /** Unmaps and frees a model handle (no batch may use it any more). */
    @Name("sn_llama_model_free")
    public static native void modelFree(@Cast("int64_t") long model);

    // ---- batch ------------------------------------------------------------------------------------

    /**
     * Allocates a batch (KV cache and scratch); {@code out[0]} receives the handle.
     *
     * @param kvF16 1: the KV cache holds IEEE binary16 elements, 0: float
     * @return {@link NativeStatus#OK}, {@link NativeStatus#ERR_ARG} or {@link NativeStatus#ERR_NOMEM}
     */
    @Name("sn_llama_batch_new")
    public static native int batchNew(@Cast("int64_t") long model, int maxSlots, int maxRows, int kvF16,
                                      @Cast("int64_t*") long[] out);

    /** Frees a batch handle. */
    @Name("sn_llama_batch_free")
    public static native void batchFree(@Cast("int64_t") long batch);

    /**
     * Hands back the KV cache pages of a slot whose sequence ended ({@code madvise(MADV_DONTNEED)} on the whole
     * pages of its regions).
     *
     * @return the bytes handed back, or -1 for a bad slot
     */
    @Name("sn_llama_batch_release_slot")
    public static native @Cast("int64_t") long batchReleaseSlot(@Cast("int64_t") long batch, int slot);

    /** @return the address of the batch's {@code [maxRows][vocab]} float logits buffer */
    @Name("sn_llama_batch_logits")
    public static native @Cast("int64_t") long batchLogits(@Cast("int64_t") long batch);

    /** Instruction-set path (the {@code SIMD_*} levels of {@link #simdDefault} and friends): the portable code, SSE2. */
    public static final int SIMD_GENERIC = 0;
    /** Instruction-set path: AVX2. */
    public static final int SIMD_AVX2 = 1;
    /** Instruction-set path: AVX-512 (F, BW, VL) with VNNI. */
    public static final int SIMD_AVX512_VNNI = 2;

    /**
     * @param level a {@code SIMD_*} level
     * @return its name as reports give it: {@code sse2}, {@code avx2} or {@code avx512-vnni} (also the values the
     *         environment variable {@code SPARKNATIVE_SIMD} takes)
     */
    public static String simdName(int level) {
        return switch (level) {
            case SIMD_GENERIC -> "sse2";
            case SIMD_AVX2 -> "avx2";
            case SIMD_AVX512_VNNI -> "avx512-vnni";
            default -> throw new IllegalArgumentException("no SIMD level " + level);
        };
    }

    /** @return the best {@code SIMD_*} path this CPU supports, whatever {@code SPARKNATIVE_SIMD} says */
    @Name("sn_llama_simd_supported")
    public static native int simdSupported();

    /**
     * @return the {@code SIMD_*} path a batch runs by default: {@link #simdSupported}, lowered by the environment
     *         variable {@code SPARKNATIVE_SIMD} ({@code avx512-vnni}, {@code avx2} or {@code sse2}) if that names a
     *         lower one. Every path gives the same bits.
     */
    @Name("sn_llama_simd_default")
    public static native int simdDefault();

    /**
     * Tests and measurements: the highest {@code SIMD_*} path this batch may run, or -1 for {@link #simdDefault}.
     *
     * @return {@link NativeStatus#OK}, or {@link NativeStatus#ERR_ARG} for another level
     */
    @Name("sn_llama_batch_limit_simd")
    public static native int batchLimitSimd(@Cast("int64_t") long batch, int level);

    /** @return the {@code SIMD_*} path {@link #forward} runs this batch on */
    @Name("sn_llama_batch_simd")
    public static native int batchSimd(@Cast("int64_t") long batch);

    /**
     * The rows of one forward step: the C struct {@code sn_llama_step} (in the shape of llama.cpp's
     * {@code llama_batch}). Row {@code i} feeds {@code token[i]} at position {@code pos[i]} of sequence slot
     * {@code slot[i]}; the rows whose {@code logits[i]} is nonzero get logits, in row order (logits row
     * {@code k} belongs to the {@code k}-th such row); a null {@code logits} means none. The struct only
     * points at the four arrays of {@code nRows} entries each, which the caller owns and keeps alive across
     * {@link #forward}. {@link #close()} frees the struct, not the arrays.
     */
    @Name("sn_llama_step")
    public static class Step extends Pointer {
        static {
            NativeLibrary.load(Step.class);
        }

        /** Allocates a zeroed descriptor: no rows, null arrays. */
        public Step() {
            allocate();
        }

        private native void allocate();

        /** @return the row count */
        @Name("n_rows")
        public native int nRows();

        /** Sets the row count. */
        @Name("n_rows")
        public native Step nRows(int nRows);

        /** @return the int32 token ids, one per row */
        public native @Cast("const int32_t*") IntPointer token();

        /** Points at the int32 token ids, one per row. */
        public native Step token(@Cast("const int32_t*") IntPointer token);

        /** @return the int32 positions, one per row */
        public native @Cast("const int32_t*") IntPointer pos();

        /** Points at the int32 positions, one per row. */
        public native Step pos(@Cast("const int32_t*") IntPointer pos);

        /** @return the int32 sequence slots, one per row */
        public native @Cast("const int32_t*") IntPointer slot();

        /** Points at the int32 sequence slots, one per row. */
        public native Step slot(@Cast("const int32_t*") IntPointer slot);

        /** @return the int8 "needs logits" flags, one per row */
        public native @Cast("const int8_t*") BytePointer logits();

        /** Points at the int8 "needs logits" flags, one per row, or clears them (null: no row gets logits). */
        public native Step logits(@Cast("const int8_t*") BytePointer logits);
    }

    /**
     * One forward step over the rows {@code step} describes (see {@link NativeLlamaBatch#forward}, which
     * validates everything first and builds the descriptor).
     *
     * @return {@link NativeStatus#OK} or {@link NativeStatus#ERR_ARG} (nothing computed)
     */
    @Name("sn_llama_forward")
    public static native int forward(@Cast("int64_t") long batch, @Const Step step, int threads);

    /**
     * Samples from logits row {@code k} of the batch's last forward; the logits are left untouched.
     *
     * @return the token, or {@link NativeStatus#ERR_ARG}
     */
    @Name("sn_llama_batch_sample")
    public static native int batchSample(@Cast("int64_t") long batch, int k, float temperature, float topp,
                                         @Cast("uint64_t*") long[] rngState);

    /**
     * {@link #batchSample} after llama.cpp's repetition penalty over {@code recent[0 .. nRecent)} and top-k
     * ({@code sn_sample_filtered} in {@code sn_sampler.h}; {@link Sampler#penalizeRepeats}, {@link Sampler#topK}).
     *
     * @return the token, or {@link NativeStatus#ERR_ARG}
     */
    @Name("sn_llama_batch_sample_filtered")
    public static native int batchSampleFiltered(@Cast("int64_t") long batch, int k, float temperature, float topp,
                                                 int topK, float penalty, @Cast("const int32_t*") int[] recent,
                                                 int nRecent, @Cast("uint64_t*") long[] rngState);

    /**
     * llama2.c's sampler over {@code n} float logits at {@code logits} (left untouched). Scratch:
     * {@code probs} holds {@code n} floats, {@code probIndex} {@code 2n} 8-byte entries.
     *
     * @return a token in {@code [0, n)}, or {@link NativeStatus#ERR_ARG} if {@code n <= 0}
     */
    @Name("sn_sample")
    public static native int sample(@Cast("const float*") long logits, int n, float temperature, float topp,
                                    @Cast("uint64_t*") long[] rngState, @Cast("float*") long probs,
                                    @Cast("sn_prob_index*") long probIndex);

    /**
     * {@link #sample} after llama.cpp's repetition penalty over {@code recent[0 .. nRecent)} and top-k
     * ({@code sn_sample_filtered}); the logits are left untouched. Scratch as {@link #sample}.
     *
     * @return a token in {@code [0, n)}, or {@link NativeStatus#ERR_ARG} if {@code n <= 0}
     */
    @Name("sn_sample_filtered")
    public static native int sampleFiltered(@Cast("const float*") long logits, int n, float temperature, float topp,
                                            int topK, float penalty, @Cast("const int32_t*") int[] recent, int nRecent,
                                            @Cast("uint64_t*") long[] rngState, @Cast("float*") long probs,
                                            @Cast("sn_prob_index*") long probIndex);

    // ---- typed kernels, tests only ---------------------------------------------------------------------

    /**
     * Tests only: {@code y [n_in][rows] = W x} for a typed matrix {@code w} ({@code rows} rows of {@code n}
     * elements of ggml type {@code type}: F32, F16, BF16, Q8_0, Q4_0) and {@code x [nIn][n]}, through the forward
     * pass's kernels (Q8_0/Q4_0 quantize {@code x} to Q8_0 first), on the {@code SIMD_*} path {@code maxSimd}, or
     * {@link #simdSupported} where that is lower ({@code SPARKNATIVE_SIMD} does not apply).
     *
     * @return the {@code SIMD_*} path that ran, or a negative {@link NativeStatus} code
     */
    @Name("sn_llama_test_matmul")
    public static native int testMatmul(int type, @Cast("const unsigned char*") byte[] w, int rows, int n, float[] x,
                                        int nIn, float[] y, int maxSimd);

    /** Tests only: {@code n} floats (a multiple of 32) to Q8_0 blocks in {@code dst}, as the forward pass does. */
    @Name("sn_llama_test_quantize_q8_0")
    public static native void testQuantizeQ8_0(float[] x, int n, @Cast("unsigned char*") byte[] dst);

    /** Tests only: the forward pass's float to binary16 conversion (bits in the low 16). */
    @Name("sn_llama_test_f32_to_f16")
    public static native int testF32ToF16(float f);

    /** Tests only: the forward pass's binary16 (low 16 bits) to float conversion. */
    @Name("sn_llama_test_f16_to_f32")
    public static native float testF16ToF32(int h);

    // ---- tokenizer --------------------------------------------------------------------------------

    /**
     * Parses a tokenizer.bin image of {@code length} bytes at {@code data} holding exactly {@code vocab}
     * entries; {@code out[0]} receives the handle; on failure {@code err} receives a NUL-terminated message.
     */
    @Name("sn_tok_create")
    public static native int tokCreate(@Cast("const unsigned char*") long data, @Cast("int64_t") long length, int vocab,
                                       @Cast("int64_t*") long[] out, @Cast("char*") byte[] err, int errCapacity);

    /** Frees a tokenizer handle. */
    @Name("sn_tok_free")
    public static native void tokFree(@Cast("int64_t") long tokenizer);

    /** @return the longest token in bytes: the most {@link #tokDecode} ever writes */
    @Name("sn_tok_max_len")
    public static native int tokMaxLen(@Cast("int64_t") long tokenizer);

    /** @return the score of token {@code id} (caller checks the range) */
    @Name("sn_tok_score")
    public static native float tokScore(@Cast("int64_t") long tokenizer, int id);

    /**
     * llama2.c encode() of the UTF-8 bytes at {@code text} into {@code out} ({@code length + 3} entries). The
     * text is length-delimited: a NUL byte is encoded as {@code <0x00>}, like any byte without a piece.
     *
     * @return the token count, or a negative {@code TOK_ERR_*} code ({@link #TOK_ERR_BYTE}: {@code out[0]} is
     * the offending byte's offset, {@code out[1]} the byte)
     */
    @Name("sn_tok_encode")
    public static native int tokEncode(@Cast("int64_t") long tokenizer, @Cast("const unsigned char*") long text, int length,
                                       int bos, int eos, @Cast("int32_t*") int[] out);

    /** As {@link #tokEncode} into int32 memory at {@code out} ({@code length + 3} entries). */
    @Name("sn_tok_encode")
    public static native int tokEncodeAddresses(@Cast("int64_t") long tokenizer, @Cast("const unsigned char*") long text,
                                                int length, int bos, int eos, @Cast("int32_t*") long out);

    /** As {@link #tokEncode} over a Java byte array of at least {@code length} bytes. */
    @Name("sn_tok_encode")
    public static native int tokEncodeBytes(@Cast("int64_t") long tokenizer, @Cast("const unsigned char*") byte[] text,
                                            int length, int bos, int eos, @Cast("int32_t*") int[] out);

    /** As {@link #tokDecode} into a Java byte array of at least {@code capacity} bytes. */
    @Name("sn_tok_decode")
    public static native int tokDecodeBytes(@Cast("int64_t") long tokenizer, int prevToken, int token,
                                            @Cast("unsigned char*") byte[] dst, int capacity, int printable);

    /**
     * llama2.c decode(prev, token) into {@code capacity} bytes at {@code dst}, length-delimited ({@code <0x00>}
     * is one 0 byte); {@code printable != 0} applies safe_printf()'s filter.
     *
     * @return the byte count, {@code -needed} if {@code capacity} is too small, {@link Integer#MIN_VALUE}
     * for a token outside the vocabulary
     */
    @Name("sn_tok_decode")
    public static native int tokDecode(@Cast("int64_t") long tokenizer, int prevToken, int token,
                                       @Cast("unsigned char*") long dst, int capacity, int printable);
}

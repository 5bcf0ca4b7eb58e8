/*
 * spark-native: batched Llama-2 forward pass over a memory-mapped llama2.c checkpoint or llama GGUF file.
 *
 * Header-only C99 that also compiles as C++ (JavaCPP compiles it into libjniLlamaKernels). No Spark, no
 * Arrow, no Java: handles are int64 values holding pointers, arrays are addresses and lengths.
 *
 * Math: exactly llama2.c's forward() (run.c, karpathy/llama2.c) except for the order of additions inside
 * the dot products of the matmuls and of the attention scores, which use SN_LANES (8) independent float
 * accumulators combined in one fixed order (sn_hsum8), then the tail (n % 8) added sequentially. Every
 * output element is computed by the same sequence of float operations whatever the batch composition, the
 * batch size, the thread count or the instruction set (SSE2, AVX2 or AVX-512, see SN_SIMD_*: the same 8 lanes, as
 * two 4-wide or one 8-wide vector), and the library is built with -ffp-contract=off (no FMA), so results are bitwise
 * reproducible. The remaining dependency is libm: expf (softmax, SiLU) and powf/sinf/cosf (the RoPE table)
 * come from the C library, and glibc picks FMA builds of them at run time on FMA CPUs. They evaluate in
 * double and round to float, so a different last bit across CPUs is possible only in rare rounding-boundary
 * cases; a strict cross-CPU guarantee would need our own expf.
 *
 * Typed weights (GGUF, sn_llama_model_map_gguf): every tensor of every layer has its own pointer and ggml type in
 * the model's weight table (sn_weight). F32 matrices use the kernels above unchanged; llama2.c checkpoints fill the
 * table with F32 entries at the addresses they always had, so their results are the same bits. F16 and BF16 rows
 * are converted exactly to float and accumulated in the same 8 lanes, so such a model gives the bits of the F32 model
 * holding the same values. Q8_0 and Q4_0 follow ggml's CPU backend (ggml-quants.c, its reference quantizer): each
 * matmul input row is quantized to Q8_0 once per step and layer (quantize_row_q8_0_ref: halves rounded away from
 * zero), and each output is sum over blocks in order of (float) isum * (d_w * d_a), isum the exact integer dot of the
 * block: the canonical order of org.sparknative.kernels.gguf.Quants, which every instruction-set path reproduces bit
 * for bit (AVX-512: 16 weight rows in 16 lanes, each lane that same sequence). Norm weights are F32; RMSNorm epsilon
 * and RoPE base come from the file (llama2.c: 1e-5f and 10000).
 *
 * Threading model:
 *   - sn_llama_model: immutable after sn_llama_model_map(); any number of threads may share it.
 *   - sn_llama_batch: owned by one caller thread (one Spark task); not thread-safe. It owns the KV cache
 *     and every scratch buffer, allocated once in sn_llama_batch_new(); a step allocates nothing.
 *   - sn_llama_forward(batch, step, threads): threads <= 1 runs on the calling thread alone. For threads > 1 the
 *     batch's own persistent pool (sn_pool.h: threads - 1 pthreads, created on first use, recreated if the
 *     count changes, joined by sn_llama_batch_free) runs the whole step with the caller as thread 0;
 *     phases are separated by barriers; matmuls split weight rows in contiguous chunks, attention splits
 *     (row, head) items. Waits spin briefly, then yield, then sleep, so oversubscribed cores (several
 *     tasks per executor) degrade gracefully and an idle batch costs no CPU. Nothing is shared between
 *     batches except the read-only model.
 */
#ifndef SN_LLAMA_H
#define SN_LLAMA_H

#include <stdint.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include "sn_status.h"
#include "sn_pool.h"
#include "sn_sampler.h"

static inline void sn_f16_table_ready(void); /* the F16 conversion table, filled before F16 weights are used */

/* Tensor order of the offsets array: the Java enum org.sparknative.kernels.llama.Tensor. */
enum {
    SN_T_TOKEN_EMBEDDING = 0, SN_T_RMS_ATT, SN_T_WQ, SN_T_WK, SN_T_WV, SN_T_WO, SN_T_RMS_FFN,
    SN_T_W1, SN_T_W2, SN_T_W3, SN_T_RMS_FINAL, SN_T_WCLS, SN_T_COUNT
};

#define SN_LANES 8

/*
 * Weight element types: ggml's type ids (ggml.h enum ggml_type), as GGUF stores them. Layouts (ggml-common.h):
 * F32 little-endian floats; F16 IEEE binary16; BF16 the upper half of a float; Q8_0 blocks of 32 elements, 34 bytes
 * (an F16 scale d, then 32 int8 q: element q * d); Q4_0 blocks of 32 elements, 18 bytes (an F16 scale d, then 16
 * bytes: element j < 16 in the low nibble of byte j, element j + 16 in its high nibble, nibble u meaning (u - 8) * d).
 */
#define SN_GGML_F32 0
#define SN_GGML_F16 1
#define SN_GGML_Q4_0 2
#define SN_GGML_Q8_0 8
#define SN_GGML_BF16 30
#define SN_QK 32           /* elements per Q8_0 / Q4_0 block */
#define SN_Q8_0_BYTES 34   /* bytes per Q8_0 block */
#define SN_Q4_0_BYTES 18   /* bytes per Q4_0 block */

/* One tensor of one layer: rows of `cols` elements of `type`, `row_bytes` apart, in the mapping. */
typedef struct sn_weight {
    const unsigned char *data;
    int32_t type;      /* SN_GGML_* */
    int32_t cols;      /* elements per row (a matrix's inputs) */
    int64_t row_bytes; /* bytes per row */
} sn_weight;

/* Bytes of one row of n elements of type, or -1 for an unsupported type or a row that is not whole blocks. */
static inline int64_t sn_row_bytes(int32_t type, int64_t n) {
    switch (type) {
        case SN_GGML_F32: return 4 * n;
        case SN_GGML_F16:
        case SN_GGML_BF16: return 2 * n;
        case SN_GGML_Q8_0: return n % SN_QK == 0 ? n / SN_QK * SN_Q8_0_BYTES : -1;
        case SN_GGML_Q4_0: return n % SN_QK == 0 ? n / SN_QK * SN_Q4_0_BYTES : -1;
        default: return -1;
    }
}

/* 1 for the types whose matmul quantizes its input to Q8_0 first. */
static inline int sn_type_quantized(int32_t type) {
    return type == SN_GGML_Q8_0 || type == SN_GGML_Q4_0;
}

typedef struct sn_llama_model {
    int32_t dim, hidden, n_layers, n_heads, n_kv_heads, vocab, seq_len;
    int32_t head_size; /* dim / n_heads */
    int32_t kv_dim;    /* head_size * n_kv_heads */
    int32_t kv_mul;    /* n_heads / n_kv_heads: query heads per key/value head */
    void *map;
    size_t map_bytes;
    /* The weights, pointers into the mapping. A matrix is [out][in], row-major, as llama2.c stores it. */
    const float *tok_emb;   /* [vocab][dim] */
    const float *rms_att;   /* [n_layers][dim] */
    const float *wq;        /* [n_layers][dim][dim]: n_heads * head_size outputs */
    const float *wk;        /* [n_layers][kv_dim][dim] */
    const float *wv;        /* [n_layers][kv_dim][dim] */
    const float *wo;        /* [n_layers][dim][dim] */
    const float *rms_ffn;   /* [n_layers][dim] */
    const float *w1;        /* [n_layers][hidden][dim] */
    const float *w2;        /* [n_layers][dim][hidden] */
    const float *w3;        /* [n_layers][hidden][dim] */
    const float *rms_final; /* [dim] */
    const float *wcls;      /* [vocab][dim]; the same memory as tok_emb when the classifier is shared */
    /* The pointers above belong to llama2.c checkpoints (sn_llama_model_map) and are NULL for a GGUF model. The
       forward pass reads only `w`, which both loaders fill: w[t * n_layers + l] is tensor t (SN_T_*) of layer l;
       the global tensors (token embedding, final norm, classifier) repeat theirs in every layer's entry. */
    sn_weight *w;   /* [SN_T_COUNT][n_layers] */
    int32_t any_quantized; /* 1 if some matrix is Q8_0 or Q4_0: the batch then keeps Q8_0 activation scratch */
    float rms_eps;   /* RMSNorm epsilon: llama2.c's 1e-5f, or the GGUF file's */
    float rope_base; /* RoPE base: llama2.c's 10000, or the GGUF file's llama.rope.freq_base */
    float *rope; /* [seq_len][head_size/2][2]: cosf, sinf of pos * freq, exactly as llama2.c computes them */
} sn_llama_model;

/* Tensor t (SN_T_*) of layer l. */
#define SN_W(m, t, l) (&(m)->w[(size_t) (t) * (size_t) (m)->n_layers + (size_t) (l)])

/* Floats of the stack buffer an F16 KV cache's attention converts a chunk of positions into (the largest head size). */
#define SN_KV_CHUNK_FLOATS 8192

typedef struct sn_llama_batch {
    const sn_llama_model *m;
    int32_t max_slots, max_rows;
    int32_t simd_cap; /* the highest SN_SIMD_* level this batch may run, or -1 for sn_llama_simd_default()
                         (tests lower it to prove every path gives the same bits) */
    int32_t kv_f16;        /* 1: the caches hold IEEE binary16 (uint16_t) elements, 0: float */
    void *key_cache, *value_cache; /* [layer][slot][pos][kv_dim] of float, or of uint16_t when kv_f16; each an
                                      anonymous mapping of kv_bytes: pages are committed as positions are written
                                      and handed back when a slot's sequence ends (sn_llama_batch_release_slot) */
    size_t kv_bytes;
    float *x, *xb, *q, *k, *v, *hb, *hb2; /* [max_rows][dim | kv_dim | hidden] */
    float *att;                          /* [max_rows][n_heads][seq_len] */
    float *logits;                       /* [max_rows][vocab] */
    unsigned char *xq;                   /* [max_rows][max(dim, hidden) / 32] Q8_0 blocks: matmul inputs of Q8_0 and
                                            Q4_0 weights; NULL when the model has none */
    int32_t *logit_rows;                 /* [max_rows] the rows whose logits the current step computes */
    float *probs;                        /* [vocab] sampler scratch */
    sn_prob_index *probindex;            /* [2 * vocab] sampler scratch */
    sn_pool *pool;                       /* worker threads for threads > 1, NULL until then */
    int32_t pool_threads;                /* the thread count the pool was made for */
} sn_llama_batch;

/*
 * The rows of one forward step, in the shape of llama.cpp's llama_batch (here "batch" already names the
 * KV-cache state above, so the rows of a step are a "step"). Row i feeds token[i] at position pos[i] of
 * sequence slot slot[i]. The rows whose logits[i] is nonzero get logits, in row order: logits row k belongs
 * to the k-th such row; logits == NULL means no row does. The arrays hold n_rows entries each and belong to
 * the caller; sn_llama_forward() only reads them during the call.
 */
typedef struct sn_llama_step {
    int32_t n_rows;
    const int32_t *token; /* [n_rows] token ids in [0, vocab) */
    const int32_t *pos;   /* [n_rows] positions in [0, seq_len) */
    const int32_t *slot;  /* [n_rows] sequence slots in [0, max_slots) (llama.cpp: seq_id) */
    const int8_t *logits; /* [n_rows] nonzero: compute this row's logits; or NULL */
} sn_llama_step;

/* ------------------------------------------------------------------------------------------------ */
/* Loading                                                                                          */

static inline void sn_llama_model_release(sn_llama_model *m) {
    if (m == NULL) return;
    if (m->map != NULL) munmap(m->map, m->map_bytes);
    free(m->rope);
    free(m->w);
    free(m);
}

/*
 * Opens and maps `path` (which must be expected_bytes long) and allocates a model of the shape cfg (already
 * validated) with its weight table and RoPE table; the caller fills m->w, rms_eps and rope_base, then calls
 * sn_llama_model_rope(). On failure returns the status, with out[1] as sn_llama_model_map documents.
 */
static inline sn_status sn_llama_model_open(const char *path, int64_t expected_bytes, const int32_t *cfg, int64_t *out,
                                            sn_llama_model **result) {
    *result = NULL;
    const int64_t dim = cfg[0], hidden = cfg[1], layers = cfg[2], heads = cfg[3], kv_heads = cfg[4];
    const int64_t vocab = cfg[5], seq = cfg[6];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        out[1] = errno;
        return SN_ERR_OPEN;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        out[1] = errno;
        close(fd);
        return SN_ERR_STAT;
    }
    if ((int64_t) st.st_size != expected_bytes) {
        out[1] = (int64_t) st.st_size;
        close(fd);
        return SN_ERR_LENGTH;
    }
    void *map = mmap(NULL, (size_t) expected_bytes, PROT_READ, MAP_PRIVATE, fd, 0);
    int map_errno = errno;
    close(fd); /* the mapping keeps the file alive */
    if (map == MAP_FAILED) {
        out[1] = map_errno;
        return SN_ERR_MMAP;
    }
    sn_llama_model *m = (sn_llama_model *) calloc(1, sizeof(sn_llama_model));
    const int64_t head_size = dim / heads;
    float *rope = (float *) malloc((size_t) (seq * head_size) * sizeof(float));
    sn_weight *w = (sn_weight *) calloc((size_t) (SN_T_COUNT * layers), sizeof(sn_weight));
    if (m == NULL || rope == NULL || w == NULL) {
        free(m);
        free(rope);
        free(w);
        munmap(map, (size_t) expected_bytes);
        return SN_ERR_NOMEM;
    }
    m->dim = (int32_t) dim;
    m->hidden = (int32_t) hidden;
    m->n_layers = (int32_t) layers;
    m->n_heads = (int32_t) heads;
    m->n_kv_heads = (int32_t) kv_heads;
    m->vocab = (int32_t) vocab;
    m->seq_len = (int32_t) seq;
    m->head_size = (int32_t) head_size;
    m->kv_dim = (int32_t) (head_size * kv_heads);
    m->kv_mul = (int32_t) (heads / kv_heads);
    m->map = map;
    m->map_bytes = (size_t) expected_bytes;
    m->rope = rope;
    m->w = w;
    *result = m;
    return SN_OK;
}

/* The RoPE table from m->rope_base: the same float expressions as llama2.c evaluates per step (base 10000 there). */
static inline void sn_llama_model_rope(sn_llama_model *m) {
    const int64_t head_size = m->head_size;
    for (int64_t pos = 0; pos < m->seq_len; pos++) {
        for (int64_t i = 0; i < head_size; i += 2) {
            const int head_dim = (int) i;
            const float freq = 1.0f / powf(m->rope_base, head_dim / (float) head_size);
            const float val = (int) pos * freq;
            m->rope[pos * head_size + i] = cosf(val);
            m->rope[pos * head_size + i + 1] = sinf(val);
        }
    }
}

/* The shape checks both loaders make: positive sizes, whole heads, whole kv groups, even head size. */
static inline int sn_llama_cfg_ok(const int32_t *cfg) {
    const int64_t dim = cfg[0], hidden = cfg[1], layers = cfg[2], heads = cfg[3], kv_heads = cfg[4];
    const int64_t vocab = cfg[5], seq = cfg[6];
    return dim > 0 && hidden > 0 && layers > 0 && heads > 0 && kv_heads > 0 && vocab > 0 && seq > 0
        && dim % heads == 0 && heads % kv_heads == 0 && (dim / heads) % 2 == 0;
}

/* The [rows][cols] shape of tensor t in a model of shape cfg (a norm weight is one row). */
static inline void sn_tensor_shape(int t, const int32_t *cfg, int64_t *rows, int64_t *cols) {
    const int64_t dim = cfg[0], hidden = cfg[1], vocab = cfg[5];
    const int64_t kv_dim = dim / cfg[3] * cfg[4];
    switch (t) {
        case SN_T_TOKEN_EMBEDDING: case SN_T_WCLS: *rows = vocab; *cols = dim; break;
        case SN_T_RMS_ATT: case SN_T_RMS_FFN: case SN_T_RMS_FINAL: *rows = 1; *cols = dim; break;
        case SN_T_WQ: case SN_T_WO: *rows = dim; *cols = dim; break;
        case SN_T_WK: case SN_T_WV: *rows = kv_dim; *cols = dim; break;
        case SN_T_W1: case SN_T_W3: *rows = hidden; *cols = dim; break;
        default: *rows = dim; *cols = hidden; break; /* SN_T_W2 */
    }
}

/*
 * Fills the typed weight table m->w (allocating it if NULL) from the contiguous float32 tensors of a llama2.c
 * checkpoint (m->tok_emb .. m->wcls, the shape fields set), and llama2.c's RMSNorm epsilon 1e-5f and RoPE base
 * 10000: layer l of a per-layer tensor starts l whole matrices after its first. Returns SN_OK or SN_ERR_NOMEM.
 */
static inline sn_status sn_llama_model_f32_weights(sn_llama_model *m) {
    if (m->w == NULL) {
        m->w = (sn_weight *) calloc((size_t) SN_T_COUNT * (size_t) m->n_layers, sizeof(sn_weight));
        if (m->w == NULL) return SN_ERR_NOMEM;
    }
    const int32_t cfg[7] = {m->dim, m->hidden, m->n_layers, m->n_heads, m->n_kv_heads, m->vocab, m->seq_len};
    const float *first[SN_T_COUNT] = {m->tok_emb, m->rms_att, m->wq, m->wk, m->wv, m->wo, m->rms_ffn,
                                      m->w1, m->w2, m->w3, m->rms_final, m->wcls};
    for (int t = 0; t < SN_T_COUNT; t++) {
        int64_t rows, cols;
        sn_tensor_shape(t, cfg, &rows, &cols);
        const int global = t == SN_T_TOKEN_EMBEDDING || t == SN_T_RMS_FINAL || t == SN_T_WCLS;
        for (int64_t l = 0; l < m->n_layers; l++) {
            sn_weight *w = SN_W(m, t, l);
            w->data = (const unsigned char *) (first[t] + (global ? 0 : l * rows * cols));
            w->type = SN_GGML_F32;
            w->cols = (int32_t) cols;
            w->row_bytes = cols * 4;
        }
    }
    m->any_quantized = 0;
    m->rms_eps = 1e-5f;
    m->rope_base = 10000.0f;
    return SN_OK;
}

/*
 * Maps the llama2.c checkpoint `path` read-only and builds the weight pointers from the Java-computed byte offsets.
 *   cfg[7]: dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len
 *   offsets[SN_T_COUNT]: byte offset of every tensor (Tensor declaration order; a shared classifier's
 *     SN_T_WCLS offset is the token embedding's)
 *   out[2]: out[0] receives the handle; on failure out[1] receives errno or the actual file length
 * Every weight is F32; RMSNorm epsilon 1e-5f and RoPE base 10000, as llama2.c's run.c.
 * Returns SN_OK or a negative sn_status (sn_status.h); nothing is leaked on failure.
 */
static inline sn_status sn_llama_model_map(const char *path, int64_t expected_bytes, const int32_t *cfg,
                                           const int64_t *offsets, int64_t *out) {
    out[0] = 0;
    out[1] = 0;
    if (!sn_llama_cfg_ok(cfg) || expected_bytes <= 0) return SN_ERR_CONFIG;
    const int64_t layers = cfg[2];
    int64_t sizes[SN_T_COUNT];
    for (int t = 0; t < SN_T_COUNT; t++) {
        int64_t rows, cols;
        sn_tensor_shape(t, cfg, &rows, &cols);
        const int global = t == SN_T_TOKEN_EMBEDDING || t == SN_T_RMS_FINAL || t == SN_T_WCLS;
        sizes[t] = (global ? 1 : layers) * rows * cols;
    }
    for (int t = 0; t < SN_T_COUNT; t++) {
        if (offsets[t] < 0 || offsets[t] % 4 != 0 || sizes[t] > (expected_bytes - offsets[t]) / 4) {
            return SN_ERR_CONFIG;
        }
    }
    sn_llama_model *m;
    sn_status st = sn_llama_model_open(path, expected_bytes, cfg, out, &m);
    if (st != SN_OK) return st;
    const char *base = (const char *) m->map;
    m->tok_emb = (const float *) (base + offsets[SN_T_TOKEN_EMBEDDING]);
    m->rms_att = (const float *) (base + offsets[SN_T_RMS_ATT]);
    m->wq = (const float *) (base + offsets[SN_T_WQ]);
    m->wk = (const float *) (base + offsets[SN_T_WK]);
    m->wv = (const float *) (base + offsets[SN_T_WV]);
    m->wo = (const float *) (base + offsets[SN_T_WO]);
    m->rms_ffn = (const float *) (base + offsets[SN_T_RMS_FFN]);
    m->w1 = (const float *) (base + offsets[SN_T_W1]);
    m->w2 = (const float *) (base + offsets[SN_T_W2]);
    m->w3 = (const float *) (base + offsets[SN_T_W3]);
    m->rms_final = (const float *) (base + offsets[SN_T_RMS_FINAL]);
    m->wcls = (const float *) (base + offsets[SN_T_WCLS]);
    (void) sn_llama_model_f32_weights(m); /* m->w is allocated: cannot fail */
    sn_llama_model_rope(m);
    out[0] = (int64_t) (intptr_t) m;
    return SN_OK;
}

/*
 * Maps a GGUF file of the llama architecture read-only, with the tensor descriptors the Java side
 * (org.sparknative.kernels.llama.GgufLlama) validated against the file; they are checked again here.
 *   cfg[7]: as sn_llama_model_map (seq_len: the context to run, which may exceed the trained one)
 *   params[2]: RMSNorm epsilon, RoPE base
 *   offsets[SN_T_COUNT * n_layers], types[SN_T_COUNT * n_layers]: entry t * n_layers + l is the absolute byte
 *     offset and SN_GGML_* type of tensor t of layer l (global tensors repeat theirs; a shared classifier's is
 *     the token embedding's)
 *   out[2]: as sn_llama_model_map
 * Norm weights must be F32, matrices and the embedding F32, F16, BF16, Q8_0 or Q4_0 (rows of whole blocks); every
 * tensor must lie inside the file, F32 ones 4-byte aligned, the others 2-byte aligned. Returns SN_OK, SN_ERR_CONFIG
 * for a shape, type or layout this rejects, or the mapping's errors; nothing is leaked on failure.
 */
static inline sn_status sn_llama_model_map_gguf(const char *path, int64_t expected_bytes, const int32_t *cfg,
                                                const float *params, const int64_t *offsets, const int32_t *types,
                                                int64_t *out) {
    out[0] = 0;
    out[1] = 0;
    if (!sn_llama_cfg_ok(cfg) || expected_bytes <= 0) return SN_ERR_CONFIG;
    if (!(params[0] > 0.0f) || !(params[1] > 0.0f) || isinf(params[0]) || isinf(params[1])) return SN_ERR_CONFIG;
    const int64_t layers = cfg[2];
    for (int t = 0; t < SN_T_COUNT; t++) {
        int64_t rows, cols;
        sn_tensor_shape(t, cfg, &rows, &cols);
        const int norm = t == SN_T_RMS_ATT || t == SN_T_RMS_FFN || t == SN_T_RMS_FINAL;
        for (int64_t l = 0; l < layers; l++) {
            const int64_t off = offsets[t * layers + l];
            const int32_t type = types[t * layers + l];
            const int64_t rb = sn_row_bytes(type, cols);
            if (rb < 0 || (norm && type != SN_GGML_F32) || off < 0 || off % (type == SN_GGML_F32 ? 4 : 2) != 0
                || rows > (expected_bytes - off) / rb) {
                return SN_ERR_CONFIG;
            }
        }
    }
    sn_f16_table_ready();
    sn_llama_model *m;
    sn_status st = sn_llama_model_open(path, expected_bytes, cfg, out, &m);
    if (st != SN_OK) return st;
    for (int t = 0; t < SN_T_COUNT; t++) {
        int64_t rows, cols;
        sn_tensor_shape(t, cfg, &rows, &cols);
        for (int64_t l = 0; l < layers; l++) {
            sn_weight *w = SN_W(m, t, l);
            w->data = (const unsigned char *) m->map + offsets[t * layers + l];
            w->type = types[t * layers + l];
            w->cols = (int32_t) cols;
            w->row_bytes = sn_row_bytes(w->type, cols);
            if (sn_type_quantized(w->type)) m->any_quantized = 1;
        }
    }
    m->rms_eps = params[0];
    m->rope_base = params[1];
    sn_llama_model_rope(m);
    out[0] = (int64_t) (intptr_t) m;
    return SN_OK;
}

/*
 * The host address of tensor t (SN_T_*: the Java enum Tensor's ordinal; a shared classifier's SN_T_WCLS is the
 * token embedding's) in the mapping, or of the RoPE table [seq_len][head_size] (cos, sin) for t == SN_T_COUNT;
 * 0 for any other t. For uploading the weights to a GPU; valid while the model is mapped.
 */
static inline int64_t sn_llama_model_address(int64_t model, int32_t t) {
    const sn_llama_model *m = (const sn_llama_model *) (intptr_t) model;
    if (m == NULL) return 0;
    const float *p = NULL;
    switch (t) {
        case SN_T_TOKEN_EMBEDDING: p = m->tok_emb; break;
        case SN_T_RMS_ATT: p = m->rms_att; break;
        case SN_T_WQ: p = m->wq; break;
        case SN_T_WK: p = m->wk; break;
        case SN_T_WV: p = m->wv; break;
        case SN_T_WO: p = m->wo; break;
        case SN_T_RMS_FFN: p = m->rms_ffn; break;
        case SN_T_W1: p = m->w1; break;
        case SN_T_W2: p = m->w2; break;
        case SN_T_W3: p = m->w3; break;
        case SN_T_RMS_FINAL: p = m->rms_final; break;
        case SN_T_WCLS: p = m->wcls; break;
        case SN_T_COUNT: p = m->rope; break;
        default: return 0;
    }
    return (int64_t) (intptr_t) p;
}

/* Unmaps the checkpoint and frees the model. The caller guarantees no batch uses it any more. */
static inline void sn_llama_model_free(int64_t model) {
    sn_llama_model_release((sn_llama_model *) (intptr_t) model);
}

static inline void *sn_llama_alloc(size_t count, size_t elem, int *failed) {
    /* calloc: untouched KV-cache pages stay virtual, and stale reads see zeros, never garbage. */
    void *p = calloc(count == 0 ? 1 : count, elem);
    if (p == NULL) *failed = 1;
    return p;
}

/*
 * A KV cache: an anonymous private mapping, zero-filled, reserved without swap accounting (MAP_NORESERVE), so that
 * only the pages of the positions written take memory. NULL (and *failed) if the mapping fails.
 */
static inline void *sn_kv_map(size_t bytes, int *failed) {
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
        *failed = 1;
        return NULL;
    }
    return p;
}

static inline void sn_llama_batch_free(int64_t batch) {
    sn_llama_batch *b = (sn_llama_batch *) (intptr_t) batch;
    if (b == NULL) return;
    sn_pool_free(b->pool);
    if (b->key_cache != NULL) munmap(b->key_cache, b->kv_bytes);
    if (b->value_cache != NULL) munmap(b->value_cache, b->kv_bytes);
    free(b->x);
    free(b->xb);
    free(b->q);
    free(b->k);
    free(b->v);
    free(b->hb);
    free(b->hb2);
    free(b->att);
    free(b->logits);
    free(b->xq);
    free(b->logit_rows);
    free(b->probs);
    free(b->probindex);
    free(b);
}

/*
 * A batch of max_slots sequences (KV cache [layer][slot][pos][kv_dim], keys and values) that runs at most
 * max_rows rows per step. kv_f16: 0 stores the cache in float, 1 in IEEE binary16 (half the memory; keys and
 * values are rounded to nearest even when stored, and attention reads them back exactly, so the result is the
 * float path's on the rounded values; llama.cpp's default cache type). out[0] receives the handle. Returns
 * SN_OK, SN_ERR_ARG or SN_ERR_NOMEM.
 */
static inline sn_status sn_llama_batch_new(int64_t model, int32_t max_slots, int32_t max_rows, int32_t kv_f16,
                                           int64_t *out) {
    out[0] = 0;
    const sn_llama_model *m = (const sn_llama_model *) (intptr_t) model;
    if (m == NULL || max_slots <= 0 || max_rows <= 0 || (kv_f16 != 0 && kv_f16 != 1)) return SN_ERR_ARG;
    if (kv_f16 && m->head_size > SN_KV_CHUNK_FLOATS) return SN_ERR_ARG;
    sn_llama_batch *b = (sn_llama_batch *) calloc(1, sizeof(sn_llama_batch));
    if (b == NULL) return SN_ERR_NOMEM;
    b->m = m;
    b->simd_cap = -1;
    b->max_slots = max_slots;
    b->max_rows = max_rows;
    b->kv_f16 = kv_f16;
    if (kv_f16) sn_f16_table_ready(); /* attention reads the cache through the table */
    const size_t R = (size_t) max_rows;
    const size_t cache = (size_t) m->n_layers * (size_t) max_slots * (size_t) m->seq_len * (size_t) m->kv_dim;
    const size_t kv_elem = kv_f16 ? sizeof(uint16_t) : sizeof(float);
    int failed = 0;
    b->kv_bytes = (cache == 0 ? 1 : cache) * kv_elem;
    b->key_cache = sn_kv_map(b->kv_bytes, &failed);
    b->value_cache = sn_kv_map(b->kv_bytes, &failed);
    b->x = (float *) sn_llama_alloc(R * m->dim, sizeof(float), &failed);
    b->xb = (float *) sn_llama_alloc(R * m->dim, sizeof(float), &failed);
    b->q = (float *) sn_llama_alloc(R * m->dim, sizeof(float), &failed);
    b->k = (float *) sn_llama_alloc(R * m->kv_dim, sizeof(float), &failed);
    b->v = (float *) sn_llama_alloc(R * m->kv_dim, sizeof(float), &failed);
    b->hb = (float *) sn_llama_alloc(R * m->hidden, sizeof(float), &failed);
    b->hb2 = (float *) sn_llama_alloc(R * m->hidden, sizeof(float), &failed);
    b->att = (float *) sn_llama_alloc(R * m->n_heads * (size_t) m->seq_len, sizeof(float), &failed);
    b->logits = (float *) sn_llama_alloc(R * m->vocab, sizeof(float), &failed);
    if (m->any_quantized) {
        const size_t widest = (size_t) (m->dim > m->hidden ? m->dim : m->hidden);
        b->xq = (unsigned char *) sn_llama_alloc(R * (widest / SN_QK), SN_Q8_0_BYTES, &failed);
    }
    b->logit_rows = (int32_t *) sn_llama_alloc(R, sizeof(int32_t), &failed);
    b->probs = (float *) sn_llama_alloc((size_t) m->vocab, sizeof(float), &failed);
    b->probindex = (sn_prob_index *) sn_llama_alloc(2 * (size_t) m->vocab, sizeof(sn_prob_index), &failed);
    if (failed) {
        sn_llama_batch_free((int64_t) (intptr_t) b);
        return SN_ERR_NOMEM;
    }
    out[0] = (int64_t) (intptr_t) b;
    return SN_OK;
}

/*
 * Hands back to the OS the KV cache pages of a slot whose sequence ended: for every layer, the whole pages inside
 * the slot's [seq_len][kv_dim] region of the keys and of the values (MADV_DONTNEED: they read as zeros and take no
 * memory until written again). The next sequence in the slot writes every position before attention reads it, so
 * its results do not change; a slot's resident memory is then what its current sequence has written (prompt plus
 * completion so far), not the most any earlier one wrote. Regions under two pages are left alone (small models:
 * nothing to gain). Returns the bytes handed back (keys and values), or -1 for a bad slot.
 */
static inline int64_t sn_llama_batch_release_slot(int64_t batch, int32_t slot) {
    sn_llama_batch *b = (sn_llama_batch *) (intptr_t) batch;
    if (b == NULL || slot < 0 || slot >= b->max_slots) return -1;
    const size_t page = (size_t) sysconf(_SC_PAGESIZE);
    const size_t elem = b->kv_f16 ? sizeof(uint16_t) : sizeof(float);
    const size_t region = (size_t) b->m->seq_len * (size_t) b->m->kv_dim * elem;
    if (region < 2 * page) return 0;
    int64_t released = 0;
    for (int l = 0; l < b->m->n_layers; l++) {
        const size_t slot_stride = (size_t) b->m->seq_len * (size_t) b->m->kv_dim;
        const size_t off = ((size_t) l * (size_t) b->max_slots * slot_stride + (size_t) slot * slot_stride) * elem;
        const size_t first = (off + page - 1) / page * page, end = (off + region) / page * page;
        if (end <= first) continue;
        void *caches[2] = {b->key_cache, b->value_cache};
        for (int c = 0; c < 2; c++) {
            if (madvise((unsigned char *) caches[c] + first, end - first, MADV_DONTNEED) == 0) {
                released += (int64_t) (end - first);
            }
        }
    }
    return released;
}

/* Address of the [max_rows][vocab] logits buffer: row k holds the k-th logit row of the last forward. */
static inline int64_t sn_llama_batch_logits(int64_t batch) {
    return (int64_t) (intptr_t) ((sn_llama_batch *) (intptr_t) batch)->logits;
}

/*
 * The instruction-set paths of the forward pass, each a worker compiled for its instruction set; every path gives
 * the same bits (the float operations are the same, and integer sums are exact in any order).
 *   SN_SIMD_GENERIC      the portable code: SSE2 on x86-64 (its baseline), plain C elsewhere;
 *   SN_SIMD_AVX2         AVX2: the same 8-lane float kernels in one 256-bit vector, 256-bit integer Q8_0/Q4_0 dots;
 *   SN_SIMD_AVX512_VNNI  AVX-512 (F, BW, VL) with VNNI: Q8_0/Q4_0 matmuls 16 weight rows at a time with vpdpbusd,
 *                        everything else as AVX2 (the same 8-lane float order; EVEX encoding, 32 registers).
 */
enum { SN_SIMD_GENERIC = 0, SN_SIMD_AVX2 = 1, SN_SIMD_AVX512_VNNI = 2 };

/* The best path this CPU (and its OS, for the AVX-512 register state) supports, whatever SPARKNATIVE_SIMD says. */
static inline int32_t sn_llama_simd_supported(void) {
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl")
        && __builtin_cpu_supports("avx512vnni")) {
        return SN_SIMD_AVX512_VNNI;
    }
    return __builtin_cpu_supports("avx2") ? SN_SIMD_AVX2 : SN_SIMD_GENERIC;
#else
    return SN_SIMD_GENERIC;
#endif
}

/* The SN_SIMD_* level a name of SPARKNATIVE_SIMD stands for, or -1 for no (or an unknown) name. */
static inline int32_t sn_simd_level_of(const char *name) {
    if (name == NULL) return -1;
    if (strcmp(name, "avx512-vnni") == 0 || strcmp(name, "avx512") == 0) return SN_SIMD_AVX512_VNNI;
    if (strcmp(name, "avx2") == 0) return SN_SIMD_AVX2;
    if (strcmp(name, "sse2") == 0 || strcmp(name, "generic") == 0) return SN_SIMD_GENERIC;
    return -1;
}

static int32_t sn_simd_default_level = SN_SIMD_GENERIC;
static pthread_once_t sn_simd_default_once = PTHREAD_ONCE_INIT;

static void sn_simd_default_init(void) {
    const int32_t best = sn_llama_simd_supported();
    const int32_t cap = sn_simd_level_of(getenv("SPARKNATIVE_SIMD"));
    sn_simd_default_level = cap >= 0 && cap < best ? cap : best;
}

/*
 * The path a batch runs unless told otherwise: the best one the CPU supports, lowered by the environment variable
 * SPARKNATIVE_SIMD (avx512-vnni, avx2 or sse2; read once per process; an unknown value or a path the CPU lacks
 * changes nothing). The results are the same bits on every path: lowering it only trades speed, e.g. where wide
 * vectors slow a CPU's clock.
 */
static inline int32_t sn_llama_simd_default(void) {
    pthread_once(&sn_simd_default_once, sn_simd_default_init);
    return sn_simd_default_level;
}

/*
 * Tests and measurements: the highest SN_SIMD_* level this batch may run (it runs the lower of this and
 * sn_llama_simd_supported()); -1 restores sn_llama_simd_default(). SN_ERR_ARG for another value.
 */
static inline int32_t sn_llama_batch_limit_simd(int64_t batch, int32_t level) {
    if (level < -1 || level > SN_SIMD_AVX512_VNNI) return SN_ERR_ARG;
    ((sn_llama_batch *) (intptr_t) batch)->simd_cap = level;
    return SN_OK;
}

/* ------------------------------------------------------------------------------------------------ */
/* Kernels. Everything below is always_inline so that each of the workers (generic, AVX2, AVX-512) gets */
/* its own copy compiled for its instruction set; the float operations are the same in all of them.    */

#if defined(__GNUC__)
/* sn_v8 helpers are always inlined, so the "AVX vector return changes the ABI" note never applies. */
#pragma GCC diagnostic ignored "-Wpsabi"
#define SN_INLINE static inline __attribute__((always_inline))
typedef float sn_v8 __attribute__((vector_size(32)));
typedef int32_t sn_v8i __attribute__((vector_size(32)));
#define SN_HAVE_VEC 1
#else
#define SN_INLINE static inline
#define SN_HAVE_VEC 0
#endif

#if SN_HAVE_VEC
SN_INLINE sn_v8 sn_load8(const float *p) {
    sn_v8 v;
    memcpy(&v, p, sizeof(v));
    return v;
}
/* The fixed combination order of the 8 lanes. */
SN_INLINE float sn_hsum8(const sn_v8 *ap) {
    const sn_v8 a = *ap;
    return ((a[0] + a[4]) + (a[2] + a[6])) + ((a[1] + a[5]) + (a[3] + a[7]));
}
#endif

#if SN_HAVE_VEC
/* {a, a, ..., a}. Written as a lane-0 shuffle because GCC 12 builds {a, a, ...} with eight vinsertps
   inside target("avx2") functions, but emits a single vbroadcastss for this form. */
SN_INLINE sn_v8 sn_bcast8(float a) {
    sn_v8 v = {0, 0, 0, 0, 0, 0, 0, 0};
    memcpy(&v, &a, sizeof a);
    const sn_v8i lane0 = {0, 0, 0, 0, 0, 0, 0, 0};
    return __builtin_shuffle(v, lane0);
}
/* Lane u of the result is sn_hsum8(&acc[u]), exactly: the same additions in the same order, done for
   eight vectors at once (halves added, then a 4x4 transpose within each 128-bit half). */
SN_INLINE sn_v8 sn_hsum8x8(const sn_v8 *acc) {
    const sn_v8i lo = {0, 1, 2, 3, 8, 9, 10, 11}, hi = {4, 5, 6, 7, 12, 13, 14, 15};
    sn_v8 h[4];
    for (int u = 0; u < 4; u++) /* [a b c d | ...] with a = p0+p4, b = p1+p5, c = p2+p6, d = p3+p7 */
        h[u] = __builtin_shuffle(acc[u], acc[u + 4], lo) + __builtin_shuffle(acc[u], acc[u + 4], hi);
    const sn_v8i unlo = {0, 8, 1, 9, 4, 12, 5, 13}, unhi = {2, 10, 3, 11, 6, 14, 7, 15};
    const sn_v8 t0 = __builtin_shuffle(h[0], h[1], unlo), t1 = __builtin_shuffle(h[0], h[1], unhi);
    const sn_v8 t2 = __builtin_shuffle(h[2], h[3], unlo), t3 = __builtin_shuffle(h[2], h[3], unhi);
    const sn_v8i mlh = {0, 1, 8, 9, 4, 5, 12, 13}, mhl = {2, 3, 10, 11, 6, 7, 14, 15};
    const sn_v8 A = __builtin_shuffle(t0, t2, mlh), B = __builtin_shuffle(t0, t2, mhl);
    const sn_v8 C = __builtin_shuffle(t1, t3, mlh), D = __builtin_shuffle(t1, t3, mhl);
    return (A + C) + (B + D);
}
#endif

/* The canonical dot product: 8 lane accumulators over n & ~7, fixed combination, sequential tail. */
SN_INLINE float sn_dot(const float *a, const float *b, int n) {
    const int n8 = n & ~(SN_LANES - 1);
    int j = 0;
#if SN_HAVE_VEC
    sn_v8 acc = {0, 0, 0, 0, 0, 0, 0, 0};
    for (; j < n8; j += 8) acc += sn_load8(a + j) * sn_load8(b + j);
    float s = sn_hsum8(&acc);
#else
    float l[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (; j < n8; j += 8)
        for (int c = 0; c < 8; c++) l[c] += a[j + c] * b[j + c];
    float s = ((l[0] + l[4]) + (l[2] + l[6])) + ((l[1] + l[5]) + (l[3] + l[7]));
#endif
    for (; j < n; j++) s += a[j] * b[j];
    return s;
}

/*
 * Micro-kernel: M weight rows (w, row length n) times N input rows (x, row stride ldx) into
 * y[c * ldy + r]. Each of the M*N outputs is exactly sn_dot(w row, x row): register blocking only
 * shares the loads.
 */
#if SN_HAVE_VEC
#define SN_DEFINE_MK(M, N)                                                                              \
    SN_INLINE void sn_mk_##M##x##N(const float *w, int n, const float *x, int ldx, float *y, int ldy) { \
        sn_v8 acc[M][N];                                                                                \
        for (int r = 0; r < M; r++)                                                                     \
            for (int c = 0; c < N; c++) acc[r][c] = (sn_v8){0, 0, 0, 0, 0, 0, 0, 0};                    \
        const int n8 = n & ~(SN_LANES - 1);                                                             \
        int j = 0;                                                                                      \
        for (; j < n8; j += 8) {                                                                        \
            sn_v8 xv[N];                                                                                \
            for (int c = 0; c < N; c++) xv[c] = sn_load8(x + (size_t) c * ldx + j);                     \
            for (int r = 0; r < M; r++) {                                                               \
                const sn_v8 wv = sn_load8(w + (size_t) r * n + j);                                      \
                for (int c = 0; c < N; c++) acc[r][c] += wv * xv[c];                                    \
            }                                                                                           \
        }                                                                                               \
        sn_v8 flat[8];                                                                                  \
        for (int u = 0; u < 8; u++) flat[u] = u < M * N ? acc[u / N][u % N] : sn_bcast8(0.0f);         \
        const sn_v8 sums = sn_hsum8x8(flat); /* lane u: sn_hsum8(flat[u]) */                            \
        float sc[8];                                                                                    \
        memcpy(sc, &sums, sizeof sc);                                                                   \
        for (int r = 0; r < M; r++) {                                                                   \
            for (int c = 0; c < N; c++) {                                                               \
                float s = sc[r * N + c];                                                                \
                for (int t = j; t < n; t++) s += w[(size_t) r * n + t] * x[(size_t) c * ldx + t];       \
                y[(size_t) c * ldy + r] = s;                                                            \
            }                                                                                           \
        }                                                                                               \
    }
#else
#define SN_DEFINE_MK(M, N)                                                                              \
    SN_INLINE void sn_mk_##M##x##N(const float *w, int n, const float *x, int ldx, float *y, int ldy) { \
        for (int r = 0; r < M; r++)                                                                     \
            for (int c = 0; c < N; c++)                                                                 \
                y[(size_t) c * ldy + r] = sn_dot(w + (size_t) r * n, x + (size_t) c * ldx, n);          \
    }
#endif

SN_DEFINE_MK(4, 1)
SN_DEFINE_MK(2, 4)
SN_DEFINE_MK(2, 3)
SN_DEFINE_MK(2, 2)
SN_DEFINE_MK(2, 1)
SN_DEFINE_MK(1, 4)
SN_DEFINE_MK(1, 3)
SN_DEFINE_MK(1, 2)
SN_DEFINE_MK(1, 1)

/* Weight rows [i0, i1) times input rows [c0, c1), 2 x 4 register blocks. */
SN_INLINE void sn_matmul_block(const float *w, int n, const float *x, float *y, int ldy, int i0, int i1, int c0, int c1) {
    int i = i0;
    for (; i + 2 <= i1; i += 2) {
        const float *wi = w + (size_t) i * n;
        int c = c0;
        for (; c + 4 <= c1; c += 4) sn_mk_2x4(wi, n, x + (size_t) c * n, n, y + (size_t) c * ldy + i, ldy);
        switch (c1 - c) {
            case 3: sn_mk_2x3(wi, n, x + (size_t) c * n, n, y + (size_t) c * ldy + i, ldy); break;
            case 2: sn_mk_2x2(wi, n, x + (size_t) c * n, n, y + (size_t) c * ldy + i, ldy); break;
            case 1: sn_mk_2x1(wi, n, x + (size_t) c * n, n, y + (size_t) c * ldy + i, ldy); break;
            default: break;
        }
    }
    if (i < i1) {
        const float *wi = w + (size_t) i * n;
        int c = c0;
        for (; c + 4 <= c1; c += 4) sn_mk_1x4(wi, n, x + (size_t) c * n, n, y + (size_t) c * ldy + i, ldy);
        switch (c1 - c) {
            case 3: sn_mk_1x3(wi, n, x + (size_t) c * n, n, y + (size_t) c * ldy + i, ldy); break;
            case 2: sn_mk_1x2(wi, n, x + (size_t) c * n, n, y + (size_t) c * ldy + i, ldy); break;
            case 1: sn_mk_1x1(wi, n, x + (size_t) c * n, n, y + (size_t) c * ldy + i, ldy); break;
            default: break;
        }
    }
}

/*
 * Y[c][i] = dot(W[i], X[c]) for weight rows i in [i0, i1) and all N input rows. Each weight row is read
 * from memory once per call: weight rows go in chunks of about 64 KiB (L2-resident while used), and within
 * a chunk the input rows in blocks of about 16 KiB (L1-resident), so the micro-kernels stream weights
 * from L2 and inputs from L1. The blocking only reorders whole dot products, never the additions inside one.
 */
SN_INLINE void sn_matmul_rows(const float *w, int n, const float *x, int N, float *y, int ldy, int i0, int i1) {
    int i = i0;
    if (N == 1) {
        for (; i + 4 <= i1; i += 4) sn_mk_4x1(w + (size_t) i * n, n, x, n, y + i, ldy);
        for (; i < i1; i++) sn_mk_1x1(w + (size_t) i * n, n, x, n, y + i, ldy);
        return;
    }
    int ib = (16384 / (n > 0 ? n : 1)) & ~1;
    if (ib < 2) ib = 2;
    int cb = (4096 / (n > 0 ? n : 1)) & ~3;
    if (cb < 4) cb = 4;
    for (int b0 = i0; b0 < i1; b0 += ib) {
        const int b1 = b0 + ib < i1 ? b0 + ib : i1;
        for (int c0 = 0; c0 < N; c0 += cb) sn_matmul_block(w, n, x, y, ldy, b0, b1, c0, c0 + cb < N ? c0 + cb : N);
    }
}

/* att[t] = sn_dot(q, k + t * ldk, hs) / scale for t in [0, n): eight positions at a time, same results. */
SN_INLINE void sn_att_scores(float *att, const float *q, const float *k, int ldk, int hs, int n, float scale) {
    int t = 0;
#if SN_HAVE_VEC
    const int hs8 = hs & ~(SN_LANES - 1);
    for (; t + 8 <= n; t += 8) {
        sn_v8 acc[8];
        for (int u = 0; u < 8; u++) acc[u] = sn_bcast8(0.0f);
        for (int i = 0; i < hs8; i += 8) {
            const sn_v8 qv = sn_load8(q + i);
            for (int u = 0; u < 8; u++) acc[u] += qv * sn_load8(k + (size_t) (t + u) * ldk + i);
        }
        sn_v8 sv = sn_hsum8x8(acc);
        if (hs8 < hs) {
            float sc[8];
            memcpy(sc, &sv, sizeof sc);
            for (int u = 0; u < 8; u++) {
                const float *kt = k + (size_t) (t + u) * ldk;
                for (int i = hs8; i < hs; i++) sc[u] += q[i] * kt[i];
            }
            memcpy(&sv, sc, sizeof sc);
        }
        sv = sv / sn_bcast8(scale);
        memcpy(att + t, &sv, sizeof sv);
    }
#endif
    for (; t < n; t++) att[t] = sn_dot(q, k + (size_t) t * ldk, hs) / scale;
}

/* out[i] = sum over t in [0, n) of att[t] * v[t * ldv + i], accumulated in t order (llama2.c's order). */
SN_INLINE void sn_att_values(float *out, const float *att, const float *v, int ldv, int hs, int n) {
    int i = 0;
#if SN_HAVE_VEC
    for (; i + 8 <= hs; i += 8) {
        sn_v8 acc = sn_bcast8(0.0f);
        for (int t = 0; t < n; t++) acc += sn_bcast8(att[t]) * sn_load8(v + (size_t) t * ldv + i);
        memcpy(out + i, &acc, sizeof acc);
    }
#endif
    for (; i < hs; i++) {
        float acc = 0.0f;
        for (int t = 0; t < n; t++) acc += att[t] * v[(size_t) t * ldv + i];
        out[i] = acc;
    }
}

/* ------------------------------------------------------------------------------------------------ */
/* Typed weights (GGUF). The canonical scalar semantics are the Java class                            */
/* org.sparknative.kernels.gguf.Quants (ggml's reference quantization, ggml-quants.c); these give its bits. */

SN_INLINE uint16_t sn_rd16(const unsigned char *p) { return (uint16_t) (p[0] | (p[1] << 8)); }

/*
 * IEEE binary16 to float, exactly (ggml's GGML_FP16_TO_FP32 value; Quants.f16ToF32). Branch-free, so that loops of it
 * vectorize (the FP16 library's method, which ggml's generic fp16 conversion uses): a normal or infinite/NaN half
 * is rebiased by shifting its bits into place and multiplying by 2^-112 (exact; a NaN keeps its payload and comes
 * out quiet); a subnormal half is m * 2^-24 computed as (2^-1 + m * 2^-24) - 2^-1 (exact).
 */
SN_INLINE float sn_f16_to_f32(uint16_t h) {
    const uint32_t w = (uint32_t) h << 16;
    const uint32_t sign = w & 0x80000000u;
    const uint32_t two_w = w + w;
    const uint32_t norm_bits = (two_w >> 4) + (0xE0u << 23);
    const uint32_t denorm_bits = (two_w >> 17) | (126u << 23);
    float norm, denorm;
    memcpy(&norm, &norm_bits, sizeof norm);
    memcpy(&denorm, &denorm_bits, sizeof denorm);
    norm *= 0x1.0p-112f;
    denorm -= 0.5f;
    uint32_t nb, db;
    memcpy(&nb, &norm, sizeof nb);
    memcpy(&db, &denorm, sizeof db);
    const uint32_t bits = sign | (two_w < (1u << 27) ? db : nb);
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* bfloat16 to float: its upper 16 bits (exact). */
SN_INLINE float sn_bf16_to_f32(uint16_t h) {
    const uint32_t bits = (uint32_t) h << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* float to IEEE binary16, round to nearest even (ggml's GGML_FP32_TO_FP16; Quants.f32ToF16, the same branches). */
SN_INLINE uint16_t sn_f32_to_f16(float f) {
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    const uint32_t sign = (bits >> 16) & 0x8000, a = bits & 0x7FFFFFFFu;
    if (a > 0x7F800000u) return (uint16_t) (sign | 0x7E00);
    if (a >= 0x47800000u) return (uint16_t) (sign | 0x7C00);
    if (a >= 0x38800000u) {
        uint32_t h = (a - 0x38000000u) >> 13;
        const uint32_t rest = a & 0x1FFF;
        if (rest > 0x1000 || (rest == 0x1000 && (h & 1) != 0)) h++;
        return (uint16_t) (sign | h);
    }
    if (a <= 0x33000000u) return (uint16_t) sign;
    const int shift = 126 - (int) (a >> 23);
    const uint32_t m = (a & 0x7FFFFF) | 0x800000;
    uint32_t h = m >> shift;
    const uint32_t rest = m & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rest > half || (rest == half && (h & 1) != 0)) h++;
    return (uint16_t) (sign | h);
}

/*
 * Every half's float, sn_f16_to_f32 tabulated (256 KiB, as ggml's ggml_table_f32_f16): the F16 matmul reads it
 * instead of converting, a few times faster. Filled once per process (sn_f16_table_ready) before any model or test
 * hook can run an F16 matmul; read-only afterwards.
 */
static float sn_f16_table[65536];
static pthread_once_t sn_f16_table_once = PTHREAD_ONCE_INIT;

static void sn_f16_table_fill(void) {
    for (uint32_t h = 0; h < 65536; h++) sn_f16_table[h] = sn_f16_to_f32((uint16_t) h);
}

static inline void sn_f16_table_ready(void) { pthread_once(&sn_f16_table_once, sn_f16_table_fill); }

/*
 * Attention over an F16 KV cache, with llama.cpp's roundings: the query head is rounded to binary16 before the
 * scores, as ggml converts the query to the F16 key cache's dot type (without it the greedy texts of the
 * stories260K GGUF files part from llama.cpp's after about 40 tokens; with it they are llama.cpp's). The keys
 * (values) of a chunk of positions are converted to float, exactly, into a stack buffer of SN_KV_CHUNK_FLOATS
 * floats (through sn_f16_table, which holds sn_f16_to_f32 of every half: a load instead of the conversion's
 * arithmetic, which cost a third of a 1-slot Q8_0 decode step), and the float functions above run on the buffer: every score and every output element is computed with
 * the float path's operations in its order (positions ascending for the values), so the result is the float
 * path's bits on the rounded query, keys and values (ReferenceTransformer's F16 cache does the same roundings).
 */
SN_INLINE int sn_kv_chunk(int hs) {
    int c = SN_KV_CHUNK_FLOATS / hs;
    return c >= 8 ? c & ~7 : c;
}

SN_INLINE void sn_kv_rows_to_f32(float *dst, const uint16_t *src, int ld, int hs, int rows) {
    for (int t = 0; t < rows; t++) {
        const uint16_t *row = src + (size_t) t * ld;
        for (int i = 0; i < hs; i++) dst[(size_t) t * hs + i] = sn_f16_table[row[i]];
    }
}

SN_INLINE void sn_att_scores_f16(float *att, const float *q0, const uint16_t *k, int ldk, int hs, int n, float scale) {
    float buf[SN_KV_CHUNK_FLOATS];
    float q[SN_KV_CHUNK_FLOATS];
    for (int i = 0; i < hs; i++) q[i] = sn_f16_to_f32(sn_f32_to_f16(q0[i]));
    const int chunk = sn_kv_chunk(hs);
    for (int t0 = 0; t0 < n; t0 += chunk) {
        const int cnt = n - t0 < chunk ? n - t0 : chunk;
        sn_kv_rows_to_f32(buf, k + (size_t) t0 * ldk, ldk, hs, cnt);
        sn_att_scores(att + t0, q, buf, hs, hs, cnt, scale);
    }
}

SN_INLINE void sn_att_values_f16(float *out, const float *att, const uint16_t *v, int ldv, int hs, int n) {
    float buf[SN_KV_CHUNK_FLOATS];
    const int chunk = sn_kv_chunk(hs);
    for (int i = 0; i < hs; i++) out[i] = 0.0f;
    for (int t0 = 0; t0 < n; t0 += chunk) {
        const int cnt = n - t0 < chunk ? n - t0 : chunk;
        sn_kv_rows_to_f32(buf, v + (size_t) t0 * ldv, ldv, hs, cnt);
        int i = 0;
#if SN_HAVE_VEC
        for (; i + 8 <= hs; i += 8) {
            sn_v8 acc = sn_load8(out + i);
            for (int t = 0; t < cnt; t++) acc += sn_bcast8(att[t0 + t]) * sn_load8(buf + (size_t) t * hs + i);
            memcpy(out + i, &acc, sizeof acc);
        }
#endif
        for (; i < hs; i++) {
            float acc = out[i];
            for (int t = 0; t < cnt; t++) acc += att[t0 + t] * buf[(size_t) t * hs + i];
            out[i] = acc;
        }
    }
}


/* Element j of an F16 or BF16 row, as a float (F16: through the table, the same value). */
SN_INLINE float sn_half_at(const unsigned char *row, int32_t type, int j) {
    const uint16_t h = sn_rd16(row + 2 * (size_t) j);
    return type == SN_GGML_F16 ? sn_f16_table[h] : sn_bf16_to_f32(h);
}

/*
 * Quantizes n floats (a multiple of 32) to Q8_0 blocks at dst, as ggml's quantize_row_q8_0_ref (Quants.quantizeQ8_0):
 * per block amax = max |x|, d = amax / 127, id = 1/d (0 if d is 0 or 1/d overflows), scale f32ToF16(d),
 * q = roundf(x * id) (halves away from zero). Non-finite input gives unspecified (but in-bounds) values.
 */
SN_INLINE void sn_quantize_row_q8_0(const float *x, int n, unsigned char *dst) {
    for (int b = 0; b < n / SN_QK; b++) {
        const float *xb = x + (size_t) b * SN_QK;
        unsigned char *yb = dst + (size_t) b * SN_Q8_0_BYTES;
        float amax = 0.0f;
        for (int j = 0; j < SN_QK; j++) {
            const float a = fabsf(xb[j]);
            if (a > amax) amax = a;
        }
        const float d = amax / 127.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        if (isinf(id)) id = 0.0f;
        const uint16_t h = sn_f32_to_f16(d);
        yb[0] = (unsigned char) (h & 0xFF);
        yb[1] = (unsigned char) (h >> 8);
        for (int j = 0; j < SN_QK; j++) {
            const float r = roundf(xb[j] * id);
            yb[2 + j] = (unsigned char) (int8_t) (r >= -127.0f && r <= 127.0f ? (int) r : 0);
        }
    }
}

/*
 * The exact int32 sum of 32 products w[j] * a[j] of int8 values (the integer part of one Q8_0 block dot). On x86-64
 * it is SSE2 (baseline, so both workers use it; the AVX2 worker's copy is VEX-encoded): sign-extend to int16,
 * pmaddwd into int32 lanes, add the lanes. Integer sums are exact in any order, so every path gives the same sum.
 */
#if defined(__SSE2__)
#include <emmintrin.h>
SN_INLINE __m128i sn_i8_lo16(__m128i v) { return _mm_srai_epi16(_mm_unpacklo_epi8(v, v), 8); }
SN_INLINE __m128i sn_i8_hi16(__m128i v) { return _mm_srai_epi16(_mm_unpackhi_epi8(v, v), 8); }
/* int32 lanes += the products of the 16 int8 pairs of w and a. */
SN_INLINE __m128i sn_madd_i8x16(__m128i acc, __m128i w, __m128i a) {
    acc = _mm_add_epi32(acc, _mm_madd_epi16(sn_i8_lo16(w), sn_i8_lo16(a)));
    return _mm_add_epi32(acc, _mm_madd_epi16(sn_i8_hi16(w), sn_i8_hi16(a)));
}
SN_INLINE int32_t sn_hsum_i32x4(__m128i v) {
    v = _mm_add_epi32(v, _mm_shuffle_epi32(v, 0x4E));
    v = _mm_add_epi32(v, _mm_shuffle_epi32(v, 0xB1));
    return _mm_cvtsi128_si32(v);
}
#endif

SN_INLINE int32_t sn_isum_q8_block(const unsigned char *wq, const unsigned char *aq) {
#if defined(__SSE2__)
    __m128i acc = _mm_setzero_si128();
    acc = sn_madd_i8x16(acc, _mm_loadu_si128((const __m128i *) (const void *) wq),
                        _mm_loadu_si128((const __m128i *) (const void *) aq));
    acc = sn_madd_i8x16(acc, _mm_loadu_si128((const __m128i *) (const void *) (wq + 16)),
                        _mm_loadu_si128((const __m128i *) (const void *) (aq + 16)));
    return sn_hsum_i32x4(acc);
#else
    int32_t isum = 0;
    for (int j = 0; j < SN_QK; j++) isum += (int32_t) (int8_t) wq[j] * (int32_t) (int8_t) aq[j];
    return isum;
#endif
}

/* The exact int32 sum of (lo(w[j]) - 8) * a[j] + (hi(w[j]) - 8) * a[j + 16], j < 16: one Q4_0 block's integer part. */
SN_INLINE int32_t sn_isum_q4_block(const unsigned char *wq, const unsigned char *aq) {
#if defined(__SSE2__)
    const __m128i bytes = _mm_loadu_si128((const __m128i *) (const void *) wq);
    const __m128i low4 = _mm_set1_epi8(0x0F), eight = _mm_set1_epi8(8);
    const __m128i lo = _mm_sub_epi8(_mm_and_si128(bytes, low4), eight);                      /* elements 0..15 */
    const __m128i hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(bytes, 4), low4), eight);   /* elements 16..31 */
    __m128i acc = _mm_setzero_si128();
    acc = sn_madd_i8x16(acc, lo, _mm_loadu_si128((const __m128i *) (const void *) aq));
    acc = sn_madd_i8x16(acc, hi, _mm_loadu_si128((const __m128i *) (const void *) (aq + 16)));
    return sn_hsum_i32x4(acc);
#else
    int32_t isum = 0;
    for (int j = 0; j < SN_QK / 2; j++) {
        isum += ((int32_t) (wq[j] & 0x0F) - 8) * (int32_t) (int8_t) aq[j]
            + ((int32_t) (wq[j] >> 4) - 8) * (int32_t) (int8_t) aq[j + SN_QK / 2];
    }
    return isum;
#endif
}

/*
 * Dot products of one Q8_0 / Q4_0 weight row with Q8_0 activations, nb blocks: per block the exact int32 sum above,
 * then sum = sum + (float) isum * (d_w * d_a), blocks in order, no FMA (Quants.dotQ8_0Q8_0 / dotQ4_0Q8_0), so every
 * instruction set gives the bits of the scalar reference.
 */
SN_INLINE float sn_dot_q8_0_q8_0(const unsigned char *w, const unsigned char *a, int nb) {
    float sum = 0.0f;
    for (int b = 0; b < nb; b++) {
        const unsigned char *wb = w + (size_t) b * SN_Q8_0_BYTES, *ab = a + (size_t) b * SN_Q8_0_BYTES;
        const int32_t isum = sn_isum_q8_block(wb + 2, ab + 2);
        sum = sum + (float) isum * (sn_f16_to_f32(sn_rd16(wb)) * sn_f16_to_f32(sn_rd16(ab)));
    }
    return sum;
}

SN_INLINE float sn_dot_q4_0_q8_0(const unsigned char *w, const unsigned char *a, int nb) {
    float sum = 0.0f;
    for (int b = 0; b < nb; b++) {
        const unsigned char *wb = w + (size_t) b * SN_Q4_0_BYTES, *ab = a + (size_t) b * SN_Q8_0_BYTES;
        const int32_t isum = sn_isum_q4_block(wb + 2, ab + 2);
        sum = sum + (float) isum * (sn_f16_to_f32(sn_rd16(wb)) * sn_f16_to_f32(sn_rd16(ab)));
    }
    return sum;
}

/*
 * The same two dots with 256-bit AVX2 integer arithmetic for the integer part, ggml's technique (ggml-cpu quants.c
 * mul_sum_i8_pairs): |w| (unsigned) times sign(w) * a with vpmaddubsw, pairs summed to int32 with vpmaddwd, the
 * eight lanes added. Exact because the activations are in [-127, 127] (sn_quantize_row_q8_0 never makes -128), so
 * no int16 pair sum exceeds 128 * 127 * 2 = 32512 and vpmaddubsw never saturates; Q4_0 multiplies the unsigned
 * nibbles and subtracts 8 * sum(a). The per-block float accumulation is the scalar one, so the results are the bits
 * of the SSE2 path and of Quants. Not inlined into the generic worker: the AVX2 worker calls them (sn_forward_job.simd),
 * and the AVX-512 one for the rows its 16-row kernel leaves.
 */
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define SN_HAVE_QUANT_AVX2 1
/* GCC 12's AVX-512 intrinsics start from _mm512_undefined_*(), which -Wmaybe-uninitialized reports once inlined
   (GCC bug 105593, fixed in the headers of later releases); the warning is about the header, not about its callers. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
__attribute__((target("avx2"))) static inline int32_t sn_hsum_i32x8_avx2(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
    return _mm_cvtsi128_si32(s);
}

__attribute__((target("avx2"))) static float sn_dot_q8_0_q8_0_avx2(const unsigned char *w, const unsigned char *a,
                                                                    int nb) {
    const __m256i ones = _mm256_set1_epi16(1);
    float sum = 0.0f;
    for (int b = 0; b < nb; b++) {
        const unsigned char *wb = w + (size_t) b * SN_Q8_0_BYTES, *ab = a + (size_t) b * SN_Q8_0_BYTES;
        const __m256i wv = _mm256_loadu_si256((const __m256i *) (const void *) (wb + 2));
        const __m256i av = _mm256_loadu_si256((const __m256i *) (const void *) (ab + 2));
        const __m256i p16 = _mm256_maddubs_epi16(_mm256_sign_epi8(wv, wv), _mm256_sign_epi8(av, wv));
        const int32_t isum = sn_hsum_i32x8_avx2(_mm256_madd_epi16(p16, ones));
        sum = sum + (float) isum * (sn_f16_to_f32(sn_rd16(wb)) * sn_f16_to_f32(sn_rd16(ab)));
    }
    return sum;
}

__attribute__((target("avx2"))) static float sn_dot_q4_0_q8_0_avx2(const unsigned char *w, const unsigned char *a,
                                                                    int nb) {
    const __m256i ones16 = _mm256_set1_epi16(1), ones8 = _mm256_set1_epi8(1);
    const __m128i low4 = _mm_set1_epi8(0x0F);
    float sum = 0.0f;
    for (int b = 0; b < nb; b++) {
        const unsigned char *wb = w + (size_t) b * SN_Q4_0_BYTES, *ab = a + (size_t) b * SN_Q8_0_BYTES;
        const __m128i bytes = _mm_loadu_si128((const __m128i *) (const void *) (wb + 2));
        /* lanes 0..15 the low nibbles (elements 0..15), 16..31 the high ones (elements 16..31), unsigned 0..15 */
        const __m256i u = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(bytes, 4), low4), _mm_and_si128(bytes, low4));
        const __m256i av = _mm256_loadu_si256((const __m256i *) (const void *) (ab + 2));
        const __m256i su = _mm256_madd_epi16(_mm256_maddubs_epi16(u, av), ones16);
        const __m256i sa = _mm256_madd_epi16(_mm256_maddubs_epi16(ones8, av), ones16);
        const int32_t isum = sn_hsum_i32x8_avx2(_mm256_sub_epi32(su, _mm256_slli_epi32(sa, 3)));
        sum = sum + (float) isum * (sn_f16_to_f32(sn_rd16(wb)) * sn_f16_to_f32(sn_rd16(ab)));
    }
    return sum;
}
#else
#define SN_HAVE_QUANT_AVX2 0
#endif

/*
 * The Q8_0 / Q4_0 matmul with AVX-512 and VNNI, 16 weight rows at a time (sn_matmul_quant_avx512). Per block, the
 * exact int32 sums of the 16 rows come out in one vector, so the float accumulation of the 16 rows runs in its 16
 * lanes: lane r does sum = sum + (float) isum_r * (d_w,r * d_a), blocks in order, exactly the scalar sequence of
 * sn_dot_q8_0_q8_0 / sn_dot_q4_0_q8_0 (and Quants), only for 16 rows at once; the scales convert exactly
 * (vcvtph2ps is sn_f16_to_f32). The integer part, exact in any order:
 *   vpdpbusd multiplies unsigned by signed bytes, so the weights go in offset to unsigned, w + 128 (Q8_0: w xor 0x80)
 *   or the raw nibble (Q4_0, whose value is nibble - 8), and each int32 lane starts at -offset * (the sum of the
 *   activations it will multiply), itself one vpdpbusd of the activations with a vector of ones. Products of bytes
 *   summed in int32 neither saturate nor overflow (|sum| < 2^21), for any byte values, -128 included.
 *   Q8_0: a 512-bit vector holds block b of 2 rows (2 x 32 bytes) against the activation block twice: 8 lanes per
 *   row. Q4_0: block b of 4 rows (4 x 16 bytes), low nibbles against activations 0..15 and high nibbles against
 *   16..31, both into the same lanes: 4 lanes per row. A transposing add tree brings the 8 (Q8_0) or 4 (Q4_0)
 *   vectors to one vector of the 16 row sums, its lanes in a fixed permutation of the rows, which the scales follow
 *   and the final store undoes. Rows past the last multiple of 16 take the AVX2 dots (the same bits).
 */
#if SN_HAVE_QUANT_AVX2
#define SN_HAVE_QUANT_AVX512 1
#define SN_AVX512_TARGET __attribute__((target("avx2,avx512f,avx512bw,avx512vl,avx512vnni")))

/* Lane L of sn_reduce_q8_avx512's result holds row SN_Q8_ROW(L) of the 16; of sn_reduce_q4_avx512's, SN_Q4_ROW(L). */
#define SN_Q8_ROW(L) (8 * ((L) / 8) + 2 * ((L) % 4) + ((L) / 4) % 2)
#define SN_Q4_ROW(L) (4 * ((L) % 4) + (L) / 4)

/* a + b where each 128-bit quarter of the result is [a0+a2, b0+b2, a1+a3, b1+b3] of the quarters of a and b. */
SN_AVX512_TARGET static inline __m512i sn_add32x2_avx512(__m512i a, __m512i b) {
    return _mm512_add_epi32(_mm512_unpacklo_epi32(a, b), _mm512_unpackhi_epi32(a, b));
}

/* Quarter q of the result: the sums of quarter q of v[0], v[1], v[2], v[3] (each quarter's 4 lanes added). */
SN_AVX512_TARGET static inline __m512i sn_add4x4_avx512(const __m512i *v) {
    const __m512i ab = sn_add32x2_avx512(v[0], v[1]), cd = sn_add32x2_avx512(v[2], v[3]);
    return _mm512_add_epi32(_mm512_unpacklo_epi64(ab, cd), _mm512_unpackhi_epi64(ab, cd));
}

/* p[k]: rows 2k (lanes 0..7) and 2k + 1 (lanes 8..15). Lane L of the result: the 8-lane sum of row SN_Q8_ROW(L). */
SN_AVX512_TARGET static inline __m512i sn_reduce_q8_avx512(const __m512i *p) {
    const __m512i ra = sn_add4x4_avx512(p), rb = sn_add4x4_avx512(p + 4);
    return _mm512_add_epi32(_mm512_shuffle_i32x4(ra, rb, _MM_SHUFFLE(2, 0, 2, 0)),
                            _mm512_shuffle_i32x4(ra, rb, _MM_SHUFFLE(3, 1, 3, 1)));
}

/* Blocks per pass of sn_matmul_quant16_avx512: 16 rows of 32 Q8_0 blocks are 17 KiB, which stay in L1 for every input row. */
#define SN_AVX512_CHUNK 32

/*
 * Y[c][i] for weight rows [i, i + 16) of a Q8_0 (q8 != 0) or Q4_0 matrix (w: row i, row_bytes apart, nb blocks) and
 * the N Q8_0 input rows xq (xq_stride apart); y: Y[0][i], rows ldy apart. The blocks go in chunks: the 16 rows' scales
 * of a chunk are first copied into lane order (a gather per block is slower), then each input row runs the chunk,
 * its 16 sums kept in y between chunks (a float stored and loaded back is the same float).
 */
SN_AVX512_TARGET static void sn_matmul_quant16_avx512(const unsigned char *w, size_t row_bytes, int q8, int nb,
                                                      const unsigned char *xq, size_t xq_stride, int N, float *y,
                                                      int ldy) {
    const size_t bb = q8 ? SN_Q8_0_BYTES : SN_Q4_0_BYTES;
    int32_t perm[16], unperm[16];
    for (int L = 0; L < 16; L++) {
        perm[L] = q8 ? SN_Q8_ROW(L) : SN_Q4_ROW(L);
        unperm[perm[L]] = L;
    }
    const __m512i perm_v = _mm512_loadu_si512((const void *) perm);
    const __m512i unperm_v = _mm512_loadu_si512((const void *) unperm);
    const __m512i ones = _mm512_set1_epi8(1), flip = _mm512_set1_epi8((char) 0x80), low4 = _mm512_set1_epi8(0x0F);
    const __m512i zero = _mm512_setzero_si512();
    uint16_t scales[SN_AVX512_CHUNK * 16]; /* [block of the chunk][lane]: the scale of row perm[lane] */
    for (int b0 = 0; b0 < nb; b0 += SN_AVX512_CHUNK) {
        const int b1 = nb - b0 < SN_AVX512_CHUNK ? nb : b0 + SN_AVX512_CHUNK;
        for (int L = 0; L < 16; L++) {
            const unsigned char *wr = w + (size_t) perm[L] * row_bytes;
            for (int b = b0; b < b1; b++) scales[(b - b0) * 16 + L] = sn_rd16(wr + (size_t) b * bb);
        }
        for (int c = 0; c < N; c++) {
            const unsigned char *a = xq + (size_t) c * xq_stride;
            float *yc = y + (size_t) c * ldy;
            __m512 sum = b0 == 0 ? _mm512_setzero_ps() : _mm512_permutexvar_ps(perm_v, _mm512_loadu_ps(yc));
            for (int b = b0; b < b1; b++) {
                const unsigned char *ab = a + (size_t) b * SN_Q8_0_BYTES, *wb = w + (size_t) b * bb + 2;
                __m512i isum;
                if (q8) {
                    const __m512i av = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *) (const void *) (ab + 2)));
                    /* -128 * (the sum of the activations each lane multiplies) */
                    const __m512i init = _mm512_sub_epi32(zero, _mm512_slli_epi32(_mm512_dpbusd_epi32(zero, ones, av), 7));
                    __m512i p[8];
                    for (int k = 0; k < 8; k++) {
                        const unsigned char *r0 = wb + (size_t) (2 * k) * row_bytes;
                        const __m512i wv = _mm512_inserti64x4(
                            _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *) (const void *) r0)),
                            _mm256_loadu_si256((const __m256i *) (const void *) (r0 + row_bytes)), 1);
                        p[k] = _mm512_dpbusd_epi32(init, _mm512_xor_si512(wv, flip), av);
                    }
                    isum = sn_reduce_q8_avx512(p);
                } else {
                    const __m512i alo = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *) (const void *) (ab + 2)));
                    const __m512i ahi = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *) (const void *) (ab + 18)));
                    /* -8 * (the sum of the activations each lane multiplies) */
                    const __m512i sa = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(zero, ones, alo), ones, ahi);
                    const __m512i init = _mm512_sub_epi32(zero, _mm512_slli_epi32(sa, 3));
                    __m512i p[4];
                    for (int k = 0; k < 4; k++) {
                        const unsigned char *r0 = wb + (size_t) (4 * k) * row_bytes;
                        __m512i v = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *) (const void *) r0));
                        v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *) (const void *) (r0 + row_bytes)), 1);
                        v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *) (const void *) (r0 + 2 * row_bytes)), 2);
                        v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *) (const void *) (r0 + 3 * row_bytes)), 3);
                        const __m512i lo = _mm512_and_si512(v, low4), hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), low4);
                        p[k] = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(init, lo, alo), hi, ahi);
                    }
                    isum = sn_add4x4_avx512(p);
                }
                const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *) (const void *) &scales[(b - b0) * 16]));
                const __m512 da = _mm512_cvtph_ps(_mm256_set1_epi16((short) sn_rd16(ab)));
                sum = _mm512_add_ps(sum, _mm512_mul_ps(_mm512_cvtepi32_ps(isum), _mm512_mul_ps(dw, da)));
            }
            _mm512_storeu_ps(yc, _mm512_permutexvar_ps(unperm_v, sum));
        }
    }
}

/*
 * Input rows below which the AVX-512 path runs the AVX2 dots, row by row (the same bits): at one input row (a 1-slot
 * decode step) the 16-row kernel is slower end to end on the stories110M-shape benchmark (148 against 205 tokens/s
 * for Q8_0 on 2 threads: its first touch of each weight line is the scale copy, and perf puts 70% of the step there),
 * although it wins in a cache-warm microbenchmark; from a few rows up it wins by 3x.
 */
#ifndef SN_AVX512_MIN_ROWS
#define SN_AVX512_MIN_ROWS 2
#endif

/* sn_matmul_quant's Q8_0 / Q4_0 rows [i0, i1) on the AVX-512 path: groups of 16 rows, then the rest one by one. */
SN_AVX512_TARGET static void sn_matmul_quant_avx512(const unsigned char *data, int32_t type, size_t row_bytes, int n,
                                                    const unsigned char *xq, int N, float *y, int ldy, int i0,
                                                    int i1) {
    const int nb = n / SN_QK;
    const size_t xq_stride = (size_t) nb * SN_Q8_0_BYTES;
    const int q8 = type == SN_GGML_Q8_0;
    int i = i0;
    for (; N >= SN_AVX512_MIN_ROWS && i + 16 <= i1; i += 16) {
        sn_matmul_quant16_avx512(data + (size_t) i * row_bytes, row_bytes, q8, nb, xq, xq_stride, N, y + i, ldy);
    }
    for (; i < i1; i++) {
        const unsigned char *wr = data + (size_t) i * row_bytes;
        for (int c = 0; c < N; c++) {
            const unsigned char *a = xq + (size_t) c * xq_stride;
            y[(size_t) c * ldy + i] = q8 ? sn_dot_q8_0_q8_0_avx2(wr, a, nb) : sn_dot_q4_0_q8_0_avx2(wr, a, nb);
        }
    }
}
#else
#define SN_HAVE_QUANT_AVX512 0
#endif

/*
 * F16 / BF16 weight rows [i0, i1) times N float input rows (x, stride n): each output is sn_dot's exact sequence of
 * float operations on the converted weights (8 lane accumulators over n & ~7, sn_hsum8, then the tail in order), so
 * an F16 model gives the bits of the F32 model holding the same values. Up to 4 input rows share each conversion.
 */
SN_INLINE void sn_matmul_half(const unsigned char *w, int32_t type, int n, const float *x, int N, float *y, int ldy,
                              int i0, int i1) {
    const int n8 = n & ~(SN_LANES - 1);
    for (int i = i0; i < i1; i++) {
        const unsigned char *wr = w + (size_t) i * 2 * (size_t) n;
        for (int c0 = 0; c0 < N; c0 += 4) {
            const int nc = N - c0 < 4 ? N - c0 : 4;
            const float *xc = x + (size_t) c0 * n;
            float s[4];
            int j = 0;
#if SN_HAVE_VEC
            sn_v8 acc[4];
            for (int c = 0; c < 4; c++) acc[c] = sn_bcast8(0.0f);
            for (; j < n8; j += 8) {
                float t[8];
                for (int u = 0; u < 8; u++) t[u] = sn_half_at(wr, type, j + u);
                const sn_v8 wv = sn_load8(t);
                for (int c = 0; c < nc; c++) acc[c] += wv * sn_load8(xc + (size_t) c * n + j);
            }
            for (int c = 0; c < nc; c++) s[c] = sn_hsum8(&acc[c]);
#else
            for (int c = 0; c < nc; c++) {
                float l[8] = {0, 0, 0, 0, 0, 0, 0, 0};
                for (j = 0; j < n8; j += 8)
                    for (int u = 0; u < 8; u++) l[u] += sn_half_at(wr, type, j + u) * xc[(size_t) c * n + j + u];
                s[c] = ((l[0] + l[4]) + (l[2] + l[6])) + ((l[1] + l[5]) + (l[3] + l[7]));
            }
            j = n8;
#endif
            for (int c = 0; c < nc; c++) {
                float v = s[c];
                for (int t = j; t < n; t++) v += sn_half_at(wr, type, t) * xc[(size_t) c * n + t];
                y[(size_t) (c0 + c) * ldy + i] = v;
            }
        }
    }
}

/*
 * Q8_0 / Q4_0 weight rows [i0, i1) times N input rows already quantized to Q8_0 (xq, n / 32 blocks each); simd: the
 * worker's SN_SIMD_* level, which picks the AVX2 dots or the AVX-512 kernel. The same bits on every level.
 */
SN_INLINE void sn_matmul_quant(const sn_weight *w, int n, const unsigned char *xq, int N, float *y, int ldy, int i0,
                               int i1, int simd) {
#if SN_HAVE_QUANT_AVX512
    if (simd >= SN_SIMD_AVX512_VNNI) {
        sn_matmul_quant_avx512(w->data, w->type, (size_t) w->row_bytes, n, xq, N, y, ldy, i0, i1);
        return;
    }
#endif
    const int nb = n / SN_QK;
    const size_t xq_stride = (size_t) nb * SN_Q8_0_BYTES;
    for (int i = i0; i < i1; i++) {
        const unsigned char *wr = w->data + (size_t) i * (size_t) w->row_bytes;
        for (int c = 0; c < N; c++) {
            const unsigned char *a = xq + (size_t) c * xq_stride;
            float v;
#if SN_HAVE_QUANT_AVX2
            if (simd >= SN_SIMD_AVX2) {
                v = w->type == SN_GGML_Q8_0 ? sn_dot_q8_0_q8_0_avx2(wr, a, nb) : sn_dot_q4_0_q8_0_avx2(wr, a, nb);
            } else
#endif
            {
                (void) simd;
                v = w->type == SN_GGML_Q8_0 ? sn_dot_q8_0_q8_0(wr, a, nb) : sn_dot_q4_0_q8_0(wr, a, nb);
            }
            y[(size_t) c * ldy + i] = v;
        }
    }
}

#if SN_HAVE_QUANT_AVX512
/*
 * sn_matmul_half for F16 on the AVX-512 path: every output the same float operations in the same order, but each 8
 * weights converted by one vcvtph2ps (exact, as sn_f16_to_f32 and the table) instead of 8 table reads, and 4 weight
 * rows at a time, whose independent accumulators hide the add latency that bounds one row at batch 1. The tail
 * (n % 8) reads the table as sn_matmul_half does.
 */
SN_AVX512_TARGET static void sn_matmul_f16_avx512(const unsigned char *w, int n, const float *x, int N, float *y,
                                                  int ldy, int i0, int i1) {
    const int n8 = n & ~(SN_LANES - 1);
    for (int i = i0; i < i1; i += 4) { /* 4 rows x up to 4 input rows: independent accumulators, shared loads */
        const int nr = i1 - i < 4 ? i1 - i : 4;
        const unsigned char *wr = w + (size_t) i * 2 * (size_t) n;
        for (int c0 = 0; c0 < N; c0 += 4) {
            const int nc = N - c0 < 4 ? N - c0 : 4;
            const float *xc = x + (size_t) c0 * n;
            sn_v8 acc[4][4];
            for (int r = 0; r < 4; r++)
                for (int c = 0; c < 4; c++) acc[r][c] = sn_bcast8(0.0f);
            int j = 0;
            for (; j < n8; j += 8) {
                sn_v8 xv[4];
                for (int c = 0; c < nc; c++) xv[c] = sn_load8(xc + (size_t) c * n + j);
                for (int r = 0; r < nr; r++) {
                    const __m128i h = _mm_loadu_si128((const __m128i *) (const void *) (wr + 2 * ((size_t) r * n + j)));
                    const sn_v8 wv = (sn_v8) _mm256_maskz_cvtph_ps((__mmask8) 0xFF, h);
                    for (int c = 0; c < nc; c++) acc[r][c] += wv * xv[c];
                }
            }
            for (int r = 0; r < nr; r++) {
                const unsigned char *wrr = wr + 2 * (size_t) r * n;
                for (int c = 0; c < nc; c++) {
                    float v = sn_hsum8(&acc[r][c]);
                    for (int t = j; t < n; t++) v += sn_half_at(wrr, SN_GGML_F16, t) * xc[(size_t) c * n + t];
                    y[(size_t) (c0 + c) * ldy + i + r] = v;
                }
            }
        }
    }
}
#endif

/*
 * Y[c][i] = W[i] . X[c] for weight rows [i0, i1) of the typed matrix w (row length n) and N input rows: F32 through
 * sn_matmul_rows (llama2.c checkpoints take exactly this path), F16/BF16 through sn_matmul_half, Q8_0/Q4_0 through
 * sn_matmul_quant on xq, the input rows quantized to Q8_0 beforehand (sn_quantize_rows).
 */
SN_INLINE void sn_matmul_typed(const sn_weight *w, int n, const float *x, const unsigned char *xq, int N, float *y,
                               int ldy, int i0, int i1, int simd) {
    switch (w->type) {
        case SN_GGML_F32: sn_matmul_rows((const float *) (const void *) w->data, n, x, N, y, ldy, i0, i1); break;
        /* constant types, so that each inlined copy converts without a per-element branch */
        case SN_GGML_F16:
#if SN_HAVE_QUANT_AVX512
            if (simd >= SN_SIMD_AVX512_VNNI) {
                sn_matmul_f16_avx512(w->data, n, x, N, y, ldy, i0, i1);
                break;
            }
#endif
            sn_matmul_half(w->data, SN_GGML_F16, n, x, N, y, ldy, i0, i1);
            break;
        case SN_GGML_BF16: sn_matmul_half(w->data, SN_GGML_BF16, n, x, N, y, ldy, i0, i1); break;
        default: sn_matmul_quant(w, n, xq, N, y, ldy, i0, i1, simd); break;
    }
}

/* Row r of the typed matrix w (cols elements) as floats into dst: dequantized as ggml's dequantize_row_* does. */
SN_INLINE void sn_row_to_f32(const sn_weight *w, int r, float *dst) {
    const unsigned char *row = w->data + (size_t) r * (size_t) w->row_bytes;
    const int n = w->cols;
    switch (w->type) {
        case SN_GGML_F32: memcpy(dst, row, (size_t) n * sizeof(float)); break;
        case SN_GGML_F16:
        case SN_GGML_BF16:
            for (int j = 0; j < n; j++) dst[j] = sn_half_at(row, w->type, j);
            break;
        case SN_GGML_Q8_0:
            for (int b = 0; b < n / SN_QK; b++) {
                const unsigned char *blk = row + (size_t) b * SN_Q8_0_BYTES;
                const float d = sn_f16_to_f32(sn_rd16(blk));
                for (int j = 0; j < SN_QK; j++) dst[b * SN_QK + j] = (float) (int8_t) blk[2 + j] * d;
            }
            break;
        default: /* SN_GGML_Q4_0 */
            for (int b = 0; b < n / SN_QK; b++) {
                const unsigned char *blk = row + (size_t) b * SN_Q4_0_BYTES;
                const float d = sn_f16_to_f32(sn_rd16(blk));
                for (int j = 0; j < SN_QK / 2; j++) {
                    dst[b * SN_QK + j] = (float) ((blk[2 + j] & 0x0F) - 8) * d;
                    dst[b * SN_QK + j + SN_QK / 2] = (float) ((blk[2 + j] >> 4) - 8) * d;
                }
            }
            break;
    }
}

/* This thread's contiguous share [*i0, *i1) of d weight rows, in whole blocks of 4 (so RoPE pairs stay together). */
SN_INLINE void sn_split(int d, int tid, int nth, int *i0, int *i1) {
    const int blocks = (d + 3) / 4;
    const int per = blocks / nth, extra = blocks % nth;
    const int b0 = tid * per + (tid < extra ? tid : extra);
    const int b1 = b0 + per + (tid < extra ? 1 : 0);
    *i0 = b0 * 4 < d ? b0 * 4 : d;
    *i1 = b1 * 4 < d ? b1 * 4 : d;
}

/* llama2.c rmsnorm(): sequential sum of squares, then o = weight * (scale * x); eps is 1e-5f there. */
SN_INLINE void sn_rmsnorm(float *o, const float *x, const float *weight, int size, float eps) {
    float ss = 0.0f;
    for (int j = 0; j < size; j++) ss += x[j] * x[j];
    ss /= size;
    ss += eps;
    ss = 1.0f / sqrtf(ss);
    for (int j = 0; j < size; j++) o[j] = weight[j] * (ss * x[j]);
}

/*
 * sn_rmsnorm of the rows r = tid, tid + nth, ... of x [R][dim] into o [R][dim]; when xq is not NULL each output row
 * is also quantized to Q8_0 into xq (the input of Q8_0/Q4_0 matmuls), by the thread that wrote it.
 */
SN_INLINE void sn_rmsnorm_rows(float *o, const float *x, const float *weight, int R, int dim, float eps,
                               unsigned char *xq, int tid, int nth) {
    for (int r = tid; r < R; r += nth) {
        sn_rmsnorm(o + (size_t) r * dim, x + (size_t) r * dim, weight, dim, eps);
        if (xq != NULL) sn_quantize_row_q8_0(o + (size_t) r * dim, dim, xq + (size_t) r * (dim / SN_QK) * SN_Q8_0_BYTES);
    }
}

/* Row-parallel: the rows tid, tid + nth, ... of x [R][n] quantized to Q8_0 into xq [R][n / 32 blocks]. */
SN_INLINE void sn_quantize_rows(unsigned char *xq, const float *x, int R, int n, int tid, int nth) {
    for (int r = tid; r < R; r += nth) {
        sn_quantize_row_q8_0(x + (size_t) r * n, n, xq + (size_t) r * (n / SN_QK) * SN_Q8_0_BYTES);
    }
}

/*
 * llama2.c's RoPE on the elements [i0, i1) of one q or k row v (i0 and i1 even, as sn_split keeps them):
 * each pair (v[i], v[i+1]) turns by the angle of its index within its head, at the position whose table
 * row `rope` is ([head_size/2][2] cos, sin).
 */
SN_INLINE void sn_rope(float *v, const float *rope, int hs, int i0, int i1) {
    for (int i = i0; i < i1; i += 2) {
        const int hd = i % hs;
        const float fcr = rope[hd], fci = rope[hd + 1];
        const float v0 = v[i], v1 = v[i + 1];
        v[i] = v0 * fcr - v1 * fci;
        v[i + 1] = v0 * fci + v1 * fcr;
    }
}

/* The residual connection on the columns [i0, i1) of R rows of length dim: x += o. */
SN_INLINE void sn_residual_add(float *x, const float *o, int R, int dim, int i0, int i1) {
    for (int r = 0; r < R; r++) {
        float *xr = x + (size_t) r * dim;
        const float *orow = o + (size_t) r * dim;
        for (int i = i0; i < i1; i++) xr[i] += orow[i];
    }
}

/* llama2.c's SwiGLU on the elements [i0, i1) of one row: h1 = silu(h1) * h3. */
SN_INLINE void sn_swiglu(float *h1, const float *h3, int i0, int i1) {
    for (int i = i0; i < i1; i++) {
        float val = h1[i];
        val *= (1.0f / (1.0f + expf(-val)));
        val *= h3[i];
        h1[i] = val;
    }
}

/* One step as the pool's threads see it: the validated rows, and the rows that get logits. */
typedef struct sn_forward_job {
    sn_llama_batch *b;
    sn_pool *pool; /* NULL when the step runs on the caller alone */
    int rows;
    const int32_t *tokens, *positions, *slots;
    int n_logits;
    const int32_t *logit_rows; /* [n_logits] ascending */
    int simd;                  /* the worker's SN_SIMD_* level: which Q8_0/Q4_0 kernels it calls */
} sn_forward_job;

/*
 * The phases of one step, each one thread's part of it (thread tid of nth). Row-parallel phases take the
 * rows tid, tid + nth, ...; weight-parallel phases take this thread's sn_split share of the weight rows
 * (output columns) for every row of the step; attention takes a contiguous share of the (row, head) items.
 * The blocks put a barrier wherever a phase reads what other threads wrote.
 */

/* Element offset of layer l's part [max_slots][seq_len][kv_dim] of a cache [layer][slot][pos][kv_dim]. */
SN_INLINE size_t sn_cache_layer(const sn_llama_batch *b, int l) {
    const size_t slot_stride = (size_t) b->m->seq_len * b->m->kv_dim;
    return (size_t) l * ((size_t) b->max_slots * slot_stride);
}

/* Row-parallel: x = the token's embedding row. */
SN_INLINE void sn_phase_embed(const sn_forward_job *s, int tid, int nth) {
    const sn_llama_model *m = s->b->m;
    const int dim = m->dim;
    for (int r = tid; r < s->rows; r += nth) {
        sn_row_to_f32(SN_W(m, SN_T_TOKEN_EMBEDDING, 0), s->tokens[r], s->b->x + (size_t) r * dim);
    }
}

/* Weight-parallel: q, k, v = wq, wk, wv times xb; RoPE on this thread's q and k pairs; k, v into the cache. */
SN_INLINE void sn_phase_qkv(const sn_forward_job *s, int l, int tid, int nth) {
    sn_llama_batch *b = s->b;
    const sn_llama_model *m = b->m;
    const int R = s->rows, dim = m->dim, kv_dim = m->kv_dim, hs = m->head_size;
    const size_t slot_stride = (size_t) m->seq_len * kv_dim;
    const size_t layer = sn_cache_layer(b, l);
    int i0, i1;
    sn_split(dim, tid, nth, &i0, &i1);
    sn_matmul_typed(SN_W(m, SN_T_WQ, l), dim, b->xb, b->xq, R, b->q, dim, i0, i1, s->simd);
    for (int r = 0; r < R; r++) sn_rope(b->q + (size_t) r * dim, m->rope + (size_t) s->positions[r] * hs, hs, i0, i1);
    sn_split(kv_dim, tid, nth, &i0, &i1);
    sn_matmul_typed(SN_W(m, SN_T_WK, l), dim, b->xb, b->xq, R, b->k, kv_dim, i0, i1, s->simd);
    sn_matmul_typed(SN_W(m, SN_T_WV, l), dim, b->xb, b->xq, R, b->v, kv_dim, i0, i1, s->simd);
    for (int r = 0; r < R; r++) {
        const int pos = s->positions[r];
        float *k = b->k + (size_t) r * kv_dim;
        sn_rope(k, m->rope + (size_t) pos * hs, hs, i0, i1);
        const size_t off = layer + (size_t) s->slots[r] * slot_stride + (size_t) pos * kv_dim;
        const float *v = b->v + (size_t) r * kv_dim;
        if (b->kv_f16) {
            uint16_t *kh = (uint16_t *) b->key_cache + off, *vh = (uint16_t *) b->value_cache + off;
            for (int i = i0; i < i1; i++) {
                kh[i] = sn_f32_to_f16(k[i]);
                vh[i] = sn_f32_to_f16(v[i]);
            }
        } else {
            memcpy((float *) b->key_cache + off + i0, k + i0, (size_t) (i1 - i0) * sizeof(float));
            memcpy((float *) b->value_cache + off + i0, v + i0, (size_t) (i1 - i0) * sizeof(float));
        }
    }
}

/*
 * (Row, head)-parallel: each row's query head against its slot's cached keys 0..pos (including the rows
 * this step wrote), softmax, then the weighted sum of the cached values into xb.
 */
SN_INLINE void sn_phase_attention(const sn_forward_job *s, int l, int tid, int nth) {
    sn_llama_batch *b = s->b;
    const sn_llama_model *m = b->m;
    const int dim = m->dim, kv_dim = m->kv_dim, hs = m->head_size;
    const int n_heads = m->n_heads, kv_mul = m->kv_mul, seq = m->seq_len;
    const size_t slot_stride = (size_t) seq * kv_dim;
    const size_t layer = sn_cache_layer(b, l);
    const float att_scale = sqrtf((float) hs);
    const int items = s->rows * n_heads;
    const int per = items / nth, extra = items % nth;
    const int it0 = tid * per + (tid < extra ? tid : extra);
    const int it1 = it0 + per + (tid < extra ? 1 : 0);
    for (int it = it0; it < it1; it++) {
        const int r = it / n_heads, h = it % n_heads;
        const int pos = s->positions[r];
        const float *q = b->q + (size_t) r * dim + (size_t) h * hs;
        float *att = b->att + ((size_t) r * n_heads + h) * seq;
        const size_t base = layer + (size_t) s->slots[r] * slot_stride + (size_t) (h / kv_mul) * hs;
        float *out = b->xb + (size_t) r * dim + (size_t) h * hs;
        if (b->kv_f16) {
            sn_att_scores_f16(att, q, (const uint16_t *) b->key_cache + base, kv_dim, hs, pos + 1, att_scale);
            sn_softmax(att, pos + 1);
            sn_att_values_f16(out, att, (const uint16_t *) b->value_cache + base, kv_dim, hs, pos + 1);
        } else {
            sn_att_scores(att, q, (const float *) b->key_cache + base, kv_dim, hs, pos + 1, att_scale);
            sn_softmax(att, pos + 1);
            sn_att_values(out, att, (const float *) b->value_cache + base, kv_dim, hs, pos + 1);
        }
    }
}

/* Weight-parallel: wo times xb (into q, which attention no longer needs), then the residual into x. */
SN_INLINE void sn_phase_attention_out(const sn_forward_job *s, int l, int tid, int nth) {
    sn_llama_batch *b = s->b;
    const int dim = b->m->dim;
    int i0, i1;
    sn_split(dim, tid, nth, &i0, &i1);
    sn_matmul_typed(SN_W(b->m, SN_T_WO, l), dim, b->xb, b->xq, s->rows, b->q, dim, i0, i1, s->simd);
    sn_residual_add(b->x, b->q, s->rows, dim, i0, i1);
}

/* Weight-parallel: hb = w1 times xb, hb2 = w3 times xb, then SwiGLU on this thread's hidden units. */
SN_INLINE void sn_phase_ffn_up(const sn_forward_job *s, int l, int tid, int nth) {
    sn_llama_batch *b = s->b;
    const sn_llama_model *m = b->m;
    const int dim = m->dim, hidden = m->hidden;
    int i0, i1;
    sn_split(hidden, tid, nth, &i0, &i1);
    sn_matmul_typed(SN_W(m, SN_T_W1, l), dim, b->xb, b->xq, s->rows, b->hb, hidden, i0, i1, s->simd);
    sn_matmul_typed(SN_W(m, SN_T_W3, l), dim, b->xb, b->xq, s->rows, b->hb2, hidden, i0, i1, s->simd);
    for (int r = 0; r < s->rows; r++) sn_swiglu(b->hb + (size_t) r * hidden, b->hb2 + (size_t) r * hidden, i0, i1);
}

/* Weight-parallel: w2 times hb (into q), then the residual into x. */
SN_INLINE void sn_phase_ffn_down(const sn_forward_job *s, int l, int tid, int nth) {
    sn_llama_batch *b = s->b;
    const int dim = b->m->dim, hidden = b->m->hidden;
    int i0, i1;
    sn_split(dim, tid, nth, &i0, &i1);
    sn_matmul_typed(SN_W(b->m, SN_T_W2, l), hidden, b->hb, b->xq, s->rows, b->q, dim, i0, i1, s->simd);
    sn_residual_add(b->x, b->q, s->rows, dim, i0, i1);
}

/*
 * The attention block of layer l: rmsnorm, q/k/v with RoPE and the cache write, attention, wo + residual. Inputs
 * of Q8_0/Q4_0 matrices are quantized once per step and layer: xb after the rmsnorm (for wq, wk, wv), and after
 * attention (for wo, a row-parallel phase of its own since attention splits rows across threads by head).
 */
SN_INLINE void sn_attention_block(const sn_forward_job *s, int l, int tid, int nth) {
    const sn_llama_model *m = s->b->m;
    const int q_in = sn_type_quantized(SN_W(m, SN_T_WQ, l)->type) || sn_type_quantized(SN_W(m, SN_T_WK, l)->type)
        || sn_type_quantized(SN_W(m, SN_T_WV, l)->type);
    sn_rmsnorm_rows(s->b->xb, s->b->x, (const float *) (const void *) SN_W(m, SN_T_RMS_ATT, l)->data, s->rows, m->dim,
                    m->rms_eps, q_in ? s->b->xq : NULL, tid, nth);
    sn_pool_barrier(s->pool);
    sn_phase_qkv(s, l, tid, nth);
    sn_pool_barrier(s->pool); /* every row's k, v are in the cache before any row attends */
    sn_phase_attention(s, l, tid, nth);
    sn_pool_barrier(s->pool);
    if (sn_type_quantized(SN_W(m, SN_T_WO, l)->type)) {
        sn_quantize_rows(s->b->xq, s->b->xb, s->rows, m->dim, tid, nth);
        sn_pool_barrier(s->pool);
    }
    sn_phase_attention_out(s, l, tid, nth);
    sn_pool_barrier(s->pool);
}

/*
 * The feed-forward block of layer l: rmsnorm, w1 and w3 with SwiGLU, w2 + residual; Q8_0/Q4_0 inputs quantized
 * after the rmsnorm (w1, w3) and after SwiGLU (w2, its own row-parallel phase: SwiGLU splits hidden units).
 */
SN_INLINE void sn_ffn_block(const sn_forward_job *s, int l, int tid, int nth) {
    const sn_llama_model *m = s->b->m;
    const int q_in = sn_type_quantized(SN_W(m, SN_T_W1, l)->type) || sn_type_quantized(SN_W(m, SN_T_W3, l)->type);
    sn_rmsnorm_rows(s->b->xb, s->b->x, (const float *) (const void *) SN_W(m, SN_T_RMS_FFN, l)->data, s->rows, m->dim,
                    m->rms_eps, q_in ? s->b->xq : NULL, tid, nth);
    sn_pool_barrier(s->pool);
    sn_phase_ffn_up(s, l, tid, nth);
    sn_pool_barrier(s->pool);
    if (sn_type_quantized(SN_W(m, SN_T_W2, l)->type)) {
        sn_quantize_rows(s->b->xq, s->b->hb, s->rows, m->hidden, tid, nth);
        sn_pool_barrier(s->pool);
    }
    sn_phase_ffn_down(s, l, tid, nth);
    sn_pool_barrier(s->pool);
}

/*
 * The final rmsnorm of the rows that get logits, packed (xb row k is row logit_rows[k]), then the
 * classifier for those rows only, weight-parallel.
 */
SN_INLINE void sn_classifier(const sn_forward_job *s, int tid, int nth) {
    sn_llama_batch *b = s->b;
    const sn_llama_model *m = b->m;
    const int dim = m->dim;
    const sn_weight *wcls = SN_W(m, SN_T_WCLS, 0);
    const float *rms_final = (const float *) (const void *) SN_W(m, SN_T_RMS_FINAL, 0)->data;
    for (int k = tid; k < s->n_logits; k += nth) {
        sn_rmsnorm(b->xb + (size_t) k * dim, b->x + (size_t) s->logit_rows[k] * dim, rms_final, dim, m->rms_eps);
        if (sn_type_quantized(wcls->type)) {
            sn_quantize_row_q8_0(b->xb + (size_t) k * dim, dim, b->xq + (size_t) k * (dim / SN_QK) * SN_Q8_0_BYTES);
        }
    }
    sn_pool_barrier(s->pool);
    if (s->n_logits > 0) {
        int i0, i1;
        sn_split(m->vocab, tid, nth, &i0, &i1);
        sn_matmul_typed(wcls, dim, b->xb, b->xq, s->n_logits, b->logits, m->vocab, i0, i1, s->simd);
    }
}

/* One thread's part of a whole forward step; all threads run it, separated by the blocks' barriers. */
SN_INLINE void sn_forward_worker_body(const sn_forward_job *s, int tid, int nth) {
    /* No barrier after the embedding: the first rmsnorm reads each row on the thread that wrote it. */
    sn_phase_embed(s, tid, nth);
    for (int l = 0; l < s->b->m->n_layers; l++) {
        sn_attention_block(s, l, tid, nth);
        sn_ffn_block(s, l, tid, nth);
    }
    sn_classifier(s, tid, nth);
}

static void sn_forward_worker_generic(void *s, int tid, int nth) {
    sn_forward_worker_body((const sn_forward_job *) s, tid, nth);
}

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define SN_HAVE_AVX_PATH 1
__attribute__((target("avx2"))) static void sn_forward_worker_avx(void *s, int tid, int nth) {
    sn_forward_worker_body((const sn_forward_job *) s, tid, nth);
}
/* The AVX-512 worker: the AVX2 worker's code compiled for AVX-512, with the 16-row Q8_0/Q4_0 kernel. */
SN_AVX512_TARGET static void sn_forward_worker_avx512(void *s, int tid, int nth) {
    sn_forward_worker_body((const sn_forward_job *) s, tid, nth);
}
#else
#define SN_HAVE_AVX_PATH 0
#endif

/* The worker of a SN_SIMD_* level this build and CPU can run (the caller checked the CPU). */
static inline sn_pool_fn sn_forward_worker_of(int32_t simd) {
#if SN_HAVE_AVX_PATH
    if (simd >= SN_SIMD_AVX512_VNNI) return sn_forward_worker_avx512;
    if (simd >= SN_SIMD_AVX2) return sn_forward_worker_avx;
#endif
    (void) simd;
    return sn_forward_worker_generic;
}

/* The SN_SIMD_* level sn_llama_forward() runs this batch on now (its limit, if any, and the CPU's best). */
static inline int32_t sn_llama_batch_simd(int64_t batch) {
    const sn_llama_batch *b = (const sn_llama_batch *) (intptr_t) batch;
    if (b->simd_cap < 0) return sn_llama_simd_default();
    const int32_t best = sn_llama_simd_supported();
    return b->simd_cap < best ? b->simd_cap : best;
}

/* ---- test hooks: the typed kernels alone, on each instruction set -------------------------------- */

/* Y[c][i] = W[i] . X[c] for all `rows` rows of a typed matrix (row length n) and N float input rows. */
SN_INLINE void sn_test_matmul_body(int32_t type, const unsigned char *w, int32_t rows, int32_t n, const float *x,
                                   int32_t N, float *y, unsigned char *xq, int simd) {
    sn_weight wt;
    wt.data = w;
    wt.type = type;
    wt.cols = n;
    wt.row_bytes = sn_row_bytes(type, n);
    if (sn_type_quantized(type)) sn_quantize_rows(xq, x, N, n, 0, 1);
    sn_matmul_typed(&wt, n, x, xq, N, y, rows, 0, rows, simd);
}

static void sn_test_matmul_generic(int32_t type, const unsigned char *w, int32_t rows, int32_t n, const float *x,
                                   int32_t N, float *y, unsigned char *xq) {
    sn_test_matmul_body(type, w, rows, n, x, N, y, xq, SN_SIMD_GENERIC);
}

#if SN_HAVE_AVX_PATH
__attribute__((target("avx2"))) static void sn_test_matmul_avx(int32_t type, const unsigned char *w, int32_t rows,
                                                                int32_t n, const float *x, int32_t N, float *y,
                                                                unsigned char *xq) {
    sn_test_matmul_body(type, w, rows, n, x, N, y, xq, SN_SIMD_AVX2);
}

SN_AVX512_TARGET static void sn_test_matmul_avx512(int32_t type, const unsigned char *w, int32_t rows, int32_t n,
                                                   const float *x, int32_t N, float *y, unsigned char *xq) {
    sn_test_matmul_body(type, w, rows, n, x, N, y, xq, SN_SIMD_AVX512_VNNI);
}
#endif

/*
 * Tests only: y [N][rows] = the typed matrix w ([rows][n] of SN_GGML_* type) times x [N][n], through the forward
 * pass's kernels (Q8_0/Q4_0: x quantized to Q8_0 first), on the SN_SIMD_* level max_simd, or the CPU's best if that
 * is lower (SPARKNATIVE_SIMD does not apply). Returns the level that ran, SN_ERR_ARG for a bad type, shape or level,
 * SN_ERR_NOMEM.
 */
static inline int32_t sn_llama_test_matmul(int32_t type, const unsigned char *w, int32_t rows, int32_t n,
                                           const float *x, int32_t N, float *y, int32_t max_simd) {
    if (rows <= 0 || n <= 0 || N <= 0 || sn_row_bytes(type, n) < 0) return SN_ERR_ARG;
    if (max_simd < SN_SIMD_GENERIC || max_simd > SN_SIMD_AVX512_VNNI) return SN_ERR_ARG;
    sn_f16_table_ready();
    unsigned char *xq = (unsigned char *) malloc((size_t) N * (size_t) (n / SN_QK + 1) * SN_Q8_0_BYTES);
    if (xq == NULL) return SN_ERR_NOMEM;
    const int32_t best = sn_llama_simd_supported();
    const int32_t simd = max_simd < best ? max_simd : best;
#if SN_HAVE_AVX_PATH
    if (simd == SN_SIMD_AVX512_VNNI) sn_test_matmul_avx512(type, w, rows, n, x, N, y, xq);
    if (simd == SN_SIMD_AVX2) sn_test_matmul_avx(type, w, rows, n, x, N, y, xq);
#endif
    if (simd == SN_SIMD_GENERIC) sn_test_matmul_generic(type, w, rows, n, x, N, y, xq);
    free(xq);
    return simd;
}

/* Tests only: n floats (a multiple of 32) quantized to Q8_0 at dst (n / 32 * 34 bytes), as the forward pass does. */
static inline void sn_llama_test_quantize_q8_0(const float *x, int32_t n, unsigned char *dst) {
    sn_quantize_row_q8_0(x, n, dst);
}

/* Tests only: float to binary16 bits and back, as the forward pass converts. */
static inline int32_t sn_llama_test_f32_to_f16(float f) { return sn_f32_to_f16(f); }
static inline float sn_llama_test_f16_to_f32(int32_t h) { return sn_f16_to_f32((uint16_t) h); }

/*
 * One batched step over the rows of `step` (see sn_llama_step). In every layer all rows' K/V are written to
 * the cache before any attention runs, so several rows of one slot at distinct positions (chunked prefill)
 * attend to each other causally. Logits are computed only for the rows flagged in step->logits, into logits
 * rows 0, 1, ... in row order. Returns SN_OK, or SN_ERR_ARG (nothing computed) if the step is NULL, has
 * more than max_rows rows or a NULL array, or any token, position or slot is out of range.
 */
static inline sn_status sn_llama_forward(int64_t batch, const sn_llama_step *step, int32_t threads) {
    sn_llama_batch *b = (sn_llama_batch *) (intptr_t) batch;
    if (b == NULL || step == NULL) return SN_ERR_ARG;
    const int32_t rows = step->n_rows;
    if (rows < 0 || rows > b->max_rows) return SN_ERR_ARG;
    if (rows == 0) return SN_OK;
    if (step->token == NULL || step->pos == NULL || step->slot == NULL) return SN_ERR_ARG;
    const sn_llama_model *m = b->m;
    for (int r = 0; r < rows; r++) {
        if (step->token[r] < 0 || step->token[r] >= m->vocab || step->pos[r] < 0 || step->pos[r] >= m->seq_len
            || step->slot[r] < 0 || step->slot[r] >= b->max_slots) {
            return SN_ERR_ARG;
        }
    }
    int32_t n_logits = 0;
    if (step->logits != NULL) {
        for (int r = 0; r < rows; r++) {
            if (step->logits[r] != 0) b->logit_rows[n_logits++] = r;
        }
    }
    sn_forward_job s;
    s.b = b;
    s.pool = NULL;
    s.rows = rows;
    s.tokens = step->token;
    s.positions = step->pos;
    s.slots = step->slot;
    s.n_logits = n_logits;
    s.logit_rows = b->logit_rows;
    s.simd = sn_llama_batch_simd(batch);
    const sn_pool_fn worker = sn_forward_worker_of(s.simd);
    if (threads > 1 && b->pool_threads != threads) {
        sn_pool_free(b->pool);
        b->pool = sn_pool_new(threads - 1); /* NULL or fewer workers if threads cannot be created: same results */
        b->pool_threads = threads;
    }
    if (threads <= 1 || b->pool == NULL) {
        worker(&s, 0, 1);
    } else {
        s.pool = b->pool;
        sn_pool_run(b->pool, worker, &s);
    }
    return SN_OK;
}

/*
 * Samples from logits row k of the last forward (which must have produced more than k rows), exactly as
 * llama2.c's sampler (see sn_sampler.h); the logits themselves are left untouched (copied to scratch).
 * Returns the token, or SN_ERR_ARG.
 */
static inline int32_t sn_llama_batch_sample(int64_t batch, int32_t k, float temperature, float topp, uint64_t *rng_state) {
    sn_llama_batch *b = (sn_llama_batch *) (intptr_t) batch;
    if (b == NULL || k < 0 || k >= b->max_rows) return SN_ERR_ARG;
    const int n = b->m->vocab;
    return sn_sample(b->logits + (size_t) k * n, n, temperature, topp, rng_state, b->probs, b->probindex);
}

/*
 * As sn_llama_batch_sample() after the repetition penalty over recent[0, n_recent) and top-k (see
 * sn_sample_filtered() in sn_sampler.h). Returns the token, or SN_ERR_ARG.
 */
static inline int32_t sn_llama_batch_sample_filtered(int64_t batch, int32_t k, float temperature, float topp, int32_t top_k,
                                                     float penalty, const int32_t *recent, int32_t n_recent,
                                                     uint64_t *rng_state) {
    sn_llama_batch *b = (sn_llama_batch *) (intptr_t) batch;
    if (b == NULL || k < 0 || k >= b->max_rows || n_recent < 0) return SN_ERR_ARG;
    const int n = b->m->vocab;
    return sn_sample_filtered(b->logits + (size_t) k * n, n, temperature, topp, top_k, penalty, recent, n_recent,
                              rng_state, b->probs, b->probindex);
}

#endif /* SN_LLAMA_H */

/*
 * spark-native: a host emulation of the CUDA Llama-2 forward pass, for machines without a GPU. It compiles
 * ../../main/cuda/sn_llama.cu with g++ behind a small shim (__global__, __shared__, threadIdx, blockIdx; the
 * threads of a block run as fibers, __syncthreads switching to the next one, so every thread reaches a
 * barrier before any passes it, and a barrier that not every thread reaches aborts), replays the
 * launch sequence of CudaLlamaBatch.forward (same buffers, same offsets, same grids and blocks), and
 * compares the logits with the CPU forward pass of sn_llama.h on random models (GQA, unshared classifier,
 * odd widths, a context past 256 positions, chunked prefill, several slots per step). It also checks the
 * INVARIANT matmul's batch invariance (a row alone vs among others, bit for bit).
 *
 * It checks the kernels' indexing, reductions and barriers and the launch shapes; it does not check CUDA's
 * own behaviour (its expf, memory model, launch limits). Not part of the Maven build: run ./run.sh.
 */
#include <ucontext.h>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <vector>

struct dim3 {
    unsigned x = 1, y = 1, z = 1;
};
/* The CUDA threads of a block are fibers (ucontext) on the calling thread: __syncthreads() returns to the
   scheduler, which runs every other fiber of the block up to its own __syncthreads() before resuming any. */
static dim3 threadIdx, blockIdx, blockDim, gridDim;
static void sn_emu_sync();
#define __global__
#define __shared__ static
#define __launch_bounds__(n)
#define __syncthreads() sn_emu_sync()

#include "sn_llama.cu"
#include "sn_llama.h"

/* Runs f as grid x block CUDA threads: blocks one after another, the threads of a block as fibers. */
static const int MAX_THREADS = 256;
static const size_t STACK = 256 * 1024;
static ucontext_t g_main, g_ctx[MAX_THREADS];
static char *g_stacks[MAX_THREADS];
static bool g_done[MAX_THREADS];
static int g_cur;
static const std::function<void()> *g_job;

static void sn_emu_sync() { swapcontext(&g_ctx[g_cur], &g_main); }

static void fiber_entry(int t) {
    (*g_job)();
    g_done[t] = true;
} /* returns through uc_link to g_main */

static void launch(dim3 grid, dim3 block, const std::function<void()> &f) {
    const int nt = (int) block.x;
    if (block.y != 1 || block.z != 1 || nt > MAX_THREADS || nt == 0) abort();
    gridDim = grid;
    blockDim = block;
    g_job = &f;
    for (unsigned bz = 0; bz < grid.z; bz++)
        for (unsigned by = 0; by < grid.y; by++)
            for (unsigned bx = 0; bx < grid.x; bx++) {
                blockIdx = dim3{bx, by, bz};
                for (int t = 0; t < nt; t++) {
                    if (g_stacks[t] == nullptr) g_stacks[t] = (char *) malloc(STACK);
                    getcontext(&g_ctx[t]);
                    g_ctx[t].uc_stack.ss_sp = g_stacks[t];
                    g_ctx[t].uc_stack.ss_size = STACK;
                    g_ctx[t].uc_link = &g_main;
                    makecontext(&g_ctx[t], (void (*)()) fiber_entry, 1, t);
                    g_done[t] = false;
                }
                for (int left = nt; left > 0;) {
                    int before = left;
                    left = 0;
                    for (int t = 0; t < nt; t++) {
                        if (g_done[t]) continue;
                        g_cur = t;
                        threadIdx = dim3{(unsigned) t, 0, 0};
                        swapcontext(&g_main, &g_ctx[t]);
                        if (!g_done[t]) left++;
                    }
                    /* a round in which some threads finished while others wait at a barrier: divergent
                       __syncthreads, undefined on a GPU */
                    if (left > 0 && left < before && left != nt) {
                        fprintf(stderr, "divergent __syncthreads: %d of %d threads still running\n", left, nt);
                        abort();
                    }
                }
            }
}

static unsigned ceil_div(long a, long b) { return (unsigned) ((a + b - 1) / b); }

struct Config {
    int dim, hidden, layers, heads, kv_heads, vocab, seq;
    bool shared;
};

/* A random model in memory, as sn_llama_model_map would build it (weights uniform, RMSNorm in [0.9, 1.1]). */
struct Model {
    sn_llama_model m;
    std::vector<float> w;
};

static void make_model(Model &mm, const Config &c, unsigned seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> u(-0.3f, 0.3f), g(0.9f, 1.1f);
    const long d = c.dim, h = c.hidden, L = c.layers, V = c.vocab, hs = c.dim / c.heads, kvd = hs * c.kv_heads;
    const long sizes[SN_T_COUNT] = {V * d, L * d, L * d * d, L * kvd * d, L * kvd * d, L * d * d, L * d,
                                    L * h * d, L * d * h, L * h * d, d, c.shared ? 0 : V * d};
    long total = 0;
    for (long s : sizes) total += s;
    mm.w.resize(total);
    long off[SN_T_COUNT];
    long o = 0;
    for (int t = 0; t < SN_T_COUNT; t++) {
        off[t] = o;
        const bool rms = t == SN_T_RMS_ATT || t == SN_T_RMS_FFN || t == SN_T_RMS_FINAL;
        for (long i = 0; i < sizes[t]; i++) mm.w[o + i] = rms ? g(rng) : u(rng);
        o += sizes[t];
    }
    sn_llama_model &m = mm.m;
    memset(&m, 0, sizeof m);
    m.dim = c.dim; m.hidden = c.hidden; m.n_layers = c.layers; m.n_heads = c.heads; m.n_kv_heads = c.kv_heads;
    m.vocab = c.vocab; m.seq_len = c.seq; m.head_size = (int) hs; m.kv_dim = (int) kvd; m.kv_mul = c.heads / c.kv_heads;
    const float *b = mm.w.data();
    m.tok_emb = b + off[0]; m.rms_att = b + off[1]; m.wq = b + off[2]; m.wk = b + off[3]; m.wv = b + off[4];
    m.wo = b + off[5]; m.rms_ffn = b + off[6]; m.w1 = b + off[7]; m.w2 = b + off[8]; m.w3 = b + off[9];
    m.rms_final = b + off[10]; m.wcls = c.shared ? m.tok_emb : b + off[11];
    m.rope = (float *) malloc(sizeof(float) * c.seq * hs);
    sn_rope_table(m.rope, c.seq, (int) hs); /* sn_llama_model_map's formula (LlamaMathTest proves the bits equal) */
    if (sn_llama_model_f32_weights(&m) != SN_OK) abort(); /* the typed weight table the CPU forward pass reads */
}

/* CudaLlamaBatch's device memory and forward(), on host memory: the same layout, offsets and launches. */
struct EmuBatch {
    const sn_llama_model *m;
    int max_slots, max_rows;
    std::vector<float> key_cache, value_cache, scratch;
    std::vector<int32_t> ints;
    float *x, *xb, *q, *k, *v, *hb, *hb2, *att, *logits;
    int32_t *d_tokens, *d_positions, *d_slots, *d_logit_rows, *d_argmax;

    EmuBatch(const sn_llama_model *m, int slots, int rows) : m(m), max_slots(slots), max_rows(rows) {
        const long R = rows;
        key_cache.assign((size_t) m->n_layers * slots * m->seq_len * m->kv_dim, 0.f);
        value_cache.assign(key_cache.size(), 0.f);
        /* CudaMemoryPlan.scratchFloatsPerRow */
        const long per_row = 3L * m->dim + 2L * m->kv_dim + 2L * m->hidden + (long) m->n_heads * m->seq_len + m->vocab;
        scratch.assign(per_row * R, NAN); /* NaN: a read of anything not written shows */
        ints.assign(5 * R, -1);
        x = scratch.data();
        xb = x + R * m->dim;
        q = xb + R * m->dim;
        k = q + R * m->dim;
        v = k + R * m->kv_dim;
        hb = v + R * m->kv_dim;
        hb2 = hb + R * m->hidden;
        att = hb2 + R * m->hidden;
        logits = att + R * m->n_heads * (long) m->seq_len;
        if (logits + R * m->vocab != scratch.data() + scratch.size()) abort();
        d_tokens = ints.data();
        d_positions = d_tokens + R;
        d_slots = d_positions + R;
        d_logit_rows = d_slots + R;
        d_argmax = d_logit_rows + R;
    }

    void rmsnorm(float *o, const float *xin, const float *w, const int32_t *row_index, int rows) {
        launch({(unsigned) rows}, {256}, [=, this] { sn_llama_rmsnorm(o, xin, w, row_index, m->dim); });
    }
    void matmul(float *y, const float *xin, const float *w, int rows, int in, int out) {
        launch({ceil_div(rows, 8), ceil_div(out, 128)}, {128}, [=, this] { sn_llama_matmul(y, xin, w, rows, in, out); });
    }
    void residual(float *a, const float *b, long n) {
        launch({ceil_div(n, 256)}, {256}, [=, this] { sn_llama_residual_add(a, b, n); });
    }

    void forward(int rows, const int *tokens, const int *positions, const int *slots, int n_logits, const int *logit_rows) {
        memcpy(d_tokens, tokens, 4 * rows);
        memcpy(d_positions, positions, 4 * rows);
        memcpy(d_slots, slots, 4 * rows);
        if (n_logits > 0) memcpy(d_logit_rows, logit_rows, 4 * n_logits);
        const int dim = m->dim, kvd = m->kv_dim, hidden = m->hidden, hs = m->head_size, seq = m->seq_len;
        const long layer_cache = (long) max_slots * seq * kvd;
        launch({(unsigned) rows}, {256}, [=, this] { sn_llama_embed(x, m->tok_emb, d_tokens, dim); });
        for (int l = 0; l < m->n_layers; l++) {
            float *kc = key_cache.data() + l * layer_cache;
            float *vc = value_cache.data() + l * layer_cache;
            rmsnorm(xb, x, m->rms_att + (long) l * dim, nullptr, rows);
            matmul(q, xb, m->wq + (long) l * dim * dim, rows, dim, dim);
            matmul(k, xb, m->wk + (long) l * kvd * dim, rows, dim, kvd);
            matmul(v, xb, m->wv + (long) l * kvd * dim, rows, dim, kvd);
            launch({(unsigned) rows}, {256}, [=, this] {
                sn_llama_rope_kv(q, k, v, kc, vc, d_positions, d_slots, m->rope, dim, kvd, hs, seq);
            });
            launch({(unsigned) rows, (unsigned) m->n_heads}, {256}, [=, this] {
                sn_llama_attention(xb, q, kc, vc, att, d_positions, d_slots, m->n_heads, m->n_heads / m->n_kv_heads, hs,
                                   dim, kvd, seq);
            });
            matmul(q, xb, m->wo + (long) l * dim * dim, rows, dim, dim);
            residual(x, q, (long) rows * dim);
            rmsnorm(xb, x, m->rms_ffn + (long) l * dim, nullptr, rows);
            matmul(hb, xb, m->w1 + (long) l * hidden * dim, rows, dim, hidden);
            matmul(hb2, xb, m->w3 + (long) l * hidden * dim, rows, dim, hidden);
            const long nh = (long) rows * hidden;
            launch({ceil_div(nh, 256)}, {256}, [=, this] { sn_llama_swiglu(hb, hb2, nh); });
            matmul(q, hb, m->w2 + (long) l * dim * hidden, rows, hidden, dim);
            residual(x, q, (long) rows * dim);
        }
        if (n_logits > 0) {
            rmsnorm(xb, x, m->rms_final, d_logit_rows, n_logits);
            matmul(logits, xb, m->wcls, n_logits, dim, m->vocab);
        }
    }

    int argmax(int n_logits, int k) {
        launch({(unsigned) n_logits}, {256}, [=, this] { sn_llama_argmax(d_argmax, logits, m->vocab); });
        return d_argmax[k];
    }
};

struct Row {
    int token, pos, slot;
};

static int failures = 0;

/* The schedule of CudaLlamaForwardTest.schedule (same shape, not the same random numbers). */
static std::vector<std::vector<Row>> schedule(const Config &c, int steps, unsigned seed) {
    std::mt19937 rng(seed);
    std::vector<std::vector<Row>> out;
    int pos[3] = {0, 0, 0};
    for (int s = 0; s < steps; s++) {
        std::vector<Row> rows;
        for (int slot = 0; slot < 3; slot++) {
            int n = s == 0 ? (slot == 0 ? 5 : slot == 1 ? 1 : 0) : (s == 1 && slot == 1 ? 3 : 1);
            for (int i = 0; i < n && pos[slot] < c.seq; i++) rows.push_back({(int) (rng() % c.vocab), pos[slot]++, slot});
        }
        std::shuffle(rows.begin(), rows.end(), rng);
        out.push_back(rows);
    }
    return out;
}

static void compare(const char *name, const Config &c, const std::vector<std::vector<Row>> &steps, unsigned seed) {
    Model mm;
    make_model(mm, c, seed);
    int max_rows = 1;
    for (auto &s : steps) max_rows = std::max<int>(max_rows, (int) s.size());
    int64_t cpu_h;
    if (sn_llama_batch_new((int64_t) (intptr_t) &mm.m, 3, max_rows, 0, &cpu_h) != SN_OK) abort();
    EmuBatch gpu(&mm.m, 3, max_rows);
    double worst = 0;
    for (size_t s = 0; s < steps.size(); s++) {
        const int n = (int) steps[s].size();
        std::vector<int> tk(n), ps(n), sl(n), lr(n);
        std::vector<int8_t> flags(n, 1);
        for (int i = 0; i < n; i++) {
            tk[i] = steps[s][i].token; ps[i] = steps[s][i].pos; sl[i] = steps[s][i].slot; lr[i] = i;
        }
        sn_llama_step st = {n, tk.data(), ps.data(), sl.data(), flags.data()};
        if (sn_llama_forward(cpu_h, &st, 1) != SN_OK) abort();
        gpu.forward(n, tk.data(), ps.data(), sl.data(), n, lr.data());
        const float *cl = (const float *) (intptr_t) sn_llama_batch_logits(cpu_h);
        for (int r = 0; r < n; r++) {
            float scale = 1.f;
            for (int t = 0; t < c.vocab; t++) scale = std::max(scale, fabsf(cl[(long) r * c.vocab + t]));
            int best = 0;
            for (int t = 0; t < c.vocab; t++) {
                const float a = cl[(long) r * c.vocab + t], b = gpu.logits[(long) r * c.vocab + t];
                const double err = fabs((double) a - b) / scale;
                if (!(err <= 1e-4)) {
                    if (failures++ < 10)
                        printf("FAIL %s step %zu row %d token %d: cpu %.8g emu %.8g\n", name, s, r, t, a, b);
                }
                worst = std::max(worst, err);
                if (b > gpu.logits[(long) r * c.vocab + best]) best = t;
            }
            if (gpu.argmax(n, r) != best) {
                failures++;
                printf("FAIL %s step %zu row %d: argmax kernel %d, host %d\n", name, s, r, gpu.d_argmax[r], best);
            }
        }
    }
    printf("%s: %zu steps, worst |cpu - emu| / max(1, max|logit|) = %.3g\n", name, steps.size(), worst);
    sn_llama_batch_free(cpu_h);
    free(mm.m.rope);
    free(mm.m.w);
}

/* A row's logits alone (one row per step) vs among other rows and slots: bit for bit. */
static void invariance(const Config &c, unsigned seed) {
    Model mm;
    make_model(mm, c, seed);
    std::mt19937 rng(seed + 1);
    const int P = 10;
    std::vector<int> tokens(P);
    for (int &t : tokens) t = (int) (rng() % c.vocab);
    std::vector<std::vector<float>> alone(P);
    {
        EmuBatch b(&mm.m, 1, 1);
        for (int p = 0; p < P; p++) {
            int s0 = 0, one = 0;
            b.forward(1, &tokens[p], &p, &s0, 1, &one);
            alone[p].assign(b.logits, b.logits + c.vocab);
        }
    }
    EmuBatch b(&mm.m, 4, 40);
    int other[4] = {0, 0, 0, 0};
    int p = 0;
    while (p < P) {
        std::vector<Row> rows;
        const int chunk = p == 0 ? 4 : 1;
        for (int i = 0; i < chunk; i++) rows.push_back({tokens[p + i], p + i, 2});
        for (int slot : {0, 1, 3}) {
            int n = (int) (rng() % 9);
            for (int i = 0; i < n && other[slot] < c.seq; i++) rows.push_back({(int) (rng() % c.vocab), other[slot]++, slot});
        }
        std::shuffle(rows.begin(), rows.end(), rng);
        const int n = (int) rows.size();
        std::vector<int> tk(n), ps(n), sl(n), lr;
        for (int i = 0; i < n; i++) {
            tk[i] = rows[i].token; ps[i] = rows[i].pos; sl[i] = rows[i].slot;
            if (rows[i].slot == 2 || rng() % 2) lr.push_back(i);
        }
        b.forward(n, tk.data(), ps.data(), sl.data(), (int) lr.size(), lr.data());
        for (size_t kk = 0; kk < lr.size(); kk++) {
            const Row &row = rows[lr[kk]];
            if (row.slot != 2) continue;
            if (memcmp(alone[row.pos].data(), b.logits + kk * (long) c.vocab, 4L * c.vocab) != 0) {
                failures++;
                printf("FAIL invariance: position %d differs in a busy step\n", row.pos);
            }
        }
        p += chunk;
    }
    printf("invariance dim=%d: %d positions bit-identical alone and in busy steps\n", c.dim, P);
}

/* "quick" (the Maven test): the small models only, without the 600-position context. */
int main(int argc, char **argv) {
    setvbuf(stdout, nullptr, _IONBF, 0);
    const bool quick = argc > 1 && strcmp(argv[1], "quick") == 0;
    const Config gqa = {64, 176, 2, 8, 2, 300, 40, true};
    const Config odd = {36, 100, 2, 6, 3, 67, 40, false};
    const Config lng = {64, 96, 1, 4, 2, 97, 600, false};
    compare("gqa", gqa, schedule(gqa, 10, 1), 21);
    compare("odd-unshared", odd, schedule(odd, 10, 2), 22);
    if (quick) {
        invariance(gqa, 31);
        printf(failures == 0 ? "emulation OK\n" : "emulation FAILED (%d)\n", failures);
        return failures == 0 ? 0 : 1;
    }
    /* 300 positions of slot 0 in one step, then chunks of 19 and single rows up to position 559 */
    std::vector<std::vector<Row>> ls;
    std::mt19937 rng(3);
    std::vector<Row> first;
    for (int i = 0; i < 300; i++) first.push_back({(int) (rng() % lng.vocab), i, 0});
    ls.push_back(first);
    for (int p = 300; p < 560; p += 20) {
        ls.push_back({{(int) (rng() % lng.vocab), p, 0}, {7, p - 300, 1}});
        std::vector<Row> chunk;
        for (int i = 0; i < 19 && p + 1 + i < lng.seq; i++) chunk.push_back({(int) (rng() % lng.vocab), p + 1 + i, 0});
        ls.push_back(chunk);
    }
    compare("long-context", lng, ls, 23);
    invariance(gqa, 31);
    invariance(odd, 32);
    printf(failures == 0 ? "emulation OK\n" : "emulation FAILED (%d)\n", failures);
    return failures == 0 ? 0 : 1;
}

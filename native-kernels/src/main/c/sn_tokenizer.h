/*
 * spark-native: llama2.c's BPE tokenizer (run.c: build_tokenizer, encode, decode) over a tokenizer.bin
 * image in memory, with full bounds checks and an open-addressing hash index instead of bsearch.
 *
 * File format (llama2.c tokenizer.bin, little-endian): int32 max_token_length, then vocab_size entries of
 * { float32 score, int32 len, len bytes }, and nothing after the last entry.
 *
 * Header-only C99 that also compiles as C++. A tokenizer is immutable after sn_tok_create(): any number of
 * threads may encode and decode with it at once. encode() allocates only a per-call scratch for the merge
 * (linked list and heap, proportional to the prompt), never anything proportional to the vocabulary.
 */
#ifndef SN_TOKENIZER_H
#define SN_TOKENIZER_H

#include <stdint.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>

#define SN_TOK_OK 0
#define SN_TOK_ERR_FORMAT (-1) /* malformed or wrong-size file; the message buffer says why */
#define SN_TOK_ERR_NOMEM (-2)
#define SN_TOK_ERR_BYTE (-3)   /* encode: a byte needs a fallback token the vocabulary lacks (see sn_tok_encode) */
#define SN_TOK_ERR_ARG (-4)

typedef struct sn_tokenizer {
    int32_t vocab;
    int32_t max_token_length; /* as the file header states it */
    int32_t max_len;          /* the longest stored token, in bytes */
    int32_t space_id;         /* id of " " (the dummy prefix), -1 when absent */
    float *scores;
    int64_t *offs;            /* token i is arena[offs[i] .. offs[i] + lens[i]) */
    int32_t *lens;
    unsigned char *arena;
    int32_t *table;           /* open addressing, -1 = empty; lowest id wins among equal strings */
    uint32_t mask;
    unsigned char has_byte[256]; /* 1 if id b + 3 exists and its piece decodes to the one byte b */
} sn_tokenizer;

static inline uint32_t sn_tok_hash_step(uint32_t h, const unsigned char *p, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 16777619u;
    }
    return h;
}

#define SN_TOK_FNV_SEED 2166136261u

static inline int32_t sn_tok_read_i32(const unsigned char *p) {
    uint32_t v = (uint32_t) p[0] | ((uint32_t) p[1] << 8) | ((uint32_t) p[2] << 16) | ((uint32_t) p[3] << 24);
    int32_t r;
    memcpy(&r, &v, 4);
    return r;
}

static inline float sn_tok_read_f32(const unsigned char *p) {
    uint32_t v = (uint32_t) p[0] | ((uint32_t) p[1] << 8) | ((uint32_t) p[2] << 16) | ((uint32_t) p[3] << 24);
    float r;
    memcpy(&r, &v, 4);
    return r;
}

static inline void sn_tok_free(int64_t handle) {
    sn_tokenizer *t = (sn_tokenizer *) (intptr_t) handle;
    if (t == NULL) return;
    free(t->scores);
    free(t->offs);
    free(t->lens);
    free(t->arena);
    free(t->table);
    free(t);
}

/* Id of the exact byte string a ++ b, or -1. */
static inline int32_t sn_tok_lookup2(const sn_tokenizer *t, const unsigned char *a, int64_t na, const unsigned char *b,
                                     int64_t nb) {
    const uint32_t h = sn_tok_hash_step(sn_tok_hash_step(SN_TOK_FNV_SEED, a, na), b, nb);
    for (uint32_t slot = h & t->mask;; slot = (slot + 1) & t->mask) {
        const int32_t id = t->table[slot];
        if (id < 0) return -1;
        if (t->lens[id] == na + nb) {
            const unsigned char *s = t->arena + t->offs[id];
            if (memcmp(s, a, (size_t) na) == 0 && memcmp(s + na, b, (size_t) nb) == 0) return id;
        }
    }
}

static inline int sn_tok_fail(char *err, int32_t err_cap, const char *msg) {
    if (err != NULL && err_cap > 0) {
        strncpy(err, msg, (size_t) err_cap - 1);
        err[err_cap - 1] = '\0';
    }
    return SN_TOK_ERR_FORMAT;
}

static inline int sn_tok_hex(unsigned char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static inline int sn_tok_isspace(unsigned char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

/*
 * The byte a piece of n bytes designates as llama2.c's sscanf(piece, "<0x%02hhX>", &b) == 1 reads it: the
 * literal "<0x", optional white space, then a field of at most two characters: an optional sign and hex
 * digits, at least one digit (a minus negates modulo 256). The closing '>' is not checked. -1 if none.
 */
static inline int sn_tok_byte_piece(const unsigned char *p, int32_t n) {
    if (n < 4 || p[0] != '<' || p[1] != '0' || p[2] != 'x') return -1;
    int32_t i = 3;
    while (i < n && sn_tok_isspace(p[i])) i++;
    int width = 2, neg = 0, digits = 0;
    unsigned value = 0;
    if (i < n && (p[i] == '+' || p[i] == '-')) {
        neg = p[i] == '-';
        i++;
        width--;
    }
    while (width > 0 && i < n && sn_tok_hex(p[i]) >= 0) {
        value = value * 16 + (unsigned) sn_tok_hex(p[i]);
        i++;
        width--;
        digits++;
    }
    if (digits == 0) return -1;
    return (int) ((neg ? 0u - value : value) & 0xFFu);
}

/*
 * Parses a tokenizer.bin image of `len` bytes that must hold exactly `vocab` >= 3 entries. The tokenizer copies
 * what it needs: `data` may be freed afterwards. out[0] receives the handle. On failure returns a negative
 * SN_TOK_ERR_* code and writes a message (expected vs actual) into err[err_cap].
 */
static inline int32_t sn_tok_create(const unsigned char *data, int64_t len, int32_t vocab, int64_t *out, char *err,
                                    int32_t err_cap) {
    char msg[256];
    out[0] = 0;
    if (err != NULL && err_cap > 0) err[0] = '\0';
    if (vocab < 3) {
        /* encode() emits BOS (1) and EOS (2) and looks pieces up by id: both must be in the vocabulary */
        snprintf(msg, sizeof msg, "vocab_size must be >= 3 (ids 1 and 2 are BOS and EOS), got %d", (int) vocab);
        return sn_tok_fail(err, err_cap, msg);
    }
    if (data == NULL || len < 4) {
        snprintf(msg, sizeof msg, "truncated header: expected at least 4 bytes (max_token_length), got %lld",
                 (long long) len);
        return sn_tok_fail(err, err_cap, msg);
    }
    const int32_t max_token_length = sn_tok_read_i32(data);
    if (max_token_length < 0) {
        snprintf(msg, sizeof msg, "header field max_token_length: expected >= 0, got %d", (int) max_token_length);
        return sn_tok_fail(err, err_cap, msg);
    }
    /* Pass 1: walk the entries with bounds checks, before allocating anything proportional to them. */
    int64_t pos = 4, text_bytes = 0;
    int32_t max_len = 0;
    for (int32_t i = 0; i < vocab; i++) {
        if (pos == len) {
            snprintf(msg, sizeof msg,
                     "the file holds %d entries, expected vocab_size %d (a tokenizer for another model?)", (int) i,
                     (int) vocab);
            return sn_tok_fail(err, err_cap, msg);
        }
        if (len - pos < 8) {
            snprintf(msg, sizeof msg,
                     "truncated: entry %d of the expected vocab_size %d needs its score and length at bytes %lld..%lld, "
                     "but the file has %lld bytes (a tokenizer for a smaller vocabulary?)",
                     (int) i, (int) vocab, (long long) pos, (long long) (pos + 8), (long long) len);
            return sn_tok_fail(err, err_cap, msg);
        }
        const int32_t n = sn_tok_read_i32(data + pos + 4);
        if (n <= 0) {
            snprintf(msg, sizeof msg, "entry %d at byte %lld: token length must be > 0, got %d", (int) i,
                     (long long) pos, (int) n);
            return sn_tok_fail(err, err_cap, msg);
        }
        if (n > len - pos - 8) {
            snprintf(msg, sizeof msg,
                     "truncated: entry %d of the expected vocab_size %d declares %d bytes at byte %lld, but only %lld remain",
                     (int) i, (int) vocab, (int) n, (long long) (pos + 8), (long long) (len - pos - 8));
            return sn_tok_fail(err, err_cap, msg);
        }
        if (memchr(data + pos + 8, 0, (size_t) n) != NULL) {
            snprintf(msg, sizeof msg, "entry %d at byte %lld: token contains a NUL byte", (int) i, (long long) pos);
            return sn_tok_fail(err, err_cap, msg);
        }
        if (n > max_len) max_len = n;
        text_bytes += n;
        pos += 8 + n;
    }
    if (pos != len) {
        /* Count the entries the file really holds, if it parses cleanly, to name the actual vocabulary size. */
        int64_t p2 = pos, extra = 0;
        while (len - p2 >= 8) {
            const int32_t n = sn_tok_read_i32(data + p2 + 4);
            if (n <= 0 || n > len - p2 - 8) break;
            p2 += 8 + n;
            extra++;
        }
        if (p2 == len) {
            snprintf(msg, sizeof msg,
                     "the file holds %lld entries, expected vocab_size %d (a tokenizer for another model?)",
                     (long long) (vocab + extra), (int) vocab);
            return sn_tok_fail(err, err_cap, msg);
        }
        snprintf(msg, sizeof msg,
                 "expected the file to end after vocab_size %d entries at byte %lld, but it has %lld bytes "
                 "(%lld left over: a tokenizer for a larger vocabulary?)",
                 (int) vocab, (long long) pos, (long long) len, (long long) (len - pos));
        return sn_tok_fail(err, err_cap, msg);
    }
    sn_tokenizer *t = (sn_tokenizer *) calloc(1, sizeof(sn_tokenizer));
    if (t == NULL) return SN_TOK_ERR_NOMEM;
    uint32_t cap = 16;
    while (cap < (uint32_t) vocab * 2u && cap < 0x80000000u) cap *= 2;
    t->vocab = vocab;
    t->max_token_length = max_token_length;
    t->max_len = max_len;
    t->mask = cap - 1;
    t->scores = (float *) malloc((size_t) vocab * sizeof(float));
    t->offs = (int64_t *) malloc((size_t) vocab * sizeof(int64_t));
    t->lens = (int32_t *) malloc((size_t) vocab * sizeof(int32_t));
    t->arena = (unsigned char *) malloc((size_t) text_bytes + 1);
    t->table = (int32_t *) malloc((size_t) cap * sizeof(int32_t));
    if (t->scores == NULL || t->offs == NULL || t->lens == NULL || t->arena == NULL || t->table == NULL) {
        sn_tok_free((int64_t) (intptr_t) t);
        return SN_TOK_ERR_NOMEM;
    }
    for (uint32_t s = 0; s < cap; s++) t->table[s] = -1;
    pos = 4;
    int64_t at = 0;
    for (int32_t i = 0; i < vocab; i++) {
        t->scores[i] = sn_tok_read_f32(data + pos);
        const int32_t n = sn_tok_read_i32(data + pos + 4);
        memcpy(t->arena + at, data + pos + 8, (size_t) n);
        t->offs[i] = at;
        t->lens[i] = n;
        at += n;
        pos += 8 + n;
        /* insert unless an equal string is already there (the lowest id wins) */
        const unsigned char *s = t->arena + t->offs[i];
        const uint32_t h = sn_tok_hash_step(SN_TOK_FNV_SEED, s, n);
        for (uint32_t slot = h & t->mask;; slot = (slot + 1) & t->mask) {
            const int32_t id = t->table[slot];
            if (id < 0) {
                t->table[slot] = i;
                break;
            }
            if (t->lens[id] == n && memcmp(t->arena + t->offs[id], s, (size_t) n) == 0) break;
        }
    }
    t->space_id = sn_tok_lookup2(t, (const unsigned char *) " ", 1, NULL, 0);
    for (int b = 0; b < 256; b++) {
        const int32_t id = b + 3;
        t->has_byte[b] = id < vocab && sn_tok_byte_piece(t->arena + t->offs[id], t->lens[id]) == b;
    }
    out[0] = (int64_t) (intptr_t) t;
    return SN_TOK_OK;
}

static inline int32_t sn_tok_vocab(int64_t handle) { return ((const sn_tokenizer *) (intptr_t) handle)->vocab; }
static inline int32_t sn_tok_max_len(int64_t handle) { return ((const sn_tokenizer *) (intptr_t) handle)->max_len; }
static inline float sn_tok_score(int64_t handle, int32_t id) { return ((const sn_tokenizer *) (intptr_t) handle)->scores[id]; }

/*
 * BPE merging in O(n log n) (n = initial tokens): the symbols form a doubly linked list over their initial
 * positions 0 .. n-1 (a merge keeps the left symbol's position and unlinks the right one, so list order is
 * position order), and every adjacent pair whose concatenation is a piece scoring above -1e10 sits in a
 * binary max-heap ordered by (score desc, left position asc). That is exactly llama2.c's choice each round:
 * the best score, ties to the leftmost pair. Entries are never removed early: each symbol carries a version,
 * bumped whenever its id changes or it is unlinked, and a popped entry whose two versions are not current is
 * dropped (lazy invalidation). Scores are compared with < and ==, like run.c's `>`, so -0.0 ties with 0.0;
 * NaN never enters the heap, as run.c never picks it.
 */
typedef struct sn_tok_pair {
    float score;
    int32_t left;   /* initial position of the pair's left symbol */
    int32_t right;  /* and of its right symbol when the entry was made */
    uint32_t vleft; /* both symbols' versions then */
    uint32_t vright;
    int32_t id;     /* the piece of left ++ right */
} sn_tok_pair;

/* Whether heap entry a is merged before b: higher score, then the pair further left. */
static inline int sn_tok_pair_before(const sn_tok_pair *a, const sn_tok_pair *b) {
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

typedef struct sn_tok_heap {
    sn_tok_pair *e;
    int64_t size, cap;
} sn_tok_heap;

static inline int sn_tok_heap_push(sn_tok_heap *h, const sn_tok_pair *p) {
    if (h->size == h->cap) {
        const int64_t cap = h->cap < 16 ? 16 : h->cap * 2;
        sn_tok_pair *e = (sn_tok_pair *) realloc(h->e, (size_t) cap * sizeof(sn_tok_pair));
        if (e == NULL) return -1;
        h->e = e;
        h->cap = cap;
    }
    int64_t i = h->size++;
    while (i > 0) {
        const int64_t parent = (i - 1) / 2;
        if (!sn_tok_pair_before(p, &h->e[parent])) break;
        h->e[i] = h->e[parent];
        i = parent;
    }
    h->e[i] = *p;
    return 0;
}

/* Removes the top entry into *top; the heap must not be empty. */
static inline void sn_tok_heap_pop(sn_tok_heap *h, sn_tok_pair *top) {
    *top = h->e[0];
    const sn_tok_pair last = h->e[--h->size];
    int64_t i = 0;
    for (;;) {
        int64_t c = 2 * i + 1;
        if (c >= h->size) break;
        if (c + 1 < h->size && sn_tok_pair_before(&h->e[c + 1], &h->e[c])) c++;
        if (!sn_tok_pair_before(&h->e[c], &last)) break;
        h->e[i] = h->e[c];
        i = c;
    }
    if (h->size > 0) h->e[i] = last;
}

/* Pushes the pair (left, next[left]) if it has a merge scoring above -1e10 (run.c's initial best_score). */
static inline int sn_tok_push_pair(const sn_tokenizer *t, sn_tok_heap *h, const int32_t *ids, const int32_t *next,
                                   const uint32_t *ver, int32_t left) {
    const int32_t right = next[left];
    if (right < 0) return 0;
    const int32_t a = ids[left], b = ids[right];
    const int32_t id = sn_tok_lookup2(t, t->arena + t->offs[a], t->lens[a], t->arena + t->offs[b], t->lens[b]);
    if (id < 0 || !(t->scores[id] > -1e10f)) return 0;
    sn_tok_pair p;
    p.score = t->scores[id];
    p.left = left;
    p.right = right;
    p.vleft = ver[left];
    p.vright = ver[right];
    p.id = id;
    return sn_tok_heap_push(h, &p);
}

/*
 * Merges the n >= 2 token ids in ids[] in place as llama2.c's encode() does; every id must be < vocab.
 * Returns the new count, or SN_TOK_ERR_NOMEM (ids[] then holds garbage).
 */
static inline int32_t sn_tok_merge(const sn_tokenizer *t, int32_t *ids, int32_t n) {
    int32_t *prev = (int32_t *) malloc((size_t) n * sizeof(int32_t));
    int32_t *next = (int32_t *) malloc((size_t) n * sizeof(int32_t));
    uint32_t *ver = (uint32_t *) calloc((size_t) n, sizeof(uint32_t));
    sn_tok_heap h = {NULL, 0, 0};
    int32_t rc = SN_TOK_ERR_NOMEM;
    if (prev == NULL || next == NULL || ver == NULL) goto done;
    for (int32_t i = 0; i < n; i++) {
        prev[i] = i - 1;
        next[i] = i + 1 < n ? i + 1 : -1;
    }
    for (int32_t i = 0; i + 1 < n; i++) {
        if (sn_tok_push_pair(t, &h, ids, next, ver, i) != 0) goto done;
    }
    while (h.size > 0) {
        sn_tok_pair p;
        sn_tok_heap_pop(&h, &p);
        const int32_t l = p.left, r = p.right;
        if (ver[l] != p.vleft || ver[r] != p.vright || next[l] != r) continue; /* stale */
        ids[l] = p.id;
        ver[l]++;
        ver[r]++; /* unlinked: no entry naming it is valid any more */
        next[l] = next[r];
        if (next[r] >= 0) prev[next[r]] = l;
        if (prev[l] >= 0 && sn_tok_push_pair(t, &h, ids, next, ver, prev[l]) != 0) goto done;
        if (sn_tok_push_pair(t, &h, ids, next, ver, l) != 0) goto done;
    }
    /* Symbol 0 is never unlinked (only right symbols are); walk the list and compact in place (k <= i). */
    rc = 0;
    for (int32_t i = 0; i >= 0; i = next[i]) ids[rc++] = ids[i];
done:
    free(prev);
    free(next);
    free(ver);
    free(h.e);
    return rc;
}

/*
 * llama2.c encode() of the bytes text[0 .. len) into tokens; out must hold len + 3 entries. The text is
 * length-delimited: a NUL byte is text like any other (llama2.c, taking a C string, would stop there).
 * Optional BOS (1); the dummy prefix " " when the text is not empty; each code point looked up whole, else
 * its bytes as the byte-fallback ids byte + 3; then repeatedly the adjacent pair whose concatenation is the
 * highest-scoring token (strictly greater wins, so ties go to the first pair) is merged (sn_tok_merge: the
 * same merges in the same order as run.c, in O(n log n) instead of its O(n^2)); optional EOS (2).
 * A NUL byte is never a piece (sn_tok_create rejects pieces containing one), so it always becomes <0x00>.
 *
 * A byte that needs its fallback token where the vocabulary has none (id byte + 3 missing, or its piece not
 * <0xXX> for that byte) is an error, never skipped: SN_TOK_ERR_BYTE, with out[0] = the byte's offset in the
 * text and out[1] = the byte. Returns the token count, or SN_TOK_ERR_NOMEM / SN_TOK_ERR_BYTE / SN_TOK_ERR_ARG.
 */
static inline int32_t sn_tok_encode(int64_t handle, const unsigned char *text, int32_t len, int32_t bos, int32_t eos,
                                    int32_t *out) {
    const sn_tokenizer *t = (const sn_tokenizer *) (intptr_t) handle;
    if (t == NULL || len < 0 || (len > 0 && text == NULL) || out == NULL) return SN_TOK_ERR_ARG;
    int32_t n = 0;
    if (bos) out[n++] = 1;
    if (len > 0 && t->space_id >= 0) out[n++] = t->space_id;
    unsigned char buf[8];
    int32_t buf_len = 0;
    for (int32_t i = 0; i < len; i++) {
        const unsigned char c = text[i];
        if ((c & 0xC0) != 0x80) buf_len = 0;
        buf[buf_len++] = c;
        const unsigned char next = i + 1 < len ? text[i + 1] : 0;
        if ((next & 0xC0) == 0x80 && buf_len < 4) continue;
        const int32_t id = sn_tok_lookup2(t, buf, buf_len, NULL, 0);
        if (id != -1) {
            out[n++] = id;
        } else {
            for (int32_t b = 0; b < buf_len; b++) {
                if (!t->has_byte[buf[b]]) {
                    out[0] = i - buf_len + 1 + b; /* buf holds text[i - buf_len + 1 .. i] */
                    out[1] = buf[b];
                    return SN_TOK_ERR_BYTE;
                }
                out[n++] = (int32_t) buf[b] + 3;
            }
        }
        buf_len = 0;
    }
    if (n >= 2) {
        const int32_t merged = sn_tok_merge(t, out, n);
        if (merged < 0) return merged;
        n = merged;
    }
    if (eos) out[n++] = 2;
    return n;
}

/*
 * llama2.c decode(prev_token, token) into dst[capacity]: the token's bytes, without the leading space after
 * BOS (prev_token == 1), and a byte token such as <0x0A> as that single raw byte (the sscanf
 * "<0x%02hhX>" rule, sn_tok_byte_piece). The result is length-delimited, not a C string: <0x00> is the one
 * byte 0 (llama2.c returns an empty C string there). printable != 0 applies llama2.c's safe_printf()
 * filter: a single byte that is neither printable nor whitespace (C locale, so also 0) becomes empty.
 * Returns the byte count (at most sn_tok_max_len()), -(needed) if capacity is too small (nothing written),
 * or INT32_MIN for a token outside the vocabulary.
 */
static inline int32_t sn_tok_decode(int64_t handle, int32_t prev_token, int32_t token, unsigned char *dst,
                                    int32_t capacity, int32_t printable) {
    const sn_tokenizer *t = (const sn_tokenizer *) (intptr_t) handle;
    if (t == NULL || token < 0 || token >= t->vocab || capacity < 0) return INT32_MIN;
    const unsigned char *p = t->arena + t->offs[token];
    int32_t n = t->lens[token];
    if (prev_token == 1 && p[0] == ' ') {
        p++;
        n--;
    }
    unsigned char byte_piece;
    const int byte = sn_tok_byte_piece(p, n);
    if (byte >= 0) {
        byte_piece = (unsigned char) byte;
        p = &byte_piece;
        n = 1;
    }
    if (printable && n == 1) {
        const unsigned char c = p[0];
        if (!((c >= 0x20 && c <= 0x7E) || sn_tok_isspace(c))) n = 0;
    }
    if (n > capacity) return -n;
    memcpy(dst, p, (size_t) n);
    return n;
}

#endif /* SN_TOKENIZER_H */

/*
 * spark-native: a small persistent thread pool with a barrier, for the phases of one forward step.
 *
 * Why not OpenMP: libgomp's barriers spin for a long time before sleeping. With several Spark tasks per
 * executor, each running its own multi-threaded step, the teams oversubscribe the cores, and a thread
 * spinning at a barrier keeps the core from the very thread it waits for: measured on 2 cores, three
 * concurrent 2-thread steps of stories260K fell from 9,155 to 6.6 tokens/s (OMP_WAIT_POLICY=passive avoids
 * that but costs 2-8x when the cores are free). Here every wait spins briefly, then yields, then sleeps on
 * a condition variable, which is fast when the cores are free and degrades gracefully when they are not.
 *
 * One pool belongs to one batch (one Spark task) and runs one job at a time on all its threads; the caller
 * thread is worker 0. Idle workers sleep on a condition variable: an idle batch costs no CPU. Plain C99 + pthreads + GCC __atomic builtins; also compiles as C++.
 */
#ifndef SN_POOL_H
#define SN_POOL_H

#include <stdint.h>
#include <stdlib.h>
#include <pthread.h>
#include <sched.h>
#include "sn_status.h"

#define SN_POOL_SPINS 2000 /* pause-loop iterations before yielding (a few microseconds) */
#define SN_POOL_YIELDS 50  /* sched_yield() calls before sleeping */

static inline void sn_cpu_relax(void) {
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    __builtin_ia32_pause();
#endif
}

/* A counter others wait on until it moves past a value; waiters spin, then yield, then sleep. */
typedef struct sn_signal {
    uint32_t value; /* __atomic access */
    uint32_t sleepers;
    pthread_mutex_t mu;
    pthread_cond_t cv;
} sn_signal;

static inline sn_status sn_signal_init(sn_signal *s) {
    s->value = 0;
    s->sleepers = 0;
    if (pthread_mutex_init(&s->mu, NULL) != 0) return SN_ERR_NOMEM;
    if (pthread_cond_init(&s->cv, NULL) != 0) {
        pthread_mutex_destroy(&s->mu);
        return SN_ERR_NOMEM;
    }
    return SN_OK;
}

static inline void sn_signal_destroy(sn_signal *s) {
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
}

/* Sets value (release) and wakes sleepers. The mutex makes a waiter's check-then-sleep atomic. */
static inline void sn_signal_set(sn_signal *s, uint32_t v) {
    pthread_mutex_lock(&s->mu);
    __atomic_store_n(&s->value, v, __ATOMIC_RELEASE);
    if (s->sleepers > 0) pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

/* Waits until value != old; returns the new value (acquire). */
static inline uint32_t sn_signal_wait_change(sn_signal *s, uint32_t old) {
    uint32_t v;
    for (int i = 0; i < SN_POOL_SPINS; i++) {
        if ((v = __atomic_load_n(&s->value, __ATOMIC_ACQUIRE)) != old) return v;
        sn_cpu_relax();
    }
    for (int i = 0; i < SN_POOL_YIELDS; i++) {
        if ((v = __atomic_load_n(&s->value, __ATOMIC_ACQUIRE)) != old) return v;
        sched_yield();
    }
    pthread_mutex_lock(&s->mu);
    s->sleepers++;
    while ((v = __atomic_load_n(&s->value, __ATOMIC_ACQUIRE)) == old) pthread_cond_wait(&s->cv, &s->mu);
    s->sleepers--;
    pthread_mutex_unlock(&s->mu);
    return v;
}

typedef void (*sn_pool_fn)(void *arg, int tid, int nth);

typedef struct sn_pool {
    int workers;            /* threads besides the caller */
    pthread_t *threads;
    sn_signal job;          /* value: job generation */
    sn_signal barrier;      /* value: barrier generation */
    uint32_t arrived;       /* __atomic: threads arrived at the current barrier */
    int nth;                /* threads taking part in the current job, caller included */
    sn_pool_fn fn;
    void *arg;
    int stop;
} sn_pool;

/* All nth threads of the current job meet here; the last one to arrive releases the others. */
static inline void sn_pool_barrier(sn_pool *p) {
    if (p == NULL || p->nth <= 1) return;
    const uint32_t gen = __atomic_load_n(&p->barrier.value, __ATOMIC_ACQUIRE);
    if (__atomic_add_fetch(&p->arrived, 1, __ATOMIC_ACQ_REL) == (uint32_t) p->nth) {
        __atomic_store_n(&p->arrived, 0, __ATOMIC_RELAXED);
        sn_signal_set(&p->barrier, gen + 1);
    } else {
        sn_signal_wait_change(&p->barrier, gen);
    }
}

typedef struct sn_pool_start {
    sn_pool *pool;
    int tid;
} sn_pool_start;

static void *sn_pool_main(void *arg) {
    sn_pool_start *st = (sn_pool_start *) arg;
    sn_pool *p = st->pool;
    const int tid = st->tid;
    free(st);
#if defined(__GLIBC__) && defined(_GNU_SOURCE)
    pthread_setname_np(pthread_self(), "sn-llama-pool"); /* visible in top -H, jstack-less dumps, tests */
#endif
    uint32_t seen = 0;
    for (;;) {
        /* Every worker takes part in every job, so the caller cannot publish job k+1 before this
           thread has passed job k's final barrier: the parameters read below are always this job's. */
        seen = sn_signal_wait_change(&p->job, seen);
        if (p->stop) return NULL;
        p->fn(p->arg, tid, p->nth);
        sn_pool_barrier(p); /* the job is done when everyone passed this one */
    }
}

static inline void sn_pool_free(sn_pool *p) {
    if (p == NULL) return;
    if (p->threads != NULL) {
        p->stop = 1;
        sn_signal_set(&p->job, __atomic_load_n(&p->job.value, __ATOMIC_RELAXED) + 1);
        for (int i = 0; i < p->workers; i++) pthread_join(p->threads[i], NULL);
        free(p->threads);
    }
    sn_signal_destroy(&p->job);
    sn_signal_destroy(&p->barrier);
    free(p);
}

/* A pool of up to `workers` threads besides the caller; fewer if thread creation fails. NULL if none. */
static inline sn_pool *sn_pool_new(int workers) {
    if (workers <= 0) return NULL;
    sn_pool *p = (sn_pool *) calloc(1, sizeof(sn_pool));
    if (p == NULL) return NULL;
    if (sn_signal_init(&p->job) != SN_OK) {
        free(p);
        return NULL;
    }
    if (sn_signal_init(&p->barrier) != SN_OK) {
        sn_signal_destroy(&p->job);
        free(p);
        return NULL;
    }
    p->threads = (pthread_t *) calloc((size_t) workers, sizeof(pthread_t));
    if (p->threads == NULL) {
        sn_pool_free(p);
        return NULL;
    }
    for (int i = 0; i < workers; i++) {
        sn_pool_start *st = (sn_pool_start *) malloc(sizeof(sn_pool_start));
        if (st == NULL) break;
        st->pool = p;
        st->tid = i + 1;
        if (pthread_create(&p->threads[i], NULL, sn_pool_main, st) != 0) {
            free(st);
            break;
        }
        p->workers++;
    }
    if (p->workers == 0) {
        sn_pool_free(p);
        return NULL;
    }
    return p;
}

/* @return the threads a job runs on: the workers and the caller */
static inline int sn_pool_threads(const sn_pool *p) { return p == NULL ? 1 : p->workers + 1; }

/*
 * Runs fn(arg, tid, nth) on all sn_pool_threads(p) threads (the caller is tid 0) and returns when all are
 * done. fn may call sn_pool_barrier(p) any number of times, the same number on every thread.
 */
static inline void sn_pool_run(sn_pool *p, sn_pool_fn fn, void *arg) {
    const int nth = p->workers + 1;
    p->nth = nth;
    p->fn = fn;
    p->arg = arg;
    sn_signal_set(&p->job, __atomic_load_n(&p->job.value, __ATOMIC_RELAXED) + 1); /* release: nth, fn, arg */
    fn(arg, 0, nth);
    sn_pool_barrier(p);
}

#endif /* SN_POOL_H */

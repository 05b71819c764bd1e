/* One team of threads for dnn's loops (dnn/_loop.pyx's mini-batch Loop,
   dnn/_train.pyx's full-batch fit for its BLAS products' slabs, and
   dnn/_kernels.pyx's pool for the step calls, one per process): phases of
   chunks that any free thread takes. Portable C99 over dnn/_platform.h. */
#ifndef DNN_TEAM_H
#define DNN_TEAM_H

#include <string.h>
/* ---------------------------------------------------------------------- */
/* A team: its caller and ``size - 1`` helper threads (a Loop's, started with
   its first epoch and joined when it is freed; a full-batch fit's, for one
   chunk of iterations). Work comes in
   phases of chunks (``dnn_team_run``): the caller opens a phase (fn, ctx, n
   chunks) and takes chunks itself; helpers that are awake take chunks too,
   through one 64-bit ticket (phase << 32 | next chunk, taken by
   compare-and-swap); the caller returns when every chunk is done. So no one
   waits for a thread to arrive: a helper the system has descheduled delays
   only a chunk it holds, and the caller alone runs the rest. Idle helpers
   spin on the ticket briefly (the next phase is microseconds away inside an
   epoch), then sleep on the condition variable (between epochs). A helper
   reads fn/ctx/n before its swap succeeds, which proves the phase was still
   open: the caller rewrites them only after closing the ticket, which it
   does only when every chunk is done. */
#include "_platform.h"
#if !DNN_WIN32
#include <unistd.h>
#endif

/* The process's id: a team started before a fork has no helpers in the child. */
static long dnn_team_pid(void) {
#if DNN_WIN32
    return (long) GetCurrentProcessId();
#else
    return (long) getpid();
#endif
}

#if defined(_MSC_VER) && !defined(__clang__)
typedef volatile LONG64 dnn_team_a64;
typedef volatile LONG dnn_team_a32;
static unsigned long long dnn_team_load64(dnn_team_a64* p) {
    return (unsigned long long) InterlockedCompareExchange64(p, 0, 0);
}
static void dnn_team_store64(dnn_team_a64* p, unsigned long long v) { InterlockedExchange64(p, (LONG64) v); }
static int dnn_team_cas64(dnn_team_a64* p, unsigned long long e, unsigned long long w) {
    return InterlockedCompareExchange64(p, (LONG64) w, (LONG64) e) == (LONG64) e;
}
static int dnn_team_load32(dnn_team_a32* p) { return (int) InterlockedCompareExchange(p, 0, 0); }
static void dnn_team_store32(dnn_team_a32* p, int v) { InterlockedExchange(p, (LONG) v); }
static void dnn_team_dec32(dnn_team_a32* p) { InterlockedDecrement(p); }
#else
typedef unsigned long long dnn_team_a64;
typedef int dnn_team_a32;
static unsigned long long dnn_team_load64(dnn_team_a64* p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static void dnn_team_store64(dnn_team_a64* p, unsigned long long v) { __atomic_store_n(p, v, __ATOMIC_SEQ_CST); }
static int dnn_team_cas64(dnn_team_a64* p, unsigned long long e, unsigned long long w) {
    return __atomic_compare_exchange_n(p, &e, w, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}
static int dnn_team_load32(dnn_team_a32* p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static void dnn_team_store32(dnn_team_a32* p, int v) { __atomic_store_n(p, v, __ATOMIC_SEQ_CST); }
static void dnn_team_dec32(dnn_team_a32* p) { __atomic_fetch_sub(p, 1, __ATOMIC_ACQ_REL); }
#endif

#define DNN_TEAM_CLOSED 0xFFFFFFFFULL

typedef void (*dnn_team_fn)(void* ctx, int chunk);

typedef struct {
    int size;                   /* threads, the caller included */
    dnn_team_a64 ticket;
    dnn_team_a32 remaining;     /* chunks of the open phase not done yet */
    dnn_team_a32 quit;
    int ready;                  /* mutex and cond initialized: dnn_team_stop has them to stop */
    dnn_team_fn volatile fn;
    void* volatile ctx;
    volatile int nchunks;
    volatile dnn_fpmode fpmode; /* the caller's floating-point mode, taken by each chunk */
    dnn_mutex mutex;            /* with cond: idle helpers sleep here */
    dnn_cond cond;
    dnn_threads threads;
} dnn_team;

/* Take and run one chunk of the phase ``t`` names: 1 if one was run (or the
   ticket moved meanwhile: look again), 0 if it has none left. */
static int dnn_team_grab(dnn_team* T, unsigned long long t) {
    unsigned long long lo = t & DNN_TEAM_CLOSED;
    dnn_team_fn fn = T->fn;
    void* ctx = T->ctx;
    int n = T->nchunks;
    dnn_fpmode mode = T->fpmode;
    if (lo == DNN_TEAM_CLOSED || lo >= (unsigned long long) n) return 0;
    if (!dnn_team_cas64(&T->ticket, t, t + 1)) return 1;
    dnn_fpmode_take(mode);  /* a helper: the caller's rounding and flushing */
    fn(ctx, (int) lo);
    dnn_team_dec32(&T->remaining);
    return 1;
}

static void* dnn_team_helper(void* arg) {
    dnn_team* T = (dnn_team*) arg;
    unsigned long long t;
    int spin;
    while (!dnn_team_load32(&T->quit)) {
        t = dnn_team_load64(&T->ticket);
        if (dnn_team_grab(T, t)) continue;
        for (spin = 0; spin < DNN_SPINS && dnn_team_load64(&T->ticket) == t; spin++) dnn_cpu_relax();
        if (dnn_team_load64(&T->ticket) != t) continue;
        dnn_mutex_lock(&T->mutex);
        while (dnn_team_load64(&T->ticket) == t && !dnn_team_load32(&T->quit)) dnn_cond_wait(&T->cond, &T->mutex);
        dnn_mutex_unlock(&T->mutex);
    }
    return NULL;
}

/* A team of the caller alone: 0, or -1 (then there is nothing to stop). */
static int dnn_team_init(dnn_team* T) {
    memset(T, 0, sizeof(*T));
    T->size = 1;
    dnn_team_store64(&T->ticket, DNN_TEAM_CLOSED);
    if (dnn_mutex_init(&T->mutex) != 0) return -1;
    if (dnn_cond_init(&T->cond) != 0) { dnn_mutex_destroy(&T->mutex); return -1; }
    T->ready = 1;
    return 0;
}

/* Start helpers until the team has ``size`` threads, between phases: 0, or -1
   if one failed to start (``size`` then counts the ones that did). */
static int dnn_team_grow(dnn_team* T, int size) {
    while (T->size < size) {
        if (dnn_threads_start(&T->threads, dnn_team_helper, T) != 0) return -1;
        T->size++;
    }
    return 0;
}

/* A team of ``size`` threads: 0, or -1 if that fails (then dnn_team_stop
   still stops the helpers that started). */
static int dnn_team_start(dnn_team* T, int size) {
    if (dnn_team_init(T) != 0) return -1;
    return dnn_team_grow(T, size);
}

/* fn(ctx, c) for c = 0 .. n - 1, on this thread and the helpers; returns when
   every chunk is done. T NULL: on this thread, in order. */
static void dnn_team_run(dnn_team* T, dnn_team_fn fn, void* ctx, int n) {
    unsigned long long phase;
    int spin = 0, c;
    if (T == NULL || n <= 1) {
        for (c = 0; c < n; c++) fn(ctx, c);
        return;
    }
    phase = (dnn_team_load64(&T->ticket) >> 32) + 1;
    dnn_team_store64(&T->ticket, (phase << 32) | DNN_TEAM_CLOSED);
    T->fn = fn;
    T->ctx = ctx;
    T->nchunks = n;
    T->fpmode = dnn_fpmode_get();
    dnn_team_store32(&T->remaining, n);
    dnn_team_store64(&T->ticket, phase << 32);
    dnn_mutex_lock(&T->mutex);
    dnn_cond_broadcast(&T->cond);
    dnn_mutex_unlock(&T->mutex);
    while (dnn_team_grab(T, dnn_team_load64(&T->ticket))) {}
    while (dnn_team_load32(&T->remaining) > 0) {
        if (++spin < DNN_SPINS) dnn_cpu_relax(); else dnn_yield();
    }
}

/* Stop and join the helpers (after dnn_team_start, whatever it returned; on a zeroed team, or
   a second time, nothing). */
static void dnn_team_stop(dnn_team* T) {
    if (!T->ready) return;  /* dnn_team_start failed before any thread, or never ran (zeroed) */
    dnn_mutex_lock(&T->mutex);
    dnn_team_store32(&T->quit, 1);
    dnn_cond_broadcast(&T->cond);
    dnn_mutex_unlock(&T->mutex);
    dnn_threads_join(&T->threads);
    dnn_cond_destroy(&T->cond);
    dnn_mutex_destroy(&T->mutex);
    T->ready = 0;
}

#endif  /* DNN_TEAM_H */

/* What the training loop's shards need from the platform (dnn/_train.pyx):
   a monotonic clock, helper threads started with asynchronous signals
   blocked, a reusable barrier that spins, yields, then sleeps, and a gate.
   Over POSIX threads (Linux, macOS, BSD) or Win32 (MSVC, MinGW-w64); atomics
   through GCC's and clang's builtins, or MSVC's Interlocked functions. */
#ifndef DNN_PLATFORM_H
#define DNN_PLATFORM_H

#include <stddef.h>

#if defined(_WIN32)
#define DNN_WIN32 1
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>
#include <process.h>
#else
#define DNN_WIN32 0
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <time.h>
#if defined(__APPLE__)
#include <mach/mach_time.h>
#endif
#endif

#if defined(_MSC_VER) && !defined(__clang__)
#include <intrin.h>
#endif

#define DNN_MAX_THREADS 64  /* = MAX_THREADS in dnn/_train.pyx */
/* How a barrier waits: the threads of a chunk mostly arrive within
   microseconds of each other, and waking a sleeper costs more, so it
   first spins, then yields its core (to the thread it waits for, if
   they share one: more threads than cores, a busy machine), then sleeps. */
#ifndef DNN_SPINS
#define DNN_SPINS 2000
#endif
#ifndef DNN_YIELDS
#define DNN_YIELDS 200
#endif

/* ---- seconds on a monotonic clock ---- */

static double dnn_now(void) {
#if DNN_WIN32
    LARGE_INTEGER count, freq;
    QueryPerformanceCounter(&count);
    QueryPerformanceFrequency(&freq);
    return (double) count.QuadPart / (double) freq.QuadPart;
#elif defined(__APPLE__)
    static mach_timebase_info_data_t base;
    if (base.denom == 0) mach_timebase_info(&base);
    return 1e-9 * ((double) mach_absolute_time() * base.numer / base.denom);
#else
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
#endif
}

/* ---- atomics on the barrier's generation, and waiting politely ---- */

#if defined(_MSC_VER) && !defined(__clang__)
typedef volatile LONG dnn_atomic_uint;
static unsigned int dnn_atomic_load(dnn_atomic_uint* p) {
    return (unsigned int) InterlockedCompareExchange(p, 0, 0);  /* a full barrier */
}
static void dnn_atomic_store(dnn_atomic_uint* p, unsigned int v) {
    InterlockedExchange(p, (LONG) v);
}
#else
typedef unsigned int dnn_atomic_uint;
static unsigned int dnn_atomic_load(dnn_atomic_uint* p) {
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}
static void dnn_atomic_store(dnn_atomic_uint* p, unsigned int v) {
    __atomic_store_n(p, v, __ATOMIC_RELEASE);
}
#endif

static void dnn_cpu_relax(void) {
#if defined(_MSC_VER) && !defined(__clang__)
    YieldProcessor();
#elif defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
    __asm__ __volatile__("yield");
#endif
}

/* ---- subnormal results: flushed to zero inside a fit ----

   A float32 fit with Adam and L2 and an input feature that is always zero
   (a picture's border, a one-hot column absent from the data) decays that
   feature's weights and optimizer moments geometrically into the
   subnormal range within a few hundred epochs, where Intel cores take a
   microcode assist for every operation that makes or reads one (measured:
   benchmarks/NOTES.md, "An Intel Xeon"). The mini-batch loop runs
   its epochs with results that would be subnormal flushed to zero (below
   FLT_MIN / DBL_MIN, far under any tolerance), as TensorFlow and XLA (JAX)
   do on CPUs: x86-64's MXCSR.FTZ (subnormal inputs, which nothing in a fit
   makes then, are still read as they are), arm64's FPCR.FZ (which also reads
   them as zero). A team's helpers take the caller's mode with each chunk
   (dnn/_team.h), so the bits stay those of one thread. Other targets (MSVC on
   arm64, 32-bit x86, whose scalar float maths may be x87's) keep IEEE's subnormals:
   DNN_FPMODE_FLUSH is 0 there and the calls do nothing. */
typedef unsigned long long dnn_fpmode;
#if (defined(__x86_64__) || defined(_M_X64)) && !defined(_M_ARM64EC)
#include <xmmintrin.h>
#define DNN_FPMODE_FLUSH 0x8000ULL  /* MXCSR.FTZ */
#define DNN_FPMODE_CONTROL 0xFFC0ULL  /* MXCSR's controls; bits 0-5 are its sticky exception flags */
static inline dnn_fpmode dnn_fpmode_get(void) { return (dnn_fpmode) _mm_getcsr(); }
static inline void dnn_fpmode_set(dnn_fpmode m) { _mm_setcsr((unsigned int) m); }
#elif defined(__aarch64__) && (defined(__GNUC__) || defined(__clang__))
#define DNN_FPMODE_FLUSH (1ULL << 24)  /* FPCR.FZ */
#define DNN_FPMODE_CONTROL (~0ULL)       /* FPCR holds controls only (the flags are FPSR's) */
static inline dnn_fpmode dnn_fpmode_get(void) {
    unsigned long long r;
    __asm__ __volatile__("mrs %0, fpcr" : "=r"(r));
    return r;
}
static inline void dnn_fpmode_set(dnn_fpmode m) { __asm__ __volatile__("msr fpcr, %0" : : "r"(m)); }
#else
#define DNN_FPMODE_FLUSH 0ULL
#define DNN_FPMODE_CONTROL 0ULL
static inline dnn_fpmode dnn_fpmode_get(void) { return 0; }
static inline void dnn_fpmode_set(dnn_fpmode m) { (void) m; }
#endif

/* This thread's mode with subnormal results flushed; returns the mode before, for dnn_fpmode_take. */
static inline dnn_fpmode dnn_fpmode_flush(void) {
    dnn_fpmode before = dnn_fpmode_get();
    if ((before & DNN_FPMODE_FLUSH) != DNN_FPMODE_FLUSH) dnn_fpmode_set(before | DNN_FPMODE_FLUSH);
    return before;
}

/* This thread takes the controls (rounding, flushing) of ``mode``, another thread's; its own
   exception flags stay. */
static inline void dnn_fpmode_take(dnn_fpmode mode) {
    dnn_fpmode mine = dnn_fpmode_get();
    if ((mine ^ mode) & DNN_FPMODE_CONTROL)
        dnn_fpmode_set((mine & ~DNN_FPMODE_CONTROL) | (mode & DNN_FPMODE_CONTROL));
}

/* Whether this build flushes (0 where the mode is out of reach). */
static inline int dnn_fpmode_flushes(void) { return DNN_FPMODE_FLUSH != 0; }

static void dnn_yield(void) {
#if DNN_WIN32
    SwitchToThread();
#else
    sched_yield();
#endif
}

/* ---- a mutex and a condition variable ---- */

#if DNN_WIN32
typedef SRWLOCK dnn_mutex;
typedef CONDITION_VARIABLE dnn_cond;
static int dnn_mutex_init(dnn_mutex* m) { InitializeSRWLock(m); return 0; }
static void dnn_mutex_destroy(dnn_mutex* m) { (void) m; }
static void dnn_mutex_lock(dnn_mutex* m) { AcquireSRWLockExclusive(m); }
static void dnn_mutex_unlock(dnn_mutex* m) { ReleaseSRWLockExclusive(m); }
static int dnn_cond_init(dnn_cond* c) { InitializeConditionVariable(c); return 0; }
static void dnn_cond_destroy(dnn_cond* c) { (void) c; }
static void dnn_cond_wait(dnn_cond* c, dnn_mutex* m) {
    SleepConditionVariableSRW(c, m, INFINITE, 0);
}
static void dnn_cond_broadcast(dnn_cond* c) { WakeAllConditionVariable(c); }
#else
typedef pthread_mutex_t dnn_mutex;
typedef pthread_cond_t dnn_cond;
static int dnn_mutex_init(dnn_mutex* m) { return pthread_mutex_init(m, NULL) == 0 ? 0 : -1; }
static void dnn_mutex_destroy(dnn_mutex* m) { pthread_mutex_destroy(m); }
static void dnn_mutex_lock(dnn_mutex* m) { pthread_mutex_lock(m); }
static void dnn_mutex_unlock(dnn_mutex* m) { pthread_mutex_unlock(m); }
static int dnn_cond_init(dnn_cond* c) { return pthread_cond_init(c, NULL) == 0 ? 0 : -1; }
static void dnn_cond_destroy(dnn_cond* c) { pthread_cond_destroy(c); }
static void dnn_cond_wait(dnn_cond* c, dnn_mutex* m) { pthread_cond_wait(c, m); }
static void dnn_cond_broadcast(dnn_cond* c) { pthread_cond_broadcast(c); }
#endif

/* ---- a reusable barrier: the last of `count` threads to arrive starts a
   new generation; waiters spin on the generation, then sleep ---- */

typedef struct {
    dnn_mutex mutex;
    dnn_cond cond;
    int count;
    int waiting;
    dnn_atomic_uint generation;
} dnn_barrier;

static int dnn_barrier_init(dnn_barrier* b, int count) {
    b->count = count;
    b->waiting = 0;
    b->generation = 0;
    if (dnn_mutex_init(&b->mutex) != 0) return -1;
    if (dnn_cond_init(&b->cond) != 0) {
        dnn_mutex_destroy(&b->mutex);
        return -1;
    }
    return 0;
}

static void dnn_barrier_destroy(dnn_barrier* b) {
    dnn_cond_destroy(&b->cond);
    dnn_mutex_destroy(&b->mutex);
}

static void dnn_barrier_wait(dnn_barrier* b) {
    unsigned int gen;
    int spin;
    if (b->count <= 1) return;
    dnn_mutex_lock(&b->mutex);
    gen = dnn_atomic_load(&b->generation);
    if (++b->waiting == b->count) {
        b->waiting = 0;
        dnn_atomic_store(&b->generation, gen + 1);
        dnn_cond_broadcast(&b->cond);
        dnn_mutex_unlock(&b->mutex);
        return;
    }
    dnn_mutex_unlock(&b->mutex);
    for (spin = 0; spin < DNN_SPINS; spin++) {
        if (dnn_atomic_load(&b->generation) != gen) return;
        dnn_cpu_relax();
    }
    for (spin = 0; spin < DNN_YIELDS; spin++) {
        if (dnn_atomic_load(&b->generation) != gen) return;
        dnn_yield();
    }
    dnn_mutex_lock(&b->mutex);
    while (dnn_atomic_load(&b->generation) == gen) dnn_cond_wait(&b->cond, &b->mutex);
    dnn_mutex_unlock(&b->mutex);
}

/* ---- a gate the helper threads wait at until the team is complete ---- */

typedef struct {
    dnn_mutex mutex;
    dnn_cond cond;
    int open;
} dnn_gate;

static int dnn_gate_init(dnn_gate* g) {
    g->open = 0;
    if (dnn_mutex_init(&g->mutex) != 0) return -1;
    if (dnn_cond_init(&g->cond) != 0) {
        dnn_mutex_destroy(&g->mutex);
        return -1;
    }
    return 0;
}

static void dnn_gate_destroy(dnn_gate* g) {
    dnn_cond_destroy(&g->cond);
    dnn_mutex_destroy(&g->mutex);
}

static void dnn_gate_open(dnn_gate* g) {
    dnn_mutex_lock(&g->mutex);
    g->open = 1;
    dnn_cond_broadcast(&g->cond);
    dnn_mutex_unlock(&g->mutex);
}

static void dnn_gate_wait(dnn_gate* g) {
    dnn_mutex_lock(&g->mutex);
    while (!g->open) dnn_cond_wait(&g->cond, &g->mutex);
    dnn_mutex_unlock(&g->mutex);
}

/* ---- the helper threads of one chunk ----
   POSIX: they start with every asynchronous signal blocked, so Ctrl-C reaches
   Python's handler in the main thread; the synchronous ones stay open, so a
   fault in a helper still reaches faulthandler and the default action.
   Win32 has no per-thread signal masks: Ctrl-C runs its handler on a thread
   of its own, which only sets Python's flag. */

typedef void* (*dnn_thread_fn)(void*);

#if DNN_WIN32
typedef struct { dnn_thread_fn fn; void* arg; } dnn_thread_call;
#endif

typedef struct {
#if DNN_WIN32
    HANDLE tid[DNN_MAX_THREADS];
    dnn_thread_call call[DNN_MAX_THREADS];  /* what each thread runs */
#else
    pthread_t tid[DNN_MAX_THREADS];
#endif
    int started;
} dnn_threads;

#if DNN_WIN32
static unsigned __stdcall dnn_thread_main(void* p) {
    dnn_thread_call* call = (dnn_thread_call*) p;
    call->fn(call->arg);
    return 0;
}
#endif

static int dnn_threads_start(dnn_threads* th, dnn_thread_fn fn, void* arg) {
#if DNN_WIN32
    uintptr_t h;
    int i = th->started;
    if (i >= DNN_MAX_THREADS) return -1;
    th->call[i].fn = fn;
    th->call[i].arg = arg;
    h = _beginthreadex(NULL, 0, dnn_thread_main, &th->call[i], 0, NULL);
    if (h == 0) return -1;
    th->tid[i] = (HANDLE) h;
    th->started++;
    return 0;
#else
    sigset_t all, old;
    int rc;
    if (th->started >= DNN_MAX_THREADS) return -1;
    sigfillset(&all);
    sigdelset(&all, SIGSEGV);
    sigdelset(&all, SIGBUS);
    sigdelset(&all, SIGFPE);
    sigdelset(&all, SIGILL);
    sigdelset(&all, SIGABRT);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&th->tid[th->started], NULL, fn, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) return -1;
    th->started++;
    return 0;
#endif
}

static void dnn_threads_join(dnn_threads* th) {
    int i;
    for (i = 0; i < th->started; i++) {
#if DNN_WIN32
        WaitForSingleObject(th->tid[i], INFINITE);
        CloseHandle(th->tid[i]);
#else
        pthread_join(th->tid[i], NULL);
#endif
    }
    th->started = 0;
}

#endif  /* DNN_PLATFORM_H */

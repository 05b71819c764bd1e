/* dnn's own kernels (see dnn/_simd.pxd for what each computes and why), in
   plain C for every compiler the package is built with:
   - GCC and clang (Linux, macOS, MinGW-w64): GCC's vector extensions, one
     build of 16-byte vectors (SSE2 on x86-64, NEON on arm64) and, on x86-64,
     two more for AVX2 + FMA and AVX-512, picked at run time;
   - any other compiler (MSVC), or DNN_NO_VECTOR_EXT defined: the baseline
     build in scalar loops (the compiler vectorizes what it can), the same
     sums in the same order, with libm's exp.
   Included by dnn/_simd.pxd; each extension module gets its own copy. */
#ifndef DNN_SIMD_H
#define DNN_SIMD_H

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* __builtin_convertvector: clang, GCC 9 and later. */
#if !defined(DNN_NO_VECTOR_EXT) && (defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 9))
#define DNN_VECTOR_EXT 1
#else
#define DNN_VECTOR_EXT 0
#endif

#if DNN_VECTOR_EXT && defined(__x86_64__)
#define DNN_HAS_X86_BUILDS 1
#define DNN_TARGET_AVX2 __attribute__((target("avx2,fma")))
#define DNN_TARGET_AVX512 __attribute__((target("avx512f,avx512dq,avx2,fma")))
#else
#define DNN_HAS_X86_BUILDS 0
#endif

/* What the baseline build is, for ``dnn info``. */
#if !DNN_VECTOR_EXT
#define DNN_SIMD_BASE_NAME "scalar"
#elif defined(__x86_64__) || defined(__i386__)
#define DNN_SIMD_BASE_NAME "sse2"
#elif defined(__aarch64__) || defined(__ARM_NEON)
#define DNN_SIMD_BASE_NAME "neon"
#else
#define DNN_SIMD_BASE_NAME "vector16"
#endif

/* The vector helpers are always inlined, so no vector crosses a call:
   GCC's note that such a call's ABI differs with and without AVX does
   not apply. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

/* The vector exp rounds to an integer by adding and subtracting 1.5 * 2^52,
   and the range checks rely on nan comparing false: IEEE arithmetic. */
#if defined(__FAST_MATH__)
#error "dnn's vector kernels need IEEE arithmetic: build without -ffast-math"
#endif

/* Loops over m columns test j <= m - LANES, never j + LANES <= m: with
   m near INT_MAX the sum would wrap (CPython builds with -fwrapv). */
#if defined(__GNUC__) || defined(__clang__)
#define DNN_INLINE static inline __attribute__((always_inline))
#elif defined(_MSC_VER)
#define DNN_INLINE static __forceinline
#else
#define DNN_INLINE static inline
#endif
/* ``nn``'s column panels: K rows of B this long (in bytes) at most. */
#define DNN_NN_PANEL_BYTES (256 * 1024)
/* ``nn``'s packed B, in the builds that pack it (their PACK): a chunk of rows under a
   group of at most DNN_NN_PACK_COLS columns, in DNN_NN_PACK_BYTES (L2 holds it). */
#define DNN_NN_PACK_BYTES (256 * 1024)
#define DNN_NN_PACK_COLS 256
/* ``nn``'s ``scratch``: NULL, or a buffer of this many bytes that the packed path uses instead
   of one of its own (a training loop's workspace owns one per thread, so that nothing is
   allocated per iteration; the other callers let ``nn`` allocate it, where it packs). */
#define DNN_NN_SCRATCH_BYTES DNN_NN_PACK_BYTES

/* Whether ``nn`` packs B (rows of ``size``-byte elements, ldb apart) in a build whose PACK
   is ``pack``: where B's rows lie 32 KiB or more apart (a TLB entry each; PACK 1 and 2),
   and, with PACK 1, where K is long (K elements take 4 KiB or more: a column panel's K rows
   outgrow L1, and every block of C's rows fetches them again) and B is large; the AVX-512
   build (PACK 2) streams a long K instead. Packing gives the same bits, so this chooses
   speed only (the measurements behind the thresholds: benchmarks/NOTES.md, "nn packs B on
   the AVX2 build" and "S1's and S1-F's first layer, again"). */
DNN_INLINE int dnn_nn_packs(int K, int ldb, size_t size, int pack) {
    double k_bytes = (double) K * size, row_bytes = (double) ldb * size;
    return (pack == 1 && k_bytes >= 4096 && k_bytes * ldb >= 512 * 1024)
           || (row_bytes >= 32 * 1024 && K >= 64);
}
/* ``nn``'s walk over B (groups of gw columns, each in chunks of kc of K's rows): the chunk
   after rows up to k1 of the group [g0, g1), this group's next or the next group's first,
   as rows [*nk, *nk1) under columns [*ng0, *ng1) (no rows after the last); returns how
   many of them to fetch before each of the current group's panels of w columns, so that
   they arrive spread over its work. */
DNN_INLINE int dnn_nn_next_chunk(int K, int m, int kc, int gw, int w, int k1, int g0, int g1,
                                 int* nk, int* nk1, int* ng0, int* ng1) {
    int panels = (g1 - g0 + w - 1) / w;
    if (k1 < K) {
        *nk = k1;
        *ng0 = g0;
        *ng1 = g1;
    } else {
        *nk = 0;
        *ng0 = g1;
        *ng1 = m - g1 > gw ? g1 + gw : m;
    }
    *nk1 = *ng0 < m ? (K - *nk > kc ? *nk + kc : K) : *nk;
    return (*nk1 - *nk + panels - 1) / panels;
}
/* Ask for the cache lines of ``bytes`` bytes from ``p`` (into L2 where the
   compiler says where: a hint, nothing is read). */
DNN_INLINE void dnn_prefetch(const void* p, size_t bytes) {
#if defined(__GNUC__) || defined(__clang__)
    const char* c = (const char*) p;
    size_t i;
    for (i = 0; i < bytes; i += 64) __builtin_prefetch(c + i, 0, 2);
    if (bytes > 0) __builtin_prefetch(c + bytes - 1, 0, 2);
#else
    (void) p;
    (void) bytes;
#endif
}

/* ``nn``'s last argument: flags. DNN_NN_RELU applies relu after the bias;
   DNN_NN_OUT says no one reads C soon (the first layer's W^T dZ, dA0, which
   the course's L_model_backward returns and its loop drops): where the build
   can, C's rows go out with non-temporal stores, which skip reading C's lines
   into the cache before writing them (``dnn_nn_out``). Same bits either way. */
#define DNN_NN_RELU 1
#define DNN_NN_OUT 2

/* Copy ``bytes`` (a multiple of 4) from ``src`` to ``dst`` with non-temporal
   stores where x86's SSE2 has them (16 bytes at a time from dst's first
   16-byte boundary; WC buffers merge them into whole lines), else memcpy;
   dnn_stream_fence() after the last one orders them before later stores. */
#if DNN_HAS_X86_BUILDS
#include <emmintrin.h>
#include <stdint.h>
#define DNN_CAN_STREAM 1
DNN_INLINE void dnn_stream_copy(void* dst, const void* src, size_t bytes) {
    char* d = (char*) dst;
    const char* s = (const char*) src;
    size_t head = (16 - ((uintptr_t) d & 15)) & 15, i;
    if (head > bytes) head = bytes;
    memcpy(d, s, head);
    for (i = head; i + 16 <= bytes; i += 16)
        _mm_stream_si128((__m128i*) (d + i), _mm_loadu_si128((const __m128i*) (s + i)));
    memcpy(d + i, s + i, bytes - i);
}
DNN_INLINE void dnn_stream_fence(void) { _mm_sfence(); }
#else
#define DNN_CAN_STREAM 0
DNN_INLINE void dnn_stream_copy(void* dst, const void* src, size_t bytes) { memcpy(dst, src, bytes); }
DNN_INLINE void dnn_stream_fence(void) {}
#endif
/* ``nn`` fetches the next panel of B ahead where B's rows lie a page apart
   and B takes at least this many bytes: a smaller B stays in L2 between calls,
   and fetching it ahead only costs (benchmarks/NOTES.md, "S1's wide layer streamed"). */
#define DNN_NN_FAR_BYTES (4 << 20)
/* ``dnn_nn_out``'s tile: NR rows of C at most this many bytes; and the least C it
   stores past the cache (a small C stays in cache whoever reads it next). */
#define DNN_NN_TILE_BYTES (32 * 1024)
#define DNN_NN_OUT_MIN_BYTES (1 << 20)

/* Unroll a loop of a constant, small trip count in full, so that the
   arrays it indexes become registers. */
#if defined(__clang__)
#define DNN_UNROLL _Pragma("clang loop unroll(full)")
#elif defined(__GNUC__)
#define DNN_UNROLL _Pragma("GCC unroll 16")
#else
#define DNN_UNROLL
#endif

DNN_INLINE double dnn_exp_d(double x) { return exp(x); }
DNN_INLINE float dnn_exp_f(float x) { return expf(x); }

/* ReLU, defined here once for the whole package (dnn/_ops.pxd, dnn/_train.pyx
   and dnn/_loop.h use these; no other file spells the comparison):
   forward   relu(z) = z <= 0 ? 0 : z, np.maximum(0, z): -0 gives +0, and a
             nan stays nan, so a nan the layer's input carried shows in its
             output (the step-by-step API reads finiteness from results);
   backward  relu'(z) d = z > 0 ? d : 0 (the derivative at 0 is 0; a nan z
             gives 0). z may be relu's output: relu(z) > 0 exactly where z > 0.
   The scalar forms serve every element-by-element loop (the plain-C build,
   vector builds' tails, Cython's loops); DNN_VRELU / DNN_VRELU_GRAD are the
   same selects on a vector V of GCC's and clang's extensions (IV: the
   integer vector its comparisons give; zero: a V of zeros). Both agree bit
   for bit, nan included (tests/c/check_c.c). */
DNN_INLINE double dnn_relu_d(double z) { return z <= 0 ? 0.0 : z; }
DNN_INLINE float dnn_relu_f(float z) { return z <= 0 ? 0.0f : z; }
DNN_INLINE double dnn_relu_grad_d(double d, double z) { return z > 0 ? d : 0.0; }
DNN_INLINE float dnn_relu_grad_f(float d, float z) { return z > 0 ? d : 0.0f; }
#define DNN_VRELU(V, IV, z, zero) ((V) ((IV) (z) & ~((z) <= (zero))))
#define DNN_VRELU_GRAD(V, IV, d, z, zero) ((V) ((IV) (d) & ((z) > (zero))))

/* ``nt``'s register block of A's rows (its NTK) in each build; the table's
   ``nt_rows`` gives the one in use (a caller passing A's rows in groups). */
#define DNN_NTK_base 3
#define DNN_NTK_avx2 3
#define DNN_NTK_avx512 4

#if DNN_VECTOR_EXT


/* Vectors of GCC's and clang's vector extensions, of each build's native
   width (wider vectors than the hardware's come out scalarized): 16 bytes
   for the baseline (SSE2), 32 for AVX2, 64 for AVX-512. */
typedef double dnn_v2d __attribute__((vector_size(16)));
typedef long long dnn_v2di __attribute__((vector_size(16)));
typedef float dnn_v4f __attribute__((vector_size(16)));
typedef int dnn_v4i __attribute__((vector_size(16)));
typedef float dnn_v2f __attribute__((vector_size(8)));
typedef double dnn_v4d __attribute__((vector_size(32)));
typedef long long dnn_v4di __attribute__((vector_size(32)));
typedef float dnn_v8f __attribute__((vector_size(32)));
typedef int dnn_v8i __attribute__((vector_size(32)));
typedef double dnn_v8d __attribute__((vector_size(64)));
typedef long long dnn_v8di __attribute__((vector_size(64)));
typedef float dnn_v16f __attribute__((vector_size(64)));
typedef int dnn_v16i __attribute__((vector_size(64)));

/* exp(x) for |x| <= 708 (float64): x = k ln2 + r with |r| <= ln2 / 2 (ln2
   in two parts, the first exact times any such k), exp(r) by its Taylor
   series to r^13 (truncation < 1e-17), times 2^k made from k's bits. The
   k of round(x / ln2) comes out of adding 1.5 * 2^52: its low bits are k. */
#define DNN_VEXP_D(NAME, ATTR, V, IV)                                               \
DNN_INLINE ATTR V NAME(V x) {                                                       \
    const double shift = 0x1.8p52;                                                  \
    V t = x * 1.4426950408889634 + shift, k = t - shift, r, p, scale;               \
    IV bits;                                                                        \
    r = x - k * 6.93147180369123816490e-01;                                         \
    r = r - k * 1.90821492927058770002e-10;                                         \
    p = r * (1.0 / 6227020800.0) + 1.0 / 479001600.0;                               \
    p = p * r + 1.0 / 39916800.0;                                                   \
    p = p * r + 1.0 / 3628800.0;                                                    \
    p = p * r + 1.0 / 362880.0;                                                     \
    p = p * r + 1.0 / 40320.0;                                                      \
    p = p * r + 1.0 / 5040.0;                                                       \
    p = p * r + 1.0 / 720.0;                                                        \
    p = p * r + 1.0 / 120.0;                                                        \
    p = p * r + 1.0 / 24.0;                                                         \
    p = p * r + 1.0 / 6.0;                                                          \
    p = p * r + 0.5;                                                                \
    p = p * r + 1.0;                                                                \
    p = p * r + 1.0;                                                                \
    memcpy(&bits, &t, sizeof bits);                                                 \
    bits = (bits << 52) + 0x3ff0000000000000LL;                                     \
    memcpy(&scale, &bits, sizeof scale);                                            \
    return p * scale;                                                               \
}

/* The same in float32 for |x| <= 87, to r^7 (truncation < 6e-9). */
#define DNN_VEXP_F(NAME, ATTR, V, IV)                                               \
DNN_INLINE ATTR V NAME(V x) {                                                       \
    const float shift = 0x1.8p23f;                                                  \
    V t = x * 1.44269504f + shift, k = t - shift, r, p, scale;                      \
    IV bits;                                                                        \
    r = x - k * 0.693145751953125f;                                                 \
    r = r - k * 1.428606765330187045e-06f;                                          \
    p = r * (1.0f / 5040.0f) + 1.0f / 720.0f;                                       \
    p = p * r + 1.0f / 120.0f;                                                      \
    p = p * r + 1.0f / 24.0f;                                                       \
    p = p * r + 1.0f / 6.0f;                                                        \
    p = p * r + 0.5f;                                                               \
    p = p * r + 1.0f;                                                               \
    p = p * r + 1.0f;                                                               \
    memcpy(&bits, &t, sizeof bits);                                                 \
    bits = (bits << 23) + 0x3f800000;                                               \
    memcpy(&scale, &bits, sizeof scale);                                            \
    return p * scale;                                                               \
}

/* The sum of a vector's lanes: halves added until two lanes are left, those
   two in double (float32 lanes are summed in float32 up to there, as a
   BLAS's sgemm sums). A serial sum lane by lane cost as much as the
   products themselves in ``nt`` on 16-lane float32 vectors. */
/* (Lanes by subscript, not by memcpy: a copy through memory kept the
   accumulators of ``nt`` out of registers.) */
DNN_INLINE double dnn_hsum_d_base(dnn_v2d v) { return v[0] + v[1]; }
DNN_INLINE double dnn_hsum_f_base(dnn_v4f v) {
    return (double) (v[0] + v[2]) + (double) (v[1] + v[3]);
}
#if DNN_HAS_X86_BUILDS
DNN_INLINE DNN_TARGET_AVX2 double dnn_hsum_d_avx2(dnn_v4d v) {
    dnn_v2d lo = {v[0], v[1]}, hi = {v[2], v[3]};
    return dnn_hsum_d_base(lo + hi);
}
DNN_INLINE DNN_TARGET_AVX2 double dnn_hsum_f_avx2(dnn_v8f v) {
    dnn_v4f lo = {v[0], v[1], v[2], v[3]}, hi = {v[4], v[5], v[6], v[7]};
    return dnn_hsum_f_base(lo + hi);
}
DNN_INLINE DNN_TARGET_AVX512 double dnn_hsum_d_avx512(dnn_v8d v) {
    dnn_v4d lo = {v[0], v[1], v[2], v[3]}, hi = {v[4], v[5], v[6], v[7]};
    return dnn_hsum_d_avx2(lo + hi);
}
DNN_INLINE DNN_TARGET_AVX512 double dnn_hsum_f_avx512(dnn_v16f v) {
    dnn_v8f lo = {v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]};
    dnn_v8f hi = {v[8], v[9], v[10], v[11], v[12], v[13], v[14], v[15]};
    return dnn_hsum_f_avx2(lo + hi);
}
#endif

/* ``nt``'s register block of AVX-512 accumulators summed jointly: instead
   of one ``dnn_hsum`` per accumulator (three or four shuffles and adds each,
   costly where the sums are short; benchmarks/NOTES.md, "nt's sums folded
   jointly"), pairs of vectors are folded, n accumulators into n / 8 vectors
   of 8 sums, each sum's additions the very ones ``dnn_hsum_*_avx512`` makes (float64: lane l
   + lane l+4, then + 2, then + 1; float32: + 8, + 4, + 2 in float, then the
   two lanes left added in double): the same bits. ``sums[f]`` is the sum of
   ``acc[f]``'s lanes (n <= 32 accumulators: its arrays). AVX2 alike, four
   accumulators into a vector of 4 sums (``dnn_hsum_*_avx2``'s additions), a
   block's last n mod 4 by one hsum each; the baseline build: one hsum each
   (DNN_NT_JOINT 0). */
#define DNN_NT_JOINT(T, LANES, n) \
    (((LANES) * sizeof(T) == 64 && (n) % 8 == 0 && (n) <= 32) || \
     ((LANES) * sizeof(T) == 32 && (n) >= 4 && (n) <= 32))
#if DNN_HAS_X86_BUILDS
/* (AVX2: each fold's shuffles within 128-bit lanes or whole halves, one
   instruction each; the four sums come out in order.) */
DNN_INLINE DNN_TARGET_AVX2 dnn_v4d dnn_fold2_d4(dnn_v4d a, dnn_v4d b) {
    dnn_v4d x = {a[0], a[1], b[0], b[1]}, y = {a[2], a[3], b[2], b[3]};
    return x + y;
}
DNN_INLINE DNN_TARGET_AVX2 void dnn_nt_joint_d_avx2(const void* accs, int n, double* sums) {
    const dnn_v4d* acc = (const dnn_v4d*) accs;
    int i;
    DNN_UNROLL for (i = 0; i < n / 4; i++) {
        /* h: accumulators 0 and 2 of the four (lane l + l+2), g: 1 and 3 */
        dnn_v4d h = dnn_fold2_d4(acc[4 * i], acc[4 * i + 2]);
        dnn_v4d g = dnn_fold2_d4(acc[4 * i + 1], acc[4 * i + 3]);
        dnn_v4d x = {h[0], g[0], h[2], g[2]}, y = {h[1], g[1], h[3], g[3]};
        dnn_v4d f = x + y;
        memcpy(sums + 4 * i, &f, sizeof f);
    }
    for (i = n / 4 * 4; i < n; i++) sums[i] = dnn_hsum_d_avx2(acc[i]);
}
DNN_INLINE DNN_TARGET_AVX2 dnn_v8f dnn_fold4_f8(dnn_v8f a, dnn_v8f b) {
    /* lane l + l+4: a in the low half, b in the high one */
    dnn_v8f x = {a[0], a[1], a[2], a[3], b[0], b[1], b[2], b[3]};
    dnn_v8f y = {a[4], a[5], a[6], a[7], b[4], b[5], b[6], b[7]};
    return x + y;
}
DNN_INLINE DNN_TARGET_AVX2 void dnn_nt_joint_f_avx2(const void* accs, int n, double* sums) {
    const dnn_v8f* acc = (const dnn_v8f*) accs;
    int i;
    DNN_UNROLL for (i = 0; i < n / 4; i++) {
        dnn_v8f h = dnn_fold4_f8(acc[4 * i], acc[4 * i + 1]);       /* a | b */
        dnn_v8f g = dnn_fold4_f8(acc[4 * i + 2], acc[4 * i + 3]);   /* c | d */
        /* + 2 within each half: (a even, a odd, c even, c odd | b ..., d ...) */
        dnn_v8f x = {h[0], h[1], g[0], g[1], h[4], h[5], g[4], g[5]};
        dnn_v8f y = {h[2], h[3], g[2], g[3], h[6], h[7], g[6], g[7]};
        dnn_v8f f = x + y;
        /* the last pair in double */
        dnn_v4f flo = {f[0], f[1], f[2], f[3]}, fhi = {f[4], f[5], f[6], f[7]};
        dnn_v4d lo = __builtin_convertvector(flo, dnn_v4d), hi = __builtin_convertvector(fhi, dnn_v4d);
        dnn_v4d e = {lo[0], hi[0], lo[2], hi[2]}, o = {lo[1], hi[1], lo[3], hi[3]};
        dnn_v4d sum = e + o;
        memcpy(sums + 4 * i, &sum, sizeof sum);
    }
    for (i = n / 4 * 4; i < n; i++) sums[i] = dnn_hsum_f_avx2(acc[i]);
}
DNN_INLINE DNN_TARGET_AVX512 dnn_v8d dnn_fold4_d(dnn_v8d a, dnn_v8d b) {
    dnn_v8d x = {a[0], a[1], a[2], a[3], b[0], b[1], b[2], b[3]};
    dnn_v8d y = {a[4], a[5], a[6], a[7], b[4], b[5], b[6], b[7]};
    return x + y;
}
DNN_INLINE DNN_TARGET_AVX512 dnn_v8d dnn_fold2_d(dnn_v8d a, dnn_v8d b) {
    dnn_v8d x = {a[0], a[1], a[4], a[5], b[0], b[1], b[4], b[5]};
    dnn_v8d y = {a[2], a[3], a[6], a[7], b[2], b[3], b[6], b[7]};
    return x + y;
}
DNN_INLINE DNN_TARGET_AVX512 dnn_v8d dnn_fold1_d(dnn_v8d a, dnn_v8d b) {
    dnn_v8d x = {a[0], a[2], a[4], a[6], b[0], b[2], b[4], b[6]};
    dnn_v8d y = {a[1], a[3], a[5], a[7], b[1], b[3], b[5], b[7]};
    return x + y;
}
DNN_INLINE DNN_TARGET_AVX512 void dnn_nt_joint_d_avx512(const void* accs, int n, double* sums) {
    const dnn_v8d* acc = (const dnn_v8d*) accs;
    dnn_v8d h[16], g[8];
    int i;
    DNN_UNROLL for (i = 0; i < n / 2; i++) h[i] = dnn_fold4_d(acc[2 * i], acc[2 * i + 1]);
    DNN_UNROLL for (i = 0; i < n / 4; i++) g[i] = dnn_fold2_d(h[2 * i], h[2 * i + 1]);
    DNN_UNROLL for (i = 0; i < n / 8; i++) {
        dnn_v8d f = dnn_fold1_d(g[2 * i], g[2 * i + 1]);
        memcpy(sums + 8 * i, &f, sizeof f);
    }
}
DNN_INLINE DNN_TARGET_AVX512 dnn_v16f dnn_fold8_f(dnn_v16f a, dnn_v16f b) {
    dnn_v16f x = {a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7],
                  b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]};
    dnn_v16f y = {a[8], a[9], a[10], a[11], a[12], a[13], a[14], a[15],
                  b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]};
    return x + y;
}
DNN_INLINE DNN_TARGET_AVX512 dnn_v16f dnn_fold4_f(dnn_v16f a, dnn_v16f b) {
    dnn_v16f x = {a[0], a[1], a[2], a[3], a[8], a[9], a[10], a[11],
                  b[0], b[1], b[2], b[3], b[8], b[9], b[10], b[11]};
    dnn_v16f y = {a[4], a[5], a[6], a[7], a[12], a[13], a[14], a[15],
                  b[4], b[5], b[6], b[7], b[12], b[13], b[14], b[15]};
    return x + y;
}
DNN_INLINE DNN_TARGET_AVX512 dnn_v16f dnn_fold2_f(dnn_v16f a, dnn_v16f b) {
    dnn_v16f x = {a[0], a[1], a[4], a[5], a[8], a[9], a[12], a[13],
                  b[0], b[1], b[4], b[5], b[8], b[9], b[12], b[13]};
    dnn_v16f y = {a[2], a[3], a[6], a[7], a[10], a[11], a[14], a[15],
                  b[2], b[3], b[6], b[7], b[10], b[11], b[14], b[15]};
    return x + y;
}
DNN_INLINE DNN_TARGET_AVX512 void dnn_nt_joint_f_avx512(const void* accs, int n, double* sums) {
    const dnn_v16f* acc = (const dnn_v16f*) accs;
    dnn_v16f h[16], g[8];
    int i;
    DNN_UNROLL for (i = 0; i < n / 2; i++) h[i] = dnn_fold8_f(acc[2 * i], acc[2 * i + 1]);
    DNN_UNROLL for (i = 0; i < n / 4; i++) g[i] = dnn_fold4_f(h[2 * i], h[2 * i + 1]);
    DNN_UNROLL for (i = 0; i < n / 8; i++) {
        dnn_v16f f = dnn_fold2_f(g[2 * i], g[2 * i + 1]);  /* 8 pairs: (even, odd) lanes */
        dnn_v8f e = {f[0], f[2], f[4], f[6], f[8], f[10], f[12], f[14]};
        dnn_v8f o = {f[1], f[3], f[5], f[7], f[9], f[11], f[13], f[15]};
        dnn_v8d s = __builtin_convertvector(e, dnn_v8d) + __builtin_convertvector(o, dnn_v8d);
        memcpy(sums + 8 * i, &s, sizeof s);
    }
}
#endif
/* Never called (DNN_NT_JOINT is 0 there): for the other builds to compile. */
#define dnn_nt_joint_d_base(acc, n, sums) ((void) (acc), (void) (sums))
#define dnn_nt_joint_f_base(acc, n, sums) ((void) (acc), (void) (sums))

/* Sums in double: a vector of doubles adds as it is, one of floats in two
   halves, each widened to VD. */
#define DNN_ACC_SAME(VD, HALF, a0, a1, d) ((a0) += (d))
#define DNN_ACC_SPLIT(VD, HALF, a0, a1, d)                                          \
    do {                                                                            \
        HALF lo_, hi_;                                                              \
        memcpy(&lo_, &(d), sizeof lo_);                                             \
        memcpy(&hi_, (const char*) &(d) + sizeof lo_, sizeof hi_);                  \
        (a0) += __builtin_convertvector(lo_, VD);                                   \
        (a1) += __builtin_convertvector(hi_, VD);                                   \
    } while (0)


/* What ``nn`` does with a sum before it stores it: + bias (then relu), or
   scale by alpha (and add to what C holds: ``nn_acc``). A product whose K is
   summed in chunks (``dnn_nn_*``) has ``chunked`` set; a chunk after the first
   starts from the partial sums in C (``cont``), one before the last stores
   them as they are (``partial``). */
typedef struct { const double* bias; int relu; int scale; double alpha; int add;
                 int chunked, cont, partial; } dnn_epi_d;
typedef struct { const float* bias; int relu; int scale; float alpha; int add;
                 int chunked, cont, partial; } dnn_epi_f;

/* One register block of ``nn``: C[r, j] := sum_k M[r, k] B[k, j] (+ bias[r],
   then relu) for rows r0 <= r < r0 + NR_ and columns j0 <= j < j0 + NV_ *
   LANES, in NR_ x NV_ vector accumulators, k in order, one store per
   element (per chunk of K, where ``dnn_nn_*`` sums K in chunks). NR_ and
   NV_ are constants of each instantiation, so the accumulators live in
   registers. */
#define DNN_NN_BLOCK(T, S, ISA, ATTR, V, IV, LANES, NAME, NR_, NV_)                 \
DNN_INLINE ATTR void dnn_nn_block_##S##_##ISA##_##NAME(int r0, int j0, int K,       \
        const T* M, int rs, int cs, const T* B, int ldb, T* C, int ldc,             \
        dnn_epi_##S e) {                                                            \
    V acc[NR_][NV_], b[NV_], c, old, zero = {0};                                    \
    int i, v, k;                                                                    \
    DNN_UNROLL for (i = 0; i < NR_; i++)                                            \
        DNN_UNROLL for (v = 0; v < NV_; v++) {                                      \
            if (e.cont)                                                            \
                memcpy(&acc[i][v], C + (ptrdiff_t) (r0 + i) * ldc + j0 + v * LANES, \
                       sizeof(V));                                                  \
            else                                                                    \
                acc[i][v] = zero;                                                   \
        }                                                                           \
    for (k = 0; k < K; k++) {                                                       \
        const T* brow = B + (ptrdiff_t) k * ldb + j0;                               \
        DNN_UNROLL for (v = 0; v < NV_; v++) memcpy(&b[v], brow + v * LANES, sizeof(V)); \
        DNN_UNROLL for (i = 0; i < NR_; i++) {                                      \
            T w = M[(ptrdiff_t) (r0 + i) * rs + (ptrdiff_t) k * cs];                \
            DNN_UNROLL for (v = 0; v < NV_; v++) acc[i][v] += w * b[v];             \
        }                                                                           \
    }                                                                               \
    DNN_UNROLL for (i = 0; i < NR_; i++) {                                          \
        T* crow = C + (ptrdiff_t) (r0 + i) * ldc + j0;                              \
        DNN_UNROLL for (v = 0; v < NV_; v++) {                                      \
            c = acc[i][v];                                                          \
            if (e.partial) {  /* a partial sum: stored as it is */                \
            } else if (e.scale) {                                                  \
                c = c * e.alpha;                                                   \
                if (e.add) {                                                       \
                    memcpy(&old, crow + v * LANES, sizeof(V));                      \
                    c = old + c;                                                    \
                }                                                                   \
            } else if (e.bias != NULL) {                                           \
                c = c + e.bias[r0 + i];                                            \
                if (e.relu) c = DNN_VRELU(V, IV, c, zero);                         \
            }                                                                       \
            memcpy(crow + v * LANES, &c, sizeof(V));                                \
        }                                                                           \
    }                                                                               \
}

/* One register block of ``nt``: W[r, k] := alpha * sum_j D[r, j] A[k, j]
   (+ W[r, k] if add) for r0 <= r < r0 + NR_ and k0 <= k < k0 + NK_, in
   NR_ x NK_ vector accumulators over the examples; their lanes are then
   summed in double, the sum rounded to T and scaled: a gemm's
   alpha * (D A^T) + beta * W. */
#define DNN_NT_BLOCK(T, S, ISA, ATTR, V, IV, LANES, NAME, NR_, NK_)                 \
DNN_INLINE ATTR void dnn_nt_block_##S##_##ISA##_##NAME(int r0, int k0, int m,       \
        T alpha, const T* D, int ldd, const T* A, int lda, int add, T* W, int ldw) { \
    V acc[NR_][NK_], d[NR_], a, zero = {0};                                         \
    IV lane, keep;                                                                  \
    int i, q, j, jt, l;                                                             \
    DNN_UNROLL for (i = 0; i < NR_; i++)                                            \
        DNN_UNROLL for (q = 0; q < NK_; q++) acc[i][q] = zero;                      \
    for (j = 0; j <= m - LANES; j += LANES) {                                       \
        DNN_UNROLL for (i = 0; i < NR_; i++)                                        \
            memcpy(&d[i], D + (ptrdiff_t) (r0 + i) * ldd + j, sizeof(V));           \
        DNN_UNROLL for (q = 0; q < NK_; q++) {                                      \
            memcpy(&a, A + (ptrdiff_t) (k0 + q) * lda + j, sizeof(V));              \
            DNN_UNROLL for (i = 0; i < NR_; i++) acc[i][q] += d[i] * a;             \
        }                                                                           \
    }                                                                               \
    if (j < m && m >= LANES) {                                                      \
        /* The last examples: the vector ending at m, its lanes before j */         \
        /* (summed already) zeroed in both operands. */                             \
        for (l = 0; l < LANES; l++) lane[l] = l;                                    \
        keep = lane >= j - (m - LANES);                                             \
        DNN_UNROLL for (i = 0; i < NR_; i++) {                                      \
            memcpy(&d[i], D + (ptrdiff_t) (r0 + i) * ldd + m - LANES, sizeof(V));   \
            d[i] = (V) ((IV) d[i] & keep);                                          \
        }                                                                           \
        DNN_UNROLL for (q = 0; q < NK_; q++) {                                      \
            memcpy(&a, A + (ptrdiff_t) (k0 + q) * lda + m - LANES, sizeof(V));      \
            a = (V) ((IV) a & keep);  /* 0 * inf would be nan */                    \
            DNN_UNROLL for (i = 0; i < NR_; i++) acc[i][q] += d[i] * a;             \
        }                                                                           \
        j = m;                                                                      \
    }                                                                               \
    if (DNN_NT_JOINT(T, LANES, NR_ * NK_) && j == m) {                              \
        /* every accumulator's lanes summed at once (see DNN_NT_JOINT) */           \
        double sums[NR_ * NK_ + 1];                                                 \
        dnn_nt_joint_##S##_##ISA((const void*) acc, NR_ * NK_, sums);               \
        DNN_UNROLL for (i = 0; i < NR_; i++)                                        \
            DNN_UNROLL for (q = 0; q < NK_; q++) {                                  \
                T* w = W + (ptrdiff_t) (r0 + i) * ldw + k0 + q;                     \
                T sum = (T) sums[i * NK_ + q];                                      \
                *w = add ? *w + alpha * sum : alpha * sum;                          \
            }                                                                       \
        return;                                                                     \
    }                                                                               \
    DNN_UNROLL for (i = 0; i < NR_; i++)                                            \
        DNN_UNROLL for (q = 0; q < NK_; q++) {                                      \
            const T* drow = D + (ptrdiff_t) (r0 + i) * ldd;                         \
            const T* arow = A + (ptrdiff_t) (k0 + q) * lda;                         \
            T* w = W + (ptrdiff_t) (r0 + i) * ldw + k0 + q;                         \
            double sum;                                                             \
            sum = dnn_hsum_##S##_##ISA(acc[i][q]);                                  \
            for (jt = j; jt < m; jt++) sum += (double) drow[jt] * arow[jt];         \
            *w = add ? *w + alpha * (T) sum : alpha * (T) sum;                      \
        }                                                                           \
}

/* The kernels, once per element type T (suffix S) and instruction set
   ISA (function attribute ATTR): V the vector of LANES T's, IV the integer
   vector a comparison of V's gives, VD the vector of doubles the sums
   run in (HALF: half a V, widened to a VD), ACC how a V is added to them,
   VEXP the vector exp, good for |x| <= EXP_LIMIT; NR x NV vectors, ``nn``'s
   register block, NTR x NTK ``nt``'s; PACK 0, 1 or 2: where ``nn`` packs B
   (never, or as ``dnn_nn_packs`` says). */
#define DNN_SIMD_KERNELS(T, S, ISA, ATTR, V, IV, LANES, VD, HALF, ACC, VEXP, EXP_LIMIT, \
                         NR, NV, NTR, NTK, PACK)                                    \
                                                                                    \
DNN_INLINE ATTR void dnn_bias_act_row_##S##_##ISA(int n, T* __restrict c, T bias,   \
                                                  int relu) {                       \
    int j;                                                                          \
    for (j = 0; j < n; j++) c[j] = c[j] + bias;                                     \
    if (relu)                                                                       \
        for (j = 0; j < n; j++) c[j] = dnn_relu_##S(c[j]);                          \
}                                                                                   \
                                                                                    \
static ATTR void dnn_bias_act_##S##_##ISA(int R, int m, T* C, int ldc,              \
                                          const T* bias, int relu) {                \
    int r;                                                                          \
    for (r = 0; r < R; r++)                                                         \
        dnn_bias_act_row_##S##_##ISA(m, C + (ptrdiff_t) r * ldc, bias[r], relu);    \
}                                                                                   \
                                                                                    \
/* 1 if some x is nan or +-inf: x * 0 is nan exactly then, and a nan stays  */   \
/* in a sum (two sums: one chain of adds waits on its latency). */                  \
static ATTR int dnn_nonfinite_##S##_##ISA(ptrdiff_t n, const T* x) {               \
    V v, w, a0 = {0}, a1 = {0}, zero = {0};                                         \
    ptrdiff_t j = 0;                                                                \
    int l, bad = 0;                                                                 \
    for (; j + 2 * LANES <= n; j += 2 * LANES) {                                    \
        memcpy(&v, x + j, sizeof(V));                                               \
        memcpy(&w, x + j + LANES, sizeof(V));                                       \
        a0 += v * zero;                                                             \
        a1 += w * zero;                                                             \
    }                                                                               \
    a0 += a1;                                                                       \
    for (l = 0; l < LANES; l++) bad |= a0[l] != a0[l];                              \
    for (; j < n; j++) bad |= x[j] * (T) 0 != 0;                                    \
    return bad;                                                                     \
}                                                                                   \
                                                                                    \
/* A := relu(Z) (n,), and 1 if some z is nan or +-inf (``nonfinite``'s test: */    \
/* relu's 0 would hide a -inf, and a caller must see it), in one pass.       */     \
static ATTR int dnn_relu_checked_##S##_##ISA(ptrdiff_t n, const T* Z, T* A) {       \
    V z, a0 = {0}, zero = {0};                                                      \
    ptrdiff_t j = 0;                                                                \
    int l, bad = 0;                                                                 \
    for (; j + LANES <= n; j += LANES) {                                            \
        memcpy(&z, Z + j, sizeof(V));                                               \
        a0 += z * zero;                                                             \
        z = DNN_VRELU(V, IV, z, zero);                                              \
        memcpy(A + j, &z, sizeof(V));                                               \
    }                                                                               \
    for (l = 0; l < LANES; l++) bad |= a0[l] != a0[l];                              \
    for (; j < n; j++) {                                                            \
        bad |= Z[j] * (T) 0 != 0;                                                   \
        A[j] = dnn_relu_##S(Z[j]);                                                  \
    }                                                                               \
    return bad;                                                                     \
}                                                                                   \
                                                                                    \
DNN_NN_BLOCK(T, S, ISA, ATTR, V, IV, LANES, big, NR, NV)                            \
DNN_NN_BLOCK(T, S, ISA, ATTR, V, IV, LANES, rows, NR, 1)                            \
DNN_NN_BLOCK(T, S, ISA, ATTR, V, IV, LANES, cols, 1, NV)                            \
DNN_NN_BLOCK(T, S, ISA, ATTR, V, IV, LANES, one, 1, 1)                              \
DNN_NT_BLOCK(T, S, ISA, ATTR, V, IV, LANES, big, NTR, NTK)                          \
DNN_NT_BLOCK(T, S, ISA, ATTR, V, IV, LANES, rows, NTR, 1)                           \
DNN_NT_BLOCK(T, S, ISA, ATTR, V, IV, LANES, cols, 1, NTK)                           \
DNN_NT_BLOCK(T, S, ISA, ATTR, V, IV, LANES, one, 1, 1)                              \
                                                                                    \
/* nn's rows r0 .. r0 + NR_ - 1 (NR_ = NR or 1), columns j0 <= j < m    */          \
/* fewer than LANES, one at a time. */                                              \
DNN_INLINE ATTR void dnn_nn_tail_##S##_##ISA(int NR_, int r0, int j0, int m, int K, \
        const T* M, int rs, int cs, const T* B, int ldb, T* C, int ldc,             \
        dnn_epi_##S e) {                                                            \
    int i, j, k;                                                                    \
    for (i = 0; i < NR_; i++)                                                       \
        for (j = j0; j < m; j++) {                                                  \
            T c = e.cont ? C[(ptrdiff_t) (r0 + i) * ldc + j] : 0;                   \
            for (k = 0; k < K; k++)                                                 \
                c = c + M[(ptrdiff_t) (r0 + i) * rs + (ptrdiff_t) k * cs]           \
                        * B[(ptrdiff_t) k * ldb + j];                               \
            if (e.partial) {  /* a partial sum: stored as it is */                \
            } else if (e.scale) {                                                  \
                c = c * e.alpha;                                                   \
                if (e.add) c = C[(ptrdiff_t) (r0 + i) * ldc + j] + c;              \
            } else if (e.bias != NULL) {                                           \
                c = c + e.bias[r0 + i];                                            \
                if (e.relu) c = dnn_relu_##S(c);                                   \
            }                                                                       \
            C[(ptrdiff_t) (r0 + i) * ldc + j] = c;                                  \
        }                                                                           \
}                                                                                   \
                                                                                    \
/* The same columns (m >= LANES) where C's columns before j0 hold sums    */        \
/* under way (a product in chunks of K, or one adding to C), which       */        \
/* computing them again would add twice: the vector ending at m in a     */        \
/* tile (from C's values where the sums go on), and only its lanes from   */       \
/* j0 on stored. Lane by lane the scalar loop's sums (the same products,  */       \
/* k in order), without its chain of dependent adds per column.           */       \
DNN_INLINE ATTR void dnn_nn_tile_tail_##S##_##ISA(int NR_, int r0, int j0, int m,    \
        int K, const T* M, int rs, int cs, const T* B, int ldb, T* C, int ldc,      \
        dnn_epi_##S e) {                                                            \
    T tile[NR * LANES];                                                             \
    const int s = m - LANES;  /* C's column of the tile's first lane */             \
    int i;                                                                          \
    if (e.bias != NULL) e.bias += r0;                                               \
    if (e.cont || (e.scale && e.add))                                               \
        for (i = 0; i < NR_; i++)                                                   \
            memcpy(tile + i * LANES, C + (ptrdiff_t) (r0 + i) * ldc + s, sizeof(V)); \
    if (NR_ == NR)                                                                  \
        dnn_nn_block_##S##_##ISA##_rows(0, 0, K, M + (ptrdiff_t) r0 * rs, rs, cs,   \
                                        B + s, ldb, tile, LANES, e);                \
    else                                                                            \
        dnn_nn_block_##S##_##ISA##_one(0, 0, K, M + (ptrdiff_t) r0 * rs, rs, cs,    \
                                       B + s, ldb, tile, LANES, e);                 \
    for (i = 0; i < NR_; i++)                                                       \
        memcpy(C + (ptrdiff_t) (r0 + i) * ldc + j0, tile + i * LANES + (j0 - s),    \
               (size_t) (m - j0) * sizeof(T));                                      \
}                                                                                   \
                                                                                    \
DNN_INLINE ATTR void dnn_nn_rows_##S##_##ISA(int NR_, int r0, int K, int j0, int m, \
        const T* M, int rs, int cs, const T* B, int ldb, T* C, int ldc,             \
        dnn_epi_##S e) {                                                            \
    int j = j0;                                                                     \
    if (NR_ == NR) {                                                                \
        for (; j <= m - NV * LANES; j += NV * LANES)                                \
            dnn_nn_block_##S##_##ISA##_big(r0, j, K, M, rs, cs, B, ldb, C, ldc, e);\
        for (; j <= m - LANES; j += LANES)                                          \
            dnn_nn_block_##S##_##ISA##_rows(r0, j, K, M, rs, cs, B, ldb, C, ldc, e);\
    } else {                                                                        \
        for (; j <= m - NV * LANES; j += NV * LANES)                                \
            dnn_nn_block_##S##_##ISA##_cols(r0, j, K, M, rs, cs, B, ldb, C, ldc, e);\
        for (; j <= m - LANES; j += LANES)                                          \
            dnn_nn_block_##S##_##ISA##_one(r0, j, K, M, rs, cs, B, ldb, C, ldc, e);\
    }                                                                               \
    if (j < m && m >= LANES && !e.scale && !e.chunked) {                           \
        /* The last columns as one vector ending at m, overlapping columns */       \
        /* already done: they are computed again to the same bits (the same */      \
        /* products in the same order), where a scalar loop over the k's   */       \
        /* would be a chain of dependent adds per column. */                        \
        if (NR_ == NR)                                                              \
            dnn_nn_block_##S##_##ISA##_rows(r0, m - LANES, K, M, rs, cs, B, ldb,    \
                                            C, ldc, e);                             \
        else                                                                        \
            dnn_nn_block_##S##_##ISA##_one(r0, m - LANES, K, M, rs, cs, B, ldb,     \
                                           C, ldc, e);                              \
        j = m;                                                                      \
    } else if (j < m && m >= LANES) {                                              \
        dnn_nn_tile_tail_##S##_##ISA(NR_, r0, j, m, K, M, rs, cs, B, ldb, C, ldc, e); \
        j = m;                                                                      \
    }                                                                               \
    dnn_nn_tail_##S##_##ISA(NR_, r0, j, m, K, M, rs, cs, B, ldb, C, ldc, e);        \
}                                                                                   \
                                                                                    \
/* Every block of rows of C over columns p0 <= j < p1 and the chunk      */         \
/* k0 <= k < k1 of the sum (``e`` says what the blocks do with it).     */         \
DNN_INLINE ATTR void dnn_nn_chunk_##S##_##ISA(int R, int k0, int k1, int p0, int p1, \
        const T* M, int rs, int cs, const T* B, int ldb, T* C, int ldc,             \
        dnn_epi_##S e) {                                                            \
    int r;                                                                          \
    M += (ptrdiff_t) k0 * cs;                                                       \
    B += (ptrdiff_t) k0 * ldb;                                                      \
    for (r = 0; r + NR <= R; r += NR)                                               \
        dnn_nn_rows_##S##_##ISA(NR, r, k1 - k0, p0, p1, M, rs, cs, B, ldb, C, ldc, e); \
    for (; r < R; r++)                                                              \
        dnn_nn_rows_##S##_##ISA(1, r, k1 - k0, p0, p1, M, rs, cs, B, ldb, C, ldc, e); \
}                                                                                   \
                                                                                    \
/* B's chunk of rows k0 <= k < k1 under columns g0 <= j < g0 + cols,  */           \
/* panel by panel (NV * LANES columns, the last padded with zeros): each */         \
/* panel's rows one after the other, as the register blocks read them.  */          \
DNN_INLINE ATTR void dnn_nn_pack_##S##_##ISA(int k0, int k1, int g0, int cols,      \
        const T* B, int ldb, T* buf) {                                              \
    const int w = NV * LANES, kc = k1 - k0;                                         \
    int k, p, n;                                                                    \
    for (k = k0; k < k1; k++) {                                                     \
        const T* src = B + (ptrdiff_t) k * ldb + g0;                                \
        T* dst = buf + (ptrdiff_t) (k - k0) * w;                                    \
        for (p = 0; p <= cols - w; p += w, dst += (ptrdiff_t) kc * w)               \
            memcpy(dst, src + p, sizeof(T) * NV * LANES);  /* a constant: inlined */ \
        if (p < cols) {                                                             \
            n = cols - p;                                                           \
            memcpy(dst, src + p, (size_t) n * sizeof(T));                           \
            memset(dst + n, 0, (size_t) (w - n) * sizeof(T));                       \
        }                                                                           \
    }                                                                               \
}                                                                                   \
                                                                                    \
/* One packed panel (kc rows of NV * LANES columns, ``dnn_nn_pack``) for */         \
/* every block of rows of C; ``cols`` (< a panel) columns of C where the */         \
/* panel is the padded last one: its blocks go through a tile, whose     */         \
/* padding columns are not stored. */                                               \
DNN_INLINE ATTR void dnn_nn_panel_##S##_##ISA(int R, int kc, int cols,              \
        const T* M, int rs, int cs, const T* P, T* C, int ldc, dnn_epi_##S e) {     \
    const int w = NV * LANES;                                                       \
    T tile[NR * NV * LANES];                                                        \
    dnn_epi_##S te;                                                                 \
    int r, i, n;                                                                    \
    if (cols == w) {                                                                \
        for (r = 0; r + NR <= R; r += NR)                                           \
            dnn_nn_block_##S##_##ISA##_big(r, 0, kc, M, rs, cs, P, w, C, ldc, e);  \
        for (; r < R; r++)                                                          \
            dnn_nn_block_##S##_##ISA##_cols(r, 0, kc, M, rs, cs, P, w, C, ldc, e); \
        return;                                                                     \
    }                                                                               \
    for (r = 0; r < R; r += n) {                                                    \
        n = R - r >= NR ? NR : 1;                                                   \
        te = e;                                                                     \
        if (e.bias != NULL) te.bias = e.bias + r;                                   \
        memset(tile, 0, sizeof tile);                                               \
        if (e.cont)                                                                 \
            for (i = 0; i < n; i++)                                                 \
                memcpy(tile + i * w, C + (ptrdiff_t) (r + i) * ldc,                 \
                       (size_t) cols * sizeof(T));                                  \
        if (n == NR)                                                                \
            dnn_nn_block_##S##_##ISA##_big(0, 0, kc, M + (ptrdiff_t) r * rs, rs, cs, \
                                           P, w, tile, w, te);                      \
        else                                                                        \
            dnn_nn_block_##S##_##ISA##_cols(0, 0, kc, M + (ptrdiff_t) r * rs, rs, cs, \
                                            P, w, tile, w, te);                     \
        for (i = 0; i < n; i++)                                                     \
            memcpy(C + (ptrdiff_t) (r + i) * ldc, tile + i * w,                     \
                   (size_t) cols * sizeof(T));                                      \
    }                                                                               \
}                                                                                   \
                                                                                    \
/* ``nn`` with B packed (``dnn_nn_packs``): rows of B far apart, read    */         \
/* NV * LANES columns at a time down a long K, cost a cache line or two  */         \
/* and a TLB entry per row, and every block of rows of C reads them     */          \
/* again (S1's first layer: 2.3-2.7x slower than packed, benchmarks/NOTES.md). */   \
/* Here a chunk of B's rows under a group of columns (whole rows where m */         \
/* allows: one contiguous read) is copied once into panels that then    */          \
/* stream from L1 to every block. Each block carries its sums through C */          \
/* from chunk to chunk, k in order: the same sums as unpacked, so the   */          \
/* same bits; the last chunk adds the bias. While a chunk's panels run, */         \
/* the next chunk's rows are fetched, a share before each panel. 0 if   */          \
/* there was no memory for the buffer (nothing computed: the caller    */          \
/* goes unpacked). ``scratch``: the buffer, or NULL (then malloc'd here). */         \
static ATTR int dnn_nn_packed_##S##_##ISA(int R, int K, int m, const T* M, int rs,  \
        int cs, const T* B, int ldb, T* C, int ldc, const T* bias, int relu,        \
        void* scratch) {                                                            \
    const int w = NV * LANES;                                                       \
    int gw = (m + w - 1) / w * w, kc, g0, g1, k0, k1, p, nk, nk1, ng0, ng1, share, r;  \
    T* buf;                                                                         \
    dnn_epi_##S e = {bias, relu, 0, 1, 0, 1, 0, 0};                                 \
    if (gw > DNN_NN_PACK_COLS) gw = DNN_NN_PACK_COLS / w * w;                       \
    kc = (int) (DNN_NN_PACK_BYTES / sizeof(T) / (size_t) gw);                       \
    if (kc < 1) kc = 1;                                                             \
    buf = scratch != NULL ? (T*) scratch : (T*) malloc((size_t) kc * gw * sizeof(T)); \
    if (buf == NULL) return 0;                                                      \
    for (g0 = 0; g0 < m; g0 = g1) {                                                 \
        g1 = m - g0 > gw ? g0 + gw : m;                                             \
        for (k0 = 0; k0 < K; k0 = k1) {                                             \
            k1 = K - k0 > kc ? k0 + kc : K;                                         \
            e.cont = k0 > 0;                                                        \
            e.partial = k1 < K;                                                     \
            dnn_nn_pack_##S##_##ISA(k0, k1, g0, g1 - g0, B, ldb, buf);              \
            share = dnn_nn_next_chunk(K, m, kc, gw, w, k1, g0, g1, &nk, &nk1, &ng0, &ng1); \
            for (p = 0; p < g1 - g0; p += w) {                                      \
                for (r = 0; r < share && nk < nk1; r++, nk++)                       \
                    dnn_prefetch(B + (ptrdiff_t) nk * ldb + ng0,                    \
                                 (size_t) (ng1 - ng0) * sizeof(T));                 \
                dnn_nn_panel_##S##_##ISA(R, k1 - k0, g1 - g0 - p < w ? g1 - g0 - p : w, \
                                         M + (ptrdiff_t) k0 * cs, rs, cs,            \
                                         buf + (ptrdiff_t) p * (k1 - k0),            \
                                         C + g0 + p, ldc, e);                       \
            }                                                                       \
        }                                                                           \
    }                                                                               \
    if (scratch == NULL) free(buf);                                                 \
    return 1;                                                                       \
}                                                                                   \
                                                                                    \
/* ``nn`` on a K so long that even the narrowest panel's K rows outgrow */          \
/* L2 (a wide first layer: K the features): groups of at most            */         \
/* DNN_NN_PACK_COLS columns, each summed over chunks of K whose rows      */         \
/* under the group fill DNN_NN_PANEL_BYTES, panel by panel; every block   */         \
/* carries its sums through C from chunk to chunk, k in order (a stored   */         \
/* sum reloads exactly: the bits of one pass), the last chunk adds the    */         \
/* bias. While a chunk's panels run, the next chunk's rows are fetched    */         \
/* ahead, a share before each panel: B's rows lie far apart and each      */         \
/* panel reads a few lines of each, which the hardware prefetcher does    */         \
/* not fetch ahead (benchmarks/NOTES.md, "S1's wide layer streamed").    */          \
static ATTR void dnn_nn_streamed_##S##_##ISA(int R, int K, int m, const T* M,        \
        int rs, int cs, const T* B, int ldb, T* C, int ldc, dnn_epi_##S e) {        \
    const int w = NV * LANES;                                                       \
    const int gw = m < DNN_NN_PACK_COLS ? m : DNN_NN_PACK_COLS;                     \
    const int kc = (int) (DNN_NN_PANEL_BYTES / ((size_t) gw * sizeof(T)));          \
    int g0, g1, k0, k1, p0, p1, nk, nk1, ng0, ng1, share, r;                        \
    e.chunked = 1;                                                                  \
    for (g0 = 0; g0 < m; g0 = g1) {                                                 \
        g1 = m - g0 > gw ? g0 + gw : m;                                             \
        for (k0 = 0; k0 < K; k0 = k1) {                                             \
            k1 = K - k0 > kc ? k0 + kc : K;                                         \
            share = dnn_nn_next_chunk(K, m, kc, gw, w, k1, g0, g1, &nk, &nk1, &ng0, &ng1); \
            e.cont = k0 > 0;                                                        \
            e.partial = k1 < K;                                                     \
            for (p0 = g0; p0 < g1; p0 = p1) {                                       \
                p1 = g1 - p0 > w ? p0 + w : g1;                                     \
                for (r = 0; r < share && nk < nk1; r++, nk++)                       \
                    dnn_prefetch(B + (ptrdiff_t) nk * ldb + ng0,                    \
                                 (size_t) (ng1 - ng0) * sizeof(T));                 \
                dnn_nn_chunk_##S##_##ISA(R, k0, k1, p0, p1, M, rs, cs, B, ldb, C, ldc, e); \
            }                                                                       \
        }                                                                           \
    }                                                                               \
}                                                                                   \
                                                                                    \
/* ``nn`` (one panel: K rows of B in L2) of C's rows that no one reads     */        \
/* soon (DNN_NN_OUT), C contiguous (ldc = m): each block of rows is       */        \
/* computed into a tile, by the blocks ``dnn_nn_rows`` runs anyway, then  */        \
/* stored with non-temporal stores (dA0 of S1: 12,288 x 209 from K = 20,  */        \
/* bound by its stores; benchmarks/NOTES.md, "S1's wide layer streamed"). */        \
static ATTR void dnn_nn_out_##S##_##ISA(int R, int K, int m, const T* M, int rs,     \
        int cs, const T* B, int ldb, T* C, dnn_epi_##S e) {                         \
    T tile[DNN_NN_TILE_BYTES / sizeof(T)];                                          \
    dnn_epi_##S te = e;                                                             \
    int r, n;                                                                       \
    for (r = 0; r < R; r += n) {                                                    \
        n = R - r >= NR ? NR : 1;                                                   \
        if (e.bias != NULL) te.bias = e.bias + r;                                   \
        dnn_nn_rows_##S##_##ISA(n, 0, K, 0, m, M + (ptrdiff_t) r * rs, rs, cs, B, ldb, \
                                tile, m, te);                                       \
        dnn_stream_copy(C + (ptrdiff_t) r * m, tile, (size_t) n * m * sizeof(T));   \
    }                                                                               \
    dnn_stream_fence();                                                             \
}                                                                                   \
                                                                                    \
/* Panels of columns, whose K rows of B (K x panel) stay in L2 while    */           \
/* every block of rows of C passes over them; a longer K is streamed    */           \
/* (above), where the build does not pack B. ``flags``: DNN_NN_RELU,    */           \
/* DNN_NN_OUT. ``scratch``: NULL or DNN_NN_SCRATCH_BYTES for the packed path. */    \
static ATTR void dnn_nn_##S##_##ISA(int R, int K, int m, const T* M, int rs, int cs, \
        const T* B, int ldb, T* C, int ldc, const T* bias, int flags, void* scratch) { \
    int p0, p1, k, relu = flags & DNN_NN_RELU;                                      \
    /* B's rows a page apart or more, and B past what L2 keeps between calls     */    \
    /* (S1's dW for a Fortran-ordered X: 209 rows of 12,288 features): the       */    \
    /* hardware prefetcher, which stays within a page, does not fetch them ahead */    \
    const int far = (size_t) ldb * sizeof(T) >= 4096                                \
                    && (double) K * ldb * sizeof(T) >= (double) DNN_NN_FAR_BYTES;    \
    dnn_epi_##S e = {bias, relu, 0, 1, 0, 0, 0, 0};                                 \
    int panel = (int) (DNN_NN_PANEL_BYTES / ((size_t) K * sizeof(T)));              \
    if (PACK && dnn_nn_packs(K, ldb, sizeof(T), PACK)                               \
            && dnn_nn_packed_##S##_##ISA(R, K, m, M, rs, cs, B, ldb, C, ldc, bias, relu, \
                                         scratch))                                  \
        return;                                                                     \
    panel -= panel % (NV * LANES);                                                  \
    if (panel < NV * LANES && m > 0) {                                              \
        dnn_nn_streamed_##S##_##ISA(R, K, m, M, rs, cs, B, ldb, C, ldc, e);         \
        return;                                                                     \
    }                                                                               \
    if ((flags & DNN_NN_OUT) && DNN_CAN_STREAM && ldc == m && panel >= m && m > 0   \
            && (size_t) NR * m * sizeof(T) <= DNN_NN_TILE_BYTES                     \
            && (double) R * m * sizeof(T) >= (double) DNN_NN_OUT_MIN_BYTES) {       \
        dnn_nn_out_##S##_##ISA(R, K, m, M, rs, cs, B, ldb, C, e);                   \
        return;                                                                     \
    }                                                                               \
    for (p0 = 0; p0 < m; p0 = p1) {                                                 \
        p1 = m - p0 > panel ? p0 + panel : m;                                       \
        if (p1 < m && far)  /* the next panel's rows, fetched while this one runs */ \
            for (k = 0; k < K; k++)                                                 \
                dnn_prefetch(B + (ptrdiff_t) k * ldb + p1,                          \
                             (size_t) ((m - p1 > panel ? panel : m - p1)) * sizeof(T)); \
        dnn_nn_chunk_##S##_##ISA(R, 0, K, p0, p1, M, rs, cs, B, ldb, C, ldc, e);    \
    }                                                                               \
}                                                                                   \
                                                                                    \
/* C := alpha M B (+ C if add), M (R x K) through strides, B (K x N): the */        \
/* sum over K in chunks, each added to C, so that the chunk of B under   */         \
/* each panel of columns stays in L2 however long K is (a gemm's K     */           \
/* blocking, rounded as one: C += alpha * partial sum, chunk by chunk). */          \
static ATTR void dnn_nn_acc_##S##_##ISA(int R, int K, int N, T alpha, const T* M,   \
        int rs, int cs, const T* B, int ldb, int add, T* C, int ldc) {              \
    int r, p0, p1, k0, k1;                                                          \
    int panel = 4 * NV * LANES;                                                     \
    int chunk = (int) (DNN_NN_PANEL_BYTES / ((size_t) panel * sizeof(T)));          \
    dnn_epi_##S e = {NULL, 0, 1, alpha, add, 0, 0, 0};                              \
    if (K <= 0 && !add) {  /* an empty sum: C := 0, as a gemm gives */              \
        for (r = 0; r < R; r++)                                                     \
            memset(C + (ptrdiff_t) r * ldc, 0, (size_t) N * sizeof(T));             \
        return;                                                                     \
    }                                                                               \
    for (p0 = 0; p0 < N; p0 = p1) {                                                \
        p1 = N - p0 > panel ? p0 + panel : N;                                       \
        for (k0 = 0; k0 < K; k0 = k1) {                                             \
            k1 = K - k0 > chunk ? k0 + chunk : K;                                   \
            e.add = add || k0 > 0;                                                  \
            dnn_nn_chunk_##S##_##ISA(R, k0, k1, p0, p1, M, rs, cs, B, ldb, C, ldc, e); \
        }                                                                           \
    }                                                                               \
}                                                                                   \
                                                                                    \
static ATTR void dnn_nt_##S##_##ISA(int R, int K, int m, T alpha, const T* D,       \
        int ldd, const T* A, int lda, int add, T* W, int ldw) {                     \
    int r = 0, k;                                                                   \
    for (; r + NTR <= R; r += NTR) {                                                \
        for (k = 0; k + NTK <= K; k += NTK)                                         \
            dnn_nt_block_##S##_##ISA##_big(r, k, m, alpha, D, ldd, A, lda, add,     \
                                           W, ldw);                                 \
        for (; k < K; k++)                                                          \
            dnn_nt_block_##S##_##ISA##_rows(r, k, m, alpha, D, ldd, A, lda, add,    \
                                            W, ldw);                                \
    }                                                                               \
    for (; r < R; r++) {                                                            \
        for (k = 0; k + NTK <= K; k += NTK)                                         \
            dnn_nt_block_##S##_##ISA##_cols(r, k, m, alpha, D, ldd, A, lda, add,    \
                                            W, ldw);                                \
        for (; k < K; k++)                                                          \
            dnn_nt_block_##S##_##ISA##_one(r, k, m, alpha, D, ldd, A, lda, add,     \
                                           W, ldw);                                 \
    }                                                                               \
}                                                                                   \
                                                                                    \
/* D := A where H > 0, else 0 (relu's backward, H relu's input or output; */        \
/* A may be D: in place); db[r] := scale * sum_j D[r, j] in double, unless */       \
/* db is NULL. */                                                                   \
static ATTR void dnn_relu_backward_##S##_##ISA(int R, int m, const T* A, int lda,   \
                                               const T* H, int ldh, T* D, int ldd,  \
                                               T* db, double scale) {               \
    int r, j, l;                                                                    \
    V d, h, zero = {0};                                                             \
    for (r = 0; r < R; r++) {                                                       \
        const T* arow = A + (ptrdiff_t) r * lda;                                    \
        const T* hrow = H + (ptrdiff_t) r * ldh;                                    \
        T* row = D + (ptrdiff_t) r * ldd;                                           \
        VD a0 = {0}, a1 = {0};                                                      \
        double s = 0.0;                                                             \
        for (j = 0; j <= m - LANES; j += LANES) {                                   \
            memcpy(&d, arow + j, sizeof(V));                                        \
            memcpy(&h, hrow + j, sizeof(V));                                        \
            d = DNN_VRELU_GRAD(V, IV, d, h, zero);                                  \
            memcpy(row + j, &d, sizeof(V));                                         \
            if (db != NULL) ACC(VD, HALF, a0, a1, d);  /* a test GCC hoists */      \
        }                                                                           \
        a0 += a1;                                                                   \
        for (l = 0; l < (int) (sizeof(VD) / sizeof(double)); l++) s += a0[l];       \
        for (; j < m; j++) {                                                        \
            row[j] = dnn_relu_grad_##S(arow[j], hrow[j]);                           \
            s += row[j];                                                            \
        }                                                                           \
        if (db != NULL) db[r] = (T) (scale * s);                                    \
    }                                                                               \
}                                                                                   \
                                                                                    \
static ATTR double dnn_output_grad_##S##_##ISA(int m, const T* Z, const T* Y,       \
                                               T* D) {                              \
    int j, l, wide;                                                                 \
    V z, y, t, d;                                                                   \
    VD a0 = {0}, a1 = {0};                                                          \
    double s = 0.0;                                                                 \
    const T one = 1, limit = EXP_LIMIT;                                             \
    V zero = {0};                                                                   \
    y = zero;  /* Y = NULL: the sigmoid alone */                                    \
    for (j = 0; j <= m - LANES; j += LANES) {                                       \
        memcpy(&z, Z + j, sizeof(V));                                               \
        if (Y != NULL) memcpy(&y, Y + j, sizeof(V));                                \
        t = -z;                                                                     \
        wide = 0;                                                                   \
        for (l = 0; l < LANES; l++)                                                 \
            wide |= !(t[l] >= -limit && t[l] <= limit);                             \
        if (!wide) {                                                                \
            d = one / (one + VEXP(t)) - y;                                          \
        } else {  /* saturated (or nan): libm's exp, as the reference */            \
            for (l = 0; l < LANES; l++)                                             \
                d[l] = one / (one + dnn_exp_##S(t[l])) - y[l];                      \
        }                                                                           \
        memcpy(D + j, &d, sizeof(V));                                               \
        ACC(VD, HALF, a0, a1, d);                                                   \
    }                                                                               \
    a0 += a1;                                                                       \
    for (l = 0; l < (int) (sizeof(VD) / sizeof(double)); l++) s += a0[l];           \
    for (; j < m; j++) {                                                            \
        D[j] = one / (one + dnn_exp_##S(-Z[j])) - (Y != NULL ? Y[j] : 0);           \
        s += D[j];                                                                  \
    }                                                                               \
    return s;                                                                       \
}

/* Register blocks (accumulators + operands within the 16 vector registers
   of SSE2 and AVX2, the 32 of AVX-512): NR x NV for ``nn``, NTR x NTK for
   ``nt``. */
DNN_VEXP_D(dnn_vexp_d_base, , dnn_v2d, dnn_v2di)
DNN_VEXP_F(dnn_vexp_f_base, , dnn_v4f, dnn_v4i)
DNN_SIMD_KERNELS(double, d, base, , dnn_v2d, dnn_v2di, 2, dnn_v2d, dnn_v2d,
                 DNN_ACC_SAME, dnn_vexp_d_base, 708.0, 4, 2, 3, DNN_NTK_base, 0)
DNN_SIMD_KERNELS(float, f, base, , dnn_v4f, dnn_v4i, 4, dnn_v2d, dnn_v2f,
                 DNN_ACC_SPLIT, dnn_vexp_f_base, 87.0f, 4, 2, 3, DNN_NTK_base, 0)
#if DNN_HAS_X86_BUILDS
DNN_VEXP_D(dnn_vexp_d_avx2, DNN_TARGET_AVX2, dnn_v4d, dnn_v4di)
DNN_VEXP_F(dnn_vexp_f_avx2, DNN_TARGET_AVX2, dnn_v8f, dnn_v8i)
DNN_SIMD_KERNELS(double, d, avx2, DNN_TARGET_AVX2, dnn_v4d, dnn_v4di, 4, dnn_v4d,
                 dnn_v4d, DNN_ACC_SAME, dnn_vexp_d_avx2, 708.0, 6, 2, 3, DNN_NTK_avx2, 1)
DNN_SIMD_KERNELS(float, f, avx2, DNN_TARGET_AVX2, dnn_v8f, dnn_v8i, 8, dnn_v4d,
                 dnn_v4f, DNN_ACC_SPLIT, dnn_vexp_f_avx2, 87.0f, 6, 2, 3, DNN_NTK_avx2, 1)
DNN_VEXP_D(dnn_vexp_d_avx512, DNN_TARGET_AVX512, dnn_v8d, dnn_v8di)
DNN_VEXP_F(dnn_vexp_f_avx512, DNN_TARGET_AVX512, dnn_v16f, dnn_v16i)
DNN_SIMD_KERNELS(double, d, avx512, DNN_TARGET_AVX512, dnn_v8d, dnn_v8di, 8, dnn_v8d,
                 dnn_v8d, DNN_ACC_SAME, dnn_vexp_d_avx512, 708.0, 6, 4, 4, DNN_NTK_avx512, 2)
DNN_SIMD_KERNELS(float, f, avx512, DNN_TARGET_AVX512, dnn_v16f, dnn_v16i, 16, dnn_v8d,
                 dnn_v8f, DNN_ACC_SPLIT, dnn_vexp_f_avx512, 87.0f, 6, 4, 4, DNN_NTK_avx512, 2)
#endif

#else  /* !DNN_VECTOR_EXT: the baseline in plain C */

/* The same arithmetic as the vector kernels: nn's sums in T, k in order,
   then the epilogue; nt's sums in double, rounded to T, then scaled; the
   elementwise passes element by element, their sums in double. Blocks of
   DNN_SCALAR_COLS columns of C are summed in a local array, so C may hold
   what nn_acc adds to, and a compiler can vectorize the inner loops. */
#define DNN_SCALAR_COLS 64

#define DNN_SCALAR_KERNELS(T, S)                                                    \
static void dnn_nn_acc_rows_##S(int R, int K, int N, const T* M, int rs, int cs,    \
        const T* B, int ldb, T* C, int ldc, const T* bias, int relu, int scale,     \
        T alpha, int add) {                                                         \
    T acc[DNN_SCALAR_COLS];                                                         \
    int r, j0, n, j, k;                                                             \
    for (r = 0; r < R; r++) {                                                       \
        T* crow = C + (ptrdiff_t) r * ldc;                                          \
        for (j0 = 0; j0 < N; j0 += DNN_SCALAR_COLS) {                               \
            n = N - j0 < DNN_SCALAR_COLS ? N - j0 : DNN_SCALAR_COLS;                \
            for (j = 0; j < n; j++) acc[j] = 0;                                     \
            for (k = 0; k < K; k++) {                                               \
                const T w = M[(ptrdiff_t) r * rs + (ptrdiff_t) k * cs];             \
                const T* brow = B + (ptrdiff_t) k * ldb + j0;                       \
                for (j = 0; j < n; j++) acc[j] += w * brow[j];                      \
            }                                                                       \
            for (j = 0; j < n; j++) {                                               \
                T c = acc[j];                                                       \
                if (scale) {                                                        \
                    c = c * alpha;                                                  \
                    if (add) c = crow[j0 + j] + c;                                  \
                } else if (bias != NULL) {                                          \
                    c = c + bias[r];                                                \
                    if (relu) c = dnn_relu_##S(c);                                  \
                }                                                                   \
                crow[j0 + j] = c;                                                   \
            }                                                                       \
        }                                                                           \
    }                                                                               \
}                                                                                   \
                                                                                    \
static void dnn_nn_##S##_base(int R, int K, int m, const T* M, int rs, int cs,      \
        const T* B, int ldb, T* C, int ldc, const T* bias, int flags, void* scratch) { \
    (void) scratch;  /* the scalar build does not pack */                           \
    dnn_nn_acc_rows_##S(R, K, m, M, rs, cs, B, ldb, C, ldc, bias, flags & DNN_NN_RELU, \
                        0, 1, 0);                                                   \
}                                                                                   \
                                                                                    \
static void dnn_nn_acc_##S##_base(int R, int K, int N, T alpha, const T* M, int rs, \
        int cs, const T* B, int ldb, int add, T* C, int ldc) {                      \
    dnn_nn_acc_rows_##S(R, K, N, M, rs, cs, B, ldb, C, ldc, NULL, 0, 1, alpha, add);\
}                                                                                   \
                                                                                    \
static void dnn_nt_##S##_base(int R, int K, int m, T alpha, const T* D, int ldd,    \
        const T* A, int lda, int add, T* W, int ldw) {                              \
    int r, k, j;                                                                    \
    for (r = 0; r < R; r++) {                                                       \
        const T* drow = D + (ptrdiff_t) r * ldd;                                    \
        for (k = 0; k < K; k++) {                                                   \
            const T* arow = A + (ptrdiff_t) k * lda;                                \
            T* w = W + (ptrdiff_t) r * ldw + k;                                     \
            double sum = 0.0;                                                       \
            for (j = 0; j < m; j++) sum += (double) drow[j] * arow[j];              \
            *w = add ? *w + alpha * (T) sum : alpha * (T) sum;                      \
        }                                                                           \
    }                                                                               \
}                                                                                   \
                                                                                    \
static void dnn_bias_act_##S##_base(int R, int m, T* C, int ldc, const T* bias,     \
                                    int relu) {                                     \
    int r, j;                                                                       \
    for (r = 0; r < R; r++) {                                                       \
        T* c = C + (ptrdiff_t) r * ldc;                                             \
        for (j = 0; j < m; j++) c[j] = c[j] + bias[r];                              \
        if (relu)                                                                   \
            for (j = 0; j < m; j++) c[j] = dnn_relu_##S(c[j]);                      \
    }                                                                               \
}                                                                                   \
                                                                                    \
static void dnn_relu_backward_##S##_base(int R, int m, const T* A, int lda,         \
        const T* H, int ldh, T* D, int ldd, T* db, double scale) {                  \
    int r, j;                                                                       \
    for (r = 0; r < R; r++) {                                                       \
        const T* arow = A + (ptrdiff_t) r * lda;                                    \
        const T* hrow = H + (ptrdiff_t) r * ldh;                                    \
        T* row = D + (ptrdiff_t) r * ldd;                                           \
        double s = 0.0;                                                             \
        for (j = 0; j < m; j++) {                                                   \
            row[j] = dnn_relu_grad_##S(arow[j], hrow[j]);                           \
            s += row[j];                                                            \
        }                                                                           \
        if (db != NULL) db[r] = (T) (scale * s);                                    \
    }                                                                               \
}                                                                                   \
                                                                                    \
static int dnn_nonfinite_##S##_base(ptrdiff_t n, const T* x) {                     \
    T a0 = 0, a1 = 0;  /* x * 0 is nan exactly where x is nan or +-inf */           \
    ptrdiff_t j = 0;                                                                \
    for (; j + 2 <= n; j += 2) {                                                    \
        a0 += x[j] * (T) 0;                                                         \
        a1 += x[j + 1] * (T) 0;                                                     \
    }                                                                               \
    if (j < n) a0 += x[j] * (T) 0;                                                  \
    return a0 + a1 != 0;                                                            \
}                                                                                   \
                                                                                    \
static int dnn_relu_checked_##S##_base(ptrdiff_t n, const T* Z, T* A) {             \
    T acc = 0;  /* z * 0 is nan exactly where z is nan or +-inf */                  \
    ptrdiff_t j;                                                                    \
    for (j = 0; j < n; j++) {                                                       \
        acc += Z[j] * (T) 0;                                                        \
        A[j] = dnn_relu_##S(Z[j]);                                                  \
    }                                                                               \
    return acc != 0;                                                                \
}                                                                                   \
                                                                                    \
static double dnn_output_grad_##S##_base(int m, const T* Z, const T* Y, T* D) {     \
    const T one = 1;                                                                \
    double s = 0.0;                                                                 \
    int j;                                                                          \
    for (j = 0; j < m; j++) {                                                       \
        D[j] = one / (one + dnn_exp_##S(-Z[j])) - (Y != NULL ? Y[j] : 0);           \
        s += D[j];                                                                  \
    }                                                                               \
    return s;                                                                       \
}

DNN_SCALAR_KERNELS(double, d)
DNN_SCALAR_KERNELS(float, f)

#endif  /* DNN_VECTOR_EXT */


/* One table of kernels per instruction set, and the one in use. */
typedef struct {
    void (*nn_d)(int, int, int, const double*, int, int, const double*, int,
                 double*, int, const double*, int, void*);
    void (*nn_f)(int, int, int, const float*, int, int, const float*, int,
                 float*, int, const float*, int, void*);
    void (*nt_d)(int, int, int, double, const double*, int, const double*, int, int,
                 double*, int);
    void (*nn_acc_d)(int, int, int, double, const double*, int, int, const double*, int,
                     int, double*, int);
    void (*nn_acc_f)(int, int, int, float, const float*, int, int, const float*, int,
                     int, float*, int);
    void (*nt_f)(int, int, int, float, const float*, int, const float*, int, int,
                 float*, int);
    void (*bias_act_d)(int, int, double*, int, const double*, int);
    void (*bias_act_f)(int, int, float*, int, const float*, int);
    void (*relu_backward_d)(int, int, const double*, int, const double*, int, double*, int,
                            double*, double);
    void (*relu_backward_f)(int, int, const float*, int, const float*, int, float*, int,
                            float*, double);
    double (*output_grad_d)(int, const double*, const double*, double*);
    double (*output_grad_f)(int, const float*, const float*, float*);
    int (*nonfinite_d)(ptrdiff_t, const double*);
    int (*nonfinite_f)(ptrdiff_t, const float*);
    int (*relu_checked_d)(ptrdiff_t, const double*, double*);
    int (*relu_checked_f)(ptrdiff_t, const float*, float*);
    int nt_rows;  /* DNN_NTK of the build */
} dnn_simd_table;

#define DNN_SIMD_TABLE(ISA) {                                                       \
    dnn_nn_d_##ISA, dnn_nn_f_##ISA, dnn_nt_d_##ISA,                                 \
    dnn_nn_acc_d_##ISA, dnn_nn_acc_f_##ISA, dnn_nt_f_##ISA,                         \
    dnn_bias_act_d_##ISA, dnn_bias_act_f_##ISA,                                     \
    dnn_relu_backward_d_##ISA, dnn_relu_backward_f_##ISA,                           \
    dnn_output_grad_d_##ISA, dnn_output_grad_f_##ISA,                               \
    dnn_nonfinite_d_##ISA, dnn_nonfinite_f_##ISA,                                   \
    dnn_relu_checked_d_##ISA, dnn_relu_checked_f_##ISA, DNN_NTK_##ISA }

/* Indexed by level: 0 baseline, 1 AVX2 + FMA, 2 AVX-512 (F, DQ). */
static const dnn_simd_table dnn_simd_tables[] = {
    DNN_SIMD_TABLE(base),
#if DNN_HAS_X86_BUILDS
    DNN_SIMD_TABLE(avx2),
    DNN_SIMD_TABLE(avx512),
#endif
};

/* The highest level built: 2 (AVX-512) on x86-64, else 0. */
#define DNN_SIMD_TOP ((int) (sizeof dnn_simd_tables / sizeof dnn_simd_tables[0]) - 1)

static const dnn_simd_table* dnn_simd = &dnn_simd_tables[0];
static int dnn_simd_level = 0;

#if DNN_HAS_X86_BUILDS
/* CPUID's leaf ``leaf``, subleaf ``sub``: r = EAX, EBX, ECX, EDX. In asm, as XGETBV
   below, not through <cpuid.h>: its __cpuid macro breaks <intrin.h> when that
   comes after it (MinGW-w64, clang-cl). */
static void dnn_cpuid(unsigned int leaf, unsigned int sub, unsigned int r[4]) {
    __asm__ __volatile__("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3]) : "a"(leaf), "c"(sub));
}

/* XCR0: the register state the OS saves on a context switch. Only called where
   CPUID says OSXSAVE. */
static unsigned long long dnn_xcr0(void) {
    unsigned int lo, hi;
    __asm__ __volatile__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long) hi << 32) | lo;
}
#endif

/* The level of builds a CPU and OS run, from CPUID leaf 1's ECX (bit 12 FMA,
   27 OSXSAVE, 28 AVX), leaf 7's EBX (5 AVX2, 16 AVX512F, 17 AVX512DQ; 0 if the
   CPU has no leaf 7) and XCR0 (the register state the OS saves: bits 1-2 SSE
   and AVX, 5-7 AVX-512's opmask and upper halves; read only where OSXSAVE):
   1 needs AVX2 and FMA with the AVX state saved, 2 also AVX-512 F and DQ with
   their state saved, or ``lazy_avx512``: macOS saves that state from a
   thread's first use of it, so XCR0 shows it only afterwards, and there the
   CPU's word is taken, as LLVM's compiler-rt does. */
DNN_INLINE int dnn_simd_level_of(unsigned int ecx1, unsigned int ebx7, unsigned long long xcr0,
                                 int lazy_avx512) {
    if (!(ecx1 & (1u << 12)) || !(ecx1 & (1u << 27)) || !(ecx1 & (1u << 28))) return 0;
    if ((xcr0 & 0x6) != 0x6 || !(ebx7 & (1u << 5))) return 0;
    if (!(ebx7 & (1u << 16)) || !(ebx7 & (1u << 17))) return 1;
    return lazy_avx512 || (xcr0 & 0xe6) == 0xe6 ? 2 : 1;
}

/* The highest level this CPU and OS run (``dnn_simd_level_of``), read from
   CPUID and XCR0 here, not through __builtin_cpu_supports: that asks the
   compiler's run-time library, and some have no CPU model (zig cc's answers 0
   for every feature, so a wheel built with it ran the baseline build on every
   CPU). */
static int dnn_simd_cpu_level(void) {
#if DNN_HAS_X86_BUILDS
    unsigned int r[4], top, ecx1, ebx7 = 0;
    dnn_cpuid(0, 0, r);
    top = r[0];  /* the highest leaf */
    if (top < 1) return 0;
    dnn_cpuid(1, 0, r);
    ecx1 = r[2];
    if (!(ecx1 & (1u << 27))) return 0;  /* no OSXSAVE: XGETBV would fault */
    if (top >= 7) {
        dnn_cpuid(7, 0, r);
        ebx7 = r[1];
    }
#if defined(__APPLE__)
    return dnn_simd_level_of(ecx1, ebx7, dnn_xcr0(), 1);
#else
    return dnn_simd_level_of(ecx1, ebx7, dnn_xcr0(), 0);
#endif
#else
    return 0;
#endif
}

/* Use the kernels of ``level``, or of the highest level below it that the
   CPU runs; returns the level now in use. Called at import and by tests,
   never while a fit runs. */
static int dnn_simd_use(int level) {
    int top = dnn_simd_cpu_level();
    if (level > top) level = top;
    if (level < 0) level = 0;
    dnn_simd = &dnn_simd_tables[level];
    dnn_simd_level = level;
    return level;
}

#endif  /* DNN_SIMD_H */

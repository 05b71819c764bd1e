# cython: language_level=3
"""Products too small for BLAS: the training loop's own, in C, with AVX2 where the CPU has it.

Why: on a tiny layer (the output layer's (1, n) row, or every layer of a
[2, 4, 1] net) a gemm call costs more in OpenBLAS's set-up, packing and
zeroing of C than in arithmetic: profiled on a [2, 4, 1] net with 400
examples, BLAS took half of an iteration, 2/3 of that outside the product.
These loops read the operands where they lie, with no packing.

What: for row-major matrices given as (pointer, row stride),
  ``combine``  C[r, :] := sum_k M[r, k] B[k, :] (+ bias[r], then relu if asked),
               with M read through strides (rs, cs), so M can be W (rs = n_in,
               cs = 1) for the forward pass or W^T (rs = 1, cs = n_in) for
               dA = W^T dZ;
  ``dots``     out[r * K + k] := sum_j D[r, j] A[k, j], in double, for
               dW = dZ A^T.
Both walk the examples in tiles of ``DNN_TILE`` columns, so a tile of C
(or of D) stays in L1 while the K rows of B (or A) stream past.

Dispatch: each kernel is compiled twice on x86-64, for the baseline (SSE2)
and for AVX2 + FMA, and ``dnn_small_init`` picks one per process by what
the CPU and OS support (a wheel must run on any x86-64). The two round
differently (FMA rounds once where the baseline rounds twice), so results
agree to rounding, not to the bit, across machines; on one machine a fit is
reproducible. ``dnn_small_use_avx2(0)`` forces the baseline, for the tests.
Callers validate sizes; nothing here checks.
"""

cdef extern from *:
    """
    #include <stddef.h>
    #include <string.h>

    #if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    #define DNN_HAS_AVX2_BUILD 1
    #define DNN_TARGET_AVX2 __attribute__((target("avx2,fma")))
    #else
    #define DNN_HAS_AVX2_BUILD 0
    #endif

    #define DNN_TILE 512
    #define DNN_MIN(a, b) ((a) < (b) ? (a) : (b))

    /* The kernels' bodies, once per element type T (suffix S, vector type V
       of 32 bytes: 4 doubles or 8 floats). Written as always-inline functions
       that the two builds below wrap, so each wrapper compiles them for its
       own instruction set. */
    #define DNN_SMALL_BODIES(T, S, V, LANES)                                          \\
    typedef T V __attribute__((vector_size(32)));                                     \\
                                                                                      \\
    static inline __attribute__((always_inline)) void                                 \\
    dnn_combine_body_##S(int R, int K, int m, const T* M, int rs, int cs,             \\
                         const T* B, int ldb, T* C, int ldc,                          \\
                         const T* bias, int relu) {                                   \\
        int j0, r, k, j, n;                                                           \\
        for (j0 = 0; j0 < m; j0 += DNN_TILE) {                                        \\
            n = DNN_MIN(m - j0, DNN_TILE);                                            \\
            for (r = 0; r < R; r++) {                                                 \\
                T* __restrict c = C + (ptrdiff_t) r * ldc + j0;                       \\
                const T* __restrict b = B + j0;                                       \\
                T w = M[(ptrdiff_t) r * rs];                                          \\
                for (j = 0; j < n; j++) c[j] = w * b[j];                              \\
                for (k = 1; k < K; k++) {                                             \\
                    b = B + (ptrdiff_t) k * ldb + j0;                                 \\
                    w = M[(ptrdiff_t) r * rs + (ptrdiff_t) k * cs];                   \\
                    for (j = 0; j < n; j++) c[j] = c[j] + w * b[j];                   \\
                }                                                                     \\
                if (bias != NULL) {                                                   \\
                    T bi = bias[r];                                                   \\
                    for (j = 0; j < n; j++) c[j] = c[j] + bi;                         \\
                }                                                                     \\
                if (relu)                                                             \\
                    for (j = 0; j < n; j++) c[j] = c[j] > 0 ? c[j] : 0;              \\
            }                                                                         \\
        }                                                                             \\
    }                                                                                 \\
                                                                                      \\
    /* sum(x[i] * y[i]) over n elements in two vector accumulators (a serial   */    \\
    /* chain of adds would wait on the adder's latency at every element).       */    \\
    static inline __attribute__((always_inline)) double                               \\
    dnn_dot_body_##S(int n, const T* x, const T* y) {                                 \\
        V a0 = {0}, a1 = {0}, vx, vy;                                                 \\
        int j = 0, l;                                                                 \\
        double s = 0.0;                                                               \\
        for (; j + 2 * LANES <= n; j += 2 * LANES) {                                  \\
            memcpy(&vx, x + j, sizeof(V));                                            \\
            memcpy(&vy, y + j, sizeof(V));                                            \\
            a0 += vx * vy;                                                            \\
            memcpy(&vx, x + j + LANES, sizeof(V));                                    \\
            memcpy(&vy, y + j + LANES, sizeof(V));                                    \\
            a1 += vx * vy;                                                            \\
        }                                                                             \\
        a0 += a1;                                                                     \\
        for (l = 0; l < LANES; l++) s += a0[l];                                       \\
        for (; j < n; j++) s += (double) x[j] * y[j];                                 \\
        return s;                                                                     \\
    }                                                                                 \\
                                                                                      \\
    static inline __attribute__((always_inline)) void                                 \\
    dnn_dots_body_##S(int R, int K, int m, const T* D, int ldd,                       \\
                      const T* A, int lda, double* out) {                             \\
        int j0, r, k, n;                                                              \\
        for (r = 0; r < R * K; r++) out[r] = 0.0;                                     \\
        for (j0 = 0; j0 < m; j0 += DNN_TILE) {                                        \\
            n = DNN_MIN(m - j0, DNN_TILE);                                            \\
            for (r = 0; r < R; r++)                                                   \\
                for (k = 0; k < K; k++)                                               \\
                    out[r * K + k] += dnn_dot_body_##S(                               \\
                        n, D + (ptrdiff_t) r * ldd + j0, A + (ptrdiff_t) k * lda + j0); \\
        }                                                                             \\
    }

    DNN_SMALL_BODIES(double, d, dnn_v4d, 4)
    DNN_SMALL_BODIES(float, f, dnn_v8f, 8)

    /* One wrapper per kernel, type and instruction set, and the pointers the
       callers go through. */
    #define DNN_SMALL_WRAPPERS(T, S, ATTR, ISA)                                       \\
    static ATTR void dnn_combine_##S##_##ISA(int R, int K, int m, const T* M, int rs, \\
            int cs, const T* B, int ldb, T* C, int ldc, const T* bias, int relu) {    \\
        dnn_combine_body_##S(R, K, m, M, rs, cs, B, ldb, C, ldc, bias, relu);         \\
    }                                                                                 \\
    static ATTR void dnn_dots_##S##_##ISA(int R, int K, int m, const T* D, int ldd,   \\
            const T* A, int lda, double* out) {                                       \\
        dnn_dots_body_##S(R, K, m, D, ldd, A, lda, out);                              \\
    }

    DNN_SMALL_WRAPPERS(double, d, , base)
    DNN_SMALL_WRAPPERS(float, f, , base)
    #if DNN_HAS_AVX2_BUILD
    DNN_SMALL_WRAPPERS(double, d, DNN_TARGET_AVX2, avx2)
    DNN_SMALL_WRAPPERS(float, f, DNN_TARGET_AVX2, avx2)
    #endif

    typedef void (*dnn_combine_d_fn)(int, int, int, const double*, int, int, const double*,
                                     int, double*, int, const double*, int);
    typedef void (*dnn_combine_f_fn)(int, int, int, const float*, int, int, const float*,
                                     int, float*, int, const float*, int);
    typedef void (*dnn_dots_d_fn)(int, int, int, const double*, int, const double*, int,
                                  double*);
    typedef void (*dnn_dots_f_fn)(int, int, int, const float*, int, const float*, int,
                                  double*);

    static dnn_combine_d_fn dnn_combine_d = dnn_combine_d_base;
    static dnn_combine_f_fn dnn_combine_f = dnn_combine_f_base;
    static dnn_dots_d_fn dnn_dots_d = dnn_dots_d_base;
    static dnn_dots_f_fn dnn_dots_f = dnn_dots_f_base;
    static int dnn_small_avx2 = 0;

    /* Whether this CPU and OS run AVX2 + FMA code (the OS check: libgcc's
       and clang's cpu-feature tests look at XCR0 for the saved AVX state). */
    static int dnn_small_cpu_has_avx2(void) {
    #if DNN_HAS_AVX2_BUILD
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    #else
        return 0;
    #endif
    }

    /* Use the AVX2 kernels (if the CPU has them) or the baseline ones;
       returns whether AVX2 is now in use. Called once at import, and by tests;
       never while a fit runs. */
    static int dnn_small_use_avx2(int want) {
    #if DNN_HAS_AVX2_BUILD
        if (want && dnn_small_cpu_has_avx2()) {
            dnn_combine_d = dnn_combine_d_avx2;
            dnn_combine_f = dnn_combine_f_avx2;
            dnn_dots_d = dnn_dots_d_avx2;
            dnn_dots_f = dnn_dots_f_avx2;
            dnn_small_avx2 = 1;
            return 1;
        }
    #endif
        dnn_combine_d = dnn_combine_d_base;
        dnn_combine_f = dnn_combine_f_base;
        dnn_dots_d = dnn_dots_d_base;
        dnn_dots_f = dnn_dots_f_base;
        dnn_small_avx2 = 0;
        return 0;
    }
    """
    void dnn_combine_d(int R, int K, int m, const double* M, int rs, int cs,
                       const double* B, int ldb, double* C, int ldc,
                       const double* bias, int relu) nogil
    void dnn_combine_f(int R, int K, int m, const float* M, int rs, int cs,
                       const float* B, int ldb, float* C, int ldc,
                       const float* bias, int relu) nogil
    void dnn_dots_d(int R, int K, int m, const double* D, int ldd,
                    const double* A, int lda, double* out) nogil
    void dnn_dots_f(int R, int K, int m, const float* D, int ldd,
                    const float* A, int lda, double* out) nogil
    int dnn_small_use_avx2(int want) nogil
    int dnn_small_avx2


from cython cimport floating


cdef inline void combine(int R, int K, int m, const floating* M, int rs, int cs,
                         const floating* B, int ldb, floating* C, int ldc,
                         const floating* bias, bint relu) noexcept nogil:
    """C[r, :] := sum_k M[r*rs + k*cs] B[k, :] (+ bias[r]) (then relu); C (R, m)."""
    if floating is double:
        dnn_combine_d(R, K, m, M, rs, cs, B, ldb, C, ldc, bias, relu)
    else:
        dnn_combine_f(R, K, m, M, rs, cs, B, ldb, C, ldc, bias, relu)


cdef inline void dots(int R, int K, int m, const floating* D, int ldd,
                      const floating* A, int lda, double* out) noexcept nogil:
    """out[r*K + k] := sum_j D[r, j] A[k, j] in double; D (R, m), A (K, m)."""
    if floating is double:
        dnn_dots_d(R, K, m, D, ldd, A, lda, out)
    else:
        dnn_dots_f(R, K, m, D, ldd, A, lda, out)

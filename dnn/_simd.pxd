# cython: language_level=3
"""dnn's own vector kernels, in C, built for SSE2, AVX2 + FMA and AVX-512.

Why. Three kinds of work in an iteration are not worth a BLAS call, are
done better than by the SciPy wheels' OpenBLAS, or are not BLAS at all:
- products with a tiny matrix (the output layer's (1, n) row, every layer of
  a [2, 4, 1] net): a gemm call costs more in OpenBLAS's set-up, packing and
  zeroing of C than in arithmetic (profiled on [2, 4, 1] with 400 examples,
  BLAS took half of an iteration, 2/3 of that outside the product);
- larger products when BLAS runs one thread per call: OpenBLAS packs both
  operands of every call, a fifth of the time of S3's or S6's products, and
  SciPy's may use its AVX2 kernels only (it does when OPENBLAS_CORETYPE says
  so, or on a CPU it does not know); register blocks over the operands in
  place ran them 1.6 - 2.2x faster in AVX-512 (AMD EPYC, Zen 5; the rules
  and measurements are ``dnn._products``'s);
- the elementwise passes (bias and relu, relu's backward mask with the bias
  gradient, the output's sigmoid - Y): a wheel's baseline build has SSE2
  only, 2 doubles per instruction, and glibc's scalar exp took a fifth of
  that [2, 4, 1] iteration.

What. For row-major matrices given as (pointer, row stride):
  ``nn``             C[r, :] := sum_k M[r, k] B[k, :] (+ bias[r], then relu if
                     asked), M read through strides (rs, cs): W (rs = n_in,
                     cs = 1) for the forward pass, W^T (rs = 1, cs = n_in) for
                     dA = W^T dZ. Register blocks of NR rows x NV vectors of C,
                     k in order; the last columns as one vector ending at m,
                     overlapping columns done already (recomputed to the same
                     bits), so C must not overlap M or B;
  ``nn_acc``         C := alpha * M B (+ C): ``nn``'s blocks with the sum over K
                     in chunks, each scaled and added to C (a gemm's K blocking),
                     for dW_1 = dZ_1 (X^T) over a transposed copy of X;
  ``nt``             W := alpha * D A^T (+ W), for dW = dZ A^T: register blocks
                     of NTR x NTK sums over the examples, the last ones as one
                     vector ending at m with its lanes done already zeroed,
                     each sum's lanes added in halves, rounded to W's type and
                     then scaled, as a gemm with beta = 1 (or 0) rounds;
  ``bias_act``       C[r, :] := C[r, :] + bias[r] (then relu), after a gemm;
  ``relu_backward``  D := D * (H > 0) and db[r] := scale * sum_j D[r, j]
                     (summed in double);
  ``output_grad``    D := sigmoid(Z) - Y (Y NULL: sigmoid(Z)), returns sum(D)
                     (in double); sigmoid is the reference's 1 / (1 + exp(-z)),
                     exp a vector polynomial (Taylor series to degree 13 in
                     float64, 7 in float32, after the reduction x = k ln 2 + r:
                     within an ulp or two of libm's), libm's exp wherever |z|
                     is too large for it (708 in float64, 87 in float32).
``nt`` reads its operands in place, without cache blocking: the caller keeps
them to sizes that stay in L2 (``dnn._products``). Used by ``dnn._train``
(the training loop) and ``dnn._kernels`` (the step-by-step API), each with
its own copy of the dispatch table.

Dispatch. On x86-64 every kernel is compiled three times, for the baseline
(16-byte vectors), AVX2 + FMA (32) and AVX-512 F + DQ (64), and
``dnn_simd_use`` picks one table of them per process (at import: the best
the CPU and OS run; a wheel must run on any x86-64). They round differently
(FMA rounds once where the baseline rounds twice; sums run in other orders),
so results agree to rounding, not to the bit, across machines; on one
machine a fit is reproducible. ``dnn._train.simd_kernels`` switches builds,
for tests. Callers validate sizes; nothing here checks.
"""

cdef extern from *:
    """
    #include <math.h>
    #include <stddef.h>
    #include <string.h>

    #if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    #define DNN_HAS_X86_BUILDS 1
    #define DNN_TARGET_AVX2 __attribute__((target("avx2,fma")))
    #define DNN_TARGET_AVX512 __attribute__((target("avx512f,avx512dq,avx2,fma")))
    #else
    #define DNN_HAS_X86_BUILDS 0
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
    #define DNN_INLINE static inline __attribute__((always_inline))
    /* ``nn``'s column panels: K rows of B this long (in bytes) at most. */
    #define DNN_NN_PANEL_BYTES (256 * 1024)
    /* Unroll a loop of a constant, small trip count in full, so that the
       arrays it indexes become registers. */
    #if defined(__clang__)
    #define DNN_UNROLL _Pragma("clang loop unroll(full)")
    #elif defined(__GNUC__)
    #define DNN_UNROLL _Pragma("GCC unroll 16")
    #else
    #define DNN_UNROLL
    #endif

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
    #define DNN_VEXP_D(NAME, ATTR, V, IV)                                               \\
    DNN_INLINE ATTR V NAME(V x) {                                                       \\
        const double shift = 0x1.8p52;                                                  \\
        V t = x * 1.4426950408889634 + shift, k = t - shift, r, p, scale;               \\
        IV bits;                                                                        \\
        r = x - k * 6.93147180369123816490e-01;                                         \\
        r = r - k * 1.90821492927058770002e-10;                                         \\
        p = r * (1.0 / 6227020800.0) + 1.0 / 479001600.0;                               \\
        p = p * r + 1.0 / 39916800.0;                                                   \\
        p = p * r + 1.0 / 3628800.0;                                                    \\
        p = p * r + 1.0 / 362880.0;                                                     \\
        p = p * r + 1.0 / 40320.0;                                                      \\
        p = p * r + 1.0 / 5040.0;                                                       \\
        p = p * r + 1.0 / 720.0;                                                        \\
        p = p * r + 1.0 / 120.0;                                                        \\
        p = p * r + 1.0 / 24.0;                                                         \\
        p = p * r + 1.0 / 6.0;                                                          \\
        p = p * r + 0.5;                                                                \\
        p = p * r + 1.0;                                                                \\
        p = p * r + 1.0;                                                                \\
        memcpy(&bits, &t, sizeof bits);                                                 \\
        bits = (bits << 52) + 0x3ff0000000000000LL;                                     \\
        memcpy(&scale, &bits, sizeof scale);                                            \\
        return p * scale;                                                               \\
    }

    /* The same in float32 for |x| <= 87, to r^7 (truncation < 6e-9). */
    #define DNN_VEXP_F(NAME, ATTR, V, IV)                                               \\
    DNN_INLINE ATTR V NAME(V x) {                                                       \\
        const float shift = 0x1.8p23f;                                                  \\
        V t = x * 1.44269504f + shift, k = t - shift, r, p, scale;                      \\
        IV bits;                                                                        \\
        r = x - k * 0.693145751953125f;                                                 \\
        r = r - k * 1.428606765330187045e-06f;                                          \\
        p = r * (1.0f / 5040.0f) + 1.0f / 720.0f;                                       \\
        p = p * r + 1.0f / 120.0f;                                                      \\
        p = p * r + 1.0f / 24.0f;                                                       \\
        p = p * r + 1.0f / 6.0f;                                                        \\
        p = p * r + 0.5f;                                                               \\
        p = p * r + 1.0f;                                                               \\
        p = p * r + 1.0f;                                                               \\
        memcpy(&bits, &t, sizeof bits);                                                 \\
        bits = (bits << 23) + 0x3f800000;                                               \\
        memcpy(&scale, &bits, sizeof scale);                                            \\
        return p * scale;                                                               \\
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

    /* Sums in double: a vector of doubles adds as it is, one of floats in two
       halves, each widened to VD. */
    #define DNN_ACC_SAME(VD, HALF, a0, a1, d) ((a0) += (d))
    #define DNN_ACC_SPLIT(VD, HALF, a0, a1, d)                                          \\
        do {                                                                            \\
            HALF lo_, hi_;                                                              \\
            memcpy(&lo_, &(d), sizeof lo_);                                             \\
            memcpy(&hi_, (const char*) &(d) + sizeof lo_, sizeof hi_);                  \\
            (a0) += __builtin_convertvector(lo_, VD);                                   \\
            (a1) += __builtin_convertvector(hi_, VD);                                   \\
        } while (0)

    DNN_INLINE double dnn_exp_d(double x) { return exp(x); }
    DNN_INLINE float dnn_exp_f(float x) { return expf(x); }

    /* What ``nn`` does with a sum before it stores it: + bias (then relu), or
       scale by alpha (and add to what C holds: ``nn_acc``). */
    typedef struct { const double* bias; int relu; int scale; double alpha; int add; } dnn_epi_d;
    typedef struct { const float* bias; int relu; int scale; float alpha; int add; } dnn_epi_f;

    /* One register block of ``nn``: C[r, j] := sum_k M[r, k] B[k, j] (+ bias[r],
       then relu) for rows r0 <= r < r0 + NR_ and columns j0 <= j < j0 + NV_ *
       LANES, in NR_ x NV_ vector accumulators, k in order, one store per
       element. NR_ and NV_ are constants of each instantiation, so the
       accumulators live in registers. */
    #define DNN_NN_BLOCK(T, S, ISA, ATTR, V, IV, LANES, NAME, NR_, NV_)                 \\
    DNN_INLINE ATTR void dnn_nn_block_##S##_##ISA##_##NAME(int r0, int j0, int K,       \\
            const T* M, int rs, int cs, const T* B, int ldb, T* C, int ldc,             \\
            dnn_epi_##S e) {                                                            \\
        V acc[NR_][NV_], b[NV_], c, old, zero = {0};                                    \\
        int i, v, k;                                                                    \\
        DNN_UNROLL for (i = 0; i < NR_; i++)                                            \\
            DNN_UNROLL for (v = 0; v < NV_; v++) acc[i][v] = zero;                      \\
        for (k = 0; k < K; k++) {                                                       \\
            const T* brow = B + (ptrdiff_t) k * ldb + j0;                               \\
            DNN_UNROLL for (v = 0; v < NV_; v++) memcpy(&b[v], brow + v * LANES, sizeof(V)); \\
            DNN_UNROLL for (i = 0; i < NR_; i++) {                                      \\
                T w = M[(ptrdiff_t) (r0 + i) * rs + (ptrdiff_t) k * cs];                \\
                DNN_UNROLL for (v = 0; v < NV_; v++) acc[i][v] += w * b[v];             \\
            }                                                                           \\
        }                                                                               \\
        DNN_UNROLL for (i = 0; i < NR_; i++) {                                          \\
            T* crow = C + (ptrdiff_t) (r0 + i) * ldc + j0;                              \\
            DNN_UNROLL for (v = 0; v < NV_; v++) {                                      \\
                c = acc[i][v];                                                          \\
                if (e.scale) {                                                         \\
                    c = c * e.alpha;                                                   \\
                    if (e.add) {                                                       \\
                        memcpy(&old, crow + v * LANES, sizeof(V));                      \\
                        c = old + c;                                                    \\
                    }                                                                   \\
                } else if (e.bias != NULL) {                                           \\
                    c = c + e.bias[r0 + i];                                            \\
                    if (e.relu) c = (V) ((IV) c & (c > zero));                         \\
                }                                                                       \\
                memcpy(crow + v * LANES, &c, sizeof(V));                                \\
            }                                                                           \\
        }                                                                               \\
    }

    /* One register block of ``nt``: W[r, k] := alpha * sum_j D[r, j] A[k, j]
       (+ W[r, k] if add) for r0 <= r < r0 + NR_ and k0 <= k < k0 + NK_, in
       NR_ x NK_ vector accumulators over the examples; their lanes are then
       summed in double, the sum rounded to T and scaled: a gemm's
       alpha * (D A^T) + beta * W. */
    #define DNN_NT_BLOCK(T, S, ISA, ATTR, V, IV, LANES, NAME, NR_, NK_)                 \\
    DNN_INLINE ATTR void dnn_nt_block_##S##_##ISA##_##NAME(int r0, int k0, int m,       \\
            T alpha, const T* D, int ldd, const T* A, int lda, int add, T* W, int ldw) { \\
        V acc[NR_][NK_], d[NR_], a, zero = {0};                                         \\
        IV lane, keep;                                                                  \\
        int i, q, j, jt, l;                                                             \\
        DNN_UNROLL for (i = 0; i < NR_; i++)                                            \\
            DNN_UNROLL for (q = 0; q < NK_; q++) acc[i][q] = zero;                      \\
        for (j = 0; j <= m - LANES; j += LANES) {                                       \\
            DNN_UNROLL for (i = 0; i < NR_; i++)                                        \\
                memcpy(&d[i], D + (ptrdiff_t) (r0 + i) * ldd + j, sizeof(V));           \\
            DNN_UNROLL for (q = 0; q < NK_; q++) {                                      \\
                memcpy(&a, A + (ptrdiff_t) (k0 + q) * lda + j, sizeof(V));              \\
                DNN_UNROLL for (i = 0; i < NR_; i++) acc[i][q] += d[i] * a;             \\
            }                                                                           \\
        }                                                                               \\
        if (j < m && m >= LANES) {                                                      \\
            /* The last examples: the vector ending at m, its lanes before j */         \\
            /* (summed already) zeroed in both operands. */                             \\
            for (l = 0; l < LANES; l++) lane[l] = l;                                    \\
            keep = lane >= j - (m - LANES);                                             \\
            DNN_UNROLL for (i = 0; i < NR_; i++) {                                      \\
                memcpy(&d[i], D + (ptrdiff_t) (r0 + i) * ldd + m - LANES, sizeof(V));   \\
                d[i] = (V) ((IV) d[i] & keep);                                          \\
            }                                                                           \\
            DNN_UNROLL for (q = 0; q < NK_; q++) {                                      \\
                memcpy(&a, A + (ptrdiff_t) (k0 + q) * lda + m - LANES, sizeof(V));      \\
                a = (V) ((IV) a & keep);  /* 0 * inf would be nan */                    \\
                DNN_UNROLL for (i = 0; i < NR_; i++) acc[i][q] += d[i] * a;             \\
            }                                                                           \\
            j = m;                                                                      \\
        }                                                                               \\
        DNN_UNROLL for (i = 0; i < NR_; i++)                                            \\
            DNN_UNROLL for (q = 0; q < NK_; q++) {                                      \\
                const T* drow = D + (ptrdiff_t) (r0 + i) * ldd;                         \\
                const T* arow = A + (ptrdiff_t) (k0 + q) * lda;                         \\
                T* w = W + (ptrdiff_t) (r0 + i) * ldw + k0 + q;                         \\
                double sum;                                                             \\
                sum = dnn_hsum_##S##_##ISA(acc[i][q]);                                  \\
                for (jt = j; jt < m; jt++) sum += (double) drow[jt] * arow[jt];         \\
                *w = add ? *w + alpha * (T) sum : alpha * (T) sum;                      \\
            }                                                                           \\
    }

    /* The kernels, once per element type T (suffix S) and instruction set
       ISA (function attribute ATTR): V the vector of LANES T's, IV the integer
       vector a comparison of V's gives, VD the vector of doubles the sums
       run in (HALF: half a V, widened to a VD), ACC how a V is added to them,
       VEXP the vector exp, good for |x| <= EXP_LIMIT. */
    #define DNN_SIMD_KERNELS(T, S, ISA, ATTR, V, IV, LANES, VD, HALF, ACC, VEXP, EXP_LIMIT, \\
                             NR, NV, NTR, NTK)                                          \\
                                                                                        \\
    DNN_INLINE ATTR void dnn_bias_act_row_##S##_##ISA(int n, T* __restrict c, T bias,   \\
                                                      int relu) {                       \\
        int j;                                                                          \\
        for (j = 0; j < n; j++) c[j] = c[j] + bias;                                     \\
        if (relu)                                                                       \\
            for (j = 0; j < n; j++) c[j] = c[j] > 0 ? c[j] : 0;                         \\
    }                                                                                   \\
                                                                                        \\
    static ATTR void dnn_bias_act_##S##_##ISA(int R, int m, T* C, int ldc,              \\
                                              const T* bias, int relu) {                \\
        int r;                                                                          \\
        for (r = 0; r < R; r++)                                                         \\
            dnn_bias_act_row_##S##_##ISA(m, C + (ptrdiff_t) r * ldc, bias[r], relu);    \\
    }                                                                                   \\
                                                                                        \\
    DNN_NN_BLOCK(T, S, ISA, ATTR, V, IV, LANES, big, NR, NV)                            \\
    DNN_NN_BLOCK(T, S, ISA, ATTR, V, IV, LANES, rows, NR, 1)                            \\
    DNN_NN_BLOCK(T, S, ISA, ATTR, V, IV, LANES, cols, 1, NV)                            \\
    DNN_NN_BLOCK(T, S, ISA, ATTR, V, IV, LANES, one, 1, 1)                              \\
    DNN_NT_BLOCK(T, S, ISA, ATTR, V, IV, LANES, big, NTR, NTK)                          \\
    DNN_NT_BLOCK(T, S, ISA, ATTR, V, IV, LANES, rows, NTR, 1)                           \\
    DNN_NT_BLOCK(T, S, ISA, ATTR, V, IV, LANES, cols, 1, NTK)                           \\
    DNN_NT_BLOCK(T, S, ISA, ATTR, V, IV, LANES, one, 1, 1)                              \\
                                                                                        \\
    /* nn's rows r0 .. r0 + NR_ - 1 (NR_ = NR or 1), columns j0 <= j < m    */          \\
    /* fewer than LANES, one at a time. */                                              \\
    DNN_INLINE ATTR void dnn_nn_tail_##S##_##ISA(int NR_, int r0, int j0, int m, int K, \\
            const T* M, int rs, int cs, const T* B, int ldb, T* C, int ldc,             \\
            dnn_epi_##S e) {                                                            \\
        int i, j, k;                                                                    \\
        for (i = 0; i < NR_; i++)                                                       \\
            for (j = j0; j < m; j++) {                                                  \\
                T c = 0;                                                                \\
                for (k = 0; k < K; k++)                                                 \\
                    c = c + M[(ptrdiff_t) (r0 + i) * rs + (ptrdiff_t) k * cs]           \\
                            * B[(ptrdiff_t) k * ldb + j];                               \\
                if (e.scale) {                                                         \\
                    c = c * e.alpha;                                                   \\
                    if (e.add) c = C[(ptrdiff_t) (r0 + i) * ldc + j] + c;              \\
                } else if (e.bias != NULL) {                                           \\
                    c = c + e.bias[r0 + i];                                            \\
                    if (e.relu) c = c > 0 ? c : 0;                                     \\
                }                                                                       \\
                C[(ptrdiff_t) (r0 + i) * ldc + j] = c;                                  \\
            }                                                                           \\
    }                                                                                   \\
                                                                                        \\
    DNN_INLINE ATTR void dnn_nn_rows_##S##_##ISA(int NR_, int r0, int K, int j0, int m, \\
            const T* M, int rs, int cs, const T* B, int ldb, T* C, int ldc,             \\
            dnn_epi_##S e) {                                                            \\
        int j = j0;                                                                     \\
        if (NR_ == NR) {                                                                \\
            for (; j <= m - NV * LANES; j += NV * LANES)                                \\
                dnn_nn_block_##S##_##ISA##_big(r0, j, K, M, rs, cs, B, ldb, C, ldc, e);\\
            for (; j <= m - LANES; j += LANES)                                          \\
                dnn_nn_block_##S##_##ISA##_rows(r0, j, K, M, rs, cs, B, ldb, C, ldc, e);\\
        } else {                                                                        \\
            for (; j <= m - NV * LANES; j += NV * LANES)                                \\
                dnn_nn_block_##S##_##ISA##_cols(r0, j, K, M, rs, cs, B, ldb, C, ldc, e);\\
            for (; j <= m - LANES; j += LANES)                                          \\
                dnn_nn_block_##S##_##ISA##_one(r0, j, K, M, rs, cs, B, ldb, C, ldc, e);\\
        }                                                                               \\
        if (j < m && m >= LANES && !e.scale) {                                         \\
            /* The last columns as one vector ending at m, overlapping columns */       \\
            /* already done: they are computed again to the same bits (the same */      \\
            /* products in the same order), where a scalar loop over the k's   */       \\
            /* would be a chain of dependent adds per column. */                        \\
            if (NR_ == NR)                                                              \\
                dnn_nn_block_##S##_##ISA##_rows(r0, m - LANES, K, M, rs, cs, B, ldb,    \\
                                                C, ldc, e);                             \\
            else                                                                        \\
                dnn_nn_block_##S##_##ISA##_one(r0, m - LANES, K, M, rs, cs, B, ldb,     \\
                                               C, ldc, e);                              \\
            j = m;                                                                      \\
        }                                                                               \\
        dnn_nn_tail_##S##_##ISA(NR_, r0, j, m, K, M, rs, cs, B, ldb, C, ldc, e);        \\
    }                                                                                   \\
                                                                                        \\
    /* Panels of columns, whose K rows of B (K x panel) stay in L2 while    */           \\
    /* every block of rows of C passes over them. */                                    \\
    static ATTR void dnn_nn_##S##_##ISA(int R, int K, int m, const T* M, int rs, int cs, \\
            const T* B, int ldb, T* C, int ldc, const T* bias, int relu) {              \\
        int r, p0, p1;                                                                  \\
        dnn_epi_##S e = {bias, relu, 0, 1, 0};                                          \\
        int panel = (int) (DNN_NN_PANEL_BYTES / ((size_t) K * sizeof(T)));              \\
        panel -= panel % (NV * LANES);                                                  \\
        if (panel < NV * LANES) panel = NV * LANES;                                     \\
        for (p0 = 0; p0 < m; p0 = p1) {                                                \\
            p1 = m - p0 > panel ? p0 + panel : m;                                       \\
            for (r = 0; r + NR <= R; r += NR)                                           \\
                dnn_nn_rows_##S##_##ISA(NR, r, K, p0, p1, M, rs, cs, B, ldb, C, ldc,    \\
                                        e);                                             \\
            for (; r < R; r++)                                                          \\
                dnn_nn_rows_##S##_##ISA(1, r, K, p0, p1, M, rs, cs, B, ldb, C, ldc,     \\
                                        e);                                             \\
        }                                                                               \\
    }                                                                                   \\
                                                                                        \\
    /* C := alpha M B (+ C if add), M (R x K) through strides, B (K x N): the */        \\
    /* sum over K in chunks, each added to C, so that the chunk of B under   */         \\
    /* each panel of columns stays in L2 however long K is (a gemm's K     */           \\
    /* blocking, rounded as one: C += alpha * partial sum, chunk by chunk). */          \\
    static ATTR void dnn_nn_acc_##S##_##ISA(int R, int K, int N, T alpha, const T* M,   \\
            int rs, int cs, const T* B, int ldb, int add, T* C, int ldc) {              \\
        int r, p0, p1, k0, k1;                                                          \\
        int panel = 4 * NV * LANES;                                                     \\
        int chunk = (int) (DNN_NN_PANEL_BYTES / ((size_t) panel * sizeof(T)));          \\
        dnn_epi_##S e = {NULL, 0, 1, alpha, add};                                       \\
        if (K <= 0 && !add) {  /* an empty sum: C := 0, as a gemm gives */              \\
            for (r = 0; r < R; r++)                                                     \\
                memset(C + (ptrdiff_t) r * ldc, 0, (size_t) N * sizeof(T));             \\
            return;                                                                     \\
        }                                                                               \\
        for (p0 = 0; p0 < N; p0 = p1) {                                                \\
            p1 = N - p0 > panel ? p0 + panel : N;                                       \\
            for (k0 = 0; k0 < K; k0 = k1) {                                             \\
                k1 = K - k0 > chunk ? k0 + chunk : K;                                   \\
                e.add = add || k0 > 0;                                                  \\
                for (r = 0; r + NR <= R; r += NR)                                       \\
                    dnn_nn_rows_##S##_##ISA(NR, r, k1 - k0, p0, p1,                     \\
                        M + (ptrdiff_t) k0 * cs, rs, cs, B + (ptrdiff_t) k0 * ldb, ldb, \\
                        C, ldc, e);                                                    \\
                for (; r < R; r++)                                                      \\
                    dnn_nn_rows_##S##_##ISA(1, r, k1 - k0, p0, p1,                      \\
                        M + (ptrdiff_t) k0 * cs, rs, cs, B + (ptrdiff_t) k0 * ldb, ldb, \\
                        C, ldc, e);                                                    \\
            }                                                                           \\
        }                                                                               \\
    }                                                                                   \\
                                                                                        \\
    static ATTR void dnn_nt_##S##_##ISA(int R, int K, int m, T alpha, const T* D,       \\
            int ldd, const T* A, int lda, int add, T* W, int ldw) {                     \\
        int r = 0, k;                                                                   \\
        for (; r + NTR <= R; r += NTR) {                                                \\
            for (k = 0; k + NTK <= K; k += NTK)                                         \\
                dnn_nt_block_##S##_##ISA##_big(r, k, m, alpha, D, ldd, A, lda, add,     \\
                                               W, ldw);                                 \\
            for (; k < K; k++)                                                          \\
                dnn_nt_block_##S##_##ISA##_rows(r, k, m, alpha, D, ldd, A, lda, add,    \\
                                                W, ldw);                                \\
        }                                                                               \\
        for (; r < R; r++) {                                                            \\
            for (k = 0; k + NTK <= K; k += NTK)                                         \\
                dnn_nt_block_##S##_##ISA##_cols(r, k, m, alpha, D, ldd, A, lda, add,    \\
                                                W, ldw);                                \\
            for (; k < K; k++)                                                          \\
                dnn_nt_block_##S##_##ISA##_one(r, k, m, alpha, D, ldd, A, lda, add,     \\
                                               W, ldw);                                 \\
        }                                                                               \\
    }                                                                                   \\
                                                                                        \\
    static ATTR void dnn_relu_backward_##S##_##ISA(int R, int m, T* D, int ldd,         \\
                                                   const T* H, int ldh, T* db,          \\
                                                   double scale) {                      \\
        int r, j, l;                                                                    \\
        V d, h, zero = {0};                                                             \\
        for (r = 0; r < R; r++) {                                                       \\
            T* row = D + (ptrdiff_t) r * ldd;                                           \\
            const T* hrow = H + (ptrdiff_t) r * ldh;                                    \\
            VD a0 = {0}, a1 = {0};                                                      \\
            double s = 0.0;                                                             \\
            for (j = 0; j <= m - LANES; j += LANES) {                                   \\
                memcpy(&d, row + j, sizeof(V));                                         \\
                memcpy(&h, hrow + j, sizeof(V));                                        \\
                d = (V) ((IV) d & (h > zero));                                          \\
                memcpy(row + j, &d, sizeof(V));                                         \\
                ACC(VD, HALF, a0, a1, d);                                               \\
            }                                                                           \\
            a0 += a1;                                                                   \\
            for (l = 0; l < (int) (sizeof(VD) / sizeof(double)); l++) s += a0[l];       \\
            for (; j < m; j++) {                                                        \\
                row[j] = hrow[j] > 0 ? row[j] : 0;                                      \\
                s += row[j];                                                            \\
            }                                                                           \\
            if (db != NULL) db[r] = (T) (scale * s);                                    \\
        }                                                                               \\
    }                                                                                   \\
                                                                                        \\
    static ATTR double dnn_output_grad_##S##_##ISA(int m, const T* Z, const T* Y,       \\
                                                   T* D) {                              \\
        int j, l, wide;                                                                 \\
        V z, y, t, d;                                                                   \\
        VD a0 = {0}, a1 = {0};                                                          \\
        double s = 0.0;                                                                 \\
        const T one = 1, limit = EXP_LIMIT;                                             \\
        V zero = {0};                                                                   \\
        y = zero;  /* Y = NULL: the sigmoid alone */                                    \\
        for (j = 0; j <= m - LANES; j += LANES) {                                       \\
            memcpy(&z, Z + j, sizeof(V));                                               \\
            if (Y != NULL) memcpy(&y, Y + j, sizeof(V));                                \\
            t = -z;                                                                     \\
            wide = 0;                                                                   \\
            for (l = 0; l < LANES; l++)                                                 \\
                wide |= !(t[l] >= -limit && t[l] <= limit);                             \\
            if (!wide) {                                                                \\
                d = one / (one + VEXP(t)) - y;                                          \\
            } else {  /* saturated (or nan): libm's exp, as the reference */            \\
                for (l = 0; l < LANES; l++)                                             \\
                    d[l] = one / (one + dnn_exp_##S(t[l])) - y[l];                      \\
            }                                                                           \\
            memcpy(D + j, &d, sizeof(V));                                               \\
            ACC(VD, HALF, a0, a1, d);                                                   \\
        }                                                                               \\
        a0 += a1;                                                                       \\
        for (l = 0; l < (int) (sizeof(VD) / sizeof(double)); l++) s += a0[l];           \\
        for (; j < m; j++) {                                                            \\
            D[j] = one / (one + dnn_exp_##S(-Z[j])) - (Y != NULL ? Y[j] : 0);           \\
            s += D[j];                                                                  \\
        }                                                                               \\
        return s;                                                                       \\
    }

    /* Register blocks (accumulators + operands within the 16 vector registers
       of SSE2 and AVX2, the 32 of AVX-512): NR x NV for ``nn``, NTR x NTK for
       ``nt``. */
    DNN_VEXP_D(dnn_vexp_d_base, , dnn_v2d, dnn_v2di)
    DNN_VEXP_F(dnn_vexp_f_base, , dnn_v4f, dnn_v4i)
    DNN_SIMD_KERNELS(double, d, base, , dnn_v2d, dnn_v2di, 2, dnn_v2d, dnn_v2d,
                     DNN_ACC_SAME, dnn_vexp_d_base, 708.0, 4, 2, 3, 3)
    DNN_SIMD_KERNELS(float, f, base, , dnn_v4f, dnn_v4i, 4, dnn_v2d, dnn_v2f,
                     DNN_ACC_SPLIT, dnn_vexp_f_base, 87.0f, 4, 2, 3, 3)
    #if DNN_HAS_X86_BUILDS
    DNN_VEXP_D(dnn_vexp_d_avx2, DNN_TARGET_AVX2, dnn_v4d, dnn_v4di)
    DNN_VEXP_F(dnn_vexp_f_avx2, DNN_TARGET_AVX2, dnn_v8f, dnn_v8i)
    DNN_SIMD_KERNELS(double, d, avx2, DNN_TARGET_AVX2, dnn_v4d, dnn_v4di, 4, dnn_v4d,
                     dnn_v4d, DNN_ACC_SAME, dnn_vexp_d_avx2, 708.0, 6, 2, 3, 3)
    DNN_SIMD_KERNELS(float, f, avx2, DNN_TARGET_AVX2, dnn_v8f, dnn_v8i, 8, dnn_v4d,
                     dnn_v4f, DNN_ACC_SPLIT, dnn_vexp_f_avx2, 87.0f, 6, 2, 3, 3)
    DNN_VEXP_D(dnn_vexp_d_avx512, DNN_TARGET_AVX512, dnn_v8d, dnn_v8di)
    DNN_VEXP_F(dnn_vexp_f_avx512, DNN_TARGET_AVX512, dnn_v16f, dnn_v16i)
    DNN_SIMD_KERNELS(double, d, avx512, DNN_TARGET_AVX512, dnn_v8d, dnn_v8di, 8, dnn_v8d,
                     dnn_v8d, DNN_ACC_SAME, dnn_vexp_d_avx512, 708.0, 6, 4, 4, 4)
    DNN_SIMD_KERNELS(float, f, avx512, DNN_TARGET_AVX512, dnn_v16f, dnn_v16i, 16, dnn_v8d,
                     dnn_v8f, DNN_ACC_SPLIT, dnn_vexp_f_avx512, 87.0f, 6, 4, 4, 4)
    #endif

    /* One table of kernels per instruction set, and the one in use. */
    typedef struct {
        void (*nn_d)(int, int, int, const double*, int, int, const double*, int,
                     double*, int, const double*, int);
        void (*nn_f)(int, int, int, const float*, int, int, const float*, int,
                     float*, int, const float*, int);
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
        void (*relu_backward_d)(int, int, double*, int, const double*, int, double*, double);
        void (*relu_backward_f)(int, int, float*, int, const float*, int, float*, double);
        double (*output_grad_d)(int, const double*, const double*, double*);
        double (*output_grad_f)(int, const float*, const float*, float*);
    } dnn_simd_table;

    #define DNN_SIMD_TABLE(ISA) {                                                       \\
        dnn_nn_d_##ISA, dnn_nn_f_##ISA, dnn_nt_d_##ISA,                                 \\
        dnn_nn_acc_d_##ISA, dnn_nn_acc_f_##ISA, dnn_nt_f_##ISA,                         \\
        dnn_bias_act_d_##ISA, dnn_bias_act_f_##ISA,                                     \\
        dnn_relu_backward_d_##ISA, dnn_relu_backward_f_##ISA,                           \\
        dnn_output_grad_d_##ISA, dnn_output_grad_f_##ISA }

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

    /* The highest level this CPU and OS run (GCC's and clang's cpu-feature
       tests also check, in XCR0, that the OS saves the AVX and AVX-512 state). */
    static int dnn_simd_cpu_level(void) {
    #if DNN_HAS_X86_BUILDS
        __builtin_cpu_init();
        if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) return 0;
        if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512dq")) return 1;
        return 2;
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
    """
    ctypedef struct dnn_simd_table:
        void nn_d(int R, int K, int m, const double* M, int rs, int cs,
                  const double* B, int ldb, double* C, int ldc,
                  const double* bias, int relu) noexcept nogil
        void nn_f(int R, int K, int m, const float* M, int rs, int cs,
                  const float* B, int ldb, float* C, int ldc,
                  const float* bias, int relu) noexcept nogil
        void nt_d(int R, int K, int m, double alpha, const double* D, int ldd,
                  const double* A, int lda, int add, double* W, int ldw) noexcept nogil
        void nn_acc_d(int R, int K, int N, double alpha, const double* M, int rs, int cs,
                      const double* B, int ldb, int add, double* C, int ldc) noexcept nogil
        void nn_acc_f(int R, int K, int N, float alpha, const float* M, int rs, int cs,
                      const float* B, int ldb, int add, float* C, int ldc) noexcept nogil
        void nt_f(int R, int K, int m, float alpha, const float* D, int ldd,
                  const float* A, int lda, int add, float* W, int ldw) noexcept nogil
        void bias_act_d(int R, int m, double* C, int ldc, const double* bias,
                        int relu) noexcept nogil
        void bias_act_f(int R, int m, float* C, int ldc, const float* bias,
                        int relu) noexcept nogil
        void relu_backward_d(int R, int m, double* D, int ldd, const double* H, int ldh,
                             double* db, double scale) noexcept nogil
        void relu_backward_f(int R, int m, float* D, int ldd, const float* H, int ldh,
                             float* db, double scale) noexcept nogil
        double output_grad_d(int m, const double* Z, const double* Y,
                             double* D) noexcept nogil
        double output_grad_f(int m, const float* Z, const float* Y,
                             float* D) noexcept nogil
    const dnn_simd_table* dnn_simd
    int dnn_simd_use(int level) nogil
    int dnn_simd_cpu_level() nogil
    int dnn_simd_level
    int DNN_SIMD_TOP


from cython cimport floating


cdef inline void nn(int R, int K, int m, const floating* M, int rs, int cs,
                    const floating* B, int ldb, floating* C, int ldc,
                    const floating* bias, bint relu) noexcept nogil:
    """C[r, :] := sum_k M[r*rs + k*cs] B[k, :] (+ bias[r], then relu if asked); C (R, m).

    M is (R, K) through strides: W (rs = K, cs = 1) or W^T (rs = 1, cs = R).
    """
    if floating is double:
        dnn_simd.nn_d(R, K, m, M, rs, cs, B, ldb, C, ldc, bias, relu)
    else:
        dnn_simd.nn_f(R, K, m, M, rs, cs, B, ldb, C, ldc, bias, relu)


cdef inline void nt(int R, int K, int m, floating alpha, const floating* D, int ldd,
                    const floating* A, int lda, bint add, floating* W, int ldw) noexcept nogil:
    """W := alpha D A^T (+ W if ``add``); D (R, m), A (K, m), W (R, K), row strides given.

    Rounded as a gemm with beta = 1 (or 0): the sum, then alpha, then W.
    """
    if floating is double:
        dnn_simd.nt_d(R, K, m, alpha, D, ldd, A, lda, add, W, ldw)
    else:
        dnn_simd.nt_f(R, K, m, alpha, D, ldd, A, lda, add, W, ldw)


cdef inline void nn_acc(int R, int K, int N, floating alpha, const floating* M, int rs,
                        int cs, const floating* B, int ldb, bint add, floating* C,
                        int ldc) noexcept nogil:
    """C := alpha M B (+ C if ``add``); M (R, K) through strides (rs, cs), B (K, N), C (R, N).

    The sum over K in chunks, each scaled and added to C as it is done (as a
    gemm's K blocking rounds), so B's chunk under a panel of C stays in L2.
    """
    if floating is double:
        dnn_simd.nn_acc_d(R, K, N, alpha, M, rs, cs, B, ldb, add, C, ldc)
    else:
        dnn_simd.nn_acc_f(R, K, N, alpha, M, rs, cs, B, ldb, add, C, ldc)


cdef inline void bias_act(int R, int m, floating* C, int ldc, const floating* bias,
                          bint relu) noexcept nogil:
    """C[r, :] := C[r, :] + bias[r] (then relu), in place; C (R, m)."""
    if floating is double:
        dnn_simd.bias_act_d(R, m, C, ldc, bias, relu)
    else:
        dnn_simd.bias_act_f(R, m, C, ldc, bias, relu)


cdef inline void relu_backward(int R, int m, floating* D, int ldd, const floating* H, int ldh,
                               floating* db, double scale) noexcept nogil:
    """D := D * (H > 0) in place; if db is not NULL, db[r] := scale * sum_j D[r, j]."""
    if floating is double:
        dnn_simd.relu_backward_d(R, m, D, ldd, H, ldh, db, scale)
    else:
        dnn_simd.relu_backward_f(R, m, D, ldd, H, ldh, db, scale)


cdef inline double output_grad(int m, const floating* Z, const floating* Y,
                               floating* D) noexcept nogil:
    """D := sigmoid(Z) - Y, or sigmoid(Z) if Y is NULL, (m,); returns sum(D), summed in double."""
    if floating is double:
        return dnn_simd.output_grad_d(m, Z, Y, D)
    else:
        return dnn_simd.output_grad_f(m, Z, Y, D)

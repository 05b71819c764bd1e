/* The mini-batch loop's tables (dnn/_loop.pyx drives them): what a hidden
   activation, an output kind and an optimizer are, each in ONE place.

   Layout: features-major, as the course: a layer's block is (units, batch)
   row-major, row r = unit r, column j = example j of the mini-batch.

   - A hidden activation is one row of ``dnn_acts``: a forward kernel
     (C := act(C + bias) in place) and a backward kernel (D := D * act'(from A),
     db := scale * row sums of the result, summed in double). ReLU's entry is
     the one ReLU of the package: dnn/_simd.h's ``bias_act`` and
     ``relu_backward`` (vector builds picked at run time).
   - An output kind is one case of ``dnn_output_*``: from Z_L it writes
     dZ_L = A_L - Y (the same closed form for all three) on a range of columns
     and returns their summed loss computed stably from Z_L (``dnn_rowsums_*``
     then makes db_L). With sample weights, column j's dZ and loss are times
     its weight: the one place weights enter (the caller then scales the
     gradients by 1 / the batch's weight sum instead of 1 / batch).
   - An optimizer is one row of ``dnn_opts``: one pass over a parameter and its
     gradient buffer, L2's ``lam * p`` folded into the gradient it reads,
     updating its state (v, s) in place and, if asked, summing the new
     parameter's squares (the next batch's L2 cost).
   - Dropout's masks are SplitMix64 counter-based draws, bit for bit
     ``dnn.reference.dropout_uniform``.

   Plain C (the compiler vectorizes the loops it can): GCC, clang, MSVC,
   MinGW-w64. */
#ifndef DNN_LOOP_H
#define DNN_LOOP_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "_simd.h"

/* ---------------------------------------------------------------------- */
/* Dropout: SplitMix64 keyed by (seed, layer, iteration, unit i, example j). */

#define DNN_GOLDEN 0x9E3779B97F4A7C15ULL

DNN_INLINE uint64_t dnn_splitmix(uint64_t state, uint64_t k) {
    uint64_t z = state + k * DNN_GOLDEN;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* The key of (seed, layer, iteration); row i's key is dnn_splitmix(key, i + 1). */
DNN_INLINE uint64_t dnn_dropout_key(uint64_t seed, uint64_t layer, uint64_t iteration) {
    return dnn_splitmix(dnn_splitmix(seed, layer + 1), iteration + 1);
}

/* The uniform [0, 1) number of element (i, j) given row i's key. */
DNN_INLINE double dnn_dropout_u(uint64_t row_key, int j) {
    return (double) (dnn_splitmix(row_key, (uint64_t) j + 1) >> 11) * (1.0 / 9007199254740992.0);
}

/* ---------------------------------------------------------------------- */
/* Options of one optimizer step (doubles; each kernel rounds them to its T,
   as NumPy rounds a Python float against a float32 array). */
typedef struct {
    double lr;        /* learning rate */
    double lam;       /* L2: lambd / batch (0: none) */
    double beta;      /* course momentum's beta, or scikit-learn's momentum */
    double beta1, beta2, eps;
    double bias1, bias2;  /* Adam's 1 - beta1^t, 1 - beta2^t */
} dnn_opt;

enum { DNN_OPT_GD = 0, DNN_OPT_MOMENTUM = 1, DNN_OPT_HEAVY_BALL = 2, DNN_OPT_NESTEROV = 3,
       DNN_OPT_RMSPROP = 4, DNN_OPT_ADAM = 5, DNN_OPT_COUNT = 6 };
enum { DNN_ACT_RELU = 0, DNN_ACT_TANH = 1, DNN_ACT_LEAKY_RELU = 2, DNN_ACT_COUNT = 3 };
enum { DNN_OUT_SIGMOID = 0, DNN_OUT_SOFTMAX = 1, DNN_OUT_IDENTITY = 2 };

#define DNN_LEAKY_SLOPE 0.01

/* One hidden activation's two kernels from two expressions: FWD of ``z`` (the
   pre-activation, bias added) and BWD of ``a`` (the activation) and ``d`` (the
   gradient flowing back); the backward kernel also sums each row of the result
   (db, in double, times scale). The operations are dnn.activations' (tanh's
   backward from A = tanh(Z): the same numbers as from Z). */
#define DNN_ACT(NAME, T, S, ISA, ATTR, FWD, BWD)                                    \
static ATTR void dnn_##NAME##_fwd_##S##_##ISA(int R, int m, T* C, int ldc,          \
                                              const T* bias) {                      \
    int r, j;                                                                       \
    for (r = 0; r < R; r++) {                                                       \
        T* c = C + (ptrdiff_t) r * ldc;                                             \
        const T b = bias[r];                                                        \
        for (j = 0; j < m; j++) { const T z = c[j] + b; c[j] = FWD; }               \
    }                                                                               \
}                                                                                   \
static ATTR void dnn_##NAME##_bwd_##S##_##ISA(int R, int m, T* D, int ldd,          \
        const T* A, int lda, T* db, double scale) {                                 \
    int r, j;                                                                       \
    for (r = 0; r < R; r++) {                                                       \
        T* dr = D + (ptrdiff_t) r * ldd;                                            \
        const T* ar = A + (ptrdiff_t) r * lda;                                      \
        double sum = 0.0;                                                           \
        for (j = 0; j < m; j++) { const T a = ar[j], d = dr[j]; dr[j] = BWD; }      \
        for (j = 0; j < m; j++) sum += dr[j];                                       \
        db[r] = (T) (scale * sum);                                                  \
    }                                                                               \
}

/* One optimizer's kernel: BODY runs for each i with ``gi`` the gradient (L2
   folded in: g + lam p when lam != 0) and the constants of ``o`` rounded to T;
   then, if sumsq is not NULL, the new parameters' squares are added to it. */
#define DNN_OPT(NAME, T, S, ISA, ATTR, SQRT, ...)                                   \
static ATTR void dnn_opt_##NAME##_##S##_##ISA(int n, T* __restrict p,                \
        const T* __restrict g, T* __restrict v, T* __restrict s, const dnn_opt* o,  \
        double* sumsq) {                                                            \
    const T lr = (T) o->lr, lam = (T) o->lam, beta = (T) o->beta;                   \
    const T c_beta = (T) (1 - o->beta), beta1 = (T) o->beta1;                       \
    const T c_beta1 = (T) (1 - o->beta1), beta2 = (T) o->beta2;                     \
    const T c_beta2 = (T) (1 - o->beta2), eps = (T) o->eps;                         \
    const T r_bias1 = (T) (1 / o->bias1), r_bias2 = (T) (1 / o->bias2);             \
    int i;                                                                          \
    (void) lr; (void) beta; (void) c_beta; (void) beta1; (void) c_beta1;            \
    (void) beta2; (void) c_beta2; (void) eps; (void) r_bias1; (void) r_bias2;       \
    (void) v; (void) s;                                                             \
    if (lam != 0) {                                                                 \
        for (i = 0; i < n; i++) { const T gi = g[i] + p[i] * lam; __VA_ARGS__ }     \
    } else {                                                                        \
        for (i = 0; i < n; i++) { const T gi = g[i]; __VA_ARGS__ }                  \
    }                                                                               \
    if (sumsq) *sumsq += dnn_sumsq_##S##_##ISA(n, p);                               \
}

/* The softmax's exps of row k for a group of n <= SM_LANES columns: d[l] := exp(z[l] - mx[l])
   and sum[l] += d[l], l < n (the lanes past n add exp(0) to sums no one reads). The build's
   vector exp (``dnn/_simd.h``, within an ulp or two of libm's) where it holds (|x| <= its
   limit: 708 in float64, 87 in float32), libm's for the other lanes (underflows, nan, inf),
   lane by lane: each value's exp depends on that value only, not on the group it is in (a
   team's column shares do not change a bit). A build without vector extensions: libm's, one
   lane. */
#if DNN_VECTOR_EXT
#define DNN_SOFTMAX_EXP(T, S, ISA, ATTR, V, LANES, VEXP, LIMIT)                     \
enum { DNN_SM_LANES_##S##_##ISA = LANES };                                         \
DNN_INLINE ATTR void dnn_sm_exps_##S##_##ISA(int n, const T* z, const T* mx, T* d, T* sum) { \
    V x, m, e, acc;                                                                 \
    T pad[LANES];                                                                   \
    int l, in[LANES], all = 1;                                                      \
    if (n == LANES) {                                                               \
        memcpy(&x, z, sizeof x);                                                    \
    } else {                                                                        \
        for (l = 0; l < LANES; l++) pad[l] = l < n ? z[l] : (T) 0;                  \
        memcpy(&x, pad, sizeof x);                                                  \
    }                                                                               \
    memcpy(&m, mx, sizeof m);                                                       \
    x = x - m;                                                                      \
    for (l = 0; l < LANES; l++) {                                                   \
        in[l] = x[l] >= -(LIMIT) && x[l] <= (LIMIT);                                \
        all &= in[l];                                                               \
    }                                                                               \
    e = x;                                                                          \
    if (!all)  /* the vector exp on 0 in the other lanes, libm's for them after */ \
        for (l = 0; l < LANES; l++) if (!in[l]) e[l] = 0;                           \
    e = VEXP(e);                                                                    \
    if (!all)                                                                       \
        for (l = 0; l < LANES; l++) if (!in[l]) e[l] = dnn_exp_##S(x[l]);           \
    memcpy(&acc, sum, sizeof acc);                                                  \
    acc += e;                                                                       \
    memcpy(sum, &acc, sizeof acc);                                                  \
    if (n == LANES) memcpy(d, &e, sizeof e);                                        \
    else for (l = 0; l < n; l++) d[l] = e[l];                                       \
}
DNN_SOFTMAX_EXP(double, d, base, , dnn_v2d, 2, dnn_vexp_d_base, 708.0)
DNN_SOFTMAX_EXP(float, f, base, , dnn_v4f, 4, dnn_vexp_f_base, 87.0f)
#if DNN_HAS_X86_BUILDS
DNN_SOFTMAX_EXP(double, d, avx2, DNN_TARGET_AVX2, dnn_v4d, 4, dnn_vexp_d_avx2, 708.0)
DNN_SOFTMAX_EXP(float, f, avx2, DNN_TARGET_AVX2, dnn_v8f, 8, dnn_vexp_f_avx2, 87.0f)
DNN_SOFTMAX_EXP(double, d, avx512, DNN_TARGET_AVX512, dnn_v8d, 8, dnn_vexp_d_avx512, 708.0)
DNN_SOFTMAX_EXP(float, f, avx512, DNN_TARGET_AVX512, dnn_v16f, 16, dnn_vexp_f_avx512, 87.0f)
#endif
#else
enum { DNN_SM_LANES_d_base = 1, DNN_SM_LANES_f_base = 1 };
DNN_INLINE void dnn_sm_exps_d_base(int n, const double* z, const double* mx, double* d, double* sum) {
    (void) n;
    d[0] = exp(z[0] - mx[0]);
    sum[0] += d[0];
}
DNN_INLINE void dnn_sm_exps_f_base(int n, const float* z, const float* mx, float* d, float* sum) {
    (void) n;
    d[0] = expf(z[0] - mx[0]);
    sum[0] += d[0];
}
#endif
#define DNN_SM_LANES_MAX 16  /* the most of any build's SM_LANES (float32, AVX-512) */

/* The output kinds' loops (``dnn_output_*``): WD(x) weighs x in T, WL(x) in
   double, by column j's weight ``SW[j]`` (or leaves it as it is: DNN_AS_IS).
   Weights of 1 give the unweighted dZ exactly (so the same parameters), the
   loss to rounding: the compiler may vectorize or contract (FMA) the two
   instances' sums differently. */
#define DNN_AS_IS(x) (x)
#define DNN_WEIGH_T(x) ((x) * SW[j])
#define DNN_WEIGH_D(x) ((double) SW[j] * (x))
#define DNN_OUTPUT_LOOPS(T, EXP, LOG, LOG1P, WD, WL, SM_EXP, SM_LANES)             \
    if (kind == DNN_OUT_SOFTMAX) {                                                  \
        /* columns in groups of SM_LANES (the last group's other lanes are 0s),  */ \
        /* each column's operations and order as one at a time: max, exps and   */ \
        /* their sum over k, then log, D and the loss column by column, k in order */ \
        T mx[DNN_SM_LANES_MAX], sum[DNN_SM_LANES_MAX], lse;                         \
        int g, n, l;                                                                \
        for (g = j0; g < j1; g += n) {                                              \
            n = j1 - g < SM_LANES ? j1 - g : SM_LANES;                              \
            for (l = 0; l < SM_LANES; l++) {                                        \
                mx[l] = l < n ? Z[g + l] : (T) 0;                                   \
                sum[l] = 0;                                                         \
            }                                                                       \
            for (k = 1; k < K; k++)                                                 \
                for (l = 0; l < n; l++)                                             \
                    if (Z[(ptrdiff_t) k * ld + g + l] > mx[l]) mx[l] = Z[(ptrdiff_t) k * ld + g + l]; \
            for (k = 0; k < K; k++)                                                 \
                SM_EXP(n, Z + (ptrdiff_t) k * ld + g, mx, D + (ptrdiff_t) k * ld + g, sum); \
            for (j = g; j < g + n; j++) {                                           \
                l = j - g;                                                          \
                lse = LOG(sum[l]);                                                  \
                for (k = 0; k < K; k++) {                                           \
                    T y = Y[(ptrdiff_t) j * K + k];                                 \
                    T* d = D + (ptrdiff_t) k * ld + j;                              \
                    *d = WD(*d / sum[l] - y);                                       \
                    if (y != 0) loss -= (double) (WD(y) * ((Z[(ptrdiff_t) k * ld + j] - mx[l]) - lse)); \
                }                                                                   \
            }                                                                       \
        }                                                                           \
    } else {                                                                        \
        for (k = 0; k < K; k++)                                                     \
            for (j = j0; j < j1; j++) {                                             \
                T z = Z[(ptrdiff_t) k * ld + j], y = Y[(ptrdiff_t) j * K + k], a;   \
                if (kind == DNN_OUT_SIGMOID) {                                      \
                    a = (T) 1 / ((T) 1 + EXP(-z));                                  \
                    loss += WL((double) ((LOG1P(EXP(-(z > 0 ? z : -z))) + (z > 0 ? z : 0)) \
                                         - z * y));                                 \
                } else {                                                            \
                    a = z;                                                          \
                    loss += 0.5 * WL((double) (a - y)) * (double) (a - y);          \
                }                                                                   \
                D[(ptrdiff_t) k * ld + j] = WD(a - y);                              \
            }                                                                       \
    }

#define DNN_LOOP_KERNELS(T, S, ISA, ATTR, EXP, LOG, LOG1P, TANH, SQRT)                          \
                                                                                    \
/* ---- hidden activations: forward C := act(C + bias), backward from A ---- */    \
static ATTR void dnn_relu_fwd_##S##_##ISA(int R, int m, T* C, int ldc, const T* bias) { \
    dnn_simd->bias_act_##S(R, m, C, ldc, bias, 1);                                  \
}                                                                                   \
static ATTR void dnn_relu_bwd_##S##_##ISA(int R, int m, T* D, int ldd, const T* A,  \
                                          int lda, T* db, double scale) {           \
    dnn_simd->relu_backward_##S(R, m, D, ldd, A, lda, D, ldd, db, scale);           \
}                                                                                   \
DNN_ACT(tanh, T, S, ISA, ATTR, TANH(z), ((T) 1 - a * a) * d)                        \
DNN_ACT(leaky, T, S, ISA, ATTR, z > 0 ? z : z * (T) DNN_LEAKY_SLOPE,                \
        a > 0 ? d : d * (T) DNN_LEAKY_SLOPE)                                        \
                                                                                    \
/* ---- dropout: H := mask ? A / keep : 0 (mask drawn); D := mask ? D / keep : 0 */ \
/* Forward on columns j0 .. j1 - 1 of (R, ld) blocks (a thread's share; element  */ \
/* (r, j)'s draw depends on r and j only).                                        */ \
static ATTR void dnn_dropout_fwd_##S##_##ISA(int R, int j0, int j1, int ld, const T* A, T* H, \
                                unsigned char* M, double keep, uint64_t key) {      \
    const T k = (T) keep;                                                           \
    int r, j;                                                                       \
    for (r = 0; r < R; r++) {                                                       \
        uint64_t row = dnn_splitmix(key, (uint64_t) r + 1);                         \
        const T* a = A + (ptrdiff_t) r * ld;                                        \
        T* h = H + (ptrdiff_t) r * ld;                                              \
        unsigned char* mk = M + (ptrdiff_t) r * ld;                                 \
        for (j = j0; j < j1; j++) {                                                 \
            mk[j] = dnn_dropout_u(row, j) < keep;                                   \
            h[j] = mk[j] ? a[j] / k : (T) 0;                                        \
        }                                                                           \
    }                                                                               \
}                                                                                   \
static ATTR void dnn_dropout_bwd_##S##_##ISA(int n, T* D, const unsigned char* M, double keep) { \
    const T k = (T) keep;                                                           \
    int i;                                                                          \
    for (i = 0; i < n; i++) D[i] = M[i] ? D[i] / k : (T) 0;                         \
}                                                                                   \
                                                                                    \
/* ---- the output layer, on columns j0 .. j1 - 1 of (K, ld) blocks: D = A - Y; */ \
/* returns their summed loss. Y is the batch's (ld, K) samples-major block.      */ \
/* SW: the batch's weights (column j's is SW[j]), which multiply column j's D  */ \
/* and loss; NULL: none (the unweighted loops are their own instance of        */ \
/* DNN_OUTPUT_LOOPS, compiled as before weights: the same bits).               */ \
/* ``rowsums`` then makes db = scale * row sums (every column: after the team). */ \
static ATTR double dnn_output_##S##_##ISA(int kind, int K, int j0, int j1, int ld, const T* Z, \
                                          const T* Y, const T* SW, T* D) {          \
    double loss = 0.0;                                                              \
    int k, j;                                                                       \
    if (SW == NULL) {                                                               \
        DNN_OUTPUT_LOOPS(T, EXP, LOG, LOG1P, DNN_AS_IS, DNN_AS_IS,                  \
                         dnn_sm_exps_##S##_##ISA, DNN_SM_LANES_##S##_##ISA)          \
    } else {                                                                        \
        DNN_OUTPUT_LOOPS(T, EXP, LOG, LOG1P, DNN_WEIGH_T, DNN_WEIGH_D,              \
                         dnn_sm_exps_##S##_##ISA, DNN_SM_LANES_##S##_##ISA)          \
    }                                                                               \
    return loss;                                                                    \
}                                                                                   \
/* db[r] = scale * (row r of D's sum, in double, in column order) */               \
static ATTR void dnn_rowsums_##S##_##ISA(int R, int m, const T* D, int ld, T* db, double scale) { \
    int r, j;                                                                       \
    for (r = 0; r < R; r++) {                                                       \
        double s = 0.0;                                                             \
        for (j = 0; j < m; j++) s += D[(ptrdiff_t) r * ld + j];                     \
        db[r] = (T) (scale * s);                                                    \
    }                                                                               \
}                                                                                   \
                                                                                    \
/* sum of squares in double, 32 partial sums (the L2 cost's): q[k] sums        */ \
/* elements k mod 32, so the compiler may keep q in vectors, four chains of     */ \
/* adds where one would wait on its own latency (a pointer per step of 32, not  */ \
/* int indices it cannot prove contiguous); the n mod 32 last elements go to    */ \
/* q[0], q[1], ...; then a fixed tree: the same sums in any build.               */ \
static ATTR double dnn_sumsq_##S##_##ISA(int n, const T* p) {                       \
    double q[32] = {0};                                                             \
    const T* end32 = p + (n - n % 32);                                              \
    int k;                                                                          \
    for (; p < end32; p += 32)                                                      \
        for (k = 0; k < 32; k++) q[k] += (double) p[k] * p[k];                      \
    for (k = 0; k < n % 32; k++) q[k] += (double) p[k] * p[k];                      \
    for (k = 0; k < 8; k++) q[k] = (q[k] + q[k + 16]) + (q[k + 8] + q[k + 24]);     \
    return ((q[0] + q[4]) + (q[1] + q[5])) + ((q[2] + q[6]) + (q[3] + q[7]));       \
}                                                                                   \
                                                                                    \
/* ---- optimizers: one pass over p (n) with gradient g (+ lam p), state v, s. */   \
/* The operations and their order are dnn.optimizers' (float32 rounds as     */     \
/* NumPy does), but Adam's two bias corrections, which multiply by the       */     \
/* reciprocal (one division per element, not three: rounding differs).       */     \
DNN_OPT(gd, T, S, ISA, ATTR, SQRT,                                                  \
        p[i] = p[i] - gi * lr;)                                                     \
DNN_OPT(momentum, T, S, ISA, ATTR, SQRT,                                            \
        v[i] = v[i] * beta + gi * c_beta;                                           \
        p[i] = p[i] - v[i] * lr;)                                                   \
/* scikit-learn's: u = momentum u - lr g; p += u (heavy ball) */                    \
/* or p += momentum u - lr g (Nesterov). */                                         \
DNN_OPT(heavy_ball, T, S, ISA, ATTR, SQRT,                                          \
        v[i] = v[i] * beta - gi * lr;                                               \
        p[i] = p[i] + v[i];)                                                        \
DNN_OPT(nesterov, T, S, ISA, ATTR, SQRT,                                            \
        const T step = gi * lr;                                                     \
        v[i] = v[i] * beta - step;                                                  \
        p[i] = p[i] + (v[i] * beta - step);)                                        \
DNN_OPT(rmsprop, T, S, ISA, ATTR, SQRT,                                             \
        s[i] = s[i] * beta2 + (gi * gi) * c_beta2;                                  \
        p[i] = p[i] - (gi * lr) / (SQRT(s[i]) + eps);)                              \
DNN_OPT(adam, T, S, ISA, ATTR, SQRT,                                                \
        v[i] = v[i] * beta1 + gi * c_beta1;                                         \
        s[i] = s[i] * beta2 + (gi * gi) * c_beta2;                                  \
        p[i] = p[i] - ((v[i] * r_bias1) * lr) / (SQRT(s[i] * r_bias2) + eps);)      \
                                                                                    \

DNN_LOOP_KERNELS(double, d, base, , exp, log, log1p, tanh, sqrt)
DNN_LOOP_KERNELS(float, f, base, , expf, logf, log1pf, tanhf, sqrtf)
#if DNN_HAS_X86_BUILDS
DNN_LOOP_KERNELS(double, d, avx2, DNN_TARGET_AVX2, exp, log, log1p, tanh, sqrt)
DNN_LOOP_KERNELS(float, f, avx2, DNN_TARGET_AVX2, expf, logf, log1pf, tanhf, sqrtf)
DNN_LOOP_KERNELS(double, d, avx512, DNN_TARGET_AVX512, exp, log, log1p, tanh, sqrt)
DNN_LOOP_KERNELS(float, f, avx512, DNN_TARGET_AVX512, expf, logf, log1pf, tanhf, sqrtf)
#endif

/* ---------------------------------------------------------------------- */
/* The tables, one per instruction set (the level of dnn/_simd.h's dispatch:
   0 baseline, 1 AVX2 + FMA, 2 AVX-512). Adding an activation or an optimizer
   is one kernel above and one entry here (and its name in dnn/_loop.pyx's
   ACTIVATIONS / OPTIMIZERS, the same order). */
typedef void (*dnn_fwd_d)(int, int, double*, int, const double*);
typedef void (*dnn_fwd_f)(int, int, float*, int, const float*);
typedef void (*dnn_bwd_d)(int, int, double*, int, const double*, int, double*, double);
typedef void (*dnn_bwd_f)(int, int, float*, int, const float*, int, float*, double);
/* in_nn: ``nn``'s epilogue applies the forward (after the bias) with these flags (DNN_NN_RELU),
   0 if it cannot: our products then take the bias and the activation in registers, no pass of
   its own (the same operations on each element: the same bits as fwd after the product). */
typedef struct { dnn_fwd_d fwd_d; dnn_fwd_f fwd_f; dnn_bwd_d bwd_d; dnn_bwd_f bwd_f; int in_nn; } dnn_act;

typedef void (*dnn_upd_d)(int, double*, const double*, double*, double*, const dnn_opt*, double*);
typedef void (*dnn_upd_f)(int, float*, const float*, float*, float*, const dnn_opt*, double*);
typedef struct { dnn_upd_d d; dnn_upd_f f; } dnn_update;

typedef struct {
    dnn_act acts[DNN_ACT_COUNT];
    dnn_update opts[DNN_OPT_COUNT];
    void (*dropout_fwd_d)(int, int, int, int, const double*, double*, unsigned char*, double, uint64_t);
    void (*dropout_fwd_f)(int, int, int, int, const float*, float*, unsigned char*, double, uint64_t);
    void (*dropout_bwd_d)(int, double*, const unsigned char*, double);
    void (*dropout_bwd_f)(int, float*, const unsigned char*, double);
    double (*output_d)(int, int, int, int, int, const double*, const double*, const double*, double*);
    double (*output_f)(int, int, int, int, int, const float*, const float*, const float*, float*);
    void (*rowsums_d)(int, int, const double*, int, double*, double);
    void (*rowsums_f)(int, int, const float*, int, float*, double);
    double (*sumsq_d)(int, const double*);
    double (*sumsq_f)(int, const float*);
} dnn_loop_table;

#define DNN_LOOP_TABLE(I) {                                                          \
    {{dnn_relu_fwd_d_##I, dnn_relu_fwd_f_##I, dnn_relu_bwd_d_##I, dnn_relu_bwd_f_##I, \
      DNN_NN_RELU},                                                                 \
     {dnn_tanh_fwd_d_##I, dnn_tanh_fwd_f_##I, dnn_tanh_bwd_d_##I, dnn_tanh_bwd_f_##I, 0}, \
     {dnn_leaky_fwd_d_##I, dnn_leaky_fwd_f_##I, dnn_leaky_bwd_d_##I,                 \
      dnn_leaky_bwd_f_##I, 0}},                                                     \
    {{dnn_opt_gd_d_##I, dnn_opt_gd_f_##I},                                          \
     {dnn_opt_momentum_d_##I, dnn_opt_momentum_f_##I},                              \
     {dnn_opt_heavy_ball_d_##I, dnn_opt_heavy_ball_f_##I},                          \
     {dnn_opt_nesterov_d_##I, dnn_opt_nesterov_f_##I},                              \
     {dnn_opt_rmsprop_d_##I, dnn_opt_rmsprop_f_##I},                                \
     {dnn_opt_adam_d_##I, dnn_opt_adam_f_##I}},                                     \
    dnn_dropout_fwd_d_##I, dnn_dropout_fwd_f_##I,                                   \
    dnn_dropout_bwd_d_##I, dnn_dropout_bwd_f_##I,                                   \
    dnn_output_d_##I, dnn_output_f_##I, dnn_rowsums_d_##I, dnn_rowsums_f_##I,       \
    dnn_sumsq_d_##I, dnn_sumsq_f_##I }

static const dnn_loop_table dnn_loop_tables[] = {
    DNN_LOOP_TABLE(base),
#if DNN_HAS_X86_BUILDS
    DNN_LOOP_TABLE(avx2),
    DNN_LOOP_TABLE(avx512),
#endif
};

/* The table of the kernels dnn/_simd.h's dispatch uses now. */
DNN_INLINE const dnn_loop_table* dnn_loop_kernels(void) {
    return &dnn_loop_tables[dnn_simd_level];
}

/* ---------------------------------------------------------------------- */
/* The wide first layer (dnn/_loop.pyx's ``_wide_forward`` and
   ``_wide_backward``): products with the batch's rows of X read in place
   through a table of row pointers (``rows[k]``: example k's row), so no
   copy of the batch is made. Both run on a block of features [off, off + F)
   that the caller keeps small enough for L2.
   - ``wide_dot``:  Z[r, k] (+)= sum_f W[r, f] rows[k][off + f] for r < R,
     k < K (W already offset to the block, row stride ldw): register blocks
     of WR rows x WK examples of vector sums along f, their lanes then added
     in double (as ``nt``), the last f < LANES in double after them;
   - ``wide_axpy``: G[r, f] := alpha * sum_k D[r, k] rows[k][off + f] for
     r < R, f < F: register blocks of AR rows x AV vectors along f, k in
     order (as ``nn``), the last f < LANES one at a time, k in order.
   A build's sums run in its own order: results agree to rounding across
   builds and bit for bit on one machine. */
#if DNN_VECTOR_EXT

/* How far ahead (bytes) ``wide_axpy`` prefetches each row; one prefetch per 64-byte line. */
#define DNN_WIDE_AHEAD 1024
#define DNN_WIDE_PREFETCH(p, bytes)                                                 \
    do {                                                                            \
        const char* p_ = (const char*) (p);                                         \
        int b_;                                                                     \
        for (b_ = 0; b_ < (bytes); b_ += 64) __builtin_prefetch(p_ + b_);           \
    } while (0)

#define DNN_WIDE_DOT_BLOCK(T, S, ISA, ATTR, V, LANES, NAME, NR_, NK_)              \
DNN_INLINE ATTR void dnn_wide_dot_##S##_##ISA##_##NAME(int r0, int k0, int F,       \
        const T* W, int ldw, const T* const* rows, int off, int add, T* Z, int ldz,  \
        int ahead, int nrg) {                                                       \
    V acc[NR_][NK_], w[NR_], x, zero = {0};                                         \
    const T* xr[NK_];                                                               \
    const T* pr[NK_];                                                               \
    int i, q, f, ft;                                                                \
    /* ahead = 1 + i (i < nrg): prefetch, into L2, line i of every nrg of the */    \
    /* next NK_ rows' block: the nrg blocks of rows of W that run on these     */   \
    /* examples spread the requests over their passes (0: none)                */   \
    DNN_UNROLL for (q = 0; q < NK_; q++) pr[q] = ahead ? rows[k0 + NK_ + q] + off : NULL; \
    DNN_UNROLL for (q = 0; q < NK_; q++) xr[q] = rows[k0 + q] + off;                \
    DNN_UNROLL for (i = 0; i < NR_; i++)                                            \
        DNN_UNROLL for (q = 0; q < NK_; q++) acc[i][q] = zero;                      \
    for (f = 0; f <= F - LANES; f += LANES) {                                       \
        if (ahead && (f * (int) sizeof(T)) % 64 == 0                                \
                && (f * (int) sizeof(T) / 64) % nrg == ahead - 1)                   \
            DNN_UNROLL for (q = 0; q < NK_; q++) __builtin_prefetch(pr[q] + f, 0, 2); \
        DNN_UNROLL for (i = 0; i < NR_; i++)                                        \
            memcpy(&w[i], W + (ptrdiff_t) (r0 + i) * ldw + f, sizeof(V));           \
        DNN_UNROLL for (q = 0; q < NK_; q++) {                                      \
            memcpy(&x, xr[q] + f, sizeof(V));                                       \
            DNN_UNROLL for (i = 0; i < NR_; i++) acc[i][q] += w[i] * x;             \
        }                                                                           \
    }                                                                               \
    DNN_UNROLL for (i = 0; i < NR_; i++)                                            \
        DNN_UNROLL for (q = 0; q < NK_; q++) {                                      \
            const T* wr = W + (ptrdiff_t) (r0 + i) * ldw;                           \
            T* z = Z + (ptrdiff_t) (r0 + i) * ldz + k0 + q;                         \
            double sum = dnn_hsum_##S##_##ISA(acc[i][q]);                           \
            for (ft = f; ft < F; ft++) sum += (double) wr[ft] * xr[q][ft];          \
            *z = add ? *z + (T) sum : (T) sum;                                      \
        }                                                                           \
}

#define DNN_WIDE_AXPY_BLOCK(T, S, ISA, ATTR, V, LANES, NAME, NR_, NV_)             \
DNN_INLINE ATTR void dnn_wide_axpy_##S##_##ISA##_##NAME(int r0, int f0, int K,      \
        T alpha, const T* D, int ldd, const T* const* rows, int off, T* G, int ldg) {\
    V acc[NR_][NV_], x[NV_], c, zero = {0};                                         \
    int i, v, k;                                                                    \
    DNN_UNROLL for (i = 0; i < NR_; i++)                                            \
        DNN_UNROLL for (v = 0; v < NV_; v++) acc[i][v] = zero;                      \
    for (k = 0; k < K; k++) {                                                       \
        const T* xr = rows[k] + off + f0;                                           \
        DNN_UNROLL for (v = 0; v < NV_; v++) memcpy(&x[v], xr + v * LANES, sizeof(V)); \
        DNN_UNROLL for (i = 0; i < NR_; i++) {                                      \
            const T d = D[(ptrdiff_t) (r0 + i) * ldd + k];                          \
            DNN_UNROLL for (v = 0; v < NV_; v++) acc[i][v] += d * x[v];             \
        }                                                                           \
    }                                                                               \
    DNN_UNROLL for (i = 0; i < NR_; i++)                                            \
        DNN_UNROLL for (v = 0; v < NV_; v++) {                                      \
            c = acc[i][v] * alpha;                                                  \
            memcpy(G + (ptrdiff_t) (r0 + i) * ldg + f0 + v * LANES, &c, sizeof(V)); \
        }                                                                           \
}

#define DNN_WIDE_KERNELS(T, S, ISA, ATTR, V, LANES, WR, WK, AR, AV)                 \
DNN_WIDE_DOT_BLOCK(T, S, ISA, ATTR, V, LANES, big, WR, WK)                          \
DNN_WIDE_DOT_BLOCK(T, S, ISA, ATTR, V, LANES, rows, WR, 1)                          \
DNN_WIDE_DOT_BLOCK(T, S, ISA, ATTR, V, LANES, cols, 1, WK)                          \
DNN_WIDE_DOT_BLOCK(T, S, ISA, ATTR, V, LANES, one, 1, 1)                            \
DNN_WIDE_AXPY_BLOCK(T, S, ISA, ATTR, V, LANES, big, AR, AV)                         \
DNN_WIDE_AXPY_BLOCK(T, S, ISA, ATTR, V, LANES, rows, AR, 1)                         \
DNN_WIDE_AXPY_BLOCK(T, S, ISA, ATTR, V, LANES, cols, 1, AV)                         \
DNN_WIDE_AXPY_BLOCK(T, S, ISA, ATTR, V, LANES, one, 1, 1)                           \
static ATTR void dnn_wide_dot_##S##_##ISA(int R, int K, int F, const T* W, int ldw, \
        const T* const* rows, int off, int add, T* Z, int ldz) {                    \
    int r = 0, k;                                                                   \
    /* examples outer: a block of WK rows of X is read from memory once, */         \
    /* then from L1 for every block of rows of W */                                 \
    for (k = 0; k + WK <= K; k += WK) {                                             \
        /* the blocks of rows of W share out the prefetch of the next */            \
        /* examples' rows: block i asks for line i of every R / WR */               \
        for (r = 0; r + WR <= R; r += WR)                                           \
            dnn_wide_dot_##S##_##ISA##_big(r, k, F, W, ldw, rows, off, add, Z, ldz,  \
                                           k + 2 * WK <= K ? 1 + r / WR : 0, R / WR); \
        for (; r < R; r++)                                                          \
            dnn_wide_dot_##S##_##ISA##_cols(r, k, F, W, ldw, rows, off, add, Z, ldz, 0, 1); \
    }                                                                               \
    for (; k < K; k++) {                                                            \
        for (r = 0; r + WR <= R; r += WR)                                           \
            dnn_wide_dot_##S##_##ISA##_rows(r, k, F, W, ldw, rows, off, add, Z, ldz, 0, 1); \
        for (; r < R; r++)                                                          \
            dnn_wide_dot_##S##_##ISA##_one(r, k, F, W, ldw, rows, off, add, Z, ldz, 0, 1); \
    }                                                                               \
}                                                                                   \
static ATTR void dnn_wide_axpy_##S##_##ISA(int R, int K, int F, T alpha, const T* D, \
        int ldd, const T* const* rows, int off, int rowlen, T* G, int ldg) {        \
    int r, f = 0, k, ft;                                                            \
    for (; f <= F - AV * LANES; f += AV * LANES) {                                  \
        /* 64 rows read a few lines at a time are too many streams for the */       \
        /* hardware's prefetcher: ask for the lines DNN_WIDE_AHEAD ahead */          \
        /* (into the next block: rowlen elements follow rows[k] + off; 0: none). */ \
        if (f + DNN_WIDE_AHEAD / (int) sizeof(T) + AV * LANES <= rowlen)            \
            for (k = 0; k < K; k++)                                                 \
                DNN_WIDE_PREFETCH(rows[k] + off + f + DNN_WIDE_AHEAD / (int) sizeof(T), \
                                  AV * LANES * (int) sizeof(T));                     \
        for (r = 0; r + AR <= R; r += AR)                                           \
            dnn_wide_axpy_##S##_##ISA##_big(r, f, K, alpha, D, ldd, rows, off, G, ldg); \
        for (; r < R; r++)                                                          \
            dnn_wide_axpy_##S##_##ISA##_cols(r, f, K, alpha, D, ldd, rows, off, G, ldg); \
    }                                                                               \
    for (; f <= F - LANES; f += LANES) {                                            \
        for (r = 0; r + AR <= R; r += AR)                                           \
            dnn_wide_axpy_##S##_##ISA##_rows(r, f, K, alpha, D, ldd, rows, off, G, ldg); \
        for (; r < R; r++)                                                          \
            dnn_wide_axpy_##S##_##ISA##_one(r, f, K, alpha, D, ldd, rows, off, G, ldg); \
    }                                                                               \
    for (r = 0; r < R; r++)                                                         \
        for (ft = f; ft < F; ft++) {                                                \
            T sum = 0;                                                              \
            for (k = 0; k < K; k++) sum += D[(ptrdiff_t) r * ldd + k] * rows[k][off + ft]; \
            G[(ptrdiff_t) r * ldg + ft] = sum * alpha;                              \
        }                                                                           \
}

DNN_WIDE_KERNELS(double, d, base, , dnn_v2d, 2, 2, 4, 3, 3)
DNN_WIDE_KERNELS(float, f, base, , dnn_v4f, 4, 2, 4, 3, 3)
#if DNN_HAS_X86_BUILDS
DNN_WIDE_KERNELS(double, d, avx2, DNN_TARGET_AVX2, dnn_v4d, 4, 2, 4, 3, 3)
DNN_WIDE_KERNELS(float, f, avx2, DNN_TARGET_AVX2, dnn_v8f, 8, 2, 4, 3, 3)
DNN_WIDE_KERNELS(double, d, avx512, DNN_TARGET_AVX512, dnn_v8d, 8, 4, 4, 5, 4)
DNN_WIDE_KERNELS(float, f, avx512, DNN_TARGET_AVX512, dnn_v16f, 16, 4, 4, 5, 4)
#endif

#else  /* !DNN_VECTOR_EXT: plain C, the same sums (dot: in double; axpy: in T, k in order) */

#define DNN_WIDE_KERNELS(T, S)                                                      \
static void dnn_wide_dot_##S##_base(int R, int K, int F, const T* W, int ldw,       \
        const T* const* rows, int off, int add, T* Z, int ldz) {                    \
    int r, k, f;                                                                    \
    for (k = 0; k < K; k++)                                                         \
        for (r = 0; r < R; r++) {                                                   \
            const T* wr = W + (ptrdiff_t) r * ldw;                                  \
            const T* xr = rows[k] + off;                                            \
            T* z = Z + (ptrdiff_t) r * ldz + k;                                     \
            double sum = 0.0;                                                       \
            for (f = 0; f < F; f++) sum += (double) wr[f] * xr[f];                  \
            *z = add ? *z + (T) sum : (T) sum;                                      \
        }                                                                           \
}                                                                                   \
static void dnn_wide_axpy_##S##_base(int R, int K, int F, T alpha, const T* D,      \
        int ldd, const T* const* rows, int off, int rowlen, T* G, int ldg) {        \
    int r, k, f;                                                                    \
    (void) rowlen;                                                                  \
    for (r = 0; r < R; r++) {                                                       \
        T* g = G + (ptrdiff_t) r * ldg;                                             \
        for (f = 0; f < F; f++) g[f] = 0;                                           \
        for (k = 0; k < K; k++) {                                                   \
            const T d = D[(ptrdiff_t) r * ldd + k];                                 \
            const T* xr = rows[k] + off;                                            \
            for (f = 0; f < F; f++) g[f] += d * xr[f];                              \
        }                                                                           \
        for (f = 0; f < F; f++) g[f] = g[f] * alpha;                                \
    }                                                                               \
}
DNN_WIDE_KERNELS(double, d)
DNN_WIDE_KERNELS(float, f)

#endif  /* DNN_VECTOR_EXT */

typedef struct {
    void (*dot_d)(int, int, int, const double*, int, const double* const*, int, int, double*, int);
    void (*dot_f)(int, int, int, const float*, int, const float* const*, int, int, float*, int);
    void (*axpy_d)(int, int, int, double, const double*, int, const double* const*, int, int, double*, int);
    void (*axpy_f)(int, int, int, float, const float*, int, const float* const*, int, int, float*, int);
} dnn_wide_table;

#define DNN_WIDE_TABLE(I) {dnn_wide_dot_d_##I, dnn_wide_dot_f_##I, dnn_wide_axpy_d_##I, dnn_wide_axpy_f_##I}

static const dnn_wide_table dnn_wide_tables[] = {
    DNN_WIDE_TABLE(base),
#if DNN_HAS_X86_BUILDS
    DNN_WIDE_TABLE(avx2),
    DNN_WIDE_TABLE(avx512),
#endif
};

/* The wide layer's kernels of the build dnn/_simd.h's dispatch uses now. */
DNN_INLINE const dnn_wide_table* dnn_wide_kernels(void) {
    return &dnn_wide_tables[dnn_simd_level];
}

/* ---------------------------------------------------------------------- */
/* Ask for ``bytes`` bytes from rows[r] + off, r < n, a line at a time, into L2
   (the mini-batch gather's next rows of X: L2 keeps more misses in flight than
   L1, whose few stalled the gather; benchmarks/NOTES.md, "The mini-batch
   gather's prefetches into L2"). A hint: no effect on any number; a no-op where
   the compiler has no prefetch builtin. */
DNN_INLINE void dnn_prefetch_rows_r(const void* const* rows, int n, size_t off, size_t bytes) {
#if defined(__GNUC__) || defined(__clang__)
    int r;
    size_t b;
    for (r = 0; r < n; r++)
        for (b = 0; b < bytes; b += 64) __builtin_prefetch((const char*) rows[r] + off + b, 0, 2);
#else
    (void) rows; (void) n; (void) off; (void) bytes;
#endif
}

/* ---------------------------------------------------------------------- */
/* X held as 8-bit codes (dnn/_loop.pyx's ``_wide_codes``): pictures scaled to
   k / 255, or whole numbers 0 .. 255, read from an eighth (float64) or a
   quarter (float32) of X's bytes, each block of the batch's rows decoded into
   the L2 buffer the products read.
   - ``decode``: out[i] := the value of code c[i]: k / d to the nearest, by one
     correction step of k (1 / d): q = k rd, out = q + (k - d q) rd, both in
     fused multiply-adds (the residual k - d q is then exact);
   - ``encode``: codes[i] := the code whose decoded value has x[i]'s bits,
     k = x d rounded; returns n if every element has one (else fewer: where
     the search stopped).
   The loops take codes only where ``encode`` found every element: the decoded
   X is X bit for bit, so every sum is the same as from X itself. ``decode``
   is the same operations in every build; where the build has no fused
   multiply-add of its own (x86-64's baseline, MSVC) libm's is slow (and not
   exact in every C runtime), and the loops do not use codes
   (``dnn_codes_fast``); dnn/_loop.pyx's ``_encode`` also checks that the
   scalar tail decodes every code as the vectors do before it takes codes. */
/* one element, and the baseline's loop (the compiler vectorizes it where it can) */
#define DNN_DECODE_ONE(T, FMA, c, d, rd, out)                                       \
    do {                                                                            \
        const T k_ = (T) (c), q_ = k_ * (rd);                                       \
        (out) = FMA(FMA(-q_, d, k_), rd, q_);                                       \
    } while (0)
static void dnn_decode_d_base(int n, const unsigned char* c, double d, double rd, double* out) {
    int i;
    for (i = 0; i < n; i++) DNN_DECODE_ONE(double, fma, c[i], d, rd, out[i]);
}
static void dnn_decode_f_base(int n, const unsigned char* c, float d, float rd, float* out) {
    int i;
    for (i = 0; i < n; i++) DNN_DECODE_ONE(float, fmaf, c[i], d, rd, out[i]);
}
#if DNN_HAS_X86_BUILDS
/* x86-64: the vectors in intrinsics (a fused multiply-add the compiler cannot leave unfused,
   and faster than its own vectorization of the loop above: benchmarks/NOTES.md, "X as 8-bit
   codes"), the rest as above */
#include <immintrin.h>
#define DNN_DECODE_X86(T, S, ISA, ATTR, FMA, LANES, V, LOAD, SET1, MUL, FNMADD, FMADD, STORE) \
static ATTR void dnn_decode_##S##_##ISA(int n, const unsigned char* c, T d, T rd, T* out) { \
    const V vd = SET1(d), vr = SET1(rd);                                            \
    int i = 0;                                                                      \
    for (; i <= n - LANES; i += LANES) {                                            \
        const V k = LOAD(c + i), q = MUL(k, vr);                                    \
        STORE(out + i, FMADD(FNMADD(q, vd, k), vr, q));                             \
    }                                                                               \
    for (; i < n; i++) DNN_DECODE_ONE(T, FMA, c[i], d, rd, out[i]);                 \
}
DNN_INLINE DNN_TARGET_AVX2 __m256d dnn_u8x4_pd(const unsigned char* c) {
    int w;
    memcpy(&w, c, 4);
    return _mm256_cvtepi32_pd(_mm_cvtepu8_epi32(_mm_cvtsi32_si128(w)));
}
DNN_INLINE DNN_TARGET_AVX2 __m256 dnn_u8x8_ps(const unsigned char* c) {
    return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i*) c)));
}
DNN_INLINE DNN_TARGET_AVX512 __m512d dnn_u8x8_pd(const unsigned char* c) {
    return _mm512_cvtepi32_pd(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i*) c)));
}
DNN_INLINE DNN_TARGET_AVX512 __m512 dnn_u8x16_ps(const unsigned char* c) {
    return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i*) c)));
}
DNN_DECODE_X86(double, d, avx2, DNN_TARGET_AVX2, fma, 4, __m256d, dnn_u8x4_pd, _mm256_set1_pd,
               _mm256_mul_pd, _mm256_fnmadd_pd, _mm256_fmadd_pd, _mm256_storeu_pd)
DNN_DECODE_X86(float, f, avx2, DNN_TARGET_AVX2, fmaf, 8, __m256, dnn_u8x8_ps, _mm256_set1_ps,
               _mm256_mul_ps, _mm256_fnmadd_ps, _mm256_fmadd_ps, _mm256_storeu_ps)
DNN_DECODE_X86(double, d, avx512, DNN_TARGET_AVX512, fma, 8, __m512d, dnn_u8x8_pd, _mm512_set1_pd,
               _mm512_mul_pd, _mm512_fnmadd_pd, _mm512_fmadd_pd, _mm512_storeu_pd)
DNN_DECODE_X86(float, f, avx512, DNN_TARGET_AVX512, fmaf, 16, __m512, dnn_u8x16_ps, _mm512_set1_ps,
               _mm512_mul_ps, _mm512_fnmadd_ps, _mm512_fmadd_ps, _mm512_storeu_ps)
#endif

/* ``encode``, by pieces of 256 elements: their codes (k = x d rounded, held to
   0 .. 255: a NaN, an infinity or a value out of range then decodes to some
   other value), the piece decoded (``decode``, tmp) and compared with X's bits
   (-0.0 is not 0.0). A loop the compiler vectorizes: no branch per element. */
/* ``encode`` asks for the piece this many elements ahead (a hint: benchmarks/NOTES.md, "X as
   8-bit codes") */
#define DNN_ENCODE_AHEAD 2048
#define DNN_ENCODE(T, S, ISA, ATTR)                                                 \
static ATTR size_t dnn_encode_##S##_##ISA(size_t n, const T* x, T d, T rd, unsigned char* codes, T* tmp) { \
    size_t i0, i, len;                                                              \
    for (i0 = 0; i0 < n; i0 += len) {                                               \
        len = n - i0 < 256 ? n - i0 : 256;                                          \
        if (n - i0 >= DNN_ENCODE_AHEAD + 256) {  /* a pointer within X */           \
            const void* ahead_ = x + i0 + DNN_ENCODE_AHEAD;                         \
            dnn_prefetch_rows_r(&ahead_, 1, 0, 256 * sizeof(T));                    \
        }                                                                           \
        for (i = 0; i < len; i++) {                                                 \
            T k = x[i0 + i] * d + (T) 0.5;                                          \
            k = k > (T) 0 ? k : (T) 0;  /* NaN: 0 */                                \
            k = k < (T) 255 ? k : (T) 255;                                          \
            codes[i0 + i] = (unsigned char) (int) k;                                \
        }                                                                           \
        dnn_decode_##S##_##ISA((int) len, codes + i0, d, rd, tmp);                  \
        if (memcmp(tmp, x + i0, len * sizeof(T)) != 0) return i0;                   \
    }                                                                               \
    return n;                                                                       \
}
#define DNN_ENCODE_BOTH(ISA, ATTR) DNN_ENCODE(double, d, ISA, ATTR) DNN_ENCODE(float, f, ISA, ATTR)
DNN_ENCODE_BOTH(base, )
#if DNN_HAS_X86_BUILDS
DNN_ENCODE_BOTH(avx2, DNN_TARGET_AVX2)
DNN_ENCODE_BOTH(avx512, DNN_TARGET_AVX512)
#endif

typedef struct {
    void (*decode_d)(int, const unsigned char*, double, double, double*);
    void (*decode_f)(int, const unsigned char*, float, float, float*);
    size_t (*encode_d)(size_t, const double*, double, double, unsigned char*, double*);
    size_t (*encode_f)(size_t, const float*, float, float, unsigned char*, float*);
} dnn_codes_table;

#define DNN_CODES_TABLE(I) {dnn_decode_d_##I, dnn_decode_f_##I, dnn_encode_d_##I, dnn_encode_f_##I}
static const dnn_codes_table dnn_codes_tables[] = {
    DNN_CODES_TABLE(base),
#if DNN_HAS_X86_BUILDS
    DNN_CODES_TABLE(avx2),
    DNN_CODES_TABLE(avx512),
#endif
};

DNN_INLINE const dnn_codes_table* dnn_codes_kernels(void) {
    return &dnn_codes_tables[dnn_simd_level];
}

/* Whether the build in use decodes with the CPU's own fused multiply-add:
   x86-64's AVX2 and AVX-512 builds, or a baseline compiled with one (arm64). */
#if DNN_VECTOR_EXT && (defined(__FMA__) || defined(__ARM_FEATURE_FMA) || defined(__aarch64__))
#define DNN_CODES_BASELINE_FMA 1
#else
#define DNN_CODES_BASELINE_FMA 0
#endif
DNN_INLINE int dnn_codes_fast(void) {
    return DNN_CODES_BASELINE_FMA || (DNN_HAS_X86_BUILDS && dnn_simd_level >= 1);
}

/* ---------------------------------------------------------------------- */
/* The Loop's team: dnn/_team.h. */
#include "_team.h"

/* Share ``i`` of ``size`` shares [*lo, *hi) of n items: whole pieces of
   ``unit`` items, the rest of n with the last piece (so every share but an
   empty one has at least ``unit`` items: a kernel never takes its short path
   on a share where one thread's call would not), shares in order. */
DNN_INLINE void dnn_share(int n, int i, int size, int unit, int* lo, int* hi) {
    int units = n / unit, per = (units + size - 1) / size, a, b;
    if (units == 0) {  /* fewer than one piece: member 0 takes them */
        *lo = i == 0 ? 0 : n;
        *hi = n;
        return;
    }
    a = i * per < units ? i * per : units;
    b = a + per < units ? a + per : units;
    *lo = a == b ? n : a * unit;
    *hi = a == b || b == units ? n : b * unit;
}

#endif  /* DNN_LOOP_H */

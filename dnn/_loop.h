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
     dZ_L = A_L - Y (the same closed form for all three) and db_L, and returns
     the batch's summed loss computed stably from Z_L.
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

static inline uint64_t dnn_splitmix(uint64_t state, uint64_t k) {
    uint64_t z = state + k * DNN_GOLDEN;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* The key of (seed, layer, iteration); row i's key is dnn_splitmix(key, i + 1). */
static inline uint64_t dnn_dropout_key(uint64_t seed, uint64_t layer, uint64_t iteration) {
    return dnn_splitmix(dnn_splitmix(seed, layer + 1), iteration + 1);
}

/* The uniform [0, 1) number of element (i, j) given row i's key. */
static inline double dnn_dropout_u(uint64_t row_key, int j) {
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

#define DNN_LOOP_KERNELS(T, S, EXP, LOG, LOG1P, TANH, SQRT)                          \
                                                                                    \
/* ---- hidden activations: forward C := act(C + bias), backward from A ---- */    \
static void dnn_relu_fwd_##S(int R, int m, T* C, int ldc, const T* bias) {          \
    dnn_simd->bias_act_##S(R, m, C, ldc, bias, 1);                                  \
}                                                                                   \
static void dnn_relu_bwd_##S(int R, int m, T* D, int ldd, const T* A, int lda,      \
                             T* db, double scale) {                                 \
    dnn_simd->relu_backward_##S(R, m, D, ldd, A, lda, db, scale);                   \
}                                                                                   \
static void dnn_tanh_fwd_##S(int R, int m, T* C, int ldc, const T* bias) {          \
    int r, j;                                                                       \
    for (r = 0; r < R; r++) {                                                       \
        T* c = C + (ptrdiff_t) r * ldc;                                             \
        for (j = 0; j < m; j++) c[j] = TANH(c[j] + bias[r]);                        \
    }                                                                               \
}                                                                                   \
static void dnn_tanh_bwd_##S(int R, int m, T* D, int ldd, const T* A, int lda,      \
                             T* db, double scale) {                                 \
    int r, j;                                                                       \
    for (r = 0; r < R; r++) {                                                       \
        T* d = D + (ptrdiff_t) r * ldd;                                             \
        const T* a = A + (ptrdiff_t) r * lda;                                       \
        double s = 0.0;                                                             \
        for (j = 0; j < m; j++) {                                                   \
            d[j] = ((T) 1 - a[j] * a[j]) * d[j];                                    \
            s += d[j];                                                              \
        }                                                                           \
        db[r] = (T) (scale * s);                                                    \
    }                                                                               \
}                                                                                   \
static void dnn_leaky_fwd_##S(int R, int m, T* C, int ldc, const T* bias) {         \
    const T slope = (T) DNN_LEAKY_SLOPE;                                            \
    int r, j;                                                                       \
    for (r = 0; r < R; r++) {                                                       \
        T* c = C + (ptrdiff_t) r * ldc;                                             \
        for (j = 0; j < m; j++) {                                                   \
            T z = c[j] + bias[r];                                                   \
            c[j] = z > 0 ? z : z * slope;                                           \
        }                                                                           \
    }                                                                               \
}                                                                                   \
static void dnn_leaky_bwd_##S(int R, int m, T* D, int ldd, const T* A, int lda,     \
                              T* db, double scale) {                                \
    const T slope = (T) DNN_LEAKY_SLOPE;                                            \
    int r, j;                                                                       \
    for (r = 0; r < R; r++) {                                                       \
        T* d = D + (ptrdiff_t) r * ldd;                                             \
        const T* a = A + (ptrdiff_t) r * lda;                                       \
        double s = 0.0;                                                             \
        for (j = 0; j < m; j++) {                                                   \
            d[j] = a[j] > 0 ? d[j] : d[j] * slope;                                  \
            s += d[j];                                                              \
        }                                                                           \
        db[r] = (T) (scale * s);                                                    \
    }                                                                               \
}                                                                                   \
                                                                                    \
/* ---- dropout: H := mask ? A / keep : 0 (mask drawn); D := mask ? D / keep : 0 */ \
static void dnn_dropout_fwd_##S(int R, int m, const T* A, T* H, unsigned char* M,   \
                                double keep, uint64_t key) {                        \
    const T k = (T) keep;                                                           \
    int r, j;                                                                       \
    for (r = 0; r < R; r++) {                                                       \
        uint64_t row = dnn_splitmix(key, (uint64_t) r + 1);                         \
        const T* a = A + (ptrdiff_t) r * m;                                         \
        T* h = H + (ptrdiff_t) r * m;                                               \
        unsigned char* mk = M + (ptrdiff_t) r * m;                                  \
        for (j = 0; j < m; j++) {                                                   \
            mk[j] = dnn_dropout_u(row, j) < keep;                                   \
            h[j] = mk[j] ? a[j] / k : (T) 0;                                        \
        }                                                                           \
    }                                                                               \
}                                                                                   \
static void dnn_dropout_bwd_##S(int n, T* D, const unsigned char* M, double keep) { \
    const T k = (T) keep;                                                           \
    int i;                                                                          \
    for (i = 0; i < n; i++) D[i] = M[i] ? D[i] / k : (T) 0;                         \
}                                                                                   \
                                                                                    \
/* ---- the output layer: Z (K, m) -> D = A - Y, db = scale * row sums; */          \
/* returns the summed loss. Y is the batch's (m, K) samples-major block. */         \
static double dnn_output_##S(int kind, int K, int m, const T* Z, const T* Y,        \
                             T* D, T* db, double scale) {                           \
    double loss = 0.0;                                                              \
    int k, j;                                                                       \
    if (kind == DNN_OUT_SOFTMAX) {                                                  \
        for (j = 0; j < m; j++) {                                                   \
            T mx = Z[j], sum = 0, lse;                                              \
            for (k = 1; k < K; k++)                                                 \
                if (Z[(ptrdiff_t) k * m + j] > mx) mx = Z[(ptrdiff_t) k * m + j];   \
            for (k = 0; k < K; k++) {                                               \
                T e = EXP(Z[(ptrdiff_t) k * m + j] - mx);                           \
                D[(ptrdiff_t) k * m + j] = e;                                       \
                sum += e;                                                           \
            }                                                                       \
            lse = LOG(sum);                                                         \
            for (k = 0; k < K; k++) {                                               \
                T y = Y[(ptrdiff_t) j * K + k];                                     \
                T* d = D + (ptrdiff_t) k * m + j;                                   \
                *d = *d / sum - y;                                                  \
                if (y != 0) loss -= (double) (y * ((Z[(ptrdiff_t) k * m + j] - mx) - lse)); \
            }                                                                       \
        }                                                                           \
    } else {                                                                        \
        for (k = 0; k < K; k++)                                                     \
            for (j = 0; j < m; j++) {                                               \
                T z = Z[(ptrdiff_t) k * m + j], y = Y[(ptrdiff_t) j * K + k], a;    \
                if (kind == DNN_OUT_SIGMOID) {                                      \
                    a = (T) 1 / ((T) 1 + EXP(-z));                                  \
                    loss += (double) ((LOG1P(EXP(-(z > 0 ? z : -z))) + (z > 0 ? z : 0)) \
                                      - z * y);                                     \
                } else {                                                            \
                    a = z;                                                          \
                    loss += 0.5 * (double) (a - y) * (double) (a - y);              \
                }                                                                   \
                D[(ptrdiff_t) k * m + j] = a - y;                                   \
            }                                                                       \
    }                                                                               \
    for (k = 0; k < K; k++) {                                                       \
        double s = 0.0;                                                             \
        for (j = 0; j < m; j++) s += D[(ptrdiff_t) k * m + j];                      \
        db[k] = (T) (scale * s);                                                    \
    }                                                                               \
    return loss;                                                                    \
}                                                                                   \
                                                                                    \
/* ---- optimizers: one pass over p (n) with gradient g (+ lam p), state v, s; */   \
/* sumsq (if not NULL) += the new p's squares. The operations and their order */    \
/* are dnn.optimizers' (so float32 rounds as NumPy does). */                        \
static void dnn_opt_gd_##S(int n, T* p, const T* g, T* v, T* s, const dnn_opt* o,   \
                           double* sumsq) {                                         \
    const T lr = (T) o->lr, lam = (T) o->lam;                                       \
    double q = 0.0;                                                                 \
    int i;                                                                          \
    (void) v; (void) s;                                                             \
    for (i = 0; i < n; i++) {                                                       \
        T gi = lam != 0 ? g[i] + p[i] * lam : g[i];                                 \
        p[i] = p[i] - gi * lr;                                                      \
        q += (double) p[i] * p[i];                                                  \
    }                                                                               \
    if (sumsq) *sumsq += q;                                                         \
}                                                                                   \
static void dnn_opt_momentum_##S(int n, T* p, const T* g, T* v, T* s,               \
                                 const dnn_opt* o, double* sumsq) {                 \
    const T lr = (T) o->lr, lam = (T) o->lam, b = (T) o->beta;                      \
    const T b1 = (T) (1 - o->beta);                                                 \
    double q = 0.0;                                                                 \
    int i;                                                                          \
    (void) s;                                                                       \
    for (i = 0; i < n; i++) {                                                       \
        T gi = lam != 0 ? g[i] + p[i] * lam : g[i];                                 \
        v[i] = v[i] * b + gi * b1;                                                  \
        p[i] = p[i] - v[i] * lr;                                                    \
        q += (double) p[i] * p[i];                                                  \
    }                                                                               \
    if (sumsq) *sumsq += q;                                                         \
}                                                                                   \
/* scikit-learn's: u = momentum u - lr g; p += u (heavy ball) */                    \
/* or p += momentum u - lr g (Nesterov). */                                         \
static void dnn_opt_heavy_ball_##S(int n, T* p, const T* g, T* v, T* s,             \
                                   const dnn_opt* o, double* sumsq) {               \
    const T lr = (T) o->lr, lam = (T) o->lam, mu = (T) o->beta;                     \
    double q = 0.0;                                                                 \
    int i;                                                                          \
    (void) s;                                                                       \
    for (i = 0; i < n; i++) {                                                       \
        T gi = lam != 0 ? g[i] + p[i] * lam : g[i];                                 \
        v[i] = v[i] * mu - gi * lr;                                                 \
        p[i] = p[i] + v[i];                                                         \
        q += (double) p[i] * p[i];                                                  \
    }                                                                               \
    if (sumsq) *sumsq += q;                                                         \
}                                                                                   \
static void dnn_opt_nesterov_##S(int n, T* p, const T* g, T* v, T* s,               \
                                 const dnn_opt* o, double* sumsq) {                 \
    const T lr = (T) o->lr, lam = (T) o->lam, mu = (T) o->beta;                     \
    double q = 0.0;                                                                 \
    int i;                                                                          \
    (void) s;                                                                       \
    for (i = 0; i < n; i++) {                                                       \
        T gi = lam != 0 ? g[i] + p[i] * lam : g[i];                                 \
        T step = gi * lr;                                                           \
        v[i] = v[i] * mu - step;                                                    \
        p[i] = p[i] + (v[i] * mu - step);                                           \
        q += (double) p[i] * p[i];                                                  \
    }                                                                               \
    if (sumsq) *sumsq += q;                                                         \
}                                                                                   \
static void dnn_opt_rmsprop_##S(int n, T* p, const T* g, T* v, T* s,                \
                                const dnn_opt* o, double* sumsq) {                  \
    const T lr = (T) o->lr, lam = (T) o->lam, b2 = (T) o->beta2;                    \
    const T c2 = (T) (1 - o->beta2), eps = (T) o->eps;                              \
    double q = 0.0;                                                                 \
    int i;                                                                          \
    (void) v;                                                                       \
    for (i = 0; i < n; i++) {                                                       \
        T gi = lam != 0 ? g[i] + p[i] * lam : g[i];                                 \
        s[i] = s[i] * b2 + (gi * gi) * c2;                                          \
        p[i] = p[i] - (gi * lr) / (SQRT(s[i]) + eps);                               \
        q += (double) p[i] * p[i];                                                  \
    }                                                                               \
    if (sumsq) *sumsq += q;                                                         \
}                                                                                   \
static void dnn_opt_adam_##S(int n, T* p, const T* g, T* v, T* s, const dnn_opt* o, \
                             double* sumsq) {                                       \
    const T lr = (T) o->lr, lam = (T) o->lam, b1 = (T) o->beta1;                    \
    const T c1 = (T) (1 - o->beta1), b2 = (T) o->beta2, c2 = (T) (1 - o->beta2);    \
    const T eps = (T) o->eps, bias1 = (T) o->bias1, bias2 = (T) o->bias2;           \
    double q = 0.0;                                                                 \
    int i;                                                                          \
    for (i = 0; i < n; i++) {                                                       \
        T gi = lam != 0 ? g[i] + p[i] * lam : g[i];                                 \
        v[i] = v[i] * b1 + gi * c1;                                                 \
        s[i] = s[i] * b2 + (gi * gi) * c2;                                          \
        p[i] = p[i] - ((v[i] / bias1) * lr) / (SQRT(s[i] / bias2) + eps);           \
        q += (double) p[i] * p[i];                                                  \
    }                                                                               \
    if (sumsq) *sumsq += q;                                                         \
}

DNN_LOOP_KERNELS(double, d, exp, log, log1p, tanh, sqrt)
DNN_LOOP_KERNELS(float, f, expf, logf, log1pf, tanhf, sqrtf)

/* ---------------------------------------------------------------------- */
/* The tables: adding an activation or an optimizer is one kernel above and
   one row here (and its name in dnn/_loop.pyx's ACTIVATIONS / OPTIMIZERS). */
typedef void (*dnn_fwd_d)(int, int, double*, int, const double*);
typedef void (*dnn_fwd_f)(int, int, float*, int, const float*);
typedef void (*dnn_bwd_d)(int, int, double*, int, const double*, int, double*, double);
typedef void (*dnn_bwd_f)(int, int, float*, int, const float*, int, float*, double);
typedef struct { dnn_fwd_d fwd_d; dnn_fwd_f fwd_f; dnn_bwd_d bwd_d; dnn_bwd_f bwd_f; } dnn_act;

static const dnn_act dnn_acts[DNN_ACT_COUNT] = {
    {dnn_relu_fwd_d, dnn_relu_fwd_f, dnn_relu_bwd_d, dnn_relu_bwd_f},
    {dnn_tanh_fwd_d, dnn_tanh_fwd_f, dnn_tanh_bwd_d, dnn_tanh_bwd_f},
    {dnn_leaky_fwd_d, dnn_leaky_fwd_f, dnn_leaky_bwd_d, dnn_leaky_bwd_f},
};

typedef void (*dnn_upd_d)(int, double*, const double*, double*, double*, const dnn_opt*, double*);
typedef void (*dnn_upd_f)(int, float*, const float*, float*, float*, const dnn_opt*, double*);
typedef struct { dnn_upd_d d; dnn_upd_f f; } dnn_update;

static const dnn_update dnn_opts[DNN_OPT_COUNT] = {
    {dnn_opt_gd_d, dnn_opt_gd_f},
    {dnn_opt_momentum_d, dnn_opt_momentum_f},
    {dnn_opt_heavy_ball_d, dnn_opt_heavy_ball_f},
    {dnn_opt_nesterov_d, dnn_opt_nesterov_f},
    {dnn_opt_rmsprop_d, dnn_opt_rmsprop_f},
    {dnn_opt_adam_d, dnn_opt_adam_f},
};

#endif  /* DNN_LOOP_H */

/* A stand-alone check of dnn's C headers (dnn/_simd.h, dnn/_platform.h),
   without Python: every kernel of every build this CPU runs against plain
   double-precision loops, on sizes around the vector widths and block sizes,
   and the threads, barrier, gate and clock. tests/test_portable_c.py compiles
   it with the host's compiler (vector extensions on and off), MinGW-w64 and
   aarch64 cross compilers, and runs what the machine can run (qemu for
   arm64). Prints one line per failure and "ok ..." at the end; exit status 0
   when everything passed. */
#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>

#include "_simd.h"
#include "_platform.h"
#include "_numpy_gemm.h"

static int failures = 0;
static long checks = 0;
static unsigned long long rng_state = 88172645463325252ULL;

static double uniform(void) {  /* xorshift64, in [-1, 1) */
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double) (rng_state >> 11) / 4503599627370496.0 - 1.0;
}

static void check(int ok, const char* what, int level, int a, int b, int c, double err) {
    checks++;
    if (!ok) {
        failures++;
        if (failures <= 20)
            printf("FAIL %s level %d sizes %d %d %d error %g\n", what, level, a, b, c, err);
    }
}

/* |got - want| <= tol * scale, where scale bounds the sum of |terms|. */
#define CLOSE(got, want, scale, tol) (fabs((double) (got) - (want)) <= (tol) * ((scale) + 1e-300))

#define CHECK_TYPE(T, S, TOL)                                                            \
static void check_##S(int level, int R, int K, int m) {                                 \
    T *M = malloc(sizeof(T) * R * K), *B = malloc(sizeof(T) * K * m);                    \
    T *C = malloc(sizeof(T) * R * m), *bias = malloc(sizeof(T) * R);                     \
    T *D = malloc(sizeof(T) * R * m), *A = malloc(sizeof(T) * K * m);                    \
    T *W = malloc(sizeof(T) * R * K), *W0 = malloc(sizeof(T) * R * K);                   \
    T *H = malloc(sizeof(T) * R * m), *db = malloc(sizeof(T) * R);                       \
    T *Z = malloc(sizeof(T) * m), *Y = malloc(sizeof(T) * m), *G = malloc(sizeof(T) * m);\
    int r, k, j, relu, add;                                                              \
    double s, sa, sum;                                                                   \
    const T alpha = (T) -0.37;                                                           \
    for (j = 0; j < R * K; j++) { M[j] = (T) uniform(); W0[j] = (T) uniform(); }         \
    for (j = 0; j < K * m; j++) { B[j] = (T) uniform(); A[j] = (T) uniform(); }          \
    for (j = 0; j < R * m; j++) { D[j] = (T) uniform(); H[j] = (T) uniform(); }          \
    for (r = 0; r < R; r++) bias[r] = (T) uniform();                                     \
    for (j = 0; j < m; j++) { Z[j] = (T) (40 * uniform()); Y[j] = (T) (uniform() > 0); } \
    for (relu = 0; relu < 2; relu++) {  /* nn: C = M B + bias (relu) */                  \
        dnn_simd->nn_##S(R, K, m, M, K, 1, B, m, C, m, bias, relu, NULL);                      \
        for (r = 0; r < R; r++) for (j = 0; j < m; j++) {                                \
            s = bias[r]; sa = fabs((double) bias[r]);                                    \
            for (k = 0; k < K; k++) {                                                    \
                s += (double) M[r * K + k] * B[k * m + j];                               \
                sa += fabs((double) M[r * K + k] * B[k * m + j]);                        \
            }                                                                            \
            if (relu && s < 0) s = 0;                                                    \
            check(CLOSE(C[r * m + j], s, sa, TOL), "nn_" #S, level, R, K, m, s - C[r * m + j]); \
        }                                                                                \
    }                                                                                    \
    /* nn's parts, as dnn/_kernels.pyx shares it out: rows, or columns from a multiple  \
       of 16, give the same bits as the whole call */                                    \
    if (m > 16 && R > 1) {                                                               \
        dnn_simd->nn_##S(R, K, m, M, K, 1, B, m, C, m, bias, 1, NULL);                         \
        dnn_simd->nn_##S(R / 2, K, m, M, K, 1, B, m, H, m, bias, 1, NULL);                     \
        dnn_simd->nn_##S(R - R / 2, K, m, M + (R / 2) * K, K, 1, B, m, H + (R / 2) * m, m, \
                         bias + R / 2, 1, NULL);                                               \
        check(!memcmp(C, H, sizeof(T) * R * m), "nn_rows_" #S, level, R, K, m, 0);       \
        dnn_simd->nn_##S(R, K, 16, M, K, 1, B, m, H, m, bias, 1, NULL);                        \
        dnn_simd->nn_##S(R, K, m - 16, M, K, 1, B + 16, m, H + 16, m, bias, 1, NULL);          \
        check(!memcmp(C, H, sizeof(T) * R * m), "nn_cols_" #S, level, R, K, m, 0);       \
        for (j = 0; j < R * m; j++) H[j] = (T) uniform();                                \
    }                                                                                    \
    /* nn with a scratch buffer (a training loop's): the bits of the call without */  \
    {                                                                                    \
        void* scratch = malloc(DNN_NN_SCRATCH_BYTES);                                    \
        dnn_simd->nn_##S(R, K, m, M, K, 1, B, m, C, m, bias, 1, NULL);                   \
        dnn_simd->nn_##S(R, K, m, M, K, 1, B, m, H, m, bias, 1, scratch);                \
        check(!memcmp(C, H, sizeof(T) * R * m), "nn_scratch_" #S, level, R, K, m, 0);    \
        free(scratch);                                                                   \
    }                                                                                    \
    for (j = 0; j < R * m; j++) H[j] = (T) uniform();                                    \
    /* nn with DNN_NN_OUT (stored past the cache where the build can): the bits of  \
       the plain call, whole and in row parts, bias and relu on */                      \
    dnn_simd->nn_##S(R, K, m, M, K, 1, B, m, C, m, bias, 1, NULL);                             \
    dnn_simd->nn_##S(R, K, m, M, K, 1, B, m, H, m, bias, 1 | DNN_NN_OUT, NULL);                \
    check(!memcmp(C, H, sizeof(T) * R * m), "nn_out_" #S, level, R, K, m, 0);            \
    if (R > 1) {                                                                         \
        dnn_simd->nn_##S(R / 2, K, m, M, K, 1, B, m, H, m, bias, 1 | DNN_NN_OUT, NULL);         \
        dnn_simd->nn_##S(R - R / 2, K, m, M + (R / 2) * K, K, 1, B, m, H + (R / 2) * m, m, \
                         bias + R / 2, 1 | DNN_NN_OUT, NULL);                                  \
        check(!memcmp(C, H, sizeof(T) * R * m), "nn_out_rows_" #S, level, R, K, m, 0);   \
    }                                                                                    \
    for (j = 0; j < R * m; j++) H[j] = (T) uniform();                                    \
    /* nn through the transpose: C (R, m) = M^T B with M read as (K, R)^T */             \
    if (R == K) {                                                                        \
        dnn_simd->nn_##S(R, K, m, M, 1, R, B, m, C, m, NULL, 0, NULL);                         \
        for (r = 0; r < R; r++) for (j = 0; j < m; j++) {                                \
            s = 0; sa = 0;                                                               \
            for (k = 0; k < K; k++) {                                                    \
                s += (double) M[k * R + r] * B[k * m + j];                               \
                sa += fabs((double) M[k * R + r] * B[k * m + j]);                        \
            }                                                                            \
            check(CLOSE(C[r * m + j], s, sa, TOL), "nn^T_" #S, level, R, K, m, s - C[r * m + j]); \
        }                                                                                \
    }                                                                                    \
    for (add = 0; add < 2; add++) {  /* nn_acc: C = alpha M B (+ C) */                   \
        for (j = 0; j < R * m; j++) C[j] = (T) (j % 7) - 3;                              \
        dnn_simd->nn_acc_##S(R, K, m, alpha, M, K, 1, B, m, add, C, m);                  \
        for (r = 0; r < R; r++) for (j = 0; j < m; j++) {                                \
            s = add ? (double) ((r * m + j) % 7) - 3 : 0; sa = fabs(s);                  \
            for (k = 0; k < K; k++) {                                                    \
                s += alpha * (double) M[r * K + k] * B[k * m + j];                       \
                sa += fabs(alpha * (double) M[r * K + k] * B[k * m + j]);                \
            }                                                                            \
            check(CLOSE(C[r * m + j], s, sa, TOL), "nn_acc_" #S, level, R, K, m, s - C[r * m + j]); \
        }                                                                                \
    }                                                                                    \
    for (add = 0; add < 2; add++) {  /* nt: W = alpha D A^T (+ W) */                     \
        memcpy(W, W0, sizeof(T) * R * K);                                                \
        dnn_simd->nt_##S(R, K, m, alpha, D, m, A, m, add, W, K);                         \
        for (r = 0; r < R; r++) for (k = 0; k < K; k++) {                                \
            s = add ? W0[r * K + k] : 0; sa = fabs(s);                                   \
            for (j = 0; j < m; j++) {                                                    \
                s += alpha * (double) D[r * m + j] * A[k * m + j];                       \
                sa += fabs(alpha * (double) D[r * m + j] * A[k * m + j]);                \
            }                                                                            \
            check(CLOSE(W[r * K + k], s, sa, TOL), "nt_" #S, level, R, K, m, s - W[r * K + k]); \
        }                                                                                \
        /* the same bits for a row and a column computed alone (other blocks) */         \
        for (r = 0; r < R; r++) for (k = 0; k < K; k++) {                                \
            T w1 = W0[r * K + k];                                                        \
            dnn_simd->nt_##S(1, 1, m, alpha, D + r * m, m, A + k * m, m, add, &w1, 1);   \
            check(w1 == W[r * K + k], "nt_" #S " element alone", level, R, K, m,          \
                  (double) (w1 - W[r * K + k]));                                         \
        }                                                                                \
    }                                                                                    \
    for (relu = 0; relu < 2; relu++) {  /* bias_act */                                   \
        memcpy(C, D, sizeof(T) * R * m);                                                 \
        dnn_simd->bias_act_##S(R, m, C, m, bias, relu);                                  \
        for (r = 0; r < R; r++) for (j = 0; j < m; j++) {                                \
            T want = (T) (D[r * m + j] + bias[r]);                                       \
            if (relu && !(want > 0)) want = 0;                                           \
            check(C[r * m + j] == want, "bias_act_" #S, level, R, m, relu,               \
                  (double) (C[r * m + j] - want));                                       \
        }                                                                                \
    }                                                                                    \
    memcpy(C, D, sizeof(T) * R * m);  /* relu_backward */                                \
    dnn_simd->relu_backward_##S(R, m, C, m, H, m, C, m, db, 0.5);                        \
    for (r = 0; r < R; r++) {                                                            \
        s = 0; sa = 0;                                                                   \
        for (j = 0; j < m; j++) {                                                        \
            T want = H[r * m + j] > 0 ? D[r * m + j] : 0;                                \
            check(C[r * m + j] == want, "relu_backward_" #S, level, R, m, j, 0);         \
            s += want; sa += fabs((double) want);                                        \
        }                                                                                \
        check(CLOSE(db[r], 0.5 * s, 0.5 * sa, TOL), "relu_backward_db_" #S, level, R, m, r, \
              0.5 * s - db[r]);                                                          \
    }                                                                                    \
    for (add = 0; add < 2; add++) {  /* output_grad: sigmoid(Z) - Y, and its sum */      \
        sum = dnn_simd->output_grad_##S(m, Z, add ? Y : NULL, G);                        \
        s = 0;                                                                           \
        for (j = 0; j < m; j++) {                                                        \
            double want = 1.0 / (1.0 + exp(-(double) Z[j])) - (add ? Y[j] : 0);          \
            check(CLOSE(G[j], want, 1.0, 4 * TOL), "output_grad_" #S, level, m, j, add,  \
                  want - G[j]);                                                          \
            s += G[j];                                                                   \
        }                                                                                \
        check(CLOSE(sum, s, m, TOL), "output_grad_sum_" #S, level, m, add, 0, s - sum);  \
    }                                                                                    \
    for (j = -1; j < m; j++) {  /* nonfinite, relu_checked: Z finite, then a nan or inf at j */ \
        T keep = j >= 0 ? Z[j] : 0;                                                      \
        int i2;                                                                          \
        if (j >= 0) Z[j] = (T) (j % 3 == 0 ? NAN : j % 3 == 1 ? INFINITY : -INFINITY);   \
        check(dnn_simd->nonfinite_##S(m, Z) == (j >= 0), "nonfinite_" #S, level, m, j, 0, 0); \
        check(dnn_simd->relu_checked_##S(m, Z, G) == (j >= 0), "relu_checked_bad_" #S, level, m, j, 0, 0); \
        for (i2 = 0; i2 < m; i2++)                                                       \
            check(i2 == j || G[i2] == (Z[i2] > 0 ? Z[i2] : 0), "relu_checked_" #S, level, m, i2, j, 0); \
        if (j >= 0) Z[j] = keep;                                                         \
    }                                                                                    \
    free(M); free(B); free(C); free(bias); free(D); free(A); free(W); free(W0);          \
    free(H); free(db); free(Z); free(Y); free(G);                                        \
}

CHECK_TYPE(double, d, 1e-14)
CHECK_TYPE(float, f, 2e-6)

/* ---- threads: every round, each thread writes its slot, meets the
   others at the barrier, checks every slot, and meets them again ---- */

#define NT 4
#define ROUNDS 300
static dnn_barrier barrier;
static dnn_gate gate;
static volatile int slots[NT];
static int thread_errors[NT];
typedef struct { int t; } member;

static void* run_member(void* arg) {
    int t = ((member*) arg)->t, i, u;
    dnn_gate_wait(&gate);
    for (i = 1; i <= ROUNDS; i++) {
        slots[t] = i;
        dnn_barrier_wait(&barrier);
        for (u = 0; u < NT; u++) thread_errors[t] += slots[u] != i;
        dnn_barrier_wait(&barrier);
    }
    return NULL;
}

static void check_threads(void) {
    dnn_threads th;
    member members[NT];
    int t, errors = 0;
    double t0 = dnn_now(), t1;
    th.started = 0;
    check(dnn_gate_init(&gate) == 0, "gate_init", 0, 0, 0, 0, 0);
    check(dnn_barrier_init(&barrier, NT) == 0, "barrier_init", 0, 0, 0, 0, 0);
    for (t = 0; t < NT; t++) members[t].t = t;
    for (t = 1; t < NT; t++)
        check(dnn_threads_start(&th, run_member, &members[t]) == 0, "threads_start", t, 0, 0, 0, 0);
    dnn_gate_open(&gate);
    run_member(&members[0]);
    dnn_threads_join(&th);
    for (t = 0; t < NT; t++) errors += thread_errors[t];
    check(errors == 0 && th.started == 0, "barrier", NT, ROUNDS, errors, 0, errors);
    dnn_barrier_destroy(&barrier);
    dnn_gate_destroy(&gate);
    t1 = dnn_now();
    check(t1 >= t0 && t1 - t0 < 60, "dnn_now", 0, 0, 0, 0, t1 - t0);
}

/* ReLU on special values: every kernel that applies relu (nn's epilogue,
   bias_act, relu_backward; vector lanes and tails) gives the bits of the one
   scalar definition (dnn_relu_*, dnn_relu_grad_*): -0 -> +0, nan stays nan
   forward, a nan z gives 0 backward. */
#define CHECK_RELU(T, S)                                                                 \
static void check_relu_##S(int level) {                                                 \
    enum { n = 37 };  /* vector blocks of every width, and a tail */                     \
    const T special[] = {(T) NAN, (T) -0.0, (T) 0.0, (T) -1.5, (T) 2.5,                  \
                         (T) INFINITY, (T) -INFINITY, (T) 1e-30};                        \
    T z[n], d[n], c[n], g[n], one = 1, zero = 0;                                         \
    int j, ok;                                                                           \
    for (j = 0; j < n; j++) { z[j] = special[(j * 5) % 8]; d[j] = (T) (j + 1); }        \
    memcpy(c, z, sizeof c);                                                              \
    dnn_simd->bias_act_##S(1, n, c, n, &zero, 1);                                        \
    for (j = 0, ok = 1; j < n; j++) {                                                    \
        T want = dnn_relu_##S(z[j] + zero);                                              \
        ok &= memcmp(&c[j], &want, sizeof(T)) == 0;                                      \
    }                                                                                    \
    check(ok && isnan(c[0]) && !signbit(c[1]), "relu_special_bias_act_" #S, level, n, 0, 0, 0); \
    dnn_simd->nn_##S(1, 1, n, &one, 1, 1, z, n, c, n, &zero, 1, NULL);                         \
    for (j = 0, ok = 1; j < n; j++) {                                                    \
        T want = dnn_relu_##S(one * z[j] + zero);                                        \
        ok &= memcmp(&c[j], &want, sizeof(T)) == 0;                                      \
    }                                                                                    \
    check(ok, "relu_special_nn_" #S, level, n, 0, 0, 0);                                 \
    dnn_simd->relu_backward_##S(1, n, d, n, z, n, g, n, NULL, 1.0);                      \
    for (j = 0, ok = 1; j < n; j++) {                                                    \
        T want = dnn_relu_grad_##S(d[j], z[j]);                                          \
        ok &= memcmp(&g[j], &want, sizeof(T)) == 0;                                      \
    }                                                                                    \
    check(ok && g[0] == 0, "relu_special_backward_" #S, level, n, 0, 0, 0);              \
}
CHECK_RELU(double, d)
CHECK_RELU(float, f)

/* dnn/_numpy_gemm.h: a call reaches the set cblas gemm with its arguments (row-major, the
   transposes as cblas's codes), in both int widths; unset, it reports 0 (SciPy's BLAS then). */
static int np_calls;
static int np_args[7];
static void fake_dgemm32(int order, int ta, int tb, int m, int n, int k, double alpha, const double* A,
                         int lda, const double* B, int ldb, double beta, double* C, int ldc) {
    (void) alpha; (void) A; (void) B; (void) beta; (void) C;
    np_calls++;
    np_args[0] = order; np_args[1] = ta; np_args[2] = tb; np_args[3] = m; np_args[4] = n;
    np_args[5] = k; np_args[6] = lda + ldb + ldc;
}
static void fake_sgemm64(int order, int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha,
                         const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
                         int64_t ldc) {
    (void) alpha; (void) A; (void) B; (void) beta; (void) C;
    np_calls += 10;
    np_args[0] = order; np_args[1] = ta; np_args[2] = tb; np_args[3] = (int) m; np_args[4] = (int) n;
    np_args[5] = (int) k; np_args[6] = (int) (lda + ldb + ldc);
}

static void check_numpy_gemm(void) {
    double d = 0;
    float f = 0;
    dnn_npgemm_set(0, 0, 0);
    check(!dnn_npgemm_is_set() && !dnn_npgemm_d(0, 0, 1, 1, 1, 1, &d, 1, &d, 1, 0, &d, 1) && np_calls == 0,
          "numpy gemm unset", 0, 0, 0, 0, 0);
    dnn_npgemm_set((void*) fake_dgemm32, (void*) fake_dgemm32, 0);
    check(dnn_npgemm_is_set() && dnn_npgemm_d(1, 0, 2, 3, 4, 1, &d, 5, &d, 6, 0, &d, 7) && np_calls == 1
          && np_args[0] == 101 && np_args[1] == 112 && np_args[2] == 111 && np_args[3] == 2
          && np_args[4] == 3 && np_args[5] == 4 && np_args[6] == 18, "numpy dgemm, 32-bit ints", 0, 2, 3, 4, 0);
    dnn_npgemm_set((void*) fake_dgemm32, (void*) fake_sgemm64, 1);
    check(dnn_npgemm_s(0, 1, 5, 6, 7, 1, &f, 1, &f, 2, 0, &f, 3) && np_calls == 11 && np_args[1] == 111
          && np_args[2] == 112 && np_args[3] == 5 && np_args[5] == 7 && np_args[6] == 6,
          "numpy sgemm, 64-bit ints", 0, 5, 6, 7, 0);
    dnn_npgemm_set((void*) fake_dgemm32, 0, 0);  /* half a pair: neither */
    check(!dnn_npgemm_is_set() && !dnn_npgemm_s(0, 0, 1, 1, 1, 1, &f, 1, &f, 1, 0, &f, 1) && np_calls == 11,
          "numpy gemm, half a pair", 0, 0, 0, 0, 0);
}

int main(void) {
    static const int sizes[][3] = {
        {1, 1, 1}, {1, 3, 7}, {2, 2, 2}, {3, 5, 17}, {4, 4, 31}, {5, 7, 33},
        {7, 7, 64}, {6, 9, 65}, {9, 9, 100}, {13, 11, 129}, {16, 16, 200}, {1, 40, 257},
        /* B large, K long or B's rows far apart: where a build packs B (dnn_nn_packs) */
        {20, 520, 130}, {7, 1100, 3}, {13, 520, 130}, {1, 520, 17}, {7, 1030, 130},
        {3, 64, 4100}, {2, 65, 8200}, {3, 300, 4100},
        /* C of 1 MiB or more in both dtypes: where DNN_NN_OUT stores past the cache */
        {3000, 3, 100},
    };
    /* CPUID and XCR0 as CPUs and OSes give them, and the level each must get */
    enum { FMA = 1 << 12, OSXSAVE = 1 << 27, AVX = 1 << 28, AVX2 = 1 << 5, F = 1 << 16, DQ = 1 << 17 };
    static const struct { unsigned int ecx1, ebx7; unsigned long long xcr0; int lazy, want; } cpus[] = {
        {FMA | OSXSAVE | AVX, AVX2 | F | DQ, 0xe7, 0, 2},   /* AVX-512, saved */
        {FMA | OSXSAVE | AVX, AVX2 | F | DQ, 0x2e7, 0, 2},  /* and more state saved */
        {FMA | OSXSAVE | AVX, AVX2 | F | DQ, 0x07, 0, 1},   /* AVX-512 not saved (an OS or VM) */
        {FMA | OSXSAVE | AVX, AVX2 | F | DQ, 0x67, 0, 1},   /* ZMM's upper 16 not saved */
        {FMA | OSXSAVE | AVX, AVX2 | F | DQ, 0xc7, 0, 1},   /* the opmask not saved */
        {FMA | OSXSAVE | AVX, AVX2 | F | DQ, 0xa7, 0, 1},   /* ZMM's upper halves not saved */
        {FMA | OSXSAVE | AVX, AVX2 | F | DQ, 0x07, 1, 2},   /* macOS: saved from first use */
        {FMA | OSXSAVE | AVX, AVX2 | F, 0xe7, 0, 1},        /* no DQ (Knights Landing) */
        {FMA | OSXSAVE | AVX, AVX2 | DQ, 0xe7, 0, 1},
        {FMA | OSXSAVE | AVX, AVX2, 0x07, 0, 1},            /* AVX2 + FMA */
        {FMA | OSXSAVE | AVX, AVX2, 0x03, 0, 0},            /* AVX state not saved */
        {FMA | OSXSAVE | AVX, AVX2 | F | DQ, 0x03, 1, 0},
        {FMA | OSXSAVE | AVX, AVX2, 0x05, 0, 0},
        {OSXSAVE | AVX, AVX2 | F | DQ, 0xe7, 0, 0},         /* no FMA */
        {FMA | AVX, AVX2 | F | DQ, 0xe7, 0, 0},             /* no OSXSAVE */
        {FMA | OSXSAVE, AVX2 | F | DQ, 0xe7, 0, 0},         /* no AVX */
        {FMA | OSXSAVE | AVX, F | DQ, 0xe7, 0, 0},          /* no AVX2 */
        {FMA | OSXSAVE | AVX, 0, 0xe7, 1, 0},               /* no leaf 7 */
        {0, 0, 0, 0, 0},
    };
    int level, i, top = dnn_simd_use(DNN_SIMD_TOP);
    for (i = 0; i < (int) (sizeof cpus / sizeof cpus[0]); i++)
        check(dnn_simd_level_of(cpus[i].ecx1, cpus[i].ebx7, cpus[i].xcr0, cpus[i].lazy) == cpus[i].want,
              "dnn_simd_level_of", cpus[i].want, i, 0, 0, 0);
#if DNN_HAS_X86_BUILDS && defined(__GNUC__) && !defined(__clang__) && !defined(__APPLE__)
    /* GCC's run-time library has a CPU model (libgcc): the level read from CPUID and
       XCR0 must be the one it gives, where CPUID lists AVX (libgcc takes AVX2 and FMA
       from XCR0 without it, as a VM hiding AVX alone may show; Intel's manual, LLVM
       and Linux want it) and not on macOS (AVX-512's lazy state, which libgcc does
       not take) */
    {
        unsigned int r[4];
        dnn_cpuid(1, 0, r);
        if (r[2] & AVX) {
            __builtin_cpu_init();
            level = !__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma") ? 0
                    : !__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512dq") ? 1 : 2;
            check(dnn_simd_cpu_level() == level, "dnn_simd_cpu_level against libgcc's", level, 0, 0, 0, 0);
        }
    }
#endif
    for (level = 0; level <= top; level++) {
        check(dnn_simd_use(level) == level, "dnn_simd_use", level, 0, 0, 0, 0);
        for (i = 0; i < (int) (sizeof sizes / sizeof sizes[0]); i++) {
            check_d(level, sizes[i][0], sizes[i][1], sizes[i][2]);
            check_f(level, sizes[i][0], sizes[i][1], sizes[i][2]);
        }
        check_relu_d(level);
        check_relu_f(level);
    }
    check_threads();
    check_numpy_gemm();
    printf("%s %ld checks, builds 0..%d of %d, baseline %s, vector extensions %d\n",
           failures ? "FAILED" : "ok", checks, top, DNN_SIMD_TOP, DNN_SIMD_BASE_NAME,
           DNN_VECTOR_EXT);
    return failures != 0;
}

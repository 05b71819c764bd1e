/* The cat pictures' wide first layer in C, without Python: what benchmarks/NOTES.md's
   "Buffers on a cache line" measured. Built and run by benchmarks/wide_layer_c.py (which
   passes the package's compiler flags); POSIX only (clock_gettime, posix_memalign, madvise).

   wide_layer epoch OFFSET X_OFFSET [EPOCHS]
       One float64 epoch of layer 1 as dnn/_loop.pyx runs it on one thread (209 rows of
       12288 features, batches of 64 in a shuffled order, blocks of 512 features: wide_dot
       forward; per block the gather into an L2 buffer, wide_axpy, Adam per row), with dnn's
       buffers (W, v, s, the gradient block, the gathered block) OFFSET bytes past a cache
       line and X X_OFFSET bytes past one. Prints ms per epoch: forward, backward, both.
   wide_layer rates ROWS [REPEATS]
       GF/s of wide_dot and wide_axpy (float64, 20 rows of W, blocks of 512, batches of 64)
       over ROWS rows of X (ROWS x 12288 doubles on 2 MB pages): 64-128 rows stay in L3,
       384 and more come from memory.
   wide_layer adam [N]
       ns per element of the Adam kernel and of plain GD over N (512) elements in L1. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include "_loop.h"

#define N0 12288
#define N1 20
#define B 64
#define F 512

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

/* n bytes, zeroed, starting `offset` bytes past a cache line (2 MB pages asked for). */
static void* place(size_t n, int offset) {
    char* p = NULL;
    if (posix_memalign((void**) &p, 2 << 20, n + 64) != 0) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
#ifdef MADV_HUGEPAGE
    madvise(p, n + 64, MADV_HUGEPAGE);
#endif
    memset(p, 0, n + 64);
    return p + offset;
}

static double uniform(void) { return rand() / (double) RAND_MAX; }

static void shuffle(int* order, int m) {
    int i, j, t;
    for (i = m - 1; i > 0; i--) {
        j = rand() % (i + 1);
        t = order[i]; order[i] = order[j]; order[j] = t;
    }
}

static int epoch(int offset, int x_offset, int epochs) {
    const int m = 209;
    const dnn_wide_table* k = dnn_wide_kernels();
    const dnn_loop_table* lt = dnn_loop_kernels();
    double* X = place((size_t) 8 * m * N0, x_offset);
    double *W = place(8 * N1 * N0, offset), *v = place(8 * N1 * N0, offset), *s = place(8 * N1 * N0, offset);
    double *Z = place(8 * N1 * B, offset), *D = place(8 * N1 * B, offset);
    double *g = place(8 * N1 * F, offset), *xb = place(8 * B * F, offset);
    const double* rows[B];
    const double* xblk[B];
    int order[209], e, i, j, r, start, f0;
    dnn_opt o = {0.0003, 1e-4 / 64, 0, 0.9, 0.999, 1e-8, 0.1, 0.001};
    double t_fwd = 0, t_bwd = 0;
    for (i = 0; i < m * N0; i++) X[i] = uniform();
    for (i = 0; i < N1 * N0; i++) W[i] = (uniform() - 0.5) * 0.02;
    for (i = 0; i < N1 * B; i++) D[i] = uniform() - 0.5;
    for (j = 0; j < B; j++) xblk[j] = xb + (size_t) j * F;
    for (i = 0; i < m; i++) order[i] = i;
    for (e = 0; e < epochs + 5; e++) {
        shuffle(order, m);
        for (start = 0; start < m; start += B) {
            int bb = m - start < B ? m - start : B;
            double t0, t1;
            for (j = 0; j < bb; j++) rows[j] = X + (size_t) order[start + j] * N0;
            t0 = now();
            for (f0 = 0; f0 < N0; f0 += F) k->dot_d(N1, bb, F, W + f0, N0, rows, f0, f0 > 0, Z, bb);
            t1 = now();
            for (f0 = 0; f0 < N0; f0 += F) {
                for (j = 0; j < bb; j++) memcpy(xb + (size_t) j * F, rows[j] + f0, 8 * F);
                k->axpy_d(N1, bb, F, 1.0 / bb, D, bb, xblk, 0, F, g, F);
                for (r = 0; r < N1; r++) {
                    size_t at = (size_t) r * N0 + f0;
                    lt->opts[DNN_OPT_ADAM].d(F, W + at, g + (size_t) r * F, v + at, s + at, &o, NULL);
                }
            }
            if (e >= 5) {
                t_fwd += t1 - t0;
                t_bwd += now() - t1;
            }
        }
    }
    printf("buffers %d bytes past a line, X %d: forward %.3f, backward %.3f, layer 1 %.3f ms per epoch "
           "(W[0] %.6g)\n", offset, x_offset, 1e3 * t_fwd / epochs, 1e3 * t_bwd / epochs,
           1e3 * (t_fwd + t_bwd) / epochs, W[0]);
    return 0;
}

static int rates(int m, int repeats) {
    const dnn_wide_table* k = dnn_wide_kernels();
    double* X = place((size_t) 8 * m * N0, 0);
    double *W = place(8 * N1 * N0, 0), *Z = place(8 * N1 * B, 0), *D = place(8 * N1 * B, 0);
    double* g = place(8 * N1 * F, 0);
    const double* rows[B];
    int* order = malloc(sizeof(int) * (size_t) m);
    double t_dot = 0, t_axpy = 0, flops = 0;
    int rep, i, j, start, f0;
    for (i = 0; i < m * N0; i++) X[i] = uniform();
    for (i = 0; i < N1 * N0; i++) W[i] = uniform();
    for (i = 0; i < N1 * B; i++) D[i] = uniform();
    for (i = 0; i < m; i++) order[i] = i;
    for (rep = 0; rep < repeats + 2; rep++) {
        double t0, t1, t2;
        shuffle(order, m);
        t0 = now();
        for (start = 0; start + B <= m; start += B) {
            for (j = 0; j < B; j++) rows[j] = X + (size_t) order[start + j] * N0;
            for (f0 = 0; f0 < N0; f0 += F) k->dot_d(N1, B, F, W + f0, N0, rows, f0, f0 > 0, Z, B);
        }
        t1 = now();
        for (start = 0; start + B <= m; start += B) {
            for (j = 0; j < B; j++) rows[j] = X + (size_t) order[start + j] * N0;
            for (f0 = 0; f0 < N0; f0 += F) k->axpy_d(N1, B, F, 0.5, D, B, rows, f0, N0 - f0, g, F);
        }
        t2 = now();
        if (rep >= 2) {
            t_dot += t1 - t0;
            t_axpy += t2 - t1;
            flops += 2.0 * N1 * (m / B * B) * N0;
        }
    }
    printf("%d rows of X (%.1f MB): wide_dot %.1f GF/s, wide_axpy (rows in place) %.1f GF/s (Z[0] %.6g)\n",
           m, 8e-6 * m * N0, 1e-9 * flops / t_dot, 1e-9 * flops / t_axpy, Z[0] + g[0]);
    free(order);
    return 0;
}

static int adam(int n) {
    const dnn_loop_table* lt = dnn_loop_kernels();
    double *p = place(8 * (size_t) n, 0), *g = place(8 * (size_t) n, 0);
    double *v = place(8 * (size_t) n, 0), *s = place(8 * (size_t) n, 0);
    dnn_opt o = {0.0003, 1e-4 / 64, 0, 0.9, 0.999, 1e-8, 0.1, 0.001};
    int reps = 100000000 / n, r, i;
    double t;
    for (i = 0; i < n; i++) { p[i] = 0.01 * i; g[i] = 0.001 * (i % 7); s[i] = 1e-6; }
    t = now();
    for (r = 0; r < reps; r++) lt->opts[DNN_OPT_ADAM].d(n, p, g, v, s, &o, NULL);
    t = now() - t;
    printf("Adam: %.3f ns per element", 1e9 * t / reps / n);
    t = now();
    for (r = 0; r < reps; r++) lt->opts[DNN_OPT_GD].d(n, p, g, v, s, &o, NULL);
    t = now() - t;
    printf(", GD: %.3f ns per element (%d elements in L1; p[1] %.6g)\n", 1e9 * t / reps / n, n, p[1]);
    return 0;
}

int main(int argc, char** argv) {
    int level = dnn_simd_use(DNN_SIMD_TOP);
    printf("kernels: %s build\n", level == 2 ? "avx512" : level == 1 ? "avx2" : "baseline");
    if (argc >= 4 && strcmp(argv[1], "epoch") == 0)
        return epoch(atoi(argv[2]), atoi(argv[3]), argc > 4 ? atoi(argv[4]) : 60);
    if (argc >= 3 && strcmp(argv[1], "rates") == 0)
        return rates(atoi(argv[2]), argc > 3 ? atoi(argv[3]) : 20);
    if (argc >= 2 && strcmp(argv[1], "adam") == 0)
        return adam(argc > 2 ? atoi(argv[2]) : 512);
    fprintf(stderr, "usage: %s epoch OFFSET X_OFFSET [EPOCHS] | rates ROWS [REPEATS] | adam [N]\n", argv[0]);
    return 2;
}

/* dnn/_loop.h without Python: every optimizer, activation and output kernel of
   every build the CPU runs against plain double loops (and the wide layer's
   products and codes), and dropout's uniform
   numbers printed (tests/test_loop.py compares them with dnn.dropout's).
   Exit status 0 when every check passes. */
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "_loop.h"

static int failures = 0;

static void check(int ok, const char* what, int level) {
    if (!ok) {
        printf("FAIL %s (level %d)\n", what, level);
        failures++;
    }
}

#define N 37

/* The team: PHASES phases of CHUNKS chunks on TEAM threads; each chunk runs
   once per phase, and a phase is over (every chunk done) when run returns. */
#define TEAM 3
#define CHUNKS 7
#define PHASES 300
typedef struct { int phase; int runs[CHUNKS]; int bad; } team_ctx;

static void team_fn(void* p, int chunk) {
    team_ctx* c = (team_ctx*) p;
    if (chunk < 0 || chunk >= CHUNKS || c->runs[chunk] != c->phase) c->bad = 1;
    else c->runs[chunk]++;
}

/* Subnormal results flushed (dnn/_platform.h): each chunk multiplies two floats whose product
   is subnormal, on whichever thread takes it, under the caller's mode. */
typedef struct { volatile float a, b; int zeros, nonzeros; dnn_mutex lock; } flush_ctx;

static void flush_fn(void* p, int chunk) {
    flush_ctx* c = (flush_ctx*) p;
    float r = c->a * c->b;
    (void) chunk;
    dnn_mutex_lock(&c->lock);
    if (r == 0.0f) c->zeros++; else c->nonzeros++;
    dnn_mutex_unlock(&c->lock);
}

static void check_flush(dnn_team* team) {
    flush_ctx c;
    dnn_fpmode before;
    int round;
    memset(&c, 0, sizeof(c));
    c.a = 1e-30f;
    c.b = 1e-10f;
    check(dnn_mutex_init(&c.lock) == 0, "flush lock", 0);
    for (round = 0; round < 50; round++) {  /* the helpers' mode follows the caller's each phase */
        before = dnn_fpmode_flush();
        dnn_team_run(team, flush_fn, &c, CHUNKS);
        dnn_fpmode_take(before);
        dnn_team_run(team, flush_fn, &c, CHUNKS);
    }
    if (dnn_fpmode_flushes())
        check(c.zeros == 50 * CHUNKS && c.nonzeros == 50 * CHUNKS, "subnormals flushed under the caller's mode", 0);
    else
        check(c.zeros == 0 && c.nonzeros == 100 * CHUNKS, "subnormals kept (no mode to set)", 0);
    check(c.a * c.b != 0.0f, "the caller's mode restored", 0);
    dnn_mutex_destroy(&c.lock);
}

static void check_team(void) {
    dnn_team* team = (dnn_team*) calloc(1, sizeof(dnn_team));
    team_ctx c;
    int i, lo, hi, covered;
    memset(&c, 0, sizeof(c));
    check(team != NULL && dnn_team_init(team) == 0 && team->size == 1, "team init", 0);
    for (c.phase = 0; c.phase < PHASES; c.phase++) {
        if (c.phase == 1 || c.phase == PHASES / 2)  /* grown between phases, as dnn._kernels' pool is */
            check(dnn_team_grow(team, c.phase == 1 ? 2 : TEAM) == 0
                  && team->size == (c.phase == 1 ? 2 : TEAM), "team grow", 0);
        dnn_team_run(team, team_fn, &c, CHUNKS);
        for (i = 0; i < CHUNKS; i++)
            if (c.runs[i] != c.phase + 1) c.bad = 1;
    }
    dnn_team_run(NULL, team_fn, &c, CHUNKS);  /* no team: this thread, in order */
    check(!c.bad, "team", 0);
    for (covered = 0, i = 0; i < TEAM; i++) {  /* shares of 100 items in 16s, in order */
        dnn_share(100, i, TEAM, 16, &lo, &hi);
        check(lo == covered && hi >= lo && (hi == 100 || (hi - lo) % 16 == 0), "shares", 0);
        covered = hi;
    }
    check(covered == 100, "shares cover", 0);
    check(dnn_team_pid() > 0, "process id", 0);
    dnn_team_stop(team);
    c.phase = c.runs[0];  /* a team started whole runs a phase too */
    check(dnn_team_start(team, TEAM) == 0 && team->size == TEAM, "team start", 0);
    dnn_team_run(team, team_fn, &c, CHUNKS);
    check(!c.bad && c.runs[CHUNKS - 1] == c.phase + 1, "started team", 0);
    check_flush(team);
    dnn_team_stop(team);
    free(team);
    {   /* the swap that owns dnn._kernels' pool: free (0), or a parent's id after a fork */
        dnn_team_a64 owner = 0;
        check(dnn_team_cas64(&owner, 0, 7) && !dnn_team_cas64(&owner, 0, 8) && dnn_team_cas64(&owner, 7, 8)
              && dnn_team_load64(&owner) == 8, "cas64", 0);
    }
    {   /* the rest of dnn/_platform.h, which _loop.h includes (-Werror: none unused) */
        dnn_gate gate;
        dnn_barrier bar;
        double t0 = dnn_now();
        check(dnn_gate_init(&gate) == 0 && dnn_barrier_init(&bar, 1) == 0, "gate", 0);
        dnn_gate_open(&gate);
        dnn_gate_wait(&gate);
        dnn_barrier_wait(&bar);
        dnn_barrier_destroy(&bar);
        dnn_gate_destroy(&gate);
        check(dnn_now() >= t0, "clock", 0);
    }
}

int main(void) {
    double p[N], g[N], v[N], s[N], p0[N], v0[N], s0[N], want;
    float pf[N], gf[N], vf[N], sf[N];
    double A[3 * N], D[3 * N], db[3], Z[2 * 5], Y[5 * 2], Dz[2 * 5], dbz[2], loss;
    int level, top = dnn_simd_cpu_level(), i, k, r, j;
    dnn_opt o = {0.01, 0.02, 0.9, 0.9, 0.999, 1e-8, 1 - 0.9, 1 - 0.999};
    for (i = 0; i < N; i++) {
        p0[i] = sin(i + 1.0);
        g[i] = cos(3.0 * i);
        v0[i] = 0.1 * sin(2.0 * i);
        s0[i] = 0.01 * (1 + cos(i * 1.0));
    }
    for (level = 0; level <= top && level <= DNN_SIMD_TOP; level++) {
        const dnn_loop_table* t;
        dnn_simd_use(level);
        t = dnn_loop_kernels();
        for (k = 0; k < DNN_OPT_COUNT; k++) {
            double sumsq = 0, q = 0;
            for (i = 0; i < N; i++) {
                p[i] = p0[i]; v[i] = v0[i]; s[i] = s0[i];
                pf[i] = (float) p0[i]; gf[i] = (float) g[i]; vf[i] = (float) v0[i]; sf[i] = (float) s0[i];
            }
            t->opts[k].d(N, p, g, v, s, &o, &sumsq);
            t->opts[k].f(N, pf, gf, vf, sf, &o, NULL);
            for (i = 0; i < N; i++) {
                double gi = g[i] + p0[i] * o.lam, vi = v0[i], si = s0[i];
                switch (k) {
                case DNN_OPT_GD: want = p0[i] - o.lr * gi; break;
                case DNN_OPT_MOMENTUM: vi = o.beta * vi + (1 - o.beta) * gi; want = p0[i] - o.lr * vi; break;
                case DNN_OPT_HEAVY_BALL: vi = o.beta * vi - o.lr * gi; want = p0[i] + vi; break;
                case DNN_OPT_NESTEROV: vi = o.beta * vi - o.lr * gi; want = p0[i] + o.beta * vi - o.lr * gi; break;
                case DNN_OPT_RMSPROP: si = o.beta2 * si + (1 - o.beta2) * gi * gi;
                    want = p0[i] - o.lr * gi / (sqrt(si) + o.eps); break;
                default: vi = o.beta1 * vi + (1 - o.beta1) * gi; si = o.beta2 * si + (1 - o.beta2) * gi * gi;
                    want = p0[i] - o.lr * (vi / o.bias1) / (sqrt(si / o.bias2) + o.eps);
                }
                q += want * want;
                check(fabs(p[i] - want) <= 1e-12 * (1 + fabs(want)), "optimizer (double)", level);
                check(fabs(pf[i] - want) <= 1e-5 * (1 + fabs(want)), "optimizer (float)", level);
            }
            check(fabs(sumsq - q) <= 1e-12 * q, "sum of squares", level);
        }
        for (k = 0; k < DNN_ACT_COUNT; k++) {
            double bias[3] = {0.1, -0.2, 0.3}, Z0[3 * N];
            for (i = 0; i < 3 * N; i++) {
                Z0[i] = A[i] = sin(0.7 * i) * 2;
                D[i] = cos(0.3 * i);
            }
            t->acts[k].fwd_d(3, N, A, N, bias);
            t->acts[k].bwd_d(3, N, D, N, A, N, db, 0.5);
            for (r = 0; r < 3; r++) {
                double sum = 0;
                for (j = 0; j < N; j++) {
                    double z = Z0[r * N + j] + bias[r], a, d;
                    a = k == DNN_ACT_RELU ? (z > 0 ? z : 0) : k == DNN_ACT_TANH ? tanh(z) : (z > 0 ? z : 0.01 * z);
                    d = cos(0.3 * (r * N + j));
                    d *= k == DNN_ACT_RELU ? (z > 0) : k == DNN_ACT_TANH ? 1 - a * a : (z > 0 ? 1 : 0.01);
                    sum += d;
                    check(fabs(A[r * N + j] - a) <= 1e-15 * (1 + fabs(a)), "activation", level);
                    check(fabs(D[r * N + j] - d) <= 1e-14 * (1 + fabs(d)), "activation backward", level);
                }
                check(fabs(db[r] - 0.5 * sum) <= 1e-13, "bias gradient", level);
            }
        }
        for (k = 0; k < 3; k++) {  /* outputs: K = 2 units, 5 examples; then weighted */
            double total = 0, wtotal = 0, wloss, Dw[2 * 5];
            const double SW[5] = {0.5, 0, 2, 1, 3};
            for (i = 0; i < 10; i++) Z[i] = 1.5 * sin(i + 0.5);
            for (j = 0; j < 5; j++) {
                Y[j * 2] = (k == DNN_OUT_IDENTITY) ? 0.3 * j : (j % 2);
                Y[j * 2 + 1] = (k == DNN_OUT_IDENTITY) ? -0.1 * j : (k == DNN_OUT_SOFTMAX ? 1 - j % 2 : 0);
            }
            {   /* in two shares of columns, as a team's members run it, then the row sums */
                double D1[2 * 5];
                loss = t->output_d(k, 2, 0, 2, 5, Z, Y, NULL, Dz) + t->output_d(k, 2, 2, 5, 5, Z, Y, NULL, Dz);
                check(fabs(t->output_d(k, 2, 0, 5, 5, Z, Y, NULL, D1) - loss) <= 1e-14 * (1 + fabs(loss)),
                      "output loss by shares", level);
                check(memcmp(D1, Dz, sizeof(D1)) == 0, "output gradient by shares", level);
                t->rowsums_d(2, 5, Dz, 5, dbz, 0.2);
                wloss = t->output_d(k, 2, 0, 5, 5, Z, Y, SW, Dw);
            }
            for (j = 0; j < 5; j++) {
                double z0 = Z[j], z1 = Z[5 + j], a0, a1, before = total;
                if (k == DNN_OUT_SOFTMAX) {
                    double mx = z0 > z1 ? z0 : z1, e0 = exp(z0 - mx), e1 = exp(z1 - mx);
                    a0 = e0 / (e0 + e1); a1 = e1 / (e0 + e1);
                    total -= Y[j * 2] * log(a0) + Y[j * 2 + 1] * log(a1);
                } else if (k == DNN_OUT_SIGMOID) {
                    a0 = 1 / (1 + exp(-z0)); a1 = 1 / (1 + exp(-z1));
                    total -= Y[j * 2] * log(a0) + (1 - Y[j * 2]) * log(1 - a0);
                    total -= Y[j * 2 + 1] * log(a1) + (1 - Y[j * 2 + 1]) * log(1 - a1);
                } else {
                    a0 = z0; a1 = z1;
                    total += 0.5 * ((a0 - Y[j * 2]) * (a0 - Y[j * 2]) + (a1 - Y[j * 2 + 1]) * (a1 - Y[j * 2 + 1]));
                }
                check(fabs(Dz[j] - (a0 - Y[j * 2])) <= 1e-14, "output gradient", level);
                check(fabs(Dz[5 + j] - (a1 - Y[j * 2 + 1])) <= 1e-14, "output gradient", level);
                /* a weight multiplies its column's gradient and loss */
                check(fabs(Dw[j] - SW[j] * (a0 - Y[j * 2])) <= 1e-14, "weighted output gradient", level);
                check(fabs(Dw[5 + j] - SW[j] * (a1 - Y[j * 2 + 1])) <= 1e-14, "weighted output gradient", level);
                wtotal += SW[j] * (total - before);
            }
            check(fabs(wloss - wtotal) <= 1e-12 * (1 + wtotal), "weighted output loss", level);
            for (r = 0; r < 2; r++) {
                double sum = 0;
                for (j = 0; j < 5; j++) sum += Dz[r * 5 + j];
                check(fabs(dbz[r] - 0.2 * sum) <= 1e-15, "output bias gradient", level);
            }
            check(fabs(loss - total) <= 1e-12 * (1 + total), "output loss", level);
        }
        {   /* softmax over 3 units, 19 examples (groups of a build's lanes and a tail), */
            /* with logits past exp's vector range (lanes on libm's exp): the reference's */
            /* gradient, and the same bits in shares starting anywhere */
            enum { SK = 3, SM = 19 };
            double Zs[SK * SM], Ys[SM * SK], Ds[SK * SM], Dp[SK * SM], ls, lp;
            float Zsf[SK * SM], Ysf[SM * SK], Dsf[SK * SM], Dpf[SK * SM];
            for (i = 0; i < SK * SM; i++)
                Zsf[i] = (float) (Zs[i] = (i % 7 == 3) ? -900.0 - i : (i % 11 == 5) ? 100.0 : 3 * sin(0.7 * i));
            for (j = 0; j < SM; j++)
                for (r = 0; r < SK; r++) Ysf[j * SK + r] = (float) (Ys[j * SK + r] = (j % SK) == r);
            ls = t->output_d(DNN_OUT_SOFTMAX, SK, 0, SM, SM, Zs, Ys, NULL, Ds);
            lp = t->output_d(DNN_OUT_SOFTMAX, SK, 0, 5, SM, Zs, Ys, NULL, Dp)
                 + t->output_d(DNN_OUT_SOFTMAX, SK, 5, 13, SM, Zs, Ys, NULL, Dp)
                 + t->output_d(DNN_OUT_SOFTMAX, SK, 13, SM, SM, Zs, Ys, NULL, Dp);
            check(memcmp(Ds, Dp, sizeof Ds) == 0 && fabs(ls - lp) <= 1e-12 * (1 + fabs(ls)),
                  "softmax by shares", level);
            t->output_f(DNN_OUT_SOFTMAX, SK, 0, SM, SM, Zsf, Ysf, NULL, Dsf);
            t->output_f(DNN_OUT_SOFTMAX, SK, 0, 7, SM, Zsf, Ysf, NULL, Dpf);
            t->output_f(DNN_OUT_SOFTMAX, SK, 7, SM, SM, Zsf, Ysf, NULL, Dpf);
            check(memcmp(Dsf, Dpf, sizeof Dsf) == 0, "softmax by shares (float)", level);
            for (j = 0; j < SM; j++) {
                double mx = Zs[j], sum = 0, a;
                for (r = 1; r < SK; r++) if (Zs[r * SM + j] > mx) mx = Zs[r * SM + j];
                for (r = 0; r < SK; r++) sum += exp(Zs[r * SM + j] - mx);
                for (r = 0; r < SK; r++) {
                    a = exp(Zs[r * SM + j] - mx) / sum - Ys[j * SK + r];
                    check(fabs(Ds[r * SM + j] - a) <= 1e-14, "softmax gradient", level);
                    check(fabs(Dsf[r * SM + j] - a) <= 1e-6, "softmax gradient (float)", level);
                }
            }
        }
        {   /* the wide layer's products: 7 units, 6 rows of X (read through pointers, */
            /* in another order) of 50 features, the block of 37 from feature 5 */
            enum { WR = 7, WK = 6, WN = 50, WOFF = 5, WF = 37 };
            static double X[WK][WN], W[WR][WN], Dw[WR][WK], Zw[WR][WK], Gw[WR][WF];
            static float Xf[WK][WN], Wf[WR][WN], Dwf[WR][WK], Zwf[WR][WK], Gwf[WR][WF];
            const double* rows[WK];
            const float* rowsf[WK];
            for (j = 0; j < WK; j++) {
                rows[j] = X[WK - 1 - j];
                rowsf[j] = Xf[WK - 1 - j];
                for (i = 0; i < WN; i++) Xf[j][i] = (float) (X[j][i] = sin(0.37 * (j * WN + i)));
            }
            for (r = 0; r < WR; r++) {
                for (i = 0; i < WN; i++) Wf[r][i] = (float) (W[r][i] = cos(0.11 * (r * WN + i)));
                for (j = 0; j < WK; j++) Dwf[r][j] = (float) (Dw[r][j] = sin(1.3 * (r * WK + j)));
            }
            dnn_wide_kernels()->dot_d(WR, WK, WF, &W[0][WOFF], WN, rows, WOFF, 0, &Zw[0][0], WK);
            dnn_wide_kernels()->dot_f(WR, WK, WF, &Wf[0][WOFF], WN, rowsf, WOFF, 0, &Zwf[0][0], WK);
            dnn_wide_kernels()->axpy_d(WR, WK, WF, 0.5, &Dw[0][0], WK, rows, WOFF, WN - WOFF, &Gw[0][0], WF);
            dnn_wide_kernels()->axpy_f(WR, WK, WF, 0.5f, &Dwf[0][0], WK, rowsf, WOFF, WN - WOFF, &Gwf[0][0], WF);
            for (r = 0; r < WR; r++) {
                for (j = 0; j < WK; j++) {
                    want = 0;
                    for (i = WOFF; i < WOFF + WF; i++) want += W[r][i] * rows[j][i];
                    check(fabs(Zw[r][j] - want) <= 1e-13 * (1 + fabs(want)), "wide dot (double)", level);
                    check(fabs(Zwf[r][j] - want) <= 1e-5 * (1 + fabs(want)), "wide dot (float)", level);
                }
                for (i = 0; i < WF; i++) {
                    want = 0;
                    for (j = 0; j < WK; j++) want += Dw[r][j] * rows[j][WOFF + i];
                    want *= 0.5;
                    check(fabs(Gw[r][i] - want) <= 1e-13 * (1 + fabs(want)), "wide axpy (double)", level);
                    check(fabs(Gwf[r][i] - want) <= 1e-5 * (1 + fabs(want)), "wide axpy (float)", level);
                }
            }
        }
        if (dnn_codes_fast()) {  /* X as 8-bit codes: every code k / d to the nearest, in runs of */
            /* every length to two vectors and a tail; encode finds them, and refuses one off */
            static const double divisors[2] = {255.0, 1.0};
            unsigned char c[300], back[300];
            double xd[300], td[300];
            float xf[300], tf[300];
            int q, n, ok;
            for (i = 0; i < 300; i++) c[i] = (unsigned char) ((i * 37 + 11) % 256);
            for (q = 0; q < 2; q++) {
                const double d = divisors[q];
                for (n = 1; n <= 300; n += (n < 40 ? 1 : 37)) {
                    dnn_codes_kernels()->decode_d(n, c, d, 1.0 / d, xd);
                    dnn_codes_kernels()->decode_f(n, c, (float) d, (float) (1.0 / d), xf);
                    for (ok = 1, i = 0; i < n; i++)
                        ok &= xd[i] == (double) c[i] / d && xf[i] == (float) c[i] / (float) d;
                    check(ok, "decode", level);
                }
                dnn_codes_kernels()->decode_d(300, c, d, 1.0 / d, xd);
                dnn_codes_kernels()->decode_f(300, c, (float) d, (float) (1.0 / d), xf);
                check(dnn_codes_kernels()->encode_d(300, xd, d, 1.0 / d, back, td) == 300
                      && memcmp(back, c, 300) == 0, "encode (double)", level);
                check(dnn_codes_kernels()->encode_f(300, xf, (float) d, (float) (1.0 / d), back, tf) == 300
                      && memcmp(back, c, 300) == 0, "encode (float)", level);
                xd[299] = nextafter(xd[299], 2.0);
                xf[3] = -0.0f;
                check(dnn_codes_kernels()->encode_d(300, xd, d, 1.0 / d, back, td) < 300, "encode refuses (double)", level);
                check(dnn_codes_kernels()->encode_f(300, xf, (float) d, (float) (1.0 / d), back, tf) < 300,
                      "encode refuses (float)", level);
            }
        }
    }
    check_team();
    {   /* dropout's numbers for (seed 5, layer 2, iteration 9), 3 x 4 */
        uint64_t key = dnn_dropout_key(5, 2, 9);
        for (r = 0; r < 3; r++)
            for (j = 0; j < 4; j++) printf("%.17g\n", dnn_dropout_u(dnn_splitmix(key, (uint64_t) r + 1), j));
    }
    return failures != 0;
}

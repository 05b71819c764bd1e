# cython: language_level=3
"""The compiled gradient-descent loop behind ``dnn.models``.

Design: ``Trainer`` owns one network's workspace, allocated once when it is
made, and ``Trainer.run`` runs a chunk of full-batch gradient-descent
iterations without the GIL: no allocation, no Python object, parameters
updated in place in the caller's arrays. The Python driver (``dnn.models``)
validates everything, calls ``run`` chunk after chunk, and between chunks
records and prints costs, calls the progress callback and lets signals
(Ctrl-C) through. There is no module-level mutable state, so two trainers can
run at once in two threads.

Scope, by design: the fast path of one network only, ReLU hidden layers and
one sigmoid unit under binary cross-entropy, full batch, plain gradient
descent fused into the products. Any other activation, output, optimizer,
mini-batches or regularization is ``dnn._loop``'s (one table entry there per
activation; ``dnn._engine`` and ``dnn.course_model`` run such fits there), so
adding tanh touches nothing here. ReLU itself is ``dnn/_simd.h``'s one
definition (``simd.relu_scalar``/``relu_grad_scalar`` and the ``bias_act``,
``nn``, ``relu_backward`` kernels): no comparison is spelled here.

One iteration, for [LINEAR -> RELU] * (L-1) -> LINEAR -> SIGMOID:
  forward    H_l = relu(W_l H_{l-1} + b_l) (H_0 = X), Z_L = W_L H_{L-1} + b_L;
             ReLU is applied in place, and ReLU's backward mask uses H_l > 0,
             which is Z_l > 0, so Z_l is never kept.
  cost       from Z_L with the stable log-sigmoid, only when asked for.
  backward   dZ_L = sigmoid(Z_L) - Y (the reference's dA_L * s * (1 - s) in
             closed form: finite where the reference divides 0 by 0);
             for l = L..1: dA_{l-1} = W_l^T dZ_l (not for l = 1: unused),
             then W_l += (-lr/m) dZ_l H_{l-1}^T in one gemm with beta = 1
             (after W_l^T dZ_l, which needs the old W_l), b_l -= lr * db_l,
             dZ_{l-1} = dA_{l-1} * (H_{l-1} > 0) and db_{l-1}, row by row.
  Two ping-pong buffers hold dA/dZ, so the workspace is the hidden
  activations, Z_L, two gradient buffers of max(n_1..n_L) * m and a few
  vectors.

Who computes what. The elementwise passes (bias and relu, relu's backward
mask with the bias gradient, sigmoid(Z_L) - Y) are ``dnn._simd``'s vector
kernels, in the build (SSE2, AVX2, AVX-512) the CPU runs. A layer's three
products (W H, W^T dZ, dZ H^T) go to BLAS, or, where ``own[l]`` says so
(``dnn._plan``: tiny layers, and where measured faster here), to ``dnn._simd``'s
register-blocked ``nn`` and ``nt``, which read the operands in place: no
call set-up, no packing, no zeroing of C, and AVX-512 where the SciPy
wheels' OpenBLAS may use AVX2 only. A first layer too large for ``nt``
(``OWN_XT``) gets dZ_1 X^T as ``nn_acc`` over a transposed copy of X made
once per fit: vectors along W_1's rows, the examples in chunks.

The Gram form of the first layer (``gram=True``; ``dnn._plan.gram_form``
picks it). X never changes, so after W_1 := W_1 + a dZ_1 X^T the next
iteration's W_1 X is P + a dZ_1 G, where P is this iteration's W_1 X and
G = X^T X is computed once per fit. When there are fewer examples m than
inputs n_0, that (n_1, m) x (m, m) product replaces the (n_1, n_0) x (n_0, m)
one, and an iteration reads X once (the update) instead of twice: on the cat
network (12288 inputs, 209 examples) an iteration takes half the time. P is
recomputed from W_1 and X every GRAM_REFRESH iterations, so the rounding that
the incremental form accumulates stays a few ulps. W_1 is a private copy that
receives the sum of its deferred updates, in one product, right before each
recomputation, at iterations fixed by the plan (multiples of GRAM_REFRESH);
at a chunk's end the caller's W_1 is set to it plus the updates still
pending. Where a chunk ends follows the clock; the numbers never do.

Shards (``shards`` > 1; ``dnn._plan`` picks them). The examples are
split into blocks, each with a workspace of its own (``Net.partial``): X's
block is a view of X's columns. An iteration runs every shard's forward and
backward pass, which write the shard's gradient sums dZ_l A_{l-1}^T and row
sums of dZ_l instead of touching W and b; then W_l += (-lr/m) sum_s dW_s, the
shards added in shard order, the rows shared out among the threads; two
barriers per iteration keep the parameters still while any shard reads them.
Up to one thread per shard (helpers are started per chunk and joined at its
end), with BLAS held at one thread per call by the caller
(``dnn._blas_threads``): on small gemms that beats one loop handing each gemm
to a 2-thread BLAS, and the elementwise passes run on both cores. Thread t
takes shards t, t + T, ..., so the numbers depend on the split, never on the
number of threads (``dnn._plan.max_shards`` splits by the cores, not by the
threads allowed).

Slabs (an unsplit fit: ``shards`` = 1). Its large BLAS products run in
slabs of the result's rows or columns, ``slab_count`` of them, a function of
the product's shape and the machine's CPUs (``tgemm``), each one BLAS call on one thread (the
caller holds BLAS at one thread for the whole fit). A chunk given several
threads starts a team (``dnn/_team.h``) that shares the slabs and stops it
at the chunk's end; one thread runs them in turn. So the numbers never depend
on the thread count: BLAS's own threads would sum a long product differently
with one thread and with two (``benchmarks/blas_thread_bits.py``), and the
slabs are the same at any count.

Memory layout. The hidden activations and gradients are stored
features-major ("FM", (n_l, m), as the reference and ``_ops.pxd``) or
samples-major ("SM", (m, n_l), as scikit-learn's MLP); a gemm takes either
through its transpose flags, so one loop serves both. X is used as given,
(n_0, m). ``dnn._plan.samples_major`` picks SM for float32 with a narrow
first layer on a wide input, where sgemm is faster on the transposed
operands (the measurements: ``benchmarks/NOTES.md``).

Every path decision (``own``, ``gram``, ``shards``, the layout) comes from a
``dnn._plan.Plan``.
"""

cimport cython
from cython cimport floating
from libc.math cimport NAN
from libc.stdint cimport uintptr_t
from cpython.exc cimport PyErr_CheckSignals
from libc.string cimport memcpy

from dnn._blas cimport gemm
cimport dnn._ops as ops
cimport dnn._simd as simd
from dnn._team cimport dnn_team, dnn_team_run, dnn_team_start, dnn_team_stop

import numpy as np

from dnn import _kernels, _lines

#: The builds of dnn._simd's kernels, by level.
SIMD_LEVELS = ("baseline", "avx2", "avx512")

# The best build this CPU runs.
simd.dnn_simd_use(simd.DNN_SIMD_TOP)


def simd_kernels(use=None):
    """Which build of ``dnn._simd``'s kernels runs: one of ``SIMD_LEVELS``.

    ``use`` (a name in ``SIMD_LEVELS``) switches to that build, or to the best
    one below it that this CPU runs, here and in ``dnn._kernels`` (the
    step-by-step API's copy of the kernels). For tests and measurements:
    never while a fit or a step-by-step call runs.
    """
    if use is not None:
        if use not in SIMD_LEVELS:
            raise ValueError("use must be one of %s, got %r" % (SIMD_LEVELS, use))
        simd.dnn_simd_use(SIMD_LEVELS.index(use))
        _kernels._use_simd(SIMD_LEVELS.index(use))
    return SIMD_LEVELS[simd.dnn_simd_level]


def simd_cpu_level():
    """The best build of ``dnn._simd``'s kernels this CPU runs (a name in ``SIMD_LEVELS``)."""
    return SIMD_LEVELS[simd.dnn_simd_cpu_level()]

# Trainer's ``own`` flags: which of a layer's products skip BLAS for dnn._simd.
cdef enum:
    OWN_NN = 1            # W H (forward) and W^T dZ (backward): simd.nn
    OWN_NT = 2            # dZ H^T (the weight gradient): simd.nt
    OWN_XT = 4            # layer 1 only: dZ_1 X^T as simd.nn_acc over a copy of X^T

#: The same flags, for dnn.models.
OWN_PRODUCTS = {"nn": OWN_NN, "nt": OWN_NT, "xt": OWN_XT}

# With the Gram form, W_1 X is recomputed exactly every this many iterations,
# which bounds the rounding that updating it incrementally accumulates (about
# sqrt(GRAM_REFRESH) ulps) at the cost of one extra pass over X.
cdef enum:
    GRAM_REFRESH = 64


cdef struct Net:
    int L                 # number of layers (weights W_1..W_L)
    int m                 # examples
    const int* n          # n[0..L]: layer sizes
    bint sm               # hidden activations and gradients samples-major (m, n_l)
    const unsigned char* own  # own[l]: which of layer l's products run in dnn._simd (OWN_*)
    const void* XT        # (m, n_0): this net's examples of X, transposed (OWN_XT; else unused)
    const void* X         # (n_0, m) features-major, row stride ldx
    int ldx               # X's row stride: m, or all examples' count for a shard
    const void* Y         # (m,) labels in {0, 1}
    void** W              # W[l], l = 1..L: (n_l, n_{l-1}), updated in place
                          # (with the Gram form, W[1] is a private copy: see W1_out)
    void* W1_out          # the caller's W_1, given W[1] plus the deferred updates at each
                          # chunk's end (Gram form only)
    void** b              # b[l], l = 1..L: (n_l,), updated in place
    void** H              # H[l], l = 1..L-1: hidden activations; H[L] = Z_L (m,)
    void* G0              # gradient buffers, max(n_1..n_L) * m each
    void* G1
    void* db              # (max n_l,) bias gradient of one layer
    double* acc           # (max n_l,) column sums, samples-major db
    double lr
    bint gram             # first layer in the Gram form (see Trainer)
    bint p_valid          # P holds W_1 X (false until the first exact iteration)
    void* P               # (n_1, m) in layout sm: W_1 X, without the bias
    const void* G         # (m, m): X^T X
    void* S               # (n_1, m) in layout sm: sum of dZ_1 not yet applied to W_1
    bint s_pending        # S holds gradients W_1 has not received
    bint partial          # a shard of a Team: gradients go to dWp and dbp, W and b untouched
    void** dWp            # dWp[l]: (n_l, n_{l-1}), this shard's dZ_l A_{l-1}^T (not scaled)
    void** dbp            # dbp[l]: (n_l,), this shard's row sums of dZ_l
    void* scratch         # simd.nn's packed path (DNN_NN_SCRATCH_BYTES): one per net, as a net
                          # runs on one thread at a time
    bint slabbed          # its BLAS products run in slabs (``tgemm``): the unsplit net
    dnn_team* team        # the threads that share the slabs, or NULL: in turn, on this one


# --------------------------------------------------------------------------
# BLAS products in slabs (an unsplit fit; see the module's docstring)
# --------------------------------------------------------------------------

cdef enum:
    SLABS = 4             # a large product's slabs, at most (``_slabs``' cap)
    SLAB_UNIT = 16        # slab edges fall on multiples of this many rows or columns

# A large product's slabs, at most, and the threads an unsplit fit may use: the step calls'
# cap (``dnn._kernels.MACHINE_SLABS``: SLABS, or the machine's CPUs where fewer): each slab
# packs the operand it does not cut again, so slabs that no thread could share only cost
# (benchmarks/NOTES.md, "Slabs per CPU").
cdef int _slabs = max(1, min(<int> SLABS, <int> _kernels.MACHINE_SLABS))

#: The most threads an unsplit fit's products share (``dnn._plan``, ``dnn.models``).
SLAB_THREADS = _slabs


def _set_slabs(int slabs):
    """Tests and measurements: a large product's slabs, at most ``slabs`` (1 .. SLABS), for the
    fits that follow; returns the former value. ``SLAB_THREADS`` is left as it is."""
    global _slabs
    cdef int old = _slabs
    _slabs = max(1, min(slabs, <int> SLABS))
    return old


# Multiply-adds of a slab, at least: above OpenBLAS's paths for small matrices.
cdef double SLAB_MIN = 1 << 23


cdef inline int slab_count(int M, int N, int K) noexcept nogil:
    """The slabs of C (M, N) := op(A) (M, K) op(B) (K, N): ``_slabs`` where each is at least
    SLAB_MIN multiply-adds and 64 rows or columns of C, else fewer, down to 1 (whole). Cut
    along C's longer side. A function of the shape and the machine alone: the slabs, whichever
    threads run them, give the same bits, at any thread count (a slab may round differently
    from the whole product: OpenBLAS blocks it its own way)."""
    cdef int S = _slabs
    cdef int cut = M if M >= N else N
    while S > 1 and (cut < 64 * S or <double> M * N * K < S * SLAB_MIN):
        S //= 2
    return S


def slabs(int M, int N, int K):
    """``slab_count`` for tests and the plan: the slabs of an (M, N) x K product."""
    return slab_count(M, N, K)


def layer_slabbed(int n_out, int n_in, int m):
    """Whether any of a layer's products (W H, W^T dZ, dZ H^T) on m examples runs in slabs."""
    return max(slab_count(n_out, m, n_in), slab_count(n_in, m, n_out), slab_count(n_out, n_in, m)) > 1


cdef struct GemmSlabs:
    bint dbl, ta, tb, rows
    int M, N, K, lda, ldb, ldc, S
    double alpha, beta
    const void* A
    const void* B
    void* C


cdef inline void slab_range(int n, int i, int S, int* lo, int* hi) noexcept nogil:
    """Slab i of S of n rows or columns: [lo, hi), edges on multiples of SLAB_UNIT."""
    cdef int per = (n + S - 1) // S
    per = (per + SLAB_UNIT - 1) // SLAB_UNIT * SLAB_UNIT
    lo[0] = min(i * per, n)
    hi[0] = min(lo[0] + per, n)


cdef inline void _slab(GemmSlabs* g, int i, floating tag) noexcept nogil:
    cdef const floating* A = <const floating*> g.A
    cdef const floating* B = <const floating*> g.B
    cdef floating* C = <floating*> g.C
    cdef int lo, hi
    if g.rows:  # rows lo:hi of C: rows lo:hi of op(A)
        slab_range(g.M, i, g.S, &lo, &hi)
        if hi > lo:
            gemm(g.ta, g.tb, hi - lo, g.N, g.K, <floating> g.alpha,
                 A + (lo if g.ta else <Py_ssize_t> lo * g.lda), g.lda, B, g.ldb,
                 <floating> g.beta, C + <Py_ssize_t> lo * g.ldc, g.ldc)
    else:       # columns lo:hi of C: columns lo:hi of op(B)
        slab_range(g.N, i, g.S, &lo, &hi)
        if hi > lo:
            gemm(g.ta, g.tb, g.M, hi - lo, g.K, <floating> g.alpha, A, g.lda,
                 B + (<Py_ssize_t> lo * g.ldb if g.tb else lo), g.ldb,
                 <floating> g.beta, C + lo, g.ldc)


cdef void gemm_slab(void* ctx, int i) noexcept nogil:
    cdef GemmSlabs* g = <GemmSlabs*> ctx
    if g.dbl:
        _slab(g, i, <double> 0)
    else:
        _slab(g, i, <float> 0)


cdef inline void tgemm(const Net* net, bint ta, bint tb, int M, int N, int K,
                       floating alpha, const floating* A, int lda, const floating* B, int ldb,
                       floating beta, floating* C, int ldc) noexcept nogil:
    """``gemm`` of the trainer: in ``slab_count`` slabs for an unsplit net (``net.slabbed``),
    shared by ``net.team``'s threads or run in turn here; whole for a shard."""
    cdef GemmSlabs g
    cdef int S = slab_count(M, N, K) if net.slabbed else 1
    if S <= 1:
        gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc)
        return
    g.dbl = floating is double
    g.ta, g.tb, g.rows = ta, tb, M >= N
    g.M, g.N, g.K, g.lda, g.ldb, g.ldc, g.S = M, N, K, lda, ldb, ldc, S
    g.alpha, g.beta = alpha, beta
    g.A, g.B, g.C = A, B, C
    dnn_team_run(net.team, gemm_slab, &g, S)


# --------------------------------------------------------------------------
# Samples-major helpers. "FM" = features-major (n, m), row stride m, as the
# reference and ops.pxd; "SM" = samples-major (m, n), row stride n. W is
# always (n_out, n_in), C-ordered; X is always FM, as given.
# --------------------------------------------------------------------------

cdef inline void sm_bias_activation(bint relu, int n_out, int m, const floating* b,
                                    floating* Z) noexcept nogil:
    """Z := Z + b (then relu), in place, Z SM (m, n_out), b along each row."""
    cdef int i, j
    cdef floating* row
    for i in range(m):
        row = Z + <Py_ssize_t> i * n_out
        if relu:
            for j in range(n_out):
                row[j] = simd.relu_scalar(row[j] + b[j])
        else:
            for j in range(n_out):
                row[j] = row[j] + b[j]


cdef inline void sm_linear_forward(const Net* net, bint relu, int n_out, int n_in, int m,
                                   const floating* W, const floating* A, bint a_sm, int lda,
                                   const floating* b, floating* Z) noexcept nogil:
    """Z := A^T W^T + b (then relu, in place), Z SM (m, n_out); A SM or FM (X), row stride lda."""
    tgemm(net, not a_sm, True, m, n_out, n_in, <floating> 1.0, A, lda, W, n_in,
          <floating> 0.0, Z, n_out)
    sm_bias_activation(relu, n_out, m, b, Z)


cdef inline void update_weights(const Net* net, bint sm, bint a_sm, int n_out, int n_in, int m,
                                floating alpha, const floating* dZ,
                                const floating* A, int lda, floating beta,
                                floating* W) noexcept nogil:
    """W := beta W + alpha dZ A^T; dZ in layout ``sm``, A in layout ``a_sm``, row stride lda.

    With beta = 1, the reference's ``W - lr * ((1/m) dZ A^T)`` as one gemm:
    no dW buffer, one pass over W. A shard of a Team writes its dW with beta = 0.
    """
    tgemm(net, sm, not a_sm, n_out, n_in, m, alpha,
          dZ, n_out if sm else m, A, lda, beta, W, n_in)


cdef inline void backprop(const Net* net, bint sm, int n_out, int n_in, int m,
                          const floating* W, const floating* dZ,
                          floating* dA) noexcept nogil:
    """dA := W^T dZ, both in layout ``sm``."""
    if not sm:
        tgemm(net, True, False, n_in, m, n_out, <floating> 1.0, W, n_in, dZ, m,
              <floating> 0.0, dA, m)
    else:
        tgemm(net, False, False, m, n_in, n_out, <floating> 1.0, dZ, n_out, W, n_in,
              <floating> 0.0, dA, n_in)


# --------------------------------------------------------------------------
# Elementwise passes
# --------------------------------------------------------------------------

cdef inline void relu_backward_db(bint sm, int n, int m, floating* D,
                                  const floating* H, floating* db,
                                  double* acc, double scale) noexcept nogil:
    """D := D * (H > 0) in place and db := scale * sum of D over the examples.

    Samples-major, the sums run down the columns into ``acc``, independent
    across a row.
    """
    cdef int i, j
    cdef floating* row
    cdef const floating* hrow
    if not sm:
        # relu's output H in place of Z: H > 0 exactly where Z > 0.
        simd.relu_backward(n, m, D, m, H, m, db, scale)
        return
    for j in range(n):
        acc[j] = 0.0
    for i in range(m):
        row = D + <Py_ssize_t> i * n
        hrow = H + <Py_ssize_t> i * n
        for j in range(n):
            row[j] = simd.relu_grad_scalar(row[j], hrow[j])
            acc[j] += row[j]
    for j in range(n):
        db[j] = <floating> (scale * acc[j])


cdef inline void update_bias(int n, floating lr, floating* b,
                             const floating* db) noexcept nogil:
    """b := b - lr * db, in the reference's rounding."""
    cdef int i
    for i in range(n):
        b[i] = b[i] - lr * db[i]


# --------------------------------------------------------------------------
# The first layer in the Gram form (see the module's docstring)
# --------------------------------------------------------------------------

cdef inline void gram_first_layer(Net* net, bint exact, floating* Z) noexcept nogil:
    """Z_1 := W_1 X + b_1 (then relu) from P = W_1 X, kept up to date by the update.

    ``exact``: P is computed from W_1 and X, one pass over X. Otherwise P is
    already W_1 X: ``gram_update`` moved it with W_1 (see ``Trainer``).
    """
    cdef int n1 = net.n[1], n0 = net.n[0], m = net.m
    cdef bint relu = net.L > 1
    cdef floating* P = <floating*> net.P
    if exact:
        flush_first_layer(net, <floating> 0)
        if net.sm:
            tgemm(net, True, True, m, n1, n0, <floating> 1.0, <const floating*> net.X, net.ldx,
                  <const floating*> net.W[1], n0, <floating> 0.0, P, n1)
        else:
            tgemm(net, False, False, n1, m, n0, <floating> 1.0, <const floating*> net.W[1], n0,
                  <const floating*> net.X, net.ldx, <floating> 0.0, P, m)
    memcpy(Z, P, <size_t> n1 * m * sizeof(floating))
    if net.sm:
        sm_bias_activation(relu, n1, m, <const floating*> net.b[1], Z)
    else:
        simd.bias_act(n1, m, Z, m, <const floating*> net.b[1], relu)


cdef void gram_matrix(Net* net, floating* G) noexcept nogil:
    """G := X^T X, (m, m), from X (n_0, m)."""
    cdef int m = net.m
    tgemm(net, True, False, m, m, net.n[0], <floating> 1.0, <const floating*> net.X, net.ldx,
          <const floating*> net.X, net.ldx, <floating> 0.0, G, m)


cdef inline void gram_update(Net* net, floating alpha, const floating* D) noexcept nogil:
    """The first layer's step in the Gram form, with dZ_1 in ``D``.

    P := P + alpha dZ_1 G, which is W_1 X after W_1 := W_1 + alpha dZ_1 X^T
    (G = X^T X); and S := S + dZ_1, the gradients W_1 has yet to receive.
    """
    cdef int n1 = net.n[1], m = net.m
    cdef Py_ssize_t k, size = <Py_ssize_t> n1 * m
    cdef floating* S = <floating*> net.S
    if net.sm:
        tgemm(net, False, False, m, n1, m, alpha, <const floating*> net.G, m, D, n1,
              <floating> 1.0, <floating*> net.P, n1)
    else:
        tgemm(net, False, False, n1, m, m, alpha, D, m, <const floating*> net.G, m,
              <floating> 1.0, <floating*> net.P, m)
    if net.s_pending:
        for k in range(size):
            S[k] += D[k]
    else:
        memcpy(S, D, <size_t> size * sizeof(floating))
        net.s_pending = True


cdef inline void publish_first_layer(Net* net, floating dtype_tag) noexcept nogil:
    """The caller's W_1 := W_1 + alpha S X^T, the private W_1 and S untouched.

    At a chunk's end the caller gets W_1 with every update so far, while the
    private W_1 receives its deferred updates only at the iterations where P
    is recomputed (multiples of GRAM_REFRESH): where a chunk ends, which
    follows the clock, never changes the numbers.
    """
    cdef int n1 = net.n[1], n0 = net.n[0], m = net.m
    memcpy(net.W1_out, net.W[1], <size_t> n1 * n0 * sizeof(floating))
    if net.s_pending:
        update_weights(net, net.sm, False, n1, n0, m, <floating> (-net.lr / m),
                       <const floating*> net.S, <const floating*> net.X, net.ldx, <floating> 1.0,
                       <floating*> net.W1_out)


cdef inline void flush_first_layer(Net* net, floating dtype_tag) noexcept nogil:
    """W_1 := W_1 + alpha S X^T, S := 0: the first layer's deferred updates.

    Nothing but this reads W_1 in the Gram form (the forward pass uses P, and
    dA_0 = W_1^T dZ_1 is never needed), so the T updates alpha dZ_1 X^T of
    T iterations are applied as one, alpha (sum dZ_1) X^T: one pass over X
    instead of T. ``dtype_tag`` only selects the specialization.
    """
    cdef int n1 = net.n[1], n0 = net.n[0], m = net.m
    if not net.s_pending:
        return
    update_weights(net, net.sm, False, n1, n0, m, <floating> (-net.lr / m),
                   <const floating*> net.S, <const floating*> net.X, net.ldx, <floating> 1.0,
                   <floating*> net.W[1])
    net.s_pending = False


# --------------------------------------------------------------------------
# One iteration and a chunk of them
# --------------------------------------------------------------------------

cdef double iterate(Net* net, const floating* Y, bint want_cost, bint exact) noexcept nogil:
    """One gradient-descent step; returns the cost before it (nan if not asked).

    With the Gram form on, ``exact`` recomputes W_1 X from W_1 and X. A shard
    (``net.partial``) leaves W and b alone: it writes its gradient sums to
    dWp and dbp, and its Team applies them (``apply_gradients``).
    """
    cdef int L = net.L, m = net.m, l, n_out, n_in, lda
    cdef bint partial = net.partial
    cdef const int* n = net.n
    cdef bint sm = net.sm
    cdef const floating* A
    cdef floating* Z
    cdef floating* D = <floating*> net.G0
    cdef floating* Dn = <floating*> net.G1
    cdef floating* tmp
    cdef floating* db = <floating*> net.db
    cdef floating lr = <floating> net.lr
    cdef floating alpha = <floating> (-net.lr / m)
    cdef double cost = NAN, acc
    cdef int own

    # Forward: hidden layers, relu in place (Z_l is not kept, see above).
    Z = <floating*> net.H[L]
    for l in range(1, L + 1):
        n_out = n[l]
        n_in = n[l - 1]
        A = <const floating*> (net.X if l == 1 else net.H[l - 1])
        lda = net.ldx if l == 1 else (n_in if sm else m)
        Z = <floating*> net.H[l]
        if l == 1 and net.gram:
            gram_first_layer(net, exact, Z)
        elif not sm and net.own[l] & OWN_NN:
            simd.nn(n_out, n_in, m, <const floating*> net.W[l], n_in, 1, A, lda, Z, m,
                    <const floating*> net.b[l], l < L, net.scratch)
        elif not sm:
            # relu in place: Z_l is not kept, H_l = relu(Z_l) overwrites it.
            tgemm(net, False, False, n_out, m, n_in, <floating> 1.0, <const floating*> net.W[l], n_in,
                  A, lda, <floating> 0.0, Z, m)
            simd.bias_act(n_out, m, Z, m, <const floating*> net.b[l], l < L)
        else:
            sm_linear_forward(net, l < L, n_out, n_in, m, <const floating*> net.W[l], A, l > 1, lda,
                              <const floating*> net.b[l], Z)
    # Z is now Z_L: (1, m) or (m, 1), the same memory in either layout.
    if want_cost:
        cost = ops.cross_entropy_from_logits(m, Z, Y)

    # Output gradient dZ_L = sigmoid(Z_L) - Y, and db_L with it.
    acc = simd.output_grad(m, Z, Y, D)
    if partial:
        (<floating*> net.dbp[L])[0] = <floating> acc
    else:
        db[0] = <floating> (acc / m)
        update_bias(1, lr, <floating*> net.b[L], db)

    # Backward, updating each layer's parameters once its gradient is used.
    for l in range(L, 0, -1):
        n_out = n[l]
        n_in = n[l - 1]
        A = <const floating*> (net.X if l == 1 else net.H[l - 1])
        lda = net.ldx if l == 1 else (n_in if sm else m)
        own = 0 if sm else net.own[l]
        if l > 1 and own & OWN_NN:
            # dA = W^T dZ: W read through its transpose's strides.
            simd.nn(n_in, n_out, m, <const floating*> net.W[l], 1, n_in, D, m, Dn, m,
                    NULL, False, net.scratch)
        elif l > 1:
            backprop(net, sm, n_out, n_in, m, <const floating*> net.W[l], D, Dn)
        if l == 1 and net.gram and not partial:
            gram_update(net, alpha, D)
        elif l == 1 and own & OWN_XT:
            # dW_1 = dZ_1 X^T as (dZ_1)(X^T): vectors along W_1's rows, chunks
            # of the examples, no horizontal sums (see dnn._simd.nn_acc).
            simd.nn_acc(n_out, m, n_in, <floating> 1.0 if partial else alpha, D, m, 1,
                        <const floating*> net.XT, n_in, not partial,
                        <floating*> (net.dWp[1] if partial else net.W[1]), n_in)
        elif own & OWN_NT and partial:
            simd.nt(n_out, n_in, m, <floating> 1.0, D, m, A, lda, False,
                    <floating*> net.dWp[l], n_in)
        elif own & OWN_NT:
            simd.nt(n_out, n_in, m, alpha, D, m, A, lda, True, <floating*> net.W[l], n_in)
        elif partial:
            update_weights(net, sm, sm and l > 1, n_out, n_in, m, <floating> 1.0, D, A, lda,
                           <floating> 0.0, <floating*> net.dWp[l])
        else:
            update_weights(net, sm, sm and l > 1, n_out, n_in, m, alpha, D, A, lda,
                           <floating> 1.0, <floating*> net.W[l])
        if l > 1 and partial:
            relu_backward_db(sm, n_in, m, Dn, A, <floating*> net.dbp[l - 1], net.acc, 1.0)
        elif l > 1:
            relu_backward_db(sm, n_in, m, Dn, A, db, net.acc, 1.0 / m)
            update_bias(n_in, lr, <floating*> net.b[l - 1], db)
        if l > 1:
            tmp = D
            D = Dn
            Dn = tmp
    return cost


cdef extern from "_platform.h":
    # Threads, barrier, gate, clock and signal masks for POSIX and Win32:
    # dnn/_platform.h. The barrier spins, then yields, then sleeps.
    ctypedef struct dnn_barrier:
        int count
    ctypedef struct dnn_gate:
        int open
    ctypedef struct dnn_threads:
        int started
    double dnn_now() nogil
    int dnn_gate_init(dnn_gate* g) nogil
    void dnn_gate_destroy(dnn_gate* g) nogil
    void dnn_gate_open(dnn_gate* g) nogil
    void dnn_gate_wait(dnn_gate* g) nogil
    int dnn_barrier_init(dnn_barrier* b, int count) nogil
    void dnn_barrier_destroy(dnn_barrier* b) nogil
    void dnn_barrier_wait(dnn_barrier* b) nogil
    int dnn_threads_start(dnn_threads* th, void* (*fn)(void*) noexcept nogil, void* arg) nogil
    void dnn_threads_join(dnn_threads* th) nogil


cdef inline double now() noexcept nogil:
    """Seconds on a monotonic clock."""
    return dnn_now()


cdef long run_chunk(Net* net, const floating* Y, long start, long stop, long cost_at,
                    double budget, double* cost) noexcept nogil:
    """Iterations start, start+1, ... < stop; returns how many ran.

    Stops right after iteration ``cost_at`` (whose cost goes to ``*cost``) and
    after the first iteration that ends ``budget`` seconds after the start.
    """
    cdef long i, done = stop - start
    cdef double t0 = now()
    cdef bint exact
    for i in range(start, stop):
        exact = not net.p_valid or i % GRAM_REFRESH == 0
        net.p_valid = True
        if i == cost_at:
            cost[0] = iterate(net, Y, True, exact)
            done = i - start + 1
            break
        iterate(net, Y, False, exact)
        if now() - t0 >= budget:
            done = i - start + 1
            break
    # The caller gets back parameters it can read: its W_1 with the deferred updates.
    if net.gram:
        publish_first_layer(net, Y[0])
    return done


# --------------------------------------------------------------------------
# Data parallelism: a Team of shards (see the module's docstring)
# --------------------------------------------------------------------------

cdef enum:
    MAX_THREADS = 64      # DNN_MAX_THREADS: helpers of one chunk, this thread included


cdef struct Team:
    Net* shards           # S shard networks: the same W and b, examples split in blocks
    int S
    int m                 # all examples
    double lr
    bint is_double
    int T                 # threads taking part in the current chunk (thread t runs shards t, t+T, ...)
    dnn_barrier barrier
    dnn_gate gate         # the helpers wait here until T is known
    long start
    long stop
    long cost_at
    double budget
    double t0
    bint stop_now
    long done
    double cost
    double* shard_cost    # (S,) each shard's mean cost, at cost_at
    void* rows            # (S, row_len) scratch, one row per thread (T <= S)
    int row_len           # max(n_0..n_{L-1})


cdef struct Member:
    Team* team
    int t


cdef void apply_gradients(Team* team, int t, const floating* tag) noexcept nogil:
    """W_l += -lr/m * sum_s dWp_s[l] and b_l likewise, for thread t's share of the rows.

    The shards' partial sums are added in shard order whatever the number of
    threads, so the numbers do not depend on it. ``tag`` only selects the
    specialization.
    """
    cdef Net* net0 = &team.shards[0]
    cdef int L = net0.L, T = team.T, S = team.S, l, s, r, c, n_out, n_in, r0, r1
    cdef const int* n = net0.n
    cdef floating alpha = <floating> (-team.lr / team.m)
    cdef floating lr = <floating> team.lr
    cdef double inv_m = 1.0 / team.m, bsum
    cdef floating* row = <floating*> team.rows + <Py_ssize_t> t * team.row_len
    cdef floating* w
    cdef const floating* g
    cdef const floating* g1
    cdef floating db
    for l in range(1, L + 1):
        n_out = n[l]
        n_in = n[l - 1]
        r0 = <int> ((<long> n_out * t) // T)
        r1 = <int> ((<long> n_out * (t + 1)) // T)
        for r in range(r0, r1):
            w = <floating*> net0.W[l] + <Py_ssize_t> r * n_in
            g = <const floating*> team.shards[0].dWp[l] + <Py_ssize_t> r * n_in
            if S == 2:
                g1 = <const floating*> team.shards[1].dWp[l] + <Py_ssize_t> r * n_in
                for c in range(n_in):
                    w[c] = w[c] + alpha * (g[c] + g1[c])
            else:
                for c in range(n_in):
                    row[c] = g[c]
                for s in range(1, S):
                    g = <const floating*> team.shards[s].dWp[l] + <Py_ssize_t> r * n_in
                    for c in range(n_in):
                        row[c] = row[c] + g[c]
                for c in range(n_in):
                    w[c] = w[c] + alpha * row[c]
            bsum = 0.0
            for s in range(S):
                bsum += (<const floating*> team.shards[s].dbp[l])[r]
            db = <floating> (inv_m * bsum)
            (<floating*> net0.b[l])[r] = (<floating*> net0.b[l])[r] - lr * db


cdef void team_loop(Team* team, int t, const floating* tag) noexcept nogil:
    """Thread t's part of a chunk: its shards' gradients, then its rows of the update.

    Two barriers an iteration: every shard's gradients are in before any
    parameter moves, and every parameter has moved before the next forward
    pass. Thread 0 decides when the chunk ends, as ``run_chunk`` does.
    """
    cdef int s, T = team.T
    cdef long i
    cdef bint want
    cdef double cost
    cdef Net* net
    for i in range(team.start, team.stop):
        want = i == team.cost_at
        s = t
        while s < team.S:
            net = &team.shards[s]
            team.shard_cost[s] = iterate(net, <const floating*> net.Y, want, True)
            s += T
        dnn_barrier_wait(&team.barrier)
        apply_gradients(team, t, tag)
        if t == 0:
            team.done = i - team.start + 1
            if want:
                cost = 0.0
                for s in range(team.S):
                    cost += team.shard_cost[s] * team.shards[s].m
                team.cost = cost / team.m
            team.stop_now = want or now() - team.t0 >= team.budget
        dnn_barrier_wait(&team.barrier)
        if team.stop_now:
            break


cdef void* team_helper(void* arg) noexcept nogil:
    """Entry point of a helper thread: wait until the team is complete, then work."""
    cdef Member* me = <Member*> arg
    cdef Team* team = me.team
    dnn_gate_wait(&team.gate)
    if me.t < team.T:
        if team.is_double:
            team_loop(team, me.t, <const double*> NULL)
        else:
            team_loop(team, me.t, <const float*> NULL)
    return NULL


cdef long run_team(Team* team, const floating* tag, int threads, long start, long stop,
                   long cost_at, double budget, double* cost) noexcept nogil:
    """``run_chunk`` for a Team, on up to ``threads`` threads (this one included).

    Helpers are started for this chunk and joined at its end, so no thread
    outlives it. Should a helper fail to start, the threads that did share
    all the shards: the same numbers, only slower.
    """
    cdef dnn_threads helpers
    cdef Member members[MAX_THREADS]
    cdef int k, wanted = min(threads, team.S, MAX_THREADS)
    cdef bint gated = False
    helpers.started = 0
    team.start = start
    team.stop = stop
    team.cost_at = cost_at
    team.budget = budget
    team.stop_now = False
    team.done = stop - start
    team.cost = NAN
    team.t0 = now()
    team.T = 1
    team.barrier.count = 1  # one thread: the barrier returns at once, untouched
    if wanted > 1 and dnn_gate_init(&team.gate) == 0:
        gated = True
        for k in range(1, wanted):
            members[k].team = team
            members[k].t = k
            if dnn_threads_start(&helpers, team_helper, &members[k]) != 0:
                break
        if helpers.started > 0 and dnn_barrier_init(&team.barrier, 1 + helpers.started) == 0:
            team.T = 1 + helpers.started
        else:
            team.barrier.count = 1
        dnn_gate_open(&team.gate)  # helpers with t >= T return at once
    team_loop(team, 0, tag)
    if gated:
        dnn_threads_join(&helpers)
        dnn_gate_destroy(&team.gate)
    if team.T > 1:
        dnn_barrier_destroy(&team.barrier)
    cost[0] = team.cost
    return team.done


cdef uintptr_t address(arr):
    return <uintptr_t> arr.__array_interface__["data"][0]


def output_gradient(Z, Y):
    """``(sigmoid(Z) - Y, sum of it)`` by the loop's own kernel (``dnn._simd``), for tests.

    ``Z`` and ``Y``: 1-d C-contiguous arrays of one dtype, float32 or float64,
    of equal length. The sum is a Python float (summed in double).
    """
    cdef uintptr_t z, y, d
    cdef int m
    cdef double total
    cdef bint is_double
    if (not isinstance(Z, np.ndarray) or not isinstance(Y, np.ndarray) or Z.ndim != 1
            or Y.shape != Z.shape or Z.dtype != Y.dtype
            or Z.dtype not in (np.float32, np.float64)
            or not Z.flags.c_contiguous or not Y.flags.c_contiguous):
        raise ValueError("Z and Y must be 1-d C-contiguous arrays of one shape and one "
                         "float dtype")
    D = np.empty_like(Z)
    m = Z.shape[0]
    z, y, d = address(Z), address(Y), address(D)
    is_double = Z.dtype == np.float64
    with nogil:
        if is_double:
            total = simd.output_grad(m, <const double*> z, <const double*> y, <double*> d)
        else:
            total = simd.output_grad(m, <const float*> z, <const float*> y, <float*> d)
    return D, total


def shard_bounds(int m, int shards):
    """Where each shard's examples begin: ``shards + 1`` offsets from 0 to m.

    Blocks of nearly equal size, their starts rounded down to a multiple of
    16 examples when that leaves every shard at least 16 (aligned columns
    for the vector loops).
    """
    aligned = m >= 32 * shards
    bounds = [0]
    for s in range(1, shards):
        start = s * m // shards
        bounds.append(start - start % 16 if aligned else start)
    bounds.append(m)
    return bounds


cdef class Trainer:
    """The workspace and loop of one training run; parameters updated in place.

    ``Trainer(weights, biases, X, Y, learning_rate, samples_major, gram, shards, own, threads)``:
    ``weights[l-1]`` is W_l, a C-contiguous ``(n_l, n_{l-1})`` array, and
    ``biases[l-1]`` is b_l, ``(n_l, 1)``, both of one dtype (float32 or
    float64), updated in place by ``run``; ``X`` is ``(n_0, m)`` and ``Y``
    ``(1, m)`` of that dtype, C-contiguous, checked by the caller
    (``dnn.models``; only dtypes, contiguity and shapes are checked here,
    enough for memory safety). ``n_L`` must be 1. ``samples_major`` picks
    the layout of the hidden layers, ``gram`` the Gram form of the first
    layer and ``shards`` > 1 splits the examples into that many blocks, each
    with a workspace of its own, whose gradients ``run`` may compute on
    several threads (see the module's docstring). The Gram form needs one shard.
    ``own``, one int per layer or None (all 0): which of a layer's products run
    in ``dnn._simd``'s kernels instead of BLAS, ``OWN_NN`` (W H and W^T dZ),
    ``OWN_NT`` (dZ H^T) and, for the first layer, ``OWN_XT`` (dZ_1 X^T through
    a transposed copy of X, kept with the workspace) or'ed, in the
    features-major layout (ignored samples-major); a ``dnn._plan.Plan``
    decides. ``threads``: how many threads the Gram form's X^T X may share
    its slabs among here, at set-up (the caller holds BLAS at one thread).
    """
    cdef Net net          # the whole batch, when shards == 1
    cdef Team team        # the shards, when shards > 1 (team.S == 0 otherwise)
    cdef bint slab_any    # the unsplit net has a product of several slabs (``slab_count``)
    cdef bint is_double
    cdef bint running     # a run is under way (set and read with the GIL held)
    cdef readonly long iterations_done  # where the last run stopped, even if it then raised
    cdef readonly double last_cost  # the cost the last run returned, or would have (nan: none)
    cdef object _keep

    def __cinit__(self, list weights, list biases, X, Y, double learning_rate,
                  bint samples_major=False, bint gram=False, int shards=1, own=None, int threads=1):
        cdef int L = len(weights)
        cdef int l, m, s
        if L < 1 or len(biases) != L:
            raise ValueError("need one bias per weight matrix, at least one layer")
        dtype = X.dtype
        if dtype not in (np.float32, np.float64):
            raise TypeError("X must be float32 or float64, got %s" % dtype)
        m = X.shape[1]
        dims = np.empty(L + 1, dtype=np.intc)
        dims[0] = X.shape[0]
        for l in range(L):
            W, b = weights[l], biases[l]
            dims[l + 1] = W.shape[0]
            if (W.dtype != dtype or b.dtype != dtype or not W.flags.c_contiguous
                    or not b.flags.c_contiguous or not W.flags.writeable
                    or not b.flags.writeable or W.ndim != 2
                    or W.shape[1] != dims[l] or b.size != W.shape[0]):
                raise ValueError("layer %d: W and b must be writable C-contiguous %s arrays "
                                 "of shapes (n_l, %d) and (n_l, 1)" % (l + 1, dtype, dims[l]))
        if dims[L] != 1:
            raise ValueError("the output layer must have one unit, got %d" % dims[L])
        if (X.ndim != 2 or not X.flags.c_contiguous or Y.dtype != dtype
                or not Y.flags.c_contiguous or Y.size != m or m < 1):
            raise ValueError("X must be C-contiguous (n_0, m) and Y (1, m), both %s" % dtype)
        if not 1 <= shards <= m or (shards > 1 and gram):
            raise ValueError("shards must be between 1 and m = %d, and 1 with the Gram form; "
                             "got %d" % (m, shards))
        own_flags = np.zeros(L + 1, dtype=np.uint8)
        if own is not None:
            if len(own) != L:
                raise ValueError("own must hold one flag per layer, %d, got %d" % (L, len(own)))
            own_flags[1:] = [0 if samples_major else int(o) & (OWN_NN | OWN_NT | OWN_XT)
                             for o in own]
            own_flags[2:] &= ~OWN_XT & 0xff  # X^T is the first layer's only
            if gram:
                # The Gram form has its own first layer; should it fall back
                # (X^T X overflowing), W_1's gradient goes to BLAS, never to a
                # copy of X^T that was not made.
                own_flags[1] &= ~OWN_XT & 0xff
        w_ptr = np.zeros(L + 1, dtype=np.uintp)
        b_ptr = np.zeros(L + 1, dtype=np.uintp)
        for l in range(1, L + 1):
            w_ptr[l] = address(weights[l - 1])
            b_ptr[l] = address(biases[l - 1])
        self.is_double = dtype == np.float64
        keep = [weights, biases, X, Y, dims, w_ptr, b_ptr, own_flags]
        if shards == 1:
            self.team.S = 0
            if gram:
                # The Gram form trains a private W_1 (publish_first_layer).
                w1 = weights[0].copy()
                w_ptr[1] = address(w1)
                self.net.W1_out = <void*> address(weights[0])
                keep.append(w1)
            keep.append(self._workspace(&self.net, dims, own_flags, X, Y, w_ptr, b_ptr, 0, m,
                                        samples_major, gram, False, learning_rate, threads))
            # every product's shape, the Gram form's too: a team is started only where one slabs
            self.slab_any = (any(layer_slabbed(dims[l], dims[l - 1], m) for l in range(1, L + 1))
                             or gram and max(slab_count(m, m, dims[0]), slab_count(dims[1], m, m)) > 1)
            if not self.net.gram:
                w_ptr[1] = address(weights[0])
        else:
            nets = np.zeros(shards * sizeof(Net), dtype=np.uint8)
            self.team.shards = <Net*> address(nets)
            bounds = shard_bounds(m, shards)
            for s in range(shards):
                keep.append(self._workspace(&self.team.shards[s], dims, own_flags, X, Y,
                                            w_ptr, b_ptr, bounds[s], bounds[s + 1],
                                            samples_major, False, True, learning_rate, 1))
            self.team.row_len = int(dims[:L].max())
            shard_cost = np.empty(shards, dtype=np.float64)
            rows = np.empty(shards * self.team.row_len, dtype=dtype)
            self.team.shard_cost = <double*> address(shard_cost)
            self.team.rows = <void*> address(rows)
            self.team.S = shards
            self.team.m = m
            self.team.lr = learning_rate
            self.team.is_double = self.is_double
            keep += [nets, shard_cost, rows]
        self._keep = keep

    cdef object _workspace(self, Net* net, dims, own_flags, X, Y, w_ptr, b_ptr, int lo, int hi,
                           bint samples_major, bint gram, bint partial, double learning_rate, int threads):
        """Fill ``net`` for the examples ``lo:hi``; returns the arrays it points into.
        ``threads``: the threads X^T X's slabs may run on (BLAS held at one thread by the caller).

        The workspace: every array the loop touches, allocated here, once.
        """
        cdef int L = len(dims) - 1, l, m = hi - lo
        cdef int m_all = X.shape[1]
        cdef Py_ssize_t itemsize = X.dtype.itemsize
        dtype = X.dtype
        # Gradients are only ever as wide as a layer's output (dA_0 = W_1^T dZ_1
        # is never computed), so the input width n_0 does not size them.
        nmax = int(dims[1:].max())
        # every buffer on a cache line (dnn/_lines.py)
        hidden = [_lines.empty(int(dims[l]) * m, dtype=dtype) for l in range(1, L + 1)]
        grads = [_lines.empty(nmax * m, dtype=dtype) for _ in range(2)]
        db = _lines.empty(nmax, dtype=dtype)
        acc = _lines.empty(nmax, dtype=np.float64)
        h_ptr = np.zeros(L + 1, dtype=np.uintp)
        for l in range(1, L + 1):
            h_ptr[l] = address(hidden[l - 1])
        # A shard's gradient sums, which its Team adds up and applies.
        dW = [_lines.empty((int(dims[l]), int(dims[l - 1])) if partial else 1, dtype=dtype)
              for l in range(1, L + 1)]
        dbs = [_lines.empty(int(dims[l]) if partial else 1, dtype=dtype) for l in range(1, L + 1)]
        dw_ptr = np.zeros(L + 1, dtype=np.uintp)
        db_ptr = np.zeros(L + 1, dtype=np.uintp)
        for l in range(1, L + 1):
            dw_ptr[l] = address(dW[l - 1])
            db_ptr[l] = address(dbs[l - 1])
        # OWN_XT: this net's block of X, transposed, once.
        XT = (_lines.copy(X[:, lo:hi].T) if own_flags[1] & OWN_XT
              else _lines.empty(1, dtype=dtype))
        # The Gram form: P = W_1 X (n_1 x m) and G = X^T X (m x m), once.
        P = _lines.empty(int(dims[1]) * m if gram else 1, dtype=dtype)
        G = _lines.empty(m * m if gram else 1, dtype=dtype)
        S = _lines.empty(int(dims[1]) * m if gram else 1, dtype=dtype)
        scratch = _lines.empty(simd.DNN_NN_SCRATCH_BYTES, dtype=np.uint8)  # pages touched only if it packs
        net.L = L
        net.m = m
        net.n = <const int*> address(dims)
        net.sm = samples_major
        net.own = <const unsigned char*> address(own_flags)
        net.XT = <const void*> address(XT)
        # A shard's X is a block of X's columns, Y a block of Y.
        net.X = <const void*> (address(X) + lo * itemsize)
        net.ldx = m_all
        net.Y = <const void*> (address(Y) + lo * itemsize)
        net.W = <void**> address(w_ptr)
        net.b = <void**> address(b_ptr)
        net.H = <void**> address(h_ptr)
        net.G0 = <void*> address(grads[0])
        net.G1 = <void*> address(grads[1])
        net.db = <void*> address(db)
        net.acc = <double*> address(acc)
        net.lr = learning_rate
        net.gram = gram
        net.p_valid = False
        net.P = <void*> address(P)
        net.G = <const void*> address(G)
        net.S = <void*> address(S)
        net.s_pending = False
        net.partial = partial
        net.dWp = <void**> address(dw_ptr)
        net.dbp = <void**> address(db_ptr)
        net.scratch = <void*> address(scratch)
        net.slabbed = not partial
        net.team = NULL
        cdef uintptr_t g_addr = address(G)
        cdef dnn_team gram_team
        if gram:
            with nogil:
                # X^T X in slabs (the same bits on any team), shared as a chunk's products are
                if threads > 1 and slab_count(m, m, net.n[0]) > 1:
                    if dnn_team_start(&gram_team, min(threads, slab_count(m, m, net.n[0]))) == 0:
                        net.team = &gram_team
                    else:
                        dnn_team_stop(&gram_team)
                if self.is_double:
                    gram_matrix(net, <double*> g_addr)
                else:
                    gram_matrix(net, <float*> g_addr)
                if net.team != NULL:
                    net.team = NULL
                    dnn_team_stop(&gram_team)
            # X^T X squares X's values: in float32 it can overflow where W_1 X
            # does not (|x| near 1e19). Then train in the direct form instead.
            if not np.isfinite(G).all():
                net.gram = False
        return (hidden, grads, db, acc, h_ptr, dW, dbs, dw_ptr, db_ptr, P, G, S, XT, scratch)

    @property
    def gram(self):
        """Whether the first layer runs in the Gram form (as asked, unless X^T X overflowed)."""
        return self.team.S == 0 and bool(self.net.gram)

    @property
    def shards(self):
        """The number of blocks the examples are split into (1: no split)."""
        return max(1, self.team.S)

    def run(self, long start, long stop, long cost_at=-1, double budget=0.05, int threads=1):
        """Run iterations ``start .. stop-1`` or fewer; returns ``(done, cost)``.

        Stops right after iteration ``cost_at`` (if in range), returning its
        cost (before its update), else ``cost`` is nan; also stops after the
        first iteration that ends ``budget`` seconds after the chunk began, so
        the caller gets the GIL back regularly. Up to ``threads`` threads
        share the shards, or an unsplit net's slabs (the numbers do not
        depend on how many); the caller sees to it that BLAS runs one thread
        per call meanwhile (``dnn._blas_threads.blas_lent``).
        """
        cdef long done
        cdef double cost = NAN
        if stop <= start:
            return 0, cost
        if self.running:
            # Another thread is inside run: one workspace cannot serve two.
            raise RuntimeError("this Trainer is already running in another thread")
        self.running = True
        try:
            with nogil:
                self._run(start, stop, cost_at, budget, threads, &done, &cost)
        finally:
            self.running = False
        self.iterations_done = start + done
        self.last_cost = cost
        # Back with the GIL: a pending Ctrl-C raises KeyboardInterrupt here (the caller then finds
        # the run's iterations and cost above).
        PyErr_CheckSignals()
        return done, cost

    cdef void _run(self, long start, long stop, long cost_at, double budget, int threads,
                   long* done, double* cost) noexcept nogil:
        """``run``'s work, without the GIL: the team's or the single net's chunk."""
        if self.team.S > 0:
            if self.is_double:
                done[0] = run_team(&self.team, <const double*> NULL, threads, start, stop,
                                   cost_at, budget, cost)
            else:
                done[0] = run_team(&self.team, <const float*> NULL, threads, start, stop,
                                   cost_at, budget, cost)
            return
        # The unsplit net: its large BLAS products' slabs on a team for this chunk
        # (``tgemm``), started here and stopped at its end, as the shards' helpers are.
        cdef dnn_team slab_team
        cdef bint teamed = False
        if threads > 1 and self.slab_any:
            if dnn_team_start(&slab_team, min(threads, _slabs)) == 0:
                self.net.team = &slab_team
                teamed = True
            else:
                dnn_team_stop(&slab_team)  # the helpers that started; the slabs run here
        if self.is_double:
            done[0] = run_chunk(&self.net, <const double*> self.net.Y, start, stop,
                                cost_at, budget, cost)
        else:
            done[0] = run_chunk(&self.net, <const float*> self.net.Y, start, stop,
                                cost_at, budget, cost)
        if teamed:
            self.net.team = NULL
            dnn_team_stop(&slab_team)

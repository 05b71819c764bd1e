# cython: language_level=3
"""The compiled mini-batch training loop: every hidden activation, output kind,
optimizer, L2 and dropout of the course's second part.

``Loop(layers, X, Y, ...)`` owns one fit's workspace, allocated once when it
is made; ``Loop.epoch(order, learning_rate, t, step)`` runs one epoch of
mini-batches without the GIL: no allocation, no Python object, parameters and
optimizer state updated in place in the caller's arrays. The caller draws the
epoch's order in Python (so the numbers are its NumPy twin's) and keeps the
epoch loop (decay, printing, costs). Bad input raises before any ``nogil``
code runs.

Layout. ``X`` is samples-major ``(m, n_0)`` and ``Y`` ``(m, K)``, both
C-contiguous; a batch's rows are gathered into one buffer (a plain slice of X
when ``order`` is None), except for a wide first layer (``wide=``, ``_wide_forward``:
read in place through row pointers, block by block of features; or, where X
is pictures scaled to k / 255 or whole numbers 0 .. 255, from a copy of one
byte per element, each block decoded to X's own values: ``wide_codes=``). Inside, a layer's blocks are features-major
``(n_l, batch)``, as the course; products are BLAS gemms with transpose flags
(no copies): Z_1 = W_1 X_b^T, dW_1 = dZ_1 X_b / b, Z_l = W_l H_{l-1},
dW_l = dZ_l H_{l-1}^T / b, dH_{l-1} = W_l^T dZ_l.

One batch: forward (product, then the activation's fused bias + act pass,
then dropout's mask drawn and applied: H = mask ? A / keep : 0); the output
kind's pass (dZ_L = A_L - Y, db_L, the loss from Z_L); backward, layer by
layer from L: dW_l, then dH_{l-1} = W_l^T dZ_l (the last use of W_l), then
the optimizer's one pass over W_l and b_l while dW_l is in cache (L2 folded
into the gradient it reads), then dropout's mask and the activation's backward with
db_{l-1} in one pass. One dW buffer serves every layer. Sample weights
(``sample_weight=``, scikit-learn's MLP semantics) enter in one place, the
output's pass (each column's dZ_L and loss times its weight), and set the
batch's scale: 1 / its weight sum (gathered with the batch, summed in
order) for every gradient and L2 instead of 1 / bb; without them nothing
of this runs. What an activation, an output
kind and an optimizer are lives in one table each: ``dnn/_loop.h``.

Threads (``threads=``, ``dnn._loop_plan`` chooses). With all products ours, a
Loop of T > 1 threads runs each batch in phases of chunks on a team (its
caller and T - 1 helpers, dnn/_loop.h): the forward pass and the output's
by shares of the batch's columns (one phase: a column depends on its own
only), then per layer the gradients (dW by rows, dH by columns) and the
update (the optimizer by elements, dZ_{l-1} by rows), 2T shares of each,
taken by whichever thread is free (a descheduled helper delays only a chunk
it holds); a wide first layer's backward shares out its blocks of features,
and a layer of under TEAM_LAYER_MIN_WORK multiply-adds per batch runs its shares
on the caller. Shares start at whole blocks of the kernels (``dnn_share``), so
each element is computed as on one thread: the same bits for any T. The loss
is summed by blocks of SPLIT_COLS columns, added in order on the caller, and
L2's sum of squares by the caller after each batch (for the next batch's
cost), so they do not depend on T either. A weight gradient on BLAS runs
whole in one chunk, as on one thread; a BLAS ``nn`` product (the forward's,
or dH's) keeps a Loop on its caller alone (``teamable``). An epoch with any
BLAS product holds BLAS at one thread (``dnn._blas_threads.blas_lent``):
BLAS's sums change with its thread count, and the Loop's must not. Where it
cannot lend BLAS's threads (an OpenMP BLAS, the user's one-thread limit,
another fit holding them), the epoch runs on its caller alone.

Dropout masks: element (i, j) of hidden layer l at step ``step`` (counting
batches from the fit's start) is SplitMix64 keyed by (seed, l, step, i, j),
``dnn.reference.dropout_uniform``'s bits.
"""

cimport cython
from cython cimport floating
from libc.math cimport pow
from libc.stdint cimport int64_t, uint64_t
from libc.stdlib cimport calloc, free
from libc.string cimport memcmp, memcpy
from cpython.buffer cimport PyObject_GetBuffer, PyBuffer_Release, PyBUF_C_CONTIGUOUS, PyBUF_WRITABLE
from cpython.exc cimport PyErr_CheckSignals

from dnn._blas cimport bgemm, dnn_npgemm_is_set, dnn_npgemm_set
cimport dnn._simd as simd
from dnn._team cimport dnn_team, dnn_team_pid, dnn_team_run, dnn_team_start, dnn_team_stop

cdef extern from "_platform.h" nogil:
    ctypedef unsigned long long dnn_fpmode
    dnn_fpmode dnn_fpmode_flush()
    void dnn_fpmode_take(dnn_fpmode mode)
    int dnn_fpmode_flushes()

import contextlib
import threading

import numpy as np

from dnn import _lines, _timed_choice
from dnn._blas_threads import blas_lent

simd.dnn_simd_use(simd.DNN_SIMD_TOP)


def _use_simd(int level):
    """Switch this module's copy of the kernels to build ``level`` (or the best below it the CPU runs);
    returns the level in use. For tests: never while an epoch runs."""
    return simd.dnn_simd_use(level)


def _simd_level():
    return simd.dnn_simd_level


#: Whether the baseline build has a fused multiply-add of its own (arm64; x86-64 built for one):
#: then every build takes codes, else only x86-64's AVX2 and AVX-512 builds (``dnn_codes_fast``).
CODES_BASELINE_FMA = bool(DNN_CODES_BASELINE_FMA)


def _decode(codes, double d, dtype):
    """The values of ``codes`` (uint8) as the build in use decodes them (``k / d``), and whether the
    Loops take codes on this build (``dnn_codes_fast``). For tests."""
    cdef unsigned char[::1] c = np.ascontiguousarray(codes, dtype=np.uint8)
    out = np.empty(c.shape[0], dtype)
    cdef double[::1] od
    cdef float[::1] of
    if c.shape[0] == 0:
        return out, bool(dnn_codes_fast())
    if out.dtype == np.float64:
        od = out
        dnn_codes_kernels().decode_d(c.shape[0], &c[0], d, _code_rd(&od[0], d), &od[0])
    else:
        of = out
        dnn_codes_kernels().decode_f(c.shape[0], &c[0], <float> d, _code_rd(&of[0], d), &of[0])
    return out, bool(dnn_codes_fast())

cdef extern from "_loop.h" nogil:
    ctypedef struct dnn_opt:
        double lr, lam, beta, beta1, beta2, eps, bias1, bias2
    ctypedef void (*dnn_fwd_d)(int, int, double*, int, const double*) noexcept nogil
    ctypedef void (*dnn_fwd_f)(int, int, float*, int, const float*) noexcept nogil
    ctypedef void (*dnn_bwd_d)(int, int, double*, int, const double*, int, double*, double) noexcept nogil
    ctypedef void (*dnn_bwd_f)(int, int, float*, int, const float*, int, float*, double) noexcept nogil
    ctypedef struct dnn_act:
        dnn_fwd_d fwd_d
        dnn_fwd_f fwd_f
        dnn_bwd_d bwd_d
        dnn_bwd_f bwd_f
        int in_nn           # nn's flags that apply the forward in its epilogue (0: it cannot)
    ctypedef void (*dnn_upd_d)(int, double*, const double*, double*, double*, const dnn_opt*,
                               double*) noexcept nogil
    ctypedef void (*dnn_upd_f)(int, float*, const float*, float*, float*, const dnn_opt*,
                               double*) noexcept nogil
    ctypedef struct dnn_update:
        dnn_upd_d d
        dnn_upd_f f
    enum:
        DNN_ACT_COUNT
        DNN_OPT_COUNT
        DNN_OPT_ADAM
        DNN_OUT_IDENTITY
    ctypedef struct dnn_loop_table:
        dnn_act acts[DNN_ACT_COUNT]
        dnn_update opts[DNN_OPT_COUNT]
        void dropout_fwd_d(int R, int j0, int j1, int ld, const double* A, double* H, unsigned char* M,
                           double keep, uint64_t key) noexcept nogil
        void dropout_fwd_f(int R, int j0, int j1, int ld, const float* A, float* H, unsigned char* M,
                           double keep, uint64_t key) noexcept nogil
        void dropout_bwd_d(int n, double* D, const unsigned char* M, double keep) noexcept nogil
        void dropout_bwd_f(int n, float* D, const unsigned char* M, double keep) noexcept nogil
        double output_d(int kind, int K, int j0, int j1, int ld, const double* Z, const double* Y,
                        const double* SW, double* D) noexcept nogil
        double output_f(int kind, int K, int j0, int j1, int ld, const float* Z, const float* Y,
                        const float* SW, float* D) noexcept nogil
        void rowsums_d(int R, int m, const double* D, int ld, double* db, double scale) noexcept nogil
        void rowsums_f(int R, int m, const float* D, int ld, float* db, double scale) noexcept nogil
        double sumsq_d(int n, const double* p) noexcept nogil
        double sumsq_f(int n, const float* p) noexcept nogil
    const dnn_loop_table* dnn_loop_kernels()
    ctypedef struct dnn_wide_table:
        void dot_d(int R, int K, int F, const double* W, int ldw, const double* const* rows, int off, int add,
                   double* Z, int ldz) noexcept nogil
        void dot_f(int R, int K, int F, const float* W, int ldw, const float* const* rows, int off, int add,
                   float* Z, int ldz) noexcept nogil
        void axpy_d(int R, int K, int F, double alpha, const double* D, int ldd, const double* const* rows,
                    int off, int rowlen, double* G, int ldg) noexcept nogil
        void axpy_f(int R, int K, int F, float alpha, const float* D, int ldd, const float* const* rows,
                    int off, int rowlen, float* G, int ldg) noexcept nogil
    const dnn_wide_table* dnn_wide_kernels()
    ctypedef struct dnn_codes_table:
        void decode_d(int n, const unsigned char* c, double d, double rd, double* out) noexcept nogil
        void decode_f(int n, const unsigned char* c, float d, float rd, float* out) noexcept nogil
        size_t encode_d(size_t n, const double* x, double d, double rd, unsigned char* codes,
                        double* tmp) noexcept nogil
        size_t encode_f(size_t n, const float* x, float d, float rd, unsigned char* codes,
                        float* tmp) noexcept nogil
    const dnn_codes_table* dnn_codes_kernels()
    int dnn_codes_fast()
    enum:
        DNN_CODES_BASELINE_FMA
    uint64_t dnn_dropout_key(uint64_t seed, uint64_t layer, uint64_t iteration)
    uint64_t dnn_splitmix(uint64_t state, uint64_t k)
    double dnn_dropout_u(uint64_t row_key, int j)
    void dnn_share(int n, int i, int size, int unit, int* lo, int* hi)
    void dnn_prefetch_rows_r(const void* const* rows, int n, size_t off, size_t bytes)

#: Names -> table rows of dnn/_loop.h (the same order).
ACTIVATIONS = ("relu", "tanh", "leaky_relu")
OUTPUTS = ("sigmoid", "softmax", "identity")
#: "momentum" is the course's (v = beta v + (1 - beta) g; W -= lr v);
#: "heavy_ball" and "nesterov" are scikit-learn's (u = beta u - lr g; W += u,
#: or W += beta u - lr g).
OPTIMIZERS = ("gd", "momentum", "heavy_ball", "nesterov", "rmsprop", "adam")
cdef int ADAM = DNN_OPT_ADAM  # the one whose step counts t
#: The optimizers that read and update ``v`` (first moments, velocities) and ``s`` (second moments).
USES_V = ("momentum", "heavy_ball", "nesterov", "adam")
USES_S = ("rmsprop", "adam")

# A name without its table row would index past dnn/_loop.h's tables: refuse to import instead.
if (len(ACTIVATIONS), len(OPTIMIZERS), len(OUTPUTS), OPTIMIZERS.index("adam")) != (
        DNN_ACT_COUNT, DNN_OPT_COUNT, DNN_OUT_IDENTITY + 1, DNN_OPT_ADAM):
    raise ImportError("dnn._loop: ACTIVATIONS, OPTIMIZERS or OUTPUTS do not match dnn/_loop.h's tables")

#: ``products=``: how a layer's products run (``_products``).
PRODUCTS = ("auto", "blas", "own", "nn")

#: ``nt`` for dZ H^T on batches of at least this many bytes per row (``_products``).
NT_MIN_BATCH_BYTES = 512

#: ``wide="auto"``: the first layer runs the wide path (``_wide_forward``) from this many inputs on,
#: where X_b and W_1 outgrow L2 (benchmarks/NOTES.md, "Issue 12: the cat pictures").
WIDE_MIN_INPUTS = 4096
#: ... in builds with vector kernels only. The scalar build's (MSVC's, or ``DNN_NO_VECTOR_EXT``) wide
#: kernels are plain loops, slower than the layer's products on BLAS (benchmarks/NOTES.md, "The
#: scalar build's wide path").
WIDE_VECTOR_KERNELS = simd.DNN_SIMD_BASE_NAME != b"scalar"
#: The wide path's block of features: the batch's rows of one block take about this many bytes.
WIDE_BLOCK_BYTES = 256 * 1024
#: The wide path's backward copies each block of the batch's rows into an L2 buffer before its
#: product, or reads them in place: the same sums. The rule, one machine's measurement
#: (benchmarks/NOTES.md, "The wide backward's gather, prefetched"): copy on one thread, and on a
#: team when X is larger than this (a smaller X stays in L3 from epoch to epoch). It is only where
#: the loops start: they measure (``wide_gather="measure"``, ``dnn._timed_choice``), per problem and
#: thread count in the process: WIDE_TRIAL_WARM_UPS epochs on the rule's path, WIDE_TRIAL_ROUNDS
#: epochs of each path, then the faster.
WIDE_GATHER_BYTES = 16 * 2**20
#: Whether the rule copies the blocks on one thread whatever X's size (read when a Loop is made).
WIDE_GATHER_ON_ONE_THREAD = True
#: The measured choice's schedule (``dnn._timed_choice``; rounds 0: the rule alone), read when a
#: problem's first Loop is made.
WIDE_TRIAL_WARM_UPS = 1
WIDE_TRIAL_ROUNDS = 3
#: ``wide_codes=``: the wide path reads X as 8-bit codes where X is k / d to the nearest for whole
#: k in 0 .. 255 and d one of these (pictures scaled to 0 .. 1; whole numbers), checked element by
#: element (``_wide_codes``): an eighth of float64's bytes, a quarter of float32's.
WIDE_CODE_DIVISORS = (255.0, 1.0)
#: The most bytes of codes (m n_0) a Loop keeps.
WIDE_CODES_MAX_BYTES = 256 * 2**20
#: A gathered block's rows are this much longer than the block: a whole block's rows (4 KB
#: apart, or any multiple) would share L1's sets, and wide_axpy's 64 rows of one group of features
#: evict each other before its next block of rows of W reads them again (benchmarks/NOTES.md,
#: "The wide backward's gather, prefetched").
WIDE_PAD_BYTES = 64

#: Sizes are C ints in the kernels and 32-bit in BLAS.
_INT_MAX = 2**31 - 1


DEF GATHER_ROWS = 16
# The transposing gather prefetches whole rows of X up to this many bytes (16 rows: 256 KiB, within
# L2); longer rows are left to the hardware.
DEF GATHER_PREFETCH_ROW_BYTES = 16384
# The wide backward's gather asks for the piece of the row this many rows ahead of the one it copies.
DEF WIDE_GATHER_AHEAD = 4
# The coded forward decodes this many rows of a block at a time (``wide_dot``'s group of examples:
# its register block's in every build), each group multiplied while in L1.
DEF WIDE_CODED_GROUP = 4
# A team's shares of work (dnn_share) start at multiples of: columns 16 (a vector of floats in
# AVX-512, GATHER_ROWS), rows 8, elements 64 (an optimizer's vector loop splits where one thread's does).
DEF SPLIT_COLS = 16
DEF SPLIT_ROWS = 8
DEF SPLIT_ELEMS = 64
#: The most threads a Loop's team has.
DEF MAX_TEAM = 8
#: Shares of each kind of work per thread of a team (more balance a late thread; each share
#: of columns reads all of W).
DEF CHUNKS_PER_THREAD = 2
DEF MAX_CHUNKS = 16  # MAX_TEAM * CHUNKS_PER_THREAD
# A layer of fewer multiply-adds per batch runs its backward phases' chunks on the calling
# thread (the same chunks, so the same bits): waking the team for a few microseconds of work
# cost more than it saved (the cat pictures' 20 x 7, 7 x 5 and 5 x 1 layers; NOTES.md).
DEF TEAM_LAYER_MIN_WORK = 65536
# A share of a batch's columns has at least this many columns (float64, float32): each
# share's ``nn`` reads all of W, so fewer shares read it fewer times, more balance the
# threads. One machine's choice (benchmarks/NOTES.md, the team's section): a candidate for
# the measured plan. The bits do not depend on it.
DEF MIN_SHARE_COLS_D = 32
DEF MIN_SHARE_COLS_F = 16
MAX_THREADS = MAX_TEAM
#: A layer of fewer multiply-adds per batch runs its team phases on the caller (``TEAM_LAYER_MIN_WORK``).
TEAM_SMALL_LAYER_WORK = TEAM_LAYER_MIN_WORK


cdef struct Net:
    int L, m, K, bmax, n0
    int hidden, output, opt
    int* n                  # n[0..L]
    void** W                # W[l - 1], l = 1..L; likewise below
    void** b
    void** dW
    void** db
    void** vW
    void** vb
    void** sW
    void** sb
    void** A                # activations (n_l, batch), A[L - 1] holds Z_L
    void** H                # dropout's outputs (hidden layers with keep < 1), else NULL
    void** G                # dZ_l (n_l, batch), also dH_l before the backward pass
    unsigned char** mask
    int* own_nn             # layer l's W H and W^T dZ in dnn/_simd.h's ``nn`` (else BLAS)
    int* own_nt             # layer l's dZ H^T in ``nt`` (else BLAS)
    int numpy_blas          # the BLAS products on NumPy's BLAS where its gemm is set (else SciPy's)
    double* keep
    void* X
    void* Y
    void* SW                # the samples' weights (m,), or NULL: every weight 1
    void* SWb               # the batch's weights gathered (bmax), with SW and an order
    void* Xb                # the batch's rows (bmax, n_0), or with own_nn[0] its columns (n_0, bmax)
    void* Yb
    int wide                # the first layer runs the wide path (``_wide_forward``, ``_wide_backward``)
    int wide_block          # its block of features (columns of W_1)
    int wide_ldx            # the row stride of its gathered blocks: wide_block and a cache line (WIDE_PAD_BYTES)
    int wide_gather         # this epoch's backward gathers each block into Xb first (else reads X's rows in place)
    void* gblk              # the wide path's dW_1 block (n_1, wide_block)
    const void** xrows      # the wide path's pointers to the batch's rows of X (bmax)
    const void** xblk       # and to the rows of its block gathered in Xb (bmax, wide_block)
    const unsigned char* codes  # X as 8-bit codes (m, n_0), or NULL (``_wide_codes``)
    const unsigned char** crows  # the batch's rows of codes (bmax)
    double code_d           # a code k stands for k / code_d (dnn/_loop.h's decode)
    void* scratch           # simd.nn's packed path: DNN_NN_SCRATCH_BYTES per column share (_nn_scratch)
    const int64_t* order    # NULL: in order
    uint64_t seed
    double lambd
    double l2_sum           # the last epoch's L2 part of its loss sum (lambd / 2 * sum(W^2) per batch)
    double* loss_blk        # the output's loss of each block of SPLIT_COLS columns of a batch


cdef enum Phase:
    FORWARD = 0     # chunks: shares of the batch's columns (every layer, then the output's pass)
    GRADIENTS = 1   # layer l: shares of dW_l's rows (and db_L's), then of dH_{l-1}'s columns
    UPDATE = 2      # layer l: shares of W_l's (and b_l's) elements, then of dZ_{l-1}'s rows


cdef struct Batch:
    # One batch's state, read by the chunks of its phases (dnn/_loop.h's team).
    Net* net
    int phase, l, chunks    # chunks: shares of rows and elements (1 on one thread)
    int col_chunks          # shares of the batch's columns (each reads all of W: MIN_SHARE_COLS_*)
    int start, bb
    double scale            # of the gradients: 1 / the batch's weight sum (1 / bb unweighted)
    void* xb                # X_b (rows), or X_b^T (columns) with own_nn[0]
    void* yb
    void* swb               # the batch's weights, or NULL
    int64_t step            # dropout's step of this batch
    dnn_opt opt             # with L2 (for W)
    dnn_opt ob              # without (for b)


cdef bint _teamable(int L, const int* n, const int* own_nn, const int* own_nt, bint wide,
                    int bmax) noexcept nogil:
    """Whether a Loop may run on a team: every ``nn`` product ours (the forward runs in column
    shares, and so does dH = W^T dZ), but a wide first layer's (its own kernels whatever the
    flags). A weight gradient may be BLAS's: it runs whole, one thread, in one chunk of its
    phase (``_gradients``), as on one thread."""
    cdef int l
    for l in range(L):
        if l == 0 and wide:
            continue
        if not own_nn[l]:
            return False
    return True


def teamable(dims, batch, products, wide):
    """``_teamable`` for a plan: ``dims`` (n_0 .. n_L), ``products`` [(own_nn, own_nt)] per layer,
    ``wide`` whether the first layer runs the wide path (``dnn._loop_plan`` asks it of a rule's plan)."""
    cdef int L = len(dims) - 1
    cdef int[::1] n = np.asarray(dims, dtype=np.intc)
    cdef int[::1] nn = np.asarray([bool(p[0]) for p in products] + [0], dtype=np.intc)
    cdef int[::1] nt = np.asarray([bool(p[1]) for p in products] + [0], dtype=np.intc)
    if L < 1 or len(products) != L:
        return False
    return _teamable(L, &n[0], &nn[0], &nt[0], bool(wide), min(int(batch), 1 << 30))


cdef inline void _update(dnn_update upd, floating* p, floating* g, floating* v, floating* s, int lo, int hi,
                         const dnn_opt* o) noexcept nogil:
    """The optimizer's pass over elements lo .. hi - 1 (v, s may be NULL: unused). L2's squares
    are summed apart, on one thread (``_squares``)."""
    if hi <= lo:
        return
    if floating is double:
        upd.d(hi - lo, p + lo, g + lo, v + lo if v != NULL else NULL, s + lo if s != NULL else NULL, o, NULL)
    else:
        upd.f(hi - lo, p + lo, g + lo, v + lo if v != NULL else NULL, s + lo if s != NULL else NULL, o, NULL)


# --------------------------------------------------------------------------
# The wide first layer (many inputs, few units: the cat pictures' 12288 x 20).
# Its cost is memory traffic, not arithmetic: X_b (64 x 12288, 6.3 MB in
# float64) and W_1 with Adam's two moments (2 MB each) do not stay in L2. So
# the batch is never copied whole: dnn/_loop.h's ``wide_dot`` and ``wide_axpy``
# read its rows of X through a table of row pointers, in blocks of
# ``wide_block`` features (columns of W_1) that stay in L2:
# - forward: Z_1 += W_1[:, block] X_b[:, block]^T, rows read in place, blocks
#   in order (the same bits on every run);
# - backward: dW_1[:, block] = dZ_1 X_b[:, block] / bb into a small buffer,
#   and the optimizer applied to that block of W_1 and its state at once,
#   while the gradient is in cache: no gradient array of W_1's size is
#   written and read back. The block's rows are first copied into an L2
#   buffer, or read in place (``wide_gather``: the faster, measured per
#   problem, ``dnn._timed_choice``); the same sums either way.
# Where X is 8-bit codes (``wide_codes``: every element k / d for a whole k
# in 0 .. 255), both read a copy of X of a byte per element instead: the
# forward decodes each block's rows a group at a time, the backward each
# block, into the L2 buffer, X's own values bit for bit.
# Per element, the update is the optimizer's kernel (dnn/_loop.h) as in the
# other layers.
# --------------------------------------------------------------------------

cdef inline void _batch_rows(Net* net, floating* X, int start, int c0, int c1) noexcept nogil:
    """net.xrows[j] := the batch's row j of X (the epoch's order), c0 <= j < c1: the wide kernels
    read them in place."""
    cdef int j
    cdef size_t row
    for j in range(c0, c1):
        row = <size_t> (net.order[start + j] if net.order != NULL else start + j)
        net.xrows[j] = <const void*> (X + row * net.n0)
        if net.codes != NULL:
            net.crows[j] = net.codes + row * net.n0


cdef inline floating _code_rd(floating* kind, double d) noexcept nogil:
    """1 / d as the decode takes it (``_decode_rows``, ``_encode``: the same value). ``kind``
    (unread) gives the dtype."""
    return <floating> (1.0 / d)


cdef void _decode_rows(Net* net, floating* xb, int j0, int j1, int f0, int fc) noexcept nogil:
    """Rows j0 .. j1 - 1 of the batch's block [f0, f0 + fc) from their codes into xb (row j at
    xb + j wide_ldx, in L2): X's values bit for bit (``_wide_codes``)."""
    cdef const dnn_codes_table* k = dnn_codes_kernels()
    cdef floating rd = _code_rd(xb, net.code_d)
    cdef int j
    for j in range(j0, j1):
        if j + WIDE_GATHER_AHEAD < j1:
            dnn_prefetch_rows_r(<const void* const*> net.crows + j + WIDE_GATHER_AHEAD, 1, f0, fc)
        if floating is double:
            k.decode_d(fc, net.crows[j] + f0, net.code_d, rd, xb + <size_t> j * net.wide_ldx)
        else:
            k.decode_f(fc, net.crows[j] + f0, <float> net.code_d, rd, xb + <size_t> j * net.wide_ldx)


cdef bint _encode(floating* X, size_t n, double d, unsigned char* codes) noexcept nogil:
    """Whether each of X's n elements is a code k's k / d as the decode gives it (bit for bit), the
    codes written (dnn/_loop.h's ``encode``). First, whether the decode gives each code the same
    value one at a time (its scalar tail, a block's last features) as in a piece of 256 (its
    vectors, as ``encode`` decodes): a libm whose fma is not exact would not."""
    cdef floating whole[256]
    cdef floating one[256]
    cdef unsigned char c[256]
    cdef const dnn_codes_table* k = dnn_codes_kernels()
    cdef floating rd = _code_rd(X, d)
    cdef int i
    for i in range(256):
        c[i] = <unsigned char> i
    if floating is double:
        k.decode_d(256, c, d, rd, whole)
        for i in range(256):
            k.decode_d(1, c + i, d, rd, one + i)
    else:
        k.decode_f(256, c, <float> d, rd, whole)
        for i in range(256):
            k.decode_f(1, c + i, <float> d, rd, one + i)
    if memcmp(whole, one, sizeof(whole)) != 0:
        return False
    if floating is double:
        return k.encode_d(n, X, d, rd, codes, whole) == n
    else:
        return k.encode_f(n, X, <float> d, rd, codes, whole) == n


cdef inline void _wide_dot(floating* kind, Net* net, const void** rows, int off, int f0, int fc, int c0, int c1,
                           int bb) noexcept nogil:
    """Columns c0 .. c1 - 1 of A[0] (+)= W_1[:, f0 : f0 + fc] times their rows' block (rows[j] + off).
    ``kind`` (unread) gives the dtype."""
    cdef const dnn_wide_table* k = dnn_wide_kernels()
    if floating is double:
        k.dot_d(net.n[1], c1 - c0, fc, <double*> net.W[0] + f0, net.n0, <const double* const*> rows + c0, off,
                f0 > 0, <double*> net.A[0] + c0, bb)
    else:
        k.dot_f(net.n[1], c1 - c0, fc, <float*> net.W[0] + f0, net.n0, <const float* const*> rows + c0, off,
                f0 > 0, <float*> net.A[0] + c0, bb)


cdef void _wide_forward(Net* net, floating* X, int start, int c0, int c1, int bb) noexcept nogil:
    """Columns c0 .. c1 - 1 of A[0] (n_1, bb) := W_1 X_b^T, block by block of features; sets their
    net.xrows for the backward. A column's sums do not depend on the others (a team's shares),
    nor on which columns share a call of ``wide_dot``. From codes, each WIDE_CODED_GROUP
    columns' rows of a block are decoded into their rows of chunk 0's buffer (a team's shares of
    columns: disjoint rows), then multiplied while in L1."""
    cdef int n0 = net.n0, F = net.wide_block, f0 = 0, fc, g, g1
    cdef floating* xb = <floating*> net.Xb
    _batch_rows(net, X, start, c0, c1)
    while f0 < n0:
        fc = F if n0 - f0 > F else n0 - f0
        if net.codes == NULL:
            _wide_dot(X, net, net.xrows, f0, f0, fc, c0, c1, bb)
        else:
            for g in range(c0, c1, WIDE_CODED_GROUP):
                g1 = g + WIDE_CODED_GROUP if c1 - g > WIDE_CODED_GROUP else c1
                _decode_rows(net, xb, g, g1, f0, fc)
                _wide_dot(X, net, net.xblk, 0, f0, fc, g, g1, bb)
        f0 += fc


cdef void _wide_backward(Net* net, floating* kind, int bb, double scale, dnn_update upd, const dnn_opt* opt,
                         int c, int b0, int b1) noexcept nogil:
    """dW_1 = scale dZ_1 X_b for blocks b0 .. b1 - 1 of features (X_b's rows: net.xrows, set by the
    forward), each block's update applied at once (W_1, v, s in place), in chunk c's buffers (a
    team's chunks take shares of the blocks: each block is computed alike whoever runs it).
    ``kind`` (unread) gives the dtype."""
    cdef int n0 = net.n0, n1 = net.n[1], F = net.wide_block, f0 = b0 * F, f1, fc, r
    cdef floating* g = <floating*> net.gblk + <size_t> c * n1 * F
    cdef floating* W = <floating*> net.W[0]
    cdef floating* v = <floating*> net.vW[0]
    cdef floating* s = <floating*> net.sW[0]
    cdef const dnn_wide_table* k = dnn_wide_kernels()
    cdef int ldx = net.wide_ldx
    cdef floating* xb = <floating*> net.Xb + <size_t> c * net.bmax * ldx
    cdef const void** xblk = net.xblk + <size_t> c * net.bmax
    cdef size_t at
    cdef int j
    f1 = n0 if <size_t> b1 * F > <size_t> n0 else b1 * F
    while f0 < f1:
        fc = F if f1 - f0 > F else f1 - f0
        if net.codes != NULL or net.wide_gather:
            # The block's rows gathered into Xb (in L2), xblk[j] pointing at them; row j + WIDE_GATHER_AHEAD's
            # piece asked for while row j's is copied (a copy that waits on each piece's first lines
            # otherwise: benchmarks/NOTES.md, "The wide backward's gather, prefetched"); or decoded
            # from their codes.
            if net.codes != NULL:
                _decode_rows(net, xb, 0, bb, f0, fc)
            else:
                for j in range(bb):
                    if j + WIDE_GATHER_AHEAD < bb:
                        dnn_prefetch_rows_r(net.xrows + j + WIDE_GATHER_AHEAD, 1, <size_t> f0 * sizeof(floating),
                                            <size_t> fc * sizeof(floating))
                    memcpy(xb + <size_t> j * ldx, (<floating*> net.xrows[j]) + f0, <size_t> fc * sizeof(floating))
            # rowlen 0: no prefetch (the buffer is in L2, and 1 KB ahead on each of its rows would
            # outgrow L1: benchmarks/NOTES.md, "X as 8-bit codes")
            if floating is double:
                k.axpy_d(n1, bb, fc, scale, <double*> net.G[0], bb, <const double* const*> xblk, 0, 0, g, fc)
            else:
                k.axpy_f(n1, bb, fc, <float> scale, <float*> net.G[0], bb, <const float* const*> xblk, 0,
                         0, g, fc)
        else:
            if floating is double:
                k.axpy_d(n1, bb, fc, scale, <double*> net.G[0], bb, <const double* const*> net.xrows, f0,
                         n0 - f0, g, fc)
            else:
                k.axpy_f(n1, bb, fc, <float> scale, <float*> net.G[0], bb, <const float* const*> net.xrows, f0,
                         n0 - f0, g, fc)
        for r in range(n1):
            at = <size_t> r * n0 + f0
            _update(upd, W + at, g + <size_t> r * fc, v + at if v != NULL else NULL,
                    s + at if s != NULL else NULL, 0, fc, opt)
        f0 += fc


cdef inline int _group_rows(Net* net, floating* X, int start, int j0, int c1, void** rows) noexcept nogil:
    """rows[j] := the row of X of the batch's column j0 + j, for the up to GATHER_ROWS columns from
    j0 below c1; returns how many."""
    cdef int j, jn = GATHER_ROWS if c1 - j0 > GATHER_ROWS else c1 - j0
    for j in range(jn):
        rows[j] = <void*> (X + <size_t> (net.order[start + j0 + j] if net.order != NULL else start + j0 + j)
                           * net.n0)
    return jn


cdef inline floating* _input(Net* net, int l, floating* xb) noexcept nogil:
    """Layer l's input block: X_b (l = 1), else H_{l-1} (dropout's) or A_{l-1}."""
    if l == 1:
        return xb
    return <floating*> (net.H[l - 2] if net.H[l - 2] != NULL else net.A[l - 2])


cdef inline void* _nn_scratch(Net* net, int share) noexcept nogil:
    """Column share ``share``'s scratch for ``simd.nn`` (the shares of one phase run at once)."""
    return <char*> net.scratch + <size_t> share * simd.DNN_NN_SCRATCH_BYTES


cdef void _forward(Batch* w, floating* kind, int c0, int c1, void* scratch) noexcept nogil:
    """Columns c0 .. c1 - 1 of the batch: gathered, through every layer, then the output's pass
    (dZ_L = A_L - Y); their summed loss into ``loss``. Each column depends on its own only."""
    cdef Net* net = w.net
    cdef int L = net.L, K = net.K, n0 = net.n0, bb = w.bb, start = w.start, l, i, j, j0, jn
    cdef int* n = net.n
    cdef floating* X = <floating*> net.X
    cdef floating* xb = <floating*> w.xb
    cdef floating* yb = <floating*> w.yb
    cdef floating* prev
    cdef floating* dst
    cdef void* rows[GATHER_ROWS]
    cdef void* next_rows[GATHER_ROWS]
    cdef bint ahead, fused = False
    cdef const dnn_loop_table* k = dnn_loop_kernels()
    cdef dnn_act act = k.acts[net.hidden]
    if c1 <= c0:
        return
    if net.wide:
        pass  # the wide first layer reads the batch's rows of X in place (_wide_forward)
    elif net.own_nn[0] or net.order != NULL:
        # X_b, GATHER_ROWS rows at a time: transposed, X_b^T (n_0, bb) features-major for ``nn``
        # and ``nt`` (each write a run of GATHER_ROWS elements, not one element per line), else
        # its rows (bb, n_0) for BLAS. The rows of a shuffled batch come from memory in no order a
        # prefetcher follows (and the transposition reads a line of each in turn): each group's
        # lines are asked for in full before it (the first group) or while the group before it
        # is copied.
        ahead = <size_t> n0 * sizeof(floating) <= GATHER_PREFETCH_ROW_BYTES
        if ahead:
            dnn_prefetch_rows_r(<const void* const*> rows, _group_rows(net, X, start, c0, c1, rows),
                                0, <size_t> n0 * sizeof(floating))
        for j0 in range(c0, c1, GATHER_ROWS):
            jn = _group_rows(net, X, start, j0, c1, rows)
            if ahead and j0 + jn < c1:
                dnn_prefetch_rows_r(<const void* const*> next_rows, _group_rows(net, X, start, j0 + jn, c1, next_rows),
                                    0, <size_t> n0 * sizeof(floating))
            if net.own_nn[0]:
                for i in range(n0):
                    dst = xb + <size_t> i * bb + j0
                    for j in range(jn):
                        dst[j] = (<floating*> rows[j])[i]
            else:
                for j in range(jn):
                    memcpy(xb + <size_t> (j0 + j) * n0, rows[j], <size_t> n0 * sizeof(floating))
    if net.order != NULL:
        for j in range(c0, c1):
            memcpy(yb + <size_t> j * K, <floating*> net.Y + <size_t> net.order[start + j] * K,
                   <size_t> K * sizeof(floating))
    for l in range(1, L + 1):
        prev = _input(net, l, xb)
        fused = False  # the product applied the bias (and the activation) itself
        if l == 1 and net.wide:
            _wide_forward(net, X, start, c0, c1, bb)
        elif net.own_nn[l - 1]:
            fused = l == L or act.in_nn != 0  # the output's bias, or an activation nn applies
            simd.nn(n[l], n[l - 1], c1 - c0, <floating*> net.W[l - 1], n[l - 1], 1, prev + c0, bb,
                    <floating*> net.A[l - 1] + c0, bb, <floating*> net.b[l - 1] if fused else NULL,
                    act.in_nn if fused and l < L else 0, scratch)
        elif l == 1:
            bgemm(net.numpy_blas, False, True, n[1], c1 - c0, n0, <floating> 1, <floating*> net.W[0], n0,
                  xb + <size_t> c0 * n0, n0, <floating> 0, <floating*> net.A[0] + c0, bb)
        else:
            bgemm(net.numpy_blas, False, False, n[l], c1 - c0, n[l - 1], <floating> 1, <floating*> net.W[l - 1],
                  n[l - 1], prev + c0, bb, <floating> 0, <floating*> net.A[l - 1] + c0, bb)
        if l < L:
            if floating is double:
                if not fused:
                    act.fwd_d(n[l], c1 - c0, <double*> net.A[l - 1] + c0, bb, <double*> net.b[l - 1])
                if net.H[l - 1] != NULL:
                    k.dropout_fwd_d(n[l], c0, c1, bb, <double*> net.A[l - 1], <double*> net.H[l - 1],
                                    net.mask[l - 1], net.keep[l - 1], dnn_dropout_key(net.seed, l, w.step))
            else:
                if not fused:
                    act.fwd_f(n[l], c1 - c0, <float*> net.A[l - 1] + c0, bb, <float*> net.b[l - 1])
                if net.H[l - 1] != NULL:
                    k.dropout_fwd_f(n[l], c0, c1, bb, <float*> net.A[l - 1], <float*> net.H[l - 1],
                                    net.mask[l - 1], net.keep[l - 1], dnn_dropout_key(net.seed, l, w.step))
    # Z_L + b_L (the bias pass without an activation, unless nn added it), then the output kind's
    # pass, block by block of SPLIT_COLS columns (c0 starts one: ``dnn_share``), each block's loss
    # kept apart: ``_epoch`` adds them in order, so the sum does not depend on the shares.
    if not fused:
        if floating is double:
            simd.dnn_simd.bias_act_d(n[L], c1 - c0, <double*> net.A[L - 1] + c0, bb, <double*> net.b[L - 1], 0)
        else:
            simd.dnn_simd.bias_act_f(n[L], c1 - c0, <float*> net.A[L - 1] + c0, bb, <float*> net.b[L - 1], 0)
    j0 = c0
    while j0 < c1:
        jn = min(j0 + SPLIT_COLS, c1)
        if floating is double:
            net.loss_blk[j0 // SPLIT_COLS] = k.output_d(net.output, K, j0, jn, bb, <double*> net.A[L - 1],
                                                         <double*> yb, <double*> w.swb, <double*> net.G[L - 1])
        else:
            net.loss_blk[j0 // SPLIT_COLS] = k.output_f(net.output, K, j0, jn, bb, <float*> net.A[L - 1],
                                                         <float*> yb, <float*> w.swb, <float*> net.G[L - 1])
        j0 = jn


cdef void _gradients(Batch* w, floating* kind, int c) noexcept nogil:
    """Layer l's chunk c: c < chunks, rows of dW_l = scale dZ_l H_{l-1}^T (and of db_L at the
    output); else columns of dH_{l-1} = W_l^T dZ_l. A BLAS dW_l runs whole in chunk 0 (the
    same call as on one thread: BLAS's sums may change with the rows it is given), while the
    other chunks take dH's columns."""
    cdef Net* net = w.net
    cdef int l = w.l, bb = w.bb, n0 = net.n0, r0, r1
    cdef int* n = net.n
    cdef floating* G = <floating*> net.G[l - 1]
    cdef floating* prev = _input(net, l, <floating*> w.xb)
    cdef const dnn_loop_table* k = dnn_loop_kernels()
    if c < w.chunks:
        dnn_share(n[l], c, w.chunks, SPLIT_ROWS, &r0, &r1)
        if l == net.L and r1 > r0:
            if floating is double:
                k.rowsums_d(r1 - r0, bb, <double*> G + <size_t> r0 * bb, bb, <double*> net.db[l - 1] + r0, w.scale)
            else:
                k.rowsums_f(r1 - r0, bb, <float*> G + <size_t> r0 * bb, bb, <float*> net.db[l - 1] + r0, w.scale)
        if l == 1 and net.wide:
            # dW_1 and W_1's update, block by block, the chunks taking shares of the blocks; _apply
            # leaves W_1 alone
            dnn_share((n0 + net.wide_block - 1) // net.wide_block, c, w.chunks, 1, &r0, &r1)
            if r1 > r0:
                _wide_backward(net, prev, bb, w.scale, k.opts[net.opt], &w.opt, c, r0, r1)
            return
        if net.own_nt[l - 1]:
            if r1 > r0:
                simd.nt(r1 - r0, n[l - 1], bb, <floating> w.scale, G + <size_t> r0 * bb, bb, prev, bb, False,
                        <floating*> net.dW[l - 1] + <size_t> r0 * n[l - 1], n[l - 1])
            return
        if c != 0:
            return
        r0, r1 = 0, n[l]
        if l == 1 and not net.own_nn[0]:
            bgemm(net.numpy_blas, False, False, r1 - r0, n0, bb, <floating> w.scale, G + <size_t> r0 * bb, bb,
                  prev, n0, <floating> 0, <floating*> net.dW[0] + <size_t> r0 * n0, n0)
        else:
            bgemm(net.numpy_blas, False, True, r1 - r0, n[l - 1], bb, <floating> w.scale, G + <size_t> r0 * bb, bb,
                  prev, bb, <floating> 0, <floating*> net.dW[l - 1] + <size_t> r0 * n[l - 1], n[l - 1])
    else:
        dnn_share(bb, c - w.chunks, w.col_chunks, SPLIT_COLS, &r0, &r1)
        if r1 <= r0:
            return
        if net.own_nn[l - 1]:
            simd.nn(n[l - 1], n[l], r1 - r0, <floating*> net.W[l - 1], 1, n[l - 1], G + r0, bb,
                    <floating*> net.G[l - 2] + r0, bb, NULL, False, _nn_scratch(net, c - w.chunks))
        else:
            bgemm(net.numpy_blas, True, False, n[l - 1], r1 - r0, n[l], <floating> 1, <floating*> net.W[l - 1],
                  n[l - 1], G + r0, bb, <floating> 0, <floating*> net.G[l - 2] + r0, bb)


cdef void _apply(Batch* w, floating* kind, int c) noexcept nogil:
    """Layer l's chunk c: c < chunks, the optimizer on a share of W_l's and b_l's elements; else
    rows of dZ_{l-1} from dH_{l-1} (dropout's mask, the activation's backward, db_{l-1})."""
    cdef Net* net = w.net
    cdef int l = w.l, bb = w.bb, r0, r1
    cdef int* n = net.n
    cdef floating* G
    cdef const dnn_loop_table* k = dnn_loop_kernels()
    cdef dnn_act act = k.acts[net.hidden]
    cdef dnn_update upd = k.opts[net.opt]
    if c < w.chunks:
        dnn_share(n[l] * n[l - 1], c, w.chunks, SPLIT_ELEMS, &r0, &r1)
        if l == 1 and net.wide:
            r1 = r0  # W_1 was updated by _wide_backward, block by block
        _update(upd, <floating*> net.W[l - 1], <floating*> net.dW[l - 1], <floating*> net.vW[l - 1],
                <floating*> net.sW[l - 1], r0, r1, &w.opt)
        dnn_share(n[l], c, w.chunks, SPLIT_ELEMS, &r0, &r1)
        _update(upd, <floating*> net.b[l - 1], <floating*> net.db[l - 1], <floating*> net.vb[l - 1],
                <floating*> net.sb[l - 1], r0, r1, &w.ob)
        return
    dnn_share(n[l - 1], c - w.chunks, w.chunks, SPLIT_ROWS, &r0, &r1)
    if r1 <= r0:
        return
    G = <floating*> net.G[l - 2] + <size_t> r0 * bb
    if floating is double:
        if net.H[l - 2] != NULL:
            k.dropout_bwd_d((r1 - r0) * bb, <double*> G, net.mask[l - 2] + <size_t> r0 * bb, net.keep[l - 2])
        act.bwd_d(r1 - r0, bb, <double*> G, bb, <double*> net.A[l - 2] + <size_t> r0 * bb, bb,
                  <double*> net.db[l - 2] + r0, w.scale)
    else:
        if net.H[l - 2] != NULL:
            k.dropout_bwd_f((r1 - r0) * bb, <float*> G, net.mask[l - 2] + <size_t> r0 * bb, net.keep[l - 2])
        act.bwd_f(r1 - r0, bb, <float*> G, bb, <float*> net.A[l - 2] + <size_t> r0 * bb, bb,
                  <float*> net.db[l - 2] + r0, w.scale)


cdef floating* _batch_weights(Net* net, floating* kind, int start, int bb, double* total) noexcept nogil:
    """The batch's weights (gathered into net.SWb in the epoch's order, else a slice of SW) and
    their sum, in double, in the batch's order (the same for any team)."""
    cdef floating* sw = <floating*> net.SW
    cdef floating* swb = <floating*> net.SWb if net.order != NULL else sw + start
    cdef double sum = 0.0
    cdef int j
    for j in range(bb):
        if net.order != NULL:
            swb[j] = sw[net.order[start + j]]
        sum += swb[j]
    total[0] = sum
    return swb


cdef void _chunk(Batch* w, floating* kind, int c) noexcept nogil:
    cdef int c0, c1
    if w.phase == FORWARD:
        dnn_share(w.bb, c, w.col_chunks, SPLIT_COLS, &c0, &c1)
        _forward(w, kind, c0, c1, _nn_scratch(w.net, c))
    elif w.phase == GRADIENTS:
        _gradients(w, kind, c)
    else:
        _apply(w, kind, c)


cdef void _chunk_d(void* ctx, int c) noexcept nogil:
    _chunk[double](<Batch*> ctx, NULL, c)


cdef void _chunk_f(void* ctx, int c) noexcept nogil:
    _chunk[float](<Batch*> ctx, NULL, c)


cdef void _run(dnn_team* team, Batch* w, floating* kind, int phase, int n) noexcept nogil:
    w.phase = phase
    if floating is double:
        dnn_team_run(team, _chunk_d, w, n)
    else:
        dnn_team_run(team, _chunk_f, w, n)


cdef double _squares(Net* net, floating* kind) noexcept nogil:
    """sum(W^2) over the layers, in order (L2's cost): one pass over the weights."""
    cdef const dnn_loop_table* k = dnn_loop_kernels()
    cdef double total = 0.0
    cdef int l
    for l in range(net.L):
        if floating is double:
            total += k.sumsq_d(net.n[l + 1] * net.n[l], <double*> net.W[l])
        else:
            total += k.sumsq_f(net.n[l + 1] * net.n[l], <float*> net.W[l])
    return total


cdef double _epoch(Net* net, floating* kind, dnn_team* team, int chunks, dnn_opt opt, int64_t* t,
                   int64_t* step) noexcept nogil:
    """One epoch; returns the sum of its batches' losses (plus L2's per batch).

    Each batch in phases of chunks (``Phase``), run by ``team`` (NULL: this thread) in
    ``chunks`` shares of each kind of work (``dnn_share``): the forward pass and the output's by
    columns (no meeting between layers: a column depends on its own), then per layer from L the
    gradients (dW by rows, dH = W^T dZ by columns), then the update (the optimizer by elements,
    dZ_{l-1} by rows). Every element is computed by the same code in the same order whichever
    thread runs it and however many shares there are, and the loss is summed by fixed blocks of
    columns (``_forward``) and L2's squares on this thread (``_squares``): the same bits for any
    team."""
    cdef int L = net.L, m = net.m, K = net.K, n0 = net.n0, l, c
    cdef int* n = net.n
    cdef double total = 0.0, loss, sumsq = 0.0, l2 = 0.0, weights, part
    cdef Batch w
    cdef int col_chunks
    cdef bint small
    cdef const dnn_loop_table* k = dnn_loop_kernels()
    w.net = net
    w.chunks = chunks
    if net.lambd > 0:
        sumsq = _squares(net, kind)
    w.start = 0
    while w.start < m:
        w.bb = net.bmax if m - w.start > net.bmax else m - w.start
        weights = w.bb
        w.swb = NULL
        if net.SW != NULL:
            w.swb = _batch_weights(net, kind, w.start, w.bb, &weights)
            if weights == 0:
                w.start += w.bb  # every weight 0: the batch is absent (no step, no update)
                continue
        w.scale = 1.0 / weights
        w.step = step[0]
        w.xb = net.Xb if net.own_nn[0] or net.order != NULL else <void*> (<floating*> net.X + <size_t> w.start * n0)
        w.yb = net.Yb if net.order != NULL else <void*> (<floating*> net.Y + <size_t> w.start * K)
        w.col_chunks = min(chunks, max(1, w.bb // (MIN_SHARE_COLS_D if floating is double else MIN_SHARE_COLS_F)))
        col_chunks = w.col_chunks
        _run(team, &w, kind, FORWARD, w.col_chunks)
        loss = net.loss_blk[0]
        for c in range(1, (w.bb + SPLIT_COLS - 1) // SPLIT_COLS):
            loss += net.loss_blk[c]
        if net.lambd > 0:
            loss += net.lambd / 2 * sumsq
        if net.SW == NULL:
            if net.lambd > 0:
                l2 += net.lambd / 2 * sumsq
            total += loss
        else:
            # scikit-learn's batch loss, the weighted mean plus L2 over the weight sum, counted bb
            # times (as an unweighted batch's mean is)
            part = w.bb / weights
            if net.lambd > 0:
                l2 += net.lambd / 2 * (sumsq * part)
            total += loss * part
        # the step's counters and the optimizer's constants
        step[0] += 1
        if net.opt == ADAM:
            t[0] += 1
        opt.bias1 = 1 - pow(opt.beta1, <double> t[0])
        opt.bias2 = 1 - pow(opt.beta2, <double> t[0])
        opt.lam = net.lambd / weights
        w.opt = opt
        w.ob = opt
        w.ob.lam = 0
        # backward; layer l's update right after its last use of W_l (dW_l still in cache)
        for l in range(L, 0, -1):
            w.l = l
            # a small layer's phases run here, in one chunk each, as on one thread (the same bits;
            # its weight gradient may be BLAS's, whole: ``_teamable``): handing them to the team
            # costs more (a wide first layer's update phase has b_1 alone: W_1 was updated in its
            # gradients')
            small = not (l == 1 and net.wide) and <double> n[l] * n[l - 1] * w.bb < TEAM_LAYER_MIN_WORK
            if small:
                w.chunks = 1
                w.col_chunks = 1
            _run(NULL if small else team, &w, kind, GRADIENTS, w.chunks + (w.col_chunks if l > 1 else 0))
            _run(NULL if small or (l == 1 and net.wide) else team, &w, kind, UPDATE,
                 w.chunks * (2 if l > 1 else 1))
            w.chunks = chunks
            w.col_chunks = col_chunks
        if net.lambd > 0 and w.start + w.bb < m:  # the next batch's (the epoch's last batch has none)
            sumsq = _squares(net, kind)  # on this thread, layer by layer: the same sum on any team
        w.start += w.bb
    net.l2_sum = l2
    return total


def _address(a):
    return a.ctypes.data


cdef bint _same_buffer(a, Py_ssize_t address, Py_ssize_t nbytes, bint written):
    """Whether ``a`` still exposes ``nbytes`` C-contiguous bytes at ``address`` (writeable if
    ``written``): the buffer protocol, a fraction of a microsecond (``a.ctypes`` takes several)."""
    cdef Py_buffer view
    try:
        PyObject_GetBuffer(a, &view, PyBUF_C_CONTIGUOUS | (PyBUF_WRITABLE if written else 0))
    except (BufferError, ValueError, TypeError):
        return False
    same = <Py_ssize_t> view.buf == address and view.len == nbytes
    PyBuffer_Release(&view)
    return same


cdef void* _ptr(a):
    cdef Py_ssize_t address = a.ctypes.data
    return <void*> address


cdef (void*, void*) _state(state, name, int l, dtype, shape_W, list keep_alive):
    """The optimizer state pair (s_W, s_b) of layer l, checked: its two pointers."""
    pair = state[l - 1]
    _need(len(pair) == 2, "%s[%d] must be a pair (W%d's, b%d's)", name, l - 1, l, l)
    sW, sb = pair
    n_l = shape_W[0]
    _array(sW, "%s[%d] (W%d's)" % (name, l - 1, l), dtype, shape_W)
    _array(sb, "%s[%d] (b%d's)" % (name, l - 1, l), dtype,
           sb.shape if getattr(sb, "shape", None) in ((n_l, 1), (n_l,)) else (n_l, 1))
    keep_alive += [("%s[%d] (W%d's)" % (name, l - 1, l), sW, True), ("%s[%d] (b%d's)" % (name, l - 1, l), sb, True)]
    return _ptr(sW), _ptr(sb)


def _products(products, dims, batch, itemsize):
    """Per layer, whether its ``nn`` products (W H, W^T dZ) and its ``nt`` (dZ H^T) run in
    dnn/_simd.h's kernels: ``"auto"`` takes the step-by-step API's rule for a call on ``batch``
    examples (``dnn._products.for_step``: a mini-batch is such a call), ``"blas"`` none, ``"own"``
    all, ``"nn"`` the ``nn`` products only, or one ``(nn, nt)`` pair of bools per layer. The first layer's ``nt`` reads X_b^T, which only its own ``nn`` gathers."""
    if products == "auto":
        from dnn import _kernels, _products as rule
        # for_step's "all" (a tiny layer) is both products.
        every = _kernels.OWN_PRODUCTS["all"]
        nn, nt = _kernels.OWN_PRODUCTS["nn"] | every, _kernels.OWN_PRODUCTS["nt"] | every
        flags = [rule.for_step(dims[l], dims[l - 1], batch, itemsize) for l in range(1, len(dims))]
        # ``nt`` sums each weight's gradient over the batch in vectors, then adds the vector's
        # lanes: on a batch of fewer than 8 vectors (512 bytes: 64 float64, 128 float32 at
        # AVX-512's 64 bytes, the only build for_step gives it) those sums cost more than BLAS's
        # packing (benchmarks/NOTES.md, "Issue 11").
        long_sums = batch * itemsize >= NT_MIN_BATCH_BYTES
        tiny = [dims[l] * dims[l - 1] <= rule.TINY_PRODUCT for l in range(1, len(dims))]
        out = [(bool(f & nn), bool(f & nt) and (long_sums or small)) for f, small in zip(flags, tiny)]
    elif isinstance(products, str):
        out = [(products in ("own", "nn"), products == "own")] * (len(dims) - 1)
    else:  # per layer (nn, nt), e.g. dnn._loop_plan's decision
        out = [(bool(nn), bool(nt)) for nn, nt in products]
    out[0] = (out[0][0], out[0][0] and out[0][1])
    return out


def flushes_subnormals():
    """Whether this build's epochs flush subnormal results to zero (x86-64, and arm64 under GCC
    or clang: dnn/_platform.h); elsewhere they keep IEEE's subnormals."""
    return bool(dnn_fpmode_flushes())


def wide_auto(n0):
    """Whether ``wide="auto"`` takes the wide path for a first layer of ``n0`` inputs (the Loop's
    rule, which ``dnn._loop_plan`` predicts)."""
    return n0 >= WIDE_MIN_INPUTS and bool(WIDE_VECTOR_KERNELS)


def wide_block(n0, batch, itemsize):
    """The wide path's block of features for a batch of ``batch`` rows: ``WIDE_BLOCK_BYTES`` of them,
    a multiple of 64 features (whole cache lines), at least 64, at most n_0."""
    f = max(64, WIDE_BLOCK_BYTES // (batch * itemsize) // 64 * 64)
    return int(min(f, n0))


_numpy_gemm_lock = threading.Lock()


def numpy_gemm_found():
    """Whether this module's BLAS products can run on NumPy's BLAS (``Loop(numpy_blas=True)``):
    its cblas gemm found by ``dnn._numpy_blas`` and set here (once, and only where unset: an
    epoch running in another thread never sees it change)."""
    with _numpy_gemm_lock:
        if not dnn_npgemm_is_set():
            from dnn import _numpy_blas

            _set_numpy_gemm(*(_numpy_blas.gemm_addresses() or (0, 0, False)))
    return bool(dnn_npgemm_is_set())


def _set_numpy_gemm(dgemm, sgemm, bint ilp64):
    """Set this module's NumPy gemm (``dnn._kernels._set_numpy_gemm``'s twin): tests only, never
    while an epoch runs; 0 for both unsets it."""
    dnn_npgemm_set(<void*> <size_t> int(dgemm or 0), <void*> <size_t> int(sgemm or 0), ilp64)


def _layer_pairs(products, L):
    """Whether ``products`` is a sequence of ``L`` pairs of bools (``Loop``'s per-layer form)."""
    try:
        return len(products) == L and all(len(p) == 2 and all(isinstance(f, (bool, np.bool_)) for f in p)
                                          for p in products)
    except TypeError:
        return False


def _need(cond, message, *args):
    if not cond:
        raise ValueError(message % args)


def _array(x, name, dtype, shape, writeable=True):
    if not isinstance(x, np.ndarray):
        raise TypeError("%s must be a numpy.ndarray, got %s" % (name, type(x).__name__))
    _need(x.dtype == dtype, "%s must have dtype %s, got %s", name, dtype, x.dtype)
    _need(x.shape == shape, "%s must have shape %s, got %s", name, shape, x.shape)
    _need(x.flags.c_contiguous and x.flags.aligned and (x.flags.writeable or not writeable),
          "%s must be a%s aligned, C-contiguous array", name, " writeable," if writeable else "n")
    return x


def _no_overlap(arrays):
    """Refuse a writeable array that shares memory with any other of ``arrays`` ([(name, array,
    writeable)], all C-contiguous): the loop would read a value it has just overwritten (v given as s, a
    W passed twice, X a view of a W), silently wrong numbers."""
    spans = sorted((a.ctypes.data, a.ctypes.data + a.nbytes, name, w) for name, a, w in arrays)
    active = []  # spans still open at the current start (only read-only ones overlap, else we raised)
    for span in spans:
        active = [a for a in active if a[1] > span[0]]
        for other in active:
            if other[3] or span[3]:
                raise ValueError("%s and %s share memory; the loop updates %s in place, so it needs its own"
                                 % (other[2], span[2], other[2] if other[3] else span[2]))
        active.append(span)


cdef class Loop:
    """One fit's workspace and its epoch runner (see the module's docstring).

    ``layers``: [(W_l, b_l)], W ``(n_l, n_{l-1})``, b ``(n_l, 1)`` (or
    ``(n_l,)``), C-contiguous float32 or float64, updated in place. ``X``
    ``(m, n_0)`` and ``Y`` ``(m, K)`` C-contiguous of the same dtype (Y:
    0/1 labels, one-hot rows, or real targets). ``hidden`` in
    ``ACTIVATIONS``, ``output`` in ``OUTPUTS``, ``optimizer`` in
    ``OPTIMIZERS``; ``v``/``s``: [(v_W, v_b)] state of the parameters'
    shapes, updated in place (``v`` for the momentum kinds and Adam, ``s``
    for RMSprop and Adam). ``beta``: the course momentum's beta or
    scikit-learn's momentum. ``keep``: one keep probability per hidden
    layer. ``lambd``: L2 (``lambd / batch * W`` in every dW). ``sample_weight``:
    None, or ``(m,)`` finite weights >= 0 of X's dtype, scikit-learn's: each
    example's dZ_L and loss times its weight, and the batch's weight sum in
    place of its size (``1 / sum`` scales the gradients, ``lambd / sum`` is
    L2's); a batch whose weights are all 0 is skipped (no step); the loss
    sum counts a batch's weighted mean ``bb`` times. ``wide``: the
    first layer's wide path (``_wide_forward``): ``"auto"`` from
    ``WIDE_MIN_INPUTS`` inputs on (in builds with vector kernels:
    ``WIDE_VECTOR_KERNELS``), True, False, or an int, its block of
    features (tests, measurements); ``products`` then concern the other
    layers only. ``wide_gather``: whether its backward copies each block of
    the batch's rows first or reads them in place (the same numbers):
    ``"measure"`` (the faster on this machine, timed on the process's
    first epochs of the problem: ``WIDE_GATHER_BYTES``), ``"rule"`` (that
    measurement's starting point, untimed), True or False. ``wide_codes``:
    whether the wide path may read X as 8-bit codes: where every element is
    k / d to the nearest for a whole k in 0 .. 255 and d in
    ``WIDE_CODE_DIVISORS`` (pictures scaled to 0 .. 1, or whole numbers),
    checked bit for bit in one pass over X, the Loop keeps X as a byte per
    element (at most ``WIDE_CODES_MAX_BYTES``) and decodes each block of the
    batch's rows, in L2, into X's own values: the same numbers, from an eighth
    (float64) or a quarter (float32) of the memory traffic. ``"auto"`` looks
    at the second epoch (a Loop of one epoch would not earn the pass back),
    then times epochs on the codes against epochs on X, as ``wide_gather``
    does (per problem and thread count in the process; the rule: the codes),
    and keeps the faster; True looks when the Loop is made and always reads
    them; False (the default) never looks. ``wide_coded`` says whether it
    found them, ``epoch_coded`` whether the last epoch read them. The epochs
    then read the codes, not X: a caller that
    changes X's values between epochs (an augmentation in place) must leave
    this False, as the default does; dnn's fits, which hold X for one call,
    ask for ``"auto"`` (``dnn._loop_plan.make_loop``). Builds without a fused
    multiply-add of their own (x86-64's baseline, MSVC) take no codes.
    ``threads``: the
    threads of an epoch (1 to ``MAX_THREADS``; see the module's docstring);
    the numbers do not depend on it.
    ``numpy_blas``: the products ``products`` leaves to BLAS run on NumPy's
    BLAS rather than SciPy's where ``numpy_gemm_found()`` (another OpenBLAS
    version: faster or slower by shape, equal to rounding; ``dnn._loop_plan``
    measures which).

    Safety: an array the loop writes (W, b, v, s) may share memory with no
    other (``ValueError``); each epoch re-checks that the caller's arrays still
    expose the memory checked here (resized, moved or made read-only:
    ``ValueError``, make a new Loop); epochs called from several threads run
    one at a time (a lock: the workspace is the Loop's).
    """
    cdef Net net
    cdef object _keep_alive
    cdef dnn_opt opt
    cdef bint double_
    cdef bint ready         # __init__ ran to its end (a half-built Loop never runs)
    cdef readonly int m, batch_size
    #: Whether the first layer runs the wide path (``wide=``), and its block of features.
    cdef readonly bint wide
    cdef readonly int wide_block
    #: Whether the last epoch's wide backward copied (or decoded: ``wide_coded``) each block of the
    #: batch's rows first rather than reading them in place (``wide_gather=``).
    cdef readonly bint wide_gather
    #: Whether its BLAS products run on NumPy's BLAS (``numpy_blas=`` and ``numpy_gemm_found()``).
    cdef readonly bint numpy_blas
    #: Whether any product runs on BLAS: its epochs then hold BLAS at one thread.
    cdef readonly bint uses_blas
    #: After the last epoch that ran to its end: its loss sum, the counters, and how many epochs ran
    #: (set before ``epoch`` returns, so a caller interrupted right after the call can read them).
    cdef readonly double loss
    #: The L2 part of ``loss`` (``lambd / 2 * sum(W^2)`` per batch): the data's part is the rest.
    cdef readonly double loss_l2
    cdef readonly int64_t t, step, epochs
    cdef object _arrays     # [(array, address, shape, writeable)]: the caller's, re-checked every epoch
    cdef object _lock       # one epoch at a time (the workspace is shared)
    cdef object _seen       # (m,) uint8: order's permutation check
    #: Threads that run an epoch (the caller and ``threads - 1`` helpers, started at the first
    #: epoch and stopped when the Loop is freed).
    cdef readonly int threads
    #: Threads the last epoch ran on: ``threads``, or 1 where it has a BLAS product and BLAS could not be
    #: lent (an OpenMP BLAS, a one-thread limit of the user's, or another fit or step call holding it).
    cdef readonly int epoch_threads
    cdef dnn_team* team     # NULL until the first epoch with threads > 1
    cdef long team_pid      # the process that started it
    cdef object _order      # (m,) int64: the epoch's copy of order (checked, then read without the GIL)
    cdef object _gather     # wide_gather=: "measure", "rule", True or False
    cdef object _gather_rule  # (on a team, on one thread): the rule's path, WIDE_GATHER_* when the Loop was made
    cdef object _gather_key  # what decides the two paths' speed, but the threads (measured)
    cdef object _gather_schedule  # (WIDE_TRIAL_WARM_UPS, WIDE_TRIAL_ROUNDS) when the Loop was made
    #: Whether the last epoch read X's 8-bit codes (``wide_codes``; ``"auto"``: the faster path,
    #: measured; ``wide_coded``: whether they were found).
    cdef readonly bint epoch_coded
    cdef int _codes_at      # the epoch (2: "auto") that looks for codes; 0: done, or never
    cdef const unsigned char* _codes  # X's codes, found (net.codes: this epoch's, or NULL)
    cdef bint _measure_codes  # "auto": codes or X, timed (dnn._timed_choice)

    def __cinit__(self):
        self.net.n = NULL
        self.net.codes = NULL
        self._codes = NULL
        self.team = NULL
        self.threads = 1
        self.epoch_threads = 1

    def __init__(self, layers, X, Y, *, hidden="relu", output="sigmoid", optimizer="gd", batch_size=64,
                 lambd=0.0, keep=None, dropout_seed=0, beta=0.9, beta1=0.9, beta2=0.999, epsilon=1e-8,
                 v=None, s=None, products="auto", wide="auto", threads=1, sample_weight=None,
                 numpy_blas=False, wide_gather="measure", wide_codes=False):
        _need(self.net.n == NULL, "a Loop is initialized once")
        _need(isinstance(numpy_blas, (bool, np.bool_)), "numpy_blas must be a bool, got %r", numpy_blas)
        for value, name, names in ((hidden, "hidden", ACTIVATIONS), (output, "output", OUTPUTS),
                                   (optimizer, "optimizer", OPTIMIZERS)):
            _need(isinstance(value, str) and value in names, "%s must be one of %s, got %r", name, names, value)
        if not isinstance(X, np.ndarray) or X.dtype not in (np.float32, np.float64):
            raise TypeError("X must be a float32 or float64 numpy.ndarray, got %s"
                            % getattr(X, "dtype", type(X).__name__))
        dtype = X.dtype
        _need(X.ndim == 2, "X must be 2-D (m, n_0), got shape %s", X.shape)
        m, n0 = X.shape
        layers = list(layers)
        _need(products in PRODUCTS if isinstance(products, str) else _layer_pairs(products, len(layers)),
              "products must be one of %s or one (nn, nt) pair of bools per layer, got %r", PRODUCTS, products)
        L = len(layers)
        _need(L >= 1, "layers must hold at least one (W, b)")
        _need(isinstance(wide, (bool, np.bool_)) or wide == "auto" or (isinstance(wide, int) and wide >= 1),
              'wide must be "auto", True, False or a block of features >= 1, got %r', wide)
        _need(isinstance(wide_gather, (bool, np.bool_))
              or (isinstance(wide_gather, str) and wide_gather in ("measure", "rule")),
              'wide_gather must be "measure", "rule", True or False, got %r', wide_gather)
        _need(isinstance(wide_codes, (bool, np.bool_)) or (isinstance(wide_codes, str) and wide_codes == "auto"),
              'wide_codes must be "auto", True or False, got %r', wide_codes)
        dims = [n0]
        for l, pair in enumerate(layers, start=1):
            _need(len(pair) == 2, "layers[%d] must be a pair (W, b)", l - 1)
            W = pair[0]
            _need(isinstance(W, np.ndarray) and W.ndim == 2, "W%d must be a 2-D array", l)
            dims.append(W.shape[0])
        K = dims[L]
        _need(m >= 1 and min(dims) >= 1, "sizes must be positive, got m=%d and layer sizes %s", m, dims)
        _array(X, "X", dtype, (m, n0), writeable=False)
        _array(Y, "Y", dtype, (m, K), writeable=False)
        if sample_weight is not None:
            _array(sample_weight, "sample_weight", dtype, (m,), writeable=False)
            with np.errstate(over="ignore"):  # an infinite sum is refused, not warned about
                total = np.sum(sample_weight, dtype=np.float64)
            _need(bool(np.isfinite(sample_weight).all()) and not (sample_weight < 0).any()
                  and np.isfinite(total), "sample_weight must hold finite weights >= 0 with a finite sum")
        _need(isinstance(threads, (int, np.integer)) and 1 <= threads <= MAX_TEAM,
              "threads must be an int in [1, %d], got %r", MAX_TEAM, threads)
        batch_size = int(batch_size)
        _need(batch_size >= 1, "batch_size must be at least 1, got %d", batch_size)
        bmax = min(batch_size, m)
        # every W (n_l, n_{l-1}) and every batch block (n_l, batch) counts its elements in a C int
        _need(max(dims[l] * dims[l - 1] for l in range(1, L + 1)) <= _INT_MAX and max(dims) * bmax <= _INT_MAX
              and m <= _INT_MAX, "sizes too large for 32-bit BLAS: layer sizes %s, batch %d", dims, bmax)
        keep = [1.0] * (L - 1) if keep is None else [float(k) for k in keep]
        _need(len(keep) == L - 1 and all(0 < k <= 1 for k in keep),
              "keep must hold %d keep probabilities in (0, 1], got %s", L - 1, keep)
        for value, name, low, high in ((lambd, "lambd", 0, np.inf), (beta, "beta", 0, 1), (beta1, "beta1", 0, 1),
                                       (beta2, "beta2", 0, 1), (epsilon, "epsilon", 0, np.inf)):
            _need(np.isfinite(float(value)) and low <= float(value) <= high, "%s must be in [%s, %s], got %r",
                  name, low, high, value)
        _need(optimizer != "adam" or (beta1 < 1 and beta2 < 1),
              "Adam's beta1 and beta2 must be below 1 (its bias correction divides by 1 - beta^t), got %r, %r",
              beta1, beta2)
        dropout_seed = int(dropout_seed)
        _need(0 <= dropout_seed < 2**64, "dropout_seed must be in [0, 2**64), got %d", dropout_seed)
        need_v, need_s = optimizer in USES_V, optimizer in USES_S
        for state, name, needed in ((v, "v", need_v), (s, "s", need_s)):
            if needed:
                _need(state is not None and len(state) == L, "%s must hold %d (v_W, v_b) pairs for %s",
                      name, L, optimizer)
        keep_alive = [("X", X, False), ("Y", Y, False)]   # (name, the caller's array, written)
        if sample_weight is not None:
            keep_alive.append(("sample_weight", sample_weight, False))
        self.double_ = dtype == np.float64
        self.m, self.batch_size = m, bmax
        net = &self.net
        net.L, net.m, net.K, net.bmax, net.n0 = L, m, K, bmax, n0
        net.hidden, net.output, net.opt = (ACTIVATIONS.index(hidden), OUTPUTS.index(output),
                                           OPTIMIZERS.index(optimizer))
        net.seed, net.lambd = dropout_seed, float(lambd)
        net.X = _ptr(X)
        net.Y = _ptr(Y)
        net.SW = _ptr(sample_weight) if sample_weight is not None else NULL
        net.order = NULL
        net.n = <int*> calloc(L + 1, sizeof(int))
        net.keep = <double*> calloc(L, sizeof(double))
        net.mask = <unsigned char**> calloc(L, sizeof(void*))
        net.own_nn = <int*> calloc(L, sizeof(int))
        net.own_nt = <int*> calloc(L, sizeof(int))
        net.W = <void**> calloc(L, sizeof(void*))
        net.b = <void**> calloc(L, sizeof(void*))
        net.dW = <void**> calloc(L, sizeof(void*))
        net.db = <void**> calloc(L, sizeof(void*))
        net.vW = <void**> calloc(L, sizeof(void*))
        net.vb = <void**> calloc(L, sizeof(void*))
        net.sW = <void**> calloc(L, sizeof(void*))
        net.sb = <void**> calloc(L, sizeof(void*))
        net.A = <void**> calloc(L, sizeof(void*))
        net.H = <void**> calloc(L, sizeof(void*))
        net.G = <void**> calloc(L, sizeof(void*))
        net.loss_blk = <double*> calloc((bmax + SPLIT_COLS - 1) // SPLIT_COLS, sizeof(double))
        if (net.loss_blk == NULL or net.own_nn == NULL or net.own_nt == NULL or net.n == NULL or net.keep == NULL or net.mask == NULL or net.W == NULL or net.b == NULL
                or net.dW == NULL or net.db == NULL or net.vW == NULL or net.vb == NULL or net.sW == NULL
                or net.sb == NULL or net.A == NULL or net.H == NULL or net.G == NULL):
            raise MemoryError()
        for l in range(L + 1):
            net.n[l] = dims[l]
        for l in range(L - 1):
            net.keep[l] = keep[l]
        for l, (own_nn, own_nt) in enumerate(_products(products, dims, bmax, dtype.itemsize)):
            net.own_nn[l], net.own_nt[l] = own_nn, own_nt
        net.numpy_blas = bool(numpy_blas) and numpy_gemm_found()
        auto = isinstance(wide, str)
        net.wide = wide_auto(n0) if auto else bool(wide)
        large = X.nbytes > WIDE_GATHER_BYTES  # net.wide_gather: each epoch's (``epoch``)
        self._gather_rule = (large, large or bool(WIDE_GATHER_ON_ONE_THREAD))
        self._gather = wide_gather if isinstance(wide_gather, str) else bool(wide_gather)
        if self._gather == "measure" and WIDE_TRIAL_ROUNDS <= 0:
            self._gather = "rule"
        # X's size in powers of two (whether it stays in a cache), not m: a search's folds share one
        self._gather_key = ("wide_gather", n0, dims[1], bmax, X.nbytes.bit_length(), dtype.itemsize, _simd_level())
        self._gather_schedule = (int(WIDE_TRIAL_WARM_UPS), int(WIDE_TRIAL_ROUNDS))
        net.wide_block = (wide_block(n0, bmax, dtype.itemsize) if auto or isinstance(wide, (bool, np.bool_))
                          else min(int(wide), n0))
        work_alive = []  # every work buffer starts on a cache line (dnn/_lines.py)
        # one dW buffer for every layer but a wide first one (see _wide_backward)
        dW_shared = _lines.empty(max([dims[l] * dims[l - 1] for l in range(1 + net.wide, L + 1)] + [1]), dtype)
        for l in range(1, L + 1):
            shape_W, n_l = (dims[l], dims[l - 1]), dims[l]
            W, b = layers[l - 1]
            _array(W, "W%d" % l, dtype, shape_W)
            _array(b, "b%d" % l, dtype, b.shape if getattr(b, "shape", None) in ((n_l, 1), (n_l,)) else (n_l, 1))
            net.W[l - 1] = _ptr(W)
            net.b[l - 1] = _ptr(b)
            keep_alive += [("W%d" % l, W, True), ("b%d" % l, b, True)]
            if need_v:
                net.vW[l - 1], net.vb[l - 1] = _state(v, "v", l, dtype, shape_W, keep_alive)
            if need_s:
                net.sW[l - 1], net.sb[l - 1] = _state(s, "s", l, dtype, shape_W, keep_alive)
            # one dW buffer for every layer: each is used up by its update before the next is made
            work = [dW_shared, _lines.empty(n_l, dtype), _lines.empty(n_l * bmax, dtype),
                    _lines.empty(n_l * bmax, dtype)]
            work_alive += work
            net.dW[l - 1] = _ptr(work[0])
            net.db[l - 1] = _ptr(work[1])
            net.A[l - 1] = _ptr(work[2])
            net.G[l - 1] = _ptr(work[3])
            if l < L and keep[l - 1] < 1:
                work = [_lines.empty(n_l * bmax, dtype), _lines.empty(n_l * bmax, np.uint8)]
                work_alive += work
                net.H[l - 1] = _ptr(work[0])
                net.mask[l - 1] = <unsigned char*> _ptr(work[1])
        # the wide path's backward: a dW_1 block, a gathered block of X_b and its row pointers per
        # chunk of a team (_wide_backward)
        chunks = threads * CHUNKS_PER_THREAD if threads > 1 else 1  # an epoch's shares of a phase, at most
        wide_chunks = chunks if net.wide else 1
        net.wide_ldx = net.wide_block + WIDE_PAD_BYTES // dtype.itemsize
        work = [_lines.empty((wide_chunks * bmax, net.wide_ldx if net.wide else n0), dtype),
                _lines.empty((bmax, K), dtype),
                _lines.empty(wide_chunks * dims[1] * net.wide_block if net.wide else 1, dtype),
                _lines.empty(bmax, np.uintp), _lines.empty(wide_chunks * bmax, np.uintp),
                _lines.empty(bmax if sample_weight is not None else 1, dtype),
                # simd.nn's packed path, per column share (pages touched only where it packs)
                _lines.empty(chunks * simd.DNN_NN_SCRATCH_BYTES, np.uint8)]
        net.Xb = _ptr(work[0])
        net.Yb = _ptr(work[1])
        net.gblk = _ptr(work[2])
        net.xrows = <const void**> _ptr(work[3])
        net.xblk = <const void**> _ptr(work[4])
        net.SWb = _ptr(work[5])
        net.scratch = _ptr(work[6])
        if net.wide:
            work[4][:] = work[0].ctypes.data + np.arange(wide_chunks * bmax, dtype=np.uintp) * (net.wide_ldx * dtype.itemsize)
            crows = _lines.empty(bmax, np.uintp)
            work.append(crows)
            net.crows = <const unsigned char**> _ptr(crows)
        # codes looked for at the second epoch ("auto": a Loop of one epoch, as partial_fit's, would
        # not earn back the pass), or now (True: below, once the Loop is whole)
        self._codes_at = 2 if isinstance(wide_codes, str) and net.wide else 0
        self._measure_codes = isinstance(wide_codes, str) and WIDE_TRIAL_ROUNDS > 0
        work_alive += work
        _no_overlap(keep_alive)
        self._arrays = [(name, a, _address(a), a.nbytes, w) for name, a, w in keep_alive]
        self._keep_alive = work_alive
        self._lock = threading.Lock()
        self._seen = np.zeros(m, np.uint8)
        self._order = np.empty(m, np.int64)
        self.opt.lr = 0
        self.opt.lam = 0
        self.opt.beta = float(beta)
        self.opt.beta1 = float(beta1)
        self.opt.beta2 = float(beta2)
        self.opt.eps = float(epsilon)
        self.opt.bias1 = self.opt.bias2 = 1
        self.wide, self.wide_block = net.wide, net.wide_block
        self.numpy_blas = net.numpy_blas
        self.uses_blas = False
        for l in range(1 if net.wide else 0, L):
            if not (net.own_nn[l] and net.own_nt[l]):
                self.uses_blas = True
        self.threads = int(threads)
        self.ready = True
        if net.wide and not isinstance(wide_codes, str) and wide_codes:
            self._wide_codes()

    def __dealloc__(self):
        self._stop_team()
        free(self.net.n)
        free(self.net.keep)
        free(self.net.loss_blk)
        free(self.net.mask)
        free(self.net.own_nn)
        free(self.net.own_nt)
        free(self.net.W)
        free(self.net.b)
        free(self.net.dW)
        free(self.net.db)
        free(self.net.vW)
        free(self.net.vb)
        free(self.net.sW)
        free(self.net.sb)
        free(self.net.A)
        free(self.net.H)
        free(self.net.G)

    cdef void _stop_team(self) noexcept:
        if self.team != NULL:
            if self.team_pid == dnn_team_pid():  # else: a fork's child, where the helpers never ran
                with nogil:
                    dnn_team_stop(self.team)
            free(self.team)
            self.team = NULL

    @property
    def teamed(self):
        """Whether the epochs run on a team: ``threads`` > 1 and the products allow one (``teamable``)."""
        return self.threads > 1 and _teamable(self.net.L, self.net.n, self.net.own_nn, self.net.own_nt,
                                              self.net.wide, self.net.bmax)

    cdef dnn_team* _team(self) noexcept:
        """The team of ``threads`` threads (started now if new or made before a fork), or NULL: one
        thread (with a BLAS product, or if helper threads cannot start: the same bits, one core)."""
        cdef int l
        if self.threads <= 1:
            return NULL
        if not _teamable(self.net.L, self.net.n, self.net.own_nn, self.net.own_nt, self.net.wide, self.net.bmax):
            return NULL  # a large layer's BLAS product: BLAS's threads, not a team's
        if self.team != NULL and self.team_pid != dnn_team_pid():
            free(self.team)  # copied by fork; its helpers are the parent's
            self.team = NULL
        if self.team == NULL:
            self.team = <dnn_team*> calloc(1, sizeof(dnn_team))
            if self.team == NULL:
                return NULL
            self.team_pid = dnn_team_pid()
            if dnn_team_start(self.team, self.threads) != 0:
                self._stop_team()
                self.threads = 1
        return self.team

    def _wide_codes(self):
        """Look, once, for X as 8-bit codes (``WIDE_CODE_DIVISORS``): every element checked (a pass
        over X that stops at the first element that is not one); found, the wide path's epochs read
        them, not X (``wide_coded``). No memory for them: the epochs read X."""
        cdef size_t n = <size_t> self.m * <size_t> self.net.n0
        cdef bint done = False
        cdef unsigned char[::1] view
        cdef double d
        self._codes_at = 0
        if not dnn_codes_fast() or n > WIDE_CODES_MAX_BYTES:
            return
        try:
            codes = np.empty(n, np.uint8)
        except MemoryError:
            return
        view = codes
        for d in WIDE_CODE_DIVISORS:
            with nogil:
                if self.double_:
                    done = _encode(<double*> self.net.X, n, d, &view[0])
                else:
                    done = _encode(<float*> self.net.X, n, d, &view[0])
            if done:
                self._keep_alive.append(codes)
                self._codes = &view[0]
                self.net.code_d = d
                return

    @property
    def wide_coded(self):
        """Whether the wide path found X's 8-bit codes (``wide_codes=``)."""
        return self._codes != NULL

    @property
    def wide_code_divisor(self):
        """The d of the codes' k / d (0 without codes)."""
        return self.net.code_d if self._codes != NULL else 0.0

    def _wide_paths(self, bint on_team):
        """(coded, gather, trial, timed) for an epoch on a team or not: whether it reads X's codes,
        whether its wide backward copies each block first, and the TimedChoice to give its time
        with the choice it timed (or None). Codes found with ``wide_codes="auto"``: read or not,
        the process's choice for this problem and thread count (the rule: read them; an epoch on X
        timed against them takes the gather's rule); else the gather's choice (``_wide_gather_path``).
        Neither changes a number."""
        if self._codes != NULL:
            if not self._measure_codes:
                return True, True, None, None
            choice = _timed_choice.shared(self._gather_key[1:] + ("wide_codes", self.threads if on_team else 1),
                                          *self._gather_schedule)
            coded, timed = choice.choose(True)
            if coded or timed:
                return coded, coded or self._gather_rule[not on_team], choice if timed else None, coded
        gather, trial = self._wide_gather_path(on_team)
        return False, gather, trial, gather

    def _wide_gather_path(self, bint on_team):
        """(gather, the TimedChoice to give this epoch's time, or None) for an epoch on a team or not:
        with ``wide_gather="measure"``, the process's choice for this problem and thread count."""
        rule = self._gather_rule[not on_team]
        if not isinstance(self._gather, str):
            return self._gather, None
        if not self.net.wide or self._gather == "rule":
            return rule, None
        choice = _timed_choice.shared(self._gather_key + (self.threads if on_team else 1,), *self._gather_schedule)
        gather, timed = choice.choose(rule)
        return gather, choice if timed else None

    def epoch(self, order, learning_rate, t=0, step=0):
        """One epoch: batches of ``batch_size`` rows in ``order`` (an int64
        permutation of range(m); None: in order), full batches first, the
        rest last (an order that repeats an index is refused). ``t`` and ``step``: Adam's and dropout's step counters
        before the epoch. Returns ``(loss_sum, t, step)``: the sum over
        batches of the summed losses (plus ``lambd / 2 * sum(W^2)`` per
        batch), and the counters after the epoch."""
        cdef const int64_t[::1] idx
        cdef unsigned char[::1] seen
        cdef int64_t tt, ss, i, j, m = self.m
        cdef double total = 0.0
        cdef dnn_team* team
        cdef int chunks
        cdef dnn_fpmode fpmode
        if not self.ready:
            raise ValueError("the Loop is not initialized")
        lr = float(learning_rate)
        _need(np.isfinite(lr) and lr > 0, "learning_rate must be a finite number > 0, got %r", learning_rate)
        tt, ss = int(t), int(step)
        _need(tt >= 0 and ss >= 0, "t and step must be >= 0, got %d and %d", tt, ss)
        _need(ss <= 2**62 and tt <= 2**62, "step counters too large: %d, %d", tt, ss)
        if order is not None:
            if not isinstance(order, np.ndarray) or order.dtype != np.int64 or order.shape != (m,):
                raise ValueError("order must be an int64 permutation array of shape (%d,), got %s %s"
                                 % (m, getattr(order, "dtype", type(order).__name__), getattr(order, "shape", "")))
        # One epoch at a time: the workspace, order and rate are the Loop's (another thread's call waits).
        with self._lock:
            # The caller's arrays as they were checked: one resized (resize(refcheck=False) frees the
            # memory the loop points at), made non-contiguous or read-only since is refused.
            for name, a, address, nbytes, written in self._arrays:
                if not _same_buffer(a, address, nbytes, written):
                    raise ValueError("%s was resized, moved or made read-only since the Loop was made; "
                                     "make a new Loop" % name)
            if self._codes_at and self.epochs + 1 >= self._codes_at:
                self._wide_codes()
            if order is not None:
                # read without the GIL: our copy, which no other thread can change meanwhile
                self._order[:] = order
                idx = self._order
                seen = self._seen
                seen[:] = 0
                for i in range(m):
                    j = idx[i]
                    if j < 0 or j >= m:
                        raise ValueError("order must hold indices in [0, %d), got %d at %d" % (m, j, i))
                    if seen[j]:
                        raise ValueError("order must be a permutation of range(%d), got %d twice" % (m, j))
                    seen[j] = 1
                self.net.order = &idx[0]
            else:
                self.net.order = NULL
            self.opt.lr = lr
            try:
                # BLAS at one thread: its sums are then the same at any thread count. Where it cannot
                # be held (an OpenMP BLAS), the user allows BLAS one thread, or another fit or step
                # call holds it, the epoch runs on this thread alone (the same bits), not on a team
                # whose threads would each call a threaded BLAS. A team runs all its threads.
                with blas_lent(self.threads) if self.uses_blas else contextlib.nullcontext(self.threads) as free:
                    team = self._team() if free > 1 else NULL
                    chunks = 1 if team == NULL else self.threads * CHUNKS_PER_THREAD
                    self.epoch_threads = 1 if team == NULL else self.threads
                    coded, gather, trial, timed = self._wide_paths(team != NULL)
                    self.net.codes = self._codes if coded else NULL
                    self.epoch_coded = coded
                    self.net.wide_gather = gather
                    self.wide_gather = self.net.wide and gather
                    started = _timed_choice.clock() if trial is not None else 0.0
                    with nogil:
                        fpmode = dnn_fpmode_flush()  # subnormal results as zero: dnn/_platform.h
                        if self.double_:
                            total = _epoch[double](&self.net, NULL, team, chunks, self.opt, &tt, &ss)
                        else:
                            total = _epoch[float](&self.net, NULL, team, chunks, self.opt, &tt, &ss)
                        dnn_fpmode_take(fpmode)  # the caller's mode again, before any Python runs
                    # The epoch's results before any Python call: a Ctrl-C during the epoch is raised
                    # by the first one, and the caller then reads counters that match the parameters.
                    self.loss = total
                    self.t = tt
                    self.step = ss
                    self.epochs += 1
                    self.loss_l2 = self.net.l2_sum
                    # here, inside the with: blas_lent's exit then runs and gives BLAS its threads back
                    # (raised in that exit instead, the held threads would wait for the traceback to go)
                    PyErr_CheckSignals()
                    if trial is not None:
                        trial.record(timed, _timed_choice.clock() - started)
            finally:
                self.net.order = NULL
        return total, tt, ss


def dropout_uniform(int n, int m, seed, layer, iteration):
    """The uniform numbers ``(n, m)`` behind the loop's dropout masks (tests:
    bit for bit ``dnn.reference.dropout_uniform``)."""
    cdef double[:, ::1] out = np.empty((n, m))
    cdef uint64_t key = dnn_dropout_key(<uint64_t> int(seed), <uint64_t> int(layer), <uint64_t> int(iteration))
    cdef uint64_t row
    cdef int i, j
    with nogil:
        for i in range(n):
            row = dnn_splitmix(key, <uint64_t> i + 1)
            for j in range(m):
                out[i, j] = dnn_dropout_u(row, j)
    return np.asarray(out)

# cython: language_level=3
"""Compiled kernels behind dnn's step-by-step API.

Design: each function here is a thin, typed shell around inline kernels of
``_ops.pxd`` (over BLAS) and ``_simd.pxd`` (own vector kernels: the sigmoid
always, a layer's products where ``own`` is passed, as ``dnn._products``
decides). It takes C-contiguous memoryviews of one floating dtype (float32
or float64, the fused type picks the BLAS routine at compile time), writes
into output arrays its caller allocated, and releases the GIL for the work.

These functions do not validate: ``dnn.functional`` checks shapes, dtypes,
contiguity, finiteness and sizes (below 2**31, for BLAS's 32-bit ints) before
it calls them. Do not call them directly with unchecked input.
"""

cimport cython
from cython cimport floating
from libc.stdint cimport uint32_t, uint64_t

cimport dnn._ops as ops
cimport dnn._simd as simd

ACT_RELU = ops.ACT_RELU
ACT_SIGMOID = ops.ACT_SIGMOID

# This module's copy of dnn._simd's table: the best build this CPU runs.
simd.dnn_simd_use(simd.DNN_SIMD_TOP)


def _use_simd(int level):
    """Switch this module's build of ``dnn._simd`` (``dnn._train.simd_kernels`` does)."""
    return simd.dnn_simd_use(level)


def _simd_level():
    """The level of this module's build of ``dnn._simd`` in use (0 baseline, 1 AVX2, 2 AVX-512)."""
    return simd.dnn_simd_level

cdef extern from *:
    """
    #ifndef DNN_DEBUG_BUILD
    #define DNN_DEBUG_BUILD 0
    #endif
    """
    int DNN_DEBUG_BUILD  # set by setup.py: 1 when built with checks on

_DEBUG = bool(DNN_DEBUG_BUILD)

#: How this extension was compiled; ``dnn info`` prints it.
BUILD_INFO = {
    "debug": _DEBUG,
    "cython_version": cython.__version__,
    "boundscheck": _DEBUG,
    "wraparound": _DEBUG,
    "blas": "scipy.linalg.cython_blas",
    # The baseline build of dnn._simd's kernels: "sse2", "neon" or "scalar"
    # (a compiler without GCC's vector extensions, or DNN_NO_VECTOR_EXT=1).
    "simd_baseline": simd.DNN_SIMD_BASE_NAME.decode("ascii"),
}


def all_finite(const floating[::1] x):
    """True when no element of the 1-D array ``x`` is nan or +-inf.

    An exponent of all ones means inf or nan. Adding one to the exponent field
    carries into the top bit exactly then, so OR-ing ``(bits & EXP) + ONE``
    over the array and testing the top bit finds any of them with integer
    and/add/or alone: the compiler vectorizes that (even on plain SSE2), so
    the check runs at memory speed on every call that validates an input.
    """
    cdef Py_ssize_t i, n = x.shape[0]
    cdef const uint64_t* bits64
    cdef const uint32_t* bits32
    cdef uint64_t bad = 0
    with nogil:
        if floating is double:
            bits64 = <const uint64_t*> &x[0]
            for i in range(n):
                bad |= (bits64[i] & 0x7ff0000000000000ULL) + 0x0010000000000000ULL
        else:
            bits32 = <const uint32_t*> &x[0]
            for i in range(n):
                bad |= (bits32[i] & 0x7f800000U) + 0x00800000U
            bad <<= 32  # the float32 carry lands in bit 31: move it to bit 63
    return (bad >> 63) == 0


def all_binary(const floating[::1] y):
    """True when every element of the 1-D array ``y`` is 0 or 1."""
    cdef Py_ssize_t i, n = y.shape[0]
    cdef bint ok = True
    with nogil:
        for i in range(n):
            if y[i] != 0 and y[i] != 1:
                ok = False
                break
    return ok


cdef inline void activate(int act, int rows, int cols, const floating* Z,
                          floating* A) noexcept nogil:
    """A := relu(Z) or sigmoid(Z), both C-contiguous (rows, cols); sigmoid by
    dnn._simd's vector kernel (within 2 ulps of libm's exp), relu by ops."""
    cdef int r
    if act == ops.ACT_SIGMOID:
        for r in range(rows):  # row by row: rows * cols may pass a C int
            simd.output_grad(cols, Z + <Py_ssize_t> r * cols, <const floating*> NULL,
                             A + <Py_ssize_t> r * cols)
    else:
        ops.activation_forward(act, rows, cols, Z, cols, A, cols)


def activation(int act, const floating[:, ::1] Z, floating[:, ::1] A):
    """A := relu(Z) or sigmoid(Z), elementwise; Z and A are (rows, cols)."""
    with nogil:
        activate(act, <int> Z.shape[0], <int> Z.shape[1], &Z[0, 0], &A[0, 0])


def activation_backward(int act, const floating[:, ::1] dA, const floating[:, ::1] Z,
                        floating[:, ::1] dZ):
    """dZ := dA * g'(Z), elementwise; all three are (rows, cols)."""
    with nogil:
        ops.activation_backward(act, <int> Z.shape[0], <int> Z.shape[1],
                                &dA[0, 0], <int> dA.shape[1], &Z[0, 0], <int> Z.shape[1],
                                &dZ[0, 0], <int> dZ.shape[1], NULL, 0.0)


cdef inline void affine(bint own, int n, int k, int m, const floating* W,
                        const floating* A_prev, const floating* b, floating* Z) noexcept nogil:
    """Z := W A_prev + b, W (n, k), A_prev (k, m), Z (n, m): by BLAS, or by
    dnn._simd's ``nn`` if ``own`` (dnn._products decides)."""
    if own:
        simd.nn(n, k, m, W, k, 1, A_prev, m, Z, m, b, False)
    else:
        ops.linear_forward(n, k, m, W, k, A_prev, m, b, Z, m)


def linear(const floating[:, ::1] W, const floating[:, ::1] A_prev,
           const floating[::1] b, floating[:, ::1] Z, bint own=False):
    """Z := W A_prev + b; W (n, k), A_prev (k, m), b (n,), Z (n, m)."""
    with nogil:
        affine(own, <int> W.shape[0], <int> W.shape[1], <int> A_prev.shape[1],
               &W[0, 0], &A_prev[0, 0], &b[0], &Z[0, 0])


def linear_activation(int act, const floating[:, ::1] W, const floating[:, ::1] A_prev,
                      const floating[::1] b, floating[:, ::1] Z, floating[:, ::1] A,
                      bint own=False):
    """Z := W A_prev + b and A := g(Z): one product, then one pass over Z."""
    cdef int n = <int> W.shape[0], m = <int> A_prev.shape[1]
    with nogil:
        affine(own, n, <int> W.shape[1], m, &W[0, 0], &A_prev[0, 0], &b[0], &Z[0, 0])
        activate(act, n, m, &Z[0, 0], &A[0, 0])


cdef inline void weight_grads(bint own, int n, int k, int m, const floating* dZ,
                              const floating* A_prev, const floating* W, floating* dW,
                              floating* dA_prev) noexcept nogil:
    """dW := (1/m) dZ A_prev^T and dA_prev := W^T dZ, all C-contiguous: by BLAS,
    or by dnn._simd's ``nt`` and ``nn`` if ``own``, rounded alike (the sum,
    then times 1/m)."""
    if own:
        simd.nt(n, k, m, <floating> (1.0 / m), dZ, m, A_prev, m, False, dW, k)
        simd.nn(k, n, m, W, 1, k, dZ, m, dA_prev, m, <const floating*> NULL, False)
    else:
        ops.linear_backward_gemms(n, k, m, dZ, m, A_prev, m, W, k, dW, k, dA_prev, m)


def linear_backward(const floating[:, ::1] dZ, const floating[:, ::1] A_prev,
                    const floating[:, ::1] W, floating[:, ::1] dW, floating[::1] db,
                    floating[:, ::1] dA_prev, bint own=False):
    """dW := dZ A_prev^T / m, db := row sums of dZ / m, dA_prev := W^T dZ.

    dZ (n, m), A_prev (k, m), W (n, k), dW (n, k), db (n,), dA_prev (k, m).
    """
    cdef int n = <int> dZ.shape[0], m = <int> dZ.shape[1], k = <int> A_prev.shape[0]
    with nogil:
        ops.row_sums(n, m, &dZ[0, 0], m, &db[0], 1.0 / m)
        weight_grads(own, n, k, m, &dZ[0, 0], &A_prev[0, 0], &W[0, 0], &dW[0, 0],
                     &dA_prev[0, 0])


def linear_activation_backward(int act, const floating[:, ::1] dA, const floating[:, ::1] Z,
                               const floating[:, ::1] A_prev, const floating[:, ::1] W,
                               floating[:, ::1] dZ, floating[:, ::1] dW, floating[::1] db,
                               floating[:, ::1] dA_prev, bint own=False):
    """Backward through the activation then the linear step, fused.

    One pass makes dZ = dA * g'(Z) (into the scratch ``dZ``, which may be
    ``dA``) and the bias gradient with it, then two gemms give dW and dA_prev.
    Shapes as in ``linear_backward``; dA and Z are (n, m).
    """
    cdef int n = <int> Z.shape[0], m = <int> Z.shape[1], k = <int> A_prev.shape[0]
    with nogil:
        ops.activation_backward(act, n, m, &dA[0, 0], m, &Z[0, 0], m, &dZ[0, 0], m,
                                &db[0], 1.0 / m)
        weight_grads(own, n, k, m, &dZ[0, 0], &A_prev[0, 0], &W[0, 0], &dW[0, 0],
                     &dA_prev[0, 0])


def cross_entropy_cost(const floating[::1] AL, const floating[::1] Y):
    """-(1/m) sum(y log a + (1 - y) log(1 - a)) for y in {0, 1}, as a Python float."""
    cdef double cost
    with nogil:
        cost = ops.cross_entropy_from_probabilities(<int> AL.shape[0], &AL[0], &Y[0])
    return cost


def cross_entropy_output_grad(const floating[::1] AL, const floating[::1] Y,
                              floating[::1] dAL):
    """dAL := -(y / a - (1 - y) / (1 - a)), the reference's start of backprop."""
    cdef Py_ssize_t j, m = AL.shape[0]
    with nogil:
        for j in range(m):
            dAL[j] = -(Y[j] / AL[j] - (1 - Y[j]) / (1 - AL[j]))

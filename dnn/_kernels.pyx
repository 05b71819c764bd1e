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

cimport dnn._ops as ops
cimport dnn._simd as simd
from dnn._blas cimport bgemm, dnn_npgemm_is_set, dnn_npgemm_set, gemm

ACT_RELU = ops.ACT_RELU
ACT_SIGMOID = ops.ACT_SIGMOID

# ``own``: which of a layer's products run in dnn._simd instead of BLAS
# (dnn._products.for_step decides). A true bool (1) means all of them.
cdef enum:
    OWN_ALL = 1
    OWN_NN = 2      # W H (forward) and W^T dZ (backward): simd.nn
    OWN_NT = 4      # dZ H^T (the weight gradient): simd.nt
    OWN_NUMPY_NN = 8    # W H and W^T dZ, where BLAS runs them, on NumPy's BLAS (``bgemm``)
    OWN_NUMPY_NT = 16   # dZ H^T likewise
OWN_PRODUCTS = {"all": OWN_ALL, "nn": OWN_NN, "nt": OWN_NT,
                "numpy_nn": OWN_NUMPY_NN, "numpy_nt": OWN_NUMPY_NT}


def _set_numpy_gemm(dgemm, sgemm, bint ilp64):
    """NumPy's cblas ``dgemm`` and ``sgemm`` (C function addresses, ``dnn._numpy_blas``;
    ints 64-bit if ``ilp64``), or 0/None for both: OWN_NUMPY_* products then run on SciPy's
    (``dnn/_numpy_gemm.h``)."""
    dnn_npgemm_set(<void*> <size_t> int(dgemm or 0), <void*> <size_t> int(sgemm or 0), ilp64)


def _numpy_gemm_set():
    """Whether OWN_NUMPY_* products run on NumPy's BLAS (else on SciPy's)."""
    return bool(dnn_npgemm_is_set())


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
    """True when no element of the 1-D array ``x`` is nan or +-inf (``_ops.has_nonfinite``)."""
    cdef int bad
    with nogil:
        bad = ops.has_nonfinite(x.shape[0], &x[0])
    return not bad


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


cdef inline void affine(int own, int n, int k, int m, const floating* W,
                        const floating* A_prev, const floating* b, floating* Z) noexcept nogil:
    """Z := W A_prev + b, W (n, k), A_prev (k, m), Z (n, m): by BLAS, or by
    dnn._simd's ``nn`` if ``own`` has OWN_NN or OWN_ALL (dnn._products decides)."""
    if own & (OWN_ALL | OWN_NN):
        simd.nn(n, k, m, W, k, 1, A_prev, m, Z, m, b, False, NULL)
    else:  # ops.linear_forward's product and bias pass, on either BLAS
        bgemm(own & OWN_NUMPY_NN, False, False, n, m, k, <floating> 1.0, W, k, A_prev, m,
              <floating> 0.0, Z, m)
        ops.add_bias(n, m, Z, m, b)


def linear(const floating[:, ::1] W, const floating[:, ::1] A_prev,
           const floating[::1] b, floating[:, ::1] Z, int own=0):
    """Z := W A_prev + b; W (n, k), A_prev (k, m), b (n,), Z (n, m)."""
    with nogil:
        affine(own, <int> W.shape[0], <int> W.shape[1], <int> A_prev.shape[1],
               &W[0, 0], &A_prev[0, 0], &b[0], &Z[0, 0])


def linear_activation(int act, const floating[:, ::1] W, const floating[:, ::1] A_prev,
                      const floating[::1] b, floating[:, ::1] Z, floating[:, ::1] A,
                      int own=0):
    """Z := W A_prev + b and A := g(Z): one product, then one pass over Z."""
    cdef int n = <int> W.shape[0], m = <int> A_prev.shape[1]
    with nogil:
        affine(own, n, <int> W.shape[1], m, &W[0, 0], &A_prev[0, 0], &b[0], &Z[0, 0])
        activate(act, n, m, &Z[0, 0], &A[0, 0])


cdef inline void weight_grads(int own, int n, int k, int m, const floating* dZ,
                              const floating* A_prev, const floating* W, floating* dW,
                              floating* dA_prev) noexcept nogil:
    """dW := (1/m) dZ A_prev^T and dA_prev := W^T dZ, all C-contiguous: each by
    BLAS, or by dnn._simd's ``nt`` (OWN_NT) and ``nn`` (OWN_NN) as ``own`` says,
    rounded alike (the sum, then times 1/m)."""
    if own & (OWN_ALL | OWN_NT):
        nt_part(0, 1, n, k, m, <floating> (1.0 / m), dZ, A_prev, dW)
    else:  # ops.linear_backward_gemms' dW, on either BLAS
        bgemm(own & OWN_NUMPY_NT, False, True, n, k, m, <floating> (1.0 / m), dZ, m, A_prev, m,
              <floating> 0.0, dW, k)
    if own & (OWN_ALL | OWN_NN):
        simd.nn(k, n, m, W, 1, k, dZ, m, dA_prev, m, <const floating*> NULL, False, NULL)
    else:
        bgemm(own & OWN_NUMPY_NN, True, False, k, m, n, <floating> 1.0, W, k, dZ, m,
              <floating> 0.0, dA_prev, m)


def linear_backward(const floating[:, ::1] dZ, const floating[:, ::1] A_prev,
                    const floating[:, ::1] W, floating[:, ::1] dW, floating[::1] db,
                    floating[:, ::1] dA_prev, int own=0):
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
                               floating[:, ::1] dA_prev, int own=0):
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


# --------------------------------------------------------------------------
# The step-by-step API's fast path: one compiled call per public call
# --------------------------------------------------------------------------
#
# ``forward``, ``backward``, ``cost`` and ``update`` below run a whole public
# call of dnn.functional (L_model_forward, ...) when its input is already what
# the kernels take: exact ndarrays, C-contiguous, one float dtype, shapes that
# chain, no dimension of 0 or of 2**31 or more. Those checks cost nanoseconds
# here (the buffer protocol, no Python objects). Finiteness is not a pass over
# every input: it is read from the results, which are non-finite whenever an
# input was (nan and inf propagate through every product and sum; the passes
# that can hide one, relu's mask and the sigmoid's saturation, test the Z they
# read, and the weights, which only dA_prev would show, are tested directly).
# Each returns None where the fast path does not apply or a result is not
# finite; the caller then takes the checked Python path, which names the
# culprit (or, where every input was finite and the arithmetic overflowed,
# returns what the course's code returns).

from cpython.mem cimport PyMem_Malloc, PyMem_Free
from cpython.ref cimport PyObject, Py_INCREF, Py_XDECREF
from libc.string cimport memcpy, memset

import numpy as np
# NumPy's C API for the calls' own arrays and their checks: a few field reads
# where np.empty's argument parsing and the buffer protocol's format string cost
# microseconds per array, which is most of a small network's step call.
cimport numpy as cnp
cnp.import_array()

cdef object _ndarray = np.ndarray
cdef object _f64 = np.dtype(np.float64)
cdef object _f32 = np.dtype(np.float32)
cdef Py_ssize_t _INT_MAX = 2147483647

from cpython.dict cimport PyDict_SetItem
from cpython.list cimport PyList_GET_ITEM, PyList_GET_SIZE
import contextlib
import functools
import os
import sysconfig
import weakref

from dnn import _blas_threads
from dnn._gradients import Gradients
from dnn._blas_threads import blas_lent

cdef extern from "Python.h":
    Py_ssize_t refcount "Py_REFCNT"(PyObject* o)

# Result buffers, recycled: a fresh array of a few hundred KiB comes from mmap
# and costs a page fault per 4 KiB page on first touch, every call (a third of
# an S6 iteration went to the kernel). The pool keeps the arrays it made and
# hands one out again only when its reference count says the pool is its only
# holder (no caller, cache, view or buffer refers to it: each of those holds a
# reference) and no weak reference exists, so a caller never sees data change.
# Arrays below POOL_MIN_BYTES come from malloc's heap without faults and are
# not pooled. The pool holds at most ``_pool_cap`` bytes, arrays up to a
# quarter of it: POOL_BYTES, or four times the largest forward or backward
# call's results if more (up to POOL_MAX_BYTES): the course's loop holds one
# iteration's results while the next iteration makes its own, so two
# iterations' arrays are in use at once (benchmarks/NOTES.md, "Step calls at
# two threads").
# The pool's arrays stay allocated after the last call (``_pool_clear``,
# ``dnn.release_buffers()``, frees them). Not on a free-threaded Python, where a reference count does not
# prove that nothing else holds an array.
POOL_BYTES = 256 << 20
POOL_MAX_BYTES = 1 << 30
POOL_MIN_BYTES = 64 << 10
cdef dict _pool = {}
cdef Py_ssize_t _pool_bytes = 0
cdef Py_ssize_t _pool_cap = POOL_BYTES
cdef Py_ssize_t _call_bytes = 0  # the pooled bytes of the call being made (``pool_fits``)
cdef bint _pool_on = not sysconfig.get_config_var("Py_GIL_DISABLED")
cdef object _weakrefs = weakref.getweakrefcount


def _pool_clear():
    """Drop the recycled buffers (they are freed once nothing else holds them)."""
    global _pool_bytes, _pool_cap
    _pool.clear()
    _pool_bytes = 0
    _pool_cap = POOL_BYTES


def _pool_state():
    """``(bytes held, cap)`` of the pool (tests)."""
    return _pool_bytes, _pool_cap


cdef void pool_fits(Py_ssize_t call_bytes):
    """After a call made ``call_bytes`` of pooled results: let the pool hold four times
    that, up to POOL_MAX_BYTES (see above)."""
    global _pool_cap
    if 4 * call_bytes > _pool_cap:
        _pool_cap = min(<Py_ssize_t> POOL_MAX_BYTES, 4 * call_bytes)


cdef void _pool_evict(Py_ssize_t wanted):
    """Drop free arrays (the pool their only holder) until ``wanted`` bytes fit:
    arrays of shapes no longer asked for must not keep new ones out."""
    global _pool_bytes
    cdef Py_ssize_t i
    for key in list(_pool):
        lst = _pool[key]
        i = PyList_GET_SIZE(lst) - 1
        while i >= 0 and _pool_bytes + wanted > _pool_cap:
            if refcount(<PyObject*> PyList_GET_ITEM(lst, i)) == 1:
                _pool_bytes -= (<object> PyList_GET_ITEM(lst, i)).nbytes
                del lst[i]
            i -= 1
        if not lst:
            del _pool[key]
        if _pool_bytes + wanted <= _pool_cap:
            return


cdef inline object empty_array(char kind, Py_ssize_t rows, Py_ssize_t cols, int ndim):
    """A new uninitialized C-contiguous array (rows, cols) of ``kind``; ndim 1: (cols,), 0: 0-d."""
    cdef cnp.npy_intp dims[2]
    dims[0] = rows if ndim == 2 else cols
    dims[1] = cols
    return cnp.PyArray_EMPTY(ndim, dims, cnp.NPY_DOUBLE if kind == b'd' else cnp.NPY_FLOAT, 0)


cdef object new_array(char kind, Py_ssize_t rows, Py_ssize_t cols, int ndim):
    """An uninitialized C-contiguous array (rows, cols) (ndim 1: (cols,)), from the pool
    when one there is free (see above)."""
    global _pool_bytes, _call_bytes
    cdef Py_ssize_t nbytes = rows * cols * (8 if kind == b'd' else 4), i
    cdef PyObject* p
    if not _pool_on or nbytes < POOL_MIN_BYTES:
        return empty_array(kind, rows, cols, ndim)
    _call_bytes += nbytes
    if nbytes > _pool_cap // 4:
        return empty_array(kind, rows, cols, ndim)
    dtype = _f64 if kind == b'd' else _f32
    if ndim == 2:
        shape = (rows, cols)
    else:
        shape = (cols,)
    key = (kind, shape)
    lst = _pool.get(key)
    if lst is not None:
        for i in range(PyList_GET_SIZE(lst)):
            p = <PyObject*> PyList_GET_ITEM(lst, i)
            if refcount(p) == 1:
                arr = <object> p
                if (_weakrefs(arr) == 0 and arr.shape == shape and arr.dtype is dtype
                        and arr.flags.c_contiguous and arr.flags.writeable):
                    return arr
                del lst[i]  # changed in place by a former holder: forget it
                _pool_bytes -= nbytes
                break
    arr = empty_array(kind, rows, cols, ndim)
    if _pool_bytes + nbytes > _pool_cap:
        _pool_evict(nbytes)
    if _pool_bytes + nbytes <= _pool_cap:
        if lst is None:
            lst = _pool[key] = []
        lst.append(arr)
        _pool_bytes += nbytes
    return arr


# The arrays a fast call reads or writes, each with a reference held until the
# call's end (``held_release``): while the GIL is released, another thread that
# drops a list's item or a dict's value cannot free data the call is using.
cdef struct Held:
    PyObject** objs
    int n, cap
    Py_ssize_t rows, cols  # the shape of the array held last (``rows_of``, ``cols_of``)


cdef int held_init(Held* h, int cap) except -1:
    h.objs = <PyObject**> PyMem_Malloc(cap * sizeof(PyObject*))
    if h.objs == NULL:
        raise MemoryError()
    h.n = 0
    h.cap = cap
    return 0


cdef void held_release(Held* h) noexcept:
    cdef int i
    for i in range(h.n):
        Py_XDECREF(h.objs[i])
    PyMem_Free(h.objs)
    h.objs = NULL
    h.n = 0


cdef inline void* held_data(Held* h, cnp.ndarray a):
    """a's data, a referenced until ``held_release`` (the caller checked h.n < h.cap)."""
    Py_INCREF(a)
    h.objs[h.n] = <PyObject*> a
    h.n += 1
    return cnp.PyArray_DATA(a)


cdef inline char kind_of(object x):
    """b'd' or b'f' for an exact ndarray of float64 / float32 in native byte order, else 0."""
    cdef int t
    if type(x) is not _ndarray or not cnp.PyArray_ISNOTSWAPPED(<cnp.ndarray> x):
        return 0
    t = cnp.PyArray_TYPE(<cnp.ndarray> x)
    if t == cnp.NPY_DOUBLE:
        return b'd'
    if t == cnp.NPY_FLOAT:
        return b'f'
    return 0


cdef inline bint size_ok(cnp.npy_intp n, Py_ssize_t want) noexcept:
    """A dimension from 1 to 2**31 - 1, and ``want`` unless that is -1."""
    return 1 <= n <= _INT_MAX and (want < 0 or n == want)


cdef void* grab(Held* h, object x, char kind, int ndim, Py_ssize_t rows, Py_ssize_t cols,
                bint writable=False) except? NULL:
    """x's data if x is an exact ndarray of ``kind`` ('d'/'f') in native byte
    order, C-contiguous, ``ndim``-D (1 or 2), shape (rows, cols) (a size of -1:
    any, from 1 to 2**31 - 1; for ndim 1 only ``cols`` counts), writeable if
    asked; NULL otherwise. x stays referenced until ``held_release``."""
    cdef cnp.ndarray a
    cdef cnp.npy_intp* d
    if h.n >= h.cap or kind_of(x) != kind or (ndim != 1 and ndim != 2):
        return NULL
    a = <cnp.ndarray> x
    if (cnp.PyArray_NDIM(a) != ndim or not cnp.PyArray_IS_C_CONTIGUOUS(a)
            or (writable and not cnp.PyArray_ISWRITEABLE(a))):
        return NULL
    d = cnp.PyArray_DIMS(a)
    if ndim == 2:
        if not (size_ok(d[0], rows) and size_ok(d[1], cols)):
            return NULL
        h.rows, h.cols = d[0], d[1]
    else:
        if not size_ok(d[0], cols):
            return NULL
        h.rows, h.cols = 1, d[0]
    return held_data(h, a)


cdef void* grab_either(Held* h, object x, char kind, Py_ssize_t rows, Py_ssize_t cols,
                       bint* transposed) except? NULL:
    """``grab`` of a 2-D x; else, where x is Fortran-ordered (the course's ``X``: a picture
    array reshaped and transposed), its data as x^T's, C-contiguous (cols, rows), with
    ``transposed[0]`` set. The shape asked for and ``rows_of``/``cols_of`` are x's."""
    cdef cnp.ndarray a
    cdef cnp.npy_intp* d
    cdef void* p = grab(h, x, kind, 2, rows, cols)
    transposed[0] = False
    if p != NULL or h.n >= h.cap or kind_of(x) != kind:
        return p
    a = <cnp.ndarray> x
    if cnp.PyArray_NDIM(a) != 2 or not cnp.PyArray_IS_F_CONTIGUOUS(a):
        return NULL
    d = cnp.PyArray_DIMS(a)
    if not (size_ok(d[0], rows) and size_ok(d[1], cols)):
        return NULL
    h.rows, h.cols = d[0], d[1]
    transposed[0] = True
    return held_data(h, a)


cdef void* grab_out(Held* h, object x, char kind, int ndim) except NULL:
    """The data of a new array of ours (ndim-D, C-contiguous, of ``kind``), held."""
    cdef void* p = grab(h, x, kind, ndim, -1, -1, True)
    if p == NULL:
        raise SystemError("dnn._kernels: a new array was not C-contiguous of the dtype asked for")
    return p


cdef inline Py_ssize_t rows_of(Held* h):
    return h.rows


cdef inline Py_ssize_t cols_of(Held* h):
    return h.cols


cdef inline void split_range(Py_ssize_t n, int t, int T, int align, Py_ssize_t* lo,
                             Py_ssize_t* hi) noexcept nogil:
    """Thread t's share [lo, hi) of 0 .. n in T parts, cut at multiples of
    ``align``; the last part ends at n, so a part not empty is at least
    ``align`` long (or is all of n)."""
    cdef Py_ssize_t units = max(1, n // align)
    lo[0] = min(n, (units * t // T) * align)
    hi[0] = n if t == T - 1 else min(n, (units * (t + 1) // T) * align)


cdef inline bint split_rows(int R, int m) noexcept nogil:
    """Whether a product with an output of R rows and m columns is shared out by
    rows (each thread reads all of the right operand) or by columns (all of
    the left one): whichever the threads read less of twice."""
    return m < R or m < 2 * SPLIT_COLS


cdef inline void nn_part(int t, int T, int R, int K, int m, const floating* M, int rs,
                         int cs, const floating* B, floating* C,
                         const floating* bias, int flags=0) noexcept nogil:
    """Thread t's share of ``simd.nn(R, K, m, M, rs, cs, B, m, C, m, bias)``: the
    same bits as the whole call (each element of C is the same sum, k in order,
    whichever block computes it; column parts start at multiples of SPLIT_COLS
    and are at least that wide, so no part has a scalar tail the whole has not)."""
    cdef Py_ssize_t lo, hi
    if split_rows(R, m):
        split_range(R, t, T, 1, &lo, &hi)
        if hi > lo:
            simd.nn(<int> (hi - lo), K, m, M + lo * rs, rs, cs, B, m, C + lo * m, m,
                    <const floating*> NULL if bias == NULL else bias + lo, flags, NULL)
    else:
        split_range(m, t, T, SPLIT_COLS, &lo, &hi)
        if hi > lo:
            simd.nn(R, K, <int> (hi - lo), M, rs, cs, B + lo, m, C + lo, m, bias, flags, NULL)


cdef inline void nt_part(int t, int T, int n, int k, int m, floating alpha,
                         const floating* D, const floating* A, floating* W) noexcept nogil:
    """Thread t's share of ``simd.nt(n, k, m, alpha, D, m, A, m, False, W, k)``:
    the same bits (each W[r, c] is one block's sum over the examples).

    ``nt`` alone reads all of A once per block of D's rows. Where D is small
    (at most NT_SMALL_D bytes: S1's first layer, 20 x 209), A's rows go in
    groups of ``nt``'s register block, each passed under every block of D's
    rows while in L1, the next group fetched meanwhile: A streams from memory
    once (benchmarks/NOTES.md, "S1's and S1-F's first layer, again")."""
    cdef Py_ssize_t lo, hi, c, c1, chunk
    if k >= n:
        split_range(k, t, T, 1, &lo, &hi)
        chunk = hi - lo
        if <Py_ssize_t> n * m * sizeof(floating) <= NT_SMALL_D:
            chunk = simd.dnn_simd.nt_rows
        c = lo
        while c < hi:
            c1 = min(hi, c + chunk)
            if c1 < hi:  # the next group's rows, fetched while this one's are summed
                simd.prefetch(A + c1 * m, (min(hi, c1 + chunk) - c1) * m * sizeof(floating))
            simd.nt(n, <int> (c1 - c), m, alpha, D, m, A + c * m, m, False, W + c, k)
            c = c1
    else:
        split_range(n, t, T, 1, &lo, &hi)
        if hi > lo:
            simd.nt(<int> (hi - lo), k, m, alpha, D + lo * m, m, A, m, False, W + lo * k, k)


cdef inline bint large(int n, int k, int m) noexcept nogil:
    """Whether a layer is large: its work goes to the pool's threads where there are some."""
    return <double> n * k * m >= _split_min_work


cdef inline int xt_block(int n, int m, int itemsize) noexcept nogil:
    """``nt_xt``'s block of the inner dimension m (X's features): W's n rows of it and a group
    of XT's rows take about XT_BLOCK bytes, so W's block stays in L2 while XT's rows pass
    under it; a multiple of SPLIT_COLS, from the shape alone (the blocks' partial sums are
    added in order: the same bits on any number of threads)."""
    cdef Py_ssize_t b = XT_BLOCK // ((<Py_ssize_t> n + XT_GROUP) * itemsize) // SPLIT_COLS * SPLIT_COLS
    return <int> max(<Py_ssize_t> 4 * SPLIT_COLS, min(<Py_ssize_t> m, b))


cdef void nt_xt(int t, int T, int n, int k, int m, const floating* D, const floating* A,
                floating* W) noexcept nogil:
    """Thread t's share (columns of W) of W (n, k) := D (n, m) A (k, m)^T, summed in blocks of
    m (``xt_block``) whose partial sums are added in order: the first layer's Z for a
    Fortran-ordered X (A = X^T: the examples' rows, each all of the features). Block by
    block, a group of A's rows at a time passes under all of D's block (in L2): A is read
    from memory once."""
    cdef Py_ssize_t lo, hi, r, r1, r2, q
    cdef int f0 = 0, fb = xt_block(n, m, sizeof(floating)), fc, g = XT_GROUP
    split_range(k, t, T, 1, &lo, &hi)
    if hi <= lo:
        return
    while f0 < m:
        fc = fb if m - f0 > fb else m - f0
        r = lo
        while r < hi:
            r1 = min(hi, r + g)
            r2 = min(hi, r1 + g)
            if r2 > r1:  # the next group's rows, fetched while this one's are summed
                for q in range(r1, r2):
                    simd.prefetch(A + q * m + f0, fc * sizeof(floating))
            elif f0 + fc < m:
                for q in range(lo, min(hi, lo + g)):
                    simd.prefetch(A + q * m + f0 + fc, min(fb, m - f0 - fc) * sizeof(floating))
            simd.nt(n, <int> (r1 - r), fc, <floating> 1.0, D + f0, m, A + r * m + f0, m, f0 > 0,
                    W + r, k)
            r = r1
        f0 += fc


cdef inline bint shared(int T, int n, int k, int m) noexcept nogil:
    """Whether a layer's work goes to the pool in chunks (else this thread does it alone)."""
    return T > 1 and large(n, k, m)


cdef int run_job(Job* job, int T) noexcept nogil:
    """Job ``job`` in T * _chunks_per_thread chunks on the pool (T > 1; the
    caller owns it), or in one on this thread; the OR of the chunks' ``bad``.
    A BLAS product's slabs (``gemm_job``) are its chunks whatever T is: on the
    pool, or one after the other here."""
    cdef int c, bad = 0
    if job.what < JOB_GEMM_NN:
        job.nchunks = 1 if T <= 1 else min(T * _chunks_per_thread, MAX_CHUNKS)
    if job.nchunks == 1:
        job_chunk(job, 0)
    elif T > 1:
        dnn_pool_run(job_chunk, job, job.nchunks)
    else:
        for c in range(job.nchunks):
            job_chunk(job, c)
    for c in range(job.nchunks):
        bad |= job.bad[c]
    return bad


cdef inline void nn_job(Job* job, int n, int k, int m, const floating* M, int rs, int cs, const floating* B,
                        floating* C, const floating* bias, int flags=0) noexcept nogil:
    """``job`` := C (n, m) = M B (+ bias), M (n, k) read with strides (rs, cs): ``nn``'s work for the
    pool (``flags``: ``simd.nn``'s)."""
    job.what = JOB_NN
    job.flags = flags
    job.n = n
    job.k = k
    job.m = m
    job.M = M
    job.rs = rs
    job.cs = cs
    job.B = B
    job.C = C
    job.bias = bias


cdef inline int slab_count(int what, int n, int k, int m) noexcept nogil:
    """The slabs a large BLAS product runs in: ``_max_slabs`` where each is at least
    ``_gemm_slab_min`` multiply-adds and 64 wide in the dimension ``gemm_part`` cuts,
    else fewer, down to 1 (whole). A function of the shape and the machine alone: the
    slabs, whichever threads run them, give the same bits (a slab changes how OpenBLAS
    blocks the product, so a count following the threads would change the last
    bits of some shapes). No slab is small enough for OpenBLAS's paths for small
    or thin products (its small-matrix and direct kernels, gemv)."""
    cdef int S = _max_slabs, cut
    if what == JOB_GEMM_NN:
        cut = n if split_rows(n, m) else m
    elif what == JOB_GEMM_TN:
        cut = k if split_rows(k, m) else m
    else:
        cut = n if n >= k else k
    while S > 1 and (cut < 64 * S or <double> n * k * m < S * _gemm_slab_min):
        S //= 2
    return S


cdef inline bint gemm_job(Job* job, int what, int own, int n, int k, int m, const void* M,
                          const void* B, void* C, const void* bias, double alpha) noexcept nogil:
    """``job`` := a BLAS product in slabs (``gemm_part``); False if it is one slab."""
    job.nchunks = slab_count(what, n, k, m)
    if job.nchunks <= 1:
        return False
    job.what = what
    job.alpha = alpha
    job.own = own
    job.n = n
    job.k = k
    job.m = m
    job.M = M
    job.B = B
    job.C = C
    job.bias = bias
    return True


cdef void forward_product(Job* job, int own, int n, int k, int m, const floating* W,
                          const floating* A_in, const floating* b, floating* Z, int T,
                          bint share, bint blas_one) noexcept nogil:
    """Z := W A_in + b for a layer (n, k) on m examples: our kernel's in chunks on
    the pool if ``share`` (T > 1, the caller owns the pool), a large BLAS product in
    slabs where BLAS runs one thread (``blas_one``: on the pool if ``share``); else here."""
    if share and own & (OWN_ALL | OWN_NN):
        nn_job(job, n, k, m, W, k, 1, A_in, Z, b)
        run_job(job, T)
    elif (blas_one and not own & (OWN_ALL | OWN_NN) and large(n, k, m)
          and gemm_job(job, JOB_GEMM_NN, own, n, k, m, W, A_in, Z, b, 1.0)):
        run_job(job, T if share else 1)
    else:
        affine(own, n, k, m, W, A_in, b, Z)


cdef void forward_product_xt(Job* job, int own, int n, int k, int m, const floating* W,
                             const floating* XT, const floating* b, floating* Z, int T,
                             bint share, bint blas_one) noexcept nogil:
    """``forward_product`` for an X (k, m) given as XT (m, k), C-contiguous (a Fortran-ordered
    X, the course's): Z := W XT^T + b, ``nt``'s form (our kernel, or BLAS's with its second
    operand transposed), read in place as NumPy's ``W.dot(X)`` reads it. Equal to the
    C-ordered X's Z to rounding (another kernel sums the same products). On the AVX2 build,
    whose rule gives a wide layer ``nn`` alone (for W H packed), the product stays BLAS's
    unless ``nt`` is ours too: ``nt_xt`` lost to BLAS there (benchmarks/NOTES.md)."""
    if own & OWN_ALL or (own & OWN_NN and (own & OWN_NT or simd.dnn_simd_level != 1)):
        if share:
            job.what = JOB_NT_XT
            job.n = n
            job.k = m
            job.m = k
            job.D = W
            job.B = XT
            job.W = Z
            run_job(job, T)
        else:
            nt_xt(0, 1, n, m, k, W, XT, Z)
    elif blas_one and large(n, k, m) and gemm_job(job, JOB_GEMM_NT, own, n, m, k, W, XT, Z, NULL, 1.0):
        run_job(job, T if share else 1)
    else:
        bgemm(own & OWN_NUMPY_NN, False, True, n, m, k, <floating> 1.0, W, k, XT, k, <floating> 0.0, Z, m)
    ops.add_bias(n, m, Z, m, b)


cdef void weight_grad_xt(Job* job, int own, int n, int k, int m, const floating* dZ,
                         const floating* XT, floating* dW, int T, bint share,
                         bint blas_one) noexcept nogil:
    """dW := dZ A_prev^T / m for an A_prev (k, m) given as XT (m, k) (``forward_product_xt``):
    ``nn``'s form, dZ XT, then times 1/m (the sum, then the scale, as ``nt`` rounds)."""
    cdef Py_ssize_t i
    cdef floating inv_m = <floating> (1.0 / m)
    if own & (OWN_ALL | OWN_NT):
        if share:
            nn_job(job, n, m, k, dZ, m, 1, XT, dW, <const floating*> NULL)
            run_job(job, T)
        else:
            simd.nn(n, m, k, dZ, m, 1, XT, k, dW, k, <const floating*> NULL, False, NULL)
        for i in range(<Py_ssize_t> n * k):
            dW[i] = dW[i] * inv_m
    elif blas_one and large(n, k, m) and gemm_job(job, JOB_GEMM_NN, own, n, m, k, dZ, XT, dW, NULL,
                                                  1.0 / m):
        run_job(job, T if share else 1)
    else:
        bgemm(own & OWN_NUMPY_NT, False, False, n, k, m, <floating> (1.0 / m), dZ, m, XT, k,
              <floating> 0.0, dW, k)


cdef void backward_products(Job* job, int own, int n, int k, int m, const floating* dZ,
                            const floating* A_prev, const floating* W, floating* dW,
                            floating* dA_prev, int T, bint share, bint blas_one,
                            int parts=3, bint xt=False, bint out=False) noexcept nogil:
    """dW := dZ A_prev^T / m (``parts`` & 2) and dA_prev := W^T dZ (``parts`` & 1),
    as ``weight_grads`` computes them; with ``share``, our kernels' products in
    chunks on the pool; a large BLAS product in slabs where BLAS runs one thread
    (``blas_one``: on the pool if ``share``); else here (BLAS's own threads).
    ``out``: no one reads dA_prev soon (dA0), so our kernels store it past the cache."""
    cdef int flags = simd.DNN_NN_OUT if out else 0
    job.n = n
    job.k = k
    job.m = m
    if parts & 2 and xt:  # A_prev given as its transpose (the first layer's Fortran-ordered X)
        weight_grad_xt(job, own, n, k, m, dZ, A_prev, dW, T, share, blas_one)
        job.n = n
        job.k = k
        job.m = m
    elif parts & 2:
        if own & (OWN_ALL | OWN_NT):
            if share:
                job.what = JOB_NT
                job.alpha = 1.0 / m
                job.D = dZ
                job.B = A_prev
                job.W = dW
                run_job(job, T)
            else:
                nt_part(0, 1, n, k, m, <floating> (1.0 / m), dZ, A_prev, dW)
        elif blas_one and large(n, k, m) and gemm_job(job, JOB_GEMM_NT, own, n, k, m, dZ,
                                                        A_prev, dW, NULL, 1.0 / m):
            run_job(job, T if share else 1)
        else:
            bgemm(own & OWN_NUMPY_NT, False, True, n, k, m, <floating> (1.0 / m), dZ, m,
                  A_prev, m, <floating> 0.0, dW, k)
    if parts & 1:
        if own & (OWN_ALL | OWN_NN):
            if share:
                nn_job(job, k, n, m, W, 1, k, dZ, dA_prev, <const floating*> NULL, flags)
                run_job(job, T)
            else:
                simd.nn(k, n, m, W, 1, k, dZ, m, dA_prev, m, <const floating*> NULL, flags, NULL)
        elif blas_one and large(n, k, m) and gemm_job(job, JOB_GEMM_TN, own, n, k, m, W, dZ,
                                                        dA_prev, NULL, 1.0):
            run_job(job, T if share else 1)
        else:
            bgemm(own & OWN_NUMPY_NN, True, False, k, m, n, <floating> 1.0, W, k, dZ, m,
                  <floating> 0.0, dA_prev, m)


cdef int forward_layers(int L, int m, const int* dims, const int* own, const floating* X,
                        const void** Wp, const void** bp, void** Zp, void** Ap,
                        int T, bint blas_one, bint xt) noexcept nogil:
    """Every layer of L_model_forward; returns 1 if some Z is not finite.

    With T > 1 (the caller owns the pool), a large layer (``shared``) runs its
    own-kernel product (``nn_part``) and its activation pass (rows) in chunks
    on the pool's threads, and its BLAS product in slabs there where BLAS is
    held at one thread (``blas_one``, ``forward_product``), else here on BLAS's
    own threads. The chunks and slabs give the bits of one thread.
    """
    cdef int l, i, n, k, bad = 0
    cdef const floating* A_in = X
    cdef floating* Z
    cdef floating* A
    cdef bint share
    cdef Job job
    job.kind = b'd' if floating is double else b'f'
    for l in range(L):
        n = dims[l + 1]
        k = dims[l]
        Z = <floating*> Zp[l]
        A = <floating*> Ap[l]
        share = shared(T, n, k, m)
        if l == 0 and xt:  # X given as X^T (Fortran-ordered)
            forward_product_xt(&job, own[l], n, k, m, <const floating*> Wp[l], A_in,
                               <const floating*> bp[l], Z, T, share, blas_one)
        else:
            forward_product(&job, own[l], n, k, m, <const floating*> Wp[l], A_in,
                            <const floating*> bp[l], Z, T, share, blas_one)
        job.what = JOB_SIGMOID if l == L - 1 else JOB_RELU
        job.n = n
        job.m = m
        job.Z = Z
        job.C = A
        bad |= run_job(&job, T if share else 1)
        A_in = A
    return bad


cdef object _missing = object()


def layer_lists(dict parameters, tuple keys):
    """``([W1..WL], [b1..bL])`` from ``parameters`` by ``keys`` (``_validation.layer_keys``:
    per layer the W key and the b key first), or None if a key is missing."""
    cdef Py_ssize_t L = len(keys), l
    cdef list Ws = [None] * L, bs = [None] * L
    cdef tuple k
    for l in range(L):
        k = keys[l]
        W = parameters.get(k[0], _missing)
        b = parameters.get(k[1], _missing)
        if W is _missing or b is _missing:
            return None
        Ws[l] = W
        bs[l] = b
    return Ws, bs


cdef enum:  # the step calls that may run on the pool, each timed apart (``threads_of_call``)
    CALL_FORWARD, CALL_BACKWARD, CALL_INPUT_GRAD


def forward(X, list Ws, list bs, own_of):
    """L_model_forward's ``(AL, caches)``, or None (see above). ``own_of(n, k, m,
    itemsize)`` gives a layer's ``own`` (dnn._products.for_step)."""
    global _call_bytes
    cdef int L = len(Ws), l, m
    cdef char kind = kind_of(X)
    cdef Held h
    cdef int* dims = NULL
    cdef int* own = NULL
    cdef void** ptrs = NULL
    cdef const void* Xp
    cdef int bad
    cdef int T
    cdef bint blas_one, xt = False
    key = None
    if kind == 0 or L == 0 or len(bs) != L:
        return None
    held_init(&h, 4 * L + 1)
    try:
        dims = <int*> PyMem_Malloc((2 * L + 1) * sizeof(int))
        ptrs = <void**> PyMem_Malloc(4 * L * sizeof(void*))
        if dims == NULL or ptrs == NULL:
            raise MemoryError()
        own = dims + L + 1
        Xp = grab_either(&h, X, kind, -1, -1, &xt)
        if Xp == NULL:
            return None
        dims[0] = <int> rows_of(&h)
        m = <int> cols_of(&h)
        for l in range(L):
            ptrs[l] = grab(&h, Ws[l], kind, 2, -1, dims[l])
            if ptrs[l] == NULL:
                return None
            dims[l + 1] = <int> rows_of(&h)
            ptrs[L + l] = grab(&h, bs[l], kind, 2, dims[l + 1], 1)
            if ptrs[L + l] == NULL:
                return None
        # every layer checked first: a large layer's first call measures its products (seconds)
        for l in range(L):
            own[l] = own_of(dims[l + 1], dims[l], m, 8 if kind == b'd' else 4)
        Zs = []
        As = []
        _call_bytes = 0
        for l in range(L):
            Z = new_array(kind, dims[l + 1], m, 2)
            A = new_array(kind, dims[l + 1], m, 2)
            ptrs[2 * L + l] = grab_out(&h, Z, kind, 2)
            ptrs[3 * L + l] = grab_out(&h, A, kind, 2)
            Zs.append(Z)
            As.append(A)
        pool_fits(_call_bytes)
        T, key = threads_of_call(CALL_FORWARD, kind, m, L, dims)
        t0 = _clock() if key is not None else 0.0
        with lend_blas(L, m, dims, own, OWN_NN) as blas_one:
            with nogil:
                T = pool_take(T)
                if kind == b'd':
                    bad = forward_layers(L, m, dims, own, <const double*> Xp, <const void**> ptrs,
                                         <const void**> ptrs + L, ptrs + 2 * L, ptrs + 3 * L, T,
                                         blas_one, xt)
                else:
                    bad = forward_layers(L, m, dims, own, <const float*> Xp, <const void**> ptrs,
                                         <const void**> ptrs + L, ptrs + 2 * L, ptrs + 3 * L, T,
                                         blas_one, xt)
                if T > 1:
                    dnn_pool_release()
        if key is not None:
            threads_took(key, T > 1, _clock() - t0)
        if bad:
            return None
        caches = []
        A_prev = X
        for l in range(L):
            caches.append(((A_prev, Ws[l], bs[l]), Zs[l]))
            A_prev = As[l]
        return As[L - 1], caches
    finally:
        held_release(&h)
        PyMem_Free(dims)
        PyMem_Free(ptrs)


cdef int backward_layers(int L, int m, const int* dims, const int* own,
                         const floating* AL, const floating* Y, floating* dAL, floating* dZ,
                         const void** Ap, const void** Wp, const void** bp, const void** Zp,
                         void** dAp, void** dWp, void** dbp, int T,
                         bint blas_one, bint xt) noexcept nogil:
    """Every layer of L_model_backward; returns 1 if a result or an input the
    results cannot show (Z under relu's mask or the sigmoid's saturation, W, b)
    is not finite, or dAL is not (AL of exactly 0 or 1: a division by 0).
    ``dAp[0]`` NULL: dA0 is left out (``input_grad`` makes it from the dZ left
    at the start of ``dZ``).

    With T > 1 (the caller owns the pool), a large layer makes dZ and db in
    chunks of rows, then dW and dA_prev in chunks where the own kernels
    compute them (``nt_part``, ``nn_part``), here where BLAS does; the bits
    are those of one call."""
    cdef int l, n, k, bad = 0
    cdef const floating* dA
    cdef const floating* W
    cdef const floating* A_prev
    cdef floating* dW
    cdef floating* dA_prev
    cdef bint share
    cdef Job job
    job.kind = b'd' if floating is double else b'f'
    ops.output_dA(m, AL, Y, dAL)
    bad |= ops.has_nonfinite(m, dAL) | ops.has_nonfinite(m, AL)  # AL = inf gives dAL = 0
    dA = dAL
    for l in range(L - 1, -1, -1):
        n = dims[l + 1]
        k = dims[l]
        W = <const floating*> Wp[l]
        A_prev = <const floating*> Ap[l]
        dW = <floating*> dWp[l]
        dA_prev = <floating*> dAp[l]
        share = shared(T, n, k, m)
        job.what = JOB_BACK_SIGMOID if l == L - 1 else JOB_BACK_RELU
        job.n = n
        job.k = k
        job.m = m
        job.dA = dA
        job.Z = Zp[l]
        job.C = dZ
        job.db = dbp[l]
        bad |= run_job(&job, T if share else 1)
        backward_products(&job, own[l], n, k, m, dZ, A_prev, W, dW, dA_prev, T, share,
                          blas_one, 3 if dA_prev != NULL else 2, l == 0 and xt, l == 0)
        bad |= (ops.has_nonfinite(<Py_ssize_t> n * k, dW)
                | ops.has_nonfinite(n, <floating*> dbp[l])
                | ops.has_nonfinite(<Py_ssize_t> n * k, W)
                | ops.has_nonfinite(n, <const floating*> bp[l]))
        dA = dA_prev
    return bad


# --------------------------------------------------------------------------
# Threads of the step-by-step calls
# --------------------------------------------------------------------------
#
# ``forward`` and ``backward`` share a large layer's work (at least
# ``_split_min_work`` multiply-adds in a product) with the pool's helper
# threads when BLAS may use T > 1 threads (the fewest of the BLAS libraries'
# counts, read at each call through their ``get_num_threads``: threadpoolctl's
# limits apply), at most the CPUs: own-kernel products and elementwise passes
# in T * _chunks_per_thread chunks taken in turn by whichever thread is free,
# BLAS products whole, on the calling thread. The numbers do not depend on T
# or on who ran which chunk: a chunk gives the bits of the whole call there.

cdef extern from *:
    """
    /* dnn._kernels' pool of helper threads for the step calls: one team
       (dnn/_team.h) per process, grown on first need, never stopped (its
       helpers sleep between calls). A caller owns it for one call: its
       process's id in ``dnn_pool_owner`` (0: free); another caller of the
       same process meanwhile runs on its own thread alone. A child after a
       fork finds its parent's id there, or none, and starts the pool again,
       without the parent's helpers (its copy of the team and its mutex are
       the parent's, whatever state they were in). */
    #include "_team.h"
    static dnn_team dnn_pool;
    static dnn_team_a64 dnn_pool_owner;   /* the process whose call owns the pool, 0: free */
    static unsigned long long dnn_pool_made;  /* the process dnn_pool was made in */

    /* Own the pool for one call, with up to ``helpers`` helpers started: the
       helpers it has (>= 0), or -1 if another caller owns it. */
    static int dnn_pool_acquire(int helpers) {
        unsigned long long me = (unsigned long long) dnn_team_pid();
        unsigned long long owner = dnn_team_load64(&dnn_pool_owner);
        /* free, or a parent's call that was under way when it forked this child */
        if (owner == me || !dnn_team_cas64(&dnn_pool_owner, owner, me)) return -1;
        if (!dnn_pool.ready || dnn_pool_made != me) {
            if (dnn_team_init(&dnn_pool) != 0) { dnn_team_store64(&dnn_pool_owner, 0); return -1; }
            dnn_pool_made = me;
        }
        dnn_team_grow(&dnn_pool, helpers + 1);  /* short of it if a thread fails to start */
        return dnn_pool.size - 1;
    }

    static void dnn_pool_release(void) { dnn_team_store64(&dnn_pool_owner, 0); }

    /* The helpers this process's pool has started (tests). */
    static int dnn_pool_helpers(void) {
        return dnn_pool.ready && dnn_pool_made == (unsigned long long) dnn_team_pid() ? dnn_pool.size - 1 : 0;
    }

    /* Chunks 0 .. n - 1 of fn(ctx, chunk) on this thread and the helpers;
       returns when every chunk is done. The caller owns the pool. */
    static void dnn_pool_run(dnn_team_fn fn, void* ctx, int n) { dnn_team_run(&dnn_pool, fn, ctx, n); }
    """
    ctypedef void (*dnn_team_fn)(void* ctx, int chunk) noexcept nogil
    int dnn_pool_acquire(int helpers) nogil
    void dnn_pool_release() nogil
    void dnn_pool_run(dnn_team_fn fn, void* ctx, int n) nogil
    int dnn_pool_helpers() nogil


def _pool_helpers():
    """The helper threads the step calls' pool has started in this process (tests)."""
    return dnn_pool_helpers()


def _pool_own(bint take):
    """Own the step calls' pool as a call does (``take``; False if another owns it), or let it go
    (tests: a child forked while a call of its parent owned it)."""
    if take:
        return dnn_pool_acquire(0) >= 0
    dnn_pool_release()
    return True


ctypedef int (*count_fn)() noexcept nogil

cdef enum:
    MAX_STEP_THREADS = 8
    MAX_COUNTERS = 4
    SPLIT_COLS = 16     # column shares start at multiples of 16 (a vector of floats in AVX-512)
    MAX_CHUNKS = 64
    NT_SMALL_D = 256 << 10  # nt_part: D this small stays in cache while A's rows pass in groups
    XT_BLOCK = 512 << 10    # nt_xt: bytes of W's rows and a group of X^T's per block of features
    XT_GROUP = 8            # nt_xt: X^T's rows that pass under W's block together
    BLAS_THREADED_MIN = 1 << 18  # lend_blas: OpenBLAS threads a gemm of this many multiply-adds
                                 # (65536 x GEMM_MULTITHREAD_THRESHOLD = 4, interface/gemm.c)
    GEMM_SLABS = 4           # slab_count: the most slabs of a large BLAS product (``_max_slabs``'s cap)

#: ``nt`` reads A once where D (n x m) is at most this many bytes and n <= k
#: (``nt_part``'s chunks), as a gemm would; ``dnn._products.for_step`` reads it.
NT_SMALL_D_BYTES = NT_SMALL_D

# A product of fewer multiply-adds stays on one thread: handing a helper its
# share and joining it would cost more than half the work saves. Above it, whether
# a call's layers go to the pool is timed per call shape (``threads_for``), so this
# only bounds what is tried (benchmarks/NOTES.md, "Step calls' overhead").
cdef double _split_min_work = 1 << 20
# slab_count: multiply-adds of a slab, at least (above OpenBLAS's small-matrix sizes: 1e6 for
# dgemm, 7.3e6 for sgemm_direct)
cdef double _gemm_slab_min = 1 << 23
cdef count_fn _counters[MAX_COUNTERS]
cdef int _n_counters = 0
cdef int _cpu_cap = 1
cdef int _forced_threads = 0
# A phase's chunks per thread: more balance the threads when one is late (a
# helper waking up, a core taken by another process), fewer read the operand
# every chunk reads in full (W in a share of columns) fewer times.
cdef int _chunks_per_thread = 2
cdef bint _blas_slabs = True
# slab_count's most slabs: GEMM_SLABS, or the machine's CPUs where fewer. Each slab packs the
# operand it does not cut again (dZ, 20 MB, for S4's dW1), so more slabs than threads can ever
# share them cost time at every thread count (benchmarks/NOTES.md, "Slabs per CPU"). The
# machine's count (``os.cpu_count``), not the CPUs this process may use: the same machine
# gives the same bits under any affinity, as under any thread count (Python 3.13's
# PYTHON_CPU_COUNT, which sets that count, is a setting like OPENBLAS_CORETYPE's kernel set).
#: The most slabs of a large BLAS product on this machine (the fits' too: ``dnn._train``).
MACHINE_SLABS = max(1, min(<int> GEMM_SLABS, os.cpu_count() or 1))
cdef int _max_slabs = MACHINE_SLABS


def _set_thread_counters(addresses, int cpus):
    """The BLAS libraries' ``get_num_threads`` (C function addresses; ``dnn._products``
    finds them once) and the CPUs this process may run on."""
    global _n_counters, _cpu_cap
    cdef int i
    addresses = [int(a) for a in addresses if a][:MAX_COUNTERS]
    _n_counters = 0
    for i in range(len(addresses)):
        _counters[i] = <count_fn> <size_t> addresses[i]
    _n_counters = len(addresses)
    _cpu_cap = max(1, min(cpus, MAX_STEP_THREADS))


def _set_step_threads(int threads=0, min_work=None, chunks_per_thread=None, blas_slabs=None, slab_min=None,
                      max_slabs=None):
    """Tests: run the step calls on ``threads`` threads whatever BLAS's count
    (0: follow BLAS), sharing layers of at least ``min_work`` multiply-adds,
    in ``chunks_per_thread`` chunks per thread; with ``blas_slabs`` False, a
    large layer's BLAS products run whole on the calling thread (``lend_blas``);
    a BLAS product's slabs of at least ``slab_min`` multiply-adds, at most ``max_slabs``
    of them (``slab_count``)."""
    global _forced_threads, _split_min_work, _chunks_per_thread, _blas_slabs, _gemm_slab_min, _max_slabs
    _forced_threads = max(0, min(threads, MAX_STEP_THREADS))
    if min_work is not None:
        _split_min_work = float(min_work)
    if chunks_per_thread is not None:
        _chunks_per_thread = max(1, min(int(chunks_per_thread), 8))
    if blas_slabs is not None:
        _blas_slabs = bool(blas_slabs)
    if slab_min is not None:
        _gemm_slab_min = max(1.0, float(slab_min))
    if max_slabs is not None:
        _max_slabs = max(1, min(int(max_slabs), MAX_CHUNKS))


def _step_threads():
    """The threads a step call with a large layer runs on now."""
    return step_threads()


def _slab_count(what, int n, int k, int m):
    """Tests: ``slab_count`` of a BLAS product, ``what`` one of "nn" (C (n, m) := M (n, k) B),
    "tn" (C (k, m) := M^T B, M (n, k)) or "nt" (W (n, k) := D (n, m) B (k, m)^T)."""
    return slab_count({"nn": JOB_GEMM_NN, "tn": JOB_GEMM_TN, "nt": JOB_GEMM_NT}[what], n, k, m)


def _step_settings():
    """``(threads, min_work, chunks_per_thread, blas_slabs, slab_min, max_slabs)`` as
    ``_set_step_threads`` takes them."""
    return _forced_threads, _split_min_work, _chunks_per_thread, _blas_slabs, _gemm_slab_min, _max_slabs


cdef int blas_count() noexcept nogil:
    """The threads BLAS may use now: the fewest of the libraries' counts (1 without any)."""
    cdef int i, c, T = 0
    for i in range(_n_counters):
        c = _counters[i]()
        if c >= 1 and (T == 0 or c < T):
            T = c
    return max(1, T)


cdef int step_threads() noexcept nogil:
    if _forced_threads:
        return _forced_threads
    return min(blas_count(), _cpu_cap)


cdef enum:
    JOB_NN = 1          # nn_part: C := M B (+ bias)
    JOB_NT = 2          # nt_part: W := D B^T / m
    JOB_RELU = 3        # C := relu(Z), rows; bad if Z is not finite
    JOB_SIGMOID = 4     # C := sigmoid(Z), rows; bad if Z is not finite
    JOB_BACK_RELU = 5   # C := dA * (Z > 0), db := row sums / m, rows; bad if Z is not finite
    JOB_BACK_SIGMOID = 6
    JOB_NT_XT = 7       # nt_xt: Z := W X for X given as X^T (a Fortran-ordered X)
    JOB_GEMM_NN = 8     # BLAS, a slab: C := alpha M B (+ bias)  (forward's W A_prev + b)
    JOB_GEMM_TN = 9     # BLAS, a slab: C := alpha M^T B         (dA_prev := W^T dZ)
    JOB_GEMM_NT = 10    # BLAS, a slab: W := alpha D B^T         (dW := dZ A_prev^T / m)


cdef struct Job:
    int what, nchunks, own
    int flags               # JOB_NN's: simd.nn's flags
    double alpha            # JOB_NT's and the gemms' scale of the product
    char kind
    int n, k, m, rs, cs
    const void* M
    const void* B
    const void* D
    const void* bias
    const void* dA
    const void* Z
    void* C
    void* W
    void* db
    int bad[MAX_CHUNKS]


cdef inline void gemm_part(Job* j, int t, int T, floating tag) noexcept nogil:
    """Slab t of T of a BLAS product (``j.what``: JOB_GEMM_NN, _TN or _NT), one
    gemm on a block of the result's rows or columns, BLAS held at one thread by
    the caller (``blas_lent``): each thread of the pool runs its own slab, and
    no BLAS thread is left spinning on a core the pool wants. The slabs are fixed
    by the shape and the machine's CPUs (``slab_count``), never the threads, so
    whichever threads run them give the same bits
    (``tests/test_step_fast_path.py``); those are not always the whole gemm's
    (OpenBLAS's kernels sum a block's edge tiles their own way: sgemm's Haswell
    and dgemm's SkylakeX kernels differ in the last bits), so the checked paths
    of ``dnn.functional`` run the same calls (``tests/test_step_blas_and_pool.py``).
    The result is cut the way its two operands are read less twice
    (``split_rows``; for dW, whichever of dZ and A_prev is the smaller)."""
    cdef int n = j.n, k = j.k, m = j.m
    cdef bint nb = j.own & OWN_NUMPY_NN
    cdef const floating* M = <const floating*> j.M
    cdef const floating* B = <const floating*> j.B
    cdef floating* C = <floating*> j.C
    cdef const floating* bias = <const floating*> j.bias
    cdef Py_ssize_t lo, hi
    if j.what == JOB_GEMM_NN:  # C (n, m) := alpha M (n, k) B (k, m) (+ bias)
        if split_rows(n, m):
            split_range(n, t, T, 1, &lo, &hi)
            if hi > lo:
                bgemm(nb, False, False, <int> (hi - lo), m, k, <floating> j.alpha, M + lo * k, k,
                      B, m, <floating> 0.0, C + lo * m, m)
                if bias != NULL:
                    ops.add_bias(<int> (hi - lo), m, C + lo * m, m, bias + lo)
        else:
            split_range(m, t, T, SPLIT_COLS, &lo, &hi)
            if hi > lo:
                bgemm(nb, False, False, n, <int> (hi - lo), k, <floating> j.alpha, M, k,
                      B + lo, m, <floating> 0.0, C + lo, m)
                if bias != NULL:
                    ops.add_bias(n, <int> (hi - lo), C + lo, m, bias)
    elif j.what == JOB_GEMM_TN:  # C (k, m) := M^T B, M (n, k), B (n, m)
        if split_rows(k, m):
            split_range(k, t, T, 1, &lo, &hi)
            if hi > lo:
                bgemm(nb, True, False, <int> (hi - lo), m, n, <floating> j.alpha, M + lo, k,
                      B, m, <floating> 0.0, C + lo * m, m)
        else:
            split_range(m, t, T, SPLIT_COLS, &lo, &hi)
            if hi > lo:
                bgemm(nb, True, False, k, <int> (hi - lo), n, <floating> j.alpha, M, k,
                      B + lo, m, <floating> 0.0, C + lo, m)
    else:  # C (n, k) := alpha M B^T, M = dZ (n, m), B = A_prev (k, m)
        nb = j.own & OWN_NUMPY_NT
        if n >= k:
            split_range(n, t, T, 1, &lo, &hi)
            if hi > lo:
                bgemm(nb, False, True, <int> (hi - lo), k, m, <floating> j.alpha, M + lo * m, m,
                      B, m, <floating> 0.0, C + lo * k, k)
        else:
            split_range(k, t, T, 1, &lo, &hi)
            if hi > lo:
                bgemm(nb, False, True, n, <int> (hi - lo), m, <floating> j.alpha, M, m,
                      B + lo * m, m, <floating> 0.0, C + lo, k)


cdef void job_chunk(void* ctx, int c) noexcept nogil:
    cdef Job* job = <Job*> ctx
    if job.kind == b'd':
        job.bad[c] = job_part(job, c, <double> 0)
    else:
        job.bad[c] = job_part(job, c, <float> 0)


cdef int job_part(Job* j, int c, floating tag) noexcept nogil:
    """Chunk c of ``j.nchunks`` of job ``j``; 1 if a Z it read is not finite."""
    cdef int T = j.nchunks, i, m = j.m, bad = 0
    cdef Py_ssize_t lo, hi
    cdef const floating* Z = <const floating*> j.Z
    cdef const floating* dA = <const floating*> j.dA
    cdef floating* C = <floating*> j.C
    cdef floating* db = <floating*> j.db
    cdef double inv_m = 1.0 / m
    if j.what == JOB_NN:
        nn_part(c, T, j.n, j.k, m, <const floating*> j.M, j.rs, j.cs, <const floating*> j.B,
                C, <const floating*> j.bias, j.flags)
        return 0
    if j.what == JOB_NT:
        nt_part(c, T, j.n, j.k, m, <floating> j.alpha, <const floating*> j.D,
                <const floating*> j.B, <floating*> j.W)
        return 0
    if j.what == JOB_NT_XT:
        nt_xt(c, T, j.n, j.k, m, <const floating*> j.D, <const floating*> j.B, <floating*> j.W)
        return 0
    if j.what >= JOB_GEMM_NN:
        gemm_part(j, c, T, tag)
        return 0
    split_range(j.n, c, T, 1, &lo, &hi)
    for i in range(<int> lo, <int> hi):
        if j.what == JOB_RELU:  # relu would hide a nan: each row of Z tested as it is read
            bad |= simd.relu_checked(m, Z + <Py_ssize_t> i * m, C + <Py_ssize_t> i * m)
            continue
        elif j.what == JOB_SIGMOID:
            activate(ops.ACT_SIGMOID, 1, m, Z + <Py_ssize_t> i * m, C + <Py_ssize_t> i * m)
        elif j.what == JOB_BACK_SIGMOID:  # s by the vector sigmoid, then dZ = (dA s)(1 - s)
            simd.output_grad(m, Z + <Py_ssize_t> i * m, <const floating*> NULL, C + <Py_ssize_t> i * m)
            ops.sigmoid_backward_from_s(m, dA + <Py_ssize_t> i * m, C + <Py_ssize_t> i * m)
            db[i] = <floating> (inv_m * ops.sum_row(m, C + <Py_ssize_t> i * m))
        else:
            simd.relu_backward_from(1, m, dA + <Py_ssize_t> i * m, m, Z + <Py_ssize_t> i * m, m,
                                    C + <Py_ssize_t> i * m, m, <floating*> NULL, 0.0)
            db[i] = <floating> (inv_m * ops.sum_row(m, C + <Py_ssize_t> i * m))
        bad |= ops.has_nonfinite(m, Z + <Py_ssize_t> i * m)
    return bad


# Whether a call's large layers go to the pool is decided by timing it, per
# call shape and T: the numbers are the same either way, so the choice may
# follow the machine as it is now (another process on a core makes a
# helper late; a quiet machine gains the second core). The first
# 2 * THREADS_TRIALS calls of a shape alternate (pool, alone), later ones take
# the faster by the moving averages of their times, and every THREADS_REVISIT-th
# call takes the other, so a change of load is seen.
THREADS_TRIALS = 3
THREADS_REVISIT = 32
cdef dict _threads_seen = {}
cdef object _clock = __import__("time").perf_counter


cdef int threads_for(key, int T):
    """T (the pool) or 1 for this call of shape ``key`` (see above)."""
    st = _threads_seen.get(key)
    if st is None:
        if len(_threads_seen) > 1024:
            _threads_seen.clear()
        st = _threads_seen[key] = [0, 0.0, 0.0]
    n = st[0]
    if n < 2 * THREADS_TRIALS:
        return T if n % 2 == 0 else 1
    pool_faster = st[1] <= st[2]
    if n % THREADS_REVISIT == 0:
        pool_faster = not pool_faster
    return T if pool_faster else 1


cdef object threads_of_call(int call, kind, int m, int L, const int* dims):
    """``(T, key)``: the threads of a call (``call``: CALL_FORWARD, CALL_BACKWARD or
    CALL_INPUT_GRAD; ``team_size``, then the timed pool-or-alone choice of its shape ``key``);
    key None where nothing is timed (one thread, or the pool forced by the tests)."""
    cdef int T = team_size(L, m, dims)
    if T <= 1 or _forced_threads:
        return T, None
    key = (call, kind, m, T) + tuple([dims[l] for l in range(L + 1)])
    return threads_for(key, T), key


cdef void threads_took(key, bint pool, double seconds):
    st = _threads_seen[key]
    i = 1 if pool else 2
    st[i] = seconds if st[i] == 0 else 0.5 * st[i] + 0.5 * seconds
    st[0] += 1


def _threads_choices():
    """Per call shape: [calls, average seconds with the pool, alone] (benchmarks, tests)."""
    return {k: list(v) for k, v in _threads_seen.items()}


cdef int team_size(int L, int m, const int* dims) noexcept nogil:
    """The threads a call's large layers run on: ``step_threads()`` if some
    layer is large, else 1 (the pool is not touched)."""
    cdef int l
    for l in range(L):
        if <double> dims[l] * dims[l + 1] * m >= _split_min_work:
            return step_threads()
    return 1


cdef int pool_take(int T) noexcept nogil:
    """Own the pool for a call that wants T threads: the threads it may run on
    (1: the pool stays untouched; another caller owns it, or T is 1)."""
    cdef int helpers
    if T <= 1:
        return 1
    helpers = dnn_pool_acquire(T - 1)
    if helpers < 0:
        return 1
    if helpers == 0:
        dnn_pool_release()
        return 1
    return min(T, helpers + 1)


cdef class _Fixed:
    """A context whose value is fixed and whose exit does nothing (a compiled
    ``contextlib.nullcontext``: its enter and exit are C calls, not Python frames)."""
    cdef bint value

    def __cinit__(self, bint value):
        self.value = value

    def __enter__(self):
        return self.value

    def __exit__(self, *exc):
        return False


cdef _Fixed _not_lent = _Fixed(False)
cdef _Fixed _one_thread = _Fixed(True)


cdef object lend_blas(int L, int m, const int* dims, const int* own, int products):
    """A context whose value says whether BLAS runs one thread for the call.

    Where BLAS may use more threads and the call has a BLAS product (among
    ``products``; OWN_NN: W H and W^T dZ, OWN_NT: dZ H^T) that OpenBLAS would
    share among them (BLAS_THREADED_MIN multiply-adds), BLAS is held at one
    thread for the call (``dnn._blas_threads.blas_lent``). A large
    layer's BLAS products then run in slabs fixed by their shape and the machine's
    CPUs (``slab_count``),
    on the pool's threads or one after the other, the others whole: the same
    bits whatever the threads, the pool's or BLAS's. And no BLAS thread is left
    spinning, for tens of milliseconds after each product, on the cores the
    pool's next phase wants, or woken for a product too small to gain from it
    (benchmarks/NOTES.md, "Step calls at two threads").
    False where BLAS cannot be held at one thread for the pool's threads (an
    OpenMP BLAS): its products then run whole here, on its own threads.
    BLAS found at one thread by a lender (a sharded fit) is lent again, so that
    lender's end cannot give BLAS its threads back during the call; at the
    user's one thread nothing is lent (a lender holds ``_lenders`` above 0 until
    its limits are given back, and this thread holds the GIL between the reads)."""
    cdef int l
    if not _blas_slabs:
        return _not_lent
    if blas_count() <= 1 and not _blas_threads._lenders:
        return _one_thread
    for l in range(L):
        if (<double> dims[l + 1] * dims[l] * m >= BLAS_THREADED_MIN
                and not own[l] & OWN_ALL and (products & ~own[l]) & (OWN_NN | OWN_NT)):
            return _lent()
    return _not_lent


@contextlib.contextmanager
def _lent():
    with blas_lent(2) as threads:
        yield threads > 1 or blas_count() <= 1  # held here, or by a fit that holds it


cdef inline object cache_parts(object cache):
    """((A_prev, W, b), Z) of a layer cache as a 4-tuple, or None."""
    if (type(cache) is not tuple and type(cache) is not list) or len(cache) != 2:
        return None
    lin = cache[0]
    if (type(lin) is not tuple and type(lin) is not list) or len(lin) != 3:
        return None
    return lin[0], lin[1], lin[2], cache[1]


def backward(AL, Y, caches, tuple names, own_of, bint defer_dA0=True):
    """L_model_backward's grads, or None (see above). ``names[l]`` is
    ("dA{l}", "dW{l+1}", "db{l+1}"); ``own_of`` as in ``forward``. A
    ``dnn._gradients.Gradients`` whose dA0 is pending (``input_grad``, from a
    copy of W1 and the call's dZ1), unless ``defer_dA0`` is False."""
    global _call_bytes
    cdef int L, l, m, n_max
    cdef char kind = kind_of(AL)
    cdef Held h
    cdef int* dims = NULL
    cdef int* own = NULL
    cdef void** ptrs = NULL
    cdef void* scratch = NULL
    cdef const void* ALp
    cdef const void* Yp
    cdef void* dALp
    cdef int bad
    cdef int T
    cdef bint blas_one, xt = False
    key = None
    if kind == 0 or (type(caches) is not list and type(caches) is not tuple):
        return None
    L = len(caches)
    if L == 0 or len(names) != L:
        return None
    parts = [cache_parts(c) for c in caches]
    if None in parts:
        return None
    held_init(&h, 8 * L + 4)
    try:
        dims = <int*> PyMem_Malloc((2 * L + 1) * sizeof(int))
        ptrs = <void**> PyMem_Malloc(7 * L * sizeof(void*))
        if dims == NULL or ptrs == NULL:
            raise MemoryError()
        own = dims + L + 1
        ALp = grab(&h, AL, kind, 2, 1, -1)
        if ALp == NULL:
            return None
        m = <int> cols_of(&h)
        Yp = grab(&h, Y, kind, 2 if (type(Y) is _ndarray and cnp.PyArray_NDIM(<cnp.ndarray> Y) == 2) else 1,
                  1, m)
        if Yp == NULL or not _binary(kind, Yp, m):
            return None
        n_max = 1
        for l in range(L):
            A_prev, W, b, Z = parts[l]
            # A_prev (k, m) chains with the previous layer's Z; the last Z is AL's shape
            if l:
                ptrs[l] = grab(&h, A_prev, kind, 2, dims[l], m)
            else:  # the first layer's input: X, Fortran-ordered too (``grab_either``)
                ptrs[l] = grab_either(&h, A_prev, kind, -1, m, &xt)
            if ptrs[l] == NULL:
                return None
            dims[l] = <int> rows_of(&h)
            ptrs[L + l] = grab(&h, W, kind, 2, -1, dims[l])
            if ptrs[L + l] == NULL:
                return None
            dims[l + 1] = <int> rows_of(&h)
            n_max = max(n_max, dims[l + 1])
            ptrs[2 * L + l] = grab(&h, b, kind, 2, dims[l + 1], 1)
            ptrs[3 * L + l] = grab(&h, Z, kind, 2, dims[l + 1], m)
            if ptrs[2 * L + l] == NULL or ptrs[3 * L + l] == NULL:
                return None
        if dims[L] != 1:
            return None
        for l in range(L):  # every layer checked first, as in ``forward``
            own[l] = own_of(dims[l + 1], dims[l], m, 8 if kind == b'd' else 4)
        grads = Gradients()
        _call_bytes = 0
        for l in range(L - 1, -1, -1):
            if l or not defer_dA0:
                dA = new_array(kind, dims[l], m, 2)
                ptrs[4 * L + l] = grab_out(&h, dA, kind, 2)
                PyDict_SetItem(grads, names[l][0], dA)
            else:
                ptrs[4 * L] = NULL
            dW = new_array(kind, dims[l + 1], dims[l], 2)
            db = empty_array(kind, dims[l + 1], 1, 2)
            ptrs[5 * L + l] = grab_out(&h, dW, kind, 2)
            ptrs[6 * L + l] = grab_out(&h, db, kind, 2)
            PyDict_SetItem(grads, names[l][1], dW)
            PyDict_SetItem(grads, names[l][2], db)
        dAL = empty_array(kind, 1, m, 1)
        dALp = grab_out(&h, dAL, kind, 1)
        scratch_array = new_array(kind, n_max, m, 2)  # dZ of each layer in turn
        scratch = grab_out(&h, scratch_array, kind, 2)
        pool_fits(_call_bytes)
        T, key = threads_of_call(CALL_BACKWARD, kind, m, L, dims)
        t0 = _clock() if key is not None else 0.0
        with lend_blas(L, m, dims, own, OWN_NN | OWN_NT) as blas_one:
            with nogil:
                T = pool_take(T)
                if kind == b'd':
                    bad = backward_layers(L, m, dims, own, <const double*> ALp,
                                          <const double*> Yp, <double*> dALp, <double*> scratch,
                                          <const void**> ptrs, <const void**> ptrs + L,
                                          <const void**> ptrs + 2 * L, <const void**> ptrs + 3 * L,
                                          ptrs + 4 * L, ptrs + 5 * L, ptrs + 6 * L, T, blas_one, xt)
                else:
                    bad = backward_layers(L, m, dims, own, <const float*> ALp,
                                          <const float*> Yp, <float*> dALp, <float*> scratch,
                                          <const void**> ptrs, <const void**> ptrs + L,
                                          <const void**> ptrs + 2 * L, <const void**> ptrs + 3 * L,
                                          ptrs + 4 * L, ptrs + 5 * L, ptrs + 6 * L, T, blas_one, xt)
                if T > 1:
                    dnn_pool_release()
        if key is not None:
            threads_took(key, T > 1, _clock() - t0)
        if bad:
            return None
        if defer_dA0:
            W1 = new_array(kind, dims[1], dims[0], 2)  # pooled: back once the dict lets go
            memcpy(cnp.PyArray_DATA(<cnp.ndarray> W1), ptrs[L],
                   <size_t> dims[1] * dims[0] * (8 if kind == b'd' else 4))
            # dZ1: left in the scratch by the first layer, the last one made; copied out where a
            # wider later layer made the scratch larger, which a view would keep alive
            dZ1 = scratch_array[:dims[1]]
            if n_max > dims[1]:
                dZ1 = new_array(kind, dims[1], m, 2)
                memcpy(cnp.PyArray_DATA(<cnp.ndarray> dZ1), scratch,
                       <size_t> dims[1] * m * (8 if kind == b'd' else 4))
            grads._defer(names[0][0], functools.partial(input_grad, W1, dZ1, own[0]), 2)
        return grads
    finally:
        held_release(&h)
        PyMem_Free(dims)
        PyMem_Free(ptrs)


def input_grad(W, dZ, int own):
    """dA_prev := W^T dZ (W (n, k), dZ (n, m): C-contiguous arrays of one dtype) with the
    product ``backward`` runs for a first layer of that ``own``: the same bits; a
    ``Gradients``' pending dA0."""
    global _call_bytes
    cdef char kind = kind_of(W)
    cdef Held h
    cdef int dims[2]
    cdef int owns[1]
    cdef int n, k, m, T
    cdef const void* Wp
    cdef const void* dZp
    cdef void* dAp
    cdef bint blas_one
    cdef Job job
    held_init(&h, 3)
    try:
        Wp = grab(&h, W, kind, 2, -1, -1)
        n = <int> rows_of(&h)
        k = <int> cols_of(&h)
        dZp = grab(&h, dZ, kind, 2, n, -1)
        if Wp == NULL or dZp == NULL:
            raise TypeError("input_grad: W (n, k) and dZ (n, m) must be C-contiguous float32 or "
                            "float64 arrays of one dtype")
        m = <int> cols_of(&h)
        dims[0] = k
        dims[1] = n
        owns[0] = own
        _call_bytes = 0
        dA = new_array(kind, k, m, 2)
        dAp = grab_out(&h, dA, kind, 2)
        pool_fits(_call_bytes)
        T, key = threads_of_call(CALL_INPUT_GRAD, kind, m, 1, dims)
        t0 = _clock() if key is not None else 0.0
        job.kind = kind
        with lend_blas(1, m, dims, owns, OWN_NN) as blas_one:
            with nogil:
                T = pool_take(T)
                if kind == b'd':
                    backward_products(&job, own, n, k, m, <const double*> dZp, NULL,
                                      <const double*> Wp, NULL, <double*> dAp, T, shared(T, n, k, m),
                                      blas_one, 1, False, True)
                else:
                    backward_products(&job, own, n, k, m, <const float*> dZp, NULL,
                                      <const float*> Wp, NULL, <float*> dAp, T, shared(T, n, k, m),
                                      blas_one, 1, False, True)
                if T > 1:
                    dnn_pool_release()
        if key is not None:
            threads_took(key, T > 1, _clock() - t0)
        return dA
    finally:
        held_release(&h)


cdef bint _binary(char kind, const void* y, Py_ssize_t n) noexcept:
    if kind == b'd':
        return not ops.not_binary(n, <const double*> y)
    return not ops.not_binary(n, <const float*> y)


cdef int cost_of(int m, const floating* AL, const floating* Y, double* cost) noexcept nogil:
    """The cost into ``cost``; returns 1 if some AL is outside [0, 1] (or nan)."""
    if ops.not_probability(m, AL):
        return 1
    cost[0] = ops.cross_entropy_blocks(m, AL, Y)
    return 0


def cost(AL, Y):
    """compute_cost's value as a 0-d array of AL's dtype, or None (the fast path does not
    apply, or AL is not a probability)."""
    cdef char kind = kind_of(AL)
    cdef Held h
    cdef const void* ALp
    cdef const void* Yp
    cdef int m, bad
    cdef double c = 0
    if kind == 0 or kind_of(Y) != kind:
        return None
    held_init(&h, 2)
    try:
        ALp = grab(&h, AL, kind, 2, 1, -1)
        if ALp == NULL:
            return None
        m = <int> cols_of(&h)
        Yp = grab(&h, Y, kind, 2 if cnp.PyArray_NDIM(<cnp.ndarray> Y) == 2 else 1, 1, m)
        if Yp == NULL or not _binary(kind, Yp, m):
            return None
        with nogil:
            if kind == b'd':
                bad = cost_of(m, <const double*> ALp, <const double*> Yp, &c)
            else:
                bad = cost_of(m, <const float*> ALp, <const float*> Yp, &c)
        if bad:
            return None
        out = empty_array(kind, 1, 1, 0)  # 0-d, AL's dtype (c rounded to it once, as np.asarray)
        if kind == b'd':
            (<double*> cnp.PyArray_DATA(<cnp.ndarray> out))[0] = c
        else:
            (<float*> cnp.PyArray_DATA(<cnp.ndarray> out))[0] = <float> c
        return out
    finally:
        held_release(&h)


cdef int step_into(Py_ssize_t n, double lr, const floating* p, const floating* g,
                   floating* out) noexcept nogil:
    """out := p - lr * g, rounded as NumPy does (the product, then the difference:
    two loops, so no compiler may fuse them into one FMA); 1 if out is not finite.
    In blocks that stay in L1, so a large W (S1's first) is read and written once."""
    cdef Py_ssize_t i, j = 0, j1
    cdef floating a = <floating> lr
    cdef int bad = 0
    while j < n:
        j1 = min(n, j + 2048)
        for i in range(j, j1):
            out[i] = a * g[i]
        for i in range(j, j1):
            out[i] = p[i] - out[i]
        bad |= ops.has_nonfinite(j1 - j, out + j)
        j = j1
    return bad


def update(dict parameters, grads, tuple keys, double lr):
    """update_parameters in one call: ``parameters[k] = p - lr * grads["d" + k]``
    with new arrays, for ``keys`` (per layer: W key, b key, dW key, db key; the
    dict must hold exactly those W and b keys); returns True, or None with
    ``parameters`` untouched where the fast path does not apply or a result is
    not finite."""
    cdef Py_ssize_t n = 2 * len(keys), i
    cdef char kind
    cdef Held h
    cdef void** ptrs = NULL  # per array: p, g, out
    cdef Py_ssize_t* sizes = NULL
    cdef int bad = 0
    if n == 0 or len(parameters) != n or (type(grads) is not dict and type(grads) is not Gradients):
        return None
    ps = [None] * n
    gs = [None] * n
    for i in range(n):
        k = keys[i // 2]
        p = parameters.get(k[i % 2], _missing)
        g = (<dict> grads).get(k[2 + i % 2], _missing)
        if p is _missing or g is _missing:
            return None
        ps[i] = p
        gs[i] = g
    kind = kind_of(ps[0])
    if kind == 0:
        return None
    held_init(&h, 3 * n)
    try:
        ptrs = <void**> PyMem_Malloc(3 * n * sizeof(void*))
        sizes = <Py_ssize_t*> PyMem_Malloc(n * sizeof(Py_ssize_t))
        if ptrs == NULL or sizes == NULL:
            raise MemoryError()
        outs = [None] * n
        for i in range(n):
            ptrs[3 * i] = grab(&h, ps[i], kind, 2, -1, -1)
            if ptrs[3 * i] == NULL:
                return None
            rows = h.rows
            cols = h.cols
            ptrs[3 * i + 1] = grab(&h, gs[i], kind, 2, rows, cols)
            if ptrs[3 * i + 1] == NULL:
                return None
            out = new_array(kind, rows, cols, 2)
            ptrs[3 * i + 2] = grab_out(&h, out, kind, 2)
            outs[i] = out
            sizes[i] = rows * cols
        with nogil:
            for i in range(n):
                if kind == b'd':
                    bad |= step_into(sizes[i], lr, <const double*> ptrs[3 * i],
                                     <const double*> ptrs[3 * i + 1], <double*> ptrs[3 * i + 2])
                else:
                    bad |= step_into(sizes[i], lr, <const float*> ptrs[3 * i],
                                     <const float*> ptrs[3 * i + 1], <float*> ptrs[3 * i + 2])
        if bad:
            return None
        for i in range(n // 2):
            parameters[keys[i][0]] = outs[2 * i]
            parameters[keys[i][1]] = outs[2 * i + 1]
        return True
    finally:
        held_release(&h)
        PyMem_Free(ptrs)
        PyMem_Free(sizes)


def _layer_products(int own, const floating[:, ::1] W, const floating[:, ::1] A_prev,
                    const floating[::1] b, floating[:, ::1] Z, const floating[:, ::1] dZ,
                    floating[:, ::1] dW, floating[:, ::1] dA_prev, int which=3):
    """A layer's products as ``forward`` and ``backward`` run them for ``own``, on
    as many threads (the pool where the layer is large): with ``which`` & 1,
    Z := W A_prev + b and dA_prev := W^T dZ (the ``nn`` group), with ``which``
    & 2, dW := dZ A_prev^T / m (``nt``): what ``dnn._products`` times to choose
    a layer's products. Shapes as in ``linear_backward``."""
    cdef int n = <int> W.shape[0], k = <int> W.shape[1], m = <int> A_prev.shape[1], T
    cdef int dims[2]
    cdef Job job
    cdef bint share
    cdef bint blas_one
    job.kind = b'd' if floating is double else b'f'
    dims[0] = k
    dims[1] = n
    T = team_size(1, m, dims)
    with lend_blas(1, m, dims, &own, OWN_NN | OWN_NT) as blas_one:
        with nogil:
            T = pool_take(T)
            share = shared(T, n, k, m)
            if which & 1:
                forward_product(&job, own, n, k, m, &W[0, 0], &A_prev[0, 0], &b[0], &Z[0, 0], T,
                                share, blas_one)
            backward_products(&job, own, n, k, m, &dZ[0, 0], &A_prev[0, 0], &W[0, 0], &dW[0, 0],
                              &dA_prev[0, 0], T, share, blas_one, which)
            if T > 1:
                dnn_pool_release()

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
             dZ_{l-1} = dA_{l-1} * (H_{l-1} > 0) with db_{l-1} in the same pass.
  Two ping-pong buffers hold dA/dZ, so the workspace is the hidden
  activations, Z_L, two gradient buffers of max(n_l) * m and a few vectors.

Memory layout: the hidden activations and gradients are stored either
features-major, (n_l, m) as the reference, or samples-major, (m, n_l) as
scikit-learn's MLP; X is used as given, (n_0, m), or transposed once per fit.
A gemm takes either layout through its transpose flags, so all four
combinations run through the same loop; ``dnn.models`` picks one by the
measurements documented there. The output layer's (1, m) and (m, 1) are the
same memory, so it is layout-free.
"""

cimport cython
from cython cimport floating
from libc.math cimport NAN
from libc.stdint cimport uintptr_t
from posix.time cimport clock_gettime, timespec, CLOCK_MONOTONIC
from cpython.exc cimport PyErr_CheckSignals

from dnn._blas cimport gemm
cimport dnn._ops as ops

import numpy as np


cdef struct Net:
    int L                 # number of layers (weights W_1..W_L)
    int m                 # examples
    const int* n          # n[0..L]: layer sizes
    bint sm               # hidden activations and gradients samples-major (m, n_l)
    bint x_sm             # X stored samples-major (m, n_0)
    const void* X
    const void* Y         # (m,) labels in {0, 1}
    void** W              # W[l], l = 1..L: (n_l, n_{l-1}), updated in place
    void** b              # b[l], l = 1..L: (n_l,), updated in place
    void** H              # H[l], l = 1..L-1: hidden activations; H[L] = Z_L (m,)
    void* G0              # gradient buffers, max(n_l) * m each
    void* G1
    void* db              # (max n_l,) bias gradient of one layer
    double* acc           # (max n_l,) column sums, samples-major db
    double lr


# --------------------------------------------------------------------------
# gemms in either layout. "FM" = (n, m) with row stride m, "SM" = (m, n)
# with row stride n; W is always (n_out, n_in), C-ordered.
# --------------------------------------------------------------------------

cdef inline void forward_gemm(bint sm, bint a_sm, int n_out, int n_in, int m,
                              const floating* W, const floating* A,
                              floating* Z) noexcept nogil:
    """Z := W A (no bias); Z in layout ``sm``, A in layout ``a_sm``."""
    if not sm:
        if not a_sm:
            gemm(False, False, n_out, m, n_in, <floating> 1.0, W, n_in, A, m,
                 <floating> 0.0, Z, m)
        else:
            gemm(False, True, n_out, m, n_in, <floating> 1.0, W, n_in, A, n_in,
                 <floating> 0.0, Z, m)
    else:
        if a_sm:
            gemm(False, True, m, n_out, n_in, <floating> 1.0, A, n_in, W, n_in,
                 <floating> 0.0, Z, n_out)
        else:
            gemm(True, True, m, n_out, n_in, <floating> 1.0, A, m, W, n_in,
                 <floating> 0.0, Z, n_out)


cdef inline void update_gemm(bint sm, bint a_sm, int n_out, int n_in, int m,
                             floating alpha, const floating* dZ,
                             const floating* A, floating* W) noexcept nogil:
    """W := W + alpha dZ A^T; dZ in layout ``sm``, A in layout ``a_sm``."""
    gemm(sm, not a_sm, n_out, n_in, m, alpha,
         dZ, n_out if sm else m, A, n_in if a_sm else m,
         <floating> 1.0, W, n_in)


cdef inline void backprop_gemm(bint sm, int n_out, int n_in, int m,
                               const floating* W, const floating* dZ,
                               floating* dA) noexcept nogil:
    """dA := W^T dZ, both in layout ``sm``."""
    if not sm:
        gemm(True, False, n_in, m, n_out, <floating> 1.0, W, n_in, dZ, m,
             <floating> 0.0, dA, m)
    else:
        gemm(False, False, m, n_in, n_out, <floating> 1.0, dZ, n_out, W, n_in,
             <floating> 0.0, dA, n_in)


# --------------------------------------------------------------------------
# Elementwise passes
# --------------------------------------------------------------------------

cdef inline void bias_relu(bint sm, int n, int m, floating* H,
                           const floating* b) noexcept nogil:
    """H := relu(H + b) in place, b broadcast along the examples."""
    cdef int i, j
    cdef floating z, bi
    cdef floating* row
    if not sm:
        for i in range(n):
            row = H + <Py_ssize_t> i * m
            bi = b[i]
            for j in range(m):
                z = row[j] + bi
                row[j] = z if z > 0 else 0
    else:
        for i in range(m):
            row = H + <Py_ssize_t> i * n
            for j in range(n):
                z = row[j] + b[j]
                row[j] = z if z > 0 else 0


cdef inline void relu_backward_db(bint sm, int n, int m, floating* D,
                                  const floating* H, floating* db,
                                  double* acc) noexcept nogil:
    """D := D * (H > 0) in place and db := mean of D over the examples."""
    cdef int i, j
    cdef floating* row
    cdef const floating* hrow
    cdef double inv_m = 1.0 / m
    if not sm:
        ops.activation_backward(ops.ACT_RELU, n, m, D, m, H, m, D, m, db, inv_m)
        return
    for j in range(n):
        acc[j] = 0.0
    for i in range(m):
        row = D + <Py_ssize_t> i * n
        hrow = H + <Py_ssize_t> i * n
        for j in range(n):
            if not hrow[j] > 0:
                row[j] = 0
            acc[j] += row[j]
    for j in range(n):
        db[j] = <floating> (inv_m * acc[j])


cdef inline void update_bias(int n, floating lr, floating* b,
                             const floating* db) noexcept nogil:
    """b := b - lr * db, in the reference's rounding."""
    cdef int i
    for i in range(n):
        b[i] = b[i] - lr * db[i]


# --------------------------------------------------------------------------
# One iteration and a chunk of them
# --------------------------------------------------------------------------

cdef double iterate(Net* net, const floating* Y, bint want_cost) noexcept nogil:
    """One gradient-descent step; returns the cost before it (nan if not asked)."""
    cdef int L = net.L, m = net.m, l, j, n_out, n_in
    cdef const int* n = net.n
    cdef bint sm = net.sm, a_sm
    cdef const floating* A
    cdef floating* Z
    cdef floating* D = <floating*> net.G0
    cdef floating* Dn = <floating*> net.G1
    cdef floating* tmp
    cdef floating* db = <floating*> net.db
    cdef floating* b
    cdef floating lr = <floating> net.lr
    cdef floating alpha = <floating> (-net.lr / m)
    cdef floating bL, dz
    cdef double cost = NAN, acc

    # Forward: hidden layers, relu in place.
    for l in range(1, L):
        A = <const floating*> (net.X if l == 1 else net.H[l - 1])
        a_sm = net.x_sm if l == 1 else sm
        Z = <floating*> net.H[l]
        forward_gemm(sm, a_sm, n[l], n[l - 1], m, <const floating*> net.W[l], A, Z)
        bias_relu(sm, n[l], m, Z, <const floating*> net.b[l])
    # Output layer: Z_L (1, m) or (m, 1), the same memory in either layout.
    A = <const floating*> (net.X if L == 1 else net.H[L - 1])
    a_sm = net.x_sm if L == 1 else sm
    Z = <floating*> net.H[L]
    forward_gemm(sm, a_sm, 1, n[L - 1], m, <const floating*> net.W[L], A, Z)
    b = <floating*> net.b[L]
    bL = b[0]
    for j in range(m):
        Z[j] = Z[j] + bL
    if want_cost:
        cost = ops.cross_entropy_from_logits(m, Z, Y)

    # Output gradient dZ_L = sigmoid(Z_L) - Y, and db_L with it.
    acc = 0.0
    for j in range(m):
        dz = ops.sigmoid_scalar(Z[j]) - Y[j]
        D[j] = dz
        acc += dz
    db[0] = <floating> (acc / m)
    update_bias(1, lr, b, db)

    # Backward, updating each layer's parameters once its gradient is used.
    for l in range(L, 0, -1):
        n_out = n[l]
        n_in = n[l - 1]
        A = <const floating*> (net.X if l == 1 else net.H[l - 1])
        a_sm = net.x_sm if l == 1 else sm
        if l > 1:
            backprop_gemm(sm, n_out, n_in, m, <const floating*> net.W[l], D, Dn)
        update_gemm(sm, a_sm, n_out, n_in, m, alpha, D, A, <floating*> net.W[l])
        if l > 1:
            relu_backward_db(sm, n_in, m, Dn, A, db, net.acc)
            update_bias(n_in, lr, <floating*> net.b[l - 1], db)
            tmp = D
            D = Dn
            Dn = tmp
    return cost


cdef inline double now() noexcept nogil:
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return ts.tv_sec + 1e-9 * ts.tv_nsec


cdef long run_chunk(Net* net, const floating* Y, long start, long stop, long cost_at,
                    double budget, double* cost) noexcept nogil:
    """Iterations start, start+1, ... < stop; returns how many ran.

    Stops right after iteration ``cost_at`` (whose cost goes to ``*cost``) and
    after the first iteration that ends ``budget`` seconds after the start.
    """
    cdef long i
    cdef double t0 = now()
    for i in range(start, stop):
        if i == cost_at:
            cost[0] = iterate(net, Y, True)
            return i - start + 1
        iterate(net, Y, False)
        if now() - t0 >= budget:
            return i - start + 1
    return stop - start


cdef uintptr_t address(arr):
    return <uintptr_t> arr.__array_interface__["data"][0]


cdef class Trainer:
    """The workspace and loop of one training run; parameters updated in place.

    ``Trainer(weights, biases, X, Y, learning_rate, samples_major, transpose_x)``:
    ``weights[l-1]`` is W_l, a C-contiguous ``(n_l, n_{l-1})`` array, and
    ``biases[l-1]`` is b_l, ``(n_l, 1)``, both of one dtype (float32 or
    float64), updated in place by ``run``; ``X`` is ``(n_0, m)`` and ``Y``
    ``(1, m)`` of that dtype, C-contiguous, checked by the caller
    (``dnn.models``; only dtypes, contiguity and shapes are checked here,
    enough for memory safety). ``n_L`` must be 1.
    """
    cdef Net net
    cdef bint is_double
    cdef object _keep

    def __cinit__(self, list weights, list biases, X, Y, double learning_rate,
                  bint samples_major=False, bint transpose_x=False):
        cdef int L = len(weights)
        cdef int l, m, nmax
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
        nmax = int(dims.max())
        if transpose_x:
            X = np.ascontiguousarray(X.T)
        # The workspace: every array the loop touches, allocated here, once.
        hidden = [np.empty(int(dims[l]) * m, dtype=dtype) for l in range(1, L + 1)]
        grads = [np.empty(nmax * m, dtype=dtype) for _ in range(2)]
        db = np.empty(nmax, dtype=dtype)
        acc = np.empty(nmax, dtype=np.float64)
        w_ptr = np.zeros(L + 1, dtype=np.uintp)
        b_ptr = np.zeros(L + 1, dtype=np.uintp)
        h_ptr = np.zeros(L + 1, dtype=np.uintp)
        for l in range(1, L + 1):
            w_ptr[l] = address(weights[l - 1])
            b_ptr[l] = address(biases[l - 1])
            h_ptr[l] = address(hidden[l - 1])
        self._keep = (weights, biases, X, Y, dims, hidden, grads, db, acc, w_ptr, b_ptr, h_ptr)
        self.is_double = dtype == np.float64
        self.net.L = L
        self.net.m = m
        self.net.n = <const int*> address(dims)
        self.net.sm = samples_major
        self.net.x_sm = transpose_x
        self.net.X = <const void*> address(X)
        self.net.Y = <const void*> address(Y)
        self.net.W = <void**> address(w_ptr)
        self.net.b = <void**> address(b_ptr)
        self.net.H = <void**> address(h_ptr)
        self.net.G0 = <void*> address(grads[0])
        self.net.G1 = <void*> address(grads[1])
        self.net.db = <void*> address(db)
        self.net.acc = <double*> address(acc)
        self.net.lr = learning_rate

    def run(self, long start, long stop, long cost_at=-1, double budget=0.05):
        """Run iterations ``start .. stop-1`` or fewer; returns ``(done, cost)``.

        Stops right after iteration ``cost_at`` (if in range), returning its
        cost (before its update), else ``cost`` is nan; also stops after the
        first iteration that ends ``budget`` seconds after the chunk began, so
        the caller gets the GIL back regularly.
        """
        cdef long done
        cdef double cost = NAN
        if stop <= start:
            return 0, cost
        with nogil:
            if self.is_double:
                done = run_chunk(&self.net, <const double*> self.net.Y, start, stop,
                                 cost_at, budget, &cost)
            else:
                done = run_chunk(&self.net, <const float*> self.net.Y, start, stop,
                                 cost_at, budget, &cost)
        # Back with the GIL: a pending Ctrl-C raises KeyboardInterrupt here.
        PyErr_CheckSignals()
        return done, cost

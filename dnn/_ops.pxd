# cython: language_level=3
"""The hot loops of dnn, as ``cdef inline`` functions over raw pointers.

Design: every function here is pure C (``noexcept nogil``), takes row-major
matrices as (pointer, row stride) pairs, and allocates nothing. They live in a
``.pxd`` so that both the public kernels (``_kernels.pyx``) and the compiled
training loop (``_train.pyx``) inline the very same code. Callers validate
shapes, dtypes and sizes in Python before calling in; nothing here checks.

Numerics follow ``dnn.reference`` operation by operation (the same formula, in
the same order), so that results agree to rounding: ``Z = (W A) + b``,
``sigmoid = 1 / (1 + exp(-z))``, ``dZ = (dA * s) * (1 - s)``,
``dW = (1/m) (dZ A_prev^T)``. Row sums accumulate in double, also in float32.
"""

from cython cimport floating
from libc.math cimport exp, expf, log, logf, log1p, fabs

from dnn._blas cimport gemm
cimport dnn._simd as simd  # ReLU's one definition, and its backward kernel

# Activation codes shared by the kernels and the training loop.
cdef enum:
    ACT_RELU = 0
    ACT_SIGMOID = 1


cdef inline floating sigmoid_scalar(floating z) noexcept nogil:
    # exp(-z) overflows to inf for very negative z and 1 / (1 + inf) is 0, the
    # right limit, so the reference's formula needs no branch.
    # The float32 branch stays in float32 arithmetic, as NumPy does for the reference.
    cdef float one_f = 1
    if floating is float:
        return one_f / (one_f + expf(-z))
    else:
        return 1.0 / (1.0 + exp(-z))


cdef inline double softplus(double x) noexcept nogil:
    """log(1 + exp(x)) without overflow: max(x, 0) + log1p(exp(-|x|))."""
    if x > 0:
        return x + log1p(exp(-x))
    return log1p(exp(x))


cdef inline void activation_forward(int act, int rows, int cols,
                                    const floating* Z, int ldz,
                                    floating* A, int lda) noexcept nogil:
    """A := g(Z) elementwise, (rows, cols); A may be Z (in place)."""
    cdef int i, j
    cdef const floating* zrow
    cdef floating* arow
    for i in range(rows):
        zrow = Z + <Py_ssize_t> i * ldz
        arow = A + <Py_ssize_t> i * lda
        if act == ACT_RELU:
            for j in range(cols):
                arow[j] = simd.relu_scalar(zrow[j])  # nan stays nan, as np.maximum(0, z)
        else:
            for j in range(cols):
                arow[j] = sigmoid_scalar(zrow[j])


cdef inline void add_bias(int rows, int cols, floating* Z, int ldz,
                          const floating* b) noexcept nogil:
    """Z[i, :] += b[i]: one pointer per row, so the loop vectorizes."""
    cdef int i, j
    cdef floating* row
    cdef floating bi
    for i in range(rows):
        row = Z + <Py_ssize_t> i * ldz
        bi = b[i]
        for j in range(cols):
            row[j] += bi


cdef inline void linear_forward(int n_out, int n_in, int m,
                                const floating* W, int ldw,
                                const floating* A_prev, int ldap,
                                const floating* b,
                                floating* Z, int ldz) noexcept nogil:
    """Z := W A_prev + b.

    W (n_out, n_in), A_prev (n_in, m), b (n_out,) contiguous, Z (n_out, m).
    One gemm with beta = 0, then one pass that adds the bias, as the reference
    rounds: (W A) + b.
    """
    gemm(False, False, n_out, m, n_in, <floating> 1.0, W, ldw, A_prev, ldap,
         <floating> 0.0, Z, ldz)
    add_bias(n_out, m, Z, ldz, b)


cdef inline double sum_row(int n, const floating* x) noexcept nogil:
    """sum(x[0:n]) in double, in four independent accumulators.

    One serial chain of additions waits on the adder's latency at every
    element; measured, it took ~15% of a training iteration on a 50-wide net.
    """
    cdef int j = 0
    cdef double a0 = 0.0, a1 = 0.0, a2 = 0.0, a3 = 0.0
    while j + 4 <= n:
        a0 += x[j]
        a1 += x[j + 1]
        a2 += x[j + 2]
        a3 += x[j + 3]
        j += 4
    while j < n:
        a0 += x[j]
        j += 1
    return (a0 + a1) + (a2 + a3)


cdef inline void row_sums(int rows, int cols, const floating* X, int ldx,
                          floating* out, double scale) noexcept nogil:
    """out[i] := scale * sum_j X[i, j], accumulated in double."""
    cdef int i
    for i in range(rows):
        out[i] = <floating> (scale * sum_row(cols, X + <Py_ssize_t> i * ldx))


cdef inline void activation_backward(int act, int rows, int cols,
                                     const floating* dA, int ldda,
                                     const floating* Z, int ldz,
                                     floating* dZ, int lddz,
                                     floating* db, double scale) noexcept nogil:
    """dZ := dA * g'(Z); if ``db`` is not NULL, also db := scale * row sums of dZ.

    relu: dZ = dA where Z > 0, else 0 (the derivative at 0 is 0); ``Z`` may
    be relu's output instead, since relu(Z) > 0 exactly where Z > 0.
    sigmoid: dZ = (dA * s) * (1 - s) with s = sigmoid(Z).
    dZ may be dA (in place). Each row's bias gradient is summed right after
    the row is made, while it is in cache. relu's mask is dnn._simd's
    ``relu_backward`` kernel (vector selects); the sum stays ``sum_row``'s,
    so db rounds as it always did.
    """
    cdef int i, j
    cdef const floating* darow
    cdef const floating* zrow
    cdef floating* dzrow
    cdef floating s
    for i in range(rows):
        darow = dA + <Py_ssize_t> i * ldda
        zrow = Z + <Py_ssize_t> i * ldz
        dzrow = dZ + <Py_ssize_t> i * lddz
        if act == ACT_RELU:
            simd.relu_backward_from(1, cols, darow, ldda, zrow, ldz, dzrow, lddz,
                                    <floating*> NULL, 0.0)
        else:
            for j in range(cols):
                s = sigmoid_scalar(zrow[j])
                dzrow[j] = darow[j] * s * (1 - s)
        if db != NULL:
            db[i] = <floating> (scale * sum_row(cols, dzrow))


cdef inline void linear_backward_gemms(int n_out, int n_in, int m,
                                       const floating* dZ, int lddz,
                                       const floating* A_prev, int ldap,
                                       const floating* W, int ldw,
                                       floating* dW, int lddw,
                                       floating* dA_prev, int lddap) noexcept nogil:
    """dW := (1/m) dZ A_prev^T and, if ``dA_prev`` is not NULL, dA_prev := W^T dZ.

    dZ (n_out, m), A_prev (n_in, m), W (n_out, n_in), dW (n_out, n_in),
    dA_prev (n_in, m). The bias gradient is not here: it is folded into the
    pass that makes dZ (``activation_backward``) or done by ``row_sums``.
    """
    cdef floating inv_m = <floating> (1.0 / m)
    gemm(False, True, n_out, n_in, m, inv_m, dZ, lddz, A_prev, ldap,
         <floating> 0.0, dW, lddw)
    if dA_prev != NULL:
        gemm(True, False, n_in, m, n_out, <floating> 1.0, W, ldw, dZ, lddz,
             <floating> 0.0, dA_prev, lddap)


cdef inline double cross_entropy_from_probabilities(int m, const floating* AL,
                                                    const floating* Y) noexcept nogil:
    """-(1/m) sum(y log a + (1 - y) log(1 - a)) for labels y in {0, 1}.

    Each example contributes only its own label's term, so a term 0 * log(0)
    never turns the sum into nan; an output of exactly 0 or 1 on the wrong side
    gives +inf, the true value of the formula.
    """
    cdef int j
    cdef double acc = 0.0
    for j in range(m):
        if Y[j] != 0:
            acc += log(<double> AL[j])
        else:
            acc += log(1.0 - <double> AL[j])
    return -acc / m


cdef inline double cross_entropy_from_logits(int m, const floating* ZL,
                                             const floating* Y) noexcept nogil:
    """The same cost from the output layer's pre-activation Z_L, stably.

    -log(sigmoid(z)) = softplus(-z) and -log(1 - sigmoid(z)) = softplus(z):
    finite for every finite z, where log(sigmoid(z)) would reach log(0).
    """
    cdef int j
    cdef double acc = 0.0
    for j in range(m):
        if Y[j] != 0:
            acc += softplus(-<double> ZL[j])
        else:
            acc += softplus(<double> ZL[j])
    return acc / m


cdef extern from *:
    """
    /* dnn/_ops.pxd: small loops in C, so that __restrict tells every compiler
       (GCC, clang, MSVC) the arrays do not overlap and the loops vectorize. */
    #include <math.h>
    #include <stdint.h>
    #include <string.h>
    #if defined(_MSC_VER)
    #define DNN_NOINLINE static __declspec(noinline)
    #else
    #define DNN_NOINLINE static __attribute__((noinline))
    #endif
    #define DNN_ROW_HELPERS(T, S)                                                       \
    /* 1 if some y is neither 0 nor 1 (nan included). */                            \
    DNN_NOINLINE int dnn_not_binary_##S(Py_ssize_t n, const T* __restrict y) {       \
        T bad = 0; Py_ssize_t i;  /* a T counter: the loop vectorizes as selects */ \
        for (i = 0; i < n; i++) bad += (y[i] != 0 && y[i] != 1) ? (T) 1 : (T) 0;    \
        return bad != 0;                                                            \
    }                                                                               \
    /* 1 if some a is outside [0, 1] (nan included). */                             \
    DNN_NOINLINE int dnn_not_probability_##S(Py_ssize_t n, const T* __restrict a) {  \
        T bad = 0; Py_ssize_t i;                                                    \
        for (i = 0; i < n; i++) bad += (a[i] >= 0 && a[i] <= 1) ? (T) 0 : (T) 1;    \
        return bad != 0;                                                            \
    }                                                                               \
    /* dAL := -(Y / AL - (1 - Y) / (1 - AL)), the reference's start of backprop. */ \
    DNN_NOINLINE void dnn_output_dA_##S(Py_ssize_t n, const T* __restrict AL,        \
                                        const T* __restrict Y, T* __restrict dAL) {  \
        Py_ssize_t j; const T one = 1;                                              \
        for (j = 0; j < n; j++) dAL[j] = -(Y[j] / AL[j] - (one - Y[j]) / (one - AL[j])); \
    }
    DNN_ROW_HELPERS(double, d)
    DNN_ROW_HELPERS(float, f)
    /* -(1/m) sum_j log(y_j ? a_j : 1 - a_j), labels in {0, 1}, in double: the
       log of each block of 16 terms' product (one log instead of 16; every
       term is at most 1, so a product no smaller than 1e-289 took no
       underflow on the way), each term's own log where a block's product is
       smaller (an a of exactly 0 on the wrong side gives +inf, the formula's
       value). Differs from the sum of the logs by rounding only. */
    #define DNN_COST_BLOCKS(T, S)                                                       \
    DNN_NOINLINE double dnn_cross_entropy_##S(Py_ssize_t m, const T* __restrict AL,  \
                                              const T* __restrict Y) {               \
        double acc = 0.0, p, t[16];                                                 \
        Py_ssize_t j = 0, i, len;                                                   \
        while (j < m) {                                                             \
            len = m - j < 16 ? m - j : 16;                                          \
            p = 1.0;                                                                \
            for (i = 0; i < len; i++) {                                             \
                t[i] = Y[j + i] != 0 ? (double) AL[j + i] : 1.0 - (double) AL[j + i]; \
                p *= t[i];                                                          \
            }                                                                       \
            if (p >= 1e-289)                                                      \
                acc += log(p);                                                      \
            else                                                                    \
                for (i = 0; i < len; i++) acc += log(t[i]);                         \
            j += len;                                                               \
        }                                                                           \
        return -acc / (double) m;                                                   \
    }
    DNN_COST_BLOCKS(double, d)
    DNN_COST_BLOCKS(float, f)
    """
    double dnn_cross_entropy_d(Py_ssize_t m, const double* AL, const double* Y) noexcept nogil
    double dnn_cross_entropy_f(Py_ssize_t m, const float* AL, const float* Y) noexcept nogil
    int dnn_not_binary_d(Py_ssize_t n, const double* y) noexcept nogil
    int dnn_not_binary_f(Py_ssize_t n, const float* y) noexcept nogil
    int dnn_not_probability_d(Py_ssize_t n, const double* a) noexcept nogil
    int dnn_not_probability_f(Py_ssize_t n, const float* a) noexcept nogil
    void dnn_output_dA_d(Py_ssize_t n, const double* AL, const double* Y, double* dAL) noexcept nogil
    void dnn_output_dA_f(Py_ssize_t n, const float* AL, const float* Y, float* dAL) noexcept nogil


cdef inline double cross_entropy_blocks(Py_ssize_t m, const floating* AL,
                                        const floating* Y) noexcept nogil:
    """``cross_entropy_from_probabilities`` with one log per 16 examples (see the C)."""
    if floating is double:
        return dnn_cross_entropy_d(m, AL, Y)
    else:
        return dnn_cross_entropy_f(m, AL, Y)


cdef inline int not_binary(Py_ssize_t n, const floating* y) noexcept nogil:
    """1 if some y[i] is neither 0 nor 1."""
    if floating is double:
        return dnn_not_binary_d(n, y)
    else:
        return dnn_not_binary_f(n, y)


cdef inline int not_probability(Py_ssize_t n, const floating* a) noexcept nogil:
    """1 if some a[i] is outside [0, 1] or nan."""
    if floating is double:
        return dnn_not_probability_d(n, a)
    else:
        return dnn_not_probability_f(n, a)


cdef inline void output_dA(Py_ssize_t n, const floating* AL, const floating* Y,
                           floating* dAL) noexcept nogil:
    """dAL := -(Y / AL - (1 - Y) / (1 - AL)) in the dtype of the arrays."""
    if floating is double:
        dnn_output_dA_d(n, AL, Y, dAL)
    else:
        dnn_output_dA_f(n, AL, Y, dAL)


cdef inline int has_nonfinite(Py_ssize_t n, const floating* x) noexcept nogil:
    """1 when some x[i] is nan or +-inf, else 0 (``_simd.h``'s vector kernel)."""
    return simd.nonfinite(n, x)


cdef inline void sigmoid_backward_from_s(int n, const floating* dA, floating* S) noexcept nogil:
    """S := (dA * S) * (1 - S) in place: the sigmoid's backward from s = sigmoid(Z)
    (made by dnn._simd's vector sigmoid), rounded as the reference's dA * s * (1 - s)."""
    cdef int j
    cdef floating s
    for j in range(n):
        s = S[j]
        S[j] = dA[j] * s * (1 - s)


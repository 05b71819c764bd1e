# cython: language_level=3
"""dnn's own vector kernels, in C, built for SSE2, AVX2 + FMA and AVX-512.

Why. Three kinds of work in an iteration are not worth a BLAS call, are
done better than by the SciPy wheels' OpenBLAS, or are not BLAS at all:
- products with a tiny matrix (the output layer's (1, n) row, every layer of
  a [2, 4, 1] net): a gemm call costs more in OpenBLAS's set-up, packing and
  zeroing of C than in arithmetic (profiled on [2, 4, 1] with 400 examples,
  BLAS took half of an iteration, 2/3 of that outside the product);
- larger products when BLAS runs one thread per call: OpenBLAS packs both
  operands of every call, a fifth of the time of S3's or S6's products, and
  SciPy's may use its AVX2 kernels only (it does when OPENBLAS_CORETYPE says
  so, or on a CPU it does not know); register blocks over the operands in
  place ran them 1.6 - 2.2x faster in AVX-512 (AMD EPYC, Zen 5; the rules
  and measurements are ``dnn._products``'s);
- the elementwise passes (bias and relu, relu's backward mask with the bias
  gradient, the output's sigmoid - Y): a wheel's baseline build has SSE2
  only, 2 doubles per instruction, and glibc's scalar exp took a fifth of
  that [2, 4, 1] iteration.

What. For row-major matrices given as (pointer, row stride):
  ``nn``             C[r, :] := sum_k M[r, k] B[k, :] (+ bias[r], then relu if
                     asked), M read through strides (rs, cs): W (rs = n_in,
                     cs = 1) for the forward pass, W^T (rs = 1, cs = n_in) for
                     dA = W^T dZ. Register blocks of NR rows x NV vectors of C,
                     k in order; the last columns as one vector ending at m,
                     overlapping columns done already (recomputed to the same
                     bits), so C must not overlap M or B;
  ``nn_acc``         C := alpha * M B (+ C): ``nn``'s blocks with the sum over K
                     in chunks, each scaled and added to C (a gemm's K blocking),
                     for dW_1 = dZ_1 (X^T) over a transposed copy of X;
  ``nt``             W := alpha * D A^T (+ W), for dW = dZ A^T: register blocks
                     of NTR x NTK sums over the examples, the last ones as one
                     vector ending at m with its lanes done already zeroed,
                     each sum's lanes added in halves, rounded to W's type and
                     then scaled, as a gemm with beta = 1 (or 0) rounds;
  ``bias_act``       C[r, :] := C[r, :] + bias[r] (then relu), after a gemm;
  ``relu_backward``  D := A * (H > 0) (A may be D) and db[r] := scale *
                     sum_j D[r, j] (summed in double);
  ReLU itself is defined once, in ``_simd.h`` (``dnn_relu_*``,
  ``dnn_relu_grad_*`` and their vector forms): every relu of the package,
  these kernels', ``_ops.pxd``'s and ``_train.pyx``'s loops, is one of those
  (``relu_scalar`` and ``relu_grad_scalar`` below, for Cython's loops);
  ``output_grad``    D := sigmoid(Z) - Y (Y NULL: sigmoid(Z)), returns sum(D)
                     (in double); sigmoid is the reference's 1 / (1 + exp(-z)),
                     exp a vector polynomial (Taylor series to degree 13 in
                     float64, 7 in float32, after the reduction x = k ln 2 + r:
                     within an ulp or two of libm's), libm's exp wherever |z|
                     is too large for it (708 in float64, 87 in float32);
  ``nonfinite``      1 if some x is nan or +-inf (x * 0 summed: nan exactly then).
  ``relu_checked``   A := relu(Z), returning ``nonfinite(Z)``, in one pass.
``nt`` reads its operands in place, without cache blocking: the caller keeps
them to sizes that stay in L2 (``dnn._products``). Used by ``dnn._train``
(the training loop) and ``dnn._kernels`` (the step-by-step API), each with
its own copy of the dispatch table.

Dispatch. On x86-64 every kernel is compiled three times, for the baseline
(16-byte vectors), AVX2 + FMA (32) and AVX-512 F + DQ (64), and
``dnn_simd_use`` picks one table of them per process (at import: the best
the CPU and OS run; a wheel must run on any x86-64). They round differently
(FMA rounds once where the baseline rounds twice; sums run in other orders),
so results agree to rounding, not to the bit, across machines; on one
machine a fit is reproducible. ``dnn._train.simd_kernels`` switches builds,
for tests. Callers validate sizes; nothing here checks.

Portability (the C is ``dnn/_simd.h``). The kernels are written with GCC's
and clang's vector extensions: on arm64 the baseline's 16-byte vectors are
NEON. Where those are missing (MSVC), or with ``DNN_NO_VECTOR_EXT`` defined
(``DNN_NO_VECTOR_EXT=1`` for setup.py), the baseline is plain C loops with
the same sums in the same order and libm's exp; ``tests/test_portable_c.py``
compiles and checks both paths.
"""

cdef extern from "_simd.h":
    # The C lives in dnn/_simd.h (portable: vector builds with GCC and clang,
    # scalar loops elsewhere); these are the names Cython uses.
    ctypedef struct dnn_simd_table:
        void nn_d(int R, int K, int m, const double* M, int rs, int cs,
                  const double* B, int ldb, double* C, int ldc,
                  const double* bias, int flags, void* scratch) noexcept nogil
        void nn_f(int R, int K, int m, const float* M, int rs, int cs,
                  const float* B, int ldb, float* C, int ldc,
                  const float* bias, int flags, void* scratch) noexcept nogil
        void nt_d(int R, int K, int m, double alpha, const double* D, int ldd,
                  const double* A, int lda, int add, double* W, int ldw) noexcept nogil
        void nn_acc_d(int R, int K, int N, double alpha, const double* M, int rs, int cs,
                      const double* B, int ldb, int add, double* C, int ldc) noexcept nogil
        void nn_acc_f(int R, int K, int N, float alpha, const float* M, int rs, int cs,
                      const float* B, int ldb, int add, float* C, int ldc) noexcept nogil
        void nt_f(int R, int K, int m, float alpha, const float* D, int ldd,
                  const float* A, int lda, int add, float* W, int ldw) noexcept nogil
        void bias_act_d(int R, int m, double* C, int ldc, const double* bias,
                        int relu) noexcept nogil
        void bias_act_f(int R, int m, float* C, int ldc, const float* bias,
                        int relu) noexcept nogil
        void relu_backward_d(int R, int m, const double* A, int lda, const double* H, int ldh,
                             double* D, int ldd, double* db, double scale) noexcept nogil
        void relu_backward_f(int R, int m, const float* A, int lda, const float* H, int ldh,
                             float* D, int ldd, float* db, double scale) noexcept nogil
        double output_grad_d(int m, const double* Z, const double* Y,
                             double* D) noexcept nogil
        double output_grad_f(int m, const float* Z, const float* Y,
                             float* D) noexcept nogil
        int nonfinite_d(Py_ssize_t n, const double* x) noexcept nogil
        int nonfinite_f(Py_ssize_t n, const float* x) noexcept nogil
        int relu_checked_d(Py_ssize_t n, const double* Z, double* A) noexcept nogil
        int relu_checked_f(Py_ssize_t n, const float* Z, float* A) noexcept nogil
        int nt_rows  # nt's register block of A's rows in the build in use
    const dnn_simd_table* dnn_simd
    enum:
        DNN_NN_OUT  # nn's flag: no one reads C soon (non-temporal stores where the build has them)
        DNN_NN_SCRATCH_BYTES  # nn's scratch: NULL, or a buffer this long (a training loop's, per thread)
    void prefetch "dnn_prefetch"(const void* p, size_t nbytes) noexcept nogil  # a hint: into L2
    int dnn_simd_use(int level) nogil
    int dnn_simd_cpu_level() nogil
    int dnn_simd_level
    int DNN_SIMD_TOP
    const char* DNN_SIMD_BASE_NAME  # the baseline build: "sse2", "neon" or "scalar"
    # ReLU's one definition (see _simd.h): forward z <= 0 ? 0 : z (nan stays
    # nan), backward z > 0 ? d : 0.
    double dnn_relu_d(double z) noexcept nogil
    float dnn_relu_f(float z) noexcept nogil
    double dnn_relu_grad_d(double d, double z) noexcept nogil
    float dnn_relu_grad_f(float d, float z) noexcept nogil


from cython cimport floating


cdef inline void nn(int R, int K, int m, const floating* M, int rs, int cs,
                    const floating* B, int ldb, floating* C, int ldc,
                    const floating* bias, int flags, void* scratch) noexcept nogil:
    """C[r, :] := sum_k M[r*rs + k*cs] B[k, :] (+ bias[r], then relu if ``flags`` & 1); C (R, m).

    M is (R, K) through strides: W (rs = K, cs = 1) or W^T (rs = 1, cs = R).
    ``flags`` & DNN_NN_OUT: no one reads C soon (the same bits, stored past the cache).
    ``scratch``: NULL, or ``DNN_NN_SCRATCH_BYTES`` of the caller's for the packed path (far
    rows of B), which otherwise allocates its own per call: a training loop passes its own,
    one per thread (the same bits either way).
    """
    if floating is double:
        dnn_simd.nn_d(R, K, m, M, rs, cs, B, ldb, C, ldc, bias, flags, scratch)
    else:
        dnn_simd.nn_f(R, K, m, M, rs, cs, B, ldb, C, ldc, bias, flags, scratch)


cdef inline void nt(int R, int K, int m, floating alpha, const floating* D, int ldd,
                    const floating* A, int lda, bint add, floating* W, int ldw) noexcept nogil:
    """W := alpha D A^T (+ W if ``add``); D (R, m), A (K, m), W (R, K), row strides given.

    Rounded as a gemm with beta = 1 (or 0): the sum, then alpha, then W.
    """
    if floating is double:
        dnn_simd.nt_d(R, K, m, alpha, D, ldd, A, lda, add, W, ldw)
    else:
        dnn_simd.nt_f(R, K, m, alpha, D, ldd, A, lda, add, W, ldw)


cdef inline void nn_acc(int R, int K, int N, floating alpha, const floating* M, int rs,
                        int cs, const floating* B, int ldb, bint add, floating* C,
                        int ldc) noexcept nogil:
    """C := alpha M B (+ C if ``add``); M (R, K) through strides (rs, cs), B (K, N), C (R, N).

    The sum over K in chunks, each scaled and added to C as it is done (as a
    gemm's K blocking rounds), so B's chunk under a panel of C stays in L2.
    """
    if floating is double:
        dnn_simd.nn_acc_d(R, K, N, alpha, M, rs, cs, B, ldb, add, C, ldc)
    else:
        dnn_simd.nn_acc_f(R, K, N, alpha, M, rs, cs, B, ldb, add, C, ldc)


cdef inline void bias_act(int R, int m, floating* C, int ldc, const floating* bias,
                          bint relu) noexcept nogil:
    """C[r, :] := C[r, :] + bias[r] (then relu), in place; C (R, m)."""
    if floating is double:
        dnn_simd.bias_act_d(R, m, C, ldc, bias, relu)
    else:
        dnn_simd.bias_act_f(R, m, C, ldc, bias, relu)


cdef inline floating relu_scalar(floating z) noexcept nogil:
    """relu(z): 0 where z <= 0, else z (nan stays nan); _simd.h's one definition."""
    if floating is double:
        return dnn_relu_d(z)
    else:
        return dnn_relu_f(z)


cdef inline floating relu_grad_scalar(floating d, floating z) noexcept nogil:
    """relu's backward: d where z > 0, else 0; _simd.h's one definition."""
    if floating is double:
        return dnn_relu_grad_d(d, z)
    else:
        return dnn_relu_grad_f(d, z)


cdef inline void relu_backward_from(int R, int m, const floating* A, int lda,
                                    const floating* H, int ldh, floating* D, int ldd,
                                    floating* db, double scale) noexcept nogil:
    """D := A where H > 0, else 0 (A may be D); if db is not NULL, db[r] := scale * sum_j D[r, j]."""
    if floating is double:
        dnn_simd.relu_backward_d(R, m, A, lda, H, ldh, D, ldd, db, scale)
    else:
        dnn_simd.relu_backward_f(R, m, A, lda, H, ldh, D, ldd, db, scale)


cdef inline void relu_backward(int R, int m, floating* D, int ldd, const floating* H, int ldh,
                               floating* db, double scale) noexcept nogil:
    """D := D * (H > 0) in place; if db is not NULL, db[r] := scale * sum_j D[r, j]."""
    relu_backward_from(R, m, D, ldd, H, ldh, D, ldd, db, scale)


cdef inline double output_grad(int m, const floating* Z, const floating* Y,
                               floating* D) noexcept nogil:
    """D := sigmoid(Z) - Y, or sigmoid(Z) if Y is NULL, (m,); returns sum(D), summed in double."""
    if floating is double:
        return dnn_simd.output_grad_d(m, Z, Y, D)
    else:
        return dnn_simd.output_grad_f(m, Z, Y, D)


cdef inline int nonfinite(Py_ssize_t n, const floating* x) noexcept nogil:
    """1 when some x[i] is nan or +-inf, else 0."""
    if floating is double:
        return dnn_simd.nonfinite_d(n, x)
    else:
        return dnn_simd.nonfinite_f(n, x)


cdef inline int relu_checked(Py_ssize_t n, const floating* Z, floating* A) noexcept nogil:
    """A := relu(Z) (n,); 1 when some Z[i] is nan or +-inf, else 0."""
    if floating is double:
        return dnn_simd.relu_checked_d(n, Z, A)
    else:
        return dnn_simd.relu_checked_f(n, Z, A)

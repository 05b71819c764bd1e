# cython: language_level=3
"""Row-major BLAS for dnn's kernels, through ``scipy.linalg.cython_blas``.

This is the one place where row-major meets Fortran BLAS. A C-ordered
``(rows, cols)`` matrix whose rows are ``ld`` elements apart is, to BLAS, the
column-major ``(cols, rows)`` matrix with leading dimension ``ld``: its
transpose. So the row-major product ``C = op(A) op(B)`` is computed as the
column-major ``C^T = op(B)^T op(A)^T``: gemm with the operands swapped.

SciPy's BLAS takes 32-bit ints and non-const pointers: callers check sizes
below 2**31 in Python, and const inputs are cast here, at the call.

``bgemm`` runs the same product on NumPy's BLAS (``dnn/_numpy_gemm.h``) where
its caller asks and the including module's pointers are set, else on SciPy's.
"""

from cython cimport floating
from scipy.linalg.cython_blas cimport dgemm, sgemm


cdef inline void gemm(bint trans_a, bint trans_b, int m, int n, int k,
                      floating alpha, const floating* A, int lda,
                      const floating* B, int ldb,
                      floating beta, floating* C, int ldc) noexcept nogil:
    """C := alpha * op(A) . op(B) + beta * C, every matrix row-major.

    op(A) is (m, k), op(B) is (k, n) and C is (m, n); ``lda``, ``ldb`` and
    ``ldc`` are the row strides (in elements) of A, B and C as stored, so a
    block of columns of a larger matrix needs no copy.
    """
    cdef char ta = b'T' if trans_a else b'N'
    cdef char tb = b'T' if trans_b else b'N'
    if m <= 0 or n <= 0:
        return
    if floating is float:
        sgemm(&tb, &ta, &n, &m, &k, &alpha, <float*> B, &ldb, <float*> A, &lda,
              &beta, C, &ldc)
    else:
        dgemm(&tb, &ta, &n, &m, &k, &alpha, <double*> B, &ldb, <double*> A, &lda,
              &beta, C, &ldc)


cdef extern from "_numpy_gemm.h" nogil:
    void dnn_npgemm_set(void* d, void* s, int ilp64)
    int dnn_npgemm_is_set()
    int dnn_npgemm_d(int ta, int tb, int m, int n, int k, double alpha, const double* A,
                     int lda, const double* B, int ldb, double beta, double* C, int ldc)
    int dnn_npgemm_s(int ta, int tb, int m, int n, int k, float alpha, const float* A,
                     int lda, const float* B, int ldb, float beta, float* C, int ldc)


cdef inline void bgemm(bint numpy_blas, bint trans_a, bint trans_b, int m, int n, int k,
                       floating alpha, const floating* A, int lda, const floating* B, int ldb,
                       floating beta, floating* C, int ldc) noexcept nogil:
    """``gemm``'s product on NumPy's BLAS where ``numpy_blas`` and its pointers are set,
    else on SciPy's."""
    if numpy_blas and m > 0 and n > 0:
        if floating is double:
            if dnn_npgemm_d(trans_a, trans_b, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc):
                return
        else:
            if dnn_npgemm_s(trans_a, trans_b, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc):
                return
    gemm(trans_a, trans_b, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc)

/* NumPy's cblas gemm, called through pointers: the second BLAS a product may run on.
 *
 * dnn._numpy_blas finds the addresses of the cblas dgemm/sgemm of the OpenBLAS NumPy
 * bundles (of another version than SciPy's, faster or slower by shape); each compiled
 * module that includes this header keeps its own copy of the pointers (dnn_npgemm_set,
 * called from Python once they are found). dnn_npgemm_d/_s run
 * C := alpha op(A) op(B) + beta C on row-major matrices and return 1, or return 0 where
 * no pointer is set: the caller then runs SciPy's BLAS (dnn/_blas.pxd's ``bgemm``).
 */
#ifndef DNN_NUMPY_GEMM_H
#define DNN_NUMPY_GEMM_H

#include <stdint.h>

#if defined(_MSC_VER) && !defined(__cplusplus)
#define DNN_NPGEMM_INLINE static __inline
#else
#define DNN_NPGEMM_INLINE static inline
#endif

typedef void (*dnn_dgemm64)(int, int, int, int64_t, int64_t, int64_t, double, const double*,
                            int64_t, const double*, int64_t, double, double*, int64_t);
typedef void (*dnn_sgemm64)(int, int, int, int64_t, int64_t, int64_t, float, const float*,
                            int64_t, const float*, int64_t, float, float*, int64_t);
typedef void (*dnn_dgemm32)(int, int, int, int, int, int, double, const double*,
                            int, const double*, int, double, double*, int);
typedef void (*dnn_sgemm32)(int, int, int, int, int, int, float, const float*,
                            int, const float*, int, float, float*, int);

typedef struct {
    void* volatile d;
    void* volatile s;
    volatile int ilp64;
} dnn_npgemm_ptrs;

/* This translation unit's pointers (a function's static: no unused-variable warning where
   a module includes the header without calling NumPy's gemm). */
DNN_NPGEMM_INLINE dnn_npgemm_ptrs* dnn_npgemm(void) {
    static dnn_npgemm_ptrs p = {0, 0, 0};
    return &p;
}

/* Set both pointers (0 for both: SciPy's BLAS only). The int width before the pointers: a
   call in another thread never pairs a pointer with the other library's width. */
DNN_NPGEMM_INLINE void dnn_npgemm_set(void* d, void* s, int ilp64) {
    dnn_npgemm_ptrs* p = dnn_npgemm();
    if (!d || !s) d = s = 0;
    p->d = 0;
    p->s = 0;
    p->ilp64 = ilp64;
    p->s = s;
    p->d = d;
}

DNN_NPGEMM_INLINE int dnn_npgemm_is_set(void) { return dnn_npgemm()->d != 0; }

/* cblas: 101 row-major, 111/112 no/trans. */
#define DNN_NPGEMM(name, T, field, fn64, fn32)                                                \
    DNN_NPGEMM_INLINE int name(int ta, int tb, int m, int n, int k, T alpha, const T* A, int lda, \
                           const T* B, int ldb, T beta, T* C, int ldc) {                      \
        dnn_npgemm_ptrs* p = dnn_npgemm();                                                   \
        void* fn = p->field;                                                                 \
        if (!fn) return 0;                                                                   \
        if (p->ilp64)                                                                        \
            ((fn64) fn)(101, ta ? 112 : 111, tb ? 112 : 111, m, n, k, alpha, A, lda, B, ldb,  \
                        beta, C, ldc);                                                       \
        else                                                                                 \
            ((fn32) fn)(101, ta ? 112 : 111, tb ? 112 : 111, m, n, k, alpha, A, lda, B, ldb,  \
                        beta, C, ldc);                                                       \
        return 1;                                                                            \
    }
DNN_NPGEMM(dnn_npgemm_d, double, d, dnn_dgemm64, dnn_dgemm32)
DNN_NPGEMM(dnn_npgemm_s, float, s, dnn_sgemm64, dnn_sgemm32)
#undef DNN_NPGEMM

#endif

"""Where BLAS's last bits depend on its thread count.

For each dtype, transpose and output shape, the summed dimensions K at which
SciPy's ``gemm`` under ``threadpool_limits(1)`` and under ``threadpool_limits(2)``
give arrays that are not bit for bit equal. A product dnn leaves to BLAS in a
fit has these bits (README, Reproducibility); dnn's own kernels and the step
calls' slabs do not depend on the count. Run it under each kernel set, e.g.
``OPENBLAS_CORETYPE=Haswell python benchmarks/blas_thread_bits.py``.
"""

import argparse

import numpy as np
from scipy.linalg import blas
from threadpoolctl import threadpool_info, threadpool_limits

KS = (64, 128, 192, 200, 256, 257, 300, 320, 384, 385, 400, 500, 512, 513, 600, 640, 700, 768,
      800, 1000, 1024, 1500, 2000, 4000, 10000)
SHAPES = ((64, 100), (256, 784), (128, 256), (50, 50), (20, 12288))


def differs(dtype, M, N, K, trans_b, rng):
    """Whether ``alpha A B^(T)`` (A (M, K)) has other bits at one and at two BLAS threads."""
    A = rng.standard_normal((M, K)).astype(dtype)
    B = rng.standard_normal((N, K) if trans_b else (K, N)).astype(dtype)
    gemm = blas.dgemm if dtype == np.float64 else blas.sgemm
    out = []
    for threads in (1, 2):
        with threadpool_limits(threads, user_api="blas"):
            out.append(gemm(0.37, A, B, trans_b=trans_b))
    return not np.array_equal(out[0], out[1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    for info in threadpool_info():
        if info.get("user_api") == "blas":
            print("BLAS: %s %s (%s kernels) %s" % (info.get("internal_api"), info.get("version"),
                                                   info.get("architecture"), info.get("filepath")))
    for dtype in (np.float64, np.float32):
        for trans_b in (True, False):
            for M, N in SHAPES:
                ks = [K for K in KS if differs(dtype, M, N, K, trans_b, rng)]
                print("%s %s M=%d N=%d: other bits at K = %s" % (
                    np.dtype(dtype).name, "A B^T" if trans_b else "A B", M, N, ks or "none"))


if __name__ == "__main__":
    main()

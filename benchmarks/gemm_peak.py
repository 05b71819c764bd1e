"""The compute floor of a training epoch: its matrix products' flops at this machine's GEMM peak.

A ratio target (say, 3x a peer) is out of reach when the time it asks for is
below the floor: no implementation of the same products, however good, can
run them faster than the fastest GEMM this machine runs. The peak is measured,
not assumed: the best rate of a large square product through NumPy's BLAS, in
this process (under the environment's BLAS settings) and in a child process
with ``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE`` unset, where OpenBLAS picks
its own kernels for this CPU (dnn's own kernels use the CPU's widest vectors
whatever OpenBLAS is told, so the floor must too).

Flops of one epoch over ``m`` examples of a network ``dims = [n0, ..., nL]``
(forward ``W A``, backward ``dZ A^T`` for every layer and ``W^T dZ`` for all but
the first, which neither dnn nor its peers compute): ``2 m (3 S - n0 n1)`` with
``S = sum n_{l-1} n_l``. Elementwise work and the optimizer are left out, so
the floor is a lower bound.
"""

import json
import os
import subprocess
import sys
import time

#: Side of the square product the peak is measured on.
SIDE = 1536
_CACHE = {}


def epoch_flops(dims, m):
    """Multiply-adds x 2 of one epoch's products (see the module docstring)."""
    s = sum(a * b for a, b in zip(dims[:-1], dims[1:]))
    return 2.0 * m * (3 * s - dims[0] * dims[1])


def _rates_here(dtypes, threads, side=SIDE, repeats=5):
    """{(dtype, threads): GFLOP/s} of ``a @ b`` in this process, best of ``repeats``."""
    import numpy as np
    from threadpoolctl import threadpool_limits

    out = {}
    for d in dtypes:
        rng = np.random.default_rng(0)
        a = rng.random((side, side)).astype(d)
        b = rng.random((side, side)).astype(d)
        for t in threads:
            with threadpool_limits(t):
                a @ b
                best = float("inf")
                for _ in range(repeats):
                    t0 = time.perf_counter()
                    a @ b
                    best = min(best, time.perf_counter() - t0)
            out[(d, t)] = 2.0 * side ** 3 / best / 1e9
    return out


def _rates_native(dtypes, threads):
    """The same, measured in a child process with OpenBLAS free to pick its kernels ({} if it fails)."""
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    code = ("import json, sys; sys.path.insert(0, %r); import gemm_peak as g; "
            "r = g._rates_here(%r, %r); print(json.dumps([[d, t, v] for (d, t), v in r.items()]))"
            % (os.path.dirname(os.path.abspath(__file__)), list(dtypes), list(threads)))
    try:
        done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
        return {(d, t): v for d, t, v in json.loads(done.stdout.strip().splitlines()[-1])}
    except (OSError, ValueError, IndexError, subprocess.SubprocessError):
        return {}


def peaks(dtypes=("float64", "float32"), threads=(1, 2)):
    """{(dtype, threads): GFLOP/s}: the better of this process's and OpenBLAS's own kernel choice. Cached."""
    key = (tuple(dtypes), tuple(threads))
    if key not in _CACHE:
        here = _rates_here(dtypes, threads)
        native = _rates_native(dtypes, threads)
        _CACHE[key] = {k: max(v, native.get(k, 0.0)) for k, v in here.items()}
    return _CACHE[key]


def floor_seconds(dims, m, dtype, threads, rates):
    """Seconds one epoch's products take at the measured peak ``rates[(dtype, threads)]``."""
    return epoch_flops(dims, m) / (rates[(dtype, threads)] * 1e9)

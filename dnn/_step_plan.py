"""Which products of a large step-by-step layer skip BLAS: timed on this machine.

``dnn._products.for_step`` settles tiny layers and layers whose operands fit
in L2 by rule. For a larger layer the answer depends on the machine, the BLAS
and its thread count (dnn._simd's kernels run one thread; on S1's first layer
``nt`` beat SciPy's one-thread sgemm and lost to its dgemm): there the layer's
products are timed both ways, once per shape, dtype and BLAS thread count, and
the faster kept. Timing starts only at the ``WARMUP``-th call of a shape, so a
single forward pass (a prediction) never pays for it; until then, and where a
layer is too large to time cheaply, the rule's guess holds.
"""

import time

import numpy as np

__all__ = ["WARMUP", "MAX_TIMED_BYTES", "choose"]

#: Calls of a shape before it is timed (a training loop gets there at once).
WARMUP = 3

#: Layers whose operands (bytes of W H and of the activations in and out) pass
#: this are not timed (it would allocate and run them several times): the
#: rule's guess holds.
MAX_TIMED_BYTES = 64 << 20

_seen = {}
_chosen = {}


def _blas_threads():
    from dnn import _blas_threads

    return _blas_threads._current_threads()


def _time(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def _measure(n_out, n_in, m, itemsize, candidates):
    """The flags of ``candidates`` whose forward + backward products ran fastest."""
    from dnn import _kernels

    dtype = np.float64 if itemsize == 8 else np.float32
    rng = np.random.default_rng(0)
    W = rng.standard_normal((n_out, n_in)).astype(dtype)
    H = rng.random((n_in, m)).astype(dtype)
    dZ = rng.standard_normal((n_out, m)).astype(dtype)
    b = np.zeros(n_out, dtype)
    Z = np.empty((n_out, m), dtype)
    dW, db, dH = np.empty_like(W), np.empty(n_out, dtype), np.empty_like(H)

    def layer(own):
        return lambda: (_kernels.linear(W, H, b, Z, own),
                        _kernels.linear_backward(dZ, H, W, dW, db, dH, own))
    times = {own: [] for own in candidates}
    for rep in range(3):  # a warm pass, then two timed, alternating: each one's best
        for own in candidates:
            t = _time(layer(own))
            if rep:
                times[own].append(t)
    return min(candidates, key=lambda own: min(times[own]))


def choose(n_out, n_in, m, itemsize, guess, candidates):
    """``guess`` until the shape's ``WARMUP``-th call, then the timed choice."""
    if (n_out * n_in + 2 * (n_in + n_out) * m) * itemsize > MAX_TIMED_BYTES:
        return guess
    key = (n_out, n_in, m, itemsize, _blas_threads())
    own = _chosen.get(key)
    if own is not None:
        return own
    _seen[key] = _seen.get(key, 0) + 1
    if _seen[key] < WARMUP:
        return guess
    own = _chosen[key] = _measure(n_out, n_in, m, itemsize, candidates)
    return own

"""Inverted dropout's masks, from a counter-based generator.

``dropout_mask(shape, keep_prob, seed=, layer=, iteration=)`` is a pure
function of its arguments: element ``(i, j)`` (unit i, example j of the
mini-batch) is drawn from SplitMix64 outputs keyed by ``(seed, layer,
iteration, i, j)``, never from a stream's state. So a compiled loop can draw
any element on any thread in any order and get the same mask, and a fit with
dropout is reproducible from its seed whatever the thread count. The
definition, bit by bit, is in ``dnn.reference`` (``dropout_uniform``); this
module computes the same bits with checked inputs and fewer temporaries.
"""

import numpy as np

from dnn import _course2_validation as c
from dnn import _validation as v

__all__ = ["dropout_uniform", "dropout_mask"]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)


def _mix64_inplace(z, scratch):
    """SplitMix64's finalizer on a uint64 array, in place (``scratch`` same shape)."""
    for shift, mult in ((_S30, _M1), (_S27, _M2)):
        np.right_shift(z, shift, out=scratch)
        z ^= scratch
        z *= mult
    np.right_shift(z, _S31, out=scratch)
    z ^= scratch
    return z


def _splitmix(state, k):
    """``mix64(state + k * golden)`` for uint64 arrays (broadcast), a new array."""
    z = np.multiply(k, _GOLDEN)
    z = np.add(state, z)
    return _mix64_inplace(z, np.empty_like(z))


def _uniform(n, m, seed, layer, iteration):
    h = _splitmix(np.array([seed], dtype=np.uint64), np.array([layer + 1], dtype=np.uint64))
    h = _splitmix(h, np.array([iteration + 1], dtype=np.uint64))
    rows = _splitmix(h, np.arange(1, n + 1, dtype=np.uint64))[:, None]
    bits = _splitmix(rows, np.arange(1, m + 1, dtype=np.uint64)[None, :])
    bits >>= _S11
    u = bits.astype(np.float64)
    u *= 2.0 ** -53
    return u


def _mask(n, m, keep_prob, seed, layer, iteration, dtype):
    return (_uniform(n, m, seed, layer, iteration) < keep_prob).astype(dtype)


def _shape(shape):
    if isinstance(shape, (str, bytes, dict)) or not hasattr(shape, "__len__") or len(shape) != 2:
        raise ValueError("shape must be (n, m), two sizes, got %r" % (shape,))
    return tuple(v.count(s, "shape[%d]" % i, minimum=1) for i, s in enumerate(shape))


def _counters(seed, layer, iteration):
    if v.count(seed, "seed") >= 2**64:
        raise ValueError("seed must be below 2**64, got %d" % seed)
    for x, name in ((layer, "layer"), (iteration, "iteration")):
        if v.count(x, name) >= 2**64 - 1:
            raise ValueError("%s must be below 2**64 - 1, got %d" % (name, x))
    return int(seed), int(layer), int(iteration)


def dropout_uniform(shape, *, seed, layer, iteration):
    """The uniform [0, 1) float64 numbers ``(n, m)`` behind the masks of ``(seed, layer, iteration)``."""
    n, m = _shape(shape)
    return _uniform(n, m, *_counters(seed, layer, iteration))


def dropout_mask(shape, keep_prob, *, seed=0, layer=1, iteration=0, dtype=np.float64):
    """Dropout mask ``D`` ``(n, m)`` of 0 and 1 in ``dtype``: 1 where the uniform number < ``keep_prob``."""
    n, m = _shape(shape)
    keep_prob = c.scalar_in(keep_prob, "keep_prob", 0.0, 1.0, low_open=True)
    return _mask(n, m, keep_prob, *_counters(seed, layer, iteration), v.float_dtype(dtype))

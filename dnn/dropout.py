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


#: Elements per block of the draws: a block's uint64 temporaries stay small
#: (under a MiB), whatever the mask's size; only the result is full-size.
_BLOCK = 2**16


def _blocks(n, m):
    """``(rows, cols)`` slices tiling ``(n, m)`` in blocks of at most about ``_BLOCK`` elements."""
    cols = min(m, _BLOCK)
    rows = max(1, _BLOCK // cols)
    for r0 in range(0, n, rows):
        for c0 in range(0, m, cols):
            yield slice(r0, min(r0 + rows, n)), slice(c0, min(c0 + cols, m))


def _uniform_block(h, rows, cols):
    """The uniform numbers of units ``rows`` and examples ``cols`` (slices) under key ``h``."""
    r = _splitmix(h, np.arange(rows.start + 1, rows.stop + 1, dtype=np.uint64))[:, None]
    bits = _splitmix(r, np.arange(cols.start + 1, cols.stop + 1, dtype=np.uint64)[None, :])
    bits >>= _S11
    u = bits.astype(np.float64)
    u *= 2.0 ** -53
    return u


def _key(seed, layer, iteration):
    h = _splitmix(np.array([seed], dtype=np.uint64), np.array([layer + 1], dtype=np.uint64))
    return _splitmix(h, np.array([iteration + 1], dtype=np.uint64))


def _uniform(n, m, seed, layer, iteration):
    """Unchecked ``dropout_uniform``: the float64 ``(n, m)`` result and block-sized temporaries."""
    h = _key(seed, layer, iteration)
    u = np.empty((n, m), dtype=np.float64)
    for rows, cols in _blocks(n, m):
        u[rows, cols] = _uniform_block(h, rows, cols)
    return u


def _mask(n, m, keep_prob, seed, layer, iteration, dtype):
    """Unchecked ``dropout_mask``: the ``(n, m)`` result and block-sized temporaries."""
    h = _key(seed, layer, iteration)
    D = np.empty((n, m), dtype=dtype)
    for rows, cols in _blocks(n, m):
        np.less(_uniform_block(h, rows, cols), keep_prob, out=D[rows, cols], casting="unsafe")
    return D


def _shape(shape):
    """``(n, m)``: two ints >= 1 whose product fits 32-bit indexing (``v.BLAS_INT_MAX``), checked
    before anything is allocated; else ValueError (TypeError for a size that is not an int)."""
    if isinstance(shape, (str, bytes, dict)) or not hasattr(shape, "__len__") or v.length(shape, "shape") != 2:
        raise ValueError("shape must be (n, m), two sizes, got %r" % (shape,))
    n, m = (v.count(s, "shape[%d]" % i, minimum=1) for i, s in enumerate(shape))
    if n * m > v.BLAS_INT_MAX:
        raise ValueError("shape must have at most 2**31 - 1 elements (32-bit indexing), got (%s, %s)"
                         % (v.int_text(n), v.int_text(m)))
    return n, m


def _counters(seed, layer, iteration):
    if v.count(seed, "seed") >= 2**64:
        raise ValueError("seed must be below 2**64, got %s" % v.int_text(seed))
    for x, name in ((layer, "layer"), (iteration, "iteration")):
        if v.count(x, name) >= 2**64 - 1:
            raise ValueError("%s must be below 2**64 - 1, got %s" % (name, v.int_text(x)))
    return int(seed), int(layer), int(iteration)


def dropout_uniform(shape, *, seed, layer, iteration):
    """The uniform [0, 1) float64 numbers ``(n, m)`` behind the masks of ``(seed, layer, iteration)``.

    ``shape`` is two ints >= 1 of at most 2**31 - 1 elements in all, else ValueError.
    """
    n, m = _shape(shape)
    return _uniform(n, m, *_counters(seed, layer, iteration))


def dropout_mask(shape, keep_prob, *, seed=0, layer=1, iteration=0, dtype=np.float64):
    """Dropout mask ``D`` ``(n, m)`` of 0 and 1 in ``dtype``: 1 where the uniform number < ``keep_prob``.

    ``shape`` as ``dropout_uniform``'s; the draws run in blocks, so only ``D`` is full-size.
    """
    n, m = _shape(shape)
    keep_prob = c.scalar_in(keep_prob, "keep_prob", 0.0, 1.0, low_open=True)
    return _mask(n, m, keep_prob, *_counters(seed, layer, iteration), v.float_dtype(dtype))

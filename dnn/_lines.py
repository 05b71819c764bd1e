"""Arrays whose data start on a cache line (64 bytes: one AVX-512 vector).

NumPy starts a large array 16 bytes past a page, so every 64-byte vector load
of it straddles two cache lines. The buffers dnn makes for its kernels, and
the parameters and optimizer state it creates, start on a line instead, so a
kernel streaming them (the wide first layer's weights, Adam's moments) loads
whole lines (measurements: benchmarks/NOTES.md, "Buffers on a cache line").

Only speed depends on an address, never a number: every kernel's lanes and
sums follow the index, so an array here and a NumPy one give the same bits.
Such an array is a view of a slightly larger byte buffer (``flags.owndata`` is
False), so ``ndarray.resize`` refuses it in place (``np.resize`` returns a new
one); a copy (pickle, ``np.copy``) is an ordinary NumPy array again.
"""

import operator

import numpy as np

__all__ = ["LINE", "empty", "zeros", "zeros_like", "copy"]

#: Bytes of a cache line: the boundary these arrays start on.
LINE = 64


def empty(shape, dtype=np.float64, order="C"):
    """``np.empty(shape, dtype, order)`` whose data start on a multiple of ``LINE`` bytes
    (an array of no elements has no data to place)."""
    dtype = np.dtype(dtype)
    shape = (operator.index(shape),) if np.ndim(shape) == 0 else tuple(operator.index(s) for s in shape)
    if any(s < 0 for s in shape):
        raise ValueError("negative dimensions are not allowed, got shape %r" % (shape,))
    nbytes = dtype.itemsize
    for s in shape:
        nbytes *= s
    raw = np.empty(nbytes + LINE, np.uint8)
    start = -raw.ctypes.data % LINE
    return raw[start:start + nbytes].view(dtype).reshape(shape, order=order)


def zeros(shape, dtype=np.float64, order="C"):
    """``np.zeros`` on a line (see ``empty``)."""
    out = empty(shape, dtype, order)
    out.fill(0)
    return out


def zeros_like(a):
    """``np.zeros_like(a)`` on a line: ``a``'s shape and dtype, Fortran order if ``a`` is only that."""
    a = np.asarray(a)
    order = "F" if a.flags.f_contiguous and not a.flags.c_contiguous else "C"
    return zeros(a.shape, a.dtype, order)


def copy(a, dtype=None):
    """A C-contiguous copy of ``a`` on a line, cast to ``dtype`` (default: ``a``'s) as ``astype`` casts."""
    a = np.asarray(a)
    out = empty(a.shape, a.dtype if dtype is None else dtype)
    out[...] = a
    return out

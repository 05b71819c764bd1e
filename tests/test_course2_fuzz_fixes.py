"""Regressions of the second fuzzing round (the course's second part and the step functions).

Each test reproduces one finding of ``/work/fuzz_step`` and failed before its fix:
dropout shapes checked before anything is allocated, NumPy's global random state
seeded and drawn under ``dnn._rng.GLOBAL_RNG_LOCK``, ``predict`` for every output
kind, the dtype of the gradients with labels of another dtype, ``class_indices`` in
O(m) memory, ``ValueError`` where huge numbers raised ``OverflowError``, and
big-endian float32 kept float32.
"""
import tracemalloc

import numpy as np
import pytest

import dnn
from dnn import reference as R


# --------------------------------------------------------------------------
# 1. dropout shapes
# --------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(2**63, 2), (2**64 + 3, 1), (2**31, 3), (1, 2**31), (65536, 32768),
                                   (10**5000, 1)])
@pytest.mark.parametrize("draw", [lambda s: dnn.dropout_mask(s, 0.5),
                                  lambda s: dnn.dropout_uniform(s, seed=0, layer=1, iteration=0)],
                         ids=["dropout_mask", "dropout_uniform"])
def test_dropout_shape_too_large_is_a_value_error(draw, shape):
    # (2**63, 2) wrapped to an empty mask; (2**31, 3) allocated 16 GiB temporaries
    with pytest.raises(ValueError, match=r"shape must have at most 2\*\*31 - 1 elements"):
        draw(shape)


@pytest.mark.parametrize("shape, exc, match", [
    (range(2**64), ValueError, "shape must have at most 2\\*\\*63 - 1 entries"),
    ((0, 3), ValueError, r"shape\[0\] must be >= 1"),
    ((3, 2.0), TypeError, r"shape\[1\] must be an int"),
])
def test_dropout_bad_shapes(shape, exc, match):
    with pytest.raises(exc, match=match):
        dnn.dropout_mask(shape, 0.5)


@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (1, 300001), (300001, 2), (700, 1000)])
def test_dropout_blocks_give_the_reference_bits(shape):
    kw = dict(seed=12345, layer=3, iteration=2**40)
    np.testing.assert_array_equal(dnn.dropout_uniform(shape, **kw), R.dropout_uniform(shape, **kw))
    for dtype in (np.float32, np.float64):
        got, want = dnn.dropout_mask(shape, 0.3, dtype=dtype, **kw), R.dropout_mask(shape, 0.3, dtype=dtype, **kw)
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)


def test_dropout_mask_allocates_little_beside_its_result():
    shape = (1000, 1000)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        D = dnn.dropout_mask(shape, 0.5)
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    # before: three full-size 8-byte temporaries (uint64 draws, their scratch, float64 uniforms)
    assert peak < D.nbytes * 1.5, "peak %d bytes for a result of %d" % (peak, D.nbytes)

"""The mini-batch loop's L2 cost: ``lambd / 2 * sum(W^2)``, summed by dnn/_loop.h's ``sumsq``.

``sumsq`` keeps 32 partial sums in double (element i in sum i mod 32), which the
compiler keeps in vectors, adds the n mod 32 last elements to the first ones,
then folds them in a fixed tree. Weights of 1 to 95 elements (no whole step
of 32, whole steps only, steps and a tail) in each build of the kernels this
CPU runs, against NumPy's sum: a skipped or repeated tail element, a step read
off by one or a partial sum left out of the fold moves the sum by far more
than the tolerance (products of floats are exact in double).
"""
import numpy as np
import pytest

from dnn import _loop, _train


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("level", _train.SIMD_LEVELS)
@pytest.mark.parametrize("dims", [[1, 1], [3, 5, 1], [8, 1], [4, 4, 3], [7, 10, 1], [9, 7, 2], [32, 1],
                                  [33, 1], [8, 8, 1], [3, 31, 1], [5, 19, 1]])
def test_l2_cost_is_half_lambd_sum_of_squares(dtype, level, dims):
    levels = _train.SIMD_LEVELS
    if levels.index(level) > levels.index(_train.simd_cpu_level()):
        pytest.skip("this CPU does not run the %s build" % level)
    rng = np.random.default_rng(len(dims) * 100 + sum(dims))
    m, lambd = 6, 0.3
    X = rng.standard_normal((m, dims[0])).astype(dtype)
    Y = rng.standard_normal((m, dims[-1])).astype(dtype)
    layers = [(rng.standard_normal((o, i)).astype(dtype), np.zeros((o, 1), dtype)) for i, o in zip(dims, dims[1:])]
    want = lambd / 2 * sum(float(np.sum(W.astype(np.float64) ** 2)) for W, _ in layers)
    loop = _loop.Loop(layers, X, Y, output="identity", optimizer="gd", batch_size=m, lambd=lambd)
    before = _loop._simd_level()
    try:
        assert _loop._use_simd(levels.index(level)) == levels.index(level)
        loop.epoch(None, 1e-3, 0, 0)  # one batch: its L2 cost is that of the weights given
    finally:
        _loop._use_simd(before)
    assert loop.loss_l2 == pytest.approx(want, rel=1e-13, abs=0)

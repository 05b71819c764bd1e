"""``dnn.model`` (the compiled loop) against the oracle's ``dnn.reference.model`` (plain NumPy, the
course's formulas and shuffles), not only against ``dnn.network``: every optimizer x hidden activation
x output kind, with L2 and dropout, both dtypes; weights and the recorded costs.

Tolerances: float64 1e-9 relative to |w| + 1e-3 (the loop differs by summation order and libm against
NumPy's ufuncs; measured 1e-13 after 4 epochs); float32 2e-3 absolute for weights of order 1 (measured
3e-4: RMSprop divides a gradient that is mostly rounding by its own root, so both float32 fits are 1e-3
from the float64 one). A formula off (a mask, an L2 term, a bias correction) moves the weights by
1e-2 or more (lr 0.01, 20 steps).
"""
import itertools

import numpy as np
import pytest

import dnn
import dnn.reference as ref

REG = [(0.0, 1.0), (0.5, 1.0), (0.0, 0.8), (0.3, 0.7)]
CASES = [(opt, hidden, out, REG[i % len(REG)]) for i, (opt, hidden, out) in enumerate(
    itertools.product(["gd", "momentum", "rmsprop", "adam"], ["relu", "tanh", "leaky_relu"], ["sigmoid", "softmax"]))]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("optimizer, hidden, output, reg", CASES)
def test_model_matches_the_reference_model(dtype, optimizer, hidden, output, reg):
    rng = np.random.default_rng(0)
    m, K = 150, 1 if output == "sigmoid" else 3
    X = rng.standard_normal((6, m)).astype(dtype)
    Y = ((X[:1] > 0) if K == 1 else rng.integers(0, K, (1, m))).astype(dtype)
    kw = dict(num_epochs=4, print_cost=False, return_costs=True, cost_every=1, learning_rate=0.01,
              mini_batch_size=32, lambd=reg[0], keep_prob=reg[1], hidden_activation=hidden, output=output,
              seed=4, dtype=dtype)
    got, got_costs = dnn.model(X, Y, [6, 7, 5, K], optimizer, **kw)
    want, want_costs = ref.model(X, Y, [6, 7, 5, K], optimizer, **kw)
    for key in want:
        assert got[key].dtype == want[key].dtype == dtype
        if dtype == np.float64:
            err = np.max(np.abs(got[key] - want[key]) / (np.abs(want[key]) + 1e-3))
            assert err < 1e-9, (key, err)
        else:
            err = np.max(np.abs(got[key] - want[key])) / max(1.0, np.max(np.abs(want[key])))
            assert err < 2e-3, (key, err)
    np.testing.assert_allclose(got_costs, want_costs, rtol=1e-9 if dtype == np.float64 else 1e-4)

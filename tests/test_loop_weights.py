"""Sample weights in the compiled mini-batch loop (``dnn._loop.Loop(sample_weight=)``).

scikit-learn's semantics (its MLP's ``_backprop``): each example's dZ_L and
loss times its weight, the gradients and L2's ``lambd W`` over the batch's
weight sum instead of its size, the batch's loss its weighted mean (plus
``lambd / 2 sum W^2`` over the weight sum), counted ``bb`` times in the
epoch's sum. Checked against the NumPy twin (tests/test_loop.py's
``numpy_epoch`` over ``dnn.network._batch_step(sample_weight=)``) for every
output kind, optimizer and regularization in both dtypes, every choice of
products, a wide first layer and teams of threads (the same bits on 1, 2 and 3
threads). Exact properties: weights of 1 give the unweighted parameters, weights
times 4 the same bits (a power of two scales the deltas and their sum
exactly; without L2, whose ``lambd`` is over the weight sum); integer weights on one full batch are the rows repeated (to
rounding); a batch whose weights are all 0 is skipped. Weights of the wrong
kind are refused before any compiled code runs.
"""
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from dnn import _loop


def _twin():
    spec = importlib.util.spec_from_file_location("_dnn_test_loop_twin_weights",
                                                  Path(__file__).with_name("test_loop.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_t = _twin()
DTYPES, REGULARIZATION = _t.DTYPES, _t.REGULARIZATION


def weights(m, dtype, seed=5, zeros=True):
    """Weights in [0, 3), a few of them 0 (absent examples)."""
    rng = np.random.default_rng(seed)
    w = rng.random(m) * 3
    if zeros:
        w[rng.permutation(m)[:max(1, m // 5)]] = 0
    return w.astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("output, K", [("sigmoid", 1), ("softmax", 4), ("identity", 2)])
@pytest.mark.parametrize("optimizer", _loop.OPTIMIZERS)
@pytest.mark.parametrize("reg", list(REGULARIZATION))
def test_weighted_every_combination(dtype, output, K, optimizer, reg):
    _t.compare([5, 7, 6, K], 23, 5, optimizer, reg, "tanh" if optimizer == "gd" else "relu", output, dtype,
               lr=0.002 if optimizer == "rmsprop" else 0.02, sample_weight=weights(23, dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("products", _loop.PRODUCTS)
@pytest.mark.parametrize("dims, m, b", [([4, 6, 1], 17, 1), ([4, 6, 5, 3], 12, 100), ([8, 16, 8, 4, 2], 70, 64)])
def test_weighted_products_and_batch_sizes(dtype, products, dims, m, b):
    output = "sigmoid" if dims[-1] == 1 else "softmax"
    _t.compare(dims, m, b, "adam", "both", "relu", output, dtype, products=products,
               sample_weight=weights(m, dtype))
    _t.compare(dims, m, b, "nesterov", "l2", "leaky_relu", "identity", dtype, products=products, shuffle=False,
               sample_weight=weights(m, dtype, seed=6))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dims, m, b, wide", [([300, 20, 7, 1], 70, 64, 64), ([301, 9, 3], 33, 7, 100)])
def test_weighted_wide_first_layer(dtype, dims, m, b, wide):
    output = "sigmoid" if dims[-1] == 1 else "softmax"
    _t.compare(dims, m, b, "adam", "both", "relu", output, dtype, wide=wide, sample_weight=weights(m, dtype))


def _team_bits(threads, dtype, output, K, optimizer, **kw):
    ours, v, s = _t.compare([20, 40, 24, K], 150, 48, optimizer, "both", "relu", output, dtype, products="own",
                            threads=threads, sample_weight=weights(150, dtype), **kw)
    return [ours[k] for k in sorted(ours)] + [a for pair in v + s for a in pair]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("output, K", [("sigmoid", 1), ("softmax", 10), ("identity", 2)])
@pytest.mark.parametrize("optimizer", ["adam", "nesterov"])
@pytest.mark.parametrize("wide", [False, 64])
def test_weighted_team_same_bits(dtype, output, K, optimizer, wide):
    one = _team_bits(1, dtype, output, K, optimizer, wide=wide)
    for threads in (2, 3):
        for a, b in zip(one, _team_bits(threads, dtype, output, K, optimizer, wide=wide)):
            np.testing.assert_array_equal(a, b)


def _run(dtype, sample_weight, output="softmax", K=3, X=None, Y=None, order=True, b=16, epochs=3,
         optimizer="adam", lambd=0.3, keep=0.8, seed=1, **kw):
    """A Loop's parameters, state and (loss, loss_l2, t, step) per epoch after ``epochs`` epochs."""
    rng = np.random.default_rng(seed)
    if X is None:
        X, Y, _ = _t.problem(rng, [9, 12, K], 61, output, dtype)
    _, _, params = _t.problem(np.random.default_rng(seed + 1), [X.shape[1], 12, K], 2, output, dtype)
    pairs = [(params["W%d" % l].copy(), params["b%d" % l].copy()) for l in (1, 2)]
    v = [(np.zeros_like(W), np.zeros_like(c)) for W, c in pairs]
    s = [(np.zeros_like(W), np.zeros_like(c)) for W, c in pairs]
    loop = _loop.Loop(pairs, X, Y, output=output, optimizer=optimizer, batch_size=b, lambd=lambd, keep=[keep],
                      v=v, s=s, sample_weight=sample_weight, **kw)
    trace, t, step = [], 0, 0
    order_rng = np.random.default_rng(3)
    for _ in range(epochs):
        o = order_rng.permutation(X.shape[0]).astype(np.int64) if order else None
        loss, t, step = loop.epoch(o, 0.01, t, step)
        trace.append((loss, loop.loss_l2, t, step))
    return [a for pair in pairs + v + s for a in pair], trace


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("output, K", [("sigmoid", 1), ("softmax", 3), ("identity", 2)])
def test_weights_of_one_give_the_unweighted_parameters(dtype, output, K):
    """The same parameters and state, bit for bit (dZ times 1, the sum of the weights is bb); the
    loss to rounding (the weighted loss sum may be contracted into FMAs where the other is not)."""
    plain, plain_trace = _run(dtype, None, output, K)
    ones, ones_trace = _run(dtype, np.ones(61, dtype), output, K)
    assert [x[2:] for x in ones_trace] == [x[2:] for x in plain_trace]
    np.testing.assert_allclose([x[:2] for x in ones_trace], [x[:2] for x in plain_trace], rtol=1e-14)
    for a, b in zip(plain, ones):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("output, K", [("sigmoid", 1), ("softmax", 3), ("identity", 2)])
def test_weights_times_four_give_the_same_bits(dtype, output, K):
    # (without L2: lambd over the weight sum, scikit-learn's, makes L2 weaker as the weights grow)
    w = weights(61, dtype)
    once, once_trace = _run(dtype, w, output, K, lambd=0.0)
    four, four_trace = _run(dtype, w * dtype(4), output, K, lambd=0.0)
    for a, b in zip(once, four):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose([x[:2] for x in four_trace], [x[:2] for x in once_trace], rtol=1e-12)
    # and weights that are not all 1 change the numbers (the weights are read)
    plain, _ = _run(dtype, None, output, K, lambd=0.0)
    assert not np.allclose(plain[0], once[0], rtol=1e-3, atol=0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("output, K", [("sigmoid", 1), ("softmax", 3), ("identity", 2)])
@pytest.mark.parametrize("optimizer", ["gd", "adam", "nesterov"])
def test_integer_weights_are_repeated_rows_in_one_full_batch(dtype, output, K, optimizer):
    rng = np.random.default_rng(8)
    X, Y, _ = _t.problem(rng, [9, 12, K], 20, output, dtype)
    counts = rng.integers(0, 4, 20)
    Xr, Yr = np.repeat(X, counts, axis=0), np.repeat(Y, counts, axis=0)
    weighted, wtrace = _run(dtype, counts.astype(dtype), output, K, X=X, Y=Y, order=False, b=20, keep=1.0,
                            optimizer=optimizer)
    repeated, rtrace = _run(dtype, None, output, K, X=Xr, Y=Yr, order=False, b=len(Xr), keep=1.0,
                            optimizer=optimizer)
    tol = {np.float32: 2e-4, np.float64: 1e-10}[dtype]
    for a, b in zip(weighted, repeated):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)
    # the loss: the same mean, counted once per example of each fit
    np.testing.assert_allclose([x[0] / 20 for x in wtrace], [x[0] / len(Xr) for x in rtrace], rtol=tol)


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_batch_of_zero_weights_is_skipped(dtype):
    # batches of 16 in order: the second batch's weights are all 0
    w = weights(61, dtype, zeros=False)
    w[16:32] = 0
    got, trace = _run(dtype, w, order=False, epochs=2)
    assert trace[-1][2:] == (6, 6)  # 3 batches an epoch, not 4: no Adam step, no dropout step
    # the same as the fit without those rows (the other batches are the same rows)
    rng = np.random.default_rng(1)
    X, Y, _ = _t.problem(rng, [9, 12, 3], 61, "softmax", dtype)
    keep = np.r_[0:16, 32:61]
    without, wtrace = _run(dtype, np.ascontiguousarray(w[keep]), X=np.ascontiguousarray(X[keep]),
                           Y=np.ascontiguousarray(Y[keep]), order=False, epochs=2)
    for a, b in zip(got, without):
        np.testing.assert_array_equal(a, b)
    assert trace == wtrace  # the loss sums the same three batches


@pytest.mark.parametrize("change, exc, match", [
    (lambda w: -w, ValueError, "sample_weight must hold finite weights >= 0"),
    (lambda w: np.where(np.arange(w.size) == 3, np.nan, w), ValueError, "finite"),
    (lambda w: np.where(np.arange(w.size) == 3, np.inf, w), ValueError, "finite"),
    (lambda w: np.full_like(w, 1e308), ValueError, "with a finite sum"),
    (lambda w: w[:-1], ValueError, r"sample_weight must have shape \(61,\), got \(60,\)"),
    (lambda w: w.reshape(-1, 1), ValueError, "sample_weight must have shape"),
    (lambda w: w.astype(np.float32), ValueError, "sample_weight must have dtype float64, got float32"),
    (lambda w: np.repeat(w, 2)[::2], ValueError, "sample_weight must be an aligned, C-contiguous"),
    (lambda w: list(w), TypeError, "sample_weight must be a numpy.ndarray, got list"),
])
def test_bad_weights_are_refused(change, exc, match):
    with pytest.raises(exc, match=match):
        _run(np.float64, change(weights(61, np.float64)))


def test_weights_resized_after_construction_are_refused():
    X, Y, params = _t.problem(np.random.default_rng(0), [4, 3, 1], 10, "sigmoid", np.float64)
    w = np.ones(10)
    loop = _loop.Loop([(params["W1"], params["b1"]), (params["W2"], params["b2"])], X, Y, sample_weight=w)
    loop.epoch(None, 0.1)
    w.resize(5, refcheck=False)
    with pytest.raises(ValueError, match="sample_weight was resized, moved or made read-only"):
        loop.epoch(None, 0.1)


def test_read_only_weights_are_read_in_place():
    X, Y, params = _t.problem(np.random.default_rng(0), [4, 3, 1], 10, "sigmoid", np.float64)
    w = np.arange(10.0)
    w.flags.writeable = False
    loop = _loop.Loop([(params["W1"], params["b1"]), (params["W2"], params["b2"])], X, Y, sample_weight=w)
    loop.epoch(np.arange(10, dtype=np.int64)[::-1].copy(), 0.1)
    assert np.isfinite(loop.loss)


def test_a_timed_plan_trains_with_the_weights(wisdom, monkeypatch):
    """``dnn._loop_plan.make_loop`` times its candidates unweighted (on the first batches' rows), then
    makes the fit's Loop with the weights: the same numbers as a Loop made directly with that plan."""
    from dnn import _loop_plan
    timed = []
    real = _loop_plan.measure
    monkeypatch.setattr(_loop_plan, "measure", lambda plans, *a: timed.append(len(plans)) or real(plans, *a))
    monkeypatch.setattr(_loop_plan, "MIN_BATCHES", 20)
    dims, m = [30, 20, 12, 1], 96
    X, Y, params = _t.problem(np.random.default_rng(3), dims, m, "sigmoid", np.float64)
    w = weights(m, np.float64)
    layers = [(params["W%d" % l], params["b%d" % l]) for l in (1, 2, 3)]
    twin_layers = [(W.copy(), b.copy()) for W, b in layers]
    loop = _loop_plan.make_loop("auto", layers, X, Y, 0.01, 10, True, sample_weight=w, optimizer="gd",
                                batch_size=16, lambd=0.1)
    # the candidates, once (then a team's second timing where it lost the first: _loop_plan.TEAM_TRIES)
    assert timed[:1] == [len(_loop_plan.candidates(dims, 16, np.float64))] and set(timed[1:]) <= {2}
    plan = _loop_plan.plan_for(dims, 16, np.float64, 10 * 6)
    twin = _loop.Loop(twin_layers, X, Y, products=plan.products, optimizer="gd", batch_size=16, lambd=0.1,
                      sample_weight=w)
    order = np.random.default_rng(1).permutation(m).astype(np.int64)
    assert loop.epoch(order, 0.01) == twin.epoch(order, 0.01)
    for (W, b), (W2, b2) in zip(layers, twin_layers):
        np.testing.assert_array_equal(W, W2)
        np.testing.assert_array_equal(b, b2)
    # and the weights were read: the unweighted Loop of that plan trains otherwise
    plain = [(p["W%d" % l].copy(), p["b%d" % l].copy()) for p in [params] for l in (1, 2, 3)]
    _loop.Loop(plain, X, Y, products=plan.products, optimizer="gd", batch_size=16, lambd=0.1).epoch(order, 0.01)
    assert not np.allclose(plain[0][0], layers[0][0], rtol=1e-6, atol=0)

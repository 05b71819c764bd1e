"""The compiled mini-batch loop (``dnn._loop``) against its NumPy twin.

The twin is the loop dnn ran before: per batch ``dnn.network._batch_step``
(forward, loss, backward, with the reference's dropout masks) and the update
of ``dnn.optimizers``, batches gathered in the given order. Parity for every
optimizer x regularization (none, L2, dropout, both) x hidden activation x
output kind, float32 and float64, and batch sizes that divide m, that do not,
1, and m or more; then the three callers (``dnn.model``, the estimators'
``fit_epochs``, ``L_layer_model``'s second-part keywords), dropout's bits,
reproducibility, and bad input refused before the compiled code runs.

Tolerances: the loop sums in other orders (BLAS's alpha, double sums of the
bias gradients and losses, libm's tanh and exp against NumPy's), so the
numbers agree to rounding, compounded over a few steps: rtol 1e-9 in float64,
2e-4 in float32 after 2 epochs. A wrong formula (a missing L2 term, a mask
off by one example, beta for 1 - beta, a bias-correction off by a step)
moves the weights by 1e-3 or more, and float64 catches it at 1e-9. Adam and
RMSprop in float32 get 1e-3: they divide each weight's gradient by its own
running size, so a weight whose batch gradients cancel to rounding level
moves by a step that rounding sets. On OpenBLAS's SkylakeX kernels the NumPy
twin's own float32 weights sit 5.4e-4 from its float64 run in
``test_products[sigmoid-1-tanh-*-float32]`` (the loop's: 2.2e-4).
"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from threadpoolctl import threadpool_limits

import dnn
from dnn import _engine, _loop, dropout, network, optimizers

DTYPES = [np.float32, np.float64]
TOL = {np.dtype(np.float32): 2e-4, np.dtype(np.float64): 1e-9}
ADAPTIVE_TOL32 = 1e-3  # Adam and RMSprop in float32: see the module's docstring
REGULARIZATION = {"none": (0.0, 1.0), "l2": (0.7, 1.0), "dropout": (0.0, 0.8), "both": (0.4, 0.7)}


def numpy_epoch(params, X, Y, order, b, optimizer, lr, hidden, output, keep, lambd, seed, t, step, v, s,
                beta=0.9, beta1=0.9, beta2=0.999, eps=1e-8, l2_parts=None, sample_weight=None):
    """The NumPy twin of ``Loop.epoch`` over the dict ``params`` (X, Y samples-major); ``l2_parts``, a
    list, gets each batch's L2 part of the loss (``Loop.loss_l2`` sums them); ``sample_weight`` (m,):
    the loop's (a batch of zero weights is skipped)."""
    L = len(params) // 2
    keys = [k for l in range(1, L + 1) for k in ("W%d" % l, "b%d" % l)]
    m = X.shape[0]
    order = np.arange(m) if order is None else order
    total = 0.0
    for start in range(0, m, b):
        idx = order[start:start + b]
        weights = None if sample_weight is None else sample_weight[idx]
        if weights is not None and not weights.any():
            continue
        layers = [(params["W%d" % l], params["b%d" % l]) for l in range(1, L + 1)]
        if l2_parts is not None:
            l2_parts.append(lambd / 2 * sum(float(np.sum(W.astype(np.float64) ** 2)) for W, _ in layers)
                            * (1 if weights is None else len(idx) / float(np.sum(weights, dtype=np.float64))))
        loss, grads = network._batch_step(X[idx].T, Y[idx].T, layers, hidden, output, keep, lambd, seed, step,
                                          sample_weight=weights)
        total += loss
        step += 1
        if optimizer == "gd":
            optimizers._gd(params, grads, lr, keys)
        elif optimizer == "momentum":
            optimizers._momentum(params, grads, v, beta, lr, keys)
        elif optimizer in ("heavy_ball", "nesterov"):
            optimizers._heavy_ball(params, grads, v, beta, lr, optimizer == "nesterov", keys)
        elif optimizer == "rmsprop":
            optimizers._rmsprop(params, grads, s, beta2, lr, eps, keys)
        else:
            t += 1
            optimizers._adam(params, grads, v, s, t, lr, beta1, beta2, eps, keys)
    return total, t, step


def problem(rng, dims, m, output, dtype):
    K = dims[-1]
    X = rng.standard_normal((m, dims[0])).astype(dtype)
    if output == "sigmoid":
        Y = (rng.random((m, 1)) > 0.5).astype(dtype)
    elif output == "softmax":
        Y = np.eye(K, dtype=dtype)[rng.integers(0, K, m)]
    else:
        Y = rng.standard_normal((m, K)).astype(dtype)
    params = {}
    for l in range(1, len(dims)):
        params["W%d" % l] = (rng.standard_normal((dims[l], dims[l - 1])) / np.sqrt(dims[l - 1])).astype(dtype)
        params["b%d" % l] = (rng.standard_normal((dims[l], 1)) * 0.1).astype(dtype)
    return X, Y, params


def compare(dims, m, b, optimizer, reg, hidden, output, dtype, epochs=2, shuffle=True, lr=0.02, seed=0,
            products="auto", **loop_kw):
    """The loop against its NumPy twin (``loop_kw``: more of ``Loop``'s keywords); returns the loop's parameters, v and s."""
    rng = np.random.default_rng(seed)
    X, Y, params = problem(rng, dims, m, output, dtype)
    lambd, kp = REGULARIZATION[reg]
    L = len(dims) - 1
    keep = [kp] * (L - 1)
    ours = {k: a.copy() for k, a in params.items()}
    v_np = {"d" + k: np.zeros_like(a) for k, a in params.items()}
    s_np = {"d" + k: np.zeros_like(a) for k, a in params.items()}
    pairs = [(ours["W%d" % l], ours["b%d" % l]) for l in range(1, L + 1)]
    v = [(np.zeros_like(W), np.zeros_like(bb)) for W, bb in pairs]
    s = [(np.zeros_like(W), np.zeros_like(bb)) for W, bb in pairs]
    loop = _loop.Loop(pairs, X, Y, hidden=hidden, output=output, optimizer=optimizer, batch_size=b, lambd=lambd,
                      keep=keep, dropout_seed=7, v=v, s=s, products=products, **loop_kw)
    t = step = t_np = step_np = 0
    tol = TOL[np.dtype(dtype)]
    if np.dtype(dtype) == np.float32 and optimizer in ("adam", "rmsprop"):
        tol = ADAPTIVE_TOL32
    for _ in range(epochs):
        order = rng.permutation(m) if shuffle else None
        want, t_np, step_np = numpy_epoch(params, X, Y, order, b, optimizer, lr, hidden, output, keep, lambd, 7,
                                          t_np, step_np, v_np, s_np, sample_weight=loop_kw.get("sample_weight"))
        got, t, step = loop.epoch(order, lr, t, step)
        assert (t, step) == (t_np, step_np)
        assert got == pytest.approx(want, rel=tol, abs=tol)
    for k in params:
        assert ours[k].dtype == np.dtype(dtype)
        np.testing.assert_allclose(ours[k], params[k], rtol=tol, atol=tol, err_msg=k)
    if optimizer in ("momentum", "heavy_ball", "nesterov", "adam"):
        np.testing.assert_allclose(v[0][0], v_np["dW1"], rtol=tol, atol=tol)
    if optimizer in ("rmsprop", "adam"):
        np.testing.assert_allclose(s[0][0], s_np["dW1"], rtol=tol, atol=tol)
        np.testing.assert_allclose(s[-1][1], s_np["db%d" % L], rtol=tol, atol=tol)
    return ours, v, s


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("output, K", [("sigmoid", 1), ("softmax", 4), ("identity", 2)])
@pytest.mark.parametrize("hidden", _loop.ACTIVATIONS)
@pytest.mark.parametrize("optimizer", _loop.OPTIMIZERS)
@pytest.mark.parametrize("reg", list(REGULARIZATION))
def test_every_combination(dtype, output, K, hidden, optimizer, reg):
    # RMSprop's first steps are lr * sign(g): a smaller rate keeps the comparison about rounding.
    compare([5, 7, 6, K], 23, 5, optimizer, reg, hidden, output, dtype,
            lr=0.002 if optimizer == "rmsprop" else 0.02)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dims, m, b", [
    ([3, 1], 10, 4),              # no hidden layer
    ([4, 6, 1], 17, 1),           # batch size 1
    ([4, 6, 5, 3], 12, 12),       # one batch of all m
    ([4, 6, 5, 3], 12, 100),      # a batch size above m
    ([8, 16, 8, 4, 2], 70, 64),   # a last batch of 6
    ([2, 3, 1], 1, 64),           # one example
])
@pytest.mark.parametrize("optimizer, reg", [("adam", "both"), ("nesterov", "dropout"), ("gd", "l2")])
@pytest.mark.parametrize("products", _loop.PRODUCTS)
def test_batch_sizes(dtype, dims, m, b, optimizer, reg, products):
    # Every product in BLAS, in dnn's own kernels (nn, nt; X_b gathered transposed), or by the rule.
    output = "sigmoid" if dims[-1] == 1 else "softmax"
    compare(dims, m, b, optimizer, reg, "relu", output, dtype, products=products)
    compare(dims, m, b, optimizer, reg, "tanh", output, dtype, shuffle=False, seed=1, products=products)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("products", ["blas", "own"])
@pytest.mark.parametrize("hidden", _loop.ACTIVATIONS)
@pytest.mark.parametrize("output, K", [("sigmoid", 1), ("softmax", 4), ("identity", 2)])
def test_products(dtype, products, hidden, output, K):
    compare([40, 33, 20, K], 150, 64, "adam", "both", hidden, output, dtype, products=products)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("output, K", [("sigmoid", 1), ("softmax", 5)])
def test_every_build(simd_build, dtype, output, K):
    # Each build of the kernels this CPU runs (conftest's ``simd_build``), our products and
    # BLAS's: the softmax's groups of a build's lanes with a tail (37 examples in batches of 19),
    # the gathers, the optimizer and the activations' kernels of that build, against the twin.
    for products in ("own", "blas"):
        compare([30, 24, 17, K], 37, 19, "adam", "both", "relu", output, dtype, products=products)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(hidden_dims=st.lists(st.integers(1, 12), min_size=0, max_size=3), n0=st.integers(1, 12),
       m=st.integers(1, 40), b=st.integers(1, 50), optimizer=st.sampled_from(_loop.OPTIMIZERS),
       hidden=st.sampled_from(_loop.ACTIVATIONS), out=st.sampled_from([("sigmoid", 1), ("softmax", 3),
                                                                       ("identity", 2)]),
       reg=st.sampled_from(list(REGULARIZATION)), dtype=st.sampled_from(DTYPES),
       products=st.sampled_from(_loop.PRODUCTS), seed=st.integers(0, 2**32 - 1))
def test_shapes(hidden_dims, n0, m, b, optimizer, hidden, out, reg, dtype, products, seed):
    output, K = out
    compare([n0] + hidden_dims + [K], m, b, optimizer, reg, hidden, output, dtype, epochs=1, seed=seed,
            products=products, lr=0.002 if optimizer == "rmsprop" else 0.02)


@pytest.mark.parametrize("n, m, seed, layer, iteration", [
    (1, 1, 0, 1, 0), (7, 33, 3, 2, 11), (40, 65, 2**64 - 1, 5, 2**40), (3, 200, 12345, 1, 999)])
def test_dropout_bits(n, m, seed, layer, iteration):
    got = _loop.dropout_uniform(n, m, seed, layer, iteration)
    want = dropout.dropout_uniform((n, m), seed=seed, layer=layer, iteration=iteration)
    np.testing.assert_array_equal(got, want)


def test_dropout_masks_are_the_networks():
    # Keep probability 0.5 on a wide layer: a mask drawn for the wrong (layer, step, unit, example)
    # changes the weights at once; the twin uses dnn.dropout's masks.
    for step0 in (0, 5):
        rng = np.random.default_rng(3)
        X, Y, params = problem(rng, [3, 50, 1], 9, "sigmoid", np.float64)
        ours = {k: a.copy() for k, a in params.items()}
        loop = _loop.Loop([(ours["W1"], ours["b1"]), (ours["W2"], ours["b2"])], X, Y, batch_size=4,
                          keep=[0.5], dropout_seed=11)
        loop.epoch(None, 0.1, 0, step0)
        numpy_epoch(params, X, Y, None, 4, "gd", 0.1, "relu", "sigmoid", [0.5], 0.0, 11, 0, step0, None, None)
        np.testing.assert_allclose(ours["W1"], params["W1"], rtol=1e-12, atol=1e-14)


def fit_twice(dtype, threads):
    out = []
    for _ in range(2):
        rng = np.random.default_rng(5)
        X, Y, params = problem(rng, [30, 40, 20, 3], 300, "softmax", dtype)
        pairs = [(params["W%d" % l], params["b%d" % l]) for l in range(1, 4)]
        v = [(np.zeros_like(W), np.zeros_like(b)) for W, b in pairs]
        s = [(np.zeros_like(W), np.zeros_like(b)) for W, b in pairs]
        loop = _loop.Loop(pairs, X, Y, hidden="leaky_relu", output="softmax", optimizer="adam", batch_size=32,
                          lambd=0.1, keep=[0.9, 0.8], v=v, s=s)
        with threadpool_limits(threads):
            t = step = 0
            for e in range(3):
                loss, t, step = loop.epoch(rng.permutation(300), 0.01, t, step)
        out.append((loss, {k: a.copy() for k, a in params.items()}))
    return out


@pytest.mark.parametrize("dtype", DTYPES)
def test_same_bits_on_repeat(dtype):
    for threads in (1, 2):
        (loss1, p1), (loss2, p2) = fit_twice(dtype, threads)
        assert loss1 == loss2
        for k in p1:
            np.testing.assert_array_equal(p1[k], p2[k])


# --------------------------------------------------------------------------
# The callers
# --------------------------------------------------------------------------

def numpy_model(X, Y, dims, optimizer, lr, b, epochs, lambd, keep_prob, hidden, seed):
    """dnn.model's loop before the compiled loop, over the same initial parameters."""
    from dnn import initializers
    params = initializers.initialize_parameters_he(dims, seed=seed, dtype=X.dtype)
    out = "sigmoid" if dims[-1] == 1 else "softmax"
    L = len(dims) - 1
    v = {"d" + k: np.zeros_like(a) for k, a in params.items()}
    s = {"d" + k: np.zeros_like(a) for k, a in params.items()}
    Xs, Ys = np.ascontiguousarray(X.T), np.ascontiguousarray(Y.T)
    t = step = 0
    costs = []
    for i in range(epochs):
        np.random.seed(seed + 1 + i)
        order = np.random.permutation(X.shape[1])
        total, t, step = numpy_epoch(params, Xs, Ys, order, b, optimizer, lr, hidden, out, [keep_prob] * (L - 1),
                                     lambd, seed, t, step, v, s)
        costs.append(total / X.shape[1])
    return params, costs


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("optimizer, b, kw", [
    ("adam", 16, dict(lambd=0.2, keep_prob=0.85, hidden_activation="tanh")),
    ("momentum", 1, dict(keep_prob=0.9)),
    ("rmsprop", 200, dict(lambd=0.1, hidden_activation="leaky_relu")),
    ("gd", 13, dict()),
])
@pytest.mark.parametrize("K", [1, 3])
def test_model(dtype, optimizer, b, kw, K):
    rng = np.random.default_rng(1)
    m = 50
    X = rng.standard_normal((4, m)).astype(dtype)
    Y = rng.integers(0, 2 if K == 1 else K, (1, m)).astype(dtype)
    Y1h = Y if K == 1 else np.eye(K, dtype=dtype)[Y[0].astype(int)].T
    dims = [4, 6, 5, K]
    lr = 0.001 if optimizer == "rmsprop" else 0.01
    got, costs = dnn.model(X, Y, dims, optimizer, learning_rate=lr, mini_batch_size=b, num_epochs=3,
                           print_cost=False, seed=4, return_costs=True, cost_every=1, dtype=dtype, **kw)
    want, want_costs = numpy_model(X, Y1h, dims, optimizer, lr, b, 3, kw.get("lambd", 0.0),
                                   kw.get("keep_prob", 1.0), kw.get("hidden_activation", "relu"), 4)
    tol = TOL[np.dtype(dtype)]
    np.testing.assert_allclose(costs, want_costs, rtol=tol)
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=tol, atol=tol, err_msg=k)


def numpy_fit_epochs(parameters, state, X, Y, opts, n_epochs, rng):
    """fit_epochs before the compiled loop."""
    keys = state["keys"]
    m = X.shape[0]
    full = opts["solver"] == "gd" or (opts["batch_size"] >= m and not opts["shuffle"])
    b = m if full else min(opts["batch_size"], m)
    optimizer = _engine._optimizer(opts)
    curve = []
    for _ in range(n_epochs):
        order = rng.permutation(m) if opts["shuffle"] and not full else None
        params = {k: parameters[k] for k in keys}
        l2 = []
        total, state["t"], state["step"] = numpy_epoch(
            params, X, Y, order, b, optimizer, state["learning_rate"], opts["hidden"], opts["output"],
            opts["keep"], opts["alpha"], state["dropout_seed"], state["t"], state["step"],
            state.get("v", state.get("velocity")), state.get("s"), beta=opts["momentum"], beta1=opts["beta_1"],
            beta2=opts["beta_2"], eps=opts["epsilon"], l2_parts=l2)
        parameters.update(params)
        # scikit-learn's squared loss averages over the outputs, its L2 term does not
        outputs = Y.shape[1] if opts["output"] == "identity" else 1
        curve.append(((total - sum(l2)) / outputs + sum(l2)) / m)
    return curve


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("solver, momentum, nesterov", [("adam", 0.9, False), ("sgd", 0.9, True),
                                                         ("sgd", 0.8, False), ("sgd", 0.0, False), ("gd", 0.9, True)])
@pytest.mark.parametrize("output, K", [("sigmoid", 1), ("softmax", 3), ("identity", 2)])
@pytest.mark.parametrize("shuffle", [True, False])
def test_fit_epochs(dtype, solver, momentum, nesterov, output, K, shuffle):
    rng = np.random.default_rng(2)
    X, Y, params = problem(rng, [6, 8, K], 45, output, dtype)
    opts = dict(solver=solver, hidden="tanh", output=output, alpha=0.01, keep=[0.9], batch_size=10,
                shuffle=shuffle, momentum=momentum, nesterovs_momentum=nesterov, beta_1=0.9, beta_2=0.999,
                epsilon=1e-8)
    ours, theirs = dict(params), {k: a.copy() for k, a in params.items()}
    state = _engine.new_state(ours, opts, 9)
    state["learning_rate"] = 0.01
    state_np = _engine.new_state(theirs, opts, 9)
    state_np["learning_rate"] = 0.01
    originals = {k: a.copy() for k, a in params.items()}
    got = _engine.fit_epochs(ours, state, X, Y, opts, 3, np.random.default_rng(0))
    want = numpy_fit_epochs(theirs, state_np, X, Y, opts, 3, np.random.default_rng(0))
    tol = TOL[np.dtype(dtype)]
    np.testing.assert_allclose(got, want, rtol=tol)
    assert (state["t"], state["step"]) == (state_np["t"], state_np["step"])
    for k in theirs:
        np.testing.assert_allclose(ours[k], theirs[k], rtol=tol, atol=tol, err_msg=k)
        np.testing.assert_array_equal(params[k], originals[k])  # entries replaced, the caller's arrays unchanged


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kw, K", [(dict(lambd=0.5), 1), (dict(keep_prob=0.8, hidden_activation="tanh"), 1),
                                   (dict(hidden_activation="leaky_relu", output="softmax"), 3), (dict(output="softmax", lambd=0.1), 2)])
def test_L_layer_model_second_part(dtype, kw, K):
    rng = np.random.default_rng(6)
    m = 40
    X = rng.standard_normal((5, m)).astype(dtype)
    Y = rng.integers(0, 2 if K == 1 else K, (1, m))
    dims = [5, 6, 4, K]
    init = dnn.L_layer_model(X, Y, dims, num_iterations=0, seed=2, **kw)
    got, costs = dnn.L_layer_model(X, Y, dims, learning_rate=0.05, num_iterations=30, seed=2, return_costs=True,
                                   cost_every=10, **kw)
    output = kw.get("output") or ("sigmoid" if K == 1 else "softmax")
    Y1h = Y.astype(dtype) if output == "sigmoid" else np.eye(K, dtype=dtype)[Y[0]].T
    params = {k: a.copy() for k, a in init.items()}
    Xs, Ys = np.ascontiguousarray(X.T), np.ascontiguousarray(Y1h.T)
    want_costs = []
    keep = [kw.get("keep_prob", 1.0)] * 2
    for i in range(30):
        total, _, _ = numpy_epoch(params, Xs, Ys, None, m, "gd", 0.05, kw.get("hidden_activation", "relu"), output,
                                  keep, kw.get("lambd", 0.0), 2, 0, i, None, None)
        if i % 10 == 0:
            want_costs.append(total / m)
    tol = TOL[np.dtype(dtype)]
    np.testing.assert_allclose(costs, want_costs, rtol=tol)
    for k in params:
        np.testing.assert_allclose(got[k], params[k], rtol=tol, atol=tol, err_msg=k)


def test_L_layer_model_defaults_keep_the_fast_path(monkeypatch):
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((4, 30)), rng.integers(0, 2, (1, 30))
    base = dnn.L_layer_model(X, Y, [4, 3, 1], num_iterations=20)
    monkeypatch.setattr(_loop, "Loop", None)  # the defaults never reach the mini-batch loop
    again = dnn.L_layer_model(X, Y, [4, 3, 1], num_iterations=20, lambd=0, keep_prob=1.0,
                              hidden_activation="relu", output="sigmoid")
    for k in base:
        np.testing.assert_array_equal(base[k], again[k])


# --------------------------------------------------------------------------
# Bad input: refused, with the argument named, before the compiled code runs
# --------------------------------------------------------------------------

def good(dtype=np.float64):
    rng = np.random.default_rng(0)
    X, Y, p = problem(rng, [3, 4, 1], 10, "sigmoid", dtype)
    return [(p["W1"], p["b1"]), (p["W2"], p["b2"])], X, Y


@pytest.mark.parametrize("change, exc, match", [
    (lambda a: a.update(hidden="sigmoid"), ValueError, "hidden must be one of"),
    (lambda a: a.update(output="relu"), ValueError, "output must be one of"),
    (lambda a: a.update(optimizer="sgd"), ValueError, "optimizer must be one of"),
    (lambda a: a.update(X=a["X"].astype(np.float32)), ValueError, "Y must have dtype float32"),
    (lambda a: a.update(X=a["X"].tolist()), TypeError, "X must be a float32 or float64"),
    (lambda a: a.update(X=np.asfortranarray(a["X"])), ValueError, "X must be an aligned, C-contiguous"),
    (lambda a: a.update(Y=a["Y"][:5]), ValueError, r"Y must have shape \(10, 1\)"),
    (lambda a: a.update(layers=[(a["layers"][0][0][:, :2].copy(), a["layers"][0][1]), a["layers"][1]]),
     ValueError, r"W1 must have shape \(4, 3\), got \(4, 2\)"),
    (lambda a: a.update(layers=[(a["layers"][0][0], a["layers"][0][1][:2]), a["layers"][1]]),
     ValueError, "b1 must have shape"),
    (lambda a: a.update(batch_size=0), ValueError, "batch_size must be at least 1"),
    (lambda a: a.update(keep=[0.0]), ValueError, "keep must hold 1 keep probabilities"),
    (lambda a: a.update(keep=[0.5, 0.5]), ValueError, "keep must hold 1"),
    (lambda a: a.update(lambd=-1.0), ValueError, "lambd must be in"),
    (lambda a: a.update(beta1=float("nan")), ValueError, "beta1 must be in"),
    (lambda a: a.update(optimizer="adam"), ValueError, "v must hold 2"),
    (lambda a: a.update(optimizer="rmsprop", s=[(np.zeros((4, 3)), np.zeros((4, 1)))] * 1), ValueError,
     "s must hold 2"),
    (lambda a: a.update(optimizer="momentum", v=[(np.zeros((4, 3)), np.zeros((4, 1))),
                                                 (np.zeros((1, 4), np.float32), np.zeros((1, 1)))]),
     ValueError, r"v\[1\] \(W2's\) must have dtype float64"),
    (lambda a: a.update(dropout_seed=-1), ValueError, "dropout_seed must be in"),
    (lambda a: a.update(products="fast"), ValueError, "products must be one of"),
    (lambda a: a.update(optimizer="adam", beta1=1.0), ValueError, "Adam's beta1 and beta2 must be below 1"),
])
def test_bad_construction(change, exc, match):
    layers, X, Y = good()
    args = dict(layers=layers, X=X, Y=Y)
    change(args)
    layers, X, Y = args.pop("layers"), args.pop("X"), args.pop("Y")
    with pytest.raises(exc, match=match):
        _loop.Loop(layers, X, Y, **args)


@pytest.mark.parametrize("order, lr, match", [
    (np.arange(9), 0.1, r"order must be an int64 permutation array of shape \(10,\)"),
    (np.arange(10, dtype=np.int32), 0.1, "order must be an int64"),
    (np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 10]), 0.1, r"order must hold indices in \[0, 10\), got 10 at 9"),
    (np.array([-1] + list(range(1, 10))), 0.1, "got -1 at 0"),
    (None, 0.0, "learning_rate must be a finite number > 0"),
    (None, float("inf"), "learning_rate must be a finite number > 0"),
])
def test_bad_epoch(order, lr, match):
    layers, X, Y = good()
    before = [W.copy() for W, _ in layers]
    loop = _loop.Loop(layers, X, Y)
    with pytest.raises(ValueError, match=match):
        loop.epoch(order, lr)
    for (W, _), W0 in zip(layers, before):
        np.testing.assert_array_equal(W, W0)


def test_a_failed_construction_never_runs():
    layers, X, Y = good()
    loop = _loop.Loop.__new__(_loop.Loop)
    with pytest.raises(ValueError, match="the Loop is not initialized"):
        loop.epoch(None, 0.1)
    with pytest.raises(ValueError, match="b2 must have shape"):
        loop.__init__([layers[0], (layers[1][0], np.zeros((3, 1)))], X, Y)
    with pytest.raises(ValueError, match="the Loop is not initialized"):
        loop.epoch(None, 0.1)


def test_read_only_data_is_read_in_place():
    layers, X, Y = good()
    X.flags.writeable = False
    Y.flags.writeable = False
    loss, t, step = _loop.Loop(layers, X, Y, batch_size=3).epoch(None, 0.1)
    assert np.isfinite(loss) and (t, step) == (0, 4)
    W = layers[0][0]
    W.flags.writeable = False
    with pytest.raises(ValueError, match="W1 must be a writeable"):
        _loop.Loop(layers, X, Y)


# --------------------------------------------------------------------------
# The C of dnn/_loop.h, without Python, on other compilers
# --------------------------------------------------------------------------

def _compile_check_loop(cc, out, *extra):
    import subprocess
    from pathlib import Path
    here = Path(__file__).resolve().parent
    headers = here.parent / "dnn"
    if not (headers / "_loop.h").is_file():
        headers = Path(dnn.__file__).parent
    threads = [] if "mingw" in Path(cc).name else ["-pthread"]  # the team's POSIX threads
    cmd = [cc, "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", *threads, *extra, "-I", str(headers),
           str(here / "c" / "check_loop.c"), "-o", str(out), "-lm", *threads]
    res = subprocess.run(cmd, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


@pytest.mark.parametrize("flags", [[], ["-DDNN_NO_VECTOR_EXT"]], ids=["vector", "scalar"])
def test_c_kernels_on_the_host_compiler(tmp_path, flags):
    import shutil
    import subprocess
    cc = shutil.which("gcc") or shutil.which("cc") or shutil.which("clang")
    if cc is None:
        pytest.skip("no C compiler on PATH")
    _compile_check_loop(cc, tmp_path / "check_loop", *flags)
    res = subprocess.run([str(tmp_path / "check_loop")], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout
    got = np.array([float(x) for x in res.stdout.split()]).reshape(3, 4)
    np.testing.assert_array_equal(got, dropout.dropout_uniform((3, 4), seed=5, layer=2, iteration=9))


@pytest.mark.parametrize("cc, package", [("x86_64-w64-mingw32-gcc", "gcc-mingw-w64-x86-64"),
                                         ("aarch64-linux-gnu-gcc", "gcc-aarch64-linux-gnu")])
def test_c_kernels_cross_compile(tmp_path, cc, package):
    import shutil
    path = shutil.which(cc)
    if path is None:
        pytest.skip("%s not found (Debian: apt-get install %s)" % (cc, package))
    _compile_check_loop(path, tmp_path / "check_loop.exe")
    _compile_check_loop(path, tmp_path / "check_loop_scalar.exe", "-DDNN_NO_VECTOR_EXT")


@pytest.mark.parametrize("dtype", DTYPES)
def test_loss_l2_is_the_epochs_l2_part(dtype):
    """``Loop.loss_l2``: the L2 part of the epoch's loss sum, lambd / 2 * sum(W^2) before each batch."""
    rng = np.random.default_rng(4)
    X, Y, params = problem(rng, [5, 6, 2], 30, "identity", dtype)
    pairs = [(params["W%d" % l].copy(), params["b%d" % l].copy()) for l in (1, 2)]
    theirs = {k: a.copy() for k, a in params.items()}
    loop = _loop.Loop(pairs, X, Y, output="identity", optimizer="gd", batch_size=8, lambd=0.2)
    total, _, _ = loop.epoch(None, 0.05, 0, 0)
    l2 = []
    want, _, _ = numpy_epoch(theirs, X, Y, None, 8, "gd", 0.05, "relu", "identity", [1.0], 0.2, 0, 0, 0, None, None,
                             l2_parts=l2)
    tol = TOL[np.dtype(dtype)]
    assert len(l2) == 4 and loop.loss == total
    assert loop.loss_l2 == pytest.approx(sum(l2), rel=tol) and total == pytest.approx(want, rel=tol)
    assert 0 < loop.loss_l2 < total

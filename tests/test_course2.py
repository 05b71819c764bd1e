"""The course's second part in ``dnn`` against its twin in ``dnn.reference``.

Parity: every public function on the same inputs as the reference's, float32
and float64, shapes drawn by hypothesis. Where dnn's NumPy code performs the
reference's operations in the same order (initializations, mini-batches,
optimizers, activations, dropout masks) the results must be the same bits;
elsewhere (costs, the network, whose output gradient is the closed form
``A_L - Y``, and training) within rounding: rtol 1e-12 (float64) / 1e-5
(float32) per step, looser after many steps. Then bad inputs (the documented
exception naming the argument) and a 10-class run reaching a sensible accuracy.
"""
import contextlib
import io
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import dnn
from dnn import network
from dnn import reference as R

DTYPES = [np.float32, np.float64]
RTOL = {np.dtype(np.float32): 2e-5, np.dtype(np.float64): 1e-12}
PROPERTY = settings(max_examples=30, deadline=None, derandomize=True)
dims_st = st.lists(st.integers(1, 12), min_size=2, max_size=5)
dtype_st = st.sampled_from(DTYPES)
seed_st = st.integers(0, 2**32 - 1)


def params_of(rng, dims, dtype, scale=0.8):
    p = {}
    for l in range(1, len(dims)):
        p[f"W{l}"] = (rng.standard_normal((dims[l], dims[l - 1])) * scale / math.sqrt(dims[l - 1])).astype(dtype)
        p[f"b{l}"] = (rng.standard_normal((dims[l], 1)) * 0.1).astype(dtype)
    return p


def grads_of(rng, params):
    return {"d" + k: rng.standard_normal(a.shape).astype(a.dtype) for k, a in params.items()}


def copy(d):
    return {k: a.copy() for k, a in d.items()}


def same(got, want, dtype, what=""):
    assert isinstance(got, np.ndarray) and got.dtype == np.dtype(dtype), (what, type(got), getattr(got, "dtype", None))
    np.testing.assert_array_equal(got, want, err_msg=what)


def close(got, want, dtype, rtol_scale=1.0, what=""):
    dtype = np.dtype(dtype)
    assert isinstance(got, np.ndarray) and got.dtype == dtype, (what, type(got), getattr(got, "dtype", None))
    assert got.shape == np.shape(want), what
    rtol = RTOL[dtype] * rtol_scale
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * (1 + float(np.max(np.abs(want), initial=0))),
                               err_msg=what)


def quiet(f, *args, **kw):
    with contextlib.redirect_stdout(io.StringIO()) as out:
        result = f(*args, **kw)
    return result, out.getvalue()


# --------------------------------------------------------------------------
# Initialization, mini-batches, optimizers: the same bits
# --------------------------------------------------------------------------

@PROPERTY
@given(dims=dims_st, dtype=dtype_st, seed=seed_st)
def test_initializations(dims, dtype, seed):
    for name in ("random", "he", "xavier", "glorot"):
        got = getattr(dnn, "initialize_parameters_" + name)(dims, seed=seed, dtype=dtype)
        want = getattr(R, "initialize_parameters_" + name)(dims, seed=seed, dtype=dtype)
        assert list(got) == list(want)
        for k in want:
            same(got[k], want[k], dtype, name + k)
    got, want = dnn.initialize_parameters_zeros(dims, dtype=dtype), R.initialize_parameters_zeros(dims, dtype=dtype)
    for k in want:
        same(got[k], want[k], dtype, "zeros" + k)


@pytest.mark.parametrize("recipe", ["random", "zeros", "glorot"])
def test_new_recipes_through_initialize_parameters_deep(recipe):
    got = dnn.initialize_parameters_deep([5, 3, 1], init=recipe)
    want = R.initialize_parameters_deep([5, 3, 1], init=recipe)
    for k in want:
        same(got[k], want[k], np.float64, k)


@PROPERTY
@given(n=st.integers(1, 6), m=st.integers(1, 200), size=st.integers(1, 80), k=st.integers(1, 4),
       dtype=dtype_st, seed=seed_st)
def test_random_mini_batches(n, m, size, k, dtype, seed):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, m)).astype(dtype)
    Y = rng.integers(0, 3, (k, m))
    got = dnn.random_mini_batches(X, Y, size, seed)
    want = R.random_mini_batches(X, Y, size, seed)
    assert len(got) == len(want) == math.ceil(m / size)
    for (gx, gy), (wx, wy) in zip(got, want):
        same(gx, wx, dtype, "X")
        np.testing.assert_array_equal(gy, wy)
        assert gy.shape == wy.shape and gy.dtype == Y.dtype
    # every column exactly once, labels alongside
    cols = np.concatenate([b[0] for b in got], axis=1)
    order = np.lexsort(cols[::-1])
    np.testing.assert_array_equal(cols[:, order], X[:, np.lexsort(X[::-1])])


def test_random_mini_batches_do_not_change_their_inputs():
    X = np.arange(12.0).reshape(2, 6)
    Y = np.arange(6).reshape(1, 6)
    batches = dnn.random_mini_batches(X, Y, 4, seed=1)
    batches[0][0][...] = -1
    np.testing.assert_array_equal(X, np.arange(12.0).reshape(2, 6))


@pytest.mark.parametrize("label_dtype", [np.float16, np.longdouble, ">f8", np.float32])
def test_random_mini_batches_take_any_float_labels(label_dtype):
    # The reference takes float16 and long double labels; the finiteness check must too, and
    # still name Y where one is nan (the compiled check reads float32 and float64 only).
    X = np.arange(10.0).reshape(2, 5)
    Y = np.array([[0, 1, 1, 0, 1]], dtype=label_dtype)
    got = dnn.random_mini_batches(X, Y, 2, seed=3)
    want = R.random_mini_batches(X, Y, 2, seed=3)
    assert len(got) == len(want) == 3
    for (gx, gy), (wx, wy) in zip(got, want):
        np.testing.assert_array_equal(gx, wx)
        np.testing.assert_array_equal(gy, wy)
    Y[0, 2] = np.nan
    with pytest.raises(ValueError, match="Y must contain only finite values"):
        dnn.random_mini_batches(X, Y, 2)


@PROPERTY
@given(dims=dims_st, dtype=dtype_st, seed=seed_st, t=st.integers(1, 50))
def test_optimizers(dims, dtype, seed, t):
    rng = np.random.default_rng(seed)
    params = params_of(rng, dims, dtype)
    grads = grads_of(rng, params)

    got = dnn.update_parameters_with_gd(copy(params), grads, 0.1)
    want = R.update_parameters_with_gd(copy(params), grads, 0.1)
    for k in want:
        same(got[k], want[k], dtype, "gd " + k)

    v0 = {k: np.abs(a) for k, a in grads_of(rng, params).items()}  # non-zero state: a real test of the averages
    got, gv = dnn.update_parameters_with_momentum(copy(params), grads, copy(v0), 0.9, 0.05)
    want, wv = R.update_parameters_with_momentum(copy(params), grads, copy(v0), 0.9, 0.05)
    for k in want:
        same(got[k], want[k], dtype, "momentum " + k)
        same(gv["d" + k], wv["d" + k], dtype, "momentum v " + k)

    got, gs = dnn.update_parameters_with_rmsprop(copy(params), grads, copy(v0), 0.99, 0.01, 1e-7)
    want, ws = R.update_parameters_with_rmsprop(copy(params), grads, copy(v0), 0.99, 0.01, 1e-7)
    for k in want:
        same(got[k], want[k], dtype, "rmsprop " + k)
        same(gs["d" + k], ws["d" + k], dtype, "rmsprop s " + k)

    s0 = {k: a * a for k, a in v0.items()}
    g_out = dnn.update_parameters_with_adam(copy(params), grads, copy(v0), copy(s0), t, 0.01, 0.9, 0.999, 1e-8)
    w_out = R.update_parameters_with_adam(copy(params), grads, copy(v0), copy(s0), t, 0.01, 0.9, 0.999, 1e-8)
    assert len(g_out) == 5
    for g, w, what in zip(g_out, w_out, ("parameters", "v", "s", "v_corrected", "s_corrected")):
        assert set(g) == set(w), what
        for k in w:
            same(g[k], w[k], dtype, "adam %s %s" % (what, k))


@pytest.mark.parametrize("dtype", DTYPES)
def test_optimizer_state_initialization(dtype):
    params = params_of(np.random.default_rng(0), [4, 3, 2], dtype)
    for got, want in [(dnn.initialize_velocity(params), R.initialize_velocity(params)),
                      (dnn.initialize_rmsprop(params), R.initialize_rmsprop(params)),
                      *zip(dnn.initialize_adam(params), R.initialize_adam(params))]:
        assert list(got) == list(want) == ["dW1", "db1", "dW2", "db2"]
        for k in want:
            same(got[k], want[k], dtype, k)


def test_updates_store_new_arrays_and_return_the_dicts():
    rng = np.random.default_rng(1)
    params = params_of(rng, [3, 2, 1], np.float64)
    old = copy(params)
    W1 = params["W1"]
    v, s = dnn.initialize_adam(params)
    out = dnn.update_parameters_with_adam(params, grads_of(rng, params), v, s, 1)
    assert out[0] is params and out[1] is v and out[2] is s
    assert params["W1"] is not W1
    np.testing.assert_array_equal(W1, old["W1"])  # the old array is left as it was, as in the course


def test_mixed_dtypes_compute_in_float64():
    rng = np.random.default_rng(2)
    params = params_of(rng, [3, 2, 1], np.float32)
    grads = grads_of(rng, params_of(rng, [3, 2, 1], np.float64))
    got = dnn.update_parameters_with_gd(copy(params), grads, 0.1)
    assert all(a.dtype == np.float64 for a in got.values())
    want = R.update_parameters_with_gd({k: a.astype(np.float64) for k, a in params.items()}, grads, 0.1)
    for k in want:
        same(got[k], want[k], np.float64, k)


@pytest.mark.parametrize("lr0, epoch, rate, interval", [(0.5, 2, 1, 1000), (0.5, 100, 0.3, 100), (0.01, 0, 2.0, 7),
                                                        (0.0007, 4999, 1, 1000), (1, 10**6, 0.5, 3)])
def test_learning_rate_decay(lr0, epoch, rate, interval):
    assert dnn.update_lr(lr0, epoch, rate) == R.update_lr(lr0, epoch, rate)
    assert dnn.schedule_lr_decay(lr0, epoch, rate, interval) == R.schedule_lr_decay(lr0, epoch, rate, interval)


# --------------------------------------------------------------------------
# Activations, dropout, costs
# --------------------------------------------------------------------------

@PROPERTY
@given(n=st.integers(1, 9), m=st.integers(1, 30), dtype=dtype_st, seed=seed_st)
def test_activations(n, m, dtype, seed):
    rng = np.random.default_rng(seed)
    Z = (rng.standard_normal((n, m)) * 3).astype(dtype)
    Z[0, 0] = 0  # the kink
    dA = rng.standard_normal((n, m)).astype(dtype)
    for name in ("tanh", "leaky_relu", "softmax"):
        (A, cache), (A_ref, _) = getattr(dnn, name)(Z), getattr(R, name)(Z)
        same(A, A_ref, dtype, name)
        assert cache is Z
        same(getattr(dnn, name + "_backward")(dA, Z), getattr(R, name + "_backward")(dA, Z), dtype, name + "_backward")
    same(dnn.leaky_relu(Z, 0.2)[0], R.leaky_relu(Z, 0.2)[0], dtype, "alpha")
    same(dnn.leaky_relu_backward(dA, Z, 0.2), R.leaky_relu_backward(dA, Z, 0.2), dtype, "alpha backward")


@PROPERTY
@given(n=st.integers(1, 40), m=st.integers(1, 70), keep=st.floats(0.05, 1.0), seed=st.integers(0, 2**64 - 1),
       layer=st.integers(0, 2**20), iteration=st.integers(0, 2**40), dtype=dtype_st)
def test_dropout_masks(n, m, keep, seed, layer, iteration, dtype):
    same(dnn.dropout_uniform((n, m), seed=seed, layer=layer, iteration=iteration),
         R.dropout_uniform((n, m), seed=seed, layer=layer, iteration=iteration), np.float64, "uniform")
    same(dnn.dropout_mask((n, m), keep, seed=seed, layer=layer, iteration=iteration, dtype=dtype),
         R.dropout_mask((n, m), keep, seed=seed, layer=layer, iteration=iteration, dtype=dtype), dtype, "mask")


@PROPERTY
@given(K=st.integers(2, 10), m=st.integers(1, 40), dtype=dtype_st, seed=seed_st, one_hot=st.booleans())
def test_softmax_cost(K, m, dtype, seed, one_hot):
    rng = np.random.default_rng(seed)
    Z = (rng.standard_normal((K, m)) * 4).astype(dtype)
    Y = rng.integers(0, K, (1, m))
    if one_hot:
        Y = R.labels_one_hot(Y, K)
    close(dnn.softmax_cost(Z, Y), R.softmax_cost(Z, Y), dtype, rtol_scale=4)
    np.testing.assert_array_equal(dnn.labels_one_hot(Y, K), R.labels_one_hot(Y, K))
    np.testing.assert_array_equal(dnn.class_indices(Y, K), R.class_indices(Y, K))


def test_softmax_cost_is_finite_where_softmax_underflows():
    Z = np.array([[0.0, 800.0], [800.0, 0.0]])
    assert float(dnn.softmax_cost(Z, [[0, 1]])) == 800.0


@PROPERTY
@given(dims=dims_st, m=st.integers(1, 20), dtype=dtype_st, seed=seed_st, lambd=st.floats(0, 5))
def test_compute_cost_with_regularization(dims, m, dtype, seed, lambd):
    rng = np.random.default_rng(seed)
    params = params_of(rng, dims, dtype)
    X = rng.standard_normal((dims[0], m)).astype(dtype)
    AL, caches = R.L_model_forward(X, params)
    if dims[-1] == 1:
        Y = (rng.random((1, m)) > 0.5).astype(dtype)
        close(dnn.compute_cost_with_regularization(AL, Y, params, lambd),
              np.asarray(R.compute_cost_with_regularization(AL, Y, params, lambd)), dtype, rtol_scale=50)
    else:
        Y = rng.integers(0, dims[-1], (1, m))
        want = np.asarray(R.compute_cost_with_regularization(AL, Y, params, lambd, ZL=caches[-1][1]))
        close(dnn.compute_cost_with_regularization(AL, Y, params, lambd, ZL=caches[-1][1]), want, dtype,
              rtol_scale=50)
        close(dnn.compute_cost_with_regularization(AL, Y, params, lambd), want, dtype, rtol_scale=50)


@pytest.mark.parametrize("output", ["sigmoid", "identity"])
@pytest.mark.parametrize("label_dtype", [np.float32, np.float64, np.int64, np.uint8])
def test_regularized_cost_takes_the_labels_dtype_as_the_cost_does(output, label_dtype):
    # float32 network, labels of another dtype: the cross-entropy (or AL - Y) is float64 and the
    # regularized cost must not round it back to float32 (a fuzzer's find).
    rng = np.random.default_rng(0)
    params = params_of(rng, [3, 2 if output == "identity" else 1], np.float32)
    AL = rng.random((params["W1"].shape[0], 7)).astype(np.float32)
    Y = (rng.random(AL.shape) > 0.5).astype(label_dtype)
    got = dnn.compute_cost_with_regularization(AL, Y, params, 0.7, output=output)
    want = np.float32 if label_dtype == np.float32 else np.float64
    assert got.dtype == want
    if output == "sigmoid":
        assert got.dtype == dnn.compute_cost(AL, Y).dtype
    # the reference sums the L2 term in float32 (the weights' dtype): float32's tolerance
    ref = np.asarray(R.compute_cost_with_regularization(AL, Y, params, 0.7, output=output))
    close(got.astype(np.float32), ref.astype(np.float32), np.float32)


# --------------------------------------------------------------------------
# The network with the new keywords
# --------------------------------------------------------------------------

KEYWORDS = [dict(), dict(hidden_activation="tanh"), dict(hidden_activation="leaky_relu", lambd=0.5),
            dict(keep_prob=0.7, lambd=0.1), dict(hidden_activation="tanh", keep_prob=0.5)]


@PROPERTY
@given(dims=dims_st, m=st.integers(1, 20), dtype=dtype_st, seed=seed_st, kw=st.sampled_from(KEYWORDS))
def test_network_forward_backward(dims, m, dtype, seed, kw):
    rng = np.random.default_rng(seed)
    params = params_of(rng, dims, dtype)
    X = rng.standard_normal((dims[0], m)).astype(dtype)
    K = dims[-1]
    Y = (rng.random((1, m)) > 0.5).astype(dtype) if K == 1 else rng.integers(0, K, (1, m))
    lambd = kw.get("lambd", 0.0)
    fkw = {k: a for k, a in kw.items() if k != "lambd"}
    AL, caches = network.L_model_forward(X, params, seed=9, iteration=4, **fkw)
    AL_ref, caches_ref = R.L_model_forward(X, params, seed=9, iteration=4, **fkw)
    L = len(dims) - 1
    close(AL, AL_ref, dtype, rtol_scale=10 * L, what="AL")
    assert len(caches) == L
    for l, (c, c_ref) in enumerate(zip(caches, caches_ref)):
        assert len(c) == len(c_ref)
        close(c[1], c_ref[1], dtype, rtol_scale=10 * L, what="Z%d" % (l + 1))
        if len(c) == 3:
            same(c[2], c_ref[2], dtype, "D%d" % (l + 1))
    # the backward pass on the reference's caches: the same Z on both sides of every kink
    g = network.L_model_backward(AL_ref, Y, caches_ref, lambd=lambd, **{k: a for k, a in fkw.items()})
    g_ref = R.L_model_backward(AL_ref, Y, caches_ref, lambd=lambd, **fkw)
    assert set(g) == set(g_ref)
    for k in g_ref:
        # the reference's sigmoid output goes through dAL and its derivative; ours is AL - Y
        close(g[k], g_ref[k], dtype, rtol_scale=1e4 if dtype == np.float64 else 20 * L, what=k)


@pytest.mark.parametrize("dtype", DTYPES)
def test_predict(dtype):
    rng = np.random.default_rng(3)
    for dims in ([4, 5, 1], [4, 5, 3]):
        params = params_of(rng, dims, dtype, scale=3)
        X = rng.standard_normal((4, 50)).astype(dtype)
        y = (rng.random((1, 50)) > 0.5).astype(int) if dims[-1] == 1 else rng.integers(0, 3, (1, 50))
        (p, out) = quiet(network.predict, X, y, params)
        (p_ref, out_ref) = quiet(R.predict, X, y, params)
        np.testing.assert_array_equal(p, p_ref)
        assert p.dtype == (np.float64 if dims[-1] == 1 else np.int64) and p.shape == (1, 50)
        assert out == out_ref and out.startswith("Accuracy: ")


# --------------------------------------------------------------------------
# model: every optimizer x regularization x activation x output on small nets
# --------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("optimizer", ["gd", "momentum", "rmsprop", "adam"])
@pytest.mark.parametrize("kw", [dict(), dict(lambd=0.3), dict(keep_prob=0.8), dict(hidden_activation="tanh"),
                                dict(hidden_activation="leaky_relu", lambd=0.1, keep_prob=[0.9, 0.7])], ids=str)
@pytest.mark.parametrize("K", [1, 3])
def test_model(dtype, optimizer, kw, K):
    rng = np.random.default_rng(4)
    X = rng.standard_normal((5, 70)).astype(dtype)
    noise = rng.standard_normal((3, 70))  # noisy labels: the reference's outputs must not saturate to 0 or 1
    Y = (X[:1] + X[1:2] + noise[:1] > 0).astype(int) if K == 1 else np.argmax(X[:3] + noise, axis=0).reshape(1, -1)
    args = (X, Y, [5, 6, 4, K], optimizer)
    opts = dict(learning_rate=0.01, mini_batch_size=16, num_epochs=12, print_cost=False, return_costs=True,
                cost_every=1, decay=dnn.update_lr, decay_rate=0.1, **kw)
    (params, costs) = dnn.model(*args, **opts)
    (params_ref, costs_ref) = R.model(*args, decay=R.update_lr, **{k: a for k, a in opts.items() if k != "decay"})
    assert len(costs) == 12
    np.testing.assert_allclose(costs, costs_ref, rtol=RTOL[np.dtype(dtype)] * 1e3)
    for k in params_ref:
        close(params[k], params_ref[k], dtype, rtol_scale=1e3, what=k)


def test_model_prints_and_decays_like_the_reference():
    rng = np.random.default_rng(5)
    X = rng.standard_normal((3, 40))
    Y = (X[:1] > 0).astype(float)
    opts = dict(num_epochs=1001, mini_batch_size=64, decay=None)
    _, out = quiet(dnn.model, X, Y, [3, 2, 1], "momentum", **opts)
    _, out_ref = quiet(R.model, X, Y, [3, 2, 1], "momentum", **opts)
    assert out == out_ref and out.splitlines()[1].startswith("Cost after epoch 1000: ")
    _, out = quiet(dnn.model, X, Y, [3, 2, 1], "adam", num_epochs=2, decay=dnn.schedule_lr_decay, decay_rate=1)
    assert out.splitlines()[1] == "learning rate after epoch 0: 0.000700"


def test_model_refuses_a_seed_its_epochs_would_run_past_before_any_work():
    """Epoch i reshuffles with seed + 1 + i: NumPy refused seed + 3 at epoch 2, after two epochs' work."""
    X = np.random.default_rng(6).standard_normal((3, 30))
    Y = (X[:1] > 0).astype(float)
    epochs = []
    with pytest.raises(ValueError, match=r"seed must be in \[0, 2\*\*32 - 1 - num_epochs\] = \[0, 4294967290\] "
                                         r"with num_epochs=5 .*got 4294967293"):
        dnn.model(X, Y, [3, 4, 1], "adam", num_epochs=5, print_cost=False, seed=2**32 - 3,
                  callback=lambda i, cost: epochs.append(i))
    assert epochs == []
    dnn.model(X, Y, [3, 4, 1], "adam", num_epochs=5, print_cost=False, seed=2**32 - 6)  # the largest allowed


def test_model_seed_and_init():
    rng = np.random.default_rng(6)
    X = rng.standard_normal((3, 30))
    Y = (X[:1] > 0).astype(float)
    a = dnn.model(X, Y, [3, 4, 1], "adam", num_epochs=3, print_cost=False, seed=5, init="glorot")
    b = R.model(X, Y, [3, 4, 1], "adam", num_epochs=3, print_cost=False, seed=5, init="glorot")
    c = dnn.model(X, Y, [3, 4, 1], "adam", num_epochs=3, print_cost=False, seed=6, init="glorot")
    for k in a:
        close(a[k], b[k], np.float64, rtol_scale=1e3, what=k)
    assert not np.allclose(a["W1"], c["W1"])


@pytest.mark.parametrize("dtype", DTYPES)
def test_unaligned_inputs_train_as_their_aligned_copies(dtype, unaligned):
    """One feature or a label row, unaligned (a memmap at an odd offset), reached the compiled loop
    as it was (its transpose is a view) and was refused: "X must be an aligned, C-contiguous array"."""
    rng = np.random.default_rng(8)
    X = rng.standard_normal((1, 40)).astype(dtype)
    Y = (X > 0).astype(dtype)
    calls = [lambda X, Y: dnn.model(X, Y, [1, 3, 1], "adam", num_epochs=3, print_cost=False),
             lambda X, Y: dnn.L_layer_model(X, Y, [1, 3, 1], num_iterations=3, lambd=0.1),
             lambda X, Y: dnn.L_layer_model(X, Y, [1, 3, 1], num_iterations=3),
             lambda X, Y: dnn.two_layer_model(X, Y, [1, 3, 1], num_iterations=3)]
    for call in calls:
        want = call(X, Y)
        for Xu, Yu in ((unaligned(X), Y), (X, unaligned(Y))):
            got = call(Xu, Yu)
            for k in want:
                np.testing.assert_array_equal(got[k], want[k], err_msg=k)


# --------------------------------------------------------------------------
# A digits-like multi-class run
# --------------------------------------------------------------------------

def ten_class_set(rng, m, n=64, noise=2.0):
    """m examples of 10 classes in n features: a random prototype per class plus Gaussian noise.

    With noise 2 the classes overlap: the nearest prototype (the best rule)
    classifies about 95% of the test examples right.
    """
    prototypes = rng.standard_normal((n, 10))
    y = rng.integers(0, 10, m)
    X = prototypes[:, y] + noise * rng.standard_normal((n, m))
    return X, y.reshape(1, m)


@pytest.mark.parametrize("dtype", DTYPES)
def test_ten_classes_with_adam_and_softmax(dtype):
    rng = np.random.default_rng(7)
    X, y = ten_class_set(rng, 1500)
    X = X.astype(dtype)
    train, test = slice(0, 1000), slice(1000, 1500)
    params, costs = dnn.model(X[:, train], y[:, train], [64, 32, 10], "adam", learning_rate=0.005, num_epochs=25,
                              print_cost=False, return_costs=True, cost_every=1)
    assert costs[-1] < 0.2 * costs[0]
    assert all(p.dtype == dtype for p in params.values())
    p, out = quiet(network.predict, X[:, test], y[:, test], params)
    accuracy = float(np.mean(p == y[:, test]))
    assert accuracy > 0.85, accuracy  # 0.896 in both dtypes when written; chance is 0.1
    assert out == "Accuracy: %s\n" % np.sum((p == y[:, test]) / 500)


def test_scikit_learn_digits():
    datasets = pytest.importorskip("sklearn.datasets", reason="scikit-learn is not installed")
    digits = datasets.load_digits()
    X = (digits.data / 16.0).T
    y = digits.target.reshape(1, -1)
    order = np.random.default_rng(0).permutation(X.shape[1])
    train, test = order[:1400], order[1400:]
    params = dnn.model(X[:, train], y[:, train], [64, 32, 10], "adam", learning_rate=0.005, num_epochs=40,
                       print_cost=False)
    p, _ = quiet(network.predict, X[:, test], y[:, test], params)
    assert np.mean(p == y[:, test]) > 0.9


# --------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------

P = {"W1": np.ones((2, 3)), "b1": np.zeros((2, 1)), "W2": np.ones((1, 2)), "b2": np.zeros((1, 1))}
G = {"d" + k: a for k, a in P.items()}
X3 = np.ones((3, 4))
Y4 = np.array([[0, 1, 1, 0]])


@pytest.mark.parametrize("call, exc, match", [
    (lambda: dnn.update_parameters_with_gd(P, {"dW1": G["dW1"]}, 0.1), KeyError, "grads has no key 'db1'"),
    (lambda: dnn.update_parameters_with_gd(P, dict(G, dW2=np.ones((2, 2))), 0.1), ValueError,
     r"grads\['dW2'\] must have the shape of parameters\['W2'\]"),
    (lambda: dnn.update_parameters_with_gd(P, dict(G, db1=np.full((2, 1), np.nan)), 0.1), ValueError, "finite"),
    (lambda: dnn.update_parameters_with_gd(P, G, "0.1"), TypeError, "learning_rate must be a real number"),
    (lambda: dnn.update_parameters_with_gd(P, [1], 0.1), TypeError, "grads must be a dict"),
    (lambda: dnn.update_parameters_with_gd({"W1": P["W1"]}, G, 0.1), KeyError, "b1"),
    (lambda: dnn.update_parameters_with_momentum(P, G, {}, 0.9, 0.1), KeyError, "v has no key 'dW1'"),
    (lambda: dnn.update_parameters_with_momentum(P, G, dict(G), 1.5, 0.1), ValueError, r"beta must be in \[0, 1\]"),
    (lambda: dnn.update_parameters_with_rmsprop(P, G, dict(G), 1.0, 0.1), ValueError, r"beta2 must be in \[0, 1\)"),
    (lambda: dnn.update_parameters_with_adam(P, G, dict(G), dict(G), 0), ValueError, "t must be >= 1"),
    (lambda: dnn.update_parameters_with_adam(P, G, dict(G), dict(G), 1.0), TypeError, "t must be an int"),
    (lambda: dnn.update_parameters_with_adam(P, G, dict(G), dict(G), 1, epsilon=0), ValueError, "epsilon must be in"),
    (lambda: dnn.update_parameters_with_adam(P, G, dict(G), "s", 1), TypeError, "s must be a dict"),
    (lambda: dnn.update_lr(0.1, -1, 1), ValueError, "epoch_num must be >= 0"),
    (lambda: dnn.schedule_lr_decay(0.1, 1, 1, 0), ValueError, "time_interval must be >= 1"),
    (lambda: dnn.update_lr(0.1, 1, -1), ValueError, "decay_rate must be in"),
    (lambda: dnn.random_mini_batches(X3, np.ones((1, 5)), 2), ValueError, r"Y must have shape \(k, 4\)"),
    (lambda: dnn.random_mini_batches(X3, Y4, 0), ValueError, "mini_batch_size must be >= 1"),
    (lambda: dnn.random_mini_batches(X3, Y4, 2, seed=-1), ValueError, "seed must be >= 0"),
    (lambda: dnn.random_mini_batches(np.ones(4), Y4, 2), ValueError, "X must be a 2-D array"),
    (lambda: dnn.random_mini_batches("X", Y4, 2), TypeError, "X must be an array of real numbers"),
    (lambda: dnn.initialize_parameters_he([3, 0, 1]), ValueError, r"layers_dims\[1\] must be >= 1"),
    (lambda: dnn.initialize_parameters_random([3, 2], seed=1.5), TypeError, "seed must be an int"),
    (lambda: dnn.initialize_parameters_zeros([3, 2], dtype=np.int8), ValueError, "dtype must be float32 or float64"),
    (lambda: dnn.tanh("Z"), TypeError, "Z must be an array of real numbers"),
    (lambda: dnn.tanh_backward(np.ones((2, 2)), np.ones((2, 3))), ValueError, "dA must have the shape of cache"),
    (lambda: dnn.leaky_relu(np.ones(3), alpha=2), ValueError, r"alpha must be in \[0, 1\]"),
    (lambda: dnn.softmax(np.ones(3)), ValueError, "Z must be a 2-D array"),
    (lambda: dnn.softmax(np.array([[np.inf, 0.0]])), ValueError, "finite"),
    (lambda: dnn.softmax_cost(np.ones((3, 4)), [[0, 1, 3, 0]]), ValueError, r"class indices 0..2, got also \[3.0\]"),
    (lambda: dnn.softmax_cost(np.ones((3, 4)), [[0, 1, 0.5, 0]]), ValueError, "class indices"),
    (lambda: dnn.softmax_cost(np.ones((3, 4)), np.ones((3, 4))), ValueError, "must be one-hot"),
    (lambda: dnn.softmax_cost(np.ones((1, 4)), Y4), ValueError, "at least 2 rows"),
    (lambda: dnn.softmax_cost(np.ones((3, 4)), [[0, 1]]), ValueError, r"class indices of shape \(1, 4\)"),
    (lambda: dnn.compute_cost_with_regularization(np.full((1, 4), 0.5), Y4, P, -1), ValueError, "lambd must be in"),
    (lambda: dnn.compute_cost_with_regularization(np.full((1, 4), 0.5), Y4, P, 0.1, output="softmax"), ValueError,
     "at least 2 output units"),
    (lambda: dnn.dropout_mask((2, 3), 0), ValueError, r"keep_prob must be in \(0, 1\]"),
    (lambda: dnn.dropout_mask((2, 3), 0.5, seed=2**64), ValueError, "seed must be below 2\\*\\*64"),
    (lambda: dnn.dropout_mask((2,), 0.5), ValueError, r"shape must be \(n, m\)"),
    (lambda: network.L_model_forward(X3, P, hidden_activation="sigmoid"), ValueError,
     "hidden_activation must be one of"),
    (lambda: network.L_model_forward(X3, P, output="softmax"), ValueError, "needs at least 2 output units"),
    (lambda: network.L_model_forward(X3, P, keep_prob=[0.5, 0.5]), ValueError, "one entry per hidden layer, 1"),
    (lambda: network.L_model_forward(X3, P, keep_prob=1.5), ValueError, r"keep_prob must be in \(0, 1\]"),
    (lambda: network.L_model_forward(np.ones((2, 4)), P), ValueError, "X must have 3 rows"),
    (lambda: network.L_model_backward(np.full((1, 4), 0.5), Y4, [], lambd=0.1), ValueError, "non-empty list"),
    (lambda: network.L_model_backward(network.L_model_forward(X3, P)[0], [[0, 2, 1, 0]],
                                      network.L_model_forward(X3, P)[1]), ValueError, "labels 0 and 1"),
    (lambda: network.L_model_backward(*network.L_model_forward(X3, P, keep_prob=0.5)[:1], Y4,
                                      network.L_model_forward(X3, P)[1], keep_prob=0.5), ValueError,
     r"caches\[0\] must be the tuple \(\(A_prev, W, b\), Z, D\), got a tuple of 2 entries"),
    (lambda: dnn.model(X3, Y4, [3, 2, 1], "sgd"), ValueError, "optimizer must be one of 'gd', 'momentum'"),
    (lambda: dnn.model(X3, Y4, [3, 2, 1], "adam", learning_rate=0), ValueError, "learning_rate must be in"),
    (lambda: dnn.model(X3, Y4, [3, 2, 1], "adam", num_epochs=-1), ValueError, "num_epochs must be >= 0"),
    (lambda: dnn.model(X3, Y4, [3, 2, 1], "adam", decay="update_lr"), TypeError, "decay must be None or a function"),
    (lambda: dnn.model(X3, Y4, [3, 2, 1], "adam", init="xavier"), ValueError, "init must be one of"),
    (lambda: dnn.model(X3, Y4, [4, 2, 1], "adam"), ValueError, "X must have 4 rows"),
    (lambda: dnn.model(X3, [[0, 1, 2, 0]], [3, 2, 1], "adam"), ValueError, "labels 0 and 1"),
    (lambda: dnn.model(X3, [[0, 1, 2, 3]], [3, 2, 3], "adam"), ValueError, "class indices 0..2"),
    (lambda: dnn.model(X3, Y4, [3, 2, 1], "adam", output="softmax"), ValueError, "at least 2 output units"),
    (lambda: dnn.model(X3, Y4, [3, 2, 2], "adam", output="sigmoid"), ValueError, "needs one output unit"),
    # (identity passed the keyword check, then trained one-hot targets with the softmax cost)
    (lambda: dnn.model(X3, np.eye(2)[[0, 1, 1, 0]].T, [3, 2, 2], "adam", output="identity"), ValueError,
     "output must be one of 'sigmoid', 'softmax', got 'identity'"),
])
def test_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_bad_input_changes_nothing():
    params = copy(P)
    v = {"dW1": np.zeros((2, 3))}
    with pytest.raises(KeyError):
        dnn.update_parameters_with_momentum(params, G, v, 0.9, 0.1)
    assert list(v) == ["dW1"]
    for k in P:
        assert params[k] is not P[k] and np.array_equal(params[k], P[k])


@pytest.mark.parametrize("name", R.COURSE2)
def test_public_names(name):
    namespace = {}
    exec("from dnn import *", namespace)
    assert callable(namespace.get(name)), name
    assert namespace[name] is not getattr(R, name), f"dnn.{name} must not be the reference's"

"""Tests of ``dnn.reference``'s second part (initialization, mini-batches,
optimizers, L2, dropout, tanh, leaky ReLU, softmax, ``model``): the oracle the
public functions are compared with (``tests/test_course2.py``).

Checked independently of the reference's own code:
1. the course's published test-case values, built from the test cases' seeds
   (initialization, mini-batches, momentum, Adam, the L2 cost);
2. formulas written again with scalar ``math`` or explicit loops;
3. centred finite differences of the cost for the softmax, tanh, leaky ReLU,
   L2 and dropout gradients (dropout's masks are fixed: they are a function
   of (seed, layer, iteration), the same in every evaluation);
4. the dropout generator against SplitMix64 written with Python ints and its
   published first output.
Published values not reproduced here: the course's dropout forward/backward
test cases (they draw masks with ``np.random.rand``, which the counter-based
masks replace) and ``backward_propagation_with_regularization_test_case``
(its caches are hard-coded arrays not derivable from a seed).
"""
import contextlib
import io
import math

import numpy as np
import pytest

from dnn import reference as R


def params_of(rng, dims, scale=0.8):
    p = {}
    for l in range(1, len(dims)):
        p[f"W{l}"] = rng.standard_normal((dims[l], dims[l - 1])) * scale / math.sqrt(dims[l - 1])
        p[f"b{l}"] = rng.standard_normal((dims[l], 1)) * 0.1
    return p


def seed1_test_case():
    """The course's update_parameters_with_{momentum,adam}_test_case: seed 1, then these draws."""
    np.random.seed(1)
    W1 = np.random.randn(2, 3)
    b1 = np.random.randn(2, 1)
    W2 = np.random.randn(3, 3)
    b2 = np.random.randn(3, 1)
    dW1 = np.random.randn(2, 3)
    db1 = np.random.randn(2, 1)
    dW2 = np.random.randn(3, 3)
    db2 = np.random.randn(3, 1)
    return dict(W1=W1, b1=b1, W2=W2, b2=b2), dict(dW1=dW1, db1=db1, dW2=dW2, db2=db2)


# --------------------------------------------------------------------------
# 1. The course's published values
# --------------------------------------------------------------------------

def test_initialize_parameters_random_published():
    p = R.initialize_parameters_random([3, 2, 1])
    np.testing.assert_allclose(p["W1"], [[17.88628473, 4.36509851, 0.96497468],
                                         [-18.63492703, -2.77388203, -3.54758979]], rtol=0, atol=5e-9)
    np.testing.assert_allclose(p["W2"], [[-0.82741481, -6.27000677]], rtol=0, atol=5e-9)
    assert not p["b1"].any() and p["b1"].shape == (2, 1) and p["b2"].shape == (1, 1)


def test_initialize_parameters_he_published():
    p = R.initialize_parameters_he([2, 4, 1])
    np.testing.assert_allclose(p["W1"], [[1.78862847, 0.43650985], [0.09649747, -1.8634927],
                                         [-0.2773882, -0.35475898], [-0.08274148, -0.62700068]], rtol=0, atol=5e-9)
    np.testing.assert_allclose(p["W2"], [[-0.03098412, -0.33744411, -0.92904268, 0.62552248]], rtol=0, atol=5e-9)


def test_initialize_parameters_zeros_draws_nothing():
    np.random.seed(5)
    before = np.random.get_state()[1].copy()
    p = R.initialize_parameters_zeros([3, 2, 1])
    np.testing.assert_array_equal(np.random.get_state()[1], before)
    assert list(p) == ["W1", "b1", "W2", "b2"]
    assert p["W1"].shape == (2, 3) and not any(a.any() for a in p.values())


@pytest.mark.parametrize("fn, scale", [
    (R.initialize_parameters_xavier, lambda n_prev, n: math.sqrt(1 / n_prev)),
    (R.initialize_parameters_glorot, lambda n_prev, n: math.sqrt(2 / (n_prev + n))),
    (R.initialize_parameters_he, lambda n_prev, n: math.sqrt(2 / n_prev)),
])
def test_scaled_initializations_are_seed3_draws_scaled(fn, scale):
    dims = [5, 4, 3]
    p = fn(dims)
    np.random.seed(3)
    for l in range(1, 3):
        draw = np.random.randn(dims[l], dims[l - 1])
        np.testing.assert_allclose(p[f"W{l}"], draw * scale(dims[l - 1], dims[l]), rtol=1e-15)


@pytest.mark.parametrize("recipe, fn", [("random", R.initialize_parameters_random),
                                        ("zeros", R.initialize_parameters_zeros),
                                        ("glorot", R.initialize_parameters_glorot)])
def test_new_recipes_match_their_functions(recipe, fn):
    a = R.initialize_parameters_deep([6, 3, 2], init=recipe)
    b = fn([6, 3, 2])
    for k in b:
        np.testing.assert_array_equal(a[k], b[k])


def test_random_mini_batches_published():
    # random_mini_batches_test_case: seed 1, X randn (12288, 148), Y randn < 0.5; batches of 64.
    np.random.seed(1)
    X = np.random.randn(12288, 148)
    Y = np.random.randn(1, 148) < 0.5
    batches = R.random_mini_batches(X, Y, 64)
    assert [b[0].shape for b in batches] == [(12288, 64), (12288, 64), (12288, 20)]
    assert [b[1].shape for b in batches] == [(1, 64), (1, 64), (1, 20)]
    np.testing.assert_allclose(batches[0][0][0][0:3], [0.90085595, -0.7612069, 0.2344157], rtol=0, atol=5e-9)


def test_update_parameters_with_momentum_published():
    params, grads = seed1_test_case()
    v = R.initialize_velocity(params)
    params, v = R.update_parameters_with_momentum(params, grads, v, beta=0.9, learning_rate=0.01)
    expected = {
        "W1": [[1.62544598, -0.61290114, -0.52907334], [-1.07347112, 0.86450677, -2.30085497]],
        "b1": [[1.74493465], [-0.76027113]],
        "W2": [[0.31930698, -0.24990073, 1.4627996], [-2.05974396, -0.32173003, -0.38320915],
               [1.13444069, -1.0998786, -0.1713109]],
        "b2": [[-0.87809283], [0.04055394], [0.58207317]],
    }
    for k, want in expected.items():
        np.testing.assert_allclose(params[k], want, rtol=0, atol=5e-9, err_msg=k)
    np.testing.assert_allclose(v["dW1"], [[-0.11006192, 0.11447237, 0.09015907],
                                          [0.05024943, 0.09008559, -0.06837279]], rtol=0, atol=5e-9)


def test_update_parameters_with_adam_published():
    params, grads = seed1_test_case()
    v, s = R.initialize_adam(params)
    params, v, s, v_corr, s_corr = R.update_parameters_with_adam(params, grads, v, s, t=2, learning_rate=0.01,
                                                                 beta1=0.9, beta2=0.999, epsilon=1e-8)
    expected = {
        "W1": [[1.63178673, -0.61919778, -0.53561312], [-1.08040999, 0.85796626, -2.29409733]],
        "b1": [[1.75225313], [-0.75376553]],
        "W2": [[0.32648046, -0.25681174, 1.46954931], [-2.05269934, -0.31497584, -0.37661299],
               [1.14121081, -1.09244991, -0.16498684]],
    }
    for k, want in expected.items():
        np.testing.assert_allclose(params[k], want, rtol=0, atol=5e-9, err_msg=k)
    # and the corrected moments are the moments over (1 - beta^t)
    np.testing.assert_allclose(v_corr["dW1"], v["dW1"] / (1 - 0.9 ** 2), rtol=1e-15)
    np.testing.assert_allclose(s_corr["db2"], s["db2"] / (1 - 0.999 ** 2), rtol=1e-15)


def test_compute_cost_with_regularization_published():
    np.random.seed(1)
    Y = np.array([[1, 1, 0, 1, 0]])
    p = {}
    for name, shape in (("W1", (2, 3)), ("b1", (2, 1)), ("W2", (3, 2)), ("b2", (3, 1)), ("W3", (1, 3)), ("b3", (1, 1))):
        p[name] = np.random.randn(*shape)
    a3 = np.array([[0.40682402, 0.01629284, 0.16722898, 0.10118111, 0.40682402]])
    assert abs(float(R.compute_cost_with_regularization(a3, Y, p, lambd=0.1)) - 1.78648594516) < 1e-11


def test_learning_rate_decay_formulas():
    assert R.update_lr(0.5, 2, 1) == pytest.approx(0.5 / 3, rel=1e-15)
    assert R.schedule_lr_decay(0.5, 10, 0.3, 100) == 0.5
    assert R.schedule_lr_decay(0.5, 100, 0.3, 100) == pytest.approx(0.5 / 1.3, rel=1e-15)
    assert R.schedule_lr_decay(0.5, 199, 0.3, 100) == pytest.approx(0.5 / 1.3, rel=1e-15)
    assert R.schedule_lr_decay(0.5, 2500, 1, 1000) == pytest.approx(0.5 / 3, rel=1e-15)


# --------------------------------------------------------------------------
# 2. Formulas, element by element
# --------------------------------------------------------------------------

def test_activations_elementwise(rng):
    Z = rng.standard_normal((3, 5)) * 3
    dA = rng.standard_normal((3, 5))
    for (i, j), z in np.ndenumerate(Z):
        assert R.tanh(Z)[0][i, j] == pytest.approx(math.tanh(z), rel=1e-14)
        assert R.tanh_backward(dA, Z)[i, j] == pytest.approx(dA[i, j] * (1 - math.tanh(z) ** 2), rel=1e-13)
        assert R.leaky_relu(Z)[0][i, j] == (z if z > 0 else 0.01 * z)
        assert R.leaky_relu_backward(dA, Z)[i, j] == (dA[i, j] if z > 0 else 0.01 * dA[i, j])
    A, cache = R.softmax(Z)
    assert cache is Z
    for j in range(5):
        e = [math.exp(z) for z in Z[:, j]]
        np.testing.assert_allclose(A[:, j], [x / sum(e) for x in e], rtol=1e-14)
    assert R.leaky_relu_backward(np.ones((1, 1)), np.zeros((1, 1)))[0, 0] == 0.01  # slope alpha at 0


def test_softmax_is_stable_and_cost_is_log_softmax():
    Z = np.array([[1000.0, -1000.0], [0.0, 0.0], [-1000.0, 1000.0]])
    A, _ = R.softmax(Z)
    assert np.isfinite(A).all()
    np.testing.assert_allclose(A.sum(axis=0), 1.0, rtol=1e-15)
    cost = float(R.softmax_cost(Z, np.array([[1, 1]])))  # both examples: the class of Z = 0
    assert cost == pytest.approx(1000.0, rel=1e-14)
    Zs = np.array([[2.0, 0.5], [1.0, -1.0], [0.1, 3.0]])
    Y = np.array([[0, 2]])
    want = -(math.log(math.exp(2) / sum(math.exp(z) for z in Zs[:, 0]))
             + math.log(math.exp(3) / sum(math.exp(z) for z in Zs[:, 1]))) / 2
    assert float(R.softmax_cost(Zs, Y)) == pytest.approx(want, rel=1e-14)
    assert float(R.softmax_cost(Zs, R.labels_one_hot(Y, 3))) == pytest.approx(want, rel=1e-14)


def test_labels_one_hot_and_class_indices():
    Y = np.array([[2, 0, 1, 2]])
    H = R.labels_one_hot(Y, 3)
    np.testing.assert_array_equal(H, [[0, 1, 0, 0], [0, 0, 1, 0], [1, 0, 0, 1]])
    assert R.labels_one_hot(H, 3) is H or np.array_equal(R.labels_one_hot(H, 3), H)
    np.testing.assert_array_equal(R.class_indices(H, 3), Y)
    np.testing.assert_array_equal(R.class_indices(Y.ravel(), 3), Y)


def test_adam_first_step_moves_each_weight_by_the_learning_rate():
    # t = 1: v_corrected = g, s_corrected = g^2, so the step is lr * g / (|g| + eps).
    params, grads = seed1_test_case()
    old = {k: a.copy() for k, a in params.items()}
    v, s = R.initialize_adam(params)
    params, *_ = R.update_parameters_with_adam(params, grads, v, s, 1, 0.01, 0.9, 0.999, 1e-8)
    for k in old:
        g = grads["d" + k]
        np.testing.assert_allclose(params[k], old[k] - 0.01 * g / (np.abs(g) + 1e-8), rtol=1e-14)


def test_rmsprop_by_loops(rng):
    params, grads = seed1_test_case()
    s = R.initialize_rmsprop(params)
    s["dW1"] = rng.random((2, 3))
    old_W1, old_s = params["W1"].copy(), s["dW1"].copy()
    params, s = R.update_parameters_with_rmsprop(params, grads, s, 0.9, 0.05, 1e-8)
    for (i, j), w in np.ndenumerate(old_W1):
        g = grads["dW1"][i, j]
        s_ij = 0.9 * old_s[i, j] + 0.1 * g * g
        assert s["dW1"][i, j] == pytest.approx(s_ij, rel=1e-14)
        assert params["W1"][i, j] == pytest.approx(w - 0.05 * g / (math.sqrt(s_ij) + 1e-8), rel=1e-14)


def test_gd_step_and_momentum_with_beta_0_is_gd():
    params, grads = seed1_test_case()
    p1 = R.update_parameters_with_gd({k: a.copy() for k, a in params.items()}, grads, 0.1)
    p2, _ = R.update_parameters_with_momentum({k: a.copy() for k, a in params.items()}, grads,
                                              R.initialize_velocity(params), 0.0, 0.1)
    for k in params:
        np.testing.assert_allclose(p1[k], params[k] - 0.1 * grads["d" + k], rtol=1e-15)
        np.testing.assert_array_equal(p1[k], p2[k])


# --------------------------------------------------------------------------
# 3. Finite differences of the cost
# --------------------------------------------------------------------------

def total_cost(X, Y, params, kw, lambd):
    AL, caches = R.L_model_forward(X, params, **kw)
    if AL.shape[0] > 1:
        ce = float(R.softmax_cost(caches[-1][1], Y))
    else:
        ce = float(R.compute_cost(AL, Y))
    m = X.shape[1]
    return ce + lambd / (2 * m) * sum(float(np.sum(params[f"W{l}"] ** 2)) for l in range(1, len(params) // 2 + 1))


@pytest.mark.parametrize("hidden", ["relu", "tanh", "leaky_relu"])
@pytest.mark.parametrize("K", [1, 4])
@pytest.mark.parametrize("lambd, keep_prob", [(0.0, 1.0), (0.7, 1.0), (0.0, 0.6), (0.3, [0.5, 0.8])])
def test_L_model_backward_by_finite_differences(rng, hidden, K, lambd, keep_prob):
    dims = [4, 5, 3, K]
    m = 7
    X = rng.standard_normal((4, m))
    Y = (rng.random((1, m)) > 0.5).astype(float) if K == 1 else rng.integers(0, K, (1, m))
    params = params_of(rng, dims)
    kw = dict(hidden_activation=hidden, keep_prob=keep_prob, seed=11, iteration=3)
    AL, caches = R.L_model_forward(X, params, **kw)
    if keep_prob != 1.0:
        assert len(caches[0]) == 3 and len(caches[1]) == 3 and len(caches[2]) == 2
        assert 0 < caches[0][2].mean() < 1  # some units dropped, not all
    grads = R.L_model_backward(AL, Y, caches, lambd=lambd, keep_prob=keep_prob, hidden_activation=hidden)
    eps = 1e-6
    for key in params:
        P = params[key]
        num = np.empty_like(P)
        for idx in np.ndindex(P.shape):
            old = P[idx]
            P[idx] = old + eps
            plus = total_cost(X, Y, params, kw, lambd)
            P[idx] = old - eps
            minus = total_cost(X, Y, params, kw, lambd)
            P[idx] = old
            num[idx] = (plus - minus) / (2 * eps)
        np.testing.assert_allclose(grads["d" + key], num, rtol=1e-5, atol=1e-8, err_msg=key)


def test_softmax_backward_by_finite_differences(rng):
    Z = rng.standard_normal((4, 3))
    dA = rng.standard_normal((4, 3))
    dZ = R.softmax_backward(dA, Z)
    eps = 1e-6
    for idx in np.ndindex(Z.shape):
        Zp, Zm = Z.copy(), Z.copy()
        Zp[idx] += eps
        Zm[idx] -= eps
        num = (np.sum(dA * R.softmax(Zp)[0]) - np.sum(dA * R.softmax(Zm)[0])) / (2 * eps)
        assert dZ[idx] == pytest.approx(num, rel=1e-6, abs=1e-9)


def test_softmax_output_gradient_is_AL_minus_Y(rng):
    params = params_of(rng, [3, 4, 3])
    X = rng.standard_normal((3, 6))
    Y = np.array([[0, 1, 2, 2, 1, 0]])
    AL, caches = R.L_model_forward(X, params)  # softmax inferred: 3 output units
    np.testing.assert_allclose(AL.sum(axis=0), 1, rtol=1e-15)
    grads = R.L_model_backward(AL, Y, caches)
    dZ = AL - R.labels_one_hot(Y, 3)
    np.testing.assert_allclose(grads["dW2"], dZ @ caches[1][0][0].T / 6, rtol=1e-14)
    grads_1h = R.L_model_backward(AL, R.labels_one_hot(Y, 3), caches)
    for k in grads:
        np.testing.assert_array_equal(grads[k], grads_1h[k])


def test_default_keywords_leave_the_course_numbers(rng):
    params = params_of(rng, [5, 4, 1])
    X = rng.standard_normal((5, 9))
    Y = (rng.random((1, 9)) > 0.5).astype(float)
    AL, caches = R.L_model_forward(X, params)
    AL2, caches2 = R.L_model_forward(X, params, hidden_activation="relu", output="sigmoid", keep_prob=1.0)
    np.testing.assert_array_equal(AL, AL2)
    A1, c1 = R.linear_activation_forward(X, params["W1"], params["b1"], "relu")
    A2, _ = R.linear_activation_forward(A1, params["W2"], params["b2"], "sigmoid")
    np.testing.assert_array_equal(AL, A2)
    g = R.L_model_backward(AL, Y, caches)
    g0 = R.L_model_backward(AL, Y, caches, lambd=0.0, keep_prob=1.0)
    for k in g:
        np.testing.assert_array_equal(g[k], g0[k])


# --------------------------------------------------------------------------
# 4. Dropout masks
# --------------------------------------------------------------------------

MASK64 = 2**64 - 1


def splitmix_int(state, k):
    """SplitMix64's k-th output from ``state``, with Python ints (from the published algorithm)."""
    z = (state + k * 0x9E3779B97F4A7C15) & MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def test_splitmix_first_output_is_the_published_one():
    assert splitmix_int(0, 1) == 0xE220A8397B1DCDAF
    assert int(R._splitmix(np.zeros(1, np.uint64), np.ones(1, np.uint64))[0]) == 0xE220A8397B1DCDAF


@pytest.mark.parametrize("seed, layer, iteration", [(0, 1, 0), (12345, 3, 999), (2**64 - 1, 2, 2**40)])
def test_dropout_uniform_is_the_documented_hash(seed, layer, iteration):
    u = R.dropout_uniform((3, 4), seed=seed, layer=layer, iteration=iteration)
    h = splitmix_int(splitmix_int(seed, layer + 1), iteration + 1)
    for i in range(3):
        row = splitmix_int(h, i + 1)
        for j in range(4):
            assert u[i, j] == (splitmix_int(row, j + 1) >> 11) / 2.0**53


def test_dropout_masks_are_reproducible_and_keyed(rng):
    D = R.dropout_mask((50, 400), 0.8, seed=7, layer=2, iteration=5)
    np.testing.assert_array_equal(D, R.dropout_mask((50, 400), 0.8, seed=7, layer=2, iteration=5))
    assert abs(D.mean() - 0.8) < 0.01  # 20000 draws: 5 standard deviations is 0.014
    for other in (dict(seed=8, layer=2, iteration=5), dict(seed=7, layer=3, iteration=5),
                  dict(seed=7, layer=2, iteration=6)):
        assert (R.dropout_mask((50, 400), 0.8, **other) != D).mean() > 0.2
    # a mask is a prefix of any larger one: it depends on (unit, example), not on the shape
    np.testing.assert_array_equal(R.dropout_mask((5, 9), 0.5, seed=1, layer=1, iteration=2),
                                  R.dropout_mask((50, 400), 0.5, seed=1, layer=1, iteration=2)[:5, :9])
    u = R.dropout_uniform((100, 100), seed=3, layer=1, iteration=0)
    assert 0 <= u.min() and u.max() < 1
    counts = np.histogram(u, bins=10, range=(0, 1))[0]
    assert counts.min() > 850 and counts.max() < 1150  # 1000 expected per bin, sd 30


def test_dropout_forward_is_the_masked_scaled_activation(rng):
    params = params_of(rng, [3, 6, 1])
    X = rng.standard_normal((3, 8))
    AL, caches = R.L_model_forward(X, params, keep_prob=0.5, seed=4, iteration=1)
    D = R.dropout_mask((6, 8), 0.5, seed=4, layer=1, iteration=1)
    np.testing.assert_array_equal(caches[0][2], D)
    np.testing.assert_allclose(caches[1][0][0], np.maximum(caches[0][1], 0) * D / 0.5, rtol=1e-15)


# --------------------------------------------------------------------------
# 5. Mini-batches and model
# --------------------------------------------------------------------------

@pytest.mark.parametrize("m, size", [(1, 64), (64, 64), (65, 64), (148, 64), (10, 3), (7, 1)])
def test_random_mini_batches_partition_a_permutation(m, size):
    X = np.arange(2 * m, dtype=float).reshape(2, m)
    Y = np.arange(m).reshape(1, m) % 3
    batches = R.random_mini_batches(X, Y, size, seed=5)
    assert [b[0].shape[1] for b in batches] == [size] * (m // size) + ([m % size] if m % size else [])
    cols = np.concatenate([b[0] for b in batches], axis=1)
    np.random.seed(5)
    np.testing.assert_array_equal(cols, X[:, np.random.permutation(m)])
    ys = np.concatenate([b[1] for b in batches], axis=1)
    np.testing.assert_array_equal(ys, Y[:, cols[0].astype(int)])


def test_model_prints_like_the_course_and_learns(rng):
    X = rng.standard_normal((2, 300))
    Y = (X[0:1] * X[1:2] + 0.3 * rng.standard_normal((1, 300)) > 0).astype(float)  # noisy: no saturation
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        params, costs = R.model(X, Y, [2, 8, 4, 1], "adam", learning_rate=0.01, num_epochs=1001,
                                return_costs=True, decay=R.update_lr, decay_rate=0.001)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("Cost after epoch 0: ") and lines[1].startswith("learning rate after epoch 0: ")
    assert lines[2].startswith("Cost after epoch 1000: ")
    assert float(lines[3].split(": ")[1]) == pytest.approx(0.01 / (1 + 0.001 * 1000), abs=5e-7)
    assert len(costs) == 11 and costs[-1] < 0.7 * costs[0] and all(np.isfinite(costs))

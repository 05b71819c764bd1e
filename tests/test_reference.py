"""Tests of ``dnn.reference``, the pure-NumPy oracle the compiled API is compared with.

The oracle is checked four independent ways, so that a parity test against it
means something:

1. a worked example whose arithmetic is written out by hand in the comments;
2. every function against its formula from the articles, written again here
   with scalar ``math`` or explicit loops (not the reference's NumPy code);
3. centred finite differences of the cost for ``L_model_backward``;
4. the published initialization code and the course's published cost history
   on the real cat data.
"""
import math

import numpy as np
import pytest

from dnn import reference as R


def sig(z):
    """Scalar sigmoid written from the formula 1 / (1 + e^-z)."""
    return 1.0 / (1.0 + math.exp(-z))


def cost_of(params, X, Y):
    AL, _ = R.L_model_forward(X, params)
    return float(R.compute_cost(AL, Y))


def random_params(rng, dims, scale=0.7):
    """Random float64 parameters (non-zero biases) with moderate weights, so AL stays inside (0, 1)."""
    params = {}
    for l in range(1, len(dims)):
        params[f"W{l}"] = rng.standard_normal((dims[l], dims[l - 1])) * scale / math.sqrt(dims[l - 1])
        params[f"b{l}"] = rng.standard_normal((dims[l], 1)) * 0.1
    return params


def random_labels(rng, m):
    Y = (rng.random((1, m)) > 0.5).astype(np.float64)
    Y[0, 0] = 1.0  # both classes present whenever m > 1
    if m > 1:
        Y[0, 1] = 0.0
    return Y


# --------------------------------------------------------------------------
# 1. A worked example, by hand
# --------------------------------------------------------------------------

class TestWorkedExample:
    """A 2-layer net (n_x=2, n_1=2, n_y=1) on m=2 examples, every number written out.

        X  = [[1,  2],      W1 = [[0.5, -0.5],    b1 = [[ 0],
              [3, -1]]            [1.0,  0.0]]          [-1]]
        W2 = [[2, -1]]      b2 = [[0.5]]          Y  = [[1, 0]]
    """

    X = np.array([[1.0, 2.0], [3.0, -1.0]])
    Y = np.array([[1.0, 0.0]])
    W1 = np.array([[0.5, -0.5], [1.0, 0.0]])
    b1 = np.array([[0.0], [-1.0]])
    W2 = np.array([[2.0, -1.0]])
    b2 = np.array([[0.5]])

    def params(self):
        return {"W1": self.W1.copy(), "b1": self.b1.copy(), "W2": self.W2.copy(), "b2": self.b2.copy()}

    def test_forward_cost_backward_update(self):
        AL, caches = R.L_model_forward(self.X, self.params())

        # Z1 = W1 X + b1
        #   row 1: 0.5*1 - 0.5*3 + 0 = -1      0.5*2 - 0.5*(-1) + 0 = 1.5
        #   row 2: 1*1   + 0*3   - 1 =  0      1*2   + 0*(-1)   - 1 = 1
        Z1 = np.array([[-1.0, 1.5], [0.0, 1.0]])
        # A1 = relu(Z1): the negative entry becomes 0, the exact 0 stays 0
        A1 = np.array([[0.0, 1.5], [0.0, 1.0]])
        # Z2 = W2 A1 + b2 = [2*0 - 1*0 + 0.5,  2*1.5 - 1*1 + 0.5] = [0.5, 2.5]
        Z2 = np.array([[0.5, 2.5]])
        # A2 = sigmoid(Z2)
        s05, s25 = sig(0.5), sig(2.5)  # 0.6224593312..., 0.9241418199...
        np.testing.assert_allclose(caches[0][1], Z1, rtol=0, atol=1e-15)
        np.testing.assert_allclose(caches[1][0][0], A1, rtol=0, atol=1e-15)
        np.testing.assert_allclose(caches[1][1], Z2, rtol=0, atol=1e-15)
        np.testing.assert_allclose(AL, [[s05, s25]], rtol=0, atol=1e-12)

        # cost = -(1/2) * (1*log(s05) + (1-0)*log(1 - s25))
        #      = -(1/2) * (log 0.62246 + log 0.07586) = (0.47408 + 2.57889) / 2 = 1.52648...
        expected_cost = -0.5 * (math.log(s05) + math.log(1.0 - s25))
        assert abs(float(R.compute_cost(AL, self.Y)) - expected_cost) < 1e-12
        assert abs(expected_cost - 1.52648) < 1e-5

        grads = R.L_model_backward(AL, self.Y, caches)
        # Sigmoid with cross-entropy: dZ2 = A2 - Y = [s05 - 1, s25]
        za, zb = s05 - 1.0, s25
        # dW2 = dZ2 A1^T / 2 = [(za*0 + zb*1.5)/2, (za*0 + zb*1)/2]
        np.testing.assert_allclose(grads["dW2"], [[0.75 * zb, 0.5 * zb]], rtol=0, atol=1e-12)
        # db2 = (za + zb) / 2
        np.testing.assert_allclose(grads["db2"], [[(za + zb) / 2]], rtol=0, atol=1e-12)
        # dA1 = W2^T dZ2 = [[2za, 2zb], [-za, -zb]]
        np.testing.assert_allclose(grads["dA1"], [[2 * za, 2 * zb], [-za, -zb]], rtol=0, atol=1e-12)
        # dZ1 = dA1 * (Z1 > 0), mask [[0, 1], [0, 1]] (Z1[1, 0] == 0 exactly: derivative 0)
        #     = [[0, 2zb], [0, -zb]]
        # dW1 = dZ1 X^T / 2, X^T = [[1, 3], [2, -1]]
        #   row 1: [(0*1 + 2zb*2)/2, (0*3 + 2zb*(-1))/2] = [2zb, -zb]
        #   row 2: [(0*1 - zb*2)/2,  (0*3 - zb*(-1))/2]  = [-zb, zb/2]
        np.testing.assert_allclose(grads["dW1"], [[2 * zb, -zb], [-zb, 0.5 * zb]], rtol=0, atol=1e-12)
        # db1 = row sums of dZ1 / 2 = [[zb], [-zb/2]]
        np.testing.assert_allclose(grads["db1"], [[zb], [-0.5 * zb]], rtol=0, atol=1e-12)
        # dA0 = W1^T dZ1, W1^T = [[0.5, 1], [-0.5, 0]]
        #   column 0: dZ1[:, 0] = 0 -> [0, 0]
        #   column 1: [0.5*2zb + 1*(-zb), -0.5*2zb + 0*(-zb)] = [0, -zb]
        np.testing.assert_allclose(grads["dA0"], [[0.0, 0.0], [0.0, -zb]], rtol=0, atol=1e-12)

        # One step with learning rate 0.1: theta - 0.1 * dtheta
        new = R.update_parameters(self.params(), grads, 0.1)
        np.testing.assert_allclose(new["W2"], [[2 - 0.075 * zb, -1 - 0.05 * zb]], rtol=0, atol=1e-12)
        np.testing.assert_allclose(new["b2"], [[0.5 - 0.05 * (za + zb)]], rtol=0, atol=1e-12)
        np.testing.assert_allclose(new["W1"], [[0.5 - 0.2 * zb, -0.5 + 0.1 * zb], [1 + 0.1 * zb, -0.05 * zb]],
                                   rtol=0, atol=1e-12)
        np.testing.assert_allclose(new["b1"], [[-0.1 * zb], [-1 + 0.05 * zb]], rtol=0, atol=1e-12)


# --------------------------------------------------------------------------
# 2. The articles' formulas, written independently
# --------------------------------------------------------------------------

def test_sigmoid_formula_and_cache(rng):
    Z = rng.standard_normal((3, 4)) * 5
    A, cache = R.sigmoid(Z)
    expected = np.array([[sig(z) for z in row] for row in Z])
    np.testing.assert_allclose(A, expected, rtol=1e-14, atol=0)
    assert cache is Z
    assert A.shape == Z.shape and A.dtype == np.float64


def test_sigmoid_saturates_without_nan():
    with np.errstate(over="ignore"):
        A, _ = R.sigmoid(np.array([[-1000.0, 0.0, 1000.0]]))
    np.testing.assert_array_equal(A, [[0.0, 0.5, 1.0]])


def test_relu_formula_and_cache(rng):
    Z = rng.standard_normal((4, 3))
    Z[0, 0] = 0.0
    A, cache = R.relu(Z)
    expected = np.array([[z if z > 0 else 0.0 for z in row] for row in Z])
    np.testing.assert_array_equal(A, expected)
    assert cache is Z


def test_relu_backward_is_zero_at_and_below_zero(rng):
    Z = np.array([[-1.0, 0.0, 1e-300, 2.0], [0.0, -0.0, -1e-300, 5.0]])
    dA = rng.standard_normal(Z.shape)
    dA_before = dA.copy()
    dZ = R.relu_backward(dA, Z)
    expected = np.where(Z > 0, dA, 0.0)
    np.testing.assert_array_equal(dZ, expected)
    assert dZ[0, 1] == 0.0 and dZ[1, 0] == 0.0  # derivative at exactly 0 is 0
    assert dZ[0, 2] == dA[0, 2]  # any positive Z passes the gradient
    np.testing.assert_array_equal(dA, dA_before)  # input untouched
    assert dZ is not dA


def test_sigmoid_backward_formula(rng):
    Z = rng.standard_normal((3, 5)) * 3
    dA = rng.standard_normal((3, 5))
    dZ = R.sigmoid_backward(dA, Z)
    # dZ = dA * g'(Z), g'(z) = s (1 - s)
    expected = np.array([[dA[i, j] * sig(Z[i, j]) * (1 - sig(Z[i, j])) for j in range(5)] for i in range(3)])
    np.testing.assert_allclose(dZ, expected, rtol=1e-13, atol=0)


def test_linear_forward_formula_and_cache(rng):
    A = rng.standard_normal((4, 6))
    W = rng.standard_normal((3, 4))
    b = rng.standard_normal((3, 1))
    Z, cache = R.linear_forward(A, W, b)
    # Z[i, j] = sum_k W[i, k] A[k, j] + b[i]
    expected = np.array([[math.fsum(W[i, k] * A[k, j] for k in range(4)) + b[i, 0] for j in range(6)]
                         for i in range(3)])
    np.testing.assert_allclose(Z, expected, rtol=1e-13, atol=1e-14)
    assert isinstance(cache, tuple) and len(cache) == 3
    assert cache[0] is A and cache[1] is W and cache[2] is b


@pytest.mark.parametrize("activation, g", [("relu", lambda z: max(z, 0.0)), ("sigmoid", sig)])
def test_linear_activation_forward_structure(rng, activation, g):
    A_prev = rng.standard_normal((4, 5))
    W = rng.standard_normal((2, 4))
    b = rng.standard_normal((2, 1))
    A, cache = R.linear_activation_forward(A_prev, W, b, activation)
    # cache = ((A_prev, W, b), Z), the course's nesting
    assert isinstance(cache, tuple) and len(cache) == 2
    linear_cache, Z = cache
    assert isinstance(linear_cache, tuple) and len(linear_cache) == 3
    assert linear_cache[0] is A_prev and linear_cache[1] is W and linear_cache[2] is b
    np.testing.assert_allclose(Z, W @ A_prev + b, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(A, np.vectorize(g)(Z), rtol=1e-14, atol=0)


def test_linear_activation_forward_rejects_unknown_activation(rng):
    with pytest.raises(ValueError, match="activation"):
        R.linear_activation_forward(np.ones((2, 1)), np.ones((1, 2)), np.ones((1, 1)), "tanh")


@pytest.mark.parametrize("dims", [[3, 1], [4, 3, 1], [5, 4, 3, 2, 1]])
def test_L_model_forward_caches(rng, dims):
    X = rng.standard_normal((dims[0], 7))
    params = random_params(rng, dims)
    AL, caches = R.L_model_forward(X, params)
    L = len(dims) - 1
    assert isinstance(caches, list) and len(caches) == L
    assert AL.shape == (1, 7)
    assert caches[0][0][0] is X
    A = X
    for l in range(1, L + 1):
        (A_prev, W, b), Z = caches[l - 1]
        assert W is params[f"W{l}"] and b is params[f"b{l}"]
        np.testing.assert_array_equal(A_prev, A)
        np.testing.assert_allclose(Z, W @ A_prev + b, rtol=1e-14, atol=1e-15)
        A = np.maximum(Z, 0) if l < L else 1 / (1 + np.exp(-Z))
    np.testing.assert_allclose(AL, A, rtol=1e-15, atol=0)
    # each hidden layer's output is the next layer's cached input, passed through
    for l in range(1, L):
        assert caches[l][0][0] is not caches[l - 1][0][0]


def test_compute_cost_formula(rng):
    m = 9
    AL = rng.uniform(0.05, 0.95, (1, m))
    Y = random_labels(rng, m)
    cost = R.compute_cost(AL, Y)
    assert isinstance(cost, np.ndarray) and cost.shape == ()
    # J = -(1/m) sum_i (y log a + (1 - y) log(1 - a))
    expected = -math.fsum(y * math.log(a) + (1 - y) * math.log(1 - a) for a, y in zip(AL[0], Y[0])) / m
    assert abs(float(cost) - expected) < 1e-14
    # the second article's form gives the same number
    alt = np.squeeze(-np.sum(Y * np.log(AL) + (1 - Y) * np.log(1 - AL)) / m)
    assert abs(float(cost) - float(alt)) < 1e-14


def test_linear_backward_formulas(rng):
    n, n_prev, m = 3, 4, 5
    dZ = rng.standard_normal((n, m))
    A_prev = rng.standard_normal((n_prev, m))
    W = rng.standard_normal((n, n_prev))
    b = rng.standard_normal((n, 1))
    dA_prev, dW, db = R.linear_backward(dZ, (A_prev, W, b))
    # dW = (1/m) dZ A_prev^T
    exp_dW = np.array([[math.fsum(dZ[i, j] * A_prev[k, j] for j in range(m)) / m for k in range(n_prev)]
                       for i in range(n)])
    # db = (1/m) sum_j dZ[:, j]
    exp_db = np.array([[math.fsum(dZ[i]) / m] for i in range(n)])
    # dA_prev = W^T dZ
    exp_dA = np.array([[math.fsum(W[i, k] * dZ[i, j] for i in range(n)) for j in range(m)]
                       for k in range(n_prev)])
    np.testing.assert_allclose(dW, exp_dW, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(db, exp_db, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(dA_prev, exp_dA, rtol=1e-13, atol=1e-15)
    assert dW.shape == W.shape and db.shape == b.shape and dA_prev.shape == A_prev.shape


@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
def test_linear_activation_backward_composes(rng, activation):
    A_prev = rng.standard_normal((4, 6))
    W = rng.standard_normal((3, 4))
    b = rng.standard_normal((3, 1))
    dA = rng.standard_normal((3, 6))
    _, cache = R.linear_activation_forward(A_prev, W, b, activation)
    got = R.linear_activation_backward(dA, cache, activation)
    back = R.relu_backward if activation == "relu" else R.sigmoid_backward
    expected = R.linear_backward(back(dA, cache[1]), cache[0])
    assert isinstance(got, tuple) and len(got) == 3
    for g, e in zip(got, expected):
        np.testing.assert_array_equal(g, e)
    with pytest.raises(ValueError, match="activation"):
        R.linear_activation_backward(dA, cache, "softmax")


@pytest.mark.parametrize("dims", [[3, 1], [4, 3, 1], [5, 4, 3, 2, 1]])
def test_L_model_backward_keys_and_shapes(rng, dims):
    m = 6
    X = rng.standard_normal((dims[0], m))
    params = random_params(rng, dims)
    Y = random_labels(rng, m)
    AL, caches = R.L_model_forward(X, params)
    grads = R.L_model_backward(AL, Y, caches)
    L = len(dims) - 1
    expected_keys = ({f"dA{l}" for l in range(L)} | {f"dW{l}" for l in range(1, L + 1)}
                     | {f"db{l}" for l in range(1, L + 1)})
    assert set(grads) == expected_keys
    assert grads["dA0"].shape == X.shape
    for l in range(1, L + 1):
        assert grads[f"dW{l}"].shape == params[f"W{l}"].shape
        assert grads[f"db{l}"].shape == params[f"b{l}"].shape
        if l < L:
            assert grads[f"dA{l}"].shape == (dims[l], m)
    # output layer: sigmoid + cross-entropy gives dZ_L = AL - Y
    A_prev = caches[-1][0][0]
    np.testing.assert_allclose(grads[f"dW{L}"], (AL - Y) @ A_prev.T / m, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(grads[f"db{L}"], (AL - Y).sum(axis=1, keepdims=True) / m, rtol=1e-12, atol=1e-15)


def test_L_model_backward_accepts_flat_labels(rng):
    X = rng.standard_normal((3, 4))
    params = random_params(rng, [3, 2, 1])
    Y = random_labels(rng, 4)
    AL, caches = R.L_model_forward(X, params)
    a = R.L_model_backward(AL, Y, caches)
    b = R.L_model_backward(AL, Y.ravel(), caches)  # the course reshapes Y to AL's shape
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])


# --------------------------------------------------------------------------
# 3. Finite differences
# --------------------------------------------------------------------------

FD_EPS = 1e-6


def numeric_grad(f, x):
    """Centred differences of scalar f() with respect to every entry of array x (modified in place, restored)."""
    g = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        old = x[idx]
        x[idx] = old + FD_EPS
        fp = f()
        x[idx] = old - FD_EPS
        fm = f()
        x[idx] = old
        g[idx] = (fp - fm) / (2 * FD_EPS)
    return g


def rel_error(a, b):
    return np.linalg.norm(a - b) / max(np.linalg.norm(a) + np.linalg.norm(b), 1e-300)


@pytest.mark.parametrize("dims, m", [
    ([3, 1], 5),            # L = 1: logistic regression
    ([4, 3, 1], 6),         # L = 2
    ([2, 5, 1], 1),         # a single example
    ([5, 4, 3, 2, 1], 7),   # L = 4
], ids=["L1", "L2", "L2-m1", "L4"])
def test_L_model_backward_matches_finite_differences(rng, dims, m):
    X = rng.standard_normal((dims[0], m))
    Y = random_labels(rng, m)
    params = random_params(rng, dims)
    AL, caches = R.L_model_forward(X, params)
    grads = R.L_model_backward(AL, Y, caches)
    L = len(dims) - 1
    for l in range(1, L + 1):
        for name in ("W", "b"):
            analytic = grads[f"d{name}{l}"]
            numeric = numeric_grad(lambda: cost_of(params, X, Y), params[f"{name}{l}"])
            # The truncation error of centred differences is O(eps^2) ~ 1e-12 and
            # round-off ~ 1e-16 / eps ~ 1e-10 absolute; relative 1e-7 leaves a margin.
            assert rel_error(analytic, numeric) < 1e-7, (f"d{name}{l}", analytic, numeric)
            np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-8)
    # dA0 is the derivative of the per-example loss sum, i.e. m * dJ/dX: the course's
    # backward pass divides by m only in dW and db.
    numeric_dX = numeric_grad(lambda: cost_of(params, X, Y), X)
    assert rel_error(grads["dA0"] / m, numeric_dX) < 1e-7
    np.testing.assert_allclose(grads["dA0"] / m, numeric_dX, rtol=1e-5, atol=1e-8)


# --------------------------------------------------------------------------
# 4a. Initialization: the published code, bit for bit
# --------------------------------------------------------------------------

def published_app_utils(layer_dims):
    # the course's dnn_app_utils.initialize_parameters_deep
    np.random.seed(1)
    parameters = {}
    L = len(layer_dims)
    for l in range(1, L):
        parameters['W' + str(l)] = np.random.randn(layer_dims[l], layer_dims[l - 1]) / np.sqrt(layer_dims[l - 1])
        parameters['b' + str(l)] = np.zeros((layer_dims[l], 1))
    return parameters


def published_step_by_step(layer_dims):
    # the course's step-by-step assignment: initialize_parameters_deep
    np.random.seed(3)
    parameters = {}
    L = len(layer_dims)
    for l in range(1, L):
        parameters['W' + str(l)] = np.random.randn(layer_dims[l], layer_dims[l - 1]) * 0.01
        parameters['b' + str(l)] = np.zeros((layer_dims[l], 1))
    return parameters


def published_article(layer_dims):
    # the first article's init_parameters_L
    np.random.seed(1)
    parameters = {}
    L = len(layer_dims)
    for l in range(1, L):
        parameters['W' + str(l)] = np.random.randn(layer_dims[l], layer_dims[l - 1]) * 0.01
        parameters['b' + str(l)] = np.zeros((layer_dims[l], 1))
    return parameters


def published_he(layers_dims):
    # He et al. initialization as the course's "Initialization" notebook writes it
    np.random.seed(1)
    parameters = {}
    L = len(layers_dims) - 1
    for l in range(1, L + 1):
        parameters['W' + str(l)] = np.random.randn(layers_dims[l], layers_dims[l - 1]) * np.sqrt(2. / layers_dims[l - 1])
        parameters['b' + str(l)] = np.zeros((layers_dims[l], 1))
    return parameters


def published_two_layer(n_x, n_h, n_y):
    # the course's initialize_parameters for the 2-layer model
    np.random.seed(1)
    W1 = np.random.randn(n_h, n_x) * 0.01
    b1 = np.zeros((n_h, 1))
    W2 = np.random.randn(n_y, n_h) * 0.01
    b2 = np.zeros((n_y, 1))
    return {"W1": W1, "b1": b1, "W2": W2, "b2": b2}


INIT_DIMS = [[12288, 20, 7, 5, 1], [5, 4, 3, 1], [3, 1], [2, 7, 1], [1, 1]]


def assert_params_identical(got, expected):
    assert list(got) == list(expected)  # same keys, in the course's order W1, b1, W2, ...
    for k in expected:
        assert got[k].dtype == expected[k].dtype, k
        np.testing.assert_array_equal(got[k], expected[k], err_msg=k, strict=True)


@pytest.mark.parametrize("dims", INIT_DIMS, ids=str)
@pytest.mark.parametrize("recipe, published", [
    ("app-utils", published_app_utils),
    ("step-by-step", published_step_by_step),
    ("article", published_article),
    ("he", published_he),
])
def test_init_recipes_are_bit_exact(dims, recipe, published):
    assert_params_identical(R.initialize_parameters_deep(dims, init=recipe), published(dims))


@pytest.mark.parametrize("dims", INIT_DIMS, ids=str)
def test_init_defaults_and_alias(dims):
    assert_params_identical(R.initialize_parameters_deep(dims), published_app_utils(dims))
    assert_params_identical(R.init_parameters_L(dims), published_article(dims))


def test_initialize_parameters_two_layer_is_the_course():
    assert_params_identical(R.initialize_parameters(3, 2, 1), published_two_layer(3, 2, 1))
    assert_params_identical(R.initialize_parameters(12288, 7, 1), published_two_layer(12288, 7, 1))


def test_init_seed_overrides_recipe_seed():
    np.random.seed(42)
    expected = np.random.randn(4, 3) / np.sqrt(3)
    got = R.initialize_parameters_deep([3, 4, 1], seed=42)
    np.testing.assert_array_equal(got["W1"], expected)


@pytest.mark.parametrize("recipe", sorted(R.INIT_RECIPES))
def test_init_float32_is_the_float64_draw_rounded(recipe):
    dims = [6, 5, 2, 1]
    p32 = R.initialize_parameters_deep(dims, init=recipe, dtype=np.float32)
    p64 = R.initialize_parameters_deep(dims, init=recipe)
    for k in p64:
        assert p32[k].dtype == np.float32
        assert p32[k].shape == p64[k].shape
        np.testing.assert_array_equal(p32[k], p64[k].astype(np.float32))
    for l in range(1, len(dims)):
        assert p64[f"W{l}"].shape == (dims[l], dims[l - 1])
        assert p64[f"b{l}"].shape == (dims[l], 1)
        assert not p64[f"b{l}"].any()


# --------------------------------------------------------------------------
# 4b. update_parameters, predict, the models
# --------------------------------------------------------------------------

def test_update_parameters_course_semantics(rng):
    dims = [3, 2, 1]
    params = random_params(rng, dims)
    old = {k: v for k, v in params.items()}
    old_values = {k: v.copy() for k, v in params.items()}
    grads = {f"d{k}": rng.standard_normal(v.shape) for k, v in params.items()}
    grads["dA0"] = rng.standard_normal((3, 4))  # extra keys are ignored
    out = R.update_parameters(params, grads, 0.05)
    assert out is params  # the dict is updated and returned, as the course does
    for k in old:
        np.testing.assert_array_equal(out[k], old_values[k] - 0.05 * grads[f"d{k}"])
        assert out[k] is not old[k]  # new arrays ...
        np.testing.assert_array_equal(old[k], old_values[k])  # ... the old ones are untouched


def test_predict_threshold_is_strictly_greater_than_half(capsys):
    X = np.zeros((2, 3))
    X[0] = [-1.0, 0.0, 1.0]
    # L = 1, W = [[1, 0]], b = 0: AL = sigmoid(x0) = [0.27, 0.5 exactly, 0.73]
    params = {"W1": np.array([[1.0, 0.0]]), "b1": np.zeros((1, 1))}
    y = np.array([[0, 1, 1]])
    p = R.predict(X, y, params)
    assert p.dtype == np.float64 and p.shape == (1, 3)
    np.testing.assert_array_equal(p, [[0.0, 0.0, 1.0]])  # 0.5 itself is class 0
    out = capsys.readouterr().out
    assert out.startswith("Accuracy: ")
    assert abs(float(out.split(":")[1]) - 2 / 3) < 1e-12


def test_two_layer_model_learns(rng, capsys):
    X = rng.standard_normal((4, 40))
    Y = (X[0:1] + 0.5 * X[1:2] > 0).astype(float)
    params, costs = R.two_layer_model(X, Y, (4, 5, 1), learning_rate=0.5, num_iterations=301,
                                      print_cost=True, return_costs=True)
    assert set(params) == {"W1", "b1", "W2", "b2"}
    assert params["W1"].shape == (5, 4) and params["W2"].shape == (1, 5)
    assert len(costs) == 4 and all(type(c) is float for c in costs)
    assert costs[-1] < costs[0]
    assert all(b < a for a, b in zip(costs, costs[1:]))
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"Cost after iteration {i}: {c:f}" for i, c in zip((0, 100, 200, 300), costs)]
    assert isinstance(R.two_layer_model(X, Y, (4, 5, 1), num_iterations=2), dict)


def manual_training(X, Y, dims, lr, iters, init="app-utils"):
    """The course's loop written out: init, forward, cost, backward, update."""
    params = R.initialize_parameters_deep(dims, init=init)
    costs = []
    for _ in range(iters):
        AL, caches = R.L_model_forward(X, params)
        costs.append(float(R.compute_cost(AL, Y)))
        params = R.update_parameters(params, R.L_model_backward(AL, Y, caches), lr)
    return params, costs


def test_L_layer_model_is_the_course_loop(rng):
    X = rng.standard_normal((5, 12))
    Y = random_labels(rng, 12)
    dims = [5, 4, 3, 1]
    params, costs = R.L_layer_model(X, Y, dims, learning_rate=0.1, num_iterations=25,
                                    return_costs=True, cost_every=10)
    exp_params, all_costs = manual_training(X, Y, dims, 0.1, 25)
    assert costs == all_costs[::10] and len(costs) == 3  # iterations 0, 10, 20
    assert all(type(c) is float for c in costs)
    assert_params_identical(params, exp_params)
    _, every = R.L_layer_model(X, Y, dims, learning_rate=0.1, num_iterations=25, return_costs=True, cost_every=1)
    assert every == all_costs
    assert isinstance(R.L_layer_model(X, Y, dims, num_iterations=1), dict)


def test_L_layer_model_float32(rng):
    X = rng.standard_normal((5, 12)).astype(np.float32)
    Y = random_labels(rng, 12)
    params, costs = R.L_layer_model(X, Y, [5, 3, 1], learning_rate=0.1, num_iterations=30, return_costs=True,
                                    cost_every=10)
    assert all(v.dtype == np.float32 for v in params.values())
    p64 = R.L_layer_model(X, Y, [5, 3, 1], learning_rate=0.1, num_iterations=30, dtype=np.float64)
    assert all(v.dtype == np.float64 for v in p64.values())
    for k in params:
        np.testing.assert_allclose(params[k], p64[k], rtol=1e-4, atol=1e-5)


def test_aliases_are_the_same_functions():
    assert R.forward_prop_L is R.linear_forward
    assert R.activation_forward_L is R.linear_activation_forward
    assert R.backprop_L is R.linear_backward
    assert R.activation_backward_L is R.linear_activation_backward
    assert R.sigmoid_derivative is R.sigmoid_backward
    assert R.relu_derivative is R.relu_backward
    for name in R.__all__:
        assert hasattr(R, name), name


# --------------------------------------------------------------------------
# 4c. The course's published numbers on the cat data
# --------------------------------------------------------------------------

# The course's 4-layer model on the 209 training pictures prints these
# (dnn_app_utils initialization, learning rate 0.0075).
COURSE_COSTS = [
    "Cost after iteration 0: 0.771749",
    "Cost after iteration 100: 0.672053",
    "Cost after iteration 200: 0.648263",
    "Cost after iteration 300: 0.611507",
]


@pytest.mark.slow
def test_cat_data_reproduces_the_course(cat_data, capsys, blas_single_thread):
    train_x, train_y, _, _ = cat_data
    assert train_x.shape == (12288, 209) and train_y.shape == (1, 209)
    params = R.L_layer_model(train_x, train_y, [12288, 20, 7, 5, 1], num_iterations=301, print_cost=True)
    assert capsys.readouterr().out.splitlines() == COURSE_COSTS

    p = R.predict(train_x, train_y, params)
    out = capsys.readouterr().out
    assert out.startswith("Accuracy: ")
    assert p.shape == (1, 209) and p.dtype == np.float64
    assert set(np.unique(p)) <= {0.0, 1.0}
    AL, _ = R.L_model_forward(train_x, params)
    np.testing.assert_array_equal(p, (AL > 0.5).astype(np.float64))
    assert abs(float(out.split(":")[1]) - np.mean(p == train_y)) < 1e-12

"""The step-by-step notebook's test cells, run over ``from dnn import *``.

The course's "Building your Deep Neural Network: Step by Step" notebook checks
each function on a test case (its ``testCases`` module: inputs drawn from
NumPy's legacy generator with a fixed seed) and prints the result under
"Expected output". The inputs below are those test cases, rebuilt from their
seeds; the expected arrays are the values the notebook prints (8 significant
decimals, so compared to 5e-8). They are not in the project's seed articles:
they were written down from the course and agree, every printed digit, with
``dnn.reference`` (checked here too). Each case also runs in float32.

Among them, ``L_model_backward``'s case passes an ``AL`` drawn from ``randn``
(values outside (0, 1)): the course's code takes it and so must dnn.
"""

import numpy as np
import pytest

import dnn
from dnn import reference

PRINTED = 5e-8  # the notebook prints 8 decimals


def seeded(seed, *shapes):
    np.random.seed(seed)
    return [np.random.randn(*s) for s in shapes]


def check(got, printed, want_reference, dtype):
    got = np.asarray(got)
    assert got.dtype == dtype
    if dtype == np.float64:
        np.testing.assert_allclose(got, printed, rtol=0, atol=PRINTED)
        np.testing.assert_allclose(got, want_reference, rtol=1e-12, atol=1e-15)
    else:
        np.testing.assert_allclose(got, printed, rtol=2e-5, atol=2e-6)


DTYPES = [np.float64, np.float32]


@pytest.mark.parametrize("dtype", DTYPES)
def test_linear_forward_test_case(dtype):
    A, W, b = seeded(1, (3, 2), (1, 3), (1, 1))
    Z, cache = dnn.linear_forward(*(x.astype(dtype) for x in (A, W, b)))
    check(Z, [[3.26295337, -1.23429987]], reference.linear_forward(A, W, b)[0], dtype)
    assert len(cache) == 3


@pytest.mark.parametrize("dtype", DTYPES)
def test_linear_activation_forward_test_case(dtype):
    A_prev, W, b = seeded(2, (3, 2), (1, 3), (1, 1))
    args = [x.astype(dtype) for x in (A_prev, W, b)]
    A, _ = dnn.linear_activation_forward(*args, activation="sigmoid")
    check(A, [[0.96890023, 0.11013289]],
          reference.linear_activation_forward(A_prev, W, b, "sigmoid")[0], dtype)
    A, _ = dnn.linear_activation_forward(*args, activation="relu")
    check(A, [[3.43896131, 0.0]], reference.linear_activation_forward(A_prev, W, b, "relu")[0], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_L_model_forward_test_case_2hidden(dtype):
    X, W1, b1, W2, b2, W3, b3 = seeded(6, (5, 4), (4, 5), (4, 1), (3, 4), (3, 1), (1, 3), (1, 1))
    params = {"W1": W1, "b1": b1, "W2": W2, "b2": b2, "W3": W3, "b3": b3}
    AL, caches = dnn.L_model_forward(X.astype(dtype), {k: v.astype(dtype) for k, v in params.items()})
    check(AL, [[0.03921668, 0.70498921, 0.19734387, 0.04728177]],
          reference.L_model_forward(X, params)[0], dtype)
    assert len(caches) == 3


@pytest.mark.parametrize("dtype", DTYPES)
def test_compute_cost_test_case(dtype):
    Y, AL = np.asarray([[1, 1, 0]]), np.array([[.8, .9, 0.4]])
    cost = dnn.compute_cost(AL.astype(dtype), Y.astype(dtype))
    check(cost, 0.2797765635793422, reference.compute_cost(AL, Y), dtype)
    # the labels as the course makes them, ints: computed in float64
    assert float(dnn.compute_cost(AL, Y)) == pytest.approx(0.2797765635793422, abs=1e-15)


@pytest.mark.parametrize("dtype", DTYPES)
def test_linear_backward_test_case(dtype):
    dZ, A, W, b = seeded(1, (3, 4), (5, 4), (3, 5), (3, 1))
    got = dnn.linear_backward(dZ.astype(dtype), tuple(x.astype(dtype) for x in (A, W, b)))
    want = reference.linear_backward(dZ, (A, W, b))
    printed = (
        [[-1.15171336, 0.06718465, -0.3204696, 2.09812712],
         [0.60345879, -3.72508701, 5.81700741, -3.84326836],
         [-0.4319552, -1.30987417, 1.72354705, 0.05070578],
         [-0.38981415, 0.60811244, -1.25938424, 1.47191593],
         [-2.52214926, 2.67882552, -0.67947465, 1.48119548]],
        [[0.07313866, -0.0976715, -0.87585828, 0.73763362, 0.00785716],
         [0.85508818, 0.37530413, -0.59912655, 0.71278189, -0.58931808],
         [0.97913304, -0.24376494, -0.08839671, 0.55151192, -0.10290907]],
        [[-0.14713786], [-0.11313155], [-0.13209101]],
    )
    for g, p, w in zip(got, printed, want):
        check(g, p, w, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation, printed", [
    ("sigmoid", ([[0.11017994, 0.01105339], [0.09466817, 0.00949723], [-0.05743092, -0.00576154]],
                 [[0.10266786, 0.09778551, -0.01968084]], [[-0.05729622]])),
    ("relu", ([[0.44090989, 0.0], [0.37883606, 0.0], [-0.2298228, 0.0]],
              [[0.44513824, 0.37371418, -0.10478989]], [[-0.20837892]])),
])
def test_linear_activation_backward_test_case(activation, printed, dtype):
    dA, A, W, b, Z = seeded(2, (1, 2), (3, 2), (1, 3), (1, 1), (1, 2))
    c = lambda x: x.astype(dtype)  # noqa: E731
    got = dnn.linear_activation_backward(c(dA), ((c(A), c(W), c(b)), c(Z)), activation)
    want = reference.linear_activation_backward(dA, ((A, W, b), Z), activation)
    for g, p, w in zip(got, printed, want):
        check(g, p, w, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_L_model_backward_test_case(dtype):
    np.random.seed(3)
    AL = np.random.randn(1, 2)  # outside (0, 1), as the course draws it
    Y = np.array([[1, 0]])
    A1, W1, b1, Z1 = (np.random.randn(*s) for s in ((4, 2), (3, 4), (3, 1), (3, 2)))
    A2, W2, b2, Z2 = (np.random.randn(*s) for s in ((3, 2), (1, 3), (1, 1), (1, 2)))
    caches = (((A1, W1, b1), Z1), ((A2, W2, b2), Z2))  # a tuple, as the course's test case
    c = lambda x: x.astype(dtype)  # noqa: E731
    # The course's int labels; float32 labels in float32 (int labels with a float32 network give
    # float64 gradients, as NumPy's promotion in the course's code and compute_cost do)
    labels = Y if dtype == np.float64 else c(Y)
    grads = dnn.L_model_backward(c(AL), labels, tuple(((c(a), c(w), c(b)), c(z)) for (a, w, b), z in caches))
    want = reference.L_model_backward(AL, Y, caches)
    assert sorted(grads) == sorted(want)
    check(grads["dW1"], [[0.41010002, 0.07807203, 0.13798444, 0.10502167], [0, 0, 0, 0],
                         [0.05283652, 0.01005865, 0.01777766, 0.0135308]], want["dW1"], dtype)
    check(grads["db1"], [[-0.22007063], [0], [-0.02835349]], want["db1"], dtype)
    check(grads["dA1"], [[0.12913162, -0.44014127], [-0.14175655, 0.48317296],
                         [0.01663708, -0.05670698]], want["dA1"], dtype)
    for key in want:
        check(grads[key], want[key], want[key], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_update_parameters_test_case(dtype):
    W1, b1, W2, b2 = seeded(2, (3, 4), (3, 1), (1, 3), (1, 1))
    dW1, db1, dW2, db2 = seeded(3, (3, 4), (3, 1), (1, 3), (1, 1))
    params = {"W1": W1, "b1": b1, "W2": W2, "b2": b2}
    grads = {"dW1": dW1, "db1": db1, "dW2": dW2, "db2": db2}
    got = dnn.update_parameters({k: v.astype(dtype) for k, v in params.items()},
                                {k: v.astype(dtype) for k, v in grads.items()}, 0.1)
    want = reference.update_parameters(dict(params), grads, 0.1)
    printed = {
        "W1": [[-0.59562069, -0.09991781, -2.14584584, 1.82662008],
               [-1.76569676, -0.80627147, 0.51115557, -1.18258802],
               [-1.0535704, -0.86128581, 0.68284052, 2.20374577]],
        "b1": [[-0.04659241], [-1.28888275], [0.53405496]],
        "W2": [[-0.55569196, 0.0354055, 1.32964895]],
        "b2": [[-0.84610769]],
    }
    for key in printed:
        check(got[key], printed[key], want[key], dtype)


def test_initialize_parameters_test_cases():
    p = dnn.initialize_parameters(3, 2, 1)
    np.testing.assert_allclose(p["W1"], [[0.01624345, -0.00611756, -0.00528172],
                                         [-0.01072969, 0.00865408, -0.02301539]], atol=PRINTED)
    np.testing.assert_allclose(p["W2"], [[0.01744812, -0.00761207]], atol=PRINTED)
    assert not p["b1"].any() and p["b1"].shape == (2, 1) and p["b2"].shape == (1, 1)
    p = dnn.initialize_parameters_deep([5, 4, 3], init="step-by-step")
    np.testing.assert_allclose(p["W1"], [
        [0.01788628, 0.0043651, 0.00096497, -0.01863493, -0.00277388],
        [-0.00354759, -0.00082741, -0.00627001, -0.00043818, -0.00477218],
        [-0.01313865, 0.00884622, 0.00881318, 0.01709573, 0.00050034],
        [-0.00404677, -0.0054536, -0.01546477, 0.00982367, -0.01101068]], atol=PRINTED)
    np.testing.assert_allclose(p["W2"], [
        [-0.01185047, -0.0020565, 0.01486148, 0.00236716],
        [-0.01023785, -0.00712993, 0.00625245, -0.00160513],
        [-0.00768836, -0.00230031, 0.00745056, 0.01976111]], atol=PRINTED)
    assert p["b1"].shape == (4, 1) and p["b2"].shape == (3, 1)

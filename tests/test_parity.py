"""Parity of dnn's compiled step-by-step API with ``dnn.reference``.

Every public function is run on the same inputs as its reference twin and the
results are compared whole: values, shapes, dtypes, the nesting of caches and
the identity of the objects the reference passes through.

Tolerances. The compiled code follows the reference operation by operation,
but BLAS sums a dot product in another order than NumPy's own loops and row
sums accumulate in double. Both are correctly rounded to within a few ulps of
the operands' magnitude, not of the result's (a sum of large terms can cancel
to a small one), so every comparison uses
    |actual - desired| <= rtol * |desired| + rtol * sqrt(k) * magnitude
with rtol = 1e-12 (float64) or 1e-5 (float32), k the length of the sums and
``magnitude`` the size of the operands. A real bug (a wrong index, a missing
bias, a wrong scale, a mask off by one) moves results by far more than that.

Backward functions get the *same* caches (made by the reference) on both
sides: a Z within rounding of 0 could otherwise fall on different sides of the
ReLU's kink, a legitimate difference no tolerance should have to absorb.
"""
import contextlib
import io
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import dnn
from dnn import _kernels, _products
from dnn import reference as R

RTOL = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-12}
DTYPES = [np.float32, np.float64]
LAYOUTS = ["C", "F", "strided", "reversed"]

# Modest, reproducible property tests: derandomize so that CI runs the same cases.
PROPERTY = settings(max_examples=40, deadline=None, derandomize=True)

dims_st = st.integers(min_value=1, max_value=24)
dtype_st = st.sampled_from(DTYPES)
layout_st = st.sampled_from(LAYOUTS)
seed_st = st.integers(min_value=0, max_value=2**32 - 1)


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------

def in_layout(x, layout):
    """The same values as ``x`` in another memory layout (a view into a larger buffer)."""
    if layout == "C":
        return np.ascontiguousarray(x)
    if layout == "F":
        return np.asfortranarray(x)
    if layout == "strided":
        big = np.zeros(tuple(2 * s + 1 for s in x.shape), dtype=x.dtype)
        view = big[tuple(slice(1, None, 2) for _ in x.shape)]
        view[...] = x
        return view
    if layout == "reversed":
        flipped = np.ascontiguousarray(x[tuple(slice(None, None, -1) for _ in x.shape)])
        return flipped[tuple(slice(None, None, -1) for _ in x.shape)]
    raise AssertionError(layout)


def normal(rng, shape, dtype, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(dtype)


def labels(rng, m, dtype):
    Y = (rng.random((1, m)) > 0.5).astype(dtype)
    Y[0, 0] = 1
    if m > 1:
        Y[0, 1] = 0
    return Y


def network(rng, dims, dtype):
    """Parameters with the course's scaling (1/sqrt(n_prev)) and non-zero biases."""
    params = {}
    for l in range(1, len(dims)):
        params[f"W{l}"] = normal(rng, (dims[l], dims[l - 1]), dtype, 1 / math.sqrt(dims[l - 1]))
        params[f"b{l}"] = normal(rng, (dims[l], 1), dtype, 0.1)
    return params


def mag(*arrays):
    return max(float(np.max(np.abs(a))) if np.size(a) else 0.0 for a in arrays)


def assert_same(actual, desired, dtype, magnitude=None, k=1, exact=False, what=""):
    """One array of the compiled API against the reference's, see the module docstring."""
    dtype = np.dtype(dtype)
    assert isinstance(actual, np.ndarray), f"{what}: got {type(actual).__name__}, not an ndarray"
    assert actual.dtype == dtype, f"{what}: dtype {actual.dtype}, expected {dtype}"
    assert actual.shape == np.shape(desired), f"{what}: shape {actual.shape}, expected {np.shape(desired)}"
    if exact:
        np.testing.assert_array_equal(actual, desired, err_msg=what)
        return
    rtol = RTOL[dtype]
    if magnitude is None:
        magnitude = mag(desired)
    np.testing.assert_allclose(actual, desired, rtol=rtol, atol=rtol * math.sqrt(k) * magnitude, err_msg=what)


def assert_linear_cache(cache, A_prev, W, b, dtype):
    """``(A_prev, W, b)``: the inputs themselves when already C-contiguous in ``dtype``, else equal copies."""
    assert isinstance(cache, tuple) and len(cache) == 3, cache
    for got, given_, name in zip(cache, (A_prev, W, b), ("A_prev", "W", "b")):
        if given_.dtype == dtype and given_.flags.c_contiguous:
            assert got is given_, f"linear cache {name} is a copy of a C-contiguous {dtype} input"
        else:
            assert_same(got, given_.astype(dtype), dtype, exact=True, what=f"linear cache {name}")


def assert_layer_cache(cache, ref_cache, A_prev, W, b, dtype, k):
    """``((A_prev, W, b), Z)`` against the reference's cache."""
    assert isinstance(cache, tuple) and len(cache) == 2, cache
    assert_linear_cache(cache[0], A_prev, W, b, dtype)
    Z_ref = ref_cache[1]
    assert_same(cache[1], Z_ref, dtype, magnitude=mag(W) * mag(A_prev) + mag(b), k=k, what="cache Z")


# --------------------------------------------------------------------------
# Public API surface
# --------------------------------------------------------------------------

PUBLIC = [
    "sigmoid", "relu", "sigmoid_backward", "relu_backward",
    "initialize_parameters", "initialize_parameters_deep",
    "linear_forward", "linear_activation_forward", "L_model_forward",
    "compute_cost",
    "linear_backward", "linear_activation_backward", "L_model_backward",
    "update_parameters", "predict",
    "two_layer_model", "L_layer_model",
    "init_parameters_L", "forward_prop_L", "activation_forward_L",
    "backprop_L", "activation_backward_L", "sigmoid_derivative", "relu_derivative",
]


@pytest.mark.parametrize("name", PUBLIC)
def test_public_name_exists_and_star_import_gives_it(name):
    assert callable(getattr(dnn, name, None)), f"dnn.{name} is missing"
    namespace = {}
    exec("from dnn import *", namespace)
    assert name in namespace, f"`from dnn import *` does not give {name}"


def test_public_functions_are_compiled_not_the_reference():
    # dnn must not silently re-export the NumPy oracle for the compute functions.
    for name in ["sigmoid", "relu", "sigmoid_backward", "relu_backward", "linear_forward",
                 "linear_activation_forward", "L_model_forward", "compute_cost", "linear_backward",
                 "linear_activation_backward", "L_model_backward", "predict", "L_layer_model",
                 "two_layer_model"]:
        # (a missing name is reported by test_public_name_exists_and_star_import_gives_it)
        assert getattr(dnn, name, None) is not getattr(R, name), name


@pytest.mark.parametrize("alias, target", [
    ("forward_prop_L", "linear_forward"), ("activation_forward_L", "linear_activation_forward"),
    ("backprop_L", "linear_backward"), ("activation_backward_L", "linear_activation_backward"),
    ("sigmoid_derivative", "sigmoid_backward"), ("relu_derivative", "relu_backward"),
])
def test_aliases(alias, target):
    assert getattr(dnn, alias) is getattr(dnn, target)


# --------------------------------------------------------------------------
# Activations
# --------------------------------------------------------------------------

@PROPERTY
@given(rows=dims_st, cols=dims_st, dtype=dtype_st, layout=layout_st, seed=seed_st)
def test_activations_forward(rows, cols, dtype, layout, seed):
    rng = np.random.default_rng(seed)
    Z = in_layout(normal(rng, (rows, cols), dtype, 4.0), layout)
    Z[0, 0] = 0
    for name, exact in (("relu", True), ("sigmoid", False)):
        A, cache = getattr(dnn, name)(Z)
        A_ref, _ = getattr(R, name)(Z)
        assert_same(A, A_ref, dtype, exact=exact, what=name)
        assert_same(cache, Z, dtype, exact=True, what=name + " cache")
        if layout == "C":
            assert cache is Z, f"{name}: cache is not the Z passed in"


@PROPERTY
@given(rows=dims_st, cols=dims_st, dtype=dtype_st, layout=layout_st, seed=seed_st)
def test_activations_backward(rows, cols, dtype, layout, seed):
    rng = np.random.default_rng(seed)
    Z = normal(rng, (rows, cols), dtype, 4.0)
    Z.flat[::3] = 0  # the kink: relu's derivative at exactly 0 is 0
    Z = in_layout(Z, layout)
    dA = in_layout(normal(rng, (rows, cols), dtype), layout)
    dA_before = dA.copy()
    for name, alias, exact in (("relu_backward", "relu_derivative", True),
                               ("sigmoid_backward", "sigmoid_derivative", False)):
        dZ = getattr(dnn, name)(dA, Z)
        assert_same(dZ, getattr(R, name)(dA, Z), dtype, magnitude=mag(dA), exact=exact, what=name)
        assert dZ is not dA
        assert_same(getattr(dnn, alias)(dA, Z), dZ, dtype, exact=True, what=alias)
    np.testing.assert_array_equal(dA, dA_before)  # inputs are not modified


@pytest.mark.parametrize("dtype", DTYPES)
def test_activations_any_rank_and_extremes(dtype):
    # The reference works elementwise on any shape; so must dnn.
    for shape in [(), (5,), (2, 3, 4)]:
        Z = np.linspace(-3, 3, int(np.prod(shape))).reshape(shape).astype(dtype)
        for name in ("relu", "sigmoid"):
            A, _ = getattr(dnn, name)(Z)
            assert_same(A, getattr(R, name)(Z)[0], dtype, what=f"{name}{shape}")
    # Saturation: no nan, exact limits (the reference gives 0 and 1 here too).
    Z = np.array([[-1e4, -100.0, 0.0, 100.0, 1e4]], dtype=dtype)
    A, _ = dnn.sigmoid(Z)
    assert A[0, 0] == 0 and A[0, 2] == 0.5 and A[0, 4] == 1
    assert np.all(np.isfinite(A))
    dZ = dnn.sigmoid_backward(np.ones_like(Z), Z)
    assert np.all(np.isfinite(dZ)) and dZ[0, 2] == 0.25


@pytest.mark.parametrize("dtype", DTYPES)
def test_activations_in_pieces(dtype, monkeypatch):
    # The kernels count in C ints, so arrays of 2**31 elements or more go to
    # them in pieces. Too big to allocate here: shrink the piece instead, to a
    # size that divides none of these arrays, and compare every element.
    from dnn import functional
    monkeypatch.setattr(functional, "_ELEMENTWISE_CHUNK", 7)
    rng = np.random.default_rng(5)
    for shape in [(3, 10), (2, 3, 4), (50,), (6, 7)]:
        Z = normal(rng, shape, dtype, 4.0)
        dA = normal(rng, shape, dtype)
        for name in ("relu", "sigmoid"):
            assert_same(getattr(dnn, name)(Z)[0], getattr(R, name)(Z)[0], dtype, what=f"{name}{shape}")
            back = name + "_backward"
            assert_same(getattr(dnn, back)(dA, Z), getattr(R, back)(dA, Z), dtype,
                        magnitude=mag(dA), what=f"{back}{shape}")


# --------------------------------------------------------------------------
# Initialization
# --------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dims", [[12288, 20, 7, 5, 1], [5, 4, 3, 1], [1, 1], [3, 1]], ids=str)
@pytest.mark.parametrize("init", sorted(R.INIT_RECIPES))
def test_initialize_parameters_deep(dims, init, dtype):
    got = dnn.initialize_parameters_deep(dims, init=init, dtype=dtype)
    ref = R.initialize_parameters_deep(dims, init=init, dtype=dtype)
    assert list(got) == list(ref)
    for k in ref:  # random draws: bit for bit, not approximately
        assert_same(got[k], ref[k], dtype, exact=True, what=k)


@pytest.mark.parametrize("dtype", DTYPES)
def test_initialize_parameters_and_article_init(dtype):
    got = dnn.initialize_parameters(7, 4, 1, dtype=dtype)
    ref = R.initialize_parameters(7, 4, 1, dtype=dtype)
    assert list(got) == ["W1", "b1", "W2", "b2"]
    for k in ref:
        assert_same(got[k], ref[k], dtype, exact=True, what=k)
    got = dnn.init_parameters_L([6, 3, 1], dtype=dtype)
    ref = R.init_parameters_L([6, 3, 1], dtype=dtype)
    for k in ref:
        assert_same(got[k], ref[k], dtype, exact=True, what=k)
    got = dnn.initialize_parameters_deep([6, 3, 1], seed=7, init="he", dtype=dtype)
    ref = R.initialize_parameters_deep([6, 3, 1], seed=7, init="he", dtype=dtype)
    for k in ref:
        assert_same(got[k], ref[k], dtype, exact=True, what=k)


# --------------------------------------------------------------------------
# Forward
# --------------------------------------------------------------------------

def check_linear_forward(n, k, m, dtype, layout, seed, fn="linear_forward"):
    rng = np.random.default_rng(seed)
    A = in_layout(normal(rng, (k, m), dtype), layout)
    W = in_layout(normal(rng, (n, k), dtype, 1 / math.sqrt(k)), layout)
    b = in_layout(normal(rng, (n, 1), dtype, 0.5), layout)
    Z, cache = getattr(dnn, fn)(A, W, b)
    Z_ref, _ = R.linear_forward(A, W, b)
    assert_same(Z, Z_ref, dtype, magnitude=mag(W) * mag(A) + mag(b), k=k, what="Z")
    assert_linear_cache(cache, A, W, b, np.dtype(dtype))


def check_linear_activation_forward(n, k, m, dtype, layout, seed, activation, fn="linear_activation_forward"):
    rng = np.random.default_rng(seed)
    A_prev = in_layout(normal(rng, (k, m), dtype), layout)
    W = in_layout(normal(rng, (n, k), dtype, 1 / math.sqrt(k)), layout)
    b = in_layout(normal(rng, (n, 1), dtype, 0.5), layout)
    A, cache = getattr(dnn, fn)(A_prev, W, b, activation)
    A_ref, cache_ref = R.linear_activation_forward(A_prev, W, b, activation)
    assert_same(A, A_ref, dtype, magnitude=mag(W) * mag(A_prev) + mag(b), k=k, what="A")
    assert_layer_cache(cache, cache_ref, A_prev, W, b, np.dtype(dtype), k)
    # the activation is the one named, applied to the cached Z
    g = getattr(R, activation)(cache[1])[0]
    assert_same(A, g, dtype, what="A = g(cached Z)")


@PROPERTY
@given(n=dims_st, k=dims_st, m=dims_st, dtype=dtype_st, layout=layout_st, seed=seed_st)
def test_linear_forward(n, k, m, dtype, layout, seed):
    check_linear_forward(n, k, m, dtype, layout, seed)


@PROPERTY
@given(n=dims_st, k=dims_st, m=dims_st, dtype=dtype_st, layout=layout_st, seed=seed_st,
       activation=st.sampled_from(["relu", "sigmoid"]))
def test_linear_activation_forward(n, k, m, dtype, layout, seed, activation):
    check_linear_activation_forward(n, k, m, dtype, layout, seed, activation)


# (n, k, m): 1x1, a single example, a single output, the cat data's width once.
FIXED_SHAPES = [(1, 1, 1), (3, 4, 1), (1, 5, 7), (7, 1, 3), (20, 12288, 3)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n, k, m", FIXED_SHAPES, ids=str)
def test_forward_fixed_shapes(n, k, m, dtype):
    check_linear_forward(n, k, m, dtype, "C", 1)
    check_linear_forward(n, k, m, dtype, "F", 2, fn="forward_prop_L")
    for activation in ("relu", "sigmoid"):
        check_linear_activation_forward(n, k, m, dtype, "C", 3, activation)
        check_linear_activation_forward(n, k, m, dtype, "strided", 4, activation, fn="activation_forward_L")


def check_L_model_forward(dims, m, dtype, layout, seed):
    rng = np.random.default_rng(seed)
    X = in_layout(normal(rng, (dims[0], m), dtype), layout)
    params = {k: in_layout(v, layout) for k, v in network(rng, dims, dtype).items()}
    AL, caches = dnn.L_model_forward(X, params)
    AL_ref, caches_ref = R.L_model_forward(X, params)
    L = len(dims) - 1
    # Errors of each layer feed the next: allow L times the one-layer bound.
    k = max(dims)
    assert_same(AL, AL_ref, dtype, magnitude=1.0, k=k * L * L, what="AL")
    assert isinstance(caches, list) and len(caches) == L
    dt = np.dtype(dtype)
    for l, (cache, cache_ref) in enumerate(zip(caches, caches_ref), start=1):
        assert isinstance(cache, tuple) and len(cache) == 2
        (A_prev, W, b), Z = cache
        if l == 1:
            assert_linear_cache(cache[0], X, params["W1"], params["b1"], dt)
        else:
            assert_linear_cache(cache[0], A_prev, params[f"W{l}"], params[f"b{l}"], dt)
            # a hidden layer's output is the next layer's cached input: the very same array
            assert_same(A_prev, np.maximum(caches[l - 2][1], 0), dtype, exact=True, what=f"A{l - 1}")
            assert_same(A_prev, cache_ref[0][0], dtype, magnitude=mag(cache_ref[0][0]), k=k * l * l,
                        what=f"A{l - 1}")
        assert_same(Z, cache_ref[1], dtype, magnitude=mag(cache_ref[1]) + 1, k=k * l * l, what=f"Z{l}")
    # the output is sigmoid of the last cached Z
    assert_same(AL, R.sigmoid(caches[-1][1])[0], dtype, what="AL = sigmoid(Z_L)")


@PROPERTY
@given(widths=st.lists(dims_st, min_size=0, max_size=3), n_x=dims_st, m=dims_st, dtype=dtype_st,
       layout=layout_st, seed=seed_st)
def test_L_model_forward(widths, n_x, m, dtype, layout, seed):
    check_L_model_forward([n_x] + widths + [1], m, dtype, layout, seed)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dims, m", [([1, 1], 1), ([3, 1], 1), ([12288, 20, 7, 5, 1], 4), ([4, 6, 6, 6, 6, 1], 9)],
                         ids=str)
def test_L_model_forward_fixed(dims, m, dtype):
    check_L_model_forward(dims, m, dtype, "C", 5)


# --------------------------------------------------------------------------
# Cost
# --------------------------------------------------------------------------

@PROPERTY
@given(m=st.integers(1, 300), dtype=dtype_st, layout=layout_st, seed=seed_st)
def test_compute_cost(m, dtype, layout, seed):
    rng = np.random.default_rng(seed)
    AL = in_layout(rng.uniform(0.01, 0.99, (1, m)).astype(dtype), layout)
    Y = in_layout(labels(rng, m, dtype), layout)
    cost = dnn.compute_cost(AL, Y)
    ref = R.compute_cost(AL, Y)
    # a 0-d array, as the reference's np.squeeze gives
    assert isinstance(cost, np.ndarray) and cost.shape == ()
    # each term is at most -log(0.01) ~ 4.6; summation order differs
    assert_same(cost, ref, dtype, magnitude=5.0, k=m, what="cost")


@pytest.mark.parametrize("dtype", DTYPES)
def test_compute_cost_label_dtypes_and_flat_labels(dtype):
    rng = np.random.default_rng(0)
    AL = rng.uniform(0.05, 0.95, (1, 11)).astype(dtype)
    Y = labels(rng, 11, np.int64)  # the course's labels are int64 (from the HDF5 file)
    cost = dnn.compute_cost(AL, Y)
    # any non-float32 input makes the computation float64 (the contract), as NumPy promotes
    assert cost.dtype == np.float64
    assert abs(float(cost) - float(R.compute_cost(AL.astype(np.float64), Y))) < 1e-6 if dtype == np.float32 \
        else abs(float(cost) - float(R.compute_cost(AL, Y))) < 1e-13
    for Yb in (Y.astype(bool), Y.astype(dtype)):
        c = dnn.compute_cost(AL, Yb)
        assert abs(float(c) - float(cost)) < 1e-5


# --------------------------------------------------------------------------
# Backward
# --------------------------------------------------------------------------

def check_linear_backward(n, k, m, dtype, layout, seed, fn="linear_backward"):
    rng = np.random.default_rng(seed)
    dZ = in_layout(normal(rng, (n, m), dtype), layout)
    A_prev = in_layout(normal(rng, (k, m), dtype), layout)
    W = in_layout(normal(rng, (n, k), dtype, 1 / math.sqrt(k)), layout)
    b = in_layout(normal(rng, (n, 1), dtype), layout)
    got = getattr(dnn, fn)(dZ, (A_prev, W, b))
    ref = R.linear_backward(dZ, (A_prev, W, b))
    assert isinstance(got, tuple) and len(got) == 3
    dA_prev, dW, db = got
    assert_same(dA_prev, ref[0], dtype, magnitude=mag(W) * mag(dZ), k=n, what="dA_prev")
    assert_same(dW, ref[1], dtype, magnitude=mag(dZ) * mag(A_prev), k=m, what="dW")
    assert_same(db, ref[2], dtype, magnitude=mag(dZ), k=m, what="db")


def check_linear_activation_backward(n, k, m, dtype, layout, seed, activation, fn="linear_activation_backward"):
    rng = np.random.default_rng(seed)
    A_prev = in_layout(normal(rng, (k, m), dtype), layout)
    W = in_layout(normal(rng, (n, k), dtype, 1 / math.sqrt(k)), layout)
    b = in_layout(normal(rng, (n, 1), dtype, 0.5), layout)
    dA = in_layout(normal(rng, (n, m), dtype), layout)
    _, cache = R.linear_activation_forward(A_prev, W, b, activation)
    cache = (cache[0], in_layout(cache[1], layout))
    got = getattr(dnn, fn)(dA, cache, activation)
    ref = R.linear_activation_backward(dA, cache, activation)
    assert isinstance(got, tuple) and len(got) == 3
    dA_prev, dW, db = got
    assert_same(dA_prev, ref[0], dtype, magnitude=mag(W) * mag(dA), k=n, what="dA_prev")
    assert_same(dW, ref[1], dtype, magnitude=mag(dA) * mag(A_prev), k=m, what="dW")
    assert_same(db, ref[2], dtype, magnitude=mag(dA), k=m, what="db")


@PROPERTY
@given(n=dims_st, k=dims_st, m=dims_st, dtype=dtype_st, layout=layout_st, seed=seed_st)
def test_linear_backward(n, k, m, dtype, layout, seed):
    check_linear_backward(n, k, m, dtype, layout, seed)


@PROPERTY
@given(n=dims_st, k=dims_st, m=dims_st, dtype=dtype_st, layout=layout_st, seed=seed_st,
       activation=st.sampled_from(["relu", "sigmoid"]))
def test_linear_activation_backward(n, k, m, dtype, layout, seed, activation):
    check_linear_activation_backward(n, k, m, dtype, layout, seed, activation)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n, k, m", FIXED_SHAPES, ids=str)
def test_backward_fixed_shapes(n, k, m, dtype):
    check_linear_backward(n, k, m, dtype, "C", 1)
    check_linear_backward(n, k, m, dtype, "F", 2, fn="backprop_L")
    for activation in ("relu", "sigmoid"):
        check_linear_activation_backward(n, k, m, dtype, "C", 3, activation)
        check_linear_activation_backward(n, k, m, dtype, "reversed", 4, activation, fn="activation_backward_L")


def check_L_model_backward(dims, m, dtype, layout, seed):
    rng = np.random.default_rng(seed)
    X = normal(rng, (dims[0], m), dtype)
    params = network(rng, dims, dtype)
    Y = labels(rng, m, dtype)
    AL, caches = R.L_model_forward(X, params)
    # the same caches on both sides (see the module docstring), in the layout under test
    caches = [((in_layout(A, layout), in_layout(W, layout), in_layout(b, layout)), in_layout(Z, layout))
              for (A, W, b), Z in caches]
    AL, Y = in_layout(AL, layout), in_layout(Y, layout)
    grads = dnn.L_model_backward(AL, Y, caches)
    ref = R.L_model_backward(AL, Y, caches)
    assert isinstance(grads, dict)
    assert set(grads) == set(ref)
    L = len(dims) - 1
    k = max(dims) + m
    for key in ref:
        # the gradients pass through L layers; each adds its rounding
        assert_same(grads[key], ref[key], dtype, magnitude=mag(ref[key]) + 1e-3, k=k * L * L, what=key)


@PROPERTY
@given(widths=st.lists(dims_st, min_size=0, max_size=3), n_x=dims_st, m=dims_st, dtype=dtype_st,
       layout=layout_st, seed=seed_st)
def test_L_model_backward(widths, n_x, m, dtype, layout, seed):
    check_L_model_backward([n_x] + widths + [1], m, dtype, layout, seed)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dims, m", [([1, 1], 1), ([3, 1], 1), ([12288, 20, 7, 5, 1], 4), ([4, 6, 6, 6, 6, 1], 9)],
                         ids=str)
def test_L_model_backward_fixed(dims, m, dtype):
    check_L_model_backward(dims, m, dtype, "C", 6)


def test_L_model_backward_accepts_flat_labels():
    rng = np.random.default_rng(3)
    params = network(rng, [4, 3, 1], np.float64)
    X = normal(rng, (4, 6), np.float64)
    Y = labels(rng, 6, np.float64)
    AL, caches = R.L_model_forward(X, params)
    a = dnn.L_model_backward(AL, Y, caches)
    b = dnn.L_model_backward(AL, Y.ravel(), caches)  # the course's Y.reshape(AL.shape)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])


# --------------------------------------------------------------------------
# Forward then backward, composed the course's way, on dnn's own caches
# --------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_forward_backward_round_trip_on_dnn_caches(dtype):
    rng = np.random.default_rng(11)
    dims = [6, 5, 4, 1]
    X = normal(rng, (6, 13), dtype)
    Y = labels(rng, 13, dtype)
    params = network(rng, dims, dtype)
    AL, caches = dnn.L_model_forward(X, params)
    grads = dnn.L_model_backward(AL, Y, caches)
    AL_ref, caches_ref = R.L_model_forward(X, params)
    grads_ref = R.L_model_backward(AL_ref, Y, caches_ref)
    for key in grads_ref:
        assert_same(grads[key], grads_ref[key], dtype, magnitude=mag(grads_ref[key]) + 1e-3, k=100, what=key)
    cost = dnn.compute_cost(AL, Y)
    assert cost.dtype == dtype
    assert_same(cost, R.compute_cost(AL_ref, Y), dtype, magnitude=5.0, k=13, what="cost")


# --------------------------------------------------------------------------
# update_parameters and predict
# --------------------------------------------------------------------------

@PROPERTY
@given(widths=st.lists(dims_st, min_size=0, max_size=3), n_x=dims_st, dtype=dtype_st, layout=layout_st,
       seed=seed_st, lr=st.floats(min_value=1e-4, max_value=10.0))
def test_update_parameters(widths, n_x, dtype, layout, seed, lr):
    rng = np.random.default_rng(seed)
    dims = [n_x] + widths + [1]
    params = {k: in_layout(v, layout) for k, v in network(rng, dims, dtype).items()}
    grads = {"d" + k: in_layout(normal(rng, v.shape, dtype), layout) for k, v in params.items()}
    grads["dA0"] = normal(rng, (n_x, 3), dtype)  # present in real grads, ignored
    before = dict(params)
    before_values = {k: v.copy() for k, v in params.items()}
    out = dnn.update_parameters(params, grads, lr)
    ref = R.update_parameters({k: v for k, v in before.items()}, grads, lr)
    assert out is params  # the dict is updated and returned, as in the course
    assert list(out) == list(ref)
    for key in ref:
        assert_same(out[key], ref[key], dtype, magnitude=mag(ref[key]) + lr * mag(grads["d" + key]), what=key)
        assert out[key] is not before[key]
        # the old arrays are left as they were: new arrays, not an in-place update
        np.testing.assert_array_equal(before[key], before_values[key])


@pytest.mark.parametrize("dtype", DTYPES)
def test_update_parameters_integer_learning_rate_and_numpy_scalar(dtype):
    rng = np.random.default_rng(2)
    params = network(rng, [3, 2, 1], dtype)
    grads = {"d" + k: normal(rng, v.shape, dtype) for k, v in params.items()}
    for lr in (1, np.float32(0.5), np.float64(0.25)):
        out = dnn.update_parameters(dict(params), grads, lr)
        ref = R.update_parameters(dict(params), grads, float(lr))
        for key in ref:
            assert_same(out[key], ref[key].astype(dtype), dtype, magnitude=mag(ref[key]) + 1, what=key)


@PROPERTY
@given(widths=st.lists(dims_st, min_size=0, max_size=2), n_x=dims_st, m=dims_st, dtype=dtype_st,
       layout=layout_st, seed=seed_st)
def test_predict(widths, n_x, m, dtype, layout, seed):
    rng = np.random.default_rng(seed)
    dims = [n_x] + widths + [1]
    X = in_layout(normal(rng, (n_x, m), dtype), layout)
    params = {k: in_layout(v, layout) for k, v in network(rng, dims, dtype).items()}
    y = labels(rng, m, np.int64)
    out_c, out_r = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out_c):
        p = dnn.predict(X, y, params)
    with contextlib.redirect_stdout(out_r):
        p_ref = R.predict(X, y, params)
    AL, _ = R.L_model_forward(X, params)
    # Outputs within rounding of 0.5 may fall either way; everything else must agree.
    near = np.abs(AL.astype(np.float64) - 0.5) < 1e-4
    assert p.dtype == np.float64 and p.shape == (1, m)
    np.testing.assert_array_equal(p[~near], p_ref[~near])
    if not near.any():
        assert out_c.getvalue() == out_r.getvalue()
    assert out_c.getvalue().startswith("Accuracy: ")


def test_predict_threshold_is_strict():
    # L = 1, W = [[1]], b = 0: AL = sigmoid(x) = 0.5 exactly at x = 0, which is class 0.
    X = np.array([[-1.0, 0.0, 1e-12, 1.0]])
    params = {"W1": np.array([[1.0]]), "b1": np.zeros((1, 1))}
    p = dnn.predict(X, np.array([[0, 0, 1, 1]]), params)
    np.testing.assert_array_equal(p, [[0.0, 0.0, 1.0, 1.0]])
    np.testing.assert_array_equal(p, R.predict(X, np.array([[0, 0, 1, 1]]), params))


def test_predict_prints_like_the_course(capsys):
    rng = np.random.default_rng(9)
    X = normal(rng, (5, 17), np.float64)
    params = network(rng, [5, 4, 1], np.float64)
    y = labels(rng, 17, np.int64)
    dnn.predict(X, y, params)
    got = capsys.readouterr().out
    R.predict(X, y, params)
    assert got == capsys.readouterr().out


# --------------------------------------------------------------------------
# The dtype contract across the API
# --------------------------------------------------------------------------

def test_mixed_and_integer_inputs_compute_in_float64():
    rng = np.random.default_rng(4)
    A32 = normal(rng, (3, 4), np.float32)
    W64 = normal(rng, (2, 3), np.float64)
    b32 = normal(rng, (2, 1), np.float32)
    Z, cache = dnn.linear_forward(A32, W64, b32)
    assert Z.dtype == np.float64 and all(c.dtype == np.float64 for c in cache)
    Z_ref, _ = R.linear_forward(A32.astype(np.float64), W64, b32.astype(np.float64))
    assert_same(Z, Z_ref, np.float64, magnitude=10, k=3)
    Zi = np.array([[-2, 0, 3]])
    A, _ = dnn.relu(Zi)
    assert A.dtype == np.float64
    np.testing.assert_array_equal(A, [[0.0, 0.0, 3.0]])
    A, _ = dnn.sigmoid([[0.0, 1.0]])  # lists are arrays too
    assert A.dtype == np.float64
    assert_same(A, R.sigmoid(np.array([[0.0, 1.0]]))[0], np.float64)


def test_read_only_inputs_are_accepted():
    rng = np.random.default_rng(5)
    dims = [4, 3, 1]
    X = normal(rng, (4, 6), np.float64)
    Y = labels(rng, 6, np.float64)
    params = network(rng, dims, np.float64)
    for a in [X, Y, *params.values()]:
        a.flags.writeable = False
    AL, caches = dnn.L_model_forward(X, params)
    grads = dnn.L_model_backward(AL, Y, caches)
    AL_ref, caches_ref = R.L_model_forward(X, params)
    ref = R.L_model_backward(AL_ref, Y, caches_ref)
    for key in ref:
        assert_same(grads[key], ref[key], np.float64, magnitude=mag(ref[key]) + 1e-3, k=20, what=key)
    dnn.compute_cost(AL, Y)
    dnn.update_parameters(dict(params), grads, 0.1)


# --------------------------------------------------------------------------
# Both product paths (BLAS and dnn._simd's kernels), in every build
# --------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["blas", "own"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_every_product_path_in_every_build(path, dtype, simd_build, monkeypatch):
    # A layer's products go to BLAS or to dnn._simd's nn / nt as
    # dnn._products.for_step decides, in the build of dnn._simd this CPU
    # runs; force each path and each build on shapes that leave every
    # remainder (rows past the register blocks, columns past the vectors).
    monkeypatch.setattr(_products, "for_step", lambda *args: path == "own")
    for n, k, m in FIXED_SHAPES + [(7, 13, 517), (13, 9, 33), (6, 50, 64)]:
        check_linear_forward(n, k, m, dtype, "C", 1)
        check_linear_backward(n, k, m, dtype, "F", 2)
        for activation in ("relu", "sigmoid"):
            check_linear_activation_forward(n, k, m, dtype, "C", 3, activation)
            check_linear_activation_backward(n, k, m, dtype, "C", 4, activation)
    check_L_model_forward([9, 13, 7, 1], 517, dtype, "C", 5)
    check_L_model_backward([9, 13, 7, 1], 517, dtype, "C", 6)


@pytest.mark.parametrize("dtype", DTYPES)
def test_own_weight_gradient_keeps_inf_as_blas(dtype, simd_build):
    # nt's last examples are one vector overlapping examples summed already,
    # those lanes masked out: in both operands, or 0 * inf would make a nan
    # where BLAS and NumPy give inf.
    lanes = {"baseline": 16, "avx2": 32, "avx512": 64}[simd_build] // np.dtype(dtype).itemsize
    for m in (lanes + 1, 2 * lanes + 3):
        dZ = np.ones((1, m), dtype)
        A_prev = np.ones((1, m), dtype)
        A_prev[0, m - lanes] = np.inf  # the tail vector's first lane, summed already
        W = np.ones((1, 1), dtype)
        for own in (False, True):
            dW, db, dA_prev = (np.empty((1, 1), dtype), np.empty(1, dtype),
                               np.empty((1, m), dtype))
            _kernels.linear_backward(dZ, A_prev, W, dW, db, dA_prev, own)
            assert dW[0, 0] == np.inf, (own, m, dW)

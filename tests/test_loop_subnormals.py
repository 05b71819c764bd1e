"""Subnormal results flushed to zero in the mini-batch loop's epochs (``dnn/_platform.h``).

A float32 Adam fit with L2 and an input feature that is always zero decays that feature's weights
and moments geometrically: here the NumPy reference holds float32 subnormals after 500 epochs, and
an Intel core takes a microcode assist for every operation that makes or reads one. On builds that
can set the mode (x86-64; arm64 under GCC or clang) the loop's epochs flush such results to zero:
the fit keeps the reference's numbers (to float32 rounding: the flushed values are below 1.2e-38),
holds no subnormal, has the same bits on a team as on one thread (its helpers take the caller's
mode; ``tests/c/check_loop.c`` checks that in C on each compiler), and leaves the caller's NumPy
with IEEE's subnormals.
"""
import platform

import numpy as np
import pytest

import dnn
import dnn.reference as ref
from dnn import _loop

FLUSHES = _loop.flushes_subnormals()
TINY = np.finfo(np.float32).tiny


def subnormals(arrays):
    return sum(int(np.count_nonzero((np.abs(a) > 0) & (np.abs(a) < np.finfo(a.dtype).tiny))) for a in arrays)


def zero_feature_problem(n0, m, column, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n0, m)).astype(np.float32)
    X[column] = 0  # a feature that is always zero: only L2 moves its weights
    return X, (X[:1] > 0).astype(np.float32)


def test_a_fit_past_float32s_normal_range_keeps_the_references_numbers():
    X, Y = zero_feature_problem(5, 64, column=2)
    kw = dict(num_epochs=500, print_cost=False, learning_rate=0.01, mini_batch_size=16, lambd=0.5, seed=4,
              dtype=np.float32)
    want = ref.model(X, Y, [5, 6, 1], "adam", **kw)
    got = dnn.model(X, Y, [5, 6, 1], "adam", **kw)
    assert subnormals(want.values()) > 0, "the case no longer reaches subnormals: make it run longer"
    if FLUSHES:
        assert subnormals(got.values()) == 0
        # the zero feature's weights stop where their moments flushed: tiny, not subnormal
        assert 0 < np.abs(got["W1"][:, 2]).max() < 1e-20
    for key in want:
        assert got[key].dtype == np.float32
        np.testing.assert_allclose(got[key], want[key], rtol=0, atol=1e-5, err_msg=key)


def team_fit(threads, epochs=500):
    """A Loop of ``threads`` (every product ours; a first layer large enough that its gradient and
    update phases, where the zero feature's weights and moments change, run on the team) on a problem
    whose zero feature's weights decay past float32's normals; its parameters and Adam's moments."""
    dims, m, batch = [40, 64, 24, 1], 150, 48
    assert dims[1] * dims[0] * batch >= _loop.TEAM_SMALL_LAYER_WORK
    X, Y = zero_feature_problem(dims[0], m, column=3, seed=1)
    X, Y = np.ascontiguousarray(X.T), np.ascontiguousarray(Y.T)
    rng = np.random.default_rng(2)
    pairs = [((rng.standard_normal((dims[l], dims[l - 1])) / np.sqrt(dims[l - 1])).astype(np.float32),
              np.zeros((dims[l], 1), np.float32)) for l in range(1, len(dims))]
    v = [(np.zeros_like(W), np.zeros_like(b)) for W, b in pairs]
    s = [(np.zeros_like(W), np.zeros_like(b)) for W, b in pairs]
    loop = _loop.Loop(pairs, X, Y, optimizer="adam", batch_size=batch, lambd=0.5, v=v, s=s, products="own",
                      threads=threads)
    t = step = 0
    order_rng = np.random.default_rng(3)
    for _ in range(epochs):
        _, t, step = loop.epoch(order_rng.permutation(m), 0.01, t, step)
    assert loop.epoch_threads == threads
    return [a for pair in pairs + v + s for a in pair]


def test_a_team_flushes_as_its_caller_does():
    one, two = team_fit(1), team_fit(2)
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a, b)
    zero_feature = np.abs(one[0][:, 3])
    # L2 has decayed most of them to float32's smallest normals, where flushing stops them
    assert np.count_nonzero(zero_feature < 1e-30) >= len(zero_feature) // 2
    if FLUSHES:
        assert subnormals(one) == 0


def test_the_callers_numpy_keeps_subnormals_after_an_epoch():
    X, Y = zero_feature_problem(5, 64, column=2)
    dnn.model(X, Y, [5, 6, 1], "adam", num_epochs=2, print_cost=False, mini_batch_size=16, dtype=np.float32)
    product = np.multiply(np.float32(1e-30), np.float32(1e-10))
    assert 0 < product < TINY  # 1e-40: a subnormal, not flushed in the caller's own arithmetic


def test_x86_64_builds_flush():
    if platform.machine().lower() not in ("x86_64", "amd64"):
        pytest.skip("x86-64 only: arm64 builds flush under GCC or clang, other targets keep subnormals")
    assert FLUSHES

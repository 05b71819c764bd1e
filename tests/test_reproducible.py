"""The same fit gives the same bits, whatever the timing or other threads do (issue 14, items 9-11).

- Item 9: the Gram form's chunk boundaries follow the clock; where they fall
  must not change the numbers (``CHUNK_SECONDS`` from 0 to huge, same bits).
- Item 10: a sharded fit holds every BLAS library at one thread for the
  process while it runs (OpenBLAS's count is process-wide, even through
  ``openblas_set_num_threads_local`` in its pthreads build): what a
  concurrent caller sees is exactly one-thread BLAS, and the limits come
  back when the fit ends; the fit's own bits never depend on it.
- Item 11: every dnn function that seeds NumPy's global random state takes
  one lock, and ``random_state`` keeps a fit out of the global state.
"""
import sys
import threading

import numpy as np
import pytest

import dnn
from dnn import models


def _data(n_x, m, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    X = rng.random((n_x, m)).astype(dtype)
    Y = (rng.random((1, m)) > 0.5).astype(dtype)
    return X, Y


def _same(a, b):
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


# --------------------------------------------------------------------------
# Item 9
# --------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_gram_form_bits_do_not_depend_on_chunk_timing(monkeypatch, dtype):
    X, Y = _data(600, 60, dtype=dtype)
    dims = [600, 8, 3, 1]
    assert models._gram_form(dims, 60, 300)
    results = []
    # 0 s: one iteration per chunk; 1e9 s: chunks end only at recorded costs.
    for budget in (1e9, 0.0, 1e-5, 3e-4, 0.0):
        monkeypatch.setattr(models, "CHUNK_SECONDS", budget)
        results.append(dnn.L_layer_model(X, Y, dims, 0.01, 300, return_costs=True, cost_every=7))
    for params, costs in results[1:]:
        assert _same(params, results[0][0])
        assert costs == results[0][1]


@pytest.mark.parametrize("dims, m", [([64, 32, 16, 1], 1797), ([30, 8, 1], 50)])
def test_other_plans_do_not_depend_on_chunk_timing(monkeypatch, dims, m):
    """Shards (one or two threads per chunk) and the direct form: no state across chunks."""
    X, Y = _data(dims[0], m, seed=2)
    results = []
    for budget in (1e9, 0.0, 1e-4):
        monkeypatch.setattr(models, "CHUNK_SECONDS", budget)
        results.append(dnn.L_layer_model(X, Y, dims, 0.05, 150, return_costs=True, cost_every=50))
    for params, costs in results[1:]:
        assert _same(params, results[0][0]) and costs == results[0][1]


def test_gram_form_parameters_seen_by_the_callback_are_current(monkeypatch):
    """Between chunks the caller's W_1 holds every update so far (published, not deferred)."""
    X, Y = _data(600, 60)
    dims = [600, 8, 3, 1]
    monkeypatch.setattr(models, "CHUNK_SECONDS", 0.0)
    seen = {}

    def callback(i, cost):
        if i == 37:
            seen["W1"] = holder["p"]["W1"].copy() if "p" in holder else None

    holder = {}
    original = dnn._rng.initial_parameters

    def capture(*args, **kwargs):   # the dict the fit updates in place
        holder["p"] = original(*args, **kwargs)
        return holder["p"]

    monkeypatch.setattr(dnn._rng, "initial_parameters", capture)
    dnn.L_layer_model(X, Y, dims, 0.01, 80, callback=callback)
    monkeypatch.setattr(dnn._rng, "initial_parameters", original)
    ref = dnn.reference.L_layer_model(X, Y, dims, 0.01, 37)
    np.testing.assert_allclose(seen["W1"], ref["W1"], rtol=1e-12, atol=1e-14)


# --------------------------------------------------------------------------
# Item 10
# --------------------------------------------------------------------------

def _blas_counts():
    from threadpoolctl import threadpool_info
    return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]


def test_what_a_caller_sees_beside_a_sharded_fit():
    pytest.importorskip("threadpoolctl")
    from threadpoolctl import threadpool_limits
    from dnn._blas_threads import blas_threads
    if blas_threads() < 2:
        pytest.skip("BLAS runs one thread here: nothing to lend")
    X, Y = _data(64, 1797, seed=3)
    dims = [64, 32, 16, 1]
    assert models._shards(dims, 1797, False) == 2
    alone = dnn.L_layer_model(X, Y, dims, 0.05, 200)
    before = _blas_counts()

    # A step-by-step call as a concurrent caller makes it, and under one-thread BLAS.
    A, W = _data(300, 400, seed=5)[0], np.random.default_rng(6).standard_normal((200, 300))
    b = np.zeros((200, 1))
    with threadpool_limits(1):
        one_thread = dnn.linear_forward(A, W, b)[0]

    inside, out = threading.Event(), threading.Event()
    seen = {}

    def callback(i, cost):
        if i >= 100 and not inside.is_set():
            inside.set()
            out.wait(30)

    fit = {}
    t = threading.Thread(target=lambda: fit.setdefault("p", dnn.L_layer_model(
        X, Y, dims, 0.05, 200, callback=callback)))
    t.start()
    try:
        assert inside.wait(60)
        seen["counts"] = _blas_counts()
        seen["Z"] = dnn.linear_forward(A, W, b)[0]
    finally:
        out.set()
        t.join(60)
    # During the fit: every BLAS at one thread; the caller's numbers are one-thread BLAS's.
    assert seen["counts"] and all(c == 1 for c in seen["counts"])
    assert np.array_equal(seen["Z"], one_thread)
    # After: the limits as they were, and the fit's bits its own.
    assert _blas_counts() == before
    assert _same(fit["p"], alone)


# --------------------------------------------------------------------------
# Item 11
# --------------------------------------------------------------------------

def test_initializers_and_fits_do_not_race_for_the_global_state():
    X, Y = _data(20, 30, seed=7)
    dims = [20] + [6] * 20 + [1]   # many draws: a wide window between the seed and the last
    solo = dnn.L_layer_model(X, Y, dims, 0.01, 1)
    stop = threading.Event()
    old_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)     # hand the GIL over often, as a loaded machine would

    def hammer():
        while not stop.is_set():
            dnn.initialize_parameters_deep([50, 40, 30, 1], seed=12345)
            dnn.initialize_parameters(30, 20, 1, seed=777)

    threads = [threading.Thread(target=hammer) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        fits = [dnn.L_layer_model(X, Y, dims, 0.01, 1) for _ in range(30)]
        fits += [dnn.two_layer_model(X, Y, (20, 6, 1), 0.01, 1) for _ in range(10)]
    finally:
        stop.set()
        for t in threads:
            t.join()
        sys.setswitchinterval(old_interval)
    two = dnn.two_layer_model(X, Y, (20, 6, 1), 0.01, 1)
    assert all(_same(p, solo) for p in fits[:30])
    assert all(_same(p, two) for p in fits[30:])


def test_random_state_int_gives_the_course_draws_without_touching_the_global_state():
    X, Y = _data(20, 30, seed=7)
    dims = [20, 6, 3, 1]
    course = dnn.L_layer_model(X, Y, dims, 0.01, 5)     # seed(1): the course's default
    np.random.seed(2024)
    expected_next = np.random.RandomState(2024).rand()
    mine = dnn.L_layer_model(X, Y, dims, 0.01, 5, random_state=1)
    assert np.random.rand() == expected_next            # the global state untouched
    assert _same(mine, course)
    np.testing.assert_array_equal(dnn.initialize_parameters_deep(dims, random_state=3)["W2"],
                                  dnn.initialize_parameters_deep(dims, seed=3)["W2"])


def test_random_state_generator():
    X, Y = _data(20, 30, seed=7)
    a = dnn.L_layer_model(X, Y, [20, 5, 1], 0.01, 3, random_state=np.random.default_rng(9))
    b = dnn.L_layer_model(X, Y, [20, 5, 1], 0.01, 3, random_state=np.random.default_rng(9))
    assert _same(a, b)
    rng = np.random.default_rng(9)
    p1 = dnn.initialize_parameters_deep([4, 3, 1], random_state=rng)
    p2 = dnn.initialize_parameters_deep([4, 3, 1], random_state=rng)
    assert not np.array_equal(p1["W1"], p2["W1"])       # the Generator advanced
    two = dnn.two_layer_model(X, Y, (20, 5, 1), 0.01, 2, random_state=np.random.default_rng(1))
    assert two["W1"].shape == (5, 20)


@pytest.mark.parametrize("kwargs, exc", [
    ({"random_state": "1"}, TypeError),
    ({"random_state": 1.5}, TypeError),
    ({"random_state": True}, TypeError),
    ({"random_state": -1}, ValueError),
    ({"random_state": 2**32}, ValueError),
    ({"random_state": 1, "seed": 2}, ValueError),
])
def test_random_state_is_checked(kwargs, exc):
    X, Y = _data(4, 6)
    with pytest.raises(exc):
        dnn.L_layer_model(X, Y, [4, 2, 1], 0.01, 1, **kwargs)
    with pytest.raises(exc):
        dnn.initialize_parameters_deep([4, 2, 1], **kwargs)

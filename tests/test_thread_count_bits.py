"""A fit gives the same bits at any thread count (the developers' guide: "whatever the
timing, the thread count or other threads do").

What could make them differ, and what each test pins:

- OpenBLAS sums a product differently with one thread and with two, once it
  is long enough (``benchmarks/blas_thread_bits.py``): a fit holds BLAS at
  one thread, the full-batch trainer and the mini-batch loop alike. Tests
  with every product on BLAS and long sums (K = 2000 examples) would fail
  without that.
- A plan decided per thread count: shards follow the cores and a plan's key
  leaves the threads out (``dnn._plan``, ``dnn._loop_plan``), so a fit
  planned at one thread count runs the same arithmetic at another.
- A Loop's team: a BLAS weight gradient runs whole on one thread of it.

Each fit runs under ``threadpool_limits(1)``, then 2, in one process
(the plan decided at the first is kept for the second, as the wisdom file
keeps it across processes).
"""
import os

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

import dnn
from dnn import _loop, _loop_plan, _plan
from dnn._plan import Plan

pytestmark = pytest.mark.skipif(
    (os.cpu_count() or 1) < 2 or len(getattr(os, "sched_getaffinity", lambda _: [0, 1])(0)) < 2,
    reason="one CPU: BLAS and dnn run one thread whatever the limit")


@pytest.fixture(autouse=True)
def fresh_decisions(monkeypatch):
    monkeypatch.setenv("DNN_WISDOM", "off")
    _plan.forget()
    yield
    _plan.forget()


def _at_each_count(fit):
    out = []
    for threads in (1, 2):
        with threadpool_limits(threads):
            out.append(fit())
    return out


def _flat(params):
    return np.concatenate([np.ravel(params[k]) for k in sorted(params)])


def _full_batch_data(n_x, m, dtype, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_x, m)).astype(dtype)
    Y = (X[0] + 0.5 * X[1] > 0).astype(dtype)[None]
    return X, Y


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_full_batch_blas_on_one_thread(dtype):
    # Unsplit, every product on BLAS, sums over 2000 examples: BLAS threads them at two
    X, Y = _full_batch_data(500, 2000, dtype)
    plan = Plan((0, 0), 1)
    one, two = _at_each_count(lambda: _flat(dnn.L_layer_model(X, Y, [500, 100, 1], 0.01, 20,
                                                               plan=plan)))
    np.testing.assert_array_equal(one, two)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("dims, m", [([500, 100, 1], 2000), ([100, 50, 50, 1], 1000)])
def test_full_batch_planned_fit(dims, m, dtype):
    # long enough to be planned (timed); the split follows the cores, not the limit
    X, Y = _full_batch_data(dims[0], m, dtype, seed=1)
    n = _plan.PLAN_MIN_ITERATIONS
    one, two = _at_each_count(lambda: _flat(dnn.L_layer_model(X, Y, dims, 0.01, n)))
    np.testing.assert_array_equal(one, two)


def _classes(m, n_x, dtype, seed=2):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((m, n_x)).astype(dtype)
    y = (X[:, 0] + 0.3 * X[:, 1] > 0).astype(int) + (X[:, 2] > 1)
    return X, y


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_mini_batches_on_blas(dtype):
    # batches of 2048 with every product on BLAS: the weight gradients sum 2048 terms
    X, Y = _full_batch_data(300, 4096, dtype, seed=2)

    def fit():
        params = dnn.model(X, Y, [300, 64, 1], "adam", 0.001, mini_batch_size=2048, num_epochs=3,
                           print_cost=False, seed=0, plan="blas")
        return _flat(params)

    one, two = _at_each_count(fit)
    np.testing.assert_array_equal(one, two)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_full_batch_estimator(dtype):
    X, y = _classes(3000, 200, dtype)

    def fit():
        c = dnn.DNNClassifier(hidden_layer_sizes=(50,), solver="gd", max_iter=30, random_state=0,
                              dtype=dtype, tol=0, n_iter_no_change=100)
        c.fit(X, y)
        return np.concatenate([w.ravel() for w in c.coefs_ + c.intercepts_])

    one, two = _at_each_count(fit)
    np.testing.assert_array_equal(one, two)


def test_team_with_a_blas_weight_gradient():
    # nn ours (a team may run the Loop), nt on BLAS: the gradient runs whole on one thread
    rng = np.random.default_rng(3)
    dims = [200, 128, 3]
    X = rng.standard_normal((1024, 200))
    Y = np.eye(3)[rng.integers(0, 3, 1024)]
    products = [(True, False), (True, False)]
    assert _loop.teamable(dims, 512, products, False)
    out = []
    for threads in (1, 2):
        layers = [(rng_w.copy(), np.zeros((o, 1))) for rng_w, o in
                  zip([np.random.default_rng(4).standard_normal((o, i)) * 0.05 for i, o in zip(dims, dims[1:])],
                      dims[1:])]
        with threadpool_limits(threads):
            loop = _loop.Loop(layers, X, Y, output="softmax", optimizer="gd", batch_size=512,
                              products=products, threads=threads)
            assert loop.teamed == (threads == 2) and loop.uses_blas
            for _ in range(3):
                loop.epoch(None, 0.01)
        out.append(np.concatenate([a.ravel() for pair in layers for a in pair]))
    np.testing.assert_array_equal(out[0], out[1])


def test_mini_batch_plan_key_and_products_ignore_the_limit():
    dims, batch = (784, 256, 128, 64, 10), 200
    got = []
    for threads in (1, 2):
        with threadpool_limits(threads):
            got.append(([(p.products, p.numpy_blas) for p in _loop_plan.candidates(dims, batch, np.float64)],
                        _loop_plan.rule_plan(dims, batch, np.float64).products,
                        _loop_plan.plan_key(dims, batch, np.float64, True, _plan.cores(), "avx512")))
    assert got[0] == got[1]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("cap", [2, 4])
def test_gram_form_slabs(dtype, cap):
    # the Gram form's products (W_1 X, dZ_1 G, the deferred updates) in slabs, unsplit; at most
    # 2 and 4 slabs, whatever this machine's cap
    from dnn import _train
    dims, m = [2000, 300, 1], 400
    X, Y = _full_batch_data(dims[0], m, dtype, seed=5)
    assert _plan.gram_form(dims, m, 130)
    saved = _train._set_slabs(cap)
    try:
        one, two = _at_each_count(lambda: _flat(dnn.L_layer_model(X, Y, dims, 0.01, 130)))
    finally:
        _train._set_slabs(saved)
    np.testing.assert_array_equal(one, two)


def test_slabs_follow_the_shape_and_the_machine_alone():
    # At most the machine's CPUs, up to 4, as the step calls' (each slab packs the operand it
    # does not cut again). Was: always up to 4.
    import os
    from dnn import _train
    assert _train.SLAB_THREADS == max(1, min(4, os.cpu_count() or 1))
    saved = _train._set_slabs(4)
    try:
        assert _train.slabs(100, 2000, 500) == 4                    # 1e8 multiply-adds
        assert _train.slabs(2000, 100, 500) == _train.slabs(100, 2000, 500)
        assert _train.slabs(20, 209, 7) == 1                        # small: whole
        assert _train.slabs(1, 10**6, 100) == 4                     # cut along the long side
        assert _train.slabs(100, 100, 10**5) == 1                   # no side of 64 a slab
        for cap in (3, 2, 1):
            _train._set_slabs(cap)
            assert _train.slabs(100, 2000, 500) == cap
    finally:
        _train._set_slabs(saved)
    assert _train.slabs(100, 2000, 500) == _train.SLAB_THREADS


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("alpha", [0.0, 1e-3])
def test_mini_batch_losses_on_a_team(alpha):
    # a team's shares of the batch's columns and of the weights: the loss is summed by fixed
    # blocks of columns and L2's squares on one thread, so the curve (early stopping and
    # learning_rate="adaptive" read it) has the same bits too
    X, y = _classes(4000, 200, "float64", seed=6)

    def fit():
        c = dnn.DNNClassifier(hidden_layer_sizes=(256, 128), batch_size=500, max_iter=4, alpha=alpha,
                              random_state=0, tol=0, n_iter_no_change=100)
        c.fit(X, y)
        return c.loss_curve_, np.concatenate([w.ravel() for w in c.coefs_ + c.intercepts_])

    (curve1, w1), (curve2, w2) = _at_each_count(fit)
    assert curve1 == curve2
    np.testing.assert_array_equal(w1, w2)

"""The mini-batch loop on a team of threads (``dnn._loop.Loop(threads=)``) and the planner's team.

A team splits an epoch's own-kernel products, output pass, optimizer and
elementwise passes into shares of columns, rows and elements that start
where one thread's call would put the same element in the same kind of
block, so the parameters and optimizer state have the same bits on 1, 2 and
3 threads (asserted exactly), and the NumPy twin's numbers to rounding
(tests/test_loop.py's ``compare``). Sizes are chosen so that every share is
taken: batches of at least two 16-column pieces, layers of at least two
8-row pieces, weights of more than 64 elements, a last batch of a single
piece. Also: the planner's team honours threadpoolctl's limits, a plan's
``threads`` survives the wisdom file, bad ``threads`` are refused, and a
Loop whose team started before a fork runs in the child.
"""
import dataclasses
import importlib.util
import os
import pathlib
import time

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from dnn import _loop, _loop_plan
from dnn._loop_plan import LoopPlan


def _twin():
    path = pathlib.Path(__file__).with_name("test_loop.py")
    spec = importlib.util.spec_from_file_location("_test_loop_twin_threads", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


twin = _twin()
DTYPES = twin.DTYPES


def fit(threads, dims, m, b, optimizer, reg, hidden, output, dtype, products, epochs=2, lr=0.02):
    """``compare`` (parity with the NumPy twin) on a team of ``threads``; the parameters and state."""
    ours, v, s = twin.compare(dims, m, b, optimizer, reg, hidden, output, dtype, epochs=epochs, lr=lr,
                              products=products, threads=threads)
    return [ours[k] for k in sorted(ours)] + [a for pair in v + s for a in pair]


def assert_same_bits(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("output, K", [("sigmoid", 1), ("softmax", 10), ("identity", 2)])
@pytest.mark.parametrize("hidden", _loop.ACTIVATIONS)
@pytest.mark.parametrize("optimizer", _loop.OPTIMIZERS)
def test_team_every_optimizer_and_output(dtype, output, K, hidden, optimizer):
    # 150 examples in batches of 48: shares of 16 and 32 columns, and a last batch of 6 (one member).
    args = ([20, 40, 24, K], 150, 48, optimizer, "both", hidden, output, dtype, "own")
    lr = 0.0002 if optimizer == "rmsprop" else 0.02  # RMSprop: lr * sign(g) steps amplify rounding
    one = fit(1, *args, lr=lr)
    assert_same_bits(fit(2, *args, lr=lr), one)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("products", _loop.PRODUCTS)
@pytest.mark.parametrize("reg", list(twin.REGULARIZATION))
@pytest.mark.parametrize("threads", [2, 3])
def test_team_products_and_regularization(dtype, products, reg, threads):
    # A team with BLAS products (run whole on its first thread) and with ours; 3 threads: uneven shares.
    args = ([33, 50, 40, 17, 3], 200, 64, "adam", reg, "relu", "softmax", dtype, products)
    assert_same_bits(fit(threads, *args), fit(1, *args))


@pytest.mark.parametrize("dims, m, b", [
    ([3, 1], 10, 4),              # no hidden layer, batches below one share
    ([4, 6, 1], 17, 1),           # batch size 1
    ([8, 16, 8, 4, 2], 70, 64),   # one share of rows, a last batch of 6
    ([30, 70, 2], 100, 100),      # one batch of all m
])
@pytest.mark.parametrize("products", ["own", "auto"])
def test_team_small_shapes(dims, m, b, products):
    args = (dims, m, b, "nesterov", "both", "tanh", "sigmoid" if dims[-1] == 1 else "softmax", np.float64,
            products)
    assert_same_bits(fit(2, *args), fit(1, *args))


@pytest.mark.parametrize("threads", [2, 3])
def test_far_rows_packed_in_each_share_s_scratch(threads):
    # Batches of 4,100 float64 columns: X_b^T's and H_1's rows 32 KiB apart or more, which
    # ``nn`` packs (AVX-512 build) into the Loop's scratch of each column share, not a malloc.
    args = ([70, 80, 3], 4100, 4100, "adam", "none", "relu", "softmax", np.float64, "own")
    assert_same_bits(fit(threads, *args, epochs=1), fit(1, *args, epochs=1))


def test_team_same_bits_on_repeat():
    args = ([20, 40, 24, 10], 150, 48, "adam", "dropout", "leaky_relu", "softmax", np.float32, "own")
    assert_same_bits(fit(2, *args), fit(2, *args))


@pytest.mark.parametrize("threads", [0, -1, _loop.MAX_THREADS + 1, 1.5, "2"])
def test_bad_threads(threads):
    X = np.zeros((4, 3))
    with pytest.raises(ValueError, match="threads must be an int"):
        _loop.Loop([(np.zeros((1, 3)), np.zeros((1, 1)))], X, np.zeros((4, 1)), threads=threads)


def test_loss_agrees_across_teams():
    # The loss sums the members' shares: the same to rounding, not to the bit.
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 20))
    Y = np.eye(5)[rng.integers(0, 5, 300)]
    losses = []
    for threads in (1, 2):
        layers = [(np.ones((40, 20)) * 0.01, np.zeros((40, 1))), (np.ones((5, 40)) * 0.01, np.zeros((5, 1)))]
        loop = _loop.Loop(layers, X, Y, output="softmax", batch_size=64, products="own", lambd=0.3,
                          threads=threads)
        losses.append(loop.epoch(None, 0.1)[0])
    assert losses[1] == pytest.approx(losses[0], rel=1e-13)


S4 = (784, 256, 128, 64, 1)


def test_plan_team_follows_threadpoolctl():
    with threadpool_limits(1):
        assert _loop_plan.team_threads() == 1
        assert _loop_plan.rule_plan(S4, 64, np.float64).threads == 1
        assert {p.threads for p in _loop_plan.candidates(S4, 64, np.float64)} == {1}
        X, Y = np.zeros((64, 784)), np.zeros((64, 1))
        layers = [(np.zeros((o, i)), np.zeros((o, 1))) for i, o in zip(S4, S4[1:])]
        given = LoopPlan(_loop_plan.option_plan("own", S4, 64, np.float64).products, threads=2)
        assert _loop_plan.make_loop(given, layers, X, Y, 0.1, 1, batch_size=64).threads == 1
    if os.cpu_count() < 2 or len(os.sched_getaffinity(0)) < 2:
        pytest.skip("one CPU: no team")
    with threadpool_limits(2):
        assert _loop_plan.team_threads() == 2
        for dims, batch, dtype in ((S4, 64, np.float64), (S4, 256, np.float32), ((4, 8, 1), 64, np.float64)):
            rule = _loop_plan.rule_plan(dims, batch, dtype)
            nn_ours = all(nn for nn, nt in rule.products)  # a BLAS weight gradient runs whole, on a team
            big = batch * sum(a * b for a, b in zip(dims, dims[1:])) >= _loop_plan.TEAM_MIN_WORK
            assert rule.threads == (2 if nn_ours and big else 1), (dims, batch, rule)
            plans = _loop_plan.candidates(dims, batch, dtype)
            assert len(set(plans)) == len(plans)
            # a candidate a team may run is timed on one (and, below the rule's work, on one
            # thread too): the threads change no number
            for p in plans:
                teamable = all(nn for nn, nt in p.products)
                assert p.threads in ((2,) if big and teamable else (1, 2) if teamable else (1,)), p
                assert p.threads == 2 or not big or not teamable
            assert all(dataclasses.replace(p, threads=2) in plans for p in plans
                       if all(nn for nn, nt in p.products))
            # and the same arithmetic as on one thread
            with threadpool_limits(1):
                assert {(p.products, p.numpy_blas) for p in _loop_plan.candidates(dims, batch, dtype)} == {
                    (p.products, p.numpy_blas) for p in plans}
        assert _loop_plan.rule_plan((4, 8, 1), 64, np.float64).threads == 1  # 2.5 thousand multiply-adds
        given = LoopPlan(_loop_plan.option_plan("own", S4, 64, np.float64).products, threads=2)
        assert _loop_plan.make_loop(given, layers, X, Y, 0.1, 1, batch_size=64).threads == 2
        assert _loop_plan.make_loop("blas", layers, X, Y, 0.1, 1, batch_size=64).threads == 1


def test_plan_threads_round_trip_and_check():
    p = LoopPlan(((True, True), (True, False)), threads=2)
    assert LoopPlan.from_dict(p.to_dict()) == p
    assert LoopPlan.from_dict({"products": [[1, 1], [1, 0]]}).threads == 1  # a file from before teams
    assert p.code() == "oo.ob x2"
    for bad in (0, _loop.MAX_THREADS + 1, 2.0):
        with pytest.raises(ValueError, match="threads"):
            LoopPlan(p.products, threads=bad).check((5, 4, 1))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_team_after_fork():
    # The child has a copy of the Loop but not its helper threads: it starts its own team.
    rng = np.random.default_rng(0)
    X = rng.standard_normal((128, 20))
    Y = (rng.random((128, 1)) < 0.5).astype(float)
    layers = [(rng.standard_normal((32, 20)) * 0.1, np.zeros((32, 1))), (rng.standard_normal((1, 32)), np.zeros((1, 1)))]
    loop = _loop.Loop(layers, X, Y, batch_size=64, products="own", threads=2)
    loop.epoch(None, 0.1)
    pid = os.fork()
    if pid == 0:  # the child: one epoch, then leave without Python's clean-up
        try:
            loop.epoch(None, 0.1)
            os._exit(0)
        except BaseException:
            os._exit(1)
    deadline = time.monotonic() + 60
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            pytest.fail("the child's epoch did not finish")
        time.sleep(0.01)
    assert os.waitstatus_to_exitcode(status) == 0
    loop.epoch(None, 0.1)  # the parent's team still runs


def test_a_kept_team_decision_runs_on_a_team(monkeypatch):
    # Below the rule's work a team that won its timing is kept as such; the threads allowed at
    # each fit size it (one thread: none). A kept one-thread decision follows the rule.
    dims, batch = (64, 32, 10), 64
    ours = _loop_plan.option_plan("own", dims, batch, np.float64).products
    for kept, want in ((LoopPlan(ours, threads=2), 2), (LoopPlan(ours, threads=1), 1)):
        monkeypatch.setattr(_loop_plan._plan, "decide", lambda key, parse, measure, kept=kept: kept)
        with threadpool_limits(1):
            assert _loop_plan.plan_for(dims, batch, np.float64, 10**6).threads == 1
        if len(os.sched_getaffinity(0)) >= 2:
            with threadpool_limits(2):
                assert _loop_plan.plan_for(dims, batch, np.float64, 10**6).threads == want


def test_epoch_on_its_caller_where_blas_cannot_be_held(monkeypatch):
    # A Loop with a BLAS product holds BLAS at one thread for each epoch; where that fails (an
    # OpenMP BLAS, whose limit is per thread) its team's threads would each call a threaded BLAS,
    # so the epoch runs on the caller alone: the same bits, one core.
    from dnn import _blas_threads

    rng = np.random.default_rng(0)
    dims, m = [33, 50, 40, 17, 3], 200
    X = rng.standard_normal((m, dims[0]))
    Y = np.eye(3)[rng.integers(0, 3, m)]
    first = [(rng.standard_normal((dims[l + 1], dims[l])) * 0.1, np.zeros((dims[l + 1], 1)))
             for l in range(len(dims) - 1)]

    def run(threads):
        layers = [(W.copy(), b.copy()) for W, b in first]
        loop = _loop.Loop(layers, X, Y, output="softmax", products="nn", threads=threads, batch_size=64)
        assert loop.uses_blas  # the weight gradients on BLAS
        for epoch in range(2):
            loop.epoch(None, 0.05)
        return loop, [a for pair in layers for a in pair]

    alone, want = run(1)
    assert alone.epoch_threads == 1
    if _blas_threads.blas_threads() >= 2 and _loop_plan.team_threads() >= 2:
        loop, got = run(2)
        assert loop.epoch_threads == 2
        assert_same_bits(got, want)
    with threadpool_limits(1):  # the user's limit: one thread
        loop, got = run(2)
    assert loop.epoch_threads == 1
    assert_same_bits(got, want)
    monkeypatch.setattr(_blas_threads, "_lend", lambda: False)
    loop, got = run(2)
    assert loop.epoch_threads == 1
    assert_same_bits(got, want)

"""The mini-batch loop's planner (``dnn._loop_plan``): what it times, when, and that it keeps it.

No timing is asserted (which products win is the machine's business). What
is tested: short fits are never timed, long ones once per key, before
training; the decision is reused in the process and through the wisdom file,
so a repeated call gives the same bits; a given plan is honoured; every
candidate's numbers are the NumPy twin's; the caller's parameters and
optimizer state are never touched by the timing.
"""
import importlib.util
import json
import pathlib

import numpy as np
import pytest

import dnn
from dnn import _engine, _loop, _loop_plan, _numpy_blas, _plan
from dnn._loop_plan import LoopPlan


def _twin():
    """``tests/test_loop.py`` (its NumPy twin of ``dnn.model`` and its tolerances)."""
    path = pathlib.Path(__file__).with_name("test_loop.py")
    spec = importlib.util.spec_from_file_location("_test_loop_twin", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture
def counted(monkeypatch):
    """Counts the planner's measurements of a key's candidates (and still runs them; not a team's
    second timing, which follows this machine's timings: ``TEAM_TRIES``); long fits from 20 batches."""
    calls = []
    real = _loop_plan.measure

    def measure(plans, *args):
        if not (len(plans) == 2 and plans[0].products == plans[1].products):  # a team's pair
            calls.append(len(plans))
        return real(plans, *args)

    monkeypatch.setattr(_loop_plan, "measure", measure)
    monkeypatch.setattr(_loop_plan, "MIN_BATCHES", 20)
    return calls


@pytest.fixture
def products(monkeypatch):
    """The ``products`` each ``dnn._loop.Loop`` made is given (timing's and training's)."""
    made = []
    real = _loop.Loop

    def Loop(*args, **kw):
        made.append(kw.get("products"))
        return real(*args, **kw)

    monkeypatch.setattr(_loop, "Loop", Loop)
    return made


DIMS = [30, 20, 12, 1]


def data(m=120, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((DIMS[0], m)).astype(dtype)
    Y = (rng.random((1, m)) < 0.5).astype(dtype)
    return X, Y


def fit(X, Y, epochs=4, plan="auto", **kw):
    return dnn.model(X, Y, DIMS, "adam", learning_rate=0.01, mini_batch_size=16, num_epochs=epochs,
                     print_cost=False, seed=2, plan=plan, **kw)


def same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_candidates_start_with_the_rule_and_differ():
    for dtype in (np.float32, np.float64):
        plans = _loop_plan.candidates(DIMS, 16, dtype)
        assert plans[0] == _loop_plan.option_plan("auto", DIMS, 16, dtype)
        assert _loop_plan.option_plan("blas", DIMS, 16, dtype) in plans
        assert len(set(plans)) == len(plans) >= 2
        for p in plans:
            p.check(DIMS)


def test_short_fit_takes_the_rule_untimed(wisdom, counted, products):
    X, Y = data()
    fit(X, Y, epochs=2)  # 2 epochs of 8 batches: under MIN_BATCHES
    assert counted == []
    assert products == [_loop_plan.option_plan("auto", DIMS, 16, np.float64).products]
    assert not wisdom.exists()


def test_long_fit_timed_once_then_reused_same_bits(wisdom, counted, products):
    X, Y = data()
    first = fit(X, Y)
    assert len(counted) == 1 and counted[0] >= 2
    trained = products[-1]
    assert trained in [p.products for p in _loop_plan.candidates(DIMS, 16, np.float64)]
    again = fit(X, Y)
    assert len(counted) == 1  # the kept decision, not a new timing
    assert products[-1] == trained
    same(first, again)


def test_wisdom_round_trips(wisdom, counted, products):
    X, Y = data()
    first = fit(X, Y)
    entries = json.loads(wisdom.read_text())["plans"]
    keys = [k for k in entries if k.startswith("minibatch | 30,20,12,1 | batch 16 | float64") and "| team " not in k]
    assert len(keys) == 1
    assert LoopPlan.from_dict(entries[keys[0]]).products == products[-1]
    _plan.forget()  # a new process: only the file remains
    again = fit(X, Y)
    assert len(counted) == 1
    same(first, again)
    # An entry that is not a plan for this fit is ignored: timed again.
    entries[keys[0]] = {"products": [[1, 1]]}
    wisdom.write_text(json.dumps({"format": "dnn-wisdom-1", "plans": entries}))
    _plan.forget()
    fit(X, Y)
    assert len(counted) == 2


def test_other_keys_are_planned_apart(wisdom, counted):
    X, Y = data()
    fit(X, Y)
    fit(X.astype(np.float32), Y.astype(np.float32))
    dnn.model(X, Y, DIMS, "adam", learning_rate=0.01, mini_batch_size=32, num_epochs=8, print_cost=False,
              seed=2)
    assert len(counted) == 3


@pytest.mark.parametrize("option", ["blas", "own", "nn"])
def test_a_given_plan_is_honoured(wisdom, counted, products, option):
    X, Y = data()
    given = _loop_plan.option_plan(option, DIMS, 16, np.float64)
    fit(X, Y, plan=given)
    assert counted == []
    assert products[0] == given.products
    assert all(p == given.products for p in products)


def test_bad_plans_are_refused():
    X, Y = data()
    with pytest.raises(ValueError, match="plan must be"):
        fit(X, Y, plan="fast")
    with pytest.raises(ValueError, match="plan must be"):
        fit(X, Y, plan=_plan.rule_plan(DIMS, 120, np.float64, 10))  # the full-batch loop's
    with pytest.raises(ValueError, match=r"3 \(nn, nt\) pairs"):
        fit(X, Y, plan=LoopPlan(((True, True),) * 2))
    with pytest.raises(ValueError, match="first layer's nt needs its nn"):
        fit(X, Y, plan=LoopPlan(((False, True), (True, True), (False, False))))
    with pytest.raises(ValueError, match=r"dnn.LoopPlan \(lambd"):
        dnn.L_layer_model(X, Y, DIMS, num_iterations=2, lambd=0.1, plan=_plan.rule_plan(DIMS, 120, np.float64, 2))
    with pytest.raises(ValueError, match="dnn.Plan"):
        dnn.L_layer_model(X, Y, DIMS, num_iterations=2, plan=LoopPlan(((True, True),) * 3))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_candidate_is_the_numpy_twin(dtype):
    twin = _twin()
    X, Y = data(m=50, dtype=dtype)
    want, want_costs = twin.numpy_model(X, Y, DIMS, "adam", 0.01, 16, 3, 0.2, 0.85, "tanh", 4)
    tol = twin.TOL[np.dtype(dtype)]
    for plan in _loop_plan.candidates(DIMS, 16, dtype):
        got, costs = dnn.model(X, Y, DIMS, "adam", learning_rate=0.01, mini_batch_size=16, num_epochs=3,
                               print_cost=False, seed=4, return_costs=True, cost_every=1, lambd=0.2,
                               keep_prob=0.85, hidden_activation="tanh", plan=plan)
        np.testing.assert_allclose(costs, want_costs, rtol=tol, err_msg=plan.code())
        for k in want:
            np.testing.assert_allclose(got[k], want[k], rtol=tol, atol=tol, err_msg="%s %s" % (k, plan.code()))


def test_timing_never_touches_the_callers_numbers(wisdom, counted):
    rng = np.random.default_rng(3)
    m = 96
    X = np.ascontiguousarray(rng.standard_normal((m, DIMS[0])))
    Y = np.ascontiguousarray((rng.random((m, 1)) < 0.5).astype(np.float64))
    layers = [(rng.standard_normal((o, i)), rng.standard_normal((o, 1))) for o, i in zip(DIMS[1:], DIMS)]
    v = [(rng.random(W.shape), rng.random(b.shape)) for W, b in layers]
    s = [(rng.random(W.shape), rng.random(b.shape)) for W, b in layers]
    before = [a.copy() for pair in layers + v + s for a in pair]
    kw = dict(optimizer="adam", batch_size=16, v=v, s=s, keep=[0.9, 1.0], lambd=0.1)
    loop = _loop_plan.make_loop("auto", layers, X, Y, 0.01, 10, True, 5, 40, **kw)
    assert len(counted) == 1
    for a, b in zip(before, [a for pair in layers + v + s for a in pair]):
        np.testing.assert_array_equal(a, b)
    # ... and the loop it returns trains the caller's arrays, as a Loop made directly would.
    twin_layers = [(W.copy(), b.copy()) for W, b in layers]
    twin_kw = dict(kw, v=[(a.copy(), b.copy()) for a, b in v], s=[(a.copy(), b.copy()) for a, b in s])
    products = _loop_plan.plan_for(DIMS, 16, np.float64, 10 * 6).products
    twin = _loop.Loop(twin_layers, X, Y, products=products, **twin_kw)
    order = np.random.default_rng(1).permutation(m).astype(np.int64)
    assert loop.epoch(order, 0.01, 5, 40) == twin.epoch(order, 0.01, 5, 40)
    for (W, b), (W2, b2) in zip(layers, twin_layers):
        np.testing.assert_array_equal(W, W2)
        np.testing.assert_array_equal(b, b2)


def test_estimators_and_second_part_plan_too(wisdom, counted, products):
    X, Y = data(m=96)
    # L_layer_model's second part: full batches, one per iteration.
    a = dnn.L_layer_model(X, Y, DIMS, num_iterations=30, lambd=0.1, seed=1)
    b = dnn.L_layer_model(X, Y, DIMS, num_iterations=30, lambd=0.1, seed=1)
    assert len(counted) == 1
    same(a, b)
    dnn.L_layer_model(X, Y, DIMS, num_iterations=30, lambd=0.1, seed=1, plan="blas")
    assert products[-1] == _loop_plan.option_plan("blas", DIMS, 96, np.float64).products
    # The estimators' engine: a long fit is timed once, a repeat reuses it.
    Xs = np.ascontiguousarray(X.T)
    Ys = np.ascontiguousarray(Y.T)
    opts = dict(solver="adam", hidden="relu", output="sigmoid", alpha=0.0, keep=[1.0, 1.0], batch_size=16,
                shuffle=True, momentum=0.9, nesterovs_momentum=True, beta_1=0.9, beta_2=0.999, epsilon=1e-8)
    results = []
    for _ in range(2):
        params = {k: v.copy() for k, v in a.items()}
        state = _engine.new_state(params, opts, 0)
        state["learning_rate"] = 0.01
        curve = _engine.fit_epochs(params, state, Xs, Ys, opts, 5, np.random.default_rng(0))
        results.append((params, curve))
    assert len(counted) == 2
    same(results[0][0], results[1][0])
    assert results[0][1] == results[1][1]


def test_info_shows_the_mini_batch_plan(wisdom, counted, capsys):
    from dnn import cli

    args = ["info", "--plan", "30,20,12,1", "--m", "120", "--batch-size", "16"]
    assert cli.main(args + ["--epochs", "2"]) == 0
    assert "products %s (rule)" % _loop_plan.option_plan("auto", DIMS, 16, np.float64).code() in capsys.readouterr().out
    assert counted == []
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    assert len(counted) == 1 and "(measured now)" in out and "candidates timed:" in out
    kept = _loop_plan.plan_for(DIMS, 16, np.float64, 5000 * 8)
    assert cli.main(args) == 0
    assert "products %s (measured)" % kept.code() in capsys.readouterr().out
    _plan.forget()
    assert cli.main(args) == 0
    assert "products %s (wisdom)" % kept.code() in capsys.readouterr().out and len(counted) == 1
    assert cli.main(["info", "--plan", "30", "--m", "5", "--batch-size", "4"]) != 0
    assert "--plan" in capsys.readouterr().err


def test_the_loop_refuses_bad_layer_pairs():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((20, DIMS[0]))
    Y = np.ones((20, 1))
    layers = [(rng.standard_normal((o, i)), np.zeros((o, 1))) for o, i in zip(DIMS[1:], DIMS)]
    for bad in ([(True, True)] * 2, [(True,)] * 3, [(1, 0)] * 3, 7, "fast"):
        with pytest.raises(ValueError, match="products must be one of"):
            _loop.Loop(layers, X, Y, products=bad)
    _loop.Loop(layers, X, Y, products=[(False, True), (True, False), (False, False)])  # nt dropped on layer 1


@pytest.mark.parametrize("held", [False, True])
def test_measure_takes_every_group_each_round_pausing_where_blas_may_thread(monkeypatch, held):
    """``measure`` runs a round of every plan at one moment (``_plan.pick`` compares plans round
    by round): the plans grouped by pool (all ours: one thread and teams; SciPy's BLAS; NumPy's),
    the groups in turn, in reverse order every other round; a quiet pause first, and, where a
    BLAS may thread in a fit (``held`` false: an OpenMP BLAS), before each run that follows
    another group's (never between runs of one group); where every BLAS is held at one thread,
    no pool wakes and there is no pause after the first. Each team warms up ``TEAM_WARM_UPS``
    times before the rounds."""
    events = []
    real = _loop.Loop

    class Recorded(real):
        def epoch(self, order, learning_rate, t=0, step=0):
            events.append(self._plan_index)
            return super().epoch(order, learning_rate, t, step)

    plans = [LoopPlan(((True, False), (True, False)), "rule"), LoopPlan(((False, False), (False, False)), "blas"),
             LoopPlan(((True, True), (True, True)), "own"), LoopPlan(((True, True), (True, True)), "team", threads=2),
             LoopPlan(((False, False), (False, False)), "numpy", numpy_blas=True)]
    group = {0: "blas", 1: "blas", 2: "ours", 3: "ours", 4: "numpy"}

    def make(layers, X, Y, products, threads, numpy_blas, **kw):
        lp = Recorded(layers, X, Y, products=products, threads=threads, **kw)
        lp._plan_index = next(j for j, p in enumerate(plans) if tuple(p.products) == tuple(map(tuple, products))
                              and p.threads == threads and p.numpy_blas == numpy_blas)
        return lp

    monkeypatch.setattr(_loop_plan._loop, "Loop", make)
    monkeypatch.setattr(_loop_plan.time, "sleep", lambda s: events.append(("sleep", s)))
    monkeypatch.setattr(_loop_plan._plan, "steal_seconds", lambda: 0.0)  # no round run again: counts exact
    monkeypatch.setattr(_loop_plan._blas_threads, "held_at_one", lambda: held)
    rng = np.random.default_rng(0)
    X, Y = rng.random((64, 5)), (rng.random((64, 1)) < 0.5).astype(float)
    layers = [(rng.standard_normal((4, 5)), np.zeros((4, 1))), (rng.standard_normal((1, 4)), np.zeros((1, 1)))]
    times = _loop_plan.measure(plans, layers, X, Y, dict(batch_size=8), 0.01, 10 ** 6, True)
    n_rounds = len(times[0])
    assert n_rounds >= 3 and all(len(t) == n_rounds for t in times)
    assert all(e == ("sleep", _loop_plan.BLAS_IDLE_SECONDS) for e in events if isinstance(e, tuple))
    assert events[0] == ("sleep", _loop_plan.BLAS_IDLE_SECONDS)  # the caller's pools go idle first
    estimate = events[1:1 + len(plans)]
    assert [group[j] for j in estimate] == ["ours", "ours", "blas", "blas", "numpy"]
    rest = events[1 + len(plans):]
    if held:
        assert not any(isinstance(e, tuple) for e in rest)
    # a pause before a run of another group than the run before, and only there
    last = group[estimate[-1]]
    for e, nxt in zip(rest, rest[1:] + [None]):
        if isinstance(e, tuple):
            assert nxt is not None and not isinstance(nxt, tuple) and group[nxt] != last
        else:
            last = group[e]
    for a, b in zip(rest, rest[1:]):
        if not held and not isinstance(a, tuple) and not isinstance(b, tuple):
            assert group[a] == group[b]
    runs = [e for e in rest if not isinstance(e, tuple)]
    warm_ups = len(plans) - 1 + _loop_plan.TEAM_WARM_UPS
    assert runs.count(3) == _loop_plan.TEAM_WARM_UPS + n_rounds
    order = ["ours", "blas", "numpy"]
    for r in range(n_rounds):
        kinds = [group[j] for j in runs[warm_ups + r * len(plans):warm_ups + (r + 1) * len(plans)]]
        assert sorted(kinds) == sorted(group.values())  # every plan once a round
        assert kinds == sorted(kinds, key=(order if r % 2 == 0 else order[::-1]).index)


def test_measure_runs_again_a_round_the_hypervisor_stole_from(monkeypatch):
    """A round during which the host took the virtual CPUs away (``_plan.steal_seconds``) is
    not one of the plans' times: it runs again, at most ``STOLEN_ROUNDS`` times."""
    rounds = []
    real = _loop_plan._loop.Loop

    class Counted(real):
        def epoch(self, order, learning_rate, t=0, step=0):
            rounds.append(self.threads)
            return super().epoch(order, learning_rate, t, step)

    monkeypatch.setattr(_loop_plan._loop, "Loop", Counted)
    monkeypatch.setattr(_loop_plan.time, "sleep", lambda s: None)
    clock = [0.0]
    reads = []

    def steal():  # read before and after each round: the first two rounds lose 1 s each
        reads.append(1)
        clock[0] += 1.0 if len(reads) in (2, 4) else 0.0
        return clock[0]

    monkeypatch.setattr(_loop_plan._plan, "steal_seconds", steal)
    rng = np.random.default_rng(0)
    X, Y = rng.random((64, 5)), (rng.random((64, 1)) < 0.5).astype(float)
    layers = [(rng.standard_normal((4, 5)), np.zeros((4, 1))), (rng.standard_normal((1, 4)), np.zeros((1, 1)))]
    # both all ours: one group of rounds, two reads of the counter a round
    plans = [LoopPlan(((True, True), (True, True)), "own"),
             LoopPlan(((True, True), (True, True)), "team", threads=2)]
    times = _loop_plan.measure(plans, layers, X, Y, dict(batch_size=8), 0.01, 10 ** 6, True)
    assert all(len(t) >= 3 for t in times) and len(times[0]) == len(times[1])
    assert len(times[0]) == len(reads) // 2 - 2  # the 2 stolen rounds ran again, not kept

    # a machine that is always robbed: STOLEN_ROUNDS runs again, then the rounds count as they are
    reads.clear()
    monkeypatch.setattr(_loop_plan._plan, "steal_seconds", lambda: (reads.append(1), len(reads))[1] * 1.0)
    times = _loop_plan.measure(plans, layers, X, Y, dict(batch_size=8), 0.01, 10 ** 6, True)
    assert len(reads) // 2 == len(times[0]) + _loop_plan._plan.STOLEN_ROUNDS


def test_measure_times_a_team_in_runs_of_run_seconds_whatever_the_budget(monkeypatch):
    """A fit of few batches has a small planning budget: its runs are a few batches each. Where a
    team is among the plans, every plan's runs last ``RUN_SECONDS`` instead (here: all of X's
    batches, which take less), alike for a fair round: in a few batches a team's wake-up weighs,
    which a fit's epochs outlast. Without a team, the budget still bounds them."""
    rows = []
    real = _loop_plan._loop.Loop

    def make(layers, X, Y, **kw):
        rows.append(X.shape[0])
        return real(layers, X, Y, **kw)

    monkeypatch.setattr(_loop_plan._loop, "Loop", make)
    monkeypatch.setattr(_loop_plan.time, "sleep", lambda s: None)
    monkeypatch.setattr(_loop_plan._plan, "steal_seconds", lambda: 0.0)
    rng = np.random.default_rng(0)
    X, Y = rng.random((800, 5)), (rng.random((800, 1)) < 0.5).astype(float)
    layers = [(rng.standard_normal((4, 5)), np.zeros((4, 1))), (rng.standard_normal((1, 4)), np.zeros((1, 1)))]
    one = LoopPlan(((True, True), (True, True)), "own")
    n_batches = _loop_plan.MIN_BATCHES  # a budget of int(0.04 * 2000 / (2 plans * 6 runs)) = 6 batches a run
    per_round = int(_loop_plan._plan.PLAN_BUDGET * n_batches / (2 * (_loop_plan._plan.ROUNDS + 1)))
    assert per_round < 800 // 8
    for plans, batches in (([one, LoopPlan(one.products, "team", threads=2)], 800 // 8),
                           ([one, LoopPlan(((False, False), (False, False)), "blas")], per_round)):
        rows.clear()
        times = _loop_plan.measure(plans, layers, X, Y, dict(batch_size=8), 0.01, n_batches, True)
        assert all(len(t) >= 3 for t in times)
        # the estimate's Loops of one batch each, then the rounds' Loops of k batches each
        assert rows[:2] == [8, 8] and rows[2:] == [8 * batches] * 2, (plans[1].source, rows)


def test_a_plan_kept_on_one_thread_has_its_team_timed_once_at_two(wisdom, monkeypatch):
    """The products of a key are decided once, on the threads of its first fit. Below the rule's
    work (``TEAM_MIN_WORK``) a team is kept only where it won; where the first fit had one thread,
    no team was timed: a later fit on two times the kept products on one thread and on a team,
    once, and keeps that beside them (the products, and so the bits, stay)."""
    from threadpoolctl import threadpool_limits

    if _plan.cores() < 2:
        pytest.skip("one core: no team")
    dims, batch = (30, 20, 12, 1), 16
    assert _loop_plan._work(dims, batch) < _loop_plan.TEAM_MIN_WORK
    calls = []

    def measure(plans, *args):  # every plan of ours wins on one thread; a team wins over it
        calls.append([p.threads for p in plans])
        return [[0.3 if p.threads > 1 else 0.5 if _loop_plan._all_ours(p) else 1.0] * 5 for p in plans]

    monkeypatch.setattr(_loop_plan, "measure", measure)
    fit = (None,) * 7  # measure_with: the fake measure reads none of it
    n = _loop_plan.MIN_BATCHES
    with threadpool_limits(1):
        first = _loop_plan.plan_for(dims, batch, np.float64, n, True, fit)
    assert len(calls) == 1 and set(calls[0]) == {1} and first.threads == 1 and _loop_plan._all_ours(first)
    with threadpool_limits(2):
        if _loop_plan.team_threads() < 2:
            pytest.skip("BLAS allows one thread here")
        two = _loop_plan.plan_for(dims, batch, np.float64, n, True, fit)
        assert calls[1:] == [[1, 2]] and two.threads == 2 and two.products == first.products
        assert _loop_plan.plan_for(dims, batch, np.float64, n, True, fit) == two  # kept in the process
        _plan.forget()
        assert _loop_plan.plan_for(dims, batch, np.float64, n, True, None) == two  # and in the wisdom file
    assert len(calls) == 2
    keys = list(json.loads(wisdom.read_text())["plans"])
    assert len(keys) == 2 and keys[1] == keys[0] + " | team 2"
    with threadpool_limits(1):
        assert _loop_plan.plan_for(dims, batch, np.float64, n, True, fit).threads == 1


@pytest.fixture
def nn_rule(monkeypatch):
    """The rule's products on every build: W H and W^T dZ ours, dZ H^T on BLAS (a plan a team
    can run; the builds' own rules differ: the AVX2 one leaves a 30 x 20 layer to BLAS)."""
    real = _loop._products
    monkeypatch.setattr(_loop, "_products", lambda products, dims, batch, itemsize: real(
        "nn" if products == "auto" else products, dims, batch, itemsize))


def _two_threads():
    from threadpoolctl import threadpool_limits

    if _plan.cores() < 2:
        pytest.skip("one core: no team")
    limits = threadpool_limits(2)
    if _loop_plan.team_threads() < 2:
        limits.restore_original_limits()
        pytest.skip("BLAS allows one thread here")
    return limits


def test_a_short_fit_runs_on_the_team_a_long_fit_kept_for_its_products(wisdom, monkeypatch, nn_rule):
    """A short fit is never timed, but where a long fit of its key kept a team for the rule's
    products (the team changes no number), it runs on that team: continued fits and
    ``partial_fit`` over chunks run on the team the long fit won. The wisdom file is read once
    per process and entry, found or not; a team that lost, or one thread allowed now, leave
    the short fit on one thread."""
    from threadpoolctl import threadpool_limits

    dims, batch = (30, 20, 12, 1), 16
    rule = _loop_plan.rule_plan(dims, batch, np.float64)
    assert rule.threads == 1 and _loop_plan._teamable(rule.products, dims, batch)
    team_wins = [True]

    def measure(plans, *args):  # the rule's products win on one thread; its team wins or loses
        def t(p):
            if p.threads > 1:
                return 0.3 if team_wins[0] else 2.0
            return 0.5 if p.products == rule.products and p.numpy_blas == rule.numpy_blas else 1.0
        return [[t(p)] * 5 for p in plans]

    reads = []
    real_entry = _plan.wisdom_entry
    monkeypatch.setattr(_plan, "wisdom_entry", lambda *a, **k: reads.append(a[0]) or real_entry(*a, **k))
    monkeypatch.setattr(_loop_plan, "measure", measure)
    fit = (None,) * 7
    long, short = _loop_plan.MIN_BATCHES, _loop_plan.MIN_BATCHES - 1
    limits = _two_threads()
    try:
        assert _loop_plan.plan_for(dims, batch, np.float64, short, True, fit) == rule  # nothing kept yet
        assert _loop_plan.plan_for(dims, batch, np.float64, short, True, fit) == rule
        assert len(reads) == 1  # the absent entry looked for once
        with threadpool_limits(1):  # the key's first long fit: one thread, the rule's products kept
            assert _loop_plan.plan_for(dims, batch, np.float64, long, True, fit).threads == 1
        kept = _loop_plan.plan_for(dims, batch, np.float64, long, True, fit)  # its team timed, and kept
        assert kept.threads == 2 and kept.products == rule.products
        got = _loop_plan.plan_for(dims, batch, np.float64, short, True, None)
        assert got.threads == 2 and got.products == rule.products and got.numpy_blas == rule.numpy_blas
        _plan.forget()  # a new process: the wisdom file's entries, read once each
        del reads[:]
        assert _loop_plan.plan_for(dims, batch, np.float64, short, True, None).threads == 2
        assert _loop_plan.plan_for(dims, batch, np.float64, short, True, None).threads == 2
        assert len(reads) == 2  # the key's entry and its team entry
        # another key (not shuffled): nothing kept for it, the rule
        assert _loop_plan.plan_for(dims, batch, np.float64, short, False, None) == rule
        with threadpool_limits(1):
            assert _loop_plan.plan_for(dims, batch, np.float64, short, True, None) == rule
        # a first long fit on two threads, whose measurement kept the team itself
        wisdom.unlink()
        _plan.forget()
        assert _loop_plan.plan_for(dims, batch, np.float64, long, True, fit).threads == 2
        assert _loop_plan.plan_for(dims, batch, np.float64, short, True, None).threads == 2
        # a team that lost its measurement, timed with the products or after them
        for team_first in (False, True):
            wisdom.unlink()
            _plan.forget()
            team_wins[0] = False
            with threadpool_limits(2 if team_first else 1):
                assert _loop_plan.plan_for(dims, batch, np.float64, long, True, fit).threads == 1
            assert _loop_plan.plan_for(dims, batch, np.float64, long, True, fit).threads == 1
            assert _loop_plan.plan_for(dims, batch, np.float64, short, True, None) == rule
    finally:
        limits.restore_original_limits()


def test_a_short_fit_takes_no_team_kept_for_other_products(wisdom, monkeypatch, nn_rule):
    """The team kept for a long fit's products says nothing of the rule's: a short fit of the
    same key, whose products are the rule's, stays on one thread; so does one whose team entry
    holds the rule's products beside a decision of others (a file edited, or trimmed)."""
    from threadpoolctl import threadpool_limits

    dims, batch = (30, 20, 12, 1), 16
    rule = _loop_plan.rule_plan(dims, batch, np.float64)
    assert _loop_plan._teamable(rule.products, dims, batch) and not _loop_plan._all_ours(rule)

    def measure(plans, *args):  # every product ours (not the rule's products) wins, on a team too
        return [[0.3 if p.threads > 1 else 0.5 if _loop_plan._all_ours(p) else 1.0] * 5 for p in plans]

    monkeypatch.setattr(_loop_plan, "measure", measure)
    fit, long = (None,) * 7, _loop_plan.MIN_BATCHES
    limits = _two_threads()
    try:
        with threadpool_limits(1):
            kept = _loop_plan.plan_for(dims, batch, np.float64, long, True, fit)
        assert kept.products != rule.products and kept.threads == 1
        assert _loop_plan.plan_for(dims, batch, np.float64, long, True, fit).threads == 2
        assert _loop_plan.plan_for(dims, batch, np.float64, long - 1, True, None) == rule
        doc = json.loads(wisdom.read_text())
        team_key = [k for k in doc["plans"] if k.endswith(" | team 2")][0]
        doc["plans"][team_key]["products"] = [list(map(int, pair)) for pair in rule.products]
        wisdom.write_text(json.dumps(doc))
        _plan.forget()
        assert _loop_plan.plan_for(dims, batch, np.float64, long - 1, True, None) == rule
    finally:
        limits.restore_original_limits()


def test_kept_reads_the_file_once_and_never_feeds_decide(wisdom):
    """``dnn._plan.kept`` reads an entry once per process, found or not, and what it parsed stays
    out of ``decide``'s cache: a caller whose ``parse`` refuses the entry measures."""
    one, two = LoopPlan(((True, True),), "measured", 1), LoopPlan(((True, True),), "measured", 2)
    _plan.decide("k", LoopPlan.from_dict, lambda: one)
    _plan.forget()
    lax = []

    def parse(d):
        lax.append(d)
        return LoopPlan.from_dict(d)

    assert _plan.kept("k", parse) == one
    assert _plan.kept("k", parse) == one and len(lax) == 1
    assert _plan.kept("absent", parse) is None and len(lax) == 1

    def strict(d):
        raise ValueError("refused")

    assert _plan.decide("k", strict, lambda: two) == two  # measured, not the entry kept() read
    assert _plan.kept("k", strict) == two  # and now what decide kept
    wisdom.write_text(wisdom.read_text().replace('"k"', '"absent"'))
    assert _plan.kept("absent", parse) is None and len(lax) == 1  # looked for once: not read again


def test_a_short_fit_on_the_kept_team_gives_one_threads_bits(wisdom, counted, nn_rule, monkeypatch):
    """End to end: after a long fit kept a team for the rule's products, a short continued fit
    runs its Loop on that team, and its numbers are those of the same fit on one thread."""
    from threadpoolctl import threadpool_limits

    teams = []
    real_loop = _loop.Loop

    def Loop(*args, **kw):
        teams.append(kw.get("threads"))
        return real_loop(*args, **kw)

    rule = _loop_plan.rule_plan(DIMS, 16, np.float64)
    mine = lambda p: p.products == rule.products and p.numpy_blas == rule.numpy_blas  # noqa: E731
    monkeypatch.setattr(_loop_plan, "measure", lambda plans, *a: [
        [(0.3 if mine(p) else 0.4) if p.threads > 1 else 0.5 if mine(p) else 1.0] * 5 for p in plans])
    monkeypatch.setattr(_loop, "Loop", Loop)
    X, Y = data()
    limits = _two_threads()
    try:
        fit(X, Y, epochs=4)  # 32 batches: a long fit (the fixture's MIN_BATCHES, 20), its team kept
        del teams[:]
        on_team = fit(X, Y, epochs=2)  # 16 batches: a short fit
        assert teams == [2]
        with threadpool_limits(1):
            alone = fit(X, Y, epochs=2)
        assert teams == [2, 1]
    finally:
        limits.restore_original_limits()
    same(on_team, alone)


@pytest.mark.parametrize("first_threads", [1, 2])
@pytest.mark.parametrize("wins_at", [None, 1, 2])
def test_a_team_that_lost_is_timed_once_more(wisdom, monkeypatch, first_threads, wins_at):
    """Below ``TEAM_MIN_WORK`` a team gets ``TEAM_TRIES`` (2) timings before one thread is kept for
    it: where the key's first fit ran on two threads, its measurement (which times every
    candidate on its team too) is the first, and the pair is timed once more only if the team
    lost; where it ran on one, the pair is timed once, and again if the team lost. ``wins_at``:
    the timing of the team at which it wins (None: never)."""
    from threadpoolctl import threadpool_limits

    if _plan.cores() < 2:
        pytest.skip("one core: no team")
    dims, batch = (30, 20, 12, 1), 16
    calls = []

    def measure(plans, *args):  # every plan of ours wins on one thread; its team from the wins_at-th timing
        if any(p.threads > 1 for p in plans):
            calls.append([p.threads for p in plans])
        team = 0.3 if len(calls) == wins_at else 1.0

        def t(p):
            if not _loop_plan._all_ours(p):
                return 0.8 if p.threads == 1 else 1.2
            return 0.5 if p.threads == 1 else team
        return [[t(p)] * 5 for p in plans]

    monkeypatch.setattr(_loop_plan, "measure", measure)
    fit = (None,) * 7
    with threadpool_limits(2):
        if _loop_plan.team_threads() < 2:
            pytest.skip("BLAS allows one thread here")
        with threadpool_limits(first_threads):
            _loop_plan.plan_for(dims, batch, np.float64, _loop_plan.MIN_BATCHES, True, fit)
        got = _loop_plan.plan_for(dims, batch, np.float64, _loop_plan.MIN_BATCHES, True, fit)
        assert _loop_plan.plan_for(dims, batch, np.float64, _loop_plan.MIN_BATCHES, True, fit) == got  # kept
    # the team's timings: the first measurement's (on two threads) and the pairs'
    assert len(calls) == (wins_at or _loop_plan.TEAM_TRIES)
    assert calls.count([1, 2]) == len(calls) - (first_threads == 2)
    assert got.threads == (2 if wins_at else 1) and _loop_plan._all_ours(got)
    entries = json.loads(wisdom.read_text())["plans"]
    team = [v for k, v in entries.items() if k.endswith(" | team 2")]
    assert len(entries) == (1 if first_threads == 2 and wins_at == 1 else 2)
    assert [t["threads"] for t in team] == ([] if len(entries) == 1 else [got.threads])


@pytest.fixture
def loop_numpy_gemm():
    """Set ``dnn._loop``'s NumPy gemm to ``(dgemm, sgemm, ilp64)`` or None for a test; restored after."""
    found = _numpy_blas.gemm_addresses()

    def use(addresses):
        _loop._set_numpy_gemm(*(addresses or (0, 0, False)))
    yield use
    use(found)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_numpy_blas_loops_run_their_blas_products_on_numpy_blas(dtype, loop_numpy_gemm, recording_gemm,
                                                                monkeypatch):
    """``Loop(numpy_blas=True)`` runs every product ``products`` leaves to BLAS on NumPy's gemm
    (per batch: each layer's W H and dW, each but the first's W^T dZ), the numbers SciPy's to
    rounding; where NumPy's gemm is not set it runs SciPy's, bit for bit, and says so."""
    found = _numpy_blas.gemm_addresses()
    if found is None:
        pytest.skip("NumPy's BLAS exports no cblas gemm dnn knows (another BLAS)")
    calls = []
    loop_numpy_gemm(recording_gemm(found, calls))
    rng = np.random.default_rng(5)
    m, b = 40, 16
    X = rng.standard_normal((m, DIMS[0])).astype(dtype)
    Y = (rng.random((m, 1)) < 0.5).astype(dtype)
    start = [(rng.standard_normal((o, i)).astype(dtype), np.zeros((o, 1), dtype)) for o, i in zip(DIMS[1:], DIMS)]
    order = rng.permutation(m).astype(np.int64)

    def run(numpy_blas, products="blas"):
        layers = [(W.copy(), c.copy()) for W, c in start]
        lp = _loop.Loop(layers, X, Y, optimizer="momentum", batch_size=b, products=products,
                        v=[(np.zeros_like(W), np.zeros_like(c)) for W, c in start], numpy_blas=numpy_blas)
        return lp, lp.epoch(order, 0.05), layers

    lp, on_numpy, numpy_layers = run(True)
    assert lp.numpy_blas
    L, batches = len(DIMS) - 1, -(-m // b)
    assert len(calls) == batches * (3 * L - 1)
    assert (DIMS[1], b, DIMS[0]) in calls  # W_1 X_b^T
    calls.clear()
    _, _, mixed = run(True, products=[(True, True), (False, False), (True, True)])
    assert len(calls) == batches * 3 and all(c[0] in (DIMS[2], DIMS[1]) for c in calls)  # layer 2's only
    calls.clear()
    _, on_scipy, scipy_layers = run(False)
    assert not calls
    np.testing.assert_allclose(on_numpy[0], on_scipy[0], rtol=1e-5 if dtype == np.float32 else 1e-12)
    for (W, c), (W2, c2) in zip(numpy_layers, scipy_layers):
        np.testing.assert_allclose(W, W2, rtol=1e-4 if dtype == np.float32 else 1e-11, atol=1e-6)
    monkeypatch.setattr(_numpy_blas, "gemm_addresses", lambda: None)  # not found (another BLAS)
    loop_numpy_gemm(None)
    lp, fallback, fallback_layers = run(True)
    assert not lp.numpy_blas and not calls
    assert fallback == on_scipy
    for (W, c), (W2, c2) in zip(fallback_layers, scipy_layers):
        np.testing.assert_array_equal(W, W2)
    with pytest.raises(ValueError, match="numpy_blas must be a bool"):
        _loop.Loop(start, X, Y, numpy_blas="yes")


def test_numpy_blas_plans_are_candidates_where_numpy_gemm_is_found(monkeypatch):
    """Every candidate with a BLAS product runs on SciPy's BLAS and, where NumPy's gemm is found,
    on NumPy's too; the rule's (the first) on NumPy's where the step rule's are."""
    for found in (True, False):
        for rule_numpy in (True, False):
            monkeypatch.setattr(_loop, "numpy_gemm_found", lambda: found)
            monkeypatch.setattr(_loop_plan._products, "numpy_blas_rule", lambda: found and rule_numpy)
            plans = _loop_plan.candidates(DIMS, 16, np.float64)
            assert plans[0] == _loop_plan.rule_plan(DIMS, 16, np.float64)
            assert plans[0].numpy_blas == (found and rule_numpy)
            assert len(set(plans)) == len(plans)
            scipy = {p.products for p in plans if not p.numpy_blas and not _loop_plan._all_ours(p)}
            numpy = {p.products for p in plans if p.numpy_blas}
            assert scipy and numpy == (scipy if found else set())
            for p in plans:
                p.check(DIMS)
                if p.numpy_blas:
                    assert "n" in p.code() and "b" not in p.code()
    plan = LoopPlan(((True, True), (False, True), (False, False)), numpy_blas=True)
    assert plan.code() == "oo.no.nn"
    assert LoopPlan.from_dict(plan.to_dict()) == plan
    assert not LoopPlan.from_dict({"products": [[1, 1], [0, 1], [0, 0]]}).numpy_blas  # an older file's entry
    with pytest.raises(ValueError, match="numpy_blas must be a bool"):
        LoopPlan(plan.products, numpy_blas=1).check(DIMS)


def test_the_rule_runs_small_blas_layers_ours_to_run_on_a_team(monkeypatch):
    """A short fit's rule whose only BLAS products are small layers' (under
    ``TEAM_SMALL_LAYER_WORK`` multiply-adds a batch) beside a wide first layer runs those ours, on
    a team where several threads may run; a large BLAS layer keeps the rule's, on one thread.
    (The vector builds' rule, which takes the wide path: the scalar build's is the next test's.)"""
    every_blas = lambda products, dims, batch, itemsize: [(False, False)] * (len(dims) - 1)  # noqa: E731
    monkeypatch.setattr(_loop, "_products", every_blas)
    monkeypatch.setattr(_loop_plan, "team_threads", lambda: 2)
    monkeypatch.setattr(_loop, "WIDE_VECTOR_KERNELS", True)
    wide = _loop.WIDE_MIN_INPUTS
    batch = 64
    assert 20 * 7 * batch < _loop.TEAM_SMALL_LAYER_WORK <= 300 * 7 * batch
    plan = _loop_plan.rule_plan([wide, 20, 7, 5, 1], batch, np.float64)
    assert plan.threads == 2
    assert plan.products == ((False, False), (True, True), (True, True), (True, True))  # the wide layer's flags unread
    assert _loop.teamable([wide, 20, 7, 5, 1], batch, plan.products, True)
    large = _loop_plan.rule_plan([wide, 300, 7, 1], batch, np.float64)
    assert large.threads == 1 and large.products == ((False, False),) * 3
    monkeypatch.setattr(_loop_plan, "team_threads", lambda: 1)
    assert _loop_plan.rule_plan([wide, 20, 7, 5, 1], batch, np.float64).threads == 1


def test_the_rule_plan_follows_the_loops_wide_rule(monkeypatch):
    """Where ``wide="auto"`` takes no wide path (the scalar build: ``WIDE_VECTOR_KERNELS``), the
    first layer's products are BLAS's and keep the Loop from a team: the rule's plan must not move
    the small layers to our kernels for a team that cannot form, and a Loop made from it runs
    the threads the plan says."""
    every_blas = lambda products, dims, batch, itemsize: [(False, False)] * (len(dims) - 1)  # noqa: E731
    monkeypatch.setattr(_loop, "_products", every_blas)
    monkeypatch.setattr(_loop_plan, "team_threads", lambda: 2)
    monkeypatch.setattr(_loop, "WIDE_VECTOR_KERNELS", False)
    dims, batch = [_loop.WIDE_MIN_INPUTS, 20, 7, 5, 1], 64
    plan = _loop_plan.rule_plan(dims, batch, np.float64)
    assert plan.threads == 1 and plan.products == ((False, False),) * 4
    rng = np.random.default_rng(0)
    X = rng.random((70, dims[0]))
    Y = (rng.random((70, 1)) < 0.5).astype(float)
    layers = [(rng.standard_normal((o, i)) * 0.01, np.zeros((o, 1))) for o, i in zip(dims[1:], dims)]
    loop = _loop_plan.make_loop(plan, layers, X, Y, 0.01, 1, batch_size=batch)
    assert not loop.wide and loop.teamed == (plan.threads > 1)

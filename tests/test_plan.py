"""The planner (``dnn._plan``): what it measures, when, and that a decision is kept.

No timing is asserted: which plan wins is the machine's business. What is
tested is the machinery: short fits are never timed, long ones once per key,
the decision is reused in the process and through the wisdom file (so the
same call gives the same bits), a wisdom file that is not ours is ignored,
and a bad ``plan=`` is refused with a message that names it.
"""
import json

import numpy as np
import pytest

from dnn import _plan, models
from dnn._plan import Plan
from dnn import reference as R


@pytest.fixture
def counted(monkeypatch):
    """Counts the planner's measurements (and still runs them)."""
    calls = []
    real = _plan.measure

    def measure(plans, *args):
        calls.append(len(plans))
        return real(plans, *args)

    monkeypatch.setattr(_plan, "measure", measure)
    return calls


def data(dims, m, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((dims[0], m)).astype(dtype)
    Y = (rng.random((1, m)) < 0.5).astype(dtype)
    return X, Y


# A net with a choice to make on any x86-64 or arm64 build at one thread:
# 2 shards or 1 where the cores allow, our kernels or BLAS for its products.
DIMS = [40, 24, 12, 1]
M = 600


def several_candidates():
    plans = _plan.candidates(DIMS, M, np.float64, _plan.PLAN_MIN_ITERATIONS)
    if len(plans) < 2:
        pytest.skip("this build and thread count leave one candidate for the test net")
    return plans


def test_short_fits_take_the_rule_and_are_never_timed(wisdom, counted):
    X, Y = data(DIMS, M)
    n = _plan.PLAN_MIN_ITERATIONS - 1
    models.L_layer_model(X, Y, DIMS, 0.05, n)
    assert counted == []
    assert _plan.plan_for(DIMS, M, np.float64, n) == _plan.rule_plan(DIMS, M, np.float64, n)
    assert not wisdom.exists()


def test_a_long_fit_measures_once_and_keeps_its_decision(wisdom, counted):
    plans = several_candidates()
    X, Y = data(DIMS, M)
    n = _plan.PLAN_MIN_ITERATIONS
    first = models.L_layer_model(X, Y, DIMS, 0.05, n, cost_every=0)
    assert counted == [len(plans)]
    chosen = _plan.plan_for(DIMS, M, np.float64, n, n)
    assert chosen in plans and chosen.source == "measured"
    # the same call: no new measurement, the same bits
    again = models.L_layer_model(X, Y, DIMS, 0.05, n, cost_every=0)
    assert counted == [len(plans)]
    for key in first:
        np.testing.assert_array_equal(first[key], again[key])
    # and the decision is the reference's numbers
    ref = R.L_layer_model(X, Y, DIMS, 0.05, n)
    for key in ref:
        np.testing.assert_allclose(first[key], ref[key], rtol=1e-10, atol=1e-12)
    # a new process (here: a planner that forgot) reads it from the wisdom file
    entries = json.loads(wisdom.read_text())["plans"]
    assert len(entries) == 1
    _plan.forget()
    kept = _plan.plan_for(DIMS, M, np.float64, n, n)
    assert kept == chosen and kept.source == "wisdom"
    third = models.L_layer_model(X, Y, DIMS, 0.05, n, cost_every=0)
    assert counted == [len(plans)]
    for key in first:
        np.testing.assert_array_equal(first[key], third[key])


def test_wisdom_off_keeps_decisions_in_the_process(tmp_path, monkeypatch, counted):
    plans = several_candidates()
    monkeypatch.setenv("DNN_WISDOM", "off")
    _plan.forget()
    assert _plan.wisdom_path() is None
    X, Y = data(DIMS, M)
    models.L_layer_model(X, Y, DIMS, 0.05, _plan.PLAN_MIN_ITERATIONS)
    models.L_layer_model(X, Y, DIMS, 0.05, _plan.PLAN_MIN_ITERATIONS)
    assert counted == [len(plans)]
    assert list(tmp_path.iterdir()) == []
    _plan.forget()


@pytest.mark.parametrize("content", [
    "not json", '{"format": "other", "plans": {}}', '[1, 2]',
    '{"format": "dnn-wisdom-1", "plans": "x"}',
])
def test_a_wisdom_file_not_ours_is_ignored_and_left_as_it_is(wisdom, counted, content):
    plans = several_candidates()
    wisdom.write_text(content)
    X, Y = data(DIMS, M)
    with pytest.warns(RuntimeWarning, match="the wisdom file .* is not .*left as it is"):
        models.L_layer_model(X, Y, DIMS, 0.05, _plan.PLAN_MIN_ITERATIONS)
    assert counted == [len(plans)]
    assert wisdom.read_text() == content  # never written over
    assert sorted(p.name for p in wisdom.parent.iterdir()) == ["wisdom.json"]  # nor a lock beside it
    # the decision is kept in the process: the same call measures nothing more
    models.L_layer_model(X, Y, DIMS, 0.05, _plan.PLAN_MIN_ITERATIONS)
    assert counted == [len(plans)]


def test_an_empty_wisdom_file_is_a_new_one(wisdom, counted):
    plans = several_candidates()
    wisdom.write_text("")
    X, Y = data(DIMS, M)
    models.L_layer_model(X, Y, DIMS, 0.05, _plan.PLAN_MIN_ITERATIONS)
    assert counted == [len(plans)]
    assert json.loads(wisdom.read_text())["format"] == "dnn-wisdom-1"


def test_a_wisdom_entry_that_cannot_run_the_fit_is_measured_again(wisdom, counted):
    plans = several_candidates()
    X, Y = data(DIMS, M)
    n = _plan.PLAN_MIN_ITERATIONS
    models.L_layer_model(X, Y, DIMS, 0.05, n)
    doc = json.loads(wisdom.read_text())
    key = next(iter(doc["plans"]))
    doc["plans"][key] = {"own": [1, 2], "shards": 10**9, "gram": True, "samples_major": 0}
    wisdom.write_text(json.dumps(doc))
    _plan.forget()
    models.L_layer_model(X, Y, DIMS, 0.05, n)
    assert counted == [len(plans)] * 2


def test_the_key_holds_what_decides():
    base = dict(dims=DIMS, m=M, dtype=np.float64, gram=False, chunk_split=2, ncores=2,
                build="avx512")
    key = _plan.plan_key(**base)
    for field, other in [("m", M + 1), ("dtype", np.float32), ("ncores", 8), ("chunk_split", 1),
                         ("build", "avx2"), ("dims", [40, 24, 13, 1]), ("gram", True)]:
        assert _plan.plan_key(**dict(base, **{field: other})) != key, field
    assert "dnn" in key and "|" in key  # the machine: CPU, BLAS and its kernel set, version


def test_a_given_plan_is_used_and_checked():
    X, Y = data(DIMS, M)
    plan = Plan((_plan.NN | _plan.NT, 0, _plan.NN), 3)
    got = models.L_layer_model(X, Y, DIMS, 0.05, 30, plan=plan)
    ref = R.L_layer_model(X, Y, DIMS, 0.05, 30)
    for key in ref:
        np.testing.assert_allclose(got[key], ref[key], rtol=1e-10, atol=1e-12)
    for bad, match in [(Plan((0, 0), 1), "plan.own"), (Plan((0, 0, 9), 1), "plan.own"),
                       (Plan((0, 0, 0), 0), "plan.shards"), (Plan((0, 0, 0), M + 1), "plan.shards"),
                       (Plan((0, 0, 0), _plan.MAX_SHARDS + 1), "plan.shards"),
                       (Plan((0, 0, 0), 2, True), "plan.gram"), ([0, 0, 0], "plan must be"),
                       ("fast", "plan must be")]:
        with pytest.raises(ValueError, match=match):
            models.L_layer_model(X, Y, DIMS, 0.05, 3, plan=bad)


def test_plans_print_and_round_trip():
    p = Plan((_plan.NN | _plan.XT, _plan.NN, _plan.NN | _plan.NT), 2, False, False, "measured")
    assert p.code() == "x2 ox.ob.oo"
    assert "shards 2" in p.describe() and "ox ob oo" in p.describe()
    assert Plan.from_dict(p.to_dict()) == p
    assert Plan((0,), 1, True, True).code() == "x1 G SM bb"


def test_two_layer_model_takes_a_plan_too():
    X, Y = data([10, 7, 1], 90)
    got = models.two_layer_model(X, Y, (10, 7, 1), 0.5, 40, plan="blas")
    ref = R.two_layer_model(X, Y, (10, 7, 1), 0.5, 40)
    for key in ref:
        np.testing.assert_allclose(got[key], ref[key], rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="plan must be"):
        models.two_layer_model(X, Y, (10, 7, 1), 0.5, 4, plan=None)

"""The mini-batch loop's wide first layer (``dnn._loop``'s ``wide=``) against its NumPy twin.

The wide path reads the batch's rows of X in place through row pointers and
applies the optimizer to W_1 block by block of features (dnn/_loop.h's
``wide_dot``, ``wide_axpy``). Forced on small networks (``wide=True`` or a
block of features) so that every case is cheap: blocks that divide n_0 and
that do not, blocks narrower than a vector (the scalar tails), batches of 1,
of odd sizes, of all m, shuffled and in order, every optimizer with L2 and
dropout, and each build of the kernels this CPU runs. Tolerances are
``tests/test_loop.py``'s (rounding compounded over two epochs); a wrong row
pointer, a block off by one feature or an update applied twice moves the
weights by far more.
"""
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from dnn import _loop, _timed_choice


def _twin():
    """tests/test_loop.py's NumPy twin and problems (importlib mode: a test module is no package)."""
    spec = importlib.util.spec_from_file_location("_dnn_test_loop_twin", Path(__file__).with_name("test_loop.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_t = _twin()
DTYPES, REGULARIZATION, TOL = _t.DTYPES, _t.REGULARIZATION, _t.TOL


def run(dims, m, b, optimizer, reg, dtype, wide, epochs=2, shuffle=True, lr=0.02, seed=0, hidden="relu",
        output=None, **loop_kw):
    """The loop with ``wide`` against the NumPy twin (tests/test_loop.py's ``compare``); its parameters."""
    output = output or ("sigmoid" if dims[-1] == 1 else "softmax")
    return _t.compare(dims, m, b, optimizer, reg, hidden, output, dtype, epochs=epochs, shuffle=shuffle, lr=lr,
                      seed=seed, wide=wide, **loop_kw)[0]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dims, m, b, wide", [
    ([300, 20, 7, 5, 1], 70, 64, True),      # one block of all 300 features, a last batch of 6
    ([300, 20, 7, 5, 1], 70, 64, 64),        # blocks of 64: 4 whole and one of 44
    ([301, 9, 1], 33, 7, 100),               # odd everything: n_0, units, batch, block
    ([200, 13, 3], 41, 1, 48),               # batches of 1, softmax
    ([130, 6, 1], 25, 25, 13),               # one batch of all m; blocks narrower than a vector
    ([67, 5, 1], 12, 100, 5),                # a batch above m; the scalar tails only
    ([90, 20], 30, 8, 32),                   # no hidden layer: the wide layer is the output
])
def test_wide_against_numpy(loop_build, wide_reads, dtype, dims, m, b, wide):
    run(dims, m, b, "adam", "both", dtype, wide)
    run(dims, m, b, "nesterov", "l2", dtype, wide, shuffle=False, seed=1)


@pytest.fixture(params=["in place", "gathered"])
def wide_reads(request, monkeypatch):
    """The wide backward's two ways to read the batch's rows (the rule's, not measured): both tested."""
    monkeypatch.setattr(_loop, "WIDE_GATHER_BYTES", 2**62 if request.param == "in place" else 0)
    monkeypatch.setattr(_loop, "WIDE_GATHER_ON_ONE_THREAD", request.param != "in place")
    monkeypatch.setattr(_loop, "WIDE_TRIAL_ROUNDS", 0)
    return request.param


@pytest.fixture
def no_choices(monkeypatch):
    """The process's measured choices, none made yet (and those made here dropped after)."""
    monkeypatch.setattr(_timed_choice, "_shared", {})


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("optimizer", _loop.OPTIMIZERS)
@pytest.mark.parametrize("reg", list(REGULARIZATION))
def test_wide_every_optimizer(wide_reads, dtype, optimizer, reg):
    run([150, 11, 4, 3], 45, 16, optimizer, reg, dtype, 40, lr=0.002 if optimizer == "rmsprop" else 0.02,
        hidden="tanh")


@pytest.mark.parametrize("dtype", DTYPES)
def test_wide_same_bits_on_repeat_and_close_to_the_other_path(dtype):
    """Same bits on a repeat; the other path (a full gather, BLAS) agrees to rounding."""
    got = [run([500, 20, 7, 1], 90, 32, "adam", "l2", dtype, wide) for wide in (True, True, 200)]
    for k in got[0]:
        np.testing.assert_array_equal(got[0][k], got[1][k], err_msg=k)
        np.testing.assert_allclose(got[0][k], got[2][k], rtol=TOL[np.dtype(dtype)], atol=TOL[np.dtype(dtype)])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dims", [[500, 20, 7, 1], [300, 12, 3]])
def test_wide_on_a_team_gives_the_bits_of_one_thread(wide_reads, dtype, dims):
    """All products ours, so the Loop runs on a team: the wide layer's columns are shared out in the
    forward pass and its backward's blocks of features among the chunks; the parameters keep the bits
    of one thread."""
    got = [run(dims, 90, 32, "adam", "both", dtype, 64, products="own", threads=t) for t in (1, 2, 3)]
    for other in got[1:]:
        for k in got[0]:
            np.testing.assert_array_equal(got[0][k], other[k], err_msg=k)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dims, products", [
    ([500, 20, 7, 1], ((True, False), (True, False), (True, True))),   # the float32 rule's cat network
    ([600, 40, 5, 1], ((True, True), (True, False), (False, False))),  # a small layer's forward on BLAS
])
def test_small_layers_on_blas_keep_the_team_and_the_bits_of_one_thread(wide_reads, dtype, dims, products):
    """A small layer's weight gradient on BLAS (whole, on the caller, in one chunk) lets the Loop run
    on a team; its bits are one thread's. BLAS in a forward product does not (its column shares
    would sum otherwise): that Loop runs on one thread."""
    got = [run(dims, 90, 32, "adam", "both", dtype, 64, products=products, threads=t) for t in (1, 2, 3)]
    for other in got[1:]:
        for k in got[0]:
            np.testing.assert_array_equal(got[0][k], other[k], err_msg=k)
    X = np.zeros((90, dims[0]), dtype)
    Y = np.zeros((90, 1), dtype)
    layers = [(np.zeros((o, i), dtype), np.zeros(o, dtype)) for i, o in zip(dims, dims[1:])]
    loop = _loop.Loop(layers, X, Y, batch_size=32, products=products, threads=2, wide=64)
    assert loop.teamed == all(nn for nn, _ in products[1:])
    assert _loop.teamable(dims, 32, products, True) == loop.teamed


@pytest.mark.parametrize("vectors", [True, False], ids=["vector-build", "scalar-build"])
def test_wide_rule_and_block(monkeypatch, vectors):
    """``wide="auto"`` from WIDE_MIN_INPUTS inputs, in builds with vector kernels only (the scalar
    build's are plain loops); True still forces it; the block: whole lines, about WIDE_BLOCK_BYTES
    of rows."""
    from dnn import _kernels

    assert _loop.WIDE_VECTOR_KERNELS == (_kernels.BUILD_INFO["simd_baseline"] != "scalar")
    monkeypatch.setattr(_loop, "WIDE_VECTOR_KERNELS", vectors)
    rng = np.random.default_rng(0)
    n0 = _loop.WIDE_MIN_INPUTS
    for n, wide, want in ((n0 - 1, "auto", False), (n0, "auto", vectors), (n0, True, True), (n0 - 1, True, True)):
        X = rng.random((3, n))
        loop = _loop.Loop([(np.zeros((2, n)), np.zeros((2, 1)))], X, np.ones((3, 2)), output="softmax", wide=wide)
        assert loop.wide == want
    assert _loop.wide_block(12288, 64, 8) * 64 * 8 == _loop.WIDE_BLOCK_BYTES
    assert _loop.wide_block(12288, 64, 4) == 2 * _loop.wide_block(12288, 64, 8)
    assert _loop.wide_block(100, 64, 8) == 100
    assert _loop.wide_block(10 ** 6, 10 ** 5, 8) == 64


@pytest.mark.parametrize("threads, large, want", [(1, False, True), (2, False, False), (2, True, True),
                                                   (1, True, True)])
def test_wide_gather_rule(monkeypatch, no_choices, threads, large, want):
    """The rule: the wide backward copies each block of rows first on one thread, and on a team only
    for an X larger than WIDE_GATHER_BYTES (a smaller one stays in L3 and is read in place); it is
    the process's first epoch's choice for a problem (its team's; later epochs' are measured), and
    the parameters' bits do not depend on it (above)."""
    if large:
        monkeypatch.setattr(_loop, "WIDE_GATHER_BYTES", 0)
    rng = np.random.default_rng(0)
    dims = [300, 12, 1]
    X = rng.random((90, dims[0]))
    Y = (rng.random((90, 1)) < 0.5).astype(float)
    layers = [(rng.standard_normal((o, i)) * 0.1, np.zeros((o, 1))) for i, o in zip(dims, dims[1:])]
    loop = _loop.Loop(layers, X, Y, batch_size=32, products="own", threads=threads, wide=64)
    assert not loop.wide_gather  # no epoch yet
    loop.epoch(None, 0.01)
    assert loop.epoch_threads == threads
    assert loop.wide_gather == want
    narrow = _loop.Loop([(W.copy(), b.copy()) for W, b in layers], X, Y, batch_size=32, products="own",
                        threads=threads, wide=False)
    narrow.epoch(None, 0.01)
    assert not narrow.wide_gather  # no wide layer, nothing gathered


@pytest.mark.parametrize("wide", ["yes", 0, -3, 2.5, None])
def test_wide_bad_argument(wide):
    X = np.zeros((3, 4))
    with pytest.raises(ValueError, match="wide must be"):
        _loop.Loop([(np.zeros((1, 4)), np.zeros((1, 1)))], X, np.zeros((3, 1)), wide=wide)


@pytest.mark.parametrize("dtype", DTYPES)
def test_wide_many_inputs_are_not_refused(dtype):
    """A first layer of more than 46340 inputs (a 224 x 224 RGB picture has 150528) is what the wide
    path is for: only a product that does not fit 32-bit ints (a W or a batch block of more than
    2**31 - 1 elements) is too large, not n_0 squared."""
    run([50003, 3, 1], 9, 4, "adam", "l2", dtype, True, epochs=1)
    # W1 of 40000 x 70000 elements: refused from its shape (a broadcast view: nothing allocated)
    W = np.broadcast_to(np.zeros(1, dtype), (40000, 70000))
    with pytest.raises(ValueError, match="too large for 32-bit"):
        _loop.Loop([(W, np.zeros((40000, 1), dtype))], np.zeros((2, 70000), dtype), np.zeros((2, 40000), dtype))


def _cats_like(threads=1, **kw):
    """A small Loop on the wide path (its layers, X and Y) with an Adam state."""
    rng = np.random.default_rng(0)
    dims = [300, 12, 1]
    X = rng.random((90, dims[0]))
    Y = (rng.random((90, 1)) < 0.5).astype(float)
    layers = [(rng.standard_normal((o, i)) * 0.1, np.zeros((o, 1))) for i, o in zip(dims, dims[1:])]
    v = [(np.zeros_like(W), np.zeros_like(b)) for W, b in layers]
    s = [(np.zeros_like(W), np.zeros_like(b)) for W, b in layers]
    loop = _loop.Loop(layers, X, Y, batch_size=32, products="own", threads=threads, wide=64, optimizer="adam",
                      v=v, s=s, **kw)
    return loop, layers


def _fake_clock(monkeypatch, loops, seconds):
    """Epochs timed as ``seconds[gather]`` (the path the Loop in ``loops[0]`` runs) on a clock of our own."""
    now = [0.0, False]  # the time, and whether the next call ends an epoch

    def clock():
        if now[1]:
            now[0] += seconds[loops[0].wide_gather]
        now[1] = not now[1]
        return now[0]
    monkeypatch.setattr(_timed_choice, "clock", clock)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("gather_s, in_place_s, kept", [
    (2.0, 1.0, False),    # reading in place twice as fast: kept
    (1.0, 2.0, True),     # copying faster: kept
    (1.0, 0.98, None),    # in place 2% faster, within the margin: the rule's choice stays
    (0.98, 1.0, None),
])
def test_wide_gather_measured(monkeypatch, no_choices, threads, gather_s, in_place_s, kept):
    """``wide_gather="measure"``: the rule's path for the warm-up epochs, then both paths in turn,
    then the faster for good, unless by less than the margin; the parameters' bits are those of
    either path run throughout."""
    monkeypatch.setattr(_loop, "WIDE_GATHER_BYTES", 2**62)  # rule: copy on one thread, not on a team
    loop, layers = _cats_like(threads)
    rule = threads == 1
    kept = rule if kept is None else kept
    _fake_clock(monkeypatch, [loop], {True: gather_s, False: in_place_s})
    warm, rounds = _loop.WIDE_TRIAL_WARM_UPS, _loop.WIDE_TRIAL_ROUNDS
    paths = []
    for e in range(warm + 2 * rounds + 3):
        loop.epoch(None, 0.01, loop.t, loop.step)
        paths.append(loop.wide_gather)
    assert paths[:warm] == [rule] * warm
    assert paths[warm:warm + 2 * rounds] == [rule if i % 4 in (0, 3) else not rule for i in range(2 * rounds)]
    assert paths[warm + 2 * rounds:] == [kept] * 3
    for gather in (True, False):
        fixed, fixed_layers = _cats_like(threads, wide_gather=gather)
        for e in range(len(paths)):
            fixed.epoch(None, 0.01, fixed.t, fixed.step)
            assert fixed.wide_gather == gather
        for (W, b), (W2, b2) in zip(layers, fixed_layers):
            np.testing.assert_array_equal(W, W2)
            np.testing.assert_array_equal(b, b2)


def test_wide_gather_measured_across_short_fits(monkeypatch, no_choices):
    """Fits of one epoch each (partial_fit, warm_start with max_iter=1) add up to one measurement per
    problem and thread count, whose choice every later Loop of the problem takes; another problem
    (here: another batch size) or another thread count measures anew, from its own rule."""
    monkeypatch.setattr(_loop, "WIDE_GATHER_BYTES", 2**62)  # rule: copy on one thread, not on a team
    warm, rounds = _loop.WIDE_TRIAL_WARM_UPS, _loop.WIDE_TRIAL_ROUNDS
    current = [None]
    _fake_clock(monkeypatch, current, {True: 1.0, False: 2.0})  # copying faster: the one-thread rule kept
    paths = []
    for fit in range(warm + 2 * rounds + 2):
        current[0], _ = _cats_like()
        current[0].epoch(None, 0.01)
        paths.append(current[0].wide_gather)
    assert paths == [True] * warm + [i % 4 in (0, 3) for i in range(2 * rounds)] + [True, True]
    current[0], _ = _cats_like(threads=2)
    current[0].epoch(None, 0.01)
    assert not current[0].wide_gather  # a team: its own measurement, from its rule (in place)
    rng = np.random.default_rng(0)
    X = rng.random((90, 300))
    current[0] = _loop.Loop([(rng.standard_normal((12, 300)) * 0.1, np.zeros((12, 1))),
                             (rng.standard_normal((1, 12)), np.zeros((1, 1)))], X, np.ones((90, 1)),
                            batch_size=16, products="own", wide=64)
    for _ in range(warm + 2):
        current[0].epoch(None, 0.01)
    assert not current[0].wide_gather  # another batch size: measuring anew (its second timed epoch)


def test_wide_gather_rule_alone(monkeypatch, no_choices):
    """WIDE_TRIAL_ROUNDS = 0: the rule's path every epoch, timed or not."""
    monkeypatch.setattr(_loop, "WIDE_TRIAL_ROUNDS", 0)
    loop, _ = _cats_like()
    _fake_clock(monkeypatch, [loop], {True: 2.0, False: 1.0})
    for _ in range(10):
        loop.epoch(None, 0.01, loop.t, loop.step)
        assert loop.wide_gather


def test_wide_gather_rule_never_measured(monkeypatch, no_choices):
    """``wide_gather="rule"`` (the planner's candidates): the rule's path, and no measurement made."""
    loop, _ = _cats_like(wide_gather="rule")
    _fake_clock(monkeypatch, [loop], {True: 2.0, False: 1.0})
    for _ in range(10):
        loop.epoch(None, 0.01, loop.t, loop.step)
        assert loop.wide_gather
    assert not _timed_choice._shared


def test_planner_candidates_do_not_feed_the_measurement(no_choices):
    """The planner times its candidate plans (products) with the wide path on its rule: their epochs,
    of different products, must not decide the fit's path."""
    from dnn import _loop_plan

    rng = np.random.default_rng(0)
    dims = [300, 12, 1]
    X = rng.random((128, dims[0]))
    Y = (rng.random((128, 1)) < 0.5).astype(float)
    layers = [(rng.standard_normal((o, i)) * 0.1, np.zeros((o, 1))) for i, o in zip(dims, dims[1:])]
    plans = _loop_plan.candidates(dims, 32, X.dtype)
    _loop_plan.measure(plans, layers, X, Y, dict(batch_size=32, optimizer="gd", wide=64), 0.01, 10**6, True)
    assert not _timed_choice._shared


def test_an_interrupt_after_the_epoch_finds_its_counters(monkeypatch, no_choices):
    """A Ctrl-C during an epoch is raised by the first Python call after it (here the clock that
    times it): the Loop's counters already count the epoch whose updates the parameters hold."""
    loop, layers = _cats_like()
    calls = [0]

    def clock():
        calls[0] += 1
        if calls[0] == 2:
            raise KeyboardInterrupt
        return 0.0
    monkeypatch.setattr(_timed_choice, "clock", clock)
    loop.epoch(None, 0.01)  # the warm-up, untimed
    W = layers[0][0].copy()
    with pytest.raises(KeyboardInterrupt):
        loop.epoch(None, 0.01, loop.t, loop.step)
    assert not np.array_equal(W, layers[0][0])
    assert (loop.epochs, loop.t, loop.step) == (2, 2 * 3, 2 * 3)  # 90 rows: 3 batches an epoch


@pytest.mark.parametrize("value", ["yes", "auto", None, 1, np.array([True])])
def test_wide_gather_bad_argument(value):
    with pytest.raises(ValueError, match="wide_gather must be"):
        _cats_like(wide_gather=value)


def test_timed_choices_kept_for_a_bounded_number_of_problems(monkeypatch, no_choices):
    """Past MAX_PROBLEMS problems the process's choices are dropped, not kept without end."""
    monkeypatch.setattr(_timed_choice, "MAX_PROBLEMS", 3)
    first = _timed_choice.shared("a", 1, 3)
    assert _timed_choice.shared("a", 1, 3) is first
    for key in "bc":
        _timed_choice.shared(key, 1, 3)
    assert len(_timed_choice._shared) == 3
    _timed_choice.shared("d", 1, 3)
    assert list(_timed_choice._shared) == ["d"]
    assert _timed_choice.shared("a", 1, 3) is not first

"""The wide path reading X as 8-bit codes (``dnn._loop.Loop``'s ``wide_codes=``).

Where every element of X is k / 255 (pictures scaled to 0 .. 1) or a whole
number 0 .. 255, the Loop keeps X as one byte per element and decodes each
block of the batch's rows into the buffer its products read. The decoded
values are X's own, bit for bit, so the fit is the plain wide path's, bit for
bit: that is what these tests hold it to, on every build of the kernels this
CPU runs, both dtypes, one thread and a team, blocks and decode tails that do
not divide n_0, batches of odd sizes. An X that is one unit in the last place
off anywhere, a -0.0, a NaN or a value out of range must not be coded.
"""
import importlib.util
from pathlib import Path

import numpy as np
import pytest

import dnn
from dnn import _engine, _loop, _timed_choice

DTYPES = (np.float64, np.float32)
#: Whether the build in use (the best this CPU runs) takes codes: not the scalar build (MSVC's) nor
#: x86-64's SSE2 baseline (no fused multiply-add of their own); there the Loops read X, and the
#: tests below hold them to the same bits all the same.
TAKES_CODES = _loop._decode(np.zeros(1, np.uint8), 255.0, np.float64)[1]
needs_codes = pytest.mark.skipif(not TAKES_CODES, reason="this build takes no codes (no fused multiply-add of "
                                 "its own): there is no choice to time")


def _twin():
    """tests/test_loop.py's NumPy twin (importlib mode: a test module is no package)."""
    spec = importlib.util.spec_from_file_location("_dnn_test_loop_twin_codes", Path(__file__).with_name("test_loop.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def coded(rng, m, n0, dtype, d=255.0):
    """X (m, n0) of codes 0 .. 255 over d, as NumPy computes it (division in float64, then dtype)."""
    return (rng.integers(0, 256, (m, n0)) / d).astype(dtype)


def fit(X, dims, b, dtype, wide, epochs=3, threads=1, optimizer="adam", keep=None, seed=1, **kw):
    """Parameters and the Loop after ``epochs`` shuffled epochs from a fixed start."""
    rng = np.random.default_rng(seed)
    m = X.shape[0]
    Y = (rng.random((m, 1)) < 0.5).astype(dtype)
    layers = [((rng.standard_normal((o, i)) / np.sqrt(i)).astype(dtype), (rng.standard_normal((o, 1)) * 0.1).astype(dtype))
              for o, i in zip(dims[1:], dims)]
    zeros = lambda: [(np.zeros_like(W), np.zeros_like(c)) for W, c in layers]
    loop = _loop.Loop(layers, X, Y, optimizer=optimizer, batch_size=b, v=zeros(), s=zeros(), lambd=0.3, wide=wide,
                      threads=threads, keep=keep, **kw)
    for e in range(epochs):
        loop.epoch(rng.permutation(m), 0.01, e * -(-m // b), e * -(-m // b))
    return [a for pair in layers for a in pair], loop


def assert_same_fit(X, dims, b, dtype, wide, **kw):
    """The coded fit equals the plain one bit for bit; returns the coded Loop."""
    plain, lp = fit(X, dims, b, dtype, wide, wide_codes=False, **kw)
    assert not lp.wide_coded
    got, lc = fit(X, dims, b, dtype, wide, wide_codes=True, **kw)
    for a, c in zip(plain, got):
        np.testing.assert_array_equal(c, a)
    assert lc.loss == lp.loss
    return lc


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n0, m, b, wide", [
    (300, 70, 64, True),     # one block of all 300 features, a last batch of 6
    (300, 70, 64, 64),       # blocks of 64: 4 whole and one of 44
    (203, 33, 7, 48),        # blocks of 48 and a last of 11: decode tails below a vector
    (37, 9, 1, 5),           # batches of 1, blocks of 5 and a last of 2
    (4096, 40, 16, "auto"),  # the wide path's own block
])
def test_coded_fit_is_the_plain_fit(loop_build, dtype, n0, m, b, wide):
    X = coded(np.random.default_rng(0), m, n0, dtype)
    lc = assert_same_fit(X, [n0, 6, 3, 1], b, dtype, wide)
    _, fast = _loop._decode(np.arange(3), 255.0, dtype)
    assert lc.wide_coded == fast  # x86-64's baseline build decodes no codes (no fused multiply-add of its own)
    if fast:
        assert lc.wide_code_divisor == 255.0


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("threads", [1, 2])
def test_coded_fit_on_a_team_and_with_dropout(dtype, threads):
    """Batches of 128: a team's forward runs in shares of columns (2 to 8 of them), each decoding its
    own rows of the buffer (shares that decoded into the same rows would mix examples)."""
    X = coded(np.random.default_rng(3), 300, 1100, dtype)
    lc = assert_same_fit(X, [1100, 12, 4, 1], 128, dtype, 256, threads=threads, keep=[0.8, 0.9])
    assert lc.wide_coded == TAKES_CODES and lc.epoch_threads == threads


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("optimizer", ["gd", "heavy_ball", "rmsprop"])
def test_coded_fit_other_optimizers(dtype, optimizer):
    X = coded(np.random.default_rng(4), 50, 130, dtype)
    assert assert_same_fit(X, [130, 5, 1], 16, dtype, 32, optimizer=optimizer).wide_coded == TAKES_CODES


@pytest.mark.parametrize("dtype", DTYPES)
def test_whole_numbers_are_codes_too(dtype):
    X = coded(np.random.default_rng(5), 40, 100, dtype, d=1.0)
    lc = assert_same_fit(X, [100, 5, 1], 16, dtype, 32)
    assert lc.wide_coded == TAKES_CODES and lc.wide_code_divisor == (1.0 if TAKES_CODES else 0.0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_coded_fit_against_the_numpy_twin(dtype, monkeypatch):
    """The NumPy twin of tests/test_loop.py on coded X: the coded loop within its tolerances."""
    twin = _twin()
    problem = twin.problem

    def coded_problem(rng, dims, m, output, dt):
        X, Y, params = problem(rng, dims, m, output, dt)
        return coded(rng, m, dims[0], dt), Y, params

    monkeypatch.setattr(twin, "problem", coded_problem)
    twin.compare([300, 8, 4, 1], 70, 16, "adam", "l2", "relu", "sigmoid", dtype, epochs=3, wide=64, wide_codes=True)


@pytest.mark.parametrize("dtype", DTYPES)
def test_every_code_decodes_to_k_over_d_on_every_build(loop_build, dtype):
    """Every code, in runs of every length up to two vectors and a tail: k / d to the nearest (the
    vectors and the scalar tail alike). Where the build takes no codes (its fused multiply-add is
    libm's), only that it says so."""
    _, fast = _loop._decode(np.arange(1, dtype=np.uint8), 255.0, dtype)
    assert fast == (loop_build != "baseline" or _loop.CODES_BASELINE_FMA)  # x86-64's AVX2, AVX-512; arm64
    if not fast:
        pytest.skip("the %s build takes no codes" % loop_build)
    k = np.random.default_rng(0).permutation(np.tile(np.arange(256), 3))
    for d in _loop.WIDE_CODE_DIVISORS:
        # float32: NumPy's float64 quotient rounded to float32 (k / 255 is never a float32 tie)
        want = (k / d).astype(dtype)
        for n in range(1, 34):
            for start in range(0, len(k) - n, 61):
                got, _ = _loop._decode(k[start:start + n].astype(np.uint8), d, dtype)
                assert got.dtype == np.dtype(dtype)
                np.testing.assert_array_equal(got, want[start:start + n], err_msg="%d codes at %d" % (n, start))
        got, _ = _loop._decode(k.astype(np.uint8), d, dtype)
        np.testing.assert_array_equal(got, want)


def _nudged(X, where, value):
    X = X.copy()
    X.flat[where] = value
    return X


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("what", ["ulp_last", "ulp_first", "minus_zero", "nan", "inf", "above", "negative", "half"])
def test_not_codes_is_not_coded(dtype, what):
    X = coded(np.random.default_rng(6), 30, 77, dtype)
    n = X.size
    X = {"ulp_last": lambda: _nudged(X, n - 1, np.nextafter(X.flat[n - 1], dtype(2))),
         "ulp_first": lambda: _nudged(X, 0, np.nextafter(X.flat[0], dtype(2))),
         "minus_zero": lambda: _nudged(X, n // 2, -0.0),
         "nan": lambda: _nudged(X, n // 3, np.nan),
         "inf": lambda: _nudged(X, 5, np.inf),
         "above": lambda: _nudged(X, 7, 256 / 255),
         "negative": lambda: _nudged(X, 9, -1 / 255),
         "half": lambda: _nudged(X, 11, 0.5)}[what]()
    _, loop = fit(X, [77, 4, 1], 8, dtype, 16, epochs=1, wide_codes=True)
    assert not loop.wide_coded


def test_auto_looks_at_the_second_epoch_and_never_for_a_narrow_first_layer():
    X = coded(np.random.default_rng(7), 30, 77, np.float64)
    _, one = fit(X, [77, 4, 1], 8, np.float64, 16, epochs=1, wide_codes="auto")
    assert not one.wide_coded  # "auto": a Loop of one epoch does not pay for the pass
    _, two = fit(X, [77, 4, 1], 8, np.float64, 16, epochs=2, wide_codes="auto")
    assert two.wide_coded == TAKES_CODES
    _, default = fit(X, [77, 4, 1], 8, np.float64, 16, epochs=2)
    assert not default.wide_coded  # a Loop's own caller may change X between epochs
    _, narrow = fit(X, [77, 4, 1], 8, np.float64, False, epochs=2, wide_codes=True)
    assert not narrow.wide_coded


def test_codes_have_a_size_cap(monkeypatch):
    X = coded(np.random.default_rng(8), 30, 77, np.float64)
    monkeypatch.setattr(_loop, "WIDE_CODES_MAX_BYTES", X.size - 1)
    _, loop = fit(X, [77, 4, 1], 8, np.float64, 16, epochs=2, wide_codes=True)
    assert not loop.wide_coded


class _NoMemoryForCodes:
    """NumPy, but for the codes' array: no memory."""

    def __getattr__(self, name):
        return getattr(np, name)

    def empty(self, shape, dtype=float, *args, **kwargs):
        if np.dtype(dtype) == np.uint8:
            raise MemoryError("no memory for the codes")
        return np.empty(shape, dtype, *args, **kwargs)


def test_no_memory_for_codes_leaves_the_epochs_on_x(monkeypatch):
    X = coded(np.random.default_rng(11), 30, 77, np.float64)
    plain, _ = fit(X, [77, 4, 1], 8, np.float64, 16, epochs=3)
    monkeypatch.setattr(_loop, "np", _NoMemoryForCodes())
    got, loop = fit(X, [77, 4, 1], 8, np.float64, 16, epochs=3, wide_codes="auto")
    assert not loop.wide_coded
    for a, c in zip(plain, got):
        np.testing.assert_array_equal(c, a)


def test_wide_codes_is_checked():
    X = coded(np.random.default_rng(9), 10, 20, np.float64)
    with pytest.raises(ValueError, match="wide_codes"):
        fit(X, [20, 3, 1], 4, np.float64, 8, epochs=1, wide_codes="yes")


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_estimator_on_pictures_is_the_uncoded_fit(monkeypatch):
    """DNNClassifier on pictures scaled to 0 .. 1: the same coefficients with codes and without."""
    rng = np.random.default_rng(10)
    X = coded(rng, 80, 4096, np.float64)
    y = rng.integers(0, 2, 80)
    kw = dict(hidden_layer_sizes=(8, 3), batch_size=16, max_iter=4, tol=0, n_iter_no_change=100, random_state=0)
    loops, loop_for = [], _engine._loop_for
    monkeypatch.setattr(_engine, "_loop_for", lambda *a, **k: loops.append(loop_for(*a, **k)) or loops[-1])
    with_codes = dnn.DNNClassifier(**kw).fit(X, y)
    monkeypatch.setattr(_loop, "WIDE_CODE_DIVISORS", ())
    without = dnn.DNNClassifier(**kw).fit(X, y)
    assert [lp.wide_coded for lp in loops] == [_loop._decode(np.arange(3), 255.0, np.float64)[1], False]
    for a, c in zip(without.coefs_ + without.intercepts_, with_codes.coefs_ + with_codes.intercepts_):
        np.testing.assert_array_equal(c, a)
    assert with_codes.loss_curve_ == without.loss_curve_


def _coded_clock(monkeypatch, loop, seconds):
    """Epochs timed as ``seconds[loop.epoch_coded]`` on a clock of our own (two calls per timed epoch)."""
    now = [0.0, False]

    def clock():
        if now[1]:
            now[0] += seconds[loop.epoch_coded]
        now[1] = not now[1]
        return now[0]
    monkeypatch.setattr(_timed_choice, "clock", clock)


@needs_codes
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("coded_s, plain_s, kept", [
    (1.0, 2.0, True),    # the codes twice as fast: kept
    (2.0, 1.0, False),   # X twice as fast: kept
    (1.0, 0.98, True),   # X 2% faster, within the margin: the rule's codes stay
])
def test_auto_times_codes_against_x(monkeypatch, threads, coded_s, plain_s, kept):
    """``"auto"``: once found (second epoch), the codes for the warm-up epochs, then epochs on the
    codes and on X in turn, then the faster for good, unless by less than the margin; the
    parameters' bits are those of a Loop that always reads the codes."""
    monkeypatch.setattr(_timed_choice, "_shared", {})
    X = coded(np.random.default_rng(12), 60, 4100, np.float64)
    warm, rounds = _loop.WIDE_TRIAL_WARM_UPS, _loop.WIDE_TRIAL_ROUNDS
    epochs = 1 + warm + 2 * rounds + 3
    rng = np.random.default_rng(1)
    Y = (rng.random((60, 1)) < 0.5).astype(np.float64)
    start = [((rng.standard_normal((o, i)) / np.sqrt(i)), np.zeros((o, 1))) for o, i in ((6, 4100), (1, 6))]

    def run(wide_codes, clocked):
        layers = [(W.copy(), b.copy()) for W, b in start]
        loop = _loop.Loop(layers, X, Y, optimizer="adam", batch_size=16, wide=True, threads=threads,
                          wide_codes=wide_codes, v=[(np.zeros_like(W), np.zeros_like(b)) for W, b in start],
                          s=[(np.zeros_like(W), np.zeros_like(b)) for W, b in start])
        if clocked:
            _coded_clock(monkeypatch, loop, {True: coded_s, False: plain_s})
        paths = []
        for e in range(epochs):
            loop.epoch(np.random.default_rng(e).permutation(60), 0.01, loop.t, loop.step)
            paths.append(loop.epoch_coded)
        return paths, layers

    paths, layers = run("auto", True)
    assert paths[0] is False  # the first epoch reads X; codes are looked for at the second
    assert paths[1:1 + warm] == [True] * warm
    assert paths[1 + warm:1 + warm + 2 * rounds] == [i % 4 in (0, 3) for i in range(2 * rounds)]
    assert paths[1 + warm + 2 * rounds:] == [kept] * 3
    # epochs on X for good: the gather's own measurement starts (on the codes it is never asked)
    gather_seen = [c.seen for k, c in _timed_choice._shared.items() if k[0] == "wide_gather"]
    assert (sum(gather_seen) > 1) == (not kept)
    always, always_layers = run(True, False)
    assert always == [True] * epochs
    for (W, b), (W2, b2) in zip(layers, always_layers):
        np.testing.assert_array_equal(W, W2)
        np.testing.assert_array_equal(b, b2)


@needs_codes
def test_codes_measured_once_per_problem(monkeypatch):
    """Loops of one problem share one measurement: a second Loop reads what the first decided."""
    monkeypatch.setattr(_timed_choice, "_shared", {})
    X = coded(np.random.default_rng(13), 40, 4100, np.float64)
    kw = dict(wide_codes="auto", epochs=2 + _loop.WIDE_TRIAL_WARM_UPS + 2 * _loop.WIDE_TRIAL_ROUNDS)
    _, first = fit(X, [4100, 4, 1], 16, np.float64, True, **kw)
    decided = [c.decided for k, c in _timed_choice._shared.items() if "wide_codes" in k]
    assert decided and decided[0] is not None
    _, second = fit(X, [4100, 4, 1], 16, np.float64, True, **dict(kw, epochs=3))
    assert second.epoch_coded == decided[0]
    assert len([k for k in _timed_choice._shared if "wide_codes" in k]) == 1

"""The top-level step-by-step functions take the second part's keywords (issue 11): the course's
network stays on the compiled path, bit for bit; any other network, or an output layer of more than
one unit (softmax, as dnn.reference infers), runs in dnn.network, with its numbers and errors."""
import inspect

import numpy as np
import pytest

import dnn
from dnn import network
from dnn import reference as R


def _net(dims, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    p = {}
    for l in range(1, len(dims)):
        p["W%d" % l] = (rng.standard_normal((dims[l], dims[l - 1])) * 0.7).astype(dtype)
        p["b%d" % l] = (rng.standard_normal((dims[l], 1)) * 0.1).astype(dtype)
    return p


@pytest.mark.parametrize("name", ["L_model_forward", "L_model_backward", "predict"])
def test_the_keywords_are_dnn_networks(name):
    ours = inspect.signature(getattr(dnn, name)).parameters
    theirs = inspect.signature(getattr(network, name)).parameters
    kw = {k: p.default for k, p in theirs.items() if p.kind is p.KEYWORD_ONLY}
    assert {k: p.default for k, p in ours.items() if p.kind is p.KEYWORD_ONLY} == kw
    assert [k for k, p in ours.items() if p.kind is not p.KEYWORD_ONLY] == \
           [k for k, p in theirs.items() if p.kind is not p.KEYWORD_ONLY]


@pytest.fixture
def no_network(monkeypatch):
    """Make any call into dnn.network fail: what passes ran compiled."""
    def refuse(*args, **kwargs):
        raise AssertionError("dnn.network was called")
    for name in ("L_model_forward", "L_model_backward", "predict"):
        monkeypatch.setattr(network, name, refuse)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_course_network_stays_compiled_with_its_keywords_spelled_out(no_network, dtype, capsys):
    P = _net((6, 5, 3, 1), dtype)
    X = np.random.default_rng(1).random((6, 11)).astype(dtype)
    Y = (np.random.default_rng(2).random((1, 11)) > 0.5).astype(dtype)
    AL, caches = dnn.L_model_forward(X, P)
    course = dict(hidden_activation="relu", output="sigmoid", keep_prob=1.0)
    AL2, caches2 = dnn.L_model_forward(X, P, seed=7, iteration=3, **course)
    np.testing.assert_array_equal(AL, AL2)
    grads = dnn.L_model_backward(AL, Y, caches)
    grads2 = dnn.L_model_backward(AL2, Y, caches2, lambd=0, **course)
    assert grads.keys() == grads2.keys()
    for k in grads:
        np.testing.assert_array_equal(grads[k], grads2[k])
    np.testing.assert_array_equal(dnn.predict(X, Y, P), dnn.predict(X, Y, P, hidden_activation="relu",
                                                                      output="sigmoid"))
    # The reference's numbers (the parity tests check this in depth).
    np.testing.assert_allclose(AL, R.L_model_forward(X, P)[0], rtol=1e-4 if dtype == np.float32 else 1e-12)


CASES = [
    dict(hidden_activation="tanh"),
    dict(hidden_activation="leaky_relu", output="sigmoid"),
    dict(keep_prob=0.7, seed=3, iteration=2),
    dict(keep_prob=[0.5, 1.0], hidden_activation="tanh"),
    dict(output="identity"),
]


@pytest.mark.parametrize("kw", CASES, ids=lambda kw: ",".join("%s=%s" % i for i in kw.items()))
def test_other_networks_run_in_dnn_network(kw, capsys):
    P = _net((6, 5, 3, 1))
    X = np.random.default_rng(1).random((6, 11))
    Y = (np.random.default_rng(2).random((1, 11)) > 0.5).astype(float)
    AL, caches = dnn.L_model_forward(X, P, **kw)
    AL_n, caches_n = network.L_model_forward(X, P, **kw)
    np.testing.assert_array_equal(AL, AL_n)
    assert len(caches) == len(caches_n) and [len(c) for c in caches] == [len(c) for c in caches_n]
    back_kw = {k: v for k, v in kw.items() if k not in ("seed", "iteration")}
    for lambd in (0.0, 0.3):
        grads = dnn.L_model_backward(AL, Y, caches, lambd=lambd, **back_kw)
        grads_n = network.L_model_backward(AL_n, Y, caches_n, lambd=lambd, **back_kw)
        for k in grads_n:
            np.testing.assert_array_equal(grads[k], grads_n[k])
    pred_kw = {k: v for k, v in kw.items() if k in ("hidden_activation", "output")}
    np.testing.assert_array_equal(dnn.predict(X, Y, P, **pred_kw), network.predict(X, Y, P, **pred_kw))
    capsys.readouterr()
    p = dnn.predict(X, Y, P, **pred_kw)
    out = capsys.readouterr().out
    p_ref = R.predict(X, Y, P, **pred_kw)
    assert out == capsys.readouterr().out
    assert p.dtype == p_ref.dtype and p.shape == p_ref.shape
    np.testing.assert_allclose(p, p_ref, rtol=1e-12)


def test_l2_alone_runs_in_dnn_network_and_adds_its_term():
    P = _net((4, 3, 1))
    X = np.random.default_rng(1).random((4, 8))
    Y = (np.random.default_rng(2).random((1, 8)) > 0.5).astype(float)
    AL, caches = dnn.L_model_forward(X, P)
    plain = dnn.L_model_backward(AL, Y, caches)
    l2 = dnn.L_model_backward(AL, Y, caches, lambd=0.5)
    for l in (1, 2):
        np.testing.assert_allclose(l2["dW%d" % l] - plain["dW%d" % l], 0.5 / 8 * P["W%d" % l], atol=1e-12)
        np.testing.assert_allclose(l2["db%d" % l], plain["db%d" % l], atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_more_than_one_output_unit_is_softmax(dtype, capsys):
    """Was: the compiled functions treated K output units as K sigmoids (issue 11 asks for softmax,
    as dnn.reference and dnn.network infer it)."""
    P = _net((6, 5, 4), dtype)
    X = np.random.default_rng(1).random((6, 13)).astype(dtype)
    y = np.random.default_rng(2).integers(0, 4, (1, 13))
    AL, caches = dnn.L_model_forward(X, P)
    np.testing.assert_array_equal(AL, network.L_model_forward(X, P)[0])
    np.testing.assert_allclose(AL.sum(axis=0), 1, rtol=1e-5)
    np.testing.assert_allclose(AL, R.L_model_forward(X, P)[0], rtol=1e-4 if dtype == np.float32 else 1e-12)
    grads = dnn.L_model_backward(AL, y, caches)
    ref = R.L_model_backward(AL, y, caches)
    for k in ("dW1", "db1", "dW2", "db2"):
        np.testing.assert_allclose(grads[k], ref[k], rtol=1e-3 if dtype == np.float32 else 1e-10,
                                   atol=1e-6 if dtype == np.float32 else 1e-13)
    # Caches that came back as lists (not arrays) take the checked path, and the same dispatch.
    listed = [((a.tolist(), w.tolist(), b.tolist()), z.tolist()) for (a, w, b), z in caches]
    g2 = dnn.L_model_backward(AL.tolist(), y, listed)
    np.testing.assert_allclose(g2["dW1"], grads["dW1"], rtol=1e-6)
    p = dnn.predict(X, y, P)
    assert p.dtype == np.int64 and p.shape == (1, 13)
    np.testing.assert_array_equal(p[0], AL.argmax(axis=0))
    assert "Accuracy" in capsys.readouterr().out
    with pytest.raises(ValueError, match="output 'sigmoid' needs one output unit"):
        dnn.L_model_forward(X, P, output="sigmoid")


def _backward_of(X, P, **kw):
    AL, caches = dnn.L_model_forward(X, P)
    return dnn.L_model_backward(AL, np.ones((1, X.shape[1])), caches, **kw)


@pytest.mark.parametrize("call, match", [
    (lambda X, P: dnn.L_model_forward(X, P, hidden_activation="gelu"), "hidden_activation must be one of"),
    (lambda X, P: dnn.L_model_forward(X, P, hidden_activation=None), "hidden_activation must be one of"),
    (lambda X, P: dnn.L_model_forward(X, P, output="linear"), "output must be one of"),
    (lambda X, P: dnn.L_model_forward(X, P, keep_prob=0.0), "keep_prob"),
    (lambda X, P: dnn.L_model_forward(X, P, keep_prob=[0.5]), "keep_prob must have one entry per hidden layer"),
    (lambda X, P: dnn.L_model_forward(X, P, seed=-1), "seed"),
    (lambda X, P: dnn.L_model_forward(X, P, iteration=1.5), "iteration"),
    (lambda X, P: _backward_of(X, P, lambd=-1.0), "lambd"),
    (lambda X, P: _backward_of(X, P, hidden_activation="sigmoid"), "hidden_activation must be one of"),
])
def test_bad_keywords_raise_dnn_networks_errors(call, match):
    P = _net((3, 4, 2, 1))
    X = np.random.default_rng(0).random((3, 9))
    with pytest.raises((ValueError, TypeError), match=match):
        call(X, P)


HOSTILE = [None, True, 1 + 2j, np.nan, np.inf, -1, 2, 1.5, "relu ", "x" * 10_000, b"relu", [], [0.5] * 7,
           np.array([1.0]), np.array(1.0), np.ones((2, 2)), object(), {"a": 1}, 2 ** 70, -0.0]


@pytest.mark.parametrize("keyword", ["hidden_activation", "output", "keep_prob", "seed", "iteration", "lambd"])
def test_hostile_keywords_raise_only_the_documented_exceptions(keyword, capsys):
    P = _net((3, 4, 2, 1))
    X = np.random.default_rng(0).random((3, 6))
    Y = (np.arange(6) % 2).reshape(1, 6)
    AL, caches = dnn.L_model_forward(X, P)
    for value in HOSTILE:
        calls = []
        if keyword != "lambd":
            calls.append(lambda: dnn.L_model_forward(X, P, **{keyword: value}))
        if keyword not in ("seed", "iteration"):
            calls.append(lambda: dnn.L_model_backward(AL, Y, caches, **{keyword: value}))
        if keyword in ("hidden_activation", "output"):
            calls.append(lambda: dnn.predict(X, Y, P, **{keyword: value}))
        for call in calls:
            try:
                call()
            except (ValueError, TypeError, KeyError):
                pass

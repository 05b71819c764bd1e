"""``L_model_backward``'s dict computes ``dA0`` when it is first read (``dnn._gradients``).

No update reads dA0 (the gradient with respect to X), and on a wide first layer
it is a third of the backward's work, so the compiled path leaves it pending.
What a user must not be able to tell, short of timing it:

- its bits are those the call would have computed then, whatever the products
  (ours, SciPy's or NumPy's BLAS) and the threads;
- it is the gradient of the call's W1 and dZ1, even after the caller changed
  W1 in place or made more calls whose results reuse the call's memory;
- the dict shows it wherever a dict shows a value: iteration, views, len,
  ``in``, repr, copies, pickles, comparison, ``dict(g)``, ``{**g}``, and
  every mutation, in the course's key order;
- reading other keys, ``in`` and ``len`` do not compute it (the point).
"""

import copy
import pickle
import threading

import numpy as np
import pytest

import dnn
from dnn import _kernels, _products, reference
from dnn._gradients import Gradients

DTYPES = [np.float64, np.float32]
PRODUCTS = {"as is": None, "BLAS": 0, "own": _kernels.OWN_PRODUCTS["all"],
            "NumPy's BLAS": _kernels.OWN_PRODUCTS["numpy_nn"] | _kernels.OWN_PRODUCTS["numpy_nt"]}


@pytest.fixture
def products(monkeypatch):
    """``use(name)``: every product of the step calls as ``PRODUCTS[name]`` says."""
    def use(name):
        own = PRODUCTS[name]
        if own is not None:
            _products._find_thread_counters(_kernels)
            monkeypatch.setattr(_products, "for_step", lambda n, k, m, i: own)
    return use


def _backward(X, Y, p, defer=True):
    AL, caches = dnn.L_model_forward(X, p)
    grads = _kernels.backward(AL, Y, caches, dnn.functional._grad_names(len(caches)),
                              dnn.functional._own_of, defer)
    assert type(grads) is Gradients
    return grads, caches


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dims,m", [([6, 5, 4, 1], 9), ([784, 256, 64, 1], 300), ([3000, 8, 1], 40),
                                    ([2, 4, 1], 400), ([40, 1], 17), ([12288, 20, 7, 1], 64)])
@pytest.mark.parametrize("which", list(PRODUCTS))
@pytest.mark.parametrize("threads", [1, 2])
def test_dA0_has_the_bits_the_call_would_have_made(dtype, dims, m, which, threads, products,
                                                   random_network, step_threads):
    products(which)
    step_threads(threads)
    X, Y, p = random_network(dims, m, dtype)
    eager, _ = _backward(X, Y, p, defer=False)
    lazy, _ = _backward(X, Y, p)
    step_threads(3 - threads)  # read under the other thread count
    assert lazy["dA0"].dtype == dtype and lazy["dA0"].shape == (dims[0], m)
    assert np.array_equal(lazy["dA0"], eager["dA0"])
    want_AL, want_caches = reference.L_model_forward(X, p)
    want = reference.L_model_backward(want_AL, Y, want_caches)
    tol = dict(rtol=2e-4, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(lazy["dA0"], want["dA0"], **tol)


@pytest.mark.parametrize("dtype", DTYPES)
def test_dA0_is_of_the_call_after_W1_changed_in_place_and_more_calls(dtype, random_network):
    # The course's update makes new arrays; a user's own loop may write
    # ``parameters["W1"] -= lr * grads["dW1"]``, which changes the W1 the caches hold.
    X, Y, p = random_network([50, 30, 1], 200, dtype)
    want, _ = _backward(X, Y, p, defer=False)
    grads, caches = _backward(X, Y, p)
    assert caches[0][0][1] is p["W1"]
    p["W1"] -= 0.5 * grads["dW1"]
    p["W1"][:, :3] = 7.0
    for _ in range(3):  # more iterations, whose results may take freed memory
        AL, caches2 = dnn.L_model_forward(X, p)
        dnn.L_model_backward(AL, Y, caches2)
        dnn.L_model_backward(AL, Y, caches2)["dA0"]
    assert np.array_equal(grads["dA0"], want["dA0"])


@pytest.mark.parametrize("dims", [[10, 1, 300, 1], [10, 40, 30, 1], [8, 20, 60, 20, 1]])
def test_a_pending_dA0_holds_no_more_than_dZ1(dims, random_network):
    # The backward's dZ scratch is as wide as the widest layer: a view of it would keep
    # (n_max, m) alive for as long as the caller keeps the dict.
    X, Y, p = random_network(dims, 500, np.float64)
    want, _ = _backward(X, Y, p, defer=False)
    grads, _ = _backward(X, Y, p)
    held = [a for a in grads._pending.args if isinstance(a, np.ndarray)]
    assert [a.shape for a in held] == [(dims[1], dims[0]), (dims[1], 500)]
    for a in held:
        root = a
        while isinstance(root.base, np.ndarray):
            root = root.base
        assert root.nbytes == a.nbytes, (a.shape, root.shape)
    assert np.array_equal(grads["dA0"], want["dA0"])


def test_reads_of_other_keys_in_and_len_leave_dA0_pending(random_network, monkeypatch):
    made = []
    real = _kernels.input_grad
    monkeypatch.setattr(_kernels, "input_grad", lambda *a: made.append(1) or real(*a))
    X, Y, p = random_network([20, 10, 5, 1], 30, np.float64)
    AL, caches = dnn.L_model_forward(X, p)
    grads = dnn.L_model_backward(AL, Y, caches)
    assert isinstance(grads, dict) and len(grads) == 9 and "dA0" in grads and "dA9" not in grads
    for k in ("dW1", "db1", "dA1", "dW3"):
        grads[k], grads.get(k)
    assert grads.get("nope", 5) == 5
    with pytest.raises(KeyError, match="dW4"):
        grads["dW4"]
    new = dnn.update_parameters(dict(p), grads, 0.1)
    assert made == []
    want = reference.update_parameters(dict(p), reference.L_model_backward(AL, Y, caches), 0.1)
    for k in want:
        np.testing.assert_allclose(new[k], want[k], rtol=1e-12, atol=1e-15)
    assert grads.get("dA0") is grads["dA0"] is grads["dA0"]
    assert made == [1]


def _plain(g):
    return dict(dict.items(g)) if isinstance(g, Gradients) else g


# Each takes a grads dict and returns something to compare with what a plain dict gives.
VIEWS = {
    "iter": lambda g: list(g),
    "reversed": lambda g: list(reversed(g)),
    "keys": lambda g: list(g.keys()),
    "values": lambda g: [v.sum() for v in g.values()],
    "items": lambda g: [(k, v.sum()) for k, v in g.items()],
    "len": lambda g: len(g),
    "repr": lambda g: repr(g),
    "str": lambda g: str(g),
    "dict()": lambda g: _plain(dict(g)),
    "unpacked": lambda g: _plain({**g}),
    "keywords": lambda g: _plain((lambda **kw: kw)(**g)),
    "copy": lambda g: g.copy(),
    "copy.copy": lambda g: copy.copy(g),
    "deepcopy": lambda g: copy.deepcopy(g),
    "pickle": lambda g: pickle.loads(pickle.dumps(g)),
    "or": lambda g: g | {"x": 1},
    "ror": lambda g: {"x": 1} | g,
    "ior": lambda g: _plain(g.__ior__({"x": 1})),
    "update": lambda g: g.update(x=1) or _plain(g),
    "setitem": lambda g: g.__setitem__("dW1", 0) or _plain(g),
    "setitem dA0": lambda g: g.__setitem__("dA0", 0) or _plain(g),
    "delitem": lambda g: g.__delitem__("dW2") or _plain(g),
    "pop": lambda g: (g.pop("db1").sum(), _plain(g)),
    "pop dA0": lambda g: (g.pop("dA0").sum(), _plain(g)),
    "popitem": lambda g: (g.popitem()[0], _plain(g)),
    "setdefault": lambda g: (g.setdefault("dA0", 0).sum(), _plain(g)),
    "clear": lambda g: g.clear() or len(g),
    "dict.update": lambda g: _plain(dict({}, **g)),
}


def _same(a, b):
    if isinstance(a, dict):
        return (type(a) is type(b) and list(a) == list(b)
                and all(_same(a[k], b[k]) for k in a))
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


@pytest.mark.parametrize("view", list(VIEWS))
def test_the_dict_shows_dA0_wherever_a_dict_shows_a_value(view, random_network):
    X, Y, p = random_network([7, 5, 3, 1], 11, np.float64)
    eager, _ = _backward(X, Y, p, defer=False)
    lazy, _ = _backward(X, Y, p)
    AL, caches = reference.L_model_forward(X, p)
    order = list(reference.L_model_backward(AL, Y, caches))
    assert list(eager) == order
    want = VIEWS[view](dict(eager))
    assert _same(VIEWS[view](lazy), want), view


class _Anything:
    """Equal to anything, arrays too (NumPy defers to it)."""
    __array_ufunc__ = None

    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False


def _pending(names, followers=2):
    """A Gradients of ``_Anything`` values whose first name is pending."""
    g = Gradients({k: _Anything() for k in names[1:]})
    g._defer(names[0], _Anything, followers)
    return g


def test_equal_to_the_dict_it_stands_for_either_side(random_network):
    X, Y, p = random_network([7, 5, 1], 6, np.float64)
    names = list(_backward(X, Y, p, defer=False)[0])
    shown = {k: _Anything() for k in names}
    assert _backward(X, Y, p)[0] == shown and shown == _backward(X, Y, p)[0]
    assert not (_backward(X, Y, p)[0] != shown) and not (shown != _backward(X, Y, p)[0])
    assert _pending(["a", "b"], 1) == _pending(["a", "b"], 1) == {"a": 0, "b": 0}
    assert _pending(["a", "b"], 1) != _pending(["a", "c"], 1)
    assert list(_pending(["a", "b", "c"])) == ["a", "b", "c"] and list(_pending(["c", "b", "a"], 0)) == ["b", "a", "c"]
    assert _backward(X, Y, p)[0] != {k: _Anything() for k in names[:-1]}


def test_two_threads_reading_dA0_get_one_array(random_network):
    X, Y, p = random_network([3000, 64, 1], 500, np.float64)
    for _ in range(3):
        grads, _ = _backward(X, Y, p)
        seen = []
        start = threading.Barrier(2)

        def read():
            start.wait()
            seen.append(grads["dA0"])

        ts = [threading.Thread(target=read) for _ in range(2)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        assert seen[0] is seen[1] is grads["dA0"] and list(grads)[-3:] == ["dA0", "dW1", "db1"]


def test_len_takes_the_settling_lock():
    # A settle moves the last keys out and back under the lock: len() (and so bool()) read
    # meanwhile saw 5 or 7 of 6 keys (a fuzzer's find), so it reads under the lock, as ``in``
    # and ``[]`` do where they must. Checked by recording the lock's use: no thread, no timing.
    from dnn import _gradients

    class Recording:
        def __init__(self, lock):
            self.lock, self.entered = lock, 0

        def __enter__(self):
            self.entered += 1
            return self.lock.__enter__()

        def __exit__(self, *exc):
            return self.lock.__exit__(*exc)

    g = _pending(["dA0", "dW1", "db1"])
    rec = Recording(_gradients._settling_lock)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_gradients, "_settling_lock", rec)
        assert len(g) == 3 and rec.entered == 1
        assert bool(g) and rec.entered == 2
        with _gradients._settling_lock:  # re-entrant: a signal handler's len() amid a settle
            assert len(g) == 3


# The second part's keywords run in dnn.network (NumPy): the same pending dA0.
KEYWORD_CASES = [dict(output="softmax"), dict(hidden_activation="tanh"), dict(keep_prob=0.8, seed=3),
                 dict(lambd=0.7), dict(hidden_activation="leaky_relu", output="softmax", keep_prob=0.9, seed=1)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kw", KEYWORD_CASES, ids=lambda kw: ",".join(sorted(kw)))
def test_the_second_part_s_keywords_leave_dA0_pending_too(dtype, kw, random_network, monkeypatch):
    from dnn import network

    made = []
    real = network._input_grad
    monkeypatch.setattr(network, "_input_grad", lambda W, dZ: made.extend([1] * (W.shape == (7, 9)))
                        or real(W, dZ))  # the hidden layers' dA_prev are made as before
    X, _, p = random_network([9, 7, 5, 3], 13, dtype)
    Y = np.random.default_rng(1).integers(0, 3, 13) if kw.get("output") == "softmax" else \
        (np.random.default_rng(1).random((1, 13)) > 0.5).astype(dtype)
    if kw.get("output") != "softmax":
        p["W3"], p["b3"] = p["W3"][:1], p["b3"][:1]
    fkw = {k: v for k, v in kw.items() if k != "lambd"}
    bkw = {k: v for k, v in kw.items() if k != "seed"}
    AL, caches = dnn.L_model_forward(X, p, **fkw)
    grads = dnn.L_model_backward(AL, Y, caches, **bkw)
    assert type(grads) is Gradients and "dA0" in grads and made == []
    W1 = caches[0][0][1]
    want_AL, want_caches = reference.L_model_forward(X, p, **fkw)
    want = reference.L_model_backward(want_AL, Y, want_caches, **bkw)
    W1 += 1.0  # in place: dA0 is still the call's
    assert list(grads) == list(want) and made == [1]
    tol = dict(rtol=2e-4, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-13)
    for k in want:
        np.testing.assert_allclose(grads[k], want[k], **tol, err_msg=k)

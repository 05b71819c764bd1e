"""Arrays on a cache line (``dnn._lines``): where dnn makes them, and that no number depends on it.

The buffers and parameters dnn allocates start on 64 bytes for speed only;
the second half checks the promise that goes with it: the same bits whether
the mini-batch loop's parameters, Adam's moments and X, or every buffer and
parameter dnn itself allocates (the loop's, the full-batch fits', the
estimators'), start on a line or some bytes past one (every kernel's lanes
follow the index, not the address), and the drawn parameters are the draws
cast as ``astype`` casts them.
"""
import inspect
import types

import numpy as np
import pytest

import dnn
from dnn import (_engine, _lines, _loop, _rng, _train, course_model, estimators, initializers, optimizers,
                 reference)

DTYPES = [np.float64, np.float32]


def _on_a_line(a):
    return np.asarray(a).ctypes.data % _lines.LINE == 0


@pytest.mark.parametrize("dtype", DTYPES + [np.uint8, np.uintp])
@pytest.mark.parametrize("shape", [0, 1, 7, (3, 5), (0, 4), (20, 12288), (2, 3, 4)])
def test_empty_and_zeros_start_on_a_line(dtype, shape):
    for order in "CF":
        for make in (_lines.empty, _lines.zeros):
            a = make(shape, dtype, order)
            expect = (shape,) if np.ndim(shape) == 0 else shape
            assert a.shape == expect and a.dtype == np.dtype(dtype) and a.flags.writeable
            assert a.flags.c_contiguous if order == "C" else a.flags.f_contiguous
            assert _on_a_line(a) or a.size == 0, (make.__name__, shape, order, a.ctypes.data % 64)
            if make is _lines.zeros:
                assert not a.any()


@pytest.mark.parametrize("shape", [-1, (2, -3), 2.5, (2, 1.5)])
def test_a_size_that_is_no_size_is_refused(shape):
    with pytest.raises((ValueError, TypeError)):
        _lines.empty(shape)


def test_zeros_like_keeps_shape_dtype_and_order():
    f = np.asfortranarray(np.ones((4, 6), np.float32))
    z = _lines.zeros_like(f)
    assert z.shape == (4, 6) and z.dtype == np.float32 and z.flags.f_contiguous and not z.any()
    assert _lines.zeros_like(np.ones((4, 6))).flags.c_contiguous
    assert _on_a_line(z)


@pytest.mark.filterwarnings("ignore:Stochastic Optimizer:Warning")  # 2 epochs: not converged, as meant
def test_what_dnn_creates_starts_on_a_line():
    he = initializers.initialize_parameters_he([300, 20, 1])
    assert all(_on_a_line(a) for a in he.values())
    v, s = optimizers.initialize_adam(he)
    assert all(_on_a_line(a) for a in list(v.values()) + list(s.values()))
    rng = np.random.default_rng(0)
    X, y = rng.random((60, 300)), rng.integers(0, 2, 60)
    for dtype in DTYPES:
        est = dnn.DNNClassifier(hidden_layer_sizes=(20,), max_iter=2, dtype=dtype, random_state=0).fit(X, y)
        assert all(_on_a_line(a) for a in est.coefs_ + est.intercepts_)
        state = est._state
        assert all(_on_a_line(a) for name in ("v", "s") for a in state[name].values())


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, scale", [
    ("he", lambda W, n_prev, n: W * np.sqrt(2.0 / n_prev)),
    ("xavier", lambda W, n_prev, n: W * np.sqrt(1.0 / n_prev)),
    ("glorot", lambda W, n_prev, n: W * np.sqrt(2.0 / (n_prev + n))),
    ("random", lambda W, n_prev, n: W * 10),
])
def test_the_initializers_draws_are_cast_as_astype_casts(dtype, name, scale):
    """On a line, the initial weights are still the float64 draws cast as ``astype`` casts them."""
    dims = [300, 20, 7, 1]
    got = getattr(initializers, "initialize_parameters_" + name)(dims, seed=5, dtype=dtype)
    np.random.seed(5)
    for l in range(1, len(dims)):
        want = scale(np.random.randn(dims[l], dims[l - 1]), dims[l - 1], dims[l]).astype(dtype)
        np.testing.assert_array_equal(got["W%d" % l], want)
        assert got["W%d" % l].dtype == dtype and not got["b%d" % l].any()
    assert all(_on_a_line(a) for a in got.values())


@pytest.mark.parametrize("dtype", DTYPES)
def test_the_models_and_estimators_draws_are_those_of_before(dtype):
    dims = [300, 20, 7, 1]
    course = _rng.initial_parameters(dims, "article", 3, dtype, None)
    for key, a in reference.initialize_parameters_deep(dims, init="article", seed=3, dtype=dtype).items():
        np.testing.assert_array_equal(course[key], a)
        assert course[key].dtype == a.dtype and _on_a_line(course[key])
    seeded = _rng.initial_parameters(dims, "he", None, dtype, np.random.RandomState(7))
    rs = np.random.RandomState(7)
    for l in range(1, len(dims)):
        want = (rs.randn(dims[l], dims[l - 1]) * np.sqrt(2.0 / dims[l - 1])).astype(dtype)
        np.testing.assert_array_equal(seeded["W%d" % l], want)
    for init in ("glorot_uniform", "glorot", "he", "xavier"):
        drawn = estimators.initial_parameters(dims, init, np.random.RandomState(9), dtype)
        rs = np.random.RandomState(9)
        for l in range(1, len(dims)):
            n_prev, n = dims[l - 1], dims[l]
            if init == "glorot_uniform":
                bound = np.sqrt(6.0 / (n_prev + n))
                W, b = rs.uniform(-bound, bound, (n, n_prev)), rs.uniform(-bound, bound, (n, 1))
            else:
                scale = {"glorot": np.sqrt(2.0 / (n_prev + n)), "he": np.sqrt(2.0 / n_prev),
                         "xavier": np.sqrt(1.0 / n_prev)}[init]
                W = rs.standard_normal((n, n_prev)) * scale
                b = np.zeros((n, 1))
            np.testing.assert_array_equal(drawn["W%d" % l], W.astype(dtype))
            np.testing.assert_array_equal(drawn["b%d" % l], b.astype(dtype))
            assert drawn["W%d" % l].dtype == dtype and _on_a_line(drawn["W%d" % l])


def _at(a, offset):
    """A copy of ``a`` whose data start ``offset`` bytes past a cache line."""
    a = np.ascontiguousarray(a)
    raw = _lines.empty(a.nbytes + offset, np.uint8)
    out = raw[offset:offset + a.nbytes].view(a.dtype).reshape(a.shape)
    out[...] = a
    assert out.ctypes.data % 64 == offset
    return out


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dims, wide", [([600, 20, 7, 1], True), ([600, 20, 7, 1], False), ([90, 13, 4], "auto")])
def test_the_loop_gives_the_same_bits_wherever_its_arrays_start(dtype, dims, wide):
    rng = np.random.default_rng(1)
    m = 150
    X = rng.random((m, dims[0])).astype(dtype)
    Y = (rng.random((m, dims[-1])) < 0.5).astype(dtype) if dims[-1] == 1 else \
        np.eye(dims[-1], dtype=dtype)[rng.integers(0, dims[-1], m)]
    layers = [((rng.standard_normal((o, i)) * np.sqrt(2.0 / i)).astype(dtype), np.zeros((o, 1), dtype))
              for o, i in zip(dims[1:], dims)]
    orders = [rng.permutation(m).astype(np.int64) for _ in range(3)]
    results = []
    for offset in (0, 8, 16, 40):
        own = [(_at(W, offset), _at(b, offset)) for W, b in layers]
        zeros = lambda: [(_at(np.zeros_like(W), offset), _at(np.zeros_like(b), offset))  # noqa: E731
                         for W, b in layers]
        lp = _loop.Loop(own, _at(X, offset), _at(Y, offset), output="sigmoid" if dims[-1] == 1 else "softmax",
                        optimizer="adam", batch_size=32, v=zeros(), s=zeros(), lambd=1e-3, wide=wide)
        for t, order in enumerate(orders):
            lp.epoch(order, 1e-3, 5 * t, 5 * t)
        results.append([a.copy() for pair in own for a in pair])
    for got in results[1:]:
        for a, b in zip(results[0], got):
            np.testing.assert_array_equal(a, b)


def _off_the_line(offset, calls):
    """A copy of ``dnn._lines`` whose ``empty`` (which its ``zeros``, ``zeros_like`` and ``copy``
    call) starts every array ``offset`` bytes past a line (rounded down to its itemsize, which the
    compiled code requires); each allocation appends to ``calls``."""
    shim = types.ModuleType("dnn._lines_off_the_line")
    exec(compile(inspect.getsource(_lines), _lines.__file__, "exec"), shim.__dict__)

    def empty(shape, dtype=np.float64, order="C"):
        calls.append(shape)
        dtype = np.dtype(dtype)
        like = np.empty(shape, dtype)  # the shape, checked as NumPy checks it
        start = offset - offset % dtype.itemsize
        raw = _lines.empty(like.nbytes + start + _lines.LINE, np.uint8)
        out = raw[start:start + like.nbytes].view(dtype).reshape(like.shape, order=order)
        assert out.size == 0 or out.ctypes.data % _lines.LINE == start
        return out

    shim.empty = empty
    return shim


def _fits(dtype):
    """A few small fits through the entry points, every buffer and parameter allocated by dnn."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((40, 120)).astype(dtype)
    Y = (X[:1] * X[1:2] > 0).astype(dtype)
    Xw = rng.random((4200, 40)).astype(dtype)  # a wide first layer (4096 inputs or more)
    Yw = (Xw[:3].sum(0, keepdims=True) > 1.5).astype(dtype)
    Xs = rng.standard_normal((150, 30)).astype(dtype)
    ys = (Xs[:, 0] + Xs[:, 1] > 0).astype(int)
    out = [initializers.initialize_parameters_he([40, 17, 1], dtype=dtype),
           dnn.model(X, Y, [40, 17, 5, 1], "adam", num_epochs=3, mini_batch_size=48, print_cost=False, dtype=dtype,
                     keep_prob=0.85, lambd=0.01),
           dnn.model(Xw, Yw, [4200, 9, 1], "adam", num_epochs=2, mini_batch_size=16, print_cost=False, dtype=dtype),
           dnn.L_layer_model(X, Y, [40, 17, 5, 1], num_iterations=6, dtype=dtype)]
    for solver in ("adam", "sgd"):
        est = dnn.DNNClassifier(hidden_layer_sizes=(12, 5), solver=solver, max_iter=4, random_state=0, dtype=dtype)
        est.fit(Xs, ys, sample_weight=np.linspace(0.1, 2, 150))
        out.append(est.coefs_ + est.intercepts_ + [np.array(est.loss_curve_)])
    return [np.array(a, copy=True) for d in out for a in (d.values() if isinstance(d, dict) else d)]


@pytest.mark.filterwarnings("ignore:Stochastic Optimizer")
@pytest.mark.parametrize("dtype", DTYPES)
def test_no_bit_depends_on_where_dnn_puts_its_own_arrays(monkeypatch, dtype):
    """Every buffer and parameter dnn allocates (the loop's, the fits', the engine's copies, the
    optimizer state, the draws) moved 4 to 56 bytes off the line: the same bits."""
    modules = [_loop, _train, _engine, _rng, estimators, optimizers, course_model, initializers]
    results = {}
    for offset in (0, 8, 24, 56) if dtype == np.float64 else (0, 4, 12, 40):
        calls = {module.__name__: [] for module in modules}
        with monkeypatch.context() as patch:
            for module in modules:
                patch.setattr(module, "_lines", _off_the_line(offset, calls[module.__name__]))
            results[offset] = _fits(dtype)
        assert all(calls.values()), [name for name, c in calls.items() if not c]  # every module's took effect
    first = results.pop(0)
    for offset, got in results.items():
        assert len(got) == len(first)
        for a, b in zip(first, got):
            np.testing.assert_array_equal(a, b, err_msg="offset %d" % offset)

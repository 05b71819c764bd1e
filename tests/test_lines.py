"""Arrays on a cache line (``dnn._lines``): where dnn makes them, and that no number depends on it.

The buffers and parameters dnn allocates start on 64 bytes for speed only;
the second half checks the promise that goes with it: the mini-batch loop
gives the same bits whether its parameters, Adam's moments and X start on a
line or 8, 16 or 40 bytes past one (every kernel's lanes follow the index,
not the address). A kernel that aligned its loads by shifting its lanes
would fail it.
"""
import numpy as np
import pytest

import dnn
from dnn import _lines, _loop, initializers, optimizers

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


def test_zeros_like_keeps_shape_dtype_and_order():
    f = np.asfortranarray(np.ones((4, 6), np.float32))
    z = _lines.zeros_like(f)
    assert z.shape == (4, 6) and z.dtype == np.float32 and z.flags.f_contiguous and not z.any()
    assert _lines.zeros_like(np.ones((4, 6))).flags.c_contiguous
    assert _on_a_line(z)


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


def test_the_drawn_values_are_the_castings_of_before():
    """On a line, the initial weights are still the float64 draws cast as ``astype`` casts them."""
    np.random.seed(3)
    draw = np.random.randn(20, 300) * np.sqrt(2.0 / 300)
    he = initializers.initialize_parameters_he([300, 20, 1], dtype=np.float32)
    np.testing.assert_array_equal(he["W1"], draw.astype(np.float32))


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

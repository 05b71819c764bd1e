"""The compiled loop (``dnn._loop.Loop``) refuses what would make it read or write memory it must not,
or silently compute wrong numbers: arrays that share memory, arrays resized, moved or made read-only
between epochs, an ``order`` that is not a permutation; and two threads calling ``epoch`` on one Loop
run one after the other (the workspace is the Loop's), with the numbers of two epochs in a row.
"""
import threading

import numpy as np
import pytest

from dnn import _loop


def net(dims=(5, 8, 3), m=64, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((m, dims[0])).astype(dtype)
    Y = np.eye(dims[-1], dtype=dtype)[rng.integers(0, dims[-1], m)]
    layers = [((rng.standard_normal((dims[l], dims[l - 1])) * 0.3).astype(dtype), np.zeros((dims[l], 1), dtype))
              for l in range(1, len(dims))]
    zeros = lambda: [(np.zeros_like(W), np.zeros_like(b)) for W, b in layers]
    return X, Y, layers, zeros(), zeros()


def test_state_sharing_memory_is_refused():
    X, Y, layers, v, s = net()
    with pytest.raises(ValueError, match="share memory"):
        _loop.Loop(layers, X, Y, output="softmax", optimizer="adam", v=v, s=v)
    with pytest.raises(ValueError, match="[Wb]1 and v\\[0\\] \\([Wb]1's\\) share memory"):
        _loop.Loop(layers, X, Y, output="softmax", optimizer="adam", v=[layers[0], v[1]], s=s)
    with pytest.raises(ValueError, match="share memory"):  # one array for two layers' biases
        shared = np.zeros((8, 1))
        _loop.Loop([(layers[0][0], shared), (layers[1][0], shared[:3])], X, Y, output="softmax")


def test_data_sharing_memory_with_a_parameter_is_refused():
    X, Y, layers, v, s = net(dims=(5, 64, 3), m=64)
    W1 = X  # the data is the first layer's weights: each update would change the data under the loop
    with pytest.raises(ValueError, match="(X and W1|W1 and X) share memory; the loop updates W1"):
        _loop.Loop([(W1, layers[0][1]), layers[1]], X, Y, output="softmax")


def test_data_may_share_memory_with_data():
    X, Y, layers, v, s = net(dims=(4, 6, 4), m=16)
    _loop.Loop(layers, Y, Y, output="softmax").epoch(None, 0.1)  # read-only overlap is fine


@pytest.mark.parametrize("change", ["resize", "read_only", "grow"])
def test_arrays_changed_between_epochs_are_refused(change):
    X, Y, layers, v, s = net()
    loop = _loop.Loop(layers, X, Y, output="softmax", optimizer="adam", v=v, s=s, batch_size=16)
    loop.epoch(None, 0.01, 0, 0)
    target = {"resize": s[1][0], "read_only": layers[0][0], "grow": v[0][1]}[change]
    if change == "resize":
        target.resize((target.shape[0], 10_000), refcheck=False)  # frees the memory the loop points at
    elif change == "read_only":
        target.setflags(write=False)
    else:
        target.resize((1,), refcheck=False)  # shrinks it: the loop would write past its end
    before = [a.copy() for W, b in layers for a in (W, b)]
    with pytest.raises(ValueError, match="resized, moved or made read-only"):
        loop.epoch(None, 0.01, 4, 4)
    assert all(np.array_equal(a, c) for a, c in zip(before, [a for W, b in layers for a in (W, b)]))


@pytest.mark.parametrize("order, match", [
    (np.zeros(64, np.int64), "permutation .* 0 twice"),
    (np.r_[np.arange(63), 5].astype(np.int64), "5 twice"),
])
def test_order_that_repeats_an_example_is_refused(order, match):
    X, Y, layers, v, s = net()
    loop = _loop.Loop(layers, X, Y, output="softmax")
    with pytest.raises(ValueError, match=match):
        loop.epoch(order, 0.1)


def test_read_only_and_strided_orders_are_read():
    X, Y, layers, v, s = net()
    order = np.random.default_rng(3).permutation(64).astype(np.int64)
    results = []
    for o in (order, np.repeat(order, 2)[::2]):
        o = o.copy() if o.flags.c_contiguous else o
        o.setflags(write=False)
        params = [(W.copy(), b.copy()) for W, b in layers]
        loss, _, _ = _loop.Loop(params, X, Y, output="softmax", batch_size=10).epoch(o, 0.1)
        results.append((loss, params))
    assert results[0][0] == results[1][0]
    assert all(np.array_equal(a, b) for p, q in zip(results[0][1], results[1][1]) for a, b in zip(p, q))


def test_two_threads_on_one_loop_run_one_epoch_after_the_other():
    m, dims = 2000, (64, 128, 64, 3)
    X, Y, layers, v, s = net(dims, m)
    order = np.random.default_rng(2).permutation(m).astype(np.int64)
    serial = [(W.copy(), b.copy()) for W, b in layers]
    loop = _loop.Loop(serial, X, Y, output="softmax", batch_size=32)
    for _ in range(2):
        loop.epoch(order, 0.01, 0, 0)
    loop = _loop.Loop(layers, X, Y, output="softmax", batch_size=32)
    errors = []

    def run():
        try:
            loop.epoch(order, 0.01, 0, 0)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    for (W, b), (W2, b2) in zip(layers, serial):
        np.testing.assert_array_equal(W, W2)
        np.testing.assert_array_equal(b, b2)

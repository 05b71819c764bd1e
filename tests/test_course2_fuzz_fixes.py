"""Regressions of the second fuzzing round (the course's second part and the step functions).

Each test reproduces one finding of ``/work/fuzz_step`` and failed before its fix:
dropout shapes checked before anything is allocated, NumPy's global random state
seeded and drawn under ``dnn._rng.GLOBAL_RNG_LOCK``, ``predict`` for every output
kind, the dtype of the gradients with labels of another dtype, ``class_indices`` in
O(m) memory, ``ValueError`` where huge numbers raised ``OverflowError``, and
big-endian float32 kept float32.
"""
import sys
import threading
import tracemalloc

import numpy as np
import pytest

import dnn
from dnn import reference as R
from dnn._rng import GLOBAL_RNG_LOCK


# --------------------------------------------------------------------------
# 1. dropout shapes
# --------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(2**63, 2), (2**64 + 3, 1), (2**31, 3), (1, 2**31), (65536, 32768),
                                   (10**5000, 1)])
@pytest.mark.parametrize("draw", [lambda s: dnn.dropout_mask(s, 0.5),
                                  lambda s: dnn.dropout_uniform(s, seed=0, layer=1, iteration=0)],
                         ids=["dropout_mask", "dropout_uniform"])
def test_dropout_shape_too_large_is_a_value_error(draw, shape):
    # (2**63, 2) wrapped to an empty mask; (2**31, 3) allocated 16 GiB temporaries
    with pytest.raises(ValueError, match=r"shape must have at most 2\*\*31 - 1 elements"):
        draw(shape)


@pytest.mark.parametrize("shape, exc, match", [
    (range(2**64), ValueError, "shape must have at most 2\\*\\*63 - 1 entries"),
    ((0, 3), ValueError, r"shape\[0\] must be >= 1"),
    ((3, 2.0), TypeError, r"shape\[1\] must be an int"),
])
def test_dropout_bad_shapes(shape, exc, match):
    with pytest.raises(exc, match=match):
        dnn.dropout_mask(shape, 0.5)


@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (1, 300001), (300001, 2), (700, 1000)])
def test_dropout_blocks_give_the_reference_bits(shape):
    kw = dict(seed=12345, layer=3, iteration=2**40)
    np.testing.assert_array_equal(dnn.dropout_uniform(shape, **kw), R.dropout_uniform(shape, **kw))
    for dtype in (np.float32, np.float64):
        got, want = dnn.dropout_mask(shape, 0.3, dtype=dtype, **kw), R.dropout_mask(shape, 0.3, dtype=dtype, **kw)
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)


def test_dropout_mask_allocates_little_beside_its_result():
    shape = (1000, 1000)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        D = dnn.dropout_mask(shape, 0.5)
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    # before: three full-size 8-byte temporaries (uint64 draws, their scratch, float64 uniforms)
    assert peak < D.nbytes * 1.5, "peak %d bytes for a result of %d" % (peak, D.nbytes)


# --------------------------------------------------------------------------
# 2. NumPy's global random state under dnn._rng.GLOBAL_RNG_LOCK
# --------------------------------------------------------------------------

@pytest.fixture
def switch_often():
    """Hand the GIL over often, as a loaded machine would (the race shows up sooner)."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(old)


def _hammer(*calls):
    """Run each ``call`` in a loop on its own thread until the returned ``stop()``."""
    done = threading.Event()
    errors = []

    def loop(call):
        try:
            while not done.is_set():
                call()
        except BaseException as exc:  # pragma: no cover - reported by stop()
            errors.append(exc)

    threads = [threading.Thread(target=loop, args=(call,)) for call in calls]
    for t in threads:
        t.start()

    def stop():
        done.set()
        for t in threads:
            t.join()
        assert not errors, errors
    return stop


def test_seeded_calls_on_two_threads_give_the_reference_bits(switch_often):
    dims = [60] + [8] * 12 + [1]   # many draws: a wide window between the seed and the last
    X = np.arange(3 * 500, dtype=np.float64).reshape(3, 500)
    Y = (np.arange(500) % 2).reshape(1, 500)
    want_he = R.initialize_parameters_he(dims, seed=3)
    want_xavier = R.initialize_parameters_xavier(dims, seed=11)
    want_batches = R.random_mini_batches(X, Y, 64, seed=5)
    fit = lambda: dnn.model(X / 1500, Y, [3, 4, 1], "gd", 0.1, 16, num_epochs=4, print_cost=False)  # noqa: E731
    want_fit = fit()   # dnn.model's shuffles are the course's seeds 11 + i: its bits alone
    stop = _hammer(lambda: dnn.initialize_parameters_xavier([50, 40, 30, 1], seed=7),
                   lambda: dnn.random_mini_batches(X, Y, 100, seed=9))
    bad = []
    try:
        for _ in range(100):
            got = dnn.initialize_parameters_he(dims, seed=3)
            bad += [k for k in want_he if not np.array_equal(got[k], want_he[k])]
            got = dnn.initialize_parameters_xavier(dims, seed=11)
            bad += [k for k in want_xavier if not np.array_equal(got[k], want_xavier[k])]
            got = dnn.random_mini_batches(X, Y, 64, seed=5)
            bad += ["batches" for (gx, gy), (wx, wy) in zip(got, want_batches)
                    if not (np.array_equal(gx, wx) and np.array_equal(gy, wy))]
        for _ in range(10):
            got = fit()
            bad += ["model " + k for k in want_fit if not np.array_equal(got[k], want_fit[k])]
    finally:
        stop()
    assert not bad, bad


def test_every_second_part_seeding_function_holds_the_lock_from_its_seed_to_its_last_draw(monkeypatch):
    """The race above shows up in some runs only; this asks, at every seed and draw, whether
    another thread could take ``GLOBAL_RNG_LOCK`` then."""
    free = []

    def asked(real):
        def call(*args, **kwargs):
            got = []
            other = threading.Thread(target=lambda: got.append(GLOBAL_RNG_LOCK.acquire(blocking=False)))
            other.start()
            other.join()
            if got[0]:
                GLOBAL_RNG_LOCK.release()
            free.append((real.__name__, got[0]))
            return real(*args, **kwargs)
        return call

    for name in ("seed", "randn", "permutation"):
        monkeypatch.setattr(np.random, name, asked(getattr(np.random, name)))
    X, Y = np.ones((4, 6)), np.array([[0, 1, 0, 1, 1, 0]])
    for init in (dnn.initialize_parameters_random, dnn.initialize_parameters_he, dnn.initialize_parameters_xavier,
                 dnn.initialize_parameters_glorot):
        init([4, 3, 1])
    dnn.random_mini_batches(X, Y, 4)
    dnn.model(X, Y, [4, 3, 1], "gd", num_epochs=2, print_cost=False)
    dnn.model(X, Y, [4, 3, 1], "adam", num_epochs=2, print_cost=False, init="glorot", seed=4)
    assert {name for name, _ in free} == {"seed", "randn", "permutation"}
    assert len(free) >= 25 and not [call for call in free if call[1]], free


# --------------------------------------------------------------------------
# 3. predict for every output kind and number of output units
# --------------------------------------------------------------------------

def _net(dims, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    p = {}
    for l in range(1, len(dims)):
        p["W%d" % l] = (rng.standard_normal((dims[l], dims[l - 1])) * 0.7).astype(dtype)
        p["b%d" % l] = (rng.standard_normal((dims[l], 1)) * 0.1).astype(dtype)
    return p


def _printed(capsys, f, *args, **kw):
    capsys.readouterr()
    p = f(*args, **kw)
    text, value = capsys.readouterr().out.strip().split(": ")
    return p, text, float(value)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("output, K", [("identity", 1), ("identity", 2), ("identity", 3), (None, 1),
                                       ("sigmoid", 1), (None, 2), ("softmax", 3)])
def test_predict_agrees_with_the_reference(capsys, dtype, output, K):
    P = _net((4, 5, K), dtype)
    rng = np.random.default_rng(1)
    X = rng.standard_normal((4, 9)).astype(dtype)
    if output == "identity":
        y = rng.standard_normal((K, 9))
    else:
        y = rng.integers(0, max(K, 2), (1, 9))
    p, text, value = _printed(capsys, dnn.predict, X, y, P, output=output)
    p_ref, text_ref, value_ref = _printed(capsys, R.predict, X, y, P, output=output)
    assert (p.dtype, p.shape, text) == (p_ref.dtype, p_ref.shape, text_ref)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(p, p_ref, rtol=rtol)
    assert value == pytest.approx(value_ref, rel=rtol)


def test_predict_identity_gives_the_outputs_and_their_squared_error(capsys):
    """Was: one identity output unit predicted all zeros (the argmax of one row) with accuracy 1.0,
    whatever the labels; the reference thresholded it at 0.5."""
    P = _net((2, 3, 1))
    P["b2"] = np.full((1, 1), 0.6)
    X = np.random.default_rng(0).standard_normal((2, 6))
    y = np.array([[1., 0, 1, 1, 0, 1]])
    AL = R.L_model_forward(X, P, output="identity")[0]
    for predict in (dnn.predict, dnn.network.predict, R.predict):
        p, text, value = _printed(capsys, predict, X, y, P, output="identity")
        assert text == "Mean squared error" and p.dtype == np.float64 and p.shape == (1, 6)
        np.testing.assert_allclose(p, AL, rtol=1e-12)
        assert value == pytest.approx(np.mean((AL - y) ** 2), rel=1e-12)


# --------------------------------------------------------------------------
# 4. L_model_backward's dtype with labels of another dtype
# --------------------------------------------------------------------------

BACKWARDS = {
    "compiled": lambda AL, Y, c: dnn.L_model_backward(AL, Y, c),
    "checked": lambda AL, Y, c: dnn.L_model_backward(np.repeat(AL, 2, axis=1)[:, ::2], Y, c),  # not contiguous
    "keywords": lambda AL, Y, c: dnn.L_model_backward(AL, Y, c, lambd=0.0, output="sigmoid"),
    "network": lambda AL, Y, c: dnn.network.L_model_backward(AL, Y, c),
}


@pytest.mark.parametrize("path", BACKWARDS)
@pytest.mark.parametrize("net_dtype, y_dtype", [(np.float32, np.float64), (np.float32, np.float32),
                                                (np.float32, np.int64), (np.float32, np.int32),
                                                (np.float32, bool), (np.float64, np.float32),
                                                (np.float64, np.int64)])
def test_backward_dtype_follows_the_labels_as_the_reference_and_compute_cost(path, net_dtype, y_dtype):
    """Was: float32 AL and caches with float64 (or int64) labels gave float32 gradients, the
    reference and compute_cost float64."""
    P = _net((5, 4, 3, 1), net_dtype)
    X = np.random.default_rng(1).standard_normal((5, 7)).astype(net_dtype)
    Y = np.array([[0, 1, 1, 0, 1, 0, 1]]).astype(y_dtype)
    AL, caches = R.L_model_forward(X, P)
    ref = R.L_model_backward(AL, Y, caches)
    grads = BACKWARDS[path](AL, Y, caches)
    want = ref["dW1"].dtype
    assert want == dnn.compute_cost(AL, Y).dtype
    rtol = 1e-4 if want == np.float32 else 1e-6   # the reference's sigmoid of a float32 Z is float32
    for k in ("dW1", "db1", "dW2", "db2", "dW3", "db3", "dA1", "dA2"):
        assert grads[k].dtype == want, (k, grads[k].dtype, want)
        np.testing.assert_allclose(grads[k], ref[k], rtol=rtol, atol=rtol * np.abs(ref[k]).max(), err_msg=k)


@pytest.mark.parametrize("y_dtype", [np.int8, np.uint8, np.float16])
def test_backward_with_small_labels_computes_in_float64_as_compute_cost(y_dtype):
    """NumPy would promote these with float32 to float32 (the reference does); dnn's contract,
    compute_cost's too, is float32 only when every input is float32."""
    P = _net((5, 3, 1), np.float32)
    X = np.random.default_rng(1).standard_normal((5, 7)).astype(np.float32)
    Y = np.array([[0, 1, 1, 0, 1, 0, 1]]).astype(y_dtype)
    AL, caches = dnn.L_model_forward(X, P)
    assert dnn.compute_cost(AL, Y).dtype == np.float64
    for backward in BACKWARDS.values():
        assert backward(AL, Y, caches)["dW1"].dtype == np.float64


# --------------------------------------------------------------------------
# 5. class_indices in O(m) memory
# --------------------------------------------------------------------------

def test_class_indices_of_indices_does_not_build_a_one_hot():
    """Was: a (K, m) one-hot, then its argmax (K = 10**8: 2.4 GB for 3 labels)."""
    Y = np.array([[0, 9_999_999, 1]])
    tracemalloc.start()
    try:
        got = dnn.class_indices(Y, 10**7)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**16, peak
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, R.class_indices(Y, 10**7))


@pytest.mark.parametrize("Y, K", [([[0, 2, 1]], 3), ([0, 1, 1], 2), (np.array([[0., 1., 1.]]), 2),
                                  (np.eye(3)[[0, 2, 1]].T, 3), (np.eye(2)[[1, 0, 1]].T.astype(np.float32), 2)])
def test_class_indices_agree_with_the_reference(Y, K):
    got = dnn.class_indices(Y, K)
    assert got.dtype == np.int64 and got.shape == (1, 3)
    np.testing.assert_array_equal(got, R.class_indices(Y, K))


@pytest.mark.parametrize("Y, K, match", [([[0, 3, 1]], 3, r"class indices 0..2, got also \[3.0\]"),
                                         ([[0, 0.5]], 10**6, "class indices"),
                                         ([[-1, 0]], 2, "class indices"),
                                         (np.ones((3, 2)), 3, "must be one-hot")])
def test_class_indices_checks_the_indices_against_K(Y, K, match):
    with pytest.raises(ValueError, match=match):
        dnn.class_indices(Y, K)


# --------------------------------------------------------------------------
# 6. ValueError where huge numbers and sequences raised OverflowError
# --------------------------------------------------------------------------

_P = _net((3, 2, 1))
_X = np.random.default_rng(0).standard_normal((3, 4))
_Y = np.array([[0, 1, 1, 0]])
_G = {"d" + k: np.ones_like(a) for k, a in _P.items()}
_HUGE = range(2**64)   # len() raises OverflowError; np.asarray takes it for one object


@pytest.mark.parametrize("call, match", [
    (lambda: dnn.update_lr(0.1, 10**400, 0.5), "epoch_num must be <= 9223372036854775807"),
    (lambda: dnn.L_layer_model(_X, _Y, [3, 2, 1], num_iterations=2**64), "num_iterations must be <="),
    (lambda: dnn.two_layer_model(_X, _Y, (3, 2, 1), num_iterations=2**64), "num_iterations must be <="),
    (lambda: dnn.L_layer_model(_X, _Y, [3, 2, 1], num_iterations=2**64, lambd=0.1), "num_iterations must be <="),
    (lambda: dnn.model(_X, _Y, [3, 2, 1], "gd", num_epochs=2**64), "num_epochs must be <="),
    (lambda: dnn.schedule_lr_decay(0.1, 10**400, 0.5), "epoch_num must be <= 9223372036854775807"),
    (lambda: dnn.schedule_lr_decay(0.1, 2**63, 0.5, time_interval=10**400), "epoch_num must be <="),
    (lambda: dnn.update_parameters_with_adam(dict(_P), _G, *dnn.initialize_adam(_P), 10**400), "t must be <="),
    (lambda: dnn.labels_one_hot([0, 1], 10**400), "K must be at most 2\\*\\*31 - 1"),
    (lambda: dnn.labels_one_hot([0, 1], 2**31 - 1), r"K \* m must be at most 2\*\*31 - 1"),
    (lambda: dnn.class_indices(np.array([[0, 1]]), 10**400), "K must be at most 2\\*\\*31 - 1"),
    (lambda: dnn.L_model_forward(_X, _P, keep_prob=_HUGE), "keep_prob must have at most 2\\*\\*63 - 1 entries"),
    (lambda: dnn.network.L_model_forward(_X, _P, keep_prob=_HUGE), "keep_prob must have at most"),
    (lambda: dnn.model(_X, _Y, [3, 2, 1], "gd", keep_prob=_HUGE, num_epochs=1), "keep_prob must have at most"),
    (lambda: dnn.L_model_forward(_X, dict(_P, W2=_HUGE)), r"parameters\['W2'\] must have at most 2\*\*63 - 1"),
    (lambda: dnn.predict(_X, _Y, dict(_P, W2=_HUGE)), r"parameters\['W2'\] must have at most"),
    (lambda: dnn.L_model_backward(_HUGE, _Y, dnn.L_model_forward(_X, _P)[1]), "AL must have at most"),
    (lambda: dnn.L_model_backward(dnn.L_model_forward(_X, _P)[0], _HUGE, dnn.L_model_forward(_X, _P)[1]),
     "Y must have at most"),
    (lambda: dnn.compute_cost(_HUGE, _Y), "AL must have at most"),
    (lambda: dnn.dropout_mask((2, 2), 0.5, seed=10**5000), "seed must be below 2\\*\\*64, got a number of about"),
    (lambda: dnn.L_model_forward(_X, dict(_P, **{"W" + "1" * 5000: np.ones((1, 1))})),
     r"parameters has a key 'W1111111111111111111'\.\.\. of 5000 digits: not a layer number"),
    (lambda: dnn.update_parameters(dict(_P, **{"b" + "2" * 5000: 0}), _G, 0.1), "of 5000 digits"),
])
def test_huge_numbers_and_sequences_are_value_errors_naming_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_counters_up_to_int64_are_taken():
    assert dnn.update_lr(0.1, 2**63 - 1, 0.5) == pytest.approx(0.1 / (1 + 0.5 * (2**63 - 1)))
    assert dnn.schedule_lr_decay(0.1, 2**63 - 1, 0.5, 10**400) == 0.1
    params, *_ = dnn.update_parameters_with_adam(dict(_P), _G, *dnn.initialize_adam(_P), 2**63 - 1)
    assert np.all(np.isfinite(params["W1"]))


# --------------------------------------------------------------------------
# 7. big-endian float32 is float32
# --------------------------------------------------------------------------

def _big_endian(x):
    return x.astype(x.dtype.newbyteorder(">"))


_P32 = {k: a.astype(np.float32) for k, a in _net((4, 3, 1)).items()}
_X32 = np.random.default_rng(2).standard_normal((4, 6)).astype(np.float32)
_Y32 = np.array([[0, 1, 1, 0, 1, 0]], dtype=np.float32)
_G32 = {"d" + k: np.full_like(a, 0.5) for k, a in _P32.items()}

BIG_ENDIAN_CALLS = {
    "sigmoid": lambda X, Y, P, G: dnn.sigmoid(X)[0],
    "relu_backward": lambda X, Y, P, G: dnn.relu_backward(X, X),
    "tanh": lambda X, Y, P, G: dnn.tanh(X)[0],
    "softmax": lambda X, Y, P, G: dnn.softmax(X)[0],
    "linear_forward": lambda X, Y, P, G: dnn.linear_forward(X, P["W1"], P["b1"])[0],
    "L_model_forward": lambda X, Y, P, G: dnn.L_model_forward(X, P)[0],
    "compute_cost": lambda X, Y, P, G: dnn.compute_cost(dnn.L_model_forward(X, P)[0], Y),
    "L_model_backward": lambda X, Y, P, G: dnn.L_model_backward(*dnn.L_model_forward(X, P)[:1], Y,
                                                                dnn.L_model_forward(X, P)[1])["dW1"],
    "update_parameters": lambda X, Y, P, G: dnn.update_parameters(dict(P), G, 0.1)["W1"],
    "adam": lambda X, Y, P, G: dnn.update_parameters_with_adam(dict(P), G, *dnn.initialize_adam(P), 2)[0]["W1"],
    "random_mini_batches": lambda X, Y, P, G: dnn.random_mini_batches(X, Y, 4)[0][0],
    "compute_cost_with_regularization": lambda X, Y, P, G: dnn.compute_cost_with_regularization(
        dnn.L_model_forward(X, P)[0], Y, P, 0.1),
    "model": lambda X, Y, P, G: dnn.model(X, Y, [4, 3, 1], "adam", num_epochs=2, print_cost=False)["W1"],
    "flatten_images": lambda X, Y, P, G: dnn.flatten_images(X.reshape(2, 3, 2, 2)),
    "L_layer_model": lambda X, Y, P, G: dnn.L_layer_model(X, Y, [4, 3, 1], num_iterations=2)["W1"],
}


@pytest.mark.parametrize("name", BIG_ENDIAN_CALLS)
def test_big_endian_float32_computes_in_float32(name):
    """Was: '>f4' compared unequal to np.float32, so it was computed (and returned) in float64."""
    call = BIG_ENDIAN_CALLS[name]
    want = call(_X32, _Y32, _P32, _G32)
    got = call(_big_endian(_X32), _big_endian(_Y32), {k: _big_endian(a) for k, a in _P32.items()},
               {k: _big_endian(a) for k, a in _G32.items()})
    assert got.dtype == np.float32 and got.dtype.isnative, got.dtype
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("make", [
    lambda dt: dnn.dropout_mask((2, 3), 0.5, dtype=dt),
    lambda dt: dnn.initialize_parameters_he([3, 2, 1], dtype=dt)["W1"],
    lambda dt: dnn.initialize_parameters_deep([3, 2, 1], dtype=dt)["W1"],
    lambda dt: dnn.flatten_images(np.ones((2, 2, 2, 3), np.uint8), dtype=dt),
], ids=["dropout_mask", "initialize_parameters_he", "initialize_parameters_deep", "flatten_images"])
@pytest.mark.parametrize("dtype", [">f4", ">f8"])
def test_a_big_endian_dtype_argument_is_its_native_twin(make, dtype):
    got = make(np.dtype(dtype))
    assert got.dtype == np.dtype(dtype).newbyteorder("=")
    np.testing.assert_array_equal(got, make(np.dtype(dtype).newbyteorder("=")))


def test_the_reference_keeps_big_endian_float32_state_float32():
    P = {k: _big_endian(a) for k, a in _P32.items()}
    v, s = R.initialize_adam(P)
    assert all(a.dtype.type is np.float32 for a in (*v.values(), *s.values()))

"""The compiled fast path of L_model_forward, L_model_backward, compute_cost
and update_parameters (``dnn._kernels.forward`` ...): it checks dtypes, shapes
and contiguity in C and reads finiteness from its results, so these tests put
nan and inf in every input array, at places where a result could hide them
(under relu's mask, in a sigmoid that saturates, behind weights of 0, in a
bias that only b's own test sees), and check the error names the argument.
They also check the outputs are new arrays, never an input's or a previous
call's memory, and that finite inputs whose arithmetic overflows give what the
course's code gives rather than an error.
"""

import numpy as np
import pytest

import dnn
from dnn import reference

DTYPES = [np.float64, np.float32]
DIMS = [6, 5, 4, 1]
M = 9


def net(dtype, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((DIMS[0], M)).astype(dtype)
    Y = (rng.random((1, M)) > 0.5).astype(dtype)
    p = {}
    for l in range(1, len(DIMS)):
        p["W%d" % l] = rng.standard_normal((DIMS[l], DIMS[l - 1])).astype(dtype)
        p["b%d" % l] = rng.standard_normal((DIMS[l], 1)).astype(dtype)
    return X, Y, p


BAD = [np.nan, np.inf, -np.inf]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bad", BAD)
def test_forward_refuses_nonfinite_everywhere(dtype, bad):
    X, _, p = net(dtype)
    for name in ["X"] + sorted(p):
        arr = X if name == "X" else p[name]
        for idx in [(0, 0), (arr.shape[0] - 1, arr.shape[1] - 1)]:
            X2, p2 = X.copy(), {k: v.copy() for k, v in p.items()}
            (X2 if name == "X" else p2[name])[idx] = bad
            with pytest.raises(ValueError, match=name if name == "X" else "parameters\\['%s'\\]" % name):
                dnn.L_model_forward(X2, p2)


@pytest.mark.parametrize("dtype", DTYPES)
def test_forward_refuses_nan_behind_dead_relu_and_zero_weights(dtype):
    X, _, p = net(dtype)
    p["b1"][:] = -1e3  # every unit of layer 1 is 0 after relu
    p["W2"][0, 0] = np.nan  # multiplies only zeros
    with pytest.raises(ValueError, match="W2"):
        dnn.L_model_forward(X, p)
    X, _, p = net(dtype)
    p["W1"][:, 0] = 0  # X's first feature multiplies only zeros
    X[0, 3] = np.inf
    with pytest.raises(ValueError, match="X"):
        dnn.L_model_forward(X, p)


def caches_of(dtype):
    X, Y, p = net(dtype)
    AL, caches = reference.L_model_forward(X, p)
    return AL.astype(dtype), Y, [tuple((tuple(a.copy() for a in lin), z.copy())) for lin, z in caches]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bad", BAD)
def test_backward_refuses_nonfinite_everywhere(dtype, bad):
    AL, Y, caches = caches_of(dtype)
    names = ["A_prev", "W", "b", "Z"]
    for l in range(len(caches)):
        for i, what in enumerate(names):
            AL2, Y2, c2 = caches_of(dtype)
            arr = c2[l][0][i] if i < 3 else c2[l][1]
            arr[-1, -1] = bad
            with pytest.raises(ValueError, match=r"caches\[%d\] %s" % (l, what)):
                dnn.L_model_backward(AL2, Y2, c2)
    AL2 = AL.copy()
    AL2[0, 1] = bad
    with pytest.raises(ValueError, match="AL"):
        dnn.L_model_backward(AL2, Y, caches)


@pytest.mark.parametrize("dtype", DTYPES)
def test_backward_refuses_inf_in_a_saturated_sigmoid_and_under_relu(dtype):
    for l, value in [(len(DIMS) - 2, np.inf), (len(DIMS) - 2, -np.inf), (0, -np.inf), (1, np.nan)]:
        AL, Y, caches = caches_of(dtype)
        caches[l][1][0, 0] = value  # dZ would be exactly 0 there: no result shows it
        with pytest.raises(ValueError, match=r"caches\[%d\] Z" % l):
            dnn.L_model_backward(AL, Y, caches)


@pytest.mark.parametrize("dtype", DTYPES)
def test_backward_takes_any_finite_AL_but_not_a_division_by_zero(dtype):
    AL, Y, caches = caches_of(dtype)
    AL2 = (AL * 3 - 1.5).astype(dtype)  # outside (0, 1), like the course's randn test case
    got = dnn.L_model_backward(AL2, Y, caches)
    want = reference.L_model_backward(AL2.astype(np.float64), Y.astype(np.float64),
                                      [((a.astype(np.float64), w.astype(np.float64), b.astype(np.float64)),
                                        z.astype(np.float64)) for (a, w, b), z in caches])
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-4 if dtype == np.float32 else 1e-10,
                                   atol=1e-5 if dtype == np.float32 else 1e-12)
    for value in (0.0, 1.0):
        AL3 = AL.copy()
        AL3[0, 2] = value
        with pytest.raises(ValueError, match="AL"):
            dnn.L_model_backward(AL3, Y, caches)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bad", BAD)
def test_update_and_cost_refuse_nonfinite(dtype, bad):
    _, Y, p = net(dtype)
    grads = {"d" + k: np.ones_like(v) for k, v in p.items()}
    for key in p:
        p2 = {k: v.copy() for k, v in p.items()}
        p2[key][0, 0] = bad
        with pytest.raises(ValueError, match=key):
            dnn.update_parameters(p2, grads, 0.1)
        g2 = {k: v.copy() for k, v in grads.items()}
        g2["d" + key][-1, -1] = bad
        with pytest.raises(ValueError, match="d" + key):
            dnn.update_parameters(dict(p), g2, 0.1)
    with pytest.raises(ValueError, match="learning_rate"):
        dnn.update_parameters(dict(p), grads, bad)
    AL = np.full((1, M), 0.5, dtype)
    AL[0, 4] = bad
    with pytest.raises(ValueError, match="AL"):
        dnn.compute_cost(AL, Y)


@pytest.mark.parametrize("dtype", DTYPES)
def test_outputs_are_new_arrays_the_caller_owns(dtype):
    X, Y, p = net(dtype)
    inputs = [X, Y] + list(p.values())
    seen = []
    for _ in range(3):
        AL, caches = dnn.L_model_forward(X, p)
        cost = dnn.compute_cost(AL, Y)
        grads = dnn.L_model_backward(AL, Y, caches)
        new = dnn.update_parameters(dict(p), grads, 0.01)
        outs = [AL] + [z for _, z in caches] + list(grads.values()) + list(new.values())
        for o in outs:
            assert o.flags.owndata and o.flags.writeable
            assert not any(np.shares_memory(o, i) for i in inputs)
            assert not any(np.shares_memory(o, s) for s in seen)
        assert caches[0][0][0] is X and caches[0][0][1] is p["W1"]  # as the course: the very inputs
        assert np.ndim(cost) == 0
        seen += outs  # kept alive: a later call must not write into them
    snapshot = [s.copy() for s in seen]
    dnn.L_model_forward(X, p)
    assert all(np.array_equal(a, b) for a, b in zip(seen, snapshot))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.filterwarnings("ignore:overflow encountered in multiply:RuntimeWarning")  # NumPy's, as the course's
def test_finite_inputs_that_overflow_give_the_course_numbers(dtype):
    big = np.finfo(dtype).max / 4
    X, Y, p = net(dtype)
    p["W1"][:] = big
    X = np.abs(X) + 1
    AL, caches = dnn.L_model_forward(X, p)  # Z1 overflows to inf: no input was bad
    with np.errstate(all="ignore"):
        want, _ = reference.L_model_forward(X, p)
    np.testing.assert_array_equal(np.isnan(AL), np.isnan(want))  # relu keeps nan, as np.maximum
    p = net(dtype)[2]
    grads = {"d" + k: np.full_like(v, big) for k, v in p.items()}
    new = dnn.update_parameters(dict(p), grads, -8.0)
    assert np.isinf(new["W1"]).all()


@pytest.mark.parametrize("dtype", DTYPES)
def test_recycled_buffers_never_change_what_a_caller_still_holds(dtype):
    # results of 320 KB (float64) are recycled by dnn._kernels' pool once
    # nothing refers to them: held arrays, views of them and weakly referenced
    # ones must keep their values through later calls.
    rng = np.random.default_rng(1)
    m = 2000
    X = rng.standard_normal((50, m)).astype(dtype)
    Y = (rng.random((1, m)) > 0.5).astype(dtype)
    p = {"W1": (0.1 * rng.standard_normal((40, 50))).astype(dtype), "b1": np.zeros((40, 1), dtype),
         "W2": (0.1 * rng.standard_normal((1, 40))).astype(dtype), "b2": np.zeros((1, 1), dtype)}
    import weakref

    kept, views, weak, addresses = [], [], [], []
    for it in range(6):
        AL, caches = dnn.L_model_forward(X, p)
        addresses.append(caches[0][1].__array_interface__["data"][0])
        grads = dnn.L_model_backward(AL, Y, caches)
        p = dnn.update_parameters(dict(p), grads, 1e-3)
        if it == 1:
            kept = [(caches[0][1], caches[0][1].copy()), (grads["dA0"], grads["dA0"].copy())]
        if it == 2:
            views = [(caches[0][1][3:7], caches[0][1][3:7].copy())]
        if it == 3:
            ref = caches[0][1]
            weak = [(weakref.ref(ref), ref.copy())]
            del ref
        del AL, caches, grads
    assert len(set(addresses)) < len(addresses)  # buffers were recycled
    for a, copy in kept + views:
        np.testing.assert_array_equal(a, copy)
    for w, copy in weak:
        if w() is not None:
            np.testing.assert_array_equal(w(), copy)
    # and the recycled arrays give the same numbers as fresh ones
    AL, caches = dnn.L_model_forward(X, p)
    want, _ = reference.L_model_forward(X, p)
    np.testing.assert_allclose(AL, want, rtol=1e-4 if dtype == np.float32 else 1e-12)


@pytest.mark.parametrize("read_dA0", [False, True])
def test_the_pool_holds_two_iterations_of_a_large_loop(read_dA0):
    # The course's loop keeps one iteration's results while the next makes its
    # own. Here a backward call makes 51 MB (dA1, the dZ scratch that also keeps
    # its pending dA0's dZ1, dW1) and a read of its dA0 75 MB more. Read each
    # iteration, two iterations make 350 MB: more than the pool's first 256 MiB,
    # so it grows to four times the largest call. From the third iteration on
    # every large result is recycled (no fresh array, whose pages would fault in
    # again), dA0 read or not.
    from dnn import _kernels

    rng = np.random.default_rng(2)
    m = 12000
    X = rng.standard_normal((784, m))
    Y = (rng.random((1, m)) > 0.5).astype(np.float64)
    parameters = {"W1": 0.05 * rng.standard_normal((256, 784)), "b1": np.zeros((256, 1)),
                  "W2": 0.05 * rng.standard_normal((1, 256)), "b2": np.zeros((1, 1))}
    _kernels._pool_clear()
    try:
        held = []
        for it in range(5):
            AL, caches = dnn.L_model_forward(X, parameters)
            grads = dnn.L_model_backward(AL, Y, caches)
            if read_dA0:
                grads["dA0"]
            parameters = dnn.update_parameters(parameters, grads, 0.01)
            held.append(_kernels._pool_state()[0])
        cap = _kernels._pool_state()[1]
        largest = max((256 + 256) * m * 8 + 256 * 784 * 8, 784 * m * 8 if read_dA0 else 0)
        assert cap == max(_kernels.POOL_BYTES, min(_kernels.POOL_MAX_BYTES, 4 * largest))
        assert (cap > _kernels.POOL_BYTES) == read_dA0
        # from the third iteration on, no array is made: every large result is a recycled one
        assert held[2] == held[3] == held[4] > 4 * 256 * m * 8
        dnn.release_buffers()
        assert _kernels._pool_state() == (0, _kernels.POOL_BYTES)
    finally:
        _kernels._pool_clear()


# --------------------------------------------------------------------------
# Threads: a large layer's own-kernel products and elementwise passes are
# shared among as many threads as BLAS may use (dnn._kernels' team). The
# shares must give the bits of one thread, and every check must still see
# every element.
# --------------------------------------------------------------------------

from dnn import _kernels, _products  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402


def _loop_results(problem):
    """One iteration of the course's loop on ``problem`` (X, Y, parameters): every array it makes."""
    X, Y, p = problem
    AL, caches = dnn.L_model_forward(X, p)
    grads = dnn.L_model_backward(AL, Y, caches)
    new = dnn.update_parameters(dict(p), grads, 0.01)
    out = {"AL": AL, "cost": np.array(dnn.compute_cost(AL, Y))}
    out.update({"Z%d" % (l + 1): c[1] for l, c in enumerate(caches)})
    out.update({"A%d" % l: c[0][0] for l, c in enumerate(caches)})
    out.update(grads)
    out.update({"new " + k: v for k, v in new.items()})
    return {k: np.array(v, copy=True) for k, v in out.items()}, (X, Y, p)


# (dims, m): rows and columns shares (m < 32 and m < R: rows; else columns
# cut at multiples of 16, the last part ending at m: 33 gives a part of 17),
# fewer rows than threads, k < n, an A_prev read in many chunks by nt
# (dZ small: 8 x 40 examples, 3000 rows of A_prev in chunks of 204 or 408);
# first layers whose K (2000 to 3000 features) nn sums in chunks, with columns
# shared out (70) and fewer columns than a vector (6); rows of A_prev 32 KiB and more
# apart (8200 examples), which the AVX2 build's nn packs, as it packs the long K's.
THREAD_CASES = [([6, 5, 4, 1], 9), ([30, 20, 7, 1], 33), ([3000, 8, 3, 1], 40),
                ([16, 40, 2, 1], 200), ([64, 32, 16, 1], 97), ([5, 3, 1], 1),
                ([2000, 9, 1], 70), ([2500, 5, 1], 6), ([70, 9, 1], 8200)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dims,m", THREAD_CASES)
@pytest.mark.parametrize("rule", ["as is", "own all", "BLAS"])
def test_threads_give_the_bits_of_one_thread(dtype, dims, m, rule, step_threads, monkeypatch, random_network):
    own = _kernels.OWN_PRODUCTS
    rules = {"as is": _products.for_step,
             "own all": lambda n, k, mm, i: own["nn"] | own["nt"],
             "BLAS": lambda n, k, mm, i: 0}
    monkeypatch.setattr(_products, "for_step", rules[rule])
    step_threads(1)
    one, (X, Y, p) = _loop_results(random_network(dims, m, dtype))
    for threads in (2, 3, 5):
        step_threads(threads)
        many, _ = _loop_results(random_network(dims, m, dtype))
        assert sorted(many) == sorted(one)
        for k in one:
            assert np.array_equal(many[k], one[k]), (threads, k)
    # and the shares' numbers are the course's
    want_AL, want_caches = reference.L_model_forward(X, p)
    tol = dict(rtol=2e-4, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(one["AL"], want_AL, **tol)
    want = reference.L_model_backward(want_AL, Y, want_caches)
    for k, v in want.items():
        np.testing.assert_allclose(one[k], v, **tol)


@pytest.mark.parametrize("dtype", DTYPES)
def test_threads_still_find_every_nonfinite(dtype, step_threads):
    # every layer shared among 3 threads: the checks of each share see it
    step_threads(3)
    test_forward_refuses_nan_behind_dead_relu_and_zero_weights(dtype)
    for bad in BAD:
        test_forward_refuses_nonfinite_everywhere(dtype, bad)
        test_backward_refuses_nonfinite_everywhere(dtype, bad)
    test_backward_refuses_inf_in_a_saturated_sigmoid_and_under_relu(dtype)


def test_step_threads_follow_blas_limits(step_threads):
    from threadpoolctl import threadpool_limits

    step_threads(0, 1 << 22)
    _products.for_step(20, 12288, 209, 8)  # finds the BLAS libraries' thread counts
    with threadpool_limits(limits=1):
        assert _kernels._step_threads() == 1
    with threadpool_limits(limits=2):
        import os
        assert _kernels._step_threads() <= 2
        assert _kernels._step_threads() <= (os.cpu_count() or 1)


@pytest.mark.parametrize("dtype", DTYPES)
def test_timed_thread_choice_never_changes_the_numbers(dtype, step_threads, random_network):
    # threads follow BLAS (a counter that says 3), every layer large: the
    # first calls alternate pool / alone, later ones take the faster by
    # timing; each call gives the bits of one thread
    import ctypes

    step_threads(1)
    one, _ = _loop_results(random_network([30, 20, 7, 1], 33, dtype))
    three = ctypes.CFUNCTYPE(ctypes.c_int)(lambda: 3)
    _kernels._set_thread_counters([ctypes.cast(three, ctypes.c_void_p).value], 3)
    step_threads(0)
    try:
        assert _kernels._step_threads() == 3
        for _ in range(12):
            many, _ = _loop_results(random_network([30, 20, 7, 1], 33, dtype))
            for k in one:
                assert np.array_equal(many[k], one[k]), k
        kind = ord("d") if dtype == np.float64 else ord("f")
        seen = [v for k, v in _kernels._threads_choices().items() if k[1:4] == (kind, 33, 3)]
        # forward, backward and the pending dA0 (read by ``_loop_results``), each timed apart
        assert len(seen) == 3 and all(v[0] == 12 and v[1] > 0 and v[2] > 0 for v in seen)
    finally:
        _kernels._set_thread_counters([], 1)
        _products._counters_found = False  # found again at the next for_step


# BLAS products large enough to run in slabs on the pool (BLAS held at one
# thread, ``_kernels.gemm_part``): the result cut by columns (m >= rows) and by
# rows, dW cut by its rows (n >= k) and its columns; the slabs follow the
# shape and the machine alone (``slab_count``: at most the machine's CPUs, up to
# 4), whatever the threads; caps of 2, 3 and 4 whatever this machine's count. Every BLAS
# product of such a call runs on one BLAS thread, so the bits are those of
# BLAS limited to one thread by the user (OpenBLAS's two threads sum some of
# these shapes otherwise).
SLAB_CASES = [([300, 160, 64, 1], 700), ([64, 2000, 40, 1], 300)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dims,m", SLAB_CASES)
@pytest.mark.parametrize("slabs", [2, 3, 4])
def test_blas_slabs_give_the_bits_of_one_thread(dtype, dims, m, slabs, step_threads, monkeypatch,
                                                random_network):
    _products._find_thread_counters(_kernels)  # what for_step does first: BLAS's counts
    monkeypatch.setattr(_products, "for_step", lambda n, k, mm, i: 0)  # every product on BLAS
    _kernels._set_step_threads(0, max_slabs=slabs)  # restored by ``step_threads``
    with threadpool_limits(1):
        one, _ = _loop_results(random_network(dims, m, dtype))
    for threads in (1, 2, 3, 5):
        step_threads(threads)
        many, _ = _loop_results(random_network(dims, m, dtype))
        for k in one:
            assert np.array_equal(many[k], one[k]), (threads, k)


def test_slabs_are_at_most_the_machines_cpus(step_threads):
    # Each slab packs the operand it does not cut again (S4's dW1 packed its 20 MB dZ1 four
    # times at one thread on a 2-CPU machine: 139.9 ms an iteration against 133.6 with two
    # slabs, benchmarks/NOTES.md "Slabs per CPU"). Was: always up to 4 slabs. The machine's
    # count, not the affinity's: bits never follow ``taskset``.
    import os

    assert _kernels._step_settings()[5] == max(1, min(4, os.cpu_count() or 1))
    # S4's dW1 (cut along X's 784 rows) and W1 X (along its 10,000 columns): the cap decides
    for what, shape in (("nt", (256, 784, 10000)), ("nn", (256, 784, 10000))):
        for cap in (4, 3, 2, 1):
            _kernels._set_step_threads(0, max_slabs=cap)  # restored by ``step_threads``
            assert _kernels._slab_count(what, *shape) == cap, (what, cap)
    _kernels._set_step_threads(0, max_slabs=4)
    assert _kernels._slab_count("nt", 20, 12288, 209) == 4  # cut along the 12288 columns
    assert _kernels._slab_count("nn", 20, 12288, 209) == 2  # 209 columns: not 4 slabs 64 wide
    assert _kernels._slab_count("tn", 64, 128, 100) == 1    # small: whole

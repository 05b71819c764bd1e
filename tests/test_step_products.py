"""The step-by-step API's product backends (``dnn._products``, ``dnn._numpy_blas``).

Every backend a layer's products may run on (our kernels, SciPy's BLAS,
NumPy's BLAS, for each of the ``nn`` and ``nt`` groups) gives the course's
numbers; a product flagged for NumPy's BLAS really runs there (a recording
gemm stands in for it) and falls back to SciPy's, bit for bit, where NumPy's
gemm is not found; the per-machine choice is measured once, kept in the
wisdom file, and the same call then repeats its bits. Nothing here is timed.
"""

import ctypes
import itertools
import json

import numpy as np
import pytest

import dnn
from dnn import _kernels, _numpy_blas, _plan, _products, functional, reference

DTYPES = [np.float64, np.float32]
BACKENDS = list(itertools.product(_products.BACKENDS, repeat=2))
# (dims, m): rows and column shares, k < n and k > n, m of 1, a long first layer, one
# whose K nn sums in chunks
CASES = [([6, 5, 4, 1], 9), ([30, 70, 7, 1], 33), ([300, 8, 3, 1], 40), ([5, 3, 1], 1),
         ([2500, 7, 1], 45)]


def tol(dtype):
    return dict(rtol=2e-4, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)


def iteration(X, Y, p):
    """One iteration of the course's loop; every result, copied."""
    AL, caches = dnn.L_model_forward(X, p)
    grads = dnn.L_model_backward(AL, Y, caches)
    new = dnn.update_parameters(dict(p), grads, 0.01)
    out = {"AL": AL, "cost": np.array(dnn.compute_cost(AL, Y))}
    out.update(grads)
    out.update({"new " + k: v for k, v in new.items()})
    return {k: np.array(v, copy=True) for k, v in out.items()}


@pytest.fixture
def backend(monkeypatch):
    """Run every layer's products on the backends given (a rule that replaces ``for_step``)."""
    _products.step_threads()  # NumPy's gemm found and set, as at a first call

    def use(nn, nt):
        own = _products.StepProducts(nn, nt).own()
        monkeypatch.setattr(_products, "for_step", lambda n, k, m, i: own)
    yield use
    functional._OWN_MEMO.clear()


@pytest.fixture
def numpy_gemm():
    """Set NumPy's gemm to ``(dgemm, sgemm, ilp64)`` or None for a test; restored after."""
    _products.step_threads()
    found = _numpy_blas.gemm_addresses()

    def use(addresses):
        _kernels._set_numpy_gemm(*(addresses or (0, 0, False)))
    yield use
    use(found)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dims,m", CASES)
@pytest.mark.parametrize("nn,nt", BACKENDS)
def test_every_backend_gives_the_course_numbers(dtype, dims, m, nn, nt, backend, random_network):
    backend(nn, nt)
    X, Y, p = random_network(dims, m, dtype)
    got = iteration(X, Y, p)
    want_AL, caches = reference.L_model_forward(X, p)
    np.testing.assert_allclose(got["AL"], want_AL, **tol(dtype))
    for k, v in reference.L_model_backward(want_AL, Y, caches).items():
        np.testing.assert_allclose(got[k], v, **tol(dtype), err_msg=k)
    again = iteration(X, Y, p)
    for k in got:  # the same call, the same bits
        assert np.array_equal(again[k], got[k]), k


@pytest.mark.parametrize("dtype", DTYPES)
def test_the_layer_functions_take_every_backend(dtype, backend, random_network):
    X, _, p = random_network([30, 70, 1], 33, dtype)
    W, b = p["W1"], p["b1"]
    dZ = np.random.default_rng(1).standard_normal((70, 33)).astype(dtype)
    for nn, nt in BACKENDS:
        backend(nn, nt)
        Z, _ = dnn.linear_forward(X, W, b)
        np.testing.assert_allclose(Z, reference.linear_forward(X, W, b)[0], **tol(dtype))
        got = dnn.linear_backward(dZ, (X, W, b))
        for g, w in zip(got, reference.linear_backward(dZ, (X, W, b))):
            np.testing.assert_allclose(g, w, **tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_numpy_flagged_products_run_on_numpy_blas_else_scipy_bit_for_bit(dtype, backend, numpy_gemm,
                                                                         random_network, recording_gemm):
    found = _numpy_blas.gemm_addresses()
    if found is None:
        pytest.skip("NumPy's BLAS exports no cblas gemm dnn knows (another BLAS)")
    calls = []
    numpy_gemm(recording_gemm(found, calls))
    dims, m = [30, 70, 7, 1], 33
    X, Y, p = random_network(dims, m, dtype)
    backend("numpy", "numpy")
    on_numpy = iteration(X, Y, p)
    # each layer: W H, W^T dZ and dZ H^T, as (M, N, K) of row-major cblas
    L = len(dims) - 1
    assert len(calls) == 3 * L
    assert (dims[1], m, dims[0]) in calls and (dims[1], dims[0], m) in calls
    calls.clear()
    backend("numpy", "scipy")  # nt on SciPy's: NumPy's gemm only for nn
    iteration(X, Y, p)
    assert sorted(calls) == sorted([(dims[l + 1], m, dims[l]) for l in range(L)]
                                   + [(dims[l], m, dims[l + 1]) for l in range(L)])
    # NumPy's gemm not found: the flagged products run on SciPy's, bit for bit
    numpy_gemm(None)
    assert not _kernels._numpy_gemm_set()
    calls.clear()
    backend("numpy", "numpy")
    fallback = iteration(X, Y, p)
    backend("scipy", "scipy")
    scipy = iteration(X, Y, p)
    assert not calls
    for k in scipy:
        assert np.array_equal(fallback[k], scipy[k]), k
        np.testing.assert_allclose(on_numpy[k], scipy[k], **tol(dtype), err_msg=k)


class _Lib:
    def __init__(self, path, **symbols):
        self.filepath = path
        self.dynlib = type("Dyn", (), symbols)()


def test_lookup_takes_numpy_folders_and_known_symbols_only():
    sym = ctypes.CFUNCTYPE(None)(lambda: None)
    addr = ctypes.cast(sym, ctypes.c_void_p).value
    numpy_dirs = ["/np/numpy/", "/np/numpy.libs/"]
    ilp64 = _Lib("/np/numpy.libs/libopenblas.so", scipy_cblas_dgemm64_=sym, scipy_cblas_sgemm64_=sym)
    lp64 = _Lib("/np/numpy/.libs/libblas.so", scipy_cblas_dgemm=sym, scipy_cblas_sgemm=sym)
    scipys = _Lib("/np/scipy.libs/libopenblas.so", scipy_cblas_dgemm64_=sym, scipy_cblas_sgemm64_=sym)
    half = _Lib("/np/numpy.libs/libhalf.so", scipy_cblas_dgemm64_=sym)  # no sgemm: not taken
    other = _Lib("/np/numpy.libs/libmkl.so", cblas_dgemm=sym, cblas_sgemm=sym)  # unknown names
    assert _numpy_blas._lookup([scipys, half, other], numpy_dirs) == (None, None)
    assert _numpy_blas._lookup([scipys, ilp64], numpy_dirs) == ((addr, addr, True), ilp64.filepath)
    assert _numpy_blas._lookup([lp64], numpy_dirs) == ((addr, addr, False), lp64.filepath)
    assert _numpy_blas._lookup([], numpy_dirs) == (None, None)


def test_lookup_refuses_names_whose_int_width_the_library_contradicts():
    """The names say the ints' width by convention only (``64_``): an OpenBLAS that says otherwise in
    its ``openblas_get_config`` (``USE64BITINT``), e.g. ILP64 under the plain ``scipy_`` names, would
    get 32-bit ints where it reads 64 (wrong products or a crash): refused, SciPy's BLAS only."""
    sym = ctypes.CFUNCTYPE(None)(lambda: None)
    addr = ctypes.cast(sym, ctypes.c_void_p).value
    numpy_dirs = ["/np/numpy.libs/"]
    kept = []

    def config(text):
        buf = ctypes.create_string_buffer(text)
        fn = ctypes.CFUNCTYPE(ctypes.c_void_p)(lambda: ctypes.addressof(buf))
        kept.append((buf, fn))
        return fn

    ilp64_plain = _Lib("/np/numpy.libs/a.so", scipy_cblas_dgemm=sym, scipy_cblas_sgemm=sym,
                       scipy_openblas_get_config=config(b"OpenBLAS 0.3.30 USE64BITINT DYNAMIC_ARCH"))
    lp64_suffixed = _Lib("/np/numpy.libs/b.so", scipy_cblas_dgemm64_=sym, scipy_cblas_sgemm64_=sym,
                         scipy_openblas_get_config64_=config(b"OpenBLAS 0.3.30 DYNAMIC_ARCH"))
    assert _numpy_blas._lookup([ilp64_plain], numpy_dirs) == (None, None)
    assert _numpy_blas._lookup([lp64_suffixed], numpy_dirs) == (None, None)
    honest = _Lib("/np/numpy.libs/c.so", scipy_cblas_dgemm64_=sym, scipy_cblas_sgemm64_=sym,
                  scipy_openblas_get_config64_=config(b"OpenBLAS 0.3.30 USE64BITINT DYNAMIC_ARCH"))
    assert _numpy_blas._lookup([ilp64_plain, honest], numpy_dirs) == ((addr, addr, True), honest.filepath)
    if _numpy_blas.library_path() is not None:  # this process's NumPy: its own config agrees
        from dnn import _blas_threads

        found = _numpy_blas._lookup(_blas_threads._libraries(), _numpy_blas._numpy_dirs())
        assert found == _numpy_blas._find()


# --------------------------------------------------------------------------
# The per-machine choice
# --------------------------------------------------------------------------

@pytest.fixture
def small_choice(wisdom, monkeypatch):
    """Layers of 2**12 multiply-adds and more are chosen by measurement (tests' shapes)."""
    monkeypatch.setattr(_products, "CHOICE_MIN_WORK", 1 << 12)
    monkeypatch.setenv("DNN_STEP_CHOICE", "measure")
    functional._OWN_MEMO.clear()
    yield wisdom
    functional._OWN_MEMO.clear()


@pytest.mark.parametrize("dtype", DTYPES)
def test_choice_is_measured_once_kept_and_repeats_its_bits(dtype, small_choice, monkeypatch,
                                                           random_network):
    dims, m = [60, 40, 2, 1], 50  # layer 1 chosen (2400 x 50 multiply-adds), the others the rule's
    X, Y, p = random_network(dims, m, dtype)
    measured = []
    choose = _products.choose
    monkeypatch.setattr(_products, "choose", lambda *a: measured.append(a[:4]) or choose(*a))
    first = iteration(X, Y, p)
    assert measured == [(40, 60, m, np.dtype(dtype).itemsize)]
    entries = json.loads(small_choice.read_text())["plans"]
    (key, entry), = [(k, v) for k, v in entries.items() if k.startswith("step | 40,60 | m 50")]
    assert "threads %d" % _products.step_threads() in key
    assert all(b in _products.BACKENDS for b in entry["step"])
    # a new process (forgotten decisions) reads the file, measures nothing, repeats the bits
    _plan.forget()
    functional._OWN_MEMO.clear()
    measured.clear()
    for _ in range(3):
        again = iteration(X, Y, p)
        for k in first:
            assert np.array_equal(again[k], first[k]), k
    assert not measured
    np.testing.assert_allclose(first["AL"], reference.L_model_forward(X, p)[0], **tol(dtype))


def test_choice_kept_in_the_file_is_obeyed_and_a_bad_entry_measured_again(small_choice, monkeypatch,
                                                                          random_network):
    X, Y, p = random_network([60, 40, 2, 1], 50, np.float64)
    iteration(X, Y, p)
    data = json.loads(small_choice.read_text())
    key = next(k for k in data["plans"] if k.startswith("step | 40,60"))
    data["plans"][key] = {"step": ["scipy", "numpy"]}
    small_choice.write_text(json.dumps(data))
    _plan.forget()
    functional._OWN_MEMO.clear()
    f = _kernels.OWN_PRODUCTS
    assert functional._own_of(40, 60, 50, 8) == f["numpy_nt"]
    for bad in ({"step": ["blas", "own"]}, {"step": "own"}, {"plan": 1}):
        data["plans"][key] = bad
        small_choice.write_text(json.dumps(data))
        _plan.forget()
        functional._OWN_MEMO.clear()
        measured = []
        monkeypatch.setattr(_products, "choose",
                            lambda *a: measured.append(1) or _products.StepProducts("own", "own"))
        assert functional._own_of(40, 60, 50, 8) == f["nn"] | f["nt"]
        assert measured == [1]


def test_choice_off_small_layers_and_replaced_rules_measure_nothing(small_choice, monkeypatch):
    monkeypatch.setattr(_products, "choose", lambda *a: pytest.fail("measured"))
    rule = _products.for_step(40, 60, 50, 8)
    for off in ("rule", None):  # the rule unless measuring is asked for (the default: off)
        if off is None:
            monkeypatch.delenv("DNN_STEP_CHOICE")
        else:
            monkeypatch.setenv("DNN_STEP_CHOICE", off)
        functional._OWN_MEMO.clear()
        assert functional._own_of(40, 60, 50, 8) == rule
    monkeypatch.setenv("DNN_STEP_CHOICE", "measure")
    functional._OWN_MEMO.clear()
    assert functional._own_of(4, 6, 50, 8) == _products.for_step(4, 6, 50, 8)  # 1200 < 4096
    monkeypatch.setattr(_products, "for_step", lambda n, k, m, i: 0)
    assert functional._own_of(40, 60, 50, 8) == 0


def test_choose_picks_among_the_backends_found(small_choice, numpy_gemm):
    rule = _products.StepProducts("own", "scipy")
    got = _products.choose(40, 60, 50, 8, rule)
    assert got.nn in _products.BACKENDS and got.nt in _products.BACKENDS
    numpy_gemm(None)
    for _ in range(3):
        got = _products.choose(40, 60, 50, 4, rule)
        assert "numpy" not in (got.nn, got.nt)


def test_choose_keeps_the_rule_but_for_a_clear_winner_and_drops_slow_candidates(monkeypatch):
    # a fake clock that each layer run advances by its backends' cost: the logic, not the timing
    f = _kernels.OWN_PRODUCTS
    cost_nn = {"own": 10.0, "scipy": 40.0, "numpy": 5.0}     # numpy: a clear winner
    cost_nt = {"own": 10.0, "scipy": 9.9, "numpy": 10.2}     # scipy 1% faster: not enough
    now = [0.0]
    runs = []

    def backend(own, ours, numpy_flag):
        return "own" if own & ours else ("numpy" if own & numpy_flag else "scipy")

    def layer_products(own, *arrays):
        nn, nt = backend(own, f["nn"], f["numpy_nn"]), backend(own, f["nt"], f["numpy_nt"])
        runs.append((nn, nt))
        now[0] += cost_nn[nn] + cost_nt[nt]

    class FakeTime:
        thread_time = perf_counter = staticmethod(lambda: now[0])

    monkeypatch.setattr(_kernels, "_layer_products", layer_products)
    monkeypatch.setattr(_products, "time", FakeTime)
    monkeypatch.setattr(_products, "BUDGET_SECONDS", 1e9)
    got = _products.choose(40, 60, 50, 8, _products.StepProducts("own", "own"))
    if not _products._numpy_available():
        assert (got.nn, got.nt, got.source) == ("own", "own", "measured")
        return
    assert (got.nn, got.nt, got.source) == ("numpy", "own", "measured")
    # scipy's nn: a warm-up of 50 against the rule's 20 (within 3 times) is timed, loses
    # 2 rounds and is dropped: its warm-up and 2 rounds only; the rule and numpy, all 5
    assert runs.count(("scipy", "own")) == 3
    assert runs.count(("own", "own")) == 6 and runs.count(("numpy", "own")) >= 6
    cost_nn["scipy"] = 100.0  # a warm-up 5.5 times the rule's: never timed again
    runs.clear()
    _products.choose(40, 60, 50, 8, _products.StepProducts("own", "own"))
    assert runs.count(("scipy", "own")) == 1


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("threads", [1, 3])
def test_the_timed_layer_runs_the_calls_products(dtype, threads, backend, random_network):
    # what choose times is what a call computes: the same products, bit for bit
    saved = _kernels._step_settings()
    _kernels._set_step_threads(threads, 0)
    try:
        dims, m = [70, 30, 1], 33
        X, Y, p = random_network(dims, m, dtype)
        for nn, nt in BACKENDS:
            backend(nn, nt)
            AL, caches = dnn.L_model_forward(X, p)
            grads = dnn.L_model_backward(AL, Y, caches)
            own = _products.StepProducts(nn, nt).own()
            W, b = p["W1"], p["b1"].ravel()
            dZ1 = np.ascontiguousarray(grads["dW1"][:, :1].repeat(m, axis=1))  # any dZ
            want_dW, want_dA = np.empty_like(W), np.empty_like(X)  # one thread, no pool
            _kernels.linear_backward(dZ1, X, W, want_dW, np.empty(30, dtype), want_dA, own)
            np.testing.assert_allclose(want_dA, W.T @ dZ1, **tol(dtype))
            np.testing.assert_allclose(want_dW, dZ1 @ X.T / m, **tol(dtype))
            for which in (1, 2, 3):
                Z, dW, dA = (np.full_like(a, np.nan) for a in (caches[0][1], W, X))
                _kernels._layer_products(own, W, X, b, Z, dZ1, dW, dA, which)
                if which & 1:
                    assert np.array_equal(Z, caches[0][1]), (nn, nt)
                    assert np.array_equal(dA, want_dA), (nn, nt)
                else:
                    assert np.isnan(Z).all() and np.isnan(dA).all()
                if which & 2:
                    assert np.array_equal(dW, want_dW), (nn, nt)
                else:
                    assert np.isnan(dW).all()
    finally:
        _kernels._set_step_threads(*saved)


def test_a_call_refused_for_bad_input_measures_nothing(small_choice, monkeypatch, random_network):
    """The step calls' compiled paths check every layer before any is measured: a call that ends in
    a ValueError (a later layer's W or cache does not fit) costs its checks, not the seconds of
    measuring its first layer (and keeps no decision)."""
    monkeypatch.setattr(_products, "choose", lambda *a: pytest.fail("measured before the input was checked"))
    X, Y, p = random_network([60, 40, 2, 1], 50, np.float64)
    bad = dict(p, W2=p["W2"][:, :-1].copy())  # layer 1 (chosen by measurement) fine, W2 does not fit
    with pytest.raises(ValueError):
        dnn.L_model_forward(X, bad)
    monkeypatch.setattr(_products, "choose", lambda *a: _products.StepProducts("own", "own"))
    AL, caches = dnn.L_model_forward(X, p)
    _plan.forget()
    functional._OWN_MEMO.clear()
    monkeypatch.setattr(_products, "choose", lambda *a: pytest.fail("measured before the input was checked"))
    (A_prev, W, b), Z = caches[1]
    bad_caches = [caches[0], ((A_prev, W, b), Z[:, :-1].copy()), caches[2]]
    with pytest.raises(ValueError):
        dnn.L_model_backward(AL, Y, bad_caches)


def test_a_second_thread_waits_for_the_first_to_find_the_thread_counters(monkeypatch):
    """The first step calls of two threads: the second must not read the thread count (1: no
    counters yet) and NumPy's gemm (not found yet) while the first is still finding them, or its
    large layer's choice is measured without NumPy's BLAS and kept under the wrong thread count."""
    import threading

    from dnn import _blas_threads

    found = []
    real = _blas_threads._libraries
    entered, release = threading.Event(), threading.Event()

    def slow():
        entered.set()
        release.wait(10)
        return real()

    _kernels._set_thread_counters([], 1)  # as before a process's first step call
    _kernels._set_numpy_gemm(0, 0, False)
    monkeypatch.setattr(_products, "_counters_found", False)
    monkeypatch.setattr(_blas_threads, "_libraries", slow)
    first = threading.Thread(target=lambda: found.append(("first", _products.step_threads())))
    second = threading.Thread(target=lambda: found.append(
        ("second", _products.step_threads(), _products._numpy_available())))
    first.start()
    assert entered.wait(10)
    second.start()
    second.join(0.3)
    waited = second.is_alive()
    release.set()
    first.join(10)
    second.join(10)
    monkeypatch.setattr(_blas_threads, "_libraries", real)
    assert waited, "the second thread went on before the counters were found: %s" % found
    assert found[1] == ("second", found[0][1], _numpy_blas.gemm_addresses() is not None)


def test_a_measurement_without_memory_for_its_copies_takes_the_rule(small_choice, monkeypatch,
                                                                    random_network):
    """Measuring a layer's products runs on synthetic copies of its operands (the call's memory
    again): a layer that fits but whose copies do not takes the rule (not kept), not a MemoryError
    out of a call that would have run."""
    def no_memory(*a):
        raise MemoryError("synthetic operands")

    monkeypatch.setattr(_products, "layer_arrays", no_memory)
    assert functional._own_of(40, 60, 50, 8) == _products.for_step(40, 60, 50, 8)
    assert "step | 40,60" not in (small_choice.read_text() if small_choice.exists() else "")
    X, Y, p = random_network([60, 40, 2, 1], 50, np.float64)
    functional._OWN_MEMO.clear()
    np.testing.assert_allclose(iteration(X, Y, p)["AL"], reference.L_model_forward(X, p)[0], **tol(np.float64))


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="no fork on this platform")
@pytest.mark.filterwarnings("ignore:.*use of fork\\(\\) may lead to deadlocks:DeprecationWarning")  # Python >= 3.12
def test_a_child_forked_while_the_thread_counters_are_being_found_finds_its_own(monkeypatch):
    import os
    import threading

    from dnn import _blas_threads

    real = _blas_threads._libraries
    entered, release = threading.Event(), threading.Event()

    parent = os.getpid()

    def slow():  # the parent's first thread only waits
        if os.getpid() == parent and threading.current_thread() is not threading.main_thread():
            entered.set()
            release.wait(20)
        return real()

    monkeypatch.setattr(_products, "_counters_found", False)
    monkeypatch.setattr(_blas_threads, "_libraries", slow)
    first = threading.Thread(target=_products.step_threads)
    first.start()
    try:
        assert entered.wait(10)
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                t = threading.Thread(target=_products.step_threads, daemon=True)
                t.start()
                t.join(10)
                code = 1 if t.is_alive() else 0
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, "the forked child's first step call hung"
    finally:
        release.set()
        first.join(20)


def test_the_avx2_rule_gives_few_units_on_very_many_inputs_to_numpy_or_nn(monkeypatch):
    # S1's first layer (20 units on 12,288 features) in either dtype: NumPy's BLAS where
    # its gemm is found; else nn (H packed), at any thread count (the same bits). Wider
    # layers and fewer inputs: NumPy's BLAS where its OpenBLAS is not older than SciPy's,
    # else SciPy's; every other build's BLAS layers: SciPy's BLAS
    f = _kernels.OWN_PRODUCTS
    numpy = f["numpy_nn"] | f["numpy_nt"]
    monkeypatch.setattr(_products._train, "simd_kernels", lambda: "avx2")
    monkeypatch.delenv("DNN_STEP_CHOICE", raising=False)
    _products.step_threads()  # NumPy's gemm looked for
    for numpy_found in (True, False):
        for not_older in (True, False):
            monkeypatch.setattr(_kernels, "_numpy_gemm_set", lambda: numpy_found)
            monkeypatch.setattr(_products, "_numpy_blas_not_older", not_older)
            wide = numpy if numpy_found else f["nn"]
            assert _products.for_step(20, 12288, 209, 8) == wide
            assert _products.for_step(20, 12288, 209, 4) == wide
            assert _products.for_step_call(20, 12288, 209, 8, 1) == wide
            # more threads: the same products, so the same bits (the packed W H, shared out by
            # columns, is slower there than BLAS: benchmarks/NOTES.md, "nn packs B on the AVX2 build")
            assert _products.for_step_call(20, 12288, 209, 8, 2) == wide
            other = numpy if numpy_found and not_older else 0
            assert _products.for_step(_products.AVX2_NN_MAX_UNITS + 1, 12288, 209, 8) == other
            assert _products.for_step(20, 2048, 209, 8) == other  # 16 KiB an example
            assert _products.for_step(256, 784, 10000, 8) == other
            assert _products.for_step_call(256, 784, 10000, 8, 2) == other
            assert _products.for_step(4, 2, 400, 8) == f["all"]  # tiny: as on every build
    monkeypatch.setattr(_products._train, "simd_kernels", lambda: "sse2")
    assert _products.for_step(20, 12288, 209, 8) == 0
    assert _products.for_step(256, 784, 10000, 8) == 0


def test_versions_name_each_package_s_own_openblas(monkeypatch):
    """``_numpy_blas.versions``: the release of the OpenBLAS in NumPy's and in SciPy's own
    folders (a path naming the other package, as NumPy's ``libscipy_openblas64_`` does, is not
    taken for it), None where a package has none; and this process's agree with threadpoolctl."""
    numpy_dirs, scipy_dirs = _numpy_blas._package_dirs("numpy"), _numpy_blas._package_dirs("scipy")
    libs = [type("L", (), dict(internal_api="openblas", version="0.3.31.188.0",
                               filepath=numpy_dirs[1] + "libscipy_openblas64_-1.so"))(),
            type("L", (), dict(internal_api="openblas", version="0.3.30",
                               filepath=scipy_dirs[1] + "libscipy_openblas-2.so"))()]
    monkeypatch.setattr(_numpy_blas, "_libraries", lambda: libs)
    assert _numpy_blas.versions() == ((0, 3, 31), (0, 3, 30))
    monkeypatch.setattr(_numpy_blas, "_libraries", lambda: libs[:1])
    assert _numpy_blas.versions() == ((0, 3, 31), None)
    libs[0].version = "unknown"
    assert _numpy_blas.versions() == (None, None)
    assert _numpy_blas._version_tuple("0.3.9") == (0, 3, 9) and _numpy_blas._version_tuple("0.3") is None
    monkeypatch.undo()
    if _numpy_blas.library_path() is not None:  # this process: NumPy's gemm's library has a version
        assert _numpy_blas.versions()[0] is not None

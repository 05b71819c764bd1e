"""Fixtures shared by the test suite.

- ``shared_dir``: the team's shared folder (``/work/shared`` beside the
  repository, or the ``DNN_SHARED`` environment variable); tests that need it
  skip with the reason when it is absent.
- ``cat_data``: the course's cat-vs-non-cat HDF5 data, preprocessed as the
  course does (``X.reshape(m, -1).T / 255.``), float64, labels ``(1, m)``.
- ``rng``: a seeded ``numpy.random.Generator``, fresh for every test, so a
  test's random inputs do not depend on which tests ran before it.
- ``simd_build``: runs the test once per build of dnn._simd's kernels
  (baseline, avx2, avx512), switched in both extensions; skips the builds
  this CPU does not run and restores the best one after. ``loop_build``: the
  same for dnn._loop's own copy.
- ``random_network``: ``(dims, m, dtype, seed=0) -> (X, Y, parameters)``, a random
  problem for the step functions (X standard normal, 0/1 labels, W_l scaled by
  1 / sqrt(n_{l-1})).
- ``step_threads``: ``use(threads, min_work=0)`` sets the step calls' threads
  (sharing every layer, however small), restored after the test.
- ``blas_single_thread``: limits BLAS to one thread for the test using it (the
  big cat-data runs): on a shared, loaded 2-core machine OpenBLAS's threads
  oversubscribe the cores and a 4 s run takes a minute.
"""
import os
from pathlib import Path

import numpy as np
import pytest


def _shared_path():
    env = os.environ.get("DNN_SHARED")
    if env:
        return Path(env)
    # repo/tests/conftest.py -> repo/../shared
    return Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture(scope="session")
def shared_dir():
    """Path of the shared folder (data/, seeds/); skips when it is absent."""
    path = _shared_path()
    if not path.is_dir():
        pytest.skip(f"shared folder not found at {path} (set DNN_SHARED to point at it)")
    return path


@pytest.fixture(scope="session")
def cat_data(shared_dir):
    """``(train_x, train_y, test_x, test_y)`` of the cat data set, as the course prepares it.

    ``train_x`` is ``(12288, 209)`` float64 in [0, 1], ``train_y`` is ``(1, 209)``
    int64 in {0, 1}; the test split has 50 examples. The arrays are made
    read-only so that no test can change them for the next one.
    """
    h5py = pytest.importorskip("h5py", reason="h5py is needed to read the cat HDF5 files")
    folder = shared_dir / "data" / "catvnoncat"
    train_file = folder / "train_catvnoncat.h5"
    test_file = folder / "test_catvnoncat.h5"
    for f in (train_file, test_file):
        if not f.is_file():
            pytest.skip(f"cat data file not found: {f}")

    def load(path, split):
        with h5py.File(path, "r") as f:
            x = np.asarray(f[f"{split}_set_x"][:])
            y = np.asarray(f[f"{split}_set_y"][:])
        x = x.reshape(x.shape[0], -1).T / 255.
        y = y.reshape(1, -1)
        x.flags.writeable = False
        y.flags.writeable = False
        return x, y

    train_x, train_y = load(train_file, "train")
    test_x, test_y = load(test_file, "test")
    return train_x, train_y, test_x, test_y


@pytest.fixture
def rng():
    """A fresh ``numpy.random.Generator`` with a fixed seed."""
    return np.random.default_rng(20240611)


@pytest.fixture
def blas_single_thread():
    """Run the test with every BLAS (NumPy's and SciPy's OpenBLAS) limited to one thread."""
    threadpoolctl = pytest.importorskip("threadpoolctl", reason="threadpoolctl limits the BLAS threads")
    with threadpoolctl.threadpool_limits(limits=1, user_api="blas"):
        yield


def _simd_levels():
    from dnn import _train
    return _train.SIMD_LEVELS


@pytest.fixture(params=_simd_levels())
def simd_build(request):
    """The name of the build of dnn._simd's kernels in use for this run of the test."""
    from dnn import _kernels, _train

    levels = _train.SIMD_LEVELS
    if levels.index(request.param) > levels.index(_train.simd_cpu_level()):
        pytest.skip("this CPU does not run the %s build" % request.param)
    try:
        assert _train.simd_kernels(request.param) == request.param
        # the step-by-step API's copy of the kernels switched too
        assert levels[_kernels._simd_level()] == request.param
        yield request.param
    finally:
        _train.simd_kernels(_train.simd_cpu_level())


@pytest.fixture(params=_simd_levels())
def loop_build(request):
    """The name of the build of dnn._loop's copy of the kernels (its wide kernels and codes among them)
    in use for this run of the test; skips the builds this CPU does not run, restores the one before."""
    from dnn import _loop, _train

    levels = _train.SIMD_LEVELS
    if levels.index(request.param) > levels.index(_train.simd_cpu_level()):
        pytest.skip("this CPU does not run the %s build" % request.param)
    before = _loop._simd_level()
    try:
        assert _loop._use_simd(levels.index(request.param)) == levels.index(request.param)
        yield request.param
    finally:
        _loop._use_simd(before)


@pytest.fixture
def wisdom(tmp_path, monkeypatch):
    """A fresh wisdom file and planners (``dnn._plan``, ``dnn._loop_plan``) that have forgotten
    their decisions."""
    from dnn import _plan

    path = tmp_path / "wisdom.json"
    monkeypatch.setenv("DNN_WISDOM", str(path))
    _plan.forget()
    yield path
    _plan.forget()


@pytest.fixture(autouse=True, scope="session")
def _wisdom_in_a_temporary_file(tmp_path_factory):
    """Plans that long fits measure go to a file of this run, never the user's cache."""
    path = tmp_path_factory.mktemp("wisdom") / "wisdom.json"
    old = os.environ.get("DNN_WISDOM")
    os.environ["DNN_WISDOM"] = str(path)
    yield path
    if old is None:
        os.environ.pop("DNN_WISDOM", None)
    else:
        os.environ["DNN_WISDOM"] = old


class _Cli:
    """``dnn``'s command line run in this process, its output captured (the ``dnn_cli`` fixture)."""

    def __init__(self, capsys):
        self._capsys = capsys

    def run(self, argv):
        """``(exit code, stdout, stderr)`` of ``dnn <argv>``."""
        from dnn import cli

        code = cli.main([str(a) for a in argv])
        out, err = self._capsys.readouterr()
        return code, out, err

    @staticmethod
    def one_line(err):
        """The single line of an error message (no traceback)."""
        lines = err.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in err, err
        return lines[0]


@pytest.fixture
def dnn_cli(capsys):
    return _Cli(capsys)


def _random_network(dims, m, dtype, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((dims[0], m)).astype(dtype)
    Y = (rng.random((1, m)) > 0.5).astype(dtype)
    p = {}
    for l in range(1, len(dims)):
        p["W%d" % l] = (rng.standard_normal((dims[l], dims[l - 1])) / np.sqrt(dims[l - 1])).astype(dtype)
        p["b%d" % l] = (0.1 * rng.standard_normal((dims[l], 1))).astype(dtype)
    return X, Y, p


def _unaligned(a):
    """A C-contiguous copy of ``a`` one byte past an aligned address (a memmap at an odd offset)."""
    buf = np.zeros(a.nbytes + 1, np.uint8)
    u = np.frombuffer(buf.data, dtype=a.dtype, count=a.size, offset=1).reshape(a.shape)
    u[...] = a
    assert u.flags.c_contiguous and not u.flags.aligned
    return u


@pytest.fixture
def unaligned():
    """``(a) -> u``: ``a``'s values in a C-contiguous, unaligned array."""
    return _unaligned


@pytest.fixture
def random_network():
    """``(dims, m, dtype, seed=0) -> (X, Y, parameters)``: see the module's docstring."""
    return _random_network


@pytest.fixture
def recording_gemm():
    """``record(found, calls)``: for NumPy's cblas gemm ``found = (dgemm, sgemm, ilp64)``
    (``dnn._numpy_blas.gemm_addresses()``), the addresses of gemms of the same signature that
    append each call's ``(M, N, K)`` to ``calls``, then call the real one; kept alive for the
    test."""
    import ctypes

    alive = []

    def one(real, ilp64, dtype, calls):
        i = ctypes.c_int64 if ilp64 else ctypes.c_int
        f = ctypes.c_double if dtype == np.float64 else ctypes.c_float
        p = ctypes.c_void_p
        proto = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_int, ctypes.c_int, i, i, i, f, p, i, p, i, f, p, i)
        target = proto(real)

        def gemm(*args):
            calls.append(args[3:6])
            target(*args)
        alive.append((target, proto(gemm)))
        return ctypes.cast(alive[-1][1], ctypes.c_void_p).value

    def record(found, calls):
        d, s, ilp64 = found
        return one(d, ilp64, np.float64, calls), one(s, ilp64, np.float32, calls), ilp64
    yield record
    alive.clear()


@pytest.fixture
def step_threads():
    """Set the step calls' threads (and share every layer, however small); restored after."""
    from dnn import _kernels

    saved = _kernels._step_settings()

    def use(threads, min_work=0):
        _kernels._set_step_threads(threads, min_work)

    yield use
    _kernels._set_step_threads(*saved)

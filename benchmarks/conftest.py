"""Shared fixtures of the benchmark suite (see benchmarks/README.md).

Each benchmark runs once per implementation (``dnn`` and ``dnn.reference``),
benchmark shape and dtype, and sets ``benchmark.group`` to "what shape dtype",
so pytest-benchmark prints dnn and the reference side by side.

Options (all optional):
  --dnn-shapes S1,S3   shapes of dnn.bench.SHAPES (default: S1,S2,S3,S6, the quick ones;
                       "all" for S1..S6)
  --dnn-dtypes float32 float64 and/or float32 (default: both)
  --dnn-threads N      BLAS threads (default: all cores)
"""

import os

import numpy as np
import pytest

from dnn import bench, reference

DEFAULT_SHAPES = "S1,S2,S3,S6"


def pytest_addoption(parser):
    group = parser.getgroup("dnn benchmarks")
    group.addoption("--dnn-shapes", default=DEFAULT_SHAPES,
                    help="comma-separated benchmark shapes, or 'all' (default %s)" % DEFAULT_SHAPES)
    group.addoption("--dnn-dtypes", default="float64,float32",
                    help="comma-separated dtypes (default float64,float32)")
    group.addoption("--dnn-threads", type=int, default=os.cpu_count() or 1,
                    help="BLAS threads (default: all cores)")


def _selected(config, option, allowed):
    text = config.getoption(option)
    if text == "all":
        return list(allowed)
    items = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [s for s in items if s not in allowed]
    if unknown or not items:
        raise pytest.UsageError("%s: unknown %s; choose from %s"
                                % (option, ",".join(unknown) or "(none)", ",".join(allowed)))
    return items


def pytest_generate_tests(metafunc):
    if "shape" in metafunc.fixturenames:
        metafunc.parametrize("shape", _selected(metafunc.config, "--dnn-shapes", bench.SHAPES))
    if "dtype_name" in metafunc.fixturenames:
        metafunc.parametrize("dtype_name", _selected(metafunc.config, "--dnn-dtypes", bench.DTYPES))
    if "impl" in metafunc.fixturenames:
        metafunc.parametrize("impl", ["dnn", "reference"])


@pytest.fixture(scope="session", autouse=True)
def _blas_threads(request):
    """Every benchmark runs with the same number of BLAS threads."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=request.config.getoption("--dnn-threads")):
        yield


@pytest.fixture
def module(impl):
    """The module whose functions are timed: ``dnn`` or ``dnn.reference``."""
    if impl == "reference":
        return reference
    import dnn

    return dnn


@pytest.fixture
def fn(module):
    """fn(name) -> the implementation's function, skipping when dnn does not have it yet."""
    def get(name):
        f = getattr(module, name, None)
        if f is None:
            pytest.skip("%s.%s is not available" % (module.__name__, name))
        return f
    return get


@pytest.fixture(scope="session")
def _data_cache():
    return {}


@pytest.fixture
def problem(shape, dtype_name, _data_cache):
    """(layers_dims, X, Y, parameters) for a benchmark shape and dtype, built once per session."""
    key = (shape, dtype_name)
    if key not in _data_cache:
        dims, m, _ = bench.SHAPES[shape]
        dtype = bench.DTYPES[dtype_name]
        X, Y = bench.make_data(dims, m, dtype)
        params = reference.initialize_parameters_deep(list(dims), dtype=dtype)
        _data_cache.clear()  # keep one problem alive: S4/S5 are large
        _data_cache[key] = (list(dims), X, Y, params)
    return _data_cache[key]


@pytest.fixture
def label(shape, dtype_name):
    """label(what) -> the benchmark group name, e.g. 'relu S1 float32'."""
    return lambda what: "%s %s %s" % (what, shape, dtype_name)


@pytest.fixture
def rng():
    return np.random.default_rng(0)

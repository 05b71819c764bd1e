"""Past one machine: a grid search on a real dask.distributed LocalCluster through joblib,
partial_fit over chunks (a Dask array's blocks, dask-ml's Incremental, an HDF5 dataset, a
memmap larger than the memory cap a subprocess sets for itself)."""
import logging
import os
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn", reason="scikit-learn is not installed (pip install \"dnn-course[sklearn]\")")

from sklearn.exceptions import ConvergenceWarning  # noqa: E402

from dnn.estimators import DNNClassifier  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

#: The README's settings for a LocalCluster on one machine (benchmarks/estimator_table.SMALL_CLUSTER_CONFIG):
#: no statistical profiler, event-loop health checks once a second, system monitor every 5 s, memory checks
#: once a second, and the workers started without the nanny's MALLOC_TRIM_THRESHOLD_ (glibc's own thresholds).
SMALL_CLUSTER_CONFIG = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "5s",
    "distributed.worker.memory.monitor-interval": "1s",
    "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
}


@pytest.fixture
def environ_kept():
    """A LocalCluster's nannies run in the calling process and leave their pre-spawn variables
    (``OPENBLAS_NUM_THREADS=1``, ...) in its ``os.environ``: restored after the test, so that later
    tests' subprocesses start with the environment the suite started with."""
    before = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(before)


def _blobs(m=600, n=12, K=3, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((K, n)) * 2
    y = rng.integers(0, K, m)
    X = centers[y] + rng.standard_normal((m, n))
    return X, y


def test_grid_search_on_a_local_cluster_equals_the_serial_search(environ_kept):
    dask = pytest.importorskip("dask", reason="dask is not installed (pip install \"dnn-course[dask]\")")
    distributed = pytest.importorskip("distributed", reason="distributed is not installed (pip install \"dnn-course[dask]\")")
    import joblib
    from sklearn.model_selection import GridSearchCV, cross_validate
    from threadpoolctl import threadpool_limits

    # Defined here, so that they travel to the workers by value: the workers cannot import the tests.
    def _worker_blas_threads():
        from threadpoolctl import threadpool_info
        return sorted({(info["internal_api"], info["num_threads"]) for info in threadpool_info()
                       if info["user_api"] == "blas"})

    class BlasThreadsInFit(DNNClassifier):
        """Records the BLAS threads in effect while its fit runs (the fit's own view, not the process's)."""

        def fit(self, X, y):
            from threadpoolctl import threadpool_info
            out = super().fit(X, y)
            self.blas_threads_ = sorted({(info["internal_api"], info["num_threads"]) for info in threadpool_info()
                                         if info["user_api"] == "blas"})
            return out

    X, y = _blobs()
    grid = {"hidden_layer_sizes": [(16,), (16, 8)], "alpha": [1e-4, 1e-1]}
    estimator = DNNClassifier(max_iter=15, random_state=0)

    def _periodic_callbacks(dask_worker):  # a worker's or a nanny's (client.run passes either by that name), in ms
        return {name: pc.callback_time for name, pc in dask_worker.periodic_callbacks.items()}

    # The README's recipe: the settings set before the cluster starts (the nannies hand them to the workers),
    # and a client that sends scattered data straight to the workers.
    with dask.config.set(SMALL_CLUSTER_CONFIG), \
            distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                                     silence_logs=logging.ERROR) as cluster, \
            distributed.Client(cluster, direct_to_workers=True) as client:
        # They reached every server: workers (their own processes), nannies and scheduler (this one).
        workers, nannies = client.run(_periodic_callbacks), client.run(_periodic_callbacks, nanny=True)
        assert len(workers) == len(nannies) == 2
        for callbacks in [*workers.values(), *nannies.values(), _periodic_callbacks(cluster.scheduler)]:
            assert callbacks["tick"] == 1000 and callbacks["monitor"] == 5000, callbacks
        for callbacks in [*workers.values(), *nannies.values()]:
            assert callbacks["memory_monitor"] == 1000 and "profile" not in callbacks, callbacks
        # The workers started without MALLOC_TRIM_THRESHOLD_ (Dask's default sets 65536, which freezes glibc's
        # mmap threshold at 128 KiB: every larger temporary of a fit is mapped and faulted in afresh).
        trim = client.run(lambda: os.environ.get("MALLOC_TRIM_THRESHOLD_"))
        assert list(trim.values()) == [None, None], trim
        # The nanny starts each worker process with OPENBLAS/MKL/OMP_NUM_THREADS=1: one BLAS thread per fit.
        threads = client.run(_worker_blas_threads)
        assert len(threads) == 2
        for per_worker in threads.values():
            assert per_worker and all(n == 1 for _, n in per_worker), threads
        # The README's recipe: X and y scattered to every worker once, not shipped with each task.
        with joblib.parallel_backend("dask", scatter=[X, y]), warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            on_dask = GridSearchCV(estimator, grid, cv=3, n_jobs=-1).fit(X, y)
            # 4 candidates x 3 folds: both workers took fits.
            executed = client.run(lambda dask_worker: dask_worker.state.executed_count)
            assert len(executed) == 2 and all(n > 0 for n in executed.values()), executed
            # Inside the fits the workers ran: one BLAS thread each.
            fitted = cross_validate(BlasThreadsInFit(max_iter=2, random_state=0), X, y, cv=4, n_jobs=-1,
                                    return_estimator=True)["estimator"]
        assert all(est.blas_threads_ and all(n == 1 for _, n in est.blas_threads_) for est in fitted), \
            [est.blas_threads_ for est in fitted]
    assert cluster.status.name == "closed"
    with threadpool_limits(1):
        serial = GridSearchCV(estimator, grid, cv=3, n_jobs=1).fit(X, y)
    for key in ("mean_test_score", "std_test_score", "rank_test_score"):
        np.testing.assert_array_equal(on_dask.cv_results_[key], serial.cv_results_[key])
    assert on_dask.best_params_ == serial.best_params_
    for a, b in zip(on_dask.best_estimator_.coefs_, serial.best_estimator_.coefs_):
        np.testing.assert_array_equal(a, b)


def test_grid_search_on_a_thread_cluster_equals_the_serial_search():
    """The one-machine alternative the README measures: LocalCluster(processes=False), its two
    workers threads of this process (dnn's fits release the GIL in their compiled epochs), BLAS
    capped by threadpoolctl as no nanny sets it: both threads fit, and the scores and the refitted
    network are the serial search's, bit for bit."""
    dask = pytest.importorskip("dask", reason="dask is not installed (pip install \"dnn-course[dask]\")")
    distributed = pytest.importorskip("distributed", reason="distributed is not installed (pip install \"dnn-course[dask]\")")
    import joblib
    from sklearn.model_selection import GridSearchCV
    from threadpoolctl import threadpool_limits

    X, y = _blobs()
    grid = {"hidden_layer_sizes": [(16,), (16, 8)], "alpha": [1e-4, 1e-1]}
    estimator = DNNClassifier(max_iter=15, random_state=0)
    with threadpool_limits(1):
        serial = GridSearchCV(estimator, grid, cv=3, n_jobs=1).fit(X, y)
        with dask.config.set(SMALL_CLUSTER_CONFIG), \
                distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0",
                                         silence_logs=logging.ERROR) as cluster, distributed.Client(cluster) as client:
            with joblib.parallel_backend("dask"), warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                on_threads = GridSearchCV(estimator, grid, cv=3, n_jobs=-1).fit(X, y)
            executed = client.run(lambda dask_worker: dask_worker.state.executed_count)
            assert len(executed) == 2 and all(n > 0 for n in executed.values()), executed
    for key in ("mean_test_score", "std_test_score", "rank_test_score"):
        np.testing.assert_array_equal(on_threads.cv_results_[key], serial.cv_results_[key])
    assert on_threads.best_params_ == serial.best_params_
    for a, b in zip(on_threads.best_estimator_.coefs_, serial.best_estimator_.coefs_):
        np.testing.assert_array_equal(a, b)


def test_partial_fit_over_dask_array_blocks():
    da = pytest.importorskip("dask.array", reason="dask is not installed (pip install \"dnn-course[dask]\")")
    X, y = _blobs(m=1200)
    dX, dy = da.from_array(X, chunks=(300, X.shape[1])), da.from_array(y, chunks=300)
    clf = DNNClassifier((16,), random_state=0, learning_rate_init=0.01)
    first = []
    for epoch in range(3):
        for i in range(dX.numblocks[0]):
            clf.partial_fit(dX.blocks[i].compute(), dy.blocks[i].compute(), classes=np.arange(3))
            if epoch == 0:
                first.append(clf.loss_)
    assert clf.n_iter_ == 1 and clf.t_ == X.shape[0] * 3 and clf.loss_ < first[0]
    assert clf.score(X, y) > 0.9


def test_dask_ml_incremental():
    pytest.importorskip("dask", reason="dask is not installed (pip install \"dnn-course[dask]\")")
    wrappers = pytest.importorskip("dask_ml.wrappers", reason="dask-ml is not installed (pip install \"dnn-course[dask]\")")
    import dask.array as da
    X, y = _blobs(m=1200)
    dX, dy = da.from_array(X, chunks=(300, X.shape[1])), da.from_array(y, chunks=300)
    inc = wrappers.Incremental(DNNClassifier((16,), random_state=0, learning_rate_init=0.01), scoring="accuracy")
    for _ in range(3):
        inc.partial_fit(dX, dy, classes=np.arange(3))
    assert inc.estimator_.n_iter_ == 1 and inc.estimator_.t_ == X.shape[0] * 3
    assert inc.score(dX, dy) > 0.9


def test_partial_fit_over_hdf5_chunks(tmp_path):
    h5py = pytest.importorskip("h5py", reason="h5py is not installed (pip install \"dnn-course[hdf5]\")")
    X, y = _blobs(m=900)
    with h5py.File(tmp_path / "data.h5", "w") as f:
        f["X"], f["y"] = X, y
    clf = DNNClassifier((16,), random_state=0, learning_rate_init=0.01)
    with h5py.File(tmp_path / "data.h5", "r") as f:
        for _ in range(3):
            for start in range(0, f["X"].shape[0], 300):
                clf.partial_fit(f["X"][start:start + 300], f["y"][start:start + 300], classes=np.arange(3))
    assert clf.score(X, y) > 0.9


_BOUNDED = textwrap.dedent("""
    import resource, sys, warnings
    import numpy as np
    from threadpoolctl import threadpool_limits
    from dnn.estimators import DNNClassifier

    path = sys.argv[1]
    rows, cols, chunk, cap_mib = (int(a) for a in sys.argv[2:6])
    warnings.simplefilter("ignore")
    threadpool_limits(1)
    clf = DNNClassifier((16,), random_state=0, learning_rate_init=0.01, batch_size=500)
    header = np.load(path, mmap_mode="r")             # reads the header; maps, then drops, the whole file
    offset, dtype = header.offset, header.dtype
    del header
    labels = lambda X: (X[:, 0] + X[:, 1] > 0).astype(np.int64)
    # Warm up (first allocations of the network, BLAS buffers), then cap the address space.
    first = np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=(chunk, cols))
    clf.partial_fit(first, labels(first), classes=[0, 1])
    del first
    vm = lambda: int(open("/proc/self/statm").read().split()[0]) * resource.getpagesize()
    cap = vm() + cap_mib * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    losses = []
    for start in range(chunk, rows, chunk):
        n = min(chunk, rows - start)
        X = np.memmap(path, dtype=dtype, mode="r", offset=offset + start * cols * dtype.itemsize, shape=(n, cols))
        clf.partial_fit(X, labels(X))
        losses.append(clf.loss_)
        del X
    grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024
    try:                                              # the control: the whole file does not fit under the cap
        whole = np.fromfile(path, dtype=np.uint8)
        capped = "not-capped"
    except MemoryError:
        capped = "capped"
    print(len(losses), losses[0], np.mean(losses[-5:]), grown, clf.coefs_[0].dtype, capped)
""")


def test_partial_fit_over_a_memmap_larger_than_the_memory_cap(tmp_path):
    """A float32 data set of 160 MiB, trained chunk by chunk in a process whose address space may grow
    by 48 MiB only: every chunk is mapped, trained on in place (no copy) and unmapped."""
    if not sys.platform.startswith("linux"):
        pytest.skip("RLIMIT_AS and /proc/self/statm: Linux only")
    rows, cols, chunk, cap_mib = 2_097_152, 20, 65_536, 48
    path = tmp_path / "big.npy"
    X = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(rows, cols))
    rng = np.random.default_rng(0)
    for start in range(0, rows, chunk):
        X[start:start + chunk] = rng.standard_normal((chunk, cols), dtype=np.float32)
    X.flush()
    del X
    assert path.stat().st_size > 3 * cap_mib * 2**20
    out = subprocess.run([sys.executable, "-c", _BOUNDED, str(path), str(rows), str(cols), str(chunk), str(cap_mib)],
                         capture_output=True, text=True, timeout=300, cwd=tmp_path)  # not the source tree
    assert out.returncode == 0, out.stderr[-2000:]
    n, first, last, grown_mib, dtype, capped = out.stdout.split()
    assert capped == "capped"
    assert int(n) == rows // chunk - 1 and dtype == "float32"
    assert float(last) < 0.5 * float(first)       # the loss goes down
    assert float(grown_mib) < cap_mib            # resident memory stayed bounded

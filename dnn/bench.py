"""Training-speed comparison: ``dnn`` against its reference and its peers.

``python -m dnn.bench`` (also ``dnn bench`` and ``python benchmarks/compare.py``)
prints one table: for each benchmark shape S1..S6 and each dtype, the
steady-state time of one full-batch gradient-descent iteration of an L-layer
network ``[LINEAR->RELU]*(L-1) -> LINEAR -> SIGMOID`` with binary cross-entropy, for

- ``dnn``: the public ``dnn.L_layer_model``, with the plan (``dnn._plan``) that a
  real fit of ``FIT_ITERATIONS`` iterations gets here; the plan is printed;
- ``dnn-blas``: the same with ``plan="blas"`` (every product on BLAS);
- ``ref``: ``dnn.reference.L_layer_model`` (the course's NumPy code);
- ``torch``: PyTorch on the CPU, ``nn.Linear``/``nn.ReLU`` stack, ``BCEWithLogitsLoss``
  and ``torch.optim.SGD`` (no momentum), full batch, started from dnn's initial
  parameters, same learning rate (only if torch is installed);
- ``sklearn``: ``MLPClassifier(solver="sgd", batch_size=m, momentum=0, alpha=0,
  learning_rate="constant", shuffle=False)``, ``fit`` with ``warm_start`` from
  dnn's initial parameters (only if scikit-learn is installed).

How it measures (and why):

- Steady state, set-up apart. dnn's rows run a real ``FIT_ITERATIONS`` fit and
  note the clock at every callback (after each chunk of iterations): the slope
  is the time per iteration, the time to the first callback less its
  iterations the set-up (checks, initialization, planning on the first fit,
  workspace, ``X^T X`` or the ``X^T`` copy, threads), shown apart; the fit is
  stopped from the callback once enough is timed. The others run k and 3k
  iterations: the difference is 2k iterations without set-up.
- All implementations run in one process with the same BLAS thread count
  (``threadpoolctl``; ``torch.set_num_threads``), timed in alternation
  (round r: dnn, dnn-blas, ref, torch, sklearn; then round r+1), medians over
  the rounds: load from other processes hits all of them alike.
- ``--matrix`` runs the table once per configuration (BLAS threads 1 and 2 x
  OpenBLAS's kernels as it picks them and forced to Haswell), each in a child
  process whose environment (``OPENBLAS_NUM_THREADS``, ``OPENBLAS_CORETYPE``...)
  is set before NumPy loads; a kernel set the CPU cannot run, or that OpenBLAS
  does not take, is reported, not timed. ``--max-minutes`` bounds it.
- "of gemm peak": the FLOP rate of one dnn iteration (forward ``2 n_l n_{l-1} m``
  per layer; backward ``dW`` the same, and ``dA_prev`` the same except for the
  first layer) over the rate of a 2048 x 2048 gemm of the same dtype through
  ``scipy.linalg.blas`` (the OpenBLAS dnn calls), measured in the same run.
- Peak memory (S4 unless told otherwise) is measured in fresh subprocesses, one
  per implementation: the rise of the resident-set high-water mark (Linux
  ``VmHWM``, reset through ``/proc/self/clear_refs`` after the data are built;
  on macOS ``getrusage``'s and on Windows the peak working set, which cannot
  be reset: there the rise above the mark the data left is a lower bound),
  which counts every allocation, NumPy's and C's; and, as a second opinion,
  the ``tracemalloc`` peak, which sees NumPy's array buffers and Python objects
  but not memory a C extension takes with plain ``malloc``.

Data are synthetic (uniform pixels in [0, 1), random 0/1 labels, fixed seed):
the time of an iteration does not depend on what the data mean.
"""

import argparse
import gc
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
import warnings

import numpy as np

__all__ = ["SHAPES", "DTYPES", "iteration_flops", "make_data", "gemm_peak", "main"]

#: name -> (layers_dims, m, what it stands for)
SHAPES = {
    "S1": ((12288, 20, 7, 5, 1), 209, "cat network (course)"),
    "S2": ((2, 4, 1), 400, "planar toy"),
    "S3": ((64, 32, 16, 1), 1797, "digits 8x8"),
    "S4": ((784, 256, 128, 64, 1), 10000, "MNIST-sized"),
    "S5": ((3072, 1024, 1024, 1), 512, "CIFAR-sized, wide"),
    "S6": ((100,) + (50,) * 8 + (1,), 1000, "deep and narrow"),
}
DTYPES = {"float64": np.float64, "float32": np.float32}
LEARNING_RATE = 0.0075
PEERS = ("dnn", "dnn-blas", "ref", "torch", "sklearn")


# --------------------------------------------------------------------------
# Workload
# --------------------------------------------------------------------------

def iteration_flops(layers_dims, m):
    """FLOPs of one training iteration, gemms only.

    Forward ``Z_l = W_l A_{l-1}``: ``2 n_l n_{l-1} m`` per layer; backward
    ``dW_l = dZ_l A_{l-1}^T``: the same; ``dA_{l-1} = W_l^T dZ_l``: the same for
    every layer but the first, whose ``dA_0`` nothing uses. Elementwise work
    (activations, bias, update) is not counted.
    """
    total = 0
    for l in range(1, len(layers_dims)):
        layer = 2 * layers_dims[l] * layers_dims[l - 1] * m
        total += layer * (3 if l > 1 else 2)
    return total


def make_data(layers_dims, m, dtype, seed=0):
    """Synthetic ``X`` of shape ``(n_x, m)`` in [0, 1) and labels ``Y`` ``(1, m)`` in {0, 1}."""
    rng = np.random.default_rng(seed)
    X = rng.random((layers_dims[0], m)).astype(dtype)
    Y = (rng.random((1, m)) < 0.5).astype(dtype)
    return X, Y


def _initial_parameters(layers_dims, dtype):
    """The parameters every implementation starts from (reference recipe "app-utils")."""
    from dnn import reference

    return reference.initialize_parameters_deep(list(layers_dims), dtype=dtype)


# --------------------------------------------------------------------------
# Implementations: prepare once, then run(k) trains k iterations
# --------------------------------------------------------------------------

def _dnn_L_layer_model():
    """dnn's public ``L_layer_model`` (imported late: ``dnn bench --help`` needs no build)."""
    import dnn

    return dnn.L_layer_model


#: Iterations of the fit whose steady state dnn's rows time: the course's count, so
#: the planner treats it as the long fit it is (``dnn._plan``).
FIT_ITERATIONS = 2500


class _Enough(Exception):
    """Raised from the callback: the steady state has been timed."""


class _Dnn:
    """``dnn.L_layer_model`` with ``plan`` ("auto" or "blas"); timed through its callback."""

    name = "dnn"

    def __init__(self, layers_dims, X, Y, dtype, plan="auto"):
        self._fit = _dnn_L_layer_model()
        self._args = (X, Y, list(layers_dims))
        self._plan = plan
        self._dims, self._m, self._dtype = tuple(layers_dims), X.shape[1], dtype
        self._kw = _plan_keyword(plan)
        if plan == "blas" and not self._kw:
            self._fit = _legacy_blas(self._fit)

    def run(self, k):
        self._fit(*self._args, learning_rate=LEARNING_RATE, num_iterations=k, **self._kw)

    def steady(self, target):
        """``(seconds per iteration, set-up seconds)`` of a FIT_ITERATIONS fit.

        The callback (after every chunk: up to the next recorded cost, or
        0.05 s) notes the clock and the iterations done; the slope between the
        first callback and the last is the steady state, and the time to the
        first callback less its iterations at that rate the set-up
        (checks, initialization, planning, workspace, X^T X, threads). The
        fit is stopped, by an exception from the callback, once ``target``
        seconds of steady state are timed.
        """
        marks = []

        def callback(i, cost):
            marks.append((_clock(), i))
            if len(marks) >= 3 and marks[-1][0] - marks[0][0] >= target:
                raise _Enough

        gc.collect()
        gc_was = gc.isenabled()
        gc.disable()
        t0 = _clock()
        try:
            self._fit(*self._args, learning_rate=LEARNING_RATE, num_iterations=FIT_ITERATIONS,
                      callback=callback, **self._kw)
        except _Enough:
            pass
        finally:
            if gc_was:
                gc.enable()
        (t1, i1), (t2, i2) = marks[0], marks[-1]
        if i2 == i1:
            return (t1 - t0) / i1, 0.0
        slope = (t2 - t1) / (i2 - i1)
        return slope, max(0.0, t1 - t0 - i1 * slope)

    def describe(self):
        return _plan_text(self._dims, self._m, self._dtype, self._plan)


class _DnnBlas(_Dnn):
    name = "dnn-blas"

    def __init__(self, layers_dims, X, Y, dtype):
        super().__init__(layers_dims, X, Y, dtype, plan="blas")


def _plan_keyword(plan):
    """``L_layer_model``'s ``plan=`` keyword, or {} for a dnn without it (an older
    build, timed for comparison: see ``_legacy_blas``)."""
    import inspect

    if "plan" in inspect.signature(_dnn_L_layer_model()).parameters:
        return {"plan": plan}
    return {}


def _legacy_blas(fit):
    """An older dnn's fit with every product on BLAS: its rule patched for the call only."""
    from dnn import models

    def blas_fit(*args, **kwargs):
        rule = models._own_products
        models._own_products = lambda dims, *a, **k: [0] * (len(dims) - 1)
        try:
            return fit(*args, **kwargs)
        finally:
            models._own_products = rule

    return blas_fit


def _plan_text(dims, m, dtype, plan):
    """The plan a FIT_ITERATIONS fit of dnn uses here, as ``Plan.code()``, or ``?``."""
    from dnn import models

    if not hasattr(models, "_plan"):
        return _legacy_plan_text(models, dims, m, dtype, plan)
    from dnn import _plan

    if plan == "blas":
        p = _plan.blas_plan(dims, m, dtype, FIT_ITERATIONS)
    else:
        p = _plan.plan_for(dims, m, dtype, FIT_ITERATIONS)
    return "?" if p is None else p.code()


def _legacy_plan_text(models, dims, m, dtype, plan):
    """The same for a dnn before ``dnn._plan`` (its rule functions), to time it beside."""
    try:
        gram = models._gram_form(dims, m, FIT_ITERATIONS)
        shards = models._shards(dims, m, gram, 100)
        own = models._own_products(dims, m, np.dtype(dtype).itemsize, shards, gram,
                                   FIT_ITERATIONS)
        sm = models._samples_major(dims, np.dtype(dtype))
    except (AttributeError, TypeError):
        return "rules"
    flags = "".join(f for f, on in ((" G", gram), (" SM", sm)) if on)
    return "x%d%s %s" % (shards, flags, ".".join(
        ("o" if o & 1 else "b") + ("x" if o & 4 else "o" if o & 2 else "b") for o in own))


class _Reference:
    name = "ref"

    def __init__(self, layers_dims, X, Y, dtype):
        from dnn import reference

        self._fit = reference.L_layer_model
        self._args = (X, Y, list(layers_dims))

    def run(self, k):
        # cost_every=0: the reference computes the cost every iteration anyway,
        # it then only skips appending it to a list.
        self._fit(*self._args, learning_rate=LEARNING_RATE, num_iterations=k, cost_every=0)


class _Torch:
    name = "torch"

    def __init__(self, layers_dims, X, Y, dtype):
        import torch

        tdtype = torch.float64 if dtype == np.float64 else torch.float32
        params = _initial_parameters(layers_dims, dtype)
        layers = []
        L = len(layers_dims) - 1
        for l in range(1, L + 1):
            lin = torch.nn.Linear(layers_dims[l - 1], layers_dims[l], dtype=tdtype)
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(params["W%d" % l]))
                lin.bias.copy_(torch.from_numpy(params["b%d" % l].ravel()))
            layers.append(lin)
            if l < L:
                layers.append(torch.nn.ReLU())
        self._torch = torch
        self._model = torch.nn.Sequential(*layers)
        # samples-major, the layout nn.Linear expects
        self._X = torch.from_numpy(np.ascontiguousarray(X.T))
        self._Y = torch.from_numpy(np.ascontiguousarray(Y.T))
        self._loss = torch.nn.BCEWithLogitsLoss()
        self._opt = torch.optim.SGD(self._model.parameters(), lr=LEARNING_RATE, momentum=0.0)

    def run(self, k):
        model, loss_fn, opt, X, Y = self._model, self._loss, self._opt, self._X, self._Y
        for _ in range(k):
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(X), Y)
            loss.backward()
            opt.step()


class _Sklearn:
    name = "sklearn"

    def __init__(self, layers_dims, X, Y, dtype):
        from sklearn.neural_network import MLPClassifier

        m = X.shape[1]
        self._clf = MLPClassifier(
            hidden_layer_sizes=tuple(layers_dims[1:-1]), activation="relu", solver="sgd",
            batch_size=m, learning_rate="constant", learning_rate_init=LEARNING_RATE,
            momentum=0.0, nesterovs_momentum=False, alpha=0.0, shuffle=False,
            early_stopping=False, tol=0.0, n_iter_no_change=2**31 - 1, max_iter=1,
            warm_start=True, random_state=0)
        self._X = np.ascontiguousarray(X.T)  # samples-major, as scikit-learn wants
        self._y = Y.ravel().astype(np.int64)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self._clf.fit(self._X, self._y)  # builds coefs_ (and checks float32 is kept)
        params = _initial_parameters(layers_dims, dtype)
        L = len(layers_dims) - 1
        self._clf.coefs_ = [np.ascontiguousarray(params["W%d" % l].T) for l in range(1, L + 1)]
        self._clf.intercepts_ = [params["b%d" % l].ravel().copy() for l in range(1, L + 1)]

    def run(self, k):
        self._clf.max_iter = k
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ConvergenceWarning after every fit
            self._clf.fit(self._X, self._y)


_IMPLEMENTATIONS = {"dnn": _Dnn, "dnn-blas": _DnnBlas, "ref": _Reference, "torch": _Torch,
                    "sklearn": _Sklearn}


def _available(name):
    """None if implementation ``name`` can run here, else why not."""
    try:
        if name in ("dnn", "dnn-blas"):
            _dnn_L_layer_model()
        elif name == "torch":
            import torch  # noqa: F401
        elif name == "sklearn":
            import sklearn.neural_network  # noqa: F401
    except ImportError as exc:
        return str(exc)
    return None


# --------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------

#: The clock of every measurement: wall time by default; ``--clock cpu`` makes
#: it this process's CPU time, which on a loaded machine leaves out the time
#: other processes had the core. Honest only with one thread: with more, it
#: adds up all threads, and BLAS threads that spin while they wait count too.
_clock = time.perf_counter


def _timed(fn, *args):
    gc.collect()
    gc_was = gc.isenabled()
    gc.disable()
    try:
        t0 = _clock()
        fn(*args)
        return _clock() - t0
    finally:
        if gc_was:
            gc.enable()


def _calibrate(impl, target, max_k=1 << 20):
    """Iterations k such that ``impl.run(k)`` lasts about ``target`` seconds (after a warm-up)."""
    impl.run(1)  # warm-up: first-call costs (imports, BLAS buffers, page faults)
    k = 1
    while True:
        t = min(_timed(impl.run, k), _timed(impl.run, k))
        if t >= target or k >= max_k:
            return k
        k = min(max_k, max(k + 1, min(16 * k, int(math.ceil(k * 1.2 * target / max(t, 1e-9))))))


def _steady(impl, k):
    """``(seconds per iteration, set-up seconds)`` from fits of k and 3k iterations."""
    if hasattr(impl, "steady"):
        return impl.steady(k)
    t1 = _timed(impl.run, k)
    time.sleep(SETTLE_SECONDS)
    t3 = _timed(impl.run, 3 * k)
    # other processes' load can make the difference meaningless: then the long run alone
    per = (t3 - t1) / (2 * k) if t3 > t1 else t3 / (3 * k)
    return per, max(0.0, t1 - k * per)


#: Idle seconds before each timed call. Thread pools spin for a while after
#: their last call before they sleep (OpenBLAS's for 2**28 cycles, about 0.1 s;
#: OpenMP's too): measured right after another implementation, a multi-threaded
#: one would share the cores with the previous one's spinning threads.
SETTLE_SECONDS = 0.2


def time_iterations(impls, repeats, target, max_seconds=None):
    """Steady-state seconds per iteration of each implementation, timed in alternation.

    dnn's rows time a real fit through its callback (``_Dnn.steady``: the
    plan is the one a FIT_ITERATIONS fit gets, its set-up apart); the others
    run k and 3k iterations, k calibrated to a third of ``target``, and the
    difference is 2k iterations without set-up. ``repeats`` rounds, round
    robin, up to 3x while the quartile spread is above 10 % and time allows.
    Returns name -> dict(median, iqr, min, n, setup, first_setup).
    """
    ks = {}
    first = {}
    for name, impl in impls.items():
        if hasattr(impl, "steady"):
            ks[name] = target
            first[name] = impl.steady(target / 4)[1]  # warm-up; plans a new fit
        else:
            ks[name] = max(1, _calibrate(impl, target / 3))
    samples = {name: [] for name in impls}
    setups = {name: [] for name in impls}
    t_start = time.perf_counter()
    rounds = 0
    while True:
        for name, impl in impls.items():
            time.sleep(SETTLE_SECONDS)
            gc.collect()
            per, setup = _steady(impl, ks[name])
            samples[name].append(per)
            setups[name].append(setup)
        rounds += 1
        if rounds < repeats:
            continue
        if rounds >= 3 * repeats:
            break
        if max_seconds is not None and time.perf_counter() - t_start > max_seconds:
            break
        if all(_iqr_fraction(s) <= 0.10 for s in samples.values()):
            break
    return {name: {"median": statistics.median(s), "iqr": _iqr_fraction(s), "min": min(s),
                   "n": len(s), "setup": statistics.median(setups[name]),
                   "first_setup": first.get(name)}
            for name, s in samples.items()}


def _iqr_fraction(s):
    if len(s) < 4:
        return 0.0
    q = statistics.quantiles(s, n=4)
    return (q[2] - q[0]) / q[1]


def gemm_peak(dtype, n=2048, repeats=5):
    """Median GFLOP/s of an ``n x n`` by ``n x n`` gemm through ``scipy.linalg.blas``.

    SciPy's OpenBLAS is the library dnn's kernels call (through
    ``scipy.linalg.cython_blas``); NumPy carries its own copy. Fortran-ordered
    operands and a preallocated output: no copies, no page faults timed.
    """
    from scipy.linalg import blas

    gemm = blas.dgemm if dtype == np.float64 else blas.sgemm
    rng = np.random.default_rng(1)
    a = np.asfortranarray(rng.random((n, n)).astype(dtype))
    b = np.asfortranarray(rng.random((n, n)).astype(dtype))
    c = np.zeros((n, n), dtype=dtype, order="F")
    gemm(1.0, a, b, 0.0, c, 0, 0, 1)
    times = [_timed(gemm, 1.0, a, b, 0.0, c, 0, 0, 1) for _ in range(repeats)]
    return 2.0 * n ** 3 / statistics.median(times) / 1e9


# --------------------------------------------------------------------------
# Memory (fresh subprocesses)
# --------------------------------------------------------------------------

def _vm_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise OSError("no %s in /proc/self/status" % field)


def _reset_peak_rss():
    """Linux: reset the high-water mark to the current RSS; returns the RSS (bytes), or None."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return _vm_kib("VmRSS") * 1024
    except OSError:
        return None


def _peak_rss():
    """The process's resident-set high-water mark, in bytes, on Linux, macOS and Windows."""
    try:
        return _vm_kib("VmHWM") * 1024
    except OSError:
        pass
    try:
        import resource
    except ImportError:  # Windows
        import ctypes
        from ctypes import wintypes

        class Counters(ctypes.Structure):
            _fields_ = [("cb", wintypes.DWORD), ("PageFaultCount", wintypes.DWORD)] + [
                (name, ctypes.c_size_t) for name in (
                    "PeakWorkingSetSize", "WorkingSetSize", "QuotaPeakPagedPoolUsage",
                    "QuotaPagedPoolUsage", "QuotaPeakNonPagedPoolUsage",
                    "QuotaNonPagedPoolUsage", "PagefileUsage", "PeakPagefileUsage")]

        c = Counters()
        c.cb = ctypes.sizeof(c)
        process = ctypes.windll.kernel32.GetCurrentProcess()
        if not ctypes.windll.psapi.GetProcessMemoryInfo(process, ctypes.byref(c), c.cb):
            raise OSError("GetProcessMemoryInfo failed")
        return c.PeakWorkingSetSize
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # macOS: bytes; others: KiB


def _memory_child(name, shape, dtype_name, iterations, how):
    """Runs in a subprocess: peak extra memory of training ``name`` (bytes) as JSON on stdout."""
    dims, m, _ = SHAPES[shape]
    dtype = DTYPES[dtype_name]
    X, Y = make_data(dims, m, dtype)
    impl = _IMPLEMENTATIONS[name](dims, X, Y, dtype)
    np.ones((64, 64)) @ np.ones((64, 64))  # BLAS thread buffers exist before the baseline
    gc.collect()
    if how == "rss":
        # Linux resets the high-water mark to the current RSS: the rise is
        # exactly training's. Elsewhere the mark cannot be reset, and the rise
        # above it (set while the data were built) is a lower bound.
        before = _reset_peak_rss()
        if before is None:
            before = _peak_rss()
        impl.run(iterations)
        peak = max(0, _peak_rss() - before)
    else:
        import tracemalloc

        tracemalloc.start()
        tracemalloc.reset_peak()
        impl.run(iterations)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    print(json.dumps({"peak": peak}))


def peak_memory(name, shape="S4", dtype_name="float64", iterations=3, how="rss", threads=None):
    """Peak memory (bytes) that training ``name`` adds, measured in a fresh subprocess."""
    code = ("from dnn.bench import _memory_child; _memory_child(%r, %r, %r, %d, %r)"
            % (name, shape, dtype_name, iterations, how))
    env = dict(os.environ)
    if threads:
        env["OPENBLAS_NUM_THREADS"] = env["OMP_NUM_THREADS"] = str(threads)
    # The child runs where the dnn this process imported lies, so it imports the
    # same one (from a checkout's root, the current directory would give it the
    # source tree, which has no compiled extensions).
    import dnn

    where = os.path.dirname(os.path.dirname(os.path.abspath(dnn.__file__)))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         cwd=where)
    if out.returncode != 0:
        raise RuntimeError("the peak-memory subprocess for %s failed:\n%s"
                           % (name, out.stderr.strip()))
    return json.loads(out.stdout.strip().splitlines()[-1])["peak"]


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------

def _loadavg():
    try:
        with open("/proc/loadavg") as f:
            return f.read().split()[0]
    except OSError:
        return "n/a"


def _machine_lines(threads):
    from threadpoolctl import threadpool_info

    import scipy

    from dnn._plan import cpu_name

    cpu = cpu_name()
    versions = ["numpy %s" % np.__version__, "scipy %s" % scipy.__version__]
    for mod in ("torch", "sklearn"):
        try:
            versions.append("%s %s" % (mod, __import__(mod).__version__))
        except ImportError:
            versions.append("%s n/a" % mod)
    pools = sorted({"%s %s %s" % (p.get("internal_api"), p.get("version"), p.get("architecture", ""))
                    for p in threadpool_info()})
    return [
        "machine: %s, %d cores; BLAS threads: %d" % (cpu, os.cpu_count() or 1, threads),
        "versions: python %s, %s" % (platform.python_version(), ", ".join(versions)),
        "BLAS/OpenMP pools: %s" % "; ".join(pools),
        "OPENBLAS_CORETYPE=%s" % os.environ.get("OPENBLAS_CORETYPE", "(unset)"),
        "dnn's own vector kernels: %s build" % _simd_build(),
    ]


def _simd_build():
    """The build of dnn's own vector kernels in use (imported late, as ``dnn bench --help``)."""
    from dnn import _train

    return _train.simd_kernels()


def _fmt_ms(sec):
    if sec is None:
        return "n/a"
    ms = sec * 1e3
    return "%.3g" % ms if ms < 100 else "%.0f" % ms


def _fmt_ratio(t, base):
    if t is None or base is None:
        return "n/a"
    return "%.2fx" % (t / base)


def _cells(r):
    """One row's cells: plan, dnn's steady ms and set-up, each peer's ms and ratio, % of peak."""
    t = r["times"]
    dnn = t.get("dnn")
    cells = [r["shape"], r["dtype"], r.get("plan", "n/a"), _fmt_ms(dnn),
             _fmt_ms(r.get("setup", {}).get("dnn"))]
    for p in ("dnn-blas", "torch", "sklearn", "ref"):
        cells += [_fmt_ms(t.get(p)), _fmt_ratio(t.get(p), dnn)]
    cells.append("n/a" if dnn is None else "%.0f%%" % (100 * r["flops"] / dnn / 1e9 / r["peak"]))
    return cells


_HEADER = ["shape", "dtype", "plan", "dnn ms", "set-up ms", "all-BLAS ms", "all-BLAS/dnn",
           "torch ms", "torch/dnn", "sklearn ms", "sklearn/dnn", "ref ms", "ref/dnn",
           "of gemm peak"]


def _render(header, body, markdown, right_from=2):
    if markdown:
        lines = ["| " + " | ".join(header) + " |",
                 "|" + "|".join("---" if i < right_from else "---:"
                                for i in range(len(header))) + "|"]
        return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in body])
    widths = [max(len(h), *(len(row[i]) for row in body)) for i, h in enumerate(header)]
    fmt = "  ".join("%-*s" if i < right_from else "%*s" for i in range(len(header)))
    out = [fmt % tuple(x for pair in zip(widths, header) for x in pair)]
    out += [fmt % tuple(x for pair in zip(widths, row) for x in pair) for row in body]
    return "\n".join(out)


def _table(rows, markdown):
    """The table of one configuration; columns of peers not timed are left out."""
    body = [_cells(r) for r in rows]
    keep = [i for i, h in enumerate(_HEADER)
            if any(row[i] != "n/a" for row in body) or i < 5]
    return _render([_HEADER[i] for i in keep], [[row[i] for i in keep] for row in body],
                   markdown, right_from=3)


def _parse_list(text, allowed, what):
    items = [s.strip() for s in text.split(",") if s.strip()]
    bad = [s for s in items if s not in allowed]
    if bad or not items:
        raise argparse.ArgumentTypeError("unknown %s %s; choose from %s"
                                         % (what, ",".join(bad) or "(none)", ",".join(allowed)))
    return items


def build_parser():
    p = argparse.ArgumentParser(
        prog="dnn bench",
        description="Steady-state time per full-batch training iteration (set-up apart): "
                    "dnn with the plan a real fit gets, dnn with every product on BLAS, "
                    "PyTorch (CPU), scikit-learn's MLPClassifier and the NumPy reference, with "
                    "the fraction of the machine's gemm throughput dnn reaches. --matrix runs "
                    "it for BLAS threads 1 and 2 x OpenBLAS kernels as picked and Haswell.")
    p.add_argument("--shapes", default=",".join(SHAPES),
                   type=lambda s: _parse_list(s, SHAPES, "shape"),
                   help="comma-separated subset of %s (default: all)" % ",".join(SHAPES))
    p.add_argument("--dtypes", default="float64,float32",
                   type=lambda s: _parse_list(s, DTYPES, "dtype"),
                   help="comma-separated subset of float64,float32 (default: both)")
    p.add_argument("--peers", default=None,
                   type=lambda s: _parse_list(s, PEERS, "implementation"),
                   help="implementations to time (default: %s; with --matrix: all but ref; "
                        "missing ones show n/a)" % ",".join(PEERS))
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                   help="BLAS/OpenMP threads for every implementation (default: all cores)")
    p.add_argument("--repeat", type=int, default=None,
                   help="minimum measurements per cell (default 5, 3 with --quick or --matrix)")
    p.add_argument("--target-time", type=float, default=None,
                   help="seconds of steady state per measurement (default 0.3, 0.1 with "
                        "--quick or --matrix)")
    p.add_argument("--quick", action="store_true",
                   help="fewer, shorter measurements (rough numbers in a few minutes)")
    p.add_argument("--markdown", action="store_true", help="print a Markdown table")
    p.add_argument("--memory-shape", default="S4", choices=list(SHAPES),
                   help="shape of the peak-memory comparison (default S4)")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory comparison")
    p.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                   help="wall time (default), or this process's CPU time, which is robust "
                        "to other load but only meaningful with --threads 1 (--matrix: for its "
                        "1-thread configurations)")
    p.add_argument("--stat", choices=("median", "min"), default="median",
                   help="statistic of the repeated measurements shown (default median)")
    p.add_argument("--simd", choices=("baseline", "avx2", "avx512"),
                   help="build of dnn's own vector kernels to time (default: the best this CPU "
                        "runs), to see what a CPU without AVX-512 or AVX2 gets")
    p.add_argument("--json", metavar="FILE", help="also write the raw results to FILE")
    p.add_argument("--matrix", action="store_true",
                   help="run every configuration (--matrix-threads x --matrix-kernels), each in "
                        "a child process whose environment is set before NumPy loads, and print "
                        "one matrix")
    p.add_argument("--matrix-threads", default="1,2",
                   help="BLAS thread counts of the matrix (default 1,2)")
    p.add_argument("--matrix-kernels", default="auto,Haswell",
                   help="OpenBLAS kernel sets of the matrix: auto (OPENBLAS_CORETYPE and "
                        "OPENBLAS_L2_SIZE unset: OpenBLAS picks) and/or a core type such as "
                        "Haswell (default auto,Haswell)")
    p.add_argument("--max-minutes", type=float, default=15.0,
                   help="--matrix: stop starting cells after this long (default 15); cells "
                        "not run are listed")
    p.add_argument("--wisdom", action="store_true",
                   help="let dnn use the user's wisdom file (default: off in the benchmark, "
                        "so every run plans afresh, as a first fit does)")
    p.add_argument("--report", nargs="+", metavar="JSON",
                   help="print the matrix of earlier --matrix --json runs instead of measuring "
                        "(a configuration in a later file replaces the same one in an earlier "
                        "file where it has rows)")
    p.add_argument("--deadline", type=float, default=None, help=argparse.SUPPRESS)
    return p


def main(argv=None):
    """Run the comparison and print the table; returns the exit status (0)."""
    args = build_parser().parse_args(argv)
    if args.report:
        return report_main(args)
    if args.matrix:
        return matrix_main(args)
    if args.peers is None:
        args.peers = list(PEERS)
    repeats = args.repeat or (3 if args.quick else 5)
    target = args.target_time or (0.1 if args.quick else 0.3)
    if args.threads < 1:
        raise SystemExit("dnn bench: --threads must be >= 1")
    if args.clock == "cpu" and args.threads != 1:
        raise SystemExit("dnn bench: --clock cpu needs --threads 1 (CPU time adds up threads)")
    if not args.wisdom:
        os.environ["DNN_WISDOM"] = "off"
    if args.simd:
        from dnn import _train

        if _train.simd_kernels(args.simd) != args.simd:
            raise SystemExit("dnn bench: this CPU does not run the %s build (best: %s)"
                             % (args.simd, _train.simd_cpu_level()))
    global _clock
    _clock = time.process_time if args.clock == "cpu" else time.perf_counter
    load_start = _loadavg()

    from threadpoolctl import threadpool_limits

    peers = [p for p in args.peers]
    missing = {p: _available(p) for p in peers}
    for p, why in missing.items():
        if why:
            print("note: %s not timed (%s)" % (p, why), file=sys.stderr)
    peers = [p for p in peers if not missing[p]]
    if "torch" in peers:
        import torch

        torch.set_num_threads(args.threads)

    rows = []
    out = {"rows": rows}
    with threadpool_limits(limits=args.threads):
        info = _machine_lines(args.threads)
        out["info"] = info
        out["blas"] = _blas_kernels()
        peaks = {d: gemm_peak(DTYPES[d]) for d in args.dtypes}
        out["peaks"] = peaks
        for shape in args.shapes:
            dims, m, _ = SHAPES[shape]
            for dname in args.dtypes:
                if args.deadline is not None and time.time() > args.deadline:
                    out["stopped"] = "deadline reached before %s %s" % (shape, dname)
                    break
                dtype = DTYPES[dname]
                X, Y = make_data(dims, m, dtype)
                impls = {p: _IMPLEMENTATIONS[p](dims, X, Y, dtype) for p in peers}
                res = time_iterations(impls, repeats, target)
                stat = "min" if args.stat == "min" else "median"
                rows.append({"shape": shape, "dtype": dname, "dims": list(dims), "m": m,
                             "flops": iteration_flops(dims, m), "peak": peaks[dname],
                             "plan": impls["dnn"].describe() if "dnn" in impls else "n/a",
                             "times": {p: res[p][stat] for p in res},
                             "median": {p: res[p]["median"] for p in res},
                             "min": {p: res[p]["min"] for p in res},
                             "spread": {p: res[p]["iqr"] for p in res},
                             "n": {p: res[p]["n"] for p in res},
                             "setup": {p: res[p]["setup"] for p in res},
                             "first_setup": {p: res[p]["first_setup"] for p in res}})
                print("  %s %s [%s]: %s" % (shape, dname, rows[-1]["plan"], ", ".join(
                    "%s %s ms" % (p, _fmt_ms(t)) for p, t in rows[-1]["times"].items())),
                    file=sys.stderr, flush=True)
                del impls, X, Y
                if args.json:
                    _write_json(args.json, out)
            if "stopped" in out:
                break
        # the peak again at the end: the table uses the higher of the two
        for d in args.dtypes:
            peaks[d] = max(peaks[d], gemm_peak(DTYPES[d]))
        for r in rows:
            r["peak"] = peaks[r["dtype"]]

    memory = {}
    if not args.no_memory:
        try:
            for p in ("dnn", "ref"):
                if p in peers:
                    memory[p] = {how: peak_memory(p, args.memory_shape, "float64", how=how,
                                                  threads=args.threads)
                                 for how in ("rss", "tracemalloc")}
        except (RuntimeError, OSError) as exc:  # the timings are printed all the same
            print("peak memory not measured: %s" % exc, file=sys.stderr)
            memory = {}
    out["memory"] = memory

    info.append("load average (1 min) at start %s, at end %s; clock: %s; statistic: %s"
                % (load_start, _loadavg(), args.clock, args.stat))
    lines = info + ["gemm peak (%s, scipy.linalg.blas, n=2048): %s" % (
        "higher of start and end of run",
        ", ".join("%s %.1f GFLOP/s" % (d, peaks[d]) for d in args.dtypes))]
    lines.append("%s steady-state ms per training iteration (full batch, lr %g), set-up apart;"
                 " ratios = peer time / dnn time, >1 means dnn is faster; all-BLAS = dnn with"
                 " plan=\"blas\"" % (args.stat, LEARNING_RATE))
    lines.append("plan: the plan dnn's %d-iteration fit used (dnn._plan.Plan.code: x<shards>,"
                 " G Gram form, SM samples-major, per layer W H / dZ H^T: o own kernel,"
                 " b BLAS, x own over the copy of X^T)" % FIT_ITERATIONS)
    lines.append("of gemm peak: the gemm FLOPs of the standard algorithm (iteration_flops) per"
                 " second over the gemm peak; above 100% where dnn does less work (the Gram"
                 " form) or its own kernels outrun that BLAS")
    print("\n".join(("- " + l) if args.markdown else l for l in lines))
    print()
    print(_table(rows, args.markdown))
    if memory:
        dims, m, _ = SHAPES[args.memory_shape]
        print()
        print("peak memory of training %s (%s, m=%d, float64, 3 iterations), fresh subprocess each:"
              % (args.memory_shape, list(dims), m))
        for p, d in memory.items():
            print("%s%-4s  RSS high-water rise %7.1f MiB   tracemalloc peak %7.1f MiB"
                  % ("- " if args.markdown else "  ", p, d["rss"] / 2**20, d["tracemalloc"] / 2**20))
    if args.json:
        out["info"] = info
        _write_json(args.json, out)
    return 0


def _write_json(path, data):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=1)
    os.replace(tmp, path)


def _blas_kernels():
    """``internal_api version architecture`` of each BLAS loaded (SciPy's is dnn's)."""
    from threadpoolctl import threadpool_info

    import scipy.linalg  # noqa: F401

    return sorted({"%s %s %s" % (p.get("internal_api"), p.get("version"), p.get("architecture"))
                   for p in threadpool_info() if p.get("user_api") == "blas"})


# --------------------------------------------------------------------------
# The matrix: one child process per configuration
# --------------------------------------------------------------------------

def _cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return None


#: CPU flags each forced OpenBLAS core type needs (x86-64).
_CORETYPE_NEEDS = {"haswell": {"avx2", "fma"}, "skylakex": {"avx512f", "avx512bw"},
                   "zen": {"avx2", "fma"}, "sandybridge": {"avx"}}


def _config_env(threads, kernels):
    """The child's environment, or ``(None, why)`` if this CPU cannot run ``kernels``."""
    env = dict(os.environ)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)
    if kernels == "auto":
        env.pop("OPENBLAS_CORETYPE", None)
        env.pop("OPENBLAS_L2_SIZE", None)
        return env, None
    need = _CORETYPE_NEEDS.get(kernels.lower())
    flags = _cpu_flags()
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return None, "not an x86-64 CPU"
    if need is not None and flags is not None and not need <= flags:
        return None, "CPU lacks %s" % ",".join(sorted(need - flags))
    env["OPENBLAS_CORETYPE"] = kernels
    return env, None


def _site_dirs():
    """This interpreter's site-packages folders (a package installed there is found anyway)."""
    import site

    dirs = list(getattr(site, "getsitepackages", lambda: [])())
    user = getattr(site, "getusersitepackages", lambda: None)()
    return {os.path.abspath(d) for d in dirs + ([user] if user else [])}


def matrix_main(args):
    """Run each configuration in a child process; print the matrix. Returns 0."""
    import tempfile

    threads = [int(t) for t in args.matrix_threads.split(",") if t.strip()]
    kernels = [k.strip() for k in args.matrix_kernels.split(",") if k.strip()]
    peers = args.peers or [p for p in PEERS if p != "ref"]
    deadline = time.time() + 60 * args.max_minutes
    results = []
    for kern in kernels:
        for t in threads:
            name = "%d thread%s, OpenBLAS %s" % (t, "" if t == 1 else "s",
                                                 "as picked" if kern == "auto" else kern)
            env, why = _config_env(t, kern)
            conf = {"name": name, "threads": t, "kernels": kern, "rows": []}
            results.append(conf)
            if env is None:
                conf["skipped"] = why
                print("%s: not run (%s)" % (name, why), file=sys.stderr)
                continue
            if time.time() > deadline:
                conf["skipped"] = "time limit (--max-minutes) reached"
                continue
            fd, path = tempfile.mkstemp(suffix=".json")
            os.close(fd)
            cmd = [sys.executable, "-m", "dnn.bench", "--threads", str(t), "--no-memory",
                   "--shapes", ",".join(args.shapes), "--dtypes", ",".join(args.dtypes),
                   "--peers", ",".join(peers), "--repeat", str(args.repeat or 3),
                   "--target-time", str(args.target_time or 0.1), "--json", path,
                   "--deadline", str(deadline), "--stat", args.stat]
            if args.clock == "cpu" and t == 1:
                cmd += ["--clock", "cpu"]
                conf["clock"] = "cpu"
            if args.wisdom:
                cmd.append("--wisdom")
            if args.simd:
                cmd += ["--simd", args.simd]
            print("%s ..." % name, file=sys.stderr, flush=True)
            # The child imports the dnn this process runs: not a source checkout in the working
            # directory (no compiled extensions unless built in place), which ``-m`` puts first on
            # its path. It runs in a folder of its own (not a shared /tmp anyone can write to),
            # with this dnn's folder on its path unless that is a site directory already.
            here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
            if here not in _site_dirs():
                env["PYTHONPATH"] = os.pathsep.join([here] + [p for p in [env.get("PYTHONPATH")] if p])
            workdir = tempfile.mkdtemp(prefix="dnn-bench-")
            try:
                done = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, cwd=workdir,
                                      timeout=max(10.0, deadline - time.time() + 120))
                if done.returncode:
                    conf["stopped"] = "the run failed (exit status %d; its error is above)" % done.returncode
            except subprocess.TimeoutExpired:
                conf["stopped"] = "killed at the time limit"
            finally:
                os.rmdir(workdir)
            try:
                with open(path) as f:
                    data = json.load(f)
            except (OSError, ValueError):
                data = {}
            os.unlink(path)
            conf.update({k: data[k] for k in ("rows", "info", "blas", "peaks", "stopped")
                         if k in data})
            blas = " ".join(conf.get("blas", []))
            if kern != "auto" and blas and kern.lower() not in blas.lower():
                conf["skipped"] = "OpenBLAS did not take %s (runs: %s)" % (kern, blas)
                conf["rows"] = []
    _print_matrix(results, args.markdown)
    if args.json:
        _write_json(args.json, {"configurations": results})
    return 0


def report_main(args):
    """Print the matrix of earlier ``--matrix --json`` files, merged. Returns 0."""
    merged = {}
    for path in args.report:
        try:
            with open(path) as f:
                configurations = json.load(f)["configurations"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise SystemExit("dnn bench: --report %s: not a --matrix --json file (%s)"
                             % (path, exc))
        for c in configurations:
            if c.get("rows") or c["name"] not in merged:
                merged[c["name"]] = c
    _print_matrix(list(merged.values()), args.markdown)
    return 0


def _print_matrix(results, markdown):
    info = next((c["info"] for c in results if c.get("info")), None)
    if info:
        print("\n".join(("- " + l) if markdown else l for l in info[:2]))
    for c in results:
        arch = "; ".join(c.get("blas", []))
        peaks = c.get("peaks", {})
        note = c.get("skipped") or c.get("stopped") or ""
        print("%s%s: BLAS %s; %s clock; gemm peak %s%s" % (
            "- " if markdown else "", c["name"], arch or "n/a", c.get("clock", "wall"),
            ", ".join("%s %.0f GFLOP/s" % kv for kv in sorted(peaks.items())) or "n/a",
            (" -- " + note) if note else ""))
    print()
    header = ["configuration", "shape", "dtype", "plan", "dnn ms", "set-up ms", "all-BLAS/dnn",
              "torch/dnn", "sklearn/dnn", "of gemm peak"]
    body = []
    for c in results:
        for r in c.get("rows", []):
            t = r["times"]
            dnn = t.get("dnn")
            body.append([c["name"], r["shape"], r["dtype"], r.get("plan", "n/a"), _fmt_ms(dnn),
                         _fmt_ms(r.get("setup", {}).get("dnn")),
                         _fmt_ratio(t.get("dnn-blas"), dnn), _fmt_ratio(t.get("torch"), dnn),
                         _fmt_ratio(t.get("sklearn"), dnn),
                         "n/a" if not dnn else "%.0f%%" % (100 * r["flops"] / dnn / 1e9
                                                           / r["peak"])])
    if body:
        print(_render(header, body, markdown, right_from=4))
        print()
        print(_render(*_summary(results), markdown, right_from=1))


def _summary(results):
    """Per configuration, against the targets: the lowest ratio to each peer (and where),
    and S4's and S5's share of the gemm peak."""
    header = ["configuration", "torch/dnn, lowest", "sklearn/dnn, lowest",
              "all-BLAS/dnn, lowest", "S4, S5 of gemm peak"]
    body = []
    for c in results:
        rows = c.get("rows", [])
        if not rows:
            continue
        cells = [c["name"]]
        for peer in ("torch", "sklearn", "dnn-blas"):
            ratios = [(r["times"][peer] / r["times"]["dnn"], "%s %s" % (r["shape"], r["dtype"][5:]))
                      for r in rows if r["times"].get(peer) and r["times"].get("dnn")]
            cells.append("%.2fx (%s)" % min(ratios) if ratios else "n/a")
        cells.append(", ".join("%s %s %.0f%%" % (r["shape"], r["dtype"][5:], 100 * r["flops"]
                                                 / r["times"]["dnn"] / 1e9 / r["peak"])
                               for r in rows if r["shape"] in ("S4", "S5")
                               and r["times"].get("dnn")) or "n/a")
        body.append(cells)
    return header, body


if __name__ == "__main__":
    sys.exit(main())

"""Training-speed comparison: ``dnn`` against its reference and its peers.

``python -m dnn.bench`` (also ``dnn bench`` and ``python benchmarks/compare.py``)
prints one table: for each benchmark shape S1..S6 and each dtype, the median
time of one full-batch gradient-descent iteration of an L-layer network
``[LINEAR->RELU]*(L-1) -> LINEAR -> SIGMOID`` with binary cross-entropy, for

- ``dnn``: the public ``dnn.L_layer_model`` (compiled training loop);
- ``ref``: ``dnn.reference.L_layer_model`` (the course's NumPy code);
- ``torch``: PyTorch on the CPU, ``nn.Linear``/``nn.ReLU`` stack, ``BCEWithLogitsLoss``
  and ``torch.optim.SGD`` (no momentum), full batch, started from dnn's initial
  parameters, same learning rate (only if torch is installed);
- ``sklearn``: ``MLPClassifier(solver="sgd", batch_size=m, momentum=0, alpha=0,
  learning_rate="constant", shuffle=False)``, one ``fit`` of ``k`` epochs with
  ``warm_start`` from dnn's initial parameters (only if scikit-learn is installed).

How it measures (and why):

- All implementations run in this one process, with the same BLAS thread count
  (``threadpoolctl`` limits every BLAS and OpenMP pool; ``torch.set_num_threads``
  as well), and they are timed *in alternation*: repetition r measures dnn,
  then ref, then torch, then sklearn, then repetition r+1. Load from other
  processes on a shared machine then hits all of them alike, and the medians
  over the repetitions are compared.
- One measurement is one call that trains ``k`` iterations, divided by ``k``;
  ``k`` is calibrated per implementation so that a call lasts about
  ``--target-time`` seconds (0.3 s), so the per-call setup of ``L_layer_model``
  (initialization, checks, workspace) is amortized as it is in real training.
  The slow reference on the big shapes runs with small ``k`` (down to 1).
- The gemm column is the FLOP rate of one dnn iteration (forward
  ``2 n_l n_{l-1} m`` per layer; backward ``dW`` the same, and ``dA_prev`` the
  same except for the first layer, which nothing needs) as a fraction of the
  rate of a large square gemm of the same dtype, measured in the same run with
  ``scipy.linalg.blas`` (the OpenBLAS that dnn's kernels call).
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
PEERS = ("dnn", "ref", "torch", "sklearn")


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


class _Dnn:
    name = "dnn"

    def __init__(self, layers_dims, X, Y, dtype):
        self._fit = _dnn_L_layer_model()
        self._args = (X, Y, list(layers_dims))

    def run(self, k):
        self._fit(*self._args, learning_rate=LEARNING_RATE, num_iterations=k)


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


_IMPLEMENTATIONS = {"dnn": _Dnn, "ref": _Reference, "torch": _Torch, "sklearn": _Sklearn}


def _available(name):
    """None if implementation ``name`` can run here, else why not."""
    try:
        if name == "dnn":
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
    """Iterations per call so that a call lasts about ``target`` seconds (after a warm-up).

    Each step takes the faster of two calls: one call slowed by another
    process must not stop the search early, since the iteration count also
    decides how dnn trains (the Gram form pays only over enough iterations).
    """
    impl.run(1)  # warm-up: first-call costs (imports, BLAS buffers, page faults)
    k = 1
    while True:
        t = min(_timed(impl.run, k), _timed(impl.run, k))
        if t >= target or k >= max_k:
            return k
        # aim a little above target from the last rate, at most x16 per step
        k = min(max_k, max(k + 1, min(16 * k, int(math.ceil(k * 1.2 * target / max(t, 1e-9))))))


#: Idle seconds before each timed call. Thread pools spin for a while after
#: their last call before they sleep (OpenBLAS's for 2**28 cycles, about 0.1 s;
#: OpenMP's too): measured right after another implementation, a multi-threaded
#: one would share the cores with the previous one's spinning threads.
SETTLE_SECONDS = 0.2


def time_iterations(impls, repeats, target, max_seconds=None):
    """Median seconds per iteration of each implementation, timed in alternation.

    ``impls`` maps name -> object with ``run(k)``. Every implementation is
    calibrated, then measured ``repeats`` times round-robin; more rounds are
    added (up to 3x ``repeats``) while the spread between the quartiles is
    above 10 % and time allows. Returns name -> (median, iqr_fraction, k, n, min).
    """
    ks = {name: _calibrate(impl, target) for name, impl in impls.items()}
    samples = {name: [] for name in impls}
    t_start = time.perf_counter()
    rounds = 0
    while True:
        for name, impl in impls.items():
            time.sleep(SETTLE_SECONDS)
            samples[name].append(_timed(impl.run, ks[name]) / ks[name])
        rounds += 1
        if rounds < repeats:
            continue
        if rounds >= 3 * repeats:
            break
        if max_seconds is not None and time.perf_counter() - t_start > max_seconds:
            break
        if all(_iqr_fraction(s) <= 0.10 for s in samples.values()):
            break
    return {name: (statistics.median(s), _iqr_fraction(s), ks[name], len(s), min(s))
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

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
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


def _table(rows, markdown):
    header = ["shape", "dtype", "dnn ms", "ref ms", "ref/dnn", "torch ms", "torch/dnn",
              "sklearn ms", "sklearn/dnn", "dnn eff. GFLOP/s", "eff. of gemm peak"]
    body = []
    for r in rows:
        t = r["times"]
        body.append([
            r["shape"], r["dtype"], _fmt_ms(t.get("dnn")),
            _fmt_ms(t.get("ref")), _fmt_ratio(t.get("ref"), t.get("dnn")),
            _fmt_ms(t.get("torch")), _fmt_ratio(t.get("torch"), t.get("dnn")),
            _fmt_ms(t.get("sklearn")), _fmt_ratio(t.get("sklearn"), t.get("dnn")),
            "n/a" if t.get("dnn") is None else "%.1f" % (r["flops"] / t["dnn"] / 1e9),
            "n/a" if t.get("dnn") is None else "%.0f%%" % (100 * r["flops"] / t["dnn"] / 1e9
                                                          / r["peak"]),
        ])
    if markdown:
        lines = ["| " + " | ".join(header) + " |",
                 "|" + "|".join("---" if i < 2 else "---:" for i in range(len(header))) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in body]
        return "\n".join(lines)
    widths = [max(len(h), *(len(row[i]) for row in body)) for i, h in enumerate(header)]
    fmt = "  ".join("%-*s" if i < 2 else "%*s" for i in range(len(header)))
    out = [fmt % tuple(x for pair in zip(widths, header) for x in pair)]
    out += [fmt % tuple(x for pair in zip(widths, row) for x in pair) for row in body]
    return "\n".join(out)


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
        description="Median time per full-batch training iteration: dnn vs the NumPy "
                    "reference, PyTorch (CPU) and scikit-learn's MLPClassifier, with the "
                    "fraction of the machine's gemm throughput dnn reaches.")
    p.add_argument("--shapes", default=",".join(SHAPES),
                   type=lambda s: _parse_list(s, SHAPES, "shape"),
                   help="comma-separated subset of %s (default: all)" % ",".join(SHAPES))
    p.add_argument("--dtypes", default="float64,float32",
                   type=lambda s: _parse_list(s, DTYPES, "dtype"),
                   help="comma-separated subset of float64,float32 (default: both)")
    p.add_argument("--peers", default=",".join(PEERS),
                   type=lambda s: _parse_list(s, PEERS, "implementation"),
                   help="implementations to time (default: %s; missing ones show n/a)"
                        % ",".join(PEERS))
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                   help="BLAS/OpenMP threads for every implementation (default: all cores)")
    p.add_argument("--repeat", type=int, default=None,
                   help="minimum measurements per cell (default 5, 3 with --quick)")
    p.add_argument("--target-time", type=float, default=None,
                   help="seconds per measurement call (default 0.3, 0.05 with --quick)")
    p.add_argument("--quick", action="store_true",
                   help="fewer, shorter measurements (rough numbers in about a minute)")
    p.add_argument("--markdown", action="store_true", help="print a Markdown table")
    p.add_argument("--memory-shape", default="S4", choices=list(SHAPES),
                   help="shape of the peak-memory comparison (default S4)")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory comparison")
    p.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                   help="wall time (default), or this process's CPU time, which is robust "
                        "to other load but only meaningful with --threads 1")
    p.add_argument("--stat", choices=("median", "min"), default="median",
                   help="statistic of the repeated measurements shown (default median)")
    p.add_argument("--simd", choices=("baseline", "avx2", "avx512"),
                   help="build of dnn's own vector kernels to time (default: the best this CPU "
                        "runs), to see what a CPU without AVX-512 or AVX2 gets")
    p.add_argument("--json", metavar="FILE", help="also write the raw results to FILE")
    return p


def main(argv=None):
    """Run the comparison and print the table; returns the exit status (0)."""
    args = build_parser().parse_args(argv)
    repeats = args.repeat or (3 if args.quick else 5)
    target = args.target_time or (0.05 if args.quick else 0.3)
    if args.threads < 1:
        raise SystemExit("dnn bench: --threads must be >= 1")
    if args.clock == "cpu" and args.threads != 1:
        raise SystemExit("dnn bench: --clock cpu needs --threads 1 (CPU time adds up threads)")
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
    with threadpool_limits(limits=args.threads):
        info = _machine_lines(args.threads)
        peaks = {d: gemm_peak(DTYPES[d]) for d in args.dtypes}
        for shape in args.shapes:
            dims, m, _ = SHAPES[shape]
            for dname in args.dtypes:
                dtype = DTYPES[dname]
                X, Y = make_data(dims, m, dtype)
                impls = {p: _IMPLEMENTATIONS[p](dims, X, Y, dtype) for p in peers}
                res = time_iterations(impls, repeats, target)
                rows.append({"shape": shape, "dtype": dname, "dims": list(dims), "m": m,
                             "flops": iteration_flops(dims, m), "peak": peaks[dname],
                             "times": {p: res[p][4 if args.stat == "min" else 0] for p in res},
                             "median": {p: res[p][0] for p in res},
                             "min": {p: res[p][4] for p in res},
                             "spread": {p: res[p][1] for p in res},
                             "k": {p: res[p][2] for p in res},
                             "n": {p: res[p][3] for p in res}})
                print("  %s %s: %s" % (shape, dname, ", ".join(
                    "%s %s ms" % (p, _fmt_ms(t)) for p, t in rows[-1]["times"].items())),
                    file=sys.stderr, flush=True)
                del impls, X, Y
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

    info.append("load average (1 min) at start %s, at end %s; clock: %s; statistic: %s"
                % (load_start, _loadavg(), args.clock, args.stat))
    lines = info + ["gemm peak (%s, scipy.linalg.blas, n=2048): %s" % (
        "higher of start and end of run",
        ", ".join("%s %.1f GFLOP/s" % (d, peaks[d]) for d in args.dtypes))]
    lines.append("%s ms per training iteration (full batch, lr %g); ratios = peer time / dnn"
                 " time, >1 means dnn is faster" % (args.stat, LEARNING_RATE))
    lines.append("eff. GFLOP/s: the gemm FLOPs of the standard algorithm (iteration_flops) over"
                 " dnn's time; above 100% of the gemm peak where dnn does less work than that"
                 " (the Gram form of the first layer, when there are fewer examples than inputs)"
                 " or runs faster products than the BLAS the peak is measured with (dnn's own"
                 " AVX-512 kernels, where SciPy's OpenBLAS runs AVX2 ones)")
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
        with open(args.json, "w") as f:
            json.dump({"info": info, "peaks": peaks, "rows": rows, "memory": memory}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The step-by-step API's products: the rule (``for_step``) and, for large
layers, the per-machine choice (``for_step_call``); the training loop's are ``dnn._plan``'s.

A layer's products come in two groups: ``nn`` (W H forward, W^T dZ
backward) and ``nt`` (dZ H^T, the weight gradient). Each runs on one of
three backends: ``own`` (``dnn._simd``'s kernels, on ``dnn._kernels``' pool
at T > 1 threads), ``scipy`` (SciPy's BLAS, ``scipy.linalg.cython_blas``) or
``numpy`` (NumPy's own BLAS, where ``dnn._numpy_blas`` finds its gemm). Which
is fastest depends on the CPU, both BLAS's versions and kernel sets, the
thread count and the shape (benchmarks/NOTES.md, "Step loop at two
threads"), so with ``DNN_STEP_CHOICE=measure`` a layer of at least
``CHOICE_MIN_WORK`` multiply-adds has it measured where it runs, once: on the
first step call with that layer (``choose``), before that call computes
anything; kept per key (layer, m, dtype, threads, cores, SIMD build, machine:
``dnn._plan``'s) in the process and in ``dnn._plan``'s wisdom file. So the
same call on the same machine gives the same bits whatever the load.

Without ``DNN_STEP_CHOICE=measure`` every layer takes the rule (the default):
measuring costs a first call many runs of its layers, and timing each layer
alone cannot see one layer's BLAS pool still spinning beside the next layer's
own kernels (figures: benchmarks/NOTES.md, "The step choice, quiet").
"""

import ctypes
import dataclasses
import os
import threading
import time

import numpy as np

from dnn import _plan, _train
from dnn._plan import OWN_PRODUCT_BYTES, TINY_PRODUCT

__all__ = ["TINY_PRODUCT", "OWN_PRODUCT_BYTES", "for_step", "for_step_call", "StepProducts",
           "CHOICE_MIN_WORK", "BACKENDS"]

#: Layers of fewer multiply-adds (n_out * n_in * m) take the rule, unmeasured: their
#: products cost microseconds, and the rule's choice there was measured (NOTES.md, issue 9).
CHOICE_MIN_WORK = 1 << 24

#: OpenBLAS kernel sets (threadpoolctl's ``architecture``) with 512-bit vectors, as dnn's
#: AVX-512 build has: against any other, ``for_step`` gives ``nt`` more layers.
WIDE_BLAS_KERNELS = frozenset({"skylakex", "cooperlake", "sapphirerapids"})

#: Where SciPy's OpenBLAS runs narrower kernels than dnn's AVX-512 build, ``nt`` takes dZ H^T
#: for H (A_prev) of up to this many bytes: where it won against BLAS's 256-bit kernels on this
#: project's EPYC (``OPENBLAS_CORETYPE=Haswell``); one machine's bound, as the rule's others are
#: (benchmarks/NOTES.md, "The rule's nt against 256-bit BLAS kernels").
OWN_NT_A_BYTES = 8 << 20

#: On the AVX2 build, a layer of at most ``AVX2_NN_MAX_UNITS`` units whose inputs take at least
#: ``AVX2_NN_MIN_ROW_BYTES`` per example (S1's first layer, 20 units on 12,288 features) runs on
#: NumPy's OpenBLAS where the process has it, else ``nn`` (W H, with H packed, and W^T dZ) at
#: one thread (``for_step_call``); the rest run on the newer of the two OpenBLAS libraries
#: (``_numpy_blas_not_older``). One machine's bounds and choice, with one pair of OpenBLAS
#: versions (benchmarks/NOTES.md, "nn packs B on the AVX2 build" and "The step calls' BLAS layers
#: on NumPy's OpenBLAS"); ``DNN_STEP_CHOICE=measure`` measures a large layer's where it runs.
AVX2_NN_MIN_ROW_BYTES = 32 << 10
AVX2_NN_MAX_UNITS = 32

#: Whether SciPy's OpenBLAS runs kernels narrower than ``WIDE_BLAS_KERNELS`` (set with the
#: thread counters; False where its kernel set is not known).
_scipy_kernels_narrow = False
#: Whether NumPy's OpenBLAS is of SciPy's release or a later one (set with the thread counters;
#: False where either version is not known): the AVX2 build's rule then runs BLAS's products on it.
_numpy_blas_not_older = False

#: A layer group's backends, in the order ``choose`` tries them after the rule's.
BACKENDS = ("own", "scipy", "numpy")

#: Timed rounds of each candidate (after one warm-up), and the seconds after
#: which ``choose`` stops at 3 rounds (a large layer on a slow machine).
ROUNDS = 5
BUDGET_SECONDS = 0.5


def for_step(n_out, n_in, m, itemsize):
    """Which of one step-by-step call's products skip BLAS: ``dnn._kernels``' ``own``.

    A layer of ``n_out`` units on ``n_in`` inputs and ``m`` examples: 0 (all
    BLAS), or ``dnn._kernels.OWN_PRODUCTS`` flags: "all" for tiny layers on any
    CPU; on an AVX-512 CPU, "nn" (W H and W^T dZ) for every layer and "nt"
    (dZ H^T) too where the operands fit in ``OWN_PRODUCT_BYTES`` or dZ is
    small enough for ``nt`` to read H once (``NT_SMALL_D_BYTES``). Against
    SciPy's BLAS running narrower kernels than ours, "nt" also where A_prev
    takes at most ``OWN_NT_A_BYTES``; "nt" for a few rows only there too. On an
    AVX2 CPU, a layer of a few units on very many inputs (``AVX2_NN_MAX_UNITS``,
    ``AVX2_NN_MIN_ROW_BYTES``) on NumPy's BLAS ("numpy_nn", "numpy_nt"), or "nn"
    where NumPy's gemm was not found; every other layer on NumPy's BLAS too where
    its OpenBLAS is of SciPy's release or later, else on SciPy's; other builds,
    BLAS (not measured for this API). A rule, not a timing: the same call gives
    the same bits whatever the load or the thread count. The measurements behind
    it (an AVX-512 and an AVX2 machine) are in benchmarks/NOTES.md, issue 9.
    """
    from dnn import _kernels

    _find_thread_counters(_kernels)
    # In float32, a layer of at most this many units takes dZ H^T from ``nt``
    # past L2 too: H is read once per block of dZ's rows, and there are few blocks.
    step_nt_rows = 64
    own = _kernels.OWN_PRODUCTS
    if n_out * n_in <= TINY_PRODUCT:
        return own["all"]
    build = _train.simd_kernels()
    fits = (n_out + n_in) * m * itemsize <= OWN_PRODUCT_BYTES
    if build == "avx512":
        a_fits = n_in * m * itemsize <= OWN_NT_A_BYTES
        few_rows = itemsize == 4 and n_out <= step_nt_rows and a_fits
        # dZ small and A_prev taller: ``nt`` takes A_prev in chunks that every
        # block of dZ's rows passes over in cache, reading A_prev once.
        streams = n_out <= n_in and n_out * m * itemsize <= _kernels.NT_SMALL_D_BYTES
        narrow = _scipy_kernels_narrow and a_fits
        return own["nn"] | (own["nt"] if fits or few_rows or streams or narrow else 0)
    numpy = own["numpy_nn"] | own["numpy_nt"]
    if _avx2_wide(n_out, n_in, itemsize):
        # NumPy's OpenBLAS where the process has one (faster than ours and SciPy's there), else nn
        return numpy if _kernels._numpy_gemm_set() else own["nn"]
    return numpy if numpy_blas_rule() else 0


def numpy_blas_rule():
    """Whether the rule runs BLAS's layers on NumPy's OpenBLAS: on the AVX2 build, where its gemm
    is found and it is of SciPy's release or later (the newer one; NumPy's on a tie, whose pool
    the caller's own NumPy code shares). Else SciPy's (``for_step``; the mini-batch loop's rule,
    ``dnn._loop_plan.rule_plan``, follows it)."""
    from dnn import _kernels

    _find_thread_counters(_kernels)
    return _train.simd_kernels() == "avx2" and _numpy_blas_not_older and _kernels._numpy_gemm_set()


def _avx2_wide(n_out, n_in, itemsize):
    """Whether a layer takes the AVX2 build's wide-layer clause (NumPy's BLAS, or ``nn``)."""
    return (_train.simd_kernels() == "avx2" and n_in * itemsize >= AVX2_NN_MIN_ROW_BYTES
            and n_out <= AVX2_NN_MAX_UNITS)


_counters_found = False
_counters_lock = threading.Lock()


def _after_fork_in_child():
    # a child forked while another thread held the lock (finding the counters) would wait for ever
    global _counters_lock
    _counters_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _find_thread_counters(kernels):
    """Once per process: give ``dnn._kernels`` each OpenBLAS's ``get_num_threads``
    (so a step call with a large layer runs on as many threads as BLAS may:
    threadpoolctl's limits apply) and the CPUs the process may run on. Without
    threadpoolctl, or a BLAS other than OpenBLAS, the calls run one thread.
    Another thread's first call waits until they are set (it would read 1 thread
    and no NumPy gemm, and key a choice by them)."""
    global _counters_found
    if _counters_found:
        return
    with _counters_lock:
        if not _counters_found:
            try:
                _set_thread_counters(kernels)
            finally:
                _counters_found = True  # once, as before, even if threadpoolctl failed


def _set_thread_counters(kernels):
    global _scipy_kernels_narrow, _numpy_blas_not_older
    from dnn import _blas_threads, _numpy_blas

    addresses = []
    scipy_dirs = _numpy_blas._package_dirs("scipy")
    for lib in _blas_threads._libraries():
        if getattr(lib, "internal_api", None) != "openblas":
            continue
        kernel_set = str(getattr(lib, "architecture", None) or "").lower()
        if _numpy_blas._under(lib, scipy_dirs) and kernel_set:
            _scipy_kernels_narrow = kernel_set not in WIDE_BLAS_KERNELS
        fn = _blas_threads.openblas_function(getattr(lib, "dynlib", None), "get")
        if fn is not None:
            addresses.append(ctypes.cast(fn, ctypes.c_void_p).value)
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    kernels._set_thread_counters(addresses, cpus)
    kernels._set_numpy_gemm(*(_numpy_blas.gemm_addresses() or (0, 0, False)))
    numpy_version, scipy_version = _numpy_blas.versions()
    _numpy_blas_not_older = None not in (numpy_version, scipy_version) and numpy_version >= scipy_version


# --------------------------------------------------------------------------
# The per-machine choice for large layers
# --------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class StepProducts:
    """A layer's backends: ``nn`` and ``nt`` each one of ``BACKENDS``."""

    nn: str
    nt: str
    source: str = dataclasses.field(default="rule", compare=False)

    def own(self):
        """As ``dnn._kernels``' ``own`` flags."""
        from dnn import _kernels

        f = _kernels.OWN_PRODUCTS
        return ({"own": f["nn"], "scipy": 0, "numpy": f["numpy_nn"]}[self.nn]
                | {"own": f["nt"], "scipy": 0, "numpy": f["numpy_nt"]}[self.nt])

    def to_dict(self):
        return {"step": [self.nn, self.nt]}

    @classmethod
    def from_dict(cls, d, source="wisdom"):
        nn, nt = d["step"]
        if nn not in BACKENDS or nt not in BACKENDS:
            raise ValueError("not a step choice")
        return cls(nn, nt, source)


def _from_own(own):
    """The StepProducts a rule's ``own`` means (its BLAS products on SciPy's BLAS)."""
    from dnn import _kernels

    f = _kernels.OWN_PRODUCTS
    if own & f["all"]:
        return StepProducts("own", "own")
    return StepProducts("own" if own & f["nn"] else "scipy", "own" if own & f["nt"] else "scipy")


def step_threads():
    """The threads a step call with a large layer runs on (``dnn._kernels``' count)."""
    from dnn import _kernels

    _find_thread_counters(_kernels)
    return _kernels._step_threads()


def _key(n_out, n_in, m, itemsize, threads):
    return "step | %d,%d | m %d | %s | threads %d | cores %d | %s | %s" % (
        n_out, n_in, m, "float32" if itemsize == 4 else "float64", threads, _plan.cores(),
        _train.simd_kernels(), _plan._machine_key())


def _numpy_available():
    from dnn import _kernels

    _find_thread_counters(_kernels)
    return _kernels._numpy_gemm_set()


def for_step_call(n_out, n_in, m, itemsize, threads):
    """``own`` flags for a layer of a step call on ``threads`` threads: the rule
    (``for_step``, whatever the threads: they change no number), unless
    ``DNN_STEP_CHOICE=measure``: then for a large layer the kept choice (per thread
    count), else a new measurement (``choose``), kept."""
    rule = for_step(n_out, n_in, m, itemsize)
    if (n_out * n_in * m < CHOICE_MIN_WORK
            or os.environ.get("DNN_STEP_CHOICE", "").strip().lower() != "measure"):
        return rule
    key = _key(n_out, n_in, m, itemsize, threads)
    try:
        choice = _plan.decide(key, StepProducts.from_dict,
                              lambda: choose(n_out, n_in, m, itemsize, _from_own(rule)))
    except MemoryError:  # no room for the measurement's copies of the operands: the rule, not kept
        choice = None
    return rule if choice is None else choice.own()


def layer_arrays(n_out, n_in, m, dtype):
    """Synthetic ``(W, A_prev, b, Z, dZ, dW, dA_prev)`` of a layer, as
    ``dnn._kernels._layer_products`` takes them (random inputs, outputs empty)."""
    rng = np.random.default_rng(0)
    W = rng.standard_normal((n_out, n_in)).astype(dtype)
    A_prev = rng.standard_normal((n_in, m)).astype(dtype)
    dZ = rng.standard_normal((n_out, m)).astype(dtype)
    return (W, A_prev, np.zeros(n_out, dtype), np.empty_like(dZ), dZ, np.empty_like(W),
            np.empty_like(A_prev))


def choose(n_out, n_in, m, itemsize, rule):
    """The fastest backend of each group for this layer, measured: the ``nn``
    group's (``nt`` the rule's), then the ``nt`` group's (``nn`` the one chosen),
    each candidate timed on the layer's three products in the order a call runs
    them (so a BLAS pool left spinning beside our pool's next product counts),
    in alternating rounds (one warm-up, ``ROUNDS``, or 3 past ``BUDGET_SECONDS``; a
    backend out of the race, a warm-up 3 times the rule's or 2 rounds lost to the
    rule's, is not timed again);
    ``dnn._plan.pick`` per group (the rule's unless another is ``MARGIN`` faster
    and wins 4 rounds of 5). On synthetic data of the layer's shape, all m columns
    (fewer change which operands stay in cache, and the choice: NOTES.md), through
    ``dnn._kernels._layer_products``: the call's own code, thread team and BLAS."""
    from dnn import _kernels

    W, A_prev, b, Z, dZ, dW, dA_prev = layer_arrays(n_out, n_in, m,
                                                    np.float32 if itemsize == 4 else np.float64)
    one = step_threads() == 1
    clock = time.thread_time if one and _plan._thread_clock_ok() else time.perf_counter
    names = [x for x in BACKENDS if x != "numpy" or _numpy_available()]

    def timed(plans):
        def run(p):
            t0 = clock()
            _kernels._layer_products(p.own(), W, A_prev, b, Z, dZ, dW, dA_prev)
            return clock() - t0
        warm = [run(p) for p in plans]  # warm-up: pages touched, threads started
        times = [[] for _ in plans]
        start = time.perf_counter()
        # 3 times slower than the rule's warm-up (which also touched the outputs' pages): out
        order = [j for j in range(len(plans)) if warm[j] <= 3 * warm[0]]
        for r in range(ROUNDS):
            for j in (order if r % 2 == 0 else order[::-1]):
                times[j].append(run(plans[j]))
            # a candidate that lost 2 rounds to the rule's cannot win 4 of 5: stop timing it
            order = [0] + [j for j in order[1:]
                           if sum(a >= b for a, b in zip(times[j], times[0])) < 2]
            if len(order) == 1 or (r >= 2 and time.perf_counter() - start > BUDGET_SECONDS):
                break
        return times

    def best(plans):
        kept = [(p, t) for p, t in zip(plans, timed(plans)) if t]  # the rule's always
        return _plan.pick([p for p, _ in kept], [t for _, t in kept])

    nn = best([rule] + [StepProducts(x, rule.nt) for x in names if x != rule.nn])
    return dataclasses.replace(best([nn] + [StepProducts(nn.nn, x) for x in names if x != nn.nt]),
                               source="measured")

"""BLAS held at one thread while a fit runs, its threads lent to dnn's own
(and to the pool of a step call with a product OpenBLAS would thread:
``dnn._kernels.lend_blas``; "fit" below means either).

Every fit holds BLAS at one thread from start to end, for two reasons.
OpenBLAS sums a long product differently with one thread and with two, and a
fit must give the same bits at any thread count (``dnn._plan``). And a fit
whose examples are split into shards (``dnn._train.Trainer``), or whose
mini-batch loop runs on a team (``dnn._loop``), runs threads of its own that
call BLAS: BLAS must then run one thread per call, or the two levels of
threads fight over the cores. While one or more fits run, every BLAS library
threadpoolctl finds is held at one thread; the last fit to end gives the
limits back as they were. A fit that starts while another holds the limits
sees the count the user allowed, not the borrowed one, so two fits in two
threads decide as they would one after the other (and run their shards on
one thread each: the cores are taken).

What other threads see. OpenBLAS keeps one thread count for the whole
process (its pthreads build has no per-thread count: even
``openblas_set_num_threads_local`` sets the global one), so the limit cannot
be confined to the fit's own threads. While a fit runs, every BLAS
call in the process runs one thread: another thread's NumPy or SciPy
products, dnn's step-by-step functions, another fit. Those calls are slower
and give exactly what they give under ``threadpoolctl.threadpool_limits(1)``,
which may differ in the last bits from their result with more threads. A
fit's own numbers never depend on it (``tests/test_reproducible.py`` checks
both). A program that needs other threads' numbers independent of a fit
running limits BLAS to one thread itself, for the whole run, or trains in a
process of its own.

Where BLAS cannot be held at one thread for dnn's threads (threadpoolctl
finds no BLAS, or the BLAS's threads are OpenMP's, whose limit is per
thread), the shards run one after the other on the calling thread (and a
mini-batch epoch with a BLAS product runs without its team), and that
BLAS's own threads may change its sums: the one case where a fit's bits may
follow the thread count (README, "Reproducibility").
"""

import contextlib
import ctypes
import os
import threading

__all__ = ["blas_threads", "blas_lent"]

_lock = threading.Lock()
_controller = None    # threadpoolctl's view of the BLAS libraries, found once
_lenders = 0          # fits holding the limits
_allowed = 1          # threads the user allowed before the limits were taken
_limiter = None       # restores the user's limits (through threadpoolctl)
_restore = None       # or: (set_num_threads, count) to call back (_openblas_calls)
_calls = None         # _openblas_calls: not looked for yet
_slipped = False      # a limit taken that did not hold (``_lend``): BLAS may thread in fits


def _after_fork_in_child():
    """A child has only the forking thread: a lender of the parent never ends there, and
    ``_lock`` may be held by a thread that does not exist (threadpoolctl's calls under it
    release the GIL). The child starts with a free lock, no lender and the user's limits."""
    global _lock, _lenders
    _lock = threading.Lock()
    if _lenders:
        _lenders = 1
        with contextlib.suppress(Exception):  # else the limits stay as they were
            _end_lending()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _blas_controller():
    """threadpoolctl's controller for the loaded BLAS libraries, or None.

    Found once per process: by the time a fit runs, NumPy's and SciPy's BLAS
    are loaded, and those are the ones dnn calls.
    """
    global _controller
    if _controller is None:
        try:
            from threadpoolctl import ThreadpoolController

            _controller = ThreadpoolController().select(user_api="blas")
        except Exception:  # no threadpoolctl, or it failed to inspect the process
            _controller = False
    return _controller or None


def _libraries():
    ctl = _blas_controller()
    return [] if ctl is None else ctl.lib_controllers


def _current_threads():
    calls = _openblas_calls()
    counts = [get() for get, _ in calls] if calls else [lib.num_threads for lib in _libraries()]
    counts = [c for c in counts if c]
    return max(1, min(counts)) if counts else 1


def _take_control():
    """threadpoolctl >= 3.6 lets one Python thread at a time set OpenBLAS's
    (process-wide) count and ignores the others: the lenders, serialized by
    ``_lock``, take that role whichever thread they run in."""
    try:
        from threadpoolctl import OpenBLASController
    except ImportError:
        return
    clear = getattr(OpenBLASController, "clear_controlling_thread", None)
    if clear is not None:
        clear(force=True)


def held_at_one():
    """Whether fits here hold every BLAS library at one thread (``blas_lent``'s limit reaches
    them): a BLAS is found, none runs OpenMP's threads (whose limit is per thread), and no limit
    taken in this process failed to hold. Then no BLAS pool of the process wakes while a fit
    runs."""
    libraries = _libraries()
    return bool(libraries) and not _slipped and not _openmp(libraries)


def _openmp(libraries):
    return any(getattr(lib, "threading_layer", None) == "openmp" for lib in libraries)


def blas_threads():
    """Threads the user lets BLAS use (the fewest of any BLAS library loaded); 1 without any."""
    with _lock:
        return _allowed if _lenders else _current_threads()


def openblas_function(dynlib, verb):
    """An OpenBLAS library's ``openblas_<verb>_num_threads`` under the names its builds
    export (NumPy's and SciPy's wheels prefix ``scipy_``, the 64-bit-index ones end in
    ``64_``), or None."""
    for prefix in ("", "scipy_"):
        for suffix in ("", "64_"):
            fn = getattr(dynlib, "%sopenblas_%s_num_threads%s" % (prefix, verb, suffix), None)
            if fn is not None:
                return fn
    return None


def _openblas_calls():
    """Each library's OpenBLAS ``(get_num_threads, set_num_threads)`` as ctypes functions, found
    once; None unless every BLAS library is a pthreads OpenBLAS that exports both.

    A step call lends BLAS's threads a few times per iteration, and threadpoolctl's limiter
    costs several times these calls (benchmarks/NOTES.md, "Two threads on the AVX2 machine")."""
    global _calls
    if _calls is None:
        _calls = False
        found = []
        for lib in _libraries():
            dynlib = getattr(lib, "dynlib", None)
            if (getattr(lib, "internal_api", None) != "openblas" or dynlib is None
                    or getattr(lib, "threading_layer", None) != "pthreads"):
                return None
            get, put = openblas_function(dynlib, "get"), openblas_function(dynlib, "set")
            if get is None or put is None:
                return None
            get.restype, put.restype = ctypes.c_int, None
            put.argtypes = [ctypes.c_int]
            found.append((get, put))
        _calls = found or False
    return _calls or None


def _lend():
    """Under ``_lock``, for the first lender: take the limits; whether they hold (where taken
    and not holding, remembered: ``held_at_one``)."""
    global _allowed, _limiter, _restore, _slipped
    _allowed = _current_threads()
    libraries = _libraries()
    if not libraries or _allowed == 1:
        return bool(libraries)
    if _openmp(libraries):
        return False  # a per-thread limit: it would not reach dnn's threads
    calls = _openblas_calls()
    if calls is not None:
        _restore = [(put, get()) for get, put in calls]
        for _, put in calls:
            put(1)
        held = all(get() == 1 for get, _ in calls)
    else:
        _take_control()
        _limiter = _blas_controller().limit(limits=1)
        _take_control()
        held = all(lib.num_threads == 1 for lib in libraries)
    _slipped = _slipped or not held
    return held


def _give_back():
    """Under ``_lock``, for the last lender: restore the user's limits."""
    global _limiter, _restore
    restore, _restore = _restore, None
    if restore is not None:
        for put, threads in restore:
            put(threads)
    limiter, _limiter = _limiter, None
    if limiter is not None:
        _take_control()
        try:
            limiter.restore_original_limits()
        finally:
            _take_control()


@contextlib.contextmanager
def blas_lent(wanted):
    """Hold every BLAS library at one thread for the body.

    Yields how many threads, up to ``wanted``, the fit may run beside BLAS:
    ``wanted`` capped by what the user allowed BLAS for the first fit to
    lend, 1 for the others or where BLAS could not be held at one thread.
    """
    global _lenders
    with _lock:
        _lenders += 1
        try:
            if _lenders == 1:
                threads = min(wanted, _allowed) if _lend() else 1
            else:
                threads = 1
        except BaseException:
            _end_lending()
            raise
    try:
        yield threads
    finally:
        with _lock:
            _end_lending()


def _end_lending():
    """Under ``_lock``, for each lender: the last gives the limits back, and only then does
    ``_lenders`` drop to 0 (``dnn._kernels.lend_blas`` reads a one-thread BLAS with no
    lender as the user's own limit)."""
    global _lenders
    try:
        if _lenders == 1:
            _give_back()
    finally:
        _lenders -= 1

"""BLAS's threads, lent to dnn's own training threads while a sharded fit runs.

A fit whose examples are split into shards (``dnn._train.Trainer``) runs one
shard per thread of its own, each calling BLAS: BLAS must then run one thread
per call, or the two levels of threads fight over the cores. While one or
more such fits run, every BLAS library threadpoolctl finds is held at one
thread; the last fit to end gives the limits back as they were. A fit that
starts while another holds the limits sees the count the user allowed, not
the borrowed one, so two fits in two threads decide as they would one after
the other.
"""

import contextlib
import threading

__all__ = ["blas_threads", "blas_lent"]

_lock = threading.Lock()
_controller = None    # threadpoolctl's view of the BLAS libraries, found once
_lenders = 0          # fits holding the limits
_allowed = 1          # threads the user allowed before the limits were taken
_limiter = None       # restores the user's limits


def _blas_controller():
    """threadpoolctl's controller for the loaded BLAS libraries, or None without them.

    Found once per process: by the time a fit runs, NumPy's and SciPy's BLAS
    are loaded, and those are the ones dnn calls.
    """
    global _controller
    if _controller is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:  # then no thread of dnn's own calls BLAS at once with another
            _controller = False
        else:
            _controller = ThreadpoolController().select(user_api="blas")
    return _controller or None


def _current_threads():
    ctl = _blas_controller()
    if ctl is None or not ctl.lib_controllers:
        return 1
    return max(1, min(lib.num_threads for lib in ctl.lib_controllers))


def blas_threads():
    """Threads the user lets BLAS use (the fewest of any BLAS library loaded).

    1 where threadpoolctl is missing or finds no BLAS: dnn cannot then hold
    BLAS to one thread, so it runs no threads of its own beside it.
    """
    with _lock:
        return _allowed if _lenders else _current_threads()


@contextlib.contextmanager
def blas_lent():
    """Hold every BLAS library at one thread for the body; yields the count allowed before."""
    global _lenders, _allowed, _limiter
    with _lock:
        if _lenders == 0:
            _allowed = _current_threads()
            ctl = _blas_controller()
            _limiter = ctl.limit(limits=1) if ctl is not None and _allowed > 1 else None
        _lenders += 1
        allowed = _allowed
    try:
        yield allowed
    finally:
        with _lock:
            _lenders -= 1
            if _lenders == 0 and _limiter is not None:
                _limiter.restore_original_limits()
                _limiter = None

"""The step-by-step API's product rule (``for_step``); the training loop's are ``dnn._plan``'s."""

import ctypes
import os

from dnn import _train
from dnn._plan import OWN_PRODUCT_BYTES, TINY_PRODUCT

__all__ = ["TINY_PRODUCT", "OWN_PRODUCT_BYTES", "for_step"]


def for_step(n_out, n_in, m, itemsize):
    """Which of one step-by-step call's products skip BLAS: ``dnn._kernels``' ``own``.

    A layer of ``n_out`` units on ``n_in`` inputs and ``m`` examples: 0 (all
    BLAS), or ``dnn._kernels.OWN_PRODUCTS`` flags: "all" for tiny layers on any
    CPU; on an AVX-512 CPU, "nn" (W H and W^T dZ) for every layer and "nt"
    (dZ H^T) too where the operands fit in ``OWN_PRODUCT_BYTES`` or dZ is
    small enough for ``nt`` to read H once (``NT_SMALL_D_BYTES``); other
    builds, BLAS (not measured for this API). A rule, not a timing: the same call gives the
    same bits whatever the load or the thread count. The measurements behind it (this
    project's AVX-512 machine, one thread) are in benchmarks/NOTES.md, issue 9.
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
        few_rows = itemsize == 4 and n_out <= step_nt_rows
        # dZ small and A_prev taller: ``nt`` takes A_prev in chunks that every
        # block of dZ's rows passes over in cache, reading A_prev once.
        streams = n_out <= n_in and n_out * m * itemsize <= _kernels.NT_SMALL_D_BYTES
        return own["nn"] | (own["nt"] if fits or few_rows or streams else 0)
    return 0


_counters_found = False


def _find_thread_counters(kernels):
    """Once per process: give ``dnn._kernels`` each OpenBLAS's ``get_num_threads``
    (so a step call with a large layer runs on as many threads as BLAS may:
    threadpoolctl's limits apply) and the CPUs the process may run on. Without
    threadpoolctl, or a BLAS other than OpenBLAS, the calls run one thread."""
    global _counters_found
    if _counters_found:
        return
    _counters_found = True
    from dnn import _blas_threads

    addresses = []
    for lib in _blas_threads._libraries():
        if getattr(lib, "internal_api", None) != "openblas":
            continue
        dynlib = getattr(lib, "dynlib", None)
        for prefix in ("", "scipy_"):
            for suffix in ("", "64_"):
                fn = getattr(dynlib, "%sopenblas_get_num_threads%s" % (prefix, suffix), None)
                if fn is not None:
                    addresses.append(ctypes.cast(fn, ctypes.c_void_p).value)
                    break
            else:
                continue
            break
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    kernels._set_thread_counters(addresses, cpus)

"""NumPy's own BLAS, as C function pointers: a second gemm beside SciPy's.

NumPy and SciPy wheels each bundle an OpenBLAS, of different versions, with
kernels that differ by shape (``benchmarks/NOTES.md``, "Step loop at two
threads"), and each has its own thread pool. The course's NumPy code runs on
NumPy's; dnn's products run on SciPy's (``scipy.linalg.cython_blas``) unless
this module finds NumPy's cblas gemm and ``dnn._products`` picks it for a
shape by measurement.

``gemm_addresses()`` gives ``(dgemm, sgemm, ilp64)``: the addresses of the
cblas ``dgemm``/``sgemm`` of the BLAS library loaded from NumPy's own
folders (threadpoolctl finds it), ``ilp64`` true where its ints are 64-bit
(``scipy_cblas_dgemm64_``, NumPy >= 2's wheels), or ``None`` where there is
no such library, threadpoolctl, or symbol (another BLAS, NumPy built against
a system BLAS it shares with SciPy): then SciPy's BLAS is the only one.
Found once per process. Reusable by any compiled module that takes a cblas
gemm pointer (``dnn._kernels._set_numpy_gemm``).
"""

import ctypes
import os

__all__ = ["gemm_addresses", "library_path", "SYMBOLS"]

#: Symbol names tried, in order: (dgemm, sgemm, ilp64). NumPy >= 2's wheels
#: bundle scipy-openblas64 (prefix ``scipy_``, ILP64 suffix ``64_``).
SYMBOLS = (
    ("scipy_cblas_dgemm64_", "scipy_cblas_sgemm64_", True),
    ("cblas_dgemm64_", "cblas_sgemm64_", True),
    ("scipy_cblas_dgemm", "scipy_cblas_sgemm", False),
)

_found = None  # (addresses or None, path or None), once per process


def _numpy_dirs():
    import numpy

    root = os.path.dirname(os.path.realpath(numpy.__file__))
    # Wheels put the bundled library in numpy.libs beside the package (Linux),
    # numpy/.dylibs (macOS) or numpy.libs (Windows, delvewheel).
    return [root + os.sep, os.path.join(os.path.dirname(root), "numpy.libs") + os.sep]


def _libraries():
    from dnn import _blas_threads

    return _blas_threads._libraries()


def _lookup(libraries, numpy_dirs, symbols=SYMBOLS):
    """(addresses, path) of the first library under ``numpy_dirs`` exporting one of ``symbols``."""
    for lib in libraries:
        path = os.path.realpath(getattr(lib, "filepath", "") or "")
        if not path or not any(path.startswith(d) for d in numpy_dirs):
            continue
        dynlib = getattr(lib, "dynlib", None)
        if dynlib is None:
            continue
        for dname, sname, ilp64 in symbols:
            d = getattr(dynlib, dname, None)
            s = getattr(dynlib, sname, None) if d is not None else None
            if d is not None and s is not None and _says_ilp64(dynlib, dname) in (None, ilp64):
                return ((ctypes.cast(d, ctypes.c_void_p).value,
                         ctypes.cast(s, ctypes.c_void_p).value, ilp64), path)
    return None, None


def _says_ilp64(dynlib, dname):
    """Whether the OpenBLAS exporting ``dname`` says its ints are 64-bit (``USE64BITINT`` in its
    ``openblas_get_config``, same prefix and suffix), or None where it has no such function: the
    names give the width by convention only, and a wrong width is wrong products or a crash."""
    prefix, _, suffix = dname.partition("cblas_dgemm")
    fn = getattr(dynlib, "%sopenblas_get_config%s" % (prefix, suffix), None)
    if fn is None:
        return None
    text = ctypes.CFUNCTYPE(ctypes.c_char_p)(ctypes.cast(fn, ctypes.c_void_p).value)()
    return b"USE64BITINT" in (text or b"")


def _find():
    global _found
    if _found is None:
        try:
            _found = _lookup(_libraries(), _numpy_dirs())
        except Exception:  # threadpoolctl failed to inspect the process: SciPy's BLAS only
            _found = (None, None)
    return _found


def gemm_addresses():
    """``(dgemm, sgemm, ilp64)`` of NumPy's cblas gemm, or None (see the module's text)."""
    return _find()[0]


def library_path():
    """The file of NumPy's BLAS whose gemm ``gemm_addresses`` gives, or None."""
    return _find()[1]

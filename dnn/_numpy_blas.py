"""NumPy's own BLAS, as C function pointers: a second gemm beside SciPy's.

NumPy and SciPy wheels each bundle an OpenBLAS, of different versions, with
kernels that differ by shape (``benchmarks/NOTES.md``, "Step loop at two
threads"), and each has its own thread pool. The course's NumPy code runs on
NumPy's; dnn's products run on SciPy's (``scipy.linalg.cython_blas``) unless
this module finds NumPy's cblas gemm and ``dnn._products``' rule (from the two
libraries' ``versions()``) or a measurement picks it: the step calls' choice,
or ``dnn._loop_plan``'s for the mini-batch loop.

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

__all__ = ["gemm_addresses", "library_path", "versions", "SYMBOLS"]

#: Symbol names tried, in order: (dgemm, sgemm, ilp64). NumPy >= 2's wheels
#: bundle scipy-openblas64 (prefix ``scipy_``, ILP64 suffix ``64_``).
SYMBOLS = (
    ("scipy_cblas_dgemm64_", "scipy_cblas_sgemm64_", True),
    ("cblas_dgemm64_", "cblas_sgemm64_", True),
    ("scipy_cblas_dgemm", "scipy_cblas_sgemm", False),
)

_found = None  # (addresses or None, path or None), once per process


def _package_dirs(name):
    """The folders where package ``name``'s wheel bundles its libraries: inside the package
    (``name/.dylibs`` on macOS) or beside it (``name.libs``: Linux, Windows' delvewheel)."""
    import importlib

    root = os.path.dirname(os.path.realpath(importlib.import_module(name).__file__))
    return [root + os.sep, os.path.join(os.path.dirname(root), name + ".libs") + os.sep]


def _numpy_dirs():
    return _package_dirs("numpy")


def _under(lib, dirs):
    path = os.path.realpath(getattr(lib, "filepath", "") or "")
    return bool(path) and any(path.startswith(d) for d in dirs)


def versions():
    """``(numpy's, scipy's)`` OpenBLAS versions as int tuples (threadpoolctl's ``version``), each
    None where that package's BLAS is not an OpenBLAS of its own folders, or not known."""
    out = []
    for name in ("numpy", "scipy"):
        try:
            dirs = _package_dirs(name)
            found = [lib for lib in _libraries()
                     if getattr(lib, "internal_api", None) == "openblas" and _under(lib, dirs)]
            out.append(_version_tuple(getattr(found[0], "version", None)) if found else None)
        except Exception:  # threadpoolctl failed to inspect the process, or no such package
            out.append(None)
    return tuple(out)


def _version_tuple(text):
    """``"0.3.31.188.0"`` -> ``(0, 3, 31)``: the release (a wheel's build suffix dropped); None if
    not of that form."""
    parts = str(text or "").split(".")[:3]
    return tuple(int(p) for p in parts) if len(parts) == 3 and all(p.isdigit() for p in parts) else None


def _libraries():
    from dnn import _blas_threads

    return _blas_threads._libraries()


def _lookup(libraries, numpy_dirs, symbols=SYMBOLS):
    """(addresses, path) of the first library under ``numpy_dirs`` exporting one of ``symbols``."""
    for lib in libraries:
        if not _under(lib, numpy_dirs):
            continue
        path = os.path.realpath(lib.filepath)
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

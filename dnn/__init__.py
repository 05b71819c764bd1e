"""dnn: fast, exact L-layer dense neural networks on the CPU.

A compiled drop-in for the course's step-by-step NumPy code: ``from dnn import *``
where the course imports its utilities gives the same functions, the same dicts
of parameters, the same caches and the same numbers, computed by Cython kernels
over BLAS. ``dnn.reference`` is the plain NumPy code, kept as the oracle.
"""

try:
    from dnn import _kernels  # noqa: F401  (fails loudly if the build is missing)
except ImportError as exc:  # pragma: no cover - only on a broken install
    raise ImportError(
        "dnn's compiled extensions could not be imported (%s). dnn must be installed "
        "with `pip install .` (or built with `python setup.py build_ext --inplace`); "
        "it has no pure-Python fallback." % exc
    ) from exc

from dnn.functional import *  # noqa: F401,F403
from dnn.functional import __all__ as _functional_all

__version__ = "0.1.0"

__all__ = list(_functional_all)

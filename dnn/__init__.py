"""dnn: fast, exact L-layer dense neural networks on the CPU.

A compiled drop-in for the course's step-by-step NumPy code: ``from dnn import *``
where the course imports its utilities gives the same functions, the same dicts
of parameters, the same caches and the same numbers, computed by Cython kernels
over BLAS. ``dnn.reference`` is the plain NumPy code, kept as the oracle.

Modules: ``functional`` (the step-by-step functions), ``models`` (the compiled
training loop: ``L_layer_model``, ``two_layer_model``), ``data`` (pictures and
HDF5 files), ``datasets`` (the built-in data set), ``model_io`` (model files),
``plotting`` (matplotlib, optional), ``cli`` (the ``dnn`` command), ``bench``
(the comparison table).
"""

try:
    from dnn import _kernels, _train  # noqa: F401  (fail loudly if the build is missing)
except ImportError as exc:  # pragma: no cover - only on a broken install
    raise ImportError(
        "dnn's compiled extensions could not be imported (%s). Install dnn with "
        "`pip install .` (or build in place with `python setup.py build_ext --inplace`); "
        "it has no pure-Python fallback." % exc
    ) from exc

from dnn.functional import *  # noqa: F401,F403
from dnn.functional import __all__ as _functional_all
from dnn.models import L_layer_model, two_layer_model
from dnn._plan import Plan  # noqa: F401  (L_layer_model's plan=; not in __all__)
from dnn.data import flatten_images, gen_labels, image_to_arr, load_data, load_image
from dnn.datasets import load_builtin
from dnn.model_io import Model, load_model, save_model
from dnn.plotting import plot_costs, plot_mislabeled_images, print_mislabeled_images

__version__ = "0.1.0"

__all__ = list(_functional_all) + [
    "L_layer_model", "two_layer_model",
    "load_data", "load_image", "image_to_arr", "gen_labels", "flatten_images", "load_builtin",
    "save_model", "load_model", "Model",
    "plot_costs", "plot_mislabeled_images", "print_mislabeled_images",
]

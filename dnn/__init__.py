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

def _missing_extensions(exc):
    """The ImportError for a dnn whose compiled extensions do not import: what happened, what to do."""
    import os
    from importlib.machinery import EXTENSION_SUFFIXES

    here = os.path.dirname(os.path.abspath(__file__))
    built = any(os.path.exists(os.path.join(here, "_kernels" + suffix))
                for suffix in EXTENSION_SUFFIXES)
    if os.path.exists(os.path.join(here, "_kernels.pyx")) and not built:
        return ImportError(
            "Error importing dnn: it was imported from its source tree, %s, which has no "
            "compiled extensions (dnn._kernels and dnn._train are built by pip, not kept in "
            "the checkout). Python found this folder before any installed dnn because the "
            "current directory (or the running script's) comes first on sys.path. "
            "Run the command from another directory, where the installed package is used "
            "(pip install dnn-course, or pip install . in the checkout), or build the "
            "extensions in place to work on the source: pip install --no-build-isolation -e . "
            "(the README's Development section)." % here)
    return ImportError(
        "Error importing dnn: its compiled extensions could not be imported (%s). The "
        "installation at %s is broken or was built for another Python; reinstall it "
        "(pip install --force-reinstall dnn-course, or pip install . in a checkout). "
        "dnn has no pure-Python fallback." % (exc, here))


try:
    from dnn import _kernels, _train  # noqa: F401  (fail loudly if the build is missing)
except ImportError as _exc:
    raise _missing_extensions(_exc) from _exc

from dnn.functional import *  # noqa: F401,F403
from dnn.functional import __all__ as _functional_all
from dnn.models import L_layer_model, two_layer_model
from dnn._plan import Plan  # noqa: F401  (L_layer_model's plan=; not in __all__)
from dnn._loop_plan import LoopPlan  # noqa: F401  (dnn.model's plan=; not in __all__)
from dnn.data import flatten_images, gen_labels, image_to_arr, load_data, load_image
from dnn.datasets import load_builtin
from dnn.model_io import Model, load_model, save_model
from dnn.plotting import plot_costs, plot_mislabeled_images, print_mislabeled_images

__version__ = "0.1.0"


def release_buffers():
    """Free the result arrays the step-by-step functions keep for reuse.

    ``L_model_forward`` and ``L_model_backward`` hand out a result array again once
    nothing refers to it (a fresh large array costs a page fault per page); after a
    large loop the arrays kept may reach two iterations' results (at most 1 GiB).
    They are made again when needed. With glibc, the heap's free pages then go back to
    the system (``malloc_trim``): freed arrays of a few hundred KiB come from the heap,
    whose holes glibc would otherwise keep."""
    _kernels._pool_clear()
    _trim_heap()


def _trim_heap():
    """glibc's ``malloc_trim(0)`` where the C library has it (Linux with glibc), else nothing."""
    import sys

    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        trim = ctypes.CDLL(None).malloc_trim  # musl has none
    except (OSError, AttributeError):
        return
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    trim(0)


__all__ = list(_functional_all) + [
    "L_layer_model", "two_layer_model",
    "load_data", "load_image", "image_to_arr", "gen_labels", "flatten_images", "load_builtin",
    "save_model", "load_model", "Model",
    "plot_costs", "plot_mislabeled_images", "print_mislabeled_images",
]

# The course's second part (initialization, regularization, optimization).
from dnn.activations import leaky_relu, leaky_relu_backward, softmax, softmax_backward, tanh, tanh_backward
from dnn.course_model import model
from dnn.dropout import dropout_mask, dropout_uniform
from dnn.initializers import (initialize_parameters_glorot, initialize_parameters_he, initialize_parameters_random,
                              initialize_parameters_xavier, initialize_parameters_zeros)
from dnn.losses import class_indices, compute_cost_with_regularization, labels_one_hot, softmax_cost
from dnn.minibatch import random_mini_batches
from dnn.optimizers import (initialize_adam, initialize_rmsprop, initialize_velocity, schedule_lr_decay,
                            update_lr, update_parameters_with_adam, update_parameters_with_gd,
                            update_parameters_with_momentum, update_parameters_with_rmsprop)
from dnn import network  # noqa: F401  (the NumPy network dnn.L_model_forward & co. hand other networks to)

from dnn.reference import COURSE2 as _course2_names  # the same names as the reference's second part

__all__ += list(_course2_names)

# scikit-learn estimators (dnn.estimators), imported on first use: scikit-learn is optional (dnn-course[sklearn]).
_ESTIMATORS = ("DNNClassifier", "DNNRegressor")


def __getattr__(name):
    if name in _ESTIMATORS:
        from dnn import estimators
        return getattr(estimators, name)
    raise AttributeError("module 'dnn' has no attribute %r" % (name,))

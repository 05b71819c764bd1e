"""The initialization notebook's functions for L layers, checked.

``initialize_parameters_zeros`` (draws nothing), ``initialize_parameters_random``
(``randn * 10``), ``initialize_parameters_he`` (``randn * sqrt(2 / n_{l-1})``),
``initialize_parameters_xavier`` (the course's ``randn * sqrt(1 / n_{l-1})``)
and ``initialize_parameters_glorot`` (``randn * sqrt(2 / (n_{l-1} + n_l))``):
``W_l`` ``(n_l, n_{l-1})``, ``b_l`` zeros ``(n_l, 1)``. As in the course they
seed NumPy's global random state (3, or ``seed``), draw in float64 and give
the reference's values to the bit; ``dtype`` casts the draws. The seed and the
draws hold ``dnn._rng.GLOBAL_RNG_LOCK``, so threads do not interleave them.
"""

import numpy as np

from dnn import _lines
from dnn import _rng
from dnn import _validation as v

__all__ = ["initialize_parameters_zeros", "initialize_parameters_random", "initialize_parameters_he",
           "initialize_parameters_xavier", "initialize_parameters_glorot"]


def _initialize(layers_dims, scale, seed, dtype):
    """``scale(W, n_prev, n)`` turns layer l's float64 draw into its weights; None: zeros.

    The seed and every draw run under ``dnn._rng.GLOBAL_RNG_LOCK`` (``course_seeded``).
    """
    dims = v.layer_sizes(layers_dims, "layers_dims")
    dtype = v.float_dtype(dtype)
    if scale is None:  # draws nothing: the global state is left alone, as the course's
        return _layers(dims, None, dtype)
    with _rng.course_seeded(v.seed_value(seed)):
        return _layers(dims, scale, dtype)


def _layers(dims, scale, dtype):
    """Unchecked: the parameters for ``dims``, drawing from NumPy's global state (the caller's seed)."""
    parameters = {}
    for l in range(1, len(dims)):
        # on a cache line (dnn/_lines.py)
        if scale is None:
            W = _lines.zeros((dims[l], dims[l - 1]), dtype)
        else:
            W = _lines.copy(scale(np.random.randn(dims[l], dims[l - 1]), dims[l - 1], dims[l]), dtype)
        parameters["W%d" % l] = W
        parameters["b%d" % l] = _lines.zeros((dims[l], 1), dtype)
    return parameters


def initialize_parameters_zeros(layers_dims, *, dtype=np.float64):
    """Every ``W_l`` and ``b_l`` zero: the course's example of weights that never break symmetry."""
    return _initialize(layers_dims, None, None, dtype)


def initialize_parameters_random(layers_dims, *, seed=3, dtype=np.float64):
    """``seed(3)``, ``W_l = randn * 10``: the course's example of weights too large."""
    return _initialize(layers_dims, lambda W, n_prev, n: W * 10, seed, dtype)


def initialize_parameters_he(layers_dims, *, seed=3, dtype=np.float64):
    """He et al.: ``seed(3)``, ``W_l = randn * sqrt(2 / n_{l-1})``, for ReLU layers."""
    return _initialize(layers_dims, lambda W, n_prev, n: W * np.sqrt(2. / n_prev), seed, dtype)


def initialize_parameters_xavier(layers_dims, *, seed=3, dtype=np.float64):
    """The course's Xavier: ``seed(3)``, ``W_l = randn * sqrt(1 / n_{l-1})``, for tanh layers."""
    return _initialize(layers_dims, lambda W, n_prev, n: W * np.sqrt(1. / n_prev), seed, dtype)


def initialize_parameters_glorot(layers_dims, *, seed=3, dtype=np.float64):
    """Glorot & Bengio (normal): ``seed(3)``, ``W_l = randn * sqrt(2 / (n_{l-1} + n_l))``."""
    return _initialize(layers_dims, lambda W, n_prev, n: W * np.sqrt(2. / (n_prev + n)), seed, dtype)

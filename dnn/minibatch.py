"""``random_mini_batches``: the course's shuffle, checked.

``np.random.seed(seed)``, one permutation of the m columns, then
``m // mini_batch_size`` full mini-batches and the remainder, if any: the
reference's batches exactly (it seeds NumPy's global random state, as the
course). X is converted by dnn's dtype contract (float32 stays float32, else
float64); labels keep their dtype (one row of 0/1 labels or class indices,
or K rows of one-hot labels). The seed and the permutation hold
``dnn._rng.GLOBAL_RNG_LOCK``, so threads do not interleave them.
"""

import numpy as np

from dnn import _rng
from dnn import _validation as v

__all__ = ["random_mini_batches"]


def random_mini_batches(X, Y, mini_batch_size=64, seed=0):
    """A list of ``(mini_batch_X, mini_batch_Y)``: X ``(n_x, m)``, Y ``(k, m)`` or ``(m,)``, shuffled alike.

    The batches are views into one shuffled copy of X and one of Y.
    """
    mini_batch_size = v.count(mini_batch_size, "mini_batch_size", minimum=1)
    seed = v.seed_value(seed)
    X = v.as_real_array(X, "X")
    X = v.as_float_array(X, "X", v.common_float_dtype(X))
    m = X.shape[1]
    Y = v.as_real_array(Y, "Y")
    if Y.shape == (m,):
        Y = Y.reshape(1, m)
    if Y.ndim != 2 or Y.shape[1] != m:
        raise ValueError("Y must have shape (k, %d) to match the %d examples of X, got shape %s" % (m, m, Y.shape))
    if Y.dtype.kind == "f":
        v.as_float_array(Y, "Y", Y.dtype.newbyteorder("="))  # no nan or inf (checked natively)
    return _mini_batches(X, Y, mini_batch_size, seed)


def _mini_batches(X, Y, mini_batch_size, seed):
    """Unchecked: X (n_x, m), Y (k, m), a size >= 1 and a seed NumPy takes; seeds and draws
    under ``dnn._rng.GLOBAL_RNG_LOCK``."""
    m = X.shape[1]
    with _rng.course_seeded(seed):
        permutation = np.random.permutation(m)
    shuffled_X = np.take(X, permutation, axis=1)
    shuffled_Y = np.take(Y, permutation, axis=1)
    return [(shuffled_X[:, start:start + mini_batch_size], shuffled_Y[:, start:start + mini_batch_size])
            for start in range(0, m, mini_batch_size)]

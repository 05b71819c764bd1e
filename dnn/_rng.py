"""Where initial weights come from: NumPy's global random state (the course's way), or the caller's.

The course seeds NumPy's global random state and then draws from it. Two
threads doing that at once interleave their seeds and draws, and each gets
the other's weights, so every dnn function that seeds and draws holds
``GLOBAL_RNG_LOCK`` from its seed to its last draw. (Code outside dnn that
seeds the global state is not held back by it: pass ``random_state`` to keep
out of the global state altogether.)

``random_state`` (the keyword of the initializers and the models):

- ``None``: the course's seeding, ``np.random.seed(seed)`` then ``randn``
  draws, under the lock; the course's numbers to the bit.
- an int: a private ``numpy.random.RandomState(int)``: the same draws as the
  course's ``np.random.seed(int)`` would give, the global state untouched;
- a ``numpy.random.Generator`` (or a ``RandomState``): drawn from as it is
  (``standard_normal``), advancing it; the global state untouched.
"""

import contextlib
import numbers
import threading

import numpy as np

from dnn import _lines, reference

__all__ = ["GLOBAL_RNG_LOCK", "course_seeded", "check_random_state", "initial_parameters"]

#: Held by every dnn function that seeds or draws from NumPy's global random state.
GLOBAL_RNG_LOCK = threading.RLock()


@contextlib.contextmanager
def course_seeded(seed):
    """``np.random.seed(seed)`` (None: fresh entropy, as NumPy's) under ``GLOBAL_RNG_LOCK``,
    held until the block ends: the course's seed and the block's draws, not interleaved with
    another thread's."""
    with GLOBAL_RNG_LOCK:
        np.random.seed(seed)
        yield


def check_random_state(random_state, seed=None):
    """``random_state`` as None, a ``RandomState`` or a ``Generator``; raises TypeError/ValueError."""
    if random_state is None:
        return None
    if seed is not None:
        raise ValueError("give seed or random_state, not both")
    if isinstance(random_state, (np.random.Generator, np.random.RandomState)):
        return random_state
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, (bool, np.bool_)):
        if not 0 <= int(random_state) < 2**32:
            raise ValueError("random_state must be an int in [0, 2**32), got %d" % random_state)
        return np.random.RandomState(int(random_state))
    raise TypeError("random_state must be None, an int or a numpy.random.Generator, got %s"
                    % type(random_state).__name__)


def _standard_normal(rng, shape):
    if isinstance(rng, np.random.Generator):
        return rng.standard_normal(shape)
    return rng.randn(*shape)


def initial_parameters(dims, init, seed, dtype, random_state, course_seed=None):
    """The recipe ``init``'s parameters for ``dims``: the course's way, or from ``random_state``.

    ``random_state`` is what ``check_random_state`` returns. Every draw is
    float64, scaled by the recipe's arithmetic, then cast, as the reference
    does. The course's way, ``course_seed`` is a seed its models set first
    (``np.random.seed(1)``, which the recipe's seed then overrides: kept for
    the global state it leaves), under the same lock. The arrays start on a
    cache line (``dnn._lines``: the compiled loops stream them).
    """
    if random_state is None:
        with GLOBAL_RNG_LOCK:
            if course_seed is not None:
                np.random.seed(course_seed)
            drawn = reference.initialize_parameters_deep(dims, init=init, seed=seed, dtype=dtype)
        return {key: _lines.copy(a) for key, a in drawn.items()}
    _, rule = reference.INIT_RECIPES[init]
    parameters = {}
    for l in range(1, len(dims)):
        W = reference._scale_weights(rule, _standard_normal(random_state, (dims[l], dims[l - 1])),
                                     dims[l - 1])
        parameters["W%d" % l] = _lines.copy(W, dtype)
        parameters["b%d" % l] = _lines.zeros((dims[l], 1), dtype)
    return parameters

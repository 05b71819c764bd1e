"""The course's two models, trained by gradient descent in compiled code.

``L_layer_model`` and ``two_layer_model`` have the signatures, printing,
returned parameters and cost histories of their twins in ``dnn.reference``
(the same initialization, NumPy's global random state seeded in the same
order), and run the loop in ``dnn._train``: one workspace per model, chunks of
iterations without the GIL, parameters updated in place in the arrays that
the returned dict holds.

Numbers: where the reference is finite, ours agree with it to rounding (see
``tests/test_train.py`` for the tolerances). The output layer's gradient is
the closed form ``dZ_L = A_L - Y`` and the cost is computed from ``Z_L`` with
a stable log-sigmoid, so where the reference's outputs saturate to exactly 0
or 1 (its cost becomes inf and its gradients nan) ours stay finite.

Shapes: ``X`` ``(n_x, m)``, ``Y`` ``m`` labels in {0, 1} (``(1, m)`` as the
course has them), ``W_l`` ``(n_l, n_{l-1})``, ``b_l`` ``(n_l, 1)``. Dtype: as
the reference, float32 when ``X`` is float32, else float64, or ``dtype``;
inputs are converted once and the whole run stays in that dtype.
"""

from __future__ import annotations  # signatures read as written (help(), docs)

from typing import Callable, Optional, Sequence, Union

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from dnn import _products, _rng, _train
from dnn import _validation as v
from dnn._blas_threads import blas_lent, blas_threads
from dnn.reference import INIT_RECIPES

__all__ = ["L_layer_model", "two_layer_model"]

# Initial weights come from dnn._rng: NumPy's global random state under the
# one lock every dnn initializer takes, or the caller's random_state.
RandomState = Union[None, int, np.random.Generator, np.random.RandomState]

#: Seconds of work per chunk without the GIL: how soon Ctrl-C and a progress
#: callback get their turn (a chunk also ends at every recorded cost).
CHUNK_SECONDS = 0.05

#: The reference prints the cost every this many iterations.
PRINT_EVERY = 100


# --------------------------------------------------------------------------
# Memory layout, chosen by measurement
# --------------------------------------------------------------------------

def _samples_major(layers_dims, dtype):
    """Whether ``dnn._train.Trainer`` stores activations samples-major, (m, n_l).

    Features-major, as the reference, everywhere but one case: float32 with a
    narrow first layer on a wide input (the cat network's 12288 -> 20), where
    sgemm ran 11-30% faster on the transposed operands. The measurements
    are in ``dnn/_train.pyx``'s docstring.
    """
    n_0, n_1 = layers_dims[0], layers_dims[1]
    return dtype == np.float32 and n_0 >= 1024 and n_0 >= 16 * n_1


def _gram_form(layers_dims, m, num_iterations):
    """Whether the first layer runs in the Gram form (``dnn._train.Trainer``).

    X never changes, so after W_1 := W_1 + a dZ_1 X^T the next forward pass's
    W_1 X is the last one plus a dZ_1 (X^T X): with G = X^T X computed once,
    a (n_1, m) x (m, m) product replaces the (n_1, n_0) x (n_0, m) one, and
    each iteration reads X once (for the update) instead of twice. It pays
    when there are fewer examples than input features, by enough to repay G:
    on the cat network (12288 inputs, 209 examples) it halves the work of an
    iteration. W_1 X is still recomputed exactly every 64 iterations.
    """
    n_0, n_1 = layers_dims[0], layers_dims[1]
    if 2 * m > n_0:
        return False
    saved = 2.0 * n_1 * m * (n_0 - m) * num_iterations
    return saved > 2 * (2.0 * m * m * n_0)


def _shards(layers_dims, m, gram, chunk_iterations=PRINT_EVERY):
    """Into how many blocks of examples ``dnn._train.Trainer`` splits the batch.

    2 (one per core of a 2-core machine) or 1. Each shard runs the forward
    and backward pass on its block with one-thread BLAS calls, on a thread of
    its own; the shards' gradients are then added up. That beats handing
    every gemm to a 2-thread BLAS where the gemms are small, since BLAS
    wakes and syncs its threads on every call and our elementwise passes run
    on one core (measured, median of 7 paired runs, 2 cores, against the
    unsplit loop with 2 BLAS threads: S3 1.36x / 1.31x, S6 1.42x / 1.31x,
    S4 1.10x / 1.05x in float64 / float32). It does not pay where there is
    more parameter than activation data (S5, the cat network): every
    iteration adds up the shards' weight gradients, while the gemms there
    are large enough for BLAS's threads. Nor on tiny nets (S2), nor with the
    Gram form. Nor where a chunk (``chunk_iterations``, up to the next
    recorded cost) is too little work to repay starting its threads, tens of
    microseconds. And not where BLAS may use more than 2 threads: those would
    go unused. The split, not the thread count, fixes the numbers: one or
    two threads give the same result to the last bit.
    """
    if gram or m < 128:
        return 1
    params = sum(a * b for a, b in zip(layers_dims[1:], layers_dims))
    activations = sum(layers_dims[1:]) * m
    flops = 6 * params * m
    if params > activations or flops < 2e6 or flops * chunk_iterations < 5e7:
        return 1
    return 2 if blas_threads() <= 2 else 1


def _own_products(layers_dims, m, itemsize, shards, gram=False, num_iterations=None):
    """Which of each layer's products skip BLAS for ``dnn._simd`` (``Trainer``'s ``own``).

    ``dnn._products.for_training``'s rule, with the BLAS thread count the user allows.
    """
    return _products.for_training(layers_dims, m, itemsize, shards, blas_threads(), gram,
                                  num_iterations)


# --------------------------------------------------------------------------
# Input checks (the generic ones are dnn._validation's)
# --------------------------------------------------------------------------

def _training_dtype(X, dtype):
    """The reference's rule: ``dtype`` if given, else float32 for float32 ``X``, else float64."""
    if dtype is None:
        return np.dtype(np.float32) if X.dtype == np.float32 else np.dtype(np.float64)
    return v.float_dtype(dtype)


def _training_data(X, Y, dims, dtype):
    """``(X, Y, dtype)``: X ``(n_x, m)`` and Y ``(1, m)``, C-contiguous, finite, one dtype."""
    X = v.as_real_array(X, "X")
    dtype = _training_dtype(X, dtype)
    # Sizes first, from the shape alone: the conversion below may copy X.
    if X.ndim == 2 and X.shape[0] != dims[0]:
        raise ValueError("X must have layers_dims[0] = %d rows (features), got shape %s"
                         % (dims[0], X.shape))
    if X.ndim == 2 and max(dims) * X.shape[1] > v.BLAS_INT_MAX:
        raise ValueError("a layer of %d units on %d examples has too many elements for "
                         "32-bit indexing (the limit is 2**31 - 1)" % (max(dims), X.shape[1]))
    X = v.as_float_array(X, "X", dtype)
    m = X.shape[1]
    Y = v.as_real_array(Y, "Y")
    if Y.size != m:
        raise ValueError("Y must hold one label per example, %d (shape (1, %d)), got shape %s"
                         % (m, m, Y.shape))
    Y = v.labels_row(Y.reshape(1, m), "Y", m, dtype)
    return X, Y, dtype


def _learning_rate(learning_rate):
    lr = v.real_scalar(learning_rate, "learning_rate")
    if lr <= 0:
        raise ValueError("learning_rate must be > 0, got %r" % (learning_rate,))
    return lr


def _callback(callback):
    if callback is not None and not callable(callback):
        raise TypeError("callback must be callable as callback(iteration, cost) or None, got %s"
                        % type(callback).__name__)
    return callback


# --------------------------------------------------------------------------
# The loop driver
# --------------------------------------------------------------------------

def _next_event(i, num_iterations, cost_every, print_every):
    """The first iteration >= i whose cost is recorded or printed, or -1."""
    best = -1
    for every in (cost_every, print_every):
        if every:
            j = -(-i // every) * every
            if j < num_iterations and (best < 0 or j < best):
                best = j
    return best


def _descend(parameters, X, Y, dtype, learning_rate, num_iterations, print_cost, cost_every,
             callback):
    """``_train_in_place``, telling an interrupted caller where it stopped.

    On Ctrl-C the ``KeyboardInterrupt`` carries ``parameters`` (updated in
    place up to the last whole chunk), ``iterations`` and ``costs``.
    """
    try:
        return _train_in_place(parameters, X, Y, dtype, learning_rate, num_iterations,
                               print_cost, cost_every, callback)
    except KeyboardInterrupt as exc:
        exc.parameters = parameters
        raise


def _train_in_place(parameters, X, Y, dtype, learning_rate, num_iterations, print_cost,
                    cost_every, callback):
    """Gradient descent on ``parameters`` in place; returns the recorded costs.

    Chunk after chunk: the compiled loop runs without the GIL until the next
    iteration whose cost is recorded or printed, or for ``CHUNK_SECONDS``;
    back in Python, that cost is recorded and printed, pending signals are
    handled (Ctrl-C raises here) and ``callback(iterations_done, cost)`` runs,
    with the latest recorded cost or None. A fit split into shards holds
    BLAS at one thread from start to end, callbacks included
    (``dnn._blas_threads``): a BLAS thread left spinning by a call between
    two chunks would take a core from the next one.
    """
    L = len(parameters) // 2
    dims = [X.shape[0]] + [parameters["W%d" % l].shape[0] for l in range(1, L + 1)]
    m = X.shape[1]
    gram = _gram_form(dims, m, num_iterations)
    every = [k for k in (cost_every, PRINT_EVERY if print_cost else 0) if k]
    shards = _shards(dims, m, gram, min(every + [max(num_iterations, 1)]))
    weights = [parameters["W%d" % l] for l in range(1, L + 1)]
    biases = [parameters["b%d" % l] for l in range(1, L + 1)]
    own = _own_products(dims, m, dtype.itemsize, shards, gram, num_iterations)
    if shards == 1:
        trainer = _train.Trainer(weights, biases, X, Y, learning_rate,
                                 _samples_major(dims, dtype), gram, 1, own)
        return _drive(trainer, 1, dtype, num_iterations, print_cost, cost_every, callback)
    with blas_lent(shards) as threads:
        trainer = _train.Trainer(weights, biases, X, Y, learning_rate,
                                 _samples_major(dims, dtype), gram, shards, own)
        return _drive(trainer, threads, dtype, num_iterations, print_cost, cost_every,
                      callback)


def _drive(trainer, threads, dtype, num_iterations, print_cost, cost_every, callback):
    """Run ``trainer`` chunk by chunk on ``threads`` threads; returns the recorded costs."""
    print_every = PRINT_EVERY if print_cost else 0
    costs = []
    latest = None
    i = 0
    try:
        while i < num_iterations:
            event = _next_event(i, num_iterations, cost_every, print_every)
            done, cost = trainer.run(i, num_iterations, event, CHUNK_SECONDS, threads)
            i += done
            if i - 1 == event:
                # The reference's cost is a number of the training dtype.
                latest = float(dtype.type(cost))
                if cost_every and event % cost_every == 0:
                    costs.append(latest)
                if print_every and event % print_every == 0:
                    print("Cost after iteration %i: %f" % (event, latest))
            if callback is not None:
                callback(i, latest)
    except KeyboardInterrupt as exc:
        # Between chunks the parameters are those after trainer.iterations_done
        # iterations (with the Gram form's W_1 published): say so to the caller.
        exc.iterations = trainer.iterations_done
        exc.costs = costs
        raise
    return costs


# --------------------------------------------------------------------------
# The models
# --------------------------------------------------------------------------

def L_layer_model(X: ArrayLike, Y: ArrayLike, layers_dims: Sequence[int],
                  learning_rate: float = 0.0075, num_iterations: int = 3000,
                  print_cost: bool = False, *, init: str = "app-utils",
                  seed: Optional[int] = None, dtype: DTypeLike = None, return_costs: bool = False,
                  cost_every: int = 100, callback: Optional[Callable] = None,
                  random_state: RandomState = None):
    """[LINEAR -> RELU] * (L-1) -> LINEAR -> SIGMOID trained by full-batch gradient descent.

    ``X`` is ``(layers_dims[0], m)``, ``Y`` holds ``m`` labels in {0, 1}
    (shape ``(1, m)``); ``layers_dims`` ends with 1. The weights are
    initialized by ``dnn.reference.initialize_parameters_deep(layers_dims,
    init=init, seed=seed)`` after ``np.random.seed(1)``, as the course does.
    Prints ``"Cost after iteration i: c"`` every 100 iterations when
    ``print_cost``. ``callback(iteration, cost)``, if given, is called every
    few hundredths of a second with the number of iterations done and the
    latest recorded cost (or None). Training reads ``X`` and ``Y`` in place
    when they already have the training dtype and C order, and some of what
    it derives from ``X`` is kept across iterations: neither the callback
    nor another thread may modify them while it runs.

    Returns the dict ``W1..WL`` ``(n_l, n_{l-1})``, ``b1..bL`` ``(n_l, 1)`` of
    the training dtype, or ``(parameters, costs)`` with ``return_costs=True``,
    where ``costs`` holds, as Python floats, the cost at every
    ``cost_every``-th iteration starting at 0 (``cost_every=0``: none).
    Interrupted (Ctrl-C), it raises ``KeyboardInterrupt`` carrying
    ``parameters`` (the weights reached, usable as they are), ``iterations``
    (how many iterations made them) and ``costs`` (recorded so far).
    """
    dims = v.layer_sizes(layers_dims, "layers_dims", one_output=True)
    X, Y, dtype = _training_data(X, Y, dims, dtype)
    learning_rate = _learning_rate(learning_rate)
    num_iterations = v.count(num_iterations, "num_iterations")
    cost_every = v.count(cost_every, "cost_every")
    init = v.init_recipe(init, INIT_RECIPES)
    seed = v.seed_value(seed)
    callback = _callback(callback)
    rng = _rng.check_random_state(random_state, seed)
    parameters = _rng.initial_parameters(dims, init, seed, dtype, rng, course_seed=1)
    costs = _descend(parameters, X, Y, dtype, learning_rate, num_iterations, print_cost,
                     cost_every, callback)
    return (parameters, costs) if return_costs else parameters


def two_layer_model(X: ArrayLike, Y: ArrayLike, layers_dims: Sequence[int],
                    learning_rate: float = 0.0075, num_iterations: int = 3000,
                    print_cost: bool = False, *, dtype: DTypeLike = None,
                    return_costs: bool = False, callback: Optional[Callable] = None,
                    random_state: RandomState = None):
    """LINEAR -> RELU -> LINEAR -> SIGMOID trained by full-batch gradient descent.

    ``layers_dims`` is ``(n_x, n_h, 1)``; the weights are the course's
    ``initialize_parameters(n_x, n_h, n_y)`` (``np.random.seed(1)``,
    ``randn * 0.01``). Costs are recorded and, with ``print_cost``, printed
    every 100 iterations. Otherwise as ``L_layer_model`` (``random_state``,
    Ctrl-C too): returns the dict ``W1, b1, W2, b2``, or ``(parameters,
    costs)`` with ``return_costs=True``.
    """
    dims = v.layer_sizes(layers_dims, "layers_dims", length=3, one_output=True)
    X, Y, dtype = _training_data(X, Y, dims, dtype)
    learning_rate = _learning_rate(learning_rate)
    num_iterations = v.count(num_iterations, "num_iterations")
    callback = _callback(callback)
    rng = _rng.check_random_state(random_state)
    parameters = _rng.initial_parameters(dims, "article", None, dtype, rng, course_seed=1)
    costs = _descend(parameters, X, Y, dtype, learning_rate, num_iterations, print_cost,
                     PRINT_EVERY, callback)
    return (parameters, costs) if return_costs else parameters

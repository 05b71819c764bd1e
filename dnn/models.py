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

import time
import warnings

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from dnn import _course2_validation as c2
from dnn import _loop_plan, _plan, _rng
from dnn import _validation as v
from dnn._blas_threads import blas_lent
from dnn.reference import INIT_RECIPES

__all__ = ["L_layer_model", "two_layer_model"]

# Initial weights come from dnn._rng: NumPy's global random state under the
# one lock every dnn initializer takes, or the caller's random_state.
RandomState = Union[None, int, np.random.Generator, np.random.RandomState]
#: ``plan=``: "auto", "blas", a ``dnn.Plan`` or (the second part's loop) a ``dnn.LoopPlan``.
PlanArg = Union[str, "_plan.Plan", "_loop_plan.LoopPlan"]

#: Seconds of work per chunk without the GIL: how soon Ctrl-C and a progress
#: callback get their turn (a chunk also ends at every recorded cost).
CHUNK_SECONDS = 0.05

#: The reference prints the cost every this many iterations.
PRINT_EVERY = 100


# --------------------------------------------------------------------------
# Input checks (the generic ones are dnn._validation's)
# --------------------------------------------------------------------------

def _training_dtype(X, dtype):
    """The reference's rule: ``dtype`` if given, else float32 for float32 ``X``, else float64."""
    if dtype is None:
        return np.dtype(np.float32) if X.dtype.type is np.float32 else np.dtype(np.float64)  # either byte order
    return v.float_dtype(dtype)


def _training_data(X, Y, dims, dtype, output="sigmoid"):
    """``(X, Y, dtype)``: X ``(n_x, m)`` and Y ``(1, m)`` (softmax: one-hot ``(K, m)``),
    C-contiguous, finite, one dtype."""
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
    if output == "softmax":
        return X, c2.class_labels(Y, "Y", dims[-1], m, dtype), dtype
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


def _plan_arg(plan, loop=False):
    """``plan=`` checked: a ``dnn.Plan`` for the course's loop (``dnn._train``), a ``dnn.LoopPlan``
    for the second part's (``dnn._loop``, ``loop``), or ``"auto"``, ``"blas"`` for either."""
    kind = _loop_plan.LoopPlan if loop else _plan.Plan
    if isinstance(plan, kind) or (isinstance(plan, str) and plan in ("auto", "blas")):
        return plan
    raise ValueError('plan must be "auto", "blas" or a dnn.%s%s, got %r' % (
        kind.__name__, " (lambd, keep_prob, hidden_activation or output train in dnn._loop)"
        if loop else "", plan))


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
             callback, plan="auto"):
    """``_train_in_place``, telling an interrupted caller where it stopped, and warning once
    (``_warn_if_diverged``) when the fit diverged.

    On Ctrl-C the ``KeyboardInterrupt`` carries ``parameters`` (updated in
    place up to the last whole chunk), ``iterations`` and ``costs``.
    """
    try:
        costs = _train_in_place(parameters, X, Y, dtype, learning_rate, num_iterations,
                                print_cost, cost_every, callback, plan)
    except KeyboardInterrupt as exc:
        exc.parameters = parameters
        raise
    _warn_if_diverged(parameters, costs, cost_every, num_iterations)
    return costs


def _warn_if_diverged(parameters, costs, cost_every, num_iterations):
    """Warn once (``RuntimeWarning``, ``model``'s and ``_descend_loop``'s words) when the fit
    diverged. The course's loop computes the cost only where it is recorded or printed, so this
    looks after the fit, never per iteration: at the first recorded cost that is not finite, else
    at the parameters reached (the course's contract: they are returned as they are)."""
    from dnn.course_model import warn_diverged  # (course_model imports functional, models)
    bad = next((k for k, cost in enumerate(costs) if not np.isfinite(cost)), None)
    if bad is not None:
        warn_diverged("iteration", bad * cost_every, 4)
    elif not all(np.isfinite(a).all() for a in parameters.values()):
        warnings.warn("training diverged: the parameters after iteration %d are not finite; lower the "
                      "learning rate" % (num_iterations - 1), RuntimeWarning, stacklevel=4)


def _train_in_place(parameters, X, Y, dtype, learning_rate, num_iterations, print_cost,
                    cost_every, callback, plan):
    """Gradient descent on ``parameters`` in place; returns the recorded costs.

    Chunk after chunk: the compiled loop runs without the GIL until the next
    iteration whose cost is recorded or printed, or for ``CHUNK_SECONDS``;
    back in Python, that cost is recorded and printed, pending signals are
    handled (Ctrl-C raises here) and ``callback(iterations_done, cost)`` runs,
    with the latest recorded cost or None. A fit holds BLAS at one thread
    from start to end, callbacks included (``dnn._blas_threads``): its
    products' sums are then one thread's whatever the threads allowed (the
    same bits at any count: ``dnn._plan``), and a BLAS thread left spinning
    by a call between two chunks cannot take a core from the next one.
    """
    L = len(parameters) // 2
    dims = [X.shape[0]] + [parameters["W%d" % l].shape[0] for l in range(1, L + 1)]
    m = X.shape[1]
    every = [k for k in (cost_every, PRINT_EVERY if print_cost else 0) if k]
    chunk = min(every + [max(num_iterations, 1)])
    weights = [parameters["W%d" % l] for l in range(1, L + 1)]
    biases = [parameters["b%d" % l] for l in range(1, L + 1)]
    if isinstance(plan, _plan.Plan):
        plan.check(dims, m)
    elif plan == "blas":
        plan = _plan.blas_plan(dims, m, dtype, num_iterations, chunk)
    else:
        plan = _plan.choose(weights, biases, X, Y, learning_rate, num_iterations, chunk)
    with blas_lent(_plan.fit_threads(plan)) as threads:
        trainer = _plan._trainer(plan, weights, biases, X, Y, learning_rate, threads)
        return _drive(trainer, threads, dtype, num_iterations, print_cost, cost_every,
                      callback)


def _drive(trainer, threads, dtype, num_iterations, print_cost, cost_every, callback):
    """Run ``trainer`` chunk by chunk on ``threads`` threads; returns the recorded costs."""
    print_every = PRINT_EVERY if print_cost else 0
    costs = []
    latest = None
    i = 0
    event = -1
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
        # iterations (with the Gram form's W_1 published): say so to the caller. A Ctrl-C during a
        # chunk is raised as it returns: a cost it reached is recorded here, unless it already was.
        if (trainer.iterations_done - 1 == event >= 0 and cost_every and event % cost_every == 0
                and len(costs) <= event // cost_every):
            costs.append(float(dtype.type(trainer.last_cost)))
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
                  random_state: RandomState = None, plan: PlanArg = "auto", lambd: float = 0.0,
                  keep_prob=1.0, hidden_activation: str = "relu", output: Optional[str] = None):
    """[LINEAR -> RELU] * (L-1) -> LINEAR -> SIGMOID trained by full-batch gradient descent.

    ``X`` is ``(layers_dims[0], m)``, ``Y`` holds ``m`` labels in {0, 1}
    (shape ``(1, m)``); ``layers_dims`` ends with 1. The weights are
    initialized by ``dnn.reference.initialize_parameters_deep(layers_dims,
    init=init, seed=seed)`` after ``np.random.seed(1)``, as the course does;
    ``random_state`` (an int, which gives the same weights as that seed, or a
    ``numpy.random.Generator``) draws them without touching NumPy's global
    random state. Prints ``"Cost after iteration i: c"`` every 100 iterations when
    ``print_cost``. ``callback(iteration, cost)``, if given, is called every
    few hundredths of a second with the number of iterations done and the
    latest recorded cost (or None). Training reads ``X`` and ``Y`` in place
    when they already have the training dtype and C order, and some of what
    it derives from ``X`` is kept across iterations: neither the callback
    nor another thread may modify them while it runs.

    ``plan`` decides how the loop runs (``dnn._plan``): ``"auto"`` (default)
    takes the rule for fits under ``PLAN_MIN_ITERATIONS`` iterations and, for
    longer ones, the fastest of a few candidate plans timed on this fit's data
    the first time its key (layer sizes, m, dtype, Gram form, shards, cores,
    CPU, SIMD build, BLAS and its kernel set; not the thread count) is met,
    kept in the process and in the wisdom file (``DNN_WISDOM``; ``dnn info
    --plan`` shows it); ``"blas"`` runs every product on BLAS; a ``dnn.Plan``
    is used as given. What changes the last bits: the plan (which products
    run in our kernels, the shards, the Gram form, the layout), the build of
    our kernels (the CPU), the BLAS and its kernel set, and for an unsplit fit
    the machine's CPU count (its slabs: at most one per CPU, up to 4). The thread count does
    not: BLAS runs one thread a call for the whole fit, and the threads take
    a split fit's shards in turn. With ``"auto"``, a long fit's first decision is
    timed, so without a wisdom file a new process may decide otherwise;
    once kept, timing never changes it.

    The course's second part: ``lambd`` (L2), ``keep_prob`` (inverted dropout,
    one number or one per hidden layer), ``hidden_activation`` (``"relu"``,
    ``"tanh"``, ``"leaky_relu"``) and ``output`` (``"sigmoid"``,
    ``"softmax"``: ``layers_dims[-1]`` classes, labels class indices or
    one-hot ``(K, m)``; None is the course's sigmoid). With their defaults the fit is the
    one above; otherwise it runs full-batch gradient descent in the compiled
    mini-batch loop (``dnn._loop``, one batch of all m examples; ``plan`` is
    then ``"auto"``, ``"blas"`` or a ``dnn.LoopPlan``, ``dnn.model``'s), the cost ``compute_cost_with_regularization``'s, computed from
    ``Z_L``. Dropout's masks are keyed by ``seed`` (0 if None) and the
    iteration.

    A fit that diverges is warned about once (``RuntimeWarning``, as
    ``model``'s) and goes on: in the loop above at the first cost that is
    inf or nan; in the course's loop, which computes the cost only where it is
    recorded or printed, after the fit, at the first recorded cost that is
    not finite, or else when the returned weights are not.

    Returns the dict ``W1..WL`` ``(n_l, n_{l-1})``, ``b1..bL`` ``(n_l, 1)`` of
    the training dtype, or ``(parameters, costs)`` with ``return_costs=True``,
    where ``costs`` holds, as Python floats, the cost at every
    ``cost_every``-th iteration starting at 0 (``cost_every=0``: none).
    Interrupted (Ctrl-C), it raises ``KeyboardInterrupt`` carrying
    ``parameters`` (the weights reached, usable as they are), ``iterations``
    (how many iterations made them) and ``costs`` (recorded so far).
    """
    second = _second_part(layers_dims, lambd, keep_prob, hidden_activation, output)
    if second is None:
        dims = v.layer_sizes(layers_dims, "layers_dims", one_output=True, trained=True)
        X, Y, dtype = _training_data(X, Y, dims, dtype)
    else:
        dims = second["dims"]
        X, Y, dtype = _training_data(X, Y, dims, dtype, second["output"])
    learning_rate = _learning_rate(learning_rate)
    num_iterations = v.count(num_iterations, "num_iterations", maximum=v.COUNTER_MAX)
    cost_every = v.count(cost_every, "cost_every")
    init = v.init_recipe(init, INIT_RECIPES)
    seed = v.seed_value(seed)
    callback = _callback(callback)
    plan = _plan_arg(plan, loop=second is not None)
    rng = _rng.check_random_state(random_state, seed)
    parameters = _rng.initial_parameters(dims, init, seed, dtype, rng, course_seed=1)
    if second is None:
        costs = _descend(parameters, X, Y, dtype, learning_rate, num_iterations, print_cost,
                         cost_every, callback, plan)
    else:
        costs = _descend_loop(parameters, X, Y, dtype, learning_rate, num_iterations, print_cost,
                              cost_every, callback, second, 0 if seed is None else seed, plan)
    return (parameters, costs) if return_costs else parameters


def _second_part(layers_dims, lambd, keep_prob, hidden_activation, output):
    """None for the course's network (relu, sigmoid, no L2, no dropout: ``dnn._train``'s fast
    path), else the checked keywords for ``_descend_loop``."""
    hidden = c2.choice(hidden_activation, "hidden_activation", c2.HIDDEN_ACTIVATIONS)
    lambd = c2.scalar_in(lambd, "lambd", 0.0, np.inf)
    if output is not None:
        c2.choice(output, "output", ("sigmoid", "softmax"))
    if output in (None, "sigmoid") and hidden == "relu" and lambd == 0 and _no_dropout(keep_prob):
        return None
    output = output or "sigmoid"
    dims = v.layer_sizes(layers_dims, "layers_dims", one_output=output == "sigmoid", trained=True)
    output = c2.output_kind(output, dims[-1], "layers_dims[-1]")
    keep = c2.keep_probs(keep_prob, len(dims) - 1)
    if output == "sigmoid" and hidden == "relu" and lambd == 0 and all(k == 1 for k in keep):
        return None
    return {"dims": dims, "hidden": hidden, "output": output, "lambd": lambd, "keep": keep}


def _no_dropout(keep_prob):
    try:
        return bool(np.all(np.asarray(keep_prob, dtype=np.float64) == 1))
    except (TypeError, ValueError):
        return False  # checked (and refused) by _second_part's keep_probs


def _descend_loop(parameters, X, Y, dtype, learning_rate, num_iterations, print_cost, cost_every,
                  callback, second, dropout_seed, plan):
    """Full-batch gradient descent in ``dnn._loop`` (one epoch of one batch per iteration), with
    ``_drive``'s recording, printing, callback and Ctrl-C contract; returns the recorded costs."""
    L = len(second["dims"]) - 1
    m = X.shape[1]
    layers = [(parameters["W%d" % l], parameters["b%d" % l]) for l in range(1, L + 1)]
    loop = _loop_plan.make_loop(plan, layers, np.ascontiguousarray(X.T), np.ascontiguousarray(Y.T), learning_rate,
                      num_iterations, False, hidden=second["hidden"],
                      output=second["output"], optimizer="gd", batch_size=m, lambd=second["lambd"],
                      keep=second["keep"], dropout_seed=dropout_seed)
    costs = []
    latest = None
    i = 0
    diverged = False
    last = time.perf_counter()
    try:
        while i < num_iterations:
            total, _, _ = loop.epoch(None, learning_rate, 0, i)
            cost = float(dtype.type(total / m))
            if not np.isfinite(cost) and not diverged:
                diverged = True
                from dnn.course_model import warn_diverged  # (course_model imports functional, models)
                warn_diverged("iteration", i, 3)
            if cost_every and i % cost_every == 0:
                costs.append(cost)
                latest = cost
            if print_cost and i % PRINT_EVERY == 0:
                latest = cost
                print("Cost after iteration %i: %f" % (i, cost))
            i += 1
            if callback is not None and (i == num_iterations or time.perf_counter() - last >= CHUNK_SECONDS):
                callback(i, latest)
                last = time.perf_counter()
    except KeyboardInterrupt as exc:
        from dnn.course_model import count_interrupted_epoch
        i = count_interrupted_epoch(loop, i, costs, cost_every, float(dtype.type(loop.loss / m)))
        exc.parameters, exc.iterations, exc.costs = parameters, i, costs
        raise
    return costs


def two_layer_model(X: ArrayLike, Y: ArrayLike, layers_dims: Sequence[int],
                    learning_rate: float = 0.0075, num_iterations: int = 3000,
                    print_cost: bool = False, *, dtype: DTypeLike = None,
                    return_costs: bool = False, callback: Optional[Callable] = None,
                    random_state: RandomState = None, plan: PlanArg = "auto"):
    """LINEAR -> RELU -> LINEAR -> SIGMOID trained by full-batch gradient descent.

    ``layers_dims`` is ``(n_x, n_h, 1)``; the weights are the course's
    ``initialize_parameters(n_x, n_h, n_y)`` (``np.random.seed(1)``,
    ``randn * 0.01``). Costs are recorded and, with ``print_cost``, printed
    every 100 iterations. Otherwise as ``L_layer_model`` (``random_state``,
    ``plan``, Ctrl-C too): returns the dict ``W1, b1, W2, b2``, or
    ``(parameters, costs)`` with ``return_costs=True``.
    """
    dims = v.layer_sizes(layers_dims, "layers_dims", length=3, one_output=True, trained=True)
    X, Y, dtype = _training_data(X, Y, dims, dtype)
    learning_rate = _learning_rate(learning_rate)
    num_iterations = v.count(num_iterations, "num_iterations", maximum=v.COUNTER_MAX)
    callback = _callback(callback)
    plan = _plan_arg(plan)
    rng = _rng.check_random_state(random_state)
    parameters = _rng.initial_parameters(dims, "article", None, dtype, rng, course_seed=1)
    costs = _descend(parameters, X, Y, dtype, learning_rate, num_iterations, print_cost,
                     PRINT_EVERY, callback, plan)
    return (parameters, costs) if return_costs else parameters

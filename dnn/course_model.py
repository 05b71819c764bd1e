"""``model``: the optimization notebook's training function, for L layers.

``model(X, Y, layers_dims, optimizer, learning_rate=0.0007, mini_batch_size=64,
beta=0.9, beta1=0.9, beta2=0.999, epsilon=1e-8, num_epochs=5000,
print_cost=True, decay=None, decay_rate=1)`` as the course, plus the second
part's keywords (``lambd``, ``keep_prob``, ``hidden_activation``, ``output``)
and dnn's (``init``, ``seed``, ``dtype``, ``return_costs``, ``cost_every``).
It checks its input once, then keeps the course's epoch loop in Python
(decay, printing, costs) and runs each epoch's mini-batches in one call of the
compiled loop (``dnn._loop``: optimizer state and dropout masks in a workspace
allocated once per fit, nothing allocated per batch, no GIL), after drawing
the epoch's permutation as ``random_mini_batches`` does. The numbers are those
of the reference's loop over dnn's NumPy functions (``dnn.minibatch``,
``dnn.network``, ``dnn.optimizers``) to rounding (``tests/test_loop.py``).
"""

import warnings

import numpy as np

from dnn import _course2_validation as c
from dnn import _validation as v
from dnn import _lines, _loop, _loop_plan, _rng, initializers
from dnn.functional import initialize_parameters_deep
from dnn.reference import INIT_RECIPES

__all__ = ["model"]

#: The course prints the cost every this many epochs.
PRINT_EVERY = 1000


def warn_diverged(what, i, stacklevel):
    """A fit's cost became inf or nan (its weights overflowed): warned once, as the course's loop
    would only show ``nan`` in its printed costs; training goes on (the course's contract)."""
    warnings.warn("training diverged: the cost at %s %d is not finite, so the parameters are not "
                  "either; lower the learning rate" % (what, i), RuntimeWarning, stacklevel=stacklevel + 1)


def count_interrupted_epoch(loop, done, costs, cost_every, cost):
    """The epochs done when a Ctrl-C stopped a fit after ``done`` of them were counted.

    A Ctrl-C during a compiled epoch is raised as ``loop.epoch`` returns: that epoch is in the
    parameters and in ``loop.epochs`` (``dnn._loop`` counts it first) but not yet in ``done``. Its
    cost, ``cost``, is added to ``costs`` if it is due (every ``cost_every``-th from 0) and not
    there yet, so the three agree: parameters, epochs done, costs recorded."""
    if loop.epochs <= done:
        return done
    if cost_every and done % cost_every == 0 and len(costs) <= done // cost_every:
        costs.append(cost)
    return loop.epochs


def _checked(X, Y, layers_dims, optimizer, learning_rate, mini_batch_size, beta, beta1, beta2, epsilon,
             num_epochs, decay, decay_rate, lambd, keep_prob, hidden_activation, output, init, seed, dtype,
             cost_every):
    opts = dict(
        optimizer=c.choice(optimizer, "optimizer", c.OPTIMIZERS),
        learning_rate=c.scalar_in(learning_rate, "learning_rate", 0.0, np.inf, low_open=True),
        mini_batch_size=v.count(mini_batch_size, "mini_batch_size", minimum=1),
        beta=c.scalar_in(beta, "beta", 0.0, 1.0),
        beta1=c.scalar_in(beta1, "beta1", 0.0, 1.0, high_open=True),
        beta2=c.scalar_in(beta2, "beta2", 0.0, 1.0, high_open=True),
        epsilon=c.scalar_in(epsilon, "epsilon", 0.0, np.inf, low_open=True),
        num_epochs=v.count(num_epochs, "num_epochs", maximum=v.COUNTER_MAX),
        decay_rate=c.scalar_in(decay_rate, "decay_rate", 0.0, np.inf),
        lambd=c.scalar_in(lambd, "lambd", 0.0, np.inf),
        hidden=c.choice(hidden_activation, "hidden_activation", c.HIDDEN_ACTIVATIONS),
        seed=v.seed_value(seed),
        cost_every=v.count(cost_every, "cost_every"),
    )
    _check_shuffle_seeds(opts["seed"], opts["num_epochs"])
    if decay is not None and not callable(decay):
        raise TypeError("decay must be None or a function (learning_rate0, epoch_num, decay_rate), "
                        "such as dnn.update_lr, got %s" % type(decay).__name__)
    if init is not None:
        v.init_recipe(init, INIT_RECIPES)
    dims = v.layer_sizes(layers_dims, "layers_dims", trained=True)
    if output is not None:  # model trains classifiers (DNNRegressor trains an identity output)
        c.choice(output, "output", ("sigmoid", "softmax"))
    opts["output"] = c.output_kind(output, dims[-1], "layers_dims[-1]")
    opts["keep"] = c.keep_probs(keep_prob, len(dims) - 1)
    X = v.as_real_array(X, "X")
    dtype = v.float_dtype(dtype) if dtype is not None else (
        v.common_float_dtype(X))
    X = v.as_float_array(X, "X", dtype)
    if X.shape[0] != dims[0]:
        raise ValueError("X must have %d rows (layers_dims[0] features), got shape %s" % (dims[0], X.shape))
    m = X.shape[1]
    if opts["output"] == "sigmoid":
        Y = v.labels_row(Y, "Y", m, dtype)
    else:
        Y = c.class_labels(Y, "Y", dims[-1], m, dtype)
    return X, Y, dims, dtype, opts


def _check_shuffle_seeds(seed, num_epochs):
    """Epoch i reshuffles with ``seed + 1 + i``, a seed of NumPy's legacy seeding too: all of them, up
    to ``seed + num_epochs``, must be below 2**32 (checked before any work, not at the failing epoch)."""
    if seed is not None and num_epochs > 2**32 - 1:
        raise ValueError("num_epochs=%d with a seed: epoch i shuffles with seed + 1 + i, below 2**32, so at "
                         "most 2**32 - 1 epochs take a seed, got %d" % (num_epochs, num_epochs))
    if seed is not None and seed + num_epochs > 2**32 - 1:
        raise ValueError("seed must be in [0, 2**32 - 1 - num_epochs] = [0, %d] with num_epochs=%d (epoch i "
                         "shuffles with seed + 1 + i, below 2**32), got %d"
                         % (2**32 - 1 - num_epochs, num_epochs, seed))


def _compiled_loop(parameters, X, Y, L, o, seed, plan):
    """The epoch runner (``dnn._loop.Loop``) over ``parameters`` (updated in place): X and Y
    samples-major (one transposed copy each, made once per fit), the optimizer state zeros, the
    products ``plan`` decides (``dnn._loop_plan.make_loop``)."""
    layers = [(parameters["W%d" % l], parameters["b%d" % l]) for l in range(1, L + 1)]
    zeros = lambda: [(_lines.zeros_like(W), _lines.zeros_like(b)) for W, b in layers]  # noqa: E731
    v = zeros() if o["optimizer"] in _loop.USES_V else None
    s = zeros() if o["optimizer"] in _loop.USES_S else None
    return _loop_plan.make_loop(plan, layers, np.ascontiguousarray(X.T), np.ascontiguousarray(Y.T),
                      o["learning_rate"], o["num_epochs"], hidden=o["hidden"],
                      output=o["output"], optimizer=o["optimizer"], batch_size=o["mini_batch_size"],
                      lambd=o["lambd"], keep=o["keep"], dropout_seed=0 if seed is None else seed, beta=o["beta"],
                      beta1=o["beta1"], beta2=o["beta2"], epsilon=o["epsilon"], v=v, s=s)


def _course_order(m, seed):
    """The course's shuffle (``random_mini_batches``): NumPy's global state seeded, one permutation,
    under ``dnn._rng.GLOBAL_RNG_LOCK``."""
    with _rng.course_seeded(seed):
        permutation = np.random.permutation(m)
    return permutation.astype(np.int64, copy=False)


def model(X, Y, layers_dims, optimizer, learning_rate=0.0007, mini_batch_size=64, beta=0.9,
          beta1=0.9, beta2=0.999, epsilon=1e-8, num_epochs=5000, print_cost=True, decay=None, decay_rate=1,
          *, lambd=0.0, keep_prob=1.0, hidden_activation="relu", output=None, init=None, seed=None,
          dtype=None, return_costs=False, cost_every=100, callback=None, plan="auto"):
    """Train an L-layer network with mini-batches and ``optimizer`` (``"gd"``,
    ``"momentum"``, ``"rmsprop"`` or ``"adam"``), as the course's ``model``.

    X ``(n_x, m)``; Y ``(1, m)`` 0/1 labels for a sigmoid output, class
    indices or one-hot ``(K, m)`` for softmax (the default when
    ``layers_dims[-1] > 1``). As the course: He initialization with seed 3
    (``init`` names a recipe of ``dnn.reference.INIT_RECIPES`` instead),
    epoch i shuffled by ``random_mini_batches(X, Y, mini_batch_size, 11 + i)``
    (with ``seed`` s: s + 1 + i, so s + num_epochs must be below 2**32; s also
    seeds the initialization and the dropout masks, whose ``iteration`` counts
    mini-batch steps from 0), Adam's
    ``t`` counting steps from 1, ``learning_rate = decay(learning_rate0, i,
    decay_rate)`` after epoch i (e.g. ``decay=dnn.update_lr``); RMSprop uses
    ``beta2`` and ``epsilon``. An epoch's cost is the sum of its examples'
    losses (plus ``lambd / 2 * sum(W^2)`` per mini-batch) over m, computed
    stably from ``Z_L``; printed every 1000 epochs, recorded every
    ``cost_every``. Returns ``parameters``, or ``(parameters, costs)``. A cost
    that becomes inf or nan (a learning rate too large: the weights overflow)
    is warned about once (``RuntimeWarning``); training goes on, as the course's.

    ``callback(epochs, cost)``, if given, is called after every epoch with the
    number of epochs done and that epoch's cost, as ``L_layer_model``'s (for a
    progress display). Interrupted (Ctrl-C), it raises ``KeyboardInterrupt``
    carrying ``parameters`` (the weights reached, usable as they are),
    ``iterations`` (the epochs that made them: a compiled epoch is never cut
    short) and ``costs`` (recorded for those epochs).

    Each epoch's mini-batches run in one call of the compiled loop
    (``dnn._loop``), the numbers of the NumPy loop to rounding. ``plan``
    decides which of its products run in BLAS and which in dnn's own kernels
    (``dnn._loop_plan``): ``"auto"`` (default) takes a rule for fits of
    fewer than 2000 mini-batches (``MIN_BATCHES``) and, for longer ones, the
    fastest of a few candidates timed on copies of this fit's parameters and
    data the first time its key (layer sizes, batch size, dtype, shuffled or
    not, cores, CPU, SIMD build, BLAS and its kernel set; not the threads
    allowed) is met, kept in the process and in the
    wisdom file (``DNN_WISDOM``) before training starts; ``"blas"`` runs
    every product on BLAS; a ``dnn.LoopPlan`` is used as given. The plan
    changes the last bits; once kept, timing never changes it.
    """
    if callback is not None and not callable(callback):
        raise TypeError("callback must be callable as callback(epoch, cost) or None, got %s"
                        % type(callback).__name__)
    plan = _loop_plan.plan_arg(plan)
    reached = []  # [parameters, epochs done, costs], kept up to date by _model
    try:
        return _model(X, Y, layers_dims, optimizer, learning_rate, mini_batch_size, beta, beta1, beta2, epsilon,
                      num_epochs, print_cost, decay, decay_rate, lambd, keep_prob, hidden_activation, output, init,
                      seed, dtype, return_costs, cost_every, callback, reached, plan)
    except KeyboardInterrupt as exc:
        if reached:
            parameters, done, costs, loop, m, cost_every = reached
            done = count_interrupted_epoch(loop, done, costs, cost_every, loop.loss / m)
            exc.parameters, exc.iterations, exc.costs = parameters, done, costs
        raise


def _model(X, Y, layers_dims, optimizer, learning_rate, mini_batch_size, beta, beta1, beta2, epsilon, num_epochs,
           print_cost, decay, decay_rate, lambd, keep_prob, hidden_activation, output, init, seed, dtype, return_costs,
           cost_every, callback, reached, plan):
    """``model``'s training; ``reached`` holds, for an interrupted caller, the parameters (updated in
    place by the compiled loop), the epochs counted (after every epoch), the costs, the Loop, m and
    cost_every."""
    X, Y, dims, dtype, o = _checked(X, Y, layers_dims, optimizer, learning_rate, mini_batch_size, beta, beta1,
                                    beta2, epsilon, num_epochs, decay, decay_rate, lambd, keep_prob,
                                    hidden_activation, output, init, seed, dtype, cost_every)
    seed = o["seed"]
    if init is None:
        parameters = initializers.initialize_parameters_he(dims, seed=3 if seed is None else seed, dtype=dtype)
    else:
        parameters = initialize_parameters_deep(dims, init=init, seed=seed, dtype=dtype)
    L = len(dims) - 1
    loop, m = _compiled_loop(parameters, X, Y, L, o, seed, plan), X.shape[1]
    learning_rate = learning_rate0 = o["learning_rate"]
    shuffle_seed = 10 if seed is None else seed
    costs = []
    t = step = 0
    diverged = False
    reached[:] = [parameters, 0, costs, loop, m, o["cost_every"]]
    for i in range(o["num_epochs"]):
        shuffle_seed += 1
        cost_total, t, step = loop.epoch(_course_order(m, shuffle_seed), learning_rate, t, step)
        cost_avg = cost_total / m
        if not np.isfinite(cost_avg) and not diverged:
            diverged = True
            warn_diverged("epoch", i, 3)
        if decay is not None:
            learning_rate = c.scalar_in(decay(learning_rate0, i, o["decay_rate"]), "the learning rate decay returned",
                                        0.0, np.inf, low_open=True)
        if print_cost and i % PRINT_EVERY == 0:
            print("Cost after epoch %i: %f" % (i, cost_avg))
            if decay is not None:
                print("learning rate after epoch %i: %f" % (i, learning_rate))
        if o["cost_every"] and i % o["cost_every"] == 0:
            costs.append(cost_avg)
        reached[1] = i + 1
        if callback is not None:
            callback(i + 1, cost_avg)
    return (parameters, costs) if return_costs else parameters

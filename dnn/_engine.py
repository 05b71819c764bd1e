"""The training engine behind ``dnn.DNNClassifier`` and ``dnn.DNNRegressor``.

One entry point, ``fit_epochs(parameters, state, X, Y, opts, n_epochs, rng,
epoch_end)``: epochs of mini-batch training of the network ``parameters``
(the course's dict ``W1..WL``, ``b1..bL``, updated by replacing its entries)
with the optimizer state ``state`` (from ``new_state``, carried across calls
for ``partial_fit`` and ``warm_start``). The estimators know nothing else of
how an epoch is computed: one call of the compiled mini-batch loop
(``dnn._loop.Loop.epoch``) per epoch, whose numbers are those of dnn's
NumPy-level functions (``dnn.network``'s forward and backward passes,
``dnn.optimizers``' updates) to rounding (``tests/test_loop.py``).

Layout and copies. ``X`` comes samples-major, ``(m, n_features)``, and ``Y``
``(m, K)``, both C-contiguous in the training dtype (the estimators convert
once; a float32/float64 C-contiguous array or memmap is used as it is, but
for one the loop cannot read, an unaligned one, e.g. a memmap at an odd
offset: ``fit_epochs`` copies that, as it does an unaligned ``sample_weight``). The
loop reads X in place when the batches follow the rows' order (full batch,
or no shuffling) and otherwise gathers each batch's rows into one buffer
allocated once per call (a wide first layer, 4096 inputs or more, reads them
in place: ``dnn._loop``'s ``wide=``); its activations are features-major, the course's
layout, the products BLAS gemms with transposes. Nothing else of X is copied.

Epoch order: the samples are shuffled per epoch by ``rng.permutation(m)``
(``opts["shuffle"]``), else taken in order; full batches first, the rest last.
An epoch's loss is the sum over batches of the batch's summed losses plus
``alpha / 2 * sum(W^2)`` per batch, over m (scikit-learn's and the course's;
with sample weights, scikit-learn's too: each batch's weighted mean loss plus
``alpha / 2 * sum(W^2)`` over its weight sum, times its size);
with K > 1 identity outputs the squared error is averaged over them, as
scikit-learn's ``squared_loss`` does (the gradient is not: scikit-learn's
isn't either).
"""

import warnings

import numpy as np

from dnn import _lines, _loop_plan, network, optimizers

__all__ = ["new_state", "state_fits", "fit_epochs", "forward_output", "layer_keys"]


def layer_keys(L):
    return [key for l in range(1, L + 1) for key in ("W%d" % l, "b%d" % l)]


def _moments(opts):
    """The state entries ``opts["solver"]`` updates: Adam's ``v`` and ``s``, momentum's ``velocity``, or none."""
    if opts["solver"] == "adam":
        return ("v", "s")
    return ("velocity",) if opts["solver"] == "sgd" and opts["momentum"] > 0 else ()


def new_state(parameters, opts, dropout_seed):
    """Optimizer state for ``opts["solver"]``: velocities, Adam's moments and step, dropout's counter."""
    keys = layer_keys(len(parameters) // 2)
    state = {"keys": keys, "t": 0, "step": 0, "dropout_seed": int(dropout_seed)}
    for name in _moments(opts):
        state[name] = optimizers._zeros(parameters, keys)
    return state


def state_fits(state, opts):
    """Whether ``state`` holds exactly the moments ``opts["solver"]`` updates (else start a ``new_state``)."""
    return {name for name in ("v", "s", "velocity") if name in state} == set(_moments(opts))


def _optimizer(opts):
    """The loop's optimizer for ``opts``: Adam, scikit-learn's momentum (heavy ball or Nesterov), or plain GD."""
    if opts["solver"] == "adam":
        return "adam"
    if opts["solver"] == "sgd" and opts["momentum"] > 0:
        return "nesterov" if opts["nesterovs_momentum"] else "heavy_ball"
    return "gd"


def _loop_for(parameters, state, X, Y, opts, b, plan, n_epochs, shuffled, sample_weight=None):
    """``dnn._loop.Loop`` over fresh C-contiguous copies of the parameters on cache lines (put in
    ``parameters``: the entries are replaced, never the caller's arrays changed) and the state's
    moments (in place), its products chosen by ``plan`` for ``n_epochs`` epochs
    (``dnn._loop_plan.make_loop``), with the examples' ``sample_weight`` (or None)."""
    keys = state["keys"]
    for key in keys:
        parameters[key] = _lines.copy(parameters[key], X.dtype)
    for name in _moments(opts):
        for key in keys:
            state[name]["d" + key] = np.require(state[name]["d" + key], X.dtype, ["C", "W", "A"])
    pairs = lambda d: [(d["d" + keys[i]], d["d" + keys[i + 1]]) for i in range(0, len(keys), 2)]
    optimizer = _optimizer(opts)
    v = state.get("v", state.get("velocity"))
    return _loop_plan.make_loop(plan, [(parameters[keys[i]], parameters[keys[i + 1]]) for i in range(0, len(keys), 2)],
                      X, Y, state["learning_rate"], n_epochs, shuffled, state["t"], state["step"], hidden=opts["hidden"], output=opts["output"], optimizer=optimizer, batch_size=b,
                      lambd=opts["alpha"], keep=opts["keep"], dropout_seed=state["dropout_seed"],
                      beta=opts["momentum"] if optimizer != "adam" else 0.9, beta1=opts["beta_1"],
                      beta2=opts["beta_2"], epsilon=opts["epsilon"],
                      v=pairs(v) if v is not None else None, s=pairs(state["s"]) if "s" in state else None,
                      sample_weight=sample_weight)


def fit_epochs(parameters, state, X, Y, opts, n_epochs, rng, epoch_end=None, plan="auto", sample_weight=None):
    """Run up to ``n_epochs`` epochs; returns the list of epoch losses.

    ``opts``: ``solver`` (``"sgd"``, ``"adam"``, ``"gd"``), ``hidden``,
    ``output`` (``"sigmoid"``, ``"softmax"``, ``"identity"``), ``alpha``,
    ``keep`` (one keep probability per hidden layer), ``batch_size``,
    ``shuffle``, ``momentum``, ``nesterovs_momentum``, ``beta_1``,
    ``beta_2``, ``epsilon``. The learning rate is read from
    ``state["learning_rate"]`` at each epoch's start. ``epoch_end(loss)``,
    if given, is called after each epoch and may change
    ``state["learning_rate"]``; training stops when it returns False.
    Interrupted (Ctrl-C), it stops as scikit-learn's MLP does: a warning,
    and the epochs that ran are kept (parameters, state and losses agree).
    ``plan``: the loop's products (``dnn._loop_plan.make_loop``: ``"auto"``
    plans a fit of ``n_epochs`` epochs, timing it once per key if long).
    ``sample_weight``: None, or ``(m,)`` finite weights >= 0 of X's dtype,
    C-contiguous, scikit-learn's semantics (``dnn._loop.Loop``'s).
    """
    X, Y, sample_weight = _aligned(X), _aligned(Y), None if sample_weight is None else _aligned(sample_weight)
    m = X.shape[0]
    full = opts["solver"] == "gd" or (opts["batch_size"] >= m and not opts["shuffle"])
    b = m if full else min(opts["batch_size"], m)
    loop = _loop_for(parameters, state, X, Y, opts, b, plan, n_epochs, not full and opts["shuffle"], sample_weight)
    curve = []
    # The orders drawn; the generator's state at the last snapshot and the draws since it (a
    # RandomState's state is a copy of 624 words: benchmarks/NOTES.md, "The generator's state").
    drawn, snapshot, since = 0, None, 0
    try:
        for _ in range(n_epochs):
            order = None
            if not full and opts["shuffle"]:
                if snapshot is None or since == RNG_SNAPSHOT_DRAWS:
                    snapshot, since = _rng_state(rng), 0
                since += 1
                drawn += 1
                order = rng.permutation(m).astype(np.int64, copy=False)
            total, state["t"], state["step"] = loop.epoch(order, state["learning_rate"], state["t"], state["step"])
            curve.append(_epoch_loss(loop, opts, m, Y.shape[1]))
            if epoch_end is not None and epoch_end(curve[-1]) is False:
                break
    except KeyboardInterrupt:
        # scikit-learn's MLP: Ctrl-C stops the fit with a warning and keeps what it reached. The
        # counters (and the loss) of an epoch that ended just before the interrupt are the Loop's.
        if loop.epochs:
            state["t"], state["step"] = loop.t, loop.step
        if drawn > loop.epochs:
            # Raised between an order's draw and its epoch's compiled call: the epoch did not run,
            # so the generator goes back to before that draw (a continued fit then draws it again):
            # to the snapshot, then the draws after it but that one again.
            _set_rng_state(rng, snapshot)
            for _ in range(since - 1):
                rng.permutation(m)
        if loop.epochs > len(curve):
            curve.append(_epoch_loss(loop, opts, m, Y.shape[1]))
            if epoch_end is not None:
                epoch_end(curve[-1])
        warnings.warn("Training interrupted by user.")
    return curve


#: ``fit_epochs`` copies the generator's state once per this many epochs' orders (an interrupted
#: fit goes back to the last copy and draws again the orders after it).
RNG_SNAPSHOT_DRAWS = 64


def _rng_state(rng):
    """A NumPy ``Generator``'s or ``RandomState``'s state (a copy)."""
    return rng.bit_generator.state if hasattr(rng, "bit_generator") else rng.get_state()


def _set_rng_state(rng, state):
    if hasattr(rng, "bit_generator"):
        rng.bit_generator.state = state
    else:
        rng.set_state(state)


def _aligned(a):
    """``a`` itself if aligned (the compiled loop's requirement), else an aligned C-contiguous copy."""
    return a if a.flags.aligned else np.array(a, order="C")


def _epoch_loss(loop, opts, m, K):
    """The last epoch's loss as scikit-learn reports it (see the module's docstring)."""
    if not np.isfinite(loop.loss_l2):
        return loop.loss / m  # the L2 term overflowed: inf, as scikit-learn's sum (not inf - inf)
    outputs = K if opts["output"] == "identity" else 1
    return ((loop.loss - loop.loss_l2) / outputs + loop.loss_l2) / m


def forward_output(parameters, X, hidden, output):
    """``(Z_L, A_L)`` for X ``(m, n_features)`` samples-major, in the course's layout ``(K, m)``."""
    L = len(parameters) // 2
    layers = [(parameters["W%d" % l], parameters["b%d" % l]) for l in range(1, L + 1)]
    AL, caches = network._forward(X.T, layers, hidden, output, [1.0] * (L - 1), 0, 0, keep_caches=False)
    return caches[-1][1], AL

"""The training engine behind ``dnn.DNNClassifier`` and ``dnn.DNNRegressor``.

One entry point, ``fit_epochs(parameters, state, X, Y, opts, n_epochs, rng,
epoch_end)``: epochs of mini-batch training of the network ``parameters``
(the course's dict ``W1..WL``, ``b1..bL``, updated by replacing its entries)
with the optimizer state ``state`` (from ``new_state``, carried across calls
for ``partial_fit`` and ``warm_start``). The estimators know nothing else of
how an epoch is computed: today it runs over dnn's NumPy-level functions
(``dnn.network``'s forward and backward passes, ``dnn.optimizers``' updates);
the compiled mini-batch loop can take its place behind the same signature.

Layout and copies. ``X`` comes samples-major, ``(m, n_features)``, and ``Y``
``(m, K)``, both C-contiguous in the training dtype (the estimators convert
once; a float32/float64 C-contiguous array or memmap is used as it is). The
engine works in the course's layout ``(features, samples)`` through views:
``X.T`` is an F-contiguous ``(n_features, m)`` view, never a copy. A
full-batch epoch (``solver="gd"``, or a batch of all m samples without
shuffling) reads ``X.T`` in place; a mini-batch epoch gathers each batch's
rows into one preallocated ``(batch_size, n_features)`` buffer (and one for
Y) and reads its transposed view. Nothing else of X is copied.

Epoch order: the samples are shuffled per epoch by ``rng.permutation(m)``
(``opts["shuffle"]``), else taken in order; full batches first, the rest last.
An epoch's loss is the sum over batches of the batch's summed losses plus
``alpha / 2 * sum(W^2)`` per batch, over m (scikit-learn's and the course's).
"""

import numpy as np

from dnn import network, optimizers

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


def _step(parameters, state, X, Y, opts, learning_rate):
    """One batch (X ``(n, b)``, Y ``(K, b)``, course layout): the update; returns the batch's summed loss."""
    keys = state["keys"]
    layers = [(parameters[keys[i]], parameters[keys[i + 1]]) for i in range(0, len(keys), 2)]
    loss, grads = network._batch_step(X, Y, layers, opts["hidden"], opts["output"], opts["keep"], opts["alpha"],
                                      state["dropout_seed"], state["step"])
    state["step"] += 1
    solver = opts["solver"]
    if solver == "adam":
        state["t"] += 1
        optimizers._adam(parameters, grads, state["v"], state["s"], state["t"], learning_rate, opts["beta_1"],
                         opts["beta_2"], opts["epsilon"], keys)
    elif solver == "sgd" and opts["momentum"] > 0:
        optimizers._heavy_ball(parameters, grads, state["velocity"], opts["momentum"], learning_rate,
                               opts["nesterovs_momentum"], keys)
    else:
        optimizers._gd(parameters, grads, learning_rate, keys)
    return loss


def fit_epochs(parameters, state, X, Y, opts, n_epochs, rng, epoch_end=None):
    """Run up to ``n_epochs`` epochs; returns the list of epoch losses.

    ``opts``: ``solver`` (``"sgd"``, ``"adam"``, ``"gd"``), ``hidden``,
    ``output`` (``"sigmoid"``, ``"softmax"``, ``"identity"``), ``alpha``,
    ``keep`` (one keep probability per hidden layer), ``batch_size``,
    ``shuffle``, ``momentum``, ``nesterovs_momentum``, ``beta_1``,
    ``beta_2``, ``epsilon``. The learning rate is read from
    ``state["learning_rate"]`` at each epoch's start. ``epoch_end(loss)``,
    if given, is called after each epoch and may change
    ``state["learning_rate"]``; training stops when it returns False.
    """
    m = X.shape[0]
    full = opts["solver"] == "gd" or (opts["batch_size"] >= m and not opts["shuffle"])
    b = m if full else min(opts["batch_size"], m)
    if not full:
        X_buf = np.empty((b, X.shape[1]), dtype=X.dtype)
        Y_buf = np.empty((b, Y.shape[1]), dtype=Y.dtype)
    curve = []
    for _ in range(n_epochs):
        learning_rate = state["learning_rate"]
        if full:
            total = _step(parameters, state, X.T, Y.T, opts, learning_rate)
        else:
            order = rng.permutation(m) if opts["shuffle"] else np.arange(m)
            total = 0.0
            for start in range(0, m, b):
                idx = order[start:start + b]
                n = idx.shape[0]
                # mode="clip": the indices are in range, and np.take then writes straight into `out`.
                np.take(X, idx, axis=0, out=X_buf[:n], mode="clip")
                np.take(Y, idx, axis=0, out=Y_buf[:n], mode="clip")
                total += _step(parameters, state, X_buf[:n].T, Y_buf[:n].T, opts, learning_rate)
        curve.append(total / m)
        if epoch_end is not None and epoch_end(curve[-1]) is False:
            break
    return curve


def forward_output(parameters, X, hidden, output):
    """``(Z_L, A_L)`` for X ``(m, n_features)`` samples-major, in the course's layout ``(K, m)``."""
    L = len(parameters) // 2
    layers = [(parameters["W%d" % l], parameters["b%d" % l]) for l in range(1, L + 1)]
    AL, caches = network._forward(X.T, layers, hidden, output, [1.0] * (L - 1), 0, 0, keep_caches=False)
    return caches[-1][1], AL

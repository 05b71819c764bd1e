"""The L-layer network with the second part's keywords, checked, in NumPy.

``L_model_forward``, ``L_model_backward`` and ``predict`` with
``hidden_activation`` (``"relu"``, ``"tanh"``, ``"leaky_relu"``), ``output``
(``"sigmoid"``, ``"softmax"``; by default softmax when the last layer has more
than one unit; ``"identity"`` for regression, real targets ``(K, m)``), ``keep_prob`` (inverted dropout, one number or one per hidden
layer, masks from ``dnn.dropout``) and, backward, ``lambd`` (L2). Twins of
the same functions of ``dnn.reference``, with the same caches:
``((A_prev, W, b), Z)``, plus the mask ``D`` as a third entry for a hidden
layer with dropout. With the default keywords ``dnn.L_model_forward`` (the
compiled step-by-step API) computes the same; these are the NumPy versions
until the compiled ones take the keywords, and what ``dnn.course_model.model``
trains with.

One deliberate difference from the reference: the output layer's gradient is
the closed form ``dZ_L = A_L - Y`` for both outputs (the course's sigmoid
path divides by ``A_L`` and ``1 - A_L``, which a saturated network makes inf).
"""

import functools

import numpy as np

from dnn import _course2_validation as c
from dnn import _validation as v
from dnn import activations, dropout, losses
from dnn._gradients import Gradients

__all__ = ["L_model_forward", "L_model_backward", "predict"]


def _relu_backward(dA, Z):
    dZ = np.array(dA, copy=True)
    np.copyto(dZ, 0, where=Z <= 0)
    return dZ


_HIDDEN = {
    "relu": (lambda Z: np.maximum(Z, 0), _relu_backward),
    "tanh": (np.tanh, activations._tanh_backward),
    "leaky_relu": (lambda Z: activations._leaky_relu(Z, activations.LEAKY_RELU_SLOPE),
                   lambda dA, Z: activations._leaky_relu_backward(dA, Z, activations.LEAKY_RELU_SLOPE)),
}


def _sigmoid(Z):
    A = np.negative(Z)
    with np.errstate(over="ignore"):  # exp(-z) = inf for z << 0 gives the right 0, no warning
        np.exp(A, out=A)
    A += 1
    return np.divide(1, A, out=A)


# --------------------------------------------------------------------------
# The arithmetic, unchecked
# --------------------------------------------------------------------------

def _forward(X, layers, hidden, output, keep, seed, iteration, keep_caches=True):
    """``(AL, caches)``; ``layers`` [(W, b)], ``keep`` one keep probability per hidden layer."""
    caches = []
    A = X
    for l, (W, b) in enumerate(layers[:-1], start=1):
        Z = W.dot(A)
        Z += b
        A_next = _HIDDEN[hidden][0](Z)
        if keep[l - 1] < 1:
            D = dropout._mask(A_next.shape[0], A_next.shape[1], keep[l - 1], seed, l, iteration, A_next.dtype)
            A_next *= D
            A_next /= keep[l - 1]
            cache = ((A, W, b), Z, D)
        else:
            cache = ((A, W, b), Z)
        if keep_caches:
            caches.append(cache)
        A = A_next
    W, b = layers[-1]
    Z = W.dot(A)
    Z += b
    if output == "identity":
        AL = Z.copy()
    else:
        AL = _sigmoid(Z) if output == "sigmoid" else activations._softmax(Z)
    caches.append(((A, W, b), Z))
    return AL, caches


def _input_grad(W, dZ):
    """dA_prev = W^T dZ (also a ``Gradients``' pending dA0: the same expression, the same bits)."""
    return W.T.dot(dZ)


def _linear_backward(dZ, A_prev, W, lambd, with_dA_prev=True, m=None):
    """``m``: what the gradients are divided by (the batch's size, or its weight sum)."""
    m = A_prev.shape[1] if m is None else m
    dW = dZ.dot(A_prev.T)
    dW *= 1. / m
    db = np.sum(dZ, axis=1, keepdims=True)
    db *= 1. / m
    if lambd:
        dW += W * (lambd / m)
    return (_input_grad(W, dZ) if with_dA_prev else None), dW, db


def _backward(AL, Y, caches, lambd, keep, hidden, with_dA0=True, weights=None):
    """Gradients; ``Y`` (1, m) 0/1 labels for a sigmoid output, one-hot (K, m) for softmax.
    ``weights`` (1, m): scikit-learn's sample weights, which multiply dZ_L's columns; the
    gradients are then over their sum instead of m. ``with_dA0``: a ``Gradients`` whose dA0
    is computed when first read (``dnn._gradients``), from a copy of W_1 and dZ_1; else a
    dict without dA0."""
    grads = {}
    L = len(caches)
    dZ = np.subtract(AL, Y)
    total = None
    if weights is not None:
        dZ *= weights
        total = float(np.sum(weights, dtype=np.float64))
    for l in range(L, 0, -1):
        (A_prev, W, _), Z = caches[l - 1][0], caches[l - 1][1]
        if l < L:
            dA = grads["dA%d" % l]
            if keep[l - 1] < 1:
                dA = np.multiply(dA, caches[l - 1][2])
                dA /= keep[l - 1]
            dZ = _HIDDEN[hidden][1](dA, Z)
        grads["dA%d" % (l - 1)], grads["dW%d" % l], grads["db%d" % l] = \
            _linear_backward(dZ, A_prev, W, lambd, with_dA_prev=l > 1, m=total)
    del grads["dA0"]
    if not with_dA0:
        return grads
    grads = Gradients(grads)
    grads._defer("dA0", functools.partial(_input_grad, np.array(W, copy=True), dZ), 2)
    return grads


def _loss_sum(ZL, AL, Y, output, weights=None):
    """A batch's summed loss: the cross-entropy from ``Z_L`` (stable), or half the squared error;
    each example's times its weight if ``weights`` (1, m) is given."""
    if weights is not None:
        if output == "sigmoid":
            each = losses._sigmoid_losses(ZL, Y)
        elif output == "softmax":
            each = -(losses._log_softmax(ZL) * Y)
        else:
            each = np.subtract(AL, Y)
            each *= each
            each *= 0.5
        return float(np.sum(each * weights, dtype=np.float64))
    if output == "sigmoid":
        return float(losses._sigmoid_loss_sum(ZL, Y))
    if output == "softmax":
        return float(losses._softmax_loss_sum(ZL, Y))
    diff = np.subtract(AL, Y)
    return 0.5 * float(np.vdot(diff, diff))


def _batch_step(X, Y, layers, hidden, output, keep, lambd, seed, iteration, sample_weight=None):
    """One mini-batch forward and backward: ``(loss, grads)``, the batch's summed loss plus
    ``lambd / 2 * sum(W^2)``, and the gradients (no ``dA0``). What ``dnn.model`` and the
    estimators' engine (``dnn._engine``) run per batch before their optimizer's update.

    ``sample_weight`` (m,), scikit-learn's: the examples' losses and dZ_L weighted, the
    gradients and L2 over the weights' sum instead of m, and the loss scaled to count the
    weighted mean m times (``dnn._loop.Loop``'s twin; the caller skips a batch of zero weights)."""
    AL, caches = _forward(X, layers, hidden, output, keep, seed, iteration)
    weights = None if sample_weight is None else np.asarray(sample_weight, AL.dtype).reshape(1, -1)
    loss = _loss_sum(caches[-1][1], AL, Y, output, weights)
    if lambd:
        loss += lambd / 2 * sum(float(np.vdot(W, W)) for W, _ in layers)
    if weights is not None:
        loss *= X.shape[1] / float(np.sum(weights, dtype=np.float64))
    return loss, _backward(AL, Y, caches, lambd, keep, hidden, with_dA0=False, weights=weights)


# --------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------

def _labels(Y, output, K, m, dtype):
    if output == "identity":
        Y = v.as_float_array(v.as_real_array(Y, "Y"), "Y", dtype, ndim=None)
        if Y.size != K * m:
            raise ValueError("Y must have shape (%d, %d) for an identity output, got shape %s" % (K, m, Y.shape))
        return Y.reshape(K, m)
    if output == "sigmoid":
        return v.labels_row(Y, "Y", m, dtype)
    return c.class_labels(Y, "Y", K, m, dtype)


def _with_labels_dtype(AL, layers, Y):
    """``(AL, layers)`` in the dtype that 0/1 labels ``Y`` (an array) make with them: float64
    unless Y is float32 too (``compute_cost``'s and the reference's; softmax and identity labels
    take the network's dtype, as the reference's)."""
    dtype = v.common_float_dtype(AL, Y)
    if dtype == AL.dtype:
        return AL, layers
    return AL.astype(dtype), [tuple(tuple(x.astype(dtype) for x in part) if isinstance(part, tuple)
                                    else part.astype(dtype) for part in cache) for cache in layers]


def _checked_caches(AL, caches, keep_prob):
    if not isinstance(caches, (list, tuple)) or len(caches) == 0:
        raise ValueError("caches must be the non-empty list returned by L_model_forward, got %s"
                         % type(caches).__name__)
    keep = c.keep_probs(keep_prob, len(caches))
    named = {}
    for l, cache in enumerate(caches):
        dropped = l < len(caches) - 1 and keep[l] < 1
        size = 3 if dropped else 2
        if not isinstance(cache, (tuple, list)):
            got = type(cache).__name__
        elif len(cache) != size:
            got = "a %s of %d entries" % (type(cache).__name__, len(cache))
        elif not isinstance(cache[0], (tuple, list)) or len(cache[0]) != 3:
            got = "a first entry that is not (A_prev, W, b)"
        else:
            got = None
        if got:
            raise ValueError("caches[%d] must be the tuple ((A_prev, W, b), Z%s), got %s"
                             % (l, ", D" if dropped else "", got))
        for key, x in zip(("A_prev", "W", "b", "Z", "D"), (*cache[0], *cache[1:])):
            named["caches[%d] %s" % (l, key)] = x
    named["AL"] = AL
    arrays = dict(zip(named, v.float_arrays(**named)))
    layers = []
    for l in range(len(caches)):
        A_prev, W, b, Z = (arrays["caches[%d] %s" % (l, key)] for key in ("A_prev", "W", "b", "Z"))
        v.check_linear_shapes(A_prev, W, b, a_name="caches[%d] A_prev" % l)
        if Z.shape != (W.shape[0], A_prev.shape[1]):
            raise ValueError("caches[%d] Z must have shape %s, got %s" % (l, (W.shape[0], A_prev.shape[1]), Z.shape))
        if l and layers[-1][1].shape != A_prev.shape:
            raise ValueError("caches[%d] A_prev must have the shape of caches[%d] Z, %s, got %s"
                             % (l, l - 1, layers[-1][1].shape, A_prev.shape))
        D_name = "caches[%d] D" % l
        if D_name in arrays:
            v.check_same_shape(arrays[D_name], D_name, Z, "Z")
            if not np.all((arrays[D_name] == 0) | (arrays[D_name] == 1)):
                raise ValueError("%s must hold only 0 and 1" % D_name)
            layers.append(((A_prev, W, b), Z, arrays[D_name]))
        else:
            layers.append(((A_prev, W, b), Z))
    AL = arrays["AL"]
    v.check_same_shape(AL, "AL", layers[-1][1], "the last cache's Z")
    return AL, layers, keep


# --------------------------------------------------------------------------
# The public functions
# --------------------------------------------------------------------------

def L_model_forward(X, parameters, *, hidden_activation="relu", output=None, keep_prob=1.0, seed=0, iteration=0):
    """[LINEAR -> hidden_activation] * (L-1) -> LINEAR -> output; returns ``(AL, caches)``.

    X ``(n_x, m)``; ``parameters`` W1..WL, b1..bL. With dropout (``keep_prob``
    < 1 for a hidden layer l) its output is ``A_l * D_l / keep_prob``, ``D_l =
    dnn.dropout_mask(A_l.shape, keep_prob, seed=seed, layer=l,
    iteration=iteration)``, and its cache holds ``D_l`` third.
    """
    hidden = c.choice(hidden_activation, "hidden_activation", c.HIDDEN_ACTIVATIONS)
    X, layers = v.network_parameters(parameters, X)
    output = c.output_kind(output, layers[-1][0].shape[0], "W%d" % len(layers))
    keep = c.keep_probs(keep_prob, len(layers))
    seed, _, iteration = dropout._counters(seed, 0, iteration)
    return _forward(X, layers, hidden, output, keep, seed, iteration)


def L_model_backward(AL, Y, caches, *, lambd=0.0, keep_prob=1.0, hidden_activation="relu", output=None):
    """Gradients ``dA0..dA{L-1}``, ``dW1..dWL``, ``db1..dbL`` of the (L2-regularized) cost
    (``dA0`` computed when first read: ``dnn._gradients``).

    ``AL`` and ``caches`` from ``L_model_forward`` with the same keywords;
    ``Y``: ``(1, m)`` 0/1 labels for a sigmoid output, class indices or
    one-hot ``(K, m)`` for softmax (a sigmoid's labels join the dtype contract: float64
    gradients unless they are float32 too). ``dZ_L = AL - Y``; every ``dW_l`` gets
    ``lambd / m * W_l``; a dropped-out layer's ``dA_l`` is multiplied by
    ``D_l / keep_prob`` before its activation's backward step.
    """
    hidden = c.choice(hidden_activation, "hidden_activation", c.HIDDEN_ACTIVATIONS)
    lambd = c.scalar_in(lambd, "lambd", 0.0, np.inf)
    AL, layers, keep = _checked_caches(AL, caches, keep_prob)
    output = c.output_kind(output, AL.shape[0], "AL")
    if output == "sigmoid":
        AL, layers = _with_labels_dtype(AL, layers, v.as_real_array(Y, "Y"))
    Y = _labels(Y, output, AL.shape[0], AL.shape[1], AL.dtype)
    return _backward(AL, Y, layers, lambd, keep, hidden)


def predict(X, y, parameters, *, hidden_activation="relu", output=None):
    """Predictions ``(1, m)``: 0/1 float64 (output > 0.5) for a sigmoid network,
    class indices int64 (the argmax) for a softmax one; prints ``"Accuracy: ..."``
    against ``y`` as the course does. An identity network (regression) predicts
    its outputs, ``(K, m)`` float64, and prints ``"Mean squared error: ..."``
    against the real targets ``y`` ``(K, m)`` (``dnn.reference.predict``'s)."""
    hidden = c.choice(hidden_activation, "hidden_activation", c.HIDDEN_ACTIVATIONS)
    X, layers = v.network_parameters(parameters, X)
    K, m = layers[-1][0].shape[0], X.shape[1]
    output = c.output_kind(output, K, "W%d" % len(layers))
    y = _labels(y, output, K, m, np.float64)
    AL, _ = _forward(X, layers, hidden, output, [1.0] * (len(layers) - 1), 0, 0, keep_caches=False)
    if output == "identity":
        p = AL.astype(np.float64)
        print("Mean squared error: " + str(np.mean(np.square(p - y))))
        return p
    if output == "sigmoid":
        p = (AL > 0.5).astype(np.float64)
    else:
        p = np.argmax(AL, axis=0).reshape(1, m).astype(np.int64)
        y = np.argmax(y, axis=0).reshape(1, m)
    print("Accuracy: " + str(np.sum((p == y) / m)))
    return p

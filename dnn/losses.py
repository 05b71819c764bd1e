"""Costs and labels of the second part: the softmax output's categorical
cross-entropy, computed stably from ``Z_L``, and the course's L2-regularized
cost. Checked inputs; twins of the functions of the same names in
``dnn.reference``.

Softmax labels are one-hot ``(K, m)`` or a row of class indices (``(1, m)`` or
``(m,)``) in [0, K).
"""

import numpy as np

from dnn import _course2_validation as c
from dnn import _validation as v
from dnn.functional import compute_cost

__all__ = ["labels_one_hot", "class_indices", "softmax_cost", "compute_cost_with_regularization"]


def labels_one_hot(Y, K, dtype=np.float64):
    """Labels as one-hot ``(K, m)`` in ``dtype``, from one-hot ``(K, m)`` or class indices.

    K is an int >= 2 and the result at most 2**31 - 1 elements (32-bit indexing), else ValueError.
    """
    K = _classes(K)
    Y_arr = v.as_real_array(Y, "Y")
    m = Y_arr.shape[-1] if Y_arr.ndim else 0
    if K * m > v.BLAS_INT_MAX:
        raise ValueError("K * m must be at most 2**31 - 1 (the one-hot (K, m), 32-bit indexing), "
                         "got K = %d, m = %d" % (K, m))
    return c.class_labels(Y_arr, "Y", K, m, v.float_dtype(dtype))


def class_indices(Y, K):
    """Labels as a ``(1, m)`` int64 row of class indices, from one-hot ``(K, m)`` or class indices
    (checked in [0, K); O(m) memory for indices, whatever K). K is an int from 2 to 2**31 - 1."""
    K = _classes(K)
    Y_arr = v.as_real_array(Y, "Y")
    m = Y_arr.shape[-1] if Y_arr.ndim else 0
    return c.class_index_row(Y_arr, "Y", K, m).reshape(1, -1).astype(np.int64)


def _classes(K):
    """The number of classes K: an int from 2 to 2**31 - 1 (an output layer's units), else ValueError."""
    K = v.count(K, "K", minimum=2)
    if K > v.BLAS_INT_MAX:
        raise ValueError("K must be at most 2**31 - 1 (the units of an output layer), got %s" % v.int_text(K))
    return K


def _log_softmax(Z):
    """``Z - max - log(sum(exp(Z - max)))`` per column, a new array."""
    out = np.subtract(Z, np.max(Z, axis=0, keepdims=True))
    e = np.exp(out)
    out -= np.log(np.sum(e, axis=0, keepdims=True))
    return out


def _softmax_loss_sum(ZL, Y_one_hot):
    """The sum over examples of ``-log softmax(Z)[y]``."""
    log_probs = _log_softmax(ZL)
    log_probs *= Y_one_hot
    return -np.sum(log_probs)


def _sigmoid_losses(ZL, Y):
    """The binary cross-entropy of each element, from Z: ``max(z, 0) - z y + log(1 + exp(-|z|))``."""
    loss = np.abs(ZL)
    np.negative(loss, out=loss)
    np.exp(loss, out=loss)
    np.log1p(loss, out=loss)
    loss += np.maximum(ZL, 0)
    loss -= ZL * Y
    return loss


def _sigmoid_loss_sum(ZL, Y):
    """The sum of the binary cross-entropy from Z (``_sigmoid_losses``)."""
    return np.sum(_sigmoid_losses(ZL, Y))


def softmax_cost(ZL, Y):
    """Categorical cross-entropy ``-(1/m) sum_j log softmax(Z_L)[y_j, j]``, a 0-d array.

    From the output layer's ``Z_L`` ``(K, m)`` with a stable log-softmax: finite
    where ``softmax(Z_L)`` underflows to 0.
    """
    (ZL,) = v.float_arrays(ZL=ZL)
    K, m = ZL.shape
    if K < 2:
        raise ValueError("ZL must have at least 2 rows (classes), got shape %s" % (ZL.shape,))
    Y = c.class_labels(Y, "Y", K, m, ZL.dtype)
    return np.asarray(_softmax_loss_sum(ZL, Y) / m, dtype=ZL.dtype)


def compute_cost_with_regularization(AL, Y, parameters, lambd, *, output=None, ZL=None):
    """The cross-entropy plus ``(1/m) (lambd/2) sum_l sum(W_l^2)``, as the course; a 0-d array.

    A sigmoid output's cross-entropy is ``dnn.compute_cost(AL, Y)``; a
    softmax output's (``AL`` ``(K, m)``, K > 1) is ``softmax_cost(ZL, Y)``
    when ``ZL`` is given, else ``-(1/m) sum Y log AL``; an identity output's
    (``output="identity"``) the squared error ``(1/(2m)) sum (AL - Y)^2``. ``lambd`` >= 0.
    """
    lambd = c.scalar_in(lambd, "lambd", 0.0, np.inf)
    AL = v.as_real_array(AL, "AL")
    layers = v.network_parameters(parameters)
    dtype = v.common_float_dtype(AL, *[a for pair in layers for a in pair])
    AL = v.as_float_array(AL, "AL", dtype)
    kind = c.output_kind(output, AL.shape[0], "AL")
    if kind == "sigmoid":
        cost = compute_cost(AL, Y)
        cross_entropy = float(cost)
        dtype = np.promote_types(dtype, cost.dtype)  # 0/1 labels count as inputs (README, "Dtypes")
    elif kind == "identity":
        Y = v.as_real_array(Y, "Y")
        dtype = v.common_float_dtype(AL, Y, *[a for pair in layers for a in pair])  # AL - Y, as the reference
        AL = v.as_float_array(AL, "AL", dtype)
        Y = v.as_float_array(Y, "Y", dtype, ndim=None)
        if Y.size != AL.size:
            raise ValueError("Y must have shape %s for an identity output, got shape %s" % (AL.shape, Y.shape))
        diff = AL - Y.reshape(AL.shape)
        cross_entropy = float(np.vdot(diff, diff) / (2 * AL.shape[1]))
    elif ZL is not None:
        cross_entropy = float(softmax_cost(ZL, Y))
    else:
        Y1h = c.class_labels(Y, "Y", AL.shape[0], AL.shape[1], dtype)
        if AL.min() < 0 or AL.max() > 1:
            raise ValueError("AL must hold probabilities in [0, 1], got values in [%g, %g]" % (AL.min(), AL.max()))
        with np.errstate(divide="ignore"):
            log_AL = np.log(AL)
        log_AL[Y1h == 0] = 0  # 0 * log(0) adds nothing
        cross_entropy = float(-np.sum(Y1h * log_AL) / AL.shape[1])
    m = AL.shape[1]
    squares = 0.0
    for W, _ in layers:
        squares = squares + float(np.sum(np.square(W)))
    return np.asarray(cross_entropy + (1 / m) * (lambd / 2) * squares, dtype=dtype)

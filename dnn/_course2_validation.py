"""Input checks of the course's second part (optimizers, mini-batches, L2,
dropout, activations, softmax), on top of ``dnn._validation``'s.

Same contract as ``dnn._validation``: checks run before any arithmetic, a
failure raises ``TypeError``, ``ValueError`` or ``KeyError`` naming the
argument, what was expected and what was given; when every floating input is
float32 the computation is float32, else float64. (Kept apart from
``dnn._validation`` while that module is being reshaped; to be merged into it.)
"""

import numbers

import numpy as np

from dnn import _validation as v

HIDDEN_ACTIVATIONS = ("relu", "tanh", "leaky_relu")
OUTPUTS = ("sigmoid", "softmax", "identity")
OPTIMIZERS = ("gd", "momentum", "rmsprop", "adam")


def choice(x, name, allowed):
    if not isinstance(x, str) or x not in allowed:
        raise ValueError("%s must be one of %s, got %r" % (name, ", ".join(map(repr, allowed)), x))
    return x


def output_kind(output, n_L, name="the last layer"):
    """``output`` checked against the number of output units; None picks by it."""
    if output is None:
        return "sigmoid" if n_L == 1 else "softmax"
    choice(output, "output", OUTPUTS)
    if output == "sigmoid" and n_L != 1:
        raise ValueError("output 'sigmoid' needs one output unit, but %s has %d" % (name, n_L))
    if output == "softmax" and n_L < 2:
        raise ValueError("output 'softmax' needs at least 2 output units, but %s has %d" % (name, n_L))
    return output


def scalar_in(x, name, low, high, low_open=False, high_open=False):
    """A real number in the interval from ``low`` to ``high`` (ends closed unless said open)."""
    x = v.real_scalar(x, name)
    if (x < low or (low_open and x == low)) or (x > high or (high_open and x == high)):
        raise ValueError("%s must be in %s%g, %g%s, got %r"
                         % (name, "(" if low_open else "[", low, high, ")" if high_open else "]", x))
    return x


def keep_probs(keep_prob, L):
    """One keep probability in (0, 1] per hidden layer; a number is every hidden layer's."""
    if isinstance(keep_prob, (numbers.Real, np.floating, np.integer)) or (
            isinstance(keep_prob, np.ndarray) and keep_prob.ndim == 0):
        k = scalar_in(keep_prob, "keep_prob", 0.0, 1.0, low_open=True)
        return [k] * (L - 1)
    if isinstance(keep_prob, (str, bytes, dict)) or not hasattr(keep_prob, "__len__"):
        raise TypeError("keep_prob must be a number or one number per hidden layer, got %s"
                        % type(keep_prob).__name__)
    if v.length(keep_prob, "keep_prob") != L - 1:
        raise ValueError("keep_prob must have one entry per hidden layer, %d, got %d"
                         % (L - 1, len(keep_prob)))
    return [scalar_in(k, "keep_prob[%d]" % i, 0.0, 1.0, low_open=True) for i, k in enumerate(keep_prob)]


def class_labels(Y, name, K, m, dtype):
    """Softmax labels as a one-hot ``(K, m)`` array of ``dtype``.

    Accepted: one-hot ``(K, m)`` (each column one 1, the rest 0), or class
    indices in [0, K) as ``(1, m)`` or ``(m,)``.
    """
    Y = v.as_real_array(Y, name)
    if Y.shape == (K, m) and K > 1:
        return _one_hot(Y, name, dtype)
    idx = _index_row(Y, name, K, m)
    one_hot = np.zeros((K, m), dtype=dtype)
    one_hot[idx, np.arange(m)] = 1
    return one_hot


def class_index_row(Y, name, K, m):
    """Softmax labels (as ``class_labels`` takes them) as an ``(m,)`` intp row of class
    indices; from indices in O(m) memory, whatever K."""
    Y = v.as_real_array(Y, name)
    if Y.shape == (K, m) and K > 1:
        return np.argmax(_one_hot(Y, name, np.float64), axis=0)
    return _index_row(Y, name, K, m)


def _one_hot(Y, name, dtype):
    """``Y`` (an array of shape (K, m)) checked one-hot, in ``dtype``."""
    Y = v.as_float_array(Y, name, dtype)
    if not (np.all((Y == 0) | (Y == 1)) and np.all(Y.sum(axis=0) == 1)):
        raise ValueError("%s of shape %s must be one-hot: one 1 per column, the rest 0" % (name, Y.shape))
    return Y


def _index_row(Y, name, K, m):
    """``Y`` (an array of shape (1, m) or (m,)) checked class indices in [0, K), an (m,) intp row."""
    if Y.shape not in ((1, m), (m,)):
        raise ValueError("%s must be class indices of shape (1, %d) or one-hot of shape (%d, %d), got shape %s"
                         % (name, m, K, m, Y.shape))
    idx = v.as_float_array(Y.reshape(1, m), name, np.float64).reshape(-1)
    bad = idx[(idx != np.floor(idx)) | (idx < 0) | (idx >= K)]
    if bad.size:
        raise ValueError("%s must hold class indices 0..%d, got also %s" % (name, K - 1, np.unique(bad)[:5].tolist()))
    return idx.astype(np.intp)


def state_arrays(parameters, **dicts):
    """``parameters`` and dicts keyed like gradients (``grads``, ``v``, ``s``), checked together.

    Returns ``(keys, params, states)``: ``keys`` the parameter keys W1, b1,
    ..., ``params[key]`` and ``states[dict_name][key]`` (the entry ``"d" +
    key``) converted to one dtype, every entry of the parameter's shape.
    """
    layers = v.network_parameters(parameters)
    keys = [key for w_key, b_key, _, _ in v.layer_keys(len(layers)) for key in (w_key, b_key)]
    raw = {}
    for dict_name, d in dicts.items():
        if not isinstance(d, dict):
            raise TypeError("%s must be a dict with keys dW1..dWL and db1..dbL, got %s"
                            % (dict_name, type(d).__name__))
        for key in keys:
            if "d" + key not in d:
                raise KeyError("%s has no key %r for layer %s of %d" % (dict_name, "d" + key, key[1:], len(layers)))
            raw[dict_name, key] = v.as_real_array(d["d" + key], "%s[%r]" % (dict_name, "d" + key))
    params = dict(zip(keys, [a for pair in layers for a in pair]))
    dtype = v.common_float_dtype(*params.values(), *raw.values())
    params = {key: p.astype(dtype, copy=False) for key, p in params.items()}
    states = {dict_name: {} for dict_name in dicts}
    for (dict_name, key), a in raw.items():
        a_name = "%s[%r]" % (dict_name, "d" + key)
        a = v.as_float_array(a, a_name, dtype)
        v.check_same_shape(a, a_name, params[key], "parameters[%r]" % key)
        states[dict_name]["d" + key] = a
    return keys, params, states

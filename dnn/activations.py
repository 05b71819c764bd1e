"""The second part's activations, checked and in NumPy: tanh and leaky ReLU for
hidden layers, softmax for a K-class output, each with its backward function.

Names, signatures and returns of their twins in ``dnn.reference``:
``f(Z) -> (A, cache)`` with ``cache = Z``, ``f_backward(dA, cache) -> dZ``.
Results are new arrays, computed in place in them, operation for operation
as the reference (the same bits). Any shape for tanh and leaky ReLU; softmax
normalizes each column of a 2-D ``(K, m)`` array. Dtypes: all float32 in,
float32 out, else float64.
"""

import numpy as np

from dnn import _course2_validation as c
from dnn import _validation as v

__all__ = ["tanh", "tanh_backward", "leaky_relu", "leaky_relu_backward", "softmax", "softmax_backward",
           "LEAKY_RELU_SLOPE"]

#: Leaky ReLU's default slope for negative inputs.
LEAKY_RELU_SLOPE = 0.01


def _slope(alpha):
    return c.scalar_in(alpha, "alpha", 0.0, 1.0)


def _backward_inputs(dA, cache, ndim=None):
    dA, Z = v.float_arrays(ndim=ndim, dA=dA, cache=cache)
    v.check_same_shape(dA, "dA", Z, "cache (Z)")
    return dA, Z


# The unchecked arithmetic (dnn.network calls it layer by layer).

def _tanh_backward(dA, Z):
    dZ = np.tanh(Z)
    np.square(dZ, out=dZ)
    np.subtract(1, dZ, out=dZ)
    dZ *= dA
    return dZ


def _leaky_relu(Z, alpha):
    A = np.multiply(Z, alpha)
    np.copyto(A, Z, where=Z > 0)
    return A


def _leaky_relu_backward(dA, Z, alpha):
    dZ = np.multiply(dA, alpha)
    np.copyto(dZ, dA, where=Z > 0)
    return dZ


def _softmax(Z):
    A = np.subtract(Z, np.max(Z, axis=0, keepdims=True))
    np.exp(A, out=A)
    A /= np.sum(A, axis=0, keepdims=True)
    return A


def _softmax_backward(dA, Z):
    A = _softmax(Z)
    dZ = np.multiply(dA, A)
    column = np.sum(dZ, axis=0, keepdims=True)
    np.subtract(dA, column, out=dZ)
    dZ *= A
    return dZ


# The public functions.

def tanh(Z):
    """A = tanh(Z), any shape; returns ``(A, cache)`` with ``cache = Z``."""
    (Z,) = v.float_arrays(ndim=None, Z=Z)
    return np.tanh(Z), Z


def tanh_backward(dA, cache):
    """dZ = dA * (1 - tanh(Z)^2); ``cache`` is Z, same shape as dA."""
    return _tanh_backward(*_backward_inputs(dA, cache))


def leaky_relu(Z, alpha=LEAKY_RELU_SLOPE):
    """A = Z where Z > 0, else alpha * Z (``alpha`` in [0, 1]); returns ``(A, cache)``, ``cache = Z``."""
    alpha = _slope(alpha)
    (Z,) = v.float_arrays(ndim=None, Z=Z)
    return _leaky_relu(Z, alpha), Z


def leaky_relu_backward(dA, cache, alpha=LEAKY_RELU_SLOPE):
    """dZ = dA where Z > 0, else alpha * dA (the derivative at 0 is alpha)."""
    alpha = _slope(alpha)
    return _leaky_relu_backward(*_backward_inputs(dA, cache), alpha)


def softmax(Z):
    """Softmax of each column of Z ``(K, m)``, computed as ``exp(Z - max) / sum``; returns ``(A, Z)``."""
    (Z,) = v.float_arrays(Z=Z)
    return _softmax(Z), Z


def softmax_backward(dA, cache):
    """dZ = A * (dA - sum_k dA_k A_k) per column, A = softmax(Z); ``cache`` is Z ``(K, m)``."""
    return _softmax_backward(*_backward_inputs(dA, cache, ndim=2))

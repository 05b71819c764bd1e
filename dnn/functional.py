"""The step-by-step API of the course, compiled.

Each function has the name, signature, return structure and numbers of its
twin in ``dnn.reference`` (the course's NumPy code), and runs its arithmetic in
the kernels of ``dnn._kernels`` (Cython over BLAS, and ``dnn._simd``'s vector
kernels for the sigmoid and, where ``dnn._products.for_step`` says so, a
layer's products). Inputs are checked first
(``dnn._validation``): a bad input raises a clear error, never a crash.

Shapes: ``X``/``A_prev`` ``(n_{l-1}, m)``, ``W`` ``(n_l, n_{l-1})``, ``b``
``(n_l, 1)``, ``Z``/``A`` ``(n_l, m)``, ``Y`` ``(1, m)`` in {0, 1}. Dtypes: all
float32 in, float32 out; otherwise float64 (see ``dnn._validation``).

Outputs are new arrays, as in the reference; the training loop that reuses
its buffers is ``dnn.models.L_layer_model``.
"""

import functools

import numpy as np

from dnn import _kernels, _products, _rng
from dnn import _validation as v
from dnn import reference
from dnn.reference import INIT_RECIPES

# The reference's names, but for the models, which dnn.models compiles.
__all__ = [name for name in reference.__all__ if name not in ("two_layer_model", "L_layer_model")]


# --------------------------------------------------------------------------
# Activations
# --------------------------------------------------------------------------

#: Elements per kernel call in the elementwise functions: the kernels count
#: in C ints, and an array of any rank may hold 2**31 elements or more.
_ELEMENTWISE_CHUNK = 2**30


def _row_pieces(*arrays):
    """Equal-size C-contiguous arrays of any rank, seen as flat (1, k) views
    of at most ``_ELEMENTWISE_CHUNK`` elements, piece by piece, in step."""
    rows = [x.reshape(1, -1) for x in arrays]
    size = rows[0].shape[1]
    for start in range(0, size, _ELEMENTWISE_CHUNK):
        yield [r[:, start:start + _ELEMENTWISE_CHUNK] for r in rows]


def _activation(act, Z):
    (Z,) = v.float_arrays(ndim=None, Z=Z)
    A = np.empty_like(Z)
    for Z_piece, A_piece in _row_pieces(Z, A):
        _kernels.activation(act, Z_piece, A_piece)
    return A, Z


def sigmoid(Z):
    """A = 1 / (1 + exp(-Z)), any shape; returns ``(A, cache)`` with ``cache = Z``."""
    return _activation(_kernels.ACT_SIGMOID, Z)


def relu(Z):
    """A = max(0, Z), any shape; returns ``(A, cache)`` with ``cache = Z``."""
    return _activation(_kernels.ACT_RELU, Z)


def _activation_backward(act, dA, cache):
    dA, Z = v.float_arrays(ndim=None, dA=dA, cache=cache)
    v.check_same_shape(dA, "dA", Z, "cache (Z)")
    dZ = np.empty_like(Z)
    for dA_piece, Z_piece, dZ_piece in _row_pieces(dA, Z, dZ):
        _kernels.activation_backward(act, dA_piece, Z_piece, dZ_piece)
    return dZ


def relu_backward(dA, cache):
    """dZ = dA where Z > 0, else 0; ``cache`` is Z, same shape as dA."""
    return _activation_backward(_kernels.ACT_RELU, dA, cache)


def sigmoid_backward(dA, cache):
    """dZ = dA * s * (1 - s) with s = sigmoid(Z); ``cache`` is Z, same shape as dA."""
    return _activation_backward(_kernels.ACT_SIGMOID, dA, cache)


# --------------------------------------------------------------------------
# Initialization: NumPy's random draws, so the reference's code, checked first
# --------------------------------------------------------------------------

def _init_options(init, seed, dtype):
    return v.init_recipe(init, INIT_RECIPES), v.seed_value(seed), v.float_dtype(dtype)


def initialize_parameters_deep(layer_dims, *, init="app-utils", seed=None, dtype=np.float64,
                               random_state=None):
    """Parameters of an L-layer network: ``W_l`` ``(n_l, n_{l-1})``, ``b_l`` zeros ``(n_l, 1)``.

    ``init`` names a recipe of ``INIT_RECIPES`` (default: the course's
    application utilities, seed 1, ``randn / sqrt(n_{l-1})``); ``seed``
    overrides the recipe's seed. Seeds NumPy's global random state, as the
    course does, under the lock the models take (``dnn._rng``); the values
    are the reference's to the bit. ``random_state`` (an int or a
    ``numpy.random.Generator``) draws from it instead and leaves the global
    state alone.
    """
    init, seed, dtype = _init_options(init, seed, dtype)
    dims = v.layer_sizes(layer_dims, "layer_dims")
    return _rng.initial_parameters(dims, init, seed, dtype,
                                   _rng.check_random_state(random_state, seed))


def initialize_parameters(n_x, n_h, n_y, *, init="article", seed=None, dtype=np.float64,
                          random_state=None):
    """Parameters of the 2-layer network (seed 1, ``randn * 0.01`` by default)."""
    init, seed, dtype = _init_options(init, seed, dtype)
    n_x, n_h, n_y = (v.count(n, name, minimum=1) for n, name in ((n_x, "n_x"), (n_h, "n_h"), (n_y, "n_y")))
    dims = v.layer_sizes([n_x, n_h, n_y], "(n_x, n_h, n_y)")
    return _rng.initial_parameters(dims, init, seed, dtype,
                                   _rng.check_random_state(random_state, seed))


def init_parameters_L(layer_dims, *, init="article", seed=None, dtype=np.float64, random_state=None):
    """The first article's initialization: seed 1, ``randn * 0.01``."""
    return initialize_parameters_deep(layer_dims, init=init, seed=seed, dtype=dtype,
                                      random_state=random_state)


# --------------------------------------------------------------------------
# Forward propagation
# --------------------------------------------------------------------------

def _forward_layer(act, A_prev, W, b):
    """Unchecked LINEAR -> ACTIVATION into new arrays: returns (A, Z)."""
    Z = np.empty((W.shape[0], A_prev.shape[1]), dtype=W.dtype)
    A = np.empty_like(Z)
    _kernels.linear_activation(act, W, A_prev, b.reshape(-1), Z, A, _own(W, A_prev))
    return A, Z


def _own(W, A_prev):
    """Whether this layer's products run in dnn._simd's kernels (``dnn._products``)."""
    return _products.for_step(W.shape[0], W.shape[1], A_prev.shape[1], W.dtype.itemsize)


def linear_forward(A, W, b):
    """Z = W A + b; returns ``(Z, (A, W, b))``.

    A (n_{l-1}, m), W (n_l, n_{l-1}), b (n_l, 1) -> Z (n_l, m).
    """
    A, W, b = v.float_arrays(A=A, W=W, b=b)
    v.check_linear_shapes(A, W, b, a_name="A")
    Z = np.empty((W.shape[0], A.shape[1]), dtype=W.dtype)
    _kernels.linear(W, A, b.reshape(-1), Z, _own(W, A))
    return Z, (A, W, b)


def linear_activation_forward(A_prev, W, b, activation):
    """LINEAR -> ACTIVATION (``"relu"`` or ``"sigmoid"``) as one fused kernel.

    Returns ``(A, ((A_prev, W, b), Z))``; shapes as in ``linear_forward``.
    """
    act = v.activation_code(activation)
    A_prev, W, b = v.float_arrays(A_prev=A_prev, W=W, b=b)
    v.check_linear_shapes(A_prev, W, b)
    A, Z = _forward_layer(act, A_prev, W, b)
    return A, ((A_prev, W, b), Z)


def L_model_forward(X, parameters):
    """[LINEAR -> RELU] * (L-1) -> LINEAR -> SIGMOID.

    X (n_x, m); ``parameters`` holds W1..WL, b1..bL. Returns ``(AL, caches)``:
    AL (n_L, m) and a list of L caches ``((A_prev, W, b), Z)``.
    """
    X, layers = v.network_parameters(parameters, X)
    caches = []
    A = X
    for l, (W, b) in enumerate(layers, start=1):
        act = _kernels.ACT_SIGMOID if l == len(layers) else _kernels.ACT_RELU
        A_next, Z = _forward_layer(act, A, W, b)
        caches.append(((A, W, b), Z))
        A = A_next
    return A, caches


def compute_cost(AL, Y):
    """Cross-entropy ``-(1/m) sum(y log a + (1-y) log(1-a))`` as a 0-d array.

    AL (1, m) probabilities in [0, 1]; Y (1, m) labels in {0, 1}. A term
    whose label is 0 does not add ``0 * log(0)``; an output of exactly 0 or 1
    on the wrong side makes the cost inf, as the formula says.
    """
    AL = v.as_real_array(AL, "AL")
    dtype = v.common_float_dtype(AL, v.as_real_array(Y, "Y"))
    AL = v.as_float_array(AL, "AL", dtype)
    v.check_output_row(AL, "AL")
    v.check_probabilities(AL, "AL")
    Y = v.labels_row(Y, "Y", AL.shape[1], dtype)
    cost = _kernels.cross_entropy_cost(AL.reshape(-1), Y.reshape(-1))
    return np.asarray(cost, dtype=dtype)


# --------------------------------------------------------------------------
# Backward propagation
# --------------------------------------------------------------------------

def _check_linear_cache(linear_cache, name):
    # A list is accepted too: caches that went through JSON or a copy come back so.
    if not isinstance(linear_cache, (tuple, list)) or len(linear_cache) != 3:
        raise ValueError("%s must be the tuple (A_prev, W, b), got %s"
                         % (name, type(linear_cache).__name__))
    return linear_cache


def _check_layer_cache(cache, name="cache"):
    if not isinstance(cache, (tuple, list)) or len(cache) != 2:
        raise ValueError("%s must be the tuple ((A_prev, W, b), Z), got %s"
                         % (name, type(cache).__name__))
    return _check_linear_cache(cache[0], name + "[0]"), cache[1]


def _backward_layer(act, dA, A_prev, W, Z):
    """Unchecked ACTIVATION then LINEAR backward: returns (dA_prev, dW, db)."""
    n, k, m = W.shape[0], W.shape[1], Z.shape[1]
    dZ = np.empty_like(Z)
    dW = np.empty_like(W)
    db = np.empty((n, 1), dtype=W.dtype)
    dA_prev = np.empty((k, m), dtype=W.dtype)
    _kernels.linear_activation_backward(act, dA, Z, A_prev, W, dZ, dW, db.reshape(-1), dA_prev,
                                        _own(W, A_prev))
    return dA_prev, dW, db


def linear_backward(dZ, cache):
    """Gradients of the linear step: returns ``(dA_prev, dW, db)``.

    dZ (n_l, m); ``cache`` is ``(A_prev, W, b)``. dW = dZ A_prev^T / m,
    db = sum of dZ over examples / m, dA_prev = W^T dZ.
    """
    A_prev, W, b = _check_linear_cache(cache, "cache")
    dZ, A_prev, W, b = v.float_arrays(dZ=dZ, A_prev=A_prev, W=W, b=b)
    v.check_linear_shapes(A_prev, W, b)
    if dZ.shape != (W.shape[0], A_prev.shape[1]):
        raise ValueError("dZ must have shape %s to match W %s and A_prev %s, got shape %s"
                         % ((W.shape[0], A_prev.shape[1]), W.shape, A_prev.shape, dZ.shape))
    dW = np.empty_like(W)
    db = np.empty_like(b)
    dA_prev = np.empty_like(A_prev)
    _kernels.linear_backward(dZ, A_prev, W, dW, db.reshape(-1), dA_prev, _own(W, A_prev))
    return dA_prev, dW, db


def linear_activation_backward(dA, cache, activation):
    """Backward through ACTIVATION then LINEAR: returns ``(dA_prev, dW, db)``.

    dA (n_l, m); ``cache`` is ``((A_prev, W, b), Z)`` from the forward step.
    """
    act = v.activation_code(activation)
    (A_prev, W, b), Z = _check_layer_cache(cache)
    dA, A_prev, W, b, Z = v.float_arrays(dA=dA, A_prev=A_prev, W=W, b=b, Z=Z)
    v.check_linear_shapes(A_prev, W, b)
    if Z.shape != (W.shape[0], A_prev.shape[1]):
        raise ValueError("Z must have shape %s to match W %s and A_prev %s, got shape %s"
                         % ((W.shape[0], A_prev.shape[1]), W.shape, A_prev.shape, Z.shape))
    v.check_same_shape(dA, "dA", Z, "Z")
    return _backward_layer(act, dA, A_prev, W, Z)


@functools.lru_cache(maxsize=64)
def _cache_names(L):
    """Names of the arrays of L layer caches, for messages (memoized: formatting
    them on every call cost more than the checks of a small network)."""
    return tuple(("caches[%d]" % l,) + tuple("caches[%d] %s" % (l, key) for key in ("A_prev", "W", "b", "Z"))
                 for l in range(L))


def _checked_caches(AL, caches):
    """Caches of ``L_model_forward`` checked and converted to one dtype."""
    if not isinstance(caches, (list, tuple)) or len(caches) == 0:
        raise ValueError("caches must be the non-empty list returned by L_model_forward, got %r"
                         % (type(caches).__name__,))
    named = {}
    for cache, (cache_name, *array_names) in zip(caches, _cache_names(len(caches))):
        (A_prev, W, b), Z = _check_layer_cache(cache, cache_name)
        for array_name, x in zip(array_names, (A_prev, W, b, Z)):
            named[array_name] = x
    named["AL"] = AL
    arrays = v.float_arrays(**named)
    AL = arrays.pop()
    layers = [tuple(arrays[4 * l:4 * l + 4]) for l in range(len(caches))]
    for l, (A_prev, W, b, Z) in enumerate(layers):
        v.check_linear_shapes(A_prev, W, b, a_name="caches[%d] A_prev" % l)
        if Z.shape != (W.shape[0], A_prev.shape[1]):
            raise ValueError("caches[%d] Z must have shape %s, got %s"
                             % (l, (W.shape[0], A_prev.shape[1]), Z.shape))
        if l and layers[l - 1][3].shape != A_prev.shape:
            raise ValueError("caches[%d] A_prev must have the shape of caches[%d] Z, %s, got %s"
                             % (l, l - 1, layers[l - 1][3].shape, A_prev.shape))
    v.check_same_shape(AL, "AL", layers[-1][3], "the last cache's Z")
    return AL, layers


def L_model_backward(AL, Y, caches):
    """Gradients of the cost with respect to every layer.

    AL (1, m) from ``L_model_forward``, Y (1, m) labels, ``caches`` its list.
    Returns a dict with ``dA0..dA{L-1}`` (dA0 is the gradient with respect to
    X), ``dW1..dWL`` and ``db1..dbL``. Starts, as the reference does, from
    dAL = -(Y / AL - (1 - Y) / (1 - AL)).
    """
    AL, layers = _checked_caches(AL, caches)
    v.check_output_row(AL, "AL")
    v.check_probabilities(AL, "AL")
    Y = v.labels_row(Y, "Y", AL.shape[1], AL.dtype)
    L = len(layers)
    dAL = np.empty_like(AL)
    _kernels.cross_entropy_output_grad(AL.reshape(-1), Y.reshape(-1), dAL.reshape(-1))
    grads = {}
    dA = dAL
    for l in reversed(range(L)):
        A_prev, W, b, Z = layers[l]
        act = _kernels.ACT_SIGMOID if l == L - 1 else _kernels.ACT_RELU
        dA, grads["dW%d" % (l + 1)], grads["db%d" % (l + 1)] = _backward_layer(act, dA, A_prev, W, Z)
        grads["dA%d" % l] = dA
    return grads


def update_parameters(parameters, grads, learning_rate):
    """One step of gradient descent: ``W_l - learning_rate * dW_l``, same for b.

    The dict is updated with new arrays (the old ones are left as they were,
    as in the course) and returned.
    """
    learning_rate = v.real_scalar(learning_rate, "learning_rate")
    layers = v.network_parameters(parameters)
    if not isinstance(grads, dict):
        raise TypeError("grads must be a dict with keys dW1..dWL and db1..dbL, got %s"
                        % type(grads).__name__)
    updates = []
    for (W, b), (w_key, b_key, _, _) in zip(layers, v.layer_keys(len(layers))):
        for key, p in ((w_key, W), (b_key, b)):
            g_key = "d" + key
            if g_key not in grads:
                raise KeyError("grads has no key %r for layer %s of %d" % (g_key, key[1:], len(layers)))
            g_name = "grads[%r]" % g_key
            g = v.as_real_array(grads[g_key], g_name)
            g = v.as_float_array(g, g_name, v.common_float_dtype(p, g))
            v.check_same_shape(g, g_name, p, key)
            updates.append((key, p.astype(g.dtype, copy=False), g))
    for key, p, g in updates:
        parameters[key] = p - learning_rate * g
    return parameters


def predict(X, y, parameters):
    """Labels for X: ``p`` (1, m) float64, 1 where the output is > 0.5, else 0.

    Prints ``"Accuracy: ..."`` against the labels ``y`` (1, m), as the course.
    Runs the forward pass without keeping caches.
    """
    X, layers = v.network_parameters(parameters, X)
    m = X.shape[1]
    y_row = v.labels_row(y, "y", m, np.float64)
    A = X
    for l, (W, b) in enumerate(layers, start=1):
        act = _kernels.ACT_SIGMOID if l == len(layers) else _kernels.ACT_RELU
        A, _ = _forward_layer(act, A, W, b)
    if A.shape[0] != 1:
        raise ValueError("predict needs one output unit, but the last layer has %d" % A.shape[0])
    p = (A > 0.5).astype(np.float64)
    print("Accuracy: " + str(np.sum((p == y_row) / m)))
    return p


# The first article's names for the same functions.
forward_prop_L = linear_forward
activation_forward_L = linear_activation_forward
backprop_L = linear_backward
activation_backward_L = linear_activation_backward
sigmoid_derivative = sigmoid_backward
relu_derivative = relu_backward

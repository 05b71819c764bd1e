"""Pure-NumPy reference implementation: the oracle for every compiled function.

This module is the classic step-by-step code of the two source articles (the
deep-learning course's ``dnn_app_utils`` and the "Introduction to Deep Learning"
article), written once more in plain NumPy and Python 3, with the same names,
signatures, return structures and numbers. It is deliberately simple and slow:
every array operation is the one the articles write, so that ``dnn``'s compiled
functions can be tested against it (``tests/test_parity*.py``) and it can be
checked against finite differences (``tests/test_reference.py``).

Shapes follow the articles: data ``X`` is ``(n_x, m)`` (features by examples),
labels ``Y`` are ``(1, m)`` in {0, 1}, ``W_l`` is ``(n_l, n_{l-1})`` and ``b_l``
is ``(n_l, 1)``. Caches have the articles' structure:
``linear_cache = (A_prev, W, b)``, ``activation_cache = Z`` and a layer's cache
``(linear_cache, activation_cache)``.

Nothing here validates its input: that is the job of the ``dnn`` wrappers.
"""

import numpy as np

__all__ = [
    "INIT_RECIPES",
    "sigmoid", "relu", "sigmoid_backward", "relu_backward",
    "initialize_parameters", "initialize_parameters_deep",
    "linear_forward", "linear_activation_forward", "L_model_forward",
    "compute_cost",
    "linear_backward", "linear_activation_backward", "L_model_backward",
    "update_parameters", "predict",
    "two_layer_model", "L_layer_model",
    # the first article's names
    "init_parameters_L", "forward_prop_L", "activation_forward_L",
    "backprop_L", "activation_backward_L", "sigmoid_derivative", "relu_derivative",
]

# Initialization recipes: name -> (seed, how W_l is scaled). Each reproduces a
# published recipe to the bit when its default seed is used:
#   "app-utils":    the course's dnn_app_utils (the file its notebooks import):
#                   np.random.seed(1), randn(n_l, n_{l-1}) / sqrt(n_{l-1}).
#                   This scaling is what makes the 4-layer cat network learn.
#   "step-by-step": the course's step-by-step assignment: seed(3), randn * 0.01.
#   "article":      the first article's init_parameters_L: seed(1), randn * 0.01.
#   "he":           He et al. (2015) for ReLU layers: seed(1), randn * sqrt(2 / n_{l-1}).
INIT_RECIPES = {
    "app-utils": (1, "inv_sqrt"),
    "step-by-step": (3, "small"),
    "article": (1, "small"),
    "he": (1, "he"),
}


def _scale_weights(rule, W, n_prev):
    # Each recipe's published arithmetic, operation for operation: the course
    # divides by sqrt(n_prev), and x / s differs from x * (1 / s) in the last bit.
    if rule == "inv_sqrt":
        return W / np.sqrt(n_prev)
    if rule == "small":
        return W * 0.01
    return W * np.sqrt(2.0 / n_prev)  # "he"


# --------------------------------------------------------------------------
# Activations and their derivatives (course: dnn_app_utils)
# --------------------------------------------------------------------------

def sigmoid(Z):
    """A = 1 / (1 + exp(-Z)); returns ``(A, cache)`` with ``cache = Z``."""
    A = 1 / (1 + np.exp(-Z))
    cache = Z
    return A, cache


def relu(Z):
    """A = max(0, Z); returns ``(A, cache)`` with ``cache = Z``."""
    A = np.maximum(0, Z)
    cache = Z
    return A, cache


def relu_backward(dA, cache):
    """dZ = dA where Z > 0, else 0 (the derivative at exactly 0 is 0)."""
    Z = cache
    dZ = np.array(dA, copy=True)
    dZ[Z <= 0] = 0
    return dZ


def sigmoid_backward(dA, cache):
    """dZ = dA * s * (1 - s) with s = sigmoid(Z)."""
    Z = cache
    s = 1 / (1 + np.exp(-Z))
    dZ = dA * s * (1 - s)
    return dZ


# --------------------------------------------------------------------------
# Initialization
# --------------------------------------------------------------------------

def initialize_parameters_deep(layer_dims, *, init="app-utils", seed=None, dtype=np.float64):
    """Parameters of an L-layer network as a dict ``W1..WL``, ``b1..bL``.

    ``W_l`` has shape ``(layer_dims[l], layer_dims[l-1])``, ``b_l`` is zeros of
    shape ``(layer_dims[l], 1)``. ``init`` names a recipe of ``INIT_RECIPES``
    (default: the course's application utilities); ``seed`` overrides the
    recipe's seed. The global NumPy random state is seeded, as in the course,
    and draws are made in float64 then cast to ``dtype``.
    """
    recipe_seed, rule = INIT_RECIPES[init]
    np.random.seed(recipe_seed if seed is None else seed)
    parameters = {}
    for l in range(1, len(layer_dims)):
        W = _scale_weights(rule, np.random.randn(layer_dims[l], layer_dims[l - 1]), layer_dims[l - 1])
        parameters["W" + str(l)] = W.astype(dtype, copy=False)
        parameters["b" + str(l)] = np.zeros((layer_dims[l], 1), dtype=dtype)
    return parameters


def initialize_parameters(n_x, n_h, n_y, *, init="article", seed=None, dtype=np.float64):
    """Parameters of the 2-layer network: ``W1 (n_h, n_x)``, ``b1``, ``W2 (n_y, n_h)``, ``b2``.

    The course's recipe (``seed(1)``, ``randn * 0.01``) by default.
    """
    return initialize_parameters_deep([n_x, n_h, n_y], init=init, seed=seed, dtype=dtype)


def init_parameters_L(layer_dims, *, init="article", seed=None, dtype=np.float64):
    """The first article's initialization: ``seed(1)``, ``randn * 0.01``."""
    return initialize_parameters_deep(layer_dims, init=init, seed=seed, dtype=dtype)


# --------------------------------------------------------------------------
# Forward propagation
# --------------------------------------------------------------------------

def linear_forward(A, W, b):
    """Z = W A + b; returns ``(Z, (A, W, b))``."""
    Z = W.dot(A) + b
    cache = (A, W, b)
    return Z, cache


def linear_activation_forward(A_prev, W, b, activation):
    """LINEAR -> ACTIVATION; returns ``(A, ((A_prev, W, b), Z))``."""
    if activation == "sigmoid":
        Z, linear_cache = linear_forward(A_prev, W, b)
        A, activation_cache = sigmoid(Z)
    elif activation == "relu":
        Z, linear_cache = linear_forward(A_prev, W, b)
        A, activation_cache = relu(Z)
    else:
        raise ValueError("activation must be 'relu' or 'sigmoid', got %r" % (activation,))
    cache = (linear_cache, activation_cache)
    return A, cache


def L_model_forward(X, parameters):
    """[LINEAR -> RELU] * (L-1) -> LINEAR -> SIGMOID; returns ``(AL, caches)``."""
    caches = []
    A = X
    L = len(parameters) // 2
    for l in range(1, L):
        A_prev = A
        A, cache = linear_activation_forward(A_prev, parameters["W" + str(l)], parameters["b" + str(l)], "relu")
        caches.append(cache)
    AL, cache = linear_activation_forward(A, parameters["W" + str(L)], parameters["b" + str(L)], "sigmoid")
    caches.append(cache)
    return AL, caches


def compute_cost(AL, Y):
    """Cross-entropy ``-(1/m) sum(y log a + (1-y) log(1-a))`` as a 0-d array."""
    m = Y.shape[1]
    cost = (1. / m) * (-np.dot(Y, np.log(AL).T) - np.dot(1 - Y, np.log(1 - AL).T))
    cost = np.squeeze(cost)
    return cost


# --------------------------------------------------------------------------
# Backward propagation
# --------------------------------------------------------------------------

def linear_backward(dZ, cache):
    """Returns ``(dA_prev, dW, db)``: ``dW = dZ A_prev^T / m``, ``db = sum(dZ) / m``, ``dA_prev = W^T dZ``."""
    A_prev, W, b = cache
    m = A_prev.shape[1]
    dW = 1. / m * np.dot(dZ, A_prev.T)
    db = 1. / m * np.sum(dZ, axis=1, keepdims=True)
    dA_prev = np.dot(W.T, dZ)
    return dA_prev, dW, db


def linear_activation_backward(dA, cache, activation):
    """Backward through ACTIVATION then LINEAR; returns ``(dA_prev, dW, db)``."""
    linear_cache, activation_cache = cache
    if activation == "relu":
        dZ = relu_backward(dA, activation_cache)
    elif activation == "sigmoid":
        dZ = sigmoid_backward(dA, activation_cache)
    else:
        raise ValueError("activation must be 'relu' or 'sigmoid', got %r" % (activation,))
    dA_prev, dW, db = linear_backward(dZ, linear_cache)
    return dA_prev, dW, db


def L_model_backward(AL, Y, caches):
    """Gradients of the cost: dict with ``dA0..dA{L-1}``, ``dW1..dWL``, ``db1..dbL``."""
    grads = {}
    L = len(caches)
    Y = Y.reshape(AL.shape)
    dAL = - (np.divide(Y, AL) - np.divide(1 - Y, 1 - AL))
    current_cache = caches[L - 1]
    grads["dA" + str(L - 1)], grads["dW" + str(L)], grads["db" + str(L)] = \
        linear_activation_backward(dAL, current_cache, "sigmoid")
    for l in reversed(range(L - 1)):
        current_cache = caches[l]
        dA_prev_temp, dW_temp, db_temp = linear_activation_backward(grads["dA" + str(l + 1)], current_cache, "relu")
        grads["dA" + str(l)] = dA_prev_temp
        grads["dW" + str(l + 1)] = dW_temp
        grads["db" + str(l + 1)] = db_temp
    return grads


def update_parameters(parameters, grads, learning_rate):
    """One gradient-descent step; the dict is updated with new arrays and returned."""
    L = len(parameters) // 2
    for l in range(L):
        parameters["W" + str(l + 1)] = parameters["W" + str(l + 1)] - learning_rate * grads["dW" + str(l + 1)]
        parameters["b" + str(l + 1)] = parameters["b" + str(l + 1)] - learning_rate * grads["db" + str(l + 1)]
    return parameters


def predict(X, y, parameters):
    """Labels ``p`` of shape ``(1, m)`` (1 where the output is > 0.5); prints the accuracy."""
    m = X.shape[1]
    p = np.zeros((1, m))
    probas, caches = L_model_forward(X, parameters)
    for i in range(0, probas.shape[1]):
        if probas[0, i] > 0.5:
            p[0, i] = 1
        else:
            p[0, i] = 0
    print("Accuracy: " + str(np.sum((p == y) / m)))
    return p


# --------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------

def _training_dtype(X, dtype):
    if dtype is not None:
        return np.dtype(dtype)
    return np.dtype(np.float32) if np.asarray(X).dtype == np.float32 else np.dtype(np.float64)


def two_layer_model(X, Y, layers_dims, learning_rate=0.0075, num_iterations=3000, print_cost=False,
                    *, dtype=None, return_costs=False):
    """LINEAR -> RELU -> LINEAR -> SIGMOID trained by gradient descent, as in the course.

    Returns ``parameters``, or ``(parameters, costs)`` with ``return_costs=True``;
    ``costs`` holds the cost at every 100th iteration.
    """
    dtype = _training_dtype(X, dtype)
    X = np.asarray(X, dtype=dtype)
    Y = np.asarray(Y, dtype=dtype).reshape(1, -1)
    np.random.seed(1)
    grads = {}
    costs = []
    (n_x, n_h, n_y) = layers_dims
    parameters = initialize_parameters(n_x, n_h, n_y, dtype=dtype)
    for i in range(0, num_iterations):
        W1, b1 = parameters["W1"], parameters["b1"]
        W2, b2 = parameters["W2"], parameters["b2"]
        A1, cache1 = linear_activation_forward(X, W1, b1, "relu")
        A2, cache2 = linear_activation_forward(A1, W2, b2, "sigmoid")
        cost = compute_cost(A2, Y)
        dA2 = - (np.divide(Y, A2) - np.divide(1 - Y, 1 - A2))
        dA1, dW2, db2 = linear_activation_backward(dA2, cache2, "sigmoid")
        dA0, dW1, db1 = linear_activation_backward(dA1, cache1, "relu")
        grads["dW1"], grads["db1"], grads["dW2"], grads["db2"] = dW1, db1, dW2, db2
        parameters = update_parameters(parameters, grads, learning_rate)
        if i % 100 == 0:
            costs.append(float(cost))
            if print_cost:
                print("Cost after iteration %i: %f" % (i, cost))
    return (parameters, costs) if return_costs else parameters


def L_layer_model(X, Y, layers_dims, learning_rate=0.0075, num_iterations=3000, print_cost=False,
                  *, init="app-utils", seed=None, dtype=None, return_costs=False, cost_every=100):
    """[LINEAR -> RELU] * (L-1) -> LINEAR -> SIGMOID trained by gradient descent.

    ``X`` is ``(n_x, m)``, ``Y`` is ``(1, m)``. Prints ``"Cost after iteration
    i: c"`` every 100 iterations when ``print_cost``. Returns ``parameters``, or
    ``(parameters, costs)`` with ``return_costs=True``, where ``costs`` holds the
    cost at every ``cost_every``-th iteration (starting at iteration 0).
    ``dtype`` defaults to float32 when ``X`` is float32, else float64.
    """
    dtype = _training_dtype(X, dtype)
    X = np.asarray(X, dtype=dtype)
    Y = np.asarray(Y, dtype=dtype).reshape(1, -1)
    np.random.seed(1)
    costs = []
    parameters = initialize_parameters_deep(layers_dims, init=init, seed=seed, dtype=dtype)
    for i in range(0, num_iterations):
        AL, caches = L_model_forward(X, parameters)
        cost = compute_cost(AL, Y)
        grads = L_model_backward(AL, Y, caches)
        parameters = update_parameters(parameters, grads, learning_rate)
        if cost_every and i % cost_every == 0:
            costs.append(float(cost))
        if print_cost and i % 100 == 0:
            print("Cost after iteration %i: %f" % (i, cost))
    return (parameters, costs) if return_costs else parameters


# The first article's names for the same functions.
forward_prop_L = linear_forward
activation_forward_L = linear_activation_forward
backprop_L = linear_backward
activation_backward_L = linear_activation_backward
sigmoid_derivative = sigmoid_backward
relu_derivative = relu_backward

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
# The second part's initialization notebook (its functions below use seed 3):
#   "random":       initialize_parameters_random: seed(3), randn * 10 (too large on purpose).
#   "zeros":        initialize_parameters_zeros: every W zero (draws nothing, seeds nothing).
#   "glorot":       Glorot & Bengio (2010), normal: seed(3), randn * sqrt(2 / (n_{l-1} + n_l)).
# (The course's Xavier, randn * sqrt(1 / n_{l-1}), is initialize_parameters_xavier.)
INIT_RECIPES = {
    "app-utils": (1, "inv_sqrt"),
    "step-by-step": (3, "small"),
    "article": (1, "small"),
    "he": (1, "he"),
    "random": (3, "times10"),
    "zeros": (None, "zeros"),
    "glorot": (3, "glorot"),
}


def _scale_weights(rule, W, n_prev):
    # Each recipe's published arithmetic, operation for operation: the course
    # divides by sqrt(n_prev), and x / s differs from x * (1 / s) in the last bit.
    if rule == "inv_sqrt":
        return W / np.sqrt(n_prev)
    if rule == "small":
        return W * 0.01
    if rule == "times10":
        return W * 10
    if rule == "xavier":
        return W * np.sqrt(1. / n_prev)
    if rule == "glorot":
        return W * np.sqrt(2. / (n_prev + W.shape[0]))
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
    return _initialize(layer_dims, rule, recipe_seed if seed is None else seed, dtype)


def _initialize(layer_dims, rule, seed, dtype):
    if rule != "zeros":  # the course's zeros initialization leaves the random state alone
        np.random.seed(seed)
    parameters = {}
    for l in range(1, len(layer_dims)):
        if rule == "zeros":
            W = np.zeros((layer_dims[l], layer_dims[l - 1]))
        else:
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


def L_model_forward(X, parameters, *, hidden_activation="relu", output=None, keep_prob=1.0,
                    seed=0, iteration=0):
    """[LINEAR -> RELU] * (L-1) -> LINEAR -> SIGMOID; returns ``(AL, caches)``.

    The second part's keywords (the defaults are the course's network):
    ``hidden_activation`` ``"relu"``, ``"tanh"`` or ``"leaky_relu"``;
    ``output`` ``"sigmoid"``, ``"softmax"`` (default: softmax when the last
    layer has more than one unit) or ``"identity"`` (regression: ``AL = Z``,
    cost ``squared_error_cost``, ``dZ_L = AL - Y``); ``keep_prob`` a float or one per hidden
    layer: inverted dropout, ``A_l = A_l * D_l / keep_prob`` with ``D_l`` from
    ``dropout_mask(..., seed=seed, layer=l, iteration=iteration)``. A layer's
    cache is ``((A_prev, W, b), Z)``, or ``((A_prev, W, b), Z, D)`` for a
    hidden layer with dropout.
    """
    caches = []
    A = X
    L = len(parameters) // 2
    output = _output_kind(output, parameters["W" + str(L)].shape[0])
    keep = _keep_probs(keep_prob, L)
    for l in range(1, L):
        A_prev = A
        Z, linear_cache = linear_forward(A_prev, parameters["W" + str(l)], parameters["b" + str(l)])
        A = _HIDDEN[hidden_activation][0](Z)[0]
        if keep[l - 1] < 1:
            D = dropout_mask(A.shape, keep[l - 1], seed=seed, layer=l, iteration=iteration, dtype=A.dtype)
            A = A * D
            A = A / keep[l - 1]
            caches.append((linear_cache, Z, D))
        else:
            caches.append((linear_cache, Z))
    Z, linear_cache = linear_forward(A, parameters["W" + str(L)], parameters["b" + str(L)])
    if output == "identity":
        AL = Z.copy()
    else:
        AL = sigmoid(Z)[0] if output == "sigmoid" else softmax(Z)[0]
    caches.append((linear_cache, Z))
    return AL, caches


def squared_error_cost(AL, Y):
    """The identity output's squared error ``(1/(2m)) sum (AL - Y)^2`` (every output row), a 0-d array."""
    m = AL.shape[1]
    return np.squeeze(np.sum(np.square(AL - np.asarray(Y).reshape(AL.shape))) / (2. * m))


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


def L_model_backward(AL, Y, caches, *, lambd=0.0, keep_prob=1.0, hidden_activation="relu", output=None):
    """Gradients of the cost: dict with ``dA0..dA{L-1}``, ``dW1..dWL``, ``db1..dbL``.

    Keywords as in ``L_model_forward``, plus ``lambd``: the L2 term
    ``lambd / m * W_l`` added to every ``dW_l``. A sigmoid output starts, as
    the course does, from ``dAL = -(Y / AL - (1 - Y) / (1 - AL))``; a softmax
    output from ``dZ_L = AL - Y`` (``Y`` one-hot, or a row of class indices).
    Dropout: ``dA_l`` (the gradient with respect to the layer's dropped-out
    output, which the next layer cached) is multiplied by ``D_l / keep_prob``
    before the activation's backward step.
    """
    grads = {}
    L = len(caches)
    m = AL.shape[1]
    output = _output_kind(output, AL.shape[0])
    keep = _keep_probs(keep_prob, L)
    linear_cache, ZL = caches[L - 1][0], caches[L - 1][1]
    if output == "sigmoid":
        Y = Y.reshape(AL.shape)
        dAL = - (np.divide(Y, AL) - np.divide(1 - Y, 1 - AL))
        dZ = sigmoid_backward(dAL, ZL)
    elif output == "identity":
        dZ = AL - np.asarray(Y, dtype=AL.dtype).reshape(AL.shape)
    else:
        dZ = AL - labels_one_hot(Y, AL.shape[0], AL.dtype)
    dA_prev, dW, db = linear_backward(dZ, linear_cache)
    if lambd:
        dW = dW + lambd / m * linear_cache[1]
    grads["dA" + str(L - 1)], grads["dW" + str(L)], grads["db" + str(L)] = dA_prev, dW, db
    for l in reversed(range(1, L)):
        linear_cache, Z = caches[l - 1][0], caches[l - 1][1]
        dA = grads["dA" + str(l)]
        if keep[l - 1] < 1:
            dA = dA * caches[l - 1][2]
            dA = dA / keep[l - 1]
        dZ = _HIDDEN[hidden_activation][1](dA, Z)
        dA_prev, dW, db = linear_backward(dZ, linear_cache)
        if lambd:
            dW = dW + lambd / m * linear_cache[1]
        grads["dA" + str(l - 1)], grads["dW" + str(l)], grads["db" + str(l)] = dA_prev, dW, db
    return grads


def update_parameters(parameters, grads, learning_rate):
    """One gradient-descent step; the dict is updated with new arrays and returned."""
    L = len(parameters) // 2
    for l in range(L):
        parameters["W" + str(l + 1)] = parameters["W" + str(l + 1)] - learning_rate * grads["dW" + str(l + 1)]
        parameters["b" + str(l + 1)] = parameters["b" + str(l + 1)] - learning_rate * grads["db" + str(l + 1)]
    return parameters


def predict(X, y, parameters, *, hidden_activation="relu", output=None):
    """Labels ``p`` of shape ``(1, m)`` (1 where the output is > 0.5); prints the accuracy.

    A softmax network (``output="softmax"``, the default when the last layer
    has more than one unit) predicts class indices instead, ``p`` ``(1, m)``
    int64, the argmax of the output; ``y`` is then a row of class indices or
    one-hot ``(K, m)``. An identity network (``output="identity"``: regression)
    predicts its outputs themselves, ``p`` ``(K, m)`` float64, and prints their
    mean squared error against the real targets ``y`` ``(K, m)`` instead.
    """
    m = X.shape[1]
    probas, caches = L_model_forward(X, parameters, hidden_activation=hidden_activation, output=output)
    if _output_kind(output, probas.shape[0]) == "identity":
        p = probas.astype(np.float64)
        print("Mean squared error: " + str(np.mean(np.square(p - np.asarray(y, dtype=np.float64).reshape(p.shape)))))
        return p
    if _output_kind(output, probas.shape[0]) == "softmax":
        p = np.argmax(probas, axis=0).reshape(1, m)
        y = class_indices(y, probas.shape[0])
        print("Accuracy: " + str(np.sum((p == y) / m)))
        return p
    p = np.zeros((1, m))
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
    return np.dtype(np.float32) if np.asarray(X).dtype.type is np.float32 else np.dtype(np.float64)  # '>f4' too


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


# ==========================================================================
# The course's second part ("Improving Deep Neural Networks": initialization,
# regularization, optimization), for L layers. These names are listed in
# COURSE2, not in __all__: dnn.functional derives its own __all__ from this
# module's, and the compiled twins of these live in other modules of dnn.
# ==========================================================================

COURSE2 = [
    "tanh", "tanh_backward", "leaky_relu", "leaky_relu_backward", "softmax", "softmax_backward",
    "labels_one_hot", "class_indices", "softmax_cost", "compute_cost_with_regularization",
    "dropout_uniform", "dropout_mask",
    "initialize_parameters_zeros", "initialize_parameters_random", "initialize_parameters_he",
    "initialize_parameters_xavier", "initialize_parameters_glorot",
    "random_mini_batches",
    "update_parameters_with_gd", "initialize_velocity", "update_parameters_with_momentum",
    "initialize_rmsprop", "update_parameters_with_rmsprop",
    "initialize_adam", "update_parameters_with_adam", "update_lr", "schedule_lr_decay",
    "model",
]

#: Leaky ReLU's slope for negative inputs.
LEAKY_RELU_SLOPE = 0.01


def tanh(Z):
    """A = tanh(Z); returns ``(A, cache)`` with ``cache = Z``."""
    A = np.tanh(Z)
    return A, Z


def tanh_backward(dA, cache):
    """dZ = dA * (1 - tanh(Z)^2)."""
    t = np.tanh(cache)
    dZ = dA * (1 - t ** 2)
    return dZ


def leaky_relu(Z, alpha=LEAKY_RELU_SLOPE):
    """A = Z where Z > 0, else alpha * Z; returns ``(A, cache)`` with ``cache = Z``."""
    A = np.where(Z > 0, Z, alpha * Z)
    return A, Z


def leaky_relu_backward(dA, cache, alpha=LEAKY_RELU_SLOPE):
    """dZ = dA where Z > 0, else alpha * dA (the derivative at 0 is alpha)."""
    dZ = np.where(cache > 0, dA, alpha * dA)
    return dZ


def softmax(Z):
    """Column-wise softmax, ``exp(Z - max) / sum(exp(Z - max))``; returns ``(A, cache)``, ``cache = Z``."""
    e = np.exp(Z - np.max(Z, axis=0, keepdims=True))
    A = e / np.sum(e, axis=0, keepdims=True)
    return A, Z


def softmax_backward(dA, cache):
    """dZ = A * (dA - sum_k dA_k A_k) with A = softmax(Z), column by column."""
    A = softmax(cache)[0]
    dZ = A * (dA - np.sum(dA * A, axis=0, keepdims=True))
    return dZ


# Hidden activations: name -> (forward, backward).
_HIDDEN = {
    "relu": (relu, relu_backward),
    "tanh": (tanh, tanh_backward),
    "leaky_relu": (leaky_relu, leaky_relu_backward),
}


def _output_kind(output, n_L):
    """``output``, or by default sigmoid for one output unit and softmax for more."""
    if output is None:
        return "sigmoid" if n_L == 1 else "softmax"
    return output


def _keep_probs(keep_prob, L):
    """One keep probability per hidden layer (a float is every hidden layer's)."""
    if np.ndim(keep_prob) == 0:
        return [float(keep_prob)] * (L - 1)
    return [float(k) for k in keep_prob]


def labels_one_hot(Y, K, dtype=np.float64):
    """Labels as a one-hot ``(K, m)`` array: ``Y`` one-hot ``(K, m)`` already, or class indices ``(1, m)``/``(m,)``."""
    Y = np.asarray(Y)
    if Y.ndim == 2 and Y.shape[0] == K and K > 1:
        return Y.astype(dtype, copy=False)
    idx = Y.reshape(-1).astype(np.intp)
    one_hot = np.zeros((K, idx.size), dtype=dtype)
    one_hot[idx, np.arange(idx.size)] = 1
    return one_hot


def class_indices(Y, K):
    """Labels as a ``(1, m)`` int64 row of class indices (from indices or one-hot ``(K, m)``)."""
    Y = np.asarray(Y)
    if Y.ndim == 2 and Y.shape[0] == K and K > 1:
        return np.argmax(Y, axis=0).reshape(1, -1).astype(np.int64)
    return Y.reshape(1, -1).astype(np.int64)


def softmax_cost(ZL, Y):
    """Categorical cross-entropy ``-(1/m) sum_j log softmax(Z_L)[y_j, j]`` as a 0-d array.

    Computed from the output layer's ``Z_L`` with a stable log-softmax
    (``Z - max - log(sum(exp(Z - max)))``), so it stays finite where
    ``softmax(Z_L)`` underflows to 0. ``Y`` one-hot ``(K, m)`` or class indices.
    """
    m = ZL.shape[1]
    shifted = ZL - np.max(ZL, axis=0, keepdims=True)
    log_probs = shifted - np.log(np.sum(np.exp(shifted), axis=0, keepdims=True))
    cost = -(1. / m) * np.sum(labels_one_hot(Y, ZL.shape[0], ZL.dtype) * log_probs)
    return np.asarray(cost)


def compute_cost_with_regularization(AL, Y, parameters, lambd, *, output=None, ZL=None):
    """The cost plus the L2 term ``(1/m) (lambd/2) sum_l sum(W_l^2)``, as the course.

    The cross-entropy is ``compute_cost(AL, Y)`` for a sigmoid output; for a
    softmax output it is ``softmax_cost(ZL, Y)`` when ``ZL`` is given, else
    ``-(1/m) sum Y log AL``; for an identity output (``output="identity"``)
    it is ``squared_error_cost(AL, Y)``.
    """
    m = AL.shape[1]
    if _output_kind(output, AL.shape[0]) == "sigmoid":
        cross_entropy_cost = compute_cost(AL, Y)
    elif output == "identity":
        cross_entropy_cost = squared_error_cost(AL, Y)
    elif ZL is not None:
        cross_entropy_cost = softmax_cost(ZL, Y)
    else:
        cross_entropy_cost = np.asarray(-(1. / m) * np.sum(labels_one_hot(Y, AL.shape[0], AL.dtype) * np.log(AL)))
    L = len(parameters) // 2
    squares = 0.0
    for l in range(1, L + 1):
        squares = squares + np.sum(np.square(parameters["W" + str(l)]))
    L2_regularization_cost = (1 / m) * (lambd / 2) * squares
    cost = cross_entropy_cost + L2_regularization_cost
    return cost


# --------------------------------------------------------------------------
# Dropout masks: a counter-based generator (SplitMix64), so that the mask of
# (seed, layer, iteration) is a pure function of those numbers and of the
# unit and example indices: any code (a compiled loop on any number of
# threads) can draw any element of any mask, in any order, and get these bits.
#
#   mix64(z)        = SplitMix64's finalizer (Steele, Lea & Flood, 2014):
#                     z ^= z >> 30; z *= 0xBF58476D1CE4E5B9;
#                     z ^= z >> 27; z *= 0x94D049BB133111EB; z ^= z >> 31
#   sm(state, k)    = mix64(state + k * 0x9E3779B97F4A7C15), all mod 2**64:
#                     the k-th output of SplitMix64 started at ``state``
#   h               = sm(sm(seed, layer + 1), iteration + 1)
#   bits[i, j]      = sm(sm(h, i + 1), j + 1)       (unit i, example j)
#   u[i, j]         = (bits[i, j] >> 11) * 2**-53   in [0, 1), exact in float64
#   D[i, j]         = 1 if u[i, j] < keep_prob else 0  (compared in float64)
# --------------------------------------------------------------------------

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _mix64(z):
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _splitmix(state, k):
    # Arrays only (NumPy's uint64 arrays wrap silently; its scalars warn).
    return _mix64(state + k * _GOLDEN)


def dropout_uniform(shape, *, seed, layer, iteration):
    """The uniform [0, 1) numbers behind a dropout mask of ``shape`` ``(n, m)`` (see above)."""
    n, m = shape
    h = _splitmix(np.array([seed], dtype=np.uint64), np.array([layer + 1], dtype=np.uint64))
    h = _splitmix(h, np.array([iteration + 1], dtype=np.uint64))
    rows = _splitmix(h, np.arange(1, n + 1, dtype=np.uint64))[:, None]
    bits = _splitmix(rows, np.arange(1, m + 1, dtype=np.uint64)[None, :])
    return (bits >> np.uint64(11)).astype(np.float64) * 2.0 ** -53


def dropout_mask(shape, keep_prob, *, seed=0, layer=1, iteration=0, dtype=np.float64):
    """Dropout mask ``D`` of ``shape``: 1 with probability ``keep_prob``, else 0, in ``dtype``.

    The course draws ``np.random.rand(...) < keep_prob``; this draws the
    uniform numbers from ``dropout_uniform`` instead, reproducibly anywhere.
    """
    return (dropout_uniform(shape, seed=seed, layer=layer, iteration=iteration) < keep_prob).astype(dtype)


# --------------------------------------------------------------------------
# Initialization (the initialization notebook: every function seeds 3)
# --------------------------------------------------------------------------

def initialize_parameters_zeros(layers_dims, *, dtype=np.float64):
    """Every ``W_l`` and ``b_l`` zero (the course's example of what fails to break symmetry)."""
    return _initialize(layers_dims, "zeros", None, dtype)


def initialize_parameters_random(layers_dims, *, seed=3, dtype=np.float64):
    """``seed(3)``, ``W_l = randn * 10``, ``b_l`` zeros (the course's too-large weights)."""
    return _initialize(layers_dims, "times10", seed, dtype)


def initialize_parameters_he(layers_dims, *, seed=3, dtype=np.float64):
    """He: ``seed(3)``, ``W_l = randn * sqrt(2 / n_{l-1})``, ``b_l`` zeros."""
    return _initialize(layers_dims, "he", seed, dtype)


def initialize_parameters_xavier(layers_dims, *, seed=3, dtype=np.float64):
    """The course's Xavier: ``seed(3)``, ``W_l = randn * sqrt(1 / n_{l-1})``, ``b_l`` zeros."""
    return _initialize(layers_dims, "xavier", seed, dtype)


def initialize_parameters_glorot(layers_dims, *, seed=3, dtype=np.float64):
    """Glorot & Bengio (normal): ``seed(3)``, ``W_l = randn * sqrt(2 / (n_{l-1} + n_l))``."""
    return _initialize(layers_dims, "glorot", seed, dtype)


# --------------------------------------------------------------------------
# Mini-batches
# --------------------------------------------------------------------------

def random_mini_batches(X, Y, mini_batch_size=64, seed=0):
    """The course's shuffle: ``seed(seed)``, one permutation of the columns, full batches, then the rest.

    Returns a list of ``(mini_batch_X, mini_batch_Y)``; ``Y`` may have any
    number of rows (one-hot labels keep theirs).
    """
    np.random.seed(seed)
    m = X.shape[1]
    mini_batches = []
    permutation = list(np.random.permutation(m))
    shuffled_X = X[:, permutation]
    shuffled_Y = Y[:, permutation].reshape((Y.shape[0], m))
    num_complete_minibatches = m // mini_batch_size
    for k in range(0, num_complete_minibatches):
        mini_batch_X = shuffled_X[:, k * mini_batch_size:(k + 1) * mini_batch_size]
        mini_batch_Y = shuffled_Y[:, k * mini_batch_size:(k + 1) * mini_batch_size]
        mini_batches.append((mini_batch_X, mini_batch_Y))
    if m % mini_batch_size != 0:
        mini_batch_X = shuffled_X[:, num_complete_minibatches * mini_batch_size:m]
        mini_batch_Y = shuffled_Y[:, num_complete_minibatches * mini_batch_size:m]
        mini_batches.append((mini_batch_X, mini_batch_Y))
    return mini_batches


# --------------------------------------------------------------------------
# Optimizers (each updates the dicts with new arrays and returns them)
# --------------------------------------------------------------------------

def _zeros_like_parameters(parameters):
    # The course's np.zeros(shape) is float64; float32 parameters (either byte order) get float32 state.
    state = {}
    for l in range(1, len(parameters) // 2 + 1):
        for key in ("W" + str(l), "b" + str(l)):
            p = parameters[key]
            state["d" + key] = np.zeros(p.shape, dtype=np.float32 if p.dtype.type is np.float32 else np.float64)
    return state


def update_parameters_with_gd(parameters, grads, learning_rate):
    """One step of gradient descent: ``W_l = W_l - learning_rate * dW_l``, same for ``b_l``."""
    L = len(parameters) // 2
    for l in range(1, L + 1):
        parameters["W" + str(l)] = parameters["W" + str(l)] - learning_rate * grads["dW" + str(l)]
        parameters["b" + str(l)] = parameters["b" + str(l)] - learning_rate * grads["db" + str(l)]
    return parameters


def initialize_velocity(parameters):
    """Momentum's velocity ``v``: zeros ``dW1..dWL``, ``db1..dbL`` of the parameters' shapes."""
    return _zeros_like_parameters(parameters)


def update_parameters_with_momentum(parameters, grads, v, beta, learning_rate):
    """``v = beta v + (1 - beta) grad``; ``W = W - learning_rate v``. Returns ``(parameters, v)``."""
    L = len(parameters) // 2
    for l in range(1, L + 1):
        for p in ("W" + str(l), "b" + str(l)):
            v["d" + p] = beta * v["d" + p] + (1 - beta) * grads["d" + p]
            parameters[p] = parameters[p] - learning_rate * v["d" + p]
    return parameters, v


def initialize_rmsprop(parameters):
    """RMSprop's ``s``: zeros ``dW1..dWL``, ``db1..dbL`` of the parameters' shapes."""
    return _zeros_like_parameters(parameters)


def update_parameters_with_rmsprop(parameters, grads, s, beta2, learning_rate, epsilon=1e-8):
    """``s = beta2 s + (1 - beta2) grad^2``; ``W = W - learning_rate grad / (sqrt(s) + epsilon)``.

    Returns ``(parameters, s)``.
    """
    L = len(parameters) // 2
    for l in range(1, L + 1):
        for p in ("W" + str(l), "b" + str(l)):
            s["d" + p] = beta2 * s["d" + p] + (1 - beta2) * np.square(grads["d" + p])
            parameters[p] = parameters[p] - learning_rate * grads["d" + p] / (np.sqrt(s["d" + p]) + epsilon)
    return parameters, s


def initialize_adam(parameters):
    """Adam's ``(v, s)``: two dicts of zeros ``dW1..dWL``, ``db1..dbL``."""
    return _zeros_like_parameters(parameters), _zeros_like_parameters(parameters)


def update_parameters_with_adam(parameters, grads, v, s, t, learning_rate=0.01, beta1=0.9, beta2=0.999,
                                epsilon=1e-8):
    """One Adam step with bias correction (``t`` counts steps from 1), as the course.

    ``v = beta1 v + (1 - beta1) grad``, ``v_corrected = v / (1 - beta1^t)``,
    ``s = beta2 s + (1 - beta2) grad^2``, ``s_corrected = s / (1 - beta2^t)``,
    ``W = W - learning_rate v_corrected / (sqrt(s_corrected) + epsilon)``.
    Returns ``(parameters, v, s, v_corrected, s_corrected)``.
    """
    L = len(parameters) // 2
    v_corrected = {}
    s_corrected = {}
    for l in range(1, L + 1):
        for p in ("W" + str(l), "b" + str(l)):
            g = "d" + p
            v[g] = beta1 * v[g] + (1 - beta1) * grads[g]
            v_corrected[g] = v[g] / (1 - beta1 ** t)
            s[g] = beta2 * s[g] + (1 - beta2) * np.square(grads[g])
            s_corrected[g] = s[g] / (1 - beta2 ** t)
            parameters[p] = parameters[p] - learning_rate * v_corrected[g] / (np.sqrt(s_corrected[g]) + epsilon)
    return parameters, v, s, v_corrected, s_corrected


def update_lr(learning_rate0, epoch_num, decay_rate):
    """Inverse-time decay: ``learning_rate0 / (1 + decay_rate * epoch_num)``."""
    learning_rate = 1 / (1 + decay_rate * epoch_num) * learning_rate0
    return learning_rate


def schedule_lr_decay(learning_rate0, epoch_num, decay_rate, time_interval=1000):
    """Decay by steps: ``learning_rate0 / (1 + decay_rate * floor(epoch_num / time_interval))``."""
    learning_rate = 1 / (1 + decay_rate * np.floor(epoch_num / time_interval)) * learning_rate0
    return learning_rate


# --------------------------------------------------------------------------
# The optimization notebook's model, for L layers
# --------------------------------------------------------------------------

def _cost_total(AL, ZL, Y, output):
    """The sum (not the mean) of the examples' losses, as the course's optimization utilities."""
    if output == "sigmoid":
        logprobs = np.multiply(-np.log(AL), Y) + np.multiply(-np.log(1 - AL), 1 - Y)
        return np.sum(logprobs)
    return -np.sum(Y * (ZL - np.max(ZL, axis=0, keepdims=True)
                        - np.log(np.sum(np.exp(ZL - np.max(ZL, axis=0, keepdims=True)), axis=0, keepdims=True))))


def model(X, Y, layers_dims, optimizer, learning_rate=0.0007, mini_batch_size=64, beta=0.9,
          beta1=0.9, beta2=0.999, epsilon=1e-8, num_epochs=5000, print_cost=True, decay=None, decay_rate=1,
          *, lambd=0.0, keep_prob=1.0, hidden_activation="relu", output=None, init=None, seed=None,
          dtype=None, return_costs=False, cost_every=100):
    """Mini-batch training with ``optimizer`` ``"gd"``, ``"momentum"``, ``"rmsprop"`` or ``"adam"``.

    The course's optimization notebook: He initialization with seed 3
    (``init`` names a recipe of ``INIT_RECIPES`` instead), each epoch
    ``random_mini_batches(X, Y, mini_batch_size, seed)`` with seeds 11, 12,
    ... (``seed`` s: s + 1, s + 2, ...; it also seeds the initialization and
    the dropout masks, whose iteration counts the steps from 0), Adam's ``t``
    counting steps from 1, and ``decay(learning_rate0, epoch, decay_rate)``
    after each epoch. An epoch's cost is the sum of its examples' losses (plus
    ``lambd / 2 * sum(W^2)`` per mini-batch) over ``m``. Prints it every 1000
    epochs; records it every ``cost_every`` epochs. Returns ``parameters``, or
    ``(parameters, costs)`` with ``return_costs=True``. ``Y``: ``(1, m)`` in
    {0, 1} for a sigmoid output; class indices or one-hot ``(K, m)`` for softmax.
    """
    dtype = _training_dtype(X, dtype)
    X = np.asarray(X, dtype=dtype)
    output = _output_kind(output, layers_dims[-1])
    if output == "sigmoid":
        Y = np.asarray(Y, dtype=dtype).reshape(1, -1)
    else:
        Y = labels_one_hot(Y, layers_dims[-1], dtype)
    m = X.shape[1]
    costs = []
    t = 0
    step = 0
    shuffle_seed = 10 if seed is None else seed
    learning_rate0 = learning_rate
    if init is None:
        parameters = _initialize(layers_dims, "he", 3 if seed is None else seed, dtype)
    else:
        parameters = initialize_parameters_deep(layers_dims, init=init, seed=seed, dtype=dtype)
    if optimizer == "momentum":
        v = initialize_velocity(parameters)
    elif optimizer == "rmsprop":
        s = initialize_rmsprop(parameters)
    elif optimizer == "adam":
        v, s = initialize_adam(parameters)
    L = len(layers_dims) - 1
    for i in range(num_epochs):
        shuffle_seed = shuffle_seed + 1
        minibatches = random_mini_batches(X, Y, mini_batch_size, shuffle_seed)
        cost_total = 0
        for minibatch_X, minibatch_Y in minibatches:
            AL, caches = L_model_forward(minibatch_X, parameters, hidden_activation=hidden_activation,
                                         output=output, keep_prob=keep_prob,
                                         seed=0 if seed is None else seed, iteration=step)
            cost_total += _cost_total(AL, caches[-1][1], minibatch_Y, output)
            if lambd:
                cost_total += lambd / 2 * sum(np.sum(np.square(parameters["W" + str(l)]))
                                              for l in range(1, L + 1))
            grads = L_model_backward(AL, minibatch_Y, caches, lambd=lambd, keep_prob=keep_prob,
                                     hidden_activation=hidden_activation, output=output)
            step += 1
            if optimizer == "gd":
                parameters = update_parameters_with_gd(parameters, grads, learning_rate)
            elif optimizer == "momentum":
                parameters, v = update_parameters_with_momentum(parameters, grads, v, beta, learning_rate)
            elif optimizer == "rmsprop":
                parameters, s = update_parameters_with_rmsprop(parameters, grads, s, beta2, learning_rate,
                                                               epsilon)
            elif optimizer == "adam":
                t = t + 1
                parameters, v, s, _, _ = update_parameters_with_adam(parameters, grads, v, s, t, learning_rate,
                                                                     beta1, beta2, epsilon)
        cost_avg = cost_total / m
        if decay:
            learning_rate = decay(learning_rate0, i, decay_rate)
        if print_cost and i % 1000 == 0:
            print("Cost after epoch %i: %f" % (i, cost_avg))
            if decay:
                print("learning rate after epoch %i: %f" % (i, learning_rate))
        if cost_every and i % cost_every == 0:
            costs.append(float(cost_avg))
    return (parameters, costs) if return_costs else parameters


# The first article's names for the same functions.
forward_prop_L = linear_forward
activation_forward_L = linear_activation_forward
backprop_L = linear_backward
activation_backward_L = linear_activation_backward
sigmoid_derivative = sigmoid_backward
relu_derivative = relu_backward

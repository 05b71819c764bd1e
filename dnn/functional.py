"""The step-by-step API of the course, compiled.

Each function has the name, signature, return structure and numbers of its
twin in ``dnn.reference`` (the course's NumPy code), and runs its arithmetic in
the kernels of ``dnn._kernels`` (Cython over BLAS, and ``dnn._simd``'s vector
kernels for the sigmoid and, where ``dnn._products.for_step`` says so, a
layer's products; a large layer's products run where ``dnn._products``
measured them fastest on this machine: our kernels, SciPy's or NumPy's BLAS).
Inputs are checked first
(``dnn._validation``): a bad input raises a clear error, never a crash.

Shapes: ``X``/``A_prev`` ``(n_{l-1}, m)``, ``W`` ``(n_l, n_{l-1})``, ``b``
``(n_l, 1)``, ``Z``/``A`` ``(n_l, m)``, ``Y`` ``(1, m)`` in {0, 1}. Dtypes: all
float32 in, float32 out; otherwise float64 (see ``dnn._validation``).

Outputs are new arrays the caller owns, as in the reference (they may reuse
the memory of earlier results that nothing refers to any more: see
``dnn._kernels``' pool); the training loop that reuses its buffers is
``dnn.models.L_layer_model``.

The course's loop (``L_model_forward``, ``compute_cost``, ``L_model_backward``,
``update_parameters``) takes a fast path: one compiled call each
(``dnn._kernels.forward`` ...), which checks dtypes, shapes and contiguity in
C and reads finiteness from the results; where it does not apply or finds a
non-finite value, the checked path below runs and names the culprit.

``L_model_forward``, ``L_model_backward`` and ``predict`` also take the
second part's keywords (``hidden_activation``, ``output``, ``keep_prob``,
``seed``, ``iteration``, ``lambd``: ``dnn.network``'s names and defaults).
The course's network (ReLU hidden layers, one sigmoid output unit, no
dropout, no L2) runs compiled as above; any other (a keyword that asks for
another, or an output layer of more than one unit, a softmax network as in
``dnn.reference``) runs in ``dnn.network``. The defaults are module
constants checked by identity, so the course's call pays a few identity
tests for the keywords, nothing more.
"""

from __future__ import annotations

import functools
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

from dnn import _kernels, _products, _rng
from dnn import _course2_validation as c2
from dnn import _validation as v
from dnn import dropout, reference
from dnn.reference import INIT_RECIPES

#: Types of the public signatures: arrays come in as anything NumPy converts;
#: out come float32 or float64 arrays.
Array = NDArray[np.floating[Any]]
Parameters = Dict[str, Array]
LinearCache = Tuple[Array, Array, Array]
LayerCache = Tuple[LinearCache, Array]

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


def sigmoid(Z: ArrayLike) -> Tuple[Array, Array]:
    """A = 1 / (1 + exp(-Z)), any shape; returns ``(A, cache)`` with ``cache = Z``."""
    return _activation(_kernels.ACT_SIGMOID, Z)


def relu(Z: ArrayLike) -> Tuple[Array, Array]:
    """A = max(0, Z), any shape; returns ``(A, cache)`` with ``cache = Z``."""
    return _activation(_kernels.ACT_RELU, Z)


def _activation_backward(act, dA, cache):
    dA, Z = v.float_arrays(ndim=None, dA=dA, cache=cache)
    v.check_same_shape(dA, "dA", Z, "cache (Z)")
    dZ = np.empty_like(Z)
    for dA_piece, Z_piece, dZ_piece in _row_pieces(dA, Z, dZ):
        _kernels.activation_backward(act, dA_piece, Z_piece, dZ_piece)
    return dZ


def relu_backward(dA: ArrayLike, cache: ArrayLike) -> Array:
    """dZ = dA where Z > 0, else 0; ``cache`` is Z, same shape as dA."""
    return _activation_backward(_kernels.ACT_RELU, dA, cache)


def sigmoid_backward(dA: ArrayLike, cache: ArrayLike) -> Array:
    """dZ = dA * s * (1 - s) with s = sigmoid(Z); ``cache`` is Z, same shape as dA."""
    return _activation_backward(_kernels.ACT_SIGMOID, dA, cache)


# --------------------------------------------------------------------------
# Initialization: NumPy's random draws, so the reference's code, checked first
# --------------------------------------------------------------------------

def _init_options(init, seed, dtype):
    return v.init_recipe(init, INIT_RECIPES), v.seed_value(seed), v.float_dtype(dtype)


def initialize_parameters_deep(layer_dims: Sequence[int], *, init: str = "app-utils",
                               seed: Optional[int] = None, dtype: DTypeLike = np.float64,
                               random_state: Any = None) -> Parameters:
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


def initialize_parameters(n_x: int, n_h: int, n_y: int, *, init: str = "article",
                          seed: Optional[int] = None, dtype: DTypeLike = np.float64,
                          random_state: Any = None) -> Parameters:
    """Parameters of the 2-layer network (seed 1, ``randn * 0.01`` by default)."""
    init, seed, dtype = _init_options(init, seed, dtype)
    n_x, n_h, n_y = (v.count(n, name, minimum=1) for n, name in ((n_x, "n_x"), (n_h, "n_h"), (n_y, "n_y")))
    dims = v.layer_sizes([n_x, n_h, n_y], "(n_x, n_h, n_y)")
    return _rng.initial_parameters(dims, init, seed, dtype,
                                   _rng.check_random_state(random_state, seed))


def init_parameters_L(layer_dims: Sequence[int], *, init: str = "article",
                      seed: Optional[int] = None, dtype: DTypeLike = np.float64,
                      random_state: Any = None) -> Parameters:
    """The first article's initialization: seed 1, ``randn * 0.01``."""
    return initialize_parameters_deep(layer_dims, init=init, seed=seed, dtype=dtype,
                                      random_state=random_state)


# --------------------------------------------------------------------------
# The second part's keywords: the course's network compiled, any other in dnn.network
# --------------------------------------------------------------------------

# The keywords' defaults, as objects the fast path checks by identity
# (the same values as dnn.network's defaults).
_RELU = "relu"
_KEEP_ALL = 1.0
_NO_L2 = 0.0
_ZERO = 0


def _network():
    """``dnn.network`` (imported on first use: it imports ``dnn.losses``, which imports this module)."""
    from dnn import network
    return network


def _keeps_all(keep_prob):
    """Whether ``keep_prob`` is a valid number 1 (no dropout); a sequence, or anything
    invalid, is left to ``dnn.network`` (which knows the layer count and says what is wrong)."""
    if isinstance(keep_prob, (str, bytes)) or hasattr(keep_prob, "__len__"):
        return False
    try:
        return c2.scalar_in(keep_prob, "keep_prob", 0.0, 1.0, low_open=True) == 1.0
    except (TypeError, ValueError):
        return False


def _course_network(hidden_activation, output, keep_prob, lambd=_NO_L2, seed=_ZERO, iteration=_ZERO):
    """Whether keywords given explicitly still describe the course's network (ReLU hidden
    layers, a sigmoid output or the default, no dropout, no L2); invalid ones are not."""
    if not (isinstance(hidden_activation, str) and hidden_activation == "relu"
            and (output is None or (isinstance(output, str) and output == "sigmoid"))
            and _keeps_all(keep_prob)):
        return False
    try:
        if c2.scalar_in(lambd, "lambd", 0.0, np.inf) != 0.0:
            return False
        dropout._counters(seed, 0, iteration)
    except (TypeError, ValueError):
        return False
    return True


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
    """Which of this layer's products run in dnn._simd's kernels (``dnn._products``)."""
    return _own_of(W.shape[0], W.shape[1], A_prev.shape[1], W.dtype.itemsize)


_OWN_MEMO = {}
_RULE = _products.for_step


def _own_of(n_out, n_in, m, itemsize):
    """A layer's ``_kernels.OWN_PRODUCTS`` flags: ``dnn._products.for_step`` (the
    rule), or for a large layer ``for_step_call``'s per-machine choice at the
    current thread count; memoized per shape, build of the kernels and rule
    (tests replace the rule: a replaced rule decides alone)."""
    rule = _products.for_step
    key = (rule, _kernels._simd_level(), n_out, n_in, m, itemsize)
    own = _OWN_MEMO.get(key)
    if own is None:
        if len(_OWN_MEMO) > 4096:
            _OWN_MEMO.clear()
        large = rule is _RULE and n_out * n_in * m >= _products.CHOICE_MIN_WORK
        own = _OWN_MEMO[key] = -1 if large else int(rule(n_out, n_in, m, itemsize))
    if own < 0:  # large: the choice depends on the threads (small layers pay no such look-up)
        threads = _products.step_threads()
        key += (threads,)
        own = _OWN_MEMO.get(key)
        if own is None:
            own = _OWN_MEMO[key] = _products.for_step_call(n_out, n_in, m, itemsize, threads)
    return own


def _fast_layers(parameters):
    """``([W1..WL], [b1..bL])`` when ``parameters`` is a dict of exactly the keys
    W1..WL, b1..bL (then its layer count is the course's ``len // 2``), else None."""
    if type(parameters) is not dict or not parameters or len(parameters) % 2:
        return None
    return _kernels.layer_lists(parameters, v.layer_keys(len(parameters) // 2))


def linear_forward(A: ArrayLike, W: ArrayLike, b: ArrayLike) -> Tuple[Array, LinearCache]:
    """Z = W A + b; returns ``(Z, (A, W, b))``.

    A (n_{l-1}, m), W (n_l, n_{l-1}), b (n_l, 1) -> Z (n_l, m).
    """
    A, W, b = v.float_arrays(A=A, W=W, b=b)
    v.check_linear_shapes(A, W, b, a_name="A")
    Z = np.empty((W.shape[0], A.shape[1]), dtype=W.dtype)
    _kernels.linear(W, A, b.reshape(-1), Z, _own(W, A))
    return Z, (A, W, b)


def linear_activation_forward(A_prev: ArrayLike, W: ArrayLike, b: ArrayLike,
                              activation: str) -> Tuple[Array, LayerCache]:
    """LINEAR -> ACTIVATION (``"relu"`` or ``"sigmoid"``) as one fused kernel.

    Returns ``(A, ((A_prev, W, b), Z))``; shapes as in ``linear_forward``.
    """
    act = v.activation_code(activation)
    A_prev, W, b = v.float_arrays(A_prev=A_prev, W=W, b=b)
    v.check_linear_shapes(A_prev, W, b)
    A, Z = _forward_layer(act, A_prev, W, b)
    return A, ((A_prev, W, b), Z)


def L_model_forward(X: ArrayLike, parameters: Dict[str, ArrayLike], *,
                    hidden_activation: str = _RELU, output: Optional[str] = None,
                    keep_prob: Any = _KEEP_ALL, seed: int = _ZERO,
                    iteration: int = _ZERO) -> Tuple[Array, List[Any]]:
    """[LINEAR -> RELU] * (L-1) -> LINEAR -> SIGMOID.

    X (n_x, m); ``parameters`` holds W1..WL, b1..bL. Returns ``(AL, caches)``:
    AL (n_L, m) and a list of L caches ``((A_prev, W, b), Z)``.

    The keywords are ``dnn.network.L_model_forward``'s: another network
    (``hidden_activation`` ``"tanh"``/``"leaky_relu"``, ``output``
    ``"softmax"``/``"identity"``, dropout by ``keep_prob`` < 1 with its
    ``seed`` and ``iteration``), or a last layer of more than one unit (a
    softmax output, as the reference infers), runs there, in NumPy.
    """
    if (hidden_activation is not _RELU or output is not None or keep_prob is not _KEEP_ALL
            or seed is not _ZERO or iteration is not _ZERO) and not _course_network(
                hidden_activation, output, keep_prob, seed=seed, iteration=iteration):
        return _network().L_model_forward(X, parameters, hidden_activation=hidden_activation, output=output,
                                       keep_prob=keep_prob, seed=seed, iteration=iteration)
    fast = _fast_layers(parameters)
    if fast is not None:
        try:  # W_L of one row (the course's output unit), or something the checks below name
            course = len(fast[0][-1]) == 1 or type(fast[0][-1]) is not np.ndarray
        except (TypeError, OverflowError):  # (OverflowError: a range(2**64), too long for len())
            course = True
        if course:
            out = _kernels.forward(X, fast[0], fast[1], _own_of)
            if out is not None:
                return out
    X_checked, layers = v.network_parameters(parameters, X)
    if layers[-1][0].shape[0] != 1:  # K output units: softmax (or output="sigmoid", refused there)
        return _network().L_model_forward(X, parameters, output=output)
    # Converted (lists, other dtypes, strided views): the compiled call, so the converted values
    # give the bits an array of them in that layout gives (its BLAS products run in slabs, whose
    # bits a whole gemm's may not be; a Fortran-ordered X runs the transposed products).
    out = _kernels.forward(X_checked, [W for W, _ in layers], [b for _, b in layers], _own_of)
    if out is not None:
        return out
    caches = []
    A = X_checked
    for l, (W, b) in enumerate(layers, start=1):
        act = _kernels.ACT_SIGMOID if l == len(layers) else _kernels.ACT_RELU
        A_next, Z = _forward_layer(act, A, W, b)
        caches.append(((A, W, b), Z))
        A = A_next
    return A, caches


def compute_cost(AL: ArrayLike, Y: ArrayLike) -> Array:
    """Cross-entropy ``-(1/m) sum(y log a + (1-y) log(1-a))`` as a 0-d array.

    AL (1, m) probabilities in [0, 1]; Y (1, m) labels in {0, 1}. A term
    whose label is 0 does not add ``0 * log(0)``; an output of exactly 0 or 1
    on the wrong side makes the cost inf, as the formula says.
    """
    cost = _kernels.cost(AL, Y)
    if cost is not None:
        return cost
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


def linear_backward(dZ: ArrayLike, cache: Sequence[ArrayLike]) -> Tuple[Array, Array, Array]:
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


def linear_activation_backward(dA: ArrayLike, cache: Sequence[Any],
                               activation: str) -> Tuple[Array, Array, Array]:
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
def _update_keys(L):
    """("W{l}", "b{l}", "dW{l}", "db{l}") for l in 1..L: the keys of update_parameters."""
    return tuple((w, b, "d" + w, "d" + b) for w, b, _, _ in v.layer_keys(L))


@functools.lru_cache(maxsize=64)
def _grad_names(L):
    """("dA{l}", "dW{l+1}", "db{l+1}") for l in 0..L-1: the keys of L_model_backward."""
    return tuple(("dA%d" % l, "dW%d" % (l + 1), "db%d" % (l + 1)) for l in range(L))


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


def L_model_backward(AL: ArrayLike, Y: ArrayLike, caches: Sequence[Any], *,
                     lambd: Any = _NO_L2, keep_prob: Any = _KEEP_ALL,
                     hidden_activation: str = _RELU, output: Optional[str] = None) -> Dict[str, Array]:
    """Gradients of the cost with respect to every layer.

    AL (1, m) from ``L_model_forward``, Y (1, m) labels, ``caches`` its list.
    The gradients are float32 when AL, the caches and Y all are, else float64
    (as ``compute_cost``: float64 or integer labels make float64 gradients).
    Returns a dict with ``dA0..dA{L-1}`` (dA0 is the gradient with respect to
    X; the compiled path computes it when first read: ``dnn._gradients``),
    ``dW1..dWL`` and ``db1..dbL``. Starts, as the reference does, from
    dAL = -(Y / AL - (1 - Y) / (1 - AL)); any finite AL is taken, as the
    course's code takes it, but one that makes that a division by 0 (AL of
    exactly 0 or 1) raises ValueError.

    The keywords are ``dnn.network.L_model_backward``'s (L2 by ``lambd``,
    dropout, other activations and outputs, with ``dZ_L = AL - Y``); with any
    of them, or an ``AL`` of more than one row (softmax), it runs there.
    """
    if (lambd is not _NO_L2 or keep_prob is not _KEEP_ALL or hidden_activation is not _RELU
            or output is not None) and not _course_network(hidden_activation, output, keep_prob, lambd=lambd):
        return _network().L_model_backward(AL, Y, caches, lambd=lambd, keep_prob=keep_prob,
                                        hidden_activation=hidden_activation, output=output)
    try:  # an AL of K > 1 rows: softmax (len first: the course's (1, m) pays one len)
        several = len(AL) != 1 and type(AL) is np.ndarray and AL.ndim == 2
    except (TypeError, OverflowError):  # (OverflowError: a range(2**64), too long for len())
        several = False
    if several:
        return _network().L_model_backward(AL, Y, caches, output=output)
    if type(caches) in (list, tuple) and caches:
        names = _grad_names(len(caches))
        grads = _kernels.backward(AL, Y, caches, names, _own_of)
        if (grads is None and type(AL) is np.ndarray and type(Y) is np.ndarray
                and Y.dtype != AL.dtype and AL.dtype in (np.float32, np.float64)
                and AL.ndim == 2 and v.common_float_dtype(AL, Y) == AL.dtype):
            # float64 AL, labels of another dtype (the course's are int64): converted, then fast
            # (float32 AL with labels not float32 computes in float64, below)
            Y = v.labels_row(Y, "Y", AL.shape[1], AL.dtype)
            grads = _kernels.backward(AL, Y, caches, names, _own_of)
        if grads is not None:
            return grads
    AL_given = AL
    AL, layers = _checked_caches(AL, caches)
    if AL.shape[0] != 1:  # K output units: softmax (or output="sigmoid", refused there)
        return _network().L_model_backward(AL_given, Y, caches, output=output)
    Y = v.as_real_array(Y, "Y")
    dtype = v.common_float_dtype(AL, Y)  # the labels join the contract, as in compute_cost
    if dtype != AL.dtype:
        AL, layers = AL.astype(dtype), [tuple(x.astype(dtype) for x in layer) for layer in layers]
    Y = v.labels_row(Y, "Y", AL.shape[1], dtype)
    L = len(layers)
    # Converted caches: the compiled call, for the same bits as the same values there (see
    # L_model_forward); None if something is off, which the loop below names.
    grads = _kernels.backward(AL, Y, [((A_prev, W, b), Z) for A_prev, W, b, Z in layers],
                              _grad_names(L), _own_of)
    if grads is not None:
        return grads
    dAL = np.empty_like(AL)
    _kernels.cross_entropy_output_grad(AL.reshape(-1), Y.reshape(-1), dAL.reshape(-1))
    if not _kernels.all_finite(dAL.reshape(-1)):
        j = int(np.flatnonzero(~np.isfinite(dAL))[0])
        raise ValueError("AL must not be exactly 0 or 1 (dAL = -(Y/AL - (1-Y)/(1-AL)) divides "
                         "by 0 there), got AL[0, %d] = %r with Y = %r" % (j, AL[0, j].item(), Y[0, j].item()))
    grads = {}
    dA = dAL
    for l in reversed(range(L)):
        A_prev, W, b, Z = layers[l]
        act = _kernels.ACT_SIGMOID if l == L - 1 else _kernels.ACT_RELU
        dA, grads["dW%d" % (l + 1)], grads["db%d" % (l + 1)] = _backward_layer(act, dA, A_prev, W, Z)
        grads["dA%d" % l] = dA
    return grads


def update_parameters(parameters: Dict[str, ArrayLike], grads: Dict[str, ArrayLike],
                      learning_rate: Union[float, int, np.floating[Any], np.integer[Any]]) -> Dict[str, Any]:
    """One step of gradient descent: ``W_l - learning_rate * dW_l``, same for b.

    The dict is updated with new arrays (the old ones are left as they were,
    as in the course) and returned.
    """
    if type(learning_rate) is not float or learning_rate != learning_rate or abs(learning_rate) == np.inf:
        learning_rate = v.real_scalar(learning_rate, "learning_rate")
    if type(parameters) is dict and parameters and not len(parameters) % 2:
        if _kernels.update(parameters, grads, _update_keys(len(parameters) // 2), learning_rate):
            return parameters
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


def predict(X: ArrayLike, y: ArrayLike, parameters: Dict[str, ArrayLike], *,
            hidden_activation: str = _RELU, output: Optional[str] = None) -> NDArray[Any]:
    """Labels for X: ``p`` (1, m) float64, 1 where the output is > 0.5, else 0.

    Prints ``"Accuracy: ..."`` against the labels ``y`` (1, m), as the course.
    Runs the forward pass without keeping caches. Another network (the
    keywords of ``dnn.network.predict``, or a last layer of more than one
    unit: softmax, whose predictions are int64 class indices) runs there; an
    identity output (regression) predicts its values, ``(K, m)`` float64, and
    prints their mean squared error against ``y``.
    """
    if (hidden_activation is not _RELU or output is not None) and not _course_network(
            hidden_activation, output, _KEEP_ALL):
        return _network().predict(X, y, parameters, hidden_activation=hidden_activation, output=output)
    X_checked, layers = v.network_parameters(parameters, X)
    if layers[-1][0].shape[0] != 1:  # K output units: softmax (or output="sigmoid", refused there)
        return _network().predict(X, y, parameters, output=output)
    m = X_checked.shape[1]
    y_row = v.labels_row(y, "y", m, np.float64)
    A = X_checked
    for l, (W, b) in enumerate(layers, start=1):
        act = _kernels.ACT_SIGMOID if l == len(layers) else _kernels.ACT_RELU
        A, _ = _forward_layer(act, A, W, b)
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

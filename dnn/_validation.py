"""Input checks shared by dnn's public functions.

Every public function checks its input here, in Python, before any compiled
code runs: the kernels turn bounds checks off and trust what they are given.
A failed check raises ``TypeError`` (not an array of real numbers),
``ValueError`` (wrong rank, shape, size, values) or ``KeyError`` (a missing
parameter or gradient), with a message that names the argument, what was
expected and what was given.

The dtype contract: when every floating input is float32 the computation is
float32; anything else (float64, integers, booleans, a mix) is float64. Inputs
are converted once, to an aligned C-contiguous array of that dtype; an input
that is already so is used as it is, not copied.
"""

import functools
import numbers

import numpy as np

from dnn import _kernels

#: SciPy's BLAS takes 32-bit ints: no dimension may reach 2**31.
BLAS_INT_MAX = 2**31 - 1

ACTIVATIONS = {"relu": _kernels.ACT_RELU, "sigmoid": _kernels.ACT_SIGMOID}


def as_real_array(x, name):
    """``x`` as an ndarray of real numbers (bool, int or float), not converted.

    Raises TypeError for None, strings, objects and complex numbers; ValueError
    for a sequence too long for ``len()``.
    """
    if x is None or isinstance(x, (str, bytes, dict)):
        raise TypeError("%s must be an array of real numbers, got %s" % (name, type(x).__name__))
    try:
        arr = x if isinstance(x, np.ndarray) else np.asarray(x)
    except ValueError as exc:  # a ragged sequence ("setting an array element with a sequence")
        raise ValueError("%s must be an array of real numbers, got a %s NumPy cannot make one array of (%s)"
                         % (name, type(x).__name__, exc)) from None
    if arr.dtype.kind not in "biuf":
        if arr.ndim == 0 and hasattr(x, "__len__"):  # NumPy takes a range(2**64) for one object
            length(x, name)
        raise TypeError("%s must be an array of real numbers, got an array of dtype %s"
                        % (name, arr.dtype))
    return arr


def common_float_dtype(*arrays):
    """float32 when every array is float32 (in either byte order), else float64; native."""
    # dtype.type, not ``dtype == np.float32``: a big-endian '>f4' is float32 too.
    if all(a.dtype.type is np.float32 for a in arrays):
        return np.dtype(np.float32)
    return np.dtype(np.float64)


def as_float_array(arr, name, dtype, ndim=2, finite=True):
    """Check ``arr`` (from ``as_real_array``) and return it C-contiguous and aligned in ``dtype``
    (copied only if it is not: an unaligned array, a memmap at an odd offset, is; the compiled loop
    refuses it).

    ``ndim=None`` accepts any rank. Empty arrays, dimensions of 2**31 or more
    and (with ``finite``) nan or inf raise ValueError.
    """
    if ndim is not None and arr.ndim != ndim:
        raise ValueError("%s must be a %d-D array, got an array of shape %s"
                         % (name, ndim, arr.shape))
    if arr.size == 0:
        raise ValueError("%s must not be empty, got an array of shape %s" % (name, arr.shape))
    if arr.size > BLAS_INT_MAX and max(arr.shape) > BLAS_INT_MAX:
        raise ValueError("%s is too large for 32-bit BLAS: shape %s" % (name, arr.shape))
    out = np.asarray(arr, dtype=dtype, order="C")  # (ascontiguousarray makes 0-d arrays 1-d)
    if not out.flags.aligned:
        out = out.copy()
    native = out.dtype == np.float32 or out.dtype == np.float64  # the compiled check's dtypes
    if finite and not (_kernels.all_finite(out.ravel()) if native else np.isfinite(out).all()):
        raise ValueError("%s must contain only finite values (no nan or inf)" % name)
    return out


def float_arrays(dtype=None, ndim=2, **named):
    """Convert several named inputs to one float dtype; returns them in order.

    ``dtype=None`` picks it by the contract (``common_float_dtype``).
    """
    raw = [as_real_array(x, name) for name, x in named.items()]
    if dtype is None:
        dtype = common_float_dtype(*raw)
    return [as_float_array(a, name, dtype, ndim=ndim) for a, name in zip(raw, named)]


def activation_code(activation):
    """The kernel code of ``"relu"`` or ``"sigmoid"``."""
    if not isinstance(activation, str) or activation not in ACTIVATIONS:
        raise ValueError("activation must be 'relu' or 'sigmoid', got %r" % (activation,))
    return ACTIVATIONS[activation]


def check_linear_shapes(A_prev, W, b, a_name="A_prev"):
    """W (n, k), A_prev (k, m), b (n, 1)."""
    if W.shape[1] != A_prev.shape[0]:
        raise ValueError("W has shape %s, so %s must have %d rows, got shape %s"
                         % (W.shape, a_name, W.shape[1], A_prev.shape))
    if b.shape != (W.shape[0], 1):
        raise ValueError("b must have shape %s to match W of shape %s, got shape %s"
                         % ((W.shape[0], 1), W.shape, b.shape))


def check_same_shape(x, name, ref, ref_name):
    if x.shape != ref.shape:
        raise ValueError("%s must have the shape of %s, %s, got shape %s"
                         % (name, ref_name, ref.shape, x.shape))


def labels_row(Y, name, m, dtype):
    """Labels as a C-contiguous ``(1, m)`` array of ``dtype``, values in {0, 1}.

    Accepts shape ``(1, m)`` or ``(m,)``.
    """
    Y = as_real_array(Y, name)
    if Y.shape not in ((1, m), (m,)):
        raise ValueError("%s must have shape (1, %d) to match the %d examples, got shape %s"
                         % (name, m, m, Y.shape))
    Y = as_float_array(Y.reshape(1, m), name, dtype)
    if not _kernels.all_binary(Y.ravel()):
        bad = np.unique(Y[(Y != 0) & (Y != 1)])[:5]
        raise ValueError("%s must contain only the labels 0 and 1, got also %s" % (name, bad.tolist()))
    return Y


def check_probabilities(AL, name):
    """Values of the output layer must lie in [0, 1]."""
    if AL.min() < 0 or AL.max() > 1:
        raise ValueError("%s must hold probabilities in [0, 1], got values in [%g, %g]"
                         % (name, AL.min(), AL.max()))


def check_output_row(AL, name):
    if AL.shape[0] != 1:
        raise ValueError("%s must have shape (1, m): one output unit, got shape %s" % (name, AL.shape))


def real_scalar(x, name):
    """A finite real number (or a 0-d array of one) as a Python float."""
    if isinstance(x, np.ndarray) and x.ndim == 0 and x.dtype.kind in "iuf":
        x = x[()]
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, (numbers.Real, np.floating, np.integer)):
        raise TypeError("%s must be a real number, got %s" % (name, type(x).__name__))
    try:
        x = float(x)
    except OverflowError:  # an int (or a Fraction) beyond float's range
        # Its size from bit_length: str() of an int past 4300 digits raises Python's own ValueError.
        raise ValueError("%s must be finite (within float's range, below 1.8e308), got a number of about %d "
                         "decimal digits" % (name, _decimal_digits(x))) from None
    if not np.isfinite(x):
        raise ValueError("%s must be finite, got %r" % (name, x))
    return x


@functools.lru_cache(maxsize=64)
def layer_keys(L):
    """For layers 1..L: (W key, b key, W name, b name); names are for messages.

    Memoized: formatting these strings on every call was a third of the
    checking time of a small network.
    """
    return tuple(("W%d" % l, "b%d" % l, "parameters['W%d']" % l, "parameters['b%d']" % l)
                 for l in range(1, L + 1))


def layer_count(parameters, name="parameters"):
    """The number of layers L of a dict with keys W1..WL and b1..bL.

    The course counts ``len(parameters) // 2``; here L is the highest layer
    number among the W and b keys, and every W and b up to it must be there,
    so a dict with a key missing is an error rather than a shorter network.
    Keys of other forms are ignored.
    """
    if not isinstance(parameters, dict):
        raise TypeError("%s must be a dict with keys W1..WL and b1..bL, got %s"
                        % (name, type(parameters).__name__))
    # isascii: str.isdigit also accepts digits such as "²" that int() rejects.
    numbers_seen = {_layer_number(k, name) for k in parameters
                    if isinstance(k, str) and k[:1] in ("W", "b")
                    and k[1:].isascii() and k[1:].isdigit()}
    L = max(numbers_seen, default=0)
    if L < 1:
        raise KeyError("%s must hold W1 and b1 (keys W1..WL, b1..bL), got keys %s"
                       % (name, sorted(map(str, parameters))))
    if len(numbers_seen) < L:
        # A gap: name the first missing layer without building L keys (a
        # stray key such as "b2000000" must not cost two million strings).
        missing = min(set(range(1, len(numbers_seen) + 2)) - numbers_seen)
        raise KeyError("%s has layers up to %d but no key 'W%d' or 'b%d'"
                       % (name, L, missing, missing))
    for w_key, b_key, _, _ in layer_keys(L):
        for key in (w_key, b_key):
            if key not in parameters:
                raise KeyError("%s has layers up to %d but no key %r" % (name, L, key))
    return L


def _layer_number(key, name):
    """The layer number of a key "W<digits>" or "b<digits>"; ValueError naming the key where
    int() refuses the digits (past Python's limit for int(str), 4300 digits by default)."""
    try:
        return int(key[1:])
    except ValueError:
        raise ValueError("%s has a key %r... of %d digits: not a layer number"
                         % (name, key[:20], len(key) - 1)) from None


_NO_X = object()


def network_parameters(parameters, X=_NO_X, x_name="X"):
    """Checked ``[(W1, b1), ..., (WL, bL)]`` in one float dtype, chained shapes.

    With ``X`` also returns it converted: ``(X, layers)``; the dtype is
    float32 only when ``X`` and every parameter are float32.
    """
    keys = layer_keys(layer_count(parameters))
    raw = [(as_real_array(parameters[w_key], w_name), as_real_array(parameters[b_key], b_name))
           for w_key, b_key, w_name, b_name in keys]
    arrays = [a for pair in raw for a in pair]
    if X is not _NO_X:
        X = as_real_array(X, x_name)
        arrays.append(X)
    dtype = common_float_dtype(*arrays)
    layers = []
    for (W, b), (_, _, w_name, b_name) in zip(raw, keys):
        W = as_float_array(W, w_name, dtype)
        b = as_float_array(b, b_name, dtype)
        if b.shape != (W.shape[0], 1):
            raise ValueError("%s must have shape %s to match %s of shape %s, got %s"
                             % (b_name, (W.shape[0], 1), w_name, W.shape, b.shape))
        if layers and layers[-1][0].shape[0] != W.shape[1]:
            raise ValueError("%s must have %d columns to follow the previous layer's W of shape %s, "
                             "got shape %s" % (w_name, layers[-1][0].shape[0], layers[-1][0].shape, W.shape))
        layers.append((W, b))
    if X is _NO_X:
        return layers
    X = as_float_array(X, x_name, dtype)
    if X.shape[0] != layers[0][0].shape[1]:
        raise ValueError("W1 has shape %s, so %s must have %d rows (features), got shape %s"
                         % (layers[0][0].shape, x_name, layers[0][0].shape[1], X.shape))
    return X, layers


#: The largest step or epoch count (a compiled loop counts them in int64).
COUNTER_MAX = 2**63 - 1


def count(x, name, minimum=0, maximum=None):
    """A Python int >= ``minimum`` (and <= ``maximum`` if given; bools and floats are rejected)."""
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, numbers.Integral):
        raise TypeError("%s must be an int, got %s" % (name, type(x).__name__))
    x = int(x)
    if x < minimum:
        raise ValueError("%s must be >= %d, got %s" % (name, minimum, int_text(x)))
    if maximum is not None and x > maximum:
        raise ValueError("%s must be <= %d, got %s" % (name, maximum, int_text(x)))
    return x


def length(x, name):
    """``len(x)`` of a sized ``x``; one too long for ``len()`` (a ``range(2**64)``: OverflowError
    past ``sys.maxsize``) raises ValueError naming ``name``."""
    try:
        return len(x)
    except OverflowError:
        raise ValueError("%s must have at most 2**63 - 1 entries, got a %s too long for len()"
                         % (name, type(x).__name__)) from None


def int_text(x):
    """``x`` in decimal, or past 1000 digits its size: str() of an int past 4300 digits raises
    Python's own ValueError, and a message need not hold a number that long."""
    x = int(x)
    digits = _decimal_digits(x)
    return str(x) if digits <= 1000 else "a %snumber of about %d decimal digits" % ("negative " if x < 0 else "", digits)


def _decimal_digits(x):
    """About how many decimal digits ``x`` has, from its bit length (no str())."""
    return int(abs(int(x)).bit_length() * 0.30102999566398120) + 1


def layer_sizes(dims, name="layer_dims", length=None, one_output=False, trained=False):
    """Layer sizes as a list of ints >= 1: at least two, or exactly ``length``.

    With ``one_output`` the last size must be 1 (one sigmoid output unit). A layer's
    weights must fit in an array, or with ``trained`` in the compiled loops' 32-bit
    indices: refused here, before any of them is allocated.
    """
    if (isinstance(dims, (str, bytes, dict)) or not hasattr(dims, "__len__")
            or (isinstance(dims, np.ndarray) and dims.ndim == 0)):
        raise TypeError("%s must be a list of layer sizes, got %s" % (name, type(dims).__name__))
    sizes = [count(n, "%s[%d]" % (name, i), minimum=1) for i, n in enumerate(dims)]
    if length is not None and len(sizes) != length:
        raise ValueError("%s must have %d entries, got %d: %s" % (name, length, len(sizes), sizes))
    if len(sizes) < 2:
        raise ValueError("%s must have at least 2 entries (input and output sizes), got %s"
                         % (name, sizes))
    if one_output and sizes[-1] != 1:
        raise ValueError("%s must end with 1 (one sigmoid output unit), got %s" % (name, sizes))
    if max(sizes) > BLAS_INT_MAX:
        raise ValueError("%s is too large for 32-bit BLAS: [%s]" % (name, ", ".join(map(int_text, sizes))))
    limit = BLAS_INT_MAX if trained else np.iinfo(np.intp).max // 8
    for l in range(1, len(sizes)):
        if sizes[l] * sizes[l - 1] > limit:
            raise ValueError("%s asks for a layer of %s x %s weights; %s at most %s" % (
                name, int_text(sizes[l]), int_text(sizes[l - 1]),
                "training takes" if trained else "an array holds", int_text(limit)))
    return sizes


def float_dtype(dtype, name="dtype"):
    """``dtype`` as np.float32 or np.float64, native (either byte order is taken); anything else raises."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError("%s must be float32 or float64, got %r" % (name, dtype)) from None
    if dt.type not in (np.float32, np.float64):
        raise ValueError("%s must be float32 or float64, got %s" % (name, dt))
    return np.dtype(dt.type)  # native byte order ('>f4' asks for float32)


def init_recipe(init, recipes):
    """Check an initialization recipe's name against ``recipes``."""
    if not isinstance(init, str) or init not in recipes:
        raise ValueError("init must be one of %s, got %r" % (", ".join(map(repr, recipes)), init))
    return init


def seed_value(seed):
    """None, or an int in [0, 2**32) as NumPy's legacy seeding takes."""
    if seed is None:
        return None
    seed = count(seed, "seed", minimum=0)
    if seed >= 2**32:
        raise ValueError("seed must be below 2**32, got %d" % seed)
    return seed

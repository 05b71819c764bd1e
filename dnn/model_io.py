"""Model files: a trained network and what is needed to use it, in one ``.npz``.

``save_model(path, parameters, ...)`` writes, and ``load_model(path)`` reads
back a ``Model``. The file is a plain NumPy ``.npz`` (a zip of ``.npy``
arrays; ``np.load(path, allow_pickle=False)`` opens it too) holding:

=================  =========================================================
``W1..WL``         weights ``(n_l, n_{l-1})``, float32 or float64
``b1..bL``         biases ``(n_l, 1)``, same dtype
``format``         ``"dnn-model"``, marks the file as ours
``format_version`` int, ``FORMAT_VERSION`` (readers refuse newer versions)
``layer_dims``     int64 ``[n_x, n_1, ..., 1]``
``activations``    ``["relu", ..., "relu", "sigmoid"]``, one per layer
``dtype``          ``"float32"`` or ``"float64"``
``image_shape``    int64 ``[height, width, 3]`` of the pictures the network
                   reads (flattened in C order, scaled by 1/255), or empty
``classes``        two class names, indexed by the label
``metadata``       a JSON object (training settings, accuracies), free-form
=================  =========================================================

Safety: nothing in a model file can run code. Arrays are read with our own
parser of the ``.npy`` header (NumPy's literal parser, no pickle), only the
dtypes above are accepted, every array's byte count is checked against its
zip entry before it is read, and ``metadata`` is parsed as JSON. Every
inconsistency (unknown or missing entries, wrong shapes or dtypes,
non-finite weights, a truncated or corrupted zip) raises ``ValueError``
naming the file and the problem.
"""

import io
import json
import math
import os
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["FORMAT", "FORMAT_VERSION", "Model", "save_model", "load_model"]

FORMAT = "dnn-model"
FORMAT_VERSION = 1

#: Refuse files whose arrays add up to more than this (a bound on memory).
MAX_TOTAL_BYTES = 2 ** 31

_META_KEYS = ("format", "format_version", "layer_dims", "activations", "dtype",
              "image_shape", "classes", "metadata")
_FLOAT_DTYPES = {"float32": np.dtype(np.float32), "float64": np.dtype(np.float64)}
# Zip entries never change their timestamp, so the same model gives the same bytes.
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class Model:
    """A trained network as ``load_model`` returns it.

    ``parameters``: dict ``W1..WL`` ``(n_l, n_{l-1})``, ``b1..bL`` ``(n_l, 1)``
    of ``dtype``, ready for ``dnn.L_model_forward``; ``layer_dims`` the list
    ``[n_x, ..., 1]``; ``activations`` one per layer; ``image_shape``
    ``(height, width, 3)`` or None; ``classes`` the two class names (label
    0, label 1); ``metadata`` the saved JSON object; ``format_version``.
    """

    parameters: dict
    layer_dims: list
    activations: tuple
    dtype: np.dtype
    image_shape: tuple = None
    classes: tuple = ("0", "1")
    metadata: dict = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    def predict_proba(self, X: ArrayLike) -> np.ndarray:
        """Output probabilities ``(1, m)`` for ``X`` ``(n_x, m)``, by ``dnn.L_model_forward``."""
        from dnn.functional import L_model_forward
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[0] != self.layer_dims[0]:
            raise ValueError("X must have shape (%d, m) for this model, got %s" % (self.layer_dims[0], X.shape))
        AL, _ = L_model_forward(X.astype(self.dtype, copy=False), self.parameters)
        return AL

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Labels ``(1, m)`` float64 0/1: 1 where the probability is > 0.5, as the course's ``predict``."""
        return (self.predict_proba(X) > 0.5).astype(np.float64)


def _bad(path, problem):
    return ValueError("%s is not a valid dnn model file: %s" % (path, problem))


def _check_parameters(parameters):
    """Layer count, dtype and layer_dims of a parameters dict; raises ValueError/TypeError."""
    if not isinstance(parameters, dict) or not parameters:
        raise TypeError("parameters must be a non-empty dict W1..WL, b1..bL")
    L = len(parameters) // 2
    expected = {"%s%d" % (p, l) for l in range(1, L + 1) for p in "Wb"}
    if set(parameters) != expected:
        raise KeyError("parameters must hold W1..WL and b1..bL (a weight and a bias per layer), got %s"
                       % sorted(parameters))
    dtypes = {np.asarray(parameters[k]).dtype for k in parameters}
    if len(dtypes) != 1 or next(iter(dtypes)) not in _FLOAT_DTYPES.values():
        raise TypeError("parameters must all be float32 or all float64, got %s" % sorted(str(d) for d in dtypes))
    dims = [np.asarray(parameters["W1"]).shape[1] if np.asarray(parameters["W1"]).ndim == 2 else -1]
    for l in range(1, L + 1):
        W, b = np.asarray(parameters["W%d" % l]), np.asarray(parameters["b%d" % l])
        if W.ndim != 2 or W.shape[1] != dims[-1] or W.shape[0] < 1:
            raise ValueError("W%d must have shape (n_%d, %d), got %s" % (l, l, dims[-1], W.shape))
        if b.shape != (W.shape[0], 1):
            raise ValueError("b%d must have shape (%d, 1), got %s" % (l, W.shape[0], b.shape))
        if not (np.isfinite(W).all() and np.isfinite(b).all()):
            raise ValueError("W%d and b%d must be finite" % (l, l))
        dims.append(W.shape[0])
    if dims[-1] != 1:
        raise ValueError("the last layer must have one unit (a sigmoid output), got %d" % dims[-1])
    return L, next(iter(dtypes)), dims


def _default_activations(L):
    return ("relu",) * (L - 1) + ("sigmoid",)


def save_model(path: str | os.PathLike, parameters: Mapping[str, ArrayLike], *,
               image_shape: tuple[int, int, int] | None = None,
               classes: Sequence[str] = ("0", "1"), metadata: dict | None = None) -> Path:
    """Write ``parameters`` (``W1..WL``, ``b1..bL``) and what describes them to ``path`` (.npz).

    ``image_shape``: ``(height, width, 3)`` of the pictures the network reads
    (its product must be ``n_x``), or None for a network on other data.
    ``classes``: the two class names, label 0 first. ``metadata``: a
    JSON-serializable dict stored as is (e.g. the training settings).
    The layer sizes, dtype and activations (ReLU hidden layers, sigmoid
    output, the only network ``dnn`` trains) follow from ``parameters``.
    The file is written to a temporary name and renamed, so a crash never
    leaves half a file; the same inputs give the same bytes. Returns the
    ``Path`` written (exactly ``path``; no extension is added).
    """
    L, dtype, dims = _check_parameters(parameters)
    if image_shape is not None:
        image_shape = tuple(int(s) for s in image_shape)
        if len(image_shape) != 3 or image_shape[2] != 3 or math.prod(image_shape) != dims[0]:
            raise ValueError("image_shape must be (height, width, 3) with height*width*3 == n_x = %d, got %s"
                             % (dims[0], image_shape))
    classes = tuple(str(c.decode() if isinstance(c, bytes) else c) for c in classes)
    if len(classes) != 2:
        raise ValueError("classes must name exactly two classes, got %r" % (classes,))
    text = json.dumps({} if metadata is None else metadata, sort_keys=True, allow_nan=False)
    if not text.startswith("{"):
        raise TypeError("metadata must be a dict")
    arrays = {
        "format": np.array(FORMAT),
        "format_version": np.array(FORMAT_VERSION, dtype=np.int64),
        "layer_dims": np.array(dims, dtype=np.int64),
        "activations": np.array(_default_activations(L)),
        "dtype": np.array(dtype.name),
        "image_shape": np.array(image_shape or (), dtype=np.int64),
        "classes": np.array(classes),
        "metadata": np.array(text),
    }
    for l in range(1, L + 1):
        for p in "Wb":
            arrays["%s%d" % (p, l)] = np.ascontiguousarray(parameters["%s%d" % (p, l)])

    path = Path(path)
    # A unique temporary name beside the target, opened with open() so the
    # file gets the usual permissions (umask), then renamed over the target.
    tmp = path.with_name(".%s.%d.%s.tmp" % (path.name, os.getpid(), os.urandom(4).hex()))
    try:
        with open(tmp, "xb") as fh, zipfile.ZipFile(fh, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, a in arrays.items():
                buf = io.BytesIO()
                np.lib.format.write_array(buf, a, allow_pickle=False)
                info = zipfile.ZipInfo(name + ".npy", date_time=_ZIP_DATE)
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, buf.getvalue())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


# --------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------

def _allowed_dtype(dt):
    """Only plain numbers and unicode text: no objects, no structured or void types."""
    return dt.kind in "fiu" and not dt.fields or dt.kind == "U"


def _read_npy(zf, info, path):
    """One array from a zip entry, checked before its data is read."""
    name = info.filename[:-4]
    with zf.open(info) as fh:
        try:
            version = np.lib.format.read_magic(fh)
            if version == (1, 0):
                shape, fortran, dt = np.lib.format.read_array_header_1_0(fh)
            elif version == (2, 0):
                shape, fortran, dt = np.lib.format.read_array_header_2_0(fh)
            else:
                raise ValueError("unsupported .npy version %s" % (version,))
        except (ValueError, SyntaxError, EOFError) as exc:
            raise _bad(path, "entry %r has a malformed array header (%s)" % (name, exc)) from None
        if not _allowed_dtype(dt):
            raise _bad(path, "entry %r has dtype %s; only numbers and text are allowed" % (name, dt))
        count = math.prod(shape)
        nbytes = count * dt.itemsize
        if fh.tell() + nbytes != info.file_size:
            raise _bad(path, "entry %r is truncated or altered (header says %d bytes of data, entry holds %d)"
                       % (name, nbytes, info.file_size - fh.tell()))
        data = fh.read(nbytes)
    if len(data) != nbytes:
        raise _bad(path, "entry %r is truncated" % name)
    a = np.frombuffer(data, dtype=dt, count=count)
    return a.reshape(shape, order="F" if fortran else "C").copy()


def _read_arrays(path):
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError) as exc:
        raise _bad(path, "not a zip/.npz archive (%s)" % exc) from None
    arrays = {}
    with zf:
        infos = zf.infolist()
        if sum(i.file_size for i in infos) > MAX_TOTAL_BYTES:
            raise _bad(path, "its arrays would take more than %d bytes" % MAX_TOTAL_BYTES)
        for info in infos:
            if not info.filename.endswith(".npy") or "/" in info.filename:
                raise _bad(path, "unexpected entry %r" % info.filename)
            name = info.filename[:-4]
            if name in arrays:
                raise _bad(path, "entry %r appears twice" % name)
            try:
                arrays[name] = _read_npy(zf, info, path)
            except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
                raise _bad(path, "entry %r is corrupted (%s)" % (name, exc)) from None
    return arrays


def _text(arrays, key, path):
    a = arrays[key]
    if a.dtype.kind != "U" or a.ndim != 0:
        raise _bad(path, "%r must be a text scalar" % key)
    return str(a)


def _int_vector(arrays, key, path):
    a = arrays[key]
    if a.dtype.kind not in "iu" or a.ndim != 1:
        raise _bad(path, "%r must be a 1-D integer array" % key)
    return [int(v) for v in a]


def load_model(path: str | os.PathLike) -> Model:
    """Read and check a model file written by ``save_model``; returns a ``Model``.

    Raises ``FileNotFoundError`` if ``path`` does not exist and ``ValueError``
    (naming the file and the problem) for anything else: not a zip, not a dnn
    model, a newer format version, missing or unknown entries, layer sizes,
    activations, dtype or image shape inconsistent with the weights,
    non-finite weights, truncated or corrupted data.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError("no such model file: %s" % path)
    arrays = _read_arrays(path)

    if "format" not in arrays or arrays["format"].dtype.kind != "U" or str(arrays["format"]) != FORMAT:
        raise _bad(path, "it has no 'format' entry saying %r (a file from something else?)" % FORMAT)
    missing = [k for k in _META_KEYS if k not in arrays]
    if missing:
        raise _bad(path, "missing entries: %s" % ", ".join(missing))
    version_a = arrays["format_version"]
    if version_a.dtype.kind not in "iu" or version_a.ndim != 0:
        raise _bad(path, "'format_version' must be an integer scalar")
    version = int(version_a)
    if not 1 <= version <= FORMAT_VERSION:
        raise _bad(path, "format version %d; this dnn reads versions 1 to %d (a newer dnn wrote it?)"
                   % (version, FORMAT_VERSION))

    dims = _int_vector(arrays, "layer_dims", path)
    if len(dims) < 2 or min(dims) < 1 or dims[-1] != 1:
        raise _bad(path, "layer_dims must be [n_x, ..., 1] with positive sizes, got %s" % dims)
    L = len(dims) - 1
    expected = set(_META_KEYS) | {"%s%d" % (p, l) for l in range(1, L + 1) for p in "Wb"}
    unknown = sorted(set(arrays) - expected)
    if unknown:
        raise _bad(path, "unexpected entries: %s" % ", ".join(unknown))
    absent = sorted(expected - set(arrays))
    if absent:
        raise _bad(path, "missing entries: %s" % ", ".join(absent))

    dtype_name = _text(arrays, "dtype", path)
    if dtype_name not in _FLOAT_DTYPES:
        raise _bad(path, "dtype must be float32 or float64, got %r" % dtype_name)
    dtype = _FLOAT_DTYPES[dtype_name]

    acts = arrays["activations"]
    if acts.dtype.kind != "U" or acts.shape != (L,):
        raise _bad(path, "activations must be %d names" % L)
    activations = tuple(str(a) for a in acts)
    if activations != _default_activations(L):
        raise _bad(path, "activations must be relu for the hidden layers and sigmoid for the output, got %s"
                   % list(activations))

    parameters = {}
    for l in range(1, L + 1):
        for p, shape in (("W", (dims[l], dims[l - 1])), ("b", (dims[l], 1))):
            key = "%s%d" % (p, l)
            a = arrays[key]
            if a.shape != shape:
                raise _bad(path, "%s has shape %s, layer_dims say %s" % (key, a.shape, shape))
            if a.dtype.kind != "f" or a.dtype.itemsize != dtype.itemsize:
                raise _bad(path, "%s is %s, the file says %s" % (key, a.dtype, dtype_name))
            if not np.isfinite(a).all():
                raise _bad(path, "%s holds non-finite values" % key)
            parameters[key] = np.ascontiguousarray(a, dtype=dtype)

    image_shape = _int_vector(arrays, "image_shape", path)
    if image_shape:
        if len(image_shape) != 3 or image_shape[2] != 3 or min(image_shape) < 1 \
                or math.prod(image_shape) != dims[0]:
            raise _bad(path, "image_shape %s does not match n_x = %d (height * width * 3)" % (image_shape, dims[0]))
        image_shape = tuple(image_shape)
    else:
        image_shape = None

    classes = arrays["classes"]
    if classes.dtype.kind != "U" or classes.shape != (2,):
        raise _bad(path, "classes must be two names")
    try:
        metadata = json.loads(_text(arrays, "metadata", path))
    except json.JSONDecodeError as exc:
        raise _bad(path, "metadata is not valid JSON (%s)" % exc) from None
    if not isinstance(metadata, dict):
        raise _bad(path, "metadata must be a JSON object")

    return Model(parameters=parameters, layer_dims=dims, activations=activations, dtype=dtype,
                 image_shape=image_shape, classes=(str(classes[0]), str(classes[1])),
                 metadata=metadata, format_version=version)

"""Model files: a trained network and what is needed to use it, in one ``.npz``.

``save_model(path, parameters, ...)`` writes, and ``load_model(path)`` reads
back a ``Model``. The file is a plain NumPy ``.npz`` (a zip of ``.npy``
arrays; ``np.load(path, allow_pickle=False)`` opens it too) holding:

=================  =========================================================
``W1..WL``         weights ``(n_l, n_{l-1})``, float32 or float64
``b1..bL``         biases ``(n_l, 1)``, same dtype
``format``         ``"dnn-model"``, marks the file as ours
``format_version`` int, ``FORMAT_VERSION`` (readers refuse newer versions)
``layer_dims``     int64 ``[n_x, n_1, ..., n_L]``
``activations``    one per layer: the hidden layers' (all ``"relu"``, all
                   ``"tanh"`` or all ``"leaky_relu"``, slope
                   ``dnn.activations.LEAKY_RELU_SLOPE``), then the output's
                   (``"sigmoid"``: one unit; ``"softmax"``: K >= 2 units;
                   ``"identity"``: a regression's n_L units)
``dtype``          ``"float32"`` or ``"float64"``
``image_shape``    int64 ``[height, width, 3]`` of the pictures the network
                   reads (flattened in C order, scaled by 1/255), or empty
``classes``        the class names indexed by the label: two for a sigmoid
                   output, K for softmax, none for identity
``metadata``       a JSON object (training settings, accuracies), free-form
=================  =========================================================

Safety: nothing in a model file can run code, and a hostile file costs about
its own size. ``load_model`` checks, in this order and before reading any
array's data: the file (a regular file of at most ``MAX_FILE_BYTES``), the
zip's end record (at most ``MAX_ENTRIES`` entries in ``MAX_DIRECTORY_BYTES``), its member list (known names, at most ``MAX_ENTRIES``, no encryption or
exotic compression, no entry inflating more than ``MAX_INFLATION`` times, nor all of them together
more than ``MAX_INFLATION`` times the file's size), each descriptive entry's ``.npy`` header (dtype, shape
and size within ``_META_SPECS``'s limits), then the weights' headers against
the shapes ``layer_dims`` implies (at most ``MAX_LAYERS`` layers and
``MAX_TOTAL_BYTES`` of weights). Headers are read by NumPy's literal parser
(no pickle) after their length is checked; only the dtypes above are
accepted; ``metadata`` is JSON of bounded size and nesting, its numbers finite. Every
inconsistency raises ``ValueError`` naming the file and the problem in at
most a few hundred characters; so does any error the zip or ``.npy``
readers raise on a malformed file. ``save_model`` refuses what ``load_model``
would (and stores, rather than deflates, entries that compress too well).

Versions: 1 held the course's network only (ReLU hidden layers, one sigmoid
unit, two classes); 2 (``save_model`` writes it) adds the other hidden
activations and outputs, with the same entries. A version-1 file loads as it
always did, and one claiming anything else is refused as tampered.
"""

import io
import json
import math
import os
import re
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
from numpy.typing import ArrayLike

from dnn._files import kind_of

__all__ = ["FORMAT", "FORMAT_VERSION", "Model", "ModelFileError", "save_model", "load_model"]

FORMAT = "dnn-model"
FORMAT_VERSION = 2

#: Limits of what ``load_model`` reads (bounds on time and memory): the
#: weights' bytes, the file's size, the layers, the zip's entries, one
#: ``.npy`` header, the metadata's characters and nesting, a class name, and
#: the characters of an error message.
MAX_TOTAL_BYTES = 2 ** 31
MAX_FILE_BYTES = MAX_TOTAL_BYTES + 2 ** 24
MAX_LAYERS = 1000
MAX_ENTRIES = 8 + 2 * MAX_LAYERS
#: The zip's central directory: a model's entries take under 100 bytes each there.
MAX_DIRECTORY_BYTES = 256 * MAX_ENTRIES
MAX_HEADER_BYTES = 4096
MAX_METADATA_CHARS = 2 ** 20
MAX_JSON_DEPTH = 64
MAX_CLASS_NAME_CHARS = 1024
#: Class names a softmax network's file holds at most (each up to ``MAX_CLASS_NAME_CHARS``).
MAX_CLASSES = 1024
#: An entry may inflate at most this much beyond 1 MiB, and all entries
#: together this much times the file's size beyond 1 MiB (once, not once an
#: entry): trained weights hardly compress, so more is a zip bomb, refused
#: before it is inflated.
MAX_INFLATION = 64
MAX_MESSAGE_CHARS = 300
#: SciPy's BLAS takes 32-bit sizes.
BLAS_INT_MAX = 2 ** 31 - 1

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
    ``[n_x, ..., n_L]``; ``activations`` one per layer (``hidden_activation``
    and ``output`` name them); ``image_shape`` ``(height, width, 3)`` or None;
    ``classes`` the class names indexed by label (two for a sigmoid output, K
    for softmax, none for identity); ``metadata`` the saved JSON object;
    ``format_version``.
    """

    parameters: dict
    layer_dims: list
    activations: tuple
    dtype: np.dtype
    image_shape: tuple = None
    classes: tuple = ("0", "1")
    metadata: dict = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    def __repr__(self):
        dims = self.layer_dims if len(self.layer_dims) <= 12 else \
            self.layer_dims[:6] + ["..."] + self.layer_dims[-3:]
        classes = tuple(_short(c, 40) for c in self.classes[:8]) + (("...",) if len(self.classes) > 8 else ())
        return ("Model(layer_dims=[%s], dtype=%s, hidden_activation=%r, output=%r, image_shape=%s, "
                "classes=%r, format_version=%d)"
                % (", ".join(map(str, dims)), np.dtype(self.dtype).name, self.hidden_activation, self.output,
                   self.image_shape, classes, self.format_version))

    @property
    def hidden_activation(self) -> str:
        """The hidden layers' activation (``"relu"`` for a network without hidden layers)."""
        return self.activations[0] if len(self.activations) > 1 else "relu"

    @property
    def output(self) -> str:
        """The output layer's kind: ``"sigmoid"``, ``"softmax"`` or ``"identity"``."""
        return self.activations[-1]

    def predict_proba(self, X: ArrayLike) -> np.ndarray:
        """The output layer's ``A_L`` ``(n_L, m)`` for ``X`` ``(n_x, m)``, by
        ``dnn.L_model_forward``: probabilities of class 1 ``(1, m)`` (sigmoid), of each
        class ``(K, m)`` (softmax), or the predicted values (identity)."""
        from dnn.functional import L_model_forward
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[0] != self.layer_dims[0]:
            raise ValueError("X must have shape (%d, m) for this model, got %s" % (self.layer_dims[0], X.shape))
        X = X.astype(self.dtype, copy=False)
        if self.activations == _default_activations(len(self.activations)):
            AL, _ = L_model_forward(X, self.parameters)   # the course's network: the compiled path
        else:
            AL, _ = L_model_forward(X, self.parameters, hidden_activation=self.hidden_activation,
                                    output=self.output)
        return AL

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Labels ``(1, m)``: float64 0/1 where the probability is > 0.5, as the course's
        ``predict`` (sigmoid); int64 class indices, the argmax (softmax); the
        outputs ``(n_L, m)`` themselves (identity). An output that is not finite
        (finite weights can still overflow to inf - inf) is never made a label:
        it raises ``ValueError``."""
        AL = self.predict_proba(X)
        if self.output != "identity":
            bad = np.flatnonzero(~np.isfinite(AL).all(axis=0))
            if bad.size:
                raise ValueError("the network's output is not finite (nan or inf) for %d of %d examples "
                                 "(the first: column %d): its weights overflow on them; no label is given"
                                 % (bad.size, AL.shape[1], bad[0]))
        if self.output == "sigmoid":
            return (AL > 0.5).astype(np.float64)
        if self.output == "softmax":
            return np.argmax(AL, axis=0).astype(np.int64).reshape(1, -1)
        return AL


def _bad(path, problem):
    return ValueError("%s is not a valid dnn model file: %s" % (path, problem))


def _check_parameters(parameters):
    """Layer count, dtype and layer_dims of a parameters dict; raises ValueError/TypeError."""
    if not isinstance(parameters, dict) or not parameters:
        raise TypeError("parameters must be a non-empty dict W1..WL, b1..bL")
    bad = [k for k in parameters if not isinstance(k, str)]
    if bad:   # before sorted() mixes them with the names
        raise TypeError("parameters' keys must be strings W1..WL, b1..bL, got %s"
                        % _short(repr(bad[0]), 80))
    L = len(parameters) // 2
    expected = {"%s%d" % (p, l) for l in range(1, L + 1) for p in "Wb"}
    if set(parameters) != expected:
        raise KeyError("parameters must hold W1..WL and b1..bL (a weight and a bias per layer), got %s"
                       % sorted(parameters))
    # In native byte order: '>f4' is float32 too (save_model writes it natively).
    dtypes = {np.asarray(parameters[k]).dtype.newbyteorder("=") for k in parameters}
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
    return L, next(iter(dtypes)), dims


def _default_activations(L):
    return ("relu",) * (L - 1) + ("sigmoid",)


_HIDDEN = ("relu", "tanh", "leaky_relu")
_OUTPUTS = ("sigmoid", "softmax", "identity")


def _activations_problem(activations, n_L):
    """What is wrong with ``activations`` for a last layer of ``n_L`` units, or None."""
    hidden, output = activations[:-1], activations[-1]
    if len(set(hidden)) > 1 or (hidden and hidden[0] not in _HIDDEN):
        return ("the hidden layers' activations must all be one of %s, got %s"
                % (", ".join(_HIDDEN), _names(set(hidden), 4)))
    if output not in _OUTPUTS:
        return "the output must be one of %s, got %r" % (", ".join(_OUTPUTS), _short(output, 40))
    if output == "sigmoid" and n_L != 1:
        return "a sigmoid output has one unit, the last layer has %d" % n_L
    if output == "softmax" and n_L < 2:
        return "a softmax output has at least 2 units, the last layer has %d" % n_L
    return None


def _class_count(output, n_L):
    """How many class names a network with this output holds."""
    return {"sigmoid": 2, "softmax": n_L, "identity": 0}[output]


def _inflates_too_much(info):
    """Whether a zip entry inflates more than ``load_model`` accepts (the mark of a zip bomb)."""
    return info.file_size > MAX_INFLATION * info.compress_size + 2 ** 20


def _all_inflate_too_much(declared, file_size):
    """Whether entries declaring ``declared`` bytes in all inflate more than ``load_model`` accepts
    from a file of ``file_size`` bytes: ``MAX_INFLATION`` times it, plus 1 MiB once (not once an
    entry: a thousand layers of zeros would inflate a 1.4 MB file to 1 GiB)."""
    return declared > MAX_INFLATION * file_size + 2 ** 20


def _to_store(infos):
    """The names of the entries ``save_model`` stores rather than deflates, from a deflated
    write's ``infos``: each that inflates too much, then, while all of them together would,
    those that gain most by being stored (a file of stored entries always passes)."""
    names = {i.filename[:-4] for i in infos if _inflates_too_much(i)}
    declared = sum(i.file_size for i in infos)
    size = sum(i.file_size if i.filename[:-4] in names else i.compress_size for i in infos)
    for info in sorted(infos, key=lambda i: i.compress_size - i.file_size):   # the largest gain first
        if not _all_inflate_too_much(declared, size):
            break
        if info.filename[:-4] not in names:
            names.add(info.filename[:-4])
            size += info.file_size - info.compress_size
    return names


def _write_entries(fh, arrays, stored):
    """``arrays`` as a zip of ``.npy`` entries into ``fh`` (from its start), deflated but for
    the names in ``stored``; returns the zip's ``ZipInfo`` list.

    Only the deflated sizes themselves tell what inflates too much (zlib's
    levels differ by several times on sparse data), so ``save_model`` writes,
    asks ``_to_store``, and in that rare case writes again with those entries stored.
    """
    fh.seek(0)
    fh.truncate()
    with zipfile.ZipFile(fh, "w") as zf:
        for name, a in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, a, allow_pickle=False)
            info = zipfile.ZipInfo(name + ".npy", date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_STORED if name in stored else zipfile.ZIP_DEFLATED
            zf.writestr(info, buf.getvalue())
        return zf.infolist()


def _check_target(path):
    """Refuse to replace anything but a regular file (``os.replace`` would replace it all)."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISREG(mode):
        raise FileExistsError("%s is %s; save_model writes a new file or replaces a regular "
                              "file, nothing else" % (path, kind_of(mode)))


def _nests_deeper(obj, limit):
    """Whether ``obj``'s dicts, lists and tuples (JSON's objects and arrays) nest more than
    ``limit`` deep (``{}`` is 1), walked without recursion and no deeper than ``limit + 1``."""
    stack = [(obj, 1)] if isinstance(obj, (dict, list, tuple)) else []
    while stack:
        x, depth = stack.pop()
        if depth > limit:
            return True
        stack.extend((v, depth + 1) for v in (x.values() if isinstance(x, dict) else x)
                     if isinstance(v, (dict, list, tuple)))
    return False


def _description(dims, dtype, *, image_shape=None, classes=None, metadata=None,
                 hidden_activation="relu", output=None):
    """What ``save_model`` stores beside the weights of a network of layer sizes ``dims`` and
    ``dtype``, checked as ``save_model`` checks it: ``(activations, image_shape, classes,
    metadata_json)``. Raises what ``save_model`` raises, so a caller can ask before it trains."""
    dtype = np.dtype(dtype)
    L = len(dims) - 1
    for x, name, allowed in ((hidden_activation, "hidden_activation", _HIDDEN),
                             (output, "output", _OUTPUTS + (None,))):
        if not (x is None or isinstance(x, str)) or x not in allowed:
            raise ValueError("%s must be one of %s, got %s" % (name, ", ".join(map(repr, allowed)),
                                                              _short(repr(x), 80)))
    if output is None:
        output = "sigmoid" if dims[-1] == 1 else "softmax"
    activations = (hidden_activation,) * (L - 1) + (output,)
    problem = _activations_problem(activations, dims[-1])
    if problem:
        raise ValueError(problem)
    if output == "softmax" and dims[-1] > MAX_CLASSES:
        raise ValueError("a model file holds at most %d classes, got %d output units" % (MAX_CLASSES, dims[-1]))
    if image_shape is not None:
        # Integers only (not bools): int() truncated 1.9 and raised OverflowError on inf.
        problem = ("image_shape must be (height, width, 3): positive integers whose product is "
                   "n_x = %d, got %s" % (dims[0], _short(repr(image_shape), 80)))
        shape = image_shape.tolist() if isinstance(image_shape, np.ndarray) else image_shape
        if not isinstance(shape, Sequence) or not all(
                isinstance(s, (int, np.integer)) and not isinstance(s, bool) for s in shape):
            raise TypeError(problem)
        image_shape = tuple(int(s) for s in shape)
        if len(image_shape) != 3 or image_shape[2] != 3 or min(image_shape) < 1 \
                or math.prod(image_shape) != dims[0]:
            raise ValueError(problem)
    if isinstance(classes, (str, bytes)):
        raise TypeError("classes must be two names, got a single %s" % type(classes).__name__)
    n_classes = _class_count(output, dims[-1])
    if classes is None:
        classes = ("0", "1") if output == "sigmoid" else tuple(str(k) for k in range(n_classes))
    classes = tuple(str(c.decode() if isinstance(c, bytes) else c) for c in classes)
    if len(classes) != n_classes:
        raise ValueError("classes must name exactly %s for a %s output of %d units, got %s"
                         % ({0: "no classes", 2: "two classes"}.get(n_classes, "%d classes" % n_classes),
                            output, dims[-1], _short(repr(classes), 80)))
    # NumPy drops a name's trailing NULs, and a label needs a name of its own.
    if any("\x00" in c for c in classes):
        raise ValueError("classes must be names without NUL characters ('\\x00'; NumPy's text drops them), "
                         "got %s" % _short(repr(classes), 80))
    if len(set(classes)) != len(classes):
        raise ValueError("classes must name each class once, got one twice: %s" % _short(repr(classes), 80))
    metadata = {} if metadata is None else metadata
    if not isinstance(metadata, dict):
        raise TypeError("metadata must be a dict, got %s" % type(metadata).__name__)
    # The nesting first: json.dumps recurses, and raised RecursionError on deep metadata.
    too_deep = "metadata must be at most %d characters of JSON nested at most %d deep" \
        % (MAX_METADATA_CHARS, MAX_JSON_DEPTH)
    if _nests_deeper(metadata, MAX_JSON_DEPTH):
        raise ValueError(too_deep)
    text = json.dumps(metadata, sort_keys=True, allow_nan=False)
    # What load_model would refuse is refused here, before anything is written.
    if L > MAX_LAYERS:
        raise ValueError("a model file holds at most %d layers, got %d" % (MAX_LAYERS, L))
    nbytes = sum(o * (i + 1) for i, o in zip(dims, dims[1:])) * dtype.itemsize
    if nbytes > MAX_TOTAL_BYTES:
        raise ValueError("a model file holds at most %d bytes of weights, these layers take %d"
                         % (MAX_TOTAL_BYTES, nbytes))
    if classes and max(len(c) for c in classes) > MAX_CLASS_NAME_CHARS:
        raise ValueError("class names are at most %d characters" % MAX_CLASS_NAME_CHARS)
    if len(text) > MAX_METADATA_CHARS:  # (its depth: _nests_deeper, above)
        raise ValueError(too_deep)
    return activations, image_shape, classes, text


def save_model(path: str | os.PathLike, parameters: Mapping[str, ArrayLike], *,
               image_shape: tuple[int, int, int] | None = None,
               classes: Sequence[str] | None = None, metadata: dict | None = None,
               hidden_activation: str = "relu", output: str | None = None) -> Path:
    """Write ``parameters`` (``W1..WL``, ``b1..bL``) and what describes them to ``path`` (.npz).

    ``parameters``: float32 or float64 arrays (big-endian ones are written in
    the machine's byte order). ``image_shape``: ``(height, width, 3)`` of the
    pictures the network reads (positive integers whose product is ``n_x``),
    or None for a network on other data.
    ``classes``: the class names, label 0 first, each once and without NUL
    characters (NumPy's text drops them): two for a sigmoid output
    (default ``("0", "1")``), K for a softmax one (default ``"0"`` to
    ``"K-1"``), none for identity. ``metadata``: a JSON-serializable dict
    stored as is (e.g. the training settings), nested at most ``MAX_JSON_DEPTH`` deep. ``hidden_activation``
    (``"relu"``, ``"tanh"``, ``"leaky_relu"``) and ``output`` (``"sigmoid"``,
    ``"softmax"``, ``"identity"``; None: sigmoid for one output unit, softmax
    for more, as ``dnn.L_model_forward`` infers) name the activations; the
    layer sizes and dtype follow from ``parameters``.
    The file is written to a temporary name beside ``path`` and renamed over
    it, so a crash never leaves half a file; the same inputs give the same
    bytes. Only a regular file or nothing is replaced: a directory, symbolic
    link, FIFO, device or socket at ``path`` raises ``FileExistsError``.
    Whatever ``load_model`` would refuse raises ``ValueError`` or ``TypeError``
    (naming the argument) before anything is written.
    Returns the ``Path`` written (exactly ``path``; no extension is added).
    """
    L, dtype, dims = _check_parameters(parameters)
    activations, image_shape, classes, text = _description(
        dims, dtype, image_shape=image_shape, classes=classes, metadata=metadata,
        hidden_activation=hidden_activation, output=output)
    arrays = {
        "format": np.array(FORMAT),
        "format_version": np.array(FORMAT_VERSION, dtype=np.int64),
        "layer_dims": np.array(dims, dtype=np.int64),
        "activations": np.array(activations),
        "dtype": np.array(dtype.name),
        "image_shape": np.array(image_shape or (), dtype=np.int64),
        "classes": np.array(classes, dtype=str),
        "metadata": np.array(text),
    }
    for l in range(1, L + 1):
        for p in "Wb":
            arrays["%s%d" % (p, l)] = np.ascontiguousarray(parameters["%s%d" % (p, l)], dtype=dtype)

    path = Path(path)
    _check_target(path)
    # A unique temporary name beside the target, opened with open() so the
    # file gets the usual permissions (umask), then renamed over the target.
    tmp = path.with_name(".%s.%d.%s.tmp" % (path.name, os.getpid(), os.urandom(4).hex()))
    try:
        with open(tmp, "xb") as fh:
            stored = set()
            while True:  # stored, what load_model would take for a zip bomb
                more = _to_store(_write_entries(fh, arrays, stored))
                if more <= stored:
                    break
                stored |= more
        _check_target(path)  # again: the slow part is over, the window is a rename
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


# --------------------------------------------------------------------------
# Reading: the member list, then every header, then the data
# --------------------------------------------------------------------------

class ModelFileError(ValueError):
    """A file ``load_model`` refuses (a ``ValueError``): malformed, tampered, foreign or hostile."""


def _short(text, limit=MAX_MESSAGE_CHARS):
    text = str(text)
    return text if len(text) <= limit else text[:limit] + "... (%d characters)" % len(text)


def _names(names, limit=8):
    names = sorted(_short(n, 40) for n in names)
    more = "" if len(names) <= limit else " and %d more" % (len(names) - limit)
    return ", ".join(names[:limit]) + more


def _invalid(path, problem):
    return ModelFileError("%s is not a valid dnn model file: %s" % (_short(path, 200), _short(problem)))


# What each descriptive entry may be, from its header alone:
# name -> (dtype kinds, allowed ranks, most elements, largest item in bytes).
_META_SPECS = {
    "format": ("U", (0,), 1, 4 * 64),
    "format_version": ("iu", (0,), 1, 8),
    "layer_dims": ("iu", (1,), MAX_LAYERS + 1, 8),
    "activations": ("U", (1,), MAX_LAYERS, 4 * 16),
    "dtype": ("U", (0,), 1, 4 * 16),
    "image_shape": ("iu", (1,), 3, 8),
    "classes": ("U", (1,), MAX_CLASSES, 4 * MAX_CLASS_NAME_CHARS),
    "metadata": ("U", (0,), 1, 4 * MAX_METADATA_CHARS),
}
_WEIGHT_NAME = re.compile(r"[Wb][1-9][0-9]{0,5}\Z")
_NPY_MAGIC = b"\x93NUMPY"
# Flag bits a plain zip entry may carry: deflate options (1, 2), a data
# descriptor (3), UTF-8 names (11). Anything else (encryption, patched data)
# is refused before zipfile is asked to read it.
_PLAIN_FLAGS = 0x2 | 0x4 | 0x8 | 0x800


def _check_directory(fh, path):
    """The zip's entry count and directory size, from its end record, before zipfile
    parses the directory into an object per entry (ten times its size, and slowly)."""
    end_record = getattr(zipfile, "_EndRecData", None)   # what ZipFile itself reads
    record = end_record(fh) if end_record is not None else None
    fh.seek(0)
    if not record:
        return   # ZipFile says it is no zip
    entries, size = record[zipfile._ECD_ENTRIES_TOTAL], record[zipfile._ECD_SIZE]
    if entries > MAX_ENTRIES:
        raise _invalid(path, "it has %d entries; a model has at most %d" % (entries, MAX_ENTRIES))
    if size > MAX_DIRECTORY_BYTES:
        raise _invalid(path, "its zip directory takes %d bytes; a model's takes at most %d"
                       % (size, MAX_DIRECTORY_BYTES))


def _members(zf, path, file_size):
    """The archive's entries by array name, checked from the member list alone."""
    infos = zf.infolist()
    if len(infos) > MAX_ENTRIES:
        raise _invalid(path, "it has %d entries; a model has at most %d" % (len(infos), MAX_ENTRIES))
    if sum(i.compress_size for i in infos) > file_size:
        raise _invalid(path, "its entries claim more compressed bytes than the file holds")
    members, unexpected = {}, []
    for info in infos:
        fn = info.filename
        if not fn.endswith(".npy") or "/" in fn or "\\" in fn:
            raise _invalid(path, "unexpected entry %r" % _short(fn, 80))
        name = fn[:-4]
        if name in members:
            raise _invalid(path, "entry %r appears twice" % _short(name, 80))
        if name not in _META_SPECS and not _WEIGHT_NAME.match(name):
            unexpected.append(name)
            continue
        if info.flag_bits & ~_PLAIN_FLAGS:
            raise _invalid(path, "entry %r is encrypted or uses zip features model files never "
                                 "use (flags 0x%x)" % (name, info.flag_bits))
        if _inflates_too_much(info):
            raise _invalid(path, "entry %r would inflate from %d to %d bytes (a zip bomb?)"
                           % (name, info.compress_size, info.file_size))
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise _invalid(path, "entry %r uses compression method %d; model files use deflate"
                           % (name, info.compress_type))
        members[name] = info
    declared = sum(i.file_size for i in infos)
    if _all_inflate_too_much(declared, file_size):
        raise _invalid(path, "its entries would inflate to %d bytes in all from a file of %d (a zip "
                             "bomb?); a model's inflate to at most %d times the file's size plus 1 MiB"
                       % (declared, file_size, MAX_INFLATION))
    if "format" not in members:
        raise _invalid(path, "it has no 'format' entry saying %r (a file from something else?)"
                       % FORMAT)
    if unexpected:
        raise _invalid(path, "unexpected entries: %s" % _names(unexpected))
    return members


def _read_header(fh, name, path):
    """``(shape, fortran_order, dtype, header_bytes)`` of an ``.npy`` stream, no data read.

    The header's length is checked before it is read; NumPy's own parser
    (a literal dict, never pickle) then reads the few bytes we hold.
    """
    head = fh.read(8)
    if len(head) < 8 or head[:6] != _NPY_MAGIC:
        raise _invalid(path, "entry %r is not a .npy array" % name)
    if head[6] == 1:
        size_field = fh.read(2)
        length = int.from_bytes(size_field, "little") if len(size_field) == 2 else -1
    elif head[6] == 2:
        size_field = fh.read(4)
        length = int.from_bytes(size_field, "little") if len(size_field) == 4 else -1
    else:
        raise _invalid(path, "entry %r has .npy version %d.%d; model files use 1.0" % (name, head[6], head[7]))
    if not 0 <= length <= MAX_HEADER_BYTES:
        raise _invalid(path, "entry %r has a malformed array header (length %d)" % (name, length))
    header = fh.read(length)
    if len(header) != length:
        raise _invalid(path, "entry %r is truncated inside its header" % name)
    buf = io.BytesIO(head + size_field + header)
    try:
        version = np.lib.format.read_magic(buf)
        read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                else np.lib.format.read_array_header_2_0)
        shape, fortran, dt = read(buf)
    except Exception as exc:  # NumPy's literal parser: ValueError, SyntaxError, TokenError...
        raise _invalid(path, "entry %r has a malformed array header (%s)"
                       % (name, type(exc).__name__)) from None
    if not all(isinstance(s, int) and 0 <= s for s in shape):
        raise _invalid(path, "entry %r has a malformed shape" % name)
    return shape, bool(fortran), dt, len(head) + len(size_field) + length


def _allowed_dtype(dt):
    """Only plain numbers and unicode text: no objects, no structured or void types."""
    return dt.fields is None and dt.subdtype is None and dt.kind in "fiuU"


#: zipfile reads what it is asked for into a new bytes object (then copied into
#: the array): a slice at a time, the array's memory is all a load holds.
_READ_BYTES = 2 ** 20


def _read_data(fh, info, offset, shape, fortran, dt, name, path):
    """The array after its header, checked against the entry's size first, read in place."""
    count = math.prod(shape)
    nbytes = count * dt.itemsize
    if offset + nbytes != info.file_size:
        raise _invalid(path, "entry %r is truncated or altered (header says %d bytes of data, "
                             "entry holds %d)" % (name, nbytes, info.file_size - offset))
    a = np.empty(count, dtype=dt)
    view = memoryview(a.view(np.uint8)) if nbytes else memoryview(b"")
    got = 0
    while got < nbytes:
        k = fh.readinto(view[got:got + _READ_BYTES])
        if not k:
            raise _invalid(path, "entry %r is truncated" % name)
        got += k
    if fh.read(1):  # also makes zipfile check the entry's CRC
        raise _invalid(path, "entry %r holds more data than its header says" % name)
    return a.reshape(shape, order="F" if fortran else "C")


def _read_member(zf, info, name, path, check):
    """One entry: header, ``check(shape, dtype)`` (raises), then the data."""
    with zf.open(info) as fh:
        shape, fortran, dt, offset = _read_header(fh, name, path)
        if not _allowed_dtype(dt):
            raise _invalid(path, "entry %r has dtype %s; only numbers and text are allowed"
                           % (name, _short(dt, 60)))
        check(shape, dt)
        return _read_data(fh, info, offset, shape, fortran, dt, name, path)


def _meta_check(name, path):
    kinds, ranks, most, itemsize = _META_SPECS[name]

    def check(shape, dt):
        what = "a text" if kinds == "U" else "an integer"
        if dt.kind not in kinds or len(shape) not in ranks:
            raise _invalid(path, "%r must be %s %s" % (name, what, "scalar" if ranks == (0,) else "array"))
        if math.prod(shape) > most or dt.itemsize > itemsize:
            raise _invalid(path, "%r is too large (shape %s, %s)" % (name, shape, dt))
        if dt.itemsize == 0:   # '<U0': NumPy never writes it (its strings have at least one character)
            raise _invalid(path, "%r has the empty dtype %s" % (name, dt))
    return check


def _text(a):
    return str(a[()])


def _json_depth(text):
    """How deeply ``text``'s arrays and objects nest, in one vectorized pass (no recursion).

    Exact for valid JSON, and for any text at least the depth a JSON parser
    reaches before its first error: brackets inside strings do not count,
    and a quote preceded by an odd number of backslashes does not end one.
    """
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    if not codes.size:
        return 0
    pos = np.arange(codes.size)
    backslash = codes == ord("\\")
    last_other = np.maximum.accumulate(np.where(backslash, -1, pos))
    escapes = np.zeros(codes.size, dtype=np.int64)   # backslashes right before each character
    escapes[1:] = pos[1:] - 1 - last_other[:-1]
    quote = (codes == ord('"')) & (escapes % 2 == 0)
    inside = (np.cumsum(quote, dtype=np.int64) - quote) % 2 == 1
    step = (((codes == ord("[")) | (codes == ord("{"))).astype(np.int8)
            - ((codes == ord("]")) | (codes == ord("}"))))
    step[inside] = 0
    return int(np.cumsum(step, dtype=np.int64).max())


def _no_constant(name):
    raise ValueError("%s is not JSON (save_model writes none)" % name)


def _finite_float(text):
    x = float(text)
    if not math.isfinite(x):
        raise ValueError("%s is beyond float's range (save_model writes no inf)" % _short(text, 40))
    return x


def _read_model(zf, path, file_size):
    members = _members(zf, path, file_size)
    missing = [k for k in _META_SPECS if k not in members]
    if missing:
        raise _invalid(path, "missing entries: %s" % ", ".join(missing))
    meta = {k: _read_member(zf, members[k], k, path, _meta_check(k, path)) for k in _META_SPECS}

    if _text(meta["format"]) != FORMAT:
        raise _invalid(path, "it has no 'format' entry saying %r (a file from something else?)"
                       % FORMAT)
    version = int(meta["format_version"][()])
    if not 1 <= version <= FORMAT_VERSION:
        raise _invalid(path, "format version %d; this dnn reads versions 1 to %d (a newer dnn "
                             "wrote it?)" % (version, FORMAT_VERSION))
    dims = [int(d) for d in meta["layer_dims"]]
    if len(dims) < 2 or min(dims) < 1 or (version == 1 and dims[-1] != 1):
        raise _invalid(path, "layer_dims must be [n_x, ..., %s] with positive sizes, got %s"
                       % ("1" if version == 1 else "n_L", _short(dims, 120)))
    L = len(dims) - 1
    weights = {"%s%d" % (p, l) for l in range(1, L + 1) for p in "Wb"}
    unknown = sorted(set(members) - set(_META_SPECS) - weights)
    if unknown:
        raise _invalid(path, "unexpected entries: %s" % _names(unknown))
    absent = sorted(weights - set(members))
    if absent:
        raise _invalid(path, "missing entries: %s" % _names(absent))

    dtype_name = _text(meta["dtype"])
    if dtype_name not in _FLOAT_DTYPES:
        raise _invalid(path, "dtype must be float32 or float64, got %r" % dtype_name)
    dtype = _FLOAT_DTYPES[dtype_name]
    total = sum(dims[l] * (dims[l - 1] + 1) for l in range(1, L + 1)) * dtype.itemsize
    if total > MAX_TOTAL_BYTES or max(dims) > BLAS_INT_MAX:
        raise _invalid(path, "its layer sizes would take %d bytes of weights (at most %d)"
                       % (total, MAX_TOTAL_BYTES))

    activations = tuple(str(a) for a in meta["activations"])
    if len(activations) != L:
        raise _invalid(path, "activations must be %d names" % L)
    if version == 1 and activations != _default_activations(L):
        raise _invalid(path, "activations must be relu for the hidden layers and sigmoid for the "
                             "output (format version 1), got %s" % _short(list(activations), 120))
    problem = _activations_problem(activations, dims[-1])
    if problem:
        raise _invalid(path, problem)

    image_shape = [int(s) for s in meta["image_shape"]]
    if image_shape:
        if len(image_shape) != 3 or image_shape[2] != 3 or min(image_shape) < 1 \
                or math.prod(image_shape) != dims[0]:
            raise _invalid(path, "image_shape %s does not match n_x = %d (height * width * 3)"
                           % (image_shape, dims[0]))
    classes = meta["classes"]
    n_classes = _class_count(activations[-1], dims[-1])
    if classes.shape != (n_classes,):
        raise _invalid(path, "classes must be %d names for a %s output of %d units, got %d"
                       % (n_classes, activations[-1], dims[-1], classes.size))
    text = _text(meta["metadata"])
    if _json_depth(text) > MAX_JSON_DEPTH:
        raise _invalid(path, "metadata nests deeper than %d levels" % MAX_JSON_DEPTH)
    try:
        # as save_model writes it: no NaN, Infinity or 1e999
        metadata = json.loads(text, parse_constant=_no_constant, parse_float=_finite_float)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, an integer of too many digits
        raise _invalid(path, "metadata is not valid JSON (%s)" % exc) from None
    if not isinstance(metadata, dict):
        raise _invalid(path, "metadata must be a JSON object")

    parameters = {}
    for l in range(1, L + 1):
        for p, shape in (("W", (dims[l], dims[l - 1])), ("b", (dims[l], 1))):
            key = "%s%d" % (p, l)

            def check(got, dt, key=key, shape=shape):
                if tuple(got) != shape:
                    raise _invalid(path, "%s has shape %s, layer_dims say %s" % (key, got, shape))
                if dt.kind != "f" or dt.itemsize != dtype.itemsize:
                    raise _invalid(path, "%s is %s, the file says %s" % (key, dt, dtype_name))
            a = _read_member(zf, members[key], key, path, check)
            if not np.isfinite(a).all():
                raise _invalid(path, "%s holds non-finite values" % key)
            parameters[key] = np.ascontiguousarray(a, dtype=dtype)

    return Model(parameters=parameters, layer_dims=dims, activations=activations, dtype=dtype,
                 image_shape=tuple(image_shape) or None,
                 classes=tuple(str(c) for c in classes),
                 metadata=metadata, format_version=version)


def load_model(path: str | os.PathLike) -> Model:
    """Read and check a model file written by ``save_model``; returns a ``Model``.

    Raises ``FileNotFoundError`` if ``path`` does not exist and ``ValueError``
    (naming the file and the problem, in at most a few hundred characters)
    for anything else: not a regular file, not a zip, not a dnn model, a
    newer format version, missing or unknown entries, layer sizes,
    activations, dtype or image shape inconsistent with the weights,
    non-finite weights, truncated, corrupted, encrypted or oversized data.
    The checks run in order of cost: the file's size, the zip's member
    list, each entry's ``.npy`` header against what the layer sizes imply
    and the limits above, and only then the data, so a hostile file costs
    about its own size in time and memory.
    """
    path = Path(path)
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):  # no such file: nor one under a file's name
        raise FileNotFoundError("no such model file: %s" % path) from None
    except OSError as exc:
        raise _invalid(path, "cannot be read (%s)" % exc) from None
    if not stat.S_ISREG(st.st_mode):
        raise _invalid(path, "not a regular file (%s)" % kind_of(st.st_mode))
    if st.st_size > MAX_FILE_BYTES:
        raise _invalid(path, "it is %d bytes; model files are at most %d" % (st.st_size, MAX_FILE_BYTES))
    try:
        with open(path, "rb") as fh:
            _check_directory(fh, path)
            with zipfile.ZipFile(fh) as zf:
                return _read_model(zf, path, st.st_size)
    except ModelFileError:
        raise
    except MemoryError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile) as exc:
        raise _invalid(path, "not a zip/.npz archive, or a damaged one (%s)" % exc) from None
    except Exception as exc:  # zlib.error, EOFError, OSError, NotImplementedError, RuntimeError...
        raise _invalid(path, "corrupted data (%s: %s)" % (type(exc).__name__, exc)) from None

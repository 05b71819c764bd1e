"""The ``dnn`` command (also ``python -m dnn``): train, predict, bench, info.

``dnn train``   trains the course's L-layer network on the built-in data set,
                two image folders or two HDF5 files, shows a progress bar,
                prints train/test accuracy and writes ``model.npz`` and
                ``metrics.json`` to --out, and, with matplotlib, ``costs.png``
                and (two classes) ``mislabeled.png``.
                By default: full-batch gradient descent of ReLU layers and a
                sigmoid output (``dnn.L_layer_model``). The second part's
                options (--optimizer, --batch-size, --epochs, --l2,
                --keep-prob, --activation, --beta*) or data of more than two
                classes (a softmax output) train by ``dnn.model`` instead.
``dnn predict`` prints probability and label (class name) for pictures (files or folders).
``dnn bench``   the benchmark table (``dnn.bench``); its arguments pass through.
``dnn info``    versions, the BLAS in use and its threads, the build flags.

Errors a user can make (a bad option, a missing or empty folder, a picture or
model file that cannot be read, an output folder that cannot be written)
print one line on stderr (``dnn COMMAND: ...`` for a bad option, ``dnn:
error: ...`` for the rest) and exit with status 2 (usage) or 1 (data); they
never show a traceback. Sizes past what a run can hold (counts past 2**63 - 1,
a network larger than a model file holds, a run larger than the memory the
process may use) and whatever ``save_model`` would refuse are refused
before anything of that size is allocated or trained. Results are written before they
are printed, and a closed stdout (``dnn train | head -1``) is the normal end
of the output, not of the work. Ctrl-C during ``dnn train`` saves the
parameters reached and exits with status 130.
"""

import argparse
import dataclasses
import json
import math
import os
import platform
import stat
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

__all__ = ["main"]

DEFAULT_OUT = "dnn-run"
# The course's recipe for its 4-layer cat network.
DEFAULT_LAYERS = (20, 7, 5)
DEFAULT_LEARNING_RATE = 0.0075
DEFAULT_ITERATIONS = 2500
# dnn.model's runs: epochs with mini-batches (full batch: DEFAULT_ITERATIONS), the course's batch size.
DEFAULT_EPOCHS = 100
DEFAULT_BATCH_SIZE = 64
#: Counts (iterations, epochs...) are C longs in the compiled loops; seeds are NumPy's legacy ones.
INT64_MAX = 2**63 - 1
SEED_MAX = 2**32 - 1
#: The options that train by dnn.model (mini-batches, optimizers, regularization, activations).
COURSE2_OPTIONS = ("optimizer", "batch_size", "epochs", "l2", "keep_prob", "activation", "beta", "beta1", "beta2")


class UserError(Exception):
    """A mistake of the user's: printed as one line, exit status ``code``."""

    def __init__(self, message, code=1):
        super().__init__(message)
        self.code = code


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (plus where to get help), status 2."""

    def error(self, message):
        raise UserError("%s: %s (see '%s --help')" % (self.prog, message, self.prog), code=2)


# --------------------------------------------------------------------------
# Output: a closed pipe ends the output, never the work
# --------------------------------------------------------------------------

_stdout_closed = False


def _silence_stdout():
    """After EPIPE: send the rest of stdout to the null device (also what Python flushes at exit)."""
    global _stdout_closed
    _stdout_closed = True
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # not a real file (e.g. captured by pytest)
        pass


def _say(text=""):
    """print(text) and flush, unless stdout's reader has gone (then nothing, quietly)."""
    if _stdout_closed:
        return
    try:
        try:
            print(text)
        except UnicodeEncodeError:  # a file name stdout's encoding cannot show: escaped
            encoding = getattr(sys.stdout, "encoding", None) or "ascii"
            print(text.encode(encoding, "backslashreplace").decode(encoding))
        sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()


def _stderr(line):
    try:
        print(line, file=sys.stderr)
    except (BrokenPipeError, ValueError):
        pass


def _warn(text):
    _stderr("dnn: %s" % text)


# --------------------------------------------------------------------------
# Argument types
# --------------------------------------------------------------------------

def _layers(text):
    """``"20,7,5"`` -> ``[20, 7, 5]`` (hidden layer sizes, at least one)."""
    text = text.strip()
    if not text:
        raise argparse.ArgumentTypeError("give at least one hidden layer size, e.g. 20,7,5")
    try:
        sizes = [int(s) for s in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            "%r is not a comma-separated list of layer sizes, e.g. 20,7,5" % text) from None
    if any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError("layer sizes must be positive, got %r" % text)
    return sizes


def _positive_float(text):
    try:
        x = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("%r is not a number" % text) from None
    if not (x > 0 and np.isfinite(x)):
        raise argparse.ArgumentTypeError("must be a positive number, got %r" % text)
    return x


def _float_in(low, high, low_open=False, high_open=False):
    """A number in the interval from ``low`` to ``high`` (ends closed unless said open)."""
    def parse(text):
        try:
            x = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError("%r is not a number" % text) from None
        if not (x > low if low_open else x >= low) or not (x < high if high_open else x <= high):
            raise argparse.ArgumentTypeError("must be in %s%g, %g%s, got %r" % (
                "(" if low_open else "[", low, high, ")" if high_open else "]", text))
        return x
    return parse


def _int_at_least(minimum, maximum=INT64_MAX):
    """An integer from ``minimum`` to ``maximum`` (by default the largest count the compiled loops take)."""
    def parse(text):
        try:
            n = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError("%r is not an integer" % text) from None
        if n < minimum:
            raise argparse.ArgumentTypeError("must be >= %d, got %d" % (minimum, n))
        if n > maximum:
            raise argparse.ArgumentTypeError("must be <= %d, got %d" % (maximum, n))
        return n
    return parse


def _image_size(text):
    """``"64"`` -> (64, 64); ``"64x48"`` -> (64, 48) as (width, height), of at most Pillow's
    ``MAX_IMAGE_PIXELS`` pixels (no picture larger than that is read, none is made)."""
    try:
        parts = [int(s) for s in text.lower().split("x")]
    except ValueError:
        parts = []
    if len(parts) == 1:
        parts = parts * 2
    if len(parts) != 2 or min(parts) < 1:
        raise argparse.ArgumentTypeError("%r is not an image size, e.g. 64 or 64x48 (width x height)" % text)
    from PIL import Image
    limit = Image.MAX_IMAGE_PIXELS
    if limit and parts[0] * parts[1] > limit:
        raise argparse.ArgumentTypeError("%dx%d is %d pixels, more than Pillow's MAX_IMAGE_PIXELS (%d)"
                                         % (parts[0], parts[1], parts[0] * parts[1], limit))
    return tuple(parts)


# --------------------------------------------------------------------------
# The parser
# --------------------------------------------------------------------------

def _build_parser():
    from dnn.datasets import BUILTIN
    from dnn.reference import INIT_RECIPES

    parser = _Parser(prog="dnn", description="Fast L-layer neural networks on pictures (the course's networks, compiled).")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    t = sub.add_parser("train", help="train a network and save it", description=(
        "Train [LINEAR->RELU]*(L-1) -> LINEAR->SIGMOID by gradient descent (the second part's "
        "options below: mini-batches, optimizers, L2, dropout, tanh or leaky ReLU; more than two "
        "classes: a softmax output). Data: the built-in set "
        "(default), two image folders, or two HDF5 files as the course's (--train/--test: folder or "
        ".h5 file). Writes model.npz and metrics.json to --out, and, with matplotlib, costs.png and "
        "(two classes) mislabeled.png."))
    t.add_argument("--train", metavar="PATH", help="training pictures: a folder or an HDF5 file")
    t.add_argument("--test", metavar="PATH", help="test pictures: a folder or an HDF5 file")
    t.add_argument("--dataset", choices=sorted(BUILTIN), default="bars",
                   help="built-in data set used when --train/--test are not given (default: bars)")
    t.add_argument("--layers", type=_layers, default=list(DEFAULT_LAYERS),
                   help="hidden layer sizes, comma-separated (default: 20,7,5); input and output sizes follow from the data")
    t.add_argument("--learning-rate", type=_positive_float, default=DEFAULT_LEARNING_RATE,
                   help="gradient descent step (default: %(default)s)")
    t.add_argument("--iterations", type=_int_at_least(1), default=None,
                   help="full-batch gradient descent iterations (default: %d); with the second part's "
                        "options, the same as --epochs" % DEFAULT_ITERATIONS)
    t.add_argument("--init", choices=sorted(INIT_RECIPES), default="app-utils",
                   help="weight initialization recipe (default: %(default)s)")
    t.add_argument("--seed", type=_int_at_least(0, SEED_MAX), default=None,
                   help="seed of the initial weights (default: the recipe's) and, with the second part's "
                        "options, of the shuffles and dropout masks")
    t.add_argument("--dtype", choices=("float64", "float32"), default="float64",
                   help="floating-point type of the training (default: %(default)s)")
    t.add_argument("--image-size", type=_image_size, default=None, metavar="N|WxH",
                   help="resize folder pictures to this size (default: 64)")
    t.add_argument("--positive", default="cat", metavar="NAME",
                   help="folder data: the class that is label 1, as a file-name prefix or class folder (default: cat)")
    t.add_argument("--cost-every", type=_int_at_least(1), default=100,
                   help="record the cost every this many iterations or epochs (default: %(default)s)")
    t.add_argument("--out", type=Path, default=Path(DEFAULT_OUT),
                   help="folder for the model and reports (default: ./%s)" % DEFAULT_OUT)
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    c2 = t.add_argument_group("the course's second part", (
        "Any of these trains by dnn.model (mini-batches; so does data of more than two classes, "
        "with a softmax output); without them, full-batch gradient descent as above."))
    c2.add_argument("--optimizer", choices=("gd", "momentum", "rmsprop", "adam"), default=None,
                    help="the update rule (default: gd)")
    c2.add_argument("--batch-size", type=_int_at_least(1), default=None,
                    help="examples per mini-batch (default: %d; with gd: the whole training set)"
                    % DEFAULT_BATCH_SIZE)
    c2.add_argument("--epochs", type=_int_at_least(1), default=None,
                    help="passes over the training set (default: %d with mini-batches, %d full batch; "
                    "--iterations is the same for full batch)" % (DEFAULT_EPOCHS, DEFAULT_ITERATIONS))
    c2.add_argument("--l2", type=_float_in(0, np.inf, high_open=True), default=None, metavar="LAMBD",
                    help="L2 regularization, the course's lambd (default: 0)")
    c2.add_argument("--keep-prob", type=_float_in(0, 1, low_open=True), default=None,
                    help="inverted dropout: keep probability of the hidden layers (default: 1, no dropout)")
    c2.add_argument("--activation", choices=("relu", "tanh", "leaky_relu"), default=None,
                    help="the hidden layers' activation (default: relu)")
    c2.add_argument("--beta", type=_float_in(0, 1), default=None, help="momentum's beta (default: 0.9)")
    c2.add_argument("--beta1", type=_float_in(0, 1, high_open=True), default=None,
                    help="Adam's first-moment decay (default: 0.9)")
    c2.add_argument("--beta2", type=_float_in(0, 1, high_open=True), default=None,
                    help="Adam's and RMSprop's second-moment decay (default: 0.999)")

    p = sub.add_parser("predict", help="label pictures with a saved model", description=(
        "Print the probability of class 1 (of the predicted class, for a model of more than two "
        "classes), the label and the class name for each picture (files, or folders searched "
        "recursively, in sorted order)."))
    p.add_argument("model", type=Path, help="a model file written by 'dnn train'")
    p.add_argument("images", type=Path, nargs="+", metavar="IMAGE", help="picture files or folders")
    p.add_argument("--json", action="store_true", help="one JSON object per line instead of a table")

    # Listed for --help only: main() hands everything after 'bench' to dnn.bench
    # before argparse sees it (argparse's REMAINDER drops a leading option such as --help).
    sub.add_parser("bench", help="compare dnn with NumPy (dnn.bench); 'dnn bench --help' for its options",
                   add_help=False)

    i = sub.add_parser("info", help="versions, BLAS and threads, build flags; --plan: a fit's plan",
                       description="Versions, the BLAS in use and its threads, the build flags. "
                       "With --plan LAYERS: the plan (dnn._plan) a fit of those layer sizes on "
                       "--m examples would use here; a long fit's plan not yet decided is "
                       "measured now on synthetic data of that shape and kept, as the fit "
                       "would do (DNN_WISDOM=off: in this process only).")
    i.add_argument("--plan", type=_layers, metavar="LAYERS",
                   help="layer sizes, input to output, e.g. 784,256,128,64,1")
    i.add_argument("--m", type=_int_at_least(1), default=None, help="examples (with --plan)")
    i.add_argument("--dtype", choices=("float64", "float32"), default="float64",
                   help="training dtype (default: %(default)s)")
    i.add_argument("--iterations", type=_int_at_least(1), default=2500,
                   help="the fit's num_iterations (default: %(default)s)")
    i.add_argument("--cost-every", type=_int_at_least(0), default=100,
                   help="the fit's cost_every (default: %(default)s)")
    i.add_argument("--batch-size", type=_int_at_least(1), default=None,
                   help="with --plan: the mini-batch loop's products (dnn._loop_plan) for batches of "
                   "this size (dnn.model, the estimators) instead, Adam, a fit of --epochs epochs")
    i.add_argument("--epochs", type=_int_at_least(1), default=5000,
                   help="with --batch-size: the fit's epochs (default: %(default)s, dnn.model's)")
    return parser


# --------------------------------------------------------------------------
# Data for `train`
# --------------------------------------------------------------------------

def _not_regular(path, mode):
    from dnn._files import kind_of
    return UserError("%s is %s, not a folder of pictures or an HDF5 file" % (path, kind_of(mode)), code=2)


def _data_kind(path):
    """``"folder"``, ``"hdf5"`` or None (another file). Only a regular file is opened, and without
    waiting: reading a FIFO or a device could block for ever."""
    if path.is_dir():
        return "folder"
    mode = path.stat().st_mode
    if not stat.S_ISREG(mode):
        raise _not_regular(path, mode)
    # non-blocking: a FIFO put there meanwhile; binary: Windows' text mode would end at the
    # signature's \x1a and turn its \r\n into \n
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    with open(fd, "rb") as f:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise _not_regular(path, mode)
        return "hdf5" if f.read(8) == b"\x89HDF\r\n\x1a\n" else None


def _count_pictures(folder):
    """At most how many pictures ``dnn.data.load_folder`` reads: the folder's own and its class folders'."""
    from dnn.data import _class_dirs, list_images
    return len(list_images(folder)) + sum(len(list_images(os.path.join(folder, d))) for d in _class_dirs(folder))


def _load_training_data(args):
    """``(train_x_orig, train_y, test_x_orig, test_y, classes, description)``; images are (m, h, w, 3)."""
    from dnn import data
    from dnn.datasets import load_builtin

    if (args.train is None) != (args.test is None):
        raise UserError("give both --train and --test, or neither (for the built-in data set)", code=2)
    if args.train is None:
        if args.image_size is not None:
            raise UserError("--image-size applies to image folders only", code=2)
        train_x, train_y, test_x, test_y, classes = load_builtin(args.dataset)
        return train_x, train_y, test_x, test_y, [str(c) for c in classes], "built-in '%s'" % args.dataset

    paths = [Path(args.train), Path(args.test)]
    for p in paths:
        if not p.exists():
            raise UserError("no such file or folder: %s" % p, code=2)
    kinds = [_data_kind(p) for p in paths]
    if None in kinds:
        bad = paths[kinds.index(None)]
        raise UserError("%s is neither a folder of pictures nor an HDF5 file" % bad, code=2)
    if kinds[0] != kinds[1]:
        raise UserError("--train and --test must both be folders or both be HDF5 files", code=2)
    try:
        if kinds[0] == "hdf5":
            if args.image_size is not None:
                raise UserError("--image-size applies to image folders only", code=2)
            train_x, train_y, test_x, test_y, classes = data.load_data(*paths)
            classes = [c.decode("utf-8", "replace") if isinstance(c, bytes) else str(c) for c in classes]
            desc = "HDF5 %s, %s" % tuple(paths)
        else:
            size = args.image_size or data.DEFAULT_IMAGE_SIZE
            # Before a picture is read: the network and the run's memory, as for two classes
            # (a K-class output adds next to nothing to either).
            n_x, counts = size[0] * size[1] * 3, [_count_pictures(p) for p in paths]
            _check_size(args, n_x, counts[0], counts[1], 2,
                        sum(counts) * n_x * (4 + np.dtype(args.dtype).itemsize), folders=True)
            train_x, train_y, _, classes = data.load_folder(paths[0], size, args.positive)
            # More than two classes: the test folder is labelled by the training folder's names.
            test_x, test_y, _, test_classes = data.load_folder(
                paths[1], size, args.positive, classes=classes if len(classes) > 2 else None)
            if len(test_classes) != len(classes):
                raise UserError("the test folder has the classes %s but the training folder %s"
                                % (", ".join(test_classes), ", ".join(classes)))
            desc = "folders %s, %s" % tuple(paths)
    except ImportError as exc:  # h5py missing: the message names the extra
        raise UserError(str(exc)) from None
    except (OSError, ValueError) as exc:
        raise UserError(str(exc)) from None
    return train_x, train_y, test_x, test_y, list(classes), desc


@dataclasses.dataclass(frozen=True)
class _Net:
    """What the network computes: its hidden activation, output and L2 (the cost's term)."""
    hidden: str = "relu"
    output: str = "sigmoid"
    lambd: float = 0.0

    @property
    def course(self):
        return self.hidden == "relu" and self.output == "sigmoid"

    def forward(self, parameters, X):
        from dnn.functional import L_model_forward
        if self.course:   # the compiled path
            return L_model_forward(X, parameters)
        return L_model_forward(X, parameters, hidden_activation=self.hidden, output=self.output)


def _accuracy(parameters, X, Y, net=_Net()):
    """``(accuracy, p)``: p ``(1, m)`` the predicted labels (0/1, or class indices for softmax);
    None if an output is not finite (finite weights can overflow): no label is made of it."""
    with np.errstate(all="ignore"):
        AL, _ = net.forward(parameters, X)
    if not np.isfinite(AL).all():
        return None
    if net.output == "softmax":
        p = np.argmax(AL, axis=0).astype(np.float64).reshape(1, -1)
    else:
        p = (AL > 0.5).astype(np.float64)
    return float(np.mean(p == Y)), p


# --------------------------------------------------------------------------
# What a run needs, checked before it allocates it
# --------------------------------------------------------------------------

def _memory_limit():
    """The bytes this process may use: the machine's memory, or ``ulimit -v`` if lower (None if
    neither is known)."""
    limits = []
    try:
        limits.append(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):   # not POSIX
        pass
    try:
        import resource
        soft = resource.getrlimit(resource.RLIMIT_AS)[0]
        if soft != resource.RLIM_INFINITY:
            limits.append(soft)
    except (ImportError, AttributeError, ValueError, OSError):
        pass
    return min(limits) if limits else None


def _n_weights(dims):
    return sum(o * (i + 1) for i, o in zip(dims, dims[1:]))


def _fit_bytes(dims, m, itemsize, data_bytes):
    """Roughly what a fit of layer sizes ``dims`` holds at once: ``data_bytes`` (the data), the
    weights four times (the parameters, their gradients, an optimizer's two moments) and three
    arrays (Z, A and a gradient) of each layer's units for ``m`` examples (a batch, or the
    whole set that the accuracy is measured on)."""
    return data_bytes + itemsize * (4 * _n_weights(dims) + 3 * m * sum(dims[1:]))


def _gib(n):
    return "%.1f GiB" % (n / 2**30) if n >= 2**30 else "%.0f MiB" % (n / 2**20)


def _dims_text(dims, sep="-"):
    dims = [str(d) for d in dims]
    return sep.join(dims if len(dims) <= 8 else dims[:4] + ["..."] + dims[-2:])


def _check_memory(needed, what, advice):
    limit = _memory_limit()
    if limit is not None and needed > limit:
        raise UserError("%s needs about %s of memory, more than the %s this process may use (the "
                        "machine's, or ulimit -v); %s" % (what, _gib(needed), _gib(limit), advice))


def _check_size(args, n_x, m, m_test, K, data_bytes, folders=False):
    """Before the run's arrays are made: its network fits a model file (``save_model``'s
    ``MAX_TOTAL_BYTES`` of weights) and the run fits in memory (``_fit_bytes``)."""
    from dnn.model_io import MAX_TOTAL_BYTES
    dims = [n_x] + list(args.layers) + [1 if K <= 2 else K]
    itemsize = np.dtype(args.dtype).itemsize
    smaller = "use a smaller --layers or --image-size" if folders else "use a smaller --layers"
    weights = _n_weights(dims)
    if weights * itemsize > MAX_TOTAL_BYTES:
        raise UserError("a network of %s has %d weights, %s of %s; a model file holds at most %s: %s"
                        % (_dims_text(dims), weights, _gib(weights * itemsize), args.dtype,
                           _gib(MAX_TOTAL_BYTES), smaller))
    _check_memory(_fit_bytes(dims, max(m, m_test), itemsize, data_bytes),
                  "training %s on %d + %d pictures" % (_dims_text(dims), m, m_test), smaller)


# --------------------------------------------------------------------------
# Commands
# --------------------------------------------------------------------------

def _check_out(out):
    """The cheap check of --out, before the data is read."""
    if out.exists() and not out.is_dir():
        raise UserError("--out %s exists and is not a folder" % out, code=2)


def _prepare_out(out):
    """Create the output folder and check it can be written, before any training."""
    _check_out(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as exc:
        raise UserError("cannot write to the output folder %s (%s)" % (out, exc.strerror or exc))


def _final_cost(parameters, X, Y, net=_Net()):
    """The cost of the trained parameters (after the last iteration), or None if not finite:
    the cross-entropy (plus the L2 term, with --l2) on the whole training set, without dropout."""
    from dnn.functional import compute_cost
    from dnn.losses import compute_cost_with_regularization
    AL, caches = net.forward(parameters, X)
    if net.course and not net.lambd:
        cost = float(compute_cost(AL, Y))
    else:
        with np.errstate(all="ignore"):
            cost = float(compute_cost_with_regularization(AL, Y, parameters, net.lambd, output=net.output,
                                                          ZL=caches[-1][1]))
    return cost if np.isfinite(cost) else None


def _diverged(what, iterations, learning_rate, unit="iterations", lambd=0.0):
    """The one line of a run that diverged; it names --l2 when it is set (it can be the cause)."""
    return UserError("training diverged: %s not finite (inf or nan) after %d %s at learning rate %g%s; "
                     "nothing was written (try a smaller %s)"
                     % (what, iterations, unit, learning_rate, ", L2 %g" % lambd if lambd else "",
                        "--l2 or --learning-rate" if lambd else "--learning-rate"))


def _check_finite(parameters, iterations, learning_rate, unit="iterations", lambd=0.0):
    """A run that diverged to inf or nan has nothing to save or measure: one line, status 1."""
    if not all(np.isfinite(a).all() for a in parameters.values()):
        raise _diverged("the weights are", iterations, learning_rate, unit, lambd)


def _write_results(out, parameters, image_shape, classes, metadata, metrics, plots, net=_Net()):
    """model.npz first, then metrics.json, then the plots; stale plots of an earlier run go."""
    from dnn.model_io import save_model
    written = [save_model(out / "model.npz", parameters, image_shape=image_shape, classes=classes,
                          metadata=metadata, hidden_activation=net.hidden, output=net.output)]
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    written.append(out / "metrics.json")
    if plots is not None:
        try:
            written += plots(out)
        except ImportError as exc:
            _say("no plots: %s" % exc)
    for stale in ("costs.png", "mislabeled.png"):
        if out / stale not in written and (out / stale).is_file():
            (out / stale).unlink()
    return written


def _course2_settings(args, m, K):
    """dnn.model's settings for the options given, ``(settings, net)``, or None when none of the
    second part's options is given and the data has two classes (then L_layer_model trains)."""
    if K <= 2 and all(getattr(args, name) is None for name in COURSE2_OPTIONS):
        return None
    if args.epochs is not None and args.iterations is not None:
        raise UserError("give --epochs or --iterations, not both (one full-batch iteration is an epoch)", code=2)
    optimizer = args.optimizer or "gd"
    batch = args.batch_size or (m if optimizer == "gd" else DEFAULT_BATCH_SIZE)
    full = optimizer == "gd" and args.batch_size is None
    epochs = args.epochs or args.iterations or (DEFAULT_ITERATIONS if full else DEFAULT_EPOCHS)
    net = _Net(args.activation or "relu", "softmax" if K > 2 else "sigmoid", args.l2 or 0.0)
    settings = {"optimizer": optimizer, "mini_batch_size": min(batch, m), "num_epochs": epochs,
                "lambd": net.lambd, "keep_prob": 1.0 if args.keep_prob is None else args.keep_prob,
                "hidden_activation": net.hidden, "output": net.output}
    for name, default in (("beta", 0.9), ("beta1", 0.9), ("beta2", 0.999)):
        settings[name] = default if getattr(args, name) is None else getattr(args, name)
    return settings, net


def _cmd_train(args):
    from dnn import __version__
    from dnn.data import flatten_images
    from dnn.model_io import MAX_CLASSES, MAX_LAYERS, _description
    from dnn.course_model import _check_shuffle_seeds
    from dnn.models import L_layer_model
    from dnn._progress import ProgressBar

    _check_out(args.out)
    if len(args.layers) >= MAX_LAYERS:
        raise UserError("--layers: a model file holds at most %d layers, so at most %d hidden ones; got %d"
                        % (MAX_LAYERS, MAX_LAYERS - 1, len(args.layers)), code=2)
    train_x, train_y, test_x, test_y, classes, desc = _load_training_data(args)
    dtype = np.dtype(args.dtype)
    image_shape = tuple(int(s) for s in train_x.shape[1:])
    if tuple(test_x.shape[1:]) != image_shape:
        raise UserError("train pictures are %s but test pictures are %s" % (train_x.shape[1:], test_x.shape[1:]))
    K = len(classes)
    if K > MAX_CLASSES:
        raise UserError("%d classes; a model file holds at most %d" % (K, MAX_CLASSES))
    m, m_test, n_x = train_x.shape[0], test_x.shape[0], math.prod(image_shape)
    _check_size(args, n_x, m, m_test, K,
                train_x.nbytes + test_x.nbytes + (m + m_test) * n_x * dtype.itemsize)   # the data, and X
    course2 = _course2_settings(args, m, K)
    layers_dims = [n_x] + list(args.layers) + [1 if K <= 2 else K]
    if course2 is None:
        net, unit = _Net(), "iterations"
        steps = args.iterations or DEFAULT_ITERATIONS
        network = ("network: %s, init %s, %s, learning rate %g, %d iterations"
                   % ("-".join(map(str, layers_dims)), args.init, dtype.name, args.learning_rate, steps))
        settings = {
            "layers_dims": layers_dims, "learning_rate": args.learning_rate,
            "num_iterations": steps, "init": args.init, "seed": args.seed,
            "dtype": dtype.name, "cost_every": args.cost_every,
        }
    else:
        extra, net = course2
        unit, steps = "epochs", extra["num_epochs"]
        try:  # dnn.model's refusal, before anything is written
            _check_shuffle_seeds(args.seed, steps)
        except ValueError:
            raise UserError("--seed %d with --epochs %d: epoch i shuffles with seed + 1 + i, which must stay "
                            "below 2**32" % (args.seed, steps), code=2) from None
        regular = "".join((", L2 %g" % net.lambd if net.lambd else "",
                           ", keep_prob %g" % extra["keep_prob"] if extra["keep_prob"] < 1 else ""))
        network = ("network: %s (%s hidden, %s output), init %s, %s, %s, batch %d, learning rate %g, "
                   "%d epochs%s" % ("-".join(map(str, layers_dims)), net.hidden, net.output, args.init,
                                    dtype.name, extra["optimizer"], extra["mini_batch_size"],
                                    args.learning_rate, steps, regular))
        settings = {"layers_dims": layers_dims, "learning_rate": args.learning_rate, "init": args.init,
                    "seed": args.seed, "dtype": dtype.name, "cost_every": args.cost_every, **extra}
    # What save_model would refuse after the run (a class name too long, ...) is refused before it.
    try:
        _description(layers_dims, dtype, image_shape=image_shape, classes=classes,
                     metadata={"dnn_version": __version__, "data": desc, **settings},
                     hidden_activation=net.hidden, output=net.output)
    except (ValueError, TypeError) as exc:
        raise UserError("this run's model could not be saved: %s" % exc) from None

    # Cast before scaling: integer pixels give the same X from a folder or an HDF5 file.
    X, Xt = flatten_images(train_x, dtype), flatten_images(test_x, dtype)
    # Labels: 0/1 for two classes (a sigmoid output), class indices 0..K-1 for more (softmax).
    Y, Yt = train_y.reshape(1, -1).astype(dtype), test_y.reshape(1, -1).astype(dtype)
    _prepare_out(args.out)

    names = " ".join("%d=%s" % kc for kc in enumerate(classes[:10])) + (" ..." if K > 10 else "")
    _say("data: %s: %d train / %d test pictures of %dx%d RGB (%d inputs), classes %s"
         % (desc, m, m_test, image_shape[1], image_shape[0], n_x, names))
    _say(network)

    def train(callback):
        if course2 is None:
            return L_layer_model(
                X, Y, layers_dims, args.learning_rate, steps, print_cost=False,
                init=args.init, seed=args.seed, dtype=dtype, return_costs=True,
                cost_every=args.cost_every, callback=callback)
        from dnn.course_model import model
        o = course2[0]
        return model(X, Y, layers_dims, o["optimizer"], args.learning_rate, o["mini_batch_size"], o["beta"],
                     o["beta1"], o["beta2"], num_epochs=steps, print_cost=False, lambd=o["lambd"],
                     keep_prob=o["keep_prob"], hidden_activation=o["hidden_activation"], output=o["output"],
                     init=args.init, seed=args.seed, dtype=dtype, return_costs=True,
                     cost_every=args.cost_every, callback=callback)

    bar = None if args.quiet else ProgressBar(steps)
    start = time.perf_counter()
    try:
        with warnings.catch_warnings():
            # A run that diverges is told in one line below (_check_finite, or the cost that did not go
            # down), not also by the library's RuntimeWarning and the source line it quotes.
            warnings.filterwarnings("ignore", "training diverged", RuntimeWarning)
            parameters, costs = train(bar)
    except KeyboardInterrupt as exc:
        if bar is not None:
            bar.close()
        parameters = getattr(exc, "parameters", None)
        if parameters is None:
            raise
        done = getattr(exc, "iterations", 0)
        _check_finite(parameters, done, args.learning_rate, unit, net.lambd)
        metadata = {"dnn_version": __version__, "data": desc, **settings, "interrupted_after": done}
        metrics = {**metadata, "costs": getattr(exc, "costs", [])}
        written = _write_results(args.out, parameters, image_shape, classes, metadata, metrics, None, net)
        _warn("interrupted after %d of %d %s; saved the parameters reached: %s"
              % (done, steps, unit, ", ".join(str(p) for p in written)))
        return 130
    if bar is not None:
        bar.close()
    seconds = time.perf_counter() - start
    _check_finite(parameters, steps, args.learning_rate, unit, net.lambd)

    scores = _accuracy(parameters, X, Y, net), _accuracy(parameters, Xt, Yt, net)
    if None in scores:   # finite weights that overflow: no accuracy is made of nan outputs
        which = "training" if scores[0] is None else "test"
        raise _diverged("the network's outputs on the %s set are" % which, steps, args.learning_rate, unit,
                        net.lambd)
    (train_acc, _), (test_acc, test_p) = scores
    final_cost = _final_cost(parameters, X, Y, net)
    metrics = {
        "dnn_version": __version__, "data": desc, "classes": classes,
        "image_shape": list(image_shape), "n_train": int(X.shape[1]), "n_test": int(Xt.shape[1]),
        **settings,
        "train_accuracy": train_acc, "test_accuracy": test_acc,
        "final_cost": final_cost, "costs": costs, "train_seconds": round(seconds, 3),
    }

    def plots(out):
        from dnn.plotting import plot_costs, plot_mislabeled_images
        made = []
        if costs:
            plot_costs(costs, args.learning_rate, cost_every=args.cost_every, path=out / "costs.png")
            made.append(out / "costs.png")
        if K == 2 and plot_mislabeled_images(classes, Xt, Yt, test_p, image_shape=image_shape,
                                             path=out / "mislabeled.png") is not None:
            made.append(out / "mislabeled.png")
        return made

    # Results go to disk before anything is printed: a closed stdout cannot lose them.
    written = _write_results(args.out, parameters, image_shape, classes,
                             {"dnn_version": __version__, "data": desc, **settings,
                              "train_accuracy": train_acc, "test_accuracy": test_acc},
                             metrics, plots, net)
    _say("trained in %.1f s; final cost %s after %d %s"
         % (seconds, "%.6f" % final_cost if final_cost is not None else "not finite", steps, unit))
    _say("train accuracy: %.4f (%d/%d)" % (train_acc, round(train_acc * X.shape[1]), X.shape[1]))
    _say("test accuracy:  %.4f (%d/%d)" % (test_acc, round(test_acc * Xt.shape[1]), Xt.shape[1]))
    if costs and (final_cost is None or final_cost >= costs[0]):
        _warn("warning: the cost did not go down (%.6f at %s 0, %s at the end): the learning rate%s "
              "may be too large" % (costs[0], unit[:-1], "%.6f" % final_cost if final_cost is not None
                                    else "not finite", " or --l2" if net.lambd else ""))
    _say("wrote %s" % ", ".join(str(p) for p in written))
    return 0


def _expand_images(paths):
    from dnn.data import _image_extensions, _is_image_name
    extensions = _image_extensions()
    files = []
    for p in paths:
        if p.is_dir():
            found = []
            for root, dirs, names in os.walk(p):
                dirs[:] = [d for d in dirs if not d.startswith(".")]
                found += [Path(root) / n for n in names if _is_image_name(n, extensions)]
            if not found:
                raise UserError("no pictures in folder %s" % p)
            files += sorted(found, key=lambda f: f.relative_to(p).as_posix())
        elif p.is_file():
            files.append(p)
        else:
            raise UserError("no such file or folder: %s" % p, code=2)
    return files


def _cmd_predict(args):
    from dnn.data import flatten_images, read_image
    from dnn.model_io import load_model

    try:
        model = load_model(args.model)
    except (OSError, ValueError) as exc:
        raise UserError(str(exc)) from None
    if model.image_shape is None:
        raise UserError("%s was not trained on pictures (it has no image size)" % args.model)
    if model.output == "identity":
        raise UserError("%s is a regression model (identity output); dnn predict labels pictures "
                        "with a classifier" % args.model)
    height, width, _ = model.image_shape
    files, pictures, failed = [], [], 0
    for f in _expand_images(args.images):
        try:
            pictures.append(read_image(f, (width, height)))
            files.append(f)
        except (OSError, ValueError) as exc:
            # One unreadable picture is reported; the others are still labelled.
            _warn("error: %s" % exc)
            failed += 1
    if pictures:
        with np.errstate(all="ignore"):   # an output that is not finite is reported below
            AL = model.predict_proba(flatten_images(np.stack(pictures), model.dtype))
        finite = np.isfinite(AL).all(axis=0)
        if model.output == "softmax":   # the predicted class and its probability
            labels = np.argmax(AL, axis=0)
            proba = AL[labels, np.arange(AL.shape[1])]
        else:                           # the probability of class 1, labelled at 0.5
            proba = AL[0]
            labels = (proba > 0.5).astype(int)
        if not args.json:
            _say("%-11s %-5s %-12s %s" % ("probability", "label", "class", "file"))
        for f, pr, label, ok in zip(files, proba, labels, finite):
            if not ok:   # never a label: reported as an unreadable picture is
                _warn("error: %s: the model's output is not finite (nan or inf) for this picture: "
                      "its weights overflow; no label" % f)
                failed += 1
                continue
            label = int(label)
            if args.json:
                _say(json.dumps({"file": str(f), "probability": float(pr), "label": label,
                                 "class": model.classes[label]}))
            else:
                _say("%-11.4f %-5d %-12s %s" % (pr, label, model.classes[label], f))
    return 1 if failed else 0


def _cmd_bench(argv):
    try:
        from dnn import bench
    except ImportError as exc:
        raise UserError("dnn bench is not available in this installation (%s)" % exc) from None
    return bench.main(argv) or 0


def _version(name):
    try:
        from importlib.metadata import version
        return version(name)
    except Exception:  # not installed, or metadata unreadable: say so, never fail `dnn info`
        return None


def _blas_lines():
    """What BLAS dnn's kernels call (SciPy's, through cython_blas) and with how many threads."""
    from threadpoolctl import threadpool_info
    import scipy.linalg  # noqa: F401  (load SciPy's BLAS so that it is listed)

    lines = []
    for lib in threadpool_info():
        if lib.get("user_api") != "blas":
            continue
        path = lib.get("filepath", "")
        owner = ("scipy (used by dnn)" if "scipy" in path and "numpy" not in path
                 else "numpy" if "numpy" in path else "other")
        lines.append("BLAS: %s %s, %s threads, %s [%s] %s" % (
            lib.get("internal_api"), lib.get("version"), lib.get("num_threads"),
            lib.get("architecture") or "", owner, path))
    return lines or ["BLAS: none that threadpoolctl knows (dnn trains on one thread beside it)"]


def _cmd_info(args):
    import dnn
    print("dnn %s (%s)" % (getattr(dnn, "__version__", _version("dnn-course") or "unknown"), Path(dnn.__file__).parent))
    print("python %s, numpy %s, scipy %s, pillow %s" % (
        platform.python_version(), np.__version__, _version("scipy"), _version("pillow")))
    info = None
    try:
        from dnn import _kernels
        info = getattr(_kernels, "BUILD_INFO", None)
        flags = ", ".join("%s=%s" % kv for kv in sorted(info.items())) if info else "no BUILD_INFO recorded"
        print("compiled extension: %s (%s)" % (Path(_kernels.__file__).name, flags))
    except ImportError as exc:
        print("compiled extension: missing (%s)" % exc)
    try:
        from dnn import _train
        if info and info.get("simd_baseline") == "scalar":
            print("own vector kernels: none, portable scalar loops (built without vector extensions: "
                  "MSVC's Windows wheels, or DNN_NO_VECTOR_EXT; README, \"Windows\")")
        else:
            print("own vector kernels: %s build (best this CPU runs: %s)"
                  % (_train.simd_kernels(), _train.simd_cpu_level()))
    except ImportError as exc:
        print("own vector kernels: missing (%s)" % exc)
    for line in _blas_lines():
        print(line)
    extras = [("h5py", "hdf5"), ("matplotlib", "plot"), ("tqdm", "progress")]
    parts = []
    for mod, extra in extras:
        v = _version(mod)
        parts.append("%s %s" % (mod, v) if v else '%s not installed (pip install "dnn-course[%s]")' % (mod, extra))
    print("optional: " + ", ".join(parts))
    if args.plan is not None:
        _print_plan(args)
    return 0


def _print_plan(args):
    from dnn import _plan
    from dnn._blas_threads import blas_threads

    dims = args.plan
    if args.batch_size is not None:
        return _print_loop_plan(args)
    if len(dims) < 2 or dims[-1] != 1:
        raise UserError("--plan: layer sizes from the input to an output layer of 1 unit, "
                        "e.g. 784,256,1; got %s" % ",".join(map(str, dims)))
    if args.m is None:
        raise UserError("--plan needs --m, the number of examples")
    if max(dims) * args.m > 2**31 - 1:
        raise UserError("--plan: a layer of %d units on %d examples has too many elements "
                        "(the limit is 2**31 - 1)" % (max(dims), args.m))
    dtype = np.dtype(args.dtype)
    n, m = args.iterations, args.m
    chunk = min(([args.cost_every] if args.cost_every else []) + [n])
    plan = _plan.plan_for(dims, m, dtype, n, chunk)
    if plan is None:   # to be measured on X (n_x, m) and a network of these sizes
        _check_memory(_fit_bytes(dims, m, dtype.itemsize, dims[0] * m * dtype.itemsize),
                      "--plan: measuring the plan of %s on %d examples" % (_dims_text(dims, ","), m),
                      "use smaller --plan sizes or --m")
    print("plan of a fit of %s on %d examples, %s, %d iterations (BLAS threads %d, cores %d, "
          "wisdom %s):" % (",".join(map(str, dims)), m, dtype.name, n, blas_threads(),
                           _plan.cores(), _plan.wisdom_path() or "off"))
    if plan is None:
        from dnn.reference import initialize_parameters_deep

        rng = np.random.default_rng(0)
        X = rng.random((dims[0], m)).astype(dtype)
        Y = (rng.random((1, m)) < 0.5).astype(dtype)
        params = initialize_parameters_deep(list(dims), dtype=dtype)
        L = len(dims) - 1
        plan = _plan.choose([params["W%d" % l] for l in range(1, L + 1)],
                            [params["b%d" % l] for l in range(1, L + 1)], X, Y, 0.0075, n, chunk)
        plan = dataclasses.replace(plan, source="measured now")
    print("  " + plan.describe())
    others = _plan.candidates(dims, m, dtype, n, chunk)
    if n >= _plan.PLAN_MIN_ITERATIONS and len(others) > 1:
        print("  candidates timed: " + ", ".join(p.code() for p in others))


def _print_loop_plan(args):
    from dnn import _loop_plan, _plan
    from dnn._blas_threads import blas_threads

    dims, m, dtype = args.plan, args.m, np.dtype(args.dtype)
    if len(dims) < 2:
        raise UserError("--plan: layer sizes from the input to the output, e.g. 784,256,1; got %s"
                        % ",".join(map(str, dims)))
    if m is None:
        raise UserError("--plan needs --m, the number of examples")
    b = min(args.batch_size, m)
    if max(dims) * max(b, max(dims)) > 2**31 - 1 or max(dims) * m > 2**31 - 1:
        raise UserError("--plan: layers of %s on %d examples have too many elements (the limit is "
                        "2**31 - 1)" % (",".join(map(str, dims)), m))
    n_batches = args.epochs * -(-m // b)
    plan = _loop_plan.plan_for(dims, b, dtype, n_batches)
    if plan is None:   # to be measured on X (m, n_x), Y (m, K) and Adam's state for these sizes
        _check_memory(_fit_bytes(dims, b, dtype.itemsize, m * (dims[0] + dims[-1]) * dtype.itemsize),
                      "--plan: measuring the plan of %s on %d examples" % (_dims_text(dims, ","), m),
                      "use smaller --plan sizes or --m")
    print("mini-batch plan of a fit of %s on %d examples, batches of %d, %s, %d epochs (BLAS threads "
          "%d, cores %d, wisdom %s):" % (",".join(map(str, dims)), m, b, dtype.name, args.epochs,
                                         blas_threads(), _plan.cores(), _plan.wisdom_path() or "off"))
    if plan is None:
        rng = np.random.default_rng(0)
        K = dims[-1]
        X = rng.random((m, dims[0])).astype(dtype)
        Y = ((rng.random((m, 1)) < 0.5).astype(dtype) if K == 1
             else np.eye(K, dtype=dtype)[rng.integers(0, K, m)])
        layers = [((rng.standard_normal((o, i)) * np.sqrt(2 / i)).astype(dtype), np.zeros((o, 1), dtype))
                  for o, i in zip(dims[1:], dims)]
        zeros = [(np.zeros_like(W), np.zeros_like(bb)) for W, bb in layers]
        kw = dict(output="sigmoid" if K == 1 else "softmax", optimizer="adam", batch_size=b, v=zeros,
                  s=[(W.copy(), bb.copy()) for W, bb in zeros])
        plan = _loop_plan.plan_for(dims, b, dtype, n_batches, True, (layers, X, Y, kw, 0.0007, 0, 0))
        plan = dataclasses.replace(plan, source="measured now")
    print("  " + plan.describe())
    others = _loop_plan.candidates(dims, b, dtype)
    if n_batches >= _loop_plan.MIN_BATCHES and len(others) > 1:
        print("  candidates timed: " + ", ".join(p.code() for p in others))


_COMMANDS = {"train": _cmd_train, "predict": _cmd_predict, "info": _cmd_info}


def main(argv=None):
    """Run the ``dnn`` command with ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    global _stdout_closed
    _stdout_closed = False
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        with warnings.catch_warnings():
            # Pictures past Pillow's bomb limit are refused by dnn.data.read_image;
            # Pillow's warning about them would only be a second, untidy line.
            warnings.filterwarnings("ignore", message=".*decompression bomb", module="PIL")
            return _main(argv)
    finally:
        try:
            sys.stdout.flush()
        except BrokenPipeError:
            _silence_stdout()
        except (OSError, ValueError):
            pass


def _main(argv):
    try:
        if argv[:1] == ["bench"]:
            return _cmd_bench(argv[1:])
        parser = _build_parser()
        args = parser.parse_args(argv)
        if args.version:
            from dnn import __version__
            print("dnn %s" % __version__)
            return 0
        if args.command is None:
            parser.print_help()
            return 2
        return _COMMANDS[args.command](args)
    except UserError as exc:
        msg = " ".join(str(exc).split())  # one line, whatever the message held
        _stderr(msg if msg.startswith("dnn") else "dnn: error: %s" % msg)
        return exc.code
    except BrokenPipeError:
        _silence_stdout()
        return 0
    except OSError as exc:  # writing results: a full disk, a folder removed meanwhile...
        _warn("error: %s" % " ".join(str(exc).split()))
        return 1
    except MemoryError as exc:  # what the size checks could not foresee
        _warn("error: out of memory%s" % (": " + " ".join(str(exc).split()) if str(exc) else ""))
        return 1
    except KeyboardInterrupt:
        _warn("interrupted")
        return 130

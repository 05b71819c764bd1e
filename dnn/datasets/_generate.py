"""Generator of the built-in ``bars`` data set (``dnn/datasets/bars.npz``) and of
its three-class twin ``bars3`` (a bar horizontal, vertical or diagonal; cheap
enough to make when loaded, so not shipped).

Each picture is a 24x24 RGB image: a smooth two-colour background gradient,
one bar of a random colour, length and position, and per-pixel noise. The
label is the bar's orientation: 1 for a vertical bar ("vertical"), 0 for a
horizontal one ("horizontal"). Both classes draw length, thickness, colour,
contrast and position from the same distributions (a vertical bar is a
horizontal one turned by 90 degrees), so brightness or colour alone says
nothing about the class: a classifier has to find the bar's orientation
wherever it is, against a changing background, through the noise. The
course's 4-layer network learns most of it but not all (about 0.99 train and
0.93 test accuracy with the course's recipe), so test accuracy means something.

The file is committed to the package so that ``dnn train`` needs no
download; this script rebuilds it bit for bit::

    python -m dnn.datasets._generate            # rewrite dnn/datasets/bars.npz
    python -m dnn.datasets._generate --check    # verify the shipped file

Why it is bit-exact everywhere: random numbers come from NumPy's legacy
``RandomState`` (whose streams NumPy keeps frozen across versions) and are
drawn as integers or uniform doubles; the drawing uses only comparisons,
+, -, * and / of small exact values (no sin/exp, whose last bit varies by
platform), and the final rounding is explicit.
"""

import argparse
import hashlib
import sys
from pathlib import Path

import numpy as np

from dnn.datasets import ARRAY_NAMES, BUILTIN

FILENAME = BUILTIN["bars"]

SEED = 20240607
SEED3 = 20261204    # bars3's stream
SIZE = 24
N_TRAIN = 480
N_TEST = 240
JITTER = 3.0        # the bar's centre moves up to this many pixels each way
SIDE_MIN, SIDE_MAX = 9, 14   # bar length in pixels (inclusive); thickness is a third of it
CLASSES = ("horizontal", "vertical")
CLASSES3 = ("horizontal", "vertical", "diagonal")
HALF_SQRT2 = 0.7071067811865476  # a diagonal bar's axes: (dx + dy) and (dy - dx) times this
NOISE = 12          # noise amplitude: uniform integers in [-NOISE, NOISE]

# sha256 of the arrays' bytes, in the order of ARRAY_NAMES (see digest()).
# The test suite checks the shipped file and a fresh generation against it.
SHA256 = "ba3da85c13194d7b473bb56d8b89b0a8665869e2f6fb211d1804c07c4317665e"
SHA256_BARS3 = "57700f07d32bc6a42f2e37fbae448bd312cf7517b46b6c2f21d6648c8e41cddb"  # generated, not shipped: the tests check it


def _bar(dy, dx, side):
    """A horizontal bar: ``side`` long, a third of it thick (offsets from its centre)."""
    return (np.abs(dy) <= side / 6.0) & (np.abs(dx) <= side / 2.0)


def _shape_mask(label, dy, dx, side):
    # Label 1 is the same bar turned by 90 degrees: a vertical bar; label 2 (bars3) by 45.
    if label == 2:
        return _bar((dy - dx) * HALF_SQRT2, (dy + dx) * HALF_SQRT2, side)
    return _bar(dx, dy, side) if label == 1 else _bar(dy, dx, side)


def _render(rs, label):
    """One (SIZE, SIZE, 3) uint8 picture of a horizontal (label 0), vertical (1) or diagonal (2) bar."""
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float64)

    # Background: a linear blend between two random colours along a random
    # axis (horizontal, vertical or a diagonal), so the scene's mean colour
    # varies from picture to picture.
    c0 = rs.randint(0, 256, size=3).astype(np.float64)
    c1 = rs.randint(0, 256, size=3).astype(np.float64)
    axis = rs.randint(0, 4)
    t = [xx, yy, (xx + yy) / 2.0, (xx + (SIZE - 1 - yy)) / 2.0][axis] / (SIZE - 1)
    img = c0 + (c1 - c0) * t[..., None]

    # The bar: same length distribution for both classes, centre jittered
    # around the middle of the picture.
    side = rs.randint(SIDE_MIN, SIDE_MAX + 1)
    cy = SIZE / 2.0 + rs.uniform(-JITTER, JITTER)
    cx = SIZE / 2.0 + rs.uniform(-JITTER, JITTER)
    # The bar's colour is kept away from the background's mean so the
    # bar is visible, but its brightness is random for both classes.
    colour = rs.randint(0, 256, size=3).astype(np.float64)
    mean_bg = (c0 + c1) / 2.0
    near = np.abs(colour - mean_bg).max() < 80
    if near:
        colour = np.where(mean_bg < 128, np.minimum(colour + 128, 255), np.maximum(colour - 128, 0))
    py, px = yy + 0.5, xx + 0.5          # pixel centres
    mask = _shape_mask(label, py - cy, px - cx, side)
    img[mask] = colour

    noise = rs.randint(-NOISE, NOISE + 1, size=(SIZE, SIZE, 3)).astype(np.float64)
    img = np.floor(img + noise + 0.5)
    return np.clip(img, 0, 255).astype(np.uint8)


def _split(rs, m, k):
    # Exactly m / k of each of the k classes, in a random order.
    labels = np.array(list(range(k)) * (m // k), dtype=np.int64)
    labels = labels[rs.permutation(m)]
    x = np.empty((m, SIZE, SIZE, 3), dtype=np.uint8)
    for i in range(m):
        x[i] = _render(rs, int(labels[i]))
    return x, labels


def generate(name="bars"):
    """The data set ``name`` (``"bars"`` or ``"bars3"``) as a dict of arrays, named as the
    course's HDF5 files.

    ``train_set_x`` (N_TRAIN, 24, 24, 3) uint8, ``train_set_y`` (N_TRAIN,) int64,
    ``test_set_x`` (N_TEST, 24, 24, 3) uint8, ``test_set_y`` (N_TEST,) int64 and
    ``list_classes`` (K,) unicode (``CLASSES``, or ``CLASSES3`` for bars3), the label indexing it.
    """
    classes, seed = {"bars": (CLASSES, SEED), "bars3": (CLASSES3, SEED3)}[name]
    rs = np.random.RandomState(seed)
    train_x, train_y = _split(rs, N_TRAIN, len(classes))
    test_x, test_y = _split(rs, N_TEST, len(classes))
    return {
        "train_set_x": train_x,
        "train_set_y": train_y,
        "test_set_x": test_x,
        "test_set_y": test_y,
        "list_classes": np.array(classes),
    }


def digest(arrays):
    """sha256 over the names, dtypes, shapes and bytes of ``arrays`` (dict), in ARRAY_NAMES order."""
    h = hashlib.sha256()
    for name in ARRAY_NAMES:
        a = np.ascontiguousarray(arrays[name])
        h.update(("%s|%s|%s|" % (name, a.dtype.str, a.shape)).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def default_path():
    """Where the shipped file lives: beside this module."""
    return Path(__file__).resolve().parent / FILENAME


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m dnn.datasets._generate",
        description="Rebuild (or --check) the built-in 'bars' data set of dnn.",
    )
    parser.add_argument("--out", type=Path, default=None, help="file to write (default: the package's bars.npz)")
    parser.add_argument("--check", action="store_true", help="only verify that the shipped file matches the generator")
    args = parser.parse_args(argv)
    arrays = generate()
    got = digest(arrays)
    if got != SHA256:
        print("generator output sha256 %s != expected %s" % (got, SHA256), file=sys.stderr)
        return 1
    path = args.out or default_path()
    if args.check:
        with np.load(path, allow_pickle=False) as f:
            shipped = {k: f[k] for k in ARRAY_NAMES}
        if digest(shipped) != SHA256:
            print("%s does not match the generator" % path, file=sys.stderr)
            return 1
        print("%s matches the generator (sha256 %s)" % (path, SHA256))
        return 0
    np.savez_compressed(path, **arrays)
    print("wrote %s (%d bytes, sha256 of arrays %s)" % (path, path.stat().st_size, got))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Data sets shipped inside the package, so that ``dnn train`` needs no download.

``bars``: 720 synthetic 24x24 RGB pictures (480 train, 240 test, half of each
class) of one bar on a noisy, randomly coloured background; label 1 when the
bar is vertical, 0 when horizontal. Colour, brightness, length and position
are random for both classes, so only the bar's orientation tells them apart.
It is made by ``dnn/datasets/_generate.py`` (deterministic, bit-exact) and
stored as ``bars.npz`` (about 1.2 MB).
"""

from pathlib import Path

import numpy as np

from dnn.datasets import _generate

__all__ = ["BUILTIN", "load_builtin"]

# name -> file beside this module. One set today; the table keeps the CLI's
# --dataset choices and the loader in one place.
BUILTIN = {"bars": _generate.FILENAME}


def load_builtin(name="bars"):
    """Load a built-in data set, in the structure of the course's ``load_data()``.

    Returns ``(train_set_x_orig, train_set_y, test_set_x_orig, test_set_y, classes)``:
    images ``(m, h, w, 3)`` uint8, labels ``(1, m)`` int64 in {0, 1}, and
    ``classes`` a ``(2,)`` unicode array where ``classes[label]`` names the class.
    """
    if name not in BUILTIN:
        raise ValueError("unknown built-in data set %r; available: %s" % (name, ", ".join(sorted(BUILTIN))))
    path = Path(__file__).resolve().parent / BUILTIN[name]
    with np.load(path, allow_pickle=False) as f:
        arrays = {k: f[k] for k in _generate.ARRAY_NAMES}
    return (
        arrays["train_set_x"],
        arrays["train_set_y"].reshape(1, -1),
        arrays["test_set_x"],
        arrays["test_set_y"].reshape(1, -1),
        arrays["list_classes"],
    )

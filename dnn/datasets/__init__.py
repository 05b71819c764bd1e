"""Data sets inside the package, so that ``dnn train`` needs no download.

``bars``: 720 synthetic 24x24 RGB pictures (480 train, 240 test, half of each
class) of one bar on a noisy, randomly coloured background; label 1 when the
bar is vertical, 0 when horizontal. Colour, brightness, length and position
are random for both classes, so only the bar's orientation tells them apart.
It is made by ``dnn/datasets/_generate.py`` (deterministic, bit-exact) and
stored as ``bars.npz`` (about 1.2 MB).

``bars3``: the same pictures in three classes (horizontal 0, vertical 1,
diagonal 2; a third of each), for a softmax network; made by the generator
when loaded (in a fraction of a second; its digest is tested).
"""

from pathlib import Path

import numpy as np

__all__ = ["BUILTIN", "load_builtin"]

# name -> where it comes from: the file beside this module, or None (generated when
# loaded). The table keeps the CLI's --dataset choices and the loader in one place.
# (_generate is imported when needed: ``python -m dnn.datasets._generate`` runs it as a
# script, which a module imported here first would shadow.)
BUILTIN = {"bars": "bars.npz", "bars3": None}
ARRAY_NAMES = ("train_set_x", "train_set_y", "test_set_x", "test_set_y", "list_classes")


def load_builtin(name="bars"):
    """Load a built-in data set, in the structure of the course's ``load_data()``.

    Returns ``(train_set_x_orig, train_set_y, test_set_x_orig, test_set_y, classes)``:
    images ``(m, h, w, 3)`` uint8, labels ``(1, m)`` int64 in {0, .., K-1}, and
    ``classes`` a ``(K,)`` unicode array where ``classes[label]`` names the class.
    """
    if not isinstance(name, str) or name not in BUILTIN:
        raise ValueError("unknown built-in data set %r; available: %s" % (name, ", ".join(sorted(BUILTIN))))
    if BUILTIN[name] is None:
        from dnn.datasets import _generate

        arrays = _generate.generate(name)
    else:
        with np.load(Path(__file__).resolve().parent / BUILTIN[name], allow_pickle=False) as f:
            arrays = {k: f[k] for k in ARRAY_NAMES}
    return (
        arrays["train_set_x"],
        arrays["train_set_y"].reshape(1, -1),
        arrays["test_set_x"],
        arrays["test_set_y"].reshape(1, -1),
        arrays["list_classes"],
    )

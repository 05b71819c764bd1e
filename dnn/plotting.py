"""The course's two plots: the cost curve and the mislabelled pictures.

matplotlib is the optional extra ``dnn-course[plot]``; it is imported only when a
plot is made. With ``path`` the figure is drawn by matplotlib's Agg canvas
without pyplot (no display, no GUI backend, safe in scripts and threads)
and saved as a PNG; without ``path`` it is made with pyplot, so a notebook
shows it as the course's code does.
"""

import numbers
import os
from typing import Any, Sequence

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["plot_costs", "plot_mislabeled_images", "print_mislabeled_images"]


def _matplotlib():
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ImportError('plotting needs matplotlib: pip install "dnn-course[plot]"') from None


def _new_figure(path, figsize):
    _matplotlib()
    if path is None:
        import matplotlib.pyplot as plt
        return plt.figure(figsize=figsize)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig


def plot_costs(costs: ArrayLike, learning_rate: float, *, cost_every: int = 100,
               path: str | os.PathLike | None = None, title: str | None = None) -> Any:
    """The cost curve: ``costs[k]`` at iteration ``k * cost_every``, titled with the learning rate.

    ``costs`` as ``L_layer_model(..., return_costs=True)`` returns them.
    Saves a PNG at ``path`` if given. Returns the matplotlib ``Figure``.
    """
    if isinstance(cost_every, bool) or not isinstance(cost_every, numbers.Integral) or cost_every < 1 \
            or cost_every > 2 ** 1000:
        raise ValueError("cost_every must be a positive int (at most 2**1000), got %.40r" % (cost_every,))
    try:
        costs = np.asarray(costs, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError, OverflowError):
        raise TypeError("costs must be a sequence of real numbers") from None
    fig = _new_figure(path, (6.0, 4.0))
    ax = fig.add_subplot(1, 1, 1)
    # Iterations as floats: any cost_every, no integer overflow.
    ax.plot(np.arange(costs.size, dtype=np.float64) * float(cost_every), costs)
    ax.set_ylabel("cost")
    ax.set_xlabel("iteration")
    ax.set_title(title or "Learning rate = %s" % (learning_rate,))
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=100)
    return fig


def _name(classes, label):
    c = classes[int(label)]
    return c.decode("utf-8") if isinstance(c, bytes) else str(c)


def plot_mislabeled_images(classes: Sequence[str | bytes], X: ArrayLike, y: ArrayLike, p: ArrayLike, *,
                           image_shape: tuple[int, int, int] = (64, 64, 3), max_images: int = 12,
                           path: str | os.PathLike | None = None) -> Any:
    """Pictures whose prediction ``p`` differs from the label ``y``, titled with both.

    ``X`` ``(n_x, m)`` in [0, 1] (as the network reads them), ``y`` and ``p``
    ``(1, m)`` 0/1, ``classes`` two names (str or bytes) indexed by label,
    ``image_shape`` ``(height, width, 3)``. At most ``max_images`` pictures,
    the first ones in order. Saves a PNG at ``path`` if given. Returns the
    ``Figure`` (None when nothing is mislabelled).
    """
    X = np.asarray(X)
    y = np.asarray(y).reshape(-1)
    p = np.asarray(p).reshape(-1)
    if y.shape != p.shape or X.ndim != 2 or X.shape[1] != y.size:
        raise ValueError("X must be (n_x, m) and y, p hold m labels; got X %s, y %s, p %s"
                         % (X.shape, y.shape, p.shape))
    if isinstance(classes, (str, bytes)) or len(classes) != 2:
        raise ValueError("classes must be two names (label 0, label 1), got %r" % (classes,))
    if not (np.isin(y, (0, 1)).all() and np.isin(p, (0, 1)).all()):
        raise ValueError("y and p must hold labels 0 and 1")
    if isinstance(max_images, bool) or not isinstance(max_images, numbers.Integral) or max_images < 0:
        raise ValueError("max_images must be an int >= 0, got %r" % (max_images,))
    wrong = np.flatnonzero(y != p)[:max_images]
    if wrong.size == 0:
        return None
    cols = min(wrong.size, 6)
    rows = -(-wrong.size // cols)
    image_shape = tuple(int(s) for s in image_shape)
    if len(image_shape) != 3 or np.prod(image_shape, dtype=object) != X.shape[0]:
        raise ValueError("image_shape %s must be (height, width, channels) with n_x = %d values"
                         % (image_shape, X.shape[0]))
    fig = _new_figure(path, (2.0 * cols, 2.3 * rows))
    for k, i in enumerate(wrong):
        ax = fig.add_subplot(rows, cols, k + 1)
        ax.imshow(np.clip(X[:, i].reshape(image_shape), 0, 1), interpolation="nearest")
        ax.axis("off")
        ax.set_title("Prediction: %s\nClass: %s" % (_name(classes, p[i]), _name(classes, y[i])), fontsize=8)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=100)
    return fig


def print_mislabeled_images(classes: Sequence[str | bytes], X: ArrayLike, y: ArrayLike,
                            p: ArrayLike) -> Any:
    """The course's name and signature for ``plot_mislabeled_images`` (64x64 RGB pictures)."""
    return plot_mislabeled_images(classes, X, y, p)

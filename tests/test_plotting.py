"""The course's plots, written as PNGs without a display; a clear error without matplotlib."""
import sys

import numpy as np
import pytest
from PIL import Image

from dnn import plotting


def test_plot_costs_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "costs.png"
    fig = plotting.plot_costs([0.7, 0.5, 0.3, 0.2], 0.0075, cost_every=100, path=path)
    with Image.open(path) as im:
        assert im.format == "PNG" and im.size == (600, 400)
    ax = fig.axes[0]
    assert ax.get_title() == "Learning rate = 0.0075"
    x, y = ax.lines[0].get_data()
    np.testing.assert_array_equal(x, [0, 100, 200, 300])
    np.testing.assert_array_equal(y, [0.7, 0.5, 0.3, 0.2])


def test_mislabeled_images(tmp_path):
    pytest.importorskip("matplotlib")
    rng = np.random.default_rng(0)
    X = rng.random((4 * 4 * 3, 5))
    y = np.array([[1, 0, 1, 0, 1]])
    p = np.array([[1, 1, 0, 0, 1]])
    path = tmp_path / "wrong.png"
    fig = plotting.plot_mislabeled_images([b"non-cat", b"cat"], X, y, p, image_shape=(4, 4, 3), path=path)
    assert path.is_file()
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["Prediction: cat\nClass: non-cat", "Prediction: non-cat\nClass: cat"]
    assert plotting.plot_mislabeled_images(["a", "b"], X, y, y, image_shape=(4, 4, 3), path=path) is None
    with pytest.raises(ValueError, match="m labels"):
        plotting.plot_mislabeled_images(["a", "b"], X, y[:, :3], p, image_shape=(4, 4, 3))


def test_without_matplotlib_the_error_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r'pip install "dnn-course\[plot\]"'):
        plotting.plot_costs([1.0], 0.1, path=tmp_path / "c.png")

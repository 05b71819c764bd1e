"""Model files of format version 2 (every hidden activation and output kind) and version 1 (today's
files still load): round trips, predictions, and the new fields refused when inconsistent."""
import itertools
from pathlib import Path

import numpy as np
import pytest

import dnn
from dnn import network
from dnn.model_io import FORMAT_VERSION, MAX_CLASSES, load_model, save_model

HIDDEN = ("relu", "tanh", "leaky_relu")
OUTPUTS = {"sigmoid": 1, "softmax": 4, "identity": 2}
#: Written by dnn's main branch at 70309a6 (format version 1), from the parameters of _v1_parameters().
V1_FIXTURE = Path(__file__).parent / "data" / "model_v1.npz"


def _parameters(dims, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    p = {}
    for l in range(1, len(dims)):
        p["W%d" % l] = rng.standard_normal((dims[l], dims[l - 1])).astype(dtype)
        p["b%d" % l] = rng.standard_normal((dims[l], 1)).astype(dtype)
    return p


def _v1_parameters():
    rng = np.random.default_rng(11)
    dims = (12, 3, 2, 1)
    p = {}
    for l in range(1, len(dims)):
        p["W%d" % l] = rng.standard_normal((dims[l], dims[l - 1])).round(3)
        p["b%d" % l] = rng.standard_normal((dims[l], 1)).round(3)
    return p


@pytest.mark.parametrize("hidden, output", list(itertools.product(HIDDEN, OUTPUTS)))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_round_trip_of_every_network(tmp_path, hidden, output, dtype):
    K = OUTPUTS[output]
    params = _parameters((12, 5, 3, K), dtype)
    classes = None if output != "softmax" else ("ant", "bee", "cat", "dog")
    path = save_model(tmp_path / "m.npz", params, image_shape=(2, 2, 3), classes=classes,
                      hidden_activation=hidden, output=output)
    model = load_model(path)
    assert model.format_version == FORMAT_VERSION == 2
    assert model.activations == (hidden, hidden, output)
    assert (model.hidden_activation, model.output) == (hidden, output)
    assert model.classes == {"sigmoid": ("0", "1"), "softmax": classes, "identity": ()}[output]
    assert model.dtype == np.dtype(dtype)
    for k in params:
        np.testing.assert_array_equal(model.parameters[k], params[k])
    # Predictions are the network's, with its activations (not the course's relu/sigmoid).
    X = np.random.default_rng(1).random((12, 9)).astype(dtype)
    AL, _ = network.L_model_forward(X, params, hidden_activation=hidden, output=output)
    proba = model.predict_proba(X)
    assert proba.shape == (K, 9) and proba.dtype == np.dtype(dtype)
    np.testing.assert_allclose(proba, AL, rtol=1e-5 if dtype == np.float32 else 1e-12)
    p = model.predict(X)
    if output == "sigmoid":
        np.testing.assert_array_equal(p, (proba > 0.5).astype(np.float64))
    elif output == "softmax":
        assert p.dtype == np.int64 and p.shape == (1, 9)
        np.testing.assert_array_equal(p[0], proba.argmax(axis=0))
    else:
        np.testing.assert_array_equal(p, proba)
    assert hidden in repr(model) and output in repr(model)


def test_the_default_output_follows_the_units(tmp_path):
    soft = load_model(save_model(tmp_path / "s.npz", _parameters((5, 3))))
    assert soft.output == "softmax" and soft.classes == ("0", "1", "2")
    sig = load_model(save_model(tmp_path / "b.npz", _parameters((5, 1))))
    assert sig.activations == ("sigmoid",) and sig.hidden_activation == "relu"


def test_a_course_network_predicts_through_the_compiled_path(tmp_path):
    params = _parameters((12, 4, 1))
    model = load_model(save_model(tmp_path / "m.npz", params))
    X = np.random.default_rng(2).random((12, 7))
    np.testing.assert_array_equal(model.predict_proba(X), dnn.L_model_forward(X, params)[0])


def test_a_version_1_file_from_main_still_loads():
    model = load_model(V1_FIXTURE)
    assert model.format_version == 1
    assert model.layer_dims == [12, 3, 2, 1]
    assert model.activations == ("relu", "relu", "sigmoid")
    assert (model.hidden_activation, model.output) == ("relu", "sigmoid")
    assert model.classes == ("non-cat", "cat") and model.image_shape == (2, 2, 3)
    assert model.metadata["written_by"].startswith("dnn main")
    expected = _v1_parameters()
    assert set(model.parameters) == set(expected)
    for k, a in expected.items():
        np.testing.assert_array_equal(model.parameters[k], a)
    X = np.random.default_rng(3).random((12, 5))
    np.testing.assert_array_equal(model.predict_proba(X), dnn.L_model_forward(X, expected)[0])


def _entries(path):
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def _rewritten(src, dst, **changes):
    arrays = _entries(src)
    arrays.update(changes)
    with open(dst, "wb") as fh:
        np.savez(fh, **arrays)
    return dst


@pytest.mark.parametrize("changes, match", [
    # A version-1 file never held anything but the course's network.
    ({"activations": np.array(["tanh", "tanh", "sigmoid"])}, "format version 1"),
    ({"activations": np.array(["relu", "relu", "identity"])}, "format version 1"),
    ({"classes": np.array(["a", "b", "c"])}, "classes must be 2 names"),
    ({"layer_dims": np.array([12, 3, 2, 2])}, r"layer_dims must be \[n_x, ..., 1\]"),
])
def test_a_version_1_file_claiming_more_is_refused(tmp_path, changes, match):
    bad = _rewritten(V1_FIXTURE, tmp_path / "v1.npz", **changes)
    with pytest.raises(ValueError, match=match):
        load_model(bad)


@pytest.fixture
def softmax_file(tmp_path):
    return save_model(tmp_path / "soft.npz", _parameters((12, 5, 3, 4)), hidden_activation="tanh",
                      classes=("a", "b", "c", "d"))


@pytest.mark.parametrize("changes, match", [
    ({"activations": np.array(["tanh", "relu", "softmax"])}, "hidden layers' activations must all be one of"),
    ({"activations": np.array(["gelu", "gelu", "softmax"])}, "one of relu, tanh, leaky_relu, got gelu"),
    ({"activations": np.array(["tanh", "tanh", "sigmoid"])}, "sigmoid output has one unit, the last layer has 4"),
    ({"activations": np.array(["tanh", "tanh", "softplus"])}, "output must be one of"),
    ({"activations": np.array(["tanh", "tanh", "identity"])}, "classes must be 0 names for a identity output"),
    ({"classes": np.array(["a", "b", "c"])}, "classes must be 4 names for a softmax output of 4 units, got 3"),
    ({"classes": np.array([], dtype=str)}, "classes must be 4 names"),
    ({"classes": np.array([1, 2, 3, 4])}, "'classes' must be a text array"),
    ({"layer_dims": np.array([12, 5, 3, 1])}, "softmax output has at least 2 units"),
])
def test_inconsistent_new_fields_are_refused(softmax_file, changes, match):
    bad = _rewritten(softmax_file, softmax_file, **changes)
    with pytest.raises(ValueError, match=match) as info:
        load_model(bad)
    assert str(softmax_file) in str(info.value) and len(str(info.value)) < 600


def test_more_classes_than_the_format_holds_are_refused_on_save(tmp_path):
    with pytest.raises(ValueError, match="at most %d classes" % MAX_CLASSES):
        save_model(tmp_path / "m.npz", _parameters((2, MAX_CLASSES + 1)))
    assert not list(tmp_path.iterdir())

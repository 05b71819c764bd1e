"""Estimators in model files (format version 2): any activation and output kind is saved by
``est.save_model`` and made a fitted estimator again by ``from_model``, predicting the same."""
import numpy as np
import pytest

pytest.importorskip("sklearn")
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

import dnn  # noqa: E402
from dnn import DNNClassifier, DNNRegressor  # noqa: E402


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((90, 5))
    return X, rng


@pytest.mark.parametrize("activation", ["relu", "tanh", "leaky_relu"])
@pytest.mark.parametrize("labels", ["two", "three", "unsorted-strings"])
def test_classifiers_round_trip(tmp_path, data, activation, labels):
    X, rng = data
    y = {"two": (X[:, 0] > 0).astype(int),
         "three": np.digitize(X[:, 0], [-0.5, 0.5]),
         "unsorted-strings": np.array(["zebra", "10", "2", "ant"])[np.digitize(X[:, 0], [-0.7, 0, 0.7])]}[labels]
    clf = DNNClassifier((6, 3), activation=activation, max_iter=15, random_state=0).fit(X, y)
    path = clf.save_model(tmp_path / "clf.npz")
    model = dnn.load_model(path)
    assert model.hidden_activation == activation
    assert model.output == ("sigmoid" if len(clf.classes_) == 2 else "softmax")
    assert model.classes == tuple(str(c) for c in clf.classes_)
    assert model.metadata["estimator"] == "DNNClassifier"
    back = DNNClassifier.from_model(model)
    assert back.activation == activation and list(back.classes_) == [str(c) for c in clf.classes_]
    np.testing.assert_array_equal(back.predict(X), clf.predict(X).astype(str))
    np.testing.assert_allclose(back.predict_proba(X), clf.predict_proba(X), rtol=1e-12, atol=1e-15)
    # The file's own predictions agree with the estimator's.
    proba = model.predict_proba(X.T)
    expected = clf.predict_proba(X)[:, 1] if model.output == "sigmoid" else clf.predict_proba(X).T
    np.testing.assert_allclose(proba.reshape(expected.shape), expected, rtol=1e-12, atol=1e-15)
    back.partial_fit(X, back.predict(X))   # trains on from the file's weights
    assert back.n_iter_ == 1


def test_a_softmax_file_with_unsorted_classes_keeps_each_unit_with_its_class(tmp_path, data):
    X, rng = data
    params = {"W1": rng.standard_normal((3, 5)), "b1": rng.standard_normal((3, 1))}
    model = dnn.load_model(dnn.save_model(tmp_path / "m.npz", params, classes=("cow", "ant", "bee")))
    clf = DNNClassifier.from_model(model)
    assert list(clf.classes_) == ["ant", "bee", "cow"]
    np.testing.assert_array_equal(clf.predict(X), np.array(model.classes)[model.predict(X.T)[0]])


@pytest.mark.parametrize("activation", ["relu", "tanh"])
@pytest.mark.parametrize("two_d", [False, True])
def test_regressors_round_trip(tmp_path, data, activation, two_d):
    X, _ = data
    y = np.column_stack((X[:, 0], X[:, 1] - X[:, 2])) if two_d else X[:, 0] * 2
    reg = DNNRegressor((5,), activation=activation, max_iter=10, random_state=0).fit(X, y)
    model = dnn.load_model(reg.save_model(tmp_path / "reg.npz"))
    assert model.output == "identity" and model.classes == () and model.hidden_activation == activation
    back = DNNRegressor.from_model(model)
    assert back.predict(X).shape == y.shape
    np.testing.assert_allclose(back.predict(X), reg.predict(X), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(model.predict(X.T), reg.predict(X).T.reshape(-1, 90), rtol=1e-12, atol=1e-14)


def test_from_model_refuses_the_other_kind(tmp_path, data):
    X, _ = data
    reg = DNNRegressor((3,), max_iter=2).fit(X, X[:, 0])
    clf = DNNClassifier((3,), max_iter=2).fit(X, X[:, 0] > 0)
    with pytest.raises(ValueError, match="use DNNRegressor.from_model"):
        DNNClassifier.from_model(dnn.load_model(reg.save_model(tmp_path / "r.npz")))
    with pytest.raises(ValueError, match="use DNNClassifier.from_model"):
        DNNRegressor.from_model(dnn.load_model(clf.save_model(tmp_path / "c.npz")))

"""A fit whose weights overflow is not a silent nan model: ``dnn.model``, ``L_layer_model``'s
second-part path (the compiled mini-batch loop) and its course path (``dnn._train``, as
``two_layer_model``) warn once (``RuntimeWarning``) and return what they reached; a fit that stays
finite warns nothing."""
import warnings

import numpy as np
import pytest

import dnn


def data():
    rng = np.random.default_rng(0)
    X = (rng.standard_normal((2, 100)) * 1e3).astype(np.float32)
    return X, (X[:1] > 0).astype(np.float32)


@pytest.mark.parametrize("optimizer", ["gd", "momentum", "adam"])
def test_model_warns_once_when_it_diverges(optimizer):
    X, Y = data()
    with pytest.warns(RuntimeWarning, match="diverged: the cost at epoch 0 is not finite") as record:
        params = dnn.model(X, Y, [2, 5, 5, 1], optimizer, learning_rate=1e38, num_epochs=5, print_cost=False,
                           hidden_activation="leaky_relu")
    assert len([w for w in record if "diverged" in str(w.message)]) == 1
    assert not all(np.isfinite(a).all() for a in params.values())
    assert record[0].filename == __file__  # points at the caller's line


def test_L_layer_model_second_part_warns_when_it_diverges():
    X, Y = data()
    with pytest.warns(RuntimeWarning, match="cost at iteration [01] is not finite") as record:
        dnn.L_layer_model(X, Y, [2, 5, 5, 1], learning_rate=1e38, num_iterations=5, print_cost=False,
                          hidden_activation="leaky_relu")
    assert len([w for w in record if "diverged" in str(w.message)]) == 1


def test_L_layer_model_course_path_warns_at_the_first_recorded_cost_not_finite():
    """Its loop computes no cost between recorded ones: the warning comes after the fit (it returned
    nan weights silently)."""
    rng = np.random.RandomState(0)
    X = rng.randn(5, 40) * 100
    Y = (X[:1] > 0).astype(float)
    with pytest.warns(RuntimeWarning, match="diverged: the cost at iteration 100 is not finite") as record:
        params, costs = dnn.L_layer_model(X, Y, [5, 4, 1], learning_rate=5.0, num_iterations=300,
                                          return_costs=True, cost_every=50)
    assert len([w for w in record if "diverged" in str(w.message)]) == 1
    assert record[0].filename == __file__
    assert np.isfinite(costs[1]) and not np.isfinite(costs[2])  # iterations 50 and 100
    assert not all(np.isfinite(a).all() for a in params.values())


@pytest.mark.parametrize("fit", [
    lambda X, Y: dnn.L_layer_model(X, Y, [2, 5, 1], learning_rate=1e300, num_iterations=5, cost_every=0),
    lambda X, Y: dnn.two_layer_model(X, Y, [2, 5, 1], learning_rate=1e300, num_iterations=5),
], ids=["L_layer_model-no-costs", "two_layer_model"])
def test_course_path_warns_when_the_weights_it_returns_are_not_finite(fit):
    X, Y = data()
    # (the cost recorded at iteration 0 is the initial weights', finite)
    with pytest.warns(RuntimeWarning, match="diverged: the parameters after iteration 4 are not finite") as record:
        params = fit(X, Y)
    assert len([w for w in record if "diverged" in str(w.message)]) == 1
    assert record[0].filename == __file__
    assert not all(np.isfinite(a).all() for a in params.values())


def test_a_finite_fit_warns_nothing():
    X, Y = data()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dnn.model(X / 1e3, Y, [2, 5, 1], "adam", num_epochs=3, print_cost=False)
        dnn.L_layer_model(X / 1e3, Y, [2, 5, 1], num_iterations=3, print_cost=False, hidden_activation="tanh")
        dnn.L_layer_model(X / 1e3, Y, [2, 5, 1], num_iterations=3, print_cost=False)
        dnn.two_layer_model(X / 1e3, Y, [2, 5, 1], num_iterations=3, print_cost=False)

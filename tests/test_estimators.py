"""DNNClassifier / DNNRegressor: agreement with dnn.reference's loop, attributes, pickling,
model files, labels and inputs, the README's Pipeline + GridSearchCV example."""
import pickle
import re
import warnings
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sklearn", reason="scikit-learn is not installed (pip install \"dnn-course[sklearn]\")")

from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.utils import check_random_state  # noqa: E402

import dnn  # noqa: E402
from dnn import reference as ref  # noqa: E402
from dnn.estimators import DNNClassifier, DNNRegressor, initial_parameters  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _data(rng, m=53, n=5, K=2, dtype=np.float64):
    X = rng.standard_normal((m, n)).astype(dtype)
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int) if K == 2 else np.argmax(X[:, :K], axis=1)
    return X, y


def _reference_fit(X, Y, dims, opts, epochs, batch, seed, output, dtype):
    """The course's loop in dnn.reference with the reference's optimizers and dropout masks.

    The estimator's draws from random_state, in order: the initial weights, the dropout seed,
    then (shuffle=True) one permutation per epoch. Y: (K, m). Returns (parameters, epoch costs)."""
    rng = check_random_state(seed)
    params = initial_parameters(dims, opts["init"], rng, dtype)
    dropout_seed = rng.randint(2 ** 31)
    keep, step = opts["keep_prob"], 0
    solver, lr, alpha = opts["solver"], opts["learning_rate_init"], opts["alpha"]
    if solver == "adam":
        v, s = ref.initialize_adam(params)
    if solver == "sgd":
        v = ref.initialize_velocity(params)
        assert not opts["nesterovs_momentum"]
    m, L, t, costs = X.shape[1], len(dims) - 1, 0, []
    for _ in range(epochs):
        total = 0.0
        order = rng.permutation(m) if opts["shuffle"] and batch < m else np.arange(m)
        for start in range(0, m, batch):
            bX, bY = X[:, order[start:start + batch]], Y[:, order[start:start + batch]]
            AL, caches = ref.L_model_forward(bX, params, hidden_activation=opts["activation"], output=output,
                                             keep_prob=keep, seed=dropout_seed, iteration=step)
            step += 1
            if output == "identity":
                total += float(ref.squared_error_cost(AL, bY)) * bX.shape[1]
            else:
                total += float(ref._cost_total(AL, caches[-1][1], bY, output))
            total += alpha / 2 * sum(float(np.sum(np.square(params["W%d" % l]))) for l in range(1, L + 1))
            grads = ref.L_model_backward(AL, bY, caches, lambd=alpha, output=output, keep_prob=keep,
                                         hidden_activation=opts["activation"])
            if solver == "adam":
                t += 1
                params, v, s, _, _ = ref.update_parameters_with_adam(params, grads, v, s, t, lr, 0.9, 0.999, 1e-8)
            elif solver == "sgd":
                # scikit-learn's momentum with rate lr is the course's with beta and rate lr / (1 - beta).
                beta = opts["momentum"]
                params, v = ref.update_parameters_with_momentum(params, grads, v, beta, lr / (1 - beta))
            else:
                params = ref.update_parameters_with_gd(params, grads, lr)
        costs.append(total / m)
    return params, costs


CASES = [
    # (estimator kwargs, K or "reg")
    (dict(solver="adam", learning_rate_init=0.01, alpha=0.01, batch_size=16), 2),
    (dict(solver="adam", learning_rate_init=0.01, alpha=0.0, batch_size=20, activation="tanh"), 3),
    (dict(solver="sgd", learning_rate_init=0.05, momentum=0.9, nesterovs_momentum=False, alpha=0.001,
          batch_size=10, activation="leaky_relu", init="he"), 3),
    (dict(solver="gd", learning_rate_init=0.1, alpha=0.1), 2),
    (dict(solver="adam", learning_rate_init=0.01, alpha=0.01, batch_size=16), "reg"),
    (dict(solver="sgd", learning_rate_init=0.01, momentum=0.5, nesterovs_momentum=False, batch_size=25), "reg"),
    # Shuffled epochs and dropout: the estimator's permutations and masks, replayed.
    (dict(solver="adam", learning_rate_init=0.01, batch_size=16, shuffle=True, keep_prob=0.7), 3),
    (dict(solver="sgd", learning_rate_init=0.05, momentum=0.9, nesterovs_momentum=False, batch_size=10,
          shuffle=True, keep_prob=[0.6, 0.9]), 2),
    (dict(solver="gd", learning_rate_init=0.1, keep_prob=0.8), "reg"),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kwargs,K", CASES)
def test_first_epochs_equal_the_reference_loop(kwargs, K, dtype, rng):
    X, y = _data(rng, K=2 if K == "reg" else K, dtype=dtype)
    epochs, sizes = 4, (7, 4)
    if K == "reg":
        y = (X[:, :2] @ np.array([1.5, -2.0]) + 0.3).astype(dtype)
        est = DNNRegressor(sizes, max_iter=epochs, random_state=5, **{"shuffle": False, **kwargs}).fit(X, y)
        Y, output, K_out = y.reshape(1, -1), "identity", 1
    else:
        est = DNNClassifier(sizes, max_iter=epochs, random_state=5, **{"shuffle": False, **kwargs}).fit(X, y)
        output, K_out = ("sigmoid", 1) if K == 2 else ("softmax", K)
        Y = y.reshape(1, -1).astype(dtype) if K == 2 else np.eye(K, dtype=dtype)[:, y]
    dims = [X.shape[1], *sizes, K_out]
    opts = est.get_params()  # the defaults too (alpha=1e-4)
    batch = X.shape[0] if kwargs["solver"] == "gd" else kwargs["batch_size"]
    params, costs = _reference_fit(np.ascontiguousarray(X.T), Y, dims, opts, epochs, batch, 5, output, dtype)
    tol = dict(rtol=1e-9, atol=1e-11) if dtype == np.float64 else dict(rtol=2e-4, atol=1e-5)
    for l, (W, b) in enumerate(zip(est.coefs_, est.intercepts_), start=1):
        assert W.dtype == dtype and W.shape == (dims[l - 1], dims[l])
        np.testing.assert_allclose(W, params["W%d" % l].T, **tol)
        np.testing.assert_allclose(b, params["b%d" % l][:, 0], **tol)
    np.testing.assert_allclose(est.loss_curve_, costs, **tol)
    assert est.n_iter_ == epochs and est.t_ == epochs * X.shape[0]
    # And the network did learn: later epochs' loss below the first's.
    assert est.loss_curve_[-1] < est.loss_curve_[0]


def test_nesterov_is_scikit_learns(rng):
    """Nesterov's step against scikit-learn's own SGDOptimizer on the same gradients."""
    from sklearn.neural_network._stochastic_optimizers import SGDOptimizer
    from dnn import optimizers
    W = rng.standard_normal((3, 4))
    b = rng.standard_normal((3, 1))
    params = {"W1": W.copy(), "b1": b.copy()}
    mine = {"W1": W.copy(), "b1": b.copy()}
    sk = SGDOptimizer([params["W1"], params["b1"]], learning_rate_init=0.1, momentum=0.8, nesterov=True)
    vel = optimizers._zeros(mine, ["W1", "b1"])
    for _ in range(3):
        g = {"dW1": rng.standard_normal((3, 4)), "db1": rng.standard_normal((3, 1))}
        sk.update_params([params["W1"], params["b1"]], [g["dW1"], g["db1"]])
        optimizers._heavy_ball(mine, g, vel, 0.8, 0.1, True, ["W1", "b1"])
    np.testing.assert_allclose(mine["W1"], params["W1"], rtol=1e-14)
    np.testing.assert_allclose(mine["b1"], params["b1"], rtol=1e-14)


def test_identity_output_finite_differences(rng):
    """The reference's identity output: L_model_backward's gradients against finite differences of
    squared_error_cost + L2, and dnn.network's twin against the reference."""
    dims, m, lambd = [4, 5, 3, 2], 7, 0.3
    X = rng.standard_normal((dims[0], m))
    Y = rng.standard_normal((dims[-1], m))
    params = {}
    for l in range(1, len(dims)):
        params["W%d" % l] = rng.standard_normal((dims[l], dims[l - 1]))
        params["b%d" % l] = rng.standard_normal((dims[l], 1))

    def cost(p):
        AL, _ = ref.L_model_forward(X, p, hidden_activation="tanh", output="identity")
        return float(ref.squared_error_cost(AL, Y)) + lambd / (2 * m) * sum(
            float(np.sum(p["W%d" % l] ** 2)) for l in range(1, len(dims)))

    AL, caches = ref.L_model_forward(X, params, hidden_activation="tanh", output="identity")
    grads = ref.L_model_backward(AL, Y, caches, lambd=lambd, hidden_activation="tanh", output="identity")
    h = 1e-6
    for key in params:
        num = np.zeros_like(params[key])
        for i in np.ndindex(*params[key].shape):
            plus = {k: a.copy() for k, a in params.items()}
            minus = {k: a.copy() for k, a in params.items()}
            plus[key][i] += h
            minus[key][i] -= h
            num[i] = (cost(plus) - cost(minus)) / (2 * h)
        np.testing.assert_allclose(grads["d" + key], num, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(
        dnn.compute_cost_with_regularization(AL, Y, params, lambd, output="identity"),
        ref.compute_cost_with_regularization(AL, Y, params, lambd, output="identity"), rtol=1e-13)
    np.testing.assert_allclose(ref.compute_cost_with_regularization(AL, Y, params, lambd, output="identity"),
                               cost(params), rtol=1e-13)
    AL2, caches2 = dnn.network.L_model_forward(X, params, hidden_activation="tanh", output="identity")
    np.testing.assert_allclose(AL2, AL, rtol=1e-13)
    grads2 = dnn.network.L_model_backward(AL2, Y, caches2, lambd=lambd, hidden_activation="tanh",
                                          output="identity")
    for key in grads:
        np.testing.assert_allclose(grads2[key], grads[key], rtol=1e-12, atol=1e-14)


def test_attributes_and_methods(rng):
    X, y = _data(rng, m=120, K=3)
    labels = np.array(["ant", "bee", "cat"])[y]
    clf = DNNClassifier((8,), max_iter=30, random_state=0, learning_rate_init=0.05).fit(X, labels)
    assert list(clf.classes_) == ["ant", "bee", "cat"]
    assert clf.n_features_in_ == 5 and clf.n_layers_ == 3 and clf.n_outputs_ == 3
    assert clf.out_activation_ == "softmax" and clf.n_iter_ == 30 and len(clf.loss_curve_) == 30
    assert clf.loss_ == clf.loss_curve_[-1] and clf.best_loss_ == min(clf.loss_curve_)
    assert clf.validation_scores_ is None and clf.best_validation_score_ is None
    assert [W.shape for W in clf.coefs_] == [(5, 8), (8, 3)] and [b.shape for b in clf.intercepts_] == [(8,), (3,)]
    P = clf.predict_proba(X)
    np.testing.assert_allclose(P.sum(axis=1), 1, rtol=1e-12)
    np.testing.assert_allclose(clf.predict_log_proba(X), np.log(P), rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[P.argmax(axis=1)])
    np.testing.assert_array_equal(clf.decision_function(X).argmax(axis=1), P.argmax(axis=1))
    assert clf.score(X, labels) > 0.9
    binary = DNNClassifier((6,), max_iter=30, random_state=0, learning_rate_init=0.05).fit(X, labels == "bee")
    assert binary.out_activation_ == "logistic" and binary.n_outputs_ == 1
    z = binary.decision_function(X)
    assert z.shape == (120,)
    np.testing.assert_allclose(binary.predict_proba(X)[:, 1], 1 / (1 + np.exp(-z)), rtol=1e-12)
    np.testing.assert_array_equal(binary.predict(X), z > 0)
    np.testing.assert_allclose(binary.predict_log_proba(X), np.log(binary.predict_proba(X)), rtol=1e-6)  # log(1 - p) rounds


def test_random_state_reproducible_and_global_state_untouched(rng):
    X, y = _data(rng, m=80)
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    a = DNNClassifier((6,), max_iter=5, random_state=7, keep_prob=0.8).fit(X, y)
    b = DNNClassifier((6,), max_iter=5, random_state=7, keep_prob=0.8).fit(X, y)
    np.testing.assert_array_equal(np.random.get_state()[1], before)
    for Wa, Wb in zip(a.coefs_, b.coefs_):
        np.testing.assert_array_equal(Wa, Wb)
    c = DNNClassifier((6,), max_iter=5, random_state=8, keep_prob=0.8).fit(X, y)
    assert not np.array_equal(a.coefs_[0], c.coefs_[0])


def test_float32_trains_in_float32(rng):
    X, y = _data(rng, m=60, dtype=np.float32)
    clf = DNNClassifier((5,), max_iter=3, random_state=0).fit(X, y)
    assert all(W.dtype == np.float32 for W in clf.coefs_) and clf.predict_proba(X).dtype == np.float32
    forced = DNNClassifier((5,), max_iter=3, random_state=0, dtype=np.float32).fit(X.astype(np.float64), y)
    np.testing.assert_array_equal(forced.coefs_[0], clf.coefs_[0])


@pytest.mark.parametrize("params,message", [
    (dict(activation="logistic"), "activation must be one of"),
    (dict(solver="lbfgs"), "solver must be one of"),
    (dict(hidden_layer_sizes=(3, 0)), "hidden_layer_sizes"),
    (dict(keep_prob=0.0), "keep_prob"),
    (dict(keep_prob=[0.5, 0.5]), "keep_prob"),
    (dict(learning_rate="optimal"), "learning_rate must be one of"),
    (dict(init="orthogonal"), "init must be one of"),
    (dict(batch_size=0), "batch_size"),
    (dict(momentum=1.5), "momentum"),
    (dict(random_state=-1), r"random_state must be None, an int in \[0, 2\*\*32 - 1\] .*got -1"),
    (dict(random_state=np.random.default_rng(0)), "random_state must be"),
    (dict(dtype="garbage"), "dtype must be None, float32 or float64, got 'garbage'"),
    (dict(dtype=np.int32), "dtype must be None, float32 or float64"),
    (dict(n_iter_no_change=0), "n_iter_no_change must be an int >= 1 or numpy.inf"),
    (dict(n_iter_no_change=2.5), "n_iter_no_change"),
    (dict(validation_fraction=1.0), r"validation_fraction must be a number in \[0, 1\)"),
    (dict(validation_fraction=0.0, early_stopping=True), r"validation_fraction must be in \(0, 1\) with early_st"),
])
def test_bad_hyperparameters_raise_at_fit(params, message, rng):
    X, y = _data(rng, m=20)
    est = DNNClassifier(**params)  # constructing never validates (scikit-learn's rule)
    with pytest.raises(ValueError, match=message):
        est.fit(X, y)
    assert not hasattr(est, "coefs_") and not hasattr(est, "n_iter_")  # refused before anything is set


def test_a_big_endian_dtype_trains_as_its_native_twin(rng):
    X, y = _data(rng, m=40)
    native = DNNClassifier((4,), max_iter=2, random_state=0, dtype=np.float32).fit(X, y)
    swapped = DNNClassifier((4,), max_iter=2, random_state=0, dtype=">f4").fit(X, y)
    assert swapped.coefs_[0].dtype == np.float32 and swapped.coefs_[0].dtype.isnative
    np.testing.assert_array_equal(swapped.coefs_[0], native.coefs_[0])


@pytest.mark.parametrize("name", ["shuffle", "warm_start", "nesterovs_momentum", "early_stopping", "verbose"])
def test_flags_take_what_scikit_learns_mlp_takes(name, rng):
    """A flag is a bool (Python's or NumPy's; verbose also an int >= 0), never a truthy string or None:
    shuffle="False" used to shuffle, early_stopping="no" to stop early."""
    from sklearn.neural_network import MLPClassifier
    from sklearn.utils._param_validation import InvalidParameterError
    X, y = _data(rng, m=20)
    for value in ("False", "no", None, 5, 1, 0, -1, 0.0, np.True_, np.False_, True, False, np.int64(2)):
        try:
            MLPClassifier(**{name: value})._validate_params()
            theirs = None
        except InvalidParameterError as exc:
            theirs = exc
        est = DNNClassifier((3,), max_iter=1, **{name: value})
        if theirs is None:
            est.fit(X, y)
        else:
            with pytest.raises(InvalidParameterError, match="%s must be a bool" % name):
                est.fit(X, y)


def test_numpy_bools_mean_what_they_say(rng):
    X, y = _data(rng, m=40)
    kw = dict(hidden_layer_sizes=(3,), max_iter=2, batch_size=10, random_state=0, solver="sgd")
    for name in ("shuffle", "nesterovs_momentum"):
        ours = DNNClassifier(**kw, **{name: np.False_}).fit(X, y)
        plain = DNNClassifier(**kw, **{name: False}).fit(X, y)
        np.testing.assert_array_equal(ours.coefs_[0], plain.coefs_[0])
    assert DNNClassifier(**kw, early_stopping=np.False_).fit(X, y).validation_scores_ is None


def test_scikit_learns_edge_values_are_taken(rng):
    """validation_fraction=0 without early stopping, n_iter_no_change=inf (no stop) as MLPClassifier
    takes them; an L2 term that overflows reports an inf loss, as scikit-learn's (it was nan)."""
    from sklearn.neural_network import MLPClassifier
    X, y = _data(rng, m=40)
    kw = dict(hidden_layer_sizes=(3,), max_iter=6, random_state=0)
    assert DNNClassifier(validation_fraction=0.0, **kw).fit(X, y).n_iter_ == 6
    assert DNNClassifier(n_iter_no_change=2, tol=1e9, **kw).fit(X, y).n_iter_ < 6
    assert DNNClassifier(n_iter_no_change=np.inf, tol=1e9, **kw).fit(X, y).n_iter_ == 6
    ours = DNNClassifier(alpha=1e308, **kw).fit(X, y).loss_curve_
    with np.errstate(over="ignore"):
        theirs = MLPClassifier(alpha=1e308, **kw).fit(X, y).loss_curve_
    assert ours == theirs == [np.inf] * 6
    assert DNNClassifier(**dict(kw, random_state=np.random.RandomState(0))).fit(X, y).n_iter_ == 6


def test_early_stopping_and_convergence_warning(rng):
    X, y = _data(rng, m=200)
    clf = DNNClassifier((8,), early_stopping=True, n_iter_no_change=3, max_iter=300, random_state=0,
                        learning_rate_init=0.05).fit(X, y)
    assert clf.best_loss_ is None and len(clf.validation_scores_) == clf.n_iter_ < 300
    assert clf.best_validation_score_ == max(clf.validation_scores_)
    with pytest.warns(ConvergenceWarning, match="Maximum iterations"):
        DNNClassifier((4,), max_iter=2, random_state=0).fit(X, y)


def test_early_stopping_keeps_the_best_network_of_a_stratified_split(rng, monkeypatch):
    from sklearn.model_selection import train_test_split
    import dnn.estimators
    X, y = _data(rng, m=300)
    y[:40] = 1 - y[:40]  # label noise: the validation score goes up and down
    splits = []
    monkeypatch.setattr(dnn.estimators, "train_test_split",
                        lambda *a, **k: splits.append(train_test_split(*a, **k)) or splits[-1])
    clf = DNNClassifier((16,), early_stopping=True, validation_fraction=0.2, n_iter_no_change=4, max_iter=200,
                        random_state=0, learning_rate_init=0.05).fit(X, y)
    # The split is drawn from random_state after the initial weights and the dropout seed, stratified.
    split_rng = check_random_state(0)
    initial_parameters([5, 16, 1], "glorot_uniform", split_rng, np.float64)
    split_rng.randint(2 ** 31)
    _, X_val, _, y_val = train_test_split(X, y, random_state=split_rng, test_size=0.2, stratify=y)
    np.testing.assert_array_equal(splits[0][1], X_val)
    assert clf.score(X_val, y_val) == clf.best_validation_score_ == max(clf.validation_scores_)
    assert clf.validation_scores_[-1] < clf.best_validation_score_  # the last epoch's network is not the one kept


def test_n_iter_counts_each_call_as_scikit_learns_mlp_does(rng):
    # scikit-learn >= 1.3: n_iter_ is the epochs of the last fit or partial_fit; t_ counts on.
    from sklearn.neural_network import MLPClassifier
    X, y = _data(rng, m=80)
    seen = []
    for est in (MLPClassifier((4,), max_iter=3, warm_start=True, random_state=0, n_iter_no_change=99),
                DNNClassifier((4,), max_iter=3, warm_start=True, random_state=0, n_iter_no_change=99)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est.fit(X, y)
            counts = [(est.n_iter_, est.t_)]
            est.set_params(max_iter=2).fit(X, y)
            counts.append((est.n_iter_, est.t_))
            est.partial_fit(X, y)
            counts.append((est.n_iter_, est.t_))
        seen.append(counts)
    assert seen[1] == seen[0] == [(3, 240), (2, 400), (1, 480)]


def test_continuing_an_early_stopping_fit_without_it(rng):
    X, y = _data(rng, m=100)
    clf = DNNClassifier((4,), max_iter=3, early_stopping=True, random_state=0).fit(X, y)
    clf.partial_fit(X, y)  # was: TypeError from best_loss_ None
    assert clf.best_loss_ == clf.loss_ and clf.n_iter_ == 1 and len(clf.loss_curve_) == 4
    clf = DNNClassifier((4,), max_iter=3, early_stopping=True, warm_start=True, random_state=0).fit(X, y)
    clf.set_params(early_stopping=False).fit(X, y)
    assert clf.best_loss_ == min(clf.loss_curve_[3:]) and clf.n_iter_ == 3 and len(clf.loss_curve_) == 6


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_confident_predictions_warn_of_nothing(dtype, rng):
    X, y = _data(rng, m=60, dtype=dtype)
    clf = DNNClassifier((4,), max_iter=20, learning_rate_init=0.1, random_state=0).fit(X, y)
    far = np.concatenate([X, -X]) * 1e4
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # was: RuntimeWarning, overflow encountered in exp
        P = clf.predict_proba(far)
        clf.predict(far)
    assert np.isfinite(P).all() and P.min() == 0 and P.max() == 1  # saturated rows among them


def test_batch_size_auto_is_200(rng):
    X, y = _data(rng, m=260)
    auto = DNNClassifier((4,), max_iter=2, random_state=0).fit(X, y)
    for batch, same in ((200, True), (130, False), (260, False)):
        other = DNNClassifier((4,), max_iter=2, random_state=0, batch_size=batch).fit(X, y)
        assert np.array_equal(auto.coefs_[0], other.coefs_[0]) == same


def test_adaptive_and_invscaling_rates(rng):
    X, y = _data(rng, m=100)
    inv = DNNClassifier((4,), solver="sgd", learning_rate="invscaling", power_t=0.5, max_iter=3,
                        learning_rate_init=0.5, random_state=0).fit(X, y)
    assert inv._state["learning_rate"] == pytest.approx(0.5 / (inv.t_ + 1) ** 0.5)
    ada = DNNClassifier((4,), solver="sgd", learning_rate="adaptive", tol=10.0, n_iter_no_change=2, max_iter=40,
                        learning_rate_init=0.5, random_state=0).fit(X, y)
    # tol=10 never counts as improvement: every 3 epochs the rate is divided by 5 until it is at most 1e-6.
    assert ada._state["learning_rate"] <= 1e-6 and ada.n_iter_ < 40


def test_partial_fit_and_warm_start(rng):
    X, y = _data(rng, m=150, K=3)
    clf = DNNClassifier((8,), random_state=0, learning_rate_init=0.02)
    with pytest.raises(ValueError, match="classes"):
        clf.partial_fit(X, y)
    losses = []
    for i in range(20):
        part = slice(50 * (i % 3), 50 * (i % 3) + 50)
        clf.partial_fit(X[part], y[part], classes=[0, 1, 2])
        losses.append(clf.loss_)
    assert clf.n_iter_ == 1 and clf.t_ == 20 * 50 and np.mean(losses[-3:]) < np.mean(losses[:3])
    with pytest.raises(ValueError, match="not in classes_"):
        clf.partial_fit(X[:5], np.full(5, 7))
    # warm_start continues from the fitted network, its Adam state and its shuffles: 3 + 2 epochs = 5 epochs.
    full = DNNClassifier((8,), random_state=0, max_iter=5, keep_prob=0.9).fit(X, y)
    warm = DNNClassifier((8,), random_state=0, max_iter=3, keep_prob=0.9, warm_start=True).fit(X, y)
    with pytest.warns(ConvergenceWarning):
        warm.set_params(max_iter=2).fit(X, y)
    np.testing.assert_array_equal(warm.coefs_[0], full.coefs_[0])
    # n_iter_: this call's epochs (scikit-learn's); t_ and loss_curve_ run on
    assert warm.n_iter_ == 2 and warm.t_ == full.t_ and warm.loss_curve_ == full.loss_curve_


def test_warm_start_takes_a_changed_solver_and_rate(rng):
    X, y = _data(rng, m=120)
    # A solver that updates with other moments than the fitted one's starts fresh moments (was a KeyError).
    for first, then in (({"solver": "sgd", "momentum": 0.0}, {"solver": "adam"}),
                        ({"solver": "sgd", "momentum": 0.0}, {"momentum": 0.9}),
                        ({"solver": "adam"}, {"solver": "sgd"}),
                        ({"solver": "adam"}, {"solver": "gd"})):
        clf = DNNClassifier((4,), max_iter=3, random_state=0, warm_start=True, **first).fit(X, y)
        before = clf.coefs_[0].copy()
        clf.set_params(**then).fit(X, y)
        assert clf.n_iter_ == 3 and np.all(np.isfinite(clf.coefs_[0])) and not np.array_equal(clf.coefs_[0], before)
        clf.partial_fit(X, y)
        assert clf.n_iter_ == 1 and clf.t_ == 7 * X.shape[0]
    # A changed learning_rate_init is the rate the continued fit trains with (was silently the old one).
    clf = DNNClassifier((4,), solver="sgd", max_iter=3, random_state=0, warm_start=True).fit(X, y)
    clf.set_params(learning_rate_init=0.5, max_iter=1).fit(X, y)
    assert clf._state["learning_rate"] == 0.5
    ada = DNNClassifier((4,), solver="sgd", learning_rate="adaptive", tol=10.0, n_iter_no_change=1, max_iter=5,
                        learning_rate_init=0.5, random_state=0, warm_start=True).fit(X, y)
    assert ada._state["learning_rate"] < 0.5
    reduced = ada._state["learning_rate"]
    ada.set_params(max_iter=1, n_iter_no_change=10).fit(X, y)  # unchanged settings: the reduced rate goes on
    assert ada._state["learning_rate"] == reduced
    ada.set_params(learning_rate="constant").fit(X, y)
    assert ada._state["learning_rate"] == 0.5


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the overflow on the way
def test_a_diverging_fit_raises_as_scikit_learns(rng):
    X, y = _data(rng, m=60)
    for est, target in ((DNNRegressor((5,), solver="sgd", learning_rate_init=10.0, max_iter=20, random_state=1),
                         1e3 * y), (DNNClassifier((5,), solver="sgd", learning_rate_init=1e300, max_iter=5,
                                                  random_state=1), y)):
        with pytest.raises(ValueError, match="non-finite parameter weights"):
            est.fit(X, target)
        with pytest.raises(ValueError, match="non-finite parameter weights"):
            est.partial_fit(X, target)


def test_regressor_targets_beyond_float32_are_refused(rng):
    X, _ = _data(rng, m=40, dtype=np.float32)
    with pytest.raises(ValueError, match="y must be finite in float32"):
        DNNRegressor((3,), max_iter=2).fit(X, np.full(40, 1e39))  # was: trained on inf, nan weights
    assert np.isfinite(DNNRegressor((3,), max_iter=2, dtype=np.float64).fit(X, np.full(40, 1e39)).loss_)


def test_pickle_round_trip(rng):
    X, y = _data(rng, m=90, K=3)
    for est, target in ((DNNClassifier((6, 4), max_iter=10, random_state=0), y),
                        (DNNRegressor((6,), max_iter=10, random_state=0), X[:, 0] - X[:, 2])):
        est.fit(X, target)
        back = pickle.loads(pickle.dumps(est))
        np.testing.assert_array_equal(back.predict(X), est.predict(X))
        # The optimizer state travels too: one more epoch gives the same network.
        est.partial_fit(X, target)
        back.partial_fit(X, target)
        np.testing.assert_array_equal(back.coefs_[0], est.coefs_[0])


def test_model_file_round_trip(tmp_path, rng):
    X, y = _data(rng, m=90)
    labels = np.where(y == 1, "yes", "no")
    clf = DNNClassifier((6, 3), max_iter=10, random_state=0).fit(X, labels)
    path = tmp_path / "clf.npz"
    clf.save_model(path)
    model = dnn.load_model(path)
    assert model.classes == ("no", "yes") and model.metadata["estimator"] == "DNNClassifier"
    back = DNNClassifier.from_model(model)
    np.testing.assert_array_equal(back.predict(X), clf.predict(X))
    np.testing.assert_allclose(back.predict_proba(X), clf.predict_proba(X), rtol=1e-15)
    np.testing.assert_allclose(model.predict_proba(X.T)[0], clf.predict_proba(X)[:, 1], rtol=1e-12)
    before = back.coefs_[0].copy()
    back.partial_fit(X, labels)  # trains on from the file's weights
    assert back.n_iter_ == 1 and not np.array_equal(back.coefs_[0], before)
    # Other networks (softmax, tanh, leaky ReLU, regressors): format version 2, tests/test_estimators_model_files.py.


def test_from_model_sorts_the_files_classes(tmp_path, rng):
    # dnn train writes label 0 first: ("non-cat", "cat"). classes_ must be sorted (the labels'
    # encoding, partial_fit's classes= and scikit-learn's scorers rely on it).
    X, y = _data(rng, m=80)
    path = tmp_path / "cats.npz"
    params = ref.initialize_parameters_deep([5, 4, 1])
    params["b1"], params["b2"] = rng.standard_normal((4, 1)), np.array([[0.1]])  # no exact 0.5 (a tie)
    dnn.save_model(path, params, classes=("non-cat", "cat"))
    model = dnn.load_model(path)
    clf = DNNClassifier.from_model(model)
    assert list(clf.classes_) == ["cat", "non-cat"]
    p_label1 = model.predict_proba(X.T)[0]  # the file's label 1, "cat"
    np.testing.assert_allclose(clf.predict_proba(X)[:, 0], p_label1, rtol=1e-12)
    np.testing.assert_array_equal(clf.predict(X), np.array(model.classes)[(p_label1 > 0.5).astype(int)])
    labels = np.where(y == 1, "cat", "non-cat")
    clf.set_params(learning_rate_init=0.05).partial_fit(X, labels, classes=["non-cat", "cat"])  # was: 'cat' not in classes_
    for _ in range(30):
        clf.partial_fit(X, labels)
    assert clf.score(X, labels) > 0.8


def test_pandas_and_memmap_inputs(tmp_path, rng):
    pd = pytest.importorskip("pandas")
    X, y = _data(rng, m=70)
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d", "e"])
    clf = DNNClassifier((4,), max_iter=5, random_state=0).fit(frame, pd.Series(np.where(y, "p", "q")))
    assert list(clf.feature_names_in_) == ["a", "b", "c", "d", "e"]
    frame32 = DNNClassifier((4,), max_iter=2, random_state=0).fit(frame.astype(np.float32), y)
    assert frame32.coefs_[0].dtype == np.float32  # as a float32 array (was float64 for a frame)
    arr = DNNClassifier((4,), max_iter=5, random_state=0).fit(X, np.where(y, "p", "q"))
    np.testing.assert_array_equal(clf.coefs_[0], arr.coefs_[0])
    mm = np.lib.format.open_memmap(tmp_path / "X.npy", mode="w+", dtype=np.float64, shape=X.shape)
    mm[:] = X
    mm.flush()
    ro = np.load(tmp_path / "X.npy", mmap_mode="r")
    from_mm = DNNClassifier((4,), max_iter=5, random_state=0).fit(ro, np.where(y, "p", "q"))
    np.testing.assert_array_equal(from_mm.coefs_[0], arr.coefs_[0])


def test_import_dnn_does_not_import_sklearn(tmp_path):
    import subprocess
    import sys
    code = ("import sys; import dnn; assert 'sklearn' not in sys.modules, 'sklearn imported'; "
            "from dnn import *; assert 'sklearn' not in sys.modules; dnn.DNNClassifier; "
            "assert 'sklearn' in sys.modules")
    # cwd away from the checkout: `python -c` puts the cwd first on sys.path, and the source
    # tree's dnn has no compiled extensions.
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path)


def _readme_example():
    readme = Path(__file__).resolve().parents[1] / "README.md"
    if not readme.is_file():
        pytest.skip("README.md not found beside the tests")
    text = readme.read_text(encoding="utf-8")
    section = text.split("## scikit-learn and Dask", 1)
    assert len(section) == 2, "README has no section 'scikit-learn and Dask'"
    blocks = re.findall(r"```python\n(.*?)```", section[1].split("\n## ", 1)[0], re.S)
    assert blocks, "the README's section has no python example"
    return blocks[0]


def test_readme_pipeline_gridsearch_example(blas_single_thread):
    namespace = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        exec(compile(_readme_example(), "README.md", "exec"), namespace)
    search = namespace["search"]
    assert search.best_score_ > 0.9
    assert namespace["accuracy"] > 0.9


def test_without_sklearn_the_estimators_name_the_extra(tmp_path):
    import subprocess
    import sys
    code = ("import sys; sys.modules['sklearn'] = None; import dnn\n"
            "try:\n    dnn.DNNRegressor\nexcept ImportError as exc:\n    assert 'dnn-course[sklearn]' in str(exc), exc\n"
            "else:\n    raise SystemExit('no ImportError')\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_training_reads_X_in_place(dtype, tmp_path, rng, monkeypatch):
    """A C-contiguous float32/float64 array or memmap reaches the engine uncopied."""
    from dnn import _engine
    seen = []
    real = _engine.fit_epochs

    def spy(parameters, state, X, Y, *args, **kwargs):
        seen.append(X)
        return real(parameters, state, X, Y, *args, **kwargs)

    monkeypatch.setattr(_engine, "fit_epochs", spy)
    X, y = _data(rng, m=64, dtype=dtype)
    path = tmp_path / "X.npy"
    np.save(path, X)
    mm = np.load(path, mmap_mode="r")
    for inp in (X, mm):
        DNNClassifier((4,), max_iter=2).fit(inp, y)
        assert np.shares_memory(seen[-1], inp) and seen[-1].dtype == dtype
        DNNClassifier((4,), max_iter=2, solver="gd").fit(inp, y)
        assert np.shares_memory(seen[-1], inp)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_unaligned_input_is_copied_aligned_input_is_not(dtype, tmp_path, rng, monkeypatch, unaligned):
    """The compiled loop needs aligned arrays: an unaligned X, y or sample_weight (a memmap at an
    odd offset) trains as its aligned copy would (it was refused: "X must be an aligned,
    C-contiguous array"), an aligned one reaches the loop uncopied."""
    from dnn import _loop_plan
    seen = []
    real = _loop_plan.make_loop

    def spy(plan, layers, X, Y, *args, sample_weight=None, **kwargs):
        seen.append((X, Y, sample_weight))
        return real(plan, layers, X, Y, *args, sample_weight=sample_weight, **kwargs)

    monkeypatch.setattr(_loop_plan, "make_loop", spy)
    X, y = _data(rng, m=60, dtype=dtype)
    path = tmp_path / "X.bin"
    path.write_bytes(b"HDR" + X.tobytes())
    mm = np.memmap(path, dtype, "r", offset=3, shape=X.shape)
    w = np.linspace(0.5, 2, 60).astype(dtype)
    kw = dict(hidden_layer_sizes=(4,), max_iter=3, random_state=0)
    for solver in ("adam", "gd"):
        aligned = DNNClassifier(solver=solver, **kw).fit(X, y, sample_weight=w)
        assert np.shares_memory(seen[-1][0], X) and np.shares_memory(seen[-1][2], w)
        for Xu, wu in ((mm, w), (unaligned(X), w), (X, unaligned(w))):
            clf = DNNClassifier(solver=solver, **kw).fit(Xu, y, sample_weight=wu)
            assert all(a.flags.aligned for a in seen[-1])
            np.testing.assert_array_equal(clf.coefs_[0], aligned.coefs_[0])
            np.testing.assert_array_equal(clf.predict_proba(Xu), aligned.predict_proba(X))
    target = (X[:, 0] * 2).astype(dtype)
    reg = DNNRegressor(**kw).fit(X, unaligned(target))
    np.testing.assert_array_equal(reg.coefs_[0], DNNRegressor(**kw).fit(X, target).coefs_[0])
    partial = DNNRegressor(**kw).partial_fit(mm, unaligned(target)).partial_fit(mm, target)
    assert partial.n_iter_ == 1 and partial.t_ == 2 * X.shape[0]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("alpha", [0.0, 0.3])
@pytest.mark.parametrize("outputs", [1, 3])
def test_the_regressors_loss_is_scikit_learns_squared_loss(dtype, alpha, outputs):
    """loss_ = 0.5 * mean over samples and outputs of the squared error + alpha / 2 * sum(W^2) / m, as
    MLPRegressor reports it: one full batch, the loss of the weights the epoch started from."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((60, 5)).astype(dtype)
    Y = (X[:, :outputs] * 2 - X[:, 1:1 + outputs]).astype(dtype)
    est = DNNRegressor((7,), solver="sgd", batch_size=60, max_iter=1, shuffle=False, alpha=alpha, momentum=0.0,
                       random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, Y)
        W, P = [c.astype(np.float64) for c in est.coefs_], est.predict(X).reshape(60, outputs)
        est.set_params(warm_start=True).fit(X, Y)
    want = 0.5 * np.mean((P - Y) ** 2) + alpha / 2 * sum((w ** 2).sum() for w in W) / 60
    assert est.loss_ == pytest.approx(want, rel=1e-5 if dtype == np.float32 else 1e-12)

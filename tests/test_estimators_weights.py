"""``sample_weight`` in DNNClassifier / DNNRegressor: scikit-learn's MLP semantics, checked against
scikit-learn's own MLPClassifier / MLPRegressor from the same weights, against the same fit on
rows repeated by integer weights (one full batch, scikit-learn's semantics make them equal),
weights of 1 against no weights (the same parameters), early stopping's weighted validation score,
the parameter's validation, the signatures, ``score`` and metadata routing."""
import inspect
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn", reason="scikit-learn is not installed (pip install \"dnn-course[sklearn]\")")

import sklearn  # noqa: E402
from sklearn.metrics import accuracy_score, r2_score  # noqa: E402
from sklearn.model_selection import GridSearchCV, train_test_split  # noqa: E402
from sklearn.neural_network import MLPClassifier, MLPRegressor  # noqa: E402
from sklearn.pipeline import Pipeline, make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils import check_random_state  # noqa: E402

from dnn.estimators import DNNClassifier, DNNRegressor, initial_parameters  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

TOL = {np.float64: dict(rtol=1e-9, atol=1e-12), np.float32: dict(rtol=2e-4, atol=2e-5)}


def _problem(kind, m=40, n=5, dtype=np.float64, seed=0):
    """X, y for "K2", "K3" (classes), "reg1", "reg2" (outputs), and weights in [0, 3) with zeros."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((m, n)).astype(dtype)
    if kind == "K2":
        y = (X[:, 0] - X[:, 1] > 0).astype(int)
    elif kind == "K3":
        y = np.argmax(X[:, :3], axis=1)
    else:
        y = (X[:, :2] @ np.array([[1.5, -1.0], [-2.0, 0.5]]))[:, :1 if kind == "reg1" else 2]
        y = (y[:, 0] if kind == "reg1" else y).astype(dtype)
    w = rng.random(m) * 3
    w[rng.permutation(m)[:m // 5]] = 0
    return X, y, w


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kind", ["K2", "K3", "reg1", "reg2"])
@pytest.mark.parametrize("nesterov", [False, True])
def test_the_same_numbers_as_scikit_learns_mlp(dtype, kind, nesterov):
    """Four epochs of mini-batches (10, 10, 10, 10 of 40; no shuffling) with sample weights (a few
    0), L2 and momentum, from the same initial weights: scikit-learn's MLP reaches the same weights
    and reports the same losses (their difference: rounding)."""
    X, y, w = _problem(kind, dtype=dtype)
    reg = kind.startswith("reg")
    hyper = dict(hidden_layer_sizes=(6, 4), solver="sgd", learning_rate_init=0.05, momentum=0.9,
                 nesterovs_momentum=nesterov, alpha=0.01, batch_size=10, shuffle=False)
    ours = (DNNRegressor if reg else DNNClassifier)(max_iter=4, random_state=3, **hyper).fit(X, y, sample_weight=w)
    dims = [5, 6, 4, ours.n_outputs_]
    start = initial_parameters(dims, "glorot_uniform", check_random_state(3), dtype)
    theirs = (MLPRegressor if reg else MLPClassifier)(max_iter=1, random_state=0, **hyper)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs.fit(X, y)  # their bookkeeping; then our initial weights and a fresh optimizer
    theirs.coefs_ = [start["W%d" % l].T.copy() for l in (1, 2, 3)]
    theirs.intercepts_ = [start["b%d" % l][:, 0].copy() for l in (1, 2, 3)]
    del theirs._optimizer
    losses = []
    for _ in range(4):
        theirs.partial_fit(X, y, sample_weight=w)
        losses.append(theirs.loss_)
    tol = TOL[dtype]
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        assert a.dtype == dtype
        np.testing.assert_allclose(a, b, **tol)
    np.testing.assert_allclose(ours.loss_curve_, losses, **tol)
    # the weights were read: without them, other numbers
    plain = (DNNRegressor if reg else DNNClassifier)(max_iter=4, random_state=3, **hyper).fit(X, y)
    assert not np.allclose(plain.coefs_[0], ours.coefs_[0], rtol=1e-3, atol=0)


@pytest.mark.filterwarnings("ignore:Got `batch_size`")
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kind", ["K2", "K3", "reg2"])
@pytest.mark.parametrize("hyper", [dict(solver="gd", learning_rate_init=0.1, alpha=0.01),
                                   dict(solver="adam", batch_size=1000, shuffle=False),
                                   dict(solver="sgd", batch_size=1000, shuffle=False, momentum=0.5)])
def test_integer_weights_are_repeated_rows(dtype, kind, hyper):
    """One full batch, in order: weight k is the row k times (0: absent), as scikit-learn's semantics make
    it (L2 included: alpha over the weight sum, the repeated rows' count). Not with dropout, whose masks
    are drawn per column of the batch (repeated rows get other masks)."""
    X, y, _ = _problem(kind, m=30, dtype=dtype)
    counts = np.random.default_rng(4).integers(0, 4, 30)
    Est = DNNRegressor if kind.startswith("reg") else DNNClassifier
    kw = dict(hidden_layer_sizes=(8,), max_iter=30, random_state=1, **hyper)
    weighted = Est(**kw).fit(X, y, sample_weight=counts)
    repeated = Est(**kw).fit(np.repeat(X, counts, axis=0), np.repeat(y, counts, axis=0))
    tol = TOL[dtype]
    assert weighted.n_iter_ == repeated.n_iter_
    for a, b in zip(weighted.coefs_ + weighted.intercepts_, repeated.coefs_ + repeated.intercepts_):
        np.testing.assert_allclose(a, b, rtol=tol["rtol"] * 10, atol=tol["atol"] * 10)
    np.testing.assert_allclose(weighted.loss_curve_, repeated.loss_curve_, rtol=tol["rtol"] * 10)


@pytest.mark.parametrize("hyper", [
    dict(solver="adam", batch_size=7, alpha=0.01, keep_prob=0.8),
    dict(solver="sgd", batch_size=9, nesterovs_momentum=True, learning_rate="adaptive"),
    dict(solver="gd", learning_rate_init=0.1),
    dict(solver="adam", batch_size=8, early_stopping=True, validation_fraction=0.2, n_iter_no_change=3),
])
@pytest.mark.parametrize("Est, kind", [(DNNClassifier, "K3"), (DNNRegressor, "reg2")])
def test_weights_of_one_give_the_unweighted_parameters(hyper, Est, kind):
    X, y, _ = _problem(kind, m=50)
    kw = dict(hidden_layer_sizes=(9, 5), max_iter=15, random_state=2, **hyper)
    plain = Est(**kw).fit(X, y)
    ones = Est(**kw).fit(X, y, sample_weight=np.ones(50))
    scalar = Est(**kw).fit(X, y, sample_weight=1.0)
    for est in (ones, scalar):
        # the loss to rounding (dnn._loop: the weighted sum may be contracted otherwise)
        np.testing.assert_allclose(est.loss_curve_, plain.loss_curve_, rtol=1e-14)
        assert est.n_iter_ == plain.n_iter_ and est.validation_scores_ == plain.validation_scores_
        for a, b in zip(plain.coefs_ + plain.intercepts_, est.coefs_ + est.intercepts_):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("Est, kind, metric", [(DNNClassifier, "K2", accuracy_score), (DNNRegressor, "reg2", r2_score)])
def test_early_stopping_weighs_the_validation_part(Est, kind, metric):
    """scikit-learn's split (the weights split with their samples, the estimator's random state after the
    initial weights and the dropout seed) and its weighted validation score."""
    X, y, _ = _problem(kind, m=60)
    w = np.random.default_rng(9).random(60) ** 4 * 5  # very unequal weights: a weighted score differs
    est = Est((5,), solver="adam", batch_size=10, max_iter=1, early_stopping=True, validation_fraction=0.3,
              random_state=4).fit(X, y, sample_weight=w)
    rng = check_random_state(4)
    initial_parameters([5, 5, est.n_outputs_], "glorot_uniform", rng, np.float64)
    rng.randint(2 ** 31)
    _, X_val, _, y_val, _, w_val = train_test_split(X, y, w, random_state=rng, test_size=0.3,
                                                    stratify=y if Est is DNNClassifier else None)
    assert est.validation_scores_[0] == pytest.approx(metric(y_val, est.predict(X_val), sample_weight=w_val),
                                                      rel=1e-12)
    assert est.validation_scores_[0] != pytest.approx(metric(y_val, est.predict(X_val)), rel=1e-6)


@pytest.mark.parametrize("Est, kind", [(DNNClassifier, "K3"), (DNNRegressor, "reg1")])
def test_score_takes_sample_weight(Est, kind):
    X, y, w = _problem(kind)
    est = Est((5,), max_iter=20, random_state=0).fit(X, y, sample_weight=w)
    metric = accuracy_score if Est is DNNClassifier else r2_score
    assert est.score(X, y, sample_weight=w) == pytest.approx(metric(y, est.predict(X), sample_weight=w))
    assert est.score(X, y, sample_weight=w) != pytest.approx(est.score(X, y))


def test_signatures_are_scikit_learns():
    def names(f):
        return [p for p in inspect.signature(f).parameters if p != "self"]
    assert names(DNNClassifier.fit) == names(MLPClassifier.fit) == ["X", "y", "sample_weight"]
    assert names(DNNRegressor.fit) == names(MLPRegressor.fit)
    assert names(DNNClassifier.partial_fit) == names(MLPClassifier.partial_fit) == ["X", "y", "sample_weight", "classes"]
    assert names(DNNRegressor.partial_fit) == names(MLPRegressor.partial_fit) == ["X", "y", "sample_weight"]


def test_partial_fit_with_weights():
    X, y, w = _problem("K3")
    clf = DNNClassifier((5,), random_state=0)
    clf.partial_fit(X, y, w, [0, 1, 2])  # positional, as MLPClassifier's
    first = [c.copy() for c in clf.coefs_]
    clf.partial_fit(X, y, sample_weight=w)
    assert clf.n_iter_ == 1 and clf.t_ == 2 * X.shape[0] and not np.array_equal(first[0], clf.coefs_[0])
    reg = DNNRegressor((5,), random_state=0)
    X, y, w = _problem("reg1")
    reg.partial_fit(X, y, w)
    assert reg.n_iter_ == 1


def test_float32_training_takes_weights_in_float32():
    X, y, w = _problem("K2", dtype=np.float32)
    est = DNNClassifier((5,), max_iter=3, random_state=0).fit(X, y, sample_weight=list(w))
    assert est.coefs_[0].dtype == np.float32


@pytest.mark.parametrize("Est", [DNNClassifier, DNNRegressor])
@pytest.mark.parametrize("sample_weight, match", [
    (lambda w: -w, "Negative values in data passed to `sample_weight`"),
    (lambda w: np.where(np.arange(w.size) == 2, np.nan, w), "sample_weight"),
    (lambda w: np.where(np.arange(w.size) == 2, np.inf, w), "sample_weight"),
    (lambda w: w[:-1], r"sample_weight.shape == \(39,\), expected \(40,\)"),
    (lambda w: w.reshape(-1, 2), "Sample weights must be 1D"),
    (lambda w: np.zeros_like(w), "Sample weights must contain at least one non-zero number"),
    (lambda w: np.full_like(w, 1e308), "sample_weight must have a finite sum"),
    (lambda w: ["a"] * w.size, "could not convert|dtype"),
])
def test_bad_sample_weight_is_refused(Est, sample_weight, match):
    X, y, w = _problem("reg1" if Est is DNNRegressor else "K2")
    with pytest.raises(ValueError, match=match):
        Est((4,), max_iter=2).fit(X, y, sample_weight=sample_weight(w))


def test_weights_beyond_float32_are_refused_in_float32():
    X, y, w = _problem("K2", dtype=np.float32)
    with pytest.raises(ValueError, match="sample_weight"):
        DNNClassifier((4,), max_iter=2).fit(X, y, sample_weight=np.full(40, 1e39))


def test_early_stopping_part_of_zero_weights_is_refused():
    X, y, _ = _problem("reg1", m=40)
    w = np.zeros(40)
    w[0] = 1  # one sample of weight: one part has none
    with pytest.raises(ValueError, match="sample_weight is 0 for every sample of the early_stopping"):
        DNNRegressor((4,), max_iter=2, early_stopping=True, random_state=0).fit(X, y, sample_weight=w)


def test_pipeline_and_search_route_the_weights():
    X, y, w = _problem("K2", m=80)
    kw = dict(hidden_layer_sizes=(6,), max_iter=20, random_state=0)
    want = DNNClassifier(**kw).fit(StandardScaler().fit_transform(X), y, sample_weight=w)
    # the classic route: step__sample_weight
    pipe = Pipeline([("scale", StandardScaler()), ("net", DNNClassifier(**kw))]).fit(X, y, net__sample_weight=w)
    np.testing.assert_array_equal(pipe[-1].coefs_[0], want.coefs_[0])
    # metadata routing: set_fit_request and set_score_request, through a pipeline and a search
    with sklearn.config_context(enable_metadata_routing=True):
        net = DNNClassifier(**kw).set_fit_request(sample_weight=True).set_score_request(sample_weight=True)
        scaler = StandardScaler().set_fit_request(sample_weight=False)
        pipe = make_pipeline(scaler, net).fit(X, y, sample_weight=w)
        np.testing.assert_array_equal(pipe[-1].coefs_[0], want.coefs_[0])
        search = GridSearchCV(make_pipeline(StandardScaler().set_fit_request(sample_weight=False),
                                            DNNClassifier(**kw).set_fit_request(sample_weight=True)
                                            .set_score_request(sample_weight=True)),
                              {"dnnclassifier__alpha": [1e-4, 1e-2]}, cv=2).fit(X, y, sample_weight=w)
        best = DNNClassifier(**kw, alpha=search.best_params_["dnnclassifier__alpha"])
        np.testing.assert_array_equal(search.best_estimator_[-1].coefs_[0],
                                      best.fit(StandardScaler().fit_transform(X), y, sample_weight=w).coefs_[0])
        # the search scored each split with its weights
        scores = search.cv_results_["split0_test_score"]
        assert np.isfinite(scores).all()

"""scikit-learn estimators: ``DNNClassifier`` and ``DNNRegressor``.

Drop-ins for ``MLPClassifier`` / ``MLPRegressor``: the same parameter names
and meanings wherever the concept is the same, the same fitted attributes
(``coefs_[i]`` is ``(n_in, n_out)``), ``fit``, ``partial_fit``, ``predict``,
``predict_proba``, ``predict_log_proba``, ``decision_function``, ``score``.
Training runs through one engine function, ``dnn._engine.fit_epochs``; the
estimators validate, encode labels, keep the schedules, early stopping and
fitted attributes, and never look at how an epoch is computed.

Outputs: two classes train the course's sigmoid network (one output unit,
binary cross-entropy), more classes a softmax one (categorical
cross-entropy); ``DNNRegressor`` an identity output with the squared error
``(1/(2m)) sum ||y - a||^2``, averaged over the K outputs (scikit-learn's
``squared_loss``: ``loss_`` and ``loss_curve_`` show it). Differences from scikit-learn's MLP, by
design: ``activation`` is ``"relu"``, ``"tanh"`` or ``"leaky_relu"``;
``solver`` ``"adam"`` (the course's Adam, whose epsilon is added to the
bias-corrected ``sqrt(s)``), ``"sgd"`` (scikit-learn's momentum and
Nesterov), or ``"gd"`` (full batch, the course's gradient descent; the
learning-rate schedules apply to it as to ``"sgd"``); no ``"lbfgs"``;
``init`` picks the weights' distribution (``"glorot_uniform"``, as
scikit-learn, by default); ``keep_prob`` adds inverted dropout to the hidden
layers; ``dtype`` (None: float32 when X is float32, else float64).
``fit(X, y, sample_weight=None)`` and ``partial_fit`` weigh samples as
scikit-learn's MLP does (each sample's loss and output gradient times its
weight, a batch's gradients over its weight sum; ``dnn._loop``'s
``sample_weight``); weights must be >= 0 (scikit-learn's MLP also takes
negative ones). ``early_stopping`` copies the training and validation parts it splits off;
no other copy of a C-contiguous float32/float64 X is made (see
``dnn._engine``).

Randomness comes only from ``random_state`` (``check_random_state``):
initial weights, shuffles, the validation split and the dropout seed; NumPy's
global state is not touched when it is given.

scikit-learn is an optional dependency (``pip install "dnn-course[sklearn]"``);
``import dnn`` works without it.
"""

import numbers
import warnings

import numpy as np

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import train_test_split
    from sklearn.utils import check_random_state
    from sklearn.utils._param_validation import InvalidParameterError
    from sklearn.utils.multiclass import _check_partial_fit_first_call, check_classification_targets
    from sklearn.utils.validation import _check_sample_weight, check_is_fitted, column_or_1d, validate_data
except ImportError as exc:  # pragma: no cover - exercised only without scikit-learn
    raise ImportError("dnn.DNNClassifier and dnn.DNNRegressor need scikit-learn >= 1.6: "
                      "pip install \"dnn-course[sklearn]\" (%s)" % exc) from exc

from dnn import _engine
from dnn import _lines
from dnn import _validation as v

__all__ = ["DNNClassifier", "DNNRegressor"]

_ACTIVATIONS = ("relu", "tanh", "leaky_relu")
_SOLVERS = ("adam", "sgd", "gd")
_SCHEDULES = ("constant", "invscaling", "adaptive")
_INITS = ("glorot_uniform", "glorot", "he", "xavier")
_OUT_NAMES = {"sigmoid": "logistic", "softmax": "softmax", "identity": "identity"}


def initial_parameters(dims, init, rng, dtype):
    """Weights ``W_l`` ``(n_l, n_{l-1})`` and zero biases, drawn in float64 from ``rng``, cast to ``dtype``
    into arrays on a cache line (``dnn._lines``).

    ``glorot_uniform``: U(-r, r), r = sqrt(6 / (n_{l-1} + n_l)) (scikit-learn's;
    biases drawn alike, as there); ``glorot``: N(0, 2 / (n_{l-1} + n_l));
    ``he``: N(0, 2 / n_{l-1}); ``xavier``: N(0, 1 / n_{l-1}).
    """
    parameters = {}
    for l in range(1, len(dims)):
        n_prev, n = dims[l - 1], dims[l]
        if init == "glorot_uniform":
            bound = np.sqrt(6.0 / (n_prev + n))
            W = rng.uniform(-bound, bound, (n, n_prev))
            b = rng.uniform(-bound, bound, (n, 1))
        else:
            scale = {"glorot": np.sqrt(2.0 / (n_prev + n)), "he": np.sqrt(2.0 / n_prev),
                     "xavier": np.sqrt(1.0 / n_prev)}[init]
            W = rng.standard_normal((n, n_prev)) * scale
            b = np.zeros((n, 1))
        parameters["W%d" % l] = _lines.copy(W, dtype)
        parameters["b%d" % l] = _lines.copy(b, dtype)
    return parameters


def _is_int(x):
    return isinstance(x, numbers.Integral) and not isinstance(x, bool)


def _is_bool(x):
    """True or False, Python's or NumPy's (scikit-learn's ``"boolean"``: not 0, 1 or the string "False")."""
    return isinstance(x, (bool, np.bool_))


def _is_real(x):
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


class _BaseDNN(BaseEstimator):
    """What the classifier and the regressor share: validation, the epochs' bookkeeping, attributes."""

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam", alpha=0.0001,
                 batch_size="auto", learning_rate="constant", learning_rate_init=0.001, power_t=0.5, max_iter=200,
                 shuffle=True, random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-8, n_iter_no_change=10, dtype=None, keep_prob=1.0, init="glorot_uniform"):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.dtype = dtype
        self.keep_prob = keep_prob
        self.init = init

    # ------------------------------------------------------------------ checks

    def _check_hyperparameters(self):
        """The hyperparameters checked as scikit-learn's MLP checks them at fit, ``InvalidParameterError``
        (a ``ValueError``) naming the one refused; returns the hidden sizes and keep probabilities as lists."""
        def bad(name, expected):
            raise InvalidParameterError("%s must be %s, got %r" % (name, expected, getattr(self, name)))

        sizes = self.hidden_layer_sizes
        sizes = [sizes] if _is_int(sizes) else sizes
        try:
            sizes = list(sizes)
        except TypeError:
            bad("hidden_layer_sizes", "a sequence of positive ints")
        if not all(_is_int(s) and s > 0 for s in sizes):
            bad("hidden_layer_sizes", "a sequence of positive ints")
        for name, allowed in (("activation", _ACTIVATIONS), ("solver", _SOLVERS), ("learning_rate", _SCHEDULES),
                              ("init", _INITS)):
            if not isinstance(getattr(self, name), str) or getattr(self, name) not in allowed:
                bad(name, "one of " + ", ".join(map(repr, allowed)))
        for name, low, high, low_open, high_open in (
                ("alpha", 0, np.inf, False, True), ("learning_rate_init", 0, np.inf, True, True),
                ("power_t", 0, np.inf, False, True), ("tol", 0, np.inf, False, True),
                ("momentum", 0, 1, False, False), ("validation_fraction", 0, 1, False, True),
                ("beta_1", 0, 1, False, True), ("beta_2", 0, 1, False, True), ("epsilon", 0, np.inf, True, True)):
            x = getattr(self, name)
            if not _is_real(x) or not (low < x if low_open else low <= x) or not (x < high if high_open else x <= high):
                bad(name, "a number in %s%g, %g%s" % ("(" if low_open else "[", low, high, ")" if high_open else "]"))
        if self.early_stopping is True and self.validation_fraction == 0:  # (a bad flag is named below)
            raise InvalidParameterError("validation_fraction must be in (0, 1) with early_stopping=True (the "
                                        "validation part it splits off), got %r" % (self.validation_fraction,))
        if not _is_int(self.max_iter) or self.max_iter < 1:
            bad("max_iter", "an int >= 1")
        if not ((_is_int(self.n_iter_no_change) and self.n_iter_no_change >= 1) or
                (_is_real(self.n_iter_no_change) and self.n_iter_no_change == np.inf)):
            bad("n_iter_no_change", "an int >= 1 or numpy.inf (no limit)")
        seed = self.random_state
        if not (seed is None or isinstance(seed, np.random.RandomState) or
                (isinstance(seed, numbers.Integral) and 0 <= seed <= 2 ** 32 - 1)):
            bad("random_state", "None, an int in [0, 2**32 - 1] or a numpy.random.RandomState")
        for name in ("shuffle", "warm_start", "nesterovs_momentum", "early_stopping"):
            if not _is_bool(getattr(self, name)):
                bad(name, "a bool (True or False)")
        if not (_is_bool(self.verbose) or (_is_int(self.verbose) and self.verbose >= 0)):
            bad("verbose", "a bool or an int >= 0")
        if not (self.batch_size == "auto" or (_is_int(self.batch_size) and self.batch_size >= 1)):
            bad("batch_size", "'auto' or an int >= 1")
        keep = self.keep_prob
        keep = [keep] * len(sizes) if _is_real(keep) else keep
        try:
            keep = [float(k) if _is_real(k) else None for k in keep]  # not "1": a str is no number
        except TypeError:
            keep = [None]
        if None in keep:
            bad("keep_prob", "a number in (0, 1] or one per hidden layer")
        if len(keep) != len(sizes) or not all(0 < k <= 1 for k in keep):
            bad("keep_prob", "a number in (0, 1] or one per hidden layer (%d)" % len(sizes))
        if self.dtype is not None:
            try:
                dtype = np.dtype(self.dtype)
            except (TypeError, ValueError):
                dtype = None
            if dtype is None or dtype.type not in (np.float32, np.float64):  # '>f4' is float32 too
                bad("dtype", "None, float32 or float64")
        return sizes, keep

    def _batch(self, m):
        """The mini-batch size a fit on ``m`` samples uses ("auto": MLPClassifier's min(200, m))."""
        return min(200 if self.batch_size == "auto" else self.batch_size, m)

    def _opts(self, keep, output, m):
        if self.batch_size != "auto" and self.batch_size > m and self.solver != "gd":
            warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is going to be clipped")
        return dict(solver=self.solver, hidden=self.activation, output=output, alpha=float(self.alpha), keep=keep,
                    batch_size=self._batch(m), shuffle=bool(self.shuffle), momentum=float(self.momentum),
                    nesterovs_momentum=bool(self.nesterovs_momentum), beta_1=float(self.beta_1),
                    beta_2=float(self.beta_2), epsilon=float(self.epsilon))

    def _validate_X(self, X, reset, dtype=None):
        dtype = dtype or self._dtype
        return validate_data(self, X, reset=reset, dtype=dtype, order="C")

    # --------------------------------------------------------- the fitted net

    @property
    def _parameters(self):
        """The network in the course's layout, views of ``coefs_``/``intercepts_`` (no copy)."""
        p = {}
        for l, (W, b) in enumerate(zip(self.coefs_, self.intercepts_), start=1):
            p["W%d" % l], p["b%d" % l] = W.T, b.reshape(-1, 1)
        return p

    def _store(self, parameters):
        L = len(parameters) // 2
        # Transposed views of the course's C-contiguous W_l: coefs_[i] is (n_in, n_out), F-contiguous.
        self.coefs_ = [parameters["W%d" % l].T for l in range(1, L + 1)]
        self.intercepts_ = [parameters["b%d" % l].reshape(-1) for l in range(1, L + 1)]

    def _forward(self, X):
        return _engine.forward_output(self._parameters, X, self.activation, self._output)

    # ---------------------------------------------------------- the training

    def _fit(self, X, Y, incremental, first, sample_weight=None):
        """Train on X ``(m, n)`` and encoded targets Y ``(m, K)`` (both of ``self._dtype``, C-contiguous),
        weighted by ``sample_weight`` ``(m,)`` (checked, of the same dtype) or not."""
        sizes, keep = self._hidden_sizes, self._keep
        m = X.shape[0]
        rng = self._rng
        dims = v.layer_sizes([X.shape[1]] + sizes + [Y.shape[1]], "[n_features, *hidden_layer_sizes, n_outputs]",
                             trained=True)  # before any weight is allocated
        opts = self._opts(keep, self._output, m)
        if first:
            parameters = initial_parameters(dims, self.init, rng, self._dtype)
            self._new_run(parameters, opts, incremental, rng.randint(2 ** 31))
        else:
            parameters = {k: np.ascontiguousarray(a) for k, a in self._parameters.items()}
            self._continue_state(parameters, opts)
            if self.early_stopping and not incremental and self.validation_scores_ is None:
                self.validation_scores_, self.best_validation_score_ = [], -np.inf
            if not (self.early_stopping and not incremental) and self.best_loss_ is None:
                self.best_loss_ = np.inf  # after an early-stopping fit, which tracks no training loss
        if self.early_stopping and not incremental:
            stratify = Y.argmax(axis=1) if (self._output == "softmax") else (
                Y[:, 0] if self._output == "sigmoid" else None)
            # scikit-learn's split: the weights (if any) split with their samples, the same indices
            parts = train_test_split(X, Y, *([] if sample_weight is None else [sample_weight]), random_state=rng,
                                     test_size=self.validation_fraction, stratify=stratify)
            X, X_val, Y, Y_val = parts[:4]
            X, Y = np.ascontiguousarray(X), np.ascontiguousarray(Y)
            sw_val = None
            if sample_weight is not None:
                sample_weight, sw_val = np.ascontiguousarray(parts[4]), parts[5]
            if X.shape[0] < 2 or X_val.shape[0] < 2:
                raise ValueError("The training or validation set is too small for early_stopping "
                                 "(validation_fraction=%r of %d samples)" % (self.validation_fraction, m))
            for part, name in ((sample_weight, "training"), (sw_val, "validation")):
                if part is not None and not part.any():
                    raise ValueError("sample_weight is 0 for every sample of the early_stopping %s part "
                                     "(validation_fraction=%r)" % (name, self.validation_fraction))
            best = [None]
        m_train = X.shape[0]
        self.n_iter_ = 0  # this call's epochs, as scikit-learn >= 1.3 counts them (t_ counts on)

        def epoch_end(loss):
            self.n_iter_ += 1
            self.t_ += m_train
            self.loss_ = loss
            self.loss_curve_.append(loss)
            if self.verbose:
                print("Iteration %d, loss = %.8f" % (self.n_iter_, loss))
            if self.early_stopping and not incremental:
                score = self._score_encoded(parameters, X_val, Y_val, sw_val)
                self.validation_scores_.append(score)
                if self.verbose:
                    print("Validation score: %f" % score)
                self._no_improvement_count = (self._no_improvement_count + 1
                                              if score < self.best_validation_score_ + self.tol else 0)
                if score > self.best_validation_score_:
                    self.best_validation_score_ = score
                    best[0] = {k: a.copy() for k, a in parameters.items()}
            else:
                self._no_improvement_count = (self._no_improvement_count + 1
                                              if loss > self.best_loss_ - self.tol else 0)
                self.best_loss_ = min(self.best_loss_, loss)
            if self.learning_rate == "invscaling" and self.solver != "adam":
                self._state["learning_rate"] = self.learning_rate_init / (self.t_ + 1) ** self.power_t
            if self._no_improvement_count > self.n_iter_no_change:
                what = ("Validation score did not improve more than tol=%f" if self.early_stopping and not incremental
                        else "Training loss did not improve more than tol=%f") % self.tol
                what += " for %d consecutive epochs." % self.n_iter_no_change
                if self.learning_rate == "adaptive" and self.solver != "adam" and self._state["learning_rate"] > 1e-6:
                    self._state["learning_rate"] /= 5.0
                    self._no_improvement_count = 0
                    if self.verbose:
                        print(what + " Setting learning rate to %f" % self._state["learning_rate"])
                    return True
                if self.verbose:
                    print(what + " Stopping.")
                return False
            return True

        n_epochs = 1 if incremental else self.max_iter
        ran = len(_engine.fit_epochs(parameters, self._state, X, Y, opts, n_epochs, rng, epoch_end,
                                     sample_weight=sample_weight))
        # (This call's epochs: a warm-started fit that runs out of max_iter warns too.)
        if not incremental and ran == self.max_iter and self._no_improvement_count <= self.n_iter_no_change:
            warnings.warn("Stochastic Optimizer: Maximum iterations (%d) reached and the optimization hasn't "
                          "converged yet." % self.max_iter, ConvergenceWarning)
        if self.early_stopping and not incremental and best[0] is not None:
            parameters = best[0]
        self._store(parameters)
        if not all(np.isfinite(a).all() for a in parameters.values()):
            raise ValueError("Solver produced non-finite parameter weights. The input data may contain large "
                             "values and need to be preprocessed (or lower learning_rate_init).")
        return self

    def _new_run(self, parameters, opts, incremental, dropout_seed):
        """Fresh bookkeeping and optimizer state for the network ``parameters``."""
        self.n_iter_ = 0
        self.t_ = 0
        self.loss_curve_ = []
        self._no_improvement_count = 0
        if self.early_stopping and not incremental:
            self.validation_scores_ = []
            self.best_validation_score_ = -np.inf
            self.best_loss_ = None
        else:
            self.best_loss_ = np.inf
            self.validation_scores_ = None
            self.best_validation_score_ = None
        L = len(parameters) // 2
        self.n_layers_ = L + 1
        self.n_outputs_ = parameters["W%d" % L].shape[0]
        self.out_activation_ = _OUT_NAMES[self._output]
        self._state = _engine.new_state(parameters, opts, dropout_seed)
        self._state["learning_rate"], self._state["rate_from"] = float(self.learning_rate_init), self._rate_from()

    def _rate_from(self):
        return float(self.learning_rate_init), self.learning_rate, self.solver

    def _continue_state(self, parameters, opts):
        """A continued fit (``warm_start``, ``partial_fit``) keeps the optimizer's state while it fits
        the hyperparameters: a solver that updates with other moments (``adam``, ``sgd`` with or
        without ``momentum``) starts fresh ones, as scikit-learn's warm start does, and a changed
        ``learning_rate_init``, ``learning_rate`` or ``solver`` restarts the rate from ``learning_rate_init``."""
        state = self._state
        if not _engine.state_fits(state, opts):
            fresh = _engine.new_state(parameters, opts, state["dropout_seed"])
            fresh["step"] = state["step"]  # dropout's masks go on counting
            fresh["learning_rate"], fresh["rate_from"] = state["learning_rate"], state.get("rate_from")
            self._state = state = fresh
        if state.get("rate_from") != self._rate_from():
            state["learning_rate"], state["rate_from"] = float(self.learning_rate_init), self._rate_from()

    def _start(self, X, y, incremental, classes=None, sample_weight=None):
        """Validate, encode, and decide whether this call starts a new network."""
        sizes, keep = self._check_hyperparameters()
        first = not (hasattr(self, "coefs_") and (incremental or self.warm_start))
        # dtype=None: float32 input (an array, or a frame of float32 columns) trains in float32, else float64.
        if not first:
            dtype = self._dtype
        elif self.dtype is not None:
            dtype = np.dtype(self.dtype).newbyteorder("=")  # '>f4' trains in (native) float32
        else:
            dtype = (np.float64, np.float32)
        X, y = validate_data(self, X, y, reset=first, dtype=dtype, order="C",
                             multi_output=self._multi_output, y_numeric=not self._is_classifier)
        if first:
            self._dtype = X.dtype
        if sample_weight is not None:
            sample_weight = self._check_weights(sample_weight, X)
        if first:
            self._hidden_sizes, self._keep = sizes, keep
            self._rng = check_random_state(self.random_state)
        elif list(sizes) != self._hidden_sizes:
            raise ValueError("hidden_layer_sizes changed from %r to %r since the network was fitted; fit anew "
                             "(warm_start=False) to change the network" % (self._hidden_sizes, list(sizes)))
        else:
            self._keep = keep
        Y = self._encode(y, first, incremental, classes)
        return self._fit(X, Y, incremental, first, sample_weight)

    @staticmethod
    def _check_weights(sample_weight, X):
        """scikit-learn's ``_check_sample_weight`` (a scalar or ``(m,)``, finite, not all 0) in X's
        dtype, and >= 0: the loop divides by each batch's weight sum."""
        with np.errstate(over="ignore"):  # weights beyond X's dtype become inf: refused below
            sample_weight = _check_sample_weight(sample_weight, X, dtype=X.dtype, ensure_non_negative=True)
            total = np.sum(sample_weight, dtype=np.float64)
        if not np.isfinite(total):
            raise ValueError("sample_weight must have a finite sum, got weights up to %g" % sample_weight.max())
        return sample_weight

    def save_model(self, path, *, metadata=None):
        """Write the network with ``dnn.save_model`` (the safe ``.npz`` format: its activation
        and output kind, the classes of a classifier); ``dnn.load_model`` reads it and
        ``from_model`` makes a fitted estimator of it again. Returns the path written."""
        check_is_fitted(self)
        from dnn.model_io import save_model
        meta = {"estimator": type(self).__name__, "n_iter": int(self.n_iter_), "loss": float(self.loss_)}
        meta.update(self._model_metadata())
        meta.update(metadata or {})
        return save_model(path, {k: np.ascontiguousarray(a) for k, a in self._parameters.items()},
                          classes=self._model_classes(), metadata=meta, hidden_activation=self.activation,
                          output=self._output)

    def _model_classes(self):
        return None

    def _model_metadata(self):
        return {}

    @classmethod
    def _from_parameters(cls, model, parameters, random_state):
        """A fitted estimator of ``model``'s layers and activation holding ``parameters``."""
        est = cls(hidden_layer_sizes=tuple(model.layer_dims[1:-1]), activation=model.hidden_activation,
                  dtype=model.dtype, random_state=random_state)
        est._dtype, est._output = np.dtype(model.dtype), model.output
        est.n_features_in_ = model.layer_dims[0]
        est._hidden_sizes, est._keep = list(model.layer_dims[1:-1]), [1.0] * (len(model.layer_dims) - 2)
        est._rng = check_random_state(random_state)
        est._new_run(parameters, est._opts(est._keep, model.output, 1), True, est._rng.randint(2 ** 31))
        est._store(parameters)
        return est

    def fit(self, X, y, sample_weight=None):
        """Train for up to ``max_iter`` epochs (from the fitted network when ``warm_start``); returns self.

        ``sample_weight`` ``(n_samples,)`` (or None: every weight 1), scikit-learn's MLP's: each
        sample's loss and output gradient times its weight, each mini-batch's gradients and L2
        term over the batch's weight sum; weights must be finite and >= 0, not all 0 (a batch
        whose weights are all 0 is skipped); with ``early_stopping`` the validation part's
        weights weigh its score."""
        return self._start(X, y, incremental=False, sample_weight=sample_weight)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags


class DNNClassifier(ClassifierMixin, _BaseDNN):
    """A dense network classifier, ``MLPClassifier``'s drop-in (see the module's docstring)."""

    _is_classifier = True
    _multi_output = False

    def _encode(self, y, first, incremental, classes):
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        if incremental:
            if _check_partial_fit_first_call(self, classes) or first:
                classes = self.classes_
        elif first:
            self.classes_ = np.unique(y)
        if len(self.classes_) < 2:
            raise ValueError("DNNClassifier needs samples of at least 2 classes, got 1 class: %r" % (self.classes_[0],))
        idx = np.searchsorted(self.classes_, y)
        idx[idx >= len(self.classes_)] = 0
        unseen = self.classes_[idx] != y
        if np.any(unseen):
            raise ValueError("y holds labels not in classes_ %r: %r" % (list(self.classes_), np.unique(y[unseen])[:5]))
        if not first and len(self.classes_) != (self.n_outputs_ if self.n_outputs_ > 1 else 2):
            raise ValueError("the classes changed since the network was fitted")
        K = len(self.classes_)
        if K == 2:
            self._output = "sigmoid"
            return idx.astype(self._dtype).reshape(-1, 1)
        self._output = "softmax"
        Y = np.zeros((len(y), K), dtype=self._dtype)
        Y[np.arange(len(y)), idx] = 1
        return Y

    def _model_classes(self):
        return tuple(str(c) for c in self.classes_)

    @classmethod
    def from_model(cls, model, *, random_state=None):
        """A fitted ``DNNClassifier`` from ``dnn.load_model``'s ``Model`` (a sigmoid or softmax
        output): it predicts, and ``partial_fit`` trains on from the file's weights (with a
        fresh optimizer state).

        ``classes_`` are the file's class names (strings), sorted; the hyperparameters
        are the defaults but ``hidden_layer_sizes``, ``activation``, ``dtype``
        and ``random_state``.
        """
        if model.output not in ("sigmoid", "softmax"):
            raise ValueError("the model file holds a %s output, not a classifier's (sigmoid or softmax): "
                             "use DNNRegressor.from_model" % model.output)
        parameters = {k: np.array(a) for k, a in model.parameters.items()}
        classes = np.array(model.classes)
        L = len(parameters) // 2
        if len(np.unique(classes)) != len(classes):
            raise ValueError("the model file names a class twice: %r" % (list(classes),))
        # classes_ is sorted, as scikit-learn's (its encoding and scorers rely on it).
        if model.output == "sigmoid" and classes[0] > classes[1]:
            # The file's label 1 becomes classes_[0], so the output's logit changes sign.
            classes = classes[::-1].copy()
            for key in ("W%d" % L, "b%d" % L):
                np.negative(parameters[key], out=parameters[key])
        elif model.output == "softmax":
            order = np.argsort(classes, kind="stable")   # the output units follow their class
            classes = classes[order]
            for key in ("W%d" % L, "b%d" % L):
                parameters[key] = np.ascontiguousarray(parameters[key][order])
        est = cls._from_parameters(model, parameters, random_state)
        est.classes_ = classes
        return est

    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One epoch over (X, y) (no early-stopping split, as scikit-learn); ``sample_weight`` as
        in ``fit``; ``classes``, every label, is required on the first call."""
        return self._start(X, y, incremental=True, classes=classes, sample_weight=sample_weight)

    def _score_encoded(self, parameters, X, Y, sample_weight=None):
        """The accuracy (weighted by ``sample_weight`` if given) on encoded targets."""
        _, AL = _engine.forward_output(parameters, X, self.activation, self._output)
        if self._output == "sigmoid":
            right = (AL[0] > 0.5) == (Y[:, 0] > 0.5)
        else:
            right = AL.argmax(axis=0) == Y.argmax(axis=1)
        return float(np.mean(right) if sample_weight is None else np.average(right, weights=sample_weight))

    def decision_function(self, X):
        """The output layer's ``Z``: ``(m,)`` for two classes (the logit of ``classes_[1]``), else ``(m, K)``."""
        check_is_fitted(self)
        Z, _ = self._forward(self._validate_X(X, reset=False))
        return Z[0].copy() if self._output == "sigmoid" else Z.T.copy()

    def predict_proba(self, X):
        """Class probabilities ``(m, n_classes)``, columns in the order of ``classes_``."""
        check_is_fitted(self)
        _, AL = self._forward(self._validate_X(X, reset=False))
        if self._output == "sigmoid":
            p = AL[0]
            return np.column_stack((1 - p, p))
        return np.ascontiguousarray(AL.T)

    def predict_log_proba(self, X):
        """``log(predict_proba(X))``, computed stably from ``Z`` (log-sigmoid or log-softmax)."""
        check_is_fitted(self)
        Z, _ = self._forward(self._validate_X(X, reset=False))
        if self._output == "sigmoid":
            z = Z[0]
            return np.column_stack((-np.logaddexp(0, z), -np.logaddexp(0, -z)))
        Z = Z - Z.max(axis=0, keepdims=True)
        Z -= np.log(np.exp(Z).sum(axis=0, keepdims=True))
        return np.ascontiguousarray(Z.T)

    def predict(self, X):
        """Labels from ``classes_``: output > 0.5 for two classes, the argmax for more."""
        check_is_fitted(self)
        _, AL = self._forward(self._validate_X(X, reset=False))
        idx = (AL[0] > 0.5).astype(np.intp) if self._output == "sigmoid" else AL.argmax(axis=0)
        return self.classes_[idx]


class DNNRegressor(RegressorMixin, _BaseDNN):
    """A dense network regressor with an identity output and the squared error, ``MLPRegressor``'s drop-in."""

    _is_classifier = False
    _multi_output = True
    _output = "identity"

    def _encode(self, y, first, incremental, classes):
        y = v.as_real_array(y, "y")  # dates, durations, strings: not cast to numbers behind the user's back
        self._y_1d = y.ndim == 1 if first else self._y_1d
        with np.errstate(over="ignore"):
            Y = np.ascontiguousarray(y.reshape(len(y), -1), dtype=self._dtype)
        if not np.isfinite(Y).all():  # y was checked finite; float32 may not hold it
            raise ValueError("y must be finite in %s, the training dtype: it holds values up to %g"
                             % (self._dtype, np.abs(y).max()))
        if not first and Y.shape[1] != self.n_outputs_:
            raise ValueError("y has %d outputs, the fitted network %d" % (Y.shape[1], self.n_outputs_))
        return Y

    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over (X, y), from the fitted network if there is one; ``sample_weight`` as in ``fit``."""
        return self._start(X, y, incremental=True, sample_weight=sample_weight)

    def _model_metadata(self):
        return {"y_1d": bool(self._y_1d)}

    @classmethod
    def from_model(cls, model, *, random_state=None):
        """A fitted ``DNNRegressor`` from ``dnn.load_model``'s ``Model`` (an identity output): it
        predicts (``(m,)`` if the saved estimator's target was 1-D, else ``(m, n_outputs)``), and
        ``partial_fit`` trains on from the file's weights (with a fresh optimizer state)."""
        if model.output != "identity":
            raise ValueError("the model file holds a %s output, not a regressor's (identity): use "
                             "DNNClassifier.from_model" % model.output)
        est = cls._from_parameters(model, {k: np.array(a) for k, a in model.parameters.items()}, random_state)
        y_1d = model.metadata.get("y_1d")
        est._y_1d = bool(y_1d) if isinstance(y_1d, bool) else model.layer_dims[-1] == 1
        return est

    def _score_encoded(self, parameters, X, Y, sample_weight=None):
        """R^2 averaged over the outputs (weighted by ``sample_weight`` if given; 0 for a constant target)."""
        _, AL = _engine.forward_output(parameters, X, self.activation, self._output)
        if sample_weight is None:
            resid = ((Y - AL.T) ** 2).sum(axis=0)
            total = ((Y - Y.mean(axis=0)) ** 2).sum(axis=0)
        else:
            w = np.asarray(sample_weight, np.float64).reshape(-1, 1)
            resid = (w * (Y - AL.T) ** 2).sum(axis=0)
            total = (w * (Y - np.average(Y, axis=0, weights=w[:, 0])) ** 2).sum(axis=0)
        r2 = np.where(total > 0, 1 - resid / np.where(total > 0, total, 1), 0.0)
        return float(np.mean(r2))

    def predict(self, X):
        """Predictions ``(m,)`` for a 1-D target, else ``(m, n_outputs)``."""
        check_is_fitted(self)
        _, AL = self._forward(self._validate_X(X, reset=False))
        return AL[0].copy() if self._y_1d else np.ascontiguousarray(AL.T)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

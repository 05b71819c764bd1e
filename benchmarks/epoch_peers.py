"""Mini-batch training, an epoch at a time: dnn and its peers, and how they are timed.

Shared by the two side-by-side epoch tables (``minibatch_table.py``, issue 11;
``estimator_table.py``, issue 12) and their pytest-benchmark entries.

A *contender* is built once per cell and has ``run(k)``: train k more epochs
of the same network on the same data. What each one is:

- ``dnn.model``: the course's ``model(X, Y, layers_dims, optimizer,
  num_epochs=k, print_cost=False)``; every call is a fresh fit of k epochs
  (its checks and He initialization are in the time, as a user's call has them);
- ``dnn.DNNClassifier`` and scikit-learn's ``MLPClassifier``: the same
  hyperparameters, ``warm_start=True``, ``max_iter=k``, ``tol=0`` and
  ``n_iter_no_change`` out of reach (so exactly k epochs run), no early
  stopping, ``alpha`` as given (0 in the issue 11 table), ConvergenceWarning
  silenced; each call continues the last (its checks are in the time);
- PyTorch: the same layers as ``nn.Sequential`` of ``nn.Linear`` and
  ``nn.ReLU``, ``BCEWithLogitsLoss`` (one output) or ``CrossEntropyLoss``,
  ``torch.optim.Adam`` or ``torch.optim.SGD(momentum=...)`` with their
  defaults otherwise; per epoch one ``randperm``, X and y gathered once in
  that order, batches sliced from them (no DataLoader); in the dtype of the cell.

Momentum is each library's own: the course's ``v = beta v + (1 - beta) dW``
in ``dnn.model``, the heavy ball ``v = mu v - lr dW`` (Nesterov off) in
scikit-learn and ``DNNClassifier``, ``v = mu v + dW`` in torch: the same work.

Timing (``paired``): after one warm-up call of each contender (which also
calibrates k, so a call lasts about ``round_time``), rounds of one call of
each contender in turn, the order reversed every other round, until at least
``min_rounds`` rounds are done and ``budget`` seconds have passed (or
``max_rounds``); the time per epoch is the median over the rounds of a call's
time over its k epochs. All contenders of a cell run in this one process under
the same BLAS/OpenMP thread limit (threadpoolctl for NumPy's, SciPy's and
torch's pools, and ``torch.set_num_threads``); with more than one thread each
call starts after ``settle`` idle seconds, so the previous contender's
spinning threads have stopped.
"""

import contextlib
import gc
import importlib
import os
import statistics
import sys
import time
import warnings

import numpy as np

# The hypervisor's steal, and the share of a call's wall time past which the call is timed
# again: the mini-batch planner's own.
from dnn._plan import STOLEN_SHARE, steal_seconds

#: What each contender needs, beside numpy: the module that must import.
NEEDS = {"dnn.model": "dnn", "DNNClassifier": "sklearn", "sklearn": "sklearn", "torch": "torch"}
#: Names of contenders as the tables print them.
LABELS = {"dnn.model": "dnn.model", "DNNClassifier": "DNNClassifier", "sklearn": "MLPClassifier",
          "torch": "torch"}
#: Idle seconds before each timed call when more than one thread runs (thread pools spin
#: about 0.1 s after their last call before they sleep).
SETTLE_SECONDS = 0.15


def missing(name):
    """None if contender ``name`` can run here, else why not ("not installed: ...")."""
    try:
        importlib.import_module(NEEDS[name])
        if name == "DNNClassifier":
            import dnn

            dnn.DNNClassifier  # noqa: B018  (needs scikit-learn, imported lazily)
    except ImportError as exc:
        return "not installed (%s)" % exc
    return None


class Fit:
    """One training configuration: optimizer (``"adam"`` or ``"momentum"``), batch size,
    learning rate, momentum ``beta``, L2 ``alpha``, and the hidden activation (ReLU)."""

    def __init__(self, optimizer, batch_size, learning_rate, beta=0.9, alpha=0.0):
        if optimizer not in ("adam", "momentum"):
            raise ValueError("optimizer must be 'adam' or 'momentum', got %r" % (optimizer,))
        self.optimizer, self.batch_size, self.learning_rate = optimizer, batch_size, learning_rate
        self.beta, self.alpha = beta, alpha

    def __repr__(self):
        return "%s, batch %s" % (self.optimizer, self.batch_size)

    def estimator_params(self):
        """scikit-learn's names (shared by MLPClassifier and DNNClassifier)."""
        p = dict(solver="adam" if self.optimizer == "adam" else "sgd", batch_size=self.batch_size,
                 learning_rate_init=self.learning_rate, alpha=self.alpha, learning_rate="constant",
                 shuffle=True, early_stopping=False, tol=0.0, n_iter_no_change=2 ** 31 - 1)
        if self.optimizer == "momentum":
            p.update(momentum=self.beta, nesterovs_momentum=False)
        return p


class Data:
    """A classification problem in every layout the contenders take.

    ``X`` samples-major ``(m, n)`` C-contiguous in ``dtype``, ``y`` int64 labels
    ``(m,)`` in [0, K); ``K`` classes (2: one sigmoid output, more: softmax).
    """

    def __init__(self, X, y, K):
        self.X = np.ascontiguousarray(X)
        self.y = np.ascontiguousarray(y, dtype=np.int64)
        self.K = K
        self.m, self.n = self.X.shape
        self.dtype = self.X.dtype
        self._course = None

    @classmethod
    def synthetic(cls, n, m, K, dtype, seed=0):
        """Uniform features in [0, 1), random labels: an epoch's time does not depend on what they mean."""
        rng = np.random.default_rng(seed)
        return cls(rng.random((m, n)).astype(dtype), rng.integers(0, K, m), K)

    def outputs(self):
        return 1 if self.K == 2 else self.K

    def course(self):
        """``(X (n, m), Y)`` as ``dnn.model`` takes them: Y ``(1, m)`` 0/1 or class indices."""
        if self._course is None:
            self._course = (np.ascontiguousarray(self.X.T), self.y.reshape(1, -1).astype(self.dtype))
        return self._course


def _quiet(fit, X, y):
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return fit(X, y)


class DnnModel:
    """``dnn.model``: a fresh fit of k epochs per call (He init, the course's shuffles)."""

    def __init__(self, data, hidden, fit, seed=0):
        import dnn

        self._model = dnn.model
        self._X, self._Y = data.course()
        self._dims = [data.n] + list(hidden) + [data.outputs()]
        self._kw = dict(optimizer="adam" if fit.optimizer == "adam" else "momentum",
                        learning_rate=fit.learning_rate, mini_batch_size=fit.batch_size, beta=fit.beta,
                        print_cost=False, lambd=fit.alpha, seed=seed)

    def run(self, k):
        self._model(self._X, self._Y, self._dims, num_epochs=k, **self._kw)


class _Estimator:
    """An estimator with scikit-learn's MLP parameters, warm-started: each call trains k more epochs."""

    def __init__(self, data, hidden, fit, seed=0, **extra):
        self.estimator = self._make()(hidden_layer_sizes=tuple(hidden), activation="relu", warm_start=True,
                                      max_iter=1, random_state=seed, **fit.estimator_params(), **extra)
        self._X, self._y = data.X, data.y

    def run(self, k):
        self.estimator.max_iter = k
        _quiet(self.estimator.fit, self._X, self._y)

    def fresh_fit(self, epochs, X=None, y=None):
        """A new fit of ``epochs`` epochs from the estimator's initialization (``warm_start`` off for it)."""
        est = self.estimator
        est.set_params(warm_start=False, max_iter=epochs)
        try:
            _quiet(est.fit, self._X if X is None else X, self._y if y is None else y)
        finally:
            est.set_params(warm_start=True)
        return est


class DnnClassifier(_Estimator):
    @staticmethod
    def _make():
        import dnn

        return dnn.DNNClassifier


class SklearnMLP(_Estimator):
    @staticmethod
    def _make():
        from sklearn.neural_network import MLPClassifier

        return MLPClassifier


class Torch:
    """The same network in PyTorch: per epoch one randperm, batches sliced from the gathered tensors."""

    def __init__(self, data, hidden, fit, seed=0):
        import torch

        self._torch = torch
        torch.manual_seed(seed)
        tdtype = {np.dtype(np.float64): torch.float64, np.dtype(np.float32): torch.float32}[data.dtype]
        sizes = [data.n] + list(hidden) + [data.outputs()]
        layers = []
        for i in range(1, len(sizes)):
            layers.append(torch.nn.Linear(sizes[i - 1], sizes[i], dtype=tdtype))
            if i < len(sizes) - 1:
                layers.append(torch.nn.ReLU())
        self._net = torch.nn.Sequential(*layers)
        self._X = torch.from_numpy(data.X)
        if data.K == 2:
            self._y = torch.from_numpy(data.y.astype(data.dtype).reshape(-1, 1))
            self._loss = torch.nn.BCEWithLogitsLoss()
        else:
            self._y = torch.from_numpy(data.y)
            self._loss = torch.nn.CrossEntropyLoss()
        params = self._net.parameters()
        if fit.optimizer == "adam":
            self._opt = torch.optim.Adam(params, lr=fit.learning_rate, weight_decay=fit.alpha)
        else:
            self._opt = torch.optim.SGD(params, lr=fit.learning_rate, momentum=fit.beta, weight_decay=fit.alpha)
        self._b = fit.batch_size
        self._gen = torch.Generator().manual_seed(seed)

    def run(self, k):
        torch, net, loss_fn, opt, b = self._torch, self._net, self._loss, self._opt, self._b
        m = self._X.shape[0]
        for _ in range(k):
            perm = torch.randperm(m, generator=self._gen)
            X, y = self._X[perm], self._y[perm]
            for start in range(0, m, b):
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(net(X[start:start + b]), y[start:start + b])
                loss.backward()
                opt.step()


CONTENDERS = {"dnn.model": DnnModel, "DNNClassifier": DnnClassifier, "sklearn": SklearnMLP, "torch": Torch}


@contextlib.contextmanager
def thread_limit(threads):
    """BLAS/OpenMP threads for NumPy, SciPy and torch (import torch first, if it is to be limited)."""
    from threadpoolctl import threadpool_limits

    torch = sys.modules.get("torch")
    before = torch.get_num_threads() if torch is not None else None
    with threadpool_limits(limits=threads):
        if torch is not None:
            torch.set_num_threads(threads)
        try:
            yield
        finally:
            if torch is not None:
                torch.set_num_threads(before)


class Kept:
    """Each contender's times per unit (epoch, iteration) in the rounds of a ``paired``, and
    which of them to keep: a call that lost more than ``STOLEN_SHARE`` of its time to the
    hypervisor (``steal_seconds``) is left out; until each contender has ``min_rounds`` kept,
    the rounds go on (``wanting``); a contender that never gets there is judged on all its
    calls."""

    def __init__(self, names, min_rounds):
        self.min_rounds = min_rounds
        self.kept = {name: [] for name in names}
        self.every = {name: [] for name in names}
        self.stolen = 0

    def add(self, name, seconds, units, lost):
        self.every[name].append(seconds / units)
        if lost > STOLEN_SHARE * seconds:
            self.stolen += 1
        else:
            self.kept[name].append(seconds / units)

    def wanting(self):
        return min(len(v) for v in self.kept.values()) < self.min_rounds

    def medians(self):
        return {name: statistics.median(kept if len(kept) >= self.min_rounds else self.every[name])
                for name, kept in self.kept.items()}


def _timed(run, k, clock, steal=steal_seconds):
    """``(seconds, seconds stolen by the hypervisor meanwhile)`` of ``run(k)``."""
    gc.collect()
    was = gc.isenabled()
    gc.disable()
    try:
        s = steal()
        t = clock()
        run(k)
        return clock() - t, steal() - s
    finally:
        if was:
            gc.enable()


def paired(runs, budget=3.0, min_rounds=3, max_rounds=41, round_time=0.2, settle=0.0, clock=time.perf_counter,
           stats=None, steal=steal_seconds):
    """Median seconds per epoch of each ``runs[name](k)``, in alternating rounds.

    Returns ``({name: seconds per epoch}, rounds)``. Every contender's first
    call (one epoch) is a warm-up, left out; its second, also left out, sets its k
    (a first call may do one-time work, such as measuring dnn's plan of a new key,
    which would make k too small: benchmarks/NOTES.md, "The mini-batch table's calibration").
    A call the hypervisor stole from is timed again (``Kept``); ``stats``, a dict, gets
    ``stolen_calls`` and ``epochs_per_call`` (name -> k).
    ``clock`` and ``steal`` are the clocks (tests give their own).
    """
    # Objects alive now (torch's and scikit-learn's modules among them) are frozen out of the
    # collector: the collection before each call then takes microseconds, not 0.1 s.
    gc.freeze()
    try:
        ks = {}
        for name, run in runs.items():
            if settle:  # the first call may measure dnn's plan: not under another pool's spin
                time.sleep(settle)
            run(1)
            if settle:
                time.sleep(settle)
            one = max(_timed(run, 1, clock, steal)[0], 1e-6)
            ks[name] = max(1, min(10000, int(round_time / one)))
        names = list(runs)
        times = Kept(names, min_rounds)
        t0 = time.perf_counter()
        rounds = 0
        while rounds < max_rounds and (times.wanting() or time.perf_counter() - t0 < budget):
            for name in (names if rounds % 2 == 0 else names[::-1]):
                if settle:
                    time.sleep(settle)
                seconds, lost = _timed(runs[name], ks[name], clock, steal)
                times.add(name, seconds, ks[name], lost)
            rounds += 1
    finally:
        gc.unfreeze()
    if stats is not None:
        stats["stolen_calls"] = times.stolen
        stats["epochs_per_call"] = ks
    return times.medians(), rounds


def names(allowed, what):
    """An argparse ``type``: a comma-separated subset of ``allowed``."""
    from dnn import bench

    return lambda text: bench._parse_list(text, allowed, what)


def add_timing_options(parser):
    """The options both epoch tables share: threads, dtypes, the rounds' budget, clock, output."""
    parser.add_argument("--dtypes", default="float64,float32", type=names(("float64", "float32"), "dtype"))
    parser.add_argument("--threads", default="1,2", help="BLAS/torch thread counts (default 1,2)",
                        type=lambda text: [int(t) for t in text.split(",") if t.strip()])
    parser.add_argument("--budget", type=float, default=None,
                        help="seconds of alternating rounds per cell, after the warm-up (default 3; 1 with "
                             "--quick); at least --min-rounds rounds run")
    parser.add_argument("--min-rounds", type=int, default=3)
    parser.add_argument("--round-time", type=float, default=0.2,
                        help="seconds a call should last (epochs per call are calibrated to it)")
    parser.add_argument("--quick", action="store_true", help="--budget 1")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="cpu: this process's CPU time (needs --threads 1), for a shared machine")
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--json", metavar="FILE", help="also write the rows to FILE")


def timing(args, parser):
    """``dict(threads, clock, budget, min_rounds, round_time)`` from the options of ``add_timing_options``."""
    clock = time.perf_counter
    if args.clock == "cpu":
        if args.threads != [1]:
            parser.error("--clock cpu needs --threads 1 (CPU time adds up threads)")
        clock = time.process_time
    return dict(threads=args.threads, clock=clock, min_rounds=args.min_rounds, round_time=args.round_time,
                budget=args.budget if args.budget is not None else (1.0 if args.quick else 3.0))


def load_average():
    """The 1-minute load average, as text ("n/a" where the system does not tell)."""
    from dnn import bench

    return bench._loadavg()


def header_lines(threads_text, load_at_start):
    """The machine, the versions and the BLAS pools (``dnn.bench``'s header) and the load."""
    from dnn import bench

    import dnn

    lines = bench._machine_lines(0)
    lines[0] = lines[0].split("; BLAS threads")[0] + "; BLAS/torch threads: %s" % threads_text
    return lines + ["dnn %s from %s" % (dnn.__version__, os.path.dirname(os.path.abspath(dnn.__file__))),
                    "load average (1 min): %s at the start, %s at the end" % (load_at_start, bench._loadavg())]


def mark(ratio, target):
    """``"3.10x pass"`` / ``"1.20x miss"`` against a target ratio, or ``"n/a"``."""
    if ratio is None:
        return "n/a"
    return "%.2fx %s" % (ratio, "pass" if ratio >= target else "miss")


def ms(seconds):
    if seconds is None:
        return "n/a"
    v = seconds * 1e3
    return "%.3g" % v if v < 1000 else "%.0f" % v


def render(header, body, markdown, right_from):
    from dnn import bench

    return bench._render(header, body, markdown, right_from=right_from)

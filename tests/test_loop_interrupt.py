"""Ctrl-C during an estimator's fit (``dnn._engine.fit_epochs``) stops it as scikit-learn's MLP does
(a warning, the epochs that ran kept) with parameters, optimizer state (Adam's t, dropout's step),
``n_iter_``, ``t_`` and ``loss_curve_`` that agree: the interrupted fit is the fit of the epochs it ran,
and continuing it gives the uninterrupted fit. The course's loops on the compiled mini-batch loop
(``dnn.model``, ``L_layer_model``'s second part) raise the interrupt carrying parameters, iterations and
costs that agree likewise, and so does ``L_layer_model``'s full-batch loop (``dnn._train``). The
interrupt is raised right after an epoch's (a run's) compiled call returns, before Python records its
results (where CPython delivers a Ctrl-C that arrived during it); one test sends a real one.
"""
import _thread
import threading

import numpy as np
import pytest

pytest.importorskip("sklearn")
pytestmark = pytest.mark.filterwarnings("ignore:Stochastic Optimizer")

import dnn
from dnn import _engine, _loop, _train


class _Interrupted(_loop.Loop):
    after = 3  # raise after this many epochs of this Loop

    def epoch(self, *args):
        result = super().epoch(*args)
        if self.epochs == self.after:
            raise KeyboardInterrupt
        return result


class _InterruptedBefore(_loop.Loop):
    """Raises as the call after 3 epochs starts, before its compiled epoch (a Ctrl-C landing
    between the epoch's order drawn and its compiled call)."""

    def epoch(self, *args):
        if self.epochs == 3:
            raise KeyboardInterrupt
        return super().epoch(*args)


def data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((120, 5))
    return X, (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 2] > 1)


@pytest.mark.parametrize("snapshots", [64, 2, 1], ids=lambda n: "state copied every %d draws" % n)
@pytest.mark.parametrize("cut_loop", [_Interrupted, _InterruptedBefore])
@pytest.mark.parametrize("kw", [dict(solver="adam", keep_prob=0.8), dict(solver="sgd", momentum=0.9)])
def test_interrupted_fit_is_the_fit_of_the_epochs_it_ran(monkeypatch, kw, cut_loop, snapshots):
    X, y = data()
    monkeypatch.setattr(_engine, "RNG_SNAPSHOT_DRAWS", snapshots)
    make = lambda n: dnn.DNNClassifier(hidden_layer_sizes=(8,), max_iter=n, random_state=0, tol=0,
                                       batch_size=32, warm_start=True, **kw)
    clean = make(3).fit(X, y)
    monkeypatch.setattr(_loop, "Loop", cut_loop)
    with pytest.warns(UserWarning, match="interrupted"):
        cut = make(5).fit(X, y)
    assert (cut.n_iter_, cut.t_, cut._state["t"], cut._state["step"]) == (
        clean.n_iter_, clean.t_, clean._state["t"], clean._state["step"])
    assert cut.loss_curve_ == clean.loss_curve_
    for a, b in zip(cut.coefs_ + cut.intercepts_, clean.coefs_ + clean.intercepts_):
        np.testing.assert_array_equal(a, b)
    monkeypatch.undo()
    whole = make(5).fit(X, y)
    cut.set_params(max_iter=2)
    cut.fit(X, y)  # warm start: epochs 4 and 5
    assert cut.loss_curve_ == whole.loss_curve_
    for a, b in zip(cut.coefs_ + cut.intercepts_, whole.coefs_ + whole.intercepts_):
        np.testing.assert_array_equal(a, b)


def _course_data():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((5, 90))
    return X, (X[:1] + X[1:2] > 0).astype(float)


class _CutTrainer(_train.Trainer):
    """The full-batch loop's trainer, raising KeyboardInterrupt as the run that reaches 3 iterations
    returns (where a Ctrl-C during it is raised: ``Trainer.run``'s PyErr_CheckSignals)."""

    def run(self, *args):
        result = super().run(*args)
        if self.iterations_done >= 3:
            raise KeyboardInterrupt
        return result


@pytest.mark.parametrize("fit", ["model", "L_layer_model mini-batch", "L_layer_model full-batch"])
def test_a_course_fit_interrupted_carries_what_its_epochs_made(monkeypatch, fit):
    """The course's loops: a Ctrl-C raised as an epoch's (a run's) compiled call returns finds that
    epoch in the parameters, so it is in the ``iterations`` and ``costs`` the KeyboardInterrupt
    carries too: they are the 3-epoch fit's. ``dnn.model`` and ``L_layer_model`` with L2 run the
    mini-batch loop (``dnn._loop``), plain ``L_layer_model`` the full-batch one (``dnn._train``),
    whose cut run had reached a cost to record."""
    X, Y = _course_data()
    if fit == "model":
        run = lambda n: dnn.model(X, Y, [5, 4, 1], "adam", 0.05, 16, num_epochs=n, print_cost=False,
                                  return_costs=True, cost_every=1)
    else:
        l2 = dict(lambd=0.1) if fit.endswith("mini-batch") else {}
        run = lambda n: dnn.L_layer_model(X, Y, [5, 4, 1], 0.05, num_iterations=n, print_cost=False,
                                          return_costs=True, cost_every=1, **l2)
    three, costs3 = run(3)
    if fit.endswith("full-batch"):
        monkeypatch.setattr(_train, "Trainer", _CutTrainer)
    else:
        monkeypatch.setattr(_loop, "Loop", _Interrupted)
    with pytest.raises(KeyboardInterrupt) as info:
        run(10)
    exc = info.value
    assert exc.iterations == 3 and exc.costs == costs3
    for k in three:
        np.testing.assert_array_equal(exc.parameters[k], three[k])


def test_an_interrupt_during_an_epoch_gives_blas_its_threads_back():
    """A Ctrl-C during an epoch with BLAS products (BLAS held at one thread for the epoch:
    dnn._blas_threads.blas_lent) is raised inside the hold, whose exit then gives BLAS its threads
    back at once. Raised in that exit, it left them held for as long as the exception's traceback
    lived (an interactive session keeps it: sys.last_traceback). A timer sends the Ctrl-C while
    epochs run; an epoch is almost all compiled code, where it waits to be raised."""
    from dnn import _blas_threads

    rng = np.random.default_rng(0)
    X = rng.random((4096, 256))
    Y = (rng.random((4096, 1)) < 0.5).astype(float)
    layers = [(rng.standard_normal((128, 256)) * 0.05, np.zeros((128, 1))),
              (rng.standard_normal((1, 128)) * 0.1, np.zeros((1, 1)))]
    loop = _loop.Loop(layers, X, Y, batch_size=64, products="blas")
    assert loop.uses_blas
    timer = threading.Timer(0.05, _thread.interrupt_main)
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt) as info:
            for _ in range(100000):
                loop.epoch(None, 0.01, loop.t, loop.step)
    finally:
        timer.cancel()
    assert info.value.__traceback__ is not None  # still held, as an interactive session would
    assert _blas_threads._lenders == 0


@pytest.mark.parametrize("rng", [np.random.RandomState(0), np.random.default_rng(0)], ids=["RandomState", "Generator"])
def test_the_generators_state_is_given_back_whatever_its_kind(rng):
    from dnn import _engine

    state = _engine._rng_state(rng)
    first = rng.permutation(50)
    _engine._set_rng_state(rng, state)
    np.testing.assert_array_equal(rng.permutation(50), first)

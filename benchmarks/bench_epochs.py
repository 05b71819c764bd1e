"""One epoch of mini-batch training: dnn against MLPClassifier and torch (issue 11 and 12's contenders).

Small problems only (S3 and S6 of ``minibatch_table.PROBLEMS``, digits through
the estimators); each benchmark is one call of ``run(1)``, one epoch, of a
contender of ``epoch_peers.py``, grouped "epoch <problem> <fit> <dtype>" so
pytest-benchmark prints the contenders side by side. A contender that is not
installed is skipped. BLAS and torch threads: ``--dnn-threads`` (conftest.py).
The paired tables with ratios and targets: ``python benchmarks/compare.py
--minibatch`` and ``--estimator``.
"""

import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # importlib mode: not on sys.path
import epoch_peers as ep  # noqa: E402
import minibatch_table  # noqa: E402

PROBLEMS = ("S3", "S6")
FITS = ("adam-64", "momentum-64")


@pytest.fixture(params=list(ep.CONTENDERS))
def contender(request):
    why = ep.missing(request.param)
    if why:
        pytest.skip("%s: %s" % (request.param, why))
    with ep.thread_limit(request.config.getoption("--dnn-threads")):
        yield request.param


@pytest.mark.parametrize("fit_name", FITS)
@pytest.mark.parametrize("epoch_problem", PROBLEMS)
def test_epoch(benchmark, contender, epoch_problem, fit_name, dtype_name):
    dims, m = minibatch_table.PROBLEMS[epoch_problem]
    data = ep.Data.synthetic(dims[0], m, 2 if dims[-1] == 1 else dims[-1], np.dtype(dtype_name))
    run = ep.CONTENDERS[contender](data, dims[1:-1], ep.Fit(*minibatch_table.FITS[fit_name])).run
    benchmark.group = "epoch %s %s %s" % (epoch_problem, fit_name, dtype_name)
    benchmark(run, 1)


@pytest.mark.parametrize("estimator", ["DNNClassifier", "sklearn"])
def test_digits_epoch(benchmark, estimator, dtype_name):
    """One more epoch of a fitted estimator on digits (MLPClassifier's default hyperparameters)."""
    why = ep.missing(estimator)
    if why:
        pytest.skip("%s: %s" % (estimator, why))
    import estimator_table

    X_train, _, y_train, _ = estimator_table.digits()
    data = ep.Data(X_train.astype(dtype_name), y_train, 10)
    est = ep.CONTENDERS[estimator](data, (100,), ep.Fit("adam", "auto", 0.001, alpha=0.0001))
    benchmark.group = "epoch digits %s" % dtype_name
    benchmark(est.run, 1)

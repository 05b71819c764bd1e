"""Compare dnn's training speed with the reference, PyTorch and scikit-learn.

Thin script over :func:`dnn.bench.main` (the same as ``dnn bench`` and
``python -m dnn.bench``); ``python benchmarks/compare.py --help`` lists the options.
Other tables, each with its own options (``--<table> --help``):

- ``--step-loop``: the course's step-by-step loop over dnn against the course's
  NumPy code (``benchmarks/step_loop.py``);
- ``--minibatch``: time per epoch of mini-batch Adam and momentum SGD, dnn
  against scikit-learn's ``MLPClassifier`` and PyTorch (issue 11;
  ``benchmarks/minibatch_table.py``);
- ``--estimator``: ``DNNClassifier`` against ``MLPClassifier`` on digits, a
  100,000 x 100 synthetic set and the cat pictures, per epoch and accuracy, and
  with ``--dask`` a grid search on a Dask LocalCluster against joblib's default
  backend (issue 12; ``benchmarks/estimator_table.py``).
"""

import sys

#: option -> the module beside this script whose main() prints that table
TABLES = {"--step-loop": "step_loop", "--minibatch": "minibatch_table", "--estimator": "estimator_table"}

if __name__ == "__main__":
    chosen = [opt for opt in TABLES if opt in sys.argv[1:]]
    if len(chosen) > 1:
        sys.exit("compare.py: choose one of %s" % ", ".join(chosen))
    if chosen:
        module = __import__(TABLES[chosen[0]])  # beside this script (sys.path[0])
        sys.exit(module.main([a for a in sys.argv[1:] if a != chosen[0]]))
    from dnn.bench import main

    sys.exit(main())

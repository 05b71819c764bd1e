"""Compare dnn's training speed with the reference, PyTorch and scikit-learn.

Thin script over :func:`dnn.bench.main` (the same as ``dnn bench`` and
``python -m dnn.bench``); ``python benchmarks/compare.py --help`` lists the options.
"""

import sys

from dnn.bench import main

if __name__ == "__main__":
    sys.exit(main())

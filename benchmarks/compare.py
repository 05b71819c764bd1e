"""Compare dnn's training speed with the reference, PyTorch and scikit-learn.

Thin script over :func:`dnn.bench.main` (the same as ``dnn bench`` and
``python -m dnn.bench``); ``python benchmarks/compare.py --help`` lists the options.
``python benchmarks/compare.py --step-loop [--markdown]`` prints the second table,
the course's step-by-step loop over dnn against the course's NumPy code
(``benchmarks/step_loop.py``; ``--step-loop --help`` lists its options).
"""

import sys

if __name__ == "__main__":
    if "--step-loop" in sys.argv[1:]:
        import step_loop  # beside this script

        sys.exit(step_loop.main([a for a in sys.argv[1:] if a != "--step-loop"]))
    from dnn.bench import main

    sys.exit(main())

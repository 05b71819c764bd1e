"""The mini-batch loop on one thread against its team of two (``Loop(threads=2)``).

Per cell (problem x optimizer-batch x dtype), ms per epoch of ``dnn._loop.Loop``
with every product on BLAS, every product ours on one thread, ours on a team of
two, and the short-fit rule's plan (``dnn._loop_plan.rule_plan``: the rule's
products, teamed if they are all ours and large); BLAS may use two threads
throughout. Rounds
alternate the contenders in this process; medians of the wall clock; the same
shuffled order every epoch. ``1t/2t``: the median of the rounds' ratios of ours
on one thread to ours on two (above 1: the team gained). Quote the CPU, the
kernel set (OPENBLAS_CORETYPE) and the load.

    python benchmarks/loop_threads.py                      # S4, S4-softmax, cats: ~3 min on a quiet machine
    python benchmarks/loop_threads.py --problems S4 --fits adam-64 --rounds 5
    python benchmarks/loop_threads.py --problems cats --fits adam-64 --rounds 25
    python benchmarks/loop_threads.py --problems 100k --fits adam-200 --lambd 1e-4 --rounds 9

``100k``: the estimator table's 80,000 x 100 training split, hidden (100,), 10 classes (synthetic
numbers), at MLPClassifier's batch of 200: 2.2M multiply-adds per batch, under the short-fit rule's
``TEAM_MIN_WORK`` (so ``rule`` is one thread there); ``own 2t`` says whether a team would gain.
``--lambd``: L2 (the estimators' ``alpha``; 0 by default).
"""
import argparse
import statistics
import time

import numpy as np
from threadpoolctl import threadpool_limits

from dnn import _loop, _loop_plan

#: "cats": the cat pictures' network and size (synthetic pixels): a wide first layer.
PROBLEMS = {"S4": ([784, 256, 128, 64, 1], 10000), "S4-softmax": ([784, 256, 128, 64, 10], 10000),
            "cats": ([12288, 20, 7, 5, 1], 209), "100k": ([100, 100, 10], 80000)}
FITS = {"adam-64": ("adam", 64), "adam-200": ("adam", 200), "adam-256": ("adam", 256), "momentum-64": ("momentum", 64)}
CONTENDERS = ("blas", "own 1t", "own 2t", "rule")


def cell(dims, m, dtype, optimizer, batch, rounds, lambd=0.0):
    rng = np.random.default_rng(0)
    K = dims[-1]
    X = rng.random((m, dims[0])).astype(dtype)
    Y = (rng.random((m, 1)) < 0.5).astype(dtype) if K == 1 else np.eye(K, dtype=dtype)[rng.integers(0, K, m)]
    layers = [((rng.standard_normal((o, i)) * np.sqrt(2 / i)).astype(dtype), np.zeros((o, 1), dtype))
              for o, i in zip(dims[1:], dims)]
    rule = _loop_plan.rule_plan(dims, batch, dtype)
    plans = {"blas": ("blas", 1), "own 1t": ("own", 1), "own 2t": ("own", 2), "rule": (rule.products, rule.threads)}
    loops = {}
    for name, (products, threads) in plans.items():
        own = [(W.copy(), b.copy()) for W, b in layers]
        zeros = lambda: [(np.zeros_like(W), np.zeros_like(b)) for W, b in own]  # noqa: E731
        loops[name] = _loop.Loop(own, X, Y, output="sigmoid" if K == 1 else "softmax", optimizer=optimizer,
                                 batch_size=batch, v=zeros(), s=zeros() if optimizer == "adam" else None,
                                 products=products, threads=threads, lambd=lambd)
    order = np.random.default_rng(1).permutation(m).astype(np.int64)
    times = {name: [] for name in loops}
    for r in range(rounds + 1):  # round 0: warm-up
        for name, lp in loops.items():
            t0 = time.perf_counter()
            lp.epoch(order, 1e-4, 0, 0)
            if r:
                times[name].append(time.perf_counter() - t0)
    ratio = statistics.median(a / b for a, b in zip(times["own 1t"], times["own 2t"]))
    return {name: 1000 * statistics.median(t) for name, t in times.items()}, ratio


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--problems", nargs="+", default=["S4", "S4-softmax", "cats"], choices=list(PROBLEMS))
    ap.add_argument("--fits", nargs="+", default=["adam-64", "adam-256", "momentum-64"], choices=list(FITS))
    ap.add_argument("--dtypes", nargs="+", default=["float64", "float32"], choices=["float64", "float32"])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--lambd", type=float, default=0.0)
    args = ap.parse_args(argv)
    print("| problem | fit | dtype | " + " | ".join(CONTENDERS) + " ms | 1t/2t |")
    print("|---|---|---|" + "---:|" * (len(CONTENDERS) + 1))
    with threadpool_limits(2):
        for p in args.problems:
            dims, m = PROBLEMS[p]
            for f in args.fits:
                optimizer, batch = FITS[f]
                for dt in args.dtypes:
                    ms, ratio = cell(dims, m, np.dtype(dt), optimizer, batch, args.rounds, args.lambd)
                    print("| %s | %s | %s | %s | %.2f |" % (p, f, dt, " | ".join("%.1f" % ms[n] for n in CONTENDERS),
                                                            ratio), flush=True)


if __name__ == "__main__":
    main()

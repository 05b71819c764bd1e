"""The mini-batch loop's products: the rule against the planner's choice (``dnn._loop_plan``).

Per cell (problem x fit x dtype x BLAS threads), the decision a long fit
gets (``plan_for`` timing its candidates, wisdom off so it is made afresh),
then ms per epoch of ``dnn._loop.Loop`` with the short-fit rule
(``rule_plan``: ``products="auto"``, teamed where it teams), with the planned
products and team, with every product on SciPy's BLAS, on NumPy's (``npblas``)
and on our kernels (one thread), and ours on a team of the BLAS threads (``own/team`` above 1: the
team gained), in alternating rounds in this
process (at two threads each after ``BLAS_IDLE_SECONDS`` of quiet, as in a fit of its own;
medians; the same shuffled order every epoch; at one thread this
thread's CPU time, else the wall clock). ``rule/plan`` (the median of the
rounds' ratios) above 1: the planner gained. Quote the CPU, the kernel set (OPENBLAS_CORETYPE) and
the load: on a shared machine the ratios are rough.

    python benchmarks/loop_plan_bench.py                    # S4, S4-softmax: 24 cells, ~4 min
    python benchmarks/loop_plan_bench.py --problems S4 --fits adam-64 --threads 1
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/loop_plan_bench.py

``--harness ARGS``: run ``compare.py --minibatch ARGS`` with ``dnn.model``'s
plan the one a long fit of the cell gets (the table's calls are fits of an
epoch or two, short fits, which take the rule untimed).
"""

import argparse
import os
import statistics
import sys
import time

os.environ["DNN_WISDOM"] = "off"  # a fresh decision per run (set before dnn is imported)

import numpy as np  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import minibatch_table as mt  # noqa: E402  (this folder is not a package)

from dnn import _loop, _loop_plan, _plan  # noqa: E402

#: The batches a "long fit" has: dnn.model's default of 5000 epochs is far more.
LONG_BATCHES = 100 * _loop_plan.MIN_BATCHES


def cell(dims, m, dtype, optimizer, batch, lr, threads, rounds):
    rng = np.random.default_rng(0)
    K = dims[-1]
    X = rng.random((m, dims[0])).astype(dtype)
    Y = (rng.random((m, 1)) < 0.5).astype(dtype) if K == 1 else np.eye(K, dtype=dtype)[rng.integers(0, K, m)]
    layers = [((rng.standard_normal((o, i)) * np.sqrt(2 / i)).astype(dtype), np.zeros((o, 1), dtype))
              for o, i in zip(dims[1:], dims)]
    opt = "adam" if optimizer == "adam" else "momentum"
    zeros = lambda: [(np.zeros_like(W), np.zeros_like(b)) for W, b in layers]  # noqa: E731
    kw = dict(hidden="relu", output="sigmoid" if K == 1 else "softmax", optimizer=opt, batch_size=batch,
              v=zeros(), s=zeros() if opt == "adam" else None)
    with threadpool_limits(threads):
        _plan.forget()
        t0 = time.perf_counter()
        plan = _loop_plan.plan_for(dims, batch, dtype, LONG_BATCHES, True, (layers, X, Y, kw, lr, 0, 0))
        planning = time.perf_counter() - t0
        rule = _loop_plan.rule_plan(dims, batch, dtype)
        contenders = {"rule": (rule.products, rule.threads, False),
                      "plan": (plan.products, plan.threads, plan.numpy_blas),
                      "blas": ("blas", 1, False), "npblas": ("blas", 1, True), "own": ("own", 1, False),
                      "team": ("own", _loop_plan.team_threads(), False)}
        loops = {}
        for name, (products, team, numpy_blas) in contenders.items():
            ls = [(W.copy(), b.copy()) for W, b in layers]
            loops[name] = _loop.Loop(ls, X, Y, products=products, threads=team, numpy_blas=numpy_blas,
                                     **dict(kw, v=zeros(), s=kw["s"] and zeros()))
        order = rng.permutation(m).astype(np.int64)
        # One thread: this thread's CPU time, blind to other processes (the planner's clock too).
        clock = time.thread_time if threads == 1 else time.perf_counter
        times = {name: [] for name in loops}
        names = list(loops)
        for r in range(rounds + 1):
            for name in (names if r % 2 else names[::-1]):
                if threads > 1:  # the contender before's BLAS workers go idle, as in a fit of its own
                    time.sleep(_loop_plan.BLAS_IDLE_SECONDS)
                t0 = clock()
                loops[name].epoch(order, lr, 0, 0)
                if r:  # round 0 warms up
                    times[name].append(clock() - t0)
    ms = {name: 1000 * statistics.median(ts) for name, ts in times.items()}
    ms["paired"] = statistics.median(a / b for a, b in zip(times["rule"], times["plan"]))
    ms["own/team"] = statistics.median(a / b for a, b in zip(times["own"], times["team"]))
    return plan, planning, ms


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--problems", default="S4,S4-softmax")
    p.add_argument("--fits", default=",".join(mt.FITS))
    p.add_argument("--dtypes", default="float64,float32")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--harness", nargs=argparse.REMAINDER, help="compare.py --minibatch's arguments")
    args = p.parse_args(argv)
    if args.harness is not None:
        return harness(args.harness)
    print("CPU %s; OPENBLAS_CORETYPE=%s; %s; load %s" % (
        _plan.cpu_name(), os.environ.get("OPENBLAS_CORETYPE", "(unset)"), _plan._machine_key().split(" | ")[1],
        " ".join("%.1f" % x for x in os.getloadavg())))
    print("%-11s %-12s %-7s %2s  %-17s %6s %8s %8s %8s %8s %8s %8s %9s %8s" % (
        "problem", "fit", "dtype", "th", "plan", "plan s", "rule ms", "plan ms", "blas ms", "npblas ms", "own ms",
        "team ms", "rule/plan", "own/team"))
    for pname in args.problems.split(","):
        dims, m = mt.PROBLEMS[pname]
        for fname in args.fits.split(","):
            optimizer, batch, lr = mt.FITS[fname]
            for dname in args.dtypes.split(","):
                for t in map(int, args.threads.split(",")):
                    plan, planning, ms = cell(list(dims), m, np.dtype(dname), optimizer, batch, lr, t, args.rounds)
                    print("%-11s %-12s %-7s %2d  %-17s %6.2f %8.1f %8.1f %8.1f %8.1f %8.1f %8.1f %9.2f %8.2f" % (
                        pname, fname, dname, t, plan.code(), planning, ms["rule"], ms["plan"], ms["blas"],
                        ms["npblas"], ms["own"], ms["team"], ms["paired"], ms["own/team"]), flush=True)
    return 0


def harness(argv):
    """compare.py --minibatch with dnn.model's short fits planned as a long fit of the cell is."""
    real = _loop_plan.plan_for

    def plan_for(dims, batch, dtype, n_batches, shuffled=True, measure_with=None):
        plan = real(dims, batch, dtype, max(n_batches, LONG_BATCHES), shuffled, measure_with)
        print("  dnn.model's plan: %s" % plan.describe(), file=sys.stderr)
        return plan

    _loop_plan.plan_for = plan_for
    return mt.main(list(argv))  # what compare.py --minibatch runs


if __name__ == "__main__":
    sys.exit(main())

"""Two builds of dnn side by side on the compiled mini-batch loop's epoch (``dnn._loop.Loop.epoch``).

    python benchmarks/ab_loop_epoch.py BEFORE_DIR AFTER_DIR [--rounds 6] [--fits adam-64 ...]

Each DIR is a checkout whose extensions are built in place (``python setup.py
build_ext --inplace``; ``git worktree add`` makes one). Two builds of one
package cannot share a process, so the rounds alternate child processes
(before, after, then after, before, ...), each timing one unweighted epoch of
the S4 network (784-256-128-64-1, 10,000 examples, a fixed shuffled order)
with its CPU clock on one thread (``products="own"``, no team: a shared
machine disturbs it least), both dtypes. A build whose ``Loop`` takes
``sample_weight`` also times the weighted epoch in the same child, alternated
with the unweighted one (``weighted/plain``: the weights' cost). Printed:
medians of each build's times and of the per-round ratios after/before
(below 1: faster). About 10 s a round.
"""
import argparse
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import ab_builds  # noqa: E402  (this folder is not a package)

FITS = {"adam-64": ("adam", 64), "adam-256": ("adam", 256), "momentum-64": ("momentum", 64)}


def child(root, fits):
    """One build's ms per epoch, as JSON on stdout (run with PYTHONPATH=root)."""
    import numpy as np
    from threadpoolctl import threadpool_limits

    import dnn
    from dnn import _loop

    if not os.path.abspath(dnn.__file__).startswith(os.path.abspath(root)):
        sys.exit("imported %s, not the build in %s" % (dnn.__file__, root))
    clock, res, dims, m = time.process_time, {}, [784, 256, 128, 64, 1], 10000
    rng = np.random.default_rng(0)
    X64 = rng.random((m, dims[0]))
    Y64 = (rng.random((m, 1)) < 0.5) * 1.0
    W64 = [(rng.standard_normal((o, i)) * np.sqrt(2 / i), np.zeros((o, 1))) for o, i in zip(dims[1:], dims)]
    w64 = rng.random(m) * 2
    order = np.random.default_rng(1).permutation(m).astype(np.int64)
    with threadpool_limits(1):
        for fit in fits:
            optimizer, batch = FITS[fit]
            for dt in ("float64", "float32"):
                X, Y, w = X64.astype(dt), Y64.astype(dt), w64.astype(dt)

                def make(**kw):
                    own = [(a.astype(dt), b.astype(dt)) for a, b in W64]
                    zeros = lambda: [(np.zeros_like(a), np.zeros_like(b)) for a, b in own]  # noqa: E731
                    return _loop.Loop(own, X, Y, optimizer=optimizer, batch_size=batch, v=zeros(),
                                      s=zeros() if optimizer == "adam" else None, products="own", **kw)

                loops = {"plain": make()}
                try:
                    loops["weighted"] = make(sample_weight=w)
                except TypeError:
                    pass  # a build before sample_weight
                ts = {k: [] for k in loops}
                for r in range(4):  # round 0: warm-up
                    for k, lp in loops.items():
                        t = clock()
                        lp.epoch(order, 1e-4, 0, 0)
                        if r:
                            ts[k].append(clock() - t)
                for k, v in ts.items():
                    res["%s %s %s" % (fit, dt, k)] = statistics.median(v)
    print(json.dumps(res))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("before", nargs="?")
    ap.add_argument("after", nargs="?")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--fits", nargs="+", default=["adam-64"], choices=list(FITS))
    ap.add_argument("--child", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child:
        return child(a.child, a.fits)
    if not (a.before and a.after):
        ap.error("give BEFORE_DIR and AFTER_DIR")
    a.before, a.after = os.path.abspath(a.before), os.path.abspath(a.after)  # the children run elsewhere
    weighted = {}

    def weights_cost(got):
        for k, v in got[a.after].items():
            if k.endswith(" weighted"):
                weighted.setdefault(k[:-len(" weighted")], []).append(v / got[a.after][k[:-len("weighted")] + "plain"])

    times, ratios = ab_builds.alternate(__file__, a.before, a.after, a.rounds, ["--fits", *a.fits], weights_cost)
    print("%-26s %9s %9s %12s   per round" % ("ms / epoch, one thread", "before", "after", "after/before"))
    for k, rs in ratios.items():
        print("%-26s %9.1f %9.1f %12.3f   %s" % (
            k, 1e3 * statistics.median(times[a.before][k]), 1e3 * statistics.median(times[a.after][k]),
            statistics.median(rs), " ".join("%.3f" % x for x in rs)))
    for k, rs in weighted.items():
        print("%-26s %9s %9s %12.3f   %s" % (k + " weighted/plain", "", "", statistics.median(rs),
                                            " ".join("%.3f" % x for x in rs)))


if __name__ == "__main__":
    main()

"""Two builds of dnn side by side: before/after a change to the compiled code.

    python benchmarks/ab_builds.py BEFORE_DIR AFTER_DIR [--rounds 6]

Each DIR is a checkout whose extensions are built in place
(``python setup.py build_ext --inplace``); ``git worktree add`` or
``git archive REV | tar -x -C DIR`` makes one. Two builds of one package cannot
share a process, so the rounds alternate child processes (before, after, then
after, before, ...), each timing with its CPU clock on one thread (a shared
machine disturbs it least): the course's step-by-step loop over dnn
(``step_loop.loop``) and ``dnn.L_layer_model`` per iteration (fits of n and 3n
iterations, the difference), S3 and S4, both dtypes. Printed: medians of each
build's times and of the per-round ratios after/before (below 1: faster).
About 45 s a round.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def child(root):
    """One build's timings, as JSON on stdout (run with PYTHONPATH=root)."""
    sys.path.insert(0, HERE)
    from threadpoolctl import threadpool_limits

    import dnn
    import step_loop

    if not os.path.abspath(dnn.__file__).startswith(os.path.abspath(root)):
        sys.exit("imported %s, not the build in %s" % (dnn.__file__, root))
    clock, res = time.process_time, {}
    with threadpool_limits(1):
        for shape in ("S3", "S4"):
            for dt in ("float64", "float32"):
                X, Y, start = step_loop.problem(shape, dt)
                run = step_loop.loop(dnn, X, Y, start)
                k = 3 if shape == "S4" else 200
                run(1)
                ts = []
                for _ in range(5):
                    t = clock()
                    run(k)
                    ts.append((clock() - t) / k)
                res["step %s %s" % (shape, dt)] = statistics.median(ts)
                dims = [X.shape[0]] + [start["W%d" % l].shape[0] for l in range(1, len(start) // 2 + 1)]
                n = 4 if shape == "S4" else 1000
                ts = []
                for _ in range(3):
                    t = clock()
                    dnn.L_layer_model(X, Y, dims, 0.01, n, seed=1)
                    a = clock() - t
                    t = clock()
                    dnn.L_layer_model(X, Y, dims, 0.01, 3 * n, seed=1)
                    ts.append((clock() - t - a) / (2 * n))
                res["fit %s %s" % (shape, dt)] = statistics.median(ts)
    print(json.dumps(res))


def run_child(script, root, args=()):
    """``script --child root *args`` with ``root`` first on the path (one build, one process:
    two builds of one package cannot share one): the JSON object on its last line."""
    env = dict(os.environ, PYTHONPATH=os.path.abspath(root), DNN_WISDOM="off",
               OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    out = subprocess.run([sys.executable, os.path.abspath(script), "--child", root, *args],
                         env=env, capture_output=True, text=True, cwd=HERE)
    if out.returncode:
        sys.exit(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def alternating(dirs, rounds, run):
    """``run(d)`` for each build of ``dirs`` (before, after), ``rounds`` times in alternating order
    (before, after, then after, before, ...): per build, its results in round order."""
    got = {d: [] for d in dirs}
    for r in range(rounds):
        for d in (dirs if r % 2 == 0 else dirs[::-1]):
            got[d].append(run(d))
    return [got[d] for d in dirs]


def alternate(script, before, after, rounds, args=(), each_round=None):
    """Rounds of ``run_child`` for the two builds in alternating order. Returns ``(times, ratios)``:
    per build, per key, the seconds of every round; per key, every round's after / before.
    ``each_round(got)`` sees each round's ``{build: results}``."""
    times = {before: {}, after: {}}
    ratios = {}
    for r in range(rounds):
        order = (before, after) if r % 2 == 0 else (after, before)
        got = {d: run_child(script, d, args) for d in order}
        for d in order:
            for k, v in got[d].items():
                times[d].setdefault(k, []).append(v)
        for k in got[before]:
            if k in got[after]:
                ratios.setdefault(k, []).append(got[after][k] / got[before][k])
        if each_round is not None:
            each_round(got)
        print("round %d, load average %.2f" % (r + 1, os.getloadavg()[0]), flush=True)
    return times, ratios


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("before", nargs="?")
    ap.add_argument("after", nargs="?")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child:
        return child(a.child)
    if not (a.before and a.after):
        ap.error("give BEFORE_DIR and AFTER_DIR")
    a.before, a.after = os.path.abspath(a.before), os.path.abspath(a.after)  # the children run elsewhere
    times, ratios = alternate(__file__, a.before, a.after, a.rounds)
    print("%-18s %11s %11s %12s   per round" % ("ms / iteration", "before", "after", "after/before"))
    for k, rs in ratios.items():
        print("%-18s %11.3f %11.3f %12.3f   %s" % (
            k, 1e3 * statistics.median(times[a.before][k]), 1e3 * statistics.median(times[a.after][k]),
            statistics.median(rs), " ".join("%.3f" % x for x in rs)))


if __name__ == "__main__":
    main()

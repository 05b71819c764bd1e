"""Two builds of dnn side by side on the cat pictures, through the user's entry points.

    python benchmarks/ab_cats_fit.py BEFORE_DIR AFTER_DIR [--what estimator] [--dtype float64]
        [--threads 1] [--rounds 10]

Each DIR holds a ``dnn`` package with its extensions built in place (``git worktree add DIR REV``,
then ``python setup.py build_ext --inplace`` there). Unlike ``ab_cats_epoch.py``, which drives
``dnn._loop.Loop`` over arrays it makes itself, this times what a user calls, so it also sees
what those entry points allocate (the parameters, Adam's moments) and copy:

- ``estimator``: ``DNNClassifier`` (hidden (20, 7, 5), Adam, batch 64, rate 0.0003: the
  estimator table's cats row), warm-started, 20 epochs a call, ms per epoch;
- ``model``: ``dnn.model`` (the course's second part: [12288, 20, 7, 5, 1], Adam, batch 64),
  40 epochs a call, ms per epoch;
- ``L_layer_model``: the course's first part, 60 iterations a call, ms per iteration.

Rounds alternate child processes (before, after, then after, before, ...); each child prints
the median of its calls (wall clock, after a warm-up call, the garbage collector frozen).
Printed: each build's median and the median of the per-round ratios after/before (below 1:
faster). The cat pictures come from ``$DNN_SHARED`` (or ``shared/`` beside the checkout).
About 3 s a child.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

from ab_builds import alternating  # this folder (the script's) is on the path

HERE = os.path.dirname(os.path.abspath(__file__))

CHILD = r'''
import gc, json, os, sys, time, warnings
root, here, what, dt, threads = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
sys.path.insert(0, root)
sys.path.insert(1, here)
import numpy as np
from threadpoolctl import threadpool_limits
import dnn
import estimator_table
if not os.path.abspath(dnn.__file__).startswith(os.path.abspath(root)):
    sys.exit("imported %s, not the build in %s" % (dnn.__file__, root))
warnings.simplefilter("ignore")
X, _, y, _ = estimator_table.cats()  # samples-major, pixels / 255
X = X.astype(dt)
dims = [X.shape[1], 20, 7, 5, 1]
if what == "estimator":
    est = dnn.DNNClassifier(hidden_layer_sizes=(20, 7, 5), batch_size=64, learning_rate_init=0.0003, max_iter=20,
                            tol=0, n_iter_no_change=10**6, random_state=0, warm_start=True, dtype=dt)
    run, n = (lambda: est.fit(X, y)), 20
elif what == "model":
    XT, YT = np.ascontiguousarray(X.T), y.reshape(1, -1).astype(dt)
    run, n = (lambda: dnn.model(XT, YT, dims, optimizer="adam", learning_rate=0.0007, mini_batch_size=64,
                                num_epochs=40, print_cost=False)), 40
else:
    XT, YT = np.ascontiguousarray(X.T), y.reshape(1, -1).astype(dt)
    run, n = (lambda: dnn.L_layer_model(XT, YT, dims, num_iterations=60, print_cost=False)), 60
gc.freeze()
times = []
with threadpool_limits(threads):
    run()
    for _ in range(8):
        t = time.perf_counter()
        run()
        times.append((time.perf_counter() - t) / n)
print(json.dumps(1e3 * float(np.median(times))))
'''


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("before")
    ap.add_argument("after")
    ap.add_argument("--what", default="estimator", choices=["estimator", "model", "L_layer_model"])
    ap.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=10)
    args = ap.parse_args(argv)

    def run(d):
        out = subprocess.run([sys.executable, "-c", CHILD, d, HERE, args.what, args.dtype, str(args.threads)],
                             capture_output=True, text=True, cwd=HERE)
        if out.returncode:
            sys.exit("%s failed:\n%s" % (d, out.stderr))
        return json.loads(out.stdout)

    before, after = alternating([os.path.abspath(args.before), os.path.abspath(args.after)], args.rounds, run)
    ratio = statistics.median(a / b for a, b in zip(after, before))
    print("%s %s, %d thread(s), %d rounds: before %.3f ms, after %.3f ms; after/before %.3f"
          % (args.what, args.dtype, args.threads, args.rounds, statistics.median(before), statistics.median(after),
             ratio))


if __name__ == "__main__":
    main()

"""Two builds of dnn side by side on the cat pictures' mini-batch epoch (the wide first layer).

    python benchmarks/ab_cats_epoch.py BEFORE_DIR AFTER_DIR [--rounds 10] [--dtype float64]
        [--optimizer adam] [--lambd 1e-4] [--epochs 20] [--threads 1]

Each DIR holds a ``dnn`` package with its extensions built in place (a checkout after
``python setup.py build_ext --inplace``, or a copy of its ``dnn`` folder). Two builds of one
package cannot share a process, so rounds alternate child processes (before, after, then after,
before, ...); each child makes ``dnn._loop.Loop`` over the cat network [12288, 20, 7, 5, 1], 209
examples of synthetic pixels, batch 64, ``products="own"`` (the estimator table's fit: Adam with
L2 1e-4 by default), and prints the median of ``--epochs`` epochs (after 3 warm-ups; CPU time of
the thread on one thread, wall clock on a team), eight shuffled orders in turn. Printed: each
build's median and the median of the per-round ratios after/before (below 1: faster). About 1 s a
child on a quiet machine.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

from ab_builds import alternating  # this folder (the script's) is on the path

CHILD = r'''
import json, os, sys, time, statistics
import numpy as np
from threadpoolctl import threadpool_limits
import dnn
from dnn import _loop
root, dt, opt, lambd, n, threads = sys.argv[1], np.dtype(sys.argv[2]), sys.argv[3], float(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
if not os.path.abspath(dnn.__file__).startswith(os.path.abspath(root)):
    sys.exit("imported %s, not the build in %s" % (dnn.__file__, root))
dims, m = [12288, 20, 7, 5, 1], 209
rng = np.random.default_rng(0)
X = rng.random((m, dims[0])).astype(dt)
Y = (rng.random((m, 1)) < 0.5).astype(dt)
own = [((rng.standard_normal((o, i)) * np.sqrt(2 / i)).astype(dt), np.zeros((o, 1), dt)) for o, i in zip(dims[1:], dims)]
zeros = lambda: [(np.zeros_like(W), np.zeros_like(b)) for W, b in own]
lp = _loop.Loop(own, X, Y, optimizer=opt, batch_size=64, v=zeros(), s=zeros(), products="own", lambd=lambd,
                threads=threads)
orders = [rng.permutation(m).astype(np.int64) for _ in range(8)]
clock = time.thread_time if threads == 1 else time.perf_counter
ts = []
with threadpool_limits(1):
    for r in range(n + 3):
        t0 = clock()
        lp.epoch(orders[r % 8], 3e-4, 4 * r, 4 * r)
        if r >= 3:
            ts.append(clock() - t0)
print(json.dumps(1000 * statistics.median(ts)))
'''


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("before")
    ap.add_argument("after")
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    ap.add_argument("--optimizer", default="adam")
    ap.add_argument("--lambd", type=float, default=1e-4)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)

    def run(d):
        cmd = [sys.executable, "-c", CHILD, d, args.dtype, args.optimizer, str(args.lambd), str(args.epochs),
               str(args.threads)]
        out = subprocess.run(cmd, env=dict(os.environ, PYTHONPATH=d), capture_output=True, text=True, cwd=d,
                             check=True)
        return json.loads(out.stdout)

    before, after = alternating([os.path.abspath(args.before), os.path.abspath(args.after)], args.rounds, run)
    print("%s %s lambd %g, %d thread(s): before %.3f ms, after %.3f ms per epoch, after/before %.3f (%d rounds)"
          % (args.dtype, args.optimizer, args.lambd, args.threads, statistics.median(before),
             statistics.median(after), statistics.median(b / a for a, b in zip(before, after)), args.rounds))


if __name__ == "__main__":
    main()

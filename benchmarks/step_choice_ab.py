"""The step loop with ``dnn._products``' per-machine choice against the rule alone, paired.

Three contenders in alternating rounds in one process (``step_loop.paired``):
the course's NumPy loop, dnn with the rule only (``for_step`` for every
layer: what dnn did before the choice) and dnn with the choice (the default:
large layers' backends measured at the first call or read from the wisdom
file). Ratios: course time / dnn time. Run:
``python benchmarks/step_choice_ab.py [--shapes S1,S4] [--threads 1,2] [--clock cpu]``
(``--clock cpu`` needs ``--threads 1``: this process's CPU time, for a shared
machine). Set ``DNN_WISDOM`` to a fresh file to measure the choice anew. The choice is
opt-in (``DNN_STEP_CHOICE=measure``), which this script sets for itself.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import course_numpy  # noqa: E402
import step_loop  # noqa: E402

from dnn import bench  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--shapes", default="S1,S4")
    p.add_argument("--dtypes", default="float64,float32")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--budget", type=float, default=4.0)
    p.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    args = p.parse_args(argv)
    if args.clock == "cpu":
        if args.threads != "1":
            p.error("--clock cpu needs --threads 1")
        step_loop._clock = time.process_time
    os.environ["DNN_STEP_CHOICE"] = "measure"  # the contender "chosen"; "rule" replaces it per run
    import dnn
    from dnn import _products
    from threadpoolctl import threadpool_limits

    chosen = _products.for_step

    def rule_only(n_out, n_in, m, itemsize):  # a replaced rule decides alone (dnn.functional)
        return chosen(n_out, n_in, m, itemsize)

    def with_rule(run):
        def r(k):
            _products.for_step = rule_only
            try:
                run(k)
            finally:
                _products.for_step = chosen
        return r

    print("\n".join(step_loop.machine_lines() + ["clock: %s" % args.clock]))
    for shape in args.shapes.split(","):
        for dname in args.dtypes.split(","):
            X, Y, start = step_loop.problem(shape, bench.DTYPES[dname])
            runs = {"course": step_loop.loop(course_numpy, X, Y, start),
                    "rule": with_rule(step_loop.loop(dnn, X, Y, start)),
                    "chosen": step_loop.loop(dnn, X, Y, start)}
            for t in [int(x) for x in args.threads.split(",")]:
                with threadpool_limits(limits=t):
                    time.sleep(0.3)
                    med, rounds = step_loop.paired(runs, budget=args.budget)
                print("%s %s %d thread(s): course %.4g ms; rule %.4g ms (%.2fx); chosen %.4g ms (%.2fx);"
                      " chosen/rule time %.3f (%d rounds)"
                      % (shape, dname, t, med["course"] * 1e3, med["rule"] * 1e3,
                         med["course"] / med["rule"], med["chosen"] * 1e3,
                         med["course"] / med["chosen"], med["chosen"] / med["rule"], rounds), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

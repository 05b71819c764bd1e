"""The course's training loop over ``from dnn import *``, against the same loop in NumPy.

One iteration is what the course's notebooks write inside ``L_layer_model``:
``L_model_forward``, ``compute_cost``, ``L_model_backward``,
``update_parameters``. It runs once over ``dnn``'s functions and once over
``course_numpy`` (a frozen copy of the course's NumPy code, not
``dnn.reference``, which the package may change), on the shapes of
``dnn.bench.SHAPES``, both dtypes, BLAS at 1 and 2 threads (threadpoolctl
limits NumPy's and SciPy's OpenBLAS alike).

How: per cell, the two loops are timed in alternating rounds in this one
process (the order flips every round, so drift and other processes' load hit
both alike); a round runs ``k`` iterations (calibrated to about
``--round-time``) and every iteration starts from the same parameters. The
ratio is the median course time over the median dnn time: above 1, dnn is
faster. Run it as ``python benchmarks/compare.py --step-loop [--markdown]``.
"""

import argparse
import os
import platform
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import course_numpy  # noqa: E402  (this folder is not a package)
import epoch_peers  # noqa: E402

from dnn import bench  # noqa: E402

#: "S1-F": S1 with X Fortran-ordered, as the course's notebook makes it (``X.reshape(m, -1).T``).
SHAPES = ("S1", "S1-F", "S2", "S3", "S4", "S6")
THREADS = (1, 2)
LEARNING_RATE = 0.0075
#: What the issue asks (course time / dnn time), per shape.
TARGETS = {"S1": 1.2, "S1-F": 1.2, "S2": 3.0, "S3": 1.5, "S4": 1.5, "S6": 1.5}


def base_shape(shape):
    """``dnn.bench.SHAPES``' name of a shape of this table (``S1-F`` is S1)."""
    return shape[:-2] if shape.endswith("-F") else shape


def problem(shape, dtype):
    """(X, Y, parameters) of a shape, in ``dtype``; the course's initialization."""
    dims, m, _ = bench.SHAPES[base_shape(shape)]
    X, Y = bench.make_data(dims, m, dtype)
    if shape.endswith("-F"):
        X = np.asfortranarray(X)
    params = {k: v.astype(dtype) for k, v in course_numpy.initialize_parameters_deep(list(dims)).items()}
    return X, Y, params


def loop(module, X, Y, start):
    """``k -> None``: k iterations of the course's loop over ``module``'s functions,
    each from the parameters ``start`` (so every round does the same work).

    Each result stays referenced until the next iteration's replaces it, as the
    course's loop keeps ``AL, caches``, ``grads`` and ``parameters`` in variables:
    deleting them at the end of each iteration instead let the allocator hand the
    memory back and fault it in again, which slowed the course's loop well beyond
    what its users see (benchmarks/NOTES.md, "Step calls at two threads")."""
    forward, cost, backward, update = (module.L_model_forward, module.compute_cost,
                                       module.L_model_backward, module.update_parameters)
    held = {}

    def run(k):
        for _ in range(k):
            held["AL"], held["caches"] = forward(X, dict(start))
            cost(held["AL"], Y)
            held["grads"] = backward(held["AL"], Y, held["caches"])
            held["parameters"] = update(dict(start), held["grads"], LEARNING_RATE)
    return run


#: The clock of the rounds: wall time, or with ``--clock cpu`` (one thread only)
#: this process's CPU time, which a shared machine's other processes disturb less.
_clock = time.perf_counter


#: Untimed iterations of each loop before its rounds: dnn's result buffers are recycled once
#: its pool has grown to two iterations' results, and until then its iterations alternate
#: between fresh arrays' page faults and none; a user's loop of thousands of iterations runs on
#: recycled ones (benchmarks/NOTES.md, "Final run, fifth session of 2026-12-02").
WARM_ITERATIONS = 8


def _calibrate(run, round_time):
    run(WARM_ITERATIONS)  # warm: first touch of caches, BLAS threads started, buffers pooled
    t = _clock()
    run(1)
    one = max(_clock() - t, 1e-7)
    return max(1, int(round_time / one))


#: Idle seconds before each timed call at more than one thread (``--settle``), then one untimed
#: iteration: a contender's OpenBLAS workers spin for a while after its last call (on 2 cores,
#: the whole of the next contender's round), which no user running one of the two loops
#: meets; the untimed iteration wakes the timed contender's own threads, as its loop would have.
SETTLE_SECONDS = 0.15


#: Seconds a timed round lasts (``--round-time``). A user's loop runs for thousands of iterations
#: without a pause; a round that follows the settle above times the first iterations after an
#: idle, during which a pool whose helper has gone to sleep, an idle virtual CPU, or memory
#: touched by the other loop cost more than in a loop that runs on (benchmarks/NOTES.md, "Steal,
#: the step loop's rounds and a long K in chunks"). The mini-batch tables' calls last 0.2 s too.
ROUND_SECONDS = 0.2


def paired(runs, min_rounds=5, max_rounds=41, budget=4.0, round_time=ROUND_SECONDS, settle=0.0,
           steal=epoch_peers.steal_seconds, stats=None):
    """Median seconds per iteration of each ``runs[name]``, timed in alternating rounds (with
    ``settle``: each timed call after ``settle`` idle seconds and one untimed iteration). A
    call the hypervisor stole from is timed again (``epoch_peers.Kept``; ``stats`` gets
    ``stolen_calls``)."""
    ks = {name: _calibrate(run, round_time) for name, run in runs.items()}
    names = list(runs)
    times = epoch_peers.Kept(names, min_rounds)
    t0 = time.perf_counter()
    r = 0
    while r < max_rounds and (times.wanting() or time.perf_counter() - t0 < budget):
        for name in (names if r % 2 == 0 else names[::-1]):
            k = ks[name]
            if settle:
                time.sleep(settle)
                runs[name](1)  # untimed: this contender's own threads awake, as in a loop of its own
            s = steal()
            t = _clock()
            runs[name](k)
            seconds = _clock() - t
            times.add(name, seconds, k, steal() - s)
        r += 1
    if stats is not None:
        stats["stolen_calls"] = times.stolen
    return times.medians(), r


def measure(shapes=SHAPES, dtypes=("float64", "float32"), threads=THREADS, budget=4.0, log=None,
            settle=SETTLE_SECONDS, round_time=ROUND_SECONDS):
    """Rows ``{shape, dtype, threads, course, dnn, ratio, rounds}`` (seconds per iteration)."""
    import dnn
    from threadpoolctl import threadpool_limits

    rows = []
    for shape in shapes:
        for dname in dtypes:
            X, Y, start = problem(shape, bench.DTYPES[dname])
            runs = {"course": loop(course_numpy, X, Y, start), "dnn": loop(dnn, X, Y, start)}
            for t in threads:
                with threadpool_limits(limits=t):
                    time.sleep(0.3)  # the last cell's idle BLAS threads stop spinning
                    stats = {}
                    med, rounds = paired(runs, budget=budget, settle=settle if t > 1 else 0.0, stats=stats,
                                         round_time=round_time)
                rows.append({"shape": shape, "dtype": dname, "threads": t, "course": med["course"],
                             "dnn": med["dnn"], "ratio": med["course"] / med["dnn"], "rounds": rounds,
                             "stolen_calls": stats["stolen_calls"]})
                if log:
                    print("  %s %s %d thread(s): course %.4g ms, dnn %.4g ms, %.2fx (%d rounds, %d calls "
                          "timed again after steal)" % (shape, dname, t, med["course"] * 1e3, med["dnn"] * 1e3,
                                                         rows[-1]["ratio"], rounds, stats["stolen_calls"]),
                          file=log, flush=True)
            del runs, X, Y, start
    return rows


def machine_lines():
    """The CPU, the BLAS libraries and their kernel sets, dnn's vector build, the load."""
    from threadpoolctl import threadpool_info

    import scipy

    from dnn import _train

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    pools = sorted({"%s %s (%s kernels, from %s)" % (p.get("internal_api"), p.get("version"),
                                                      p.get("architecture", "?"),
                                                      os.path.basename(os.path.dirname(p.get("filepath", ""))))
                    for p in threadpool_info()})
    try:
        load = open("/proc/loadavg").read().split()[0]
    except OSError:
        load = "n/a"
    return ["CPU: %s, %d cores" % (cpu, os.cpu_count() or 1),
            "python %s, numpy %s, scipy %s" % (platform.python_version(), np.__version__, scipy.__version__),
            "BLAS: %s" % "; ".join(pools),
            "OPENBLAS_CORETYPE=%s; dnn's own vector kernels: %s build"
            % (os.environ.get("OPENBLAS_CORETYPE", "(unset)"), _train.simd_kernels()),
            "load average (1 min): %s" % load]


def choice_lines():
    """The backends ``dnn._products`` chose for the large layers timed (measured at their
    first call, or read from the wisdom file: ``DNN_WISDOM``)."""
    from dnn import _plan

    out = []
    for key, c in sorted(_plan._cache.items()):
        if key.startswith("step |") and hasattr(c, "nn"):
            f = key.split(" | ")
            out.append("%s m=%s %s %s: nn %s, nt %s (%s)" % (f[1], f[2][2:], f[3], f[4], c.nn, c.nt,
                                                            c.source))
    return ["large layers' products (dnn._products): " + ("; ".join(out) if out else "none chosen")]


def _dims_text(dims):
    """[100, 50 x 8, 1] for runs of equal sizes."""
    parts, i = [], 0
    while i < len(dims):
        j = i
        while j < len(dims) and dims[j] == dims[i]:
            j += 1
        parts.append(str(dims[i]) if j - i == 1 else "%d x %d" % (dims[i], j - i))
        i = j
    return "[%s]" % ", ".join(parts)


def table(rows, markdown=False):
    """One line per shape: course/dnn ratio per (dtype, threads), then the milliseconds."""
    cols = sorted({(r["dtype"], r["threads"]) for r in rows}, key=lambda c: (c[0] != "float64", -c[1]))
    shapes = list(dict.fromkeys(r["shape"] for r in rows))
    cell = {(r["shape"], r["dtype"], r["threads"]): r for r in rows}
    header = ["shape"] + ["%s, %d thread%s" % (d, t, "s" if t > 1 else "") for d, t in cols] + ["target"]
    body = []
    for s in shapes:
        dims, m, _ = bench.SHAPES[base_shape(s)]
        name = "%s %s m=%d%s" % (s, _dims_text(dims), m, ", X Fortran-ordered" if s.endswith("-F") else "")
        line = [name]
        for d, t in cols:
            r = cell.get((s, d, t))
            line.append("n/a" if r is None else "%.2fx (%.3g / %.3g ms)"
                        % (r["ratio"], r["course"] * 1e3, r["dnn"] * 1e3))
        line.append(">= %.1fx" % TARGETS.get(s, 1.0))
        body.append(line)
    if markdown:
        out = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
        out += ["| " + " | ".join(l) + " |" for l in body]
        return "\n".join(out)
    widths = [max(len(h), *(len(l[i]) for l in body)) for i, h in enumerate(header)]
    return "\n".join("  ".join(x.ljust(w) if i == 0 else x.rjust(w) for i, (x, w) in enumerate(zip(l, widths)))
                     for l in [header] + body)


def main(argv=None):
    p = argparse.ArgumentParser(prog="compare.py --step-loop", description=__doc__.split("\n\n")[0])
    p.add_argument("--shapes", default=",".join(SHAPES))
    p.add_argument("--dtypes", default="float64,float32")
    p.add_argument("--threads", default="1,2", help="BLAS thread counts (default 1,2)")
    p.add_argument("--budget", type=float, default=4.0, help="seconds of alternating rounds per cell")
    p.add_argument("--settle", type=float, default=SETTLE_SECONDS,
                   help="idle seconds before each timed call at more than one thread (default %g; 0: none)"
                        % SETTLE_SECONDS)
    p.add_argument("--round-time", type=float, default=ROUND_SECONDS,
                   help="seconds a timed round lasts (default %g)" % ROUND_SECONDS)
    p.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                   help="cpu: this process's CPU time (needs --threads 1), for a shared machine")
    p.add_argument("--markdown", action="store_true")
    args = p.parse_args(argv)
    global _clock
    if args.clock == "cpu":
        if args.threads != "1":
            p.error("--clock cpu needs --threads 1 (CPU time adds up threads)")
        _clock = time.process_time
    shapes = [s for s in args.shapes.split(",") if s]
    unknown = [s for s in shapes if base_shape(s) not in bench.SHAPES]
    if unknown:
        p.error("unknown shapes %s" % unknown)
    rows = measure(shapes, [d for d in args.dtypes.split(",") if d],
                   [int(t) for t in args.threads.split(",")], budget=args.budget, log=sys.stderr,
                   settle=args.settle, round_time=args.round_time)
    lines = machine_lines() + choice_lines() + ["step-by-step loop (forward, cost, backward, update): ratio = course-NumPy"
                               " time / dnn time per iteration (>1: dnn faster), medians of"
                               " alternating rounds of %g s (%s clock; at more than one thread each timed call after %g s"
                               " idle and one untimed iteration); in brackets course ms / dnn ms"
                               % (args.round_time, args.clock, args.settle)]
    print("\n".join(("- " + l) if args.markdown else l for l in lines))
    print()
    print(table(rows, args.markdown))
    return 0


if __name__ == "__main__":
    sys.exit(main())

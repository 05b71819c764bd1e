"""Per fit: what a grid search's fits cost on Dask's workers against loky's (issue 12 section 3).

The 100k search of ``estimator_table.dask_search`` (8 candidates x 3 folds; refit excluded here)
run by a ``MeteredDNNClassifier`` that records, for every ``fit`` and ``score`` in a worker, the
calling thread's CPU (``getrusage(RUSAGE_THREAD)``: user, system, minor faults, voluntary and
involuntary context switches), the whole process's CPU over the same interval (the worker's other
threads: Dask's event loop), the wall time, and where the fold's X lives (alignment, writeable,
owner). Contenders (``--variants``), each alone per round as ``dask_search`` runs them (started,
warmed by a search of 1-epoch fits, one timed search, shut), rotated:

- ``loky``: ``GridSearchCV(n_jobs=2)`` on joblib's default backend;
- ``loky-trim``: the same, its workers started with ``MALLOC_TRIM_THRESHOLD_=65536`` (what Dask's
  nanny sets in its workers through ``distributed.nanny.pre-spawn-environ``);
- ``dask``: ``estimator_table.dask_pool`` (the README's recipe, ``SMALL_CLUSTER_CONFIG``, which
  unsets the nanny's ``MALLOC_TRIM_THRESHOLD_``: glibc's dynamic thresholds, as loky's workers);
- ``dask-trim``: the same with Dask's default ``distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_:
  65536`` (the recipe before this benchmark);
- ``dask-nosteal``: the recipe with ``distributed.scheduler.work-stealing: False``.

The nanny of a ``LocalCluster`` runs in this process and leaves its pre-spawn variables in
``os.environ`` (distributed's nanny docs: "this leaks variables into the nanny process"); every
contender here runs with the environment it started with, restored after each cluster.

Printed per contender, medians over rounds of per-search sums over the 24 fold fits (and the 24
scores): thread CPU, process CPU, wall, minor faults, context switches. Run:
``python benchmarks/dask_fit_cost.py [--rounds 3] [--variants loky,dask,dask-trim,loky-trim]`` (about 25 s
per contender and round on a quiet 2-core machine).
"""

import argparse
import contextlib
import glob
import json
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import epoch_peers as ep  # noqa: E402  (this folder is not a package)
import estimator_table as et  # noqa: E402

import dnn  # noqa: E402


def _usage():
    """``(thread user+sys CPU, minor faults, voluntary, involuntary switches; process CPU)``, now."""
    import resource

    t = resource.getrusage(resource.RUSAGE_THREAD)
    return (t.ru_utime + t.ru_stime, t.ru_minflt, t.ru_nvcsw, t.ru_nivcsw, time.process_time(), time.perf_counter(),
            t.ru_stime)


class MeteredDNNClassifier(dnn.DNNClassifier):
    """A ``DNNClassifier`` whose ``fit`` and ``score`` append what they cost to ``OUT/<pid>.jsonl``.
    Defined in ``__main__``, so loky and Dask pickle it by value (with ``OUT``) to their workers."""

    OUT = None

    def _metered(self, what, call, X):
        before = _usage()
        out = call()
        after = _usage()
        d = [b - a for a, b in zip(before, after)]
        rec = {"what": what, "pid": os.getpid(), "epochs": self.max_iter, "hidden": list(self.hidden_layer_sizes),
               "thread_cpu": d[0], "minflt": d[1], "nvcsw": d[2], "nivcsw": d[3], "process_cpu": d[4], "wall": d[5],
               "thread_sys": d[6],
               "x_align64": X.ctypes.data % 64, "x_align4k": X.ctypes.data % 4096, "x_writeable": X.flags.writeable,
               "x_owndata": X.flags.owndata, "x_base": type(X.base).__name__,
               "trim": os.environ.get("MALLOC_TRIM_THRESHOLD_")}
        with open(os.path.join(self.OUT, "%d.jsonl" % os.getpid()), "a") as f:
            f.write(json.dumps(rec) + "\n")
        return out

    def fit(self, X, y, sample_weight=None):
        return self._metered("fit", lambda: super(MeteredDNNClassifier, self).fit(X, y, sample_weight), X)

    def score(self, X, y, sample_weight=None):
        return self._metered("score", lambda: super(MeteredDNNClassifier, self).score(X, y, sample_weight), X)


@contextlib.contextmanager
def _same_environ():
    """``os.environ`` as it was on entry, restored on leaving (a LocalCluster's nannies add to it)."""
    before = dict(os.environ)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(before)


#: Dask's pre-spawn setting of glibc's trim threshold in its workers (65536 by default, None: unset).
TRIM = "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_"


def variants():
    def dask_with(extra):
        return lambda est, X, y, cv: et.dask_pool(est, X, y, cv, config=dict(et.SMALL_CLUSTER_CONFIG, **extra))

    @contextlib.contextmanager
    def loky_trim(est, X, y, cv):
        with et._environ("MALLOC_TRIM_THRESHOLD_", "65536"), et.loky_pool(est, X, y, cv) as pool:
            yield pool

    return {"loky": et.loky_pool, "loky-trim": loky_trim, "dask": dask_with({}),
            "dask-trim": dask_with({TRIM: 65536}),
            "dask-nosteal": dask_with({"distributed.scheduler.work-stealing": False})}


def run(names, rounds, data="classification-100k", log=None):
    table = variants()
    load, epochs = et.DASK_SEARCHES[data]
    X, _, y, _ = load()
    est = MeteredDNNClassifier(max_iter=epochs, tol=0.0, n_iter_no_change=2 ** 31 - 1, random_state=0)
    one_epoch = MeteredDNNClassifier(**dict(est.get_params(), max_iter=1))
    et._decide_plans(dnn.DNNClassifier(**est.get_params()), X, y, 3)
    out = {n: [] for n in names}
    me = os.getpid()
    with et._environ("PYTHONWARNINGS", "ignore::UserWarning"), tempfile.TemporaryDirectory() as tmp:
        for r in range(rounds):
            for n in names[r % len(names):] + names[:r % len(names)]:
                d = os.path.join(tmp, "%s-%d" % (n, r))
                os.mkdir(d)
                MeteredDNNClassifier.OUT = d
                try:
                    with _same_environ(), table[n](est, X, y, 3) as (search, _):
                        search(one_epoch)
                        c, t = et.cpu_seconds(), time.perf_counter()
                        search(est)
                        wall, cpu = time.perf_counter() - t, sum(et.cpu_seconds()) - sum(c)
                except OSError as exc:  # distributed's CommClosedError: a stalled machine's timeouts
                    print("  round %d %s: failed, %r; left out" % (r + 1, n, exc), file=log or sys.stderr, flush=True)
                    continue
                recs = [json.loads(line) for p in glob.glob(os.path.join(d, "*.jsonl")) for line in open(p)]
                recs = [x for x in recs if x["epochs"] == epochs and x["pid"] != me]  # the timed search's, not the refit
                out[n].append({"wall": wall, "cpu": cpu, "recs": recs})
                if log:
                    fits = [x for x in recs if x["what"] == "fit"]
                    print("  round %d %s: search %.2f s, %.2f CPU s; %d fits, %.2f thread CPU s"
                          % (r + 1, n, wall, cpu, len(fits), sum(x["thread_cpu"] for x in fits)), file=log, flush=True)
    return out, epochs


def summary(runs):
    """Per contender: medians over rounds of the search's wall, CPU and per-search sums over its fits/scores."""
    keys = ("thread_cpu", "thread_sys", "process_cpu", "wall", "minflt", "nvcsw", "nivcsw")
    res = {}
    for n, rs in runs.items():
        if not rs:
            continue
        row = {"search wall": statistics.median(r["wall"] for r in rs), "search cpu": statistics.median(r["cpu"] for r in rs)}
        for what in ("fit", "score"):
            for k in keys:
                row["%s %s" % (what, k)] = statistics.median(sum(x[k] for x in r["recs"] if x["what"] == what) for r in rs)
        fits = [x for r in rs for x in r["recs"] if x["what"] == "fit"]
        row["fits"] = len(fits) // len(rs)
        row["X"] = sorted({"align64 %d, 4k %d, writeable %s, owndata %s, base %s, trim %s" % (
            x["x_align64"], x["x_align4k"], x["x_writeable"], x["x_owndata"], x["x_base"], x["trim"]) for x in fits})
        res[n] = row
    return res


def main(argv=None):
    table = variants()
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--variants", default="loky,dask,dask-trim", help="comma-separated, of: %s" % ",".join(table))
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--data", default="classification-100k", choices=list(et.DASK_SEARCHES))
    p.add_argument("--json", help="write every record here")
    args = p.parse_args(argv)
    names = et.chosen_variants(p, args.variants, table)
    if et.dask_missing():
        print("not run: %s" % et.dask_missing())
        return 0
    load = ep.load_average()
    print("\n".join(ep.header_lines("1", load)))
    runs, epochs = run(names, args.rounds, args.data, log=sys.stderr)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(runs, f)
    res = summary(runs)
    print("| contender | search wall s | search CPU s (all) | fits' thread CPU s | fits' process CPU s | fits' wall s "
          "| fits' system CPU s | fits' minor faults | fits' vol./invol. switches | scores' thread CPU s "
          "| scores' system CPU s | scores' minor faults |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n in [n for n in names if n in res]:
        r = res[n]
        print("| %s | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %d | %d / %d | %.3f | %.3f | %d |"
              % (n, r["search wall"], r["search cpu"], r["fit thread_cpu"], r["fit process_cpu"], r["fit wall"],
                 r["fit thread_sys"], r["fit minflt"], r["fit nvcsw"], r["fit nivcsw"], r["score thread_cpu"],
                 r["score thread_sys"], r["score minflt"]))
    for n in [n for n in names if n in res]:
        print("%s: %d fits per search; X in the fits: %s" % (n, res[n]["fits"], "; ".join(res[n]["X"])))
    print("search on %s, fits of %d epochs, per-search sums over the workers' fits (refit excluded), medians of %d "
          "rounds; load average (1 min): %s at the start, %s at the end" % (args.data, epochs, args.rounds, load,
                                                                            ep.load_average()))
    return 0


if __name__ == "__main__":
    sys.exit(main())

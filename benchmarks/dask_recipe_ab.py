"""Which Dask settings let a LocalCluster grid search keep up with joblib's default backend (issue 12 section 3).

The search of ``estimator_table.dask_search`` (8 ``DNNClassifier`` candidates x 3 folds on
digits, refit included) under contenders that differ in one thing each: loky with
``n_jobs=2``; a ``LocalCluster(n_workers=2, threads_per_worker=1)`` under Dask's default
config and client; the same under each of the settings of ``estimator_table.SMALL_CLUSTER_CONFIG``
alone, and with a client that scatters straight to the workers (``direct``) alone; and under all of
them (the README's recipe). Per round every contender, in a rotated order,
starts its pool alone, warms it by one untimed search, rests ``--rest`` seconds (its CPU at
rest), runs ``--searches`` timed searches, and shuts it. Printed per contender: medians over
the rounds of the wall seconds per search, the CPU seconds per search of this process (loky's
dispatch threads; the client and the scheduler of a LocalCluster) and of its child processes
(workers, nannies), the CPU seconds per second at rest, and the wall ratio against loky
(loky's seconds over the contender's: 1.0 or more is no slower).

On 2 cores whose two workers fit, every CPU second spent beside the fits delays the search by
about half a second; on a loaded machine the CPU columns are the ones to trust. Run:
``python benchmarks/dask_recipe_ab.py [--rounds 5] [--variants loky,dask,small]`` (about 20 s
per contender and round at the defaults).
"""

import argparse
import contextlib
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import epoch_peers as ep  # noqa: E402  (this folder is not a package)
import estimator_table as et  # noqa: E402


def variants():
    """``{name: (pool, description)}``: loky, Dask's defaults, each setting alone, the direct client
    alone, all of them (the README's recipe), a cluster of threads."""
    def dask_with(config, direct=False):
        return lambda est, X, y, cv: et.dask_pool(est, X, y, cv, config=config, direct=direct)

    out = {"loky": (et.loky_pool, "joblib's default backend, n_jobs=2"),
           "dask": (dask_with({}), "LocalCluster, Dask's default config and client"),
           "direct": (dask_with({}, direct=True), "LocalCluster, Dask's default config, "
                                                  "Client(direct_to_workers=True)")}
    for key, value in et.SMALL_CLUSTER_CONFIG.items():
        name = key.rsplit(".", 2)[-2] if key.endswith((".enabled", ".interval")) else (
            "no-malloc-trim" if key.endswith(".MALLOC_TRIM_THRESHOLD_") else key.rsplit(".", 1)[-1])
        out[name] = (dask_with({key: value}), "LocalCluster, %s: %s" % (key, value))
    out["small"] = (dask_with(et.SMALL_CLUSTER_CONFIG, direct=True),
                    "LocalCluster, all of SMALL_CLUSTER_CONFIG and Client(direct_to_workers=True) (the README's)")
    out["no-amm"] = (dask_with(dict(et.SMALL_CLUSTER_CONFIG, **{"distributed.scheduler.active-memory-manager.start": False}),
                               direct=True),
                     "the README's, and the scheduler's active memory manager off")
    out["threads"] = (threads_pool, "LocalCluster(processes=False): 2 workers of 1 thread in this process, "
                                    "SMALL_CLUSTER_CONFIG, BLAS capped at 1 thread by threadpoolctl")
    return out


@contextlib.contextmanager
def threads_pool(est, X, y, cv):
    """A LocalCluster whose 2 workers are threads of this process (no nannies, no pickled tasks, the
    data shared, not scattered), BLAS capped at one thread process-wide as no nanny sets it."""
    import logging

    import dask
    import joblib
    from distributed import Client, LocalCluster
    from sklearn.model_selection import GridSearchCV
    from threadpoolctl import threadpool_limits

    def search():
        with joblib.parallel_backend("dask"):
            ep._quiet(GridSearchCV(est, et.GRID, cv=cv, n_jobs=-1).fit, X, y)

    with threadpool_limits(1), dask.config.set(et.SMALL_CLUSTER_CONFIG), \
            LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None,
                         silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
        yield search, lambda f: list(client.run(f).values())


def run(names, rounds, searches, rest, epochs=None, log=None, data="digits"):
    """``{name: {"wall", "here", "children", "rest"}}``: medians over rounds x searches (rest: over rounds)."""
    import dnn

    table = variants()
    load, default_epochs = et.DASK_SEARCHES[data]
    X, _, y, _ = load()
    epochs = default_epochs if epochs is None else epochs
    est = dnn.DNNClassifier(max_iter=epochs, tol=0.0, n_iter_no_change=2 ** 31 - 1, random_state=0)
    runs = {n: {"wall": [], "here": [], "children": [], "rest": []} for n in names}
    with et._environ("PYTHONWARNINGS", "ignore::UserWarning"):
        for r in range(rounds):
            order = names[r % len(names):] + names[:r % len(names)]
            for n in order:
                with table[n][0](est, X, y, 3) as (search, _):
                    search()  # warm-up: the workers' imports, first calls
                    if rest > 0:
                        a = et.cpu_seconds()
                        time.sleep(rest)
                        runs[n]["rest"].append((sum(et.cpu_seconds()) - sum(a)) / rest)
                    for _ in range(searches):
                        a, t = et.cpu_seconds(), time.perf_counter()
                        search()
                        w, b = time.perf_counter() - t, et.cpu_seconds()
                        runs[n]["wall"].append(w)
                        runs[n]["here"].append(b[0] - a[0])
                        runs[n]["children"].append(b[1] - a[1])
                if log:
                    print("  round %d %s: %.3f s" % (r + 1, n, runs[n]["wall"][-1]), file=log, flush=True)
    return {n: {k: statistics.median(v) if v else float("nan") for k, v in d.items()} for n, d in runs.items()}, epochs


def main(argv=None):
    table = variants()
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--variants", default="loky,dask,small", help="comma-separated, of: %s" % ",".join(table))
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--searches", type=int, default=2, help="timed searches per contender and round")
    p.add_argument("--rest", type=float, default=2.0, help="seconds each pool is watched at rest per round")
    p.add_argument("--data", default="digits", choices=list(et.DASK_SEARCHES),
                   help="the search (estimator_table.DASK_SEARCHES; default digits, the overhead-bound one)")
    p.add_argument("--epochs", type=int, default=None, help="epochs of each fit (default: the search's)")
    args = p.parse_args(argv)
    names = et.chosen_variants(p, args.variants, table)
    if et.dask_missing():
        print("not run: %s" % et.dask_missing())
        return 0
    load = ep.load_average()
    print("\n".join(ep.header_lines("1", load)))
    res, epochs = run(names, args.rounds, args.searches, args.rest, args.epochs, log=sys.stderr, data=args.data)
    loky = res.get("loky", {}).get("wall")
    print("| contender | wall s per search | vs loky | CPU s here | CPU s children | CPU s in all | at rest CPU s/s |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for n in names:
        r = res[n]
        print("| %s | %.3f | %s | %.3f | %.3f | %.3f | %.3f |"
              % (n, r["wall"], "%.2fx" % (loky / r["wall"]) if loky else "-", r["here"], r["children"],
                 r["here"] + r["children"], r["rest"]))
    for n in names:
        print("%s: %s" % (n, table[n][1]))
    print("search on %s, fits of %d epochs; medians of %d rounds x %d searches; load average (1 min): %s at the "
          "start, %s at the end" % (args.data, epochs, args.rounds, args.searches, load, ep.load_average()))
    return 0


if __name__ == "__main__":
    sys.exit(main())

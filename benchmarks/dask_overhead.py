"""Where a Dask grid search's time goes, against joblib's default backend (issue 12 section 3).

The search of ``estimator_table.dask_search`` (8 ``DNNClassifier`` candidates x 3 folds on
digits, each contender's pool as there: ``estimator_table.loky_pool`` and ``dask_pool``, the
README's recipe), measured in CPU seconds, which the other processes of a shared machine
disturb far less than the wall clock:

- per search, CPU of this process (loky: dispatch and result threads; Dask: the client and
  the scheduler, which a ``LocalCluster`` runs here) and of its child processes (the
  workers, and Dask's nannies), with fits of ``--epochs`` epochs and of 1 epoch (then
  nearly all of it is the backends' own cost per task); medians of ``--rounds``;
- the pool at rest: CPU seconds per second with no search running;
- the resident memory of the child processes (workers, nannies) after the searches;
- on one cluster, searches with and without ``scatter=[X, y]``, alternated.

On 2 cores whose two workers are busy fitting, every CPU second a backend spends beside
the fits delays the search by about half a second. Run:
``python benchmarks/dask_overhead.py [--rounds 5] [--epochs 200]`` (about two minutes).
"""

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import epoch_peers as ep  # noqa: E402  (this folder is not a package)
import estimator_table as et  # noqa: E402


def children_rss_mib():
    """Resident memory of this process's child processes (MiB)."""
    import psutil

    total = 0
    for p in psutil.Process().children(recursive=True):
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total / 2 ** 20


def measure(pool, epochs, rounds, rest_seconds):
    """``{"wall", "here", "children", "rss"}`` per search for each of ``epochs`` (a list; medians, and
    the child processes' resident memory after the last search), and the pool's CPU seconds per
    second at rest."""
    import dnn

    X, _, y, _ = et.digits()
    out = {}
    ests = {e: dnn.DNNClassifier(max_iter=e, tol=0.0, n_iter_no_change=2 ** 31 - 1, random_state=0) for e in epochs}
    with et._environ("PYTHONWARNINGS", "ignore::UserWarning"):
        with pool(ests[epochs[0]], X, y, 3) as (search, _):
            search()  # warm-up: the workers' imports
            a = et.cpu_seconds()
            time.sleep(rest_seconds)
            b = et.cpu_seconds()
            rest = (sum(b) - sum(a)) / rest_seconds
        for e in epochs:
            est = ests[e]
            with pool(est, X, y, 3) as (search, _):
                search()  # warm-up
                runs = []
                for _ in range(rounds):
                    a, t = et.cpu_seconds(), time.perf_counter()
                    search()
                    w, b = time.perf_counter() - t, et.cpu_seconds()
                    runs.append((w, b[0] - a[0], b[1] - a[1]))
                rss = children_rss_mib()
            out[e] = {k: statistics.median(r[i] for r in runs) for i, k in enumerate(("wall", "here", "children"))}
            out[e]["rss"] = rss
    return out, rest


def scatter_ab(epochs, rounds):
    """``{True: (wall, cpu), False: ...}``: medians of searches with and without ``scatter=[X, y]``,
    alternated on one cluster (pools measured one after the other drift with the machine's load)."""
    import dnn

    X, _, y, _ = et.digits()
    est = dnn.DNNClassifier(max_iter=epochs, tol=0.0, n_iter_no_change=2 ** 31 - 1, random_state=0)
    runs = {True: [], False: []}
    with et._environ("PYTHONWARNINGS", "ignore::UserWarning"), et.dask_pool(est, X, y, 3) as (search, _):
        search()  # warm-up
        for r in range(rounds):
            for scatter in ((True, False) if r % 2 == 0 else (False, True)):
                a, t = et.cpu_seconds(), time.perf_counter()
                search(scatter=scatter)
                w, b = time.perf_counter() - t, et.cpu_seconds()
                runs[scatter].append((w, sum(b) - sum(a)))
    return {k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v)) for k, v in runs.items()}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--epochs", type=int, default=et.DASK_EPOCHS)
    p.add_argument("--rest", type=float, default=3.0, help="seconds the pools are watched at rest")
    args = p.parse_args(argv)
    if et.dask_missing():
        print("not run: %s" % et.dask_missing())
        return 0
    load = ep.load_average()
    print("\n".join(ep.header_lines("1", load)))
    print("| backend | fit epochs | wall s | CPU s here | CPU s child processes | CPU s in all | children RSS MiB |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    rests = {}
    pools = (("loky, n_jobs=2", et.loky_pool), ("Dask LocalCluster 2 x 1", et.dask_pool))
    for name, pool in pools:
        res, rests[name] = measure(pool, [args.epochs, 1], args.rounds, args.rest)
        for e, r in res.items():
            print("| %s | %d | %.3f | %.3f | %.3f | %.3f | %.0f |" % (name, e, r["wall"], r["here"], r["children"],
                                                                  r["here"] + r["children"], r["rss"]))
    for name, r in rests.items():
        print("at rest, %s: %.3f CPU s per second" % (name, r))
    ab = scatter_ab(args.epochs, args.rounds)
    print("one LocalCluster, searches with and without scatter=[X, y] alternated: %s"
          % "; ".join("%s %.3f s, %.3f CPU s" % ("with" if k else "without", w, c) for k, (w, c) in ab.items()))
    print("load average (1 min): %s at the start, %s at the end; medians of %d searches each"
          % (load, ep.load_average(), args.rounds))
    return 0


if __name__ == "__main__":
    sys.exit(main())

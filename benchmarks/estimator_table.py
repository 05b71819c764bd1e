"""Issue 12 section 3: ``DNNClassifier`` against scikit-learn's ``MLPClassifier``, and a Dask grid search.

Per data set (scikit-learn's digits; ``make_classification`` with 100,000
samples x 100 features, 10 classes; the course's cat pictures from the shared
folder) and dtype, both estimators get the same hyperparameters
(``MLPClassifier``'s defaults: Adam, ``learning_rate_init=0.001``,
``alpha=0.0001``, ``batch_size="auto"``, but where ``DATASETS`` says otherwise;
its hidden layers and number of epochs; ``tol=0`` and ``n_iter_no_change`` out of reach, so both
run exactly that many epochs; ``random_state`` 0, 1, ... for ``--seeds``):

- accuracy: a fresh fit on the training split, scored on the held-out split
  (the mean over ``--seeds`` seeds), under the first thread count;
- time per epoch, for each thread count: the two fitted estimators continue
  (``warm_start``, k epochs per call), timed in alternating rounds
  (``epoch_peers.paired``); ratio = MLPClassifier's time over DNNClassifier's.
  On a thread count other than the accuracy fit's, ``DNNClassifier`` first fits
  afresh, untimed, as a user's fit on those threads would: a fit of
  ``dnn._loop_plan.MIN_BATCHES`` batches or more plans its products and team on
  the threads it has, and the short continued fits timed here run on the team
  such a fit kept (``dnn._loop_plan``), as a user's continued or partial fits do.
  The "DNN plan" column says what they ran (``dnn_plan``: e.g. ``oo.oo x2``, every
  product ours, on a team of two); a continued fit with nothing kept before it (a
  cold ``partial_fit``) runs the rule on one thread below ``TEAM_MIN_WORK``.

Targets (issue 12): at least 3x per epoch in every cell, accuracy within one
point of MLPClassifier's. Each cell also shows its compute floor (``gemm_peak.py``: the
epoch's products at this machine's measured GEMM peak), as the mini-batch table does: a
miss whose target time is below the floor is marked "beyond floor" (no implementation of
the same products reaches it here). ``--dask`` adds the grid search of 8 candidates
(3-fold, on the 100,000 x 100 set or, ``--dask-data digits``, on digits) run on a
``LocalCluster`` of 2 worker processes of 1 thread each under the README's
settings (``SMALL_CLUSTER_CONFIG``) through ``joblib.parallel_backend("dask")``, against the same
search with ``n_jobs=2`` on joblib's default backend (loky, which gives each
worker one BLAS thread): wall time per search, the pools started before,
medians of alternating rounds; target: Dask no slower.

Run: ``python benchmarks/compare.py --estimator [--dask] [--markdown]``.
"""

import argparse
import contextlib
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import epoch_peers as ep  # noqa: E402  (this folder is not a package)
import gemm_peak  # noqa: E402

TARGET_SPEED = 3.0
TARGET_POINTS = 1.0


class Unavailable(Exception):
    """A data set that cannot be had here; its message is the row's reason."""


def _split(X, y, test_size, seed=0):
    from sklearn.model_selection import train_test_split

    return train_test_split(X, y, test_size=test_size, random_state=seed, stratify=y)


def digits():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return _split(X / 16.0, y, 0.25)


def classification_100k():
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=100_000, n_features=100, n_informative=30, n_redundant=10,
                               n_classes=10, random_state=0)
    return _split(X, y, 0.2)


def shared_folder():
    """``$DNN_SHARED``, else ``shared/`` beside the checkout (as the tests find it)."""
    env = os.environ.get("DNN_SHARED")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared"


def cats():
    """The course's split (209 training, 50 test pictures), pixels / 255."""
    folder = shared_folder() / "data" / "catvnoncat"
    paths = [folder / "train_catvnoncat.h5", folder / "test_catvnoncat.h5"]
    absent = [str(p) for p in paths if not p.is_file()]
    if absent:
        raise Unavailable("cat data not found: %s (set DNN_SHARED)" % ", ".join(absent))
    try:
        import h5py  # noqa: F401
    except ImportError:
        raise Unavailable("h5py not installed (it reads the cat data)") from None
    import dnn

    train_x, train_y, test_x, test_y, _ = dnn.load_data(*map(str, paths))
    flat = lambda x: x.reshape(x.shape[0], -1) / 255.0  # noqa: E731  (samples-major)
    return flat(train_x), flat(test_x), train_y.ravel(), test_y.ravel()


#: name -> (loader returning X_train, X_test, y_train, y_test; hidden layers; epochs of the accuracy fit;
#: batch size and learning rate where MLPClassifier's defaults, "auto" (200) and 0.001, do not train:
#: on the 209 cat pictures they leave both estimators predicting "non-cat" for every test picture).
DATASETS = {
    "digits": (digits, (100,), 100, {}),
    "classification-100k": (classification_100k, (100,), 10, {}),
    "cats": (cats, (20, 7, 5), 100, {"batch_size": 64, "learning_rate_init": 0.0003}),
}


def _accuracy(contender, epochs, seeds, X_test, y_test):
    scores = []
    for seed in range(seeds):
        contender.estimator.set_params(random_state=seed)
        scores.append(contender.fresh_fit(epochs).score(X_test, y_test))
    return 100.0 * sum(scores) / len(scores)


def measure(datasets=None, dtypes=("float64", "float32"), threads=(1, 2), seeds=1, budget=3.0, min_rounds=3,
            round_time=0.2, clock=time.perf_counter, epochs=None, log=None, rates=None):
    """One row per (data set, dtype, threads): ms per epoch and accuracy of each estimator.

    ``datasets``: name -> (loader, hidden, epochs, params) (default ``DATASETS``);
    ``epochs`` overrides every data set's. A data set that cannot be loaded, or
    an estimator that cannot be imported, gives rows with ``skipped``.
    ``rates``: {(dtype, threads): GFLOP/s} for the floors (default: measured, ``gemm_peak.peaks``,
    once a data set has loaded).
    """
    import numpy as np

    datasets = DATASETS if datasets is None else datasets
    rows = []
    why = ep.missing("sklearn") or ep.missing("DNNClassifier")
    for name, (load, hidden, n_epochs, params) in datasets.items():
        n_epochs = epochs or n_epochs
        batch, rate = params.get("batch_size", "auto"), params.get("learning_rate_init", 0.001)
        base = {"dataset": name, "hidden": list(hidden), "epochs": n_epochs, "batch_size": batch,
                "learning_rate_init": rate}
        try:
            if why:
                raise Unavailable("scikit-learn %s" % why)
            X_train, X_test, y_train, y_test = load()
        except Unavailable as exc:
            rows.append(dict(base, skipped=str(exc)))
            if log:
                print("  %s: skipped (%s)" % (name, exc), file=log, flush=True)
            continue
        base.update(train=X_train.shape[0], test=X_test.shape[0], features=X_train.shape[1],
                    classes=int(len(np.unique(y_train))))
        rates = gemm_peak.peaks(tuple(dtypes), tuple(threads)) if rates is None else rates
        dims = [base["features"], *hidden, 1 if base["classes"] == 2 else base["classes"]]
        for dname in dtypes:
            train = ep.Data(X_train.astype(dname), y_train, base["classes"])
            test_X = np.ascontiguousarray(X_test, dtype=dname)
            fit = ep.Fit("adam", batch, rate, alpha=0.0001)
            est = {"DNNClassifier": ep.DnnClassifier(train, hidden, fit), "sklearn": ep.SklearnMLP(train, hidden, fit)}
            with ep.thread_limit(threads[0]):
                acc = {k: _accuracy(c, n_epochs, seeds, test_X, y_test) for k, c in est.items()}
            for t in threads:
                stats = {}
                with ep.thread_limit(t):
                    if t != threads[0]:  # a user's fit on these threads first (untimed): see the docstring
                        est["DNNClassifier"].fresh_fit(n_epochs)
                    med, rounds = ep.paired({k: c.run for k, c in est.items()}, budget=budget, min_rounds=min_rounds,
                                            round_time=round_time, settle=ep.SETTLE_SECONDS if t > 1 else 0.0,
                                            clock=clock, stats=stats)
                    plan = dnn_plan(dims, base["train"], est["DNNClassifier"].estimator._batch(base["train"]), dname,
                                    stats["epochs_per_call"]["DNNClassifier"])
                rows.append(dict(base, dtype=dname, threads=t, seconds=med, accuracy=acc, rounds=rounds,
                                 seeds=seeds, stolen_calls=stats["stolen_calls"], dnn_plan=plan,
                                 floor=gemm_peak.floor_seconds(dims, base["train"], dname, t, rates)))
                if log:
                    print("  %s %s %d thread(s): DNNClassifier %s ms (plan %s), MLPClassifier %s ms per epoch; "
                          "accuracy %.2f%% / %.2f%% (%d rounds, %d calls timed again after steal)"
                          % (name, dname, t, ep.ms(med["DNNClassifier"]), plan, ep.ms(med["sklearn"]),
                             acc["DNNClassifier"], acc["sklearn"], rounds, stats["stolen_calls"]),
                          file=log, flush=True)
            del est, train
    return rows


def dnn_plan(dims, n, batch, dtype, epochs):
    """The mini-batch plan ``DNNClassifier``'s timed fits of ``epochs`` epochs on ``n`` samples in
    batches of ``batch`` ran (``dnn._loop_plan.plan_for``, nothing measured): its code
    (``LoopPlan.code``: products, `` xT`` on a team of T threads), "?" if none is kept."""
    import numpy as np
    from dnn import _loop_plan

    plan = _loop_plan.plan_for(dims, batch, np.dtype(dtype), epochs * -(-n // batch), True, None)
    return "?" if plan is None else plan.code()


def table(rows, markdown=False):
    header = ["data set", "dtype", "threads", "floor ms", "DNNClassifier ms/epoch", "DNN plan",
              "MLPClassifier ms/epoch", "MLP/DNN (>= %gx)" % TARGET_SPEED, "DNN accuracy", "MLP accuracy",
              "DNN - MLP (>= -%g pt)" % TARGET_POINTS]
    body = []
    for r in rows:
        what = "%s (%s train, %s test, %s features, %s classes; hidden %s, batch %s, rate %g; %d epochs)" % (
            r["dataset"], r.get("train", "?"), r.get("test", "?"), r.get("features", "?"), r.get("classes", "?"),
            tuple(r["hidden"]), r["batch_size"], r["learning_rate_init"], r["epochs"])
        if "skipped" in r:
            body.append([r["dataset"], "", "", "", "skipped: " + r["skipped"]] + [""] * 6)
            continue
        d, s = r["seconds"]["DNNClassifier"], r["seconds"]["sklearn"]
        a, b = r["accuracy"]["DNNClassifier"], r["accuracy"]["sklearn"]
        diff = a - b
        body.append([what, r["dtype"], str(r["threads"]), ep.ms(r.get("floor")), ep.ms(d), r.get("dnn_plan", ""),
                     ep.ms(s), _mark(r),
                     "%.2f%%" % a, "%.2f%%" % b,
                     "%+.2f %s" % (diff, "pass" if diff >= -TARGET_POINTS else "miss")])
    return ep.render(header, body, markdown, right_from=2) if body else ""


def _mark(row):
    """pass/miss of MLP/DNN against TARGET_SPEED; a miss whose target time (MLPClassifier's over
    TARGET_SPEED) is below the cell's compute floor says so."""
    d, s = row["seconds"]["DNNClassifier"], row["seconds"]["sklearn"]
    text = ep.mark(s / d, TARGET_SPEED)
    beyond = row.get("floor") is not None and s / TARGET_SPEED < row["floor"]
    return text + " (beyond floor)" if text.endswith("miss") and beyond else text


# --------------------------------------------------------------------------
# The grid search: Dask's LocalCluster against joblib's default backend
# --------------------------------------------------------------------------

GRID = {"hidden_layer_sizes": [(32,), (64,)], "alpha": [1e-4, 1e-2], "learning_rate_init": [1e-3, 3e-3]}

#: The searches: name -> (loader of X_train, X_test, y_train, y_test; epochs of each fit). The search
#: runs on the training split. "classification-100k" (the table's 100,000 x 100 set, its 10 epochs):
#: a fold's fit takes 0.25-0.35 CPU s, a search about 8, as a search worth a cluster does.
#: "digits" (200 epochs): fits of about 60 ms, where a backend's own cost per task (Dask: 10 to 20
#: ms of CPU over the client, scheduler and worker) is a fifth of the work: the worst case.
DASK_SEARCHES = {"classification-100k": (classification_100k, 10), "digits": (digits, 200)}
#: Epochs of each fit of the digits search (kept for the callers that name it).
DASK_EPOCHS = DASK_SEARCHES["digits"][1]

#: The README's settings for a LocalCluster on one machine, passed as ``dask.config.set(...)`` before
#: the cluster starts (the nannies hand the config to the worker processes). Each is a documented
#: Dask option; together they take an idle 2-worker cluster from about 0.12 to 0.02 CPU s per second
#: and its workers' event loops from 0.08 to 0.05 CPU s per search (benchmarks/NOTES.md, "Dask
#: settings for one machine"; ``benchmarks/dask_recipe_ab.py`` measures each alone):
SMALL_CLUSTER_CONFIG = {
    # the statistical profiler samples the running task's stack every 10 ms (the dashboard's
    # Profile page): off.
    "distributed.worker.profile.enabled": False,
    # event-loop health check, 20 ms by default in every scheduler, nanny and worker (it only warns
    # after tick.limit, 3 s, of a blocked loop): once a second.
    "distributed.admin.tick.interval": "1s",
    # CPU/memory/network samples for the dashboard and heartbeats, 500 ms by default: 5 s.
    "distributed.admin.system-monitor.interval": "5s",
    # the spill/pause/terminate memory checks, 100 ms by default: once a second.
    "distributed.worker.memory.monitor-interval": "1s",
    # glibc's own malloc thresholds in the workers: the nanny starts them with
    # MALLOC_TRIM_THRESHOLD_=65536, which also freezes glibc's mmap threshold at 128 KiB, so every
    # larger temporary of a fit or a score (a layer's activations, an epoch's permutation) is a
    # fresh mmap, faulted in page by page and unmapped again: 8 times the page faults, 0.7 CPU s
    # (7%) more per 100k search, most in the scores (benchmarks/dask_fit_cost.py; NOTES.md, "Dask's
    # workers: the fits' own cost"). None unsets it (Dask's documented way to drop a variable).
    "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
}


@contextlib.contextmanager
def _environ(name, value):
    """The environment variable ``name`` set to ``value`` for the block (child processes started in it)."""
    before = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


def cpu_seconds():
    """``(this process, its child processes)`` CPU seconds so far (psutil, which distributed needs)."""
    import psutil

    me = psutil.Process()
    own = sum(me.cpu_times()[:2])
    children = 0.0
    for p in me.children(recursive=True):
        try:
            children += sum(p.cpu_times()[:2])
        except psutil.Error:  # ended meanwhile
            pass
    return own, children


def _blas_threads(run_in_workers):
    """``{(BLAS library, threads)}`` the pool's workers report (threadpoolctl, in the workers)."""
    from threadpoolctl import threadpool_info

    return sorted({(i["internal_api"], i["num_threads"]) for info in run_in_workers(threadpool_info)
                   for i in info if i["user_api"] == "blas"})


@contextlib.contextmanager
def loky_pool(est, X, y, cv):
    """joblib's default backend as a user runs it: ``GridSearchCV(n_jobs=2)``. Yields ``(search,
    run_in_workers)``; loky's workers are shut down on leaving (the next search starts new ones)."""
    import joblib
    from joblib.externals.loky import get_reusable_executor
    from sklearn.model_selection import GridSearchCV

    def search(estimator=est):
        ep._quiet(GridSearchCV(estimator, GRID, cv=cv, n_jobs=2).fit, X, y)

    def run_in_workers(f):
        return joblib.Parallel(n_jobs=2)(joblib.delayed(f)() for _ in range(8))

    try:
        yield search, run_in_workers
    finally:
        # joblib's pool is loky's reusable executor: reuse=True gets that one (not a new one with
        # loky's default arguments) to shut it.
        get_reusable_executor(reuse=True).shutdown(wait=True)


@contextlib.contextmanager
def dask_pool(est, X, y, cv, scatter=True, config=None, direct=True):
    """The README's recipe: a ``LocalCluster`` of 2 worker processes x 1 thread, started under
    ``dask.config.set(config)`` (default ``SMALL_CLUSTER_CONFIG``; ``{}``: Dask's defaults), its
    client sending scattered data straight to the workers (``direct``; False: Dask's default,
    through the scheduler, which runs in this process), the search through
    ``joblib.parallel_backend("dask", scatter=[X, y])`` (X and y sent to every worker once per
    search, before its tasks; ``scatter=False``: joblib's default, each sent to one worker with the
    first task that needs it; ``search(estimator, scatter=...)`` picks per search). Yields
    ``(search, run_in_workers)``; the cluster is closed on leaving."""
    import logging

    import dask
    import joblib
    from distributed import Client, LocalCluster
    from sklearn.model_selection import GridSearchCV

    def search(estimator=est, scatter=scatter):
        with joblib.parallel_backend("dask", **({"scatter": [X, y]} if scatter else {})):
            ep._quiet(GridSearchCV(estimator, GRID, cv=cv, n_jobs=-1).fit, X, y)

    # The nannies pass the client's config to the worker processes they start. They run in this
    # process and leave their pre-spawn variables in os.environ (MALLOC_TRIM_THRESHOLD_,
    # *_NUM_THREADS; distributed's Nanny docs say so): restored after, or loky's workers started
    # later in this process would inherit them.
    before = dict(os.environ)
    try:
        with dask.config.set(SMALL_CLUSTER_CONFIG if config is None else config), \
                LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                             silence_logs=logging.ERROR) as cluster, \
                Client(cluster, direct_to_workers=direct) as client:
            yield search, lambda f: list(client.run(f).values())
    finally:
        os.environ.clear()
        os.environ.update(before)


def chosen_variants(parser, text, table):
    """The names in the comma-separated ``text``, each a key of ``table`` (else the parser's
    error, naming the known ones): the Dask probes' ``--variants``."""
    names = [n for n in text.split(",") if n]
    unknown = [n for n in names if n not in table]
    if unknown:
        parser.error("unknown variant(s) %s; known: %s" % (",".join(unknown), ",".join(table)))
    return names


def dask_missing():
    """Why the Dask search cannot run here (the first of its modules that does not import), or None."""
    for mod in ("sklearn", "joblib", "dask", "distributed", "threadpoolctl", "psutil"):
        try:
            __import__(mod)
        except ImportError as exc:
            return str(exc)
    return None


def _decide_plans(est, X, y, cv):
    """Fit each of the grid's networks here as the search will: on as many samples as a fold's fit
    on one BLAS thread (the workers'), and on all of them on this process's threads (the refit). A
    fit long enough to be planned (``dnn._loop_plan``) measures its plan once per machine and key and
    keeps it in the wisdom file, where both pools' workers and refits then read it: the timed
    searches measure no plan, whichever pool meets a network first."""
    import contextlib
    import warnings

    from sklearn.base import clone
    from threadpoolctl import threadpool_limits

    n = len(y) * (cv - 1) // cv
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for hidden in GRID["hidden_layer_sizes"]:
            for rows, limit in ((n, lambda: threadpool_limits(1)), (len(y), contextlib.nullcontext)):
                with limit():  # threadpool_limits caps when it is made: made here, undone on leaving
                    clone(est).set_params(hidden_layer_sizes=hidden).fit(X[:rows], y[:rows])


def dask_search(rounds=3, max_iter=None, cv=3, log=None, data="digits", config=None):
    """Wall seconds of the same 8-candidate ``GridSearchCV(DNNClassifier())`` on the training split of
    ``data`` (a key of ``DASK_SEARCHES``; ``max_iter`` None: its epochs): ``{"loky", "dask"}``
    medians, the CPU seconds of all processes per search (``"cpu"``, medians: less disturbed by a
    loaded machine), the cluster's start-up and the BLAS threads each pool's workers ran; or
    ``{"skipped": why}``. ``config``: the Dask config of the cluster (None: ``SMALL_CLUSTER_CONFIG``,
    the README's; ``{}``: Dask's defaults).

    Each contender runs alone: per round, its pool is started, warmed by one untimed search of
    1-epoch fits (the workers' imports, first calls; the fits' plans are decided before the rounds,
    ``_decide_plans``), one search timed, the pool shut; the contenders alternate. Neither pays
    for the other's idle processes (an idle LocalCluster under Dask's defaults costs about 0.1 CPU
    seconds per second: its heartbeats and monitors; benchmarks/NOTES.md, "Dask grid search").
    """
    if dask_missing():
        return {"skipped": "not installed (%s)" % dask_missing()}
    if ep.missing("DNNClassifier"):
        return {"skipped": ep.missing("DNNClassifier")}
    import statistics

    import dnn

    load, epochs = DASK_SEARCHES[data]
    max_iter = epochs if max_iter is None else max_iter
    X, _, y, _ = load()
    # A fixed number of epochs per fit (no convergence test): every candidate does the same work.
    est = dnn.DNNClassifier(max_iter=max_iter, tol=0.0, n_iter_no_change=2 ** 31 - 1, random_state=0)
    # Dask's defaults (config {}) include its client's: data scattered through the scheduler.
    direct = config != {}
    pools = {"loky": loky_pool, "dask": lambda *a: dask_pool(*a, config=config, direct=direct)}
    times, cpu, startup, blas = {k: [] for k in pools}, {k: [] for k in pools}, [], {}
    _decide_plans(est, X, y, cv)
    one_epoch = dnn.DNNClassifier(**dict(est.get_params(), max_iter=1))
    # Every fit ends at max_iter, which warns (ConvergenceWarning, a UserWarning): the worker
    # processes started here inherit the filter.
    with _environ("PYTHONWARNINGS", "ignore::UserWarning"):
        for r in range(rounds):
            for k in (list(pools) if r % 2 == 0 else list(pools)[::-1]):
                t0 = time.perf_counter()
                with pools[k](est, X, y, cv) as (search, run_in_workers):
                    if k == "dask":
                        startup.append(time.perf_counter() - t0)
                    search(one_epoch)  # warm-up: imports, first calls, the data's paths
                    blas.setdefault(k, _blas_threads(run_in_workers))
                    c, t = cpu_seconds(), time.perf_counter()
                    search()
                    times[k].append(time.perf_counter() - t)
                    cpu[k].append(sum(cpu_seconds()) - sum(c))
                if log:
                    print("  grid search (%s, %s): %.2f s" % (data, k, times[k][-1]), file=log, flush=True)
    return {"loky": statistics.median(times["loky"]), "dask": statistics.median(times["dask"]),
            "paired": paired_ratio(times["loky"], times["dask"]), "times": times,
            "cpu": {k: statistics.median(v) for k, v in cpu.items()}, "startup": statistics.median(startup),
            "rounds": rounds, "fits": 8 * cv, "max_iter": max_iter, "blas": blas, "data": data,
            "samples": len(y), "direct": direct, "config": "Dask's defaults" if config == {} else (
                "SMALL_CLUSTER_CONFIG" if config is None else "config %r" % (config,))}


#: The grid search's verdict, a non-inferiority test: Dask counts as no slower than loky when, with
#: 95% confidence, it is at most this much slower (single searches of either backend here spread
#: over 10-20%; 50 paired rounds resolve about 1.3%).
NO_SLOWER_MARGIN = 0.02


def paired_ratio(loky, dask):
    """``(ratio, low, high)``: the geometric mean of the rounds' ``loky / dask`` wall ratios (each
    round ran both, so a slow spell of the machine cancels) and its 95% Student-t interval (on the
    ratios' logarithms; one round: unbounded). ``ValueError`` unless both are equally many positive
    times."""
    import math
    import statistics

    from scipy.stats import t as student_t

    loky, dask = list(loky), list(dask)
    if not loky or len(loky) != len(dask):
        raise ValueError("loky and dask: expected equally many times, at least one; got %d and %d"
                         % (len(loky), len(dask)))
    if not all(v > 0 for v in loky + dask):
        raise ValueError("loky and dask: expected positive times; got %r and %r" % (loky, dask))
    logs = [math.log(a / b) for a, b in zip(loky, dask)]
    mean = statistics.fmean(logs)
    if len(logs) < 2:
        return math.exp(mean), 0.0, math.inf
    half = student_t.ppf(0.975, len(logs) - 1) * statistics.stdev(logs) / math.sqrt(len(logs))
    return math.exp(mean), math.exp(mean - half), math.exp(mean + half)


def search_verdict(low, high, margin=NO_SLOWER_MARGIN):
    """What a paired ratio's 95% interval ``[low, high]`` (loky's time over Dask's) says: "faster"
    (all of it above 1), "no slower" (none of it more than ``margin`` below 1), "slower" (all of it
    below 1, some of it more than ``margin`` below), else "undecided" (too few rounds for the
    machine's noise)."""
    if low > 1.0:
        return "faster"
    if low >= 1.0 - margin:
        return "no slower"
    if high < 1.0:
        return "slower"
    return "undecided"


def dask_line(result):
    if "skipped" in result:
        return "Dask grid search: not run, %s" % result["skipped"]
    ratio = result["loky"] / result["dask"]
    paired, low, high = result["paired"]
    verdict = search_verdict(low, high)
    blas = lambda k: ", ".join("%s %d" % pair for pair in result["blas"][k]) or "none found"
    return ("Dask grid search (8 candidates x %d folds of DNNClassifier(max_iter=%d) on %s, %d samples): "
            "LocalCluster of 2 workers x 1 thread under %s, data scattered %s, %.2f s; n_jobs=2 on joblib's "
            "default backend (loky) %.2f s: %.2fx (medians of %d rounds); per round loky/Dask %.3fx, 95%% interval "
            "%.3f-%.3f: %s, %s (no slower: none of the interval more than %d%% below 1; each alone, its pool warmed "
            "by an untimed search of 1-epoch fits; cluster start-up %.1f s, not counted; CPU seconds per search, "
            "all processes: Dask %.2f, loky %.2f; BLAS threads in the workers: Dask %s, loky %s)"
            % (result["fits"] // 8, result["max_iter"], result.get("data", "digits"), result.get("samples", 0),
               result.get("config", "SMALL_CLUSTER_CONFIG"),
               "straight to the workers" if result.get("direct", True) else "through the scheduler",
               result["dask"], result["loky"], ratio, result["rounds"], paired, low, high, verdict,
               {"faster": "pass", "no slower": "pass", "slower": "miss"}.get(verdict, "more rounds needed"),
               round(NO_SLOWER_MARGIN * 100),
               result["startup"], result["cpu"]["dask"], result["cpu"]["loky"], blas("dask"), blas("loky")))


def main(argv=None):
    p = argparse.ArgumentParser(prog="compare.py --estimator", description=__doc__.split("\n\n")[0])
    p.add_argument("--datasets", default=",".join(DATASETS), type=ep.names(DATASETS, "data set"),
                   help="subset of %s" % ",".join(DATASETS))
    p.add_argument("--seeds", type=int, default=1, help="random states averaged for the accuracy (default 1)")
    p.add_argument("--epochs", type=int, default=None, help="epochs of every accuracy fit (default: per data set)")
    p.add_argument("--dask", action="store_true", help="also the Dask grid search (dask and distributed needed)")
    p.add_argument("--dask-only", action="store_true", help="only the Dask grid search")
    p.add_argument("--dask-rounds", type=int, default=3)
    p.add_argument("--dask-data", default="classification-100k", type=ep.names(DASK_SEARCHES, "search"),
                   help="the searches, of %s (default classification-100k; digits: the overhead-bound one)"
                   % ",".join(DASK_SEARCHES))
    p.add_argument("--dask-epochs", type=int, default=None,
                   help="epochs of each of the search's fits (default: per search, %s)"
                   % ", ".join("%s %d" % (k, v[1]) for k, v in DASK_SEARCHES.items()))
    p.add_argument("--dask-defaults", action="store_true",
                   help="the cluster under Dask's default config and client, not the README's "
                        "SMALL_CLUSTER_CONFIG and Client(direct_to_workers=True)")
    ep.add_timing_options(p)
    args = p.parse_args(argv)
    t = ep.timing(args, p)
    started, load = time.perf_counter(), ep.load_average()
    rows = [] if args.dask_only else measure(
        {k: DATASETS[k] for k in args.datasets}, args.dtypes, t["threads"], args.seeds, t["budget"],
        t["min_rounds"], t["round_time"], t["clock"], args.epochs, log=sys.stderr)
    grids = [dask_search(args.dask_rounds, args.dask_epochs, log=sys.stderr, data=d,
                         config={} if args.dask_defaults else None)
             for d in args.dask_data] if (args.dask or args.dask_only) else []
    lines = ep.header_lines(",".join(map(str, t["threads"])), load)
    if rows:
        lines.append("DNNClassifier vs MLPClassifier, same hyperparameters: time per epoch (medians of alternating "
                     "rounds, %s clock, budget %gs per cell) and test accuracy (held-out split, mean of %d seed(s))"
                     % (args.clock, t["budget"], args.seeds))
    lines.append("%.0f s in all" % (time.perf_counter() - started))
    print("\n".join(("- " + l) if args.markdown else l for l in lines))
    if rows:
        print()
        print(table(rows, args.markdown))
    if grids:
        print()
        print("\n".join(dask_line(g) for g in grids))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"info": lines, "rows": rows, "dask": grids}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

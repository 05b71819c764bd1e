"""dnn.bench's machinery without timing anything: the matrix's environments and its report."""
import json

import pytest

bench = pytest.importorskip("dnn.bench")


def test_a_kernel_set_the_cpu_cannot_run_is_reported_not_run(monkeypatch):
    monkeypatch.setattr(bench.platform, "machine", lambda: "x86_64")
    monkeypatch.setattr(bench, "_cpu_flags", lambda: {"sse2", "avx"})
    env, why = bench._config_env(1, "Haswell")
    assert env is None and "avx2" in why
    monkeypatch.setattr(bench, "_cpu_flags", lambda: {"avx2", "fma"})
    env, why = bench._config_env(2, "Haswell")
    assert why is None and env["OPENBLAS_CORETYPE"] == "Haswell"
    assert env["OPENBLAS_NUM_THREADS"] == env["OMP_NUM_THREADS"] == "2"
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    monkeypatch.setenv("OPENBLAS_L2_SIZE", "512")
    env, why = bench._config_env(1, "auto")
    assert why is None and "OPENBLAS_CORETYPE" not in env and "OPENBLAS_L2_SIZE" not in env
    monkeypatch.setattr(bench.platform, "machine", lambda: "arm64")
    assert bench._config_env(1, "Haswell")[0] is None


def test_the_matrix_children_import_this_dnn_and_report_a_failure(tmp_path, monkeypatch, capsys):
    # Run from a source checkout, a child started there imported its uncompiled dnn/ and the
    # matrix printed nothing, with exit status 0: children now run elsewhere, on this dnn.
    import os
    import sys

    import dnn

    (tmp_path / "dnn").mkdir()
    (tmp_path / "dnn" / "__init__.py").write_text("raise ImportError('the source tree')\n")
    monkeypatch.chdir(tmp_path)
    seen = []

    def run(cmd, env, cwd, **kw):
        seen.append((env.get("PYTHONPATH", "").split(os.pathsep)[0], cwd, os.listdir(cwd)))
        return bench.subprocess.CompletedProcess(cmd, 1)

    monkeypatch.setattr(bench.subprocess, "run", run)
    assert bench.main(["--matrix", "--matrix-threads", "1", "--matrix-kernels", "auto", "--shapes", "S2"]) == 0
    here = os.path.dirname(os.path.dirname(os.path.abspath(dnn.__file__)))
    assert seen
    for path, cwd, listing in seen:
        # on its path: this dnn's folder, unless a site directory holds it (then found anyway)
        assert path == here or (here in bench._site_dirs() and path != str(tmp_path))
        # run in an empty folder of its own, since removed (not a shared /tmp: -m puts it first)
        assert listing == [] and not os.path.exists(cwd) and os.path.abspath(cwd) != str(tmp_path)
    assert "the run failed (exit status 1" in capsys.readouterr().out
    assert sys.modules["dnn"] is dnn


def test_the_matrix_report_merges_runs_and_checks_the_targets(tmp_path, capsys):
    def row(shape, dnn, blas, torch, sklearn):
        return {"shape": shape, "dtype": "float64", "plan": "x1 bb.oo", "flops": 1e9,
                "peak": 10.0, "times": {"dnn": dnn, "dnn-blas": blas, "torch": torch,
                                        "sklearn": sklearn}, "setup": {"dnn": 0.01}}

    first = {"configurations": [
        {"name": "1 thread, OpenBLAS as picked", "rows": [row("S4", 0.2, 0.1, 0.3, 0.3)]},
        {"name": "1 thread, OpenBLAS Haswell", "rows": [], "skipped": "CPU lacks avx2"}]}
    second = {"configurations": [
        {"name": "1 thread, OpenBLAS as picked", "rows": [row("S4", 0.1, 0.104, 0.3, 0.2),
                                                          row("S5", 0.125, 0.125, 0.5, 0.25)]}]}
    paths = []
    for k, doc in enumerate((first, second)):
        paths.append(tmp_path / ("%d.json" % k))
        paths[-1].write_text(json.dumps(doc))
    assert bench.main(["--report"] + [str(p) for p in paths]) == 0
    out = capsys.readouterr().out
    assert "CPU lacks avx2" in out
    summary = [line for line in out.splitlines() if line.startswith("1 thread, OpenBLAS as")][-1]
    # the second run replaced the first (whose all-BLAS ratio was 0.50x)
    assert "0.50x" not in out
    assert "3.00x (S4 64)" in summary and "2.00x (S4 64)" in summary
    assert "1.00x (S5 64)" in summary
    assert "S4 64 100%" in summary and "S5 64 80%" in summary
    bad = tmp_path / "bad.json"
    bad.write_text("[]")
    with pytest.raises(SystemExit):
        bench.main(["--report", str(bad)])


# --------------------------------------------------------------------------
# The side-by-side epoch tables (benchmarks/minibatch_table.py, estimator_table.py):
# each one run at a tiny budget on tiny problems, so the harness cannot rot. Nothing
# here asserts a speed: only that every contender ran and the report says so.
# --------------------------------------------------------------------------

import math  # noqa: E402
import re  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
TINY = dict(budget=0.0, min_rounds=1, round_time=0.001)


@pytest.fixture
def tables(monkeypatch):
    """The benchmark folder's modules (it is not a package: the scripts put it on sys.path)."""
    if not (BENCHMARKS / "epoch_peers.py").is_file():
        pytest.skip("benchmarks/ is not beside the tests (installed tests only)")
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import epoch_peers
    import estimator_table
    import minibatch_table

    return epoch_peers, minibatch_table, estimator_table


def _installed(ep):
    return [name for name in ("sklearn", "torch") if ep.missing(name) is None]


def test_paired_alternates_leaves_the_warm_up_out_and_takes_medians(tables):
    ep = tables[0]
    now = [0.0]
    calls = []

    def contender(name, per_epoch, warm_up):
        def run(k):
            first = not any(c[0] == name for c in calls)
            calls.append((name, k))
            now[0] += warm_up if first else per_epoch * k
        return run

    runs = {"a": contender("a", 0.002, 1.0), "b": contender("b", 0.010, 1.0)}
    med, rounds = ep.paired(runs, budget=0.0, min_rounds=4, round_time=0.05, clock=lambda: now[0],
                            steal=lambda: 0.0)
    assert rounds == 4
    assert med == {"a": pytest.approx(0.002), "b": pytest.approx(0.010)}
    # per contender a warm-up and a calibration of one epoch each (left out), then rounds whose
    # order flips
    assert calls[:4] == [("a", 1), ("a", 1), ("b", 1), ("b", 1)]
    assert [c[0] for c in calls[4:]] == ["a", "b", "b", "a", "a", "b", "b", "a"]


def test_paired_times_again_a_call_the_hypervisor_stole_from(tables):
    ep = tables[0]
    now, stolen, calls = [0.0], [0.0], []

    def contender(name, per_epoch):
        def run(k):
            calls.append(name)
            now[0] += per_epoch * k
            if name == "a" and len(calls) == 8:  # a's second timed call (round 2): its vCPU taken away
                now[0] += 1.0
                stolen[0] += 0.5
        return run

    runs = {"a": contender("a", 0.002), "b": contender("b", 0.010)}
    stats = {}
    med, rounds = ep.paired(runs, budget=0.0, min_rounds=3, round_time=0.05, clock=lambda: now[0],
                            steal=lambda: stolen[0], stats=stats)
    assert stats == {"stolen_calls": 1, "epochs_per_call": {"a": 25, "b": 5}}  # 0.05 s a call
    assert rounds == 4  # one more round, so that a has 3 calls kept
    assert med == {"a": pytest.approx(0.002), "b": pytest.approx(0.010)}


def test_the_step_loop_times_again_a_round_the_hypervisor_stole_from(tables, monkeypatch):
    import step_loop

    now, stolen, calls = [0.0], [0.0], []

    def contender(name, per_iteration):
        def run(k):
            calls.append((name, k))
            now[0] += per_iteration * k
            if name == "dnn" and len(calls) == 7:  # dnn's second timed round: its vCPU taken away
                now[0] += 1.0
                stolen[0] += 0.5
        return run

    monkeypatch.setattr(step_loop, "_clock", lambda: now[0])
    runs = {"course": contender("course", 0.003), "dnn": contender("dnn", 0.001)}
    stats = {}
    med, rounds = step_loop.paired(runs, min_rounds=2, budget=0.0, round_time=0.03,
                                   steal=lambda: stolen[0], stats=stats)
    assert stats == {"stolen_calls": 1}
    assert rounds == 3  # one more round, so that dnn has 2 rounds kept
    assert med == {"course": pytest.approx(0.003), "dnn": pytest.approx(0.001)}


#: Made-up GEMM rates for the tables' floors in these tests (measuring them takes seconds).
RATES = {(d, t): 1.0 for d in ("float64", "float32") for t in (1, 2)}


def test_the_minibatch_table_runs_every_contender_on_tiny_problems(tables, monkeypatch):
    ep, mt, _ = tables
    problems = {"T": ((6, 5, 1), 70), "T-softmax": ((6, 5, 3), 70)}
    fits = {"adam-16": ("adam", 16, 0.01), "momentum-16": ("momentum", 16, 0.01)}
    for api in ("dnn.model",) + (("DNNClassifier",) if ep.missing("DNNClassifier") is None else ()):
        # the other API on one problem and fit: the same harness
        ps = problems if api == "dnn.model" else {"T-softmax": problems["T-softmax"]}
        fs = fits if api == "dnn.model" else {"adam-16": fits["adam-16"]}
        rows = mt.measure(ps, fs, ("float64", "float32"), (1,), dnn=api, rates=RATES, **TINY)
        assert len(rows) == len(ps) * len(fs) * 2
        for r in rows:
            timed = set(r["seconds"])
            assert timed == {"dnn", *_installed(ep)}
            assert set(r["missing"]) == set(mt.PEERS) - timed
            assert all(math.isfinite(s) and s > 0 for s in r["seconds"].values())
        text = mt.table(rows, markdown=True)
        assert text.count("\n| T") == len(rows) and "%s ms/epoch" % api in text
        assert ("not installed" in text) == (len(_installed(ep)) < len(mt.PEERS))
    # a peer that is not there is a row "not installed" and a summary line, never a crash
    real = ep.missing
    monkeypatch.setattr(ep, "missing", lambda name: "not installed (test)" if name == "torch" else real(name))
    rows = mt.measure({"T": problems["T"]}, {"adam-16": fits["adam-16"]}, ("float32",), (1,), rates=RATES, **TINY)
    assert "torch" not in rows[0]["seconds"] and rows[0]["missing"]["torch"] == "not installed (test)"
    text = mt.table(rows)
    assert "not installed" in text and "torch: not run (not installed (test))" in text


def test_a_pass_or_miss_mark_follows_the_ratio(tables):
    ep, mt, _ = tables
    assert ep.mark(3.0, 3.0) == "3.00x pass" and ep.mark(2.99, 3.0) == "2.99x miss" and ep.mark(None, 3) == "n/a"
    row = {"problem": "T", "dims": [3, 1], "m": 10, "fit": "adam-16", "dtype": "float64", "threads": 1,
           "dnn_api": "dnn.model", "rounds": 1, "missing": {},
           "seconds": {"dnn": 0.001, "sklearn": 0.0031, "torch": 0.0014}}
    text = mt.table([row])
    assert "3.10x pass" in text and "1.40x miss" in text
    assert "MLPClassifier: 1 of 1 cells at >= 3x" in text and "torch: 0 of 1 cells at >= 1.5x" in text


def test_the_compute_floor_counts_an_epochs_products_and_marks_unreachable_targets(tables):
    _, mt, _ = tables
    import gemm_peak

    # [3, 4, 2] on 10 examples: forward 3*4 + 4*2, dW the same, dA only for the second layer (4*2)
    assert gemm_peak.epoch_flops([3, 4, 2], 10) == 2 * 10 * (2 * (12 + 8) + 8)
    rates = {("float64", 1): 1.0}  # 1 GFLOP/s
    floor = gemm_peak.floor_seconds([3, 4, 2], 10, "float64", 1, rates)
    assert floor == pytest.approx(960e-9)
    row = {"problem": "T", "dims": [3, 4, 2], "m": 10, "fit": "adam-16", "dtype": "float64", "threads": 1,
           "dnn_api": "dnn.model", "rounds": 1, "missing": {}, "floor": floor,
           # scikit-learn's target time 1.2e-6 / 3 is below the floor; torch's 1.49e-6 / 1.5 is above it
           "seconds": {"dnn": 1e-6, "sklearn": 1.2e-6, "torch": 1.49e-6}}
    assert mt.beyond_floor(row, "sklearn") and not mt.beyond_floor(row, "torch")
    text = mt.table([row])
    assert "1.20x miss (beyond floor)" in text and "1.49x miss (beyond" not in text
    assert "1 of the 1 misses ask for less than the compute floor" in text
    assert "0 of the 1 misses ask for less than the compute floor" in text
    # the estimator table marks its misses the same way
    et = tables[2]
    cell = {"dataset": "T", "hidden": [4], "epochs": 1, "batch_size": 16, "learning_rate_init": 0.001,
            "dtype": "float64", "threads": 1, "floor": floor, "accuracy": {"DNNClassifier": 90.0, "sklearn": 90.0},
            "seconds": {"DNNClassifier": 1e-6, "sklearn": 1.2e-6}}
    assert "1.20x miss (beyond floor)" in et.table([cell])
    assert "2.90x miss |" in et.table([dict(cell, seconds={"DNNClassifier": 1e-6, "sklearn": 2.9e-6})], markdown=True)
    assert "3.10x pass |" in et.table([dict(cell, seconds={"DNNClassifier": 1e-7, "sklearn": 3.1e-7})], markdown=True)
    # a measured peak is a positive rate for every dtype and thread count asked
    here = gemm_peak._rates_here(("float32",), (1,), side=64, repeats=1)
    assert set(here) == {("float32", 1)} and here[("float32", 1)] > 0


def test_the_estimator_table_runs_on_a_tiny_set_and_skips_what_is_absent(tables, monkeypatch, tmp_path):
    ep, _, et = tables
    pytest.importorskip("sklearn")

    def tiny():
        rng = np.random.default_rng(0)
        X = rng.random((90, 5))
        y = (X[:, 0] + X[:, 1] > 1).astype(int) + (X[:, 2] > 0.5)
        return X[:60], X[60:], y[:60], y[60:]

    monkeypatch.setenv("DNN_SHARED", str(tmp_path))  # no cat data there
    rows = et.measure({"tiny": (tiny, (4,), 3, {"batch_size": 16}), "cats": et.DATASETS["cats"]},
                      ("float64", "float32"), (1, 2), rates=RATES, **TINY)
    done = [r for r in rows if "skipped" not in r]
    assert [(r["dtype"], r["threads"]) for r in done] == [("float64", 1), ("float64", 2), ("float32", 1),
                                                          ("float32", 2)]
    for r in done:
        # the plan dnn's timed fits ran: their products' code, on a team or not
        assert re.fullmatch(r"[obn]{2}(\.[obn]{2})( x\d+)?", r["dnn_plan"]), r["dnn_plan"]
        assert set(r["seconds"]) == {"DNNClassifier", "sklearn"}
        assert all(math.isfinite(s) and s > 0 for s in r["seconds"].values())
        assert all(0 <= a <= 100 for a in r["accuracy"].values())
        assert (r["train"], r["test"], r["features"], r["classes"]) == (60, 30, 5, 3)
        # [5, 4, 3] on 60 examples at 1 GFLOP/s: forward and dW of both layers, dA of the second
        assert r["floor"] == pytest.approx(2 * 60 * (2 * (5 * 4 + 4 * 3) + 4 * 3) / 1e9)
    skipped = [r for r in rows if "skipped" in r]
    assert len(skipped) == 1 and "cat data not found" in skipped[0]["skipped"]
    text = et.table(rows, markdown=True)
    assert "skipped: cat data not found" in text and text.count("\n| tiny (60 train") == 4
    assert ("pass" in text) or ("miss" in text)


def test_the_tables_run_from_compare_py_as_the_readme_writes_them(tables):
    """``python benchmarks/compare.py --minibatch`` / ``--estimator`` from the repository's root."""
    root = BENCHMARKS.parent
    tiny = ["--threads", "1", "--dtypes", "float32", "--budget", "0", "--min-rounds", "1", "--round-time", "0.001"]
    mb = subprocess.run([sys.executable, "benchmarks/compare.py", "--minibatch", "--problems", "S3", "--fits",
                         "adam-256", "--markdown"] + tiny, cwd=root, capture_output=True, text=True, timeout=300)
    assert mb.returncode == 0, mb.stderr
    assert "| S3 [64, 32, 16, 1] m=1797 | adam-256 | float32 | 1 |" in mb.stdout
    pytest.importorskip("sklearn")
    est = subprocess.run([sys.executable, "benchmarks/compare.py", "--estimator", "--datasets", "digits",
                          "--epochs", "2"] + tiny, cwd=root, capture_output=True, text=True, timeout=300)
    assert est.returncode == 0, est.stderr
    assert "digits (1347 train, 450 test, 64 features, 10 classes" in est.stdout
    bad = subprocess.run([sys.executable, "benchmarks/compare.py", "--minibatch", "--problems", "S9"], cwd=root,
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "unknown problem S9" in bad.stderr


def test_the_dask_search_verdict_reads_the_paired_interval(tables):
    _, _, et = tables
    # Per-round ratios loky/Dask: their geometric mean, bracketed by a Student-t interval on their logarithms.
    ratio, low, high = et.paired_ratio([2.0, 4.0], [1.0, 2.0])
    assert abs(ratio - 2.0) < 1e-12 and abs(low - 2.0) < 1e-12 and abs(high - 2.0) < 1e-12
    ratio, low, high = et.paired_ratio([4.0, 3.9, 4.2, 4.1, 3.8], [4.0, 4.0, 4.0, 4.0, 4.0])
    # Ratios 1.0, 0.975, 1.05, 1.025, 0.95: standard deviation of the logs 0.0396, t(0.975, 4 df) = 2.776,
    # half-width 2.776 * 0.0396 / sqrt(5) = 0.049 around the mean log 0.0.
    assert abs(ratio - 1.0) < 2e-3 and abs(low - 0.952) < 2e-3 and abs(high - 1.050) < 2e-3, (ratio, low, high)
    # One round bounds nothing; bad times are refused, naming the arguments.
    assert et.paired_ratio([4.0], [3.9])[1:] == (0.0, float("inf"))
    for loky, dask in (([4.0, 4.0], [4.0]), ([], []), ([4.0, 0.0], [4.0, 4.0]), ([4.0, 4.0], [-1.0, 4.0])):
        with pytest.raises(ValueError, match="loky and dask"):
            et.paired_ratio(loky, dask)
    # Only a whole interval above 1 is faster; one none of which is more than the margin below 1 is no slower; one
    # all below 1 and partly past the margin is slower; one that reaches past the margin and above 1 decides nothing.
    margin = et.NO_SLOWER_MARGIN
    assert et.search_verdict(1.001, 1.05) == "faster"
    assert et.search_verdict(1.0, 1.05) == "no slower"
    assert et.search_verdict(1.0 - margin, 1.01) == "no slower"
    assert et.search_verdict(1.0 - margin / 2, 0.995) == "no slower"
    assert et.search_verdict(1.0 - 2 * margin, 0.99) == "slower"
    assert et.search_verdict(1.0 - 2 * margin, 1.01) == "undecided"
    assert et.search_verdict(0.0, float("inf")) == "undecided"


def test_the_dask_grid_search_runs_on_a_local_cluster(tables):
    pytest.importorskip("distributed")
    pytest.importorskip("sklearn")
    psutil = pytest.importorskip("psutil")
    _, _, et = tables

    def pool_workers():  # loky's workers and Dask's nannies and workers among this process's children
        found = set()
        for p in psutil.Process().children(recursive=True):
            try:
                cmd = " ".join(p.cmdline())
            except psutil.Error:
                continue
            if "LokyProcess" in cmd or "spawn_main" in cmd:
                found.add(p.pid)
        return found

    before = pool_workers()
    result = et.dask_search(rounds=1, max_iter=1, cv=2)
    # Each contender ran alone: its pool was shut after its round, none left running.
    assert pool_workers() <= before
    assert set(result) >= {"loky", "dask", "startup"} and result["fits"] == 16
    assert result["loky"] > 0 and result["dask"] > 0
    # CPU of all processes: the fits run in the child processes, so each search costs more than nothing.
    assert result["cpu"]["loky"] > 0 and result["cpu"]["dask"] > 0
    # What each pool's workers ran with, as they report it: Dask's nanny sets one BLAS thread.
    assert result["blas"]["loky"] and result["blas"]["dask"] and all(n == 1 for _, n in result["blas"]["dask"])
    line = et.dask_line(result)
    # One round decides nothing: its interval is unbounded.
    assert "LocalCluster of 2 workers x 1 thread" in line and ": undecided, more rounds needed" in line
    assert result["paired"][1:] == (0.0, float("inf"))
    # The README's client: the scattered data sent straight to the workers, not through the scheduler.
    assert result["direct"] and "data scattered straight to the workers" in line
    assert "BLAS threads in the workers: Dask %s, loky" % ", ".join("%s 1" % lib for lib, _ in result["blas"]["dask"]) in line
    assert "not run, not installed" in et.dask_line({"skipped": "not installed (x)"})

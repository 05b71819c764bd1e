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

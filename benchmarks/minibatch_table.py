"""Issue 11 section 4: time per epoch of mini-batch training, dnn against scikit-learn and PyTorch.

Cells: Adam with batches of 64 and 256 and momentum SGD (beta 0.9, batches of
64) x the problems below (synthetic, seeded) x float64, float32 x BLAS/torch
threads 1 and 2. Per cell the contenders (``epoch_peers.py``: dnn through
``dnn.model`` or, with ``--dnn DNNClassifier``, the estimator; scikit-learn's
``MLPClassifier``; torch) are timed in alternating rounds in this process, and
each peer's median time per epoch is divided by dnn's (above 1: dnn is faster).
Targets (issue 11): at least 3x MLPClassifier and 1.5x torch in every cell.
Each cell also shows its compute floor (``gemm_peak.py``: the epoch's products at
this machine's measured GEMM peak); a miss whose target time is below the floor
is marked "beyond floor": no implementation of the same products reaches it here.

Run: ``python benchmarks/compare.py --minibatch [--markdown] [--budget S]``.
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import epoch_peers as ep  # noqa: E402  (this folder is not a package)
import gemm_peak  # noqa: E402
from step_loop import _dims_text  # noqa: E402

#: name -> (layers_dims, m); a last layer of more than one unit is a softmax over that many classes.
PROBLEMS = {
    "S3": ((64, 32, 16, 1), 1797),
    "S4": ((784, 256, 128, 64, 1), 10000),
    "S6": ((100,) + (50,) * 8 + (1,), 1000),
    "S4-softmax": ((784, 256, 128, 64, 10), 10000),
}
#: name -> (optimizer, batch size, learning rate)
FITS = {
    "adam-64": ("adam", 64, 0.001),
    "adam-256": ("adam", 256, 0.001),
    "momentum-64": ("momentum", 64, 0.01),
}
PEERS = ("sklearn", "torch")
#: What the issue asks: peer time / dnn time, at least.
TARGETS = {"sklearn": 3.0, "torch": 1.5}


def measure(problems=None, fits=None, dtypes=("float64", "float32"), threads=(1, 2), dnn="dnn.model",
            peers=PEERS, budget=3.0, min_rounds=3, round_time=0.2, clock=time.perf_counter, log=None, rates=None):
    """One row per (problem, fit, dtype, threads): seconds per epoch of dnn and each peer.

    ``problems``: name -> (layers_dims, m) (default ``PROBLEMS``); ``fits``:
    name -> (optimizer, batch size, learning rate) (default ``FITS``). A peer
    that is not installed is named in the row's ``missing``, never run.
    ``rates``: {(dtype, threads): GFLOP/s} for the floors (default: measured, ``gemm_peak.peaks``).
    """
    import numpy as np

    problems = PROBLEMS if problems is None else problems
    fits = FITS if fits is None else fits
    why = {name: ep.missing(name) for name in (dnn,) + tuple(peers)}
    if why[dnn]:
        raise SystemExit("minibatch table: %s %s" % (dnn, why[dnn]))
    rates = gemm_peak.peaks(tuple(dtypes), tuple(threads)) if rates is None else rates
    rows = []
    for pname, (dims, m) in problems.items():
        dims = tuple(dims)
        K = 2 if dims[-1] == 1 else dims[-1]
        for dname in dtypes:
            data = ep.Data.synthetic(dims[0], m, K, np.dtype(dname))
            for fname, (opt, batch, lr) in fits.items():
                fit = ep.Fit(opt, batch, lr)
                runnable = [name for name in (dnn,) + tuple(peers) if not why[name]]
                runs = {name: ep.CONTENDERS[name](data, dims[1:-1], fit).run for name in runnable}
                for t in threads:
                    stats = {}
                    with ep.thread_limit(t):
                        med, rounds = ep.paired(runs, budget=budget, min_rounds=min_rounds,
                                                round_time=round_time, settle=ep.SETTLE_SECONDS if t > 1 else 0.0,
                                                clock=clock, stats=stats)
                    row = {"problem": pname, "dims": list(dims), "m": m, "fit": fname, "dtype": dname,
                           "threads": t, "dnn_api": dnn, "seconds": {("dnn" if k == dnn else k): v
                                                                     for k, v in med.items()},
                           "rounds": rounds, "stolen_calls": stats["stolen_calls"], "missing": {p: why[p] for p in peers if why[p]},
                           "floor": gemm_peak.floor_seconds(dims, m, dname, t, rates),
                           "peak_gflops": rates[(dname, t)]}
                    rows.append(row)
                    if log:
                        print("  %s %s %s %d thread(s): %s (%d rounds, %d calls timed again after steal)" % (
                            pname, fname, dname, t, ", ".join("%s %s ms" % (k, ep.ms(v))
                                                             for k, v in row["seconds"].items()), rounds,
                            stats["stolen_calls"]),
                              file=log, flush=True)
                del runs
            del data
    return rows


def table(rows, markdown=False):
    """One line per cell: ms per epoch of each, the peers' ratios with pass/miss; then a summary."""
    peers = [p for p in PEERS if any(p in r["seconds"] or p in r["missing"] for r in rows)]
    api = rows[0]["dnn_api"] if rows else "dnn.model"
    header = ["problem", "fit", "dtype", "threads", "floor ms", "%s ms/epoch" % api]
    for p in peers:
        header += ["%s ms" % ep.LABELS[p], "%s/dnn (>= %gx)" % (ep.LABELS[p], TARGETS[p])]
    body = []
    for r in rows:
        d = r["seconds"]["dnn"]
        line = ["%s %s m=%d" % (r["problem"], _dims_text(r["dims"]), r["m"]), r["fit"], r["dtype"],
                str(r["threads"]), ep.ms(r.get("floor")), ep.ms(d)]
        for p in peers:
            if p in r["missing"]:
                line += ["not installed", "n/a"]
            else:
                line += [ep.ms(r["seconds"][p]), _mark(r, p)]
        body.append(line)
    out = [ep.render(header, body, markdown, right_from=3)] if body else []
    out += [""] + summary(rows, peers)
    return "\n".join(out)


def beyond_floor(row, peer):
    """True when the time the target asks for (peer time / target) is below the cell's compute floor."""
    return row.get("floor") is not None and row["seconds"][peer] / TARGETS[peer] < row["floor"]


def _mark(row, peer):
    text = ep.mark(row["seconds"][peer] / row["seconds"]["dnn"], TARGETS[peer])
    return text + " (beyond floor)" if text.endswith("miss") and beyond_floor(row, peer) else text


def summary(rows, peers=PEERS):
    """Per peer: cells that meet the target, and the lowest ratio with its cell."""
    lines = []
    for p in peers:
        ratios = [(r["seconds"][p] / r["seconds"]["dnn"], "%s %s %s %dt" % (r["problem"], r["fit"], r["dtype"],
                                                                            r["threads"]))
                  for r in rows if p in r["seconds"]]
        if not ratios:
            lines.append("%s: not run (%s)" % (ep.LABELS[p], next((r["missing"][p] for r in rows
                                                                    if p in r["missing"]), "no cells")))
            continue
        ok = sum(1 for x, _ in ratios if x >= TARGETS[p])
        low = min(ratios)
        unreachable = sum(1 for r in rows if p in r["seconds"] and beyond_floor(r, p)
                          and r["seconds"][p] / r["seconds"]["dnn"] < TARGETS[p])
        lines.append("%s: %d of %d cells at >= %gx; lowest %.2fx (%s); %d of the %d misses ask for less than "
                     "the compute floor" % (ep.LABELS[p], ok, len(ratios), TARGETS[p], low[0], low[1],
                                            unreachable, len(ratios) - ok))
    return lines


def main(argv=None):
    p = argparse.ArgumentParser(prog="compare.py --minibatch", description=__doc__.split("\n\n")[0])
    p.add_argument("--problems", default=",".join(PROBLEMS), type=ep.names(PROBLEMS, "problem"),
                   help="subset of %s" % ",".join(PROBLEMS))
    p.add_argument("--fits", default=",".join(FITS), type=ep.names(FITS, "fit"), help="subset of %s" % ",".join(FITS))
    p.add_argument("--dnn", choices=("dnn.model", "DNNClassifier"), default="dnn.model",
                   help="dnn's public API timed (default dnn.model, the course's function)")
    p.add_argument("--peers", default=",".join(PEERS), type=ep.names(PEERS, "peer"),
                   help="subset of %s" % ",".join(PEERS))
    ep.add_timing_options(p)
    args = p.parse_args(argv)
    t = ep.timing(args, p)
    peers = tuple(args.peers)
    for name in peers:  # loaded before the thread limits are set, so that they reach its pools
        ep.missing(name)
    started, load = time.perf_counter(), ep.load_average()
    rows = measure({k: PROBLEMS[k] for k in args.problems}, {k: FITS[k] for k in args.fits}, args.dtypes,
                   t["threads"], args.dnn, peers, t["budget"], t["min_rounds"], t["round_time"], t["clock"],
                   log=sys.stderr)
    lines = ep.header_lines(",".join(map(str, t["threads"])), load) + [
        "time per epoch of mini-batch training, synthetic data; dnn = %s; ratio = peer time / dnn time "
        "(>1: dnn faster), medians of alternating rounds (%s clock, budget %gs per cell); %.0f s in all"
        % (args.dnn, args.clock, t["budget"], time.perf_counter() - started)]
    print("\n".join(("- " + l) if args.markdown else l for l in lines))
    print()
    print(table(rows, args.markdown))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"info": lines, "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

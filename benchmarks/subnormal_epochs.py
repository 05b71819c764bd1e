"""Epoch time as a fit's weights decay past the normal range (benchmarks/NOTES.md, "An Intel Xeon: ...").

scikit-learn's digits has four pixels that are zero in every picture: with Adam and L2 their
weights and moments decay geometrically, into float32's subnormals after about 300 epochs of a
``DNNClassifier(hidden_layer_sizes=(100,))`` fit (float64's after thousands). On a CPU that slows
every operation that makes or reads a subnormal (Intel's cores) the epoch time climbs then; the
mini-batch loop flushes such results to zero (``dnn/_platform.h``), so it should stay flat. Printed
per block of epochs: ms per epoch (median of the block's calls) and the subnormals the fitted
weights hold. Run: ``python benchmarks/subnormal_epochs.py [--blocks 8] [--threads 1]``.
"""
import argparse
import os
import statistics
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import epoch_peers as ep  # noqa: E402  (this folder is not a package)
import estimator_table as et  # noqa: E402


def subnormals(arrays):
    return sum(int(np.count_nonzero((np.abs(a) > 0) & (np.abs(a) < np.finfo(a.dtype).tiny))) for a in arrays)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--blocks", type=int, default=8, help="blocks of --epochs epochs")
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    import dnn
    from dnn import _loop

    X, _, y, _ = et.digits()
    print("\n".join(ep.header_lines(str(args.threads), ep.load_average())))
    flushes = getattr(_loop, "flushes_subnormals", None)  # None: a build from before the flushing
    print("flushes subnormal results: %s" % ("no (a build before it)" if flushes is None else flushes()))
    print("| dtype | epochs | ms per epoch | subnormal weights |")
    print("|---|---:|---:|---:|")
    warnings.simplefilter("ignore")  # every call ends at max_iter
    with ep.thread_limit(args.threads):
        for dtype in ("float32", "float64"):
            est = dnn.DNNClassifier(hidden_layer_sizes=(100,), max_iter=10, random_state=0, warm_start=True,
                                    tol=0.0, n_iter_no_change=2 ** 31 - 1)
            Xd = X.astype(dtype)
            for block in range(args.blocks):
                per_call = []
                for _ in range(args.epochs // 10):
                    t = time.perf_counter()
                    est.fit(Xd, y)
                    per_call.append((time.perf_counter() - t) / 10)
                print("| %s | %d | %.3f | %d |" % (dtype, (block + 1) * args.epochs,
                                                  1e3 * statistics.median(per_call), subnormals(est.coefs_)),
                      flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

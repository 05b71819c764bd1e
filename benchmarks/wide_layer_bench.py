"""The mini-batch loop's wide first layer (``dnn._loop``'s ``wide=``) against the other path, per epoch.

The cat network ([12288, 20, 7, 5, 1], 209 examples, Adam, batches of 64),
one ``dnn._loop.Loop`` per variant on copies of the same parameters, epochs
timed in alternating rounds (medians): the full gather with BLAS / the
rule's products (``wide=False``, the loop before issue 12's work) against
the wide path with its backward reading the batch's rows in place or
gathering each block first, or reading X as 8-bit codes (``wide_codes``),
at the given blocks of features. Data: the
course's cat pictures if ``$DNN_SHARED`` (or ``../shared`` beside the
checkout) has them, else uniform numbers of the same shape (an epoch's time
does not depend on the values). One thread: the thread's CPU time (blind to
other processes on a shared machine); ``--wall`` for the wall clock.

Run: ``python benchmarks/wide_layer_bench.py [--blocks auto,256,1024] [--rounds 15]``
(about 10 s per dtype).
"""

import argparse
import os
import statistics
import sys
import time

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

DIMS = (12288, 20, 7, 5, 1)


def data(dtype):
    try:
        import estimator_table

        X, _, y, _ = estimator_table.cats()
        return np.ascontiguousarray(X, dtype=dtype), y.reshape(-1, 1).astype(dtype), "cat pictures"
    except Exception as exc:  # noqa: BLE001  (absent data or h5py: the same shape will do)
        rng = np.random.default_rng(0)
        return (rng.random((209, DIMS[0])).astype(dtype), (rng.random((209, 1)) > 0.5).astype(dtype),
                "uniform numbers (%s)" % exc)


def variants(blocks):
    from dnn import _loop

    out = [("gather + BLAS (wide=False)", dict(wide=False))]
    for block in blocks:
        wide = True if block == "auto" else int(block)
        out.append(("wide %s, in place" % block, dict(wide=wide, wide_gather=False)))
        out.append(("wide %s, blocks gathered" % block, dict(wide=wide, wide_gather=True)))
        # the cat pictures are codes (k / 255); the uniform stand-in is not, and runs the gathered path
        out.append(("wide %s, X as 8-bit codes" % block, dict(wide=wide, wide_codes=True)))
    return out, _loop


def measure(dtype, blocks, rounds, epochs, clock):
    X, Y, what = data(dtype)
    rng = np.random.default_rng(0)
    params = [((rng.standard_normal((DIMS[l], DIMS[l - 1])) / np.sqrt(DIMS[l - 1])).astype(dtype),
               np.zeros((DIMS[l], 1), dtype)) for l in range(1, len(DIMS))]
    runs, _loop = variants(blocks)
    loops = {}
    for name, kw in runs:
        layers = [(W.copy(), b.copy()) for W, b in params]
        v = [(np.zeros_like(W), np.zeros_like(b)) for W, b in params]
        s = [(np.zeros_like(W), np.zeros_like(b)) for W, b in params]
        loops[name] = _loop.Loop(layers, X, Y, optimizer="adam", batch_size=64, v=v, s=s, **kw)
    order = np.random.default_rng(1).permutation(X.shape[0]).astype(np.int64)
    times = {name: [] for name in loops}
    items = list(loops.items())
    for _, lp in items:
        lp.epoch(order, 0.0003, 1, 1)  # warm-up
    for r in range(rounds):
        for name, lp in (items if r % 2 == 0 else items[::-1]):
            t0 = clock()
            for _ in range(epochs):
                lp.epoch(order, 0.0003, 1, 1)
            times[name].append((clock() - t0) / epochs)
    return what, {name: statistics.median(t) for name, t in times.items()}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--blocks", default="auto", help="blocks of features, comma-separated (auto: the default)")
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--epochs", type=int, default=10, help="epochs per timed run")
    p.add_argument("--dtypes", default="float64,float32")
    p.add_argument("--wall", action="store_true", help="the wall clock instead of the thread's CPU time")
    args = p.parse_args(argv)
    from dnn import _train

    clock = time.perf_counter if args.wall else time.thread_time
    print("cat network %s, Adam, batch 64, 1 thread; %s clock; dnn's %s build; load average %.1f"
          % (list(DIMS), "wall" if args.wall else "thread CPU", _train.simd_kernels(), os.getloadavg()[0]))
    with threadpool_limits(1):
        for dtype in args.dtypes.split(","):
            what, med = measure(np.dtype(dtype), args.blocks.split(","), args.rounds, args.epochs, clock)
            base = med["gather + BLAS (wide=False)"]
            print("%s (%s):" % (dtype, what))
            for name, t in med.items():
                print("  %-32s %7.2f ms/epoch  %.2fx" % (name, 1e3 * t, base / t))
    return 0


if __name__ == "__main__":
    sys.exit(main())

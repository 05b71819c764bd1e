"""The step calls' BLAS slab count, paired: the course's loop over dnn on S4 with at most
``--slabs`` slabs per large BLAS product (``dnn._kernels._set_step_threads(max_slabs=...)``),
alternating rounds in one process.

Each slab packs the operand it does not cut again (S4's dW1 = dZ1 X^T, cut along X's rows,
packs dZ1's 20 MB once per slab), so a count above the threads that could share the slabs
costs time at every thread count (benchmarks/NOTES.md, "Slabs per CPU").

Run: ``python benchmarks/slab_count_ab.py --dtype float64 --threads 1`` (``--simd avx2``: dnn's
AVX2 kernels, as a CPU without AVX-512 runs them); prefix
``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE`` for OpenBLAS's own kernel choice. Prints the
median milliseconds per iteration of each count (wall clock).
"""

import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import step_loop  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--shape", default="S4")
    p.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--slabs", default="4,2", help="comma-separated slab counts to compare")
    p.add_argument("--rounds", type=int, default=12)
    p.add_argument("--iterations", type=int, default=5, help="timed iterations per round")
    p.add_argument("--simd", choices=("baseline", "avx2", "avx512"),
                   help="build of dnn's own kernels (default: the best this CPU runs)")
    args = p.parse_args(argv)
    import dnn
    from dnn import _kernels, _train

    build = _train.simd_kernels()
    if args.simd and _train.simd_kernels(args.simd) != args.simd:
        _train.simd_kernels(build)
        p.error("this CPU does not run the %s build" % args.simd)
    from threadpoolctl import threadpool_limits

    X, Y, start = step_loop.problem(args.shape, np.dtype(args.dtype))
    run = step_loop.loop(dnn, X, Y, start)
    counts = [int(s) for s in args.slabs.split(",")]
    saved = _kernels._step_settings()
    times = {c: [] for c in counts}
    try:
        with threadpool_limits(limits=args.threads):
            for r in range(args.rounds):
                for c in (counts if r % 2 == 0 else counts[::-1]):
                    _kernels._set_step_threads(0, max_slabs=c)
                    run(2)  # untimed: the pool's arrays of this count's call, BLAS's buffers
                    t = time.perf_counter()
                    run(args.iterations)
                    times[c].append((time.perf_counter() - t) / args.iterations)
    finally:
        _kernels._set_step_threads(*saved)
        _train.simd_kernels(build)
    print("\n".join(step_loop.machine_lines()))
    for c in counts:
        print("%s %s %d thread(s), at most %d slabs: %.1f ms per iteration"
              % (args.shape, args.dtype, args.threads, c, 1e3 * statistics.median(times[c])))


if __name__ == "__main__":
    main()

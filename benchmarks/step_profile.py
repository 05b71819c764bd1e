"""Where an iteration of the course's step-by-step loop goes, and what each product backend costs.

For each shape, dtype and BLAS thread count:

- phases: milliseconds of ``L_model_forward``, ``compute_cost``,
  ``L_model_backward`` and ``update_parameters``, over ``dnn`` and over the
  frozen course NumPy code (``course_numpy``), medians of alternating rounds;
- layers (of at least ``--min-work`` multiply-adds): milliseconds of each
  large layer's ``nn`` group (W H and W^T dZ) and ``nt`` group (dZ H^T) on
  each backend (``own``: dnn's kernels on its pool; ``scipy``/``numpy``: that
  library's BLAS), through ``dnn._kernels._layer_products`` as the step calls
  run them, medians of alternating rounds; and the backends ``dnn._products``
  chose for the layer (measured at the first call, or kept in the wisdom file).

Run: ``python benchmarks/step_profile.py [--shapes S1,S4] [--threads 1,2]``;
about 10 s per (shape, dtype, threads) on a 2-core machine. Wall clock: on a
shared machine, say so when quoting it.
"""

import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import course_numpy  # noqa: E402
import step_loop  # noqa: E402

from dnn import bench  # noqa: E402


def _median_rounds(fns, rounds):
    """Median seconds of each fn(), timed in alternating rounds (order flips every round)."""
    names = list(fns)
    times = {n: [] for n in names}
    for r in range(rounds):
        for n in (names if r % 2 == 0 else names[::-1]):
            t = time.perf_counter()
            fns[n]()
            times[n].append(time.perf_counter() - t)
    return {n: statistics.median(v) for n, v in times.items()}


def phases(module, X, Y, start):
    """Callables running each phase of one iteration of ``module``'s loop (from ``start``)."""
    AL, caches = module.L_model_forward(X, dict(start))
    grads = module.L_model_backward(AL, Y, caches)
    return {
        "forward": lambda: module.L_model_forward(X, start),
        "cost": lambda: module.compute_cost(AL, Y),
        "backward": lambda: module.L_model_backward(AL, Y, caches),
        "update": lambda: module.update_parameters(dict(start), grads, step_loop.LEARNING_RATE),
    }


def layer_backends(n_out, n_in, m, dtype):
    """Callables running a layer's ``nn`` and ``nt`` groups on each backend."""
    from dnn import _kernels, _products

    W, A, b, Z, dZ, dW, dA = _products.layer_arrays(n_out, n_in, m, dtype)
    names = [x for x in _products.BACKENDS if x != "numpy" or _products._numpy_available()]
    out = {}
    for x in names:
        for group, which in (("nn", 1), ("nt", 2)):
            own = _products.StepProducts(x, x).own()
            out["%s %s" % (group, x)] = (lambda o=own, w=which:
                                         _kernels._layer_products(o, W, A, b, Z, dZ, dW, dA, w))
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--shapes", default="S1,S4")
    p.add_argument("--dtypes", default="float64,float32")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--rounds", type=int, default=9)
    p.add_argument("--min-work", type=float, default=1 << 24)
    args = p.parse_args(argv)
    import dnn
    from dnn import _plan, _products, functional
    from threadpoolctl import threadpool_limits

    print("\n".join(step_loop.machine_lines()))
    for shape in args.shapes.split(","):
        dims, m, _ = bench.SHAPES[step_loop.base_shape(shape)]
        for dname in args.dtypes.split(","):
            dtype = bench.DTYPES[dname]
            X, Y, start = step_loop.problem(shape, dtype)
            for t in [int(x) for x in args.threads.split(",")]:
                with threadpool_limits(limits=t):
                    time.sleep(0.3)
                    dnn.L_model_forward(X, dict(start))  # the first call: choices made
                    fns = {}
                    for name, mod in (("dnn", dnn), ("course", course_numpy)):
                        for ph, f in phases(mod, X, Y, start).items():
                            fns["%s %s" % (name, ph)] = f
                    for f in fns.values():
                        f()
                    med = _median_rounds(fns, args.rounds)
                    line = "  ".join("%s %.3g" % (ph, med["dnn " + ph] * 1e3)
                                     for ph in ("forward", "cost", "backward", "update"))
                    cline = "  ".join("%s %.3g" % (ph, med["course " + ph] * 1e3)
                                      for ph in ("forward", "cost", "backward", "update"))
                    print("%s %s %d thread(s), ms  dnn: %s | course: %s" % (shape, dname, t, line, cline))
                    for l in range(len(dims) - 1):
                        n_out, n_in = dims[l + 1], dims[l]
                        if n_out * n_in * m < args.min_work:
                            continue
                        fns = layer_backends(n_out, n_in, m, dtype)
                        for f in fns.values():
                            f()
                        med = _median_rounds(fns, args.rounds)
                        own = functional._own_of(n_out, n_in, m, np.dtype(dtype).itemsize)
                        key = _products._key(n_out, n_in, m, np.dtype(dtype).itemsize,
                                             _products.step_threads())
                        chosen = _plan._cache.get(key)
                        print("    layer %d (%d x %d): %s; chosen %s (own flags %d)"
                              % (l + 1, n_out, n_in,
                                 "  ".join("%s %.3g" % (k, v * 1e3) for k, v in med.items()),
                                 "rule" if chosen is None else "nn %s, nt %s" % (chosen.nn, chosen.nt),
                                 own), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

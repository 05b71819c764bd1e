"""Per-call cost of the second part's step functions: dnn (checked NumPy, in
place in its results) against dnn.reference (the course's NumPy), paired.

    python benchmarks/course2_steps.py [--rounds 15] [--dtype float64]

For each function: rounds alternate the two contenders (dnn, then the
reference, on fresh copies of the same inputs), and the medians and their
ratio (reference / dnn; above 1, dnn is faster) are printed. Shapes: S4's
network [784, 256, 128, 64, 1] (the parameters' update) and a mini-batch of
64 of it (the forward and backward pass). Runs in well under a minute.
"""
import argparse
import time

import numpy as np

import dnn
from dnn import network
from dnn import reference as R

DIMS = [784, 256, 128, 64, 1]


def paired(f_dnn, f_ref, make_args, rounds):
    times = {"dnn": [], "ref": []}
    for _ in range(rounds):
        for name, f in (("dnn", f_dnn), ("ref", f_ref)):
            args = make_args()
            start = time.perf_counter()
            f(*args)
            times[name].append(time.perf_counter() - start)
    return np.median(times["dnn"]), np.median(times["ref"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--dtype", default="float64", choices=["float32", "float64"])
    args = ap.parse_args()
    dtype = np.dtype(args.dtype)
    rng = np.random.default_rng(0)
    params = {k: a.astype(dtype) for k, a in R.initialize_parameters_he(DIMS).items()}
    grads = {"d" + k: rng.standard_normal(a.shape).astype(dtype) for k, a in params.items()}
    v, s = R.initialize_adam(params)

    def fresh(*dicts):
        return lambda: [{k: a.copy() for k, a in d.items()} if isinstance(d, dict) else d for d in dicts]

    X = rng.standard_normal((DIMS[0], 64)).astype(dtype)
    Y = (rng.random((1, 64)) > 0.5).astype(dtype)
    AL, caches = R.L_model_forward(X, params)
    rows = [
        ("update_parameters_with_gd", dnn.update_parameters_with_gd, R.update_parameters_with_gd,
         fresh(params, grads, 0.01)),
        ("update_parameters_with_momentum", dnn.update_parameters_with_momentum, R.update_parameters_with_momentum,
         fresh(params, grads, v, 0.9, 0.01)),
        ("update_parameters_with_adam", dnn.update_parameters_with_adam, R.update_parameters_with_adam,
         fresh(params, grads, v, s, 3, 0.01, 0.9, 0.999, 1e-8)),
        ("random_mini_batches (m=10000)", dnn.random_mini_batches, R.random_mini_batches,
         lambda: [rng.standard_normal((DIMS[0], 10000)).astype(dtype), np.zeros((1, 10000)), 64, 1]),
        ("L_model_forward (batch 64, keep_prob 0.8)",
         lambda *a: network.L_model_forward(*a, keep_prob=0.8), lambda *a: R.L_model_forward(*a, keep_prob=0.8),
         lambda: [X, params]),
        ("L_model_backward (batch 64, lambd 0.1)",
         lambda *a: network.L_model_backward(*a, lambd=0.1), lambda *a: R.L_model_backward(*a, lambd=0.1),
         lambda: [AL, Y, caches]),
    ]
    print("%-45s %12s %12s %9s" % ("function (%s)" % dtype.name, "dnn ms", "ref ms", "ref/dnn"))
    for name, f_dnn, f_ref, make in rows:
        t_dnn, t_ref = paired(f_dnn, f_ref, make, args.rounds)
        print("%-45s %12.3f %12.3f %8.2fx" % (name, 1e3 * t_dnn, 1e3 * t_ref, t_ref / t_dnn))


if __name__ == "__main__":
    main()

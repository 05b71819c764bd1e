"""Per-epoch time of dnn's compiled mini-batch loop (``dnn._loop``) against
PyTorch and scikit-learn's ``MLPClassifier``, paired: in each round every
contender runs one epoch, in turn; the figure is the median over rounds.

    python benchmarks/bench_loop.py                 # every cell (a few minutes)
    python benchmarks/bench_loop.py --quick         # S3 and S6 only, fewer rounds
    python benchmarks/bench_loop.py --shapes S4 --dtypes float32 --threads 1

Cells: shapes S3 [64, 32, 16, 1] m=1797, S4 [784, 256, 128, 64, 1] m=10000,
S6 [100, 50 x 8, 1] m=1000, S4x10 [784, 256, 128, 64, 10] m=10000 (softmax);
solvers Adam at batch 64 and 256, momentum SGD (Nesterov, 0.9) at batch 64;
float32 and float64; BLAS threads 1 and 2 (threadpoolctl for dnn and
scikit-learn, ``torch.set_num_threads`` for torch). An epoch includes its
shuffle in every contender. torch: ``nn.Sequential`` of ``Linear``/``ReLU``,
``BCEWithLogitsLoss`` or ``CrossEntropyLoss``, ``torch.optim.Adam`` /
``SGD(momentum=0.9, nesterov=True)``, batches indexed from one tensor (no
DataLoader). scikit-learn: one ``partial_fit`` (one epoch) per round, the
same solver, batch size, ``alpha=0``. Missing torch or scikit-learn: that
column is left out.
"""
import argparse
import statistics
import time

import numpy as np
from threadpoolctl import threadpool_limits

from dnn import _loop

SHAPES = {
    "S3": ([64, 32, 16, 1], 1797),
    "S4": ([784, 256, 128, 64, 1], 10000),
    "S6": ([100] + [50] * 8 + [1], 1000),
    "S4x10": ([784, 256, 128, 64, 10], 10000),
}
SOLVERS = {"adam64": ("adam", 64), "adam256": ("adam", 256), "sgd64": ("sgd", 64)}


def data(dims, m, dtype, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((m, dims[0])).astype(dtype)
    K = dims[-1]
    y = rng.integers(0, 2 if K == 1 else K, m)
    return X, y


class Dnn:
    name = "dnn"

    def __init__(self, dims, X, y, solver, batch, dtype):
        rng = np.random.default_rng(1)
        K = dims[-1]
        Y = (y.reshape(-1, 1) if K == 1 else np.eye(K)[y]).astype(dtype)
        self.layers = [((rng.standard_normal((dims[l], dims[l - 1])) * np.sqrt(2 / dims[l - 1])).astype(dtype),
                        np.zeros((dims[l], 1), dtype)) for l in range(1, len(dims))]
        zeros = lambda: [(np.zeros_like(W), np.zeros_like(b)) for W, b in self.layers]
        optimizer = "adam" if solver == "adam" else "nesterov"
        self.loop = _loop.Loop(self.layers, X, np.ascontiguousarray(Y), output="sigmoid" if K == 1 else "softmax",
                               optimizer=optimizer, batch_size=batch, v=zeros(), s=zeros())
        self.rng, self.m, self.t, self.step = np.random.default_rng(2), X.shape[0], 0, 0

    def epoch(self):
        _, self.t, self.step = self.loop.epoch(self.rng.permutation(self.m), 0.001, self.t, self.step)


class Torch:
    name = "torch"

    def __init__(self, dims, X, y, solver, batch, dtype):
        import torch
        self.torch = torch
        torch.manual_seed(0)
        tdt = torch.float32 if dtype == np.float32 else torch.float64
        layers = []
        for l in range(1, len(dims)):
            layers.append(torch.nn.Linear(dims[l - 1], dims[l], dtype=tdt))
            if l < len(dims) - 1:
                layers.append(torch.nn.ReLU())
        self.net = torch.nn.Sequential(*layers)
        self.X = torch.from_numpy(X)
        K = dims[-1]
        if K == 1:
            self.y = torch.from_numpy(y.reshape(-1, 1).astype(dtype))
            self.loss = torch.nn.BCEWithLogitsLoss()
        else:
            self.y = torch.from_numpy(y.astype(np.int64))
            self.loss = torch.nn.CrossEntropyLoss()
        self.opt = (torch.optim.Adam(self.net.parameters(), lr=0.001) if solver == "adam"
                    else torch.optim.SGD(self.net.parameters(), lr=0.001, momentum=0.9, nesterov=True))
        self.batch, self.m = batch, X.shape[0]

    def epoch(self):
        torch = self.torch
        perm = torch.randperm(self.m)
        for start in range(0, self.m, self.batch):
            idx = perm[start:start + self.batch]
            self.opt.zero_grad(set_to_none=True)
            loss = self.loss(self.net(self.X[idx]), self.y[idx])
            loss.backward()
            self.opt.step()


class Sklearn:
    name = "sklearn"

    def __init__(self, dims, X, y, solver, batch, dtype):
        import warnings
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPClassifier
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        self.clf = MLPClassifier(hidden_layer_sizes=dims[1:-1], solver=solver, batch_size=batch, alpha=0.0,
                                 learning_rate_init=0.001, momentum=0.9, nesterovs_momentum=True, random_state=0)
        self.X, self.y, self.classes = X, y, np.unique(y)

    def epoch(self):
        self.clf.partial_fit(self.X, self.y, classes=self.classes)


def contenders(names):
    out = [Dnn]
    for cls in (Torch, Sklearn):
        if cls.name in names:
            try:
                __import__("torch" if cls is Torch else "sklearn")
                out.append(cls)
            except ImportError:
                pass
    return out


def cell(shape, solver_key, dtype, threads, rounds, classes):
    dims, m = SHAPES[shape]
    solver, batch = SOLVERS[solver_key]
    X, y = data(dims, m, dtype)
    times = {}
    with threadpool_limits(threads):
        try:
            import torch
            torch.set_num_threads(threads)
        except ImportError:
            pass
        runners = [cls(dims, X, y, solver, batch, dtype) for cls in classes]
        for r in runners:
            r.epoch()  # warm-up
        for _ in range(rounds):
            for r in runners:
                t0 = time.perf_counter()
                r.epoch()
                times.setdefault(r.name, []).append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--shapes", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    p.add_argument("--solvers", nargs="+", default=list(SOLVERS), choices=list(SOLVERS))
    p.add_argument("--dtypes", nargs="+", default=["float32", "float64"], choices=["float32", "float64"])
    p.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--against", nargs="*", default=["torch", "sklearn"])
    p.add_argument("--quick", action="store_true", help="S3 and S6, 3 rounds")
    a = p.parse_args(argv)
    if a.quick:
        a.shapes, a.rounds = ["S3", "S6"], 3
    classes = contenders(a.against)
    names = [c.name for c in classes]
    print("| shape | solver | dtype | threads | " + " | ".join("%s ms" % n for n in names)
          + "".join(" | %s/dnn" % n for n in names[1:]) + " |")
    print("|---|---|---|---:|" + "---:|" * (2 * len(names) - 1))
    for shape in a.shapes:
        for solver in a.solvers:
            for dtype in a.dtypes:
                for threads in a.threads:
                    t = cell(shape, solver, np.dtype(dtype).type, threads, a.rounds, classes)
                    print("| %s | %s | %s | %d | " % (shape, solver, dtype, threads)
                          + " | ".join("%.3g" % (t[n] * 1e3) for n in names)
                          + "".join(" | %.2fx" % (t[n] / t["dnn"]) for n in names[1:]) + " |", flush=True)


if __name__ == "__main__":
    main()

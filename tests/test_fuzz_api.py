"""Adversarial fuzz of the public API: no crash, only the documented exceptions (issue 14, item 6).

First the reproducers the audit found (an ``OverflowError``, an
``AttributeError``, an ``IndexError`` and a ``MemoryError`` where a
``ValueError`` or ``TypeError`` is promised), then a seeded fuzz: every
public function is called with valid arguments in which one argument is
replaced by something hostile (wrong rank, shape, dtype, layout, nan/inf,
huge or odd numbers, missing keys, other types). A call may return or raise
``ValueError``, ``TypeError`` or ``KeyError`` (``FileNotFoundError`` for
paths); anything else fails the test with the call that caused it.
``DNN_FUZZ_CALLS`` sets the number of calls (default: a CI-sized run of a
few seconds).
"""
import os
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

import dnn

DOCUMENTED = (ValueError, TypeError, KeyError)
CALLS = int(os.environ.get("DNN_FUZZ_CALLS", "30000"))


# --------------------------------------------------------------------------
# Reproducers
# --------------------------------------------------------------------------

def _net(dims=(3, 2, 1), seed=0):
    rng = np.random.default_rng(seed)
    p = {}
    for l in range(1, len(dims)):
        p["W%d" % l] = rng.standard_normal((dims[l], dims[l - 1]))
        p["b%d" % l] = rng.standard_normal((dims[l], 1))
    return p


def test_a_learning_rate_beyond_float_is_a_value_error():
    P = _net()
    G = {"d" + k: np.ones_like(v) for k, v in P.items()}
    with pytest.raises(ValueError, match="learning_rate"):
        dnn.update_parameters(P, G, 10**400)
    X, Y = np.ones((3, 4)), np.array([[0, 1, 0, 1]])
    with pytest.raises(ValueError, match="learning_rate"):
        dnn.L_layer_model(X, Y, [3, 2, 1], 10**400, 1)
    with pytest.raises(ValueError, match="learning_rate"):
        dnn.two_layer_model(X, Y, (3, 2, 1), -(10**400), 1)


def test_data_and_plot_arguments_raise_documented_errors(tmp_path):
    with pytest.raises(TypeError, match="positive"):
        dnn.gen_labels(["cat.png"], None, positive=None)
    with pytest.raises(ValueError, match="dtype"):
        dnn.flatten_images(np.zeros((2, 2, 2, 3), dtype=np.uint8), dtype=np.int8)
    pytest.importorskip("matplotlib")
    X, y, p = np.zeros((12, 2)), np.array([[0, 1]]), np.array([[1, 1]])
    with pytest.raises(ValueError, match="classes"):
        dnn.plot_mislabeled_images(("a",), X, y, p, image_shape=(2, 2, 3), path=tmp_path / "m.png")
    # A huge cost_every is a valid int: the axis is computed in floats.
    dnn.plot_costs([0.7, 0.5], 0.01, cost_every=10**20, path=tmp_path / "c.png")
    with pytest.raises(ValueError, match="cost_every"):
        dnn.plot_costs([0.7, 0.5], 0.01, cost_every=0, path=tmp_path / "c.png")


def test_l_layer_model_checks_sizes_before_copying_x(tmp_path):
    """A (12288, 200000) input refused by its shape: the float64 copy would be 18.3 GiB."""
    if not sys.platform.startswith("linux"):
        pytest.skip("the address-space cap is read from /proc and set with RLIMIT_AS (Linux)")
    code = textwrap.dedent("""
        import resource
        import numpy as np
        import dnn
        with open("/proc/self/status") as f:
            vm = next(int(l.split()[1]) * 1024 for l in f if l.startswith("VmSize:"))
        resource.setrlimit(resource.RLIMIT_AS, (vm + 2**28, vm + 2**28))
        X = np.broadcast_to(np.float32(0.5), (12288, 200000))   # no memory of its own
        Y = np.zeros((1, 200000))
        try:
            dnn.L_layer_model(X, Y, [12288, 20, 7, 5, 1], 0.0075, 1)
        except ValueError as exc:
            print("ValueError", exc)
    """)
    # cwd: not the checkout, whose dnn/ (no extensions) "python -c" would import first.
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("ValueError") and "32-bit" in res.stdout


# --------------------------------------------------------------------------
# The fuzz
# --------------------------------------------------------------------------

class Junk:
    """Hostile stand-ins for one argument."""

    def __init__(self, rng):
        self.rng = rng

    def array(self):
        r = self.rng
        kind = int(r.integers(12))
        shape = tuple(int(s) for s in r.integers(0, 5, size=int(r.integers(0, 4))))
        if kind == 0:
            return np.full(shape, np.nan)
        if kind == 1:
            return np.full(shape, np.inf, dtype=np.float32)
        if kind == 2:
            return r.standard_normal(shape).astype(np.complex128)
        if kind == 3:
            return np.array([object()] * 3, dtype=object)
        if kind == 4:
            return np.array(["a", "b"])
        if kind == 5:
            return np.zeros(shape, dtype="datetime64[s]")
        if kind == 6:
            return np.full(shape, 1e308)
        if kind == 7:
            return r.integers(-3, 3, size=shape)
        if kind == 8:
            return r.random(shape) > 0.5
        if kind == 9:
            return np.zeros((0, 3))
        if kind == 10:
            return np.ones(shape, dtype=np.float16)
        return r.standard_normal(shape)

    def value(self):
        r = self.rng
        pool = [None, 0, -1, 1, 2, 10**400, -(10**400), 2**31, 2**64, 1.5, float("nan"),
                float("inf"), -0.0, True, "3", b"x", "relu", "tanh", "", [], [3, 2, 1], (1,),
                {}, {"W1": np.ones((1, 1))}, object(), np.float32(np.nan), np.int64(-5),
                np.array(3.0), np.array([[1.0]]), lambda *a: None, 1j, ["a", 1], [[1, 2], [3]]]
        return self.array() if r.random() < 0.4 else pool[int(r.integers(len(pool)))]

    def mutate_array(self, a):
        """A valid array made hostile in one way (layout ones stay valid)."""
        r = self.rng
        a = np.asarray(a)
        if a.dtype.kind not in "biuf":
            return self.value()
        k = int(r.integers(9))
        if k == 0 and a.size:
            a = a.astype(np.float64)
            a.flat[int(r.integers(a.size))] = [np.nan, np.inf, -np.inf][int(r.integers(3))]
            return a
        if k == 1:
            return a.T
        if k == 2:
            return np.asfortranarray(a)
        if k == 3 and a.ndim == 2:
            big = np.zeros((a.shape[0], 2 * a.shape[1]), dtype=a.dtype)
            big[:, ::2] = a
            return big[:, ::2]            # a strided view: valid values, odd layout
        if k == 4:
            b = a.copy()
            b.flags.writeable = False
            return b
        if k == 5:
            with np.errstate(over="ignore"):
                return a.astype(np.float32)
        if k == 6:
            return a.reshape(-1)
        if k == 7:
            return a[..., :0] if a.ndim else a
        return a[np.newaxis]

    def mutate_dict(self, d):
        r = self.rng
        d = dict(d)
        if not d:
            return {"W1": self.value()}
        key = sorted(d)[int(r.integers(len(d)))]
        k = int(r.integers(4))
        if k == 0:
            del d[key]
        elif k == 1:
            d[key] = self.value()
        elif k == 2 and isinstance(d[key], np.ndarray):
            d[key] = self.mutate_array(d[key])
        else:
            d["W99"] = np.ones((1, 1))
        return d

    def mutate(self, x):
        r = self.rng
        if r.random() < 0.3:
            return self.value()
        if isinstance(x, np.ndarray):
            return self.mutate_array(x)
        if isinstance(x, dict):
            return self.mutate_dict(x)
        if isinstance(x, (list, tuple)) and x and all(isinstance(v, dict) or isinstance(v, tuple) for v in x):
            x = list(x)
            i = int(r.integers(len(x)))
            x[i] = self.value() if r.random() < 0.5 else x[i][:1]
            return x
        return self.value()


def _valid_calls(rng, tmp_path):
    """(name, function, args, kwargs) with valid arguments, for every public function."""
    dims = [int(d) for d in rng.integers(1, 5, size=int(rng.integers(2, 4)))] + [1]
    m = int(rng.integers(1, 6))
    X = rng.standard_normal((dims[0], m))
    Y = (rng.random((1, m)) > 0.5).astype(float)
    P = _net(dims, int(rng.integers(1000)))
    AL, caches = dnn.L_model_forward(X, P)
    grads = dnn.L_model_backward(AL, Y, caches)
    A, W, b = X, P["W1"], P["b1"]
    Z, lin_cache = dnn.linear_forward(A, W, b)
    act = ["relu", "sigmoid"][int(rng.integers(2))]
    _, act_cache = dnn.linear_activation_forward(A, W, b, act)
    dZ = rng.standard_normal(Z.shape)
    small = dict(num_iterations=int(rng.integers(0, 4)))
    pics = rng.integers(0, 256, (m, 2, 2, 3)).astype(np.uint8)
    calls = [
        ("sigmoid", dnn.sigmoid, (Z,), {}),
        ("relu", dnn.relu, (Z,), {}),
        ("sigmoid_backward", dnn.sigmoid_backward, (dZ, Z), {}),
        ("relu_backward", dnn.relu_backward, (dZ, Z), {}),
        ("relu_derivative", dnn.relu_derivative, (dZ, Z), {}),
        ("sigmoid_derivative", dnn.sigmoid_derivative, (dZ, Z), {}),
        ("initialize_parameters", dnn.initialize_parameters, (dims[0], 2, 1), {"seed": 3}),
        ("initialize_parameters_deep", dnn.initialize_parameters_deep, (dims,), {"init": "he"}),
        ("init_parameters_L", dnn.init_parameters_L, (dims,), {"random_state": 5}),
        ("linear_forward", dnn.linear_forward, (A, W, b), {}),
        ("forward_prop_L", dnn.forward_prop_L, (A, W, b), {}),
        ("linear_activation_forward", dnn.linear_activation_forward, (A, W, b, act), {}),
        ("activation_forward_L", dnn.activation_forward_L, (A, W, b, act), {}),
        ("L_model_forward", dnn.L_model_forward, (X, P), {}),
        ("compute_cost", dnn.compute_cost, (AL, Y), {}),
        ("linear_backward", dnn.linear_backward, (dZ, lin_cache), {}),
        ("backprop_L", dnn.backprop_L, (dZ, lin_cache), {}),
        ("linear_activation_backward", dnn.linear_activation_backward, (dZ, act_cache, act), {}),
        ("activation_backward_L", dnn.activation_backward_L, (dZ, act_cache, act), {}),
        ("L_model_backward", dnn.L_model_backward, (AL, Y, caches), {}),
        ("update_parameters", dnn.update_parameters, (P, grads, 0.1), {}),
        ("predict", dnn.predict, (X, Y, P), {}),
        ("L_layer_model", dnn.L_layer_model, (X, Y, dims, 0.05), dict(small, cost_every=1)),
        ("two_layer_model", dnn.two_layer_model, (X, Y, (dims[0], 2, 1), 0.05), small),
        ("flatten_images", dnn.flatten_images, (pics,), {}),
        ("gen_labels", dnn.gen_labels, (["cat1.png", "dog.png"],), {}),
        ("save_model", dnn.save_model, (tmp_path / "f.npz", P), {"metadata": {"a": 1}}),
    ]
    return calls


def _run_one(name, fn, args, kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            fn(*args, **kwargs)
        except DOCUMENTED:
            pass
        except OSError:  # a path that is a folder, missing, or not writable: documented there
            if name not in ("save_model", "load_model"):
                raise


def test_fuzz_every_public_function(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)   # a path argument fuzzed to "relu" writes a file here
    rng = np.random.default_rng(14)
    junk = Junk(rng)
    failures = []
    calls = 0
    while calls < CALLS:
        for name, fn, args, kwargs in _valid_calls(rng, tmp_path):
            args, kwargs = list(args), dict(kwargs)
            names = list(range(len(args))) + list(kwargs)
            for _ in range(int(rng.integers(1, 3))):
                which = names[int(rng.integers(len(names)))]
                if isinstance(which, int):
                    args[which] = junk.mutate(args[which])
                elif which != "num_iterations":   # a valid huge count would just run long
                    kwargs[which] = junk.mutate(kwargs[which])
            try:
                _run_one(name, fn, args, kwargs)
            except Exception as exc:  # noqa: BLE001 - that is what the test looks for
                failures.append("%s(%s): %s: %s" % (
                    name, ", ".join(_describe(a) for a in args) + "".join(
                        ", %s=%s" % (k, _describe(v)) for k, v in kwargs.items()),
                    type(exc).__name__, str(exc)[:200]))
            calls += 1
        capsys.readouterr()   # predict prints its accuracy
    assert not failures, "\n".join(failures[:20])


def test_fuzz_model_files_and_plots(tmp_path, monkeypatch):
    """load_model on mutated saved models, and the plots with hostile arguments."""
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(41)
    junk = Junk(rng)
    failures = []
    path = dnn.save_model(tmp_path / "m.npz", _net((12, 3, 1)), image_shape=(2, 2, 3))
    raw = path.read_bytes()
    bad = tmp_path / "bad.npz"
    for _ in range(max(CALLS // 30, 50)):
        b = bytearray(raw)
        for _ in range(int(rng.integers(1, 6))):
            b[int(rng.integers(len(b)))] = int(rng.integers(256))
        bad.write_bytes(bytes(b[:int(rng.integers(len(b) // 2, len(b) + 1))]))
        try:
            dnn.load_model(bad)
        except ValueError:
            pass
        except Exception as exc:  # noqa: BLE001
            failures.append("load_model: %s: %s" % (type(exc).__name__, exc))
    if pytest.importorskip("matplotlib"):
        X, y, p = rng.random((12, 3)), np.array([[0, 1, 1]]), np.array([[1, 1, 0]])
        for _ in range(max(CALLS // 1500, 10)):
            args = [("a", "b"), X, y, p]
            i = int(rng.integers(4))
            args[i] = junk.mutate(args[i])
            cost_args = [[0.5, 0.4], 0.01]
            cost_args[int(rng.integers(2))] = junk.mutate(cost_args[0])
            for fn, a, kw in ((dnn.plot_mislabeled_images, args, {"image_shape": (2, 2, 3)}),
                              (dnn.plot_costs, cost_args, {"cost_every": junk.value()})):
                try:
                    _run_one(fn.__name__, fn, a, dict(kw, path=tmp_path / "p.png"))
                except Exception as exc:  # noqa: BLE001
                    failures.append("%s: %s: %s" % (fn.__name__, type(exc).__name__, exc))
    assert not failures, "\n".join(failures[:20])


def _describe(x):
    if isinstance(x, np.ndarray):
        return "array(%s, %s%s)" % (x.shape, x.dtype, "" if x.flags.c_contiguous else ", strided")
    if isinstance(x, dict):
        return "{%s}" % ", ".join("%s: %s" % (k, _describe(v)) for k, v in list(x.items())[:6])
    text = repr(x)
    return text if len(text) < 40 else text[:37] + "..."

"""``dnn train`` with the course's second part (issue 11, section 3): the optimizer, mini-batch,
regularization and activation options train by ``dnn.model``; more than two classes train a softmax
network and ``dnn predict`` names the class; ``dnn.model``'s callback drives the progress bar and
Ctrl-C. Small pictures and few epochs: every test runs in a second or two."""
import json
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from PIL import Image

import dnn
from dnn.data import flatten_images, load_folder
from dnn.model_io import load_model

SIZE = 8


def _class_folders(root, names, per_class, seed):
    """One folder per class; class k is bright in the k-th vertical band (learnable in a few epochs)."""
    rng = np.random.default_rng(seed)
    band = SIZE // len(names) or 1
    for k, name in enumerate(names):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            a = rng.integers(0, 60, (SIZE, SIZE, 3)).astype(np.uint8)
            a[:, k * band:(k + 1) * band] += 180
            Image.fromarray(a).save(root / name / ("%s%02d.png" % (name, i)))
    return root


@pytest.fixture
def three_classes(tmp_path):
    names = ("left", "middle", "right")   # sorted: the class indices 0, 1, 2
    return (_class_folders(tmp_path / "train", names, 8, seed=1),
            _class_folders(tmp_path / "test", names, 3, seed=2))


@pytest.fixture
def two_classes(tmp_path):
    return (_class_folders(tmp_path / "train2", ("cat", "non-cat"), 8, seed=3),
            _class_folders(tmp_path / "test2", ("cat", "non-cat"), 3, seed=4))


def test_three_class_folders_train_a_softmax_network_and_predict_names_the_class(three_classes, tmp_path,
                                                                                 dnn_cli):
    train, test = three_classes
    out_dir = tmp_path / "run"
    code, out, err = dnn_cli.run(["train", "--train", train, "--test", test, "--image-size", SIZE, "--layers", "6",
                                  "--iterations", 150, "--learning-rate", 0.5, "--cost-every", 10, "--out", out_dir,
                                  "--quiet"])
    assert code == 0, err
    assert "24 train / 9 test pictures of 8x8 RGB (192 inputs), classes 0=left 1=middle 2=right" in out
    assert "network: 192-6-3 (relu hidden, softmax output)" in out and "gd, batch 24" in out
    metrics = json.loads((out_dir / "metrics.json").read_text())
    assert metrics["output"] == "softmax" and metrics["layers_dims"] == [192, 6, 3]
    assert metrics["num_epochs"] == 150 and metrics["mini_batch_size"] == 24 and len(metrics["costs"]) == 15
    assert metrics["costs"][-1] < metrics["costs"][0]
    assert metrics["train_accuracy"] >= 0.9 and metrics["test_accuracy"] >= 2 / 3
    model = load_model(out_dir / "model.npz")
    assert model.output == "softmax" and model.classes == ("left", "middle", "right")
    pytest.importorskip("matplotlib")
    assert (out_dir / "costs.png").is_file() and not (out_dir / "mislabeled.png").exists()

    xt, yt, names, _ = load_folder(test, SIZE, classes=model.classes)
    AL = model.predict_proba(flatten_images(xt, model.dtype))
    code, out, err = dnn_cli.run(["predict", out_dir / "model.npz", test])
    assert code == 0, err
    header, *rows = [line.split() for line in out.strip().splitlines()]
    assert header == ["probability", "label", "class", "file"]
    assert [int(r[1]) for r in rows] == AL.argmax(axis=0).tolist()
    assert [r[2] for r in rows] == [model.classes[k] for k in AL.argmax(axis=0)]
    np.testing.assert_allclose([float(r[0]) for r in rows], AL.max(axis=0), atol=5e-5)
    # The network learned the bands: most test pictures get their folder's class.
    assert np.mean([r[2] == n.split("/")[0] for r, n in zip(rows, names)]) >= 2 / 3

    code, out, err = dnn_cli.run(["predict", "--json", out_dir / "model.npz", test / "right" / "right00.png"])
    record = json.loads(out)
    assert code == 0 and record["class"] == model.classes[record["label"]]
    assert record["probability"] == pytest.approx(float(AL[:, -3].max()))


def test_the_built_in_three_classes_train_a_softmax_network(tmp_path, dnn_cli):
    code, out, err = dnn_cli.run(["train", "--dataset", "bars3", "--layers", "16", "--optimizer", "adam",
                                  "--learning-rate", 0.001, "--batch-size", 64, "--epochs", 3,
                                  "--out", tmp_path / "run", "--quiet"])
    assert code == 0, err
    assert "classes 0=horizontal 1=vertical 2=diagonal" in out
    assert "network: 1728-16-3 (relu hidden, softmax output)" in out
    assert load_model(tmp_path / "run" / "model.npz").classes == ("horizontal", "vertical", "diagonal")


def test_a_test_folder_with_a_class_the_training_lacks_is_refused(three_classes, tmp_path, dnn_cli):
    train, test = three_classes
    _class_folders(tmp_path / "other", ("left", "wasp"), 1, seed=5)
    code, _, err = dnn_cli.run(["train", "--train", train, "--test", tmp_path / "other", "--image-size", SIZE,
                                "--out", tmp_path / "run", "--quiet"])
    assert code == 1 and "not among the classes left, middle, right: wasp" in dnn_cli.one_line(err)
    # Two classes to train on, three to test on: refused too (the test folder is read by itself then).
    _class_folders(tmp_path / "two", ("left", "right"), 2, seed=6)
    code, _, err = dnn_cli.run(["train", "--train", tmp_path / "two", "--test", test, "--image-size", SIZE,
                                "--positive", "right", "--out", tmp_path / "run", "--quiet"])
    assert code == 1 and "the test folder has the classes left, middle, right but the training folder left, right" \
        in dnn_cli.one_line(err)
    assert not (tmp_path / "run").exists()


def test_the_options_train_exactly_dnn_model(two_classes, tmp_path, dnn_cli):
    train, test = two_classes
    out_dir = tmp_path / "run"
    code, out, err = dnn_cli.run(["train", "--train", train, "--test", test, "--image-size", SIZE, "--layers", "5,3",
                                  "--optimizer", "adam", "--batch-size", 5, "--epochs", 4, "--activation", "tanh",
                                  "--l2", 0.1, "--keep-prob", 0.8, "--beta1", 0.8, "--beta2", 0.99,
                                  "--learning-rate", 0.01, "--seed", 2, "--cost-every", 1, "--out", out_dir, "--quiet"])
    assert code == 0, err
    assert "(tanh hidden, sigmoid output)" in out and "adam, batch 5" in out and "4 epochs, L2 0.1, keep_prob 0.8" in out
    x, y, _, classes = load_folder(train, SIZE)
    X = flatten_images(x, np.float64)
    params, costs = dnn.model(X, y, [192, 5, 3, 1], "adam", 0.01, 5, beta1=0.8, beta2=0.99, num_epochs=4,
                              print_cost=False, lambd=0.1, keep_prob=0.8, hidden_activation="tanh",
                              init="app-utils", seed=2, return_costs=True, cost_every=1)
    model = load_model(out_dir / "model.npz")
    assert model.hidden_activation == "tanh" and model.output == "sigmoid" and model.classes == classes
    for k in params:
        np.testing.assert_array_equal(model.parameters[k], params[k])
    metrics = json.loads((out_dir / "metrics.json").read_text())
    assert metrics["costs"] == costs
    assert {k: metrics[k] for k in ("optimizer", "mini_batch_size", "num_epochs", "lambd", "keep_prob",
                                    "hidden_activation", "beta1", "beta2")} == {
        "optimizer": "adam", "mini_batch_size": 5, "num_epochs": 4, "lambd": 0.1, "keep_prob": 0.8,
        "hidden_activation": "tanh", "beta1": 0.8, "beta2": 0.99}
    # final_cost: the saved parameters' regularized cost on the whole training set, no dropout.
    AL, caches = dnn.L_model_forward(X, params, hidden_activation="tanh")
    assert metrics["final_cost"] == pytest.approx(
        float(dnn.compute_cost_with_regularization(AL, y, params, 0.1)), rel=1e-12)
    code, out, err = dnn_cli.run(["predict", out_dir / "model.npz", test])
    assert code == 0, err
    proba = model.predict_proba(flatten_images(load_folder(test, SIZE)[0], np.float64))[0]
    assert [int(line.split()[1]) for line in out.strip().splitlines()[1:]] == [int(p > 0.5) for p in proba]


@pytest.mark.parametrize("options, batch, epochs", [
    (["--optimizer", "gd"], 16, 2500),          # gd without --batch-size: the full batch
    (["--l2", "0.5"], 16, 2500),
    (["--optimizer", "momentum"], 16, 100),     # mini-batches of 64 on 16 pictures: one batch
    (["--optimizer", "rmsprop", "--batch-size", "4", "--iterations", "3"], 4, 3),
])
def test_defaults_of_the_mini_batch_run(two_classes, tmp_path, dnn_cli, monkeypatch, options, batch, epochs):
    seen = {}

    def fake_model(X, Y, layers_dims, optimizer, learning_rate, mini_batch_size, *args, num_epochs, **kw):
        seen.update(optimizer=optimizer, batch=mini_batch_size, epochs=num_epochs, lambd=kw["lambd"])
        return {"W1": np.zeros((1, X.shape[0])), "b1": np.zeros((1, 1))}, [0.7]

    monkeypatch.setattr(dnn.course_model, "model", fake_model)
    train, test = two_classes
    code, out, err = dnn_cli.run(["train", "--train", train, "--test", test, "--image-size", SIZE, *options,
                                  "--out", tmp_path / "run", "--quiet"])
    assert code == 0, err
    assert seen["batch"] == batch and seen["epochs"] == epochs
    assert seen["lambd"] == (0.5 if "--l2" in options else 0.0)


def test_without_the_new_options_a_run_is_todays(two_classes, tmp_path, dnn_cli, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("dnn.model was called")
    monkeypatch.setattr(dnn.course_model, "model", refuse)
    train, test = two_classes
    code, out, err = dnn_cli.run(["train", "--train", train, "--test", test, "--image-size", SIZE, "--iterations", 3,
                                  "--out", tmp_path / "run", "--quiet"])
    assert code == 0, err
    assert "network: 192-20-7-5-1, init app-utils, float64, learning rate 0.0075, 3 iterations" in out
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert "optimizer" not in metrics and metrics["num_iterations"] == 3
    assert load_model(tmp_path / "run" / "model.npz").activations == ("relu",) * 3 + ("sigmoid",)


@pytest.mark.parametrize("argv, message", [
    (["--epochs", "3", "--iterations", "3"], "give --epochs or --iterations, not both"),
    (["--keep-prob", "0"], "argument --keep-prob: must be in (0, 1]"),
    (["--keep-prob", "1.5"], "argument --keep-prob: must be in (0, 1]"),
    (["--l2", "-1"], "argument --l2: must be in [0, inf)"),
    (["--l2", "nan"], "argument --l2: must be in"),
    (["--beta1", "1"], "argument --beta1: must be in [0, 1)"),
    (["--optimizer", "sgd"], "argument --optimizer: invalid choice"),
    (["--activation", "gelu"], "argument --activation: invalid choice"),
    (["--batch-size", "0"], "argument --batch-size: must be >= 1"),
])
def test_bad_options_are_one_line_before_training(tmp_path, dnn_cli, argv, message):
    code, _, err = dnn_cli.run(["train", *argv, "--out", tmp_path / "run"])
    assert code == 2 and message in dnn_cli.one_line(err)
    assert not (tmp_path / "run").exists()


def test_hdf5_with_three_classes_trains_softmax(tmp_path, dnn_cli):
    h5py = pytest.importorskip("h5py")
    rng = np.random.default_rng(4)
    for split, m in (("train", 12), ("test", 6)):
        with h5py.File(tmp_path / ("%s.h5" % split), "w") as f:
            f["%s_set_x" % split] = rng.integers(0, 256, (m, 4, 4, 3)).astype(np.uint8)
            f["%s_set_y" % split] = np.arange(m) % 3
            f["list_classes"] = np.array([b"ant", b"bee", b"cow"])
    code, out, err = dnn_cli.run(["train", "--train", tmp_path / "train.h5", "--test", tmp_path / "test.h5",
                                  "--epochs", 3, "--optimizer", "adam", "--batch-size", 4, "--out", tmp_path / "run",
                                  "--quiet"])
    assert code == 0, err
    assert "classes 0=ant 1=bee 2=cow" in out and "softmax output" in out
    model = load_model(tmp_path / "run" / "model.npz")
    assert model.output == "softmax" and model.classes == ("ant", "bee", "cow") and model.layer_dims[-1] == 3


# --------------------------------------------------------------------------
# dnn.model's callback: the progress bar and Ctrl-C
# --------------------------------------------------------------------------

def _data(m=40, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((5, m))
    return X, (X[0:1] + X[1:2] > 0).astype(float)


def test_model_calls_back_after_every_epoch_with_its_cost():
    X, Y = _data()
    calls = []
    params, costs = dnn.model(X, Y, [5, 4, 1], "momentum", 0.05, 16, num_epochs=6, print_cost=False,
                              return_costs=True, cost_every=1, callback=lambda i, c: calls.append((i, c)))
    assert calls == list(zip(range(1, 7), costs))
    with pytest.raises(TypeError, match="callback must be callable"):
        dnn.model(X, Y, [5, 4, 1], "gd", num_epochs=1, callback=3)


@pytest.mark.parametrize("optimizer", ["gd", "adam"])
def test_an_interrupt_carries_the_parameters_reached(optimizer):
    X, Y = _data()
    kw = dict(mini_batch_size=16, print_cost=False, return_costs=True, cost_every=1, keep_prob=0.9)
    three, costs3 = dnn.model(X, Y, [5, 4, 1], optimizer, 0.05, num_epochs=3, **kw)

    def stop_after_three(i, cost):
        if i == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt) as info:
        dnn.model(X, Y, [5, 4, 1], optimizer, 0.05, num_epochs=50, callback=stop_after_three, **kw)
    exc = info.value
    assert exc.iterations == 3 and exc.costs == costs3
    for k in three:
        np.testing.assert_array_equal(exc.parameters[k], three[k])
    def stop_at_once(i, cost):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt) as info:
        dnn.model(X, Y, [5, 4, 1], optimizer, 0.05, num_epochs=5, callback=stop_at_once, **kw)
    assert info.value.iterations == 1 and len(info.value.costs) == 1


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process is POSIX")
def test_ctrl_c_during_a_mini_batch_run_saves_the_parameters_reached(tmp_path):
    out_dir = tmp_path / "run"
    p = subprocess.Popen([sys.executable, "-m", "dnn", "train", "--optimizer", "adam", "--batch-size", "32",
                          "--epochs", "10000000", "--layers", "8", "--out", str(out_dir)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
                         # one BLAS thread: the long fit's plan is measured without the pauses
                         # between thread pools (dnn._loop_plan.measure), well within the sleep below
                         env=dict(os.environ, OPENBLAS_NUM_THREADS="1"))
    watchdog = threading.Timer(120, p.kill)   # the test fails, it never hangs
    watchdog.start()
    try:
        assert p.stdout.readline().startswith(b"data:")
        assert b"adam, batch 32" in p.stdout.readline()
        time.sleep(3.0)                      # the plan is measured, a few epochs are done
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=120)
    finally:
        watchdog.cancel()
        p.kill()
        p.wait()
    err = err.decode()
    assert p.returncode == 130, err
    assert "Traceback" not in err
    # The progress bar (to stderr, a pipe: a line at each tenth, none yet) and the one line.
    line = [l for l in err.strip().splitlines() if l.startswith("dnn:")]
    assert len(line) == 1 and "of 10000000 epochs; saved" in line[0], err
    done = int(line[0].split("interrupted after ")[1].split()[0])
    assert 0 < done < 10_000_000
    model = load_model(out_dir / "model.npz")
    assert model.metadata["interrupted_after"] == done and model.metadata["optimizer"] == "adam"
    assert len(json.loads((out_dir / "metrics.json").read_text())["costs"]) == -(-done // 100)

"""The ``dnn`` command: train/predict end to end (few iterations), user errors, info, bench.

Most tests call ``dnn.cli.main(argv)`` in-process; one runs ``python -m dnn``
to check the entry point. The full course recipe on the shared cat pictures
is the one slow test.
"""
import io
import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from dnn import _train, cli
from dnn._progress import ProgressBar
from dnn.data import flatten_images, load_folder
from dnn.model_io import load_model
from dnn.models import L_layer_model


def _picture_folder(folder, n=12, size=8, seed=0):
    """Cats are bright on the left, non-cats bright on the right (learnable in a few iterations)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    for i in range(n):
        cat = i % 2 == 0
        a = rng.integers(0, 60, (size, size, 3)).astype(np.uint8)
        half = slice(0, size // 2) if cat else slice(size // 2, size)
        a[:, half] += 180
        Image.fromarray(a).save(folder / ("%s.%03d.png" % ("cat" if cat else "noncat", i)))
    (folder / "notes.txt").write_text("skipped")
    return folder


@pytest.fixture
def pictures(tmp_path):
    return (_picture_folder(tmp_path / "train", 16, seed=1), _picture_folder(tmp_path / "test", 8, seed=2))


def test_train_builtin_writes_model_plot_and_metrics(tmp_path, dnn_cli):
    out_dir = tmp_path / "run"
    code, out, err = dnn_cli.run(["train", "--iterations", 30, "--cost-every", 10, "--out", out_dir, "--quiet"])
    assert code == 0, err
    assert "built-in 'bars': 480 train / 240 test pictures of 24x24 RGB" in out
    assert "train accuracy:" in out and "test accuracy:" in out
    metrics = json.loads((out_dir / "metrics.json").read_text())
    assert metrics["layers_dims"] == [1728, 20, 7, 5, 1]
    assert metrics["num_iterations"] == 30 and len(metrics["costs"]) == 3
    assert 0 <= metrics["test_accuracy"] <= 1
    model = load_model(out_dir / "model.npz")
    assert model.image_shape == (24, 24, 3) and model.classes == ("horizontal", "vertical")
    assert model.metadata["learning_rate"] == 0.0075
    pytest.importorskip("matplotlib")
    assert (out_dir / "costs.png").is_file()


def test_train_then_predict_gives_the_in_memory_labels(pictures, tmp_path, dnn_cli):
    train, test = pictures
    out_dir = tmp_path / "run"
    argv = ["train", "--train", train, "--test", test, "--image-size", 8, "--layers", "5,3",
            "--iterations", 40, "--learning-rate", 0.05, "--out", out_dir, "--quiet"]
    code, out, err = dnn_cli.run(argv)
    assert code == 0, err
    assert "16 train / 8 test pictures of 8x8 RGB (192 inputs), classes 0=non-cat 1=cat" in out

    # the same training in memory
    x, y, names, _ = load_folder(train, size=8)
    X = flatten_images(x, np.float64)
    params = L_layer_model(X, y, [192, 5, 3, 1], 0.05, 40)
    xt, _, test_names, _ = load_folder(test, size=8)
    import dnn
    proba, _ = dnn.L_model_forward(flatten_images(xt, np.float64), params)

    code, out, err = dnn_cli.run(["predict", out_dir / "model.npz", test])
    assert code == 0, err
    header, *lines = out.strip().splitlines()
    assert header.split() == ["probability", "label", "class", "file"]
    rows = [line.split() for line in lines]
    assert [r[-1] for r in rows] == [str(test / n) for n in test_names]
    assert [int(r[1]) for r in rows] == [int(p > 0.5) for p in proba[0]]
    np.testing.assert_allclose([float(r[0]) for r in rows], proba[0], atol=5e-5)

    code, out, err = dnn_cli.run(["predict", "--json", out_dir / "model.npz", test / test_names[0]])
    assert code == 0, err
    record = json.loads(out)
    assert record["probability"] == float(proba[0, 0])
    assert record["class"] == ("cat" if proba[0, 0] > 0.5 else "non-cat")


def test_train_on_hdf5_files(tmp_path, dnn_cli):
    h5py = pytest.importorskip("h5py")
    rng = np.random.default_rng(4)
    for split, m in (("train", 10), ("test", 4)):
        with h5py.File(tmp_path / ("%s.h5" % split), "w") as f:
            f["%s_set_x" % split] = rng.integers(0, 256, (m, 4, 4, 3)).astype(np.uint8)
            f["%s_set_y" % split] = np.arange(m) % 2
            f["list_classes"] = np.array([b"non-cat", b"cat"])
    code, out, err = dnn_cli.run(["train", "--train", tmp_path / "train.h5", "--test", tmp_path / "test.h5",
                                  "--iterations", 5, "--out", tmp_path / "run", "--quiet"])
    assert code == 0, err
    assert "10 train / 4 test pictures of 4x4 RGB (48 inputs)" in out
    assert load_model(tmp_path / "run" / "model.npz").classes == ("non-cat", "cat")


@pytest.mark.parametrize("argv, code, message", [
    (["train", "--layers", "20,x,5"], 2, "argument --layers: '20,x,5' is not a comma-separated list"),
    (["train", "--layers", "20,0"], 2, "layer sizes must be positive"),
    (["train", "--learning-rate", "-1"], 2, "must be a positive number"),
    (["train", "--iterations", "0"], 2, "must be >= 1"),
    (["train", "--train", "{tmp}/nowhere", "--test", "{tmp}"], 2, "no such file or folder"),
    (["train", "--train", "{tmp}"], 2, "give both --train and --test"),
    (["train", "--train", "{tmp}/empty", "--test", "{tmp}/empty"], 1, "no images in"),
    (["train", "--train", "{tmp}/notes.txt", "--test", "{tmp}/notes.txt"], 2, "neither a folder"),
    (["train", "--image-size", "64"], 2, "--image-size applies to image folders only"),
    (["train", "--image-size", "6y4"], 2, "is not an image size"),
    (["predict", "{tmp}/notes.txt", "{tmp}/empty"], 1, "not a valid dnn model file"),
    (["predict", "{tmp}/missing.npz", "{tmp}/empty"], 1, "no such model file"),
    (["frobnicate"], 2, "invalid choice"),
])
def test_user_errors_are_one_line(tmp_path, dnn_cli, argv, code, message):
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes.txt").write_text("hello")
    argv = [a.format(tmp=tmp_path) for a in argv]
    got, out, err = dnn_cli.run(argv)
    assert got == code
    line = dnn_cli.one_line(err)
    assert message in line
    assert line.startswith("dnn")


def test_predict_errors(tmp_path, pictures, dnn_cli):
    train, test = pictures
    model = tmp_path / "run" / "model.npz"
    assert dnn_cli.run(["train", "--train", train, "--test", test, "--image-size", 8, "--iterations", 2,
                        "--out", tmp_path / "run", "--quiet"])[0] == 0
    (tmp_path / "broken.png").write_bytes(b"\x89PNG not really")
    code, _, err = dnn_cli.run(["predict", model, tmp_path / "broken.png"])
    assert code == 1 and "broken.png" in dnn_cli.one_line(err)
    (tmp_path / "nothing").mkdir()
    code, _, err = dnn_cli.run(["predict", model, tmp_path / "nothing"])
    assert code == 1 and "no pictures in folder" in dnn_cli.one_line(err)
    code, _, err = dnn_cli.run(["predict", model, tmp_path / "absent.png"])
    assert code == 2 and "no such file or folder" in dnn_cli.one_line(err)


def test_python_m_dnn_entry_point(tmp_path):
    res = subprocess.run([sys.executable, "-m", "dnn", "--help"], capture_output=True, text=True,
                         cwd=tmp_path, timeout=120)
    assert res.returncode == 0 and "train" in res.stdout and "predict" in res.stdout
    res = subprocess.run([sys.executable, "-m", "dnn", "train", "--layers", "a"], capture_output=True,
                         text=True, cwd=tmp_path, timeout=120)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_info(dnn_cli):
    code, out, err = dnn_cli.run(["info"])
    assert code == 0, err
    assert out.startswith("dnn ")
    assert "compiled extension:" in out and "BLAS:" in out and "optional:" in out
    from dnn import _kernels

    if _kernels.BUILD_INFO["simd_baseline"] == "scalar":  # MSVC's build: no vector kernels to name
        assert "own vector kernels: none, portable scalar loops" in out
    else:
        assert "own vector kernels: %s build" % _train.simd_kernels() in out


def test_info_shows_the_plan_a_fit_would_use(dnn_cli):
    from dnn import _plan

    # a short fit: the rule's plan, never timed
    code, out, err = dnn_cli.run(["info", "--plan", "784,256,128,64,1", "--m", "10000",
                                  "--iterations", "10"])
    assert code == 0, err
    rule = _plan.rule_plan((784, 256, 128, 64, 1), 10000, np.float64, 10, 10)
    assert "  " + rule.describe() in out
    # a long one: measured now (a small net), then the kept decision
    args = ["info", "--plan", "30,20,1", "--m", "700", "--dtype", "float32"]
    code, out, err = dnn_cli.run(args)
    assert code == 0, err
    kept = _plan.plan_for((30, 20, 1), 700, np.float32, 2500, 100)
    assert kept is not None and kept.describe().replace("(measured)", "(measured now)") in out
    again = dnn_cli.run(args)[1]
    # a build without wide vectors (the scalar one, SSE2) has the rule's plan alone: nothing is timed
    timed = len(_plan.candidates((30, 20, 1), 700, np.float32, 2500, 100)) > 1
    assert kept.describe() in again and ("candidates timed:" in again) == timed
    for bad in (["--plan", "784,256", "--m", "10"], ["--plan", "784,1"],
                ["--plan", "100000,1", "--m", "100000"]):
        code, out, err = dnn_cli.run(["info"] + bad)
        assert code != 0 and "--plan" in err and "Traceback" not in err


def test_version(dnn_cli):
    import dnn
    assert dnn_cli.run(["--version"])[1].strip() == "dnn %s" % dnn.__version__


def test_bench_forwards_its_arguments(capsys):
    pytest.importorskip("dnn.bench", reason="dnn.bench (the benchmark helper's module) is not there yet")
    with pytest.raises(SystemExit) as info:
        cli.main(["bench", "--help"])
    assert info.value.code == 0
    assert "usage: dnn bench" in capsys.readouterr().out


# --------------------------------------------------------------------------
# Progress bars
# --------------------------------------------------------------------------

class _Tty(io.StringIO):
    def isatty(self):
        return True


def test_text_bar_on_a_pipe_prints_tenths():
    stream = io.StringIO()
    bar = ProgressBar(100, stream=stream, use_tqdm=False)
    for i in range(1, 101):
        bar(i, 0.5 if i % 10 == 0 else None)
    bar.close()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 10 and "\r" not in stream.getvalue()
    assert lines[-1].startswith("[" + "#" * 30 + "] 100/100") and lines[-1].endswith("cost 0.500000")


def test_text_bar_on_a_terminal_rewrites_one_line():
    stream = _Tty()
    bar = ProgressBar(50, stream=stream, use_tqdm=False)
    bar(25, None)
    bar(50, 0.25)
    bar.close()
    text = stream.getvalue()
    assert text.count("\r") == 2 and text.endswith("cost 0.250000\n") and "25/50" in text


def test_tqdm_bar():
    pytest.importorskip("tqdm")
    stream = io.StringIO()
    bar = ProgressBar(10, stream=stream)
    bar(4, 0.125)
    bar(10, None)
    bar.close()
    assert "10/10" in stream.getvalue() and "cost 0.125000" in stream.getvalue()


# --------------------------------------------------------------------------
# The course's recipe on the shared cat pictures (slow: the full 2500 iterations)
# --------------------------------------------------------------------------

@pytest.mark.slow
def test_course_recipe_on_cat_folders(shared_dir, tmp_path, dnn_cli, blas_single_thread):
    root = shared_dir / "data" / "cat-images"
    if not (root / "train").is_dir():
        pytest.skip("cat pictures not found at %s" % root)
    code, out, err = dnn_cli.run(["train", "--train", root / "train", "--test", root / "test",
                                  "--layers", "20,7,5", "--learning-rate", 0.0075, "--iterations", 2500,
                                  "--init", "app-utils", "--out", tmp_path / "run", "--quiet"])
    assert code == 0, err
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    # The course's figures with the HDF5 files: train 0.9856..., test 0.8.
    assert metrics["train_accuracy"] == pytest.approx(206 / 209)
    assert metrics["test_accuracy"] == pytest.approx(0.8)
    # dnn predict on the saved model labels the test pictures as the in-memory model did
    code, out, err = dnn_cli.run(["predict", tmp_path / "run" / "model.npz", root / "test"])
    assert code == 0, err
    labels = np.array([int(line.split()[1]) for line in out.strip().splitlines()[1:]])
    _, y, _, _ = load_folder(root / "test")
    assert np.mean(labels == y[0]) == pytest.approx(0.8)

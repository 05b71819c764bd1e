"""The ``dnn`` command never loses its output and gives one line per user error (issue 14, items 7-8).

Pipes and Ctrl-C run the real command in a subprocess; the rest call
``dnn.cli.main`` in-process.
"""
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import dnn
from dnn._progress import ProgressBar
from dnn.model_io import load_model, save_model


def _command(*args):
    return [sys.executable, "-m", "dnn", *[str(a) for a in args]]


def _pictures(folder, n=6, size=8):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(
            folder / ("%s%d.png" % ("cat" if i % 2 else "dog", i)))
    return folder


def _model(tmp_path, size=8):
    rng = np.random.default_rng(1)
    n_x = size * size * 3
    params = {"W1": rng.standard_normal((3, n_x)) * 0.01, "b1": np.zeros((3, 1)),
              "W2": rng.standard_normal((1, 3)), "b2": np.zeros((1, 1))}
    return save_model(tmp_path / "m.npz", params, image_shape=(size, size, 3), classes=("dog", "cat"))


# --------------------------------------------------------------------------
# Item 7: output folders, closed pipes, one-line errors
# --------------------------------------------------------------------------

def test_out_that_is_a_file_or_unwritable_is_one_line_before_training(tmp_path, dnn_cli):
    a_file = tmp_path / "model.npz"
    a_file.write_bytes(b"x")
    t0 = time.perf_counter()
    code, out, err = dnn_cli.run(["train", "--out", a_file, "--iterations", 100000, "--quiet"])
    assert code == 2 and "exists and is not a folder" in dnn_cli.one_line(err)
    assert time.perf_counter() - t0 < 5          # refused before any training
    code, out, err = dnn_cli.run(["train", "--out", a_file / "sub", "--iterations", 100000, "--quiet"])
    assert code == 1 and "cannot write to the output folder" in dnn_cli.one_line(err)
    if os.path.isdir("/proc"):
        code, out, err = dnn_cli.run(["train", "--out", "/proc/nope", "--iterations", 100000, "--quiet"])
        assert code == 1 and "cannot write to the output folder /proc/nope" in dnn_cli.one_line(err)


def test_train_into_a_closed_pipe_still_writes_the_model(tmp_path):
    out_dir = tmp_path / "run"
    p = subprocess.Popen(_command("train", "--iterations", 60, "--out", out_dir, "--quiet"),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path)
    first = p.stdout.readline()          # `| head -1`
    p.stdout.close()
    err = p.stderr.read().decode()
    assert p.wait(timeout=300) == 0, err
    assert first.startswith(b"data: ")
    assert "Traceback" not in err and "BrokenPipe" not in err, err
    assert load_model(out_dir / "model.npz").layer_dims[-1] == 1
    assert json.loads((out_dir / "metrics.json").read_text())["num_iterations"] == 60


def test_train_with_its_progress_bar_into_a_closed_pipe(tmp_path):
    """`dnn train 2>&1 | head -1`: the progress bar's writes fail too; the run goes on."""
    out_dir = tmp_path / "run"
    p = subprocess.Popen(_command("train", "--iterations", 300, "--out", out_dir),
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=tmp_path)
    p.stdout.readline()
    p.stdout.close()
    assert p.wait(timeout=300) == 0
    assert load_model(out_dir / "model.npz").layer_dims[-1] == 1


class _ClosedPipe(io.StringIO):
    def write(self, text):
        raise BrokenPipeError(32, "Broken pipe")

    def isatty(self):
        return True


@pytest.mark.parametrize("use_tqdm", [False, True])
def test_a_progress_bar_on_a_closed_stream_is_silent(use_tqdm):
    if use_tqdm:
        pytest.importorskip("tqdm")
    bar = ProgressBar(10, stream=_ClosedPipe(), use_tqdm=use_tqdm)
    for i in range(1, 11):
        bar(i, 0.5)
    bar.close()


def test_predict_into_a_closed_pipe_ends_quietly(tmp_path):
    model = _model(tmp_path)
    picture = _pictures(tmp_path / "pics", n=1) / "dog0.png"
    # 2000 rows (> 64 KB, more than a pipe holds): the reader goes before the
    # first line, or after it, while the rest is still being written.
    argv = _command("predict", model, *[picture] * 2000)
    for early in (True, False):
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path)
        if not early:
            assert p.stdout.readline().split() == [b"probability", b"label", b"class", b"file"]
        p.stdout.close()
        err = p.stderr.read().decode()
        assert p.wait(timeout=120) == 0, err
        assert err == ""


# --------------------------------------------------------------------------
# Item 8: rough edges
# --------------------------------------------------------------------------

@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process is POSIX")
def test_ctrl_c_during_training_saves_the_parameters_reached(tmp_path, dnn_cli):
    out_dir = tmp_path / "run"
    # A shell's background job starts with SIGINT ignored, and Python then
    # installs no KeyboardInterrupt handler: give the child the default back.
    p = subprocess.Popen(_command("train", "--iterations", 10_000_000, "--out", out_dir, "--quiet"),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    watchdog = threading.Timer(120, p.kill)   # the test fails, it never hangs
    watchdog.start()
    try:
        assert p.stdout.readline().startswith(b"data:")
        assert p.stdout.readline().startswith(b"network:")
        time.sleep(1.0)                      # training is under way
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=120)
    finally:
        watchdog.cancel()
        p.kill()
        p.wait()
    err = err.decode()
    assert p.returncode == 130, err
    assert "Traceback" not in err
    line = dnn_cli.one_line(err)
    assert "interrupted after" in line and "of 10000000 iterations; saved" in line
    done = int(line.split("interrupted after ")[1].split()[0])
    assert 0 < done < 10_000_000
    model = load_model(out_dir / "model.npz")
    assert model.metadata["interrupted_after"] == done
    assert json.loads((out_dir / "metrics.json").read_text())["interrupted_after"] == done


def test_a_truncated_picture_is_reported_and_the_others_labelled(tmp_path, dnn_cli):
    model = _model(tmp_path)
    pictures = _pictures(tmp_path / "pics", n=3)
    raw = (pictures / "cat1.png").read_bytes()
    (pictures / "cat1.png").write_bytes(raw[:len(raw) // 2])
    code, out, err = dnn_cli.run(["predict", model, pictures])
    assert code == 1
    assert "cat1.png" in dnn_cli.one_line(err)
    rows = out.strip().splitlines()
    assert rows[0].split() == ["probability", "label", "class", "file"]
    assert [Path(r.split()[-1]).name for r in rows[1:]] == ["dog0.png", "dog2.png"]


def test_empty_layers_is_refused(dnn_cli):
    code, out, err = dnn_cli.run(["train", "--layers", ""])
    assert code == 2 and "at least one hidden layer" in dnn_cli.one_line(err)


def test_a_rerun_leaves_no_stale_plot(tmp_path, dnn_cli, monkeypatch):
    out_dir = tmp_path / "run"
    out_dir.mkdir()
    (out_dir / "mislabeled.png").write_bytes(b"an earlier run's")
    import dnn.plotting
    monkeypatch.setattr(dnn.plotting, "plot_mislabeled_images", lambda *a, **k: None)
    code, out, err = dnn_cli.run(["train", "--iterations", 3, "--out", out_dir, "--quiet"])
    assert code == 0, err
    assert not (out_dir / "mislabeled.png").exists()
    assert "mislabeled.png" not in out


def test_a_diverging_run_is_warned_about(tmp_path, dnn_cli):
    code, out, err = dnn_cli.run(["train", "--iterations", 40, "--cost-every", 10, "--learning-rate", 50,
                                  "--out", tmp_path / "run", "--quiet"])
    assert code == 0
    assert "warning: the cost did not go down" in dnn_cli.one_line(err)
    code, out, err = dnn_cli.run(["train", "--iterations", 40, "--cost-every", 10, "--learning-rate", 0.05,
                                  "--out", tmp_path / "run2", "--quiet"])
    assert code == 0 and err == ""


def test_a_run_diverging_to_inf_fails_with_one_line(tmp_path, dnn_cli):
    # The weights overflow: no model can be saved or scored (it ended in a traceback). The
    # library's own RuntimeWarning would be a second, untidy line: the command keeps it quiet.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code, out, err = dnn_cli.run(["train", "--iterations", 50, "--learning-rate", 1e300,
                                      "--out", tmp_path / "run", "--quiet"])
    assert not [w for w in caught if "diverged" in str(w.message)]
    assert code == 1
    assert "training diverged: the weights are not finite" in err.strip().splitlines()[-1]
    assert "Traceback" not in err
    assert not (tmp_path / "run" / "model.npz").exists()


def test_final_cost_is_the_cost_of_the_saved_parameters(tmp_path, dnn_cli):
    out_dir = tmp_path / "run"
    code, out, err = dnn_cli.run(["train", "--iterations", 25, "--cost-every", 10, "--out", out_dir,
                                  "--quiet"])
    assert code == 0, err
    metrics = json.loads((out_dir / "metrics.json").read_text())
    assert len(metrics["costs"]) == 3           # iterations 0, 10, 20
    model = load_model(out_dir / "model.npz")
    x, y, _, _, _ = dnn.load_builtin()
    AL, _ = dnn.L_model_forward(dnn.flatten_images(x, np.float64), model.parameters)
    assert metrics["final_cost"] == pytest.approx(float(dnn.compute_cost(AL, y.reshape(1, -1))), rel=1e-12)
    assert metrics["final_cost"] != metrics["costs"][-1]
    assert "final cost %.6f after 25 iterations" % metrics["final_cost"] in out


@pytest.mark.skipif(sys.platform != "linux", reason="file names of any bytes: Linux")
def test_predict_prints_a_file_name_its_stdout_cannot_encode(tmp_path, dnn_cli):
    # b"\xff" is no UTF-8: Python names the file with a lone surrogate, which a
    # strict UTF-8 stdout (pytest's, a usual desktop locale's) cannot encode.
    folder = tmp_path / "pics"
    folder.mkdir()
    Image.new("RGB", (8, 8)).save(os.fsdecode(os.fsencode(str(folder)) + b"/\xffcat.png"), "PNG")
    code, out, err = dnn_cli.run(["predict", _model(tmp_path), folder])
    assert code == 0 and "Traceback" not in err, err
    assert out.splitlines()[1].endswith("\\udcffcat.png")


def test_model_repr_is_short(tmp_path):
    model = load_model(_model(tmp_path, size=32))
    text = repr(model)
    assert len(text) < 200 and "array" not in text
    assert text.startswith("Model(layer_dims=[3072, 3, 1], dtype=float64")


# --------------------------------------------------------------------------
# Fuzz findings: sizes without bounds, checks that came after training,
# special files, outputs that are not finite
# --------------------------------------------------------------------------

@pytest.mark.parametrize("argv, message", [
    (["--seed", 2**32], "argument --seed: must be <= 4294967295, got 4294967296"),
    (["--iterations", 10**20], "argument --iterations: must be <= 9223372036854775807"),
    (["--epochs", 2**63], "argument --epochs: must be <= 9223372036854775807"),
    (["--cost-every", 2**64], "argument --cost-every: must be <= 9223372036854775807"),
    (["--image-size", 30000], "argument --image-size: 30000x30000 is 900000000 pixels, more than "
                              "Pillow's MAX_IMAGE_PIXELS"),
    (["--layers", ",".join(["1"] * 1000)], "--layers: a model file holds at most 1000 layers, so at "
                                           "most 999 hidden ones; got 1000"),
])
def test_values_past_what_the_run_takes_are_refused_by_the_parser(tmp_path, dnn_cli, argv, message):
    # --seed and --iterations ended in a traceback (ValueError, OverflowError), --image-size 30000
    # tried 201 GiB, and 1000 hidden layers trained, then failed in save_model.
    code, out, err = dnn_cli.run(["train", "--train", _pictures(tmp_path / "a"), "--test",
                                  _pictures(tmp_path / "b"), "--iterations", 1, "--out", tmp_path / "run",
                                  "--quiet"] + argv)
    assert code == 2 and message in dnn_cli.one_line(err)
    assert out == "" and not (tmp_path / "run").exists()


def test_a_network_larger_than_a_model_file_is_refused_before_training(tmp_path, dnn_cli, monkeypatch):
    # --layers 1000000 made W1 of 12.9 GiB (a MemoryError traceback, or the OOM killer);
    # a model file holds MAX_TOTAL_BYTES of weights: here 1 MB, so that nothing large is tried.
    from dnn import model_io
    monkeypatch.setattr(model_io, "MAX_TOTAL_BYTES", 10**6)
    code, out, err = dnn_cli.run(["train", "--layers", 1000, "--iterations", 1, "--out", tmp_path / "run",
                                  "--quiet"])
    assert code == 1 and out == ""
    line = dnn_cli.one_line(err)
    assert "a network of 1728-1000-1 has 1730001 weights" in line and "use a smaller --layers" in line
    assert not (tmp_path / "run").exists()


def test_a_seed_the_epochs_shuffles_would_overflow_is_one_line_before_anything_is_written(tmp_path, dnn_cli):
    # dnn.model refuses seed + num_epochs past 2**32 - 1; the parser takes any seed below 2**32.
    out = tmp_path / "run"
    code, _, err = dnn_cli.run(["train", "--train", _pictures(tmp_path / "a"), "--test", _pictures(tmp_path / "b"),
                                "--optimizer", "adam", "--epochs", 2, "--seed", 2**32 - 1, "--out", out, "--quiet"])
    assert code == 2 and dnn_cli.one_line(err) == (
        "dnn: error: --seed 4294967295 with --epochs 2: epoch i shuffles with seed + 1 + i, which must stay "
        "below 2**32")
    assert not out.exists()


def test_a_run_larger_than_memory_is_refused_before_it_allocates(tmp_path, dnn_cli, monkeypatch):
    from dnn import cli, data
    loaded = []
    monkeypatch.setattr(data, "load_folder", lambda *a, **k: loaded.append(a) or 1 / 0)
    monkeypatch.setattr(cli, "_memory_limit", lambda: 10 * 2**20)
    # 12 pictures of 400x400: 5.8 MB of pixels as read, 11.5 MB of X; refused before one is read.
    code, out, err = dnn_cli.run(["train", "--train", _pictures(tmp_path / "a"), "--test",
                                  _pictures(tmp_path / "b"), "--image-size", 400, "--out", tmp_path / "run",
                                  "--quiet"])
    assert code == 1 and loaded == []
    line = dnn_cli.one_line(err)
    assert "training 480000-20-7-5-1 on 6 + 6 pictures needs about" in line
    assert "more than the 10 MiB this process may use" in line and "--image-size" in line
    # dnn info --plan measures a plan on synthetic data of that shape (40000,40000,1: 11.9 GiB).
    code, out, err = dnn_cli.run(["info", "--plan", "2000,2000,1", "--m", 1, "--batch-size", 1])
    assert code == 1 and "--plan: measuring the plan of 2000,2000,1 on 1 examples needs about 122 MiB" \
        in dnn_cli.one_line(err)


def test_what_save_model_would_refuse_is_refused_before_training(tmp_path, dnn_cli):
    # A class name of 2000 characters trained, then failed in save_model with a traceback.
    h5py = pytest.importorskip("h5py")
    for split, m in (("train", 6), ("test", 2)):
        with h5py.File(tmp_path / ("%s.h5" % split), "w") as f:
            f["%s_set_x" % split] = np.zeros((m, 2, 2, 3), np.uint8)
            f["%s_set_y" % split] = np.arange(m) % 2
            f["list_classes"] = np.array([b"x" * 2000, b"cat"])
    code, out, err = dnn_cli.run(["train", "--train", tmp_path / "train.h5", "--test", tmp_path / "test.h5",
                                  "--iterations", 1, "--out", tmp_path / "run", "--quiet"])
    assert code == 1 and out == ""
    assert "this run's model could not be saved: class names are at most 1024 characters" \
        in dnn_cli.one_line(err)
    assert not (tmp_path / "run").exists()


def test_out_of_memory_is_one_line(tmp_path, dnn_cli, monkeypatch):
    from dnn import cli

    def load(args):
        raise MemoryError("Unable to allocate 201. GiB for an array with shape (20, 30000, 30000, 3)")
    monkeypatch.setattr(cli, "_load_training_data", load)
    code, out, err = dnn_cli.run(["train", "--out", tmp_path / "run", "--quiet"])
    assert code == 1
    assert dnn_cli.one_line(err) == ("dnn: error: out of memory: Unable to allocate 201. GiB for an array "
                                     "with shape (20, 30000, 30000, 3)")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs: POSIX")
def test_train_on_a_fifo_is_refused_unopened(tmp_path):
    # _is_hdf5 opened --train to read its signature: a FIFO with no writer waited for ever.
    fifo = tmp_path / "data.h5"
    os.mkfifo(fifo)
    # (cwd: not the checkout, whose dnn/ would shadow the installed package)
    res = subprocess.run(_command("train", "--train", fifo, "--test", fifo, "--out", tmp_path / "run"),
                         capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert res.stderr.strip() == "dnn: error: %s is a FIFO, not a folder of pictures or an HDF5 file" % fifo
    folder = _pictures(tmp_path / "pics")
    res = subprocess.run(_command("train", "--train", folder, "--test", fifo, "--out", tmp_path / "run"),
                         capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert res.returncode == 2 and "is a FIFO" in res.stderr


def test_predict_never_labels_an_output_that_is_not_finite(tmp_path, dnn_cli):
    # Finite weights pass load_model's checks, yet 1e308 * 0.5 * 12 overflows: inf - inf = nan,
    # which `dnn predict` printed as "nan  0  non-cat" (exit 0), a confident label.
    big = np.full((2, 12), 1e308)
    folder = tmp_path / "pics"
    folder.mkdir()
    Image.new("RGB", (2, 2), (200, 10, 10)).save(folder / "bright.png")
    Image.new("RGB", (2, 2), (0, 0, 0)).save(folder / "black.png")   # 0 * 1e308: finite
    for name, W2, first in (("sigmoid.npz", [[1e308, -1e308]], ["0.5000", "0", "non-cat"]),
                            ("softmax.npz", [[1e308, -1e308], [1, 1], [0, 0]], ["0.3333", "0", "x"])):
        W2 = np.array(W2, dtype=np.float64)
        path = save_model(tmp_path / name, {"W1": big, "b1": np.zeros((2, 1)), "W2": W2,
                                            "b2": np.zeros((len(W2), 1))}, image_shape=(2, 2, 3),
                          classes=("non-cat", "cat") if len(W2) == 1 else ("x", "y", "z"))
        code, out, err = dnn_cli.run(["predict", path, folder])
        assert code == 1
        assert dnn_cli.one_line(err) == ("dnn: error: %s: the model's output is not finite (nan or inf) "
                                         "for this picture: its weights overflow; no label"
                                         % (folder / "bright.png"))
        rows = out.strip().splitlines()
        assert len(rows) == 2 and rows[1].split() == first + [str(folder / "black.png")]
        code, out, err = dnn_cli.run(["predict", "--json", path, folder / "bright.png"])
        assert code == 1 and out == "" and "not finite" in dnn_cli.one_line(err)


def test_divergence_with_l2_names_l2_in_one_line(tmp_path, dnn_cli):
    # --l2 1e308 printed a RuntimeWarning and its source line, then blamed --learning-rate.
    code, out, err = dnn_cli.run(["train", "--iterations", 2, "--l2", 1e308, "--out", tmp_path / "run",
                                  "--quiet"])
    assert code == 1
    assert dnn_cli.one_line(err) == ("dnn: error: training diverged: the weights are not finite (inf or "
                                     "nan) after 2 epochs at learning rate 0.0075, L2 1e+308; nothing "
                                     "was written (try a smaller --l2 or --learning-rate)")
    # One epoch: the weights are still finite, but the outputs are nan (the final cost was a
    # ValueError traceback, the accuracy would have counted nan as label 0).
    code, out, err = dnn_cli.run(["train", "--iterations", 1, "--l2", 1e308, "--out", tmp_path / "run",
                                  "--quiet"])
    assert code == 1
    assert dnn_cli.one_line(err) == ("dnn: error: training diverged: the network's outputs on the training "
                                     "set are not finite (inf or nan) after 1 epochs at learning rate "
                                     "0.0075, L2 1e+308; nothing was written (try a smaller --l2 or "
                                     "--learning-rate)")
    assert not (tmp_path / "run" / "model.npz").exists()

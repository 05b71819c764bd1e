"""What a fourth fuzzing round found, each fixed: a hostile or foreign wisdom file, a plan entry
no measurement would give, a link loop in a picture folder, a regressor's non-numeric target,
and a test folder labelled by its own classes instead of the training folder's."""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image

import dnn
from dnn import _loop_plan, _plan, _train
from dnn import data as dnn_data


# --------------------------------------------------------------------------
# The wisdom file: read with a bound, never waited on, never written over unless ours
# --------------------------------------------------------------------------

class _Kept(str):
    """A decision as ``_plan.decide`` keeps one: it writes ``to_dict()``."""

    def to_dict(self):
        return {"who": str(self)}


def _decide(key="k"):
    """``_plan.decide`` of a key whose measurement says "measured"."""
    return _plan.decide(key, lambda d: _Kept(d["who"]), lambda: _Kept("measured"))


def test_a_wisdom_file_nested_past_the_parsers_depth_is_not_ours(wisdom):
    wisdom.write_text("[" * 200_000)
    with pytest.warns(RuntimeWarning, match="is not JSON"):
        assert _decide() == "measured"  # no RecursionError
    assert wisdom.read_text() == "[" * 200_000


def test_a_wisdom_file_is_read_with_a_bound_whatever_its_size_says(wisdom, monkeypatch):
    wisdom.write_text(json.dumps({"format": "dnn-wisdom-1", "plans": {"k": {"who": "file"}}}))
    assert _decide() == "file"
    _plan.forget()
    monkeypatch.setattr(_plan, "_WISDOM_MAX_BYTES", 16)  # the same file, now over the bound
    with pytest.warns(RuntimeWarning, match="is larger than"):
        assert _decide() == "measured"
    assert json.loads(wisdom.read_text())["plans"] == {"k": {"who": "file"}}  # left as it was


_DECIDE_IN_A_CHILD = textwrap.dedent("""
    import resource, warnings
    from dnn import _plan
    with open("/proc/self/statm") as f:  # a regression fails with MemoryError, not a full machine
        cap = int(f.read().split()[0]) * resource.getpagesize() + (1 << 30)
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    class Kept(str):
        def to_dict(self):
            return {"who": str(self)}
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        print(_plan.decide("a key", lambda d: Kept(d["who"]), lambda: Kept("measured")))
    print(*[str(w.message) for w in seen], sep="\\n")
""")


def _decide_in_a_child(wisdom_path, cwd):
    """``_decide`` in a child process under an address-space cap and a time limit: what it printed."""
    env = dict(os.environ, DNN_WISDOM=str(wisdom_path))
    done = subprocess.run([sys.executable, "-c", _DECIDE_IN_A_CHILD], capture_output=True, text=True,
                          timeout=120, cwd=cwd, env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.skipif(not os.path.exists("/dev/zero") or not sys.platform.startswith("linux"),
                    reason="needs /dev/zero and /proc (Linux)")
def test_a_device_as_the_wisdom_file_is_not_read(tmp_path):
    out = _decide_in_a_child("/dev/zero", tmp_path)  # endless: reading it would fill the memory
    assert out.startswith("measured\n") and "/dev/zero is not a regular file" in out


@pytest.mark.skipif(not hasattr(os, "mkfifo") or not sys.platform.startswith("linux"),
                    reason="needs os.mkfifo and /proc (Linux)")
@pytest.mark.parametrize("fifo", ["wisdom.json", "wisdom.json.lock"])
def test_a_fifo_as_the_wisdom_file_or_its_lock_is_never_waited_on(tmp_path, fifo):
    """Opening a FIFO waits for a writer that never comes: a hang, in a child here (timed out)."""
    os.mkfifo(tmp_path / fifo)
    out = _decide_in_a_child(tmp_path / "wisdom.json", tmp_path)
    assert out.startswith("measured\n")
    assert ("is not a regular file" in out) == (fifo == "wisdom.json")


def test_a_read_that_fails_once_is_tried_again_under_the_lock(wisdom, monkeypatch):
    """A moment's failure (another process's replace on Windows, a scanner holding the file) is
    not taken for a file of another kind: the decision is still measured under the lock, the
    file read again there and the decision written, with no warning."""
    wisdom.write_text(json.dumps({"format": "dnn-wisdom-1", "plans": {"other": {"who": "file"}}}))
    real, calls = _plan.open_regular, []

    def flaky(path, flags):
        calls.append(path)
        if len(calls) == 1:
            raise PermissionError(13, "Permission denied", path)
        return real(path, flags)

    monkeypatch.setattr(_plan, "open_regular", flaky)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _decide() == "measured"
    assert str(wisdom) + ".lock" in calls  # the lock was taken
    assert json.loads(wisdom.read_text())["plans"] == {"other": {"who": "file"}, "k": {"who": "measured"}}


def test_the_file_is_kept_under_its_bound_by_dropping_its_oldest_entries(wisdom, monkeypatch):
    monkeypatch.setattr(_plan, "_WISDOM_MAX_BYTES", 600)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # never "larger than": the writer keeps to the reader's bound
        for i in range(40):
            assert _decide("key %02d" % i) == "measured"
            assert len(wisdom.read_bytes()) <= 600
    kept = list(json.loads(wisdom.read_text())["plans"])
    assert kept[-1] == "key 39" and "key 00" not in kept and len(kept) > 3
    assert kept == sorted(kept)  # the oldest went first


def test_the_temporary_file_is_new_never_one_already_there(wisdom, monkeypatch):
    """A link (or FIFO) at the temporary name is not written through (or waited on)."""
    victim = wisdom.parent / "victim.txt"
    victim.write_text("not yours")
    names = iter([b"\x00" * 4, b"\x01" * 4])
    monkeypatch.setattr(_plan.os, "urandom", lambda n: next(names))
    taken = "%s.%d.%s.tmp" % (wisdom, os.getpid(), "00000000")
    if sys.platform != "win32":
        os.symlink(victim, taken)
    else:
        open(taken, "w").close()
    assert _decide() == "measured"
    assert victim.read_text() == "not yours"
    assert json.loads(wisdom.read_text())["plans"] == {"k": {"who": "measured"}}
    assert not os.path.exists("%s.%d.%s.tmp" % (wisdom, os.getpid(), "01010101"))  # replaced the file


def test_the_null_device_switches_the_wisdom_file_off(monkeypatch):
    monkeypatch.setenv("DNN_WISDOM", os.devnull)
    assert _plan.wisdom_path() is None


def test_a_file_that_is_not_a_wisdom_file_is_never_written_over(wisdom):
    wisdom.write_text("my notes\n")
    with pytest.warns(RuntimeWarning, match="is not JSON.*left as it is"):
        assert _decide() == "measured"
    assert wisdom.read_text() == "my notes\n"
    assert sorted(p.name for p in wisdom.parent.iterdir()) == ["wisdom.json"]  # no lock left beside it


# --------------------------------------------------------------------------
# Entries: exactly the types written, and only a plan this fit could have been given
# --------------------------------------------------------------------------

@pytest.fixture
def two_core_avx512(monkeypatch):
    """The planners as on a 2-core AVX-512 machine, where both have several candidates for the
    networks below (their keys and candidates follow ``_plan.cores`` and the SIMD build): the
    tests of what the wisdom file may hold then run, not skip, on every machine."""
    monkeypatch.setattr(_plan, "cores", lambda: 2)
    monkeypatch.setattr(_train, "simd_kernels", lambda: "avx512")


def _entry(wisdom, key, entry):
    wisdom.write_text(json.dumps({"format": "dnn-wisdom-1", "plans": {key: entry}}))
    _plan.forget()


DIMS, M, N = (40, 24, 12, 1), 600, _plan.PLAN_MIN_ITERATIONS


def _full_batch_key():
    plans = _plan.candidates(DIMS, M, np.float64, N)
    return plans, _plan.plan_key(DIMS, M, np.float64, plans[0].gram, plans[0].shards, _plan.cores(),
                                 _train.simd_kernels())


@pytest.mark.parametrize("entry", [
    {"own": [0, 0, 0], "shards": float("inf"), "gram": False, "samples_major": False},  # OverflowError in int()
    {"own": [0, 0, 0], "shards": 1, "gram": "false", "samples_major": False},  # bool("false") is True
    {"own": [0, 0, 0], "shards": 1.0, "gram": False, "samples_major": False},
    {"own": ["0", 0, 0], "shards": 1, "gram": False, "samples_major": False},
    {"own": [0, 0, 0], "shards": True, "gram": False, "samples_major": False},
    {"own": [0, 0, 0], "shards": 1, "gram": True, "samples_major": False},  # the Gram form forced on
])
def test_a_full_batch_entry_of_other_types_or_no_candidate_is_refused(wisdom, two_core_avx512, entry):
    plans, key = _full_batch_key()
    assert len(plans) > 1  # else nothing is read from the file
    _entry(wisdom, key, entry)
    assert _plan.plan_for(DIMS, M, np.float64, N) is None  # refused: a fit measures again


def test_a_full_batch_entry_that_is_a_candidate_is_kept(wisdom, two_core_avx512):
    plans, key = _full_batch_key()
    assert len(plans) > 1  # else nothing is read from the file
    _entry(wisdom, key, plans[-1].to_dict())
    got = _plan.plan_for(DIMS, M, np.float64, N)
    assert got == plans[-1] and got.source == "wisdom"


def test_a_gram_form_forced_by_the_file_is_never_run(wisdom, two_core_avx512):
    """The entry that would make an (m, m) X^T X for a fit whose key says no Gram form: the fit
    measures its own candidates instead (none has the Gram form), and gives their numbers."""
    plans, key = _full_batch_key()
    assert len(plans) > 1 and not any(p.gram for p in plans)
    _entry(wisdom, key, {"own": [0] * (len(DIMS) - 1), "shards": 1, "gram": True, "samples_major": False})
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((DIMS[0], M)), (rng.random((1, M)) < 0.5).astype(float)
    dnn.L_layer_model(X, Y, list(DIMS), 0.05, N)
    assert not _plan.plan_for(DIMS, M, np.float64, N).gram


def _minibatch_key():
    dims, batch = (784, 64, 10), 64
    plans = _loop_plan.candidates(dims, batch, np.float64)
    return dims, batch, plans, _loop_plan.plan_key(dims, batch, np.float64, True, _plan.cores(),
                                                   _train.simd_kernels())


@pytest.mark.parametrize("change", [
    {"threads": float("inf")}, {"threads": 1.0}, {"threads": "2"}, {"numpy_blas": "0"}, {"numpy_blas": 2},
    {"products": {"ab": 1, "cd": 2}}, {"products": [[2, 1], [1, 1]]}, {"products": [[True, 1], [1, 1]]},
])
def test_a_minibatch_entry_of_other_types_is_refused(wisdom, two_core_avx512, change):
    dims, batch, plans, key = _minibatch_key()
    assert len(plans) > 1  # else nothing is read from the file
    _entry(wisdom, key, dict(plans[0].to_dict(), **change))
    assert _loop_plan.plan_for(dims, batch, np.float64, _loop_plan.MIN_BATCHES) is None


def test_a_minibatch_entry_no_candidate_has_is_refused_and_a_candidate_is_kept(wisdom, two_core_avx512):
    dims, batch, plans, key = _minibatch_key()
    assert len(plans) > 1  # else nothing is read from the file
    codes = {(p.products, p.numpy_blas) for p in plans}
    other = next(((a, b), (c, d)) for a in (0, 1) for b in (0, 1) for c in (0, 1) for d in (0, 1)
                 if (a or not b) and (((bool(a), bool(b)), (bool(c), bool(d))), False) not in codes)
    _entry(wisdom, key, {"products": [list(p) for p in other], "threads": 1, "numpy_blas": 0})
    assert _loop_plan.plan_for(dims, batch, np.float64, _loop_plan.MIN_BATCHES) is None
    _entry(wisdom, key, plans[-1].to_dict())
    got = _loop_plan.plan_for(dims, batch, np.float64, _loop_plan.MIN_BATCHES)
    assert (got.products, got.numpy_blas) == (plans[-1].products, plans[-1].numpy_blas)


# --------------------------------------------------------------------------
# Pictures, targets, labels
# --------------------------------------------------------------------------

def _picture(path, colour=(10, 20, 30)):
    Image.new("RGB", (8, 8), colour).save(path)


@pytest.mark.skipif(sys.platform == "win32", reason="symbolic links need privileges on Windows")
def test_a_link_loop_in_a_picture_folder_is_passed_over_as_a_dangling_link(tmp_path):
    folder = tmp_path / "train"
    folder.mkdir()
    _picture(folder / "cat.1.png")
    _picture(folder / "noncat.1.png", (200, 0, 0))
    os.symlink(folder / "cat.b.png", folder / "cat.a.png")
    os.symlink(folder / "cat.a.png", folder / "cat.b.png")
    os.symlink(folder / "nowhere.png", folder / "cat.c.png")
    os.symlink(tmp_path / "loop2", tmp_path / "loop1")  # a class-folder candidate in a loop
    os.symlink(tmp_path / "loop1", tmp_path / "loop2")
    assert dnn_data.list_images(folder) == ["cat.1.png", "noncat.1.png"]
    assert dnn_data.folder_layout(folder) == "prefix"
    x, y, names, classes = dnn_data.load_folder(folder, 8)
    assert names == ["cat.1.png", "noncat.1.png"] and y.tolist() == [[1.0, 0.0]]
    assert dnn_data.folder_layout(tmp_path) == "subfolders"  # train/, the looped links passed over
    from dnn.cli import _count_pictures  # what `dnn train` counts before it loads

    assert _count_pictures(tmp_path) == 2


class _Entry:
    """A folder entry whose type cannot be told, for the error it raises."""

    def __init__(self, err):
        self.err = err

    def is_file(self):
        raise OSError(self.err, os.strerror(self.err))

    is_dir = is_file


def test_only_links_that_lead_nowhere_are_passed_over():
    import errno

    for err in (errno.ELOOP, errno.ENOENT, errno.ENOTDIR, errno.ENAMETOOLONG):
        assert not dnn_data._entry_is(_Entry(err), "file") and not dnn_data._entry_is(_Entry(err), "dir")
    for err in (errno.EACCES, errno.EIO):  # a folder the user may not read: said, not skipped
        for kind in ("file", "dir"):
            with pytest.raises(OSError):
                dnn_data._entry_is(_Entry(err), kind)


@pytest.mark.filterwarnings("ignore:Stochastic Optimizer:Warning")  # 2 epochs: not converged, as meant
@pytest.mark.parametrize("y", [
    np.array(["2020-01-01"] * 5 + ["NaT"], dtype="datetime64[s]"),
    np.arange(6).astype("timedelta64[s]"),
    np.array(["1", "0"] * 3),
])
def test_a_regressor_refuses_targets_that_are_not_numbers(y):
    X = np.random.default_rng(0).standard_normal((6, 3))
    with pytest.raises(TypeError, match=r"y must be an array of real numbers, got an array of dtype"):
        dnn.DNNRegressor(max_iter=2).fit(X, y)
    dnn.DNNRegressor(max_iter=2).fit(X, np.array([1, 0, 1, 0, 1, 0], dtype=object))  # numbers as objects: taken


def test_load_image_labels_the_test_folder_by_the_training_folders_classes(tmp_path):
    for split, classes in (("train", ["apple", "fig", "kiwi", "pear"]), ("test", ["apple", "kiwi", "pear"])):
        for i, c in enumerate(classes):
            (tmp_path / split / c).mkdir(parents=True)
            _picture(tmp_path / split / c / ("%s1.png" % c), (10 * i, 0, 0))
    _, train_y, _, test_y = dnn.load_image(tmp_path / "train", tmp_path / "test", size=8)
    assert train_y.tolist() == [[0, 1, 2, 3]]
    assert test_y.tolist() == [[0, 2, 3]]  # apple, kiwi, pear as in training (not 0, 1, 2)
    (tmp_path / "test" / "plum").mkdir()
    _picture(tmp_path / "test" / "plum" / "plum1.png")
    with pytest.raises(ValueError, match="plum"):
        dnn.load_image(tmp_path / "train", tmp_path / "test", size=8)
    for c in ("apple", "kiwi", "plum"):  # a test folder of one of the classes
        for f in (tmp_path / "test" / c).iterdir():
            f.unlink()
    assert dnn.load_image(tmp_path / "train", tmp_path / "test", size=8)[3].tolist() == [[3]]


def test_load_image_refuses_a_test_folder_of_other_classes_than_two_of_training(tmp_path):
    for split, classes in (("train", ["cat", "dog"]), ("test", ["bird", "cat", "dog"])):
        for i, c in enumerate(classes):
            (tmp_path / split / c).mkdir(parents=True)
            _picture(tmp_path / split / c / ("%s1.png" % c), (10 * i, 0, 0))
    with pytest.raises(ValueError, match=r"holds the classes bird, cat, dog, .* the classes dog, cat"):
        dnn.load_image(tmp_path / "train", tmp_path / "test", size=8)
    (tmp_path / "test" / "bird" / "bird1.png").unlink()
    _, train_y, _, test_y = dnn.load_image(tmp_path / "train", tmp_path / "test", size=8)
    assert train_y.tolist() == test_y.tolist() == [[1, 0]]  # cat the positive class in both


_TRIMMED = textwrap.dedent("""
    import gc, os, numpy as np, dnn
    from dnn import _kernels
    rss = lambda: int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    rng = np.random.default_rng(0)
    P = dnn.initialize_parameters_deep([256, 256, 128, 1])
    X, Y = rng.standard_normal((256, 1024)), (rng.random((1, 1024)) > 0.5).astype(float)
    for i in range(160):  # results of 60 shapes: the pool fills with arrays of a few hundred KiB
        m = 512 + 8 * (i % 60)
        AL, caches = dnn.L_model_forward(X[:, :m], P)
        P = dnn.update_parameters(P, dnn.L_model_backward(AL, Y[:, :m], caches), 0.001)
        del AL, caches
    gc.collect()
    before, pooled = rss(), _kernels._pool_state()[0]
    dnn.release_buffers()
    print(pooled, before - rss())
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RSS from /proc, malloc_trim from glibc")
def test_release_buffers_gives_the_memory_back_to_the_system(tmp_path):
    import ctypes

    try:
        ctypes.CDLL(None).malloc_trim
    except AttributeError:
        pytest.skip("a C library without malloc_trim (not glibc)")
    done = subprocess.run([sys.executable, "-c", _TRIMMED], capture_output=True, text=True, timeout=300,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    pooled, dropped = map(int, done.stdout.split())
    assert pooled > 64 << 20
    assert dropped > pooled // 2  # freed arrays left in glibc's heap: a tenth of it came back


def test_a_model_file_under_a_regular_file_is_not_found(tmp_path):
    (tmp_path / "a").write_text("x")
    with pytest.raises(FileNotFoundError, match="no such model file"):
        dnn.load_model(tmp_path / "a" / "model.npz")  # ENOTDIR, as data's loaders take it

"""Model files: round trips, and every kind of broken or hostile file rejected with a ValueError."""
import io
import json
import zipfile

import numpy as np
import pytest

import dnn
from dnn.model_io import FORMAT_VERSION, Model, load_model, save_model


def _parameters(dims=(12, 4, 3, 1), dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    p = {}
    for l in range(1, len(dims)):
        p["W%d" % l] = rng.standard_normal((dims[l], dims[l - 1])).astype(dtype)
        p["b%d" % l] = rng.standard_normal((dims[l], 1)).astype(dtype)
    return p


@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "model.npz"
    save_model(path, _parameters(), image_shape=(2, 2, 3), classes=(b"non-cat", "cat"),
               metadata={"learning_rate": 0.0075, "note": "x"})
    return path


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_round_trip(tmp_path, dtype):
    params = _parameters(dtype=dtype)
    path = save_model(tmp_path / "m.npz", params, image_shape=(2, 2, 3), classes=("no", "yes"),
                      metadata={"a": [1, 2]})
    model = load_model(path)
    assert isinstance(model, Model)
    assert model.layer_dims == [12, 4, 3, 1]
    assert model.activations == ("relu", "relu", "sigmoid")
    assert model.dtype == np.dtype(dtype)
    assert model.image_shape == (2, 2, 3)
    assert model.classes == ("no", "yes")
    assert model.metadata == {"a": [1, 2]}
    assert model.format_version == FORMAT_VERSION
    assert set(model.parameters) == set(params)
    for k in params:
        assert model.parameters[k].dtype == np.dtype(dtype)
        np.testing.assert_array_equal(model.parameters[k], params[k])


def test_same_model_same_bytes_and_plain_npz(tmp_path):
    a = save_model(tmp_path / "a.npz", _parameters())
    b = save_model(tmp_path / "b.npz", _parameters())
    assert a.read_bytes() == b.read_bytes()
    with np.load(a, allow_pickle=False) as f:
        assert str(f["format"]) == "dnn-model"
        assert f["layer_dims"].tolist() == [12, 4, 3, 1]
    assert load_model(a).image_shape is None


def test_predict_matches_the_forward_pass(saved):
    model = load_model(saved)
    X = np.random.default_rng(3).random((12, 7))
    AL, _ = dnn.L_model_forward(X, model.parameters)
    np.testing.assert_array_equal(model.predict_proba(X), AL)
    np.testing.assert_array_equal(model.predict(X), (AL > 0.5).astype(float))
    with pytest.raises(ValueError, match=r"\(12, m\)"):
        model.predict(np.zeros((5, 2)))


@pytest.mark.parametrize("change, match", [
    (lambda p: p.pop("b2"), r"W1..WL and b1..bL .*'b3'\]"),
    (lambda p: p.update(W2=p["W2"].astype(np.float32)), "float32 or all float64"),
    (lambda p: p.update(W2=p["W2"].T), "W2"),
    (lambda p: p.update(b1=np.full((4, 1), np.nan)), "finite"),
])
def test_save_rejects_bad_parameters(tmp_path, change, match):
    params = _parameters()
    change(params)
    with pytest.raises((ValueError, TypeError, KeyError), match=match):
        save_model(tmp_path / "m.npz", params)
    assert not list(tmp_path.iterdir())


def test_save_rejects_bad_descriptions(tmp_path):
    # Two output units are a softmax network (as dnn.L_model_forward infers), never a sigmoid one.
    with pytest.raises(ValueError, match="one unit"):
        save_model(tmp_path / "m.npz", _parameters(dims=(3, 2)), output="sigmoid")
    with pytest.raises(ValueError, match="at least 2 units"):
        save_model(tmp_path / "m.npz", _parameters(), output="softmax")
    with pytest.raises(ValueError, match="hidden_activation must be one of"):
        save_model(tmp_path / "m.npz", _parameters(), hidden_activation="gelu")
    with pytest.raises(ValueError, match="output must be one of"):
        save_model(tmp_path / "m.npz", _parameters(), output="linear")
    with pytest.raises(ValueError, match="image_shape"):
        save_model(tmp_path / "m.npz", _parameters(), image_shape=(2, 3, 3))
    with pytest.raises(ValueError, match="two classes"):
        save_model(tmp_path / "m.npz", _parameters(), classes=("a", "b", "c"))
    with pytest.raises(ValueError, match="exactly 3 classes"):
        save_model(tmp_path / "m.npz", _parameters(dims=(4, 3)), classes=("a", "b"))
    with pytest.raises(ValueError, match="no classes"):
        save_model(tmp_path / "m.npz", _parameters(), output="identity", classes=("a", "b"))
    with pytest.raises(TypeError, match="metadata"):
        save_model(tmp_path / "m.npz", _parameters(), metadata=[1])
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("image_shape, error", [
    ((-1, -1, 3), ValueError),           # load_model refused the file written
    ((1.9, 1, 3), TypeError),            # was truncated to (1, 1, 3)
    ((float("inf"), 1, 3), TypeError),   # was an OverflowError
    ((True, True, 3), TypeError),
    (("1", "1", "3"), TypeError),
])
def test_save_refuses_image_shapes_load_model_refuses(tmp_path, image_shape, error):
    with pytest.raises(error, match=r"image_shape must be \(height, width, 3\): positive integers"):
        save_model(tmp_path / "m.npz", _parameters(dims=(3, 2, 1)), image_shape=image_shape)
    assert not list(tmp_path.iterdir())
    # NumPy's integers are integers.
    model = load_model(save_model(tmp_path / "m.npz", _parameters(dims=(3, 2, 1)),
                                  image_shape=np.array([1, 1, 3], dtype=np.int32)))
    assert model.image_shape == (1, 1, 3)


@pytest.mark.parametrize("classes, match", [
    (("a\x00", "a"), "NUL"),       # NumPy strips trailing NULs: it came back as ("a", "a")
    (("x\x00y", "z"), "NUL"),
    (("a", "a"), "twice"),          # DNNClassifier.from_model refuses such a file
    ((b"cat", "cat"), "twice"),
])
def test_save_refuses_class_names_it_cannot_store(tmp_path, classes, match):
    with pytest.raises(ValueError, match="classes .*" + match):
        save_model(tmp_path / "m.npz", _parameters(), classes=classes)
    assert not list(tmp_path.iterdir())


def _nested(levels):
    """A dict nesting ``levels`` deep as JSON (``{}`` is 1), of dicts and lists in turn."""
    inner = {}
    for i in range(levels - 2):
        inner = [inner] if i % 2 == 0 else {"a": inner}
    return {"k": inner}


def test_save_checks_the_metadata_depth_before_serializing(tmp_path):
    # 100000 levels made json.dumps raise RecursionError before the depth was checked.
    for levels in (65, 10 ** 5):
        with pytest.raises(ValueError, match="metadata must be .* nested at most 64 deep"):
            save_model(tmp_path / "m.npz", _parameters(), metadata=_nested(levels))
    assert not list(tmp_path.iterdir())
    path = save_model(tmp_path / "m.npz", _parameters(), metadata=_nested(64))   # as load_model reads
    assert load_model(path).metadata == _nested(64)


def test_save_takes_big_endian_parameters(tmp_path):
    # '>f8' and '>f4' are float64 and float32 elsewhere in dnn; save_model refused them.
    for dtype, native in ((">f8", np.float64), (">f4", np.float32)):
        params = {k: a.astype(dtype) for k, a in _parameters().items()}
        model = load_model(save_model(tmp_path / "m.npz", params))
        assert model.dtype == np.dtype(native)
        for k in params:
            assert params[k].dtype == np.dtype(dtype)   # the caller's arrays are left as they were
            assert model.parameters[k].dtype == np.dtype(native)
            np.testing.assert_array_equal(model.parameters[k], params[k])


def test_save_names_a_parameter_key_that_is_not_a_string(tmp_path):
    # sorted() of mixed keys gave "'<' not supported between instances of 'int' and 'str'".
    params = _parameters()
    params[1] = params["W1"]
    with pytest.raises(TypeError, match="parameters' keys must be strings W1..WL, b1..bL, got 1"):
        save_model(tmp_path / "m.npz", params)
    assert not list(tmp_path.iterdir())


# --------------------------------------------------------------------------
# Broken and hostile files
# --------------------------------------------------------------------------

def _entries(path):
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def _rewrite(path, arrays, out=None, allow_pickle=False):
    out = out or path
    with open(out, "wb") as fh:
        np.savez(fh, **arrays) if not allow_pickle else np.savez(fh, allow_pickle=True, **arrays)
    return out


def _tampered(saved, **changes):
    arrays = _entries(saved)
    for k, v in changes.items():
        if v is None:
            arrays.pop(k)
        else:
            arrays[k] = v
    return _rewrite(saved, arrays)


@pytest.mark.parametrize("changes, match", [
    ({"format": np.array("something-else")}, "format"),
    ({"format": None}, "format"),
    ({"format_version": np.array(FORMAT_VERSION + 1)}, "format version %d" % (FORMAT_VERSION + 1)),
    ({"format_version": np.array(0)}, "format version 0"),
    ({"layer_dims": np.array([12, 4, 3, 2])}, "sigmoid output has one unit"),
    ({"layer_dims": np.array([12, 4, 1])}, "unexpected entries: W3, b3"),
    ({"layer_dims": np.array([12, 5, 3, 1])}, "W1 has shape"),
    ({"dtype": np.array("float16")}, "dtype"),
    ({"dtype": np.array("float32")}, "the file says float32"),
    ({"activations": np.array(["relu", "sigmoid", "sigmoid"])}, "activations"),
    ({"activations": np.array(["relu", "sigmoid"])}, "activations"),
    ({"image_shape": np.array([2, 3, 3])}, "image_shape"),
    ({"classes": np.array(["one"])}, "classes"),
    ({"metadata": np.array("{not json")}, "JSON"),
    ({"metadata": np.array("[1, 2]")}, "JSON object"),
    ({"W2": np.full((3, 4), np.inf)}, "non-finite"),
    ({"W2": np.zeros((3, 4), dtype=np.int64)}, "W2 is int64"),
    ({"b3": None}, "missing entries: b3"),
    ({"extra": np.zeros(3)}, "unexpected entries: extra"),
    ({"metadata": None}, "missing entries: metadata"),
])
def test_load_rejects_inconsistent_files(saved, changes, match):
    _tampered(saved, **changes)
    with pytest.raises(ValueError, match=match) as info:
        load_model(saved)
    assert str(saved) in str(info.value)


def test_load_rejects_files_from_something_else(tmp_path):
    text = tmp_path / "notes.npz"
    text.write_text("hello")
    with pytest.raises(ValueError, match="not a zip"):
        load_model(text)
    other = _rewrite(tmp_path / "x.npz", {"a": np.arange(3)}, out=tmp_path / "x.npz")
    with pytest.raises(ValueError, match="something else"):
        load_model(other)
    zf_path = tmp_path / "z.npz"
    with zipfile.ZipFile(zf_path, "w") as zf:
        zf.writestr("payload.py", "print('hi')")
    with pytest.raises(ValueError, match="unexpected entry 'payload.py'"):
        load_model(zf_path)
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "absent.npz")


@pytest.mark.parametrize("keep", [0.2, 0.5, 0.9, 0.999])
def test_load_rejects_truncated_files(saved, keep):
    raw = saved.read_bytes()
    saved.write_bytes(raw[:int(len(raw) * keep)])
    with pytest.raises(ValueError, match="model.npz"):
        load_model(saved)


def test_load_rejects_flipped_bytes(saved):
    raw = bytearray(saved.read_bytes())
    # Flip one byte inside the compressed data of every entry in turn.
    with zipfile.ZipFile(saved) as zf:
        offsets = [i.header_offset + 30 + len(i.filename) + 2 for i in zf.infolist()]
    for off in offsets:
        bad = bytearray(raw)
        bad[off] ^= 0xFF
        saved.write_bytes(bytes(bad))
        with pytest.raises(ValueError, match="model.npz"):
            load_model(saved)


def test_header_lying_about_the_size_is_rejected(saved):
    arrays = _entries(saved)
    buf = io.BytesIO()
    np.lib.format.write_array(buf, arrays["W1"])
    # Claim a far bigger array than the entry holds: rejected before any allocation.
    header = buf.getvalue().replace(b"(4, 12)", b"(400000, 120000)")
    with zipfile.ZipFile(saved, "w") as zf:
        for k, a in arrays.items():
            if k == "W1":
                zf.writestr("W1.npy", header)
            else:
                b = io.BytesIO()
                np.lib.format.write_array(b, a)
                zf.writestr(k + ".npy", b.getvalue())
    with pytest.raises(ValueError, match=r"W1 has shape \(400000, 120000\), layer_dims say"):
        load_model(saved)


def test_pickled_objects_are_never_loaded(saved, capsys):
    class Payload:
        def __reduce__(self):
            return (print, ("PAYLOAD RAN",))

    arrays = _entries(saved)
    arrays["metadata"] = np.array([Payload()], dtype=object)
    _rewrite(saved, arrays, allow_pickle=True)
    with pytest.raises(ValueError, match="only numbers and text"):
        load_model(saved)
    assert "PAYLOAD RAN" not in capsys.readouterr().out


def test_metadata_is_json_only(tmp_path):
    path = save_model(tmp_path / "m.npz", _parameters(), metadata={"k": {"nested": [1.5, None, "s"]}})
    assert load_model(path).metadata == {"k": {"nested": [1.5, None, "s"]}}
    with pytest.raises((TypeError, ValueError)):
        save_model(tmp_path / "n.npz", _parameters(), metadata={"f": float("nan")})
    assert json.loads(str(_entries(path)["metadata"])) == {"k": {"nested": [1.5, None, "s"]}}


def test_load_refuses_what_save_model_never_writes(saved):
    # JSON's 1e999 is inf (save_model writes allow_nan=False JSON), and a '<U0' text
    # entry (NumPy's strings have a character at least) made the class names empty.
    _tampered(saved, metadata=np.array('{"a": 1e999}'))
    with pytest.raises(ValueError, match="metadata is not valid JSON .*1e999 is beyond float's range"):
        load_model(saved)
    _tampered(saved, metadata=np.array('{"a": 1e308, "b": -2.5e-300}'))
    assert load_model(saved).metadata == {"a": 1e308, "b": -2.5e-300}
    arrays = _entries(saved)
    with zipfile.ZipFile(saved, "w") as zf:
        for k, a in arrays.items():
            b = io.BytesIO()
            np.lib.format.write_array(b, np.array(["", ""]) if k == "classes" else a)
            raw = b.getvalue()
            if k == "classes":   # the header of "<U1" (2,), its length unchanged, and no data
                raw = raw[:raw.index(b"\n") + 1].replace(b"'<U1'", b"'<U0'")
            zf.writestr(k + ".npy", raw)
    with pytest.raises(ValueError, match="'classes' has the empty dtype <U0"):
        load_model(saved)


def test_what_save_model_writes_loads_back(tmp_path):
    # A lone surrogate (a file name of bytes that are not UTF-8, as Python names it) and
    # empty class names are written by save_model, so load_model takes them back.
    path = save_model(tmp_path / "m.npz", _parameters(), classes=("", "\udcff"),
                      metadata={"data": "folders \udcffcats"})
    model = load_model(path)
    assert model.classes == ("", "\udcff") and model.metadata == {"data": "folders \udcffcats"}


def test_predict_never_labels_an_output_that_is_not_finite(tmp_path):
    # Finite weights pass load_model's checks; 1e308 * 6 overflows and inf - inf is nan,
    # which predict made label 0 (sigmoid: nan > 0.5 is False; softmax: argmax of nans).
    big = np.full((2, 12), 1e308)
    X = np.zeros((12, 3))
    X[:, 1] = 0.5
    for W2 in ([[1e308, -1e308]], [[1e308, -1e308], [1, 1], [0, 0]]):
        W2 = np.array(W2, dtype=np.float64)
        model = load_model(save_model(tmp_path / "m.npz", {"W1": big, "b1": np.zeros((2, 1)), "W2": W2,
                                                            "b2": np.zeros((len(W2), 1))}))
        with np.errstate(all="ignore"):
            assert np.isnan(model.predict_proba(X)[:, 1]).all()
            with pytest.raises(ValueError, match=r"not finite \(nan or inf\) for 1 of 3 examples "
                                                 r"\(the first: column 1\)"):
                model.predict(X)
            assert model.predict(X[:, [0, 2]]).tolist() == [[0, 0]]
    identity = load_model(save_model(tmp_path / "r.npz", {"W1": big, "b1": np.zeros((2, 1)),
                                                          "W2": W2[:1], "b2": np.zeros((1, 1))},
                                     output="identity"))
    with np.errstate(all="ignore"):
        assert np.isnan(identity.predict(X)[0, 1])   # the values themselves, as predict_proba

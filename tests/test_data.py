"""dnn.data and dnn.datasets: pictures in every Pillow mode, folder layouts, HDF5, the built-in set.

Pictures are made here with Pillow (solid colours, so the expected RGB value
of every pixel is known); the shared cat data is used when present.
"""
import struct
import sys
import zlib

import numpy as np
import pytest
from PIL import Image

from dnn import data
from dnn.datasets import BUILTIN, load_builtin
from dnn.datasets import _generate

# mode -> (how to make a solid 16x16 picture, file extension, the RGB it must become)
MODES = {
    "RGB": (lambda: Image.new("RGB", (16, 16), (200, 100, 50)), ".png", (200, 100, 50)),
    "RGBA opaque": (lambda: Image.new("RGBA", (16, 16), (10, 20, 30, 255)), ".png", (10, 20, 30)),
    # fully transparent pixels are composited over white
    "RGBA clear": (lambda: Image.new("RGBA", (16, 16), (10, 20, 30, 0)), ".png", (255, 255, 255)),
    "L": (lambda: Image.new("L", (16, 16), 128), ".png", (128, 128, 128)),
    "LA": (lambda: Image.new("LA", (16, 16), (40, 255)), ".png", (40, 40, 40)),
    "P": (lambda: Image.new("RGB", (16, 16), (0, 128, 255)).quantize(4), ".png", (0, 128, 255)),
    "CMYK": (lambda: Image.new("CMYK", (16, 16), (0, 0, 0, 0)), ".tiff", (255, 255, 255)),
    # 16-bit grey: scaled onto 8 bits (65535 -> 255), not clipped
    "I;16": (lambda: Image.new("I;16", (16, 16), 32896), ".png", (128, 128, 128)),
    "1": (lambda: Image.new("1", (16, 16), 1), ".png", (255, 255, 255)),
    "JPEG": (lambda: Image.new("RGB", (16, 16), (255, 255, 255)), ".jpg", (255, 255, 255)),
}


def _save(im, path):
    im.save(path)
    return path


@pytest.mark.parametrize("mode", sorted(MODES))
def test_every_mode_becomes_rgb(tmp_path, mode):
    make, ext, rgb = MODES[mode]
    path = _save(make(), tmp_path / ("pic" + ext))
    arr = data.read_image(path, size=16)
    assert arr.shape == (16, 16, 3) and arr.dtype == np.uint8
    np.testing.assert_array_equal(arr, np.broadcast_to(np.array(rgb, np.uint8), (16, 16, 3)))


def _png_rgb16(path, pixels, key):
    """A 16-bit RGB PNG of one row of grey ``pixels`` (16-bit values) with the tRNS grey ``key``."""
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    row = b"\0" + b"".join(struct.pack(">3H", p, p, p) for p in pixels)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", len(pixels), 1, 16, 2, 0, 0, 0))
                     + chunk(b"tRNS", struct.pack(">3H", key, key, key)) + chunk(b"IDAT", zlib.compress(row))
                     + chunk(b"IEND", b""))
    return path


def test_a_16_bit_rgb_png_s_colour_key_is_ignored(tmp_path):
    # Pillow reads 16-bit RGB as its high bytes but keeps the key in 16-bit units: 51400 (high
    # byte 200) was whitened by the key 200, and the pixel of value 200 itself turned black.
    path = _png_rgb16(tmp_path / "rgb16.png", [51400, 200], 200)
    im = Image.open(path)
    assert im.mode == "RGB" and "transparency" in im.info
    np.testing.assert_array_equal(data.read_image(path, (2, 1))[0], [[200, 200, 200], [0, 0, 0]])


@pytest.mark.parametrize("make, expected", [
    # tRNS colour keys: the pixels of that value are transparent, composited over white
    (lambda p: Image.new("RGB", (8, 8), (1, 2, 3)).save(p, transparency=(1, 2, 3)), 255),
    (lambda p: Image.new("RGB", (8, 8), (1, 2, 3)).save(p, transparency=(1, 2, 4)), (1, 2, 3)),
    (lambda p: Image.new("L", (8, 8), 7).save(p, transparency=7), 255),
    (lambda p: Image.new("I;16", (8, 8), 300).save(p, transparency=300), 255),
    (lambda p: Image.new("I;16", (8, 8), 300).save(p, transparency=301), 1),
])
def test_a_png_colour_key_is_composited_over_white(tmp_path, make, expected):
    # Pillow keeps a tRNS colour key in info["transparency"]: read_image ignored
    # it for RGB and grey pictures, though transparency is composited over white.
    make(tmp_path / "key.png")
    assert "transparency" in Image.open(tmp_path / "key.png").info
    np.testing.assert_array_equal(data.read_image(tmp_path / "key.png", 8), np.broadcast_to(expected, (8, 8, 3)))


@pytest.mark.parametrize("values, expected", [
    ((0, 257 * 200, 65535), (0, 200, 255)),          # 16-bit values (a 16-bit PGM), scaled by 257
    ((0, 200, 255), (0, 1, 1)),                      # the same rule whatever a picture's own range
    ((0, 2 ** 30, 2 ** 31 - 1), (0, 255, 255)),      # past 16 bits: white
])
def test_an_i_mode_picture_is_read_as_16_bit_values(tmp_path, values, expected):
    a = np.repeat(np.array(values, np.int32), 4).reshape(3, 4)
    Image.fromarray(a).save(tmp_path / "i.tif")
    assert Image.open(tmp_path / "i.tif").mode == "I"
    np.testing.assert_array_equal(data.read_image(tmp_path / "i.tif", (4, 3))[:, 0, 0], expected)


def test_palette_with_transparency_is_composited_over_white(tmp_path):
    im = Image.new("P", (4, 4), 0)
    im.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    im.putpixel((0, 0), 1)
    im.info["transparency"] = 0
    path = tmp_path / "p.png"
    im.save(path, transparency=0)
    arr = data.read_image(path, size=4)
    assert tuple(arr[0, 0]) == (0, 0, 255)
    assert tuple(arr[1, 1]) == (255, 255, 255)


def test_resize_to_width_by_height(tmp_path):
    path = _save(Image.new("RGB", (30, 10), (1, 2, 3)), tmp_path / "wide.png")
    assert data.read_image(path, size=(8, 6)).shape == (6, 8, 3)
    assert data.read_image(path).shape == (64, 64, 3)
    x = data.image_to_arr(["wide.png"], tmp_path)
    assert x.shape == (1, 64, 64, 3) and x.dtype == np.float32
    assert float(x.max()) <= 255.0


@pytest.mark.parametrize("size", [0, (3,), "big", (4, -1)])
def test_bad_size(tmp_path, size):
    path = _save(Image.new("RGB", (4, 4)), tmp_path / "a.png")
    with pytest.raises((TypeError, ValueError), match="size"):
        data.read_image(path, size=size)


def _prefix_folder(folder, names, size=8):
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        Image.new("RGB", (size, size), (i * 10 % 256, 0, 0)).save(folder / name)
    return folder


def test_listing_is_sorted_and_skips_non_images(tmp_path):
    folder = _prefix_folder(tmp_path / "train", ["noncat.2.png", "cat.10.png", "cat.9.jpg", "Cat.1.png"])
    (folder / "notes.txt").write_text("not a picture")
    (folder / ".hidden.png").write_bytes(b"junk")
    (folder / "README").write_text("no extension")
    (folder / "sub").mkdir()
    assert data.list_images(folder) == ["Cat.1.png", "cat.10.png", "cat.9.jpg", "noncat.2.png"]
    x, y, names, classes = data.load_folder(folder, size=8)
    assert names == ["Cat.1.png", "cat.10.png", "cat.9.jpg", "noncat.2.png"]
    np.testing.assert_array_equal(y, [[1, 1, 1, 0]])
    assert y.dtype == np.float32 and x.shape == (4, 8, 8, 3)
    assert classes == ("non-cat", "cat")
    # pictures in listing order: the red channel was set by creation order
    assert x[0, 0, 0, 0] == 30 and x[3, 0, 0, 0] == 0


def test_gen_labels_article_rule():
    y = data.gen_labels(["cat1.png", "noncat.png", "CAT.png", "dog/cat.png", "x.png"], "unused")
    np.testing.assert_array_equal(y, [[1, 0, 1, 1, 0]])
    assert y.shape == (1, 5) and y.dtype == np.float32
    np.testing.assert_array_equal(data.gen_labels(["dog.png", "cat.png"], positive="dog"), [[1, 0]])


def test_corrupt_image_raises_naming_the_file(tmp_path):
    _prefix_folder(tmp_path, ["cat.1.png"])
    (tmp_path / "cat.2.png").write_bytes(b"this is not a png")
    with pytest.raises(data.ImageReadError, match=r"cat\.2\.png") as info:
        data.load_folder(tmp_path, size=8)
    assert info.value.filename.endswith("cat.2.png")
    assert isinstance(info.value, ValueError)


def test_truncated_image_raises_naming_the_file(tmp_path):
    path = _save(Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)),
                 tmp_path / "cut.png")
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(data.ImageReadError, match="cut.png"):
        data.read_image(path)


def test_decompression_bomb_guard_stays_on(tmp_path, monkeypatch):
    path = _save(Image.new("RGB", (64, 64)), tmp_path / "bomb.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 64 * 64 // 4)
    with pytest.raises(data.ImageReadError, match="bomb.png.*decompression-bomb"):
        data.read_image(path)


def test_subfolder_layout(tmp_path):
    _prefix_folder(tmp_path / "train" / "cat", ["a.png", "b.png"])
    _prefix_folder(tmp_path / "train" / "non-cat", ["c.png"])
    assert data.folder_layout(tmp_path / "train") == "subfolders"
    x, y, names, classes = data.load_folder(tmp_path / "train", size=8)
    assert names == ["cat/a.png", "cat/b.png", "non-cat/c.png"]
    np.testing.assert_array_equal(y, [[1, 1, 0]])
    assert classes == ("non-cat", "cat")
    tx, ty, sx, sy = data.load_image(tmp_path / "train", tmp_path / "train", size=8)
    assert tx.shape == (3, 8, 8, 3) and ty.shape == (1, 3)


@pytest.mark.parametrize("dirs, positive, expected", [
    (("0", "1"), "cat", "1"),
    (("dog", "not_dog"), "cat", "dog"),
    (("apple", "pear"), "pear", "pear"),
])
def test_which_class_folder_is_positive(tmp_path, dirs, positive, expected):
    for d in dirs:
        _prefix_folder(tmp_path / d, ["x.png"])
    _, y, names, classes = data.load_folder(tmp_path, size=8, positive=positive)
    assert classes[1] == expected
    assert [n.split("/")[0] for n, label in zip(names, y[0]) if label == 1] == [expected]


def test_ambiguous_or_mixed_folders(tmp_path):
    for d in ("apple", "pear"):
        _prefix_folder(tmp_path / "a" / d, ["x.png"])
    with pytest.raises(ValueError, match="positive class"):
        data.load_folder(tmp_path / "a")
    _prefix_folder(tmp_path / "b", ["cat.png"])
    _prefix_folder(tmp_path / "b" / "dogs", ["x.png"])
    with pytest.raises(ValueError, match="both images and class folders"):
        data.load_folder(tmp_path / "b")
    _prefix_folder(tmp_path / "c" / "only", ["x.png"])
    with pytest.raises(ValueError, match="two or more class folders"):
        data.load_folder(tmp_path / "c")


def test_more_than_two_class_folders_are_class_indices(tmp_path):
    # Was refused ("exactly two class folders"); issue 11: K class folders train a softmax network.
    for d, files in (("zebra", ["a.png", "b.png"]), ("ant", ["c.png"]), ("moth", ["d.png", "e.png"])):
        _prefix_folder(tmp_path / "train" / d, files)
    x, y, names, classes = data.load_folder(tmp_path / "train", 8)
    assert classes == ("ant", "moth", "zebra")
    assert names == ["ant/c.png", "moth/d.png", "moth/e.png", "zebra/a.png", "zebra/b.png"]
    assert y.dtype == np.float32 and y.tolist() == [[0, 1, 1, 2, 2]]
    assert x.shape == (5, 8, 8, 3)
    # A test folder is labelled by the training folder's classes: it may lack one, never add one.
    _prefix_folder(tmp_path / "test" / "zebra", ["z.png"])
    _prefix_folder(tmp_path / "test" / "moth", ["m.png"])
    _, yt, names_t, classes_t = data.load_folder(tmp_path / "test", 8, classes=classes)
    assert classes_t == classes and names_t == ["moth/m.png", "zebra/z.png"] and yt.tolist() == [[1, 2]]
    _prefix_folder(tmp_path / "test" / "wasp", ["w.png"])
    with pytest.raises(ValueError, match="not among the classes ant, moth, zebra: wasp"):
        data.load_folder(tmp_path / "test", 8, classes=classes)
    with pytest.raises(ValueError, match="not the class folders"):
        data.load_folder(_prefix_folder(tmp_path / "flat", ["cat.png"]), 8, classes=classes)


def test_hdf5_with_more_than_two_classes_gives_class_indices(tmp_path):
    x = np.zeros((4, 2, 2, 3), dtype=np.uint8)
    names = (b"ant", b"bee", b"cat")
    _write_h5(tmp_path / "tr.h5", "train", x, np.array([0, 2, 1, 2]), names)
    _write_h5(tmp_path / "te.h5", "test", x[:2], np.array([1, 0]), names)
    _, ytr, _, yte, classes = data.load_data(tmp_path / "tr.h5", tmp_path / "te.h5")
    assert ytr.tolist() == [[0, 2, 1, 2]] and yte.tolist() == [[1, 0]] and list(classes) == list(names)
    _write_h5(tmp_path / "bad.h5", "train", x, np.array([0, 3, 1, 2]), names)
    with pytest.raises(ValueError, match="class indices 0 to 2"):
        data.load_data(tmp_path / "bad.h5", tmp_path / "te.h5")
    # Two names: labels stay 0 and 1.
    _write_h5(tmp_path / "two.h5", "train", x, np.array([0, 2, 1, 1]))
    with pytest.raises(ValueError, match="must be 0 or 1"):
        data.load_data(tmp_path / "two.h5", tmp_path / "te.h5")


def test_missing_and_empty_folders(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        data.load_folder(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match="no images"):
        data.load_folder(tmp_path / "empty")
    (tmp_path / "file.png").write_bytes(b"x")
    with pytest.raises(NotADirectoryError):
        data.load_folder(tmp_path / "file.png")


def test_flatten_images_as_the_course():
    x = np.random.default_rng(1).integers(0, 256, (5, 4, 3, 3)).astype(np.uint8)
    flat = data.flatten_images(x)
    np.testing.assert_array_equal(flat, x.reshape(5, -1).T / 255.)
    assert flat.dtype == np.float64 and flat.flags.c_contiguous and flat.shape == (36, 5)
    f32 = data.flatten_images(x.astype(np.float32))
    assert f32.dtype == np.float32
    np.testing.assert_array_equal(f32, x.astype(np.float32).reshape(5, -1).T / 255.)
    # the cast comes first: float32 pixels flattened in float64 equal uint8 pixels
    np.testing.assert_array_equal(data.flatten_images(x.astype(np.float32), np.float64), flat)
    with pytest.raises(ValueError):
        data.flatten_images(np.zeros((0, 2, 2, 3)))


def _write_h5(path, split, x, y, classes=(b"non-cat", b"cat")):
    h5py = pytest.importorskip("h5py")
    with h5py.File(path, "w") as f:
        f["%s_set_x" % split] = x
        f["%s_set_y" % split] = y
        f["list_classes"] = np.array(classes)


def test_load_data_small_files(tmp_path):
    rng = np.random.default_rng(2)
    x = rng.integers(0, 256, (6, 4, 4, 3)).astype(np.uint8)
    _write_h5(tmp_path / "train.h5", "train", x, np.array([0, 1, 0, 1, 1, 0]))
    _write_h5(tmp_path / "test.h5", "test", x[:2], np.array([1, 0]))
    tx, ty, sx, sy, classes = data.load_data(tmp_path / "train.h5", tmp_path / "test.h5")
    np.testing.assert_array_equal(tx, x)
    assert ty.shape == (1, 6) and sy.shape == (1, 2) and sx.shape == (2, 4, 4, 3)
    assert list(classes) == [b"non-cat", b"cat"]


def test_load_data_errors(tmp_path):
    x = np.zeros((2, 4, 4, 3), np.uint8)
    _write_h5(tmp_path / "ok.h5", "train", x, np.array([0, 1]))
    _write_h5(tmp_path / "badlabels.h5", "test", x, np.array([0, 2]))
    with pytest.raises(ValueError, match="0 or 1"):
        data.load_data(tmp_path / "ok.h5", tmp_path / "badlabels.h5")
    (tmp_path / "junk.h5").write_bytes(b"not hdf5 at all")
    with pytest.raises(ValueError, match="junk.h5"):
        data.load_data(tmp_path / "ok.h5", tmp_path / "junk.h5")
    with pytest.raises(FileNotFoundError, match="missing.h5"):
        data.load_data(tmp_path / "ok.h5", tmp_path / "missing.h5")


def test_load_data_refuses_train_and_test_files_naming_different_classes(tmp_path):
    # Each file's labels index its own list_classes: a test file listing
    # [cat, non-cat] against the training file's [non-cat, cat] had every test
    # label inverted, silently (one list was used for both).
    h5py = pytest.importorskip("h5py")
    x = np.zeros((3, 4, 4, 3), np.uint8)
    _write_h5(tmp_path / "train.h5", "train", x, np.array([0, 1, 0]), (b"non-cat", b"cat"))
    for classes in ((b"cat", b"non-cat"), (b"non-cat", b"cat", b"dog"), (b"non-cat", b"kat")):
        _write_h5(tmp_path / "test.h5", "test", x, np.array([1, 0, 1]), classes)
        with pytest.raises(ValueError) as err:
            data.load_data(tmp_path / "train.h5", tmp_path / "test.h5")
        assert str(err.value) == (
            "%s names the classes [non-cat, cat] but %s names [%s]: labels index their file's list_classes, "
            "so both files must list the same names in the same order"
            % (tmp_path / "train.h5", tmp_path / "test.h5", ", ".join(c.decode() for c in classes)))
    # The same names load, stored either way, and a file without names takes the other's.
    with h5py.File(tmp_path / "test.h5", "w") as f:
        f["test_set_x"], f["test_set_y"] = x, np.array([1, 0, 1])
        f["list_classes"] = np.array(["non-cat", "cat"], dtype=h5py.string_dtype())
    assert list(data.load_data(tmp_path / "train.h5", tmp_path / "test.h5")[4]) == [b"non-cat", b"cat"]
    with h5py.File(tmp_path / "test.h5", "a") as f:
        del f["list_classes"]
    assert list(data.load_data(tmp_path / "train.h5", tmp_path / "test.h5")[4]) == [b"non-cat", b"cat"]


@pytest.mark.parametrize("dtype", [np.float16, np.float32, ">f8"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_load_data_refuses_pixels_that_are_not_finite(tmp_path, dtype, bad):
    # They loaded, and failed later as a network's "X must contain only finite values".
    x = np.full((40, 4, 4, 3), 128, dtype)
    x[33, 2, 1, 0] = bad
    _write_h5(tmp_path / "train.h5", "train", x, np.arange(40) % 2)
    _write_h5(tmp_path / "test.h5", "test", x[:2], np.array([1, 0]))
    with pytest.raises(ValueError) as err:
        data.load_data(tmp_path / "train.h5", tmp_path / "test.h5")
    assert str(err.value) == "%s: train_set_x holds nan or infinite pixel values" % (tmp_path / "train.h5")
    x[33, 2, 1, 0] = 255
    _write_h5(tmp_path / "train.h5", "train", x, np.arange(40) % 2)
    np.testing.assert_array_equal(data.load_data(tmp_path / "train.h5", tmp_path / "test.h5")[0], x)


def test_load_data_without_h5py_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(ImportError, match=r'pip install "dnn-course\[hdf5\]"'):
        data.load_data(tmp_path / "a.h5", tmp_path / "b.h5")


# --------------------------------------------------------------------------
# The shared cat data: the PNG folders are the HDF5 pictures, losslessly
# --------------------------------------------------------------------------

def test_cat_folders_equal_the_hdf5_files(shared_dir):
    pytest.importorskip("h5py")
    root = shared_dir / "data"
    if not (root / "cat-images" / "train").is_dir() or not (root / "catvnoncat").is_dir():
        pytest.skip("cat data not found under %s" % root)
    h5 = data.load_data(root / "catvnoncat" / "train_catvnoncat.h5", root / "catvnoncat" / "test_catvnoncat.h5")
    for split, hx, hy in (("train", h5[0], h5[1]), ("test", h5[2], h5[3])):
        x, y, names, classes = data.load_folder(root / "cat-images" / split)
        assert classes == ("non-cat", "cat")
        # sorted file order puts the cats first; the number in the name is the HDF5 index
        index = [int(n.split(".")[1]) for n in names]
        assert sorted(index) == list(range(hx.shape[0]))
        np.testing.assert_array_equal(x, hx[index].astype(np.float32))
        np.testing.assert_array_equal(y[0], hy[0, index])
        np.testing.assert_array_equal(data.flatten_images(x, np.float64),
                                      (hx.reshape(hx.shape[0], -1).T / 255.)[:, index])


# --------------------------------------------------------------------------
# The built-in data set
# --------------------------------------------------------------------------

def test_builtin_file_is_the_generators_output():
    fresh = _generate.generate()
    assert _generate.digest(fresh) == _generate.SHA256
    train_x, train_y, test_x, test_y, classes = load_builtin("bars")
    shipped = {"train_set_x": train_x, "train_set_y": train_y.reshape(-1), "test_set_x": test_x,
               "test_set_y": test_y.reshape(-1), "list_classes": classes}
    assert _generate.digest(shipped) == _generate.SHA256
    assert _generate.main(["--check"]) == 0


def test_builtin_shapes_and_balance():
    train_x, train_y, test_x, test_y, classes = load_builtin()
    assert train_x.shape == (_generate.N_TRAIN, 24, 24, 3) and train_x.dtype == np.uint8
    assert test_x.shape == (_generate.N_TEST, 24, 24, 3)
    assert train_y.shape == (1, _generate.N_TRAIN) and set(np.unique(train_y)) == {0, 1}
    assert train_y.sum() * 2 == train_y.size and test_y.sum() * 2 == test_y.size
    assert list(classes) == ["horizontal", "vertical"]
    # brightness alone does not give the class away
    means = train_x.reshape(train_x.shape[0], -1).mean(axis=1)
    assert abs(means[train_y[0] == 1].mean() - means[train_y[0] == 0].mean()) < 10
    assert set(BUILTIN) == {"bars", "bars3"}
    with pytest.raises(ValueError, match="unknown built-in"):
        load_builtin("nope")


def test_bars3_is_the_generators_three_classes():
    fresh = _generate.generate("bars3")
    assert _generate.digest(fresh) == _generate.SHA256_BARS3  # what users load never changes silently
    train_x, train_y, test_x, test_y, classes = load_builtin("bars3")
    assert list(classes) == ["horizontal", "vertical", "diagonal"]
    assert train_x.shape == (_generate.N_TRAIN, 24, 24, 3) and test_x.shape == (_generate.N_TEST, 24, 24, 3)
    assert np.bincount(train_y[0]).tolist() == [_generate.N_TRAIN // 3] * 3
    assert np.bincount(test_y[0]).tolist() == [_generate.N_TEST // 3] * 3
    # bars3's horizontal and vertical pictures are drawn as bars' are (another stream)
    assert not np.array_equal(train_x[:10], load_builtin("bars")[0][:10])


def test_the_generator_runs_as_a_script_without_a_warning(tmp_path):
    # dnn.datasets no longer imports _generate, which ``python -m`` then ran a second time
    # (runpy's "found in sys.modules" RuntimeWarning).
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-W", "error::RuntimeWarning", "-m", "dnn.datasets._generate",
                           "--check"], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "matches the generator" in done.stdout and not done.stderr

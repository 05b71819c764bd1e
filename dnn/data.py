"""Loading pictures for the networks: image folders, the course's HDF5 files, preprocessing.

The first article's helpers keep their names and return values, made robust:

- ``image_to_arr(image_list, path)`` -> ``(m, h, w, 3)`` float32 pixels in [0, 255];
- ``gen_labels(image_list, path)`` -> ``(1, m)`` float32 labels (names starting
  with ``cat`` are 1);
- ``load_image(train_dir, test_dir)`` -> ``(train_x_orig, train_y, test_x_orig, test_y)``.

Any Pillow mode (RGB, RGBA, LA, P, L, 1, CMYK, YCbCr, 16-bit I;16, I, F)
becomes RGB; transparency (an alpha band, a palette's, a PNG's tRNS colour
key) is composited over white. 16-bit values are scaled onto 8 bits, float
values taken as 0..255, and a 32-bit ``I`` picture as 16-bit values (what
Pillow opens 16-bit PGMs as; larger values clip at white): one rule for every
picture, never one chosen from a picture's own values. Pictures are resized to
``size`` (64x64 by default) with bicubic resampling after their EXIF
orientation is applied. Folder listings are sorted by name (code-point
order, the same on every machine). Files whose extension is not an image
format Pillow reads (``notes.txt``, ``.DS_Store``) and hidden files are
skipped; an image file that cannot be decoded raises ``ImageReadError``
naming it. A picture of more than ``PIL.Image.MAX_IMAGE_PIXELS`` pixels
raises ``ImageReadError`` from its header, before it is decoded (Pillow
itself only warns up to twice that limit).

A folder is labelled in one of two layouts (``folder_layout`` tells which):

- ``"prefix"``: images directly in the folder, labelled by the article's
  rule, 1 when the file name starts with ``positive`` (default ``"cat"``,
  case-insensitive), else 0;
- ``"subfolders"``: one folder per class, e.g. ``train/cat/`` and
  ``train/non-cat/``; the class folder named ``positive`` is label 1 (or,
  failing that, the folder ``1`` of ``0``/``1``, or ``X`` of ``X``/``non-X``).
  More than two class folders are K classes, labelled 0 to K-1 in the
  order of their sorted names (a softmax network's class indices).

``load_data(train_path, test_path)`` reads the course's HDF5 files (``h5py``
is the optional extra ``dnn-course[hdf5]``) and ``flatten_images`` turns
``(m, h, w, 3)`` pictures into the ``(h*w*3, m)`` matrix in [0, 1] the
networks take.
"""

import errno
import io
import os
import stat
from pathlib import Path
from typing import Sequence

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from dnn._files import kind_of

#: A file or folder name.
PathLike = str | os.PathLike
#: A picture size: an int (square) or (width, height).
Size = int | tuple[int, int]

__all__ = [
    "DEFAULT_IMAGE_SIZE", "ImageReadError",
    "image_to_arr", "gen_labels", "load_image",
    "list_images", "read_image", "load_folder", "folder_layout",
    "load_data", "flatten_images",
]

#: The articles' picture size, (width, height).
DEFAULT_IMAGE_SIZE = (64, 64)


class ImageReadError(ValueError):
    """A picture that cannot be read or decoded; ``filename`` names it."""

    def __init__(self, filename: PathLike, reason: object) -> None:
        self.filename = str(filename)
        self.reason = str(reason)
        super().__init__("cannot read image %s: %s" % (self.filename, self.reason))


def _pil():
    from PIL import Image  # a core dependency; imported here to keep `import dnn` light
    return Image


#: Formats Pillow opens but does not decode itself: EPS is run by Ghostscript,
#: an interpreter a hostile picture must not reach (whatever its file name says).
_EXCLUDED_FORMATS = frozenset({"EPS"})


def _formats():
    """The formats ``read_image`` lets Pillow open, in Pillow's own order (it tries them by content)."""
    Image = _pil()
    Image.init()
    return tuple(fmt for fmt in Image.ID if fmt in Image.OPEN and fmt not in _EXCLUDED_FORMATS)


def _image_extensions():
    """Lower-case file extensions of the formats Pillow can open and ``read_image`` reads."""
    Image = _pil()
    formats = _formats()
    return {ext.lower() for ext, fmt in Image.registered_extensions().items() if fmt in formats}


def _size(size):
    """``size`` as ``(width, height)``: an int N means N x N."""
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        size = (int(size), int(size))
    try:
        w, h = (int(s) for s in size)
    except (TypeError, ValueError):
        raise TypeError("size must be an int or a (width, height) pair, got %r" % (size,)) from None
    if w < 1 or h < 1:
        raise ValueError("size must be positive, got %r" % (size,))
    return w, h


def _is_image_name(name, extensions):
    return not name.startswith(".") and os.path.splitext(name)[1].lower() in extensions


#: What makes a link lead nowhere: a loop, a missing or non-folder step, a name too long
#: (Windows: ERROR_CANT_RESOLVE_FILENAME, 1921). Other errors (no permission) are raised.
_NOWHERE_ERRNOS = frozenset((errno.ELOOP, errno.ENOENT, errno.ENOTDIR, errno.ENAMETOOLONG))


def _leads_nowhere(exc):
    return exc.errno in _NOWHERE_ERRNOS or getattr(exc, "winerror", None) == 1921


def _entry_is(entry, kind):
    """``entry.is_file()`` or ``entry.is_dir()`` (``kind`` "file" or "dir"; an ``os.DirEntry``),
    False for a link that leads nowhere: a link in a loop is passed over as a dangling link is,
    not an OSError for the whole folder."""
    try:
        return entry.is_file() if kind == "file" else entry.is_dir()
    except OSError as exc:
        if _leads_nowhere(exc):
            return False
        raise


def _class_dirs(folder):
    """The names of ``folder``'s subfolders that are not hidden, in the order ``os.scandir`` gives."""
    with os.scandir(folder) as entries:
        return [e.name for e in entries if _entry_is(e, "dir") and not e.name.startswith(".")]


def list_images(folder: PathLike) -> list[str]:
    """Sorted names of the image files directly in ``folder`` (non-images, hidden files and links
    that lead nowhere skipped)."""
    folder = _existing_dir(folder)
    extensions = _image_extensions()
    with os.scandir(folder) as entries:
        return sorted(e.name for e in entries if _entry_is(e, "file") and _is_image_name(e.name, extensions))


def _existing_dir(path):
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError("no such folder: %s" % path)
    if not path.is_dir():
        raise NotADirectoryError("not a folder: %s" % path)
    return path


def _regular_file(path, what, refuse):
    """``os.stat(path)`` of a regular file (symbolic links followed), checked before anything opens it.

    A FIFO blocks whoever opens it for reading and a device never ends, so
    anything but a regular file is refused by its kind: ``refuse(reason)``
    builds the exception raised. A path that does not exist raises
    ``FileNotFoundError`` ("no such ``what``").
    """
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        raise FileNotFoundError("no such %s: %s" % (what, path)) from None
    except OSError as exc:
        raise refuse("cannot be read (%s)" % exc) from None
    if not stat.S_ISREG(st.st_mode):
        raise refuse(_not_regular(st))
    return st


def _not_regular(st):
    return "not a regular file (%s)" % kind_of(st.st_mode)


class _SizedFile(io.BufferedReader):
    """A picture file for Pillow whose reads never ask for more than the file has left.

    Pillow asks ``read`` for the lengths a file declares (a 99-byte PNG's
    4 GB IDAT chunk), and a buffered read allocates all it is asked for
    before it reads: a large ask is cut to the bytes left in the file.
    """

    def __init__(self, raw, size):
        super().__init__(raw)
        self._size = size

    def read(self, size=-1):
        if size is not None and size > io.DEFAULT_BUFFER_SIZE:
            size = min(size, max(0, self._size - self.tell()))
        return super().read(size)


def _open_picture(file):
    """``file`` opened for Pillow (a ``_SizedFile``), refused if the opened file is not regular.

    ``_regular_file`` checked the path before; the descriptor is checked again
    (opened non-blocking, so a FIFO swapped in since returns at once).
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    raw = io.FileIO(file, "rb", opener=lambda name, _: os.open(name, flags))
    try:
        st = os.fstat(raw.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise ImageReadError(file, _not_regular(st))
        return _SizedFile(raw, st.st_size)
    except BaseException:
        raw.close()
        raise


def _reason(exc):
    """What went wrong with a picture, for ``ImageReadError``: the exception's type unless an OSError or ValueError."""
    if type(exc).__name__ == "UnidentifiedImageError":
        return "cannot identify the picture's format"
    text = str(exc)
    if isinstance(exc, (OSError, ValueError)) and text:
        return text
    return "%s: %s" % (type(exc).__name__, text) if text else type(exc).__name__


#: Modes of more than 8 bits a value, converted by ``_wide_to_grey``.
_WIDE_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")


def _reduced_rgb(im):
    """Whether ``im`` (opened, not yet loaded) is RGB read from 16-bit samples: Pillow keeps 8 bits
    of each, while a PNG's colour key stays in 16-bit units (it would match other pixels)."""
    return im.mode == "RGB" and any(";16" in str(getattr(t, "args", t[-1])) for t in im.tile)


def _to_rgb(im, reduced=False):
    """``im`` (any mode) as an 8-bit RGB picture, transparency composited over white.

    Transparency is an alpha band, a palette's, or a PNG's tRNS colour key
    (``info["transparency"]`` of an L, 1, RGB or 16-bit grey picture); the
    key of RGB read from 16-bit samples (``reduced``, ``_reduced_rgb``) is
    ignored: no 8-bit pixel can be told to have been its value.
    """
    Image = _pil()
    if im.mode in _WIDE_MODES:
        im = Image.fromarray(_wide_to_grey(im))
    if "transparency" in im.info and im.mode in ("1", "L", "RGB", "P") and not (reduced and im.mode == "RGB"):
        im = im.convert("RGBA")
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        im = im.convert("RGBA")
        background = Image.new("RGBA", im.size, (255, 255, 255, 255))
        im = Image.alpha_composite(background, im)
    return im.convert("RGB")


def _wide_scale(im):
    """What ``im``'s values are divided by to land on 0..255: ``F`` 1 (values taken as 0..255),
    the 16-bit modes and ``I`` 257 (65535 -> 255). ``I`` holds 32-bit integers whose mode does
    not say their range (16-bit PGMs, 32-bit TIFFs); a scale chosen per picture from its own
    values would map the same value to other greys in two pictures of one data set."""
    return 1.0 if im.mode == "F" else 257.0


def _wide_to_grey(im):
    """A 16-bit, 32-bit integer or float picture as 8-bit grey values (a uint8 array).

    Pillow's own conversion clips such values at 255 (a white picture); they
    are scaled instead (``_wide_scale``), rounded, nan taken as 0, clipped to
    0..255, and pixels of a tRNS grey key made white. Converted a block of
    rows at a time: a few MiB of float64 and no copy of the picture, besides
    the 1 byte a pixel of the result.
    """
    scale = _wide_scale(im)
    key = im.info.get("transparency")
    key = key if isinstance(key, int) and im.mode != "F" else None
    width, height = im.size
    out = np.empty((height, width), np.uint8)
    rows = max(1, 2 ** 19 // width)
    for i in range(0, height, rows):
        block = np.asarray(im.crop((0, i, width, min(i + rows, height))))
        b = np.nan_to_num(block.astype(np.float64)) / scale
        np.floor(b + 0.5, out=b)
        np.clip(b, 0, 255, out=b)
        if key is not None:
            b[block == key] = 255
        out[i:i + rows] = b
    return out


def read_image(file: PathLike, size: Size = DEFAULT_IMAGE_SIZE) -> np.ndarray:
    """One picture as a ``(height, width, 3)`` uint8 RGB array resized to ``size`` (width, height).

    Raises ``FileNotFoundError`` if ``file`` does not exist and ``ImageReadError``
    (a ValueError) naming it for anything else: not a regular file (a FIFO, a
    device, a folder: refused before it is opened), larger than Pillow's
    decompression-bomb limit (refused from its header, before it is decoded),
    or anything Pillow raises while opening or decoding it (a corrupt,
    truncated or unsupported file: OSError, SyntaxError, NotImplementedError,
    MemoryError, ...). One bad picture never escapes as another exception.
    """
    Image = _pil()
    from PIL import ImageOps
    width, height = _size(size)
    file = Path(file)
    _regular_file(file, "image file", lambda reason: ImageReadError(file, reason))
    try:
        with _open_picture(file) as fp, Image.open(fp, formats=_formats()) as im:
            limit = Image.MAX_IMAGE_PIXELS
            if limit and im.size[0] * im.size[1] > limit:
                raise Image.DecompressionBombError(
                    "%d x %d pixels, more than %d" % (im.size[0], im.size[1], limit))
            reduced = _reduced_rgb(im)
            im.load()  # decode now: truncated or corrupt data fails here, inside the try
            im = ImageOps.exif_transpose(im)
            im = _to_rgb(im, reduced)
            if im.size != (width, height):
                im = im.resize((width, height), Image.Resampling.BICUBIC)
            arr = np.asarray(im, dtype=np.uint8)
    except ImageReadError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageReadError(file, "larger than Pillow's decompression-bomb limit (%s)" % exc) from exc
    except Exception as exc:
        # Pillow's plugins report bad data with whatever they hit: OSError,
        # ValueError, SyntaxError, EOFError, but also NotImplementedError (DDS,
        # BLP), AttributeError (SPIDER), IndexError, struct.error, MemoryError.
        raise ImageReadError(file, _reason(exc)) from exc
    return arr.reshape(height, width, 3)


def image_to_arr(image_list: Sequence[str], path: PathLike, size: Size = DEFAULT_IMAGE_SIZE,
                 dtype: DTypeLike = np.float32) -> np.ndarray:
    """The article's ``image_to_arr``: pictures ``path/name`` as an ``(m, h, w, 3)`` array.

    Pixel values stay in [0, 255]; ``dtype`` is float32 as in the article.
    ``image_list`` entries may hold subfolders (``"cat/001.png"``). ``size`` is
    an int or ``(width, height)``; every picture is converted to RGB and resized.
    """
    width, height = _size(size)
    out = np.empty((len(image_list), height, width, 3), dtype=dtype)
    for i, name in enumerate(image_list):
        out[i] = read_image(os.path.join(path, name), (width, height))
    return out


def gen_labels(image_list: Sequence[str], path: PathLike | None = None,
               positive: str = "cat") -> np.ndarray:
    """The article's ``gen_labels``: ``(1, m)`` float32, 1 where the file name starts with ``positive``.

    Only the file name counts (not its folders); the comparison ignores case.
    ``path`` is unused, kept for the article's signature.
    """
    if not isinstance(positive, str) or not positive:
        raise TypeError("positive must be a non-empty str (a file-name prefix), got %r" % (positive,))
    if isinstance(image_list, (str, bytes)):
        raise TypeError("image_list must be a list of file names, got a single %s"
                        % type(image_list).__name__)
    if not all(isinstance(n, (str, os.PathLike)) for n in image_list):
        raise TypeError("image_list must hold file names (str or paths)")
    prefix = positive.lower()
    y = [1.0 if os.path.basename(name).lower().startswith(prefix) else 0.0 for name in image_list]
    return np.asarray(y, dtype=np.float32).reshape(1, len(y))


def _negative_names(name):
    name = name.lower()
    return {p + sep + name for p in ("non", "not", "no") for sep in ("", "-", "_", " ")}


def _positive_folder(names, positive):
    """Which of two class folders holds label 1."""
    lowered = [n.lower() for n in names]
    if positive.lower() in lowered:
        return names[lowered.index(positive.lower())]
    if sorted(lowered) == ["0", "1"]:
        return names[lowered.index("1")]
    for a, b in ((0, 1), (1, 0)):
        if lowered[b] in _negative_names(lowered[a]):
            return names[a]
    return None


def folder_layout(folder: PathLike) -> str:
    """``"prefix"`` (images in ``folder``) or ``"subfolders"`` (one folder per class).

    Raises ``ValueError`` for a folder with neither, or with both.
    """
    folder = _existing_dir(folder)
    has_images = bool(list_images(folder))
    subdirs = _class_dirs(folder)
    has_classes = any(list_images(folder / d) for d in subdirs)
    if has_images and has_classes:
        raise ValueError("%s holds both images and class folders with images; use one layout" % folder)
    if has_images:
        return "prefix"
    if has_classes:
        return "subfolders"
    raise ValueError("no images in %s" % folder)


def load_folder(folder: PathLike, size: Size = DEFAULT_IMAGE_SIZE, positive: str = "cat",
                dtype: DTypeLike = np.float32, classes: Sequence[str] | None = None,
                ) -> tuple[np.ndarray, np.ndarray, list[str], tuple[str, ...]]:
    """Pictures and labels of one folder: ``(x_orig, y, names, classes)``.

    ``x_orig`` ``(m, h, w, 3)`` of ``dtype`` in [0, 255], ``y`` ``(1, m)``
    float32, ``names`` the files relative to ``folder`` in load order (sorted),
    ``classes`` the class names indexed by label: two, or K for a folder of
    K > 2 class folders (``y`` then holds class indices). See the module
    docstring for the layouts. ``classes`` (more than two names, e.g. the
    training folder's) labels the class folders by those names instead of
    by this folder's own: a test folder may lack a class, not add one.
    """
    folder = _existing_dir(folder)
    if classes is not None and (isinstance(classes, (str, bytes)) or len(classes) < 3):
        raise ValueError("classes must be None or more than two class names, got %r" % (classes,))
    if folder_layout(folder) == "prefix":
        if classes is not None:
            raise ValueError("%s holds pictures, not the class folders %s" % (folder, _short_list(classes)))
        names = list_images(folder)
        y = gen_labels(names, folder, positive)
        classes = ("non-" + positive, positive)
    else:
        subdirs = sorted(d for d in _class_dirs(folder) if list_images(folder / d))
        if len(subdirs) < (1 if classes is not None else 2):  # given classes: a folder may hold one
            raise ValueError("%s must hold %s class folders with images, found %d: %s"
                             % (folder, "one or more" if classes is not None else "two or more", len(subdirs),
                                ", ".join(subdirs)))
        if len(subdirs) > 2 or classes is not None:
            classes = tuple(subdirs) if classes is None else tuple(str(c) for c in classes)
            unknown = [d for d in subdirs if d not in classes]
            if unknown:
                raise ValueError("%s has class folders that are not among the classes %s: %s"
                                 % (folder, _short_list(classes), _short_list(unknown)))
            index = {c: k for k, c in enumerate(classes)}
            names = sorted(d + "/" + n for d in subdirs for n in list_images(folder / d))
            y = np.array([[index[n.split("/", 1)[0]] for n in names]], dtype=np.float32)
            return image_to_arr(names, folder, size, dtype), y, names, classes
        pos = _positive_folder(subdirs, positive)
        if pos is None:
            raise ValueError("cannot tell which class folder of %s is the positive class (label 1): "
                             "%s; name it %r or pass its name as the positive class"
                             % (folder, " / ".join(subdirs), positive))
        neg = subdirs[1] if subdirs[0] == pos else subdirs[0]
        names = sorted(d + "/" + n for d in subdirs for n in list_images(folder / d))
        y = np.array([[1.0 if n.split("/", 1)[0] == pos else 0.0 for n in names]], dtype=np.float32)
        classes = (neg, pos)
    x = image_to_arr(names, folder, size, dtype)
    return x, y, names, classes


def _short_list(names, limit=8):
    names = list(names)
    return ", ".join(names[:limit]) + (" and %d more" % (len(names) - limit) if len(names) > limit else "")


def load_image(train_dir: PathLike, test_dir: PathLike, size: Size = DEFAULT_IMAGE_SIZE,
               positive: str = "cat") -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The article's ``load_image``: ``(train_x_orig, train_y, test_x_orig, test_y)``.

    Pictures ``(m, h, w, 3)`` float32 in [0, 255], labels ``(1, m)`` float32,
    from two folders in either layout (see the module docstring). With more
    than two class folders the test folder's are labelled by the training
    folder's class names (``load_folder``'s ``classes``): a test folder may
    lack a class, not add one; with two, both folders have the same positive
    class. Else ValueError.
    """
    train_x, train_y, _, classes = load_folder(train_dir, size, positive)
    test_x, test_y, _, test_classes = load_folder(test_dir, size, positive,
                                                  classes=classes if len(classes) > 2 else None)
    if len(classes) == 2 and (len(test_classes) != 2 or test_classes[1] != classes[1]):
        raise ValueError("%s holds the classes %s, %s the classes %s: a test folder labelled by other "
                         "classes than training's" % (test_dir, _short_list(test_classes), train_dir,
                                                      _short_list(classes)))
    return train_x, train_y, test_x, test_y


def _h5py():
    try:
        import h5py
    except ImportError:
        raise ImportError('reading HDF5 files needs h5py: pip install "dnn-course[hdf5]"') from None
    return h5py


#: Limits of an HDF5 data set ``load_data`` reads, checked from its metadata
#: before any data is read: a picture's side, the bytes of pictures, and what
#: compressed storage may cost. Loading a data set and the float64 copy
#: ``flatten_images`` (and training) make of it take ``itemsize + 8`` bytes a
#: value (9 for uint8 pixels); for compressed data that is at most
#: ``MAX_HDF5_INFLATION`` times the bytes the file stores for it plus
#: ``MAX_HDF5_SLACK`` (uint8 pictures may compress about 7 times; a small set
#: of pictures, any amount). Uncompressed data declares at most what it
#: stores, and nothing stores more than the file's size.
MAX_PICTURE_SIDE = 16384
MAX_HDF5_BYTES = 2 ** 33
MAX_HDF5_INFLATION = 64
MAX_HDF5_SLACK = 2 ** 24
MAX_CLASS_NAME_BYTES = 4096


def _dataset(f, key, path, h5py):
    # Only a hard link: an external link is another file (a FIFO blocks its opening),
    # asked for before anything follows the name.
    link = f.get(key, getlink=True)
    if link is not None and not isinstance(link, h5py.HardLink):
        raise ValueError("%s: %s must be a data set of this file, got a link (%s)"
                         % (path, key, type(link).__name__))
    node = f.get(key)
    if not isinstance(node, h5py.Dataset):
        raise ValueError("%s: %s must be a data set, got %s" % (path, key, type(node).__name__))
    _check_layout(node, key, path, h5py)
    return node


def _check_layout(dset, key, path, h5py):
    """Refuse a data set whose raw data lives in other files, from its creation properties alone.

    External storage names files (any file: a text file read as pixels,
    ``/dev/zero``, a FIFO that blocks) and a virtual data set maps other files'
    data sets; neither is opened.
    """
    plist = dset.id.get_create_plist()
    if plist.get_layout() == h5py.h5d.VIRTUAL:
        raise ValueError("%s: %s must store its data in this file, got a virtual data set "
                         "(data mapped from other files)" % (path, key))
    if plist.get_external_count():
        name = os.fsdecode(plist.get_external(0)[0])
        raise ValueError("%s: %s must store its data in this file, got external storage "
                         "(raw data in %s)" % (path, key, name if len(name) <= 80 else name[:77] + "..."))


def _stored_bytes(dset, key, path):
    """The bytes the file stores for ``dset``, refused past the file's own size.

    HDF5 adds up the sizes its chunk index lists, and a hostile index points
    thousands of chunks at the same bytes: a 165 KB file "stored" 24 MB.
    """
    stored = dset.id.get_storage_size()
    size = dset.file.id.get_filesize()
    if stored > size:
        raise ValueError("%s: %s claims to store %d bytes in a file of %d (chunks sharing their bytes: "
                         "hostile data)" % (path, key, stored, size))
    return stored


def _check_stored(dset, key, path, nvalues):
    """Refuse a data set of ``nvalues`` values that declares more than its storage holds.

    Uncompressed data declares at most the bytes it stores; compressed data,
    at most what keeps it and a float64 copy (``itemsize + 8`` bytes a value)
    within ``MAX_HDF5_INFLATION`` times the bytes stored plus ``MAX_HDF5_SLACK``.
    """
    stored = _stored_bytes(dset, key, path)
    nbytes = nvalues * dset.dtype.itemsize
    if not dset.id.get_create_plist().get_nfilters():
        if nbytes > stored:
            raise ValueError("%s: %s declares %d bytes but stores %d (unwritten or hostile data)"
                             % (path, key, nbytes, stored))
        return
    cost = nvalues * (dset.dtype.itemsize + 8)
    if cost > MAX_HDF5_INFLATION * stored + MAX_HDF5_SLACK:
        raise ValueError("%s: %s declares %d bytes, %d with the float64 copy training makes, but stores %d "
                         "compressed; loading may cost %d times the bytes stored plus %d MiB (a decompression bomb?)"
                         % (path, key, nbytes, cost, stored, MAX_HDF5_INFLATION, MAX_HDF5_SLACK >> 20))


def _picture_set(f, key, path, h5py):
    """The pictures data set, checked from its shape and dtype alone; returns ``(dataset, m)``."""
    dset = _dataset(f, key, path, h5py)
    shape, dt = dset.shape, dset.dtype
    if dt.fields is not None or dt.subdtype is not None or dt.kind not in "buif" or dt.itemsize > 8:
        raise ValueError("%s: %s must hold numbers (pixel values), got dtype %s" % (path, key, dt))
    if shape is None or len(shape) != 4 or shape[3] != 3 or shape[0] < 1:
        raise ValueError("%s: %s must have shape (m, height, width, 3), got %s" % (path, key, shape))
    if not (1 <= shape[1] <= MAX_PICTURE_SIDE and 1 <= shape[2] <= MAX_PICTURE_SIDE):
        raise ValueError("%s: %s holds pictures of %dx%d; at most %d on a side"
                         % (path, key, shape[2], shape[1], MAX_PICTURE_SIDE))
    nvalues = int(np.prod(shape, dtype=object))
    if nvalues * dt.itemsize > MAX_HDF5_BYTES:
        raise ValueError("%s: %s would take %d bytes (at most %d)"
                         % (path, key, nvalues * dt.itemsize, MAX_HDF5_BYTES))
    _check_stored(dset, key, path, nvalues)
    return dset, shape[0]


def _label_set(f, key, path, m, h5py):
    dset = _dataset(f, key, path, h5py)
    dt = dset.dtype
    if dt.fields is not None or dt.subdtype is not None or dt.kind not in "buif" or dt.itemsize > 8:
        raise ValueError("%s: %s must hold numbers (labels 0 and 1), got dtype %s" % (path, key, dt))
    size = int(np.prod(dset.shape, dtype=object)) if dset.shape is not None else 0
    if size != m or len(dset.shape) > 2:
        raise ValueError("%s: %s holds %d labels for %d images" % (path, key, size, m))
    _check_stored(dset, key, path, size)
    return dset


def _class_set(f, key, path, h5py):
    """``list_classes``: 2 to 16 names, variable-length or of at most ``MAX_CLASS_NAME_BYTES``."""
    dset = _dataset(f, key, path, h5py)
    shape, dt = dset.shape, dset.dtype
    if shape is None or len(shape) != 1 or not 2 <= shape[0] <= 16:
        raise ValueError("%s: %s must name the classes, got shape %s" % (path, key, shape))
    string = h5py.check_string_dtype(dt)
    if string is not None and string.length is None:   # variable-length: in the file's heap
        return dset
    if dt.kind != "S" or dt.itemsize > MAX_CLASS_NAME_BYTES:
        raise ValueError("%s: %s must hold names of at most %d bytes, got dtype %s"
                         % (path, key, MAX_CLASS_NAME_BYTES, dt))
    _check_stored(dset, key, path, shape[0])
    return dset


def _check_finite(x, key, path):
    """Refuse float pictures holding nan or inf (checked a few MiB at a time: no copy of ``x``)."""
    if x.dtype.kind != "f":
        return
    flat = x.reshape(-1)  # a view: the data set was read C-ordered
    for i in range(0, flat.size, 2 ** 22):
        if not np.isfinite(flat[i:i + 2 ** 22]).all():
            raise ValueError("%s: %s holds nan or infinite pixel values" % (path, key))


def _read_h5_split(path, h5py):
    """``(x, y, classes)`` of one HDF5 file, each data set checked before it is read.

    In order, each failure a ``ValueError`` naming the file: a regular file,
    then for each data set a hard link of this file whose data is in this
    file (no external storage, no virtual data set), its dtype and shape,
    the bytes it stores against what it declares (``_check_stored``); then
    the data, read: float pixels finite, labels 0 to K-1.
    """
    path = Path(path)
    _regular_file(path, "HDF5 file", lambda reason: ValueError("%s: %s" % (path, reason)))
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise ValueError("%s is not a readable HDF5 file (%s)" % (path, exc)) from None
    try:
        with f:
            keys = list(f.keys())
            x_keys = [k for k in keys if k.endswith("_set_x")]
            if len(x_keys) != 1:
                raise ValueError("%s must hold one '<name>_set_x' dataset (e.g. train_set_x), found: %s"
                                 % (path, ", ".join(k[:40] for k in keys[:10]) or "none"))
            y_key = x_keys[0][:-1] + "y"
            if f.get(y_key, getlink=True) is None:
                raise ValueError("%s has %s but no %s" % (path, x_keys[0], y_key))
            x_set, m = _picture_set(f, x_keys[0], path, h5py)
            y_set = _label_set(f, y_key, path, m, h5py)
            classes = None
            if f.get("list_classes", getlink=True) is not None:
                classes = np.array(_class_set(f, "list_classes", path, h5py))
            x = np.array(x_set)
            _check_finite(x, x_keys[0], path)
            y = np.array(y_set)
    except (OSError, RuntimeError, KeyError, TypeError) as exc:  # h5py's errors on damaged files
        raise ValueError("%s: damaged HDF5 file (%s)" % (path, exc)) from None
    K = 2 if classes is None else len(classes)
    if not np.isin(y, np.arange(K)).all():
        raise ValueError("%s: labels in %s must be %s" % (
            path, y_key, "0 or 1" if K == 2 else "class indices 0 to %d (list_classes names %d)" % (K - 1, K)))
    return x, y.reshape(1, -1), classes


def _class_names(classes):
    return "[%s]" % _short_list(c.decode("utf-8", "replace")[:40] for c in classes)


def _common_classes(train_path, train_classes, test_path, test_classes):
    """The class names both files' labels index: ``[b"0", b"1"]`` if neither file names them.

    Files that both name their classes must list the same names in the same
    order: a label is an index into its own file's list, so a test file
    listing ``[cat, non-cat]`` against a training file's ``[non-cat, cat]``
    would invert every test label. Refused (``ValueError`` naming both), not remapped.
    """
    if train_classes is None or test_classes is None:
        classes = test_classes if test_classes is not None else train_classes
        return np.array([b"0", b"1"]) if classes is None else classes
    if list(map(bytes, train_classes)) != list(map(bytes, test_classes)):
        raise ValueError("%s names the classes %s but %s names %s: labels index their file's list_classes, "
                         "so both files must list the same names in the same order"
                         % (train_path, _class_names(train_classes), test_path, _class_names(test_classes)))
    return test_classes


def load_data(train_path: PathLike = "datasets/train_catvnoncat.h5",
              test_path: PathLike = "datasets/test_catvnoncat.h5",
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The course's ``load_data`` for two HDF5 files, as in ``catvnoncat``.

    With no arguments it reads the files where the course's notebooks keep
    them, ``datasets/`` under the working directory, so a notebook's
    ``load_data()`` runs unchanged.

    Returns ``(train_set_x_orig, train_set_y, test_set_x_orig, test_set_y, classes)``:
    pictures ``(m, h, w, 3)`` (uint8 in the course's files), labels ``(1, m)``
    and ``classes`` from the files' ``list_classes`` (bytes, indexed by
    label; where both files have one, they must name the same classes in
    the same order, or the labels would mean different things). Each file holds ``<name>_set_x`` and ``<name>_set_y``; labels are
    0 and 1, or class indices 0 to K-1 where ``list_classes`` names K > 2
    classes (up to 16). Needs h5py: ``pip install "dnn-course[hdf5]"``.

    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` naming
    the file (and the data set) for anything else: not a regular file (a FIFO
    or a device, refused before it is opened), not HDF5, or a data set that
    is refused from its metadata (see ``_read_h5_split``).
    """
    h5py = _h5py()
    train_x, train_y, train_classes = _read_h5_split(train_path, h5py)
    test_x, test_y, test_classes = _read_h5_split(test_path, h5py)
    if train_x.shape[1:] != test_x.shape[1:]:
        raise ValueError("train pictures are %s but test pictures are %s"
                         % ("x".join(map(str, train_x.shape[1:])), "x".join(map(str, test_x.shape[1:]))))
    classes = _common_classes(train_path, train_classes, test_path, test_classes)
    for path, y in ((train_path, train_y), (test_path, test_y)):
        if y.max() >= len(classes):
            raise ValueError("%s: label %d has no name among the %d classes of list_classes"
                             % (path, int(y.max()), len(classes)))
    return train_x, train_y, test_x, test_y, classes


def flatten_images(x_orig: ArrayLike, dtype: DTypeLike | None = None) -> np.ndarray:
    """``(m, h, w, c)`` pictures in [0, 255] -> ``(h*w*c, m)`` in [0, 1], as the articles do.

    ``x_orig.reshape(m, -1).T / 255``, computed in ``dtype`` (default float32
    for float32 input, else float64); the cast comes first, so integer pixels
    give the same values whatever container they came in. The result is C-contiguous,
    and the only array allocated (no float temporaries of the same size).
    """
    x_orig = np.asarray(x_orig)
    if x_orig.ndim < 2 or x_orig.shape[0] == 0:
        raise ValueError("x_orig must be a non-empty (m, ...) array of pictures, got shape %s" % (x_orig.shape,))
    if x_orig.dtype.kind not in "buif":
        raise TypeError("x_orig must hold numbers (pixel values), got dtype %s" % x_orig.dtype)
    if dtype is None:
        dtype = np.float32 if x_orig.dtype.type is np.float32 else np.float64  # '>f4' too
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        raise TypeError("dtype must be float32 or float64, got %r" % (dtype,)) from None
    if dtype.type not in (np.float32, np.float64):
        raise ValueError("dtype must be float32 or float64, got %s" % dtype)
    dtype = np.dtype(dtype.type)  # native byte order
    src = x_orig.reshape(x_orig.shape[0], -1).T
    out = np.empty(src.shape, dtype)
    # dtype= casts each value to dtype before dividing: astype(dtype) / 255, in place.
    np.divide(src, dtype.type(255.0), out=out, dtype=dtype, casting="unsafe")
    return out

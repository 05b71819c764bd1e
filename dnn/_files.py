"""What a path is, for errors that refuse anything but a regular file.

A FIFO blocks whoever opens it for reading and a device never ends, so the
readers (``dnn.data``, the ``dnn`` command) refuse them before opening, and
``save_model`` refuses to replace anything but a regular file; each names
what it found. ``open_regular`` opens only a regular file, never waiting (the
wisdom file and its lock).
"""

import os
import stat

__all__ = ["kind_of", "open_regular"]

_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISLNK, "a symbolic link"), (stat.S_ISFIFO, "a FIFO"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def kind_of(mode):
    """``"a FIFO"``, ``"a folder"``...: what a file of ``st_mode`` ``mode`` is, with its article."""
    return next((name for test, name in _KINDS if test(mode)), "a special file")


def open_regular(path, flags):
    """A descriptor of ``path`` opened with ``flags``, or None if it is not a regular file (a
    FIFO, a device, a folder: never read, written or waited on). O_NONBLOCK: opening a FIFO
    does not wait for a writer. OSError if it cannot be opened."""
    try:
        fd = os.open(path, flags | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0), 0o666)
    except PermissionError:
        if os.path.isdir(path):  # Windows refuses to open a folder
            return None
        raise
    try:
        regular = stat.S_ISREG(os.fstat(fd).st_mode)
    except OSError:
        os.close(fd)
        raise
    if not regular:
        os.close(fd)
        return None
    return fd

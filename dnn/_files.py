"""What a path is, for errors that refuse anything but a regular file.

A FIFO blocks whoever opens it for reading and a device never ends, so the
readers (``dnn.data``, the ``dnn`` command) refuse them before opening, and
``save_model`` refuses to replace anything but a regular file; each names
what it found.
"""

import stat

__all__ = ["kind_of"]

_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISLNK, "a symbolic link"), (stat.S_ISFIFO, "a FIFO"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def kind_of(mode):
    """``"a FIFO"``, ``"a folder"``...: what a file of ``st_mode`` ``mode`` is, with its article."""
    return next((name for test, name in _KINDS if test(mode)), "a special file")

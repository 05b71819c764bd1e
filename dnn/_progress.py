"""A progress bar for training: tqdm when installed (extra ``dnn-course[progress]``), else a plain one.

``ProgressBar(total)`` is a callable ``bar(iteration, cost)`` for
``L_layer_model(..., callback=bar)``: ``iteration`` is the number of
iterations done, ``cost`` the latest recorded cost or None. ``close()``
ends the line. The built-in bar rewrites one line (``\\r``) on a terminal;
on a pipe or log file it prints a line at each tenth of the run instead.
A stream that cannot be written (a closed pipe: ``dnn train 2>&1 | head``)
silences the bar; it never stops the training it reports on.
"""

import sys
import time

__all__ = ["ProgressBar"]

_WRITE_ERRORS = (OSError, ValueError)   # BrokenPipeError, a closed file


class _Silenceable:
    """Calls and close() of a bar; the first failed write silences it for good."""

    _dead = False

    def __call__(self, iteration, cost):
        if not self._dead:
            try:
                self._update(iteration, cost)
            except _WRITE_ERRORS:
                self._dead = True

    def close(self):
        if not self._dead:
            try:
                self._close()
            except _WRITE_ERRORS:
                self._dead = True


class _TqdmBar(_Silenceable):
    def __init__(self, total, stream):
        from tqdm import tqdm
        self._bar = tqdm(total=total, file=stream, unit="it", dynamic_ncols=True, leave=True)
        self._done = 0

    def _update(self, iteration, cost):
        if cost is not None:
            self._bar.set_postfix_str("cost %.6f" % cost, refresh=False)
        self._bar.update(iteration - self._done)
        self._done = iteration

    def _close(self):
        self._bar.close()


class _TextBar(_Silenceable):
    WIDTH = 30

    def __init__(self, total, stream):
        self._total = max(int(total), 1)
        self._stream = stream
        self._tty = bool(getattr(stream, "isatty", lambda: False)())
        self._start = time.perf_counter()
        self._next_tenth = 1
        self._cost = None
        self._last = -1

    def _line(self, iteration):
        frac = min(iteration / self._total, 1.0)
        filled = int(frac * self.WIDTH)
        cost = "" if self._cost is None else "  cost %.6f" % self._cost
        return "[%s%s] %d/%d  %.1fs%s" % ("#" * filled, "." * (self.WIDTH - filled), iteration,
                                          self._total, time.perf_counter() - self._start, cost)

    def _update(self, iteration, cost):
        if cost is not None:
            self._cost = cost
        self._last = iteration
        if self._tty:
            self._stream.write("\r" + self._line(iteration))
            self._stream.flush()
        elif iteration * 10 >= self._next_tenth * self._total:
            while iteration * 10 >= self._next_tenth * self._total:
                self._next_tenth += 1
            self._stream.write(self._line(iteration) + "\n")
            self._stream.flush()

    def _close(self):
        if self._tty and self._last >= 0:
            self._stream.write("\n")
            self._stream.flush()


def ProgressBar(total, stream=None, use_tqdm=True):
    """A progress callable for ``total`` iterations, written to ``stream`` (default stderr)."""
    stream = sys.stderr if stream is None else stream
    if use_tqdm:
        try:
            return _TqdmBar(total, stream)
        except ImportError:
            pass
        except _WRITE_ERRORS:  # tqdm draws at once: the stream is already closed
            bar = _TextBar(total, stream)
            bar._dead = True
            return bar
    return _TextBar(total, stream)

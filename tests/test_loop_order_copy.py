"""``Loop.epoch`` reads ``order`` without the GIL: it must read its own copy of the permutation
it checked, not the caller's array, which another thread may change meanwhile (an index past X
read there is a crash, not an exception)."""
import subprocess
import sys

import pytest

CHILD = r"""
import sys, threading
import numpy as np
from dnn import _loop

wide = sys.argv[1] == "wide"
rng = np.random.default_rng(0)
m, n0 = 2000, 300
X = rng.random((m, n0))
Y = (rng.random((m, 1)) > 0.5) * 1.0
layers = [(rng.standard_normal((8, n0)) * 0.01, np.zeros((8, 1))), (rng.standard_normal((1, 8)), np.zeros((1, 1)))]
loop = _loop.Loop(layers, X, Y, batch_size=16, wide=wide)
order = np.arange(m, dtype=np.int64)
stop = []

def scribble():  # another thread writes indices far past X into the order, and back
    while not stop:
        for k in range(0, m, 97):
            order[k] = 1 << 40
            order[k] = k

t = threading.Thread(target=scribble)
t.start()
try:
    for _ in range(150):
        try:
            loop.epoch(order, 0.01)
        except ValueError:  # caught by the check: fine
            pass
finally:
    stop.append(1)
    t.join()
print("survived")
"""


@pytest.mark.parametrize("path", ["wide", "gathered"])
def test_order_changed_by_another_thread_during_an_epoch_is_not_read(path, tmp_path):
    # cwd: not the checkout, whose dnn/ (no compiled extensions) "-c" would import first
    child = subprocess.run([sys.executable, "-c", CHILD, path], capture_output=True, text=True, timeout=300,
                           cwd=tmp_path)
    assert child.returncode == 0 and "survived" in child.stdout, (child.returncode, child.stderr[-2000:])

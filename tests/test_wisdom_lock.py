"""Processes sharing a wisdom file decide a new key once (``dnn._plan.decide``): a search's
workers that meet the same long fit at once keep one decision, so their fits give the same bits."""

import json
import subprocess
import sys
import time

import pytest

# Each child waits for the go file, then asks for the same new key; measuring takes 0.5 s and
# answers with the child's name, so two measurements would leave two different answers.
CHILD = r"""
import os, sys, time
from dnn import _plan

class Decision:
    def __init__(self, who):
        self.who = who
    def to_dict(self):
        return {"who": self.who}

go, name = sys.argv[1], sys.argv[2]
while not os.path.exists(go):
    time.sleep(0.005)
measured = []
def measure():
    measured.append(name)
    time.sleep(0.5)
    return Decision(name)
got = _plan.decide("test key", lambda d: Decision(d["who"]), measure)
print(got.who, len(measured))
"""


def test_two_processes_meeting_a_new_key_measure_it_once_and_agree(tmp_path):
    wisdom = tmp_path / "wisdom.json"
    go = tmp_path / "go"
    env = dict(__import__("os").environ, DNN_WISDOM=str(wisdom))
    # cwd: not the checkout, whose dnn/ (no compiled extensions) "-c" would import first
    children = [subprocess.Popen([sys.executable, "-c", CHILD, str(go), name], env=env, cwd=tmp_path,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for name in ("a", "b")]
    time.sleep(1.0)  # both imported and waiting
    go.write_text("")
    answers = []
    for child in children:
        out, err = child.communicate(timeout=120)
        assert child.returncode == 0, err
        who, n = out.split()
        answers.append((who, int(n)))
    assert answers[0][0] == answers[1][0]  # one decision for both
    assert sorted(n for _, n in answers) == [0, 1]  # measured by one of them only
    entries = json.loads(wisdom.read_text())["plans"]
    assert entries == {"test key": {"who": answers[0][0]}}


def test_without_a_wisdom_file_a_decision_is_kept_in_the_process(monkeypatch):
    from dnn import _plan

    monkeypatch.setenv("DNN_WISDOM", "off")
    _plan.forget()
    calls = []

    class Decision:
        def to_dict(self):
            return {}

    def measure():
        calls.append(1)
        return Decision()

    try:
        first = _plan.decide("another test key", lambda d: pytest.fail("no file to read"), measure)
        assert _plan.decide("another test key", lambda d: None, measure) is first
        assert calls == [1]
        assert _plan.decide("a third key", lambda d: None) is None  # nothing kept, nothing measured
    finally:
        _plan.forget()


class _Kept:
    def __init__(self, who="measured"):
        self.who = who

    def to_dict(self):
        return {"who": self.who}


def _decide_new_key(monkeypatch, tmp_path, key):
    from dnn import _plan

    monkeypatch.setenv("DNN_WISDOM", str(tmp_path / "wisdom.json"))
    _plan.forget()
    try:
        return _plan.decide(key, lambda d: _Kept(d["who"]), _Kept)
    finally:
        _plan.forget()


@pytest.mark.skipif(sys.platform == "win32", reason="fcntl's flock")
def test_a_file_system_without_locks_still_decides(monkeypatch, tmp_path):
    """flock can fail (ENOLCK: NFS without its lock daemon): the decision is then taken unlocked, as
    where the cache is read-only, not an OSError out of the user's fit or step call."""
    import errno
    import fcntl

    def flock(fd, op):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", flock)
    assert _decide_new_key(monkeypatch, tmp_path, "no locks").who == "measured"


def test_windows_lock_waits_only_while_another_process_holds_it(monkeypatch, tmp_path):
    """msvcrt.locking raises after 10 s while another process holds the lock (EDEADLOCK: wait on), or
    at once where the file cannot be locked at all (EINVAL, EBADF): that must not loop for ever."""
    import errno
    import types

    calls = []

    def locking(fd, mode, n):
        calls.append(mode)
        if mode == fake.LK_UNLCK:
            return
        if len(calls) > 50:
            raise RuntimeError("locking retried a permanent error %d times" % len(calls))
        if len(calls) <= 2:
            raise OSError(errno.EDEADLOCK, "Resource deadlock avoided")  # held by another: waits
        raise OSError(errno.EINVAL, "Invalid argument")

    fake = types.SimpleNamespace(LK_LOCK=1, LK_UNLCK=0, locking=locking)
    monkeypatch.setitem(sys.modules, "msvcrt", fake)
    monkeypatch.setattr(sys, "platform", "win32")
    got = _decide_new_key(monkeypatch, tmp_path, "windows")
    monkeypatch.undo()
    assert got.who == "measured"
    assert calls[:3] == [1, 1, 1] and len(calls) <= 4


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="no fork on this platform")
@pytest.mark.filterwarnings("ignore:.*use of fork\\(\\) may lead to deadlocks:DeprecationWarning")  # Python >= 3.12
def test_a_child_forked_while_another_thread_measures_can_decide(monkeypatch, tmp_path):
    """A measurement holds the process's decision lock and the wisdom file's lock for seconds; a
    process forked meanwhile (multiprocessing's fork, a pool's workers) inherits the first held by a
    thread it does not have, and a copy of the second's open file: once the parent's measurement
    ends, the child's own decisions (a new key: the file lock too) must not wait for ever."""
    import os
    import threading

    from dnn import _plan

    monkeypatch.setenv("DNN_WISDOM", str(tmp_path / "wisdom.json"))
    _plan.forget()
    inside, release = threading.Event(), threading.Event()

    def slow():
        inside.set()
        release.wait(20)
        return _Kept("parent")

    parent = threading.Thread(target=lambda: _plan.decide("parent key", lambda d: _Kept(d["who"]), slow))
    parent.start()
    try:
        assert inside.wait(10)
        pid = os.fork()
        if pid == 0:  # the child: decide a new key in a thread, give up after 10 s
            code = 1
            try:
                got = []
                t = threading.Thread(target=lambda: got.append(
                    _plan.decide("child key", lambda d: _Kept(d["who"]), _Kept)))
                t.daemon = True
                t.start()
                t.join(10)
                code = 0 if got and got[0].who == "measured" else 1
            finally:
                os._exit(code)
        release.set()  # the parent's measurement ends: its locks are released
        parent.join(20)
        _, status = os.waitpid(pid, 0)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, "the forked child's decide hung"
    finally:
        release.set()
        parent.join(20)
        _plan.forget()


def test_a_wisdom_file_that_cannot_be_replaced_leaves_no_temporary_file(monkeypatch, tmp_path):
    """DNN_WISDOM naming a directory: the decision stays in the process (with a warning), and
    nothing is written beside it: no temporary file, no lock."""
    target = tmp_path / "wisdom.json"
    target.mkdir()
    monkeypatch.setenv("DNN_WISDOM", str(target))
    from dnn import _plan

    _plan.forget()
    try:
        with pytest.warns(RuntimeWarning, match="is not a regular file"):
            assert _plan.decide("dir key", lambda d: _Kept(d["who"]), _Kept).who == "measured"
    finally:
        _plan.forget()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["wisdom.json"]


def test_a_decided_key_does_not_wait_for_another_threads_measurement(monkeypatch, tmp_path):
    import threading

    from dnn import _plan

    monkeypatch.setenv("DNN_WISDOM", str(tmp_path / "wisdom.json"))
    _plan.forget()

    class Decision:
        def __init__(self, who):
            self.who = who

        def to_dict(self):
            return {"who": self.who}

    started, release = threading.Event(), threading.Event()

    def slow():
        started.set()
        assert release.wait(60)
        return Decision("slow")

    try:
        assert _plan.decide("decided key", lambda d: Decision(d["who"]), lambda: Decision("fast")).who == "fast"
        worker = threading.Thread(target=_plan.decide, args=("new key", lambda d: Decision(d["who"]), slow))
        worker.start()
        assert started.wait(60)
        done = []
        asker = threading.Thread(target=lambda: done.append(_plan.decide("decided key", lambda d: None).who))
        asker.start()
        asker.join(10)
        assert done == ["fast"]  # answered while the other key is still being measured
        release.set()
        worker.join(60)
        assert _plan.decide("new key", lambda d: None).who == "slow"
    finally:
        release.set()
        _plan.forget()

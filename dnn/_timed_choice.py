"""A choice between two ways to compute the same numbers, made by timing both where they run.

Some of the loops' choices change the time and no number: the wide first layer's backward
(``dnn._loop``) either copies each block of the batch's rows into a buffer in L2 first or reads
them in place, and both give the same sums. Which one is faster depends on the machine's caches,
on who shares them and on the data's size (benchmarks/NOTES.md, "The wide backward's gather,
prefetched"). A rule would be one machine's measurement, so the loops time both on their own
epochs and keep the faster.

``shared(key)``: one ``TimedChoice`` per problem (what decides the two paths' speed: sizes,
dtype, threads) in the process, so that fits of a few epochs each (``warm_start``,
``partial_fit``, a search's folds) add up to one measurement instead of each starting one. Its
schedule: ``warm_ups`` epochs on the rule's choice, untimed (caches and pages still cold); then
``rounds`` timed epochs of each choice in ABBA order (rule, other, other, rule, ...: a drift in the
machine's speed falls on both alike); then the rule's choice for good unless the other's median
epoch is ``MARGIN`` faster. Because neither choice changes a number, the timing (whatever it turns
out to be) changes none either: the same call gives the same bits whichever is kept.

``dnn._kernels.threads_for`` makes a choice of the same kind for the step calls (a large layer on
the pool or on one thread), in C: those calls take microseconds and come by the thousand, so it
keeps moving averages and looks again now and then; an epoch takes milliseconds, and a fit's
choice, like its plan (``dnn._loop_plan``), is made once.
"""

import os
import statistics
import threading
import time

__all__ = ["MARGIN", "MAX_PROBLEMS", "TimedChoice", "clock", "shared"]

#: The other choice replaces the rule's only if its median epoch is this much faster
#: (``dnn._plan.MARGIN``'s reason: noise must not flip a choice back and forth between fits).
MARGIN = 0.03

#: The clock the epochs are timed by (wall time: a team's epoch is the time of its slowest thread).
clock = time.perf_counter

#: Problems a process keeps choices for; past this many, all are dropped (measured again when met).
MAX_PROBLEMS = 1024

_shared = {}
_lock = threading.Lock()  # the registry's and every TimedChoice's steps (a few list operations)


def _after_fork():
    """A child forked while another thread held the lock gets a free one (as the loops' teams
    are restarted in a child)."""
    global _lock
    _lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


class TimedChoice:
    """Which of two choices (True, False) to run each epoch, from the times ``record`` is given.

    ``choose(rule)`` returns the choice for the next epoch and whether to time it; after a timed
    epoch, ``record(choice, seconds)``. ``decided``: the choice kept, None until the rounds are in.
    Fits in several threads may share one: each call is one step under the module's lock.
    """

    def __init__(self, warm_ups, rounds):
        self.warm_ups, self.rounds = int(warm_ups), int(rounds)
        self.seen = 0
        self.rule = None
        self.times = {True: [], False: []}
        self.decided = None

    def choose(self, rule):
        """(choice, timed) for the next epoch, whose rule says ``rule``."""
        with _lock:
            self.rule = rule = bool(rule)
            if self.decided is not None:
                return self.decided, False
            if self.rounds <= 0:
                return rule, False
            i, self.seen = self.seen - self.warm_ups, self.seen + 1
            if i < 0:
                return rule, False
            return (rule if i % 4 in (0, 3) else not rule), True

    def record(self, choice, seconds):
        """The time of an epoch ``choose`` asked to time; decides once both have ``rounds`` times."""
        with _lock:
            if self.decided is not None:
                return
            self.times[bool(choice)].append(float(seconds))
            ours, other = self.times[self.rule], self.times[not self.rule]
            if len(ours) >= self.rounds and len(other) >= self.rounds:
                faster = statistics.median(other) < (1 - MARGIN) * statistics.median(ours)
                self.decided = not self.rule if faster else self.rule


def shared(key, warm_ups, rounds):
    """The process's ``TimedChoice`` for ``key`` (hashable); the first call's schedule makes it."""
    with _lock:
        choice = _shared.get(key)
        if choice is None:
            if len(_shared) >= MAX_PROBLEMS:
                _shared.clear()
            choice = _shared[key] = TimedChoice(warm_ups, rounds)
        return choice

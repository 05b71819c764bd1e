"""A fit's plan: every path decision of ``dnn._train.Trainer``, in one place.

A ``Plan`` says, for one fit, which of each layer's three products (W H and
W^T dZ: ``NN``; dZ H^T: ``NT``; the first layer's dZ_1 X^T through a copy of
X^T: ``XT``) run in ``dnn._simd``'s own kernels instead of BLAS, into how many
shards the examples are split, whether the first layer runs in the Gram form,
and the memory layout. ``dnn.models`` asks ``choose`` for it; a caller may
pass one (``L_layer_model(..., plan=...)``), and tests build the one they want.

Which plan is fastest depends on the CPU, its BLAS and kernel set, so it is
measured, not written down (tables and history: ``benchmarks/NOTES.md``).
The thread count decides nothing that changes a number: a plan's arithmetic
(shards, Gram form, layout, who computes each product) follows from the
shape, the dtype and the machine, BLAS runs one thread per call for the
whole fit, and the threads allowed only say how many of the fit's shards run
at once (one thread takes them in turn). So a fit gives the same bits under
``threadpool_limits(1)`` as with every core.

- Fixed by arithmetic, on every machine: the Gram form (when it saves more
  FLOPs than X^T X costs), the layout (samples-major for a float32
  narrow-on-wide first layer, where sgemm's transposed operands win) and the
  shards (``max_shards``: one per core, up to ``SPLIT_SHARDS``, where the
  split pays).
- Short fits (fewer than ``PLAN_MIN_ITERATIONS``) get ``rule_plan``: BLAS for
  every product but the tiny ones (``TINY_PRODUCT``). Never timed.
- Long fits time the candidates (``candidates``: BLAS, or own kernels where
  they may win) for a few iterations each on the fit's own data, on copies
  of its parameters, in alternation (``measure``); the fastest wins, and
  only by ``MARGIN`` over the simpler plan listed first, so noise cannot
  pick a loser. About ``PLAN_BUDGET`` of the fit's time is spent on it, and
  the candidates' workspaces are held meanwhile.
- A decision is kept per key (layer sizes, m, dtype, Gram form, shards,
  cores, CPU, SIMD build, BLAS and its kernel set; not the thread count) in
  the process and in the wisdom file (``wisdom_path``), and reused: the same
  call on the same machine gives the same bits, at any thread count. It is
  timed with the threads the first such fit may use.
"""

import contextlib
import dataclasses
import errno
import json
import os
import platform
import statistics
import sys
import threading
import time
import warnings

import numpy as np

from dnn import _train
from dnn._blas_threads import blas_lent, blas_threads
from dnn._files import open_regular

__all__ = ["Plan", "NN", "NT", "XT", "TINY_PRODUCT", "OWN_PRODUCT_BYTES", "XT_BYTES",
           "PLAN_MIN_ITERATIONS", "MARGIN", "rule_plan", "blas_plan", "candidates", "choose",
           "plan_for", "cores", "max_shards", "wisdom_path", "forget"]

NN = _train.OWN_PRODUCTS["nn"]
NT = _train.OWN_PRODUCTS["nt"]
XT = _train.OWN_PRODUCTS["xt"]

#: A product whose weight matrix has at most this many entries runs in
#: ``dnn._simd`` in every plan: a BLAS call costs more in set-up, packing and
#: zeroing its output than in arithmetic there.
TINY_PRODUCT = 64

#: The largest operands (bytes, one call's activations in and out) for which
#: ``nt`` is a candidate: it sums over the examples without cache blocking, so
#: both must stay in a core's L2.
OWN_PRODUCT_BYTES = 1 << 20

#: The largest copy of X^T (bytes) a candidate may make for ``XT``.
XT_BYTES = 256 << 20

#: Fits of fewer iterations get ``rule_plan``, untimed.
PLAN_MIN_ITERATIONS = 500

#: The share of a fit's time the planner may spend timing candidates.
PLAN_BUDGET = 0.04

#: A candidate replaces the simpler plan only if its median is this much lower.
MARGIN = 0.03

#: Timed rounds per candidate (after one warm-up iteration).
ROUNDS = 5

#: A round of the mini-batch planner during which the hypervisor kept this
#: machine's virtual CPUs from running for more than this share of the round's
#: wall time is timed again (``steal_seconds``), at most ``STOLEN_ROUNDS`` times.
STOLEN_SHARE = 0.05
STOLEN_ROUNDS = 3


def steal_seconds():
    """Seconds the hypervisor has taken from this machine's virtual CPUs since
    boot, summed over them (Linux's ``/proc/stat``; 0 elsewhere). A thread team
    whose helper's vCPU is taken for milliseconds stalls every phase until it
    comes back: on a shared virtual machine such a round made a team lose to one
    thread that it beats in a fit of its own (benchmarks/NOTES.md, "Steal, the
    step loop's rounds and a long K in chunks")."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
        return int(fields[8]) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError, AttributeError):
        return 0.0


#: The most shards a plan may have: the training loop's thread limit. Each
#: shard holds a copy of the weight gradients, so the cap also bounds what a
#: given (or tampered) plan can allocate.
MAX_SHARDS = 64

#: The most shards ``max_shards`` splits a fit into. The split is fixed by the
#: machine, not by the threads allowed, so a fit limited to one thread runs
#: every shard in turn: the cap bounds that cost (and the shards' gradient
#: copies) on a machine of many cores.
SPLIT_SHARDS = 8

_LAYOUTS = ("features-major", "samples-major")


@dataclasses.dataclass(frozen=True)
class Plan:
    """How one fit runs (``dnn._train.Trainer``'s path decisions).

    ``own``: one int per layer, ``NN | NT | XT`` or'ed (0: every product on
    BLAS); ``shards``: blocks of examples, each on a thread (1: no split);
    ``gram``: the first layer in the Gram form (needs ``shards == 1``);
    ``samples_major``: hidden layers stored (m, n_l) (``own`` then ignored).
    ``source`` (not compared) says where it came from.
    """

    own: tuple
    shards: int = 1
    gram: bool = False
    samples_major: bool = False
    source: str = dataclasses.field(default="given", compare=False)

    def check(self, dims, m):
        """Raise ValueError unless this plan can run a fit of ``dims`` on ``m`` examples."""
        L = len(dims) - 1
        if not isinstance(self.own, tuple) or len(self.own) != L or not all(
                isinstance(o, (int, np.integer)) and 0 <= o <= (NN | NT | XT) for o in self.own):
            raise ValueError("plan.own must be a tuple of %d ints in 0..%d (NN | NT | XT), "
                             "got %r" % (L, NN | NT | XT, self.own))
        top = min(m, MAX_SHARDS)
        if not isinstance(self.shards, (int, np.integer)) or not 1 <= self.shards <= top:
            raise ValueError("plan.shards must be an int between 1 and %d (m = %d, at most %d), "
                             "got %r" % (top, m, MAX_SHARDS, self.shards))
        if self.gram and self.shards != 1:
            raise ValueError("plan.gram needs plan.shards == 1, got %d shards" % self.shards)

    def describe(self):
        """One line: shards, layout, Gram form, and who computes each layer's products.

        Per layer two letters, W H and W^T dZ then dZ H^T: ``o`` our kernel,
        ``b`` BLAS, ``x`` our kernel over the copy of X^T.
        """
        layers = " ".join(("o" if o & NN else "b") + ("x" if o & XT else "o" if o & NT else "b")
                          for o in self.own)
        return "shards %d, %s, Gram form %s, products %s (%s)" % (
            self.shards, _LAYOUTS[self.samples_major], "on" if self.gram else "off", layers,
            self.source)

    def code(self):
        """Short form for tables: ``x<shards>``, ``G`` (Gram form), ``SM`` (samples-major),
        then ``describe``'s two letters per layer, e.g. ``x2 ox.ob.ob.oo``."""
        flags = "".join(f for f, on in ((" G", self.gram), (" SM", self.samples_major)) if on)
        return "x%d%s %s" % (self.shards, flags, ".".join(
            ("o" if o & NN else "b") + ("x" if o & XT else "o" if o & NT else "b")
            for o in self.own))

    def to_dict(self):
        return {"own": list(self.own), "shards": self.shards, "gram": self.gram,
                "samples_major": self.samples_major}

    @classmethod
    def from_dict(cls, d, source="wisdom"):
        """The plan ``to_dict`` wrote: TypeError unless its fields have exactly those types."""
        own, shards, gram, sm = d["own"], d["shards"], d["gram"], d["samples_major"]
        if (type(own) is not list or not all(type(o) is int for o in own) or type(shards) is not int
                or type(gram) is not bool or type(sm) is not bool):
            raise TypeError("not a plan's fields (a list of ints, an int, two bools): %r" % (d,))
        return cls(tuple(own), shards, gram, sm, source)


# --------------------------------------------------------------------------
# What is fixed by arithmetic
# --------------------------------------------------------------------------

def samples_major(dims, dtype):
    """Samples-major hidden layers for float32 with a narrow first layer on a wide input.

    (The cat network's 12288 -> 20: sgemm 11-30% faster on the transposed
    operands, ``benchmarks/NOTES.md``.)
    """
    n_0, n_1 = dims[0], dims[1]
    return np.dtype(dtype) == np.float32 and n_0 >= 1024 and n_0 >= 16 * n_1


def gram_form(dims, m, num_iterations):
    """The first layer in the Gram form: when the FLOPs it saves repay X^T X twice.

    W_1 X becomes the last W_1 X plus a dZ_1 (X^T X), a (n_1, m) x (m, m)
    product instead of (n_1, n_0) x (n_0, m): it pays with fewer examples than
    inputs (``dnn._train``'s docstring).
    """
    n_0, n_1 = dims[0], dims[1]
    if 2 * m > n_0:
        return False
    saved = 2.0 * n_1 * m * (n_0 - m) * num_iterations
    return saved > 2 * (2.0 * m * m * n_0)


def cores():
    """CPUs this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def max_shards(dims, m, gram, chunk_iterations, ncores=None):
    """Shards a fit is split into (1: the fit is not split): one per core this
    process may run on (``cores``), up to ``SPLIT_SHARDS``, if the split can
    pay: not with the Gram form, not on fewer than 64 examples a shard, not
    where the parameters outweigh the activations (the shards' weight
    gradients are added every iteration), not where a chunk (up to the next
    recorded cost) is too little work to start threads for.

    Not the threads BLAS is allowed: the split decides the sums, and a fit
    gives the same bits at any thread count (fewer threads take the same
    shards in turn).
    """
    ncores = cores() if ncores is None else ncores
    limit = min(ncores, m // 64, SPLIT_SHARDS)
    if gram or limit < 2:
        return 1
    params = sum(a * b for a, b in zip(dims[1:], dims))
    flops = 6 * params * m
    if params > sum(dims[1:]) * m or flops < 2e6 or flops * chunk_iterations < 5e7:
        return 1
    return limit


def _tiny(n_out, n_in):
    return n_out * n_in <= TINY_PRODUCT


# --------------------------------------------------------------------------
# Plans
# --------------------------------------------------------------------------

def _base(dims, m, dtype, num_iterations):
    return gram_form(dims, m, num_iterations), samples_major(dims, dtype)


def rule_plan(dims, m, dtype, num_iterations, chunk_iterations=100, ncores=None):
    """The short fit's plan: BLAS for every product but the tiny ones, shards where they pay."""
    gram, sm = _base(dims, m, dtype, num_iterations)
    own = tuple(NN | NT if _tiny(o, i) else 0 for o, i in zip(dims[1:], dims))
    return Plan(own, max_shards(dims, m, gram, chunk_iterations, ncores), gram, sm, "rule")


def blas_plan(dims, m, dtype, num_iterations, chunk_iterations=100, ncores=None):
    """``plan="blas"``: every product on BLAS; shards, Gram form and layout as ``rule_plan``."""
    p = rule_plan(dims, m, dtype, num_iterations, chunk_iterations, ncores)
    return Plan((0,) * (len(dims) - 1), p.shards, p.gram, p.samples_major, "blas")


def _own_kernels(dims, m, itemsize, shards, gram, build):
    """The products our kernels may win, with BLAS on one thread a call: per layer flags."""
    m_shard = -(-m // shards)
    own = []
    for l, (n_out, n_in) in enumerate(zip(dims[1:], dims), start=1):
        fits = (n_out + n_in) * m_shard * itemsize <= OWN_PRODUCT_BYTES
        if _tiny(n_out, n_in):
            own.append(NN | NT)
        elif build == "avx512":
            xt = l == 1 and not fits and not gram and n_in * m * itemsize <= XT_BYTES
            own.append(NN | (NT if fits else 0) | (XT if xt else 0))
        elif build == "avx2" and fits:
            own.append(NN | NT)
        else:
            own.append(0)
    return tuple(own)


def candidates(dims, m, dtype, num_iterations, chunk_iterations=100, ncores=None, build=None):
    """The plans a long fit times, simplest first (``rule_plan``), without duplicates: the
    rule's shards, with BLAS (but the tiny) or with our kernels where they may win (BLAS runs
    one thread a call, and the SIMD build has wide vectors; on several cores, not for an
    unsplit fit's products that BLAS runs in slabs on them). On one core, also two shards in
    turn: smaller blocks of examples stay in cache (S3, S6: up to 1.25x, benchmarks/NOTES.md).
    Nothing here depends on the threads allowed (the module's docstring)."""
    build = _train.simd_kernels() if build is None else build
    ncores = cores() if ncores is None else ncores
    base = rule_plan(dims, m, dtype, num_iterations, chunk_iterations, ncores)
    itemsize = np.dtype(dtype).itemsize
    options = [base.shards]
    if base.shards == 1 and ncores == 1 and max_shards(dims, m, base.gram, chunk_iterations, 2) == 2:
        options.append(2)
    out = [base]
    for shards in options:
        blas = Plan(base.own, shards, base.gram, base.samples_major, "measured")
        flags = _own_kernels(dims, m, itemsize, shards, base.gram, build)
        if shards == 1 and ncores > 1:
            # An unsplit fit's large BLAS products share the cores in slabs; ours would run
            # one thread (and a plan timed at one thread is kept for every count).
            flags = tuple(f if not _train.layer_slabbed(dims[l + 1], dims[l], m) else base.own[l]
                          for l, f in enumerate(flags))
        own = Plan(flags, shards, base.gram, base.samples_major, "measured")
        for p in (blas, own):
            if p.samples_major and p.own != base.own:
                continue  # samples-major ignores own
            if p not in out:
                out.append(p)
    return out


# --------------------------------------------------------------------------
# Measuring
# --------------------------------------------------------------------------

def _trainer(plan, weights, biases, X, Y, lr, threads=1):
    """``plan``'s Trainer; its set-up (the Gram form's X^T X) on up to ``threads`` threads, which a
    caller holding BLAS at one thread (``blas_lent``) may lend."""
    return _train.Trainer(weights, biases, X, Y, lr, plan.samples_major, plan.gram, plan.shards,
                          list(plan.own), threads)


def fit_threads(plan):
    """The threads a fit of ``plan`` can use (``blas_lent`` caps them at the user's limit): one
    per shard, or for an unsplit fit as many as its BLAS products' slabs (``dnn._train``), at
    most the cores. The numbers never depend on how many it gets."""
    return plan.shards if plan.shards > 1 else min(_train.SLAB_THREADS, cores())


def _timed_run(plan, trainer, start, k, clock=time.perf_counter):
    with blas_lent(fit_threads(plan)) as threads:
        t0 = clock()
        trainer.run(start, start + k, -1, 1e9, threads)
        return clock() - t0


def _thread_clock_ok():
    """Whether ``time.thread_time`` ticks finely enough to time a few iterations."""
    try:
        return time.get_clock_info("thread_time").resolution <= 1e-6
    except (ValueError, OSError):
        return False


def measure(plans, weights, biases, X, Y, lr, num_iterations):
    """Seconds per iteration of each plan, one per round, timed in alternation on copies of the
    parameters.

    One warm-up iteration each, then up to ``ROUNDS`` rounds; in a round each
    plan runs k, then 2k iterations, and (t_2k - t_k) / k is its time per
    iteration without what a run costs once (starting the shards' threads,
    as a real fit does once per chunk of many iterations); the median over
    the rounds is its time (``pick``). Not the minimum: on a busy machine a threaded
    BLAS now and then gets every core for a short run and looks fast, then
    loses in the long one. Where every plan runs on the calling thread
    alone, the clock is that thread's CPU time, which other processes do
    not touch. All within ``PLAN_BUDGET`` of the fit's time as the warm-ups
    estimate it.
    """
    copies = [([w.copy() for w in weights], [b.copy() for b in biases]) for _ in plans]
    trainers = [_trainer(p, ws, bs, X, Y, lr) for p, (ws, bs) in zip(plans, copies)]
    # Where every plan runs on this one thread (BLAS is held at one thread), its CPU time:
    # blind to other processes.
    one = blas_threads() == 1 or all(fit_threads(p) == 1 for p in plans)
    clock = time.thread_time if one and _thread_clock_ok() else time.perf_counter
    est = min(_timed_run(p, tr, 0, 1, clock) for p, tr in zip(plans, trainers))
    done = 1
    per_round = max(1, int(PLAN_BUDGET * num_iterations / (len(plans) * 3 * ROUNDS)))
    # runs of at least ~2 ms where the iterations are fast, within the budget
    k = max(1, min(per_round, int(0.002 / max(est, 1e-7)) + 1))
    budget = PLAN_BUDGET * num_iterations * est
    times = [[] for _ in plans]
    t_start = time.perf_counter()
    for r in range(ROUNDS):
        for j, (p, tr) in enumerate(zip(plans, trainers)):
            t_k = _timed_run(p, tr, done, k, clock)
            t_2k = _timed_run(p, tr, done + k, 2 * k, clock)
            times[j].append((t_2k - t_k) / k if t_2k > t_k else t_2k / (2 * k))
        done += 3 * k
        if r >= 2 and time.perf_counter() - t_start > budget:
            break
    return times


def pick(plans, times):
    """The plan to keep, from each plan's per-round times (``measure``).

    A plan replaces the first (the simplest) only if its median is ``MARGIN``
    below the first's and it was the faster of the two in at least 4 rounds
    of 5 (paired: the same moment's load): noise cannot pick a loser. Of
    those that qualify, the lowest median.
    """
    base = statistics.median(times[0])
    best, best_time = 0, base
    for j in range(1, len(plans)):
        med = statistics.median(times[j])
        wins = sum(a < b for a, b in zip(times[j], times[0]))
        if med < (1 - MARGIN) * base and wins >= 0.8 * len(times[0]) and med < best_time:
            best, best_time = j, med
    return plans[best] if best else dataclasses.replace(plans[0], source="measured")


# --------------------------------------------------------------------------
# Keys, cache and wisdom
# --------------------------------------------------------------------------

_lock = threading.Lock()       # the cache
_measuring = threading.Lock()  # one measurement at a time in this process (``decide``)
_cache = {}
_peeked = {}  # key -> the wisdom file's entry as ``kept`` read it (None: none); never in ``_cache``
_machine = None


def _after_fork_in_child():
    # A child forked while another thread held ``_lock`` or ``_measuring`` (measuring, seconds)
    # would wait for ever.
    global _lock, _measuring
    _lock = threading.Lock()
    _measuring = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def cpu_name():
    """The CPU's model name (Linux's /proc/cpuinfo), else what ``platform`` knows."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return cpu


def _machine_key():
    """What about this machine decides plans: CPU, SIMD build, BLAS and its kernel set."""
    global _machine
    if _machine is None:
        cpu = cpu_name()
        blas = []
        try:
            from threadpoolctl import threadpool_info

            import scipy.linalg  # noqa: F401  (the BLAS dnn calls)
            blas = sorted("%s %s %s" % (i.get("internal_api"), i.get("version"),
                                        i.get("architecture")) for i in threadpool_info()
                          if i.get("user_api") == "blas")
        except Exception:
            pass
        from dnn import __version__
        _machine = "%s | %s | dnn %s" % (cpu, "; ".join(blas), __version__)
    return _machine


def plan_key(dims, m, dtype, gram, chunk_split, ncores, build):
    """A full-batch fit's key: its shape and what about the machine decides its plan. Not the
    threads allowed: a decision holds at every thread count (the same bits)."""
    return "%s | m %d | %s | gram %d | split %d | cores %d | %s | %s" % (
        ",".join(map(str, dims)), m, np.dtype(dtype).name, gram, chunk_split, ncores, build,
        _machine_key())


def wisdom_path():
    """The wisdom file, or None when off.

    ``DNN_WISDOM``: a path, or ``off`` (also ``0``, empty, or the null device,
    ``os.devnull``). Default: on,
    ``$XDG_CACHE_HOME/dnn/wisdom.json`` (``~/.cache/dnn/wisdom.json``) on
    Linux, ``~/Library/Caches/dnn/wisdom.json`` on macOS,
    ``%LOCALAPPDATA%\\dnn\\wisdom.json`` on Windows.
    """
    env = os.environ.get("DNN_WISDOM")
    if env is not None:
        return None if env.strip().lower() in ("", "0", "off", "no", "false") or env == os.devnull else env
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or os.path.expanduser("~\\AppData\\Local")
    elif sys.platform == "darwin":
        base = os.path.expanduser("~/Library/Caches")
    else:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return os.path.join(base, "dnn", "wisdom.json")


_WISDOM_MAX_BYTES = 4 << 20
_WISDOM_FORMAT = "dnn-wisdom-1"
_warned = set()  # (path, reason) of wisdom files found unusable, warned about once per process


def _load_wisdom(path):
    """``(entries, why, foreign)``: the wisdom file's entries (key -> dict), ``why`` None; no
    file (or an empty one) is no entries. Else ``({}, why, foreign)``: ``foreign``, ``path`` is
    something else (not a regular file, over ``_WISDOM_MAX_BYTES``, not a dnn wisdom file),
    never written over; or it could not be read now (``foreign`` False: perhaps another
    process's moment). Read with a bound, whatever size the file system says."""
    try:
        fd = open_regular(path, os.O_RDONLY)
        if fd is None:
            return {}, "is not a regular file", True
        with os.fdopen(fd, "rb") as f:
            raw = f.read(_WISDOM_MAX_BYTES + 1)
    except FileNotFoundError:
        return {}, None, False
    except OSError as exc:
        return {}, "cannot be read (%s)" % (exc.strerror or exc), False
    if len(raw) > _WISDOM_MAX_BYTES:
        return {}, "is larger than %d MiB" % (_WISDOM_MAX_BYTES >> 20), True
    if not raw.strip():
        return {}, None, False
    try:
        data = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError):  # not UTF-8 or not JSON; nested past the parser's depth
        return {}, "is not JSON", True
    if (not isinstance(data, dict) or data.get("format") != _WISDOM_FORMAT
            or not isinstance(data.get("plans"), dict)):
        return {}, "is not a dnn wisdom file", True
    return data["plans"], None, False


def _warn_unusable(path, why):
    """Once per process and reason: the decisions are measured and kept in this process."""
    if (path, why) not in _warned:
        _warned.add((path, why))
        warnings.warn("dnn: the wisdom file %s %s: plans are measured in each process and kept there, "
                      "and the file is left as it is (DNN_WISDOM names another file, or off)"
                      % (path, why), RuntimeWarning, stacklevel=2)


def _fitting(entries, bound):
    """``entries`` as the file's JSON text of at most ``bound`` bytes: where they would take
    more, the oldest are dropped until they take three quarters of it (keys name dnn's and the
    BLAS's versions, so old ones are seldom met again; the slack spares the next decisions a
    rewrite each)."""
    text = json.dumps({"format": _WISDOM_FORMAT, "plans": entries}, indent=0)
    if len(text.encode("utf-8")) <= bound:
        return text
    keys = list(entries)
    sizes = [len(json.dumps({k: entries[k]}, indent=0).encode("utf-8")) for k in keys]
    total, first = sum(sizes), 0
    while first < len(keys) and total > 3 * bound // 4:
        total -= sizes[first]
        first += 1
    while True:  # the sizes above are each entry's with its own braces: more than its share
        text = json.dumps({"format": _WISDOM_FORMAT, "plans": {k: entries[k] for k in keys[first:]}}, indent=0)
        if len(text.encode("utf-8")) <= bound or first == len(keys):
            return text
        first += 1


def _write_wisdom(path, key, plan):
    """Add ``key``'s decision to the wisdom file (under ``_file_lock``), through a new temporary
    file beside it (``_new_file_beside``) and ``os.replace``.
    Nothing if the file is not ours or cannot be read now (its entries would be lost), or
    cannot be written (a read-only cache): the decision stays in this process."""
    try:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        entries, why, _ = _load_wisdom(path)
        if why is not None:
            return
        entries[key] = plan.to_dict()
        text = _fitting(entries, _WISDOM_MAX_BYTES)
        fd, tmp = _new_file_beside(path)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            os.replace(tmp, path)
        except BaseException:
            try:
                os.remove(tmp)  # not left beside a path that cannot be replaced
            except OSError:
                pass
            raise
    except (OSError, ValueError, RecursionError):  # a read-only cache; an entry JSON cannot write
        pass


def _new_file_beside(path):
    """``(descriptor, name)`` of a new file beside ``path``, for writing: O_EXCL, so never a file,
    FIFO or link already there; mode 0o666 less the umask, as ``open`` makes one."""
    for _ in range(100):
        tmp = "%s.%d.%s.tmp" % (path, os.getpid(), os.urandom(4).hex())
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError("no new temporary name beside %s" % path)


def wisdom_entry(key, parse, warn=True):
    """``parse(entry)`` of the wisdom file's entry for ``key``; None if the file is off or not
    usable, has no such entry, or ``parse`` refuses it (KeyError, TypeError, ValueError,
    OverflowError: measure again). A file that is not a wisdom file is warned about
    (``_warn_unusable``); one that cannot be read now, only with ``warn``."""
    path = wisdom_path()
    if path is None:
        return None
    entries, why, foreign = _load_wisdom(path)
    if why is not None and (foreign or warn):
        _warn_unusable(path, why)
    d = entries.get(key)
    if d is None:
        return None
    try:
        return parse(d)
    except (KeyError, TypeError, ValueError, OverflowError):
        return None


@contextlib.contextmanager
def _file_lock(path):
    """The wisdom file's lock (``path + ".lock"``) across processes, or nothing where it cannot
    be taken (no file, a read-only cache, a file system without locks): then each process keeps
    its own decision. It waits only while another process holds the lock."""
    if path is None:
        yield
        return
    try:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        fd = open_regular(path + ".lock", os.O_RDWR | os.O_CREAT)
    except OSError:
        fd = None
    if fd is None:  # cannot be made, or not a regular file (a FIFO would block)
        yield
        return
    f = os.fdopen(fd, "r+b")
    locked = False
    try:
        try:
            if sys.platform == "win32":
                import msvcrt

                f.seek(0)
                while True:
                    try:
                        msvcrt.locking(f.fileno(), msvcrt.LK_LOCK, 1)
                        break
                    except OSError as e:
                        # held by another process: LK_LOCK gave up after 10 s of retries; wait on
                        if e.errno not in (errno.EDEADLOCK, errno.EACCES):
                            raise
            else:
                import fcntl

                fcntl.flock(f.fileno(), fcntl.LOCK_EX)
            locked = True
        except OSError:
            pass  # cannot be locked (ENOLCK on NFS, EINVAL): unlocked, as a read-only cache
        yield
    finally:
        try:
            if locked and sys.platform == "win32":
                import msvcrt

                f.seek(0)
                msvcrt.locking(f.fileno(), msvcrt.LK_UNLCK, 1)
            elif locked:
                import fcntl

                # explicitly: close() alone leaves it held while a forked child keeps a copy of f
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)
        except OSError:
            pass
        f.close()


def decide(key, parse, measure=None):
    """The decision kept for ``key``: this process's, else the wisdom file's (``parse``d, see
    ``wisdom_entry``), else ``measure()``'s, kept in both; None if nothing is kept and
    ``measure`` is None. Measuring holds the wisdom file's lock and re-reads the file under
    it, so processes that meet a new key at once (a search's workers) measure it once and
    all use that one decision: the same call gives the same bits in each of them. In the
    process, one measurement runs at a time (``_measuring``); a thread asking for a key
    already decided does not wait for it (``_lock`` guards the cache alone)."""
    with _lock:
        got = _cache.get(key)
    if got is not None:
        return got
    got = wisdom_entry(key, parse, warn=measure is None)  # unlocked: a failed read is looked at again
    if got is None and measure is not None:
        with _measuring:
            with _lock:
                got = _cache.get(key)  # another thread measured it meanwhile
            if got is None:
                path = wisdom_path()
                if path is not None and _load_wisdom(path)[2]:
                    path = None  # another kind of file: no lock beside it, nothing written
                with _file_lock(path):
                    got = wisdom_entry(key, parse)  # another process may have measured meanwhile
                    if got is None:
                        got = measure()
                        if path is not None:
                            _write_wisdom(path, key, got)
    if got is not None:
        with _lock:
            got = _cache.setdefault(key, got)  # the first kept wins: every caller gets the same
    return got


def kept(key, parse):
    """The decision kept for ``key`` in this process, else the wisdom file's (``wisdom_entry``),
    read once per process and key, found or not: for callers that neither measure nor should
    read a file at every call (short fits). Never measures, and what it read from the file stays
    apart from ``decide``'s cache (``parse`` may be laxer than ``decide``'s callers')."""
    with _lock:
        got = _cache.get(key)
        if got is not None or key in _peeked:
            return got if got is not None else _peeked[key]
    got = wisdom_entry(key, parse, warn=False)
    with _lock:
        return _peeked.setdefault(key, got)


def forget():
    """Forget this process's decisions (tests; the wisdom file is left alone)."""
    global _machine
    with _lock:
        _cache.clear()
        _peeked.clear()
        _machine = None


# --------------------------------------------------------------------------
# The planner
# --------------------------------------------------------------------------

def plan_for(dims, m, dtype, num_iterations, chunk_iterations=100, measure_with=None):
    """The plan a fit of ``num_iterations`` on ``m`` examples gets, without running it.

    Short fits: ``rule_plan``. Long ones: the decision kept for their key, or,
    with ``measure_with = (weights, biases, X, Y, lr)``, a new measurement
    (kept); without it, None if nothing is kept.
    """
    dims = tuple(int(d) for d in dims)
    ncores, build = cores(), _train.simd_kernels()
    if num_iterations < PLAN_MIN_ITERATIONS:
        return rule_plan(dims, m, dtype, num_iterations, chunk_iterations, ncores)
    plans = candidates(dims, m, dtype, num_iterations, chunk_iterations, ncores, build)
    if len(plans) == 1:
        return plans[0]
    key = plan_key(dims, m, dtype, plans[0].gram, plans[0].shards, ncores, build)
    def new():
        weights, biases, X, Y, lr = measure_with
        return pick(plans, measure(plans, weights, biases, X, Y, lr, num_iterations))

    def parse(d):
        plan = Plan.from_dict(d)
        if plan not in plans:  # only a plan this fit could have been given (no Gram form forced on)
            raise ValueError("not a candidate of this fit: %s" % plan.describe())
        return plan

    return decide(key, parse, None if measure_with is None else new)


def choose(weights, biases, X, Y, lr, num_iterations, chunk_iterations):
    """``dnn.models``' plan for this fit (``plan="auto"``), measuring it if it is new."""
    dims = [X.shape[0]] + [w.shape[0] for w in weights]
    return plan_for(dims, X.shape[1], X.dtype, num_iterations, chunk_iterations,
                    (weights, biases, X, Y, lr))

"""The mini-batch loop's plan: which of each layer's products run in our kernels, on which BLAS the rest.

``dnn._loop.Loop`` runs a layer's products (W H and W^T dZ: ``nn``; dZ H^T:
``nt``) either in BLAS (SciPy's, or NumPy's: another OpenBLAS version) or in
``dnn/_simd.h``'s register-blocked kernels. Which is faster depends on the
CPU, the BLAS and its kernel set (OPENBLAS_CORETYPE), the dtype and the
batch size (one CPU: 0.5x to 2.3x either way, ``benchmarks/NOTES.md``,
"Mini-batch plans"), so it is measured where it runs, as ``dnn._plan`` does
for the full-batch loop, whose machinery (``MARGIN``, ``pick``, the key's
machine part, the process cache, the wisdom file, ``forget``) this module
reuses. The threads allowed change no number: a Loop's BLAS runs one thread
a call, and its team (``scheduled``: the threads allowed, where the products
allow one) computes every element as one thread does.

- Candidates (``candidates``): the loop's rule (``products="auto"``,
  ``dnn._products.for_step``) first, then every product on BLAS, every one
  ours, ours for ``nn`` only (the rule's BLAS products on NumPy's BLAS where
  ``dnn._products.numpy_blas_rule()``, the others' on SciPy's); each of those
  with a BLAS product again on the other BLAS where
  ``dnn._loop.numpy_gemm_found()``; duplicates dropped. Each is timed on the
  team it would run on, and, where the rule keeps it on one thread, on a team
  too where it could have one.
- Short fits (fewer than ``MIN_BATCHES`` mini-batches in all) get the rule,
  untimed (``rule_plan``), on a team where a long fit of their key kept one
  for the same products (``_short_fit_team``).
- Long fits time each candidate on copies of the fit's parameters and
  optimizer state (the caller's are never touched), on the first batches of
  the fit's own data in a fixed shuffled order (when the fit shuffles), in
  alternation, ``_plan.ROUNDS`` rounds, within ``_plan.PLAN_BUDGET`` of the
  fit's time; ``_plan.pick`` keeps the rule unless a candidate's median is
  ``MARGIN`` lower and it won 4 rounds of 5. The candidates' workspaces (a
  Loop each, over batches of the fit's size) are held while they are timed.
- The decision (products, which BLAS) is kept per key (layer sizes, batch,
  dtype, shuffled or not, cores, SIMD build, CPU, BLAS and its kernel set,
  dnn's version; not the threads allowed) in the process and the wisdom file,
  before training starts: the same call on the same machine gives the same
  bits, at any thread count. It is timed with the threads the first such fit
  may use. Not in the key: the optimizer, activations, output kind, L2,
  dropout and m, whose work is the same whichever products run (measured:
  Adam and momentum picked alike).
"""

import dataclasses
import functools
import time

import numpy as np

from dnn import _blas_threads, _loop, _plan, _products, _train
from dnn._blas_threads import blas_threads

__all__ = ["LoopPlan", "MIN_BATCHES", "candidates", "plan_for", "make_loop", "plan_arg", "rule_plan", "scheduled",
           "team_threads"]

#: Fits of fewer mini-batches (epochs x batches per epoch) get the rule, untimed (on a team a long
#: fit kept for it: ``_short_fit_team``).
MIN_BATCHES = 2000

#: A timed run lasts about this long (seconds), where the fit's data and budget allow: a
#: few milliseconds' runs picked a loser by 4-6% on a loaded machine (benchmarks/NOTES.md).
RUN_SECONDS = 0.02
#: Quiet before a team is timed: longer than OpenBLAS's workers spin after a call (its default
#: thread timeout, 2**28 cycles: about 0.1 s at 2.5 GHz; ``measure``), so that a gemm just
#: before the fit does not slow the team.
BLAS_IDLE_SECONDS = 0.15
#: Untimed runs of a team before its rounds: its helpers' first epochs (threads just started,
#: a core just woken) are not what the fit's later epochs cost.
TEAM_WARM_UPS = 3

#: The short-fit rule's team: a batch of fewer multiply-adds runs on one thread (its 2L + 1
#: meetings of the threads, a few microseconds each, would cost more than half its work;
#: ``dnn._kernels`` shares a step call's layer from the same size).
TEAM_MIN_WORK = 1 << 22

#: Timings of a team below ``TEAM_MIN_WORK`` before one thread is kept for it (``plan_for``): a
#: team can lose a timing to its helpers' slow wake-ups on a virtual machine, which a fit's
#: continuous epochs pay far less (benchmarks/NOTES.md, "A team that lost, timed once more"); a
#: second timing costs a fraction of a second, once per key and machine, where the first lost.
TEAM_TRIES = 2

#: The loop's options, in ``candidates``' order: the rule first (the simpler plan ``pick`` keeps).
OPTIONS = ("auto", "blas", "own", "nn")


@dataclasses.dataclass(frozen=True)
class LoopPlan:
    """Which products of each layer of a ``dnn._loop.Loop`` run in our kernels.

    ``products``: one ``(nn, nt)`` pair of bools per layer (``nn``: W H and
    W^T dZ; ``nt``: dZ H^T; the first layer's ``nt`` needs its ``nn``, which
    gathers X_b^T). ``threads``: the Loop's team (at most the threads
    BLAS may use when it runs). ``numpy_blas``: the BLAS products on NumPy's
    BLAS, where found (``Loop(numpy_blas=)``). ``source`` (not compared) says
    where it came from.
    """

    products: tuple
    source: str = dataclasses.field(default="given", compare=False)
    threads: int = 1
    numpy_blas: bool = False

    def check(self, dims):
        """Raise ValueError unless this plan can run a network of layer sizes ``dims``."""
        L = len(dims) - 1
        if not _loop._layer_pairs(self.products, L) or not isinstance(self.products, tuple):
            raise ValueError("plan.products must be a tuple of %d (nn, nt) pairs of bools, got %r"
                             % (L, self.products))
        if self.products[0][1] and not self.products[0][0]:
            raise ValueError("plan.products[0]: the first layer's nt needs its nn (X_b^T), got %r"
                             % (self.products[0],))
        if not isinstance(self.threads, int) or not 1 <= self.threads <= _loop.MAX_THREADS:
            raise ValueError("plan.threads must be an int in [1, %d], got %r" % (_loop.MAX_THREADS, self.threads))
        if not isinstance(self.numpy_blas, bool):
            raise ValueError("plan.numpy_blas must be a bool, got %r" % (self.numpy_blas,))

    def code(self):
        """Two letters per layer, ``nn`` then ``nt``: ``o`` our kernel, ``b`` SciPy's BLAS, ``n``
        NumPy's, e.g. ``oo.ob.bb``; then `` xT`` for a team of T threads."""
        blas = "n" if self.numpy_blas else "b"
        return ".".join(("o" if nn else blas) + ("o" if nt else blas) for nn, nt in self.products) + (
            " x%d" % self.threads if self.threads > 1 else "")

    def describe(self):
        return "mini-batch products %s (%s)" % (self.code(), self.source)

    def to_dict(self):
        return {"products": [[int(nn), int(nt)] for nn, nt in self.products], "threads": self.threads,
                "numpy_blas": int(self.numpy_blas)}

    @classmethod
    def from_dict(cls, d, source="wisdom"):
        """The plan ``to_dict`` wrote (``threads`` and ``numpy_blas`` absent from older files):
        TypeError unless its fields have exactly those types."""
        products, threads, numpy_blas = d["products"], d.get("threads", 1), d.get("numpy_blas", 0)
        flag = lambda x: type(x) is int and x in (0, 1)  # noqa: E731
        if (type(products) is not list or not all(type(p) is list and len(p) == 2 and all(map(flag, p))
                                                  for p in products)
                or type(threads) is not int or not flag(numpy_blas)):
            raise TypeError("not a mini-batch plan's fields (pairs of 0/1, an int, 0/1): %r" % (d,))
        return cls(tuple((bool(nn), bool(nt)) for nn, nt in products), source, threads, bool(numpy_blas))


def team_threads():
    """The largest team a Loop may have now: the threads BLAS may use (threadpoolctl's limits
    apply), at most the CPUs and ``dnn._loop.MAX_THREADS``."""
    return max(1, min(blas_threads(), _plan.cores(), _loop.MAX_THREADS))


def option_plan(option, dims, batch, dtype, source=None):
    """The plan of one of the loop's ``products=`` options (``OPTIONS``) for this fit: ``"auto"``'s
    BLAS products on NumPy's BLAS where the step rule's are (``dnn._products.numpy_blas_rule``),
    the others' on SciPy's."""
    pairs = _loop._products(option, list(dims), batch, np.dtype(dtype).itemsize)
    plan = LoopPlan(tuple((bool(nn), bool(nt)) for nn, nt in pairs), source or option)
    if option == "auto" and not _all_ours(plan) and _products.numpy_blas_rule():
        plan = dataclasses.replace(plan, numpy_blas=True)
    return plan


def _all_ours(plan):
    return all(nn and nt for nn, nt in plan.products)


def _teamable(products, dims, batch):
    return _loop.teamable(list(dims), batch, products, _loop.wide_auto(dims[0]))  # wide="auto"


def _work(dims, batch):
    """Multiply-adds of one batch's forward products."""
    return batch * sum(a * b for a, b in zip(dims, dims[1:]))


def scheduled(plan, dims, batch, team=None):
    """``plan`` on the team it runs on: ``team_threads()`` threads where a Loop may run its
    products on one (``dnn._loop.teamable``) and ``team`` says so (None: where a batch holds
    ``TEAM_MIN_WORK`` multiply-adds), else one. The team changes no number, so the threads
    allowed decide its size, at each fit."""
    if team is None:
        team = _work(dims, batch) >= TEAM_MIN_WORK
    team = team and team_threads() > 1 and _teamable(plan.products, dims, batch)
    return dataclasses.replace(plan, threads=team_threads() if team else 1)


def rule_plan(dims, batch, dtype):
    """The plan of a short fit: the rule's products (``option_plan("auto")``), on the team
    ``scheduled`` gives it. Where only small layers' BLAS ``nn`` products (under
    ``dnn._loop.TEAM_SMALL_LAYER_WORK`` multiply-adds a batch: the cat pictures' 20 x 7 beside a
    wide first layer, which the AVX2 build's rule gives BLAS) would keep a Loop from a team,
    and this machine has cores for one, those layers' products are ours instead
    (benchmarks/NOTES.md, "A team for the cat pictures on the AVX2 build"). That choice
    follows the machine's cores (``dnn._plan.cores``), not the threads allowed: it changes the
    sums."""
    p = option_plan("auto", dims, batch, dtype, "rule")
    if _work(dims, batch) >= TEAM_MIN_WORK and _plan.cores() > 1 and not _teamable(p.products, dims, batch):
        small = tuple((True, True) if dims[l] * dims[l + 1] * batch < _loop.TEAM_SMALL_LAYER_WORK else pair
                      for l, pair in enumerate(p.products))
        if _teamable(small, dims, batch):
            p = dataclasses.replace(p, products=small,
                                    numpy_blas=p.numpy_blas and not all(nn and nt for nn, nt in small))
    return scheduled(p, dims, batch)


def candidates(dims, batch, dtype):
    """The plans a long fit times, without duplicates: each option (``OPTIONS``), the rule's
    first, then those with a BLAS product on the other BLAS (NumPy's where found, or SciPy's
    for a rule on NumPy's); each on the team ``scheduled`` gives it. Nothing here depends on
    the threads allowed but the teams, which change no number."""
    out = [rule_plan(dims, batch, dtype)]
    for option in OPTIONS[1:]:
        p = option_plan(option, dims, batch, dtype, "measured")
        if all(p.products != q.products or p.numpy_blas != q.numpy_blas for q in out):
            out.append(scheduled(p, dims, batch))
    if _loop.numpy_gemm_found():  # each plan with a BLAS product on the other BLAS too
        out += [q for q in (dataclasses.replace(p, numpy_blas=not p.numpy_blas, source="measured")
                            for p in list(out) if not _all_ours(p)) if q not in out]
    # below TEAM_MIN_WORK the rule keeps a Loop on one thread; where it could have a team, that
    # is timed too (kept as a plan of ``threads`` > 1: ``plan_for``)
    out += [q for q in (scheduled(p, dims, batch, True) for p in list(out)) if q not in out]
    return [dataclasses.replace(p, source="measured") if i else p for i, p in enumerate(out)]


def plan_key(dims, batch, dtype, shuffled, ncores, build):
    """A mini-batch fit's key. Not the threads allowed: the decision (the products, which BLAS)
    holds at every thread count, and the team is ``scheduled`` at each fit."""
    return "minibatch | %s | batch %d | %s | shuffled %d | cores %d | %s | %s" % (
        ",".join(map(str, dims)), batch, np.dtype(dtype).name, shuffled, ncores, build,
        _plan._machine_key())


def _copies(pairs):
    return None if pairs is None else [(a.copy(), b.copy()) for a, b in pairs]


def measure(plans, layers, X, Y, loop_kw, learning_rate, n_batches, shuffled, t=0, step=0):
    """Seconds per mini-batch of each plan, one per round, timed in alternation.

    Each plan gets its own Loop on copies of ``layers`` and of the optimizer
    state in ``loop_kw`` (``v``, ``s``), over the first k batches' rows of X
    (a view, no copy) in a fixed shuffled order if the fit shuffles; one
    warm-up epoch each, then up to ``_plan.ROUNDS`` rounds of one epoch each,
    at least 3, within ``_plan.PLAN_BUDGET`` of the fit's ``n_batches`` (a round
    the hypervisor stole from, ``_plan.steal_seconds``, is run again, at most
    ``_plan.STOLEN_ROUNDS`` times); k makes a run last ``RUN_SECONDS`` where
    that budget allows, and where a team is among the plans whatever it allows. On
    one BLAS thread the clock is this thread's CPU time (blind to other
    processes), else the wall clock.

    Plans are timed in groups that share no thread pool: those that call no
    BLAS (all ours: one thread or a team), those on SciPy's BLAS, those on
    NumPy's. A round runs the groups in turn (in reverse order every other
    round), and where more than one thread may run, the first starts after
    ``BLAS_IDLE_SECONDS`` of quiet, and so does each group where a BLAS may
    thread in a fit (``dnn._blas_threads.held_at_one`` false: an OpenMP BLAS,
    none found, or a limit that did not hold).
    An OpenBLAS's workers spin for a while after each call, so in one
    alternation a threaded BLAS plan's run would take the second core from the
    next team's, or from the other OpenBLAS's workers, and lose runs it wins in
    a fit of its own; and a round must be of one moment, for ``_plan.pick``
    compares plans round by round (figures:
    benchmarks/NOTES.md, "The planner's blind spot, fixed and rerun", "NumPy's
    BLAS in the mini-batch loop" and "The mini-batch planner's rounds,
    interleaved").
    """
    b = min(int(loop_kw["batch_size"]), X.shape[0])
    one = blas_threads() == 1
    clock = time.thread_time if one and _plan._thread_clock_ok() else time.perf_counter

    def build(rows):
        # the wide backward's path on its rule: the candidates differ in products alone, and their
        # epochs do not feed the process's measurement of that path (dnn._timed_choice); X's codes,
        # where it has them, looked for in the warm-up epoch: the timed ones read what the fit's will
        kw = dict(loop_kw, v=_copies(loop_kw.get("v")), s=_copies(loop_kw.get("s")), wide_gather="rule",
                  wide_codes=bool(loop_kw.get("wide_codes", False)))
        order = np.random.default_rng(0).permutation(rows).astype(np.int64) if shuffled else None
        loops = [_loop.Loop(_copies(layers), X[:rows], Y[:rows], products=p.products, threads=p.threads,
                            numpy_blas=p.numpy_blas, **kw) for p in plans]
        return loops, order

    def run(lp, order):
        t0 = clock()
        lp.epoch(order, learning_rate, t, step)
        return clock() - t0

    groups = [[j for j, p in enumerate(plans) if _all_ours(p)],
              [j for j, p in enumerate(plans) if not _all_ours(p) and not p.numpy_blas],
              [j for j, p in enumerate(plans) if not _all_ours(p) and p.numpy_blas]]
    groups = [group for group in groups if group]
    threaded = not one or any(p.threads > 1 for p in plans)
    if threaded:
        time.sleep(BLAS_IDLE_SECONDS)  # other pools' workers (the caller's NumPy too) go idle
    # Between groups, only where a BLAS may thread in a fit: elsewhere every run holds BLAS at
    # one thread (``dnn._blas_threads``), no pool wakes, and a team's helpers sleep within a
    # tenth of a millisecond after its epoch (benchmarks/NOTES.md, "The planner's pauses
    # between groups").
    switch_pause = BLAS_IDLE_SECONDS if threaded and not _blas_threads.held_at_one() else 0.0
    loops, order = build(b)
    est = min(run(loops[j], order) for group in groups for j in group)  # also the warm-up of one batch
    per_round = int(_plan.PLAN_BUDGET * n_batches / (len(plans) * (_plan.ROUNDS + 1)))
    run_batches = min(X.shape[0] // b, int(RUN_SECONDS / max(est, 1e-7)) + 1)
    # Where a team is timed, every run lasts RUN_SECONDS whatever the budget: in shorter ones a
    # team's wake-up weighs (a woken helper may share the caller's core for milliseconds), which
    # a fit's epochs outlast, and all plans' runs alike, for a fair round (benchmarks/NOTES.md,
    # "The planner's runs where a team is timed")
    k = max(1, run_batches if any(p.threads > 1 for p in plans) else min(per_round, run_batches))
    if k > 1:
        loops, order = build(k * b)
    times = [[] for _ in plans]
    last = groups[-1]  # the group that ran last (the estimate's end): its pool may still spin

    def switch_to(group):
        nonlocal last
        if switch_pause and last is not group:
            time.sleep(switch_pause)  # the pool of the group before goes idle
        last = group

    for group in groups:  # warm-ups
        switch_to(group)
        for j in group:
            for _ in range(TEAM_WARM_UPS if plans[j].threads > 1 else 1):
                run(loops[j], order)
    budget = _plan.PLAN_BUDGET * n_batches * est
    spent = 0.0
    kept = retries = 0
    while kept < _plan.ROUNDS:
        # A round takes every group, in turn (alternate rounds in the reverse order: the group
        # that ended a round starts the next, without a pause), so that each round's times are
        # of one moment, as ``_plan.pick``'s paired comparison needs (benchmarks/NOTES.md,
        # "The mini-batch planner's rounds, interleaved"). Stolen time and the wall clock count
        # the runs, not the pauses.
        rows, stolen, wall = {}, 0.0, 0.0
        for group in (groups if kept % 2 == 0 else groups[::-1]):
            switch_to(group)
            s0, w0 = _plan.steal_seconds(), time.perf_counter()
            rows.update((j, run(loops[j], order) / k) for j in group)
            stolen += _plan.steal_seconds() - s0
            wall += time.perf_counter() - w0
        spent += wall
        if stolen > _plan.STOLEN_SHARE * wall and retries < _plan.STOLEN_ROUNDS:
            retries += 1  # the host's doing, not a plan's: this round again
            continue
        for j, x in rows.items():
            times[j].append(x)
        kept += 1
        if kept >= 3 and spent > budget:
            break
    return times


def plan_for(dims, batch, dtype, n_batches, shuffled=True, measure_with=None):
    """The plan a fit of ``n_batches`` mini-batches of ``batch`` examples gets.

    Short fits: the rule (on the team a long fit kept for it, if any). Long ones: the decision
    kept for their key, or, with ``measure_with = (layers, X, Y, loop_kw, learning_rate, t,
    step)``, a new measurement (kept); without it, None if nothing is kept.
    """
    dims = tuple(int(d) for d in dims)
    rule = rule_plan(dims, batch, dtype)
    if n_batches < MIN_BATCHES:
        return _short_fit_team(rule, dims, batch, dtype, shuffled)
    plans = candidates(dims, batch, dtype)
    if len(plans) == 1:
        return rule
    key = _key(dims, batch, dtype, shuffled)
    team = team_threads()
    timed_team = False  # whether this call's measurement timed a team of this size

    def new():
        nonlocal timed_team
        layers, X, Y, loop_kw, learning_rate, t, step = measure_with
        timed_team = any(p.threads == team for p in plans)
        return _plan.pick(plans, measure(plans, layers, X, Y, loop_kw, learning_rate, n_batches, shuffled, t, step))

    def parse(d):
        plan = _parsed(d, dims)
        if all(plan.products != p.products or plan.numpy_blas != p.numpy_blas for p in plans):
            raise ValueError("not a candidate of this fit: %s" % plan.code())  # only what it could be given
        return plan

    got = _plan.decide(key, parse, None if measure_with is None else new)
    if got is None:
        return None
    if got.threads == 1 and team > 1 and _work(dims, batch) < TEAM_MIN_WORK and _teamable(got.products, dims, batch):
        # Below the rule's work a team is kept only where it won, and the kept products may have
        # been timed on fewer threads (the first fit of the key): the same products on one thread
        # and on a team of this size, timed up to TEAM_TRIES times in all (this call's measurement,
        # where it timed that team, counts as one), until the team wins; kept beside them (the
        # team changes no number).
        solo, teamed = (dataclasses.replace(got, threads=n, source="measured") for n in (1, team))

        def new_team():
            layers, X, Y, loop_kw, learning_rate, t, step = measure_with
            pair = [solo, teamed]
            for _ in range(TEAM_TRIES - timed_team):
                times = measure(pair, layers, X, Y, loop_kw, learning_rate, n_batches, shuffled, t, step)
                won = _plan.pick(pair, times)
                if won.threads > 1:
                    return won
            return solo

        def parse_team(d):
            plan = parse(d)
            if plan.products != got.products or plan.numpy_blas != got.numpy_blas or plan.threads not in (1, team):
                raise ValueError("not this fit's team decision: %s" % plan.code())
            return plan

        got = _plan.decide(_team_entry(key, team), parse_team,
                           None if measure_with is None else new_team) or got
    # its team where several threads are allowed now: as the rule has it, or where it won
    return scheduled(got, dims, batch, True if got.threads > 1 else None)


def _parsed(d, dims):
    """A wisdom entry as a plan for a network of layer sizes ``dims`` (else the error that says why)."""
    plan = LoopPlan.from_dict(d)
    plan.check(dims)
    return plan


def _team_entry(key, team):
    return "%s | team %d" % (key, team)


def _key(dims, batch, dtype, shuffled):
    return plan_key(dims, batch, dtype, shuffled, _plan.cores(), _train.simd_kernels())


def _short_fit_team(rule, dims, batch, dtype, shuffled):
    """A short fit's plan: the rule's, on a team where the rule keeps it on one thread (below
    ``TEAM_MIN_WORK``) but a long fit of its key kept the rule's products on a team, as its
    decision or as its team decision (``plan_for``; read with ``dnn._plan.kept``: no
    measurement, the wisdom file once per process and entry). The team changes no number (the
    same bits as on one thread): a continued fit, ``partial_fit`` over chunks, runs on the team
    the long fit before it won."""
    team = team_threads()
    if rule.threads > 1 or team < 2 or not _teamable(rule.products, dims, batch):
        return rule

    parse = functools.partial(_parsed, dims=dims)

    def the_rules(plan):
        return plan is not None and plan.products == rule.products and plan.numpy_blas == rule.numpy_blas

    key = _key(dims, batch, dtype, shuffled)
    got = _plan.kept(key, parse)
    if not the_rules(got):
        return rule
    if got.threads == 1:  # the team decision beside it (``plan_for``)
        got = _plan.kept(_team_entry(key, team), parse)
    return scheduled(rule, dims, batch, True) if the_rules(got) and got.threads > 1 else rule


def plan_arg(plan):
    """``plan=`` of ``dnn.model``, ``L_layer_model``'s second part and ``dnn._engine.fit_epochs``, checked:
    ``"auto"``, ``"blas"`` or a ``LoopPlan``."""
    if isinstance(plan, LoopPlan) or (isinstance(plan, str) and plan in ("auto", "blas")):
        return plan
    raise ValueError('plan must be "auto", "blas" or a dnn.LoopPlan, got %r' % (plan,))


def make_loop(plan, layers, X, Y, learning_rate, epochs, shuffled=True, t=0, step=0, sample_weight=None, **loop_kw):
    """``dnn._loop.Loop(layers, X, Y, sample_weight=, **loop_kw)`` with the products and team ``plan`` decides
    (``plan_arg``): ``"auto"`` plans a fit of ``epochs`` epochs (measuring it if new, before it
    trains), ``"blas"`` every product on BLAS on one thread, a ``LoopPlan`` as given, its team at
    most ``team_threads()`` (the team does not change the numbers). ``t``, ``step``: the fit's
    counters at its start. The plan is measured without ``sample_weight`` (weights cost one
    pass over the batch's outputs, whatever the products). A fit holds X as it is for its call,
    so its Loop may read X as codes (``wide_codes="auto"`` unless ``loop_kw`` says)."""
    plan = plan_arg(plan)
    loop_kw.setdefault("wide_codes", "auto")
    dims = [X.shape[1]] + [W.shape[0] for W, _ in layers]
    batch = min(int(loop_kw.get("batch_size", 64)), X.shape[0])
    if plan == "blas":
        plan = option_plan("blas", dims, batch, X.dtype)
    elif plan == "auto":
        n_batches = int(epochs) * -(-X.shape[0] // batch)
        plan = plan_for(dims, batch, X.dtype, n_batches, shuffled,
                        (layers, X, Y, loop_kw, learning_rate, t, step))
    else:
        plan.check(dims)
    return _loop.Loop(layers, X, Y, products=plan.products, threads=min(plan.threads, team_threads()),
                      numpy_blas=plan.numpy_blas, sample_weight=sample_weight, **loop_kw)

"""The compiled training loop (``dnn.models`` over ``dnn._train``) against ``dnn.reference``.

Parity: the same initialization and the same gradient descent; the compiled
loop rounds differently in the last bits (the update is folded into a gemm
with beta = 1, bias gradients are summed in double, the output gradient is
the closed form A - Y, the cost comes from Z_L through softplus), so each
iteration differs from the reference's by a few ulps.

Tolerances, and why:
- float64: rtol 1e-11. The per-iteration difference is ~1e-16 relative and
  gradient descent at these learning rates does not amplify it (observed
  <= 8e-16 on every net here, and 4e-15 after 2500 iterations on the cat
  data); the margin leaves room for another BLAS's summation order. One wrong
  step (a wrong learning rate, a skipped update, a stale W in
  dA_prev = W^T dZ) moves the parameters by lr * grad, orders of magnitude more.
- float32: rtol 2e-5, relative to each array's largest entry. float32 rounds
  at 6e-8 and the differences of every step accumulate (observed <= 2.2e-7
  here); a hidden unit whose Z sits within rounding of 0 may also take the
  other side of the ReLU for a step. Still far below one iteration's change.
No timing is asserted here: performance lives in benchmarks/.
"""
import os
import platform
import signal
import threading
import time
import _thread

import dataclasses

import numpy as np
import pytest
import threadpoolctl

from dnn import _kernels, _plan, _train, models
from dnn._plan import Plan
from dnn import _blas_threads
from dnn._blas_threads import blas_lent, blas_threads
from dnn import reference as R

RTOL = {np.dtype(np.float32): 2e-5, np.dtype(np.float64): 1e-11}
DTYPES = [np.float64, np.float32]


def toy_data(seed, n_x, m, dtype=np.float64, scale=1.0):
    """A learnable problem: the label is the sign of a fixed linear function of X."""
    rng = np.random.default_rng(seed)
    X = (scale * rng.standard_normal((n_x, m))).astype(dtype)
    w = rng.standard_normal((1, n_x))
    Y = (w @ X.astype(np.float64) > 0).astype(np.int64)
    Y[0, 0], Y[0, 1] = 0, 1  # both classes present
    return X, Y


def assert_params_close(got, ref, dtype):
    dtype = np.dtype(dtype)
    assert list(got) == list(ref)
    for key in ref:
        assert got[key].dtype == dtype, (key, got[key].dtype)
        assert got[key].shape == ref[key].shape, key
        scale = float(np.max(np.abs(ref[key]))) + 1e-3
        np.testing.assert_allclose(got[key], ref[key], rtol=RTOL[dtype], atol=RTOL[dtype] * scale,
                                   err_msg=key)


def assert_costs_close(got, ref, dtype):
    assert len(got) == len(ref)
    assert all(type(c) is float for c in got)
    np.testing.assert_allclose(got, ref, rtol=RTOL[np.dtype(dtype)], atol=0)


# (layers_dims, m, init, learning_rate, num_iterations, cost_every)
NETS = {
    "logistic": ([6, 1], 40, "app-utils", 0.1, 200, 10),
    "tiny-S2": ([2, 4, 1], 60, "he", 0.05, 300, 100),
    "3-layer": ([12, 8, 5, 1], 80, "app-utils", 0.05, 300, 7),
    "step-by-step": ([20, 7, 5, 1], 50, "step-by-step", 0.5, 150, 25),
    "deep-narrow": ([8, 6, 6, 6, 6, 6, 1], 70, "he", 0.02, 200, 50),
    "wide-input": ([300, 10, 1], 30, "app-utils", 0.01, 100, 1),
    # float32 takes the samples-major layout here (a narrow layer on a wide input)
    "wide-narrow": ([1100, 8, 4, 1], 25, "app-utils", 0.01, 60, 5),
    # tiny layers (dnn._simd's loops) over more examples than one tile (512),
    # a count that no vector width divides
    "tiny-long": ([3, 5, 1], 1037, "he", 0.05, 120, 30),
}
# Not trained by the default parity test (all its layers take BLAS there): 7
# and 13 rows, past the register blocks, over 517 examples.
EXTRA_NETS = {
    "long-odd": ([9, 13, 7, 1], 517, "he", 0.05, 60, 20),
    # 600 inputs: dnn._simd's nn takes the 203 examples in several column
    # panels (its K x panel block of B is at most 256 KiB), the last one short
    "panels": ([600, 9, 1], 203, "app-utils", 0.02, 40, 10),
    # more examples than nn_acc's chunk of the reduction in every build (2048 at most)
    "chunks": ([5, 6, 1], 2100, "he", 0.05, 30, 10),
}
# Trained by test_slabbed_products_match_reference only (larger: every product on BLAS).
SLAB_NETS = {
    # unsplit, every product in slabs (dnn._train.slab_count: as many as the cap): rows or columns
    "slabs": ([500, 100, 1], 2000, "he", 0.01, 20, 5),
    # the Gram form's products in slabs too: W_1 X, dZ_1 G, X^T X, the deferred updates
    # (past the first refresh of W_1 X, at iteration 64)
    "slabs-gram": ([2000, 300, 1], 400, "he", 0.01, 70, 10),
}


def forced_plan(dims, m, dtype, iters, **fields):
    """The rule's plan for this fit with ``fields`` replaced; ``own`` may be one int for all layers."""
    base = _plan.rule_plan(dims, m, dtype, iters, ncores=1)
    if isinstance(fields.get("own"), int):
        fields["own"] = (fields["own"],) * (len(dims) - 1)
    if fields.get("shards", 1) > 1:
        fields.setdefault("gram", False)
    return dataclasses.replace(base, source="test", **fields)


def assert_net_matches_reference(net, dtype, **plan):
    """Train NETS[net] with dnn and with the reference; same costs and parameters.

    ``plan``: fields of the plan to force (else the fit plans as a user's does).
    """
    dims, m, init, lr, iters, every = {**NETS, **EXTRA_NETS, **SLAB_NETS}[net]
    X, Y = toy_data(len(net), dims[0], m, dtype)
    chosen = forced_plan(dims, m, dtype, iters, **plan) if plan else "auto"
    got, costs = models.L_layer_model(X, Y, dims, lr, iters, init=init, return_costs=True,
                                      cost_every=every, plan=chosen)
    ref, ref_costs = R.L_layer_model(X, Y, dims, lr, iters, init=init, return_costs=True,
                                     cost_every=every)
    assert len(costs) == -(-iters // every)
    assert_costs_close(costs, ref_costs, dtype)
    assert_params_close(got, ref, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("net", list(NETS))
def test_L_layer_model_matches_reference(net, dtype):
    assert_net_matches_reference(net, dtype)


@pytest.mark.parametrize("samples_major", [False, True], ids=["features-major", "samples-major"])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("net", ["logistic", "tiny-S2", "3-layer", "deep-narrow"])
def test_both_memory_layouts_match_reference(net, dtype, samples_major):
    # The layout is chosen by shape and dtype; force each one on every net.
    assert_net_matches_reference(net, dtype, samples_major=samples_major)


@pytest.mark.parametrize("own", [1, 2, 3, 5, 7], ids=["nn", "nt", "nn+nt", "nn+xt", "all"])
@pytest.mark.parametrize("shards", [1, 2])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("net", [n for n in NETS if n != "wide-narrow"] + list(EXTRA_NETS))
def test_own_kernels_match_reference_in_every_build(net, dtype, shards, own, simd_build):
    # Every layer's products (W H and W^T dZ: nn; dZ H^T: nt; the first
    # layer's dZ_1 X^T over a copy of X^T: xt, in chunks of examples) in
    # dnn._simd's register-blocked loops instead of BLAS (what the rule picks
    # for tiny layers, and on AVX-512 for larger ones): the reference's
    # numbers in each build, also as a shard's gradient sums. The nets' sizes leave every kind of remainder: rows
    # beyond the register blocks (6, 4, 3), columns beyond the vectors.
    assert_net_matches_reference(net, dtype, own=own, shards=shards, samples_major=False,
                                 gram=False)


def test_the_best_simd_build_is_in_use():
    # Picked at import: the best one this CPU runs, as /proc/cpuinfo tells.
    flags = set()
    if os.path.exists("/proc/cpuinfo"):
        for line in open("/proc/cpuinfo"):
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    if not flags or platform.machine() not in ("x86_64", "AMD64"):
        pytest.skip("needs an x86-64 Linux /proc/cpuinfo")
    want = "baseline"
    if _kernels.BUILD_INFO["simd_baseline"] == "scalar":  # built without vector extensions
        pass
    elif {"avx2", "fma"} <= flags:
        want = "avx512" if {"avx512f", "avx512dq"} <= flags else "avx2"
    assert _train.simd_cpu_level() == want
    assert _train.simd_kernels() == want
    with pytest.raises(ValueError, match="one of"):
        _train.simd_kernels("sse9")


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_x_transpose_flag_with_the_gram_form_and_its_fallback(dtype):
    # OWN_XT asked for beside the Gram form: no copy of X^T is made, and when
    # the Gram form falls back (float32 X^T X overflowing) W_1's gradient must
    # not read that copy: it goes to BLAS, the same bits as without the flag.
    rng = np.random.default_rng(5)
    X = rng.standard_normal((40, 12)).astype(dtype)
    X[0, 0] = 3e19  # X^T X overflows in float32, not in float64
    Y = (rng.random((1, 12)) < 0.5).astype(dtype)
    nn = _train.OWN_PRODUCTS["nn"]
    results = []
    for first in (nn | _train.OWN_PRODUCTS["xt"], nn):
        w_rng = np.random.default_rng(6)
        weights = [(0.1 * w_rng.standard_normal(shape)).astype(dtype) for shape in ((3, 40), (1, 3))]
        biases = [np.zeros((3, 1), dtype), np.zeros((1, 1), dtype)]
        trainer = _train.Trainer(weights, biases, X, Y, 1e-21, False, True, 1, [first, 0])
        assert trainer.gram == (dtype == np.float64)
        trainer.run(0, 3, -1, 10.0, 1)
        results.append(weights + biases)
    for got, want in zip(*results):
        np.testing.assert_array_equal(got, want)
    assert all(np.isfinite(a).all() for a in results[0])


def test_own_kernel_candidates():
    # Where our kernels may win, and so are timed: tiny layers on any CPU;
    # with one-thread BLAS calls, AVX2: layers whose operands fit in L2;
    # AVX-512: every W H and W^T dZ, dZ H^T where it fits, and a large
    # first layer's dZ_1 X^T over a copy of X^T (not beside the Gram form,
    # not for X over 256 MiB).
    dims = {"S2": (2, 4, 1), "S3": (64, 32, 16, 1), "S4": (784, 256, 128, 64, 1),
            "S6": (100,) + (50,) * 8 + (1,)}
    nn, nt, xt = _plan.NN, _plan.NT, _plan.XT
    both = nn | nt
    own = _plan._own_kernels
    assert own(dims["S2"], 400, 8, 1, False, "baseline") == (both, both)
    assert own(dims["S3"], 1797, 8, 2, False, "baseline") == (0, 0, both)
    assert own(dims["S3"], 1797, 8, 2, False, "avx2") == (both,) * 3
    assert own(dims["S4"], 10000, 4, 2, False, "avx2") == (0, 0, 0, both)
    assert own(dims["S3"], 1797, 8, 2, False, "avx512") == (both,) * 3
    assert own(dims["S6"], 1000, 8, 2, False, "avx512") == (both,) * 9
    assert own(dims["S4"], 10000, 4, 2, False, "avx512") == (nn | xt, nn, nn, both)
    assert own(dims["S4"], 10000, 4, 2, True, "avx512") == (nn, nn, nn, both)
    assert own(dims["S4"], 10**6, 8, 2, False, "avx512") == (nn, nn, nn, both)
    assert own(dims["S3"], 1797, 8, 1, False, "avx512") == (nn | xt, both, both)


def test_candidates_simplest_first_without_duplicates():
    nn, nt = _plan.NN, _plan.NT
    s4 = (784, 256, 128, 64, 1)
    # two cores: split, BLAS or ours, whatever the threads allowed (they change no number)
    for threads in (1, 2):
        with threadpoolctl.threadpool_limits(limits=threads, user_api="blas"):
            got = _plan.candidates(s4, 10000, np.float64, 2500, ncores=2, build="avx512")
        assert [(p.shards, p.own) for p in got] == [
            (2, (0, 0, 0, nn | nt)), (2, (nn | _plan.XT, nn, nn, nn | nt))]
        assert got[0] == _plan.rule_plan(s4, 10000, np.float64, 2500, ncores=2)
    # one core: no split, or two shards in turn (cache blocking); BLAS or ours
    got = _plan.candidates(s4, 10000, np.float64, 2500, ncores=1, build="avx512")
    assert [p.shards for p in got] == [1, 1, 2, 2] and got[0].own != got[1].own
    assert got[2].own == got[0].own and got[3].own == _plan._own_kernels(
        s4, 10000, 8, 2, False, "avx512")
    # with SSE2 only ours never win: the rule's products, split or not
    got = _plan.candidates(s4, 10000, np.float64, 2500, ncores=1, build="baseline")
    assert [(p.shards, p.own) for p in got] == [(1, got[0].own), (2, got[0].own)]
    # the tiny S2 net: nothing to choose
    assert len(_plan.candidates((2, 4, 1), 400, np.float32, 2500, ncores=2,
                                build="avx512")) == 1
    # S5 in the Gram form: nothing but the rule's products or ours, unsplit
    s5 = _plan.candidates((3072, 1024, 1024, 1), 512, np.float64, 2500, ncores=2,
                          build="avx512")
    assert all(p.gram and p.shards == 1 for p in s5)


def test_blas_plan_runs_every_product_on_blas():
    p = _plan.blas_plan((2, 4, 1), 400, np.float64, 2500, ncores=2)
    assert p.own == (0, 0)
    X, Y = toy_data(3, 2, 400)
    got = models.L_layer_model(X, Y, [2, 4, 1], 0.05, 50, plan="blas")
    ref = R.L_layer_model(X, Y, [2, 4, 1], 0.05, 50)
    assert_params_close(got, ref, np.float64)


def test_pick_needs_a_margin_and_paired_wins_over_the_simplest_plan():
    a = Plan((0, 0), 1, source="rule")
    b = Plan((3, 3), 1, source="measured")
    c = Plan((1, 3), 1, source="measured")
    rule = [1.0, 1.0, 1.0, 1.0, 1.0]
    assert _plan.pick([a, b, c], [rule, [0.98] * 5, [0.99] * 5]) == a      # within the margin
    assert _plan.pick([a, b, c], [rule, [0.9] * 5, [0.95] * 5]) == b
    assert _plan.pick([a, b, c], [rule, [0.95] * 5, [0.9] * 5]) == c
    assert _plan.pick([a, b], [rule, [1.5] * 5]) == a
    # a lower median from 3 lucky rounds of 5 is not enough
    assert _plan.pick([a, b], [rule, [0.5, 0.5, 0.5, 1.2, 1.2]]) == a
    assert _plan.pick([a, b], [rule, [0.5, 0.5, 0.5, 0.5, 1.2]]) == b
    assert _plan.pick([a, b], [rule, [0.9] * 5]).source == "measured"


@pytest.mark.parametrize("samples_major", [False, True], ids=["features-major", "samples-major"])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("net", ["logistic", "3-layer", "wide-input", "wide-narrow"])
def test_gram_form_of_the_first_layer_matches_reference(net, dtype, samples_major):
    # W_1 X carried from iteration to iteration through G = X^T X (and
    # recomputed every 64 iterations: the nets run 60 to 300) must give the
    # reference's numbers in either layout, whatever the shape rule says.
    assert_net_matches_reference(net, dtype, samples_major=samples_major, gram=True, shards=1)


def test_gram_rule():
    # The cat network (12288 inputs, 209 examples) and S5 (3072, 512) gain;
    # more examples than inputs, or too few iterations to repay G, do not.
    assert _plan.gram_form([12288, 20, 7, 5, 1], 209, 2500)
    assert _plan.gram_form([3072, 1024, 1024, 1], 512, 100)
    assert not _plan.gram_form([12288, 20, 7, 5, 1], 209, 10)
    assert not _plan.gram_form([784, 256, 128, 64, 1], 10000, 2500)
    assert not _plan.gram_form([64, 32, 16, 1], 1797, 2500)
    assert not _plan.gram_form([2, 4, 1], 400, 2500)


def test_layout_rule():
    assert _plan.samples_major([12288, 20, 7, 5, 1], np.dtype(np.float32))
    assert not _plan.samples_major([12288, 20, 7, 5, 1], np.dtype(np.float64))
    for dims in ([784, 256, 128, 64, 1], [3072, 1024, 1024, 1], [2, 4, 1], [100, 50, 1]):
        assert not _plan.samples_major(dims, np.dtype(np.float32))


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_two_layer_model_matches_reference(dtype):
    X, Y = toy_data(7, 10, 90, dtype)
    got, costs = models.two_layer_model(X, Y, (10, 7, 1), 0.5, 301, return_costs=True)
    ref, ref_costs = R.two_layer_model(X, Y, (10, 7, 1), 0.5, 301, return_costs=True)
    assert len(costs) == 4
    assert_costs_close(costs, ref_costs, dtype)
    assert_params_close(got, ref, dtype)


def test_dtype_rules():
    X, Y = toy_data(1, 5, 20, np.float32)
    for dims in ([5, 3, 1], [5, 1]):
        p = models.L_layer_model(X, Y, dims, num_iterations=3)
        assert all(v.dtype == np.float32 for v in p.values())
    p = models.L_layer_model(X.astype(np.float64), Y, [5, 3, 1], num_iterations=3, dtype=np.float32)
    assert all(v.dtype == np.float32 for v in p.values())
    p = models.two_layer_model(X, Y, [5, 3, 1], num_iterations=3, dtype="float64")
    assert all(v.dtype == np.float64 for v in p.values())
    # integer features train in float64, as in the reference
    p = models.L_layer_model((X > 0).astype(int), Y, [5, 1], num_iterations=3)
    assert all(v.dtype == np.float64 for v in p.values())


def test_labels_of_any_shape_and_dtype():
    X, Y = toy_data(2, 4, 30)
    want = models.L_layer_model(X, Y, [4, 3, 1], 0.1, 20)
    for y in (Y.ravel(), Y.reshape(-1, 1), Y.astype(bool), Y.astype(np.float32), Y.tolist()):
        got = models.L_layer_model(X, y, [4, 3, 1], 0.1, 20)
        for key in want:
            np.testing.assert_array_equal(got[key], want[key])


def test_saturated_outputs_stay_finite():
    # Features of scale 100 saturate the sigmoid at the start: the reference's
    # outputs round to exactly 0 or 1, its cost is inf/nan and its gradients nan.
    X, Y = toy_data(3, 4, 30, scale=100.0)
    with np.errstate(all="ignore"):
        ref, ref_costs = R.L_layer_model(X, Y, [4, 5, 1], 0.0075, 300, init="he", return_costs=True)
    assert not all(np.isfinite(ref_costs))
    assert not all(np.all(np.isfinite(v)) for v in ref.values())

    got, costs = models.L_layer_model(X, Y, [4, 5, 1], 0.0075, 300, init="he", return_costs=True)
    assert all(np.isfinite(costs))
    assert costs[0] > 10  # the true cost of confidently wrong outputs, not inf
    assert costs[-1] < costs[0]
    assert all(np.all(np.isfinite(v)) for v in got.values())


def test_num_iterations_zero_returns_the_initialization():
    X, Y = toy_data(4, 6, 10)
    calls = []
    got, costs = models.L_layer_model(X, Y, [6, 4, 1], num_iterations=0, return_costs=True,
                                      print_cost=True, callback=lambda i, c: calls.append(i))
    assert costs == [] and calls == []
    init = R.initialize_parameters_deep([6, 4, 1])
    for key in init:
        np.testing.assert_array_equal(got[key], init[key])


def test_leaves_the_global_random_state_as_the_reference():
    X, Y = toy_data(5, 6, 10)
    models.L_layer_model(X, Y, [6, 4, 1], num_iterations=2, init="step-by-step")
    after_ours = np.random.random(3)
    R.L_layer_model(X, Y, [6, 4, 1], num_iterations=2, init="step-by-step")
    np.testing.assert_array_equal(after_ours, np.random.random(3))


def test_inputs_are_not_modified():
    X, Y = toy_data(6, 5, 25)
    X.flags.writeable = False
    X0 = X.copy()
    models.L_layer_model(X, Y, [5, 3, 1], 0.1, 10)
    np.testing.assert_array_equal(X, X0)


# --------------------------------------------------------------------------
# Printing
# --------------------------------------------------------------------------

@pytest.mark.parametrize("cost_every", [100, 30, 0])
def test_print_cost_output_is_the_reference_output(capsys, cost_every):
    X, Y = toy_data(8, 7, 50)
    models.L_layer_model(X, Y, [7, 5, 1], 0.05, 401, print_cost=True, cost_every=cost_every)
    ours = capsys.readouterr().out
    R.L_layer_model(X, Y, [7, 5, 1], 0.05, 401, print_cost=True, cost_every=cost_every)
    assert ours == capsys.readouterr().out
    assert ours.count("\n") == 5 and ours.startswith("Cost after iteration 0: ")


def test_two_layer_print_cost_output_is_the_reference_output(capsys):
    X, Y = toy_data(9, 7, 50)
    models.two_layer_model(X, Y, [7, 5, 1], 0.5, 250, print_cost=True)
    ours = capsys.readouterr().out
    R.two_layer_model(X, Y, [7, 5, 1], 0.5, 250, print_cost=True)
    assert ours == capsys.readouterr().out
    assert ours.count("\n") == 3


def test_no_output_without_print_cost(capsys):
    X, Y = toy_data(9, 7, 50)
    models.L_layer_model(X, Y, [7, 5, 1], 0.05, 150)
    assert capsys.readouterr().out == ""


# --------------------------------------------------------------------------
# Callback, interruption, threads
# --------------------------------------------------------------------------

def test_callback_reports_progress_and_latest_cost():
    X, Y = toy_data(10, 5, 40)
    calls = []
    _, costs = models.L_layer_model(X, Y, [5, 4, 1], 0.1, 250, cost_every=50, return_costs=True,
                                    callback=lambda i, c: calls.append((i, c)))
    done = [i for i, _ in calls]
    assert done == sorted(set(done)) and done[-1] == 250
    # a chunk ends at every recorded cost, so each recorded cost is reported
    # right after its iteration, and then until the next one
    for i, c in calls:
        assert c == costs[(i - 1) // 50]
    assert {i for i, _ in calls} >= {1, 51, 101, 151, 201}


def test_callback_without_recorded_costs_gets_none():
    X, Y = toy_data(10, 5, 40)
    calls = []
    models.two_layer_model(X, Y, [5, 4, 1], num_iterations=0, callback=calls.append)
    models.L_layer_model(X, Y, [5, 4, 1], num_iterations=30, cost_every=0,
                         callback=lambda i, c: calls.append((i, c)))
    assert calls and calls[-1] == (30, None) and all(c is None for _, c in calls)


class Stop(Exception):
    pass


def test_exception_in_callback_propagates_and_leaves_no_trace():
    X, Y = toy_data(11, 6, 50)
    clean = models.L_layer_model(X, Y, [6, 5, 1], 0.1, 300, cost_every=10)

    def stop_at(i, cost):
        if i >= 100:
            raise Stop(i)

    with pytest.raises(Stop):
        models.L_layer_model(X, Y, [6, 5, 1], 0.1, 300, cost_every=10, callback=stop_at)
    again = models.L_layer_model(X, Y, [6, 5, 1], 0.1, 300, cost_every=10)
    for key in clean:
        np.testing.assert_array_equal(again[key], clean[key])


@pytest.mark.parametrize("shards", [1, 2])
def test_ctrl_c_interrupts_a_long_run(shards):
    # A run of minutes; a simulated Ctrl-C must stop it within a chunk. In
    # shards too: the helper threads block signals, so Ctrl-C reaches the
    # main thread, which stops at the end of its chunk (the helpers with it)
    # and gives BLAS its threads back.
    before = blas_thread_counts()
    X, Y = toy_data(12, 8, 400)
    plan = Plan((0, 3), shards)
    # interrupt_main does nothing where SIGINT is ignored (a shell's background job).
    handler = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Timer(0.3, _thread.interrupt_main)
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            models.L_layer_model(X, Y, [8, 6, 1], 0.01, 10**8, cost_every=0, plan=plan)
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, handler)
    assert blas_thread_counts() == before


def test_two_threads_give_the_sequential_results():
    # The first run is split into shards, on threads of its own, and holds
    # BLAS at one thread meanwhile: the other run must neither see that
    # limit as the user's setting nor lose it half-way.
    runs = [
        (toy_data(13, 30, 2000), [30, 20, 10, 1], "app-utils", np.float64),
        (toy_data(14, 40, 250), [40, 15, 1], "he", np.float32),
    ]
    assert (_plan.rule_plan((30, 20, 10, 1), 2000, np.float64, 400, 10).shards
            == min(blas_threads(), _plan.cores()))

    def train(k):
        (X, Y), dims, init, dtype = runs[k]
        return models.L_layer_model(X, Y, dims, 0.05, 400, init=init, dtype=dtype,
                                    return_costs=True, cost_every=10)

    sequential = [train(0), train(1)]
    results = [None, None]
    errors = []
    start = threading.Barrier(2)

    def work(k):
        try:
            start.wait()
            results[k] = train(k)
        except BaseException as exc:  # reported below, in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for (p_seq, c_seq), (p_thr, c_thr) in zip(sequential, results):
        assert c_thr == c_seq
        for key in p_seq:
            np.testing.assert_array_equal(p_thr[key], p_seq[key])


# --------------------------------------------------------------------------
# Bad input: a clear error before any compiled code runs
# --------------------------------------------------------------------------

def _bad_cases():
    X, Y = toy_data(15, 4, 10)
    Xnan = X.copy()
    Xnan[1, 2] = np.nan
    ok = dict(X=X, Y=Y, layers_dims=[4, 3, 1])
    return [
        (dict(ok, X=X[:3]), ValueError, "layers_dims\\[0\\] = 4 rows"),
        (dict(ok, X=X[0]), ValueError, "X must be a 2-D array"),
        (dict(ok, X=Xnan), ValueError, "finite"),
        (dict(ok, X="abc"), TypeError, "X must be an array of real numbers"),
        (dict(ok, X=np.empty((4, 0))), ValueError, "must not be empty"),
        (dict(ok, Y=Y[:, :9]), ValueError, "one label per example"),
        (dict(ok, Y=Y * 2), ValueError, "labels 0 and 1"),
        (dict(ok, layers_dims=[4, 3, 2]), ValueError, "end with 1"),
        (dict(ok, layers_dims=[4]), ValueError, "at least 2"),
        (dict(ok, layers_dims=[4, 0, 1]), ValueError, "layers_dims\\[1\\] must be >= 1"),
        (dict(ok, layers_dims=[4, 3.0, 1]), TypeError, "layers_dims\\[1\\] must be an int"),
        (dict(ok, layers_dims=4), TypeError, "layers_dims must be a list"),
        (dict(ok, learning_rate=0), ValueError, "learning_rate must be > 0"),
        (dict(ok, learning_rate=np.inf), ValueError, "learning_rate must be finite"),
        (dict(ok, learning_rate="0.1"), TypeError, "learning_rate must be a real number"),
        (dict(ok, num_iterations=-1), ValueError, "num_iterations must be >= 0"),
        (dict(ok, num_iterations=10.0), TypeError, "num_iterations must be an int"),
        (dict(ok, num_iterations=True), TypeError, "num_iterations must be an int"),
        (dict(ok, cost_every=-5), ValueError, "cost_every must be >= 0"),
        (dict(ok, init="xavier"), ValueError, "init must be one of"),
        (dict(ok, seed=1.5), TypeError, "seed must be an int"),
        (dict(ok, dtype=np.int32), ValueError, "dtype must be float32 or float64"),
        (dict(ok, dtype="nonsense"), TypeError, "dtype must be float32 or float64"),
        (dict(ok, callback=3), TypeError, "callback must be callable"),
    ]


@pytest.mark.parametrize("kwargs,exc,match", _bad_cases(),
                         ids=lambda x: x if isinstance(x, str) else None)
def test_bad_input_raises_a_clear_error(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        models.L_layer_model(**kwargs)


def test_two_layer_model_wants_three_sizes():
    X, Y = toy_data(16, 4, 10)
    with pytest.raises(ValueError, match="must have 3 entries"):
        models.two_layer_model(X, Y, [4, 3, 3, 1])
    with pytest.raises(ValueError, match="end with 1"):
        models.two_layer_model(X, Y, [4, 3, 2])


# --------------------------------------------------------------------------
# The course's numbers on the cat data
# --------------------------------------------------------------------------

# The course's 4-layer model (dnn_app_utils initialization, learning rate
# 0.0075, 2500 iterations) on the 209 training pictures prints these costs and
# reaches a train accuracy of 0.985645933014 and a test accuracy of 0.8.
COURSE_COSTS = [
    0.771749, 0.672053, 0.648263, 0.611507, 0.567047, 0.540138, 0.527930, 0.465477,
    0.369126, 0.391747, 0.315187, 0.272700, 0.237419, 0.199601, 0.189263, 0.161189,
    0.148214, 0.137775, 0.129740, 0.121225, 0.113821, 0.107839, 0.102855, 0.100897,
    0.092878,
]


@pytest.mark.slow
def test_cat_data_2500_iterations_gives_the_course_numbers(cat_data, capsys, blas_single_thread):
    train_x, train_y, test_x, test_y = cat_data
    params = models.L_layer_model(train_x, train_y, [12288, 20, 7, 5, 1], 0.0075, 2500,
                                  print_cost=True)
    expected = ["Cost after iteration %i: %f" % (100 * k, c) for k, c in enumerate(COURSE_COSTS)]
    assert capsys.readouterr().out.splitlines() == expected
    for x, y, accuracy in ((train_x, train_y, 0.985645933014), (test_x, test_y, 0.8)):
        R.predict(x, y, params)
        printed = capsys.readouterr().out
        assert abs(float(printed.split(":")[1]) - accuracy) < 1e-9, printed


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_gram_form_falls_back_where_XtX_overflows(dtype):
    # X^T X squares X's values: with |x| ~ 1e20, float32's G overflows where
    # W_1 X does not. The trainer must then run the direct form: the same
    # numbers as with the Gram form off, bit for bit. float64 keeps the Gram form.
    X, Y = toy_data(9, 40, 12, dtype, scale=1e20)
    dims = [40, 3, 1]
    runs = {}
    for gram in (False, True):
        runs[gram] = models.L_layer_model(X, Y, dims, 1e-42, 5, dtype=dtype, init="article",
                                          plan=Plan((0, 0), 1, gram))
    for key in runs[False]:
        if dtype == np.float32:
            np.testing.assert_array_equal(runs[True][key], runs[False][key])
        assert np.all(np.isfinite(runs[True][key])), key
    weights = [np.zeros((3, 40), dtype), np.zeros((1, 3), dtype)]
    biases = [np.zeros((3, 1), dtype), np.zeros((1, 1), dtype)]
    trainer = _train.Trainer(weights, biases, X, Y.astype(dtype), 0.1, False, True)
    assert trainer.gram == (dtype == np.float64)


# --------------------------------------------------------------------------
# Slabs and shards: an unsplit fit's large products in slabs; the batch split
# into blocks of examples, one thread each
# --------------------------------------------------------------------------

@pytest.mark.parametrize("samples_major", [False, True], ids=["features-major", "samples-major"])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("net", ["slabs", "slabs-gram"])
@pytest.mark.parametrize("cap", [2, 4])
def test_slabbed_products_match_reference(net, dtype, samples_major, cap):
    # An unsplit fit's large BLAS products in slabs of their result (every offset of the slabs,
    # for each transposition the loop uses), at one thread and on a team of two; at most 2 and
    # 4 slabs, whatever this machine's cap (its CPUs, up to 4).
    dims, m = SLAB_NETS[net][:2]
    gram = net.endswith("gram")
    assert _plan.gram_form(dims, m, SLAB_NETS[net][4]) == gram
    saved = _train._set_slabs(cap)
    try:
        assert _train.slabs(dims[1], m, dims[0]) == cap
        for threads in (1, 2):
            with threadpoolctl.threadpool_limits(limits=threads, user_api="blas"):
                assert_net_matches_reference(net, dtype, own=0, shards=1, gram=gram,
                                             samples_major=samples_major)
    finally:
        _train._set_slabs(saved)


@pytest.mark.parametrize("shards", [2, 3])
@pytest.mark.parametrize("samples_major", [False, True], ids=["features-major", "samples-major"])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("net", ["logistic", "3-layer", "deep-narrow", "wide-narrow"])
def test_sharded_training_matches_reference(net, dtype, samples_major, shards):
    # Each shard's gradient sums, added up and applied once: the reference's
    # full-batch step, whatever the rule would pick for these nets.
    assert_net_matches_reference(net, dtype, samples_major=samples_major, gram=False,
                                 shards=shards)


def make_trainer(dims, m, dtype, shards, samples_major=False, seed=3):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((dims[0], m)).astype(dtype)
    Y = (rng.random((1, m)) < 0.5).astype(dtype)
    weights = [(rng.standard_normal((dims[l], dims[l - 1])) / np.sqrt(dims[l - 1])).astype(dtype)
               for l in range(1, len(dims))]
    biases = [(0.1 * rng.standard_normal((dims[l], 1))).astype(dtype) for l in range(1, len(dims))]
    trainer = _train.Trainer(weights, biases, X, Y, 0.05, samples_major, False, shards)
    return trainer, weights, biases


@pytest.mark.parametrize("samples_major", [False, True], ids=["features-major", "samples-major"])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("shards", [2, 3, 5])
def test_thread_count_does_not_change_the_numbers(shards, dtype, samples_major):
    # The shards' sums are added in shard order however many threads share
    # them: 1, 2 or as many threads as shards give the same bits, costs too.
    results = []
    for threads in sorted({1, 2, shards}):
        trainer, weights, biases = make_trainer([13, 9, 7, 1], 301, dtype, shards, samples_major)
        costs, i = [], 0
        while i < 40:
            done, cost = trainer.run(i, 40, i + 4 if i + 4 < 40 else -1, 10.0, threads)
            i += done
            costs.append(cost)
        results.append((weights, biases, costs))
    for weights, biases, costs in results[1:]:
        for got, want in zip(weights + biases, results[0][0] + results[0][1]):
            np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(costs, results[0][2])


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_a_chunk_ends_on_time_and_at_the_recorded_cost(dtype):
    # The first thread decides when the chunk ends: at cost_at, with the
    # cost, or when the budget is spent; the others stop at the same iteration.
    trainer, weights, _ = make_trainer([10, 8, 1], 200, dtype, 2)
    assert trainer.run(0, 100, 6, 10.0, 2)[0] == 7
    done, cost = trainer.run(7, 10**9, -1, 0.0, 2)
    assert done == 1 and np.isnan(cost)
    reference, ref_weights, _ = make_trainer([10, 8, 1], 200, dtype, 2)
    reference.run(0, 8, -1, 10.0, 1)
    for got, want in zip(weights, ref_weights):
        np.testing.assert_array_equal(got, want)


def test_shard_bounds():
    assert _train.shard_bounds(1000, 2) == [0, 496, 1000]  # starts aligned to 16 examples
    assert _train.shard_bounds(60, 2) == [0, 30, 60]       # too few to align
    assert _train.shard_bounds(7, 3) == [0, 2, 4, 7]
    for m, s in [(1797, 2), (10000, 3), (128, 4), (5, 5)]:
        bounds = _train.shard_bounds(m, s)
        assert bounds[0] == 0 and bounds[-1] == m and len(bounds) == s + 1
        assert all(b > a for a, b in zip(bounds, bounds[1:]))
    with pytest.raises(ValueError, match="shards"):
        make_trainer([4, 1], 10, np.float64, 11)
    with pytest.raises(ValueError, match="Gram"):
        X = np.ones((4, 10))
        _train.Trainer([np.ones((1, 4))], [np.ones((1, 1))], X, np.ones((1, 10)), 0.1,
                       False, True, 2)


def test_shards_follow_the_cores_not_the_threads_allowed():
    # One shard per core, up to SPLIT_SHARDS, where the activations outweigh
    # the parameters (S3, S4, S6); not the tiny S2, the parameter-heavy S1
    # and S5, the Gram form, fewer than 64 examples a shard, or chunks too
    # short to start threads for. The threads allowed decide nothing here:
    # the split decides the sums.
    s3, s4, s6 = (64, 32, 16, 1), (784, 256, 128, 64, 1), (100,) + (50,) * 8 + (1,)
    shards = _plan.max_shards
    top = _plan.SPLIT_SHARDS
    for ncores, want in [(1, 1), (2, 2), (8, min(8, top)), (16, min(16, top))]:
        assert shards(s4, 10000, False, 100, ncores) == want
    assert shards(s3, 1797, False, 100, 64) == min(1797 // 64, top)
    assert shards(s6, 1000, False, 100, 8) == min(8, top)
    assert shards((2, 4, 1), 400, False, 100, 8) == 1
    assert shards((12288, 20, 7, 5, 1), 209, False, 100, 8) == 1
    assert shards((3072, 1024, 1024, 1), 512, False, 100, 8) == 1
    assert shards(s3, 1797, True, 100, 8) == 1
    assert shards(s3, 1797, False, 1, 8) == 1    # a cost every iteration: too short
    assert shards(s6, 1000, False, 1, 2) == 2
    for threads in (1, 2):
        with threadpoolctl.threadpool_limits(limits=threads, user_api="blas"):
            assert shards(s4, 10000, False, 100) == min(_plan.cores(), top)


@pytest.mark.parametrize("threads", [1, 3])
def test_forced_thread_counts_plan_and_train(threads):
    # Under a forced BLAS thread limit the rule's shards follow the cores,
    # the limit is the user's again after the fit, and the fit gives the
    # reference's numbers.
    X, Y = toy_data(21, 30, 2000)
    dims = [30, 20, 10, 1]
    with threadpoolctl.threadpool_limits(limits=threads, user_api="blas"):
        plan = _plan.rule_plan(dims, 2000, np.float64, 100, 10)
        assert plan.shards == min(_plan.cores(), _plan.SPLIT_SHARDS)
        got = models.L_layer_model(X, Y, dims, 0.05, 100, cost_every=10)
        assert blas_thread_counts() == [threads] * len(blas_thread_counts())
    ref = R.L_layer_model(X, Y, dims, 0.05, 100)
    assert_params_close(got, ref, np.float64)


def blas_thread_counts():
    return [lib["num_threads"] for lib in threadpoolctl.threadpool_info()
            if lib["user_api"] == "blas"]


def test_sharded_fit_holds_blas_at_one_thread_and_gives_it_back():
    X, Y = toy_data(15, 6, 200)
    two = Plan((3, 3), 2)
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        before = blas_thread_counts()
        seen = []
        models.L_layer_model(X, Y, [6, 5, 1], 0.1, 50, cost_every=10, plan=two,
                             callback=lambda i, c: seen.append(blas_thread_counts()))
        assert seen and all(counts == [1] * len(before) for counts in seen)
        assert blas_thread_counts() == before

        def stop(i, cost):
            raise Stop(i)

        with pytest.raises(Stop):
            models.L_layer_model(X, Y, [6, 5, 1], 0.1, 50, callback=stop, plan=two)
        assert blas_thread_counts() == before


def test_blas_is_lent_and_given_back_from_any_thread():
    # threadpoolctl (>= 3.6) lets only one Python thread set OpenBLAS's
    # process-wide count: a fit in a worker thread after one in the main
    # thread must still hold BLAS at one thread, and give it back.
    X, Y = toy_data(16, 6, 200)
    two = Plan((3, 3), 2)
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        before = blas_thread_counts()
        models.L_layer_model(X, Y, [6, 5, 1], 0.1, 20, plan=two)
        seen, errors = [], []

        def fit():
            try:
                models.L_layer_model(X, Y, [6, 5, 1], 0.1, 20, cost_every=5, plan=two,
                                     callback=lambda i, c: seen.append(blas_thread_counts()))
            except BaseException as exc:  # reported below, in the main thread
                errors.append(exc)

        worker = threading.Thread(target=fit)
        worker.start()
        worker.join()
        assert not errors, errors
        assert seen and all(counts == [1] * len(before) for counts in seen)
        assert blas_thread_counts() == before


def test_a_second_fit_at_once_runs_its_shards_on_one_thread():
    with blas_lent(2) as first:
        with blas_lent(2) as second:
            assert second == 1
    assert first == min(2, blas_threads())


def test_no_threads_of_its_own_beside_an_openmp_blas(monkeypatch):
    # OpenMP's thread limit is per thread: it would not reach dnn's threads.
    class FakeOpenMPBlas:
        num_threads = 4
        threading_layer = "openmp"

    monkeypatch.setattr(_blas_threads, "_libraries", lambda: [FakeOpenMPBlas()])
    assert not _blas_threads.held_at_one()  # the mini-batch planner pauses between BLAS pools then
    with blas_lent(2) as threads:
        assert threads == 1
    monkeypatch.setattr(_blas_threads, "_libraries", lambda: [])
    assert not _blas_threads.held_at_one()  # no BLAS found: nothing holds it either


def test_held_at_one_says_whether_fits_hold_blas_at_one_thread(monkeypatch):
    """``held_at_one`` (the mini-batch planner leaves out its pauses between BLAS pools where it
    is true): a pthreads BLAS, yes; beside an OpenMP one, no; and no after a limit taken that did
    not hold (a BLAS that ignores it), for the rest of the process."""
    class Blas:
        def __init__(self, layer, threads=4):
            self.threading_layer, self.num_threads = layer, threads

    monkeypatch.setattr(_blas_threads, "_slipped", False)
    monkeypatch.setattr(_blas_threads, "_libraries", lambda: [Blas("pthreads")])
    assert _blas_threads.held_at_one()
    monkeypatch.setattr(_blas_threads, "_libraries", lambda: [Blas("pthreads"), Blas("openmp")])
    assert not _blas_threads.held_at_one()

    stubborn = Blas("pthreads")  # its count stays 4 whatever the limit

    class Controller:
        lib_controllers = [stubborn]

        def limit(self, limits):
            return type("Limiter", (), {"restore_original_limits": lambda self: None})()

    monkeypatch.setattr(_blas_threads, "_libraries", lambda: [stubborn])
    monkeypatch.setattr(_blas_threads, "_openblas_calls", lambda: None)
    monkeypatch.setattr(_blas_threads, "_blas_controller", lambda: Controller())
    assert _blas_threads.held_at_one()
    with blas_lent(2) as threads:
        assert threads == 1  # the limit did not hold: no threads of its own
    assert not _blas_threads.held_at_one()


def test_a_trainer_runs_in_one_thread_at_a_time():
    trainer, _, _ = make_trainer([10, 8, 1], 400, np.float64, 2)
    started = threading.Event()
    errors = []

    def long_run():
        started.set()
        try:
            trainer.run(0, 10**9, -1, 0.5, 2)
        except BaseException as exc:  # reported below, in the main thread
            errors.append(exc)

    worker = threading.Thread(target=long_run)
    worker.start()
    started.wait()
    time.sleep(0.1)
    with pytest.raises(RuntimeError, match="already running"):
        trainer.run(0, 10, -1, 0.5, 2)
    worker.join()
    assert not errors, errors
    assert trainer.run(0, 2, -1, 0.5, 2)[0] == 2  # free again


# --------------------------------------------------------------------------
# dnn._simd's output gradient: sigmoid(Z) - Y with a vector exp
# --------------------------------------------------------------------------

def output_gradient_inputs(dtype):
    """Z across sigmoid's whole range: every scale, both sides of the vector
    exp's limits (708 in float64, 87 in float32) and of exp's overflow, zeros,
    and lengths that leave a tail after the last full vector."""
    rng = np.random.default_rng(7)
    limit = 708.0 if np.dtype(dtype) == np.float64 else 87.0
    special = [0.0, -0.0, 1e-300, -1e-300, limit, -limit, limit + 0.5, -limit - 0.5,
               709.9, -709.9, 745.5, -745.5, 800.0, -800.0, 1e30, -1e30]
    Z = np.concatenate([
        np.array(special),
        rng.standard_normal(1000),
        20 * rng.standard_normal(1000),
        rng.uniform(-limit, limit, 3000),
        np.linspace(-2 * limit, 2 * limit, 2001),
    ]).astype(dtype)
    return Z[np.isfinite(Z)]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_nonfinite_kernel_finds_every_nan_and_inf_and_nothing_else(dtype, simd_build):
    # dnn._simd's ``nonfinite`` (x * 0 summed): every length through two vectors of
    # the widest build and a tail, each position, against extreme finite values.
    info = np.finfo(dtype)
    finite = np.array([info.max, -info.max, info.tiny, info.tiny / 4, -0.0, 0.0, 1.0, -3.5],
                      dtype=dtype)
    for n in range(1, 2 * 16 + 8):
        x = np.resize(finite, n)
        assert _kernels.all_finite(x), n
        for bad in (np.nan, np.inf, -np.inf):
            for i in range(n):
                y = x.copy()
                y[i] = bad
                assert not _kernels.all_finite(y), (n, i, bad)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_output_gradient_matches_numpy_to_a_few_ulps(dtype, simd_build):
    # The reference's formula in the same dtype, 1 / (1 + exp(-z)) - y; the
    # vector exp is within ~1 ulp of libm's, so d is within 2 ulps of NumPy's
    # (measured: at most 1.93 eps relative to max(|s|, |d|), both builds).
    Z = output_gradient_inputs(dtype)
    eps, tiny = np.finfo(dtype).eps, np.finfo(dtype).tiny
    for n in (len(Z), len(Z) - 1, 7, 3, 1):
        z = np.ascontiguousarray(Z[:n])
        for y in (np.zeros(n, dtype), np.ones(n, dtype), (np.arange(n) % 2).astype(dtype)):
            with np.errstate(over="ignore"):
                s = 1 / (1 + np.exp(-z))
            want = s - y
            got, total = _train.output_gradient(z, y)
            assert got.dtype == np.dtype(dtype)
            scale = np.maximum(np.maximum(np.abs(s), np.abs(want)), tiny).astype(np.float64)
            err = np.abs(got.astype(np.float64) - want) / (eps * scale)
            assert err.max() <= 3, (err.max(), z[np.argmax(err)])
            assert total == pytest.approx(float(np.sum(got, dtype=np.float64)),
                                          rel=1e-12, abs=1e-12)


def test_output_gradient_saturates_as_the_reference(simd_build):
    # Far out, exp overflows and the sigmoid is exactly 0 or 1, as NumPy's.
    z = np.array([-800.0, 800.0, -1e300, 1e300, -710.0, 710.0, -709.0, 709.0, 40.0])
    got, _ = _train.output_gradient(z, np.zeros_like(z))
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(got, 1 / (1 + np.exp(-z)))

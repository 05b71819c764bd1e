"""The course's step-by-step loop: ``dnn`` against the frozen course NumPy code.

One iteration (``L_model_forward``, ``compute_cost``, ``L_model_backward``,
``update_parameters``) from fixed parameters, as ``benchmarks/step_loop.py``
times it; grouped "step loop S? dtype" so pytest-benchmark prints the two
side by side. BLAS threads: ``--dnn-threads`` (conftest.py). The paired table
with ratios is ``python benchmarks/compare.py --step-loop``.
"""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # importlib mode: not on sys.path
import step_loop  # noqa: E402


@pytest.fixture(params=["dnn", "course"])
def loop_module(request):
    if request.param == "course":
        return step_loop.course_numpy
    import dnn

    return dnn


@pytest.mark.parametrize("loop_shape", step_loop.SHAPES)
def test_step_loop(benchmark, loop_module, loop_shape, dtype_name):
    X, Y, start = step_loop.problem(loop_shape, step_loop.bench.DTYPES[dtype_name])
    run = step_loop.loop(loop_module, X, Y, start)
    benchmark.group = "step loop %s %s" % (loop_shape, dtype_name)
    benchmark(run, 1)

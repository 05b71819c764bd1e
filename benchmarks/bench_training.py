"""Training, dnn against dnn.reference, on the benchmark shapes.

- ``test_step_by_step_iteration``: one gradient-descent iteration written with
  the step-by-step API (L_model_forward, compute_cost, L_model_backward,
  update_parameters), as a course notebook does: what `from dnn import *` buys.
- ``test_L_layer_model``: the whole-loop entry point, ``L_layer_model`` with
  ``ITERATIONS`` iterations per call (the time shown is per call: divide by
  ``ITERATIONS`` for one iteration; it includes the per-call setup, as real
  training does). ``python -m dnn.bench`` gives calibrated per-iteration
  medians and the peers.
"""

from dnn import bench

ITERATIONS = 10
LEARNING_RATE = 0.0075


def test_step_by_step_iteration(benchmark, fn, problem, label):
    dims, X, Y, params = problem
    forward, cost, backward, update = (fn("L_model_forward"), fn("compute_cost"),
                                       fn("L_model_backward"), fn("update_parameters"))
    start = dict(params)
    held = {}  # results live until the next iteration's replace them, as in the course's loop

    def iteration():
        held["AL"], held["caches"] = forward(X, dict(start))  # start stays the same
        cost(held["AL"], Y)
        held["grads"] = backward(held["AL"], Y, held["caches"])
        held["parameters"] = update(dict(start), held["grads"], LEARNING_RATE)

    benchmark.group = label("step-by-step iteration")
    benchmark(iteration)


def test_L_layer_model(benchmark, impl, fn, problem, label):
    dims, X, Y, params = problem
    if impl == "dnn":
        train = bench._dnn_L_layer_model()
    else:
        train = fn("L_layer_model")
    benchmark.group = label("L_layer_model x%d" % ITERATIONS)
    benchmark.extra_info["iterations_per_call"] = ITERATIONS
    benchmark(train, X, Y, dims, learning_rate=LEARNING_RATE, num_iterations=ITERATIONS)

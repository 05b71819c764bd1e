"""Every step-by-step kernel, dnn against dnn.reference, on the benchmark shapes.

Activations and their backward run on the first hidden layer's ``(n_1, m)``
pre-activations (the largest elementwise work of a shape); the linear +
activation steps on the first layer (relu, the gemm-heavy one) and on the
output layer (sigmoid); L_model_forward / L_model_backward on the whole network.
"""


def _first_layer(problem):
    dims, X, Y, params = problem
    Z = params["W1"] @ X + params["b1"]
    return dims, X, Y, params, Z


def test_relu(benchmark, fn, problem, label):
    *_, Z = _first_layer(problem)
    benchmark.group = label("relu")
    benchmark(fn("relu"), Z)


def test_sigmoid(benchmark, fn, problem, label):
    *_, Z = _first_layer(problem)
    benchmark.group = label("sigmoid")
    benchmark(fn("sigmoid"), Z)


def test_relu_backward(benchmark, fn, problem, label, rng):
    *_, Z = _first_layer(problem)
    dA = rng.standard_normal(Z.shape).astype(Z.dtype)
    benchmark.group = label("relu_backward")
    benchmark(fn("relu_backward"), dA, Z)


def test_sigmoid_backward(benchmark, fn, problem, label, rng):
    *_, Z = _first_layer(problem)
    dA = rng.standard_normal(Z.shape).astype(Z.dtype)
    benchmark.group = label("sigmoid_backward")
    benchmark(fn("sigmoid_backward"), dA, Z)


def test_linear_activation_forward_relu_first(benchmark, fn, problem, label):
    dims, X, Y, params = problem
    benchmark.group = label("linear_activation_forward relu layer1")
    benchmark(fn("linear_activation_forward"), X, params["W1"], params["b1"], "relu")


def test_linear_activation_forward_sigmoid_last(benchmark, fn, problem, label):
    dims, X, Y, params = problem
    L = len(dims) - 1
    _, caches = fn("L_model_forward")(X, params)
    A_prev = caches[L - 1][0][0]
    benchmark.group = label("linear_activation_forward sigmoid layerL")
    benchmark(fn("linear_activation_forward"), A_prev, params["W%d" % L], params["b%d" % L],
              "sigmoid")


def test_linear_activation_backward_relu_first(benchmark, fn, problem, label, rng):
    dims, X, Y, params = problem
    forward = fn("linear_activation_forward")
    A1, cache = forward(X, params["W1"], params["b1"], "relu")
    dA1 = rng.standard_normal(A1.shape).astype(A1.dtype)
    benchmark.group = label("linear_activation_backward relu layer1")
    benchmark(fn("linear_activation_backward"), dA1, cache, "relu")


def test_linear_activation_backward_sigmoid_last(benchmark, fn, problem, label, rng):
    dims, X, Y, params = problem
    L = len(dims) - 1
    AL, caches = fn("L_model_forward")(X, params)
    dAL = rng.standard_normal(AL.shape).astype(AL.dtype)
    benchmark.group = label("linear_activation_backward sigmoid layerL")
    benchmark(fn("linear_activation_backward"), dAL, caches[L - 1], "sigmoid")


def test_L_model_forward(benchmark, fn, problem, label):
    dims, X, Y, params = problem
    benchmark.group = label("L_model_forward")
    benchmark(fn("L_model_forward"), X, params)


def test_L_model_backward(benchmark, fn, problem, label):
    dims, X, Y, params = problem
    AL, caches = fn("L_model_forward")(X, params)
    benchmark.group = label("L_model_backward")
    benchmark(fn("L_model_backward"), AL, Y, caches)

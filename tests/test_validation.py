"""Bad input to every public function of dnn raises a clear error.

The compiled kernels trust what they are given, so every public function
checks its input first. A bad input must raise ``TypeError`` (not an array of
real numbers), ``ValueError`` (rank, shape, size or values) or ``KeyError``
(a missing dict entry) whose message names the offending argument: never a
crash, never a silent answer.

Each case below is ``(call, exception, pattern)``: ``call`` makes one bad
call on otherwise valid inputs; ``pattern`` must be found in the message (it
names the argument, or the dict key).
"""
import fractions
import math

import numpy as np
import pytest

import dnn

# Valid inputs of a small network (n_x=3, one hidden layer of 2, m=4), built once
# per call so that no case can change another's.


def net():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((3, 4))
    Y = np.array([[1.0, 0.0, 1.0, 0.0]])
    params = {"W1": rng.standard_normal((2, 3)) * 0.5, "b1": np.zeros((2, 1)),
              "W2": rng.standard_normal((1, 2)) * 0.5, "b2": np.zeros((1, 1))}
    AL, caches = dnn.L_model_forward(X, params)
    grads = dnn.L_model_backward(AL, Y, caches)
    return X, Y, params, AL, caches, grads


def lin():
    """(A, W, b, dZ, linear cache, layer cache, dA) for W (2, 3), A (3, 4)."""
    rng = np.random.default_rng(1)
    A = rng.standard_normal((3, 4))
    W = rng.standard_normal((2, 3))
    b = rng.standard_normal((2, 1))
    dZ = rng.standard_normal((2, 4))
    _, cache = dnn.linear_activation_forward(A, W, b, "relu")
    return A, W, b, dZ, (A, W, b), cache, dZ.copy()


def with_value(x, index, value):
    x = np.array(x, dtype=np.float64)
    x[index] = value
    return x


def without(d, key):
    return {k: v for k, v in d.items() if k != key}


def replaced(d, key, value):
    out = dict(d)
    out[key] = value
    return out


NAN, INF = float("nan"), float("inf")
ARRAY_ERRORS = (ValueError, TypeError)

CASES = []


def case(id_, call, exc, pattern):
    CASES.append(pytest.param(call, exc, pattern, id=id_))


# ---- activations ---------------------------------------------------------
for fn in ("sigmoid", "relu"):
    f = getattr(dnn, fn)
    case(f"{fn}-None", lambda f=f: f(None), TypeError, "Z")
    case(f"{fn}-str", lambda f=f: f("abc"), TypeError, "Z")
    case(f"{fn}-object", lambda f=f: f(np.array([[1.0, None]], dtype=object)), TypeError, "Z")
    case(f"{fn}-complex", lambda f=f: f(np.ones((2, 2), dtype=complex)), TypeError, "Z")
    case(f"{fn}-empty", lambda f=f: f(np.zeros((2, 0))), ValueError, "Z")
    case(f"{fn}-nan", lambda f=f: f(with_value(np.ones((2, 2)), (1, 1), NAN)), ValueError, "Z")
    case(f"{fn}-inf", lambda f=f: f(with_value(np.ones((2, 2)), (0, 1), -INF)), ValueError, "Z")

for fn in ("sigmoid_backward", "relu_backward", "sigmoid_derivative", "relu_derivative"):
    f = getattr(dnn, fn)
    case(f"{fn}-shape", lambda f=f: f(np.ones((2, 3)), np.ones((3, 2))), ValueError, "dA")
    case(f"{fn}-dA-None", lambda f=f: f(None, np.ones((2, 2))), TypeError, "dA")
    case(f"{fn}-cache-None", lambda f=f: f(np.ones((2, 2)), None), TypeError, "cache")
    case(f"{fn}-dA-nan", lambda f=f: f(with_value(np.ones((2, 2)), 0, NAN), np.ones((2, 2))), ValueError, "dA")
    case(f"{fn}-Z-inf", lambda f=f: f(np.ones((2, 2)), with_value(np.ones((2, 2)), 0, INF)), ValueError,
         "cache|Z")
    case(f"{fn}-complex", lambda f=f: f(np.ones((2, 2), dtype=complex), np.ones((2, 2))), TypeError, "dA")
    case(f"{fn}-empty", lambda f=f: f(np.zeros((0, 2)), np.zeros((0, 2))), ValueError, "dA|cache")

# ---- linear_forward / forward_prop_L -------------------------------------
for fn in ("linear_forward", "forward_prop_L"):
    f = getattr(dnn, fn)
    case(f"{fn}-A-rank1", lambda f=f: f(np.ones(3), np.ones((2, 3)), np.ones((2, 1))), ValueError, r"\bA\b")
    case(f"{fn}-A-rank3", lambda f=f: f(np.ones((3, 4, 1)), np.ones((2, 3)), np.ones((2, 1))), ValueError,
         r"\bA\b")
    case(f"{fn}-W-rank1", lambda f=f: f(np.ones((3, 4)), np.ones(3), np.ones((2, 1))), ValueError, r"\bW\b")
    case(f"{fn}-W-A-mismatch", lambda f=f: f(np.ones((4, 4)), np.ones((2, 3)), np.ones((2, 1))), ValueError,
         r"\bW\b.*\bA\b|\bA\b.*\bW\b")
    case(f"{fn}-b-shape", lambda f=f: f(np.ones((3, 4)), np.ones((2, 3)), np.ones((3, 1))), ValueError, r"\bb\b")
    # a 1-D bias would broadcast along the wrong axis in NumPy: a silent wrong answer
    case(f"{fn}-b-1d", lambda f=f: f(np.ones((3, 4)), np.ones((2, 3)), np.ones(2)), ValueError, r"\bb\b")
    case(f"{fn}-b-row", lambda f=f: f(np.ones((3, 2)), np.ones((2, 3)), np.ones((1, 2))), ValueError, r"\bb\b")
    case(f"{fn}-W-nan", lambda f=f: f(np.ones((3, 4)), with_value(np.ones((2, 3)), 0, NAN), np.ones((2, 1))),
         ValueError, r"\bW\b")
    case(f"{fn}-A-inf", lambda f=f: f(with_value(np.ones((3, 4)), 0, INF), np.ones((2, 3)), np.ones((2, 1))),
         ValueError, r"\bA\b")
    case(f"{fn}-A-empty", lambda f=f: f(np.ones((3, 0)), np.ones((2, 3)), np.ones((2, 1))), ValueError, r"\bA\b")
    case(f"{fn}-W-str", lambda f=f: f(np.ones((3, 4)), "W", np.ones((2, 1))), TypeError, r"\bW\b")
    case(f"{fn}-b-None", lambda f=f: f(np.ones((3, 4)), np.ones((2, 3)), None), TypeError, r"\bb\b")
    case(f"{fn}-A-object", lambda f=f: f(np.ones((3, 4), dtype=object), np.ones((2, 3)), np.ones((2, 1))),
         TypeError, r"\bA\b")
    case(f"{fn}-W-complex", lambda f=f: f(np.ones((3, 4)), np.ones((2, 3), dtype=complex), np.ones((2, 1))),
         TypeError, r"\bW\b")

# ---- linear_activation_forward / activation_forward_L --------------------
for fn in ("linear_activation_forward", "activation_forward_L"):
    f = getattr(dnn, fn)
    ok = (np.ones((3, 4)), np.ones((2, 3)), np.ones((2, 1)))
    case(f"{fn}-activation-unknown", lambda f=f, ok=ok: f(*ok, "tanh"), ValueError, "activation")
    case(f"{fn}-activation-case", lambda f=f, ok=ok: f(*ok, "ReLU"), ValueError, "activation")
    case(f"{fn}-activation-None", lambda f=f, ok=ok: f(*ok, None), (ValueError, TypeError), "activation")
    case(f"{fn}-A_prev-rank1", lambda f=f: f(np.ones(3), np.ones((2, 3)), np.ones((2, 1)), "relu"), ValueError,
         "A_prev")
    case(f"{fn}-mismatch", lambda f=f: f(np.ones((5, 4)), np.ones((2, 3)), np.ones((2, 1)), "sigmoid"),
         ValueError, "A_prev")
    case(f"{fn}-b-shape", lambda f=f: f(np.ones((3, 4)), np.ones((2, 3)), np.ones((2, 2)), "relu"), ValueError,
         r"\bb\b")
    case(f"{fn}-W-nan", lambda f=f: f(np.ones((3, 4)), with_value(np.ones((2, 3)), 1, NAN), np.ones((2, 1)),
                                      "relu"), ValueError, r"\bW\b")
    case(f"{fn}-A_prev-None", lambda f=f: f(None, np.ones((2, 3)), np.ones((2, 1)), "relu"), TypeError, "A_prev")

# ---- L_model_forward ------------------------------------------------------
X, Y, P, AL, CACHES, GRADS = net()
case("L_model_forward-params-missing-W2", lambda: dnn.L_model_forward(X, without(P, "W2")), KeyError, "W2")
case("L_model_forward-params-missing-b1", lambda: dnn.L_model_forward(X, without(P, "b1")), KeyError, "b1")
case("L_model_forward-params-missing-W2-b2",
     lambda: dnn.L_model_forward(X, {"W1": P["W1"], "b1": P["b1"], "W3": P["W2"], "b3": P["b2"]}), KeyError, "W2")
case("L_model_forward-params-not-dict", lambda: dnn.L_model_forward(X, [P["W1"], P["b1"]]), TypeError,
     "parameters")
case("L_model_forward-params-None", lambda: dnn.L_model_forward(X, None), TypeError, "parameters")
case("L_model_forward-params-empty", lambda: dnn.L_model_forward(X, {}), (ValueError, KeyError), "parameters|W1")
case("L_model_forward-X-rows", lambda: dnn.L_model_forward(np.ones((4, 4)), P), ValueError, r"\bX\b")
case("L_model_forward-X-rank1", lambda: dnn.L_model_forward(np.ones(3), P), ValueError, r"\bX\b")
case("L_model_forward-X-nan", lambda: dnn.L_model_forward(with_value(X, (0, 0), NAN), P), ValueError, r"\bX\b")
case("L_model_forward-X-empty", lambda: dnn.L_model_forward(np.ones((3, 0)), P), ValueError, r"\bX\b")
case("L_model_forward-X-None", lambda: dnn.L_model_forward(None, P), TypeError, r"\bX\b")
case("L_model_forward-X-str", lambda: dnn.L_model_forward("X", P), TypeError, r"\bX\b")
case("L_model_forward-X-complex", lambda: dnn.L_model_forward(X.astype(complex), P), TypeError, r"\bX\b")
case("L_model_forward-W2-cols", lambda: dnn.L_model_forward(X, replaced(P, "W2", np.ones((1, 3)))), ValueError,
     "W2")
case("L_model_forward-b1-shape", lambda: dnn.L_model_forward(X, replaced(P, "b1", np.ones((3, 1)))), ValueError,
     "b1")
case("L_model_forward-W1-inf", lambda: dnn.L_model_forward(X, replaced(P, "W1", with_value(P["W1"], 0, INF))),
     ValueError, "W1")
case("L_model_forward-W1-None", lambda: dnn.L_model_forward(X, replaced(P, "W1", None)), TypeError, "W1")
case("L_model_forward-W1-object",
     lambda: dnn.L_model_forward(X, replaced(P, "W1", P["W1"].astype(object))), TypeError, "W1")

# ---- compute_cost ---------------------------------------------------------
AL_OK = np.array([[0.9, 0.2, 0.6, 0.4]])
case("compute_cost-Y-shape", lambda: dnn.compute_cost(AL_OK, np.array([[1.0, 0.0, 1.0]])), ValueError, r"\bY\b")
case("compute_cost-Y-column", lambda: dnn.compute_cost(AL_OK, np.ones((4, 1))), ValueError, r"\bY\b")
case("compute_cost-Y-label-2", lambda: dnn.compute_cost(AL_OK, np.array([[1.0, 0.0, 2.0, 0.0]])), ValueError,
     r"\bY\b")
case("compute_cost-Y-label-half", lambda: dnn.compute_cost(AL_OK, np.array([[1.0, 0.5, 1.0, 0.0]])),
     ValueError, r"\bY\b")
case("compute_cost-Y-label-neg", lambda: dnn.compute_cost(AL_OK, np.array([[1, -1, 1, 0]])), ValueError,
     r"\bY\b")
case("compute_cost-Y-nan", lambda: dnn.compute_cost(AL_OK, np.array([[1.0, NAN, 1.0, 0.0]])), ValueError,
     r"\bY\b")
case("compute_cost-Y-None", lambda: dnn.compute_cost(AL_OK, None), TypeError, r"\bY\b")
case("compute_cost-Y-str", lambda: dnn.compute_cost(AL_OK, "1010"), TypeError, r"\bY\b")
case("compute_cost-AL-nan", lambda: dnn.compute_cost(with_value(AL_OK, (0, 1), NAN), Y), ValueError, "AL")
case("compute_cost-AL-above-1", lambda: dnn.compute_cost(with_value(AL_OK, (0, 1), 1.5), Y), ValueError, "AL")
case("compute_cost-AL-negative", lambda: dnn.compute_cost(with_value(AL_OK, (0, 1), -0.1), Y), ValueError, "AL")
case("compute_cost-AL-rank3", lambda: dnn.compute_cost(AL_OK.reshape(1, 1, 4), Y), ValueError, "AL")
case("compute_cost-AL-two-rows", lambda: dnn.compute_cost(np.full((2, 4), 0.5), Y), ValueError, "AL")
case("compute_cost-AL-empty", lambda: dnn.compute_cost(np.zeros((1, 0)), np.zeros((1, 0))), ValueError, "AL")
case("compute_cost-AL-None", lambda: dnn.compute_cost(None, Y), TypeError, "AL")
case("compute_cost-AL-complex", lambda: dnn.compute_cost(AL_OK.astype(complex), Y), TypeError, "AL")

# ---- linear_backward / backprop_L -----------------------------------------
for fn in ("linear_backward", "backprop_L"):
    f = getattr(dnn, fn)
    A, W, b, dZ, lc, cache, dA = lin()
    case(f"{fn}-dZ-shape", lambda f=f, lc=lc: f(np.ones((2, 5)), lc), ValueError, "dZ")
    case(f"{fn}-dZ-rows", lambda f=f, lc=lc: f(np.ones((3, 4)), lc), ValueError, "dZ")
    case(f"{fn}-dZ-nan", lambda f=f, lc=lc, dZ=dZ: f(with_value(dZ, 0, NAN), lc), ValueError, "dZ")
    case(f"{fn}-dZ-None", lambda f=f, lc=lc: f(None, lc), TypeError, "dZ")
    case(f"{fn}-dZ-object", lambda f=f, lc=lc, dZ=dZ: f(dZ.astype(object), lc), TypeError, "dZ")
    case(f"{fn}-cache-None", lambda f=f, dZ=dZ: f(dZ, None), (ValueError, TypeError), "cache")
    case(f"{fn}-cache-short", lambda f=f, dZ=dZ, A=A, W=W: f(dZ, (A, W)), (ValueError, TypeError), "cache")
    case(f"{fn}-cache-layer-cache", lambda f=f, dZ=dZ, cache=cache: f(dZ, cache), (ValueError, TypeError),
         "cache")
    case(f"{fn}-cache-mismatch", lambda f=f, dZ=dZ, W=W, b=b: f(dZ, (np.ones((4, 4)), W, b)), ValueError,
         "A_prev|W")
    case(f"{fn}-cache-W-None", lambda f=f, dZ=dZ, A=A, b=b: f(dZ, (A, None, b)), TypeError, r"\bW\b")
    case(f"{fn}-cache-A-inf", lambda f=f, dZ=dZ, A=A, W=W, b=b: f(dZ, (with_value(A, 0, INF), W, b)),
         ValueError, "A_prev")

# ---- linear_activation_backward / activation_backward_L -------------------
for fn in ("linear_activation_backward", "activation_backward_L"):
    f = getattr(dnn, fn)
    A, W, b, dZ, lc, cache, dA = lin()
    case(f"{fn}-activation", lambda f=f, dA=dA, cache=cache: f(dA, cache, "softmax"), ValueError, "activation")
    case(f"{fn}-activation-None", lambda f=f, dA=dA, cache=cache: f(dA, cache, None), (ValueError, TypeError),
         "activation")
    case(f"{fn}-dA-shape", lambda f=f, cache=cache: f(np.ones((2, 3)), cache, "relu"), ValueError, "dA")
    case(f"{fn}-dA-nan", lambda f=f, dA=dA, cache=cache: f(with_value(dA, 0, NAN), cache, "sigmoid"),
         ValueError, "dA")
    case(f"{fn}-dA-str", lambda f=f, cache=cache: f("dA", cache, "relu"), TypeError, "dA")
    case(f"{fn}-cache-linear-only", lambda f=f, dA=dA, lc=lc: f(dA, lc, "relu"), (ValueError, TypeError),
         "cache")
    case(f"{fn}-cache-None", lambda f=f, dA=dA: f(dA, None, "relu"), (ValueError, TypeError), "cache")
    case(f"{fn}-cache-Z-shape", lambda f=f, dA=dA, lc=lc: f(dA, (lc, np.ones((2, 5))), "relu"), ValueError,
         r"\bZ\b|dA")
    case(f"{fn}-cache-Z-nan", lambda f=f, dA=dA, lc=lc, cache=cache: f(dA, (lc, with_value(cache[1], 0, NAN)),
                                                                       "relu"), ValueError, r"\bZ\b")

# ---- L_model_backward -----------------------------------------------------
case("L_model_backward-Y-shape", lambda: dnn.L_model_backward(AL, np.ones((1, 5)), CACHES), ValueError, r"\bY\b")
case("L_model_backward-Y-label", lambda: dnn.L_model_backward(AL, np.array([[1, 0, 3, 0]]), CACHES),
     ValueError, r"\bY\b")
case("L_model_backward-Y-None", lambda: dnn.L_model_backward(AL, None, CACHES), TypeError, r"\bY\b")
case("L_model_backward-AL-nan", lambda: dnn.L_model_backward(with_value(AL, (0, 0), NAN), Y, CACHES),
     ValueError, "AL")
# Any finite AL is the course's input (its test case draws AL from randn); one
# of exactly 0 or 1 makes dAL = -(Y/AL - (1-Y)/(1-AL)) a division by 0.
case("L_model_backward-AL-one", lambda: dnn.L_model_backward(with_value(AL, (0, 0), 1.0), Y, CACHES),
     ValueError, "AL")
case("L_model_backward-AL-zero", lambda: dnn.L_model_backward(with_value(AL, (0, 2), 0.0), Y, CACHES),
     ValueError, "AL")
case("L_model_backward-AL-inf", lambda: dnn.L_model_backward(with_value(AL, (0, 1), np.inf), Y, CACHES),
     ValueError, "AL")
case("L_model_backward-AL-shape", lambda: dnn.L_model_backward(AL[:, :3], Y[:, :3], CACHES), ValueError, "AL")
case("L_model_backward-AL-str", lambda: dnn.L_model_backward("AL", Y, CACHES), TypeError, "AL")
case("L_model_backward-caches-empty", lambda: dnn.L_model_backward(AL, Y, []), ValueError, "caches")
case("L_model_backward-caches-None", lambda: dnn.L_model_backward(AL, Y, None), (ValueError, TypeError), "caches")
case("L_model_backward-caches-bad-item", lambda: dnn.L_model_backward(AL, Y, [CACHES[0], "x"]),
     (ValueError, TypeError), "caches")
case("L_model_backward-caches-swapped", lambda: dnn.L_model_backward(AL, Y, CACHES[::-1]), ValueError, "caches|AL")

# ---- update_parameters ----------------------------------------------------
for lr, exc in ((NAN, ValueError), (INF, ValueError), (-INF, ValueError), ("0.1", TypeError), (None, TypeError),
                (np.array([0.1, 0.2]), TypeError), (complex(0.1, 0), TypeError)):
    case(f"update_parameters-learning_rate-{lr!r}", lambda lr=lr: dnn.update_parameters(dict(P), GRADS, lr),
         exc, "learning_rate")
case("update_parameters-grads-missing-dW2", lambda: dnn.update_parameters(dict(P), without(GRADS, "dW2"), 0.1),
     KeyError, "dW2")
case("update_parameters-grads-missing-db1", lambda: dnn.update_parameters(dict(P), without(GRADS, "db1"), 0.1),
     KeyError, "db1")
case("update_parameters-grads-not-dict", lambda: dnn.update_parameters(dict(P), [1, 2], 0.1), TypeError, "grads")
case("update_parameters-grads-None", lambda: dnn.update_parameters(dict(P), None, 0.1), TypeError, "grads")
case("update_parameters-dW1-shape",
     lambda: dnn.update_parameters(dict(P), replaced(GRADS, "dW1", np.ones((3, 2))), 0.1), ValueError, "dW1")
case("update_parameters-db2-nan",
     lambda: dnn.update_parameters(dict(P), replaced(GRADS, "db2", np.full((1, 1), NAN)), 0.1), ValueError, "db2")
case("update_parameters-dW2-str",
     lambda: dnn.update_parameters(dict(P), replaced(GRADS, "dW2", "x"), 0.1), TypeError, "dW2")
case("update_parameters-params-missing-W2", lambda: dnn.update_parameters(without(P, "W2"), GRADS, 0.1), KeyError,
     "W2")
case("update_parameters-params-None", lambda: dnn.update_parameters(None, GRADS, 0.1), TypeError, "parameters")
case("update_parameters-W1-nan",
     lambda: dnn.update_parameters(replaced(P, "W1", with_value(P["W1"], 0, NAN)), GRADS, 0.1), ValueError, "W1")

# ---- predict -------------------------------------------------------------
case("predict-y-label", lambda: dnn.predict(X, np.array([[1, 0, 2, 0]]), P), ValueError, r"\by\b")
case("predict-y-shape", lambda: dnn.predict(X, np.array([[1, 0, 1]]), P), ValueError, r"\by\b")
case("predict-y-None", lambda: dnn.predict(X, None, P), TypeError, r"\by\b")
case("predict-X-rows", lambda: dnn.predict(np.ones((2, 4)), Y, P), ValueError, r"\bX\b")
case("predict-X-nan", lambda: dnn.predict(with_value(X, 0, NAN), Y, P), ValueError, r"\bX\b")
case("predict-X-None", lambda: dnn.predict(None, Y, P), TypeError, r"\bX\b")
case("predict-params-missing-b2", lambda: dnn.predict(X, Y, without(P, "b2")), KeyError, "b2")
# Two output units are a softmax network (as dnn.reference infers, issue 11): predict then gives class
# indices; asked for a sigmoid output, it refuses naming the output.
case("predict-two-outputs",
     lambda: dnn.predict(X, Y, replaced(replaced(P, "W2", np.ones((2, 2))), "b2", np.ones((2, 1))),
                         output="sigmoid"), ValueError, "output")

# ---- initialization -------------------------------------------------------
for fn in ("initialize_parameters_deep", "init_parameters_L"):
    f = getattr(dnn, fn)
    case(f"{fn}-one-entry", lambda f=f: f([5]), ValueError, "layer_dims")
    case(f"{fn}-empty", lambda f=f: f([]), ValueError, "layer_dims")
    case(f"{fn}-zero", lambda f=f: f([5, 0, 1]), ValueError, "layer_dims")
    case(f"{fn}-negative", lambda f=f: f([5, -3, 1]), ValueError, "layer_dims")
    case(f"{fn}-float", lambda f=f: f([5, 2.5, 1]), (TypeError, ValueError), "layer_dims")
    case(f"{fn}-None", lambda f=f: f(None), TypeError, "layer_dims")
    case(f"{fn}-init", lambda f=f: f([5, 1], init="xavier"), (ValueError, KeyError), "init")
    # an integer dtype would truncate the small weights to zeros: a silent wrong answer
    case(f"{fn}-dtype-int", lambda f=f: f([5, 1], dtype=np.int64), (TypeError, ValueError), "dtype")
case("initialize_parameters-n_x-zero", lambda: dnn.initialize_parameters(0, 2, 1), ValueError, "n_x")
case("initialize_parameters-n_h-negative", lambda: dnn.initialize_parameters(3, -2, 1), ValueError, "n_h")
case("initialize_parameters-n_y-float", lambda: dnn.initialize_parameters(3, 2, 1.5), (TypeError, ValueError),
     "n_y")

# ---- the models -----------------------------------------------------------
XM = np.random.default_rng(2).standard_normal((3, 6))
YM = np.array([[1, 0, 1, 0, 1, 1]])
for fn, dims in (("L_layer_model", [3, 2, 1]), ("two_layer_model", (3, 2, 1))):
    def f(*args, _fn=fn, **kw):
        return getattr(dnn, _fn)(*args, num_iterations=kw.pop("num_iterations", 2), **kw)
    case(f"{fn}-dims-one-entry", lambda f=f: f(XM, YM, [3]), ValueError, "layers_dims")
    case(f"{fn}-dims-zero", lambda f=f: f(XM, YM, [3, 0, 1]), ValueError, "layers_dims")
    case(f"{fn}-dims-negative", lambda f=f: f(XM, YM, [3, -2, 1]), ValueError, "layers_dims")
    case(f"{fn}-dims-float", lambda f=f: f(XM, YM, [3, 2.0, 1]), (TypeError, ValueError), "layers_dims")
    case(f"{fn}-dims-input-size", lambda f=f: f(XM, YM, [4, 2, 1]), ValueError, "layers_dims|X")
    case(f"{fn}-dims-output-2", lambda f=f: f(XM, YM, [3, 2, 2]), ValueError, "layers_dims")
    case(f"{fn}-dims-None", lambda f=f: f(XM, YM, None), TypeError, "layers_dims")
    case(f"{fn}-lr-nan", lambda f=f, d=dims: f(XM, YM, d, learning_rate=NAN), ValueError, "learning_rate")
    case(f"{fn}-lr-inf", lambda f=f, d=dims: f(XM, YM, d, learning_rate=INF), ValueError, "learning_rate")
    case(f"{fn}-lr-str", lambda f=f, d=dims: f(XM, YM, d, learning_rate="fast"), TypeError, "learning_rate")
    case(f"{fn}-iterations-negative", lambda f=f, d=dims: f(XM, YM, d, num_iterations=-1), ValueError,
         "num_iterations")
    case(f"{fn}-iterations-float", lambda f=f, d=dims: f(XM, YM, d, num_iterations=2.5), TypeError,
         "num_iterations")
    case(f"{fn}-Y-label", lambda f=f, d=dims: f(XM, np.array([[1, 0, 2, 0, 1, 1]]), d), ValueError, r"\bY\b")
    case(f"{fn}-Y-shape", lambda f=f, d=dims: f(XM, np.ones((1, 5)), d), ValueError, r"\bY\b")
    case(f"{fn}-Y-None", lambda f=f, d=dims: f(XM, None, d), TypeError, r"\bY\b")
    case(f"{fn}-X-nan", lambda f=f, d=dims: f(with_value(XM, (1, 1), NAN), YM, d), ValueError, r"\bX\b")
    case(f"{fn}-X-rank1", lambda f=f, d=dims: f(XM[0], YM, d), ValueError, r"\bX\b")
    case(f"{fn}-X-empty", lambda f=f, d=dims: f(np.ones((3, 0)), np.ones((1, 0)), d), ValueError, r"\bX\b")
    case(f"{fn}-X-str", lambda f=f, d=dims: f("X", YM, d), TypeError, r"\bX\b")
    case(f"{fn}-X-complex", lambda f=f, d=dims: f(XM.astype(complex), YM, d), TypeError, r"\bX\b")
    case(f"{fn}-dtype-int", lambda f=f, d=dims: f(XM, YM, d, dtype=np.int32), (TypeError, ValueError), "dtype")
case("two_layer_model-dims-four", lambda: dnn.two_layer_model(XM, YM, [3, 2, 2, 1], num_iterations=2), ValueError,
     "layers_dims")
case("L_layer_model-init", lambda: dnn.L_layer_model(XM, YM, [3, 2, 1], num_iterations=2, init="xavier"),
     (ValueError, KeyError), "init")
case("L_layer_model-cost_every-negative",
     lambda: dnn.L_layer_model(XM, YM, [3, 2, 1], num_iterations=2, cost_every=-5), ValueError, "cost_every")


# a stray key far beyond the network names the first missing layer, quickly
case("L_model_forward-params-stray-high-key",
     lambda: dnn.L_model_forward(net()[0], {**net()[2], "b2000000": np.zeros((1, 1))}), KeyError, "W3")


@pytest.mark.parametrize("call, exc, pattern", CASES)
def test_bad_input_raises_naming_the_argument(call, exc, pattern):
    with pytest.raises(exc, match=pattern):
        call()


# --------------------------------------------------------------------------
# Checks that are not one bad argument
# --------------------------------------------------------------------------

def test_messages_give_expected_and_actual_shapes():
    with pytest.raises(ValueError) as info:
        dnn.linear_forward(np.ones((4, 5)), np.ones((2, 3)), np.ones((2, 1)))
    msg = str(info.value)
    assert "(2, 3)" in msg and "(4, 5)" in msg, msg
    with pytest.raises(ValueError) as info:
        dnn.compute_cost(np.full((1, 4), 0.5), np.ones((1, 3)))
    msg = str(info.value)
    assert "4" in msg and "(1, 3)" in msg, msg


def test_rejected_calls_leave_the_inputs_alone():
    _, _, P, _, _, G = net()
    params = dict(P)
    before = {k: v.copy() for k, v in params.items()}
    bad = dict(G)
    del bad["db2"]  # the last key: a half-done update would already have changed W1, b1, W2
    with pytest.raises(KeyError):
        dnn.update_parameters(params, bad, 0.1)
    assert set(params) == set(before)
    for k in before:
        np.testing.assert_array_equal(params[k], before[k])
        assert params[k] is P[k]


def test_valid_edge_inputs_are_not_rejected():
    # What the course does must keep working: int64 labels from the HDF5 file,
    # bool labels, (m,) labels, a Python list, AL of exactly 0 or 1 where the label agrees.
    AL = np.array([[1.0, 0.0, 0.5]])
    assert float(dnn.compute_cost(AL, np.array([[1, 0, 1]]))) == pytest.approx(math.log(2) / 3)
    dnn.compute_cost(AL, np.array([True, False, True]))
    dnn.compute_cost([[0.3, 0.6]], [[0, 1]])
    dnn.relu(np.float64(-1.0))
    dnn.update_parameters({"W1": np.ones((1, 2)), "b1": np.zeros((1, 1))},
                          {"dW1": np.ones((1, 2)), "db1": np.ones((1, 1))}, 0)
    # A learning rate given as a 0-d array (a schedule computed in NumPy) is a number too.
    out = dnn.update_parameters({"W1": np.ones((1, 2)), "b1": np.zeros((1, 1))},
                                {"dW1": np.ones((1, 2)), "db1": np.ones((1, 1))}, np.array(0.5))
    np.testing.assert_array_equal(out["W1"], [[0.5, 0.5]])
    # Keys that only look like layer keys are ignored ("W²" is a digit to
    # str.isdigit, not to int); caches that became lists are still caches.
    X, Y, params, AL, caches, grads = net()
    AL2, _ = dnn.L_model_forward(X, {**params, "W\u00b2": 0, "bias": 1})
    np.testing.assert_array_equal(AL2, AL)
    as_lists = [[list(linear), Z] for linear, Z in caches]
    grads2 = dnn.L_model_backward(AL, Y, as_lists)
    for key in grads:
        np.testing.assert_array_equal(grads2[key], grads[key])
    dAL = -(Y / AL - (1 - Y) / (1 - AL))
    np.testing.assert_array_equal(dnn.linear_activation_backward(dAL, as_lists[1], "sigmoid")[1],
                                  dnn.linear_activation_backward(dAL, caches[1], "sigmoid")[1])


@pytest.mark.parametrize("huge, digits", [(10**5000, 5001), (-(10**5000), 5001), (10**400, 401),
                                          (fractions.Fraction(10**5000, 7), 5000)],
                         ids=["10**5000", "-10**5000", "10**400", "Fraction(10**5000, 7)"])
def test_a_number_past_floats_range_is_our_value_error_whatever_its_digits(huge, digits):
    # Past 4300 digits, str(int) raises Python's own ValueError ("Exceeds the limit ... for
    # integer string conversion"), which names no argument: the size comes from bit_length.
    with pytest.raises(ValueError, match=r"learning_rate must be finite .*about %d decimal digits" % digits):
        dnn.update_parameters({"W1": np.ones((1, 2)), "b1": np.zeros((1, 1))},
                              {"dW1": np.ones((1, 2)), "db1": np.ones((1, 1))}, huge)
    with pytest.raises(ValueError, match="learning_rate0 must be finite"):
        dnn.update_lr(huge, 1, 1.0)


@pytest.mark.parametrize("huge, message", [(-(10**5000), r"layer_dims\[1\] must be >= 1, got a negative number of "),
                                           (10**5000, r"layer_dims is too large for 32-bit BLAS: \[2, a number of ")],
                         ids=["-10**5000", "10**5000"])
def test_a_count_of_5000_digits_is_our_value_error(huge, message):
    # str() of such an int raises Python's own digit-limit ValueError, which names no argument.
    with pytest.raises(ValueError, match=message + "about 5001 decimal digits"):
        dnn.initialize_parameters_deep([2, huge, 1])

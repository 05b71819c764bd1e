"""Regressions of the third fuzzing round (2026-12-04): each failed before its fix.

A layer too large for an array (or, to train, for the compiled loops' 32-bit
indices) is refused from the sizes, before any weight is allocated; a ragged
sequence, a 0-d array of layer sizes and a ``keep_prob`` given as a string get
the documented exception naming the argument. (The gradients dict's ``len``,
the regularized cost's dtype and float16 labels: ``test_gradients.py`` and
``test_course2.py``.)
"""
import contextlib

import numpy as np
import pytest

import dnn

try:
    import resource
except ImportError:  # Windows
    resource = None

X4, Y4 = np.ones((3, 4)), np.array([[0, 1, 0, 1]])


@pytest.mark.parametrize("call, match", [
    (lambda: dnn.initialize_parameters_deep([2**31 - 1, 2**31 - 1]), "layer_dims asks for a layer of"),
    (lambda: dnn.L_layer_model(X4, Y4, [3, 10**5, 10**5, 1], num_iterations=1), "layers_dims .* training takes"),
    (lambda: dnn.L_layer_model(X4, Y4, [3, 46341, 46341, 1], num_iterations=1), "46341 x 46341 weights"),
    (lambda: dnn.model(X4, Y4, [3, 2**16, 2**16, 1], "adam", num_epochs=1, print_cost=False), "65536 x 65536"),
    (lambda: dnn.DNNClassifier(hidden_layer_sizes=(70000,), max_iter=1).fit(np.ones((4, 40000)), [0, 1, 0, 1]),
     r"\[n_features, \*hidden_layer_sizes, n_outputs\] asks for a layer of 70000 x 40000"),
])
def test_a_layer_too_large_is_refused_before_it_is_allocated(call, match):
    with _address_space_capped(), pytest.raises(ValueError, match=match):
        call()


@contextlib.contextmanager
def _address_space_capped(spare=4 << 30):
    """Where the OS lets a process cap its own address space: this much beyond what it maps
    now, for the body. So a regression fails with MemoryError instead of filling the machine."""
    if resource is None:
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    try:
        with open("/proc/self/statm") as f:
            mapped = int(f.read().split()[0]) * resource.getpagesize()
    except OSError:
        yield
        return
    cap = mapped + spare if hard == resource.RLIM_INFINITY else min(hard, mapped + spare)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def test_the_largest_layer_training_takes_is_not_refused():
    # 2**31 - 1 weights is the limit, not below it: a 1 x (2**31 - 1) layer passes the sizes check
    # (and is then refused by X's shape, not by the layer's size).
    with pytest.raises(ValueError, match=r"X must have layers_dims\[0\] = 2147483647 rows"):
        dnn.L_layer_model(X4, Y4, [2**31 - 1, 1], num_iterations=1)


@pytest.mark.parametrize("call, exc, match", [
    (lambda: dnn.sigmoid([[1, 2], [3]]), ValueError, "Z must be an array of real numbers, got a list"),
    (lambda: dnn.initialize_parameters_deep(np.array(3)), TypeError, "layer_dims must be a list of layer sizes"),
    (lambda: dnn.DNNClassifier(keep_prob="1", hidden_layer_sizes=(3,)).fit(np.ones((4, 2)), [0, 1, 0, 1]),
     ValueError, "keep_prob must be a number in"),
    (lambda: dnn.DNNClassifier(keep_prob=["1"], hidden_layer_sizes=(3,)).fit(np.ones((4, 2)), [0, 1, 0, 1]),
     ValueError, "keep_prob must be a number in"),
])
def test_the_argument_is_named(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_keep_prob_as_numpy_numbers_is_taken():
    for keep in (np.float32(0.5), [np.float64(0.5)], np.array([0.5])):
        dnn.DNNClassifier(keep_prob=keep, hidden_layer_sizes=(3,), max_iter=2).fit(np.ones((4, 2)), [0, 1, 0, 1])

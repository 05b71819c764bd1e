"""The drop-in promise, end to end: the course's application notebook, unchanged.

The notebook "Deep Neural Network for Image Classification: Application"
imports its utilities with ``from dnn_app_utils_v3 import *``, reads the cat
data with ``load_data()`` from ``datasets/`` under its working directory,
trains a 2-layer and a 4-layer network, and predicts. Here its code runs as
written, with only that import replaced by ``from dnn import *``, and its
printed numbers are compared with the ones the course published.
"""
import os
import textwrap

import pytest

pytest.importorskip("h5py", reason="the notebook reads the cat data with load_data(), which needs h5py")

# The notebook's cells, as the course wrote them (plots and picture display
# left out); only the first import line differs.
NOTEBOOK = textwrap.dedent("""
    import numpy as np
    from dnn import *

    np.random.seed(1)
    train_x_orig, train_y, test_x_orig, test_y, classes = load_data()
    m_train = train_x_orig.shape[0]
    num_px = train_x_orig.shape[1]
    m_test = test_x_orig.shape[0]
    train_x_flatten = train_x_orig.reshape(train_x_orig.shape[0], -1).T
    test_x_flatten = test_x_orig.reshape(test_x_orig.shape[0], -1).T
    train_x = train_x_flatten/255.
    test_x = test_x_flatten/255.

    n_x = 12288
    n_h = 7
    n_y = 1
    layers_dims = (n_x, n_h, n_y)
    parameters = two_layer_model(train_x, train_y, layers_dims = (n_x, n_h, n_y), num_iterations = 2500, print_cost=True)
    predictions_train = predict(train_x, train_y, parameters)
    predictions_test = predict(test_x, test_y, parameters)

    layers_dims = [12288, 20, 7, 5, 1]
    parameters = L_layer_model(train_x, train_y, layers_dims, num_iterations = 2500, print_cost = True)
    pred_train = predict(train_x, train_y, parameters)
    pred_test = predict(test_x, test_y, parameters)
""")

# What the course printed (its "Expected Output" cells), in the "%f" format.
TWO_LAYER_FIRST, TWO_LAYER_LAST = "Cost after iteration 0: 0.693050", "Cost after iteration 2400: 0.048555"
L_LAYER_COSTS = {
    0: "0.771749", 100: "0.672053", 200: "0.648263", 300: "0.611507", 400: "0.567047",
    500: "0.540138", 600: "0.527930", 700: "0.465477", 800: "0.369126", 900: "0.391747",
    1000: "0.315187", 1100: "0.272700", 1200: "0.237419", 1300: "0.199601", 1400: "0.189263",
    1500: "0.161189", 1600: "0.148214", 1700: "0.137775", 1800: "0.129740", 1900: "0.121225",
    2000: "0.113821", 2100: "0.107839", 2200: "0.102855", 2300: "0.100897", 2400: "0.092878",
}


@pytest.mark.slow
def test_application_notebook_runs_unchanged_and_prints_the_course_numbers(
        shared_dir, tmp_path, capsys, monkeypatch, blas_single_thread):
    data = shared_dir / "data" / "catvnoncat"
    if not (data / "train_catvnoncat.h5").is_file():
        pytest.skip(f"cat data not found in {data}")
    (tmp_path / "datasets").mkdir()
    for name in ("train_catvnoncat.h5", "test_catvnoncat.h5"):
        os.symlink(data / name, tmp_path / "datasets" / name)
    monkeypatch.chdir(tmp_path)

    exec(compile(NOTEBOOK, "course_notebook", "exec"), {"__name__": "course_notebook"})

    lines = capsys.readouterr().out.splitlines()
    costs = [line for line in lines if line.startswith("Cost after iteration")]
    accuracies = [line for line in lines if line.startswith("Accuracy:")]
    two_layer, l_layer = costs[:25], costs[25:]
    assert len(costs) == 50
    assert (two_layer[0], two_layer[-1]) == (TWO_LAYER_FIRST, TWO_LAYER_LAST)
    assert l_layer == ["Cost after iteration %d: %s" % kv for kv in L_LAYER_COSTS.items()]
    # The course: 2-layer train 1.0 (printed 0.9999999999999998), test 0.72;
    # L-layer train 0.985645933014, test 0.8.
    values = [float(a.split(":")[1]) for a in accuracies]
    assert values == pytest.approx([1.0, 0.72, 0.985645933014, 0.8], abs=1e-9)

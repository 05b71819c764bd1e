"""scikit-learn's own estimator checks, every one, on DNNClassifier and DNNRegressor."""
import pytest

pytest.importorskip("sklearn", reason="scikit-learn is not installed (pip install \"dnn-course[sklearn]\")")

from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from dnn.estimators import DNNClassifier, DNNRegressor  # noqa: E402


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@parametrize_with_checks([DNNClassifier(), DNNRegressor()])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)

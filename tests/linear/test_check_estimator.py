"""scikit-learn's estimator checks.

``AlphaRidge`` passes every check with ``source_coef=None`` (the zero source: the checks build
the estimator with default arguments and fit it on data of many widths). A fixed
``source_coef`` pins the number of features, so the checks that fit on data of another width
fail by design; the second test documents that exemption: every failure must be that error.
Two checks are skipped by scikit-learn itself when pandas / SCIPY_ARRAY_API are unavailable.
"""

import numpy as np
import pytest
from sklearn.utils.estimator_checks import check_estimator

from linear import AlphaRidge

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.SkipTestWarning")

SKIPPED_BY_SKLEARN = {"check_array_api_input", "check_classifier_data_not_an_array"}


@pytest.mark.parametrize("alpha", [1.0, "auto", "loo"])
def test_check_estimator_passes(alpha):
    results = check_estimator(AlphaRidge(alpha=alpha, gamma=0.5), on_fail=None)
    failed = [(r["check_name"], str(r["exception"])) for r in results if r["status"] == "failed"]
    assert failed == []
    skipped = {r["check_name"] for r in results if r["status"] == "skipped"}
    assert skipped <= SKIPPED_BY_SKLEARN


def test_fixed_source_only_fails_on_feature_count():
    results = check_estimator(AlphaRidge(source_coef=np.array([0.5, -0.3]), alpha="auto"),
                              on_fail=None)
    failed = [r for r in results if r["status"] == "failed"]
    assert failed, "expected the n_features exemptions"
    for r in failed:
        exc = r["exception"]
        msg = f"{exc} | cause: {exc.__cause__}"
        assert "source_coef has length 2 but X has" in msg, (r["check_name"], msg)
    passed = {r["check_name"] for r in results if r["status"] == "passed"}
    assert {"check_classifiers_train", "check_classifiers_one_label",
            "check_estimators_unfitted"} <= passed


@pytest.mark.parametrize("criterion", ["evidence", "loo", "margin"])
def test_check_estimator_cv_passes(criterion):
    from linear import AlphaRidgeCV

    results = check_estimator(AlphaRidgeCV(criterion=criterion), on_fail=None)
    assert [r["check_name"] for r in results if r["status"] == "failed"] == []

"""AlphaRidgeCV: joint (alpha, gamma) choice, fitted coefficients vs scikit-learn."""

import numpy as np
import pytest
from sklearn.linear_model import Ridge

from linear import AlphaRidgeCV, selection

from .conftest import make_problem


@pytest.mark.parametrize("criterion,fn", [("evidence", selection.evidence_alpha_gamma),
                                          ("loo", selection.loo_alpha_gamma),
                                          ("margin", selection.margin_alpha_gamma)])
def test_cv_uses_selector_and_refits(criterion, fn):
    X, y, w = make_problem(16, 30, seed=11)
    gammas = np.logspace(-2, 2, 9)
    lab = np.where(y > 0, "pos", "neg")
    clf = AlphaRidgeCV(w, gammas=gammas, criterion=criterion).fit(X, lab)
    a, g = fn(X, y, w, gammas)
    assert (clf.alpha_, clf.gamma_) == (pytest.approx(a), g)
    r = Ridge(alpha=16 * g, fit_intercept=False, solver="svd").fit(X, y - a * X @ w)
    np.testing.assert_allclose(clf.coef_, a * w + r.coef_, rtol=1e-8, atol=1e-12)
    assert set(clf.predict(X)) <= {"pos", "neg"}


def test_cv_large_gamma_grid_tends_to_source_direction():
    """With only a huge gamma on the grid the classifier is alpha * w~ (up to O(1/gamma))."""
    X, y, w = make_problem(20, 10, seed=2)
    clf = AlphaRidgeCV(w, gammas=[1e8]).fit(X, y)
    cos = clf.coef_ @ w / np.linalg.norm(clf.coef_) / np.linalg.norm(w)
    assert cos == pytest.approx(np.sign(clf.alpha_), abs=1e-6)


@pytest.mark.parametrize("kw,match", [({"gammas": [0.0, 1.0]}, "gammas"),
                                      ({"criterion": "aic"}, "criterion")])
def test_cv_bad_arguments(kw, match):
    X, y, w = make_problem(10, 4, seed=1)
    with pytest.raises(ValueError, match=match):
        AlphaRidgeCV(w, **kw).fit(X, y)


def test_cv_source_length():
    X, y, _ = make_problem(10, 4, seed=1)
    with pytest.raises(ValueError, match="source_coef has length 3"):
        AlphaRidgeCV(np.ones(3)).fit(X, y)

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


# ---------------------------------------------------------------------------------------------
# issue 14 item 2: grid-edge warning, the criterion surface, the default criterion rule
# ---------------------------------------------------------------------------------------------
import warnings  # noqa: E402

from sklearn.model_selection import LeaveOneOut  # noqa: E402

from linear import AlphaRidge  # noqa: E402


def _refit_loo(X, y, w, alpha, gamma):
    """Brute force: refit AlphaRidge without each row; (squared error, accuracy) held out.

    The closed-form LOO keeps the total penalty ``n gamma`` of the full fit (hat matrix of
    ``XᵀX + n gamma I``); AlphaRidge on n − 1 rows uses ``(n − 1) gamma``, hence the factor."""
    err, hit = [], []
    g = gamma * X.shape[0] / (X.shape[0] - 1)
    for tr, te in LeaveOneOut().split(X):
        s = AlphaRidge(w, alpha=alpha, gamma=g).fit(X[tr], y[tr]).decision_function(X[te])
        err.append(float((y[te][0] - s[0]) ** 2))
        hit.append(float((s[0] >= 0) == (y[te][0] > 0)))
    return np.mean(err), np.mean(hit)


@pytest.mark.parametrize("criterion", ["loo", "kfold", "evidence", "margin"])
def test_cv_results_is_the_criterion_surface(criterion):
    X, y, w = make_problem(18, 12, seed=3)
    gammas = np.logspace(-2, 2, 7)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        clf = AlphaRidgeCV(w, gammas=gammas, criterion=criterion).fit(X, y)
    res = clf.cv_results_
    np.testing.assert_array_equal(res["param_gamma"], gammas)
    assert res["rank_score"][clf.best_index_] == 1
    assert clf.gamma_ == gammas[clf.best_index_]
    assert clf.gamma_ == gammas[np.argmax(res["score"])]
    assert sorted(res["rank_score"]) == list(range(1, 8))
    assert clf.criterion_ == criterion


def test_loo_surface_matches_brute_force_refits():
    X, y, w = make_problem(14, 9, seed=4)
    gammas = np.array([0.05, 0.5, 5.0])
    surf = selection.loo_surface(X, y, w, gammas)
    for g, a, sc in zip(surf.gammas, surf.alphas, surf.scores, strict=True):
        assert -sc == pytest.approx(_refit_loo(X, y, w, a, g)[0], rel=1e-9)
    fixed = selection.loo_surface(X, y, w, gammas, alpha=1.0)
    for g, sc in zip(fixed.gammas, fixed.scores, strict=True):
        assert -sc == pytest.approx(_refit_loo(X, y, w, 1.0, g)[0], rel=1e-9)


def test_kfold_surface_matches_brute_force_refits():
    X, y, w = make_problem(20, 8, seed=5)
    gammas = np.array([0.1, 1.0, 10.0])
    surf = selection.kfold_surface(X, y, w, gammas, n_splits=4, rng=np.random.default_rng(7))
    fold = selection.stratified_folds(y, 4, np.random.default_rng(7))
    for g, a, sc in zip(surf.gammas, surf.alphas, surf.scores, strict=True):
        # reference alpha: minimiser of the summed held-out squared error over a fine grid
        # of refits (sklearn Ridge on the residual target, independent of linear.solve)
        def err(alpha, g=g):
            tot = 0.0
            for k in range(4):
                tr, te = fold != k, fold == k
                r = Ridge(alpha=tr.sum() * g, fit_intercept=False, solver="svd").fit(
                    X[tr], y[tr] - alpha * X[tr] @ w)
                tot += float(np.sum((y[te] - X[te] @ (alpha * w + r.coef_)) ** 2))
            return tot / 20
        assert -sc == pytest.approx(err(a), rel=1e-8)
        assert err(a) <= min(err(a - 1e-3), err(a + 1e-3)) + 1e-12
    # the gamma-only (alpha = 1) surface is the same error at alpha = 1
    one = selection.kfold_surface(X, y, w, gammas, alpha=1.0, n_splits=4,
                                  rng=np.random.default_rng(7))
    assert np.all(one.alphas == 1.0) and np.all(one.scores <= surf.scores + 1e-12)


def test_edge_choice_warns_and_is_recorded():
    X, y, w = make_problem(20, 10, seed=2)
    with pytest.warns(RuntimeWarning, match="largest value of its grid"):
        clf = AlphaRidgeCV(w, gammas=[1e6, 1e7, 1e8], criterion="loo").fit(X, y)
    assert clf.at_grid_edge_ and clf.gamma_ == 1e8 or clf.gamma_ == 1e6
    # with a huge gamma the fit is the rescaled source: it agrees with sign(X w~) (alpha > 0)
    # or its flip (alpha < 0) on the training rows
    agree = np.mean((X @ clf.coef_ >= 0) == (X @ w >= 0))
    assert clf.source_only_agreement_ == pytest.approx(agree)
    assert agree in (0.0, 1.0)


def test_interior_choice_does_not_warn():
    X, y, _ = make_problem(40, 10, seed=8)
    w = np.random.default_rng(0).standard_normal(10)  # a useless source: large gamma is bad
    gammas = np.logspace(-4, 6, 41)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clf = AlphaRidgeCV(w, gammas=gammas, criterion="loo").fit(X, y)
    assert not clf.at_grid_edge_ and 0 < clf.best_index_ < 40


def test_auto_rule_picks_the_best_loo_accuracy():
    X, y, w = make_problem(24, 15, seed=9)
    gammas = np.logspace(-2, 3, 11)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        auto = AlphaRidgeCV(w, gammas=gammas).fit(X, y)
        assert AlphaRidgeCV().criterion == "auto"
        # reference: brute-force LOO accuracy of each criterion's own choice
        ref = {}
        for c in ("loo", "kfold", "evidence", "margin"):
            fit = AlphaRidgeCV(w, gammas=gammas, criterion=c).fit(X, y)
            ref[c] = _refit_loo(X, y, w, fit.alpha_, fit.gamma_)[1]
    assert auto.loo_accuracy_ == pytest.approx(ref)
    assert ref[auto.criterion_] == max(ref.values())
    best = AlphaRidgeCV(w, gammas=gammas, criterion=auto.criterion_)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        best.fit(X, y)
    assert (auto.alpha_, auto.gamma_) == (best.alpha_, best.gamma_)

"""Honest alpha / gamma selectors against brute force (explicit refits with scikit-learn)."""

import math

import numpy as np
import pytest
from scipy.optimize import minimize_scalar
from scipy.stats import multivariate_normal
from sklearn.linear_model import Ridge

from linear import selection
from linear.solve import loo_parts

from .conftest import make_problem


def refit(X, y, w, alpha, penalty):
    """alpha w~ + Ridge(penalty, no intercept) on the residual: sklearn reference."""
    r = Ridge(alpha=penalty, fit_intercept=False, solver="svd").fit(X, y - alpha * X @ w)
    return alpha * w + r.coef_


def loo_residuals(X, y, w, alpha, gamma):
    n = X.shape[0]
    e = np.empty(n)
    for i in range(n):
        k = np.arange(n) != i
        e[i] = y[i] - X[i] @ refit(X[k], y[k], w, alpha, n * gamma)
    return e


def test_kfold_alpha_equals_brute_force():
    X, y, w = make_problem(20, 30, seed=2)
    g = 0.4
    rng_folds = np.random.default_rng(7)
    fold = selection.stratified_folds(y, 4, np.random.default_rng(7))
    # brute force: held-out residuals at alpha = 0 and 1 give the affine map, then minimise
    res = {}
    for a in (0.0, 1.0):
        e = np.empty_like(y)
        for k in range(4):
            h = fold == k
            m = X[~h].shape[0]
            e[h] = y[h] - X[h] @ refit(X[~h], y[~h], w, a, m * g)
        res[a] = e
    d = res[0.0] - res[1.0]
    expected = res[0.0] @ d / (d @ d)
    assert selection.kfold_alpha(X, y, w, g, 4, rng_folds) == pytest.approx(expected, rel=1e-9)


def test_stratified_folds_balanced():
    y = np.repeat([-1.0, 1.0], [10, 10])
    fold = selection.stratified_folds(y, 5, np.random.default_rng(0))
    for k in range(5):
        assert np.sum((fold == k) & (y < 0)) == 2 and np.sum((fold == k) & (y > 0)) == 2


def test_loo_alpha_gamma_is_grid_minimiser():
    X, y, w = make_problem(10, 16, seed=4)
    gammas = np.array([0.05, 0.5, 5.0])
    best = (math.inf, None, None)
    for g in gammas:
        e0 = loo_residuals(X, y, w, 0.0, g)
        d = e0 - loo_residuals(X, y, w, 1.0, g)
        a = e0 @ d / (d @ d)
        err = np.sum((e0 - a * d) ** 2)
        if err < best[0]:
            best = (err, a, g)
    a, g = selection.loo_alpha_gamma(X, y, w, gammas)
    assert g == best[2]
    assert a == pytest.approx(best[1], rel=1e-8)


def test_margin_moments_equal_brute_force():
    X, y, w = make_problem(10, 16, seed=6)
    g = 0.3
    mo = selection.margin_moments(X, y, w, g)
    for alpha in (-1.0, 0.0, 2.5):
        margins = y * (y - loo_residuals(X, y, w, alpha, g))
        assert mo.mean(alpha) == pytest.approx(margins.mean(), rel=1e-9, abs=1e-12)
        assert mo.second_moment(alpha) == pytest.approx(np.mean(margins**2), rel=1e-9)


def test_margin_alpha_gamma_maximises_gaussian_margin_accuracy():
    X, y, w = make_problem(14, 20, seed=8)
    gammas = np.array([0.1, 1.0, 10.0])
    a, g = selection.margin_alpha_gamma(X, y, w, gammas)
    best = selection.margin_moments(X, y, w, g).accuracy(a)
    for gg in gammas:
        grid = np.linspace(-20, 20, 2001)
        assert np.nanmax(selection.margin_moments(X, y, w, gg).accuracy(grid)) <= best + 1e-9


def test_evidence_is_marginal_likelihood_maximiser():
    """At the returned (alpha, gamma), the marginal likelihood of y ~ N(alpha X w~,
    tau^2 (X X^T + n gamma I)) (scipy, tau^2 optimised numerically) beats perturbed alphas
    and the other grid gammas."""
    X, y, w = make_problem(12, 25, seed=9)
    n = X.shape[0]
    gammas = np.logspace(-2, 2, 9)
    a_hat, g_hat = selection.evidence_alpha_gamma(X, y, w, gammas)
    assert g_hat in gammas

    def profile(alpha, g):
        C = X @ X.T + n * g * np.eye(n)

        def nll(log_tau2):
            return -multivariate_normal(alpha * X @ w, np.exp(log_tau2) * C).logpdf(y)

        return -minimize_scalar(nll, bounds=(-15, 10), method="bounded").fun

    best = profile(a_hat, g_hat)
    for da in (-0.2, 0.2):
        assert profile(a_hat + da, g_hat) < best
    for g in gammas:
        res = minimize_scalar(lambda a, g=g: -profile(a, g), bounds=(-10, 10), method="bounded")
        assert -res.fun <= best + 1e-6


def test_plugin_alpha_clips_and_warns(monkeypatch):
    X, y, w = make_problem(12, 10, seed=1)
    monkeypatch.setattr(selection, "ALPHA_LIMIT", 1e-6)
    with pytest.warns(RuntimeWarning, match="clipped"):
        a = selection.loo_alpha(X, y, w, 1.0)
    assert abs(a) == pytest.approx(1e-6)


@pytest.mark.parametrize("gammas", [[], [0.0, 1.0], [np.nan]])
def test_bad_gamma_grid(gammas):
    X, y, w = make_problem(8, 5, seed=1)
    for f in (selection.loo_alpha_gamma, selection.margin_alpha_gamma,
              selection.evidence_alpha_gamma):
        with pytest.raises(ValueError, match="gammas"):
            f(X, y, w, gammas)


def test_kfold_bad_splits():
    X, y, w = make_problem(8, 5, seed=1)
    with pytest.raises(ValueError, match="n_splits"):
        selection.kfold_alpha(X, y, w, 1.0, 1)


def test_loo_parts_error_curve():
    X, y, w = make_problem(9, 12, seed=3)
    parts = loo_parts(X, y, w, 0.7)
    for a in (-1.0, 0.5, 3.0):
        assert parts.error(a) == pytest.approx(np.mean(loo_residuals(X, y, w, a, 0.7) ** 2))

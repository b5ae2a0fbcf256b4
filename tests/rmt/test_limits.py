"""Limits derived by hand (docs/theory.md §2): gamma_ft -> inf, n -> inf, beta = 1."""

import numpy as np
import pytest
from scipy.stats import norm

import rmt
from rmt import arbitrary, ridge


def test_gamma_ft_to_infinity_gives_the_alpha_only_classifier():
    """gamma_ft -> inf freezes Delta = 0, so w_alpha = alpha w~ and acc -> Phi(sign(alpha) s/sqrt(W))."""
    st = ridge.Setting.from_beta(0.6, 1.3, 1.0, p=400, n=40, N=2000, gamma_pre=1.0, gamma_ft=1e8)
    s, W = st.source_statistics()
    mo = st.moments()
    for a in (0.1, 1.0, 7.0):
        assert mo.accuracy(a) == pytest.approx(norm.cdf(s / np.sqrt(W)), abs=1e-5)
        assert mo.accuracy(-a) == pytest.approx(norm.cdf(-s / np.sqrt(W)), abs=1e-5)


def test_n_to_infinity_matches_the_population_solution():
    """n -> inf: X X^T/n -> I + mu mu^T and X y/n -> mu, so
    w_alpha -> (I + mu mu^T + gamma I)^{-1} (mu + alpha gamma w~), evaluated exactly here."""
    rng = np.random.default_rng(3)
    p, gamma = 60, 0.8
    mu = rng.standard_normal(p) * 0.15
    w_src = 0.5 * mu + 0.1 * rng.standard_normal(p)
    A = (1 + gamma) * np.eye(p) + np.outer(mu, mu)
    alphas = np.linspace(-3, 3, 13)
    W = np.linalg.solve(A, mu[:, None] + gamma * np.outer(w_src, alphas))
    exact = norm.cdf(mu @ W / np.linalg.norm(W, axis=0))
    mo = arbitrary.moments(mu @ mu, w_src @ mu, w_src @ w_src, p=p, n=10**13, gamma=gamma)
    np.testing.assert_allclose(mo.accuracy(alphas), exact, atol=1e-8)
    # and alpha* -> 0: with infinite target data the source adds nothing.
    assert abs(mo.alpha_star()) < 1e-6
    assert mo.best_accuracy() == pytest.approx(norm.cdf(np.sqrt(mu @ mu)), abs=1e-6)


def test_same_task_with_infinite_source_data():
    """beta = 1, N -> inf: w~ -> mu_t / (M + 1 + gamma_pre), so s^2 = M_t W. Then the denominator
    of the simplified alpha* is (lam - eta) s^2 - lam M_t W = -eta s^2, hence
    alpha* = -eta kappa s / (g (-eta s^2)) = kappa / (g s) and m(alpha*) = M_t/lam + kappa/lam = 1."""
    norm_mu, p, n, gp, gf = 1.1, 400, 40, 0.7, 0.9
    st = ridge.Setting.from_beta(1.0, norm_mu, 0.0, p=p, n=n, N=10**14, gamma_pre=gp, gamma_ft=gf)
    s, W = st.source_statistics()
    M = norm_mu**2
    assert s == pytest.approx(M / (M + 1 + gp), rel=1e-9)
    assert s * s == pytest.approx(M * W, rel=1e-9)
    rc = rmt.ridge_constants(M, p / n, gf)
    mo = st.moments()
    a_star = mo.alpha_star()
    assert a_star == pytest.approx(rc.kappa / (rc.g * s), rel=1e-7)
    assert float(mo.mean(a_star)) == pytest.approx(1.0, rel=1e-7)


def test_alpha_star_grows_with_beta():
    betas = np.linspace(0.05, 1.0, 40)
    a = [ridge.Setting.from_beta(b, 0.8, 0.8, p=1000, n=40, N=5000, gamma_pre=5,
                                 gamma_ft=0.1).moments().alpha_star() for b in betas]
    assert np.all(np.diff(a) > 0)
    assert a[0] < 1 < a[-1]  # weak alignment: alpha* < 1


def test_no_alignment_source_is_useless():
    """beta = 0: s = 0, m1 = 0 and alpha* = -v1/(2 v2) = 0 (any alpha only adds noise)."""
    mo = ridge.Setting.from_beta(0.0, 1.0, 1.0, p=200, n=50, N=500, gamma_pre=1,
                                 gamma_ft=1).moments()
    assert mo.m1 == 0 and mo.v1 == 0
    assert mo.alpha_star() == 0
    with pytest.raises(ValueError, match="m1 = 0"):
        mo.alpha_chance()

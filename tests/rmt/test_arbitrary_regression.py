"""Arbitrary source vector and regression variant against Monte-Carlo; plug-in estimators.

Default suite: one Monte-Carlo check per theory (arbitrary: the accuracy curve; regression: the
risk); the unbiasedness of the plug-in statistics (4000 draws) is ``slow``.
"""

import numpy as np
import pytest
from scipy.special import ndtr

from rmt import arbitrary, regression

from .montecarlo import fine_tune_parts, sample


def test_arbitrary_source_against_simulation():
    """docs/theory.md §4 (2): w~ = 0.6 mu_t/|mu_t| + 0.5 g/|g|, p=400 n=40 gamma=0.5."""
    p, n, gamma = 400, 40, 0.5
    mu_t = np.zeros(p)
    mu_t[0] = np.sqrt(1.64)
    g = np.random.default_rng(12345).standard_normal(p)
    w_src = 0.6 * mu_t / np.linalg.norm(mu_t) + 0.5 * g / np.linalg.norm(g)
    alphas = np.round(np.arange(-2, 3.0001, 0.02), 10)
    accs = []
    for seed in range(80):
        X, y = sample(np.random.default_rng(seed), mu_t, n)
        u, v = fine_tune_parts(X, y, w_src, gamma)
        W = u[:, None] + alphas[None, :] * v[:, None]
        accs.append(ndtr(mu_t @ W / np.linalg.norm(W, axis=0)))
    emp = np.mean(accs, axis=0)
    mo = arbitrary.moments(mu_t @ mu_t, w_src @ mu_t, w_src @ w_src, p, n, gamma)
    assert np.max(np.abs(mo.accuracy(alphas) - emp)) < 0.015
    a_star = mo.alpha_star()
    assert abs(alphas[np.argmax(emp)] - a_star) <= 0.1 * a_star


@pytest.mark.slow  # a second Monte-Carlo check of rmt.arbitrary (0.5-0.9 s)
def test_plugin_statistics_are_unbiased():
    rng = np.random.default_rng(1)
    p, n, reps = 30, 8, 4000
    mu = rng.standard_normal(p) * 0.3
    w_src = rng.standard_normal(p) * 0.2
    M_hat, s_hat = [], []
    for _ in range(reps):
        y = rng.choice([-1.0, 1.0], size=n)
        while np.all(y == y[0]):  # a single class raises (issue 14); z_i = y_i x_i stays unbiased
            y = rng.choice([-1.0, 1.0], size=n)  # given any labels, so redrawing adds no bias
        X = y[:, None] * mu[None, :] + rng.standard_normal((n, p))
        st = arbitrary.plugin_statistics(X, y, w_src)
        M_hat.append(st.M_t_unfloored)
        s_hat.append(st.s)
    for est, truth in ((np.array(M_hat), mu @ mu), (np.array(s_hat), w_src @ mu)):
        se = est.std(ddof=1) / np.sqrt(reps)
        assert abs(est.mean() - truth) < 4 * se


def test_plugin_statistics_formulas_and_floor():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((5, 4))
    y = np.array([1.0, -1, 1, 1, -1])
    w = rng.standard_normal(4)
    st = arbitrary.plugin_statistics(X, y, w)
    Z = X * y[:, None]
    pairs = [Z[i] @ Z[j] for i in range(5) for j in range(5) if i != j]
    assert st.M_t_unfloored == pytest.approx(np.mean(pairs), rel=1e-12)
    assert st.s == pytest.approx(np.mean(Z @ w), rel=1e-12)
    assert st.W == pytest.approx(w @ w)
    assert st.M_t == max(st.M_t_unfloored, st.s**2 / st.W)
    # a pure-noise sample whose U-statistic is negative is floored to s^2 / W
    Xn = np.array([[1.0, 0.0], [1.0, 0.0]])
    st2 = arbitrary.plugin_statistics(Xn, np.array([1.0, -1.0]), np.array([1.0, 1.0]))
    assert st2.M_t_unfloored == pytest.approx(-1.0)
    assert st2.M_t == pytest.approx(0.0)
    assert st2.M_t >= st2.s**2 / st2.W


def test_regression_risk_against_simulation():
    p, n, d, sigma, gamma = 200, 100, 4, 0.5, 0.5
    rng = np.random.default_rng(0)
    W_t = rng.standard_normal((d, p)) / np.sqrt(p)
    W_s = 0.8 * W_t + 0.4 * rng.standard_normal((d, p)) / np.sqrt(p)
    alphas = np.linspace(-0.5, 2.0, 26)
    risks = []
    for seed in range(40):
        r = np.random.default_rng(100 + seed)
        X = r.standard_normal((p, n))
        Y = W_t @ X + sigma * r.standard_normal((d, n))
        Q = np.linalg.inv(X @ X.T / n + gamma * np.eye(p))
        risks.append([np.sum(((Y @ X.T / n + a * gamma * W_s) @ Q - W_t) ** 2) + d * sigma**2
                      for a in alphas])
    emp = np.mean(risks, axis=0)
    th = regression.risk(alphas, W_t, W_s, sigma, n, gamma)
    np.testing.assert_allclose(th, emp, rtol=0.03)
    a_star = regression.alpha_star(W_t, W_s)
    assert a_star == pytest.approx(np.sum(W_t * W_s) / np.sum(W_s**2))
    grid = np.linspace(-1, 3, 400001)
    assert grid[np.argmin(regression.risk(grid, W_t, W_s, sigma, n, gamma))] == pytest.approx(
        a_star, abs=1e-5)
    T1, T2, T3 = regression.risk_coefficients(W_t, W_s, sigma, n, gamma)
    assert regression.risk(0.7, W_t, W_s, sigma, n, gamma) == pytest.approx(T1 + 0.7 * T2 + 0.49 * T3)

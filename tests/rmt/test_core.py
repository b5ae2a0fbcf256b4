"""Moments: accuracy, alpha*, chance level, policies; the resolvent constants."""

import doctest
import math

import numpy as np
import pytest
from scipy.optimize import brentq
from scipy.stats import norm

import rmt
from rmt import Moments, arbitrary, equivalents, ridge

R1 = ridge.Setting.from_beta(0.8, 1.2, 1.2, p=400, n=40, N=2000, gamma_pre=1.0, gamma_ft=1.0)


def test_accuracy_is_phi_of_mean_over_std():
    mo = Moments(0.3, -0.2, 0.5, 0.1, 0.4)
    alphas = np.linspace(-3, 3, 7)
    m = 0.3 - 0.2 * alphas
    v = 0.5 + 0.1 * alphas + 0.4 * alphas**2
    np.testing.assert_allclose(mo.accuracy(alphas), norm.cdf(m / np.sqrt(v - m**2)), rtol=1e-12)


def test_accuracy_shapes_and_scalars():
    mo = R1.moments()
    assert isinstance(mo.accuracy(1.0), float)
    grid = np.linspace(-1, 1, 12).reshape(3, 4)
    assert mo.accuracy(grid).shape == (3, 4)
    np.testing.assert_allclose(mo.accuracy(grid).ravel(), [mo.accuracy(a) for a in grid.ravel()])


def test_symmetric_accuracy_is_max_acc_one_minus_acc():
    mo = R1.moments()
    alphas = np.linspace(-4, 4, 101)
    acc = mo.accuracy(alphas)
    np.testing.assert_allclose(mo.accuracy(alphas, symmetric=True), np.maximum(acc, 1 - acc))
    assert np.any(acc < 0.5)  # the honest curve does go below chance on this grid


def test_alpha_star_is_the_argmax_on_a_fine_grid():
    for st in (R1, ridge.Setting.from_beta(0.3, 1.0, 1.5, p=300, n=60, N=600, gamma_pre=0.3,
                                           gamma_ft=2.0)):
        mo = st.moments()
        a_star = mo.alpha_star()
        grid = np.linspace(a_star - 5, a_star + 5, 200_001)
        assert grid[np.argmax(mo.accuracy(grid))] == pytest.approx(a_star, abs=1e-4)
        assert mo.best_accuracy() >= mo.accuracy(grid).max() - 1e-12


def test_alpha_star_is_a_stationary_point_of_snr():
    mo = R1.moments()
    a = mo.alpha_star()
    h = 1e-5
    deriv = (mo.snr(a + h) - mo.snr(a - h)) / (2 * h)
    assert abs(deriv) < 1e-8


def test_alpha_chance_gives_exactly_one_half():
    mo = R1.moments()
    assert mo.accuracy(mo.alpha_chance()) == pytest.approx(0.5, abs=1e-12)
    # symmetric accuracy is minimal there
    grid = np.linspace(-3, 3, 60001)
    sym = mo.accuracy(grid, symmetric=True)
    assert grid[np.argmin(sym)] == pytest.approx(mo.alpha_chance(), abs=1e-3)


def test_minimiser_case_returns_direction_of_supremum():
    # Mean negative at the stationary point: it is a minimiser of m/sigma.
    mo = Moments(m0=-0.2, m1=0.3, v0=0.3, v1=0.0, v2=0.5)
    a_s = mo.stationary_point()
    assert float(mo.mean(a_s)) < 0
    grid = np.linspace(a_s - 50, a_s + 50, 100001)
    assert grid[np.argmin(mo.accuracy(grid))] == pytest.approx(a_s, abs=2e-3)
    with pytest.warns(RuntimeWarning, match="minimises"):
        a_star = mo.alpha_star()
    assert a_star == math.inf  # m1 > 0: accuracy increases towards +inf
    sup = norm.cdf(0.3 / math.sqrt(0.5 - 0.09))
    with pytest.warns(RuntimeWarning):
        assert mo.best_accuracy() == pytest.approx(sup, rel=1e-12)
    assert mo.accuracy(1e6) == pytest.approx(sup, abs=1e-6)
    assert mo.accuracy(grid).max() < sup


def test_arbitrary_simplified_alpha_star_equals_general_formula():
    rng = np.random.default_rng(0)
    for _ in range(50):
        M_t = rng.uniform(0.1, 4)
        W = rng.uniform(0.05, 3)
        s = rng.uniform(-1, 1) * math.sqrt(M_t * W)
        p, n = int(rng.integers(10, 500)), int(rng.integers(5, 500))
        gamma = rng.uniform(0.01, 5)
        mo = arbitrary.moments(M_t, s, W, p, n, gamma)
        rc = rmt.ridge_constants(M_t, p / n, gamma)
        closed = -rc.eta * rc.kappa * s / (rc.g * ((rc.lam - rc.eta) * s * s - rc.lam * M_t * W))
        assert mo.stationary_point() == pytest.approx(closed, rel=1e-9)


def test_compact_forms_of_docs():
    """v0 = m0^2 + ||w0||^2 and v2 - m1^2 = g^2/(h kappa^2) [W - s^2 (lam + kappa - eta)/lam^2]."""
    M_t, s, W, p, n, gamma = 1.3, 0.4, 0.5, 300, 50, 0.7
    mo = arbitrary.moments(M_t, s, W, p, n, gamma)
    rc = rmt.ridge_constants(M_t, p / n, gamma)
    lam, kappa, h, g, eta = rc.lam, rc.kappa, rc.h, rc.g, rc.eta
    w0 = (M_t / lam**2 + (1 - h) * (1 - M_t / lam) ** 2) / h
    assert mo.v0 == pytest.approx(mo.m0**2 + w0, rel=1e-12)
    assert mo.v2 - mo.m1**2 == pytest.approx(
        g**2 / (h * kappa**2) * (W - s**2 * (lam + kappa - eta) / lam**2), rel=1e-12
    )


@pytest.mark.parametrize("eta, gamma", [(0.1, 0.01), (1.0, 1.0), (10.0, 0.1), (2.5, 30.0),
                                        (1e-6, 1e3), (1e3, 1e-3)])
def test_delta_solves_its_quadratic_and_fixed_point(eta, gamma):
    d = rmt.delta(eta, gamma)
    assert d > 0
    terms = (gamma * d**2, (1 + gamma - eta) * d, -eta)
    assert sum(terms) == pytest.approx(0, abs=1e-13 * sum(map(abs, terms)))
    assert d == pytest.approx(eta * (1 + d) / (1 + gamma * (1 + d)), rel=1e-10)
    # the positive root found independently by bracketing
    assert d == pytest.approx(brentq(lambda x: gamma * x * x + (1 + gamma - eta) * x - eta,
                                     0, 1e9, xtol=1e-300, rtol=1e-14), rel=1e-10)
    rc = rmt.ridge_constants(0.5, eta, gamma)
    assert 0 < rc.h <= 1


def test_doctests():
    for mod in (rmt.core, equivalents, ridge):
        assert doctest.testmod(mod, raise_on_error=False).failed == 0

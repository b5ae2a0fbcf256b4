"""Invalid inputs raise errors that name the argument."""

import numpy as np
import pytest

from rmt import Moments, arbitrary, regression, ridge
from rmt.equivalents import delta, ridge_constants

GOOD = dict(M_s=1.0, M_t=1.0, c=0.5, p=100, n=20, N=200, gamma_pre=1.0, gamma_ft=1.0)


@pytest.mark.parametrize(
    "field, value, match",
    [
        ("p", 0, "p must be a positive integer"),
        ("n", -3, "n must be a positive integer"),
        ("N", 2.5, "N must be a positive integer"),
        ("n", True, "n must be a positive integer"),
        ("gamma_pre", 0.0, "gamma_pre must be > 0"),
        ("gamma_ft", -1.0, "gamma_ft must be > 0"),
        ("gamma_ft", np.inf, "gamma_ft must be finite"),
        ("M_s", -0.1, "M_s must be >= 0"),
        ("M_t", np.nan, "M_t must be finite"),
        ("c", 2.0, "Cauchy-Schwarz"),
        ("c", "0.5", "c must be a real number"),
    ],
)
def test_ridge_moments_and_setting_reject_bad_values(field, value, match):
    kw = dict(GOOD, **{field: value})
    with pytest.raises((ValueError, TypeError), match=match):
        ridge.moments(**kw)
    with pytest.raises((ValueError, TypeError), match=match):
        ridge.Setting(**kw)


def test_other_ridge_inputs():
    with pytest.raises(ValueError, match="variant must be one of"):
        ridge.moments(**GOOD, variant="paper")
    with pytest.raises(ValueError, match="beta must lie in"):
        ridge.beta_parameters(1.2, 1.0, 1.0)
    with pytest.raises(ValueError, match="same shape"):
        ridge.moments_from_means(np.ones(3), np.ones(4), n=5, N=5, gamma_pre=1, gamma_ft=1)
    with pytest.raises(ValueError, match="mu_t must contain only finite"):
        ridge.Setting.from_means(np.ones(3), [1, np.nan, 0], n=5, N=5, gamma_pre=1, gamma_ft=1)
    with pytest.raises(ValueError, match="p must be >= 2"):
        ridge.beta_means(0.5, 1, 1, 1)


def test_arbitrary_inputs():
    with pytest.raises(ValueError, match="W must be >= 0"):
        arbitrary.moments(1.0, 0.1, -1.0, 10, 5, 1.0)
    with pytest.raises(ValueError, match="Cauchy-Schwarz"):
        arbitrary.moments(1.0, 2.0, 1.0, 10, 5, 1.0)
    with pytest.raises(ValueError, match="gamma must be > 0"):
        arbitrary.moments(1.0, 0.1, 1.0, 10, 5, 0)
    X, y, w = np.ones((4, 3)), np.array([1, -1, 1, -1]), np.ones(3)
    with pytest.raises(ValueError, match="source_coef has length 2"):
        arbitrary.plugin_statistics(X, y, np.ones(2))
    with pytest.raises(ValueError, match="y has 3 entries"):
        arbitrary.plugin_statistics(X, y[:3], w)
    with pytest.raises(ValueError, match="y must contain only -1 and \\+1"):
        arbitrary.plugin_statistics(X, np.array([0, 1, 0, 1]), w)
    with pytest.raises(ValueError, match="X must contain only finite"):
        arbitrary.plugin_statistics(np.full((4, 3), np.nan), y, w)
    with pytest.raises(ValueError, match="at least 2"):
        arbitrary.plugin_statistics(X[:1], y[:1], w)
    with pytest.raises(ValueError, match="zero vector"):
        arbitrary.plugin_statistics(X, y, np.zeros(3))
    with pytest.raises(ValueError, match="X must not be empty"):
        arbitrary.plugin_statistics(np.ones((0, 3)), np.ones(0), w)
    with pytest.raises(ValueError, match="X must have 2"):
        arbitrary.plugin_statistics(np.ones(3), y, w)


def test_core_and_constants_inputs():
    with pytest.raises(ValueError, match="v2 must be finite"):
        Moments(0.1, 0.2, 0.3, 0.4, np.nan)
    mo = Moments(0.1, 0.2, 0.3, 0.1, 0.5)
    with pytest.raises(ValueError, match="alpha must contain only finite"):
        mo.accuracy([0.0, np.nan])
    with pytest.raises(ValueError, match="eta must be > 0"):
        delta(0.0, 1.0)
    with pytest.raises(ValueError, match="gamma must be > 0"):
        ridge_constants(1.0, 1.0, -1.0)


def test_regression_inputs():
    W = np.ones((2, 5))
    with pytest.raises(ValueError, match="same shape"):
        regression.risk(1.0, W, np.ones((3, 5)), 0.1, 10, 1.0)
    with pytest.raises(ValueError, match="sigma must be >= 0"):
        regression.risk(1.0, W, W, -0.1, 10, 1.0)
    with pytest.raises(ValueError, match="W_s is zero"):
        regression.alpha_star(W, np.zeros((2, 5)))
    with pytest.raises(ValueError, match="W_t must contain only finite"):
        regression.risk(1.0, np.full((2, 5), np.inf), W, 0.1, 10, 1.0)


def test_one_cauchy_schwarz_check_for_moments_and_setting():
    bad = dict(GOOD, c=2.0)
    msgs = []
    for build in (ridge.moments, ridge.Setting):
        with pytest.raises(ValueError, match="Cauchy-Schwarz") as err:
            build(**bad)
        msgs.append(str(err.value))
    assert msgs[0] == msgs[1]


def test_moments_from_means_equals_the_scalar_route():
    rng = np.random.default_rng(4)
    mu_s, mu_t = rng.standard_normal(30), rng.standard_normal(30)
    scalars = dict(M_s=float(np.sum(mu_s**2)), M_t=float(np.sum(mu_t**2)),
                   c=float(np.sum(mu_s * mu_t)), p=30)
    for variant in ridge.VARIANTS:
        a = ridge.moments_from_means(mu_s, mu_t, n=20, N=50, gamma_pre=0.5, gamma_ft=2.0,
                                     variant=variant)
        b = ridge.moments(**scalars, n=20, N=50, gamma_pre=0.5, gamma_ft=2.0, variant=variant)
        assert np.allclose([a.m0, a.m1, a.v0, a.v1, a.v2], [b.m0, b.m1, b.v0, b.v1, b.v2],
                           rtol=1e-12, atol=0)


def test_linear_uses_the_rmt_array_check():
    from linear import validation as linear_validation
    from rmt import validation

    assert linear_validation.finite_array is validation.finite_array

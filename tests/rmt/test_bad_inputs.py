"""Bad inputs to ``rmt`` beyond tests/rmt/test_validation.py and test_properties.py: complex
arrays (silently cast to float before the fix, dropping the imaginary part), NaN / None / complex
/ string alphas in the polynomial methods of :class:`rmt.Moments` (``mean``,
``second_moment``, ``variance`` returned NaN before the fix), and the regression risk.
"""

from __future__ import annotations

import numpy as np
import pytest

from rmt import Moments, arbitrary, regression, ridge

MO = Moments(0.1, 0.2, 0.3, 0.1, 0.5)
METHODS = ["accuracy", "snr", "mean", "second_moment", "variance"]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(
    "alpha, exc, match",
    [
        (np.nan, ValueError, "alpha must contain only finite"),
        ([0.0, np.inf], ValueError, "alpha must contain only finite"),
        (None, ValueError, "alpha must contain only finite"),
        (1j, TypeError, "alpha must hold real numbers"),
        ([0.0, 1j], TypeError, "alpha must hold real numbers"),
        ("a", TypeError, "alpha must be a real number"),
    ],
)
def test_moments_methods_reject_bad_alpha(method, alpha, exc, match):
    with pytest.raises(exc, match=match):
        getattr(MO, method)(alpha)


@pytest.mark.parametrize("method", METHODS)
def test_moments_methods_keep_the_shape_of_an_empty_grid(method):
    assert np.asarray(getattr(MO, method)([])).shape == (0,)


@pytest.mark.parametrize("value", [1j, np.complex128(1.0), "0.1", None, [0.1]])
@pytest.mark.parametrize("position", range(5))
def test_moments_reject_non_real_coefficients(value, position):
    coefs = [0.1, 0.2, 0.3, 0.1, 0.5]
    coefs[position] = value
    with pytest.raises(TypeError, match=["m0", "m1", "v0", "v1", "v2"][position]):
        Moments(*coefs)


X = np.random.default_rng(0).standard_normal((6, 3))
Y = np.array([1.0, -1, 1, -1, 1, -1])
W = np.ones(3)


@pytest.mark.parametrize(
    "args, name",
    [((X + 1j, Y, W), "X"), ((X, Y + 0j, W), "y"), ((X, Y, W + 1j), "source_coef")],
)
def test_arbitrary_plugin_statistics_rejects_complex(args, name):
    with pytest.raises(TypeError, match=f"{name} must hold real numbers"):
        arbitrary.plugin_statistics(*args)


def test_ridge_plugin_statistics_rejects_bad_arrays():
    with pytest.raises(TypeError, match="X_target must hold real numbers"):
        ridge.plugin_statistics(X, Y, X + 1j, Y)
    with pytest.raises(ValueError, match="X_source must contain only finite"):
        ridge.plugin_statistics(np.full((6, 3), np.nan), Y, X, Y)
    with pytest.raises(ValueError, match="y_target must contain only -1 and \\+1"):
        ridge.plugin_statistics(X, Y, X, np.arange(6.0))
    with pytest.raises(ValueError, match="y_source has 5 entries"):
        ridge.plugin_statistics(X, Y[:5], X, Y)
    with pytest.raises(ValueError, match="X_source has 3 columns but X_target has 2"):
        ridge.plugin_statistics(X, Y, X[:, :2], Y)
    with pytest.raises(ValueError, match="X_target must not be empty"):
        ridge.plugin_statistics(X, Y, X[:0], Y[:0])


def test_from_means_rejects_complex():
    with pytest.raises(TypeError, match="mu_s must hold real numbers"):
        ridge.Setting.from_means(np.ones(3) + 1j, np.ones(3), n=5, N=5, gamma_pre=1, gamma_ft=1)


@pytest.mark.parametrize(
    "alpha, W_t, exc, match",
    [
        (1j, np.ones((2, 3)), TypeError, "alpha must hold real numbers"),
        (np.nan, np.ones((2, 3)), ValueError, "alpha must contain only finite"),
        ("a", np.ones((2, 3)), TypeError, "alpha must be a real number"),
        (1.0, np.ones((2, 3)) + 1j, TypeError, "W_t must hold real numbers"),
        (1.0, np.ones((0, 3)), ValueError, "W_t must not be empty"),
        (1.0, np.full((2, 3), "a"), TypeError, "W_t must be a numeric array"),
    ],
)
def test_regression_risk_bad_inputs(alpha, W_t, exc, match):
    with pytest.raises(exc, match=match):
        regression.risk(alpha, W_t, np.ones(W_t.shape if W_t.size else (0, 3)), 0.1, 10, 1.0)

"""Invalid inputs raise errors that name the argument (rmt.validation and every entry point).

Also the former tests/rmt/test_bad_inputs.py (folded in here, issue 13): complex arrays
(silently cast to float before the fix, dropping the imaginary part), NaN / None / complex /
string alphas in the polynomial methods of :class:`rmt.Moments` (``mean``, ``second_moment``,
``variance`` returned NaN before the fix), the regression risk, and no silent wrong answers
(issue 14 item 5).
"""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import norm

from rmt import Moments, anisotropic, arbitrary, regression, ridge
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

# ---------------------------------------------------------------------------------------------
# complex / NaN / string inputs (formerly tests/rmt/test_bad_inputs.py)
# ---------------------------------------------------------------------------------------------
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


# ---------------------------------------------------------------------------------------------
# issue 14 item 5: no silent wrong answers
# ---------------------------------------------------------------------------------------------

SETTING = ridge.Setting.from_beta(0.5, 0.8, 0.8, p=1000, n=40, N=5000, gamma_pre=5, gamma_ft=0.1)


def _limit(mo, sign):
    """Independent closed form of lim_{alpha -> sign inf} Phi(m / sigma): the leading terms of
    m = m1 alpha and sigma^2 = (v2 - m1^2) alpha^2."""
    return norm.cdf(sign * mo.m1 / math.sqrt(mo.v2 - mo.m1**2))


@pytest.mark.parametrize("alpha", [1e155, 1e200, 1e300, 1.7e308])
def test_accuracy_at_huge_alpha_is_the_limit_not_one_half(alpha):
    mo = SETTING.moments()
    assert mo.accuracy(alpha) == pytest.approx(_limit(mo, 1.0), abs=1e-12)
    assert mo.accuracy(-alpha) == pytest.approx(_limit(mo, -1.0), abs=1e-12)
    assert abs(mo.accuracy(alpha) - 0.5) > 0.1


@settings(max_examples=200, deadline=None)
@given(st.floats(0.05, 3.0), st.floats(-2.0, 2.0), st.floats(1e6, 1e308), st.sampled_from([-1, 1]))
def test_accuracy_is_continuous_up_to_the_float_range(m1, m0, alpha, sign):
    # moments built so that sigma^2 = v - m^2 = 1 + 0.3 a + (1 + m1^2) a^2 by hand
    mo = Moments(m0, m1, 1.0 + m0**2, 2 * m0 * m1 + 0.3, 1.0 + 2 * m1**2)
    got = mo.accuracy(sign * alpha)
    # reference: m / sigma with alpha factored out by hand (t = 1 / alpha)
    t = 1.0 / alpha
    ref = norm.cdf(sign * (m1 + sign * m0 * t) / math.sqrt(1.0 * t * t + sign * 0.3 * t + 1.0 + m1**2))
    assert got == pytest.approx(ref, abs=1e-9)


@pytest.mark.parametrize("bad", ["1", "0.5", True, False, np.bool_(True), ["1", "2"], [True, False]])
@pytest.mark.parametrize("method", METHODS)
def test_strings_and_booleans_are_not_coerced_to_alphas(method, bad):
    with pytest.raises(TypeError, match="alpha must"):
        getattr(MO, method)(bad)


@pytest.mark.parametrize("bad", ["1", True])
def test_regression_risk_refuses_string_and_boolean_alpha(bad):
    with pytest.raises(TypeError, match="alpha must"):
        regression.risk(bad, np.ones(3), np.ones(3), 0.5, 10, 1.0)


def test_plugin_statistics_with_a_single_class_raises():
    Xs = np.random.default_rng(1).standard_normal((20, 5))
    for label in (1.0, -1.0):
        with pytest.raises(ValueError, match="single class"):
            arbitrary.plugin_statistics(Xs, np.full(20, label), np.ones(5))


_PLUGINS = {
    "arbitrary": lambda X, y, w: arbitrary.plugin_statistics(X, y, w),
    "anisotropic": lambda X, y, w: anisotropic.plugin_statistics(X, y, w, np.eye(5)),
}


@pytest.mark.parametrize("which", list(_PLUGINS))
@pytest.mark.parametrize("case, match", [
    ("single_class", "single class"), ("one_row", "at least 2 training rows"),
    ("y_length", "y has 19 entries but X has 20 rows"),
    ("w_length", "source_coef has length 4 but X has 5 columns"),
    ("labels", "y must contain only -1 and \\+1"), ("nan", "X"),
])
def test_both_plugin_estimators_check_their_rows_alike(which, case, match):
    rng = np.random.default_rng(2)
    X, y, w = rng.standard_normal((20, 5)), np.where(np.arange(20) % 2, 1.0, -1.0), np.ones(5)
    if case == "single_class":
        y = np.ones(20)
    elif case == "one_row":
        X, y = X[:1], y[:1]
    elif case == "y_length":
        y = y[:19]
    elif case == "w_length":
        w = w[:4]
    elif case == "labels":
        y = np.where(y > 0, 1.0, 0.0)
    else:
        X[3, 2] = np.nan
    with pytest.raises(ValueError, match=match):
        _PLUGINS[which](X, y, w)


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda g: ridge.moments(0.5, 0.6, 0.3, 100, 20, 200, 1.0, g), "gamma_ft"),
        (lambda g: ridge.moments(0.5, 0.6, 0.3, 100, 20, 200, g, 1.0), "gamma_pre"),
        (lambda g: arbitrary.moments(1.0, 0.5, 1.0, 100, 20, g), "gamma"),
        (lambda g: regression.risk_coefficients(np.ones(3), np.ones(3), 0.5, 10, g), "gamma"),
    ],
)
@pytest.mark.parametrize("gamma", [1e151, 1e300, 1.7e308])
def test_huge_penalties_raise_a_named_value_error(call, name, gamma):
    with pytest.raises(ValueError, match=f"{name}=.* is too large"):
        call(gamma)


def test_huge_but_representable_penalty_still_works():
    mo = ridge.moments(0.5, 0.6, 0.3, 100, 20, 200, 1.0, 1e100)
    assert all(math.isfinite(c) for c in mo.as_tuple())


@pytest.mark.parametrize(
    "call",
    [
        lambda: ridge.Setting.from_beta(0.5, 1.0, 1.0, p=1, n=40, N=100, gamma_pre=1,
                                        gamma_ft=1).moments(),
        lambda: ridge.moments(0.5, 0.6, 0.3, 100, 1, 200, 1.0, 1.0),
        lambda: ridge.moments(0.5, 0.6, 0.3, 100, 20, 1, 1.0, 1.0),
        lambda: arbitrary.moments(1.0, 0.5, 1.0, 1, 20, 1.0),
        lambda: arbitrary.moments(1.0, 0.5, 1.0, 100, 1, 1.0),
        lambda: regression.risk_coefficients(np.ones(3), np.ones(3), 0.5, 1, 1.0),
    ],
)
def test_size_one_settings_warn(call):
    with pytest.warns(RuntimeWarning, match="=1: the closed forms are large-dimension limits"):
        call()


def test_sizes_of_two_do_not_warn():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        arbitrary.moments(1.0, 0.5, 1.0, 2, 2, 1.0)

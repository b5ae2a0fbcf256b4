"""Property-based tests (hypothesis) for rmt over random valid settings."""

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from scipy.stats import norm

from rmt import Moments, arbitrary, regression, ridge

EXAMPLES = 300
pos = st.floats(1e-3, 1e2, allow_nan=False, allow_infinity=False)
sizes = st.integers(1, 10**5)


@st.composite
def ridge_settings(draw):
    beta = draw(st.floats(0.0, 1.0))
    norm_mu = draw(st.floats(0.05, 4.0))
    norm_perp = draw(st.floats(0.0, 4.0))
    return ridge.Setting.from_beta(
        beta, norm_mu, norm_perp, p=draw(sizes), n=draw(sizes), N=draw(sizes),
        gamma_pre=draw(pos), gamma_ft=draw(pos),
    )


@st.composite
def arbitrary_settings(draw):
    M_t = draw(st.floats(1e-3, 10.0))
    W = draw(st.floats(1e-3, 10.0))
    s = draw(st.floats(-1.0, 1.0)) * math.sqrt(M_t * W)
    return M_t, s, W, draw(sizes), draw(sizes), draw(pos)


alphas = st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=1, max_size=20)


@settings(max_examples=EXAMPLES, deadline=None)
@given(ridge_settings(), alphas)
def test_accuracy_is_a_probability_and_symmetric_is_the_max(setting, grid):
    mo = setting.moments()
    acc = np.atleast_1d(mo.accuracy(grid))
    assert np.all(np.isfinite(acc)) and np.all((acc >= 0) & (acc <= 1))
    sym = np.atleast_1d(mo.accuracy(grid, symmetric=True))
    np.testing.assert_allclose(sym, np.maximum(acc, 1 - acc), rtol=1e-12, atol=1e-15)
    # the score variance of a real classifier is positive
    assert np.all(mo.variance(grid) > 0)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(arbitrary_settings())
def test_alpha_star_is_a_stationary_maximiser(args):
    mo = arbitrary.moments(*args)
    a = mo.alpha_star()
    assume(math.isfinite(a) and abs(a) < 1e6)
    assert float(mo.mean(a)) > 0
    # first-order condition 2 m1 v = m v' at alpha*, relative to the size of its terms
    m, v = float(mo.mean(a)), float(mo.second_moment(a))
    dv = mo.v1 + 2 * mo.v2 * a
    assert abs(2 * mo.m1 * v - m * dv) <= 1e-8 * (abs(2 * mo.m1 * v) + abs(m * dv) + 1e-300)
    # and no better point nearby or far away
    best = mo.accuracy(a)
    for b in (a - 1.0, a + 1.0, a * 0.5, a * 2 + 1, 0.0, 1.0, -1e4, 1e4):
        assert mo.accuracy(b) <= best + 1e-12


@settings(max_examples=EXAMPLES, deadline=None)
@given(arbitrary_settings())
def test_chance_level_alpha_gives_one_half(args):
    mo = arbitrary.moments(*args)
    assume(mo.m1 != 0)
    a = mo.alpha_chance()
    assume(abs(a) < 1e8)
    assert mo.accuracy(a) == pytest.approx(0.5, abs=1e-9)


@settings(max_examples=EXAMPLES // 3, deadline=None)
@given(arbitrary_settings())
def test_large_gamma_ft_limit_is_the_alpha_only_classifier(args):
    M_t, s, W, p, n, _ = args
    assume(abs(s) > 1e-3)
    mo = arbitrary.moments(M_t, s, W, p, n, 1e9)
    # relative error of the limit is O(1/gamma) times the problem's scales
    assert mo.accuracy(1.0) == pytest.approx(norm.cdf(s / math.sqrt(W)), abs=1e-4)


@settings(max_examples=EXAMPLES // 3, deadline=None)
@given(st.integers(1, 5), st.integers(2, 30), st.floats(0, 3), sizes, pos, st.integers(0, 2**32 - 1))
def test_regression_alpha_star_minimises_risk(d, p, sigma, n, gamma, seed):
    rng = np.random.default_rng(seed)
    W_t, W_s = rng.standard_normal((d, p)), rng.standard_normal((d, p))
    a = regression.alpha_star(W_t, W_s)
    r = regression.risk(np.array([a - 0.1, a, a + 0.1]), W_t, W_s, sigma, n, gamma)
    assert r[1] <= r[0] and r[1] <= r[2]
    assert np.all(r > 0)


BAD_FLOATS = [math.nan, math.inf, -math.inf]


@settings(max_examples=EXAMPLES, deadline=None)
@given(
    st.sampled_from(["M_s", "M_t", "c", "gamma_pre", "gamma_ft", "p", "n", "N"]),
    st.one_of(st.sampled_from(BAD_FLOATS), st.just("1.0"), st.just([1.0]), st.just(None),
              st.integers(-10**6, 0), st.just(np.array([]))),
)
def test_bad_ridge_inputs_raise_naming_the_argument(field, bad):
    kw = dict(M_s=1.0, M_t=1.0, c=0.2, p=100, n=20, N=200, gamma_pre=1.0, gamma_ft=1.0)
    kw[field] = bad
    if field in ("M_s", "M_t", "c") and isinstance(bad, int) and bad == 0:
        return  # zero squared norms / inner product are valid
    if field == "c" and isinstance(bad, int):
        return  # negative c is valid when |c| <= sqrt(M_s M_t); checked elsewhere
    with pytest.raises((ValueError, TypeError), match=field):
        ridge.moments(**kw)


@settings(max_examples=EXAMPLES, deadline=None)
@given(
    st.sampled_from(["X", "y", "source_coef"]),
    st.sampled_from(["nan", "inf", "empty", "strings", "mismatch", "wrong_ndim"]),
)
def test_bad_plugin_inputs_raise(which, kind):
    rng = np.random.default_rng(0)
    args = {"X": rng.standard_normal((6, 4)), "y": np.array([1.0, -1, 1, -1, 1, -1]),
            "source_coef": rng.standard_normal(4)}
    a = np.array(args[which], dtype=float)
    if kind == "nan":
        a.flat[0] = np.nan
    elif kind == "inf":
        a.flat[0] = np.inf
    elif kind == "empty":
        a = a[:0]
    elif kind == "strings":
        a = np.array(["a"] * a.shape[0])
    elif kind == "mismatch":
        a = a[:-1]
    else:
        a = a[None]
    args[which] = a
    with pytest.raises((ValueError, TypeError)):
        arbitrary.plugin_statistics(**args)


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.lists(st.sampled_from([*BAD_FLOATS, "x", None]), min_size=1, max_size=1),
       st.integers(0, 4))
def test_bad_moments_raise(bad, position):
    coefs = [0.1, 0.2, 0.3, 0.1, 0.5]
    coefs[position] = bad[0]
    with pytest.raises((ValueError, TypeError), match=["m0", "m1", "v0", "v1", "v2"][position]):
        Moments(*coefs)

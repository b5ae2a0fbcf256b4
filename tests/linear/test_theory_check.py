"""linear.covariance.theory_check / plugin_moments on data drawn from the anisotropic model
itself: there the anisotropic theory curve must match the empirical curve (independent
Monte-Carlo over shared splits), the isotropic one must not, and the Gaussian-given-w
diagnostic must match too; the grid widens until the argmax is interior."""

from __future__ import annotations

import numpy as np
import pytest

from linear import covariance
from linear.solve import ridge
from rmt import anisotropic


def _setting(seed=0, p=80, N=3000, rows=4000):
    rng = np.random.default_rng(seed)
    evals = np.r_[np.full(8, 6.0), np.full(p - 8, 0.5)]  # two-level spiked spectrum
    U = np.linalg.qr(rng.normal(size=(p, p)))[0]
    root = (U * np.sqrt(evals)) @ U.T
    mu_s = U[:, 0] * 1.6 + U[:, p // 2] * 0.8
    mu_t = 0.7 * mu_s + U[:, -1] * 0.6

    def draw(mu, k):
        y = np.where(rng.random(k) < 0.5, 1.0, -1.0)
        return y[:, None] * mu + rng.normal(size=(k, p)) @ root, y

    return rng, draw(mu_s, N), draw(mu_t, rows), (U * evals) @ U.T, mu_t


def test_plugin_moments_routes():
    rng, (Xs, ys), (Xt, yt), _, _ = _setting(p=20, N=300, rows=200)
    w = ridge(Xs, ys, 1.0)
    iso = covariance.plugin_moments(Xt, yt, w, 0.5, n=30)
    from rmt import arbitrary

    ref = arbitrary.plugin_statistics(Xt, yt, w).moments(0.5, n=30)
    assert iso.as_tuple() == ref.as_tuple()
    eye = covariance.given(np.eye(20))
    np.testing.assert_allclose(covariance.plugin_moments(Xt, yt, w, 0.5, n=30, covariance=eye)
                               .as_tuple(), ref.as_tuple(), rtol=1e-9, atol=1e-12)
    with pytest.raises(TypeError, match="CovarianceEstimate"):
        covariance.plugin_moments(Xt, yt, w, 0.5, covariance=np.eye(20))


def test_anisotropic_theory_matches_gaussian_data_and_isotropic_does_not():
    rng, (Xs, ys), (Xt, yt), cov, mu_t = _setting()
    w = ridge(Xs, ys, 1.0)
    from linear import amazon

    splits = [amazon.split(yt, 40, s, b) for s in (1, 2) for b in range(25)]
    cov_src = covariance.from_source(Xs, ys, "none")
    chk = covariance.theory_check(Xt, yt, w, splits, gamma=0.5,
                                  covariances={"iso": None, "aniso": cov_src,
                                               "true": covariance.given(cov)},
                                  alphas=np.linspace(-2, 6, 81), gaussian=True)
    # the exact moments with the TRUE mean and covariance (independent of the plug-in)
    exact = anisotropic.moments(w, mu_t, cov, n=40, gamma=0.5).accuracy(chk.alphas)
    assert np.max(np.abs(chk.mean - exact)) < 0.01
    assert chk.gap("true") < 0.01 and chk.gap("aniso") < 0.015
    assert chk.gap("gaussian") < 0.01  # Gaussian data: Φ(mean/std) of the scores is exact
    assert chk.gap("iso") > 3 * chk.gap("aniso")
    assert chk.interior


def test_grid_widens_until_the_argmax_is_interior():
    rng, (Xs, ys), (Xt, yt), _, _ = _setting(p=30, N=1500, rows=800)
    w = ridge(Xs, ys, 1.0)
    from linear import amazon

    splits = [amazon.split(yt, 20, 1, b) for b in range(4)]
    short = np.linspace(-1.0, 0.2, 13)  # alpha* of a good source is well above 0.2
    chk = covariance.theory_check(Xt, yt, w, splits, gamma=0.5, alphas=short)
    assert chk.alphas[-1] > 0.2 and chk.interior
    assert chk.accuracy.shape == (4, chk.alphas.shape[0])
    capped = covariance.theory_check(Xt, yt, w, splits, gamma=0.5, alphas=short,
                                     max_alpha=0.2)
    assert not capped.interior and capped.alphas[-1] == pytest.approx(0.2)
    with pytest.raises(ValueError, match="same number of training rows"):
        covariance.theory_check(Xt, yt, w, [splits[0], (splits[1][0][:5], splits[1][1])],
                                gamma=0.5)

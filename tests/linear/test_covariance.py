"""Covariance plug-ins (issue 15 item 2): estimates from source rows and unlabeled target rows,
the anisotropic plug-in alpha*, AlphaRidge(covariance=...), and no test row ever read.

References: numpy's per-class covariances, scikit-learn's ledoit_wolf, the isotropic plug-in of
rmt.arbitrary (identity covariance), the exact Sherman–Morrison identity, and the theory's
alpha* with the TRUE covariance on simulated data.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.covariance import ledoit_wolf

from linear import AlphaRidge, amazon
from linear import covariance as C
from linear.selection import plugin_alpha
from linear.solve import ridge as ridge_fit
from rmt import anisotropic

P = 60


def _orthogonal(p, seed):
    q, r = np.linalg.qr(np.random.default_rng(seed).standard_normal((p, p)))
    return q * np.sign(np.diag(r))


def _unit(v):
    return v / np.linalg.norm(v)


LAM = np.where(np.arange(P) < 4, 10.0, 0.5)          # 4 spikes at 10, bulk 0.5
ROT = _orthogonal(P, 0)
COV = (ROT * LAM) @ ROT.T
ROOT = ROT * np.sqrt(LAM)
_g = np.random.default_rng(1).standard_normal((2, P))
MU_S = 1.5 * _unit(_g[0])
MU_T = 1.5 * (0.7 * _unit(_g[0]) + 0.714 * _unit(_g[1]))


def _draw(rng, mu, m, balanced=True):
    y = np.where(np.arange(m) < m // 2, -1.0, 1.0) if balanced else rng.choice([-1.0, 1.0], m)
    return y[:, None] * mu + rng.standard_normal((m, P)) @ ROOT.T, y


# --------------------------------------------------------------------------------------------
# the estimates
# --------------------------------------------------------------------------------------------
def test_pooled_within_class_covariance_matches_numpy():
    rng = np.random.default_rng(2)
    X, y = _draw(rng, MU_S, 301, balanced=False)
    labels = np.where(y > 0, "pos", "neg")  # any two label values
    est = C.from_source(X, labels, shrinkage="none")
    k = [X[labels == c] for c in ("neg", "pos")]
    expected = sum((len(a) - 1) * np.cov(a.T) for a in k) / (len(X) - 2)
    np.testing.assert_allclose(est.matrix, expected, rtol=1e-10, atol=1e-12)
    assert est.kind == "source" and not est.includes_mean and est.shrinkage == 0.0
    assert "source rows" in est.origin and "301 rows" in est.origin and "no shrinkage" in est.origin


def test_ledoit_wolf_option_matches_sklearn():
    rng = np.random.default_rng(3)
    X, y = _draw(rng, MU_S, 120)
    R = X.copy()
    for c in (-1.0, 1.0):
        R[y == c] -= X[y == c].mean(axis=0)
    shrunk, coef = ledoit_wolf(R, assume_centered=True)
    est = C.from_source(X, y)
    np.testing.assert_allclose(est.matrix, shrunk * 120 / 118, rtol=1e-10)
    assert est.shrinkage == pytest.approx(coef) and f"{coef:.4g}" in est.origin


def test_unlabeled_second_moment():
    rng = np.random.default_rng(4)
    X, _ = _draw(rng, MU_T, 5000, balanced=False)
    est = C.from_unlabeled(X, shrinkage="none")
    np.testing.assert_allclose(est.matrix, X.T @ X / 5000, rtol=1e-12)
    assert est.includes_mean and "unlabeled target rows" in est.origin
    # it estimates Sigma + mu mu' (any class balance): check along mu and along a spike
    for d in (_unit(MU_T), ROT[:, 0]):
        truth = d @ (COV + np.outer(MU_T, MU_T)) @ d
        assert d @ est.matrix @ d == pytest.approx(truth, rel=0.06)


@pytest.mark.parametrize("bad, match", [
    (dict(shrinkage="oas"), r"shrinkage must be one of \('ledoit-wolf', 'none'\), got 'oas'"),
    (dict(y_source=np.zeros(10)), r"exactly two classes, got 1"),
    (dict(y_source=np.ones(9)), r"y_source has 9 entries but X_source has 10 rows"),
])
def test_from_source_bad_inputs(bad, match):
    args = dict(X_source=np.random.default_rng(0).standard_normal((10, 3)),
                y_source=np.repeat([-1.0, 1.0], 5)) | bad
    with pytest.raises(ValueError, match=match):
        C.from_source(**args)


# --------------------------------------------------------------------------------------------
# the anisotropic plug-in
# --------------------------------------------------------------------------------------------
def test_identity_covariance_gives_the_isotropic_plugin():
    rng = np.random.default_rng(5)
    X = rng.standard_normal((30, P)) + 0.2
    y = np.repeat([-1.0, 1.0], 15)
    w = rng.standard_normal(P) / 5
    for gamma in (0.1, 1.0, 7.0):
        iso = plugin_alpha(X, y, w, gamma)
        assert plugin_alpha(X, y, w, gamma, covariance=np.eye(P)) == pytest.approx(iso, rel=1e-10)
        assert plugin_alpha(X, y, w, gamma, covariance=C.given(np.eye(P))) == pytest.approx(
            iso, rel=1e-10)
    clf = AlphaRidge(source_coef=w, alpha="auto", gamma=1.0, covariance=np.eye(P)).fit(X, y)
    assert clf.alpha_ == pytest.approx(plugin_alpha(X, y, w, 1.0), rel=1e-10)
    assert clf.covariance_origin_.startswith("given 60 x 60")


class _Exact(anisotropic.PluginStatistics):
    """The plug-in statistics with the unbiased estimates replaced by the true forms of mu."""

    mu_hat: np.ndarray = np.empty(0)

    def _quad(self, k):
        return float(k @ (self.mu_hat * self.mu_hat))

    def _lin(self, k):
        return float(k @ (self.w * self.mu_hat))


def test_second_moment_route_is_exact_by_sherman_morrison():
    """With C = Sigma + mu mu' and the same g, the forms under P = (Sigma + gI)^-1 recovered from
    those under Pi = (C + gI)^-1 equal the direct ones (exact algebra, not an approximation)."""
    rng = np.random.default_rng(6)
    X, y = _draw(rng, MU_T, 20)
    w = rng.standard_normal(P) / 4
    direct = _Exact(**vars(anisotropic.plugin_statistics(X, y, w, COV)))
    via_c = _Exact(**vars(anisotropic.plugin_statistics(X, y, w, COV + np.outer(MU_T, MU_T),
                                                        includes_mean=True)))
    for st in (direct, via_c):
        object.__setattr__(st, "mu_hat", st.spectrum.project(MU_T))
    res = anisotropic.resolvent(COV, 20, 0.8)
    res_c = anisotropic.Resolvent(n=20, gamma=0.8, delta=res.delta, g=res.g, h=res.h,
                                  diagonal=1.0 / (via_c.spectrum.eigenvalues + res.g))
    a, b = direct._forms(res), via_c._forms(res_c)
    np.testing.assert_allclose(list(vars(b).values()), list(vars(a).values()), rtol=1e-9)


def test_source_covariance_plugin_beats_the_isotropic_one():
    """Spiked covariance, ridge source on 1000 rows, n = 40 target rows, 30 draws: the plug-in
    alpha with the source-row covariance is closer to the theory's alpha* with the TRUE
    covariance (rmt.anisotropic, validated against Monte-Carlo) than the isotropic plug-in, and
    its true accuracy is higher on average."""
    n, gamma = 40, 1.0
    err = {"isotropic": [], "source": []}
    acc = {"isotropic": [], "source": []}
    for seed in range(30):
        rng = np.random.default_rng(100 + seed)
        Xs, ys = _draw(rng, MU_S, 1000)
        w = ridge_fit(Xs, ys, 1.0)
        Xt, yt = _draw(rng, MU_T, n)
        mo = anisotropic.moments(w, MU_T, COV, n, gamma)
        a_star = mo.alpha_star()
        for kind in err:
            clf = AlphaRidge(source_coef=w, alpha="auto", gamma=gamma, covariance=kind)
            clf.fit(Xt, yt, X_source=Xs, y_source=ys)
            err[kind].append(abs(clf.alpha_ - a_star) / abs(a_star))
            acc[kind].append(mo.accuracy(clf.alpha_))
    assert np.median(err["source"]) < 0.6 * np.median(err["isotropic"]), err
    assert np.mean(acc["source"]) > np.mean(acc["isotropic"])


# --------------------------------------------------------------------------------------------
# AlphaRidge(covariance=...)
# --------------------------------------------------------------------------------------------
def test_alpha_ridge_covariance_options_and_errors():
    rng = np.random.default_rng(7)
    Xs, ys = _draw(rng, MU_S, 200)
    Xt, yt = _draw(rng, MU_T, 30)
    Xu, _ = _draw(rng, MU_T, 300)
    w = ridge_fit(Xs, ys, 1.0)
    default = AlphaRidge(source_coef=w, alpha="auto").fit(Xt, yt)
    assert default.covariance == "isotropic" and default.covariance_ is None
    assert default.covariance_origin_.startswith("isotropic")
    assert default.alpha_ == plugin_alpha(Xt, yt, w, 1.0)
    src = AlphaRidge(source_coef=w, alpha="auto", covariance="source").fit(
        Xt, yt, X_source=Xs, y_source=ys)
    assert src.covariance_.kind == "source" and "200 rows" in src.covariance_origin_
    unl = AlphaRidge(source_coef=w, alpha="auto", covariance="unlabeled",
                     covariance_shrinkage="none").fit(Xt, yt, X_unlabeled=Xu)
    assert unl.covariance_.includes_mean and "300 rows" in unl.covariance_origin_
    assert np.isfinite(src.alpha_) and np.isfinite(unl.alpha_)
    fixed = AlphaRidge(source_coef=w, alpha=2.0, covariance="source").fit(Xt, yt)
    assert fixed.covariance_ is None and fixed.covariance_origin_ == "not used (alpha=2.0)"
    with pytest.raises(ValueError, match=r"covariance='source' needs the source rows"):
        AlphaRidge(source_coef=w, alpha="auto", covariance="source").fit(Xt, yt)
    with pytest.raises(ValueError, match=r"covariance='unlabeled' needs unlabeled target rows"):
        AlphaRidge(source_coef=w, alpha="auto", covariance="unlabeled").fit(Xt, yt)
    with pytest.raises(ValueError, match=r"has shape \(5, 5\) but X has 60 features"):
        AlphaRidge(source_coef=w, alpha="auto", covariance=np.eye(5)).fit(Xt, yt)
    with pytest.raises(ValueError, match=r"covariance is not positive semi-definite"):
        AlphaRidge(source_coef=w, alpha="auto", covariance=-np.eye(P)).fit(Xt, yt)
    with pytest.raises(ValueError, match=r"covariance"):
        AlphaRidge(source_coef=w, alpha="auto", covariance="target").fit(Xt, yt)


# --------------------------------------------------------------------------------------------
# no test row is read
# --------------------------------------------------------------------------------------------
def _pipeline(kind, Xs, ys, Xd, yd, tr, un, te, w):
    est = C.for_split(kind, X_source=Xs, y_source=ys, X_target=Xd, train_idx=tr,
                      unlabeled_idx=un, test_idx=te)
    clf = AlphaRidge(source_coef=w, alpha="auto", covariance="isotropic" if est is None
                     else est).fit(Xd[tr], yd[tr])
    return est, clf


@pytest.mark.parametrize("kind", ["isotropic", "source", "unlabeled"])
def test_perturbing_the_test_rows_changes_nothing(kind):
    """A whole target domain, an honest split (linear.amazon.split) with unlabeled rows carved
    out of the non-training rows; scramble every test row (features and labels): the covariance
    estimate, alpha and the coefficients are bit-for-bit the same."""
    rng = np.random.default_rng(8)
    Xs, ys = _draw(rng, MU_S, 400)
    Xd, yd = _draw(rng, MU_T, 600)
    w = ridge_fit(Xs, ys, 1.0)
    tr, rest = amazon.split(yd, 30, seed=1, batch=0)
    un, te = rest[:200], rest[200:]
    est0, clf0 = _pipeline(kind, Xs, ys, Xd, yd, tr, un, te, w)
    Xp, yp = Xd.copy(), yd.copy()
    Xp[te] = 100.0 * rng.standard_normal((te.size, P))
    yp[te] = -yp[te]
    est1, clf1 = _pipeline(kind, Xs, ys, Xp, yp, tr, un, te, w)
    assert clf1.alpha_ == clf0.alpha_
    np.testing.assert_array_equal(clf1.coef_, clf0.coef_)
    if est0 is not None:
        np.testing.assert_array_equal(est1.matrix, est0.matrix)
        assert est1.origin == est0.origin
    # and the scrambled rows do change a covariance that is (wrongly) allowed to read them
    if kind == "unlabeled":
        leaky = C.for_split(kind, X_target=Xp, train_idx=tr, unlabeled_idx=te, test_idx=un)
        assert not np.array_equal(leaky.matrix, est0.matrix)


def test_for_split_refuses_test_rows():
    Xd = np.random.default_rng(9).standard_normal((50, 4))
    with pytest.raises(ValueError, match=r"unlabeled_idx shares 2 row\(s\) with test_idx"):
        C.for_split("unlabeled", X_target=Xd, train_idx=[0, 1], unlabeled_idx=[2, 3, 4],
                    test_idx=[3, 4, 5])
    with pytest.raises(ValueError, match=r"train_idx shares 1 row\(s\) with test_idx"):
        C.for_split("unlabeled", X_target=Xd, train_idx=[0, 5], unlabeled_idx=[2],
                    test_idx=[5, 6])
    with pytest.raises(ValueError, match=r"kind='source' needs X_source and y_source"):
        C.for_split("source")
    assert C.for_split("isotropic") is None

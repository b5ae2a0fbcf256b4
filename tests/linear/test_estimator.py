"""AlphaRidge against independent references: scikit-learn Ridge, brute-force refits, numpy."""

import numpy as np
import pytest
from sklearn.linear_model import Ridge
from sklearn.metrics import accuracy_score

from linear import AlphaRidge
from rmt import arbitrary


def sk_alpha_ridge(X, y, w, alpha, gamma):
    """Reference: alpha w~ + Ridge(n gamma, no intercept) fitted on the residual (theory §1.3)."""
    n = X.shape[0]
    r = Ridge(alpha=n * gamma, fit_intercept=False, solver="svd").fit(X, y - alpha * X @ w)
    return alpha * w + r.coef_


@pytest.mark.parametrize("gamma", [0.05, 1.0, 7.0])
def test_alpha_zero_equals_sklearn_ridge(problem, gamma):
    X, y, w = problem
    n = X.shape[0]
    ours = AlphaRidge(w, alpha=0.0, gamma=gamma).fit(X, y).coef_
    ref = Ridge(alpha=n * gamma, fit_intercept=False, solver="svd").fit(X, y).coef_
    np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("alpha", [-2.5, 0.4, 1.0, 3.0])
def test_residual_form_equals_sklearn(problem, alpha):
    X, y, w = problem
    ours = AlphaRidge(w, alpha=alpha, gamma=0.3).fit(X, y).coef_
    np.testing.assert_allclose(ours, sk_alpha_ridge(X, y, w, alpha, 0.3), rtol=1e-10, atol=1e-12)


def test_shrinkage_form_by_normal_equations(problem):
    """argmin (1/n)|y - Xw|^2 + gamma |w - alpha w~|^2 solved by numpy.linalg.solve."""
    X, y, w = problem
    n, p = X.shape
    a, g = 1.7, 0.8
    ref = np.linalg.solve(X.T @ X / n + g * np.eye(p), X.T @ y / n + a * g * w)
    np.testing.assert_allclose(AlphaRidge(w, alpha=a, gamma=g).fit(X, y).coef_, ref, rtol=1e-9)


def test_alpha_path_equals_refits(problem):
    X, y, w = problem
    alphas = np.linspace(-3.0, 6.0, 19)
    path = AlphaRidge(w, gamma=0.5).alpha_path(X, y, alphas)
    assert path.shape == (alphas.size, X.shape[1])
    for a, row in zip(alphas, path, strict=True):
        np.testing.assert_allclose(row, sk_alpha_ridge(X, y, w, a, 0.5), rtol=0, atol=1e-10)
        np.testing.assert_allclose(row, AlphaRidge(w, alpha=a, gamma=0.5).fit(X, y).coef_,
                                   rtol=0, atol=1e-10)


def test_alpha_path_does_not_fit():
    X, y, w = (np.eye(4)[:, :3], np.array([-1, -1, 1, 1]), np.ones(3))
    est = AlphaRidge(w)
    est.alpha_path(X, y, [0.0, 1.0])
    assert not hasattr(est, "coef_") and not hasattr(est, "n_features_in_")


@pytest.mark.parametrize("labels", [("neg", "pos"), (0, 1), (3, 7), (-1.0, 1.0)])
def test_any_two_labels(problem, labels):
    X, y, w = problem
    lab = np.where(y > 0, labels[1], labels[0])
    clf = AlphaRidge(w, alpha=1.3).fit(X, lab)
    assert list(clf.classes_) == sorted(labels)
    np.testing.assert_allclose(clf.coef_, sk_alpha_ridge(X, y, w, 1.3, 1.0), rtol=1e-10)
    pred = clf.predict(X)
    assert set(pred) <= set(labels)
    np.testing.assert_array_equal(pred, np.where(X @ clf.coef_ >= 0, labels[1], labels[0]))
    assert clf.score(X, lab) == pytest.approx(accuracy_score(lab, pred))
    np.testing.assert_allclose(clf.decision_function(X), X @ clf.coef_)


def test_label_order_defines_sign():
    """classes_[1] is coded +1: renaming the classes so the order flips flips the targets."""
    X = np.array([[1.0, 0.2], [0.8, -0.1], [-1.0, 0.3], [-0.9, 0.0]])
    a = AlphaRidge(alpha=0.0).fit(X, ["b", "b", "a", "a"]).coef_
    b = AlphaRidge(alpha=0.0).fit(X, ["a", "a", "b", "b"]).coef_
    np.testing.assert_allclose(a, -b)


def test_loo_alpha_equals_brute_force():
    """The closed form minimises the LOO error of the alpha-ridge whose penalty is n*gamma in
    sklearn units (H = X (X^T X + n gamma I)^-1 X^T, theory §6.3): brute force keeps that
    penalty, i.e. refits each leave-one-out problem with Ridge(alpha = n gamma)."""
    from linear.solve import loo_parts

    X, y, w = make_small(12, 20, 3)
    n, g = X.shape[0], 0.6
    # brute force with the SAME absolute penalty n*gamma on n-1 rows
    def loo(alpha):
        e = np.empty(n)
        for i in range(n):
            keep = np.arange(n) != i
            Xi = X[keep]
            r = Ridge(alpha=n * g, fit_intercept=False, solver="svd").fit(
                Xi, y[keep] - alpha * Xi @ w)
            e[i] = y[i] - X[i] @ (alpha * w + r.coef_)
        return e
    e0, e1 = loo(0.0), loo(1.0)
    a_ref = e0 @ (e0 - e1) / ((e0 - e1) @ (e0 - e1))  # e(alpha) = e0 - alpha (e0 - e1)
    parts = loo_parts(X, y, w, g)
    np.testing.assert_allclose(parts.a, e0, rtol=1e-9)
    np.testing.assert_allclose(parts.a - parts.b, e1, rtol=1e-9)
    clf = AlphaRidge(w, alpha="loo", gamma=g).fit(X, y)
    assert clf.alpha_ == pytest.approx(a_ref, rel=1e-9)
    np.testing.assert_allclose(clf.coef_, sk_alpha_ridge(X, y, w, a_ref, g), rtol=1e-8)


def make_small(n, p, seed):
    from .conftest import make_problem

    return make_problem(n, p, seed)


def brute_force_u_statistic(X, y):
    """(1/(n(n-1))) sum_{i != j} <y_i x_i, y_j x_j>, by a double loop."""
    Z = X * y[:, None]
    n = Z.shape[0]
    tot = sum(Z[i] @ Z[j] for i in range(n) for j in range(n) if i != j)
    return tot / (n * (n - 1))


def test_auto_alpha_is_plugin_from_training_rows(problem):
    X, y, w = problem
    n, p = X.shape
    M = brute_force_u_statistic(X, y)
    s = w @ (X * y[:, None]).sum(axis=0) / n
    W = w @ w
    M = max(M, s * s / W)
    expected = arbitrary.alpha_star(M, s, W, p, n, 0.7)
    clf = AlphaRidge(w, alpha="auto", gamma=0.7).fit(X, y)
    assert clf.alpha_ == pytest.approx(expected, rel=1e-10)
    np.testing.assert_allclose(clf.coef_, sk_alpha_ridge(X, y, w, expected, 0.7), rtol=1e-9)


def test_auto_alpha_never_reads_test_rows():
    """The estimator only sees training rows: the honest plug-in differs from the leaky one
    computed on train + test rows, and changing the test rows changes nothing."""
    from .conftest import make_problem

    X, y, w = make_problem(200, 30, seed=5, signal=1.5)
    tr, te = np.arange(20), np.arange(20, 200)
    honest = AlphaRidge(w, alpha="auto").fit(X[tr], y[tr]).alpha_
    leaky = arbitrary.plugin_statistics(X, y, w).alpha_star(1.0, n=20)
    assert abs(honest - leaky) > 1e-3  # a leak would be visible
    X2, y2 = X.copy(), y.copy()
    X2[te] = 100.0 * np.random.default_rng(0).standard_normal((te.size, 30))
    y2[te] = -y2[te]
    assert AlphaRidge(w, alpha="auto").fit(X2[tr], y2[tr]).alpha_ == honest


def test_zero_source_means_target_only(problem):
    X, y, _ = problem
    n = X.shape[0]
    ref = Ridge(alpha=n, fit_intercept=False, solver="svd").fit(X, y).coef_
    for alpha in (5.0, "auto", "loo"):
        clf = AlphaRidge(None, alpha=alpha).fit(X, y)
        np.testing.assert_allclose(clf.coef_, ref, rtol=1e-10)
    assert AlphaRidge(None, alpha="auto").fit(X, y).alpha_ == 0.0


# -- bad inputs ---------------------------------------------------------------------------
@pytest.fixture
def tiny():
    from .conftest import make_problem

    return make_problem(10, 4, seed=1)


def test_nan_in_X(tiny):
    X, y, w = tiny
    X = X.copy()
    X[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        AlphaRidge(w).fit(X, y)


def test_wrong_shapes(tiny):
    X, y, w = tiny
    with pytest.raises(ValueError, match="2D array"):
        AlphaRidge(w).fit(X[:, 0], y)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        AlphaRidge(w).fit(X, y[:-1])
    clf = AlphaRidge(w).fit(X, y)
    with pytest.raises(ValueError, match="features"):
        clf.predict(X[:, :3])


def test_one_class(tiny):
    X, _, w = tiny
    with pytest.raises(ValueError, match="exactly two classes.*got 1 class"):
        AlphaRidge(w).fit(X, np.ones(X.shape[0]))


def test_three_classes(tiny):
    X, _, w = tiny
    with pytest.raises(ValueError, match="Only binary classification"):
        AlphaRidge(w).fit(X, np.arange(X.shape[0]) % 3)


@pytest.mark.parametrize("bad", [np.ones(3), np.ones(5), np.ones((4, 1))])
def test_source_coef_wrong_length(tiny, bad):
    X, y, _ = tiny
    with pytest.raises(ValueError, match="source_coef"):
        AlphaRidge(bad).fit(X, y)


def test_source_coef_nan(tiny):
    X, y, w = tiny
    with pytest.raises(ValueError, match="source_coef must contain only finite"):
        AlphaRidge(np.r_[w[:-1], np.nan]).fit(X, y)


@pytest.mark.parametrize("gamma", [0.0, -1.0, np.nan, np.inf])
def test_gamma_not_positive(tiny, gamma):
    X, y, w = tiny
    with pytest.raises(ValueError, match="gamma"):
        AlphaRidge(w, gamma=gamma).fit(X, y)
    with pytest.raises(ValueError, match="gamma"):
        AlphaRidge(w, gamma=gamma).alpha_path(X, y, [0.0])


@pytest.mark.parametrize("alpha", ["best", np.nan, np.inf])
def test_bad_alpha(tiny, alpha):
    X, y, w = tiny
    with pytest.raises(ValueError, match="alpha"):
        AlphaRidge(w, alpha=alpha).fit(X, y)


@pytest.mark.parametrize("alphas", [[], [[0.0, 1.0]], [0.0, np.nan]])
def test_bad_alpha_grid(tiny, alphas):
    X, y, w = tiny
    with pytest.raises(ValueError, match="alphas"):
        AlphaRidge(w).alpha_path(X, y, alphas)


def test_unfitted_predict(tiny):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        AlphaRidge().predict(tiny[0])

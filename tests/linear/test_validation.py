"""Argument checks of ``linear`` (linear.validation and every entry point; formerly
tests/linear/test_bad_inputs.py, issue 13). Bad inputs to every public entry point raise a clear
exception (ValueError or TypeError naming the argument); none returns NaN or silently casts
(complex -> float dropped the imaginary part of ``source_coef`` / ``mu`` before the fix).

Entry points: AlphaRidge / AlphaRidgeCV (fit, predict, alpha_path), amazon.load / split /
standardize, gmm.sample / Transfer, simulate.Setting / simulate / bootstrap_argmax.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from linear import AlphaRidge, AlphaRidgeCV, amazon, gmm, selection, simulate, solve

RNG = np.random.default_rng(0)
X = RNG.standard_normal((10, 4))
Y = np.array([0, 1] * 5)
W = RNG.standard_normal(4)
ESTIMATORS = {
    "fixed": lambda **kw: AlphaRidge(source_coef=kw.get("w", W), alpha=1.0),
    "auto": lambda **kw: AlphaRidge(source_coef=kw.get("w", W), alpha="auto"),
    "loo": lambda **kw: AlphaRidge(source_coef=kw.get("w", W), alpha="loo"),
    "cv": lambda **kw: AlphaRidgeCV(source_coef=kw.get("w", W)),
}


def _with(a, idx, value):
    a = np.array(a, dtype=float)
    a[idx] = value
    return a


BAD_FIT = {
    "X nan": (lambda: (_with(X, (0, 0), np.nan), Y), ValueError, "NaN"),
    "X inf": (lambda: (_with(X, (0, 0), np.inf), Y), ValueError, "infinity"),
    "X empty": (lambda: (X[:0], Y[:0]), ValueError, "0 sample"),
    "X strings": (lambda: (np.full(X.shape, "a"), Y), ValueError, "float"),
    "X complex": (lambda: (X + 1j, Y), ValueError, "Complex"),
    "X 1-D": (lambda: (X[:, 0], Y), ValueError, "2D array"),
    "y nan": (lambda: (X, _with(Y, 0, np.nan)), ValueError, "NaN"),
    "y one class": (lambda: (X, np.zeros(10)), ValueError, "exactly two classes"),
    "y three classes": (lambda: (X, np.arange(10) % 3), ValueError, "binary"),
    "y continuous": (lambda: (X, np.linspace(0, 1, 10)), ValueError, "Unknown label type"),
    "lengths differ": (lambda: (X, Y[:-1]), ValueError, "inconsistent numbers of samples"),
}


@pytest.mark.parametrize("case", list(BAD_FIT))
@pytest.mark.parametrize("kind", list(ESTIMATORS))
def test_fit_rejects_bad_data(kind, case):
    make, exc, match = BAD_FIT[case]
    Xb, yb = make()
    with pytest.raises(exc, match=match):
        ESTIMATORS[kind]().fit(Xb, yb)


BAD_SOURCE = {
    "nan": (_with(W, 0, np.nan), ValueError, "source_coef must contain only finite"),
    "inf": (_with(W, 1, -np.inf), ValueError, "source_coef must contain only finite"),
    "complex": (W + 1j, TypeError, "source_coef must hold real numbers"),
    "strings": (np.array(["a"] * 4), TypeError, "source_coef must be a numeric array"),
    "empty": (np.array([]), ValueError, "source_coef must not be empty"),
    "2-D": (W[None, :], ValueError, "source_coef must be a 1-D array"),
    "too short": (W[:3], ValueError, "source_coef has length 3"),
}


@pytest.mark.parametrize("case", list(BAD_SOURCE))
@pytest.mark.parametrize("kind", list(ESTIMATORS))
def test_fit_rejects_bad_source_coef(kind, case):
    w, exc, match = BAD_SOURCE[case]
    with pytest.raises(exc, match=match):
        ESTIMATORS[kind](w=w).fit(X, Y)


@pytest.mark.parametrize(
    "params, exc, match",
    [
        ({"alpha": float("nan")}, ValueError, "'alpha' parameter"),
        ({"alpha": np.inf}, ValueError, "'alpha' parameter"),
        ({"alpha": 1j}, ValueError, "'alpha' parameter"),
        ({"alpha": "best"}, ValueError, "'alpha' parameter"),
        ({"gamma": 0.0}, ValueError, "'gamma' parameter"),
        ({"gamma": float("nan")}, ValueError, "'gamma' parameter"),
        ({"gamma": "1"}, ValueError, "'gamma' parameter"),
    ],
)
def test_alpharidge_rejects_bad_hyperparameters(params, exc, match):
    with pytest.raises(exc, match=match):
        AlphaRidge(source_coef=W, **params).fit(X, Y)


@pytest.mark.parametrize(
    "gammas, exc, match",
    [
        ([np.nan], ValueError, "gammas must contain only finite"),
        ([np.inf, 1.0], ValueError, "gammas must contain only finite"),
        ([], ValueError, "gammas must not be empty"),
        ([1.0, -1.0], ValueError, "gammas must be a non-empty array of finite values > 0"),
        ([0.0], ValueError, "> 0"),
        (["a"], TypeError, "gammas must be a numeric array"),
        ([1 + 1j], TypeError, "gammas must hold real numbers"),
    ],
)
@pytest.mark.parametrize("criterion", ["evidence", "loo", "margin"])
def test_alpharidgecv_rejects_bad_gammas(gammas, exc, match, criterion):
    with pytest.raises(exc, match=match):
        AlphaRidgeCV(source_coef=W, gammas=gammas, criterion=criterion).fit(X, Y)


@pytest.mark.parametrize(
    "alphas, exc, match",
    [
        ([], ValueError, "alphas must not be empty"),
        ([0.0, np.nan], ValueError, "alphas must contain only finite"),
        ([np.inf], ValueError, "alphas must contain only finite"),
        (["a"], TypeError, "alphas must be a numeric array"),
        ([1j], TypeError, "alphas must hold real numbers"),
        ([[1.0]], ValueError, "alphas must have 1 dimension"),
    ],
)
def test_alpha_path_rejects_bad_alphas(alphas, exc, match):
    with pytest.raises(exc, match=match):
        AlphaRidge(source_coef=W).alpha_path(X, Y, alphas)


@pytest.mark.parametrize("case", list(BAD_FIT))
def test_alpha_path_rejects_bad_data(case):
    make, exc, match = BAD_FIT[case]
    Xb, yb = make()
    with pytest.raises(exc, match=match):
        AlphaRidge(source_coef=W).alpha_path(Xb, yb, [0.0, 1.0])


@pytest.mark.parametrize("kind", list(ESTIMATORS))
def test_predict_rejects_bad_rows(kind):
    est = ESTIMATORS[kind]().fit(X, Y)
    for bad, match in ((_with(X, (1, 1), np.nan), "NaN"), (X[:, :3], "3 features"),
                       (X[:0], "0 sample"), (X + 1j, "Complex")):
        with pytest.raises(ValueError, match=match):
            est.predict(bad)


# ---------------------------------------------------------------------------------- amazon
@pytest.mark.parametrize(
    "args, exc, match",
    [
        ((3,), TypeError, "domain must be a string"),
        (("music",), ValueError, "unknown domain 'music'"),
        (("books", "/nonexistent/folder"), FileNotFoundError, "/nonexistent/folder/books_400.mat"),
    ],
)
def test_amazon_load_bad_arguments(args, exc, match):
    with pytest.raises(exc, match=match):
        amazon.load(*args)


@pytest.mark.parametrize(
    "Xb, exc, match",
    [
        (_with(X, (0, 0), np.nan), ValueError, "X must contain only finite"),
        (X[:0], ValueError, "X must not be empty"),
        (X[0], ValueError, "X must have 2 dimension"),
        (np.full((3, 2), "a"), TypeError, "X must be a numeric array"),
        (X + 1j, TypeError, "X must hold real numbers"),
    ],
)
def test_amazon_standardize_bad_arguments(Xb, exc, match):
    with pytest.raises(exc, match=match):
        amazon.standardize(Xb)


@pytest.mark.parametrize(
    "args, exc, match",
    [
        ((np.array([]), 2, 0), ValueError, "y must not be empty"),
        ((np.ones(10), 4, 0), ValueError, "two label values"),
        ((np.array([1, -1, np.nan, 1, -1, 1]), 2, 0), ValueError, "two label values"),
        ((Y, 4, -1), ValueError, "seed must be an integer >= 0"),
        ((Y, 4, 1.5), ValueError, "seed must be an integer"),
        ((Y, 4.0, 1), TypeError, "n_train must be an integer"),
        ((Y, 10, 1), ValueError, "n_train must be in"),
    ],
)
def test_amazon_split_bad_arguments(args, exc, match):
    with pytest.raises(exc, match=match):
        amazon.split(*args)


# ---------------------------------------------------------------------------------- gmm
@pytest.mark.parametrize(
    "mu, n, rng, exc, match",
    [
        (np.array([np.nan, 1.0]), 5, RNG, ValueError, "mu must contain only finite"),
        (np.array([]), 5, RNG, ValueError, "mu must not be empty"),
        (np.array([1j, 1.0]), 5, RNG, TypeError, "mu must hold real numbers"),
        (np.array(["a"]), 5, RNG, TypeError, "mu must be a numeric array"),
        (np.ones((2, 2)), 5, RNG, ValueError, "mu must have 1 dimension"),
        (np.ones(2), 0, RNG, ValueError, "n must be an integer >= 1"),
        (np.ones(2), 2.0, RNG, ValueError, "n must be an integer >= 1"),
        (np.ones(2), 2, 0, TypeError, "rng must be a numpy.random.Generator"),
    ],
)
def test_gmm_sample_bad_arguments(mu, n, rng, exc, match):
    with pytest.raises(exc, match=match):
        gmm.sample(mu, n, rng)


@pytest.mark.parametrize(
    "mu_s, mu_t, exc, match",
    [
        (np.array([np.nan]), np.ones(1), ValueError, "mu_s must contain only finite"),
        (np.ones(2), np.ones(3), ValueError, "same shape"),
        (np.ones(2), np.ones(2) + 1j, TypeError, "mu_t must hold real numbers"),
        (np.array(["a"]), np.ones(1), TypeError, "mu_s must be a numeric array"),
        (np.array([]), np.array([]), ValueError, "mu_s must not be empty"),
    ],
)
def test_gmm_transfer_bad_arguments(mu_s, mu_t, exc, match):
    with pytest.raises(exc, match=match):
        gmm.Transfer(mu_s, mu_t)


def test_transfer_does_not_freeze_the_callers_array():
    mu = np.ones(3)
    gmm.Transfer(mu, mu)
    mu[0] = 2.0  # used to raise: Transfer set the caller's array read-only


# ---------------------------------------------------------------------------------- simulate
TR = gmm.Transfer.from_beta(0.5, 1.0, 1.0, 5)
GOOD = {"transfer": TR, "n": 5, "N": 10, "gamma_pre": 1.0, "gamma_ft": 1.0}


@pytest.mark.parametrize(
    "field, value, exc, match",
    [
        ("transfer", "x", TypeError, "transfer must be a linear.gmm.Transfer"),
        ("n", 0, ValueError, "n must be an integer >= 1"),
        ("N", 2.5, ValueError, "N must be an integer >= 1"),
        ("gamma_pre", np.nan, ValueError, "gamma_pre must be a finite float > 0"),
        ("gamma_ft", 0.0, ValueError, "gamma_ft must be a finite float > 0"),
        ("gamma_pre", "1", TypeError, "gamma_pre must be a real number"),
        ("gamma_ft", 1j, TypeError, "gamma_ft must be a real number"),
        ("gamma_pre", None, TypeError, "gamma_pre must be a real number"),
        ("source_coef", np.full(5, np.nan), ValueError, "source_coef must contain only finite"),
        ("source_coef", np.ones(5) + 1j, TypeError, "source_coef must hold real numbers"),
        ("source_coef", np.ones(4), ValueError, r"source_coef must be a finite array of shape \(5,\)"),
    ],
)
def test_simulate_setting_bad_fields(field, value, exc, match):
    with pytest.raises(exc, match=match):
        simulate.Setting(**(GOOD | {field: value}))


@pytest.mark.parametrize(
    "kw, exc, match",
    [
        ({"alphas": []}, ValueError, "alphas must not be empty"),
        ({"alphas": [np.nan]}, ValueError, "alphas must contain only finite"),
        ({"alphas": ["a"]}, TypeError, "alphas must be a numeric array"),
        ({"alphas": [1j]}, TypeError, "alphas must hold real numbers"),
        ({"seeds": 0}, ValueError, "seeds must name at least one seed"),
        ({"seeds": [1.5]}, TypeError, r"seeds\[\] must be an integer"),
        ({"seeds": [-1]}, ValueError, r"seeds\[\] must be an integer >= 0"),
        ({"seeds": "ab"}, TypeError, "seeds must be an int or a sequence"),
        ({"settings": []}, ValueError, "at least one Setting"),
        ({"settings": ["x"]}, TypeError, "settings must be linear.simulate.Setting"),
        ({"n_test": 0}, ValueError, "n_test must be None or an integer >= 1"),
        ({"n_test": True}, ValueError, "n_test must be None or an integer >= 1"),
    ],
)
def test_simulate_bad_arguments(kw, exc, match):
    args = {"settings": simulate.Setting(**GOOD), "alphas": [0.0, 1.0], "seeds": 2} | kw
    with pytest.raises(exc, match=match):
        simulate.simulate(args.pop("settings"), args.pop("alphas"), args.pop("seeds"),
                          progress=False, **args)


def test_bootstrap_argmax_bad_arguments():
    with pytest.raises(ValueError, match="accuracy must not be empty"):
        simulate.bootstrap_argmax(np.zeros((0, 3)), np.arange(3.0), RNG)
    with pytest.raises(ValueError, match="accuracy has 3 columns but alphas has 2"):
        simulate.bootstrap_argmax(np.zeros((2, 3)), np.arange(2.0), RNG)
    with pytest.raises(ValueError, match="accuracy must contain only finite"):
        simulate.bootstrap_argmax(np.full((2, 3), np.nan), np.arange(3.0), RNG)
    with pytest.raises(ValueError, match="n_boot must be an integer >= 1"):
        simulate.bootstrap_argmax(np.zeros((2, 3)), np.arange(3.0), RNG, n_boot=0)


# ---------------------------------------------------------------------------------------------
# issue 14 item 5: no silent wrong answers in linear.selection / linear.solve / AlphaRidge
# ---------------------------------------------------------------------------------------------
XS = RNG.standard_normal((20, 5))
YS = np.where(RNG.random(20) < 0.5, -1.0, 1.0)
YS[:2] = [-1.0, 1.0]
WS = RNG.standard_normal(5)
ALPHA_FUNCS = {
    "plugin": lambda X, y, w, g: selection.plugin_alpha(X, y, w, g),
    "loo": lambda X, y, w, g: selection.loo_alpha(X, y, w, g),
    "kfold": lambda X, y, w, g: selection.kfold_alpha(X, y, w, g),
    "margin_moments": lambda X, y, w, g: selection.margin_moments(X, y, w, g),
}
JOINT_FUNCS = {
    "loo": selection.loo_alpha_gamma,
    "margin": selection.margin_alpha_gamma,
    "evidence": selection.evidence_alpha_gamma,
}


@pytest.mark.parametrize("gamma", [-1.0, 0.0, np.nan, np.inf])
@pytest.mark.parametrize("name", list(ALPHA_FUNCS))
def test_selection_rejects_bad_gamma(name, gamma):
    with pytest.raises(ValueError, match="gamma must be a finite float > 0"):
        ALPHA_FUNCS[name](XS, YS, WS, gamma)


@pytest.mark.parametrize("name", list(ALPHA_FUNCS))
def test_selection_rejects_zero_one_labels(name):
    with pytest.raises(ValueError, match="y must be coded -1 / \\+1"):
        ALPHA_FUNCS[name](XS, (YS + 1) / 2, WS, 1.0)


@pytest.mark.parametrize("name", list(JOINT_FUNCS))
def test_joint_selection_rejects_zero_one_labels(name):
    with pytest.raises(ValueError, match="y must be coded -1 / \\+1"):
        JOINT_FUNCS[name](XS, (YS + 1) / 2, WS)


def test_selection_with_pm1_labels_matches_alpharidge_with_any_two_labels():
    # AlphaRidge maps its two labels to -1/+1 (classes_[1] = +1); the selection functions take
    # -1/+1 directly: both routes must agree (reference: the sorted label order of np.unique)
    labels = np.where(YS > 0, "yes", "no")  # "yes" > "no": classes_[1] = "yes" -> +1
    clf = AlphaRidge(source_coef=WS, alpha="loo", gamma=0.5).fit(XS, labels)
    assert clf.alpha_ == pytest.approx(selection.loo_alpha(XS, YS, WS, 0.5), rel=1e-12)


@pytest.mark.parametrize("gamma", [0.0, -1.0, np.nan])
def test_solve_rejects_non_positive_gamma(gamma):
    with pytest.raises(ValueError, match="gamma must be a finite float > 0"):
        solve.affine_parts(XS, YS, WS, gamma)
    with pytest.raises(ValueError, match="gamma must be a finite float > 0"):
        solve.ridge(XS, YS, gamma)
    with pytest.raises(ValueError, match="gamma must be a finite float > 0"):
        solve.ridge(XS[:3], YS[:3], gamma)  # dual branch
    with pytest.raises(ValueError, match="gamma must be a finite float > 0"):
        solve.loo_parts(XS, YS, WS, gamma)


def test_auto_alpha_on_all_zero_rows_warns():
    with pytest.warns(RuntimeWarning, match="no signal"):
        clf = AlphaRidge(source_coef=WS, alpha="auto").fit(np.zeros((20, 5)), YS)
    assert abs(clf.alpha_) == selection.ALPHA_LIMIT


def test_auto_alpha_on_informative_rows_does_not_warn():
    Xi = YS[:, None] * np.array([1.0, 0.5, 0, 0, 0]) + RNG.standard_normal((20, 5))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        AlphaRidge(source_coef=np.array([1.0, 0.4, 0, 0, 0]), alpha="auto").fit(Xi, YS)


@pytest.mark.parametrize("params", [{"alpha": True}, {"alpha": False}, {"gamma": True},
                                    {"alpha": np.bool_(True)}])
def test_alpharidge_refuses_booleans(params):
    with pytest.raises((TypeError, ValueError), match="alpha|gamma"):
        AlphaRidge(source_coef=WS, **params).fit(XS, YS)


@pytest.mark.parametrize("value", ["1", [True, False, True, False, True], ["1"] * 5])
def test_source_coef_and_gammas_refuse_strings_and_booleans(value):
    with pytest.raises(TypeError, match="source_coef.? (must be a numeric array|parameter)"):
        AlphaRidge(source_coef=value, alpha=1.0).fit(XS, YS)
    with pytest.raises(TypeError, match="gammas.? (must be a numeric array|parameter)"):
        AlphaRidgeCV(source_coef=WS, gammas=value).fit(XS, YS)

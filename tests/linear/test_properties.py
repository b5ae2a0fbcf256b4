"""Property-based tests (hypothesis) for :class:`linear.AlphaRidge` over random problems.

Random shapes (``n`` in [2, 25], ``p`` in [1, 25], both regimes n < p and n >= p), random
features, source vectors, penalties and alpha grids, and labels of ANY two values (two
integers or two strings, in any order and proportion, both present).

Properties:

1. ``alpha_path`` row k equals ``coef_`` after refitting at ``alphas[k]``;
2. at ``alpha = 0`` the coefficients equal scikit-learn's
   ``Ridge(alpha=n * gamma, fit_intercept=False)`` on the labels coded −1 / +1
   (``classes_[1]`` = +1);
3. the path is affine in alpha: ``w(a) = w(0) + a (w(1) − w(0))``; predictions are always one
   of the two labels, and ``classes_[1]`` exactly where the score is >= 0;
4. relabelling: renaming the two labels (order-preserving) changes nothing but ``classes_``.

Fixed profile: ``max_examples=EXAMPLES`` (150) per property, ``deadline=None``, no example
database (nothing written to the working tree). ``pytest --hypothesis-show-statistics`` prints
the number of examples each property ran.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.linear_model import Ridge

from linear import AlphaRidge

EXAMPLES = 150
PROFILE = settings(max_examples=EXAMPLES, deadline=None, database=None,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

finite = st.floats(-10.0, 10.0, allow_nan=False, allow_infinity=False, width=64)
gammas = st.floats(1e-2, 1e2)
alpha_values = st.floats(-50.0, 50.0, allow_nan=False)


@st.composite
def label_pairs(draw):
    """Two distinct labels of one type: ints or (unicode) strings."""
    kind = draw(st.sampled_from(["int", "str"]))
    base = st.integers(-10**6, 10**6) if kind == "int" else st.text(min_size=1, max_size=6)
    a, b = draw(st.lists(base, min_size=2, max_size=2, unique=True))
    return np.array([a, b])


@st.composite
def problems(draw):
    n = draw(st.integers(2, 25))
    p = draw(st.integers(1, 25))
    X = draw(arrays(np.float64, (n, p), elements=finite))
    labels = draw(label_pairs())
    codes = draw(arrays(np.int64, n, elements=st.integers(0, 1)))
    i, j = draw(st.lists(st.integers(0, n - 1), min_size=2, max_size=2, unique=True))
    codes[i], codes[j] = 0, 1  # both labels present
    y = labels[codes]
    w = draw(arrays(np.float64, p, elements=finite))
    return X, y, w, draw(gammas)


def _close(a, b, scale):
    np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-9 * (1.0 + scale))


@PROFILE
@given(problems(), st.lists(alpha_values, min_size=1, max_size=6))
def test_alpha_path_equals_refitting_at_each_alpha(prob, alphas):
    X, y, w, gamma = prob
    path = AlphaRidge(source_coef=w, gamma=gamma).alpha_path(X, y, alphas)
    assert path.shape == (len(alphas), X.shape[1])
    for a, row in zip(alphas, path, strict=True):
        coef = AlphaRidge(source_coef=w, alpha=a, gamma=gamma).fit(X, y).coef_
        _close(row, coef, np.abs(coef).max())


@PROFILE
@given(problems())
def test_alpha_zero_is_sklearn_ridge_without_intercept(prob):
    X, y, w, gamma = prob
    clf = AlphaRidge(source_coef=w, alpha=0.0, gamma=gamma).fit(X, y)
    ys = np.where(y == clf.classes_[1], 1.0, -1.0)
    ref = Ridge(alpha=X.shape[0] * gamma, fit_intercept=False, solver="cholesky").fit(X, ys).coef_
    _close(clf.coef_, ref, np.abs(ref).max())
    assert set(clf.classes_.tolist()) == set(np.unique(y).tolist())


@PROFILE
@given(problems(), alpha_values)
def test_path_is_affine_and_predictions_are_labels(prob, a):
    X, y, w, gamma = prob
    w0, w1, wa = AlphaRidge(source_coef=w, gamma=gamma).alpha_path(X, y, [0.0, 1.0, a])
    _close(wa, w0 + a * (w1 - w0), np.abs(w0).max() + abs(a) * np.abs(w1 - w0).max())
    clf = AlphaRidge(source_coef=w, alpha=a, gamma=gamma).fit(X, y)
    pred = clf.predict(X)
    assert set(pred.tolist()) <= set(clf.classes_.tolist())
    np.testing.assert_array_equal(pred == clf.classes_[1], clf.decision_function(X) >= 0)


@PROFILE
@given(problems(), alpha_values)
def test_renaming_labels_changes_only_classes(prob, a):
    X, y, w, gamma = prob
    classes = np.unique(y)
    renamed = np.where(y == classes[1], "zz-second", "aa-first")  # same order of classes
    c1 = AlphaRidge(source_coef=w, alpha=a, gamma=gamma).fit(X, y)
    c2 = AlphaRidge(source_coef=w, alpha=a, gamma=gamma).fit(X, renamed)
    np.testing.assert_array_equal(c1.coef_, c2.coef_)
    assert c2.classes_.tolist() == ["aa-first", "zz-second"]

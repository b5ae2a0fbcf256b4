"""``AlphaRidge``: the alpha-scaled fine-tuned linear classifier as a scikit-learn estimator.

Given a source classifier ``w̃`` (``source_coef``, shape ``(p,)``) and target training rows
``X`` (shape ``(n, p)``, samples in ROWS as in scikit-learn; docs/theory.md writes the transpose,
``p × n``), the classifier is (docs/theory.md §1.3)

    w_alpha = argmin_w (1/n) ‖y − X w‖² + gamma ‖w − alpha w̃‖²  =  u + alpha v,
    u = Q Xᵀ y / n,   v = gamma Q w̃,   Q = (Xᵀ X / n + gamma I_p)^{-1},

with labels coded ``y = −1`` for ``classes_[0]`` and ``y = +1`` for ``classes_[1]``; prediction
is ``classes_[1]`` where ``x · w_alpha >= 0`` (ties go to +1, docs/theory.md §1.4). No intercept.
The source classifier must use the same sign convention (positive score = ``classes_[1]``).

* ``alpha = 0``: target-only ridge, equal to ``Ridge(alpha=n * gamma, fit_intercept=False)``;
  ``alpha = 1``: standard full-rank fine-tuning ("LoRA");
* ``alpha = "auto"``: plug-in alpha* from the training rows (:func:`linear.selection.plugin_alpha`,
  theory of :mod:`rmt.arbitrary`; with ``covariance="source"``, ``"unlabeled"`` or an array,
  the general-covariance theory of :mod:`rmt.anisotropic` with a covariance estimated without
  test rows, :mod:`linear.covariance`);
* ``alpha = "loo"``: closed-form leave-one-out alpha (:func:`linear.selection.loo_alpha`).

:class:`AlphaRidgeCV` chooses alpha AND gamma jointly from the training rows (empirical-Bayes
evidence by default, or leave-one-out), the honest choice that worked best on the Amazon Review
study (``figures/study_alpha_estimators.py``).
"""

from __future__ import annotations

import warnings
from numbers import Real
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted, check_X_y, validate_data

from . import covariance as cov_estimates
from .selection import SURFACES, Surface, loo_alpha, plugin_alpha
from .solve import affine_parts, loo_parts
from .validation import finite_array

__all__ = ["AlphaRidge", "AlphaRidgeCV"]


class _AlphaRidgeClassifier(ClassifierMixin, BaseEstimator):
    """What :class:`AlphaRidge` and :class:`AlphaRidgeCV` share once fitted: the linear score
    ``X · coef_`` (no intercept), the ±1 decision rule with ties to ``classes_[1]``, and the
    scikit-learn tags of a binary-only classifier. Subclasses set ``coef_`` and ``classes_``."""

    coef_: np.ndarray
    classes_: np.ndarray

    def decision_function(self, X: ArrayLike) -> np.ndarray:
        """Scores ``X · w_alpha`` (shape (n_samples,)); positive means ``classes_[1]``."""
        check_is_fitted(self)
        Xv = validate_data(self, X, dtype=np.float64, reset=False)
        return Xv @ self.coef_

    def predict(self, X: ArrayLike) -> np.ndarray:
        """``classes_[1]`` where the score is ``>= 0``, else ``classes_[0]``."""
        scores = self.decision_function(X)
        return self.classes_[(scores >= 0.0).astype(int)]

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags


class AlphaRidge(_AlphaRidgeClassifier):
    """Ridge classifier fine-tuned from a source classifier, with the source scaled by alpha.

    Solves ``argmin_w (1/n)‖y − X w‖² + gamma ‖w − alpha w̃‖²`` (module docstring) for a binary
    problem with labels of any two values.

    Parameters
    ----------
    source_coef : array-like of shape (n_features,) or None, default=None
        The source classifier ``w̃`` (e.g. ridge trained on source data, see
        :func:`linear.solve.ridge`), independent of the target data. ``None`` means the zero
        vector: alpha then has no effect and the model is target-only ridge (``alpha_ = 0`` for
        ``"auto"``/``"loo"``). Its length fixes the number of features accepted by ``fit``.
        Two forms do not fix it (so that scikit-learn's ``check_estimator`` runs with alpha
        active on data of any width): a real number ``c`` is broadcast to ``c * ones(p)``, and a
        callable is called as ``source_coef(p)`` and must return a vector of length ``p``.
    alpha : float or {"auto", "loo"}, default=1.0
        Scale of the source classifier. ``"auto"``: the plug-in alpha* of docs/theory.md §6.3,
        estimated from the training rows only; ``"loo"``: the alpha minimising the closed-form
        leave-one-out squared error. Estimates are clipped to ``±linear.selection.ALPHA_LIMIT``.
    gamma : float > 0, default=1.0
        Fine-tuning penalty ``gamma_ft`` (``1/n`` convention: sklearn ``Ridge(alpha=n*gamma)``).
    covariance : str, array-like (p, p) or CovarianceEstimate, default="isotropic"
        Noise covariance assumed by ``alpha="auto"`` (ignored for the other alphas).
        ``"isotropic"``: the identity (the theory of :mod:`rmt.arbitrary`). ``"source"``: the
        pooled within-class covariance of the SOURCE rows passed to ``fit`` as ``X_source``,
        ``y_source`` (:func:`linear.covariance.from_source`). ``"unlabeled"``: the second
        moment ``Sigma + mu_t mu_tᵀ`` of unlabeled target rows passed as ``X_unlabeled`` (they
        must not be test rows; :func:`linear.covariance.from_unlabeled`). An array: that
        covariance. A :class:`linear.covariance.CovarianceEstimate` (e.g. from
        :func:`linear.covariance.for_split`): that estimate, origin included. The default stays
        ``"isotropic"`` until a held-out study shows the anisotropic plug-in is better.
    covariance_shrinkage : {"ledoit-wolf", "none"}, default="ledoit-wolf"
        Shrinkage of the estimated covariances.

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,)
        ``w_alpha`` at the chosen alpha.
    alpha_ : float
        The alpha used (equal to ``alpha`` when a number was given).
    covariance_ : linear.covariance.CovarianceEstimate or None
        The covariance used by ``alpha="auto"`` (None: identity, or alpha not estimated).
    covariance_origin_ : str
        Where that covariance came from (which rows, how many, which shrinkage); report it.
    source_coef_ : ndarray of shape (n_features,)
        ``w̃`` as used (zeros when ``source_coef=None``).
    classes_ : ndarray of shape (2,)
        The two labels; ``classes_[1]`` is coded +1.
    n_features_in_ : int
    intercept_ : float
        Always 0.0 (no intercept, as in the theory).

    Examples
    --------
    >>> import numpy as np
    >>> from linear import AlphaRidge
    >>> X = np.array([[1.0, 0.0], [0.9, 0.2], [-1.0, 0.1], [-0.8, -0.3]])
    >>> clf = AlphaRidge(source_coef=[1.0, 0.0], alpha=1.0).fit(X, ["pos", "pos", "neg", "neg"])
    >>> clf.predict([[2.0, 0.0]]).tolist()
    ['pos']
    """

    _parameter_constraints: dict = {
        "source_coef": ["array-like", Real, callable, None],
        "alpha": [Interval(Real, None, None, closed="neither"), StrOptions({"auto", "loo"})],
        "gamma": [Interval(Real, 0.0, None, closed="neither")],
        "covariance": [StrOptions({"isotropic", "source", "unlabeled"}), "array-like",
                       cov_estimates.CovarianceEstimate],
        "covariance_shrinkage": [StrOptions(set(cov_estimates.SHRINKAGE))],
    }

    def __init__(self, source_coef: ArrayLike | None = None, alpha: float | str = 1.0,
                 gamma: float = 1.0, covariance: str | ArrayLike = "isotropic",
                 covariance_shrinkage: str = "ledoit-wolf") -> None:
        self.source_coef = source_coef
        self.alpha = alpha
        self.gamma = gamma
        self.covariance = covariance
        self.covariance_shrinkage = covariance_shrinkage

    # -- helpers --------------------------------------------------------------------------
    def _source(self, n_features: int) -> np.ndarray:
        return _source_vector(self.source_coef, n_features)

    def _check_gamma(self) -> float:
        g = float(self.gamma)
        if not np.isfinite(g) or g <= 0:
            raise ValueError(f"gamma must be a finite float > 0, got {self.gamma!r}")
        return g

    # -- scikit-learn API -----------------------------------------------------------------
    def _covariance(self, X: np.ndarray, y: np.ndarray, X_source: ArrayLike | None,
                    y_source: ArrayLike | None,
                    X_unlabeled: ArrayLike | None) -> cov_estimates.CovarianceEstimate | None:
        """The covariance of ``alpha="auto"`` (None for the identity), from the rows allowed."""
        c, shrink = self.covariance, self.covariance_shrinkage
        p = X.shape[1]
        if isinstance(c, str):
            if c == "isotropic":
                return None
            if c == "source":
                if X_source is None or y_source is None:
                    raise ValueError("covariance='source' needs the source rows: call "
                                     "fit(X, y, X_source=..., y_source=...)")
                est = cov_estimates.from_source(X_source, y_source, shrink)
            else:
                if X_unlabeled is None:
                    raise ValueError("covariance='unlabeled' needs unlabeled target rows that are "
                                     "not test rows: call fit(X, y, X_unlabeled=...)")
                est = cov_estimates.from_unlabeled(X_unlabeled, shrink)
        elif isinstance(c, cov_estimates.CovarianceEstimate):
            est = c
        else:
            est = cov_estimates.given(c)
        if est.matrix.shape != (p, p):
            raise ValueError(f"the covariance ({est.origin}) has shape {est.matrix.shape} but X "
                             f"has {p} features; allowed: ({p}, {p})")
        return est

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: ArrayLike, y: ArrayLike, X_source: ArrayLike | None = None,
            y_source: ArrayLike | None = None, X_unlabeled: ArrayLike | None = None) -> AlphaRidge:
        """Fit ``w_alpha`` on target training rows ``X`` (n, p) with labels ``y`` (n,).

        ``X_source, y_source`` (source rows and labels) and ``X_unlabeled`` (unlabeled target
        rows, never test rows) are read only by ``alpha="auto"`` with ``covariance="source"`` /
        ``"unlabeled"`` respectively.
        """
        for name in ("alpha", "gamma"):
            if isinstance(getattr(self, name), bool | np.bool_):
                raise TypeError(f"{name} must be a real number, not a boolean; got "
                                f"{getattr(self, name)!r}")
        if isinstance(self.alpha, float) and not np.isfinite(self.alpha):
            raise ValueError(f"alpha must be a finite float or 'auto' or 'loo', got {self.alpha!r}")
        gamma = self._check_gamma()
        Xv, yv = validate_data(self, X, y, dtype=np.float64)
        ys, classes = _signed(yv)
        w = self._source(Xv.shape[1])
        path = affine_parts(Xv, ys, w, gamma)
        cov = None
        if isinstance(self.alpha, str):
            if not np.any(w):
                alpha = 0.0  # alpha has no effect with a zero source
            elif Xv.shape[0] < 2:
                raise ValueError(f"alpha={self.alpha!r} needs at least 2 training rows, got 1")
            elif self.alpha == "auto":
                cov = self._covariance(Xv, ys, X_source, y_source, X_unlabeled)
                alpha = plugin_alpha(Xv, ys, w, gamma, covariance=cov)
            else:
                alpha = loo_alpha(Xv, ys, w, gamma)
        else:
            alpha = float(self.alpha)
        self.covariance_ = cov
        if cov is not None:
            self.covariance_origin_ = cov.origin
        elif self.alpha == "auto" and np.any(w):
            self.covariance_origin_ = "isotropic: identity covariance (no rows read)"
        else:
            self.covariance_origin_ = f"not used (alpha={self.alpha!r})"
        self.classes_ = classes
        self.source_coef_ = w
        self.alpha_ = alpha
        self.coef_ = path.coef(alpha)
        self.intercept_ = 0.0
        return self

    def alpha_path(self, X: ArrayLike, y: ArrayLike, alphas: ArrayLike) -> np.ndarray:
        """Coefficients ``w_alpha`` for a whole grid of alphas from ONE factorisation.

        ``w_alpha = u + alpha v`` (module docstring); row ``k`` equals ``coef_`` of this estimator
        fitted on ``(X, y)`` with ``alpha=alphas[k]``. Uses the dual (Woodbury) form when
        ``n < p``. Does not change the estimator.

        Parameters
        ----------
        X : array-like (n, p); y : array-like (n,) with two classes; alphas : array-like (k,)

        Returns
        -------
        ndarray of shape (k, p)
        """
        gamma = self._check_gamma()
        a = finite_array("alphas", alphas, ndim=1)
        Xv, yv = check_X_y(X, y, dtype=np.float64)
        ys, _ = _signed(yv)
        return affine_parts(Xv, ys, self._source(Xv.shape[1]), gamma).coef(a)


def _source_vector(source_coef: ArrayLike | None, n_features: int) -> np.ndarray:
    """``source_coef`` as a float vector of length ``n_features`` (zeros for None), or an error
    naming the argument."""
    if source_coef is None:
        return np.zeros(n_features)
    if isinstance(source_coef, bool | np.bool_):
        raise TypeError(f"source_coef must be an array, a real number or a callable, got "
                        f"{source_coef!r}")
    if callable(source_coef):
        w = finite_array("source_coef(n_features)", source_coef(n_features))
    elif np.ndim(source_coef) == 0:  # broadcast rule: a number c means c * ones(n_features)
        return np.full(n_features, finite_array("source_coef", source_coef).item())
    else:
        w = finite_array("source_coef", source_coef)
    if w.ndim != 1:
        raise ValueError(
            f"source_coef must be a 1-D array of length n_features={n_features}, "
            f"got shape {w.shape}"
        )
    if w.shape[0] != n_features:
        raise ValueError(
            f"source_coef has length {w.shape[0]} but X has {n_features} features; "
            "they must be equal"
        )
    return w


def _signed(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Labels of exactly two classes -> (``y`` coded −1 / +1, ``classes``), or a clear error."""
    check_classification_targets(y)
    y_type = type_of_target(y, input_name="y", raise_unknown=True)
    if y_type != "binary":
        raise ValueError(
            "Only binary classification is supported. The type of the target is "
            f"{y_type!r}; y must contain exactly two classes."
        )
    classes = np.unique(y)
    if classes.shape[0] != 2:
        raise ValueError(
            f"y must contain exactly two classes (AlphaRidge is a binary classifier), got "
            f"{classes.shape[0]} class(es): {classes[:5].tolist()}"
        )
    return np.where(y == classes[1], 1.0, -1.0), classes


#: Criteria of :class:`AlphaRidgeCV` (each a gamma-grid surface of :mod:`linear.selection`);
#: ``"auto"`` picks one of them per fit by the rule of :func:`auto_criterion`.
CRITERIA = ("loo", "kfold", "evidence", "margin")


def _loo_accuracy(X: np.ndarray, y: np.ndarray, w: np.ndarray, alpha: float,
                  gamma: float) -> tuple[float, float]:
    """Closed-form leave-one-out accuracy and squared error of the alpha-ridge at
    ``(alpha, gamma)`` on the training rows: the LOO margin of row i is ``c_i + alpha d_i``
    (:func:`linear.selection.margin_moments`)."""
    parts = loo_parts(X, y, w, gamma)
    margin = (1.0 - y * parts.a) + alpha * (y * parts.b)
    return float(np.mean(margin > 0)), float(parts.error(alpha))


def auto_criterion(X: np.ndarray, y: np.ndarray, w: np.ndarray,
                    gammas: ArrayLike | None) -> tuple[str, Surface, dict[str, float]]:
    """The rule behind ``criterion="auto"``, fixed before any test row is seen: run every
    criterion of :data:`CRITERIA` on the training rows and keep the one whose chosen
    ``(alpha, gamma)`` has the highest closed-form leave-one-out ACCURACY (the quantity the
    classifier is judged on); ties go to the lower LOO squared error, then to the order of
    :data:`CRITERIA`."""
    best: tuple[float, float, int] | None = None
    chosen, scores = "", {}
    surfaces = {}
    for k, name in enumerate(CRITERIA):
        surf = SURFACES[name](X, y, w, gammas)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            a, g = surf.best()
        acc, err = _loo_accuracy(X, y, w, a, g)
        scores[name] = acc
        surfaces[name] = surf
        key = (-acc, err, k)
        if best is None or key < best:
            best, chosen = key, name
    return chosen, surfaces[chosen], scores


class AlphaRidgeCV(_AlphaRidgeClassifier):
    """:class:`AlphaRidge` with (alpha, gamma) chosen jointly from the training rows only.

    For each ``gamma`` of a grid the best alpha is closed-form; the pair optimising the
    criterion is kept (:mod:`linear.selection`):

    * ``"auto"`` (default): one of the four below, chosen per fit by a rule written before
      looking at any test row — the criterion whose choice has the best closed-form
      leave-one-out accuracy on the training rows (ties: lower LOO squared error, then the order
      loo, kfold, evidence, margin). Why not ``"evidence"`` (the default before): on the Amazon
      Review study it puts gamma at the top of its grid (the source-only classifier, target data
      ignored) in about half the splits at n = 20, and nothing in the data says that is right;
    * ``"loo"``: closed-form leave-one-out squared error
      (:func:`linear.selection.loo_surface`);
    * ``"kfold"``: 5-fold cross-validated squared error, closed form, deterministic folds
      (:func:`linear.selection.kfold_surface`);
    * ``"evidence"``: type-II maximum likelihood of ``y`` under the Gaussian prior
      ``w ~ N(alpha w̃, tau² I)`` whose posterior mean is the alpha-ridge
      (:func:`linear.selection.evidence_surface`);
    * ``"margin"``: Gaussian accuracy of the leave-one-out margins, maximised in alpha by
      ``rmt.Moments.alpha_star`` (:func:`linear.selection.margin_surface`).

    Large gammas tend to the (rescaled) source classifier, so the family contains both the
    source-only classifier and plain fine-tuning (alpha = gamma = 1). When the chosen gamma is
    at an END of its grid the optimum may lie beyond it: a ``RuntimeWarning`` says so and
    ``at_grid_edge_`` is True (at the top end the fit is effectively the source-only classifier:
    see ``source_only_agreement_``).

    Parameters
    ----------
    source_coef : array-like of shape (n_features,) or None, default=None
        The source classifier ``w̃`` (None: zeros; alpha then has no effect).
    gammas : array-like of positive floats or None, default=None
        Grid of fine-tuning penalties; None: :data:`linear.selection.DEFAULT_GAMMAS`
        (``logspace(-3, 4, 29)``).
    criterion : {"auto", "loo", "kfold", "evidence", "margin"}, default="auto"

    Attributes
    ----------
    alpha_, gamma_ : float
        The chosen pair. ``coef_``, ``classes_``, ``source_coef_``, ``n_features_in_``,
        ``intercept_`` (0.0) as in :class:`AlphaRidge`.
    criterion_ : str
        The criterion used (``criterion``, or the one ``"auto"`` picked).
    cv_results_ : dict of ndarrays
        The criterion's full surface over the grid, scikit-learn style: ``"param_gamma"``,
        ``"param_alpha"`` (the alpha used at that gamma), ``"score"`` (higher is better: minus
        the LOO / K-fold squared error, the log evidence, the LOO-margin accuracy) and
        ``"rank_score"`` (1 = chosen).
    best_index_ : int
        Index of the chosen gamma in ``cv_results_``.
    at_grid_edge_ : bool
        Whether the chosen gamma is the first or last of a grid of more than one value.
    source_only_agreement_ : float
        Share of TRAINING rows on which the fitted classifier predicts as the source-only
        classifier ``sign(x · w̃)`` (NaN when ``w̃ = 0``); near 1 means "target data ignored".
    loo_accuracy_ : dict
        With ``criterion="auto"``: the closed-form LOO accuracy of each criterion's choice.
    """

    _parameter_constraints: dict = {
        "source_coef": ["array-like", Real, callable, None],
        "gammas": ["array-like", None],
        "criterion": [StrOptions({"auto", *CRITERIA})],
    }

    def __init__(self, source_coef: ArrayLike | None = None, gammas: ArrayLike | None = None,
                 criterion: str = "auto") -> None:
        self.source_coef = source_coef
        self.gammas = gammas
        self.criterion = criterion

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: ArrayLike, y: ArrayLike) -> AlphaRidgeCV:
        """Choose (alpha, gamma) on ``X`` (n, p), ``y`` (n,) and fit ``w_alpha``."""
        Xv, yv = validate_data(self, X, y, dtype=np.float64)
        ys, classes = _signed(yv)
        w = _source_vector(self.source_coef, Xv.shape[1])
        if self.criterion == "auto":
            name, surf, loo_acc = auto_criterion(Xv, ys, w, self.gammas)
        else:
            name, surf, loo_acc = self.criterion, SURFACES[self.criterion](Xv, ys, w,
                                                                           self.gammas), {}
        alpha, gamma = surf.best()
        k = surf.best_index
        order = np.argsort(-np.where(np.isfinite(surf.scores), surf.scores, -np.inf),
                           kind="stable")
        rank = np.empty(order.size, dtype=int)
        rank[order] = np.arange(1, order.size + 1)
        self.classes_ = classes
        self.source_coef_ = w
        self.criterion_ = name
        self.alpha_ = float(alpha)
        self.gamma_ = float(gamma)
        self.coef_ = affine_parts(Xv, ys, w, gamma).coef(alpha)
        self.intercept_ = 0.0
        self.cv_results_ = {"param_gamma": surf.gammas.copy(), "param_alpha": surf.alphas.copy(),
                            "score": surf.scores.copy(), "rank_score": rank}
        self.best_index_ = k
        self.loo_accuracy_ = loo_acc
        src = Xv @ w
        self.source_only_agreement_ = float(np.mean((Xv @ self.coef_ >= 0) == (src >= 0))) \
            if np.any(w) else float("nan")
        self.at_grid_edge_ = bool(surf.at_edge)
        if self.at_grid_edge_:
            end = "largest" if k == surf.gammas.size - 1 else "smallest"
            warnings.warn(
                f"AlphaRidgeCV(criterion={name!r}) chose gamma={gamma:.3g}, the {end} value of "
                f"its grid [{surf.gammas.min():.3g}, {surf.gammas.max():.3g}]: the optimum may "
                "lie beyond it; extend `gammas` or prefer another criterion"
                + (f" (the fit agrees with the source-only classifier on "
                   f"{100 * self.source_only_agreement_:.1f} % of the training rows)"
                   if end == "largest" and np.any(w) else ""),
                RuntimeWarning, stacklevel=3,  # past scikit-learn's fit wrapper
            )
        return self

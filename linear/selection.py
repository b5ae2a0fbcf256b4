"""Honest choices of alpha (and gamma) from target TRAINING rows only (docs/theory.md §6.3).

Every function takes the target training rows ``X`` (shape ``(n, p)``, row-major), their labels
``y ∈ {−1, +1}`` (shape ``(n,)``), the source classifier ``w̃`` (shape ``(p,)``) and the
fine-tuning penalty ``gamma``; none of them sees a test row. Every function checks its inputs
(finite 2-D ``X``, labels coded ±1 — 0/1 labels raise instead of giving a wrong alpha —, a
source of length p, ``gamma > 0``) and raises a ``ValueError`` naming the argument.

* :func:`plugin_alpha` — plug the unbiased estimates ``M̂_t``, ``ŝ``, ``W`` into the
  arbitrary-source alpha* of ``rmt`` (the theory's optimum, assumes identity covariance).
* :func:`loo_alpha` — minimise the closed-form leave-one-out squared error (affine in alpha).
* :func:`kfold_alpha` — the same with K stratified folds (closed form too).
* :func:`loo_alpha_gamma` — choose alpha and gamma jointly by leave-one-out: for each gamma of a
  grid the best alpha is closed-form, and one SVD serves every gamma.
* :func:`margin_alpha_gamma` — maximise the Gaussian accuracy ``Phi(m / sigma)`` of the
  leave-one-out margins over (alpha, gamma); the maximiser in alpha is ``rmt.Moments.alpha_star``.
* :func:`evidence_alpha_gamma` — empirical Bayes: maximise the marginal likelihood of the
  training labels under ``w ~ N(alpha w̃, tau² I)``, ``y = X w + N(0, sigma² I)``, whose posterior
  mean is exactly the alpha-ridge with ``gamma = sigma² / (n tau²)``.

The joint searches matter because as gamma → ∞ the alpha-ridge tends to the (rescaled) source
classifier and at gamma = 1, alpha = 1 it is plain fine-tuning: a family containing both
baselines, so a good data-driven choice of (alpha, gamma) can beat each of them.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from rmt import Moments, anisotropic, arbitrary

from .covariance import CovarianceEstimate
from .solve import affine_parts, loo_parts, loo_spectrum
from .validation import finite_array, positive_real, signed_labels

__all__ = [
    "ALPHA_LIMIT",
    "DEFAULT_GAMMAS",
    "plugin_alpha",
    "loo_alpha",
    "kfold_alpha",
    "loo_alpha_gamma",
    "margin_moments",
    "margin_alpha_gamma",
    "evidence_alpha_gamma",
    "kfold_alpha_gamma",
    "stratified_folds",
    "Surface",
    "SURFACES",
    "loo_surface",
    "kfold_surface",
    "margin_surface",
    "evidence_surface",
    "gamma_only",
]

#: Estimated alphas are clipped to ``[-ALPHA_LIMIT, ALPHA_LIMIT]`` (the theory's supremum can be
#: at infinity; the classifier then tends to the direction ``v`` and a large finite alpha is used).
ALPHA_LIMIT = 1e3

#: Default gamma grid of the joint searches: 29 values, log-spaced over ``[1e-3, 1e4]``.
DEFAULT_GAMMAS = np.logspace(-3, 4, 29)


def _inputs(X: np.ndarray, y: np.ndarray, source_coef: np.ndarray,
            gamma: float | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Validated ``(X, y, w̃, gamma)``: ``X`` finite (n, p), ``y`` in {−1, +1}, ``w̃`` (p,),
    ``gamma`` a finite float > 0 (skipped when None)."""
    Xv = finite_array("X", X, ndim=2)
    yv = signed_labels("y", finite_array("y", y, ndim=1), Xv.shape[0])
    w = finite_array("source_coef", source_coef, ndim=1)
    if w.shape[0] != Xv.shape[1]:
        raise ValueError(f"source_coef has length {w.shape[0]} but X has {Xv.shape[1]} columns")
    g = positive_real("gamma", gamma) if gamma is not None else math.nan
    return Xv, yv, w, g


def _clip(alpha: float, what: str) -> float:
    if math.isnan(alpha):
        raise FloatingPointError(f"{what} produced alpha = nan")
    if abs(alpha) > ALPHA_LIMIT:
        warnings.warn(
            f"{what} gave alpha = {alpha:.4g}; clipped to +-{ALPHA_LIMIT:g}", RuntimeWarning,
            stacklevel=3,
        )
        return math.copysign(ALPHA_LIMIT, alpha)
    return float(alpha)


def plugin_alpha(X: np.ndarray, y: np.ndarray, source_coef: np.ndarray, gamma: float,
                 covariance: object = None) -> float:
    """Plug-in alpha* (docs/theory.md §6.3 (1)), isotropic or with a noise covariance.

    With ``z_i = y_i x_i`` and ``S = Σ_i z_i`` over the training rows,
    ``M̂_t = (‖S‖² − Σ‖z_i‖²) / (n(n − 1))`` (floored at ``ŝ² / W``), ``ŝ = ⟨w̃, S⟩ / n``,
    ``W = ‖w̃‖²``; then ``alpha = rmt.arbitrary`` alpha*(M̂_t, ŝ, W; eta = p / n, gamma). Needs
    ``n >= 2``. When the theory's supremum is at ``±inf`` (rare), ``±ALPHA_LIMIT`` is returned.

    ``covariance`` (None: identity, the above): a noise covariance estimated WITHOUT test rows
    — a :class:`linear.covariance.CovarianceEstimate`, a (p, p) array, an
    ``(eigenvalues, eigenvectors)`` pair or an ``rmt.anisotropic.Spectrum``. The moments are then
    those of ``rmt.anisotropic`` with the same unbiased U-statistics
    (:func:`rmt.anisotropic.plugin_statistics`; an estimate with ``includes_mean=True``, from
    unlabeled target rows, is read as ``Sigma + mu_t mu_tᵀ``); with the identity both routes
    agree.
    """
    X, y, source_coef, gamma = _inputs(X, y, source_coef, gamma)
    if covariance is None:
        stats = arbitrary.plugin_statistics(X, y, source_coef)
        what = f"M_t={stats.M_t:.3g}, s={stats.s:.3g}, W={stats.W:.3g}"
        empty = stats.M_t == 0.0 and stats.s == 0.0
        star = stats.alpha_star
    else:
        if not np.any(source_coef):
            raise ValueError("source_coef is the zero vector: alpha has no effect")
        if isinstance(covariance, CovarianceEstimate):
            an = anisotropic.plugin_statistics(X, y, source_coef, covariance.spectrum,
                                               includes_mean=covariance.includes_mean)
        else:
            an = anisotropic.plugin_statistics(X, y, source_coef, covariance)
        what = "anisotropic covariance"
        empty = not np.any(an.S)
        star = an.alpha_star
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        a = star(gamma)
    if math.isfinite(a):
        return _clip(a, "plugin_alpha")
    warnings.warn(
        f"plugin_alpha: the plug-in theory ({what}) has its supremum at alpha = {a}; returning "
        f"{math.copysign(ALPHA_LIMIT, a):g} (+-ALPHA_LIMIT)"
        + (" — the training rows carry no signal (M_t = s = 0, e.g. all-zero X)"
           if empty else ""),
        RuntimeWarning, stacklevel=2,
    )
    return math.copysign(ALPHA_LIMIT, a)


def loo_alpha(X: np.ndarray, y: np.ndarray, source_coef: np.ndarray, gamma: float) -> float:
    """Closed-form leave-one-out alpha (docs/theory.md §6.3 (2)).

    ``alpha = ⟨a, b⟩ / ‖b‖²`` with ``a = D^{-1} R y``, ``b = D^{-1} R X w̃``, ``R = I − H``,
    ``H = X (Xᵀ X + n gamma I)^{-1} Xᵀ``, ``D = diag(R)`` (:func:`linear.solve.loo_parts`).
    """
    X, y, source_coef, gamma = _inputs(X, y, source_coef, gamma)
    return _clip(loo_parts(X, y, source_coef, gamma).alpha(), "loo_alpha")


def stratified_folds(y: np.ndarray, n_splits: int, rng: np.random.Generator) -> np.ndarray:
    """Fold index (0 .. n_splits−1) of every row: each class is shuffled with ``rng`` and dealt
    round-robin, so every fold gets both classes whenever each class has ``>= n_splits`` rows."""
    fold = np.empty(y.shape[0], dtype=int)
    start = 0
    for cls in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == cls))
        fold[idx] = (start + np.arange(idx.size)) % n_splits
        start += idx.size
    return fold


def kfold_alpha(
    X: np.ndarray,
    y: np.ndarray,
    source_coef: np.ndarray,
    gamma: float,
    n_splits: int = 5,
    rng: np.random.Generator | None = None,
) -> float:
    """K-fold cross-validated alpha, squared loss, closed form.

    For fold k, fit ``w_alpha = u_k + alpha v_k`` on the other folds; the held-out residuals are
    ``a_k − alpha b_k`` with ``a_k = y_k − X_k u_k`` and ``b_k = X_k v_k``. The total held-out
    squared error is minimal at ``alpha = Σ_k ⟨a_k, b_k⟩ / Σ_k ‖b_k‖²``. Folds are stratified and
    drawn with ``rng`` (default ``numpy.random.default_rng(0)``: deterministic).
    """
    X, y, source_coef, gamma = _inputs(X, y, source_coef, gamma)
    n = X.shape[0]
    if not 2 <= n_splits <= n:
        raise ValueError(f"n_splits must be in [2, n={n}], got {n_splits!r}")
    rng = np.random.default_rng(0) if rng is None else rng
    fold = stratified_folds(y, n_splits, rng)
    num = den = 0.0
    for k in range(n_splits):
        held = fold == k
        if not held.any() or held.all():
            continue
        path = affine_parts(X[~held], y[~held], source_coef, gamma)
        a = y[held] - X[held] @ path.u
        b = X[held] @ path.v
        num += float(a @ b)
        den += float(b @ b)
    return _clip(num / den if den > 0 else 0.0, "kfold_alpha")


@dataclass(frozen=True)
class Surface:
    """A criterion over a gamma grid: for each ``gammas[k]`` the alpha used (the criterion's
    best alpha, or the fixed one) and the criterion value ``scores[k]`` (HIGHER is better:
    minus the LOO / K-fold squared error, the LOO-margin Gaussian accuracy, the log evidence).

    ``best()`` is the chosen ``(alpha, gamma)`` (first maximiser; alpha clipped to
    ``±ALPHA_LIMIT``), ``at_edge`` whether it sits at an end of a grid of more than one gamma.
    """

    criterion: str
    gammas: np.ndarray
    alphas: np.ndarray
    scores: np.ndarray

    @property
    def best_index(self) -> int:
        ok = np.isfinite(self.scores)
        if not ok.any():
            return 0
        return int(np.argmax(np.where(ok, self.scores, -np.inf)))

    @property
    def at_edge(self) -> bool:
        k = self.best_index
        return self.gammas.size > 1 and k in (0, self.gammas.size - 1)

    def best(self) -> tuple[float, float]:
        k = self.best_index
        return _clip(float(self.alphas[k]), f"{self.criterion} (alpha, gamma)"), float(self.gammas[k])


def _fixed_alpha(alpha: float | None) -> float | None:
    if alpha is None:
        return None
    if isinstance(alpha, bool) or not isinstance(alpha, int | float | np.integer | np.floating) \
            or not math.isfinite(alpha):
        raise ValueError(f"alpha must be None (choose it) or a finite float, got {alpha!r}")
    return float(alpha)


def loo_surface(X: np.ndarray, y: np.ndarray, source_coef: np.ndarray,
                gammas: ArrayLike | None = None, alpha: float | None = None) -> Surface:
    """Leave-one-out squared error over the gamma grid (default :data:`DEFAULT_GAMMAS`).

    Per gamma, with the LOO parts ``(a, b)`` (:func:`linear.solve.loo_parts`): ``alpha = ⟨a, b⟩
    / ‖b‖²`` (or the fixed ``alpha``) and the score ``−‖a − alpha b‖² / n``. One thin SVD of
    ``X`` serves the whole grid.
    """
    X, y, source_coef, _ = _inputs(X, y, source_coef)
    fixed = _fixed_alpha(alpha)
    grid = _gamma_grid(gammas)
    spectrum = loo_spectrum(X)
    al, sc = np.empty(grid.size), np.empty(grid.size)
    for k, g in enumerate(grid):
        parts = loo_parts(X, y, source_coef, float(g), spectrum)
        al[k] = parts.alpha() if fixed is None else fixed
        sc[k] = -float(parts.error(al[k]))
    return Surface("loo", grid, al, sc)


def kfold_surface(X: np.ndarray, y: np.ndarray, source_coef: np.ndarray,
                  gammas: ArrayLike | None = None, alpha: float | None = None,
                  n_splits: int = 5, rng: np.random.Generator | None = None) -> Surface:
    """K-fold cross-validated squared error over the gamma grid, closed form.

    For fold k fitted on the other rows ``X_(k) = U S Vᵀ`` (``m`` rows) and penalty gamma,
    ``u = V diag(s / (s² + m gamma)) Uᵀ y`` and ``v = w̃ − V diag(s / (s² + m gamma)) Uᵀ X_(k) w̃``;
    the held-out residuals are ``a_k − alpha b_k`` with ``a_k = y_k − X_k u``, ``b_k = X_k v``.
    alpha is ``Σ⟨a_k, b_k⟩ / Σ‖b_k‖²`` (or the fixed one); the score is minus the mean held-out
    squared error. Folds: :func:`stratified_folds` with ``rng`` (default ``default_rng(0)``),
    the same folds for every gamma. One SVD per fold serves the whole grid.
    """
    X, y, source_coef, _ = _inputs(X, y, source_coef)
    fixed = _fixed_alpha(alpha)
    grid = _gamma_grid(gammas)
    n = X.shape[0]
    if not 2 <= n_splits <= n:
        raise ValueError(f"n_splits must be in [2, n={n}], got {n_splits!r}")
    fold = stratified_folds(y, n_splits, np.random.default_rng(0) if rng is None else rng)
    num, den, aa = np.zeros(grid.size), np.zeros(grid.size), np.zeros(grid.size)
    for k in range(n_splits):
        held = fold == k
        if not held.any() or held.all():
            continue
        Xt, yt = X[~held], y[~held]
        m = Xt.shape[0]
        U, sv, Vt = np.linalg.svd(Xt, full_matrices=False)
        XkV = X[held] @ Vt.T
        Uy, Uw = U.T @ yt, U.T @ (Xt @ source_coef)
        Xkw = X[held] @ source_coef
        for j, g in enumerate(grid):
            f = sv / (sv * sv + m * float(g))
            a = y[held] - XkV @ (f * Uy)
            b = Xkw - XkV @ (f * Uw)
            num[j] += float(a @ b)
            den[j] += float(b @ b)
            aa[j] += float(a @ a)
    if fixed is None:
        al = np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)
    else:
        al = np.full(grid.size, fixed)
    return Surface("kfold", grid, al, -(aa - 2 * al * num + al * al * den) / n)


def margin_surface(X: np.ndarray, y: np.ndarray, source_coef: np.ndarray,
                   gammas: ArrayLike | None = None, alpha: float | None = None) -> Surface:
    """Gaussian accuracy ``Phi(m / sigma)`` of the LOO margins (:func:`margin_moments`) over the
    gamma grid; per gamma alpha is ``Moments.alpha_star`` (clipped to ``±ALPHA_LIMIT``; 0 for
    degenerate moments) or the fixed one."""
    X, y, source_coef, _ = _inputs(X, y, source_coef)
    fixed = _fixed_alpha(alpha)
    grid = _gamma_grid(gammas)
    spectrum = loo_spectrum(X)
    al, sc = np.empty(grid.size), np.full(grid.size, -np.inf)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for k, g in enumerate(grid):
            mo = margin_moments(X, y, source_coef, float(g), spectrum)
            if fixed is None:
                try:
                    a = mo.alpha_star()
                except ValueError:  # degenerate moments (e.g. d = 0): alpha has no effect
                    a = 0.0
                a = float(np.clip(a, -ALPHA_LIMIT, ALPHA_LIMIT))
            else:
                a = fixed
            al[k] = a
            acc = float(mo.accuracy(a))
            if np.isfinite(acc):
                sc[k] = acc
    return Surface("margin", grid, al, sc)


def evidence_surface(X: np.ndarray, y: np.ndarray, source_coef: np.ndarray,
                     gammas: ArrayLike | None = None, alpha: float | None = None) -> Surface:
    """Profile log marginal likelihood over the gamma grid (:func:`evidence_alpha_gamma` gives the
    model and the formulas); alpha is the generalised-least-squares one or the fixed one, and
    ``tau²`` is profiled out in both cases."""
    X, y, source_coef, _ = _inputs(X, y, source_coef)
    fixed = _fixed_alpha(alpha)
    grid = _gamma_grid(gammas)
    n = X.shape[0]
    evals, U = np.linalg.eigh(X @ X.T)
    evals = np.clip(evals, 0.0, None)
    ty, tb = U.T @ y, U.T @ (X @ source_coef)
    al, sc = np.empty(grid.size), np.full(grid.size, -np.inf)
    for k, g in enumerate(grid):
        d = evals + n * float(g)
        bb = float(tb @ (tb / d))
        a = (float(tb @ (ty / d)) / bb if bb > 0 else 0.0) if fixed is None else fixed
        r = ty - a * tb
        tau2 = float(r @ (r / d)) / n
        al[k] = a
        if tau2 > 0:
            sc[k] = -0.5 * (n * math.log(tau2) + float(np.sum(np.log(d))))
    return Surface("evidence", grid, al, sc)


def loo_alpha_gamma(
    X: np.ndarray,
    y: np.ndarray,
    source_coef: np.ndarray,
    gammas: ArrayLike | None = None,
) -> tuple[float, float]:
    """Joint leave-one-out choice of ``(alpha, gamma)``: the best point of :func:`loo_surface`.

    For each ``gamma`` of the grid (default :data:`DEFAULT_GAMMAS`) the LOO-optimal alpha is
    ``⟨a, b⟩ / ‖b‖²`` and its LOO error is ``(‖a‖² − ⟨a, b⟩² / ‖b‖²) / n``; return the pair with
    the smallest error. One thin SVD of ``X`` serves the whole grid.
    """
    return loo_surface(X, y, source_coef, gammas).best()


def kfold_alpha_gamma(X: np.ndarray, y: np.ndarray, source_coef: np.ndarray,
                      gammas: ArrayLike | None = None, n_splits: int = 5,
                      rng: np.random.Generator | None = None) -> tuple[float, float]:
    """Joint K-fold choice of ``(alpha, gamma)``: the best point of :func:`kfold_surface`."""
    return kfold_surface(X, y, source_coef, gammas, None, n_splits, rng).best()


#: The gamma-grid criteria by name (:func:`gamma_only`, :class:`linear.AlphaRidgeCV`).
SURFACES = {"loo": loo_surface, "kfold": kfold_surface, "margin": margin_surface,
            "evidence": evidence_surface}


def gamma_only(criterion: str, X: np.ndarray, y: np.ndarray, source_coef: np.ndarray,
               alpha: float = 1.0, gammas: ArrayLike | None = None,
               rng: np.random.Generator | None = None) -> tuple[float, float]:
    """The baseline that tunes ONLY gamma: alpha fixed (default 1, "LoRA-like") and gamma
    chosen on the training rows by the same ``criterion`` ("loo", "kfold", "margin",
    "evidence") as the joint searches. Returns ``(alpha, gamma)``."""
    if criterion not in SURFACES:
        raise ValueError(f"criterion must be one of {tuple(SURFACES)}, got {criterion!r}")
    if criterion == "kfold":
        return kfold_surface(X, y, source_coef, gammas, alpha, 5, rng).best()
    return SURFACES[criterion](X, y, source_coef, gammas, alpha).best()


def _gamma_grid(gammas: ArrayLike | None) -> np.ndarray:
    grid = DEFAULT_GAMMAS if gammas is None else finite_array("gammas", gammas).reshape(-1)
    if np.any(grid <= 0):
        raise ValueError(f"gammas must be a non-empty array of finite values > 0, got {gammas!r}")
    return grid


def margin_moments(X: np.ndarray, y: np.ndarray, source_coef: np.ndarray, gamma: float,
                   spectrum: tuple[np.ndarray, np.ndarray] | None = None) -> Moments:
    """Empirical moments of the leave-one-out margins, as :class:`rmt.Moments`.

    The LOO margin of row i is ``y_i x_iᵀ w_alpha^{(−i)} = c_i + alpha d_i`` with
    ``c_i = 1 − y_i a_i`` and ``d_i = y_i b_i`` (:func:`linear.solve.loo_parts`, ``y_i² = 1``).
    Their mean and second moment over the n rows are ``m0 + m1 alpha`` and
    ``v0 + v1 alpha + v2 alpha²`` with ``m0 = mean(c)``, ``m1 = mean(d)``, ``v0 = mean(c²)``,
    ``v1 = 2 mean(c d)``, ``v2 = mean(d²)`` — the same form as the theory's moments, without its
    identity-covariance assumption.
    """
    X, y, source_coef, gamma = _inputs(X, y, source_coef, gamma)
    parts = loo_parts(X, y, source_coef, gamma, spectrum)
    c = 1.0 - y * parts.a
    d = y * parts.b
    return Moments(float(c.mean()), float(d.mean()), float(c @ c / c.size),
                   float(2.0 * (c @ d) / c.size), float(d @ d / d.size))


def margin_alpha_gamma(
    X: np.ndarray, y: np.ndarray, source_coef: np.ndarray, gammas: ArrayLike | None = None
) -> tuple[float, float]:
    """Joint (alpha, gamma) maximising ``Phi(m / sigma)`` of the LOO margins
    (:func:`margin_moments`); for each gamma the best alpha is ``Moments.alpha_star`` (its
    supremum, clipped to ``±ALPHA_LIMIT``, when that is at infinity). :func:`margin_surface`."""
    return margin_surface(X, y, source_coef, gammas).best()


def evidence_alpha_gamma(
    X: np.ndarray, y: np.ndarray, source_coef: np.ndarray, gammas: ArrayLike | None = None
) -> tuple[float, float]:
    """Empirical-Bayes (type-II maximum likelihood) choice of (alpha, gamma).

    Model: ``w ~ N(alpha w̃, tau² I_p)``, ``y = X w + eps``, ``eps ~ N(0, sigma² I_n)``; the
    posterior mean of ``w`` is the alpha-ridge ``u + alpha v`` with ``gamma = sigma² / (n tau²)``.
    Marginally ``y ~ N(alpha X w̃, tau² (X Xᵀ + n gamma I_n))``. With ``X Xᵀ = U diag(s²) Uᵀ``
    (all n eigenpairs), ``ỹ = Uᵀ y``, ``b̃ = Uᵀ X w̃`` and ``d_j = s_j² + n gamma``, for each gamma
    the maximum-likelihood ``alpha`` and ``tau²`` are closed-form (generalised least squares):

        alpha = Σ b̃_j ỹ_j / d_j  /  Σ b̃_j² / d_j,     tau² = (1/n) Σ (ỹ_j − alpha b̃_j)² / d_j,

    and the profile log-likelihood is ``−½ [n log tau² + Σ_j log d_j] + const``; return the
    (alpha, gamma) maximising it over the gamma grid. The labels are ±1, not Gaussian: this is a
    principled heuristic, judged on data (see the study in ``figures/study_alpha_estimators.py``).
    """
    return evidence_surface(X, y, source_coef, gammas).best()

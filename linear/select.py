"""Honest choices of alpha (and gamma) from target TRAINING rows only (docs/theory.md §6.3).

Every function takes the target training rows ``X`` (shape ``(n, p)``, row-major), their labels
``y ∈ {−1, +1}`` (shape ``(n,)``), the source classifier ``w̃`` (shape ``(p,)``) and the
fine-tuning penalty ``gamma``; none of them sees a test row. Inputs are assumed validated
(:class:`linear.AlphaRidge` validates them).

* :func:`plugin_alpha` — plug the unbiased estimates ``M̂_t``, ``ŝ``, ``W`` into the
  arbitrary-source alpha* of ``rmt`` (the theory's optimum, assumes identity covariance).
* :func:`loo_alpha` — minimise the closed-form leave-one-out squared error (affine in alpha).
* :func:`kfold_alpha` — the same with K stratified folds (closed form too).
* :func:`loo_alpha_gamma` — choose alpha and gamma jointly by leave-one-out: for each gamma of a
  grid the best alpha is closed-form, and one SVD serves every gamma. As gamma → ∞ the
  alpha-ridge tends to the (rescaled) source classifier, as gamma → 0 to the min-norm
  interpolator shifted by alpha w̃, so this family contains both baselines.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from rmt import arbitrary

from .solve import affine_parts, loo_parts, loo_spectrum

__all__ = [
    "ALPHA_LIMIT",
    "DEFAULT_GAMMAS",
    "plugin_alpha",
    "loo_alpha",
    "kfold_alpha",
    "loo_alpha_gamma",
    "stratified_folds",
]

#: Estimated alphas are clipped to ``[-ALPHA_LIMIT, ALPHA_LIMIT]`` (the theory's supremum can be
#: at infinity; the classifier then tends to the direction ``v`` and a large finite alpha is used).
ALPHA_LIMIT = 1e3

#: Default gamma grid of :func:`loo_alpha_gamma`: 25 values, log-spaced over ``[1e-3, 1e3]``.
DEFAULT_GAMMAS = np.logspace(-3, 3, 25)


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


def plugin_alpha(X: np.ndarray, y: np.ndarray, source_coef: np.ndarray, gamma: float) -> float:
    """Plug-in alpha* (docs/theory.md §6.3 (1)).

    With ``z_i = y_i x_i`` and ``S = Σ_i z_i`` over the training rows,
    ``M̂_t = (‖S‖² − Σ‖z_i‖²) / (n(n − 1))`` (floored at ``ŝ² / W``), ``ŝ = ⟨w̃, S⟩ / n``,
    ``W = ‖w̃‖²``; then ``alpha = rmt.arbitrary`` alpha*(M̂_t, ŝ, W; eta = p / n, gamma). Needs
    ``n >= 2``. When the theory's supremum is at ``±inf`` (rare), ``±ALPHA_LIMIT`` is returned.
    """
    stats = arbitrary.plugin_statistics(X, y, source_coef)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        a = stats.alpha_star(gamma)
    return _clip(a, "plugin_alpha") if math.isfinite(a) else math.copysign(ALPHA_LIMIT, a)


def loo_alpha(X: np.ndarray, y: np.ndarray, source_coef: np.ndarray, gamma: float) -> float:
    """Closed-form leave-one-out alpha (docs/theory.md §6.3 (2)).

    ``alpha = ⟨a, b⟩ / ‖b‖²`` with ``a = D^{-1} R y``, ``b = D^{-1} R X w̃``, ``R = I − H``,
    ``H = X (Xᵀ X + n gamma I)^{-1} Xᵀ``, ``D = diag(R)`` (:func:`linear.solve.loo_parts`).
    """
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


def loo_alpha_gamma(
    X: np.ndarray,
    y: np.ndarray,
    source_coef: np.ndarray,
    gammas: np.ndarray | None = None,
) -> tuple[float, float]:
    """Joint leave-one-out choice of ``(alpha, gamma)``.

    For each ``gamma`` of the grid (default :data:`DEFAULT_GAMMAS`) the LOO-optimal alpha is
    ``⟨a, b⟩ / ‖b‖²`` and its LOO error is ``(‖a‖² − ⟨a, b⟩² / ‖b‖²) / n``; return the pair with
    the smallest error. One thin SVD of ``X`` serves the whole grid.
    """
    grid = DEFAULT_GAMMAS if gammas is None else np.asarray(gammas, dtype=float).reshape(-1)
    if grid.size == 0 or not np.all(np.isfinite(grid)) or np.any(grid <= 0):
        raise ValueError(f"gammas must be a non-empty array of finite values > 0, got {gammas!r}")
    spectrum = loo_spectrum(X)
    best = (math.inf, 0.0, float(grid[0]))
    for g in grid:
        parts = loo_parts(X, y, source_coef, float(g), spectrum)
        a = parts.alpha()
        err = float(parts.error(a))
        if err < best[0]:
            best = (err, a, float(g))
    return _clip(best[1], "loo_alpha_gamma"), best[2]

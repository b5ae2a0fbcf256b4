"""Linear algebra of the alpha-scaled ridge fine-tuning (docs/theory.md §1.3, §6.3).

Conventions. The maths of ``rmt`` and docs/theory.md store data as ``p × n`` matrices (columns are
samples). Every function here takes scikit-learn's **row-major** layout instead: ``X`` has shape
``(n, p)`` (one sample per row), so ``X_here = X_theoryᵀ = A``. Losses use the ``1/n`` scaling:

    w_alpha = argmin_w (1/n) ‖y − X w‖² + gamma ‖w − alpha w̃‖²
            = Q (Xᵀ y / n + alpha gamma w̃),        Q = (Xᵀ X / n + gamma I_p)^{-1}
            = u + alpha v,                          u = Q Xᵀ y / n,   v = gamma Q w̃.

The solution is affine in alpha, so one factorisation gives the whole alpha path. Two equivalent
solvers are used (all identical in exact arithmetic):

* primal (``n >= p``): Cholesky of the ``p × p`` matrix ``Xᵀ X / n + gamma I_p``;
* dual / Woodbury (``n < p``): Cholesky of the ``n × n`` matrix ``K = X Xᵀ + n gamma I_n`` and

      u = Xᵀ K^{-1} y,        v = w̃ − Xᵀ K^{-1} X w̃.

At ``alpha = 0`` the solution is scikit-learn's ``Ridge(alpha=n * gamma, fit_intercept=False)``
(it minimises ``‖y − X w‖² + a ‖w‖²``, so ``a = n gamma``).

These functions take already validated float arrays; :class:`linear.AlphaRidge` is the checked
public entry point.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.linalg import cho_factor, cho_solve

__all__ = [
    "AffinePath",
    "affine_parts",
    "ridge",
    "scores",
    "accuracy_path",
    "LooParts",
    "loo_parts",
    "loo_spectrum",
]


@dataclass(frozen=True)
class AffinePath:
    """``w_alpha = u + alpha v`` for one training set (both shape ``(p,)``)."""

    u: np.ndarray
    v: np.ndarray

    def coef(self, alphas: np.ndarray | float) -> np.ndarray:
        """Coefficients for every alpha: shape ``(len(alphas), p)`` (or ``(p,)`` for a scalar)."""
        a = np.asarray(alphas, dtype=float)
        if a.ndim == 0:
            return self.u + float(a) * self.v
        return self.u[None, :] + a.reshape(-1)[:, None] * self.v[None, :]


def affine_parts(X: np.ndarray, y: np.ndarray, source_coef: np.ndarray, gamma: float) -> AffinePath:
    """``(u, v)`` with ``w_alpha = u + alpha v`` (module docstring), from ONE factorisation.

    Parameters
    ----------
    X : array (n, p)
        Target training rows (row-major).
    y : array (n,)
        Real targets; the classifiers use ``y ∈ {−1, +1}``.
    source_coef : array (p,)
        The source classifier ``w̃``.
    gamma : float > 0
        Fine-tuning penalty ``gamma_ft``.

    Notes
    -----
    Cost ``O(n p min(n, p))``, the same as one ridge fit; chooses the dual form when ``n < p``.
    ``gamma`` must be a finite float > 0 (``ValueError`` otherwise): at ``gamma = 0`` the problem
    is unpenalised least squares, not unique when ``n < p``, and no pseudo-inverse is taken.
    """
    gamma = _gamma(gamma)
    n, p = X.shape
    if n >= p:
        G = X.T @ X
        G /= n
        G.flat[:: p + 1] += gamma
        factor = cho_factor(G, check_finite=False)
        rhs = np.column_stack([X.T @ y / n, gamma * source_coef])
        sol = cho_solve(factor, rhs, check_finite=False)
        return AffinePath(sol[:, 0].copy(), sol[:, 1].copy())
    K = X @ X.T
    K.flat[:: n + 1] += n * gamma
    factor = cho_factor(K, check_finite=False)
    sol = cho_solve(factor, np.column_stack([y, X @ source_coef]), check_finite=False)
    return AffinePath(X.T @ sol[:, 0], source_coef - X.T @ sol[:, 1])


def _gamma(gamma: float) -> float:
    """``gamma`` as a finite float > 0, else a ``ValueError`` naming it (instead of scipy's
    ``LinAlgError`` for ``gamma < 0`` or a silent unpenalised solve for ``gamma = 0``)."""
    if isinstance(gamma, bool) or not isinstance(gamma, int | float | np.integer | np.floating):
        raise TypeError(f"gamma must be a real number > 0, got {gamma!r}")
    g = float(gamma)
    if not (math.isfinite(g) and g > 0):
        raise ValueError(f"gamma must be a finite float > 0, got {gamma!r}")
    return g


def ridge(X: np.ndarray, y: np.ndarray, gamma: float) -> np.ndarray:
    """Plain ridge ``argmin_w (1/n)‖y − X w‖² + gamma ‖w‖²`` (shape ``(p,)``), e.g. the source
    classifier ``w̃`` on ``N`` source rows with ``gamma = gamma_pre`` (docs/theory.md §1.2)."""
    return affine_parts(X, y, np.zeros(X.shape[1]), gamma).u


def scores(X: np.ndarray, path: AffinePath, alphas: np.ndarray) -> np.ndarray:
    """Decision values ``X w_alpha`` for every alpha, shape ``(len(alphas), n_test)``, computed as
    ``X u + alpha X v`` (two matrix-vector products, whatever the number of alphas)."""
    a = np.asarray(alphas, dtype=float).reshape(-1)
    return (X @ path.u)[None, :] + a[:, None] * (X @ path.v)[None, :]


def accuracy_path(X: np.ndarray, y: np.ndarray, path: AffinePath, alphas: np.ndarray) -> np.ndarray:
    """HONEST test accuracy ``mean(sign(X w_alpha) == y)`` for every alpha (``y ∈ {−1, +1}``;
    ties ``X w = 0`` predict +1, docs/theory.md §1.4). Shape ``(len(alphas),)``. No label flip."""
    pred = np.where(scores(X, path, alphas) >= 0.0, 1.0, -1.0)
    return np.mean(pred == y[None, :], axis=1)


@dataclass(frozen=True)
class LooParts:
    """Leave-one-out residuals of the alpha-ridge, affine in alpha: ``e(alpha) = a − alpha b``.

    ``e_i(alpha) = y_i − x_iᵀ w_alpha^{(−i)}`` where ``w_alpha^{(−i)}`` is fitted without row i.
    The LOO squared error ``‖a − alpha b‖²`` is minimal at ``alpha = ⟨a, b⟩ / ‖b‖²``.
    """

    a: np.ndarray
    b: np.ndarray

    def error(self, alphas: np.ndarray | float) -> np.ndarray:
        """Mean LOO squared error ``‖a − alpha b‖² / n`` (vectorised over alpha)."""
        al = np.asarray(alphas, dtype=float)
        aa, ab, bb = self.a @ self.a, self.a @ self.b, self.b @ self.b
        return (aa - 2.0 * al * ab + al * al * bb) / self.a.shape[0]

    def alpha(self) -> float:
        """``argmin_alpha ‖a − alpha b‖² = ⟨a, b⟩ / ‖b‖²`` (0 when ``b = 0``)."""
        bb = float(self.b @ self.b)
        return float(self.a @ self.b) / bb if bb > 0 else 0.0


def loo_spectrum(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Thin SVD pieces ``(U, s²)`` of ``X = U diag(s) Vᵀ``, so ``X Xᵀ = U diag(s²) Uᵀ``.

    Computed once per training set, they give the LOO parts for any ``gamma`` in ``O(n r)``
    (:func:`loo_parts`), which makes a joint (alpha, gamma) leave-one-out search cheap.
    """
    U, s, _ = np.linalg.svd(X, full_matrices=False)
    return U, s * s


def loo_parts(
    X: np.ndarray,
    y: np.ndarray,
    source_coef: np.ndarray,
    gamma: float,
    spectrum: tuple[np.ndarray, np.ndarray] | None = None,
) -> LooParts:
    """Closed-form leave-one-out residuals of the alpha-ridge (docs/theory.md §6.3).

    With ``H = X (Xᵀ X + n gamma I)^{-1} Xᵀ`` (the hat matrix), ``R = I − H`` and ``D = diag(R)``,
    the LOO residuals of ridge on the targets ``r`` are ``D^{-1} R r``. The alpha-ridge is ridge on
    ``r = y − alpha X w̃`` plus ``alpha w̃``, hence

        e(alpha) = a − alpha b,     a = D^{-1} R y,     b = D^{-1} R X w̃.

    Computed from the SVD ``X = U S Vᵀ``: ``R = I − U diag(s² / (s² + n gamma)) Uᵀ``.
    """
    gamma = _gamma(gamma)
    n = X.shape[0]
    U, s2 = loo_spectrum(X) if spectrum is None else spectrum
    shrink = s2 / (s2 + n * gamma)  # eigenvalues of H on the range of U
    d = 1.0 - (U * U) @ shrink  # diag(R)

    def apply_R(r: np.ndarray) -> np.ndarray:
        return r - U @ (shrink * (U.T @ r))

    return LooParts(apply_R(y) / d, apply_R(X @ source_coef) / d)

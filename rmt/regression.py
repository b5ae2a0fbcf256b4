"""Regression variant (docs/theory.md §2.5).

Multi-output linear regression ``y = W_t x + sigma ε`` with ``x ~ N(0, I_p)``, ``ε ~ N(0, I_d)``,
``W_t, W_s ∈ R^{d×p}``. The fine-tuned estimator shrinks towards ``alpha W_s``:

    W_alpha = (Y Xᵀ / n + alpha gamma W_s) Q,     Q = (X Xᵀ / n + gamma I_p)^{-1},

(``X`` is p × n, ``Y`` is d × n). With ``delta = delta(p/n, gamma)`` and
``kappa = 1 + gamma (1 + delta)`` (class mean M = 0), its population test risk, test noise
``d sigma²`` included, is

    R(alpha) = E‖W_alpha x − y‖² ≈ [(kappa − 1)² ‖W_t − alpha W_s‖_F² + d sigma² kappa²] / (kappa² − eta)

so ``alpha*_reg = ⟨W_t, W_s⟩_F / ‖W_s‖_F²``, independent of ``n, p, gamma, sigma``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from . import validation as V
from .equivalents import ridge_constants

__all__ = ["risk", "risk_coefficients", "alpha_star"]


def _weights(W_t: ArrayLike, W_s: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    W_t = V.finite_array("W_t", W_t, ndim=(1, 2))
    W_s = V.finite_array("W_s", W_s, ndim=(1, 2))
    W_t, W_s = np.atleast_2d(W_t), np.atleast_2d(W_s)
    if W_t.shape != W_s.shape:
        raise ValueError(f"W_t and W_s must have the same shape (d, p), got {W_t.shape} and {W_s.shape}")
    return W_t, W_s


def risk_coefficients(
    W_t: ArrayLike, W_s: ArrayLike, sigma: float, n: int, gamma: float
) -> tuple[float, float, float]:
    """``(T1, T2, T3)`` with ``R(alpha) = T1 + T2 alpha + T3 alpha²``.

    ``T1 = [(kappa−1)² ‖W_t‖² + d sigma² kappa²] / (kappa² − eta)``,
    ``T2 = −2 (kappa−1)² ⟨W_t, W_s⟩ / (kappa² − eta)``, ``T3 = (kappa−1)² ‖W_s‖² / (kappa² − eta)``.

    Parameters
    ----------
    W_t, W_s : array (d, p) (or (p,) for d = 1)
        Target and source weights.
    sigma : float >= 0
        Noise standard deviation.
    n : int >= 1
        Number of fine-tuning samples (``eta = p / n``).
    gamma : float > 0
        Ridge penalty.
    """
    W_t, W_s = _weights(W_t, W_s)
    sigma = V.nonnegative("sigma", sigma)
    n = V.positive_int("n", n)
    gamma = V.positive("gamma", gamma)
    d, p = W_t.shape
    V.small_sizes(p=p, n=n)
    rc = ridge_constants(0.0, p / n, gamma)
    k, eta = rc.kappa, rc.eta
    den = k**2 - eta
    g2 = (k - 1.0) ** 2
    T1 = (g2 * float(np.sum(W_t * W_t)) + d * sigma**2 * k**2) / den
    T2 = -2.0 * g2 * float(np.sum(W_t * W_s)) / den
    T3 = g2 * float(np.sum(W_s * W_s)) / den
    return T1, T2, T3


def risk(
    alpha: ArrayLike, W_t: ArrayLike, W_s: ArrayLike, sigma: float, n: int, gamma: float
) -> float | np.ndarray:
    """Asymptotic test risk ``R(alpha)`` (vectorised over ``alpha``; same shape returned)."""
    T1, T2, T3 = risk_coefficients(W_t, W_s, sigma, n, gamma)
    a = V.alpha_grid(alpha)
    out = T1 + a * (T2 + a * T3)
    return float(out) if out.ndim == 0 else out


def alpha_star(W_t: ArrayLike, W_s: ArrayLike) -> float:
    """``alpha*_reg = ⟨W_t, W_s⟩_F / ‖W_s‖_F²`` (raises if ``W_s = 0``)."""
    W_t, W_s = _weights(W_t, W_s)
    nrm = float(np.sum(W_s * W_s))
    if nrm == 0.0:
        raise ValueError("W_s is zero: the risk does not depend on alpha")
    return float(np.sum(W_t * W_s)) / nrm

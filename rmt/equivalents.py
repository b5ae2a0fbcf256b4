"""Resolvent constants of one ridge problem (docs/theory.md §2.1).

A ridge problem on ``n`` samples in dimension ``p`` (aspect ratio ``eta = p / n``) with penalty
``gamma`` and class-mean squared norm ``M`` has the deterministic equivalent

    E[Q] ≈ (1 + delta) / kappa · (I − mu muᵀ / lam),     Q = (X Xᵀ / n + gamma I)^{-1},

with the constants computed here. They are shared by the ridge-source, arbitrary-source and
regression settings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from . import validation as V


def delta(eta: float, gamma: float) -> float:
    """Positive root of ``gamma δ² + (1 + gamma − eta) δ − eta = 0``.

    Equivalently the fixed point ``δ = eta (1 + δ) / (1 + gamma (1 + δ))``. Computed in a form
    without cancellation: with ``b = eta − gamma − 1`` and ``D = b² + 4 eta gamma``,
    ``δ = (b + √D) / (2 gamma)`` when ``b ≥ 0`` and ``δ = 2 eta / (√D − b)`` otherwise.

    >>> round(delta(1.0, 1.0), 6)   # root of δ² + δ − 1
    0.618034
    """
    eta = V.positive("eta", eta)
    gamma = V.positive("gamma", gamma)
    b = eta - gamma - 1.0
    root = math.sqrt(b * b + 4.0 * eta * gamma)
    if b >= 0:
        return (b + root) / (2.0 * gamma)
    return 2.0 * eta / (root - b)


@dataclass(frozen=True)
class RidgeConstants:
    """Deterministic-equivalent constants of one ridge problem.

    Attributes
    ----------
    eta, gamma, M : the problem (aspect ratio p/n, penalty, squared class-mean norm).
    delta : positive root of ``gamma δ² + (1 + gamma − eta) δ − eta = 0``.
    kappa : ``1 + gamma (1 + delta)``.
    lam : ``M + kappa``.
    h : ``1 − eta / kappa²``, in (0, 1].
    """

    eta: float
    gamma: float
    M: float
    delta: float
    kappa: float
    lam: float
    h: float

    @property
    def g(self) -> float:
        """``gamma (1 + delta) = kappa − 1``."""
        return self.kappa - 1.0

    @property
    def mean(self) -> float:
        """Deterministic equivalent of ``⟨w, mu⟩`` for the ridge solution ``w = Q X y / n``:
        ``M / lam``."""
        return self.M / self.lam

    @property
    def sq_norm(self) -> float:
        """Deterministic equivalent of ``‖w‖²`` for ``w = Q X y / n``:
        ``[M / lam² + (1 − h)(1 − M / lam)²] / h``."""
        return (self.M / self.lam**2 + (1.0 - self.h) * (1.0 - self.M / self.lam) ** 2) / self.h


#: Above this, ``kappa²`` or ``lam²`` leave the float range (``1e150² = 1e300``).
_LARGEST = 1e150


def ridge_constants(M: float, eta: float, gamma: float, name: str = "gamma") -> RidgeConstants:
    """Constants ``(delta, kappa, lam, h)`` of a ridge problem (docs/theory.md §2.1).

    Parameters
    ----------
    M : float >= 0
        Squared norm of the class mean of this problem's data.
    eta : float > 0
        Aspect ratio ``p / n``.
    gamma : float > 0
        Ridge penalty (the ``1/n`` convention: ``(1/n)‖y − Xᵀw‖² + gamma ‖w‖²``).
    name : str
        How ``gamma`` is called by the caller (``"gamma_ft"``, ``"gamma_pre"``), for messages.

    Raises
    ------
    ValueError
        Naming ``gamma`` (or ``M``) when ``kappa`` (or ``lam``) exceeds 1e150, where their
        squares would overflow float64.
    """
    M = V.nonnegative("M", M)
    eta = V.positive("eta", eta)
    gamma = V.positive(name, gamma)
    d = delta(eta, gamma)
    kappa = 1.0 + gamma * (1.0 + d)
    if not kappa <= _LARGEST:
        raise ValueError(
            f"{name}={gamma!r} is too large: kappa = 1 + {name} (1 + delta) = {kappa:.3g} > "
            f"{_LARGEST:g} and its square overflows float64; allowed: {name} <= about 1e150"
        )
    if not M + kappa <= _LARGEST:
        raise ValueError(
            f"M={M!r} is too large: lam = M + kappa = {M + kappa:.3g} > {_LARGEST:g} and its "
            "square overflows float64"
        )
    return RidgeConstants(
        eta=eta, gamma=gamma, M=M, delta=d, kappa=kappa, lam=M + kappa, h=1.0 - eta / kappa**2
    )

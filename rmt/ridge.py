"""Ridge source classifier (docs/theory.md §1.2, §2.3).

The source classifier is ridge regression on ``N`` source samples with penalty ``gamma_pre``,

    w̃ = argmin_w (1/N) ‖ỹ − X̃ᵀ w‖² + gamma_pre ‖w‖² = Q̃ X̃ ỹ / N,

and is then fine-tuned on ``n`` target samples (penalty ``gamma_ft``) by the alpha-scaled ridge
of :mod:`rmt.arbitrary`. Since ``w̃`` is independent of the target data, its deterministic
equivalents are plugged into the arbitrary-source moments:

    s = ⟨w̃, mu_t⟩ ≈ c / lam̃,       c = ⟨mu_s, mu_t⟩
    W = ‖w̃‖²    ≈ [M_s / lam̃² + (1 − h̃)(1 − M_s / lam̃)²] / h̃           (corrected)

with ``(deltã, kappã, lam̃, h̃)`` the constants of the source problem ``(p/N, gamma_pre, M_s)``.
``variant="reference"`` reproduces the official code's
``W_ref = M_s / lam̃² + (1 − h̃)(1 − 2 M_s / lam̃)`` (docs/theory.md §5.1), only so the paper's
protocol can be compared; it is wrong and becomes negative at small ``gamma_pre``.

Means are isotropic Gaussian-mixture means, given either as vectors or by the three scalars
``M_s = ‖mu_s‖²``, ``M_t = ‖mu_t‖²``, ``c = ⟨mu_s, mu_t⟩``. The beta-parameterisation of §1.1 is
``mu_t = beta mu_s + sqrt(1 − beta²) mu_perp`` with ``mu_perp ⊥ mu_s``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from . import arbitrary
from . import validation as V
from .core import Moments
from .equivalents import ridge_constants

__all__ = [
    "VARIANTS",
    "Setting",
    "beta_parameters",
    "beta_means",
    "source_statistics",
    "moments",
    "moments_from_means",
    "plugin_statistics",
]

VARIANTS = ("corrected", "reference")


def _check_cauchy_schwarz(M_s: float, M_t: float, c: float) -> None:
    """``c² <= M_s M_t`` (up to rounding), the condition for mean vectors to exist."""
    if c * c > M_s * M_t * (1.0 + 1e-9) + 1e-300:
        raise ValueError(
            f"c**2 = {c * c:.6g} exceeds M_s * M_t = {M_s * M_t:.6g} (Cauchy-Schwarz): "
            "no mean vectors have these norms and inner product"
        )


def beta_parameters(beta: float, norm_mu: float, norm_perp: float) -> tuple[float, float, float]:
    """``(M_s, M_t, c)`` of the beta-parameterisation (docs/theory.md §1.1).

    ``mu_s = norm_mu e_1``, ``mu_perp = norm_perp e_2``, ``mu_t = beta mu_s + sqrt(1 − beta²) mu_perp``:

        M_s = norm_mu²,   M_t = beta² norm_mu² + (1 − beta²) norm_perp²,   c = beta norm_mu².

    >>> beta_parameters(0.5, 1.0, 1.0)
    (1.0, 1.0, 0.5)
    """
    beta = V.real("beta", beta)
    if not 0.0 <= beta <= 1.0:
        raise ValueError(f"beta must lie in [0, 1], got {beta!r}")
    norm_mu = V.nonnegative("norm_mu", norm_mu)
    norm_perp = V.nonnegative("norm_perp", norm_perp)
    M_s = norm_mu**2
    return M_s, beta**2 * M_s + (1.0 - beta**2) * norm_perp**2, beta * M_s


def beta_means(beta: float, norm_mu: float, norm_perp: float, p: int) -> tuple[np.ndarray, np.ndarray]:
    """The mean vectors ``(mu_s, mu_t)`` (each shape ``(p,)``, p >= 2) of :func:`beta_parameters`."""
    p = V.positive_int("p", p)
    if p < 2:
        raise ValueError(f"p must be >= 2 for two orthogonal directions, got {p}")
    beta = V.real("beta", beta)
    if not 0.0 <= beta <= 1.0:
        raise ValueError(f"beta must lie in [0, 1], got {beta!r}")
    mu_s = np.zeros(p)
    mu_s[0] = V.nonnegative("norm_mu", norm_mu)
    perp = np.zeros(p)
    perp[1] = V.nonnegative("norm_perp", norm_perp)
    return mu_s, beta * mu_s + math.sqrt(1.0 - beta**2) * perp


def source_statistics(
    M_s: float, c: float, p: int, N: int, gamma_pre: float, variant: str = "corrected"
) -> tuple[float, float]:
    """Deterministic equivalents ``(s, W)`` of ``(⟨w̃, mu_t⟩, ‖w̃‖²)`` for the ridge source.

    ``s = c / lam̃``; ``W`` by the corrected formula (default) or the reference code's
    (``variant="reference"``); see the module docstring.
    """
    M_s = V.nonnegative("M_s", M_s)
    c = V.real("c", c)
    p = V.positive_int("p", p)
    N = V.positive_int("N", N)
    gamma_pre = V.positive("gamma_pre", gamma_pre)
    variant = V.choice("variant", variant, VARIANTS)
    rc = ridge_constants(M_s, p / N, gamma_pre, name="gamma_pre")
    s = c / rc.lam
    if variant == "corrected":
        W = rc.sq_norm
    else:
        W = M_s / rc.lam**2 + (1.0 - rc.h) * (1.0 - 2.0 * M_s / rc.lam)
    return s, W


def moments(
    M_s: float,
    M_t: float,
    c: float,
    p: int,
    n: int,
    N: int,
    gamma_pre: float,
    gamma_ft: float,
    variant: str = "corrected",
) -> Moments:
    """Score moments of the alpha-fine-tuned classifier with a ridge source.

    Parameters
    ----------
    M_s, M_t : float >= 0
        ``‖mu_s‖²`` and ``‖mu_t‖²``.
    c : float
        ``⟨mu_s, mu_t⟩`` (``c² <= M_s M_t``).
    p, n, N : int >= 1
        Dimension, target and source sample sizes.
    gamma_pre, gamma_ft : float > 0
        Source and fine-tuning ridge penalties.
    variant : {"corrected", "reference"}
        Which ``‖w̃‖²`` formula to use (module docstring). The reference one may give moments
        with negative variance; they are returned as is (no Cauchy–Schwarz check).
    """
    M_s = V.nonnegative("M_s", M_s)
    M_t = V.nonnegative("M_t", M_t)
    c = V.real("c", c)
    _check_cauchy_schwarz(M_s, M_t, c)
    s, W = source_statistics(M_s, c, p, N, gamma_pre, variant)
    n = V.positive_int("n", n)
    gamma_ft = V.positive("gamma_ft", gamma_ft)
    V.small_sizes(p=p, n=n, N=N)
    # No Cauchy-Schwarz check on (s, W): the reference W may violate it; that is the point.
    return arbitrary.coefficients(M_t, s, W, p / n, gamma_ft, gamma_name="gamma_ft")


def moments_from_means(
    mu_s: ArrayLike,
    mu_t: ArrayLike,
    n: int,
    N: int,
    gamma_pre: float,
    gamma_ft: float,
    variant: str = "corrected",
) -> Moments:
    """:func:`moments` with the class means given as vectors ``mu_s, mu_t`` of shape ``(p,)``
    (the one path from vectors to scalars is :meth:`Setting.from_means`)."""
    return Setting.from_means(mu_s, mu_t, n=n, N=N, gamma_pre=gamma_pre,
                              gamma_ft=gamma_ft).moments(variant)


@dataclass(frozen=True)
class Setting:
    """A complete ridge-source / alpha-ridge fine-tuning setting, validated at construction.

    Build it from the three scalars, from mean vectors (:meth:`from_means`) or from the
    beta-parameterisation (:meth:`from_beta`); :meth:`moments` gives the theory.
    """

    p: int
    n: int
    N: int
    gamma_pre: float
    gamma_ft: float
    M_s: float
    M_t: float
    c: float

    def __post_init__(self) -> None:
        for name in ("p", "n", "N"):
            object.__setattr__(self, name, V.positive_int(name, getattr(self, name)))
        for name in ("gamma_pre", "gamma_ft"):
            object.__setattr__(self, name, V.positive(name, getattr(self, name)))
        for name in ("M_s", "M_t"):
            object.__setattr__(self, name, V.nonnegative(name, getattr(self, name)))
        object.__setattr__(self, "c", V.real("c", self.c))
        _check_cauchy_schwarz(self.M_s, self.M_t, self.c)

    @classmethod
    def from_beta(
        cls, beta: float, norm_mu: float, norm_perp: float, *, p: int, n: int, N: int,
        gamma_pre: float, gamma_ft: float,
    ) -> Setting:
        M_s, M_t, c = beta_parameters(beta, norm_mu, norm_perp)
        return cls(p=p, n=n, N=N, gamma_pre=gamma_pre, gamma_ft=gamma_ft, M_s=M_s, M_t=M_t, c=c)

    @classmethod
    def from_means(
        cls, mu_s: ArrayLike, mu_t: ArrayLike, *, n: int, N: int, gamma_pre: float, gamma_ft: float
    ) -> Setting:
        mu_s = V.finite_array("mu_s", mu_s, ndim=1)
        mu_t = V.finite_array("mu_t", mu_t, ndim=1)
        if mu_s.shape != mu_t.shape:
            raise ValueError(f"mu_s and mu_t must have the same shape, got {mu_s.shape} and {mu_t.shape}")
        return cls(
            p=mu_s.shape[0], n=n, N=N, gamma_pre=gamma_pre, gamma_ft=gamma_ft,
            M_s=float(mu_s @ mu_s), M_t=float(mu_t @ mu_t), c=float(mu_s @ mu_t),
        )

    def moments(self, variant: str = "corrected") -> Moments:
        return moments(
            self.M_s, self.M_t, self.c, self.p, self.n, self.N, self.gamma_pre, self.gamma_ft,
            variant,
        )

    def source_statistics(self, variant: str = "corrected") -> tuple[float, float]:
        return source_statistics(self.M_s, self.c, self.p, self.N, self.gamma_pre, variant)


def plugin_statistics(
    X_source: ArrayLike, y_source: ArrayLike, X_target: ArrayLike, y_target: ArrayLike
) -> tuple[float, float, float]:
    """Unbiased plug-in ``(M̂_s, M̂_t, ĉ)`` for the ridge-source formula (docs/theory.md §6.3).

    ``M̂_s`` and ``M̂_t`` are the U-statistics of :func:`rmt.arbitrary.plugin_statistics` on
    the source rows and on the target TRAINING rows; ``ĉ = ⟨S̃ / N, S / n⟩`` with
    ``S̃ = Σ ỹ_i x̃_i`` and ``S = Σ y_i x_i`` (independent samples, so unbiased for
    ``⟨mu_s, mu_t⟩``). Arrays are row-major ``(samples, p)``; labels in {−1, +1}.
    """
    Xs = V.finite_array("X_source", X_source, ndim=2)
    Xt = V.finite_array("X_target", X_target, ndim=2)
    if Xs.shape[1] != Xt.shape[1]:
        raise ValueError(
            f"X_source has {Xs.shape[1]} columns but X_target has {Xt.shape[1]}"
        )
    ys = arbitrary.signed_labels(y_source, "y_source")
    yt = arbitrary.signed_labels(y_target, "y_target")
    for name, X, y in (("source", Xs, ys), ("target", Xt, yt)):
        if X.shape[0] != y.shape[0]:
            raise ValueError(f"y_{name} has {y.shape[0]} entries but X_{name} has {X.shape[0]} rows")
        if X.shape[0] < 2:
            raise ValueError(f"X_{name} needs at least 2 rows for the U-statistic")
    M_s, S_s = arbitrary.u_statistic(Xs, ys)
    M_t, S_t = arbitrary.u_statistic(Xt, yt)
    return M_s, M_t, float(S_s @ S_t) / (Xs.shape[0] * Xt.shape[0])

"""Arbitrary source classifier (docs/theory.md §2.2 and §6.3).

The source classifier ``w̃ ∈ R^p`` is any fixed vector independent of the target data. The
alpha-fine-tuned classifier on ``n`` target samples with penalty ``gamma`` is

    w_alpha = argmin_w (1/n) ‖y − Xᵀ w‖² + gamma ‖w − alpha w̃‖²        (X is p × n)

and its test-score moments depend on the data and on ``w̃`` only through

    M_t = ‖mu_t‖²,    s = ⟨w̃, mu_t⟩,    W = ‖w̃‖².

With ``(delta, kappa, lam, h)`` the constants of the target problem
(:func:`rmt.equivalents.ridge_constants` with ``eta = p/n``) and ``g = kappa − 1``:

    m0 = M_t / lam
    m1 = g s / lam
    v0 = [M_t (M_t + 1) / lam² − 2 M_t (1 − h) / lam + (1 − h)] / h
    v1 = 2 g s [h M_t + 1 − kappa (1 − h)] / (h lam²)
    v2 = (g² / h) [s² / lam² + W / kappa² − s² (lam + kappa) / (kappa² lam²)]

The plug-in estimators below compute ``M_t`` and ``s`` from TARGET TRAINING rows only, so that
alpha* can be estimated on real data without looking at test rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from . import validation as V
from .core import Moments
from .equivalents import ridge_constants

__all__ = [
    "moments",
    "coefficients",
    "alpha_star",
    "TargetStatistics",
    "plugin_statistics",
    "signed_labels",
    "plugin_rows",
    "u_statistic",
]


def _check_cauchy_schwarz(M_t: float, s: float, W: float) -> None:
    if s * s > M_t * W * (1.0 + 1e-9) + 1e-300:
        raise ValueError(
            f"s**2 = {s * s:.6g} exceeds M_t * W = {M_t * W:.6g}: no vectors w~, mu_t have "
            "these norms and inner product (Cauchy-Schwarz)"
        )


def moments(M_t: float, s: float, W: float, p: int, n: int, gamma: float) -> Moments:
    """Score moments of the alpha-fine-tuned classifier for a given source vector.

    Parameters
    ----------
    M_t : float >= 0
        ``‖mu_t‖²``, squared norm of the target class mean.
    s : float
        ``⟨w̃, mu_t⟩``.
    W : float >= 0
        ``‖w̃‖²``.
    p, n : int >= 1
        Dimension and number of target training samples (``eta = p / n``).
    gamma : float > 0
        Fine-tuning ridge penalty ``gamma_ft``.

    Returns
    -------
    Moments
        ``m(alpha) = m0 + m1 alpha``, ``v(alpha) = v0 + v1 alpha + v2 alpha²`` (module docstring).
    """
    M_t = V.nonnegative("M_t", M_t)
    s = V.real("s", s)
    W = V.nonnegative("W", W)
    p = V.positive_int("p", p)
    n = V.positive_int("n", n)
    gamma = V.positive("gamma", gamma)
    _check_cauchy_schwarz(M_t, s, W)
    V.small_sizes(p=p, n=n)
    return coefficients(M_t, s, W, p / n, gamma)


def coefficients(M_t: float, s: float, W: float, eta: float, gamma: float,
                 gamma_name: str = "gamma") -> Moments:
    """The five formulas of the module docstring at ``eta = p / n``, on already validated
    inputs (no checks, no Cauchy–Schwarz test: :func:`moments` is the checked entry point;
    :func:`rmt.ridge.moments` calls this one because its reference variant may violate
    Cauchy–Schwarz on purpose). ``gamma_name`` names the penalty in the errors of
    :func:`rmt.equivalents.ridge_constants`."""
    rc = ridge_constants(M_t, eta, gamma, name=gamma_name)
    lam, kappa, h, g = rc.lam, rc.kappa, rc.h, rc.g
    m0 = M_t / lam
    m1 = g * s / lam
    v0 = (M_t * (M_t + 1.0) / lam**2 - 2.0 * M_t * (1.0 - h) / lam + (1.0 - h)) / h
    v1 = 2.0 * g * s * (h * M_t + 1.0 - kappa * (1.0 - h)) / (h * lam**2)
    v2 = (g**2 / h) * (
        s**2 / lam**2 + W / kappa**2 - s**2 * (lam + kappa) / (kappa**2 * lam**2)
    )
    return Moments(m0, m1, v0, v1, v2)


def alpha_star(M_t: float, s: float, W: float, p: int, n: int, gamma: float) -> float:
    """Optimal alpha for an arbitrary source vector, simplified closed form (§2.4):

        alpha* = − eta kappa s / ( g [ (lam − eta) s² − lam M_t W ] ),   eta = p / n.

    Algebraically identical to ``moments(...).stationary_point()``; like
    :meth:`rmt.Moments.alpha_star`, returns ``±inf`` with a RuntimeWarning in the rare case
    where that stationary point is the minimiser.
    """
    mo = moments(M_t, s, W, p, n, gamma)
    rc = ridge_constants(M_t, p / n, gamma)
    den = rc.g * ((rc.lam - rc.eta) * s * s - rc.lam * M_t * W)
    if den == 0.0 or float(mo.mean(-rc.eta * rc.kappa * s / den)) <= 0:
        return mo.alpha_star()
    return -rc.eta * rc.kappa * s / den


# --------------------------------------------------------------------------------------------
# plug-in estimation from target training rows
# --------------------------------------------------------------------------------------------
def signed_labels(y: ArrayLike, name: str = "y") -> np.ndarray:
    """Map labels that are already in {−1, +1} to a float array, or raise."""
    y = V.finite_array(name, y, ndim=1)
    bad = ~np.isin(y, (-1.0, 1.0))
    if np.any(bad):
        raise ValueError(f"{name} must contain only -1 and +1, got {np.unique(y[bad])[:5]}")
    return y


def plugin_rows(X: ArrayLike, y: ArrayLike,
                source_coef: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The checked inputs of a plug-in estimate: ``X`` (n, p) finite, ``y`` (n,) in {−1, +1}
    with both classes, ``source_coef`` (p,) finite and n >= 2 (the U-statistics need two rows);
    ValueError naming the argument otherwise."""
    Xv = V.finite_array("X", X, ndim=2)
    yv = signed_labels(y)
    w = V.finite_array("source_coef", source_coef, ndim=1)
    n, p = Xv.shape
    if yv.shape[0] != n:
        raise ValueError(f"y has {yv.shape[0]} entries but X has {n} rows")
    if w.shape[0] != p:
        raise ValueError(f"source_coef has length {w.shape[0]} but X has {p} columns")
    if n < 2:
        raise ValueError(f"the U-statistic needs at least 2 training rows, got n={n}")
    if np.all(yv == yv[0]):
        raise ValueError(
            f"y has a single class ({yv[0]:+g} on all {n} rows): the plug-in statistics need "
            "both classes -1 and +1 among the training rows"
        )
    return Xv, yv, w


@dataclass(frozen=True)
class TargetStatistics:
    """Plug-in estimates of the three scalars of an arbitrary-source problem.

    ``M_t`` (unbiased U-statistic for ``‖mu_t‖²``, floored at ``s² / W``), ``s`` (unbiased for
    ``⟨w̃, mu_t⟩``), ``W = ‖w̃‖²`` (exact), and the sizes ``n`` (training rows) and ``p``.
    """

    M_t: float
    s: float
    W: float
    n: int
    p: int
    M_t_unfloored: float

    def moments(self, gamma: float, n: int | None = None) -> Moments:
        """Moments at penalty ``gamma`` (and ``n`` training samples, default: the rows used)."""
        return moments(self.M_t, self.s, self.W, self.p, self.n if n is None else n, gamma)

    def alpha_star(self, gamma: float, n: int | None = None) -> float:
        return self.moments(gamma, n).alpha_star()


def plugin_statistics(X: ArrayLike, y: ArrayLike, source_coef: ArrayLike) -> TargetStatistics:
    """Estimate ``(M_t, s, W)`` from target TRAINING rows only (docs/theory.md §6.3).

    With ``z_i = y_i x_i`` and ``S = Σ_i z_i`` over the ``n`` training rows:

        M̂_t = (‖S‖² − Σ_i ‖z_i‖²) / (n (n − 1))     (unbiased for ‖mu_t‖²)
        ŝ   = ⟨w̃, S⟩ / n                           (unbiased for ⟨w̃, mu_t⟩)
        W   = ‖w̃‖²

    and ``M̂_t`` is floored at ``ŝ² / W`` (Cauchy–Schwarz) to avoid degenerate estimates.

    Parameters
    ----------
    X : array (n, p)
        Target training rows (samples in ROWS, scikit-learn layout), n >= 2.
    y : array (n,)
        Labels in {−1, +1}.
    source_coef : array (p,)
        The source classifier ``w̃`` (not all zero).
    """
    X, y, w = plugin_rows(X, y, source_coef)
    n, p = X.shape
    W = float(w @ w)
    if W == 0.0:
        raise ValueError("source_coef is the zero vector: alpha has no effect")
    M_raw, S = u_statistic(X, y)
    s = float(w @ S) / n
    M_t = max(M_raw, s * s / W)
    return TargetStatistics(M_t=M_t, s=s, W=W, n=n, p=p, M_t_unfloored=M_raw)


def u_statistic(X: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """``((‖S‖² − Σ‖z_i‖²) / (n(n−1)), S)`` with ``z_i = y_i x_i`` and ``S = Σ z_i``, for
    validated rows ``X`` (n × p, n >= 2) and labels ``y`` (n,) in {−1, +1}: the unbiased
    estimate of ``‖mu‖²`` and the label-weighted sum (no checks)."""
    n = X.shape[0]
    Z = X * y[:, None]
    S = Z.sum(axis=0)
    return float((S @ S - np.einsum("ij,ij->", Z, Z)) / (n * (n - 1))), S

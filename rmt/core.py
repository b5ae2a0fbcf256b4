"""Test accuracy of the alpha-fine-tuned classifier from its score moments (docs/theory.md §1.4, §2.4).

For a fresh target test point ``(x, y)`` the score ``y · w_alphaᵀ x`` has, in the
high-dimensional limit, mean and second moment

    m(alpha) = m0 + m1 alpha,        v(alpha) = v0 + v1 alpha + v2 alpha²,

and is Gaussian with variance ``sigma²(alpha) = v(alpha) − m(alpha)²``. Hence

    honest accuracy      acc(alpha)     = Phi( m(alpha) / sigma(alpha) )
    symmetric accuracy   acc_sym(alpha) = Phi( |m(alpha)| / sigma(alpha) ) = max(acc, 1 − acc).

The symmetric version flips a worse-than-chance classifier, which needs the test labels; it is
offered only to compare with the reference code and is never the default.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import ndtr

from . import validation as V

__all__ = ["Moments"]


@dataclass(frozen=True)
class Moments:
    """Coefficients of the test-score moments as polynomials in alpha.

    ``m(alpha) = m0 + m1 alpha`` and ``v(alpha) = v0 + v1 alpha + v2 alpha²``; all five are
    finite floats. Build them with :func:`rmt.ridge.moments`, :func:`rmt.arbitrary.moments`
    or by hand.

    Examples
    --------
    >>> mo = Moments(m0=0.5, m1=0.0, v0=1.25, v1=0.0, v2=0.0)   # sigma = 1, mean 0.5
    >>> round(float(mo.accuracy(0.0)), 4)                       # Phi(0.5)
    0.6915
    """

    m0: float
    m1: float
    v0: float
    v1: float
    v2: float

    def __post_init__(self) -> None:
        for name in ("m0", "m1", "v0", "v1", "v2"):
            object.__setattr__(self, name, V.real(name, getattr(self, name)))

    # -- the polynomials ------------------------------------------------------------------
    def mean(self, alpha: ArrayLike) -> np.ndarray:
        """``m(alpha) = m0 + m1 alpha`` (vectorised over ``alpha``)."""
        a = V.alpha_grid(alpha)
        return self.m0 + self.m1 * a

    def second_moment(self, alpha: ArrayLike) -> np.ndarray:
        """``v(alpha) = v0 + v1 alpha + v2 alpha²`` (vectorised over ``alpha``)."""
        a = V.alpha_grid(alpha)
        return self.v0 + a * (self.v1 + a * self.v2)

    def variance(self, alpha: ArrayLike) -> np.ndarray:
        """``sigma²(alpha) = v(alpha) − m(alpha)²``, written as a quadratic in alpha:
        ``(v0 − m0²) + (v1 − 2 m0 m1) alpha + (v2 − m1²) alpha²``."""
        a = V.alpha_grid(alpha)
        c0 = self.v0 - self.m0**2
        c1 = self.v1 - 2.0 * self.m0 * self.m1
        c2 = self.v2 - self.m1**2
        return c0 + a * (c1 + a * c2)

    def snr(self, alpha: ArrayLike) -> np.ndarray:
        """Signal-to-noise ratio ``m(alpha) / sigma(alpha)``; NaN where ``sigma² <= 0``.

        For ``|alpha| > 1`` it is computed as ``sign(alpha) (m0 t + m1) / sqrt(c0 t² + c1 t + c2)``
        with ``t = 1 / alpha`` (numerator and denominator divided by ``|alpha|``), so that huge
        alphas (``alpha²`` beyond the float range) give the limit ``m1 / sqrt(v2 − m1²)``
        instead of an overflow to ``Phi(0) = 1/2``.

        ``sigma² <= 0`` cannot happen for moments derived with the corrected formulas; it does
        happen for ``variant="reference"`` ridge moments at small ``gamma_pre``
        (docs/theory.md §4 (5)), and a RuntimeWarning says so.
        """
        a = V.alpha_grid(alpha)
        c0 = self.v0 - self.m0**2
        c1 = self.v1 - 2.0 * self.m0 * self.m1
        c2 = self.v2 - self.m1**2
        big = np.abs(a) > 1.0
        t = np.where(big, 1.0 / np.where(big, a, 1.0), a)  # 1/alpha where big, alpha elsewhere
        num = np.where(big, self.m0 * t + self.m1, self.m0 + self.m1 * t)
        var = np.where(big, c0 * t * t + c1 * t + c2, c0 + t * (c1 + t * c2))
        bad = var <= 0
        if np.any(bad):
            warnings.warn(
                "the score variance v - m^2 is <= 0 at some alpha (these moments are not those "
                "of a real classifier, e.g. variant='reference'); accuracy is NaN there",
                RuntimeWarning,
                stacklevel=3,
            )
        sign = np.where(big, np.sign(a), 1.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            out = np.where(bad, np.nan, sign * num / np.sqrt(np.where(bad, 1.0, var)))
        return out

    # -- accuracy -------------------------------------------------------------------------
    def accuracy(self, alpha: ArrayLike, symmetric: bool = False) -> float | np.ndarray:
        """Asymptotic test accuracy at ``alpha`` (scalar or any array; same shape returned).

        ``Phi(m / sigma)`` by default (honest); ``Phi(|m| / sigma)`` if ``symmetric=True``.
        """
        z = self.snr(alpha)
        if symmetric:
            z = np.abs(z)
        out = ndtr(z)
        return float(out) if np.ndim(out) == 0 else out

    # -- special alphas -------------------------------------------------------------------
    def stationary_point(self) -> float:
        """The unique root of ``2 m1 v(alpha) = m(alpha) v'(alpha)``:

            alpha_s = (2 m1 v0 − m0 v1) / (2 m0 v2 − m1 v1).

        ``±inf`` when the denominator vanishes (no finite stationary point). This is the
        maximiser of ``m / sigma`` if ``m(alpha_s) > 0`` and its *minimiser* if
        ``m(alpha_s) < 0``; see :meth:`alpha_star` for the policy.
        """
        num = 2.0 * self.m1 * self.v0 - self.m0 * self.v1
        den = 2.0 * self.m0 * self.v2 - self.m1 * self.v1
        if den == 0.0:
            if num == 0.0:
                return math.nan
            return math.copysign(math.inf, num)
        return num / den

    def _limit_snr(self, sign: float) -> float:
        """``lim m/sigma`` as ``alpha → sign · inf``; NaN when sigma² is not eventually > 0."""
        tau2 = self.v2 - self.m1**2
        if tau2 > 0:
            return sign * self.m1 / math.sqrt(tau2)
        c1 = self.v1 - 2.0 * self.m0 * self.m1
        if tau2 == 0 and c1 == 0 and self.m1 != 0 and self.v0 - self.m0**2 > 0:
            return math.copysign(math.inf, sign * self.m1)  # constant variance, linear mean
        return math.nan

    def alpha_star(self) -> float:
        """The alpha maximising the honest accuracy.

        Policy (docs/theory.md §2.4). ``m / sigma`` has exactly one stationary point
        ``alpha_s`` (:meth:`stationary_point`).

        * If ``m(alpha_s) > 0`` it is the global maximiser: return it (the usual case).
        * If ``m(alpha_s) < 0`` it is the global *minimiser*; the honest accuracy then increases
          towards ``alpha → ±inf`` and its supremum ``Phi(|m1| / sqrt(v2 − m1²))`` is not
          attained. Return ``sign(m1) · inf`` (the direction of the supremum) and emit a
          RuntimeWarning, rather than silently returning the worst alpha. Use
          :meth:`best_accuracy` for the supremum itself.
        * Without a finite stationary point (``2 m0 v2 = m1 v1``), return the better infinite
          direction.
        """
        a_s = self.stationary_point()
        if math.isfinite(a_s) and float(self.mean(a_s)) > 0:
            return a_s
        lim_pos, lim_neg = self._limit_snr(1.0), self._limit_snr(-1.0)
        if math.isnan(lim_pos) and math.isnan(lim_neg):
            raise ValueError(
                f"degenerate moments {self.as_tuple()}: no maximiser and no limit at infinity"
            )
        direction = -math.inf if math.isnan(lim_pos) or lim_neg > lim_pos else math.inf
        if math.isfinite(a_s):
            warnings.warn(
                f"the stationary point alpha={a_s:.6g} has m(alpha) < 0: it minimises the "
                f"honest accuracy; the supremum is approached as alpha -> {direction}",
                RuntimeWarning,
                stacklevel=2,
            )
        return direction

    def alpha_chance(self) -> float:
        """The alpha where ``m(alpha) = 0``: ``-m0 / m1``. Honest accuracy is exactly 1/2
        there (and the symmetric accuracy is minimal). Raises if ``m1 = 0``."""
        if self.m1 == 0.0:
            raise ValueError("m1 = 0: the score mean does not depend on alpha, no chance level")
        return -self.m0 / self.m1

    def best_accuracy(self) -> float:
        """Supremum over alpha of the honest accuracy (``accuracy(alpha_star())``, or its limit
        when the supremum is at infinity)."""
        a = self.alpha_star()
        if math.isfinite(a):
            return float(self.accuracy(a))
        return float(ndtr(self._limit_snr(math.copysign(1.0, a))))

    def as_tuple(self) -> tuple[float, float, float, float, float]:
        return (self.m0, self.m1, self.v0, self.v1, self.v2)

"""Argument checks of the public entry points of ``linear``.

A bad value fails with a ``TypeError`` (wrong kind: strings, complex numbers, objects, a
non-integer where an integer is needed) or a ``ValueError`` (NaN / inf, empty, wrong number of
dimensions, out of range) whose message names the argument, what was received and what is
allowed, instead of a silent cast (``complex -> float`` drops the imaginary part) or a NaN result.

Arrays are checked by :func:`rmt.validation.finite_array` (the one array check of the project,
re-exported here); the scalar checks below keep ``linear``'s own contract (``"a finite float >
0"``, an integer with a given minimum, labels coded ±1), which differs from ``rmt``'s
(``rmt.validation.positive`` accepts 0-d arrays and says ``"must be > 0"``).
"""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np

from rmt.validation import finite_array

__all__ = ["finite_array", "positive_real", "integer", "signed_labels"]


def positive_real(name: str, value: object) -> float:
    """``value`` as a finite float ``> 0``."""
    if isinstance(value, bool) or not isinstance(value, Real | np.floating | np.integer):
        raise TypeError(f"{name} must be a real number > 0, got {value!r}")
    out = float(value)
    if not math.isfinite(out) or out <= 0:
        raise ValueError(f"{name} must be a finite float > 0, got {value!r}")
    return out


def integer(name: str, value: object, minimum: int) -> int:
    """``value`` as an int ``>= minimum`` (bools and floats are refused)."""
    if isinstance(value, bool) or not isinstance(value, Integral | np.integer):
        raise TypeError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def signed_labels(name: str, y: np.ndarray, n: int) -> np.ndarray:
    """``y`` of length ``n`` with values in {−1, +1} only (0/1 or other codes would give a wrong
    alpha silently); :class:`linear.AlphaRidge` maps any two labels to ±1 before calling."""
    if y.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},) to match X, got shape {y.shape}")
    bad = (y != 1.0) & (y != -1.0)
    if np.any(bad):
        raise ValueError(
            f"{name} must be coded -1 / +1, got values {np.unique(y[bad])[:5].tolist()}; map "
            "your two labels to -1 / +1 first (linear.AlphaRidge does it for any two labels)"
        )
    return y

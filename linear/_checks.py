"""Argument checks of the public entry points of ``linear``.

A bad value fails with a ``TypeError`` (wrong kind: strings, complex numbers, objects, a
non-integer where an integer is needed) or a ``ValueError`` (NaN / inf, empty, wrong number of
dimensions, out of range) whose message names the argument, what was received and what is
allowed, instead of a silent cast (``complex -> float`` drops the imaginary part) or a NaN result.
"""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np


def real_array(name: str, value: object, ndim: int | None = None) -> np.ndarray:
    """``value`` as a non-empty float array of finite reals (with ``ndim`` dimensions if given)."""
    arr = np.asarray(value)
    if arr.dtype.kind == "c":
        raise TypeError(f"{name} must hold real numbers, got complex dtype {arr.dtype}")
    if arr.dtype.kind in "bUS":  # True -> 1.0 and "1" -> 1.0 would be silent coercions
        raise TypeError(
            f"{name} must be a numeric array of real numbers, got {type(value).__name__} of "
            f"dtype {arr.dtype} (booleans and strings are not coerced)"
        )
    if arr.dtype.kind not in "iuf":
        try:
            arr = arr.astype(float)
        except (TypeError, ValueError):
            raise TypeError(
                f"{name} must be a numeric array, got dtype {arr.dtype} "
                f"({type(value).__name__})"
            ) from None
    arr = arr.astype(float, copy=False)
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimension(s), got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must contain only finite values (no NaN or inf)")
    return arr


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

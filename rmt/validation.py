"""Input checks of ``rmt`` (public: :mod:`linear` reuses them, issue 13).

Every public function of ``rmt`` validates its arguments with these helpers, so that a bad
value fails with a message naming the argument, the value received and what is allowed:
``TypeError`` for the wrong kind (strings, booleans, complex numbers, objects), ``ValueError``
for NaN / inf, empty arrays, a wrong number of dimensions or a value out of range.
"""

from __future__ import annotations

import math
import warnings
from numbers import Integral, Real
from typing import Any, cast

import numpy as np

__all__ = [
    "positive_int",
    "real",
    "positive",
    "nonnegative",
    "finite_array",
    "alpha_grid",
    "choice",
    "small_sizes",
]


def positive_int(name: str, value: object) -> int:
    """Return ``value`` as an int, or raise if it is not an integer >= 1."""
    if isinstance(value, bool) or not isinstance(value, Integral | np.integer):
        raise TypeError(f"{name} must be a positive integer, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be a positive integer (>= 1), got {value!r}")
    return int(value)


def real(name: str, value: object) -> float:
    """Return ``value`` as a finite float, or raise naming the argument."""
    if isinstance(value, bool) or not isinstance(value, Real | np.floating | np.integer):
        arr = np.asarray(value)
        if arr.ndim == 0 and arr.dtype.kind in "fiu":
            value = arr.item()
        else:
            raise TypeError(f"{name} must be a real number, got {value!r}")
    out = float(value)  # type: ignore[arg-type]
    if not math.isfinite(out):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return out


def positive(name: str, value: object) -> float:
    """A finite, strictly positive real (sizes ratios, penalties)."""
    out = real(name, value)
    if out <= 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return out


def nonnegative(name: str, value: object) -> float:
    """A finite real >= 0 (squared norms)."""
    out = real(name, value)
    if out < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return out


def _real_array(name: str, value: object, expected: str) -> np.ndarray:
    """``value`` as a float array; complex input is refused (a cast to float would silently
    drop the imaginary part), anything not numeric raises ``TypeError`` saying ``expected``."""
    if np.iscomplexobj(cast(Any, value)):
        raise TypeError(f"{name} must hold real numbers, got complex values")
    try:
        return np.asarray(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be {expected}") from exc


def finite_array(name: str, value: object, ndim: int | tuple[int, ...] | None = None) -> np.ndarray:
    """A float array with only finite entries (and the given number of dimensions).

    Complex input is refused (a cast to float would silently drop the imaginary part), and so
    are strings and booleans (silently coerced to numbers otherwise)."""
    _refuse_str_bool(name, value)
    arr = _real_array(name, value, f"a numeric array, got {type(value).__name__}")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else ndim
        if arr.ndim not in allowed:
            raise ValueError(
                f"{name} must have {' or '.join(map(str, allowed))} dimension(s), "
                f"got shape {arr.shape}"
            )
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must contain only finite values (no NaN or inf)")
    return arr


def _refuse_str_bool(name: str, value: object) -> None:
    """``TypeError`` for str / bytes / bool input (scalars or arrays of them)."""
    if isinstance(value, str | bytes | bool | np.bool_):
        raise TypeError(f"{name} must be a real number or an array of them, got {value!r}")
    kind = getattr(value, "dtype", None)
    if kind is None and isinstance(value, list | tuple):
        try:
            kind = np.asarray(value).dtype
        except (TypeError, ValueError):  # ragged: left to the numeric conversion
            kind = None
    if kind is not None and getattr(kind, "kind", "") in "bUSO" and kind != np.dtype(object):
        raise TypeError(
            f"{name} must be a numeric array of real numbers, got dtype {kind} (strings and "
            "booleans are not coerced)"
        )


def small_sizes(**sizes: int) -> None:
    """RuntimeWarning when a sample size or the dimension is 1: the deterministic equivalents
    are limits for large p, n (and N); with a size of 1 they are not meaningful."""
    tiny = [f"{k}={v}" for k, v in sizes.items() if v < 2]
    if tiny:
        warnings.warn(
            f"{', '.join(tiny)}: the closed forms are large-dimension limits (p, n, N all "
            "large); with a size of 1 the result is not a meaningful prediction",
            RuntimeWarning,
            stacklevel=3,
        )


def alpha_grid(value: object, name: str = "alpha") -> np.ndarray:
    """Any array (or scalar) of finite real alphas as floats, same shape; empty is allowed
    (an empty grid gives an empty curve). Strings and booleans are refused (``TypeError``):
    ``float("1")`` or ``True`` would otherwise be silently coerced to a number."""
    _refuse_str_bool(name, value)
    arr = _real_array(name, value, f"a real number or an array of them, got {value!r}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must contain only finite values (no NaN or inf)")
    return arr


def choice(name: str, value: object, allowed: tuple[str, ...]) -> str:
    """``value`` if it is one of ``allowed`` (strings), else ``ValueError`` listing them."""
    if value not in allowed:
        raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
    return str(value)

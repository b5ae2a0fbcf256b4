"""Seeded row splits: the one permutation every held-out split of ``deep`` is cut from.

Every split of the project (the alpha split, a validation split carved from TRAIN, a
subsample) is a run of consecutive blocks of ONE permutation::

    perm = numpy.random.default_rng(seed).permutation(n)
    block_0 = sort(perm[0:k0]), block_1 = sort(perm[k0:k0 + k1]), ..., rest = sort(perm[sum k:])

:func:`permutation_blocks` is the only code that draws it; :func:`carve_splits`,
:func:`split_indices`, :func:`subsample_indices` (re-exported by :mod:`deep.glue` and
:mod:`deep.data`) and :func:`deep.alpha.split_for_alpha` only choose the block sizes and
validate their arguments. Because blocks are prefixes of one permutation, the first block does
not depend on the ones after it, and the same ``(n, sizes, seed)`` gives the same indices on
any machine (NumPy's PCG64): ``split_indices(n, f, s)[1]`` equals
``split_for_alpha(n, f, s)[1]`` and ``carve_splits(n, {"alpha": f, ...}, s)["alpha"]``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["permutation_blocks", "carve_splits", "split_indices", "subsample_indices"]


def permutation_blocks(n: int, sizes: Sequence[int], seed: Any) -> list[np.ndarray]:
    """``len(sizes) + 1`` sorted int64 index arrays: consecutive blocks of one permutation.

    Block ``j`` holds ``sizes[j]`` rows of ``numpy.random.default_rng(seed).permutation(n)``
    (taken in order, each block sorted); the last array is the remainder. Together the arrays
    are exactly ``range(n)``. ``seed`` goes to ``default_rng`` unchanged (callers validate it).
    """
    sizes = [int(k) for k in sizes]
    if any(k < 0 for k in sizes) or sum(sizes) > n:
        raise ValueError(f"sizes={sizes} are invalid for n={n} rows: allowed non-negative block "
                         "sizes summing to at most n")
    perm = np.random.default_rng(seed).permutation(n)
    out: list[np.ndarray] = []
    start = 0
    for k in sizes:
        out.append(np.sort(perm[start:start + k]).astype(np.int64))
        start += k
    out.append(np.sort(perm[start:]).astype(np.int64))
    return out


def _check_n(n: Any, minimum: int) -> int:
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < minimum:
        raise ValueError(f"n={n!r} is invalid: allowed an integer >= {minimum} (number of rows)")
    return int(n)


def _check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed={seed!r} is invalid: allowed a non-negative integer")
    return int(seed)


def carve_splits(n: int, fractions: Mapping[str, float], seed: int) -> dict[str, np.ndarray]:
    """Disjoint held-out index sets carved from ``n`` training rows, plus ``"rest"``.

    One permutation ``numpy.random.default_rng(seed).permutation(n)`` is cut into consecutive
    blocks, in the order of ``fractions``: block ``name`` gets ``round(fraction * n)`` rows
    (at least 1), ``"rest"`` what remains (at least 1 row must remain). Every array is sorted
    (int64). Because blocks are prefixes of one permutation, the first split does not depend on
    the ones after it: ``carve_splits(n, {"alpha": 0.2, "val": 0.1}, s)["alpha"]`` equals
    ``split_indices(n, 0.2, s)[1]`` (and :func:`deep.alpha.split_for_alpha`'s alpha rows).

    Raises ``ValueError`` for a fraction outside (0, 1), a name ``"rest"``, or fractions that
    leave no row.
    """
    n = _check_n(n, 2)
    seed = _check_seed(seed)
    if not isinstance(fractions, Mapping) or not fractions:
        raise ValueError(f"fractions={fractions!r} is invalid: allowed a non-empty mapping name -> "
                         "fraction in (0, 1)")
    sizes: dict[str, int] = {}
    for name, frac in fractions.items():
        if name == "rest":
            raise ValueError("fractions may not name a split 'rest' (it is the remainder)")
        ok = isinstance(frac, float | int | np.floating) and not isinstance(frac, bool)
        if not ok or not 0.0 < float(frac) < 1.0:
            raise ValueError(f"fraction[{name!r}]={frac!r} is invalid: allowed the open interval "
                             "(0, 1)")
        sizes[name] = max(int(round(float(frac) * n)), 1)
    if sum(sizes.values()) > n - 1:
        raise ValueError(f"fractions={dict(fractions)!r} take {sum(sizes.values())} of n={n} rows; "
                         "allowed: at least one row must remain")
    blocks = permutation_blocks(n, list(sizes.values()), seed)
    out = dict(zip(sizes, blocks, strict=False))
    out["rest"] = blocks[-1]
    return out


def split_indices(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(kept_rows, held_rows)``: a seeded, disjoint split of ``range(n)``.

    ``held_rows`` has ``round(fraction * n)`` rows (at least 1, at most ``n - 1``), e.g. the
    20 % alpha split or a validation split carved from TRAIN; both arrays sorted, int64,
    together exactly ``range(n)``. Same ``(n, fraction, seed)`` -> same split, on any machine
    (NumPy's PCG64). ``fraction`` must lie in the open interval (0, 1).
    """
    n = _check_n(n, 2)
    if isinstance(fraction, bool) or not isinstance(fraction, float | int | np.floating) or not (
        0.0 < float(fraction) < 1.0
    ):
        raise ValueError(f"fraction={fraction!r} is invalid: allowed the open interval (0, 1)")
    k = min(max(int(round(float(fraction) * n)), 1), n - 1)
    seed = _check_seed(seed)
    held, kept = permutation_blocks(n, [k], seed)
    return kept, held


def subsample_indices(n: int, size: int, seed: int) -> np.ndarray:
    """Sorted indices of at most ``size`` of ``n`` rows, drawn without replacement with ``seed``.

    ``size >= n`` returns ``arange(n)``. Sorted so that a subsample keeps the file order.
    """
    n = _check_n(n, 0)
    if isinstance(size, bool) or not isinstance(size, int | np.integer) or size < 1:
        raise ValueError(
            f"subsample={size!r} is invalid: allowed a positive integer (rows to keep)"
        )
    seed = _check_seed(seed)
    if size >= n:
        return np.arange(n, dtype=np.int64)
    return permutation_blocks(n, [int(size)], seed)[0]

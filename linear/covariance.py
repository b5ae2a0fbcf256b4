"""Noise-covariance estimates for the anisotropic plug-in alpha*, never from test rows.

The general-covariance theory (:mod:`rmt.anisotropic`) needs the target noise covariance
``Sigma`` of ``x = y mu_t + Sigma^{1/2} z``. Two honest sources of it:

* :func:`from_source` — the SOURCE rows (pre-training data, labels allowed): the pooled
  within-class covariance ``Σ_k Σ_{i in k} (x_i − m_k)(x_i − m_k)ᵀ / (rows − 2)``, optionally
  shrunk by Ledoit–Wolf (scikit-learn). Assumes the source and target share the noise
  covariance (same feature space), which is what transfer relies on anyway.
* :func:`from_unlabeled` — UNLABELED target rows, disjoint from the test rows: their second
  moment ``(1/m) Σ x_i x_iᵀ`` estimates ``C = Sigma + mu_t mu_tᵀ`` (any class balance; no
  intercept, as in the theory), optionally Ledoit–Wolf shrunk. The estimate is flagged
  ``includes_mean=True`` and the plug-in (:func:`rmt.anisotropic.plugin_statistics`) removes
  the rank-one part exactly by Sherman–Morrison, instead of subtracting a noisy estimate of
  ``mu_t mu_tᵀ`` from the matrix.

Every estimate is a :class:`CovarianceEstimate` whose ``origin`` says which rows it came from,
how many, and the shrinkage; :func:`for_split` refuses unlabeled rows that overlap the test
rows. Arrays are row-major ``(rows, p)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike
from sklearn.covariance import LedoitWolf

from rmt import anisotropic

from ._checks import real_array

__all__ = ["SHRINKAGE", "KINDS", "CovarianceEstimate", "from_source", "from_unlabeled",
           "given", "for_split"]

#: Shrinkage choices: Ledoit–Wolf towards a multiple of the identity, or none.
SHRINKAGE = ("ledoit-wolf", "none")
#: Where a covariance can come from (``"isotropic"`` means the identity, the old theory).
KINDS = ("isotropic", "source", "unlabeled", "given")


@dataclass(frozen=True, eq=False)
class CovarianceEstimate:
    """A covariance matrix with a statement of where it came from.

    Attributes
    ----------
    matrix : ndarray (p, p), symmetric positive semi-definite.
    kind : one of :data:`KINDS`.
    origin : str, e.g. ``"source rows: pooled within-class covariance of 2000 rows,
        Ledoit-Wolf shrinkage 0.113"``; repeat it in every output that uses the estimate.
    n_rows : int, rows used (0 for ``"given"``).
    shrinkage : float, the Ledoit–Wolf coefficient (0.0 without shrinkage).
    includes_mean : bool, whether ``matrix`` estimates ``Sigma + mu_t mu_tᵀ`` (unlabeled rows)
        rather than ``Sigma``.
    """

    matrix: np.ndarray
    kind: str
    origin: str
    n_rows: int
    shrinkage: float = 0.0
    includes_mean: bool = False
    _spectrum: list = field(default_factory=list, repr=False)

    @property
    def spectrum(self) -> anisotropic.Spectrum:
        """The eigen-decomposition (computed once, on first use)."""
        if not self._spectrum:
            self._spectrum.append(anisotropic.spectrum(self.matrix, f"{self.kind} covariance"))
        return self._spectrum[0]


def _shrinkage(value: object) -> str:
    if value not in SHRINKAGE:
        raise ValueError(f"shrinkage must be one of {SHRINKAGE}, got {value!r}")
    return str(value)


def _estimate(R: np.ndarray, dof: int, shrinkage: str) -> tuple[np.ndarray, float]:
    """Covariance of already centred rows ``R`` with ``dof`` degrees of freedom; Ledoit–Wolf
    shrinks the maximum-likelihood ``RᵀR / rows`` and is rescaled by ``rows / dof`` too."""
    rows = R.shape[0]
    if shrinkage == "none":
        return R.T @ R / dof, 0.0
    lw = LedoitWolf(assume_centered=True).fit(R)
    return lw.covariance_ * (rows / dof), float(lw.shrinkage_)


def from_source(X_source: ArrayLike, y_source: ArrayLike,
                shrinkage: str = "ledoit-wolf") -> CovarianceEstimate:
    """Pooled within-class covariance of the SOURCE rows (two classes, any label values).

    ``Σ̂ = Σ_k Σ_{i in class k} (x_i − m_k)(x_i − m_k)ᵀ / (rows − 2)``; with
    ``shrinkage="ledoit-wolf"`` the within-class residuals go through
    ``sklearn.covariance.LedoitWolf(assume_centered=True)`` (rescaled by ``rows / (rows − 2)``).
    """
    X = real_array("X_source", X_source, ndim=2)
    y = np.asarray(y_source).reshape(-1)
    shrinkage = _shrinkage(shrinkage)
    if y.shape[0] != X.shape[0]:
        raise ValueError(f"y_source has {y.shape[0]} entries but X_source has {X.shape[0]} rows")
    classes, codes = np.unique(y, return_inverse=True)
    if classes.shape[0] != 2:
        raise ValueError(f"y_source must contain exactly two classes, got {classes.shape[0]}: "
                         f"{classes[:5].tolist()}")
    counts = np.bincount(codes, minlength=2)
    if np.any(counts < 2) or X.shape[0] < 3:
        raise ValueError(f"each source class needs at least 2 rows, got counts {counts.tolist()}")
    means = np.stack([X[codes == k].mean(axis=0) for k in range(2)])
    R = X - means[codes]
    matrix, lw = _estimate(R, X.shape[0] - 2, shrinkage)
    how = f"Ledoit-Wolf shrinkage {lw:.4g}" if shrinkage == "ledoit-wolf" else "no shrinkage"
    return CovarianceEstimate(
        matrix=matrix, kind="source", n_rows=int(X.shape[0]), shrinkage=lw,
        origin=f"source rows: pooled within-class covariance of {X.shape[0]} rows, {how}")


def from_unlabeled(X_unlabeled: ArrayLike, shrinkage: str = "ledoit-wolf") -> CovarianceEstimate:
    """Second moment of UNLABELED target rows (which must be disjoint from the test rows).

    ``Ĉ = (1/m) Σ_i x_i x_iᵀ`` over the ``m`` rows (not centred: ``E[x xᵀ] = Sigma + mu_t mu_tᵀ``
    for ``x = y mu_t + Sigma^{1/2} z`` whatever the class balance), or its Ledoit–Wolf shrinkage
    (``sklearn.covariance.LedoitWolf(assume_centered=True)``). Returned with
    ``includes_mean=True``: the plug-in treats it as ``Sigma + mu_t mu_tᵀ``. Labels are never read.
    """
    X = real_array("X_unlabeled", X_unlabeled, ndim=2)
    shrinkage = _shrinkage(shrinkage)
    rows = X.shape[0]
    if rows < 2:
        raise ValueError(f"X_unlabeled needs at least 2 rows, got {rows}")
    C, lw = _estimate(X, rows, shrinkage)
    how = f"Ledoit-Wolf shrinkage {lw:.4g}" if shrinkage == "ledoit-wolf" else "no shrinkage"
    return CovarianceEstimate(
        matrix=C, kind="unlabeled", n_rows=rows, shrinkage=lw, includes_mean=True,
        origin=f"unlabeled target rows: second moment of {rows} rows (Sigma + mu_t mu_t^T), {how}")


def given(matrix: ArrayLike) -> CovarianceEstimate:
    """A covariance supplied by the user (validated: square, symmetric, PSD, not zero)."""
    M = real_array("covariance", matrix, ndim=2)
    spec = anisotropic.spectrum(M, "covariance")
    est = CovarianceEstimate(matrix=M, kind="given", n_rows=0,
                             origin=f"given {M.shape[0]} x {M.shape[1]} covariance array")
    est._spectrum.append(spec)
    return est


def for_split(kind: str, *, X_source: ArrayLike | None = None, y_source: ArrayLike | None = None,
              X_target: ArrayLike | None = None, train_idx: ArrayLike | None = None,
              unlabeled_idx: ArrayLike | None = None, test_idx: ArrayLike | None = None,
              shrinkage: str = "ledoit-wolf") -> CovarianceEstimate | None:
    """The covariance of one honest split, from row indices of a whole target domain.

    ``kind="isotropic"`` → None (identity); ``"source"`` → :func:`from_source` on the source
    rows; ``"unlabeled"`` → :func:`from_unlabeled` on ``X_target[unlabeled_idx]`` (labels
    never read). Raises when ``unlabeled_idx`` or ``train_idx`` share a row with ``test_idx``:
    no test row is ever read.
    """
    if kind == "isotropic":
        return None
    if kind == "source":
        if X_source is None or y_source is None:
            raise ValueError("kind='source' needs X_source and y_source")
        return from_source(X_source, y_source, shrinkage)
    if kind != "unlabeled":
        raise ValueError(f"kind must be one of ('isotropic', 'source', 'unlabeled'), got {kind!r}")
    if X_target is None or train_idx is None or unlabeled_idx is None or test_idx is None:
        raise ValueError("kind='unlabeled' needs X_target, train_idx, unlabeled_idx and test_idx")
    tr, un, te = (np.asarray(i, dtype=int).reshape(-1) for i in (train_idx, unlabeled_idx, test_idx))
    for name, idx in (("unlabeled_idx", un), ("train_idx", tr)):
        shared = np.intersect1d(idx, te)
        if shared.size:
            raise ValueError(f"{name} shares {shared.size} row(s) with test_idx (e.g. row "
                             f"{int(shared[0])}); the covariance must not read test rows")
    return from_unlabeled(np.asarray(X_target)[un], shrinkage)

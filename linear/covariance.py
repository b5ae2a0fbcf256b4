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

from rmt import Moments, anisotropic, arbitrary

from .validation import finite_array

__all__ = ["SHRINKAGE", "KINDS", "CovarianceEstimate", "from_source", "from_unlabeled",
           "given", "for_split", "plugin_moments", "TheoryCheck", "theory_check"]

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
    X = finite_array("X_source", X_source, ndim=2)
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
    X = finite_array("X_unlabeled", X_unlabeled, ndim=2)
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
    M = finite_array("covariance", matrix, ndim=2)
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


def plugin_moments(X: ArrayLike, y: ArrayLike, source_coef: ArrayLike, gamma: float,
                   n: int | None = None,
                   covariance: CovarianceEstimate | None = None) -> Moments:
    """Plug-in moments of the alpha-ridge score from labelled target rows ``X`` (rows, p).

    ``covariance=None``: the isotropic theory, :func:`rmt.arbitrary.plugin_statistics`
    (``M̂_t``, ``ŝ``, ``W``); otherwise :func:`rmt.anisotropic.plugin_statistics` with the given
    estimate (read as ``Sigma + mu_t mu_tᵀ`` when ``includes_mean``). The moments are those of a
    training set of size ``n`` (default: the rows given) at penalty ``gamma``.

    Given ALL rows of a target domain this draws a descriptive theory curve (it reads the test
    rows' labels, as Figure 3's theory always has); given training rows only it is the honest
    plug-in of :func:`linear.selection.plugin_alpha`.
    """
    if covariance is None:
        return arbitrary.plugin_statistics(X, y, source_coef).moments(gamma, n=n)
    if not isinstance(covariance, CovarianceEstimate):
        raise TypeError(f"covariance must be None or a CovarianceEstimate, got "
                        f"{type(covariance).__name__}")
    stats = anisotropic.plugin_statistics(X, y, source_coef, covariance.spectrum,
                                          includes_mean=covariance.includes_mean)
    return stats.moments(gamma, n)


# --------------------------------------------------------------------------------------------
# theory curves against the empirical accuracy-vs-alpha curve on shared splits
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class TheoryCheck:
    """Empirical accuracy vs alpha on shared splits, with theory curves (:func:`theory_check`).

    Attributes
    ----------
    n : int, training rows per split.
    alphas : ndarray (k,), the grid (possibly extended so that the argmax is interior).
    accuracy : ndarray (splits, k), honest test accuracy of ``w_alpha`` per split.
    theory : dict name -> ndarray (k,), theory accuracy curves.
    alpha_star : dict name -> float, each theory's maximiser (:meth:`rmt.Moments.alpha_star`).
    origins : dict name -> str, where each theory's covariance came from.
    gaussian : ndarray (k,) or None, DIAGNOSTIC: mean over splits of the exact Gaussian
        prediction ``Σ_c π_c Φ(c ⟨w_α, m_c⟩ / sqrt(w_αᵀ S_c w_α))`` for each split's realised
        ``w_α``, with the share ``π_c``, mean ``m_c`` and covariance ``S_c`` of that split's TEST
        rows of class ``c = ±1`` (so ``Φ`` of the test scores' own mean / std): what a Gaussian
        model with exactly the right class-conditional first two moments gives for the same
        classifiers. Its gap to the empirical curve is the part that no covariance plug-in,
        however good, can remove (non-Gaussian test scores).
    """

    n: int
    alphas: np.ndarray
    accuracy: np.ndarray
    theory: dict
    alpha_star: dict
    origins: dict
    gaussian: np.ndarray | None = None

    @property
    def mean(self) -> np.ndarray:
        return self.accuracy.mean(axis=0)

    @property
    def std(self) -> np.ndarray:
        if self.accuracy.shape[0] < 2:
            return np.zeros(self.alphas.shape)
        return self.accuracy.std(axis=0, ddof=1)

    @property
    def argmax(self) -> float:
        """Grid argmax of the mean empirical accuracy."""
        return float(self.alphas[int(np.argmax(self.mean))])

    @property
    def interior(self) -> bool:
        """Whether the empirical argmax is not at an end of the grid."""
        k = int(np.argmax(self.mean))
        return 0 < k < self.alphas.shape[0] - 1

    def gap(self, name: str, nonnegative: bool = False) -> float:
        """``max |curve − empirical mean|`` over the grid (or its ``alpha >= 0`` part), as a
        fraction (×100 = points); ``name`` a theory or ``"gaussian"``."""
        curve = self.gaussian if name == "gaussian" else self.theory[name]
        if curve is None:
            raise ValueError("no Gaussian diagnostic: call theory_check(..., gaussian=True)")
        keep = self.alphas >= 0.0 if nonnegative else np.ones(self.alphas.shape, dtype=bool)
        return float(np.max(np.abs(np.asarray(curve)[keep] - self.mean[keep])))

    def accuracy_at(self, alpha: float) -> float:
        """Mean empirical accuracy at ``alpha`` (linear interpolation, clipped to the grid)."""
        return float(np.interp(alpha, self.alphas, self.mean))


def theory_check(
    X: ArrayLike,
    y: ArrayLike,
    source_coef: ArrayLike,
    splits: list,
    *,
    gamma: float,
    covariances: dict | None = None,
    alphas: ArrayLike | None = None,
    max_alpha: float = 64.0,
    gaussian: bool = False,
) -> TheoryCheck:
    """Theory curves against the empirical accuracy-vs-alpha curve of ONE target domain.

    Parameters
    ----------
    X, y : (rows, p), (rows,) ±1 — all rows of the target domain.
    source_coef : (p,) the source classifier ``w̃``.
    splits : list of ``(train_idx, test_idx)``, all with the same number n of training rows;
        ``w_alpha`` is fitted on the training rows (:func:`linear.solve.affine_parts`) and
        scored on the test rows (the ONLY use of test rows, besides the descriptive theory).
    gamma : the fine-tuning penalty.
    covariances : name -> ``None`` (isotropic) or :class:`CovarianceEstimate`; default
        ``{"iso": None}``. Each theory curve is :func:`plugin_moments` from ALL rows ``X, y``
        at training size n (descriptive, as Figure 3's theory curve); the covariances
        themselves must come from elsewhere (source or unlabeled rows).
    alphas : the grid (default ``arange(-4, 12, 0.1)``); while the empirical argmax is at an
        end, that side is extended by the grid's width, up to ``±max_alpha`` (check
        :attr:`TheoryCheck.interior`).
    gaussian : also compute the :attr:`TheoryCheck.gaussian` diagnostic.
    """
    from scipy.stats import norm

    from .solve import accuracy_path, affine_parts

    Xv = finite_array("X", X, ndim=2)
    yv = np.asarray(y, dtype=float).reshape(-1)
    w = np.asarray(source_coef, dtype=float).reshape(-1)
    covs = {"iso": None} if covariances is None else dict(covariances)
    sizes = {len(tr) for tr, _ in splits}
    if len(sizes) != 1:
        raise ValueError(f"every split needs the same number of training rows, got {sorted(sizes)}")
    n = sizes.pop()
    paths = [affine_parts(Xv[tr], yv[tr], w, gamma) for tr, _ in splits]
    a = np.round(np.arange(-4.0, 12.0 + 0.05, 0.1), 10) if alphas is None \
        else np.asarray(alphas, dtype=float).reshape(-1)
    while True:
        acc = np.array([accuracy_path(Xv[te], yv[te], pth, a)
                        for (_, te), pth in zip(splits, paths, strict=True)])
        k = int(np.argmax(acc.mean(axis=0)))
        step = float(a[1] - a[0]) if a.shape[0] > 1 else 0.1
        width = max(float(a[-1] - a[0]), step)
        if k == a.shape[0] - 1 and a[-1] < max_alpha:
            a = np.round(np.arange(a[0], min(a[-1] + width, max_alpha) + step / 2, step), 10)
        elif k == 0 and a[0] > -max_alpha:
            a = np.round(np.arange(max(a[0] - width, -max_alpha), a[-1] + step / 2, step), 10)
        else:
            break
    theory, stars, origins = {}, {}, {}
    for name, cov in covs.items():
        m = plugin_moments(Xv, yv, w, gamma, n=n, covariance=cov)
        theory[name] = np.asarray(m.accuracy(a), dtype=float)
        stars[name] = float(m.alpha_star())
        origins[name] = "identity (isotropic theory)" if cov is None else cov.origin
    gauss = None
    if gaussian:
        # per split and class c = ±1 of its TEST rows: the score c·x'w_α has mean
        # c(mean(su) + α mean(sv)) and variance var(su) + 2α cov(su, sv) + α² var(sv)
        curves = np.zeros((len(paths), a.shape[0]))
        for i, ((_, te), pth) in enumerate(zip(splits, paths, strict=True)):
            for c in (-1.0, 1.0):
                rows = Xv[te][yv[te] == c]
                if rows.shape[0] < 2:
                    continue
                su, sv = rows @ pth.u, rows @ pth.v
                C = np.cov(np.stack([su, sv]), ddof=0)
                var = np.maximum(C[0, 0] + 2.0 * a * C[0, 1] + a * a * C[1, 1], 1e-300)
                mean = c * (su.mean() + a * sv.mean())
                curves[i] += rows.shape[0] / len(te) * norm.cdf(mean / np.sqrt(var))
        gauss = curves.mean(axis=0)
    return TheoryCheck(n=int(n), alphas=a, accuracy=acc, theory=theory, alpha_star=stars,
                       origins=origins, gaussian=gauss)

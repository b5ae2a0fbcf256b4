"""General-covariance features: alpha-ridge fine-tuning when the noise is not isotropic.

Target features are ``x = y mu_t + Sigma^{1/2} z`` with ``z ~ N(0, I_p)``, labels ``y = ±1``,
and ``Sigma`` any positive semi-definite ``p × p`` matrix (docs/formulas.md, section "General
covariance", derives everything below step by step). The classifier and its scalings are those
of :mod:`rmt.arbitrary` (X is ``p × n``, columns are samples):

    w_alpha = argmin_w (1/n) ‖y − Xᵀ w‖² + gamma ‖w − alpha w̃‖²  =  u + alpha v,
    u = Q X y / n,   v = gamma Q w̃,   Q = (X Xᵀ / n + gamma I_p)^{-1}.

For a fresh target point ``y wᵀx ~ N(⟨w, mu_t⟩, wᵀ Sigma w)``, so the :class:`rmt.Moments`
returned here hold ``m(alpha) ≈ ⟨w_alpha, mu_t⟩`` and ``v(alpha) ≈ m² + w_alphaᵀ Sigma w_alpha``
(that is ``E[w_alphaᵀ C w_alpha]`` with ``C = mu_t mu_tᵀ + Sigma``); ``accuracy``,
``alpha_star`` and ``best_accuracy`` then work unchanged.

Deterministic equivalents (``d = 1 + delta``, ``g = gamma d``, ``P = (Sigma + g I)^{-1}``):

    delta = tr(Sigma Q̄) / n = d tr(Sigma P) / n              (fixed point, unique root d >= 1)
    h     = 1 − tr((Sigma P)²) / n,     rho = mu_tᵀ P mu_t,    Pi = (C + g I)^{-1}
    E[Q] ≈ d Pi,    E[u] ≈ Pi mu_t = P mu_t / (1 + rho)
    E[Q B Q] ≈ d² Pi B Pi + d² tr(Sigma P B P) / (n h) · Pi C Pi
    E[u uᵀ]  ≈ P mu_t mu_tᵀ P / (1 + rho)² + (1 + mu_tᵀ P Sigma P mu_t) P Sigma P / (n h (1 + rho)²)

(the trace of the rank-one part ``mu_t mu_tᵀ`` of ``C`` is ``O(1/n)`` and is dropped, as in the
isotropic theory, whose ``delta(p/n, gamma)`` does not depend on ``‖mu_t‖``). With ``Sigma = I``
these reduce exactly to :mod:`rmt.arbitrary` and :mod:`rmt.ridge`.

* :func:`moments` — case (a), a fixed source classifier ``w̃``;
* :func:`ridge_moments` — case (b), ``w̃`` ridge-trained on ``N`` source rows
  ``x̃ = ỹ mu_s + Sigma_s^{1/2} z̃`` with penalty ``gamma_pre``;
* :func:`spectrum` / :class:`Spectrum` — the one eigendecomposition. Decompose once and pass the
  :class:`Spectrum` to evaluate many settings: each call then costs ``O(p²)`` (two projections)
  plus ``O(p)`` per fixed-point iteration, and a curve over an alpha grid is ``O(grid)``.

Label balance does not enter: ``y_i x_i ~ N(mu, Sigma)`` whatever ``y_i``, so the
equivalents hold for any label proportions (the project's samplers use equiprobable labels).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import brentq

from . import validation as V
from .arbitrary import plugin_rows
from .core import Moments

__all__ = [
    "Spectrum", "spectrum", "Resolvent", "resolvent", "moments", "SourceMoments",
    "source_moments", "ridge_moments", "PluginStatistics", "plugin_statistics",
]

#: Relative tolerance on negative eigenvalues (round-off of a PSD matrix) and on symmetry.
_PSD_TOL = 1e-10
#: Tolerance of the orthonormality probe of user-given eigenvectors.
_ORTHO_TOL = 1e-8


@dataclass(frozen=True, eq=False)
class Spectrum:
    """Eigen-decomposition ``Sigma = U diag(eigenvalues) Uᵀ`` of a covariance matrix.

    Attributes
    ----------
    eigenvalues : ndarray (p,)
        Non-negative (round-off negatives down to ``-1e-10 max|eigenvalue|`` are set to 0).
    eigenvectors : ndarray (p, p)
        Orthonormal columns ``U``.

    Build it with :func:`spectrum` (from a matrix or a pair); the arrays are read-only.
    """

    eigenvalues: np.ndarray
    eigenvectors: np.ndarray

    @property
    def p(self) -> int:
        return int(self.eigenvalues.shape[0])

    def project(self, vector: np.ndarray) -> np.ndarray:
        """Coordinates ``Uᵀ vector`` in the eigenbasis."""
        return self.eigenvectors.T @ vector

    def matrix(self) -> np.ndarray:
        """``U diag(eigenvalues) Uᵀ`` (p, p)."""
        U = self.eigenvectors
        return (U * self.eigenvalues) @ U.T


def _is_pair(cov: object) -> bool:
    if isinstance(cov, Spectrum) or not isinstance(cov, tuple | list) or len(cov) != 2:
        return False
    try:
        return np.ndim(cov[0]) == 1 and np.ndim(cov[1]) == 2
    except (TypeError, ValueError):
        return False


def spectrum(cov: Any, name: str = "cov", p: int | None = None) -> Spectrum:
    """Validate a covariance and return its :class:`Spectrum`.

    Parameters
    ----------
    cov : array (p, p), or pair ``(eigenvalues (p,), eigenvectors (p, p))``, or Spectrum
        A symmetric positive semi-definite matrix (decomposed here with ``numpy.linalg.eigh``,
        ``O(p³)``), or its eigen-decomposition (columns of ``eigenvectors`` orthonormal; checked
        on two probe vectors, ``O(p²)``), or an already built :class:`Spectrum` (returned as is).
    name : str
        How the caller calls ``cov`` (``"cov_s"``, ``"cov_t"``), for messages.
    p : int or None
        Required dimension (length of the mean vectors), if known.

    Raises
    ------
    ValueError
        Naming ``name`` for a wrong shape, an asymmetric matrix, a negative eigenvalue,
        non-orthonormal eigenvectors or a zero covariance.
    """
    if isinstance(cov, Spectrum):
        if p is not None and cov.p != p:
            raise ValueError(f"{name} is a Spectrum of dimension {cov.p} but the mean vectors have "
                             f"length p={p}; allowed: a covariance of shape ({p}, {p})")
        return cov
    if _is_pair(cov):
        vals = V.finite_array(f"{name} eigenvalues", cov[0], ndim=1)
        vecs = V.finite_array(f"{name} eigenvectors", cov[1], ndim=2)
        q = vals.shape[0]
        if vecs.shape != (q, q):
            raise ValueError(
                f"{name}: eigenvectors have shape {vecs.shape} but there are {q} eigenvalues; "
                f"allowed: eigenvalues (p,) with eigenvectors (p, p), columns orthonormal"
            )
        probes = np.stack([np.ones(q), np.cos(np.arange(q) * 1.7 + 0.3)], axis=1)
        back = vecs @ (vecs.T @ probes)
        norms = np.einsum("ij,ij->j", vecs, vecs)
        if (np.max(np.abs(back - probes)) > _ORTHO_TOL * math.sqrt(q)
                or np.max(np.abs(norms - 1.0)) > _ORTHO_TOL):
            raise ValueError(
                f"{name}: the eigenvectors are not orthonormal (U Uᵀ != I); allowed: the columns "
                "of an orthogonal matrix, e.g. from numpy.linalg.eigh"
            )
    else:
        mat = V.finite_array(name, cov, ndim=2)
        if mat.shape[0] != mat.shape[1]:
            raise ValueError(f"{name} must be a square (p, p) matrix, got shape {mat.shape}")
        scale = float(np.max(np.abs(mat)))
        asym = float(np.max(np.abs(mat - mat.T)))
        if asym > _PSD_TOL * max(scale, 1e-300):
            raise ValueError(
                f"{name} is not symmetric (max |cov - cov.T| = {asym:.3g}); allowed: a symmetric "
                "positive semi-definite matrix"
            )
        vals, vecs = np.linalg.eigh(0.5 * (mat + mat.T))
    q = vals.shape[0]
    if p is not None and q != p:
        raise ValueError(f"{name} has dimension {q} but the mean vectors have length p={p}; "
                         f"allowed: a covariance of shape ({p}, {p})")
    top = float(np.max(np.abs(vals)))
    low = float(np.min(vals))
    if low < -_PSD_TOL * top:
        raise ValueError(
            f"{name} is not positive semi-definite: smallest eigenvalue {low:.6g} < 0; allowed: "
            "a symmetric positive semi-definite matrix (all eigenvalues >= 0)"
        )
    if top == 0.0:
        raise ValueError(f"{name} is the zero matrix: the test score has no noise and the accuracy "
                         "is 0 or 1; allowed: a positive semi-definite matrix with trace > 0")
    vals = np.clip(vals, 0.0, None)
    vals.setflags(write=False)
    vecs = np.array(vecs, dtype=float)
    vecs.setflags(write=False)
    return Spectrum(eigenvalues=vals, eigenvectors=vecs)


@dataclass(frozen=True, eq=False)
class Resolvent:
    """Deterministic-equivalent constants of one ridge problem with covariance ``Sigma``.

    ``Q = (X Xᵀ / n + gamma I)^{-1}`` on ``n`` columns ``x_i = y_i mu + Sigma^{1/2} z_i``.

    Attributes
    ----------
    n, gamma : the sample size and the penalty.
    delta : root of ``delta = (1 + delta) (1/n) Σ_j s_j / (s_j + gamma (1 + delta))`` over the
        eigenvalues ``s_j`` of ``Sigma`` (``= rmt.delta(p/n, gamma)`` when ``Sigma = I``).
    g : ``gamma (1 + delta)`` (``kappa − 1`` of the isotropic theory).
    h : ``1 − (1/n) Σ_j s_j² / (s_j + g)²`` in (0, 1] (``1 − eta / kappa²`` when ``Sigma = I``).
    diagonal : ndarray (p,), the eigenvalues ``1 / (s_j + g)`` of ``P = (Sigma + g I)^{-1}``.
    """

    n: int
    gamma: float
    delta: float
    g: float
    h: float
    diagonal: np.ndarray


def resolvent(cov: Any, n: int, gamma: float, name: str = "gamma") -> Resolvent:
    """Solve the fixed point ``delta = tr(Sigma Q̄) / n`` for covariance ``cov`` (see
    :func:`spectrum` for the accepted forms), ``n >= 1`` samples and penalty ``gamma > 0``.

    With ``d = 1 + delta`` the equation is ``1 − 1/d = (1/n) Σ_j s_j / (s_j + gamma d)``: the
    left side increases from 0 and the right side decreases in ``d``, so the root is unique and
    lies in ``[1, 2 + tr(Sigma) / (n gamma)]``; it is found by Brent's method to machine
    precision (``O(p)`` per iteration).
    """
    spec = spectrum(cov)
    n = V.positive_int("n", n)
    gamma = V.positive(name, gamma)
    s = spec.eigenvalues
    inv_n = 1.0 / n

    def phi(d: float) -> float:
        return 1.0 - 1.0 / d - inv_n * float(np.sum(s / (s + gamma * d)))

    hi = 2.0 + float(np.sum(s)) * inv_n / gamma
    if not math.isfinite(hi) or gamma * hi > 1e150:
        raise ValueError(
            f"{name}={gamma!r} (or the covariance scale) is out of range: gamma (1 + delta) "
            "would overflow float64"
        )
    d = float(brentq(phi, 1.0, hi, xtol=1e-300, rtol=4.0 * np.finfo(float).eps, maxiter=500))
    g = gamma * d
    diag = 1.0 / (s + g)
    h = 1.0 - inv_n * float(np.sum((s * diag) ** 2))
    diag.setflags(write=False)
    return Resolvent(n=n, gamma=gamma, delta=d - 1.0, g=g, h=h, diagonal=diag)


# --------------------------------------------------------------------------------------------
# the target problem, for a (possibly random) source vector given by its first two moments
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Forms:
    """The scalar forms of ``mu`` (target mean) and ``b`` (source vector) the moments need,
    all with ``P = (Sigma + g I)^{-1}``: quadratic in mu ``rho = muᵀPmu``, ``nu = muᵀPΣPmu``,
    ``tau = muᵀP²mu``; bilinear ``e = bᵀPmu``, ``f1 = bᵀPΣPmu``, ``f2 = bᵀP²mu``; quadratic
    in b ``q0 = bᵀPΣPb``."""

    rho: float
    nu: float
    tau: float
    e: float
    f1: float
    f2: float
    q0: float


def _forms(pd: np.ndarray, s: np.ndarray, mu: np.ndarray, b: np.ndarray) -> _Forms:
    """:class:`_Forms` from eigenbasis coordinates of ``mu`` and ``b``."""
    x, y = pd * mu, pd * b  # P mu, P b
    return _Forms(rho=float(mu @ x), nu=float(s @ (x * x)), tau=float(x @ x), e=float(b @ x),
                  f1=float(s @ (x * y)), f2=float(x @ y), q0=float(s @ (y * y)))


def _moments_from_forms(res: Resolvent, f: _Forms, extra_trace: float) -> Moments:
    """docs/formulas.md, "General covariance", steps 3 and 5, written with the scalar forms.

    With ``Pi mu = P mu / (1 + rho)`` and ``Pi b = P b − P mu · e / (1 + rho)``:
    ``w̃ᵀΠΣΠmu = (f1 − e nu/(1 + rho)) / (1 + rho)``, ``w̃ᵀΠ²mu = (f2 − e tau/(1 + rho)) / (1 + rho)``,
    ``w̃ᵀΠΣΠw̃ = q0 − 2 e f1/(1 + rho) + e² nu/(1 + rho)²``, ``muᵀΠw̃ = e / (1 + rho)``.
    ``extra_trace = tr(P Sigma P Omega)`` for a random source (0 for a fixed one).
    """
    g, h = res.g, res.h
    one = 1.0 + f.rho
    m0 = f.rho / one
    m1 = g * f.e / one
    c0 = (f.nu + 1.0 - h) / (h * one**2)
    b_sig_mu = (f.f1 - f.e * f.nu / one) / one
    b_pi2_mu = (f.f2 - f.e * f.tau / one) / one
    q = f.q0 - 2.0 * f.e * f.f1 / one + f.e**2 * f.nu / one**2
    mu_pi_b = f.e / one
    c1 = 2.0 * (g * b_sig_mu - g * g * (1.0 - h) / h * b_pi2_mu)
    c2 = g * g * (q + (1.0 - h) / h * (q + mu_pi_b**2) + extra_trace / h)
    return Moments(m0, m1, m0 * m0 + c0, 2.0 * m0 * m1 + c1, m1 * m1 + c2)


def _target_moments(res: Resolvent, s: np.ndarray, mu: np.ndarray, b: np.ndarray,
                    extra_trace: float) -> Moments:
    """Moments of ``w_alpha`` from eigenbasis coordinates (``Uᵀ mu``, ``Uᵀ b``); ``b = E[w̃]``."""
    return _moments_from_forms(res, _forms(res.diagonal, s, mu, b), extra_trace)


def _mean(name: str, value: ArrayLike) -> np.ndarray:
    return V.finite_array(name, value, ndim=1)


def moments(source_coef: ArrayLike, mu_t: ArrayLike, cov: Any, n: int, gamma: float) -> Moments:
    """Score moments for a FIXED source classifier ``w̃`` (case a) and covariance ``Sigma``.

    With the constants of :func:`resolvent` for ``(Sigma, n, gamma)``, ``P = (Sigma + g I)^{-1}``,
    ``rho = mu_tᵀ P mu_t``, ``Pi = P − P mu_t mu_tᵀ P / (1 + rho)`` and ``C = mu_t mu_tᵀ + Sigma``:

        m0 = rho / (1 + rho),                   m1 = g mu_tᵀ P w̃ / (1 + rho)
        v0 − m0² = (mu_tᵀ P Sigma P mu_t + 1 − h) / (h (1 + rho)²)
        v1 − 2 m0 m1 = 2 g w̃ᵀ Pi Sigma Pi mu_t − 2 g² (1 − h)/h · w̃ᵀ Pi² mu_t
        v2 − m1² = g² [w̃ᵀ Pi Sigma Pi w̃ + (1 − h)/h · w̃ᵀ Pi C Pi w̃]

    With ``Sigma = I`` this is :func:`rmt.arbitrary.moments` with ``M_t = ‖mu_t‖²``,
    ``s = ⟨w̃, mu_t⟩``, ``W = ‖w̃‖²``.

    Parameters
    ----------
    source_coef : array (p,)
        The source classifier ``w̃``, independent of the target data.
    mu_t : array (p,)
        Target class mean (``x = y mu_t + Sigma^{1/2} z``).
    cov : array (p, p), pair (eigenvalues, eigenvectors) or :class:`Spectrum`
        Target noise covariance ``Sigma`` (positive semi-definite, not zero).
    n : int >= 1
        Number of target training samples.
    gamma : float > 0
        Fine-tuning penalty ``gamma_ft`` (``1/n`` convention, as in :mod:`rmt.arbitrary`).

    Examples
    --------
    >>> import numpy as np
    >>> from rmt import anisotropic, arbitrary
    >>> w, mu = np.array([1.0, 0.5, 0.0]), np.array([1.0, 0.0, 0.2])
    >>> a = anisotropic.moments(w, mu, np.eye(3), n=2, gamma=0.5).as_tuple()
    >>> b = arbitrary.moments(mu @ mu, w @ mu, w @ w, p=3, n=2, gamma=0.5).as_tuple()
    >>> bool(np.allclose(a, b, rtol=1e-12, atol=0))
    True
    """
    w = _mean("source_coef", source_coef)
    mu = _mean("mu_t", mu_t)
    if w.shape != mu.shape:
        raise ValueError(f"source_coef has length {w.shape[0]} but mu_t has length {mu.shape[0]}; "
                         "allowed: two vectors of the same length p")
    spec = spectrum(cov, "cov", p=mu.shape[0])
    n = V.positive_int("n", n)
    gamma = V.positive("gamma", gamma)
    V.small_sizes(p=spec.p, n=n)
    res = resolvent(spec, n, gamma)
    return _target_moments(res, spec.eigenvalues, spec.project(mu), spec.project(w), 0.0)


def _same_spectrum(a: Any, b: Any) -> bool:
    """Whether two covariance arguments are literally the same data (decompose once)."""
    if a is b:
        return True
    if isinstance(a, Spectrum) or isinstance(b, Spectrum) or _is_pair(a) or _is_pair(b):
        return False
    try:
        A, B = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    except (TypeError, ValueError):
        return False
    return A.shape == B.shape and bool(np.array_equal(A, B))


@dataclass(frozen=True, eq=False)
class SourceMoments:
    """First- and second-order equivalents of a ridge source classifier ``w̃``.

    ``w̃ = argmin (1/N)‖ỹ − X̃ᵀw‖² + gamma_pre‖w‖²`` on ``N`` rows ``x̃ = ỹ mu_s + Sigma_s^{1/2} z̃``.
    With the source constants of :func:`resolvent` (``P̃``, ``h̃``) and ``rhõ = mu_sᵀ P̃ mu_s``:

        E[w̃]           ≈ mean  = P̃ mu_s / (1 + rhõ)
        E[w̃ w̃ᵀ] − mean meanᵀ ≈ Omega = omega · P̃ Sigma_s P̃,
        omega = (1 + mu_sᵀ P̃ Sigma_s P̃ mu_s) / (N h̃ (1 + rhõ)²)

    ``Omega`` is a "bulk" matrix: it enters quadratic forms only through normalised traces
    (``E[w̃ᵀ K w̃] ≈ meanᵀ K mean + tr(K Omega)`` for bounded ``K``), and its action on a
    fixed direction is ``O(1/N)``.

    Attributes
    ----------
    mean_eigen : ndarray (p,), ``Uᵀ mean`` in the eigenbasis of ``Sigma_s``
        (:attr:`mean` is ``mean`` in the original coordinates).
    omega : float.
    spectrum : the :class:`Spectrum` of ``Sigma_s``.
    resolvent : the :class:`Resolvent` of the source problem.
    """

    mean_eigen: np.ndarray
    omega: float
    spectrum: Spectrum
    resolvent: Resolvent

    @property
    def mean(self) -> np.ndarray:
        """``E[w̃] ≈ P̃ mu_s / (1 + rhõ)`` (p,), in the original coordinates."""
        return self.spectrum.eigenvectors @ self.mean_eigen

    @property
    def omega_eigenvalues(self) -> np.ndarray:
        """Eigenvalues of ``Omega`` (eigenvectors: those of ``Sigma_s``)."""
        pd = self.resolvent.diagonal
        return self.omega * self.spectrum.eigenvalues * pd * pd

    def second_moment(self, K: ArrayLike) -> float:
        """``E[w̃ᵀ K w̃] ≈ meanᵀ K mean + tr(K Omega)`` for a symmetric (p, p) matrix ``K``."""
        K = V.finite_array("K", K, ndim=2)
        if K.shape != (self.spectrum.p, self.spectrum.p):
            raise ValueError(f"K must have shape ({self.spectrum.p}, {self.spectrum.p}), "
                             f"got {K.shape}")
        U, mean = self.spectrum.eigenvectors, self.mean
        return float(mean @ K @ mean + np.einsum("ij,ij,j->", U, K @ U, self.omega_eigenvalues))


def source_moments(mu_s: ArrayLike, cov_s: Any, N: int, gamma_pre: float) -> SourceMoments:
    """Equivalents of the ridge source classifier's first two moments (:class:`SourceMoments`).

    ``cov_s``: a (p, p) matrix, a pair (eigenvalues, eigenvectors) or a :class:`Spectrum`.
    """
    ms = _mean("mu_s", mu_s)
    spec = spectrum(cov_s, "cov_s", p=ms.shape[0])
    return _source(ms, spec, N, gamma_pre)


def _source(ms: np.ndarray, spec: Spectrum, N: int, gamma_pre: float) -> SourceMoments:
    N = V.positive_int("N", N)
    gamma_pre = V.positive("gamma_pre", gamma_pre)
    res = resolvent(spec, N, gamma_pre, name="gamma_pre")
    mu_hat = spec.project(ms)
    x = res.diagonal * mu_hat
    rho = float(mu_hat @ x)
    nu = float(spec.eigenvalues @ (x * x))
    omega = (1.0 + nu) / (N * res.h * (1.0 + rho) ** 2)
    return SourceMoments(mean_eigen=x / (1.0 + rho), omega=omega, spectrum=spec, resolvent=res)


def ridge_moments(
    mu_s: ArrayLike,
    mu_t: ArrayLike,
    cov_s: Any,
    cov_t: Any,
    N: int,
    n: int,
    gamma_pre: float,
    gamma_ft: float,
) -> Moments:
    """Score moments when ``w̃`` is ridge on ``N`` source samples (case b).

    Source rows ``x̃ = ỹ mu_s + Sigma_s^{1/2} z̃``, ``w̃ = argmin (1/N)‖ỹ − X̃ᵀw‖² + gamma_pre‖w‖²``.
    ``w̃`` is independent of the target data, so only its first two moments
    (:func:`source_moments`: ``E[w̃] ≈ mean``, ``E[w̃w̃ᵀ] − mean meanᵀ ≈ Omega``) enter the
    fixed-source moments of :func:`moments`: ``mean`` replaces ``w̃`` in every term, and ``v2``
    gains ``g² tr(P Sigma_t P Omega) / h``. With ``Sigma_s = Sigma_t = I`` this is
    :func:`rmt.ridge.moments` (``variant="corrected"``).

    Cost: ``O(p²)`` after the decompositions when ``cov_s`` and ``cov_t`` share eigenvectors
    (the same object, equal matrices, or Spectra with equal eigenvectors); otherwise one
    ``O(p³)`` product ``U_tᵀ U_s`` for the trace.

    Parameters
    ----------
    mu_s, mu_t : array (p,)
        Source and target class means.
    cov_s, cov_t : array (p, p), pair (eigenvalues, eigenvectors) or :class:`Spectrum`
        Source and target noise covariances (positive semi-definite, not zero).
    N, n : int >= 1
        Source and target training sample sizes.
    gamma_pre, gamma_ft : float > 0
        Source and fine-tuning ridge penalties (``1/N`` and ``1/n`` conventions).
    """
    ms = _mean("mu_s", mu_s)
    mt = _mean("mu_t", mu_t)
    if ms.shape != mt.shape:
        raise ValueError(f"mu_s has length {ms.shape[0]} but mu_t has length {mt.shape[0]}; "
                         "allowed: two vectors of the same length p")
    p = mt.shape[0]
    same = _same_spectrum(cov_s, cov_t)
    spec_t = spectrum(cov_t, "cov_t", p=p)
    spec_s = spec_t if same else spectrum(cov_s, "cov_s", p=p)
    N = V.positive_int("N", N)
    n = V.positive_int("n", n)
    gamma_pre = V.positive("gamma_pre", gamma_pre)
    gamma_ft = V.positive("gamma_ft", gamma_ft)
    V.small_sizes(p=p, n=n, N=N)
    src = _source(ms, spec_s, N, gamma_pre)
    tgt = resolvent(spec_t, n, gamma_ft, name="gamma_ft")
    a_t = spec_t.eigenvalues * tgt.diagonal**2          # eigenvalues of P Sigma_t P
    if same or np.array_equal(spec_s.eigenvectors, spec_t.eigenvectors):
        trace = float(a_t @ src.omega_eigenvalues)
        mean_t = src.mean_eigen
    else:
        rot = spec_t.eigenvectors.T @ spec_s.eigenvectors   # U_tᵀ U_s
        trace = float(a_t @ (rot * rot) @ src.omega_eigenvalues)
        mean_t = rot @ src.mean_eigen
    return _target_moments(tgt, spec_t.eigenvalues, spec_t.project(mt), mean_t, trace)


# --------------------------------------------------------------------------------------------
# plug-in estimation from target training rows, for a covariance estimated elsewhere
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class PluginStatistics:
    """Target TRAINING rows summarised for the plug-in moments of a fixed source ``w̃``.

    With ``z_i = y_i x_i`` (``E z_i = mu_t``) in the eigenbasis of the given covariance:
    ``S = Σ_i z_i`` and ``D_j = Σ_i z_ij²``. For each penalty the forms of the moments are then
    estimated without bias: quadratic forms ``mu_tᵀ K mu_t`` (``K`` diagonal in that basis,
    weights ``k``) by the U-statistic ``k · (S² − D) / (n (n − 1))``, linear forms
    ``w̃ᵀ K mu_t`` by ``w̃ᵀ K S / n``; each quadratic form is floored at its Cauchy–Schwarz bound
    ``(w̃ᵀ K mu_t)² / (w̃ᵀ K w̃)`` (as :func:`rmt.arbitrary.plugin_statistics` floors ``M_t``).
    With ``Sigma = I`` the moments equal those of :func:`rmt.arbitrary.plugin_statistics`.

    ``includes_mean=True``: the covariance given is ``C = Sigma + mu_t mu_tᵀ`` (the second
    moment ``E[x xᵀ]`` of target rows, e.g. estimated from unlabeled ones). The forms are then
    estimated with ``Pi = (C + g I)^{-1}`` and converted exactly by Sherman–Morrison,
    ``P = Pi + Pi mu mu' Pi / (1 − mu' Pi mu)`` (docs/formulas.md, "Plug-in"), so no noisy
    estimate of ``mu_t mu_tᵀ`` is ever subtracted from the matrix.

    Attributes: ``n`` (training rows), ``p``, ``spectrum`` (of the covariance), the eigenbasis
    coordinates ``S``, ``D``, ``w`` (of ``w̃``) and ``includes_mean``.
    """

    n: int
    p: int
    spectrum: Spectrum
    S: np.ndarray
    D: np.ndarray
    w: np.ndarray
    includes_mean: bool = False

    def _quad(self, k: np.ndarray) -> float:
        """Unbiased ``mu' K mu`` for ``K = diag(k)`` in the eigenbasis."""
        n = self.n
        return float(k @ ((self.S * self.S - self.D) / (n * (n - 1))))

    def _lin(self, k: np.ndarray) -> float:
        """Unbiased ``w~' K mu``."""
        return float(k @ (self.w * self.S)) / self.n

    def _forms(self, res: Resolvent) -> _Forms:
        pd, s = res.diagonal, self.spectrum.eigenvalues
        w2 = self.w * self.w

        def floored(est: float, cross: float, wk: float) -> float:
            return max(est, cross * cross / wk if wk > 0 else 0.0, 0.0)

        if not self.includes_mean:
            k1, k2 = s * pd * pd, pd * pd
            e, f1, f2 = self._lin(pd), self._lin(k1), self._lin(k2)
            return _Forms(
                rho=floored(self._quad(pd), e, float(pd @ w2)),
                nu=floored(self._quad(k1), f1, float(k1 @ w2)),
                tau=floored(self._quad(k2), f2, float(k2 @ w2)),
                e=e, f1=f1, f2=f2, q0=float(k1 @ w2),
            )
        # forms under Pi = (C + g I)^{-1} (here ``pd``), then P = Pi + Pi mu mu' Pi / (1 - r)
        ep, f2p = self._lin(pd), self._lin(pd * pd)
        bpb, bp2b = float(pd @ w2), float((pd * pd) @ w2)
        r = min(floored(self._quad(pd), ep, bpb), _R_MAX)
        r2 = floored(self._quad(pd * pd), f2p, bp2b)
        one = 1.0 - r
        rho, e, tau = r / one, ep / one, r2 / one**2
        f2 = (f2p + ep * r2 / one) / one
        bPb = bpb + ep * ep / one
        bP2b = bp2b + 2.0 * ep * f2p / one + ep * ep * r2 / one**2
        g = res.g  # P Sigma P = P − g P² since P^{-1} = C − mu mu' + g I
        return _Forms(rho=rho, nu=max(rho - g * tau, 0.0), tau=tau, e=e, f1=e - g * f2, f2=f2,
                      q0=max(bPb - g * bP2b, 0.0))

    def moments(self, gamma: float, n: int | None = None) -> Moments:
        """Plug-in moments at penalty ``gamma`` for ``n`` training samples (default: the rows
        used)."""
        res = resolvent(self.spectrum, self.n if n is None else n, gamma)
        return _moments_from_forms(res, self._forms(res), 0.0)

    def alpha_star(self, gamma: float, n: int | None = None) -> float:
        return self.moments(gamma, n).alpha_star()


#: ``mu' Pi mu < 1`` for any real mean; plug-in estimates above this are capped.
_R_MAX = 1.0 - 1e-6


def plugin_statistics(X: ArrayLike, y: ArrayLike, source_coef: ArrayLike, cov: Any,
                      includes_mean: bool = False) -> PluginStatistics:
    """Summarise target TRAINING rows for the plug-in moments (:class:`PluginStatistics`).

    Parameters
    ----------
    X : array (n, p)
        Target training rows (samples in ROWS, scikit-learn layout), n >= 2, both classes.
    y : array (n,)
        Labels in {−1, +1}.
    source_coef : array (p,)
        The source classifier ``w̃``.
    cov : array (p, p), pair (eigenvalues, eigenvectors) or :class:`Spectrum`
        The noise covariance ``Sigma`` (or, with ``includes_mean=True``, the second moment
        ``Sigma + mu_t mu_tᵀ``), estimated without test rows (e.g. by
        :mod:`linear.covariance`).
    includes_mean : bool
        Whether ``cov`` contains the rank-one ``mu_t mu_tᵀ`` (second moment of target rows).
    """
    Xv, yv, w = plugin_rows(X, y, source_coef)
    n, p = Xv.shape
    spec = spectrum(cov, "cov", p=p)
    Z = (Xv * yv[:, None]) @ spec.eigenvectors
    return PluginStatistics(n=n, p=p, spectrum=spec, S=Z.sum(axis=0),
                            D=np.einsum("ij,ij->j", Z, Z), w=spec.project(w),
                            includes_mean=bool(includes_mean))

"""Monte-Carlo check of the theory: empirical accuracy over an alpha grid and seeds vs ``rmt``.

One routine, :func:`simulate`. For every seed ``k`` (``numpy.random.default_rng(k)``, the protocol
of docs/theory.md §4):

1. draw ``N`` source rows and fit the ridge source ``w̃`` (penalty ``gamma_pre``), unless a fixed
   ``source_coef`` is given (arbitrary source);
2. for each target setting in turn draw ``n`` target rows from the same generator and form
   ``w_alpha = u + alpha v`` (:func:`linear.solve.affine_parts`, one factorisation per setting);
3. record, for the whole alpha grid at once, the exact conditional test accuracy
   ``Phi(⟨w_alpha, mu_t⟩ / ‖w_alpha‖)`` (= the accuracy on infinitely many fresh target test
   points, given ``w_alpha``; honest, no flip) — or, with ``n_test``, the empirical accuracy on
   ``n_test`` fresh test rows — and the score moments ``m = ⟨w, mu_t⟩``, ``v = m² + ‖w‖²``, which
   are exactly polynomials in alpha for each seed:

       m(alpha) = ⟨u, mu_t⟩ + alpha ⟨v, mu_t⟩,
       v(alpha) = m(alpha)² + ‖u‖² + 2 alpha ⟨u, v⟩ + alpha² ‖v‖².

Settings simulated together share the source draw of each seed (common random numbers), so they
must share ``mu_s``, ``N``, ``gamma_pre`` and ``source_coef``. Seeds run in parallel with joblib
(``n_jobs``; any joblib backend, e.g. ``with joblib.parallel_config(backend="dask")``) behind a
tqdm progress bar.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import overload

import numpy as np
from joblib import Parallel, delayed
from scipy.special import ndtr
from tqdm.auto import tqdm

from rmt import Moments, arbitrary

from .gmm import Transfer
from .solve import AffinePath, accuracy_path, affine_parts, ridge
from .validation import finite_array, integer, positive_real

__all__ = ["Setting", "SimulationResult", "simulate", "bootstrap_argmax"]


@dataclass(frozen=True)
class Setting:
    """One Monte-Carlo setting: means, sizes and penalties.

    ``source_coef`` (shape (p,)) switches to an arbitrary fixed source classifier; ``N`` and
    ``gamma_pre`` are then unused. :meth:`theory` gives the ``rmt`` moments.
    """

    transfer: Transfer
    n: int
    N: int
    gamma_pre: float
    gamma_ft: float
    source_coef: np.ndarray | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.transfer, Transfer):
            raise TypeError(
                f"transfer must be a linear.gmm.Transfer, got {type(self.transfer).__name__}"
            )
        for name in ("n", "N"):
            val = getattr(self, name)
            if isinstance(val, bool) or not isinstance(val, int | np.integer) or val < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {val!r}")
        for name in ("gamma_pre", "gamma_ft"):
            object.__setattr__(self, name, positive_real(name, getattr(self, name)))
        if self.source_coef is not None:
            w = finite_array("source_coef", self.source_coef)
            if w.shape != (self.transfer.p,):
                raise ValueError(
                    f"source_coef must be a finite array of shape ({self.transfer.p},), "
                    f"got shape {w.shape}"
                )
            object.__setattr__(self, "source_coef", w)

    def theory(self, variant: str = "corrected") -> Moments:
        """Deterministic-equivalent moments (:mod:`rmt.ridge`, or :mod:`rmt.arbitrary` for a
        fixed ``source_coef``)."""
        t = self.transfer
        if self.source_coef is None:
            return t.setting(
                n=self.n, N=self.N, gamma_pre=self.gamma_pre, gamma_ft=self.gamma_ft
            ).moments(variant)
        w = self.source_coef
        return arbitrary.moments(
            float(t.mu_t @ t.mu_t), float(w @ t.mu_t), float(w @ w), t.p, self.n, self.gamma_ft
        )

    def params(self) -> dict:
        """Scalar description for CSV files."""
        t = self.transfer
        return {
            "p": t.p, "n": self.n, "N": self.N, "gamma_pre": self.gamma_pre,
            "gamma_ft": self.gamma_ft, "M_s": float(t.mu_s @ t.mu_s),
            "M_t": float(t.mu_t @ t.mu_t), "c": float(t.mu_s @ t.mu_t),
            "source": "ridge" if self.source_coef is None else "fixed",
        }


@dataclass(frozen=True)
class SimulationResult:
    """Monte-Carlo output for one setting.

    Attributes
    ----------
    setting : Setting
    alphas : ndarray (k,)
    seeds : ndarray (S,)
    accuracy : ndarray (S, k)
        Honest accuracy per seed and alpha.
    moments : ndarray (S, 5)
        Empirical ``(m0, m1, v0, v1, v2)`` per seed (module docstring).
    source_sq_norm : ndarray (S,)
        ``‖w̃‖²`` per seed (compare with ``rmt.ridge.source_statistics``).
    theory : rmt.Moments
    """

    setting: Setting
    alphas: np.ndarray
    seeds: np.ndarray
    accuracy: np.ndarray
    moments: np.ndarray
    source_sq_norm: np.ndarray
    theory: Moments

    @property
    def mean(self) -> np.ndarray:
        """Mean accuracy over seeds, shape (k,)."""
        return self.accuracy.mean(axis=0)

    @property
    def std(self) -> np.ndarray:
        """Standard deviation over seeds (ddof = 1), shape (k,)."""
        if len(self.seeds) < 2:
            return np.zeros(len(self.alphas))
        return self.accuracy.std(axis=0, ddof=1)

    @property
    def sem(self) -> np.ndarray:
        """Standard error of :attr:`mean`, shape (k,)."""
        return self.std / np.sqrt(len(self.seeds))

    def theory_accuracy(self, alphas: np.ndarray | None = None) -> np.ndarray:
        """``rmt`` honest accuracy on ``alphas`` (default: the simulated grid)."""
        return np.asarray(self.theory.accuracy(self.alphas if alphas is None else alphas))

    def empirical_moments(self) -> Moments:
        """Seed-averaged ``(m0, m1, v0, v1, v2)`` as :class:`rmt.Moments`."""
        return Moments(*(float(x) for x in self.moments.mean(axis=0)))

    def empirical_alpha_star(self) -> float:
        """Grid argmax of the seed-mean accuracy (docs/theory.md §4 "empirical argmax")."""
        return float(self.alphas[int(np.argmax(self.mean))])

    def rows(self) -> list[dict]:
        """One dict per alpha: theory, MC mean / std / sem, and the setting's parameters."""
        th = self.theory_accuracy()
        base = self.setting.params() | {"n_seeds": len(self.seeds)}
        return [
            base | {"alpha": float(a), "acc_theory": float(t), "acc_mc_mean": float(m),
                    "acc_mc_std": float(s), "acc_mc_sem": float(e)}
            for a, t, m, s, e in zip(self.alphas, th, self.mean, self.std, self.sem, strict=True)
        ]


def bootstrap_argmax(
    accuracy: np.ndarray, alphas: np.ndarray, rng: np.random.Generator, n_boot: int = 200
) -> np.ndarray:
    """Grid argmax of the seed-mean accuracy for ``n_boot`` bootstrap resamples of the seeds
    (rows of ``accuracy``, shape (S, k)); its spread is the MC uncertainty of the argmax."""
    accuracy = finite_array("accuracy", accuracy, ndim=2)
    alphas = finite_array("alphas", alphas, ndim=1)
    if accuracy.shape[1] != alphas.shape[0]:
        raise ValueError(f"accuracy has {accuracy.shape[1]} columns but alphas has "
                         f"{alphas.shape[0]} entries; they must be equal")
    n_boot = integer("n_boot", n_boot, 1)
    S = accuracy.shape[0]
    idx = rng.integers(0, S, size=(n_boot, S))
    means = accuracy[idx].mean(axis=1)
    return np.asarray(alphas)[np.argmax(means, axis=1)]


def _path_statistics(path: AffinePath, mu_t: np.ndarray, alphas: np.ndarray) -> tuple:
    m0, m1 = float(path.u @ mu_t), float(path.v @ mu_t)
    uu, uv, vv = float(path.u @ path.u), float(path.u @ path.v), float(path.v @ path.v)
    mom = np.array([m0, m1, m0 * m0 + uu, 2.0 * (m0 * m1 + uv), m1 * m1 + vv])
    sq_norm = uu + alphas * (2.0 * uv + alphas * vv)
    with np.errstate(divide="ignore", invalid="ignore"):
        acc = ndtr((m0 + m1 * alphas) / np.sqrt(sq_norm))
    return acc, mom


def _one_seed(
    settings: Sequence[Setting], alphas: np.ndarray, seed: int, n_test: int | None
) -> list[tuple[np.ndarray, np.ndarray, float]]:
    rng = np.random.default_rng(seed)
    first = settings[0]
    if first.source_coef is None:
        Xs, ys = first.transfer.source(first.N, rng)
        w = ridge(Xs, ys, first.gamma_pre)
    else:
        w = first.source_coef
    out = []
    for st in settings:
        X, y = st.transfer.target(st.n, rng)
        path = affine_parts(X, y, w, st.gamma_ft)
        acc, mom = _path_statistics(path, st.transfer.mu_t, alphas)
        if n_test is not None:
            Xt, yt = st.transfer.target(n_test, rng)
            acc = accuracy_path(Xt, yt, path, alphas)
        out.append((acc, mom, float(w @ w)))
    return out


@overload
def simulate(
    settings: Setting, alphas: np.ndarray, seeds: int | Sequence[int], *, n_test: int | None = ...,
    n_jobs: int | None = ..., progress: bool = ..., desc: str = ...,
) -> SimulationResult: ...


@overload
def simulate(
    settings: Sequence[Setting], alphas: np.ndarray, seeds: int | Sequence[int], *,
    n_test: int | None = ..., n_jobs: int | None = ..., progress: bool = ..., desc: str = ...,
) -> list[SimulationResult]: ...


def simulate(
    settings: Setting | Sequence[Setting],
    alphas: np.ndarray,
    seeds: int | Sequence[int],
    *,
    n_test: int | None = None,
    n_jobs: int | None = 1,
    progress: bool = True,
    desc: str = "Monte-Carlo",
) -> SimulationResult | list[SimulationResult]:
    """Empirical accuracy over ``alphas`` and ``seeds`` next to the ``rmt`` prediction.

    Parameters
    ----------
    settings : Setting or sequence of Setting
        One setting, or several sharing ``mu_s``, ``N``, ``gamma_pre``, ``source_coef`` (they then
        share each seed's source draw).
    alphas : array (k,)
        Alpha grid (all accuracies are computed for the whole grid from one fit per seed).
    seeds : int or sequence of int
        ``S`` means ``range(S)``; seed ``k`` uses ``numpy.random.default_rng(k)``.
    n_test : int, optional
        Score on ``n_test`` fresh test rows instead of the exact conditional accuracy.
    n_jobs : int, optional
        joblib workers (``-1``: all cores); the active joblib backend is used.
    progress : bool
        Show a tqdm bar over seeds.

    Returns
    -------
    SimulationResult, or a list of them (one per setting) if a sequence was given.
    """
    single = isinstance(settings, Setting)
    sts: list[Setting] = [settings] if isinstance(settings, Setting) else list(settings)
    if not sts:
        raise ValueError("settings must contain at least one Setting")
    for st in sts:
        if not isinstance(st, Setting):
            raise TypeError(f"settings must be linear.simulate.Setting objects, got "
                            f"{type(st).__name__}")
    ref = sts[0]
    for st in sts[1:]:
        same_coef = (st.source_coef is None and ref.source_coef is None) or (
            st.source_coef is not None and ref.source_coef is not None
            and np.array_equal(st.source_coef, ref.source_coef)
        )
        if not (np.array_equal(st.transfer.mu_s, ref.transfer.mu_s) and st.N == ref.N
                and st.gamma_pre == ref.gamma_pre and same_coef):
            raise ValueError(
                "settings simulated together must share mu_s, N, gamma_pre and source_coef; "
                "call simulate separately for different sources"
            )
    a = finite_array("alphas", alphas).reshape(-1)
    if isinstance(seeds, bool) or isinstance(seeds, str | bytes):
        raise TypeError(f"seeds must be an int or a sequence of ints, got {seeds!r}")
    if isinstance(seeds, int | np.integer):
        seed_list = list(range(int(seeds)))
    else:
        seed_list = [integer("seeds[]", s, 0) for s in seeds]
    if not seed_list:
        raise ValueError("seeds must name at least one seed")
    if n_test is not None and (isinstance(n_test, bool) or not isinstance(n_test, int | np.integer)
                               or n_test < 1):
        raise ValueError(f"n_test must be None or an integer >= 1, got {n_test!r}")
    gen = Parallel(n_jobs=n_jobs, return_as="generator")(
        delayed(_one_seed)(sts, a, s, n_test) for s in seed_list
    )
    per_seed = list(tqdm(gen, total=len(seed_list), disable=not progress, desc=desc, leave=False))
    results = []
    for j, st in enumerate(sts):
        results.append(SimulationResult(
            setting=st,
            alphas=a,
            seeds=np.array(seed_list),
            accuracy=np.array([r[j][0] for r in per_seed]),
            moments=np.array([r[j][1] for r in per_seed]),
            source_sq_norm=np.array([r[j][2] for r in per_seed]),
            theory=st.theory(),
        ))
    return results[0] if single else results

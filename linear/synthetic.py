"""Synthetic experiments: Figure 1 and the alpha* curves (theory lines, Monte-Carlo markers).

Setting of the paper's Figure 1 (docs/theory.md §3): ``p = 1000``, ``N = 5000``, ``n = 40``,
``‖mu_s‖ = ‖mu_perp‖ = 0.8``, ``gamma_pre = 5``, ``gamma_ft = 0.1``,
``mu_t = beta mu_s + sqrt(1 − beta²) mu_perp``, ridge source. Theory from :mod:`rmt.ridge`
(corrected ``‖w̃‖²``; the reference code's term is shown for comparison only), Monte-Carlo from
:func:`linear.simulate.simulate` with the honest exact conditional accuracy.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rmt import Moments, ridge

from .gmm import Transfer
from .simulate import Setting, SimulationResult, bootstrap_argmax, simulate

__all__ = [
    "FIGURE1",
    "figure1",
    "figure1_summary",
    "AlphaStarCurves",
    "alpha_star_curves",
    "mc_alpha_star",
]

#: The paper's Figure-1 setting.
FIGURE1: dict[str, Any] = {"p": 1000, "N": 5000, "n": 40, "norm_mu": 0.8, "norm_perp": 0.8,
           "gamma_pre": 5.0, "gamma_ft": 0.1}


def _settings(betas: Sequence[float], ns: Sequence[int], gammas: Sequence[float], *, p: int, N: int,
              gamma_pre: float, norm_mu: float, norm_perp: float) -> list[Setting]:
    return [Setting(Transfer.from_beta(b, norm_mu, norm_perp, p), n=int(n), N=N,
                    gamma_pre=gamma_pre, gamma_ft=float(g))
            for b, n, g in zip(betas, ns, gammas, strict=True)]


def figure1(
    betas: Sequence[float] = (0.2, 0.5, 0.9),
    *,
    seeds: int | Sequence[int] = 20,
    alphas: np.ndarray | None = None,
    n_jobs: int | None = 1,
    progress: bool = True,
    **overrides: Any,
) -> list[SimulationResult]:
    """Monte-Carlo accuracy vs alpha for each beta, next to the theory (Figure 1).

    The betas share each seed's source draw (``mu_s`` does not depend on beta). Default alpha
    grid ``linspace(−10, 10, 401)`` (step 0.05, the paper plots [−10, 10]). ``overrides``
    replace entries of :data:`FIGURE1` (e.g. ``p=200`` for a quick run).
    """
    prm = FIGURE1 | overrides
    a = np.linspace(-10.0, 10.0, 401) if alphas is None else np.asarray(alphas, dtype=float)
    sts = _settings(betas, [prm["n"]] * len(betas), [prm["gamma_ft"]] * len(betas),
                    p=prm["p"], N=prm["N"], gamma_pre=prm["gamma_pre"],
                    norm_mu=prm["norm_mu"], norm_perp=prm["norm_perp"])
    return simulate(sts, a, seeds, n_jobs=n_jobs, progress=progress, desc="Figure 1")


def mc_alpha_star(sim: SimulationResult, rng: np.random.Generator, n_boot: int = 200) -> dict:
    """Monte-Carlo estimates of alpha* for one simulated setting.

    * ``mc_argmax``: grid argmax of the seed-mean accuracy, ``mc_argmax_std``: its bootstrap
      spread over seeds;
    * ``mc_moment_alpha_star``: ``rmt.Moments.alpha_star`` of the seed-averaged empirical moments
      (the theory's own definition applied to Monte-Carlo moments; no grid).
    """
    boot = bootstrap_argmax(sim.accuracy, sim.alphas, rng, n_boot)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mom = sim.empirical_moments().alpha_star()
    return {"mc_argmax": sim.empirical_alpha_star(), "mc_argmax_std": float(boot.std(ddof=1)),
            "mc_moment_alpha_star": float(mom)}


def figure1_summary(sims: Sequence[SimulationResult], seed: int = 0) -> list[dict]:
    """One row per beta: theory alpha* (corrected and reference ``‖w̃‖²``), chance-level alpha,
    theory and Monte-Carlo accuracy at alpha = 0, 1, alpha*, and the MC alpha* estimates."""
    rng = np.random.default_rng(seed)
    rows = []
    for sim in sims:
        st = sim.setting
        th = sim.theory
        a_star = th.alpha_star()
        ref = st.transfer.setting(n=st.n, N=st.N, gamma_pre=st.gamma_pre,
                                  gamma_ft=st.gamma_ft).moments("reference")
        k = int(np.argmin(np.abs(sim.alphas - a_star)))
        row = st.params() | {
            "beta": _beta_of(st), "n_seeds": len(sim.seeds),
            "alpha_star_theory": a_star, "alpha_star_reference_W": ref.stationary_point(),
            "alpha_chance": th.alpha_chance(), "acc_theory_0": float(th.accuracy(0.0)),
            "acc_theory_1": float(th.accuracy(1.0)), "acc_theory_star": float(th.accuracy(a_star)),
            "acc_mc_0": float(np.interp(0.0, sim.alphas, sim.mean)),
            "acc_mc_1": float(np.interp(1.0, sim.alphas, sim.mean)),
            "acc_mc_at_grid_star": float(sim.mean[k]),
            "source_sq_norm_mc": float(sim.source_sq_norm.mean()),
            "source_sq_norm_theory": st.transfer.setting(
                n=st.n, N=st.N, gamma_pre=st.gamma_pre, gamma_ft=st.gamma_ft
            ).source_statistics()[1],
        }
        rows.append(row | mc_alpha_star(sim, rng))
    return rows


def _beta_of(st: Setting) -> float:
    """beta = ⟨mu_s, mu_t⟩ / ‖mu_s‖² for the beta-parameterised means."""
    t = st.transfer
    return float(t.mu_s @ t.mu_t) / float(t.mu_s @ t.mu_s)


@dataclass(frozen=True)
class AlphaStarCurves:
    """alpha* as a function of beta, n and gamma_ft (one panel each).

    ``lines[panel] = (x, alpha*_corrected, alpha*_reference_W)`` (theory, dense x);
    ``points[panel] = [(x, SimulationResult), ...]`` (Monte-Carlo markers).
    """

    lines: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]
    points: dict[str, list[tuple[float, SimulationResult]]]
    base: dict = field(default_factory=dict)

    def rows(self, seed: int = 0) -> list[dict]:
        """CSV rows: the theory lines (``kind="theory"``) and the MC markers (``kind="mc"``)."""
        rng = np.random.default_rng(seed)
        out = []
        for panel, (x, a_c, a_r) in self.lines.items():
            for xi, ci, ri in zip(x, a_c, a_r, strict=True):
                out.append({"panel": panel, "kind": "theory", "x": float(xi),
                            "alpha_star_theory": float(ci), "alpha_star_reference_W": float(ri)})
        for panel, pts in self.points.items():
            for xi, sim in pts:
                out.append({"panel": panel, "kind": "mc", "x": float(xi),
                            "alpha_star_theory": sim.theory.alpha_star(),
                            "n_seeds": len(sim.seeds)} | mc_alpha_star(sim, rng))
        return [self.base | r for r in out]


def _alpha_star(setting: ridge.Setting, variant: str) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mo: Moments = setting.moments(variant)
        return mo.alpha_star() if variant == "corrected" else mo.stationary_point()


def alpha_star_curves(
    *,
    beta: float = 0.5,
    beta_grid: np.ndarray | None = None,
    n_grid: np.ndarray | None = None,
    gamma_grid: np.ndarray | None = None,
    mc_betas: Sequence[float] = (0.1, 0.3, 0.5, 0.7, 0.9),
    mc_ns: Sequence[int] = (10, 40, 200, 1000, 4000),
    mc_gammas: Sequence[float] = (0.01, 0.1, 1.0, 10.0),
    seeds: int | Sequence[int] = 20,
    alphas: np.ndarray | None = None,
    n_jobs: int | None = 1,
    progress: bool = True,
    **overrides: Any,
) -> AlphaStarCurves:
    """alpha* vs beta (at the base n, gamma_ft), vs n and vs gamma_ft (at ``beta``).

    Base setting :data:`FIGURE1` (``overrides`` replace entries). Theory lines on dense grids;
    Monte-Carlo markers at ``mc_*`` values, all simulated in ONE call (they share each seed's
    source draw), MC alpha* estimated on the alpha grid (default ``linspace(−2, 14, 1601)``).
    """
    prm = FIGURE1 | overrides
    bg = np.linspace(0.0, 1.0, 101) if beta_grid is None else np.asarray(beta_grid, float)
    ng = np.unique(np.geomspace(5, 5000, 80).astype(int)) if n_grid is None else np.asarray(n_grid)
    gg = np.logspace(-2, 1.5, 71) if gamma_grid is None else np.asarray(gamma_grid, float)
    common = {"p": prm["p"], "N": prm["N"], "gamma_pre": prm["gamma_pre"]}

    def th(b: float, n: float, g: float) -> tuple[float, float]:
        st = ridge.Setting.from_beta(b, prm["norm_mu"], prm["norm_perp"], n=int(n),
                                     gamma_ft=float(g), **common)
        return _alpha_star(st, "corrected"), _alpha_star(st, "reference")

    lines = {}
    for panel, xs, f in (
        ("beta", bg, lambda x: th(x, prm["n"], prm["gamma_ft"])),
        ("n", ng, lambda x: th(beta, x, prm["gamma_ft"])),
        ("gamma_ft", gg, lambda x: th(beta, prm["n"], x)),
    ):
        vals = np.array([f(x) for x in xs])
        lines[panel] = (np.asarray(xs, dtype=float), vals[:, 0], vals[:, 1])
    specs = ([("beta", b, b, prm["n"], prm["gamma_ft"]) for b in mc_betas]
             + [("n", n, beta, n, prm["gamma_ft"]) for n in mc_ns]
             + [("gamma_ft", g, beta, prm["n"], g) for g in mc_gammas])
    sts = _settings([s[2] for s in specs], [s[3] for s in specs], [s[4] for s in specs],
                    norm_mu=prm["norm_mu"], norm_perp=prm["norm_perp"], **common)
    a = np.linspace(-2.0, 14.0, 1601) if alphas is None else np.asarray(alphas, dtype=float)
    sims = simulate(sts, a, seeds, n_jobs=n_jobs, progress=progress, desc="alpha* curves")
    points: dict[str, list] = {"beta": [], "n": [], "gamma_ft": []}
    for spec, sim in zip(specs, sims, strict=True):
        points[spec[0]].append((float(spec[1]), sim))
    base = {k: prm[k] for k in ("p", "N", "gamma_pre", "norm_mu", "norm_perp")}
    base |= {"beta_base": beta, "n_base": prm["n"], "gamma_ft_base": prm["gamma_ft"]}
    return AlphaStarCurves(lines, points, base)

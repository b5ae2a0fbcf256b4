"""Figures. The only module of the package that imports matplotlib.

House style (docs/architecture.md rule 11): theory as a line, simulation as markers with error
bars, alpha* as a vertical line, labelled axes, parameters in the title; callers save at 150 dpi
(:func:`save`). Every function returns the ``matplotlib.figure.Figure``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from .protocols import Figure3Pair, method_label
from .simulate import SimulationResult
from .synthetic import AlphaStarCurves, mc_alpha_star

__all__ = [
    "save",
    "accuracy_vs_alpha",
    "alpha_star_panels",
    "figure3",
    "method_comparison",
    "study_curves",
]

DPI = 150


def save(fig: Figure, path: str | Path) -> Path:
    """Save ``fig`` as PNG at 150 dpi (parent folders created) and close it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return path


def accuracy_vs_alpha(
    sims: Sequence[SimulationResult], *, theory_alphas: np.ndarray | None = None,
    marker_step: int = 10,
) -> Figure:
    """Figure 1: honest accuracy vs alpha per beta — theory line, Monte-Carlo markers (mean ±
    std over seeds, every ``marker_step``-th grid alpha), alpha* as a dotted vertical line."""
    fig, ax = plt.subplots(figsize=(7.0, 4.5))
    lo, hi = float(sims[0].alphas.min()), float(sims[0].alphas.max())
    ta = np.linspace(lo, hi, 1000) if theory_alphas is None else theory_alphas
    for i, sim in enumerate(sims):
        color = f"C{i}"
        b = sim.setting.transfer.beta
        ax.plot(ta, sim.theory_accuracy(ta), color=color, lw=1.6, label=f"theory, β = {b:g}")
        sel = slice(None, None, marker_step)
        ax.errorbar(sim.alphas[sel], sim.mean[sel], yerr=sim.std[sel], fmt="o", ms=3.5,
                    color=color, elinewidth=0.8, capsize=1.5,
                    label=f"Monte-Carlo ({len(sim.seeds)} seeds)")
        a_star = sim.theory.alpha_star()
        if np.isfinite(a_star) and lo <= a_star <= hi:
            ax.axvline(a_star, color=color, ls=":", lw=1.2)
            ax.annotate(f"α*={a_star:.2f}", (a_star, 0.02), xycoords=("data", "axes fraction"),
                        color=color, fontsize=8, rotation=90, va="bottom", ha="right")
    st = sims[0].setting
    ax.axhline(0.5, color="grey", lw=0.6)
    ax.set_xlabel("α (scale of the source classifier)")
    ax.set_ylabel("honest test accuracy  Φ(m/σ)")
    ax.set_title(f"p={st.transfer.p}, N={st.N}, n={st.n}, ‖μ‖=‖μ⊥‖="
                 f"{np.sqrt(st.transfer.mu_s @ st.transfer.mu_s):g}, γ_pre={st.gamma_pre:g}, "
                 f"γ_ft={st.gamma_ft:g}", fontsize=9)
    ax.legend(fontsize=7, ncol=2, loc="upper left")
    return fig


def alpha_star_panels(curves: AlphaStarCurves, seed: int = 0) -> Figure:
    """alpha* vs beta, n, gamma_ft: theory (corrected ``‖w̃‖²``) as lines, the reference code's
    term dashed, Monte-Carlo markers (grid argmax of the seed-mean accuracy ± bootstrap std;
    open squares: alpha* of the seed-averaged moments)."""
    rng = np.random.default_rng(seed)
    fig, axes = plt.subplots(1, 3, figsize=(13.0, 4.0))
    xlabels = {"beta": "β (source/target alignment)", "n": "n (target training samples)",
               "gamma_ft": "γ_ft (fine-tuning penalty)"}
    for ax, panel in zip(axes, ("beta", "n", "gamma_ft"), strict=True):
        x, a_c, a_r = curves.lines[panel]
        ax.plot(x, a_c, color="C0", lw=1.6, label="theory")
        ax.plot(x, a_r, color="grey", ls="--", lw=1.0, label="theory, reference-code ‖w̃‖²")
        pts = curves.points.get(panel, [])
        if pts:
            est = [mc_alpha_star(sim, rng) for _, sim in pts]
            xs = [p[0] for p in pts]
            ax.errorbar(xs, [e["mc_argmax"] for e in est], yerr=[e["mc_argmax_std"] for e in est],
                        fmt="o", color="C1", capsize=2, ms=4,
                        label=f"MC argmax ({len(pts[0][1].seeds)} seeds)")
            ax.plot(xs, [e["mc_moment_alpha_star"] for e in est], "s", mfc="none", color="C3",
                    ms=6, label="MC moments → α*")
        if panel != "beta":
            ax.set_xscale("log")
        ax.axhline(1.0, color="k", lw=0.5)
        ax.set_xlabel(xlabels[panel])
        ax.set_ylabel("α*")
    b = curves.base
    axes[0].set_title(f"n={b.get('n_base')}, γ_ft={b.get('gamma_ft_base')}", fontsize=9)
    axes[1].set_title(f"β={b.get('beta_base')}, γ_ft={b.get('gamma_ft_base')}", fontsize=9)
    axes[2].set_title(f"β={b.get('beta_base')}, n={b.get('n_base')}", fontsize=9)
    axes[0].legend(fontsize=7)
    fig.suptitle(f"α* (honest accuracy maximiser): p={b.get('p')}, N={b.get('N')}, "
                 f"‖μ‖=‖μ⊥‖={b.get('norm_mu')}, γ_pre={b.get('gamma_pre')}", fontsize=10)
    fig.tight_layout()
    return fig


def figure3(
    results: Sequence[Figure3Pair], *, n: int, gamma_pre: float, gamma_ft: float
) -> Figure:
    """Figure 3 (honest): per pair, mean ± std of the honest test accuracy over the shared
    splits (markers), the theory curve from full-domain plug-in statistics (line), the theory
    alpha* (dotted), the empirical argmax (dashed) and the honest per-split plug-in alphas
    (mean ± std, shaded band)."""
    fig, axes = plt.subplots(1, len(results), figsize=(4.3 * len(results), 3.8), squeeze=False)
    for ax, r in zip(axes[0], results, strict=True):
        ax.errorbar(r.alphas, r.mean, yerr=r.std, fmt="o", ms=2.5, color="C0", elinewidth=0.6,
                    label=f"empirical ({r.accuracy.shape[0]} splits)")
        ax.plot(r.alphas, r.theory.accuracy(r.alphas), color="C1", lw=1.5,
                label="theory (full-domain plug-in)")
        a_th = r.theory.alpha_star()
        if np.isfinite(a_th):
            ax.axvline(a_th, color="C1", ls=":", label=f"theory α*={a_th:.2f}")
        a_emp = r.empirical_alpha_star()
        ax.axvline(a_emp, color="C0", ls="--", lw=1.0, label=f"empirical argmax={a_emp:.2f}")
        pm, ps = float(np.mean(r.plugin_alphas)), float(np.std(r.plugin_alphas, ddof=1))
        ax.axvspan(pm - ps, pm + ps, color="C2", alpha=0.15,
                   label=f"honest plug-in α̂ = {pm:.2f} ± {ps:.2f}")
        ax.set_title(f"{r.source} → {r.target}", fontsize=10)
        ax.set_xlabel("α")
        ax.set_ylabel("honest test accuracy")
        ax.legend(fontsize=6.5, loc="lower right")
    fig.suptitle(f"Amazon Review, honest protocol: N=2000, n={n}, γ_pre={gamma_pre:g}, "
                 f"γ_ft={gamma_ft:g}", fontsize=10)
    fig.tight_layout()
    return fig


def method_comparison(summary: Sequence[dict], *, n: int, paper: Sequence[dict] | None = None,
                      title: str = "") -> Figure:
    """Table 1 as a figure: 12-pair average honest accuracy (mean ± std over splits) per method
    and the paired difference against LoRA (mean ± std); optionally the paper-protocol averages
    (symmetric accuracy, leaky alpha) as open diamonds for the methods it has."""
    rows = [r for r in summary if r["pair"] == "average" and r["n"] == n]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12.0, 0.5 * len(rows) + 1.8), sharey=True)
    y = np.arange(len(rows))[::-1]
    labels = [method_label(r["method"]) for r in rows]
    ax1.errorbar([100 * r["acc_mean"] for r in rows], y,
                 xerr=[100 * r["acc_std"] for r in rows], fmt="o", color="C0", capsize=3,
                 label="honest protocol (mean ± std over splits)")
    if paper:
        avg = next(p for p in paper if p["source"] == "average")
        mapping = {"target_only": "target_only_mean", "lora": "lora_mean",
                   "alpha_plugin": "alpha_ref_mean"}
        for yi, r in zip(y, rows, strict=True):
            if r["method"] in mapping:
                ax1.plot(avg[mapping[r["method"]]], yi, "D", mfc="none", color="C3")
        ax1.plot([], [], "D", mfc="none", color="C3",
                 label="paper protocol (leaky α, max(acc,1−acc)); α-LoRA row = α_ref")
    ax1.set_yticks(y, labels, fontsize=8)
    ax1.set_xlabel("12-pair average test accuracy (%)")
    ax1.legend(fontsize=7, loc="lower left")
    diffs = [(yi, r) for yi, r in zip(y, rows, strict=True) if "diff_lora_mean" in r]
    ax2.errorbar([100 * r["diff_lora_mean"] for _, r in diffs], [yi for yi, _ in diffs],
                 xerr=[100 * r["diff_lora_std"] for _, r in diffs], fmt="s", color="C2",
                 capsize=3)
    ax2.axvline(0.0, color="k", lw=0.6)
    ax2.set_xlabel("paired difference vs LoRA (α=1), percentage points")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


#: Distinguishable styles of the study figure: (colour, marker, line style) per method.
_STUDY_STYLE = {
    "target_only": ("#7f7f7f", "x", ":"),
    "lora": ("#000000", "o", "-"),
    "lora_gamma_loo": ("#1f77b4", "s", "--"),
    "lora_gamma_kfold": ("#17becf", "D", "--"),
    "lora_gamma_evidence": ("#9467bd", "^", "--"),
    "lora_gamma_margin": ("#2ca02c", "P", "--"),
    "source_only": ("#8c564b", "*", ":"),
    "alpha_plugin": ("#bcbd22", "v", "-"),
    "alpha_loo": ("#e377c2", "<", "-"),
    "alpha_kfold": ("#ff9896", ">", "-"),
    "alpha_gamma_loo": ("#1f77b4", "s", "-"),
    "alpha_gamma_kfold": ("#17becf", "D", "-"),
    "alpha_gamma_margin": ("#2ca02c", "P", "-"),
    "alpha_gamma_evidence": ("#9467bd", "^", "-"),
    "alpha_gamma_auto": ("#ff7f0e", "X", "-"),
    "oracle": ("#d62728", "h", ":"),
}


def study_curves(summary: Sequence[dict], methods: Sequence[str], *,
                 boot: Sequence[dict] = (), split: str = "stratified") -> Figure:
    """Study figure. Left: 12-pair average honest accuracy vs n per method. Right: what alpha
    adds once gamma is tuned — joint (alpha, gamma) minus the LoRA-like (alpha = 1) baseline
    whose gamma is tuned by the same criterion (a criterion keeps its colour and marker; dashed
    = gamma only, solid = joint). Error bars: 95 % two-way bootstrap intervals over pairs AND
    splits (``boot``, :func:`linear.tasks.bootstrap_rows`); without ``boot``, SEM over splits."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13.5, 5.2))
    avg = [r for r in summary if r["pair"] == "average"]
    ci = {(r["n"], r["method"], r["reference"]): r for r in boot}
    for i, m in enumerate(methods):
        rs = sorted((r for r in avg if r["method"] == m), key=lambda r: r["n"])
        if not rs:
            continue
        ns = [r["n"] for r in rs]
        colour, marker, ls = _STUDY_STYLE.get(m, (f"C{i % 10}", "o", "-"))
        mean = np.array([100 * r["acc_mean"] for r in rs])
        if all((n, m, "") in ci for n in ns):
            lo = np.array([100 * ci[(n, m, "")]["lo"] for n in ns])
            hi = np.array([100 * ci[(n, m, "")]["hi"] for n in ns])
            err = np.vstack([mean - lo, hi - mean])
        else:
            err = np.array([100 * r["acc_sem"] for r in rs])
        ax1.errorbar(ns, mean, yerr=err, marker=marker, ms=5, capsize=2, color=colour, ls=ls,
                     lw=1.1, mfc="none" if ls == "--" else colour, label=method_label(m))
    diffs = [r for r in boot if r["kind"] == "joint - gamma-only"]
    for joint in dict.fromkeys(r["method"] for r in diffs):
        rs = sorted((r for r in diffs if r["method"] == joint), key=lambda r: r["n"])
        colour, marker, _ = _STUDY_STYLE.get(joint, ("C0", "o", "-"))
        ns = [r["n"] for r in rs]
        mean = np.array([100 * r["mean"] for r in rs])
        err = np.vstack([mean - [100 * r["lo"] for r in rs], [100 * r["hi"] for r in rs] - mean])
        ax2.errorbar(ns, mean, yerr=err, marker=marker, ms=6, capsize=3, color=colour,
                     label=f"{joint.removeprefix('alpha_gamma_')}: joint (α, γ_ft) − γ_ft only (α=1)")
    ns_all = sorted({r["n"] for r in avg})
    for ax in (ax1, ax2):
        ax.set_xscale("log")
        ax.set_xticks(ns_all, [str(n) for n in ns_all])
        ax.minorticks_off()
        ax.set_xlabel("n (target training rows)")
    ax1.set_ylabel("12-pair average honest accuracy (%)")
    ax1.set_title("dashed, open: LoRA-like (α=1) with γ_ft tuned; solid: α chosen", fontsize=9)
    ax2.axhline(0.0, color="k", lw=0.6)
    ax2.set_ylabel("paired difference (pp)")
    ax2.set_title("what α adds once γ_ft is tuned by the same criterion (> 0: α helps)",
                  fontsize=9)
    ax1.legend(fontsize=6.3, ncol=2, loc="lower right")
    if diffs:
        ax2.legend(fontsize=7.5, loc="best")
    bars = "95 % bootstrap CI over pairs × splits" if boot else "sem over splits"
    fig.suptitle(f"Honest α / γ_ft choices on Amazon Review (12 pairs, 30 shared {split} splits "
                 f"per n; error bars: {bars})", fontsize=10)
    fig.tight_layout()
    return fig

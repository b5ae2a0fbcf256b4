"""Figure/table jobs: compute with the library, write CSV (+ Markdown) and PNG to an output folder.

Each ``task_*`` function is what one ``figures/*.py`` script and one ``rescalora`` sub-command
run. Every CSV row carries the parameters of its run and ``rescalora_version``. ``quick=True``
shrinks sizes and seeds so a run takes seconds (tests, notebooks, smoke checks); the full
settings are those of docs/theory.md.
"""

from __future__ import annotations

import csv
import gzip
import io
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import amazon, plot, protocols, synthetic
from .report import markdown_table, pm, write_csv

__all__ = [
    "Options",
    "task_figure1",
    "task_alpha_star",
    "task_table1",
    "task_figure3",
    "task_study",
    "TASKS",
    "MAIN_JOB",
]


@dataclass(frozen=True)
class Options:
    """Common options of every task.

    ``seeds``: Monte-Carlo seeds of the synthetic figures (None: 20, or 5 with ``quick``);
    ``batches``: splits per seed of the Amazon protocols (None: 10, or 2 with ``quick``);
    ``n_jobs``: joblib workers; ``progress``: tqdm bars; ``stratify``: split policy of the
    Amazon protocols (True: stratified, the default; False: a plain permutation).
    """

    out: Path = Path("figures/out")
    quick: bool = False
    seeds: int | None = None
    batches: int | None = None
    n_jobs: int | None = 1
    progress: bool = True
    stratify: bool = True

    @property
    def split(self) -> str:
        """The split policy in words (written in every Amazon table title and CSV)."""
        return protocols.split_policy(self.stratify)

    @property
    def mc_seeds(self) -> int:
        return self.seeds if self.seeds is not None else (5 if self.quick else 20)

    @property
    def n_batches(self) -> int:
        return self.batches if self.batches is not None else (2 if self.quick else 10)


def _say(opts: Options, msg: str) -> None:
    if opts.progress:
        print(msg, flush=True)


def _synthetic_overrides(opts: Options) -> dict[str, Any]:
    return {"p": 200, "N": 1000} if opts.quick else {}


def _gz_records(path: Path, records: Sequence[dict], **params: object) -> Path:
    from . import __version__

    path.parent.mkdir(parents=True, exist_ok=True)
    cols = list(dict.fromkeys(k for r in records for k in r)) + list(params) + ["rescalora_version"]
    # mtime=0 and no file name in the gzip header: the same records give the same bytes
    with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw,
                                                mtime=0) as gz, \
            io.TextIOWrapper(gz, encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=cols)
        w.writeheader()
        for r in records:
            w.writerow(r | params | {"rescalora_version": __version__})
    return path


# ------------------------------------------------------------------------------------------
def task_figure1(opts: Options) -> dict:
    """Figure 1: accuracy vs alpha for beta in {0.2, 0.5, 0.9}, theory + Monte-Carlo."""
    t0 = time.perf_counter()
    ov = _synthetic_overrides(opts)
    sims = synthetic.figure1(seeds=opts.mc_seeds, n_jobs=opts.n_jobs, progress=opts.progress,
                             **ov)
    rows = [r | {"beta": s.setting.transfer.beta} for s in sims for r in s.rows()]
    summary = synthetic.figure1_summary(sims)
    out = opts.out
    paths = [write_csv(out / "figure1_accuracy_vs_alpha.csv", rows, quick=opts.quick),
             write_csv(out / "figure1_alpha_star.csv", summary, quick=opts.quick),
             plot.save(plot.accuracy_vs_alpha(sims), out / "figure1_accuracy_vs_alpha.png")]
    for r in summary:
        _say(opts, f"  beta={r['beta']:.1f}: alpha*={r['alpha_star_theory']:.3f} (theory), "
                   f"{r['mc_argmax']:.2f} ± {r['mc_argmax_std']:.2f} (MC argmax); "
                   f"acc(alpha*) theory {r['acc_theory_star']:.4f}, "
                   f"MC {r['acc_mc_at_grid_star']:.4f}")
    return {"paths": paths, "summary": summary, "seconds": time.perf_counter() - t0}


def task_alpha_star(opts: Options) -> dict:
    """alpha* as a function of beta, n and gamma_ft (theory lines, Monte-Carlo markers)."""
    t0 = time.perf_counter()
    ov = _synthetic_overrides(opts)
    kw: dict[str, Any] = {"mc_ns": (10, 40, 200), "mc_betas": (0.2, 0.5, 0.9), "mc_gammas": (0.1, 1.0)} \
        if opts.quick else {}
    curves = synthetic.alpha_star_curves(seeds=opts.mc_seeds, n_jobs=opts.n_jobs,
                                         progress=opts.progress, **kw, **ov)
    out = opts.out
    paths = [write_csv(out / "alpha_star_curves.csv", curves.rows(), quick=opts.quick),
             plot.save(plot.alpha_star_panels(curves), out / "alpha_star_curves.png")]
    return {"paths": paths, "seconds": time.perf_counter() - t0}


def _pairs(opts: Options) -> tuple:
    return amazon.PAIRS[:3] if opts.quick else amazon.PAIRS


def _seeds(opts: Options) -> tuple:
    return (1, 123, 404)


def task_table1(opts: Options) -> dict:
    """Table 1: the honest protocol (docs/theory.md §6.3) and the paper's protocol (§6.2) on the
    12 ordered pairs (3 with ``quick``), N = 2000, n = 20, p = 400, gamma_pre = gamma_ft = 1."""
    t0 = time.perf_counter()
    prm: dict[str, Any] = {"n": 20, "N": 2000, "gamma_pre": 1.0, "gamma_ft": 1.0}
    pairs = _pairs(opts)
    records = protocols.honest_protocol(
        pairs, ns=(prm["n"],), N=prm["N"], gamma_pre=prm["gamma_pre"], gamma_ft=prm["gamma_ft"],
        seeds=_seeds(opts), batches=opts.n_batches, methods=protocols.TABLE1_METHODS,
        n_jobs=opts.n_jobs, progress=opts.progress, desc="Table 1 (honest)",
        stratify=opts.stratify)
    summary = protocols.summarize(records)
    boot = bootstrap_rows(records, (prm["n"],), protocols.TABLE1_METHODS)
    paper = protocols.paper_protocol(pairs, progress=opts.progress, N=prm["N"], n=prm["n"],
                                     gamma_pre=prm["gamma_pre"], gamma_ft=prm["gamma_ft"])
    out = opts.out
    common = {"quick": opts.quick, "seeds": " ".join(map(str, _seeds(opts))),
              "batches": opts.n_batches}
    paths = [
        _gz_records(out / "table1_honest_splits.csv.gz", records, **common),
        write_csv(out / "table1_honest.csv", summary, **prm, **common),
        write_csv(out / "table1_honest_bootstrap.csv", boot, **prm, **common, split=opts.split),
        write_csv(out / "table1_paper_protocol.csv", paper, **prm,
                  seeds="1 123 404", batch=10, metric="max(acc, 1-acc) (paper protocol)",
                  split="paper: a fresh train_test_split per (method, batch), not stratified"),
    ]
    md = table1_markdown(summary, paper, protocols.TABLE1_METHODS, split=opts.split, boot=boot)
    (out / "table1.md").write_text(md)
    paths.append(out / "table1.md")
    fig = plot.method_comparison(
        summary, n=prm["n"], paper=paper,
        title=f"Table 1, Amazon Review, {len(pairs)} pairs: N=2000, n=20, p=400, γ_pre=γ_ft=1 "
              f"(unless tuned); {opts.split} splits")
    paths.append(plot.save(fig, out / "table1.png"))
    avg = {r["method"]: r for r in summary if r["pair"] == "average"}
    pav = paper[-1]
    _say(opts, "  honest 12-pair average (mean ± std over splits): " + ", ".join(
        f"{m} {pm(avg[m]['acc_mean'], avg[m]['acc_std'])}" for m in avg))
    _say(opts, f"  paper protocol average: alpha_ref {pav['alpha_ref_mean']:.2f}, "
               f"target-only {pav['target_only_mean']:.2f}, LoRA {pav['lora_mean']:.2f}")
    return {"paths": paths, "summary": summary, "paper": paper,
            "seconds": time.perf_counter() - t0}


def table1_markdown(summary: Sequence[dict], paper: Sequence[dict], methods: Sequence[str],
                    split: str = "stratified", boot: Sequence[dict] = ()) -> str:
    """Markdown: honest table (pairs × methods), paired differences of the average row, what the
    joint (alpha, gamma) choice adds over tuning gamma alone (``boot``, :func:`bootstrap_rows`),
    and the paper-protocol reproduction side by side. ``split`` (the split policy) is written in
    the titles."""
    by = {(r["pair"], r["method"]): r for r in summary if r["n"] == summary[0]["n"]}
    pairs = list(dict.fromkeys(r["pair"] for r in summary))
    head = ["pair"] + [protocols.method_label(m) for m in methods]
    rows = [[p.replace("->", " → ")] + [pm(by[(p, m)]["acc_mean"], by[(p, m)]["acc_std"])
                                        for m in methods] for p in pairs]
    text = ("## Honest protocol (docs/theory.md §6.3): honest accuracy (%), mean ± std over "
            f"the shared seed × batch splits ({split} splits)\n\n" + markdown_table(head, rows))
    drow = []
    for m in methods:
        r = by[("average", m)]
        drow.append([protocols.method_label(m),
                     pm(r.get("diff_lora_mean", float("nan")), r.get("diff_lora_std", 0.0),
                        sign=True),
                     f"{100 * r.get('win_lora', float('nan')):.0f} %",
                     pm(r.get("diff_source_only_mean", float("nan")),
                        r.get("diff_source_only_std", 0.0), sign=True),
                     f"{100 * r.get('win_source_only', float('nan')):.0f} %",
                     f"{r['alpha_median']:.3g}"])
    text += ("\n## Paired differences on the same splits, average over pairs (percentage "
             f"points, mean ± std over splits; {split} splits)\n\n"
             + markdown_table(["method", "− LoRA (α=1)", "wins vs LoRA", "− source-only",
                               "wins vs source-only", "median α"], drow))
    def name(r: dict) -> str:
        return "average" if r["source"] == "average" else f"{r['source']} → {r['target']}"

    prow = [[name(r), f"{r['beta_hat']:.3f}", f"{r['alpha_ref']:.3f}",
             f"{r['alpha_ref_mean']:.2f} ± {r['alpha_ref_std']:.2f}",
             f"{r['target_only_mean']:.2f} ± {r['target_only_std']:.2f}",
             f"{r['lora_mean']:.2f} ± {r['lora_std']:.2f}"] for r in paper]
    if boot:
        text += "\n" + joint_vs_gamma_markdown(boot, split)
    text += ("\n## Paper protocol reproduced (docs/theory.md §6.2): leaky α_ref, separate "
             "splits per method, max(acc, 1 − acc); mean ± std (ddof 0) over the 3 per-seed "
             "means\n\n" + markdown_table(
                 ["pair", "β̂", "α_ref", "α-LoRA (α_ref)", "target-only (α=0)", "LoRA (α=1)"], prow))
    return text


def task_figure3(opts: Options) -> dict:
    """Figure 3 with the isotropic and anisotropic theory on the Amazon pairs (all 12; the
    paper's dvd→books, books→kitchen, kitchen→elec with ``quick``): :mod:`linear.figure3`."""
    from . import figure3

    t0 = time.perf_counter()
    paths = figure3.extend(opts.out, quick=opts.quick, batches=opts.n_batches,
                           stratify=opts.stratify, progress=opts.progress)
    return {"paths": paths, "seconds": time.perf_counter() - t0}


def task_study(opts: Options, ns: Sequence[int] | None = None) -> dict:
    """Study beyond the paper: honest alpha (and gamma) estimators at n in {20, 40, 100, 400}
    on the 12 pairs (shared splits, N = 2000, gamma_pre = 1, gamma_ft = 1 unless chosen),
    with the gamma-tuned LoRA-like baselines and two-way bootstrap intervals."""
    t0 = time.perf_counter()
    ns = tuple(ns) if ns is not None else ((20, 100) if opts.quick else (20, 40, 100, 400))
    pairs = _pairs(opts)
    records = protocols.honest_protocol(
        pairs, ns=ns, N=2000, gamma_pre=1.0, gamma_ft=1.0, seeds=_seeds(opts),
        batches=opts.n_batches, methods=protocols.STUDY_METHODS, n_jobs=opts.n_jobs,
        progress=opts.progress, desc="study", stratify=opts.stratify)
    summary = protocols.summarize(records)
    boot = bootstrap_rows(records, ns, protocols.STUDY_METHODS)
    out = opts.out
    common = {"N": 2000, "gamma_pre": 1.0, "gamma_ft_default": 1.0, "quick": opts.quick,
              "seeds": "1 123 404", "batches": opts.n_batches}
    paths = [_gz_records(out / "study_alpha_estimators_splits.csv.gz", records, **common),
             write_csv(out / "study_alpha_estimators.csv", summary, **common),
             write_csv(out / "study_alpha_estimators_bootstrap.csv", boot, **common,
                       split=opts.split),
             plot.save(plot.study_curves(summary, protocols.STUDY_METHODS, boot=boot,
                                         split=opts.split),
                       out / "study_alpha_estimators.png")]
    md = study_markdown(summary, ns, split=opts.split, boot=boot)
    (out / "study_alpha_estimators.md").write_text(md)
    paths.append(out / "study_alpha_estimators.md")
    _say(opts, md)
    return {"paths": paths, "summary": summary, "bootstrap": boot,
            "seconds": time.perf_counter() - t0}


def bootstrap_rows(records: Sequence[dict], ns: Sequence[int], methods: Sequence[str],
                   reps: int = 2000) -> list[dict]:
    """Two-way (pairs × splits) bootstrap rows (:func:`linear.protocols.paired_bootstrap`).

    Per n: ``kind="accuracy"`` per method (its 12-pair mean accuracy and interval, and
    ``gamma_edge_share``: the fraction of (pair, split) choices at an end of the gamma grid
    :data:`linear.selection.DEFAULT_GAMMAS`), and ``kind="joint - gamma-only"`` per criterion of
    :data:`linear.protocols.JOINT_VS_GAMMA_ONLY` present in ``methods``."""
    from .selection import DEFAULT_GAMMAS

    ends = (float(DEFAULT_GAMMAS[0]), float(DEFAULT_GAMMAS[-1]))
    rows = []
    for n in ns:
        for m in methods:
            b = protocols.paired_bootstrap(records, m, None, n, reps=reps)
            gam = np.array([r["gamma_ft"] for r in records if r["n"] == n and r["method"] == m])
            tuned = m.startswith(("alpha_gamma", "lora_gamma"))
            edge = float(np.mean(np.isclose(gam[:, None], ends).any(axis=1))) if tuned \
                else float("nan")
            rows.append({"n": n, "kind": "accuracy", "method": m, "reference": "",
                         "label": protocols.method_label(m), "gamma_edge_share": edge} | b)
        for joint, base in protocols.JOINT_VS_GAMMA_ONLY:
            if joint in methods and base in methods:
                b = protocols.paired_bootstrap(records, joint, base, n, reps=reps)
                rows.append({"n": n, "kind": "joint - gamma-only", "method": joint,
                             "reference": base, "label": protocols.method_label(joint)
                             + " − " + protocols.method_label(base),
                             "gamma_edge_share": float("nan")} | b)
    return rows


def joint_vs_gamma_markdown(boot: Sequence[dict], split: str) -> str:
    """Table: per n and criterion, joint (alpha, gamma) accuracy, the gamma-only baseline tuned by
    the same criterion, their paired difference with the two-way bootstrap 95 % interval, and
    the share of gamma choices at a grid end."""
    acc = {(r["n"], r["method"]): r for r in boot if r["kind"] == "accuracy"}
    rows = []
    for r in (r for r in boot if r["kind"] == "joint - gamma-only"):
        j, g = acc[(r["n"], r["method"])], acc[(r["n"], r["reference"])]
        rows.append([r["n"], r["method"].removeprefix("alpha_gamma_"),
                     f"{100 * j['mean']:.2f}", f"{100 * g['mean']:.2f}",
                     f"{100 * r['mean']:+.2f} [{100 * r['lo']:+.2f}, {100 * r['hi']:+.2f}]",
                     f"{100 * j['gamma_edge_share']:.0f} % / {100 * g['gamma_edge_share']:.0f} %"])
    return ("## What alpha adds once gamma is tuned: joint (α, γ_ft) minus LoRA-like (α=1) with "
            "γ_ft tuned by the SAME criterion on the same training rows (12-pair mean, pp; 95 % "
            "two-way bootstrap interval over pairs and splits, 2000 replicates; "
            f"{split} splits)\n\n" + markdown_table(
                ["n", "criterion", "joint (α, γ_ft)", "γ_ft only (α=1)",
                 "joint − γ_ft only [95 % CI]", "γ_ft at grid end (joint / γ only)"], rows))


def study_markdown(summary: Sequence[dict], ns: Sequence[int], split: str = "stratified",
                   boot: Sequence[dict] = ()) -> str:
    """Per n: 12-pair average accuracy and paired differences vs LoRA and vs source-only; then
    the joint-minus-gamma-only table (:func:`joint_vs_gamma_markdown`)."""
    avg = [r for r in summary if r["pair"] == "average"]
    ci = {(r["n"], r["method"]): r for r in boot if r["kind"] == "accuracy"}
    text = ""
    for n in ns:
        rows = []
        for r in (r for r in avg if r["n"] == n):
            b = ci.get((n, r["method"]))
            rows.append([r["label"], pm(r["acc_mean"], r["acc_std"]),
                         f"[{100 * b['lo']:.2f}, {100 * b['hi']:.2f}]" if b else "–",
                         pm(r.get("diff_lora_mean", float("nan")), r.get("diff_lora_sem", 0.0),
                            sign=True),
                         pm(r.get("diff_source_only_mean", float("nan")),
                            r.get("diff_source_only_sem", 0.0), sign=True),
                         f"{r['alpha_median']:.3g}", f"{r['gamma_median']:.3g}"])
        text += (f"\n### n = {n}: 12-pair average honest accuracy (%) (mean ± std over splits; "
                 "95 % two-way bootstrap interval over pairs and splits); paired differences "
                 f"(pp, mean ± sem over splits); {split} splits\n\n"
                 + markdown_table(["method", "accuracy", "95 % CI (pairs × splits)",
                                   "− LoRA (γ_ft=1)", "− source-only", "median α",
                                   "median γ_ft"], rows))
    if boot:
        text += "\n" + joint_vs_gamma_markdown(boot, split)
    return text


TASKS = {
    "figure1": task_figure1,
    "alpha-star": task_alpha_star,
    "table1": task_table1,
    "figure3": task_figure3,
    "study": task_study,
}
#: The main job: Figure 1, the alpha* curves and Table 1 (honest, with the paper protocol).
MAIN_JOB = ("figure1", "alpha-star", "table1")

"""GLUE study v2: does alpha-LoRA beat a fairly tuned LoRA? (issue 12)

Protocol (every method the same budget, nothing chosen on dev):

1. Tuning on a validation split carved from TRAIN (``val_split`` 10 %, split seed 42; the dev
   split is never read for a choice), one tuning seed (1000), at the study's step budget.
   Every method gets the same number of trials, ``len(LRS) + 1``: the learning rate grid, then
   ONE extra trial of a knob of its own at the best learning rate — alpha's lr and T for
   alpha-LoRA, alpha's lr for the joint variant, the LoRA scaling (``lora_alpha = 2r``) for
   LoRA and DoRA, weight decay 0.1 for full fine-tuning. The configuration with the best
   validation primary metric at the last step wins.
2. The chosen configuration of each method is run with seeds 0..S-1 (paired across methods:
   the same seed gives the same rows, batches, head init); dev is evaluated every
   ``steps / 4`` steps.
3. Two protocols from the same runs: ``honest`` = the dev metric at the last step;
   ``paper`` = the best dev metric among the periodic evaluations (the official code keeps the
   checkpoint with the best TEST score: selection on the reported split, biased upwards).
4. Per task the majority-class (constant) baseline on dev; paired differences
   ``method - lora_gauss`` over seeds with a 95 % paired-t interval (:func:`paired_ci`).

Outputs in ``--out`` (default ``figures/out/glue_v2``): ``runs.csv`` (task, method, seed,
protocol, metric, value, steps, alpha_moved, ...), ``summary.csv`` (task, method, protocol,
n_seeds, mean, std, majority_baseline, diff_vs_lora, ci_low, ci_high), ``summary.md``,
``tuning.csv`` and ``glue_v2.png``. Runs live in ``--runs`` (one folder per run, reused when its
``summary.json`` exists, resumed from a checkpoint otherwise).

Usage::

    python figures/glue/glue_study_v2.py                     # CPU preset (this machine)
    python figures/glue/glue_study_v2.py --preset gpu --device cuda --jobs 6
    python figures/glue/glue_study_v2.py --tasks sst2 --seeds 3 --no-tune   # smaller
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import shutil
import sys
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

ROOT = Path(__file__).resolve().parents[2]
METHODS: dict[str, dict[str, Any]] = {
    # LoRA with alpha-LoRA's initialisation (A ~ N(0, 1/r)): differs from alpha_lora only by alpha
    "lora_gauss": {"adapter": "lora", "extra": {"init": "gaussian"}},
    "alpha_lora": {"adapter": "alpha_lora"},  # the paper's alternating optimiser
    "alpha_lora_joint": {"adapter": "alpha_lora", "alpha_mode": "joint"},
    "dora": {"adapter": "dora"},
    "full": {"adapter": "full"},  # reference row
}
BASELINE = "lora_gauss"
PRIMARY = {"sst2": "accuracy", "mrpc": "accuracy", "rte": "accuracy", "stsb": "pearson",
           "cola": "matthews"}

PRESETS: dict[str, dict[str, Any]] = {
    # 2-core CPU: budgets measured so that LoRA clears the trivial baseline where it can
    "cpu": {"steps": {"sst2": 300, "mrpc": 300, "stsb": 300, "rte": 300, "cola": 300},
            "batch_size": 16, "max_length": {"sst2": 64, "cola": 64}, "default_max_length": 128,
            "lrs": [5e-4, 2e-3], "full_lrs": [2e-5, 1e-4], "seeds": 5, "threads": 1},
    # paper-like: 10 epochs, batch 64, adapter lr 1e-4 (grid around it), alpha lr 5e-3;
    # scripts/gpu_study.sh runs it for MiniLM and again for SmolLM2 (--model smollm2)
    "gpu": {"epochs": 10, "batch_size": 64, "max_length": {}, "default_max_length": 128,
            "lrs": [1e-4, 5e-4], "full_lrs": [2e-5, 5e-5], "seeds": 5, "threads": 2},
}


def paired_ci(diffs: np.ndarray | list[float], level: float = 0.95) -> tuple[float, float, float]:
    """``(mean, low, high)``: paired-t confidence interval of the mean of per-seed differences
    (``mean ± t_{(1+level)/2, n-1} · sd / √n``); NaN bounds for fewer than 2 pairs."""
    d = np.asarray(diffs, dtype=float)
    if d.size == 0:
        return math.nan, math.nan, math.nan
    m = float(d.mean())
    if d.size < 2:
        return m, math.nan, math.nan
    half = float(stats.t.ppf((1 + level) / 2, d.size - 1) * d.std(ddof=1) / math.sqrt(d.size))
    return m, m - half, m + half


def _trials(method: str, lrs: list[float], full_lrs: list[float]) -> list[dict[str, Any]]:
    """The lr grid of ``method`` (its extra trial is added once the best lr is known)."""
    grid = full_lrs if method == "full" else lrs
    return [{"lr": lr} for lr in grid]


def _extra_trial(method: str, best: dict[str, Any], rank: int) -> dict[str, Any]:
    if method == "alpha_lora":
        return best | {"alpha_lr": 2e-2, "alpha_every": 5}
    if method == "alpha_lora_joint":
        return best | {"alpha_lr": 2e-2}
    if method == "full":
        return best | {"weight_decay": 0.1}
    return best | {"lora_alpha": float(2 * rank)}  # LoRA / DoRA: scaling s = 2


def _run(job: dict[str, Any]) -> dict[str, Any]:
    """One training run (in a worker process); returns its summary."""
    from deep.train import TrainConfig, train

    out = Path(job["out"])
    done = out / "summary.json"
    if not done.is_file():
        cfg = TrainConfig.from_flat(**job["config"])
        train(cfg, resume=True, progress=False)
        shutil.rmtree(out / "checkpoints", ignore_errors=True)  # runs are reused by summary.json
    return json.loads(done.read_text())


def _config(args: argparse.Namespace, preset: dict[str, Any], task: str, method: str, seed: int,
            out: Path, overrides: dict[str, Any], evals: int) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "task": task, "model": args.model, "seed": seed, "out": str(out), "rank": args.rank,
        "batch_size": args.batch_size or preset["batch_size"], "eval_batch_size": 128,
        "max_length": preset["max_length"].get(task, preset["default_max_length"]),
        "val_split": 0.1, "split_seed": 42, "num_threads": args.threads or preset["threads"],
        "data_dir": args.data_dir, "alpha_lr": 5e-3, "alpha_every": 10,
        "subsample": args.subsample, "dev_subsample": args.dev_subsample,
    }
    if args.head_lr is not None:  # not in the config otherwise: earlier runs stay reusable
        cfg["head_lr"] = args.head_lr
    steps = args.steps or (preset.get("steps") or {}).get(task)
    if steps:
        cfg["max_steps"] = int(steps)
        cfg["eval_every"] = max(1, int(steps) // evals)
        cfg["checkpoint_every"] = max(1, int(steps) // 2)
    else:
        cfg["epochs"] = float(preset["epochs"])
    spec = dict(METHODS[method])
    cfg |= {k: v for k, v in spec.items()}
    cfg |= overrides
    if "extra" in cfg:
        cfg["extra"] = dict(cfg["extra"])
    return cfg


def _alpha_moved(run_dir: Path) -> dict[str, float]:
    """Mean |alpha - 1| over all alpha entries of the saved adapter, and per q / v group."""
    from safetensors.numpy import load_file

    files = sorted((run_dir / "adapter").glob("*.safetensors")) if (run_dir / "adapter").is_dir() else []
    groups: dict[str, list[np.ndarray]] = {"all": [], "q": [], "v": []}
    for f in files:
        for name, t in load_file(str(f)).items():
            if not name.endswith("alpha"):
                continue
            dev = np.abs(t.astype(np.float64) - 1.0).ravel()
            groups["all"].append(dev)
            if "query" in name or "q_proj" in name:
                groups["q"].append(dev)
            elif "value" in name or "v_proj" in name:
                groups["v"].append(dev)
    return {k: float(np.concatenate(v).mean()) if v else math.nan for k, v in groups.items()}


def _majority(task: str, args: argparse.Namespace) -> float:
    """Dev score of the constant predictor fitted on TRAIN (majority class; 0 for correlations)."""
    from deep.data import load_glue

    if PRIMARY[task] != "accuracy":
        return 0.0
    train_labels = load_glue(task, "train", args.data_dir, subsample=args.subsample, seed=42).labels
    dev_labels = load_glue(task, "dev", args.data_dir, subsample=args.dev_subsample, seed=42).labels
    major = Counter(train_labels).most_common(1)[0][0]
    return float(np.mean([y == major for y in dev_labels]))


def _execute(jobs: list[dict[str, Any]], n_jobs: int, desc: str, progress: bool) -> list[dict[str, Any]]:
    from tqdm.auto import tqdm

    bar = tqdm(total=len(jobs), desc=desc, disable=not progress, dynamic_ncols=True)
    results: list[dict[str, Any]] = []
    if n_jobs <= 1:
        for job in jobs:
            results.append(_run(job))
            bar.update(1)
    else:
        import multiprocessing as mp

        with ProcessPoolExecutor(n_jobs, mp_context=mp.get_context("spawn")) as pool:
            for r in pool.map(_run, jobs):
                results.append(r)
                bar.update(1)
    bar.close()
    return results


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    cols = list(dict.fromkeys(k for r in rows for k in r))
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols, lineterminator="\n", restval="")
        w.writeheader()
        w.writerows(rows)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--preset", choices=list(PRESETS), default="cpu", help="budget preset")
    p.add_argument("--tasks", nargs="+", default=["sst2", "mrpc", "stsb", "rte"], choices=list(PRIMARY))
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    p.add_argument("--seeds", type=int, default=None, help="seeds 0..S-1 (default: the preset's, 5)")
    p.add_argument("--steps", type=int, default=None, help="steps per run (default: the preset's)")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--rank", type=int, default=8)
    p.add_argument("--head-lr", type=float, default=None,
                   help="the task head's own AdamW lr, the same for every method (default: each "
                        "trial's lr). Pair tasks on MiniLM need it: the new head sits on pooled "
                        "features of small spread and needs large weights")
    p.add_argument("--model", default="minilm",
                   help="one model per invocation (a short name of deep.models or a folder); its "
                        "name is the `model` column of the CSVs; use a separate --runs/--out per model")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                   help="cuda: every process sees the GPU (CUDA_VISIBLE_DEVICES unchanged)")
    p.add_argument("--jobs", type=int, default=1, help="runs in parallel (processes)")
    p.add_argument("--threads", type=int, default=None, help="torch threads per process")
    p.add_argument("--no-tune", action="store_true", help="skip tuning: first lr of the grid")
    p.add_argument("--subsample", type=int, default=None, help="train rows (seeded)")
    p.add_argument("--dev-subsample", type=int, default=None, help="dev rows (seeded)")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--runs", default=str(ROOT / "runs" / "glue_v2"))
    p.add_argument("--out", default=None, help="default figures/out/glue_v2 (or $OUT/glue_v2_gpu)")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--combine", nargs="+", type=Path, default=None, metavar="DIR",
                   help="run nothing: merge the outputs of earlier invocations (e.g. one per task) "
                        "into --out")
    args = p.parse_args(argv)
    if args.device == "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
    preset = PRESETS[args.preset]
    out = Path(args.out or (Path(os.environ["OUT"]) / "glue_v2_gpu" if os.environ.get("OUT")
                            else ROOT / "figures" / "out" / "glue_v2"))
    if args.combine:
        return combine(args.combine, out, args, preset)
    out.mkdir(parents=True, exist_ok=True)
    runs = Path(args.runs) / args.preset
    if args.model != "minilm":  # one run tree per model (MiniLM keeps the original layout)
        runs = runs / Path(args.model).name
    n_seeds = args.seeds or preset["seeds"]
    evals = 4
    progress = not args.no_progress
    t0 = time.perf_counter()

    # ---- 1. tuning on the validation split carved from TRAIN -----------------------------
    chosen: dict[tuple[str, str], dict[str, Any]] = {}
    best_scores: dict[tuple[str, str], float] = {}
    tuning_rows: list[dict[str, Any]] = []
    for task in args.tasks:
        metric = f"val_{PRIMARY[task]}"
        grids = {m: ([] if args.no_tune else _trials(m, preset["lrs"], preset["full_lrs"]))
                 for m in args.methods}
        for phase in ("grid", "extra"):
            jobs, keys = [], []
            for m in args.methods:
                if args.no_tune:
                    continue
                trials = grids[m] if phase == "grid" else [_extra_trial(m, chosen[(task, m)], args.rank)]
                for i, ov in enumerate(trials):
                    name = f"{phase}{i}" if phase == "grid" else "extra"
                    d = runs / "tune" / task / m / name
                    jobs.append({"out": str(d), "config": _config(args, preset, task, m, 1000, d, ov, evals)})
                    keys.append((m, ov))
            results = _execute(jobs, args.jobs, f"tune {task} ({phase})", progress)
            for (m, ov), s in zip(keys, results, strict=True):
                score = float(s["final"][metric])
                tuning_rows.append({"task": task, "method": m, "phase": phase,
                                    "overrides": json.dumps(ov, sort_keys=True), "val_metric": metric,
                                    "val_score": score})
                if score > best_scores.get((task, m), -math.inf):
                    chosen[(task, m)], best_scores[(task, m)] = ov, score
        for m in args.methods:
            if (task, m) not in chosen:
                chosen[(task, m)] = _trials(m, preset["lrs"], preset["full_lrs"])[0]
    if tuning_rows:
        _write_csv(out / "tuning.csv", tuning_rows)

    # ---- 2. the chosen configurations over seeds ------------------------------------------
    jobs, keys = [], []
    for seed in range(n_seeds):  # seeds outermost: a partial study stays balanced
        for task in args.tasks:
            for m in args.methods:
                d = runs / "final" / task / m / f"seed{seed}"
                jobs.append({"out": str(d), "config": _config(args, preset, task, m, seed, d,
                                                               chosen[(task, m)], evals)})
                keys.append((task, m, seed, d))
    results = _execute(jobs, args.jobs, "seeds", progress)

    # ---- 3. tables -------------------------------------------------------------------------
    run_rows: list[dict[str, Any]] = []
    for (task, m, seed, d), s in zip(keys, results, strict=True):
        key = f"dev_{PRIMARY[task]}"
        history = json.loads((d / "metrics.json").read_text())
        moved = _alpha_moved(d)
        common = {"task": task, "method": m, "seed": seed, "metric": PRIMARY[task], "steps": s["steps"],
                  "model": args.model,
                  "alpha_moved": moved["all"], "alpha_moved_q": moved["q"], "alpha_moved_v": moved["v"],
                  "config": json.dumps(chosen[(task, m)], sort_keys=True),
                  "seconds": round(s["seconds"], 2), "alpha_share": round(s["alpha_share"], 4),
                  "head_lr": "" if args.head_lr is None else args.head_lr}
        run_rows.append(common | {"protocol": "honest", "value": float(s["final"][key])})
        run_rows.append(common | {"protocol": "paper", "value": max(float(h[key]) for h in history)})
    order = ["task", "method", "seed", "protocol", "metric", "value", "steps", "alpha_moved"]
    run_rows = [{k: r[k] for k in order} | {k: v for k, v in r.items() if k not in order} for r in run_rows]
    _write_csv(out / "runs.csv", run_rows)

    majority = {task: _majority(task, args) for task in args.tasks}
    summary = [r | {"model": args.model} for r in _summarise(run_rows, args.tasks, args.methods, majority)]
    _write_csv(out / "summary.csv", summary)
    _write_markdown(out / "summary.md", summary, args, preset, time.perf_counter() - t0,
                    _head_lrs(run_rows))
    _figure(out / "glue_v2.png", summary, args.tasks, args.methods)
    print(f"wrote {out}/runs.csv, summary.csv, summary.md, glue_v2.png")
    return 0


def _summarise(run_rows: list[dict[str, Any]], tasks: list[str], methods: list[str],
               majority: dict[str, float]) -> list[dict[str, Any]]:
    """One summary row per (task, method, protocol) from the per-run rows."""
    summary: list[dict[str, Any]] = []
    for task in tasks:
        base = majority[task]
        for protocol in ("honest", "paper"):
            by_m = {m: {int(r["seed"]): float(r["value"]) for r in run_rows if r["task"] == task
                        and r["method"] == m and r["protocol"] == protocol} for m in methods}
            for m in methods:
                v = np.array(list(by_m[m].values()))
                if v.size == 0:
                    continue
                row = {"task": task, "method": m, "protocol": protocol, "n_seeds": int(v.size),
                       "mean": float(v.mean()), "std": float(v.std(ddof=1)) if v.size > 1 else math.nan,
                       "majority_baseline": base}
                if by_m.get(BASELINE) and m != BASELINE:
                    seeds = sorted(set(by_m[m]) & set(by_m[BASELINE]))
                    dm, lo, hi = paired_ci([by_m[m][s] - by_m[BASELINE][s] for s in seeds])
                    row |= {"diff_vs_lora": dm, "ci_low": lo, "ci_high": hi}
                else:
                    row |= {"diff_vs_lora": math.nan, "ci_low": math.nan, "ci_high": math.nan}
                moved = [float(r["alpha_moved"]) for r in run_rows if r["task"] == task
                         and r["method"] == m and r["protocol"] == protocol]
                row["alpha_moved"] = float(np.nanmean(moved)) if not all(map(math.isnan, moved)) else math.nan
                summary.append(row)
    return summary


def _head_lrs(run_rows: list[dict[str, Any]]) -> dict[str, float]:
    """task -> the head lr its runs used (``head_lr`` column; tasks without one are absent)."""
    return {r["task"]: float(r["head_lr"]) for r in run_rows if r.get("head_lr") not in (None, "")}


def _read_csv(path: Path) -> list[dict[str, Any]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def combine(dirs: list[Path], out: Path, args: argparse.Namespace, preset: dict[str, Any]) -> int:
    """Rebuild ``runs.csv`` / ``tuning.csv`` / ``summary.*`` / the figure in ``out`` from the
    outputs of several earlier invocations (e.g. one per task), without running anything."""
    run_rows: list[dict[str, Any]] = []
    tuning: list[dict[str, Any]] = []
    majority: dict[str, float] = {}
    for d in dirs:
        for f in ("runs.csv", "summary.csv"):
            if not (d / f).is_file():
                raise SystemExit(f"error: --combine {d}: no {f} there (not a study output folder)")
        run_rows += _read_csv(d / "runs.csv")
        if (d / "tuning.csv").is_file():
            tuning += _read_csv(d / "tuning.csv")
        majority |= {r["task"]: float(r["majority_baseline"]) for r in _read_csv(d / "summary.csv")}
    models = sorted({r.get("model") or "minilm" for r in run_rows})  # outputs before the column: minilm
    if len(models) > 1:
        raise SystemExit(f"error: --combine: the folders hold runs of several models {models}; "
                         "combine the folders of one model at a time")
    args.model = models[0] if models else args.model
    tasks = list(dict.fromkeys(r["task"] for r in run_rows))
    methods = [m for m in METHODS if any(r["method"] == m for r in run_rows)]
    out.mkdir(parents=True, exist_ok=True)
    _write_csv(out / "runs.csv", run_rows)
    if tuning:
        _write_csv(out / "tuning.csv", tuning)
    summary = [r | {"model": args.model} for r in _summarise(run_rows, tasks, methods, majority)]
    _write_csv(out / "summary.csv", summary)
    _write_markdown(out / "summary.md", summary, args, preset, math.nan, _head_lrs(run_rows))
    _figure(out / "glue_v2.png", summary, tasks, methods)
    print(f"combined {len(dirs)} folders into {out}")
    return 0


def _fmt(x: float, scale: float) -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x * scale:.2f}"


def _write_markdown(path: Path, summary: list[dict[str, Any]], args: argparse.Namespace,
                    preset: dict[str, Any], seconds: float,
                    head_lrs: dict[str, float]) -> None:
    lines = [f"# GLUE study v2 — model {args.model}, preset {args.preset}",
             "",
             "Tuning on 10 % of TRAIN (validation split), same trial count per method; dev never used "
             "for a choice in the `honest` protocol. `paper` = best dev score among periodic "
             "evaluations (selection on the reported split, as the official code). Values in % "
             "(accuracy) or ×100 (Pearson). Difference vs `lora_gauss`: paired over seeds, 95 % "
             "paired-t interval. A task whose LoRA mean is not ≥ 5 points above the majority "
             "baseline (STS-B: Pearson ≥ 0.70) is out of reach at this budget and not part of the "
             "verdict.",
             ""]
    for task, head_lr in head_lrs.items():
        lines += [f"{task}: task head at its own AdamW lr {head_lr:g} (`--head-lr`), the same for every "
                  "method and trial; adapters / full fine-tuning at the tuned lr.", ""]
    for protocol in ("honest", "paper"):
        lines += [f"## protocol: {protocol}", "",
                  "| task | majority | method | n | mean ± std | diff vs lora_gauss [95 % CI] "
                  "| mean abs(alpha-1) |",
                  "|---|---|---|---|---|---|---|"]
        for r in summary:
            if r["protocol"] != protocol:
                continue
            diff = "" if math.isnan(r["diff_vs_lora"]) else (
                f"{r['diff_vs_lora'] * 100:+.2f} [{_fmt(r['ci_low'], 100)}, {_fmt(r['ci_high'], 100)}]")
            lines.append(f"| {r['task']} | {r['majority_baseline'] * 100:.2f} | {r['method']} | "
                         f"{r['n_seeds']} | {r['mean'] * 100:.2f} ± {_fmt(r['std'], 100)} | {diff} | "
                         f"{_fmt(r['alpha_moved'], 1)} |")
        lines.append("")
    if math.isnan(seconds):
        lines.append("Combined from earlier invocations; run wall times are the `seconds` column of "
                     "`runs.csv`.")
    else:
        lines.append(f"Wall time of this invocation: {seconds / 60:.1f} min (reused runs cost nothing).")
    path.write_text("\n".join(lines) + "\n")


def _figure(path: Path, summary: list[dict[str, Any]], tasks: list[str], methods: list[str]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from deep.plots import save_png

    fig, axes = plt.subplots(1, len(tasks), figsize=(3.6 * len(tasks), 3.6), squeeze=False)
    for ax, task in zip(axes[0], tasks, strict=True):
        for j, protocol in enumerate(("honest", "paper")):
            rows = [r for r in summary if r["task"] == task and r["protocol"] == protocol]
            x = np.arange(len(rows)) + (j - 0.5) * 0.38
            ax.bar(x, [r["mean"] * 100 for r in rows], width=0.38,
                   yerr=[0 if math.isnan(r["std"]) else r["std"] * 100 for r in rows],
                   label=protocol, alpha=0.85 if j == 0 else 0.45, capsize=2)
        if rows:
            ax.axhline(rows[0]["majority_baseline"] * 100, color="k", ls="--", lw=1, label="majority")
        ax.set_xticks(np.arange(len(methods)))
        ax.set_xticklabels(methods, rotation=40, ha="right", fontsize=8)
        ax.set_title(task)
        lo = min(r["mean"] * 100 for r in summary if r["task"] == task) - 8
        ax.set_ylim(max(0, lo), None)
    axes[0, 0].set_ylabel("dev metric (mean ± std over seeds)")
    axes[0, 0].legend(fontsize=7)
    save_png(fig, path)


if __name__ == "__main__":
    sys.exit(main())

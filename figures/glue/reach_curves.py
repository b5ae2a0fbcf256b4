"""Can plain LoRA clear the trivial baseline on a GLUE task within this machine's budget? (issue 12)

The GLUE study v2 (``glue_study_v2.py``) counts a task in the verdict only when LoRA's mean is
at least 5 points above the majority-class baseline (STS-B: Pearson >= 0.70). Before spending
40 runs on a task, one pilot per task measures the learning curve of plain LoRA
(``lora_gauss``, lr 2e-3 = SST-2's tuned choice, rank 8, batch 16, tuning seed 1000, 10 %
validation split carved from TRAIN) with an evaluation every 150 steps. This script runs the
pilots that are missing (resumable: ``deep.train`` with ``resume=True``), then writes
``reach.csv`` (task, step, metric, dev, val, majority, threshold, clears), ``reach.md`` and
``reach.png`` into ``--out``.

Usage::

    python figures/glue/reach_curves.py --runs figures/out/glue_v2/reach/runs \\
        --out figures/out/glue_v2/reach [--tasks mrpc stsb rte cola] [--steps 900]

A pilot that was stopped early keeps the evaluations it reached (``metrics.json``); the table
says how far each curve goes. The curve decides nothing about alpha: it only sizes the budget.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
PRIMARY = {"sst2": "accuracy", "mrpc": "accuracy", "rte": "accuracy", "stsb": "pearson",
           "cola": "matthews"}
MAX_LENGTH = {"sst2": 64, "cola": 64}


def pilot_config(task: str, steps: int, out: Path, data_dir: str | None,
                 head_lr: float | None = None) -> dict[str, Any]:
    """The flat ``deep.train`` configuration of one pilot (``head_lr``: the head's own lr)."""
    return {"task": task, "model": "minilm", "adapter": "lora", "extra": {"init": "gaussian"},
            "lr": 2e-3, "max_steps": steps, "eval_every": 150, "batch_size": 16,
            "max_length": MAX_LENGTH.get(task, 128), "val_split": 0.1, "seed": 1000,
            "num_threads": 1, "out": str(out), "data_dir": data_dir, "head_lr": head_lr}


def majority(task: str, data_dir: str | None) -> float:
    """Dev score of the constant predictor fitted on TRAIN (0 for correlations and MCC)."""
    from deep.data import load_glue

    if PRIMARY[task] != "accuracy":
        return 0.0
    train_labels = load_glue(task, "train", data_dir).labels
    dev_labels = load_glue(task, "dev", data_dir).labels
    major = Counter(train_labels).most_common(1)[0][0]
    return float(np.mean([y == major for y in dev_labels]))


def threshold(task: str, base: float) -> float:
    """What LoRA must reach to count: Pearson 0.70 on STS-B, else the baseline + 5 points."""
    return 0.70 if task == "stsb" else base + 0.05


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tasks", nargs="+", default=["mrpc", "stsb", "rte", "cola"], choices=list(PRIMARY))
    p.add_argument("--steps", type=int, default=900, help="steps of a pilot that is run here")
    p.add_argument("--runs", type=Path, default=Path("figures/out/glue_v2/reach/runs"))
    p.add_argument("--out", type=Path, default=Path("figures/out/glue_v2/reach"))
    p.add_argument("--data-dir", default=None)
    p.add_argument("--no-run", action="store_true", help="only tabulate the pilots that exist")
    p.add_argument("--head-lr", type=float, default=None,
                   help="the task head's own AdamW lr (default: the pilot's lr, 2e-3)")
    args = p.parse_args(argv)
    rows: list[dict[str, Any]] = []
    for task in args.tasks:
        run = args.runs / task
        if not (run / "metrics.json").is_file() and not args.no_run:
            from deep.train import TrainConfig, train

            train(TrainConfig.from_flat(**pilot_config(task, args.steps, run, args.data_dir,
                                                           args.head_lr)),
                  resume=True, progress=True)
        if not (run / "metrics.json").is_file():
            print(f"{task}: no pilot in {run} (skipped)", file=sys.stderr)
            continue
        base = majority(task, args.data_dir)
        need = threshold(task, base)
        m = PRIMARY[task]
        for h in json.loads((run / "metrics.json").read_text()):
            rows.append({"task": task, "step": h["step"], "metric": m, "dev": h[f"dev_{m}"],
                         "val": h.get(f"val_{m}", math.nan), "majority": base, "threshold": need,
                         "clears": h[f"dev_{m}"] >= need})
    args.out.mkdir(parents=True, exist_ok=True)
    with (args.out / "reach.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    lines = ["# Can LoRA clear the trivial baseline? Pilot learning curves (MiniLM, one seed)", "",
             "Plain LoRA (`lora_gauss`, lr 2e-3, rank 8, batch 16, seed 1000"
             + ("" if args.head_lr is None else f", task head at lr {args.head_lr:g}")
             + "), dev metric every 150 steps (validation split of TRAIN in brackets). `needed` = "
             "majority + 5 points (STS-B: Pearson 0.70). Values ×100.", "",
             "| task | majority | needed | steps reached | dev (val) at each evaluation | best dev "
             "| clears |",
             "|---|---|---|---|---|---|---|"]
    for task in dict.fromkeys(r["task"] for r in rows):
        sel = [r for r in rows if r["task"] == task]
        curve = ", ".join(f"{r['step']}: {100 * r['dev']:.1f} ({100 * r['val']:.1f})" for r in sel)
        best = max(r["dev"] for r in sel)
        last = sel[-1]
        lines.append(f"| {task} | {100 * sel[0]['majority']:.2f} | {100 * sel[0]['threshold']:.2f} | "
                     f"{last['step']} | {curve} | {100 * best:.2f} | "
                     f"{'at the last step' if last['clears'] else 'no'} |")
    (args.out / "reach.md").write_text("\n".join(lines) + "\n")
    _figure(args.out / "reach.png", rows)
    print("\n".join(lines))
    return 0


def _figure(path: Path, rows: list[dict[str, Any]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from deep.plots import save_png

    tasks = list(dict.fromkeys(r["task"] for r in rows))
    fig, axes = plt.subplots(1, len(tasks), figsize=(3.4 * len(tasks), 3.2), squeeze=False)
    for ax, task in zip(axes[0], tasks, strict=True):
        sel = [r for r in rows if r["task"] == task]
        ax.plot([r["step"] for r in sel], [100 * r["dev"] for r in sel], "o-", label="LoRA dev")
        ax.plot([r["step"] for r in sel], [100 * r["val"] for r in sel], "s--", alpha=0.6, label="LoRA val")
        ax.axhline(100 * sel[0]["majority"], color="k", lw=1, label="majority / constant")
        ax.axhline(100 * sel[0]["threshold"], color="r", ls=":", lw=1, label="needed")
        ax.set_title(f"{task} ({sel[0]['metric']})")
        ax.set_xlabel("step")
    axes[0, 0].set_ylabel("metric ×100")
    axes[0, 0].legend(fontsize=7)
    save_png(fig, path)


if __name__ == "__main__":
    sys.exit(main())

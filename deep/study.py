"""The GLUE study: adapters compared at the same step budget, over seeds.

Every (task, method, seed) is one :func:`deep.train.train` run in
``<runs>/<task>/<method>/seed<k>/``; a run whose ``summary.json`` exists is reused and an
interrupted one resumes from its last checkpoint, so the study can be stopped and restarted at
will. Results:

* ``<out>/<name>.csv`` — one row per run: task, method, seed, dev metrics, trainable-parameter
  counts, final mean alpha, seconds (plus the study parameters and package version);
* ``<out>/<name>.md`` — mean ± std over seeds per task and method, with parameter counts;
* ``<out>/<name>.png`` — the primary dev metric per task, one bar per method, ± std.

Methods are names of :data:`METHODS` (adapter, optimiser and rank overrides of the common
settings). All methods see the same base model, the same train rows in the same order for a
given seed (``CyclingBatches`` seeded by the run seed; alpha methods hold out their alpha split
from those rows, as the paper does) and are scored on the same dev rows. Nothing is tuned on
dev: the reported metric is the last step's.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .train import TrainConfig, train

__all__ = ["METHODS", "run_study", "main"]

#: study method name -> TrainConfig overrides
METHODS: dict[str, dict[str, Any]] = {
    "lora": {"adapter": "lora"},  # A Kaiming-uniform (PEFT's default)
    # A ~ N(0, 1/r): the initialisation of the official alpha-LoRA code, used by `alpha_lora`;
    # `lora_gauss` vs `alpha_lora` therefore differ ONLY by alpha (and its held-out split)
    "lora_gauss": {"adapter": "lora", "extra": {"init": "gaussian"}},
    "alpha_lora": {"adapter": "alpha_lora"},
    "dora": {"adapter": "dora"},
    "alpha_dora": {"adapter": "alpha_dora"},
    "loft_r1": {"adapter": "lora", "optimizer": "loft", "rank": 1, "lora_alpha": None},
    "loft_r4": {"adapter": "lora", "optimizer": "loft", "rank": 4, "lora_alpha": None},
    "loft_r8": {"adapter": "lora", "optimizer": "loft", "rank": 8, "lora_alpha": None},
    "adalora": {"adapter": "adalora"},
    "lora2": {"adapter": "lora2"},
    "alora": {"adapter": "alora"},  # ALoRA (Allocating LoRA, by ablation), not PEFT's Activated LoRA
    "ablation_alora": {"adapter": "ablation_alora"},  # the same method under its explicit name
}


def _run_one(base: TrainConfig, task: str, method: str, seed: int, runs: Path,
             progress: bool) -> dict[str, Any]:
    out = runs / task / method / f"seed{seed}"
    done = out / "summary.json"
    if not done.is_file():
        cfg = base.with_flat(task=task, seed=seed, out=str(out), **METHODS[method])
        train(cfg, resume=True, progress=progress)
    s = json.loads(done.read_text())
    counts = s["trainable_parameters"]
    row: dict[str, Any] = {"task": task, "method": method, "seed": seed}
    row |= {k: v for k, v in s["final"].items() if k.startswith("dev_")}
    row |= {"train_loss": s["final"]["train_loss"], "alpha_mean": s["final"].get("alpha_mean", float("nan")),
            "adapter_params": counts["adapter"], "alpha_params": counts["alpha"],
            "head_params": counts["head"], "trainable_params": counts["total_trainable"],
            "trainable_pct": counts["trainable_pct"], "alpha_pct": counts["alpha_pct"],
            "steps": s["steps"], "seconds": s["seconds"]}
    return row


def _task_metrics(rows: list[dict[str, Any]], task: str) -> list[str]:
    """The dev metric columns of ``task`` (e.g. accuracy and F1 for MRPC), in row order."""
    task_rows = [r for r in rows if r["task"] == task]
    return [k for k in task_rows[0] if k.startswith("dev_") and all(k in r for r in task_rows)]


def run_study(tasks: Sequence[str], methods: Sequence[str], seeds: Sequence[int], base: TrainConfig,
              runs: str | Path, out: str | Path, name: str = "glue_study", progress: bool = True,
              ) -> list[dict[str, Any]]:
    """Run (or reuse) every run and write the CSV / Markdown / PNG results; return the rows."""
    from linear.report import markdown_table, pm, write_csv

    from .data import get_task

    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"methods={unknown} are invalid; allowed: {sorted(METHODS)}")
    runs, out = Path(runs), Path(out)
    # seeds outermost: an interrupted study has every (task, method) cell at a similar count
    rows = [_run_one(base, get_task(t).name, m, s, runs, progress)
            for s in seeds for t in tasks for m in methods]
    rows.sort(key=lambda r: (list(tasks).index(r["task"]) if r["task"] in tasks else 0,
                             list(methods).index(r["method"]), r["seed"]))
    params = {k: v for k, v in base.to_json().items()
              if k in ("model", "rank", "max_steps", "batch_size", "lr", "alpha_lr", "alpha_every",
                       "alpha_split", "max_length", "weight_decay", "subsample", "dev_subsample")}
    write_csv(out / f"{name}.csv", rows, **params)

    table, plot = [], []
    for t in dict.fromkeys(r["task"] for r in rows):
        spec = get_task(t)
        metrics = _task_metrics(rows, t)
        for m in methods:
            sel = [r for r in rows if r["task"] == t and r["method"] == m]
            cells = []
            for k in metrics:
                v = np.array([r[k] for r in sel], dtype=float)
                # one seed: no spread to report (not "± 0")
                cells.append(pm(v.mean(), v.std(ddof=1)) if v.size > 1 else f"{100 * v[0]:.2f}")
            prim = np.array([r[f"dev_{spec.primary_metric}"] for r in sel], dtype=float)
            plot.append((t, m, prim.mean(), prim.std(ddof=1) if prim.size > 1 else 0.0))
            r0 = sel[0]
            alpha = np.array([r["alpha_mean"] for r in sel], dtype=float)
            table.append([t, m, len(sel), *cells, f"{int(r0['trainable_params']):,}",
                          f"{r0['trainable_pct']:.3f}", f"{r0['alpha_pct']:.4f}",
                          "–" if np.isnan(alpha).all() else f"{np.nanmean(alpha):.4f}",
                          f"{np.mean([r['seconds'] for r in sel]):.0f}"])
    sub = "" if base.subsample is None else f", train subsampled to {base.subsample} rows"
    sub += "" if base.dev_subsample is None else f", dev subsampled to {base.dev_subsample} rows"
    rank = base.adapter.rank if base.adapter else "—"
    lines = [f"# GLUE study ({base.model}, {base.max_steps} steps of batch {base.batch_size}, "
             f"lr {base.lr}, rank {rank}, max length {base.max_length}{sub})\n",
             "Mean ± std over seeds of the dev metric at the last step (no choice made on dev). "
             "`trainable %` counts adapters + alpha + head against the whole model.\n"]
    # one table per task (columns differ between tasks)
    for t in dict.fromkeys(r["task"] for r in rows):
        spec = get_task(t)
        metrics = _task_metrics(rows, t)
        header = ["method", "seeds", *[k.removeprefix("dev_") + " (dev, %)" for k in metrics],
                  "trainable", "trainable %", "alpha %", "mean alpha", "s/run"]
        lines.append(f"\n## {t}\n")
        lines.append(markdown_table(header, [r[1:] for r in table if r[0] == t]))
    (out / f"{name}.md").write_text("\n".join(lines))
    _plot(plot, out / f"{name}.png", base)
    return rows


def _plot(points: list[tuple[str, str, float, float]], path: Path, base: TrainConfig) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = list(dict.fromkeys(p[0] for p in points))
    methods = list(dict.fromkeys(p[1] for p in points))
    width = 0.8 / len(methods)
    fig, ax = plt.subplots(figsize=(1.6 + 1.4 * len(tasks) * max(1, len(methods) / 3), 3.6))
    for j, m in enumerate(methods):
        xs, ys, es = [], [], []
        for i, t in enumerate(tasks):
            for p in points:
                if p[0] == t and p[1] == m:
                    xs.append(i + (j - (len(methods) - 1) / 2) * width)
                    ys.append(100 * p[2])
                    es.append(100 * p[3])
        ax.bar(xs, ys, width, yerr=es, capsize=2, label=m)
    ax.set_xticks(range(len(tasks)), tasks)
    ax.set_ylabel("dev metric (%)")
    lo = min(100 * (p[2] - p[3]) for p in points)
    ax.set_ylim(max(0.0, math.floor(lo / 5) * 5 - 5), None)
    ax.set_title(f"{base.model}: {base.max_steps} steps, mean ± std over seeds", fontsize=9)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    plt.close(fig)


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m deep.study`` options, each documented with its default."""
    from . import cli
    from .data import TASKS

    p = argparse.ArgumentParser(prog="python -m deep.study", description=__doc__.split("\n")[0],
                                formatter_class=cli.HelpFormatter)
    p.add_argument("--tasks", nargs="+", default=["rte", "mrpc", "sst2"],
                   help=f"GLUE tasks, of {sorted(TASKS)}")
    p.add_argument("--methods", nargs="+", default=["lora", "lora_gauss", "alpha_lora"],
                   help=f"methods, of {sorted(METHODS)}")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2],
                   help="run seeds (init, batch order, alpha split); methods are paired by seed")
    p.add_argument("--model", default="minilm",
                   help="offline model name (minilm, smollm2), a local folder, or a hub name online")
    p.add_argument("--steps", type=int, default=100, help="optimiser steps per run")
    p.add_argument("--batch-size", type=int, default=16, help="training rows per step")
    p.add_argument("--lr", type=float, default=1e-3, help="AdamW learning rate of adapters and head")
    p.add_argument("--rank", type=int, default=8, help="adapter rank (methods may override it)")
    p.add_argument("--max-length", type=int, default=96, help="tokens per row (longer rows are cut)")
    p.add_argument("--alpha-every", type=int, default=10,
                   help="T: one alpha step every T adapter steps (alpha methods)")
    p.add_argument("--alpha-lr", type=float, default=5e-3, help="Adam learning rate of alpha")
    p.add_argument("--subsample", type=int, default=None,
                   help="train on at most this many rows (default: all)")
    p.add_argument("--dev-subsample", type=int, default=None,
                   help="score on at most this many dev rows (default: all)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch threads per run (default: $OMP_NUM_THREADS or all cores, at most 8)")
    p.add_argument("--data-dir", default=None,
                   help="GLUE TSV folder (default: $RESCALORA_GLUE_DIR, else ../shared/data/glue)")
    p.add_argument("--runs", default="runs/glue_study",
                   help="folder of the per-run directories (finished runs are reused)")
    p.add_argument("--out", default="figures/out", help="folder of the CSV / Markdown / PNG results")
    p.add_argument("--name", default="glue_study", help="file stem of the results")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    from . import cli
    from .data import TASKS

    p = build_parser()
    a = p.parse_args(argv)
    try:
        for t in a.tasks:
            if t.lower() not in TASKS:
                raise cli.UsageError("--tasks", t, "unknown GLUE task", ", ".join(sorted(TASKS)))
        for m in a.methods:
            if m not in METHODS:
                raise cli.UsageError("--methods", m, "unknown method", ", ".join(sorted(METHODS)))
        for flag, v in (("--steps", a.steps), ("--batch-size", a.batch_size), ("--rank", a.rank),
                        ("--max-length", a.max_length), ("--alpha-every", a.alpha_every)):
            if v < 1:
                raise cli.UsageError(flag, v, "must be a positive integer")
        cli.check_out(a.out)
        cli.check_out(a.runs, "--runs")
        try:
            base = TrainConfig.from_flat(task=a.tasks[0], model=a.model, max_steps=a.steps,
                                         batch_size=a.batch_size, lr=a.lr, rank=a.rank,
                                         max_length=a.max_length, alpha_every=a.alpha_every,
                                         alpha_lr=a.alpha_lr, subsample=a.subsample,
                                         dev_subsample=a.dev_subsample, num_threads=a.threads,
                                         data_dir=a.data_dir, checkpoint_every=25)
        except ValueError as exc:
            raise cli.UsageError("(settings)", "", str(exc)) from None
        with cli.usage_errors(a.model, a.data_dir):
            rows = run_study(a.tasks, a.methods, a.seeds, base, a.runs, a.out, a.name,
                             not a.no_progress)
    except cli.UsageError as exc:  # a bad argument: one line, no traceback
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print((Path(a.out) / f"{a.name}.md").read_text())
    return 0 if rows else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""Figures of one training run: ``python -m deep plot --run DIR``.

Reads ``<run>/steps.csv`` (one row per step, written by :func:`deep.train.train`) and writes

* ``<run>/learning_curve.png`` — training loss per step (and its moving average), the learning
  rate, and the dev/val metrics at the evaluation steps;
* ``<run>/alpha_trajectory.png`` — alpha mean with its min–max band and ± std, per step (only
  for runs with alpha).
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np

__all__ = ["read_steps", "plot_run", "save_png"]


def save_png(fig: object, path: str | os.PathLike[str]) -> Path:
    """Lay out ``fig``, save it as a 110-dpi PNG at ``path`` (parent folders created), close it
    and return the path (the deep figures: this module's and the GLUE study scripts')."""
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()  # type: ignore[attr-defined]
    fig.savefig(path, dpi=110)  # type: ignore[attr-defined]
    plt.close(fig)  # type: ignore[arg-type]
    return path


def read_steps(run_dir: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Columns of ``<run_dir>/steps.csv`` as float arrays (NaN where a row has no value)."""
    path = Path(run_dir) / "steps.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no steps.csv (is {run_dir} a run directory written by "
                                "'python -m deep train'?)")
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise ValueError(f"{path}: no step rows yet")
    return {k: np.array([float(r[k]) if r.get(k) not in (None, "") else np.nan for r in rows])
            for k in rows[0]}


def plot_run(run_dir: str | os.PathLike[str]) -> list[Path]:
    """Write the run's PNGs (see the module doc) and return their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run = Path(run_dir)
    cols = read_steps(run)
    step = cols["step"]
    written: list[Path] = []
    metrics = [k for k in cols if k.startswith(("dev_", "val_"))]
    fig, axes = plt.subplots(1, 2 if metrics else 1, figsize=(11 if metrics else 6, 3.8), squeeze=False)
    ax = axes[0, 0]
    ax.plot(step, cols["loss"], lw=0.6, alpha=0.4, label="loss (per step)")
    w = max(1, min(50, step.size // 10))
    if w > 1:
        smooth = np.convolve(cols["loss"], np.ones(w) / w, mode="valid")
        ax.plot(step[w - 1:], smooth, lw=1.6, label=f"moving mean ({w} steps)")
    ax.set_xlabel("step")
    ax.set_ylabel("training loss")
    ax.legend(loc="upper right", fontsize=8)
    ax2 = ax.twinx()
    ax2.plot(step, cols["lr"], color="grey", lw=0.8, ls="--")
    ax2.set_ylabel("learning rate (dashed)")
    if metrics:
        axm = axes[0, 1]
        for k in metrics:
            ok = ~np.isnan(cols[k])
            axm.plot(step[ok], cols[k][ok], marker="o", ms=3, label=k)
        axm.set_xlabel("step")
        axm.set_ylabel("metric at evaluation steps")
        axm.legend(fontsize=8)
    fig.suptitle(run.name)
    written.append(save_png(fig, run / "learning_curve.png"))
    if "alpha_mean" in cols:
        fig, ax = plt.subplots(figsize=(6, 3.8))
        ax.fill_between(step, cols["alpha_min"], cols["alpha_max"], alpha=0.2, label="min – max")
        ax.fill_between(step, cols["alpha_mean"] - cols["alpha_std"], cols["alpha_mean"] + cols["alpha_std"],
                        alpha=0.35, label="mean ± std")
        ax.plot(step, cols["alpha_mean"], lw=1.5, label="mean")
        ax.axhline(1.0, color="k", lw=0.6, ls=":")
        ax.set_xlabel("step")
        ax.set_ylabel("alpha (all adapted rows)")
        ax.set_title(f"{run.name}: alpha trajectory")
        ax.legend(fontsize=8)
        written.append(save_png(fig, run / "alpha_trajectory.png"))
    return written

"""The files a training run writes as it goes: ``metrics.json`` / ``metrics.csv`` (one row per
evaluation), ``alpha_stats.json`` and ``steps.csv`` (one row per step), with columns in a fixed
order so files are byte-identical whether a run was resumed or not."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from .checkpoint import write_text_atomic

__all__ = ["STEP_COLUMNS", "canonical", "write_logs"]


def _column_key(name: str) -> tuple[int, str]:
    order = {"epoch": 0, "step": 1, "train_loss": 2}
    group = 3 if name.startswith("dev_") else 4 if name.startswith("val_") else 5
    return (order.get(name, group), name)


def canonical(row: dict[str, Any]) -> dict[str, Any]:
    """A history row with its keys in a fixed order (epoch, step, train_loss, dev_*, val_*,
    the rest sorted), so files are byte-identical whether a run was resumed or not."""
    return {k: row[k] for k in sorted(row, key=_column_key)}


def _csv_text(rows: list[dict[str, Any]]) -> str:
    columns = sorted({k for r in rows for k in r}, key=_column_key)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


STEP_COLUMNS = ("step", "loss", "lr", "alpha_mean", "alpha_std", "alpha_min", "alpha_max")


def write_logs(out: Path, state: Any) -> None:
    history = [canonical(r) for r in state.history]
    write_text_atomic(out / "metrics.json", json.dumps(history, indent=1) + "\n")
    write_text_atomic(out / "metrics.csv", _csv_text(history))
    if state.alpha_log:
        write_text_atomic(out / "alpha_stats.json", json.dumps(state.alpha_log, indent=1) + "\n")
    extra = sorted({k for r in state.step_log for k in r} - set(STEP_COLUMNS))
    columns = [c for c in STEP_COLUMNS if any(c in r for r in state.step_log)] + extra
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n", restval="")
    writer.writeheader()
    writer.writerows(state.step_log)
    write_text_atomic(out / "steps.csv", buf.getvalue())


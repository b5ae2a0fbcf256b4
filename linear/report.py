"""Writing results: CSV files that carry their parameters and the package version, and
Markdown tables. numpy / stdlib only (no pandas dependency)."""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path

from . import __version__

__all__ = ["write_csv", "read_csv", "pm", "markdown_table"]


def _fmt(v: object) -> object:
    if isinstance(v, float):
        return "" if math.isnan(v) else f"{v:.10g}"
    if isinstance(v, list | tuple):
        return " ".join(str(x) for x in v)
    return v


def write_csv(path: str | Path, rows: Sequence[dict], **params: object) -> Path:
    """Write ``rows`` (dicts; the union of their keys, in first-seen order, are the columns) to
    ``path``, adding one column per ``params`` entry and ``rescalora_version`` to every row.
    NaN is written as an empty cell."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    full = [dict(r) | {k: v for k, v in params.items()} | {"rescalora_version": __version__}
            for r in rows]
    cols = list(dict.fromkeys(k for r in full for k in r))
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=cols)
        writer.writeheader()
        for r in full:
            writer.writerow({k: _fmt(r.get(k, "")) for k in cols})
    return path


def read_csv(path: str | Path) -> list[dict]:
    """Rows of a CSV written by :func:`write_csv`; numeric cells become floats."""
    def conv(v: str) -> object:
        try:
            return float(v)
        except ValueError:
            return v
    with open(path, newline="") as fh:
        return [{k: conv(v) for k, v in r.items()} for r in csv.DictReader(fh)]


def pm(mean: float, std: float, scale: float = 100.0, digits: int = 2, sign: bool = False) -> str:
    """``"77.53 ± 0.04"`` (values scaled by ``scale``; ``sign`` adds a leading +/-)."""
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "–"
    m = f"{scale * mean:+.{digits}f}" if sign else f"{scale * mean:.{digits}f}"
    return f"{m} ± {scale * std:.{digits}f}"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub-flavoured Markdown table."""
    lines = ["| " + " | ".join(map(str, header)) + " |",
             "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(map(str, r)) + " |" for r in rows]
    return "\n".join(lines) + "\n"

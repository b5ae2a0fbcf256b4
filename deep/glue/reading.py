"""Reading GLUE: where the TSVs are, strict TSV parsing, the hub fallback, :class:`GlueSplit`.

Where the data comes from (:func:`resolve_glue_dir`, first match wins):

1. the ``data_dir`` argument (CLI: ``--data-dir PATH``);
2. the environment variable ``RESCALORA_GLUE_DIR``;
3. ``<repo>/../shared/data/glue`` (the project's shared folder, used in development and CI);
4. the Hugging Face ``datasets`` GLUE loader (``nyu-mll/glue``), imported lazily; it needs the
   ``datasets`` package and a network (or a warm ``datasets`` cache). Offline, or without the
   package, loading fails with a message saying how to point at local TSVs.

A folder given by (1) or (2) must exist: it is never silently replaced by a fallback.
The folder holds one sub-folder per task in the original GLUE layout (``RTE/train.tsv``,
``RTE/dev.tsv``, ``MNLI/dev_matched.tsv``, ...); see :data:`deep.glue.TASKS` for every task's
files, columns and label coding.

Reading is strict: a missing file fails with its path; a malformed row (wrong column count,
unknown label, unparsable score) fails with ``path:line`` (1-based physical line, the header
being line 1). Quote characters are data (``csv.QUOTE_NONE``: GLUE texts contain stray ``"``),
and a UTF-8 byte-order mark (MRPC) is removed.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..splits import subsample_indices
from .tasks import TaskSpec, check_split, get_task

__all__ = [
    "ENV_GLUE_DIR",
    "HUB_DATASET",
    "GlueSplit",
    "GlueFormatError",
    "GlueDataNotFound",
    "resolve_glue_dir",
    "read_glue_tsv",
    "load_glue",
]

#: Environment variable naming the local GLUE folder (the one holding ``RTE/``, ``MRPC/``, ...).
ENV_GLUE_DIR = "RESCALORA_GLUE_DIR"

#: Hugging Face dataset used when no local folder exists.
HUB_DATASET = "nyu-mll/glue"


class GlueFormatError(ValueError):
    """A GLUE TSV row or header is malformed; the message starts with ``path:line:``."""


class GlueDataNotFound(FileNotFoundError):
    """A GLUE file or folder is missing and no fallback applies."""



# ----------------------------------------------------------------------------------------
# locating the data
# ----------------------------------------------------------------------------------------
def _default_glue_dir() -> Path:
    """``<repo>/../shared/data/glue``, the repo being the folder that holds ``deep/``."""
    return (Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "glue").resolve()


def _how_to_point() -> str:
    return (
        f"point at a local GLUE folder (holding RTE/train.tsv, MRPC/dev.tsv, ...) with "
        f"data_dir=PATH (CLI: --data-dir PATH) or the environment variable {ENV_GLUE_DIR}=PATH"
    )


def resolve_glue_dir(data_dir: str | os.PathLike[str] | None = None) -> Path | None:
    """The local GLUE folder to read, or ``None`` when there is none (hub fallback).

    Order: ``data_dir``, then ``$RESCALORA_GLUE_DIR`` (ignored when empty), then
    ``<repo>/../shared/data/glue`` if it exists. A folder named by the argument or the
    environment variable must exist (``GlueDataNotFound`` otherwise).
    """
    for value, origin in ((data_dir, "data_dir"), (os.environ.get(ENV_GLUE_DIR) or None,
                                                   ENV_GLUE_DIR)):
        if value is None:
            continue
        path = Path(value).expanduser()
        if not path.is_dir():
            raise GlueDataNotFound(
                f"{origin}={str(value)!r}: no such folder; {_how_to_point()}"
            )
        return path
    default = _default_glue_dir()
    return default if default.is_dir() else None


# ----------------------------------------------------------------------------------------
# examples
# ----------------------------------------------------------------------------------------
@dataclass
class GlueSplit:
    """One split of one task as plain lists (row i: ``text_a[i]``, ``text_b[i]``, ``labels[i]``).

    ``labels`` are class ids (``int``) or, for regression, floats. ``text_b`` is ``None`` for
    single-sentence tasks. ``source`` says where the rows came from (a file path or
    ``hub:nyu-mll/glue/<config>/<split>``). Texts are kept exactly as in the file (SST-2
    sentences end with a space, as in the hub copy).
    """

    task: str
    split: str
    text_a: list[str]
    text_b: list[str] | None
    labels: list[Any]
    source: str = ""

    def __post_init__(self) -> None:
        n = len(self.text_a)
        if len(self.labels) != n or (self.text_b is not None and len(self.text_b) != n):
            raise ValueError(
                f"GlueSplit columns differ in length: text_a {n}, labels {len(self.labels)}"
                + ("" if self.text_b is None else f", text_b {len(self.text_b)}")
            )

    def __len__(self) -> int:
        return len(self.text_a)

    def select(self, indices: Sequence[int] | np.ndarray) -> GlueSplit:
        """A new :class:`GlueSplit` with rows ``indices`` (in that order)."""
        idx = [int(i) for i in np.asarray(indices, dtype=np.int64).reshape(-1)]
        n = len(self)
        bad = [i for i in idx if not 0 <= i < n]
        if bad:
            raise IndexError(f"indices {bad[:5]} out of range for a split of {n} rows")
        return GlueSplit(
            task=self.task,
            split=self.split,
            text_a=[self.text_a[i] for i in idx],
            text_b=None if self.text_b is None else [self.text_b[i] for i in idx],
            labels=[self.labels[i] for i in idx],
            source=self.source,
        )


def _parse_label(spec: TaskSpec, raw: str, where: str) -> Any:
    if spec.label_map is None:
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise GlueFormatError(
                f"{where}: {spec.label_column}={raw!r} is not a finite number (task {spec.name}, "
                "regression score)"
            )
        return value
    key = raw.strip()
    if key not in spec.label_map:
        raise GlueFormatError(
            f"{where}: {spec.label_column}={raw!r} is not a label of task {spec.name}; "
            f"allowed: {', '.join(spec.label_map)}"
        )
    return spec.label_map[key]


def read_glue_tsv(path: str | os.PathLike[str], task: str | TaskSpec, split: str = "") -> GlueSplit:
    """Read one GLUE TSV file in the original layout of ``task``.

    Every data row must have as many tab-separated fields as the header (or as
    ``spec.columns`` for header-less files); trailing empty lines are ignored. Errors:
    ``GlueDataNotFound`` (missing file, with the path), ``GlueFormatError`` (``path:line:``
    and what is wrong).
    """
    spec = get_task(task)
    p = Path(path)
    if not p.is_file():
        raise GlueDataNotFound(f"{p}: no such file (task {spec.name}); {_how_to_point()}")
    try:
        with open(p, encoding="utf-8-sig", newline="") as fh:
            reader = csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
            rows = [(reader.line_num, row) for row in reader]
    except UnicodeDecodeError as err:  # e.g. a file cut inside a multi-byte character
        raise GlueFormatError(f"{p}: not valid UTF-8 (truncated or corrupted file?): {err}") from None
    except csv.Error as err:
        raise GlueFormatError(f"{p}: unreadable TSV (corrupted file?): {err}") from None
    for line, row in rows:
        if any("\x00" in field for field in row):
            raise GlueFormatError(f"{p}:{line}: contains a NUL byte (binary or corrupted file?)")
    while rows and not any(rows[-1][1]):
        rows.pop()  # trailing blank lines
    if spec.columns is None:
        if not rows:
            raise GlueFormatError(f"{p}:1: empty file, expected a header row")
        header = [c.strip() for c in rows[0][1]]
        rows = rows[1:]
        missing = [c for c in (*spec.text_columns, spec.label_column) if c not in header]
        if missing:
            raise GlueFormatError(
                f"{p}:1: header lacks column(s) {missing} needed by task {spec.name}; "
                f"found {header}"
            )
    else:
        header = list(spec.columns)
    if not rows:
        raise GlueFormatError(f"{p}: no data rows{' after the header' if spec.columns is None else ''}"
                              "; allowed: a TSV with at least one row")
    width = len(header)
    text_idx = [header.index(c) for c in spec.text_columns]
    label_idx = header.index(spec.label_column)
    texts: list[list[str]] = [[] for _ in text_idx]
    labels: list[Any] = []
    for line, row in rows:
        where = f"{p}:{line}"
        if len(row) != width:
            raise GlueFormatError(
                f"{where}: expected {width} tab-separated columns ({', '.join(header)}), "
                f"found {len(row)}"
            )
        for out, j in zip(texts, text_idx, strict=True):
            out.append(row[j])
        labels.append(_parse_label(spec, row[label_idx], where))
    return GlueSplit(
        task=spec.name,
        split=split,
        text_a=texts[0],
        text_b=texts[1] if len(texts) == 2 else None,
        labels=labels,
        source=str(p),
    )


def _load_from_hub(spec: TaskSpec, split: str, looked_at: str) -> GlueSplit:
    hub_split = spec.hub_splits[split]
    what = f"{HUB_DATASET}/{spec.hub_config} split {hub_split!r}"
    head = (
        f"no local GLUE folder ({looked_at}), and the Hugging Face fallback ({what}) "
    )
    try:
        import datasets  # optional: only for the hub fallback
    except ImportError as err:
        raise GlueDataNotFound(
            head + "needs the 'datasets' package (pip install datasets) and a network; "
            + _how_to_point()
        ) from err
    try:
        ds = datasets.load_dataset(HUB_DATASET, spec.hub_config, split=hub_split)
        columns = [list(ds[c]) for c in spec.hub_text_columns]
        raw_labels = list(ds["label"])
    except Exception as err:  # offline, no cache, renamed dataset, ...
        raise GlueDataNotFound(
            head + f"failed ({type(err).__name__}: {err}); it needs a network; "
            + _how_to_point()
        ) from err
    labels: list[Any]
    if spec.is_regression:
        labels = [float(v) for v in raw_labels]
    else:
        labels = [int(v) for v in raw_labels]
        bad = sorted({v for v in labels if not 0 <= v < spec.num_labels})
        if bad:
            raise GlueFormatError(f"{what}: labels {bad} outside 0..{spec.num_labels - 1}")
    return GlueSplit(
        task=spec.name,
        split=split,
        text_a=[str(t) for t in columns[0]],
        text_b=[str(t) for t in columns[1]] if len(columns) == 2 else None,
        labels=labels,
        source=f"hub:{HUB_DATASET}/{spec.hub_config}/{hub_split}",
    )


def load_glue(
    task: str | TaskSpec,
    split: str = "train",
    data_dir: str | os.PathLike[str] | None = None,
    *,
    subsample: int | None = None,
    seed: int = 0,
) -> GlueSplit:
    """Rows of one GLUE split, from the local folder (:func:`resolve_glue_dir`) or the hub.

    Parameters
    ----------
    task : a name of :data:`TASKS` (``"rte"``, ``"mrpc"``, ``"sst2"``, ``"cola"``, ``"stsb"``,
        ``"qnli"``, ``"mnli"``, ``"mnli_mm"``, ``"qqp"``).
    split : ``"train"`` or ``"dev"`` (alias ``"validation"``); MNLI also ``"dev_matched"``,
        ``"dev_mismatched"``.
    data_dir : the GLUE folder; ``None``: ``$RESCALORA_GLUE_DIR``, then the shared folder, then
        the hub.
    subsample : keep at most this many rows, drawn without replacement with ``seed`` and kept
        in file order (:func:`subsample_indices`); ``None`` keeps all (e.g. SST-2's 67k).
    seed : seed of the subsample (unused otherwise).
    """
    spec = get_task(task)
    split = check_split(spec, split)
    root = resolve_glue_dir(data_dir)
    if root is None:
        looked = f"no data_dir, {ENV_GLUE_DIR} unset, {_default_glue_dir()} absent"
        rows = _load_from_hub(spec, split, looked)
    else:
        rows = read_glue_tsv(root / spec.dir_name / spec.files[split], spec, split)
    if subsample is not None:
        rows = rows.select(subsample_indices(len(rows), subsample, seed))
    return rows

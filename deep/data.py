"""GLUE data: TSV readers, task registry, seeded splits, tokenisation and dynamic padding.

Where the data comes from (:func:`resolve_glue_dir`, first match wins):

1. the ``data_dir`` argument (CLI: ``--data-dir PATH``);
2. the environment variable ``RESCALORA_GLUE_DIR``;
3. ``<repo>/../shared/data/glue`` (the project's shared folder, used in development and CI);
4. the Hugging Face ``datasets`` GLUE loader (``nyu-mll/glue``), imported lazily; it needs the
   ``datasets`` package and a network (or a warm ``datasets`` cache). Offline, or without the
   package, loading fails with a message saying how to point at local TSVs.

A folder given by (1) or (2) must exist: it is never silently replaced by a fallback.
The folder holds one sub-folder per task in the original GLUE layout (``RTE/train.tsv``,
``RTE/dev.tsv``, ``MNLI/dev_matched.tsv``, ...); see :data:`TASKS` for every task's files,
columns and label coding.

Reading is strict: a missing file fails with its path; a malformed row (wrong column count,
unknown label, unparsable score) fails with ``path:line`` (1-based physical line, the header
being line 1). Quote characters are data (``csv.QUOTE_NONE``: GLUE texts contain stray ``"``),
and a UTF-8 byte-order mark (MRPC) is removed.

Label coding follows the Hugging Face GLUE datasets, so local TSVs and the hub give the same
ids: RTE/QNLI ``entailment=0, not_entailment=1``; MNLI ``entailment=0, neutral=1,
contradiction=2``; MRPC/QQP ``1 = paraphrase/duplicate``; SST-2 ``1 = positive``; CoLA
``1 = acceptable``; STS-B a float score in [0, 5] (regression, ``num_labels = 1``).

Pipeline::

    train = load_glue("rte", "train")                        # GlueSplit: text_a, text_b, labels
    adapter_rows, alpha_rows = split_indices(len(train), 0.2, seed=42)
    ds = tokenize(train.select(adapter_rows), tokenizer, max_length=128)
    loader = DataLoader(ds, batch_size=32, shuffle=True, generator=g,
                        collate_fn=make_collator(tokenizer, "rte"))
    # batch: input_ids (B, L) long, attention_mask (B, L) long, [token_type_ids (B, L) long],
    #        labels (B,) long (float32 for STS-B); L = longest row of the batch.
"""

from __future__ import annotations

import csv
import functools
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = [
    "ENV_GLUE_DIR",
    "HUB_DATASET",
    "TASKS",
    "TaskSpec",
    "GlueSplit",
    "GlueFormatError",
    "GlueDataNotFound",
    "get_task",
    "resolve_glue_dir",
    "read_glue_tsv",
    "load_glue",
    "split_indices",
    "carve_splits",
    "subsample_indices",
    "TokenizedDataset",
    "tokenize",
    "LazyTokenizedDataset",
    "DynamicPaddingCollator",
    "make_collator",
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
# task registry
# ----------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class TaskSpec:
    """Everything needed to read and score one GLUE task.

    Attributes
    ----------
    name : canonical task name (key of :data:`TASKS`).
    dir_name : sub-folder of the GLUE folder (original GLUE spelling, e.g. ``"SST-2"``).
    files : split name -> file name inside ``dir_name`` (``"train"``, ``"dev"``, ...).
    text_columns : one (single sentence) or two (pair) column names, in model input order.
    label_column : column holding the label.
    label_map : raw label string -> class id; ``None`` for regression (float labels).
    label_names : class id -> name (``()`` for regression).
    metrics : metric names of :mod:`deep.metrics`; the first is the task's primary metric.
    columns : for files WITHOUT a header row (CoLA): the column names in file order;
        ``None`` when the first line of every file is a header naming the columns.
    hub_config, hub_splits, hub_text_columns : the same task in :data:`HUB_DATASET`
        (config name, our split -> hub split, text column names there; label column ``label``).
    """

    name: str
    dir_name: str
    files: Mapping[str, str]
    text_columns: tuple[str, ...]
    label_column: str
    label_map: Mapping[str, int] | None
    label_names: tuple[str, ...]
    metrics: tuple[str, ...]
    hub_config: str
    hub_splits: Mapping[str, str]
    hub_text_columns: tuple[str, ...]
    columns: tuple[str, ...] | None = None

    @property
    def is_regression(self) -> bool:
        """True for STS-B: labels are floats and the model has one output."""
        return self.label_map is None

    @property
    def num_labels(self) -> int:
        """Model outputs: number of classes, or 1 for regression."""
        return 1 if self.is_regression else len(self.label_names)

    @property
    def is_pair(self) -> bool:
        """True when an example is a sentence pair (``text_b`` is not ``None``)."""
        return len(self.text_columns) == 2

    @property
    def primary_metric(self) -> str:
        """The metric used to compare runs (first of :attr:`metrics`)."""
        return self.metrics[0]

    @property
    def splits(self) -> tuple[str, ...]:
        """Split names accepted by :func:`load_glue`."""
        return tuple(self.files)


_BINARY = {"0": 0, "1": 1}
_ENTAIL = {"entailment": 0, "not_entailment": 1}
_MNLI = {"entailment": 0, "neutral": 1, "contradiction": 2}
_MNLI_FILES = {
    "train": "train.tsv",
    "dev_matched": "dev_matched.tsv",
    "dev_mismatched": "dev_mismatched.tsv",
}
_MNLI_HUB = {
    "train": "train",
    "dev_matched": "validation_matched",
    "dev_mismatched": "validation_mismatched",
}

#: The GLUE tasks. ``"dev"`` is the evaluation split (GLUE test labels are hidden); MNLI's
#: ``"dev"`` is ``dev_matched`` for ``mnli`` and ``dev_mismatched`` for ``mnli_mm`` (the
#: official alpha-LoRA code evaluates on mismatched). Names are matched case-insensitively with
#: ``-`` and ``_`` ignored (``"SST-2"``, ``"sts_b"`` and ``"mnli-mm"`` work).
TASKS: dict[str, TaskSpec] = {
    "rte": TaskSpec(
        name="rte", dir_name="RTE", files={"train": "train.tsv", "dev": "dev.tsv"},
        text_columns=("sentence1", "sentence2"), label_column="label", label_map=_ENTAIL,
        label_names=("entailment", "not_entailment"), metrics=("accuracy",),
        hub_config="rte", hub_splits={"train": "train", "dev": "validation"},
        hub_text_columns=("sentence1", "sentence2"),
    ),
    "mrpc": TaskSpec(
        name="mrpc", dir_name="MRPC", files={"train": "train.tsv", "dev": "dev.tsv"},
        text_columns=("#1 String", "#2 String"), label_column="Quality", label_map=_BINARY,
        label_names=("not_equivalent", "equivalent"), metrics=("accuracy", "f1"),
        hub_config="mrpc", hub_splits={"train": "train", "dev": "validation"},
        hub_text_columns=("sentence1", "sentence2"),
    ),
    "sst2": TaskSpec(
        name="sst2", dir_name="SST-2", files={"train": "train.tsv", "dev": "dev.tsv"},
        text_columns=("sentence",), label_column="label", label_map=_BINARY,
        label_names=("negative", "positive"), metrics=("accuracy",),
        hub_config="sst2", hub_splits={"train": "train", "dev": "validation"},
        hub_text_columns=("sentence",),
    ),
    "cola": TaskSpec(
        name="cola", dir_name="CoLA", files={"train": "train.tsv", "dev": "dev.tsv"},
        text_columns=("sentence",), label_column="label", label_map=_BINARY,
        label_names=("unacceptable", "acceptable"), metrics=("matthews", "accuracy"),
        hub_config="cola", hub_splits={"train": "train", "dev": "validation"},
        hub_text_columns=("sentence",),
        columns=("source", "label", "original_label", "sentence"),
    ),
    "stsb": TaskSpec(
        name="stsb", dir_name="STS-B", files={"train": "train.tsv", "dev": "dev.tsv"},
        text_columns=("sentence1", "sentence2"), label_column="score", label_map=None,
        label_names=(), metrics=("pearson", "spearman"),
        hub_config="stsb", hub_splits={"train": "train", "dev": "validation"},
        hub_text_columns=("sentence1", "sentence2"),
    ),
    "qnli": TaskSpec(
        name="qnli", dir_name="QNLI", files={"train": "train.tsv", "dev": "dev.tsv"},
        text_columns=("question", "sentence"), label_column="label", label_map=_ENTAIL,
        label_names=("entailment", "not_entailment"), metrics=("accuracy",),
        hub_config="qnli", hub_splits={"train": "train", "dev": "validation"},
        hub_text_columns=("question", "sentence"),
    ),
    "mnli": TaskSpec(
        name="mnli", dir_name="MNLI", files={**_MNLI_FILES, "dev": "dev_matched.tsv"},
        text_columns=("sentence1", "sentence2"), label_column="gold_label", label_map=_MNLI,
        label_names=("entailment", "neutral", "contradiction"), metrics=("accuracy",),
        hub_config="mnli", hub_splits={**_MNLI_HUB, "dev": "validation_matched"},
        hub_text_columns=("premise", "hypothesis"),
    ),
    "mnli_mm": TaskSpec(
        name="mnli_mm", dir_name="MNLI", files={**_MNLI_FILES, "dev": "dev_mismatched.tsv"},
        text_columns=("sentence1", "sentence2"), label_column="gold_label", label_map=_MNLI,
        label_names=("entailment", "neutral", "contradiction"), metrics=("accuracy",),
        hub_config="mnli", hub_splits={**_MNLI_HUB, "dev": "validation_mismatched"},
        hub_text_columns=("premise", "hypothesis"),
    ),
    "qqp": TaskSpec(
        name="qqp", dir_name="QQP", files={"train": "train.tsv", "dev": "dev.tsv"},
        text_columns=("question1", "question2"), label_column="is_duplicate", label_map=_BINARY,
        label_names=("not_duplicate", "duplicate"), metrics=("accuracy", "f1"),
        hub_config="qqp", hub_splits={"train": "train", "dev": "validation"},
        hub_text_columns=("question1", "question2"),
    ),
}

_SPLIT_ALIASES = {"validation": "dev", "val": "dev"}


def _norm(name: str) -> str:
    return name.lower().replace("-", "").replace("_", "")


_TASK_LOOKUP = {_norm(k): k for k in TASKS}


def get_task(task: str | TaskSpec) -> TaskSpec:
    """The :class:`TaskSpec` of ``task`` (a name, matched case-insensitively ignoring ``-``/``_``).

    Raises ``ValueError`` naming the valid tasks when ``task`` is unknown.
    """
    if isinstance(task, TaskSpec):
        return task
    if isinstance(task, str) and _norm(task) in _TASK_LOOKUP:
        return TASKS[_TASK_LOOKUP[_norm(task)]]
    raise ValueError(f"task={task!r} is unknown; valid tasks: {', '.join(TASKS)}")


def _check_split(spec: TaskSpec, split: str) -> str:
    if isinstance(split, str):
        split = _SPLIT_ALIASES.get(split.lower(), split.lower())
        if split in spec.files:
            return split
    raise ValueError(
        f"split={split!r} is not a split of task {spec.name!r}; valid splits: "
        f"{', '.join(spec.files)} (GLUE test labels are hidden: carve held-out splits from "
        "train with split_indices)"
    )


# ----------------------------------------------------------------------------------------
# locating the data
# ----------------------------------------------------------------------------------------
def _default_glue_dir() -> Path:
    """``<repo>/../shared/data/glue``, the repo being the folder that holds ``deep/``."""
    return (Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "glue").resolve()


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
    split = _check_split(spec, split)
    root = resolve_glue_dir(data_dir)
    if root is None:
        looked = f"no data_dir, {ENV_GLUE_DIR} unset, {_default_glue_dir()} absent"
        rows = _load_from_hub(spec, split, looked)
    else:
        rows = read_glue_tsv(root / spec.dir_name / spec.files[split], spec, split)
    if subsample is not None:
        rows = rows.select(subsample_indices(len(rows), subsample, seed))
    return rows


# ----------------------------------------------------------------------------------------
# seeded splits
# ----------------------------------------------------------------------------------------
def _check_n(n: Any, minimum: int) -> int:
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < minimum:
        raise ValueError(f"n={n!r} is invalid: allowed an integer >= {minimum} (number of rows)")
    return int(n)


def _check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed={seed!r} is invalid: allowed a non-negative integer")
    return int(seed)


def carve_splits(n: int, fractions: Mapping[str, float], seed: int) -> dict[str, np.ndarray]:
    """Disjoint held-out index sets carved from ``n`` training rows, plus ``"rest"``.

    One permutation ``numpy.random.default_rng(seed).permutation(n)`` is cut into consecutive
    blocks, in the order of ``fractions``: block ``name`` gets ``round(fraction * n)`` rows
    (at least 1), ``"rest"`` what remains (at least 1 row must remain). Every array is sorted
    (int64). Because blocks are prefixes of one permutation, the first split does not depend on
    the ones after it: ``carve_splits(n, {"alpha": 0.2, "val": 0.1}, s)["alpha"]`` equals
    ``split_indices(n, 0.2, s)[1]`` (and :func:`deep.alpha.split_for_alpha`'s alpha rows).

    Raises ``ValueError`` for a fraction outside (0, 1), a name ``"rest"``, or fractions that
    leave no row.
    """
    n = _check_n(n, 2)
    seed = _check_seed(seed)
    if not isinstance(fractions, Mapping) or not fractions:
        raise ValueError(f"fractions={fractions!r} is invalid: allowed a non-empty mapping name -> "
                         "fraction in (0, 1)")
    sizes: dict[str, int] = {}
    for name, frac in fractions.items():
        if name == "rest":
            raise ValueError("fractions may not name a split 'rest' (it is the remainder)")
        ok = isinstance(frac, float | int | np.floating) and not isinstance(frac, bool)
        if not ok or not 0.0 < float(frac) < 1.0:
            raise ValueError(f"fraction[{name!r}]={frac!r} is invalid: allowed the open interval "
                             "(0, 1)")
        sizes[name] = max(int(round(float(frac) * n)), 1)
    if sum(sizes.values()) > n - 1:
        raise ValueError(f"fractions={dict(fractions)!r} take {sum(sizes.values())} of n={n} rows; "
                         "allowed: at least one row must remain")
    perm = np.random.default_rng(seed).permutation(n)
    out: dict[str, np.ndarray] = {}
    start = 0
    for name, k in sizes.items():
        out[name] = np.sort(perm[start:start + k]).astype(np.int64)
        start += k
    out["rest"] = np.sort(perm[start:]).astype(np.int64)
    return out


def split_indices(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(kept_rows, held_rows)``: a seeded, disjoint split of ``range(n)``.

    ``held_rows`` has ``round(fraction * n)`` rows (at least 1, at most ``n - 1``), e.g. the
    20 % alpha split or a validation split carved from TRAIN; both arrays sorted, int64,
    together exactly ``range(n)``. Same ``(n, fraction, seed)`` -> same split, on any machine
    (NumPy's PCG64). ``fraction`` must lie in the open interval (0, 1).
    """
    n = _check_n(n, 2)
    if isinstance(fraction, bool) or not isinstance(fraction, float | int | np.floating) or not (
        0.0 < float(fraction) < 1.0
    ):
        raise ValueError(f"fraction={fraction!r} is invalid: allowed the open interval (0, 1)")
    k = min(max(int(round(float(fraction) * n)), 1), n - 1)
    seed = _check_seed(seed)
    perm = np.random.default_rng(seed).permutation(n)
    return np.sort(perm[k:]).astype(np.int64), np.sort(perm[:k]).astype(np.int64)


def subsample_indices(n: int, size: int, seed: int) -> np.ndarray:
    """Sorted indices of at most ``size`` of ``n`` rows, drawn without replacement with ``seed``.

    ``size >= n`` returns ``arange(n)``. Sorted so that a subsample keeps the file order.
    """
    n = _check_n(n, 0)
    if isinstance(size, bool) or not isinstance(size, int | np.integer) or size < 1:
        raise ValueError(
            f"subsample={size!r} is invalid: allowed a positive integer (rows to keep)"
        )
    seed = _check_seed(seed)
    if size >= n:
        return np.arange(n, dtype=np.int64)
    return np.sort(np.random.default_rng(seed).permutation(n)[:size]).astype(np.int64)


# ----------------------------------------------------------------------------------------
# tokenisation and padding
# ----------------------------------------------------------------------------------------
@dataclass
class TokenizedDataset(torch.utils.data.Dataset):
    """Tokenised rows of a :class:`GlueSplit` (a map-style torch ``Dataset``).

    ``features[key][i]`` is the unpadded token list of row ``i`` for ``key`` in
    ``input_ids``, ``attention_mask`` and, for tokenizers that make them (BERT),
    ``token_type_ids``. ``dataset[i]`` is a dict of those lists plus ``"labels"`` (int or
    float); batch it with :class:`DynamicPaddingCollator`.
    """

    features: dict[str, list[list[int]]]
    labels: list[Any]
    task: str = ""
    split: str = ""
    keys: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        if "input_ids" not in self.features:
            raise ValueError(f"features need 'input_ids', got keys {sorted(self.features)}")
        for key, col in self.features.items():
            if len(col) != len(self.labels):
                raise ValueError(
                    f"features[{key!r}] has {len(col)} rows, labels {len(self.labels)}"
                )
        self.keys = tuple(self.features)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict[str, Any]:
        item: dict[str, Any] = {k: self.features[k][i] for k in self.keys}
        item["labels"] = self.labels[i]
        return item

    @property
    def lengths(self) -> list[int]:
        """Token count of every row (before padding)."""
        return [len(ids) for ids in self.features["input_ids"]]


def _resolve_separator(tokenizer: Any, pair_separator: str | None) -> str:
    if pair_separator == "auto":
        return "" if getattr(tokenizer, "sep_token", None) else "\n"
    if pair_separator is None:
        return ""
    if not isinstance(pair_separator, str):
        raise ValueError(f"pair_separator={pair_separator!r} is invalid: allowed 'auto', None or a "
                         "string")
    return pair_separator


def tokenize(
    rows: GlueSplit,
    tokenizer: Any,
    max_length: int,
    *,
    pair_separator: str | None = "auto",
    chunk_size: int = 2048,
) -> TokenizedDataset:
    """Tokenise ``rows`` with a Hugging Face tokenizer, truncating to ``max_length`` tokens.

    Single sentences: ``tokenizer(text_a)``; pairs: ``tokenizer(text_a, text_b)`` with
    ``truncation=True`` (longest-first: the longer text loses tokens first), so the model's own
    pair template applies (BERT ``[CLS] a [SEP] b [SEP]`` with token types 0/1, RoBERTa
    ``<s> a </s></s> b </s>``). Decoder tokenizers (LLaMA/SmolLM2) have no separator token and
    would glue the two texts together: ``pair_separator="auto"`` then prefixes ``text_b`` with a
    newline (``None`` or ``""`` disables it; any string overrides it). No padding here: see
    :class:`DynamicPaddingCollator`.
    """
    if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 2:
        raise ValueError(f"max_length={max_length!r} is invalid: allowed an integer >= 2 (tokens)")
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size={chunk_size!r} is invalid: allowed a positive integer")
    sep = _resolve_separator(tokenizer, pair_separator)
    features: dict[str, list[list[int]]] = {}
    for start in range(0, len(rows), chunk_size):
        a = rows.text_a[start:start + chunk_size]
        if rows.text_b is None:
            enc = tokenizer(a, truncation=True, max_length=max_length)
        else:
            b = [sep + t for t in rows.text_b[start:start + chunk_size]]
            enc = tokenizer(a, b, truncation=True, max_length=max_length)
        for key in ("input_ids", "attention_mask", "token_type_ids"):
            if key in enc:
                features.setdefault(key, []).extend(list(x) for x in enc[key])
    if not rows:
        features = {"input_ids": [], "attention_mask": []}
    return TokenizedDataset(features=features, labels=list(rows.labels), task=rows.task,
                            split=rows.split)


class LazyTokenizedDataset(torch.utils.data.Dataset):
    """The rows of a :class:`GlueSplit`, tokenised only when first used (then cached).

    ``dataset[i]`` equals ``tokenize(rows, ...)[i]`` (each row is tokenised on its own by
    :func:`tokenize`, so tokenising a subset gives the same tokens). A run of 100 steps on
    SST-2 touches 1.6k of the 67k training rows; this dataset tokenises those only.
    :meth:`prefetch` tokenises many missing rows in one batched tokenizer call (the training
    loop calls it for every batch). :attr:`char_lengths` (characters of ``text_a`` plus
    ``text_b``) is a length proxy known without tokenising, used to group batches by length.
    """

    def __init__(self, rows: GlueSplit, tokenizer: Any, max_length: int, *,
                 pair_separator: str | None = "auto") -> None:
        self.rows, self.tokenizer, self.max_length = rows, tokenizer, max_length
        self.pair_separator = pair_separator
        self.task, self.split = rows.task, rows.split
        self._cache: dict[int, dict[str, Any]] = {}

    def __len__(self) -> int:
        return len(self.rows)

    @functools.cached_property
    def char_lengths(self) -> np.ndarray:
        a = np.fromiter((len(t) for t in self.rows.text_a), dtype=np.int64, count=len(self.rows))
        if self.rows.text_b is not None:
            a += np.fromiter((len(t) for t in self.rows.text_b), dtype=np.int64, count=len(self.rows))
        return a

    def prefetch(self, indices: Sequence[int] | np.ndarray) -> None:
        missing = sorted({int(i) for i in indices} - self._cache.keys())
        if not missing:
            return
        if missing[0] < 0 or missing[-1] >= len(self.rows):
            raise IndexError(f"row {missing[0] if missing[0] < 0 else missing[-1]} out of range for "
                             f"{len(self.rows)} rows")
        part = tokenize(self.rows.select(missing), self.tokenizer, self.max_length,
                        pair_separator=self.pair_separator)
        for j, i in enumerate(missing):
            self._cache[i] = part[j]

    @property
    def n_tokenized(self) -> int:
        """How many rows have been tokenised so far."""
        return len(self._cache)

    def __getitem__(self, i: int) -> dict[str, Any]:
        i = int(i)
        if i not in self._cache:
            self.prefetch([i])
        return self._cache[i]


class DynamicPaddingCollator:
    """Batch rows of a :class:`TokenizedDataset`, padding to the longest row of the batch.

    Output (``B`` rows, ``L`` = longest ``input_ids`` in the batch, rounded up to a multiple of
    ``pad_to_multiple_of`` when given): ``input_ids`` (B, L) long padded with
    ``pad_token_id``; ``attention_mask`` (B, L) long, 0 on padding; ``token_type_ids`` (B, L)
    long padded with 0 when present; ``labels`` (B,) long, or float32 when ``regression``.
    Padding goes on the right by default (``padding_side="left"`` for decoders that generate).
    """

    def __init__(
        self,
        pad_token_id: int,
        *,
        regression: bool = False,
        padding_side: str = "right",
        pad_to_multiple_of: int | None = None,
    ) -> None:
        if isinstance(pad_token_id, bool) or not isinstance(pad_token_id, int) or pad_token_id < 0:
            raise ValueError(f"pad_token_id={pad_token_id!r} is invalid: allowed a non-negative "
                             "integer token id")
        if padding_side not in ("right", "left"):
            raise ValueError(f"padding_side={padding_side!r} is invalid: allowed 'right', 'left'")
        if pad_to_multiple_of is not None and (
            isinstance(pad_to_multiple_of, bool) or not isinstance(pad_to_multiple_of, int)
            or pad_to_multiple_of < 1
        ):
            raise ValueError(f"pad_to_multiple_of={pad_to_multiple_of!r} is invalid: allowed None "
                             "or a positive integer")
        self.pad_token_id = pad_token_id
        self.regression = bool(regression)
        self.padding_side = padding_side
        self.pad_to_multiple_of = pad_to_multiple_of

    def __call__(self, features: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        if not features:
            raise ValueError("cannot collate an empty batch")
        keys = [k for k in features[0] if k != "labels"]
        if "input_ids" not in keys:
            raise ValueError(f"rows need 'input_ids', got keys {sorted(features[0])}")
        length = max(len(f["input_ids"]) for f in features)
        if self.pad_to_multiple_of:
            length = -(-length // self.pad_to_multiple_of) * self.pad_to_multiple_of
        batch: dict[str, torch.Tensor] = {}
        for key in keys:
            pad = self.pad_token_id if key == "input_ids" else 0
            out = torch.full((len(features), length), pad, dtype=torch.long)
            for i, f in enumerate(features):
                seq = list(f[key])
                if len(seq) != len(f["input_ids"]):
                    raise ValueError(f"row {i}: {key} has {len(seq)} tokens, input_ids "
                                     f"{len(f['input_ids'])}")
                if seq:
                    t = torch.as_tensor(seq, dtype=torch.long)
                    if self.padding_side == "right":
                        out[i, : len(seq)] = t
                    else:
                        out[i, length - len(seq):] = t
            batch[key] = out
        if "labels" in features[0]:
            dtype = torch.float32 if self.regression else torch.long
            batch["labels"] = torch.tensor([f["labels"] for f in features], dtype=dtype)
        return batch


def make_collator(
    tokenizer: Any, task: str | TaskSpec, *, pad_to_multiple_of: int | None = None
) -> DynamicPaddingCollator:
    """A :class:`DynamicPaddingCollator` for ``tokenizer`` (its pad id and padding side) and
    ``task`` (float labels for regression). Fails if the tokenizer has no pad token
    (:func:`deep.models.load_tokenizer` sets one for LLaMA tokenizers)."""
    spec = get_task(task)
    pad_id = getattr(tokenizer, "pad_token_id", None)
    if pad_id is None:
        raise ValueError(
            "the tokenizer has no pad token: load it with deep.models.load_tokenizer (which sets "
            "pad = eos for LLaMA tokenizers) or set tokenizer.pad_token"
        )
    return DynamicPaddingCollator(
        int(pad_id),
        regression=spec.is_regression,
        padding_side=getattr(tokenizer, "padding_side", "right") or "right",
        pad_to_multiple_of=pad_to_multiple_of,
    )

"""The GLUE task registry: files, columns, label coding and metric names of every task.

Label coding follows the Hugging Face GLUE datasets, so local TSVs and the hub give the same
ids: RTE/QNLI ``entailment=0, not_entailment=1``; MNLI ``entailment=0, neutral=1,
contradiction=2``; MRPC/QQP ``1 = paraphrase/duplicate``; SST-2 ``1 = positive``; CoLA
``1 = acceptable``; STS-B a float score in [0, 5] (regression, ``num_labels = 1``).
:attr:`TaskSpec.metrics` names metrics of :mod:`deep.metrics`, the primary one first.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["TASKS", "TaskSpec", "get_task", "check_split"]


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

_TRAIN_DEV = {"train": "train.tsv", "dev": "dev.tsv"}
_TRAIN_DEV_HUB = {"train": "train", "dev": "validation"}


def _task(name: str, dir_name: str, text_columns: tuple[str, ...], label_column: str,
          label_map: Mapping[str, int] | None, label_names: tuple[str, ...],
          metrics: tuple[str, ...], *, hub_text_columns: tuple[str, ...] | None = None,
          files: Mapping[str, str] = _TRAIN_DEV, hub_config: str | None = None,
          hub_splits: Mapping[str, str] = _TRAIN_DEV_HUB,
          columns: tuple[str, ...] | None = None) -> TaskSpec:
    """A :class:`TaskSpec` with GLUE's usual layout: ``train.tsv`` / ``dev.tsv``, the hub's
    ``train`` / ``validation``, hub config = ``name`` and the same text columns there."""
    return TaskSpec(
        name=name, dir_name=dir_name, files=dict(files), text_columns=text_columns,
        label_column=label_column, label_map=label_map, label_names=label_names,
        metrics=metrics, hub_config=hub_config or name, hub_splits=dict(hub_splits),
        hub_text_columns=hub_text_columns or text_columns, columns=columns,
    )


_MNLI_ARGS = (("sentence1", "sentence2"), "gold_label", _MNLI,
              ("entailment", "neutral", "contradiction"), ("accuracy",))

#: The GLUE tasks. ``"dev"`` is the evaluation split (GLUE test labels are hidden); MNLI's
#: ``"dev"`` is ``dev_matched`` for ``mnli`` and ``dev_mismatched`` for ``mnli_mm`` (the
#: official alpha-LoRA code evaluates on mismatched). Names are matched case-insensitively with
#: ``-`` and ``_`` ignored (``"SST-2"``, ``"sts_b"`` and ``"mnli-mm"`` work).
TASKS: dict[str, TaskSpec] = {
    "rte": _task("rte", "RTE", ("sentence1", "sentence2"), "label", _ENTAIL,
                 ("entailment", "not_entailment"), ("accuracy",)),
    "mrpc": _task("mrpc", "MRPC", ("#1 String", "#2 String"), "Quality", _BINARY,
                  ("not_equivalent", "equivalent"), ("accuracy", "f1"),
                  hub_text_columns=("sentence1", "sentence2")),
    "sst2": _task("sst2", "SST-2", ("sentence",), "label", _BINARY,
                  ("negative", "positive"), ("accuracy",)),
    "cola": _task("cola", "CoLA", ("sentence",), "label", _BINARY,
                  ("unacceptable", "acceptable"), ("matthews", "accuracy"),
                  columns=("source", "label", "original_label", "sentence")),
    "stsb": _task("stsb", "STS-B", ("sentence1", "sentence2"), "score", None, (),
                  ("pearson", "spearman")),
    "qnli": _task("qnli", "QNLI", ("question", "sentence"), "label", _ENTAIL,
                  ("entailment", "not_entailment"), ("accuracy",)),
    "mnli": _task("mnli", "MNLI", *_MNLI_ARGS, hub_text_columns=("premise", "hypothesis"),
                  files={**_MNLI_FILES, "dev": "dev_matched.tsv"},
                  hub_splits={**_MNLI_HUB, "dev": "validation_matched"}),
    "mnli_mm": _task("mnli_mm", "MNLI", *_MNLI_ARGS, hub_text_columns=("premise", "hypothesis"),
                     files={**_MNLI_FILES, "dev": "dev_mismatched.tsv"}, hub_config="mnli",
                     hub_splits={**_MNLI_HUB, "dev": "validation_mismatched"}),
    "qqp": _task("qqp", "QQP", ("question1", "question2"), "is_duplicate", _BINARY,
                 ("not_duplicate", "duplicate"), ("accuracy", "f1")),
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


def check_split(spec: TaskSpec, split: str) -> str:
    if isinstance(split, str):
        split = _SPLIT_ALIASES.get(split.lower(), split.lower())
        if split in spec.files:
            return split
    raise ValueError(
        f"split={split!r} is not a split of task {spec.name!r}; valid splits: "
        f"{', '.join(spec.files)} (GLUE test labels are hidden: carve held-out splits from "
        "train with split_indices)"
    )


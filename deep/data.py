"""GLUE data (former home; kept so that ``from deep.data import X`` keeps working).

The code lives in :mod:`deep.glue` (tasks, reading, tokenization, batching) and
:mod:`deep.splits` (seeded splits); this module re-exports the same objects. Patch
module attributes where they are defined (e.g. ``deep.glue.reading._default_glue_dir``).
"""

from .glue import (
    ENV_GLUE_DIR,
    HUB_DATASET,
    TASKS,
    DynamicPaddingCollator,
    GlueDataNotFound,
    GlueFormatError,
    GlueSplit,
    LazyTokenizedDataset,
    TaskSpec,
    TokenizedDataset,
    carve_splits,
    get_task,
    load_glue,
    make_collator,
    read_glue_tsv,
    resolve_glue_dir,
    split_indices,
    subsample_indices,
    tokenize,
)

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

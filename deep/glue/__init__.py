"""GLUE data: task registry, TSV readers, seeded splits, tokenisation and dynamic padding.

One module per responsibility:

- :mod:`deep.glue.tasks`: :data:`TASKS` / :class:`TaskSpec` / :func:`get_task` (files,
  columns, label coding, metric names of every task);
- :mod:`deep.glue.reading`: where the TSVs are (:func:`resolve_glue_dir`), strict reading
  (:func:`read_glue_tsv`, errors with ``path:line``), the hub fallback, :func:`load_glue` and
  :class:`GlueSplit`;
- :mod:`deep.splits`: the seeded splits (:func:`carve_splits`, :func:`split_indices`,
  :func:`subsample_indices`), all cut from one permutation;
- :mod:`deep.glue.tokenization`: :func:`tokenize`, :class:`TokenizedDataset`,
  :class:`LazyTokenizedDataset`;
- :mod:`deep.glue.batching`: :class:`DynamicPaddingCollator`, :func:`make_collator` and the
  length-grouped batch order :class:`LengthGroupedBatches`.

Every name is importable from here and, as before, from :mod:`deep.data`.

Pipeline::

    train = load_glue("rte", "train")                        # GlueSplit: text_a, text_b, labels
    adapter_rows, alpha_rows = split_indices(len(train), 0.2, seed=42)
    ds = tokenize(train.select(adapter_rows), tokenizer, max_length=128)
    loader = DataLoader(ds, batch_size=32, shuffle=True, generator=g,
                        collate_fn=make_collator(tokenizer, "rte"))
    # batch: input_ids (B, L) long, attention_mask (B, L) long, [token_type_ids (B, L) long],
    #        labels (B,) long (float32 for STS-B); L = longest row of the batch.
"""

from ..splits import carve_splits, split_indices, subsample_indices
from .batching import DynamicPaddingCollator, LengthGroupedBatches, make_collator, padded_tokens
from .reading import (
    ENV_GLUE_DIR,
    HUB_DATASET,
    GlueDataNotFound,
    GlueFormatError,
    GlueSplit,
    load_glue,
    read_glue_tsv,
    resolve_glue_dir,
)
from .tasks import TASKS, TaskSpec, get_task
from .tokenization import LazyTokenizedDataset, TokenizedDataset, tokenize

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
    "LengthGroupedBatches",
    "padded_tokens",
]

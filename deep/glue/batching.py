"""Batching tokenised GLUE rows: dynamic padding (:class:`DynamicPaddingCollator`) and the
length-grouped batch order (:class:`deep.batching.LengthGroupedBatches`, re-exported here).

Why not ``transformers.DataCollatorWithPadding``: on valid rows it gives the same batches
(measured on 64 dev rows each of RTE, SST-2 and STS-B with the MiniLM tokenizer and on the tiny
BERT/RoBERTa/LLaMA tokenizers, right and left padding, ``pad_to_multiple_of`` None and 8:
identical keys, dtypes and values; ``test_collator_equals_transformers_data_collator_with_padding``),
but it needs a tokenizer where ours needs only a pad id, it returns int64 regression labels when
the scores are integers (``[3, 4]`` -> int64, ours float32, which ``MSELoss`` requires) and it
silently batches a row whose ``attention_mask`` is shorter than its ``input_ids`` (ours raises).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from ..batching import LengthGroupedBatches, padded_tokens
from .tasks import TaskSpec, get_task

__all__ = ["DynamicPaddingCollator", "make_collator", "LengthGroupedBatches", "padded_tokens"]


class DynamicPaddingCollator:
    """Batch rows of a :class:`deep.glue.tokenization.TokenizedDataset`, padding to the longest
    row of the batch.

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

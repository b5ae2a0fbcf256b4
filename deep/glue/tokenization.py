"""Tokenising GLUE rows: all at once (:func:`tokenize`) or lazily (:class:`LazyTokenizedDataset`).

No padding here: rows keep their own length and :mod:`deep.glue.batching` pads each batch
to its longest row.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from .reading import GlueSplit

__all__ = ["TokenizedDataset", "tokenize", "LazyTokenizedDataset"]


@dataclass
class TokenizedDataset(torch.utils.data.Dataset):
    """Tokenised rows of a :class:`GlueSplit` (a map-style torch ``Dataset``).

    ``features[key][i]`` is the unpadded token list of row ``i`` for ``key`` in
    ``input_ids``, ``attention_mask`` and, for tokenizers that make them (BERT),
    ``token_type_ids``. ``dataset[i]`` is a dict of those lists plus ``"labels"`` (int or
    float); batch it with :class:`deep.glue.batching.DynamicPaddingCollator`.
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
    :class:`deep.glue.batching.DynamicPaddingCollator`.
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

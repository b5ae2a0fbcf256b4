"""Length-grouped training batches: little padding, still shuffled, exactly resumable.

Random batches of GLUE sentences carry 2-3x as many tokens as the text (padding to the longest
row of the batch); grouping rows of similar length removes most of it. The scheme is the
``group_by_length`` idea of the transformers ``Trainer``:

1. each pass ("cycle") over ``rows`` starts with a fresh permutation from
   ``numpy.random.default_rng([seed, cycle])``;
2. the permutation is cut into *mega-batches* of ``batch_size * group_size`` rows, each sorted
   by length (longest first), and cut into batches of ``batch_size``;
3. the order of the batches of the cycle is shuffled (same generator), so consecutive steps do
   not walk from long to short sentences.

Every row is visited exactly once per cycle; batches keep their randomness across seeds and
cycles; ``(cycle, offset)`` is the whole state (:meth:`state_dict` / :meth:`load_state_dict`).
The interface is that of :class:`deep.alpha.CyclingBatches`, which is the ungrouped variant.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

__all__ = ["LengthGroupedBatches", "padded_tokens"]


class LengthGroupedBatches:
    """Endless batches of indices of ``rows``, grouped by ``lengths[row]`` (see module doc).

    Parameters
    ----------
    rows : 1-D array of int
        The row indices to draw from (e.g. the adapter split of TRAIN).
    lengths : sequence of int or float
        Length of EVERY row of the dataset (indexed by row id, not by position in ``rows``);
        token counts, or any monotone proxy such as character counts.
    batch_size : int
    seed : int
    group_size : int
        Batches per mega-batch (default 50, the transformers default). ``1`` sorts nothing
        (plain shuffled batches).
    """

    def __init__(self, rows: Sequence[int] | np.ndarray, lengths: Sequence[float] | np.ndarray,
                 batch_size: int, seed: int = 0, group_size: int = 50) -> None:
        rows = np.asarray(rows, dtype=np.int64)
        if rows.ndim != 1 or rows.size == 0:
            raise ValueError(f"rows must be a non-empty 1-D array of indices, got shape {rows.shape}")
        for name, v in (("batch_size", batch_size), ("group_size", group_size)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name}={v!r} is invalid: allowed a positive integer")
        lengths = np.asarray(lengths, dtype=np.float64)
        if lengths.ndim != 1 or (rows.size and rows.max() >= lengths.size) or rows.min() < 0:
            raise ValueError(f"lengths must give the length of every row id in rows: got "
                             f"{lengths.size} lengths for row ids up to {int(rows.max())}")
        self.rows, self.lengths = rows, lengths
        self.batch_size, self.seed, self.group_size = batch_size, int(seed), group_size
        self.cycle, self.offset = 0, 0
        self._batches = self._plan(0)

    def _plan(self, cycle: int) -> list[np.ndarray]:
        rng = np.random.default_rng([self.seed, cycle])
        order = self.rows[rng.permutation(self.rows.size)]
        mega = self.batch_size * self.group_size
        batches: list[np.ndarray] = []
        for start in range(0, order.size, mega):
            chunk = order[start:start + mega]
            # stable sort, longest first: ties keep the random order of the permutation
            chunk = chunk[np.argsort(-self.lengths[chunk], kind="stable")]
            batches.extend(chunk[i:i + self.batch_size] for i in range(0, chunk.size, self.batch_size))
        return [batches[i] for i in rng.permutation(len(batches))]

    def __iter__(self) -> Iterator[np.ndarray]:
        return self

    def __next__(self) -> np.ndarray:
        if self.offset >= len(self._batches):
            self.cycle += 1
            self.offset = 0
            self._batches = self._plan(self.cycle)
        batch = self._batches[self.offset]
        self.offset += 1
        return batch

    def batches_per_cycle(self) -> int:
        return len(self._batches)

    def state_dict(self) -> dict[str, int]:
        return {"cycle": self.cycle, "offset": self.offset, "seed": self.seed, "grouped": 1}

    def load_state_dict(self, state: dict[str, int]) -> None:
        if int(state["seed"]) != self.seed or not state.get("grouped"):
            raise ValueError(f"batch iterator state {state} does not belong to this length-grouped "
                             f"iterator (seed {self.seed}): not the same run")
        self.cycle, self.offset = int(state["cycle"]), int(state["offset"])
        self._batches = self._plan(self.cycle)


def padded_tokens(batches: Sequence[np.ndarray], lengths: Sequence[int] | np.ndarray) -> tuple[int, int]:
    """``(padded, real)`` token counts of ``batches`` under pad-to-longest collation."""
    lengths = np.asarray(lengths)
    padded = sum(int(lengths[b].max()) * len(b) for b in batches)
    real = sum(int(lengths[b].sum()) for b in batches)
    return padded, real

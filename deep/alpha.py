"""The alternating alpha optimiser of alpha-LoRA (docs/adapters.md §2.2).

Two optimisers, two data streams:

* the **adapter step** runs every step: AdamW over the low-rank factors (and DoRA magnitudes,
  ...) and the classification head, on a batch of the adapter split ``D_ad``, with every
  alpha frozen (``requires_grad=False``: no alpha gradient is even built);
* the **alpha step** runs when ``step % T == 0`` (0-based global step; default ``T = 10``):
  one step of its own optimiser (Adam, lr 5e-3, betas (0.9, 0.99), constant lr) over all alpha
  vectors, on the next batch of a cycling iterator over the held-out split ``D_alpha`` of the
  TRAIN data (default 20 %, fixed seed), with adapters and head frozen. Order within a step:
  adapter step first, then alpha step (as the official code).

``D_alpha`` is never the evaluation split. Differences from the official code, kept
documented here and switchable where they change results:

* the official adapters train on the FULL training set, so the "held-out" alpha rows are also
  adapter rows; ours are disjoint by default (``paper_compat=True`` reproduces the overlap);
* the official trigger is the per-epoch batch index (``i % T == 0``: it also fires at ``i = 0``
  of every epoch); ours uses the global step counter;
* the official code leaves ``requires_grad=True`` on alpha during adapter steps (wasted
  compute, harmless); we freeze it;
* the official default ``val_split=0`` draws alpha batches from the GLUE validation set that
  is also reported as the test score (tuning on the test set). That is impossible here: the
  alpha rows are carved out of TRAIN by :func:`split_for_alpha`.

Everything in this module works with any adapter kind that has an ``alpha`` vector and with a
Hugging Face ``Trainer`` (see ``deep.hf``): it only needs the alpha parameters, the other
trainable parameters and a closure computing the loss on a held-out batch.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .splits import permutation_blocks

__all__ = [
    "split_for_alpha",
    "CyclingBatches",
    "AlphaOptimizer",
    "requires_grad",
    "all_reduce_gradients",
    "alpha_statistics",
    "theory_init",
]


def split_for_alpha(
    n: int, fraction: float = 0.2, seed: int = 42, paper_compat: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Carve the alpha split out of ``n`` training rows.

    Returns ``(adapter_rows, alpha_rows)``, sorted index arrays. A seeded permutation puts
    ``round(fraction * n)`` rows (at least 1, at most ``n − 1``) in ``alpha_rows`` and the rest
    in ``adapter_rows``; they are disjoint unless ``paper_compat=True``, where
    ``adapter_rows`` is every row (the official code's overlap). The permutation is the
    one of :func:`deep.splits.permutation_blocks`: the alpha rows equal ``split_indices(n,
    fraction, seed)[1]`` and ``carve_splits(n, {"alpha": fraction, ...}, seed)["alpha"]``.
    """
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 2:
        raise ValueError(f"n must be an integer >= 2 (rows to split), got {n!r}")
    if not isinstance(fraction, float | int) or not 0.0 < float(fraction) < 1.0:
        raise ValueError(f"fraction must lie in the open interval (0, 1), got {fraction!r}")
    k = min(max(int(round(fraction * n)), 1), n - 1)
    alpha_rows, rest = permutation_blocks(int(n), [k], seed)  # the one seeded split (deep.splits)
    adapter_rows = np.arange(n) if paper_compat else rest
    return adapter_rows, alpha_rows


class CyclingBatches:
    """Endless, deterministic, resumable batches of indices drawn from ``rows``.

    Each pass ("cycle") is a fresh permutation of ``rows`` from
    ``numpy.random.default_rng([seed, cycle])``; consecutive batches of ``batch_size`` are taken
    from it; a cycle's last partial batch is dropped when ``drop_last`` (so every batch has
    the same size), otherwise returned. The position ``(cycle, offset)`` is the whole state:
    :meth:`state_dict` / :meth:`load_state_dict` resume exactly.
    """

    def __init__(self, rows: Sequence[int] | np.ndarray, batch_size: int, seed: int = 0,
                 shuffle: bool = True, drop_last: bool = False) -> None:
        rows = np.asarray(rows, dtype=np.int64)
        if rows.ndim != 1 or rows.size == 0:
            raise ValueError(f"rows must be a non-empty 1-D array of indices, got shape {rows.shape}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        if drop_last and batch_size > rows.size:
            raise ValueError(
                f"batch_size={batch_size} exceeds the {rows.size} rows available with drop_last"
            )
        self.rows, self.batch_size, self.seed = rows, batch_size, seed
        self.shuffle, self.drop_last = shuffle, drop_last
        self.cycle, self.offset = 0, 0
        self._order = self._permutation(0)

    def _permutation(self, cycle: int) -> np.ndarray:
        if not self.shuffle:
            return self.rows
        return self.rows[np.random.default_rng([self.seed, cycle]).permutation(self.rows.size)]

    def __iter__(self) -> Iterator[np.ndarray]:
        return self

    def __next__(self) -> np.ndarray:
        remaining = self.rows.size - self.offset
        if remaining <= 0 or (self.drop_last and remaining < self.batch_size):
            self.cycle += 1
            self.offset = 0
            self._order = self._permutation(self.cycle)
        batch = self._order[self.offset : self.offset + self.batch_size]
        self.offset += batch.size
        return batch

    def batches_per_cycle(self) -> int:
        f = math.floor if self.drop_last else math.ceil
        return int(f(self.rows.size / self.batch_size))

    def state_dict(self) -> dict[str, int]:
        return {"cycle": self.cycle, "offset": self.offset, "seed": int(self.seed)}

    def load_state_dict(self, state: dict[str, int]) -> None:
        if int(state["seed"]) != int(self.seed):
            raise ValueError(f"batch iterator seed {state['seed']} != {self.seed}: not the same run")
        self.cycle, self.offset = int(state["cycle"]), int(state["offset"])
        self._order = self._permutation(self.cycle)


@contextlib.contextmanager
def requires_grad(train: Iterable[torch.nn.Parameter],
                  freeze: Iterable[torch.nn.Parameter]) -> Iterator[None]:
    """Temporarily set ``requires_grad=True`` on ``train`` and ``False`` on ``freeze``;
    restore every flag afterwards (also on error)."""
    train, freeze = list(train), list(freeze)
    saved = [(p, p.requires_grad) for p in train + freeze]
    try:
        for p in freeze:
            p.requires_grad_(False)
        for p in train:
            p.requires_grad_(True)
        yield
    finally:
        for p, flag in saved:
            p.requires_grad_(flag)


def all_reduce_gradients(params: Iterable[torch.nn.Parameter]) -> None:
    """Average ``.grad`` over the processes of the default group (no-op when not distributed).

    Used for the alpha step, which runs outside ``DistributedDataParallel``; with it every rank
    applies the same alpha update."""
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return
    world = torch.distributed.get_world_size()
    for p in params:
        if p.grad is not None:
            torch.distributed.all_reduce(p.grad, op=torch.distributed.ReduceOp.SUM)
            p.grad.div_(world)


@dataclass
class AlphaStepRecord:
    step: int
    loss: float
    batch: np.ndarray | None


class AlphaOptimizer:
    """Steps the alpha vectors every ``every`` steps on held-out batches.

    Parameters
    ----------
    alpha_params : list of nn.Parameter
        Every alpha vector (one entry per output row of each adapted layer).
    other_params : list of nn.Parameter
        Every other trainable parameter (adapters, head): frozen during the alpha step.
    every : int >= 1
        ``T``: the alpha step runs at global steps ``k`` with ``k % T == 0``.
    lr, betas, weight_decay : Adam hyper-parameters (paper: 5e-3, (0.9, 0.99), 0).
    kind : {"adam", "adamw", "sgd"}
        The alpha optimiser (Adam is the paper setting).

    Notes
    -----
    Alpha parameters are frozen at construction (``requires_grad=False``) and only unfrozen
    inside :meth:`step`, so adapter steps never build an alpha gradient.
    """

    KINDS = ("adam", "adamw", "sgd")

    def __init__(
        self,
        alpha_params: Sequence[torch.nn.Parameter],
        other_params: Sequence[torch.nn.Parameter],
        every: int = 10,
        lr: float = 5e-3,
        betas: tuple[float, float] = (0.9, 0.99),
        weight_decay: float = 0.0,
        kind: str = "adam",
    ) -> None:
        self.alpha_params = list(alpha_params)
        if not self.alpha_params:
            raise ValueError(
                "alpha_params is empty: the model has no alpha vectors (use an adapter with "
                "alpha, e.g. method='alpha_lora', or train without the alpha optimiser)"
            )
        ids = {id(p) for p in self.alpha_params}
        self.other_params = [p for p in other_params if id(p) not in ids]
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"every (T) must be a positive integer, got {every!r}")
        if not (isinstance(lr, float | int) and lr > 0 and math.isfinite(lr)):
            raise ValueError(f"lr must be a finite number > 0, got {lr!r}")
        if kind not in self.KINDS:
            raise ValueError(f"kind must be one of {self.KINDS}, got {kind!r}")
        self.every, self.kind = every, kind
        if kind == "adam":
            self.optimizer: torch.optim.Optimizer = torch.optim.Adam(
                self.alpha_params, lr=lr, betas=betas, weight_decay=weight_decay)
        elif kind == "adamw":
            self.optimizer = torch.optim.AdamW(
                self.alpha_params, lr=lr, betas=betas, weight_decay=weight_decay)
        else:
            self.optimizer = torch.optim.SGD(self.alpha_params, lr=lr, weight_decay=weight_decay)
        for p in self.alpha_params:
            p.requires_grad_(False)
        self.history: list[AlphaStepRecord] = []

    def should_step(self, step: int) -> bool:
        """Whether the alpha step runs at 0-based global step ``step``."""
        return step % self.every == 0

    def step(self, compute_loss: Callable[[], torch.Tensor], step: int | None = None,
             batch_rows: np.ndarray | None = None) -> float:
        """One alpha step: unfreeze alpha, freeze the rest, backpropagate ``compute_loss()``
        (a closure evaluating the model on a HELD-OUT batch), average gradients over processes,
        take the optimiser step, clear alpha gradients, restore every flag. Returns the loss.
        """
        with requires_grad(self.alpha_params, self.other_params):
            for p in self.alpha_params:
                p.grad = None
            loss = compute_loss()
            if not torch.is_tensor(loss) or loss.ndim != 0:
                raise ValueError("compute_loss must return a scalar tensor")
            loss.backward()
            all_reduce_gradients(self.alpha_params)
            self.optimizer.step()
            for p in self.alpha_params:
                p.grad = None
        value = float(loss.detach())
        self.history.append(AlphaStepRecord(step if step is not None else -1, value, batch_rows))
        return value

    def maybe_step(self, step: int, compute_loss: Callable[[], torch.Tensor],
                   batch_rows: np.ndarray | None = None) -> float | None:
        """:meth:`step` if :meth:`should_step` (``step`` is the 0-based global step)."""
        if not self.should_step(step):
            return None
        return self.step(compute_loss, step, batch_rows)

    def state_dict(self) -> dict:
        return {"optimizer": self.optimizer.state_dict(), "every": self.every}

    def load_state_dict(self, state: dict) -> None:
        if int(state["every"]) != self.every:
            raise ValueError(f"checkpoint has every={state['every']}, this run every={self.every}")
        self.optimizer.load_state_dict(state["optimizer"])


def alpha_statistics(named_alphas: Iterable[tuple[str, torch.Tensor]]) -> dict[str, dict[str, float]]:
    """Mean, std, min and max of each named alpha vector (for logging)."""
    out = {}
    for name, a in named_alphas:
        a = a.detach().float()
        out[name] = {
            "mean": float(a.mean()),
            "std": float(a.std(unbiased=False)),
            "min": float(a.min()),
            "max": float(a.max()),
        }
    return out


def theory_init(model: torch.nn.Module | None, features: np.ndarray | torch.Tensor,
                labels: Sequence[int] | np.ndarray | torch.Tensor,
                head: torch.nn.Linear | None = None, gamma: float = 1.0,
                covariance: object = None) -> float:
    """Rescale a PRE-TRAINED binary classifier head by the theory's transfer alpha*.

    The linear model of ``rmt`` / ``linear`` read on a transformer: the head's decision
    direction ``w̃ = W[1] − W[0]`` (a head trained on a SOURCE task) is the source classifier,
    ``features`` are the frozen features the head sees (e.g. the pooled encoder output, or
    ``deep.features.embed_rows``) on TARGET training rows, and ``labels`` their 0/1 labels
    (docs/theory.md §6.3). alpha* = :func:`linear.selection.plugin_alpha` (``rmt.arbitrary``
    with unbiased plug-in moments, or ``rmt.anisotropic`` with ``covariance``) at ridge penalty
    ``gamma``; the head's weight and bias are multiplied by it in place, so that its logit
    difference is ``alpha* ⟨w̃, x⟩`` — the alpha-ridge prior ``alpha w̃`` the theory optimises.
    Returns alpha*.

    Sound use: transfer of a head trained on a related task (MNLI → RTE, STS-B → MRPC) before
    fine-tuning on few target rows; alpha* < 0 flips a head whose source labels are anti-aligned
    and alpha* ≈ 0 says the source head does not transfer. A freshly initialised (random) head is
    no source classifier: its alpha* is noise, and nothing in ``deep.train`` calls this. Choose it
    on training rows only (never the rows you report).

    Parameters
    ----------
    model : the model whose head to rescale when ``head`` is None (its ``classifier`` or
        ``score`` child's last ``nn.Linear``); ignored when ``head`` is given.
    features : (n, p) array, the head's inputs on target training rows.
    labels : (n,) 0/1 labels of those rows.
    head : an ``nn.Linear`` with 2 outputs and ``p`` inputs (default: found in ``model``).
    gamma : ridge penalty of the fine-tune in the theory (``1/n`` convention), > 0.
    covariance : None (isotropic) or a noise covariance estimated without test rows (see
        :func:`linear.selection.plugin_alpha`).
    """
    from linear import selection

    if head is None:
        if model is None:
            raise ValueError("theory_init: give model or head; allowed: an nn.Linear head with "
                             "2 outputs, or a model with a 'classifier' / 'score' child")
        from .inject import head_modules

        found = [m for _, h in head_modules(model) for m in h.modules()
                 if isinstance(m, torch.nn.Linear)]
        if not found:
            raise ValueError(f"theory_init: {type(model).__name__} has no classifier head; "
                             "allowed: a model with a 'classifier' or 'score' child, or head=")
        head = found[-1]
    if not isinstance(head, torch.nn.Linear) or head.out_features != 2:
        raise ValueError(f"theory_init: head={head!r} is not a 2-output nn.Linear; allowed: the "
                         "head of a binary task")
    X = (features.detach().cpu().double().numpy() if isinstance(features, torch.Tensor)
         else np.asarray(features, dtype=float))
    y01 = (labels.detach().cpu().numpy() if isinstance(labels, torch.Tensor)
           else np.asarray(labels))
    if X.ndim != 2 or X.shape[1] != head.in_features:
        raise ValueError(f"theory_init: features have shape {X.shape}; allowed: (n, "
                         f"{head.in_features}), the head's inputs")
    if y01.shape != (X.shape[0],) or not np.isin(y01, (0, 1)).all():
        raise ValueError(f"theory_init: labels must be {X.shape[0]} values in {{0, 1}}; got "
                         f"shape {y01.shape}, values {np.unique(y01)[:5].tolist()}")
    w = head.weight.detach().double().cpu().numpy()
    alpha = float(selection.plugin_alpha(X, 2.0 * y01 - 1.0, w[1] - w[0], gamma,
                                         covariance=covariance))
    with torch.no_grad():
        head.weight.mul_(alpha)
        if head.bias is not None:
            head.bias.mul_(alpha)
    return alpha


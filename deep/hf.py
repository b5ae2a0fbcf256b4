"""Hugging Face ``Trainer`` integration: the alpha step and the rank allocator as callbacks.

alpha-LoRA in a user's own ``Trainer`` script takes three added lines::

    from deep.hf import AlphaCallback, split_for_alpha_dataset

    adapter_ds, alpha_ds = split_for_alpha_dataset(train_ds, fraction=0.2, seed=42)   # 1
    alpha_cb = AlphaCallback(model, alpha_ds, data_collator=collator)                 # 2
    trainer = Trainer(model=model, args=args, train_dataset=adapter_ds,               # 3: the
                      data_collator=collator, callbacks=[alpha_cb])                   # adapter split
    trainer.train()

Where the callbacks act (transformers 5.x ``Trainer._run_epoch``, one optimiser step)::

    forward/backward on gradient_accumulation_steps micro-batches
    clip_grad_norm_ (if max_grad_norm > 0)
    optimizer.step()
    on_optimizer_step      <- AllocationCallback: allocator.step(k); gradients still present
    lr_scheduler.step()
    model.zero_grad()
    global_step += 1
    on_step_end            <- AlphaCallback: alpha step if k % T == 0 (k = global_step - 1)
    log / evaluate / save  (a checkpoint of step k includes its alpha step)

``k`` is the 0-based index of the optimiser step (gradient accumulation: one ``k`` per
optimiser step, not per micro-batch). The alpha step is exactly the one of
:class:`deep.alpha.AlphaOptimizer` (docs/adapters.md §2.2): it runs after the adapter step of
step ``k`` when ``k % every == 0`` (so at ``k = 0, T, 2T, ...``: ``ceil(N / T)`` alpha steps in
``N`` optimiser steps, as in our own loop ``deep.train``), on the next batch of a seeded cycling
iterator over the held-out alpha split carved from TRAIN, in train mode, with the adapters and
the head frozen and alpha the only parameter receiving a gradient.

The callback must exist BEFORE the Trainer creates its optimiser (i.e. before ``train()``;
creating it before the ``Trainer`` is simplest): it freezes every alpha vector, so the
Trainer's optimiser (built from the parameters with ``requires_grad``) only holds adapters and
head. A Trainer optimiser that already holds alpha (created earlier, or passed through
``optimizers=``) is refused when training starts (``RuntimeError``).

:class:`AllocationCallback` drives rank-allocating adapters (AdaLoRA-style budgets): it calls
``allocator.step(k)`` after each optimiser step and before ``zero_grad`` (where importance
scores need the gradients), and adds the allocator's regulariser ``allocator.loss()`` to the
training loss through a forward hook on the model, so no ``compute_loss`` override is needed.

Metrics, logs and checkpoints:

* ``Trainer(..., compute_metrics=compute_metrics_for("rte"))``: the GLUE metrics of the task
  (:func:`deep.metrics.compute_metrics`) from the Trainer's ``EvalPrediction`` (logits or
  regression outputs), also with ``batch_eval_metrics=True``;
* every training log of the Trainer (``logging_steps``) gets the alpha statistics of
  :func:`alpha_log_statistics` (``alpha_mean``, ``alpha_std`` over every alpha entry, and per
  target module name, e.g. ``alpha_mean_query`` vs ``alpha_mean_value``), so they are in
  ``trainer.state.log_history`` and in every ``report_to`` integration (TensorBoard:
  ``train/alpha_mean``, ...). :class:`AlphaCallback` moves itself in front of the Trainer's
  callbacks when training starts, so that the integrations see the added keys;
* Trainer checkpoints of a model with :func:`deep.inject` adapters hold the adapter only
  (:func:`deep.io.adapter_save_pretrained`): no full ``model.safetensors``; the folder loads
  with :func:`deep.load_adapter` and ``trainer.train(resume_from_checkpoint=...)`` works.
"""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import Any, cast

import numpy as np
import torch
from transformers import TrainerCallback

from .alpha import AlphaOptimizer, CyclingBatches, split_for_alpha
from .data import TaskSpec, get_task
from .metrics import compute_metrics

__all__ = ["AlphaCallback", "AllocationCallback", "find_alpha_parameters",
           "split_for_alpha_dataset", "compute_metrics_for", "alpha_log_statistics"]

#: File written by :class:`AlphaCallback` into each Trainer checkpoint folder.
ALPHA_STATE_FILE = "alpha_callback.pt"


def find_alpha_parameters(model: torch.nn.Module) -> list[torch.nn.Parameter]:
    """Every alpha vector of ``model``: those of :func:`deep.inject` layers, then those of a
    PEFT model built with :class:`deep.peft.AlphaLoraConfig` (``...lora_row_alpha.<adapter>``)."""
    from .inject import alpha_parameters

    found = list(alpha_parameters(model))
    try:
        from .peft import alpha_parameters as peft_alpha_parameters
    except ImportError:  # peft not installed: only deep's own layers can hold alpha
        return found
    seen = {id(p) for p in found}
    return found + [p for p in peft_alpha_parameters(model) if id(p) not in seen]


def _named_alphas(model: torch.nn.Module) -> list[tuple[str, torch.nn.Parameter]]:
    from .inject import named_alpha_parameters

    found = list(named_alpha_parameters(model))
    try:
        from .peft import named_alpha_parameters as peft_named
    except ImportError:
        return found
    seen = {id(p) for _, p in found}
    return found + [(n, p) for n, p in peft_named(model) if id(p) not in seen]


def _alpha_group(name: str) -> str:
    """Target module name of an alpha parameter: ``...self.query.alpha`` -> ``query``;
    PEFT's ``...q_proj.lora_row_alpha.default`` -> ``q_proj``."""
    parts = name.split(".")
    if "lora_row_alpha" in parts:
        i = parts.index("lora_row_alpha")
        return parts[i - 1] if i > 0 else name
    return parts[-2] if len(parts) >= 2 else name


def alpha_log_statistics(model: torch.nn.Module) -> dict[str, float]:
    """Alpha statistics for a training log: ``alpha_mean`` and ``alpha_std`` (population std,
    ``1/n``) over every alpha entry of ``model`` (all layers concatenated, a shared alpha
    counted once), and, when alpha sits on more than one kind of target module,
    ``alpha_mean_<name>`` / ``alpha_std_<name>`` per target module name (``query`` vs
    ``value`` for BERT/RoBERTa, ``q_proj`` vs ``v_proj`` for LLaMA). Empty without alpha."""
    named = _named_alphas(model)
    if not named:
        return {}

    def stats(tensors: list[torch.Tensor], suffix: str = "") -> dict[str, float]:
        a = torch.cat([t.detach().reshape(-1).float().cpu() for t in tensors])
        return {f"alpha_mean{suffix}": float(a.mean()),
                f"alpha_std{suffix}": float(a.std(unbiased=False))}

    out = stats([p for _, p in named])
    groups: dict[str, list[torch.Tensor]] = {}
    for name, p in named:
        groups.setdefault(_alpha_group(name), []).append(p)
    if len(groups) > 1:
        for g, tensors in groups.items():
            out |= stats(tensors, f"_{g}")
    return out


def _prediction_arrays(eval_pred: Any) -> tuple[Any, Any]:
    """``(predictions, labels)`` of an ``EvalPrediction`` (or a ``(predictions, labels)``
    pair); a tuple of model outputs gives its first entry (the logits)."""
    if hasattr(eval_pred, "predictions") and hasattr(eval_pred, "label_ids"):
        preds, labels = eval_pred.predictions, eval_pred.label_ids
    else:
        preds, labels = eval_pred
    if isinstance(preds, list | tuple):
        preds = preds[0]
    if isinstance(labels, list | tuple):
        labels = labels[0]
    return preds, labels


def _to_numpy(x: Any) -> np.ndarray:
    if torch.is_tensor(x):
        return x.detach().float().cpu().numpy() if x.is_floating_point() else x.detach().cpu().numpy()
    return np.asarray(x)


def compute_metrics_for(task: str | TaskSpec) -> Callable[..., dict[str, float]]:
    """``compute_metrics`` for a ``Trainer``: ``EvalPrediction -> {metric: value}`` with the
    GLUE metrics of ``task`` (:data:`deep.data.TASKS`, primary first), computed by
    :func:`deep.metrics.compute_metrics` from the logits (classification: argmax over
    ``(n, num_labels)``) or the ``(n, 1)`` regression outputs (STS-B) and the label ids.

    With ``TrainingArguments(batch_eval_metrics=True)`` the Trainer calls it once per batch
    with ``compute_result``: the batches are collected and the metrics computed over all of
    them on the last call (``compute_result=True``), which returns ``{}`` before that.
    The task is checked now (an unknown name raises ``ValueError``).
    """
    spec = get_task(task)
    pending: list[tuple[np.ndarray, np.ndarray]] = []

    def compute(eval_pred: Any, compute_result: bool | None = None) -> dict[str, float]:
        preds, labels = _prediction_arrays(eval_pred)
        if compute_result is None:
            return compute_metrics(spec, _to_numpy(preds), _to_numpy(labels))
        pending.append((_to_numpy(preds), _to_numpy(labels)))
        if not compute_result:
            return {}
        p = np.concatenate([b[0] for b in pending])
        y = np.concatenate([b[1] for b in pending])
        pending.clear()
        return compute_metrics(spec, p, y)

    compute.__name__ = f"compute_metrics_{spec.name}"
    return compute


def split_for_alpha_dataset(
    dataset: Sequence, fraction: float = 0.2, seed: int = 42, paper_compat: bool = False
) -> tuple[torch.utils.data.Subset, torch.utils.data.Subset]:
    """``(adapter_subset, alpha_subset)`` of a TRAINING dataset (map-style, with ``len``).

    The rows are those of :func:`deep.alpha.split_for_alpha`: a seeded ``fraction`` of the rows
    (at least one) for alpha, the rest for the adapters; disjoint unless ``paper_compat``
    (the official code's overlap: the adapter subset is every row). Give the first subset to
    the ``Trainer`` and the second to :class:`AlphaCallback`; never carve it from the
    evaluation split.
    """
    adapter_rows, alpha_rows = split_for_alpha(len(dataset), fraction, seed, paper_compat)
    ds = cast(torch.utils.data.Dataset, dataset)
    return (torch.utils.data.Subset(ds, adapter_rows.tolist()),
            torch.utils.data.Subset(ds, alpha_rows.tolist()))


def _root_rows(dataset: Any) -> tuple[Any, np.ndarray | None]:
    """``(root dataset, its row indices)`` through nested ``Subset``s; ``None`` rows = all."""
    rows = None
    while isinstance(dataset, torch.utils.data.Subset):
        idx = np.asarray(dataset.indices, dtype=np.int64)
        rows = idx if rows is None else idx[rows]
        dataset = dataset.dataset
    return dataset, rows


def _default_loss(model: torch.nn.Module, batch: dict[str, Any]) -> torch.Tensor:
    out = model(**batch)
    loss = out.get("loss") if isinstance(out, dict) else getattr(out, "loss", None)
    if loss is None:
        raise ValueError("AlphaCallback: the model returned no loss on an alpha batch; the "
                         "collator must produce 'labels', or pass loss_fn=(model, batch) -> loss")
    return loss


def _to_device(batch: Any, device: torch.device) -> Any:
    if torch.is_tensor(batch):
        return batch.to(device)
    if isinstance(batch, dict):
        return {k: _to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, list | tuple):
        return type(batch)(_to_device(v, device) for v in batch)
    return batch


def _move_to_front(callback: TrainerCallback) -> bool:
    """Put ``callback`` first in the Trainer's callback list, found as the ``CallbackHandler``
    that is calling it right now (a few frames up). ``Trainer`` places the ``report_to``
    integrations before the user's callbacks and they read the same ``logs`` dict in
    ``on_log``: only a callback ahead of them can add keys they record. Removing the callback
    at index i and inserting it at 0 leaves every later index unchanged, so the handler's
    ongoing loop over the list neither skips nor repeats a callback. Returns False when no
    handler is found (the callback is then left where it is)."""
    from transformers.trainer_callback import CallbackHandler

    frame: Any = sys._getframe(1)
    for _ in range(8):
        if frame is None:
            break
        handler = frame.f_locals.get("self")
        if isinstance(handler, CallbackHandler):
            callbacks = handler.callbacks
            where = [i for i, c in enumerate(callbacks) if c is callback]
            if where:
                if where[0] > 0:
                    callbacks.insert(0, callbacks.pop(where[0]))
                return True
        frame = frame.f_back
    return False


class AlphaCallback(TrainerCallback):
    """The alternating alpha step inside a Hugging Face ``Trainer`` (see the module docstring).

    Parameters
    ----------
    model : the adapted model (:func:`deep.inject` with an alpha method), the one given to the
        ``Trainer``.
    alpha_dataset : the held-out alpha rows of TRAIN (``split_for_alpha_dataset(...)[1]``),
        never given to the Trainer.
    data_collator : list of dataset items -> batch dict (normally the Trainer's collator).
    every : ``T``; the alpha step runs after optimiser step ``k`` when ``k % T == 0``.
    lr, betas, weight_decay, kind : the alpha optimiser (:class:`deep.alpha.AlphaOptimizer`;
        paper: Adam, 5e-3, (0.9, 0.99), 0), constant learning rate.
    batch_size : alpha batch size (paper 64; capped at ``len(alpha_dataset)``).
    seed : seed of the alpha batch order (each pass over the alpha rows is a fresh permutation).
    loss_fn : ``loss_fn(model, batch) -> scalar tensor``; default ``model(**batch).loss``.
    paper_compat : allow alpha rows that are also in the Trainer's train dataset (the official
        code's overlap); by default an overlap found when training starts is an error.

    Notes
    -----
    Multi-process (``accelerate launch`` / ``torchrun``): every process draws the same alpha
    batch and evaluates its own slice of it (``rows[rank::world]``); the alpha gradients are
    averaged over processes (:func:`deep.alpha.all_reduce_gradients`), so every process applies
    the same update. With ``bf16=True`` / ``fp16=True`` in ``TrainingArguments`` the alpha
    forward runs under the same ``torch.autocast`` (alpha itself stays float32; fp16 alpha
    gradients are not loss-scaled: prefer bf16).

    Logs: each training log (``logging_steps``) gets :func:`alpha_log_statistics` (the alpha
    values after that step's alpha step), in ``state.log_history`` and in every ``report_to``
    integration; for that the callback moves itself to the front of the Trainer's callback list
    when the Trainer is built and when training starts.

    Attributes: ``optimizer`` (the :class:`~deep.alpha.AlphaOptimizer`; ``optimizer.history``
    holds ``(step, loss, rows)`` of every alpha step), ``batches`` (the cycling iterator).
    Checkpoints: ``on_save`` writes the alpha optimiser and iterator state to
    ``checkpoint-<step>/alpha_callback.pt``; a resumed ``train(resume_from_checkpoint=...)``
    reads it back from ``<output_dir>/checkpoint-<step>`` (alpha itself is a model parameter
    and is restored by the Trainer).
    """

    def __init__(
        self,
        model: torch.nn.Module,
        alpha_dataset: Sequence,
        data_collator: Callable[[list], dict[str, Any]],
        every: int = 10,
        lr: float = 5e-3,
        betas: tuple[float, float] = (0.9, 0.99),
        weight_decay: float = 0.0,
        kind: str = "adam",
        batch_size: int = 64,
        seed: int = 42,
        loss_fn: Callable[[torch.nn.Module, dict[str, Any]], torch.Tensor] | None = None,
        paper_compat: bool = False,
    ) -> None:
        if not isinstance(model, torch.nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        if not callable(data_collator):
            raise TypeError("data_collator must be callable (list of items -> batch dict)")
        n = len(alpha_dataset)
        if n == 0:
            raise ValueError("alpha_dataset is empty: pass the held-out alpha rows of TRAIN")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        alphas = find_alpha_parameters(model)
        ids = {id(p) for p in alphas}
        others = [p for p in model.parameters() if p.requires_grad and id(p) not in ids]
        # AlphaOptimizer validates every/lr/kind, refuses a model without alpha, and freezes
        # alpha: from here on the Trainer's optimiser cannot pick it up.
        self.optimizer = AlphaOptimizer(alphas, others, every=every, lr=lr, betas=betas,
                                        weight_decay=weight_decay, kind=kind)
        self.model = model
        self.dataset, self.collator = alpha_dataset, data_collator
        self.batches = CyclingBatches(np.arange(n), min(batch_size, n), seed=seed)
        self.loss_fn = loss_fn or _default_loss
        self.paper_compat = bool(paper_compat)
        self._autocast: torch.dtype | None = None
        self._rank, self._world = 0, 1
        self._warned_order = False

    # ------------------------------------------------------------------ checks at start
    def _check_optimizer(self, optimizer: Any) -> None:
        if optimizer is None:
            return
        ids = {id(p) for p in self.optimizer.alpha_params}
        held = sum(id(p) in ids for g in optimizer.param_groups for p in g["params"])
        if held:
            raise RuntimeError(
                f"the Trainer's optimiser holds {held} alpha parameter(s): it was created before "
                "AlphaCallback froze alpha (e.g. passed via Trainer(optimizers=...) or built by "
                "trainer.create_optimizer()). Create AlphaCallback before the Trainer's optimiser "
                "exists, so that only the alpha step updates alpha"
            )

    def _check_rows(self, train_dataloader: Any) -> None:
        train_ds = getattr(train_dataloader, "dataset", None)
        if train_ds is None or self.paper_compat:
            return
        root_t, rows_t = _root_rows(train_ds)
        root_a, rows_a = _root_rows(self.dataset)
        if root_t is not root_a and train_ds is not self.dataset:
            return
        if rows_t is None or rows_a is None:
            overlap = len(self.dataset) if rows_t is None else len(train_ds)
        else:
            overlap = np.intersect1d(rows_t, rows_a).size
        if overlap:
            raise ValueError(
                f"{overlap} alpha row(s) are also in the Trainer's train dataset: give the Trainer "
                "the adapter split of split_for_alpha_dataset (or paper_compat=True for the "
                "official code's overlap)"
            )

    def _go_first(self) -> None:
        if not _move_to_front(self) and not self._warned_order:
            self._warned_order = True
            warnings.warn("AlphaCallback could not move itself in front of the Trainer's "
                          "callbacks: report_to integrations may miss the alpha statistics "
                          "(state.log_history still has them)", stacklevel=3)

    def on_init_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._go_first()

    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None,
                       optimizer: Any = None, train_dataloader: Any = None,
                       **kwargs: Any) -> None:
        self._go_first()
        self._check_optimizer(optimizer)
        if model is not None and not any(p is self.optimizer.alpha_params[0]
                                         for p in model.parameters()):
            raise ValueError("AlphaCallback was built for a different model than the Trainer's")
        self._check_rows(train_dataloader)
        for p in self.optimizer.alpha_params:
            p.requires_grad_(False)
        self._autocast = (torch.bfloat16 if getattr(args, "bf16", False)
                          else torch.float16 if getattr(args, "fp16", False) else None)
        self._rank = int(getattr(args, "process_index", 0))
        self._world = max(int(getattr(args, "world_size", 1)), 1)
        if state.global_step > 0:  # resumed: restore the alpha optimiser and batch position
            path = os.path.join(args.output_dir, f"checkpoint-{state.global_step}",
                                ALPHA_STATE_FILE)
            if os.path.isfile(path):
                self.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
            else:
                warnings.warn(f"AlphaCallback: resuming at step {state.global_step} without "
                              f"{path}: the alpha optimiser and alpha batch order restart",
                              stacklevel=2)

    # ------------------------------------------------------------------ the alpha step
    def _loss(self, rows: np.ndarray) -> torch.Tensor:
        mine = rows[self._rank::self._world] if self._world > 1 else rows
        if mine.size == 0:
            raise ValueError(f"alpha batch of {rows.size} rows is too small for "
                             f"{self._world} processes")
        device = next(self.model.parameters()).device
        batch = _to_device(self.collator([self.dataset[int(i)] for i in mine]), device)
        ctx = (torch.autocast(device.type, dtype=self._autocast) if self._autocast is not None
               else contextlib.nullcontext())
        with ctx:
            return self.loss_fn(self.model, batch)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        step = state.global_step - 1  # 0-based index of the optimiser step just taken
        if not self.optimizer.should_step(step):
            return
        rows = next(self.batches)
        was_training = self.model.training
        self.model.train()  # dropout on, as in the official code
        try:
            self.optimizer.step(lambda: self._loss(rows), step=step, batch_rows=rows)
        finally:
            self.model.train(was_training)

    # ------------------------------------------------------------------ logs
    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None,
               **kwargs: Any) -> None:
        """Add :func:`alpha_log_statistics` to a training log (one with ``loss``; evaluation
        logs and the final summary are left alone), and to its ``state.log_history`` entry
        (the Trainer appends a copy of the logs before calling ``on_log``)."""
        if logs is None or "loss" not in logs:
            return
        stats = alpha_log_statistics(self.model)
        logs.update(stats)
        last = state.log_history[-1] if state.log_history else None
        if last is not None and last.get("step") == state.global_step and "loss" in last:
            last.update(stats)

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        return {"optimizer": self.optimizer.state_dict(), "batches": self.batches.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.batches.load_state_dict(state["batches"])

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if not getattr(args, "should_save", True):
            return
        folder = os.path.join(args.output_dir, f"checkpoint-{state.global_step}")
        if os.path.isdir(folder):
            torch.save(self.state_dict(), os.path.join(folder, ALPHA_STATE_FILE))


class AllocationCallback(TrainerCallback):
    """Drive a rank allocator (AdaLoRA-style budget) from a Hugging Face ``Trainer``.

    Calls ``allocator.step(k, loss_fn=...)`` in ``on_optimizer_step`` (``k`` = 0-based
    optimiser step): after ``optimizer.step()`` and before ``lr_scheduler.step()`` and
    ``model.zero_grad()``, so the gradients of the step (clipped, if ``max_grad_norm > 0``;
    summed over the accumulated micro-batches) are still on the parameters. ``loss_fn`` (for
    allocators that score ranks by ablation, ALoRA) defaults to the loss of the CURRENT batch,
    as in our own loop: the last training forward's inputs are remembered by a forward
    pre-hook and evaluated again when the allocator calls ``loss_fn()`` (under its
    ``no_grad``); pass your own closure to score on other data.

    ``regularise=True`` adds ``allocator.loss()`` (e.g. AdaLoRA's orthogonality penalty) to
    the model's ``loss`` output through a forward hook on the Trainer's model, in training
    mode with gradients enabled only (evaluation losses are unchanged); under gradient
    accumulation the Trainer's loss scaling applies to it like to the data loss. The hook is
    installed in ``on_train_begin`` and removed in ``on_train_end``. An allocator without
    ``loss`` is driven without regulariser.

    If the allocator records its schedule length (``total_steps``), it must equal the
    Trainer's ``max_steps`` (the budget schedule would silently stretch otherwise).
    """

    def __init__(self, allocator: Any, loss_fn: Callable[[], torch.Tensor] | None = None,
                 regularise: bool = True, model: torch.nn.Module | None = None) -> None:
        if allocator is None:
            raise ValueError("allocator is None: the model has no rank-allocating adapter "
                             "(make_allocator returns None then); drop AllocationCallback")
        if not callable(getattr(allocator, "step", None)):
            raise TypeError(f"allocator must have a step(step) method, got "
                            f"{type(allocator).__name__}")
        self.allocator, self.loss_fn, self.model = allocator, loss_fn, model
        self.regularise = bool(regularise) and callable(getattr(allocator, "loss", None))
        self._hooks: list[Any] = []
        self._last: tuple[tuple, dict] | None = None

    def _remember(self, module: torch.nn.Module, args: tuple, kwargs: dict) -> None:
        if module.training and torch.is_grad_enabled():
            self._last = (args, kwargs)

    def _current_batch_loss(self) -> torch.Tensor:
        if self._last is None or self.model is None:
            raise RuntimeError("AllocationCallback: no training forward seen yet (loss_fn)")
        args, kwargs = self._last
        out = self.model(*args, **kwargs)
        loss = out.get("loss") if isinstance(out, dict) else (
            out[0] if isinstance(out, tuple) else getattr(out, "loss", None))
        if loss is None:
            raise ValueError("AllocationCallback: the model returned no loss for the current "
                             "batch; pass loss_fn")
        return loss

    def _add_regulariser(self, module: torch.nn.Module, args: Any, output: Any) -> Any:
        if not (module.training and torch.is_grad_enabled()):
            return None
        if isinstance(output, dict) and output.get("loss") is not None:
            output["loss"] = output["loss"] + self.allocator.loss()
            return output
        if isinstance(output, tuple) and output and torch.is_tensor(output[0]) \
                and output[0].ndim == 0:
            return (output[0] + self.allocator.loss(),) + output[1:]
        return None

    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None,
                       **kwargs: Any) -> None:
        total = getattr(self.allocator, "total_steps", None)
        if isinstance(total, int) and total != state.max_steps:
            raise ValueError(f"the allocator was made for total_steps={total}, the Trainer runs "
                             f"max_steps={state.max_steps}; make it with the Trainer's step count")
        self.model = self.model if model is None else model
        if self.model is None or self._hooks:
            return
        if self.regularise:
            self._hooks.append(self.model.register_forward_hook(self._add_regulariser))
        if self.loss_fn is None:
            self._hooks.append(self.model.register_forward_pre_hook(self._remember,
                                                                    with_kwargs=True))

    def on_optimizer_step(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.allocator.step(state.global_step, loss_fn=self.loss_fn or self._current_batch_loss)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        for hook in self._hooks:
            hook.remove()
        self._hooks, self._last = [], None

"""What a training run changes, in one place: :class:`RunState` with one ``state_dict`` /
``load_state_dict`` pair used by both checkpointing and resume (so their keys cannot drift
apart), and the check that ``--resume`` continues the same configuration."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .alpha import AlphaOptimizer, CyclingBatches
from .batching import LengthGroupedBatches
from .config import TrainConfig
from .inject import adapter_layers, alpha_parameters

__all__ = ["RunState", "check_resumable"]


def _state_tensors(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Every tensor the run changes: trainable parameters, alpha vectors (frozen between alpha
    steps) and the buffers of adapter layers (e.g. rank masks). Names as in ``state_dict``."""
    alpha_ids = {id(p) for p in alpha_parameters(model)}
    out: dict[str, torch.Tensor] = {}
    seen: set[int] = set()
    for name, p in model.named_parameters(remove_duplicate=True):
        if (p.requires_grad or id(p) in alpha_ids) and id(p) not in seen:
            seen.add(id(p))
            out[name] = p.detach()
    for lname, layer in adapter_layers(model):
        for bname, b in layer.named_buffers(recurse=False):
            if b is not None:
                out[f"{lname}.{bname}"] = b.detach()
    return out


def _load_state_tensors(model: torch.nn.Module, tensors: dict[str, torch.Tensor]) -> None:
    live = _state_tensors(model)
    missing, unexpected = sorted(set(live) - set(tensors)), sorted(set(tensors) - set(live) - {"__rng__"})
    if missing or unexpected:
        raise ValueError(f"checkpoint does not match the model: missing {missing[:5]}, "
                         f"unexpected {unexpected[:5]}")
    with torch.no_grad():
        for name, t in live.items():
            src = tensors[name]
            if src.shape != t.shape:
                raise ValueError(f"checkpoint tensor {name}: shape {tuple(src.shape)}, model "
                                 f"{tuple(t.shape)}")
            t.copy_(src)


@dataclass
class RunState:
    """What changes during a run, with one ``state_dict`` / ``load_state_dict`` pair used by
    both checkpointing and resume (so their keys cannot drift apart)."""

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    batches: Any
    alpha_opt: AlphaOptimizer | None = None
    alpha_batches: CyclingBatches | LengthGroupedBatches | None = None
    allocator: Any = None
    step: int = 0
    epoch_loss: float = 0.0
    epoch_rows: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    alpha_log: list[dict[str, Any]] = field(default_factory=list)
    step_log: list[dict[str, Any]] = field(default_factory=list)
    best: dict[str, Any] | None = None
    timers: dict[str, float] = field(default_factory=lambda: {"loop": 0.0, "alpha": 0.0, "eval": 0.0})
    tokens: dict[str, int] = field(default_factory=lambda: {"padded": 0, "real": 0})  # train batches

    def state_dict(self) -> tuple[dict[str, torch.Tensor], dict[str, Any], dict[str, Any]]:
        """``(tensors, optimiser states, plain state)`` as :func:`save_checkpoint` takes them."""
        tensors = {n: t.cpu() for n, t in _state_tensors(self.model).items()}
        tensors["__rng__"] = torch.get_rng_state()
        optim = {"optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                 "alpha": self.alpha_opt.state_dict() if self.alpha_opt else None,
                 "allocator": self.allocator.state_dict() if self.allocator is not None else None}
        plain = {"step": self.step, "epoch_loss": self.epoch_loss, "epoch_rows": self.epoch_rows,
                 "batches": self.batches.state_dict(),
                 "alpha_batches": self.alpha_batches.state_dict() if self.alpha_batches else None,
                 "history": self.history, "alpha_log": self.alpha_log, "step_log": self.step_log,
                 "best": self.best, "timers": self.timers, "tokens": self.tokens}
        return tensors, optim, plain

    def load_state_dict(self, tensors: dict[str, torch.Tensor], optim: dict[str, Any],
                        plain: dict[str, Any]) -> None:
        _load_state_tensors(self.model, tensors)
        self.optimizer.load_state_dict(optim["optimizer"])
        self.scheduler.load_state_dict(optim["scheduler"])
        if self.alpha_opt is not None:
            self.alpha_opt.load_state_dict(optim["alpha"])
        if self.allocator is not None:
            self.allocator.load_state_dict(optim["allocator"])
        torch.set_rng_state(tensors["__rng__"])
        self.batches.load_state_dict(plain["batches"])
        if self.alpha_batches is not None:
            self.alpha_batches.load_state_dict(plain["alpha_batches"])
        self.step, self.epoch_loss, self.epoch_rows = plain["step"], plain["epoch_loss"], plain["epoch_rows"]
        self.history, self.alpha_log, self.best = plain["history"], plain["alpha_log"], plain["best"]
        self.step_log = plain.get("step_log", [])
        self.timers = plain.get("timers", self.timers)
        self.tokens = plain.get("tokens", self.tokens)


def check_resumable(cfg: TrainConfig, path: Path) -> None:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing, cannot check that --resume continues the same run")
    saved = TrainConfig.from_json(json.loads(path.read_text())).to_json()  # older layouts too
    now = cfg.to_json()
    diff = sorted(k for k in set(saved) | set(now)
                  if k not in TrainConfig.RESUMABLE_CHANGES and saved.get(k) != now.get(k))
    if diff:
        details = ", ".join(f"{k}: {saved.get(k)!r} -> {now.get(k)!r}" for k in diff)
        raise ValueError(f"--resume: the configuration differs from {path} ({details}); allowed "
                         f"to change: {TrainConfig.RESUMABLE_CHANGES}")


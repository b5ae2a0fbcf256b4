"""Evaluation: task metrics of a model on a GLUE split (length-sorted batches), the model a
:class:`~deep.config.TrainConfig` describes, and :func:`evaluate_run` for a finished run."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .config import TrainConfig
from .data import LazyTokenizedDataset, TaskSpec, get_task, load_glue, make_collator
from .inject import inject
from .io import load_adapter
from .metrics import compute_metrics
from .models import load_model, load_tokenizer

__all__ = ["build_model", "evaluate", "evaluate_run", "batch_items", "to_device", "logits_of"]


def _set_dropout(model: torch.nn.Module, p: float) -> None:
    for m in model.modules():
        if isinstance(m, torch.nn.Dropout):
            m.p = p


def logits_of(out: Any) -> torch.Tensor:
    return out["logits"] if isinstance(out, dict) else out.logits


def to_device(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    return {k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()}


def build_model(cfg: TrainConfig) -> tuple[torch.nn.Module, Any]:
    tokenizer = load_tokenizer(cfg.model)
    model = load_model(cfg.model, cfg.task, seed=cfg.seed)
    if cfg.model_dropout is not None:
        _set_dropout(model, cfg.model_dropout)
    if cfg.adapter is None:  # full fine-tuning
        model.requires_grad_(True)
        return model, tokenizer
    inject(model, cfg.adapter)
    return model, tokenizer


def batch_items(dataset: Any, idx: np.ndarray) -> list[dict[str, Any]]:
    if hasattr(dataset, "prefetch"):
        dataset.prefetch(idx)
    return [dataset[int(i)] for i in idx]


@torch.no_grad()
def evaluate(model: torch.nn.Module, dataset: Any, collate: Any, task: str | TaskSpec, *,
             rows: np.ndarray | None = None, batch_size: int = 64, bf16: bool = False,
             sort_by_length: bool = True) -> dict[str, float]:
    """Task metrics (:func:`deep.metrics.compute_metrics`) of ``model`` on ``dataset`` (all rows
    or ``rows``), in eval mode, batched; the model's train/eval mode is restored.

    ``sort_by_length`` (default) batches the rows longest first, so each batch pads to a
    similar length (the metrics do not depend on the order; padding is masked)."""
    idx = np.arange(len(dataset)) if rows is None else np.asarray(rows)
    items = batch_items(dataset, idx)
    if sort_by_length:
        order = np.argsort([-len(it["input_ids"]) for it in items], kind="stable")
        items = [items[i] for i in order]
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    outs, labels = [], []
    try:
        for start in range(0, len(items), batch_size):
            batch = to_device(collate(items[start:start + batch_size]), device)
            y = batch.pop("labels")
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                outs.append(logits_of(model(**batch)).float().cpu())
            labels.append(y.cpu())
    finally:
        model.train(was_training)
    logits = torch.cat(outs)
    if logits.shape[-1] == 1:
        logits = logits.view(-1)
    return compute_metrics(task, logits.numpy(), torch.cat(labels).numpy())


def evaluate_run(run_dir: str | os.PathLike[str], split: str = "dev", *, data_dir: str | None = None,
                 adapter: str = "adapter", batch_size: int = 64) -> dict[str, float]:
    """Metrics of a finished run's saved adapter (``<run_dir>/<adapter>``) on a GLUE split.

    The model is rebuilt from ``<run_dir>/config.json`` (same base model and adapter config),
    the adapter loaded with :func:`deep.load_adapter` (no unpickling)."""
    run_dir = Path(run_dir)
    path = run_dir / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not a training run directory (no config.json)")
    cfg = TrainConfig.from_json(json.loads(path.read_text()))
    if data_dir is not None:
        cfg = dataclasses.replace(cfg, data_dir=data_dir)
    adapter_dir = run_dir / adapter
    if not adapter_dir.is_dir():
        raise FileNotFoundError(f"{adapter_dir}: no saved adapter (did the run finish?)")
    with torch.random.fork_rng():
        model, tokenizer = build_model(cfg)
    load_adapter(model, adapter_dir)
    spec = get_task(cfg.task)
    rows = load_glue(spec, split, cfg.data_dir,
                     subsample=cfg.dev_subsample if split in ("dev", "validation") else None,
                     seed=cfg.split_seed)
    dataset = LazyTokenizedDataset(rows, tokenizer, cfg.max_length)
    return evaluate(model, dataset, make_collator(tokenizer, spec), cfg.task, batch_size=batch_size)


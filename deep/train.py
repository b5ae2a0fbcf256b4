"""The training loop: GLUE fine-tuning with adapters and the alternating alpha optimiser.

Read top to bottom (nanoGPT style): :class:`TrainConfig` is plain frozen data; :func:`train`
builds the model, the splits, the optimisers, then runs one loop::

    for step k = 0 .. total_steps - 1:
        adapter step   (AdamW or LoFT; adapters + head; a batch of D_ad; alpha frozen)
        allocation     (rank-allocating adapters only: budget step after the optimiser step)
        alpha step     (if the adapter has alpha and k % T == 0; a batch of D_alpha)
        checkpoint     (every K steps, atomically; --resume continues from the last complete one)
        evaluation     (end of each epoch: dev split, and the validation split when carved)

Splits (docs/adapters.md §2.2; all carved from TRAIN with ``split_seed``, never from dev):
``D_alpha`` (``alpha_split``, default 20 %, only for adapters with alpha), ``D_val``
(``val_split``, default 0: the optional model-selection split), ``D_ad`` = the rest. The dev
split is the reported evaluation split (GLUE test labels are hidden); it is never used for
any choice. The "best" checkpoint is reported only when ``val_split > 0`` and it is chosen on
``D_val``.

Reproducibility: all randomness of a run (data order, dropout) derives from ``seed``; the
loop runs inside ``torch.random.fork_rng`` so the caller's global RNG is untouched. On CPU a
run interrupted and resumed (``resume=True``) reaches bitwise the same parameters and metrics
as an uninterrupted one (tested).

Multi-process: under ``torchrun --nproc_per_node P`` each step's global batch is split across
the ranks, the adapter step runs through ``DistributedDataParallel`` (gloo on CPU, NCCL on
GPU), the alpha step's gradients are all-reduced explicitly, so every rank applies identical
updates; rank 0 writes files.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from tqdm.auto import tqdm

from .allocation import make_allocator
from .alpha import AlphaOptimizer, CyclingBatches, alpha_statistics
from .batching import LengthGroupedBatches
from .checkpoint import latest_complete, load_checkpoint, save_checkpoint, write_text_atomic
from .config import AdapterConfig
from .data import LazyTokenizedDataset, carve_splits, get_task, load_glue, make_collator
from .inject import adapter_layers, alpha_parameters, inject, named_alpha_parameters, trainable_parameters
from .io import load_adapter, save_adapter
from .layers import ALORA_NOTE, method_names
from .metrics import compute_metrics
from .models import load_model, load_tokenizer
from .optim import LoFT

__all__ = ["TrainConfig", "RunState", "train", "evaluate", "evaluate_run", "default_num_threads"]

OPTIMIZERS = ("adamw", "loft")
ALPHA_MODES = ("alternating", "joint")
#: ``adapter="full"``: full fine-tuning (no adapter, every parameter trained): a reference row
FULL = "full"


def _check(cond: bool, field_name: str, value: Any, allowed: str) -> None:
    if not cond:
        raise ValueError(f"{field_name}={value!r} is invalid: allowed {allowed}")


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on. Validated at construction.

    Defaults follow the paper's recipe (docs/adapters.md §2.2) except where this machine needs
    otherwise (learning rate 5e-4 and batch 32 for MiniLM; docs/models.md).
    """

    task: str
    model: str = "minilm"
    adapter: str = "alpha_lora"
    rank: int = 8
    lora_alpha: float | None = None  # None: = rank (scaling 1, as the official alpha-LoRA code)
    lora_dropout: float = 0.0
    target_modules: tuple[str, ...] | None = None
    epochs: float = 3.0
    max_steps: int | None = None  # overrides epochs when set
    batch_size: int = 32
    eval_batch_size: int = 64
    lr: float = 5e-4
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.99)
    max_grad_norm: float | None = None
    optimizer: str = "adamw"
    alpha_lr: float = 5e-3
    alpha_every: int = 10
    alpha_split: float = 0.2
    alpha_batch_size: int | None = None  # None: = batch_size
    alpha_optimizer: str = "adam"
    alpha_mode: str = "alternating"  # or "joint": alpha in the AdamW step every step (alpha_lr)
    paper_compat: bool = False
    val_split: float = 0.0
    split_seed: int = 42
    seed: int = 0
    max_length: int = 128
    group_by_length: bool = True  # length-grouped train batches, length-sorted evaluation
    eval_every: int | None = None  # evaluate every this many steps (None: at each epoch end)
    subsample: int | None = None
    dev_subsample: int | None = None
    data_dir: str | None = None
    out: str = "runs/run"
    checkpoint_every: int = 100
    keep_checkpoints: int = 2
    stop_after: int | None = None  # stop (as if killed) after this many steps: for resume tests
    num_threads: int | None = None
    bf16: bool = False
    model_dropout: float | None = None  # None: the model's own dropout; else every nn.Dropout p
    allocator_options: dict[str, Any] = field(default_factory=dict)  # rank-allocating adapters
    extra: dict[str, Any] = field(default_factory=dict)  # adapter-specific AdapterConfig fields

    def __post_init__(self) -> None:
        from .data import TASKS

        try:
            get_task(self.task)
        except (ValueError, KeyError, TypeError):
            _check(False, "task", self.task, f"a GLUE task name, one of {sorted(TASKS)}")
        for name in ("rank", "batch_size", "eval_batch_size", "alpha_every",
                     "max_length", "checkpoint_every"):
            v = getattr(self, name)
            _check(isinstance(v, int) and not isinstance(v, bool) and v >= 1, name, v,
                   "a positive integer")
        for name in ("max_steps", "subsample", "dev_subsample", "stop_after", "num_threads",
                     "alpha_batch_size", "eval_every"):
            v = getattr(self, name)
            _check(v is None or (isinstance(v, int) and v >= 1), name, v, "None or an integer >= 1")
        _check(self.epochs > 0 and math.isfinite(self.epochs), "epochs", self.epochs, "> 0")
        _check(self.lr > 0, "lr", self.lr, "> 0")
        _check(self.alpha_lr > 0, "alpha_lr", self.alpha_lr, "> 0")
        _check(self.weight_decay >= 0, "weight_decay", self.weight_decay, ">= 0")
        _check(0.0 < self.alpha_split < 1.0, "alpha_split", self.alpha_split, "the open interval (0, 1)")
        _check(0.0 <= self.val_split < 1.0, "val_split", self.val_split, "[0, 1)")
        _check(self.alpha_split + self.val_split < 1.0, "alpha_split + val_split",
               self.alpha_split + self.val_split, "< 1 (rows must remain for the adapters)")
        _check(0.0 <= self.lora_dropout < 1.0, "lora_dropout", self.lora_dropout, "[0, 1)")
        _check(self.optimizer in OPTIMIZERS, "optimizer", self.optimizer, f"one of {OPTIMIZERS}")
        _check(self.max_grad_norm is None or self.max_grad_norm > 0, "max_grad_norm",
               self.max_grad_norm, "None or > 0")
        _check(self.model_dropout is None or 0.0 <= self.model_dropout < 1.0, "model_dropout",
               self.model_dropout, "None or [0, 1)")
        _check(self.keep_checkpoints >= 1, "keep_checkpoints", self.keep_checkpoints, ">= 1")
        _check(len(self.betas) == 2 and all(0.0 <= b < 1.0 for b in self.betas), "betas",
               self.betas, "two numbers in [0, 1)")
        _check(self.alpha_optimizer in AlphaOptimizer.KINDS, "alpha_optimizer",
               self.alpha_optimizer, f"one of {AlphaOptimizer.KINDS}")
        object.__setattr__(self, "betas", tuple(float(b) for b in self.betas))
        if self.target_modules is not None and not isinstance(self.target_modules, str):
            object.__setattr__(self, "target_modules", tuple(self.target_modules))

        methods = (*method_names(aliases=True), FULL)
        _check(self.adapter in methods, "adapter", self.adapter, f"one of {methods} ({ALORA_NOTE})")
        _check(self.alpha_mode in ALPHA_MODES, "alpha_mode", self.alpha_mode, f"one of {ALPHA_MODES}")
        _check(self.adapter != FULL or (self.optimizer == "adamw" and not self.extra),
               "adapter", self.adapter, "'full' only with optimizer='adamw' and no --extra options")

    @property
    def holds_out_alpha(self) -> bool:
        """Whether ``D_alpha`` is carved from train (alternating alpha optimiser only)."""
        return self.uses_alpha and self.alpha_mode == "alternating"

    @property
    def uses_alpha(self) -> bool:
        """Whether the adapter has alpha vectors (then ``D_alpha`` is carved from train)."""
        return self.adapter.startswith("alpha_")

    #: fields that may differ between an interrupted run and its resumption
    RESUMABLE_CHANGES: ClassVar[tuple[str, ...]] = ("stop_after", "num_threads", "out", "data_dir")

    @property
    def effective_alpha_batch_size(self) -> int:
        return self.batch_size if self.alpha_batch_size is None else self.alpha_batch_size

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (tuples as lists); :meth:`from_json` inverts it."""
        d = dataclasses.asdict(self)
        if isinstance(self.target_modules, tuple):
            d["target_modules"] = list(self.target_modules)
        d["betas"] = list(self.betas)
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown TrainConfig fields {unknown}; allowed: {sorted(known)}")
        d = dict(d)
        if isinstance(d.get("target_modules"), list):
            d["target_modules"] = tuple(d["target_modules"])
        if "betas" in d:
            d["betas"] = tuple(d["betas"])
        return cls(**d)


# ----------------------------------------------------------------------------------------
# distributed helpers
# ----------------------------------------------------------------------------------------
def _dist() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def _init_distributed() -> bool:
    """Initialise the default group when launched by torchrun (WORLD_SIZE > 1)."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    if not torch.distributed.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        torch.distributed.init_process_group(backend=backend)
    return True


def _all_reduce_mean(x: float) -> float:
    rank, world = _dist()
    if world == 1:
        return x
    t = torch.tensor([x], dtype=torch.float64)
    torch.distributed.all_reduce(t)
    return float(t) / world


def _column_key(name: str) -> tuple[int, str]:
    order = {"epoch": 0, "step": 1, "train_loss": 2}
    group = 3 if name.startswith("dev_") else 4 if name.startswith("val_") else 5
    return (order.get(name, group), name)


def _canonical(row: dict[str, Any]) -> dict[str, Any]:
    """A history row with its keys in a fixed order (epoch, step, train_loss, dev_*, val_*,
    the rest sorted), so files are byte-identical whether a run was resumed or not."""
    return {k: row[k] for k in sorted(row, key=_column_key)}


def _csv_text(rows: list[dict[str, Any]]) -> str:
    columns = sorted({k for r in rows for k in r}, key=_column_key)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


# ----------------------------------------------------------------------------------------
# model, data and losses
# ----------------------------------------------------------------------------------------
def _set_dropout(model: torch.nn.Module, p: float) -> None:
    for m in model.modules():
        if isinstance(m, torch.nn.Dropout):
            m.p = p


def _logits(out: Any) -> torch.Tensor:
    return out["logits"] if isinstance(out, dict) else out.logits


def _loss_sum(logits: torch.Tensor, labels: torch.Tensor, regression: bool) -> torch.Tensor:
    """Summed (not averaged) per-row loss: the caller divides by the GLOBAL batch size, so that
    shards of unequal size across processes still give the single-process gradient."""
    logits = logits.float()
    if regression:
        return torch.nn.functional.mse_loss(logits.view(-1), labels.float().view(-1), reduction="sum")
    return torch.nn.functional.cross_entropy(logits, labels, reduction="sum")


def _to(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    return {k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()}


@dataclass
class _Data:
    """Everything the loop reads: train/dev rows (tokenised lazily), the carved index sets, the
    collator."""

    train: LazyTokenizedDataset
    dev: LazyTokenizedDataset
    rows: dict[str, np.ndarray]
    collate: Any
    regression: bool


def _prepare_data(cfg: TrainConfig, tokenizer: Any) -> _Data:
    spec = get_task(cfg.task)
    train_rows = load_glue(spec, "train", cfg.data_dir, subsample=cfg.subsample, seed=cfg.split_seed)
    dev_rows = load_glue(spec, "dev", cfg.data_dir, subsample=cfg.dev_subsample, seed=cfg.split_seed)
    fractions: dict[str, float] = {}
    if cfg.holds_out_alpha:
        fractions["alpha"] = cfg.alpha_split
    if cfg.val_split > 0:
        fractions["val"] = cfg.val_split
    n = len(train_rows)
    if fractions:
        rows = carve_splits(n, fractions, cfg.split_seed)
        if cfg.holds_out_alpha and cfg.paper_compat:
            rows["rest"] = np.setdiff1d(np.arange(n), rows.get("val", np.empty(0, np.int64)))
    else:
        rows = {"rest": np.arange(n, dtype=np.int64)}
    rows["adapter"] = rows.pop("rest")
    return _Data(
        train=LazyTokenizedDataset(train_rows, tokenizer, cfg.max_length),
        dev=LazyTokenizedDataset(dev_rows, tokenizer, cfg.max_length),
        rows=rows,
        collate=make_collator(tokenizer, spec),
        regression=spec.is_regression,
    )


def _build_model(cfg: TrainConfig) -> tuple[torch.nn.Module, Any]:
    tokenizer = load_tokenizer(cfg.model)
    model = load_model(cfg.model, cfg.task, seed=cfg.seed)
    if cfg.model_dropout is not None:
        _set_dropout(model, cfg.model_dropout)
    if cfg.adapter == FULL:
        model.requires_grad_(True)
        return model, tokenizer
    acfg = AdapterConfig(method=cfg.adapter, rank=cfg.rank, lora_alpha=cfg.lora_alpha,
                         dropout=cfg.lora_dropout, target_modules=cfg.target_modules,
                         seed=cfg.seed, **cfg.extra)
    inject(model, acfg)
    return model, tokenizer


def default_num_threads() -> int:
    """Threads a run uses when ``num_threads`` is None: ``$OMP_NUM_THREADS`` when set, else every
    core up to 8 (MiniLM-size models do not get faster beyond that on CPU; on a GPU the number
    only affects the data path)."""
    env = os.environ.get("OMP_NUM_THREADS", "")
    if env.isdigit() and int(env) >= 1:
        return int(env)
    return max(1, min(os.cpu_count() or 1, 8))


def _items(dataset: Any, idx: np.ndarray) -> list[dict[str, Any]]:
    if hasattr(dataset, "prefetch"):
        dataset.prefetch(idx)
    return [dataset[int(i)] for i in idx]


@torch.no_grad()
def evaluate(model: torch.nn.Module, dataset: Any, collate: Any, task: str, *,
             rows: np.ndarray | None = None, batch_size: int = 64, bf16: bool = False,
             sort_by_length: bool = True) -> dict[str, float]:
    """Task metrics (:func:`deep.metrics.compute_metrics`) of ``model`` on ``dataset`` (all rows
    or ``rows``), in eval mode, batched; the model's train/eval mode is restored.

    ``sort_by_length`` (default) batches the rows longest first, so each batch pads to a
    similar length (the metrics do not depend on the order; padding is masked)."""
    idx = np.arange(len(dataset)) if rows is None else np.asarray(rows)
    items = _items(dataset, idx)
    if sort_by_length:
        order = np.argsort([-len(it["input_ids"]) for it in items], kind="stable")
        items = [items[i] for i in order]
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    outs, labels = [], []
    try:
        for start in range(0, len(items), batch_size):
            batch = _to(collate(items[start:start + batch_size]), device)
            y = batch.pop("labels")
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                outs.append(_logits(model(**batch)).float().cpu())
            labels.append(y.cpu())
    finally:
        model.train(was_training)
    logits = torch.cat(outs)
    if logits.shape[-1] == 1:
        logits = logits.view(-1)
    return compute_metrics(task, logits.numpy(), torch.cat(labels).numpy())


# ----------------------------------------------------------------------------------------
# checkpoint contents
# ----------------------------------------------------------------------------------------
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


def _alpha_summary(alphas: list[torch.nn.Parameter]) -> dict[str, float]:
    a = torch.cat([p.detach().reshape(-1).float() for p in alphas])
    return {"alpha_mean": float(a.mean()), "alpha_std": float(a.std(unbiased=False)),
            "alpha_min": float(a.min()), "alpha_max": float(a.max())}


# ----------------------------------------------------------------------------------------
# the run state: everything a checkpoint holds
# ----------------------------------------------------------------------------------------
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


def _make_optimizer(cfg: TrainConfig, model: torch.nn.Module, trainable: list[torch.nn.Parameter],
                    alphas: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
    if cfg.optimizer == "loft":
        return LoFT.from_model(model, exclude=alphas, lr=cfg.lr, betas=cfg.betas,
                               weight_decay=cfg.weight_decay, max_grad_norm=cfg.max_grad_norm)
    groups: list[dict[str, Any]] = [{"params": trainable}]
    if alphas and cfg.alpha_mode == "joint":
        # joint: alpha is one more AdamW group (its own lr, no weight decay: decay would pull it
        # to 0, not to its initial value 1), updated every step on the adapter batches
        groups.append({"params": alphas, "lr": cfg.alpha_lr, "weight_decay": 0.0})
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)


def _make_batches(cfg: TrainConfig, data: _Data) -> Any:
    rows = data.rows["adapter"]
    if cfg.group_by_length:
        return LengthGroupedBatches(rows, data.train.char_lengths, cfg.batch_size, seed=cfg.seed)
    return CyclingBatches(rows, cfg.batch_size, seed=cfg.seed)


# ----------------------------------------------------------------------------------------
# the loop
# ----------------------------------------------------------------------------------------
def train(cfg: TrainConfig, *, resume: bool = False, progress: bool = True) -> dict[str, Any]:
    """Run (or resume) one training run; return the summary written to ``<out>/summary.json``.

    Files under ``cfg.out``: ``config.json``; ``metrics.json`` / ``metrics.csv`` (one row per
    evaluation — each epoch end, or every ``eval_every`` steps — : train loss, dev metrics,
    validation metrics when carved, alpha mean/std); ``steps.csv`` (one row per step: step,
    loss, lr, alpha mean/std/min/max, and the dev/val metrics on evaluation steps);
    ``alpha_stats.json`` (per evaluation and layer: mean/std/min/max of alpha);
    ``checkpoints/`` (atomic, every ``checkpoint_every`` steps; the last ``keep_checkpoints``
    kept); ``adapter/`` (:func:`deep.save_adapter` of the final model; not for
    ``adapter="full"``); ``best_adapter/`` (only with ``val_split > 0``: the evaluation with the
    best validation primary metric); ``summary.json`` (also the time shares of the alpha step
    and of evaluation, and the padded/real token counts of the training batches).

    ``resume=True`` continues from the newest complete checkpoint (a fresh start when there is
    none); the configuration must match the one in ``config.json`` except
    :attr:`TrainConfig.RESUMABLE_CHANGES`. With ``cfg.stop_after = N`` the run stops after
    step ``N`` like a killed process would (no extra checkpoint) and returns
    ``{"status": "stopped", ...}``.
    """
    distributed = _init_distributed()
    rank, world = _dist()
    torch.set_num_threads(cfg.num_threads or default_num_threads())
    out = Path(cfg.out)
    ckpt_root = out / "checkpoints"
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
    spec = get_task(cfg.task)

    start = latest_complete(ckpt_root) if resume else None
    if start is not None:
        _check_resumable(cfg, out / "config.json")
    elif rank == 0:
        if not resume and ckpt_root.exists() and any(ckpt_root.iterdir()):
            raise FileExistsError(f"{out} already holds checkpoints of a run: pass resume=True "
                                  "(--resume) to continue it, or choose another --out")
        write_text_atomic(out / "config.json", json.dumps(cfg.to_json(), indent=1, sort_keys=True) + "\n")

    device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0))) if torch.cuda.is_available() \
        else torch.device("cpu")
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(cfg.seed)
        model, tokenizer = _build_model(cfg)
        data = _prepare_data(cfg, tokenizer)
        model.to(device).train()

        alphas = alpha_parameters(model)
        alpha_ids = {id(p) for p in alphas}  # frozen by AlphaOptimizer only later: exclude here
        trainable = [p for p in model.parameters() if p.requires_grad and id(p) not in alpha_ids]
        steps_per_epoch = math.ceil(data.rows["adapter"].size / cfg.batch_size)
        total_steps = cfg.max_steps or max(1, math.ceil(cfg.epochs * steps_per_epoch))
        eval_every = cfg.eval_every or steps_per_epoch

        optimizer = _make_optimizer(cfg, model, trainable, alphas)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda k: max(0.0, 1.0 - k / total_steps))
        state = RunState(model, optimizer, scheduler, _make_batches(cfg, data),
                         allocator=make_allocator(model, total_steps, **cfg.allocator_options))
        if alphas and cfg.alpha_mode == "alternating":
            state.alpha_opt = AlphaOptimizer(alphas, trainable, every=cfg.alpha_every, lr=cfg.alpha_lr,
                                             betas=cfg.betas, kind=cfg.alpha_optimizer)
            alpha_rows = data.rows["alpha"]
            a_size = min(cfg.effective_alpha_batch_size, alpha_rows.size)
            state.alpha_batches = (
                LengthGroupedBatches(alpha_rows, data.train.char_lengths, a_size, seed=cfg.seed + 7919)
                if cfg.group_by_length else CyclingBatches(alpha_rows, a_size, seed=cfg.seed + 7919))
        ddp_model: torch.nn.Module = model
        if distributed:
            ddp_model = torch.nn.parallel.DistributedDataParallel(
                model, device_ids=[device.index] if device.type == "cuda" else None)
        if start is not None:
            state.load_state_dict(*load_checkpoint(start))
        allocator, alpha_opt = state.allocator, state.alpha_opt

        def batch_loss(net: torch.nn.Module, rows: np.ndarray, total: int) -> torch.Tensor:
            batch = _to(data.collate(_items(data.train, rows[rank::world])), device)
            labels = batch.pop("labels")
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.bf16):
                logits = _logits(net(**batch))
            # mean over the GLOBAL batch; DDP / all_reduce_gradients average over processes
            return _loss_sum(logits, labels, data.regression) * (world / total)

        bar = tqdm(total=total_steps, initial=state.step, desc=f"{cfg.task} {cfg.adapter}",
                   disable=not progress or rank != 0, dynamic_ncols=True)
        t_start = time.perf_counter() - state.timers["loop"]
        while state.step < total_steps:
            rows = next(state.batches)
            lengths = [len(it["input_ids"]) for it in _items(data.train, rows)]
            state.tokens["padded"] += max(lengths) * len(lengths)
            state.tokens["real"] += sum(lengths)
            lr_now = float(scheduler.get_last_lr()[0])
            loss = batch_loss(ddp_model, rows, rows.size)
            reg = allocator.loss() if allocator is not None else None
            (loss if reg is None else loss + reg).backward()
            if cfg.max_grad_norm is not None and cfg.optimizer != "loft":
                torch.nn.utils.clip_grad_norm_(trainable, cfg.max_grad_norm)
            optimizer.step()
            scheduler.step()
            if allocator is not None:

                def current_loss(rows_now: np.ndarray = rows) -> torch.Tensor:
                    with torch.no_grad():
                        return batch_loss(model, rows_now, rows_now.size)

                allocator.step(state.step, loss_fn=current_loss)
            optimizer.zero_grad(set_to_none=True)
            if alpha_opt is not None and alpha_opt.should_step(state.step):
                assert state.alpha_batches is not None
                t_alpha = time.perf_counter()
                arows = next(state.alpha_batches)

                def alpha_loss(arows: np.ndarray = arows) -> torch.Tensor:
                    return batch_loss(model, arows, arows.size)

                alpha_opt.step(alpha_loss, state.step, arows)
                state.timers["alpha"] += time.perf_counter() - t_alpha
            step_loss = _all_reduce_mean(float(loss.detach()))
            state.epoch_loss += step_loss * rows.size  # global mean x rows
            state.epoch_rows += rows.size
            state.step += 1
            step = state.step
            log: dict[str, Any] = {"step": step, "loss": step_loss, "lr": lr_now}
            if alphas:
                log |= _alpha_summary(alphas)
            bar.update(1)
            bar.set_postfix(loss=f"{state.epoch_loss / max(state.epoch_rows, 1):.4f}")

            if step % eval_every == 0 or step == total_steps:
                t_eval = time.perf_counter()
                row = _evaluation_row(cfg, state, data, model, alphas, step, steps_per_epoch)
                state.timers["eval"] += time.perf_counter() - t_eval
                if "val" in data.rows:
                    score = row[f"val_{spec.primary_metric}"]
                    if rank == 0 and (state.best is None or score > state.best["score"]):
                        state.best = {"score": score, "step": step, "epoch": row["epoch"]}
                        if cfg.adapter != FULL:
                            save_adapter(model, out / "best_adapter")
                log |= {k: v for k, v in row.items() if k.startswith(("dev_", "val_"))}
                bar.set_postfix(loss=f"{row['train_loss']:.4f}",
                                **{spec.primary_metric: f"{row[f'dev_{spec.primary_metric}']:.4f}"})
            state.step_log.append(log)
            state.timers["loop"] = time.perf_counter() - t_start
            if step % eval_every == 0 or step == total_steps or step % cfg.checkpoint_every == 0:
                if rank == 0:
                    _write_logs(out, state)
            if (step % cfg.checkpoint_every == 0 or step == total_steps) and rank == 0:
                save_checkpoint(ckpt_root, step, *state.state_dict(), keep=cfg.keep_checkpoints)
            if cfg.stop_after is not None and step >= cfg.stop_after and step < total_steps:
                bar.close()
                return {"status": "stopped", "step": step}
        bar.close()

        loop = state.timers["loop"]
        counts = trainable_parameters(model)
        if cfg.adapter == FULL:  # the adapter/head grouping does not apply: count what trained
            counts["total_trainable"] = sum(p.numel() for p in trainable)
        summary = {
            "status": "done",
            "config": cfg.to_json(),
            "steps": total_steps,
            "steps_per_epoch": steps_per_epoch,
            "rows": {k: int(v.size) for k, v in data.rows.items()} | {"dev": len(data.dev)},
            "final": _canonical(state.history[-1]),
            "best_on_val": state.best,
            "trainable_parameters": counts,
            "seconds": loop,
            "alpha_seconds": state.timers["alpha"],
            "alpha_share": state.timers["alpha"] / loop if loop > 0 else 0.0,
            "eval_seconds": state.timers["eval"],
            "eval_share": state.timers["eval"] / loop if loop > 0 else 0.0,
            "train_tokens": {"padded": int(state.tokens["padded"]), "real": int(state.tokens["real"])},
            "rows_tokenized": data.train.n_tokenized,
            "world_size": world,
        }
        if rank == 0:
            if cfg.adapter != FULL:
                save_adapter(model, out / "adapter")
            write_text_atomic(out / "summary.json", json.dumps(summary, indent=1, sort_keys=True) + "\n")
    return summary


def _evaluation_row(cfg: TrainConfig, state: RunState, data: _Data, model: torch.nn.Module,
                    alphas: list[torch.nn.Parameter], step: int, steps_per_epoch: int) -> dict[str, Any]:
    """One row of ``metrics.csv``: train loss since the last evaluation, dev (and val) metrics,
    alpha statistics, active rank; appended to the history (and the alpha log)."""
    row: dict[str, Any] = {"epoch": round(step / steps_per_epoch, 4), "step": step,
                           "train_loss": state.epoch_loss / max(state.epoch_rows, 1)}
    kw: dict[str, Any] = {"batch_size": cfg.eval_batch_size, "bf16": cfg.bf16,
                          "sort_by_length": cfg.group_by_length}
    for k, v in evaluate(model, data.dev, data.collate, cfg.task, **kw).items():
        row[f"dev_{k}"] = v
    if "val" in data.rows:
        for k, v in evaluate(model, data.train, data.collate, cfg.task, rows=data.rows["val"], **kw).items():
            row[f"val_{k}"] = v
    if alphas:
        stats = alpha_statistics(named_alpha_parameters(model))
        row["alpha_mean"] = float(np.mean([s["mean"] for s in stats.values()]))
        row["alpha_std"] = float(np.mean([s["std"] for s in stats.values()]))
        state.alpha_log.append({"step": step, "epoch": row["epoch"], "layers": stats})
    if state.allocator is not None:
        row["active_rank"] = int(sum(state.allocator.ranks().values()))
    state.history.append(row)
    state.epoch_loss, state.epoch_rows = 0.0, 0
    return row


STEP_COLUMNS = ("step", "loss", "lr", "alpha_mean", "alpha_std", "alpha_min", "alpha_max")


def _write_logs(out: Path, state: RunState) -> None:
    history = [_canonical(r) for r in state.history]
    write_text_atomic(out / "metrics.json", json.dumps(history, indent=1) + "\n")
    write_text_atomic(out / "metrics.csv", _csv_text(history))
    if state.alpha_log:
        write_text_atomic(out / "alpha_stats.json", json.dumps(state.alpha_log, indent=1) + "\n")
    extra = sorted({k for r in state.step_log for k in r} - set(STEP_COLUMNS))
    columns = [c for c in STEP_COLUMNS if any(c in r for r in state.step_log)] + extra
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n", restval="")
    writer.writeheader()
    writer.writerows(state.step_log)
    write_text_atomic(out / "steps.csv", buf.getvalue())


def _check_resumable(cfg: TrainConfig, path: Path) -> None:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing, cannot check that --resume continues the same run")
    saved = json.loads(path.read_text())
    now = cfg.to_json()
    diff = sorted(k for k in set(saved) | set(now)
                  if k not in TrainConfig.RESUMABLE_CHANGES and saved.get(k) != now.get(k))
    if diff:
        details = ", ".join(f"{k}: {saved.get(k)!r} -> {now.get(k)!r}" for k in diff)
        raise ValueError(f"--resume: the configuration differs from {path} ({details}); allowed "
                         f"to change: {TrainConfig.RESUMABLE_CHANGES}")


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
        model, tokenizer = _build_model(cfg)
    load_adapter(model, adapter_dir)
    spec = get_task(cfg.task)
    rows = load_glue(spec, split, cfg.data_dir,
                     subsample=cfg.dev_subsample if split in ("dev", "validation") else None,
                     seed=cfg.split_seed)
    dataset = LazyTokenizedDataset(rows, tokenizer, cfg.max_length)
    return evaluate(model, dataset, make_collator(tokenizer, spec), cfg.task, batch_size=batch_size)

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

import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from .allocation import make_allocator
from .alpha import AlphaOptimizer, CyclingBatches, alpha_statistics
from .batching import LengthGroupedBatches
from .checkpoint import latest_complete, load_checkpoint, save_checkpoint, write_text_atomic
from .config import TrainConfig
from .data import LazyTokenizedDataset, TaskSpec, carve_splits, get_task, load_glue, make_collator
from .distributed import all_reduce_mean, init_distributed
from .distributed import world as world_info
from .evaluate import batch_items, build_model, evaluate, evaluate_run, logits_of, to_device
from .inject import alpha_parameters, head_parameters, named_alpha_parameters, trainable_parameters
from .io import save_adapter
from .optim import LoFT
from .runlog import canonical, write_logs
from .state import RunState, check_resumable

__all__ = ["TrainConfig", "RunState", "train", "evaluate", "evaluate_run", "default_num_threads"]


# ------------------------------------------------------------------ data, losses, optimisers


def _loss_sum(logits: torch.Tensor, labels: torch.Tensor, regression: bool) -> torch.Tensor:
    """Summed (not averaged) per-row loss: the caller divides by the GLOBAL batch size, so that
    shards of unequal size across processes still give the single-process gradient."""
    logits = logits.float()
    if regression:
        return torch.nn.functional.mse_loss(logits.view(-1), labels.float().view(-1), reduction="sum")
    return torch.nn.functional.cross_entropy(logits, labels, reduction="sum")


@dataclass
class _Data:
    """Everything the loop reads: train/dev rows (tokenised lazily), the carved index sets, the
    collator."""

    train: LazyTokenizedDataset
    dev: LazyTokenizedDataset
    rows: dict[str, np.ndarray]
    collate: Any
    spec: TaskSpec  # the task, resolved once


def _prepare_data(cfg: TrainConfig, tokenizer: Any, spec: TaskSpec) -> _Data:
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
        spec=spec,
    )


def default_num_threads() -> int:
    """Threads a run uses when ``num_threads`` is None: ``$OMP_NUM_THREADS`` when set, else every
    core up to 8 (MiniLM-size models do not get faster beyond that on CPU; on a GPU the number
    only affects the data path)."""
    env = os.environ.get("OMP_NUM_THREADS", "")
    if env.isdigit() and int(env) >= 1:
        return int(env)
    return max(1, min(os.cpu_count() or 1, 8))


def _alpha_summary(alphas: list[torch.nn.Parameter]) -> dict[str, float]:
    a = torch.cat([p.detach().reshape(-1).float() for p in alphas])
    return {"alpha_mean": float(a.mean()), "alpha_std": float(a.std(unbiased=False)),
            "alpha_min": float(a.min()), "alpha_max": float(a.max())}


def _make_optimizer(cfg: TrainConfig, model: torch.nn.Module, trainable: list[torch.nn.Parameter],
                    alphas: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
    if cfg.optimizer == "loft":
        return LoFT.from_model(model, exclude=alphas, lr=cfg.lr, betas=cfg.betas,
                               weight_decay=cfg.weight_decay, max_grad_norm=cfg.max_grad_norm)
    groups: list[dict[str, Any]] = [{"params": trainable}]
    if cfg.head_lr is not None:  # the head in its own group (the scheduler scales both)
        head = {id(p) for p in head_parameters(model)}
        groups = [{"params": [p for p in trainable if id(p) not in head]},
                  {"params": [p for p in trainable if id(p) in head], "lr": cfg.head_lr}]
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


# ------------------------------------------------------------------ the loop
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
    distributed = init_distributed()
    rank, world = world_info()
    torch.set_num_threads(cfg.num_threads or default_num_threads())
    out = Path(cfg.out)
    ckpt_root = out / "checkpoints"
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
    spec = get_task(cfg.task)

    start = latest_complete(ckpt_root) if resume else None
    if start is not None:
        check_resumable(cfg, out / "config.json")
    elif rank == 0:
        if not resume and ckpt_root.exists() and any(ckpt_root.iterdir()):
            raise FileExistsError(f"{out} already holds checkpoints of a run: pass resume=True "
                                  "(--resume) to continue it, or choose another --out")
        write_text_atomic(out / "config.json", json.dumps(cfg.to_json(), indent=1, sort_keys=True) + "\n")

    device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0))) if torch.cuda.is_available() \
        else torch.device("cpu")
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(cfg.seed)
        model, tokenizer = build_model(cfg)
        data = _prepare_data(cfg, tokenizer, spec)
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
                         allocator=make_allocator(model, total_steps, **cfg.allocator.values))
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

        def batch_loss(net: torch.nn.Module, items: list[dict[str, Any]], total: int) -> torch.Tensor:
            """Loss of this process's share of a GLOBAL batch of ``total`` rows (its items)."""
            batch = to_device(data.collate(items), device)
            labels = batch.pop("labels")
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.bf16):
                logits = logits_of(net(**batch))
            # mean over the GLOBAL batch; DDP / all_reduce_gradients average over processes
            return _loss_sum(logits, labels, data.spec.is_regression) * (world / total)

        bar = tqdm(total=total_steps, initial=state.step, desc=f"{cfg.task} {cfg.method}",
                   disable=not progress or rank != 0, dynamic_ncols=True)
        t_start = time.perf_counter() - state.timers["loop"]
        while state.step < total_steps:
            rows = next(state.batches)
            items = batch_items(data.train, rows)  # the global batch, tokenised once
            lengths = [len(it["input_ids"]) for it in items]
            state.tokens["padded"] += max(lengths) * len(lengths)
            state.tokens["real"] += sum(lengths)
            lr_now = float(scheduler.get_last_lr()[0])
            mine = items[rank::world]
            loss = batch_loss(ddp_model, mine, rows.size)
            reg = allocator.loss() if allocator is not None else None
            (loss if reg is None else loss + reg).backward()
            if cfg.max_grad_norm is not None and cfg.optimizer != "loft":
                torch.nn.utils.clip_grad_norm_(trainable, cfg.max_grad_norm)
            optimizer.step()
            scheduler.step()
            if allocator is not None:

                def current_loss(mine: list[dict[str, Any]] = mine, total: int = rows.size) -> torch.Tensor:
                    with torch.no_grad():
                        return batch_loss(model, mine, total)

                allocator.step(state.step, loss_fn=current_loss)
            optimizer.zero_grad(set_to_none=True)
            if alpha_opt is not None and alpha_opt.should_step(state.step):
                assert state.alpha_batches is not None
                t_alpha = time.perf_counter()
                arows = next(state.alpha_batches)

                aitems = batch_items(data.train, arows[rank::world])

                def alpha_loss(aitems: list[dict[str, Any]] = aitems, total: int = arows.size) \
                        -> torch.Tensor:
                    return batch_loss(model, aitems, total)

                alpha_opt.step(alpha_loss, state.step, arows)
                state.timers["alpha"] += time.perf_counter() - t_alpha
            step_loss = all_reduce_mean(float(loss.detach()))
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
                        if cfg.adapter is not None:
                            save_adapter(model, out / "best_adapter")
                log |= {k: v for k, v in row.items() if k.startswith(("dev_", "val_"))}
                bar.set_postfix(loss=f"{row['train_loss']:.4f}",
                                **{spec.primary_metric: f"{row[f'dev_{spec.primary_metric}']:.4f}"})
            state.step_log.append(log)
            state.timers["loop"] = time.perf_counter() - t_start
            if step % eval_every == 0 or step == total_steps or step % cfg.checkpoint_every == 0:
                if rank == 0:
                    write_logs(out, state)
            if (step % cfg.checkpoint_every == 0 or step == total_steps) and rank == 0:
                save_checkpoint(ckpt_root, step, *state.state_dict(), keep=cfg.keep_checkpoints)
            if cfg.stop_after is not None and step >= cfg.stop_after and step < total_steps:
                bar.close()
                return {"status": "stopped", "step": step}
        bar.close()

        loop = state.timers["loop"]
        counts = trainable_parameters(model)
        if cfg.adapter is None:  # the adapter/head grouping does not apply: count what trained
            counts["total_trainable"] = sum(p.numel() for p in trainable)
        summary = {
            "status": "done",
            "config": cfg.to_json(),
            "steps": total_steps,
            "steps_per_epoch": steps_per_epoch,
            "rows": {k: int(v.size) for k, v in data.rows.items()} | {"dev": len(data.dev)},
            "final": canonical(state.history[-1]),
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
            if cfg.adapter is not None:
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
    for k, v in evaluate(model, data.dev, data.collate, data.spec, **kw).items():
        row[f"dev_{k}"] = v
    if "val" in data.rows:
        for k, v in evaluate(model, data.train, data.collate, data.spec, rows=data.rows["val"], **kw).items():
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



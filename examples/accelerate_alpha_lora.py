"""alpha-LoRA on GLUE RTE with Hugging Face Accelerate (any number of processes, CPU or GPU).

    accelerate launch --cpu --num_processes 1 examples/accelerate_alpha_lora.py --max-steps 20
    accelerate launch --multi_gpu --num_processes 2 examples/accelerate_alpha_lora.py \\
        --model minilm --data-dir ../shared/data/glue --max-steps 300 --mixed-precision bf16
    python examples/accelerate_alpha_lora.py --max-steps 20          # one process, no launcher
    ACCELERATE_USE_CPU=1 torchrun --nproc_per_node 2 examples/accelerate_alpha_lora.py  # 2 CPU

What it shows (docs/adapters.md §2.2): the adapter optimiser (AdamW over the low-rank factors
and the head, linear decay) goes through ``accelerator.prepare`` like any optimiser; the alpha
vectors are frozen for it and stepped by :class:`deep.alpha.AlphaOptimizer` every
``--alpha-every`` steps on batches of a held-out 20 % of TRAIN. The alpha step runs on the
unwrapped model (outside DistributedDataParallel): every process evaluates its slice of the
same alpha batch and ``AlphaOptimizer`` averages the alpha gradients over processes, so all
processes keep identical alphas. Prints one JSON line (main process) with the losses, the
alpha statistics and the dev accuracy.
"""

from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np
import torch
from accelerate import Accelerator
from accelerate.utils import set_seed

from deep import AdapterConfig, alpha_parameters, inject, named_alpha_parameters
from deep.alpha import AlphaOptimizer, CyclingBatches, alpha_statistics, split_for_alpha
from deep.data import load_glue, make_collator, tokenize
from deep.metrics import accuracy
from deep.models import load_model, load_tokenizer


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="tiny-roberta",
                   help="short name (tiny-roberta, minilm, smollm2), local folder or hub name")
    p.add_argument("--data-dir", default=None, help="GLUE folder holding RTE/train.tsv, dev.tsv")
    p.add_argument("--method", default="alpha_lora", help="an alpha method: alpha_lora, ...")
    p.add_argument("--rank", type=int, default=8)
    p.add_argument("--max-steps", type=int, default=100)
    p.add_argument("--batch-size", type=int, default=16, help="per process")
    p.add_argument("--alpha-batch-size", type=int, default=32, help="global, split over processes")
    p.add_argument("--alpha-every", type=int, default=10, help="T: alpha step when step %% T == 0")
    p.add_argument("--alpha-split", type=float, default=0.2)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--alpha-lr", type=float, default=5e-3)
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--max-grad-norm", type=float, default=1.0)
    p.add_argument("--max-length", type=int, default=128)
    p.add_argument("--subsample", type=int, default=None, help="train rows to keep")
    p.add_argument("--dev-subsample", type=int, default=None, help="dev rows to evaluate")
    p.add_argument("--mixed-precision", default="no", choices=("no", "bf16", "fp16"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--split-seed", type=int, default=42)
    p.add_argument("--output", default=None, help="also write the JSON summary here")
    return p.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    accelerator = Accelerator(mixed_precision=args.mixed_precision)
    set_seed(args.seed)  # data order and dropout; identical on every process
    rank, world = accelerator.process_index, accelerator.num_processes

    # model, adapters, data (alpha rows carved from TRAIN; dev is only evaluated)
    tokenizer = load_tokenizer(args.model)
    model = load_model(args.model, "rte", seed=args.seed)
    inject(model, AdapterConfig(method=args.method, rank=args.rank, seed=args.seed))
    train = load_glue("rte", "train", args.data_dir, subsample=args.subsample, seed=args.seed)
    dev = load_glue("rte", "dev", args.data_dir, subsample=args.dev_subsample, seed=args.seed)
    adapter_rows, alpha_rows = split_for_alpha(len(train), args.alpha_split, args.split_seed)
    adapter_ds = tokenize(train.select(adapter_rows), tokenizer, args.max_length)
    alpha_ds = tokenize(train.select(alpha_rows), tokenizer, args.max_length)
    dev_ds = tokenize(dev, tokenizer, args.max_length)
    collate = make_collator(tokenizer, "rte")

    # optimisers: AlphaOptimizer first (it freezes alpha), then AdamW over what still trains
    alphas = alpha_parameters(model)
    ids = {id(a) for a in alphas}
    others = [p for p in model.parameters() if p.requires_grad and id(p) not in ids]
    alpha_opt = AlphaOptimizer(alphas, others, every=args.alpha_every, lr=args.alpha_lr)
    optimizer = torch.optim.AdamW(others, lr=args.lr, betas=(0.9, 0.99),
                                  weight_decay=args.weight_decay)
    n = args.max_steps
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda k: max(0.0, (n - k) / n))
    loader = torch.utils.data.DataLoader(adapter_ds, batch_size=args.batch_size, shuffle=True,
                                         collate_fn=collate, drop_last=True,
                                         generator=torch.Generator().manual_seed(args.seed))
    dev_loader = torch.utils.data.DataLoader(dev_ds, batch_size=64, collate_fn=collate)
    model, optimizer, loader, dev_loader, scheduler = accelerator.prepare(
        model, optimizer, loader, dev_loader, scheduler)
    bare = accelerator.unwrap_model(model)
    alpha_batches = CyclingBatches(np.arange(len(alpha_ds)),
                                   min(args.alpha_batch_size, len(alpha_ds)), seed=args.split_seed)

    def alpha_loss(rows: np.ndarray) -> torch.Tensor:
        mine = rows[rank::world]  # this process's slice of the shared alpha batch
        batch = {k: v.to(accelerator.device)
                 for k, v in collate([alpha_ds[int(i)] for i in mine]).items()}
        with accelerator.autocast():
            return bare(**batch).loss

    losses, start = [], time.time()
    model.train()
    batches = iter(loader)
    for step in range(args.max_steps):
        try:
            batch = next(batches)
        except StopIteration:  # next epoch
            batches = iter(loader)
            batch = next(batches)
        loss = model(**batch).loss
        accelerator.backward(loss)
        if args.max_grad_norm > 0:
            accelerator.clip_grad_norm_(others, args.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(float(accelerator.reduce(loss.detach(), "mean")))
        if alpha_opt.should_step(step):
            rows = next(alpha_batches)
            alpha_opt.step(lambda rows=rows: alpha_loss(rows), step=step, batch_rows=rows)

    # evaluation on GLUE dev (the reported split; never used for any choice here)
    model.eval()
    preds, labels = [], []
    with torch.no_grad():
        for batch in dev_loader:
            logits = model(**{k: v for k, v in batch.items() if k != "labels"}).logits
            p, y = accelerator.gather_for_metrics((logits.argmax(-1), batch["labels"]))
            preds.append(p.cpu())
            labels.append(y.cpu())
    stats = alpha_statistics(named_alpha_parameters(bare))
    flat = torch.cat([a.detach().float().flatten() for a in alphas]).to(accelerator.device)
    every_rank = accelerator.gather(flat[None]).cpu()  # (processes, total alpha entries)
    summary = {
        "model": args.model, "method": args.method, "processes": world,
        "mixed_precision": args.mixed_precision, "steps": args.max_steps,
        "adapter_rows": len(adapter_ds), "alpha_rows": len(alpha_ds), "dev_rows": len(dev_ds),
        "first_loss": losses[0], "last_loss": losses[-1],
        "alpha_steps": [r.step for r in alpha_opt.history],
        "alpha_losses": [r.loss for r in alpha_opt.history],
        "alpha_mean": float(np.mean([s["mean"] for s in stats.values()])),
        "alpha_min": min(s["min"] for s in stats.values()),
        "alpha_max": max(s["max"] for s in stats.values()),
        "alpha_same_on_all_processes": bool((every_rank == every_rank[0]).all()),
        "alpha_dtype": str(alphas[0].dtype),
        "dev_accuracy": accuracy(torch.cat(preds).numpy(), torch.cat(labels).numpy()),
        "seconds": round(time.time() - start, 2),
    }
    assert all(math.isfinite(v) for v in summary["alpha_losses"])
    if accelerator.is_main_process:
        print(json.dumps(summary))
        if args.output:
            with open(args.output, "w") as f:
                json.dump(summary, f, indent=1)
    accelerator.end_training()
    return summary


if __name__ == "__main__":
    main()

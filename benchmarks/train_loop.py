"""The project's training loop (``deep.train``) against a minimal PEFT + AdamW loop, in ONE process.

    python benchmarks/train_loop.py --quick [--json PATH]     # < 5 min on 2 cores
    python benchmarks/train_loop.py --steps 100 --repeats 3

Both loops train MiniLM with rank-8 LoRA on query/value, the same rows, batch size and max
length, pad-to-longest collation, AdamW with linear decay. The baseline is hand-written: PEFT's
``get_peft_model`` + ``torch.optim.AdamW``, the batches precomputed and tokenised outside the
timed loop (so it pays nothing but forward, backward and the optimiser step). The project loop
is timed by its own ``summary.json`` (``seconds`` minus ``eval_seconds``: the step loop with its
per-step log, excluding model loading and evaluation). Variants run interleaved, ``--repeats``
rounds; the median per-round ratio is reported.

Keys of ``--json`` (and the printed table):

* ``lora_vs_peft_loop``: steps/s of ``deep.train`` (lora, bucketing OFF = the same random
  batches and padding as the PEFT loop) / steps/s of the PEFT loop, SST-2. Target >= 0.97.
* ``bucketed_speedup``: steps/s of ``deep.train`` lora with length-grouped batches / without,
  SST-2. Target >= 1.8.
* ``alpha_lora_vs_lora``: loop time of alpha_lora (alternating, T = 10, alpha batch = batch
  size) / lora, both bucketed, SST-2, over the SAME adapter batches (the benchmark runs
  alpha_lora with ``paper_compat=True`` so that carving ``D_alpha`` does not change which rows
  the adapter batches hold). Target <= 1.12.
* per task and variant: steps/s, real tokens/s, padded/real token ratio; the alpha step's
  share of the loop.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def peft_loop(task: str, steps: int, batch_size: int, max_length: int, seed: int, model: str,
              data_dir: str | None) -> dict[str, float]:
    """The baseline: PEFT LoRA + torch AdamW over CyclingBatches(seed) batches (random, unsorted)."""
    from peft import LoraConfig, get_peft_model

    from deep.alpha import CyclingBatches
    from deep.data import get_task, load_glue, make_collator, tokenize
    from deep.models import load_model, load_tokenizer

    tok = load_tokenizer(model)
    rows = load_glue(task, "train", data_dir)
    sampler = CyclingBatches(np.arange(len(rows)), batch_size, seed=seed)
    idx = [next(sampler) for _ in range(steps)]
    used = np.unique(np.concatenate(idx))
    ds = tokenize(rows.select(used), tok, max_length)
    where = {int(r): j for j, r in enumerate(used)}
    collate = make_collator(tok, task)
    batches = [collate([ds[where[int(i)]] for i in b]) for b in idx]
    torch.manual_seed(seed)
    net = load_model(model, task, seed=seed)
    targets = ["q_proj", "v_proj"] if net.config.model_type == "llama" else ["query", "value"]
    net = get_peft_model(net, LoraConfig(r=8, lora_alpha=8, target_modules=targets,
                                         modules_to_save=["classifier"]))
    net.train()
    params = [p for p in net.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=5e-4, betas=(0.9, 0.99), weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: max(0.0, 1.0 - k / steps))
    regression = get_task(task).is_regression
    t0 = time.perf_counter()
    for b in batches:
        b = dict(b)
        y = b.pop("labels")
        logits = net(**b).logits.float()
        if regression:
            loss = torch.nn.functional.mse_loss(logits.view(-1), y)
        else:
            loss = torch.nn.functional.cross_entropy(logits, y)
        loss.backward()
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        float(loss.detach())  # the project loop logs the loss every step: same sync
    seconds = time.perf_counter() - t0
    real = sum(int(b["attention_mask"].sum()) for b in batches)
    padded = sum(int(b["attention_mask"].numel()) for b in batches)
    return {"seconds": seconds, "steps": steps, "real_tokens": real, "padded_tokens": padded,
            "alpha_share": 0.0}


def project_loop(task: str, adapter: str, grouped: bool, steps: int, batch_size: int, max_length: int,
                 seed: int, model: str, data_dir: str | None) -> dict[str, float]:
    from deep.train import TrainConfig, train

    with tempfile.TemporaryDirectory() as d:
        cfg = TrainConfig.from_flat(task=task, model=model, adapter=adapter, rank=8, max_steps=steps,
                                    batch_size=batch_size, max_length=max_length, lr=5e-4, seed=seed,
                                    group_by_length=grouped, checkpoint_every=10**9, dev_subsample=16,
                                    eval_every=10**9, out=str(Path(d) / "run"), data_dir=data_dir,
                                    num_threads=torch.get_num_threads(),
                                    # D_alpha rows stay adapter rows too, so alpha_lora's adapter
                                    # batches are exactly lora's and the ratio times the alpha
                                    # step alone (with disjoint rows the batches, hence their
                                    # token counts, differ by chance: +22 % tokens at 30 steps)
                                    paper_compat=adapter != "lora")
        s = train(cfg, progress=False)
    return {"seconds": s["seconds"] - s["eval_seconds"], "steps": steps,
            "real_tokens": s["train_tokens"]["real"], "padded_tokens": s["train_tokens"]["padded"],
            "alpha_share": s["alpha_share"]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="SST-2 only, 30 steps, 2 rounds")
    p.add_argument("--tasks", nargs="+", default=None)
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--repeats", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--max-length", type=int, default=128)
    p.add_argument("--model", default="minilm")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--json", default=None, help="write the figures to this path")
    a = p.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    tasks = a.tasks or (["sst2"] if a.quick else ["sst2", "rte"])
    steps = a.steps or (30 if a.quick else 100)
    repeats = a.repeats or (2 if a.quick else 3)
    variants = [("peft", None, False), ("lora", "lora", False), ("lora_bucketed", "lora", True),
                ("alpha_lora", "alpha_lora", False), ("alpha_lora_bucketed", "alpha_lora", True)]
    runs: dict[tuple[str, str], list[dict[str, float]]] = {}
    for r in range(repeats):
        for task in tasks:
            for name, adapter, grouped in variants:  # interleaved: every round runs all variants
                kw = dict(steps=steps, batch_size=a.batch_size, max_length=a.max_length, seed=r,
                          model=a.model, data_dir=a.data_dir)
                res = peft_loop(task, **kw) if adapter is None else project_loop(task, adapter, grouped, **kw)
                runs.setdefault((task, name), []).append(res)
                print(f"round {r} {task:5s} {name:20s} {res['steps'] / res['seconds']:7.2f} steps/s",
                      file=sys.stderr, flush=True)

    def ratio(task: str, num: str, den: str, inverse: bool = False) -> float:
        rs = [x["seconds"] / y["seconds"] for x, y in zip(runs[(task, num)], runs[(task, den)], strict=True)]
        med = statistics.median(rs)
        return med if inverse else 1.0 / med  # steps/s ratio = inverse time ratio

    out: dict[str, Any] = {"steps": steps, "repeats": repeats, "batch_size": a.batch_size,
                           "max_length": a.max_length, "threads": torch.get_num_threads(), "tasks": {}}
    for task in tasks:
        t: dict[str, Any] = {}
        for name, _, _ in variants:
            rs = runs[(task, name)]
            sec = statistics.median(x["seconds"] for x in rs)
            t[name] = {"steps_per_s": steps / sec,
                       "real_tokens_per_s": statistics.median(x["real_tokens"] / x["seconds"] for x in rs),
                       "padding_ratio": rs[0]["padded_tokens"] / rs[0]["real_tokens"],
                       "alpha_share": statistics.median(x["alpha_share"] for x in rs)}
        t["lora_vs_peft_loop"] = ratio(task, "lora", "peft")
        t["bucketed_speedup"] = ratio(task, "lora_bucketed", "lora")
        t["alpha_lora_vs_lora"] = ratio(task, "alpha_lora_bucketed", "lora_bucketed", inverse=True)
        out["tasks"][task] = t
    main_task = "sst2" if "sst2" in tasks else tasks[0]
    for key in ("lora_vs_peft_loop", "bucketed_speedup", "alpha_lora_vs_lora"):
        out[key] = out["tasks"][main_task][key]
    targets = {"lora_vs_peft_loop": (">=", 0.97), "bucketed_speedup": (">=", 1.8),
               "alpha_lora_vs_lora": ("<=", 1.12)}
    print(f"\ntrain loop, {a.model}, batch {a.batch_size}, max length {a.max_length}, {steps} steps x "
          f"{repeats} rounds, {out['threads']} threads")
    for task in tasks:
        print(f"\n{task}: variant, steps/s, real tokens/s, padded/real tokens, alpha share")
        for name, _, _ in variants:
            v = out["tasks"][task][name]
            print(f"  {name:20s} {v['steps_per_s']:7.2f} {v['real_tokens_per_s']:9.0f} "
                  f"{v['padding_ratio']:6.2f} {v['alpha_share']:6.3f}")
        for key, (op, target) in targets.items():
            val = out["tasks"][task][key]
            ok = val >= target if op == ">=" else val <= target
            print(f"  {key:20s} {val:6.3f}  (target {op} {target}: {'ok' if ok else 'MISSED'})")
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

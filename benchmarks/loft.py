"""LoFT vs LoRA + AdamW: training-step time and peak memory, printed as ratios to AdamW.

Model (default ``--model linears``): a stack of ``--layers`` frozen 768 × 768 linear layers
(GELU between them), each with a LoRA pair ``W = W0 + B A`` (scaling 1, ``B = 0`` at init),
plus a trainable 2-class head on the mean-pooled output; batch 8 × 128 tokens. With
``--model roberta`` a random roberta-base-shaped encoder (hidden 768, 4 layers, 12 heads; no
download) gets PEFT LoRA on query/value with ``lora_alpha = r``.

Both optimisers see the same trainable tensors (LoRA factors + head). Step = forward +
backward + optimiser step, median over ``--steps`` steps after ``--warmup`` warm-up steps,
methods interleaved step by step so machine noise hits both alike. The ``opt`` columns time
``optimizer.step()`` alone. Peak memory: on CUDA ``torch.cuda.max_memory_allocated`` during the
measured steps; on CPU a fresh subprocess per (method, rank) reports the growth of the peak
resident set (``VmHWM`` reset through ``/proc/self/clear_refs``) over its resident set just
before training — a coarse number dominated by activations. The exact optimiser-state size
is printed as well. Target (issue 7): LoFT step time ≤ 1.3 × LoRA + AdamW.

    python benchmarks/loft.py [--ranks 1 4 8] [--layers 4] [--steps 8] [--threads 2]
    python benchmarks/loft.py --model roberta --ranks 8
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import warnings

import torch
import torch.nn.functional as F
from torch import nn

from deep.optim import LoFT

METHODS = ("adamw", "loft")


class LoRALinear(nn.Module):
    """Frozen ``W0 (out × in)``, bias; trainable ``lora_A (r × in)``, ``lora_B (out × r) = 0``."""

    def __init__(self, n: int, r: int, gen: torch.Generator) -> None:
        super().__init__()
        self.register_buffer("weight", torch.randn(n, n, generator=gen) / n**0.5)
        self.register_buffer("bias", torch.zeros(n))
        self.lora_A = nn.Parameter(torch.randn(r, n, generator=gen) / n**0.5)
        self.lora_B = nn.Parameter(torch.zeros(n, r))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight, self.bias) + F.linear(F.linear(x, self.lora_A), self.lora_B)


class LinearStack(nn.Module):
    def __init__(self, n: int, r: int, layers: int, seed: int) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.layers = nn.ModuleList(LoRALinear(n, r, gen) for _ in range(layers))
        self.head = nn.Linear(n, 2)
        with torch.no_grad():
            self.head.weight.copy_(torch.randn(2, n, generator=gen) / n**0.5)
            self.head.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x) if i == 0 else layer(F.gelu(x))
        return self.head(x.mean(dim=1))


def build(model_kind: str, r: int, layers: int, seed: int, device: str):
    """Model, a loss closure over one fixed batch (8 × 128 tokens)."""
    gen = torch.Generator().manual_seed(seed + 1)
    labels = torch.randint(0, 2, (8,), generator=gen).to(device)
    if model_kind == "linears":
        model = LinearStack(768, r, layers, seed).to(device)
        x = torch.randn(8, 128, 768, generator=gen).to(device)

        def loss_fn() -> torch.Tensor:
            return F.cross_entropy(model(x), labels)
    else:
        import peft
        from transformers import RobertaConfig, RobertaForSequenceClassification

        cfg = RobertaConfig(hidden_size=768, num_hidden_layers=layers, num_attention_heads=12,
                            intermediate_size=3072, num_labels=2, vocab_size=1000,
                            max_position_embeddings=160)
        torch.manual_seed(seed)  # benchmark script: HF/PEFT draw their init from the global RNG
        base = RobertaForSequenceClassification(cfg)
        lcfg = peft.LoraConfig(r=r, lora_alpha=r, target_modules=["query", "value"],
                               lora_dropout=0.0, modules_to_save=["classifier"])
        model = peft.get_peft_model(base, lcfg).to(device)
        ids = torch.randint(3, 1000, (8, 128), generator=gen).to(device)

        def loss_fn() -> torch.Tensor:
            return F.cross_entropy(model(input_ids=ids).logits, labels)
    model.train()
    return model, loss_fn


def make_optimizer(method: str, model: nn.Module, lr: float = 1e-4) -> torch.optim.Optimizer:
    if method == "loft":
        return LoFT.from_model(model, lr=lr, weight_decay=0.01)
    params = [p for p in model.parameters() if p.requires_grad]
    return torch.optim.AdamW(params, lr=lr, weight_decay=0.01)


def state_bytes(opt: torch.optim.Optimizer) -> int:
    return sum(v.numel() * v.element_size() for st in opt.state.values()
               for v in st.values() if isinstance(v, torch.Tensor))


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def one_step(model, loss_fn, opt, device: str) -> tuple[float, float]:
    sync(device)
    t0 = time.perf_counter()
    opt.zero_grad(set_to_none=True)
    loss_fn().backward()
    sync(device)
    t1 = time.perf_counter()
    opt.step()
    sync(device)
    t2 = time.perf_counter()
    return t2 - t0, t2 - t1


def time_rank(args, r: int) -> dict[str, dict[str, float]]:
    runs = {}
    for m in METHODS:
        model, loss_fn = build(args.model, r, args.layers, args.seed, args.device)
        runs[m] = (model, loss_fn, make_optimizer(m, model))
    for _ in range(args.warmup):
        for m in METHODS:
            one_step(*runs[m], args.device)
    times: dict[str, list[tuple[float, float]]] = {m: [] for m in METHODS}
    peak: dict[str, float] = {}
    for k in range(args.steps):
        order = METHODS if k % 2 == 0 else METHODS[::-1]
        for m in order:
            times[m].append(one_step(*runs[m], args.device))
    if args.device.startswith("cuda"):
        for m in METHODS:
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
            one_step(*runs[m], args.device)
            peak[m] = (torch.cuda.max_memory_allocated() - base) / 2**20
    out = {}
    for m in METHODS:
        out[m] = {
            "step_s": statistics.median(t for t, _ in times[m]),
            "opt_s": statistics.median(o for _, o in times[m]),
            "state_mib": state_bytes(runs[m][2]) / 2**20,
            "n_trainable": sum(p.numel() for p in runs[m][0].parameters() if p.requires_grad),
        }
        if m in peak:
            out[m]["peak_mib"] = peak[m]
    return out


def _read_status(key: str) -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return float(line.split()[1]) / 1024.0   # kB -> MiB
    raise KeyError(key)


def memory_child(args) -> None:
    """Subprocess body: peak RSS growth (MiB) of ``args.steps`` steps of one method."""
    torch.set_num_threads(args.threads)
    model, loss_fn = build(args.model, args.child_rank, args.layers, args.seed, "cpu")
    opt = make_optimizer(args.child_method, model)
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")                                   # reset VmHWM to the current RSS
    base = _read_status("VmRSS")
    for _ in range(args.warmup + args.steps):
        one_step(model, loss_fn, opt, "cpu")
    print(json.dumps({"peak_growth_mib": _read_status("VmHWM") - base}))


def memory_rank(args, r: int) -> dict[str, float]:
    if not os.path.exists("/proc/self/clear_refs"):
        return {}
    out = {}
    for m in METHODS:
        cmd = [sys.executable, __file__, "--model", args.model, "--layers", str(args.layers),
               "--seed", str(args.seed), "--threads", str(args.threads), "--warmup", "1",
               "--steps", "2", "--child-method", m, "--child-rank", str(r)]
        res = subprocess.run(cmd, capture_output=True, text=True, check=True)
        out[m] = json.loads(res.stdout.strip().splitlines()[-1])["peak_growth_mib"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", choices=("linears", "roberta"), default="linears")
    ap.add_argument("--ranks", type=int, nargs="+", default=[1, 4, 8])
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--no-memory", action="store_true", help="skip the CPU memory subprocesses")
    ap.add_argument("--child-method", choices=METHODS, help=argparse.SUPPRESS)
    ap.add_argument("--child-rank", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    warnings.filterwarnings("ignore", category=FutureWarning)   # transformers deprecations
    if args.child_method:
        memory_child(args)
        return
    torch.set_num_threads(args.threads)
    print(f"LoFT vs LoRA+AdamW | model={args.model} layers={args.layers} width=768 batch=8x128 "
          f"| torch {torch.__version__} | {platform.processor() or platform.machine()} "
          f"| device={args.device} threads={torch.get_num_threads()} | median of {args.steps}")
    head = (f"{'rank':>4} {'method':>6} {'trainable':>10} {'step s':>8} {'ratio':>6} "
            f"{'opt ms':>8} {'state MiB':>9} {'peak MiB':>9} {'ratio':>6}")
    print(head)
    ratios = []
    for r in args.ranks:
        res = time_rank(args, r)
        mem = {} if (args.no_memory or args.device != "cpu") else memory_rank(args, r)
        for m in METHODS:
            res[m].setdefault("peak_mib", mem.get(m, float("nan")))
        base = res["adamw"]
        for m in METHODS:
            row = res[m]
            ratio = row["step_s"] / base["step_s"]
            mratio = row["peak_mib"] / base["peak_mib"] if base["peak_mib"] > 0 else float("nan")
            print(f"{r:>4} {m:>6} {row['n_trainable']:>10,} {row['step_s']:>8.3f} {ratio:>6.2f} "
                  f"{1e3 * row['opt_s']:>8.2f} {row['state_mib']:>9.3f} {row['peak_mib']:>9.1f} "
                  f"{mratio:>6.2f}")
        ratios.append(res["loft"]["step_s"] / base["step_s"])
    worst = max(ratios)
    print(f"worst LoFT / AdamW step-time ratio: {worst:.2f} (target <= 1.30: "
          f"{'met' if worst <= 1.3 else 'NOT met'})")


if __name__ == "__main__":
    main()

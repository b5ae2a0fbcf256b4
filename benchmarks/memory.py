"""Peak CPU memory of one SmolLM2-135M training step: fp32 vs quantized frozen base, LoRA vs
alpha-LoRA (``deep.quant.inject``, r=8 on q_proj/v_proj, sequence-classification head).

Method (honest on CPU, where tracemalloc does not see torch's allocator): every configuration
runs in a FRESH subprocess that loads the model, quantizes it, injects the adapter and runs one
warm-up step; then it returns freed heap pages to the OS (``malloc_trim``), reads the resident
set (``VmRSS``: "resident"), resets the kernel's high-water mark (``/proc/self/clear_refs``
``5``) and runs one measured forward + backward + AdamW step; the new high-water mark
(``VmHWM``) is the peak. Also reported: the bytes of the model's own tensors (parameters and
quantized storage, counted from the tensors, not the process).

    python benchmarks/memory.py [--batch 4 --length 128] [--json benchmarks/memory.json]

Ratios are against the fp32 LoRA row. Linux only (``/proc``). One thread.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

CONFIGS = [(q, m) for q in ("fp32", "int8", "nf4") for m in ("lora", "alpha_lora")]


def _proc(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(field)


def _tensor_bytes(model) -> int:
    import torch

    seen, total = set(), 0

    def add(t):
        nonlocal total
        if t is None or id(t) in seen:
            return
        seen.add(id(t))
        names = getattr(t, "tensor_data_names", None)
        if names:  # torchao subclass: its inner tensors
            for n in names:
                add(getattr(t, n))
            return
        total += t.numel() * t.element_size()
        qs = getattr(t, "quant_state", None)
        if qs is not None:
            for a in ("absmax", "code"):
                add(getattr(qs, a, None))
            st2 = getattr(qs, "state2", None)
            if st2 is not None:
                add(getattr(st2, "absmax", None))

    for p in model.parameters():
        add(p)
    for b in model.buffers():
        add(b)
    del torch
    return total


def child(quantizer: str, method: str, batch: int, length: int) -> dict:
    import ctypes
    import warnings

    warnings.simplefilter("ignore")
    import torch

    torch.set_num_threads(1)
    from deep import AdapterConfig, quant
    from deep.models import load_model

    model = load_model("smollm2", 2, seed=0)
    if quantizer == "int8":
        quant.quantize_int8(model)
    elif quantizer == "nf4":
        quant.quantize_nf4(model)
    quant.inject(model, AdapterConfig(method=method, rank=8, seed=0,
                                      target_modules=("q_proj", "v_proj")))
    model.train()
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(3, 49152, (batch, length), generator=g)
    inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids),
              "labels": torch.randint(0, 2, (batch,), generator=g)}
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)

    def step():
        loss = model(**inputs).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return float(loss)

    step()  # warm-up: optimiser state, allocator pools
    import gc

    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    resident = _proc("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    t0 = time.perf_counter()
    step()
    seconds = time.perf_counter() - t0
    peak = _proc("VmHWM")
    return {"quantizer": quantizer, "method": method, "resident_bytes": resident,
            "peak_bytes": peak, "step_extra_bytes": peak - resident,
            "model_tensor_bytes": _tensor_bytes(model), "step_seconds": seconds}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--length", type=int, default=128)
    ap.add_argument("--json", default=None)
    ap.add_argument("--child", nargs=2, metavar=("QUANTIZER", "METHOD"), help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child:
        print(json.dumps(child(a.child[0], a.child[1], a.batch, a.length)))
        return 0
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    rows = []
    for q, m in CONFIGS:
        out = subprocess.run([sys.executable, __file__, "--child", q, m, "--batch", str(a.batch),
                              "--length", str(a.length)], env=env, capture_output=True,
                             text=True, check=True)
        row = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(f"{q:5s} {m:11s} resident {row['resident_bytes'] / 2**20:7.1f} MiB  peak "
              f"{row['peak_bytes'] / 2**20:7.1f} MiB  tensors {row['model_tensor_bytes'] / 2**20:6.1f}"
              f" MiB  step {row['step_seconds']:.1f} s", flush=True)
    base = next(r for r in rows if r["quantizer"] == "fp32" and r["method"] == "lora")
    ratios = {}
    for r in rows:
        key = f"{r['quantizer']}_{r['method']}"
        ratios[key] = {k: r[k] / base[k] for k in ("peak_bytes", "resident_bytes",
                                                     "model_tensor_bytes")}
    for q in ("fp32", "int8", "nf4"):
        lo = next(r for r in rows if r["quantizer"] == q and r["method"] == "lora")
        al = next(r for r in rows if r["quantizer"] == q and r["method"] == "alpha_lora")
        ratios[f"{q}_alpha_lora_vs_lora"] = {"peak_bytes": al["peak_bytes"] / lo["peak_bytes"]}
    for k, v in ratios.items():
        print(f"{k:26s} " + "  ".join(f"{n} {x:.3f}" for n, x in v.items()))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"model": "smollm2-135m (LlamaForSequenceClassification, 2 labels)",
                       "batch": a.batch, "length": a.length, "threads": 1,
                       "adapter": "r=8 on q_proj, v_proj; head trained; AdamW",
                       "measure": "fresh process per row; peak = VmHWM after clear_refs during "
                                  "one fwd+bwd+AdamW step after a warm-up step; resident = "
                                  "VmRSS before it (after malloc_trim)",
                       "rows": rows, "ratios_vs_fp32_lora": ratios}, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Command line: ``python -m deep train ...`` and ``python -m deep eval ...``.

Examples::

    python -m deep train --task rte --model minilm --adapter alpha_lora --rank 8 \\
        --epochs 3 --seed 0 --out runs/rte
    python -m deep train ... --out runs/rte --resume          # continue an interrupted run
    torchrun --nproc_per_node 2 -m deep train ...            # data-parallel (gloo on CPU)
    python -m deep eval --run runs/rte [--split dev]          # metrics of the saved adapter
    python -m deep plot --run runs/rte                        # learning curve, alpha trajectory

Every :class:`deep.train.TrainConfig` field is a flag (``--alpha-every 10``, ``--val-split
0.1``, ``--target-modules query value``, ``--extra share_alpha=true``). The GLUE folder is
``--data-dir`` or ``$RESCALORA_GLUE_DIR`` (see :func:`deep.data.resolve_glue_dir`).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from . import cli
from .config import TrainConfig, flat_fields

_HELP = {
    "task": "GLUE task: rte, mrpc, sst2, cola, stsb, qnli, mnli, mnli_mm, qqp",
    "model": "short name (minilm, smollm2, tiny-roberta, tiny-bert, tiny-llama), local HF folder "
             "or hub name (online only)",
    "adapter": "adapter method: lora, dora, olora, adalora, lora2, alora (= ablation_alora: ALoRA, "
               "Allocating LoRA, not PEFT's Activated LoRA), each also with the alpha_ prefix "
               "(alpha_lora = alpha-LoRA); full = full fine-tuning",
    "rank": "LoRA rank r (initial rank for adalora/lora2/alora)",
    "lora_alpha": "LoRA scaling numerator, s = lora_alpha / r (default: = rank, i.e. s = 1)",
    "lora_dropout": "dropout on the adapter input",
    "target_modules": "module names or dotted suffixes to adapt, or all-linear (default: query "
                      "value for bert/roberta, q_proj v_proj for llama)",
    "epochs": "training epochs over the adapter split",
    "batch_size": "rows per adapter step",
    "eval_batch_size": "rows per evaluation batch",
    "lr": "AdamW (or LoFT) learning rate of adapters and head",
    "head_lr": "AdamW learning rate of the task head (default: --lr). A new head on pooled "
               "features of small spread needs large weights (README, Study v2)",
    "weight_decay": "AdamW weight decay",
    "betas": "AdamW betas (two numbers)",
    "max_grad_norm": "clip the adapter gradients to this norm (default: no clipping)",
    "optimizer": "adamw or loft",
    "alpha_lr": "learning rate of the alpha optimiser",
    "alpha_optimizer": "optimiser of the alpha step",
    "paper_compat": "the official code's overlap: D_alpha rows are also adapter rows",
    "split_seed": "seed of the alpha / validation / subsample splits of TRAIN",
    "seed": "seed of the run (data order, dropout, adapter and head init)",
    "max_length": "tokens per row (longer rows are truncated)",
    "checkpoint_every": "write a checkpoint every this many steps (and at the end)",
    "keep_checkpoints": "complete checkpoints kept",
    "bf16": "bfloat16 autocast (GPU)",
    "data_dir": "GLUE folder with RTE/, MRPC/, ... (default: $RESCALORA_GLUE_DIR, then "
                "../shared/data/glue)",
    "out": "run directory (config, metrics, checkpoints, adapter)",
    "max_steps": "total adapter steps (default: from --epochs)",
    "alpha_every": "T: one alpha step every T adapter steps",
    "alpha_split": "fraction of TRAIN held out for the alpha optimiser",
    "val_split": "fraction of TRAIN held out for model selection (0: none)",
    "subsample": "train on at most this many (seeded) training rows (default: all)",
    "dev_subsample": "evaluate on at most this many (seeded) dev rows (default: all)",
    "stop_after": "stop after this many steps as if killed (to test --resume)",
    "model_dropout": "override the p of every dropout module of the base model (default: the "
                     "model's own)",
    "extra": "extra AdapterConfig fields, KEY=VALUE (VALUE parsed as JSON when possible), e.g. "
             "share_alpha=true, scale_bias=false, alpha_init=1.0, init=gaussian, train_head=false",
    "allocator_options": "options of deep.allocation.make_allocator, KEY=VALUE",
    "group_by_length": "length-grouped train batches and length-sorted evaluation",
    "eval_every": "evaluate every this many steps (default: at each epoch end)",
    "alpha_batch_size": "rows per alpha step (default: --batch-size)",
    "alpha_mode": "alternating (paper: alpha every T steps on D_alpha) or joint (alpha in the "
                  "AdamW step every step, lr --alpha-lr)",
    "num_threads": "torch threads (default: $OMP_NUM_THREADS, else all cores up to 8)",
}


def _kv(text: str) -> tuple[str, Any]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"{text!r}: expected KEY=VALUE")
    key, value = text.split("=", 1)
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def _add_config_flags(parser: argparse.ArgumentParser) -> None:
    for name, kind, default in flat_fields():
        flag = "--" + name.replace("_", "-")
        help_ = _HELP.get(name, "")
        if name == "task":
            parser.add_argument(flag, required=True, help=_HELP["task"])
        elif kind == "bool":
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default, help=help_)
        elif kind.startswith("dict"):
            parser.add_argument(flag, type=_kv, action="append", default=None, metavar="KEY=VALUE",
                                help=_HELP.get(name, ""))
        elif kind.startswith("tuple[float"):
            parser.add_argument(flag, type=float, nargs=2, default=default, help=help_)
        elif kind.startswith("tuple[str"):
            parser.add_argument(flag, nargs="+", default=default, help=help_ or "module names")
        else:
            base = kind.split("|")[0].strip()
            conv = {"int": int, "float": float, "str": str}[base]
            parser.add_argument(flag, type=conv, default=default, help=help_)


def _config_from_args(args: argparse.Namespace) -> TrainConfig:
    values: dict[str, Any] = {}
    for name, kind, _ in flat_fields():
        v = getattr(args, name)
        if kind.startswith("dict"):
            v = dict(v or [])
        elif isinstance(v, list):
            v = tuple(v)
        if name == "target_modules" and v == ("all-linear",):
            v = "all-linear"
        values[name] = v
    return TrainConfig.from_flat(**values)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m deep", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_train = sub.add_parser("train", help="fine-tune a model on a GLUE task",
                             formatter_class=cli.HelpFormatter)
    _add_config_flags(p_train)
    for action in p_train._actions:  # a field without a help text would hide its default
        if not action.help and action.dest != "help":
            action.help = f"TrainConfig.{action.dest}"
    p_train.add_argument("--resume", action="store_true",
                         help="continue from the newest complete checkpoint under --out")
    p_train.add_argument("--no-progress", action="store_true", help="no progress bar")
    p_eval = sub.add_parser("eval", help="metrics of a finished run's saved adapter",
                            formatter_class=cli.HelpFormatter)
    p_eval.add_argument("--run", required=True, help="run directory written by 'train'")
    p_eval.add_argument("--split", default="dev", help="GLUE split")
    p_eval.add_argument("--data-dir", default=None, help=_HELP["data_dir"])
    p_eval.add_argument("--adapter", default="adapter", help="adapter sub-folder: adapter or "
                        "best_adapter")
    p_eval.add_argument("--batch-size", type=int, default=64, help="rows per evaluation batch")
    p_plot = sub.add_parser("plot", help="learning-curve and alpha-trajectory PNGs of a run")
    p_plot.add_argument("--run", required=True, help="run directory written by 'train'")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _run(args)
    except cli.UsageError as exc:  # a bad argument: one line, no traceback
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    if args.command == "train":
        from .train import train

        cli.check_extra(dict(args.extra or []))
        try:
            cfg = _config_from_args(args)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        cli.check_train_args(args)
        restored = False
        if args.resume:
            start, lines = cli.resume_report(args.out)
            restored = start is not None
            for line in lines:
                print(line, file=sys.stderr)
        cli.show_model_messages(not restored)  # the new-head line, unless a head is restored
        with cli.usage_errors(args.model, args.data_dir, args.out):
            summary = train(cfg, resume=args.resume, progress=not args.no_progress)
        if summary.get("status") == "done":
            print(json.dumps({"final": summary["final"],
                              "trainable_parameters": summary["trainable_parameters"]}, indent=1))
        else:
            print(json.dumps(summary))
        return 0
    if args.command == "plot":
        from .plots import plot_run

        try:
            paths = plot_run(args.run)
        except (FileNotFoundError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        for p in paths:
            print(p)
        return 0
    from .train import evaluate_run

    cli.check_run(args.run, args.adapter)
    cli.show_model_messages(False)  # the run's saved head is restored
    with cli.usage_errors(args.run, args.data_dir, model_argument="--run"):
        metrics = evaluate_run(args.run, args.split, data_dir=args.data_dir, adapter=args.adapter,
                               batch_size=args.batch_size)
    print(json.dumps(metrics, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

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
import dataclasses
import json
import sys
from collections.abc import Sequence
from typing import Any

from .train import TrainConfig

_HELP = {
    "task": "GLUE task: rte, mrpc, sst2, cola, stsb, qnli, mnli, mnli_mm, qqp",
    "model": "short name (minilm, smollm2, tiny-roberta, tiny-bert, tiny-llama), local HF folder "
             "or hub name (online only)",
    "adapter": "adapter method, e.g. lora, alpha_lora, dora, alpha_dora, olora, adalora, ...; "
               "full = full fine-tuning",
    "data_dir": "GLUE folder with RTE/, MRPC/, ... (default: $RESCALORA_GLUE_DIR, then "
                "../shared/data/glue)",
    "out": "run directory (config, metrics, checkpoints, adapter)",
    "max_steps": "total adapter steps (overrides --epochs)",
    "alpha_every": "T: one alpha step every T adapter steps",
    "alpha_split": "fraction of TRAIN held out for the alpha optimiser",
    "val_split": "fraction of TRAIN held out for model selection (0: none)",
    "subsample": "train on at most this many (seeded) training rows",
    "dev_subsample": "evaluate on at most this many (seeded) dev rows",
    "stop_after": "stop after this many steps as if killed (to test --resume)",
    "model_dropout": "override the p of every dropout module of the base model",
    "extra": "extra AdapterConfig fields, KEY=VALUE (VALUE parsed as JSON when possible)",
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
    for f in dataclasses.fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        kind = str(f.type)
        default = None if f.default is dataclasses.MISSING else f.default
        help_ = _HELP.get(f.name, "") + (f" (default: {default})" if default is not None else "")
        if f.name == "task":
            parser.add_argument(flag, required=True, help=_HELP["task"])
        elif kind == "bool":
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default, help=help_)
        elif kind.startswith("dict"):
            parser.add_argument(flag, type=_kv, action="append", default=None, metavar="KEY=VALUE",
                                help=_HELP.get(f.name, ""))
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
    for f in dataclasses.fields(TrainConfig):
        v = getattr(args, f.name)
        if str(f.type).startswith("dict"):
            v = dict(v or [])
        elif isinstance(v, list):
            v = tuple(v)
        if f.name == "target_modules" and v == ("all-linear",):
            v = "all-linear"
        values[f.name] = v
    return TrainConfig(**values)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m deep", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_train = sub.add_parser("train", help="fine-tune a model on a GLUE task",
                             formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    _add_config_flags(p_train)
    p_train.add_argument("--resume", action="store_true",
                         help="continue from the newest complete checkpoint under --out")
    p_train.add_argument("--no-progress", action="store_true", help="no progress bar")
    p_eval = sub.add_parser("eval", help="metrics of a finished run's saved adapter")
    p_eval.add_argument("--run", required=True, help="run directory written by 'train'")
    p_eval.add_argument("--split", default="dev", help="GLUE split (default: dev)")
    p_eval.add_argument("--data-dir", default=None, help=_HELP["data_dir"])
    p_eval.add_argument("--adapter", default="adapter", help="adapter sub-folder: adapter or "
                        "best_adapter")
    p_eval.add_argument("--batch-size", type=int, default=64)
    p_plot = sub.add_parser("plot", help="learning-curve and alpha-trajectory PNGs of a run")
    p_plot.add_argument("--run", required=True, help="run directory written by 'train'")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "train":
        from .train import train

        try:
            cfg = _config_from_args(args)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
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

    metrics = evaluate_run(args.run, args.split, data_dir=args.data_dir, adapter=args.adapter,
                           batch_size=args.batch_size)
    print(json.dumps(metrics, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

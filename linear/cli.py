"""``rescalora`` command line (console entry point ``rescalora = linear.cli:main``).

    rescalora run                 # main job: Figure 1, alpha* curves, Table 1 (honest + paper)
    rescalora all                 # + Figure 3 and the study of honest alpha estimators
    rescalora figure1|alpha-star|table1|figure3|study [options]

Options: ``--out DIR`` (default ``figures/out``), ``--quick`` (small sizes/seeds, seconds),
``--seeds K`` (Monte-Carlo seeds), ``--batches B`` (Amazon splits per seed), ``--n-jobs J``
(joblib workers, default -1 = all cores), ``--split stratified|permutation`` (split policy of
the Amazon protocols), ``--no-progress``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

__all__ = ["main", "build_parser"]

_CHOICES = ("run", "all", "figure1", "alpha-star", "table1", "figure3", "study")


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}") from exc
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {v}")
    return v


def _jobs(text: str) -> int:
    try:
        v = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected an integer (-1 = all cores), got {text!r}") \
            from exc
    if v == 0 or v < -1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1 or -1, got {v}")
    return v


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="rescalora",
        description="alpha-LoRA linear experiments: theory vs Monte-Carlo and the honest "
                    "Amazon Review protocol. Results (PNG 150 dpi + CSV) go to --out.",
    )
    p.add_argument("job", choices=_CHOICES, nargs="?", default="run",
                   help="run = main job (figure1, alpha-star, table1); all = every job")
    p.add_argument("--out", type=Path, default=Path("figures/out"), help="output folder")
    p.add_argument("--quick", action="store_true", help="small sizes and few seeds (seconds)")
    p.add_argument("--seeds", type=_positive_int, default=None,
                   help="Monte-Carlo seeds of the synthetic figures (default 20; quick 5)")
    p.add_argument("--batches", type=_positive_int, default=None,
                   help="Amazon splits per seed, seeds (1, 123, 404) (default 10; quick 2)")
    p.add_argument("--n-jobs", type=_jobs, default=-1,
                   help="joblib workers (default -1: all cores; each worker uses one BLAS thread)")
    p.add_argument("--split", choices=("stratified", "permutation"), default="stratified",
                   help="split policy of the Amazon protocols: stratified (class proportions "
                        "kept, default) or a plain random permutation; written in every title "
                        "and CSV")
    p.add_argument("--no-progress", action="store_true", help="no progress bars or messages")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    from .tasks import MAIN_JOB, TASKS, Options

    args = build_parser().parse_args(argv)
    opts = Options(out=args.out, quick=args.quick, seeds=args.seeds, batches=args.batches,
                   n_jobs=args.n_jobs, progress=not args.no_progress,
                   stratify=args.split == "stratified")
    jobs = {"run": MAIN_JOB, "all": tuple(TASKS)}.get(args.job, (args.job,))
    t0 = time.perf_counter()
    for name in jobs:
        if opts.progress:
            print(f"[rescalora] {name} ...", flush=True)
        res = TASKS[name](opts)
        if opts.progress:
            print(f"[rescalora] {name}: {res['seconds']:.1f} s -> "
                  + ", ".join(str(p) for p in res["paths"]), flush=True)
    if opts.progress:
        print(f"[rescalora] done in {time.perf_counter() - t0:.1f} s; results in {opts.out}",
              flush=True)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

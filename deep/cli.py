"""Argument checks and one-line errors of the command line (``python -m deep``).

A mistake in what the user passed (a data folder, a model folder, an output folder, an
``--extra`` option) ends the command with ONE line on stderr, naming the argument, the value and
what is allowed, and exit code 2, never with a traceback::

    error: --data-dir /data/glue: /data/glue/SST-2/train.tsv: no data rows after the header; allowed: ...

:func:`check_train_args` runs before anything is created (cheap checks: folders, file heads,
option names); :func:`usage_errors` turns the data and model errors that can only be seen
later (while :func:`deep.train.train` reads them) into the same kind of line. Errors that are
not about the arguments (bugs) keep their traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["UsageError", "check_out", "check_extra", "check_data", "check_model",
           "check_train_args", "check_run", "resume_report", "usage_errors", "show_model_messages"]

#: AdapterConfig fields set by their own flags (not through ``--extra``)
_OWN_FLAGS = {"method": "--adapter", "rank": "--rank", "lora_alpha": "--lora-alpha",
              "dropout": "--lora-dropout", "target_modules": "--target-modules", "seed": "--seed"}


class UsageError(Exception):
    """A bad command-line value: ``argument value: problem; allowed: ...`` (one line)."""

    def __init__(self, argument: str, value: Any, problem: str, allowed: str | None = None) -> None:
        self.argument, self.value, self.problem, self.allowed = argument, value, problem, allowed
        text = f"{argument} {value}: {problem}" + (f"; allowed: {allowed}" if allowed else "")
        super().__init__(" ".join(text.split()))  # one line, whatever the parts held


class HelpFormatter(argparse.HelpFormatter):
    """Each default shown once: ``(default: X)`` is appended unless the help already states the
    default (in words, or ``BooleanOptionalAction``'s own suffix), the option is required, or
    its default is None (the help then says what None means)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if ("(default" in text or action.required
                or action.default is None or action.default is argparse.SUPPRESS):
            return text
        return text + " (default: %(default)s)"


def check_out(value: str, argument: str = "--out") -> None:
    """``value`` must be a folder that can be created and written (it is created here)."""
    path = Path(value).expanduser()
    allowed = "a folder you can write to (created when missing)"
    if path.exists() and not path.is_dir():
        raise UsageError(argument, value, "is a file, not a folder", allowed)
    parent = next((p for p in (path, *path.parents) if p.exists()), None)
    if parent is not None and not parent.is_dir():
        raise UsageError(argument, value, f"{parent} is a file, not a folder", allowed)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as err:
        raise UsageError(argument, value, f"not writable ({err.strerror or err})", allowed) from None


def check_extra(extra: dict[str, Any], argument: str = "--extra") -> None:
    """``--extra`` keys must be :class:`deep.AdapterConfig` fields without a flag of their own."""
    from .config import AdapterConfig

    names = [f.name for f in dataclasses.fields(AdapterConfig)]
    allowed = [n for n in names if n not in _OWN_FLAGS]
    for key, value in extra.items():
        if key in _OWN_FLAGS:
            raise UsageError(argument, f"{key}={value!r}", f"{key} has its own flag, "
                             f"{_OWN_FLAGS[key]}", f"KEY=VALUE with KEY one of {allowed}")
        if key not in names:
            raise UsageError(argument, f"{key}={value!r}", f"unknown AdapterConfig option {key!r}",
                             f"KEY=VALUE with KEY one of {allowed}")


def _first_data_line(path: Path, header: bool) -> str | None:
    """The first non-empty data line of a TSV (after the header when there is one)."""
    with open(path, encoding="utf-8-sig", errors="replace") as fh:
        seen_header = not header
        for line in fh:
            if not seen_header:
                seen_header = True
                continue
            if line.strip():
                return line
    return None


def check_data(task: str, data_dir: str | None, splits: tuple[str, ...] = ("train", "dev"),
               argument: str = "--data-dir") -> None:
    """The GLUE folder (``data_dir``, else ``$RESCALORA_GLUE_DIR``, else the shared folder)
    must hold the task's files for ``splits``, each with at least one data row. Without any
    local folder nothing is checked here (the hub fallback reports its own errors)."""
    from .data import ENV_GLUE_DIR, get_task

    spec = get_task(task)
    value = data_dir if data_dir is not None else os.environ.get(ENV_GLUE_DIR) or None
    shown = value if value is not None else "(unset)"
    allowed = (f"a GLUE folder holding {spec.dir_name}/{spec.files['train']} and "
               f"{spec.dir_name}/{spec.files['dev']} (default: ${ENV_GLUE_DIR}, then "
               "../shared/data/glue)")
    if value is not None and not Path(value).expanduser().is_dir():
        raise UsageError(argument, shown, "no such folder", allowed)
    from .data import resolve_glue_dir

    root = resolve_glue_dir(data_dir)
    if root is None:
        return
    for split in splits:
        f = root / spec.dir_name / spec.files[split]
        if not f.is_file():
            raise UsageError(argument, root, f"{f} is missing", allowed)
        if _first_data_line(f, header=spec.columns is None) is None:
            raise UsageError(argument, root, f"{f} has no data rows"
                             + (" after the header" if spec.columns is None else ""),
                             "a TSV with at least one row")


def check_model(name: str, argument: str = "--model") -> None:
    """A short name, an existing Hugging Face folder (config.json and tokenizer files) or a
    hub name (checked when it is loaded)."""
    from .models import ModelNotAvailable, check_local_folder, resolve_model

    try:
        kind, loc = resolve_model(name)
        if kind == "local":
            check_local_folder(loc, "model")
            check_local_folder(loc, "tokenizer")
    except (ModelNotAvailable, ValueError) as err:
        raise UsageError(argument, name, str(err)) from None


def check_train_args(args: Any) -> None:
    """Every cheap check of ``python -m deep train`` (nothing is created before they pass,
    except the ``--out`` folder itself, checked last)."""
    check_extra(dict(args.extra or []))
    check_model(args.model)
    check_data(args.task, args.data_dir)
    check_out(args.out)


def check_run(run: str, adapter: str) -> None:
    """``eval``: ``--run`` must be a finished run folder holding ``--adapter``."""
    path = Path(run)
    if not (path / "config.json").is_file():
        raise UsageError("--run", run, "not a training run folder (no config.json)",
                         "a folder written by 'python -m deep train --out'")
    if not (path / adapter).is_dir():
        have = sorted(p.name for p in path.iterdir() if (p / "rescalora_adapter.json").is_file())
        raise UsageError("--adapter", adapter, f"no such adapter folder in {run}",
                         f"one of {have}" if have else "a run that finished (adapter/ is "
                         "written at the end)")


def resume_report(out: str) -> tuple[Path | None, list[str]]:
    """``(checkpoint that --resume will continue from or None, lines to print)``: the newest
    checkpoint under ``<out>/checkpoints`` whose files match their manifest (as
    :func:`deep.checkpoint.latest_complete`), and a warning for each newer one skipped."""
    from .checkpoint import CheckpointError, verify

    root = Path(out) / "checkpoints"
    lines: list[str] = []
    candidates = sorted(root.glob("step-?????????"), reverse=True) if root.is_dir() else []
    for cand in candidates:
        try:
            manifest = verify(cand)
        except CheckpointError as err:
            lines.append(f"warning: --resume: skipped {cand} ({' '.join(str(err).split())})")
            continue
        lines.append(f"--resume: continuing from {cand} (step {manifest.get('step', '?')})")
        return cand, lines
    lines.append(f"--resume: no complete checkpoint under {root}; starting a new run")
    return None, lines


@contextlib.contextmanager
def usage_errors(model: str | None = None, data_dir: str | None = None,
                 out: str | None = None, *, model_argument: str = "--model") -> Iterator[None]:
    """Turn the argument errors found while running into :class:`UsageError`: missing or
    malformed GLUE data (``--data-dir``), a model that cannot be loaded (``model_argument``,
    value ``model``), an output folder that already holds a run or cannot be written
    (``--out``)."""
    from .data import ENV_GLUE_DIR, GlueDataNotFound, GlueFormatError
    from .models import ModelNotAvailable

    try:
        yield
    except (GlueDataNotFound, GlueFormatError) as err:
        shown = data_dir if data_dir is not None else os.environ.get(ENV_GLUE_DIR) or "(unset)"
        raise UsageError("--data-dir", shown, str(err)) from None
    except ModelNotAvailable as err:
        raise UsageError(model_argument, model, str(err)) from None
    except ValueError as err:  # train(resume=True) on a run made with other settings
        if out is None or not str(err).startswith("--resume"):
            raise
        raise UsageError("--resume", f"(--out {out})", str(err).removeprefix("--resume:")) from None
    except (FileExistsError, PermissionError) as err:
        where = os.fspath(getattr(err, "filename", "") or "")
        if out is None or not (isinstance(err, FileExistsError) and "checkpoints" in str(err)
                               or where.startswith(os.fspath(out))):
            raise
        raise UsageError("--out", out, str(err)) from None


class _StderrLine(logging.Handler):
    """Print a record as one line on the CURRENT sys.stderr (pytest swaps it per test)."""

    def emit(self, record: logging.LogRecord) -> None:
        print(f"{self.format(record)}", file=sys.stderr)


_HANDLER = _StderrLine()


def show_model_messages(show: bool) -> None:
    """Show (``True``) or hide the INFO lines of ``deep.models`` (the new-head line)."""
    logger = logging.getLogger("deep.models")
    if _HANDLER not in logger.handlers:
        logger.addHandler(_HANDLER)
    logger.propagate = False
    logger.setLevel(logging.INFO if show else logging.WARNING)

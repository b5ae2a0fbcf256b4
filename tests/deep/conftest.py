"""Tiny random transformers for the deep tests (built in-process, no downloads).

Sizes: hidden 32, 2 layers, 4 heads (LLaMA: 2 key/value heads, so ``v_proj`` is 32 -> 16),
intermediate 64, vocabulary 100, 3 labels. Dropout is off in the configs so that train-mode
forwards are deterministic. Linear biases are drawn N(0, 0.1²) (HF's zero biases would hide bias
mistakes). Models are built under ``torch.random.fork_rng`` with a fixed seed:
the same ``seed`` gives the same weights and the global RNG of the test session is untouched.
"""

from __future__ import annotations

import pytest
import torch

ARCHS = ("roberta", "llama")  # the main parametrisation (issue 5)
ALL_ARCHS = ("roberta", "bert", "llama", "llama_lm")
HIDDEN, LAYERS, VOCAB, LABELS = 32, 2, 100, 3


def tiny_config(arch: str):
    from transformers import BertConfig, LlamaConfig, RobertaConfig

    if arch in ("roberta", "bert"):
        cls = RobertaConfig if arch == "roberta" else BertConfig
        return cls(vocab_size=VOCAB, hidden_size=HIDDEN, num_hidden_layers=LAYERS,
                   num_attention_heads=4, intermediate_size=64, max_position_embeddings=64,
                   pad_token_id=1 if arch == "roberta" else 0, num_labels=LABELS,
                   hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                   classifier_dropout=0.0)
    if arch in ("llama", "llama_lm"):
        return LlamaConfig(vocab_size=VOCAB, hidden_size=HIDDEN, intermediate_size=64,
                           num_hidden_layers=LAYERS, num_attention_heads=4, num_key_value_heads=2,
                           max_position_embeddings=64, pad_token_id=0, num_labels=LABELS)
    raise ValueError(arch)


def tiny_model(arch: str, seed: int = 0) -> torch.nn.Module:
    """A tiny random model in eval mode (same seed -> same weights)."""
    from transformers import (
        BertForSequenceClassification,
        LlamaForCausalLM,
        LlamaForSequenceClassification,
        RobertaForSequenceClassification,
    )

    cls = {"roberta": RobertaForSequenceClassification, "bert": BertForSequenceClassification,
           "llama": LlamaForSequenceClassification, "llama_lm": LlamaForCausalLM}[arch]
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = cls(tiny_config(arch))
        with torch.no_grad():  # HF initialises biases to 0, which would hide bias mistakes
            for m in model.modules():
                if isinstance(m, torch.nn.Linear) and m.bias is not None:
                    m.bias.normal_(0.0, 0.1)
    return model.eval()


def tiny_batch(arch: str, seed: int = 0, batch: int = 3, seq: int = 7) -> dict[str, torch.Tensor]:
    """Random token ids (the last row right-padded by 2), attention mask and labels."""
    g = torch.Generator().manual_seed(seed)
    pad = 1 if arch == "roberta" else 0
    ids = torch.randint(2, VOCAB, (batch, seq), generator=g)
    mask = torch.ones(batch, seq, dtype=torch.long)
    ids[-1, -2:] = pad
    mask[-1, -2:] = 0
    if arch == "llama_lm":
        labels = ids.masked_fill(mask == 0, -100)
    else:
        labels = torch.randint(0, LABELS, (batch,), generator=g)
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def logits(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits


@pytest.fixture
def one_thread():
    """torch on one intra-op thread for the test (restored after): tiny matrices, and on a
    shared 2-core machine a second spinning OpenMP thread is up to 100x slower under load. Use
    it with ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture
def make_model():
    """Factory fixture: ``make_model(arch, seed=0)`` -> tiny random model (eval mode)."""
    return tiny_model


@pytest.fixture
def make_batch():
    """Factory fixture: ``make_batch(arch, seed=0, batch=3, seq=7)`` -> input dict."""
    return tiny_batch


def peft_pairs(ours: torch.nn.Module, theirs: torch.nn.Module,
               dora: bool = False) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    """(kind, project tensor, PEFT tensor) for every adapter layer of ``ours`` (a
    :func:`deep.inject` model) and the same module of ``theirs`` (a PEFT ``AlphaLoraConfig``
    model); kinds ``"A"``, ``"B"``, ``"alpha"`` and, with ``dora``, the magnitude ``"m"``."""
    from deep import adapter_layers

    pairs = []
    for name, layer in adapter_layers(ours):
        mod = theirs.base_model.model.get_submodule(name)
        pairs += [("A", layer.lora_A, mod.lora_A["default"].weight),
                  ("B", layer.lora_B, mod.lora_B["default"].weight),
                  ("alpha", layer.alpha, mod.lora_row_alpha["default"])]
        if dora:
            pairs.append(("m", layer.lora_magnitude, mod.lora_row_magnitude["default"]))
    return pairs


@torch.no_grad()
def copy_random_(pairs: list[tuple[str, torch.Tensor, torch.Tensor]], seed: int) -> None:
    """Give both tensors of every :func:`peft_pairs` pair the same random values: A and B
    N(0, 0.3²), alpha 1 + N(0, 0.3²), m its own value times U(1, 1.3) (positive, near the row
    norms)."""
    g = torch.Generator().manual_seed(seed)
    for kind, src, dst in pairs:
        if kind == "m":
            v = src.detach() * (1.0 + 0.3 * torch.rand(src.shape, generator=g))
        else:
            v = torch.randn(src.shape, generator=g) * 0.3 + (1.0 if kind == "alpha" else 0.0)
        src.copy_(v)
        dst.copy_(v)

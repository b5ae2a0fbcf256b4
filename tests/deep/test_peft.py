"""deep.peft: alpha-LoRA as a PEFT LoRA variant, checked against deep.inject (tiny models)."""

from __future__ import annotations

import os

import pytest
import torch

peft = pytest.importorskip("peft")

from deep import AdapterConfig, adapter_layers, inject  # noqa: E402
from deep.peft import AlphaLoraConfig, from_pretrained, named_alpha_parameters  # noqa: E402

from .conftest import ARCHS, tiny_batch, tiny_model  # noqa: E402

R, LORA_ALPHA = 4, 8.0
TARGETS = {"roberta": ["query", "value"], "llama": ["q_proj", "v_proj"]}


def _pair(arch, scale_bias=True):
    """(project model, PEFT model) with the same random A, B, alpha copied across."""
    ours = inject(tiny_model(arch), AdapterConfig(method="alpha_lora", rank=R,
                                                  lora_alpha=LORA_ALPHA, scale_bias=scale_bias,
                                                  train_head=False, seed=1))
    theirs = peft.get_peft_model(tiny_model(arch), AlphaLoraConfig(
        r=R, lora_alpha=LORA_ALPHA, target_modules=TARGETS[arch], scale_bias=scale_bias))
    g = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for name, layer in adapter_layers(ours):
            mod = theirs.base_model.model.get_submodule(name)
            for src, dst in ((layer.lora_A, mod.lora_A["default"].weight),
                             (layer.lora_B, mod.lora_B["default"].weight),
                             (layer.alpha, mod.lora_row_alpha["default"])):
                v = torch.randn(src.shape, generator=g) * 0.3 + (1.0 if src.ndim == 1 else 0.0)
                src.copy_(v)
                dst.copy_(v)
    return ours, theirs


@pytest.mark.parametrize("scale_bias", [True, False])
@pytest.mark.parametrize("arch", ARCHS)
def test_logits_and_gradients_equal_inject(arch, scale_bias):
    ours, theirs = _pair(arch, scale_bias)
    batch = tiny_batch(arch)
    lo, lt = ours(**batch), theirs(**batch)
    torch.testing.assert_close(lt.logits, lo.logits, atol=1e-6, rtol=0)
    lo.loss.backward()
    lt.loss.backward()
    for name, layer in adapter_layers(ours):
        mod = theirs.base_model.model.get_submodule(name)
        for src, dst in ((layer.lora_A, mod.lora_A["default"].weight),
                         (layer.lora_B, mod.lora_B["default"].weight),
                         (layer.alpha, mod.lora_row_alpha["default"])):
            torch.testing.assert_close(dst.grad, src.grad, atol=1e-6, rtol=0)


def test_merge_writes_alpha_w0_plus_sba_and_bias(tmp_path):
    _, theirs = _pair("roberta")
    base = tiny_model("roberta")
    batch = tiny_batch("roberta")
    before = theirs(**batch).logits.detach()
    expected = {}
    for name, p in named_alpha_parameters(theirs):
        mod_name = name.split(".", 2)[2].rsplit(".lora_row_alpha", 1)[0]
        mod = theirs.base_model.model.get_submodule(mod_name)
        lin = base.get_submodule(mod_name)
        a = p.detach()
        s = LORA_ALPHA / R
        w = a[:, None] * lin.weight + s * mod.lora_B["default"].weight @ mod.lora_A["default"].weight
        expected[mod_name] = (w.detach(), (a * lin.bias).detach())
    merged = theirs.merge_and_unload()
    for mod_name, (w, b) in expected.items():
        lin = merged.get_submodule(mod_name)
        assert type(lin) is torch.nn.Linear
        torch.testing.assert_close(lin.weight, w, atol=1e-6, rtol=0)
        torch.testing.assert_close(lin.bias, b, atol=1e-6, rtol=0)
    torch.testing.assert_close(merged(**batch).logits, before, atol=1e-5, rtol=0)


def test_save_pretrained_round_trips_alpha(tmp_path):
    _, theirs = _pair("llama")
    batch = tiny_batch("llama")
    want = theirs(**batch).logits.detach()
    theirs.save_pretrained(tmp_path)
    files = sorted(os.listdir(tmp_path))
    assert "adapter_model.safetensors" in files and "adapter_model.bin" not in files
    from safetensors.torch import load_file

    keys = list(load_file(tmp_path / "adapter_model.safetensors"))
    assert sum("lora_row_alpha" in k for k in keys) == 4
    assert not any("embed_tokens" in k for k in keys)  # adapter only
    loaded = from_pretrained(tiny_model("llama"), tmp_path)
    assert isinstance(loaded.peft_config["default"], AlphaLoraConfig)
    torch.testing.assert_close(loaded(**batch).logits, want, atol=1e-6, rtol=0)


def test_bad_options_name_the_argument():
    with pytest.raises(ValueError, match="alpha_init"):
        AlphaLoraConfig(r=4, alpha_init=0.0)
    with pytest.raises(ValueError, match="share_alpha"):
        AlphaLoraConfig(r=4, share_alpha=True)

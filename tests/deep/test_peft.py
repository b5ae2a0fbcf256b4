"""deep.peft: alpha-LoRA as a PEFT LoRA variant, checked against deep.inject (tiny models)."""

from __future__ import annotations

import os

import pytest
import torch

peft = pytest.importorskip("peft")

from deep import AdapterConfig, inject  # noqa: E402
from deep.peft import AlphaLoraConfig, from_pretrained, named_alpha_parameters  # noqa: E402

from .conftest import ARCHS, copy_random_, peft_pairs, tiny_batch, tiny_model  # noqa: E402

R, LORA_ALPHA = 4, 8.0
TARGETS = {"roberta": ["query", "value"], "llama": ["q_proj", "v_proj"]}


def _pair(arch, scale_bias=True):
    """(project model, PEFT model) with the same random A, B, alpha copied across."""
    ours = inject(tiny_model(arch), AdapterConfig(method="alpha_lora", rank=R,
                                                  lora_alpha=LORA_ALPHA, scale_bias=scale_bias,
                                                  train_head=False, seed=1))
    theirs = peft.get_peft_model(tiny_model(arch), AlphaLoraConfig(
        r=R, lora_alpha=LORA_ALPHA, target_modules=TARGETS[arch], scale_bias=scale_bias))
    copy_random_(peft_pairs(ours, theirs), seed=5)
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
    for _, src, dst in peft_pairs(ours, theirs):
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


# ---------------------------------------------------------------------------- issue 16 item 1
def _dora_pair(arch, scale_bias=True):
    """(project alpha_dora model, PEFT AlphaLoraConfig(use_dora=True) model) with the same random
    A, B, alpha and magnitude m copied across."""
    ours = inject(tiny_model(arch), AdapterConfig(method="alpha_dora", rank=R,
                                                  lora_alpha=LORA_ALPHA, scale_bias=scale_bias,
                                                  train_head=False, seed=1))
    theirs = peft.get_peft_model(tiny_model(arch), AlphaLoraConfig(
        r=R, lora_alpha=LORA_ALPHA, target_modules=TARGETS[arch], scale_bias=scale_bias,
        use_dora=True))
    copy_random_(peft_pairs(ours, theirs, dora=True), seed=6)
    return ours, theirs


@pytest.mark.parametrize("scale_bias", [True, False])
@pytest.mark.parametrize("arch", ARCHS)
def test_use_dora_equals_alpha_dora_of_inject(arch, scale_bias):
    """AlphaLoraConfig(use_dora=True) is the project's alpha_dora: logits and the gradients of A,
    B, alpha and m agree to 1e-6 (the norm is detached on both sides)."""
    ours, theirs = _dora_pair(arch, scale_bias)
    batch = tiny_batch(arch)
    lo, lt = ours(**batch), theirs(**batch)
    torch.testing.assert_close(lt.logits, lo.logits, atol=1e-6, rtol=0)
    lo.loss.backward()
    lt.loss.backward()
    pairs = peft_pairs(ours, theirs, dora=True)
    assert len(pairs) == 4 * 2 * 2  # 4 tensors x 2 targets x 2 layers
    for _, src, dst in pairs:
        assert src.grad is not None and src.grad.abs().max() > 0
        torch.testing.assert_close(dst.grad, src.grad, atol=1e-6, rtol=0)


def _base_state(model):
    return {k: v.detach().clone() for k, v in model.named_parameters()
            if "lora_" not in k and "modules_to_save" not in k}


@pytest.mark.parametrize("scale_bias", [True, False])
@pytest.mark.parametrize("dora", [False, True], ids=["alpha_lora", "alpha_dora"])
@pytest.mark.parametrize("arch", ARCHS)
def test_merge_unmerge_round_trip(arch, dora, scale_bias):
    """merge_adapter -> logits equal the unmerged ones and the merged weights are what the merge
    should write (only adapted weights, and their biases when alpha scales them, change);
    unmerge_adapter -> every base weight and bias is bitwise the original (the merge keeps a
    copy: inverting (W' - sBA)/alpha loses ~1e-6 already at alpha = 0.03)."""
    _, theirs = (_dora_pair if dora else _pair)(arch, scale_bias)
    batch = tiny_batch(arch)
    before = theirs(**batch).logits.detach()
    orig = _base_state(theirs)
    theirs.merge_adapter()
    merged_state = _base_state(theirs)
    changed = [k for k in orig if not torch.equal(orig[k], merged_state[k])]
    adapted = {k for k in orig if any(f".{t}.base_layer." in k for t in TARGETS[arch])}
    # the merge wrote every adapted weight (and bias when alpha scales it) and nothing else
    assert set(changed) == {k for k in adapted if scale_bias or k.endswith(".weight")}
    merged_logits = theirs(**batch).logits.detach()
    torch.testing.assert_close(merged_logits, before, atol=1e-5, rtol=0)
    theirs.unmerge_adapter()
    after = _base_state(theirs)
    for k, v in orig.items():
        assert torch.equal(after[k], v), k
    assert torch.equal(theirs(**batch).logits, before)


@pytest.mark.parametrize("dora", [False, True], ids=["alpha_lora", "alpha_dora"])
def test_unmerge_is_exact_with_a_tiny_alpha(dora):
    """An alpha entry below 1e-4 makes (W' - sBA)/alpha unreliable: the merge keeps the
    original weights instead, and unmerge restores them bitwise."""
    _, theirs = (_dora_pair if dora else _pair)("roberta")
    with torch.no_grad():
        for _, p in named_alpha_parameters(theirs):
            p[0] = 1e-7
    orig = _base_state(theirs)
    theirs.merge_adapter()
    theirs.unmerge_adapter()
    after = _base_state(theirs)
    for k, v in orig.items():
        assert torch.equal(after[k], v), k


def test_double_merge_and_merge_and_unload_match_merged_logits():
    _, theirs = _dora_pair("llama", True)
    batch = tiny_batch("llama")
    before = theirs(**batch).logits.detach()
    theirs.merge_adapter()
    theirs.merge_adapter()  # PEFT warns and does nothing for an already merged adapter
    torch.testing.assert_close(theirs(**batch).logits, before, atol=1e-5, rtol=0)
    theirs.unmerge_adapter()
    plain = theirs.merge_and_unload()
    assert not any("lora_" in k for k in plain.state_dict())
    torch.testing.assert_close(plain(**batch).logits, before, atol=1e-5, rtol=0)


def test_public_names_are_exported():
    import deep.peft as mod

    for name in ("AlphaLoraConfig", "AlphaLinearVariant", "AlphaDoraLinearVariant",
                 "alpha_parameters", "named_alpha_parameters", "from_pretrained"):
        assert name in mod.__all__ and hasattr(mod, name)

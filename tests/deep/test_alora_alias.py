"""Issue 16 item 5: ``ablation_alora`` is an explicit alias of our ``alora`` (ALoRA, Allocating
LoRA with ablation-scored ranks), which is NOT PEFT's ``alora`` (Activated LoRA).

The reference for "identical" is the registry key ``alora`` itself: the alias must build the same
layer class, draw the same initial tensors, compute the same outputs and follow the same
training trajectory, bit for bit.
"""

from __future__ import annotations

import json

import pytest
import torch

from deep import AdapterConfig, inject, load_adapter, save_adapter
from deep.layers import AloraLayer, canonical_method, method_names, resolve_method
from deep.train import TrainConfig, train

from .conftest import logits, tiny_batch, tiny_model
from .test_train import _adapter_tensors, _cfg, _write_sst2


def _flat_config(**kw):
    """TrainConfig from the flat (CLI) spelling, before and after the TrainConfig refactor."""
    return getattr(TrainConfig, "from_flat", TrainConfig)(**kw)


@pytest.fixture(scope="module")
def glue(tmp_path_factory):
    return _write_sst2(tmp_path_factory.mktemp("glue_alias"))


def test_alias_resolves_to_the_alora_layer():
    assert resolve_method("ablation_alora") == (AloraLayer, False) == resolve_method("alora")
    assert resolve_method("alpha_ablation_alora") == (AloraLayer, True) == resolve_method("alpha_alora")
    assert canonical_method("alpha_ablation_alora") == "alpha_alora"
    assert canonical_method("lora") == "lora"
    assert {"ablation_alora", "alpha_ablation_alora"} <= set(method_names(aliases=True))
    assert "ablation_alora" not in method_names()  # the parametrised tables stay canonical


@pytest.mark.parametrize("arch", ["roberta", "llama"])
@pytest.mark.parametrize("prefix", ["", "alpha_"])
def test_alias_injects_identically(arch, prefix):
    models = {}
    for name in (f"{prefix}alora", f"{prefix}ablation_alora"):
        model = tiny_model(arch)
        inject(model, AdapterConfig(method=name, rank=2, seed=5))
        models[name] = model
    a, b = models.values()
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k
    batch = tiny_batch(arch)
    with torch.no_grad():  # move away from B = 0 so the low-rank branch matters
        for m in (a, b):
            for n, p in m.named_parameters():
                if n.endswith("lora_B"):
                    p.copy_(torch.linspace(-1, 1, p.numel()).view_as(p))
    assert torch.equal(logits(a, batch), logits(b, batch))


def test_alias_adapter_file_loads_into_an_alora_model(tmp_path):
    src = inject(tiny_model("roberta"), AdapterConfig(method="ablation_alora", rank=2, seed=1))
    save_adapter(src, tmp_path / "ad")
    assert json.loads((tmp_path / "ad" / "rescalora_adapter.json").read_text())["config"][
        "method"] == "ablation_alora"
    dst = inject(tiny_model("roberta"), AdapterConfig(method="alora", rank=2, seed=9))
    load_adapter(dst, tmp_path / "ad")  # same method under two spellings: accepted
    batch = tiny_batch("roberta")
    assert torch.equal(logits(src, batch), logits(dst, batch))
    other = inject(tiny_model("roberta"), AdapterConfig(method="lora", rank=2))
    with pytest.raises(ValueError, match="method="):
        load_adapter(other, tmp_path / "ad")


def test_alias_trains_identically(glue, tmp_path):
    runs = {}
    for name in ("alpha_alora", "alpha_ablation_alora"):
        cfg = _cfg(glue, tmp_path / name, adapter=name, max_steps=30,
                   target_modules=("query", "value"))
        runs[name] = train(cfg, progress=False)
    a, b = runs["alpha_alora"], runs["alpha_ablation_alora"]
    assert a["final"] == b["final"]
    assert a["trainable_parameters"] == b["trainable_parameters"]
    ta, tb = _adapter_tensors(tmp_path / "alpha_alora"), _adapter_tensors(tmp_path / "alpha_ablation_alora")
    assert list(ta) == list(tb)
    for k in ta:
        assert torch.equal(ta[k], tb[k]), k


def test_messages_say_which_alora_this_is():
    for make in (lambda: AdapterConfig(method="activated_lora"),
                 lambda: _flat_config(task="sst2", adapter="activated_lora"),
                 lambda: resolve_method("alpha_nope")):
        with pytest.raises(ValueError) as err:
            make()
        msg = str(err.value)
        assert "ablation_alora" in msg and "not PEFT's Activated LoRA" in msg

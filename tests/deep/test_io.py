"""save_adapter / load_adapter (safetensors + JSON) and the PEFT export.

Round trips into a FRESH model (same base weights, rebuilt from the seed) must reproduce the
trained model's logits; corrupt files (wrong shape, missing key, other method) must fail with a
clear error and leave the model bit-for-bit untouched; loading must not unpickle anything; the
PEFT layout must load with ``peft.PeftModel.from_pretrained`` and give our logits.
"""

from __future__ import annotations

import json
import pickle

import pytest
import torch
from safetensors.torch import load_file, save_file

from deep import (
    AdapterConfig,
    adapter_info,
    adapter_layers,
    export_peft,
    inject,
    load_adapter,
    merge,
    save_adapter,
)
from deep.io import CONFIG_NAME, WEIGHTS_NAME
from deep.layers import method_names

from .conftest import ARCHS, logits, tiny_batch, tiny_model

METHODS = list(method_names())
HEAD = {"roberta": "classifier.", "bert": "classifier.", "llama": "score.", "llama_lm": None}
#: saved tensors per kind (alpha aside): one row per kind
SAVED = {"lora": ("lora_A", "lora_B"), "dora": ("lora_A", "lora_B", "lora_magnitude"),
         "olora": ("lora_A", "lora_B", "lora_A_init", "lora_B_init"),
         "adalora": ("lora_A", "lora_E", "lora_B", "rank_mask"),
         "lora2": ("lora_A1", "lora_B1", "lora_E", "lora_A2", "lora_B2", "rank_mask"),
         "alora": ("lora_A", "lora_B", "lora_gate")}


def trained(arch, method, steps=2, **kw):
    kw.setdefault("rank", 4)
    kw.setdefault("lora_alpha", 8)
    model = inject(tiny_model(arch), AdapterConfig(method=method, **kw))
    for _, layer in adapter_layers(model):  # a few steps at a fixed rank, on purpose
        if hasattr(layer, "allocation_guard"):
            layer.allocation_guard = None
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=2e-2)
    model.train()
    for k in range(steps):
        opt.zero_grad()
        model(**tiny_batch(arch, seed=20 + k)).loss.backward()
        opt.step()
    return model.eval()


def snapshot(model):
    return ({k: v.detach().clone() for k, v in model.state_dict().items()},
            {n: p.requires_grad for n, p in model.named_parameters()},
            [type(m).__name__ for m in model.modules()])


def assert_untouched(model, snap):
    sd, flags, types = snapshot(model)
    assert types == snap[2]
    assert flags == snap[1]
    assert sd.keys() == snap[0].keys()
    for k, v in sd.items():
        assert torch.equal(v, snap[0][k]), k


# ------------------------------------------------------------------ round trips
@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("method", METHODS)
def test_save_load_into_fresh_model_reproduces_logits(method, arch, tmp_path):
    model = trained(arch, method)
    batch = tiny_batch(arch, seed=7)
    expected = logits(model, batch)
    save_adapter(model, tmp_path)
    # only adapter, alpha and head tensors are written, under their module names
    keys = set(load_file(str(tmp_path / WEIGHTS_NAME)))
    wanted = set()
    for name, _ in adapter_layers(model):
        wanted |= {f"{name}.{t}" for t in SAVED[method.removeprefix("alpha_")]}
        wanted |= {f"{name}.alpha"} if method.startswith("alpha_") else set()
    wanted |= {n for n, _ in model.named_parameters() if n.startswith(HEAD[arch])}
    assert keys == wanted
    meta = json.loads((tmp_path / CONFIG_NAME).read_text())
    assert meta["config"]["method"] == method and meta["model_type"] == arch
    fresh = tiny_model(arch)
    assert (logits(fresh, batch) - expected).abs().max() > 1e-4  # the adapter matters
    load_adapter(fresh, tmp_path)
    assert adapter_info(fresh).config == adapter_info(model).config
    assert (logits(fresh, batch) - expected).abs().max() <= 1e-6
    # and into a model that already has the same (untrained) adapters
    again = inject(tiny_model(arch), adapter_info(model).config)
    load_adapter(again, tmp_path)
    assert (logits(again, batch) - expected).abs().max() <= 1e-6


def test_save_of_a_merged_model_loads_the_same_function(tmp_path):
    model = trained("roberta", "alpha_dora")
    batch = tiny_batch("roberta")
    expected = logits(model, batch)
    merge(model)
    save_adapter(model, tmp_path)
    fresh = load_adapter(tiny_model("roberta"), tmp_path)
    assert (logits(fresh, batch) - expected).abs().max() <= 1e-5
    with pytest.raises(RuntimeError, match="merged"):
        load_adapter(model, tmp_path)


def test_shared_alpha_is_stored_once_and_tied_again_on_load(tmp_path):
    model = trained("roberta", "alpha_lora", share_alpha=True)
    save_adapter(model, tmp_path)
    keys = load_file(str(tmp_path / WEIGHTS_NAME))
    assert sum(k.endswith(".alpha") for k in keys) == 2  # one per block
    fresh = load_adapter(tiny_model("roberta"), tmp_path)
    layers = dict(adapter_layers(fresh))
    q = layers["roberta.encoder.layer.0.attention.self.query"]
    v = layers["roberta.encoder.layer.0.attention.self.value"]
    assert q.alpha is v.alpha
    batch = tiny_batch("roberta")
    assert (logits(fresh, batch) - logits(model, batch)).abs().max() <= 1e-6


# ------------------------------------------------------------------ bad files
def _rewrite(tmp_path, change):
    tensors = load_file(str(tmp_path / WEIGHTS_NAME))
    change(tensors)
    save_file(tensors, str(tmp_path / WEIGHTS_NAME))


@pytest.mark.parametrize("fresh", [True, False])
@pytest.mark.parametrize("defect", ["shape", "missing", "extra", "method_json", "other_method"])
def test_bad_files_fail_clearly_and_leave_the_model_untouched(defect, fresh, tmp_path):
    model = trained("llama", "alpha_lora")
    save_adapter(model, tmp_path)
    key = "model.layers.1.self_attn.v_proj.lora_B"
    if defect == "shape":
        _rewrite(tmp_path, lambda t: t.__setitem__(key, torch.zeros(16, 5)))
        match = f"wrong shapes.*{key}"
    elif defect == "missing":
        _rewrite(tmp_path, lambda t: t.pop("model.layers.0.self_attn.q_proj.alpha"))
        match = "missing keys.*q_proj.alpha"
    elif defect == "extra":
        _rewrite(tmp_path, lambda t: t.__setitem__("model.embed_tokens.weight", torch.zeros(3)))
        match = "unexpected keys.*embed_tokens"
    elif defect == "method_json":  # the JSON says dora, the tensors are alpha-LoRA's
        meta = json.loads((tmp_path / CONFIG_NAME).read_text())
        meta["config"]["method"] = "dora"
        (tmp_path / CONFIG_NAME).write_text(json.dumps(meta))
        match = "missing keys.*lora_magnitude" if fresh else "method='dora'"
    else:  # a different method saved by a different model
        save_adapter(trained("llama", "alpha_dora"), tmp_path)
        match = "missing keys" if fresh else "method='alpha_dora'"
        if fresh:  # a fresh model takes the file's method: that load must succeed
            target = tiny_model("llama")
            load_adapter(target, tmp_path)
            assert adapter_info(target).config.method == "alpha_dora"
            return
    target = tiny_model("llama") if fresh else inject(tiny_model("llama"),
                                                      adapter_info(model).config)
    snap = snapshot(target)
    with pytest.raises(ValueError, match=match):
        load_adapter(target, tmp_path)
    assert_untouched(target, snap)
    if fresh:
        assert adapter_info(target) is None


def test_functional_settings_must_match_an_injected_model(tmp_path):
    save_adapter(trained("roberta", "lora"), tmp_path)
    for change, match in [({"rank": 2}, "rank=4"), ({"lora_alpha": 4}, "scaling"),
                          ({"method": "alpha_lora"}, "method='lora'"),
                          ({"target_modules": ["query"]}, "adapts 4 modules, the model 2")]:
        target = inject(tiny_model("roberta"), AdapterConfig(
            **{"method": "lora", "rank": 4, "lora_alpha": 8, **change}))
        snap = snapshot(target)
        with pytest.raises(ValueError, match=match):
            load_adapter(target, tmp_path)
        assert_untouched(target, snap)


def test_missing_or_foreign_files(tmp_path):
    with pytest.raises(FileNotFoundError, match=CONFIG_NAME):
        load_adapter(tiny_model("roberta"), tmp_path)
    save_adapter(trained("roberta", "lora", steps=0), tmp_path)
    (tmp_path / CONFIG_NAME).write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(ValueError, match="is not a 'rescalora-adapter' file"):
        load_adapter(tiny_model("roberta"), tmp_path)
    (tmp_path / CONFIG_NAME).write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_adapter(tiny_model("roberta"), tmp_path)
    with pytest.raises(ValueError, match="no adapters"):
        save_adapter(tiny_model("roberta"), tmp_path)


def test_loading_never_unpickles(tmp_path, monkeypatch):
    model = trained("roberta", "alpha_olora")
    save_adapter(model, tmp_path)

    def boom(*args, **kwargs):
        raise AssertionError("unpickling attempted")

    monkeypatch.setattr(pickle, "load", boom)
    monkeypatch.setattr(pickle, "loads", boom)
    monkeypatch.setattr(pickle, "Unpickler", boom)
    monkeypatch.setattr(torch, "load", boom)
    fresh = load_adapter(tiny_model("roberta"), tmp_path)
    batch = tiny_batch("roberta")
    assert (logits(fresh, batch) - logits(model, batch)).abs().max() <= 1e-6
    assert sorted(p.name for p in tmp_path.iterdir()) == [CONFIG_NAME, WEIGHTS_NAME]


# ------------------------------------------------------------------ PEFT layout
PEFT_CASES = [(a, m) for a in ARCHS for m in ("lora", "dora", "olora")]
PEFT_CASES += [("llama_lm", "lora"), ("bert", "dora")]


@pytest.mark.parametrize(("arch", "method"), PEFT_CASES)
def test_peft_export_loads_with_peft_from_pretrained(arch, method, tmp_path):
    peft = pytest.importorskip("peft")
    model = trained(arch, method, steps=3)
    batch = tiny_batch(arch, seed=9)
    expected = logits(model, batch)
    save_adapter(model, tmp_path, peft=True)
    cfg = json.loads((tmp_path / "adapter_config.json").read_text())
    assert cfg["use_dora"] == (method == "dora")
    assert cfg["r"] == (8 if method == "olora" else 4)  # OLoRA: the rank-2r conversion
    loaded = peft.PeftModel.from_pretrained(tiny_model(arch), str(tmp_path)).eval()
    assert (logits(loaded, batch) - expected).abs().max() <= 1e-5
    # PEFT's own layout: the same keys PEFT writes for the same adapter
    ref = peft.get_peft_model(tiny_model(arch), peft.LoraConfig(
        r=cfg["r"], lora_alpha=cfg["lora_alpha"], target_modules=cfg["target_modules"],
        use_dora=cfg["use_dora"], task_type=cfg["task_type"]))
    ref.save_pretrained(str(tmp_path / "ref"))
    assert set(load_file(str(tmp_path / "ref" / "adapter_model.safetensors"))) == \
        set(load_file(str(tmp_path / "adapter_model.safetensors")))


@pytest.mark.parametrize("method", [m for m in METHODS if m.startswith("alpha_")])
def test_alpha_methods_refuse_peft_export(method, tmp_path):
    model = trained("roberta", method, steps=0)
    with pytest.raises(ValueError, match="cannot be exported in PEFT layout"):
        export_peft(model, tmp_path)
    assert not (tmp_path / "adapter_config.json").exists()


@pytest.mark.parametrize("method", ["adalora", "lora2", "alora"])
def test_rank_allocating_kinds_refuse_peft_export(method, tmp_path):
    model = trained("roberta", method, steps=0)
    with pytest.raises(ValueError, match=f"'{method}'.*PEFT"):
        export_peft(model, tmp_path)
    assert not (tmp_path / "adapter_config.json").exists()


def test_load_adapter_refuses_nan_or_inf_naming_the_file_and_tensor(tmp_path):
    model = inject(tiny_model("roberta"), AdapterConfig(method="alpha_lora", rank=2))
    save_adapter(model, tmp_path / "a")
    tensors = load_file(str(tmp_path / "a" / WEIGHTS_NAME))
    name = next(k for k in tensors if k.endswith("alpha"))
    tensors[name][0] = float("nan")
    save_file(tensors, str(tmp_path / "a" / WEIGHTS_NAME))
    fresh = inject(tiny_model("roberta"), AdapterConfig(method="alpha_lora", rank=2))
    with pytest.raises(ValueError, match=rf"{WEIGHTS_NAME} holds NaN or Inf in \['{name}'\]"):
        load_adapter(fresh, tmp_path / "a")


def test_load_adapter_into_another_architecture_says_so(tmp_path):
    model = inject(tiny_model("roberta"), AdapterConfig(method="lora", rank=2))
    save_adapter(model, tmp_path / "a")
    with pytest.raises(ValueError, match="saved from a 'roberta' model; this model is 'bert'"):
        load_adapter(tiny_model("bert"), tmp_path / "a")

"""inject / merge / unmerge / parameter groups on tiny roberta, bert and LLaMA models, and the
cross-check against PEFT 0.21 (LoRA, DoRA, OLoRA init) with identical tensors.

Parametrised over every method × {roberta, llama} (issue 5); bert and LlamaForCausalLM get the
same checks in a smaller table. References: the untouched base model, PEFT, closed-form counts.
"""

from __future__ import annotations

import copy
import dataclasses

import pytest
import torch

from deep import (
    AdapterConfig,
    adapter_info,
    adapter_layers,
    adapter_parameters,
    alpha_parameters,
    head_parameters,
    inject,
    merge,
    named_alpha_parameters,
    trainable_parameters,
    unmerge,
)
from deep.layers import UNMERGE_MIN_ABS, method_names

from .conftest import ALL_ARCHS, ARCHS, HIDDEN, LABELS, LAYERS, logits, tiny_batch, tiny_model

METHODS = list(method_names())  # every registered kind, with and without alpha
DEFAULT_LEAVES = {"roberta": ("query", "value"), "bert": ("query", "value"),
                  "llama": ("q_proj", "v_proj"), "llama_lm": ("q_proj", "v_proj")}
HEAD_PREFIX = {"roberta": "classifier.", "bert": "classifier.", "llama": "score.", "llama_lm": None}
#: trainable adapter tensors per built-in kind (alpha aside), written from docs/adapters.md; a
#: new kind is checked against its own ``adapter_param_names``
FACTORS = {"lora": ("lora_A", "lora_B"), "olora": ("lora_A", "lora_B"),
           "dora": ("lora_A", "lora_B", "lora_magnitude"),
           "adalora": ("lora_A", "lora_E", "lora_B"),
           "lora2": ("lora_A1", "lora_B1", "lora_E", "lora_A2", "lora_B2"),
           "alora": ("lora_A", "lora_B")}


def cfg(method, **kw):
    kw.setdefault("rank", 4)
    kw.setdefault("lora_alpha", 8)
    return AdapterConfig(method=method, **kw)


def train_steps(model, arch, steps=3, lr=1e-2, seed=0):
    """A few AdamW steps on random batches, every trainable parameter (alpha included)."""
    model.train()
    for _, layer in adapter_layers(model):  # a few steps at a fixed rank, on purpose
        if hasattr(layer, "allocation_guard"):
            layer.allocation_guard = None
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    for k in range(steps):
        opt.zero_grad()
        model(**tiny_batch(arch, seed=seed + 10 + k)).loss.backward()
        opt.step()
    model.eval()
    return model


def state(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


# ------------------------------------------------------------------ config validation
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("method", "lora3"), ("method", "ALPHA_LORA"), ("method", None),
        ("rank", 0), ("rank", -3), ("rank", 2.5), ("rank", True),
        ("lora_alpha", 0), ("lora_alpha", -1.0), ("lora_alpha", float("nan")),
        ("dropout", -0.1), ("dropout", 1.0), ("dropout", "0.1"),
        ("target_modules", []), ("target_modules", ""), ("target_modules", ["query", ""]),
        ("target_modules", 3), ("target_modules", [".query"]),
        ("share_alpha", "yes"), ("scale_bias", 1), ("alpha_init", 0.0),
        ("alpha_init", float("inf")), ("init", "xavier"), ("seed", 1.5),
        ("target_rank", 3), ("inner_rank", 2), ("max_rank", 8),  # not for alpha_lora
    ],
)
def test_config_rejects_bad_values_naming_field_and_value(field, value):
    with pytest.raises(ValueError, match=f"AdapterConfig.{field}=") as err:
        AdapterConfig(**{field: value})
    assert "allowed" in str(err.value)


@pytest.mark.parametrize(("method", "init"), [("lora", "olora"), ("olora", "kaiming"),
                                              ("alpha_olora", "gaussian")])
def test_config_rejects_init_not_valid_for_method(method, init):
    with pytest.raises(ValueError, match="AdapterConfig.init="):
        AdapterConfig(method=method, init=init)


@pytest.mark.parametrize(("method", "field", "value"), [
    ("adalora", "target_rank", 0), ("adalora", "target_rank", 9), ("lora2", "target_rank", 2.0),
    ("lora2", "inner_rank", 0), ("adalora", "inner_rank", 2), ("alora", "max_rank", 4),
    ("alora", "max_rank", True), ("lora2", "max_rank", 16)])
def test_config_rejects_bad_allocation_fields(method, field, value):
    with pytest.raises(ValueError, match=f"AdapterConfig.{field}=.*allowed"):
        AdapterConfig(method=method, rank=8, **{field: value})
    AdapterConfig(method="alpha_adalora", rank=8, target_rank=8)
    AdapterConfig(method="lora2", rank=8, target_rank=1, inner_rank=4)
    AdapterConfig(method="alpha_alora", rank=8, max_rank=8)


def test_config_rejects_share_alpha_without_alpha():
    with pytest.raises(ValueError, match="AdapterConfig.share_alpha=True"):
        AdapterConfig(method="dora", share_alpha=True)


def test_config_is_frozen_and_round_trips():
    c = AdapterConfig(method="alpha_dora", rank=4, target_modules=["query", "value", "query"],
                      use_rslora=True, lora_alpha=6)
    assert c.target_modules == ("query", "value")
    assert c.scaling == pytest.approx(6 / 2.0)  # rsLoRA: lora_alpha / sqrt(r)
    assert AdapterConfig(rank=4, lora_alpha=6).scaling == pytest.approx(1.5)
    assert AdapterConfig(rank=4).scaling == 1.0  # lora_alpha = None -> = rank
    assert (c.kind, c.use_alpha) == ("dora", True)
    assert AdapterConfig.from_dict(c.to_dict()) == c
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.rank = 2
    with pytest.raises(ValueError, match="unknown field"):
        AdapterConfig.from_dict({"method": "lora", "r": 4})
    assert AdapterConfig(method="alpha_lora").effective_init == "gaussian"
    assert AdapterConfig(method="lora").effective_init == "kaiming"
    assert AdapterConfig(method="alpha_olora").effective_init == "olora"


# ------------------------------------------------------------------ init equals base
@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("method", METHODS)
def test_init_logits_equal_base(method, arch):
    base = tiny_model(arch)
    batch = tiny_batch(arch)
    expected = logits(base, batch)
    originals = {n: p.detach().clone() for n, p in base.named_parameters()}
    held = {n: p for n, p in base.named_parameters()}  # the caller's tensor objects
    model = inject(base, cfg(method))
    assert (logits(model, batch) - expected).abs().max() <= 1e-6
    for n, p in held.items():  # no base tensor is mutated (OLoRA included)
        assert torch.equal(p, originals[n]), n
    names = [n for n, _ in adapter_layers(model)]
    info = adapter_info(model)
    if method.endswith("olora"):  # effective weight unchanged, W0 replaced by a residual copy
        assert info.base_replaced == names
        for name, layer in adapter_layers(model):
            w0 = originals[f"{name}.weight"]
            assert layer.base_layer.weight is not held[f"{name}.weight"]
            A, B = layer.lora_A.detach(), layer.lora_B.detach()
            assert (layer.base_layer.weight + layer.scaling * B @ A - w0).abs().max() <= 1e-5
    else:
        assert info.base_replaced == []


@pytest.mark.parametrize("arch", ALL_ARCHS)
def test_default_targets_per_model_type(arch):
    model = inject(tiny_model(arch), cfg("alpha_lora"))
    names = [n for n, _ in adapter_layers(model)]
    assert len(names) == 2 * LAYERS
    assert {n.rsplit(".", 1)[1] for n in names} == set(DEFAULT_LEAVES[arch])


# ------------------------------------------------------------------ gradients
@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("method", METHODS)
def test_gradients_reach_exactly_the_trainable_parameters(method, arch):
    model = train_steps(inject(tiny_model(arch), cfg(method)), arch, steps=1)
    model.zero_grad(set_to_none=True)
    model.train()
    model(**tiny_batch(arch, seed=3)).loss.backward()
    expected = set()
    for name, layer in adapter_layers(model):
        expected |= {f"{name}.{p}" for p in FACTORS.get(layer.kind, type(layer).adapter_param_names)}
        if method.startswith("alpha_"):
            expected.add(f"{name}.alpha")
    expected |= {n for n, _ in model.named_parameters() if n.startswith(HEAD_PREFIX[arch])}
    with_grad = {n for n, p in model.named_parameters() if p.grad is not None}
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert with_grad == expected
    assert trainable == expected
    for n, p in model.named_parameters():
        if n in expected:
            assert p.grad.abs().max() > 0, n
    assert not any("base_layer" in n for n in with_grad)


@pytest.mark.parametrize("arch", ALL_ARCHS)
def test_parameter_groups_partition_the_trainable_parameters(arch):
    model = inject(tiny_model(arch), cfg("alpha_dora"))
    groups = [adapter_parameters(model), alpha_parameters(model), head_parameters(model)]
    ids = [{id(p) for p in g} for g in groups]
    assert sum(len(i) for i in ids) == len(set().union(*ids))  # disjoint
    assert set().union(*ids) == {id(p) for p in model.parameters() if p.requires_grad}
    if arch == "llama_lm":
        assert groups[2] == []  # a causal LM has no classification head
    assert all(name.endswith(".alpha") for name, _ in named_alpha_parameters(model))


def test_train_head_false_freezes_the_head():
    model = inject(tiny_model("roberta"), cfg("lora", train_head=False))
    assert not any(p.requires_grad for p in head_parameters(model))
    assert trainable_parameters(model)["head"] > 0  # counted as a group, not trained


# ------------------------------------------------------------------ merge / unmerge
@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("method", METHODS)
def test_merge_after_training_matches_unmerged_and_unmerge_restores(method, arch):
    model = train_steps(inject(tiny_model(arch), cfg(method)), arch)
    batch = tiny_batch(arch, seed=4)
    before = logits(model, batch)
    weights = state(model)
    assert any(float((a.detach() - 1).abs().max()) > 1e-3 for a in alpha_parameters(model)) == \
        method.startswith("alpha_")
    merge(model)
    assert all(layer.merged for _, layer in adapter_layers(model))
    assert (logits(model, batch) - before).abs().max() <= 1e-5
    with pytest.raises(RuntimeError, match="already merged"):
        merge(model)
    unmerge(model)
    assert (logits(model, batch) - before).abs().max() <= 1e-5
    for k, v in state(model).items():
        assert (v - weights[k]).abs().max() <= 1e-6, k


@pytest.mark.parametrize("arch", ["bert", "llama_lm"])
@pytest.mark.parametrize("method", ["alpha_lora", "alpha_dora", "olora"])
def test_bert_and_causal_lm(method, arch):
    base = tiny_model(arch)
    batch = tiny_batch(arch)
    expected = logits(base, batch)
    model = inject(base, cfg(method))
    assert (logits(model, batch) - expected).abs().max() <= 1e-5
    train_steps(model, arch)
    before = logits(model, batch)
    merge(model)
    assert (logits(model, batch) - before).abs().max() <= 1e-5
    unmerge(model)


def test_unmerge_that_cannot_be_done_raises_and_changes_nothing():
    model = inject(tiny_model("roberta"), cfg("alpha_lora"))
    layers = adapter_layers(model)
    with torch.no_grad():
        layers[-1][1].alpha[0] = UNMERGE_MIN_ABS / 100
    merge(model)
    merged = state(model)
    with pytest.raises(RuntimeError, match="unmerge: layer .*min \\|alpha\\|"):
        unmerge(model)
    assert all(layer.merged for _, layer in layers)  # the first layers were not unmerged
    for k, v in state(model).items():
        assert torch.equal(v, merged[k]), k
    with pytest.raises(ValueError, match="no adapters"):
        merge(tiny_model("roberta"))


def test_merge_keep_base_round_trip_is_exact():
    model = train_steps(inject(tiny_model("llama"), cfg("alpha_dora")), "llama")
    weights = state(model)
    merge(model, keep_base=True)
    unmerge(model)
    for k, v in state(model).items():
        assert torch.equal(v, weights[k]), k


# ------------------------------------------------------------------ targets and errors
def test_unknown_module_name_lists_available_linear_modules():
    model = tiny_model("roberta")
    before = state(model)
    with pytest.raises(ValueError, match="'qury'.*Available linear modules.*'query'.*'value'"):
        inject(model, cfg("lora", target_modules=["query", "qury"]))
    with pytest.raises(ValueError, match="'out_proj'.*not adaptable"):  # only in the head
        inject(model, cfg("lora", target_modules=["out_proj"]))
    assert adapter_info(model) is None and not adapter_layers(model)
    assert all(torch.equal(v, before[k]) for k, v in state(model).items())
    assert all(p.requires_grad for p in model.parameters())


def test_rank_too_large_raises_before_touching_the_model():
    model = tiny_model("llama")  # v_proj is 32 -> 16
    with pytest.raises(ValueError, match="rank=17 .*v_proj"):
        inject(model, cfg("lora", rank=17))
    assert not adapter_layers(model) and all(p.requires_grad for p in model.parameters())
    inject(model, cfg("lora", rank=16))


def test_inject_twice_raises():
    model = inject(tiny_model("roberta"), cfg("lora"))
    with pytest.raises(RuntimeError, match="already has method 'lora'"):
        inject(model, cfg("dora"))


def test_unknown_model_type_needs_explicit_targets():
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    with pytest.raises(ValueError, match="target_modules=None: no default targets"):
        inject(model, cfg("lora", rank=2))
    inject(model, cfg("alpha_lora", rank=2, target_modules=["0"]))
    assert [n for n, _ in adapter_layers(model)] == ["0"]


def test_suffix_matching_and_all_linear():
    model = inject(tiny_model("roberta"), cfg("lora", target_modules=["attention.output.dense"]))
    names = [n for n, _ in adapter_layers(model)]
    assert names == [f"roberta.encoder.layer.{i}.attention.output.dense" for i in range(LAYERS)]
    model = inject(tiny_model("roberta"), cfg("lora", target_modules=["dense"]))
    assert len(adapter_layers(model)) == 3 * LAYERS  # classifier.dense excluded
    model = inject(tiny_model("roberta"), cfg("dora", target_modules="all-linear"))
    assert len(adapter_layers(model)) == 6 * LAYERS
    assert not any(n.startswith("classifier") for n, _ in adapter_layers(model))
    lm = inject(tiny_model("llama_lm"), cfg("lora", target_modules="all-linear"))
    assert len(adapter_layers(lm)) == 7 * LAYERS and not any("lm_head" in n for n, _ in
                                                              adapter_layers(lm))


# ------------------------------------------------------------------ counts
def _closed_form_counts(arch, method, rank, n_params_base):
    # (in, out) of each default target per block: roberta q, v: 32->32; llama q 32->32,
    # v 32->16 (2 of 4 heads are key/value heads, head_dim 8)
    dims = [(HIDDEN, HIDDEN), (HIDDEN, HIDDEN)] if arch == "roberta" else \
        [(HIDDEN, HIDDEN), (HIDDEN, HIDDEN // 2)]
    kind = method.removeprefix("alpha_")
    per_layer = {  # closed forms of docs/adapters.md (rank r, in i, out o)
        "lora": lambda r, i, o: r * (i + o), "olora": lambda r, i, o: r * (i + o),
        "dora": lambda r, i, o: r * (i + o) + o,
        "adalora": lambda r, i, o: r * (i + o) + r,
        "lora2": lambda r, i, o: r * (i + r) + r * (r + o) + r,  # inner rank k = r
        "alora": lambda r, i, o: min(2 * r, i, o) * (i + o),  # all slots (max_rank = 2r)
    }[kind]
    adapter = LAYERS * sum(per_layer(rank, i, o) for i, o in dims)
    alpha = LAYERS * sum(o for _, o in dims) if method.startswith("alpha_") else 0
    head = (HIDDEN * HIDDEN + HIDDEN + HIDDEN * LABELS + LABELS) if arch == "roberta" else \
        HIDDEN * LABELS
    return {"adapter": adapter, "alpha": alpha, "head": head, "base": n_params_base}


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("method", METHODS)
def test_trainable_parameter_counts_closed_form(method, arch):  # L3, α7, D5
    base = tiny_model(arch)
    n_base = sum(p.numel() for p in base.parameters())
    counts = trainable_parameters(inject(base, cfg(method, rank=3)))
    expected = _closed_form_counts(arch, method, 3, n_base)
    for k, v in expected.items():
        assert counts[k] == v, k
    assert counts["total_trainable"] == expected["adapter"] + expected["alpha"] + expected["head"]
    assert counts["total"] == n_base + expected["adapter"] + expected["alpha"]
    assert counts["alpha_pct"] == pytest.approx(100 * expected["alpha"] / n_base)
    assert counts["trainable_pct"] == pytest.approx(100 * counts["total_trainable"] / n_base)


# ------------------------------------------------------------------ share_alpha
def test_share_alpha_ties_query_and_value_of_one_block():
    model = inject(tiny_model("roberta"), cfg("alpha_lora", share_alpha=True))
    layers = dict(adapter_layers(model))
    for i in range(LAYERS):
        q = layers[f"roberta.encoder.layer.{i}.attention.self.query"]
        v = layers[f"roberta.encoder.layer.{i}.attention.self.value"]
        assert q.alpha is v.alpha
    assert len(alpha_parameters(model)) == LAYERS
    assert trainable_parameters(model)["alpha"] == LAYERS * HIDDEN
    batch = tiny_batch("roberta")
    train_steps(model, "roberta")
    before = logits(model, batch)
    merge(model)
    assert (logits(model, batch) - before).abs().max() <= 1e-5
    unmerge(model)
    assert (logits(model, batch) - before).abs().max() <= 1e-5


def test_share_alpha_refuses_unequal_widths():
    model = tiny_model("llama")
    with pytest.raises(ValueError, match="share_alpha=True needs equal out_features"):
        inject(model, cfg("alpha_lora", share_alpha=True))
    assert not adapter_layers(model)


# ------------------------------------------------------------------ RNG
def test_inject_is_seeded_by_config_or_generator_and_leaves_global_rng_alone():
    m1, m2, m3 = tiny_model("roberta"), tiny_model("roberta"), tiny_model("roberta")
    rng = torch.random.get_rng_state()
    inject(m1, cfg("lora", seed=3))
    inject(m2, cfg("lora"), generator=torch.Generator().manual_seed(3))
    inject(m3, cfg("lora", seed=4))
    assert torch.equal(torch.random.get_rng_state(), rng)
    a1, a2, a3 = (adapter_parameters(m)[0] for m in (m1, m2, m3))
    assert torch.equal(a1, a2) and not torch.equal(a1, a3)


# ------------------------------------------------------------------ PEFT cross-check
def _peft_module(peft_model, name):
    return peft_model.base_model.model.get_submodule(name)


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("method", ["lora", "dora"])
def test_logits_gradients_and_merged_weights_equal_peft(method, arch):
    peft = pytest.importorskip("peft")
    base = tiny_model(arch)
    ours = inject(copy.deepcopy(base), cfg(method, rank=4, lora_alpha=8))
    targets = [n for n, _ in adapter_layers(ours)]
    theirs = peft.get_peft_model(copy.deepcopy(base), peft.LoraConfig(
        r=4, lora_alpha=8, target_modules=list(DEFAULT_LEAVES[arch]), use_dora=method == "dora",
        task_type="SEQ_CLS", lora_dropout=0.0))
    # same (nonzero) tensors on both sides
    g = torch.Generator().manual_seed(11)
    with torch.no_grad():
        for name, layer in adapter_layers(ours):
            layer.lora_B.copy_(torch.randn(layer.lora_B.shape, generator=g) * 0.2)
            pm = _peft_module(theirs, name)
            pm.lora_A["default"].weight.copy_(layer.lora_A)
            pm.lora_B["default"].weight.copy_(layer.lora_B)
            if method == "dora":
                layer.lora_magnitude.mul_(1 + 0.2 * torch.rand(layer.out_features, generator=g))
                pm.lora_magnitude_vector["default"].weight.copy_(layer.lora_magnitude)
    assert sorted(n for n, m in theirs.base_model.model.named_modules()
                  if hasattr(m, "lora_A") and isinstance(m.lora_A, torch.nn.ModuleDict)) == \
        sorted(targets)
    batch = tiny_batch(arch, seed=5)
    out_ours = ours(**batch)
    out_theirs = theirs(**batch)
    assert (out_ours.logits - out_theirs.logits).abs().max() <= 1e-5
    out_ours.loss.backward()
    out_theirs.loss.backward()
    for name, layer in adapter_layers(ours):
        pm = _peft_module(theirs, name)
        pairs = [(layer.lora_A, pm.lora_A["default"].weight),
                 (layer.lora_B, pm.lora_B["default"].weight)]
        if method == "dora":
            pairs.append((layer.lora_magnitude, pm.lora_magnitude_vector["default"].weight))
        for ours_p, theirs_p in pairs:
            assert torch.allclose(ours_p.grad, theirs_p.grad, atol=1e-5, rtol=1e-4), name
    head = "classifier" if arch == "roberta" else "score"
    their_head = dict(theirs.base_model.model.get_submodule(head).modules_to_save["default"]
                      .named_parameters())
    for n, p in ours.get_submodule(head).named_parameters():
        assert torch.allclose(p.grad, their_head[n].grad, atol=1e-5, rtol=1e-4), n
    # merged weights equal PEFT's merge_and_unload
    merge(ours)
    merged = theirs.merge_and_unload()
    for name, layer in adapter_layers(ours):
        w_theirs = merged.get_submodule(name).weight
        assert (layer.base_layer.weight - w_theirs).abs().max() <= 1e-5, name


@pytest.mark.parametrize("arch", ARCHS)
def test_olora_init_equals_peft_olora(arch):
    peft = pytest.importorskip("peft")
    base = tiny_model(arch)
    ours = inject(copy.deepcopy(base), cfg("olora", rank=4, lora_alpha=8))
    theirs = peft.get_peft_model(copy.deepcopy(base), peft.LoraConfig(
        r=4, lora_alpha=8, target_modules=list(DEFAULT_LEAVES[arch]), init_lora_weights="olora",
        task_type="SEQ_CLS"))
    for name, layer in adapter_layers(ours):
        pm = _peft_module(theirs, name)
        assert torch.allclose(layer.lora_A, pm.lora_A["default"].weight, atol=1e-5)
        assert torch.allclose(layer.lora_B, pm.lora_B["default"].weight, atol=1e-5)
        assert torch.allclose(layer.base_layer.weight, pm.base_layer.weight, atol=1e-5)
    batch = tiny_batch(arch)
    assert (logits(ours, batch) - logits(theirs, batch)).abs().max() <= 1e-5

"""Issue 16 item 2: LoRA / alpha-LoRA on a quantized frozen base (tiny llama, CPU).

Quantizers: torchao int8 weight-only and bitsandbytes NF4 (``deep.quant``). Routes: the
project's ``deep.quant.inject`` (``deep.inject`` with :class:`deep.quant.QuantLinear` bases)
and PEFT (``get_peft_model(quantized, AlphaLoraConfig(...))``). References: the quantized
model itself (output at init, bitwise), the two routes against each other with the same random
A, B, alpha (independent implementations), and a hand-made dequantized float model for the
quantization error. Skipped only when torchao / bitsandbytes is not installed.
"""

from __future__ import annotations

import importlib.util
import warnings

import pytest
import torch

peft = pytest.importorskip("peft")

from deep import AdapterConfig, adapter_layers, quant  # noqa: E402
from deep import merge as deep_merge  # noqa: E402
from deep.peft import AlphaLoraConfig, QuantizedMergeError  # noqa: E402

from .conftest import copy_random_, logits, peft_pairs, tiny_batch, tiny_model  # noqa: E402

R = 4
TARGETS = ["q_proj", "v_proj"]


def _needs(which):
    pkg = {"int8": "torchao", "nf4": "bitsandbytes"}[which]
    return pytest.mark.skipif(importlib.util.find_spec(pkg) is None,
                              reason=f"{pkg} not installed (pip install 'rescalora[quant]')")


QUANTIZERS = [pytest.param("int8", marks=_needs("int8")), pytest.param("nf4", marks=_needs("nf4"))]
METHODS = ["lora", "alpha_lora"]
ROUTES = ["inject", "peft"]


@pytest.fixture(autouse=True)
def _quiet(one_thread):
    """One thread (tests/deep/conftest.py) and no bitsandbytes / torchao deprecation chatter."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _quantized(which, seed=0):
    fn = {"int8": quant.quantize_int8, "nf4": quant.quantize_nf4}[which]
    return fn(tiny_model("llama", seed=seed))


def _adapt(model, route, method, scale_bias=True):
    if route == "inject":
        return quant.inject(model, AdapterConfig(method=method, rank=R, lora_alpha=8.0, seed=1,
                                                 scale_bias=scale_bias, target_modules=TARGETS))
    return peft.get_peft_model(model, AlphaLoraConfig(
        r=R, lora_alpha=8.0, target_modules=TARGETS, task_type="SEQ_CLS",
        use_alpha=method == "alpha_lora", scale_bias=scale_bias))


@torch.no_grad()
def _copy_head(ours, theirs):
    """The PEFT model's trained copy of the head := the project model's head."""
    theirs.base_model.model.score.modules_to_save["default"].weight.copy_(ours.score.weight)


def _storage(model):
    """Copies of the raw quantized storage (int8 codes + scales, NF4 codes + absmax)."""
    out = {}
    for n, m in model.named_modules():
        w = m._parameters.get("weight") if hasattr(m, "_parameters") else None
        if w is None or not quant.is_quantized_weight_tensor(w):
            continue
        if hasattr(w, "qdata"):
            out[n] = (w.qdata.clone(), w.scale.clone())
        else:
            out[n] = (w.data.clone(), w.quant_state.absmax.clone())
    return out


def test_quantizers_leave_head_in_float_and_quantize_every_other_linear():
    for which in ("int8", "nf4"):
        if not quant.available(which):
            continue
        m = _quantized(which)
        linears = [n for n, mod in m.named_modules() if isinstance(mod, torch.nn.Linear)]
        q = [n for n in linears if quant.is_quantized_linear(m.get_submodule(n))]
        assert set(linears) - set(q) == {"score"}
        assert len(q) == 2 * 7


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("which", QUANTIZERS)
def test_init_equals_quantized_base_grads_only_on_adapter_and_training_lowers_loss(
        which, method, route):
    model = _quantized(which)
    batch = tiny_batch("llama")
    ref = logits(model, batch)
    stored = _storage(model)
    assert len(stored) == 14
    model = _adapt(model, route, method)
    assert torch.equal(logits(model, batch), ref)  # alpha = 1, B = 0: bitwise the base

    model.train()
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    n_alpha = sum(("alpha" in n) for n in names)
    assert n_alpha == (4 if method == "alpha_lora" else 0)
    assert sum(("lora_A" in n) for n in names) == sum(("lora_B" in n) for n in names) == 4
    assert all(("lora_" in n) or n.endswith(".alpha") or ("score" in n) for n in names), names
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    losses = []
    for step in range(8):
        loss = model(**batch).loss
        loss.backward()
        if step == 0:
            grads = {n: p.grad for n, p in model.named_parameters() if p.grad is not None}
            assert set(grads) == names  # the frozen (quantized) base gets no gradient
            for n, gr in grads.items():  # B = 0 at init: A's gradient is exactly 0 (L4)
                assert bool(gr.abs().max() == 0) == ("lora_A" in n), n
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(float(loss))
    assert losses[-1] < losses[0] - 0.05, losses
    after = _storage(model)
    assert len(after) == 14
    for (a, sa), (b, sb) in zip(stored.values(), after.values(), strict=True):
        assert torch.equal(a, b) and torch.equal(sa, sb)  # the quantized base never moved
    if method == "alpha_lora":
        moved = [p for n, p in model.named_parameters() if "alpha" in n]
        assert max(float((p - 1).abs().max()) for p in moved) > 1e-3


@pytest.mark.parametrize("scale_bias", [True, False])
@pytest.mark.parametrize("which", QUANTIZERS)
def test_inject_route_equals_peft_route_with_random_adapters(which, scale_bias):
    """Two implementations of alpha ⊙ (quantized W0 x [+ b]) + s B A x agree (logits and the
    gradients of A, B, alpha) with the same random tensors."""
    ours = _adapt(_quantized(which), "inject", "alpha_lora", scale_bias)
    theirs = _adapt(_quantized(which), "peft", "alpha_lora", scale_bias)
    pairs = peft_pairs(ours, theirs)
    copy_random_(pairs, seed=3)
    _copy_head(ours, theirs)
    batch = tiny_batch("llama")
    lo, lt = ours(**batch), theirs(**batch)
    assert (lo.logits - logits(_quantized(which), batch)).abs().max() > 1e-3  # not the base
    torch.testing.assert_close(lt.logits, lo.logits, atol=1e-6, rtol=0)
    lo.loss.backward()
    lt.loss.backward()
    for _, src, dst in pairs:
        torch.testing.assert_close(dst.grad, src.grad, atol=1e-6, rtol=0)


def _dequantized_float_model(which):
    """The float llama whose linear weights are the dequantized codes of _quantized(which)."""
    q, f = _quantized(which), tiny_model("llama")
    with torch.no_grad():
        for n, m in q.named_modules():
            if not quant.is_quantized_linear(m):
                continue
            w = m.weight
            if hasattr(w, "dequantize") and not hasattr(w, "quant_state"):
                dense = w.dequantize()
            else:
                import bitsandbytes.functional as bnbf

                dense = bnbf.dequantize_4bit(w.data, w.quant_state)
            f.get_submodule(n).weight.copy_(dense)
    return f


@pytest.mark.parametrize("which", QUANTIZERS)
def test_quantized_model_is_the_dequantized_float_model(which):
    """What the frozen branch computes: the quantized layers equal float layers holding the
    dequantized weights (to float rounding), and differ from the original float weights by the
    quantization error only."""
    batch = tiny_batch("llama")
    q = logits(_quantized(which), batch)
    deq = logits(_dequantized_float_model(which), batch)
    orig = logits(tiny_model("llama"), batch)
    torch.testing.assert_close(q, deq, atol=1e-4, rtol=0)
    err = float((q - orig).abs().max())
    assert 0 < err < (0.05 if which == "int8" else 0.5)


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("which", QUANTIZERS)
def test_merge_is_refused_on_a_quantized_base(which, route):
    model = _adapt(_quantized(which), route, "alpha_lora")
    batch = tiny_batch("llama")
    before = logits(model, batch)
    if route == "inject":
        with pytest.raises(quant.QuantizedBaseError, match="quantized"):
            deep_merge(model)
        assert not any(layer.merged for _, layer in adapter_layers(model))
        with pytest.raises(quant.QuantizedBaseError):
            adapter_layers(model)[0][1].delta_weight()
    else:
        with pytest.raises(QuantizedMergeError, match="quantized base"):
            model.merge_adapter()
    assert torch.equal(logits(model, batch), before)  # nothing changed


@pytest.mark.parametrize("which", QUANTIZERS)
def test_unsupported_methods_and_rollback(which):
    model = _quantized(which)
    with pytest.raises(ValueError, match="allowed: \\['lora', 'alpha_lora'\\]"):
        quant.inject(model, AdapterConfig(method="alpha_dora", rank=R))
    with pytest.raises(ValueError, match="rank"):
        quant.inject(model, AdapterConfig(method="alpha_lora", rank=64, target_modules=TARGETS))
    # on error the model is unchanged: no wrapper left behind
    assert not any(isinstance(m, quant.QuantLinear) for m in model.modules())
    with pytest.raises(TypeError, match="quantized nn.Linear"):
        quant.QuantLinear(torch.nn.Linear(4, 4))


@pytest.mark.parametrize("which", QUANTIZERS)
def test_all_linear_targets_wrap_each_quantized_layer_once(which):
    model = quant.inject(_quantized(which), AdapterConfig(method="alpha_lora", rank=R,
                                                          target_modules="all-linear"))
    layers = adapter_layers(model)
    assert len(layers) == 14
    assert all(isinstance(layer.base_layer, quant.QuantLinear) for _, layer in layers)
    batch = tiny_batch("llama")
    assert torch.equal(logits(model, batch), logits(_quantized(which), batch))


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("which", QUANTIZERS)
def test_plain_deep_inject_hands_quantized_targets_to_deep_quant(which, method):
    from deep import inject

    batch = tiny_batch("llama")
    a, b = _quantized(which), _quantized(which)
    inject(a, AdapterConfig(method=method, rank=2, seed=3))
    quant.inject(b, AdapterConfig(method=method, rank=2, seed=3))
    assert [n for n, _ in adapter_layers(a)] == [n for n, _ in adapter_layers(b)]
    assert all(isinstance(layer.base_layer, quant.QuantLinear) for _, layer in adapter_layers(a))
    ta = {n: p for n, p in a.named_parameters() if p.requires_grad}
    tb = {n: p for n, p in b.named_parameters() if p.requires_grad}
    assert ta.keys() == tb.keys() and all(torch.equal(ta[n], tb[n]) for n in ta)
    assert torch.equal(logits(a, batch), logits(b, batch))
    with pytest.raises(quant.QuantizedBaseError):
        deep_merge(a)


@pytest.mark.parametrize("which", QUANTIZERS)
def test_peft_alpha_dora_on_quantized_base_is_alpha_dora_of_the_dequantized_model(which):
    """AlphaLoraConfig(use_dora=True) on a quantized base (PEFT dequantizes W0 for the row norms)
    equals the project's own alpha_dora on the float llama that holds the dequantized weights:
    logits and the gradients of A, B, alpha and m, with the same random tensors. At init it is
    the quantized base exactly (deep.quant.inject refuses DoRA: it has no dense W0)."""
    from deep import inject

    batch = tiny_batch("llama")
    theirs = peft.get_peft_model(_quantized(which), AlphaLoraConfig(
        r=R, lora_alpha=8.0, target_modules=TARGETS, task_type="SEQ_CLS", use_dora=True))
    assert torch.equal(logits(theirs, batch), logits(_quantized(which), batch))
    ours = inject(_dequantized_float_model(which), AdapterConfig(
        method="alpha_dora", rank=R, lora_alpha=8.0, target_modules=TARGETS, seed=1))
    pairs = peft_pairs(ours, theirs, dora=True)
    copy_random_(pairs, seed=5)
    _copy_head(ours, theirs)
    lo, lt = ours(**batch), theirs(**batch)
    assert (lt.logits - logits(_quantized(which), batch)).abs().max() > 1e-3  # not the base
    torch.testing.assert_close(lt.logits, lo.logits, atol=1e-6, rtol=0)
    lo.loss.backward()
    lt.loss.backward()
    assert len(pairs) == 4 * 2 * 2  # 4 tensors x 2 targets x 2 layers
    for _, src, dst in pairs:
        assert src.grad is not None and src.grad.abs().max() > 0
        torch.testing.assert_close(dst.grad, src.grad, atol=1e-6, rtol=0)

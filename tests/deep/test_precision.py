"""Mixed precision: every registered adapter method under ``torch.autocast("cpu", bfloat16)``
and on a bfloat16 base model (tiny roberta and LLaMA).

Tolerances. bfloat16 keeps 8 significant bits: the relative spacing of its numbers is
``u = 2^-8`` (unit roundoff ``2^-9``). We compare the last hidden state (``|h|`` up to ~3,
where one bf16 step is ``2^-6``; the tiny models' logits are dominated by the head's random
biases and would hide the adapters) with ``TOL = 2^-5 · max|h|`` = 8u relative: a few
roundings of relative size ``u`` accumulated through two transformer layers (matmuls, softmax,
norms). The largest difference observed for any method is 1.3e-2 relative (3.4u, one to three
bf16 steps of the largest entries), so the margin is about 2.4x.
Merging is checked exactly: the merged weight IS the float32 effective weight rounded once to
bf16 (``W' = bf16(diag(g)(diag(alpha) W0 + ΔW))``, no intermediate bf16 rounding).
"""

from __future__ import annotations

import math

import pytest
import torch

from deep import AdapterConfig, adapter_layers, alpha_parameters, inject, merge
from deep.alpha import AlphaOptimizer
from deep.layers import method_names

from .conftest import ARCHS, tiny_batch, tiny_model

METHODS = method_names()  # every kind registered now, with and without alpha
TOL_REL = 2.0 ** -5


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/deep/conftest.py


def adapted(arch, method, dtype=torch.float32):
    """Tiny model (optionally cast to ``dtype`` BEFORE injection) with adapters moved away
    from their initial values (B = 0 would hide the low-rank branch)."""
    model = inject(tiny_model(arch).to(dtype), AdapterConfig(method=method, rank=4, seed=1))
    g = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for _, layer in adapter_layers(model):
            for p in layer.trainable_parameters():
                noise = torch.randn(p.shape, generator=g).to(p.dtype)
                p.add_(0.3 * noise * (p.abs().mean() + 0.5))
    return model


def hidden(model, batch):
    """Last hidden state (batch, seq, hidden) without gradients."""
    with torch.no_grad():
        return model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                     output_hidden_states=True).hidden_states[-1]


def adapter_tensors(model):
    return [p for _, layer in adapter_layers(model) for p in layer.trainable_parameters()]


def close(a, b, ref):
    tol = TOL_REL * float(ref.abs().max())
    err = float((a.float() - b.float()).abs().max())
    assert err <= tol, f"max |diff| {err:.3g} > {tol:.3g}"


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("arch", ARCHS)
def test_autocast_forward_backward_on_a_float32_model(arch, method):
    model = adapted(arch, method)
    batch = tiny_batch(arch)
    assert all(layer.delta_weight().abs().max() > 0 for _, layer in adapter_layers(model))
    y32 = hidden(model, batch)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y16 = hidden(model, batch)
        loss = model(**batch).loss
    assert y16.dtype in (torch.bfloat16, torch.float32)  # norms run in fp32 under autocast
    close(y16, y32, y32)
    loss.backward()
    for p in adapter_tensors(model) + alpha_parameters(model):
        assert p.dtype == torch.float32
        assert p.grad is not None and p.grad.dtype == torch.float32
        assert torch.isfinite(p.grad).all()
    assert any(p.grad.abs().sum() > 0 for p in adapter_tensors(model))


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("arch", ARCHS)
def test_bfloat16_base_float32_adapters_merge_and_train(arch, method):
    model = adapted(arch, method, torch.bfloat16)
    batch = tiny_batch(arch)
    layers = adapter_layers(model)
    for _, layer in layers:
        assert layer.base_layer.weight.dtype == torch.bfloat16  # the frozen base stays bf16
    assert all(p.dtype == torch.float32 for p in adapter_tensors(model))
    assert all(a.dtype == torch.float32 for a in alpha_parameters(model))

    # unmerged bf16 forward: plain and under autocast, both close to the float32 computation
    y = hidden(model, batch)
    assert y.dtype == torch.bfloat16
    with torch.autocast("cpu", dtype=torch.bfloat16):
        close(hidden(model, batch), y, y)

    # a training step under autocast: finite float32 gradients for adapters (and alpha)
    model.train()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = model(**batch).loss
    loss.backward()
    assert math.isfinite(float(loss))
    for p in adapter_tensors(model):
        assert p.grad is not None and p.grad.dtype == torch.float32
        assert torch.isfinite(p.grad).all()
    assert any(p.grad.abs().sum() > 0 for p in adapter_tensors(model))
    alphas = alpha_parameters(model)
    if alphas:
        assert all(torch.isfinite(a.grad).all() and a.grad.abs().sum() > 0 for a in alphas)
    model.zero_grad(set_to_none=True)
    if alphas:  # the alternating alpha step under autocast keeps alpha float32 and finite
        others = [p for p in model.parameters() if p.requires_grad]
        opt = AlphaOptimizer(alphas, others, every=1, lr=1e-2)
        before = torch.cat([a.detach().clone() for a in alphas])

        def alpha_loss():
            with torch.autocast("cpu", dtype=torch.bfloat16):
                return model(**batch).loss

        assert math.isfinite(opt.step(alpha_loss, step=0))
        after = torch.cat([a.detach() for a in alphas])
        assert after.dtype == torch.float32 and torch.isfinite(after).all()
        assert not torch.equal(after, before)
    model.eval()

    # merge: float32 effective weight rounded once to bf16; the merged forward matches
    y = hidden(model, batch)
    expected = [(layer.effective_weight().to(torch.bfloat16),
                 None if layer.base_layer.bias is None
                 else layer.effective_bias().to(torch.bfloat16)) for _, layer in layers]
    merge(model)
    for (_, layer), (w, b) in zip(layers, expected, strict=True):
        assert layer.base_layer.weight.dtype == torch.bfloat16
        assert torch.equal(layer.base_layer.weight, w)
        if b is not None:
            assert torch.equal(layer.base_layer.bias, b)
    close(hidden(model, batch), y, y)
